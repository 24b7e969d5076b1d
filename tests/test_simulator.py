"""Tests of the lambda-omega simulator (exact solutions, convergence) and its HDF5 files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

import simulators
from simulators import (
    DatasetError,
    SimulationError,
    gaussian_mask,
    generate_dataset,
    grid,
    iter_snapshots,
    read_dataset,
    simulate,
    spiral_initial_condition,
    write_hdf5,
)
from simulators import lambda_omega as lo

REPO = Path(__file__).resolve().parents[1]


def _const(n, value):
    return np.full((n, n), float(value))


# --------------------------------------------------------------------------------------------
# Exact solutions
# --------------------------------------------------------------------------------------------
def test_homogeneous_unit_circle_rotates_with_period_2pi_over_beta():
    beta, n, dt = 1.3, 8, 0.05
    period = 2 * np.pi / beta
    n_snap = int(3 * period / dt) + 1
    res = simulate(_const(n, 1.0), _const(n, 0.0), L=20.0, beta=beta, dt=dt, n_snapshots=n_snap)
    w = res.u + 1j * res.v
    assert np.abs(w - w[:, :1, :1]).max() < 1e-12  # stays homogeneous
    assert np.abs(np.abs(w) - 1).max() < 1e-6  # stays on r = 1 (ETDRK4 error ~4e-8)
    phase = np.unwrap(np.angle(w[:, 0, 0]))
    slope = np.polyfit(res.t, phase, 1)[0]
    assert slope < 0  # u + iv = e^{-i beta t}: clockwise (v goes negative first)
    assert abs(2 * np.pi / abs(slope) - period) / period < 1e-4
    np.testing.assert_allclose(w[:, 3, 5], np.exp(-1j * beta * res.t), atol=1e-6)
    # u_t, v_t from the right-hand side: d/dt e^{-i beta t} = -i beta w.
    np.testing.assert_allclose(res.u_t + 1j * res.v_t, -1j * beta * w, atol=1e-6)


def test_homogeneous_state_relaxes_to_unit_circle_like_the_exact_ode():
    n, r0, phi0 = 8, 0.3, 0.7
    res = simulate(
        _const(n, r0 * np.cos(phi0)), _const(n, r0 * np.sin(phi0)), L=20.0, dt=0.1, n_snapshots=80
    )
    r2 = res.u[:, 2, 3] ** 2 + res.v[:, 2, 3] ** 2
    exact = 1.0 / (1.0 + (1.0 / r0**2 - 1.0) * np.exp(-2.0 * res.t))
    np.testing.assert_allclose(r2, exact, rtol=1e-6, atol=0)  # ETDRK4 error ~8e-8
    assert r2[-1] > 0.9999
    # the phase follows theta' = -beta r^2, i.e. theta = phi0 - (t + 0.5 log(r0^2 / r^2))
    theta_exact = phi0 - (res.t + 0.5 * np.log(r0**2 / exact))
    theta = np.unwrap(np.arctan2(res.v[:, 0, 0], res.u[:, 0, 0]))
    np.testing.assert_allclose(theta, theta_exact, atol=1e-6)


@pytest.mark.parametrize(("mode", "substeps", "tol"), [((2, 1), None, 1e-6), ((-1, 3), 4, 1e-7)])
def test_plane_wave_is_exact_travelling_solution(mode, substeps, tol):
    # u + iv = a exp(i (k.x - beta a^2 t)), a^2 = 1 - d |k|^2 (substitute into
    # w_t = (1 - (1 + i beta)|w|^2) w + d lap w: real parts cancel, imaginary gives -beta a^2).
    n, L, d, beta, dt = 32, 20.0, 0.1, 1.0, 0.05
    _, X, Y = grid(n, L)
    kx, ky = (2 * np.pi / L * m for m in mode)
    a = np.sqrt(1 - d * (kx**2 + ky**2))
    omega = beta * a**2
    n_snap = int(np.ceil(10 * 2 * np.pi / omega / dt)) + 1  # 10 periods
    w0 = a * np.exp(1j * (kx * X + ky * Y))
    res = simulate(
        w0.real, w0.imag, L=L, d1=d, d2=d, beta=beta, dt=dt, n_snapshots=n_snap, substeps=substeps
    )
    assert res.t[-1] >= 10 * 2 * np.pi / omega
    phase = np.exp(-1j * omega * res.t)[:, None, None]
    exact = w0[None] * phase
    err = np.abs(res.u + 1j * res.v - exact).max()
    assert err < tol, err  # measured: 8.9e-7 with the default 2 substeps, ~6e-8 with 4
    np.testing.assert_allclose(res.u_t + 1j * res.v_t, -1j * omega * exact, atol=tol)
    # the opposite rotation direction is far off (the sign convention is really tested)
    j = np.argmin(np.abs(omega * res.t - 2.5 * np.pi))  # where e^{+i omega t} = -e^{-i omega t}
    assert np.abs(res.u[j] + 1j * res.v[j] - w0 * np.exp(1j * omega * res.t[j])).max() > 1.8


def test_time_stepper_converges_at_fourth_order():
    n, L, T = 32, 20.0, 1.0
    u0, v0 = spiral_initial_condition(n, L)

    def final(substeps):
        r = simulate(u0, v0, L=L, dt=T, n_snapshots=2, substeps=substeps)
        return np.stack([r.u[-1], r.v[-1]])

    reference = final(160)
    hs = np.array([T / 10, T / 20, T / 40])
    errors = np.array([np.abs(final(round(T / h)) - reference).max() for h in hs])
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert slope > 3.5, (slope, errors)
    assert errors[-1] < 1e-7


def test_long_run_stays_bounded_no_invisible_spectral_growth():
    # Regression: the anti-Hermitian part of the kx = 0 / Nyquist rfft2 columns is invisible to
    # irfft2; without the projection in LambdaOmegaSpectral.step it grew like e^t from round-off
    # and blew up every run near t = 80 (for any n and substep).
    u0, v0 = spiral_initial_condition(16, 20.0)
    r = simulate(u0, v0, L=20.0, dt=0.5, n_snapshots=241, substeps=10)  # t up to 120
    assert np.isfinite(r.u).all() and np.sqrt(r.u**2 + r.v**2).max() < 1.05


def test_step_keeps_spectral_state_hermitian():
    from simulators.spectral import LambdaOmegaSpectral

    n = 12
    s = LambdaOmegaSpectral(n, 20.0, 0.1, 0.1, 1.0, 0.05)
    w_hat = s.to_spectral(np.stack(spiral_initial_condition(n, 20.0)))
    w_hat[:, 1, 0] += 1e-3j  # an anti-Hermitian (invisible) perturbation of the kx = 0 column
    w_hat[:, -1, 0] += 1e-3j
    out = s.step(w_hat)
    np.testing.assert_allclose(out, s.to_spectral(s.to_physical(out)), atol=1e-12)


@pytest.mark.parametrize("d2", [0.1, 0.05])
def test_dx_matches_centred_difference_of_x_to_second_order(d2):
    n, L = 24, 20.0
    u0, v0 = spiral_initial_condition(n, L)
    f = gaussian_mask(n, L)
    T = 0.4
    errs = []
    for dt in (0.04, 0.02):
        r = simulate(u0, v0, L=L, d2=d2, dt=dt, n_snapshots=round(T / dt) + 1, substeps=4)
        x, dx = f * r.u, f * r.u_t
        fd = (x[2:] - x[:-2]) / (2 * dt)
        # compare at the common times t = 0.2 +- 0.16 (every snapshot of the coarse run)
        idx = np.searchsorted(r.t, [0.08, 0.16, 0.24, 0.32])
        errs.append(np.abs(fd[idx - 1] - dx[idx]).max())
        assert errs[-1] < 5e-3 * np.abs(dx).max()
    ratio = errs[0] / errs[1]
    assert 3.5 < ratio < 4.5, (ratio, errs)


# --------------------------------------------------------------------------------------------
# Simulation API
# --------------------------------------------------------------------------------------------
def test_spiral_initial_condition_and_snapshot_zero():
    n, L = 10, 20.0
    u0, v0 = spiral_initial_condition(n, L, m=2)
    x, X, Y = grid(n, L)
    assert x[0] == -10.0 and np.isclose(x[1] - x[0], 2.0) and x[-1] < 10.0
    rho, th = np.hypot(X[3, 7], Y[3, 7]), np.arctan2(Y[3, 7], X[3, 7])
    assert np.isclose(u0[3, 7], np.tanh(rho) * np.cos(2 * th - rho))
    assert np.isclose(v0[3, 7], np.tanh(rho) * np.sin(2 * th - rho))
    u0, v0 = spiral_initial_condition(n, L)
    r = simulate(u0, v0, L=L, dt=0.1, n_snapshots=3)
    np.testing.assert_allclose(r.u[0], u0, atol=1e-14)
    np.testing.assert_allclose(r.v[0], v0, atol=1e-14)
    np.testing.assert_array_equal(r.t, [0.0, 0.1, 0.2])
    assert r.u.shape == r.u_t.shape == (3, n, n) and r["v_t"].shape == (3, n, n)
    assert r.params["substeps"] == 4  # dt / 0.025


def test_iter_snapshots_chunks_match_simulate_and_callback():
    n, L = 12, 20.0
    u0, v0 = spiral_initial_condition(n, L)
    calls = []
    record = calls.append
    chunks = list(
        iter_snapshots(u0, v0, L=L, n_snapshots=11, chunk_size=4, callback=lambda *a: record(a))
    )
    assert [c.start for c in chunks] == [0, 4, 8] and [len(c.t) for c in chunks] == [4, 4, 3]
    assert calls[-1] == (11, 11) and len(calls) == 11
    r = simulate(u0, v0, L=L, n_snapshots=11)
    np.testing.assert_array_equal(np.concatenate([c.u_t for c in chunks]), r.u_t)


def test_invalid_arguments_and_blow_up():
    u0, v0 = spiral_initial_condition(8, 20.0)
    with pytest.raises(ValueError, match="square"):
        simulate(u0[:, :4], v0[:, :4], L=20.0, n_snapshots=2)
    with pytest.raises(ValueError, match="dt"):
        simulate(u0, v0, L=20.0, dt=-1.0, n_snapshots=2)
    with pytest.raises(ValueError, match="d1"):
        simulate(u0, v0, L=20.0, d1=-0.1, n_snapshots=2)
    with pytest.raises(ValueError, match="n_snapshots"):
        simulate(u0, v0, L=20.0, n_snapshots=0)
    with pytest.raises(SimulationError, match="non-finite"):
        simulate(_const(8, 1e4), _const(8, 0.0), L=20.0, n_snapshots=50)


# --------------------------------------------------------------------------------------------
# HDF5 files
# --------------------------------------------------------------------------------------------
def test_hdf5_round_trip_and_schema(tmp_path):
    n, L, n_snap = 16, 12.0, 30
    physics = dict(L=L, dt=0.1, d1=0.12, d2=0.08, beta=0.9)
    path = generate_dataset(
        tmp_path / "d.h5",
        n=n,
        n_snapshots=n_snap,
        **physics,
        progress=False,
        store_uv=True,
        compression="gzip",
        chunk_size=7,
    )
    ds = read_dataset(path)
    r = simulate(*spiral_initial_condition(n, L), **physics, n_snapshots=n_snap)
    f = gaussian_mask(n, L)
    assert ds.x.dtype == ds.dx.dtype == np.float32 and ds.x.shape == (n_snap, n * n)
    np.testing.assert_array_equal(ds.x, (f * r.u).reshape(n_snap, -1).astype(np.float32))
    np.testing.assert_array_equal(ds.dx, (f * r.u_t).reshape(n_snap, -1).astype(np.float32))
    np.testing.assert_array_equal(ds.t, r.t)
    assert ds.grid_shape == (n, n) and ds.path == Path(path)
    np.testing.assert_array_equal(ds.mask, f)
    np.testing.assert_array_equal(ds.grid_x, grid(n, L)[0])
    a = ds.attrs
    expected = dict(
        n=n,
        n_snapshots=n_snap,
        **physics,
        seed=0,
        noise_std=0.0,
        mask=True,
        schema_version=1,
        complete=True,
        substeps=4,
    )
    assert {k: a[k] for k in expected} == expected
    from eae_sindy import __version__

    assert a["package_version"] == __version__ and a["grid_shape"] == [n, n]
    with h5py.File(path) as h:
        assert h["x"].chunks == (7, n * n) and h["x"].compression == "gzip"
        np.testing.assert_array_equal(h["u"][()], r.u.astype(np.float32))
        np.testing.assert_array_equal(h["v"][()], r.v.astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]  # no temp file left behind


def test_noise_is_reproducible_from_seed_and_independent_of_chunking(tmp_path):
    kw = dict(n=8, n_snapshots=25, noise_std=1e-3, progress=False)
    a = read_dataset(generate_dataset(tmp_path / "a.h5", seed=3, chunk_size=4, **kw))
    b = read_dataset(generate_dataset(tmp_path / "b.h5", seed=3, chunk_size=64, **kw))
    c = read_dataset(generate_dataset(tmp_path / "c.h5", seed=4, **kw))
    clean = read_dataset(generate_dataset(tmp_path / "d.h5", seed=3, **{**kw, "noise_std": 0.0}))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.dx, b.dx)
    assert not np.array_equal(a.x, c.x)
    noise = (a.x - clean.x).astype(np.float64)
    assert 0.8e-3 < noise.std() < 1.2e-3 and abs(noise.mean()) < 1e-4
    assert not np.allclose(a.x - clean.x, a.dx - clean.dx)  # independent streams
    assert a.attrs["seed"] == 3 and a.attrs["noise_std"] == 1e-3
    # the in-memory writer gives the same file contents for the same parameters
    r = simulate(*spiral_initial_condition(8, 20.0), L=20.0, n_snapshots=25)
    write_hdf5(tmp_path / "w.h5", r, params={"seed": 3, "noise_std": 1e-3})
    w = read_dataset(tmp_path / "w.h5")
    np.testing.assert_array_equal(w.x, a.x)
    np.testing.assert_array_equal(w.dx, a.dx)
    assert w.attrs["seed"] == 3 and w.attrs["n"] == 8
    # no mask: x is u itself
    nm = read_dataset(
        generate_dataset(tmp_path / "nm.h5", n=8, n_snapshots=3, mask=False, progress=False)
    )
    np.testing.assert_array_equal(nm.x, r.u[:3].reshape(3, -1).astype(np.float32))
    assert nm.mask is None and nm.attrs["mask"] is False


def test_writer_holds_one_chunk_at_a_time(tmp_path, monkeypatch):
    rows = []
    original = lo.HDF5Writer.write

    def spy(self, start, t, *args, **kwargs):
        rows.append(len(t))
        return original(self, start, t, *args, **kwargs)

    monkeypatch.setattr(lo.HDF5Writer, "write", spy)

    def peak(n_snap):
        tracemalloc.start()
        generate_dataset(
            tmp_path / f"m{n_snap}.h5",
            n=32,
            n_snapshots=n_snap,
            chunk_size=5,
            progress=False,
            substeps=1,
        )
        _, p = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return p

    small, large = peak(40), peak(400)
    assert max(rows) == 5 and sum(rows) == 440
    # 400 snapshots of x + dx would be 400 * 2 * 4 KiB = 3.2 MB; the peak must not grow with it
    assert large < 1.3 * small + 200_000, (small, large)


def test_generate_refuses_to_overwrite_and_force(tmp_path):
    path = tmp_path / "d.h5"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="exists"):
        generate_dataset(path, n=8, n_snapshots=2, progress=False)
    assert path.read_text() == "precious"
    generate_dataset(path, n=8, n_snapshots=2, progress=False, force=True)
    assert read_dataset(path).x.shape == (2, 64)


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    real = lo.iter_snapshots

    def interrupted(*args, **kwargs):
        gen = real(*args, **kwargs)
        yield next(gen)
        raise KeyboardInterrupt

    monkeypatch.setattr(lo, "iter_snapshots", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path / "d.h5", n=8, n_snapshots=20, chunk_size=4, progress=False)
    assert list(tmp_path.iterdir()) == []
    # the CLI reports the interruption with exit code 130 and also leaves nothing behind
    code = lo.main(["--out", str(tmp_path / "e.h5"), "--n", "8", "--snapshots", "20", "--quiet"])
    assert code == 130 and list(tmp_path.iterdir()) == []


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "simulators.lambda_omega", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_cli_writes_refuses_overwrite_and_forces(tmp_path):
    out = tmp_path / "cli.h5"
    args = [
        "--out",
        str(out),
        "--n",
        "8",
        "--snapshots",
        "6",
        "--dt",
        "0.1",
        "--seed",
        "2",
        "--noise",
        "1e-6",
        "--no-mask",
        "--beta",
        "0.5",
        "--quiet",
    ]
    p = _cli(*args, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    ds = read_dataset(out)
    assert ds.x.shape == (6, 64) and ds.attrs["beta"] == 0.5 and ds.attrs["mask"] is False
    before = out.read_bytes()
    p = _cli(*args, cwd=tmp_path)
    assert p.returncode == 2 and "already exists" in p.stderr and "--force" in p.stderr
    assert "Traceback" not in p.stderr and out.read_bytes() == before
    p = _cli(*args[:-1], "--snapshots", "4", "--force", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "%" in p.stderr  # tqdm progress bar
    assert read_dataset(out).x.shape == (4, 64)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["cli.h5"]


def _sigint_as_from_a_terminal() -> None:
    """The child starts with SIGINT at its default disposition and unblocked, as a command run
    from a terminal does: a disposition or mask left in this test process by an earlier test's
    library would otherwise be inherited through exec (Ctrl-C then never reaches the CLI)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_cli_sigint_removes_temporary_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "big.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.lambda_omega", "--out", str(out), "--n", "64",
         "--snapshots", "100000", "--quiet"],
        stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_sigint_as_from_a_terminal,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".big.h5.*.tmp")):  # wait until the run has started
            assert proc.poll() is None and time.monotonic() < deadline, "CLI did not start"
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_parameter_is_a_clean_error(tmp_path, capsys):
    code = lo.main(["--out", str(tmp_path / "x.h5"), "--n", "8", "--dt", "-1", "--quiet"])
    assert code == 2 and "dt" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Reading user files and bad files
