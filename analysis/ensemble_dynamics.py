"""The distribution of dynamics over an ensemble of identified models: each member's model is
integrated from its own encoding of the earliest test snapshot, and the ensemble's periods,
amplitudes and fates (steady oscillation, decay, growth, divergence) are compared with the data's
own period. These are coordinate-free: a reader can check them against the data whatever the
latent coordinates, and the chains agree on them long before they agree on coefficients.

Each member's orbit is also classified by ``analysis.attractor.classify_many`` (does its cycle
attract perturbations, is it a neutral centre, chaotic, ...), with the largest Lyapunov exponent
for a subset of the members (``n_lyapunov``, and every bounded aperiodic one, where chaos must be
decided).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from analysis.attractor import KINDS, classify_many
from analysis.diagnostics import diagnose
from analysis.dynamics import describe_many, simulate_many
from analysis.library import Term, divergence

__all__ = [
    "FATES",
    "N_LYAPUNOV",
    "DynamicsDistribution",
    "spread_members",
    "dynamics_distribution",
    "cycle_divergence",
]

N_LYAPUNOV = 64
"""Members (evenly spaced over those integrated) whose largest Lyapunov exponent is computed: the
variational equation costs about two integrations, so not all of them; every bounded aperiodic
member gets one anyway, where chaos must be decided."""

FATES = {
    "oscillates": ("limit_cycle",),
    "decays": ("decaying", "fixed_point"),
    "grows": ("growing",),
    "diverges": ("diverged",),
    "other": ("aperiodic",),
}
"""How the orbit statuses of ``analysis.dynamics.Orbit`` are counted."""


class DynamicsDistribution(NamedTuple):
    """What the integrated members do.

    Attributes:
      label: which models (``"least squares"``, ``"sparse"``).
      members: (m,) indices of the members integrated.
      chain: (m,) their chains (None: one chain).
      status: (m,) each orbit's status (``analysis.dynamics.Orbit.status``).
      period: (m,) NaN unless oscillating.
      amplitude: (m,) half peak-to-peak range of the leading coordinate after the transient
        (NaN when diverged).
      fractions: fate → fraction of members (keys of :data:`FATES`).
      within: fraction of members on a steady oscillation whose period is within ``tolerance``
        of the data's.
      tolerance: relative period tolerance.
      data_period: the data's own period (NaN if unknown).
      period_quantiles: (q05, q50, q95) of the periods of the oscillating members (NaN if none).
      period_r_hat, period_ess_bulk: ArviZ diagnostics of the period over the chains (members
        with a period only, each chain cut to the shortest; NaN when undefined).
      floquet: (m,) the mean divergence of the model along its cycle over whole periods after
        the transient: in 2-D the cycle's nontrivial Floquet exponent (< 0: perturbations
        decay, the cycle attracts; ≈ 0: neutral, a centre's orbit; > 0: repels). NaN unless
        oscillating.
      amplitude_ratio: (m,) the RMS radius of the member's attractor (after the transient) over
        the RMS radius of its own encoded test data (frame-free; NaN when diverged or without
        the encoded radius).
      kind: (m,) each member's attractor kind (``analysis.attractor.KINDS``), or None.
      kind_fractions: kind → fraction of the members (every kind of ``KINDS``), or None.
      returns: (m,) object: whether perturbed starts at 0.5×/1.5× the member's encoded radius
        return to its cycle (None where it has no cycle).
      lyapunov, lyapunov_se: (m,) the largest Lyapunov exponent and its standard error: for the
        Lyapunov subset, every bounded aperiodic member and (the largest real part of the
        Jacobian's eigenvalues) every member at a fixed point; NaN for the others.
      dimension: (m,) correlation dimension of bounded aperiodic orbits (NaN otherwise).
      lyapunov_subset: (m,) bool, the evenly spaced members whose exponent was asked for: an
        unbiased sample for the distribution of λ1 (``n_lyapunov`` of them).
    """

    label: str
    members: np.ndarray
    chain: np.ndarray | None
    status: np.ndarray
    period: np.ndarray
    amplitude: np.ndarray
    fractions: dict[str, float]
    within: float
    tolerance: float
    data_period: float
    period_quantiles: tuple[float, float, float]
    period_r_hat: float
    period_ess_bulk: float
    floquet: np.ndarray | None = None
    amplitude_ratio: np.ndarray | None = None
    kind: np.ndarray | None = None
    kind_fractions: dict[str, float] | None = None
    returns: np.ndarray | None = None
    lyapunov: np.ndarray | None = None
    lyapunov_se: np.ndarray | None = None
    dimension: np.ndarray | None = None
    lyapunov_subset: np.ndarray | None = None


def spread_members(n_samples: int, chain: np.ndarray | None, n_members: int) -> np.ndarray:
    """About ``n_members`` indices spread evenly over the draws of every chain (all when fewer)."""
    if chain is None:
        chain = np.zeros(n_samples, int)
    ids = np.unique(chain)
    per_chain = int(np.ceil(n_members / len(ids)))
    picked = []
    for c in ids:
        members = np.nonzero(chain == c)[0]
        if len(members) > per_chain:
            members = members[np.linspace(0, len(members) - 1, per_chain).round().astype(int)]
        picked.append(members)
    return np.unique(np.concatenate(picked))


def dynamics_distribution(
    label: str,
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    *,
    chain: np.ndarray | None,
    members: np.ndarray,
    data_period: float,
    span: float,
    dt: float,
    bound: float,
    tolerance: float = 0.05,
    encoded_radius: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    n_lyapunov: int = N_LYAPUNOV,
    attractors: bool = True,
) -> DynamicsDistribution:
    """Integrate the given members' models and describe the distribution.

    Args:
      label: the name of these models.
      xi: (m, n_terms, latent_dim) the members' coefficients.
      terms: the library.
      z0: (m, latent_dim) each member's encoding of the earliest test snapshot.
      chain: (m,) their chains, or None.
      members: (m,) their indices in the ensemble (recorded).
      data_period: the data's period (NaN if unknown).
      span, dt: length of each run and the RK4 step.
      bound: divergence bound on ‖z‖∞.
      tolerance: relative period tolerance of ``within``.
      encoded_radius: (m,) the RMS radius of each member's encoded test data (for
        ``amplitude_ratio``), or None.
      scale: (m,) the reference amplitude of each member's attractor test (perturbed starts at
        0.5× and 1.5× it from the cycle's centre; ``analysis.attractor.classify``): the RMS
        radius of its encoded test data about their mean. Default ``encoded_radius``, else ‖z0‖.
      n_lyapunov: members (evenly spaced) whose largest Lyapunov exponent is computed.
      attractors: classify every member's attractor (False: only the fates, as before).
    """
    t = np.arange(0.0, span + 0.5 * dt, dt)
    z, diverged = simulate_many(xi, terms, z0, t, bound=bound)
    orbits = describe_many(t, z, diverged)
    status = np.array([o.status for o in orbits])
    period = np.array([o.period for o in orbits])
    amplitude = np.array([float(np.max(o.amplitude)) for o in orbits])
    periods = _period_summary(status, period, data_period, tolerance, chain)
    floquet = cycle_divergence(t, z, xi, terms, period)
    found: dict[str, Any] = {}  # not classified: the attractor fields keep their None
    if attractors and len(xi):
        if scale is None:
            scale = encoded_radius if encoded_radius is not None else np.linalg.norm(z0, axis=1)
        found = _member_attractors(
            xi, terms, z0, (z, diverged), t_end=float(t[-1]), dt=dt, bound=bound, scale=scale,
            n_lyapunov=n_lyapunov,
        )  # fmt: skip
    tail = z[:, len(t) // 2 :]
    ratio = np.full(len(xi), np.nan)
    if encoded_radius is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.sqrt(np.mean(np.sum(tail**2, axis=2), axis=1)) / np.asarray(encoded_radius)
        ratio[np.asarray(diverged)] = np.nan
    return DynamicsDistribution(
        label=label,
        members=np.asarray(members),
        chain=None if chain is None else np.asarray(chain),
        status=status,
        period=period,
        amplitude=amplitude,
        tolerance=float(tolerance),
        data_period=float(data_period),
        **periods._asdict(),
        floquet=floquet,
        amplitude_ratio=ratio,
        **found,
    )


class _PeriodSummary(NamedTuple):
    """The fates and periods of the members' orbits (the fields of :class:`DynamicsDistribution`
    of the same names)."""

    fractions: dict[str, float]
    within: float
    period_quantiles: tuple[float, float, float]
    period_r_hat: float
    period_ess_bulk: float


def _period_summary(
    status: np.ndarray,
    period: np.ndarray,
    data_period: float,
    tolerance: float,
    chain: np.ndarray | None,
) -> _PeriodSummary:
    """The fraction of each fate, of steady oscillations within ``tolerance`` of the data's
    period, the period's 5/50/95 % quantiles and its R-hat and bulk ESS over the chains (with
    at least 8 periods)."""
    fractions = {fate: float(np.isin(status, kinds).mean()) for fate, kinds in FATES.items()}
    steady = status == "limit_cycle"
    with np.errstate(invalid="ignore"):
        close = np.abs(period - data_period) <= tolerance * data_period
    within = float(np.mean(steady & close)) if np.isfinite(data_period) else float("nan")
    has_period = np.isfinite(period)
    quantiles = (float("nan"),) * 3
    if has_period.any():
        quantiles = tuple(float(q) for q in np.quantile(period[has_period], [0.05, 0.5, 0.95]))
    r_hat = ess = float("nan")
    if has_period.sum() >= 8:
        sub_chain = None if chain is None else np.asarray(chain)[has_period]
        diag = diagnose(period[has_period], sub_chain)
        r_hat, ess = float(diag.r_hat), float(diag.ess_bulk)
    return _PeriodSummary(fractions, within, quantiles, r_hat, ess)


def _member_attractors(
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    trajectory: tuple[np.ndarray, np.ndarray],
    *,
    t_end: float,
    dt: float,
    bound: float,
    scale: np.ndarray,
    n_lyapunov: int,
) -> dict[str, Any]:
    """Every member's attractor (``analysis.attractor.classify_many`` on the runs already
    integrated), with the largest Lyapunov exponent of ``n_lyapunov`` members evenly spaced:
    the attractor fields of :class:`DynamicsDistribution` (``kind`` to ``lyapunov_subset``)."""
    want = np.zeros(len(xi), bool)
    n_lyap = min(int(n_lyapunov), len(xi))
    if n_lyap > 0:
        want[np.unique(np.linspace(0, len(xi) - 1, n_lyap).round().astype(int))] = True
    found = classify_many(
        xi,
        terms,
        z0,
        scale=np.asarray(scale, float),
        t_end=t_end,
        dt=dt,
        bound=bound,
        lyapunov=want,
        trajectory=trajectory,
    )
    kind = np.array([a.kind for a in found])
    return {
        "kind": kind,
        "kind_fractions": {k: float(np.mean(kind == k)) for k in KINDS},
        "returns": np.array([a.returns for a in found], dtype=object),
        "lyapunov": np.array([a.lyapunov for a in found], float),
        "lyapunov_se": np.array([a.lyapunov_se for a in found], float),
        "dimension": np.array([a.dimension for a in found], float),
        "lyapunov_subset": want,
    }


def cycle_divergence(
    t: np.ndarray,
    z: np.ndarray,
    xi: np.ndarray,
    terms: Sequence[Term],
    period: np.ndarray,
    transient: float = 0.5,
) -> np.ndarray:
    """(m,) the time average of the divergence of each model along its trajectory over the
    last whole number of periods after ``transient`` (NaN where the period is not finite): the
    sum of the cycle's nontrivial Floquet exponents (in 2-D, the one exponent)."""
    out = np.full(len(xi), np.nan)
    start = int(transient * len(t))
    span = t[-1] - t[start]
    for m in np.nonzero(np.isfinite(period))[0]:
        cycles = int(span // period[m])
        if cycles < 1:
            continue
        first = np.searchsorted(t, t[-1] - cycles * period[m])
        out[m] = float(np.mean(divergence(z[m, first:], xi[m], terms)))
    return out
