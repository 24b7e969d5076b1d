"""The method on arrays in memory: :func:`fit` trains an EAE with the SINDy loss and collects its
encoder ensemble, returning a :class:`Discovery` — the distribution over governing equations with
the run's metadata — that prints, exports to pysindy, saves, reports, and loads back
(:func:`load`).

Pipeline of :func:`fit`: split (train/validation drawn at random from the first 90 % of snapshots,
test = the last 10 %) → train (Algorithm 1) → collect encoders (Algorithm 2), each evaluated on the
test data. ``python -m eae_sindy.discover`` is a thin shell around it (data → fit → save → report);
the run-directory format belongs to ``analysis.rundir``.

Example::

    import eae_sindy
    found = eae_sindy.fit(x, t, config=eae_sindy.preset("quick"), seed=1)  # ẋ estimated
    found.print()                          # (x0)' = 0.437±0.035 x1 + ...
    model = found.to_pysindy()             # the ensemble-mean model as a pysindy.SINDy
    found.save("runs/mine"); found.report("runs/mine")
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from analysis.diagnostics import R_HAT_MAX
from analysis.frame_free import draw_targets, frame_free
from analysis.library import library_terms
from analysis.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    MetricsLog,
    RunData,
    load_run,
    metrics_row,
    read_metrics,
    write_run,
)
from eae_sindy import __version__
from eae_sindy.collection_guard import GUARD_MAX_FLOATS, guard_after_collection
from eae_sindy.config import DiscoverConfig, config_from_dict, preset
from eae_sindy.data import (
    DIFFERENTIATION,
    Trajectories,
    as_trajectories,
    is_uniform,
    trajectory_bounds,
)
from eae_sindy.distributed import (
    barrier,
    gather,
    global_mesh,
    is_main_process,
    place,
    place_state,
)
from eae_sindy.eae import EAEState, entropic_autoencoder
from eae_sindy.errors import ConfigError
from eae_sindy.models import mlp_autoencoder
from eae_sindy.output import claim_output
from eae_sindy.simmering import simmering, with_stiff_subspace
from eae_sindy.sindy import (
    SindyLibrary,
    compress_least_squares,
    polynomial_sine_library,
    sindy_loss,
    sindy_terms,
    solve_compressed,
)
from eae_sindy.stiffness import heavier_mass, stiff_subspace
from eae_sindy.training import resume_from, run_collection, run_training
from simulators import DatasetError

__all__ = [
    "Discovery",
    "Plan",
    "as_data",
    "data_record",
    "fit",
    "load",
    "plan",
    "run_record",
    "split_indices",
]


# --------------------------------------------------------------------------------------------
# Planning: everything that can be refused, before anything is computed or written
# --------------------------------------------------------------------------------------------
def split_indices(
    n_snapshots: int,
    n_train: int,
    n_val: int,
    test_fraction: float,
    seed: int,
    trajectory: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The reference split. One trajectory: test = the last ``test_fraction`` of the snapshots
    (time order). Several (``trajectory``: each snapshot's trajectory id, contiguous): test =
    the last whole trajectories holding at least ``test_fraction`` of the snapshots (at least
    one, and never all). Train and validation are drawn at random, without overlap, from the
    rest; requests larger than what is available are shrunk proportionally. ``eval``: the test
    snapshots of the first test trajectory, where integrated models are compared with the data
    (a window never crosses from one trajectory into another)."""
    bounds = trajectory_bounds(trajectory, n_snapshots)
    if len(bounds) == 1:
        n_test = max(1, int(round(test_fraction * n_snapshots)))
        n_first = n_snapshots - n_test
    else:
        n_first = bounds[-1][0]
        for start, _ in reversed(bounds[1:]):
            n_first = start
            if n_snapshots - start >= test_fraction * n_snapshots:
                break
    if n_first < 2:
        raise ConfigError(f"data has only {n_snapshots} snapshots: too few to split")
    if n_train + n_val > n_first:
        scale = n_first / (n_train + n_val)
        n_train = max(1, int(n_train * scale))
        n_val = min(int(n_val * scale), n_first - n_train)
    permutation = np.random.default_rng(seed).permutation(n_first)
    test = np.arange(n_first, n_snapshots)
    eval_stop = next((stop for start, stop in bounds if start <= n_first < stop), n_snapshots)
    return {
        "train": np.sort(permutation[:n_train]),
        "val": np.sort(permutation[n_train : n_train + n_val]),
        "test": test,
        "eval": np.arange(n_first, eval_stop),
    }


class Plan(NamedTuple):
    """The split and the library of a run, checked against its budget."""

    split: dict[str, np.ndarray]
    library: SindyLibrary


