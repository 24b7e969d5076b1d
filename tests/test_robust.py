"""Robustness to real users' data and to faults: units and offsets, the sanity gate, resume by
content, I/O errors, signals, and the rest of the input audit."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiny import TINY, interrupting, write_tiny_data

import analysis.report
import analysis.rundir
import eae_sindy
from eae_sindy.discover import main
from eae_sindy.planning import REFERENCE_RMS, Scaling
from simulators import DatasetError, read_dataset

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return Path(write_tiny_data(tmp_path_factory.mktemp("data") / "tiny.h5"))


@pytest.fixture()
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY.to_dict()))
    return path


def _strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"{path.name}: non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_scaling_removes_units_and_offsets(data_file):
    data = read_dataset(data_file)
    x0, dx0 = Scaling.fit(data.x).forward(data.x, data.dx)
    assert np.sqrt(np.mean(x0.astype(np.float64) ** 2)) == pytest.approx(REFERENCE_RMS, rel=1e-5)
    for factor, offset in ((10.0, 0.0), (1e4, 0.0), (1.0, 300.0)):
        x, dx = data.x * factor + offset, data.dx * factor
        x1, dx1 = Scaling.fit(x).forward(x, dx)
        np.testing.assert_allclose(x1, x0, atol=2e-5 * max(1.0, offset / factor))
        np.testing.assert_allclose(dx1, dx0, rtol=1e-5, atol=1e-7)
    scaling = Scaling.fit(data.x)
    np.testing.assert_allclose(scaling.inverse(x0), data.x, atol=1e-6)


@pytest.mark.parametrize(("factor", "offset"), [(1e4, 0.0), (1.0, 300.0)])
def test_units_and_offsets_do_not_change_what_is_learned(data_file, factor, offset):
    data = read_dataset(data_file)
    base = eae_sindy.fit(data.x, data.t, data.dx, config=TINY, progress=False)
    moved = eae_sindy.fit(data.x * factor + offset, data.t, data.dx * factor, config=TINY,
                          progress=False)
    # The scaled inputs agree to float32 rounding (x + 300 in float32 keeps only ~1e-4 of x's
    # precision); the sampler amplifies that, so the ensembles agree as distributions: every
    # coefficient's mean within a fifth of its spread over the ensemble.
    shift = np.abs(moved.xi.mean(axis=0) - base.xi.mean(axis=0))
    assert np.all(shift <= 0.2 * base.xi.std(axis=0) + 1e-3), shift.max()
    assert moved.summary["test_error"]["x_relative_mse"] == pytest.approx(
        base.summary["test_error"]["x_relative_mse"], rel=1e-2
    )
    # reconstructions come back in the data's own units
    np.testing.assert_allclose(moved.run.x_examples, data.x[-20:][[0, 19]] * factor + offset,
                               rtol=1e-6)
    assert abs(moved.run.x_recon_examples.mean() - offset) < 0.5 * factor + 1e-3 * offset


@pytest.mark.slow
def test_quick_preset_period_is_unit_free(tmp_path):
    """The issue's check: the quick data ×10⁴ and +300 give the original's period within 1 %."""
    from analysis.pipeline import analyze_run

    path = tmp_path / "quick.h5"
    quick = eae_sindy.preset("quick")
    from simulators.lambda_omega import generate_dataset

    generate_dataset(path, **quick.data.simulation(), seed=0, progress=False)
    data = read_dataset(path)
    periods = []
    for factor, offset in ((1.0, 0.0), (1e4, 0.0), (1.0, 300.0)):
        found = eae_sindy.fit(data.x * factor + offset, data.t, data.dx * factor, progress=False)
        periods.append(analyze_run(found.run).dynamics[0].orbit.period)
    assert np.all(np.abs(np.array(periods) / periods[0] - 1) < 0.01), periods


def test_a_model_that_did_not_learn_exits_4_with_results_and_report(
    tmp_path, data_file, tiny_config, capsys
):
    config = json.loads(tiny_config.read_text())
    config["sampler"]["temperature"] = 1.0  # hot enough to learn nothing
    tiny_config.write_text(json.dumps(config))
    out = tmp_path / "run"
    code = main(["--data", str(data_file), "--config", str(tiny_config), "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "DID NOT LEARN" in err and "Traceback" not in err
    summary = _strict_json(out / "summary.json")
    assert summary["test_error"]["learned"] is False
    assert (out / "ensemble.h5").exists()
    assert "DID NOT LEARN" in (out / "report.md").read_text().split("\n## ", 1)[0]


def test_resume_is_by_content_not_by_path(tmp_path, data_file, tiny_config, capsys):
    data = tmp_path / "data.h5"
    shutil.copy(data_file, data)
    out = tmp_path / "run"
    args = ["--config", str(tiny_config), "--out", str(out), "--quiet", "--no-report"]
    assert main(["--data", str(data), *args]) in (0, 4)
    before = (out / "ensemble.h5").read_bytes()
    # the same data under another name is the same run
    other = tmp_path / "elsewhere" / "renamed.h5"
    other.parent.mkdir()
    shutil.copy(data, other)
    assert main(["--data", str(other), *args, "--resume"]) in (0, 4)
    with h5py.File(out / "ensemble.h5") as f, h5py.File(data_file) as _:
        xi = f["xi"][()]
    np.testing.assert_array_equal(xi, h5py.File(__import__("io").BytesIO(before))["xi"][()])
    # different data at the same path is refused, and nothing is overwritten
    with h5py.File(data, "r+") as f:
        f["x"][0, 0] += 1.0
    capsys.readouterr()
    code = main(["--data", str(data), *args, "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "different data" in err
    np.testing.assert_array_equal(h5py.File(out / "ensemble.h5")["xi"][()], xi)


def test_a_full_disk_while_saving_is_a_named_error_and_leaves_nothing_partial(
    tmp_path, data_file, tiny_config, capsys, monkeypatch
):
    out = tmp_path / "run"
    real = h5py.File.create_dataset if hasattr(h5py.File, "create_dataset") else None
    del real

    def full(self, name, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", full)
    code = main(["--data", str(data_file), "--config", str(tiny_config), "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 5 and "No space left on device" in err and "Traceback" not in err
    assert not (out / "ensemble.h5").exists()
    assert not list(out.glob(".*.tmp"))  # no partial file left behind
    assert (out / "checkpoint.msgpack").exists()  # the trained state is kept


def test_a_full_disk_while_reporting_keeps_results_and_the_old_report(
    tmp_path, data_file, tiny_config, capsys, monkeypatch
):
    out = tmp_path / "run"
    args = ["--data", str(data_file), "--config", str(tiny_config), "--out", str(out), "--quiet"]
    main(args)
    old_report = (out / "report.html").read_bytes()

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(analysis.report, "atomic_write_text", full)
    code = main([*args, "--resume"])
    err = capsys.readouterr().err
    assert code == 6 and "report could not be written" in err
    assert (out / "report.html").read_bytes() == old_report
    assert (out / "ensemble.h5").exists() and not list(out.glob(".*.tmp"))


def test_interrupt_checkpoints_the_last_completed_iteration(tmp_path, data_file, monkeypatch):
    """Ctrl-C between checkpoints keeps every completed outer iteration (not only the last
    periodic checkpoint), and the resumed run equals an uninterrupted one bit for bit."""
    import eae_sindy.discovery as discovery_module

    config = TINY.replace(train=TINY.train.replace(checkpoint_every=100))
    data = read_dataset(data_file)
    straight = eae_sindy.fit(data.x, data.t, data.dx, config=config, progress=False)
    real = discovery_module.run_training
    monkeypatch.setattr(discovery_module, "run_training", interrupting(real, after_iteration=1))
    with pytest.raises(KeyboardInterrupt):
        eae_sindy.fit(data.x, data.t, data.dx, config=config, checkpoint_dir=tmp_path / "run",
                      progress=False)
    monkeypatch.setattr(discovery_module, "run_training", real)
    assert (tmp_path / "run" / "checkpoint.msgpack").exists()
    resumed = eae_sindy.fit(data.x, data.t, data.dx, config=config,
                            checkpoint_dir=tmp_path / "run", resume=True, progress=False)
    np.testing.assert_array_equal(resumed.xi, straight.xi)
    assert resumed.run.metrics["iteration"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_sigterm_checkpoints_and_resumes_bitwise(tmp_path, data_file):
    config = TINY.replace(train=TINY.train.replace(outer_iterations=400, checkpoint_every=1000,
                                                   n_samples=4, chunk_size=4))
    config_file = tmp_path / "long.json"
    config_file.write_text(json.dumps(config.to_dict()))
    base = ["-m", "eae_sindy.discover", "--data", str(data_file), "--config", str(config_file),
            "--quiet", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, *base, "--out", str(out)], env=env,
                               stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) > 3:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "SIGTERM" in err and (out / "checkpoint.msgpack").exists()
    assert not (out / "ensemble.h5").exists()
    resumed = subprocess.run([sys.executable, *base, "--out", str(out), "--resume"], env=env,
                             capture_output=True, text=True)
    straight = subprocess.run([sys.executable, *base, "--out", str(tmp_path / "straight")],
                              env=env, capture_output=True, text=True)
    assert resumed.returncode in (0, 4) and straight.returncode in (0, 4), resumed.stderr
    with h5py.File(out / "ensemble.h5") as a, h5py.File(tmp_path / "straight/ensemble.h5") as b:
        np.testing.assert_array_equal(a["xi"][()], b["xi"][()])


def test_stale_temporary_files_are_removed_on_resume(tmp_path, data_file, tiny_config):
    out = tmp_path / "run"
    args = ["--data", str(data_file), "--config", str(tiny_config), "--out", str(out), "--quiet",
            "--no-report"]
    main(args)
    stale = out / ".data.h5.12345.deadbeef.tmp"
    stale.write_bytes(b"half a file")
    main([*args, "--resume"])
    assert not stale.exists()


def test_corrupt_checkpoint_is_refused_with_a_named_error(tmp_path, data_file, tiny_config,
                                                          capsys):
    out = tmp_path / "run"
    args = ["--data", str(data_file), "--config", str(tiny_config), "--out", str(out), "--quiet",
            "--no-report"]
    main(args)
    for content in (b"", b"\x00garbage", (out / "config.json").read_bytes()):
        (out / "checkpoint.msgpack").write_bytes(content)
        capsys.readouterr()
        code = main([*args, "--resume"])
        err = capsys.readouterr().err
        assert code == 2 and "not a readable checkpoint" in err and "Traceback" not in err


def test_time_must_increase_and_values_fit_float32(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4))
    t = np.arange(30.0)
    t[10] = t[9]
    with pytest.raises(DatasetError, match=r"t: must increase strictly \(t\[10\]"):
        eae_sindy.fit(x, t, x, config=TINY, progress=False)
    path = tmp_path / "bad_t.h5"
    with h5py.File(path, "w") as f:
        f["x"], f["dx"], f["t"] = x.astype(np.float32), x.astype(np.float32), t
    with pytest.raises(DatasetError, match=r"bad_t.h5: dataset 't': must increase strictly"):
        read_dataset(path)
    huge = x.copy()
    huge[3, 1] = 1e39
    with pytest.raises(DatasetError, match="float32 range"):
        eae_sindy.fit(huge, x_dot=x, config=TINY, progress=False)
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f["x"], f["dx"] = huge, x
    with pytest.raises(DatasetError, match=r"huge.h5: dataset 'x': values beyond the float32"):
        read_dataset(path)
    with pytest.raises(DatasetError, match="every snapshot is the same"):
        eae_sindy.fit(np.ones((100, 4)), x_dot=np.zeros((100, 4)), config=TINY, progress=False)


def test_run_files_are_strict_json(tmp_path, data_file):
    data = read_dataset(data_file)
    found = eae_sindy.fit(data.x, data.t, np.zeros_like(data.dx), config=TINY, progress=False)
    found.report(tmp_path / "run")
    for name in ("summary.json", "config.json", "analysis.json"):
        _strict_json(tmp_path / "run" / name)
    assert analysis.rundir.LEARNED_MAX_RELATIVE_MSE == 0.5


WRITERS = (
    "simulators.atomic_files",
    "analysis.rundir",
    "analysis.report",
    "simulators.lambda_omega",
)


def _fail_at(monkeypatch, target: str | None, seen: list[str]):
    """Every atomic write records its file name; the first write of ``target`` fails with a full
    disk *after* its content was written (the rename never happens)."""
    import contextlib
    import importlib

    from simulators.atomic_files import atomic_output as real

    @contextlib.contextmanager
    def atomic_output(path, **kwargs):
        name = Path(path).name
        seen.append(name)
        with real(path, **kwargs) as tmp:
            yield tmp
            if name == target and seen.count(name) == 1:
                raise OSError(errno.ENOSPC, f"No space left on device: {name}")

    for module in WRITERS:
        monkeypatch.setattr(importlib.import_module(module), "atomic_output", atomic_output)


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("config.json", 5),  # claiming the run directory
        ("data.h5", 5),  # the simulated data set
        ("checkpoint.msgpack", 5),
        ("summary.json", 5),
        ("traces.png", 6),  # a report figure
    ],
)
def test_a_full_disk_at_each_write_site(tmp_path, tiny_config, capsys, monkeypatch, target, code):
    out = tmp_path / "run"
    seen: list[str] = []
    _fail_at(monkeypatch, target, seen)
    result = main(["--config", str(tiny_config), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert result == code, err
    assert "No space left on device" in err and "Traceback" not in err
    assert target in seen
    if out.exists():
        assert not list(out.rglob(".*.tmp")), "a partial file was left behind"
        assert not (out / target).exists() or target == "config.json"
