r"""Simmering: finite-temperature molecular-dynamics sampling of network parameters.

An entropic autoencoder never optimises its encoder: it *samples* the encoder parameters φ from
the Gibbs measure p(φ) ∝ exp(−U(φ)/T), where U is the minibatch loss at a fixed decoder. Simmering
(Babayan et al. 2025) treats every scalar parameter as a 1-D classical particle of mass m, moves
it with the force −∇U, and couples all velocities to ONE global Nosé–Hoover chain (NHC) over the
whole pytree (N = number of scalars), so that the trajectory samples the canonical ensemble at
temperature T. A BAOAB Langevin thermostat is offered behind the same API.

Nosé–Hoover chain equations (Martyna, Klein & Tuckerman), for N scalars of mass m:

.. math::
    \dot x = v,\quad m\dot v = -\nabla U - (p_{\xi_1}/Q_1)\, m v,\quad
    \dot p_{\xi_1} = \textstyle\sum m v^2 - N T - (p_{\xi_2}/Q_2)\, p_{\xi_1},\quad
    \dot p_{\xi_j} = p_{\xi_{j-1}}^2/Q_{j-1} - T - (p_{\xi_{j+1}}/Q_{j+1})\, p_{\xi_j},

with Q_1 = N T τ², Q_j = T τ² (recomputed from the current T every step). One global chain
couples all N = Σ leaf sizes; the mean momentum is *not* removed. Integration is the MTK
Trotter splitting exp(iL_NHC dt/2) exp(iL_v dt/2) exp(iL_x dt) exp(iL_v dt/2) exp(iL_NHC dt/2),
each chain half-step itself split into ``chain_steps`` × ``sy_order`` Suzuki–Yoshida pieces;
it is time-reversible and symplectic in the Trotter sense.

**One gradient per step.** ``step`` receives ∇U at ``state.position`` and is arranged
force-carrying, like velocity Verlet driven from outside::

    [finish previous step: v += (dt/2)·F/m ; NHC half-step]      (skipped when state.step == 0)
    -> synchronised (x_n, v_n): diagnostics; optional velocity re-draw
    -> [NHC half-step ; v += (dt/2)·F/m ; x += dt·v]             (x_{n+1} is returned)

With ``thermostat="langevin"`` the same arrangement runs BAOAB (Leimkuhler & Matthews)::

    [finish: B]  -> (x_n, v_n)  ->  [B ; A ; O ; A]

where B is the half kick v += (dt/2)·F/m, A the half drift x += (dt/2)·v and O the exact
Ornstein–Uhlenbeck update v ← e^{−γ dt} v + √((1 − e^{−2γ dt}) T/m)·ξ. Its chain variables
stay zero and ``info.conserved_energy`` is NaN.

One global chain over uncoupled (e.g. nearly harmonic) modes is not ergodic: it rescales
all velocities alike, so the energy split between modes is almost an adiabatic invariant,
and modes with ω·τ ≈ 1 are drained resonantly (measured on k = 1, 10, 100 springs started
at x = 0 with τ = 1: ⟨x²⟩ of the k = 1 modes at 25 % of T/k; fine with ω·τ ≳ 10 or with
Langevin). Velocity re-draws (``resample_every``, an occasional Andersen-like reset) break
that invariance (not measured here).

The module follows the blackjax / optax pattern: :func:`simmering` fixes the hyper-parameters and
returns a :class:`SimmeringAlgorithm` of two pure, jittable functions ``init`` and ``step``
operating on a :class:`SimmeringState`; each step returns a :class:`SimmeringInfo` of
diagnostics. The library never calls ``jit``. :func:`sample` is a convenience driver that runs
``init`` and a ``lax.scan`` of steps.

Layout: the mass matrix is a :class:`~eae_sindy.mass_metrics.MassMetric` (scalar, diagonal, or
heavier along a stiff subspace; :mod:`eae_sindy.mass_metrics`), the chain and BAOAB numerics
are in :mod:`eae_sindy.thermostats`. Here :func:`simmering` checks the settings and picks,
once, the metric (:func:`metric_for_mass`) and the step builder of the thermostat
(:func:`nose_hoover_step` or :func:`langevin_step`); :class:`SimmeringInitFn` and
:class:`SimmeringStepFn` are the typed contracts of ``init`` and ``step``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> algo = simmering(1e-4, 1e-6, 1e-5)
    >>> x = {"w": jnp.zeros((3, 4), jnp.float32)}
    >>> state = algo.init(x, jax.random.key(0))
    >>> grads = jax.tree.map(lambda p: 1e-2 * p, state.position)   # ∇U for U = 0.005·|x|²
    >>> state, info = jax.jit(algo.step)(state, grads, jax.random.key(1))
    >>> state.position["w"].dtype
    dtype('float32')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from eae_sindy.mass_metrics import (
    MassMetric,
    diagonal_mass_metric,
    float_dtype,
    normal_like,
    num_scalars,
    scalar_mass_metric,
    stiff_mass_metric,
    stiff_velocity,
)
from eae_sindy.thermostats import (
    SUZUKI_YOSHIDA,
    ChainSettings,
    baoa_update,
    chain_weights,
    nhc_conserved_energy,
    nhc_half_step,
    nhc_kick_drift,
)

__all__ = [
    "SimmeringAlgorithm",
    "SimmeringInfo",
    "SimmeringState",
    "StiffSubspace",
    "sample",
    "simmering",
    "with_stiff_subspace",
]

PyTree = Any
Array = jax.Array
Schedule = Callable[[Array], ArrayLike]
TemperatureAt = Callable[[Array, DTypeLike], Array]  # (step counter, dtype) -> T as an array

_THERMOSTATS = ("nose_hoover", "langevin")


class StiffSubspace(NamedTuple):
    """A mass matrix heavier along k orthonormal directions u_1..u_k of parameter space:
    M = m (I + Σ_k a_k u_k u_kᵀ), with m the sampler's scalar mass.

    Attributes:
        basis: pytree like the position, each leaf with a leading axis of length k: the u_k
            (orthonormal over the whole pytree).
        factor: (k,) the a_k ≥ 0.
    """

    basis: PyTree
    factor: Array


class SimmeringState(NamedTuple):
    """State of one Simmering chain.

    Attributes:
        position: pytree of float arrays, the sampled parameters φ. After a step this is the
            position at which the caller evaluates the next gradient.
        velocity: pytree like ``position``. Between steps it holds the velocity *before* the
            pending half kick and thermostat half-step that the next call finishes (see
            :func:`simmering`); ``x_new = x_old + step_size · velocity`` holds for the NHC.
        xi: (chain_length,) Nosé–Hoover chain positions ξ_j (zeros for Langevin).
        p_xi: (chain_length,) Nosé–Hoover chain momenta p_ξj (zeros for Langevin).
        step: int32 scalar, number of steps taken.
        diverged: bool scalar, sticky; True once a non-finite value appeared.
        stiff: None (the mass is ``mass``), or a :class:`StiffSubspace` that makes the mass
            heavier along a few directions (see :func:`with_stiff_subspace`).
    """

    position: PyTree
    velocity: PyTree
    xi: Array
    p_xi: Array
    step: Array
    diverged: Array
    stiff: StiffSubspace | None = None


class SimmeringInfo(NamedTuple):
    """Diagnostics of one step, computed at the synchronised point (x_n, v_n).

    Attributes:
        kinetic_temperature: scalar, Σ m v² / N (equals T on average at equilibrium).
        conserved_energy: scalar, the NHC extended energy
            H_ext = U + Σ m v²/2 + Σ_j p_ξj²/(2 Q_j) + N T ξ_1 + T Σ_{j≥2} ξ_j when the
            potential U was passed to ``step``, NaN otherwise (and always NaN for Langevin).
        temperature: scalar, the target temperature T used in this step.
        diverged: bool scalar, the sticky divergence flag after this step.
    """

    kinetic_temperature: Array
    conserved_energy: Array
    temperature: Array
    diverged: Array


class SimmeringInitFn(Protocol):
    """The ``init`` of a :class:`SimmeringAlgorithm`."""

    def __call__(self, position: PyTree, key: Array) -> SimmeringState:
        """A fresh chain at ``position`` (a pytree of float arrays).

        Velocities are drawn from N(0, T(0) M⁻¹) with ``key``, in the dtype of ``position``;
        the chain variables are zero, ``step`` is 0 and ``diverged`` says whether ``position``
        holds a non-finite value. Pure; works under ``jit`` and ``vmap``.
        """


class SimmeringStepFn(Protocol):
    """The ``step`` of a :class:`SimmeringAlgorithm`."""

    def __call__(
        self,
        state: SimmeringState,
        grads: PyTree,
        key: Array,
        potential: ArrayLike | None = None,
        *,
        shared_step: ArrayLike | None = None,
        step_size: ArrayLike | None = None,
    ) -> tuple[SimmeringState, SimmeringInfo]:
        """One step of the chain ``state``.

        Args:
            state: the chain.
            grads: ∇U at ``state.position`` (same pytree).
            key: PRNG key of the velocity re-draw and the Langevin noise.
            potential: the scalar U at ``state.position``, or None; only needed for
                ``info.conserved_energy`` (and its finiteness for ``diverged``).
            shared_step: an int32 scalar equal to ``state.step``, for chains that are
                ``vmap``-ped in lock step. Passed unbatched (``in_axes=None``), it keeps the
                velocity re-draw a real branch: ``vmap`` turns a ``lax.cond`` on a batched
                predicate (the batched ``state.step``) into a select that runs both branches,
                i.e. draws N normal variates on every step. Only the re-draw schedule reads
                it; the result is the same as without it.
            step_size: a step dt for this call only, in place of the configured one; it may be
                traced (e.g. chosen from a curvature estimate inside ``jit``). The thermostat
                masses Q (from τ) and the Langevin friction stay as configured. The call
                finishes the previous step's half kick with this dt/2 too, so a change of dt
                between calls is exact only where it is small (one O(Δdt·F/m) velocity error
                per change, which the thermostat absorbs). Not given: the configured dt, with
                results bit-identical to a sampler without the keyword.

        Returns:
            The state after the step (its ``position`` is where the next gradient is taken)
            and the :class:`SimmeringInfo` at the synchronised point of this step.
        """


class SimmeringAlgorithm(NamedTuple):
    """The pure functions ``init(position, key)`` and
    ``step(state, grads, key, potential, *, shared_step, step_size)``, and the settings a driver
    that adapts the step needs (None for an algorithm built by hand from ``init`` and ``step``):
    ``step_size`` (the configured dt), ``mass`` (m) and ``max_omega_dt`` (see
    :func:`simmering`)."""

    init: SimmeringInitFn
    step: SimmeringStepFn
    step_size: float | None = None
    mass: float | PyTree | None = None
    max_omega_dt: float | None = None


def with_stiff_subspace(state: SimmeringState, basis: PyTree, factor: Array) -> SimmeringState:
    """``state`` sampled from now on with the mass M = m (I + Σ_k a_k u_k u_kᵀ) (a
    :class:`StiffSubspace` of ``basis`` and ``factor``; Nosé–Hoover thermostat, scalar mass m).

    Any constant mass matrix leaves the sampled measure exp(−U/T) unchanged; making the mass
    heavier along the stiffest directions of U (a_k = λ_k/λ_ref − 1 brings their frequency down
    to that of curvature λ_ref) lets the step grow by √(λ_max/λ_ref) at the same ω·dt. The
    velocity is mapped from N(0, T/m) to N(0, T M⁻¹): v ← v − Σ_k (1 − (1 + a_k)^{−½})(u_kᵀv) u_k.

    The state can only be stepped by a sampler with the Nosé–Hoover thermostat and a scalar
    mass; any other sampler's ``step`` raises ``ValueError`` when it is traced with it (the
    pairing of a state with a sampler is made there: this function does not see the sampler).
    """
    dtype = float_dtype(jax.tree.leaves(state.position))
    factor = jnp.asarray(factor, dtype)
    velocity = stiff_velocity(basis, factor, state.velocity, dtype)
    return state._replace(velocity=velocity, stiff=StiffSubspace(basis, factor))


# ---------------------------------------------------------------------------------------------
# the mass metric and temperature of a chain


class MetricFor(Protocol):
    """Picks the mass metric of a chain from its mass settings and its state."""

    def __call__(
        self, position: PyTree, dtype: DTypeLike, stiff: StiffSubspace | None
    ) -> MassMetric:
        """The :class:`~eae_sindy.mass_metrics.MassMetric` for a chain at ``position`` (its
        float ``dtype``), with the stiff subspace ``stiff`` attached (or None).

        Raises:
            ValueError: ``stiff`` is given to a sampler that cannot use it.
        """


def is_scalar_mass(mass: float | PyTree) -> bool:
    """True for one mass m for every parameter (a Python number, or a pytree without leaves);
    False for a pytree of masses, one per parameter (a diagonal mass matrix)."""
    return not jax.tree.leaves(mass) or isinstance(mass, int | float)


def metric_for_mass(mass: float | PyTree, *, stiff_allowed: bool) -> MetricFor:
    """The :class:`MetricFor` of a sampler of mass ``mass`` (scalar, or a pytree for a
    diagonal mass); ``stiff_allowed``: a state may carry a :class:`StiffSubspace` (the
    Nosé–Hoover thermostat with a scalar mass)."""
    scalar = is_scalar_mass(mass)

    def metric_for(position: PyTree, dtype: DTypeLike, stiff: StiffSubspace | None) -> MassMetric:
        if stiff is not None and not stiff_allowed:
            raise ValueError("a stiff subspace needs the Nosé–Hoover thermostat and a scalar mass")
        if scalar:
            metric = scalar_mass_metric(mass, position, dtype)
        else:
            metric = diagonal_mass_metric(mass, dtype)
        if stiff is None:
            return metric
        return stiff_mass_metric(metric, mass, stiff.basis, stiff.factor, dtype)

    return metric_for


def temperature_for(temperature: float | Schedule) -> TemperatureAt:
    """``(step, dtype) -> T``: the constant ``temperature``, or the schedule evaluated at the
    step counter, as an array of ``dtype``."""
    schedule = temperature if callable(temperature) else None

    def temperature_at(step: Array, dtype: DTypeLike) -> Array:
        t = schedule(step) if schedule is not None else temperature
        return jnp.asarray(t, dtype)

    return temperature_at


# ---------------------------------------------------------------------------------------------
# the pieces every step shares


class _StepStart(NamedTuple):
    """A step after the previous step's half kick: what both thermostats read."""

    dtype: jnp.dtype
    n: Array  # int32 step counter of the incoming state
    started: Array  # n > 0: a previous step is pending
    temperature: Array
    metric: MassMetric
    force: PyTree  # m M⁻¹ ∇U
    dt: Array
    half_kick: PyTree  # dt/(2m), a pytree like metric.masses
    num_dof: Array  # N as a float of dtype
    velocity: PyTree  # after the half kick, before the thermostat half-step
    ke2: Array  # vᵀ M v of ``velocity``


