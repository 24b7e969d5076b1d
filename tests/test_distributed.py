"""Multi-process runs: two processes on this machine (CPU, one device each, gloo collectives)
joined by ``jax.distributed.initialize`` shard the chain axis of one EAE between them; each writes
only its shard and process 0 assembles the run, which must equal the single-process run with the
same seed and chains. The workers are ``tests/distributed_worker.py``; skipped when this JAX build
cannot run CPU processes together."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eae_sindy.distributed import add_arguments, assemble, initialize, initialize_from_args

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
