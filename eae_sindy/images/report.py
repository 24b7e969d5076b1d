"""Figures, the comparison table (Markdown + JSON) and the report (Markdown + self-contained HTML).

The comparison and the report are :mod:`analysis.document` blocks, rendered by its
``to_markdown`` (``comparison.md``, ``report.md``) and ``to_html`` (``report.html``, figures
embedded), the same renderer as the SINDy report of :mod:`analysis.report`.

Figures (PNG, ``figures/*.png``, also embedded as base64 in ``report.html``):

* ``reconstructions.png``: test images and each model's reconstruction (AE: its code; VAE: the
  posterior mean; EAE: the ensemble-mean latent of the collected encoders, decoded once);
* ``latent_variance.png``: per-unit variance across the test set (log scale), threshold 0.01;
* ``training_curves.png``: AE/VAE minibatch loss per logged chunk; the EAE's loss over the M
  ensemble members of every outer iteration (min/max envelope, mean) and after the decoder step;
* ``eae_generations.png``: Algorithm 2 — (left) the first test images decoded under different
  sampled encoders, decoder fixed (one column per encoder, spread over the collected ensemble);
  (right) new images decoded from latents drawn from a Gaussian fitted to the pooled ensemble
  latents (mean and full covariance over encoders × test images);
* the paper's Figure 2, for the MNIST data sets (labelled digits):
  ``digit_interpolation.png`` (Fig. 2a): each model's decoder applied along the straight line
  between its mean codes of two digits (0 and 8; EAE: ensemble-mean latents), under the test
  data's own mean images of the two digits and their pixel-wise blends;
  ``digit_latents.png`` (Fig. 2b): per-digit distributions (violins) of three latent dimensions
  active in every model, one row per model, each panel marked with the dimension's variance A_n.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from analysis.document import Block, Heading, Image, Para, Table, to_html, to_markdown
from simulators.atomic_files import atomic_write_bytes, atomic_write_json

__all__ = [
    "comparison_blocks",
    "comparison_markdown",
    "digit_interpolation_figure",
    "digit_latent_figure",
    "write_report",
]

_NAMES = {"eae": "EAE", "vae": "VAE", "ae": "AE"}


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


_HEADERS = ["model", "test MSE (per pixel)", "active units", "linear probe acc.", "KL (nats)",
            "MI (nats)", "train time (s)"]


def comparison_blocks(table: dict[str, Any]) -> list[Block]:
    """The Table-1-style comparison: one line on the data, then the table."""
    latent = table["latent_dim"]
    rows = [
        [_NAMES[name], _fmt(row["mse"]), f"{row['active_units']}/{latent}",
         _fmt(row.get("probe_accuracy"), ".3f"), _fmt(row.get("kl"), ".2f"),
         _fmt(row.get("mutual_information"), ".2f"), _fmt(row["train_time_s"], ".1f")]
        for name, row in table["models"].items()
    ]
    rows.append(["mean image", _fmt(table["baseline_mse"]), "–", "–", "–", "–", "–"])
    return [
        Para(f"Data set: {table['dataset']} ({table['n_test']} test images, latent dim {latent});"
             f" mean-image baseline MSE {_fmt(table['baseline_mse'])}."),
        Table(_HEADERS, rows),
    ]


def comparison_markdown(table: dict[str, Any]) -> str:
    """The Table-1-style comparison as Markdown."""
    return to_markdown(comparison_blocks(table))


# ------------------------------------------------------------------------------------ figures


def _tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows·cols, H, W[, C]) → one (rows·H, cols·W[, C]) mosaic with 1-pixel gaps."""
    h, w = images.shape[1:3]
    channels = images.shape[3:] if images.ndim == 4 else ()
    canvas = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, *channels), np.float32)
    for i in range(min(len(images), rows * cols)):
        r, c = divmod(i, cols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = images[i]
    return np.clip(canvas, 0, 1)


def _show(ax, mosaic: np.ndarray, title: str) -> None:
    ax.imshow(mosaic, cmap="gray" if mosaic.ndim == 2 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _reconstruction_figure(originals: np.ndarray, recons: dict[str, np.ndarray]):
    import matplotlib.pyplot as plt

    rows = [("test images", originals)] + [(_NAMES[k], v) for k, v in recons.items()]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.1 * len(rows) + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows, strict=True):
        _show(ax, _tile(images, 1, len(images)), label)
    fig.tight_layout()
    return fig


def _variance_figure(variances: dict[str, np.ndarray], threshold: float):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(variances), 1, figsize=(8, 2.0 * len(variances) + 0.3),
                             squeeze=False)
    for ax, (name, var) in zip(axes[:, 0], variances.items(), strict=True):
        var = np.maximum(np.asarray(var, np.float64), 1e-12)
        active = var > threshold
        ax.bar(np.arange(len(var)), var, color=np.where(active, "tab:blue", "tab:gray"))
        ax.axhline(threshold, color="tab:red", lw=1, ls="--", label=f"threshold {threshold}")
        ax.set_yscale("log")
        ax.set_ylabel("variance")
        ax.set_title(f"{_NAMES[name]}: {int(active.sum())}/{len(var)} active units", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("latent unit")
    fig.tight_layout()
    return fig


def _curves_figure(histories: dict[str, list[dict]]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(4 * len(histories), 3.2), squeeze=False)
    for ax, (name, rows) in zip(axes[0], histories.items(), strict=True):
        if not rows:
            ax.set_title(f"{_NAMES[name]}: no history", fontsize=9)
            continue
        if name == "eae":
            it = np.array([r["iteration"] + 1 for r in rows])
            lo = np.array([r["loss_min"] for r in rows])
            hi = np.array([r["loss_max"] for r in rows])
            ax.fill_between(it, lo, hi, alpha=0.3, label="ensemble min–max")
            ax.plot(it, [r["loss_mean"] for r in rows], lw=1, label="ensemble mean")
            ax.plot(it, [r["loss_after_update"] for r in rows], lw=1,
                    label="after decoder update")
            ax.set_xlabel("decoder update (outer iteration)")
        else:
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=1, label="loss")
            if name == "vae":
                ax.plot([r["step"] for r in rows], [r["kl"] for r in rows], lw=1, label="KL")
            ax.set_xlabel("Adam step")
        ax.set_yscale("log")
        ax.set_title(_NAMES[name] + " training loss", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _generation_figure(originals: np.ndarray, by_encoder: np.ndarray, gaussian: np.ndarray):
    """``by_encoder``: (n_images, n_encoders, *shape); ``gaussian``: (k, *shape)."""
    import matplotlib.pyplot as plt

    n_img, n_enc = by_encoder.shape[:2]
    left = np.concatenate([originals[:, None], by_encoder], axis=1).reshape(
        n_img * (n_enc + 1), *originals.shape[1:])
    cols = int(math.ceil(math.sqrt(len(gaussian))))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5),
                             gridspec_kw={"width_ratios": [n_enc + 1, cols]})
    _show(axes[0], _tile(left, n_img, n_enc + 1),
          f"test image | decoded under {n_enc} sampled encoders")
    _show(axes[1], _tile(gaussian, int(math.ceil(len(gaussian) / cols)), cols),
          "decoded z ~ Gaussian fit to ensemble latents")
    fig.tight_layout()
    return fig


