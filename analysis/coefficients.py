"""Statistics of the ensemble of SINDy coefficient matrices Ξ.

Per coefficient (term k of equation j): mean, std, quantiles, the peaks of a Gaussian kernel
density estimate (the dominant one is the paper's "mode"), the inclusion probability
P(|ξ| > threshold) and the paper's significance rule (|mean| > threshold **and**
|mode| > threshold). Jointly: a Gaussian-mixture clustering of the significant coefficients into
modes, the number of components chosen by BIC and then merged while any two are not clearly
separated (Ashman's D below ``min_separation``), so that a skewed but unimodal cloud is not
reported as several modes.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.signal import fftconvolve, find_peaks
from scipy.stats import gaussian_kde
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

__all__ = [
    "PEAK_CRITERIA",
    "PeakCriteria",
    "KdeModes",
    "CoefficientStats",
    "ModeClustering",
    "kde_modes",
    "coefficient_stats",
    "find_modes",
    "clustering_mask",
]


class PeakCriteria(NamedTuple):
    """Which local maxima of a KDE are real peaks, as fractions of the highest density: a peak's
    density is at least ``min_height`` and its prominence at least ``min_prominence`` of it."""

    min_prominence: float = 0.05
    min_height: float = 0.1


PEAK_CRITERIA = PeakCriteria()
"""The default criteria: 5 % prominence, 10 % height."""


class KdeModes(NamedTuple):
    """Peaks of a 1-D KDE.

    Attributes:
      peaks: (n_peaks,) peak locations, highest density first.
      heights: (n_peaks,) density at the peaks.
      grid, density: (grid_size,) the evaluated KDE, or None for a (near-)constant sample.
    """

    peaks: np.ndarray
    heights: np.ndarray
    grid: np.ndarray | None
    density: np.ndarray | None


def kde_modes(
    samples: np.ndarray,
    *,
    grid_size: int = 512,
    peak_criteria: PeakCriteria = PEAK_CRITERIA,
    bw_method: str | float = "scott",
) -> KdeModes:
    """Local maxima of a Gaussian KDE that are real features of the distribution.

    A local maximum counts when its density is at least ``peak_criteria.min_height`` times the
    highest one and its prominence at least ``peak_criteria.min_prominence`` times the highest
    density, so ripples in the tails are not peaks. Locations are refined by a parabola through
    the three grid points.

    Args:
      samples: (n,) values.
      grid_size: number of evaluation points.
      peak_criteria: relative peak criteria (fractions of the maximum density).
      bw_method: passed to ``scipy.stats.gaussian_kde``.

    Returns:
      ``KdeModes``. A sample with (numerically) zero spread has one peak at its mean and no curve.
    """
    x = np.asarray(samples, dtype=float).ravel()
    mean = float(x.mean())
    spread = float(x.std())
    if spread <= 1e-12 * max(1.0, abs(mean)) or np.unique(x).size < 3:
        return KdeModes(np.array([mean]), np.array([np.inf]), None, None)
    try:
        kde = gaussian_kde(x, bw_method=bw_method)
    except np.linalg.LinAlgError:
        return KdeModes(np.array([mean]), np.array([np.inf]), None, None)
    bw = float(np.sqrt(kde.covariance[0, 0]))
    lo, hi = np.quantile(x, [0.001, 0.999])
    lo, hi = lo - 3 * bw, hi + 3 * bw
    # At least 8 points per bandwidth, so peaks are resolved even with wide-spread outliers.
    grid_size = int(np.clip(np.ceil(8 * (hi - lo) / bw), grid_size, 16384))
    grid = np.linspace(lo, hi, grid_size)
    density = _evaluate_kde(x, bw, grid)
    top = float(density.max())
    idx, _ = find_peaks(
        density,
        height=peak_criteria.min_height * top,
        prominence=peak_criteria.min_prominence * top,
    )
    if idx.size == 0:
        idx = np.array([int(np.argmax(density))])
    locs = []
    for i in idx:
        loc = grid[i]
        if 0 < i < grid_size - 1:
            y0, y1, y2 = density[i - 1 : i + 2]
            denom = y0 - 2 * y1 + y2
            if denom < 0:
                loc = grid[i] + 0.5 * (y0 - y2) / denom * (grid[1] - grid[0])
        locs.append(loc)
    order = np.argsort(-density[idx])
    return KdeModes(np.asarray(locs)[order], density[idx][order], grid, density)


def _evaluate_kde(x: np.ndarray, bw: float, grid: np.ndarray) -> np.ndarray:
    """The Gaussian KDE of ``gaussian_kde(x)(grid)`` (equal weights, 1-D) on a uniform grid.

    scipy's general d-dimensional evaluation goes through triangular solves and was ~10x slower;
    small problems sum the kernels directly, large ones use linear binning onto the grid and an
    FFT convolution (relative error ~(grid step / bandwidth)² ≤ 1e-2, samples off the grid — at
    most 0.2 % by construction — dropped).
    """
    if x.size * grid.size > 2_000_000:
        step = grid[1] - grid[0]
        pos = (x - grid[0]) / step
        keep = (pos >= 0) & (pos < grid.size - 1)
        i = np.floor(pos[keep]).astype(int)
        w = pos[keep] - i
        counts = np.bincount(i, 1 - w, grid.size) + np.bincount(i + 1, w, grid.size)
        half = min(int(np.ceil(5 * bw / step)), grid.size - 1)
        m = np.arange(-half, half + 1) * step / bw
        dens = fftconvolve(counts, np.exp(-0.5 * m * m), mode="same")
        return np.maximum(dens, 0.0) / (x.size * bw * np.sqrt(2 * np.pi))
    out = np.zeros(grid.size)
    norm = 1.0 / (x.size * bw * np.sqrt(2 * np.pi))
    for start in range(0, x.size, 4096):
        u = (grid[:, None] - x[None, start : start + 4096]) / bw
        out += np.exp(-0.5 * u * u).sum(axis=1)
    return out * norm


class CoefficientStats(NamedTuple):
    """Per-coefficient statistics; every array is (n_terms, latent_dim).

    Attributes:
      mean, std, q05, q50, q95: moments and quantiles over the samples.
      mode: the dominant KDE peak.
      n_peaks: number of KDE peaks (int); > 1 flags a multi-modal coefficient.
      inclusion: fraction of samples with |ξ| > threshold.
      significant: |mean| > threshold and |mode| > threshold.
      kde: nested list [term][equation] of ``KdeModes`` (all peaks and the curve).
      threshold: the threshold used.
    """

    mean: np.ndarray
    std: np.ndarray
    q05: np.ndarray
    q50: np.ndarray
    q95: np.ndarray
    mode: np.ndarray
    n_peaks: np.ndarray
    inclusion: np.ndarray
    significant: np.ndarray
    kde: list[list[KdeModes]]
    threshold: float


def coefficient_stats(
    xi: np.ndarray,
    *,
    threshold: float = 0.1,
    peak_criteria: PeakCriteria = PEAK_CRITERIA,
) -> CoefficientStats:
    """Statistics of every coefficient.

    Args:
      xi: (n_samples, n_terms, latent_dim) Ξ samples.
      threshold: magnitude threshold for inclusion and significance.
      peak_criteria: which KDE peaks count, see ``kde_modes``.

    Returns:
      ``CoefficientStats``.
    """
    xi = np.asarray(xi, dtype=float)
    _, n_terms, d = xi.shape
    q05, q50, q95 = np.quantile(xi, [0.05, 0.5, 0.95], axis=0)
    kde = [
        [kde_modes(xi[:, k, j], peak_criteria=peak_criteria) for j in range(d)]
        for k in range(n_terms)
    ]
    mode = np.array([[kde[k][j].peaks[0] for j in range(d)] for k in range(n_terms)])
    n_peaks = np.array([[len(kde[k][j].peaks) for j in range(d)] for k in range(n_terms)])
    mean = xi.mean(axis=0)
    return CoefficientStats(
        mean=mean,
        std=xi.std(axis=0),
        q05=q05,
        q50=q50,
        q95=q95,
        mode=mode,
        n_peaks=n_peaks,
        inclusion=(np.abs(xi) > threshold).mean(axis=0),
        significant=(np.abs(mean) > threshold) & (np.abs(mode) > threshold),
        kde=kde,
        threshold=float(threshold),
    )


def clustering_mask(stats: CoefficientStats, min_inclusion: float = 0.5) -> np.ndarray:
    """Coefficients the mode clustering uses: significant, or above threshold in most samples.

    The second condition keeps coefficients whose sign differs between modes (e.g. modes related
    by z_i → −z_i): their mean is ≈ 0, so they are not "significant", yet they carry the modes.

    Returns:
      (n_terms, latent_dim) bool.
    """
    return stats.significant | (stats.inclusion >= min_inclusion)


class ModeClustering(NamedTuple):
    """Modes of the joint distribution of the significant coefficients.

    Attributes:
      labels: (n_samples,) mode of each sample; modes are ordered by decreasing weight.
      weights: (n_modes,) fraction of samples in each mode.
      centres: (n_modes, n_terms, latent_dim) mean full Ξ of each mode's members.
      features: list of (term, equation) index pairs the clustering used.
      bic: BIC of the mixture for 1..max_components components.
      n_components_bic: the number of components BIC chose (before merging).
      chains: per mode, the chains holding at least ``MIN_CHAIN_SHARE`` of their samples in it
        (empty lists without chain labels).
      drift: the mixture's components were not each visited by two chains, so they were merged
        into one basin within which the chains drift (False without chain labels).
    """

    labels: np.ndarray
    weights: np.ndarray
    centres: np.ndarray
    features: list[tuple[int, int]]
    bic: list[float]
    n_components_bic: int
    chains: list[list[int]] = []
    drift: bool = False

    @property
    def n_modes(self) -> int:
        return len(self.weights)


def _ashman_d(a: np.ndarray, b: np.ndarray) -> float:
    """Ashman's D between two clouds (rows = samples): > 2 means clearly separated."""
    if len(a) < 2 or len(b) < 2:
        return 0.0
    delta = a.mean(axis=0) - b.mean(axis=0)
    cov = np.atleast_2d(np.cov(a, rowvar=False)) + np.atleast_2d(np.cov(b, rowvar=False))
    cov += 1e-9 * np.eye(len(delta))
    return float(np.sqrt(2.0 * delta @ np.linalg.solve(cov, delta)))


