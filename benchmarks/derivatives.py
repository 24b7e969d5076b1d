"""Users' data against the simulator's: does ``fit(x, t)`` without derivatives — on noisy x, and
on the same data cut into several trajectories given as lists — find the oscillator the
exact-derivative run finds, in about the same time? (figures in README.md)

Three fits of the quick preset on one simulated data set (the same seed and settings):
``exact`` (clean x and the simulator's ẋ), ``estimated`` (x + white noise of ``--noise`` × the
RMS of x, ẋ estimated by ``data.differentiation``) and ``trajectories`` (that noisy x cut into
``--pieces`` trajectories, each with its times restarting at 0, ẋ estimated). For each: wall
time, the recommended sparse model, its period and attractor kind, the share of least-squares
and sparse members within 5 % of the data's period, the data's period and the noise estimate.

    python benchmarks/derivatives.py [--seed 0] [--noise 0.01] [--pieces 4] [--out DIR]
                                     [--runs exact estimated trajectories]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import eae_sindy
from eae_sindy.config import preset
from simulators import read_dataset
from simulators.lambda_omega import generate_dataset


def summarise(found, seconds: float) -> dict:
    """The figures this benchmark compares, from the run's analysis."""
    a = found.analysis()
    top = next((d for d in a.dynamics if d.name == "recommended sparse model"), None)
    structure = None
    if a.sparse is not None and a.sparse.choice is not None and a.sparse.choice.recommended:
        s = a.sparse.choice.recommended
        structure = {"terms": s.terms, "frequency": float(s.frequency)}
    return {
        "seconds": round(seconds, 1),
        "data_period": float(a.data_period),
        "recommended_sparse_period": None if top is None else float(top.orbit.period),
        "recommended_sparse_kind": None if top is None else top.attractor.kind,
        "data_kind": None if a.data_attractor is None else a.data_attractor.kind,
        "top_sparse_structure": structure,
        "within_5_percent": {d.label: float(d.within) for d in a.distributions},
        "frame_free_converged": bool(a.frame_free.converged),
        "data": found.summary["training"].get("data"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--pieces", type=int, default=4)
    parser.add_argument("--out", default=None)
    parser.add_argument("--runs", nargs="+", default=["exact", "estimated", "trajectories"])
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="derivatives_"))
    out.mkdir(parents=True, exist_ok=True)
    config = preset("quick")
    data_file = out / "data.h5"
    if not data_file.exists():
        generate_dataset(data_file, **config.data.simulation(), seed=args.seed, progress=False)
    data = read_dataset(data_file)
    rng = np.random.default_rng(args.seed + 1000)
    rms = float(np.sqrt(np.mean((data.x - data.x.mean(axis=0)) ** 2)))
    noisy = (data.x + args.noise * rms * rng.standard_normal(data.x.shape)).astype(np.float32)
    cuts = np.linspace(0, len(data.t), args.pieces + 1).astype(int)
    pieces = [noisy[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    times = [data.t[a:b] - data.t[a] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    runs = {
        "exact": lambda: eae_sindy.fit(data.x, data.t, data.dx, config=config, seed=args.seed),
        "estimated": lambda: eae_sindy.fit(noisy, data.t, config=config, seed=args.seed),
        "trajectories": lambda: eae_sindy.fit(pieces, times, config=config, seed=args.seed),
    }
    results = {}
    for name in args.runs:
        run = runs[name]
        started = time.perf_counter()
        found = run()
        seconds = time.perf_counter() - started
        found.save(out / name)
        results[name] = summarise(found, seconds)
        print(name, json.dumps(results[name], indent=1), flush=True)
    (out / "derivatives.json").write_text(json.dumps(results, indent=1))
    print(f"written {out / 'derivatives.json'}")


if __name__ == "__main__":
    main()
