"""Tests of the analysis package: coefficient statistics, modes and symmetry, latent dynamics,
pysindy interop, the report and its handling of bad input.

Synthetic run directories come from ``analysis.synthetic.write_synthetic_run`` (known answer).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.coefficients import clustering_mask, coefficient_stats, find_modes, kde_modes
from analysis.dynamics import analyse_orbit, signal_period, simulate
from analysis.errors import ReportError
from analysis.interop import pysindy_library, to_pysindy
from analysis.library import library_settings, library_term_names, library_terms
from analysis.report import FIGURES, format_equations, main, write_report
from analysis.rundir import load_run
from analysis.symmetry import SignedPermutation, candidate_transforms, find_symmetries, transform_xi
from analysis.synthetic import hopf_xi, write_synthetic_run

ROOT = Path(__file__).resolve().parents[1]
NAMES2 = library_term_names(2)
TERMS2 = library_terms(2)
COL = {n: k for k, n in enumerate(NAMES2)}


# --- library ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])
def test_term_names_match_pysindy(dim):
    lib = pysindy_library(3, True)
    lib.fit(np.random.default_rng(0).normal(size=(20, dim)))
    assert library_term_names(dim) == list(lib.get_feature_names())
    assert library_settings(library_term_names(dim), dim) == (3, True)
    assert library_settings(library_term_names(dim, 2, False), dim) == (2, False)
    with pytest.raises(ValueError, match="not a library"):
        library_settings(library_term_names(dim)[::-1], dim)


def test_paper_library_has_eleven_terms():
    assert NAMES2 == [
        "x0", "x1", "x0^2", "x0 x1", "x1^2", "x0^3", "x0^2 x1", "x0 x1^2", "x1^3",
        "sin(1 x0)", "sin(1 x1)",
    ]  # fmt: skip


# --- coefficient statistics ------------------------------------------------------------------


def test_kde_finds_both_peaks_of_a_bimodal_sample():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-1.0, 0.15, 1200), rng.normal(1.5, 0.2, 800)])
    res = kde_modes(x)
    assert len(res.peaks) == 2
    # highest first; Scott's bandwidth smooths a little, so allow a few bandwidths of bias
    assert abs(res.peaks[0] - (-1.0)) < 0.1
    assert abs(res.peaks[1] - 1.5) < 0.1


def test_kde_unimodal_gives_one_peak_despite_noise():
    rng = np.random.default_rng(2)
    for seed_shift in range(5):  # several samples: tail ripples must not become peaks
        x = rng.normal(0.3, 0.1, 400 + 100 * seed_shift)
        res = kde_modes(x)
        assert len(res.peaks) == 1
        assert abs(res.peaks[0] - 0.3) < 4 * 0.1 / np.sqrt(len(x)) + 0.02


def test_constant_coefficient_is_handled():
    xi = np.random.default_rng(3).normal(size=(100, 11, 2))
    xi[:, 4, 1] = 0.0
    xi[:, 5, 0] = 0.7
    s = coefficient_stats(xi)
    assert s.mode[4, 1] == 0.0 and s.n_peaks[4, 1] == 1 and not s.significant[4, 1]
    assert s.mode[5, 0] == pytest.approx(0.7) and s.significant[5, 0]
    assert s.inclusion[5, 0] == 1.0 and s.inclusion[4, 1] == 0.0


def test_significance_needs_mean_and_mode_above_threshold():
    rng = np.random.default_rng(4)
    n = 4000
    xi = np.zeros((n, 11, 2))
    xi[:, 0, 0] = rng.normal(0.5, 0.05, n)  # significant
    xi[:, 1, 0] = rng.normal(0.05, 0.02, n)  # small: not significant
    # bimodal: mode near 0 (70 %) and a minority at 1.0 → mean 0.3 > 0.1 but mode ≈ 0
    xi[:, 2, 0] = np.where(rng.random(n) < 0.7, rng.normal(0, 0.02, n), rng.normal(1.0, 0.02, n))
    s = coefficient_stats(xi, threshold=0.1)
    assert s.significant[0, 0] and not s.significant[1, 0]
    assert s.mean[2, 0] > 0.1 and abs(s.mode[2, 0]) < 0.05 and not s.significant[2, 0]
    assert s.n_peaks[2, 0] == 2
    assert s.inclusion[2, 0] == pytest.approx(0.3, abs=4 * np.sqrt(0.21 / n))
    assert coefficient_stats(xi, threshold=0.01).significant[1, 0]


# --- symmetry --------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", candidate_transforms(2), ids=lambda t: t.describe())
def test_transformed_xi_generates_the_transformed_trajectory(transform):
    rng = np.random.default_rng(5)
    xi = 0.3 * rng.normal(size=(11, 2))
    t = np.linspace(0, 1, 21)
    z0 = np.array([0.4, -0.3])
    z, _ = simulate(xi, TERMS2, z0, t)
    zt, _ = simulate(transform_xi(xi, TERMS2, transform), TERMS2, transform.matrix() @ z0, t)
    np.testing.assert_allclose(zt, z @ transform.matrix().T, atol=1e-6)


def test_transform_in_three_dimensions_is_a_group_action():
    terms = library_terms(3)
    names = [t.name for t in terms]
    xi = np.random.default_rng(6).normal(size=(len(names), 3))
    a = SignedPermutation((1, 2, 0), (1, -1, 1))
    inv = SignedPermutation((2, 0, 1), (1, 1, -1))  # T⁻¹ = Tᵀ
    np.testing.assert_allclose(inv.matrix(), a.matrix().T)
    np.testing.assert_allclose(transform_xi(transform_xi(xi, terms, a), terms, inv), xi)


def _modes_and_symmetries(run_dir):
    run = load_run(run_dir)
    stats = coefficient_stats(run.xi)
    modes = find_modes(run.xi, clustering_mask(stats))
    return modes, find_symmetries(modes.centres, run.terms)


def test_two_swapped_modes_are_recovered_and_related(tmp_path):
    truth = write_synthetic_run(tmp_path, n_samples=400, seed=7)
    modes, sym = _modes_and_symmetries(tmp_path)
    assert modes.n_modes == 2
    np.testing.assert_allclose(modes.weights, truth.weights, atol=0.01)
    assert np.mean(modes.labels == truth.labels) > 0.99
    # centres within a few standard errors of the truth (noise 0.03 + 5 % scale, n ≥ 160)
    np.testing.assert_allclose(modes.centres, truth.xi_modes, atol=0.05)
    assert len(sym) == 1 and (sym[0].mode_a, sym[0].mode_b) == (0, 1)
    assert sym[0].transform == SignedPermutation((1, 0), (1, 1))
    assert "swap z0<->z1" in sym[0].transform.describe()


def test_sign_flip_modes_are_related_by_the_flip(tmp_path):
    flip = SignedPermutation((0, 1), (1, -1))
    write_synthetic_run(tmp_path, n_samples=300, transform=flip, weights=(0.5, 0.5), seed=8)
    modes, sym = _modes_and_symmetries(tmp_path)
    assert modes.n_modes == 2
    assert len(sym) == 1 and sym[0].transform == flip


def test_one_mode_claims_no_symmetry(tmp_path):
    write_synthetic_run(tmp_path, n_samples=400, n_modes=1, seed=9)
    modes, sym = _modes_and_symmetries(tmp_path)
    assert modes.n_modes == 1
    assert modes.weights[0] == 1.0
    assert sym == []


def test_unrelated_modes_claim_no_symmetry():
    rng = np.random.default_rng(10)
    a = hopf_xi(TERMS2, skew=((1.0, 0.5), (0.0, 0.8)))
    b = a.copy()
    b[COL["x1"], 0] *= 2.0
    centres = np.stack([a, b]) + 0.001 * rng.normal(size=(2, 11, 2))
    assert find_symmetries(centres, TERMS2) == []


# --- dynamics --------------------------------------------------------------------------------


@pytest.mark.parametrize("omega", [0.7, 2.0])
def test_linear_centre_period(omega):
    xi = np.zeros((11, 2))
    xi[COL["x1"], 0], xi[COL["x0"], 1] = omega, -omega
    orbit = analyse_orbit(xi, TERMS2, np.array([1.0, 0.0]), t_end=40 * np.pi / omega, dt=0.05)
    assert orbit.status == "limit_cycle"
    assert orbit.period == pytest.approx(2 * np.pi / omega, rel=0.01)
    np.testing.assert_allclose(orbit.amplitude, 1.0, rtol=0.01)


@pytest.mark.parametrize("mu, omega", [(1.0, 1.0), (0.5, 2.5)])
def test_hopf_limit_cycle_period_and_radius(mu, omega):
    xi = hopf_xi(TERMS2, mu=mu, omega=omega)
    orbit = analyse_orbit(xi, TERMS2, np.array([0.05, 0.0]), t_end=60 * np.pi / omega, dt=0.02)
    assert orbit.status == "limit_cycle"
    assert orbit.period == pytest.approx(2 * np.pi / omega, rel=0.01)
    np.testing.assert_allclose(orbit.amplitude, np.sqrt(mu), rtol=0.01)


def test_blow_up_is_reported_as_diverged():
    xi = np.zeros((11, 2))
    xi[COL["x0^2"], 0] = 1.0  # ż0 = z0² blows up at t = 1/z0(0)
    xi[COL["x1"], 1] = -1.0
    orbit = analyse_orbit(xi, TERMS2, np.array([1.0, 1.0]), t_end=20.0, dt=0.05, bound=1e3)
    assert orbit.status == "diverged" and np.isnan(orbit.period)


def test_damped_oscillator_reaches_fixed_point():
    xi = np.zeros((11, 2))
    xi[COL["x1"], 0], xi[COL["x0"], 1] = 1.0, -1.0
    xi[COL["x0"], 0] = xi[COL["x1"], 1] = -0.5
    orbit = analyse_orbit(xi, TERMS2, np.array([1.0, 0.0]), t_end=100.0, dt=0.05)
    assert orbit.status == "fixed_point"


def test_signal_period_of_noisy_sinusoid():
    rng = np.random.default_rng(11)
    dt, period = 0.05, 4.83
    t = np.arange(1000) * dt
    phase = 2 * np.pi * t / period + 0.4
    sig = np.stack([np.cos(phase), np.sin(phase), 0.1 * np.cos(2 * phase)], axis=1)
    sig += 0.02 * rng.normal(size=sig.shape)
    assert signal_period(sig, dt) == pytest.approx(period, rel=0.003)
    assert signal_period(sig[:, 0], dt) == pytest.approx(period, rel=0.003)
    assert np.isnan(signal_period(np.ones(100), dt))


# --- pysindy ---------------------------------------------------------------------------------


def test_pysindy_export_simulates_like_odeint():
    xi = hopf_xi(TERMS2, mu=0.8, omega=1.3, skew=((1.0, 0.5), (0.0, 0.8)))
    xi[COL["sin(1 x0)"], 1] = 0.2
    model = to_pysindy(xi, NAMES2)
    assert model.get_feature_names() == NAMES2
    np.testing.assert_allclose(model.coefficients(), xi.T)
    t = np.linspace(0.0, 3.0, 61)
    z0 = np.array([0.5, -0.2])
    ours, diverged = simulate(xi, TERMS2, z0, t)
    assert not diverged
    np.testing.assert_allclose(model.simulate(z0, t), ours, atol=1e-5)
    eqs = model.equations(precision=3)
    assert "sin(1 x0)" in eqs[1] and "sin(1 x0)" not in eqs[0]


def test_pysindy_export_rejects_mismatched_names():
    with pytest.raises(ReportError, match="term_names"):
        to_pysindy(np.zeros((11, 2)), NAMES2[::-1])
    with pytest.raises(ReportError, match="term_names"):
        to_pysindy(np.zeros((9, 2)), NAMES2[:9], include_sine=True)


def test_format_equations():
    mean = np.zeros((11, 2))
    std = np.full((11, 2), 0.05)
    mean[0, 0], mean[1, 0], mean[0, 1] = 0.47, -1.0, 2.0
    lines = format_equations(mean, std, np.abs(mean) > 0.1, NAMES2)
    assert lines == ["x0' = 0.47(±0.05) x0 - 1.00(±0.05) x1", "x1' = 2.00(±0.05) x0"]


# --- report ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    truth = write_synthetic_run(run_dir, n_samples=300, n_eval=120, seed=12)
    return truth, write_report(run_dir)


def test_report_writes_every_figure_and_embeds_them(reported_run):
    truth, paths = reported_run
    for name in FIGURES:
        p = paths[f"figures/{name}.png"]
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["report.html"].read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "<img" in html and 'src="figures/' not in html  # self-contained


def test_report_markdown_lists_all_terms_and_findings(reported_run):
    truth, paths = reported_run
    md = paths["report.md"].read_text()
    for name in truth.term_names:
        assert f"| {name} |" in md or f"| **{name}** |" in md
    assert "| **x0** |" in md or "| **x0 †** |" in md  # significant rows are bold (†: see
    # Identifiability)
    assert "swap z0<->z1" in md
    assert "x0' = " in md and "(±" in md
    for heading in ("Dynamics of the ensemble members", "Sparse models (one per encoder)",
                    "Identifiability", "Peer: PCA + SINDy",
                    "Dynamics of the mean, mode and sparse models"):
        assert f"## {heading}" in md
    assert md.index("## Dynamics of the ensemble members") < md.index("## Coefficients")
    assert "## Dynamics\n" not in md  # each dynamics section has its own title


def test_report_json_holds_the_statistics(reported_run):
    truth, paths = reported_run
    data = json.loads(paths["analysis.json"].read_text())
    assert data["term_names"] == truth.term_names
    assert data["coefficients"]["x0'"]["x0"]["significant"] is True
    assert len(data["modes"]["modes"]) == 2
    assert data["symmetries"][0]["transform"]["perm"] == [1, 0]
    models = {m["name"]: m for m in data["dynamics"]["models"]}
    assert data["dynamics"]["data_period"] == pytest.approx(truth.period, rel=0.01)
    for name in ("mode 0", "mode 1"):
        assert models[name]["status"] == "limit_cycle"
        assert models[name]["period_rel_error"] < 0.03
    assert data["baseline"]["rule"] == "lowest-loss sample of mode 0"


def test_report_classifies_what_the_models_do_to_perturbations(reported_run):
    truth, paths = reported_run
    data = json.loads(paths["analysis.json"].read_text())
    att = data["attractor"]
    # the synthetic data signal sits on its cycle: whether it attracts cannot be judged
    assert att["data"]["kind"] == "periodic orbit" and att["data"]["returns"] is None
    assert att["data"]["period"] == pytest.approx(truth.period, rel=0.01)
    models = {m["name"]: m for m in att["models"]}
    for name in ("mode 0", "mode 1"):  # Hopf with μ = 1: the cycle attracts, Floquet −2μ
        assert models[name]["kind"] == "attracting limit cycle"
        assert models[name]["returns"] is True
        assert models[name]["floquet"] == pytest.approx(-2.0, rel=0.15)
        assert "cannot be judged" in models[name]["compared_with_data"]
    least_squares = att["members"][0]
    assert least_squares["kind_fractions"]["attracting limit cycle"] > 0.9
    assert least_squares["n_lyapunov"] == 64
    lo, mid, hi = least_squares["lyapunov_q05_q50_q95"]
    assert abs(mid) < 0.02  # on a cycle λ1 = 0
    md = paths["report.md"].read_text()
    assert "### Attractors: what the models do to perturbations" in md
    assert any(line.startswith("data: periodic orbit") for line in data["headline"])


def test_a_centre_is_told_apart_from_data_whose_cycle_attracts(tmp_path):
    """The models are a linear centre (neutral orbits); the data approach their cycle (a Hopf
    oscillator started inside it): the report must not call the centre a limit cycle."""
    from dataclasses import replace

    from analysis.pipeline import analyze_run
    from analysis.report_sections import attractor_lines
    from analysis.vector_field import VectorField, integrate

    terms = library_terms(2)
    centre = np.zeros((len(terms), 2))
    centre[COL["x1"], 0], centre[COL["x0"], 1] = -0.92, 0.89
    write_synthetic_run(tmp_path, n_samples=64, n_eval=80, n_modes=1, xi_true=centre, seed=3,
                        xi_noise=0.0, write_metrics=False)  # fmt: skip
    hopf = VectorField(hopf_xi(terms, mu=0.2, omega=0.9), terms)
    z, _, _ = integrate(hopf, np.array([[0.3, 0.0]]), 1500, 0.1, bound=100.0)
    run = load_run(tmp_path)
    run = replace(run, pca_z=z[0], pca_dz=hopf(z[0]), t_pca=0.1 * np.arange(len(z[0])))
    a = analyze_run(run)
    assert a.data_attractor.kind == "attracting limit cycle"
    assert a.data_attractor_source == "the principal components of the fit snapshots"
    kinds = {d.name: d.attractor.kind for d in a.dynamics}
    assert kinds["mean"] == "neutral centre"
    assert a.distributions[0].kind_fractions["neutral centre"] > 0.5
    lines = attractor_lines(a)
    assert "mode 0: neutral centre: the data's cycle attracts, this model's orbits do not" in lines


def test_chaotic_data_get_lyapunov_exponents_instead_of_a_period():
    from types import SimpleNamespace

    from analysis import document as doc
    from analysis.attractor import data_attractor
    from analysis.ensemble_dynamics import dynamics_distribution
    from analysis.report_sections import attractor_blocks, attractor_lines, distribution_lines
    from analysis.vector_field import VectorField, integrate

    terms = library_terms(3, 2, include_sine=False)  # Lorenz, σ = 10, ρ = 28, β = 8/3
    col = {t.name: k for k, t in enumerate(terms)}
    xi = np.zeros((len(terms), 3))
    xi[col["x0"], 0], xi[col["x1"], 0] = -10.0, 10.0
    xi[col["x0"], 1], xi[col["x1"], 1], xi[col["x0 x2"], 1] = 28.0, -1.0, -1.0
    xi[col["x0 x1"], 2], xi[col["x2"], 2] = 1.0, -8 / 3
    z0 = np.array([1.0, 1.0, 20.0]) + np.random.default_rng(0).normal(size=(4, 3))
    dist = dynamics_distribution(
        "least squares", np.stack([xi] * 4), terms, z0, chain=None, members=np.arange(4),
        data_period=float("nan"), span=80.0, dt=0.01, bound=1e3, encoded_radius=np.full(4, 10.0),
    )  # fmt: skip
    assert dist.kind_fractions["chaotic"] == 1.0
    assert np.all(np.abs(dist.lyapunov - 0.906) < 0.2)
    z, _, _ = integrate(VectorField(xi, terms), np.array([[1.0, 1.0, 20.0]]), 11000, 0.01,
                        bound=1e3)  # fmt: skip
    data = data_attractor(0.01 * np.arange(10000), z[0, 1001:])
    a = SimpleNamespace(distributions=[dist], data_attractor=data, dynamics=[], peer=None,
                        data_attractor_source="a Lorenz series")  # fmt: skip
    line = distribution_lines(a)[0]
    assert "100 % chaotic; λ1 0." in line and "against the data's λ1 = " in line
    assert "data: chaotic (λ1 = " in attractor_lines(a)[0]
    text = doc.to_markdown(attractor_blocks(a))
    assert "The data are chaotic" in text and "correlation dimension" in text


def test_report_degrades_without_optional_files(tmp_path):
    write_synthetic_run(tmp_path, n_samples=100, n_eval=60, write_metrics=False,
                        write_summary=False, seed=13)  # fmt: skip
    (tmp_path / "config.json").unlink()
    paths = write_report(tmp_path)
    assert "figures/training_curves.png" not in paths
    md = paths["report.md"].read_text()
    assert "metrics.csv is missing" in md and "summary.json is missing" in md


# --- bad input -------------------------------------------------------------------------------


def _rewrite(path: Path, name: str, value) -> None:
    with h5py.File(path, "a") as f:
        del f[name]
        f[name] = value


def _bad_xi_rank(d):
    _rewrite(d / "ensemble.h5", "xi", np.zeros((10, 22), np.float32))


def _bad_xi_terms(d):
    _rewrite(d / "ensemble.h5", "xi", np.zeros((10, 9, 2), np.float32))


def _bad_xi_nan(d):
    xi = np.zeros((10, 11, 2), np.float32)
    xi[3, 4, 1] = np.nan
    _rewrite(d / "ensemble.h5", "xi", xi)


def _no_xi(d):
    with h5py.File(d / "ensemble.h5", "a") as f:
        del f["xi"]


def _no_term_names(d):
    with h5py.File(d / "ensemble.h5", "a") as f:
        del f.attrs["term_names"]


def _bad_z_shape(d):
    _rewrite(d / "ensemble.h5", "z", np.zeros((3, 5, 2), np.float32))


def _no_ensemble(d):
    (d / "ensemble.h5").unlink()


def _not_hdf5(d):
    (d / "ensemble.h5").write_text("not hdf5")


def _bad_summary(d):
    (d / "summary.json").write_text("{ broken")


def _bad_metrics(d):
    with (d / "metrics.csv").open("a") as fh:
        fh.write("5,1.0\n")


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (_bad_xi_rank, r"ensemble\.h5.*'xi'.*rank 3"),
        (_bad_xi_terms, r"ensemble\.h5.*'xi'.*term_names"),
        (_bad_xi_nan, r"ensemble\.h5.*'xi'.*non-finite.*\(3, 4, 1\)"),
        (_no_xi, r"ensemble\.h5.*'xi' is missing"),
        (_no_term_names, r"ensemble\.h5.*'term_names' is missing"),
        (_bad_z_shape, r"ensemble\.h5.*'z'.*shape"),
        (_no_ensemble, r"ensemble\.h5: file missing"),
        (_not_hdf5, r"ensemble\.h5: cannot be opened"),
        (_bad_summary, r"summary\.json: not valid JSON"),
        (_bad_metrics, r"metrics\.csv: line \d+ has 2 fields"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bad_input_raises_report_error(tmp_path, corrupt, expected, capsys):
    write_synthetic_run(tmp_path, n_samples=10, n_eval=20, n_test=100, seed=14)
    corrupt(tmp_path)
    with pytest.raises(ReportError, match=expected):
        write_report(tmp_path)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_missing_run_dir_and_bad_threshold(tmp_path, capsys):
    with pytest.raises(ReportError, match="does not exist"):
        write_report(tmp_path / "nope")
    with pytest.raises(ReportError, match="threshold"):
        write_report(tmp_path, threshold=0.0)
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_exit_code_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(tmp_path / "missing"), "--threshold", "0.1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "error: run directory" in proc.stderr and "Traceback" not in proc.stderr


def test_package_reexports_lazily():
    import analysis
    import analysis.report

    assert analysis.write_report is analysis.report.write_report
    assert issubclass(analysis.ReportError, ValueError)


def test_collection_records_read_as_typed_settings():
    """``training.collection_sampler`` and ``training.collection`` of summary.json read as
    ``StiffCollection`` / ``CollectionSettings``; their ``_asdict()`` is the record, in order."""
    from analysis.rundir import CollectionSettings, RunData, StiffCollection

    stiff = {"stiff_directions": 2, "curvature": [[3.0, 2.0, 1.0]], "step_size": 2e-5,
             "step_gain": 1.5}
    collection = {"full_batch": True, "thermostat": "langevin", "friction": 1000.0,
                  "step_size": 2e-5, "max_omega_dt": 1.0, "resample_every": None}
    terms = tuple(library_terms(2))
    run = RunData(xi=np.zeros((2, len(terms), 2)), terms=terms, poly_order=3, include_sine=True,
                  training={"collection_sampler": stiff, "collection": collection})
    assert run.stiff_collection == StiffCollection(**stiff)
    assert list(run.stiff_collection._asdict().items()) == list(stiff.items())
    assert run.collection_settings == CollectionSettings(**collection)
    assert list(run.collection_settings._asdict().items()) == list(collection.items())
    plain = RunData(xi=np.zeros((2, len(terms), 2)), terms=terms, poly_order=3, include_sine=True)
    assert plain.stiff_collection is None and plain.collection_settings is None
