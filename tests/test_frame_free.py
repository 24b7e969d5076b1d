"""Frame-free targets (analysis.frame_free): their values on a known model, their invariance
under a change of latent frame, the verdict on chains that agree or sit apart, and how they reach
the report, analysis.json, frame_free.csv and ArviZ."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.ensemble_dynamics import dynamics_distribution
from analysis.frame_free import draw_targets, frame_free, summarise_target
from analysis.library import library_terms
from analysis.synthetic import hopf_xi, write_synthetic_run

MU, OMEGA = 0.5, 1.3


def _rotation(angle: float, reflect: bool = False) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([1.0, -1.0]) if reflect else r


def test_hopf_targets_have_their_known_values():
    terms = library_terms(2, 3, include_sine=False)
    xi = hopf_xi(terms, mu=MU, omega=OMEGA)[None]
    radius = 0.6
    angle = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    z = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)[None]  # RMS radius 0.6
    out = draw_targets(xi, terms, z, {"loss": np.array([0.1])})
    assert out["loss"][0] == 0.1
    assert out["growth_rate"][0] == pytest.approx(MU, abs=1e-9)
    assert out["frequency"][0] == pytest.approx(OMEGA, abs=1e-9)
    assert out["radial_rate"][0] == pytest.approx(MU - radius**2, abs=1e-9)
    assert out["radial_rate_half"][0] == pytest.approx(MU - (radius / 2) ** 2, abs=1e-9)
    assert out["rotation_rate"][0] == pytest.approx(OMEGA, abs=1e-9)


@pytest.mark.parametrize("angle, reflect", [(0.7, False), (2.1, True)])
def test_targets_do_not_depend_on_the_latent_frame(angle, reflect):
    terms = library_terms(2, 3, include_sine=False)
    rng = np.random.default_rng(0)
    skew = np.array([[1.0, 0.3], [0.0, 0.8]])  # an elliptic cycle: no symmetry to hide behind
    xi = hopf_xi(terms, mu=MU, omega=OMEGA, skew=skew)[None]
    rotated = hopf_xi(terms, mu=MU, omega=OMEGA, skew=_rotation(angle, reflect) @ skew)[None]
    z = rng.normal(size=(1, 40, 2))
    z_rotated = z @ _rotation(angle, reflect).T
    a = draw_targets(xi, terms, z, {})
    b = draw_targets(rotated, terms, z_rotated, {})
    for name in a:
        assert b[name][0] == pytest.approx(a[name][0], rel=1e-6, abs=1e-9), name


def test_floquet_exponent_and_amplitude_of_the_hopf_cycle():
    # The cycle r² = μ attracts with Floquet exponent −2μ; started off the cycle at r = 0.2,
    # each member settles on it: amplitude ratio = √μ / encoded radius.
    terms = library_terms(2, 3, include_sine=False)
    xi = np.stack([hopf_xi(terms, mu=MU, omega=OMEGA)] * 3)
    z0 = np.array([[0.2, 0.0], [0.0, 0.3], [-1.0, 0.2]])
    period = 2 * np.pi / OMEGA
    d = dynamics_distribution(
        "hopf", xi, terms, z0, chain=None, members=np.arange(3), data_period=period,
        span=40 * period, dt=period / 200, bound=100.0, encoded_radius=np.full(3, 0.5),
    )
    assert np.all(d.status == "limit_cycle")
    np.testing.assert_allclose(d.floquet, -2 * MU, rtol=0.01)
    np.testing.assert_allclose(d.amplitude_ratio, np.sqrt(MU) / 0.5, rtol=0.01)


def test_a_centre_has_a_neutral_floquet_exponent():
    terms = library_terms(2, 3, include_sine=False)
    xi = np.zeros((1, len(terms), 2))
    xi[0, 1, 0], xi[0, 0, 1] = -OMEGA, OMEGA  # ż0 = −ω z1, ż1 = ω z0
    period = 2 * np.pi / OMEGA
    d = dynamics_distribution(
        "centre", xi, terms, np.array([[0.4, 0.0]]), chain=None, members=np.arange(1),
        data_period=period, span=30 * period, dt=period / 200, bound=100.0,
    )
    assert d.floquet[0] == pytest.approx(0.0, abs=1e-6)


def _chains(shift: float, n_chains: int = 4, draws: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_chains, draws))
    values[0] += shift
    return values.reshape(-1), np.repeat(np.arange(n_chains), draws)


def test_chains_that_agree_converge_and_chains_apart_do_not():
    same, chain = _chains(0.0)
    apart, _ = _chains(1.0)
    found = frame_free({"loss": same, "growth_rate": apart}, chain)
    by_name = {t.name: t for t in found.targets}
    # iid draws: R-hat − 1 is O(1/draws) and ESS ≈ 4000; one chain 1 sd off: R-hat ≈ 1.1
    assert by_name["loss"].converged and by_name["loss"].r_hat <= 1.01
    assert by_name["loss"].ess_bulk > 2000 and by_name["loss"].ess_tail > 1000
    assert not by_name["growth_rate"].converged and by_name["growth_rate"].r_hat > 1.05
    assert by_name["growth_rate"].chain_spread > 0.4 > by_name["loss"].chain_spread
    assert not found.converged and [t.name for t in found.failing] == ["growth_rate"]
    # the MCSE of the mean is sd/sqrt(ESS): within 20 % of 1/sqrt(4000) for iid draws
    assert by_name["loss"].mcse == pytest.approx(1 / np.sqrt(4000), rel=0.2)


def test_a_short_run_fails_on_ess_even_when_chains_agree():
    values, chain = _chains(0.0, draws=50)  # 200 draws in all: ESS < 400 whatever the mixing
    t = summarise_target("loss", "loss", "draw", values, chain)
    assert not t.converged and "ESS" in t.reason()


def test_undefined_member_values_rank_above_and_have_no_mcse():
    values, chain = _chains(0.0, draws=200)
    values[::10] = np.nan  # every tenth member has no period
    t = summarise_target("period", "period", "member", values, chain)
    assert t.undefined == pytest.approx(0.1)
    assert np.isnan(t.mcse) and np.isfinite(t.r_hat) and np.isfinite(t.mean)


def test_report_leads_with_the_frame_free_verdict_and_writes_the_draws(tmp_path):
    from analysis.report import write_report
    from eae_sindy.discovery import load

    write_synthetic_run(tmp_path, n_samples=200, n_eval=60, n_test=200, seed=6)
    paths = write_report(tmp_path)
    first = paths["report.md"].read_text().splitlines()[2]
    analysis = json.loads(paths["analysis.json"].read_text())
    ff = analysis["frame_free"]
    assert first.lstrip("⚠ ").startswith("CONVERGED" if ff["converged"] else "NOT CONVERGED")
    assert ff["verdict"][0] == analysis["headline"][0]
    assert set(ff["targets"]) >= {"loss", "growth_rate", "frequency", "rotation_rate", "period"}
    rows = paths["frame_free.csv"].read_text().splitlines()
    assert len(rows) == 1 + 200 and rows[0].startswith("draw,chain,loss")

    tree = load(tmp_path).to_arviz()
    posterior = tree["posterior"]
    assert posterior["xi"].dims == ("chain", "draw", "term", "equation")
    assert posterior["loss"].shape == (4, 50)
    from arviz_stats import rhat

    r_hat = float(rhat(tree, var_names=["frequency"])["frequency"])
    assert r_hat == pytest.approx(ff["targets"]["frequency"]["r_hat"], rel=1e-9)


def test_identified_combinations_fold_collinear_terms_in_one_frame():
    from analysis.combinations import align_chains, identified_combinations
    from analysis.identifiability import CollinearGroup
    from analysis.symmetry import SignedPermutation, transform_xi

    terms = library_terms(2, 3, include_sine=True)
    names = [t.name for t in terms]
    rng = np.random.default_rng(1)
    skew = np.array([[1.0, 0.3], [0.0, 0.8]])  # not symmetric under a quarter turn
    base = hopf_xi(terms, mu=MU, omega=OMEGA, skew=skew)
    xi = base + 0.01 * rng.standard_normal((400, *base.shape))
    chain = np.repeat(np.arange(4), 100)
    swap = SignedPermutation((1, 0), (1, -1))
    xi[chain == 2] = np.stack([transform_xi(x, terms, swap) for x in xi[chain == 2]])
    aligned, applied = align_chains(xi, chain, terms)
    assert set(applied) == {2}
    assert np.abs(aligned[chain == 2].mean(0) - base).max() < 0.01

    x0, s0 = names.index("x0"), names.index("sin(1 x0)")
    xi[:, x0, 1] = rng.normal(0.0, 1.0, 400)  # each alone wanders...
    xi[:, s0, 1] = 0.4 - xi[:, x0, 1] + 0.01 * rng.standard_normal(400)  # ...only the sum is known
    z = 0.1 * rng.standard_normal((400, 30, 2))  # small z: sin z ≈ z, weights ≈ 1
    group = CollinearGroup((x0, s0), ("x0", "sin(1 x0)"), 1e-4)
    found = identified_combinations(xi, None, terms, [group], z=z)
    in_x1 = next(c for c in found if c.equation == 1)
    assert in_x1.name == "x0 + sin(1 x0) in x1'"
    assert in_x1.summary.mean == pytest.approx(0.4, abs=0.01)
    assert in_x1.summary.sd < 0.02 and np.std(xi[:, x0, 1]) > 0.5
