"""Mass matrices of the Simmering sampler, one small metric per kind, and the pytree sums they use.

A constant positive mass matrix M never changes the measure exp(−U/T) that Simmering samples; it
only sets how fast each direction of parameter space moves (frequency ω = √(λ/m) along a
direction of curvature λ). Three kinds are supported:

- **scalar** m: every scalar parameter has the same mass (:func:`scalar_mass_metric`);
- **diagonal**: a pytree of masses like the position, one per parameter
  (:func:`diagonal_mass_metric`);
- **stiff subspace**: M = m (I + Σ_k a_k u_k u_kᵀ), a scalar mass made heavier along k
  orthonormal directions u_k (:func:`stiff_mass_metric`, see
  :func:`eae_sindy.simmering.with_stiff_subspace`).

Each builder returns a :class:`MassMetric`, the few pure functions a thermostat step needs
(blackjax's ``Metric`` is the model). Velocities are pytrees like the position, in its dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

__all__ = [
    "MassMetric",
    "diagonal_mass_metric",
    "dots",
    "float_dtype",
    "minus_span",
    "normal_like",
    "num_scalars",
    "scalar_mass_metric",
    "stiff_mass_metric",
    "stiff_velocity",
    "sum_squares",
]

PyTree = Any
Array = jax.Array


class MassMetric(NamedTuple):
    """A mass matrix M as the thermostat steps use it.

    Attributes:
        masses: pytree of the diagonal masses m (leaves broadcastable to the position's leaves):
            the kicks are v += (dt/2)·F/m and the Langevin noise has variance T/m per parameter.
        kinetic2: ``v -> vᵀ M v`` (twice the kinetic energy), a scalar in the position's dtype.
        draw_velocity: ``(key, like, T) -> v ~ N(0, T M⁻¹)``, a pytree shaped like ``like``.
        force_direction: ``∇U -> m M⁻¹ ∇U``, what the kicks (v += (dt/2)·F/m) move along:
            ∇U itself for a diagonal M.
    """

    masses: PyTree
    kinetic2: Callable[[PyTree], Array]
    draw_velocity: Callable[[Array, PyTree, Array], PyTree]
    force_direction: Callable[[PyTree], PyTree]


# ---------------------------------------------------------------------------------------------
# pytree sums and draws


def float_dtype(leaves: list[Array]) -> jnp.dtype:
    """The common floating dtype of the position's ``leaves``.

    Raises:
        ValueError: the position has no array leaves.
        TypeError: a leaf is not a floating array.
    """
    if not leaves:
        raise ValueError("position: the pytree has no array leaves")
    for leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            dtype = jnp.result_type(leaf)
            raise TypeError(f"position: leaves must be floating arrays, got {dtype}")
    return jnp.result_type(*leaves)


def num_scalars(leaves: list[Array]) -> int:
    """N, the number of scalar parameters (degrees of freedom) in ``leaves``."""
    return sum(math.prod(jnp.shape(leaf)) for leaf in leaves)


def sum_squares(tree: PyTree, dtype: DTypeLike) -> Array:
    """Σ v² over all leaves of ``tree``, accumulated in ``dtype``."""
    return sum(jnp.sum(jnp.square(leaf), dtype=dtype) for leaf in jax.tree.leaves(tree))


def normal_like(key: Array, tree: PyTree, scale: PyTree) -> PyTree:
    """N(0, scale²) draws shaped like ``tree``; ``scale`` is a pytree like it (leaves
    broadcastable). One key per leaf, split from ``key`` in leaf order."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    scales = treedef.flatten_up_to(scale)
    new = [
        jnp.asarray(s).astype(leaf.dtype) * jax.random.normal(k, leaf.shape, leaf.dtype)
        for k, leaf, s in zip(keys, leaves, scales, strict=True)
    ]
    return jax.tree.unflatten(treedef, new)


def dots(basis: PyTree, tree: PyTree, dtype: DTypeLike) -> Array:
    """(k,) the inner products u_kᵀ v over the whole pytree (``basis`` leaves carry a leading
    axis of length k)."""
    pairs = zip(jax.tree.leaves(basis), jax.tree.leaves(tree), strict=True)
    return sum(
        jnp.tensordot(b.astype(dtype), v.astype(dtype), axes=v.ndim) for b, v in pairs
    )


def minus_span(basis: PyTree, coefficients: Array, tree: PyTree) -> PyTree:
    """v − Σ_k c_k u_k."""
    return jax.tree.map(
        lambda b, v: v - jnp.tensordot(coefficients.astype(v.dtype), b, axes=1), basis, tree
    )


def stiff_velocity(basis: PyTree, factor: Array, velocity: PyTree, dtype: DTypeLike) -> PyTree:
    """A velocity drawn from N(0, T/m) mapped to N(0, T M⁻¹) for M = m (I + Σ_k a_k u_k u_kᵀ):
    v − Σ_k (1 − (1 + a_k)^{−½}) (u_kᵀv) u_k."""
    shrink = 1.0 - 1.0 / jnp.sqrt(1.0 + factor)
    return minus_span(basis, shrink * dots(basis, velocity, dtype), velocity)


def _draw_from_masses(masses: PyTree) -> Callable[[Array, PyTree, Array], PyTree]:
    """``(key, like, T) -> v ~ N(0, T/m)`` for the diagonal ``masses``."""

    def draw_velocity(key: Array, like: PyTree, temperature: Array) -> PyTree:
        return normal_like(key, like, jax.tree.map(lambda m: jnp.sqrt(temperature / m), masses))

    return draw_velocity


def _unchanged(tree: PyTree) -> PyTree:
    return tree


# ---------------------------------------------------------------------------------------------
# the three kinds of mass


def scalar_mass_metric(mass: ArrayLike, position: PyTree, dtype: DTypeLike) -> MassMetric:
    """M = m I: the same mass ``mass`` for every scalar of ``position`` (as ``dtype``)."""
    masses = jax.tree.map(lambda _: jnp.asarray(mass, dtype), position)

    def kinetic2(velocity: PyTree) -> Array:
        # m Σ v²: the one mass factored out of the sum
        return jax.tree.leaves(masses)[0] * sum_squares(velocity, dtype)

    return MassMetric(masses, kinetic2, _draw_from_masses(masses), _unchanged)


def diagonal_mass_metric(mass: PyTree, dtype: DTypeLike) -> MassMetric:
    """M = diag(m): ``mass`` is a pytree like the position (leaves broadcastable to its leaves)
    of positive masses, one per parameter."""
    masses = jax.tree.map(lambda m: jnp.asarray(m, dtype), mass)

    def kinetic2(velocity: PyTree) -> Array:
        pairs = zip(jax.tree.leaves(velocity), jax.tree.leaves(masses), strict=True)
        return sum(jnp.sum(m * jnp.square(v), dtype=dtype) for v, m in pairs)

    return MassMetric(masses, kinetic2, _draw_from_masses(masses), _unchanged)


def stiff_mass_metric(
    scalar: MassMetric, mass: ArrayLike, basis: PyTree, factor: ArrayLike, dtype: DTypeLike
) -> MassMetric:
    """M = m (I + Σ_k a_k u_k u_kᵀ): the :func:`scalar_mass_metric` ``scalar`` (of mass m =
    ``mass``) made heavier along the orthonormal directions u_k (``basis``, each leaf with a
    leading axis of length k) by the factors a_k ≥ 0 (``factor``, shape (k,))."""
    a = jnp.asarray(factor, dtype)

    def kinetic2(velocity: PyTree) -> Array:
        # vᵀ M v = m Σ v² + m Σ_k a_k (u_kᵀv)²
        extra = jnp.sum(a * dots(basis, velocity, dtype) ** 2)
        return scalar.kinetic2(velocity) + jnp.asarray(mass, dtype) * extra

    def draw_velocity(key: Array, like: PyTree, temperature: Array) -> PyTree:
        # N(0, T/m) → N(0, T M⁻¹)
        return stiff_velocity(basis, a, scalar.draw_velocity(key, like, temperature), dtype)

    def force_direction(grads: PyTree) -> PyTree:
        # m M⁻¹ = I − Σ_k a_k/(1 + a_k) u_k u_kᵀ
        along = a / (1.0 + a) * dots(basis, grads, dtype)
        return minus_span(basis, along, grads)

    return MassMetric(scalar.masses, kinetic2, draw_velocity, force_direction)
