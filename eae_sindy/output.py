"""Output directories of runs: the guard that never mixes two runs in one directory, and atomic
file writes (a crash leaves the old file or the new one, never half of one).

A run directory is *claimed* by writing its record (the run's full configuration) to
``config.json``. :func:`check_output` refuses — before anything is written — a path that is a file
or cannot be written, a directory holding a different run, the same run without ``resume``, and a
non-empty directory holding no run. :func:`claim_output` then creates the directory and writes the
record. ``discover`` and the image comparison both go through here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from analysis.rundir import CONFIG_FILE
from eae_sindy.errors import RunDirectoryError
from simulators.hdf5_io import atomic_output

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "check_output",
    "claim_output",
]

_UNCOMPARED = ("package_version", "data_path")  # a run is its settings and its data's content


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    with atomic_output(path, force=True) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_json(path: str | os.PathLike, value: Any, **dumps_options: Any) -> None:
    """``value`` as indented JSON, written atomically."""
    atomic_write_bytes(path, json.dumps(value, indent=2, **dumps_options).encode())


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    # The JSON round trip turns tuples into lists, as they come back from the stored file.
    plain = json.loads(json.dumps(record))
    return {k: v for k, v in plain.items() if k not in _UNCOMPARED}


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


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
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"{out} is a file, not a directory; choose another --out")
    anchor = _nearest_existing(out)
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise RunDirectoryError(
            f"{out} cannot be written ({anchor} is not writable); choose another --out"
        )
    record_file = out / CONFIG_FILE
    if not record_file.exists():
        if out.exists() and any(out.iterdir()):
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