class _StepCall(NamedTuple):
    """One call of a ``step`` after the previous step's half kick: what a thermostat's own
    part of the step (its ``move``, see :func:`_thermostat_step`) reads. ``key``,
    ``potential`` and ``shared_step`` are the call's arguments (:class:`SimmeringStepFn`)."""

    state: SimmeringState
    start: _StepStart
    key: Array
    potential: ArrayLike | None
    shared_step: ArrayLike | None


_ThermostatMove = Callable[[_StepCall], tuple[SimmeringState, SimmeringInfo]]


def _begin_step(
    state: SimmeringState,
    grads: PyTree,
    metric_for: MetricFor,
    temperature_at: TemperatureAt,
    step_size: ArrayLike,
) -> _StepStart:
    """Finish the previous step: half kick v += (dt/2)·F/m with the new gradient (none at step
    0; a zero factor times a NaN gradient is still NaN, so divergence is caught at step 0 too)."""
    leaves = jax.tree.leaves(state.position)
    dtype = float_dtype(leaves)
    n = jnp.asarray(state.step, jnp.int32)
    started = n > 0
    metric = metric_for(state.position, dtype, state.stiff)
    force = metric.force_direction(grads)  # the kicks move along M⁻¹∇U
    dt = jnp.asarray(step_size, dtype)
    half_kick = jax.tree.map(lambda mi: 0.5 * dt / mi, metric.masses)  # v += half_kick · F
    velocity = jax.tree.map(
        lambda v, g, k: v - jnp.where(started, k, jnp.zeros_like(k)) * g,
        state.velocity,
        force,
        half_kick,
    )
    # vᵀ M v, the only full reduction of the step (with a stiff subspace: k more dots)
    ke2 = metric.kinetic2(velocity)
    num_dof = jnp.asarray(num_scalars(leaves), dtype)
    temperature = temperature_at(n, dtype)
    return _StepStart(
        dtype, n, started, temperature, metric, force, dt, half_kick, num_dof, velocity, ke2
    )


