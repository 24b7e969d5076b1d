"""The full analysis of a run directory, as data (no files written): ``analyze_run``.

Steps: coefficient statistics of the whole ensemble → modes of the significant coefficients →
per-mode statistics → symmetries between modes → long-time dynamics of the mean model and of each
mode's centre, started from that mode's encoding of the earliest test snapshot, compared with the
data's own period → what each integrated model does to perturbations (``analysis.attractor``:
attracting cycle, neutral centre, chaos, ...) beside the data's own attractor → pysindy
baselines on a representative encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from analysis.attractor import Attractor, classify_many, data_attractor
from analysis.coefficients import (
    CoefficientStats,
    ModeClustering,
    clustering_mask,
    coefficient_stats,
    find_modes,
)
from analysis.combinations import Combination, identified_combinations
from analysis.dynamics import Orbit, analyse_orbit, signal_period
from analysis.ensemble_dynamics import (
    DynamicsDistribution,
    dynamics_distribution,
    spread_members,
)
from analysis.frame_free import FrameFree, draw_targets, frame_free
from analysis.identifiability import (
    Identifiability,
    LinearSummary,
    identifiability,
    linear_summary,
    normalised_gram,
)
from analysis.interop import Baseline, fit_baselines, representative_encoder
from analysis.library import theta
from analysis.peer import Peer, fit_peer
from analysis.rundir import RunData
from analysis.sparse import SparseChoice, SparseModels, choose_sparse_models, sparse_models
from analysis.symmetry import SymmetryMatch, find_symmetries
from analysis.timeseries import on_uniform_grid

__all__ = [
    "ModelDynamics",
    "Analysis",
    "analyze_run",
    "run_data_attractor",
    "run_frame_free",
    "sparse_analysis",
]


class ModelDynamics(NamedTuple):
    """One integrated model.

    Attributes:
      name: ``"mean"``, ``"mode k"``, ``"recommended sparse model"`` (the mean of the models
        chosen by evidence that share the most frequent structure) or ``"top sparse structure"``
        (at the one fixed threshold; its members' mean sparse
        model).
      xi: (n_terms, latent_dim) the coefficients integrated.
      z0: (latent_dim,) initial state (mean encoding of the earliest test snapshot).
      encoded: (n_eval, latent_dim) mean encoded test trajectory of the same samples, or None.
      orbit: the result.
      period_rel_error: |period − data period| / data period (NaN if either is unknown).
      attractor: what the model does to perturbations (``analysis.attractor.classify``, scale =
        the RMS radius of ``encoded`` about its mean), or None.
    """

    name: str
    xi: np.ndarray
    z0: np.ndarray
    encoded: np.ndarray | None
    orbit: Orbit
    period_rel_error: float
    attractor: Attractor | None = None


class Analysis(NamedTuple):
    """Everything the report shows.

    Attributes:
      run: the validated input.
      threshold: magnitude threshold of inclusion / significance.
      stats: statistics over the whole ensemble.
      modes: the clustering.
      mode_stats: statistics within each mode.
      symmetries: related mode pairs.
      data_period: period of ``data_signal`` (NaN if unavailable).
      dynamics: mean model first, then one entry per mode, then the recommended sparse model
        and the top sparse structure at the fixed threshold (empty
        without ``z``).
      baseline: pysindy fits, or None without ``z``/``dz``.
      notes: what was skipped and why.
      chain_symmetries: pairs of whole chains whose mean Ξ are images of each other under a
        signed permutation of z (indices are chains).
      sparse: a sparse model per member (``analysis.sparse``), or None.
      distributions: the distribution of dynamics of the least-squares and the sparse models
        (``analysis.ensemble_dynamics``; empty without latent codes or a data period).
      identifiability: the nearly collinear term groups, or None.
      linear: the linearisation at the origin over the ensemble.
      peer: PCA + SINDy on the same data, or None (runs without ``pca_z``).
      frame_free: the frame-free targets and the run's convergence verdict on them
        (``analysis.frame_free``).
      combinations: the identified combinations of the collinear groups' coefficients, every
        chain in the frame of chain 0 (``analysis.combinations``; descriptive).
      data_attractor: the data's own attractor (``analysis.attractor.data_attractor``, see
        :func:`run_data_attractor`), or None.
      data_attractor_source: which signal it was read from.
    """

    run: RunData
    threshold: float
    stats: CoefficientStats
    modes: ModeClustering
    mode_stats: list[CoefficientStats]
    symmetries: list[SymmetryMatch]
    data_period: float
    dynamics: list[ModelDynamics]
    baseline: Baseline | None
    notes: list[str]
    chain_symmetries: list[SymmetryMatch] = []
    sparse: SparseModels | None = None
    distributions: list[DynamicsDistribution] = []
    identifiability: Identifiability | None = None
    linear: LinearSummary | None = None
    peer: Peer | None = None
    frame_free: FrameFree | None = None
    combinations: list[Combination] = []
    data_attractor: Attractor | None = None
    data_attractor_source: str = ""


def run_data_attractor(run: RunData) -> tuple[Attractor | None, str]:
    """The data's attractor (``analysis.attractor.data_attractor``) and the signal it is read
    from: the principal components of the fit snapshots (``pca_z`` at ``t_pca``: the longest
    stretch of the data, with its transient where the fits include it — the one place where
    the approach to the cycle, i.e. whether it attracts, shows) when they form one trajectory
    (times increasing), else the test data's principal components (``data_signal``), else the
    first member's encoded test trajectory."""
    if run.pca_z is not None and run.t_pca is not None and len(run.t_pca) > 2:
        t = np.asarray(run.t_pca, float)
        if np.all(np.diff(t) > 0):
            return data_attractor(t, np.asarray(run.pca_z, float)), (
                "the principal components of the fit snapshots"
            )
    if run.data_signal is not None:
        dt = _spacing(run.t_data_signal, run.dt)
        if run.t_data_signal is not None and len(run.t_data_signal) == len(run.data_signal):
            t = np.asarray(run.t_data_signal, float)
        elif dt is not None:
            t = dt * np.arange(len(run.data_signal))
        else:
            t = None
        if t is not None:
            return data_attractor(t, np.asarray(run.data_signal, float)), (
                "the principal components of the test data"
            )
    if run.z is not None and run.t is not None:
        return data_attractor(np.asarray(run.t, float), np.asarray(run.z[0], float)), (
            "the first member's encoded test trajectory"
        )
    return None, "no time series stored"


