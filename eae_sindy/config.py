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
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eae_sindy.errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "SindyConfig",
    "SamplerConfig",
    "TrainConfig",
    "DiscoverConfig",
    "PRESETS",
    "preset",
    "load_config",
    "config_from_dict",
]


@dataclass(frozen=True)
class DataConfig:
    """The simulated lambda-omega data set (used when no ``--data`` file is given) and the split."""

    n: int = 100
    n_snapshots: int = 10000
    dt: float = 0.05
    L: float = 20.0
    d1: float = 0.1
    d2: float = 0.1
    beta: float = 1.0
    noise_std: float = 0.0
    mask: bool = True
    n_train: int = 4000
    n_val: int = 1000
    test_fraction: float = 0.1


@dataclass(frozen=True)
class ModelConfig:
    """MLP encoder/decoder widths (hidden layers only) and the latent dimension."""

    encoder_widths: tuple[int, ...] = (256,)
    decoder_widths: tuple[int, ...] = (256,)
    latent_dim: int = 2
    activation: str = "elu"


@dataclass(frozen=True)
class SindyConfig:
    """Library Θ(z) and loss weights of Eq. 14 (λ1 for x, λ2 for ẋ).

    ``reduction``: "mean" averages the squared errors over features as well as the batch (the
    units the paper's sampler hyper-parameters were tuned in); "sum" uses per-sample squared
    norms (the same Gibbs measure at T × n_features, but n_features× stiffer forces).

    ``ridge``: Tikhonov weight of the least-squares solve for Ξ, relative to unit-norm library
    columns. Small latents make z, z³ and sin z nearly collinear; plain least squares then returns
    huge cancelling coefficients (|ξ| ~ 10³ on the quick preset) that fit ż only 1 % better than
    the ridge solution with |ξ| ≲ 7. 1e-6 damps only directions with singular value ≲ 1e-3.

    ``fit_on``: the snapshots each collected encoder's Ξ is fitted on. "test" (the paper: the
    last 10 %) or "all" (train, validation and test snapshots in time order). The test window of
    a spiral wave lies on its limit cycle, where (μ − |z|²) z cannot be told from a linear term, so
    the orbit's stability is unidentified there and integrating a test-fitted Ξ decays or
    diverges at random; "all" includes the transient and pins it (quick preset: limit cycles)."""

    poly_order: int = 3
    include_sine: bool = True
    lambda_x: float = 1.0
    lambda_dx: float = 20.0
    ridge: float = 1e-6
    reduction: str = "mean"
    fit_on: str = "test"


@dataclass(frozen=True)
class SamplerConfig:
    """Simmering hyper-parameters (units: the loss is a per-batch mean)."""

    temperature: float = 1e-4
    mass: float = 1e-6
    step_size: float = 1e-5
    chain_length: int = 3
    thermostat_timescale: float | None = None
    resample_every: int | None = 5
    thermostat: str = "nose_hoover"
    friction: float | None = None

    def build(self):
        """The Simmering algorithm these settings describe (``eae_sindy.simmering.simmering``)."""
        from eae_sindy.simmering import simmering  # deferred: keeps config free of JAX

        return simmering(**dataclasses.asdict(self))


@dataclass(frozen=True)
class TrainConfig:
    """Algorithm 1/2 budget: K outer iterations of M inner steps, then N collected samples."""

    batch_size: int = 128
    inner_steps: int = 200
    outer_iterations: int = 100
    learning_rate: float = 1e-3
    grad_tol: float = 0.0
    n_samples: int = 5000
    thin: int = 1
    chunk_size: int = 250
    checkpoint_every: int = 10
    n_eval: int = 1000
    n_examples: int = 4


