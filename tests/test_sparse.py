"""Sparse models per encoder, the distribution of dynamics, identifiability and the peer, on
ensembles with known answers."""

import jax.numpy as jnp
import numpy as np
import pysindy as ps
import pytest

from analysis.ensemble_dynamics import dynamics_distribution, spread_members
from analysis.identifiability import (
    identifiability,
    linear_summary,
    normalised_gram,
    not_identified_in,
)
from analysis.library import library_terms, theta
from analysis.peer import fit_peer
from analysis.rundir import RunData, load_run, write_run
from analysis.sparse import (
    LeastSquares,
    added_terms,
    choose_sparse_models,
    compress,
    information_criterion,
    make_optimizer,
    refit_on_support,
    sparse_fit,
    sparse_models,
    sparse_paths,
    stlsq_supports,
)
from eae_sindy.sindy import compress_least_squares, solve_coefficients, solve_compressed

TERMS = tuple(library_terms(2, 3, True))
NAMES = [t.name for t in TERMS]
OMEGA = 0.9


def _oscillator(n=400, radius=0.35, t_end=30.0):
    """A harmonic oscillator s(t) with ṡ0 = ω s1, ṡ1 = −ω s0."""
    t = np.linspace(0, t_end, n)
    s = radius * np.stack([np.sin(OMEGA * t), np.cos(OMEGA * t)], axis=1)
    ds = OMEGA * np.stack([s[:, 1], -s[:, 0]], axis=1)
    return t, s, ds


def _linear_map_ensemble(n_members=120, n_chains=4, seed=0, noise=1e-3):
    """Encoders z = A s with A = diag(a) near the identity: ż0 = ω (a0/a1) z1, ż1 = −ω (a1/a0)
    z0 — the right two terms in every member. The oscillator is observed on orbits of several
    radii (on one circle x1, x1·(x0² + x1²) and sin x1 could not be told apart)."""
    rng = np.random.default_rng(seed)
    orbits = [_oscillator(n=100, radius=r) for r in (0.3, 0.6, 0.9, 1.2)]
    t = orbits[0][0]
    s = np.concatenate([o[1] for o in orbits])
    ds = np.concatenate([o[2] for o in orbits])
    problems, xis, z0 = [], [], []
    for _ in range(n_members):
        a = 1 + 0.1 * rng.standard_normal(2)
        z, dz = s * a, ds * a + noise * rng.standard_normal(s.shape)
        problems.append(compress(theta(z, TERMS), dz))
        xis.append(np.linalg.lstsq(theta(z, TERMS), dz, rcond=None)[0])
        z0.append(z[:20])
    stack = [np.stack(p) for p in zip(*problems, strict=True)]
    chain = np.repeat(np.arange(n_chains), n_members // n_chains).astype(np.int32)
    return RunData(
        xi=np.stack(xis),
        terms=TERMS,
        poly_order=3,
        include_sine=True,
        chain=chain,
        fit_r=stack[0],
        fit_qtdz=stack[1],
        fit_dz_ms=stack[2],
        z=np.stack(z0),
        dz=np.stack(z0),
        t=t[:20],
    )


def test_sparse_recovery_of_known_linear_maps():
    run = _linear_map_ensemble()
    groups = identifiability(normalised_gram(run.fit_r), NAMES).groups
    found = sparse_models(run, threshold=0.1, groups=[g.terms for g in groups])
    # with the collinear twins pruned, exactly the right two terms
    assert found.inclusion[NAMES.index("x1"), 0] >= 0.95
    assert found.inclusion[NAMES.index("x0"), 1] >= 0.95
    assert found.structures[0].terms == [["x1"], ["x0"]]
    found = sparse_models(run, threshold=0.1)  # without pruning: within the twins
    x1, x0 = NAMES.index("x1"), NAMES.index("x0")
    # The right terms. sin z = z − z³/6 + …, so z, z³ and sin z are nearly collinear over the
    # data: the right linear term may be shared with its twins (the identifiability section
    # names that group); every term outside it must be left out.
    twins1 = [x1, NAMES.index("x1^3"), NAMES.index("sin(1 x1)")]
    twins0 = [x0, NAMES.index("x0^3"), NAMES.index("sin(1 x0)")]
    assert (found.xi[:, twins1, 0] != 0).any(axis=1).mean() >= 0.95
    assert (found.xi[:, twins0, 1] != 0).any(axis=1).mean() >= 0.95
    wrong = np.ones((len(NAMES), 2), bool)
    wrong[twins1, 0] = False
    wrong[twins0, 1] = False
    assert found.inclusion[wrong].max() <= 0.05
    sin1 = NAMES.index("sin(1 x1)")
    # the linearisation (what is identified) is the known one, member by member
    linear = found.xi[:, x1, 0] + found.xi[:, sin1, 0]
    expected = OMEGA * (run.fit_dz_ms[:, 0] / run.fit_dz_ms[:, 1]) ** 0.5
    np.testing.assert_allclose(linear, expected, rtol=0.02)
    assert found.structures[0].frequency >= 0.5
    assert found.source == "fit snapshots"


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.3])
def test_batched_stlsq_selects_pysindys_supports(threshold):
    """stlsq_supports on 300 random problems (a nearly collinear pair of columns, sparse
    targets plus noise) gives exactly the supports of pysindy's STLSQ fitted one by one."""
    rng = np.random.default_rng(int(threshold * 100))
    n, terms, targets = 300, 11, 2
    x = rng.standard_normal((n, terms, terms))
    x[:, :, 9] = x[:, :, 0] + 0.01 * rng.standard_normal((n, terms))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.standard_normal((n, terms, targets)) * (rng.random((n, terms, targets)) < 0.3)
    y = np.einsum("nrt,ntk->nrk", x, w) + 0.05 * rng.standard_normal((n, terms, targets))
    y /= np.sqrt(np.mean(y**2, axis=1, keepdims=True))
    batched = stlsq_supports(x, y, threshold, alpha=0.05)
    for i in range(n):
        opt = make_optimizer("stlsq", threshold).fit(x[i], y[i])
        np.testing.assert_array_equal(batched[i], np.asarray(opt.coef_).T != 0, err_msg=str(i))
    assert 0.2 < batched.mean() < 0.95  # neither everything kept nor everything dropped