def analyze_run(
    run: RunData,
    *,
    threshold: float = 0.1,
    symmetry_tolerance: float = 0.2,
    max_modes: int = 4,
    n_periods: int = 40,
    n_members: int = 500,
    sparse_optimizer: str = "stlsq",
    seed: int = 0,
) -> Analysis:
    """Compute the analysis of a loaded run.

    Args:
      run: from ``analysis.rundir.load_run``.
      threshold: magnitude threshold (paper: 0.1).
      symmetry_tolerance: relative distance below which two mode centres are images.
      max_modes: largest number of mixture components tried.
      n_periods: the models are integrated over this many data periods (at least the length of
        the test signal) and measured on the second half.
      n_members: about this many members (spread over all chains) are integrated for the
        distribution of dynamics.
      sparse_optimizer: the members' sparse models (``analysis.sparse.make_optimizer``).
      seed: seed of the mixture fits and of pysindy's bagging.

    Returns:
      ``Analysis``.

    The stages: the coefficients' statistics, modes and symmetries
    (:func:`coefficient_structure`); the sparse models; the data's period
    (:func:`data_period_of`); the integrated models and their attractors
    (:func:`integrated_models`); the distribution of dynamics over the ensemble
    (:func:`ensemble_distributions`); and the descriptive extras (:func:`_extras`).
    """
    run = run.as_float64()
    notes = list(run.notes)
    structure, structure_notes = coefficient_structure(
        run,
        threshold=threshold,
        symmetry_tolerance=symmetry_tolerance,
        max_modes=max_modes,
        seed=seed,
    )
    notes += structure_notes
    ident, sparse = sparse_analysis(run, threshold=threshold, optimizer=sparse_optimizer)
    notes += _sparse_notes(sparse)
    data_period, t_data_span, period_notes = data_period_of(run)
    notes += period_notes
    dynamics: list[ModelDynamics] = []
    grid = None
    distributions: list[DynamicsDistribution] = []
    if run.z is None:
        notes.append("No latent codes 'z' stored: the identified models are not integrated.")
    else:
        grid = integration_grid(run, data_period, t_data_span, n_periods)
        dynamics = integrated_models(run, structure, sparse, data_period, grid)
        if np.isfinite(data_period):
            distributions = ensemble_distributions(
                run, sparse, data_period, grid, n_members=n_members
            )
        else:
            notes.append("No data period: the distribution of dynamics is not computed.")
    extras = _extras(
        run,
        ident,
        distributions,
        data_period,
        grid,
        structure.modes.labels,
        threshold=threshold,
        seed=seed,
    )
    return Analysis(
        run=run,
        threshold=float(threshold),
        **structure._asdict(),
        data_period=data_period,
        dynamics=dynamics,
        notes=notes,
        sparse=sparse,
        distributions=distributions,
        identifiability=ident,
        **extras._asdict(),
    )


