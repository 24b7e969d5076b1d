"""The identified models as vector fields, and their integration.

ż = Θ(z) Ξ for m models of one library at once (:class:`VectorField`, with the directional
derivative J(z) w carried in forward mode) and classical RK4 on a uniform grid
(:func:`integrate`), optionally with the variational equation ẇ = J(z) w renormalised every
step (Benettin's method for the largest Lyapunov exponent). A few models are integrated one by
one in generated plain-Python code (:func:`compile_model`), many vectorised over the models.

``analysis.attractor`` classifies what the integrated models do; ``analysis.dynamics``
(``simulate_many``) integrates ensembles with the same stepping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from analysis.library import Term

__all__ = ["SCALAR_MODELS", "VectorField", "compile_model", "integrate", "jacobian"]


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
a vectorised step pays numpy's per-call overhead whatever the number of models, a plain-float
step of one small model costs about a tenth of that, so below ~10 models one by one is faster
(the timings: benchmarks/README.md, "analysis/vector_field.py")."""


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
    exec(compile(source, "<analysis.vector_field model>", "exec"), space)  # noqa: S102
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
