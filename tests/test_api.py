"""The notebook API (``eae_sindy.fit`` → ``Discovery`` → save / load / report / pysindy), the
run-directory round trip, settings refused at the boundary, and the README's example."""

import json
import re
import typing
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiny import TINY, TINY_CONTROLLED, write_tiny_data

import eae_sindy
from analysis.errors import ReportError
from analysis.rundir import ENSEMBLE_FILE, SCHEMA_VERSION, load_run
from eae_sindy.config import PRESETS, Activation
from eae_sindy.discover import discover, main
from eae_sindy.errors import ConfigError, RunDirectoryError
from eae_sindy.models import ACTIVATIONS
from simulators import DatasetError, read_dataset


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return Path(write_tiny_data(tmp_path_factory.mktemp("data") / "data.h5"))


@pytest.fixture(scope="module")
def found(data_file):
    data = read_dataset(data_file)
    return eae_sindy.fit(data.x, data.t, data.dx, config=TINY_CONTROLLED,
                         grid_shape=data.grid_shape, progress=False)


def test_fit_returns_a_discovery(found):
    assert found.xi.shape == (24, 11, 2) and np.isfinite(found.xi).all()  # 4 chains × 6 draws
    np.testing.assert_array_equal(found.run.chain, np.repeat(np.arange(4), 6))
    assert found.summary["diagnostics"]["n_chains"] == 4
    assert found.summary["diagnostics"]["draws_per_chain"] == 6
    assert found.term_names[-1] == "sin(1 x1)"
    lines = found.equations(threshold=0.0)
    assert [line.split(" = ")[0] for line in lines] == ["(x0)'", "(x1)'"]
    assert len(re.findall(r"±", lines[0])) == 11  # every term at threshold 0
    assert found.run.metrics["iteration"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert found.summary["training"]["outer_iterations"] == 4
    guard = found.summary["training"]["bias_guard"]  # measured after collection
    assert guard["n_draws"] == 4 * 24 and len(guard["t_conf_over_t"]) == 4  # one per chain
    assert np.isfinite(guard["pooled"]) and guard["pooled_se"] > 0
    assert np.all(np.isfinite(found.run.metrics["step_size"]))  # the step control's columns
    model = found.to_pysindy()
    np.testing.assert_allclose(model.coefficients(), found.xi.mean(axis=0).T, rtol=1e-6)
    assert model.get_feature_names() == found.term_names
    with pytest.raises(ValueError, match="statistic"):
        found.to_pysindy("mode")
    sparse = found.to_pysindy("sparse")  # the top sparse structure: some terms exactly zero
    assert found.run.fit_r.shape == (24, 11, 11) and found.run.pca_z.shape[1] == 2
    assert np.any(sparse.coefficients() == 0) and np.any(sparse.coefficients() != 0)


def test_save_load_round_trips_every_array_bit_for_bit(found, tmp_path):
    found.save(tmp_path / "run")
    back = eae_sindy.load(tmp_path / "run")
    assert isinstance(back, eae_sindy.Discovery) and back.config == TINY_CONTROLLED
    before, after = found.run.arrays(), back.run.arrays()
    assert sorted(before) == sorted(after)
    for name, array in before.items():
        assert after[name].dtype == array.dtype, name
        np.testing.assert_array_equal(after[name], array, err_msg=name)
    for column, values in found.run.metrics.items():
        np.testing.assert_array_equal(back.run.metrics[column], values)
    assert back.run.terms == found.run.terms and back.summary == found.summary
    assert back.run.config == json.loads(json.dumps(found.run.config))
    back.save(tmp_path / "run")  # saving again into its own directory is allowed


def test_save_refuses_a_directory_holding_another_run(found, tmp_path):
    found.save(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["seed"] = 99
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunDirectoryError, match="different run.*seed"):
        found.save(tmp_path / "run")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirectoryError, match="is a file"):
        found.save(tmp_path / "file")


def test_reader_checks_the_schema_version(found, tmp_path):
    found.save(tmp_path / "run")
    with h5py.File(tmp_path / "run" / ENSEMBLE_FILE, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ReportError, match=f"schema_version {SCHEMA_VERSION + 1} is newer"):
        load_run(tmp_path / "run")
    with h5py.File(tmp_path / "run" / ENSEMBLE_FILE, "r+") as f:
        del f.attrs["schema_version"]
    with pytest.raises(ReportError, match="'schema_version' is missing"):
        load_run(tmp_path / "run")
    with h5py.File(tmp_path / "run" / ENSEMBLE_FILE, "r+") as f:
        f.attrs["schema_version"] = 0
    with pytest.raises(ReportError, match="not a known version"):
        load_run(tmp_path / "run")


