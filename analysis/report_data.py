"""The report's lines about the data a run saw: how its derivatives were obtained, its noise
estimate, its trajectories and which of them were held out for testing (``summary.json``'s
``training.data``, written by ``eae_sindy.planning.data_record``)."""

from __future__ import annotations

from typing import Any

__all__ = ["data_facts"]


def data_facts(record: dict[str, Any] | None) -> list[str]:
    """Plain-English lines for the report's Run section (none for runs without the record)."""
    if not record:
        return []
    facts = []
    if record.get("derivatives") == "given":
        facts.append("ẋ: given with the data")
    else:
        facts.append(
            f"ẋ: estimated from x and t by {record.get('derivatives_method', '?')} "
            "(data.differentiation), per trajectory"
        )
    noise = record.get("noise")
    if noise is not None and noise == noise:
        facts.append(
            f"noise estimate of the data: {100 * noise:.2g} % of the RMS of x (residual of a "
            "Savitzky-Golay smoothing)"
        )
    lengths = record.get("trajectory_lengths") or []
    if len(lengths) > 1:
        test = record.get("test_trajectories") or []
        facts.append(
            f"{len(lengths)} trajectories of {min(lengths)}–{max(lengths)} snapshots; the last "
            f"{len(test)} are the test set (whole trajectories; nothing crosses a join)"
        )
    if record.get("uniform_times") is False:
        facts.append("non-uniform times: the data's period is measured on a uniform grid")
    return facts
