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
temperature axis with the chains nested inside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy.simmering import SimmeringAlgorithm, SimmeringState, StiffSubspace

__all__ = [
    "CurvatureEstimate",
    "EAEState",
    "IterationInfo",
    "EntropicAutoencoder",
    "TemperatureLadder",
    "entropic_autoencoder",
    "temperature_ladder",
    "top_curvature",
]

Params = Any
Batch = Any
LossFn = Callable[[Params, Params, Batch], jax.Array]


# Chains (and ladder rungs) step in lock step, so the Simmering step counter is the same along
# a batch axis. ``vmap`` would still batch it, and it turns a ``lax.cond`` on a batched
# predicate (Simmering's periodic velocity re-draw) into a select that runs *both* branches:
# N normal variates drawn on every step. The chains hand the sampler the counter unbatched
# (``shared_step``), and the ladder maps the rungs with the counter unbatched, so that the
# cond stays a real branch. The stored state keeps its batched counter (same layout, values).


def _lockstep(sampler_state: Any) -> bool:
    return isinstance(sampler_state, SimmeringState)


def _share_counter(sampler_state: Any) -> Any:
    """Drop the leading (lock-step) axis of the counter: its first entry stands for all."""
    if not _lockstep(sampler_state):
        return sampler_state
    return sampler_state._replace(step=sampler_state.step[0])


def _unshare_counter(sampler_state: Any, size: int) -> Any:
    """Give the shared counter its leading axis of length ``size`` back."""
    if not _lockstep(sampler_state):
        return sampler_state
    step = sampler_state.step
    return sampler_state._replace(step=jnp.broadcast_to(step, (size, *jnp.shape(step))))


def _counter_axes(sampler_state: Any) -> Any:
    """``vmap`` axes of a sampler state with a shared counter: 0 everywhere but ``step``."""
    if not _lockstep(sampler_state):
        return 0
    return sampler_state._replace(**{f: 0 for f in sampler_state._fields if f != "step"}, step=None)


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
    configured: jax.Array, mass: Any, max_omega_dt: float, curvature: jax.Array
) -> jax.Array:
    """dt = min(dt_configured, (ω·dt)_max · √(m/λ)) for the largest of the chains' curvatures
    λ (all chains step in lock step). λ = 0 keeps the configured dt; a non-finite λ gives a
    NaN dt, which the sampler flags as diverged."""
    largest = jnp.max(curvature)
    dtype = largest.dtype
    limit = jnp.asarray(max_omega_dt, dtype) * jnp.sqrt(jnp.asarray(mass, dtype) / largest)
    dt = jnp.minimum(configured.astype(dtype), limit)
    return jnp.where(jnp.isfinite(largest), dt, jnp.asarray(jnp.nan, dtype))


class EAEState(NamedTuple):
    """Training state. ``sampler`` is the encoder's Simmering state (its ``position`` is φ).
    ``curvature``: None, or the :class:`CurvatureEstimate` of an EAE built with
    ``max_omega_dt`` (a field added later with a None default: older checkpoints still load)."""

    sampler: Any
    decoder: Params
    opt_state: optax.OptState
    key: jax.Array
    iteration: jax.Array
    curvature: Any = None


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
    step_size: Any = None
    curvature_max: Any = None


class EntropicAutoencoder(NamedTuple):
    """``init(enc_params, dec_params, key) -> EAEState``;
    ``outer_step(state, data=None) -> (state, IterationInfo)``;
    ``collect(state, num_samples, thin, data=None) -> (state, summaries)`` with summaries stacked
    on a leading axis of length ``num_samples`` (jit it with ``static_argnums=(1, 2)``).
    ``data``: a pytree of arrays handed to ``sample_batch`` and ``summarize`` (see
    :func:`entropic_autoencoder`)."""

    init: Callable[[Params, Params, jax.Array], EAEState]
    outer_step: Callable[..., tuple[EAEState, IterationInfo]]
    collect: Callable[..., tuple[EAEState, Any]]


