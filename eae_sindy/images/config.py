"""Configuration of an image-autoencoder comparison: frozen dataclasses and named presets.

Presets are per data set (``preset(name, dataset)``):

``paper``  the seed paper's §A.5.2–A.5.3 settings: MNIST MLP, latent 64, Adam 1e-3, batch 32,
           AE 140 epochs, VAE 70 epochs (λ = 1, Bernoulli), EAE 250 decoder updates × 2 epochs of
           encoder samples at T = 1e-8, m = 1e-6, dt = 1e-5, NHC chain 30; Frey full batch,
           AE 1.1e4 / VAE 1e5 steps, EAE 1500 × 1000 at T = 3e-8, 1000 collected encoders;
           CelebA conv nets, latent 256, EAE 700 × 5087 at T = 3e-8 ("hot"). Budgets the paper
           does not state (digits; CelebA AE/VAE) follow MNIST's epochs. ``mnist5k`` (4000
           training images): the MNIST epochs, i.e. AE 17,500 / VAE 8,750 Adam steps and the
           EAE's 250 decoder updates × 250 encoder steps.
``quick``  small budgets that finish in a few minutes on a 2-core CPU. The
           EAE keeps the paper's T and dt but uses lighter particles. Digits, MNIST, Frey,
           CelebA: m = 1e-8 (the paper's "cold" CelebA mass): with ~100× fewer encoder steps
           than the paper, the heavier m = 1e-6 particles barely leave their initialisation
           (the force moves φ by (dt²/m)·∇L per step). ``mnist5k``: the paper's MNIST
           networks, VAE epochs and 250 decoder updates, AE 70
           epochs, 100 instead of 250 encoder steps per update, 200 collected encoders (every
           5th step), and m = 1e-7: the thermostat holds the speed near √(T/m), so with 2.5×
           fewer steps a 2.5² ≈ 6× lighter particle covers the paper budget's distance per
           decoder update. m = 1e-7 reproduces the ``paper`` preset's EAE (test MSE, probe,
           ensemble spread), where m = 1e-6 leaves the MSE higher and m = 1e-8 makes the
           ensemble broader (measured: benchmarks/README.md, docs/images.md).

Units: the EAE and AE losses are per-pixel means, the units of the paper's temperatures.

Every section is a :class:`~eae_sindy.settings.Settings` dataclass: each field is checked against
its annotation (type, allowed values, range) when the object is built, so an invalid setting
raises :class:`~eae_sindy.errors.ConfigError` naming ``section.field`` before anything runs. The
Simmering settings are the project's one :class:`~eae_sindy.config.SamplerConfig` (section
``sampler``, shared with ``python -m eae_sindy.discover``); the image presets use the paper's NHC
chain of 30 links without velocity re-draws (:data:`IMAGE_SAMPLER`), not the SINDy defaults.
:func:`load_config` overlays a JSON or TOML file (sections ``data``, ``model``, ``ae``, ``vae``,
``eae``, ``sampler`` and a top-level ``seed``) on a preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from eae_sindy.config import SamplerConfig
from eae_sindy.errors import ConfigError
from eae_sindy.settings import NON_NEGATIVE, POSITIVE, SEED, Settings, overlay, read_settings_file

__all__ = [
    "AEConfig",
    "Dataset",
    "EAEConfig",
    "IMAGE_SAMPLER",
    "ImageDataConfig",
    "ImageModelConfig",
    "ImagesConfig",
    "Loss",
    "MODELS",
    "Output",
    "SamplerConfig",
    "VAEConfig",
    "config_from_dict",
    "load_config",
    "preset",
]

MODELS = ("eae", "vae", "ae")

_Pos = Annotated[int, POSITIVE]
_PosFloat = Annotated[float, POSITIVE]
Loss = Literal["mse", "bce"]
"""``eae_sindy.images.losses.LOSSES`` (a test keeps the two equal)."""
Dataset = Literal["digits", "mnist5k", "mnist", "frey", "celeba"]
"""``eae_sindy.images.datasets.DATASETS`` (a test keeps the two equal)."""
Output = Literal["sigmoid", "linear", "relu"]
"""Decoder output activations of ``eae_sindy.images.models`` (a test keeps the two equal)."""


@dataclass(frozen=True)
class ImageDataConfig(Settings, section="data"):
    """``pool_size``: CelebA training images held in memory; ``n_eval``: test images used for
    the metrics (all of them when smaller); ``n_probe``: training images for the linear probe."""

    pool_size: _Pos = 4096
    n_eval: _Pos = 10000
    n_probe: _Pos = 5000


@dataclass(frozen=True)
class ImageModelConfig(Settings, section="model"):
    """``arch`` "mlp" (MNIST/Frey/digits) or "conv" (CelebA 64×64×3); ``output``: decoder
    output activation (sigmoid keeps reconstructions in [0, 1])."""

    arch: Literal["mlp", "conv"] = "mlp"
    latent_dim: _Pos = 64
    encoder_widths: tuple[_Pos, ...] = (256, 128, 128)
    decoder_widths: tuple[_Pos, ...] = (64,)
    output: Output = "sigmoid"


@dataclass(frozen=True)
class AEConfig(Settings, section="ae"):
    steps: _Pos = 10000
    batch_size: _Pos = 32
    learning_rate: _PosFloat = 1e-3
    loss: Loss = "mse"
    log_every: _Pos = 500


@dataclass(frozen=True)
class VAEConfig(Settings, section="vae"):
    """``kl_weight``: λ of the negative ELBO; ``sigma``: σ of the Gaussian likelihood."""

    steps: _Pos = 10000
    batch_size: _Pos = 32
    learning_rate: _PosFloat = 1e-3
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    kl_weight: Annotated[float, NON_NEGATIVE] = 1.0
    sigma: _PosFloat = 0.1
    log_every: _Pos = 500


@dataclass(frozen=True)
class EAEConfig(Settings, section="eae"):
    """Algorithm 1/2 budget (units: per-pixel mean loss): ``outer_iterations`` decoder updates of
    ``inner_steps`` encoder samples each, then ``n_samples`` collected encoders (every ``thin``-th
    step, ``chunk_size`` per compiled call). The sampler itself is ``ImagesConfig.sampler``."""

    batch_size: _Pos = 32
    inner_steps: _Pos = 3126
    outer_iterations: _Pos = 250
    learning_rate: _PosFloat = 1e-3
    loss: Loss = "mse"
    n_samples: _Pos = 1000
    thin: _Pos = 1
    chunk_size: _Pos = 50
    checkpoint_every: _Pos = 10


IMAGE_SAMPLER = SamplerConfig(
    temperature=1e-8, mass=1e-6, step_size=1e-5, chain_length=30, resample_every=None
)
"""The paper's image sampler (§A.5.2, MNIST): T = 1e-8, m = 1e-6, dt = 1e-5, one Nosé–Hoover chain
of 30 links, no velocity re-draws. The presets change only ``temperature`` and ``mass``."""


@dataclass(frozen=True)
class ImagesConfig(Settings):
    """Everything a ``python -m eae_sindy.images`` run needs."""

    dataset: Dataset = "digits"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    ae: AEConfig = field(default_factory=AEConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    eae: EAEConfig = field(default_factory=EAEConfig)
    sampler: SamplerConfig = field(default_factory=lambda: IMAGE_SAMPLER)
    seed: Annotated[int, SEED] = 0

    def check(self) -> None:
        if "bce" in (self.ae.loss, self.eae.loss) and self.model.output != "sigmoid":
            raise ConfigError("a 'bce' loss needs model.output = 'sigmoid'")


def _epochs(epochs: float, n_train: int, batch: int) -> int:
    return max(1, int(round(epochs * n_train / batch)))


def _sampler(temperature: float, mass: float) -> SamplerConfig:
    return IMAGE_SAMPLER.replace(temperature=temperature, mass=mass)


# Nominal training-set sizes of the paper's splits (CelebA: the default pool).
_N_TRAIN = {"digits": 1437, "mnist5k": 4000, "mnist": 50000, "frey": 1572, "celeba": 4096}
# what both CelebA presets share: the data set and its conv network
_CELEBA = ImagesConfig(dataset="celeba", model=ImageModelConfig(arch="conv", latent_dim=256))


def _paper(dataset: str) -> ImagesConfig:
    n = _N_TRAIN[dataset]
    if dataset == "frey":
        return ImagesConfig(
            dataset=dataset,
            ae=AEConfig(steps=11000, batch_size=n, log_every=500),
            vae=VAEConfig(steps=100000, batch_size=n, log_every=2000),
            eae=EAEConfig(batch_size=n, inner_steps=1000, outer_iterations=1500, n_samples=1000,
                          checkpoint_every=50),
            sampler=_sampler(3e-8, 1e-6),
        )
    if dataset == "celeba":
        return _CELEBA.replace(
            data=ImageDataConfig(pool_size=4096, n_eval=1000, n_probe=1000),
            ae=AEConfig(steps=_epochs(140, n, 32)), vae=VAEConfig(steps=_epochs(70, n, 32)),
            eae=EAEConfig(inner_steps=5087, outer_iterations=700, n_samples=1000, chunk_size=10),
            sampler=_sampler(3e-8, 1e-6),
        )
    return ImagesConfig(
        dataset=dataset,
        ae=AEConfig(steps=_epochs(140, n, 32)), vae=VAEConfig(steps=_epochs(70, n, 32)),
        eae=EAEConfig(inner_steps=_epochs(2, n, 32), outer_iterations=250),
        sampler=_sampler(1e-8, 1e-6),
    )


def _quick(dataset: str) -> ImagesConfig:
    if dataset == "mnist5k":
        # the paper's architecture, decoder updates and sampler except m (measured, docs/images.md)
        return ImagesConfig(
            dataset=dataset,
            ae=AEConfig(steps=_epochs(70, 4000, 32), log_every=875),
            vae=VAEConfig(steps=_epochs(70, 4000, 32), log_every=875),
            eae=EAEConfig(inner_steps=100, outer_iterations=250, n_samples=200, thin=5,
                          chunk_size=50, checkpoint_every=25),
            sampler=_sampler(1e-8, 1e-7),
        )
    if dataset == "digits":
        return ImagesConfig(
            dataset=dataset,
            data=ImageDataConfig(n_eval=10000, n_probe=5000),
            model=ImageModelConfig(latent_dim=16),
            ae=AEConfig(steps=4000, batch_size=32, log_every=200),
            vae=VAEConfig(steps=4000, batch_size=32, log_every=200),
            eae=EAEConfig(batch_size=32, inner_steps=90, outer_iterations=150, n_samples=200,
                          thin=10, chunk_size=50, checkpoint_every=25),
            sampler=_sampler(1e-8, 1e-8),
        )
    if dataset == "celeba":
        return _CELEBA.replace(
            data=ImageDataConfig(pool_size=1024, n_eval=256, n_probe=256),
            ae=AEConfig(steps=400, log_every=100), vae=VAEConfig(steps=400, log_every=100),
            eae=EAEConfig(inner_steps=20, outer_iterations=20, n_samples=20, thin=5,
                          chunk_size=10, checkpoint_every=5),
            sampler=_sampler(3e-8, 1e-8),
        )
    full = 1572 if dataset == "frey" else 128
    return ImagesConfig(
        dataset=dataset,
        data=ImageDataConfig(n_eval=2000, n_probe=2000),
        ae=AEConfig(steps=3000, batch_size=full, log_every=250),
        vae=VAEConfig(steps=3000, batch_size=full, log_every=250),
        eae=EAEConfig(batch_size=full, inner_steps=100, outer_iterations=60, n_samples=100,
                      thin=10, chunk_size=25),
        sampler=_sampler(3e-8 if dataset == "frey" else 1e-8, 1e-8),
    )


def preset(name: str, dataset: str) -> ImagesConfig:
    """The ``quick`` or ``paper`` preset for ``dataset``."""
    builders = {"paper": _paper, "quick": _quick}
    if dataset not in _N_TRAIN:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(_N_TRAIN)}")
    if name not in builders:
        raise ConfigError(f"unknown preset {name!r}; choose one of paper, quick")
    return builders[name](dataset)


_SECTIONS = ("data", "model", "ae", "vae", "eae", "sampler")


def config_from_dict(values: dict[str, Any], base: ImagesConfig,
                     source: str = "config") -> ImagesConfig:
    """``base`` with a nested dict overlaid: sections ``data``, ``model``, ``ae``, ``vae``,
    ``eae``, ``sampler`` (each a dict of that section's fields) and a top-level ``seed``. Every
    value is checked; unknown keys and invalid values raise :class:`ConfigError` naming
    ``source`` and the field."""
    return overlay(base, values, source, keys=(*_SECTIONS, "seed"))


def load_config(path: str | Path, base: ImagesConfig) -> ImagesConfig:
    """A JSON (``.json``) or TOML (``.toml``) file overlaid on ``base`` (see
    :func:`config_from_dict`); :class:`ConfigError` names the file."""
    return config_from_dict(read_settings_file(path), base, source=str(path))
