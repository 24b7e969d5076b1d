"""The SINDy candidate library: term names, parsed terms and their evaluation Θ(z).

Terms follow pysindy's naming convention for ``PolynomialLibrary(degree, include_bias=False)``
followed by ``FourierLibrary(n_frequencies=1, include_cos=False)``: ``x0``, ``x1``, ``x0^2``,
``x0 x1``, ..., ``sin(1 x0)``, ``sin(1 x1)``. A term is either a monomial (its exponent vector) or
``sin`` of one coordinate; that structure is what the symmetry analysis needs to work out how the
library transforms under a permutation / sign flip of the latent coordinates.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["Term", "library_term_names", "parse_term", "parse_terms", "theta", "rhs"]

_VAR = re.compile(r"^x(\d+)(?:\^(\d+))?$")
_SIN = re.compile(r"^sin\(1 x(\d+)\)$")


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


def library_term_names(
    latent_dim: int, poly_order: int = 3, include_sine: bool = True
) -> list[str]:
    """Term names in pysindy's order (monomials by degree, then ``sin``), without a constant."""
    names = []
    for degree in range(1, poly_order + 1):
        for combo in itertools.combinations_with_replacement(range(latent_dim), degree):
            powers = [0] * latent_dim
            for i in combo:
                powers[i] += 1
            names.append(Term("poly", tuple(powers)).name)
    if include_sine:
        names += [f"sin(1 x{i})" for i in range(latent_dim)]
    return names


def parse_term(name: str, latent_dim: int) -> Term:
    """Parse one pysindy term name; raises ``ValueError`` for names outside the library family."""
    name = name.strip()
    m = _SIN.match(name)
    if m:
        i = int(m.group(1))
        if i >= latent_dim:
            raise ValueError(f"term {name!r} refers to x{i} but latent_dim is {latent_dim}")
        return Term("sin", tuple(int(k == i) for k in range(latent_dim)))
    powers = [0] * latent_dim
    if name != "1":
        for factor in name.split():
            fm = _VAR.match(factor)
            if not fm:
                raise ValueError(f"cannot parse term {name!r} (factor {factor!r})")
            i, p = int(fm.group(1)), int(fm.group(2) or 1)
            if i >= latent_dim:
                raise ValueError(f"term {name!r} refers to x{i} but latent_dim is {latent_dim}")
            powers[i] += p
    return Term("poly", tuple(powers))


def parse_terms(names: Sequence[str], latent_dim: int) -> list[Term]:
    """Parse a whole library; raises ``ValueError`` on unknown or duplicated terms."""
    terms = [parse_term(n, latent_dim) for n in names]
    if len(set(terms)) != len(terms):
        raise ValueError(f"duplicated terms in {list(names)}")
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
