"""The report of a temperature sweep: one row per temperature, read from its run directory, and
the temperature the sweep's rule picks.

Each rung of a sweep is a normal run directory (``summary.json``, ``ensemble.h5`` and, once
reported, ``analysis.json``). Per temperature the table shows the test relative MSE of x, the
mean loss, the latent spread (RMS over test points and latent coordinates of the ensemble's
standard deviation of z), the median coefficient standard deviation, max R-hat / min bulk-ESS,
the top sparse structure and the share of sparse members that oscillate with a period within the
tolerance (5 %) of the data's.

Rule ("sufficient is better than optimal"): the **highest** temperature at which at least
:data:`MIN_PERIOD_FRACTION` (90 %) of the sparse members oscillate with a period within 5 % of
the data's and the test error says the autoencoder learned (``learned`` is true); when no
temperature qualifies, the **lowest** temperature. A higher temperature is a broader, more honest
distribution, so the highest one that still reproduces the data's dynamics is preferred.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.number_format import MISSING, number_text
from simulators.atomic_files import atomic_write_text

__all__ = [
    "MIN_PERIOD_FRACTION",
    "RULE",
    "SWEEP_JSON",
    "SWEEP_MD",
    "choose_temperature",
    "sweep_row",
    "write_sweep",
]

SWEEP_JSON = "sweep.json"
SWEEP_MD = "sweep.md"
MIN_PERIOD_FRACTION = 0.9
RULE = (
    "the highest temperature with >= 90 % of its sparse members oscillating with a period "
    "within 5 % of the data's and learned = true; if none qualifies, the lowest temperature"
)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _latent_spread(run_dir: Path) -> float | None:
    """RMS over test points and latent coordinates of the ensemble's std of z."""
    try:
        import h5py

        with h5py.File(run_dir / "ensemble.h5", "r") as f:
            if "z" not in f:
                return None
            z = np.asarray(f["z"], np.float64)  # (n_samples, n_points, latent_dim)
    except (OSError, KeyError):
        return None
    return _finite(np.sqrt(np.mean(np.var(z, axis=0))))


def _coefficient_spread(summary: dict[str, Any]) -> float | None:
    stds = [
        term["std"]
        for equation in summary.get("coefficients", {}).values()
        for term in equation.values()
        if term.get("std") is not None
    ]
    return _finite(np.median(stds)) if stds else None


def _top_structure(analysis: dict[str, Any] | None) -> dict[str, Any] | None:
    supports = ((analysis or {}).get("sparse") or {}).get("supports") or []
    if not supports:
        return None
    top = supports[0]
    return {"terms": top["terms"], "frequency": top["frequency"]}


def _sparse_dynamics(analysis: dict[str, Any] | None) -> dict[str, Any] | None:
    distribution = (analysis or {}).get("dynamics_distribution") or {}
    for model in distribution.get("models", []):
        if model.get("label") == "sparse":
            return {
                "n_members": model.get("n_members"),
                "oscillates": (model.get("fractions") or {}).get("oscillates"),
                "period_within_tolerance": model.get("period_within_tolerance"),
                "tolerance": model.get("tolerance"),
                "data_period": distribution.get("data_period"),
            }
    return None


def sweep_row(temperature: float, run_dir: str | Path) -> dict[str, Any]:
    """The sweep table's row of the run directory ``run_dir`` (sampled at ``temperature``).
    Values that the directory lacks (no report yet, no latent codes) are None."""
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json") or {}
    analysis = _read_json(run_dir / "analysis.json")
    error = summary.get("test_error") or {}
    diagnostics = summary.get("diagnostics") or {}
    return {
        "temperature": float(temperature),
        "run_dir": run_dir.name,
        "x_relative_mse": _finite(error.get("x_relative_mse")),
        "loss_mean": _finite(error.get("loss_mean")),
        "learned": error.get("learned"),
        "latent_spread": _latent_spread(run_dir),
        "coefficient_std_median": _coefficient_spread(summary),
        "max_r_hat": _finite(diagnostics.get("max_r_hat")),
        "min_ess_bulk": _finite(diagnostics.get("min_ess_bulk")),
        "top_sparse_structure": _top_structure(analysis),
        "sparse_dynamics": _sparse_dynamics(analysis),
    }


