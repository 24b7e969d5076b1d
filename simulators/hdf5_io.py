"""HDF5 data-set files: a chunked streaming writer and a validating reader.

Schema (``schema_version`` 1; the user-facing description is ``docs/simulator.md``, the layout of
users' own files ``docs/data_format.md``):

* datasets ``x``, ``dx``: float32, shape (n_snapshots, n_features), the model input and its time
  derivative, one snapshot per row; ``t``: float64 (n_snapshots,);
* optional: ``grid_x``, ``grid_y`` (1-D grid coordinates), ``mask`` (grid_shape),
  ``u``, ``v`` (float32, (n_snapshots, *grid_shape)), ``trajectory`` (integer, (n_snapshots,):
  the trajectory of each snapshot, in contiguous blocks);
* root attributes: every generation parameter, ``schema_version``, ``package_version``,
  ``grid_shape``, ``complete``.

:func:`read_dataset` also accepts users' files holding only ``x`` (and ideally ``t``; ``dx`` and
``trajectory`` are optional). Every dataset's declared shape and dtype is checked, and its size
weighed against the machine's memory, before anything is read.

Writing goes through :class:`_GuardedFile`: HDF5 never sees a failed write (a full disk). An
HDF5 file whose write failed is left open inside the library in a state whose clean-up crashed
the interpreter at exit (a segmentation fault after the error message); instead the first
``OSError`` is kept, later writes are dropped, the file is closed cleanly and the error raised.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic_files import atomic_output, final_path
from .errors import DatasetError

__all__ = [
    "SCHEMA_VERSION",
    "Dataset",
    "HDF5Writer",
    "atomic_output",
    "available_memory",
    "format_bytes",
    "hdf5_for_writing",
    "package_version",
    "physical_memory",
    "read_dataset",
]

SCHEMA_VERSION = 1

_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Rows read at a time while validating/converting x and dx, and the bytes such a block may take
# (bounds the temporary memory; a block has at least one row).
_READ_BLOCK_ROWS = 512
_READ_BLOCK_BYTES = 64 * 2**20

MEMORY_FRACTION = 0.5
"""The share of the available memory a data file may take once read (x, dx, t, ...): a file
declaring more is refused before anything is read."""


def package_version() -> str:
    """The installed eae-sindy distribution's version (package metadata), else ``"unknown"``."""
    try:
        return importlib.metadata.version("eae-sindy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------
def format_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``"512 B"``, ``"3.6 PiB"``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            break
        n /= 1024
    if unit == "B":
        return f"{n:.0f} B"
    return f"{n:.3g} {unit}" if n < 1e4 else f"{n:.3e} {unit}"


def _cgroup_limit() -> tuple[int | None, int]:
    """The memory limit of this process's cgroup (None: none) and the cgroup's current use."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if not text.isdigit() or int(text) >= 2**60:  # "max", or v1's "no limit"
            return None, 0
        try:
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            usage = 0
        return int(text), usage
    return None, 0


def physical_memory() -> int:
    """Bytes of physical memory of this machine (``os.sysconf``), or of this process's cgroup
    when that limit is lower (a container, a batch job)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        total = 0
    limit, _ = _cgroup_limit()
    if limit is not None and (total <= 0 or limit < total):
        total = limit
    return int(total) if total > 0 else 2**63


def available_memory() -> int:
    """Bytes of memory this process can still take: psutil's ``available`` when psutil is
    installed, else ``MemAvailable`` of ``/proc/meminfo``, else the physical memory; lowered to
    what this process's cgroup (a container, a batch job) has left under its limit."""
    available = None
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - not installed, or unsupported here
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            pass
    if available is None:
        available = physical_memory()
    limit, usage = _cgroup_limit()
    if limit is not None:
        available = min(available, max(0, limit - usage))
    return available


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
class _GuardedFile:
    """The file object HDF5 writes through (h5py's ``fileobj`` driver): a full disk, or any
    other failed write, never reaches HDF5.

    A write that fails inside HDF5 leaves the file open in the library with unwritable dirty
    metadata; its clean-up at interpreter exit then crashed the process (a segmentation fault
    after the error message, exit code 139), and every HDF5 object released meanwhile printed a
    traceback. Here the first ``OSError`` is kept in :attr:`error`, later writes are dropped
    (the file is abandoned anyway), so HDF5 carries on and closes cleanly;
    :meth:`raise_error` then raises the ``OSError`` naming ``name`` (default: the file)."""

    def __init__(self, path: str | os.PathLike, *, exclusive: bool, name: Path | None = None):
        self.path = Path(path)
        self.name = name or final_path(self.path)
        self.error: OSError | None = None
        # a KeyboardInterrupt (or other BaseException) raised while HDF5 is inside one of these
        # callbacks would be lost in h5py's C layer (the run then carried on after Ctrl-C): it
        # is kept here and re-raised by raise_error once HDF5 has returned
        self.interrupt: BaseException | None = None
        self._raw = io.FileIO(self.path, "x+b" if exclusive else "w+b")
        self._pos = 0

    def _fail(self, error: OSError) -> None:
        if self.error is None:
            self.error = error

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._raw.seek(0, io.SEEK_END) + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            self._raw.seek(self._pos)
            n = self._raw.readinto(view) or 0
        except OSError as error:  # HDF5 zero-fills what it did not get
            self._fail(error)
            n = 0
        except BaseException as signal:  # noqa: BLE001 - kept for raise_error
            self.interrupt = self.interrupt or signal
            n = 0
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(max(0, size))
        return bytes(buffer[: self.readinto(buffer)])

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                self._raw.seek(self._pos)
                done = 0
                while done < len(view):
                    n = self._raw.write(view[done:])
                    if not n:
                        raise OSError(28, os.strerror(28))
                    done += n
            except OSError as error:
                self._fail(error)
            except BaseException as signal:  # noqa: BLE001 - kept for raise_error
                self.interrupt = self.interrupt or signal
                self._fail(OSError(4, "interrupted"))  # drop the rest: the file is abandoned
        self._pos += len(view)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                self._raw.truncate(size)
            except OSError as error:
                self._fail(error)
        return size

    def flush(self) -> None:
        pass  # unbuffered

    def close(self) -> None:
        try:
            self._raw.close()
        except OSError as error:  # a network file system may report a full disk only here
            self._fail(error)

    def raise_error(self) -> None:
        """Raise a signal caught inside HDF5's callbacks, or else the first failed write, if
        any, as an ``OSError`` naming the file."""
        if self.interrupt is not None:
            raise self.interrupt
        if self.error is not None:
            error = self.error
            code = error.errno
            text = error.strerror or str(error)
            raise OSError(code, text, str(self.name)) from error


def _close_quietly(handle: h5py.File) -> None:
    """Close an h5py file, whatever went wrong before; never raises. A failed close is tried
    again: HDF5 keeps a file open after a close that failed, and that file is what crashed the
    interpreter at exit."""
    for _ in range(3):
        try:
            if not handle.id.valid:
                return
            handle.close()
        except Exception:  # noqa: BLE001, S112 - abandoning the file: any error is moot
            continue


@contextlib.contextmanager
def hdf5_for_writing(
    path: str | os.PathLike, *, exclusive: bool = False, name: str | os.PathLike | None = None
) -> Iterator[h5py.File]:
    """A new HDF5 file at ``path``, opened for writing through :class:`_GuardedFile`.

    On leaving the block the file is closed; a failed write (a full disk) then raises
    ``OSError`` naming ``name`` (default: ``path``, or the final name when ``path`` is a
    temporary file of :func:`atomic_output`). When the block raises, the file is closed quietly
    and that exception propagates (the ``OSError`` of a failed write instead, when there was one
    and the block's error is an ``Exception``, likely its consequence). ``exclusive``: fail if
    ``path`` exists (h5py's mode ``"w-"``); otherwise it is truncated (``"w"``)."""
    raw = _GuardedFile(path, exclusive=exclusive, name=Path(name) if name else None)
    handle = None
    try:
        handle = h5py.File(raw, "w")
        yield handle
        handle.close()
    except Exception:
        if handle is not None:
            _close_quietly(handle)
        raw.close()
        raw.raise_error()
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: abandon the file, keep the signal
        if handle is not None:
            _close_quietly(handle)
        raw.close()
        raise
    raw.close()
    raw.raise_error()


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
        # Through a _GuardedFile: a full disk is raised by write()/close(), never met by HDF5.
        self._raw = _GuardedFile(self.path, exclusive=True)
        try:
            self._file = h5py.File(self._raw, "w")
        except BaseException:
            self._raw.close()
            raise
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
            self.abandon()
            raise
        self._raw.raise_error()

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
        self._raw.raise_error()  # a full disk stops the run here, not after the last row
        self._rows_written += k

    @property
    def rows_written(self) -> int:
        return self._rows_written

    def close(self) -> None:
        """Mark the file ``complete`` if every row was written, and close it; raises the
        ``OSError`` of a failed write (a full disk), if any."""
        if self._file.id.valid:
            try:
                if self._rows_written == self.n_snapshots and self._raw.error is None:
                    self._file.attrs["complete"] = np.bool_(True)
                self._file.close()
            except BaseException:
                self.abandon()
                if self._raw.error is None:
                    raise
            self._raw.close()
        self._raw.raise_error()

    def abandon(self) -> None:
        """Close the file whatever state it is in, without raising (the caller is handling an
        error, and removes the file)."""
        if hasattr(self, "_file"):
            _close_quietly(self._file)
        self._raw.close()

    def __enter__(self) -> HDF5Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # the block's exception propagates; the file is closed for certain
            self.abandon()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """A validated data set: ``x`` float32 (n_snapshots, n_features), ``dx`` float32 of the same
    shape or None (the file has no derivatives: they are to be estimated from ``x`` and ``t``),
    ``t`` float64 (n_snapshots,).

    ``trajectory`` is None (one trajectory) or int64 (n_snapshots,): the id of each snapshot's
    trajectory, as in the file; each trajectory is one contiguous block of rows in time order,
    and ``t`` increases strictly within each (it may restart at a trajectory's first row).
    ``grid_shape`` is the shape one row reshapes to (C order), ``(n_features,)`` if the file does
    not say. ``attrs`` holds the file's root attributes as Python values. ``mask``, ``grid_x``,
    ``grid_y`` are ``None`` when absent.
    """

    x: np.ndarray
    dx: np.ndarray | None
    t: np.ndarray
    grid_shape: tuple[int, ...]
    attrs: dict[str, Any]
    path: Path
    mask: np.ndarray | None = None
    grid_x: np.ndarray | None = None
    grid_y: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    trajectory: np.ndarray | None = None

    @property
    def n_snapshots(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_trajectories(self) -> int:
        return 1 if self.trajectory is None else len(_block_starts(self.trajectory))

    def trajectory_slices(self) -> list[slice]:
        """The rows of each trajectory, in file order (one slice of every row when
        ``trajectory`` is None)."""
        if self.trajectory is None:
            return [slice(0, self.n_snapshots)]
        edges = [*_block_starts(self.trajectory).tolist(), len(self.trajectory)]
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _block_starts(ids: np.ndarray) -> np.ndarray:
    """The first row of each run of equal ids."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1])


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


_NUMERIC = "fiu"  # floating point and (unsigned) integers: what x, dx, t may hold
_DTYPE_WORDS = {
    "f": "floating point",
    "i": "integer",
    "u": "integer",
    "b": "boolean",
    "c": "complex",
    "S": "a byte string",
    "U": "a string",
    "O": "an object",
    "V": "a compound/opaque type",
}


def _declared(
    f: h5py.File, name: str, where: str, *, kinds: str = _NUMERIC, required: bool = False
) -> h5py.Dataset | None:
    """The dataset ``name`` (None when absent and not ``required``), its dtype checked against
    ``kinds`` — without reading it."""
    if name not in f:
        if required:
            raise DatasetError(f"{where}: missing dataset '{name}'")
        return None
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{where}: '{name}' is a {type(obj).__name__}, not a dataset")
    if obj.shape is None:
        raise DatasetError(f"{where}: dataset '{name}': holds no data (an empty dataspace)")
    kind = obj.dtype.kind
    if kind not in kinds:
        what = " or ".join(dict.fromkeys(_DTYPE_WORDS[k] for k in kinds))
        raise DatasetError(
            f"{where}: dataset '{name}': dtype {obj.dtype} is {_DTYPE_WORDS.get(kind, kind)}, "
            f"not {what}"
        )
    return obj


def _shape_text(obj: h5py.Dataset) -> str:
    return f"{tuple(int(s) for s in obj.shape)} {obj.dtype}"


def _block_rows(obj: h5py.Dataset) -> int:
    row_bytes = max(1, math.prod(obj.shape[1:]) * obj.dtype.itemsize)
    return max(1, min(_READ_BLOCK_ROWS, _READ_BLOCK_BYTES // row_bytes))


def _check_memory(where: str, needs: dict[str, tuple[h5py.Dataset, int]]) -> None:
    """Refuse data that would take more than :data:`MEMORY_FRACTION` of the available memory
    once read (``needs``: name → (dataset, bytes in memory)), naming the file, the dataset and
    the sizes — before anything is read."""
    available = available_memory()
    budget = int(MEMORY_FRACTION * available)
    machine = (
        f"this machine has {format_bytes(available)} of memory available and a data set may "
        f"take at most {MEMORY_FRACTION:.0%} of it"
    )
    for name, (obj, nbytes) in needs.items():
        if nbytes > budget:
            stored = "" if obj.dtype == np.float32 or name not in ("x", "dx") else " as float32"
            raise DatasetError(
                f"{where}: dataset '{name}' declares shape {_shape_text(obj)} = "
                f"{format_bytes(nbytes)}{stored} in memory; {machine}. Use fewer snapshots or "
                "features (a subset of the file), or a machine with more memory"
            )
    total = sum(nbytes for _, nbytes in needs.values())
    if total > budget:
        parts = ", ".join(f"'{n}' {format_bytes(b)}" for n, (_, b) in needs.items())
        raise DatasetError(
            f"{where}: the data would take {format_bytes(total)} in memory ({parts}); "
            f"{machine}. Use fewer snapshots or features, or a machine with more memory"
        )


def _read_matrix(obj: h5py.Dataset, name: str, where: str) -> np.ndarray:
    """A declared, checked 2-D dataset read block by block into float32: finite values within
    the float32 range only."""
    out = np.empty(obj.shape, dtype=np.float32)
    rows = _block_rows(obj)
    floating = obj.dtype.kind == "f"
    for start in range(0, obj.shape[0], rows):
        stop = min(start + rows, obj.shape[0])
        block = obj[start:stop]
        if floating:
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
        out[start:stop] = block  # integers: exact up to 2**24, rounded beyond, like fit()
    return out


def _matrix(f: h5py.File, name: str, where: str, *, required: bool) -> h5py.Dataset | None:
    obj = _declared(f, name, where, required=required)
    if obj is None:
        return None
    if obj.ndim != 2:
        raise DatasetError(
            f"{where}: dataset '{name}': must be 2-D (n_snapshots, n_features), "
            f"got shape {obj.shape}"
        )
    if obj.shape[0] == 0 or obj.shape[1] == 0:
        raise DatasetError(f"{where}: dataset '{name}': empty, shape {obj.shape}")
    return obj


def _per_snapshot(
    f: h5py.File, name: str, where: str, n_snapshots: int, kinds: str = _NUMERIC
) -> h5py.Dataset | None:
    obj = _declared(f, name, where, kinds=kinds)
    if obj is not None and obj.shape != (n_snapshots,):
        raise DatasetError(
            f"{where}: dataset '{name}': shape {obj.shape}, expected ({n_snapshots},) "
            "(one value per row of 'x')"
        )
    return obj


def _check_trajectory(ids: np.ndarray, where: str) -> None:
    """Each trajectory id must label one contiguous block of rows."""
    starts = _block_starts(ids)
    block_ids = ids[starts]
    _, first = np.unique(block_ids, return_index=True)
    if len(first) < len(block_ids):
        repeated = np.ones(len(block_ids), dtype=bool)
        repeated[first] = False
        block = int(np.argmax(repeated))
        row, value = int(starts[block]), int(block_ids[block])
        earlier = int(np.flatnonzero(block_ids[:block] == value)[0])
        raise DatasetError(
            f"{where}: dataset 'trajectory': trajectory ids must form contiguous blocks: id "
            f"{value} at index {row} reappears after other trajectories (its rows "
            f"{int(starts[earlier])}-{int(starts[earlier + 1]) - 1} come earlier); sort the rows "
            "by trajectory, each in time order"
        )


def _check_times(t: np.ndarray, ids: np.ndarray | None, where: str) -> None:
    if not np.isfinite(t).all():
        row = int(np.argmax(~np.isfinite(t)))
        raise DatasetError(f"{where}: dataset 't': contains non-finite values (first at t[{row}])")
    steps = np.diff(t) <= 0
    if ids is not None:
        steps &= ids[1:] == ids[:-1]  # t restarts at a trajectory's first row
    if not steps.any():
        return
    row = int(np.argmax(steps)) + 1
    if ids is None:
        raise DatasetError(
            f"{where}: dataset 't': must increase strictly (t[{row}] = {t[row]} follows "
            f"t[{row - 1}] = {t[row - 1]})"
        )
    raise DatasetError(
        f"{where}: dataset 't': must increase strictly within each trajectory (trajectory "
        f"{int(ids[row])}: t[{row}] = {t[row]} follows t[{row - 1}] = {t[row - 1]})"
    )


def _open_hdf5(p: Path, where: str) -> h5py.File:
    """The file at ``p`` opened for reading, once it is known to exist and to be HDF5."""
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
        return h5py.File(p, "r")
    except OSError as exc:
        raise DatasetError(f"{where}: cannot open as HDF5 ({exc})") from exc


def _check_header(attrs: dict[str, Any], where: str) -> None:
    """A known ``schema_version`` (when present), and a writer that finished."""
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


@dataclass(frozen=True)
class _DeclaredDatasets:
    """The datasets :func:`read_dataset` reads, checked for what they declare (None: absent)."""

    x: h5py.Dataset
    dx: h5py.Dataset | None
    t: h5py.Dataset | None
    trajectory: h5py.Dataset | None
    mask: h5py.Dataset | None
    grid_x: h5py.Dataset | None
    grid_y: h5py.Dataset | None


def _declare_datasets(f: h5py.File, where: str) -> _DeclaredDatasets:
    """What every dataset declares (dtype, rank, lengths consistent with ``x``), and their total
    size against the available memory, checked before any is read."""
    x_obj = _matrix(f, "x", where, required=True)
    n_snapshots, n_features = (int(s) for s in x_obj.shape)
    dx_obj = _matrix(f, "dx", where, required=False)
    if dx_obj is not None and dx_obj.shape != x_obj.shape:
        raise DatasetError(
            f"{where}: dataset 'dx': shape {dx_obj.shape} does not match 'x' shape "
            f"{x_obj.shape}"
        )
    t_obj = _per_snapshot(f, "t", where, n_snapshots)
    traj_obj = _per_snapshot(f, "trajectory", where, n_snapshots, kinds="iu")
    mask_obj = _declared(f, "mask", where)
    if mask_obj is not None and mask_obj.size != n_features:
        raise DatasetError(
            f"{where}: dataset 'mask': {mask_obj.size} values, expected n_features = "
            f"{n_features}"
        )
    grid_objs = {n: _declared(f, n, where) for n in ("grid_x", "grid_y")}
    needs = {"x": (x_obj, n_snapshots * n_features * 4)}
    if dx_obj is not None:
        needs["dx"] = (dx_obj, n_snapshots * n_features * 4)
    for name, obj in (
        ("t", t_obj),
        ("trajectory", traj_obj),
        ("mask", mask_obj),
        *grid_objs.items(),
    ):
        if obj is not None:
            needs[name] = (obj, int(obj.size) * 8)
    _check_memory(where, needs)
    return _DeclaredDatasets(x_obj, dx_obj, t_obj, traj_obj, mask_obj, **grid_objs)


def _grid_shape(attrs: dict[str, Any], n_features: int, where: str) -> tuple[int, ...]:
    """The attribute ``grid_shape`` (it must multiply to ``n_features``), else ``(n_features,)``."""
    if "grid_shape" not in attrs:
        return (n_features,)
    raw = attrs["grid_shape"]
    try:
        grid_shape = tuple(int(s) for s in np.atleast_1d(np.asarray(raw)))
    except (TypeError, ValueError) as exc:
        raise DatasetError(
            f"{where}: attribute 'grid_shape': not a tuple of integers ({raw!r})"
        ) from exc
    if math.prod(grid_shape) != n_features:
        raise DatasetError(
            f"{where}: attribute 'grid_shape': {grid_shape} does not multiply to "
            f"n_features = {n_features}"
        )
    return grid_shape


def _read_trajectory(traj_obj: h5py.Dataset | None, where: str) -> np.ndarray | None:
    """The trajectory ids as int64 (None without the dataset), checked to form contiguous
    blocks."""
    if traj_obj is None:
        return None
    ids = np.asarray(traj_obj[()])
    if ids.size and ids.dtype == np.uint64 and ids.max() > np.iinfo(np.int64).max:
        raise DatasetError(f"{where}: dataset 'trajectory': ids beyond the int64 range")
    trajectory = ids.astype(np.int64)
    _check_trajectory(trajectory, where)
    return trajectory


def _times_from_dt(
    attrs: dict[str, Any],
    trajectory: np.ndarray | None,
    n_snapshots: int,
    where: str,
    notes: list[str],
) -> np.ndarray:
    """``t`` of a file without it: ``arange(n) * attrs['dt']`` (1.0 when absent), restarting at
    0 along each trajectory; appends the warning to ``notes``."""
    dt = attrs.get("dt", 1.0)
    try:
        dt = float(dt)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: attribute 'dt': not a number ({dt!r})") from exc
    if not (math.isfinite(dt) and dt > 0):
        raise DatasetError(f"{where}: attribute 'dt': must be a positive number ({dt!r})")
    along = "" if trajectory is None else " from 0 along each trajectory"
    msg = f"{where}: no dataset 't'; using t = arange(n) * {dt:g}{along}" + (
        " (attribute 'dt')" if "dt" in attrs else " (no 'dt' attribute, assumed 1.0)"
    )
    notes.append(msg)  # warned once the file is accepted
    rows = np.arange(n_snapshots, dtype=np.int64)
    if trajectory is not None:  # the row's index within its trajectory
        starts = _block_starts(trajectory)
        rows = rows - np.repeat(starts, np.diff([*starts.tolist(), n_snapshots]))
    return rows.astype(np.float64) * dt


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read and validate a data-set file; raise :class:`DatasetError` on any problem.

    Before anything is read, every dataset read (``x``, ``dx``, ``t``, ``trajectory``, ``mask``,
    ``grid_x``, ``grid_y``) is checked for what it declares: a numeric dtype (integers are
    converted to float, like :func:`eae_sindy.fit` does), the right rank, lengths consistent with
    ``x``, and a total size within :data:`MEMORY_FRACTION` of the available memory.

    Then: the file exists and is HDF5; ``schema_version`` (if present) is 1; the file was not
    left incomplete by an interrupted writer; ``x`` (and ``dx`` when present: None otherwise)
    hold only finite values within the float32 range; ``trajectory`` (if present) labels
    contiguous blocks of rows; ``t`` (if present) is finite and increases strictly within each
    trajectory; ``grid_shape`` (if present) multiplies to n_features. If ``t`` is missing it is
    ``arange(n) * attrs['dt']`` along each trajectory (``dt`` = 1.0 when absent) and a
    ``UserWarning`` says so.
    """
    p = Path(path)
    where = str(p)
    f = _open_hdf5(p, where)
    notes: list[str] = []
    with f:
        attrs = {key: _py(value) for key, value in f.attrs.items()}
        _check_header(attrs, where)
        declared = _declare_datasets(f, where)
        n_snapshots, n_features = (int(s) for s in declared.x.shape)
        grid_shape = _grid_shape(attrs, n_features, where)
        attrs["grid_shape"] = list(grid_shape)

        # The small per-snapshot datasets first: their errors come before x is read.
        trajectory = _read_trajectory(declared.trajectory, where)
        if declared.t is not None:
            t = np.asarray(declared.t[()], dtype=np.float64)
            _check_times(t, trajectory, where)
        else:
            t = _times_from_dt(attrs, trajectory, n_snapshots, where, notes)

        x = _read_matrix(declared.x, "x", where)
        dx = _read_matrix(declared.dx, "dx", where) if declared.dx is not None else None

        mask = None
        if declared.mask is not None:
            mask = np.asarray(declared.mask[()], dtype=np.float64).reshape(grid_shape)
        grid_x, grid_y = (
            None if obj is None else np.asarray(obj[()], dtype=np.float64)
            for obj in (declared.grid_x, declared.grid_y)
        )

    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
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
        trajectory=trajectory,
    )
