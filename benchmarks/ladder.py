"""Cost of a temperature ladder: K independent SINDy-EAEs, one per temperature, in one compiled
outer iteration (``eae_sindy.eae.temperature_ladder``), against one EAE (K = 1), at a preset's
shapes (quick: 1024 inputs, widths 64, batch 64, M = 40 inner steps; paper: 10,000 inputs, widths
256, batch 128, M = 200), with the preset's C chains per temperature, sampler and SINDy settings.

The data are random normal snapshots of the quick preset's training-set shape scaled to the
reference RMS (0.4) that standardised data have: the cost of a step does not depend on the
values. Reported: the compile time of each program (lower + compile), the median time of one
compiled outer iteration over alternating repeats, the cores it kept busy (CPU / wall time),
and the median of the per-repeat ratios to one EAE, which is robust to load changes on a
shared machine. A third program, one EAE with K·C chains, does the ladder's arithmetic without
the temperature axis: the ladder's own overhead is the difference between the two.

Encoder samples per second: K·C·M sampling steps per outer iteration over its time.

    python benchmarks/ladder.py [--preset quick|paper] [--rungs 4] [--chains 4] [--repeats 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from eae_sindy.config import preset
from eae_sindy.eae import temperature_ladder
from eae_sindy.planning import REFERENCE_RMS, plan
from eae_sindy.simmering import simmering
from eae_sindy.sindy_eae import build_sindy_eae


def build_problem(chains: int, seed: int = 0, preset_name: str = "quick"):
    """``(build, model, config, data)``: ``build(T)`` is the preset's SINDy-EAE sampling at T
    (built as a run builds it, :func:`eae_sindy.sindy_eae.build_sindy_eae`, on random snapshots
    of the preset's shapes in standardised units; without the step control, as measured
    before); ``data``: the snapshots its programs take as an argument."""
    config = preset(preset_name)
    config = config.replace(
        train=config.train.replace(num_chains=chains),
        sampler=config.sampler.replace(max_omega_dt=None),
    )
    d = config.data
    rng = np.random.default_rng(seed)
    shape = (d.n_snapshots, d.n**2)
    x = (REFERENCE_RMS * rng.standard_normal(shape)).astype(np.float32)
    dx = (REFERENCE_RMS * rng.standard_normal(shape)).astype(np.float32)
    the_plan = plan(config, d.n_snapshots)
    shared = build_sindy_eae(x, dx, *the_plan, config)
    sampler_settings = dataclasses.asdict(config.sampler)

    def build(temperature):
        sampler = simmering(**{**sampler_settings, "temperature": temperature})
        return build_sindy_eae(x, dx, *the_plan, config, sampler=sampler, data=shared.data).eae

    return build, shared.model, config, shared.data


def compiled(fn, state, data):
    """``(compiled fn, seconds to lower and compile)``."""
    start = time.perf_counter()
    program = jax.jit(fn).lower(state, data).compile()
    return program, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", type=int, default=4, help="temperatures K of the ladder")
    parser.add_argument("--chains", type=int, default=None, help="chains per temperature")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"])
    args = parser.parse_args()
    chains = args.chains or preset(args.preset).train.num_chains
    build, model, config, data = build_problem(chains, preset_name=args.preset)
    t0 = config.sampler.temperature
    # A geometric ladder around the preset's temperature, T_0 / 3 ... (one decade per 2 rungs).
    temperatures = tuple(t0 * 10 ** (0.5 * (k - 1)) for k in range(args.rungs))
    enc, dec = model.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)

    single = build(t0)
    ladder = temperature_ladder(build, temperatures)
    pooled_build, _, _, _ = build_problem(chains * args.rungs, preset_name=args.preset)
    pooled = pooled_build(t0)
    programs = {
        "single": (single, jax.jit(single.init)(enc, dec, key)),
        "ladder": (ladder, jax.jit(ladder.init)(enc, dec, key)),
        "pooled": (pooled, jax.jit(pooled.init)(enc, dec, key)),
    }
    states, steps, compile_s = {}, {}, {}
    for name, (eae, state) in programs.items():
        steps[name], compile_s[name] = compiled(eae.outer_step, state, data)
        states[name], _ = steps[name](state, data)  # warm-up call
    jax.block_until_ready(states)

    # Alternating timed calls; CPU time / wall time tells how many cores a program kept busy.
    times = {name: [] for name in programs}
    cores = {name: [] for name in programs}
    for _ in range(args.repeats):
        for name in programs:
            start, cpu = time.perf_counter(), time.process_time()
            states[name], _ = steps[name](states[name], data)
            jax.block_until_ready(states[name])
            times[name].append(time.perf_counter() - start)
            cores[name].append((time.process_time() - cpu) / times[name][-1])
    if bool(np.any(np.asarray(states["ladder"].sampler.diverged))):
        print("warning: a rung diverged (timings may not be representative)")
    ratio = {n: float(np.median(np.divide(times[n], times["single"]))) for n in programs}
    median = {n: float(np.median(times[n])) for n in programs}
    c = config.train
    print(f"devices: {jax.devices()}")
    print(
        f"{args.preset} preset shapes: {config.data.n**2} inputs, "
        f"widths {config.model.encoder_widths}, "
        f"batch {c.batch_size}, M = {c.inner_steps}, C = {chains} chains per temperature; "
        f"ladder T = {', '.join(f'{t:.2g}' for t in temperatures)}; {args.repeats} repeats"
    )
    rows = {
        "single": f"one EAE, K = 1 (C = {chains})",
        "ladder": f"ladder, K = {args.rungs} (C = {chains} each)",
        "pooled": f"one EAE with K·C = {chains * args.rungs} chains (same work, no ladder)",
    }
    print(
        "| program | compile | outer iteration | per temperature | encoder samples/s "
        "| cores busy | vs K = 1 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in rows.items():
        k = 1 if name == "single" else args.rungs
        per = median[name] / k
        samples_per_s = k * chains * c.inner_steps / median[name]
        print(
            f"| {label} | {compile_s[name]:.1f} s | {median[name] * 1e3:.0f} ms | "
            f"{per * 1e3:.0f} ms | {samples_per_s:,.0f} | {np.median(cores[name]):.2f} "
            f"| {ratio[name]:.2f}× |"
        )
    print(f"ladder / one EAE: {ratio['ladder']:.2f}× (target ≤ 2.5×; median of per-repeat ratios)")


if __name__ == "__main__":
    main()
