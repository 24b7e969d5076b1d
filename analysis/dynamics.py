"""Integrating identified latent equations and measuring their oscillations.

``simulate`` integrates ż = Θ(z) Ξ with ``scipy.integrate.odeint``; a trajectory that leaves a
ball of radius ``bound`` is frozen there and flagged as diverged (so a blow-up never floods the
output with LSODA warnings or overflows). ``analyse_orbit`` classifies the long-time behaviour
and measures the period (mean spacing of upward mean-crossings, linearly interpolated, after the
transient) and the amplitude; ``signal_period`` measures the period of the data itself from its
principal-component signal (FFT peak, refined on the autocorrelation with a parabola).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.integrate import odeint

from analysis.library import Term
from analysis.vector_field import VectorField, integrate

__all__ = [
    "Orbit",
    "make_rhs",
    "simulate",
    "simulate_many",
    "crossing_period",
    "analyse_orbit",
    "describe_orbit",
    "describe_many",
    "signal_period",
]


def make_rhs(xi: np.ndarray, terms: Sequence[Term]):
    """A fast f(z) = Θ(z) Ξ for a single state z: (latent_dim,) → list of latent_dim floats.

    Plain Python float arithmetic: for the few terms of a latent library it is several times
    faster than NumPy's per-call overhead, and odeint calls f thousands of times.
    """
    xi = np.asarray(xi, dtype=float)
    dim = xi.shape[1]
    factors = []
    for term in terms:
        if term.kind == "sin":
            factors.append(("sin", term.powers.index(1)))
        else:
            factors.append(("poly", [(i, p) for i, p in enumerate(term.powers) if p]))
    rows = [
        (kind, arg, [float(c) for c in xi[k]])
        for k, (kind, arg) in enumerate(factors)
        if np.any(xi[k] != 0)
    ]

    def f(z) -> list[float]:
        zl = [float(v) for v in z]
        out = [0.0] * dim
        for kind, arg, coefs in rows:
            if kind == "sin":
                v = math.sin(zl[arg])
            else:
                v = 1.0
                for i, p in arg:
                    v *= zl[i] ** p
            for j in range(dim):
                out[j] += coefs[j] * v
        return out

    return f


def simulate(
    xi: np.ndarray, terms: Sequence[Term], z0: np.ndarray, t: np.ndarray, *, bound: float = 1e3
) -> tuple[np.ndarray, bool]:
    """Integrate ż = Θ(z) Ξ with odeint.

    Args:
      xi: (n_terms, latent_dim).
      terms: the library.
      z0: (latent_dim,) initial state.
      t: (n_t,) output times, increasing, t[0] is the time of z0.
      bound: the trajectory is stopped (frozen) once ‖z‖∞ exceeds this.

    Returns:
      z: (n_t, latent_dim) and whether the trajectory diverged (left the bound, became non-finite
      or the integrator failed).
    """
    f = make_rhs(xi, terms)
    dim = len(z0)

    def rhs(z, _t):
        # Freeze the state outside the bound (or non-finite) instead of letting it blow up.
        if not all(abs(v) <= bound for v in z):
            return [0.0] * dim
        try:
            return f(z)
        except OverflowError:
            return [0.0] * dim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z, info = odeint(rhs, np.asarray(z0, dtype=float), t, full_output=True, mxstep=5000)
    failed = info["message"] != "Integration successful."
    diverged = bool(failed or not np.all(np.isfinite(z)) or np.max(np.abs(z)) > bound)
    return z, diverged


def crossing_period(t: np.ndarray, x: np.ndarray) -> tuple[float, int]:
    """Mean spacing of the upward crossings of x through its mean (linear interpolation).

    Returns:
      (period, number of crossings); period is NaN with fewer than 3 crossings.
    """
    y = x - x.mean()
    idx = np.nonzero((y[:-1] < 0) & (y[1:] >= 0))[0]
    if len(idx) < 3:
        return float("nan"), len(idx)
    frac = -y[idx] / (y[idx + 1] - y[idx])
    tc = t[idx] + frac * (t[idx + 1] - t[idx])
    # (last − first)/(n − 1) equals the mean spacing and is insensitive to jitter in between.
    return float((tc[-1] - tc[0]) / (len(tc) - 1)), len(tc)


class Orbit(NamedTuple):
    """Long-time behaviour of one identified model.

    Attributes:
      t, z: the trajectory, (n_t,) and (n_t, latent_dim).
      status: ``"limit_cycle"`` (steady oscillation), ``"decaying"`` / ``"growing"``
        (oscillation whose amplitude still changes by > 5 % per quarter of the run),
        ``"fixed_point"``, ``"aperiodic"`` or ``"diverged"``.
      period: NaN unless oscillating.
      amplitude: (latent_dim,) half peak-to-peak range after the transient.
      n_cycles: number of full cycles the period was measured on.
    """

    t: np.ndarray
    z: np.ndarray
    status: str
    period: float
    amplitude: np.ndarray
    n_cycles: int


def analyse_orbit(
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    *,
    t_end: float,
    dt: float,
    transient: float = 0.5,
    bound: float = 1e3,
) -> Orbit:
    """Integrate from z0 to t_end and describe the attractor reached.

    Args:
      xi: (n_terms, latent_dim).
      terms: the library.
      z0: (latent_dim,).
      t_end: length of the run.
      dt: output spacing (the period is interpolated between outputs).
      transient: fraction of the run discarded before measuring.
      bound: divergence bound on ‖z‖∞.

    Returns:
      ``Orbit``.
    """
    t = np.arange(0.0, t_end + 0.5 * dt, dt)
    z, diverged = simulate(xi, terms, z0, t, bound=bound)
    return describe_orbit(t, z, diverged, transient=transient)


def describe_orbit(
    t: np.ndarray, z: np.ndarray, diverged: bool, *, transient: float = 0.5
) -> Orbit:
    """Classify a computed trajectory (see :class:`Orbit`): steady oscillation when the peak-to-
    peak range of the leading coordinate changes by ≤ 5 % between the halves of the measured
    part (the run after ``transient``), its period from upward mean-crossings."""
    d = z.shape[1]
    if diverged:
        return Orbit(t, z, "diverged", float("nan"), np.full(d, np.nan), 0)
    tail = slice(int(transient * len(t)), None)
    zt, tt = z[tail], t[tail]
    amplitude = 0.5 * (zt.max(axis=0) - zt.min(axis=0))
    scale = max(float(np.max(np.abs(z))), 1e-12)
    if amplitude.max() < 1e-4 * scale:
        return Orbit(t, z, "fixed_point", float("nan"), amplitude, 0)
    lead = int(np.argmax(amplitude))
    period, n_cross = crossing_period(tt, zt[:, lead])
    if not np.isfinite(period):
        return Orbit(t, z, "aperiodic", float("nan"), amplitude, 0)
    half = len(zt) // 2
    a1 = np.ptp(zt[:half, lead])
    a2 = np.ptp(zt[half:, lead])
    ratio = a2 / a1 if a1 > 0 else np.inf
    status = "limit_cycle" if abs(ratio - 1) <= 0.05 else ("decaying" if ratio < 1 else "growing")
    return Orbit(t, z, status, period, amplitude, n_cross - 1)


def simulate_many(
    xi: np.ndarray,
    terms: Sequence[Term],
    z0: np.ndarray,
    t: np.ndarray,
    *,
    bound: float = 1e3,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate many models at once with classical RK4 on the uniform grid ``t``.

    For the distribution of dynamics over an ensemble (hundreds of models): one vectorised step
    for all of them, where :func:`simulate` integrates one model adaptively. Choose the spacing
    well below the period (the analysis uses period/100). A model whose state leaves the ball of
    radius ``bound`` (or becomes non-finite) is frozen there and flagged as diverged. The
    stepping is ``analysis.vector_field.integrate`` (monomials built one product each, over
    contiguous vectors of the models).

    Args:
      xi: (m, n_terms, latent_dim).
      terms: the library.
      z0: (m, latent_dim) initial states.
      t: (n_t,) uniformly spaced output times, t[0] the time of z0.

    Returns:
      z: (m, n_t, latent_dim) and diverged: (m,) bool.
    """
    z0 = np.asarray(z0, dtype=float)
    if len(t) < 2:
        return z0[:, None, :].copy(), ~np.all(np.abs(z0) <= bound, axis=1)
    h = float(t[1] - t[0])
    z, diverged, _ = integrate(VectorField(xi, terms), z0, len(t) - 1, h, bound=bound)
    return z, diverged