# --------------------------------------------------------------------------------------------
def _h5(path, **datasets):
    attrs = datasets.pop("attrs", {})
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
        f.attrs.update(attrs)
    return path


GOOD = np.ones((5, 4), np.float32)


def test_minimal_user_file_with_t(tmp_path):
    p = _h5(tmp_path / "m.h5", x=np.arange(20.0).reshape(5, 4), dx=GOOD, t=np.linspace(0, 1, 5))
    ds = read_dataset(p)
    assert ds.x.dtype == np.float32 and ds.x[1, 0] == 4.0
    assert ds.grid_shape == (4,) and ds.mask is None and ds.t[-1] == 1.0 and ds.n_snapshots == 5


def test_minimal_user_file_without_t_warns(tmp_path):
    p = _h5(tmp_path / "a.h5", x=GOOD, dx=GOOD, attrs={"dt": 0.5, "grid_shape": [2, 2]})
    with pytest.warns(UserWarning, match="no dataset 't'.*0.5"):
        ds = read_dataset(p)
    np.testing.assert_array_equal(ds.t, [0, 0.5, 1, 1.5, 2])
    assert ds.grid_shape == (2, 2)
    p = _h5(tmp_path / "b.h5", x=GOOD, dx=GOOD)
    with pytest.warns(UserWarning, match="assumed 1.0"):
        np.testing.assert_array_equal(read_dataset(p).t, np.arange(5.0))