class _Synchronised(NamedTuple):
    """The chain at the synchronised point (x_n, v_n = scale · velocity)."""

    velocity: PyTree
    scale: Array  # pending velocity factor of the thermostat
    ke2: Array  # vᵀ M v of v_n
    diverged: Array
    potential: Array | None


def _synchronise(
    call: _StepCall, scale: Array, ke2: Array, redraw_key: Array, resample_every: int | None
) -> _Synchronised:
    """The synchronised point of ``call``: divergence flags, and the velocity re-draw from
    N(0, T M⁻¹) (with ``redraw_key``) at every step whose counter is a positive multiple of
    ``resample_every``; ``scale`` and ``ke2``: the velocity's pending factor and vᵀ M v."""
    start, shared_step, potential = call.start, call.shared_step, call.potential
    diverged = call.state.diverged | ~jnp.isfinite(ke2)
    velocity = start.velocity
    if resample_every is not None:
        # With ``shared_step`` (= state.step, unbatched under vmap) the predicate is not
        # batched and the cond stays a branch: the draw costs only on re-draw steps.
        c = start.n if shared_step is None else jnp.asarray(shared_step, jnp.int32)
        redraw = (c > 0) & (c % resample_every == 0)

        def draw(_):
            v = start.metric.draw_velocity(redraw_key, velocity, start.temperature)
            return v, start.metric.kinetic2(v)

        def keep(_):
            return jax.tree.map(lambda v: scale * v, velocity), ke2

        velocity, ke2 = jax.lax.cond(redraw, draw, keep, None)
        scale = jnp.ones((), start.dtype)
    pot = None
    if potential is not None:
        pot = jnp.asarray(potential, start.dtype)
        diverged = diverged | ~jnp.isfinite(pot)
    return _Synchronised(velocity, scale, ke2, diverged, pot)


