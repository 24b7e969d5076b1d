"""Collection with a mass heavier along the stiffest directions, against the configured sampler.

Reads a ``discover`` run directory (data, config and the checkpoint at the end of training), and
collects the same number of draws (the run's ``n_samples`` per chain, every ``thin``-th step)
from the same trained state twice: with the configured sampler, and with the mass
M = m (I + Σ_k a_k u_k u_kᵀ) along each chain's ``rank`` stiffest directions
(``eae_sindy.stiffness``; the loss averaged over four minibatches) and the step enlarged by
√(λ_1/λ_{k+1}) (the configured worst-case ω·dt kept), exactly as ``discover`` collects with
``train.stiff_directions = rank``. Reported for both: collection time (compile
excluded), the smallest bulk-ESS and the largest R-hat over the coefficients with |mean| ≥ 0.1
(ArviZ, as ``summary.json``), ESS per second, and the mean loss and test error of the members
(the sampled measure is the same, so these must agree).

    python benchmarks/stiff_collection.py RUN_DIR [--rank 4] [--thin THIN]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from trained_run import load_trained

from analysis.diagnostics import diagnose
from eae_sindy.planning import Plan
from eae_sindy.sindy_eae import collection_eae


def collect(eae, state, data, n_samples: int, thin: int, chunk: int = 100):
    """``(summaries of every draw, seconds)`` excluding the compile."""
    program = jax.jit(eae.collect, static_argnums=(1, 2))
    chunk = min(chunk, n_samples)
    program.lower(state, chunk, thin, data).compile()
    parts, started = [], time.perf_counter()
    for _ in range(n_samples // chunk):
        state, out = program(state, chunk, thin, data)
        parts.append(jax.device_get(out))
    seconds = time.perf_counter() - started
    if bool(np.any(np.asarray(state.sampler.diverged))):
        print("  warning: a chain diverged")
    joined = {k: np.concatenate([p[k] for p in parts]) for k in ("xi", "loss", "x_relative_mse")}
    return joined, seconds


def describe(label: str, draws: dict, seconds: float) -> None:
    xi = draws["xi"]  # (draws, chains, terms, eqs)
    by_chain = np.swapaxes(xi, 0, 1)
    chain = np.repeat(np.arange(by_chain.shape[0]), by_chain.shape[1])
    diag = diagnose(by_chain.reshape(-1, *xi.shape[2:]), chain)
    shown = np.abs(xi.mean(axis=(0, 1))) >= 0.1
    ess, rhat = float(np.nanmin(diag.ess_bulk[shown])), float(np.nanmax(diag.r_hat[shown]))
    print(
        f"| {label} | {seconds:.1f} s | {ess:.1f} | {rhat:.3f} | {ess / seconds:.2f} | "
        f"{draws['loss'].mean():.4f} | {draws['x_relative_mse'].mean():.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--thin", type=int, default=None)
    args = parser.parse_args()
    config, x, dx, (split, library), built, state = load_trained(args.run_dir)
    tc, sc = config.train, config.sampler
    thin = args.thin or tc.thin

    # what discover does with train.stiff_directions = rank (a Nosé–Hoover metric: the
    # collection's thermostat is Nosé–Hoover whatever the run collected with)
    stiff_config = config.replace(
        train=tc.replace(stiff_directions=args.rank),
        collection=config.collection.replace(thermostat="nose_hoover"),
    )
    started = time.perf_counter()
    stiff_built, stiff_state, done = collection_eae(
        built, state, Plan(split, library), stiff_config, x, dx
    )
    estimate_s = time.perf_counter() - started
    gain, step_size = done["step_gain"], done["step_size"]
    print(f"{args.run_dir}: {tc.num_chains} chains × {tc.n_samples} draws, thin {thin}")
    shown = np.round(done["curvature"]).astype(int).tolist()
    print(f"curvatures λ_1..λ_{args.rank + 1} per chain: {shown}")
    print(f"estimated in {estimate_s:.1f} s (compile included); step {sc.step_size:g} → "
          f"{step_size:.3g} ({gain:.2f}×)")
    print("| sampler | collection | min bulk-ESS | max R-hat | ESS/s | mean loss | test x MSE |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    draws, seconds = collect(built.eae, state, built.data, tc.n_samples, thin)
    describe(f"configured (dt = {sc.step_size:g})", draws, seconds)
    draws, seconds = collect(stiff_built.eae, stiff_state, built.data, tc.n_samples, thin)
    describe(f"heavier along {args.rank} stiff directions (dt = {step_size:.3g})",
             draws, seconds)


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing anything
    main()
