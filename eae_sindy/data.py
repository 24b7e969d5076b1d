"""Snapshots as users have them, made into what a run needs: one or several trajectories of x(t),
times uniform or not, with or without time derivatives.

:func:`as_trajectories` takes pysindy's calling convention — ``x`` an (n_snapshots, n_features)
array or a list of them (trajectories, ragged lengths allowed), ``t`` an array, a list of arrays,
a scalar time step or nothing, ``x_dot`` optional with the structure of ``x`` — checks every
part (naming the trajectory and the index of a problem), and returns the trajectories
concatenated (:class:`Trajectories`), with the id of each snapshot's trajectory. Missing
derivatives are estimated per trajectory with pysindy's differentiation
(:func:`estimate_derivatives`), on non-uniform times too, and :func:`noise_level` estimates the
data's noise from the same smoothing. :func:`trajectory_bounds` gives each trajectory's
snapshots, which the split, the data's period and the integrated windows respect.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np

from analysis.timeseries import is_uniform, uniform_grid
from simulators import DatasetError

__all__ = [
    "DIFFERENTIATION",
    "Differentiation",
    "Trajectories",
    "as_trajectories",
    "estimate_derivatives",
    "noise_level",
    "trajectory_bounds",
    "is_uniform",
]

Differentiation = Literal["smoothed_finite_difference", "finite_difference"]

DIFFERENTIATION: dict[str, str] = {
    "smoothed_finite_difference": (
        "Savitzky-Golay smoothing (window 11, cubic) then second-order finite differences "
        "(pysindy.SmoothedFiniteDifference)"
    ),
    "finite_difference": "second-order finite differences (pysindy.FiniteDifference)",
}
"""The ways ẋ can be estimated from x and t (``[data] differentiation``) and what each does."""

SMOOTHING_WINDOW = 11
SMOOTHING_ORDER = 3
_COLUMNS_AT_ONCE = 2048  # features differentiated together: bounds the float64 working copies


class Trajectories(NamedTuple):
    """Every trajectory's snapshots, concatenated in order.

    Attributes:
      x, dx: (n_snapshots, n_features) float32.
      t: (n_snapshots,) float64, strictly increasing within each trajectory.
      trajectory: (n_snapshots,) int32, the trajectory of each snapshot (0, 1, ...; contiguous).
      derivatives: "given", or the ``DIFFERENTIATION`` method ẋ was estimated with.
      noise: the data's estimated noise, RMS relative to the RMS of x about its mean (None when
        ẋ was given and no estimate was asked for).
    """

    x: np.ndarray
    dx: np.ndarray
    t: np.ndarray
    trajectory: np.ndarray
    derivatives: str
    noise: float | None

    @property
    def n_trajectories(self) -> int:
        return int(self.trajectory[-1]) + 1 if len(self.trajectory) else 0


def trajectory_bounds(trajectory: np.ndarray | None, n_snapshots: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each trajectory's snapshots (one trajectory when ``trajectory`` is
    None)."""
    if trajectory is None or len(trajectory) == 0:
        return [(0, n_snapshots)]
    starts = np.flatnonzero(np.diff(trajectory)) + 1
    edges = [0, *starts.tolist(), len(trajectory)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _as_list(value: Any, name: str) -> list[Any]:
    """A list of per-trajectory parts: a list/tuple as given, a 3-D array split along axis 0,
    anything else as one part."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise DatasetError(f"{name}: an empty list (give one array per trajectory)")
        return list(value)
    array = _array(value, name)
    return list(array) if array.ndim == 3 else [array]


def _array(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as error:  # noqa: BLE001 - anything that is not array-like
        raise DatasetError(f"{name}: not an array ({error})") from None


def _snapshots(value: Any, name: str) -> np.ndarray:
    """One trajectory's x or ẋ as float32 (n, n_features), checked."""
    array = _array(value, name)
    if array.ndim != 2 or not (
        np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)
    ):
        raise DatasetError(
            f"{name}: expected a 2-D real array (n_snapshots, n_features), got shape "
            f"{array.shape} of dtype {array.dtype}"
        )
    if not np.isfinite(array).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise DatasetError(f"{name}: contains non-finite values (first at index {first})")
    largest = max(float(array.max(initial=0)), -float(array.min(initial=0)))  # no |x| copy
    if largest > float(np.finfo(np.float32).max):
        raise DatasetError(f"{name}: values beyond the float32 range (|v| > 3.4e38); rescale")
    return array.astype(np.float32, copy=False)  # data read as float32 stay put


