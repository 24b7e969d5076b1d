"""Shard files of a multi-process test run: each process stores its part of arrays that span
processes (:func:`write_shards`), and process 0 puts the files of all processes back together
(:func:`assemble`). Used by ``tests/distributed_worker.py`` to compare a sharded run with the
single-process one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from simulators.atomic_files import atomic_output


def local_shards(array: jax.Array) -> list[tuple[tuple[slice, ...], np.ndarray]]:
    """This process's part of a global array: ``(index, data)`` for each addressable shard it
    is the first replica of (so replicated data are kept once over all processes)."""
    out = []
    for shard in array.addressable_shards:
        if shard.replica_id == 0:
            out.append((shard.index, np.asarray(shard.data)))
    return out


def _encode_index(index: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    bounds = [s.indices(n)[:2] for s, n in zip(index, shape, strict=False)]
    return np.array(bounds, np.int64).reshape(len(shape), 2)


def write_shards(path: str | os.PathLike, tree: dict[str, jax.Array]) -> Path:
    """Write this process's shards of the global arrays in ``tree`` (a flat dict) to ``path``
    (npz): for each name, the global shape, the index bounds and the data of each shard."""
    path = Path(path)
    payload: dict[str, np.ndarray] = {}
    for name, array in tree.items():
        if "/" in name:
            raise ValueError(f"array name {name!r} may not contain '/'")
        payload[f"{name}/shape"] = np.array(array.shape, np.int64)
        payload[f"{name}/dtype"] = np.array(str(np.dtype(array.dtype)))
        for k, (index, data) in enumerate(local_shards(array)):
            payload[f"{name}/{k}/index"] = _encode_index(index, array.shape)
            payload[f"{name}/{k}/data"] = data
    # a file object: np.savez would append ".npz" to the temporary file's name
    with atomic_output(path, force=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **payload)
    return path


def assemble(paths: Sequence[str | os.PathLike]) -> dict[str, np.ndarray]:
    """The full arrays from the shard files of all processes (:func:`write_shards`). Raises
    ValueError when the files leave part of an array uncovered."""
    full: dict[str, np.ndarray] = {}
    covered: dict[str, np.ndarray] = {}
    for path in paths:
        with np.load(path) as stored:
            for key in stored.files:
                name, *rest = key.split("/")
                if rest == ["shape"]:
                    if name not in full:
                        dtype = np.dtype(str(stored[f"{name}/dtype"]))
                        shape = tuple(int(n) for n in stored[key])
                        full[name] = np.zeros(shape, dtype)
                        covered[name] = np.zeros(shape, bool)
            for key in stored.files:
                name, *rest = key.split("/")
                if len(rest) == 2 and rest[1] == "data":
                    bounds = stored[f"{name}/{rest[0]}/index"]
                    index = tuple(slice(int(a), int(b)) for a, b in bounds)
                    full[name][index] = stored[key]
                    covered[name][index] = True
    for name, mask in covered.items():
        if not mask.all():
            raise ValueError(f"the shard files leave part of {name!r} uncovered")
    return full
