"""What a run directory holds, built from a trained and collected SINDy-EAE: the collected draws in
chain-major order (:func:`chain_major`), the fields that depend on the data alone
(:func:`data_fields`: the PCA peer's coordinates, the data's signal, examples, scaling), the
``training`` section of ``summary.json`` (:func:`training_record`) and the whole
:class:`~analysis.rundir.RunData` (:func:`run_data`). :func:`enough_draws` is the collection's
stopping rule on the draws so far."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from analysis.diagnostics import R_HAT_MAX
from analysis.frame_free import draw_targets, frame_free
from analysis.library import library_terms
from analysis.rundir import METRICS_COLUMNS, RunData, metrics_row
from eae_sindy import __version__
from eae_sindy.config import DiscoverConfig
from eae_sindy.data import Trajectories
from eae_sindy.eae import EAEState
from eae_sindy.planning import Plan, Scaling, data_record
from eae_sindy.sindy_eae import SindyEAE, collection_settings, fit_index

__all__ = [
    "chain_major",
    "data_fields",
    "enough_draws",
    "example_index",
    "principal_components",
    "run_data",
    "training_curve",
    "training_record",
]


def pca_signal(x: np.ndarray, k: int = 3) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:k].T).astype(np.float32)


def principal_components(
    x: np.ndarray, dx: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """x (centred) and ẋ projected on the top ``k`` principal directions of x: the coordinates
    a PCA + SINDy user would fit (the report's peer). Randomised SVD (scikit-learn, a pysindy
    dependency), so paper-scale data need no full SVD."""
    from sklearn.utils.extmath import randomized_svd

    centred = x - x.mean(axis=0)
    _, _, vt = randomized_svd(centred, k, random_state=seed)
    return (centred @ vt.T).astype(np.float32), (dx @ vt.T).astype(np.float32)


def chain_major(chunks: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Collected chunks (draws, chains, ...) → samples in chain-major order (all draws of chain
    0, then chain 1, ...), plus the ``chain`` of every sample."""
    ensemble = {}
    for name in chunks[0]:
        draws = np.concatenate([np.asarray(c[name], np.float32) for c in chunks])
        ensemble[name] = np.swapaxes(draws, 0, 1).reshape(-1, *draws.shape[2:])
    n_draws, n_chains = draws.shape[:2]
    ensemble["chain"] = np.repeat(np.arange(n_chains, dtype=np.int32), n_draws)
    return ensemble


def enough_draws(
    chunks: list[dict[str, Any]], target_ess: int | None, config: DiscoverConfig
) -> tuple[bool, dict]:
    """The run's per-draw frame-free targets so far (``analysis.frame_free.draw_targets``: the
    loss, the test errors, the linearisation's eigenvalues and the circle rates): their largest
    R-hat and smallest bulk- or tail-ESS (shown on the progress bar), and whether every target
    has R-hat ≤ 1.01 and both ESS ≥ ``target_ess``. The integrated members' targets are judged
    in the report."""
    ensemble = chain_major(chunks)
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


def first_chain(tree: Any) -> Any:
    return jax.tree.map(lambda leaf: leaf[0], tree)


def data_fields(
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
    fitted_on = fit_index(split, config.sindy.fit_on)
    pca_z, pca_dz = principal_components(
        x[fitted_on], dx[fitted_on], config.model.latent_dim, config.seed
    )
    steps = np.diff(eval_times if len(eval_times) > 1 else times)
    return dict(
        pca_z=pca_z,
        pca_dz=pca_dz,
        t_pca=t[fitted_on],
        terms=library.terms,
        poly_order=library.poly_order,
        include_sine=library.include_sine,
        t=eval_times[: min(config.train.n_eval, len(eval_times))],
        data_signal=pca_signal(test_raw),
        t_data_signal=times,
        x_examples=x_raw[split["test"]][example_index(split, config)],
        x_offset=scaling.offset,
        x_scale=scaling.factor,
        dt=float(np.median(steps)) if len(steps) else float(config.data.dt),
        grid_shape=tuple(grid_shape),
        xi_fit_on=config.sindy.fit_on,
        package_version=__version__,
    )


def example_index(split: dict[str, np.ndarray], config: DiscoverConfig) -> np.ndarray:
    """The test snapshots shown with their reconstructions, spread over the test window."""
    n_test = len(split["test"])
    return np.linspace(0, n_test - 1, min(config.train.n_examples, n_test)).astype(int)


def training_curve(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """The training curve (``metrics.csv``'s columns) of the rows logged in memory, one per
    outer iteration."""
    return {c: np.array([metrics_row(r)[c] for r in rows], np.float64) for c in METRICS_COLUMNS}


def training_record(
    config: DiscoverConfig,
    state: EAEState,
    data: Trajectories,
    split: dict[str, np.ndarray],
    *,
    stopped: str,
    times: tuple[float, float],
    validation_loss: float | None,
    stiff: dict[str, Any] | None = None,
    guard: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``training`` section of ``summary.json`` (without the wall time, which
    :func:`run_data` adds): outer iterations, why training stopped, training and collection
    times (``times``), the validation loss, the data (:func:`~eae_sindy.planning.data_record`)
    and, where they apply, the stiff collection, the bias guard and the collection's sampler."""
    training = {
        "outer_iterations": int(state.iteration),
        "stopped": stopped,
        "train_time_s": times[0],
        "collection_time_s": times[1],
        "validation_loss": validation_loss,
        "data": data_record(data, split),
    }
    if stiff is not None:
        training["collection_sampler"] = stiff
    if guard is not None:
        training["bias_guard"] = guard
    collection = collection_settings(config)
    if collection is not None:
        training["collection"] = collection
    return training


def run_data(
    built: SindyEAE,
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
    ``x``: the scaled snapshots; ``shared``: :func:`data_fields`; ``started``: when the run
    began)."""
    examples = x[split["test"]][example_index(split, config)]
    last = first_chain(state.sampler.position)  # the last encoder of chain 0
    recon = built.model.decode(state.decoder, built.model.encode(last, jnp.asarray(examples)))
    return RunData(
        **chain_major(chunks),
        **shared,
        x_recon_examples=scaling.inverse(recon),
        temperature=config.sampler.temperature,
        metrics=metrics,
        training={**training, "wall_time_s": time.perf_counter() - started},
        config=record,
    )