MIN_CHAIN_SHARE = 0.05
"""A mode is real only if it holds at least this share of the samples of two or more chains."""


def _chains_visiting(labels: np.ndarray, chain: np.ndarray, mode: int) -> list[int]:
    return [
        int(c) for c in np.unique(chain) if np.mean(labels[chain == c] == mode) >= MIN_CHAIN_SHARE
    ]


def _keep_visited_modes(x: np.ndarray, labels: np.ndarray, chain: np.ndarray) -> np.ndarray:
    """Merge every mode that fewer than two chains visit into the nearest mode that two do
    visit; with none (or one) such mode, everything is one basin (all labels 0)."""
    ids = np.unique(labels)
    kept = [m for m in ids if len(_chains_visiting(labels, chain, m)) >= 2]
    if len(kept) < 2:
        return np.zeros_like(labels)
    centres = np.stack([x[labels == m].mean(axis=0) for m in kept])
    out = labels.copy()
    for m in set(ids) - set(kept):
        members = labels == m
        nearest = np.argmin(((x[members, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        out[members] = np.asarray(kept)[nearest]
    return out


def find_modes(
    xi: np.ndarray,
    significant: np.ndarray,
    *,
    chain: np.ndarray | None = None,
    max_components: int = 4,
    min_separation: float = 2.0,
    seed: int = 0,
) -> ModeClustering:
    """Cluster the joint samples of the significant coefficients into modes.

    The mixture is fitted on the samples of all chains pooled. With chain labels, a mode is
    reported only if it holds at least 5 % of the samples of at least two chains: a component
    that one chain alone occupies is that chain's drift, not a mode, and is merged into the
    nearest real mode (or, with none, everything is one basin and ``drift`` is set).

    Args:
      xi: (n_samples, n_terms, latent_dim).
      significant: (n_terms, latent_dim) bool mask of the coefficients to cluster on (usually
        ``clustering_mask(stats)``).
      chain: (n_samples,) chain of each sample, or None (one chain: no visitation rule).
      max_components: largest number of mixture components tried.
      min_separation: merge two modes whose Ashman's D is below this.
      seed: random state of the mixture fits.

    Returns:
      ``ModeClustering``; a single mode when nothing is significant.
    """
    xi = np.asarray(xi, dtype=float)
    n = xi.shape[0]
    features = [tuple(int(i) for i in p) for p in np.argwhere(significant)]
    labels = np.zeros(n, dtype=int)
    bic: list[float] = []
    n_bic = 1
    drift = False
    if features and n >= 10:
        x = np.stack([xi[:, k, j] for k, j in features], axis=1)
        scale = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        fits = []
        for c in range(1, min(max_components, n // 5) + 1):
            gm = GaussianMixture(c, covariance_type="full", n_init=2, random_state=seed)
            # One BLAS thread: these fits are small, and oversubscribed threads on a shared
            # CPU made them ~10x slower.
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore")
                gm.fit(x)
            fits.append(gm)
            bic.append(float(gm.bic(x)))
        best = fits[int(np.argmin(bic))]
        n_bic = best.n_components
        labels = best.predict(x)
        labels = _merge_close(x, labels, min_separation)
        if chain is not None and len(np.unique(chain)) >= 2:
            several = len(np.unique(labels)) > 1
            labels = _keep_visited_modes(x, labels, np.asarray(chain))
            drift = several and len(np.unique(labels)) == 1
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    remap = {int(old): new for new, old in enumerate(order)}
    labels = np.array([remap[int(v)] for v in labels])
    weights = np.bincount(labels) / n
    centres = np.stack([xi[labels == m].mean(axis=0) for m in range(len(weights))])
    chains = (
        []
        if chain is None
        else [_chains_visiting(labels, np.asarray(chain), m) for m in range(len(weights))]
    )
    return ModeClustering(labels, weights, centres, features, bic, n_bic, chains, drift)


def _merge_close(x: np.ndarray, labels: np.ndarray, min_separation: float) -> np.ndarray:
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            return labels
        best = None
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1 :]:
                d = _ashman_d(x[labels == a], x[labels == b])
                if best is None or d < best[0]:
                    best = (d, a, b)
        if best[0] >= min_separation:
            return labels
        labels[labels == best[2]] = best[1]