def _sparse_notes(sparse: SparseModels | None) -> list[str]:
    """What the report says about where the sparse models come from (nothing when from the fit
    snapshots)."""
    if sparse is None:
        return ["Neither the fit problems nor enough latent codes: no sparse models."]
    if sparse.source != "fit snapshots":
        return [
            "The sparse models are fitted on the stored test codes (this run predates the "
            "stored fit problems)."
        ]
    return []


class CoefficientStructure(NamedTuple):
    """The coefficients' statistics over the ensemble and within each mode, the modes, and the
    symmetries between modes and between whole chains (see :class:`Analysis`)."""

    stats: CoefficientStats
    modes: ModeClustering
    mode_stats: list[CoefficientStats]
    symmetries: list[SymmetryMatch]
    chain_symmetries: list[SymmetryMatch]


def coefficient_structure(
    run: RunData,
    *,
    threshold: float,
    symmetry_tolerance: float,
    max_modes: int,
    seed: int,
) -> tuple[CoefficientStructure, list[str]]:
    """The first stage of :func:`analyze_run` (arguments as there): the structure of the
    coefficients, and notes on what was assumed."""
    notes = []
    stats = coefficient_stats(run.xi, threshold=threshold)
    modes = find_modes(
        run.xi, clustering_mask(stats), chain=run.chain, max_components=max_modes, seed=seed
    )
    if modes.drift:
        notes.append(
            "One basin; the chains drift within it: the mixture's components were each held by "
            "a single chain, so they are not reported as modes."
        )
    if not modes.features:
        notes.append(f"No coefficient is significant at threshold {threshold}; one mode assumed.")
    mode_stats = [
        coefficient_stats(run.xi[modes.labels == m], threshold=threshold)
        for m in range(modes.n_modes)
    ]
    symmetries = find_symmetries(modes.centres, run.terms, tolerance=symmetry_tolerance)
    chain_symmetries = []
    if run.n_chains > 1:
        chain_means = np.stack([run.xi[run.chain == c].mean(axis=0) for c in np.unique(run.chain)])
        chain_symmetries = [  # chains that agree as they are need no symmetry to relate them
            match
            for match in find_symmetries(chain_means, run.terms, tolerance=symmetry_tolerance)
            if _relative_distance(chain_means[match.mode_a], chain_means[match.mode_b])
            >= symmetry_tolerance
        ]
    structure = CoefficientStructure(stats, modes, mode_stats, symmetries, chain_symmetries)
    return structure, notes