def describe_many(t: np.ndarray, z: np.ndarray, diverged: np.ndarray) -> list[Orbit]:
    """:func:`describe_orbit` of every trajectory of :func:`simulate_many`."""
    return [describe_orbit(t, z_i, bool(d)) for z_i, d in zip(z, diverged, strict=True)]


def _parabola(y0: float, y1: float, y2: float) -> float:
    denom = y0 - 2 * y1 + y2
    return 0.0 if denom == 0 else 0.5 * (y0 - y2) / denom


def signal_period(signal: np.ndarray, dt: float) -> float:
    """Dominant oscillation period of a (multi-channel) signal.

    The FFT power (Hann window, summed over channels, DC excluded) gives a coarse period; the
    autocorrelation (summed over channels, unbiased normalisation) is then maximised within ±30 %
    of it and the lag refined by a parabola through the three samples around the maximum.

    Args:
      signal: (n,) or (n, k), uniformly sampled.
      dt: sample spacing.

    Returns:
      The period, or NaN when the signal is constant or shorter than ~2 periods.
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    x = x - x.mean(axis=0)
    if n < 8 or not np.any(x):
        return float("nan")
    power = (np.abs(np.fft.rfft(x * np.hanning(n)[:, None], axis=0)) ** 2).sum(axis=1)
    k = int(np.argmax(power[1:])) + 1
    if 1 <= k < len(power) - 1:
        logp = np.log(power[k - 1 : k + 2] + 1e-300)
        k_ref = k + _parabola(*logp)
    else:
        k_ref = float(k)
    coarse = n * dt / k_ref
    lag_c = coarse / dt
    lo, hi = max(1, int(0.7 * lag_c)), min(n - 2, int(np.ceil(1.3 * lag_c)) + 1)
    if hi <= lo + 1 or lag_c > n / 2:
        return float(coarse)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft, axis=0)
    acf = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=0)[:n].sum(axis=1)
    acf = acf / (n - np.arange(n))
    m = lo + int(np.argmax(acf[lo:hi]))
    return float((m + _parabola(acf[m - 1], acf[m], acf[m + 1])) * dt)
