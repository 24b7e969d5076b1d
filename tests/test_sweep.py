"""Tests of the temperature sweep (``eae_sindy.sweep``, ``analysis.sweep``): its configuration,
the rule that picks a temperature, a 2-temperature ``discover`` run on the tiny data set, and
checkpoints and ``--resume`` of an interrupted sweep."""

import json
import shutil

import flax.serialization
import h5py
import jax
import numpy as np
import pytest
from tiny import TINY, interrupting, write_tiny_data

import eae_sindy.sweep as sweep_module
from analysis.sweep import choose_temperature
from eae_sindy.config import config_from_dict
from eae_sindy.discover import discover, main
from eae_sindy.errors import ConfigError
from eae_sindy.planning import run_record

TEMPERATURES = (1e-4, 1e-3)


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"temperatures": [1e-4]}, "sweep.temperatures must hold at least 2"),
        ({"temperatures": [1e-4, 1e-4]}, "sweep.temperatures must be distinct"),
        ({"temperatures": [1e-4, -1.0]}, r"sweep.temperatures\[1\] must be positive"),
        ({"temperatures": [1e-4, float("nan")]}, r"sweep.temperatures\[1\] must be a finite"),
        ({"temperatures": 1e-4}, "sweep.temperatures must be a list"),
        ({"temperatures": [1e-4, 1e-3], "anneal_factor": 0.5}, "sweep.anneal_factor must be >= 1"),
        ({"anneal_factor": 2.0}, "sweep.anneal_factor needs sweep.temperatures"),
        ({"temperature": [1e-4, 1e-3]}, "unknown key.*sweep.temperature"),
    ],
)
def test_sweep_config_validation(sweep, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"sweep": sweep}, base=TINY)


def test_no_sweep_keeps_the_single_run_record():
    assert not TINY.sweep.enabled
    assert "sweep" not in run_record(TINY)
    swept = config_from_dict({"sweep": {"temperatures": [1e-4, 1e-3]}}, base=TINY)
    assert swept.sweep.temperatures == TEMPERATURES
    assert run_record(swept)["sweep"] == {"temperatures": TEMPERATURES, "anneal_factor": None}


def _row(temperature, within, learned=True):
    dynamics = {"period_within_tolerance": within}
    return {"temperature": temperature, "learned": learned, "sparse_dynamics": dynamics}


def test_rule_picks_the_highest_sufficient_temperature():
    rows = [_row(1e-5, 1.0), _row(1e-4, 0.95), _row(1e-3, 0.5), _row(1e-2, 0.99, learned=False)]
    assert choose_temperature(rows)[0] == 1e-4
    none = [_row(1e-3, 0.2), _row(1e-4, 0.89), _row(1e-2, None)]
    chosen, reason = choose_temperature(none)
    assert chosen == 1e-4 and "lowest" in reason


@pytest.mark.slow  # trains and reports two rungs of the tiny run: ~40 s on two cores
def test_sweep_writes_a_run_directory_per_temperature(tmp_path):
    """Two rungs (one annealed schedule) trained together; each rung is a complete run
    directory with its report, and sweep.json applies the rule to their analyses."""
    data = write_tiny_data(tmp_path / "tiny.h5")
    config = config_from_dict(
        {"sweep": {"temperatures": list(TEMPERATURES), "anneal_factor": 4.0}}, base=TINY
    )
    out = tmp_path / "sweep"
    found = discover(config, out, data_path=data, progress=False)
    assert [f.run.temperature for f in found] == list(TEMPERATURES)
    for rung, temperature in zip(found, TEMPERATURES, strict=True):
        directory = out / f"T_{temperature!r}"
        for name in ("summary.json", "ensemble.h5", "analysis.json", "config.json", "report.md"):
            assert (directory / name).is_file(), (directory, name)
        record = json.loads((directory / "config.json").read_text())
        assert record["sampler"]["temperature"] == temperature
        assert record["sweep"]["anneal_factor"] == 4.0
        assert rung.xi.shape[0] == TINY.train.num_chains * TINY.train.n_samples
        assert np.all(np.isfinite(rung.xi))
        assert len(rung.run.metrics["loss_mean"]) == TINY.train.outer_iterations
    # the rungs are different EAEs (own keys and decoders)
    assert not np.allclose(found[0].xi, found[1].xi)

    sweep = json.loads((out / "sweep.json").read_text())
    rows = sweep["rows"]
    assert [r["temperature"] for r in rows] == list(TEMPERATURES)
    for row in rows:
        assert row["x_relative_mse"] is not None and row["latent_spread"] is not None
        assert row["coefficient_std_median"] is not None and row["max_r_hat"] is not None
        assert row["sparse_dynamics"]["tolerance"] == 0.05
        assert row["top_sparse_structure"]["frequency"] > 0
    assert sweep["chosen_temperature"] == choose_temperature(rows)[0]
    assert sweep["chosen_run_dir"] == f"T_{sweep['chosen_temperature']!r}"
    text = (out / "sweep.md").read_text()
    assert "Chosen temperature" in text and "Rule:" in text
    # one checkpoint, the whole ladder's, in the sweep's directory
    assert (out / "checkpoint.msgpack").is_file()
    assert not list(out.glob("T_*/checkpoint.msgpack"))


# --------------------------------------------------------------------------------------------
# Checkpoints and --resume
# --------------------------------------------------------------------------------------------
# checkpoints every 2 outer iterations; interrupted after iteration 2 (3 completed: the periodic
# checkpoint is at 2, the one written on Ctrl-C at 3)
SWEPT = config_from_dict(
    {"sweep": {"temperatures": list(TEMPERATURES)}, "train": {"checkpoint_every": 2}}, base=TINY
)
RUNGS = [f"T_{temperature!r}" for temperature in TEMPERATURES]


@pytest.fixture(scope="module")
def sweep_data(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data") / "tiny.h5")


@pytest.fixture(scope="module")
def interrupted_sweep(tmp_path_factory, sweep_data):
    """A sweep directory whose training was interrupted (Ctrl-C) after outer iteration 2."""
    out = tmp_path_factory.mktemp("interrupted") / "sweep"
    real = sweep_module.run_ladder_training
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep_module, "run_ladder_training", interrupting(real, after_iteration=2))
        with pytest.raises(KeyboardInterrupt):
            discover(SWEPT, out, data_path=sweep_data, progress=False, report=False)
    return out


def _copy(directory, tmp_path):
    return shutil.copytree(directory, tmp_path / "sweep")


def test_resuming_a_sweep_with_another_config_is_refused(
    tmp_path, sweep_data, interrupted_sweep, capsys
):
    """A changed setting, or a checkpoint that is damaged or of another ladder, is refused with
    one line naming the directory or file and the problem; nothing is overwritten."""
    out = _copy(interrupted_sweep, tmp_path)
    checkpoint = out / "checkpoint.msgpack"
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    args = ["--data", sweep_data, "--out", str(out), "--resume", "--quiet", "--no-report"]
    args += ["--no-compilation-cache"]

    def refused(config, *extra):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config.to_dict()))
        code = main([*args, "--config", str(path), *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: ") and "\n" not in err, err
        return err

    hotter = config_from_dict({"sweep": {"temperatures": [1e-4, 1e-2]}}, base=SWEPT)
    assert f"{out} holds a different run (differs in: sweep)" in refused(hotter)
    assert "differs in: seed" in refused(SWEPT, "--seed", "7")
    longer = SWEPT.replace(train=SWEPT.train.replace(outer_iterations=6))
    assert "differs in: train" in refused(longer)
    assert "differs in: sweep" in refused(TINY)  # a single run's config on a sweep directory
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before

    # the same config, but a checkpoint of one rung only (another ladder) or a damaged one
    stored = flax.serialization.msgpack_restore(before[checkpoint])
    one_rung = jax.tree.map(lambda leaf: np.asarray(leaf)[:1], stored)
    checkpoint.write_bytes(flax.serialization.msgpack_serialize(one_rung))
    err = refused(SWEPT)
    assert f"{checkpoint}: a checkpoint of another run" in err and "shape (1," in err
    checkpoint.write_bytes(before[checkpoint][:100])
    assert f"{checkpoint}: not a readable checkpoint" in refused(SWEPT)


@pytest.mark.slow  # a second whole sweep (≈ 22 s); the single run's resume test covers the loop
def test_interrupted_sweep_resumes_to_the_uninterrupted_result(
    tmp_path, sweep_data, interrupted_sweep, capsys
):
    """The ladder's checkpoint holds every completed outer iteration; --resume continues from it
    to the result of an uninterrupted sweep with the same seed, bit for bit."""
    out = _copy(interrupted_sweep, tmp_path)
    assert (out / "checkpoint.msgpack").is_file() and not (out / "sweep.json").exists()
    for rung in RUNGS:
        assert not (out / rung / "ensemble.h5").exists()
        rows = (out / rung / "metrics.csv").read_text().strip().splitlines()
        assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]

    straight = discover(
        SWEPT, tmp_path / "straight", data_path=sweep_data, progress=False, report=False
    )
    capsys.readouterr()
    resumed = discover(SWEPT, out, data_path=sweep_data, resume=True, progress=False, report=False)
    assert f"resuming {out} from outer iteration 3" in capsys.readouterr().err
    assert [r.run.temperature for r in resumed] == list(TEMPERATURES)
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.xi, b.xi)
        for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for rung in RUNGS:
        with (
            h5py.File(tmp_path / "straight" / rung / "ensemble.h5") as a,
            h5py.File(out / rung / "ensemble.h5") as b,
        ):
            np.testing.assert_array_equal(a["z"][...], b["z"][...])
        rows = (out / rung / "metrics.csv").read_text().strip().splitlines()
        assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    sweep = json.loads((out / "sweep.json").read_text())
    assert [row["temperature"] for row in sweep["rows"]] == list(TEMPERATURES)
