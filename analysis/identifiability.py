"""Which coefficients the data can tell apart, and what is identified regardless.

Over the encoded data the latent codes are small (radius ≈ 0.35 on the quick preset), where z,
z³ and sin z are nearly collinear (sin z = z − z³/6 + …): least squares can then move weight
between those columns at almost no cost, so their separate coefficients are not identified — only
combinations are. The singular values of the library with columns normalised to unit RMS (from
the compressed fit problems, averaged over the ensemble) say so: each right-singular vector
whose singular value is below ``tolerance`` × the largest names a group of terms (its large
loadings) that are nearly linearly dependent.

What stays identified is, for example, the linearisation at the origin, J_ij = ∂ż_j/∂z_i at
z = 0 (linear and sine terms contribute their coefficients, higher monomials nothing); its
eigenvalues give the frequency ω = |Im λ| and the growth rate Re λ of small oscillations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from analysis.diagnostics import diagnose
from analysis.library import Term

__all__ = [
    "COLLINEAR_TOLERANCE",
    "CollinearGroup",
    "Identifiability",
    "identifiability",
    "LinearSummary",
    "linear_summary",
    "linearisation",
    "normalised_gram",
    "not_identified_in",
]

COLLINEAR_TOLERANCE = 0.02
"""A singular value below this fraction of the largest marks a nearly collinear group (the
normalised library's condition number exceeds 50 in that direction)."""

LOADING_SHARE = 0.2
"""A term belongs to a group when its loading on the small directions is at least this fraction
of the largest."""

COUPLING = 0.5
"""Two such terms share a group when the correlation of their projections onto the small
directions is at least this."""


class CollinearGroup(NamedTuple):
    """Terms that are nearly linearly dependent over the encoded data.

    Attributes:
      terms: indices of the terms.
      names: their names.
      singular_value: the smallest relative singular value whose direction involves them.
    """

    terms: tuple[int, ...]
    names: tuple[str, ...]
    singular_value: float


class Identifiability(NamedTuple):
    """Attributes:
    singular_values: (n_terms,) of the normalised library, relative to the largest, descending.
    groups: the nearly collinear groups.
    not_identified: (n_terms,) bool, the terms in some group (their coefficients are not
      separately identified, in every equation).
    tolerance: the relative singular value threshold used.
    gram: (n_terms, n_terms) the normalised Gram matrix analysed (for :func:`not_identified_in`).
    """

    singular_values: np.ndarray
    groups: list[CollinearGroup]
    not_identified: np.ndarray
    tolerance: float
    gram: np.ndarray | None = None


def normalised_gram(r: np.ndarray) -> np.ndarray:
    """Mean over members of the Gram matrix of the library with unit-RMS columns.

    Args:
      r: (n_members, n_terms, n_terms) compressed fits (RᵀR = ΘᵀΘ/n), or (n_rows, n_terms) rows
        of one library matrix.
    """
    r = np.asarray(r, float)
    if r.ndim == 2:
        r = (r / np.sqrt(len(r)))[None]
    gram = np.einsum("mik,mil->mkl", r, r)
    scale = np.sqrt(np.einsum("mkk->mk", gram))
    scale = np.where(scale > 0, scale, 1.0)
    return (gram / scale[:, :, None] / scale[:, None, :]).mean(axis=0)


def identifiability(
    gram: np.ndarray, names: Sequence[str], tolerance: float = COLLINEAR_TOLERANCE
) -> Identifiability:
    """The nearly collinear groups of a normalised library Gram matrix (see module docstring).

    Args:
      gram: (n_terms, n_terms) from :func:`normalised_gram`.
      names: the term names.
      tolerance: relative singular value below which a direction is "not identified".
    """
    eigval, eigvec = np.linalg.eigh(np.asarray(gram, float))
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    singular = np.sqrt(np.clip(eigval, 0.0, None))
    relative = singular / singular[0] if singular[0] > 0 else singular
    # Group by the projector onto the small directions (invariant to how degenerate singular
    # vectors rotate within their subspace): terms that load on it belong to a group, and two
    # terms share a group when their projections are strongly correlated.
    small = np.nonzero(relative < tolerance)[0]
    basis = eigvec[:, small]
    projector = basis @ basis.T
    load = np.sqrt(np.clip(np.diag(projector), 0.0, None))
    members = np.nonzero(load >= LOADING_SHARE * load.max())[0] if small.size else []
    groups: list[tuple[set[int], float]] = []
    for k in members:
        linked = [
            g
            for g in groups
            if any(abs(projector[k, m]) >= COUPLING * load[k] * load[m] for m in g[0])
        ]
        merged = {int(k)}.union(*(g[0] for g in linked))
        for g in linked:
            groups.remove(g)
        involved = [i for i in small if np.max(np.abs(eigvec[list(merged), i])) > 0]
        groups.append((merged, float(min(relative[i] for i in involved))))
    result = [
        CollinearGroup(tuple(sorted(m)), tuple(names[k] for k in sorted(m)), s)
        for m, s in sorted(groups, key=lambda g: min(g[0]))
    ]
    flagged = np.zeros(len(names), bool)
    for g in result:
        flagged[list(g.terms)] = True
    return Identifiability(relative, result, flagged, float(tolerance), np.asarray(gram, float))


def not_identified_in(support: np.ndarray, ident: Identifiability) -> np.ndarray:
    """(n_terms, latent_dim) bool: the coefficients of a model with this ``support`` ((n_terms,
    latent_dim) bool; all True for a least-squares Ξ) that are not identified: per equation, the
    terms of the nearly collinear groups of the library restricted to that equation's support
    (:func:`identifiability` of the sub-Gram, same tolerance). A support that keeps one term of
    a group, or terms that are collinear only together with terms it left out, is identified.
    Without the Gram matrix: a term whose group of the whole library has another member in
    the same equation."""
    support = np.asarray(support, bool)
    out = np.zeros(support.shape, bool)
    for j in range(support.shape[1]):
        idx = np.nonzero(support[:, j])[0]
        if len(idx) < 2:
            continue
        if ident.gram is not None:
            sub = identifiability(
                ident.gram[np.ix_(idx, idx)], [str(k) for k in idx], ident.tolerance
            )
            out[idx[sub.not_identified], j] = True
            continue
        for g in ident.groups:
            shared = [k for k in g.terms if support[k, j]]
            if len(shared) > 1:
                out[shared, j] = True
    return out


def linearisation(xi: np.ndarray, terms: Sequence[Term]) -> tuple[np.ndarray, np.ndarray]:
    """The Jacobian at z = 0 of every member's model and its eigenvalues.

    Args:
      xi: (n, n_terms, latent_dim).
      terms: the library.

    Returns:
      jacobian: (n, latent_dim, latent_dim) with J[m, j, i] = ∂ż_j/∂z_i at 0;
      eigenvalues: (n, latent_dim) complex.
    """
    xi = np.asarray(xi, float)
    d = xi.shape[2]
    jac = np.zeros((xi.shape[0], d, d))
    for k, term in enumerate(terms):
        if term.degree == 1 or term.kind == "sin":  # d/dz sin(z) = 1 at 0, like z
            i = term.powers.index(1)
            jac[:, :, i] += xi[:, k, :]
    return jac, np.linalg.eigvals(jac)


class LinearSummary(NamedTuple):
    """The linearisation at the origin over the ensemble (identified even where the separate
    coefficients are not).

    Attributes:
      jacobian_mean, jacobian_q05, jacobian_q95: (latent_dim, latent_dim), J[j, i] = ∂ż_j/∂z_i.
      period: (q05, q50, q95) of 2π/ω, ω = the largest |Im λ| (NaN where a member's eigenvalues
        are real).
      growth: (q05, q50, q95) of the largest Re λ.
      rotating: fraction of members with complex eigenvalues (small oscillations rotate).
      period_r_hat, period_ess_bulk: diagnostics of 2π/ω over the chains (NaN if undefined).
    """

    jacobian_mean: np.ndarray
    jacobian_q05: np.ndarray
    jacobian_q95: np.ndarray
    period: tuple[float, float, float]
    growth: tuple[float, float, float]
    rotating: float
    period_r_hat: float
    period_ess_bulk: float


def linear_summary(
    xi: np.ndarray, terms: Sequence[Term], chain: np.ndarray | None
) -> LinearSummary:
    """:func:`linearisation` of every member, summarised."""
    jac, eig = linearisation(xi, terms)
    omega = np.max(np.abs(eig.imag), axis=1)
    rotating = omega > 1e-12
    with np.errstate(divide="ignore"):
        period = np.where(rotating, 2 * np.pi / np.where(rotating, omega, 1.0), np.nan)
    growth = np.max(eig.real, axis=1)

    def q(values: np.ndarray) -> tuple[float, float, float]:
        values = values[np.isfinite(values)]
        if not values.size:
            return (float("nan"),) * 3
        return tuple(float(v) for v in np.quantile(values, [0.05, 0.5, 0.95]))

    r_hat = ess = float("nan")
    if rotating.sum() >= 8:
        diag = diagnose(period[rotating], None if chain is None else chain[rotating])
        r_hat, ess = float(diag.r_hat), float(diag.ess_bulk)
    return LinearSummary(
        jac.mean(axis=0),
        np.quantile(jac, 0.05, axis=0),
        np.quantile(jac, 0.95, axis=0),
        q(period),
        q(growth),
        float(rotating.mean()),
        r_hat,
        ess,
    )
