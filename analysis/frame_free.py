"""Frame-free targets: what an ensemble of latent models says that does not depend on the latent
frame, per draw, with the convergence verdict of the run.

A latent frame is only defined up to a rotation or reflection (and the library makes some terms
collinear over the encoded data), so single coefficients of Ξ are descriptive, not targets of
inference. These quantities are the same in every frame, so the chains must agree on them:

per draw (every sampled encoder):
  - ``loss``, ``x_relative_mse``, ``dx_relative_mse``: the test loss and errors;
  - ``growth_rate``, ``frequency``: max Re λ and max |Im λ| of the eigenvalues of the Jacobian of
    the latent model at its fixed point (the origin: the library has no constant);
  - ``radial_rate``, ``rotation_rate``: the growth rate ⟨z·f(z)⟩/r² and the rotation rate
    ⟨|f(z) − (z·f/r²) z|⟩/r averaged over the circle (sphere) of the draw's own RMS latent
    radius r, and the same at r/2 (``*_half``);

per integrated member (the least-squares model of a member integrated from its own encoding,
``analysis.ensemble_dynamics``):
  - ``oscillates``: 1 on a steady oscillation, else 0 (its fate);
  - ``period``; ``amplitude_ratio``: the RMS radius of its attractor over that of its encoded test
    data; ``floquet_exponent``: the mean divergence of the model along the cycle (in 2-D the
    nontrivial Floquet exponent: < 0 attracts, 0 neutral, > 0 repels). Undefined where the member
    does not oscillate; those members rank above every defined value (rank-normalised R-hat and
    ESS are defined for such a mixed target), and the MCSE is then not given.

The verdict (Vehtari et al. 2021, ArviZ rank-normalised): converged when every target has R-hat
≤ 1.01 and bulk- and tail-ESS ≥ 400 (a target constant over all draws counts as converged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from analysis.diagnostics import ESS_MIN, R_HAT_MAX, by_chain, diagnose
from analysis.identifiability import linearisation
from analysis.library import Term, theta

__all__ = [
    "DRAW_TARGETS",
    "MEMBER_TARGETS",
    "RULE",
    "FrameFree",
    "TargetSummary",
    "draw_targets",
    "frame_free",
    "summarise_target",
]

DRAW_TARGETS: dict[str, str] = {
    "loss": "loss (test snapshots)",
    "x_relative_mse": "test relative MSE of x",
    "dx_relative_mse": "test relative MSE of ẋ",
    "growth_rate": "growth rate at the fixed point (max Re λ)",
    "frequency": "frequency at the fixed point (max |Im λ|)",
    "radial_rate": "radial rate on the circle of the RMS latent radius r",
    "rotation_rate": "rotation rate on the circle of radius r",
    "radial_rate_half": "radial rate on the circle of radius r/2",
    "rotation_rate_half": "rotation rate on the circle of radius r/2",
}
"""Per-draw targets: name → what it is."""

MEMBER_TARGETS: dict[str, str] = {
    "oscillates": "integrated members: share on a steady oscillation",
    "period": "integrated members: period",
    "amplitude_ratio": "integrated members: attractor RMS radius / encoded data's",
    "floquet_exponent": "integrated members: Floquet exponent (mean divergence on the cycle)",
}
"""Per-integrated-member targets: name → what it is."""

RULE = (
    f"R-hat <= {R_HAT_MAX} and bulk- and tail-ESS >= {ESS_MIN:g} on every frame-free target "
    "(ArviZ, rank-normalised; Vehtari et al. 2021)"
)
_CIRCLE_POINTS = 64
_SPHERE_POINTS = 256


class TargetSummary(NamedTuple):
    """One target over the ensemble.

    Attributes:
      name, label: the target's key and what it is.
      scope: ``"draw"`` (every sampled encoder) or ``"member"`` (the integrated members).
      n: number of values; undefined: fraction of them undefined (NaN, e.g. no period).
      mean, mcse: mean over the defined values and its Monte Carlo standard error (NaN when some
        values are undefined or the diagnostics are not defined).
      sd, q05, q50, q95: spread over the defined values.
      r_hat, ess_bulk, ess_tail: ArviZ diagnostics (undefined values ranked above the rest).
      chain_spread: standard deviation of the chain means over the mean within-chain standard
        deviation (≈ 0 when the chains agree; ≳ 1: they sit apart).
      constant: one value in every draw.
      converged: R-hat ≤ 1.01 and bulk- and tail-ESS ≥ 400, or constant.
    """

    name: str
    label: str
    scope: str
    n: int
    undefined: float
    mean: float
    mcse: float
    sd: float
    q05: float
    q50: float
    q95: float
    r_hat: float
    ess_bulk: float
    ess_tail: float
    chain_spread: float
    constant: bool
    converged: bool

    def reason(self) -> str:
        """Why the target has not converged ('' when it has)."""
        if self.converged:
            return ""
        if not np.isfinite(self.r_hat):
            return "R-hat undefined (one chain or too few draws)"
        parts = []
        if not self.r_hat <= R_HAT_MAX:
            parts.append(f"R-hat {self.r_hat:.3f}")
        if not self.ess_bulk >= ESS_MIN:
            parts.append(f"bulk-ESS {self.ess_bulk:.0f}")
        if not self.ess_tail >= ESS_MIN:
            parts.append(f"tail-ESS {self.ess_tail:.0f}")
        return ", ".join(parts)


class FrameFree(NamedTuple):
    """The frame-free targets of a run and its verdict.

    Attributes:
      targets: one summary per target, per-draw targets first.
      values: per-draw values, name → (n_samples,) (NaN where undefined).
      member_values: per integrated member, name → (m,) (NaN where undefined).
      members: (m,) indices of the integrated members in the ensemble (empty if none).
      chain: (n_samples,) chain of every draw, or None (one chain).
      n_chains, draws_per_chain: the layout of the per-draw targets.
      converged: every target converged (False without targets).
      rule: the rule, in words.
    """

    targets: list[TargetSummary]
    values: dict[str, np.ndarray]
    member_values: dict[str, np.ndarray]
    members: np.ndarray
    chain: np.ndarray | None
    n_chains: int
    draws_per_chain: int
    converged: bool
    rule: str = RULE

    @property
    def failing(self) -> list[TargetSummary]:
        return [t for t in self.targets if not t.converged]


def _unit_directions(latent_dim: int) -> np.ndarray:
    """Points spread uniformly on the unit circle (2-D: equal angles) or sphere (a fixed draw)."""
    if latent_dim == 1:
        return np.array([[1.0], [-1.0]])
    if latent_dim == 2:
        angle = 2 * np.pi * np.arange(_CIRCLE_POINTS) / _CIRCLE_POINTS
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    points = np.random.default_rng(0).standard_normal((_SPHERE_POINTS, latent_dim))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def circle_rates(
    xi: np.ndarray, terms: Sequence[Term], radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean radial rate ⟨z·f(z)⟩/r² and rotation rate ⟨|f − (z·f/r²) z|⟩/r of every
    member's model f(z) = Θ(z) Ξ_m over the circle (sphere) of radius ``radius[m]``.

    Both are unchanged by a rotation or reflection of the latent frame.

    Args:
      xi: (n, n_terms, latent_dim); radius: (n,).

    Returns:
      radial, rotation: (n,) each.
    """
    xi = np.asarray(xi, float)
    u = _unit_directions(xi.shape[2])  # (K, d)
    r = np.asarray(radius, float)[:, None, None]
    z = r * u[None]  # (n, K, d)
    f = np.einsum("nkt,ntd->nkd", theta(z, terms), xi)  # (n, K, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        radial = np.sum(z * f, axis=2) / r[..., 0] ** 2
        tangential = f - radial[..., None] * z
        rotation = np.linalg.norm(tangential, axis=2) / r[..., 0]
    return radial.mean(axis=1), rotation.mean(axis=1)


