"""The report's first screen: the run's convergence verdict on the frame-free targets
(``analysis.frame_free``), their table with the MCSE beside each figure, their traces by chain,
their ``analysis.json`` entry and the per-draw values written to ``frame_free.csv``."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import document as doc  # noqa: E402
from analysis.diagnostics import by_chain  # noqa: E402
from analysis.frame_free import FrameFree, TargetSummary, verdict_lines  # noqa: E402
from analysis.number_format import format_value, number_text  # noqa: E402

__all__ = [
    "FRAME_FREE_CSV",
    "guard_line",
    "frame_free_blocks",
    "frame_free_csv",
    "frame_free_json",
    "fig_frame_free_traces",
    "verdict_banner",
]

FRAME_FREE_CSV = "frame_free.csv"
_TARGET_HEADERS = ["target", "mean ± MCSE", "sd", "90 % interval", "undefined", "R-hat",
                   "bulk-ESS", "tail-ESS", "chain spread", "converged"]


def verdict_banner(ff: FrameFree) -> list[doc.Block]:
    """The verdict lines, marked ⚠ when not converged."""
    lines = verdict_lines(ff)
    mark = "" if ff.converged else "⚠ "
    return [doc.Para(mark + lines[0])] + [doc.Para(line) for line in lines[1:]]


def frame_free_blocks(ff: FrameFree, figures: dict[str, str]) -> list[doc.Block]:
    """The section "Convergence on frame-free targets": the table and the traces."""
    blocks: list[doc.Block] = [doc.Heading(2, "Convergence on frame-free targets")]
    blocks.append(
        doc.Para(
            "Quantities that do not depend on the latent frame (a rotation or reflection of z "
            "leaves them unchanged), so every chain must agree on them: the test errors, the "
            "eigenvalues of the latent model's Jacobian at its fixed point, its growth and "
            "rotation rates averaged over the circle of each draw's own RMS latent radius r and "
            "of r/2, and for the integrated members (least-squares models, each from its own "
            "encoding) their fate, period, amplitude relative to their encoded data and "
            "Floquet exponent. mean ± MCSE (Monte Carlo standard error of the mean; not given "
            "where some members have no value). 'chain spread' is the standard deviation of the "
            "chain means in units of the within-chain standard deviation: ≳ 1 means the chains "
            f"sit apart. The rule: {ff.rule}."
        )
    )
    blocks.append(doc.Table(_TARGET_HEADERS, [_target_row(t) for t in ff.targets]))
    blocks += doc.image_if_drawn(
        figures,
        "frame_free_traces",
        "Each frame-free target in draw order, one colour per chain: converged chains overlap "
        "and cross often",
    )
    blocks.append(
        doc.Para(
            f"Per-draw values: {FRAME_FREE_CSV} in the run directory "
            "(Discovery.to_arviz() gives them with the coefficients as an ArviZ DataTree)."
        )
    )
    return blocks


def _target_row(t: TargetSummary) -> list[str]:
    """One frame-free target's row of the table (columns :data:`_TARGET_HEADERS`)."""
    return [
        t.label,
        format_value(t.mean, t.mcse),
        number_text(t.sd, ".4f"),
        f"{number_text(t.q05, '.4f')} – {number_text(t.q95, '.4f')}",
        f"{100 * t.undefined:.0f} %" if t.undefined else "",
        number_text(t.r_hat),
        number_text(t.ess_bulk, ".0f"),
        number_text(t.ess_tail, ".0f"),
        number_text(t.chain_spread, ".2f"),
        "yes" if t.converged else "no",
    ]


def frame_free_json(ff: FrameFree) -> dict[str, Any]:
    """``analysis.json``'s ``frame_free`` entry (NaN is turned into null by the caller)."""
    return {
        "rule": ff.rule,
        "converged": ff.converged,
        "n_chains": ff.n_chains,
        "draws_per_chain": ff.draws_per_chain,
        "n_members_integrated": int(len(ff.members)),
        "failing": [t.name for t in ff.failing],
        "verdict": verdict_lines(ff),
        "targets": {t.name: {k: v for k, v in t._asdict().items() if k != "name"}
                    for t in ff.targets},
    }


def frame_free_csv(ff: FrameFree) -> str:
    """Every draw's targets as CSV: ``draw`` (index in the ensemble), ``chain``, the per-draw
    targets, then the per-member targets (empty for draws that were not integrated)."""
    n = len(next(iter(ff.values.values()))) if ff.values else 0
    chain = np.zeros(n, int) if ff.chain is None else np.asarray(ff.chain)
    columns = {"draw": np.arange(n), "chain": chain}
    columns.update(ff.values)
    for name, values in ff.member_values.items():
        full = np.full(n, np.nan)
        full[ff.members] = values
        columns[name] = full
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    cells = [
        [("" if not np.isfinite(v) else repr(float(v))) if col not in ("draw", "chain")
         else str(int(v)) for v in values]
        for col, values in columns.items()
    ]
    for row in zip(*cells, strict=True):
        out.write(",".join(row) + "\n")
    return out.getvalue()


def fig_frame_free_traces(ff: FrameFree) -> Figure:
    """Small multiples: every target's values in draw order, one line per chain."""
    targets = [t for t in ff.targets if not t.constant]
    n = max(1, len(targets))
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, t in zip(axes.ravel(), targets, strict=False):
        if t.scope == "draw":
            values, chain = ff.values[t.name], ff.chain
        else:
            values = ff.member_values[t.name]
            chain = None if ff.chain is None else np.asarray(ff.chain)[ff.members]
        grouped = by_chain(values, chain)
        for c, series in enumerate(grouped):
            ax.plot(series, lw=0.7, color=f"C{c}")
        ax.set_title(f"{t.name}\nR-hat {number_text(t.r_hat)}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def guard_line(record: dict[str, Any] | None) -> str | None:
    """The run's bias guard (``summary.json``'s ``training.bias_guard``, written by
    ``eae_sindy.collection_guard``) in one line; None without one."""
    if not record:
        return None
    if "skipped" in record:
        return f"bias guard not measured: {record['skipped']}"
    tol = 100 * record["tolerance"]
    ratio = f"{record['pooled']:.3f} ± {record['pooled_se']:.3f}"
    where = f"along each chain's stiffest direction ({record['n_draws']} draws"
    if record["resolved"]:
        state = "holds" if record["passes"] else "FAILS"
        return f"bias guard {state}: T_conf/T = {ratio} {where}; the rule: within {tol:g} %)"
    state = "consistent with T" if record["consistent"] else "FAILS: the measure is biased"
    return (
        f"bias guard {state}: T_conf/T = {ratio} {where}, too few to resolve the rule's "
        f"{tol:g} %)"
    )
