"""Reconstruction losses and the VAE objective, all minibatch means.

* ``mse``: per-pixel squared error of the *activated* decoder output (sigmoid by default),
  averaged over pixels and batch: the units of the paper's Simmering settings (T = 1e-8 on MNIST).
* ``bce``: per-pixel binary cross-entropy computed from the logits, averaged the same way.
* VAE (λ-weighted negative ELBO, single-sample reparameterisation): per image
  ``−log p(x|z) + λ·KL(q(z|x) ‖ N(0, I))`` with the log-likelihood **summed** over pixels
  (Bernoulli: BCE from logits; Gaussian: N(x̂, σ²) with fixed σ) and the KL summed over latent
  dimensions, then averaged over the batch. Summing over pixels is the ELBO itself; a per-pixel
  mean would weight the prior 784× more strongly on MNIST.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy.images.models import ImageModel

__all__ = ["VAETerms", "gaussian_kl", "reconstruction_loss", "vae_terms"]

LOSSES = ("mse", "bce")
LIKELIHOODS = ("bernoulli", "gaussian")


def reconstruction_loss(model: ImageModel, kind: str = "mse") -> Callable[[Any, Any, jax.Array],
                                                                           jax.Array]:
    """``loss(enc_params, dec_params, x) -> scalar`` (per-pixel and batch mean)."""
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")

    def loss(enc_params: Any, dec_params: Any, x: jax.Array) -> jax.Array:
        z = model.encode(enc_params, x)
        if kind == "bce":
            return jnp.mean(optax.sigmoid_binary_cross_entropy(model.decode_logits(dec_params, z),
                                                               x))
        return jnp.mean(jnp.square(model.decode(dec_params, z) - x))

    return loss


def gaussian_kl(mean: Any, log_var: Any) -> Any:
    """KL(N(mean, e^{log_var}) ‖ N(0, 1)) elementwise: the VAE objective's term (JAX arrays) and
    the evaluation's ``kl`` metric (NumPy arrays, computed by NumPy in their own precision, e.g.
    float64, instead of JAX's float32)."""
    xp = np if isinstance(mean, np.ndarray) and isinstance(log_var, np.ndarray) else jnp
    return 0.5 * (xp.square(mean) + xp.exp(log_var) - 1.0 - log_var)


class VAETerms(NamedTuple):
    """Batch means: ``loss`` = ``nll`` + λ·``kl`` (per image, summed over pixels / latents)."""

    loss: jax.Array
    nll: jax.Array
    kl: jax.Array


def vae_terms(model: ImageModel, params: tuple[Any, Any], x: jax.Array, eps: jax.Array, *,
              likelihood: str = "bernoulli", kl_weight: float = 1.0,
              sigma: float = 0.1) -> VAETerms:
    """Negative ELBO with the given standard-normal noise ``eps`` (b, latent) (z = μ + σ_q·ε).

    ``params`` = (enc_params, dec_params); ``x``: (b, *image_shape)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    enc_params, dec_params = params
    stats = model.encode(enc_params, x)
    mean, log_var = jnp.split(stats, 2, axis=-1)
    z = mean + jnp.exp(0.5 * log_var) * eps
    logits = model.decode_logits(dec_params, z)
    axes = tuple(range(1, x.ndim))
    if likelihood == "bernoulli":
        nll = jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x), axis=axes)
    else:
        x_hat = model.decode(dec_params, z)
        n_pixels = math.prod(x.shape[1:])
        nll = (0.5 * jnp.sum(jnp.square(x - x_hat), axis=axes) / sigma**2
               + n_pixels * (math.log(sigma) + 0.5 * math.log(2 * math.pi)))
    kl = jnp.sum(gaussian_kl(mean, log_var), axis=-1)
    return VAETerms(jnp.mean(nll + kl_weight * kl), jnp.mean(nll), jnp.mean(kl))