def _advanced(
    state: SimmeringState, out: PyTree, xi: Array, p_xi: Array, n: Array, diverged: Array
) -> SimmeringState:
    """The state after a step; ``out`` is a pytree like the position of (x, v) pairs."""
    treedef = jax.tree.structure(state.position)
    pairs = treedef.flatten_up_to(out)
    position = treedef.unflatten([x for x, _ in pairs])
    velocity = treedef.unflatten([v for _, v in pairs])
    return SimmeringState(position, velocity, xi, p_xi, n + 1, diverged, state.stiff)


# ---------------------------------------------------------------------------------------------
# init and the step of each thermostat


def simmering_init(
    metric_for: MetricFor, temperature_at: TemperatureAt, chain_length: int
) -> SimmeringInitFn:
    """The ``init`` of a sampler: velocities ~ N(0, T(0) M⁻¹), a chain of ``chain_length``
    zero links, ``step = 0``."""

    def init(position: PyTree, key: Array) -> SimmeringState:
        leaves = jax.tree.leaves(position)
        dtype = float_dtype(leaves)
        position = jax.tree.map(jnp.asarray, position)
        t0 = temperature_at(jnp.zeros((), jnp.int32), dtype)
        velocity = metric_for(position, dtype, None).draw_velocity(key, position, t0)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
        # two distinct buffers, so that callers may donate the whole state
        xi, p_xi = jnp.zeros((chain_length,), dtype), jnp.zeros((chain_length,), dtype)
        return SimmeringState(
            position, velocity, xi, p_xi, jnp.zeros((), jnp.int32), jnp.logical_not(finite)
        )

    return init


