"""Report figures (matplotlib, Agg backend). Each function returns a ``Figure``; nothing is shown.

All functions take plain arrays so they can be reused outside the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.coefficients import CoefficientStats  # noqa: E402

__all__ = [
    "coefficient_label",
    "fig_distributions",
    "fig_correlation",
    "fig_pairs",
    "fig_limit_cycles",
    "fig_training",
    "fig_snapshots",
    "strongest_pairs",
]

MODE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def coefficient_label(term: str, equation: str) -> str:
    """E.g. ``"x0' : x1"``."""
    return f"{equation} : {term}"


def _grid(n: int, ncols: int = 4, size: tuple[float, float] = (3.2, 2.4)):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    # Fixed spacing instead of tight_layout, which dominated the plotting time.
    fig.subplots_adjust(
        left=0.9 / (size[0] * ncols),
        right=1 - 0.2 / (size[0] * ncols),
        bottom=0.6 / (size[1] * nrows),
        top=1 - 0.55 / (size[1] * nrows),
        wspace=0.35,
        hspace=0.55,
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def fig_distributions(
    xi: np.ndarray,
    stats: CoefficientStats,
    features: Sequence[tuple[int, int]],
    term_names: Sequence[str],
    equations: Sequence[str],
) -> Figure:
    """Histogram + KDE of each listed coefficient, with its mean and KDE peaks marked.

    Args:
      xi: (n_samples, n_terms, latent_dim).
      stats: from ``coefficient_stats``.
      features: (term, equation) pairs to show.
      term_names, equations: labels.
    """
    fig, axes = _grid(max(len(features), 1))
    if not features:
        axes[0].text(0.5, 0.5, "no coefficient to show", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    thr = stats.threshold
    for ax, (k, j) in zip(axes, features, strict=False):
        x = xi[:, k, j]
        counts, edges = np.histogram(x, bins=60, density=True)
        ax.stairs(counts, edges, fill=True, color="0.8")
        kde = stats.kde[k][j]
        if kde.grid is not None:
            ax.plot(kde.grid, kde.density, color="tab:blue", lw=1.5, label="KDE")
        for p in kde.peaks:
            ax.axvline(p, color="tab:blue", ls=":", lw=1)
        ax.axvline(stats.mean[k, j], color="k", ls="--", lw=1, label="mean")
        ax.axvspan(-thr, thr, color="tab:red", alpha=0.08, lw=0)
        ax.set_title(coefficient_label(term_names[k], equations[j]), fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Coefficient distributions (shaded: |ξ| ≤ threshold)", fontsize=10)
    return fig


def fig_correlation(xi: np.ndarray, features: Sequence[tuple[int, int]], labels: Sequence[str]):
    """Pearson correlation heatmap of the listed coefficients."""
    n = len(features)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * max(n, 2), 0.6 + 0.5 * max(n, 2)))
    if n < 2:
        ax.text(0.5, 0.5, "fewer than two significant coefficients", ha="center", va="center")
        ax.set_axis_off()
        return fig
    corr = _corr(xi, features)
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    if n <= 14:
        for a in range(n):
            for b in range(n):
                colour = "w" if abs(corr[a, b]) > 0.6 else "k"
                ax.text(b, a, f"{corr[a, b]:.2f}", ha="center", va="center", fontsize=6, c=colour)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson r")
    ax.set_title("Correlation of significant coefficients", fontsize=10)
    fig.tight_layout()
    return fig


def _corr(xi: np.ndarray, features: Sequence[tuple[int, int]]) -> np.ndarray:
    x = np.stack([xi[:, k, j] for k, j in features], axis=1)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return (x.T @ x) / len(x)


def strongest_pairs(
    xi: np.ndarray, features: Sequence[tuple[int, int]], n_pairs: int = 3
) -> list[tuple[int, int]]:
    """Indices (into ``features``) of the pairs with the largest |Pearson r|."""
    if len(features) < 2:
        return []
    corr = np.abs(_corr(xi, features))
    iu = np.triu_indices(len(features), 1)
    order = np.argsort(-corr[iu])[:n_pairs]
    return [(int(iu[0][o]), int(iu[1][o])) for o in order]


def fig_pairs(
    xi: np.ndarray,
    features: Sequence[tuple[int, int]],
    labels: Sequence[str],
    mode_labels: np.ndarray,
    mode_centres: np.ndarray,
    *,
    n_pairs: int = 3,
    max_points: int = 2000,
    seed: int = 0,
) -> Figure:
    """Scatter of the most strongly correlated coefficient pairs, coloured by detected mode.

    Args:
      xi: (n_samples, n_terms, latent_dim).
      features: candidate (term, equation) pairs (the significant ones).
      labels: one label per feature.
      mode_labels: (n_samples,) mode of each sample.
      mode_centres: (n_modes, n_terms, latent_dim), marked with crosses.
      n_pairs: number of panels.
      max_points: subsample size for plotting.
      seed: subsampling seed.
    """
    pairs = strongest_pairs(xi, features, n_pairs)
    fig, axes = _grid(max(len(pairs), 1), ncols=3, size=(3.6, 3.2))
    if not pairs:
        axes[0].text(0.5, 0.5, "fewer than two significant coefficients", ha="center")
        axes[0].set_axis_off()
        return fig
    n = xi.shape[0]
    idx = np.random.default_rng(seed).permutation(n)[: min(n, max_points)]
    for ax, (a, b) in zip(axes, pairs, strict=False):
        (ka, ja), (kb, jb) = features[a], features[b]
        for m in range(len(mode_centres)):
            sel = idx[mode_labels[idx] == m]
            colour = MODE_COLOURS[m % len(MODE_COLOURS)]
            ax.scatter(xi[sel, ka, ja], xi[sel, kb, jb], s=3, alpha=0.4, color=colour)
            ax.scatter(
                mode_centres[m, ka, ja],
                mode_centres[m, kb, jb],
                marker="X",
                s=80,
                color=colour,
                edgecolor="k",
                label=f"mode {m}",
            )
        ax.set_xlabel(labels[a], fontsize=8)
        ax.set_ylabel(labels[b], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Most correlated coefficient pairs, coloured by mode", fontsize=10)
    return fig


def fig_limit_cycles(
    names: Sequence[str],
    orbits: Sequence[np.ndarray],
    statuses: Sequence[str],
    encoded: Sequence[np.ndarray | None],
) -> Figure:
    """Integrated trajectories in the (z0, z1) plane, one panel per model.

    Args:
      names: panel titles.
      orbits: (n_t, latent_dim) trajectories; the second half is drawn bold.
      statuses: orbit classification, shown in the title.
      encoded: (n_eval, latent_dim) encoded test trajectory to overlay (or None).
    """
    fig, axes = _grid(max(len(names), 1), ncols=3, size=(3.6, 3.4))
    for ax, name, z, status, enc in zip(axes, names, orbits, statuses, encoded, strict=False):
        half = len(z) // 2
        finite = np.all(np.isfinite(z), axis=1)
        ax.plot(z[:half, 0][finite[:half]], z[:half, 1][finite[:half]], color="0.7", lw=0.7)
        ax.plot(z[half:, 0][finite[half:]], z[half:, 1][finite[half:]], color="tab:blue", lw=1.5)
        ax.plot(z[0, 0], z[0, 1], "o", color="tab:blue", ms=4)
        if enc is not None:
            ax.plot(enc[:, 0], enc[:, 1], ".", color="tab:orange", ms=2, label="encoded test data")
        ax.set_title(f"{name}: {status.replace('_', ' ')}", fontsize=9)
        ax.set_xlabel("z0", fontsize=8)
        ax.set_ylabel("z1", fontsize=8)
        ax.tick_params(labelsize=7)
        if status == "diverged":
            lim = np.max(np.abs(enc)) * 3 if enc is not None else 10
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
    if any(e is not None for e in encoded):
        axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Integrated models (grey: transient, blue: second half)", fontsize=10)
    return fig


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean()
    denom = float(x @ x)
    if denom == 0.0:
        return np.ones(max_lag + 1)
    return np.array([float(x[: len(x) - k] @ x[k:]) / denom for k in range(max_lag + 1)])


def fig_traces(
    xi: np.ndarray,
    chain: np.ndarray | None,
    features: Sequence[tuple[int, int]],
    labels: Sequence[str],
    r_hat: np.ndarray,
    ess_bulk: np.ndarray,
    max_rows: int = 6,
) -> Figure:
    """Per coefficient: its trace in each chain (draw order, chains coloured) and each chain's
    autocorrelation, titled with R-hat and bulk-ESS."""
    shown = list(features)[:max_rows]
    chain = np.zeros(len(xi), int) if chain is None else np.asarray(chain)
    ids = np.unique(chain)
    fig, axes = plt.subplots(len(shown), 2, figsize=(10, 1.9 * len(shown) + 0.4), squeeze=False)
    for row, ((k, j), label) in enumerate(zip(shown, labels, strict=False)):
        trace_ax, acf_ax = axes[row]
        for i, c in enumerate(ids):
            values = xi[chain == c, k, j]
            colour = f"C{i % 10}"
            trace_ax.plot(values, lw=0.7, color=colour, label=f"chain {c}")
            lags = min(len(values) - 1, 100)
            acf_ax.plot(_autocorrelation(values, lags), lw=0.9, color=colour)
        trace_ax.set_title(
            f"{label}: R-hat {r_hat[k, j]:.3f}, bulk-ESS {ess_bulk[k, j]:.0f}", fontsize=9
        )
        acf_ax.axhline(0.0, color="0.5", lw=0.5)
        acf_ax.set_ylim(-0.5, 1.05)
        acf_ax.set_title("autocorrelation by chain", fontsize=9)
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("lag (draws)")
    if len(ids) > 1:
        axes[0, 0].legend(fontsize=7, frameon=False, ncol=min(len(ids), 4))
    fig.tight_layout()
    return fig


def fig_training(metrics: dict[str, np.ndarray]) -> Figure:
    """Loss envelope of the ensemble members per outer iteration and the post-update loss."""
    it = metrics["iteration"]
    has_temp = "kinetic_temperature" in metrics
    fig, axes = plt.subplots(1, 2 if has_temp else 1, figsize=(10 if has_temp else 5.5, 3.4))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    ax.fill_between(
        it,
        metrics["loss_min"],
        metrics["loss_max"],
        color="tab:blue",
        alpha=0.25,
        lw=0,
        label="members min–max",
    )
    ax.plot(it, metrics["loss_mean"], color="tab:blue", lw=1.5, label="members mean")
    if "loss_after_update" in metrics:
        ax.plot(it, metrics["loss_after_update"], color="tab:red", lw=1, label="after update")
    if "diverged" in metrics and np.any(metrics["diverged"] > 0):
        bad = metrics["diverged"] > 0
        ax.plot(it[bad], metrics["loss_mean"][bad], "kx", label="diverged")
    if np.all(metrics["loss_min"] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Training loss", fontsize=10)
    if has_temp:
        axes[1].plot(it, metrics["kinetic_temperature"], color="tab:green")
        axes[1].set_xlabel("outer iteration")
        axes[1].set_ylabel("kinetic temperature")
        axes[1].set_title("Sampler kinetic temperature", fontsize=10)
    fig.tight_layout()
    return fig


def fig_snapshots(
    x: np.ndarray, x_recon: np.ndarray, grid_shape: Sequence[int] | None, max_rows: int = 3
) -> Figure:
    """Truth, reconstruction and error of a few test snapshots.

    Args:
      x, x_recon: (n_examples, n_features).
      grid_shape: image shape of one snapshot (1-D line plots when None or not 2-D).
      max_rows: number of snapshots shown.
    """
    n = min(len(x), max_rows)
    fig, axes = plt.subplots(n, 3, figsize=(9, 2.6 * n + 0.4), squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.04, top=0.93, wspace=0.25, hspace=0.3)
    two_d = grid_shape is not None and len(grid_shape) == 2
    err = x_recon[:n] - x[:n]
    vmax = float(np.nanmax(np.abs(x[:n]))) or 1.0
    emax = float(np.nanmax(np.abs(err))) or 1.0
    for c, (data, title, lim) in enumerate(
        ((x[:n], "truth", vmax), (x_recon[:n], "reconstruction", vmax), (err, "error", emax))
    ):
        im = None
        for r in range(n):
            ax = axes[r, c]
            if two_d:
                im = ax.imshow(np.reshape(data[r], grid_shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.plot(data[r], lw=0.8)
            ax.set_title(f"snapshot {r}: {title}", fontsize=9)
        if im is not None:
            fig.colorbar(im, ax=axes[:, c], shrink=0.8)
    return fig