def test_sparse_models_batched_equals_one_fit_per_member():
    """The batched STLSQ path of sparse_models gives the per-member pysindy path's models (a
    subclass of STLSQ takes the per-member path)."""

    class OneByOne(ps.STLSQ):
        pass

    run = _linear_map_ensemble(n_members=60, n_chains=2)
    groups = [g.terms for g in identifiability(normalised_gram(run.fit_r), NAMES).groups]
    batched = sparse_models(run, threshold=0.1, groups=groups)
    one_by_one = sparse_models(
        run, threshold=0.1, groups=groups, optimizer=OneByOne(threshold=0.1, alpha=0.05)
    )
    np.testing.assert_allclose(batched.xi, one_by_one.xi, rtol=1e-9, atol=1e-12)


def test_sparse_fit_on_compressed_problem_equals_fit_on_rows():
    rng = np.random.default_rng(1)
    z = rng.uniform(-1, 1, (300, 2))
    dz = np.stack([0.8 * z[:, 1], -0.7 * z[:, 0] + 0.3 * z[:, 0] ** 3], 1)
    dz = dz + 1e-3 * rng.standard_normal(dz.shape)
    rows = theta(z, TERMS)
    opt = make_optimizer("stlsq", 0.1)
    compressed = sparse_fit(compress(rows, dz), opt)
    # the same optimiser on the rows themselves, with unit-norm columns and targets
    col, target = np.sqrt(np.mean(rows**2, 0)), np.sqrt(np.mean(dz**2, 0))
    x, y = rows / col / np.sqrt(len(rows)), dz / target / np.sqrt(len(rows))
    opt.fit(x, y)
    w = refit_on_support(x, y, opt.coef_.T != 0)
    np.testing.assert_allclose(compressed, w * target / col[:, None], atol=1e-8)
    twins0 = {NAMES.index("x0"), NAMES.index("x0^3"), NAMES.index("sin(1 x0)")}
    assert {NAMES.index("x0^3")} < set(np.nonzero(compressed[:, 1])[0]) <= twins0