def _thermostat_step(
    move: _ThermostatMove,
    metric_for: MetricFor,
    temperature_at: TemperatureAt,
    step_size: float,
) -> SimmeringStepFn:
    """The :class:`SimmeringStepFn` of a thermostat: pick dt (the configured ``step_size`` or
    the call's), finish the previous step's half kick (:func:`_begin_step`), then ``move``."""
    configured_step = step_size

    def step(
        state: SimmeringState,
        grads: PyTree,
        key: Array,
        potential: ArrayLike | None = None,
        *,
        shared_step: ArrayLike | None = None,
        step_size: ArrayLike | None = None,
    ) -> tuple[SimmeringState, SimmeringInfo]:
        dt = configured_step if step_size is None else step_size
        start = _begin_step(state, grads, metric_for, temperature_at, dt)
        return move(_StepCall(state, start, key, potential, shared_step))

    return step


def nose_hoover_step(
    metric_for: MetricFor,
    temperature_at: TemperatureAt,
    step_size: float,
    thermostat_timescale: float,
    weights: tuple[float, ...],
    resample_every: int | None,
) -> SimmeringStepFn:
    """The Nosé–Hoover chain ``step`` (see :func:`simmering`): finish the previous step (half
    kick, chain half-step), the synchronised point, then chain half-step, half kick and drift.
    ``weights``: the chain half-step's sub-step weights
    (:func:`eae_sindy.thermostats.chain_weights`)."""

    def move(call: _StepCall) -> tuple[SimmeringState, SimmeringInfo]:
        state, start = call.state, call.start
        dtype, temp, n_dof, started = start.dtype, start.temperature, start.num_dof, start.started
        chain = ChainSettings(temp, n_dof, jnp.asarray(thermostat_timescale, dtype))
        s_a, xi_a, p_a, ke2_a = nhc_half_step(
            start.ke2, state.xi, state.p_xi, chain, weights, 0.5 * start.dt
        )  # finishes the previous step: applied from step 1 on
        scale = jnp.where(started, s_a, jnp.ones((), dtype))
        xi = jnp.where(started, xi_a, state.xi)
        p_xi = jnp.where(started, p_a, state.p_xi)
        ke2 = jnp.where(started, ke2_a, start.ke2)

        sync = _synchronise(call, scale, ke2, call.key, resample_every)
        conserved = jnp.full((), jnp.nan, dtype)
        if sync.potential is not None:
            conserved = nhc_conserved_energy(sync.potential, sync.ke2, xi, p_xi, chain)

        # start the next step: chain half-step, half kick, drift
        s_b, xi, p_xi, _ = nhc_half_step(sync.ke2, xi, p_xi, chain, weights, 0.5 * start.dt)
        total = sync.scale * s_b
        out = jax.tree.map(
            lambda x, v, g, k: nhc_kick_drift(x, v, g, k, total, start.dt),
            state.position,
            sync.velocity,
            start.force,
            start.half_kick,
        )
        info = SimmeringInfo(sync.ke2 / n_dof, conserved, temp, sync.diverged)
        return _advanced(state, out, xi, p_xi, start.n, sync.diverged), info

    return _thermostat_step(move, metric_for, temperature_at, step_size)


