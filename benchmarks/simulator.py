"""Benchmark of the lambda-omega simulator (simulators.lambda_omega).

1. Generates the reference-size data set (n = 100, 10,000 snapshots, dt = 0.05; ``--quick``:
   1,000 snapshots) into a temporary directory and prints wall time, throughput, peak memory
   (ru_maxrss of a child process that does only this) and the file size.
   Targets on 2 CPU cores: <= 120 s and <= 1.5 GB.
2. Compares the ETDRK4 solver with a method-of-lines solve by ``scipy.integrate.solve_ivp``
   (RK45, the same spectral Laplacian) on a smaller spiral problem at matched accuracy: the
   RK45 tolerance is tightened until its error (vs a fine ETDRK4 reference) is no larger than
   the ETDRK4 error at the default substep; the ratio of wall times is printed.
3. ``--backend-compare``: ``simulate(backend="numpy")`` vs ``simulate(backend="jax")`` on the
   spiral (n = 100, 500 snapshots, default substeps and chunk size): best-of-3 wall times
   excluding compilation, the one-off compile time separately, and the max abs difference.
   JAX runs on its default device; ``JAX_PLATFORMS=cpu`` forces the CPU. Target on CPU: the JAX
   time <= 1.2x the numpy time.

Usage: python benchmarks/simulator.py [--quick] [--skip-generate] [--backend-compare]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.lambda_omega import (  # noqa: E402
    DEFAULT_CHUNK,
    DEFAULT_MAX_SUBSTEP,
    generate_dataset,
    simulate,
    spiral_initial_condition,
)
from simulators.spectral import LambdaOmegaSpectral  # noqa: E402


def _generate_child(path: str, n: int, n_snapshots: int, queue) -> None:
    try:
        t0 = time.perf_counter()
        generate_dataset(path, n=n, n_snapshots=n_snapshots, progress=False)
        elapsed = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
        queue.put(("ok", elapsed, peak_mb))
    except BaseException as exc:  # report instead of leaving the parent waiting
        queue.put(("error", f"{type(exc).__name__}: {exc}", 0.0))
        raise


def bench_generate(n: int, n_snapshots: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.h5")
        ctx = mp.get_context("spawn")  # fresh interpreter: ru_maxrss is this job alone
        queue = ctx.Queue()
        proc = ctx.Process(target=_generate_child, args=(path, n, n_snapshots, queue))
        proc.start()
        status, elapsed, peak_mb = queue.get()
        proc.join()
        if status != "ok":
            raise RuntimeError(f"generate_dataset failed in the child process: {elapsed}")
        size_mb = os.path.getsize(path) / 1e6
    return {"elapsed": elapsed, "peak_mb": peak_mb, "size_mb": size_mb}


def _mol_rhs(n: int, L: float, d: float, beta: float):
    """Method-of-lines right-hand side: spectral Laplacian (2 FFTs per call), pointwise rest."""
    ops = LambdaOmegaSpectral(n, L, d, d, beta, 0.01)
    diffusion = ops.lin - 1.0  # -d |k|^2

    def rhs(_t, y):
        w = y.reshape(2, n, n)
        lap = ops.to_physical(diffusion * ops.to_spectral(w))
        return (w + ops.nonlinear_physical(w) + lap).ravel()  # (1 - r^2) w + ... + d lap w

    return rhs


def bench_vs_solve_ivp(n: int, T: float) -> dict:
    from scipy.integrate import solve_ivp

    L, d, beta = 20.0, 0.1, 1.0
    u0, v0 = spiral_initial_condition(n, L)

    def etdrk4(substeps):
        r = simulate(u0, v0, L=L, d1=d, d2=d, beta=beta, dt=T, n_snapshots=2, substeps=substeps)
        return np.stack([r.u[-1], r.v[-1]])

    reference = etdrk4(round(T / (DEFAULT_MAX_SUBSTEP / 8)))
    default_substeps = round(T / DEFAULT_MAX_SUBSTEP)
    t0 = time.perf_counter()
    ours = etdrk4(default_substeps)
    t_ours = time.perf_counter() - t0
    err_ours = np.abs(ours - reference).max()

    rhs = _mol_rhs(n, L, d, beta)
    y0 = np.stack([u0, v0]).ravel()
    rows = []
    for tol in 10.0 ** -np.arange(5.0, 12.5, 0.5):  # half-decade steps
        t0 = time.perf_counter()
        sol = solve_ivp(rhs, (0.0, T), y0, method="RK45", rtol=tol, atol=tol * 1e-2)
        elapsed = time.perf_counter() - t0
        err = np.abs(sol.y[:, -1].reshape(2, n, n) - reference).max()
        rows.append((tol, elapsed, err, sol.nfev))
        if err <= err_ours:
            break
    return {
        "n": n,
        "T": T,
        "t_ours": t_ours,
        "err_ours": err_ours,
        "steps_ours": default_substeps,
        "rk45": rows,
    }


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_backends(n: int = 100, n_snapshots: int = 500, repeats: int = 3) -> dict:
    """Wall times of the numpy and JAX backends (compile excluded), compile time, difference."""
    import jax

    L = 20.0
    u0, v0 = spiral_initial_condition(n, L)

    def run(backend: str, k: int = n_snapshots):
        return simulate(u0, v0, L=L, n_snapshots=k, backend=backend)

    # First JAX call = compile + one chunk of 64; the same call again = the chunk alone.
    t_first, _ = _timed(lambda: run("jax", DEFAULT_CHUNK))
    t_again, _ = _timed(lambda: run("jax", DEFAULT_CHUNK))
    times: dict[str, list[float]] = {"numpy": [], "jax": []}
    results = {}
    for _ in range(repeats):  # interleaved, so that load changes hit both alike
        for backend in times:
            elapsed, results[backend] = _timed(lambda b=backend: run(b))
            times[backend].append(elapsed)
    a, b = results["numpy"], results["jax"]
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in ("u", "v", "u_t", "v_t"))
    return {
        "n": n,
        "n_snapshots": n_snapshots,
        "device": str(jax.devices()[0]),
        "numpy": min(times["numpy"]),
        "jax": min(times["jax"]),
        "compile": t_first - t_again,
        "max_abs_diff": diff,
    }


def _print_backends(c: dict) -> None:
    ratio = c["jax"] / c["numpy"]
    print(
        f"backends, spiral n={c['n']}, {c['n_snapshots']} snapshots (best of 3, compile "
        f"excluded): numpy {c['numpy']:.2f} s, jax {c['jax']:.2f} s on {c['device']} "
        f"(jax/numpy {ratio:.2f}x); jax compile {c['compile']:.2f} s; "
        f"max abs difference {c['max_abs_diff']:.1e}"
    )
    if "cpu" in c["device"].lower():
        print(f"  target on CPU jax <= 1.2x numpy: {'met' if ratio <= 1.2 else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 snapshots and a shorter comparison")
    p.add_argument("--skip-generate", action="store_true", help="only the solve_ivp comparison")
    p.add_argument(
        "--backend-compare",
        action="store_true",
        help="only the numpy vs JAX backend timing (n=100, 500 snapshots)",
    )
    args = p.parse_args(argv)
    n, n_snapshots = 100, 1000 if args.quick else 10000
    print(f"CPU count: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f} (1 min)")
    if args.backend_compare:
        _print_backends(bench_backends())
        return 0

    if not args.skip_generate:
        _print_generate(n, n_snapshots)
    for n_cmp in (100,) if args.quick else (48, 100):
        _print_comparison(bench_vs_solve_ivp(n=n_cmp, T=2.0 if args.quick else 5.0))
    return 0


def _print_generate(n: int, n_snapshots: int) -> None:
    g = bench_generate(n, n_snapshots)
    rate = n_snapshots / g["elapsed"]
    print(
        f"generate_dataset n={n}, {n_snapshots} snapshots (dt=0.05, substep "
        f"{DEFAULT_MAX_SUBSTEP}): {g['elapsed']:.1f} s ({rate:.0f} snapshots/s), peak RSS "
        f"{g['peak_mb']:.0f} MB, file {g['size_mb']:.0f} MB"
    )
    if n_snapshots == 10000:
        ok = g["elapsed"] <= 120 and g["peak_mb"] <= 1536
        print(f"  target <= 120 s and <= 1.5 GB: {'met' if ok else 'NOT met'}")
    else:
        print(f"  extrapolated to 10,000 snapshots: {10000 / rate:.0f} s")


def _print_comparison(c: dict) -> None:
    print(
        f"spiral n={c['n']}, t in [0, {c['T']}]: ETDRK4 {c['steps_ours']} steps, "
        f"{c['t_ours'] * 1e3:.0f} ms, max error {c['err_ours']:.1e}"
    )
    for tol, elapsed, err, nfev in c["rk45"]:
        print(
            f"  solve_ivp RK45 rtol={tol:.1e}: {elapsed * 1e3:.0f} ms, {nfev} RHS evals, "
            f"max error {err:.1e}"
        )
    tol, elapsed, err, _ = c["rk45"][-1]
    matched = err <= c["err_ours"]
    print(
        f"  RK45 / ETDRK4 wall-time ratio at {'matched' if matched else 'best reached'} accuracy "
        f"(rtol={tol:.1e}): {elapsed / c['t_ours']:.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
