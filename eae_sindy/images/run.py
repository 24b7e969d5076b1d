"""The comparison pipeline behind ``python -m eae_sindy.images``: load the data set → train the
chosen models (AE, VAE, EAE) on the same split → evaluate them with the same metrics → write the
comparison table, per-model metrics and the HTML report.

Output directory (``OUT``)::

    config.json                  the run's configuration (a different run there is refused)
    comparison.md / .json        the Table-1-style comparison
    report.html / report.md      the report (figures embedded / linked); figures/*.png (MNIST
                                 data sets: also the paper's Figure 2, digit_interpolation.png
                                 and digit_latents.png)
    <model>/metrics.json         every number of that model (per-unit variances included)
    <model>/history.json         training curve rows
    <model>/checkpoint.msgpack   training state (resume)
    <model>/final.msgpack        trained (encoder, decoder) parameters; EAE: the last sampled
                                 encoder. eae/ensemble.npz: the reduced Algorithm-2 ensemble.

With ``resume=True`` finished models are loaded, unfinished ones continue from their checkpoint.

Nothing is written before everything is known to be valid: the configuration is checked when it
is built (:class:`~eae_sindy.settings.Settings`), the output directory is checked
(:func:`eae_sindy.output.check_output`) before the data are loaded, and claimed
(:func:`~eae_sindy.output.claim_output`: directory + ``config.json``) only once the data and the
models are known to fit.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

from eae_sindy import __version__
from eae_sindy.errors import ConfigError
from eae_sindy.images.config import MODELS, ImagesConfig
from eae_sindy.images.datasets import ImageData, load_dataset
from eae_sindy.images.losses import gaussian_kl
from eae_sindy.images.metrics import (
    ACTIVE_THRESHOLD,
    active_units,
    batched,
    class_interpolation,
    linear_probe,
    mean_image_mse,
    mutual_information,
    pixel_mse,
    shared_active_dims,
)
from eae_sindy.images.models import ImageModel, image_model
from eae_sindy.images.report import comparison_markdown, write_report
from eae_sindy.images.trainers import (
    EnsembleSummary,
    TrainedModel,
    train_ae,
    train_eae,
    train_vae,
)
from eae_sindy.output import check_output, claim_output
from eae_sindy.training import load_checkpoint
from simulators.atomic_files import atomic_write_bytes, atomic_write_json

__all__ = ["build_models", "digit_codes", "digit_interpolation", "evaluate", "run_images"]

N_SHOW = 10


def build_models(config: ImagesConfig, image_shape: tuple[int, ...]) -> dict[str, ImageModel]:
    """The three models of a run; the VAE's encoder has 2·latent outputs. Raises
    :class:`ConfigError` when ``model.arch`` does not fit the images (conv: 64×64×C only)."""
    m = config.model
    kwargs = dict(encoder_widths=m.encoder_widths, decoder_widths=m.decoder_widths)
    vae_output = "sigmoid" if config.vae.likelihood == "bernoulli" else m.output
    try:
        plain = image_model(m.arch, image_shape, m.latent_dim, output=m.output, **kwargs)
        vae = image_model(m.arch, image_shape, m.latent_dim, variational=True,
                          output=vae_output, **kwargs)
    except ValueError as error:
        raise ConfigError(f"model.arch = {m.arch!r} does not fit the {config.dataset} images "
                          f"{tuple(image_shape)}: {error}") from None
    return {"eae": plain, "vae": vae, "ae": plain}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value))


def evaluate(trained: TrainedModel, x_eval: np.ndarray, y_eval: np.ndarray | None,
             x_probe: np.ndarray | None, y_probe: np.ndarray | None, *, seed: int = 0
             ) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of one trained model on the evaluation images, and its reconstructions of the
    first :data:`N_SHOW` of them. See :mod:`eae_sindy.images.metrics` for the definitions."""
    model = trained.model
    encode = jax.jit(model.encode)
    decode = jax.jit(model.decode)
    latent = model.latent_dim
    metrics: dict[str, Any] = {"model": trained.kind, "train_time_s": trained.train_time_s}
    if trained.kind == "eae":
        ens: EnsembleSummary = trained.ensemble
        z_eval, z_probe = ens.z_mean, ens.z_probe_mean
        variance = ens.variance
        metrics["mse"] = float(np.mean(ens.mse))
        metrics["mse_std_over_ensemble"] = float(np.std(ens.mse))
        metrics["mse_of_ensemble_mean_latent"] = pixel_mse(
            x_eval, batched(lambda x: decode(trained.dec_params, x), z_eval.astype(np.float32)))
        # law of total variance: pooled = across-image variance of the mean + mean spread
        metrics["mean_spread_over_encoders"] = float(np.mean(
            np.maximum(variance - np.var(z_eval, axis=0), 0.0)))
        metrics["n_encoders"] = ens.n_samples
        shown = decode(trained.dec_params, z_eval[:N_SHOW].astype(np.float32))
    else:
        stats = batched(lambda x: encode(trained.enc_params, x), x_eval)
        z_eval = stats[:, :latent]
        if x_probe is not None:
            z_probe = batched(lambda x: encode(trained.enc_params, x), x_probe)[:, :latent]
        recon = batched(lambda z: decode(trained.dec_params, z), z_eval)
        metrics["mse"] = pixel_mse(x_eval, recon)
        variance = np.var(z_eval.astype(np.float64), axis=0)
        shown = recon[:N_SHOW]
        if trained.kind == "vae":
            mean, log_var = stats[:, :latent].astype(np.float64), stats[:, latent:]
            kl = gaussian_kl(mean, log_var)
            metrics["kl"] = float(np.mean(np.sum(kl, axis=1)))
            metrics["kl_per_unit"] = np.mean(kl, axis=0)
            metrics["mutual_information"] = mutual_information(mean[:1000], log_var[:1000], seed)
    metrics["active_units"] = active_units(variance)
    metrics["latent_dim"] = latent
    metrics["variance_per_unit"] = np.asarray(variance, np.float64)
    metrics["probe_accuracy"] = None
    if (x_probe is not None and y_eval is not None and y_probe is not None
            and len(np.unique(y_probe)) > 1):
        metrics["probe_accuracy"] = linear_probe(z_probe, y_probe, z_eval, y_eval, seed)
    return metrics, np.asarray(shown)


