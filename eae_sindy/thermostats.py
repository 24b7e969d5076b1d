"""Thermostat numerics of the Simmering sampler: the Nosé–Hoover chain and the BAOAB update.

Pure functions on scalars and single arrays, shared by the step builders of
:mod:`eae_sindy.simmering`:

- :class:`ChainSettings` holds what the chain reads at a step (T, N, τ) and gives its masses Q;
- :func:`nhc_half_step` propagates one global Nosé–Hoover chain (NHC) by dt/2 (MTK 1996,
  Suzuki–Yoshida factorised, weights from :func:`chain_weights`);
- :func:`nhc_conserved_energy` is the NHC extended energy H_ext;
- :func:`nhc_kick_drift` and :func:`baoa_update` are the per-leaf updates that start a step
  (half kick then drift for the NHC; B A O A for Langevin).

Units: T in the loss's units, τ and dt in time units, masses m so that ω = √(λ/m).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "ChainSettings",
    "SUZUKI_YOSHIDA",
    "UNROLL_LIMIT",
    "baoa_update",
    "chain_weights",
    "nhc_conserved_energy",
    "nhc_half_step",
    "nhc_kick_drift",
]

Array = jax.Array

# Suzuki–Yoshida weights for the chain half-steps (palindromic, so each half-step stays
# time-reversible). Orders 3/5 from Yoshida's recursive construction, 7 from Yoshida (1990),
# solution A, as tabulated by Martyna, Tuckerman, Tobias & Klein (1996).
_W3 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_W5 = 1.0 / (4.0 - 4.0 ** (1.0 / 5.0))
_W7 = (0.784513610477560, 0.235573213359357, -1.17767998417887)
SUZUKI_YOSHIDA: dict[int, tuple[float, ...]] = {
    1: (1.0,),
    3: (_W3, 1.0 - 2.0 * _W3, _W3),
    5: (_W5, _W5, 1.0 - 4.0 * _W5, _W5, _W5),
    7: (*_W7, 1.0 - 2.0 * sum(_W7), *_W7[::-1]),
}

# Half-steps with at most this many link updates are unrolled in Python; longer ones (e.g. 30
# links × 7th-order weights) run the Suzuki–Yoshida sub-steps in a ``fori_loop`` whose body is
# one unrolled sweep, which keeps compile time around a second and the loop count small.
UNROLL_LIMIT = 24


def chain_weights(sy_order: int, chain_steps: int) -> tuple[float, ...]:
    """The sub-step weights of one chain half-step: ``chain_steps`` repeats of the order-
    ``sy_order`` Suzuki–Yoshida weights, each divided by ``chain_steps`` (they sum to 1)."""
    return tuple(w / chain_steps for w in SUZUKI_YOSHIDA[sy_order]) * chain_steps


class ChainSettings(NamedTuple):
    """What the Nosé–Hoover chain reads at a step, as arrays of the chain's dtype."""

    temperature: Array  # T
    num_dof: Array  # N, the number of scalars the chain couples, as a float
    tau: Array  # τ, the thermostat timescale

    def masses(self, k: int) -> list[Array]:
        """The thermostat masses of a chain of ``k`` links: Q_1 = N T τ², Q_j = T τ²."""
        q_link = self.temperature * self.tau**2
        return [self.num_dof * self.temperature * self.tau**2] + [q_link] * (k - 1)


def _chain_substep(d, scale, ke2, xi, p, q, num_dof, temperature):
    """One Suzuki–Yoshida sub-step of length d (see :func:`nhc_half_step`) on the chain
    ``xi``, ``p`` (lists of K scalars, thermostat masses ``q``)."""
    k = len(xi)
    xi, p = list(xi), list(p)

    def force(j, ke2):
        if j == 0:
            return ke2 - num_dof * temperature
        return p[j - 1] ** 2 / q[j - 1] - temperature

    def inner_link(j, ke2):
        e = jnp.exp(-0.25 * d * p[j + 1] / q[j + 1])
        p[j] = (p[j] * e + 0.5 * d * force(j, ke2)) * e

    p[k - 1] = p[k - 1] + 0.5 * d * force(k - 1, ke2)
    for j in range(k - 2, -1, -1):
        inner_link(j, ke2)
    s = jnp.exp(-d * p[0] / q[0])
    scale, ke2 = scale * s, ke2 * s * s
    xi = [xi[j] + d * p[j] / q[j] for j in range(k)]
    for j in range(k - 1):
        inner_link(j, ke2)
    p[k - 1] = p[k - 1] + 0.5 * d * force(k - 1, ke2)
    return scale, ke2, xi, p


