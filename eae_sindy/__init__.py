"""eae-sindy: entropic autoencoders (EAEs) for discovering latent governing equations.

The encoder of an EAE is *sampled* at finite temperature by Simmering (a Nosé–Hoover-chain
molecular-dynamics sampler) while the decoder follows the gradient of its free energy; with the
SINDy loss every sampled encoder yields one coefficient matrix Ξ, and the ensemble a distribution
over governing equations.

The public API, imported lazily (``import eae_sindy`` alone does not load JAX)::

    found = eae_sindy.fit(x, t, config=eae_sindy.preset("quick"), seed=0)  # ẋ estimated
    found.print(); found.to_pysindy(); found.save("runs/mine"); found.report()
    found = eae_sindy.load("runs/mine")

Building blocks: ``simmering`` (the sampler), ``entropic_autoencoder`` (Algorithms 1 and 2),
``run_training`` / ``run_collection`` (the drivers), ``sindy_loss`` /
``polynomial_sine_library`` (the SINDy loss), ``mlp_autoencoder``; settings: ``DiscoverConfig``,
``SamplerConfig`` and the other sections, ``preset``, ``load_config``.
"""

from __future__ import annotations

import importlib
import importlib.metadata

try:
    __version__ = importlib.metadata.version("eae-sindy")
except importlib.metadata.PackageNotFoundError:  # running from a source tree, not installed
    __version__ = "unknown"

_LAZY = {
    "fit": "eae_sindy.discovery",
    "load": "eae_sindy.discovery",
    "Discovery": "eae_sindy.discovery",
    "preset": "eae_sindy.config",
    "load_config": "eae_sindy.config",
    "DiscoverConfig": "eae_sindy.config",
    "DataConfig": "eae_sindy.config",
    "ModelConfig": "eae_sindy.config",
    "SindyConfig": "eae_sindy.config",
    "SamplerConfig": "eae_sindy.config",
    "TrainConfig": "eae_sindy.config",
    "simmering": "eae_sindy.simmering",
    "entropic_autoencoder": "eae_sindy.eae",
    "run_training": "eae_sindy.training",
    "run_collection": "eae_sindy.training",
    "sindy_loss": "eae_sindy.sindy",
    "polynomial_sine_library": "eae_sindy.sindy",
    "mlp_autoencoder": "eae_sindy.models",
    "ConfigError": "eae_sindy.errors",
    "RunDirectoryError": "eae_sindy.errors",
    "SamplerDivergedError": "eae_sindy.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eae_sindy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