def _qualifies(row: dict[str, Any]) -> bool:
    dynamics = row.get("sparse_dynamics") or {}
    fraction = dynamics.get("period_within_tolerance")
    return row.get("learned") is True and fraction is not None and fraction >= MIN_PERIOD_FRACTION


def choose_temperature(rows: Sequence[dict[str, Any]]) -> tuple[float, str]:
    """The temperature :data:`RULE` picks among ``rows`` (from :func:`sweep_row`), and why."""
    if not rows:
        raise ValueError("a sweep needs at least one temperature")
    qualified = [r for r in rows if _qualifies(r)]
    if qualified:
        best = max(qualified, key=lambda r: r["temperature"])
        return best["temperature"], (
            f"T = {best['temperature']:g} is the highest temperature whose sparse members "
            "reproduce the data's period (>= 90 % within 5 %) with learned = true"
        )
    lowest = min(rows, key=lambda r: r["temperature"])
    return lowest["temperature"], (
        f"no temperature reproduces the data's period (>= 90 % of the sparse members within "
        f"5 %) with learned = true; falling back to the lowest, T = {lowest['temperature']:g}"
    )


def _structure_text(structure: dict[str, Any] | None) -> str:
    if structure is None:
        return "—"
    parts = [f"{eq}: {', '.join(terms) or '0'}" for eq, terms in structure["terms"].items()]
    return f"{'; '.join(parts)} ({structure['frequency']:.0%})"


def _markdown(rows: list[dict[str, Any]], chosen: float, reason: str) -> str:
    lines = [
        "# Temperature sweep",
        "",
        "| T | run | test x rel. MSE | loss | learned | latent spread | median coef. std "
        "| max R-hat | min ESS | sparse: oscillate | sparse: period within 5 % "
        "| top sparse structure |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dynamics = r["sparse_dynamics"] or {}
        learned = MISSING if r["learned"] is None else str(r["learned"]).lower()
        cells = [
            f"{r['temperature']:g}",
            str(r["run_dir"]),
            number_text(r["x_relative_mse"], ".3g"),
            number_text(r["loss_mean"], ".3g"),
            learned,
            number_text(r["latent_spread"], ".3g"),
            number_text(r["coefficient_std_median"], ".3g"),
            number_text(r["max_r_hat"], ".3g"),
            number_text(r["min_ess_bulk"], ".0f"),
            number_text(dynamics.get("oscillates"), ".0%"),
            number_text(dynamics.get("period_within_tolerance"), ".0%"),
            _structure_text(r["top_sparse_structure"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"**Chosen temperature: T = {chosen:g}.** {reason}.", "", f"Rule: {RULE}.", ""]
    return "\n".join(lines)


def write_sweep(
    out: str | Path, runs: Sequence[tuple[float, str | Path]], *, anneal_factor: float | None = None
) -> dict[str, Any]:
    """Write ``out/sweep.json`` and ``out/sweep.md`` for the run directories ``runs`` (pairs of
    temperature and directory); returns what ``sweep.json`` holds (``rows``, ``chosen``,
    ``reason``, ``rule``, ``anneal_factor``)."""
    out = Path(out)
    rows = [sweep_row(temperature, run_dir) for temperature, run_dir in runs]
    chosen, reason = choose_temperature(rows)
    result = {
        "schema_version": 1,
        "rule": RULE,
        "chosen_temperature": chosen,
        "chosen_run_dir": next(r["run_dir"] for r in rows if r["temperature"] == chosen),
        "reason": reason,
        "anneal_factor": anneal_factor,
        "rows": rows,
    }
    atomic_write_text(out / SWEEP_JSON, json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / SWEEP_MD, _markdown(rows, chosen, reason))
    return result