def draw_targets(
    xi: np.ndarray,
    terms: Sequence[Term],
    z: np.ndarray | None,
    errors: dict[str, np.ndarray | None],
) -> dict[str, np.ndarray]:
    """The per-draw targets (see :data:`DRAW_TARGETS`) that the run's arrays allow.

    Args:
      xi: (n, n_terms, latent_dim) every draw's Ξ.
      terms: the library.
      z: (n, n_eval, latent_dim) every draw's latent codes of the test snapshots (for its RMS
        radius), or None (no circle rates).
      errors: ``loss``, ``x_relative_mse``, ``dx_relative_mse`` → (n,) or None.
    """
    out = {name: np.asarray(v, float) for name, v in errors.items() if v is not None}
    _, eig = linearisation(xi, terms)
    out["growth_rate"] = np.max(eig.real, axis=1)
    out["frequency"] = np.max(np.abs(eig.imag), axis=1)
    if z is not None:
        radius = np.sqrt(np.mean(np.sum(np.asarray(z, float) ** 2, axis=2), axis=1))
        for suffix, scale in (("", 1.0), ("_half", 0.5)):
            radial, rotation = circle_rates(xi, terms, scale * radius)
            out[f"radial_rate{suffix}"] = radial
            out[f"rotation_rate{suffix}"] = rotation
    return {name: out[name] for name in DRAW_TARGETS if name in out}


