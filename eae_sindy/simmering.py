"""Simmering: finite-temperature molecular-dynamics sampling of network parameters.

An entropic autoencoder never optimises its encoder: it *samples* the encoder parameters φ from
the Gibbs measure p(φ) ∝ exp(−U(φ)/T), where U is the minibatch loss at a fixed decoder. Simmering
(Babayan et al. 2025) treats every scalar parameter as a 1-D classical particle of mass m, moves
it with the force −∇U, and couples all velocities to ONE global Nosé–Hoover chain (NHC) over the
whole pytree (N = number of scalars), so that the trajectory samples the canonical ensemble at
temperature T. A BAOAB Langevin thermostat is offered behind the same API.

The module follows the blackjax / optax pattern: :func:`simmering` fixes the hyper-parameters and
returns a :class:`SimmeringAlgorithm` of two pure, jittable functions ``init`` and ``step``
operating on a :class:`SimmeringState`; each step returns a :class:`SimmeringInfo` of
diagnostics. The library never calls ``jit``. :func:`sample` is a convenience driver that runs
``init`` and a ``lax.scan`` of steps.

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

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
Schedule = Callable[[Array], Any]

# Suzuki–Yoshida weights for the chain half-steps (palindromic, so each half-step stays
# time-reversible). Orders 3/5 from Yoshida's recursive construction, 7 from Yoshida (1990),
# solution A, as tabulated by Martyna, Tuckerman, Tobias & Klein (1996).
_W3 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_W5 = 1.0 / (4.0 - 4.0 ** (1.0 / 5.0))
_W7 = (0.784513610477560, 0.235573213359357, -1.17767998417887)
_SUZUKI_YOSHIDA = {
    1: (1.0,),
    3: (_W3, 1.0 - 2.0 * _W3, _W3),
    5: (_W5, _W5, 1.0 - 4.0 * _W5, _W5, _W5),
    7: (*_W7, 1.0 - 2.0 * sum(_W7), *_W7[::-1]),
}
_THERMOSTATS = ("nose_hoover", "langevin")


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
    stiff: Any = None


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


class SimmeringAlgorithm(NamedTuple):
    """The pure functions ``init(position, key)`` and
    ``step(state, grads, key, potential, *, shared_step, step_size)``, and the settings a driver
    that adapts the step needs (None for an algorithm built by hand from ``init`` and ``step``):
    ``step_size`` (the configured dt), ``mass`` (m) and ``max_omega_dt`` (see
    :func:`simmering`)."""

    init: Callable[[PyTree, Array], SimmeringState]
    step: Callable[..., tuple[SimmeringState, SimmeringInfo]]
    step_size: Any = None
    mass: Any = None
    max_omega_dt: float | None = None


# ---------------------------------------------------------------------------------------------
# helpers


def _float_dtype(leaves: list[Array]) -> jnp.dtype:
    if not leaves:
        raise ValueError("position: the pytree has no array leaves")
    for leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            dtype = jnp.result_type(leaf)
            raise TypeError(f"position: leaves must be floating arrays, got {dtype}")
    return jnp.result_type(*leaves)


def _num_scalars(leaves: list[Array]) -> int:
    return sum(math.prod(jnp.shape(leaf)) for leaf in leaves)


def _sum_squares(tree: PyTree, dtype) -> Array:
    return sum(jnp.sum(jnp.square(leaf), dtype=dtype) for leaf in jax.tree.leaves(tree))


def _sum_weighted_squares(tree: PyTree, weights: PyTree, dtype, same_weight: bool) -> Array:
    """Σ w v² over all leaves (w broadcast to each leaf); ``same_weight``: w is one scalar,
    factored out of the sum."""
    if same_weight:
        return jax.tree.leaves(weights)[0] * _sum_squares(tree, dtype)
    pairs = zip(jax.tree.leaves(tree), jax.tree.leaves(weights), strict=True)
    return sum(jnp.sum(w * jnp.square(leaf), dtype=dtype) for leaf, w in pairs)


def _normal_like(key: Array, tree: PyTree, scale: PyTree) -> PyTree:
    """N(0, scale²) draws shaped like ``tree``; ``scale`` is a pytree like it (leaves
    broadcastable)."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    scales = treedef.flatten_up_to(scale)
    new = [
        jnp.asarray(s).astype(leaf.dtype) * jax.random.normal(k, leaf.shape, leaf.dtype)
        for k, leaf, s in zip(keys, leaves, scales, strict=True)
    ]
    return jax.tree.unflatten(treedef, new)


