"""Symmetries of the latent coordinates: how Ξ transforms under z' = T z, and which modes match.

An autoencoder's latent space is only defined up to invertible maps; an ensemble of encoders can
therefore contain modes that describe *the same* dynamics in permuted and/or sign-flipped
coordinates. For a signed permutation T (``z'[perm[i]] = signs[i] * z[i]``) every library term
maps to ± another library term, θ_k(z) = c_k θ_{π(k)}(z'), so

    ż'[perm[j]] = signs[j] Σ_k c_k θ_{π(k)}(z') Ξ[k, j]
    ⇒ Ξ'[π(k), perm[j]] = signs[j] c_k Ξ[k, j].

Monomials pick up c_k = Π_i signs[i]^{powers[i]}, and ``sin`` (odd) picks up the sign of its
argument.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from analysis.library import Term

__all__ = [
    "SignedPermutation",
    "SymmetryMatch",
    "term_map",
    "transform_xi",
    "candidate_transforms",
    "find_symmetries",
]


class SignedPermutation(NamedTuple):
    """z' = T z with ``z'[perm[i]] = signs[i] * z[i]``."""

    perm: tuple[int, ...]
    signs: tuple[int, ...]

    @property
    def dim(self) -> int:
        return len(self.perm)

    @property
    def is_identity(self) -> bool:
        return self.perm == tuple(range(self.dim)) and all(s == 1 for s in self.signs)

    @property
    def complexity(self) -> int:
        """Number of moved coordinates plus number of sign flips (used to prefer simple names)."""
        moved = sum(1 for i, p in enumerate(self.perm) if p != i)
        return moved + sum(1 for s in self.signs if s < 0)

    def matrix(self) -> np.ndarray:
        """(d, d) matrix T with z' = T z."""
        t = np.zeros((self.dim, self.dim))
        for i, (p, s) in enumerate(zip(self.perm, self.signs, strict=True)):
            t[p, i] = s
        return t

    def describe(self) -> str:
        """Human-readable form, e.g. ``"swap z0<->z1"``, ``"z -> (z1, -z0)"``."""
        inv = {p: i for i, p in enumerate(self.perm)}
        images = []
        for k in range(self.dim):
            i = inv[k]
            images.append(("-" if self.signs[i] < 0 else "") + f"z{i}")
        if self.is_identity:
            return "identity"
        moved = [i for i, p in enumerate(self.perm) if p != i]
        flips = [i for i, s in enumerate(self.signs) if s < 0]
        parts = []
        if len(moved) == 2 and self.perm[moved[0]] == moved[1]:
            parts.append(f"swap z{moved[0]}<->z{moved[1]}")
        elif moved:
            parts.append("permute " + ", ".join(f"z{i}->z{self.perm[i]}" for i in moved))
        if flips:
            parts.append("flip " + ", ".join(f"z{i}" for i in flips))
        return " + ".join(parts) + f"  [z' = ({', '.join(images)})]"


def term_map(terms: Sequence[Term], transform: SignedPermutation) -> tuple[np.ndarray, np.ndarray]:
    """Where each term goes: θ_k(z) = sign[k] · θ_{index[k]}(z').

    Raises ``ValueError`` when the image of a term is not in the library (truncated libraries).
    """
    position = {t: k for k, t in enumerate(terms)}
    index = np.empty(len(terms), dtype=int)
    sign = np.empty(len(terms))
    for k, term in enumerate(terms):
        new_powers = [0] * transform.dim
        for i, p in enumerate(term.powers):
            new_powers[transform.perm[i]] = p
        if term.kind == "sin":
            c = transform.signs[term.powers.index(1)]
        else:
            c = int(np.prod([s**p for s, p in zip(transform.signs, term.powers, strict=True)]))
        image = Term(term.kind, tuple(new_powers))
        if image not in position:
            raise ValueError(f"the image {image.name!r} of {term.name!r} is not in the library")
        index[k], sign[k] = position[image], c
    return index, sign


def transform_xi(xi: np.ndarray, terms: Sequence[Term], transform: SignedPermutation) -> np.ndarray:
    """Coefficients of the same dynamics in coordinates z' = T z.

    Args:
      xi: (..., n_terms, latent_dim).
      terms: the library.
      transform: T.

    Returns:
      (..., n_terms, latent_dim) Ξ'.
    """
    xi = np.asarray(xi, dtype=float)
    index, sign = term_map(terms, transform)
    out = np.empty_like(xi)
    eq_signs = np.asarray(transform.signs, dtype=float)
    scaled = xi * sign[:, None] * eq_signs[None, :]
    out[..., index[:, None], np.asarray(transform.perm)[None, :]] = scaled
    return out


def candidate_transforms(latent_dim: int, max_full: int = 4) -> list[SignedPermutation]:
    """All non-identity signed permutations for latent_dim ≤ ``max_full`` (2^d d! of them);
    beyond that only the single transpositions and single sign flips."""
    out = []
    if latent_dim <= max_full:
        for perm in itertools.permutations(range(latent_dim)):
            for signs in itertools.product((1, -1), repeat=latent_dim):
                t = SignedPermutation(tuple(perm), tuple(signs))
                if not t.is_identity:
                    out.append(t)
    else:
        ident = tuple(range(latent_dim))
        for i, j in itertools.combinations(range(latent_dim), 2):
            perm = list(ident)
            perm[i], perm[j] = j, i
            out.append(SignedPermutation(tuple(perm), (1,) * latent_dim))
        for i in range(latent_dim):
            signs = [1] * latent_dim
            signs[i] = -1
            out.append(SignedPermutation(ident, tuple(signs)))
    return sorted(out, key=lambda t: t.complexity)


class SymmetryMatch(NamedTuple):
    """Mode ``mode_b`` ≈ ``transform`` applied to mode ``mode_a``.

    Attributes:
      mode_a, mode_b: mode indices (a < b).
      transform: the simplest matching transform (fewest moved coordinates + sign flips).
      distance: ‖T(C_a) − C_b‖_F / mean(‖C_a‖_F, ‖C_b‖_F) for that transform.
      alternatives: every matching transform with its distance (including the chosen one).
    """

    mode_a: int
    mode_b: int
    transform: SignedPermutation
    distance: float
    alternatives: tuple[tuple[SignedPermutation, float], ...]


def find_symmetries(
    centres: np.ndarray, terms: Sequence[Term], *, tolerance: float = 0.2
) -> list[SymmetryMatch]:
    """Pairs of modes whose centres are images of each other under a signed permutation.

    Args:
      centres: (n_modes, n_terms, latent_dim) full-Ξ centre of each mode.
      terms: the library.
      tolerance: largest relative Frobenius distance that counts as a match.

    Returns:
      One ``SymmetryMatch`` per related pair (empty with fewer than two modes).
    """
    centres = np.asarray(centres, dtype=float)
    transforms = candidate_transforms(centres.shape[-1])
    matches = []
    for a, b in itertools.combinations(range(len(centres)), 2):
        scale = 0.5 * (np.linalg.norm(centres[a]) + np.linalg.norm(centres[b]))
        if scale == 0.0:
            continue
        hits = []
        for t in transforms:
            try:
                image = transform_xi(centres[a], terms, t)
            except ValueError:
                continue
            d = float(np.linalg.norm(image - centres[b]) / scale)
            if d < tolerance:
                hits.append((t, d))
        if hits:
            best = min(hits, key=lambda h: (h[0].complexity, h[1]))
            matches.append(SymmetryMatch(a, b, best[0], best[1], tuple(hits)))
    return matches
