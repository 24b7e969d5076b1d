"""Fits at latent dimensions other than 2 run to completion.

latent_dim 3 used to hang on a 2-core machine: the SINDy loss solved its least-squares problems
with LAPACK calls (geqrf, orgqr, trsm), which jaxlib's CPU kernels run with their batch split over
XLA's intra-op thread pool, each call waiting for its share; with the chains' solves side by side,
every pool thread ended up waiting and none working (``eae_sindy.sindy._triangularize``). The
problem has to be large enough for the kernels to split it (Ξ fitted on a few hundred snapshots
at 22 terms), so the data here are larger than ``tiny.TINY``'s, the network as small.

The fits run in a subprocess, so that a hang fails the test instead of blocking the run: a
watchdog there stops it once the process has used no CPU for ``IDLE_S`` (a deadlocked pool uses
none), and the time limit catches anything else. latent_dim 3 and 1 share one process (the
second fit reuses what the first compiled of the data handling: ~30 s for both on an idle 2-core
machine, ~25 s for either alone); 4 is marked slow. The latent_dim 1 fit has the constant term
(``sindy.include_constant``) and goes through the run directory and pysindy: the option's path
through ``fit``, ``save``, ``load`` and ``to_pysindy``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 540
"""Wall-clock limit of one subprocess (generous: a busy machine can take several times longer)."""
IDLE_S = 30
"""Seconds without any CPU use after which the child counts as deadlocked."""

CHILD = textwrap.dedent(
    """
    import faulthandler, os, sys, tempfile, threading, time

    limit, idle = float(sys.argv[1]), float(sys.argv[2])
    fits = [(int(d.rstrip("c")), d.endswith("c")) for d in sys.argv[3].split(",")]
    sys.path[:0] = [sys.argv[4], os.path.join(sys.argv[4], "tests")]
    faulthandler.dump_traceback_later(limit, exit=True)


    def watchdog():
        used, since = time.process_time(), time.monotonic()
        while True:
            time.sleep(1.0)
            now = time.process_time()
            if now - used > 0.05:
                used, since = now, time.monotonic()
            elif time.monotonic() - since > idle:
                print(f"deadlocked: no CPU used for {idle:.0f} s", flush=True)
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)


    threading.Thread(target=watchdog, daemon=True).start()

    import numpy as np
    from tiny import TINY

    import eae_sindy
    from analysis.library import rhs

    # a 2-D oscillator seen through 64 features: 700 snapshots, Ξ fitted on 650 of them
    rng = np.random.default_rng(0)
    t = 0.1 * np.arange(700)
    z = np.stack([np.cos(t), np.sin(t)], axis=1)
    dz = np.stack([-np.sin(t), np.cos(t)], axis=1)
    u, v = rng.normal(size=(2, 64)), rng.normal(size=(2, 64))
    x = z @ u + 0.3 * (z**2) @ v
    dx = dz @ u + 0.3 * (2 * z * dz) @ v
    for dim, constant in fits:
        print("fitting latent_dim", dim, "with the constant" * constant, flush=True)
        config = TINY.replace(
            model=TINY.model.replace(latent_dim=dim),
            data=TINY.data.replace(n_train=560, n_val=20),
            sindy=TINY.sindy.replace(include_constant=constant),
        )
        found = eae_sindy.fit(x, t, dx, config=config, progress=False)
        n_chains, n_draws = config.train.num_chains, config.train.n_samples
        assert found.xi.shape[0] == n_chains * n_draws, found.xi.shape
        assert found.xi.shape[2] == dim and np.isfinite(found.xi).all()
        assert (found.term_names[0] == "1") == constant, found.term_names
        if constant:
            with tempfile.TemporaryDirectory() as directory:
                back = eae_sindy.load(found.save(directory))
            assert back.term_names == found.term_names and back.run.include_constant
            assert back.config.sindy.include_constant
            np.testing.assert_array_equal(back.xi, found.xi)
            model = back.to_pysindy()
            assert model.get_feature_names() == found.term_names
            z = np.asarray(found.run.z[0], np.float64)
            xi = np.asarray(back.xi.mean(axis=0), np.float64)
            np.testing.assert_allclose(model.predict(z), rhs(z, xi, back.run.terms), rtol=1e-6)
        print("fitted", found, flush=True)
    """
)


@pytest.mark.parametrize("dims", [("3", "1c"), pytest.param(("4",), marks=pytest.mark.slow)])
def test_fits_complete_at_latent_dims(dims):
    listed = ",".join(dims)
    args = [sys.executable, "-c", CHILD, str(LIMIT_S), str(IDLE_S), listed, str(ROOT)]
    try:
        done = subprocess.run(
            args,
            cwd=ROOT,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
            capture_output=True,
            text=True,
            timeout=LIMIT_S + 60,
        )
    except subprocess.TimeoutExpired as error:
        partial = error.stdout or b""
        if isinstance(partial, bytes):
            partial = partial.decode(errors="replace")
        pytest.fail(f"latent_dim {listed}: the fits did not finish in {LIMIT_S + 60} s\n{partial}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"latent_dim {listed}: exit code {done.returncode}\n{output[-6000:]}"
    )
    assert done.stdout.count("fitted Discovery(") == len(dims)
