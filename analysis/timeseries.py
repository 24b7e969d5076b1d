"""Time series with the times they were taken at: a signal sampled at non-uniform times put on a
uniform grid, so that spectral estimates (the data's period) see the true time axis."""

from __future__ import annotations

import numpy as np

__all__ = ["is_uniform", "on_uniform_grid", "uniform_grid"]

UNIFORM_TOLERANCE = 1e-3
"""Relative spread of the time steps below which the times count as uniform."""


def is_uniform(t: np.ndarray) -> bool:
    """Whether the time steps of one trajectory are equal to within ``UNIFORM_TOLERANCE``."""
    steps = np.diff(np.asarray(t, np.float64))
    return len(steps) < 2 or float(np.ptp(steps)) <= UNIFORM_TOLERANCE * float(np.median(steps))


def uniform_grid(t: np.ndarray) -> np.ndarray:
    """A uniform grid over ``t``'s span at its median step."""
    t = np.asarray(t, np.float64)
    step = float(np.median(np.diff(t)))
    return t[0] + step * np.arange(int(np.floor((t[-1] - t[0]) / step + 1e-9)) + 1)


def on_uniform_grid(
    t: np.ndarray | None, signal: np.ndarray, dt: float | None
) -> tuple[np.ndarray, float | None]:
    """``signal`` (n, ...) at times ``t`` on a uniform grid at the median step, by linear
    interpolation, and that step. Uniform times (or none: ``dt`` is the step) return the signal
    as it is."""
    if t is None or len(t) < 3:
        return signal, dt
    t = np.asarray(t, np.float64)
    step = float(np.median(np.diff(t)))
    if not step > 0:
        return signal, dt
    if is_uniform(t):
        return signal, step
    grid = uniform_grid(t)
    values = np.asarray(signal, np.float64).reshape(len(t), -1)
    columns = [np.interp(grid, t, values[:, k]) for k in range(values.shape[1])]
    return np.stack(columns, axis=1).reshape(len(grid), *np.shape(signal)[1:]), step
