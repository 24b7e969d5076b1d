"""Configuration of an image-autoencoder comparison: frozen dataclasses and named presets.

Presets are per data set (``preset(name, dataset)``):

``paper``  the seed paper's §A.5.2–A.5.3 settings: MNIST MLP, latent 64, Adam 1e-3, batch 32,
           AE 140 epochs, VAE 70 epochs (λ = 1, Bernoulli), EAE 250 decoder updates × 2 epochs of
           encoder samples at T = 1e-8, m = 1e-6, dt = 1e-5, NHC chain 30; Frey full batch,
           AE 1.1e4 / VAE 1e5 steps, EAE 1500 × 1000 at T = 3e-8, 1000 collected encoders;
           CelebA conv nets, latent 256, EAE 700 × 5087 at T = 3e-8 ("hot"). Budgets the paper
           does not state (digits; CelebA AE/VAE) follow MNIST's epochs.
``quick``  small budgets that finish in a few minutes on a 2-core CPU (digits: ~2 min). The
           EAE keeps the paper's T and dt but uses m = 1e-8 (the paper's "cold" CelebA mass):
           with ~100× fewer encoder steps than the paper, the heavier m = 1e-6 particles barely
           leave their initialisation (the force moves φ by (dt²/m)·∇L per step).

Units: the EAE and AE losses are per-pixel means, the units of the paper's temperatures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from eae_sindy.errors import ConfigError

__all__ = [
    "AEConfig",
    "EAEConfig",
    "ImageDataConfig",
    "ImageModelConfig",
    "ImagesConfig",
    "MODELS",
    "VAEConfig",
    "preset",
]

MODELS = ("eae", "vae", "ae")


@dataclass(frozen=True)
class ImageDataConfig:
    """``pool_size``: CelebA training images held in memory; ``n_eval``: test images used for
    the metrics (all of them when smaller); ``n_probe``: training images for the linear probe."""

    pool_size: int = 4096
    n_eval: int = 10000
    n_probe: int = 5000


@dataclass(frozen=True)
class ImageModelConfig:
    """``arch`` "mlp" (MNIST/Frey/digits) or "conv" (CelebA 64×64×3); ``output``: decoder
    output activation (sigmoid keeps reconstructions in [0, 1])."""

    arch: str = "mlp"
    latent_dim: int = 64
    encoder_widths: tuple[int, ...] = (256, 128, 128)
    decoder_widths: tuple[int, ...] = (64,)
    output: str = "sigmoid"


@dataclass(frozen=True)
class AEConfig:
    steps: int = 10000
    batch_size: int = 32
    learning_rate: float = 1e-3
    loss: str = "mse"
    log_every: int = 500


@dataclass(frozen=True)
class VAEConfig:
    steps: int = 10000
    batch_size: int = 32
    learning_rate: float = 1e-3
    likelihood: str = "bernoulli"
    kl_weight: float = 1.0
    sigma: float = 0.1
    log_every: int = 500


@dataclass(frozen=True)
class EAEConfig:
    """Algorithm 1/2 budget and the Simmering settings (units: per-pixel mean loss)."""

    temperature: float = 1e-8
    mass: float = 1e-6
    step_size: float = 1e-5
    chain_length: int = 30
    resample_every: int | None = None
    batch_size: int = 32
    inner_steps: int = 3126
    outer_iterations: int = 250
    learning_rate: float = 1e-3
    loss: str = "mse"
    n_samples: int = 1000
    thin: int = 1
    chunk_size: int = 50
    checkpoint_every: int = 10


@dataclass(frozen=True)
class ImagesConfig:
    dataset: str = "digits"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    ae: AEConfig = field(default_factory=AEConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    eae: EAEConfig = field(default_factory=EAEConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ImagesConfig:
        return dataclasses.replace(self, **changes)


def _epochs(epochs: float, n_train: int, batch: int) -> int:
    return max(1, int(round(epochs * n_train / batch)))


# Nominal training-set sizes of the paper's splits (CelebA: the default pool).
_N_TRAIN = {"digits": 1437, "mnist": 50000, "frey": 1572, "celeba": 4096}


def _paper(dataset: str) -> ImagesConfig:
    n = _N_TRAIN[dataset]
    if dataset == "frey":
        return ImagesConfig(
            dataset, ImageDataConfig(), ImageModelConfig(),
            AEConfig(steps=11000, batch_size=n, log_every=500),
            VAEConfig(steps=100000, batch_size=n, log_every=2000),
            EAEConfig(temperature=3e-8, batch_size=n, inner_steps=1000, outer_iterations=1500,
                      n_samples=1000, checkpoint_every=50),
        )
    if dataset == "celeba":
        return ImagesConfig(
            dataset, ImageDataConfig(pool_size=4096, n_eval=1000, n_probe=1000),
            ImageModelConfig(arch="conv", latent_dim=256),
            AEConfig(steps=_epochs(140, n, 32)), VAEConfig(steps=_epochs(70, n, 32)),
            EAEConfig(temperature=3e-8, inner_steps=5087, outer_iterations=700, n_samples=1000,
                      chunk_size=10),
        )
    return ImagesConfig(
        dataset, ImageDataConfig(), ImageModelConfig(),
        AEConfig(steps=_epochs(140, n, 32)), VAEConfig(steps=_epochs(70, n, 32)),
        EAEConfig(inner_steps=_epochs(2, n, 32), outer_iterations=250),
    )


def _quick(dataset: str) -> ImagesConfig:
    if dataset == "digits":
        return ImagesConfig(
            dataset, ImageDataConfig(n_eval=10000, n_probe=5000),
            ImageModelConfig(latent_dim=16),
            AEConfig(steps=4000, batch_size=32, log_every=200),
            VAEConfig(steps=4000, batch_size=32, log_every=200),
            EAEConfig(temperature=1e-8, mass=1e-8, step_size=1e-5, batch_size=32,
                      inner_steps=90, outer_iterations=150, n_samples=200, thin=10,
                      chunk_size=50, checkpoint_every=25),
        )
    if dataset == "celeba":
        return ImagesConfig(
            dataset, ImageDataConfig(pool_size=1024, n_eval=256, n_probe=256),
            ImageModelConfig(arch="conv", latent_dim=256),
            AEConfig(steps=400, log_every=100), VAEConfig(steps=400, log_every=100),
            EAEConfig(temperature=3e-8, mass=1e-8, inner_steps=20, outer_iterations=20,
                      n_samples=20, thin=5, chunk_size=10, checkpoint_every=5),
        )
    full = 1572 if dataset == "frey" else 128
    return ImagesConfig(
        dataset, ImageDataConfig(n_eval=2000, n_probe=2000), ImageModelConfig(),
        AEConfig(steps=3000, batch_size=full, log_every=250),
        VAEConfig(steps=3000, batch_size=full, log_every=250),
        EAEConfig(temperature=3e-8 if dataset == "frey" else 1e-8, mass=1e-8, batch_size=full,
                  inner_steps=100, outer_iterations=60, n_samples=100, thin=10, chunk_size=25),
    )


def preset(name: str, dataset: str) -> ImagesConfig:
    """The ``quick`` or ``paper`` preset for ``dataset``."""
    if dataset not in _N_TRAIN:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(_N_TRAIN)}")
    if name == "paper":
        return _paper(dataset)
    if name == "quick":
        return _quick(dataset)
    raise ConfigError(f"unknown preset {name!r}; choose one of paper, quick")


def validate(config: ImagesConfig) -> ImagesConfig:
    """Range checks; :class:`ConfigError` names the field."""
    checks = {
        "model.latent_dim": config.model.latent_dim,
        "data.pool_size": config.data.pool_size, "data.n_eval": config.data.n_eval,
        "data.n_probe": config.data.n_probe,
    }
    for section in ("ae", "vae", "eae"):
        part = getattr(config, section)
        for name in ("batch_size", "learning_rate"):
            checks[f"{section}.{name}"] = getattr(part, name)
    for name in ("steps", "log_every"):
        checks[f"ae.{name}"] = getattr(config.ae, name)
        checks[f"vae.{name}"] = getattr(config.vae, name)
    for name in ("temperature", "mass", "step_size", "chain_length", "inner_steps",
                 "outer_iterations", "n_samples", "thin", "chunk_size", "checkpoint_every"):
        checks[f"eae.{name}"] = getattr(config.eae, name)
    for name, value in checks.items():
        if value is None or value <= 0:
            raise ConfigError(f"{name} must be positive, got {value!r}")
    if config.model.arch not in ("mlp", "conv"):
        raise ConfigError(f"model.arch must be 'mlp' or 'conv', got {config.model.arch!r}")
    for name, value, allowed in (("ae.loss", config.ae.loss, ("mse", "bce")),
                                 ("eae.loss", config.eae.loss, ("mse", "bce")),
                                 ("vae.likelihood", config.vae.likelihood,
                                  ("bernoulli", "gaussian")),
                                 ("model.output", config.model.output,
                                  ("sigmoid", "linear", "relu"))):
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")
    if "bce" in (config.ae.loss, config.eae.loss) and config.model.output != "sigmoid":
        raise ConfigError("a 'bce' loss needs model.output = 'sigmoid'")
    return config
