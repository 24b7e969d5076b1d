"""Encoder chains (and temperature-ladder rungs) that step in lock step along a batch axis.

An entropic autoencoder may run C independent encoder chains in one compiled program: a ``vmap``
over a leading chain axis (:func:`over_chains`), each chain with its own key
(:func:`chain_keys`). ``num_chains=None`` means one chain and no axis at all; every helper here
is then the identity, so the single-chain program is the plain one.

Chains (and ladder rungs) step in lock step, so the Simmering step counter is the same along a
batch axis. ``vmap`` would still batch it, and it turns a ``lax.cond`` on a batched predicate
(Simmering's periodic velocity re-draw) into a select that runs *both* branches: N normal
variates drawn on every step. The chains hand the sampler the counter unbatched
(:func:`shared_counter`), and the ladder maps the rungs with the counter unbatched
(:func:`share_counter`, :func:`counter_axes`, :func:`unshare_counter`), so that the cond stays
a real branch. The stored state keeps its batched counter (same layout, values).

All functions are pure and jittable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eae_sindy.simmering import SimmeringState

__all__ = [
    "chain_keys",
    "counter_axes",
    "first_chain",
    "has_step_counter",
    "over_chains",
    "share_counter",
    "shared_counter",
    "sum_over_chains",
    "unshare_counter",
]

PyTree = Any


def has_step_counter(sampler_state: object) -> bool:
    """Whether the sampler state carries a Simmering step counter that lock-step chains share
    (a :class:`~eae_sindy.simmering.SimmeringState`)."""
    return isinstance(sampler_state, SimmeringState)


# ---------------------------------------------------------------------------------------------
# the chain axis of one EAE (``num_chains``: None for one chain without an axis, else C ≥ 1)


def over_chains(fn: Callable, num_chains: int | None, in_axes: Any = 0) -> Callable:
    """``fn`` over the chain axis (``vmap`` with ``in_axes``) when there are chains; ``fn``
    itself otherwise. The step functions take the shared counter as an unbatched argument."""
    return fn if num_chains is None else jax.vmap(fn, in_axes=in_axes)


def chain_keys(key: jax.Array, num_chains: int | None) -> jax.Array:
    """One key per chain (``key`` split ``num_chains`` ways), or ``key`` itself for one chain."""
    return key if num_chains is None else jax.random.split(key, num_chains)


def shared_counter(sampler_state: PyTree, num_chains: int | None) -> jax.Array | None:
    """The chains' common step counter, to be passed unbatched (see the module doc); None for
    one chain or a sampler without one."""
    if num_chains is None or not has_step_counter(sampler_state):
        return None
    return sampler_state.step[0]


def sum_over_chains(tree: PyTree, num_chains: int | None) -> PyTree:
    """Every leaf summed over its leading chain axis; ``tree`` itself for one chain."""
    return tree if num_chains is None else jax.tree.map(lambda a: jnp.sum(a, axis=0), tree)


def first_chain(tree: PyTree, num_chains: int | None) -> PyTree:
    """One chain's leaves (the first) of a possibly chain-batched ``tree``; where only shapes
    matter, e.g. to draw a random direction like one chain's parameters."""
    if num_chains is None:
        return tree
    return jax.tree.map(lambda a: a[0], tree)


# ---------------------------------------------------------------------------------------------
# a shared counter under a ``vmap`` that the caller writes (the ladder's rungs)


def share_counter(sampler_state: PyTree) -> PyTree:
    """Drop the leading (lock-step) axis of the counter: its first entry stands for all."""
    if not has_step_counter(sampler_state):
        return sampler_state
    return sampler_state._replace(step=sampler_state.step[0])


def unshare_counter(sampler_state: PyTree, size: int) -> PyTree:
    """Give the shared counter its leading axis of length ``size`` back."""
    if not has_step_counter(sampler_state):
        return sampler_state
    step = sampler_state.step
    return sampler_state._replace(step=jnp.broadcast_to(step, (size, *jnp.shape(step))))


def counter_axes(sampler_state: PyTree) -> PyTree:
    """``vmap`` axes of a sampler state with a shared counter: 0 everywhere but ``step``."""
    if not has_step_counter(sampler_state):
        return 0
    return sampler_state._replace(**{f: 0 for f in sampler_state._fields if f != "step"}, step=None)