def data_period_of(run: RunData) -> tuple[float, float, list[str]]:
    """The period of the data's principal-component signal (``data_signal``, put on a uniform
    grid first where its times are not), the signal's time span, and a note where it cannot be
    measured (NaN and 0 then)."""
    if run.data_signal is None:
        return float("nan"), 0.0, []
    dt_sig = _spacing(run.t_data_signal, run.dt)
    if dt_sig is None:
        return (
            float("nan"),
            0.0,
            ["Neither 't_data_signal' nor attribute 'dt' given; no data period."],
        )
    # non-uniform times: the signal on a uniform grid first (an FFT needs one)
    signal, dt_sig = on_uniform_grid(run.t_data_signal, run.data_signal, dt_sig)
    return signal_period(signal, dt_sig), dt_sig * (len(signal) - 1), []


class IntegrationGrid(NamedTuple):
    """How the models are integrated: over ``span`` (in the models' time) at the output
    spacing ``dt``, stopped where ‖z‖∞ leaves ``bound``."""

    span: float
    dt: float
    bound: float


def integration_grid(
    run: RunData, data_period: float, t_data_span: float, n_periods: int
) -> IntegrationGrid:
    """The span: ``n_periods`` data periods, at least the data signal's span (without either,
    20× the test trajectory's span, at least 50); the spacing: the test data's (else span /
    4000), at least span / 20000; the bound: 100× the largest encoding (at least 100)."""
    span = t_data_span
    if np.isfinite(data_period):
        span = max(span, n_periods * data_period)
    if span <= 0:
        t_eval_span = float(run.t[-1] - run.t[0]) if run.t is not None else 0.0
        span = max(20 * t_eval_span, 50.0)
    dt = _spacing(run.t, run.dt) or span / 4000
    dt = max(dt, span / 20000)
    bound = 100.0 * max(1.0, float(np.max(np.abs(run.z))))
    return IntegrationGrid(span, dt, bound)


def integrated_models(
    run: RunData,
    structure: CoefficientStructure,
    sparse: SparseModels | None,
    data_period: float,
    grid: IntegrationGrid,
) -> list[ModelDynamics]:
    """The mean model, each mode's centre, the recommended sparse model and the top sparse
    structure, each integrated from its members' mean encoding of the earliest test snapshot,
    with its period beside the data's and its attractor (all classified in one batch)."""
    groups = [("mean", structure.stats.mean, np.ones(run.n_samples, bool))]
    modes = structure.modes
    groups += [(f"mode {m}", modes.centres[m], modes.labels == m) for m in range(modes.n_modes)]
    recommended = sparse.choice.recommended if sparse is not None and sparse.choice else None
    if recommended is not None:
        chose = np.zeros(run.n_samples, bool)
        chose[recommended.members] = True
        groups.append(("recommended sparse model", recommended.mean, chose))
    if sparse is not None and sparse.structures:
        top = sparse.structures[0]
        chose = np.zeros(run.n_samples, bool)
        chose[top.members] = True
        groups.append(("top sparse structure", top.mean, chose))
    dynamics: list[ModelDynamics] = []
    for name, xi_c, members in groups:
        z0 = run.z[members, 0, :].mean(axis=0)
        encoded = run.z[members].mean(axis=0)
        orbit = analyse_orbit(xi_c, run.terms, z0, t_end=grid.span, dt=grid.dt, bound=grid.bound)
        rel = abs(orbit.period - data_period) / data_period
        dynamics.append(ModelDynamics(name, xi_c, z0, encoded, orbit, float(rel)))
    step = min(grid.dt, data_period / 100) if np.isfinite(data_period) else grid.dt
    kinds = classify_many(  # all models in one batch
        np.stack([d.xi for d in dynamics]),
        run.terms,
        np.stack([d.z0 for d in dynamics]),
        scale=np.array([_spread(d.encoded) for d in dynamics]),
        t_end=grid.span,
        dt=step,
        bound=grid.bound,
        lyapunov=True,
    )
    return [d._replace(attractor=k) for d, k in zip(dynamics, kinds, strict=True)]


