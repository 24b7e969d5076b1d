"""SINDy pieces in JAX: the candidate-function library Θ(z), the least-squares solve for Ξ, and the
SINDy-EAE loss of the seed paper (Eq. 14–16).

The loss makes Ξ a *function of the encoder*: for each encoder, Ξ = argmin ‖Θ(z) Ξ − ż‖² over the
batch, so an ensemble of sampled encoders yields an ensemble of governing equations.

Term names follow pysindy's convention (``x0``, ``x0 x1``, ``x0^2``, ``sin(1 x0)``, the constant
``1``) and order (``PolynomialLibrary(degree, include_bias) + FourierLibrary(1,
include_cos=False)``), so a coefficient matrix can be handed to pysindy unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from analysis.library import Term, library_terms

__all__ = [
    "SindyLibrary",
    "SindyTerms",
    "polynomial_sine_library",
    "solve_coefficients",
    "compress_least_squares",
    "sindy_terms",
    "sindy_loss",
]

Params = Any
Apply = Callable[[Params, jax.Array], jax.Array]


class SindyLibrary(NamedTuple):
    """A candidate-function library.

    Attributes:
        terms: the library's terms (``analysis.library.Term``: kind "poly" or "sin" and the
            exponent vector, one-hot for a sine's argument), one per column of Θ, in pysindy's
            order; ``analysis.library.library_terms`` is their one definition.
        evaluate: ``z: (batch, latent_dim) -> Θ: (batch, n_terms)``.
        latent_dim, poly_order, include_sine, include_constant: the settings it was built from.
    """

    terms: tuple[Term, ...]
    evaluate: Callable[[jax.Array], jax.Array]
    latent_dim: int
    poly_order: int
    include_sine: bool
    include_constant: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Term names in pysindy's convention."""
        return tuple(t.name for t in self.terms)

    @property
    def n_terms(self) -> int:
        return len(self.terms)


def polynomial_sine_library(
    latent_dim: int,
    poly_order: int = 3,
    include_sine: bool = True,
    include_constant: bool = False,
) -> SindyLibrary:
    """All monomials of degree 1..poly_order, optionally preceded by the constant 1 and followed
    by sin(z_i).

    Monomials are products of gathered columns (never ``z ** 0``; the constant is a column of
    ones), so gradients stay finite at z = 0.

    Args:
        latent_dim: number of latent coordinates d ≥ 1.
        poly_order: highest monomial degree ≥ 1.
        include_sine: append ``sin(z_i)`` for every coordinate.
        include_constant: put the constant term ``1`` first (pysindy's ``include_bias``).

    Returns:
        A :class:`SindyLibrary`; for d = 2, order 3 with sines it has the 11 terms
        ``x0, x1, x0^2, x0 x1, x1^2, x0^3, x0^2 x1, x0 x1^2, x1^3, sin(1 x0), sin(1 x1)``.
    """
    terms = tuple(library_terms(latent_dim, poly_order, include_sine, include_constant))
    # One gather-and-multiply per degree: term with powers (2, 1) multiplies columns (0, 0, 1).
    by_degree: dict[int, list[list[int]]] = {}
    for term in terms:
        if term.kind == "poly" and term.degree > 0:  # the constant (degree 0) is a column of ones
            factors = [i for i, p in enumerate(term.powers) for _ in range(p)]
            by_degree.setdefault(len(factors), []).append(factors)
    index_groups = [jnp.asarray(g, dtype=jnp.int32) for _, g in sorted(by_degree.items())]

    def evaluate(z: jax.Array) -> jax.Array:
        columns = [jnp.ones_like(z[:, :1])] if include_constant else []
        columns += [jnp.prod(z[:, idx], axis=-1) for idx in index_groups]
        if include_sine:
            columns.append(jnp.sin(z))
        return jnp.concatenate(columns, axis=-1)

    return SindyLibrary(terms, evaluate, latent_dim, poly_order, include_sine, include_constant)