def _dots(basis: PyTree, tree: PyTree, dtype) -> Array:
    """(k,) the inner products u_kᵀ v over the whole pytree."""
    pairs = zip(jax.tree.leaves(basis), jax.tree.leaves(tree), strict=True)
    return sum(
        jnp.tensordot(b.astype(dtype), v.astype(dtype), axes=v.ndim) for b, v in pairs
    )


def _minus_span(basis: PyTree, coefficients: Array, tree: PyTree) -> PyTree:
    """v − Σ_k c_k u_k."""
    return jax.tree.map(
        lambda b, v: v - jnp.tensordot(coefficients.astype(v.dtype), b, axes=1), basis, tree
    )


def _stiff_velocity(basis: PyTree, factor: Array, velocity: PyTree, dtype) -> PyTree:
    """A velocity drawn from N(0, T/m) mapped to N(0, T M⁻¹) for M = m (I + Σ_k a_k u_k u_kᵀ):
    v − Σ_k (1 − (1 + a_k)^{−½}) (u_kᵀv) u_k."""
    shrink = 1.0 - 1.0 / jnp.sqrt(1.0 + factor)
    return _minus_span(basis, shrink * _dots(basis, velocity, dtype), velocity)


def with_stiff_subspace(state: SimmeringState, basis: PyTree, factor: Array) -> SimmeringState:
    """``state`` sampled from now on with the mass M = m (I + Σ_k a_k u_k u_kᵀ) (a
    :class:`StiffSubspace` of ``basis`` and ``factor``; Nosé–Hoover thermostat, scalar mass m).

    Any constant mass matrix leaves the sampled measure exp(−U/T) unchanged; making the mass
    heavier along the stiffest directions of U (a_k = λ_k/λ_ref − 1 brings their frequency down
    to that of curvature λ_ref) lets the step grow by √(λ_max/λ_ref) at the same ω·dt. The
    velocity is mapped from N(0, T/m) to N(0, T M⁻¹): v ← v − Σ_k (1 − (1 + a_k)^{−½})(u_kᵀv) u_k.
    """
    dtype = _float_dtype(jax.tree.leaves(state.position))
    factor = jnp.asarray(factor, dtype)
    velocity = _stiff_velocity(basis, factor, state.velocity, dtype)
    return state._replace(velocity=velocity, stiff=StiffSubspace(basis, factor))


def _check_positive(name: str, value: Any) -> None:
    # Only concrete numbers can be checked; traced values are trusted.
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


# Half-steps with at most this many link updates are unrolled in Python; longer ones (e.g. 30
# links × 7th-order weights) run the Suzuki–Yoshida sub-steps in a ``fori_loop`` whose body is
# one unrolled sweep, which keeps compile time around a second and the loop count small.
_UNROLL_LIMIT = 24


