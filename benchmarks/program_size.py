"""Compile time and size of the compiled programs of a discover run at a preset's shapes: the
training outer iteration and one collection chunk, lowered and compiled by XLA, and the size of
the serialised executable (what JAX's persistent compilation cache stores per program).

The snapshots are random normal arrays of the preset's data shape (the values do not change the
programs). The data sets reach the programs as arguments (``data`` of ``outer_step`` and
``collect``); before, they were closed over and compiled in as constants, so the executables
carried a copy of the data.

    python benchmarks/program_size.py [--preset quick|paper]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from jax.experimental import serialize_executable

from eae_sindy.config import preset
from eae_sindy.planning import plan
from eae_sindy.sindy_eae import build_sindy_eae


def measure(fn, *args, static_argnums=()):
    """``(lower + compile seconds, serialised executable bytes)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn, static_argnums=static_argnums).lower(*args).compile()
    seconds = time.perf_counter() - start
    return seconds, len(serialize_executable.serialize(compiled)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"])
    args = parser.parse_args()
    config = preset(args.preset)
    d, tc = config.data, config.train
    rng = np.random.default_rng(0)
    x = (0.4 * rng.standard_normal((d.n_snapshots, d.n**2))).astype(np.float32)
    dx = (0.4 * rng.standard_normal((d.n_snapshots, d.n**2))).astype(np.float32)
    split, library = plan(config, d.n_snapshots, "random data")
    built = build_sindy_eae(x, dx, split, library, config)
    state = built.eae.init(*built.model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    data = getattr(built, "data", None)
    extra = () if data is None else (data,)
    data_bytes = sum(a.nbytes for a in jax.tree.leaves(data)) if data is not None else None
    outer = measure(built.eae.outer_step, state, *extra)
    chunk = min(tc.chunk_size, tc.n_samples)
    collect = measure(built.eae.collect, state, chunk, tc.thin, *extra, static_argnums=(1, 2))
    print(f"{args.preset} preset: {d.n_snapshots} snapshots × {d.n**2} features, {jax.devices()}")
    if data_bytes is not None:
        print(f"data passed as arguments: {data_bytes / 1e6:.0f} MB")
    print("| program | lower + compile | serialised executable |")
    print("|---|---:|---:|")
    for name, (seconds, size) in (("outer iteration", outer), (f"collect {chunk}", collect)):
        print(f"| {name} | {seconds:.1f} s | {size / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