def _chain_spread(values: np.ndarray, chain: np.ndarray | None) -> float:
    grouped = by_chain(values, chain)
    if grouped.shape[0] < 2 or grouped.shape[1] < 2:
        return float("nan")
    within = np.sqrt(np.mean(np.var(grouped, axis=1, ddof=1)))
    between = np.std(grouped.mean(axis=1), ddof=1)
    return float(between / within) if within > 0 else float("inf" if between > 0 else 0.0)


def summarise_target(
    name: str, label: str, scope: str, values: np.ndarray, chain: np.ndarray | None
) -> TargetSummary:
    """The statistics and diagnostics of one target (undefined values, NaN, rank above the
    rest for R-hat and ESS)."""
    values = np.asarray(values, float)
    defined = np.isfinite(values)
    n, undefined = len(values), float(1.0 - defined.mean()) if len(values) else 1.0
    ranked = values.copy()
    if not defined.all():
        top = np.max(values[defined]) if defined.any() else 0.0
        ranked[~defined] = top + 1.0 + abs(top)
    diag = diagnose(ranked, chain)
    nan = float("nan")
    finite = values[defined]
    mean = float(finite.mean()) if finite.size else nan
    sd = float(finite.std()) if finite.size else nan
    q05, q50, q95 = (float(q) for q in np.quantile(finite, [0.05, 0.5, 0.95])) if finite.size \
        else (nan, nan, nan)
    mcse = float(diag.mcse_mean) if defined.all() else nan
    r_hat, ess_bulk, ess_tail = (float(v) for v in (diag.r_hat, diag.ess_bulk, diag.ess_tail))
    constant = bool(diag.constant)
    with np.errstate(invalid="ignore"):
        ok = r_hat <= R_HAT_MAX and ess_bulk >= ESS_MIN and ess_tail >= ESS_MIN
    return TargetSummary(
        name,
        label,
        scope,
        n,
        undefined,
        mean,
        mcse,
        sd,
        q05,
        q50,
        q95,
        r_hat,
        ess_bulk,
        ess_tail,
        _chain_spread(ranked, chain),
        constant,
        bool(constant or ok),
    )


def frame_free(
    values: dict[str, np.ndarray],
    chain: np.ndarray | None,
    member_values: dict[str, np.ndarray] | None = None,
    members: np.ndarray | None = None,
) -> FrameFree:
    """Summarise and judge the targets: ``values`` per draw (from :func:`draw_targets`),
    ``member_values`` per integrated member (``members`` their indices into the draws, whose
    chains they take)."""
    member_values = member_values or {}
    members = np.zeros(0, int) if members is None else np.asarray(members, int)
    member_chain = None if chain is None else np.asarray(chain)[members]
    targets = [
        summarise_target(name, DRAW_TARGETS[name], "draw", v, chain) for name, v in values.items()
    ]
    targets += [
        summarise_target(name, MEMBER_TARGETS[name], "member", v, member_chain)
        for name, v in member_values.items()
    ]
    n_samples = len(next(iter(values.values()))) if values else 0
    n_chains = 1 if chain is None else len(np.unique(chain))
    draws = n_samples if chain is None else min(int(np.sum(chain == c)) for c in np.unique(chain))
    converged = bool(targets) and all(t.converged for t in targets)
    return FrameFree(targets, values, member_values, members, chain, n_chains, draws, converged)


def verdict_lines(ff: FrameFree) -> list[str]:
    """What converged, on which targets, in a few lines (the report's first screen, the CLI,
    ``Discovery.print``)."""
    layout = f"{ff.n_chains} chain(s) × {ff.draws_per_chain} draws"
    if not ff.targets:
        return [f"NOT CONVERGED ({layout}): no frame-free target could be computed."]
    if ff.converged:
        worst_r = max(t.r_hat for t in ff.targets if not t.constant) if any(
            not t.constant for t in ff.targets) else float("nan")
        low = [min(t.ess_bulk, t.ess_tail) for t in ff.targets if not t.constant]
        ess = f", min ESS {min(low):.0f}" if low else ""
        return [
            f"CONVERGED ({layout}) on all {len(ff.targets)} frame-free targets: max R-hat "
            f"{worst_r:.3f}{ess} (rule: R-hat <= {R_HAT_MAX}, bulk- and tail-ESS >= {ESS_MIN:g})."
        ]
    failing = ff.failing
    shown = "; ".join(f"{t.name} ({t.reason()})" for t in failing[:6])
    more = f"; and {len(failing) - 6} more" if len(failing) > 6 else ""
    good = [t.name for t in ff.targets if t.converged]
    return [
        f"NOT CONVERGED ({layout}): {len(failing)} of {len(ff.targets)} frame-free targets miss "
        f"R-hat <= {R_HAT_MAX}, bulk- and tail-ESS >= {ESS_MIN:g}: {shown}{more}. Intervals and "
        "± below are indications, not estimates.",
        "Converged: " + (", ".join(good) if good else "none of them") + ".",
    ]