def _nhc_half_step(ke2, xi, p_xi, temperature, num_dof, tau, weights, h):
    """Propagate the chain by h = dt/2 (MTK 1996 / Tuckerman's book, Suzuki–Yoshida factorised).

    For each weight w (d = w·h): p_K += (d/2) G_K; links K−1..1 get
    p_j ← e_j (e_j p_j + (d/2) G_j) with e_j = exp(−(d/4) p_{j+1}/Q_{j+1}); velocities are scaled
    by exp(−d p_1/Q_1); ξ_j += d p_j/Q_j; then the same link updates in the order 1..K−1 and
    p_K += (d/2) G_K. Forces: G_1 = Σ m v² − N T, G_j = p_{j−1}²/Q_{j−1} − T.

    Only scalars are touched: the particle velocities are not rescaled here; the accumulated
    factor is returned and applied lazily in the next elementwise pass. ``ke2`` is Σ m v².

    Returns:
        (velocity scale factor, new ξ, new p_ξ, new Σ m v²).
    """
    k = xi.shape[0]
    q = [num_dof * temperature * tau**2] + [temperature * tau**2] * (k - 1)

    def substep(d, scale, ke2, xi, p):
        xi, p = list(xi), list(p)

        def force(j, ke2):
            if j == 0:
                return ke2 - num_dof * temperature
            return p[j - 1] ** 2 / q[j - 1] - temperature

        def inner_link(j, ke2):
            e = jnp.exp(-0.25 * d * p[j + 1] / q[j + 1])
            p[j] = (p[j] * e + 0.5 * d * force(j, ke2)) * e

        p[k - 1] = p[k - 1] + 0.5 * d * force(k - 1, ke2)
        for j in range(k - 2, -1, -1):
            inner_link(j, ke2)
        s = jnp.exp(-d * p[0] / q[0])
        scale, ke2 = scale * s, ke2 * s * s
        xi = [xi[j] + d * p[j] / q[j] for j in range(k)]
        for j in range(k - 1):
            inner_link(j, ke2)
        p[k - 1] = p[k - 1] + 0.5 * d * force(k - 1, ke2)
        return scale, ke2, xi, p

    scale = jnp.ones_like(ke2)
    if k * len(weights) <= _UNROLL_LIMIT:
        xi, p = [xi[j] for j in range(k)], [p_xi[j] for j in range(k)]
        for w in weights:
            scale, ke2, xi, p = substep(w * h, scale, ke2, xi, p)
        return scale, jnp.stack(xi), jnp.stack(p), ke2

    dws = jnp.asarray(weights, xi.dtype) * h

    def body(i, carry):
        scale, ke2, xi, p = carry
        scale, ke2, xi, p = substep(
            dws[i], scale, ke2, [xi[j] for j in range(k)], [p[j] for j in range(k)]
        )
        return scale, ke2, jnp.stack(xi), jnp.stack(p)

    scale, ke2, xi, p = jax.lax.fori_loop(0, len(weights), body, (scale, ke2, xi, p_xi))
    return scale, xi, p, ke2


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
        A :class:`SimmeringAlgorithm` ``(init, step)``:

        - ``init(position, key) -> SimmeringState``: velocities ~ N(0, T(0)/m) in the dtype of
          ``position``; chain variables zero; ``step = 0``.
        - ``step(state, grads, key, potential=None) -> (SimmeringState, SimmeringInfo)``:
          ``grads`` is ∇U at ``state.position`` (same pytree), ``potential`` the scalar U there
          (only needed for ``info.conserved_energy``); ``key`` feeds the re-draw and the Langevin
          noise. Both functions are pure and work under ``jit``, ``vmap`` and ``lax.scan``.

          ``shared_step`` (optional keyword): an int32 scalar equal to ``state.step``, for
          chains that are ``vmap``-ped in lock step. Passed unbatched (``in_axes=None``), it
          keeps the velocity re-draw a real branch: ``vmap`` turns a ``lax.cond`` on a batched
          predicate (the batched ``state.step``) into a select that runs both branches, i.e.
          draws N normal variates on every step. Only the re-draw schedule reads it; the result
          is the same as without it.

          ``step_size`` (optional keyword): a step dt for this call only, in place of the
          configured one; it may be traced (e.g. chosen from a curvature estimate inside
          ``jit``). The thermostat masses Q (from τ) and the Langevin friction stay as
          configured. The call finishes the previous step's half kick with this dt/2 too, so a
          change of dt between calls is exact only where it is small (one O(Δdt·F/m) velocity
          error per change, which the thermostat absorbs). Not given: the configured dt, with
          results bit-identical to a sampler without the keyword.

    Raises:
        ValueError: for a non-positive temperature, mass, step size, thermostat timescale or
            friction, chain_length < 1, an unknown thermostat, sy_order or chain_steps, or a
            non-positive resample_every; the message names the argument.

    References:
        Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992).
        Martyna, Tuckerman, Tobias & Klein, Mol. Phys. 87, 1117 (1996).
        Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34 (BAOAB).
        Babayan et al., Nature Communications (2025), "Sufficient is better than optimal for
        training neural networks" (Simmering).
    """
    if callable(temperature):
        schedule = temperature
    else:
        _check_positive("temperature", temperature)
        schedule = None
    scalar_mass = not jax.tree.leaves(mass) or isinstance(mass, int | float)
    if scalar_mass:
        _check_positive("mass", mass)
    _check_positive("step_size", step_size)
    if not isinstance(chain_length, int) or chain_length < 1:
        raise ValueError(f"chain_length must be an integer >= 1, got {chain_length!r}")
    if thermostat not in _THERMOSTATS:
        raise ValueError(f"thermostat must be one of {_THERMOSTATS}, got {thermostat!r}")
    if sy_order not in _SUZUKI_YOSHIDA:
        raise ValueError(f"sy_order must be one of {tuple(_SUZUKI_YOSHIDA)}, got {sy_order!r}")
    if not isinstance(chain_steps, int) or chain_steps < 1:
        raise ValueError(f"chain_steps must be an integer >= 1, got {chain_steps!r}")
    if resample_every is not None and (not isinstance(resample_every, int) or resample_every < 1):
        raise ValueError(f"resample_every must be None or an integer >= 1, got {resample_every!r}")
    if thermostat_timescale is None:
        thermostat_timescale = 100.0 * step_size
    _check_positive("thermostat_timescale", thermostat_timescale)
    if friction is None:
        friction = 1.0 / (100.0 * step_size)
    _check_positive("friction", friction)

    if max_omega_dt is not None:
        _check_positive("max_omega_dt", max_omega_dt)
    weights = tuple(w / chain_steps for w in _SUZUKI_YOSHIDA[sy_order]) * chain_steps
    langevin = thermostat == "langevin"
    configured_step = step_size

    def masses(position: PyTree, dtype) -> PyTree:
        """The mass of every parameter, as a pytree like ``position``."""
        if scalar_mass:
            return jax.tree.map(lambda _: jnp.asarray(mass, dtype), position)
        return jax.tree.map(lambda m: jnp.asarray(m, dtype), mass)

    def temperature_at(step: Array, dtype) -> Array:
        t = schedule(step) if schedule is not None else temperature
        return jnp.asarray(t, dtype)

    def init(position: PyTree, key: Array) -> SimmeringState:
        leaves = jax.tree.leaves(position)
        dtype = _float_dtype(leaves)
        position = jax.tree.map(jnp.asarray, position)
        t0 = temperature_at(jnp.zeros((), jnp.int32), dtype)
        velocity = _normal_like(key, position, jax.tree.map(lambda m: jnp.sqrt(t0 / m),
                                                            masses(position, dtype)))
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
        # two distinct buffers, so that callers may donate the whole state
        xi, p_xi = jnp.zeros((chain_length,), dtype), jnp.zeros((chain_length,), dtype)
        return SimmeringState(
            position, velocity, xi, p_xi, jnp.zeros((), jnp.int32), jnp.logical_not(finite)
        )

    def step(
        state: SimmeringState,
        grads: PyTree,
        key: Array,
        potential: Any = None,
        *,
        shared_step: Any = None,
        step_size: Any = None,
    ):
        leaves = jax.tree.leaves(state.position)
        dtype = _float_dtype(leaves)
        n_dof = _num_scalars(leaves)
        n = jnp.asarray(state.step, jnp.int32)
        started = n > 0
        temp = temperature_at(n, dtype)
        m = masses(state.position, dtype)
        stiff = state.stiff
        if stiff is not None:
            if langevin or not scalar_mass:
                raise ValueError(
                    "a stiff subspace needs the Nosé–Hoover thermostat and a scalar mass"
                )
            a = jnp.asarray(stiff.factor, dtype)
            # m M⁻¹ = I − Σ_k a_k/(1 + a_k) u_k u_kᵀ: the kicks move along M⁻¹∇U
            along = a / (1.0 + a) * _dots(stiff.basis, grads, dtype)
            grads = _minus_span(stiff.basis, along, grads)
        dt = jnp.asarray(configured_step if step_size is None else step_size, dtype)
        half_kick = jax.tree.map(lambda mi: 0.5 * dt / mi, m)  # v += half_kick · F = −half_kick·∇U
        tau = jnp.asarray(thermostat_timescale, dtype)
        n_dof_f = jnp.asarray(n_dof, dtype)

        # ---- finish the previous step: half kick with the new gradient (none at step 0). A
        # zero factor times a NaN gradient is still NaN, so divergence is caught at step 0 too.
        u = jax.tree.map(
            lambda v, g, k: v - jnp.where(started, k, jnp.zeros_like(k)) * g,
            state.velocity,
            grads,
            half_kick,
        )
        def kinetic2(v):
            """vᵀ M v (Σ m v² for a diagonal mass)."""
            ke = _sum_weighted_squares(v, m, dtype, scalar_mass)
            if stiff is None:
                return ke
            return ke + jnp.asarray(mass, dtype) * jnp.sum(a * _dots(stiff.basis, v, dtype) ** 2)

        # vᵀ M v, the only full reduction of the step (with a stiff subspace: k more dots)
        ke2 = kinetic2(u)
        xi, p_xi = state.xi, state.p_xi
        scale = jnp.ones((), dtype)
        if not langevin:
            s_a, xi_a, p_a, ke2_a = _nhc_half_step(
                ke2, xi, p_xi, temp, n_dof_f, tau, weights, 0.5 * dt
            )
            scale = jnp.where(started, s_a, scale)
            xi = jnp.where(started, xi_a, xi)
            p_xi = jnp.where(started, p_a, p_xi)
            ke2 = jnp.where(started, ke2_a, ke2)

        # ---- synchronised point (x_n, v_n = scale · u)
        diverged = state.diverged | ~jnp.isfinite(ke2)
        if langevin and resample_every is not None:
            redraw_key, noise_key = jax.random.split(key)
        else:  # a split costs a little every step; only split when both consumers exist
            redraw_key = noise_key = key
        if resample_every is not None:
            # With ``shared_step`` (= state.step, unbatched under vmap) the predicate is not
            # batched and the cond stays a branch: the draw costs only on re-draw steps.
            c = n if shared_step is None else jnp.asarray(shared_step, jnp.int32)
            redraw = (c > 0) & (c % resample_every == 0)

            def _redraw(_):
                v = _normal_like(redraw_key, u, jax.tree.map(lambda mi: jnp.sqrt(temp / mi), m))
                if stiff is not None:  # N(0, T/m) → N(0, T M⁻¹)
                    v = _stiff_velocity(stiff.basis, a, v, dtype)
                return v, kinetic2(v)

            def _keep(_):
                return jax.tree.map(lambda v: scale * v, u), ke2

            u, ke2 = jax.lax.cond(redraw, _redraw, _keep, None)
            scale = jnp.ones((), dtype)
        kinetic_temperature = ke2 / n_dof_f
        conserved = jnp.full((), jnp.nan, dtype)
        if potential is not None:
            pot = jnp.asarray(potential, dtype)
            diverged = diverged | ~jnp.isfinite(pot)
        if potential is not None and not langevin:
            q = jnp.concatenate(
                [
                    (n_dof_f * temp * tau**2)[None],
                    jnp.full((chain_length - 1,), temp * tau**2, dtype),
                ]
            )
            conserved = (
                pot
                + 0.5 * ke2
                + jnp.sum(0.5 * p_xi**2 / q)
                + n_dof_f * temp * xi[0]
                + temp * jnp.sum(xi[1:])
            )

        # ---- start the next step
        if langevin:
            c1 = jnp.exp(-jnp.asarray(friction, dtype) * dt)
            noise = _normal_like(noise_key, u, jax.tree.map(lambda _: jnp.ones((), dtype), u))
            h = 0.5 * dt

            def _baoa(x, v, g, z, k, mi):
                v = scale * v - k * g
                x = x + h * v
                v = c1 * v + jnp.sqrt((1.0 - c1 * c1) * temp / mi) * z
                return x + h * v, v

            out = jax.tree.map(_baoa, state.position, u, grads, noise, half_kick, m)
        else:
            s_b, xi, p_xi, _ = _nhc_half_step(ke2, xi, p_xi, temp, n_dof_f, tau, weights, 0.5 * dt)
            total = scale * s_b

            def _kick_drift(x, v, g, k):
                v = total * v - k * g
                return x + dt * v, v

            out = jax.tree.map(_kick_drift, state.position, u, grads, half_kick)
        treedef = jax.tree.structure(state.position)
        pairs = treedef.flatten_up_to(out)
        position = treedef.unflatten([x for x, _ in pairs])
        velocity = treedef.unflatten([v for _, v in pairs])
        new_state = SimmeringState(position, velocity, xi, p_xi, n + 1, diverged, stiff)
        return new_state, SimmeringInfo(kinetic_temperature, conserved, temp, diverged)

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