def plan(
    config: DiscoverConfig,
    n_snapshots: int,
    where: str = "the data",
    trajectory: np.ndarray | None = None,
) -> Plan:
    """Split ``n_snapshots`` (by whole trajectories when ``trajectory`` names several; see
    :func:`split_indices`) and build the library; refuse batch sizes the split cannot feed and
    least-squares fits that are underdetermined (:class:`ConfigError` naming ``where``)."""
    d, batch = config.data, config.train.batch_size
    split = split_indices(
        n_snapshots, d.n_train, d.n_val, d.test_fraction, config.seed, trajectory
    )
    library = polynomial_sine_library(
        config.model.latent_dim,
        config.sindy.poly_order,
        config.sindy.include_sine,
        config.sindy.include_constant,
    )
    if len(split["train"]) < batch:
        raise ConfigError(
            f"train.batch_size = {batch} exceeds the {len(split['train'])} training snapshots "
            f"of {where}; lower train.batch_size"
        )
    if min(len(split["test"]), batch) < library.n_terms and config.sindy.ridge == 0:
        raise ConfigError(
            f"the least-squares fit of {library.n_terms} library terms needs at least that many "
            f"snapshots per batch and in the test set (batch {batch}, test "
            f"{len(split['test'])}); raise train.batch_size / data.test_fraction or set sindy.ridge"
        )
    if config.train.stiff_directions and (config.sweep.enabled or jax.process_count() > 1):
        raise ConfigError(
            "train.stiff_directions works for a single-temperature run in one process; set it "
            "to 0 for a temperature sweep or a multi-process run"
        )
    n_devices = jax.device_count() if jax.process_count() > 1 else 1
    if config.train.num_chains % n_devices:
        raise ConfigError(
            f"train.num_chains = {config.train.num_chains} must be a multiple of the "
            f"{n_devices} devices of the {jax.process_count()} processes (the chains are "
            "split evenly over them)"
        )
    return Plan(split, library)


def data_digest(
    x: np.ndarray,
    dx: np.ndarray | None,
    t: np.ndarray,
    trajectory: np.ndarray | None = None,
) -> str:
    """SHA-256 of the data's content (x and, when given, ẋ as float32, t as float64, with their
    shapes, and the trajectory ids when there are several): the identity of a data set, whatever
    its file is called."""
    digest = hashlib.sha256()
    parts = [(x, np.float32)] + ([(dx, np.float32)] if dx is not None else []) + [(t, np.float64)]
    if trajectory is not None and len(trajectory) and trajectory[-1] != trajectory[0]:
        parts.append((trajectory, np.int32))
    for array, dtype in parts:
        array = np.ascontiguousarray(array, dtype)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def run_record(
    config: DiscoverConfig,
    data_path: str | None = None,
    data_sha256: str | None = None,
    derivatives_given: bool = True,
) -> dict[str, Any]:
    """What ``config.json`` holds: the full configuration, the data's content hash (None for
    data simulated from the configuration), the resolved file it came from (informative only: the
    same data under another path is the same run) and the package version.
    ``data.differentiation`` is left out when the data bring their derivatives (it plays no
    part then)."""
    path = str(Path(data_path).resolve()) if data_path is not None else None
    values = config.to_dict()
    if derivatives_given:
        del values["data"]["differentiation"]
    if not config.sweep.enabled and config.sweep.anneal_factor is None:
        del values["sweep"]  # no sweep: the record of a single run, as before sweeps existed
    if not config.train.stiff_directions:
        del values["train"]["stiff_directions"]  # likewise for the configured sampler
    if not config.collection.changes_sampler:
        del values["collection"]  # collected as trained, as before the section existed
    return {
        **values,
        "data_sha256": data_sha256,
        "data_path": path,
        "package_version": __version__,
    }


def as_data(
    x: Any, t: Any = None, x_dot: Any = None, config: DiscoverConfig | None = None
) -> Trajectories:
    """Users' snapshots checked and concatenated (:func:`eae_sindy.data.as_trajectories`), ẋ
    estimated by ``config.data.differentiation`` when ``x_dot`` is None. A call in the old
    order ``fit(x, dx, t)`` is refused with the new one."""
    if isinstance(t, np.ndarray | jax.Array) and np.ndim(t) == 2 and np.shape(t) == np.shape(x):
        raise TypeError(
            "the second argument of fit is now t: call fit(x, t, x_dot=dx) (pysindy's "
            "convention; derivatives are optional and estimated when left out)"
        )
    method = (config or preset("quick")).data.differentiation
    return as_trajectories(x, t, x_dot, differentiation=method)


def data_record(data: Trajectories, split: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``summary.json``'s ``training.data`` says about the data: how ẋ was obtained, the
    noise estimate, and the trajectories (their lengths, in order: snapshot membership follows)
    and which of them are the test set."""
    bounds = trajectory_bounds(data.trajectory, len(data.t))
    first_test = int(data.trajectory[split["test"][0]]) if len(split["test"]) else None
    return {
        "derivatives": data.derivatives,
        "derivatives_method": DIFFERENTIATION.get(data.derivatives, "given with the data"),
        "noise": data.noise,
        "n_trajectories": len(bounds),
        "trajectory_lengths": [stop - start for start, stop in bounds],
        "test_trajectories": (
            list(range(first_test, len(bounds))) if first_test is not None else []
        ),
        "uniform_times": all(is_uniform(data.t[a:b]) for a, b in bounds),
    }


REFERENCE_RMS = 0.4
"""RMS of the centred lambda-omega reference data: the units the presets' temperatures (and the
paper's) were tuned in. Every data set is scaled to it, so T means the same for all of them."""


class Scaling(NamedTuple):
    """x' = (x − offset)·factor and ẋ' = ẋ·factor: units and offsets of the data drop out, and
    the dynamics are unchanged (both sides of ż = Θ(z)Ξ see the same factor)."""

    offset: np.ndarray  # (n_features,) float32, the mean snapshot
    factor: float

    @classmethod
    def fit(cls, x: np.ndarray, standardize: bool = True) -> Scaling:
        if not standardize:
            return cls(np.zeros(x.shape[1], np.float32), 1.0)
        offset = x.mean(axis=0, dtype=np.float64)
        rms = float(np.sqrt(np.mean((x - offset) ** 2, dtype=np.float64)))
        if not rms > 0:
            raise DatasetError("x: every snapshot is the same; there are no dynamics to learn")
        return cls(offset.astype(np.float32), REFERENCE_RMS / rms)

    def forward(self, x: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        factor = np.float32(self.factor)
        return (x - self.offset) * factor, dx * factor

    def inverse(self, x_scaled: np.ndarray) -> np.ndarray:
        return np.asarray(x_scaled, np.float32) / np.float32(self.factor) + self.offset


# --------------------------------------------------------------------------------------------
# Training and collection
# --------------------------------------------------------------------------------------------
def _pca_signal(x: np.ndarray, k: int = 3) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:k].T).astype(np.float32)