def ensemble_distributions(
    run: RunData,
    sparse: SparseModels | None,
    data_period: float,
    grid: IntegrationGrid,
    *,
    n_members: int,
) -> list[DynamicsDistribution]:
    """The distribution of dynamics (``analysis.ensemble_dynamics``) of about ``n_members``
    members spread over the chains: their least-squares models, each member's model chosen by
    evidence, and their sparse models."""
    members = spread_members(run.n_samples, run.chain, n_members)
    models = [("least squares", run.xi)]
    if sparse is not None and sparse.choice is not None:  # each member's chosen model
        models.append(("sparse (chosen by evidence)", sparse.choice.xi))
    if sparse is not None:
        models.append(("sparse", sparse.xi))
    encoded_radius = np.sqrt(np.mean(np.sum(run.z[members] ** 2, axis=2), axis=1))
    encoded_spread = np.array([_spread(run.z[m]) for m in members])
    return [
        dynamics_distribution(
            label,
            xi_all[members],
            run.terms,
            run.z[members, 0, :],
            chain=None if run.chain is None else run.chain[members],
            members=members,
            data_period=data_period,
            span=grid.span,
            dt=min(grid.dt, data_period / 100),
            bound=grid.bound,
            encoded_radius=encoded_radius,
            scale=encoded_spread,
        )
        for label, xi_all in models
    ]


class _Extras(NamedTuple):
    """The descriptive parts of :class:`Analysis` computed after the dynamics (its fields of the
    same names)."""

    linear: LinearSummary
    frame_free: FrameFree
    combinations: list[Combination]
    peer: Peer | None
    data_attractor: Attractor | None
    data_attractor_source: str
    baseline: Baseline | None


def _extras(
    run: RunData,
    ident: Identifiability | None,
    distributions: list[DynamicsDistribution],
    data_period: float,
    grid: IntegrationGrid | None,
    mode_labels: np.ndarray,
    *,
    threshold: float,
    seed: int,
) -> _Extras:
    """The linearisation at the origin, the frame-free targets, the identified combinations, the
    PCA + SINDy peer, the data's own attractor and the pysindy baselines on the representative
    encoder of mode 0 (each where the run has what it needs)."""
    linear = linear_summary(run.xi, run.terms, run.chain)
    targets = run_frame_free(run, distributions[0] if distributions else None)
    combinations = []
    if ident is not None and ident.groups:
        combinations = identified_combinations(
            run.xi, run.chain, run.terms, ident.groups, fit_r=run.fit_r, z=run.z,
            gram=normalised_gram(run.fit_r) if run.fit_r is not None else None,
        )  # fmt: skip
    peer = None
    if run.pca_z is not None and run.z is not None:
        latent_rms = float(np.median(np.sqrt(np.mean(np.sum(run.z**2, axis=2), axis=1))))
        peer = fit_peer(
            run.pca_z,
            run.pca_dz,
            run.terms,
            latent_rms=latent_rms,
            data_period=data_period,
            span=grid.span,
            dt=grid.dt,
            threshold=threshold,
            seed=seed,
        )
    data_kind, data_source = run_data_attractor(run)
    baseline = None
    if run.z is not None and run.dz is not None:
        sample = representative_encoder(run.loss, mode_labels, 0)
        baseline = fit_baselines(
            run.z[sample],
            run.dz[sample],
            run.terms,
            sample=sample,
            threshold=threshold,
            seed=seed,
        )
    return _Extras(linear, targets, combinations, peer, data_kind, data_source, baseline)


def run_frame_free(run: RunData, integrated: DynamicsDistribution | None = None) -> FrameFree:
    """The frame-free targets of ``run`` (``analysis.frame_free``): per draw from its arrays,
    per member from ``integrated`` (the least-squares models' distribution of dynamics)."""
    errors = {n: getattr(run, n) for n in ("loss", "x_relative_mse", "dx_relative_mse")}
    values = draw_targets(run.xi, run.terms, run.z, errors)
    member_values, members = {}, None
    if integrated is not None:
        members = integrated.members
        member_values = {
            "oscillates": (integrated.status == "limit_cycle").astype(float),
            "period": integrated.period,
        }
        if integrated.amplitude_ratio is not None:
            member_values["amplitude_ratio"] = integrated.amplitude_ratio
        if integrated.floquet is not None:
            member_values["floquet_exponent"] = integrated.floquet
    return frame_free(values, run.chain, member_values, members)


