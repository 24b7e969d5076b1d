"""The SINDy-EAE of a run: the autoencoder, the SINDy loss and Algorithms 1 and 2 assembled for
the run's data (:func:`build_sindy_eae`), the snapshots it reads on the device, and what the
collection adds to training: its own sampler (``config.collection``), the heavier mass along
stiff directions (:func:`stiff_collection`) and the bias guard after it (:func:`bias_guard`).
:mod:`eae_sindy.discovery` and :mod:`eae_sindy.sweep` drive these pieces."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from analysis.rundir import CollectionSettings, StiffCollection
from eae_sindy.collection_guard import GUARD_MAX_FLOATS, guard_after_collection
from eae_sindy.config import DiscoverConfig
from eae_sindy.distributed import global_mesh, place
from eae_sindy.eae import EAEState, EntropicAutoencoder, LossFn, entropic_autoencoder
from eae_sindy.models import Autoencoder, mlp_autoencoder
from eae_sindy.planning import Plan
from eae_sindy.simmering import SimmeringAlgorithm, simmering, with_stiff_subspace
from eae_sindy.sindy import (
    SindyLibrary,
    compress_least_squares,
    sindy_loss,
    sindy_terms,
    solve_compressed,
)
from eae_sindy.stiffness import heavier_mass, stiff_subspace

__all__ = [
    "SindyEAE",
    "bias_guard",
    "build_sindy_eae",
    "collection_eae",
    "collection_settings",
    "device_data",
    "fit_index",
    "run_data_argument",
    "stiff_collection",
    "validation_loss",
]


class SindyEAE(NamedTuple):
    """The SINDy-EAE of a run: Algorithms 1 and 2, the model, the loss, and ``data``, the
    snapshots they use (training minibatches, test and fit snapshots) as device arrays, to be
    passed to ``outer_step``/``collect`` as an argument (see :func:`run_data_argument`)."""

    eae: EntropicAutoencoder
    model: Autoencoder
    loss_fn: LossFn
    data: dict[str, Any]


def run_data_argument(data: dict[str, Any], config: DiscoverConfig) -> dict[str, Any]:
    """``data`` as the compiled programs take it: as is in one process; in a multi-process run,
    replicated global arrays on the run's mesh (every process holds the same snapshots)."""
    if jax.process_count() == 1:
        return data
    mesh = global_mesh(num_chains=config.train.num_chains)
    return place(data, mesh, jax.tree.map(lambda _: P(), data))


def fit_index(split: dict[str, np.ndarray], fit_on: str) -> np.ndarray:
    """The snapshots each Ξ is fitted on, in time order."""
    if fit_on == "test":
        return split["test"]
    return np.sort(np.concatenate([split["train"], split["val"], split["test"]]))


def device_data(
    x: np.ndarray, dx: np.ndarray, split: dict[str, np.ndarray], fit_on: str
) -> dict[str, Any]:
    """The snapshots the compiled programs read, on the device: ``train`` (minibatches),
    ``test`` (each collected encoder's summary) and, for ``fit_on = "all"``, ``fit`` (the
    snapshots Ξ is fitted on)."""
    data = {
        "train": {"x": jnp.asarray(x[split["train"]]), "dx": jnp.asarray(dx[split["train"]])},
        "test": {"x": jnp.asarray(x[split["test"]]), "dx": jnp.asarray(dx[split["test"]])},
    }
    if fit_on == "all":
        fitted_on = fit_index(split, fit_on)
        data["fit"] = {"x": jnp.asarray(x[fitted_on]), "dx": jnp.asarray(dx[fitted_on])}
    return data


