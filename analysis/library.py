"""The SINDy candidate library: the one definition of its terms (kind and exponents, from which
the names follow), and their evaluation Θ(z) in numpy.

Terms follow pysindy's naming convention for ``PolynomialLibrary(degree, include_bias=False)``
followed by ``FourierLibrary(n_frequencies=1, include_cos=False)``: ``x0``, ``x1``, ``x0^2``,
``x0 x1``, ..., ``sin(1 x0)``, ``sin(1 x1)``; with ``include_constant`` the constant ``1`` (the
all-zero exponent vector) comes first, as with ``include_bias=True``. A term is either a monomial
(its exponent vector) or ``sin`` of one coordinate; that structure is what the symmetry analysis
needs to work out how the library transforms under a permutation / sign flip of the latent
coordinates.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Term",
    "library_settings",
    "library_term_names",
    "library_terms",
    "rhs",
    "terms_from_arrays",
    "theta",
    "divergence",
]


class Term(NamedTuple):
    """One library function of the latent coordinates.

    Attributes:
      kind: ``"poly"`` (monomial Π z_i^powers[i]) or ``"sin"`` (sin z_i with i the one index where
        ``powers`` is 1).
      powers: exponent vector of length latent_dim (for ``"sin"``: one-hot argument index).
    """

    kind: str
    powers: tuple[int, ...]

    @property
    def name(self) -> str:
        """The pysindy-style name of this term."""
        if self.kind == "sin":
            return f"sin(1 x{self.powers.index(1)})"
        parts = [f"x{i}" if p == 1 else f"x{i}^{p}" for i, p in enumerate(self.powers) if p > 0]
        return " ".join(parts) if parts else "1"

    @property
    def degree(self) -> int:
        return sum(self.powers) if self.kind == "poly" else 1


def library_terms(
    latent_dim: int,
    poly_order: int = 3,
    include_sine: bool = True,
    include_constant: bool = False,
) -> list[Term]:
    """The library in pysindy's order: the constant ``1`` when ``include_constant`` (a monomial
    of degree 0, as ``PolynomialLibrary(include_bias=True)`` puts it first), monomials of degree
    1..``poly_order`` (by degree, then ``itertools.combinations_with_replacement`` order), then
    ``sin`` of each coordinate.

    This is the one definition of the term family: ``eae_sindy.sindy`` evaluates these terms in
    JAX, ``ensemble.h5`` stores their kinds and exponents, and the analysis reads them back.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    if poly_order < 1:
        raise ValueError(f"poly_order must be >= 1, got {poly_order}")
    terms = [Term("poly", (0,) * latent_dim)] if include_constant else []
    for degree in range(1, poly_order + 1):
        for combo in itertools.combinations_with_replacement(range(latent_dim), degree):
            terms.append(Term("poly", tuple(combo.count(i) for i in range(latent_dim))))
    if include_sine:
        terms += [
            Term("sin", tuple(int(k == i) for k in range(latent_dim))) for i in range(latent_dim)
        ]
    return terms


def library_term_names(*settings: Any, **named_settings: Any) -> list[str]:
    """The names of :func:`library_terms` (the same arguments), in pysindy's order: the constant
    ``1`` if included, monomials by degree, then ``sin``."""
    return [t.name for t in library_terms(*settings, **named_settings)]


def library_settings(
    term_names: Sequence[str], latent_dim: int, include_constant: bool | None = None
) -> tuple[int, bool]:
    """The (poly_order, include_sine) whose library has exactly ``term_names``; raises
    ``ValueError`` when no library of this family has them.

    ``include_constant``: whether the library starts with the constant ``1``; None (default):
    either, as the names say (a library has it when ``term_names[0] == "1"``)."""
    names = list(term_names)
    constant = names[:1] == ["1"] if include_constant is None else include_constant
    for include_sine in (True, False):
        for poly_order in range(1, len(names) + 1):
            if library_term_names(latent_dim, poly_order, include_sine, constant) == names:
                return poly_order, include_sine
    raise ValueError(
        f"{names} is not a library of monomials up to some order "
        f"({'after the constant 1' if constant else 'no constant'}) optionally followed by sin, "
        f"in pysindy's order, for latent_dim {latent_dim}"
    )


def terms_from_arrays(kinds: Sequence[str], powers: np.ndarray) -> list[Term]:
    """Terms from their stored form (``term_kinds``, ``term_powers`` of ensemble.h5); raises
    ``ValueError`` on an unknown kind, a malformed sine or duplicated terms."""
    powers = np.asarray(powers)
    if powers.ndim != 2 or len(kinds) != powers.shape[0]:
        raise ValueError(f"{len(kinds)} kinds but powers of shape {powers.shape}")
    terms = []
    for kind, row in zip(kinds, powers, strict=True):
        row = tuple(int(p) for p in row)
        if kind not in ("poly", "sin") or min(row) < 0:
            raise ValueError(f"invalid term ({kind!r}, {row})")
        if kind == "sin" and sorted(row) != [0] * (len(row) - 1) + [1]:
            raise ValueError(f"a sine term needs a one-hot argument, got {row}")
        terms.append(Term(kind, row))
    if len(set(terms)) != len(terms):
        raise ValueError(f"duplicated terms in {[t.name for t in terms]}")
    return terms


def theta(z: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """Evaluate the library.

    Args:
      z: (..., latent_dim) latent coordinates.
      terms: the library.

    Returns:
      (..., n_terms) values Θ(z).
    """
    z = np.asarray(z, dtype=float)
    cols = []
    for term in terms:
        if term.kind == "sin":
            cols.append(np.sin(z[..., term.powers.index(1)]))
        else:
            col = np.ones(z.shape[:-1])
            for i, p in enumerate(term.powers):
                if p:
                    col = col * z[..., i] ** p
            cols.append(col)
    return np.stack(cols, axis=-1)


def rhs(z: np.ndarray, xi: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """Right-hand side ż = Θ(z) Ξ.

    Args:
      z: (..., latent_dim).
      xi: (n_terms, latent_dim); column j is the equation for ż_j.
      terms: the library (length n_terms).

    Returns:
      (..., latent_dim).
    """
    return theta(z, terms) @ np.asarray(xi, dtype=float)


def divergence(z: np.ndarray, xi: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """The divergence Σ_j ∂ż_j/∂z_j of ż = Θ(z) Ξ, for one Ξ or one per leading index.

    Args:
      z: (..., latent_dim) points; xi: (n_terms, latent_dim), or (m, n_terms, latent_dim) with
        z of shape (m, ..., latent_dim).

    Returns:
      (...) the divergence at every point.
    """
    z = np.asarray(z, dtype=float)
    xi = np.asarray(xi, dtype=float)
    total = np.zeros(z.shape[:-1])
    for k, term in enumerate(terms):
        for j in range(z.shape[-1]):
            if term.kind == "sin":
                if term.powers[j] != 1:
                    continue
                d_term = np.cos(z[..., j])
            else:
                p = term.powers[j]
                if p == 0:
                    continue
                d_term = p * z[..., j] ** (p - 1)
                for i, q in enumerate(term.powers):
                    if i != j and q:
                        d_term = d_term * z[..., i] ** q
            weight = xi[..., k, j]
            if xi.ndim == 3:
                weight = weight.reshape(weight.shape + (1,) * (z.ndim - 2))
            total = total + weight * d_term
    return total
