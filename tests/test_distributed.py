"""Multi-process runs: two processes on this machine (CPU, one device each, gloo collectives)
joined by ``jax.distributed.initialize`` shard the chain axis of one EAE between them; each writes
only its shard and process 0 assembles the run, which must equal the single-process run with the
same seed and chains. The workers are ``tests/distributed_worker.py``; skipped when this JAX build
cannot run CPU processes together. ``test_discover_two_processes`` does the same through the
product: ``python -m eae_sindy.discover --coordinator ... --num-processes 2 --process-id I``."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from shard_files import assemble
from tiny import TINY, write_tiny_data

from eae_sindy.discover import main
from eae_sindy.distributed import add_arguments, initialize, initialize_from_args

ROOT = Path(__file__).resolve().parent.parent
WORKER = str(Path(__file__).resolve().parent / "distributed_worker.py")
NO_MULTIPROCESS = 3  # the worker's exit status when initialisation itself fails


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, env, log):
    return subprocess.Popen(
        [sys.executable, WORKER, *args], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )


def test_two_processes_equal_one(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    # one CPU device per process
    env.pop("XLA_FLAGS", None)
    port = _free_port()
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("ref", "p0", "p1")}
    procs = {
        "ref": _start(["reference", str(tmp_path / "ref.npz")], env, logs["ref"]),
        **{
            f"p{i}": _start(
                ["shard", str(tmp_path / "run.npz"), f"127.0.0.1:{port}", "2", str(i)],
                env,
                logs[f"p{i}"],
            )
            for i in range(2)
        },
    }
    deadline = time.monotonic() + 120
    try:
        for proc in procs.values():
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()
    output = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    codes = {name: proc.returncode for name, proc in procs.items()}
    if any(code == NO_MULTIPROCESS for code in codes.values()):
        reason = next(
            line for o in output.values() for line in o.splitlines() if "NO-MULTI" in line
        )
        pytest.skip(f"this JAX build cannot join CPU processes: {reason}")
    for name, code in codes.items():
        assert code == 0, f"{name} exited with {code}:\n{output[name][-3000:]}"

    # process 0 assembled the shards the two processes wrote (each only its own)
    with pytest.raises(ValueError, match="uncovered"):
        assemble([tmp_path / "run.npz.0.npz"])  # half the chains live in process 1's file
    with np.load(tmp_path / "run.npz") as stored:
        run = dict(stored)
    reference = assemble([tmp_path / "ref.npz"])
    assert run.keys() == reference.keys()
    assert run["kernel"].shape == (6, 4, 16, 8)  # (samples, chains, ...)
    # Equal up to float32 summation order (the decoder gradient sums the chains across
    # processes), each array on its own scale; other seeds or chains differ at order one.
    for name, ref in reference.items():
        got = run[name].astype(np.float64)
        scale = max(np.max(np.abs(ref)), 1e-12)
        assert np.max(np.abs(got - ref)) <= 1e-4 * scale, name


def test_initialize_flags():
    assert initialize(auto_detect=False) is False  # nothing given: one process
    assert initialize("127.0.0.1:1", 1, 0) is False  # one process needs no coordinator
    with pytest.raises(ValueError, match="go together"):
        initialize("127.0.0.1:1", 2, None)
    with pytest.raises(ValueError, match="process id"):
        initialize("127.0.0.1:1", 2, 2)


def test_flags_parse():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--coordinator", "10.0.0.1:1234", "--num-processes", "1"])
    assert (args.coordinator, args.num_processes, args.process_id) == ("10.0.0.1:1234", 1, None)
    with pytest.raises(ValueError, match="go together"):
        initialize_from_args(args)
    assert (
        initialize_from_args(
            parser.parse_args(["--num-processes", "1", "--process-id", "0", "--coordinator", "h:1"])
        )
        is False
    )


@pytest.mark.slow  # three processes compiling the tiny run: ~40 s on two free cores, 70 s loaded
def test_discover_two_processes(tmp_path):
    """The tiny run as two processes (chains split between them) equals the one-process run with
    the same seed; only process 0 writes the run directory."""
    data = write_tiny_data(tmp_path / "tiny.h5")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY.to_dict()))
    common = ["--data", data, "--config", str(config), "--quiet", "--no-report"]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    port = _free_port()
    coordinator = ["--coordinator", f"127.0.0.1:{port}"]
    flags = [*coordinator, "--num-processes", "2", "--process-id"]
    logs = [open(tmp_path / f"p{i}.log", "w") for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "eae_sindy.discover", *common, "--out", str(tmp_path / "two")]
            + [*flags, str(i)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, log in enumerate(logs)
    ]
    try:
        # meanwhile the same run as one process, here (the flags for one process are a no-op)
        alone = [*coordinator, "--num-processes", "1", "--process-id", "0"]
        one = main([*common, "--out", str(tmp_path / "one"), *alone])
        deadline = time.monotonic() + 120
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    output = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
    if any("could not start the multi-process run" in o for o in output):
        reason = next(
            line for o in output for line in o.splitlines() if "multi-process run" in line
        )
        pytest.skip(f"this JAX build cannot join CPU processes: {reason}")
    assert one in (0, 4)  # 4: the tiny run does not learn its data (written all the same)
    for i, proc in enumerate(procs):
        assert proc.returncode == one, f"process {i} exited with {proc.returncode}:\n{output[i]}"
    assert "written to" in output[0] and "written to" not in output[1]  # process 0 reports

    with (
        h5py.File(tmp_path / "one" / "ensemble.h5") as a,
        h5py.File(tmp_path / "two" / "ensemble.h5") as b,
    ):
        assert b.attrs["n_chains"] == a.attrs["n_chains"] == TINY.train.num_chains
        np.testing.assert_array_equal(a["chain"][...], b["chain"][...])
        # equal up to float32 summation order; the least-squares Ξ of the cubic library
        # amplifies that (measured 9e-5 of its scale), the latent codes not (2e-6)
        for name, tolerance in (("z", 1e-4), ("loss", 1e-4), ("xi", 1e-3)):
            ref, got = a[name][...].astype(np.float64), b[name][...].astype(np.float64)
            assert ref.shape == got.shape, name
            scale = max(np.max(np.abs(ref)), 1e-12)
            assert np.max(np.abs(got - ref)) <= tolerance * scale, name


def test_chains_must_split_evenly_over_devices(monkeypatch):
    import jax

    from eae_sindy.errors import ConfigError
    from eae_sindy.planning import plan

    plan(TINY.replace(train=TINY.train.replace(num_chains=3)), 200)  # one process: any count
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "device_count", lambda: 2)
    plan(TINY, 200)  # 4 chains over 2 devices
    with pytest.raises(ConfigError, match="train.num_chains = 3 must be a multiple of the 2"):
        plan(TINY.replace(train=TINY.train.replace(num_chains=3)), 200)