def build_sindy_eae(
    x: np.ndarray,
    dx: np.ndarray,
    split: dict[str, np.ndarray],
    library: SindyLibrary,
    config: DiscoverConfig,
    sampler: Any = None,
    data: dict[str, Any] | None = None,
    full_batch: bool = False,
) -> SindyEAE:
    """The EAE with the SINDy loss on minibatches of the training snapshots (``full_batch``: on
    all of them at every step); each collected encoder is summarised on the test snapshots (Ξ,
    latent codes, errors). ``sampler``: the encoder sampler (default: ``config.sampler.build()``;
    a temperature sweep passes one per temperature; its ``max_omega_dt`` sets the step control).
    ``data``: the device arrays of an earlier call with the same arguments, to share (default:
    copied to the device from ``x``, ``dx`` here)."""
    tc, sc, m = config.train, config.sindy, config.model
    if data is None:
        data = device_data(x, dx, split, sc.fit_on)
    n_eval = min(tc.n_eval, len(split.get("eval", split["test"])))
    model = mlp_autoencoder(
        x.shape[1], m.latent_dim, m.encoder_widths, m.decoder_widths, m.activation
    )
    weights = dict(
        lambda_x=sc.lambda_x, lambda_dx=sc.lambda_dx, ridge=sc.ridge, reduction=sc.reduction
    )
    loss_fn = sindy_loss(model.encode, model.decode, library, **weights)
    n_train = len(split["train"])

    def sample_batch(key, data):
        if full_batch:
            return data["train"]
        index = jax.random.randint(key, (tc.batch_size,), 0, n_train)
        return {"x": data["train"]["x"][index], "dx": data["train"]["dx"][index]}

    def fitted(enc_params, terms, data):
        """Ξ on the ``fit_on`` snapshots and that least-squares problem, compressed."""
        if sc.fit_on == "test":
            theta, dz = library.evaluate(terms.z), terms.dz
            return terms.xi, compress_least_squares(theta, dz)
        fit = data["fit"]
        z, dz = jax.jvp(lambda v: model.encode(enc_params, v), (fit["x"],), (fit["dx"],))
        compressed = compress_least_squares(library.evaluate(z), dz)
        return solve_compressed(*compressed[:2], sc.ridge), compressed

    def summarize(enc_params, dec_params, data):
        test = data["test"]
        terms = sindy_terms(
            model.encode, model.decode, library, enc_params, dec_params, test, **weights
        )
        xi, (fit_r, fit_qtdz, fit_dz_ms) = fitted(enc_params, terms, data)
        x_norm, dx_norm = jnp.sum(test["x"] ** 2), jnp.sum(test["dx"] ** 2)
        return {
            "xi": xi,
            "fit_r": fit_r,
            "fit_qtdz": fit_qtdz,
            "fit_dz_ms": fit_dz_ms,
            "xi_test": terms.xi,
            "loss": terms.loss,
            "z": terms.z[:n_eval],
            "dz": terms.dz[:n_eval],
            "x_relative_mse": jnp.sum((test["x"] - terms.x_hat) ** 2) / x_norm,
            "dx_relative_mse": jnp.sum((test["dx"] - terms.dx_hat) ** 2) / dx_norm,
        }

    sampler = config.sampler.build() if sampler is None else sampler
    eae = entropic_autoencoder(
        loss_fn,
        sampler,
        optax.adam(tc.learning_rate),
        sample_batch,
        tc.inner_steps,
        summarize,
        num_chains=tc.num_chains,
        max_omega_dt=sampler.max_omega_dt,
    )
    return SindyEAE(eae, model, loss_fn, data)


def validation_loss(built: SindyEAE, state: EAEState, x, dx, split) -> float | None:
    """The loss of the chains' last encoders and the decoder on the validation snapshots."""
    if not len(split["val"]):
        return None  # JSON null
    val = {"x": jnp.asarray(x[split["val"]]), "dx": jnp.asarray(dx[split["val"]])}
    chain_losses = jax.jit(jax.vmap(built.loss_fn, in_axes=(0, None, None)))(
        state.sampler.position, state.decoder, val
    )
    return float(jnp.mean(chain_losses))


def collection_eae(
    built: SindyEAE,
    state: EAEState,
    the_plan: Plan,
    config: DiscoverConfig,
    x: np.ndarray,
    dx: np.ndarray,
) -> tuple[SindyEAE, EAEState, dict[str, Any] | None]:
    """The EAE that collects the ensemble (Algorithm 2), the state to collect from and, for a
    collection along stiff directions, its record for ``summary.json``: ``built`` itself when
    the collection samples as training did; with ``train.stiff_directions``, the EAE of
    :func:`stiff_collection`; else the EAE with ``config.collection``'s sampler. ``x``, ``dx``:
    the scaled snapshots ``built`` was built on."""
    if not (config.train.stiff_directions or config.collection.changes_sampler):
        return built, state, None

    def collector_for(sampler: SimmeringAlgorithm) -> SindyEAE:
        return build_sindy_eae(
            x, dx, *the_plan, config, sampler=sampler, data=built.data,
            full_batch=config.collection.full_batch,
        )

    if config.train.stiff_directions:
        return stiff_collection(built, state, config, collector_for)
    return collector_for(config.collection.sampler(config.sampler).build()), state, None