def digit_interpolation_figure(data: np.ndarray, rows: dict[str, np.ndarray],
                               pair: tuple[int, int] = (0, 8)):
    """The paper's Fig. 2a. ``data``: (n, *shape) the test data's mean image of digit
    ``pair[0]``, pixel-wise blends, and the mean image of ``pair[1]`` (first and last);
    ``rows``: per model (``eae``, ``vae``, ``ae``) its n decoded images along the straight line
    between its mean codes of the two digits."""
    import matplotlib.pyplot as plt

    n = len(data)
    labelled = [(f"test data: mean {pair[0]} → mean {pair[1]} (pixel blend)", data)]
    labelled += [(f"{_NAMES.get(k, k)}: decoded along mean code of {pair[0]} → of {pair[1]}", v)
                 for k, v in rows.items()]
    fig, axes = plt.subplots(len(labelled), 1, squeeze=False,
                             figsize=(0.8 * n + 0.6, 1.05 * len(labelled) + 0.3))
    for ax, (label, images) in zip(axes[:, 0], labelled, strict=True):
        _show(ax, _tile(np.asarray(images, np.float32), 1, n), label)
    fig.tight_layout()
    return fig


def _violin(ax, values: np.ndarray, position: int, color) -> None:
    """A violin of ``values`` at ``position``; fewer than two distinct values: points."""
    values = np.asarray(values, np.float64)
    if len(values) > 1 and np.ptp(values) > 0:
        parts = ax.violinplot([values], positions=[position], widths=0.8, showmedians=True,
                              showextrema=False)
        for body in parts["bodies"]:
            body.set_facecolor(color)
            body.set_alpha(0.6)
        parts["cmedians"].set_color(color)
    elif len(values):
        ax.plot([position] * len(values), values, "o", ms=3, color=color)


