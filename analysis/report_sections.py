"""The report's coordinate-free and sparse sections: the distribution of dynamics over the
ensemble, the sparse models per encoder, identifiability, and the PCA + SINDy peer — their
document blocks (``analysis.document``), figures and ``analysis.json`` entries.

``analysis.report`` puts the dynamics first (what a reader can check against the data), then
the sparse models and the peer, then the paper's least-squares tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import document as doc  # noqa: E402
from analysis.ensemble_dynamics import FATES, DynamicsDistribution  # noqa: E402
from analysis.frame_free import format_value, verdict_lines  # noqa: E402
from analysis.pipeline import Analysis  # noqa: E402
from analysis.report_frame_free import guard_line  # noqa: E402
from analysis.sparse import Structure  # noqa: E402

__all__ = [
    "dynamics_blocks",
    "sparse_blocks",
    "identifiability_blocks",
    "peer_blocks",
    "section_figures",
    "sections_json",
    "top_structure_lines",
    "distribution_lines",
    "headline_lines",
    "fig_dynamics_distribution",
    "fig_inclusion",
]


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pct(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{100 * x:.0f} %"


def _equations(xi: np.ndarray, names: Sequence[str], digits: int = 3) -> list[str]:
    lines = []
    for j in range(xi.shape[1]):
        parts = [f"{xi[k, j]:.{digits}f} {n}" for k, n in enumerate(names) if xi[k, j] != 0]
        body = " + ".join(parts).replace("+ -", "- ") if parts else "0"
        lines.append(f"(x{j})' = {body}")
    return lines


def distribution_lines(a: Analysis) -> list[str]:
    """One line per distribution of dynamics (for the report and the CLI's closing summary)."""
    lines = []
    for d in a.distributions:
        q05, q50, q95 = d.period_quantiles
        lines.append(
            f"{d.label} models ({len(d.members)} members integrated): "
            f"{_pct(d.fractions['oscillates'])} oscillate, {_pct(d.within)} with a period within "
            f"{100 * d.tolerance:.0f} % of the data's {_f(d.data_period)}; period {_f(q50)} "
            f"(90 % interval {_f(q05)}–{_f(q95)}), R-hat {_f(d.period_r_hat)}, "
            f"bulk-ESS {_f(d.period_ess_bulk, 0)}"
        )
    return lines


def top_structure_lines(a: Analysis) -> list[str]:
    """The most frequent sparse structure with its mean coefficients (pysindy format)."""
    if a.sparse is None or not a.sparse.structures:
        return []
    top = a.sparse.structures[0]
    head = f"top sparse structure ({100 * top.frequency:.0f} % of the members):"
    return [head] + _equations(top.mean, a.run.term_names)


def headline_lines(a: Analysis) -> list[str]:
    """The coordinate-free results and the top sparse model in a few lines (``analysis.json``'s
    ``headline``, printed by ``discover`` and ``python -m analysis.report``)."""
    lines = verdict_lines(a.frame_free) if a.frame_free is not None else []
    guard = guard_line(a.run.summary["training"].get("bias_guard"))
    lines += [guard] if guard else []
    lines += distribution_lines(a) + top_structure_lines(a)
    if a.peer is not None:
        lines += [
            f"peer {m.name}: {int(np.sum(m.xi != 0))} terms, {m.orbit.status.replace('_', ' ')}, "
            f"period {_f(m.orbit.period)} (data {_f(a.data_period)})"
            for m in a.peer.models[:1]
        ]
    if a.identifiability is not None and a.identifiability.groups:
        groups = "; ".join(", ".join(g.names) for g in a.identifiability.groups)
        lines.append(f"not separately identified: {groups}")
    return lines


def dynamics_blocks(a: Analysis, rel: dict[str, str]) -> list[doc.Block]:
    """The distribution of dynamics and the linearisation (coordinate-free results)."""
    b: list[doc.Block] = [doc.Heading(2, "Dynamics of the ensemble")]
    if not a.distributions:
        b.append(doc.Para("Skipped: no latent codes or no data period."))
        return b
    d0 = a.distributions[0]
    n_chains = 1 if d0.chain is None else len(np.unique(d0.chain))
    b.append(
        doc.Para(
            f"{len(d0.members)} members spread over {n_chains} chain(s), each integrated (RK4) "
            "from its own encoding of the earliest test snapshot for "
            f"{_f(d0.data_period)}-periods × 40; period and amplitude measured on the second "
            "half. These statements do not depend on the latent coordinates: they can be "
            "checked against the data, whose own period is "
            f"{_f(d0.data_period)}. 'oscillates' = a steady limit cycle (amplitude change ≤ 5 %)."
        )
    )
    rows = []
    for d in a.distributions:
        q05, q50, q95 = d.period_quantiles
        rows.append(
            [
                d.label,
                str(len(d.members)),
                *(_pct(d.fractions[f]) for f in FATES),
                _pct(d.within),
                f"{_f(q50)} ({_f(q05)}–{_f(q95)})",
                _f(d.period_r_hat),
                _f(d.period_ess_bulk, 0),
            ]
        )
    headers = ["models", "members", *FATES, f"period within {100 * d0.tolerance:.0f} %",
               "period q50 (q05–q95)", "period R-hat", "period bulk-ESS"]
    b.append(doc.Table(headers, rows))
    if "dynamics_distribution" in rel:
        b.append(
            doc.Image(
                rel["dynamics_distribution"],
                "Periods of the integrated members (by chain) against the data's period, and "
                "the fate of every member",
            )
        )
    if a.linear is not None:
        ln = a.linear
        b.append(
            doc.Para(
                "Linearisation at the origin (identified even where single coefficients are "
                f"not): small oscillations rotate in {_pct(ln.rotating)} of the members, with "
                f"period 2π/ω = {_f(ln.period[1])} (90 % interval {_f(ln.period[0])}–"
                f"{_f(ln.period[2])}; R-hat {_f(ln.period_r_hat)}, bulk-ESS "
                f"{_f(ln.period_ess_bulk, 0)}) and growth rate Re λ = {_f(ln.growth[1])} "
                f"({_f(ln.growth[0])}–{_f(ln.growth[2])}); a positive growth rate at the origin "
                "with a stable orbit further out is the signature of a limit cycle."
            )
        )
    return b


def _structure_rows(structures: Sequence[Structure], eqs: Sequence[str]) -> list[list[str]]:
    rows = []
    for i, s in enumerate(structures):
        cells = [str(i + 1), f"{100 * s.frequency:.1f} %", str(len(s.members))]
        cells += [", ".join(terms) or "—" for terms in s.terms]
        cells.append(str(int(s.support.sum())))
        rows.append(cells)
    return rows


def sparse_blocks(a: Analysis, rel: dict[str, str]) -> list[doc.Block]:
    """The sparse model of every encoder: inclusion, structures, the top structure."""
    sp = a.sparse
    b: list[doc.Block] = [doc.Heading(2, "Sparse models (one per encoder)")]
    if sp is None:
        b.append(doc.Para("Skipped: the run holds neither the fit problems nor latent codes."))
        return b
    names, eqs = a.run.term_names, a.run.equations
    rule = {
        "stlsq": f"pysindy's STLSQ with threshold {sp.threshold:g} (a term is dropped when it "
        f"carries less than {100 * sp.threshold:.0f} % of ż_j's RMS), each support then "
        "refitted by least squares with a 1e-6 ridge that only damps nearly collinear "
        "combinations; where a support holds two terms of a nearly collinear group (see "
        "Identifiability), the later one in library order is pruned when that costs at most "
        "0.1 % of ż_j's mean square",
    }.get(sp.optimizer, f"pysindy's {sp.optimizer}")
    b.append(
        doc.Para(
            f"One sparse model per encoder, fitted on its own least-squares problem "
            f"({sp.source}) with columns and each ż_j normalised to unit RMS: {rule}. "
            f"{sp.n_structures} distinct structure(s) in the ensemble."
        )
    )
    b.append(doc.Code("\n".join(top_structure_lines(a))))
    headers = ["rank", "frequency", "members", *eqs, "terms"]
    b.append(doc.Table(headers, _structure_rows(sp.structures, eqs)))
    top = sp.structures[0]
    rows = []
    for (eq, term), c in top.coefficients.items():
        rows.append(
            [f"{term} in {eq}", _f(c["mean"]), _f(c["mode"]), _f(c["q05"]), _f(c["q95"]),
             _f(c["r_hat"]), _f(c["ess_bulk"], 0)]
        )
    b.append(doc.Para("Coefficients of the top structure over the members that chose it (R-hat "
                      "and bulk-ESS of each sparse coefficient over all members, by chain):"))
    b.append(doc.Table(["coefficient", "mean", "mode", "q05", "q95", "R-hat", "bulk-ESS"], rows))
    inc_rows = []
    for k, name in enumerate(names):
        if not np.any(sp.inclusion[k] > 0):
            continue
        inc_rows.append([name] + [f"{sp.inclusion[k, j]:.2f}" for j in range(len(eqs))])
    b.append(doc.Para("Inclusion probability of every term that any member uses:"))
    b.append(doc.Table(["term", *eqs], inc_rows))
    if "inclusion" in rel:
        b.append(doc.Image(rel["inclusion"], "Inclusion probabilities: EAE members and the peer"))
    return b


def identifiability_blocks(a: Analysis) -> list[doc.Block]:
    """The nearly collinear groups of library terms."""
    idf = a.identifiability
    b: list[doc.Block] = [doc.Heading(2, "Identifiability")]
    if idf is None:
        b.append(doc.Para("Skipped: no fit problems or latent codes stored."))
        return b
    sv = ", ".join(f"{v:.2g}" for v in idf.singular_values)
    b.append(
        doc.Para(
            "Singular values of the library with unit-RMS columns over the encoded data, "
            f"relative to the largest: {sv}. A direction below {idf.tolerance:g} means the "
            "terms it loads on are nearly linearly dependent there: their separate coefficients "
            "are not identified (marked † in the tables), only combinations of them are."
        )
    )
    if idf.groups:
        b.append(
            doc.Bullets(
                [
                    f"not separately identified: {', '.join(g.names)} (singular value "
                    f"{g.singular_value:.2g})"
                    for g in idf.groups
                ]
            )
        )
    else:
        b.append(doc.Para("No nearly collinear group: every coefficient is identified."))
    if a.combinations:
        b.append(
            doc.Para(
                "Identified combinations (descriptive: they live in the latent frame): the "
                "coefficient of each group's first term with the others folded into it, "
                "Σ ξ_k · s_k rms_k / rms_first over each member's fit snapshots (≈ the sum for "
                "x and sin x over small z), every chain first mapped to the frame of chain 0 by "
                "a signed permutation. mean ± MCSE."
            )
        )
        rows = [
            [
                c.name,
                format_value(c.summary.mean, c.summary.mcse),
                f"{_f(c.summary.q05)} – {_f(c.summary.q95)}",
                _f(c.summary.r_hat),
                _f(c.summary.ess_bulk, 0),
            ]
            for c in a.combinations
        ]
        b.append(doc.Table(["combination", "mean ± MCSE", "90 % interval", "R-hat",
                            "bulk-ESS"], rows))
    return b


def peer_blocks(a: Analysis) -> list[doc.Block]:
    """PCA + STLSQ and PCA + E-SINDy beside the EAE."""
    b: list[doc.Block] = [doc.Heading(2, "Peer: PCA + SINDy on the same data")]
    if a.peer is None:
        b.append(doc.Para("Skipped: the run does not store the data's principal components."))
        return b
    p = a.peer
    names = a.run.term_names
    b.append(
        doc.Para(
            f"PCA of the {p.n_snapshots} fit snapshots to {a.run.latent_dim} components (scores "
            f"scaled by {p.scale:.3g} to the EAE's latent radius), then pysindy's STLSQ and "
            f"E-SINDy ({p.n_models} bagged models) with the same library, threshold and column "
            "normalisation as the EAE members; each integrated from the first fit snapshot. "
            "What the EAE adds: a distribution over equations and dynamics with its "
            "diagnostics, from an encoder that also reconstructs the data."
        )
    )
    text = []
    rows = []
    for m in p.models:
        text += [f"{m.name}:"] + _equations(m.xi, names) + [""]
        rows.append(
            [m.name, str(int(np.sum(m.xi != 0))), m.orbit.status.replace("_", " "),
             _f(m.orbit.period), _f(m.period_rel_error)]
        )
    if a.sparse is not None and a.sparse.structures:
        top = a.sparse.structures[0]
        d = next((d for d in a.distributions if d.label == "sparse"), None)
        rows.append(
            ["EAE top sparse structure (members)", str(int(top.support.sum())),
             f"{_pct(d.fractions['oscillates'])} oscillate" if d else "—",
             _f(d.period_quantiles[1]) if d else "—",
             _f(abs(d.period_quantiles[1] - d.data_period) / d.data_period) if d else "—"]
        )
    b.append(doc.Code("\n".join(text).rstrip()))
    b.append(doc.Table(["model", "terms", "behaviour", "period", "rel. error"], rows))
    return b


def fig_dynamics_distribution(distributions: Sequence[DynamicsDistribution]) -> Figure:
    """Period histograms (stacked by chain) with the data's period, and the fates."""
    n = len(distributions)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.2 * (n + 1), 3.2))
    for ax, d in zip(axes[:n], distributions, strict=True):
        finite = np.isfinite(d.period)
        chains = np.zeros(len(d.period), int) if d.chain is None else d.chain
        ids = np.unique(chains)
        data = [d.period[finite & (chains == c)] for c in ids]
        if finite.any():
            ax.hist(data, bins=30, stacked=True, label=[f"chain {c}" for c in ids])
        ax.axvline(d.data_period, color="k", ls="--", label="data")
        ax.set_title(f"{d.label}: period")
        ax.set_xlabel("period")
        ax.legend(fontsize=7)
    ax = axes[n]
    width = 0.8 / max(n, 1)
    x = np.arange(len(FATES))
    for i, d in enumerate(distributions):
        ax.bar(x + i * width, [d.fractions[f] for f in FATES], width, label=d.label)
    ax.set_xticks(x + width * (n - 1) / 2, list(FATES), fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("fate of the members")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_inclusion(a: Analysis) -> Figure:
    """Inclusion probabilities of the EAE members' sparse models beside E-SINDy's (peer)."""
    names, eqs = a.run.term_names, a.run.equations
    fig, axes = plt.subplots(1, len(eqs), figsize=(4.5 * len(eqs), 3.4), squeeze=False)
    x = np.arange(len(names))
    for j, ax in enumerate(axes[0]):
        ax.bar(x - 0.2, a.sparse.inclusion[:, j], 0.4, label="EAE members")
        peer = a.peer.models[1].inclusion if a.peer is not None else None
        if peer is not None:
            ax.bar(x + 0.2, peer[:, j], 0.4, label="PCA + E-SINDy")
        ax.set_xticks(x, names, rotation=60, fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"equation {eqs[j]}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def section_figures(a: Analysis) -> dict[str, Any]:
    """Figure name → a function that draws it (only the figures this analysis can draw)."""
    figs: dict[str, Any] = {}
    if a.distributions:
        figs["dynamics_distribution"] = lambda: fig_dynamics_distribution(a.distributions)
    if a.sparse is not None:
        figs["inclusion"] = lambda: fig_inclusion(a)
    return figs


def sections_json(a: Analysis, xi_dict) -> dict[str, Any]:
    """``analysis.json``'s ``sparse``, ``dynamics_distribution``, ``identifiability`` and
    ``peer`` entries (``xi_dict`` turns an (n_terms, latent_dim) array into {eq: {term: v}})."""
    names, eqs = a.run.term_names, a.run.equations
    out: dict[str, Any] = {"sparse": None, "identifiability": None, "peer": None}
    sp = a.sparse
    if sp is not None:
        out["sparse"] = {
            "optimizer": sp.optimizer,
            "threshold": sp.threshold,
            "normalisation": "unit-RMS library columns and unit-RMS ż_j",
            "source": sp.source,
            "n_structures": sp.n_structures,
            "inclusion": xi_dict(sp.inclusion),
            "inclusion_r_hat": xi_dict(sp.inclusion_r_hat),
            "supports": [
                {
                    "terms": dict(zip(eqs, s.terms, strict=True)),
                    "frequency": s.frequency,
                    "n_members": len(s.members),
                    "mean": xi_dict(s.mean),
                    "coefficients": {
                        eq: {t: c for (e, t), c in s.coefficients.items() if e == eq} for eq in eqs
                    },
                }
                for s in sp.structures
            ],
        }
    out["dynamics_distribution"] = {
        "data_period": a.data_period,
        "models": [
            {
                "label": d.label,
                "n_members": len(d.members),
                "fractions": d.fractions,
                "period_within_tolerance": d.within,
                "tolerance": d.tolerance,
                "period_q05_q50_q95": d.period_quantiles,
                "period_r_hat": d.period_r_hat,
                "period_ess_bulk": d.period_ess_bulk,
                "amplitude_q50": float(np.nanmedian(d.amplitude))
                if np.isfinite(d.amplitude).any()
                else None,
            }
            for d in a.distributions
        ],
    }
    idf = a.identifiability
    if idf is not None:
        out["identifiability"] = {
            "tolerance": idf.tolerance,
            "singular_values": idf.singular_values,
            "groups": [{"terms": list(g.names), "singular_value": g.singular_value}
                       for g in idf.groups],
            "not_identified": [n for n, f in zip(names, idf.not_identified, strict=True) if f],
            "combinations": {
                c.name: {k: v for k, v in c.summary._asdict().items() if k != "name"}
                for c in a.combinations
            },
        }
        if a.linear is not None:
            ln = a.linear
            out["identifiability"]["linearisation"] = {
                "jacobian_mean": ln.jacobian_mean,
                "jacobian_q05": ln.jacobian_q05,
                "jacobian_q95": ln.jacobian_q95,
                "period_q05_q50_q95": ln.period,
                "growth_q05_q50_q95": ln.growth,
                "rotating": ln.rotating,
                "period_r_hat": ln.period_r_hat,
                "period_ess_bulk": ln.period_ess_bulk,
            }
    if a.peer is not None:
        out["peer"] = {
            "method": "PCA to latent_dim components + pysindy STLSQ / E-SINDy",
            "scale": a.peer.scale,
            "n_snapshots": a.peer.n_snapshots,
            "models": [
                {
                    "name": m.name,
                    "xi": xi_dict(m.xi),
                    "equations_text": _equations(m.xi, names),
                    "inclusion": None if m.inclusion is None else xi_dict(m.inclusion),
                    "status": m.orbit.status,
                    "period": m.orbit.period,
                    "period_rel_error": m.period_rel_error,
                }
                for m in a.peer.models
            ],
        }
    return out

