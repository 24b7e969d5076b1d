"""Identified combinations of coefficients, in one latent frame.

Where library terms are nearly collinear over the encoded data (``analysis.identifiability``:
``x0`` and ``sin(1 x0)`` for small z), only a combination of their coefficients is identified:
the coefficient of the group's first term once the others are folded into it,

    c_j = Σ_{k ∈ group} ξ_kj · s_k · rms_k / rms_first,

with rms_k the RMS of term k over the member's fit snapshots and s_k the sign of its correlation
with the first term (for x0 and sin x0 over small z: c ≈ ξ_x0 + ξ_sin x0). The chains may also sit
in latent frames related by a signed permutation (a swap, a reflection); every chain is first
mapped to the frame of chain 0 by the signed permutation that brings its mean Ξ closest
(``analysis.symmetry``), so that a combination means the same in every draw. These stay
descriptive (they live in a latent frame); the run's verdict is on ``analysis.frame_free``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from analysis.frame_free import TargetSummary, summarise_target
from analysis.identifiability import CollinearGroup
from analysis.library import Term, theta
from analysis.symmetry import SignedPermutation, candidate_transforms, transform_xi

__all__ = ["Combination", "align_chains", "identified_combinations"]


class Combination(NamedTuple):
    """One identified combination in one equation.

    Attributes:
      group: the collinear group (its first term carries the combination).
      equation: index of the equation.
      name: e.g. ``"x0 + sin(1 x0)"``.
      values: (n_samples,) per draw.
      summary: mean, MCSE, interval and diagnostics (``analysis.frame_free.TargetSummary``).
    """

    group: CollinearGroup
    equation: int
    name: str
    values: np.ndarray
    summary: TargetSummary


def align_chains(
    xi: np.ndarray, chain: np.ndarray | None, terms: Sequence[Term], tolerance: float = 0.2
) -> tuple[np.ndarray, dict[int, SignedPermutation]]:
    """Every chain mapped to the frame of the first: a chain whose mean Ξ is within relative
    distance ``tolerance`` of the first chain's is left as it is (a rotation-like model is its
    own image under a quarter turn, so a closer image would be chance); otherwise the signed
    permutation whose image of its mean is closest, if that is within ``tolerance``. Returns the
    aligned Ξ and the transforms applied (non-identity only)."""
    xi = np.asarray(xi, float)
    if chain is None:
        return xi, {}
    chain = np.asarray(chain)
    ids = np.unique(chain)
    reference = xi[chain == ids[0]].mean(axis=0)
    out, applied = xi.copy(), {}
    for c in ids[1:]:
        members = chain == c
        mean = xi[members].mean(axis=0)
        scale = 0.5 * (np.linalg.norm(mean) + np.linalg.norm(reference))
        best, best_distance = None, np.linalg.norm(mean - reference)
        if scale == 0 or best_distance < tolerance * scale:
            continue
        best_distance = tolerance * scale
        for t in candidate_transforms(xi.shape[2]):
            if t.is_identity:
                continue
            try:
                distance = np.linalg.norm(transform_xi(mean, terms, t) - reference)
            except ValueError:
                continue
            if distance < best_distance:
                best, best_distance = t, distance
        if best is not None:
            out[members] = np.stack([transform_xi(x, terms, best) for x in xi[members]])
            applied[int(c)] = best
    return out, applied


def _column_rms(run_fit_r: np.ndarray | None, z: np.ndarray | None, terms) -> np.ndarray:
    """(n_samples, n_terms) RMS of every term over each member's fit snapshots (from RᵀR =
    ΘᵀΘ/n), or over its stored latent codes."""
    if run_fit_r is not None:
        return np.sqrt(np.sum(np.asarray(run_fit_r, float) ** 2, axis=1))
    rows = theta(np.asarray(z, float), terms)  # (n, n_eval, n_terms)
    return np.sqrt(np.mean(rows**2, axis=1))


def identified_combinations(
    xi: np.ndarray,
    chain: np.ndarray | None,
    terms: Sequence[Term],
    groups: Sequence[CollinearGroup],
    *,
    fit_r: np.ndarray | None = None,
    z: np.ndarray | None = None,
    gram: np.ndarray | None = None,
) -> list[Combination]:
    """The identified combination of every collinear group in every equation (see the module
    doc), each member in the frame of chain 0. ``fit_r`` or ``z`` give each member's term RMS;
    ``gram`` the mean Gram matrix of unit-RMS terms (``analysis.identifiability.
    normalised_gram``; its signs say how the terms correlate; all positive when None)."""
    if not groups or (fit_r is None and z is None):
        return []
    aligned, _ = align_chains(xi, chain, terms)
    rms = _column_rms(fit_r, z, terms)
    names = [t.name for t in terms]
    out = []
    for group in groups:
        first = group.terms[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = rms[:, list(group.terms)] / rms[:, [first]]
        if gram is not None:
            weight = weight * np.sign(gram[first, list(group.terms)])[None]
        label = " + ".join(names[k] for k in group.terms)
        for j in range(aligned.shape[2]):
            values = np.sum(aligned[:, list(group.terms), j] * weight, axis=1)
            name = f"{label} in x{j}'"
            out.append(
                Combination(
                    group, j, name, values,
                    summarise_target(name, name, "draw", values, chain),
                )
            )
    return out
