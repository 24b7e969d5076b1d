"""Algorithm 1 of the seed paper: entropic autoencoder training, generic in loss and model.

An outer iteration holds the decoder ϑ fixed and runs M inner steps in one ``lax.scan``. Each
inner step draws a minibatch and makes **one** ``value_and_grad`` call w.r.t. (φ, ϑ): ∇φ drives one
Simmering step of the encoder (sampling φ ~ exp(−L/T)), ∇ϑ is accumulated. The decoder then takes
one optax step along the mean decoder gradient, which is the gradient of the decoder free energy
F(ϑ) = −T log Z(ϑ) (Eq. 7). After training, :func:`collect` keeps sampling encoders with the decoder
fixed (Algorithm 2) and returns per-sample summaries chosen by the caller (thinned).

Everything here is pure and jittable; the Python drivers in :mod:`eae_sindy.training` call
``outer_step`` once per outer iteration (a few hundred calls at most) and never per inner step.

The loop knows nothing about SINDy: ``loss_fn(enc_params, dec_params, batch) -> scalar`` and
``sample_batch(key) -> batch`` are all it needs, so image autoencoders use the same code.

Data sets belong in the ``data`` argument of ``outer_step`` and ``collect`` (then
``sample_batch(key, data)`` and ``summarize(enc, dec, data)``), not in closures: ``jit`` embeds a
closed-over array in the compiled program as a constant, which at the paper's scale (4000 × 10⁴
float32 training snapshots, 10⁴ snapshots to fit Ξ on) means gigabytes of constants, slow
compiles and compilation-cache entries as large as the data.

:func:`temperature_ladder` runs K such EAEs side by side, one per temperature T_k (each with its
own decoder, optimiser state and chains), as one compiled program: a ``vmap`` over a leading
temperature axis with the chains nested inside. The chain axis and the step counter the
chains (and rungs) share live in :mod:`eae_sindy.chains`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy.chains import (
    chain_keys,
    counter_axes,
    first_chain,
    has_step_counter,
    over_chains,
    share_counter,
    shared_counter,
    sum_over_chains,
    unshare_counter,
)
from eae_sindy.simmering import SimmeringAlgorithm, SimmeringState, StiffSubspace

__all__ = [
    "CurvatureEstimate",
    "EAECollect",
    "EAEInit",
    "EAEOuterStep",
    "EAEState",
    "IterationInfo",
    "EntropicAutoencoder",
    "LadderRung",
    "LadderTemperature",
    "TemperatureLadder",
    "entropic_autoencoder",
    "temperature_ladder",
    "top_curvature",
]

Params = Any
"""A pytree of parameter arrays (encoder φ or decoder ϑ)."""
Batch = Any
"""A minibatch, whatever pytree ``sample_batch`` returns and ``loss_fn`` takes."""
Data = Any
"""A pytree of arrays handed to ``sample_batch`` and ``summarize`` (see the module doc)."""
Summaries = Any
"""The pytree ``summarize`` returns for one encoder, stacked over draws (and chains)."""
LossFn = Callable[[Params, Params, Batch], jax.Array]


class CurvatureEstimate(NamedTuple):
    """Each chain's running power-iteration estimate of the largest curvature of its encoder
    loss (the step-size control of :func:`entropic_autoencoder`, ``max_omega_dt``).

    Attributes:
        direction: pytree like the encoder parameters (with the chain axis, if any): the unit
            vector the next power iteration starts from (the previous estimate's eigenvector).
        value: the estimate of λ_max (of M⁻¹H·m where the mass is heavier along a stiff
            subspace), one per chain.
    """

    direction: Params
    value: jax.Array


# ---------------------------------------------------------------------------------------------
# the step that follows the measured curvature (``max_omega_dt``)


def _tree_norm(tree: Params) -> jax.Array:
    """‖v‖ over the whole pytree."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def _tree_scale(tree: Params, factor: jax.Array) -> Params:
    return jax.tree.map(lambda leaf: (factor * leaf).astype(leaf.dtype), tree)


def _lighter_along(stiff: StiffSubspace | None, tree: Params) -> Params:
    """m M⁻¹ v = v − Σ_k a_k/(1 + a_k) (u_kᵀv) u_k for the mass M = m(I + Σ_k a_k u_k u_kᵀ) of a
    stiff subspace (:func:`eae_sindy.simmering.with_stiff_subspace`); v itself without one."""
    if stiff is None:
        return tree
    pairs = zip(jax.tree.leaves(stiff.basis), jax.tree.leaves(tree), strict=True)
    dots = sum(jnp.tensordot(b, v, axes=v.ndim) for b, v in pairs)
    along = stiff.factor / (1.0 + stiff.factor) * dots
    return jax.tree.map(lambda b, v: v - jnp.tensordot(along.astype(v.dtype), b, axes=1),
                        stiff.basis, tree)


def top_curvature(
    loss: Callable[[Params], jax.Array],
    position: Params,
    direction: Params,
    iterations: int,
    stiff: StiffSubspace | None = None,
) -> tuple[Params, jax.Array]:
    """The largest curvature of ``loss`` at ``position`` by ``iterations`` steps of power
    iteration v ← Hv/‖Hv‖ from ``direction`` (any non-zero pytree like ``position``), one
    Hessian-vector product (forward over reverse) each.

    Returns ``(v, λ)``: the last normalised iterate, to warm-start the next call, and λ = ‖Hv‖ for
    the unit v that went into the last product. λ never exceeds the spectral radius ρ(H) and
    approaches it as (λ_2/λ_1)^iterations; warm-started from the previous outer iteration's v,
    while the Hessian drifts slowly, the iteration continues across calls. With ``stiff`` it
    estimates the largest eigenvalue of m M⁻¹H (the curvature the sampler with that heavier mass
    feels, λ/m = ω²).

    Pure and jittable; batch it over chains with ``lax.map``, not ``vmap`` (a batched second
    derivative of the SINDy loss's QR stalls XLA:CPU; see :mod:`eae_sindy.stiffness`).
    """
    grad = jax.grad(loss)

    def power(_, carry):
        v, _ = carry
        hv = _lighter_along(stiff, jax.jvp(grad, (position,), (v,))[1])
        norm = _tree_norm(hv)
        return _tree_scale(hv, 1.0 / jnp.maximum(norm, jnp.finfo(norm.dtype).tiny)), norm

    norm = _tree_norm(direction)
    start = _tree_scale(direction, 1.0 / jnp.maximum(norm, jnp.finfo(norm.dtype).tiny))
    return jax.lax.fori_loop(0, iterations, power, (start, jnp.zeros_like(norm)))


def _controlled_step(
    configured: jax.Array, mass: float, max_omega_dt: float, curvature: jax.Array
) -> jax.Array:
    """dt = min(dt_configured, (ω·dt)_max · √(m/λ)) for the largest of the chains' curvatures
    λ (all chains step in lock step). λ = 0 keeps the configured dt; a non-finite λ gives a
    NaN dt, which the sampler flags as diverged."""
    largest = jnp.max(curvature)
    dtype = largest.dtype
    limit = jnp.asarray(max_omega_dt, dtype) * jnp.sqrt(jnp.asarray(mass, dtype) / largest)
    dt = jnp.minimum(configured.astype(dtype), limit)
    return jnp.where(jnp.isfinite(largest), dt, jnp.asarray(jnp.nan, dtype))


# ---------------------------------------------------------------------------------------------
# the state, the diagnostics and the contracts of the EAE's functions


class EAEState(NamedTuple):
    """Training state. ``sampler`` is the encoder's Simmering state (its ``position`` is φ).
    ``curvature``: None, or the :class:`CurvatureEstimate` of an EAE built with
    ``max_omega_dt`` (a field added later with a None default: older checkpoints still load)."""

    sampler: SimmeringState
    decoder: Params
    opt_state: optax.OptState
    key: jax.Array
    iteration: jax.Array
    curvature: CurvatureEstimate | None = None


class IterationInfo(NamedTuple):
    """Diagnostics of one outer iteration (scalars).

    ``loss_*`` summarise the minibatch loss over the M ensemble members visited at the fixed
    decoder; ``loss_after_update`` is the loss of the current encoder after the decoder step;
    ``kinetic_temperature`` is averaged over the inner steps; ``decoder_grad_norm`` = ‖ḡ_ϑ‖.
    With ``max_omega_dt`` (else None): ``step_size``, the dt the iteration's inner steps ran at,
    and ``curvature_max``, the largest curvature estimate over the chains that chose it.
    """

    loss_mean: jax.Array
    loss_std: jax.Array
    loss_min: jax.Array
    loss_max: jax.Array
    loss_after_update: jax.Array
    kinetic_temperature: jax.Array
    decoder_grad_norm: jax.Array
    diverged: jax.Array
    step_size: jax.Array | None = None
    curvature_max: jax.Array | None = None


class EAEInit(Protocol):
    """Starts an EAE (or a ladder): the state at encoder ``enc_params``, decoder
    ``dec_params`` and fresh optimiser state, with all randomness derived from ``key``."""

    def __call__(self, enc_params: Params, dec_params: Params, key: jax.Array) -> EAEState:
        """Returns the state at iteration 0."""
        ...


class EAEOuterStep(Protocol):
    """One outer iteration of Algorithm 1: M encoder samples at the fixed decoder, then one
    decoder step along their mean gradient. ``data``: the pytree handed to ``sample_batch``
    (None: ``sample_batch(key)``)."""

    def __call__(
        self, state: EAEState, data: Data | None = None
    ) -> tuple[EAEState, IterationInfo]:
        """Returns the next state and the iteration's diagnostics."""
        ...


class EAECollect(Protocol):
    """Algorithm 2: ``num_samples`` encoders sampled at the fixed decoder, one kept every
    ``thin`` sampling steps and summarised (``num_samples`` and ``thin`` are static: jit with
    ``static_argnums=(1, 2)``). ``data``: handed to ``sample_batch`` and ``summarize``."""

    def __call__(
        self, state: EAEState, num_samples: int, thin: int, data: Data | None = None
    ) -> tuple[EAEState, Summaries]:
        """Returns the state after the last sampling step and the summaries stacked on a
        leading axis of length ``num_samples``."""
        ...


class LadderTemperature(Protocol):
    """The temperatures of a ladder's rungs at a state."""

    def __call__(self, state: EAEState) -> jax.Array:
        """Returns the (K,) temperatures the next ``outer_step`` (or ``collect``) samples at."""
        ...


class LadderRung(Protocol):
    """One rung of a ladder's state."""

    def __call__(self, state: EAEState, k: int) -> EAEState:
        """Returns the state of rung ``k`` alone, a plain single-temperature state."""
        ...


class EntropicAutoencoder(NamedTuple):
    """``init(enc_params, dec_params, key) -> EAEState``;
    ``outer_step(state, data=None) -> (state, IterationInfo)``;
    ``collect(state, num_samples, thin, data=None) -> (state, summaries)`` with summaries stacked
    on a leading axis of length ``num_samples`` (jit it with ``static_argnums=(1, 2)``).
    ``data``: a pytree of arrays handed to ``sample_batch`` and ``summarize`` (see
    :func:`entropic_autoencoder`)."""

    init: EAEInit
    outer_step: EAEOuterStep
    collect: EAECollect


# ---------------------------------------------------------------------------------------------
# one EAE: its settings, and the builders of its three programs


class _EAESetup(NamedTuple):
    """The arguments of :func:`entropic_autoencoder`, checked, that its programs share."""

    loss_fn: LossFn
    sampler: SimmeringAlgorithm
    optimizer: optax.GradientTransformation
    sample_batch: Callable[..., Batch]
    num_inner_steps: int
    summarize: Callable[..., Summaries]
    num_chains: int | None
    max_omega_dt: float | None
    power_iterations: int

    @property
    def controlled(self) -> bool:
        """Whether the step follows the measured curvature (``max_omega_dt`` given)."""
        return self.max_omega_dt is not None


def _check_settings(
    sampler: SimmeringAlgorithm,
    num_inner_steps: int,
    num_chains: int | None,
    max_omega_dt: float | None,
    power_iterations: int,
) -> None:
    """Raise ValueError for settings :func:`entropic_autoencoder` cannot run with."""
    if num_inner_steps < 1:
        raise ValueError(f"num_inner_steps must be >= 1, got {num_inner_steps}")
    if num_chains is not None and num_chains < 1:
        raise ValueError(f"num_chains must be None or >= 1, got {num_chains}")
    if max_omega_dt is None:
        return
    if not max_omega_dt > 0:
        raise ValueError(f"max_omega_dt must be None or positive, got {max_omega_dt!r}")
    if sampler.step_size is None or not isinstance(sampler.mass, int | float):
        raise ValueError(
            "max_omega_dt needs a sampler built by simmering() with a scalar mass (it reads "
            "the sampler's step_size and mass)"
        )
    if not isinstance(power_iterations, int) or power_iterations < 1:
        raise ValueError(f"power_iterations must be an integer >= 1, got {power_iterations}")


def _encoder_itself(enc_params: Params, dec_params: Params, *data: Data) -> Params:
    """The default ``summarize``: the encoder parameters themselves."""
    return enc_params


def _draw_batch(sample_batch: Callable[..., Batch], key: jax.Array, data: Data | None) -> Batch:
    """``sample_batch(key)``, or ``sample_batch(key, data)`` when there is data."""
    return sample_batch(key) if data is None else sample_batch(key, data)


def _step_options(counter: jax.Array | None, dt: jax.Array | None) -> dict[str, jax.Array]:
    """The optional keywords of ``sampler.step``: the shared counter and the controlled dt."""
    kwargs = {} if counter is None else {"shared_step": counter}
    return kwargs if dt is None else {**kwargs, "step_size": dt}


def _start_curvature(
    position: Params, key: jax.Array, num_chains: int | None
) -> CurvatureEstimate:
    """Random start directions (one per chain, normalised by the first power step) and zero
    estimates; ``position`` (possibly chain-batched) gives the shapes."""

    def one(k):
        leaves, treedef = jax.tree.flatten(first_chain(position, num_chains))
        keys = jax.random.split(k, len(leaves))
        draws = [jax.random.normal(kk, leaf.shape, leaf.dtype) for kk, leaf in
                 zip(keys, leaves, strict=True)]
        return jax.tree.unflatten(treedef, draws)

    direction = over_chains(one, num_chains)(chain_keys(key, num_chains))
    value = jnp.zeros(() if num_chains is None else (num_chains,), jnp.float32)
    return CurvatureEstimate(direction, value)


def _measure_curvature(
    setup: _EAESetup,
    sampler_state: SimmeringState,
    curvature: CurvatureEstimate | None,
    decoder: Params,
    key_first: jax.Array,
    data: Data | None,
) -> tuple[CurvatureEstimate, jax.Array]:
    """Each chain's curvature estimate at its position and the minibatch its first step of this
    call draws (``key_first``: that step's key), the chains one after another; returns the new
    estimates and the step size they allow."""
    if curvature is None:  # a state saved without the control: start the estimate now
        curvature = _start_curvature(sampler_state.position, key_first, setup.num_chains)
    stiff = sampler_state.stiff if has_step_counter(sampler_state) else None

    def one(args):
        position, direction, stiff, key = args
        batch = _draw_batch(setup.sample_batch, jax.random.split(key)[0], data)
        return top_curvature(
            lambda p: setup.loss_fn(p, decoder, batch), position, direction,
            setup.power_iterations, stiff,
        )

    args = (sampler_state.position, curvature.direction, stiff,
            chain_keys(key_first, setup.num_chains))
    if setup.num_chains is None:
        direction, value = one(args)
    else:
        direction, value = jax.lax.map(one, args)
    dtype = jax.tree.leaves(sampler_state.position)[0].dtype
    dt = _controlled_step(
        jnp.asarray(setup.sampler.step_size, dtype), setup.sampler.mass, setup.max_omega_dt,
        value,
    )
    return CurvatureEstimate(direction, value), dt


def _init_program(setup: _EAESetup) -> EAEInit:
    """``init``: the sampler started at the encoder (every chain at the same point, each with
    its own key), the optimiser at the decoder and, with the control, random curvature
    directions."""
    sampler, num_chains = setup.sampler, setup.num_chains

    def init(enc_params: Params, dec_params: Params, key: jax.Array) -> EAEState:
        key_curvature = jax.random.fold_in(key, 0x5C) if setup.controlled else None
        key, key_sampler = jax.random.split(key)
        sampler_state = over_chains(sampler.init, num_chains, (None, 0))(
            enc_params, chain_keys(key_sampler, num_chains)
        )
        curvature = None
        if setup.controlled:
            curvature = _start_curvature(sampler_state.position, key_curvature, num_chains)
        return EAEState(
            sampler_state,
            dec_params,
            setup.optimizer.init(dec_params),
            key,
            jnp.zeros((), jnp.int32),
            curvature,
        )

    return init


def _outer_step_program(setup: _EAESetup) -> EAEOuterStep:
    """``outer_step``: M inner steps in one ``lax.scan`` (each one ``value_and_grad`` w.r.t.
    (φ, ϑ) per chain: a sampler step along ∇φ, ∇ϑ summed), then one optimiser step of the
    decoder along the gradient averaged over the M × C encoders."""
    sampler, num_chains = setup.sampler, setup.num_chains
    grad_both = jax.value_and_grad(setup.loss_fn, argnums=(0, 1))
    num_encoders = setup.num_inner_steps * (num_chains or 1)

    def outer_step(state: EAEState, data: Data | None = None) -> tuple[EAEState, IterationInfo]:
        decoder = state.decoder
        key, key_inner, key_after = jax.random.split(state.key, 3)
        inner_keys = jax.random.split(key_inner, setup.num_inner_steps)
        curvature, dt = state.curvature, None
        if setup.controlled:
            curvature, dt = _measure_curvature(
                setup, state.sampler, curvature, decoder, inner_keys[0], data
            )

        def chain_step(sampler_state, key, counter):
            key_batch, key_step = jax.random.split(key)
            loss, (grad_enc, grad_dec) = grad_both(
                sampler_state.position, decoder, _draw_batch(setup.sample_batch, key_batch, data)
            )
            sampler_state, info = sampler.step(
                sampler_state, grad_enc, key_step, potential=loss, **_step_options(counter, dt)
            )
            return sampler_state, loss, grad_dec, info.kinetic_temperature

        def inner_step(carry, key):
            sampler_state, grad_sum = carry
            step = over_chains(chain_step, num_chains, (0, 0, None))
            sampler_state, loss, grad_dec, kinetic = step(
                sampler_state, chain_keys(key, num_chains),
                shared_counter(sampler_state, num_chains),
            )
            grad_sum = jax.tree.map(jnp.add, grad_sum, sum_over_chains(grad_dec, num_chains))
            return (sampler_state, grad_sum), (loss, kinetic)

        zeros = jax.tree.map(jnp.zeros_like, decoder)
        (sampler_state, grad_sum), (losses, kinetic) = jax.lax.scan(
            inner_step, (state.sampler, zeros), inner_keys
        )
        grad_mean = jax.tree.map(lambda g: g / num_encoders, grad_sum)
        updates, opt_state = setup.optimizer.update(grad_mean, state.opt_state, decoder)
        decoder = optax.apply_updates(decoder, updates)

        def loss_after_update(position, k):
            return setup.loss_fn(position, decoder, _draw_batch(setup.sample_batch, k, data))

        loss_after = jnp.mean(
            over_chains(loss_after_update, num_chains)(
                sampler_state.position, chain_keys(key_after, num_chains)
            )
        )
        diverged = (
            jnp.any(sampler_state.diverged)
            | ~jnp.isfinite(loss_after)
            | ~jnp.all(jnp.isfinite(losses))
        )
        info = IterationInfo(
            jnp.mean(losses),
            jnp.std(losses),
            jnp.min(losses),
            jnp.max(losses),
            loss_after,
            jnp.mean(kinetic),
            optax.global_norm(grad_mean),
            diverged,
            dt,
            None if curvature is None else jnp.max(curvature.value),
        )
        new_state = EAEState(
            sampler_state, decoder, opt_state, key, state.iteration + 1, curvature
        )
        return new_state, info

    return outer_step


def _collect_program(setup: _EAESetup) -> EAECollect:
    """``collect``: Algorithm 2, the encoder sampled at the fixed decoder (one
    ``value_and_grad`` w.r.t. φ per chain and step), summarised every ``thin`` steps."""
    sampler, num_chains = setup.sampler, setup.num_chains
    grad_encoder = jax.value_and_grad(setup.loss_fn, argnums=0)

    def collect(
        state: EAEState, num_samples: int, thin: int, data: Data | None = None
    ) -> tuple[EAEState, Summaries]:
        decoder = state.decoder
        extra = () if data is None else (data,)
        key, key_collect = jax.random.split(state.key)
        sample_keys = jax.random.split(key_collect, num_samples)
        curvature, dt = state.curvature, None
        if setup.controlled:  # the decoder is fixed: one estimate for the whole call
            first = jax.random.split(sample_keys[0], thin)[0]
            curvature, dt = _measure_curvature(
                setup, state.sampler, curvature, decoder, first, data
            )

        def chain_step(sampler_state, key, counter):
            key_batch, key_step = jax.random.split(key)
            loss, grad_enc = grad_encoder(
                sampler_state.position, decoder, _draw_batch(setup.sample_batch, key_batch, data)
            )
            sampler_state, _ = sampler.step(
                sampler_state, grad_enc, key_step, potential=loss, **_step_options(counter, dt)
            )
            return sampler_state

        def sampling_step(sampler_state, key):
            step = over_chains(chain_step, num_chains, (0, 0, None))
            counter = shared_counter(sampler_state, num_chains)
            return step(sampler_state, chain_keys(key, num_chains), counter), None

        def one_sample(sampler_state, key):
            sampler_state, _ = jax.lax.scan(
                sampling_step, sampler_state, jax.random.split(key, thin)
            )
            summarize_one = over_chains(
                lambda enc, dec: setup.summarize(enc, dec, *extra), num_chains, (0, None)
            )
            return sampler_state, summarize_one(sampler_state.position, decoder)

        sampler_state, summaries = jax.lax.scan(one_sample, state.sampler, sample_keys)
        return state._replace(sampler=sampler_state, key=key, curvature=curvature), summaries

    return collect


def entropic_autoencoder(
    loss_fn: LossFn,
    sampler: SimmeringAlgorithm,
    optimizer: optax.GradientTransformation,
    sample_batch: Callable[..., Batch],
    num_inner_steps: int,
    summarize: Callable[..., Summaries] | None = None,
    *,
    num_chains: int | None = None,
    max_omega_dt: float | None = None,
    power_iterations: int = 2,
) -> EntropicAutoencoder:
    """Build Algorithm 1 (training) and Algorithm 2 (collection) for any loss and model.

    Args:
        loss_fn: ``loss(enc_params, dec_params, batch) -> scalar`` (minibatch mean).
        sampler: a Simmering algorithm (``init``/``step``) for the encoder parameters.
        optimizer: optax transformation for the decoder (the paper: ``optax.adam(1e-3)``).
        sample_batch: ``key -> batch``; draws a minibatch inside jit. Called as
            ``sample_batch(key, data)`` when ``outer_step``/``collect`` are given ``data``:
            pass data sets that way, as arguments of the compiled program, rather than closing
            over them (a closed-over array is compiled in as a constant: see the module doc).
        num_inner_steps: M, encoder samples per decoder update.
        summarize: ``(enc_params, dec_params) -> pytree`` stored for each collected encoder
            (default: the encoder parameters themselves); ``(enc_params, dec_params, data)``
            when ``collect`` is given ``data``.
        num_chains: ``None`` for one encoder chain; C ≥ 1 runs C independent chains (same start,
            independent velocities, batches and noise) in one compiled step via ``vmap``. The
            decoder gradient is then averaged over M × C encoders, the sampler state and the
            summaries gain a chain axis (summaries: (num_samples, C, ...)), and shardings of
            the chain axis across devices are respected by XLA. The chains step in lock step:
            the sampler gets their common step counter unbatched (``shared_step``), so the
            periodic velocity re-draw stays a real branch and costs only where it happens.
        max_omega_dt: None (default): every step at the sampler's configured dt. A number
            (ω·dt)_max: the step follows the measured curvature. Each outer iteration first
            estimates the largest Hessian eigenvalue λ_c of every chain's encoder loss, on that
            iteration's first minibatch at the current decoder, by ``power_iterations``
            Hessian-vector products warm-started from the previous iteration's eigenvector
            (:func:`top_curvature`; the chains one after another under ``lax.map``), and runs
            its M inner steps at dt = min(dt_configured, (ω·dt)_max · √(m / max_c λ_c)). The
            leapfrog is stable for ω·dt < 2, ω = √(λ/m); a decoder that sharpens the encoder
            loss as it trains pushes λ up, and at a fixed dt the stiffest directions would pass
            that limit. The first iteration starts from a random direction, so its estimate
            (a lower bound, like every one) may be rough; the configured dt stays the upper
            bound. ``collect`` re-estimates once per call and samples at that dt. The
            estimates live in ``EAEState.curvature``; ``IterationInfo.step_size`` and
            ``curvature_max`` report them. Needs a sampler from
            :func:`eae_sindy.simmering.simmering` with a scalar mass.
        power_iterations: Hessian-vector products per chain and outer iteration (≥ 1).

    Returns:
        An :class:`EntropicAutoencoder` of pure functions.
    """
    _check_settings(sampler, num_inner_steps, num_chains, max_omega_dt, power_iterations)
    setup = _EAESetup(
        loss_fn,
        sampler,
        optimizer,
        sample_batch,
        num_inner_steps,
        summarize or _encoder_itself,
        num_chains,
        max_omega_dt,
        power_iterations,
    )
    return EntropicAutoencoder(
        _init_program(setup), _outer_step_program(setup), _collect_program(setup)
    )


# ---------------------------------------------------------------------------------------------
# K EAEs at K temperatures in one program


class TemperatureLadder(NamedTuple):
    """K independent EAEs at temperatures T_1..T_K, run as one program (see
    :func:`temperature_ladder`). Every leaf of the state, of the :class:`IterationInfo` and of the
    collected summaries has a leading axis of length K (summaries: (K, num_samples, [C,] ...)).

    ``init(enc_params, dec_params, key) -> EAEState``;
    ``outer_step(state, data=None) -> (state, info)``;
    ``collect(state, num_samples, thin, data=None) -> (state, summaries)`` (jit with
    ``static_argnums=(1, 2)``; ``data`` is shared by the rungs); ``temperature(state) -> (K,)``
    the temperatures the next ``outer_step`` (or ``collect``) samples at; ``rung(state, k)`` the
    state of rung k alone, a plain single-temperature :class:`EAEState`; ``num_rungs`` = K.
    """

    init: EAEInit
    outer_step: EAEOuterStep
    collect: EAECollect
    temperature: LadderTemperature
    rung: LadderRung
    num_rungs: int


def _checked_temperatures(temperatures: Sequence[float] | jax.Array) -> np.ndarray:
    """The temperatures as a float64 array; ValueError unless 1-D, non-empty, positive and
    finite."""
    values = np.asarray(temperatures, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"temperatures must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"temperatures must be positive and finite, got {values.tolist()}")
    return values


def _rung_temperature(
    anneal: Callable[[jax.Array, jax.Array], jax.Array] | None,
    base_temperature: jax.Array,
    iteration: jax.Array,
) -> jax.Array:
    """The temperature of the rung with base ``base_temperature`` at outer iteration
    ``iteration``: ``anneal(T_k, iteration)`` in T_k's dtype, or T_k without a schedule."""
    if anneal is None:
        return base_temperature
    return jnp.asarray(anneal(base_temperature, iteration), base_temperature.dtype)


def _over_rungs(
    one: Callable[[jax.Array, EAEState], tuple[EAEState, Any]],
    base: jax.Array,
    state: EAEState,
) -> tuple[EAEState, Any]:
    """``one(T_k, rung_state) -> (rung_state, out)`` over the rungs (``base``: the (K,) T_k).
    The rungs step in lock step, so the sampler counter is mapped unbatched (see
    :mod:`eae_sindy.chains`)."""
    axes = EAEState(counter_axes(state.sampler), 0, 0, 0, 0, 0)
    shared = state._replace(sampler=share_counter(state.sampler))
    new, out = jax.vmap(one, in_axes=(0, axes), out_axes=(axes, 0))(base, shared)
    return new._replace(sampler=unshare_counter(new.sampler, base.shape[0])), out


def temperature_ladder(
    build: Callable[[jax.Array], EntropicAutoencoder],
    temperatures: Sequence[float] | jax.Array,
    *,
    anneal: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
) -> TemperatureLadder:
    """K independent entropic autoencoders, one per temperature, in one compiled program.

    ``build(T)`` must return the single-temperature EAE that samples its encoder at temperature
    ``T`` (typically ``entropic_autoencoder(loss, simmering(T, m, dt), ...)``). The ladder calls
    it while tracing, inside a ``vmap`` over the temperature axis, so ``T`` is a traced float
    scalar there: ``build`` may only use it as a number in JAX operations (Simmering does), not
    in Python control flow. Everything else ``build`` closes over (loss, data, optimiser, number
    of chains) is shared by the rungs, but each rung has its own decoder, optimiser state, chains,
    key and counter; the rungs never exchange anything (no replica swaps).

    Rung k of the ladder is the EAE ``build(T_k)`` started with
    ``build(T_k).init(enc_params, dec_params, jax.random.split(key, K)[k])``: all rungs start
    from the same parameters with independent keys derived from ``key``, and (up to float32
    rounding of the batched computation) rung k follows that EAE's trajectory.

    Args:
        build: ``T -> EntropicAutoencoder`` sampling at temperature T.
        temperatures: the K ≥ 1 positive, finite temperatures T_k (1-D).
        anneal: optional schedule ``(T_k, iteration) -> T`` giving the temperature of rung k
            during outer iteration ``iteration`` (int32 scalar, the state's counter; 0 for
            ``init``), e.g. ``lambda t, i: t * jnp.maximum(1.0, 10.0 * 0.9 ** i)`` cools every
            rung from 10 T_k to T_k. The temperature is constant during an outer iteration and,
            in ``collect``, stays at its value for the iteration reached. In training, rung k
            then runs like a sampler built with ``simmering(lambda n: anneal(T_k, n // M), ...)``
            (n: the sampler's step counter, M: inner steps per outer iteration).
            ``None``: T_k throughout.

    Returns:
        A :class:`TemperatureLadder` of pure, jittable functions.

    Raises:
        ValueError: ``temperatures`` is empty, not 1-D, or holds a non-positive or non-finite
            value.
    """
    values = _checked_temperatures(temperatures)
    num_rungs = int(values.size)
    # The floating dtype JAX gives Python floats (float32 unless x64 is on), so that a rung sees
    # the same T as ``simmering(T_k, ...)`` built from the Python number.
    base = jnp.asarray(values, dtype=jnp.result_type(float))
    rung_temperature = partial(_rung_temperature, anneal)

    def init(enc_params: Params, dec_params: Params, key: jax.Array) -> EAEState:
        def one(t, k):
            t = rung_temperature(t, jnp.zeros((), jnp.int32))
            return build(t).init(enc_params, dec_params, k)

        return jax.vmap(one)(base, jax.random.split(key, num_rungs))

    def outer_step(state: EAEState, data: Data | None = None) -> tuple[EAEState, IterationInfo]:
        def one(t, s):
            return build(rung_temperature(t, s.iteration)).outer_step(s, data)

        return _over_rungs(one, base, state)

    def collect(
        state: EAEState, num_samples: int, thin: int, data: Data | None = None
    ) -> tuple[EAEState, Summaries]:
        def one(t, s):
            return build(rung_temperature(t, s.iteration)).collect(s, num_samples, thin, data)

        return _over_rungs(one, base, state)

    def temperature(state: EAEState) -> jax.Array:
        return jax.vmap(rung_temperature)(base, state.iteration)

    def rung(state: EAEState, k: int) -> EAEState:
        return jax.tree.map(lambda a: a[k], state)

    return TemperatureLadder(init, outer_step, collect, temperature, rung, num_rungs)
