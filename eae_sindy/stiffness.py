"""The stiffest directions of a loss in parameter space, and the heavier mass that tames them.

Simmering's step is capped by the stiffest direction of the loss: a leapfrog-type step is stable
only while ω·dt < 2, ω = √(λ_max/m). The encoder's minibatch loss can have a few directions much
stiffer than all others (measured: benchmarks/README.md, ``benchmarks/curvature.py``), so the step
that they allow is several times smaller than the rest of parameter space could take. A mass
matrix heavier along exactly those directions, M = m (I + Σ_k a_k u_k u_kᵀ), slows them down to the
frequency of the next curvature λ_ref and lets the step grow by √(λ_max/λ_ref) at the same ω·dt;
being constant, it leaves the sampled Gibbs measure exp(−U/T) unchanged
(:func:`eae_sindy.simmering.with_stiff_subspace`).

:func:`stiff_subspace` finds u_1..u_k and the curvatures λ_1..λ_{k+1} by subspace iteration on
Hessian-vector products (one forward-over-reverse pass each), with a Rayleigh–Ritz step; it is
pure and jittable. Call it once per chain (``vmap`` over chains batches the QR of the SINDy loss's
second derivative, which stalled XLA:CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["StiffDirections", "stiff_subspace", "heavier_mass"]


class StiffDirections(NamedTuple):
    """The k stiffest directions of a loss at a point.

    Attributes:
      basis: pytree like the parameters, each leaf with a leading axis k: orthonormal u_1..u_k.
      curvature: (k + 1,) the Ritz values λ_1 ≥ … ≥ λ_{k+1} (λ_{k+1}: the largest curvature left
        outside the basis).
    """

    basis: Any
    curvature: jax.Array


def stiff_subspace(
    loss: Callable[[Any], jax.Array],
    params: Any,
    rank: int,
    key: jax.Array,
    *,
    iterations: int = 20,
    oversampling: int = 4,
) -> StiffDirections:
    """The ``rank`` stiffest directions of ``loss`` at ``params`` (top Hessian eigenvectors).

    Subspace iteration with ``rank + 1 + oversampling`` vectors (V ← orth(H V), ``iterations``
    times) and a final Rayleigh–Ritz step; the error of the top ``rank`` directions shrinks like
    (λ_{rank+oversampling+2}/λ_rank)^iterations, fast where the stiff directions stand apart.

    Args:
      loss: ``params -> scalar``, twice differentiable.
      params: the point (a pytree of float arrays).
      rank: k ≥ 1.
      key: for the random start.

    Returns:
      :class:`StiffDirections`.
    """
    flat, unravel = ravel_pytree(params)
    width = rank + 1 + oversampling
    if width > flat.size:
        raise ValueError(f"rank {rank} needs more than the {flat.size} parameters")

    def flat_loss(p):
        return loss(unravel(p))

    def hvp(v):
        return jax.jvp(jax.grad(flat_loss), (flat,), (v,))[1]

    def hessian_times(v):
        # one column after another (lax.map): the second derivative of a loss holding a QR
        # (the SINDy least-squares solve), batched by vmap, stalled XLA:CPU with every thread idle
        return jax.lax.map(hvp, v.T).T

    basis = _orthonormal(jax.random.normal(key, (flat.size, width), flat.dtype))

    def power(_, v):
        return _orthonormal(hessian_times(v))

    basis = jax.lax.fori_loop(0, iterations, power, basis)
    projected = basis.T @ hessian_times(basis)
    values, vectors = jnp.linalg.eigh(0.5 * (projected + projected.T))
    order = jnp.argsort(values)[::-1]
    values, ritz = values[order], basis @ vectors[:, order]
    directions = jax.vmap(unravel, in_axes=1)(ritz[:, :rank])
    return StiffDirections(directions, values[: rank + 1])


def _orthonormal(columns: jax.Array) -> jax.Array:
    """Orthonormal columns spanning ``columns`` (N × w, w small), by modified Gram–Schmidt
    applied twice (plain array arithmetic, no LAPACK call inside the loop)."""
    out = []
    for j in range(columns.shape[1]):
        v = columns[:, j]
        for _ in range(2):
            for u in out:
                v = v - jnp.vdot(u, v) * u
        out.append(v / jnp.maximum(jnp.linalg.norm(v), jnp.finfo(v.dtype).tiny))
    return jnp.stack(out, axis=1)


def heavier_mass(curvature: jax.Array) -> jax.Array:
    """The factors a_k = λ_k/λ_{k+1} − 1 (≥ 0) of the mass M = m (I + Σ_k a_k u_k u_kᵀ) that
    bring the k stiffest directions down to the frequency of the largest curvature outside
    them (``curvature``: the λ_1..λ_{k+1} of :class:`StiffDirections`; the last axis)."""
    reference = jnp.maximum(curvature[..., -1:], jnp.finfo(curvature.dtype).tiny)
    return jnp.maximum(curvature[..., :-1] / reference - 1.0, 0.0)
