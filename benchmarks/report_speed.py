"""Benchmark: full analysis + all figures of a paper-size ensemble (5000 samples × 22 coefficients).

Writes a synthetic two-mode run directory (``analysis.synthetic``), then times each stage of
``analysis.report.write_report``. Target: ≤ 20 s on the project's 2-core CPU.

    python benchmarks/report_speed.py [--samples 5000] [--n-eval 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# `analysis` package: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--n-eval", type=int, default=500)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from analysis import report as R
    from analysis.pipeline import analyze_run
    from analysis.rundir import load_run
    from analysis.synthetic import write_synthetic_run

    t_import = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_run(tmp, n_samples=args.samples, n_eval=args.n_eval, seed=0)
        timings = {}
        t = time.perf_counter()
        run = load_run(tmp)
        timings["load + validate"] = time.perf_counter() - t
        t = time.perf_counter()
        a = analyze_run(run)
        timings["statistics, modes, dynamics, baseline"] = time.perf_counter() - t
        t = time.perf_counter()
        paths = R.write_report(tmp)
        timings["write_report (all of it, again)"] = time.perf_counter() - t
        n_fig = sum(k.startswith("figures/") for k in paths)

    n_coef = run.xi.shape[1] * run.xi.shape[2]
    print(f"ensemble: {run.n_samples} samples x {n_coef} coefficients, n_eval={args.n_eval}")
    sym = [s.transform.describe() for s in a.symmetries]
    print(f"modes found: {a.modes.n_modes}, symmetries: {sym}")
    print(f"imports (analysis, pysindy, sklearn, matplotlib): {t_import:6.2f} s")
    for name, sec in timings.items():
        print(f"{name:40s} {sec:6.2f} s")
    total = timings["write_report (all of it, again)"]
    print(f"figures written: {n_fig}")
    print(f"write_report total: {total:.2f} s = {total / 20.0:.2f} x the 20 s target")


if __name__ == "__main__":
    main()
