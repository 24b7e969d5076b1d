"""Synthetic ``discover`` run directories with a known answer, for tests, examples and benchmarks.

``write_synthetic_run`` writes every file of ``docs/run_directory.md`` (``config.json``,
``metrics.csv``, ``ensemble.h5``, ``summary.json``), through ``analysis.rundir.write_run``, for a
latent Hopf oscillator

    ż0 = μ z0 − ω z1 − (z0² + z1²) z0,    ż1 = ω z0 + μ z1 − (z0² + z1²) z1,

whose limit cycle has radius √μ and period 2π/ω. The Ξ samples come from one mode, or from two
modes that are images of each other under a latent symmetry (default: z0 ↔ z1), the way an EAE
ensemble can split between equivalent encoders. Extra latent dimensions (d > 2) decay linearly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.integrate import odeint

from analysis.library import Term, library_terms, rhs, theta
from analysis.rundir import METRICS_COLUMNS, SUMMARY_FILE, RunData, write_run
from analysis.symmetry import SignedPermutation, transform_xi

__all__ = ["SyntheticRun", "SyntheticSettings", "hopf_xi", "write_synthetic_run", "METRICS_COLUMNS"]


class SyntheticRun(NamedTuple):
    """What was written, and the truth to compare an analysis against.

    Attributes:
      run_dir: the directory.
      term_names: the library.
      xi_modes: (n_modes, n_terms, latent_dim) noise-free Ξ of each mode.
      weights: (n_modes,) fraction of samples drawn from each mode.
      labels: (n_samples,) mode of each sample.
      transform: the map from mode 0 to mode 1 (None with one mode).
      period: the true limit-cycle period 2π/ω.
      amplitude: (2,) half peak-to-peak extent of the limit cycle in z0 and z1 (√μ ‖A[i]‖).
    """

    run_dir: Path
    term_names: list[str]
    xi_modes: np.ndarray
    weights: np.ndarray
    labels: np.ndarray
    transform: SignedPermutation | None
    period: float
    amplitude: np.ndarray


def hopf_xi(
    terms: Sequence[Term],
    *,
    mu: float = 1.0,
    omega: float = 1.0,
    skew: np.ndarray | None = None,
) -> np.ndarray:
    """Ξ (n_terms, latent_dim) of the Hopf normal form, seen through z = A w in (z0, z1).

    With w the Hopf coordinates (limit cycle: circle of radius √μ, period 2π/ω) and A = ``skew``
    (2×2, default identity), ż = A f(A⁻¹ z) is again cubic, with the same period; a non-orthogonal
    A makes the cycle an ellipse, which removes the rotational symmetry of the normal form (so
    z0 ↔ z1 is no longer equivalent to a reflection). Extra latents decay: ż_k = −z_k, k ≥ 2.
    """
    latent_dim = len(terms[0].powers)
    a = np.eye(2) if skew is None else np.asarray(skew, dtype=float)
    a_inv = np.linalg.inv(a)

    def f(z):
        w = z[:, :2] @ a_inv.T
        r2 = (w**2).sum(axis=1, keepdims=True)
        dw = np.stack([mu * w[:, 0] - omega * w[:, 1], omega * w[:, 0] + mu * w[:, 1]], axis=1)
        dz = np.zeros_like(z)
        dz[:, :2] = (dw - r2 * w) @ a.T
        dz[:, 2:] = -z[:, 2:]
        return dz

    # The vector field lies in the span of the polynomial terms: least squares recovers it exactly.
    pts = np.random.default_rng(12345).uniform(-2, 2, (20 * len(terms), latent_dim))
    xi = np.linalg.lstsq(theta(pts, terms), f(pts), rcond=None)[0]
    xi[np.abs(xi) < 1e-9] = 0.0
    return xi


class SyntheticSettings(NamedTuple):
    """The keyword arguments of :func:`write_synthetic_run`, with their defaults.

    Attributes:
      n_samples: ensemble size.
      latent_dim: d ≥ 2 (library: monomials up to degree 3 without constant, plus sin).
      n_modes: 1 or 2.
      weights: fraction of samples per mode (default (0.6, 0.4) for two modes).
      transform: z' = T z mapping mode 0 to mode 1 (default: swap z0 ↔ z1).
      xi_true: (n_terms, latent_dim) Ξ of mode 0 (default: ``hopf_xi(mu, omega)``). The reported
        ``period``/``amplitude`` are those of the Hopf oscillator and only meaningful for it.
      mu, omega: Hopf parameters (radius √μ, period 2π/ω).
      skew: the 2×2 map A from Hopf to latent coordinates (see ``hopf_xi``); None = identity,
        which makes the two modes also related by reflections (the normal form is isotropic).
      xi_noise: std of the independent Gaussian noise on every coefficient.
      xi_scale_noise: std of a per-sample factor multiplying all of Ξ (correlated coefficients,
        as a random time scale of the encoder would cause).
      n_eval: number of encoded test snapshots (``z``, ``dz``, ``t``).
      n_test: length of ``data_signal``.
      dt: time between snapshots.
      grid: snapshots are ``grid × grid`` images.
      n_examples: number of stored example snapshots.
      n_iterations: rows of ``metrics.csv``.
      seed: seed of all randomness.
      write_metrics, write_summary: set False to test the report without these optional files.
      n_chains: the independent draws are labelled as this many chains of consecutive samples
        (chain-major, as ``eae_sindy`` stores them); every chain visits every mode.
    """

    n_samples: int = 400
    latent_dim: int = 2
    n_modes: int = 2
    weights: tuple[float, ...] | None = None
    transform: SignedPermutation | None = None
    xi_true: np.ndarray | None = None
    mu: float = 1.0
    omega: float = 1.0
    skew: tuple[tuple[float, float], tuple[float, float]] | None = ((1.0, 0.5), (0.0, 0.8))
    xi_noise: float = 0.03
    xi_scale_noise: float = 0.05
    n_eval: int = 200
    n_test: int = 1000
    dt: float = 0.05
    grid: int = 16
    n_examples: int = 4
    n_iterations: int = 30
    seed: int = 0
    write_metrics: bool = True
    write_summary: bool = True
    n_chains: int = 4


def write_synthetic_run(run_dir: str | Path, **settings: Any) -> SyntheticRun:
    """Write a small but realistic run directory ``run_dir`` (created if needed; existing files
    are overwritten) and return the truth, as a ``SyntheticRun``. The keyword arguments are the
    fields of :class:`SyntheticSettings` (``TypeError`` for any other)."""
    s = SyntheticSettings(**settings)
    if s.n_modes not in (1, 2):
        raise ValueError(f"n_modes must be 1 or 2, got {s.n_modes}")
    if s.latent_dim < 2:
        raise ValueError(f"latent_dim must be >= 2, got {s.latent_dim}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(s.seed)
    terms = library_terms(s.latent_dim, 3, True)
    if s.xi_true is None:
        xi0 = hopf_xi(terms, mu=s.mu, omega=s.omega, skew=s.skew)
    else:
        xi0 = np.asarray(s.xi_true, dtype=float)
    weights_arr, transform = _mode_weights_and_transform(
        s.latent_dim, s.n_modes, s.weights, s.transform
    )
    ensemble = _sample_xi(rng, xi0, terms, s.n_samples, weights_arr, transform, s.xi_noise,
                          s.xi_scale_noise)
    skew_matrix = np.eye(2) if s.skew is None else np.asarray(s.skew, dtype=float)
    encoded = _encoded_test_data(rng, xi0, terms, ensemble.labels, transform, skew_matrix, s.mu,
                                 s.n_eval, s.dt)
    loss = 1.0 + 0.1 * np.abs(rng.standard_normal(s.n_samples)) + 0.05 * (ensemble.scale - 1.0) ** 2
    t_data, data_signal = _data_signal(rng, s.n_test, s.dt, s.mu, s.omega)
    x_examples, x_recon = _example_snapshots(rng, encoded.z_true, skew_matrix, s.grid,
                                             s.n_examples)
    metrics = _metrics(s.n_iterations, rng) if s.write_metrics else None
    run = _run_data(terms, ensemble, encoded, loss, (t_data, data_signal), (x_examples, x_recon),
                    n_chains=s.n_chains, dt=s.dt, grid=s.grid, metrics=metrics,
                    n_iterations=s.n_iterations,
                    config=_config_record(s.xi_true is None, s.mu, s.omega, s.n_modes, s.seed))
    write_run(run_dir, run)
    if not s.write_summary:
        (run_dir / SUMMARY_FILE).unlink()
    return SyntheticRun(
        run_dir=run_dir,
        term_names=[t.name for t in terms],
        xi_modes=ensemble.xi_modes,
        weights=weights_arr,
        labels=ensemble.labels,
        transform=transform,
        period=float(2 * np.pi / s.omega),
        amplitude=np.sqrt(s.mu) * np.linalg.norm(skew_matrix, axis=1),
    )


def _run_data(
    terms: Sequence[Term],
    ensemble: SampledXi,
    encoded: EncodedTestData,
    loss: np.ndarray,
    signal: tuple[np.ndarray, np.ndarray],
    examples: tuple[np.ndarray, np.ndarray],
    *,
    n_chains: int,
    dt: float,
    grid: int,
    metrics: dict[str, np.ndarray] | None,
    n_iterations: int,
    config: dict,
) -> RunData:
    """The synthetic run as ``eae_sindy`` stores one: float32 arrays, ``n_chains`` chains of
    consecutive samples, the data's times ``signal`` = (t, values) and the example snapshots
    ``examples`` = (truth, reconstruction)."""
    n_samples = len(loss)
    t_data, data_signal = signal
    x_examples, x_recon = examples
    return RunData(
        xi=ensemble.xi.astype(np.float32),
        terms=tuple(terms),
        poly_order=3,
        include_sine=True,
        chain=(np.arange(n_samples) * n_chains // n_samples).astype(np.int32),
        loss=loss.astype(np.float32),
        x_relative_mse=np.full(n_samples, 0.01, np.float32),
        dx_relative_mse=np.full(n_samples, 0.1, np.float32),
        z=encoded.z.astype(np.float32),
        dz=encoded.dz.astype(np.float32),
        t=encoded.t,
        data_signal=data_signal.astype(np.float32),
        t_data_signal=t_data,
        x_examples=x_examples.astype(np.float32),
        x_recon_examples=x_recon.astype(np.float32),
        dt=dt,
        grid_shape=(grid, grid),
        temperature=1e-3,
        package_version="synthetic",
        metrics=metrics,
        training={
            "outer_iterations": n_iterations,
            "stopped": "budget",
            "wall_time_s": 0.5 * n_iterations,
        },
        config=config,
    )


def _mode_weights_and_transform(
    latent_dim: int,
    n_modes: int,
    weights: tuple[float, ...] | None,
    transform: SignedPermutation | None,
) -> tuple[np.ndarray, SignedPermutation | None]:
    """The normalised weights of the modes (default (0.6, 0.4) for two) and the map from mode 0
    to mode 1 (default: swap z0 ↔ z1; None with one mode)."""
    if weights is None:
        weights = (0.6, 0.4) if n_modes == 2 else (1.0,)
    weights_arr = np.asarray(weights, dtype=float) / np.sum(weights)
    if transform is None and n_modes == 2:
        perm = list(range(latent_dim))
        perm[0], perm[1] = 1, 0
        transform = SignedPermutation(tuple(perm), (1,) * latent_dim)
    if n_modes == 1:
        transform = None
    return weights_arr, transform


class SampledXi(NamedTuple):
    """The Ξ samples of a synthetic ensemble.

    Attributes:
      xi: (n_samples, n_terms, latent_dim) the samples.
      labels: (n_samples,) mode of each sample.
      scale: (n_samples,) the random factor multiplying each sample's Ξ.
      xi_modes: (n_modes, n_terms, latent_dim) noise-free Ξ of each mode.
    """

    xi: np.ndarray
    labels: np.ndarray
    scale: np.ndarray
    xi_modes: np.ndarray


def _sample_xi(
    rng: np.random.Generator,
    xi0: np.ndarray,
    terms: Sequence[Term],
    n_samples: int,
    weights_arr: np.ndarray,
    transform: SignedPermutation | None,
    xi_noise: float,
    xi_scale_noise: float,
) -> SampledXi:
    """Samples of mode 0's Ξ with a random scale and independent noise; the mode-1 ones mapped
    by ``transform``."""
    n_terms, latent_dim = len(terms), len(terms[0].powers)
    labels = np.zeros(n_samples, dtype=int)
    if transform is not None:
        n1 = int(round(weights_arr[1] * n_samples))
        labels[rng.permutation(n_samples)[:n1]] = 1
    scale = 1.0 + xi_scale_noise * rng.standard_normal(n_samples)
    noise = rng.standard_normal((n_samples, n_terms, latent_dim))
    xi = scale[:, None, None] * xi0 + xi_noise * noise
    if transform is not None:
        # Each mode-1 sample is the exact image of a mode-0-like sample (noise included).
        xi[labels == 1] = transform_xi(xi[labels == 1], terms, transform)
    xi_modes = np.stack([xi0] + ([transform_xi(xi0, terms, transform)] if transform else []))
    return SampledXi(xi, labels, scale, xi_modes)


class EncodedTestData(NamedTuple):
    """The encoded test trajectory of every sample.

    Attributes:
      t: (n_eval,) times.
      z_true: (n_eval, latent_dim) the noise-free orbit of mode 0.
      z, dz: (n_samples, n_eval, latent_dim) each sample's codes and their derivatives.
    """

    t: np.ndarray
    z_true: np.ndarray
    z: np.ndarray
    dz: np.ndarray


def _encoded_test_data(
    rng: np.random.Generator,
    xi0: np.ndarray,
    terms: Sequence[Term],
    labels: np.ndarray,
    transform: SignedPermutation | None,
    skew_matrix: np.ndarray,
    mu: float,
    n_eval: int,
    dt: float,
) -> EncodedTestData:
    """The true orbit from slightly off the cycle, plus encoder noise; mode-1 samples see it
    through ``transform``."""
    n_samples, latent_dim = len(labels), len(terms[0].powers)
    tmat = transform.matrix() if transform is not None else np.eye(latent_dim)
    t = np.arange(n_eval) * dt
    z_init = np.zeros(latent_dim)
    z_init[:2] = skew_matrix @ np.array([1.2 * np.sqrt(mu), 0.1])
    z_init[2:] = 0.5
    z_true = odeint(lambda z, _: rhs(z, xi0, terms), z_init, t)
    dz_true = rhs(z_true, xi0, terms)
    z = np.broadcast_to(z_true, (n_samples, n_eval, latent_dim)).copy()
    dz = np.broadcast_to(dz_true, (n_samples, n_eval, latent_dim)).copy()
    z += 0.01 * rng.standard_normal(z.shape)
    dz += 0.01 * rng.standard_normal(dz.shape)
    mode1 = labels == 1
    z[mode1] = z[mode1] @ tmat.T
    dz[mode1] = dz[mode1] @ tmat.T
    return EncodedTestData(t, z_true, z, dz)


def _data_signal(
    rng: np.random.Generator, n_test: int, dt: float, mu: float, omega: float
) -> tuple[np.ndarray, np.ndarray]:
    """The data's own oscillation: times and three "principal components" of a rotating
    pattern, with a little noise."""
    t_data = np.arange(n_test) * dt
    phase = omega * t_data + 0.3
    data_signal = np.stack(
        [np.cos(phase), np.sin(phase), 0.1 * np.cos(2 * phase)], axis=1
    ) * np.sqrt(mu) + 0.01 * rng.standard_normal((n_test, 3))
    return t_data, data_signal


def _example_snapshots(
    rng: np.random.Generator,
    z_true: np.ndarray,
    skew_matrix: np.ndarray,
    grid: int,
    n_examples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Example snapshots, a rotating one-armed pattern on a ``grid × grid`` image driven by the
    Hopf coordinates of the orbit, and their noisy reconstructions."""
    xs = np.linspace(-1.0, 1.0, grid)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    r, th = np.hypot(gx, gy), np.arctan2(gy, gx)
    phi1 = (np.exp(-2 * r**2) * np.cos(th - 3 * r)).ravel()
    phi2 = (np.exp(-2 * r**2) * np.sin(th - 3 * r)).ravel()
    idx = np.linspace(0, len(z_true) - 1, n_examples).astype(int)
    w_true = z_true[:, :2] @ np.linalg.inv(skew_matrix).T
    x_examples = w_true[idx, :1] * phi1 + w_true[idx, 1:2] * phi2
    x_recon = x_examples + 0.02 * rng.standard_normal(x_examples.shape)
    return x_examples, x_recon


