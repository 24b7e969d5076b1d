"""The paper's image metrics (Table 1) and a few diagnostics, on numpy arrays.

* per-pixel test MSE and the mean-image baseline (predict the training mean image);
* active units: latent dimensions whose variance across the test set exceeds 0.01 (VAE: of the
  posterior mean; EAE: of the latent samples pooled over test images *and* collected encoders);
* VAE: mean KL(q(z|x) ‖ p(z)) per image and per dimension, and the mutual information I(x; z)
  under the aggregate posterior (Monte Carlo, as in He et al. 2019);
* linear-probe accuracy: multinomial logistic regression from latents to labels;
* for the paper's Figure 2: per-class mean codes and the straight line between two of them
  (:func:`class_interpolation`), and latent dimensions active in every model
  (:func:`shared_active_dims`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "ACTIVE_THRESHOLD",
    "LatentMoments",
    "active_units",
    "batched",
    "class_interpolation",
    "linear_probe",
    "mean_image_mse",
    "mutual_information",
    "pixel_mse",
    "shared_active_dims",
]

ACTIVE_THRESHOLD = 0.01


def pixel_mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean over images and pixels of (x − x̂)²."""
    return float(np.mean(np.square(np.asarray(x, np.float64) - np.asarray(x_hat, np.float64))))


def mean_image_mse(x_train: np.ndarray, x_test: np.ndarray) -> float:
    """MSE of the baseline that predicts the training-set mean image for every test image."""
    return pixel_mse(x_test, np.broadcast_to(np.mean(x_train, axis=0), x_test.shape))


def active_units(variances: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Number of latent dimensions with variance > threshold."""
    return int(np.sum(np.asarray(variances) > threshold))


class LatentMoments:
    """Streaming per-dimension mean/variance and covariance of latent vectors (Chan et al.'s
    pairwise update, float64), for latents pooled over chunks of collected encoders."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros((dim, dim))

    def update(self, z: np.ndarray) -> None:
        z = np.asarray(z, np.float64).reshape(-1, self.mean.shape[0])
        n = len(z)
        if n == 0:
            return
        mean_b = z.mean(axis=0)
        centred = z - mean_b
        m2_b = centred.T @ centred
        delta = mean_b - self.mean
        total = self.count + n
        self.m2 += m2_b + np.outer(delta, delta) * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    @property
    def covariance(self) -> np.ndarray:
        return self.m2 / max(self.count, 1)

    @property
    def variance(self) -> np.ndarray:
        return np.diag(self.covariance).copy()


def batched(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, size: int = 500) -> np.ndarray:
    """Apply ``fn`` to consecutive slices of ``x`` and concatenate (bounded memory)."""
    return np.concatenate([np.asarray(fn(x[i:i + size])) for i in range(0, len(x), size)])


def mutual_information(mean: np.ndarray, log_var: np.ndarray, seed: int = 0) -> float:
    """I(x; z) ≈ E_x E_{z~q(z|x)}[log q(z|x) − log q(z)], q(z) = (1/N) Σ_n q(z|x_n), one z per x.

    ``mean``, ``log_var``: (N, d) posterior parameters of N test images."""
    mean = np.asarray(mean, np.float64)
    log_var = np.asarray(log_var, np.float64)
    n, d = mean.shape
    rng = np.random.default_rng(seed)
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
    const = -0.5 * d * np.log(2 * np.pi)
    var = np.exp(log_var)
    log_q_own = const - 0.5 * np.sum(log_var + np.square(z - mean) / var, axis=1)
    # log q(z_i | x_j) for all pairs, (N, N), built one block of rows at a time.
    log_q_marginal = np.empty(n)
    for start in range(0, n, 256):
        zi = z[start:start + 256, None, :]
        pair = const - 0.5 * np.sum(log_var[None] + np.square(zi - mean[None]) / var[None], axis=2)
        log_q_marginal[start:start + 256] = logsumexp(pair, axis=1) - np.log(n)
    return float(np.mean(log_q_own - log_q_marginal))


def linear_probe(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
                 y_test: np.ndarray, seed: int = 0) -> float:
    """Test accuracy of a logistic regression (standardised inputs) fitted on (z_train, y_train)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    probe.fit(np.asarray(z_train, np.float64), y_train)
    return float(probe.score(np.asarray(z_test, np.float64), y_test))


def class_interpolation(z: np.ndarray, labels: np.ndarray, start: int, end: int,
                        n_steps: int = 10) -> np.ndarray:
    """Codes on the straight line between the mean code of class ``start`` and that of class
    ``end`` (paper Eq. 17): row i is (1 − tᵢ)·z̄_start + tᵢ·z̄_end with tᵢ = i/(n_steps − 1),
    so the first row is z̄_start and the last z̄_end. ``z``: (n, d) codes (or images: any
    trailing shape) of ``labels`` (n,). Raises ``ValueError`` when a class has no member."""
    z = np.asarray(z, np.float64)
    labels = np.asarray(labels)
    means = []
    for label in (start, end):
        members = labels == label
        if not members.any():
            raise ValueError(f"no example of class {label} to interpolate from")
        means.append(z[members].mean(axis=0))
    t = np.linspace(0.0, 1.0, n_steps).reshape(-1, *([1] * (z.ndim - 1)))
    return (1.0 - t) * means[0] + t * means[1]


def shared_active_dims(variances: dict[str, np.ndarray] | list[np.ndarray], k: int = 3,
                       threshold: float = ACTIVE_THRESHOLD, seed: int = 0) -> list[int]:
    """``k`` latent dimensions (same index in every model) chosen as in the paper's Fig. 2b: at
    random (seeded) among the dimensions whose variance exceeds ``threshold`` in *every* model;
    when fewer than ``k`` are active everywhere, the rest are the dimensions with the largest
    smallest-over-models variance. Returned sorted."""
    stack = np.stack([np.asarray(v, np.float64)
                      for v in (variances.values() if isinstance(variances, dict) else variances)])
    k = min(k, stack.shape[1])
    shared = np.flatnonzero(np.all(stack > threshold, axis=0))
    rng = np.random.default_rng(seed)
    chosen = list(rng.choice(shared, size=min(k, len(shared)), replace=False))
    for dim in np.argsort(-stack.min(axis=0), kind="stable"):
        if len(chosen) >= k:
            break
        if dim not in chosen:
            chosen.append(dim)
    return sorted(int(d) for d in chosen)