def test_jax_compression_matches_numpy_and_solves_like_the_full_problem():
    rng = np.random.default_rng(2)
    z = rng.uniform(-0.5, 0.5, (200, 2)).astype(np.float32)
    dz = rng.standard_normal((200, 2)).astype(np.float32)
    rows = theta(z, TERMS).astype(np.float32)
    r, qtdz, ms = compress_least_squares(jnp.asarray(rows), jnp.asarray(dz))
    ref = compress(rows, dz)
    np.testing.assert_allclose(
        np.asarray(r).T @ np.asarray(r), ref.r.T @ ref.r, rtol=2e-3, atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(ms), ref.dz_ms, rtol=1e-5)
    for ridge in (0.0, 1e-6):
        full = solve_coefficients(jnp.asarray(rows), jnp.asarray(dz), ridge)
        small = solve_compressed(r, qtdz, ridge)

        # both minimise the same objective (coefficients along the nearly collinear z − sin z
        # direction are not determined in float32, so the residuals are compared)
        def residual(xi):
            return np.sum((rows.astype(float) @ np.asarray(xi, float) - dz) ** 2)

        assert residual(small) <= residual(full) * (1 + 1e-4)


def test_dynamics_distribution_of_a_known_ensemble():
    """Members x0' = w x1, x1' = −w x0 with w known: period 2π/w each, all oscillate."""
    rng = np.random.default_rng(3)
    n = 200
    w = rng.uniform(0.95, 1.05, n)
    xi = np.zeros((n, len(NAMES), 2))
    xi[:, NAMES.index("x1"), 0] = w
    xi[:, NAMES.index("x0"), 1] = -w
    # a quarter of the members get a destabilising linear term: they grow
    grow = np.arange(n) % 4 == 0
    xi[grow, NAMES.index("x0"), 0] = 0.05
    xi[grow, NAMES.index("x1"), 1] = 0.05
    z0 = np.tile([0.3, 0.0], (n, 1))
    chain = np.repeat(np.arange(4), n // 4)
    dist = dynamics_distribution(
        "test",
        xi,
        TERMS,
        z0,
        chain=chain,
        members=np.arange(n),
        data_period=2 * np.pi,
        span=20 * 2 * np.pi,
        dt=2 * np.pi / 100,
        bound=100.0,
    )
    steady = ~grow
    assert np.all(dist.status[steady] == "limit_cycle")
    assert np.all(np.isin(dist.status[grow], ["growing", "diverged"]))
    np.testing.assert_allclose(dist.period[steady], 2 * np.pi / w[steady], rtol=2e-3)
    assert dist.fractions["oscillates"] == pytest.approx(0.75)
    inside = np.abs(2 * np.pi / w - 2 * np.pi) <= 0.05 * 2 * np.pi
    assert dist.within == pytest.approx(np.mean(steady & inside))
    # independent draws in every chain: the period's R-hat is ≈ 1
    assert dist.period_r_hat < 1.05


def test_spread_members_covers_every_chain_evenly():
    chain = np.repeat(np.arange(4), 300)
    picked = spread_members(1200, chain, 500)
    assert len(picked) == 500
    assert np.all(np.bincount(chain[picked]) == 125)
    assert len(spread_members(40, np.repeat(np.arange(4), 10), 500)) == 40


def test_constructed_collinear_library_is_named():
    t, s, _ = _oscillator(radius=0.3)
    gram = normalised_gram(theta(s, TERMS))
    found = identifiability(gram, NAMES)
    groups = [set(g.names) for g in found.groups]
    assert any({"x0", "sin(1 x0)"} <= g for g in groups)
    assert any({"x1", "sin(1 x1)"} <= g for g in groups)
    assert not any({"x0", "x1"} <= g for g in groups)  # the two coordinates' groups stay apart
    assert set(np.array(NAMES)[found.not_identified]) == set().union(*groups)
    # within a sparse support: twins together are not identified, either one alone is
    support = np.zeros((len(NAMES), 2), bool)
    support[[NAMES.index("x0"), NAMES.index("sin(1 x0)"), NAMES.index("x1")], 0] = True
    support[[NAMES.index("x0"), NAMES.index("x1")], 1] = True
    marked = not_identified_in(support, found)
    assert {NAMES[k] for k in np.nonzero(marked[:, 0])[0]} == {"x0", "sin(1 x0)"}
    assert not marked[:, 1].any()
    assert np.array_equal(
        not_identified_in(np.ones_like(support), found)[:, 0], found.not_identified
    )
    # over a wide range (uniform on [-4, 4]², a full period of sin) the terms are identified
    z = np.random.default_rng(4).uniform(-4, 4, (2000, 2))
    assert identifiability(normalised_gram(theta(z, TERMS)), NAMES).groups == []


def test_linearisation_of_known_members():
    xi = np.zeros((50, len(NAMES), 2))
    xi[:, NAMES.index("x1"), 0] = 0.5
    xi[:, NAMES.index("sin(1 x1)"), 0] = 0.5  # sin counts like z at the origin
    xi[:, NAMES.index("x0"), 1] = -1.0
    xi[:, NAMES.index("x0^3"), 1] = 7.0  # cubic: no contribution at the origin
    summary = linear_summary(xi, TERMS, None)
    np.testing.assert_allclose(summary.jacobian_mean, [[0, 1], [-1, 0]], atol=1e-12)
    assert summary.period[1] == pytest.approx(2 * np.pi)
    assert summary.rotating == 1.0


def test_peer_recovers_the_oscillator_from_pca_scores():
    orbits = [_oscillator(n=200, radius=r, t_end=60) for r in (0.5, 1.0, 1.5)]
    s = np.concatenate([o[1] for o in orbits])
    ds = np.concatenate([o[2] for o in orbits])
    scale = np.array([3.0, 1.0])  # PCA scores: the oscillator up to a scaling of each axis
    period = 2 * np.pi / OMEGA
    peer = fit_peer(
        s * scale, ds * scale, TERMS, latent_rms=0.35, data_period=period, span=20 * period, dt=0.05
    )
    for model in peer.models:
        assert model.orbit.status == "limit_cycle"
        assert model.period_rel_error < 0.01
        assert not model.xi[NAMES.index("x0"), 0] and not model.xi[NAMES.index("x1"), 1]


def test_new_datasets_round_trip(tmp_path):
    run = _linear_map_ensemble(n_members=8)
    run = RunData(**{**run.__dict__, "pca_z": run.z[0], "pca_dz": run.dz[0], "t_pca": run.t})
    write_run(tmp_path, run)
    back = load_run(tmp_path)
    for name in ("fit_r", "fit_qtdz", "fit_dz_ms", "pca_z", "pca_dz", "t_pca"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    assert not any("fit_r" in note for note in back.notes)


# ---- sparse models chosen by evidence: the path of thresholds, the dynamics check, the BIC ----

HOPF_TERMS = tuple(library_terms(2, 3, False))
HOPF_NAMES = [t.name for t in HOPF_TERMS]
MU = 0.04
HOPF_SUPPORT = [["x0", "x1", "x0^3", "x0 x1^2"], ["x0", "x1", "x0^2 x1", "x1^3"]]
CUBIC = [("x0^3", 0), ("x0 x1^2", 0), ("x0^2 x1", 1), ("x1^3", 1)]


def _hopf(s, _t=0.0):
    """The Hopf normal form ṡ = (μ − |s|²) s + ω J s with ω = 1: a limit cycle of radius √μ
    that attracts through the small μ and cubic terms (≈ 4 % of ż's RMS each)."""
    r2 = s[..., 0] ** 2 + s[..., 1] ** 2
    return np.stack([(MU - r2) * s[..., 0] - s[..., 1], s[..., 0] + (MU - r2) * s[..., 1]], -1)


def _hopf_ensemble(n_members=24, noise=1e-3, seed=0):
    """Encoders z = a ⊙ s (a near 1): every member's true support is HOPF_SUPPORT. Orbits from
    inside and outside the cycle (on it μ z and |z|² z could not be told apart); ż with noise
    of ``noise`` × its RMS, so the least-squares Ξ carries small spurious terms."""
    from scipy.integrate import odeint

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 30, 300)
    s = np.concatenate([odeint(_hopf, [r, 0.0], t) for r in (0.05, 0.1, 0.3, 0.4)])
    ds = _hopf(s)
    problems, xis = [], []
    for _ in range(n_members):
        a = 1 + 0.1 * rng.standard_normal(2)
        z, dz = s * a, ds * a + noise * np.sqrt(np.mean(ds**2)) * rng.standard_normal(s.shape)
        problems.append(compress(theta(z, HOPF_TERMS), dz))
        xis.append(np.linalg.lstsq(theta(z, HOPF_TERMS), dz, rcond=None)[0])
    stack = [np.stack(p) for p in zip(*problems, strict=True)]
    run = RunData(
        xi=np.stack(xis),
        terms=HOPF_TERMS,
        poly_order=3,
        include_sine=False,
        chain=np.repeat(np.arange(4), n_members // 4).astype(np.int32),
        fit_r=stack[0],
        fit_qtdz=stack[1],
        fit_dz_ms=stack[2],
    )
    return run, len(s)


def _support(terms_per_equation):
    out = np.zeros((len(HOPF_NAMES), len(terms_per_equation)), bool)
    for j, names in enumerate(terms_per_equation):
        out[[HOPF_NAMES.index(n) for n in names], j] = True
    return out


def test_path_recovers_the_true_support():
    run, _ = _hopf_ensemble()
    spurious = np.abs(run.xi[:, ~_support(HOPF_SUPPORT)])
    assert 0 < spurious.max() < 0.01  # the least-squares members carry small spurious terms
    paths = sparse_paths(LeastSquares(run.fit_r, run.fit_qtdz, run.fit_dz_ms))
    true = _support(HOPF_SUPPORT)
    for path in paths:
        hit = [c for c in path if np.array_equal(c.support, true)]
        assert len(hit) == 1
        c = hit[0]
        # its refit is the member's own Hopf form (and nothing else), its error the noise's
        assert c.error < 1e-5 and min(c.thresholds) <= 0.005
        sizes = [p.n_terms for p in path]
        errors = [p.error for p in path]
        assert sizes == sorted(sizes) and errors == sorted(errors, reverse=True)  # a front
        assert path[-1].n_terms <= len(HOPF_NAMES) * 2


def test_dynamics_check_keeps_the_cubic_terms_the_fixed_threshold_drops():
    run, n = _hopf_ensemble()
    fixed = sparse_models(run, threshold=0.1)
    assert fixed.structures[0].terms == [["x1"], ["x0"]]  # a linear centre: no attraction
    assert fixed.structures[0].frequency == 1.0
    calls = []

    def keeps_dynamics(xi, members):  # a fake: the cycle attracts only with every cubic term
        calls.extend(members.tolist())
        return np.all([xi[:, HOPF_NAMES.index(t), j] != 0 for t, j in CUBIC], axis=0)

    checked = np.arange(0, 24, 2)
    choice = choose_sparse_models(
        run, n_snapshots=n, keeps_dynamics=keeps_dynamics, members=checked, fixed_threshold=0.1
    )
    top = choice.recommended
    assert top.terms == HOPF_SUPPORT and top.frequency == 1.0
    np.testing.assert_array_equal(top.members, checked)  # over the members checked
    assert choice.by_dynamics and set(calls) == set(checked.tolist())
    assert np.all(choice.basis[checked] == "dynamics")
    assert np.all(choice.basis[1::2] == "criterion")  # the others: the BIC
    # sparsest first, stopping at the first that passes: only the true support and sparser
    paths = sparse_paths(LeastSquares(run.fit_r, run.fit_qtdz, run.fit_dz_ms))
    true = _support(HOPF_SUPPORT)
    expected = sum(
        1 + next(k for k, c in enumerate(paths[i]) if np.array_equal(c.support, true))
        for i in checked
    )
    assert choice.n_checks == len(calls) == expected
    # the recommended mean is the members' Hopf forms: x0' = μ x0 − (a0/a1) x1 − ...
    xi = top.mean
    assert xi[HOPF_NAMES.index("x0"), 0] == pytest.approx(MU, rel=0.05)
    assert xi[HOPF_NAMES.index("x1"), 1] == pytest.approx(MU, rel=0.05)
    needed = added_terms(top.support, fixed.structures[0].support, HOPF_NAMES)
    assert needed == [["x0", "x0^3", "x0 x1^2"], ["x1", "x0^2 x1", "x1^3"]]
    front = {tuple(map(tuple, p.terms)): p for p in choice.front}
    point = front[tuple(map(tuple, HOPF_SUPPORT))]
    assert point.kept == point.checked == len(checked) and point.chosen == 1.0
    centre = front[(("x1",), ("x0",))]
    assert centre.kept == 0 and centre.checked == len(checked) and centre.on_front == 1.0


def test_information_criterion_picks_the_true_support_on_noiseless_data():
    run, n = _hopf_ensemble(noise=0.0)
    choice = choose_sparse_models(run, n_snapshots=n)
    assert not choice.by_dynamics and np.all(choice.basis == "criterion")
    assert choice.recommended.terms == HOPF_SUPPORT and choice.recommended.frequency == 1.0
    assert np.all((choice.xi != 0) == _support(HOPF_SUPPORT))
    # where no candidate keeps the dynamics, the criterion decides too (and says so)
    refused = choose_sparse_models(
        run, n_snapshots=n, members=[0, 1], keeps_dynamics=lambda xi, m: np.zeros(len(m), bool)
    )
    assert list(refused.basis[:2]) == ["criterion: none kept the dynamics"] * 2
    assert refused.recommended.terms == HOPF_SUPPORT
    # with noise the BIC still prefers the true support to the denser end of the path
    noisy, n = _hopf_ensemble(noise=1e-3)
    path = sparse_paths(LeastSquares(noisy.fit_r[:1], noisy.fit_qtdz[:1], noisy.fit_dz_ms[:1]))[0]
    best = min(path, key=lambda c: information_criterion(c, n))
    assert np.array_equal(best.support, _support(HOPF_SUPPORT))


def test_to_pysindy_sparse_returns_the_recommended_model(tmp_path, monkeypatch):
    import eae_sindy
    from analysis import pipeline
    from analysis.synthetic import write_synthetic_run

    write_synthetic_run(tmp_path / "run", n_samples=24, n_modes=1, xi_noise=0.01)
    run = eae_sindy.load(tmp_path / "run").run.as_float64()
    _, plain = pipeline.sparse_analysis(run, choose=False)
    assert plain.choice is None

    def check(run):  # a fake dynamics check: at least six terms keep the attractor
        return (lambda xi, m: np.sum(xi != 0, axis=(1, 2)) >= 6), "six terms or more"

    monkeypatch.setattr(pipeline, "dynamics_check", check)
    _, sparse = pipeline.sparse_analysis(run, check_members=8)
    chosen = sparse.choice.recommended
    assert len(sparse.choice.checked) == 8 and np.sum(chosen.support) >= 6
    assert not np.array_equal(chosen.support, plain.structures[0].support)
    model = eae_sindy.load(tmp_path / "run").to_pysindy("sparse")
    # the default check spreads CHECK_MEMBERS (≥ 24) members: all of them here
    _, again = pipeline.sparse_analysis(run)
    assert len(again.choice.checked) == 24
    np.testing.assert_allclose(model.coefficients(), again.choice.recommended.mean.T, rtol=1e-9)
    assert np.any(model.coefficients() == 0)


def test_dynamics_check_tells_an_attracting_cycle_from_a_centre(tmp_path):
    """The pipeline's check (analysis.attractor) on a synthetic Hopf run: its own equations keep
    the data's attractor (the data signal starts on its cycle: an attracting cycle is asked
    for); the linear centre of the same frequency does not; a slower cycle misses the period."""
    from analysis.pipeline import dynamics_check
    from analysis.synthetic import hopf_xi, write_synthetic_run

    truth = write_synthetic_run(tmp_path / "run", n_samples=8, n_modes=1, skew=None)
    run = load_run(tmp_path / "run").as_float64()
    keeps, what = dynamics_check(run)
    assert keeps is not None and "attracting limit cycle" in what
    hopf = hopf_xi(run.terms)
    centre = np.zeros_like(hopf)
    centre[run.term_names.index("x1"), 0], centre[run.term_names.index("x0"), 1] = -1.0, 1.0
    slow = 0.8 * hopf
    ok = keeps(np.stack([hopf, centre, slow]), np.array([0, 1, 2]))
    assert ok.tolist() == [True, False, False]
    assert truth.period == pytest.approx(2 * np.pi)
