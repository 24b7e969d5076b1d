"""Discover the latent equations of *your own* data: write x and dx to HDF5, run discover.

Here "your data" is a Hopf oscillator ż = (1 − |z|²) z + i ω z observed through a fixed random
linear map into 128 features (think: sensors), whose limit cycle has period 2π/ω. Any file with
float datasets ``x`` and ``dx`` of shape (n_snapshots, n_features), and optionally ``t``, works
the same way.

    python examples/own_data.py [--out runs/own_data]

Takes about a minute on 2 CPU cores; open ``runs/own_data/report.html`` afterwards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
from scipy.integrate import solve_ivp

from eae_sindy.config import DataConfig, ModelConfig, SindyConfig, TrainConfig, preset
from eae_sindy.discover import discover

OMEGA = 2.0


def hopf(_t, z):
    r2 = z[0] ** 2 + z[1] ** 2
    return [(1 - r2) * z[0] - OMEGA * z[1], (1 - r2) * z[1] + OMEGA * z[0]]


def write_observations(path: Path, n_snapshots: int = 1500, dt: float = 0.05) -> None:
    t = np.arange(n_snapshots) * dt
    solution = solve_ivp(hopf, (0, t[-1]), [0.1, 0.0], t_eval=t, rtol=1e-9, atol=1e-9)
    z = solution.y.T
    dz = np.array([hopf(0, zi) for zi in z])
    rng = np.random.default_rng(0)
    lift = rng.normal(size=(2, 128)) / 2
    x, dx = z @ lift, dz @ lift  # observations and their exact time derivatives
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x.astype(np.float32))
        f.create_dataset("dx", data=dx.astype(np.float32))
        f.create_dataset("t", data=t)
        f.attrs["dt"] = dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/own_data")
    args = parser.parse_args()
    data = Path(args.out).with_suffix(".h5")
    data.parent.mkdir(parents=True, exist_ok=True)
    write_observations(data)
    config = preset("quick").replace(
        data=DataConfig(n_train=1000, n_val=200),
        model=ModelConfig(encoder_widths=(64,), decoder_widths=(64,)),
        sindy=SindyConfig(fit_on="all", include_sine=False),
        train=TrainConfig(
            batch_size=128,
            inner_steps=40,
            outer_iterations=100,
            n_samples=200,
            thin=2,
            chunk_size=100,
            n_eval=150,
            learning_rate=3e-3,
        ),
    )
    summary = discover(config, args.out, data_path=str(data))
    print("test relative MSE of x:", summary["test_error"]["x_relative_mse"])
    print(f"report: {Path(args.out) / 'report.html'}  (true period: {2 * np.pi / OMEGA:.4f})")


if __name__ == "__main__":
    main()