def entropic_autoencoder(
    loss_fn: LossFn,
    sampler: SimmeringAlgorithm,
    optimizer: optax.GradientTransformation,
    sample_batch: Callable[..., Batch],
    num_inner_steps: int,
    summarize: Callable[..., Any] | None = None,
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
    if num_inner_steps < 1:
        raise ValueError(f"num_inner_steps must be >= 1, got {num_inner_steps}")
    if num_chains is not None and num_chains < 1:
        raise ValueError(f"num_chains must be None or >= 1, got {num_chains}")
    controlled = max_omega_dt is not None
    if controlled:
        if not max_omega_dt > 0:
            raise ValueError(f"max_omega_dt must be None or positive, got {max_omega_dt!r}")
        if sampler.step_size is None or not isinstance(sampler.mass, int | float):
            raise ValueError(
                "max_omega_dt needs a sampler built by simmering() with a scalar mass (it reads "
                "the sampler's step_size and mass)"
            )
        if not isinstance(power_iterations, int) or power_iterations < 1:
            raise ValueError(f"power_iterations must be an integer >= 1, got {power_iterations}")
    summarize = summarize or (lambda enc_params, dec_params, *data: enc_params)
    grad_both = jax.value_and_grad(loss_fn, argnums=(0, 1))
    grad_encoder = jax.value_and_grad(loss_fn, argnums=0)

    def per_chain(fn, in_axes=0):
        """``fn`` over the chain axis (vmap) when there are chains; ``fn`` itself otherwise.
        The step functions take the shared counter as a third, unbatched argument."""
        return fn if num_chains is None else jax.vmap(fn, in_axes=in_axes)

    def chain_keys(key):
        return key if num_chains is None else jax.random.split(key, num_chains)

    def shared_step(sampler_state):
        """The chains' common step counter, to be passed unbatched (see ``_lockstep``); None
        for one chain or a sampler without one."""
        if num_chains is None or not _lockstep(sampler_state):
            return None
        return sampler_state.step[0]

    def step_kwargs(counter, dt=None):
        kwargs = {} if counter is None else {"shared_step": counter}
        return kwargs if dt is None else {**kwargs, "step_size": dt}

    def chain_sum(tree):
        return tree if num_chains is None else jax.tree.map(lambda a: jnp.sum(a, axis=0), tree)

    num_encoders = num_inner_steps * (num_chains or 1)

    def start_curvature(position, key):
        """Random start directions (one per chain, normalised by the first power step) and zero
        estimates."""
        def one(k):
            leaves, treedef = jax.tree.flatten(enc_params_like(position))
            keys = jax.random.split(k, len(leaves))
            draws = [jax.random.normal(kk, leaf.shape, leaf.dtype) for kk, leaf in
                     zip(keys, leaves, strict=True)]
            return jax.tree.unflatten(treedef, draws)

        direction = per_chain(one)(chain_keys(key))
        value = jnp.zeros(() if num_chains is None else (num_chains,), jnp.float32)
        return CurvatureEstimate(direction, value)

    def enc_params_like(position):
        """One chain's parameters (shapes only matter) from the possibly chain-batched
        ``position``."""
        if num_chains is None:
            return position
        return jax.tree.map(lambda a: a[0], position)

    def init(enc_params: Params, dec_params: Params, key: jax.Array) -> EAEState:
        key_curvature = jax.random.fold_in(key, 0x5C) if controlled else None
        key, key_sampler = jax.random.split(key)
        sampler_state = per_chain(sampler.init, (None, 0))(enc_params, chain_keys(key_sampler))
        curvature = None
        if controlled:
            curvature = start_curvature(sampler_state.position, key_curvature)
        return EAEState(
            sampler_state,
            dec_params,
            optimizer.init(dec_params),
            key,
            jnp.zeros((), jnp.int32),
            curvature,
        )

    def batch_of(key, data):
        return sample_batch(key) if data is None else sample_batch(key, data)

    def measure_curvature(sampler_state, curvature, decoder, key_first, data):
        """Each chain's curvature estimate at its position and the minibatch its first step
        of this call draws (``key_first``: that step's key), the chains one after another;
        returns the new estimates and the step size they allow."""
        if curvature is None:  # a state saved without the control: start the estimate now
            curvature = start_curvature(sampler_state.position, key_first)
        stiff = sampler_state.stiff if _lockstep(sampler_state) else None

        def one(args):
            position, direction, stiff, key = args
            batch = batch_of(jax.random.split(key)[0], data)
            return top_curvature(
                lambda p: loss_fn(p, decoder, batch), position, direction, power_iterations,
                stiff,
            )

        args = (sampler_state.position, curvature.direction, stiff, chain_keys(key_first))
        if num_chains is None:
            direction, value = one(args)
        else:
            direction, value = jax.lax.map(one, args)
        dtype = jax.tree.leaves(sampler_state.position)[0].dtype
        dt = _controlled_step(
            jnp.asarray(sampler.step_size, dtype), sampler.mass, max_omega_dt, value
        )
        return CurvatureEstimate(direction, value), dt

    def outer_step(state: EAEState, data: Any = None) -> tuple[EAEState, IterationInfo]:
        decoder = state.decoder
        key, key_inner, key_after = jax.random.split(state.key, 3)
        inner_keys = jax.random.split(key_inner, num_inner_steps)
        curvature, dt = state.curvature, None
        if controlled:
            curvature, dt = measure_curvature(
                state.sampler, curvature, decoder, inner_keys[0], data
            )

        def chain_step(sampler_state, key, counter):
            key_batch, key_step = jax.random.split(key)
            loss, (grad_enc, grad_dec) = grad_both(
                sampler_state.position, decoder, batch_of(key_batch, data)
            )
            sampler_state, info = sampler.step(
                sampler_state, grad_enc, key_step, potential=loss, **step_kwargs(counter, dt)
            )
            return sampler_state, loss, grad_dec, info.kinetic_temperature

        def inner_step(carry, key):
            sampler_state, grad_sum = carry
            sampler_state, loss, grad_dec, kinetic = per_chain(chain_step, (0, 0, None))(
                sampler_state, chain_keys(key), shared_step(sampler_state)
            )
            grad_sum = jax.tree.map(jnp.add, grad_sum, chain_sum(grad_dec))
            return (sampler_state, grad_sum), (loss, kinetic)

        zeros = jax.tree.map(jnp.zeros_like, decoder)
        (sampler_state, grad_sum), (losses, kinetic) = jax.lax.scan(
            inner_step, (state.sampler, zeros), inner_keys
        )
        grad_mean = jax.tree.map(lambda g: g / num_encoders, grad_sum)
        updates, opt_state = optimizer.update(grad_mean, state.opt_state, decoder)
        decoder = optax.apply_updates(decoder, updates)
        loss_after = jnp.mean(
            per_chain(lambda position, k: loss_fn(position, decoder, batch_of(k, data)))(
                sampler_state.position, chain_keys(key_after)
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

    def collect(
        state: EAEState, num_samples: int, thin: int, data: Any = None
    ) -> tuple[EAEState, Any]:
        decoder = state.decoder
        extra = () if data is None else (data,)
        key, key_collect = jax.random.split(state.key)
        sample_keys = jax.random.split(key_collect, num_samples)
        curvature, dt = state.curvature, None
        if controlled:  # the decoder is fixed: one estimate for the whole call
            first = jax.random.split(sample_keys[0], thin)[0]
            curvature, dt = measure_curvature(state.sampler, curvature, decoder, first, data)

        def chain_step(sampler_state, key, counter):
            key_batch, key_step = jax.random.split(key)
            loss, grad_enc = grad_encoder(
                sampler_state.position, decoder, batch_of(key_batch, data)
            )
            sampler_state, _ = sampler.step(
                sampler_state, grad_enc, key_step, potential=loss, **step_kwargs(counter, dt)
            )
            return sampler_state

        def sampling_step(sampler_state, key):
            step = per_chain(chain_step, (0, 0, None))
            return step(sampler_state, chain_keys(key), shared_step(sampler_state)), None

        def one_sample(sampler_state, key):
            sampler_state, _ = jax.lax.scan(
                sampling_step, sampler_state, jax.random.split(key, thin)
            )
            summary = per_chain(lambda enc, dec: summarize(enc, dec, *extra), (0, None))(
                sampler_state.position, decoder
            )
            return sampler_state, summary

        sampler_state, summaries = jax.lax.scan(one_sample, state.sampler, sample_keys)
        return state._replace(sampler=sampler_state, key=key, curvature=curvature), summaries

    return EntropicAutoencoder(init, outer_step, collect)


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

    init: Callable[[Params, Params, jax.Array], EAEState]
    outer_step: Callable[..., tuple[EAEState, IterationInfo]]
    collect: Callable[..., tuple[EAEState, Any]]
    temperature: Callable[[EAEState], jax.Array]
    rung: Callable[[EAEState, int], EAEState]
    num_rungs: int


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
    values = np.asarray(temperatures, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"temperatures must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"temperatures must be positive and finite, got {values.tolist()}")
    num_rungs = int(values.size)
    # The floating dtype JAX gives Python floats (float32 unless x64 is on), so that a rung sees
    # the same T as ``simmering(T_k, ...)`` built from the Python number.
    base = jnp.asarray(values, dtype=jnp.result_type(float))

    def rung_temperature(base_temperature: jax.Array, iteration: jax.Array) -> jax.Array:
        if anneal is None:
            return base_temperature
        return jnp.asarray(anneal(base_temperature, iteration), base_temperature.dtype)

    def init(enc_params: Params, dec_params: Params, key: jax.Array) -> EAEState:
        def one(t, k):
            t = rung_temperature(t, jnp.zeros((), jnp.int32))
            return build(t).init(enc_params, dec_params, k)

        return jax.vmap(one)(base, jax.random.split(key, num_rungs))

    def per_rung(one, state: EAEState):
        """``one(T_k, rung_state) -> (rung_state, out)`` over the rungs. The rungs step in lock
        step, so the sampler counter is mapped unbatched (see ``_lockstep``)."""
        axes = EAEState(_counter_axes(state.sampler), 0, 0, 0, 0, 0)
        shared = state._replace(sampler=_share_counter(state.sampler))
        new, out = jax.vmap(one, in_axes=(0, axes), out_axes=(axes, 0))(base, shared)
        return new._replace(sampler=_unshare_counter(new.sampler, num_rungs)), out

    def outer_step(state: EAEState, data: Any = None) -> tuple[EAEState, IterationInfo]:
        def one(t, s):
            return build(rung_temperature(t, s.iteration)).outer_step(s, data)

        return per_rung(one, state)

    def collect(
        state: EAEState, num_samples: int, thin: int, data: Any = None
    ) -> tuple[EAEState, Any]:
        def one(t, s):
            return build(rung_temperature(t, s.iteration)).collect(s, num_samples, thin, data)

        return per_rung(one, state)

    def temperature(state: EAEState) -> jax.Array:
        return jax.vmap(rung_temperature)(base, state.iteration)

    def rung(state: EAEState, k: int) -> EAEState:
        return jax.tree.map(lambda a: a[k], state)

    return TemperatureLadder(init, outer_step, collect, temperature, rung, num_rungs)
