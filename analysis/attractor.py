"""What an identified model does to perturbations, and what the data do: the kind of attractor.

A period and an amplitude do not say whether an orbit is a *limit cycle*: a linear centre
(ż0 = −0.92 z1, ż1 = 0.89 z0) has a steady orbit of any amplitude, and a chaotic orbit has a
mean crossing period too. This module answers the questions a scientist asks of a model before
trusting it, each with a decisive test:

- **does its cycle attract?** The mean divergence of the model along the cycle (in 2-D its one
  nontrivial Floquet exponent; in general their sum) must be negative by a margin, *and* orbits
  started at 0.5× and 1.5× the reference amplitude ``scale`` from the cycle's centre must come
  back to the cycle's amplitude and period (within 5 %). A **neutral centre** has a mean
  divergence ≈ 0 and its perturbed orbits keep their own amplitude.
- **is it chaotic?** The largest Lyapunov exponent λ1 (Benettin's method: the variational
  equation ẇ = J(z) w along the orbit, with the analytic Jacobian of the library, renormalised
  every step) must be positive by more than 3 standard errors (from blocks of the
  renormalisation series) and the tangent must have grown by more than e⁵ over the measured
  part, on a bounded orbit that is not periodic.
- **quasi-periodic?** Bounded, steady and oscillating, λ1 ≈ 0 (within 3 standard errors or
  one e-fold over the measured part), and no single period (the orbit does not return to itself
  after 1–4 mean crossing periods); only possible for dim ≥ 3.

The same questions are asked of the data's own time series (:func:`data_attractor`: the
principal-component signal or the encoded trajectories): the period and whether the signal
repeats, the largest Lyapunov exponent by Rosenstein's method, the correlation dimension of an
aperiodic signal, and whether the cycle attracts — judged from the signal's approach to its
cycle when the data start off it, and otherwise said to be unknowable from one orbit.
:func:`compare` puts a model beside the data in plain words.

The kinds (:data:`KINDS`):

- ``"stable fixed point"``: the orbit settles to an equilibrium whose Jacobian has no
  eigenvalue with a positive real part.
- ``"unstable fixed point"``: the orbit sits on an equilibrium with an unstable direction.
- ``"attracting limit cycle"``: periodic, mean divergence ≤ −1 % per period and both perturbed
  orbits return.
- ``"limit cycle, small basin"``: periodic and attracting by its divergence, but a perturbed
  start at 0.5× or 1.5× ``scale`` goes elsewhere.
- ``"neutral centre"``: periodic, |mean divergence| < 1 % per period, perturbed orbits keep
  their own amplitude.
- ``"repelling cycle"``: a cycle near the reference amplitude (0.25–4× ``scale``) that
  perturbations leave: found by integrating backwards in time when the forward orbit decays,
  settles or diverges (or a forward cycle with mean divergence ≥ +1 % per period).
- ``"chaotic"``: see above.
- ``"quasi-periodic"``: see above.
- ``"aperiodic"``: bounded and steady, but neither periodic nor shown to be chaotic (in 2-D, or
  without a Lyapunov exponent).
- ``"decaying"`` / ``"growing"``: an oscillation whose amplitude still changes by > 5 %
  between the halves of the measured part (a slow approach to, or departure from, an
  attractor); ``"decaying"`` also for a slow non-oscillating approach still under way.
- ``"diverging"``: the orbit leaves the bound.
- ``"periodic orbit"`` (data only): periodic, but the data start on their cycle, so whether it
  attracts cannot be judged from one orbit.

Everything is pure numpy/scipy; the models are integrated with classical RK4 on a uniform grid
(``analysis.vector_field.integrate``, which ``analysis.dynamics.simulate_many`` also uses),
vectorised over many models at once (:func:`classify_many`), a few models one by one in
generated plain-Python code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.spatial.distance import pdist

from analysis.dynamics import crossing_period, signal_period
from analysis.library import Term

# The vector field and its integration live in analysis.vector_field (analysis.dynamics uses
# them too); they are re-exported here for the callers that know them by this module.
from analysis.vector_field import VectorField, integrate, jacobian

__all__ = [
    "KINDS",
    "Attractor",
    "VectorField",
    "jacobian",
    "integrate",
    "classify",
    "classify_many",
    "data_attractor",
    "rosenstein",
    "correlation_dimension",
    "compare",
]

KINDS = (
    "stable fixed point",
    "unstable fixed point",
    "attracting limit cycle",
    "limit cycle, small basin",
    "neutral centre",
    "repelling cycle",
    "quasi-periodic",
    "chaotic",
    "aperiodic",
    "decaying",
    "growing",
    "diverging",
    "periodic orbit",
)
"""Every kind :func:`classify` and :func:`data_attractor` can return (see the module doc)."""

CYCLE_KINDS = (
    "attracting limit cycle",
    "limit cycle, small basin",
    "neutral centre",
    "repelling cycle",
    "periodic orbit",
)
"""Kinds with a period."""

FLOQUET_MARGIN = 0.01
"""|mean divergence| × period below which a cycle counts as neutral (1 % per period)."""
RETURN_TOLERANCE = 0.05
"""Relative tolerance on amplitude and period of a perturbed orbit that returns."""
RECURRENCE_TOLERANCE = 0.05
"""A model orbit is periodic when it returns to within this fraction of its RMS radius."""
DATA_RECURRENCE_TOLERANCE = 0.2
"""The same for data (noisy, encoded)."""
CHAOS_SIGMAS = 3.0
CHAOS_GROWTH = 5.0
"""Chaos: λ1 > 3 standard errors and a tangent growth beyond e⁵ over the measured part."""
NAN = float("nan")
"""A quantity not measured."""


class Attractor(NamedTuple):
    """What a model (or the data) does in the long run, and to perturbations.

    Attributes:
      kind: one of :data:`KINDS`.
      period: the cycle's period (NaN unless periodic; for a chaotic or quasi-periodic orbit the
        mean crossing period is not a period and is not given).
      amplitude: half the peak-to-peak range of the leading coordinate at the end of the run
        (NaN when diverging).
      floquet: the mean divergence of the model along its cycle over whole periods (in 2-D its
        nontrivial Floquet exponent: < 0 attracts, ≈ 0 neutral, > 0 repels); NaN without a
        cycle. For data: the rate at which the amplitude's deviation from the final cycle decays
        (the same exponent, as seen in the signal), NaN when the data start on their cycle.
      lyapunov: the largest Lyapunov exponent (NaN where not computed).
      lyapunov_se: its standard error.
      returns: whether orbits started at 0.5× and 1.5× ``scale`` from the cycle's centre return
        to within 5 % of its amplitude and period (for data: whether the signal approaches its
        cycle); None where it cannot be judged (no cycle; data that start on their cycle).
      description: a short sentence for humans.
      dimension: correlation dimension of a bounded aperiodic orbit (NaN otherwise).

    Every field but ``kind`` has a default (NaN, None or ""), the value where it is not
    measured, so a result names only what it measured: ``Attractor("diverging",
    description=...)``.
    """

    kind: str
    period: float = NAN
    amplitude: float = NAN
    floquet: float = NAN
    lyapunov: float = NAN
    lyapunov_se: float = NAN
    returns: bool | None = None
    description: str = ""
    dimension: float = NAN


# --- measuring one orbit ---------------------------------------------------------------------


def _recurrence(t: np.ndarray, z: np.ndarray, lag: float) -> float:
    """RMS ‖z(t + lag) − z(t)‖ over the RMS radius of z about its mean (0: it repeats)."""
    keep = t + lag <= t[-1]
    if keep.sum() < 4:
        return float("inf")
    shifted = np.stack([np.interp(t[keep] + lag, t, z[:, c]) for c in range(z.shape[1])], 1)
    spread = np.sqrt(np.mean(np.sum((z - z.mean(axis=0)) ** 2, axis=1)))
    if spread == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.sum((shifted - z[keep]) ** 2, axis=1))) / spread)


def _periodic(t: np.ndarray, z: np.ndarray, crossing: float, tolerance: float) -> float:
    """The smallest k·crossing (k = 1..4) after which the orbit repeats, or NaN."""
    for k in range(1, 5):
        if _recurrence(t, z, k * crossing) <= tolerance:
            return k * crossing
    return float("nan")


def _amplitude(z: np.ndarray) -> float:
    return float(np.max(0.5 * (z.max(axis=0) - z.min(axis=0))))


def _trend(z: np.ndarray, lead: int) -> float:
    """Peak-to-peak range of the lead coordinate in the second half over that in the first."""
    half = len(z) // 2
    a1, a2 = np.ptp(z[:half, lead]), np.ptp(z[half:, lead])
    return float(a2 / a1) if a1 > 0 else float("inf")


def _radius_trend(z: np.ndarray) -> float:
    half = len(z) // 2
    c = z.mean(axis=0)
    r1 = np.sqrt(np.mean(np.sum((z[:half] - c) ** 2, axis=1)))
    r2 = np.sqrt(np.mean(np.sum((z[half:] - c) ** 2, axis=1)))
    return float(r2 / r1) if r1 > 0 else float("inf")


def _benettin(logs: np.ndarray | None, h: float, start: int, blocks: int = 20):
    """λ1, its standard error and the total log growth, measured on the steps from ``start``.

    The standard error is from ``blocks`` batch means of the renormalisation series, with their
    lag-1 autocovariance: the tangent's norm fluctuates along the orbit, which makes adjacent
    blocks anticorrelated (what one gains the next loses), so independent batch means would
    overstate the error several times; (γ0 + 2γ1)/B counts the diffusive part, and the bounded
    fluctuation at the two ends adds 2·(−γ1)·T_b²/T².
    """
    if logs is None:
        return float("nan"), float("nan"), float("nan")
    g = logs[start:]
    if len(g) < 4 * blocks or not np.all(np.isfinite(g)):
        return float("nan"), float("nan"), float("nan")
    total = len(g) * h
    lam = float(g.sum() / total)
    parts = np.array_split(g, blocks)
    per = np.array([b.sum() / (len(b) * h) for b in parts])
    dev = per - per.mean()
    g0 = float(np.mean(dev**2))
    g1 = float(np.mean(dev[1:] * dev[:-1]))
    block = total / blocks
    var = max(g0 + 2 * g1, 0.0) / blocks + 2 * max(-g1, 0.0) * block**2 / total**2
    return lam, float(np.sqrt(var)), float(g.sum())


def _f(x: float, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


# --- classifying models ----------------------------------------------------------------------


def classify(
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    *,
    scale: float,
    t_end: float = 100.0,
    dt: float | None = None,
    bound: float | None = None,
    lyapunov: bool = True,
) -> Attractor:
    """Classify what the model ż = Θ(z) Ξ does from z0 and to perturbations of its orbit.

    Args:
      xi: (n_terms, latent_dim).
      terms: the library.
      z0: (latent_dim,) initial state.
      scale: reference amplitude (e.g. the RMS radius of the data's orbit): the perturbed starts
        lie at 0.5× and 1.5× ``scale`` from the cycle's centre, and a repelling cycle is looked
        for at 0.25–4× ``scale``.
      t_end: length of each run (in the model's time); the first half is transient, everything
        is measured on the second. Choose ≥ ~20 periods.
      dt: RK4 step (default t_end / 10⁴); ≲ period / 100.
      bound: divergence bound on ‖z‖∞ (default 100 × max(1, scale, ‖z0‖∞)).
      lyapunov: compute the largest Lyapunov exponent (it is always computed for a bounded
        aperiodic orbit, where chaos must be decided).

    Returns:
      :class:`Attractor`.
    """
    xi = np.asarray(xi, float)
    return classify_many(
        xi[None],
        terms,
        np.asarray(z0, float)[None],
        scale=np.array([scale], float),
        t_end=t_end,
        dt=dt,
        bound=bound,
        lyapunov=lyapunov,
    )[0]


def classify_many(
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    *,
    scale: np.ndarray | float,
    t_end: float = 100.0,
    dt: float | None = None,
    bound: np.ndarray | float | None = None,
    lyapunov: np.ndarray | bool = False,
    trajectory: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Attractor]:
    """:func:`classify` for m models at once (all runs of all models are batched).

    Args:
      xi: (m, n_terms, latent_dim); z0: (m, latent_dim); scale: (m,) or scalar.
      t_end, dt, bound: as for :func:`classify` (bound may be (m,)).
      lyapunov: (m,) bool or a bool: the members whose largest Lyapunov exponent is computed.
        It is always computed for every bounded aperiodic orbit (where chaos must be decided)
        and, at a fixed point, read from the Jacobian; elsewhere (cycles) it only adds a number
        ≈ 0 at the cost of about two integrations, so batches screen without it by default
        (:func:`classify`, one model, computes it by default).
      trajectory: the reference runs if already integrated by the same RK4
        (``analysis.dynamics.simulate_many`` on ``dt · arange(n_t)``): (m, n_t, latent_dim) and
        diverged (m,); their length sets the runs' length (t_end = (n_t − 1) dt).

    Returns:
      One :class:`Attractor` per model.

    The steps: the reference run of every model (:func:`_reference_runs`); a first look at each
    orbit (:func:`_first_look`: diverging, a fixed point, a cycle, or not periodic); the largest
    Lyapunov exponent of every orbit not shown periodic; the kinds of the orbits that are not
    cycles (:func:`_decide`); the perturbation tests of the cycles
    (:func:`_perturbation_tests`); and a backward run for the orbits that may have left a
    repelling cycle (:func:`_repelling_cycles`).
    """
    batch = _batch(xi, terms, z0, scale, t_end, dt, bound, trajectory)
    want_lyap = np.broadcast_to(np.asarray(lyapunov, bool), (batch.m,)).copy()
    z, diverged, exponents = _reference_runs(batch, want_lyap, trajectory)
    done = want_lyap & (trajectory is None)  # their reference runs carried the tangent
    looks = [_first_look(batch, i, z[i], diverged[i]) for i in range(batch.m)]
    diverging = np.array([look.kind == "diverging" for look in looks], bool)
    aperiodic = np.array([look.kind == "aperiodic?" for look in looks], bool)
    missing = np.nonzero(((want_lyap & ~diverging) | aperiodic) & ~done)[0]
    if len(missing):
        exponents[missing] = _tangent_runs(batch, missing)[2]
    results, pending, backward = _decide(batch, z, looks, exponents)
    if pending:
        tested = _perturbation_tests(batch, pending, exponents)
        for cycle, result in zip(pending, tested, strict=True):
            results[cycle.index] = result
    if backward:
        results = _repelling_cycles(batch, backward, results)
    return results


class _Batch(NamedTuple):
    """The models of one :func:`classify_many` call and the grid they are integrated on."""

    xi: np.ndarray  # (m, n_terms, dim)
    terms: Sequence[Term]
    z0: np.ndarray  # (m, dim)
    scale: np.ndarray  # (m,) reference amplitudes
    bound: np.ndarray  # (m,) divergence bounds on ‖z‖∞
    field: VectorField
    t_end: float
    dt: float
    n_steps: int
    t: np.ndarray  # (n_steps + 1,)

    @property
    def m(self) -> int:
        return self.xi.shape[0]

    @property
    def dim(self) -> int:
        return self.xi.shape[2]

    @property
    def start(self) -> int:
        """The first measured step: the first half of every run is transient."""
        return self.n_steps // 2

    @property
    def window(self) -> int:
        """Steps at the end of a run whose range gives the amplitude (at least)."""
        return max(self.n_steps // 10, 2)

    @property
    def tail_t(self) -> np.ndarray:
        """The measured times."""
        return self.t[self.start :]


def _batch(xi, terms, z0, scale, t_end, dt, bound, trajectory) -> _Batch:
    """The arguments of :func:`classify_many` as arrays, with the defaults of dt and bound and
    the grid (a given trajectory's length decides the number of steps)."""
    xi = np.asarray(xi, float)
    z0 = np.asarray(z0, float)
    m, _, _ = xi.shape
    scale = np.broadcast_to(np.asarray(scale, float), (m,)).copy()
    dt = float(dt) if dt else t_end / 1e4
    n_steps = int(round(t_end / dt))
    if trajectory is not None:  # its grid decides (arange's length may round the other way)
        n_steps = int(np.shape(trajectory[0])[1]) - 1
        t_end = n_steps * dt
    t = np.arange(n_steps + 1) * dt
    if bound is None:
        bound = 100.0 * np.maximum.reduce([np.ones(m), scale, np.max(np.abs(z0), axis=1)])
    bound = np.broadcast_to(np.asarray(bound, float), (m,)).copy()
    field = VectorField(xi, terms)
    return _Batch(xi, terms, z0, scale, bound, field, t_end, dt, n_steps, t)


def _tangent_runs(batch: _Batch, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate the models ``idx`` with the variational equation: their z (k, n_t, dim),
    diverged (k,) and (k, 3) their λ1, its standard error and the tangent's total log growth
    over the measured part (:func:`_benettin`)."""
    zi, di, logs = integrate(
        batch.field.subset(idx),
        batch.z0[idx],
        batch.n_steps,
        batch.dt,
        bound=batch.bound[idx],
        tangent=True,
    )
    exponents = np.array([_benettin(logs[row], batch.dt, batch.start) for row in range(len(idx))])
    return zi, di, exponents


def _reference_runs(
    batch: _Batch, want_lyap: np.ndarray, trajectory: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every model's run from z0: z (m, n_t, dim), diverged (m,) and (m, 3) λ1, its standard
    error and the tangent's log growth (NaN where not computed). The given ``trajectory``,
    else integrated, with the variational equation for the models in ``want_lyap``."""
    m, d = batch.m, batch.dim
    exponents = np.full((m, 3), np.nan)
    if trajectory is not None:
        z, diverged = np.asarray(trajectory[0], float), np.asarray(trajectory[1], bool)
        if z.shape != (m, batch.n_steps + 1, d):
            raise ValueError(f"trajectory of shape {z.shape}, expected ({m}, n_t, {d})")
        return z, diverged, exponents
    z = np.empty((m, batch.n_steps + 1, d))
    diverged = np.zeros(m, bool)
    for subset, with_tangent in ((want_lyap, True), (~want_lyap, False)):
        idx = np.nonzero(subset)[0]
        if not len(idx):
            continue
        if with_tangent:
            z[idx], diverged[idx], exponents[idx] = _tangent_runs(batch, idx)
        else:
            z[idx], diverged[idx], _ = integrate(
                batch.field.subset(idx),
                batch.z0[idx],
                batch.n_steps,
                batch.dt,
                bound=batch.bound[idx],
            )
    return z, diverged, exponents


class _FirstLook(NamedTuple):
    """What a model's reference orbit does, before the tests that decide its kind.

    ``kind`` is ``"diverging"``, ``"stable fixed point"``, ``"unstable fixed point"``,
    ``"cycle"`` (it repeats after ``period``) or ``"aperiodic?"`` (to be decided);
    ``eigenvalue`` the largest real part of the Jacobian's eigenvalues at a fixed point;
    ``lead`` the coordinate of the largest range, ``crossing`` its mean crossing period,
    ``trend`` and ``radius_trend`` the growth of its range and of the RMS radius between the
    halves of the measured part.
    """

    kind: str
    amplitude: float = NAN
    eigenvalue: float = NAN
    lead: int = -1
    crossing: float = NAN
    trend: float = NAN
    radius_trend: float = NAN
    period: float = NAN


def _first_look(batch: _Batch, i: int, z_i: np.ndarray, diverged_i: bool) -> _FirstLook:
    """The first look at model ``i``'s reference orbit ``z_i`` (n_t, dim)."""
    if diverged_i:
        return _FirstLook("diverging")
    zt = z_i[batch.start :]
    amp = _amplitude(z_i[-batch.window :])
    ref = max(float(batch.scale[i]), float(np.max(np.abs(z_i))), 1e-12)
    if amp < 1e-4 * ref:
        eig = np.linalg.eigvals(batch.field.subset(i).jacobian(z_i[-1][None])[0])
        kind = "stable fixed point" if eig.real.max() <= 1e-9 else "unstable fixed point"
        return _FirstLook(kind, amp, eigenvalue=float(eig.real.max()))
    lead = int(np.argmax(zt.max(axis=0) - zt.min(axis=0)))
    crossing, _ = crossing_period(batch.tail_t, zt[:, lead])
    look = _FirstLook(
        "aperiodic?",
        amp,
        lead=lead,
        crossing=crossing,
        trend=_trend(zt, lead),
        radius_trend=_radius_trend(zt),
    )
    if np.isfinite(crossing) and abs(look.trend - 1) <= 0.05:
        period = _periodic(batch.tail_t, zt, crossing, RECURRENCE_TOLERANCE)
        if np.isfinite(period):
            return look._replace(kind="cycle", period=period)
    return look


class _Pending(NamedTuple):
    """A periodic reference orbit waiting for its perturbation test."""

    index: int
    period: float
    crossing: float
    amplitude: float
    floquet: float
    centre: np.ndarray
    direction: np.ndarray
    lead: int


MAY_HIDE_A_REPELLING_CYCLE = ("diverging", "stable fixed point", "decaying")
"""Forward kinds whose orbit may have left a repelling cycle (looked for backwards in time)."""


def _decide(
    batch: _Batch, z: np.ndarray, looks: list[_FirstLook], exponents: np.ndarray
) -> tuple[list[Attractor | None], list[_Pending], list[int]]:
    """The kind of every orbit that is not a cycle (None for the cycles), the cycles waiting
    for their perturbation test, and the models to run backwards in time."""
    results: list[Attractor | None] = [None] * batch.m
    pending: list[_Pending] = []
    backward: list[int] = []
    for i, look in enumerate(looks):
        lam, se, growth = exponents[i]
        if look.kind == "cycle":
            pending.append(_pending_cycle(batch, i, z[i], look))
            continue
        if look.kind == "aperiodic?":
            results[i] = _without_period(batch, z[i], look, lam, se, growth)
        else:
            results[i] = _diverging_or_fixed_point(look, lam, se)
        if results[i].kind in MAY_HIDE_A_REPELLING_CYCLE:
            backward.append(i)
    return results, pending, backward


def _diverging_or_fixed_point(look: _FirstLook, lam: float, se: float) -> Attractor:
    """A diverging orbit, or one that settles (λ1 from the Jacobian where not integrated)."""
    if look.kind == "diverging":
        return Attractor("diverging", description="the orbit leaves every bounded region")
    if not np.isfinite(lam):
        lam = look.eigenvalue
    what = (
        "no unstable direction"
        if look.kind == "stable fixed point"
        else "an unstable direction: the orbit sits on it"
    )
    return Attractor(
        look.kind,
        amplitude=look.amplitude,
        lyapunov=lam,
        lyapunov_se=se,
        description=f"settles to an equilibrium with {what}",
    )


def _pending_cycle(batch: _Batch, i: int, z_i: np.ndarray, look: _FirstLook) -> _Pending:
    """A periodic orbit's mean divergence over whole periods, its amplitude, its centre and the
    direction (from the centre to the last state) of the perturbed starts."""
    zt = z_i[batch.start :]
    t, tail_t, dt, period = batch.t, batch.tail_t, batch.dt, look.period
    cycles = int((tail_t[-1] - tail_t[0]) // period)
    first = np.searchsorted(t, t[-1] - cycles * period)
    floquet = float(np.mean(batch.field.divergence(z_i[first:], i)))
    wz = z_i[-max(batch.window, int(np.ceil(3 * period / dt))) :]
    centre = zt[-int(np.ceil(cycles * period / dt)) :].mean(axis=0)
    direction = z_i[-1] - centre
    if np.linalg.norm(direction) == 0:
        direction = batch.z0[i] - centre
    norm = np.linalg.norm(direction)
    direction = direction / norm if norm > 0 else np.eye(batch.dim)[0]
    return _Pending(
        index=i,
        period=period,
        crossing=look.crossing,
        amplitude=_amplitude(wz),
        floquet=floquet,
        centre=centre,
        direction=direction,
        lead=look.lead,
    )


def _without_period(
    batch: _Batch, z_i: np.ndarray, look: _FirstLook, lam: float, se: float, growth: float
) -> Attractor:
    """A bounded orbit that does not repeat: chaotic, an oscillation or an approach still
    under way, quasi-periodic, or aperiodic."""
    d = batch.dim
    numbers = dict(amplitude=look.amplitude, lyapunov=lam, lyapunov_se=se)
    oscillates = np.isfinite(look.crossing)
    bounded_steady = 0.8 <= look.radius_trend <= 1.25
    chaotic = (
        np.isfinite(lam)
        and lam > CHAOS_SIGMAS * se
        and growth > CHAOS_GROWTH
        and bounded_steady
        and d >= 3
    )
    if chaotic:
        dim = correlation_dimension(z_i[batch.start :], theiler=_theiler(look.crossing, batch.dt))
        return Attractor(
            "chaotic",
            **numbers,
            description=f"bounded and chaotic: λ1 = {_f(lam)} ± {_f(se, 2)}, correlation "
            f"dimension {_f(dim)}",
            dimension=dim,
        )
    if oscillates and (
        (look.trend < 0.95 and look.radius_trend < 0.95)
        or (look.trend > 1.05 and look.radius_trend > 1.05)
    ):
        k = "decaying" if look.trend < 1 else "growing"
        return Attractor(
            k,
            **numbers,
            description=f"an oscillation still {k} at the end of the run (amplitude × "
            f"{_f(look.trend)} between the halves of the measured part)",
        )
    if not oscillates and (
        look.radius_trend < 0.8 or (np.isfinite(lam) and lam < -CHAOS_SIGMAS * se)
    ):
        return Attractor(
            "decaying",
            **numbers,
            description="a slow, non-oscillating approach still under way at the end of the run",
        )
    dim = correlation_dimension(z_i[batch.start :], theiler=_theiler(look.crossing, batch.dt))
    measured = (batch.n_steps - batch.start) * batch.dt
    if (  # λ1 ≈ 0: within 3 standard errors or one e-fold over the measured part
        d >= 3
        and oscillates
        and np.isfinite(lam)
        and abs(lam) <= max(CHAOS_SIGMAS * se, 1.0 / measured)
    ):
        return Attractor(
            "quasi-periodic",
            **numbers,
            description=f"bounded, no single period, λ1 = {_f(lam)} ± {_f(se, 2)} (not "
            f"chaotic); correlation dimension {_f(dim)}",
            dimension=dim,
        )
    return Attractor(
        "aperiodic",
        **numbers,
        description="bounded without a single period, not shown to be chaotic",
        dimension=dim,
    )


def _perturbation_tests(
    batch: _Batch, pending: list[_Pending], exponents: np.ndarray
) -> list[Attractor]:
    """The kind of every pending cycle, from orbits started at 0.5× and 1.5× ``scale`` from its
    centre (all integrated in one batch) and its mean divergence."""
    idx = np.array([p.index for p in pending])
    starts = np.concatenate(
        [
            np.stack([p.centre + f * batch.scale[p.index] * p.direction for p in pending])
            for f in (0.5, 1.5)
        ]
    )
    zp, divp, _ = integrate(
        batch.field.subset(np.concatenate([idx, idx])),
        starts,
        batch.n_steps,
        batch.dt,
        bound=np.concatenate([batch.bound[idx], batch.bound[idx]]),
    )
    n = len(pending)
    out = []
    for row, p in enumerate(pending):
        returns = all(_returned(batch, p, zp[trial], divp[trial]) for trial in (row, row + n))
        lam, se, _ = exponents[p.index]
        out.append(_cycle_kind(p, returns, lam, se))
    return out


def _returned(batch: _Batch, p: _Pending, z_trial: np.ndarray, diverged: bool) -> bool:
    """Whether a perturbed orbit came back to the cycle's amplitude and crossing period (within
    ``RETURN_TOLERANCE``)."""
    if diverged:
        return False
    zt = z_trial[batch.start :]
    wz = z_trial[-max(batch.window, int(np.ceil(3 * p.period / batch.dt))) :]
    amp = _amplitude(wz)
    crossing, _ = crossing_period(batch.tail_t, zt[:, p.lead])
    return bool(
        abs(amp - p.amplitude) <= RETURN_TOLERANCE * p.amplitude
        and abs(crossing - p.crossing) <= RETURN_TOLERANCE * p.crossing
    )


def _cycle_kind(p: _Pending, returns: bool, lam: float, se: float) -> Attractor:
    """A cycle's kind from its mean divergence per period and whether perturbed orbits return."""
    rel = p.floquet * p.period
    numbers = f"period {_f(p.period)}, mean divergence {_f(p.floquet)}"
    if rel >= FLOQUET_MARGIN:
        kind, text = "repelling cycle", f"a cycle that perturbations leave ({numbers})"
    elif returns and rel <= -FLOQUET_MARGIN:
        kind = "attracting limit cycle"
        text = f"a cycle that attracts: perturbed orbits return ({numbers})"
    elif returns:
        kind = "attracting limit cycle"
        text = (
            f"a weakly attracting cycle: perturbed orbits return although the mean "
            f"divergence is within ±{FLOQUET_MARGIN:g}/period ({numbers})"
        )
    elif rel <= -FLOQUET_MARGIN:
        kind = "limit cycle, small basin"
        text = (
            f"a cycle that attracts nearby orbits, but starts at 0.5× or 1.5× the "
            f"reference amplitude go elsewhere ({numbers})"
        )
    else:
        kind = "neutral centre"
        text = f"neutral orbits: perturbed orbits keep their own amplitude ({numbers})"
    return Attractor(
        kind,
        period=p.period,
        amplitude=p.amplitude,
        floquet=p.floquet,
        lyapunov=lam,
        lyapunov_se=se,
        returns=returns,
        description=text,
    )


def _repelling_cycles(
    batch: _Batch, backward: list[int], results: list[Attractor]
) -> list[Attractor]:
    """``results`` with a repelling cycle near the reference amplitude where the forward orbit
    of a model in ``backward`` leaves one: found backwards in time, as an attracting cycle of
    ż = −f (:func:`classify_backward`)."""
    idx = np.array(backward)
    found = classify_backward(
        batch.xi[idx],
        batch.terms,
        batch.z0[idx],
        batch.scale[idx],
        batch.t_end,
        batch.dt,
        batch.bound[idx],
    )
    results = list(results)
    for i, cycle in zip(idx, found, strict=True):
        if cycle is None:
            continue
        period, amp, floquet = cycle
        old = results[i]
        results[i] = Attractor(
            "repelling cycle",
            period=period,
            amplitude=amp,
            floquet=floquet,
            lyapunov=old.lyapunov,
            lyapunov_se=old.lyapunov_se,
            returns=False,
            description=f"a cycle that perturbations leave (period {_f(period)}, mean "
            f"divergence {_f(floquet)}); off it the orbit {_fate(old.kind)}",
        )
    return results


def _fate(kind: str) -> str:
    return {
        "diverging": "diverges",
        "stable fixed point": "settles to a stable equilibrium",
        "decaying": "decays",
    }.get(kind, kind)


def _theiler(crossing: float, dt: float) -> int:
    """The Theiler window (in samples) of the correlation dimension: a quarter crossing period."""
    return max(1, int(0.25 * crossing / dt)) if np.isfinite(crossing) else 10


def classify_backward(xi, terms, z0, scale, t_end, dt, bound):
    """For each model: (period, amplitude, mean divergence of the forward model) of an attracting
    cycle of the time-reversed model ż = −f reached from z0, with amplitude within 0.25–4×
    ``scale``; None where there is none."""
    n_steps = int(round(t_end / dt))
    t = np.arange(n_steps + 1) * dt
    field = VectorField(-np.asarray(xi, float), terms)
    z, diverged, _ = integrate(field, z0, n_steps, dt, bound=bound)
    start = n_steps // 2
    out = []
    for i in range(len(xi)):
        if diverged[i]:
            out.append(None)
            continue
        zt = z[i, start:]
        amp = _amplitude(z[i, -max(n_steps // 10, 2) :])
        if not 0.25 * scale[i] <= amp <= 4 * scale[i]:
            out.append(None)
            continue
        lead = int(np.argmax(np.ptp(zt, axis=0)))
        crossing, _ = crossing_period(t[start:], zt[:, lead])
        if not np.isfinite(crossing) or abs(_trend(zt, lead) - 1) > 0.05:
            out.append(None)
            continue
        period = _periodic(t[start:], zt, crossing, RECURRENCE_TOLERANCE)
        if not np.isfinite(period):
            out.append(None)
            continue
        cycles = int((t[-1] - t[start]) // period)
        first = np.searchsorted(t, t[-1] - cycles * period)
        div = -float(np.mean(field.divergence(z[i, first:], i)))
        out.append((period, amp, div) if div * period >= FLOQUET_MARGIN else None)
    return out


# --- the data's own attractor ----------------------------------------------------------------


def correlation_dimension(z: np.ndarray, *, theiler: int = 10, n_points: int = 1000) -> float:
    """Grassberger–Procaccia correlation dimension of a bounded orbit (n, dim): the slope of
    log C(r) against log r between C = 10⁻³ and 3·10⁻², from ≤ ``n_points`` points evenly
    spaced in time, pairs closer in time than ``theiler`` samples (of the original series)
    left out. NaN when it cannot be measured."""
    z = np.asarray(z, float)
    if z.ndim == 1:
        z = z[:, None]
    stride = max(1, len(z) // n_points)
    pts = z[::stride]
    n = len(pts)
    if n < 50:
        return float("nan")
    w = max(1, int(np.ceil(theiler / stride)))
    dist = pdist(pts)
    i, j = np.triu_indices(n, 1)
    dist = dist[(j - i) > w]
    dist = dist[dist > 0]
    if len(dist) < 100:
        return float("nan")
    dist.sort()
    c = np.arange(1, len(dist) + 1) / len(dist)
    lo, hi = np.searchsorted(c, 1e-3), np.searchsorted(c, 3e-2)
    if hi - lo < 10:
        return float("nan")
    sel = np.unique(np.geomspace(lo + 1, hi, 30).astype(int)) - 1
    slope = np.polyfit(np.log(dist[sel]), np.log(c[sel]), 1)[0]
    return float(slope)


def _uniform(t: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Sort by time and resample at the median spacing (linear interpolation)."""
    order = np.argsort(t, kind="stable")
    t, z = t[order], z[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    t, z = t[keep], z[keep]
    h = float(np.median(np.diff(t)))
    if np.allclose(np.diff(t), h, rtol=1e-6, atol=0):
        return t, z, h
    grid = t[0] + h * np.arange(int(np.floor((t[-1] - t[0]) / h + 1e-9)) + 1)
    return grid, np.stack([np.interp(grid, t, z[:, c]) for c in range(z.shape[1])], 1), h


def _mean_period(z: np.ndarray, h: float) -> float:
    """1 / the power-weighted mean frequency of the (multi-channel) signal, DC left out: the
    characteristic time of Rosenstein's method (for a chaotic signal the FFT peak may be a slow
    switching between lobes; the mean frequency is not)."""
    x = z - z.mean(axis=0)
    power = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)[1:]
    freq = np.fft.rfftfreq(len(x), h)[1:]
    total = power.sum()
    return float(total / np.sum(freq * power)) if total > 0 else float("nan")


def _lag(x: np.ndarray, cap: int) -> int:
    """Delay for an embedding: where the autocorrelation first falls below 1/e (≤ cap)."""
    x = x - x.mean()
    nfft = 1 << int(np.ceil(np.log2(2 * len(x))))
    acf = np.fft.irfft(np.abs(np.fft.rfft(x, nfft)) ** 2, nfft)[: len(x)]
    below = np.nonzero(acf < acf[0] / np.e)[0]
    return int(max(1, min(below[0] if len(below) else cap, cap)))


def _embed(x: np.ndarray, lag: int, dim: int = 3) -> np.ndarray:
    n = len(x) - (dim - 1) * lag
    return np.stack([x[k * lag : k * lag + n] for k in range(dim)], axis=1)


def rosenstein(
    x: np.ndarray,
    h: float,
    *,
    min_separation: int,
    horizon: int,
    n_ref: int = 1500,
    blocks: int = 10,
) -> tuple[float, float]:
    """The largest Lyapunov exponent of a (multi-channel) uniformly sampled orbit by
    Rosenstein, Collins & De Luca (1993): each reference point's nearest neighbour at least
    ``min_separation`` samples away in time, the mean log distance of the pairs followed for
    ``horizon`` samples, and its slope fitted on the linear part (from 10 % to 60 % of the rise
    of the mean log distance to its maximum, before saturation bends it; the whole horizon when
    it rises by less than one e-fold, i.e. there is no exponential divergence). The standard
    error is the spread of the slopes of ``blocks`` contiguous blocks of reference points
    (fitted on the same steps) over √blocks. Its accuracy on Lorenz's attractor, with the
    separation and horizon :func:`data_attractor` sets: benchmarks/README.md,
    "analysis/attractor.py".

    Args:
      x: (n, k) states (delay-embed a scalar signal first).
      h: sample spacing.
      min_separation, horizon: in samples.

    Returns:
      (λ1, standard error); NaN when the series is too short.
    """
    x = np.asarray(x, float)
    n = len(x) - horizon
    if n < 4 * blocks or horizon < 4:
        return float("nan"), float("nan")
    refs = np.unique(np.linspace(0, n - 1, min(n_ref, n)).astype(int))
    cand = np.arange(n)
    nn = np.empty(len(refs), int)
    for lo in range(0, len(refs), 256):
        r = refs[lo : lo + 256]
        d2 = np.sum((x[r, None, :] - x[None, :n, :]) ** 2, axis=2)
        d2[np.abs(r[:, None] - cand[None, :]) <= min_separation] = np.inf
        d2[d2 == 0] = np.inf
        nn[lo : lo + 256] = np.argmin(d2, axis=1)
    steps = np.arange(horizon + 1)
    sep = x[refs[:, None] + steps] - x[nn[:, None] + steps]
    with np.errstate(divide="ignore"):
        logd = np.log(np.linalg.norm(sep, axis=2))
    ok = np.all(np.isfinite(logd), axis=1)
    if ok.sum() < 4 * blocks:
        return float("nan"), float("nan")
    logd = logd[ok]
    y = logd.mean(axis=0)
    rise = y.max() - y[0]
    if rise < 1.0:
        a, b = 0, horizon
    else:
        top = int(np.argmax(y))
        a = int(np.argmax(y >= y[0] + 0.1 * rise))
        b = max(int(np.argmax(y >= y[0] + 0.6 * rise)), a + 3)
        b = min(b, top) if top > a + 3 else b
    tt = steps[a : b + 1] * h
    lam = float(np.polyfit(tt, y[a : b + 1], 1)[0])
    per = [
        np.polyfit(tt, blk.mean(axis=0)[a : b + 1], 1)[0]
        for blk in np.array_split(logd, blocks)
        if len(blk)
    ]
    se = float(np.std(per, ddof=1) / np.sqrt(len(per)))
    return lam, se


def _approach(t: np.ndarray, z: np.ndarray, period: float):
    """Whether the signal approaches its cycle: per-cycle RMS radius about the final centre;
    returns (returns, rate, first deviation) with returns None when the data start on their
    cycle (deviation within max(1 %, 5 noise sigmas))."""
    n_cycles = int((t[-1] - t[0]) // period)
    if n_cycles < 6:
        return None, float("nan"), float("nan")
    edges = t[0] + period * np.arange(n_cycles + 1)
    idx = np.searchsorted(t, edges)
    last = n_cycles - n_cycles // 3
    centre = z[idx[last] : idx[-1]].mean(axis=0)
    radius = np.array(
        [
            np.sqrt(np.mean(np.sum((z[idx[k] : idx[k + 1]] - centre) ** 2, axis=1)))
            for k in range(n_cycles)
        ]
    )
    final = radius[last:].mean()
    noise = radius[last:].std(ddof=1) if n_cycles - last > 1 else 0.0
    dev = (radius - final) / final
    first = float(dev[0])
    if abs(first) <= max(0.01, 5 * noise / final):
        return None, float("nan"), first
    middle = dev[n_cycles // 3 : last]
    if len(middle) and np.mean(np.abs(middle)) <= 0.5 * abs(first):
        tc = 0.5 * (edges[:-1] + edges[1:])
        # the initial run of cycles still clearly off the final one, on the same side
        off = (np.abs(dev) > 3 * max(noise / final, 1e-3)) & (np.sign(dev) == np.sign(first))
        run = int(np.argmin(off)) if not off.all() else len(off)
        run = min(run, last)
        rate = float("nan")
        if run >= 2:
            rate = float(np.polyfit(tc[:run], np.log(np.abs(dev[:run])), 1)[0])
        return True, rate, first
    return False, float("nan"), first


def data_attractor(t: np.ndarray, z: np.ndarray) -> Attractor:
    """The attractor of the data, from one time series.

    Args:
      t: (n,) times (sorted or not, non-uniform spacing accepted: resampled at the median
        spacing by linear interpolation).
      z: (n,) or (n, k) the signal: the encoded test trajectory, or the data's principal
        components (a scalar signal is delay-embedded in 3-D at a quarter period).

    Returns:
      :class:`Attractor`: periodic or not, the largest Lyapunov exponent (Rosenstein) with its
      standard error, the correlation dimension of an aperiodic signal, and — for a cycle —
      whether it attracts (``returns``; None when the data start on their cycle, which one
      orbit cannot judge) with the rate of approach in ``floquet``.
    """
    t = np.asarray(t, float)
    z = np.asarray(z, float)
    if z.ndim == 1:
        z = z[:, None]
    t, z, h = _uniform(t, z)
    n = len(t)
    if n < 32:
        return Attractor("aperiodic", description="too short a signal to judge")
    spread = np.sqrt(np.mean(np.sum((z - z.mean(axis=0)) ** 2, axis=1)))
    last = z[-max(n // 10, 4) :]
    amp = _amplitude(z[-n // 3 :])
    if spread == 0 or np.sqrt(np.mean(np.sum((last - last.mean(0)) ** 2, 1))) < 1e-3 * spread:
        return Attractor(
            "stable fixed point", amplitude=amp, description="the signal settles to a constant"
        )
    period = signal_period(z, h)
    half = slice(n // 2, None)
    rec_period = NAN
    if np.isfinite(period):
        rec_period = _periodic(t[half], z[half], period, DATA_RECURRENCE_TOLERANCE)
        if np.isfinite(rec_period) and rec_period > period * 1.5:
            rec_period = NAN  # only the dominant period itself counts for data
    char = _mean_period(z, h)
    if not np.isfinite(char):
        char = period if np.isfinite(period) else (t[-1] - t[0]) / 20
    states = z if z.shape[1] > 1 else _embed(z[:, 0], _lag(z[:, 0], int(char / (4 * h))))
    sep = max(1, int(round(char / h)))
    horizon = int(min(len(states) // 4, round(10 * char / h)))
    lam, se = rosenstein(states, h, min_separation=sep, horizon=horizon)
    if np.isfinite(rec_period):
        return _data_cycle(t, z, rec_period, amp, lam, se)
    dim = correlation_dimension(states, theiler=max(1, sep // 4))
    numbers = dict(amplitude=amp, lyapunov=lam, lyapunov_se=se, dimension=dim)
    if np.isfinite(lam) and lam > CHAOS_SIGMAS * se and lam > 0:
        return Attractor(
            "chaotic",
            **numbers,
            description=f"aperiodic and chaotic: λ1 = {_f(lam)} ± {_f(se, 2)}, correlation "
            f"dimension {_f(dim)}",
        )
    kind = "quasi-periodic" if states.shape[1] >= 3 else "aperiodic"
    return Attractor(
        kind,
        **numbers,
        description=f"no single period, λ1 = {_f(lam)} ± {_f(se, 2)} (not chaotic); "
        f"correlation dimension {_f(dim)}",
    )


def _data_cycle(
    t: np.ndarray, z: np.ndarray, period: float, amp: float, lam: float, se: float
) -> Attractor:
    """The kind of a periodic signal (uniformly sampled): whether it approaches its cycle
    (:func:`_approach`), moves away from it, or starts on it (which one orbit cannot judge)."""
    returns, rate, first = _approach(t, z, period)
    numbers = f"period {_f(period)}, λ1 = {_f(lam)} ± {_f(se, 2)}"
    measured = dict(period=period, amplitude=amp, lyapunov=lam, lyapunov_se=se, returns=returns)
    if returns is True:
        return Attractor(
            "attracting limit cycle",
            floquet=rate,
            **measured,
            description=f"a cycle that attracts: the signal starts {100 * abs(first):.0f} % "
            f"{'inside' if first < 0 else 'outside'} its final cycle and approaches it "
            f"(rate {_f(rate)}; {numbers})",
        )
    if returns is False:
        return Attractor(
            "growing" if first < 0 else "decaying",
            **measured,
            description=f"an oscillation whose amplitude has not settled ({numbers})",
        )
    return Attractor(
        "periodic orbit",
        **measured,
        description=f"periodic ({numbers}); it starts on its cycle, so whether the cycle "
        "attracts cannot be judged from one orbit",
    )


# --- in plain words --------------------------------------------------------------------------

_ATTRACTS = ("attracting limit cycle",)
_NEUTRAL_OR_WEAK = ("neutral centre", "limit cycle, small basin", "repelling cycle")


def _lam(a: Attractor) -> str:
    return f"λ1 = {_f(a.lyapunov, 2)} ± {_f(a.lyapunov_se, 1)}"


def compare(model: Attractor, data: Attractor) -> str:
    """The model's kind beside the data's, in plain words, e.g. ``"attracting limit cycle,
    like the data"``, ``"neutral centre: the data's cycle attracts, this model's orbits do
    not"`` or ``"chaotic (λ1 = 0.85 ± 0.05), like the data (λ1 = 0.91 ± 0.08)"``."""
    mk, dk = model.kind, data.kind
    if mk == "chaotic" and dk == "chaotic":
        return f"chaotic ({_lam(model)}), like the data ({_lam(data)})"
    if mk == "chaotic":
        return f"chaotic ({_lam(model)}): the data are not ({dk})"
    if dk == "chaotic":
        return f"{mk}: the data are chaotic ({_lam(data)}), this model is not"
    if mk == dk:
        return f"{mk}, like the data"
    if dk == "attracting limit cycle":
        if mk in _NEUTRAL_OR_WEAK:
            what = {
                "neutral centre": "this model's orbits do not",
                "limit cycle, small basin": "this model's only from nearby",
                "repelling cycle": "this model's repels",
            }[mk]
            return f"{mk}: the data's cycle attracts, {what}"
        return f"{mk}: the data settle on an attracting cycle, this model does not"
    if dk == "periodic orbit":
        if mk in ("attracting limit cycle", "neutral centre", "limit cycle, small basin"):
            return (
                f"{mk}: the data are periodic too (whether their cycle attracts cannot be "
                "judged from one orbit)"
            )
        return f"{mk}: the data are periodic"
    if dk in ("quasi-periodic", "aperiodic"):
        return f"{mk}: the data are {dk}"
    phrase = {
        "stable fixed point": "the data settle to a steady state",
        "decaying": "the data's oscillation decays",
        "growing": "the data's oscillation grows",
    }.get(dk, f"the data: {dk}")
    return f"{mk}: {phrase}"
