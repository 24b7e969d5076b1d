"""Convergence diagnostics of an ensemble drawn by several chains, computed by ArviZ
(``arviz_stats``): the rank-normalised split R-hat, bulk- and tail-ESS and the Monte Carlo
standard error of the mean, for any scalar summary of an ensemble member (a coefficient of Ξ, the
loss, a period).

The rule of Vehtari et al. (2021, "Rank-normalization, folding, and localization: an improved
R-hat"): a quantity has converged when R-hat ≤ 1.01 and bulk-ESS ≥ 400. Samples are stored
chain-major (``chain`` gives each sample's chain, draws in order within a chain); chains of
unequal length are cut to the shortest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from arviz_stats.base import array_stats

__all__ = ["ESS_MIN", "R_HAT_MAX", "Diagnostics", "by_chain", "diagnose", "verdict"]

R_HAT_MAX = 1.01
ESS_MIN = 400.0
TAIL_PROBABILITIES = (0.05, 0.95)


class Diagnostics(NamedTuple):
    """Per-quantity diagnostics; each array has the shape of one member's quantity.

    Attributes:
      r_hat: rank-normalised split R-hat.
      ess_bulk, ess_tail: bulk and tail (5 % and 95 % quantiles) effective sample sizes.
      mcse_mean: Monte Carlo standard error of the ensemble mean.
      constant: the quantity takes one value in every sample (nothing left to explore).
      n_chains, draws_per_chain: the layout the diagnostics were computed from.

    R-hat needs at least two chains: with one chain it is NaN and nothing counts as converged.
    """

    r_hat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    mcse_mean: np.ndarray
    constant: np.ndarray
    n_chains: int
    draws_per_chain: int

    @property
    def converged(self) -> np.ndarray:
        """Per quantity: R-hat ≤ 1.01 and bulk-ESS ≥ 400, or constant."""
        with np.errstate(invalid="ignore"):
            return self.constant | ((self.r_hat <= R_HAT_MAX) & (self.ess_bulk >= ESS_MIN))


def by_chain(values: np.ndarray, chain: np.ndarray | None) -> np.ndarray:
    """(n_samples, ...) values → (n_chains, draws, ...), in draw order within each chain.

    ``chain`` None means one chain. Chains of unequal length are cut to the shortest."""
    values = np.asarray(values, dtype=np.float64)
    if chain is None:
        return values[None]
    chain = np.asarray(chain)
    ids = np.unique(chain)
    draws = min(int(np.sum(chain == c)) for c in ids)
    return np.stack([values[chain == c][:draws] for c in ids])


def diagnose(values: np.ndarray, chain: np.ndarray | None) -> Diagnostics:
    """The diagnostics of every quantity in ``values`` (n_samples, ...)."""
    grouped = by_chain(values, chain)
    n_chains, draws = grouped.shape[:2]
    constant = np.ptp(grouped.reshape(n_chains * draws, *grouped.shape[2:]), axis=0) == 0
    if draws < 4:
        nan = np.full(grouped.shape[2:], np.nan)
        return Diagnostics(nan, nan, nan, nan, constant, n_chains, draws)
    axes = dict(chain_axis=0, draw_axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_hat = array_stats.rhat(grouped, method="rank", **axes)
        ess_bulk = array_stats.ess(grouped, method="bulk", **axes)
        ess_tail = array_stats.ess(grouped, method="tail", prob=TAIL_PROBABILITIES, **axes)
        mcse = array_stats.mcse(grouped, method="mean", **axes)
    return Diagnostics(
        np.asarray(r_hat, float),
        np.asarray(ess_bulk, float),
        np.asarray(ess_tail, float),
        np.asarray(mcse, float),
        constant,
        n_chains,
        draws,
    )


def verdict(diagnostics: Diagnostics, mask: np.ndarray | None = None) -> dict[str, object]:
    """The run-level verdict over the quantities in ``mask`` (default: all): the worst R-hat, the
    smallest bulk-ESS and whether all of them converged."""
    mask = np.ones(diagnostics.r_hat.shape, bool) if mask is None else np.asarray(mask, bool)
    r_hat, ess = diagnostics.r_hat[mask], diagnostics.ess_bulk[mask]
    r_hat, ess = r_hat[np.isfinite(r_hat)], ess[np.isfinite(ess)]
    return {
        "n_chains": diagnostics.n_chains,
        "draws_per_chain": diagnostics.draws_per_chain,
        "max_r_hat": float(np.max(r_hat)) if r_hat.size else None,
        "min_ess_bulk": float(np.min(ess)) if ess.size else None,
        "converged": bool(np.all(diagnostics.converged[mask])),
    }
