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
(:func:`integrate`, which ``analysis.dynamics.simulate_many`` also uses), vectorised over many
models at once (:func:`classify_many`), a few models one by one in generated plain-Python code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.spatial.distance import pdist

from analysis.dynamics import crossing_period, signal_period
from analysis.library import Term

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
    """

    kind: str
    period: float
    amplitude: float
    floquet: float
    lyapunov: float
    lyapunov_se: float
    returns: bool | None
    description: str
    dimension: float = float("nan")


# --- the vector field ------------------------------------------------------------------------


class VectorField:
    """ż = Θ(z) Ξ and its directional derivative J(z) w for m models of one library, vectorised
    over the models.

    States are held coordinate-major, (dim, m), so every operation runs on contiguous vectors
    over the models. Each monomial is one product of a lower monomial and one coordinate (a
    short program built once), and the tangent J(z) w is carried through the same program in
    forward mode (d(a·z_i) = da·z_i + a·w_i), so f and J w cost about two evaluations of Θ.
    """

    def __init__(self, xi: np.ndarray, terms: Sequence[Term]):
        xi = np.asarray(xi, dtype=float)
        if xi.ndim == 2:
            xi = xi[None]
        self.m, n_terms, self.dim = xi.shape
        if n_terms != len(terms):
            raise ValueError(f"xi has {n_terms} terms, the library {len(terms)}")
        self.terms = list(terms)
        self.xi_t = np.ascontiguousarray(xi.transpose(1, 2, 0))  # (k, dim, m)
        # program: slot ← (source slot or −1, coordinate); library term → its slot or sine
        slots: dict[tuple[int, ...], int] = {}
        program: list[tuple[int, int]] = []

        def slot(powers: tuple[int, ...]) -> int:
            if powers in slots:
                return slots[powers]
            i = next(c for c, p in enumerate(powers) if p)
            lower = tuple(p - (c == i) for c, p in enumerate(powers))
            src = -1 if not any(lower) else slot(lower)
            program.append((src, i))
            slots[powers] = len(program) - 1
            return slots[powers]

        self.outputs = []
        for t in terms:
            if t.kind == "sin":
                self.outputs.append(("sin", t.powers.index(1)))
            elif not any(t.powers):
                self.outputs.append(("one", 0))
            else:
                self.outputs.append(("poly", slot(tuple(t.powers))))
        self.program = program

    def _theta(self, z: np.ndarray, w: np.ndarray | None = None):
        """Θ (k, N) at z (dim, N), and with w (dim, N) also its derivative along w."""
        vals: list[np.ndarray] = []
        dvals: list[np.ndarray] = []
        for src, i in self.program:
            if src < 0:
                vals.append(z[i])
                if w is not None:
                    dvals.append(w[i])
            else:
                vals.append(vals[src] * z[i])
                if w is not None:
                    dvals.append(dvals[src] * z[i] + vals[src] * w[i])
        n = z.shape[1]
        theta = np.empty((len(self.outputs), n))
        dtheta = np.empty((len(self.outputs), n)) if w is not None else None
        for r, (kind, arg) in enumerate(self.outputs):
            if kind == "poly":
                theta[r] = vals[arg]
                if w is not None:
                    dtheta[r] = dvals[arg]
            elif kind == "sin":
                theta[r] = np.sin(z[arg])
                if w is not None:
                    dtheta[r] = np.cos(z[arg]) * w[arg]
            else:
                theta[r] = 1.0
                if w is not None:
                    dtheta[r] = 0.0
        return theta, dtheta

    def _apply(self, theta: np.ndarray, xi_t: np.ndarray | None = None) -> np.ndarray:
        """Σ_k Θ_k Ξ_k: (k, N) → (dim, N)."""
        xi_t = self.xi_t if xi_t is None else xi_t
        return (
            np.einsum("kn,kdn->dn", theta, xi_t)
            if xi_t.shape[2] > 1
            else (np.einsum("kn,kd->dn", theta, xi_t[:, :, 0]))
        )

    def rhs(self, z: np.ndarray) -> np.ndarray:
        """f at z (dim, m), coordinate-major."""
        return self._apply(self._theta(z)[0])

    def rhs_tangent(self, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f(z) and J(z) w at z, w (dim, m), coordinate-major."""
        theta, dtheta = self._theta(z, w)
        return self._apply(theta), self._apply(dtheta)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """f(z) for z of shape (m, dim)."""
        return self.rhs(np.ascontiguousarray(np.asarray(z, float).T)).T

    def with_tangent(self, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f(z) and J(z) w for z, w of shape (m, dim)."""
        f, jw = self.rhs_tangent(np.ascontiguousarray(z.T), np.ascontiguousarray(w.T))
        return f.T, jw.T

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """(m, dim, dim) J[m, i, j] = ∂f_i/∂z_j at z (m, dim)."""
        zt = np.ascontiguousarray(np.asarray(z, float).T)
        cols = []
        for j in range(self.dim):
            e = np.zeros_like(zt)
            e[j] = 1.0
            cols.append(self.rhs_tangent(zt, e)[1].T)  # (m, i)
        return np.stack(cols, axis=2)

    def divergence(self, z: np.ndarray, model: int = 0) -> np.ndarray:
        """(n,) the divergence Σ_j ∂f_j/∂z_j of model ``model`` at the points z (n, dim)."""
        zt = np.ascontiguousarray(np.asarray(z, float).T)
        xi_t = self.xi_t[:, :, model : model + 1]
        out = np.zeros(zt.shape[1])
        for j in range(self.dim):
            e = np.zeros_like(zt)
            e[j] = 1.0
            out += self._apply(self._theta(zt, e)[1], xi_t)[j]
        return out

    def subset(self, idx) -> VectorField:
        """The models ``idx`` (an index or an index array)."""
        idx = np.atleast_1d(idx)
        out = VectorField.__new__(VectorField)
        out.__dict__.update(self.__dict__)
        out.xi_t = np.ascontiguousarray(self.xi_t[:, :, idx])
        out.m = len(idx)
        return out


def jacobian(z: np.ndarray, xi: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """(dim, dim) the Jacobian ∂ż_i/∂z_j of ż = Θ(z) Ξ at the point z (dim,)."""
    return VectorField(xi, terms).jacobian(np.asarray(z, float)[None])[0]


SCALAR_MODELS = 8
"""Up to this many models are integrated one by one in plain Python floats (generated code):
a vectorised step costs ~35 µs of numpy overhead whatever the number of models, a plain-float
step of one 2-D model ~3 µs, so below ~10 models one by one is faster."""


def compile_model(field: VectorField, model: int, tangent: bool) -> Callable:
    """Plain-Python f(z0, ..., z_{d−1}) → (ż0, ...) of one model (with ``tangent``:
    f(z0, ..., w0, ...) → ((ż0, ...), (J w)_0, ...)): straight-line code with the coefficients
    as literals, several times faster than numpy on a single state."""
    d = field.dim
    xi = field.xi_t[:, :, model]
    body = []
    for slot, (src, i) in enumerate(field.program):
        if src < 0:
            body.append(f"    m{slot} = z{i}")
            if tangent:
                body.append(f"    d{slot} = w{i}")
        else:
            body.append(f"    m{slot} = m{src} * z{i}")
            if tangent:
                body.append(f"    d{slot} = d{src} * z{i} + m{src} * w{i}")
    value, deriv = [], []
    for r, (kind, arg) in enumerate(field.outputs):
        if not np.any(xi[r]):
            value.append(None)
            deriv.append(None)
        elif kind == "poly":
            value.append(f"m{arg}")
            deriv.append(f"d{arg}")
        elif kind == "sin":
            body.append(f"    s{r} = sin(z{arg})")
            value.append(f"s{r}")
            if tangent:
                body.append(f"    c{r} = cos(z{arg}) * w{arg}")
            deriv.append(f"c{r}")
        else:
            value.append("1.0")
            deriv.append(None)

    def combine(names: list[str | None], j: int) -> str:
        parts = [f"{float(xi[r, j])!r} * {n}" for r, n in enumerate(names) if n and xi[r, j]]
        return " + ".join(parts) or "0.0"

    args = [f"z{i}" for i in range(d)] + ([f"w{i}" for i in range(d)] if tangent else [])
    out = "(" + "".join(combine(value, j) + ", " for j in range(d)) + ")"
    if tangent:
        out += ", (" + "".join(combine(deriv, j) + ", " for j in range(d)) + ")"
    source = f"def f({', '.join(args)}):\n" + "\n".join(body) + f"\n    return {out}\n"
    space = {"sin": math.sin, "cos": math.cos}
    exec(compile(source, "<analysis.attractor model>", "exec"), space)  # noqa: S102
    return space["f"]


def _integrate_scalar(field, model, z0, n_steps, h, bound, tangent):
    """:func:`integrate` of one model in plain floats: (n_steps + 1, dim), diverged, logs."""
    d = field.dim
    fn = compile_model(field, model, tangent)
    out = np.empty((n_steps + 1, d))
    logs = np.full(n_steps, np.nan) if tangent else None
    z = [float(v) for v in z0]
    out[0] = z
    alive = all(math.isfinite(v) and abs(v) <= bound for v in z)
    if tangent:
        w = list(np.random.default_rng(0).normal(size=d))
        norm = math.sqrt(sum(v * v for v in w))
        w = [v / norm for v in w]
    h2, h6 = 0.5 * h, h / 6.0
    i = 0
    try:
        while alive and i < n_steps:
            if tangent:
                k1, l1 = fn(*z, *w)
                k2, l2 = fn(
                    *[a + h2 * b for a, b in zip(z, k1, strict=True)],
                    *[a + h2 * b for a, b in zip(w, l1, strict=True)],
                )
                k3, l3 = fn(
                    *[a + h2 * b for a, b in zip(z, k2, strict=True)],
                    *[a + h2 * b for a, b in zip(w, l2, strict=True)],
                )
                k4, l4 = fn(
                    *[a + h * b for a, b in zip(z, k3, strict=True)],
                    *[a + h * b for a, b in zip(w, l3, strict=True)],
                )
                w_new = [
                    a + h6 * (b + 2 * c + 2 * e + g)
                    for a, b, c, e, g in zip(w, l1, l2, l3, l4, strict=True)
                ]
                norm = math.sqrt(sum(v * v for v in w_new))
            else:
                k1 = fn(*z)
                k2 = fn(*[a + h2 * b for a, b in zip(z, k1, strict=True)])
                k3 = fn(*[a + h2 * b for a, b in zip(z, k2, strict=True)])
                k4 = fn(*[a + h * b for a, b in zip(z, k3, strict=True)])
            new = [
                a + h6 * (b + 2 * c + 2 * e + g)
                for a, b, c, e, g in zip(z, k1, k2, k3, k4, strict=True)
            ]
            if not all(math.isfinite(v) and abs(v) <= bound for v in new):
                alive = False
                break
            if tangent:
                logs[i] = math.log(norm) if norm > 0 else -math.inf
                if norm > 0:
                    w = [v / norm for v in w_new]
            z = new
            i += 1
            out[i] = z
    except (OverflowError, ValueError, ZeroDivisionError):
        alive = False
    out[i + 1 :] = out[i]
    return out, not alive, logs


def integrate(
    field: VectorField,
    z0: np.ndarray,
    n_steps: int,
    h: float,
    *,
    bound: np.ndarray | float,
    tangent: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Classical RK4 for m models at once, optionally with the variational equation.

    Args:
      field: the models.
      z0: (m, dim) initial states.
      n_steps, h: number of steps and the step.
      bound: (m,) or scalar: a model whose ‖z‖∞ leaves it (or becomes non-finite) is frozen and
        flagged.
      tangent: also integrate ẇ = J(z) w from a fixed generic unit vector, renormalised every
        step (Benettin).

    Returns:
      z (m, n_steps + 1, dim); diverged (m,) bool; and, with ``tangent``, (m, n_steps) the
      logarithm of the tangent's growth in every step (NaN once diverged), else None.
    """
    if field.m <= SCALAR_MODELS:  # a few models: plain floats beat numpy's per-call overhead
        runs = [
            _integrate_scalar(
                field,
                k,
                np.asarray(z0[k], float),
                n_steps,
                h,
                float(np.broadcast_to(bound, (field.m,))[k]),
                tangent,
            )
            for k in range(field.m)
        ]
        logs = np.stack([r[2] for r in runs]) if tangent else None
        return np.stack([r[0] for r in runs]), np.array([r[1] for r in runs]), logs
    state = np.array(np.asarray(z0, float).T, dtype=float, order="C")  # (dim, m)
    d, m = state.shape
    bound = np.broadcast_to(np.asarray(bound, float), (m,))
    out = np.empty((n_steps + 1, d, m))
    out[0] = state
    alive = np.all(np.isfinite(state) & (np.abs(state) <= bound), axis=0)
    logs = None
    if tangent:
        w = np.tile(np.random.default_rng(0).normal(size=d)[:, None], (1, m))
        w /= np.linalg.norm(w, axis=0, keepdims=True)
        logs = np.full((n_steps, m), np.nan)
    f = field.rhs
    ft = field.rhs_tangent
    with np.errstate(all="ignore"):
        for i in range(n_steps):
            if tangent:
                k1, l1 = ft(state, w)
                k2, l2 = ft(state + 0.5 * h * k1, w + 0.5 * h * l1)
                k3, l3 = ft(state + 0.5 * h * k2, w + 0.5 * h * l2)
                k4, l4 = ft(state + h * k3, w + h * l3)
                w_new = w + h / 6.0 * (l1 + 2 * l2 + 2 * l3 + l4)
                norm = np.sqrt(np.sum(w_new * w_new, axis=0))
                logs[i] = np.where(alive, np.log(norm), np.nan)
                w = np.where(alive & (norm > 0), w_new / norm, w)
            else:
                k1 = f(state)
                k2 = f(state + 0.5 * h * k1)
                k3 = f(state + 0.5 * h * k2)
                k4 = f(state + h * k3)
            new = state + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            alive &= np.all(np.isfinite(new) & (np.abs(new) <= bound), axis=0)
            state = np.where(alive, new, state)
            out[i + 1] = state
    return out.transpose(2, 0, 1), ~alive, None if logs is None else logs.T


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
    """
    xi = np.asarray(xi, float)
    z0 = np.asarray(z0, float)
    m, _, d = xi.shape
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
    start = n_steps // 2
    window = max(n_steps // 10, 2)
    tail_t = t[start:]
    want_lyap = np.broadcast_to(np.asarray(lyapunov, bool), (m,)).copy()
    lyap = np.full(m, np.nan)
    lyap_se = np.full(m, np.nan)
    growth = np.full(m, np.nan)

    def tangent_runs(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integrate models idx with the variational equation; fill λ1; return their z."""
        zi, di, logs = integrate(
            field.subset(idx), z0[idx], n_steps, dt, bound=bound[idx], tangent=True
        )
        for row, i in enumerate(idx):
            lyap[i], lyap_se[i], growth[i] = _benettin(logs[row], dt, start)
        return zi, di

    if trajectory is not None:
        z, diverged = np.asarray(trajectory[0], float), np.asarray(trajectory[1], bool)
        if z.shape != (m, n_steps + 1, d):
            raise ValueError(f"trajectory of shape {z.shape}, expected ({m}, n_t, {d})")
    else:  # the runs with a tangent are the reference runs of their models
        z = np.empty((m, n_steps + 1, d))
        diverged = np.zeros(m, bool)
        for subset, with_tangent in ((want_lyap, True), (~want_lyap, False)):
            idx = np.nonzero(subset)[0]
            if not len(idx):
                continue
            if with_tangent:
                z[idx], diverged[idx] = tangent_runs(idx)
            else:
                z[idx], diverged[idx], _ = integrate(
                    field.subset(idx), z0[idx], n_steps, dt, bound=bound[idx]
                )
    done = want_lyap & (trajectory is None)

    # First pass: what the reference orbits do; which need a Lyapunov exponent.
    prelim: list[dict] = []
    for i in range(m):
        info: dict = {"kind": None}
        prelim.append(info)
        if diverged[i]:
            info["kind"] = "diverging"
            want_lyap[i] = False
            continue
        zt = z[i, start:]
        amp = _amplitude(z[i, -window:])
        info["amplitude"] = amp
        ref = max(float(scale[i]), float(np.max(np.abs(z[i]))), 1e-12)
        if amp < 1e-4 * ref:
            eig = np.linalg.eigvals(field.subset(i).jacobian(z[i, -1][None])[0])
            info["kind"] = (
                "stable fixed point" if eig.real.max() <= 1e-9 else ("unstable fixed point")
            )
            info["eig"] = float(eig.real.max())
            continue
        lead = int(np.argmax(zt.max(axis=0) - zt.min(axis=0)))
        crossing, _ = crossing_period(tail_t, zt[:, lead])
        info.update(
            lead=lead, crossing=crossing, trend=_trend(zt, lead), radius_trend=_radius_trend(zt)
        )
        if np.isfinite(crossing) and abs(info["trend"] - 1) <= 0.05:
            period = _periodic(tail_t, zt, crossing, RECURRENCE_TOLERANCE)
            if np.isfinite(period):
                info["kind"] = "cycle"
                info["period"] = period
                continue
        info["kind"] = "aperiodic?"
        want_lyap[i] = True

    if (want_lyap & ~done).any():
        tangent_runs(np.nonzero(want_lyap & ~done)[0])

    # Second pass: decide; collect the perturbation tests and the backward runs.
    results: list[Attractor | None] = [None] * m
    pending: list[_Pending] = []
    backward: list[int] = []
    for i, info in enumerate(prelim):
        kind = info["kind"]
        lam, se = lyap[i], lyap_se[i]
        if kind == "diverging":
            results[i] = Attractor(
                kind,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                None,
                "the orbit leaves every bounded region",
            )
            backward.append(i)
        elif kind in ("stable fixed point", "unstable fixed point"):
            if not np.isfinite(lam):
                lam = info["eig"]
            what = (
                "no unstable direction"
                if kind == "stable fixed point"
                else ("an unstable direction: the orbit sits on it")
            )
            results[i] = Attractor(
                kind,
                np.nan,
                info["amplitude"],
                np.nan,
                lam,
                se,
                None,
                f"settles to an equilibrium with {what}",
            )
            if kind == "stable fixed point":
                backward.append(i)
        elif kind == "cycle":
            zt = z[i, start:]
            period = info["period"]
            cycles = int((tail_t[-1] - tail_t[0]) // period)
            first = np.searchsorted(t, t[-1] - cycles * period)
            floquet = float(np.mean(field.divergence(z[i, first:], i)))
            wz = z[i, -max(window, int(np.ceil(3 * period / dt))) :]
            centre = zt[-int(np.ceil(cycles * period / dt)) :].mean(axis=0)
            direction = z[i, -1] - centre
            if np.linalg.norm(direction) == 0:
                direction = z0[i] - centre
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 0 else np.eye(d)[0]
            pending.append(
                _Pending(
                    i,
                    period,
                    info["crossing"],
                    _amplitude(wz),
                    floquet,
                    centre,
                    direction,
                    info["lead"],
                )
            )
        else:
            bounded_steady = 0.8 <= info["radius_trend"] <= 1.25
            chaotic = (
                np.isfinite(lam)
                and lam > CHAOS_SIGMAS * se
                and growth[i] > CHAOS_GROWTH
                and bounded_steady
                and d >= 3
            )
            amp = info["amplitude"]
            if chaotic:
                dim = correlation_dimension(z[i, start:], theiler=_theiler(info, dt))
                results[i] = Attractor(
                    "chaotic",
                    np.nan,
                    amp,
                    np.nan,
                    lam,
                    se,
                    None,
                    f"bounded and chaotic: λ1 = {_f(lam)} ± {_f(se, 2)}, correlation dimension "
                    f"{_f(dim)}",
                    dim,
                )
            elif np.isfinite(info["crossing"]) and (
                (info["trend"] < 0.95 and info["radius_trend"] < 0.95)
                or (info["trend"] > 1.05 and info["radius_trend"] > 1.05)
            ):
                k = "decaying" if info["trend"] < 1 else "growing"
                results[i] = Attractor(
                    k,
                    np.nan,
                    amp,
                    np.nan,
                    lam,
                    se,
                    None,
                    f"an oscillation still {k} at the end of the run (amplitude × "
                    f"{_f(info['trend'])} between the halves of the measured part)",
                )
                if k == "decaying":
                    backward.append(i)
            elif not np.isfinite(info["crossing"]) and (
                info["radius_trend"] < 0.8 or (np.isfinite(lam) and lam < -CHAOS_SIGMAS * se)
            ):
                results[i] = Attractor(
                    "decaying",
                    np.nan,
                    amp,
                    np.nan,
                    lam,
                    se,
                    None,
                    "a slow, non-oscillating approach still under way at the end of the run",
                )
                backward.append(i)
            else:
                dim = correlation_dimension(z[i, start:], theiler=_theiler(info, dt))
                measured = (n_steps - start) * dt
                if (  # λ1 ≈ 0: within 3 standard errors or one e-fold over the measured part
                    d >= 3
                    and np.isfinite(info["crossing"])
                    and np.isfinite(lam)
                    and abs(lam) <= max(CHAOS_SIGMAS * se, 1.0 / measured)
                ):
                    results[i] = Attractor(
                        "quasi-periodic",
                        np.nan,
                        amp,
                        np.nan,
                        lam,
                        se,
                        None,
                        f"bounded, no single period, λ1 = {_f(lam)} ± {_f(se, 2)} (not "
                        f"chaotic); correlation dimension {_f(dim)}",
                        dim,
                    )
                else:
                    results[i] = Attractor(
                        "aperiodic",
                        np.nan,
                        amp,
                        np.nan,
                        lam,
                        se,
                        None,
                        "bounded without a single period, not shown to be chaotic",
                        dim,
                    )

    # Perturbed starts at 0.5× and 1.5× scale from each cycle's centre.
    if pending:
        idx = np.array([p.index for p in pending])
        starts = np.concatenate(
            [
                np.stack([p.centre + f * scale[p.index] * p.direction for p in pending])
                for f in (0.5, 1.5)
            ]
        )
        zp, divp, _ = integrate(
            field.subset(np.concatenate([idx, idx])),
            starts,
            n_steps,
            dt,
            bound=np.concatenate([bound[idx], bound[idx]]),
        )
        n = len(pending)
        for row, p in enumerate(pending):
            back = []
            for trial in (row, row + n):
                if divp[trial]:
                    back.append(False)
                    continue
                zt = zp[trial, start:]
                wz = zp[trial, -max(window, int(np.ceil(3 * p.period / dt))) :]
                amp = _amplitude(wz)
                crossing, _ = crossing_period(tail_t, zt[:, p.lead])
                back.append(
                    bool(
                        abs(amp - p.amplitude) <= RETURN_TOLERANCE * p.amplitude
                        and abs(crossing - p.crossing) <= RETURN_TOLERANCE * p.crossing
                    )
                )
            returns = all(back)
            rel = p.floquet * p.period
            i = p.index
            lam, se = lyap[i], lyap_se[i]
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
            results[i] = Attractor(kind, p.period, p.amplitude, p.floquet, lam, se, returns, text)

    # A repelling cycle near the reference amplitude: the forward orbit leaves it, so look
    # backwards in time (an attracting cycle of ż = −f).
    if backward:
        idx = np.array(backward)
        found = classify_backward(xi[idx], terms, z0[idx], scale[idx], t_end, dt, bound[idx])
        for i, cycle in zip(idx, found, strict=True):
            if cycle is None:
                continue
            period, amp, floquet = cycle
            old = results[i]
            results[i] = Attractor(
                "repelling cycle",
                period,
                amp,
                floquet,
                old.lyapunov,
                old.lyapunov_se,
                False,
                f"a cycle that perturbations leave (period {_f(period)}, mean divergence "
                f"{_f(floquet)}); off it the orbit {_fate(old.kind)}",
            )
    return results


def _fate(kind: str) -> str:
    return {
        "diverging": "diverges",
        "stable fixed point": "settles to a stable equilibrium",
        "decaying": "decays",
    }.get(kind, kind)


def _theiler(info: dict, dt: float) -> int:
    crossing = info.get("crossing", np.nan)
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
    (fitted on the same steps) over √blocks. On 14 stretches of 10⁴ samples (100 time units)
    of Lorenz's attractor (λ1 = 0.906), with the separation one mean period and the horizon
    ten (as :func:`data_attractor` sets them), it read 0.92 ± 0.045 (mean ± spread over the
    stretches), the block standard errors 0.03–0.06.

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
    nan = float("nan")
    if n < 32:
        return Attractor("aperiodic", nan, nan, nan, nan, nan, None, "too short a signal to judge")
    spread = np.sqrt(np.mean(np.sum((z - z.mean(axis=0)) ** 2, axis=1)))
    last = z[-max(n // 10, 4) :]
    amp = _amplitude(z[-n // 3 :])
    if spread == 0 or np.sqrt(np.mean(np.sum((last - last.mean(0)) ** 2, 1))) < 1e-3 * spread:
        return Attractor(
            "stable fixed point", nan, amp, nan, nan, nan, None, "the signal settles to a constant"
        )
    period = signal_period(z, h)
    half = slice(n // 2, None)
    rec_period = nan
    if np.isfinite(period):
        rec_period = _periodic(t[half], z[half], period, DATA_RECURRENCE_TOLERANCE)
        if np.isfinite(rec_period) and rec_period > period * 1.5:
            rec_period = nan  # only the dominant period itself counts for data
    char = _mean_period(z, h)
    if not np.isfinite(char):
        char = period if np.isfinite(period) else (t[-1] - t[0]) / 20
    states = z if z.shape[1] > 1 else _embed(z[:, 0], _lag(z[:, 0], int(char / (4 * h))))
    sep = max(1, int(round(char / h)))
    horizon = int(min(len(states) // 4, round(10 * char / h)))
    lam, se = rosenstein(states, h, min_separation=sep, horizon=horizon)
    if np.isfinite(rec_period):
        returns, rate, first = _approach(t, z, rec_period)
        numbers = f"period {_f(rec_period)}, λ1 = {_f(lam)} ± {_f(se, 2)}"
        if returns is True:
            return Attractor(
                "attracting limit cycle",
                rec_period,
                amp,
                rate,
                lam,
                se,
                True,
                f"a cycle that attracts: the signal starts {100 * abs(first):.0f} % "
                f"{'inside' if first < 0 else 'outside'} its final cycle and approaches it "
                f"(rate {_f(rate)}; {numbers})",
            )
        if returns is False:
            kind = "growing" if first < 0 else "decaying"
            return Attractor(
                kind,
                rec_period,
                amp,
                nan,
                lam,
                se,
                False,
                f"an oscillation whose amplitude has not settled ({numbers})",
            )
        return Attractor(
            "periodic orbit",
            rec_period,
            amp,
            nan,
            lam,
            se,
            None,
            f"periodic ({numbers}); it starts on its cycle, so whether the cycle attracts "
            "cannot be judged from one orbit",
        )
    dim = correlation_dimension(states, theiler=max(1, sep // 4))
    if np.isfinite(lam) and lam > CHAOS_SIGMAS * se and lam > 0:
        return Attractor(
            "chaotic",
            nan,
            amp,
            nan,
            lam,
            se,
            None,
            f"aperiodic and chaotic: λ1 = {_f(lam)} ± {_f(se, 2)}, correlation dimension {_f(dim)}",
            dim,
        )
    kind = "quasi-periodic" if states.shape[1] >= 3 else "aperiodic"
    return Attractor(
        kind,
        nan,
        amp,
        nan,
        lam,
        se,
        None,
        f"no single period, λ1 = {_f(lam)} ± {_f(se, 2)} (not chaotic); correlation "
        f"dimension {_f(dim)}",
        dim,
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