def langevin_step(
    metric_for: MetricFor,
    temperature_at: TemperatureAt,
    step_size: float,
    friction: float,
    resample_every: int | None,
) -> SimmeringStepFn:
    """The BAOAB Langevin ``step`` (see :func:`simmering`): finish the previous step (B), the
    synchronised point, then B A O A with friction γ = ``friction``. The chain variables stay
    as they are (zeros) and ``info.conserved_energy`` is NaN."""

    def move(call: _StepCall) -> tuple[SimmeringState, SimmeringInfo]:
        state, start = call.state, call.start
        dtype, temp = start.dtype, start.temperature
        if resample_every is not None:
            redraw_key, noise_key = jax.random.split(call.key)
        else:  # a split costs a little every step; only split when both consumers exist
            redraw_key = noise_key = call.key
        scale = jnp.ones((), dtype)
        sync = _synchronise(call, scale, start.ke2, redraw_key, resample_every)

        # start the next step: B A O A
        decay = jnp.exp(-jnp.asarray(friction, dtype) * start.dt)
        velocity = sync.velocity
        unit = jax.tree.map(lambda _: jnp.ones((), dtype), velocity)
        noise = normal_like(noise_key, velocity, unit)
        h = 0.5 * start.dt
        out = jax.tree.map(
            lambda x, v, g, z, k, m: baoa_update(x, v, g, z, k, m, sync.scale, decay, temp, h),
            state.position,
            velocity,
            start.force,
            noise,
            start.half_kick,
            start.metric.masses,
        )
        conserved = jnp.full((), jnp.nan, dtype)
        info = SimmeringInfo(sync.ke2 / start.num_dof, conserved, temp, sync.diverged)
        return _advanced(state, out, state.xi, state.p_xi, start.n, sync.diverged), info

    return _thermostat_step(move, metric_for, temperature_at, step_size)


# ---------------------------------------------------------------------------------------------
# settings