def _times(t: Any, lengths: list[int], names: list[str]) -> list[np.ndarray]:
    """Each trajectory's times as float64, checked: ``t`` None (0, 1, 2, ...), a scalar step,
    one array (one trajectory, or every trajectory when all have its length) or one per
    trajectory."""
    if t is None:
        return [np.arange(n, dtype=np.float64) for n in lengths]
    if isinstance(t, (list, tuple)) and len(lengths) > 1:
        if len(t) != len(lengths):
            raise DatasetError(f"t: {len(t)} time arrays for {len(lengths)} trajectories")
        parts = [_array(v, f"t[{i}]") for i, v in enumerate(t)]
    else:
        array = _array(t, "t")
        if array.ndim == 0:
            step = float(array)
            if not (np.isfinite(step) and step > 0):
                raise DatasetError(f"t: a time step must be positive and finite, got {step}")
            return [np.arange(n, dtype=np.float64) * step for n in lengths]
        if array.ndim == 2 and len(lengths) > 1:
            parts = list(array)
        elif len(lengths) > 1 and array.ndim == 1 and all(n == len(array) for n in lengths):
            parts = [array] * len(lengths)
        else:
            parts = [array]
    times = []
    for part, n, name in zip(parts, lengths, names, strict=False):
        where = "t" if len(lengths) == 1 else f"t of {name}"
        try:
            values = np.asarray(part, np.float64)
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: not numeric ({np.asarray(part).dtype})") from None
        if values.shape != (n,) or not np.isfinite(values).all():
            raise DatasetError(
                f"{where}: expected {n} finite times (one per snapshot), got shape {values.shape}"
            )
        steps = np.diff(values)
        if np.any(steps <= 0):
            first = int(np.argmax(steps <= 0))
            raise DatasetError(
                f"{where}: must increase strictly (t[{first + 1}] = {values[first + 1]} "
                f"follows t[{first}] = {values[first]}); give several trajectories as a list"
            )
        times.append(values)
    if len(times) != len(lengths):
        raise DatasetError(
            f"t: {len(parts)} time array(s) for {len(lengths)} trajectories of lengths "
            f"{lengths[:5]}{' ...' if len(lengths) > 5 else ''}; give one array per trajectory "
            "(a list), or a scalar time step"
        )
    return times


def _smoothing_window(n: int) -> int:
    """The Savitzky-Golay window for ``n`` snapshots: 11, or the largest odd number ≤ n."""
    return min(SMOOTHING_WINDOW, n if n % 2 else n - 1)


def estimate_derivatives(
    x: np.ndarray, t: np.ndarray, method: Differentiation = "smoothed_finite_difference"
) -> np.ndarray:
    """ẋ of one trajectory (float32, the shape of ``x``) by ``method`` (``DIFFERENTIATION``).

    Non-uniform times: finite differences use the true times; the smoothed method interpolates
    x onto a uniform grid at the median step (cubic spline), smooths and differentiates there,
    and interpolates ẋ back to ``t`` (a Savitzky-Golay filter assumes equal steps).
    """
    import pysindy as ps
    from scipy.interpolate import CubicSpline

    n = len(t)
    if n < 3:
        raise DatasetError(f"a trajectory of {n} snapshots: at least 3 are needed for ẋ")
    if method not in DIFFERENTIATION:
        raise ValueError(f"unknown differentiation {method!r}; one of {sorted(DIFFERENTIATION)}")
    uniform = is_uniform(t)
    out = np.empty(x.shape, np.float32)
    for start in range(0, x.shape[1], _COLUMNS_AT_ONCE):
        block = np.asarray(x[:, start : start + _COLUMNS_AT_ONCE], np.float64)
        if method == "finite_difference":
            step = float(t[1] - t[0]) if uniform else t
            derivative = ps.FiniteDifference(order=2)(block, step)
        else:
            window = _smoothing_window(n if uniform else len(uniform_grid(t)))
            if window <= SMOOTHING_ORDER:
                derivative = ps.FiniteDifference(order=2)(block, t)
            else:
                smoothed = ps.SmoothedFiniteDifference(
                    smoother_kws={"window_length": window, "polyorder": SMOOTHING_ORDER}
                )
                if uniform:
                    derivative = smoothed(block, float(t[1] - t[0]))
                else:
                    grid = uniform_grid(t)
                    on_grid = CubicSpline(t, block, axis=0)(grid)
                    slope = smoothed(on_grid, float(grid[1] - grid[0]))
                    derivative = CubicSpline(grid, slope, axis=0, extrapolate=True)(t)
        out[:, start : start + block.shape[1]] = derivative
    return out