def _config_record(hopf: bool, mu: float, omega: float, n_modes: int, seed: int) -> dict:
    """The ``config.json`` of a synthetic run."""
    return {
        "synthetic": True,
        "model": "hopf" if hopf else "custom",
        "mu": mu,
        "omega": omega,
        "n_modes": n_modes,
        "seed": seed,
        "package_version": "synthetic",
    }


def _metrics(n_iterations: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A plausible training curve: the loss decays to 1 with some spread."""
    k = np.arange(n_iterations, dtype=float)
    base = 1.0 + 9.0 * np.exp(-k / 8.0)
    spread = np.abs(rng.standard_normal((n_iterations, 2))) * 0.2 * base[:, None]
    columns = {
        "iteration": k,
        "loss_mean": base,
        "loss_std": 0.1 * base,
        "loss_min": base - spread[:, 0],
        "loss_max": base + spread[:, 1],
        "loss_after_update": base * (0.97 + 0.02 * rng.random(n_iterations)),
        "kinetic_temperature": 1e-3 * (1 + 0.1 * rng.standard_normal(n_iterations)),
        "decoder_grad_norm": np.abs(rng.standard_normal(n_iterations)) + 0.1,
        "diverged": np.zeros(n_iterations),
        "elapsed_s": 0.5 * (k + 1),
        "step_size": np.full(n_iterations, 1e-5),
        "curvature_max": 3000.0 + 10.0 * k,
    }
    assert tuple(columns) == METRICS_COLUMNS
    return columns
