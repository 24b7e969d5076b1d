"""The run directory of a discovery run (docs/run_directory.md): its file and dataset names, the
in-memory :class:`RunData`, its one writer :func:`write_run` and its one reader :func:`load_run`.

``eae_sindy`` (``Discovery.save``, ``python -m eae_sindy.discover``) and the synthetic runs of
``analysis.synthetic`` write through :func:`write_run`; the report and ``eae_sindy.load`` read
through :func:`load_run`, which checks ``schema_version`` and refuses a newer or unknown one.
Arrays keep their stored dtype, so ``write_run`` → ``load_run`` round-trips every array bit for
bit. ``ensemble.h5`` is required; the other files and datasets are optional and their absence is
recorded in ``RunData.notes``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from analysis.coefficients import coefficient_stats
from analysis.diagnostics import ESS_MIN, R_HAT_MAX, Diagnostics, diagnose, verdict
from analysis.errors import ReportError
from analysis.library import Term, library_terms, terms_from_arrays
from simulators.atomic_files import atomic_output, atomic_write_json, atomic_write_text
from simulators.hdf5_io import hdf5_for_writing

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "DATA_FILE",
    "ENSEMBLE_FILE",
    "METRICS_COLUMNS",
    "metrics_row",
    "METRICS_FILE",
    "SCHEMA_VERSION",
    "SUMMARY_FILE",
    "MetricsLog",
    "RunData",
    "load_run",
    "read_metrics",
    "summary_of",
    "write_run",
    "CollectionSettings",
    "StiffCollection",
]

LEARNED_MAX_RELATIVE_MSE = 0.5
"""The sanity gate: a model learned the data when its test reconstructions of x and of ẋ leave
less than half of their variance unexplained (relative MSE < 0.5; predicting the mean scores 1)."""

SCHEMA_VERSION = 3
"""Version of the ``ensemble.h5`` layout. 2 added ``term_kinds``/``term_powers``; 3 added the
compressed least-squares problem of every Ξ fit (``fit_r``, ``fit_qtdz``, ``fit_dz_ms``) and the
principal components of the data (``pca_z``, ``pca_dz``, ``t_pca``). Versions 1 and 2 are still
read (the sections that need the new datasets fall back or are skipped)."""

CONFIG_FILE = "config.json"
DATA_FILE = "data.h5"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.msgpack"
ENSEMBLE_FILE = "ensemble.h5"
SUMMARY_FILE = "summary.json"

METRICS_COLUMNS = (
    "iteration",
    "loss_mean",
    "loss_std",
    "loss_min",
    "loss_max",
    "loss_after_update",
    "kinetic_temperature",
    "decoder_grad_norm",
    "diverged",
    "elapsed_s",
    "step_size",
    "curvature_max",
)
"""Columns of ``metrics.csv``. ``step_size`` and ``curvature_max`` (the sampler step an outer
iteration ran at and the largest curvature that chose it, ``sampler.max_omega_dt``) are empty
(NaN) in runs without the step control and in files written before them."""

# Datasets of ensemble.h5 and their ranks: one row per collected encoder ...
PER_SAMPLE = {
    "xi": 3,
    "chain": 1,
    "xi_test": 3,
    "loss": 1,
    "x_relative_mse": 1,
    "dx_relative_mse": 1,
    "z": 3,
    "dz": 3,
    "fit_r": 3,
    "fit_qtdz": 3,
    "fit_dz_ms": 2,
}
# ... and the run's own arrays.
PER_RUN = {
    "t": 1,
    "data_signal": 2,
    "t_data_signal": 1,
    "x_examples": 2,
    "x_recon_examples": 2,
    "x_offset": 1,
    "pca_z": 2,
    "pca_dz": 2,
    "t_pca": 1,
}
OPTIONAL = ("xi_test", "chain", "x_offset", "fit_r", "fit_qtdz", "fit_dz_ms", "pca_z", "pca_dz",
            "t_pca")
"""Datasets whose absence is not worth a note (older layouts, runs without those features)."""


class StiffCollection(NamedTuple):
    """How a run collected with a heavier mass along each chain's stiffest loss directions
    (``train.stiff_directions``): ``summary.json``'s ``training.collection_sampler``, written by
    ``eae_sindy.sindy_eae`` as this tuple's ``_asdict()``.

    Attributes:
      stiff_directions: how many of the stiffest directions got the heavier mass.
      curvature: (n_chains, stiff_directions + 1) nested lists, the loss curvature along each
        chain's stiffest directions and the next one, largest first.
      step_size: the collection's sampler step, the training step × ``step_gain``.
      step_gain: √(largest stiff curvature / largest next curvature), at least 1.
    """

    stiff_directions: int
    curvature: list[list[float]]
    step_size: float
    step_gain: float


class CollectionSettings(NamedTuple):
    """The sampler a run collected its ensemble with when the ``[collection]`` settings change it:
    ``summary.json``'s ``training.collection``, written by ``eae_sindy.sindy_eae`` as this tuple's
    ``_asdict()``.

    Attributes:
      full_batch: collected on the whole training set (else on minibatches).
      thermostat: the sampler's thermostat (e.g. "langevin").
      friction: its friction (0 or None: none).
      step_size: its step.
      max_omega_dt: the cap on ω·dt that limits the step, or None.
      resample_every: velocity re-draws every this many steps, or None (never).
    """

    full_batch: bool
    thermostat: str
    friction: float | None
    step_size: float
    max_omega_dt: float | None
    resample_every: int | None


def _settings_record(settings: type[NamedTuple], record: Any) -> Any:
    """``record`` (a dict of ``summary.json``) as the NamedTuple ``settings``, a field it lacks
    as None; None for an absent or empty record."""
    if not record or not isinstance(record, dict):
        return None
    return settings(**{name: record.get(name) for name in settings._fields})


@dataclass(frozen=True)
class RunData:
    """The contents of a run directory.

    Attributes:
      xi: (n_samples, n_terms, latent_dim) Ξ samples; column j is the equation for ż_j.
      chain: (n_samples,) int, the chain of each sample; samples are chain-major (all draws of
        chain 0 in draw order, then chain 1, ...). None: one chain.
      terms: the library (``analysis.library.Term``), pysindy order.
      poly_order, include_sine: the library settings (``include_constant``, a property, says
        whether the terms start with the constant ``1``).
      xi_test: Ξ fitted on the test snapshots only, or None.
      loss, x_relative_mse, dx_relative_mse: (n_samples,) per-encoder test loss and errors
        (Σ‖x − x̂‖² / Σ‖x‖² with x centred on the mean snapshot when the run standardized it).
      z, dz: (n_samples, n_eval, latent_dim) latent codes of test snapshots, or None.
      t: (n_eval,) their times, or None.
      data_signal: (n_test, k) test data on its top principal directions; t_data_signal its times.
      x_examples, x_recon_examples: (n_examples, n_features) snapshots and reconstructions, in
        the data's own units.
      fit_r, fit_qtdz, fit_dz_ms: the least-squares problem each Ξ solved, compressed
        (``eae_sindy.sindy.compress_least_squares``): (n_samples, n_terms, n_terms) R with
        RᵀR = ΘᵀΘ/n, (n_samples, n_terms, latent_dim) Qᵀż/√n and (n_samples, latent_dim) the mean
        square of ż over the fit snapshots; what ``analysis.sparse`` fits sparse models on.
      pca_z, pca_dz, t_pca: (n_fit, latent_dim) the fit snapshots (as the model saw them, centred)
        and their derivatives on the top principal directions, and their times: the data of the
        report's PCA + SINDy peer.
      x_offset, x_scale: the scaling the model saw, x' = (x − x_offset)·x_scale and
        ẋ' = ẋ·x_scale (None: unscaled).
      dt: time between snapshots; grid_shape: shape of one snapshot image.
      temperature: the sampling temperature; xi_fit_on: "test" or "all".
      package_version: the version of eae-sindy that wrote the run.
      metrics: ``metrics.csv`` as column name → (n_rows,) array, or None.
      training: the ``training`` section of ``summary.json`` (iterations, stop reason, times).
      config: the run record of ``config.json``, or None.
      run_dir: where it was read from (None for a run in memory).
      notes: what was missing or skipped, for the report.
    """

    xi: np.ndarray
    terms: tuple[Term, ...]
    poly_order: int
    include_sine: bool
    chain: np.ndarray | None = None
    xi_test: np.ndarray | None = None
    loss: np.ndarray | None = None
    x_relative_mse: np.ndarray | None = None
    dx_relative_mse: np.ndarray | None = None
    z: np.ndarray | None = None
    dz: np.ndarray | None = None
    t: np.ndarray | None = None
    data_signal: np.ndarray | None = None
    t_data_signal: np.ndarray | None = None
    x_examples: np.ndarray | None = None
    x_recon_examples: np.ndarray | None = None
    x_offset: np.ndarray | None = None
    fit_r: np.ndarray | None = None
    fit_qtdz: np.ndarray | None = None
    fit_dz_ms: np.ndarray | None = None
    pca_z: np.ndarray | None = None
    pca_dz: np.ndarray | None = None
    t_pca: np.ndarray | None = None
    x_scale: float | None = None
    dt: float | None = None
    grid_shape: tuple[int, ...] | None = None
    temperature: float | None = None
    xi_fit_on: str | None = None
    package_version: str | None = None
    metrics: dict[str, np.ndarray] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    run_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def term_names(self) -> list[str]:
        return [t.name for t in self.terms]

    @property
    def include_constant(self) -> bool:
        """Whether the library holds the constant term (all exponents zero; pysindy's bias).
        Read off the stored terms, so runs written before the option load unchanged."""
        return any(t.kind == "poly" and not any(t.powers) for t in self.terms)

    @property
    def latent_dim(self) -> int:
        return self.xi.shape[2]

    @property
    def n_samples(self) -> int:
        return self.xi.shape[0]

    @property
    def equations(self) -> list[str]:
        return [f"x{j}'" for j in range(self.latent_dim)]

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json`` (see :func:`summary_of`)."""
        return summary_of(self)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every dataset of ``ensemble.h5`` this run holds, by name."""
        names = (*PER_SAMPLE, *PER_RUN)
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def as_float64(self) -> RunData:
        """A copy with every floating-point array in float64 (what the analysis computes in)."""
        floats = {n: a for n, a in self.arrays().items() if np.issubdtype(a.dtype, np.floating)}
        return dataclasses.replace(self, **{n: a.astype(np.float64) for n, a in floats.items()})

    @property
    def stiff_collection(self) -> StiffCollection | None:
        """``training.collection_sampler``: the heavier mass along the stiffest directions the
        ensemble was collected with, or None (collected with the training sampler's mass)."""
        return _settings_record(StiffCollection, self.training.get("collection_sampler"))

    @property
    def collection_settings(self) -> CollectionSettings | None:
        """``training.collection``: the sampler the ensemble was collected with, or None
        (collected as trained)."""
        return _settings_record(CollectionSettings, self.training.get("collection"))

    @property
    def n_chains(self) -> int:
        return 1 if self.chain is None else len(np.unique(self.chain))

    @cached_property
    def diagnostics(self) -> Diagnostics:
        """ArviZ diagnostics of every coefficient (arrays shaped (n_terms, latent_dim))."""
        return diagnose(self.xi, self.chain)

    @cached_property
    def significant(self) -> np.ndarray:
        """(n_terms, latent_dim) the coefficients significant at the paper's threshold 0.1."""
        return coefficient_stats(np.asarray(self.xi, np.float64)).significant


def summary_of(run: RunData) -> dict[str, Any]:
    """``summary.json``: per equation and term the coefficient's quantiles, significance and
    ArviZ diagnostics; the run-level convergence verdict over the significant coefficients; test
    errors averaged over the ensemble; and the training facts."""
    xi = run.xi.astype(np.float64)
    q05, q50, q95 = np.quantile(xi, [0.05, 0.5, 0.95], axis=0)
    mean, std = xi.mean(axis=0), xi.std(axis=0)
    diag = run.diagnostics

    def number(value: float) -> float | None:  # strict JSON: no NaN
        return float(value) if np.isfinite(value) else None

    coefficients = {
        eq: {
            name: {
                "mean": float(mean[k, j]),
                "std": float(std[k, j]),
                "q05": float(q05[k, j]),
                "q50": float(q50[k, j]),
                "q95": float(q95[k, j]),
                "significant": bool(run.significant[k, j]),
                "r_hat": number(diag.r_hat[k, j]),
                "ess_bulk": number(diag.ess_bulk[k, j]),
                "ess_tail": number(diag.ess_tail[k, j]),
                "mcse_mean": number(diag.mcse_mean[k, j]),
            }
            for k, name in enumerate(run.term_names)
        }
        for j, eq in enumerate(run.equations)
    }
    diagnostics = verdict(diag, run.significant)
    diagnostics["rule"] = f"R-hat <= {R_HAT_MAX} and bulk-ESS >= {ESS_MIN:g} (Vehtari et al. 2021)"
    scalars = {
        name: diagnose(getattr(run, name), run.chain)
        for name in ("loss", "x_relative_mse", "dx_relative_mse")
        if getattr(run, name) is not None
    }
    diagnostics["scalars"] = {
        name: {
            "r_hat": number(d.r_hat),
            "ess_bulk": number(d.ess_bulk),
            "converged": bool(d.converged),
        }
        for name, d in scalars.items()
    }
    errors = {
        key: number(np.mean(getattr(run, name), dtype=np.float64))
        for key, name in (
            ("x_relative_mse", "x_relative_mse"),
            ("dx_relative_mse", "dx_relative_mse"),
            ("loss_mean", "loss"),
        )
        if getattr(run, name) is not None
    }
    # null where undefined (e.g. ẋ identically zero makes its relative MSE 0/0)
    gate = [errors.get(k) for k in ("x_relative_mse", "dx_relative_mse")]
    gate = [v for v in gate if v is not None]
    learned = bool(max(gate) < LEARNED_MAX_RELATIVE_MSE) if gate else None
    training = {k: number(v) if isinstance(v, float) else v for k, v in run.training.items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "term_names": run.term_names,
        "equations": run.equations,
        "n_samples": run.n_samples,
        "coefficients": coefficients,
        "diagnostics": diagnostics,
        "test_error": {**errors, "learned": learned},
        "training": training,
    }


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _cells(row: dict[str, Any]) -> list[str]:
    """One metrics row as text: the iteration as an integer, every value as a round-trip float."""
    return [str(int(v)) if c == "iteration" else repr(float(v)) for c, v in row.items()]


def _metrics_text(metrics: dict[str, np.ndarray]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(metrics)
    writer.writerow(columns)
    for row in zip(*(metrics[c] for c in columns), strict=True):
        writer.writerow(_cells(dict(zip(columns, row, strict=True))))
    return buffer.getvalue()


def write_run(run_dir: str | os.PathLike, run: RunData) -> dict[str, Path]:
    """Write ``run`` into ``run_dir``: ``ensemble.h5`` and ``summary.json`` always, ``metrics.csv``
    and ``config.json`` when the run has them. Each file is written atomically.

    Returns:
      File name → path written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: run_dir / name for name in (ENSEMBLE_FILE, SUMMARY_FILE)}
    attrs: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "package_version": run.package_version or "unknown",
        "term_names": np.array(run.term_names, dtype=h5py.string_dtype()),
        "term_kinds": np.array([t.kind for t in run.terms], dtype=h5py.string_dtype()),
        "term_powers": np.array([t.powers for t in run.terms], dtype=np.int64),
        "latent_dim": run.latent_dim,
        "poly_order": run.poly_order,
        "include_sine": run.include_sine,
        "n_chains": run.n_chains,
    }
    for name in ("dt", "temperature", "xi_fit_on", "x_scale"):
        if getattr(run, name) is not None:
            attrs[name] = getattr(run, name)
    if run.grid_shape is not None:
        attrs["grid_shape"] = np.asarray(run.grid_shape, np.int64)
    # hdf5_for_writing: a full disk raises OSError once the file is closed and abandoned
    # (HDF5 never meets the failed write, which crashed the interpreter at exit); atomic_output
    # then removes the temporary file.
    with atomic_output(paths[ENSEMBLE_FILE], force=True) as tmp:
        with hdf5_for_writing(tmp, name=paths[ENSEMBLE_FILE]) as handle:
            for name, values in run.arrays().items():
                handle.create_dataset(name, data=values)
            handle.attrs.update(attrs)
    atomic_write_json(paths[SUMMARY_FILE], summary_of(run), allow_nan=False)
    if run.metrics is not None:
        paths[METRICS_FILE] = run_dir / METRICS_FILE
        atomic_write_text(paths[METRICS_FILE], _metrics_text(run.metrics))
    if run.config is not None:
        paths[CONFIG_FILE] = run_dir / CONFIG_FILE
        atomic_write_json(paths[CONFIG_FILE], run.config, allow_nan=False)
    return paths


def metrics_row(row: dict[str, Any]) -> dict[str, float]:
    """One training row in :data:`METRICS_COLUMNS` order, NaN for a column it lacks."""
    return {c: row.get(c, float("nan")) for c in METRICS_COLUMNS}


def _column(metrics: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A column of a read ``metrics.csv``, NaN where an older file lacks it."""
    return metrics.get(name, np.full(len(metrics["iteration"]), np.nan))


class MetricsLog:
    """``metrics.csv`` written row by row while training runs (flushed after every row).

    Rows of iterations at or after ``completed`` are dropped first, so a run resumed from a
    checkpoint at iteration ``completed`` continues the file without duplicates.
    """

    def __init__(self, path: str | os.PathLike, completed: int = 0):
        self.path = Path(path)
        kept = read_metrics(self.path) if self.path.exists() else None
        text = _metrics_text({c: np.zeros(0) for c in METRICS_COLUMNS})
        if kept is not None:
            keep = kept["iteration"] < completed
            text = _metrics_text({c: _column(kept, c)[keep] for c in METRICS_COLUMNS})
        atomic_write_text(self.path, text)
        self._handle = self.path.open("a", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")

    def __call__(self, row: dict[str, float]) -> None:
        self._writer.writerow(_cells(metrics_row(row)))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def _attr_scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return value


def _strings(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        notes.append(f"{path.name} is missing; the sections that use it are skipped.")
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ReportError(f"{path.name}: top level must be a JSON object, got {kind}")
    return data


def read_metrics(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """``metrics.csv`` as column → float array (None when it has no rows); raises
    :class:`ReportError` naming the line and column of a malformed cell."""
    path = Path(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ReportError(f"{path.name}: file is empty (expected a header row)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("iteration", "loss_mean", "loss_min", "loss_max") if c not in header]
    if missing:
        raise ReportError(f"{path.name}: column(s) {missing} missing from header {header}")
    body = [r for r in rows[1:] if r]
    if not body:
        return None
    values = np.full((len(body), len(header)), np.nan)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ReportError(
                f"{path.name}: line {i + 2} has {len(row)} fields, header has {len(header)}"
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ReportError(
                    f"{path.name}: line {i + 2}, column {header[j]!r}: {cell!r} is not a number"
                ) from None
    return {name: values[:, j] for j, name in enumerate(header)}


def _dataset(f: h5py.File, name: str, rank: int, notes: list[str]) -> np.ndarray | None:
    if name not in f:
        if name not in OPTIONAL:
            notes.append(
                f"ensemble.h5 has no dataset {name!r}; the sections that use it are skipped."
            )
        return None
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise ReportError(f"ensemble.h5: {name!r} is a group, expected a dataset")
    arr = obj[()]
    if not np.issubdtype(arr.dtype, np.number):
        raise ReportError(f"ensemble.h5: dataset {name!r} has dtype {arr.dtype}; expected numbers")
    if arr.ndim != rank:
        raise ReportError(
            f"ensemble.h5: dataset {name!r} has shape {arr.shape}; expected rank {rank}"
        )
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ReportError(
            f"ensemble.h5: dataset {name!r} contains {int(bad.sum())} non-finite values "
            f"(first at index {first})"
        )


def _check_least_squares(arrays: dict[str, np.ndarray | None], shape: tuple[int, ...]) -> None:
    n, n_terms, latent_dim = shape
    expected = {
        "fit_r": (n, n_terms, n_terms),
        "fit_qtdz": (n, n_terms, latent_dim),
        "fit_dz_ms": (n, latent_dim),
    }
    present = [name for name in expected if arrays[name] is not None]
    if present and len(present) != len(expected):
        missing = sorted(set(expected) - set(present))
        raise ReportError(f"ensemble.h5: dataset(s) {missing} missing beside {present}")
    for name in present:
        if arrays[name].shape != expected[name]:
            raise ReportError(
                f"ensemble.h5: dataset {name!r} has shape {arrays[name].shape}; expected "
                f"{expected[name]}"
            )
        _check_finite(arrays[name], name)


def _check_pca(arrays: dict[str, np.ndarray | None], latent_dim: int) -> None:
    z, dz, t = arrays["pca_z"], arrays["pca_dz"], arrays["t_pca"]
    if z is None and dz is None:
        return
    if z is None or dz is None or z.shape != dz.shape or z.shape[1] != latent_dim:
        raise ReportError(
            "ensemble.h5: datasets 'pca_z' and 'pca_dz' must both be present with shape "
            f"(n_fit, {latent_dim}); got {None if z is None else z.shape} and "
            f"{None if dz is None else dz.shape}"
        )
    _check_finite(z, "pca_z")
    _check_finite(dz, "pca_dz")
    if t is not None and t.shape != (z.shape[0],):
        raise ReportError(
            f"ensemble.h5: dataset 't_pca' has shape {t.shape}; expected ({z.shape[0]},)"
        )


def _schema_version(attrs: dict[str, Any]) -> int:
    version = attrs.get("schema_version")
    if version is None:
        raise ReportError("ensemble.h5: root attribute 'schema_version' is missing")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ReportError(
            f"ensemble.h5: attribute 'schema_version' is {version!r}, not a "
            "known version of this layout"
        )
    if version > SCHEMA_VERSION:
        raise ReportError(
            f"ensemble.h5: schema_version {version} is newer than this eae-sindy reads "
            f"(up to {SCHEMA_VERSION}); upgrade eae-sindy to read this run"
        )
    return version


def _terms(f: h5py.File, attrs: dict[str, Any], version: int, xi: np.ndarray) -> list[Term]:
    if "term_names" not in attrs:
        raise ReportError("ensemble.h5: root attribute 'term_names' is missing")
    names = _strings(f.attrs["term_names"])
    latent_dim = int(attrs.get("latent_dim", xi.shape[2]))
    if xi.shape[2] != latent_dim:
        raise ReportError(
            f"ensemble.h5: dataset 'xi' has shape {xi.shape} but attribute 'latent_dim' is "
            f"{latent_dim}; expected (n_samples, n_terms, {latent_dim})"
        )
    if xi.shape[1] != len(names):
        raise ReportError(
            f"ensemble.h5: dataset 'xi' has shape {xi.shape} but attribute 'term_names' "
            f"lists {len(names)} terms; expected (n_samples, {len(names)}, {latent_dim})"
        )
    try:
        if version >= 2:
            if "term_kinds" not in attrs or "term_powers" not in attrs:
                raise ValueError("attributes 'term_kinds' and 'term_powers' are required")
            terms = terms_from_arrays(_strings(f.attrs["term_kinds"]), f.attrs["term_powers"])
        else:  # version 1 stored the library settings, from which the terms follow
            terms = library_terms(
                latent_dim, int(attrs.get("poly_order", 3)), bool(attrs.get("include_sine", True))
            )
    except ValueError as exc:
        raise ReportError(f"ensemble.h5: library terms: {exc}") from None
    if [t.name for t in terms] != names or any(len(t.powers) != latent_dim for t in terms):
        raise ReportError(
            f"ensemble.h5: attribute 'term_names' {names} does not match the stored library "
            f"terms {[t.name for t in terms]}"
        )
    return terms


def load_run(run_dir: str | os.PathLike) -> RunData:
    """Read and validate a run directory.

    Args:
      run_dir: a directory written by :func:`write_run` (``eae_sindy``, ``analysis.synthetic``).

    Returns:
      The validated ``RunData``; arrays keep the dtype they were stored with.

    Raises:
      ReportError: the directory or ``ensemble.h5`` is missing or unreadable, its
        ``schema_version`` is missing, unknown or newer than this package reads, a dataset has
        the wrong shape or non-finite values, or an optional file is present but malformed.
    """
    run_dir = Path(run_dir)
    notes: list[str] = []
    attrs, xi, terms, arrays = _read_ensemble(_ensemble_path(run_dir), notes)
    _check_per_sample(arrays, xi.shape)
    _check_chain(arrays["chain"], notes)
    _check_least_squares(arrays, xi.shape)
    _check_pca(arrays, xi.shape[2])
    _check_encoded(arrays, xi.shape)
    _check_signal_and_examples(arrays)
    grid_shape = _grid_shape(attrs, arrays["x_examples"])
    metrics = _read_metrics_file(run_dir, notes)
    training, config = _read_records(run_dir, terms, notes)
    return RunData(
        xi=xi,
        terms=tuple(terms),
        poly_order=int(attrs.get("poly_order", max(t.degree for t in terms))),
        include_sine=bool(attrs.get("include_sine", any(t.kind == "sin" for t in terms))),
        **{name: arr for name, arr in arrays.items()},
        dt=float(attrs["dt"]) if attrs.get("dt") is not None else None,
        grid_shape=grid_shape,
        temperature=float(attrs["temperature"]) if "temperature" in attrs else None,
        x_scale=float(attrs["x_scale"]) if "x_scale" in attrs else None,
        xi_fit_on=str(attrs["xi_fit_on"]) if "xi_fit_on" in attrs else None,
        package_version=str(attrs.get("package_version", "unknown")),
        metrics=metrics,
        training=training,
        config=config,
        run_dir=run_dir,
        notes=notes,
    )


def _ensemble_path(run_dir: Path) -> Path:
    """``run_dir/ensemble.h5``, after checking that the directory and the file exist."""
    if not run_dir.exists():
        raise ReportError(f"run directory {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise ReportError(f"run directory {str(run_dir)!r} is not a directory")
    path = run_dir / ENSEMBLE_FILE
    if not path.exists():
        raise ReportError(
            f"ensemble.h5: file missing in {str(run_dir)!r} (the trainer writes it after "
            "collecting the encoder ensemble; the report cannot be made without it)"
        )
    return path


def _read_ensemble(
    path: Path, notes: list[str]
) -> tuple[dict[str, Any], np.ndarray, list[Term], dict[str, np.ndarray | None]]:
    """``ensemble.h5``'s root attributes, its Ξ samples (checked: at least 2, finite), its
    library terms and every other dataset by name (None where absent; absences noted)."""
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ReportError(f"ensemble.h5: cannot be opened as HDF5 ({exc})") from None
    with handle:
        attrs = {k: _attr_scalar(v) for k, v in handle.attrs.items()}
        version = _schema_version(attrs)
        if "xi" not in handle:
            raise ReportError("ensemble.h5: dataset 'xi' is missing (expected the Ξ samples)")
        xi = _dataset(handle, "xi", 3, notes)
        if xi.shape[0] < 2:
            raise ReportError(
                f"ensemble.h5: dataset 'xi' has {xi.shape[0]} sample(s); need at least 2"
            )
        _check_finite(xi, "xi")
        terms = _terms(handle, attrs, version, xi)
        arrays = {
            name: _dataset(handle, name, rank, notes)
            for name, rank in {**PER_SAMPLE, **PER_RUN}.items()
            if name != "xi"
        }
    return attrs, xi, terms, arrays


def _check_per_sample(arrays: dict[str, np.ndarray | None], shape: tuple[int, ...]) -> None:
    """Every per-sample dataset has one row per Ξ sample, a latent last axis where it is 3-D
    (but ``fit_r``), and finite values where it is 3-D."""
    n, latent_dim = shape[0], shape[2]
    for name in PER_SAMPLE:
        arr = arrays.get(name)
        if arr is None:
            continue
        if arr.shape[0] != n:
            raise ReportError(
                f"ensemble.h5: dataset {name!r} has shape {arr.shape}; expected {n} rows like 'xi'"
            )
        if arr.ndim == 3 and name != "fit_r" and arr.shape[2] != latent_dim:
            raise ReportError(
                f"ensemble.h5: dataset {name!r} has shape {arr.shape}; expected last axis "
                f"{latent_dim}"
            )
        if arr.ndim == 3:
            _check_finite(arr, name)


def _check_chain(chain: np.ndarray | None, notes: list[str]) -> None:
    """The chain labels are non-negative integers in chain-major order (absent: one chain)."""
    if chain is None:
        notes.append("ensemble.h5 has no 'chain' dataset: the samples are read as one chain.")
    if chain is not None and (
        not np.issubdtype(chain.dtype, np.integer) or np.any(np.diff(chain) < 0) or chain[0] < 0
    ):
        raise ReportError(
            "ensemble.h5: dataset 'chain' must hold non-negative integers in chain-major order "
            "(all samples of chain 0, then chain 1, ...)"
        )


def _check_encoded(arrays: dict[str, np.ndarray | None], shape: tuple[int, ...]) -> None:
    """``xi_test`` is shaped like ``xi``; ``z`` and ``dz`` alike, with one time in ``t`` each."""
    z, dz, t = arrays["z"], arrays["dz"], arrays["t"]
    if arrays["xi_test"] is not None and arrays["xi_test"].shape != shape:
        raise ReportError(
            f"ensemble.h5: dataset 'xi_test' has shape {arrays['xi_test'].shape}; "
            f"'xi' has {shape}"
        )
    if z is not None and dz is not None and z.shape != dz.shape:
        raise ReportError(f"ensemble.h5: dataset 'dz' has shape {dz.shape}; 'z' has {z.shape}")
    if z is not None and t is not None and t.shape != (z.shape[1],):
        raise ReportError(f"ensemble.h5: dataset 't' has shape {t.shape}; expected ({z.shape[1]},)")


def _check_signal_and_examples(arrays: dict[str, np.ndarray | None]) -> None:
    """``data_signal`` is finite with one time each in ``t_data_signal``; the example snapshots
    and their reconstructions have the same shape."""
    signal, t_signal = arrays["data_signal"], arrays["t_data_signal"]
    if signal is not None:
        _check_finite(signal, "data_signal")
        if t_signal is not None and t_signal.shape != (signal.shape[0],):
            raise ReportError(
                f"ensemble.h5: dataset 't_data_signal' has shape {t_signal.shape}; expected "
                f"({signal.shape[0]},) like 'data_signal'"
            )
    x_ex, x_rec = arrays["x_examples"], arrays["x_recon_examples"]
    if x_ex is not None and x_rec is not None and x_ex.shape != x_rec.shape:
        raise ReportError(
            f"ensemble.h5: dataset 'x_recon_examples' has shape {x_rec.shape}; 'x_examples' "
            f"has {x_ex.shape}"
        )


def _grid_shape(attrs: dict[str, Any], x_examples: np.ndarray | None) -> tuple[int, ...] | None:
    """The attribute ``grid_shape`` (None without one), checked against the example snapshots."""
    if "grid_shape" not in attrs:
        return None
    grid_shape = tuple(int(g) for g in np.atleast_1d(attrs["grid_shape"]))
    if x_examples is not None and int(np.prod(grid_shape)) != x_examples.shape[1]:
        raise ReportError(
            f"ensemble.h5: attribute 'grid_shape' {list(grid_shape)} has "
            f"{int(np.prod(grid_shape))} cells but 'x_examples' has {x_examples.shape[1]} features"
        )
    return grid_shape


def _read_metrics_file(run_dir: Path, notes: list[str]) -> dict[str, np.ndarray] | None:
    """``metrics.csv`` (:func:`read_metrics`); None, with a note, when it is missing or empty."""
    if not (run_dir / METRICS_FILE).exists():
        notes.append("metrics.csv is missing; the training-curve figure is skipped.")
        return None
    metrics = read_metrics(run_dir / METRICS_FILE)
    if metrics is None:
        notes.append("metrics.csv has no rows yet; the training-curve figure is skipped.")
    return metrics


def _read_records(
    run_dir: Path, terms: list[Term], notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``summary.json``'s ``training`` section ({} without one) and ``config.json`` (or None)."""
    summary = _read_json(run_dir / SUMMARY_FILE, notes)
    config = _read_json(run_dir / CONFIG_FILE, notes)
    if summary is not None and summary.get("term_names", [t.name for t in terms]) != [
        t.name for t in terms
    ]:
        notes.append("summary.json 'term_names' differ from ensemble.h5; ensemble.h5 is used.")
    training = (summary or {}).get("training", {})
    return (training if isinstance(training, dict) else {}), config