def test_version_1_runs_are_still_read(found, tmp_path):
    """Runs written before the terms were stored (schema 1) know them from the library settings."""
    found.save(tmp_path / "run")
    with h5py.File(tmp_path / "run" / ENSEMBLE_FILE, "r+") as f:
        f.attrs["schema_version"] = 1
        del f.attrs["term_kinds"], f.attrs["term_powers"]
    assert load_run(tmp_path / "run").terms == found.run.terms


def test_report_reads_a_directory_written_by_discover(data_file, tmp_path):
    out = tmp_path / "run"
    found = discover(TINY, out, data_path=str(data_file), progress=False, report=True)
    for name in ("report.html", "report.md", "analysis.json"):
        assert (out / name).stat().st_size > 0, name
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["n_samples"] == found.run.n_samples == 24
    np.testing.assert_array_equal(load_run(out).xi, found.xi)


def test_arrays_are_validated(found):
    x = np.zeros((50, 4))
    with pytest.raises(DatasetError, match="x_dot: shape"):
        eae_sindy.fit(x, x_dot=np.zeros((50, 3)), config=TINY, progress=False)
    with pytest.raises(DatasetError, match=r"x: contains non-finite values \(first at index"):
        eae_sindy.fit(np.full((50, 4), np.nan), x_dot=x, config=TINY, progress=False)
    with pytest.raises(DatasetError, match="x: expected a 2-D"):
        eae_sindy.fit(np.zeros(50), x_dot=np.zeros(50), config=TINY, progress=False)
    with pytest.raises(DatasetError, match="t: expected 50 finite times"):
        eae_sindy.fit(x, np.zeros(49), x, config=TINY, progress=False)
    with pytest.raises(DatasetError, match=r"x\[1\]: expected a 2-D"):
        eae_sindy.fit([x, np.zeros(50)], config=TINY, progress=False)
    with pytest.raises(DatasetError, match=r"t of x\[1\]: must increase strictly"):
        eae_sindy.fit([x, x], [np.arange(50.0), np.zeros(50)], config=TINY, progress=False)
    with pytest.raises(TypeError, match=r"fit\(x, t, x_dot=dx\)"):
        eae_sindy.fit(x, x, np.arange(50.0), config=TINY, progress=False)
    with pytest.raises(ConfigError, match="seed must be an integer in"):
        eae_sindy.fit(x, x_dot=x, config=TINY, seed=-3, progress=False)


def test_activations_in_config_match_the_models():
    assert set(typing.get_args(Activation)) == set(ACTIVATIONS)


BAD_SETTINGS = [
    ({"sampler": {"temperature": float("nan")}}, "sampler.temperature must be a finite number"),
    ({"sampler": {"temperature": float("inf")}}, "sampler.temperature must be a finite number"),
    ({"sampler": {"thermostat_timescale": -1.0}}, "sampler.thermostat_timescale must be positive"),
    ({"sampler": {"thermostat": "berendsen"}}, "sampler.thermostat must be"),
    ({"model": {"encoder_widths": [0]}}, r"model.encoder_widths\[0\] must be positive"),
    ({"model": {"encoder_widths": [-5]}}, r"model.encoder_widths\[0\] must be positive"),
    ({"model": {"encoder_widths": 64}}, "model.encoder_widths must be a list"),
    ({"model": {"activation": "sigmoidal"}}, "model.activation must be one of"),
    ({"train": {"grad_tol": -1.0}}, "train.grad_tol must be >= 0"),
    ({"data": {"noise_std": -0.1}}, "data.noise_std must be >= 0"),
    ({"sindy": {"include_sine": 1}}, "sindy.include_sine must be true or false"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*32\)"),
    ({"seed": 2**40}, r"seed must be an integer in \[0, 2\*\*32\)"),
]