def digit_latent_figure(latents: dict[str, tuple[np.ndarray, np.ndarray]],
                        variances: dict[str, np.ndarray], dims: list[int],
                        threshold: float = 0.01):
    """The paper's Fig. 2b: one row per model, one column per latent dimension in ``dims``, in
    each panel the distribution (violin) of that dimension per digit. ``latents``: per model
    ``(z (n, d), labels (n,))``; ``variances``: per model the per-unit variance, shown as A_n
    in the panel's corner (grey when the unit is not active, i.e. ≤ ``threshold``)."""
    import matplotlib.pyplot as plt

    labels = np.unique(np.concatenate([np.asarray(y) for _, y in latents.values()]))
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(len(latents), len(dims), squeeze=False,
                             figsize=(3.4 * len(dims) + 0.4, 2.3 * len(latents) + 0.4))
    for r, (name, (z, y)) in enumerate(latents.items()):
        z, y = np.asarray(z), np.asarray(y)
        for c, dim in enumerate(dims):
            ax = axes[r, c]
            for i, label in enumerate(labels):
                _violin(ax, z[y == label, dim], i, colors(i % 10))
            variance = float(np.asarray(variances[name])[dim])
            ax.text(0.98, 0.95, f"$A_{{{dim}}}$ = {variance:.3g}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=8,
                    color="black" if variance > threshold else "gray",
                    bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
            ax.set_xticks(range(len(labels)), [str(v) for v in labels], fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            if r == 0:
                ax.set_title(f"latent dimension {dim}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{_NAMES.get(name, name)}: z", fontsize=9)
            if r == len(latents) - 1:
                ax.set_xlabel("digit", fontsize=8)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write_report(out: Path, table: dict[str, Any], *, originals: np.ndarray,
                 recons: dict[str, np.ndarray], variances: dict[str, np.ndarray],
                 histories: dict[str, list[dict]], generations: dict[str, np.ndarray] | None,
                 threshold: float = 0.01, digits: dict[str, Any] | None = None
                 ) -> dict[str, Path]:
    """Write ``comparison.md``, ``comparison.json``, ``figures/*.png``, ``report.md`` and
    ``report.html`` (each atomically); returns them by name.

    ``digits`` (labelled MNIST data): the inputs of the paper's Figure 2 — ``pair`` (two
    digits), ``data`` (the test data's blended mean images), ``interpolations`` (per model, its
    decoded interpolation), ``latents`` (per model, latent samples and their labels) and
    ``dims`` (the latent dimensions shown); see :func:`digit_interpolation_figure` and
    :func:`digit_latent_figure`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    out = Path(out)
    comparison = comparison_blocks(table)
    paths = {"comparison.md": out / "comparison.md", "comparison.json": out / "comparison.json"}
    atomic_write_bytes(paths["comparison.md"], to_markdown(comparison).encode())
    atomic_write_json(paths["comparison.json"], table)
    figures = {
        "reconstructions": (_reconstruction_figure(originals, recons),
                            "Reconstructions of test images (EAE: ensemble-mean latent)."),
        "latent_variance": (_variance_figure(variances, threshold),
                            f"Variance of each latent unit across the test set; units above "
                            f"{threshold} (dashed) are active. VAE: posterior mean; EAE: latent "
                            "samples pooled over test images and collected encoders."),
        "training_curves": (_curves_figure(histories), "Training curves."),
    }
    if generations is not None:
        figures["eae_generations"] = (
            _generation_figure(generations["originals"], generations["by_encoder"],
                               generations["gaussian"]),
            "Images generated from the EAE ensemble (Algorithm 2, decoder fixed): left, the "
            "first test images decoded under different sampled encoders; right, latents drawn "
            "from a Gaussian fitted to the pooled ensemble latents.")
    if digits is not None:
        a, b = digits["pair"]
        dims = ", ".join(str(d) for d in digits["dims"])
        figures["digit_interpolation"] = (
            digit_interpolation_figure(digits["data"], digits["interpolations"], (a, b)),
            f"Figure 2a analogue: images decoded along the straight line between each model's "
            f"mean codes of the test {a}s and {b}s (EAE: the ensemble-mean latent of each image; "
            f"VAE: one reparameterised sample per image; AE: its codes), under the test data's "
            f"own mean images of {a} and {b} (first and last) and their pixel-wise blends.")
        figures["digit_latents"] = (
            digit_latent_figure(digits["latents"], variances, list(digits["dims"]), threshold),
            f"Figure 2b analogue: per-digit distributions of latent dimensions {dims} (chosen at "
            f"random among those active in every model) over the test images; A_n is the unit's "
            f"variance across the test set. EAE: latent samples under encoders spread over the "
            f"collected ensemble (Algorithm 2), pooled; VAE: posterior means; AE: its codes.")
    images: list[Block] = []
    for name, (fig, caption) in figures.items():
        relative = f"figures/{name}.png"
        atomic_write_bytes(out / relative, _png(fig))
        paths[relative] = out / relative
        images.append(Image(relative, caption))
    blocks = [
        Heading(1, f"EAE vs VAE vs AE on {table['dataset']}"),
        *comparison,
        Para(f"Active units: latent dimensions whose variance across the test set exceeds "
             f"{threshold}. A collapsed unit carries no information about the input."),
        *images,
    ]
    paths["report.md"] = out / "report.md"
    atomic_write_bytes(paths["report.md"], to_markdown(blocks).encode())
    paths["report.html"] = out / "report.html"
    atomic_write_bytes(paths["report.html"],
                       to_html(blocks, out, f"Image autoencoders: {table['dataset']}").encode())
    return paths
