"""The bias guard of a run (``eae_sindy.bias_guard``), measured right after its collection: the
chains continue for a few draws from where collection ended, and the configurational temperature
T_conf = Σ(u·∇L)²/Σ uᵀ∇²L u of those draws along each chain's stiffest direction u (the step
control's running eigenvector, ``EAEState.curvature``) is compared with T, for L the loss over
the whole training set at the trained decoder — the measure the ensemble should sample. The
stiff directions decorrelate within a few steps, so a short continuation is enough to catch a
sampler that heats them (minibatch gradients do; measured: benchmarks/README.md); resolving the
rule's 2 % needs thousands of draws, so the record says whether the run resolved it.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from eae_sindy.bias_guard import (
    CONF_TOLERANCE,
    directional_projections,
    directional_projections_chains,
    temperature_ratio,
)

__all__ = ["GUARD_DRAWS", "GUARD_MAX_FLOATS", "GUARD_THIN", "guard_after_collection"]

GUARD_DRAWS = 24
"""Draws per chain of the continuation."""
GUARD_THIN = 5
"""Sampling steps between them."""
GUARD_MAX_FLOATS = 20_000_000
"""The guard's programs hold the training set as a constant: skipped above this many floats
(x and ẋ together; the quick preset has 2.9 million)."""


def guard_after_collection(
    collect: Any,
    state: Any,
    data: Any,
    loss_of_position: Any,
    temperature: float,
    *,
    draws: int = GUARD_DRAWS,
    thin: int = GUARD_THIN,
) -> tuple[Any, dict[str, Any] | None]:
    """Continue the chains of ``state`` for ``draws`` × ``thin`` steps with ``collect`` (the
    collection's jitted ``collect(state, n, thin, data)``), and measure T_conf/T along each
    chain's stiffest direction: per chain (``t_conf_over_t``, one value each) and their mean
    (``pooled``), whose standard error is the larger of the chains' ESS-based errors and the
    spread between the chains. Returns the state after it and the record for ``summary.json``
    (None when the state carries no curvature estimate, i.e. the step control is off)."""
    curvature = getattr(state, "curvature", None)
    if curvature is None:
        return state, None
    positions = []
    for _ in range(draws):
        state, _ = collect(state, 1, thin, data)
        positions.append(jax.device_get(state.sampler.position))
    stacked = jax.tree.map(lambda *a: np.stack(a, axis=1), *positions)  # (chains, draws, ...)
    n_chains = jax.tree.leaves(stacked)[0].shape[0]
    flat = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), stacked)  # chain-major
    chain = np.repeat(np.arange(n_chains), draws)
    directions = [
        jax.tree.map(lambda a, c=c: np.asarray(a[c])[None], curvature.direction)
        for c in range(n_chains)
    ]
    gradients, curvatures = directional_projections(
        loss_of_position, flat, directions, chain=chain
    )
    grad_chain, curv_chain = directional_projections_chains(flat, chain)
    per_chain = [
        temperature_ratio(
            gradients[grad_chain == c], curvatures[curv_chain == c], temperature
        )
        for c in range(n_chains)
    ]
    ratio = np.array([float(f.pooled) for f in per_chain])
    ratio_se = np.array([float(f.pooled_se) for f in per_chain])
    pooled = float(ratio.mean())
    # The ESS-based errors of 24 draws are themselves rough: take the larger of their pooled
    # value and the spread of the chains' ratios.
    spread = float(ratio.std(ddof=1) / np.sqrt(n_chains)) if n_chains > 1 else float("nan")
    pooled_se = float(np.nanmax([np.sqrt(np.mean(ratio_se**2) / n_chains), spread]))
    deviation = abs(pooled - 1.0)
    record = {
        "directions": "each chain's stiffest direction (the step control's eigenvector)",
        "loss": "the whole training set at the trained decoder",
        "t_conf_over_t": ratio.tolist(),
        "t_conf_over_t_se": ratio_se.tolist(),
        "pooled": pooled,
        "pooled_se": pooled_se,
        "n_draws": int(sum(f.n_draws for f in per_chain)),
        "tolerance": CONF_TOLERANCE,
        "passes": bool(deviation <= CONF_TOLERANCE),
        "resolved": bool(pooled_se <= CONF_TOLERANCE / 2),
        "consistent": bool(deviation <= 2.0 * pooled_se + CONF_TOLERANCE),
    }
    return state, record
