"""Benchmark: one jitted Simmering step vs one jitted Adam update, 1e3 … 1e7 float32 parameters.

Both are elementwise and memory-bound, so the fair comparison is wall time per update on the
same pytree, with the state buffers donated (``donate_argnums``) in both cases. The gradient is
a fixed input (its computation is the caller's and the same for both). Prints a table with the
median of repeats and the ratio step/adam (target ≤ 1.5×).

Run: ``python benchmarks/sampler.py [--sizes 1e3,1e4] [--repeats N] [--thermostat langevin]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from eae_sindy.simmering import simmering  # noqa: E402


def make_tree(n: int, key: jax.Array) -> dict[str, jax.Array]:
    """A dict of four float32 arrays (a small MLP's weights and biases) totalling ≈ n scalars."""
    width = max(int((n / 2) ** 0.5), 1)
    rest = max(n - 2 * width * width - width, 1)
    shapes = {"w1": (width, width), "b1": (width,), "w2": (width, width), "b2": (rest,)}
    keys = jax.random.split(key, len(shapes))
    items = zip(shapes.items(), keys, strict=True)
    return {name: jax.random.normal(k, s, jnp.float32) for (name, s), k in items}


def time_pair(fa, a_args, fb, b_args, repeats: int, inner: int):
    """Median seconds per call of two donating functions, timed alternately.

    Alternating the two in every repeat makes their ratio robust to load from other processes
    on a shared machine. Returns (median a, median b, median of per-repeat ratios b/a).
    """
    a_args, b_args = fa(*a_args), fb(*b_args)  # warm-up / compile
    jax.block_until_ready((a_args, b_args))
    fns, carried, times = (fa, fb), [a_args, b_args], ([], [])
    for _ in range(repeats):
        for i in (0, 1):
            args = carried[i]
            start = time.perf_counter()
            for _ in range(inner):
                args = fns[i](*args)
            jax.block_until_ready(args)
            times[i].append((time.perf_counter() - start) / inner)
            carried[i] = args
    ta, tb = times
    ratios = [b / a for a, b in zip(ta, tb, strict=True)]
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def bench(n: int, repeats: int, thermostat: str) -> tuple[int, float, float]:
    key = jax.random.key(0)
    params = make_tree(n, key)
    grads = jax.tree.map(lambda p: 1e-3 * p, params)
    size = sum(p.size for p in jax.tree.leaves(params))

    opt = optax.adam(1e-3)

    def adam_update(params, opt_state, grads):
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, grads

    algo = simmering(1e-4, 1e-6, 1e-5, thermostat=thermostat)

    def sim_step(state, grads, key):
        state, info = algo.step(state, grads, key)
        return state, grads, key

    adam = jax.jit(adam_update, donate_argnums=(0, 1))
    sim = jax.jit(sim_step, donate_argnums=(0,))
    inner = max(1, min(200, int(2e7 // size)))
    state = algo.init(make_tree(n, key), jax.random.key(1))
    return size, *time_pair(
        adam,
        (params, opt.init(params), grads),
        sim,
        (state, grads, jax.random.key(2)),
        repeats,
        inner,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--thermostat", default="nose_hoover")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, thermostat={args.thermostat}")
    print(f"{'params':>10} {'simmering step':>16} {'adam update':>14} {'step/adam':>10}")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        size, t_adam, t_sim, ratio = bench(n, args.repeats, args.thermostat)
        print(f"{size:>10,d} {t_sim * 1e6:>13.1f} µs {t_adam * 1e6:>11.1f} µs {ratio:>9.2f}×")


if __name__ == "__main__":
    main()
