"""JAX port of the ETDRK4 stepper in :mod:`simulators.spectral`, so that the lambda-omega simulator
can run on a GPU (or on the CPU through XLA) with the same results as the numpy solver.

It is the same scheme step for step: the ETDRK4 coefficients are taken from
:class:`~simulators.spectral.LambdaOmegaSpectral` (computed once in numpy), the state is the
same rfft2 array of shape (2, n, n//2 + 1), the kx = 0 / Nyquist columns are projected onto
Hermitian symmetry after every step, and a snapshot is (u, v, u_t, v_t) with u_t, v_t the
right-hand side. One jitted call advances one chunk of snapshots with ``jax.lax.scan`` (the
substeps of each snapshot interval are an inner ``fori_loop``), so only one chunk of output is
on the device at a time.

Precision: everything runs in float64/complex128 inside ``jax.enable_x64`` entered locally by
:class:`LambdaOmegaSpectralJax` (JAX's default is float32, which would give ~1e-7 relative
errors per step). The flag is never changed globally: code outside this module keeps float32.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .spectral import LambdaOmegaSpectral

__all__ = ["LambdaOmegaSpectralJax", "Operators", "advance_chunk", "x64"]


def x64() -> contextlib.AbstractContextManager:
    """Context manager enabling float64 in JAX for the enclosed block only."""
    state = getattr(jax, "enable_x64", None)
    if state is not None:  # jax >= 0.5: a config context manager
        return state(True)
    from jax.experimental import enable_x64  # older jax

    return enable_x64()


class Operators(NamedTuple):
    """Diagonal spectral operators (real, shape (2, n, n//2 + 1)) and beta; a JAX pytree.

    ``lin`` is L = 1 - d|k|^2; ``e``, ``e2``, ``q``, ``f1``, ``f2``, ``f3`` are the ETDRK4
    coefficients exactly as stored by the numpy solver (``q`` and ``f*`` already scaled by h).
    """

    lin: jax.Array
    e: jax.Array
    e2: jax.Array
    q: jax.Array
    f1: jax.Array
    f2: jax.Array
    f3: jax.Array
    beta: jax.Array


# -- transforms and right-hand side (pure functions of jax arrays) -----------------------------
def to_spectral(w: jax.Array) -> jax.Array:
    """Physical (..., n, n) real -> spectral (..., n, n//2+1) complex."""
    return jnp.fft.rfft2(w)


def to_physical(w_hat: jax.Array) -> jax.Array:
    """Spectral (..., n, n//2+1) complex -> physical (..., n, n) real."""
    n = w_hat.shape[-2]
    return jnp.fft.irfft2(w_hat, s=(n, n))


def nonlinear_physical(w: jax.Array, beta: jax.Array) -> jax.Array:
    """The cubic part N(u, v) = (beta r^2 v - r^2 u, -(beta r^2 u + r^2 v)), same op order."""
    u, v = w[0], w[1]
    r2 = u * u + v * v
    br2 = beta * r2
    return jnp.stack([br2 * v - r2 * u, -(br2 * u + r2 * v)])


def nonlinear_hat(w_hat: jax.Array, beta: jax.Array) -> jax.Array:
    return to_spectral(nonlinear_physical(to_physical(w_hat), beta))


def observe(w_hat: jax.Array, ops: Operators) -> jax.Array:
    """(u, v, u_t, v_t) in physical space, shape (4, n, n), for the spectral state ``w_hat``."""
    both = to_physical(jnp.concatenate([w_hat, ops.lin * w_hat]))  # one batched transform
    w, lin_w = both[:2], both[2:]
    return jnp.concatenate([w, lin_w + nonlinear_physical(w, ops.beta)])


# -- time stepping --------------------------------------------------------------------------
def enforce_hermitian(w_hat: jax.Array) -> jax.Array:
    """Project the kx = 0 (and, for even n, Nyquist) columns onto Hermitian symmetry in ky.

    See ``LambdaOmegaSpectral.enforce_hermitian`` for why (round-off growth otherwise).
    """
    n = w_hat.shape[-2]
    reflect = (-np.arange(n)) % n
    for c in (0, n // 2) if n % 2 == 0 else (0,):
        col = w_hat[:, :, c]
        w_hat = w_hat.at[:, :, c].set(0.5 * (col + jnp.conj(col[:, reflect])))
    return w_hat


def step(w_hat: jax.Array, ops: Operators) -> jax.Array:
    """One ETDRK4 step (Cox-Matthews), the same arithmetic as ``LambdaOmegaSpectral.step``."""
    e2, q = ops.e2, ops.q
    nv = nonlinear_hat(w_hat, ops.beta)
    e2v = e2 * w_hat
    a = e2v + q * nv
    na = nonlinear_hat(a, ops.beta)
    b = e2v + q * na
    nb = nonlinear_hat(b, ops.beta)
    c = e2 * a + q * (2.0 * nb - nv)
    nc = nonlinear_hat(c, ops.beta)
    new = ops.e * w_hat + ops.f1 * nv + ops.f2 * (na + nb) + ops.f3 * nc
    return enforce_hermitian(new)


def advance(w_hat: jax.Array, ops: Operators, substeps: int) -> jax.Array:
    """``substeps`` ETDRK4 steps (a static trip count: no host round trip per step on a GPU)."""
    return jax.lax.fori_loop(0, substeps, lambda _, w: step(w, ops), w_hat)


@functools.partial(jax.jit, static_argnames=("k", "substeps"))
def advance_chunk(
    w_hat: jax.Array, ops: Operators, *, k: int, substeps: int
) -> tuple[jax.Array, jax.Array]:
    """Observe the current state, advance one snapshot interval; ``k`` times.

    Returns (state after k intervals, fields of shape (4, k, n, n): u, v, u_t, v_t).
    """

    def body(w, _):
        return advance(w, ops, substeps), observe(w, ops)

    w_end, fields = jax.lax.scan(body, w_hat, None, length=k)
    return w_end, jnp.moveaxis(fields, 0, 1)


class LambdaOmegaSpectralJax:
    """Chunked ETDRK4 integration in JAX (float64 on the default JAX device).

    Same parameters as :class:`~simulators.spectral.LambdaOmegaSpectral` (whose coefficients it
    uses). Every JAX call is made inside :func:`x64`; states are complex128 ``jax.Array``.
    """

    def __init__(self, n: int, L: float, d1: float, d2: float, beta: float, h: float) -> None:
        ref = LambdaOmegaSpectral(n, L, d1, d2, beta, h)
        self.n = ref.n
        host = (ref.lin, ref.e, ref.e2, ref.q, ref.f1, ref.f2, ref.f3, np.float64(beta))
        with x64():
            self.ops = Operators(*(jnp.asarray(a, dtype=jnp.float64) for a in host))

    def initial_state(self, u0: np.ndarray, v0: np.ndarray) -> jax.Array:
        """Spectral state of the physical fields (u0, v0)."""
        with x64():
            return to_spectral(jnp.asarray(np.stack([u0, v0]), dtype=jnp.float64))

    def dispatch_chunk(
        self, w_hat: jax.Array, k: int, substeps: int
    ) -> tuple[jax.Array, jax.Array]:
        """Start :func:`advance_chunk` asynchronously; returns device arrays (state, fields)."""
        with x64():
            return advance_chunk(w_hat, self.ops, k=int(k), substeps=int(substeps))

    @staticmethod
    def fetch(fields: jax.Array) -> np.ndarray:
        """Copy a chunk's fields to the host as float64 numpy (waits for the computation)."""
        with x64():
            return np.asarray(fields)
