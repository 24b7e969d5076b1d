"""Integrated autocorrelation time τ of every frame-free target of a reported run, in sampling
steps: τ = draws per chain × chains × thin / bulk-ESS (ArviZ), from the run's ``frame_free.csv``
(``analysis.frame_free``) and ``config.json``; and the collection a verdict would need at that τ
(R-hat ≤ 1.01 and ESS ≥ 400 ⇒ about 400·τ steps over all chains, and ≳ 100·τ per chain), at
the run's own collection speed. Where the chains have not mixed (R-hat > 1.1) τ is a floor.

    python benchmarks/tau.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from analysis.diagnostics import diagnose


def read_targets(run_dir: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    with open(run_dir / "frame_free.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0]}
    return columns, columns.pop("chain").astype(int)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    for run_dir in args.run_dirs:
        config = json.loads((run_dir / "config.json").read_text())
        summary = json.loads((run_dir / "summary.json").read_text())
        thin = config["train"]["thin"]
        seconds = summary["training"].get("collection_time_s") or float("nan")
        columns, chain = read_targets(run_dir)
        columns.pop("draw")
        n_chains = len(np.unique(chain))
        print(f"{run_dir}: thin {thin}, collection {seconds:.0f} s")
        print(f"  {'target':<20} {'R-hat':>7} {'bulk-ESS':>9} {'tau (steps)':>12} "
              f"{'steps for ESS 400':>18} {'at this speed':>14}")
        for name, values in columns.items():
            keep = np.isfinite(values)
            if keep.mean() < 1.0 and name not in ("period", "amplitude_ratio",
                                                  "floquet_exponent", "oscillates"):
                continue
            sub_chain = chain[keep]
            d = diagnose(values[keep], sub_chain)
            if bool(d.constant):
                continue
            draws = d.draws_per_chain
            # integrated members are spread evenly over the draws: their spacing in steps
            spacing = thin * (np.sum(chain == chain[0]) / max(draws, 1))
            tau = draws * n_chains * spacing / d.ess_bulk if d.ess_bulk > 0 else np.nan
            steps = 400 * tau
            total_steps = len(values) / n_chains * thin * n_chains
            time = seconds * steps / total_steps if np.isfinite(seconds) else np.nan
            floor = "  (a floor: the chains have not mixed)" if d.r_hat > 1.1 else ""
            print(f"  {name:<20} {d.r_hat:7.3f} {d.ess_bulk:9.0f} {tau:12.0f} {steps:18.0f} "
                  f"{time / 60:11.0f} min{floor}")


if __name__ == "__main__":
    main()