def _triangularize(a: jax.Array, k: int) -> jax.Array:
    """Qᵀa for the k Householder reflections Q = H_1⋯H_k that make the first k columns of ``a``
    upper triangular (LAPACK's geqrf without the library call); its first k rows.

    With ``a = [A | B]`` the rows hold the thin QR of A and the projection of B on it:
    ``out[:, :k]`` is R (its strictly lower part zero up to rounding; take ``jnp.triu``) and
    ``out[:, k:]`` is Qᵀ B, so neither Q nor a LAPACK call is needed. Written in ``jax.numpy`` (a
    ``fori_loop`` over the k columns) because jaxlib's CPU LAPACK kernels (geqrf, orgqr, trsm,
    ...) split a large enough batch over XLA's intra-op thread pool and block until every share
    is done: when all the pool's threads are inside such calls at once (the chains' solves side
    by side, ``vmap``-ped), no thread is left to do the shares and the program hangs (large fits
    hang, smaller ones crawl; measured: benchmarks/README.md).

    Differentiable (reverse and forward mode, so Hessian-vector products work); a zero column
    gets the identity as its reflection and leaves a zero on R's diagonal, as LAPACK does.

    Args:
        a: (n, c) with n ≥ k and c ≥ k.
        k: how many leading columns to triangularise.

    Returns:
        (k, c): the first k rows of Qᵀa.
    """
    n, c = a.shape
    row = jnp.arange(n)
    col = jnp.arange(c)

    def reflect(j, a):
        column = lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False)
        x = jnp.where(row >= j, column, 0)
        x0 = lax.dynamic_index_in_dim(column, j, keepdims=False)
        squares = jnp.sum(x * x)
        nonzero = squares > 0
        norm = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squares, 1)), 0)
        alpha = -jnp.where(x0 >= 0, 1, -1).astype(a.dtype) * norm  # R_jj, of x0's other sign
        v = x - alpha * (row == j).astype(a.dtype)
        vtv = 2 * norm * (norm + jnp.abs(x0))  # = vᵀv, without cancellation
        beta = jnp.where(nonzero, 2 / jnp.where(nonzero, vtv, 1), 0)
        w = jnp.where(col >= j, v @ a, 0)  # the columns already reduced stay as they are
        return a - beta * jnp.outer(v, w)

    return lax.fori_loop(0, k, reflect, a)[:k]


def _triangular_solve(r: jax.Array, b: jax.Array, *, transpose: bool = False) -> jax.Array:
    """x with R x = b (or Rᵀ x = b) for upper triangular R (k, k) and b (k, m), one row after
    another (in ``jax.numpy``, for the reason given in :func:`_triangularize`). Only R's upper
    triangle is read."""
    k = r.shape[0]
    r = jnp.triu(r)

    def solve_row(i, x):
        index = i if transpose else k - 1 - i  # Rᵀ is lower triangular: from the first row
        coefficients = lax.dynamic_index_in_dim(
            r, index, axis=1 if transpose else 0, keepdims=False
        )
        b_row = lax.dynamic_index_in_dim(b, index, keepdims=False)
        # the rows of x not solved yet are zero, so the product sees the solved rows alone
        value = (b_row - coefficients @ x) / coefficients[index]
        return lax.dynamic_update_index_in_dim(x, value, index, axis=0)

    return lax.fori_loop(0, k, solve_row, jnp.zeros_like(b))


def _column_scale(a: jax.Array) -> jax.Array:
    """The columns' norms, 1 for a zero column (whose gradient stays finite too)."""
    squares = jnp.sum(a * a, axis=0)
    nonzero = squares > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squares, 1.0)), 1.0)


