"""An ensemble as an ArviZ object: the coefficients Ξ and the frame-free targets of every draw
with ``chain`` and ``draw`` dimensions (``arviz_base.from_dict``), so that users can plot and
diagnose the run with ArviZ (``arviz_stats.summary``, ``arviz_plots.plot_trace``, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.diagnostics import by_chain
from analysis.frame_free import FrameFree
from analysis.rundir import RunData

__all__ = ["to_datatree"]


def to_datatree(run: RunData, frame_free: FrameFree | None = None) -> Any:
    """An ``xarray.DataTree`` with a ``posterior`` group: ``xi`` (chain, draw, term, equation),
    the per-draw frame-free targets (chain, draw) and, as a separate ``integrated_members``
    group, the per-member targets of the integrated members (chain, member). Chains of unequal
    length are cut to the shortest, as the diagnostics do."""
    from arviz_base import from_dict  # deferred: xarray is only needed here

    posterior: dict[str, np.ndarray] = {"xi": by_chain(run.xi, run.chain)}
    for name in ("loss", "x_relative_mse", "dx_relative_mse"):
        values = getattr(run, name)
        if values is not None:
            posterior[name] = by_chain(values, run.chain)
    groups: dict[str, dict[str, np.ndarray]] = {"posterior": posterior}
    if frame_free is not None:
        for name, values in frame_free.values.items():
            posterior[name] = by_chain(values, run.chain)
        if frame_free.member_values and len(frame_free.members):
            chain = None if run.chain is None else np.asarray(run.chain)[frame_free.members]
            groups["integrated_members"] = {
                name: by_chain(values, chain) for name, values in frame_free.member_values.items()
            }
    coords = {"term": run.term_names, "equation": run.equations}
    dims = {"xi": ["term", "equation"]}
    tree = from_dict(groups, coords=coords, dims=dims)
    tree.attrs["rule"] = frame_free.rule if frame_free is not None else ""
    return tree
