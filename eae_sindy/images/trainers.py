"""Three trainers on the same data, models and output format: plain AE, VAE and EAE.

* AE and VAE: Adam on all parameters; ``lax.scan`` over ``log_every`` steps per compiled call
  (Python runs once per chunk: progress, history, checkpoint), minibatches drawn with
  replacement from the in-memory training array (full batch when ``batch_size ≥ n_train``).
* EAE: Algorithm 1 and 2 of the seed paper through the project core —
  :func:`eae_sindy.eae.entropic_autoencoder` + :func:`eae_sindy.training.run_training` /
  :func:`~eae_sindy.training.run_collection`; this module only supplies the image loss,
  ``sample_batch`` and the per-encoder ``summarize``, and reduces the collected summaries in a
  streaming sink (:class:`EnsembleAccumulator`), so the ensemble never has to fit in memory.

The images reach every compiled program as arguments (the AE/VAE chunk takes ``x_train``; the
EAE's ``outer_step``/``collect`` take the ``data`` of :func:`eae_data`), never as closed-over
arrays, which ``jit`` would compile in as constants (see :mod:`eae_sindy.eae`).

Every trainer returns a :class:`TrainedModel`. With a ``workdir`` all three keep
``checkpoint.msgpack`` and ``history.json`` there (:func:`_resume`: written atomically; a rerun
with the same ``workdir`` continues where the previous run stopped, a damaged checkpoint is a
:class:`~eae_sindy.errors.RunDirectoryError`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from eae_sindy.config import SamplerConfig
from eae_sindy.eae import entropic_autoencoder
from eae_sindy.errors import SamplerDivergedError
from eae_sindy.images.config import AEConfig, EAEConfig, VAEConfig
from eae_sindy.images.losses import reconstruction_loss, vae_terms
from eae_sindy.images.metrics import LatentMoments
from eae_sindy.images.models import ImageModel
from eae_sindy.training import resume_from, run_collection, run_training, save_checkpoint
from simulators.atomic_files import atomic_write_json

__all__ = [
    "EnsembleAccumulator",
    "EnsembleSummary",
    "POOL_ENCODERS",
    "POOL_IMAGES",
    "TrainedModel",
    "batch_sampler",
    "build_eae",
    "eae_data",
    "train_ae",
    "train_eae",
    "train_vae",
]


class EnsembleSummary(NamedTuple):
    """Reduced Algorithm-2 ensemble of S encoders on E evaluation images (latent dim d).

    ``variance``/``mean``/``covariance``: moments of z pooled over encoders × images, (d,)/(d,)/
    (d, d); ``z_mean``: (E, d) ensemble-mean latent of each evaluation image; ``z_probe_mean``:
    (P, d) the same for the probe images; ``mse``: (S,) per-encoder test MSE; ``z_show``:
    (S, n_show, d) latents of the first n_show evaluation images under every encoder;
    ``z_pool``: (S_pool, E_pool, d) latents of the first E_pool (≤ :data:`POOL_IMAGES`)
    evaluation images under S_pool (≤ :data:`POOL_ENCODERS`) encoders spread evenly over the
    collection, i.e. samples of p(z | y) pooled over encoders (per-class latent distributions,
    the paper's Fig. 2b); None for an ensemble saved before it existed."""

    n_samples: int
    variance: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    z_mean: np.ndarray
    z_probe_mean: np.ndarray
    mse: np.ndarray
    z_show: np.ndarray
    z_pool: np.ndarray | None = None


POOL_ENCODERS = 10
"""Encoders whose latents of the evaluation images are kept whole (``EnsembleSummary.z_pool``)."""
POOL_IMAGES = 2000
"""At most this many evaluation images in ``EnsembleSummary.z_pool`` (bounded memory)."""


class TrainedModel(NamedTuple):
    """``history``: one dict per logged chunk (AE/VAE) or outer iteration (EAE)."""

    kind: str
    model: ImageModel
    enc_params: Any
    dec_params: Any
    history: list[dict[str, float]]
    train_time_s: float
    ensemble: EnsembleSummary | None = None


def batch_sampler(batch_size: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``(key, x_train) -> (batch_size, *image_shape)`` drawn with replacement from ``x_train``
    (jittable; the whole array when ``batch_size ≥ len(x_train)``, i.e. full-batch training).
    Hand ``x_train`` to the jitted program as an argument rather than closing over it (a
    closed-over array is compiled in as a constant, see :mod:`eae_sindy.eae`)."""

    def sample(key: jax.Array, x_train: jax.Array) -> jax.Array:
        n = x_train.shape[0]
        if batch_size >= n:
            return x_train
        return x_train[jax.random.randint(key, (batch_size,), 0, n)]

    return sample


# ------------------------------------------------------------------------- history / checkpoint


def _resume(workdir: str | os.PathLike | None, template: Any
            ) -> tuple[Any, Path | None, Path | None]:
    """``(state, checkpoint_path, history_path)`` of a trainer: without ``workdir`` the fresh
    ``template`` and no files; with one, the state of ``workdir/checkpoint.msgpack`` when it
    exists (:func:`eae_sindy.training.resume_from`), else ``template``."""
    if workdir is None:
        return template, None, None
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / "checkpoint.msgpack"
    return resume_from(checkpoint, template), checkpoint, workdir / "history.json"


def _read_history(path: Path | None, keep: Callable[[dict], bool]) -> list[dict]:
    if path is None or not path.exists():
        return []
    return [row for row in json.loads(path.read_text()) if keep(row)]


def _write_history(path: Path | None, history: list[dict]) -> None:
    if path is not None:
        atomic_write_json(path, history)


# ---------------------------------------------------------------------------------- AE and VAE


class AdamState(NamedTuple):
    params: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array


def _adam_chunk(loss_fn, optimizer: optax.GradientTransformation, batch_size: int):
    """The compiled AE/VAE program ``run_chunk(state, x_train, length) -> (state, mean row)``:
    ``length`` (static) Adam steps on ``loss_fn(params, batch, key) -> (loss, aux dict)`` in one
    ``lax.scan``, minibatches of ``batch_size`` from ``x_train``, an argument of the program."""
    sample = batch_sampler(batch_size)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @partial(jax.jit, static_argnums=2)
    def run_chunk(state: AdamState, x_train: jax.Array, length: int):
        def one_step(state: AdamState, _):
            key, key_batch, key_loss = jax.random.split(state.key, 3)
            (loss, aux), grads = grad_fn(state.params, sample(key_batch, x_train), key_loss)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            return AdamState(params, opt_state, key, state.step + 1), {"loss": loss, **aux}

        state, rows = jax.lax.scan(one_step, state, None, length=length)
        return state, jax.tree.map(jnp.mean, rows)

    return run_chunk


def _fit_adam(loss_fn, params, x_train, config: AEConfig | VAEConfig, *, key, workdir, progress,
              description):
    """Adam on ``loss_fn(params, batch, key) -> (loss, aux dict)`` for ``config.steps`` steps of
    ``config.batch_size`` images; returns (params, history, seconds)."""
    steps, log_every = config.steps, config.log_every
    optimizer = optax.adam(config.learning_rate)
    # one compiled call instead of many eagerly compiled small ops (compile time dominates
    # small runs on a busy CPU)
    state = jax.jit(lambda p, k: AdamState(p, optimizer.init(p), k, jnp.zeros((), jnp.int32)))(
        params, key)
    state, checkpoint, history_file = _resume(workdir, state)
    done = int(state.step)
    history = _read_history(history_file, lambda row: row["step"] <= done)
    run_chunk = _adam_chunk(loss_fn, optimizer, config.batch_size)
    x_train = jnp.asarray(x_train)

    started = time.perf_counter()
    bar = tqdm(total=steps, initial=done, desc=description, disable=not progress,
               dynamic_ncols=True)
    try:
        while done < steps:
            state, row = run_chunk(state, x_train, min(log_every, steps - done))
            done = int(state.step)
            row = {"step": done, **{k: float(v) for k, v in row.items()}}
            if not np.isfinite(row["loss"]):
                raise SamplerDivergedError(
                    f"{description}: non-finite loss at step {done}; lower the learning rate")
            row["elapsed_s"] = time.perf_counter() - started
            history.append(row)
            if checkpoint is not None:
                save_checkpoint(checkpoint, state)
                _write_history(history_file, history)
            bar.set_postfix(loss=f"{row['loss']:.4g}")
            bar.update(row["step"] - bar.n)
    finally:
        bar.close()
    return state.params, history, time.perf_counter() - started


def _ae_loss(model: ImageModel, config: AEConfig):
    """The AE's ``loss_fn(params, batch, key) -> (loss, {})`` for :func:`_fit_adam`."""
    loss = reconstruction_loss(model, config.loss)

    def loss_fn(params, batch, _key):
        return loss(params[0], params[1], batch), {}

    return loss_fn


def _vae_loss(model: ImageModel, config: VAEConfig):
    """The VAE's ``loss_fn(params, batch, key) -> (loss, {"nll", "kl"})`` for :func:`_fit_adam`:
    the λ-weighted negative ELBO with one reparameterised sample per image."""

    def loss_fn(params, batch, key):
        eps = jax.random.normal(key, (batch.shape[0], model.latent_dim), batch.dtype)
        terms = vae_terms(model, params, batch, eps, likelihood=config.likelihood,
                          kl_weight=config.kl_weight, sigma=config.sigma)
        return terms.loss, {"nll": terms.nll, "kl": terms.kl}

    return loss_fn


def train_ae(model: ImageModel, x_train: np.ndarray, config: AEConfig, key: jax.Array, *,
             workdir: str | os.PathLike | None = None, progress: bool = True) -> TrainedModel:
    """Plain autoencoder: Adam on the per-pixel ``config.loss`` (mse or bce)."""
    key_init, key_fit = jax.random.split(key)
    (enc, dec), history, seconds = _fit_adam(
        _ae_loss(model, config), jax.jit(model.init)(key_init), x_train, config, key=key_fit,
        workdir=workdir, progress=progress, description="AE")
    return TrainedModel("ae", model, enc, dec, history, seconds)


def train_vae(model: ImageModel, x_train: np.ndarray, config: VAEConfig, key: jax.Array, *,
              workdir: str | os.PathLike | None = None, progress: bool = True) -> TrainedModel:
    """VAE (``model`` built with ``variational=True``): Adam on the λ-weighted negative ELBO,
    one reparameterised sample per image."""
    key_init, key_fit = jax.random.split(key)
    (enc, dec), history, seconds = _fit_adam(
        _vae_loss(model, config), jax.jit(model.init)(key_init), x_train, config, key=key_fit,
        workdir=workdir, progress=progress, description="VAE")
    return TrainedModel("vae", model, enc, dec, history, seconds)


# ------------------------------------------------------------------------------------------ EAE


class EnsembleAccumulator:
    """Sink for :func:`run_collection`: reduces chunks of ``{"z", "z_probe", "mse"}`` summaries."""

    def __init__(self, n_eval: int, n_probe: int, latent_dim: int, n_show: int = 8, *,
                 n_pool: int = POOL_ENCODERS, pool_stride: int = 1,
                 pool_images: int = POOL_IMAGES):
        """``n_pool`` encoders, every ``pool_stride``-th collected one starting with the first,
        keep their latents of the first ``pool_images`` evaluation images (``z_pool``)."""
        self.moments = LatentMoments(latent_dim)
        self.z_sum = np.zeros((n_eval, latent_dim))
        self.z_probe_sum = np.zeros((n_probe, latent_dim))
        self.mse: list[np.ndarray] = []
        self.z_show: list[np.ndarray] = []
        self.z_pool: list[np.ndarray] = []
        self.n_show = n_show
        self.n_pool, self.pool_stride = n_pool, max(1, pool_stride)
        self.pool_shape = (min(n_eval, pool_images), latent_dim)
        self.count = 0

    def __call__(self, chunk: dict[str, np.ndarray]) -> None:
        z = np.asarray(chunk["z"], np.float64)
        self.moments.update(z)
        self.z_sum += z.sum(axis=0)
        self.z_probe_sum += np.asarray(chunk["z_probe"], np.float64).sum(axis=0)
        self.mse.append(np.asarray(chunk["mse"], np.float64))
        self.z_show.append(np.asarray(chunk["z"][:, :self.n_show], np.float32))
        index = self.count + np.arange(len(z))  # of each encoder in the whole collection
        for i in np.flatnonzero(index % self.pool_stride == 0):
            if len(self.z_pool) < self.n_pool:
                self.z_pool.append(np.asarray(z[i, :self.pool_shape[0]], np.float32))
        self.count += len(z)

    def summary(self) -> EnsembleSummary:
        n = max(self.count, 1)
        pool = (np.stack(self.z_pool) if self.z_pool
                else np.zeros((0, *self.pool_shape), np.float32))
        return EnsembleSummary(self.count, self.moments.variance, self.moments.mean.copy(),
                               self.moments.covariance, self.z_sum / n, self.z_probe_sum / n,
                               np.concatenate(self.mse), np.concatenate(self.z_show), pool)


def eae_data(x_train: Any, x_eval: Any = None, x_probe: Any = None) -> dict[str, jax.Array]:
    """The images of the image EAE (:func:`build_eae`) as its compiled programs take them, the
    ``data`` argument of ``outer_step``/``collect`` (and of ``run_training``/``run_collection``):
    device arrays ``{"train": x_train}``, plus ``"eval"`` and ``"probe"`` when given."""
    data = {"train": jnp.asarray(x_train)}
    if x_eval is not None:
        data["eval"] = jnp.asarray(x_eval)
    if x_probe is not None:
        data["probe"] = jnp.asarray(x_probe)
    return data


_NEEDS_DATA = ("the image EAE takes its images as an argument: outer_step(state, data), "
               "collect(state, num_samples, thin, data) with data = eae_data(x_train, x_eval, "
               "x_probe) (run_training/run_collection: data=...)")


def build_eae(model: ImageModel, config: EAEConfig, *, sampler: SamplerConfig):
    """The image EAE: ``entropic_autoencoder`` with the per-pixel ``config.loss``, the Simmering
    algorithm of ``sampler`` (``sampler.build()``), minibatches of ``config.batch_size`` from
    ``data["train"]`` and, when ``data`` holds ``"eval"``, a summary of each collected encoder:
    its latents of ``data["eval"]`` and of ``data["probe"]`` (default: the first evaluation
    image) and its reconstruction MSE on ``data["eval"]`` (without ``"eval"``: the encoder
    parameters). ``data`` (:func:`eae_data`) is an argument of ``outer_step(state, data)`` and
    ``collect(state, num_samples, thin, data)``, so the images are never compiled in."""
    loss = reconstruction_loss(model, config.loss)
    draw = batch_sampler(config.batch_size)

    def sample_batch(key, data=None):
        if data is None:
            raise TypeError(_NEEDS_DATA)
        return draw(key, data["train"])

    def summarize(enc_params, dec_params, data=None):
        if data is None:
            raise TypeError(_NEEDS_DATA)
        if "eval" not in data:
            return enc_params
        x_eval = data["eval"]
        probe = data["probe"] if "probe" in data else x_eval[:1]
        z = model.encode(enc_params, x_eval)
        x_hat = model.decode(dec_params, z)
        return {"z": z, "z_probe": model.encode(enc_params, probe),
                "mse": jnp.mean(jnp.square(x_hat - x_eval))}

    return entropic_autoencoder(loss, sampler.build(), optax.adam(config.learning_rate),
                                sample_batch, config.inner_steps, summarize)


def train_eae(model: ImageModel, x_train: np.ndarray, x_eval: np.ndarray, config: EAEConfig,
              key: jax.Array, *, sampler: SamplerConfig, x_probe: np.ndarray | None = None,
              workdir: str | os.PathLike | None = None, progress: bool = True) -> TrainedModel:
    """Algorithm 1 (K outer × M inner Simmering steps with the ``sampler`` settings) then
    Algorithm 2 (``n_samples`` encoders, every ``thin``-th step, decoder fixed), through
    :mod:`eae_sindy.training`."""
    data = eae_data(x_train, x_eval, x_probe)
    eae = build_eae(model, config, sampler=sampler)
    key_init, key_eae = jax.random.split(key)
    state = jax.jit(lambda k1, k2: eae.init(*model.init(k1), k2))(key_init, key_eae)
    state, checkpoint, history_file = _resume(workdir, state)
    done = int(state.iteration)
    history = _read_history(history_file, lambda row: row["iteration"] < done)

    def on_iteration(row):
        history.append(row)
        if history_file is not None and (row["iteration"] + 1) % config.checkpoint_every == 0:
            _write_history(history_file, history)

    started = time.perf_counter()
    state, _ = run_training(eae, state, num_outer=config.outer_iterations,
                            checkpoint_path=checkpoint, checkpoint_every=config.checkpoint_every,
                            on_iteration=on_iteration, progress=progress, description="EAE",
                            data=data)
    _write_history(history_file, history)
    train_seconds = time.perf_counter() - started
    sink = EnsembleAccumulator(len(x_eval), 1 if x_probe is None else len(x_probe),
                               model.latent_dim,
                               pool_stride=max(1, config.n_samples // POOL_ENCODERS))
    state = run_collection(eae, state, num_samples=config.n_samples, thin=config.thin,
                           chunk_size=config.chunk_size, sink=sink, progress=progress,
                           description="EAE ensemble", data=data)
    return TrainedModel("eae", model, state.sampler.position, state.decoder, history,
                        train_seconds, sink.summary())
