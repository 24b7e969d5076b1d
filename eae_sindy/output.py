"""Output directories of runs: the guard that never mixes two runs in one directory, and the lock
a living run holds on its directory (its files are written by :mod:`simulators.atomic_files`).

A run directory is *claimed* by writing its record (the run's full configuration) to
``config.json``. :func:`check_output` refuses — before anything is written — a path that is a file
or cannot be written, a directory holding a different run, the same run without ``resume``, and a
non-empty directory holding no run. :func:`claim_output` then creates the directory and writes the
record. ``discover`` and the image comparison both go through here.

While a run lives, ``discover`` holds :func:`run_directory_lock` on its directory (``fcntl.flock``
on ``OUT/.lock``): a second process asking for the same directory, fresh or ``--resume``, is
refused with a message naming the holder (pid, host, start time). The operating system releases
the lock when its process ends, however it ends, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not a POSIX system: no locks
    fcntl = None

from analysis.rundir import CONFIG_FILE
from eae_sindy.errors import RunDirectoryError
from simulators.atomic_files import atomic_write_json

__all__ = [
    "LOCK_FILE",
    "check_output",
    "claim_output",
    "run_directory_lock",
]

LOCK_FILE = ".lock"
"""The file in a run directory that the process running it holds locked (``fcntl.flock``)."""

_UNCOMPARED = ("package_version", "data_path")  # a run is its settings and its data's content


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    # The JSON round trip turns tuples into lists, as they come back from the stored file.
    plain = json.loads(json.dumps(record))
    return {k: v for k, v in plain.items() if k not in _UNCOMPARED}


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"{out} is a file, not a directory; choose another --out")
    anchor = _nearest_existing(out)
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise RunDirectoryError(
            f"{out} cannot be written ({anchor} is not writable); choose another --out"
        )


def check_output(out: str | os.PathLike, record: dict[str, Any], *, resume: bool) -> bool:
    """Refuse an unusable output directory without writing anything.

    Returns:
      True when ``out`` already holds this very run (and ``resume`` is set), False when it is new.

    Raises:
      RunDirectoryError: ``out`` is a file or not writable, holds a different run (the message
        lists the differing settings), holds this run but ``resume`` is not set, or is a non-empty
        directory without a run record.
    """
    out = Path(out)
    _check_writable(out)
    record_file = out / CONFIG_FILE
    if not record_file.exists():
        if out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()):
            raise RunDirectoryError(
                f"{out} is not empty and holds no run (no {CONFIG_FILE}); nothing was "
                "overwritten. Choose another --out."
            )
        return False
    try:
        stored = _comparable(json.loads(record_file.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise RunDirectoryError(
            f"{record_file}: unreadable ({error}); choose another --out"
        ) from None
    wanted = _comparable(record)
    if stored != wanted:
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        if changed == ["data_sha256"]:
            raise RunDirectoryError(
                f"{out} holds a run on different data: the content of x, dx and t differs from "
                "what it was trained on (data_sha256); nothing was overwritten. Choose another "
                "--out for these data."
            )
        raise RunDirectoryError(
            f"{out} holds a different run (differs in: {', '.join(changed)}); nothing was "
            "overwritten. Choose another --out, or delete that directory."
        )
    if not resume:
        raise RunDirectoryError(
            f"{out} already holds this run; pass --resume to continue it (nothing was "
            "overwritten), or choose another --out."
        )
    return True


def claim_output(out: str | os.PathLike, record: dict[str, Any], *, resume: bool) -> bool:
    """:func:`check_output`, then create ``out`` and write ``record`` to ``config.json`` (a new
    run), or remove the temporary files a killed writer left in it (a resumed run). Returns True
    when an existing run is being resumed."""
    out = Path(out)
    existing = check_output(out, record, resume=resume)
    if existing:  # temporary files of a killed writer (kill -9 leaves no chance to clean up)
        for stale in out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / CONFIG_FILE, record)
    return existing


# --------------------------------------------------------------------------------------------
# The lock of a run directory
# --------------------------------------------------------------------------------------------
_HELD: dict[str, int] = {}
"""Run directories this process holds locked (real path → nesting depth): taking the lock again
in the same process is a no-op, as ``flock`` on a second descriptor would refuse it."""


def _holder(lock: Path) -> str:
    """Who holds ``lock``, from what it wrote into it."""
    try:
        info = json.loads(lock.read_text())
        return f"process {info['pid']} on host {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not yet written who it is)"


def _same_file(path: Path, fd: int) -> bool:
    try:
        a, b = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextlib.contextmanager
def run_directory_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold ``out`` for this process: ``fcntl.flock`` on ``out/.lock`` (created, with ``out``
    itself when missing), recording this process's pid, host, start time and command in it.

    Raises :class:`RunDirectoryError` when another process holds it (naming that process), and
    when ``out`` is a file or cannot be written. On leaving the block the lock file is removed
    (and ``out`` too when this call created it and nothing else was written to it); should the
    process die instead, the operating system releases the lock and the next run takes it over.
    On a file system without locks it warns and goes on unlocked. Re-entrant within a process.
    """
    out = Path(out)
    key = os.path.realpath(out)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield out / LOCK_FILE
        finally:
            _HELD[key] -= 1
        return
    _check_writable(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirectoryError(
            f"{out} cannot be created ({error.strerror}); choose another --out"
        ) from None
    lock = out / LOCK_FILE
    fd = None
    try:
        fd = _locked(out, lock)
        _HELD[key] = 1
        try:
            yield lock
        finally:
            del _HELD[key]
            if fd is not None and _same_file(lock, fd):
                with contextlib.suppress(OSError):  # removed while still held: no one waits
                    lock.unlink()
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock
        if created:
            with contextlib.suppress(OSError):  # only when empty: a run that was refused
                out.rmdir()


def _locked(out: Path, lock: Path) -> int | None:
    """A descriptor of ``lock``, locked, holding this process's details (None: the file system
    has no locks)."""
    if fcntl is None:
        return None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as error:
            raise RunDirectoryError(
                f"{out} cannot be written ({lock}: {error.strerror}); choose another --out"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirectoryError(
                f"{out} is in use by another run: {_holder(lock)} holds its lock ({lock}). "
                "Wait for it to finish, or stop it (its checkpoint is kept; continue it with "
                "--resume), or choose another --out."
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            warnings.warn(
                f"{out}: the file system cannot lock {lock} ({error.strerror}); make sure no "
                "other run uses this directory at the same time",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        if _same_file(lock, fd):  # not removed by the holder that just let go
            break
        os.close(fd)
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": started,
        "command": " ".join(sys.argv),
    }
    with contextlib.suppress(OSError):  # who holds it is a courtesy; a full disk shows later
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd
