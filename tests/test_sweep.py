"""Tests of the temperature sweep (``eae_sindy.sweep``, ``analysis.sweep``): its configuration,
the rule that picks a temperature, and a 2-temperature ``discover`` run on the tiny data set."""

import json

import numpy as np
import pytest
from tiny import TINY, write_tiny_data

from analysis.sweep import choose_temperature
from eae_sindy.config import config_from_dict
from eae_sindy.discover import discover
from eae_sindy.discovery import run_record
from eae_sindy.errors import ConfigError

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

    with pytest.raises(ConfigError, match="cannot be resumed"):
        discover(config, out, data_path=data, resume=True, progress=False)
