"""Sparse models: one per collected encoder, fitted with pysindy's optimisers on normalised
library columns, and what the ensemble of them says (inclusion probabilities, model structures).

Every least-squares fit is expressed on **normalised columns**: each library term divided by its
RMS over the fit snapshots and each ż_j by its own RMS, so a normalised coefficient is the share of
ż_j's RMS that the term carries. The threshold (0.1, the same number as the significance rule)
then means "drop a term that carries less than 10 % of ż_j", whatever the scale of the latent
codes, and the ridge of STLSQ (``alpha``) is relative to unit-norm columns.

An encoder's fit is read from its compressed least-squares problem (``fit_r``, ``fit_qtdz``,
``fit_dz_ms`` of ``ensemble.h5``: ‖Θξ − ż‖²/n = ‖Rξ − y‖² + const), so pysindy's optimiser sees
n_terms rows instead of n snapshots and gives the same answer as on the full data (every
least-squares optimiser depends on the data only through ‖Θξ − ż‖²). Runs written before
those datasets existed fall back to the stored latent codes of the test snapshots.
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pysindy as ps

from analysis.coefficients import kde_modes
from analysis.diagnostics import diagnose
from analysis.library import theta

__all__ = [
    "OPTIMIZERS",
    "PATH_THRESHOLDS",
    "Candidate",
    "FrontPoint",
    "SparseChoice",
    "choose_sparse_models",
    "information_criterion",
    "pareto_front",
    "sparse_paths",
    "added_terms",
    "LeastSquares",
    "Structure",
    "SparseModels",
    "compress",
    "fit_problems",
    "make_optimizer",
    "normalised_fit",
    "refit_on_support",
    "prune_collinear",
    "sparse_fit",
    "sparse_models",
    "stlsq_supports",
    "structure_label",
    "SindyFit",
    "fit_sindy",
]

OPTIMIZERS = ("stlsq", "sr3")
"""Optimisers selectable by name (:func:`make_optimizer`); any pysindy optimiser instance works
too."""

FINAL_RIDGE = 1e-6
"""Ridge weight (relative to unit-norm columns) of the least-squares refit on each selected
support, as ``sindy.ridge`` in training: it damps only directions with singular value ≲ 1e-3 —
the nearly collinear combinations such as z − sin z, whose plain least-squares coefficients
cancel in the thousands (an example measured on the quick preset: benchmarks/README.md,
"analysis/sparse.py") — and leaves the identified directions unchanged."""

STLSQ_ALPHA = 0.05
"""pysindy's default ridge weight of STLSQ, here relative to unit-norm columns."""


class LeastSquares(NamedTuple):
    """A least-squares problem ‖Θξ − ż‖²/n compressed to n_terms rows.

    Attributes:
      r: (..., n_terms, n_terms) with RᵀR = ΘᵀΘ/n.
      qtdz: (..., n_terms, latent_dim) with Rᵀ qtdz = Θᵀż/n.
      dz_ms: (..., latent_dim) the mean square of ż.
    """

    r: np.ndarray
    qtdz: np.ndarray
    dz_ms: np.ndarray


