"""Speed of the EAE inner step (one value_and_grad + one Simmering step + decoder-gradient
accumulation) against a plain-autoencoder Adam step on the same network, loss and batch; the
achieved GFLOP/s at paper scale against a numpy float32 matmul; and the projected wall time of the
``paper`` preset. All figures are measured in the same run.

    python benchmarks/eae_step.py            # paper scale (10⁴ inputs, width 256)
    python benchmarks/eae_step.py --quick    # the quick preset's scale only
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy.config import PRESETS
from eae_sindy.models import mlp_autoencoder
from eae_sindy.sindy import polynomial_sine_library, sindy_loss, sindy_terms


def _median_time(fn, *args, repeats: int) -> float:
    out = fn(*args)
    jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _numpy_matmul_gflops(m: int, k: int, n: int, repeats: int = 10) -> float:
    """float32 GEMM rate of numpy for an (m, k) @ (k, n) product."""
    a = np.random.default_rng(0).standard_normal((m, k)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def measure(n_features: int, width: int, batch: int, repeats: int) -> dict[str, float]:
    cfg = PRESETS["paper"]
    model = mlp_autoencoder(n_features, 2, (width,), (width,), "elu")
    library = polynomial_sine_library(2, 3, True)
    loss = sindy_loss(model.encode, model.decode, library, ridge=1e-6, reduction="mean")
    enc, dec = model.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    data = {
        "x": jnp.asarray(rng.normal(size=(batch, n_features)), jnp.float32),
        "dx": jnp.asarray(rng.normal(size=(batch, n_features)), jnp.float32),
    }
    grad_both = jax.value_and_grad(loss, argnums=(0, 1))
    sampler = cfg.sampler.build()
    adam = optax.adam(1e-3)

    @jax.jit
    def eae_inner(sampler_state, grad_sum, key):
        value, (g_enc, g_dec) = grad_both(sampler_state.position, dec, data)
        sampler_state, _ = sampler.step(sampler_state, g_enc, key, potential=value)
        return sampler_state, jax.tree.map(jnp.add, grad_sum, g_dec)

    @jax.jit
    def ae_step(params, opt_state):
        value, grads = jax.value_and_grad(lambda p: loss(p[0], p[1], data))(params)
        updates, opt_state = adam.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    key = jax.random.PRNGKey(1)
    sampler_state = sampler.init(enc, key)
    zeros = jax.tree.map(jnp.zeros_like, dec)
    t_eae = _median_time(eae_inner, sampler_state, zeros, key, repeats=repeats)
    params = (enc, dec)
    t_ae = _median_time(ae_step, params, adam.init(params), repeats=repeats)
    # Collection evaluates every sampled encoder on the test set: forward passes and JVPs only.
    evaluate = jax.jit(
        lambda e, d, b: (
            sindy_terms(
                model.encode, model.decode, library, e, d, b, ridge=1e-6, reduction="mean"
            ).loss
        )
    )
    t_eval = _median_time(evaluate, enc, dec, data, repeats=repeats)
    compiled = jax.jit(grad_both).lower(enc, dec, data).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
    return {
        "eval_s": t_eval,
        "eae_s": t_eae,
        "ae_s": t_ae,
        "ratio": t_eae / t_ae,
        "flops": flops,
        "gflops": flops / t_eae / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick preset's scale")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    matmul = _numpy_matmul_gflops(1024, 1024, 1024)
    print(f"numpy float32 matmul (1024²): {matmul:.1f} GFLOP/s")
    print("'% sq' = of that square matmul; '% same' = of a numpy matmul of the model's own first-")
    print("layer shape (batch, inputs) @ (inputs, width), the GEMMs the step is made of")
    q = PRESETS["quick"]
    shapes = [("quick", q.data.n**2, q.model.encoder_widths[0], q.train.batch_size)]
    if not args.quick:
        shapes += [("paper", 10_000, 256, 128), ("paper", 10_000, 256, 1000)]
    print(
        f"{'scale':6} {'inputs':>7} {'width':>5} {'batch':>5} {'EAE ms':>8} {'AE ms':>8} "
        f"{'ratio':>6} {'GFLOP/s':>8} {'% sq':>6} {'% same':>6}"
    )
    results = {}
    for name, n_features, width, batch in shapes:
        r = measure(n_features, width, batch, args.repeats if batch < 1000 else 5)
        same = _numpy_matmul_gflops(batch, n_features, width)
        results[(name, batch)] = r
        print(
            f"{name:6} {n_features:7d} {width:5d} {batch:5d} {1e3 * r['eae_s']:8.2f} "
            f"{1e3 * r['ae_s']:8.2f} {r['ratio']:6.2f} {r['gflops']:8.1f} "
            f"{100 * r['gflops'] / matmul:5.0f}% {100 * r['gflops'] / same:5.0f}%"
        )
    if not args.quick:
        p = PRESETS["paper"].train
        step = results[("paper", 128)]["eae_s"]
        training = p.outer_iterations * p.inner_steps * step
        # Collection: `thin` sampling steps per sample plus one evaluation on the test set
        # (1000 snapshots: the batch-1000 forward/JVP time).
        evaluation = results[("paper", 1000)]["eval_s"]
        collection = p.n_samples * (p.thin * step + evaluation)
        print(
            f"projected paper preset: training {training / 60:.1f} min "
            f"({p.outer_iterations}×{p.inner_steps} steps of {1e3 * step:.0f} ms; target ≤ 60), "
            f"collection {collection / 60:.1f} min ({p.n_samples} samples, test-set evaluation "
            f"{1e3 * evaluation:.0f} ms each), total {(training + collection) / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
