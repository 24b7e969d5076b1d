"""Flax encoders and decoders for EAEs.

Models are plain ``flax.linen`` modules that carry no training state; the EAE loop sees them only
through pure ``apply(params, inputs)`` functions (see :func:`make_autoencoder`). The reaction-
diffusion reference uses :class:`MLP` for both halves (10⁴ → 256 ELU → 2 linear and back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "MLP", "Autoencoder", "make_autoencoder", "mlp_autoencoder"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "elu": nn.elu,
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "gelu": nn.gelu,
    "softplus": nn.softplus,
    "swish": nn.swish,
    "linear": lambda x: x,
}


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None


class MLP(nn.Module):
    """Dense layers ``features[0] → … → features[-1]``; ``activation`` on every hidden layer,
    ``output_activation`` (default linear) on the last one.

    Input (batch, n_in) → output (batch, features[-1]).
    """

    features: Sequence[int]
    activation: str = "elu"
    output_activation: str = "linear"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        hidden = _activation(self.activation)
        for width in self.features[:-1]:
            x = hidden(nn.Dense(width)(x))
        return _activation(self.output_activation)(nn.Dense(self.features[-1])(x))


class Autoencoder(NamedTuple):
    """Pure functions and initial parameters of an encoder/decoder pair.

    ``encode(enc_params, x) -> z`` and ``decode(dec_params, z) -> x̂`` work on batches.
    """

    encode: Callable[[Any, jax.Array], jax.Array]
    decode: Callable[[Any, jax.Array], jax.Array]
    init: Callable[[jax.Array], tuple[Any, Any]]


def make_autoencoder(
    encoder: nn.Module, decoder: nn.Module, input_shape: Sequence[int], latent_dim: int
) -> Autoencoder:
    """Wrap two flax modules as pure functions; ``init(key) -> (enc_params, dec_params)``."""

    def encode(params: Any, x: jax.Array) -> jax.Array:
        return encoder.apply({"params": params}, x)

    def decode(params: Any, z: jax.Array) -> jax.Array:
        return decoder.apply({"params": params}, z)

    def init(key: jax.Array) -> tuple[Any, Any]:
        key_enc, key_dec = jax.random.split(key)
        x = jnp.zeros((1, *input_shape), jnp.float32)
        z = jnp.zeros((1, latent_dim), jnp.float32)
        return encoder.init(key_enc, x)["params"], decoder.init(key_dec, z)["params"]

    return Autoencoder(encode, decode, init)


def mlp_autoencoder(
    n_features: int,
    latent_dim: int,
    encoder_widths: Sequence[int] = (256,),
    decoder_widths: Sequence[int] = (256,),
    activation: str = "elu",
    output_activation: str = "linear",
) -> Autoencoder:
    """MLP encoder n_features → widths → latent_dim (linear) and decoder latent_dim → widths →
    n_features (``output_activation``)."""
    encoder = MLP((*encoder_widths, latent_dim), activation)
    decoder = MLP((*decoder_widths, n_features), activation, output_activation)
    return make_autoencoder(encoder, decoder, (n_features,), latent_dim)