def _bad_cases():
    nan = GOOD.copy()
    nan[3, 1] = np.nan
    inf = GOOD.copy()
    inf[0, 0] = np.inf
    return {
        "missing_x": ({"dx": GOOD}, "missing dataset 'x'"),
        "split_trajectory": (
            {"x": GOOD, "trajectory": np.array([0, 0, 1, 1, 0])},
            "trajectory ids must form contiguous blocks",
        ),
        "shape_mismatch": ({"x": GOOD, "dx": GOOD[:, :3]}, "'dx': shape .* does not match"),
        "nan_x": ({"x": nan, "dx": GOOD}, "'x': contains non-finite values .*row 3"),
        "inf_dx": ({"x": GOOD, "dx": inf}, "'dx': contains non-finite"),
        "bool_dtype": ({"x": GOOD > 0, "dx": GOOD}, "'x': dtype bool is boolean"),
        "complex": ({"x": GOOD, "dx": GOOD.astype(np.complex64)}, "'dx': dtype complex64"),
        "rank1": ({"x": GOOD[0], "dx": GOOD[0]}, "'x': must be 2-D"),
        "rank3": ({"x": GOOD[None], "dx": GOOD[None]}, "'x': must be 2-D"),
        "schema": ({"x": GOOD, "dx": GOOD, "attrs": {"schema_version": 2}}, "'schema_version'"),
        "incomplete": ({"x": GOOD, "dx": GOOD, "attrs": {"complete": False}}, "'complete'"),
        "t_len": ({"x": GOOD, "dx": GOOD, "t": np.arange(4.0)}, "'t': shape"),
        "grid": (
            {"x": GOOD, "dx": GOOD, "t": np.arange(5.0), "attrs": {"grid_shape": [3]}},
            "'grid_shape'",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_bad_files_raise_dataset_error_naming_file_and_problem(tmp_path, case):
    content, pattern = _bad_cases()[case]
    path = _h5(tmp_path / f"{case}.h5", **content)
    with pytest.raises(DatasetError, match=pattern) as info:
        read_dataset(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DatasetError, match="nope.h5: file not found"):
        read_dataset(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("x,dx\n1,2\n")
    with pytest.raises(DatasetError, match="text.h5: not an HDF5 file"):
        read_dataset(text)
    with pytest.raises(DatasetError, match="not a regular file"):
        read_dataset(tmp_path)


def test_public_names_are_exported():
    for name in simulators.__all__:
        assert getattr(simulators, name) is not None
    assert lo.read_dataset is read_dataset and lo.DatasetError is DatasetError


@pytest.mark.slow
def test_reference_size_long_run_accuracy():
    """n = 100 spiral to t = 50: default substeps vs a 4x finer run (about 1 minute)."""
    n, L = 100, 20.0
    u0, v0 = spiral_initial_condition(n, L)
    coarse = simulate(u0, v0, L=L, dt=50.0, n_snapshots=2, substeps=2000)
    fine = simulate(u0, v0, L=L, dt=50.0, n_snapshots=2, substeps=8000)
    assert np.abs(coarse.u[-1] - fine.u[-1]).max() < 2e-6
