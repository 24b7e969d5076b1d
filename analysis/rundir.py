"""Reading and validating a ``discover`` run directory (the contract in docs/run_directory.md).

``load_run`` is the only place the analysis touches input files: everything downstream trusts the
``RunData`` it returns. ``ensemble.h5`` (with ``xi`` and ``term_names``) is required; the other
files and datasets are optional and their absence is recorded in ``RunData.notes``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from analysis.errors import ReportError
from analysis.library import Term, parse_terms
from eae_sindy.layout import METRICS_COLUMNS

__all__ = ["RunData", "load_run", "METRICS_COLUMNS"]


@dataclass(frozen=True)
class RunData:
    """Validated contents of a run directory.

    Attributes:
      run_dir: the directory.
      xi: (n_samples, n_terms, latent_dim) Ξ samples (float64).
      term_names: the library, pysindy convention.
      terms: parsed ``term_names``.
      latent_dim, poly_order, include_sine: library settings (poly_order / include_sine are
        inferred from the term names when the attributes are absent).
      dt: time between snapshots, or None.
      grid_shape: shape of one snapshot image, or None.
      loss: (n_samples,) or None.
      z, dz: (n_samples, n_eval, latent_dim) or None.
      t: (n_eval,) or None.
      data_signal: (n_test, k) or None; t_data_signal: (n_test,) or None.
      x_examples, x_recon_examples: (n_examples, n_features) or None.
      metrics: column name -> (n_rows,) array, or None.
      summary, config: parsed JSON, or None.
      attrs: the other root attributes of ensemble.h5.
      notes: what was missing or skipped, for the report.
    """

    run_dir: Path
    xi: np.ndarray
    term_names: list[str]
    terms: list[Term]
    latent_dim: int
    poly_order: int
    include_sine: bool
    dt: float | None = None
    grid_shape: tuple[int, ...] | None = None
    loss: np.ndarray | None = None
    z: np.ndarray | None = None
    dz: np.ndarray | None = None
    t: np.ndarray | None = None
    data_signal: np.ndarray | None = None
    t_data_signal: np.ndarray | None = None
    x_examples: np.ndarray | None = None
    x_recon_examples: np.ndarray | None = None
    metrics: dict[str, np.ndarray] | None = None
    summary: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return self.xi.shape[0]

    @property
    def equations(self) -> list[str]:
        return [f"x{j}'" for j in range(self.latent_dim)]


def _attr_scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return value


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        notes.append(f"{path.name} is missing; the sections that use it are skipped.")
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path.name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ReportError(f"{path.name}: top level must be a JSON object, got {kind}")
    return data


def _read_metrics(path: Path, notes: list[str]) -> dict[str, np.ndarray] | None:
    if not path.exists():
        notes.append("metrics.csv is missing; the training-curve figure is skipped.")
        return None
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ReportError("metrics.csv: file is empty (expected a header row)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("iteration", "loss_mean", "loss_min", "loss_max") if c not in header]
    if missing:
        raise ReportError(f"metrics.csv: column(s) {missing} missing from header {header}")
    body = [r for r in rows[1:] if r]
    if not body:
        notes.append("metrics.csv has no rows yet; the training-curve figure is skipped.")
        return None
    values = np.full((len(body), len(header)), np.nan)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ReportError(
                f"metrics.csv: line {i + 2} has {len(row)} fields, header has {len(header)}"
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ReportError(
                    f"metrics.csv: line {i + 2}, column {header[j]!r}: {cell!r} is not a number"
                ) from None
    return {name: values[:, j] for j, name in enumerate(header)}


def _dataset(f: h5py.File, name: str, rank: int, notes: list[str]) -> np.ndarray | None:
    if name not in f:
        notes.append(f"ensemble.h5 has no dataset {name!r}; the sections that use it are skipped.")
        return None
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise ReportError(f"ensemble.h5: {name!r} is a group, expected a dataset")
    arr = np.asarray(obj[()], dtype=float)
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


def load_run(run_dir: str | Path) -> RunData:
    """Read and validate a run directory.

    Args:
      run_dir: a directory written by ``eae_sindy.discover`` (or ``analysis.synthetic``).

    Returns:
      The validated ``RunData``.

    Raises:
      ReportError: the directory or ``ensemble.h5`` is missing or unreadable, a dataset has the
        wrong shape or non-finite values, or an optional file is present but malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ReportError(f"run directory {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise ReportError(f"run directory {str(run_dir)!r} is not a directory")
    notes: list[str] = []
    path = run_dir / "ensemble.h5"
    if not path.exists():
        raise ReportError(
            f"ensemble.h5: file missing in {str(run_dir)!r} (the trainer writes it after "
            "collecting the encoder ensemble; the report cannot be made without it)"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ReportError(f"ensemble.h5: cannot be opened as HDF5 ({exc})") from None
    with f:
        attrs = {k: _attr_scalar(v) for k, v in f.attrs.items()}
        if "xi" not in f:
            raise ReportError("ensemble.h5: dataset 'xi' is missing (expected the Ξ samples)")
        xi = np.asarray(f["xi"][()], dtype=float)
        if xi.ndim != 3:
            raise ReportError(
                f"ensemble.h5: dataset 'xi' has shape {xi.shape}; expected rank 3 "
                "(n_samples, n_terms, latent_dim)"
            )
        if xi.shape[0] < 2:
            raise ReportError(
                f"ensemble.h5: dataset 'xi' has {xi.shape[0]} sample(s); need at least 2"
            )
        _check_finite(xi, "xi")
        if "term_names" not in attrs:
            raise ReportError("ensemble.h5: root attribute 'term_names' is missing")
        raw = np.atleast_1d(f.attrs["term_names"])
        term_names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
        latent_dim = int(attrs.get("latent_dim", xi.shape[2]))
        if xi.shape[2] != latent_dim:
            raise ReportError(
                f"ensemble.h5: dataset 'xi' has shape {xi.shape} but attribute 'latent_dim' is "
                f"{latent_dim}; expected (n_samples, n_terms, {latent_dim})"
            )
        if xi.shape[1] != len(term_names):
            raise ReportError(
                f"ensemble.h5: dataset 'xi' has shape {xi.shape} but attribute 'term_names' "
                f"lists {len(term_names)} terms; expected (n_samples, {len(term_names)}, "
                f"{latent_dim})"
            )
        try:
            terms = parse_terms(term_names, latent_dim)
        except ValueError as exc:
            raise ReportError(f"ensemble.h5: attribute 'term_names': {exc}") from None
        poly_order = int(attrs.get("poly_order", max(t.degree for t in terms if t.kind == "poly")))
        include_sine = bool(attrs.get("include_sine", any(t.kind == "sin" for t in terms)))

        loss = _dataset(f, "loss", 1, notes)
        z = _dataset(f, "z", 3, notes)
        dz = _dataset(f, "dz", 3, notes)
        t = _dataset(f, "t", 1, notes)
        data_signal = _dataset(f, "data_signal", 2, notes)
        t_data = _dataset(f, "t_data_signal", 1, notes)
        x_ex = _dataset(f, "x_examples", 2, notes)
        x_rec = _dataset(f, "x_recon_examples", 2, notes)

    n = xi.shape[0]
    if loss is not None and loss.shape != (n,):
        raise ReportError(f"ensemble.h5: dataset 'loss' has shape {loss.shape}; expected ({n},)")
    for name, arr in (("z", z), ("dz", dz)):
        if arr is not None:
            if arr.shape[0] != n or arr.shape[2] != latent_dim:
                raise ReportError(
                    f"ensemble.h5: dataset {name!r} has shape {arr.shape}; expected "
                    f"({n}, n_eval, {latent_dim})"
                )
            _check_finite(arr, name)
    if z is not None and dz is not None and z.shape != dz.shape:
        raise ReportError(f"ensemble.h5: dataset 'dz' has shape {dz.shape}; 'z' has {z.shape}")
    if z is not None and t is not None and t.shape != (z.shape[1],):
        raise ReportError(f"ensemble.h5: dataset 't' has shape {t.shape}; expected ({z.shape[1]},)")
    if data_signal is not None:
        _check_finite(data_signal, "data_signal")
        if t_data is not None and t_data.shape != (data_signal.shape[0],):
            raise ReportError(
                f"ensemble.h5: dataset 't_data_signal' has shape {t_data.shape}; expected "
                f"({data_signal.shape[0]},) like 'data_signal'"
            )
    if x_ex is not None and x_rec is not None and x_ex.shape != x_rec.shape:
        raise ReportError(
            f"ensemble.h5: dataset 'x_recon_examples' has shape {x_rec.shape}; 'x_examples' "
            f"has {x_ex.shape}"
        )
    dt = attrs.get("dt")
    dt = float(dt) if dt is not None else None
    grid_shape = None
    if "grid_shape" in attrs:
        grid_shape = tuple(int(g) for g in np.atleast_1d(attrs["grid_shape"]))
        if x_ex is not None and int(np.prod(grid_shape)) != x_ex.shape[1]:
            raise ReportError(
                f"ensemble.h5: attribute 'grid_shape' {list(grid_shape)} has "
                f"{int(np.prod(grid_shape))} cells but 'x_examples' has {x_ex.shape[1]} features"
            )

    metrics = _read_metrics(run_dir / "metrics.csv", notes)
    summary = _read_json(run_dir / "summary.json", notes)
    config = _read_json(run_dir / "config.json", notes)
    if summary is not None and "term_names" in summary and summary["term_names"] != term_names:
        notes.append("summary.json 'term_names' differ from ensemble.h5; ensemble.h5 is used.")
    other = {k: v for k, v in attrs.items() if k != "term_names"}
    return RunData(
        run_dir=run_dir,
        xi=xi,
        term_names=term_names,
        terms=terms,
        latent_dim=latent_dim,
        poly_order=poly_order,
        include_sine=include_sine,
        dt=dt,
        grid_shape=grid_shape,
        loss=loss,
        z=z,
        dz=dz,
        t=t,
        data_signal=data_signal,
        t_data_signal=t_data,
        x_examples=x_ex,
        x_recon_examples=x_rec,
        metrics=metrics,
        summary=summary,
        config=config,
        attrs=other,
        notes=notes,
    )