def _check_positive(name: str, value: object) -> None:
    # Only concrete numbers can be checked; traced values are trusted.
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_settings(
    temperature: float | Schedule,
    mass: float | PyTree,
    step_size: float,
    chain_length: int,
    thermostat: str,
    sy_order: int,
    chain_steps: int,
    resample_every: int | None,
) -> None:
    """Raise ``ValueError`` naming the first bad argument of :func:`simmering` (the
    thermostat timescale, friction and max ω·dt are checked there, after their defaults)."""
    if not callable(temperature):
        _check_positive("temperature", temperature)
    if is_scalar_mass(mass):
        _check_positive("mass", mass)
    _check_positive("step_size", step_size)
    if not isinstance(chain_length, int) or chain_length < 1:
        raise ValueError(f"chain_length must be an integer >= 1, got {chain_length!r}")
    if thermostat not in _THERMOSTATS:
        raise ValueError(f"thermostat must be one of {_THERMOSTATS}, got {thermostat!r}")
    if sy_order not in SUZUKI_YOSHIDA:
        raise ValueError(f"sy_order must be one of {tuple(SUZUKI_YOSHIDA)}, got {sy_order!r}")
    if not isinstance(chain_steps, int) or chain_steps < 1:
        raise ValueError(f"chain_steps must be an integer >= 1, got {chain_steps!r}")
    if resample_every is not None and (not isinstance(resample_every, int) or resample_every < 1):
        raise ValueError(f"resample_every must be None or an integer >= 1, got {resample_every!r}")


# ---------------------------------------------------------------------------------------------
# the algorithm


def simmering(
    temperature: float | Schedule,
    mass: float | PyTree,
    step_size: float,
    *,
    chain_length: int = 3,
    thermostat_timescale: float | None = None,
    resample_every: int | None = None,
    thermostat: str = "nose_hoover",
    friction: float | None = None,
    sy_order: int = 1,
    chain_steps: int = 1,
    max_omega_dt: float | None = None,
) -> SimmeringAlgorithm:
    r"""Build the Simmering sampler for p(φ) ∝ exp(−U(φ)/T).

    The dynamics, their integration (one gradient per step) and the ergodicity caveat of one
    global chain are described in the module docstring (:mod:`eae_sindy.simmering`).

    Velocities start at N(0, T/m). With ``resample_every = k`` they are re-drawn from N(0, T/m)
    at the synchronised point of every step whose counter is a positive multiple of k (the chain
    variables are kept; H_ext jumps there). With a schedule, T = temperature(state.step) is used
    for both thermostat half-steps of a call and for the re-draw.

    Args:
        temperature: T > 0, or a schedule ``step (int32 array) -> T`` (e.g. for annealing).
        mass: m > 0, the mass of every scalar particle; or a pytree like the position (leaves
            broadcastable to the position's leaves) of positive masses, one per parameter — a
            diagonal mass matrix. Any constant positive mass leaves the sampled measure
            exp(−U/T) unchanged; it changes only how fast each direction moves.
        step_size: dt > 0.
        chain_length: K ≥ 1, number of links of the Nosé–Hoover chain.
        thermostat_timescale: τ > 0 in time units; default 100·dt.
        resample_every: re-draw velocities every this many steps (None: never).
        thermostat: ``"nose_hoover"`` or ``"langevin"``.
        friction: Langevin γ > 0; default 1/(100·dt). Ignored by the NHC.
        sy_order: Suzuki–Yoshida order of the chain half-steps, one of 1, 3, 5, 7.
        chain_steps: number of sub-steps of each chain half-step (≥ 1).
        max_omega_dt: None, or the largest ω·dt = √(λ_max/m)·dt a driver that follows the
            measured curvature should let a step reach (``eae_sindy.eae.entropic_autoencoder``
            with ``max_omega_dt``). ``step`` does not read it; it is only recorded on the
            returned algorithm, beside ``step_size`` and ``mass``, so that the sampler settings
            travel together.

    Returns:
        A :class:`SimmeringAlgorithm` ``(init, step, step_size, mass, max_omega_dt)``:

        - ``init(position, key) -> SimmeringState`` (:class:`SimmeringInitFn`): velocities
          ~ N(0, T(0)/m) in the dtype of ``position``; chain variables zero; ``step = 0``.
        - ``step(state, grads, key, potential=None, *, shared_step=None, step_size=None) ->
          (SimmeringState, SimmeringInfo)`` (:class:`SimmeringStepFn`, which documents the
          keywords): ``grads`` is ∇U at ``state.position`` (same pytree), ``potential`` the
          scalar U there (only needed for ``info.conserved_energy``); ``key`` feeds the re-draw
          and the Langevin noise. Both functions are pure and work under ``jit``, ``vmap`` and
          ``lax.scan``.

    Raises:
        ValueError: for a non-positive temperature, mass, step size, thermostat timescale,
            friction or max_omega_dt, chain_length < 1, an unknown thermostat, sy_order or
            chain_steps, or a non-positive resample_every; the message names the argument.

    References:
        Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992).
        Martyna, Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117 (1996).
        Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34 (BAOAB).
        Babayan et al., Nature Communications (2025), "Sufficient is better than optimal for
        training neural networks" (Simmering).
    """
    _check_settings(
        temperature, mass, step_size, chain_length, thermostat, sy_order, chain_steps,
        resample_every,
    )
    if thermostat_timescale is None:
        thermostat_timescale = 100.0 * step_size
    _check_positive("thermostat_timescale", thermostat_timescale)
    if friction is None:
        friction = 1.0 / (100.0 * step_size)
    _check_positive("friction", friction)
    if max_omega_dt is not None:
        _check_positive("max_omega_dt", max_omega_dt)

    nose_hoover = thermostat == "nose_hoover"
    # a stiff subspace (attached to a state later) works with the NHC and a scalar mass only
    metric_for = metric_for_mass(mass, stiff_allowed=nose_hoover and is_scalar_mass(mass))
    temperature_at = temperature_for(temperature)
    init = simmering_init(metric_for, temperature_at, chain_length)
    if nose_hoover:
        weights = chain_weights(sy_order, chain_steps)
        step = nose_hoover_step(
            metric_for, temperature_at, step_size, thermostat_timescale, weights, resample_every
        )
    else:
        step = langevin_step(metric_for, temperature_at, step_size, friction, resample_every)
    return SimmeringAlgorithm(init, step, step_size, mass, max_omega_dt)


