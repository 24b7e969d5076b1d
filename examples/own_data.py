"""Discover the latent equations of *your own* data, straight from arrays in memory.

Here "your data" is a Hopf oscillator ż = (1 − |z|²) z + i ω z observed through a fixed random
linear map into 128 features (think: sensors), whose limit cycle has period 2π/ω; only x and its
times t are given, as from a measurement: the time derivatives are estimated (a smoothed finite
difference, ``[data] differentiation``). Any array ``x`` of shape (n_snapshots, n_features), or
a list of them (several runs), with their times ``t`` works the same way; pass ``x_dot`` when
you have derivatives you trust.

    python examples/own_data.py [--out runs/own_data]

Takes about a minute on 2 CPU cores; open ``runs/own_data/report.html`` afterwards.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.integrate import solve_ivp

import eae_sindy

OMEGA = 2.0


def hopf(_t, z):
    r2 = z[0] ** 2 + z[1] ** 2
    return [(1 - r2) * z[0] - OMEGA * z[1], (1 - r2) * z[1] + OMEGA * z[0]]


def observations(n_snapshots: int = 1500, dt: float = 0.05):
    """x (n_snapshots, 128) and t: the oscillator seen through a random linear map."""
    t = np.arange(n_snapshots) * dt
    solution = solve_ivp(hopf, (0, t[-1]), [0.1, 0.0], t_eval=t, rtol=1e-9, atol=1e-9)
    lift = np.random.default_rng(0).normal(size=(2, 128)) / 2
    return solution.y.T @ lift, t  # what a measurement gives: no derivatives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/own_data")
    args = parser.parse_args()
    x, t = observations()
    quick = eae_sindy.preset("quick")
    config = quick.replace(
        data=quick.data.replace(n_train=1000),
        sindy=quick.sindy.replace(include_sine=False),  # a polynomial oscillator
        train=quick.train.replace(batch_size=128, outer_iterations=100, n_samples=200, n_eval=150),
    )
    found = eae_sindy.fit(x, t, config=config)
    found.print()
    print("test relative MSE of x:", found.summary["test_error"]["x_relative_mse"])
    true_period = 2 * np.pi / OMEGA  # the oscillator's cycle attracts
    for model in found.analysis().dynamics:
        kind = model.attractor.kind if model.attractor is not None else model.orbit.status
        period = model.orbit.period
        off = abs(period - true_period) / true_period
        verdict = "within 5 %" if off <= 0.05 else "NOT within 5 %"
        print(f"{model.name}: {kind}, period {period:.3f} ({verdict} of 2π/ω)")
    found.report(args.out)
    print(f"report: {args.out}/report.html  (true period: {true_period:.4f})")


if __name__ == "__main__":
    main()
