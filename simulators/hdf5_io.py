"""HDF5 data-set files: a chunked streaming writer and a validating reader.

Schema (``schema_version`` 1; the user-facing description is ``docs/simulator.md``):

* datasets ``x``, ``dx``: float32, shape (n_snapshots, n_features), the model input and its time
  derivative, one snapshot per row; ``t``: float64 (n_snapshots,);
* optional: ``grid_x``, ``grid_y`` (1-D grid coordinates), ``mask`` (grid_shape),
  ``u``, ``v`` (float32, (n_snapshots, *grid_shape));
* root attributes: every generation parameter, ``schema_version``, ``package_version``,
  ``grid_shape``, ``complete``.

:func:`read_dataset` also accepts minimal files holding only ``x`` and ``dx`` (and ideally ``t``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import secrets
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .errors import DatasetError

__all__ = [
    "SCHEMA_VERSION",
    "Dataset",
    "HDF5Writer",
    "atomic_output",
    "package_version",
    "read_dataset",
]

SCHEMA_VERSION = 1

_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Rows read at a time while validating/converting x and dx (bounds the temporary memory).
_READ_BLOCK_ROWS = 512


def package_version() -> str:
    """The installed eae-sindy distribution's version (package metadata), else ``"unknown"``."""
    try:
        return importlib.metadata.version("eae-sindy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success.

    Raises ``FileExistsError`` if ``path`` exists and ``force`` is false (checked before any work
    and again before the final rename). On any exception, including ``KeyboardInterrupt``, the
    temporary file is removed and the exception propagates, so an interrupted run never leaves a
    file under the final name.
    """
    final = Path(path)
    if final.exists() and not force:
        raise FileExistsError(f"{final}: file exists (use --force / force=True to overwrite)")
    if final.is_dir():
        raise IsADirectoryError(f"{final}: is a directory")
    directory = final.parent if str(final.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: the final file should get the usual umask permissions, not 0600. The name
    # is unique enough (pid + random); writers open it with h5py mode "w-" (fail if it exists).
    tmp = directory / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        if final.exists() and not force:
            raise FileExistsError(f"{final}: file appeared while writing; not overwriting")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _attr_value(value: Any) -> Any:
    """Convert a parameter to something h5py stores as an attribute."""
    if value is None:
        return "None"
    if isinstance(value, bool | np.bool_):
        return np.bool_(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return np.asarray(value)
    return value


class HDF5Writer:
    """Pre-sized, chunked writer for the data-set schema; rows are written as they arrive.

    Only the rows handed to :meth:`write` are held in memory (plus HDF5's chunk cache).
    Use as a context manager; :meth:`close` marks the file ``complete`` only if every row was
    written.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n_snapshots: int,
        grid_shape: tuple[int, ...],
        attrs: Mapping[str, Any],
        grid_x: np.ndarray | None = None,
        grid_y: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        store_uv: bool = False,
        compression: str | None = None,
        chunk_rows: int = 64,
    ) -> None:
        self.path = Path(path)
        self.n_snapshots = int(n_snapshots)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.n_features = int(np.prod(self.grid_shape))
        self.store_uv = bool(store_uv)
        self._rows_written = 0
        rows = max(1, min(int(chunk_rows), self.n_snapshots))
        opts: dict[str, Any] = {}
        if compression:
            opts = {"compression": compression, "shuffle": True}
        self._file = h5py.File(self.path, "w-")
        try:
            f = self._file
            for key, value in attrs.items():
                f.attrs[key] = _attr_value(value)
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["package_version"] = package_version()
            f.attrs["grid_shape"] = np.asarray(self.grid_shape, dtype=np.int64)
            f.attrs["n_snapshots"] = self.n_snapshots
            f.attrs["n_features"] = self.n_features
            f.attrs["store_uv"] = np.bool_(self.store_uv)
            f.attrs["complete"] = np.bool_(False)
            shape = (self.n_snapshots, self.n_features)
            chunks = (rows, self.n_features)
            self._x = f.create_dataset("x", shape, dtype="f4", chunks=chunks, **opts)
            self._dx = f.create_dataset("dx", shape, dtype="f4", chunks=chunks, **opts)
            self._t = f.create_dataset("t", (self.n_snapshots,), dtype="f8")
            self._x.attrs["description"] = "model input, one flattened snapshot per row"
            self._dx.attrs["description"] = "time derivative of x, from the right-hand side"
            if grid_x is not None:
                f.create_dataset("grid_x", data=np.asarray(grid_x, dtype="f8"))
            if grid_y is not None:
                f.create_dataset("grid_y", data=np.asarray(grid_y, dtype="f8"))
            if mask is not None:
                f.create_dataset("mask", data=np.asarray(mask, dtype="f8"))
            self._u = self._v = None
            if self.store_uv:
                uv_shape = (self.n_snapshots, *self.grid_shape)
                uv_chunks = (rows, *self.grid_shape)
                self._u = f.create_dataset("u", uv_shape, dtype="f4", chunks=uv_chunks, **opts)
                self._v = f.create_dataset("v", uv_shape, dtype="f4", chunks=uv_chunks, **opts)
        except BaseException:
            self._file.close()
            raise

    def write(
        self,
        start: int,
        t: np.ndarray,
        x: np.ndarray,
        dx: np.ndarray,
        u: np.ndarray | None = None,
        v: np.ndarray | None = None,
    ) -> None:
        """Write rows ``start : start + len(t)``; rows must arrive in order without gaps."""
        k = len(t)
        if start != self._rows_written:
            raise ValueError(f"rows must be written in order: expected {self._rows_written}")
        if start + k > self.n_snapshots:
            raise ValueError("more rows than n_snapshots")
        sl = slice(start, start + k)
        self._t[sl] = np.asarray(t, dtype="f8")
        self._x[sl] = np.asarray(x, dtype="f4").reshape(k, self.n_features)
        self._dx[sl] = np.asarray(dx, dtype="f4").reshape(k, self.n_features)
        if self.store_uv:
            if u is None or v is None:
                raise ValueError("store_uv=True needs u and v")
            self._u[sl] = np.asarray(u, dtype="f4")
            self._v[sl] = np.asarray(v, dtype="f4")
        self._rows_written += k

    @property
    def rows_written(self) -> int:
        return self._rows_written

    def close(self) -> None:
        if not self._file.id.valid:
            return
        if self._rows_written == self.n_snapshots:
            self._file.attrs["complete"] = np.bool_(True)
        self._file.close()

    def __enter__(self) -> HDF5Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A validated data set: ``x``/``dx`` float32 (n_snapshots, n_features), ``t`` float64.

    ``grid_shape`` is the shape one row reshapes to (C order), ``(n_features,)`` if the file does
    not say. ``attrs`` holds the file's root attributes as Python values. ``mask``, ``grid_x``,
    ``grid_y`` are ``None`` when absent.
    """

    x: np.ndarray
    dx: np.ndarray
    t: np.ndarray
    grid_shape: tuple[int, ...]
    attrs: dict[str, Any]
    path: Path
    mask: np.ndarray | None = None
    grid_x: np.ndarray | None = None
    grid_y: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_snapshots(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])


def _py(value: Any) -> Any:
    """HDF5 attribute value -> plain Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_py(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_matrix(f: h5py.File, name: str, where: str) -> np.ndarray:
    if name not in f:
        raise DatasetError(f"{where}: missing dataset '{name}'")
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{where}: '{name}' is a {type(obj).__name__}, not a dataset")
    if obj.dtype.kind != "f":
        raise DatasetError(f"{where}: dataset '{name}': dtype {obj.dtype} is not floating point")
    if obj.ndim != 2:
        raise DatasetError(
            f"{where}: dataset '{name}': must be 2-D (n_snapshots, n_features), "
            f"got shape {obj.shape}"
        )
    if obj.shape[0] == 0 or obj.shape[1] == 0:
        raise DatasetError(f"{where}: dataset '{name}': empty, shape {obj.shape}")
    out = np.empty(obj.shape, dtype=np.float32)
    for start in range(0, obj.shape[0], _READ_BLOCK_ROWS):
        stop = min(start + _READ_BLOCK_ROWS, obj.shape[0])
        block = obj[start:stop]
        finite = np.isfinite(block)
        if not finite.all():
            row = start + int(np.argwhere(~finite)[0][0])
            raise DatasetError(
                f"{where}: dataset '{name}': contains non-finite values (first in row {row})"
            )
        if np.abs(block).max() > _FLOAT32_MAX:
            row = start + int(np.argwhere(np.abs(block) > _FLOAT32_MAX)[0][0])
            raise DatasetError(
                f"{where}: dataset '{name}': values beyond the float32 range (|v| > 3.4e38, "
                f"first in row {row}); rescale the data"
            )
        out[start:stop] = block
    return out


def _read_optional(f: h5py.File, name: str, where: str) -> np.ndarray | None:
    if name not in f:
        return None
    obj = f[name]
    if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fiu":
        raise DatasetError(f"{where}: '{name}' is not a numeric dataset")
    return np.asarray(obj[()], dtype=np.float64)


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read and validate a data-set file; raise :class:`DatasetError` on any problem.

    Checks: the file exists and is HDF5; ``schema_version`` (if present) is 1; the file was not
    left incomplete by an interrupted writer; ``x`` and ``dx`` exist, are 2-D floating-point
    arrays of the same shape with only finite values within the float32 range; ``t`` (if present)
    is 1-D, finite, strictly increasing and has one entry per row; ``grid_shape`` (if present)
    multiplies to n_features. If ``t`` is missing
    it is ``arange(n_snapshots) * attrs['dt']`` (``dt`` = 1.0 when absent) and a
    ``UserWarning`` says so.
    """
    p = Path(path)
    where = str(p)
    if not p.exists():
        raise DatasetError(f"{where}: file not found")
    if not p.is_file():
        raise DatasetError(f"{where}: not a regular file")
    try:
        is_h5 = h5py.is_hdf5(p)
    except OSError as exc:
        raise DatasetError(f"{where}: cannot read file ({exc})") from exc
    if not is_h5:
        raise DatasetError(f"{where}: not an HDF5 file")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DatasetError(f"{where}: cannot open as HDF5 ({exc})") from exc
    notes: list[str] = []
    with f:
        attrs = {key: _py(value) for key, value in f.attrs.items()}
        if "schema_version" in attrs:
            sv = attrs["schema_version"]
            if not isinstance(sv, int | float) or isinstance(sv, bool) or sv != SCHEMA_VERSION:
                raise DatasetError(
                    f"{where}: attribute 'schema_version': unknown version {sv!r} "
                    f"(this reader supports {SCHEMA_VERSION})"
                )
        if attrs.get("complete") is False:
            raise DatasetError(
                f"{where}: attribute 'complete' is false: the writer did not finish "
                "(interrupted run?)"
            )
        x = _read_matrix(f, "x", where)
        if "dx" not in f:  # report a missing dx before reading it
            raise DatasetError(f"{where}: missing dataset 'dx'")
        dx_obj = f["dx"]
        if isinstance(dx_obj, h5py.Dataset) and dx_obj.shape != x.shape:
            raise DatasetError(
                f"{where}: dataset 'dx': shape {dx_obj.shape} does not match 'x' shape {x.shape}"
            )
        dx = _read_matrix(f, "dx", where)
        n_snapshots, n_features = x.shape

        if "t" in f:
            t_obj = f["t"]
            if not isinstance(t_obj, h5py.Dataset) or t_obj.dtype.kind not in "fiu":
                raise DatasetError(f"{where}: dataset 't': not a numeric dataset")
            t = np.asarray(t_obj[()], dtype=np.float64)
            if t.shape != (n_snapshots,):
                raise DatasetError(
                    f"{where}: dataset 't': shape {t.shape}, expected ({n_snapshots},) "
                    "(one time per row of 'x')"
                )
            if not np.isfinite(t).all():
                raise DatasetError(f"{where}: dataset 't': contains non-finite values")
            if np.any(np.diff(t) <= 0):
                row = int(np.argmax(np.diff(t) <= 0)) + 1
                raise DatasetError(
                    f"{where}: dataset 't': must increase strictly (t[{row}] = {t[row]} follows "
                    f"t[{row - 1}] = {t[row - 1]})"
                )
        else:
            dt = attrs.get("dt", 1.0)
            try:
                dt = float(dt)
            except (TypeError, ValueError) as exc:
                raise DatasetError(f"{where}: attribute 'dt': not a number ({dt!r})") from exc
            msg = f"{where}: no dataset 't'; using t = arange({n_snapshots}) * {dt:g}" + (
                " (attribute 'dt')" if "dt" in attrs else " (no 'dt' attribute, assumed 1.0)"
            )
            warnings.warn(msg, UserWarning, stacklevel=2)
            notes.append(msg)
            t = np.arange(n_snapshots, dtype=np.float64) * dt

        if "grid_shape" in attrs:
            raw = attrs["grid_shape"]
            try:
                grid_shape = tuple(int(s) for s in np.atleast_1d(np.asarray(raw)))
            except (TypeError, ValueError) as exc:
                raise DatasetError(
                    f"{where}: attribute 'grid_shape': not a tuple of integers ({raw!r})"
                ) from exc
            if int(np.prod(grid_shape)) != n_features:
                raise DatasetError(
                    f"{where}: attribute 'grid_shape': {grid_shape} does not multiply to "
                    f"n_features = {n_features}"
                )
        else:
            grid_shape = (n_features,)
        attrs["grid_shape"] = list(grid_shape)

        mask = _read_optional(f, "mask", where)
        if mask is not None and mask.size != n_features:
            raise DatasetError(
                f"{where}: dataset 'mask': {mask.size} values, expected n_features = {n_features}"
            )
        if mask is not None:
            mask = mask.reshape(grid_shape)
        grid_x = _read_optional(f, "grid_x", where)
        grid_y = _read_optional(f, "grid_y", where)

    return Dataset(
        x=x,
        dx=dx,
        t=t,
        grid_shape=grid_shape,
        attrs=attrs,
        path=p,
        mask=mask,
        grid_x=grid_x,
        grid_y=grid_y,
        warnings=notes,
    )