def collection_settings(config: DiscoverConfig) -> dict[str, Any] | None:
    """What ``summary.json``'s ``training.collection`` says of a collection that samples
    otherwise than training did (``analysis.rundir.CollectionSettings`` as a dict; None when it
    does not)."""
    if not config.collection.changes_sampler:
        return None
    collecting = config.collection.sampler(config.sampler)
    return CollectionSettings(
        full_batch=config.collection.full_batch,
        thermostat=collecting.thermostat,
        friction=collecting.friction,
        step_size=collecting.step_size,
        max_omega_dt=collecting.max_omega_dt,
        resample_every=collecting.resample_every,
    )._asdict()


def stiff_collection(
    built: SindyEAE,
    state: EAEState,
    config: DiscoverConfig,
    collector_for: Callable[[SimmeringAlgorithm], SindyEAE],
) -> tuple[SindyEAE, EAEState, dict[str, Any]]:
    """The EAE that collects with a mass heavier along each chain's ``train.stiff_directions``
    stiffest directions (:mod:`eae_sindy.stiffness`, on four fixed training minibatches at the
    trained decoder) and the step enlarged by √(λ_1/λ_{k+1}) over all chains (the configured
    worst-case ω·dt kept), built by ``collector_for(sampler)``; the state with those masses
    attached; and what was done, for ``summary.json`` (``analysis.rundir.StiffCollection`` as
    a dict)."""
    tc, sc = config.train, config.collection.sampler(config.sampler)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x57)
    key_batches, key_start = jax.random.split(key)
    train = built.data["train"]
    index = jax.random.randint(key_batches, (4, tc.batch_size), 0, train["x"].shape[0])
    batches = [{name: a[i] for name, a in train.items()} for i in index]

    def one_chain(enc_params, decoder, batches, key):
        def loss(p):
            return sum(built.loss_fn(p, decoder, b) for b in batches) / len(batches)

        return stiff_subspace(loss, enc_params, tc.stiff_directions, key)

    one_chain = jax.jit(one_chain)  # decoder and batches as arguments, not compiled-in constants
    position = state.sampler.position
    chains = [jax.tree.map(lambda a, c=c: a[c], position) for c in range(tc.num_chains)]
    keys = jax.random.split(key_start, tc.num_chains)
    found = [one_chain(enc, state.decoder, batches, k) for enc, k in zip(chains, keys, strict=True)]
    found = jax.tree.map(lambda *a: jnp.stack(a), *found)
    curvature = np.asarray(found.curvature, np.float64)
    gain = max(1.0, float(np.sqrt(curvature[:, 0].max() / max(curvature[:, -1].max(), 1e-30))))
    step_size = sc.step_size * gain
    sampler = simmering(**{**dataclasses.asdict(sc), "step_size": step_size})
    collector = collector_for(sampler)
    factor = heavier_mass(found.curvature)
    stiff_sampler = jax.vmap(with_stiff_subspace)(state.sampler, found.basis, factor)
    state = state._replace(sampler=stiff_sampler)
    record = StiffCollection(
        stiff_directions=tc.stiff_directions,
        curvature=curvature.tolist(),
        step_size=step_size,
        step_gain=gain,
    )
    return collector, state, record._asdict()


def bias_guard(
    collector: SindyEAE, state: EAEState, data: dict[str, Any], config: DiscoverConfig
) -> tuple[EAEState, dict[str, Any] | None]:
    """The run's bias guard (:mod:`eae_sindy.collection_guard`) after collection: the state
    after its continuation and the record for ``summary.json`` (None with the step control off
    or in a multi-process run; a record that says why when the data are too large)."""
    if state.curvature is None or jax.process_count() > 1:
        return state, None
    train = collector.data["train"]
    if train["x"].size + train["dx"].size > GUARD_MAX_FLOATS:
        return state, {"skipped": "the training set is too large for the guard's programs"}
    collect = jax.jit(collector.eae.collect, static_argnums=(1, 2))
    decoder = state.decoder
    temperature = config.collection.sampler(config.sampler).temperature
    return guard_after_collection(
        collect, state, data, lambda p: collector.loss_fn(p, decoder, train), temperature
    )
