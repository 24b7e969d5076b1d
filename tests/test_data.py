"""Users' data (``eae_sindy.data``): derivatives estimated from x and t (uniform or not, with
noise), the noise estimate, several trajectories through ``fit`` (split by whole trajectories,
windows and the data's period within one), and the data's period on non-uniform times."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.signal import savgol_coeffs

import eae_sindy
from analysis.dynamics import signal_period
from analysis.timeseries import on_uniform_grid
from eae_sindy.data import as_trajectories, estimate_derivatives, noise_level
from eae_sindy.discover import main
from eae_sindy.planning import split_indices
from simulators import DatasetError
from simulators.lambda_omega import read_dataset
from tests.tiny import TINY, write_tiny_data

OMEGA = 2.0


def _signal(t):
    """Two smooth features and their exact derivatives."""
    x = np.stack([np.sin(OMEGA * t), np.cos(t) + 0.5 * np.sin(3 * t)], axis=1)
    dx = np.stack([OMEGA * np.cos(OMEGA * t), -np.sin(t) + 1.5 * np.cos(3 * t)], axis=1)
    return x, dx


def _relative_error(estimate, exact, trim=10):
    """RMS error relative to the RMS of the exact derivative, ``trim`` snapshots away from the
    ends."""
    inner = slice(trim, len(exact) - trim)
    return float(np.sqrt(np.mean((estimate[inner] - exact[inner]) ** 2) / np.mean(exact**2)))


@pytest.mark.parametrize("method", ["smoothed_finite_difference", "finite_difference"])
def test_derivatives_of_smooth_data_uniform_and_not(method):
    t = np.arange(1500) * 0.01
    x, dx = _signal(t)
    assert _relative_error(estimate_derivatives(x, t, method), dx) < 1e-3
    # 60 % of the frames kept at random, with their true times
    kept = np.sort(np.random.default_rng(0).choice(len(t), 900, replace=False))
    t_kept = t[kept]
    x_kept, dx_kept = _signal(t_kept)
    assert _relative_error(estimate_derivatives(x_kept, t_kept, method), dx_kept) < 1e-2


def test_smoothing_beats_plain_differences_on_noisy_data():
    t = np.arange(2000) * 0.01
    x, dx = _signal(t)
    noisy = x + 0.01 * np.random.default_rng(1).normal(size=x.shape)
    smoothed = _relative_error(estimate_derivatives(noisy, t), dx)
    plain = _relative_error(estimate_derivatives(noisy, t, "finite_difference"), dx)
    # white noise σ = 0.01 at dt = 0.01 dominates both errors (plain: σ/dt·√½ ≈ 0.7 of the
    # RMS derivative); the smoothing scales it by the norm of the composed filters, 0.27
    central = np.array([0.5, 0.0, -0.5])
    theory = np.linalg.norm(np.convolve(savgol_coeffs(11, 3), central)) / np.linalg.norm(central)
    assert plain > 0.3
    assert smoothed / plain == pytest.approx(theory, rel=0.1)  # 4000 values: ~2 % scatter


def test_noise_level_reads_white_noise():
    t = np.arange(4000) * 0.01
    x, _ = _signal(t)
    sigma = 0.02
    noisy = x + sigma * np.random.default_rng(2).normal(size=x.shape)
    rms = float(np.sqrt(np.mean((x - x.mean(axis=0)) ** 2)))
    # 8000 residuals: the estimate's relative error is ~1/sqrt(2·8000) ≈ 1 %; 5 % is 5 sigma
    assert noise_level(noisy, t) * rms == pytest.approx(sigma, rel=0.05)
    assert noise_level(x, t) < 1e-4


def test_trajectories_as_lists_arrays_and_steps():
    t = np.arange(300) * 0.05
    x, dx = _signal(t)
    ragged = as_trajectories([x[:120], x[120:]], [t[:120], t[:180]])
    assert ragged.n_trajectories == 2 and ragged.derivatives == "smoothed_finite_difference"
    np.testing.assert_array_equal(ragged.trajectory, np.repeat([0, 1], [120, 180]))
    assert ragged.t[120] == 0.0  # the time axis restarts with each trajectory
    # the derivative never crosses the join: each part matches its own exact derivative
    # (ends included: a derivative across the join would be off by O(1) there)
    assert _relative_error(ragged.dx[:120], dx[:120], trim=1) < 2e-2
    assert _relative_error(ragged.dx[120:], dx[120:], trim=1) < 2e-2
    stacked = as_trajectories(np.stack([x[:150], x[150:]]), 0.05, np.stack([dx[:150], dx[150:]]))
    assert stacked.derivatives == "given" and stacked.noise is None
    np.testing.assert_allclose(stacked.t[150:], t[:150])
    shared = as_trajectories([x[:150], x[150:]], t[:150])
    np.testing.assert_array_equal(shared.t, np.concatenate([t[:150], t[:150]]))
    with pytest.raises(DatasetError, match=r"t: 1 time array\(s\) for 2 trajectories"):
        as_trajectories([x[:100], x[100:]], t[:100])
    with pytest.raises(DatasetError, match=r"x_dot\[1\]: shape"):
        as_trajectories([x[:100], x[100:]], 0.05, [dx[:100], dx[101:]])
    with pytest.raises(DatasetError, match="different numbers of features"):
        as_trajectories([x, x[:, :1]], 0.05)
    with pytest.raises(DatasetError, match="at least 3"):
        as_trajectories([x, x[:2]], 0.05)


def test_split_by_whole_trajectories():
    lengths = [60, 40, 50, 30, 20]
    trajectory = np.repeat(np.arange(5), lengths)
    split = split_indices(200, 100, 20, 0.2, seed=0, trajectory=trajectory)
    # the last whole trajectories holding ≥ 20 % of the snapshots: 30 + 20 = 50
    np.testing.assert_array_equal(split["test"], np.arange(150, 200))
    np.testing.assert_array_equal(split["eval"], np.arange(150, 180))  # the first test one
    used = np.concatenate([split["train"], split["val"]])
    assert used.max() < 150 and len(np.unique(used)) == len(used) == 120
    one = split_indices(200, 100, 20, 0.2, seed=0)
    np.testing.assert_array_equal(one["eval"], one["test"])


def test_period_of_a_signal_at_non_uniform_times():
    rng = np.random.default_rng(3)
    t = np.sort(rng.choice(np.arange(4000) * 0.05, 2400, replace=False))
    signal = np.stack([np.sin(2 * np.pi * t / 6.84), np.cos(2 * np.pi * t / 6.84)], axis=1)
    assert not np.isclose(signal_period(signal, float(np.median(np.diff(t)))), 6.84, rtol=0.05)
    on_grid, step = on_uniform_grid(t, signal, None)
    assert signal_period(on_grid, step) == pytest.approx(6.84, rel=0.01)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return read_dataset(write_tiny_data(tmp_path_factory.mktemp("data") / "data.h5"))


def test_fit_on_several_trajectories_without_derivatives(tiny):
    """The tiny data cut into 4 trajectories (times restarting at 0), ẋ left out."""
    cuts = [0, 60, 110, 160, 200]
    xs = [tiny.x[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    ts = [tiny.t[a:b] - tiny.t[a] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    found = eae_sindy.fit(xs, ts, config=TINY, progress=False)
    record = found.summary["training"]["data"]
    assert record["derivatives"] == "smoothed_finite_difference"
    assert record["trajectory_lengths"] == [60, 50, 50, 40] and record["test_trajectories"] == [3]
    assert record["noise"] is not None and record["noise"] < 0.05  # simulated without noise
    # the integration window and the data's signal lie in one trajectory: time increases
    assert np.all(np.diff(found.run.t) > 0) and np.all(np.diff(found.run.t_data_signal) > 0)
    assert np.isfinite(found.xi).all()
    # derivatives estimated close to the simulator's exact ones
    assert _relative_error(found_dx(xs, ts), tiny.dx, trim=5) < 0.05


def found_dx(xs, ts):
    return as_trajectories(xs, ts).dx


def test_cli_on_a_file_with_x_and_t_only_in_two_trajectories(tiny, tmp_path):
    """``discover --data`` on the layout of docs/data_format.md: x, t restarting at 0 and the
    trajectory ids; no dx."""
    path = tmp_path / "mine.h5"
    with h5py.File(path, "w") as f:
        f["x"] = tiny.x
        f["t"] = np.concatenate([tiny.t[:120], tiny.t[120:] - tiny.t[120]])
        f["trajectory"] = np.repeat([0, 1], [120, 80])
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY.to_dict()))
    out = tmp_path / "run"
    code = main(["--data", str(path), "--config", str(config), "--out", str(out), "--quiet",
                 "--no-report"])
    assert code in (0, 4)  # 4: a tiny budget may not learn the data; the run is written
    record = json.loads((out / "summary.json").read_text())["training"]["data"]
    assert record["derivatives"] == "smoothed_finite_difference"
    assert record["trajectory_lengths"] == [120, 80] and record["test_trajectories"] == [1]
    stored = json.loads((out / "config.json").read_text())
    assert stored["data"]["differentiation"] == "smoothed_finite_difference"