def _principal_components(
    x: np.ndarray, dx: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """x (centred) and ẋ projected on the top ``k`` principal directions of x: the coordinates
    a PCA + SINDy user would fit (the report's peer). Randomised SVD (scikit-learn, a pysindy
    dependency), so paper-scale data need no full SVD."""
    from sklearn.utils.extmath import randomized_svd

    centred = x - x.mean(axis=0)
    _, _, vt = randomized_svd(centred, k, random_state=seed)
    return (centred @ vt.T).astype(np.float32), (dx @ vt.T).astype(np.float32)


def _chain_major(chunks: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Collected chunks (draws, chains, ...) → samples in chain-major order (all draws of chain
    0, then chain 1, ...), plus the ``chain`` of every sample."""
    ensemble = {}
    for name in chunks[0]:
        draws = np.concatenate([np.asarray(c[name], np.float32) for c in chunks])
        ensemble[name] = np.swapaxes(draws, 0, 1).reshape(-1, *draws.shape[2:])
    n_draws, n_chains = draws.shape[:2]
    ensemble["chain"] = np.repeat(np.arange(n_chains, dtype=np.int32), n_draws)
    return ensemble


def _enough_draws(
    chunks: list[dict[str, Any]], target_ess: int | None, config: DiscoverConfig
) -> tuple[bool, dict]:
    """The run's per-draw frame-free targets so far (``analysis.frame_free.draw_targets``: the
    loss, the test errors, the linearisation's eigenvalues and the circle rates): their largest
    R-hat and smallest bulk- or tail-ESS (shown on the progress bar), and whether every target
    has R-hat ≤ 1.01 and both ESS ≥ ``target_ess``. The integrated members' targets are judged
    in the report."""
    ensemble = _chain_major(chunks)
    if len(ensemble["chain"]) < 4 * len(np.unique(ensemble["chain"])):
        return False, {}
    terms = library_terms(
        config.model.latent_dim,
        config.sindy.poly_order,
        config.sindy.include_sine,
        config.sindy.include_constant,
    )
    errors = {n: ensemble.get(n) for n in ("loss", "x_relative_mse", "dx_relative_mse")}
    values = draw_targets(
        ensemble["xi"].astype(np.float64), terms, ensemble.get("z"), errors
    )
    found = frame_free(values, ensemble["chain"])
    moving = [t for t in found.targets if not t.constant]
    if not moving:
        return False, {}
    ess = min(min(t.ess_bulk, t.ess_tail) for t in moving)
    r_hat = max(t.r_hat for t in moving)
    enough = target_ess is not None and bool(r_hat <= R_HAT_MAX) and ess >= target_ess
    fields = {"min ESS": f"{ess:.0f}" + (f"/{target_ess}" if target_ess else "")}
    if np.isfinite(r_hat):
        fields["max R-hat"] = f"{r_hat:.3f}"
    return enough, fields


def _first_chain(tree: Any) -> Any:
    return jax.tree.map(lambda leaf: leaf[0], tree)


class _SindyEAE(NamedTuple):
    """The SINDy-EAE of a run: Algorithms 1 and 2, the model, the loss, and ``data``, the
    snapshots they use (training minibatches, test and fit snapshots) as device arrays, to be
    passed to ``outer_step``/``collect`` as an argument (see :func:`run_data_argument`)."""

    eae: Any
    model: Any
    loss_fn: Any
    data: dict[str, Any]


def run_data_argument(data: dict[str, Any], config: DiscoverConfig) -> dict[str, Any]:
    """``data`` as the compiled programs take it: as is in one process; in a multi-process run,
    replicated global arrays on the run's mesh (every process holds the same snapshots)."""
    if jax.process_count() == 1:
        return data
    mesh = global_mesh(num_chains=config.train.num_chains)
    return place(data, mesh, jax.tree.map(lambda _: P(), data))


def _fit_index(split: dict[str, np.ndarray], fit_on: str) -> np.ndarray:
    """The snapshots each Ξ is fitted on, in time order."""
    if fit_on == "test":
        return split["test"]
    return np.sort(np.concatenate([split["train"], split["val"], split["test"]]))


def _device_data(
    x: np.ndarray, dx: np.ndarray, split: dict[str, np.ndarray], fit_on: str
) -> dict[str, Any]:
    """The snapshots the compiled programs read, on the device: ``train`` (minibatches),
    ``test`` (each collected encoder's summary) and, for ``fit_on = "all"``, ``fit`` (the
    snapshots Ξ is fitted on)."""
    data = {
        "train": {"x": jnp.asarray(x[split["train"]]), "dx": jnp.asarray(dx[split["train"]])},
        "test": {"x": jnp.asarray(x[split["test"]]), "dx": jnp.asarray(dx[split["test"]])},
    }
    if fit_on == "all":
        fit_index = _fit_index(split, fit_on)
        data["fit"] = {"x": jnp.asarray(x[fit_index]), "dx": jnp.asarray(dx[fit_index])}
    return data


def _sindy_eae(
    x: np.ndarray,
    dx: np.ndarray,
    split: dict[str, np.ndarray],
    library: SindyLibrary,
    config: DiscoverConfig,
    sampler: Any = None,
    data: dict[str, Any] | None = None,
    full_batch: bool = False,
) -> _SindyEAE:
    """The EAE with the SINDy loss on minibatches of the training snapshots (``full_batch``: on
    all of them at every step); each collected encoder is summarised on the test snapshots (Ξ,
    latent codes, errors). ``sampler``: the encoder sampler (default: ``config.sampler.build()``;
    a temperature sweep passes one per temperature; its ``max_omega_dt`` sets the step control).
    ``data``: the device arrays of an earlier call with the same arguments, to share (default:
    copied to the device from ``x``, ``dx`` here)."""
    tc, sc, m = config.train, config.sindy, config.model
    if data is None:
        data = _device_data(x, dx, split, sc.fit_on)
    n_eval = min(tc.n_eval, len(split.get("eval", split["test"])))
    model = mlp_autoencoder(
        x.shape[1], m.latent_dim, m.encoder_widths, m.decoder_widths, m.activation
    )
    weights = dict(
        lambda_x=sc.lambda_x, lambda_dx=sc.lambda_dx, ridge=sc.ridge, reduction=sc.reduction
    )
    loss_fn = sindy_loss(model.encode, model.decode, library, **weights)
    n_train = len(split["train"])

    def sample_batch(key, data):
        if full_batch:
            return data["train"]
        index = jax.random.randint(key, (tc.batch_size,), 0, n_train)
        return {"x": data["train"]["x"][index], "dx": data["train"]["dx"][index]}

    def fitted(enc_params, terms, data):
        """Ξ on the ``fit_on`` snapshots and that least-squares problem, compressed."""
        if sc.fit_on == "test":
            theta, dz = library.evaluate(terms.z), terms.dz
            return terms.xi, compress_least_squares(theta, dz)
        fit = data["fit"]
        z, dz = jax.jvp(lambda v: model.encode(enc_params, v), (fit["x"],), (fit["dx"],))
        compressed = compress_least_squares(library.evaluate(z), dz)
        return solve_compressed(*compressed[:2], sc.ridge), compressed

    def summarize(enc_params, dec_params, data):
        test = data["test"]
        terms = sindy_terms(
            model.encode, model.decode, library, enc_params, dec_params, test, **weights
        )
        xi, (fit_r, fit_qtdz, fit_dz_ms) = fitted(enc_params, terms, data)
        x_norm, dx_norm = jnp.sum(test["x"] ** 2), jnp.sum(test["dx"] ** 2)
        return {
            "xi": xi,
            "fit_r": fit_r,
            "fit_qtdz": fit_qtdz,
            "fit_dz_ms": fit_dz_ms,
            "xi_test": terms.xi,
            "loss": terms.loss,
            "z": terms.z[:n_eval],
            "dz": terms.dz[:n_eval],
            "x_relative_mse": jnp.sum((test["x"] - terms.x_hat) ** 2) / x_norm,
            "dx_relative_mse": jnp.sum((test["dx"] - terms.dx_hat) ** 2) / dx_norm,
        }

    sampler = config.sampler.build() if sampler is None else sampler
    eae = entropic_autoencoder(
        loss_fn,
        sampler,
        optax.adam(tc.learning_rate),
        sample_batch,
        tc.inner_steps,
        summarize,
        num_chains=tc.num_chains,
        max_omega_dt=sampler.max_omega_dt,
    )
    return _SindyEAE(eae, model, loss_fn, data)


def _train(
    built: _SindyEAE,
    config: DiscoverConfig,
    checkpoint_dir: Path | None,
    progress: bool,
    data: dict[str, Any],
) -> tuple[EAEState, str, dict[str, np.ndarray], float]:
    """Algorithm 1 from the seed's initial state, or from the checkpoint in ``checkpoint_dir``
    (where ``metrics.csv`` is then logged row by row). Returns the state, why training stopped,
    the training curve and the training time."""
    tc = config.train
    key_model, key_eae = jax.random.split(jax.random.PRNGKey(config.seed))
    state = built.eae.init(*built.model.init(key_model), key_eae)
    checkpoint = metrics_file = None
    if checkpoint_dir is not None:
        checkpoint, metrics_file = checkpoint_dir / CHECKPOINT_FILE, checkpoint_dir / METRICS_FILE
        state = resume_from(checkpoint, state)
        if int(state.iteration) and is_main_process():
            print(
                f"resuming {checkpoint_dir} from outer iteration {int(state.iteration)}",
                file=sys.stderr,
            )
    if jax.process_count() > 1:  # the chains split over the devices of all processes
        state = place_state(state, global_mesh(num_chains=tc.num_chains))
    rows: list[dict[str, float]] = []
    started = time.perf_counter()
    log = None
    if metrics_file is not None and is_main_process():  # process 0 alone writes the run
        log = MetricsLog(metrics_file, int(state.iteration))
    try:
        state, stopped = run_training(
            built.eae,
            state,
            num_outer=tc.outer_iterations,
            grad_tol=tc.grad_tol,
            checkpoint_path=checkpoint,
            checkpoint_every=tc.checkpoint_every,
            on_iteration=log or rows.append,
            progress=progress,
            data=data,
        )
    finally:
        if log is not None:
            log.close()
    seconds = time.perf_counter() - started
    if log is not None:
        metrics = read_metrics(metrics_file)
    else:
        metrics = {c: np.array([metrics_row(r)[c] for r in rows], np.float64)
                   for c in METRICS_COLUMNS}
    return state, stopped, metrics, seconds


def _validation_loss(built: _SindyEAE, state: EAEState, x, dx, split) -> float | None:
    """The loss of the chains' last encoders and the decoder on the validation snapshots."""
    if not len(split["val"]):
        return None  # JSON null
    val = {"x": jnp.asarray(x[split["val"]]), "dx": jnp.asarray(dx[split["val"]])}
    chain_losses = jax.jit(jax.vmap(built.loss_fn, in_axes=(0, None, None)))(
        state.sampler.position, state.decoder, val
    )
    return float(jnp.mean(chain_losses))


def _stiff_collection(
    built: _SindyEAE,
    state: EAEState,
    the_plan: Plan,
    config: DiscoverConfig,
    x: np.ndarray,
    dx: np.ndarray,
) -> tuple[_SindyEAE, EAEState, dict[str, Any]]:
    """The EAE that collects with a mass heavier along each chain's ``train.stiff_directions``
    stiffest directions (:mod:`eae_sindy.stiffness`, on four fixed training minibatches at the
    trained decoder) and the step enlarged by √(λ_1/λ_{k+1}) over all chains (the configured
    worst-case ω·dt kept); the state with those masses attached; and what was done, for
    ``summary.json``."""
    tc, sc = config.train, config.collection.sampler(config.sampler)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x57)
    key_batches, key_start = jax.random.split(key)
    index = jax.random.randint(key_batches, (4, tc.batch_size), 0, len(the_plan.split["train"]))
    train = built.data["train"]
    batches = [{name: a[i] for name, a in train.items()} for i in index]

    def one_chain(enc_params, decoder, batches, key):
        def loss(p):
            return sum(built.loss_fn(p, decoder, b) for b in batches) / len(batches)

        return stiff_subspace(loss, enc_params, tc.stiff_directions, key)

    one_chain = jax.jit(one_chain)  # decoder and batches as arguments, not compiled-in constants
    position = state.sampler.position
    chains = [jax.tree.map(lambda a, c=c: a[c], position) for c in range(tc.num_chains)]
    keys = jax.random.split(key_start, tc.num_chains)
    found = [one_chain(enc, state.decoder, batches, k) for enc, k in zip(chains, keys, strict=True)]
    found = jax.tree.map(lambda *a: jnp.stack(a), *found)
    curvature = np.asarray(found.curvature, np.float64)
    gain = max(1.0, float(np.sqrt(curvature[:, 0].max() / max(curvature[:, -1].max(), 1e-30))))
    step_size = sc.step_size * gain
    sampler = simmering(**{**dataclasses.asdict(sc), "step_size": step_size})
    collector = _sindy_eae(
        x, dx, *the_plan, config, sampler=sampler, data=built.data,
        full_batch=config.collection.full_batch,
    )
    factor = heavier_mass(found.curvature)
    stiff_sampler = jax.vmap(with_stiff_subspace)(state.sampler, found.basis, factor)
    state = state._replace(sampler=stiff_sampler)
    record = {
        "stiff_directions": tc.stiff_directions,
        "curvature": curvature.tolist(),
        "step_size": step_size,
        "step_gain": gain,
    }
    return collector, state, record


def _bias_guard(
    collector: _SindyEAE, state: EAEState, data: dict[str, Any], config: DiscoverConfig
) -> tuple[EAEState, dict[str, Any] | None]:
    """The run's bias guard (:mod:`eae_sindy.collection_guard`) after collection: the state
    after its continuation and the record for ``summary.json`` (None with the step control off
    or in a multi-process run; a record that says why when the data are too large)."""
    if state.curvature is None or jax.process_count() > 1:
        return state, None
    train = collector.data["train"]
    if train["x"].size + train["dx"].size > GUARD_MAX_FLOATS:
        return state, {"skipped": "the training set is too large for the guard's programs"}
    collect = jax.jit(collector.eae.collect, static_argnums=(1, 2))
    decoder = state.decoder
    temperature = config.collection.sampler(config.sampler).temperature
    return guard_after_collection(
        collect, state, data, lambda p: collector.loss_fn(p, decoder, train), temperature
    )


def _train_and_collect(
    given: Trajectories,
    config: DiscoverConfig,
    the_plan: Plan,
    record: dict[str, Any],
    *,
    grid_shape: tuple[int, ...],
    checkpoint_dir: Path | None,
    progress: bool,
) -> Discovery:
    started = time.perf_counter()
    x, dx, t = given.x, given.dx, given.t
    split, library = the_plan
    tc = config.train
    scaling = Scaling.fit(x, config.data.standardize)
    x_raw, (x, dx) = x, scaling.forward(x, dx)
    progress = progress and is_main_process()
    built = _sindy_eae(x, dx, split, library, config)
    data = run_data_argument(built.data, config)
    state, stopped, metrics, train_time = _train(built, config, checkpoint_dir, progress, data)
    val_loss = _validation_loss(built, state, x, dx, split)

    collector, stiff = built, None
    if tc.stiff_directions:
        collector, state, stiff = _stiff_collection(built, state, the_plan, config, x, dx)
    elif config.collection.changes_sampler:
        collector = _sindy_eae(
            x, dx, split, library, config,
            sampler=config.collection.sampler(config.sampler).build(),
            data=built.data, full_batch=config.collection.full_batch,
        )
    chunks: list[dict[str, Any]] = []
    collection_started = time.perf_counter()
    state = run_collection(
        collector.eae,
        state,
        num_samples=tc.n_samples,
        thin=tc.thin,
        chunk_size=tc.chunk_size,
        sink=chunks.append,
        progress=progress,
        stop_when=lambda: _enough_draws(chunks, tc.target_ess, config),
        data=data,
    )
    collection_time = time.perf_counter() - collection_started
    state, guard = _bias_guard(collector, state, data, config)
    if jax.process_count() > 1:  # the final state whole in every process (small), as numpy
        state = gather(state)

    training = {
        "outer_iterations": int(state.iteration),
        "stopped": stopped,
        "train_time_s": train_time,
        "collection_time_s": collection_time,
        "validation_loss": val_loss,
        "data": data_record(given, split),
    }
    if stiff is not None:
        training["collection_sampler"] = stiff
    if guard is not None:
        training["bias_guard"] = guard
    if config.collection.changes_sampler:
        collecting = config.collection.sampler(config.sampler)
        training["collection"] = {
            "full_batch": config.collection.full_batch,
            "thermostat": collecting.thermostat,
            "friction": collecting.friction,
            "step_size": collecting.step_size,
            "max_omega_dt": collecting.max_omega_dt,
            "resample_every": collecting.resample_every,
        }
    run = _run_data(
        built,
        state,
        chunks,
        x,
        config,
        the_plan.split,
        scaling,
        record,
        shared=_data_arrays(
            (x_raw, x, dx, t), config, the_plan, scaling, grid_shape, given.trajectory
        ),
        metrics=metrics,
        training=training,
        started=started,
    )
    return Discovery(run, config, state)


def _data_arrays(
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: DiscoverConfig,
    the_plan: Plan,
    scaling: Scaling,
    grid_shape: tuple[int, ...],
    trajectory: np.ndarray | None = None,
) -> dict[str, Any]:
    """The fields of a :class:`RunData` that depend on the data alone, not on a trained EAE
    (computed once; a temperature sweep shares them between its rungs). ``data``:
    ``(x_raw, x, dx, t)`` with ``x``, ``dx`` scaled and ``x_raw`` as given; ``trajectory``: each
    snapshot's trajectory (None: one). The data's signal is its longest test trajectory, and
    the integration window lies in the first one: neither crosses a join."""
    x_raw, x, dx, t = data
    split, library = the_plan
    test = split["test"]
    if trajectory is not None:
        ids = trajectory[test]
        lengths = np.bincount(ids - ids.min())
        test = test[ids == ids.min() + int(np.argmax(lengths))]
    test_raw, times = x_raw[test], t[test]
    eval_times = t[split.get("eval", split["test"])]
    fit_index = _fit_index(split, config.sindy.fit_on)
    pca_z, pca_dz = _principal_components(
        x[fit_index], dx[fit_index], config.model.latent_dim, config.seed
    )
    steps = np.diff(eval_times if len(eval_times) > 1 else times)
    return dict(
        pca_z=pca_z,
        pca_dz=pca_dz,
        t_pca=t[fit_index],
        terms=library.terms,
        poly_order=library.poly_order,
        include_sine=library.include_sine,
        t=eval_times[: min(config.train.n_eval, len(eval_times))],
        data_signal=_pca_signal(test_raw),
        t_data_signal=times,
        x_examples=x_raw[split["test"]][_example_index(split, config)],
        x_offset=scaling.offset,
        x_scale=scaling.factor,
        dt=float(np.median(steps)) if len(steps) else float(config.data.dt),
        grid_shape=tuple(grid_shape),
        xi_fit_on=config.sindy.fit_on,
        package_version=__version__,
    )


def _example_index(split: dict[str, np.ndarray], config: DiscoverConfig) -> np.ndarray:
    """The test snapshots shown with their reconstructions, spread over the test window."""
    n_test = len(split["test"])
    return np.linspace(0, n_test - 1, min(config.train.n_examples, n_test)).astype(int)


def _run_data(
    built: _SindyEAE,
    state: EAEState,
    chunks: list[dict[str, Any]],
    x: np.ndarray,
    config: DiscoverConfig,
    split: dict[str, np.ndarray],
    scaling: Scaling,
    record: dict[str, Any],
    *,
    shared: dict[str, Any],
    metrics: dict[str, np.ndarray],
    training: dict[str, Any],
    started: float,
) -> RunData:
    """The :class:`RunData` of a trained and collected EAE (``state``: one EAE's final state;
    ``x``: the scaled snapshots; ``shared``: :func:`_data_arrays`; ``started``: when the run
    began)."""
    examples = x[split["test"]][_example_index(split, config)]
    last = _first_chain(state.sampler.position)  # the last encoder of chain 0
    recon = built.model.decode(state.decoder, built.model.encode(last, jnp.asarray(examples)))
    return RunData(
        **_chain_major(chunks),
        **shared,
        x_recon_examples=scaling.inverse(recon),
        temperature=config.sampler.temperature,
        metrics=metrics,
        training={**training, "wall_time_s": time.perf_counter() - started},
        config=record,
    )


def fit(
    x: Any,
    t: Any = None,
    x_dot: Any = None,
    *,
    config: DiscoverConfig | None = None,
    seed: int | None = None,
    grid_shape: tuple[int, ...] | None = None,
    data_path: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    record: dict[str, Any] | None = None,
) -> Discovery:
    """Discover the latent governing equations of snapshots ``x`` (pysindy's convention).

    Args:
      x: (n_snapshots, n_features) array in time order (numpy or JAX; stored as float32), or a
        list of such arrays, one per trajectory (lengths may differ), or a 3-D array
        (trajectory, snapshot, feature). Several trajectories are split into train/validation
        and test by whole trajectories, and nothing (derivatives, windows, the data's period)
        crosses from one into the next.
      t: the times: an (n_snapshots,) array (one per trajectory, as a list, for several; or one
        array shared by trajectories of equal length), or a scalar time step; default
        ``0, 1, 2, ...`` (periods are then in snapshots). Non-uniform times are fine.
      x_dot: the time derivatives, structured like ``x``; default: estimated from x and t per
        trajectory by ``config.data.differentiation`` (recorded in the run, with a noise
        estimate of the data; :mod:`eae_sindy.data`).
      config: the settings (default: ``preset("quick")``); ``config.data`` supplies only the
        split sizes here.
      seed: overrides ``config.seed`` (an integer in [0, 2**32)).
      grid_shape: shape one snapshot reshapes to, for the report's images (default flat).
      data_path: the file the arrays were read from, recorded in ``config.json`` (None: arrays).
      checkpoint_dir: where to keep ``checkpoint.msgpack`` and ``metrics.csv`` while training;
        the directory is claimed for this run (``config.json``) like ``discover``'s ``--out``.
      resume: continue from the checkpoint in ``checkpoint_dir``.
      progress: show progress bars.
      record: the run record (``config.json``) to claim ``checkpoint_dir`` with; default
        :func:`run_record` of ``config``, ``data_path`` and the data's content hash.

    Returns:
      A :class:`Discovery`.

    Raises:
      DatasetError: the arrays are not 2-D, finite, of matching shapes (naming the trajectory).
      TypeError: called in the old order ``fit(x, dx, t)``.
      ConfigError: a setting or the budget does not fit the data.
      RunDirectoryError: ``checkpoint_dir`` cannot be used.
      SamplerDivergedError: the sampler diverged (the last good checkpoint is kept).
    """
    config = config or preset("quick")
    if seed is not None:
        config = config_from_dict({"seed": seed}, base=config, source="seed")
    given = as_data(x, t, x_dot, config)
    where = data_path or "the data"
    the_plan = plan(config, len(given.t), where, given.trajectory)
    given_dx = None if x_dot is None else given.dx
    record = record or run_record(
        config, data_path, data_digest(given.x, given_dx, given.t, given.trajectory),
        derivatives_given=x_dot is not None,
    )
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        if is_main_process():  # process 0 alone writes the run directory
            claim_output(checkpoint_dir, record, resume=resume)
        barrier("run directory claimed")
    return _train_and_collect(
        given,
        config,
        the_plan,
        record,
        grid_shape=grid_shape or (given.x.shape[1],),
        checkpoint_dir=checkpoint_dir,
        progress=progress,
    )


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclass
class Discovery:
    """A distribution over governing equations ż = Θ(z) Ξ: one Ξ per sampled encoder.

    Attributes:
      run: everything a run directory holds (``analysis.rundir.RunData``): ``xi`` (n_samples,
        n_terms, latent_dim), latent codes, errors, training curve, metadata.
      config: the settings of the run (None for a run directory not written by eae-sindy).
      state: the final training state (in memory after :func:`fit`; None after :func:`load`).
    """

    run: RunData
    config: DiscoverConfig | None = None
    state: EAEState | None = None
    _analysis: Any = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def xi(self) -> np.ndarray:
        return self.run.xi

    @property
    def term_names(self) -> list[str]:
        return self.run.term_names

    @property
    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` holds: coefficient quantiles, test errors, training facts."""
        return self.run.summary

    def equations(self, threshold: float = 0.1, precision: int = 3) -> list[str]:
        """The ensemble-mean equations in pysindy's format, each coefficient with its standard
        deviation over the ensemble; terms with |mean| < ``threshold`` are left out."""
        mean, std = self.xi.mean(axis=0), self.xi.std(axis=0)
        lines = []
        for j in range(self.run.latent_dim):
            parts = [
                f"{mean[k, j]:.{precision}f}±{std[k, j]:.{precision}f} {name}"
                for k, name in enumerate(self.term_names)
                if abs(mean[k, j]) >= threshold
            ]
            body = " + ".join(parts).replace("+ -", "- ") if parts else f"{0:.{precision}f}"
            lines.append(f"(x{j})' = {body}")
        return lines

    def analysis(self):
        """The report's analysis of this run (``analysis.pipeline.analyze_run``; computed once:
        it integrates a few hundred members, a few seconds)."""
        if self._analysis is None:
            from analysis.pipeline import analyze_run

            self._analysis = analyze_run(self.run)
        return self._analysis

    def frame_free(self):
        """The frame-free targets of every draw and the run's convergence verdict on them
        (``analysis.frame_free.FrameFree``: ``converged``, ``targets`` with mean, MCSE, R-hat,
        bulk- and tail-ESS each, ``values`` per draw)."""
        return self.analysis().frame_free

    def to_arviz(self):
        """The draws as an ArviZ ``xarray.DataTree``: Ξ (chain, draw, term, equation) and the
        frame-free targets (chain, draw) in ``posterior``, the integrated members' targets in
        ``integrated_members`` (``analysis.arviz_export``)."""
        from analysis.arviz_export import to_datatree

        return to_datatree(self.run, self.frame_free())

    def print(self, threshold: float = 0.1, precision: int = 3) -> None:
        """Print what converged (the frame-free targets with mean ± MCSE, R-hat and ESS), then
        :meth:`equations` (like ``pysindy.SINDy.print``; descriptive: coefficients depend on
        the latent frame)."""
        from analysis.frame_free import format_value, verdict_lines

        found = self.frame_free()
        for line in verdict_lines(found):
            print(line)
        for t in found.targets:
            print(
                f"  {t.name:<20} {format_value(t.mean, t.mcse):>22}  R-hat {t.r_hat:.3f}  "
                f"ESS {t.ess_bulk:.0f}/{t.ess_tail:.0f}" + ("" if t.converged else "  (no)")
            )
        print("ensemble mean (descriptive):")
        for line in self.equations(threshold, precision):
            print(line)

    def to_pysindy(self, statistic: str = "mean"):
        """One model of the ensemble as a fitted ``pysindy.SINDy``: the ``"mean"`` or
        ``"median"`` Ξ, member ``int`` of the ensemble, or ``"sparse"``: the recommended sparse
        model the report leads with — the mean of the members' sparse models chosen by evidence
        (the sparsest on each member's path of thresholds whose integrated dynamics keep the
        data's attractor, else the smallest BIC) that share the most frequent structure
        (``analysis.pipeline.sparse_analysis``; docs/analysis.md)."""
        from analysis.interop import to_pysindy

        if isinstance(statistic, int):
            xi = self.xi[statistic]
        elif statistic in ("mean", "median"):
            xi = getattr(np, statistic)(self.xi, axis=0)
        elif statistic == "sparse":
            from analysis.pipeline import sparse_analysis

            _, found = sparse_analysis(self.run.as_float64())
            if found is None:
                raise ValueError("this run holds no fit problems or latent codes to fit on")
            chosen = found.choice.recommended if found.choice is not None else None
            xi = (chosen or found.structures[0]).mean
        else:
            raise ValueError(
                "statistic must be 'mean', 'median', 'sparse' or a member index, got "
                f"{statistic!r}"
            )
        return to_pysindy(
            np.asarray(xi, np.float64),
            self.term_names,
            poly_order=self.run.poly_order,
            include_sine=self.run.include_sine,
        )

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the run directory (``ensemble.h5``, ``summary.json``, ``metrics.csv``,
        ``config.json``; docs/run_directory.md). A directory holding a different run is refused
        (``RunDirectoryError``); saving again into this run's directory overwrites its files."""
        directory = Path(directory)
        if self.run.config is not None:  # this run's directory, or a new one: never another's
            claim_output(directory, self.run.config, resume=True)
        write_run(directory, self.run)
        self.run = dataclasses.replace(self.run, run_dir=directory)
        return directory

    def report(
        self, directory: str | os.PathLike | None = None, *, threshold: float = 0.1
    ) -> dict[str, Path]:
        """Write the analysis report (``report.html``, ``report.md``, ``analysis.json``,
        figures) into ``directory``, saving the run there first when it is not there yet.
        Default: the directory the run was saved to or loaded from."""
        from analysis.report import write_report

        if directory is None:
            if self.run.run_dir is None:
                raise ValueError("this Discovery is not saved yet: pass a directory")
            directory = self.run.run_dir
        directory = Path(directory)
        if self.run.run_dir is None or self.run.run_dir.resolve() != directory.resolve():
            self.save(directory)
        return write_report(directory, threshold=threshold)

    def __repr__(self) -> str:
        where = f", saved in {self.run.run_dir}" if self.run.run_dir else ""
        return (
            f"Discovery({self.run.n_samples} encoders, latent_dim {self.run.latent_dim}, "
            f"{len(self.term_names)} terms{where})"
        )


def load(directory: str | os.PathLike) -> Discovery:
    """The :class:`Discovery` saved in a run directory (``analysis.ReportError`` names what is
    wrong with a damaged or foreign directory)."""
    run = load_run(directory)
    config = None
    if run.config is not None:
        values = {k: v for k, v in run.config.items() if k in DiscoverConfig.__dataclass_fields__}
        try:
            config = config_from_dict(values, base=DiscoverConfig(), source=CONFIG_FILE)
        except ConfigError:
            config = None
    return Discovery(run, config)
