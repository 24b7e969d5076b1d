"""Champion et al.'s Lorenz example: chaotic latent dynamics seen in 128 dimensions, many short
trajectories, derivatives estimated — the field's standard test of SINDy autoencoders.

The Lorenz system ż1 = σ(z2 − z1), ż2 = z1(ρ − z3) − z2, ż3 = z1 z2 − β z3 (σ = 10, ρ = 28,
β = 8/3) is lifted to x(y, t) = Σ_i u_i(y) z_i(t) + Σ_i u_{i+3}(y) z_i(t)³ on 128 points
y ∈ [−1, 1], with the first six Legendre polynomials as the spatial modes u_1..u_6 (Champion,
Lusch, Kutz & Brunton 2019). Each trajectory starts from a random point of the box the attractor
lives in (z1 ∈ [−36, 36], z2 ∈ [−48, 48], z3 ∈ [−16, 66]) and runs for ``--duration`` time units
at step 0.02; only x and t are given to ``eae_sindy.fit``, as a list of trajectories. The library
is polynomial to order 3 with a constant (Lorenz's fixed points are off the origin), 20 terms.

Time unit: the loss weighs ẋ against x (``sindy.lambda_dx``), and the presets were tuned on
data whose RMS of ẋ is about that of x (per unit time). Lorenz's lifted ẋ is 15× its x, so the
times are given in units of 1/15 of Lorenz's (``TIME_UNIT``): every rate the report gives
(coefficients, Lyapunov exponents) is then 15× smaller than in Lorenz's units — the script
converts the largest Lyapunov exponent back (Lorenz: 0.906). Choose your own data's time unit
the same way: one in which x changes by about its RMS per unit time.

    python examples/lorenz.py [--trajectories 48] [--out runs/lorenz]

About 10 minutes on 2 CPU cores. What the output means is in docs/lorenz.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.polynomial import legendre
from scipy.integrate import solve_ivp

import eae_sindy

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
N_FEATURES = 128
DT = 0.02
TIME_UNIT = 15.0  # model time = TIME_UNIT × Lorenz time: RMS(ẋ) ≈ RMS(x) per model time unit
LORENZ_LYAPUNOV = 0.906


def lorenz(_t, z):
    return [SIGMA * (z[1] - z[0]), z[0] * (RHO - z[2]) - z[1], z[0] * z[1] - BETA * z[2]]


def spatial_modes(n_points: int = N_FEATURES) -> np.ndarray:
    """(6, n_points): the Legendre polynomials P_0..P_5 on y ∈ [−1, 1]."""
    y = np.linspace(-1, 1, n_points)
    return np.stack([legendre.legval(y, np.eye(6)[k]) for k in range(6)])


def trajectories(n: int, duration: float, seed: int = 0) -> tuple[list, list, list]:
    """``n`` lifted trajectories: lists of x (steps, 128), t (steps,) and the latent z."""
    rng = np.random.default_rng(seed)
    low, high = np.array([-36.0, -48.0, -16.0]), np.array([36.0, 48.0, 66.0])
    t = np.arange(int(round(duration / DT))) * DT
    modes = spatial_modes()
    xs, ts, zs = [], [], []
    for _ in range(n):
        z0 = low + (high - low) * rng.random(3)
        z = solve_ivp(lorenz, (0, t[-1]), z0, t_eval=t, rtol=1e-9, atol=1e-9).y.T
        xs.append(np.concatenate([z, z**3], axis=1) @ modes)
        ts.append(t)
        zs.append(z)
    return xs, ts, zs


def config_for_lorenz():
    """The quick preset at latent_dim 3, with a polynomial library of order 3 and a constant."""
    quick = eae_sindy.preset("quick")
    return quick.replace(
        model=quick.model.replace(latent_dim=3),
        sindy=quick.sindy.replace(include_sine=False, include_constant=True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=48)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/lorenz")
    args = parser.parse_args()
    xs, ts, _ = trajectories(args.trajectories, args.duration, args.seed)
    print(f"{len(xs)} trajectories of {len(ts[0])} snapshots × {N_FEATURES} features")
    started = time.perf_counter()
    model_times = [t * TIME_UNIT for t in ts]
    found = eae_sindy.fit(xs, model_times, config=config_for_lorenz(), seed=args.seed)
    print(f"fitted in {time.perf_counter() - started:.0f} s")
    found.print()
    found.report(args.out)
    a = found.analysis()
    data = a.data_attractor
    if data is not None:
        print(
            f"data: {data.kind}; largest Lyapunov exponent {data.lyapunov * TIME_UNIT:.3g} ± "
            f"{data.lyapunov_se * TIME_UNIT:.2g} per Lorenz time unit (Lorenz: {LORENZ_LYAPUNOV})"
        )
    for model in a.dynamics:
        k = model.attractor
        if k is not None:
            print(
                f"{model.name}: {k.kind}, {int((model.xi != 0).sum())} terms, λ1 = "
                f"{k.lyapunov * TIME_UNIT:.3g} ± {k.lyapunov_se * TIME_UNIT:.2g} per Lorenz time"
            )
    print(f"report: {args.out}/report.html")


if __name__ == "__main__":
    main()
