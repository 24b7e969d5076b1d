"""SINDy pieces in JAX: the candidate-function library Θ(z), the least-squares solve for Ξ, and the
SINDy-EAE loss of the seed paper (Eq. 14–16).

The loss makes Ξ a *function of the encoder*: for each encoder, Ξ = argmin ‖Θ(z) Ξ − ż‖² over the
batch, so an ensemble of sampled encoders yields an ensemble of governing equations.

Term names follow pysindy's convention (``x0``, ``x0 x1``, ``x0^2``, ``sin(1 x0)``) and order
(``PolynomialLibrary(degree, include_bias=False) + FourierLibrary(1, include_cos=False)``), so a
coefficient matrix can be handed to pysindy unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

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
        latent_dim, poly_order, include_sine: the settings it was built from.
    """

    terms: tuple[Term, ...]
    evaluate: Callable[[jax.Array], jax.Array]
    latent_dim: int
    poly_order: int
    include_sine: bool

    @property
    def names(self) -> tuple[str, ...]:
        """Term names in pysindy's convention."""
        return tuple(t.name for t in self.terms)

    @property
    def n_terms(self) -> int:
        return len(self.terms)


def polynomial_sine_library(
    latent_dim: int, poly_order: int = 3, include_sine: bool = True
) -> SindyLibrary:
    """All monomials of degree 1..poly_order (no constant), optionally followed by sin(z_i).

    Monomials are products of gathered columns (never ``z ** 0``), so gradients stay finite at
    z = 0.

    Args:
        latent_dim: number of latent coordinates d ≥ 1.
        poly_order: highest monomial degree ≥ 1.
        include_sine: append ``sin(z_i)`` for every coordinate.

    Returns:
        A :class:`SindyLibrary`; for d = 2, order 3 with sines it has the 11 terms
        ``x0, x1, x0^2, x0 x1, x1^2, x0^3, x0^2 x1, x0 x1^2, x1^3, sin(1 x0), sin(1 x1)``.
    """
    terms = tuple(library_terms(latent_dim, poly_order, include_sine))
    # One gather-and-multiply per degree: term with powers (2, 1) multiplies columns (0, 0, 1).
    by_degree: dict[int, list[list[int]]] = {}
    for term in terms:
        if term.kind == "poly":
            factors = [i for i, p in enumerate(term.powers) for _ in range(p)]
            by_degree.setdefault(len(factors), []).append(factors)
    index_groups = [jnp.asarray(g, dtype=jnp.int32) for _, g in sorted(by_degree.items())]

    def evaluate(z: jax.Array) -> jax.Array:
        columns = [jnp.prod(z[:, idx], axis=-1) for idx in index_groups]
        if include_sine:
            columns.append(jnp.sin(z))
        return jnp.concatenate(columns, axis=-1)

    return SindyLibrary(terms, evaluate, latent_dim, poly_order, include_sine)


def solve_coefficients(theta: jax.Array, dz: jax.Array, ridge: float = 0.0) -> jax.Array:
    """Least-squares coefficients Ξ = argmin ‖Θ Ξ − ż‖² (+ ridge ‖Ξ‖² in scaled units).

    Robust to ill-conditioned Θ without forming ΘᵀΘ: the columns are scaled to unit norm and the
    (optionally ridge-augmented) system is solved by a QR factorisation and back substitution,
    which squares neither the condition number nor breaks differentiability.

    Args:
        theta: (batch, n_terms) library matrix Θ(z), batch ≥ n_terms when ``ridge == 0``.
        dz: (batch, latent_dim) latent time derivatives ż.
        ridge: Tikhonov weight relative to unit-norm columns (0 = plain least squares).

    Returns:
        Ξ: (n_terms, latent_dim).
    """
    scale = jnp.linalg.norm(theta, axis=0)
    scale = jnp.where(scale > 0, scale, 1.0)
    scaled = theta / scale
    rhs = dz
    if ridge > 0:
        n_terms = theta.shape[1]
        eye = jnp.sqrt(jnp.asarray(ridge, theta.dtype)) * jnp.eye(n_terms, dtype=theta.dtype)
        scaled = jnp.concatenate([scaled, eye], axis=0)
        rhs = jnp.concatenate([dz, jnp.zeros((n_terms, dz.shape[1]), dz.dtype)], axis=0)
    q, r = jnp.linalg.qr(scaled, mode="reduced")
    xi_scaled = solve_triangular(r, q.T @ rhs, lower=False)
    return xi_scaled / scale[:, None]


def compress_least_squares(
    theta: jax.Array, dz: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The least-squares problem ‖Θ Ξ − ż‖² over n rows, compressed to n_terms rows.

    With the thin QR factorisation Θ/√n = Q R: ‖Θ ξ − ż‖²/n = ‖R ξ − Qᵀż/√n‖² + (ms − ‖Qᵀż/√n‖²)
    for every ξ, so (R, Qᵀż/√n, ms) are all a sparse regression of this fit needs
    (``analysis.sparse``). The QR is taken on unit-norm columns and scaled back, like
    :func:`solve_coefficients`.

    Args:
        theta: (n, n_terms) library matrix Θ(z), n ≥ n_terms.
        dz: (n, latent_dim) latent time derivatives ż.

    Returns:
        r: (n_terms, n_terms) upper triangular, RᵀR = ΘᵀΘ/n;
        qtdz: (n_terms, latent_dim) Qᵀż/√n, so Rᵀ qtdz = Θᵀż/n;
        dz_ms: (latent_dim,) the mean square of each ż coordinate.
    """
    n = theta.shape[0]
    scale = jnp.linalg.norm(theta, axis=0)
    scale = jnp.where(scale > 0, scale, 1.0)
    q, r = jnp.linalg.qr(theta / scale, mode="reduced")
    root_n = jnp.sqrt(jnp.asarray(n, theta.dtype))
    return r * scale[None, :] / root_n, q.T @ dz / root_n, jnp.mean(dz**2, axis=0)


def solve_compressed(
    r: jax.Array, qtdz: jax.Array, ridge: float = 0.0
) -> jax.Array:
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
    scale = jnp.linalg.norm(r, axis=0)
    scale = jnp.where(scale > 0, scale, 1.0)
    scaled, rhs = r / scale, qtdz
    if ridge > 0:
        n_terms = r.shape[1]
        eye = jnp.sqrt(jnp.asarray(ridge, r.dtype)) * jnp.eye(n_terms, dtype=r.dtype)
        scaled = jnp.concatenate([scaled, eye], axis=0)
        rhs = jnp.concatenate([qtdz, jnp.zeros_like(qtdz)], axis=0)
    q, rr = jnp.linalg.qr(scaled, mode="reduced")
    return solve_triangular(rr, q.T @ rhs, lower=False) / scale[:, None]


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