def nhc_half_step(
    ke2: Array, xi: Array, p_xi: Array, chain: ChainSettings, weights: tuple[float, ...], h: Array
) -> tuple[Array, Array, Array, Array]:
    """Propagate the chain by h = dt/2 (MTK 1996 / Tuckerman's book, Suzuki–Yoshida factorised).

    For each weight w (d = w·h): p_K += (d/2) G_K; links K−1..1 get
    p_j ← e_j (e_j p_j + (d/2) G_j) with e_j = exp(−(d/4) p_{j+1}/Q_{j+1}); velocities are scaled
    by exp(−d p_1/Q_1); ξ_j += d p_j/Q_j; then the same link updates in the order 1..K−1 and
    p_K += (d/2) G_K. Forces: G_1 = Σ m v² − N T, G_j = p_{j−1}²/Q_{j−1} − T. Thermostat masses:
    Q_1 = N T τ², Q_j = T τ².

    Only scalars are touched: the particle velocities are not rescaled here; the accumulated
    factor is returned and applied lazily in the next elementwise pass. ``ke2`` is Σ m v²
    (vᵀ M v); ``chain`` gives T, N and τ.

    Returns:
        (velocity scale factor, new ξ, new p_ξ, new Σ m v²).
    """
    k = xi.shape[0]
    temperature, num_dof = chain.temperature, chain.num_dof
    q = chain.masses(k)
    scale = jnp.ones_like(ke2)
    if k * len(weights) <= UNROLL_LIMIT:
        xi, p = [xi[j] for j in range(k)], [p_xi[j] for j in range(k)]
        for w in weights:
            scale, ke2, xi, p = _chain_substep(w * h, scale, ke2, xi, p, q, num_dof, temperature)
        return scale, jnp.stack(xi), jnp.stack(p), ke2

    dws = jnp.asarray(weights, xi.dtype) * h

    def body(i, carry):
        scale, ke2, xi, p = carry
        scale, ke2, xi, p = _chain_substep(
            dws[i], scale, ke2, [xi[j] for j in range(k)], [p[j] for j in range(k)], q, num_dof,
            temperature,
        )
        return scale, ke2, jnp.stack(xi), jnp.stack(p)

    scale, ke2, xi, p = jax.lax.fori_loop(0, len(weights), body, (scale, ke2, xi, p_xi))
    return scale, xi, p, ke2


def nhc_conserved_energy(
    potential: Array, ke2: Array, xi: Array, p_xi: Array, chain: ChainSettings
) -> Array:
    """The NHC extended energy H_ext = U + ½ vᵀMv + Σ_j p_ξj²/(2 Q_j) + N T ξ_1 + T Σ_{j≥2} ξ_j,
    with ``ke2`` = vᵀMv and Q_1 = N T τ², Q_j = T τ²; constant along an exact NHC trajectory."""
    temperature, num_dof = chain.temperature, chain.num_dof
    q = jnp.stack(chain.masses(xi.shape[0]))
    return (
        potential
        + 0.5 * ke2
        + jnp.sum(0.5 * p_xi**2 / q)
        + num_dof * temperature * xi[0]
        + temperature * jnp.sum(xi[1:])
    )


def nhc_kick_drift(
    x: Array, v: Array, grad: Array, half_kick: Array, scale: Array, dt: Array
) -> tuple[Array, Array]:
    """Start an NHC step on one leaf: v ← scale·v − (dt/2m)·∇U (``half_kick`` = dt/2m, ``scale``
    the chain's pending velocity factor), then x ← x + dt·v. Returns (x, v)."""
    v = scale * v - half_kick * grad
    return x + dt * v, v


def baoa_update(
    x: Array,
    v: Array,
    grad: Array,
    noise: Array,
    half_kick: Array,
    mass: Array,
    scale: Array,
    decay: Array,
    temperature: Array,
    h: Array,
) -> tuple[Array, Array]:
    """Start a BAOAB step on one leaf: B (v ← scale·v − (dt/2m)·∇U), A (x += h·v), O (exact
    Ornstein–Uhlenbeck: v ← e^{−γ dt} v + √((1 − e^{−2γ dt}) T/m)·ξ, ``decay`` = e^{−γ dt},
    ``noise`` = ξ ~ N(0, 1)), A (x += h·v), with h = dt/2. Returns (x, v)."""
    v = scale * v - half_kick * grad
    x = x + h * v
    v = decay * v + jnp.sqrt((1.0 - decay * decay) * temperature / mass) * noise
    return x + h * v, v
