"""Configuration of a discovery run: one frozen dataclass per concern, named presets, and loading
from JSON or TOML with strict checking (unknown keys and out-of-range values are errors that name
the file and the field).

Presets:
    ``paper``: the seed paper's reaction-diffusion run (100×100 grid, 10,000 snapshots, T = 1e-4,
    m = 1e-6, step 1e-5, velocity re-draw every 5 steps, M = 200, K = 100, 5000 samples).
    ``quick``: the embedded default: a small grid and budget that finishes within a few minutes on
    a 2-core CPU, including the simulation, and still recovers an oscillator.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from eae_sindy.errors import ConfigError
from eae_sindy.settings import (
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Range,
    Settings,
    overlay,
    read_settings_file,
)
from simulators.hdf5_io import MEMORY_FRACTION, format_bytes, physical_memory

__all__ = [
    "DataConfig",
    "ModelConfig",
    "SindyConfig",
    "SamplerConfig",
    "TrainConfig",
    "CollectionConfig",
    "SweepConfig",
    "DiscoverConfig",
    "PRESETS",
    "preset",
    "load_config",
    "config_from_dict",
    "Activation",
    "MAX_STEPS",
    "check_config",
    "check_memory_plan",
    "memory_plan",
]


Activation = Literal["elu", "relu", "tanh", "sigmoid", "gelu", "softplus", "swish", "linear"]
"""Hidden-layer activations of ``eae_sindy.models.ACTIVATIONS`` (a test keeps the two equal)."""

_Pos = Annotated[int, POSITIVE]
_PosFloat = Annotated[float, POSITIVE]

MAX_STEPS = 10**9
"""The most outer iterations (and inner steps per iteration) a run may ask for: more would run
for years (and overflow the 32-bit step counters of the compiled loops beyond 2**31)."""
_Steps = Annotated[int, Range(gt=0, le=MAX_STEPS, text="an integer in [1, 10**9]")]


@dataclass(frozen=True)
class DataConfig(Settings, section="data"):
    """The simulated lambda-omega data set (used when no ``--data`` file is given), the split,
    ``differentiation``: how ẋ is estimated from x and t when the data have no derivatives
    (``eae_sindy.data.DIFFERENTIATION``: a Savitzky-Golay smoothed or a plain second-order
    finite difference, per trajectory), and ``standardize``: centre x on its mean snapshot and
    scale x and ẋ by one factor to the reference data's RMS (0.4), so that results do not
    depend on the data's units or offset and the sampler's temperature means the same for every
    data set (the dynamics are unchanged)."""

    n: _Pos = 100
    n_snapshots: _Pos = 10000
    dt: _PosFloat = 0.05
    L: _PosFloat = 20.0
    d1: Annotated[float, NON_NEGATIVE] = 0.1
    d2: Annotated[float, NON_NEGATIVE] = 0.1
    beta: float = 1.0
    noise_std: Annotated[float, NON_NEGATIVE] = 0.0
    mask: bool = True
    n_train: _Pos = 4000
    n_val: _Pos = 1000
    test_fraction: Annotated[float, FRACTION] = 0.1
    standardize: bool = True
    differentiation: Literal["smoothed_finite_difference", "finite_difference"] = (
        "smoothed_finite_difference"
    )

    def simulation(self) -> dict[str, Any]:
        """The arguments of ``simulators.lambda_omega.generate_dataset`` these settings give."""
        split = ("n_train", "n_val", "test_fraction", "standardize", "differentiation")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in split}


@dataclass(frozen=True)
class ModelConfig(Settings, section="model"):
    """MLP encoder/decoder widths (hidden layers only) and the latent dimension."""

    encoder_widths: tuple[_Pos, ...] = (256,)
    decoder_widths: tuple[_Pos, ...] = (256,)
    latent_dim: _Pos = 2
    activation: Activation = "elu"


@dataclass(frozen=True)
class SindyConfig(Settings, section="sindy"):
    """Library Θ(z) and loss weights of Eq. 14 (λ1 for x, λ2 for ẋ).

    ``reduction``: "mean" averages the squared errors over features as well as the batch (the
    units the paper's sampler hyper-parameters were tuned in); "sum" uses per-sample squared
    norms (the same Gibbs measure at T × n_features, but n_features× stiffer forces).

    ``ridge``: Tikhonov weight of the least-squares solve for Ξ, relative to unit-norm library
    columns. Small latents make z, z³ and sin z nearly collinear; plain least squares then returns
    huge cancelling coefficients that fit ż hardly better than the small ridge solution
    (measured: benchmarks/README.md). 1e-6 damps only directions with singular value ≲ 1e-3.

    ``fit_on``: the snapshots each collected encoder's Ξ is fitted on: "all" (the default: train,
    validation and test snapshots in time order) or "test" (the paper: the last 10 %). The test
    window of
    a spiral wave lies on its limit cycle, where (μ − |z|²) z cannot be told from a linear term, so
    the orbit's stability is unidentified there and integrating a test-fitted Ξ decays or
    diverges at random; "all" includes the transient and pins it (quick preset: limit cycles).

    ``include_constant``: put the constant term ``1`` first in the library (pysindy's
    ``include_bias``), for dynamics whose equations about the latent origin have a constant part:
    the data are centred, and centring moves a system like Lorenz's off its own origin
    (ż₃ = z₁z₂ − βz₃, written about the attractor's mean m, gains the constant m₁m₂ − βm₃).
    False (default): monomials from degree 1, as before the option existed (such runs'
    ``config.json`` does not name it)."""

    poly_order: _Pos = 3
    include_sine: bool = True
    include_constant: bool = False
    lambda_x: Annotated[float, NON_NEGATIVE] = 1.0
    lambda_dx: Annotated[float, NON_NEGATIVE] = 20.0
    ridge: Annotated[float, NON_NEGATIVE] = 1e-6
    reduction: Literal["mean", "sum"] = "mean"
    fit_on: Literal["test", "all"] = "all"


@dataclass(frozen=True)
class SamplerConfig(Settings, section="sampler"):
    """Simmering hyper-parameters (units: the loss is a per-batch mean), shared by the SINDy and
    the image runs. The fields are the arguments of ``eae_sindy.simmering.simmering``.

    ``max_omega_dt``: training (and collection) steps follow the measured curvature: each outer
    iteration estimates the largest Hessian eigenvalue λ of the chains' encoder loss (a few
    Hessian-vector products) and runs at dt = min(step_size, max_omega_dt·√(mass/λ)), so that a
    decoder which sharpens the loss cannot push the leapfrog past its stability limit ω·dt = 2
    (``eae_sindy.eae.entropic_autoencoder``). None: always ``step_size``. Default 0.5: a
    factor 16 in λ inside the limit, shadow variance ≤ (1 − 0.5²/4)⁻¹ = 1.07 along the stiffest
    direction (its cost and the steps it takes, measured: benchmarks/README.md)."""

    temperature: _PosFloat = 1e-4
    mass: _PosFloat = 1e-6
    step_size: _PosFloat = 1e-5
    chain_length: _Pos = 3
    thermostat_timescale: _PosFloat | None = None
    resample_every: _Pos | None = 5
    thermostat: Literal["nose_hoover", "langevin"] = "nose_hoover"
    friction: _PosFloat | None = None
    max_omega_dt: _PosFloat | None = 0.5

    def build(self):
        """The Simmering algorithm these settings describe (``eae_sindy.simmering.simmering``)."""
        from eae_sindy.simmering import simmering  # deferred: keeps config free of JAX

        return simmering(**dataclasses.asdict(self))


@dataclass(frozen=True)
class TrainConfig(Settings, section="train"):
    """Algorithm 1/2 budget: K outer iterations of M inner steps, then N collected samples.

    ``num_chains``: C encoder chains run side by side (one compiled step); the decoder follows
    the gradient pooled over all of them, and the ensemble keeps every chain, so convergence can
    be judged (R-hat needs several chains). ``n_samples``: draws collected per chain, every
    ``thin``-th sampling step. ``target_ess``: stop collecting, chunk by chunk, once every
    per-draw frame-free target (``analysis.frame_free``: loss, test errors, linearisation,
    circle rates) has R-hat ≤ 1.01 and bulk- and tail-ESS ≥ ``target_ess`` (``n_samples`` is
    then the budget); None collects exactly ``n_samples`` draws (the paper's fixed count).

    ``stiff_directions``: k > 0 collects with a mass heavier along each chain's k stiffest
    directions of the loss (found after training, ``eae_sindy.stiffness``) and the step enlarged
    by √(λ_1/λ_{k+1}), keeping the configured worst-case ω·dt: the same Gibbs measure, sampled
    with longer strides; the larger k, the more directions sit near the stability limit, so the
    discretisation error (the members' mean loss) grows (measured: benchmarks/README.md). 0
    (default): the configured sampler throughout."""

    num_chains: _Pos = 4
    batch_size: _Pos = 128
    inner_steps: _Steps = 200
    outer_iterations: _Steps = 100
    learning_rate: _PosFloat = 1e-3
    grad_tol: Annotated[float, NON_NEGATIVE] = 0.0
    n_samples: _Pos = 5000
    target_ess: _Pos | None = None
    thin: _Pos = 1
    chunk_size: _Pos = 250
    checkpoint_every: _Pos = 10
    n_eval: _Pos = 1000
    n_examples: _Pos = 4
    stiff_directions: Annotated[int, NON_NEGATIVE] = 0


@dataclass(frozen=True)
class CollectionConfig(Settings, section="collection"):
    """How the ensemble is collected after training (Algorithm 2), where it differs from the
    training sampler (``sampler``); None: as in training.

    ``full_batch``: the encoder's forces are the gradient of the loss over every training
    snapshot, not of a minibatch. The SINDy loss fits Ξ by least squares inside each batch, so
    a minibatch loss is not an unbiased estimate of the whole loss, and its gradient noise
    heats the stiff directions: with minibatches the collection samples a measure whose
    configurational temperature along the stiffest directions is several times T
    (``eae_sindy.bias_guard``); with the full batch it is T within the guard's error. The price
    is a costlier step (measured: benchmarks/README.md).

    ``thermostat``, ``friction``, ``step_size``, ``max_omega_dt``, ``resample_every`` (0:
    never): replace the ``sampler`` settings of the same name while collecting (``thermostat =
    "langevin"``: BAOAB, whose configurational sampling of a harmonic direction is exact at any
    stable step, so the step can follow the curvature up to ω·dt ≈ 1; without velocity re-draws
    its motion stays ballistic over ~1/γ)."""

    full_batch: bool = False
    thermostat: Literal["nose_hoover", "langevin"] | None = None
    friction: _PosFloat | None = None
    step_size: _PosFloat | None = None
    max_omega_dt: _PosFloat | None = None
    resample_every: Annotated[int, NON_NEGATIVE] | None = None

    def sampler(self, base: SamplerConfig) -> SamplerConfig:
        """The sampler settings of the collection: ``base`` with this section's replacements."""
        names = ("thermostat", "friction", "step_size", "max_omega_dt", "resample_every")
        changed = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if changed.get("resample_every") == 0:
            changed["resample_every"] = None  # never
        return base.replace(**changed) if changed else base

    @property
    def changes_sampler(self) -> bool:
        """Whether collection differs from training at all."""
        return self.full_batch or self.sampler(SamplerConfig()) != SamplerConfig()


@dataclass(frozen=True)
class SweepConfig(Settings, section="sweep"):
    """A temperature sweep (``eae_sindy.sweep``): one independent EAE per temperature, each with
    its own decoder and chains, trained and collected together in one compiled program
    (``eae_sindy.eae.temperature_ladder``). ``temperatures``: the K ≥ 2 distinct, positive
    temperatures; they replace ``sampler.temperature`` (every other sampler setting is shared).
    None (the default): no sweep, a single EAE at ``sampler.temperature``.

    ``anneal_factor``: an annealing schedule F ≥ 1: rung k starts at F·T_k and cools
    geometrically over the outer iterations, T_k(i) = T_k · F^max(0, 1 − i/(K_outer − 1)),
    reaching T_k at the last outer iteration; the ensemble is collected at T_k. None: constant
    temperatures. ``discover`` writes ``OUT/T_<T_k>/`` run directories and ``OUT/sweep.json``,
    ``OUT/sweep.md`` (``analysis.sweep``), which names the temperature the sweep's rule picks."""

    temperatures: tuple[_PosFloat, ...] | None = None
    anneal_factor: Annotated[float, Range(ge=1, text=">= 1")] | None = None

    @property
    def enabled(self) -> bool:
        return self.temperatures is not None


@dataclass(frozen=True)
class DiscoverConfig(Settings):
    """Everything a ``python -m eae_sindy.discover`` run needs (``sweep``: optional, see
    :class:`SweepConfig`)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sindy: SindyConfig = field(default_factory=SindyConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    collection: CollectionConfig = field(default_factory=CollectionConfig)
    seed: Annotated[int, SEED] = 0
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def check(self) -> None:
        check_config(self)
        if _CHECK_PLANS:
            check_memory_plan(self)

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        if not self.sindy.include_constant:  # the record of a run without the constant, as
            del values["sindy"]["include_constant"]  # before the option existed
        return values


def check_config(config: DiscoverConfig) -> None:
    """The rules that relate settings of a configuration to each other, checked whenever one is
    built (a preset, :func:`config_from_dict`, ``replace``); raise :class:`ConfigError`. Each
    field's own range is checked by its annotation (:mod:`eae_sindy.settings`); what depends on
    the machine or the data is checked elsewhere (:func:`check_memory_plan`,
    ``eae_sindy.planning.plan``).

    * ``sweep.anneal_factor`` needs ``sweep.temperatures``, which must hold at least 2
      distinct temperatures;
    * ``train.stiff_directions`` works only for a single-temperature run (no sweep) whose
      collection uses the Nosé–Hoover thermostat (the heavier mass along stiff directions is a
      Nosé–Hoover metric)."""
    temperatures = config.sweep.temperatures
    if temperatures is None:
        if config.sweep.anneal_factor is not None:
            raise ConfigError("sweep.anneal_factor needs sweep.temperatures")
    elif len(temperatures) < 2:
        raise ConfigError(
            f"sweep.temperatures must hold at least 2 temperatures, got {list(temperatures)}"
        )
    elif len(set(temperatures)) != len(temperatures):
        raise ConfigError(f"sweep.temperatures must be distinct, got {list(temperatures)}")
    if config.train.stiff_directions and config.sweep.enabled:
        raise ConfigError(
            "train.stiff_directions works for a single-temperature run in one process; set it "
            "to 0 for a temperature sweep or a multi-process run"
        )
    collecting = config.collection.sampler(config.sampler)
    if config.train.stiff_directions and collecting.thermostat != "nose_hoover":
        raise ConfigError(
            "train.stiff_directions needs the Nosé–Hoover thermostat while collecting, got "
            f"thermostat = {collecting.thermostat!r} (sampler.thermostat or "
            "collection.thermostat); set train.stiff_directions to 0 or collect with "
            '"nose_hoover"'
        )


def _n_terms(config: DiscoverConfig) -> int:
    """Library terms Θ(z) of the settings: monomials of degree 1..poly_order in latent_dim
    variables, sin of each coordinate, and the constant (counted without building them)."""
    d, order = config.model.latent_dim, config.sindy.poly_order
    terms = math.comb(d + order, order) - 1
    terms += d if config.sindy.include_sine else 0
    return terms + (1 if config.sindy.include_constant else 0)


def memory_plan(config: DiscoverConfig) -> dict[str, int]:
    """Bytes the run keeps in memory for what its settings alone size, without the data file:

    * ``ensemble``: every collected draw (``eae_sindy.sindy_eae``'s ``summarize``: Ξ, Ξ on the
      test window, the compressed least squares R, Qᵀż and mean-square ż, three errors, and the
      latent codes z and ż of ``train.n_eval`` test snapshots), float32, held twice when the
      chunks are put in chain-major order; ``train.n_samples`` (the budget when
      ``train.target_ess`` is set) × ``train.num_chains`` draws, per temperature of a sweep;
    * ``simulation``: the simulated data set as read back for training (x and ẋ, float32,
      ``data.n``² features × ``data.n_snapshots``); only used without ``--data``."""
    t, d, tc = _n_terms(config), config.model.latent_dim, config.train
    per_draw = 3 * t * d + t * t + d + 3 + 2 * tc.n_eval * d
    rungs = len(config.sweep.temperatures) if config.sweep.enabled else 1
    draws = tc.n_samples * tc.num_chains * rungs
    return {
        "ensemble": 2 * 4 * per_draw * draws,
        "simulation": 2 * 4 * config.data.n**2 * config.data.n_snapshots,
    }


def check_memory_plan(config: DiscoverConfig) -> None:
    """Refuse settings whose run cannot fit this machine's physical memory
    (:func:`memory_plan`), naming the settings and the size: the collected ensemble beyond the
    memory, the simulated data set beyond the share a data file may take
    (``simulators.hdf5_io.MEMORY_FRACTION``, the reader would refuse it after the simulation).
    Checked against the machine's total memory, not what is free at the moment, so that a
    configuration's validity does not change with the load."""
    plan, memory = memory_plan(config), physical_memory()
    machine = f"this machine has {format_bytes(memory)} of memory"
    tc = config.train
    if plan["ensemble"] > memory:
        rungs = len(config.sweep.temperatures) if config.sweep.enabled else 1
        sweep = f" × {rungs} sweep.temperatures" if rungs > 1 else ""
        raise ConfigError(
            f"train.n_samples = {tc.n_samples}: the collected ensemble of {tc.n_samples} draws "
            f"× train.num_chains = {tc.num_chains}{sweep} (each with Ξ of {_n_terms(config)} "
            f"library terms and the latent codes of train.n_eval = {tc.n_eval} snapshots) "
            f"would take {format_bytes(plan['ensemble'])} in memory; {machine}. Lower "
            "train.n_samples (or train.num_chains, train.n_eval)"
        )
    data, n = config.data, config.data.n
    if plan["simulation"] > MEMORY_FRACTION * memory:
        raise ConfigError(
            f"data.n = {n}, data.n_snapshots = {data.n_snapshots}: the simulated data set "
            f"({n}² = {n * n} features × {data.n_snapshots} snapshots, x and ẋ in float32) "
            f"would take {format_bytes(plan['simulation'])} in memory; {machine} and a data "
            f"set may take at most {MEMORY_FRACTION:.0%} of it. Lower data.n or "
            "data.n_snapshots"
        )


_CHECK_PLANS = False
"""Off while the presets are built at import (a small machine must still import this module);
:func:`preset` checks the one a run asks for."""

PRESETS: dict[str, DiscoverConfig] = {
    "paper": DiscoverConfig(),
    "quick": DiscoverConfig(
        data=DataConfig(n=32, n_snapshots=2000, dt=0.1, n_train=1400, n_val=200),
        model=ModelConfig(encoder_widths=(64,), decoder_widths=(64,)),
        train=TrainConfig(
            batch_size=64,
            inner_steps=40,
            outer_iterations=120,
            learning_rate=3e-3,
            n_samples=250,
            thin=8,
            chunk_size=50,
            checkpoint_every=20,
            n_eval=200,
        ),
        collection=CollectionConfig(
            full_batch=True,
            thermostat="langevin",
            friction=1000.0,
            resample_every=0,
            step_size=2e-5,
            max_omega_dt=1.0,
        ),
    ),
}
_CHECK_PLANS = True


def preset(name: str) -> DiscoverConfig:
    """A named preset (``quick`` or ``paper``), its memory plan checked on this machine."""
    try:
        config = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    check_memory_plan(config)
    return config


def config_from_dict(
    values: dict[str, Any], base: DiscoverConfig | None = None, source: str = "config"
) -> DiscoverConfig:
    """Overlay a nested dict (sections ``data``, ``model``, ``sindy``, ``sampler``, ``train``,
    ``sweep`` and the top-level ``seed``) on ``base`` (default: the ``quick`` preset). Every
    value is checked; :class:`ConfigError` names ``source`` and the field."""
    return overlay(base or PRESETS["quick"], values, source, ignore=("preset", "package_version"))


def load_config(path: str | Path, base: DiscoverConfig | None = None) -> DiscoverConfig:
    """Load a JSON (``.json``) or TOML (``.toml``) config file, overlaid on ``base``.

    A ``preset = "paper"`` key in the file selects the base preset."""
    values = read_settings_file(path)
    if "preset" in values:
        base = preset(values["preset"])
    return config_from_dict(values, base, source=str(path))
