"""A guard against a sampler that samples the wrong measure: configurational temperature and mean
loss against a small-step reference.

An entropic autoencoder samples its encoder parameters φ from p(φ) ∝ exp(−L(φ)/T). A faster
sampler (larger step, rarer velocity re-draws, heavier masses, another thermostat) is only worth
its speed if it still samples that measure; two cheap checks tell when it does not:

**Configurational temperature.** For any fixed direction u and any smooth L with
p ∝ exp(−L/T), integration by parts gives

    E[(u·∇L)²] = T · E[uᵀ ∇²L u],

so T_conf(u) = Σ_i (u·∇L(φ_i))² / Σ_i uᵀ∇²L(φ_i) u over draws φ_i estimates T. A leapfrog step
too large for the stiff directions (the shadow variance (1 − ω²dt²/4)⁻¹), or minibatch gradient
noise that the thermostat does not remove (heating), shows up as T_conf/T > 1 along the stiff
directions, while the kinetic temperature stays at T. L here is the loss that defines the measure
(for an EAE: the FULL training-set loss at the fixed decoder, not a minibatch), and u·∇L and
uᵀ∇²L u come from one forward-over-reverse pass (a Hessian-vector product) per draw and
direction. Draws are mapped one by one (``lax.map``), never ``vmap``-ped: a ``vmap``-ped second
derivative of the SINDy loss (a QR inside) stalled XLA:CPU (see :mod:`eae_sindy.stiffness`).

**Mean loss.** The members' mean loss against that of a reference run with a small step (e.g.
dt/4, same chains, same start), as a relative difference with a standard error from the
effective sample sizes of both runs.

The rule (:func:`guard`): |T_conf/T − 1| ≤ 0.02 along the stiff directions and |mean-loss
difference| ≤ 1 %. Both estimates carry a standard error; a guard whose standard error is not
well below its tolerance (``resolved`` False) has not been measured precisely enough to pass or
fail with confidence.

The ESS used here is ArviZ's multi-chain estimate without rank normalisation (the ESS of the
mean, which is what a standard error needs).

All functions are pure; the two that differentiate are jittable in ``loss``'s arguments, the rest
are NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from arviz_stats.base import array_stats
from jax.flatten_util import ravel_pytree

from analysis.diagnostics import by_chain

__all__ = [
    "CONF_TOLERANCE",
    "LOSS_TOLERANCE",
    "ConfigurationalTemperature",
    "GuardVerdict",
    "LossAgreement",
    "configurational_temperature",
    "directional_gradients",
    "directional_projections",
    "directional_projections_chains",
    "directional_curvatures",
    "effective_sample_size",
    "guard",
    "mean_loss_agreement",
    "temperature_ratio",
]

CONF_TOLERANCE = 0.02  # |T_conf/T − 1| along the stiff directions
LOSS_TOLERANCE = 0.01  # |mean loss / reference − 1|

PyTree = Any


# ---------------------------------------------------------------------------------------------
# effective sample size (NumPy)


def effective_sample_size(values: np.ndarray, chain: np.ndarray | None = None) -> float:
    """ESS of the mean of ``values`` (n,), drawn by the chains ``chain`` (n,) (None: one chain):
    ArviZ's multi-chain estimate without rank normalisation (``method="mean"``; Vehtari et al.
    2021), NaN for chains shorter than 4 draws, n for a constant series."""
    x = by_chain(values, chain)
    if x.shape[1] < 4:
        return float("nan")
    if np.ptp(x) == 0:
        return float(x.size)
    return float(array_stats.ess(x, method="mean", chain_axis=0, draw_axis=1))


def _standard_error(values: np.ndarray, chain: np.ndarray | None) -> tuple[float, float]:
    """(standard error of the mean, ESS). Chains too short for an autocorrelation estimate
    (fewer than 4 draws) count their draws as independent."""
    ess = effective_sample_size(values, chain)
    if not np.isfinite(ess):
        ess = float(np.size(values))
    sd = float(np.std(np.asarray(values, np.float64), ddof=1))
    return sd / np.sqrt(max(ess, 1.0)), ess


# ---------------------------------------------------------------------------------------------
# configurational temperature


class ConfigurationalTemperature(NamedTuple):
    """T_conf/T along each direction and pooled over the directions.

    Attributes:
      ratio: (k,) Σ_i (u_k·∇L_i)² / (T Σ_i u_kᵀ∇²L_i u_k).
      ratio_se: (k,) its standard error (delta method, ESS of the linearised series).
      pooled: Σ_ik (u_k·∇L_i)² / (T Σ_ik u_kᵀ∇²L_i u_k).
      pooled_se: its standard error.
      ess: (k,) ESS of the linearised series per direction (the draws' worth for the ratio).
      n_draws: number of draws with a gradient.
    """

    ratio: np.ndarray
    ratio_se: np.ndarray
    pooled: float
    pooled_se: float
    ess: np.ndarray
    n_draws: int


def _flat_directions(directions: PyTree, like: PyTree) -> jax.Array:
    """(k, N) unit rows from a pytree of directions with a leading axis k."""
    leaves = jax.tree.leaves(directions)
    k = leaves[0].shape[0]
    rows = jnp.stack([ravel_pytree(jax.tree.map(lambda a, i=i: a[i], directions))[0]
                      for i in range(k)])
    rows = rows.astype(ravel_pytree(like)[0].dtype)
    return rows / jnp.linalg.norm(rows, axis=1, keepdims=True)


def directional_gradients(
    loss: Callable[[PyTree], jax.Array],
    positions: PyTree,
    directions: PyTree,
    *,
    batch: int | None = None,
) -> jax.Array:
    """(n, k) the projections u_k·∇L(φ_i): one reverse pass per draw, all directions at once.

    ``positions``: pytree with a leading draw axis n; ``directions``: pytree like one position
    with a leading axis k (normalised here). ``batch``: draws per ``lax.map`` batch (first
    derivatives only, so batching draws is safe; default 1)."""
    first = jax.tree.map(lambda a: a[0], positions)
    rows = _flat_directions(directions, first)
    grad = jax.grad(loss)

    def one(position):
        g, _ = ravel_pytree(grad(position))
        return rows @ g

    return jax.lax.map(one, positions, batch_size=batch)


def directional_curvatures(
    loss: Callable[[PyTree], jax.Array],
    positions: PyTree,
    directions: PyTree,
) -> tuple[jax.Array, jax.Array]:
    """((n, k) u_k·∇L(φ_i), (n, k) u_kᵀ∇²L(φ_i) u_k), by one forward-over-reverse pass
    (``jax.jvp`` of ``jax.grad``) per draw and direction: draws by ``lax.map``, directions by a
    Python loop (no ``vmap`` of the second derivative)."""
    first = jax.tree.map(lambda a: a[0], positions)
    flat0, unravel = ravel_pytree(first)
    rows = _flat_directions(directions, first)
    k = rows.shape[0]

    def flat_grad(p):
        return ravel_pytree(jax.grad(loss)(unravel(p)))[0]

    def one(position):
        p, _ = ravel_pytree(position)
        g_out, h_out = [], []
        for j in range(k):
            g, hv = jax.jvp(flat_grad, (p,), (rows[j],))
            g_out.append(jnp.vdot(rows[j], g))
            h_out.append(jnp.vdot(rows[j], hv))
        return jnp.stack(g_out), jnp.stack(h_out)

    return jax.lax.map(one, positions)


def temperature_ratio(
    gradients: np.ndarray,
    curvatures: np.ndarray,
    temperature: float,
    chain: np.ndarray | None = None,
    curvature_chain: np.ndarray | None = None,
) -> ConfigurationalTemperature:
    """T_conf/T from per-draw projections.

    Args:
      gradients: (n, k) u_k·∇L(φ_i).
      curvatures: (n', k) u_kᵀ∇²L(φ_j) u_k, at the same draws or at a subsample of them (the
        curvature varies little between draws, the squared gradient a lot, so the denominator
        needs far fewer draws than the numerator).
      temperature: T.
      chain: (n,) chain of each gradient draw (None: one chain), for the ESS.
      curvature_chain: (n',) likewise for ``curvatures``.

    The standard error treats numerator and denominator as independent means (delta method):
    se(r)² = r² [(se_A/A)² + (se_B/B)²], each se from the ESS of its series.
    """
    g2 = np.square(np.asarray(gradients, np.float64))
    h = np.asarray(curvatures, np.float64)
    if g2.ndim == 1:
        g2, h = g2[:, None], h[:, None]
    k = g2.shape[1]

    def ratio_and_se(a_series, b_series):
        a, b = a_series.mean(), b_series.mean()
        se_a, ess_a = _standard_error(a_series, chain)
        se_b, _ = _standard_error(b_series, curvature_chain)
        r = a / (temperature * b)
        return r, abs(r) * np.hypot(se_a / a, se_b / b), ess_a

    per = [ratio_and_se(g2[:, j], h[:, j]) for j in range(k)]
    pooled, pooled_se, _ = ratio_and_se(g2.sum(axis=1), h.sum(axis=1))
    return ConfigurationalTemperature(
        np.array([p[0] for p in per]),
        np.array([p[1] for p in per]),
        float(pooled),
        float(pooled_se),
        np.array([p[2] for p in per]),
        int(g2.shape[0]),
    )


def configurational_temperature(
    loss: Callable[[PyTree], jax.Array],
    positions: PyTree,
    directions: PyTree | Sequence[PyTree],
    temperature: float,
    *,
    chain: np.ndarray | None = None,
    curvature_every: int = 1,
    gradient_batch: int | None = None,
) -> ConfigurationalTemperature:
    """T_conf/T of draws ``positions`` along ``directions``, under p ∝ exp(−``loss``/T).

    Args:
      loss: ``params -> scalar``, the loss that defines the measure (for an EAE: the full
        training-set loss at the fixed decoder), twice differentiable.
      positions: pytree of the draws, leading axis n (chain-major or any order; ``chain`` says).
      directions: unit directions u_1..u_k as a pytree like one position with a leading axis k;
        or a sequence of such pytrees, one per chain (chain ids 0..C−1 in ``chain``): the
        identity holds for any FIXED u, so each chain may be checked along its own directions.
      temperature: T.
      chain: (n,) chain of each draw (None: one chain).
      curvature_every: evaluate u_kᵀ∇²L u_k only at every this-many-th draw of each chain (the
        gradient projections at every draw).
      gradient_batch: draws per ``lax.map`` batch for the gradients.

    Returns:
      :class:`ConfigurationalTemperature`: ratios T_conf/T (1 at the right measure).
    """
    return temperature_ratio(
        *directional_projections(
            loss, positions, directions, chain=chain, curvature_every=curvature_every,
            gradient_batch=gradient_batch,
        )[:2],
        temperature,
        *directional_projections_chains(positions, chain, curvature_every),
    )


def directional_projections_chains(
    positions: PyTree, chain: np.ndarray | None, curvature_every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The chains of the rows :func:`directional_projections` returns (gradients, curvatures)."""
    n = jax.tree.leaves(positions)[0].shape[0]
    chain = np.zeros(n, int) if chain is None else np.asarray(chain)
    grad_chain = [np.full(int(np.sum(chain == c)), c) for c in np.unique(chain)]
    curv_chain = [np.full(len(np.flatnonzero(chain == c)[::curvature_every]), c)
                  for c in np.unique(chain)]
    return np.concatenate(grad_chain), np.concatenate(curv_chain)


def directional_projections(
    loss: Callable[[PyTree], jax.Array],
    positions: PyTree,
    directions: PyTree | Sequence[PyTree],
    *,
    chain: np.ndarray | None = None,
    curvature_every: int = 1,
    gradient_batch: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The raw projections behind :func:`configurational_temperature`: (n, k) u_k·∇L at every
    draw and (n', k) u_kᵀ∇²L u_k at every ``curvature_every``-th draw of each chain, rows grouped
    by chain in the order of ``np.unique(chain)`` (their chains:
    :func:`directional_projections_chains`). One compile serves every chain."""
    n = jax.tree.leaves(positions)[0].shape[0]
    chain = np.zeros(n, int) if chain is None else np.asarray(chain)
    per_chain = isinstance(directions, list | tuple)
    grads, curvs = [], []
    curvature = jax.jit(lambda p, u: directional_curvatures(loss, p, u))
    gradient = jax.jit(lambda p, u: directional_gradients(loss, p, u, batch=gradient_batch))
    for c in np.unique(chain):
        index = np.flatnonzero(chain == c)
        u = directions[int(c)] if per_chain else directions
        draws = jax.tree.map(lambda a, i=index: a[i], positions)
        sub = index[::curvature_every]
        some = jax.tree.map(lambda a, i=sub: a[i], positions)
        g = np.asarray(gradient(draws, u))
        _, h = curvature(some, u)
        grads.append(g)
        curvs.append(np.asarray(h))
    return np.concatenate(grads), np.concatenate(curvs)


# ---------------------------------------------------------------------------------------------
# mean loss against a reference


class LossAgreement(NamedTuple):
    """The members' mean loss against a small-step reference run.

    Attributes:
      difference: mean(losses)/mean(reference) − 1.
      se: its standard error (from the ESS of both runs, independent).
      mean, reference_mean: the two means.
      ess, reference_ess: their effective sample sizes.
    """

    difference: float
    se: float
    mean: float
    reference_mean: float
    ess: float
    reference_ess: float


def mean_loss_agreement(
    losses: np.ndarray,
    reference_losses: np.ndarray,
    chain: np.ndarray | None = None,
    reference_chain: np.ndarray | None = None,
) -> LossAgreement:
    """Relative difference of the mean of ``losses`` (n,) against ``reference_losses`` (n',)
    (each with its chain ids, None: one chain), with a standard error from both runs' ESS."""
    a = np.asarray(losses, np.float64)
    b = np.asarray(reference_losses, np.float64)
    se_a, ess_a = _standard_error(a, chain)
    se_b, ess_b = _standard_error(b, reference_chain)
    ma, mb = float(a.mean()), float(b.mean())
    d = ma / mb - 1.0
    se = abs(ma / mb) * float(np.hypot(se_a / ma, se_b / mb))
    return LossAgreement(d, se, ma, mb, ess_a, ess_b)


# ---------------------------------------------------------------------------------------------
# the rule


class GuardVerdict(NamedTuple):
    """``passes``: every |T_conf/T − 1| ≤ ``conf_tolerance`` and |mean-loss difference| ≤
    ``loss_tolerance`` (point estimates). ``resolved``: every standard error is at most half its
    tolerance, so the verdict is not a coin toss. ``worst_conf``: the largest |T_conf/T − 1|."""

    passes: bool
    resolved: bool
    worst_conf: float
    loss_difference: float | None


def guard(
    conf: ConfigurationalTemperature,
    loss: LossAgreement | None = None,
    *,
    conf_tolerance: float = CONF_TOLERANCE,
    loss_tolerance: float = LOSS_TOLERANCE,
) -> GuardVerdict:
    """Apply the rule: |T_conf/T − 1| ≤ 0.02 along every direction (and pooled), |mean-loss
    difference| ≤ 1 %."""
    deviations = np.abs(np.append(conf.ratio, conf.pooled) - 1.0)
    ses = np.append(conf.ratio_se, conf.pooled_se)
    passes = bool(np.all(deviations <= conf_tolerance))
    resolved = bool(np.all(ses <= 0.5 * conf_tolerance))
    if loss is not None:
        passes = passes and abs(loss.difference) <= loss_tolerance
        resolved = resolved and loss.se <= 0.5 * loss_tolerance
    return GuardVerdict(
        passes, resolved, float(deviations.max()), None if loss is None else loss.difference
    )
