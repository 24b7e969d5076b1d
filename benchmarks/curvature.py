"""Curvature of the encoder's loss at the end of training, and what it allows the sampler's step.

Reads a ``discover`` run directory (its data, config and final checkpoint), takes chain 0's
encoder and the trained decoder, and computes the largest eigenvalues of the Hessian of the
minibatch loss with respect to the encoder parameters (scipy's ``eigsh`` on Hessian-vector
products). A leapfrog-type step is stable only while ω·dt < 2 with ω = √(λ/m), so λ_max and the
gap below it say how much larger ``sampler.step_size`` could be — and how much a mass matrix
that is heavier along the few stiffest directions would buy (a constant mass matrix leaves the
sampled Gibbs measure in parameter space unchanged).

    python benchmarks/curvature.py RUN_DIR [--k 30] [--batches 5]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.sparse.linalg import LinearOperator, eigsh
from trained_run import load_trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--k", type=int, default=30, help="eigenvalues of one minibatch")
    parser.add_argument("--batches", type=int, default=5, help="minibatches for λ_max")
    args = parser.parse_args()
    config, _, _, (split, _), built, state = load_trained(args.run_dir)
    encoder = jax.tree.map(lambda a: a[0], state.sampler.position)  # chain 0
    flat, unravel = ravel_pytree(encoder)
    m, dt = config.sampler.mass, config.sampler.step_size
    n_train, batch_size = len(split["train"]), config.train.batch_size

    def hvp_on(k):
        index = jax.random.randint(jax.random.PRNGKey(100 + k), (batch_size,), 0, n_train)
        batch = {name: a[index] for name, a in built.data["train"].items()}

        def loss(p):
            return built.loss_fn(unravel(p), state.decoder, batch)

        return jax.jit(lambda v: jax.jvp(jax.grad(loss), (flat,), (v,))[1])

    def operator(hvp):
        def matvec(v):
            return np.asarray(hvp(jnp.asarray(v, flat.dtype)), np.float64)

        return LinearOperator((flat.size, flat.size), matvec=matvec, dtype=np.float64)

    print(f"{args.run_dir}: {flat.size} encoder parameters, m = {m:g}, dt = {dt:g}")
    top = [float(eigsh(operator(hvp_on(k)), k=1, which="LA", tol=1e-3)[0][0])
           for k in range(args.batches)]
    lam = max(top)
    print(f"λ_max over {args.batches} minibatches: {', '.join(f'{v:.0f}' for v in top)}")
    print(f"ω·dt = {np.sqrt(lam / m) * dt:.2f}; stability limit ω·dt = 2 at dt = "
          f"{2 * np.sqrt(m / lam):.2g} ({2 * np.sqrt(m / lam) / dt:.1f}× the configured dt)")
    spectrum = np.sort(eigsh(operator(hvp_on(0)), k=args.k, which="LA", tol=1e-3)[0])[::-1]
    print(f"top {args.k} eigenvalues of one minibatch's Hessian: "
          f"{np.round(spectrum).astype(int).tolist()}")
    for rank in (4, 8, 16):
        if rank < len(spectrum):
            gain = np.sqrt(spectrum[0] / spectrum[rank])
            print(f"mass heavier along the top {rank} directions: λ_max → {spectrum[rank]:.0f}, "
                  f"step up to {gain:.1f}× larger at the same ω·dt")


if __name__ == "__main__":
    main()