def compress(theta_rows: np.ndarray, dz: np.ndarray) -> LeastSquares:
    """The compressed problem of (Θ, ż) (NumPy twin of ``eae_sindy.sindy.compress_least_squares``).

    Args:
      theta_rows: (n, n_terms), n ≥ n_terms.
      dz: (n, latent_dim).
    """
    theta_rows = np.asarray(theta_rows, float)
    dz = np.asarray(dz, float)
    n = theta_rows.shape[0]
    scale = np.linalg.norm(theta_rows, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    q, r = np.linalg.qr(theta_rows / scale)
    return LeastSquares(r * scale / np.sqrt(n), q.T @ dz / np.sqrt(n), np.mean(dz**2, axis=0))


def make_optimizer(name: str, threshold: float = 0.1) -> Any:
    """An optimiser by name, for normalised columns.

    ``stlsq``: ``STLSQ(threshold, alpha=0.05)`` (sequentially thresholded ridge regression).
    ``sr3``: ``SR3`` with an L0 penalty whose hard threshold
    equals ``threshold`` (λ = threshold²/(2ν), ν = 1).
    """
    if name == "stlsq":
        return ps.STLSQ(threshold=threshold, alpha=STLSQ_ALPHA)
    if name == "sr3":
        return ps.SR3(reg_weight_lam=threshold**2 / 2, regularizer="L0", relax_coeff_nu=1.0)
    raise ValueError(f"unknown sparse optimizer {name!r}; choose one of {list(OPTIMIZERS)}")


def _fitted(optimizer: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """A fresh copy of ``optimizer`` fitted on (x, y) (pysindy's warnings silenced)."""
    opt = copy.deepcopy(optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.fit(x, y)
    return opt


def _scales(column_ms: np.ndarray, dz_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    col = np.sqrt(np.maximum(column_ms, 0.0))
    target = np.sqrt(np.maximum(dz_ms, 0.0))
    return np.where(col > 0, col, 1.0), np.where(target > 0, target, 1.0)


COLLINEAR_TOLERANCE = 1e-3
"""A term of a nearly collinear group is pruned from a sparse model when refitting without it
raises the residual by at most this fraction of ż_j's mean square (a tenth of threshold² for the
default threshold 0.1)."""


def prune_collinear(
    x: np.ndarray,
    y: np.ndarray,
    support: np.ndarray,
    groups: Sequence[Sequence[int]],
    tolerance: float = COLLINEAR_TOLERANCE,
) -> np.ndarray:
    """Drop redundant members of nearly collinear groups from a support.

    Where a support holds two or more terms of a group (e.g. z and sin z), the fit splits one
    effect between them with large cancelling coefficients. While that is so, a member whose
    removal raises the residual by at most ``tolerance`` is removed (the others then carry its
    effect); of several such, the last in library order (a sine before a monomial, a higher
    degree before a lower), so that members agree on which twin they keep.

    Args:
      x: (n_rows, n_terms) unit-norm columns; y: (n_rows, n_targets) unit-RMS targets (as in
        :func:`sparse_fit`); support: (n_terms, n_targets) bool; groups: term indices per group.

    Returns:
      The pruned support.
    """
    support = support.copy()

    def residual(s: np.ndarray, j: int) -> float:
        w = refit_on_support(x, y[:, j : j + 1], s[:, None])[:, 0]
        return float(np.sum((x @ w - y[:, j]) ** 2))

    for j in range(support.shape[1]):
        for group in groups:
            while np.count_nonzero(support[list(group), j]) > 1:
                base = residual(support[:, j], j)
                trials = []
                for k in group:
                    if support[k, j]:
                        trial = support[:, j].copy()
                        trial[k] = False
                        trials.append((residual(trial, j) - base, k))
                affordable = [k for rise, k in trials if rise <= tolerance]
                if not affordable:
                    break
                support[max(affordable), j] = False  # the last in library order: sin before z
    return support


def _plain_stlsq(optimizer: Any) -> bool:
    """Whether ``optimizer`` is pysindy's STLSQ with none of the options that
    :func:`stlsq_supports` does not reproduce (sparse_ind, initial_guess, normalize_columns,
    ridge_kw)."""
    return (
        type(optimizer) is ps.STLSQ
        and optimizer.sparse_ind is None
        and optimizer.initial_guess is None
        and not optimizer.normalize_columns
        and not optimizer.ridge_kw
        and optimizer.threshold > 0
    )


def stlsq_supports(
    x: np.ndarray, y: np.ndarray, threshold: float, alpha: float, max_iter: int = 20
) -> np.ndarray:
    """The supports pysindy's ``STLSQ(threshold, alpha, max_iter)`` selects, for many problems
    at once (``tests/test_sparse.py`` checks they are pysindy's own).

    STLSQ alternates a ridge regression of each target on its current support,
    (X_sᵀX_s + αI) w = X_sᵀy, with dropping the terms whose |w| is below ``threshold``, until the
    supports stop changing (or ``max_iter`` rounds); a support that no longer changes is a fixed
    point, so the problems are iterated together until each has converged. This replaces
    fitting the ensemble's thousands of members one ``STLSQ.fit`` at a time (what that cost:
    benchmarks/README.md, "analysis/sparse.py").

    Args:
      x: (n_problems, n_rows, n_terms); y: (n_problems, n_rows, n_targets).

    Returns:
      (n_problems, n_terms, n_targets) bool.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n_terms = x.shape[2]
    gram = np.einsum("nri,nrj->nij", x, x)[:, None] + alpha * np.eye(n_terms)  # (N, 1, T, T)
    rhs = np.einsum("nri,nrk->nki", x, y)  # (N, K, T)
    support = np.ones(rhs.shape, bool)  # (N, K, T)
    active = np.arange(len(x))
    identity = np.eye(n_terms, dtype=bool)
    for _ in range(max_iter):
        if not active.size:
            break
        m = support[active]
        pair = m[..., :, None] & m[..., None, :]
        # the ridge system restricted to the support; identity rows off it (their w is 0)
        a = np.where(pair, gram[active], 0.0) + (identity & ~m[..., :, None])
        w = np.linalg.solve(a, np.where(m, rhs[active], 0.0)[..., None])[..., 0]
        new = np.abs(w) >= threshold
        changed = np.any(new != m, axis=(1, 2))
        support[active] = new
        active = active[changed]
    return np.swapaxes(support, 1, 2)


def _normalised(problem: LeastSquares):
    """``(x, y, col, target)``: the compressed problem on unit-norm columns and unit-RMS
    targets, and the scales that undo it."""
    r = np.asarray(problem.r, float)
    col, target = _scales(np.sum(r**2, axis=-2), np.asarray(problem.dz_ms, float))
    y = np.asarray(problem.qtdz, float) / target[..., None, :]
    return r / col[..., None, :], y, col, target


def _finish(
    x: np.ndarray,
    y: np.ndarray,
    support: np.ndarray,
    groups: Sequence[Sequence[int]],
    threshold: float | None,
) -> np.ndarray:
    """Pruning of collinear twins, the refit and the final threshold of :func:`sparse_fit`
    (normalised units)."""
    if groups:
        support = prune_collinear(x, y, support, groups)
    w = refit_on_support(x, y, support)
    while threshold is not None:  # the threshold holds for the final coefficients too
        small = support & (np.abs(w) < threshold)
        if not small.any():
            break
        support &= ~small
        w = refit_on_support(x, y, support)
    return w


def sparse_fit(
    problem: LeastSquares,
    optimizer: Any,
    groups: Sequence[Sequence[int]] = (),
    threshold: float | None = None,
) -> np.ndarray:
    """One sparse model from one compressed problem, on normalised columns.

    Args:
      problem: a single ``LeastSquares`` (r: (n_terms, n_terms)).
      optimizer: a pysindy optimiser (copied, not modified).
      groups: nearly collinear term groups whose redundant members are pruned
        (:func:`prune_collinear`).
      threshold: if given, terms whose final normalised coefficient is below it are dropped
        and the rest refitted, until none is (STLSQ's rule, applied after the refit).

    Returns:
      Ξ: (n_terms, latent_dim) in the units of z and ż.
    """
    x, y, col, target = _normalised(problem)
    support = np.asarray(_fitted(optimizer, x, y).coef_).T != 0
    return _finish(x, y, support, groups, threshold) * target[None, :] / col[:, None]


def refit_on_support(
    x: np.ndarray, y: np.ndarray, support: np.ndarray, ridge: float = FINAL_RIDGE
) -> np.ndarray:
    """Least squares of each target on its support with the small :data:`FINAL_RIDGE`.

    Args:
      x: (n_rows, n_terms) unit-norm columns; y: (n_rows, n_targets); support: (n_terms,
        n_targets) bool.

    Returns:
      (n_terms, n_targets), zero off the support.
    """
    w = np.zeros(support.shape)
    for j in range(support.shape[1]):
        s = support[:, j]
        if s.any():
            xs = x[:, s]
            gram = xs.T @ xs + ridge * np.eye(int(s.sum()))
            w[s, j] = np.linalg.solve(gram, xs.T @ y[:, j])
    return w


def normalised_fit(
    theta_rows: np.ndarray, dz: np.ndarray, optimizer: Any
) -> tuple[np.ndarray, Any]:
    """A pysindy optimiser fitted on the rows of (Θ, ż) with unit-RMS columns and targets — what
    a pysindy user gets from normalised columns (the optimiser's ridge weighs against the sum over
    the rows) — then refitted on its support (:func:`refit_on_support`); returns Ξ in the units
    of z and ż, and the fitted optimiser. The members' :func:`sparse_fit` instead works on
    unit-norm columns, where STLSQ's ridge (0.05) is felt: it keeps one effect from being split
    between nearly collinear terms with large cancelling coefficients.
    For an ``EnsembleOptimizer`` the ``coef_list`` of the returned optimiser is normalised."""
    theta_rows = np.asarray(theta_rows, float)
    dz = np.asarray(dz, float)
    col, target = _scales(np.mean(theta_rows**2, axis=0), np.mean(dz**2, axis=0))
    x, y = theta_rows / col, dz / target
    opt = _fitted(optimizer, x, y)
    norm = np.sqrt(len(x))  # unit-norm columns for the refit's ridge
    w = refit_on_support(x / norm, y / norm, np.asarray(opt.coef_).T != 0)
    return w * target[None, :] / col[:, None], opt


class Structure(NamedTuple):
    """One model structure (which terms, per equation) and the members that chose it.

    Attributes:
      support: (n_terms, latent_dim) bool.
      terms: per equation, the names of its terms.
      members: indices of the members with this structure.
      frequency: their fraction of the ensemble.
      mean: (n_terms, latent_dim) mean sparse coefficients over those members (0 off support).
      coefficients: per included coefficient ``(equation, term)`` → mean, mode, q05, q95 over
        the members with this structure, and r_hat, ess_bulk of that coefficient's sparse value
        over every member (0 where excluded), grouped by chain.
    """

    support: np.ndarray
    terms: list[list[str]]
    members: np.ndarray
    frequency: float
    mean: np.ndarray
    coefficients: dict[tuple[str, str], dict[str, float | None]]


class SparseModels(NamedTuple):
    """Sparse models of every member.

    Attributes:
      xi: (n_samples, n_terms, latent_dim) sparse coefficients, zero off each member's support.
      inclusion: (n_terms, latent_dim) fraction of members that include each term.
      structures: the most frequent structures, most frequent first.
      n_structures: how many distinct structures the ensemble holds.
      optimizer: its name (or class name).
      threshold: the normalised threshold.
      source: what the fits were computed from (``"fit snapshots"`` or ``"test codes"``).
      inclusion_r_hat: (n_terms, latent_dim) R-hat of each term's inclusion indicator over the
        chains (NaN where it is constant or there is one chain).
      choice: the models chosen by evidence from each member's path of thresholds
        (:func:`choose_sparse_models`; ``analysis.pipeline.sparse_analysis`` sets it), or None.
    """

    xi: np.ndarray
    inclusion: np.ndarray
    structures: list[Structure]
    n_structures: int
    optimizer: str
    threshold: float
    source: str
    inclusion_r_hat: np.ndarray
    choice: SparseChoice | None = None


def structure_label(support: np.ndarray, names: Sequence[str]) -> list[list[str]]:
    """Per equation, the names of the terms in ``support`` ((n_terms, latent_dim) bool)."""
    return [[names[k] for k in np.nonzero(support[:, j])[0]] for j in range(support.shape[1])]


def fit_problems(run: Any) -> tuple[LeastSquares, str] | None:
    """Every member's compressed least-squares problem and where it came from: the stored fit
    problems (``"fit snapshots"``) or, for runs written before them, the stored latent codes of
    the test snapshots (``"test codes"``); None when the run holds neither."""
    if run.fit_r is not None:
        return LeastSquares(run.fit_r, run.fit_qtdz, run.fit_dz_ms), "fit snapshots"
    if run.z is None or run.dz is None or run.z.shape[1] < len(run.terms):
        return None
    parts = [compress(theta(z, run.terms), dz) for z, dz in zip(run.z, run.dz, strict=True)]
    return LeastSquares(*(np.stack(p) for p in zip(*parts, strict=True))), "test codes"


def sparse_models(
    run: Any,
    *,
    threshold: float = 0.1,
    optimizer: str | Any = "stlsq",
    max_structures: int = 5,
    groups: Sequence[Sequence[int]] = (),
) -> SparseModels | None:
    """A sparse model for every member of ``run`` (an ``analysis.rundir.RunData``).

    Args:
      run: the ensemble; needs ``fit_r``/``fit_qtdz``/``fit_dz_ms`` or the latent codes.
      threshold: normalised threshold (share of ż_j's RMS).
      optimizer: ``"stlsq"``, ``"sr3"`` or a pysindy optimiser instance.
      max_structures: how many of the most frequent structures are described.
      groups: nearly collinear term groups whose redundant members are pruned
        (:func:`prune_collinear`; ``analysis.pipeline.sparse_analysis`` passes the groups that
        ``analysis.identifiability`` finds).

    Returns:
      ``SparseModels``, or None when the run holds neither the fit problems nor enough latent
      codes.
    """
    found = fit_problems(run)
    if found is None:
        return None
    problems, source = found
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
    opt = make_optimizer(optimizer, threshold) if isinstance(optimizer, str) else optimizer
    n = problems.r.shape[0]
    if _plain_stlsq(opt):  # all supports at once, then each member's pruning and refit
        x, y, col, target = _normalised(problems)
        supports = stlsq_supports(x, y, opt.threshold, opt.alpha, opt.max_iter)
        xi = np.stack([_finish(x[i], y[i], supports[i], groups, threshold) for i in range(n)]) * (
            target[:, None, :] / col[:, :, None]
        )
    else:
        xi = np.stack(
            [
                sparse_fit(LeastSquares(*(a[i] for a in problems)), opt, groups, threshold)
                for i in range(n)
            ]
        )
    support = xi != 0
    keys = [s.tobytes() for s in support]
    counts = Counter(keys)
    shape = support.shape[1:]
    diag = diagnose(xi, run.chain)
    structures = []
    for key, count in counts.most_common(max_structures):
        sup = np.frombuffer(key, dtype=bool).reshape(shape)
        members = np.array([i for i, k in enumerate(keys) if k == key])
        structures.append(_structure(sup, members, xi, diag, run.term_names, count / n))
    inclusion_r_hat = diagnose(support.astype(float), run.chain).r_hat
    return SparseModels(
        xi=xi,
        inclusion=support.mean(axis=0),
        structures=structures,
        n_structures=len(counts),
        optimizer=name,
        threshold=float(threshold),
        source=source,
        inclusion_r_hat=inclusion_r_hat,
    )


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _structure(
    support: np.ndarray,
    members: np.ndarray,
    xi: np.ndarray,
    diag: Any,
    names: Sequence[str],
    frequency: float,
) -> Structure:
    chosen = xi[members]
    coefficients = {}
    for k, j in zip(*np.nonzero(support), strict=True):
        values = chosen[:, k, j]
        q05, q95 = np.quantile(values, [0.05, 0.95])
        mode = kde_modes(values).peaks[0] if len(values) > 2 else float(np.median(values))
        coefficients[(f"x{j}'", names[k])] = {
            "mean": float(values.mean()),
            "mode": float(mode),
            "q05": float(q05),
            "q95": float(q95),
            "r_hat": _number(diag.r_hat[k, j]),
            "ess_bulk": _number(diag.ess_bulk[k, j]),
        }
    return Structure(
        support=support,
        terms=structure_label(support, names),
        members=members,
        frequency=float(frequency),
        mean=chosen.mean(axis=0),
        coefficients=coefficients,
    )


# ---------------------------------------------------------------------------------------------
# Sparse models chosen by evidence: each member's path over a ladder of thresholds, and the
# sparsest model on it whose integrated dynamics keep the data's attractor (or, where that check
# cannot run, the one an information criterion prefers).

PATH_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.geomspace(0.002, 0.5, 13))
"""The ladder of normalised thresholds of each member's path (log-spaced, 0.2 % to 50 % of ż_j's
RMS); :func:`choose_sparse_models` adds the fixed threshold of the plain sparse models."""

ERROR_FLOOR = 1e-9
"""Unexplained fractions of ż_j's mean square below this are not told apart (the compressed
problem's constant ‖ż‖²/n − ‖Qᵀż‖²/n cancels to about this in float32 runs): on noiseless data
a superset of the true support then gains nothing over it, in the Pareto front and the
information criterion alike."""

CRITERIA = ("bic", "aic")


class Candidate(NamedTuple):
    """One sparse model on a member's path.

    Attributes:
      support: (n_terms, latent_dim) bool.
      xi: (n_terms, latent_dim) its least-squares coefficients on that support (the member's
        compressed problem, normalised columns, :data:`FINAL_RIDGE`), in the units of z and ż.
      mse: (latent_dim,) the unexplained fraction of each ż_j's mean square, ‖Θξ_j − ż_j‖² /
        ‖ż_j‖² over the fit snapshots.
      thresholds: the thresholds of the ladder that gave this support.
    """

    support: np.ndarray
    xi: np.ndarray
    mse: np.ndarray
    thresholds: tuple[float, ...]

    @property
    def n_terms(self) -> int:
        return int(self.support.sum())

    @property
    def error(self) -> float:
        """The unexplained fraction of ż's mean square, averaged over the equations."""
        return float(np.mean(self.mse))


def pareto_front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates that no other beats on both counts (as few or fewer terms and as small or
    smaller error, errors below :data:`ERROR_FLOOR` counting as equal), sparsest first."""
    ordered = sorted(candidates, key=lambda c: (c.n_terms, max(c.error, ERROR_FLOOR)))
    front, best = [], np.inf
    for c in ordered:
        err = max(c.error, ERROR_FLOOR)
        if err < best:
            front.append(c)
            best = err
    return front


def _unexplained(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(targets,) ‖x w − y‖² + 1 − ‖y‖²: the residual of unit-RMS targets over the snapshots
    (the compressed problem's constant folded in), clipped at 0."""
    res = np.sum((x @ w - y) ** 2, axis=0) + 1.0 - np.sum(y**2, axis=0)
    return np.maximum(res, 0.0)


def sparse_paths(
    problems: LeastSquares,
    *,
    thresholds: Sequence[float] = PATH_THRESHOLDS,
    groups: Sequence[Sequence[int]] = (),
    alpha: float = STLSQ_ALPHA,
    max_iter: int = 20,
) -> list[list[Candidate]]:
    """Every member's path of sparse models over a ladder of thresholds: at each threshold the
    supports of STLSQ (:func:`stlsq_supports`, all members at once), collinear twins pruned and
    each support refitted by least squares with the threshold also holding for the refitted
    coefficients (as :func:`sparse_models`). Of the distinct supports with no equation left
    empty, each member keeps its Pareto front (:func:`pareto_front`). The least-squares Ξ itself
    is not on the path: a member whose sparse models all fail the dynamics check says so.

    Args:
      problems: the members' compressed problems (r: (n, n_terms, n_terms)).
      thresholds: normalised thresholds (shares of ż_j's RMS; positive).
      groups: nearly collinear term groups (:func:`prune_collinear`).

    Returns:
      Per member, its candidates, sparsest first (errors then decrease).
    """
    x, y, col, target = _normalised(problems)
    n = x.shape[0]
    ladder = sorted({float(t) for t in thresholds if t > 0})
    found: list[dict[bytes, list]] = [{} for _ in range(n)]
    for thr in ladder:
        supports = stlsq_supports(x, y, thr, alpha, max_iter)
        for i in range(n):
            w = _finish(x[i], y[i], supports[i].copy(), groups, thr)
            support = w != 0
            key = support.tobytes()
            if key in found[i]:
                found[i][key][3].append(thr)
                continue
            xi = w * target[i][None, :] / col[i][:, None]
            found[i][key] = [support, xi, _unexplained(x[i], y[i], w), [thr]]
    paths = []
    for f in found:
        candidates = [Candidate(s, xi, mse, tuple(t)) for s, xi, mse, t in f.values()]
        # a model with an equation left empty (ż_j = 0) is no candidate; threshold 0 keeps one
        full = [c for c in candidates if c.support.any(axis=0).all()]
        paths.append(pareto_front(full or candidates))
    return paths


def information_criterion(candidate: Candidate, n_snapshots: int, kind: str = "bic") -> float:
    """BIC (or AIC) of a candidate from its fit residual: Σ_j n ln(mse_j) + k ln n (AIC: + 2k),
    n the number of snapshots the fit used, k the number of terms, mse_j the unexplained
    fraction of ż_j's mean square (floored at :data:`ERROR_FLOOR`). Gaussian residuals of
    independent snapshots are assumed; consecutive snapshots are not independent, so the
    criterion leans to more terms than it would on independent data."""
    if kind not in CRITERIA:
        raise ValueError(f"unknown criterion {kind!r}; choose one of {list(CRITERIA)}")
    n = float(n_snapshots)
    fit = n * float(np.sum(np.log(np.maximum(candidate.mse, ERROR_FLOOR))))
    return fit + candidate.n_terms * (np.log(n) if kind == "bic" else 2.0)


class FrontPoint(NamedTuple):
    """One support on the members' Pareto fronts, over the members the choice was made on.

    Attributes:
      support: (n_terms, latent_dim) bool; terms: per equation, the names of its terms.
      n_terms: its number of terms.
      error: median over the members with it on their front of the unexplained fraction of ż's
        mean square (averaged over the equations).
      on_front: fraction of the members with this support on their front.
      checked: how many members' integrated dynamics were checked with it.
      kept: how many of those kept the data's attractor kind and period.
      chosen: fraction of the members that chose it.
    """

    support: np.ndarray
    terms: list[list[str]]
    n_terms: int
    error: float
    on_front: float
    checked: int
    kept: int
    chosen: float


class SparseChoice(NamedTuple):
    """The sparse model chosen per member from its path, and what the ensemble says about it.

    Attributes:
      xi: (n_samples, n_terms, latent_dim) each member's chosen model.
      basis: (n_samples,) why: ``"dynamics"`` (the sparsest candidate whose integrated dynamics
        keep the data's attractor), ``"criterion"`` (no dynamics check for this member: the
        information criterion's choice) or ``"criterion: none kept the dynamics"``.
      n_terms, error: (n_samples,) of the chosen models.
      pool: (m,) the members the recommendation is taken over: those whose choice rests on
        the dynamics check, or every member when there is none (no check, or no candidate of
        any member checked passed).
      checked: (m_checked,) the members whose candidates were integrated (empty without a
        dynamics check).
      n_checks: how many candidates were integrated in all.
      structures: the most frequent chosen structures over ``pool``, most frequent (then
        sparsest) first; the first is the recommended model: its ``mean`` is what
        ``to_pysindy("sparse")`` returns.
      n_structures: how many distinct structures ``pool`` chose.
      front: the supports on the pool's fronts (on at least 5 % of them, or chosen), by number
        of terms.
      criterion: ``"bic"`` or ``"aic"``.
      n_snapshots: the n of the criterion; n_snapshots_source: where it comes from.
      thresholds: the ladder (the fixed threshold included).
      dynamics: what the dynamics check compared (None without one) or why it did not run.
      tolerance: relative period tolerance of the check.
      recommended_kept: (kept, tried): the recommended mean model itself, integrated from the
        encodings of some of its members, kept the data's attractor from ``kept`` of ``tried``
        starts (``analysis.pipeline.sparse_choice`` sets it; None without a dynamics check).
    """

    xi: np.ndarray
    basis: np.ndarray
    n_terms: np.ndarray
    error: np.ndarray
    pool: np.ndarray
    checked: np.ndarray
    n_checks: int
    structures: list[Structure]
    n_structures: int
    front: list[FrontPoint]
    criterion: str
    n_snapshots: int
    n_snapshots_source: str
    thresholds: tuple[float, ...]
    dynamics: str
    tolerance: float = 0.05
    recommended_kept: tuple[int, int] | None = None

    @property
    def recommended(self) -> Structure | None:
        return self.structures[0] if self.structures else None

    @property
    def by_dynamics(self) -> bool:
        """Whether the recommendation rests on integrated dynamics."""
        return bool(np.any(self.basis[self.pool] == "dynamics"))


def choose_sparse_models(
    run: Any,
    *,
    n_snapshots: int,
    n_snapshots_source: str = "",
    keeps_dynamics: Any = None,
    members: Sequence[int] | None = None,
    dynamics: str = "",
    groups: Sequence[Sequence[int]] = (),
    thresholds: Sequence[float] = PATH_THRESHOLDS,
    fixed_threshold: float | None = 0.1,
    criterion: str = "bic",
    max_structures: int = 5,
    min_front_share: float = 0.05,
    tolerance: float = 0.05,
) -> SparseChoice | None:
    """Choose each member's sparse model by evidence from its path (:func:`sparse_paths`).

    With ``keeps_dynamics`` the members in ``members`` (default: all) try their candidates
    sparsest first and take the first whose integrated dynamics keep the data's attractor kind
    and period — ``keeps_dynamics(xi, members) -> (m,) bool`` for m models at once (``xi``
    (m, n_terms, latent_dim) in the units of z, ż, ``members`` (m,) whose models they are; one
    call per round, each member still looking offering its next candidate). It is the only
    place anything is integrated (``analysis.pipeline`` builds it on ``analysis.attractor``;
    tests pass a fake). A member none of whose candidates passes, and
    every member outside ``members``, takes the candidate with the smallest information
    criterion (:func:`information_criterion`, n = ``n_snapshots``). The recommendation is the
    most frequent structure chosen by the dynamics check (by the criterion, over every member,
    when the check did not run or no member's candidate passed).

    Args:
      run: the ensemble (needs the fit problems or latent codes, :func:`fit_problems`).
      n_snapshots: the number of snapshots each fit used (the criterion's n).
      n_snapshots_source: a few words on where ``n_snapshots`` comes from (for the report).
      keeps_dynamics: the dynamics check, or None (the criterion alone).
      members: the members whose dynamics are checked (the others use the criterion).
      dynamics: a few words on what the check compares, or why it did not run.
      groups: nearly collinear term groups (:func:`prune_collinear`).
      thresholds: the ladder; ``fixed_threshold`` (the plain sparse models') is added to it.
      criterion: ``"bic"`` or ``"aic"``.
      max_structures: how many chosen structures are described.
      min_front_share: a support enters ``front`` when on at least this share of the fronts.
      tolerance: the check's relative period tolerance (recorded; the check applies it).

    Returns:
      ``SparseChoice``, or None when the run holds neither fit problems nor latent codes.
    """
    found = fit_problems(run)
    if found is None:
        return None
    problems, _ = found
    ladder = sorted(
        {float(t) for t in thresholds} | ({float(fixed_threshold)} if fixed_threshold else set())
    )
    paths = sparse_paths(problems, thresholds=ladder, groups=groups)
    n = len(paths)
    checked = np.arange(n) if members is None else np.unique(np.asarray(members, int))
    if keeps_dynamics is None:
        checked = np.zeros(0, int)
    by_ic = [
        int(np.argmin([information_criterion(c, n_snapshots, criterion) for c in path]))
        for path in paths
    ]
    pick, basis, tried, n_checks = _check_dynamics(paths, checked, keeps_dynamics, by_ic)
    chosen = [paths[i][pick[i]] for i in range(n)]
    xi = np.stack([c.xi for c in chosen])
    passed = checked[basis[checked] == "dynamics"]
    pool = passed if len(passed) else np.arange(n)
    names = run.term_names
    keys = [chosen[i].support.tobytes() for i in pool]
    counts = Counter(keys)
    structures = _chosen_structures(xi, pool, keys, counts, run.chain, names, max_structures)
    front = _front(paths, pool, keys, tried, names, xi.shape[1:], min_front_share)
    return SparseChoice(
        xi=xi,
        basis=basis.astype(str),
        n_terms=np.array([c.n_terms for c in chosen]),
        error=np.array([c.error for c in chosen]),
        pool=pool,
        checked=checked,
        n_checks=n_checks,
        structures=structures,
        n_structures=len(counts),
        front=front,
        criterion=criterion,
        n_snapshots=int(n_snapshots),
        n_snapshots_source=n_snapshots_source,
        thresholds=tuple(ladder),
        dynamics=dynamics,
        tolerance=float(tolerance),
    )


def _check_dynamics(
    paths: list[list[Candidate]], checked: np.ndarray, keeps_dynamics: Any, by_ic: list[int]
) -> tuple[list[int], np.ndarray, list[dict[bytes, bool]], int]:
    """The dynamics check of :func:`choose_sparse_models`: each member in ``checked`` offers its
    candidates sparsest first, all still looking in one call per round, until one passes.

    Returns:
      each member's pick (index on its path; ``by_ic`` where the check did not pass), its basis
      (``"dynamics"``, ``"criterion: none kept the dynamics"`` or ``"criterion"``), each
      member's tried supports (support bytes → passed) and the number of candidates checked.
    """
    n = len(paths)
    pick = list(by_ic)
    basis = np.full(n, "criterion", dtype=object)
    tried: list[dict[bytes, bool]] = [{} for _ in range(n)]
    n_checks = 0
    basis[checked] = "criterion: none kept the dynamics"
    step = dict.fromkeys(checked.tolist(), 0)  # each member's next candidate, sparsest first
    while step:  # one call per round: every member still looking, its next candidate
        active = np.array(sorted(step))
        candidates = [paths[i][step[i]] for i in active]
        ok = np.asarray(keeps_dynamics(np.stack([c.xi for c in candidates]), active), bool)
        n_checks += len(active)
        for i, c, passed in zip(active.tolist(), candidates, ok.tolist(), strict=True):
            tried[i][c.support.tobytes()] = passed
            if passed:
                pick[i], basis[i] = step.pop(i), "dynamics"
            elif step[i] + 1 < len(paths[i]):
                step[i] += 1
            else:
                del step[i]
    return pick, basis, tried, n_checks


def _chosen_structures(
    xi: np.ndarray,
    pool: np.ndarray,
    keys: list[bytes],
    counts: Counter,
    chain: np.ndarray | None,
    names: Sequence[str],
    max_structures: int,
) -> list[Structure]:
    """The ``max_structures`` most frequent supports among the chosen models of ``pool``
    (``keys``: their supports' bytes), most frequent first and, among equally frequent, the
    sparser, each with its members (ensemble indices) and statistics."""
    chain = None if chain is None else np.asarray(chain)[pool]
    diag = diagnose(xi[pool], chain)
    shape = xi.shape[1:]
    structures = []
    ranked = sorted(counts.items(), key=lambda kc: (-kc[1], np.frombuffer(kc[0], bool).sum()))
    for key, count in ranked[:max_structures]:
        sup = np.frombuffer(key, dtype=bool).reshape(shape)
        local = np.array([p for p, k in enumerate(keys) if k == key])
        s = _structure(sup, local, xi[pool], diag, names, count / len(pool))
        structures.append(s._replace(members=pool[local]))
    return structures


def _front(
    paths: list[list[Candidate]],
    pool: np.ndarray,
    chosen_keys: list[bytes],
    tried: list[dict[bytes, bool]],
    names: Sequence[str],
    shape: tuple[int, ...],
    min_share: float,
) -> list[FrontPoint]:
    errors: dict[bytes, list[float]] = {}
    for i in pool:
        for c in paths[i]:
            errors.setdefault(c.support.tobytes(), []).append(c.error)
    chosen = Counter(chosen_keys)
    points = []
    for key, errs in errors.items():
        share = len(errs) / len(pool)
        if share < min_share and key not in chosen:
            continue
        sup = np.frombuffer(key, dtype=bool).reshape(shape)
        results = [t[key] for t in (tried[i] for i in pool) if key in t]
        points.append(
            FrontPoint(
                support=sup,
                terms=structure_label(sup, names),
                n_terms=int(sup.sum()),
                error=float(np.median(errs)),
                on_front=float(share),
                checked=len(results),
                kept=int(sum(results)),
                chosen=chosen[key] / len(pool),
            )
        )
    return sorted(points, key=lambda p: (p.n_terms, p.error))


def added_terms(support: np.ndarray, plain: np.ndarray, names: Sequence[str]) -> list[list[str]]:
    """Per equation, the terms in ``support`` that ``plain`` lacks (both (n_terms, latent_dim)
    bool): what the chosen model needs beyond the fixed-threshold one."""
    return structure_label(np.asarray(support) & ~np.asarray(plain), names)


class SindyFit(NamedTuple):
    """STLSQ and E-SINDy (bagged STLSQ, pysindy's ``EnsembleOptimizer``) on one trajectory.

    Attributes:
      stlsq: (n_terms, latent_dim) STLSQ coefficients.
      ensemble: (n_terms, latent_dim) median of the bagged models.
      ensemble_inclusion: (n_terms, latent_dim) fraction of bagged models with the term.
      n_models: number of bagged models.
    """

    stlsq: np.ndarray
    ensemble: np.ndarray
    ensemble_inclusion: np.ndarray
    n_models: int


def fit_sindy(
    z: np.ndarray,
    dz: np.ndarray,
    terms: Sequence[Any],
    *,
    threshold: float = 0.1,
    n_models: int = 50,
    seed: int = 0,
) -> SindyFit:
    """STLSQ and E-SINDy on normalised columns of (Θ(z), ż), like the members' sparse models.

    pysindy's ``EnsembleOptimizer`` draws from NumPy's global generator: it is seeded with
    ``seed`` and restored afterwards.
    """
    rows = theta(z, terms)
    stlsq, _ = normalised_fit(rows, dz, make_optimizer("stlsq", threshold))
    bagged = ps.EnsembleOptimizer(
        make_optimizer("stlsq", threshold), bagging=True, n_models=n_models
    )
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        ensemble, fitted = normalised_fit(rows, dz, bagged)
    finally:
        np.random.set_state(state)
    coef_list = np.asarray(fitted.coef_list)  # (n_models, latent_dim, n_terms)
    return SindyFit(stlsq, ensemble, (coef_list != 0).mean(axis=0).T, n_models)
