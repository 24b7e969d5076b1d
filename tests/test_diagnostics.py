"""Convergence diagnostics and chain-aware modes, on ensembles with known answers."""

import json

import h5py
import numpy as np
import pytest
from arviz_stats.base import array_stats

from analysis.coefficients import find_modes
from analysis.diagnostics import ESS_MIN, R_HAT_MAX, by_chain, diagnose, verdict
from analysis.library import library_terms
from analysis.rundir import load_run
from analysis.symmetry import SignedPermutation, find_symmetries, transform_xi
from analysis.synthetic import hopf_xi, write_synthetic_run

RNG = np.random.default_rng(2024)


def _chains(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chains, draws, ...) → chain-major samples and their chain labels."""
    n_chains, n_draws = draws.shape[:2]
    return draws.reshape(n_chains * n_draws, *draws.shape[2:]), np.repeat(np.arange(n_chains),
                                                                           n_draws)


def test_independent_draws_have_r_hat_one_and_ess_n():
    values, chain = _chains(RNG.normal(size=(4, 1000, 5)))
    d = diagnose(values, chain)
    n = values.shape[0]
    assert np.all(np.abs(d.r_hat - 1) < 0.01)
    # bulk-ESS of independent draws: n within its sampling spread (about ±10 % at n = 4000)
    assert np.all((d.ess_bulk > 0.8 * n) & (d.ess_bulk < 1.25 * n)), d.ess_bulk
    np.testing.assert_allclose(d.mcse_mean, values.std(axis=0) / np.sqrt(d.ess_bulk), rtol=0.05)
    assert verdict(d)["converged"] and d.converged.all()


@pytest.mark.parametrize("phi", [0.5, 0.8])
def test_ar1_chains_have_the_known_effective_sample_size(phi):
    n_chains, n_draws = 4, 5000
    noise = RNG.normal(size=(n_chains, n_draws)) * np.sqrt(1 - phi**2)
    x = np.zeros((n_chains, n_draws))
    x[:, 0] = RNG.normal(size=n_chains)
    for t in range(1, n_draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    values, chain = _chains(x)
    expected = n_chains * n_draws * (1 - phi) / (1 + phi)
    ess = float(diagnose(values, chain).ess_bulk)
    assert abs(ess - expected) < 0.2 * expected, (ess, expected)


def test_chains_stuck_at_different_values_are_not_converged():
    draws = np.arange(4)[:, None, None] * 0.5 + 0.1 * RNG.normal(size=(4, 500, 2))
    values, chain = _chains(draws)
    d = diagnose(values, chain)
    assert np.all(d.r_hat > 1.1)
    summary = verdict(d)
    assert summary["converged"] is False and summary["max_r_hat"] > 1.1
    assert summary["n_chains"] == 4 and summary["draws_per_chain"] == 500


def test_one_chain_never_counts_as_converged_and_constants_do():
    d = diagnose(RNG.normal(size=(400, 2)), None)
    assert np.all(np.isnan(d.r_hat)) and not d.converged.any()
    constant = diagnose(np.ones((400, 1)), np.repeat(np.arange(4), 100))
    assert constant.converged.all()


def test_by_chain_cuts_unequal_chains_to_the_shortest():
    values = np.arange(10.0)
    chain = np.array([0] * 6 + [1] * 4)
    np.testing.assert_array_equal(by_chain(values, chain), [[0, 1, 2, 3], [6, 7, 8, 9]])


def _xi_cloud(centres: np.ndarray, labels: np.ndarray, spread: float = 0.02) -> np.ndarray:
    return centres[labels] + spread * RNG.normal(size=(len(labels), *centres.shape[1:]))


def test_a_random_walk_is_one_basin_not_several_modes():
    # four chains that random-walk away from one start, as chains that have not mixed do
    steps = 0.05 * RNG.normal(size=(4, 500, 3, 2))
    xi, chain = _chains(1.0 + np.cumsum(steps, axis=1))
    mask = np.ones((3, 2), bool)
    unchecked = find_modes(xi, mask, max_components=4)
    modes = find_modes(xi, mask, chain=chain, max_components=4)
    assert unchecked.n_modes > 1  # without chains the drift looks like modes
    assert modes.n_modes == 1 and modes.drift and modes.chains == [[0, 1, 2, 3]]


def test_a_mixture_visited_by_every_chain_gives_two_modes():
    centres = np.array([np.full((3, 2), 1.0), np.full((3, 2), -1.0)])
    labels = RNG.permutation(np.repeat([0, 1], [600, 400]))
    chain = np.repeat(np.arange(4), 250)
    modes = find_modes(_xi_cloud(centres, labels), np.ones((3, 2), bool), chain=chain)
    assert modes.n_modes == 2 and not modes.drift
    assert modes.chains == [[0, 1, 2, 3], [0, 1, 2, 3]]
    np.testing.assert_allclose(modes.weights, [0.6, 0.4], atol=1e-9)


def test_a_mirrored_pair_visited_by_two_chains_each_is_found():
    terms = library_terms(2)
    xi0 = hopf_xi(terms, skew=((1.0, 0.5), (0.0, 0.8)))
    t = SignedPermutation((1, 0), (1, 1))  # z0 <-> z1
    centres = np.stack([xi0, transform_xi(xi0, terms, t)])
    chain = np.repeat(np.arange(4), 100)
    labels = (chain >= 2).astype(int)  # chains 0, 1 in one image, chains 2, 3 in the other
    xi = _xi_cloud(centres, labels)
    modes = find_modes(xi, np.abs(xi0) > 0.1, chain=chain)
    assert modes.n_modes == 2 and sorted(map(sorted, modes.chains)) == [[0, 1], [2, 3]]
    found = find_symmetries(modes.centres, terms)
    assert found and found[0].transform.describe() == t.describe()


def test_summary_diagnostics_equal_arviz_on_the_stored_ensemble(tmp_path):
    write_synthetic_run(tmp_path, n_samples=400, seed=5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    with h5py.File(tmp_path / "ensemble.h5") as f:
        xi, chain = f["xi"][()].astype(np.float64), f["chain"][()]
    grouped = np.stack([xi[chain == c] for c in np.unique(chain)])
    axes = dict(chain_axis=0, draw_axis=1)
    r_hat = array_stats.rhat(grouped, method="rank", **axes)
    ess = array_stats.ess(grouped, method="bulk", **axes)
    tail = array_stats.ess(grouped, method="tail", prob=(0.05, 0.95), **axes)
    mcse = array_stats.mcse(grouped, method="mean", **axes)
    names = summary["term_names"]
    for j, eq in enumerate(summary["equations"]):
        for k, name in enumerate(names):
            entry = summary["coefficients"][eq][name]
            for key, ref in (("r_hat", r_hat), ("ess_bulk", ess), ("ess_tail", tail),
                             ("mcse_mean", mcse)):
                assert entry[key] == pytest.approx(float(ref[k, j]), rel=1e-12), (eq, name, key)
    diag = summary["diagnostics"]
    assert diag["n_chains"] == 4 and diag["draws_per_chain"] == 100
    significant = np.array([[summary["coefficients"][eq][n]["significant"] for eq in
                             summary["equations"]] for n in names])
    assert diag["max_r_hat"] == pytest.approx(float(r_hat[significant].max()), rel=1e-12)
    assert diag["converged"] == bool(
        np.all((r_hat[significant] <= R_HAT_MAX) & (ess[significant] >= ESS_MIN))
    )


def test_report_states_convergence_first(tmp_path):
    from analysis.report import write_report

    write_synthetic_run(tmp_path, n_samples=200, n_eval=60, n_test=200, seed=6)
    with h5py.File(tmp_path / "ensemble.h5", "r+") as f:  # make chain 0 sit apart
        xi = f["xi"][()]
        xi[f["chain"][()] == 0] += 0.5
        f["xi"][...] = xi
    paths = write_report(tmp_path)
    lines = paths["report.md"].read_text().splitlines()
    assert lines[2].startswith("⚠ NOT CONVERGED") and "frame-free targets" in lines[2]
    first = "\n".join(lines[:8])
    assert "Coefficients (descriptive" in first and "max R-hat" in first
    analysis = json.loads(paths["analysis.json"].read_text())
    assert analysis["diagnostics"]["converged"] is False
    assert analysis["frame_free"]["converged"] is False
    assert "growth_rate" in analysis["frame_free"]["failing"]
    assert all(m["chains"] for m in analysis["modes"]["modes"])
    assert load_run(tmp_path).n_chains == 4
    assert analysis["chain_symmetries"] == []  # the report's analyze_run, not run again