def _ridge_qr(a: jax.Array, b: jax.Array, ridge: float) -> tuple[jax.Array, jax.Array]:
    """R of the ridge-augmented system [a; √ridge I] (so RᵀR = aᵀa + ridge I) and the solution
    ξ = argmin ‖a ξ − b‖² + ridge ‖ξ‖², by Householder QR and back substitution."""
    n_terms = a.shape[1]
    if ridge > 0:
        eye = jnp.sqrt(jnp.asarray(ridge, a.dtype)) * jnp.eye(n_terms, dtype=a.dtype)
        a = jnp.concatenate([a, eye], axis=0)
        b = jnp.concatenate([b, jnp.zeros((n_terms, b.shape[1]), b.dtype)], axis=0)
    reduced = _triangularize(jnp.concatenate([a, b.astype(a.dtype)], axis=1), n_terms)
    r = jnp.triu(reduced[:, :n_terms])
    return r, _triangular_solve(r, reduced[:, n_terms:])


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _least_squares(a: jax.Array, b: jax.Array, ridge: float) -> jax.Array:
    """argmin ‖a ξ − b‖² + ridge ‖ξ‖² for a with unit-norm (or zero) columns (:func:`_ridge_qr`).

    Differentiated by its closed form rather than through the QR's loop (which costs several
    times the solve in reverse mode): with M = aᵀa + ridge I = RᵀR,
    dξ = M⁻¹ (daᵀ (b − a ξ) + aᵀ (db − da ξ)), two triangular solves with the R already at hand.
    The rule is itself differentiable, so Hessian-vector products (forward over reverse) work."""
    return _ridge_qr(a, b, ridge)[1]


@_least_squares.defjvp
def _least_squares_jvp(ridge, primals, tangents):
    a, b = primals
    da, db = tangents
    r, xi = _ridge_qr(a, b, ridge)
    rhs = da.T @ (b - a @ xi) + a.T @ (db - da @ xi)
    return xi, _triangular_solve(r, _triangular_solve(r, rhs, transpose=True))


def solve_coefficients(theta: jax.Array, dz: jax.Array, ridge: float = 0.0) -> jax.Array:
    """Least-squares coefficients Ξ = argmin ‖Θ Ξ − ż‖² (+ ridge ‖Ξ‖² in scaled units).

    Robust to ill-conditioned Θ without forming ΘᵀΘ: the columns are scaled to unit norm and the
    (optionally ridge-augmented) system is solved by a Householder QR factorisation and back
    substitution, which squares neither the condition number nor breaks differentiability. Both
    are written in ``jax.numpy``, not LAPACK calls, so that a ``vmap`` over chains cannot
    deadlock XLA:CPU's thread pool (:func:`_triangularize`).

    Args:
        theta: (batch, n_terms) library matrix Θ(z), batch ≥ n_terms when ``ridge == 0``.
        dz: (batch, latent_dim) latent time derivatives ż.
        ridge: Tikhonov weight relative to unit-norm columns (0 = plain least squares).

    Returns:
        Ξ: (n_terms, latent_dim).
    """
    scale = _column_scale(theta)
    return _least_squares(theta / scale, dz.astype(theta.dtype), ridge) / scale[:, None]