@pytest.mark.parametrize(("values", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, values, message):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(values))
    out = tmp_path / "out"
    code = main(["--config", str(config), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(message, err) and "bad.json" in err and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(ConfigError, match=message):
        eae_sindy.config.config_from_dict(values)


@pytest.mark.parametrize("seed", ["-1", str(2**40)])
def test_bad_seed_on_the_command_line(tmp_path, capsys, seed):
    code = main(["--seed", seed, "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2 and "--seed: seed must be an integer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unusable_output_paths_are_named_errors(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for out, message in ((afile, "is a file"), (afile / "sub", "cannot be written")):
        code = main(["--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
    assert afile.read_text() == "not a directory"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    code = main(["--out", str(busy), "--quiet"])
    assert code == 2 and "holds no run" in capsys.readouterr().err
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def _readme_example() -> str:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs(data_file, tmp_path, monkeypatch, capsys):
    """The README's notebook example, as written, on a tiny data set and budget."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "quick").mkdir(parents=True)
    (tmp_path / "runs" / "quick" / "data.h5").write_bytes(Path(data_file).read_bytes())
    monkeypatch.setitem(PRESETS, "quick", TINY)
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), namespace)  # noqa: S102
    assert "(x0)' =" in capsys.readouterr().out
    saved = [p for p in (tmp_path / "runs").iterdir() if (p / ENSEMBLE_FILE).exists()]
    assert len(saved) == 1
    np.testing.assert_array_equal(eae_sindy.load(saved[0]).xi, namespace["found"].xi)


def test_collection_stops_when_the_frame_free_verdict_holds(data_file):
    """With ``train.target_ess`` the draws are collected chunk by chunk until every per-draw
    frame-free target has R-hat <= 1.01 and bulk- and tail-ESS >= target_ess; ``n_samples`` is
    the budget."""
    from analysis.library import library_terms
    from eae_sindy.run_data import enough_draws

    rng = np.random.default_rng(0)
    config = TINY
    n_terms = len(library_terms(2, config.sindy.poly_order, config.sindy.include_sine))

    def chunk(draws, shift=0.0):
        xi = rng.normal(0.0, 0.01, (draws, 4, n_terms, 2))
        xi[:, :, 0, 1], xi[:, :, 1, 0] = 1.0, -1.0  # a rotation, as the data's
        xi[:, 0, 0, 1] += shift  # chain 0 rotates faster
        return {
            "xi": xi,
            "z": rng.normal(size=(draws, 4, 20, 2)),
            "loss": rng.normal(1.0, 0.1, (draws, 4)),
        }

    enough, fields = enough_draws([chunk(600)], 400, config)
    assert enough and float(fields["max R-hat"]) <= 1.01
    enough, fields = enough_draws([chunk(600, shift=0.05)], 400, config)
    assert not enough and float(fields["max R-hat"]) > 1.01
    enough, _ = enough_draws([chunk(60)], 400, config)  # 240 draws: ESS < 400
    assert not enough

    data = read_dataset(data_file)
    budget = config.replace(train=config.train.replace(n_samples=12, chunk_size=4,
                                                        target_ess=10**6))
    found = eae_sindy.fit(data.x, data.t, data.dx, config=budget, progress=False)
    assert found.summary["diagnostics"]["draws_per_chain"] == 12  # never enough: the budget


def test_collection_with_a_heavier_mass_along_the_stiffest_directions(data_file):
    """``train.stiff_directions = 2``: each chain's two stiffest directions are found after
    training and collection runs with the heavier mass and the enlarged step; summary.json says
    so. A sweep refuses the setting."""
    from eae_sindy.config import CollectionConfig, SweepConfig
    from eae_sindy.planning import run_record

    data = read_dataset(data_file)
    config = TINY.replace(train=TINY.train.replace(stiff_directions=2))
    found = eae_sindy.fit(data.x, data.t, data.dx, config=config, progress=False)
    record = found.summary["training"]["collection_sampler"]
    curvature = np.asarray(record["curvature"])
    assert record["stiff_directions"] == 2 and curvature.shape == (TINY.train.num_chains, 3)
    assert np.all(np.diff(curvature, axis=1) <= 0) and np.all(curvature[:, -1] > 0)
    expected = np.sqrt(curvature[:, 0].max() / curvature[:, -1].max())
    assert record["step_gain"] == pytest.approx(max(expected, 1.0))
    assert record["step_size"] == pytest.approx(TINY.sampler.step_size * record["step_gain"])
    assert np.all(np.isfinite(found.xi))
    assert "stiff_directions" not in json.dumps(run_record(TINY))
    with pytest.raises(ConfigError, match="stiff_directions"):  # refused as it is built
        config.replace(sweep=SweepConfig(temperatures=(1e-4, 1e-3)))
    langevin = CollectionConfig(thermostat="langevin", friction=1000.0)
    with pytest.raises(ConfigError, match="stiff_directions needs the Nosé–Hoover"):
        config.replace(collection=langevin)  # was a trace-time error inside the sampler's step


def test_collection_with_the_quick_presets_sampler(data_file, found):
    """The quick preset collects with BAOAB on the whole training set (``[collection]``);
    summary.json and the report's Run section say so, and the bias guard is measured."""
    data = read_dataset(data_file)
    config = TINY_CONTROLLED.replace(collection=eae_sindy.preset("quick").collection)
    collected = eae_sindy.fit(data.x, data.t, data.dx, config=config, progress=False)
    training = collected.summary["training"]
    assert training["collection"] == {
        "full_batch": True, "thermostat": "langevin", "friction": 1000.0, "step_size": 2e-5,
        "max_omega_dt": 1.0, "resample_every": None,
    }
    assert np.isfinite(training["bias_guard"]["pooled"]) and np.isfinite(collected.xi).all()
    plain = found  # the same config but for [collection]
    assert "collection" not in plain.summary["training"]
    np.testing.assert_array_equal(plain.run.metrics["loss_mean"],
                                  collected.run.metrics["loss_mean"])
    assert not np.allclose(plain.xi, collected.xi)  # same training, another collection