def noise_level(x: np.ndarray, t: np.ndarray, trajectory: np.ndarray | None = None) -> float:
    """The data's noise: the RMS of x minus its Savitzky-Golay smoothing (window 11, cubic; on
    the uniform grid for non-uniform times), corrected for the part of white noise the filter
    keeps, relative to the RMS of x about its mean. A smooth signal sampled densely reads ~0;
    white noise of RMS σ reads σ / RMS(x)."""
    from scipy.interpolate import CubicSpline
    from scipy.signal import savgol_coeffs, savgol_filter

    squares, count = 0.0, 0
    for start, stop in trajectory_bounds(trajectory, len(t)):
        times, block = t[start:stop], x[start:stop]
        if not is_uniform(times):
            grid = uniform_grid(times)
            block = CubicSpline(times, np.asarray(block, np.float64), axis=0)(grid)
        window = _smoothing_window(len(block))
        if window <= SMOOTHING_ORDER + 1:
            continue
        kept = float(savgol_coeffs(window, SMOOTHING_ORDER)[window // 2])
        for column in range(0, block.shape[1], _COLUMNS_AT_ONCE):
            part = np.asarray(block[:, column : column + _COLUMNS_AT_ONCE], np.float64)
            residual = part - savgol_filter(part, window, SMOOTHING_ORDER, axis=0)
            squares += float(np.sum(residual**2)) / (1.0 - kept)
            count += residual.size
    spread = float(np.sqrt(np.mean((x - x.mean(axis=0, dtype=np.float64)) ** 2)))
    if count == 0 or spread == 0:
        return float("nan")
    return float(np.sqrt(squares / count)) / spread


def as_trajectories(
    x: Any,
    t: Any = None,
    x_dot: Any = None,
    *,
    differentiation: Differentiation = "smoothed_finite_difference",
) -> Trajectories:
    """Check and concatenate users' snapshots (see the module docstring); ẋ estimated per
    trajectory by ``differentiation`` when ``x_dot`` is None.

    Raises:
      DatasetError: naming the part (``x[2]``, ``t of x[2]``, ``x_dot[0]``) and what is wrong.
    """
    several = isinstance(x, (list, tuple)) or (_array(x, "x").ndim == 3)
    parts = _as_list(x, "x")
    names = [f"x[{i}]" for i in range(len(parts))] if several else ["x"]
    xs = [_snapshots(p, name) for p, name in zip(parts, names, strict=True)]
    features = {a.shape[1] for a in xs}
    if len(features) > 1:
        raise DatasetError(f"x: trajectories have different numbers of features {sorted(features)}")
    lengths = [a.shape[0] for a in xs]
    times = _times(t, lengths, names)
    if x_dot is None:
        dxs = [estimate_derivatives(a, s, differentiation) for a, s in zip(xs, times, strict=True)]
        derivatives = differentiation
    else:
        dot_parts = _as_list(x_dot, "x_dot")
        if len(dot_parts) != len(xs):
            raise DatasetError(f"x_dot: {len(dot_parts)} arrays for {len(xs)} trajectories")
        dxs = []
        for part, a, name in zip(dot_parts, xs, names, strict=True):
            dot_name = name.replace("x", "x_dot", 1)
            dot = _snapshots(part, dot_name)
            if dot.shape != a.shape:
                raise DatasetError(f"{dot_name}: shape {dot.shape} does not match {name} {a.shape}")
            dxs.append(dot)
        derivatives = "given"
    trajectory = np.repeat(np.arange(len(xs), dtype=np.int32), lengths)
    x_all = xs[0] if len(xs) == 1 else np.concatenate(xs)
    dx_all = dxs[0] if len(dxs) == 1 else np.concatenate(dxs)
    t_all = np.concatenate(times)
    noise = noise_level(x_all, t_all, trajectory) if x_dot is None else None
    return Trajectories(x_all, dx_all, t_all, trajectory, derivatives, noise)