def compress_least_squares(
    theta: jax.Array, dz: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The least-squares problem ‖Θ Ξ − ż‖² over n rows, compressed to n_terms rows.

    With the thin QR factorisation Θ/√n = Q R: ‖Θ ξ − ż‖²/n = ‖R ξ − Qᵀż/√n‖² + (ms − ‖Qᵀż/√n‖²)
    for every ξ, so (R, Qᵀż/√n, ms) are all a sparse regression of this fit needs
    (``analysis.sparse``). The QR is taken on unit-norm columns and scaled back, like
    :func:`solve_coefficients` (Householder reflections of [Θ | ż], :func:`_triangularize`).

    Args:
        theta: (n, n_terms) library matrix Θ(z), n ≥ n_terms.
        dz: (n, latent_dim) latent time derivatives ż.

    Returns:
        r: (n_terms, n_terms) upper triangular, RᵀR = ΘᵀΘ/n;
        qtdz: (n_terms, latent_dim) Qᵀż/√n, so Rᵀ qtdz = Θᵀż/n;
        dz_ms: (latent_dim,) the mean square of each ż coordinate.
    """
    n, n_terms = theta.shape
    scale = _column_scale(theta)
    reduced = _triangularize(jnp.concatenate([theta / scale, dz.astype(theta.dtype)], 1), n_terms)
    r, qtdz = jnp.triu(reduced[:, :n_terms]), reduced[:, n_terms:]
    root_n = jnp.sqrt(jnp.asarray(n, theta.dtype))
    return r * scale[None, :] / root_n, qtdz / root_n, jnp.mean(dz**2, axis=0)


def solve_compressed(r: jax.Array, qtdz: jax.Array, ridge: float = 0.0) -> jax.Array:
    """:func:`solve_coefficients` from the compressed problem of :func:`compress_least_squares`
    (the same minimiser: ‖Θξ − ż‖² and ‖Rξ − qtdz‖² differ by a constant), at the cost of an
    n_terms-row solve instead of another QR of the full data.

    Args:
        r: (n_terms, n_terms) upper triangular; qtdz: (n_terms, latent_dim).
        ridge: Tikhonov weight relative to unit-norm library columns, as in
            :func:`solve_coefficients`.

    Returns:
        Ξ: (n_terms, latent_dim).
    """
    scale = _column_scale(r)
    return _least_squares(r / scale, qtdz.astype(r.dtype), ridge) / scale[:, None]


class SindyTerms(NamedTuple):
    """Everything the SINDy-EAE loss computes for one batch (for evaluation and reporting).

    Shapes: z, dz, dz_model (batch, latent_dim); xi (n_terms, latent_dim);
    x_hat, dx_hat (batch, n_features); loss_x, loss_dx, loss scalars.
    """

    z: jax.Array
    dz: jax.Array
    xi: jax.Array
    dz_model: jax.Array
    x_hat: jax.Array
    dx_hat: jax.Array
    loss_x: jax.Array
    loss_dx: jax.Array
    loss: jax.Array


def sindy_terms(
    encode: Apply,
    decode: Apply,
    library: SindyLibrary,
    enc_params: Params,
    dec_params: Params,
    batch: dict[str, jax.Array],
    *,
    lambda_x: float = 1.0,
    lambda_dx: float = 20.0,
    ridge: float = 0.0,
    reduction: str = "sum",
) -> SindyTerms:
    """Evaluate Eq. 14–16 on a batch ``{"x": (B, n), "dx": (B, n)}``.

    z = E(x); ż = (∂z/∂x) ẋ by a JVP through the encoder; Ξ = lstsq(Θ(z), ż);
    ẋ̂ = (∂x̂/∂z) Θ(z) Ξ by a JVP through the decoder;
    L = λ1 mean‖x − x̂‖² + λ2 mean‖ẋ − ẋ̂‖² (batch mean of per-sample squared norms).

    ``reduction="mean"`` divides both terms by the number of features (the element-wise mean of
    the reference SINDy-autoencoder code). The Gibbs measure exp(−L/T) only depends on L/T, but
    the sampler's forces scale with L: the paper's T = 1e-4, m = 1e-6, dt = 1e-5 were tuned for
    the element-wise mean, and the per-sample sum at 10⁴ features is 10⁴× stiffer.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    x, dx = batch["x"], batch["dx"]
    z, dz = jax.jvp(lambda inputs: encode(enc_params, inputs), (x,), (dx,))
    theta = library.evaluate(z)
    xi = solve_coefficients(theta, dz, ridge)
    dz_model = theta @ xi
    x_hat, dx_hat = jax.jvp(lambda latents: decode(dec_params, latents), (z,), (dz_model,))
    reduce = jnp.sum if reduction == "sum" else jnp.mean
    loss_x = jnp.mean(reduce((x - x_hat) ** 2, axis=-1))
    loss_dx = jnp.mean(reduce((dx - dx_hat) ** 2, axis=-1))
    loss = lambda_x * loss_x + lambda_dx * loss_dx
    return SindyTerms(z, dz, xi, dz_model, x_hat, dx_hat, loss_x, loss_dx, loss)


def sindy_loss(
    encode: Apply,
    decode: Apply,
    library: SindyLibrary,
    *,
    lambda_x: float = 1.0,
    lambda_dx: float = 20.0,
    ridge: float = 0.0,
    reduction: str = "sum",
) -> Callable[[Params, Params, dict[str, jax.Array]], jax.Array]:
    """The SINDy-EAE loss as ``loss(enc_params, dec_params, batch) -> scalar`` for the EAE loop."""

    def loss(enc_params: Params, dec_params: Params, batch: dict[str, jax.Array]) -> jax.Array:
        return sindy_terms(
            encode,
            decode,
            library,
            enc_params,
            dec_params,
            batch,
            lambda_x=lambda_x,
            lambda_dx=lambda_dx,
            ridge=ridge,
            reduction=reduction,
        ).loss

    return loss
