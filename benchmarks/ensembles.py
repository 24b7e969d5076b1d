"""Cost and mixing of several encoder chains on the quick preset (CPU figures in README.md).

1. Cost of one outer iteration (M inner steps, compiled) and of one collection chunk
   (``chunk_size`` draws, ``thin`` sampling steps each, compiled) with C = 1, 4, 8 chains, at the
   quick preset's shapes, against C = 1.
2. Bulk-ESS per second of collection, for the significant coefficients, of the landed
   configuration (one chain) and the current default (``train.num_chains`` chains), each run
   end to end with ``eae_sindy.fit`` on the same simulated data in this run.

    python benchmarks/ensembles.py [--seed 0] [--chains 1 4 8] [--cost-only] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import eae_sindy
from eae_sindy.config import preset
from simulators import read_dataset
from simulators.lambda_omega import generate_dataset


def step_costs(x: np.ndarray, dx: np.ndarray, chains: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds of one compiled outer iteration and of one compiled collection chunk
    (``chunk_size`` draws of ``thin`` sampling steps) with ``chains`` encoder chains."""
    import jax.numpy as jnp
    import optax

    from eae_sindy.eae import entropic_autoencoder
    from eae_sindy.models import mlp_autoencoder
    from eae_sindy.sindy import polynomial_sine_library, sindy_loss

    config = preset("quick")
    m, t = config.model, config.train
    model = mlp_autoencoder(x.shape[1], m.latent_dim, m.encoder_widths, m.decoder_widths)
    library = polynomial_sine_library(m.latent_dim, 3, True)
    loss = sindy_loss(model.encode, model.decode, library, ridge=1e-6, reduction="mean")
    xs, dxs = jnp.asarray(x), jnp.asarray(dx)

    def batch(key):
        i = jax.random.randint(key, (t.batch_size,), 0, xs.shape[0])
        return {"x": xs[i], "dx": dxs[i]}

    eae = entropic_autoencoder(loss, config.sampler.build(), optax.adam(t.learning_rate), batch,
                               t.inner_steps, num_chains=chains)
    state = eae.init(*model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))

    def median(fn, state):
        state, _ = fn(state)
        jax.block_until_ready(state)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            state, _ = fn(state)
            jax.block_until_ready(state)
            times.append(time.perf_counter() - start)
        return float(np.median(times)), state

    outer, state = median(jax.jit(eae.outer_step), state)
    collect = jax.jit(eae.collect, static_argnums=(1, 2))
    chunk, _ = median(lambda s: collect(s, t.chunk_size, t.thin), state)
    return {"outer": outer, "collect": chunk}


def ess_per_second(data, config, seed: int) -> dict[str, float]:
    found = eae_sindy.fit(data.x, data.t, data.dx, config=config, seed=seed, progress=False)
    significant = found.run.significant
    ess = found.run.diagnostics.ess_bulk[significant]
    seconds = found.summary["training"]["collection_time_s"]
    return {
        "chains": found.run.n_chains,
        "draws": found.summary["diagnostics"]["draws_per_chain"],
        "seconds": seconds,
        "min_ess": float(ess.min()),
        "median_ess": float(np.median(ess)),
        "max_r_hat": found.summary["diagnostics"]["max_r_hat"] or float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cost-only", action="store_true", help="skip the end-to-end ESS runs")
    args = parser.parse_args()
    quick = preset("quick")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quick.h5"
        generate_dataset(path, **quick.data.simulation(), seed=args.seed, progress=False)
        data = read_dataset(path)
    print(f"devices: {jax.devices()}")
    t = quick.train
    print(f"| chains C | outer iteration ({t.inner_steps} steps) | per chain | vs first | "
          f"collection chunk ({t.chunk_size} × {t.thin} steps) |\n|---:|---:|---:|---:|---:|")
    base = None
    for chains in args.chains:
        cost = step_costs(data.x, data.dx, chains, args.repeats)
        base = base or cost["outer"]
        print(f"| {chains} | {cost['outer'] * 1e3:.0f} ms | {cost['outer'] / chains * 1e3:.0f} ms "
              f"| {cost['outer'] / base:.2f}× | {cost['collect'] * 1e3:.0f} ms |")
    if args.cost_only:
        return
    print("\n| configuration | chains × draws | collection | min bulk-ESS | median bulk-ESS | "
          "min ESS / s | max R-hat |\n|---|---:|---:|---:|---:|---:|---:|")
    configs = {
        "landed (one chain)": quick.replace(train=quick.train.replace(num_chains=1)),
        "default": quick,
    }
    for name, config in configs.items():
        r = ess_per_second(data, config, args.seed)
        print(f"| {name} | {r['chains']} × {r['draws']} | {r['seconds']:.1f} s | "
              f"{r['min_ess']:.1f} | {r['median_ess']:.1f} | {r['min_ess'] / r['seconds']:.2f} | "
              f"{r['max_r_hat']:.3f} |")


if __name__ == "__main__":
    main()