def _save_final(directory: Path, trained: TrainedModel) -> None:
    if trained.ensemble is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **trained.ensemble._asdict())
        atomic_write_bytes(directory / "ensemble.npz", buffer.getvalue())
    atomic_write_bytes(directory / "final.msgpack", flax.serialization.to_bytes(
        jax.device_get({"encoder": trained.enc_params, "decoder": trained.dec_params})))


def _load_final(directory: Path, kind: str, model: ImageModel, key: jax.Array) -> TrainedModel:
    enc, dec = model.init(key)
    params = load_checkpoint(directory / "final.msgpack", {"encoder": enc, "decoder": dec})
    metrics = json.loads((directory / "metrics.json").read_text())
    history = json.loads((directory / "history.json").read_text())
    ensemble = None
    if kind == "eae":
        with np.load(directory / "ensemble.npz") as npz:  # z_pool: absent from older runs
            ensemble = EnsembleSummary(**{k: (int(npz[k]) if k == "n_samples" else npz[k])
                                          for k in EnsembleSummary._fields if k in npz.files})
    return TrainedModel(kind, model, params["encoder"], params["decoder"], history,
                        metrics["train_time_s"], ensemble)


def _generations(trained: TrainedModel, originals: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Algorithm 2 images: test images under different sampled encoders, and Gaussian draws."""
    ens = trained.ensemble
    decode = jax.jit(trained.model.decode)
    n_img = min(6, ens.z_show.shape[1])
    pick = np.unique(np.linspace(0, ens.z_show.shape[0] - 1, 8).round().astype(int))
    z = ens.z_show[pick, :n_img].transpose(1, 0, 2)  # (n_img, n_enc, d)
    by_encoder = np.asarray(decode(trained.dec_params, z.reshape(-1, z.shape[-1])))
    by_encoder = by_encoder.reshape(n_img, len(pick), *by_encoder.shape[1:])
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(ens.mean, ens.covariance, size=16, method="eigh")
    gaussian = np.asarray(decode(trained.dec_params, draws.astype(np.float32)))
    return {"originals": originals[:n_img], "by_encoder": by_encoder, "gaussian": gaussian}


DIGIT_FIGURE_DATASETS = ("mnist5k", "mnist")
"""Data sets whose report has the paper's Figure 2 (interpolation between the mean codes of two
digits and per-digit latent distributions): the MNIST ones, as in the paper."""
INTERPOLATION_PAIR = (0, 8)
"""The digits interpolated between in Figure 2a (the paper's 0 and 8)."""
N_INTERPOLATION = 10


def digit_codes(trained: TrainedModel, x_eval: np.ndarray, y_eval: np.ndarray, *, seed: int = 0
                ) -> dict[str, np.ndarray]:
    """One model's codes of the labelled evaluation images for the paper's Figure 2.

    ``interpolation``: the codes averaged per digit for Fig. 2a (paper §A.5.2) — AE: its codes;
    VAE: one reparameterised sample z = μ + σ·ε per image (seeded); EAE: the ensemble-mean
    latent of each image. ``z`` and ``y``: the latent samples for the per-digit distributions
    of Fig. 2b and their labels — AE: its codes; VAE: the posterior means; EAE: the latents of
    the pooled encoders (``EnsembleSummary.z_pool``: encoders × images; the ensemble-mean
    latents for an ensemble saved without it)."""
    model = trained.model
    latent = model.latent_dim
    y_eval = np.asarray(y_eval)
    if trained.kind == "eae":
        ens: EnsembleSummary = trained.ensemble
        interpolation = np.asarray(ens.z_mean, np.float64)
        if ens.z_pool is not None and ens.z_pool.size:
            n_pool, n_img = ens.z_pool.shape[:2]
            return {"interpolation": interpolation,
                    "z": ens.z_pool.reshape(n_pool * n_img, latent).astype(np.float64),
                    "y": np.tile(y_eval[:n_img], n_pool)}
        return {"interpolation": interpolation, "z": interpolation, "y": y_eval}
    encode = jax.jit(model.encode)
    stats = batched(lambda x: encode(trained.enc_params, x), x_eval).astype(np.float64)
    mean = stats[:, :latent]
    if trained.kind == "vae":
        eps = np.random.default_rng(seed).standard_normal(mean.shape)
        sampled = mean + np.exp(0.5 * stats[:, latent:]) * eps
        return {"interpolation": sampled, "z": mean, "y": y_eval}
    return {"interpolation": mean, "z": mean, "y": y_eval}


def digit_interpolation(trained: TrainedModel, codes: np.ndarray, labels: np.ndarray,
                        pair: tuple[int, int] = INTERPOLATION_PAIR,
                        n_steps: int = N_INTERPOLATION) -> np.ndarray:
    """(n_steps, *image_shape): the model's decoder applied to the straight line between the
    mean codes of the digits ``pair`` (:func:`~eae_sindy.images.metrics.class_interpolation`)."""
    z = class_interpolation(codes, labels, *pair, n_steps=n_steps).astype(np.float32)
    return np.asarray(jax.jit(trained.model.decode)(trained.dec_params, z))


def run_images(config: ImagesConfig, out: str | os.PathLike, *, models: tuple[str, ...] = MODELS,
               data_path: str | None = None, preset_name: str | None = None,
               resume: bool = False, progress: bool = True,
               data: ImageData | None = None) -> dict[str, Any]:
    """Train and compare ``models`` on ``config.dataset``; returns the comparison table (also in
    ``OUT/comparison.json``). ``data`` overrides loading (tests).

    Raises (before anything is written): :class:`ConfigError` (unknown model, an architecture
    that does not fit the images), :class:`~eae_sindy.errors.RunDirectoryError` (``out`` is a
    file, not writable, holds another run, ...), ``ImageDataError`` (bad data path or file)."""
    if not isinstance(config, ImagesConfig):
        raise ConfigError(f"run_images needs an ImagesConfig, got {type(config).__name__}")
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ConfigError(f"--models: unknown model(s) {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(MODELS)}")
    models = tuple(m for m in MODELS if m in models)
    out = Path(out)
    record = {**config.to_dict(), "models": list(models), "data_path": data_path,
              "preset": preset_name, "package_version": __version__}
    started = time.perf_counter()
    check_output(out, record, resume=resume)  # refuse a bad --out before the (slow) data load
    if data is None:
        data = load_dataset(config.dataset, data_path, config.seed,
                            pool_size=config.data.pool_size, n_eval=config.data.n_eval)
    built = build_models(config, data.image_shape)
    claim_output(out, record, resume=resume)
    x_eval, y_eval = data.x_test[:config.data.n_eval], _head(data.y_test, config.data.n_eval)
    # the probe needs labels; without them no probe latents are computed at all
    x_probe = data.x_train[:config.data.n_probe] if data.has_labels else None
    y_probe = _head(data.y_train, config.data.n_probe)
    baseline = mean_image_mse(data.x_train, x_eval)
    key = jax.random.PRNGKey(config.seed)
    keys = dict(zip(MODELS, jax.random.split(key, len(MODELS)), strict=True))
    results: dict[str, dict[str, Any]] = {}
    recons, variances, histories = {}, {}, {}
    generations = None
    pair = INTERPOLATION_PAIR
    digit_figures = (config.dataset in DIGIT_FIGURE_DATASETS and y_eval is not None
                     and all(np.any(y_eval == label) for label in pair))
    interpolations: dict[str, np.ndarray] = {}
    latents: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in models:
        directory = out / kind
        directory.mkdir(exist_ok=True)
        if (directory / "metrics.json").exists():
            trained = _load_final(directory, kind, built[kind], jax.random.split(keys[kind])[0])
        else:
            if kind == "ae":
                trained = train_ae(built[kind], data.x_train, config.ae, keys[kind],
                                   workdir=directory, progress=progress)
            elif kind == "vae":
                trained = train_vae(built[kind], data.x_train, config.vae, keys[kind],
                                    workdir=directory, progress=progress)
            else:
                trained = train_eae(built[kind], data.x_train, x_eval, config.eae, keys[kind],
                                    sampler=config.sampler, x_probe=x_probe,
                                    workdir=directory, progress=progress)
            _save_final(directory, trained)
        metrics, shown = evaluate(trained, x_eval, y_eval, x_probe, y_probe, seed=config.seed)
        atomic_write_json(directory / "metrics.json", metrics, default=_json_default)
        results[kind] = {k: metrics.get(k) for k in
                         ("mse", "active_units", "probe_accuracy", "kl", "mutual_information",
                          "train_time_s")}
        recons[kind], variances[kind] = shown, metrics["variance_per_unit"]
        histories[kind] = trained.history
        if kind == "eae":
            generations = _generations(trained, x_eval, config.seed)
        if digit_figures:
            codes = digit_codes(trained, x_eval, y_eval, seed=config.seed)
            interpolations[kind] = digit_interpolation(trained, codes["interpolation"], y_eval,
                                                       pair)
            latents[kind] = (codes["z"], codes["y"])
    table = {"dataset": config.dataset, "preset": preset_name, "n_test": int(len(x_eval)),
             "n_train": int(len(data.x_train)), "latent_dim": config.model.latent_dim,
             "baseline_mse": baseline, "active_threshold": ACTIVE_THRESHOLD, "models": results,
             "wall_time_s": time.perf_counter() - started}
    digits = None
    if digit_figures:
        digits = {"pair": pair,
                  "data": class_interpolation(x_eval, y_eval, *pair, n_steps=N_INTERPOLATION),
                  "interpolations": interpolations, "latents": latents,
                  "dims": shared_active_dims(variances, 3, ACTIVE_THRESHOLD, config.seed)}
    write_report(out, table, originals=x_eval[:N_SHOW], recons=recons, variances=variances,
                 histories=histories, generations=generations, digits=digits)
    return table


def _head(y: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if y is None else y[:n]


def format_table(table: dict[str, Any]) -> str:
    return comparison_markdown(table)