def sample(
    grad_fn: Callable[[PyTree], PyTree] | None,
    position: PyTree,
    num_steps: int,
    key: Array,
    *,
    temperature: float | Schedule,
    mass: float,
    step_size: float,
    thin: int = 1,
    potential_fn: Callable[[PyTree], Array] | None = None,
    return_info: bool = False,
    **kwargs: Any,
):
    """Run Simmering for ``num_steps`` steps with ``lax.scan`` and return the trajectory.

    Args:
        grad_fn: ``position -> ∇U(position)`` (same pytree). May be None when ``potential_fn``
            is given; then ``jax.value_and_grad(potential_fn)`` supplies both (one evaluation
            per step). If both are given, ``potential_fn`` is evaluated separately, only for
            ``info.conserved_energy``.
        position: initial pytree of float arrays.
        num_steps: number of steps; only the first ``(num_steps // thin) · thin`` are run.
        key: PRNG key.
        temperature: T or a schedule, see :func:`simmering`.
        mass: particle mass m.
        step_size: dt.
        thin: keep every ``thin``-th position.
        potential_fn: optional ``position -> U`` scalar.
        return_info: also return the :class:`SimmeringInfo` of the kept steps.
        **kwargs: further keyword arguments of :func:`simmering`.

    Returns:
        positions: pytree like ``position`` with a leading axis of length ``num_steps // thin``;
        entry i is the position after (i + 1)·thin steps. If ``return_info``, the pair
        ``(positions, infos)`` where ``infos`` holds the diagnostics of the last step of each
        block (computed at the synchronised point just before that step's drift).

    Not jitted here; wrap with ``jax.jit`` (``grad_fn``, ``num_steps`` and ``thin`` static).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not isinstance(thin, int) or thin < 1 or thin > num_steps:
        raise ValueError(f"thin must be an integer in [1, num_steps], got {thin!r}")
    if grad_fn is None and potential_fn is None:
        raise ValueError("grad_fn: give grad_fn or potential_fn")
    algo = simmering(temperature, mass, step_size, **kwargs)
    value_and_grad = jax.value_and_grad(potential_fn) if grad_fn is None else None

    def one_step(state, k):
        if value_and_grad is not None:
            pot, grads = value_and_grad(state.position)
        else:
            grads = grad_fn(state.position)
            pot = None if potential_fn is None else potential_fn(state.position)
        return algo.step(state, grads, k, potential=pot)

    def block(state, keys):
        state, infos = jax.lax.scan(one_step, state, keys)
        return state, (state.position, jax.tree.map(lambda a: a[-1], infos))

    n_out = num_steps // thin
    init_key, run_key = jax.random.split(key)
    state = algo.init(position, init_key)
    keys = jax.random.split(run_key, n_out * thin)
    keys = keys.reshape((n_out, thin) + keys.shape[1:])
    _, (positions, infos) = jax.lax.scan(block, state, keys)
    return (positions, infos) if return_info else positions
