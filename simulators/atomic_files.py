"""Atomic file writes: a crash, a Ctrl-C or a full disk leaves the old file or the new one under
the final name, never a part of one.

Every writer of the project goes through here. :func:`atomic_output` is the primitive (a
temporary path beside the final one, renamed into place only on success; streaming writers such as
the HDF5 writer write to that path); :func:`atomic_write_bytes`, :func:`atomic_write_text` and
:func:`atomic_write_json` write a whole content at once through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "final_path",
]

TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.\d+\.[0-9a-f]{8}\.tmp$")
"""The name :func:`atomic_output` gives its temporary file: ``.NAME.PID.RANDOM.tmp``."""


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


def final_path(path: Path) -> Path:
    """The file a temporary name of :func:`atomic_output` stands for (else ``path``)."""
    match = TEMPORARY_NAME.match(path.name)
    return path.with_name(match["name"]) if match else path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to the disk, and rename it
    over ``path``."""
    with atomic_output(path, force=True) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8, written atomically (:func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value: Any, **dumps_options: Any) -> None:
    """``value`` as JSON indented by 2 (further ``json.dumps`` options: ``dumps_options``),
    written atomically."""
    atomic_write_bytes(path, json.dumps(value, indent=2, **dumps_options).encode())