CHECK_MEMBERS = 40
"""How many members (spread evenly over the chains) have their sparse candidates integrated by
the dynamics check of :func:`sparse_choice`: each check is a long integration, and a member
tries its candidates sparsest first until one keeps the data's attractor (a few per member)."""

PERIOD_TOLERANCE = 0.05
"""A candidate keeps the data's period when it is within this fraction of it."""


def sparse_analysis(
    run: RunData,
    *,
    threshold: float = 0.1,
    optimizer: str = "stlsq",
    choose: bool = True,
    check_members: int = CHECK_MEMBERS,
    keeps_dynamics: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[Identifiability | None, SparseModels | None]:
    """The nearly collinear term groups of ``run`` (``analysis.identifiability``, from the fit
    problems or else the stored latent codes) and the members' sparse models with those groups'
    redundant twins pruned (``analysis.sparse``) — what the report shows and
    ``Discovery.to_pysindy("sparse")`` exports. Either is None when the run lacks the data.

    With ``choose`` the sparse models also carry ``choice`` (:func:`sparse_choice`): each
    member's model chosen by evidence from its path of thresholds, and the recommended one.
    ``keeps_dynamics`` replaces the dynamics check built on ``analysis.attractor`` (tests)."""
    ident = None
    if run.fit_r is not None:
        ident = identifiability(normalised_gram(run.fit_r), run.term_names)
    elif run.z is not None:
        rows = theta(run.z.reshape(-1, run.latent_dim), run.terms)
        ident = identifiability(normalised_gram(rows), run.term_names)
    groups = [g.terms for g in ident.groups] if ident is not None else []
    sparse = sparse_models(run, threshold=threshold, optimizer=optimizer, groups=groups)
    if choose and sparse is not None:
        choice = sparse_choice(
            run,
            groups=groups,
            threshold=threshold,
            check_members=check_members,
            keeps_dynamics=keeps_dynamics,
        )
        sparse = sparse._replace(choice=choice)
    return ident, sparse


def fit_snapshot_count(run: RunData) -> tuple[int, str]:
    """The number of snapshots each member's least-squares fit used (the n of the sparse
    models' information criterion) and where it comes from: the stored fit snapshots (rows of
    ``pca_z``), else the stored test codes (all a run without fit problems fits on; for a run
    with fit problems but no ``pca_z`` a lower bound)."""
    if run.pca_z is not None:
        return len(run.pca_z), "the fit snapshots (rows of pca_z)"
    if run.z is not None:
        what = "the stored test codes" + (" (a lower bound)" if run.fit_r is not None else "")
        return int(run.z.shape[1]), what
    return int(run.fit_r.shape[1]), "unknown: the number of library terms (a lower bound)"


def sparse_choice(
    run: RunData,
    *,
    groups: list[tuple[int, ...]],
    threshold: float = 0.1,
    check_members: int = CHECK_MEMBERS,
    keeps_dynamics: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> SparseChoice | None:
    """Each member's sparse model chosen by evidence (``analysis.sparse.choose_sparse_models``):
    for ``check_members`` members spread over the chains, the sparsest candidate on the path
    whose integrated dynamics keep the data's attractor kind and period (:func:`dynamics_check`);
    for the others, and where the check cannot run, the smallest BIC with n = the fit
    snapshots (:func:`fit_snapshot_count`)."""
    n_snapshots, n_source = fit_snapshot_count(run)
    if keeps_dynamics is not None:
        check, what = keeps_dynamics, "the given dynamics check"
    else:
        check, what = dynamics_check(run)
    members = spread_members(run.n_samples, run.chain, check_members) if check else None
    choice = choose_sparse_models(
        run,
        n_snapshots=n_snapshots,
        n_snapshots_source=n_source,
        keeps_dynamics=check,
        members=members,
        dynamics=what,
        groups=groups,
        fixed_threshold=threshold,
        tolerance=PERIOD_TOLERANCE,
    )
    if check is not None and choice is not None and choice.recommended is not None:
        top = choice.recommended  # the mean model itself, from some of its members' starts
        starts = top.members[np.linspace(0, len(top.members) - 1, 8).round().astype(int)]
        starts = np.unique(starts)
        kept = check(np.repeat(top.mean[None], len(starts), axis=0), starts)
        choice = choice._replace(recommended_kept=(int(np.sum(kept)), len(starts)))
    return choice


def _same_kind(data_kind: str, model_kind: str) -> bool:
    """Whether a model's attractor is of the data's kind. A steady oscillation the data settle
    on is taken to be an attracting cycle even where one orbit cannot show the attraction
    (``"periodic orbit"``: the data start on their cycle): a dissipative system's persistent
    oscillation is an attractor, and a neutral centre is not robust to any perturbation of its
    equations."""
    if data_kind == "periodic orbit":
        data_kind = "attracting limit cycle"
    return data_kind == model_kind


def dynamics_check(
    run: RunData, *, n_periods: float = 40.0, tolerance: float = PERIOD_TOLERANCE
) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray] | None, str]:
    """``keeps_dynamics(xi, members)`` for ``analysis.sparse.choose_sparse_models`` and what it
    compares, or None and why it cannot run. A candidate passes when its model, integrated from
    its member's encoding of the earliest test snapshot (``analysis.attractor.classify_many``,
    scale = the RMS radius of the member's encoded test data about its mean, over
    ``n_periods`` data periods at period/100), has
    the attractor kind of the data (:func:`run_data_attractor`, see :func:`_same_kind`) and,
    where the data have a period, a period within ``tolerance`` of it."""
    if run.z is None:
        return None, "not run: no latent codes to start the models from"
    data, source = run_data_attractor(run)
    if data is None:
        return None, f"not run: {source}"
    period = float(data.period)
    periodic = bool(np.isfinite(period) and period > 0)
    if periodic:
        t_end, dt = n_periods * period, period / 100
    else:  # no period (a fixed point, chaos): the kind alone, over the analysis' default span
        span = float(run.t[-1] - run.t[0]) if run.t is not None and len(run.t) > 1 else 0.0
        t_end = max(20 * span, 50.0)
        dt = t_end / 1e4
    z = np.asarray(run.z, float)
    z0 = z[:, 0, :]
    scale = np.sqrt(np.mean(np.sum((z - z.mean(axis=1, keepdims=True)) ** 2, axis=2), axis=1))

    def keeps(xi: np.ndarray, members: np.ndarray) -> np.ndarray:
        got = classify_many(
            xi,
            run.terms,
            z0[members],
            scale=scale[members],
            t_end=t_end,
            dt=dt,
            lyapunov=not periodic,
        )
        return np.array(
            [
                _same_kind(data.kind, g.kind)
                and (not periodic or abs(g.period - period) <= tolerance * period)
                for g in got
            ],
            bool,
        )

    wanted = "attracting limit cycle"
    kind = f"an {wanted}" if _same_kind(data.kind, wanted) else data.kind
    if periodic:
        kind += f" of period {period:.4g}"
    return keeps, f"{kind} (the data's attractor, from {source}: {data.kind})"


def _spread(z: np.ndarray) -> float:
    """RMS radius of a trajectory (n, dim) about its mean: the reference amplitude of the
    attractor tests."""
    z = np.asarray(z, float)
    return float(np.sqrt(np.mean(np.sum((z - z.mean(axis=0)) ** 2, axis=1))))


def _relative_distance(a: np.ndarray, b: np.ndarray) -> float:
    scale = 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def _spacing(t: np.ndarray | None, dt: float | None) -> float | None:
    if t is not None and len(t) > 1:
        return float(np.median(np.diff(t)))
    return dt