@dataclass(frozen=True)
class DiscoverConfig:
    """Everything a ``python -m eae_sindy.discover`` run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sindy: SindyConfig = field(default_factory=SindyConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> DiscoverConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, DiscoverConfig] = {
    "paper": DiscoverConfig(),
    "quick": DiscoverConfig(
        data=DataConfig(n=32, n_snapshots=2000, dt=0.1, n_train=1400, n_val=200),
        model=ModelConfig(encoder_widths=(64,), decoder_widths=(64,)),
        sindy=SindyConfig(fit_on="all"),
        train=TrainConfig(
            batch_size=64,
            inner_steps=40,
            outer_iterations=120,
            learning_rate=3e-3,
            n_samples=300,
            thin=2,
            chunk_size=100,
            checkpoint_every=20,
            n_eval=200,
        ),
    ),
}


def preset(name: str) -> DiscoverConfig:
    """A named preset (``quick`` or ``paper``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


_POSITIVE = {
    "data": ("n", "n_snapshots", "dt", "L", "n_train", "n_val"),
    "model": ("latent_dim",),
    "sindy": ("poly_order",),
    "sampler": ("temperature", "mass", "step_size", "chain_length"),
    "train": (
        "batch_size",
        "inner_steps",
        "outer_iterations",
        "learning_rate",
        "n_samples",
        "thin",
        "chunk_size",
        "checkpoint_every",
        "n_eval",
    ),
}


def _coerce(section: str, cls: type, values: dict[str, Any], source: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"known keys in [{section}]: {', '.join(known)}"
        )
    default = cls()
    kwargs = {}
    for name, value in values.items():
        reference = getattr(default, name)
        if isinstance(reference, tuple):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{source}: {section}.{name} must be a list, got {value!r}")
            value = tuple(value)
        elif isinstance(reference, bool) and not isinstance(value, bool):
            raise ConfigError(f"{source}: {section}.{name} must be true or false, got {value!r}")
        elif isinstance(reference, (int, float)) and not isinstance(reference, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{source}: {section}.{name} must be a number, got {value!r}")
            if isinstance(reference, int) and not isinstance(value, int):
                raise ConfigError(f"{source}: {section}.{name} must be an integer, got {value!r}")
        kwargs[name] = value
    return dataclasses.replace(default, **kwargs) if kwargs else default


def validate(config: DiscoverConfig, source: str = "config") -> DiscoverConfig:
    """Check ranges; raise :class:`ConfigError` naming the field."""
    for section, names in _POSITIVE.items():
        part = getattr(config, section)
        for name in names:
            value = getattr(part, name)
            if value is None or value <= 0:
                raise ConfigError(f"{source}: {section}.{name} must be positive, got {value!r}")
    if not 0 < config.data.test_fraction < 1:
        raise ConfigError(
            f"{source}: data.test_fraction must be in (0, 1), got {config.data.test_fraction}"
        )
    if config.sindy.ridge < 0:
        raise ConfigError(f"{source}: sindy.ridge must be >= 0, got {config.sindy.ridge!r}")
    if config.sindy.fit_on not in ("test", "all"):
        raise ConfigError(
            f"{source}: sindy.fit_on must be 'test' or 'all', got {config.sindy.fit_on!r}"
        )
    if config.sindy.reduction not in ("sum", "mean"):
        raise ConfigError(
            f"{source}: sindy.reduction must be 'sum' or 'mean', got {config.sindy.reduction!r}"
        )
    if config.sampler.thermostat not in ("nose_hoover", "langevin"):
        raise ConfigError(
            f"{source}: sampler.thermostat must be 'nose_hoover' or 'langevin', "
            f"got {config.sampler.thermostat!r}"
        )
    return config


def config_from_dict(
    values: dict[str, Any], base: DiscoverConfig | None = None, source: str = "config"
) -> DiscoverConfig:
    """Overlay a nested dict (sections ``data``, ``model``, ``sindy``, ``sampler``, ``train`` and
    the top-level ``seed``) on ``base`` (default: the ``quick`` preset)."""
    base = base or PRESETS["quick"]
    sections = {f.name: f for f in dataclasses.fields(DiscoverConfig)}
    unknown = sorted(set(values) - set(sections) - {"preset", "package_version"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known top-level keys: "
            f"{', '.join(sections)}"
        )
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("preset", "package_version"):
            continue
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{source}: seed must be an integer, got {value!r}")
            changes["seed"] = value
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table/object, got {value!r}")
        current = dataclasses.asdict(getattr(base, name))
        current.update(value)
        changes[name] = _coerce(name, type(getattr(base, name)), current, source)
    return validate(dataclasses.replace(base, **changes), source)


def load_config(path: str | Path, base: DiscoverConfig | None = None) -> DiscoverConfig:
    """Load a JSON (``.json``) or TOML (``.toml``) config file, overlaid on ``base``.

    A ``preset = "paper"`` key in the file selects the base preset."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        if path.suffix.lower() == ".toml":
            values = tomllib.loads(path.read_text())
        else:
            values = json.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {error}"
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the top level must be an object/table")
    if "preset" in values:
        base = preset(values["preset"])
    return config_from_dict(values, base, source=str(path))
