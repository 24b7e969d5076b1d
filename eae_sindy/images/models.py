"""Image encoders and decoders of the seed paper (§A.5.2–A.5.3), as plain ``flax.linen`` modules.

* MNIST / Frey Faces / digits: an MLP encoder ``[256, 128, 128] ReLU → latent`` (linear output;
  the VAE's last layer is ``2 × latent``: posterior mean and log-variance) and an MLP decoder
  ``latent → 64 ReLU → n_pixels``.
* CelebA (64×64×3): 4 × Conv(4×4, stride 2, SAME, ReLU) with 32/64/128/256 filters → flatten →
  Dense 256 (linear latent); decoder Dense 1024 ReLU → reshape (4, 4, 64) → ConvTranspose 64
  (stride 4) → 32 (stride 4) → 3 (stride 1), 4×4 kernels, SAME padding, ReLU on the hidden ones.

Decoders return **logits** (pre-activation outputs); the trainers apply ``output`` (sigmoid by
default, so reconstructions live in [0, 1] like the data) and compute BCE from the logits for
numerical stability. The paper's CelebA decoder used ReLU on its last layer too; ``output="relu"``
reproduces that for the MSE loss.

All modules take images of shape (batch, *image_shape) and flatten/reshape internally, so every
trainer sees the same interface: ``encode(params, x: (b, H, W[, C])) -> (b, latent)`` or
``(b, 2·latent)`` for the VAE, ``decode_logits(params, z: (b, latent)) -> (b, H, W[, C])``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "ImageModel",
    "MLPDecoder",
    "MLPEncoder",
    "OUTPUTS",
    "image_model",
]

OUTPUTS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": nn.sigmoid,
    "linear": lambda x: x,
    "relu": nn.relu,
}


class MLPEncoder(nn.Module):
    """Flatten → Dense(widths) ReLU → Dense(out_dim) linear. (b, *shape) → (b, out_dim)."""

    widths: Sequence[int]
    out_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))
        for width in self.widths:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.out_dim)(x)


class MLPDecoder(nn.Module):
    """z → Dense(widths) ReLU → Dense(n_pixels) logits, reshaped to (b, *image_shape)."""

    widths: Sequence[int]
    image_shape: Sequence[int]

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        for width in self.widths:
            z = nn.relu(nn.Dense(width)(z))
        x = nn.Dense(math.prod(self.image_shape))(z)
        return x.reshape((z.shape[0], *self.image_shape))


class ConvEncoder(nn.Module):
    """4 × Conv(4×4, stride 2, SAME, ReLU) → flatten → Dense(out_dim) linear.

    (b, 64, 64, 3) → (b, out_dim); the feature map after the convolutions is (b, 4, 4, 256)."""

    filters: Sequence[int] = (32, 64, 128, 256)
    out_dim: int = 256

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for f in self.filters:
            x = nn.relu(nn.Conv(f, (4, 4), strides=(2, 2), padding="SAME")(x))
        return nn.Dense(self.out_dim)(x.reshape((x.shape[0], -1)))


class ConvDecoder(nn.Module):
    """Dense 1024 ReLU → reshape (4, 4, 64) → ConvT 64 (stride 4) ReLU → ConvT 32 (stride 4) ReLU
    → ConvT channels (stride 1) logits. (b, latent) → (b, 64, 64, channels)."""

    channels: int = 3

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(1024)(z)).reshape((z.shape[0], 4, 4, 64))
        x = nn.relu(nn.ConvTranspose(64, (4, 4), strides=(4, 4), padding="SAME")(x))
        x = nn.relu(nn.ConvTranspose(32, (4, 4), strides=(4, 4), padding="SAME")(x))
        return nn.ConvTranspose(self.channels, (4, 4), strides=(1, 1), padding="SAME")(x)


class ImageModel(NamedTuple):
    """Pure functions of one encoder/decoder pair.

    ``encode(enc_params, x) -> (b, enc_dim)`` (enc_dim = latent, or 2·latent for the VAE: mean
    then log-variance); ``decode_logits(dec_params, z) -> (b, *image_shape)``;
    ``decode(dec_params, z)`` applies the output activation; ``init(key) -> (enc, dec)``.
    """

    encode: Callable[[Any, jax.Array], jax.Array]
    decode_logits: Callable[[Any, jax.Array], jax.Array]
    decode: Callable[[Any, jax.Array], jax.Array]
    init: Callable[[jax.Array], tuple[Any, Any]]
    latent_dim: int
    image_shape: tuple[int, ...]


def image_model(
    arch: str,
    image_shape: Sequence[int],
    latent_dim: int,
    *,
    variational: bool = False,
    encoder_widths: Sequence[int] = (256, 128, 128),
    decoder_widths: Sequence[int] = (64,),
    output: str = "sigmoid",
) -> ImageModel:
    """Build the paper's ``"mlp"`` (MNIST/Frey) or ``"conv"`` (CelebA 64×64×C) autoencoder.

    Args:
        arch: ``"mlp"`` or ``"conv"``.
        image_shape: (H, W) or (H, W, C); ``"conv"`` needs (64, 64, C).
        latent_dim: dimension of z.
        variational: the encoder outputs 2·latent_dim (mean, log-variance).
        encoder_widths / decoder_widths: hidden layers of the MLPs (ignored by ``"conv"``).
        output: decoder output activation, one of :data:`OUTPUTS`.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}, got {output!r}")
    enc_dim = 2 * latent_dim if variational else latent_dim
    if arch == "mlp":
        encoder: nn.Module = MLPEncoder(tuple(encoder_widths), enc_dim)
        decoder: nn.Module = MLPDecoder(tuple(decoder_widths), image_shape)
    elif arch == "conv":
        if len(image_shape) != 3 or image_shape[:2] != (64, 64):
            raise ValueError(f"the conv autoencoder needs 64×64×C images, got {image_shape}")
        encoder = ConvEncoder(out_dim=enc_dim)
        decoder = ConvDecoder(channels=image_shape[2])
    else:
        raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
    activation = OUTPUTS[output]

    def encode(params: Any, x: jax.Array) -> jax.Array:
        return encoder.apply({"params": params}, x)

    def decode_logits(params: Any, z: jax.Array) -> jax.Array:
        return decoder.apply({"params": params}, z)

    def decode(params: Any, z: jax.Array) -> jax.Array:
        return activation(decode_logits(params, z))

    def init(key: jax.Array) -> tuple[Any, Any]:
        key_enc, key_dec = jax.random.split(key)
        x = jnp.zeros((1, *image_shape), jnp.float32)
        z = jnp.zeros((1, latent_dim), jnp.float32)
        return encoder.init(key_enc, x)["params"], decoder.init(key_dec, z)["params"]

    return ImageModel(encode, decode_logits, decode, init, latent_dim, image_shape)
