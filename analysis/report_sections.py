"""The report's coordinate-free and sparse sections: the distribution of dynamics over the
ensemble, the sparse models per encoder, identifiability, and the PCA + SINDy peer — their
document blocks (``analysis.document``), figures and ``analysis.json`` entries.

``analysis.report`` puts the dynamics first (what a reader can check against the data), then
the sparse models and the peer, then the paper's least-squares tables
(``analysis.report_least_squares``). Each ``*_section`` function takes the analysis and the
drawn figures (name → path relative to the run directory) and returns its blocks, heading first.
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
from analysis.attractor import KINDS, Attractor, compare  # noqa: E402
from analysis.ensemble_dynamics import FATES, DynamicsDistribution  # noqa: E402
from analysis.frame_free import verdict_lines  # noqa: E402
from analysis.identifiability import not_identified_in  # noqa: E402
from analysis.number_format import PERCENT, format_value, number_text  # noqa: E402
from analysis.pipeline import Analysis  # noqa: E402
from analysis.report_frame_free import guard_line  # noqa: E402
from analysis.sparse import SparseChoice, Structure, added_terms  # noqa: E402

__all__ = [
    "ENSEMBLE_DYNAMICS_TITLE",
    "ensemble_dynamics_section",
    "attractor_blocks",
    "attractor_lines",
    "attractor_json",
    "kind_fraction_text",
    "sparse_section",
    "identifiability_section",
    "peer_section",
    "section_figures",
    "sections_json",
    "top_structure_lines",
    "distribution_lines",
    "headline_lines",
    "fig_dynamics_distribution",
    "fig_inclusion",
]

ENSEMBLE_DYNAMICS_TITLE = "Dynamics of the ensemble members"
"""The heading of :func:`ensemble_dynamics_section` (formerly "Dynamics of the ensemble")."""


def _equations(xi: np.ndarray, names: Sequence[str], digits: int = 3) -> list[str]:
    lines = []
    for j in range(xi.shape[1]):
        parts = [f"{xi[k, j]:.{digits}f} {n}" for k, n in enumerate(names) if xi[k, j] != 0]
        body = " + ".join(parts).replace("+ -", "- ") if parts else "0"
        lines.append(f"(x{j})' = {body}")
    return lines


def distribution_lines(analysis: Analysis) -> list[str]:
    """One line per distribution of dynamics (for the report and the CLI's closing summary)."""
    lines = []
    for d in analysis.distributions:
        if _chaotic_data(analysis) and d.kind_fractions is not None:
            q05, q50, q95 = _lyapunov_quantiles(d)
            lines.append(
                f"{d.label} models ({len(d.members)} members integrated): "
                f"{number_text(d.kind_fractions['chaotic'], PERCENT)} chaotic; "
                f"λ1 {number_text(q50)} (90 % interval {number_text(q05)}–{number_text(q95)}, "
                f"{int(np.sum(d.lyapunov_subset))} members) against the "
                f"data's {_lyapunov_text(analysis.data_attractor)}"
            )
            continue
        q05, q50, q95 = d.period_quantiles
        lines.append(
            f"{d.label} models ({len(d.members)} members integrated): "
            f"{number_text(d.fractions['oscillates'], PERCENT)} oscillate, "
            f"{number_text(d.within, PERCENT)} with a period within "
            f"{100 * d.tolerance:.0f} % of the data's {number_text(d.data_period)}; "
            f"period {number_text(q50)} (90 % interval {number_text(q05)}–{number_text(q95)}), "
            f"R-hat {number_text(d.period_r_hat)}, "
            f"bulk-ESS {number_text(d.period_ess_bulk, '.0f')}"
        )
    return lines


def _unidentified(analysis: Analysis, support: np.ndarray) -> np.ndarray:
    """Which coefficients of a model with this support are not identified (marked †)."""
    if analysis.identifiability is None:
        return np.zeros(np.shape(support), bool)
    return not_identified_in(support, analysis.identifiability)


def _marked_equations(analysis: Analysis, s: Structure) -> list[str]:
    """A structure's mean model in pysindy's format, † on the coefficients not identified
    within it (two terms of a nearly collinear group in one equation)."""
    names = analysis.run.term_names
    mark = _unidentified(analysis, s.support)
    lines = []
    for j in range(s.mean.shape[1]):
        parts = [
            f"{s.mean[k, j]:.3f} {names[k]}" + (" †" if mark[k, j] else "")
            for k in np.nonzero(s.support[:, j])[0]
        ]
        body = " + ".join(parts).replace("+ -", "- ") if parts else "0"
        lines.append(f"(x{j})' = {body}")
    return lines


def _chosen_how(ch: SparseChoice) -> str:
    if ch.by_dynamics:
        return (
            f"the sparsest on each path whose integrated dynamics keep the data's attractor, "
            f"over the {len(ch.pool)} of {len(ch.checked)} members checked that have one"
        )
    return f"the smallest {ch.criterion.upper()} on each path"


def top_structure_lines(analysis: Analysis) -> list[str]:
    """The recommended sparse model (the most frequent structure chosen by evidence, with its
    mean coefficients; pysindy format, † on coefficients not identified); without a choice, the
    most frequent fixed-threshold structure."""
    if analysis.sparse is None or not analysis.sparse.structures:
        return []
    ch = analysis.sparse.choice
    if ch is not None and ch.recommended is not None:
        top = ch.recommended
        head = (
            f"recommended sparse model ({100 * top.frequency:.0f} % of the members; chosen as "
            f"{_chosen_how(ch)}):"
        )
        return [head] + _marked_equations(analysis, top)
    top = analysis.sparse.structures[0]
    head = f"top sparse structure ({100 * top.frequency:.0f} % of the members):"
    return [head] + _marked_equations(analysis, top)


def _lyapunov_text(x: Attractor) -> str:
    return f"λ1 = {number_text(x.lyapunov, '.2g')} ± {number_text(x.lyapunov_se, '.2g')}"


def _kind_text(x: Attractor) -> str:
    """The kind with its key figure: the period of a cycle, λ1 of chaos."""
    if x.kind == "chaotic":
        return f"chaotic ({_lyapunov_text(x)})"
    if np.isfinite(x.period):
        return f"{x.kind} (period {number_text(x.period)})"
    return x.kind


def _chaotic_data(analysis: Analysis) -> bool:
    return analysis.data_attractor is not None and analysis.data_attractor.kind == "chaotic"


def kind_fraction_text(d: DynamicsDistribution) -> str:
    """The fraction of each kind, largest first: "79 % attracting limit cycle, ..."."""
    if d.kind_fractions is None:
        return "—"
    parts = sorted(((v, k) for k, v in d.kind_fractions.items() if v > 0), reverse=True)
    return ", ".join(f"{number_text(v, PERCENT)} {k}" for v, k in parts) or "—"


def _lyapunov_quantiles(d: DynamicsDistribution) -> tuple[float, float, float]:
    if d.lyapunov is None or d.lyapunov_subset is None:
        return (float("nan"),) * 3
    values = d.lyapunov[d.lyapunov_subset]
    values = values[np.isfinite(values)]
    if not len(values):
        return (float("nan"),) * 3
    return tuple(float(q) for q in np.quantile(values, [0.05, 0.5, 0.95]))


def attractor_lines(analysis: Analysis) -> list[str]:
    """The data's attractor, the fraction of members of each kind and each model's kind beside
    the data's, in plain words (``analysis.attractor``)."""
    data = analysis.data_attractor
    if data is None:
        return []
    lines = [f"data: {_kind_text(data)}, from {analysis.data_attractor_source}"]
    for d in analysis.distributions:
        if d.kind_fractions is not None:
            lines.append(f"{d.label} members: {kind_fraction_text(d)}")
    named = [(m.name, m.attractor) for m in analysis.dynamics if m.name != "mean"]
    lines += [f"{name}: {compare(x, data)}" for name, x in named if x is not None]
    return lines


def _peer_behaviour(analysis: Analysis, m) -> str:
    if m.attractor is None:
        return m.orbit.status.replace("_", " ")
    if analysis.data_attractor is None:
        return m.attractor.kind
    return compare(m.attractor, analysis.data_attractor)


def headline_lines(analysis: Analysis) -> list[str]:
    """The coordinate-free results and the top sparse model in a few lines (``analysis.json``'s
    ``headline``, printed by ``discover`` and ``python -m analysis.report``)."""
    lines = verdict_lines(analysis.frame_free) if analysis.frame_free is not None else []
    guard = guard_line(analysis.run.summary["training"].get("bias_guard"))
    lines += [guard] if guard else []
    lines += distribution_lines(analysis) + attractor_lines(analysis)
    lines += top_structure_lines(analysis)
    if analysis.peer is not None:
        lines += [
            f"peer {m.name}: {int(np.sum(m.xi != 0))} terms, {_peer_behaviour(analysis, m)}, "
            f"period {number_text(m.orbit.period)} (data {number_text(analysis.data_period)})"
            for m in analysis.peer.models[:1]
        ]
    if analysis.identifiability is not None and analysis.identifiability.groups:
        groups = "; ".join(", ".join(g.names) for g in analysis.identifiability.groups)
        lines.append(f"not separately identified: {groups}")
    return lines


def ensemble_dynamics_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """The distribution of dynamics and the linearisation (coordinate-free results)."""
    blocks: list[doc.Block] = [doc.Heading(2, ENSEMBLE_DYNAMICS_TITLE)]
    if not analysis.distributions:
        blocks.append(doc.Para("Skipped: no latent codes or no data period."))
        return blocks
    d0 = analysis.distributions[0]
    n_chains = 1 if d0.chain is None else len(np.unique(d0.chain))
    blocks.append(
        doc.Para(
            f"{len(d0.members)} members spread over {n_chains} chain(s), each integrated (RK4) "
            "from its own encoding of the earliest test snapshot for "
            f"{number_text(d0.data_period)}-periods × 40; period and amplitude measured on the "
            "second half. These statements do not depend on the latent coordinates: they can be "
            "checked against the data, whose own period is "
            f"{number_text(d0.data_period)}. 'oscillates' = a steady oscillation (amplitude "
            "change ≤ 5 %): an attracting limit cycle or a neutral centre alike — the attractor "
            "table below tells them apart."
        )
    )
    rows = []
    for d in analysis.distributions:
        q05, q50, q95 = d.period_quantiles
        rows.append(
            [
                d.label,
                str(len(d.members)),
                *(number_text(d.fractions[f], PERCENT) for f in FATES),
                number_text(d.within, PERCENT),
                f"{number_text(q50)} ({number_text(q05)}–{number_text(q95)})",
                number_text(d.period_r_hat),
                number_text(d.period_ess_bulk, ".0f"),
            ]
        )
    headers = ["models", "members", *FATES, f"period within {100 * d0.tolerance:.0f} %",
               "period q50 (q05–q95)", "period R-hat", "period bulk-ESS"]
    blocks.append(doc.Table(headers, rows))
    blocks += doc.image_if_drawn(
        figures,
        "dynamics_distribution",
        "Periods of the integrated members (by chain) against the data's period, and the fate of "
        "every member",
    )
    blocks += attractor_blocks(analysis)
    if analysis.linear is not None:
        ln = analysis.linear
        blocks.append(
            doc.Para(
                "Linearisation at the origin (identified even where single coefficients are "
                f"not): small oscillations rotate in {number_text(ln.rotating, PERCENT)} of the "
                f"members, with period 2π/ω = {number_text(ln.period[1])} (90 % interval "
                f"{number_text(ln.period[0])}–{number_text(ln.period[2])}; "
                f"R-hat {number_text(ln.period_r_hat)}, "
                f"bulk-ESS {number_text(ln.period_ess_bulk, '.0f')}) "
                f"and growth rate Re λ = {number_text(ln.growth[1])} "
                f"({number_text(ln.growth[0])}–{number_text(ln.growth[2])}); "
                "a positive growth rate at the origin "
                "with a stable orbit further out is the signature of a limit cycle."
            )
        )
    return blocks


def attractor_blocks(analysis: Analysis) -> list[doc.Block]:
    """What the models do to perturbations, beside the data's own attractor."""
    data = analysis.data_attractor
    if data is None:
        return []
    blocks: list[doc.Block] = [doc.Heading(3, "Attractors: what the models do to perturbations")]
    blocks.append(
        doc.Para(
            "A period does not make a limit cycle: a neutral centre (ż0 = −ω z1, ż1 = ω z0) has "
            "steady orbits of every amplitude, and a chaotic orbit has a mean period too. Each "
            "model is classified by decisive tests (analysis.attractor): its cycle *attracts* "
            "when the mean divergence along it (in 2-D the Floquet exponent) is below −1 % per "
            "period and orbits started at 0.5× and 1.5× the encoded data's RMS radius from the "
            "cycle's centre return to its amplitude and period within 5 %; a *neutral centre* "
            "has a mean divergence ≈ 0 and perturbed orbits keep their own amplitude; a "
            "*repelling cycle* is found by integrating backwards; *chaos* needs the largest "
            "Lyapunov exponent λ1 (Benettin, variational equation) above 3 standard errors on a "
            "bounded aperiodic orbit. "
            f"The data ({data_source_text(analysis)}): {data.description}."
        )
    )
    rows = []
    named = [(m.name, m.attractor) for m in analysis.dynamics]
    if analysis.peer is not None:
        named += [(f"peer {m.name}", m.attractor) for m in analysis.peer.models]
    for name, x in [("data", data)] + named:
        if x is None:
            continue
        ret = {True: "yes", False: "no", None: "—"}[x.returns]
        rows.append(
            [
                name,
                x.kind,
                "—" if name == "data" else compare(x, data),
                number_text(x.period),
                number_text(x.floquet, ".2g"),
                ret,
                number_text(x.lyapunov, ".2g"),
                number_text(x.lyapunov_se, ".2g"),
                number_text(x.dimension, ".2f"),
            ]
        )
    blocks.append(
        doc.Table(
            [
                "model",
                "kind",
                "beside the data",
                "period",
                "mean divergence (data: approach rate)",
                "perturbed orbits return (data: approach their cycle)",
                "λ1",
                "λ1 s.e.",
                "corr. dimension",
            ],
            rows,
        )
    )
    dists = [d for d in analysis.distributions if d.kind_fractions is not None]
    if dists:
        seen = [k for k in KINDS if any(d.kind_fractions[k] > 0 for d in dists)]
        rows = []
        for d in dists:
            q05, q50, q95 = _lyapunov_quantiles(d)
            rows.append(
                [
                    d.label,
                    str(len(d.members)),
                    *(number_text(d.kind_fractions[k], PERCENT) for k in seen),
                    f"{number_text(q50, '.2g')} "
                    f"({number_text(q05, '.2g')} – {number_text(q95, '.2g')})",
                    str(int(np.sum(d.lyapunov_subset))),
                ]
            )
        blocks.append(
            doc.Para(
                "The integrated members by kind (each from its own encoding, the perturbations "
                "scaled by its own encoded radius), and the distribution of λ1 over an evenly "
                "spaced subset of them (the variational equation costs two integrations; every "
                "bounded aperiodic member gets λ1 too, where chaos must be decided):"
            )
        )
        blocks.append(
            doc.Table(["models", "members", *seen, "λ1 q50 (q05–q95)", "members with λ1"], rows)
        )
        if data.kind == "chaotic":
            blocks.append(doc.Para(_chaos_text(analysis, dists)))
    return blocks


def data_source_text(analysis: Analysis) -> str:
    source = analysis.data_attractor_source
    return f"from {source}" if source else "its time series"


def _chaos_text(analysis: Analysis, dists: Sequence[DynamicsDistribution]) -> str:
    """For chaotic data: the members' λ1 and bounded-attractor statistics beside the data's,
    in place of a period."""
    data = analysis.data_attractor
    parts = []
    for d in dists:
        q05, q50, q95 = _lyapunov_quantiles(d)
        chaotic = d.kind == "chaotic"
        dim = d.dimension[chaotic] if d.dimension is not None else np.array([])
        dim = dim[np.isfinite(dim)]
        ratio = d.amplitude_ratio[chaotic] if d.amplitude_ratio is not None else np.array([])
        ratio = ratio[np.isfinite(ratio)]
        parts.append(
            f"{d.label}: {number_text(d.kind_fractions['chaotic'], PERCENT)} of the members are "
            f"chaotic, λ1 {number_text(q50)} (90 % interval "
            f"{number_text(q05)}–{number_text(q95)}); their correlation dimension "
            f"{number_text(float(np.median(dim)) if len(dim) else np.nan, '.2f')} and attractor "
            f"radius {number_text(float(np.median(ratio)) if len(ratio) else np.nan, '.2f')}× "
            "their encoded data's"
        )
    return (
        f"The data are chaotic ({_lyapunov_text(data)}, Rosenstein's method; correlation "
        f"dimension {number_text(data.dimension, '.2f')}): a period means little here, so "
        "compare the Lyapunov exponents and the attractor's size and dimension instead. "
        + "; ".join(parts)
        + "."
    )


def _structure_rows(structures: Sequence[Structure], eqs: Sequence[str]) -> list[list[str]]:
    rows = []
    for i, s in enumerate(structures):
        cells = [str(i + 1), f"{100 * s.frequency:.1f} %", str(len(s.members))]
        cells += [", ".join(terms) or "—" for terms in s.terms]
        cells.append(str(int(s.support.sum())))
        rows.append(cells)
    return rows


FRONT_ROWS = 12
"""At most this many supports of the Pareto front are listed (the most common on the paths,
always with the recommended and the fixed-threshold structures)."""


def _coefficient_rows(analysis: Analysis, s: Structure) -> list[list[str]]:
    mark = _unidentified(analysis, s.support)
    names = analysis.run.term_names
    rows = []
    for (eq, term), c in s.coefficients.items():
        j, k = analysis.run.equations.index(eq), names.index(term)
        rows.append(
            [
                f"{term}{' †' if mark[k, j] else ''} in {eq}",
                number_text(c["mean"]),
                number_text(c["mode"]),
                number_text(c["q05"]),
                number_text(c["q95"]),
                number_text(c["r_hat"]),
                number_text(c["ess_bulk"], ".0f"),
            ]
        )
    return rows


def _front_rows(ch: SparseChoice, plain: Structure) -> list[list[str]]:
    recommended = ch.recommended.support if ch.recommended is not None else None
    keep = sorted(ch.front, key=lambda p: -max(p.on_front, p.chosen))[:FRONT_ROWS]
    keep += [
        p
        for p in ch.front
        if all(p is not q for q in keep)
        and any(
            s is not None and np.array_equal(p.support, s) for s in (recommended, plain.support)
        )
    ]
    rows = []
    for p in sorted(keep, key=lambda p: (p.n_terms, p.error)):
        tags = []
        if recommended is not None and np.array_equal(p.support, recommended):
            tags.append("recommended")
        if np.array_equal(p.support, plain.support):
            tags.append("fixed threshold")
        kept = f"{p.kept}/{p.checked}" if p.checked else "—"
        rows.append(
            [
                str(p.n_terms),
                f"{p.error:.3g}",
                number_text(p.on_front, PERCENT),
                kept,
                number_text(p.chosen, PERCENT),
            ]
            + [", ".join(t) or "—" for t in p.terms]
            + [", ".join(tags)]
        )
    return rows


def _listed(eqs: Sequence[str], terms: Sequence[Sequence[str]]) -> str:
    return "; ".join(f"{eq}: {', '.join(t)}" for eq, t in zip(eqs, terms, strict=True) if t)


def _needed_text(
    ch: SparseChoice, plain: Structure, eqs: Sequence[str], names: Sequence[str], thr: float
) -> str:
    """Which terms the data's attractor needs: the recommended model against the fixed-threshold
    top structure, how that structure fared in the check, and the sparsest support that passed."""
    top = ch.recommended
    added = added_terms(top.support, plain.support, names)
    dropped = added_terms(plain.support, top.support, names)
    parts = [
        f"Beside the fixed-threshold top structure (threshold {thr:g}, below) the recommended "
        "model "
        + (f"adds {_listed(eqs, added)}" if any(added) else "adds no term")
        + (f" and leaves out {_listed(eqs, dropped)}." if any(dropped) else ".")
    ]
    point = next((p for p in ch.front if np.array_equal(p.support, plain.support)), None)
    if point is not None and point.checked:
        parts.append(
            f"The fixed-threshold structure kept the data's attractor for {point.kept} of the "
            f"{point.checked} members checked with it."
        )
    passing = [p for p in ch.front if p.kept]
    if passing:
        smallest = min(passing, key=lambda p: (p.n_terms, p.error))
        every = "; ".join(
            f"{eq}: {', '.join(t) or '—'}" for eq, t in zip(eqs, smallest.terms, strict=True)
        )
        parts.append(
            f"The sparsest support that kept it for any member checked has {smallest.n_terms} "
            f"terms ({every})."
        )
    return " ".join(parts)


def _choice_rule_text(ch: SparseChoice) -> str:
    """How each member chose its model: by the dynamics check, or by the information criterion
    where the check did not run or no candidate passed it."""
    if len(ch.checked):
        failed = int(np.sum(ch.basis[ch.checked] != "dynamics"))
        rule = (
            f"{len(ch.checked)} members spread over the chains try their candidates sparsest "
            f"first and take the first whose model, integrated from the member's own encoding "
            f"of the earliest test snapshot, keeps the data's attractor — {ch.dynamics} — with "
            f"a period within {100 * ch.tolerance:.0f} %: {ch.n_checks} integrations, "
            f"{len(ch.checked) - failed} members served. "
            + (
                f"The recommended model is the most frequent structure they chose, its "
                f"coefficients their mean. {failed} member(s) whose candidates all failed, and "
                f"the {len(ch.basis) - len(ch.checked)} members not integrated (for cost), take "
                f"the smallest {ch.criterion.upper()} (below) and do not enter it."
                if ch.by_dynamics
                else f"No candidate of any member passed: every member takes the smallest "
                f"{ch.criterion.upper()} = Σ_j n ln(unexplained_j) + k ln n (k terms, n = "
                f"{ch.n_snapshots}, {ch.n_snapshots_source}), and the recommended model is the "
                "most frequent structure chosen so — it does not keep the data's attractor."
            )
        )
    else:
        rule = (
            f"The dynamics check did not run ({ch.dynamics.removeprefix('not run: ')}), so each "
            f"member takes the candidate with the smallest {ch.criterion.upper()} = Σ_j n "
            f"ln(unexplained_j) + k ln n (k terms, n = {ch.n_snapshots}, "
            f"{ch.n_snapshots_source}; consecutive snapshots are not independent, so it leans "
            "to more terms); the recommended model is the most frequent structure chosen."
        )
    return rule


def _choice_blocks(analysis: Analysis) -> list[doc.Block]:
    """The recommended model, how it was chosen, the Pareto front and the terms it needs."""
    sp, ch = analysis.sparse, analysis.sparse.choice
    names, eqs = analysis.run.term_names, analysis.run.equations
    top, plain = ch.recommended, sp.structures[0]
    ladder = list(ch.thresholds)
    rule = _choice_rule_text(ch)
    blocks: list[doc.Block] = [doc.Code("\n".join(top_structure_lines(analysis)))]
    blocks.append(
        doc.Para(
            "How the model is chosen. Each encoder's path of sparse models: STLSQ on its own "
            f"least-squares problem ({sp.source}, unit-RMS columns and ż_j) at {len(ladder)} "
            f"thresholds from {min(ladder):g} to {max(ladder):g} of ż_j's RMS, each support "
            "refitted by least squares; of its distinct supports those no other beats on both "
            "terms and error ('unexplained': the fraction of ż's mean square the model leaves "
            f"unexplained over the fit snapshots) are its candidates (its Pareto front). {rule}"
        )
    )
    if top.frequency < 0.5:
        blocks.append(
            doc.Para(
                f"The members' choices are spread over {ch.n_structures} structures: the "
                f"recommended one is chosen by only {100 * top.frequency:.0f} % of them "
                f"({len(top.members)} of {len(ch.pool)}). Read it with the Pareto front below: "
                "which supports keep the attractor for most of the members checked with them."
            )
        )
    if ch.recommended_kept is not None:
        kept, tried = ch.recommended_kept
        blocks.append(
            doc.Para(
                f"The recommended mean model itself, integrated from the encodings of {tried} "
                f"of the members that chose it, keeps the data's attractor from {kept} of them."
                + (
                    ""
                    if kept == tried
                    else " ⚠ A mean of sparse models need not keep what each of them keeps: "
                    "read the members' choices beside it."
                )
            )
        )
    blocks.append(doc.Para(_needed_text(ch, plain, eqs, names, sp.threshold)))
    blocks.append(
        doc.Para(
            "Pareto front: the supports on the members' fronts (the most common, with the "
            "recommended and the fixed-threshold ones). 'unexplained': median over the members "
            "with it on their front of the unexplained fraction of ż's mean square; 'kept': "
            "members whose integrated model kept the data's attractor / members checked with it."
        )
    )
    blocks.append(
        doc.Table(
            ["terms", "unexplained", "on front of", "kept", "chosen by", *eqs, ""],
            _front_rows(ch, plain),
        )
    )
    blocks.append(
        doc.Table(
            ["rank", "frequency", "members", *eqs, "terms"], _structure_rows(ch.structures, eqs)
        )
    )
    blocks.append(
        doc.Para(
            "Coefficients of the recommended model over the members that chose it "
            "(R-hat and bulk-ESS of each chosen coefficient over those members, by "
            "chain; † not identified within it: see Identifiability):"
        )
    )
    blocks.append(
        doc.Table(
            ["coefficient", "mean", "mode", "q05", "q95", "R-hat", "bulk-ESS"],
            _coefficient_rows(analysis, top),
        )
    )
    return blocks


def sparse_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """The sparse models: the recommended model and how it was chosen (its Pareto front, the
    terms it needs), then the fixed-threshold models (inclusion, structures)."""
    sp = analysis.sparse
    blocks: list[doc.Block] = [doc.Heading(2, "Sparse models (one per encoder)")]
    if sp is None:
        blocks.append(doc.Para("Skipped: the run holds neither the fit problems nor latent codes."))
        return blocks
    names, eqs = analysis.run.term_names, analysis.run.equations
    if sp.choice is not None and sp.choice.recommended is not None:
        blocks += _choice_blocks(analysis)
        blocks.append(doc.Heading(3, f"At one fixed threshold ({sp.threshold:g})"))
    rule = {
        "stlsq": f"pysindy's STLSQ with threshold {sp.threshold:g} (a term is dropped when it "
        f"carries less than {100 * sp.threshold:.0f} % of ż_j's RMS), each support then "
        "refitted by least squares with a 1e-6 ridge that only damps nearly collinear "
        "combinations; where a support holds two terms of a nearly collinear group (see "
        "Identifiability), the later one in library order is pruned when that costs at most "
        "0.1 % of ż_j's mean square",
    }.get(sp.optimizer, f"pysindy's {sp.optimizer}")
    blocks.append(
        doc.Para(
            f"One sparse model per encoder, fitted on its own least-squares problem "
            f"({sp.source}) with columns and each ż_j normalised to unit RMS: {rule}. "
            f"{sp.n_structures} distinct structure(s) in the ensemble. A fixed threshold drops "
            "every small term, also those that decide whether an oscillation attracts."
        )
    )
    top = sp.structures[0]
    head = f"top structure at threshold {sp.threshold:g} ({100 * top.frequency:.0f} % of members):"
    blocks.append(doc.Code("\n".join([head] + _marked_equations(analysis, top))))
    headers = ["rank", "frequency", "members", *eqs, "terms"]
    blocks.append(doc.Table(headers, _structure_rows(sp.structures, eqs)))
    blocks.append(
        doc.Para(
            "Coefficients of the top structure over the members that chose it (R-hat "
            "and bulk-ESS of each sparse coefficient over all members, by chain):"
        )
    )
    blocks.append(
        doc.Table(
            ["coefficient", "mean", "mode", "q05", "q95", "R-hat", "bulk-ESS"],
            _coefficient_rows(analysis, top),
        )
    )
    inc_rows = []
    for k, name in enumerate(names):
        if not np.any(sp.inclusion[k] > 0):
            continue
        inc_rows.append([name] + [f"{sp.inclusion[k, j]:.2f}" for j in range(len(eqs))])
    blocks.append(doc.Para("Inclusion probability of every term that any member uses:"))
    blocks.append(doc.Table(["term", *eqs], inc_rows))
    blocks += doc.image_if_drawn(
        figures, "inclusion", "Inclusion probabilities: EAE members and the peer"
    )
    return blocks


def identifiability_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """The nearly collinear groups of library terms."""
    idf = analysis.identifiability
    blocks: list[doc.Block] = [doc.Heading(2, "Identifiability")]
    if idf is None:
        blocks.append(doc.Para("Skipped: no fit problems or latent codes stored."))
        return blocks
    sv = ", ".join(f"{v:.2g}" for v in idf.singular_values)
    blocks.append(
        doc.Para(
            "Singular values of the library with unit-RMS columns over the encoded data, "
            f"relative to the largest: {sv}. A direction below {idf.tolerance:g} means the "
            "terms it loads on are nearly linearly dependent there: their separate coefficients "
            "are not identified (marked † in the tables), only combinations of them are."
        )
    )
    if idf.groups:
        blocks.append(
            doc.Bullets(
                [
                    f"not separately identified: {', '.join(g.names)} (singular value "
                    f"{g.singular_value:.2g})"
                    for g in idf.groups
                ]
            )
        )
    else:
        blocks.append(doc.Para("No nearly collinear group: every coefficient is identified."))
    if analysis.combinations:
        blocks.append(
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
                f"{number_text(c.summary.q05)} – {number_text(c.summary.q95)}",
                number_text(c.summary.r_hat),
                number_text(c.summary.ess_bulk, ".0f"),
            ]
            for c in analysis.combinations
        ]
        blocks.append(doc.Table(["combination", "mean ± MCSE", "90 % interval", "R-hat",
                            "bulk-ESS"], rows))
    return blocks


def peer_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """PCA + STLSQ and PCA + E-SINDy beside the EAE."""
    blocks: list[doc.Block] = [doc.Heading(2, "Peer: PCA + SINDy on the same data")]
    if analysis.peer is None:
        blocks.append(doc.Para("Skipped: the run does not store the data's principal components."))
        return blocks
    p = analysis.peer
    names = analysis.run.term_names
    blocks.append(
        doc.Para(
            f"PCA of the {p.n_snapshots} fit snapshots to {analysis.run.latent_dim} components "
            f"(scores scaled by {p.scale:.3g} to the EAE's latent radius), then pysindy's STLSQ "
            f"and E-SINDy ({p.n_models} bagged models) with the same library, threshold and column "
            "normalisation as the EAE members; each integrated from the first fit snapshot. "
            "What the EAE adds: a distribution over equations and dynamics with its "
            "diagnostics, from an encoder that also reconstructs the data."
        )
    )
    text = []
    rows = []
    for m in p.models:
        text += [f"{m.name}:"] + _equations(m.xi, names) + [""]
        behaviour = _peer_behaviour(analysis, m)
        rows.append(
            [
                m.name,
                str(int(np.sum(m.xi != 0))),
                behaviour,
                number_text(m.orbit.period),
                number_text(m.period_rel_error),
            ]
        )
    eae_rows = []
    choice = None if analysis.sparse is None else analysis.sparse.choice
    if choice is not None and choice.recommended:
        eae_rows.append(("EAE recommended sparse model (members)",
                         analysis.sparse.choice.recommended, "sparse (chosen by evidence)"))
    if analysis.sparse is not None and analysis.sparse.structures:
        eae_rows.append(("EAE top sparse structure at the fixed threshold (members)",
                         analysis.sparse.structures[0], "sparse"))
    for name, top, label in eae_rows:
        d = next((d for d in analysis.distributions if d.label == label), None)
        rows.append(
            [name, str(int(top.support.sum())),
             f"{number_text(d.fractions['oscillates'], PERCENT)} oscillate" if d else "—",
             number_text(d.period_quantiles[1]) if d else "—",
             number_text(abs(d.period_quantiles[1] - d.data_period) / d.data_period) if d else "—"]
        )
    blocks.append(doc.Code("\n".join(text).rstrip()))
    blocks.append(doc.Table(["model", "terms", "behaviour", "period", "rel. error"], rows))
    return blocks


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


def fig_inclusion(analysis: Analysis) -> Figure:
    """Inclusion probabilities of the EAE members' sparse models beside E-SINDy's (peer)."""
    names, eqs = analysis.run.term_names, analysis.run.equations
    fig, axes = plt.subplots(1, len(eqs), figsize=(4.5 * len(eqs), 3.4), squeeze=False)
    x = np.arange(len(names))
    for j, ax in enumerate(axes[0]):
        ax.bar(x - 0.2, analysis.sparse.inclusion[:, j], 0.4, label="EAE members")
        peer = analysis.peer.models[1].inclusion if analysis.peer is not None else None
        if peer is not None:
            ax.bar(x + 0.2, peer[:, j], 0.4, label="PCA + E-SINDy")
        ax.set_xticks(x, names, rotation=60, fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"equation {eqs[j]}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def section_figures(analysis: Analysis) -> dict[str, Any]:
    """Figure name → a function that draws it (only the figures this analysis can draw)."""
    figs: dict[str, Any] = {}
    if analysis.distributions:
        figs["dynamics_distribution"] = lambda: fig_dynamics_distribution(analysis.distributions)
    if analysis.sparse is not None:
        figs["inclusion"] = lambda: fig_inclusion(analysis)
    return figs


def sections_json(analysis: Analysis, xi_dict) -> dict[str, Any]:
    """``analysis.json``'s ``sparse``, ``dynamics_distribution``, ``identifiability`` and
    ``peer`` entries (``xi_dict`` turns an (n_terms, latent_dim) array into {eq: {term: v}})."""
    names, eqs = analysis.run.term_names, analysis.run.equations
    out: dict[str, Any] = {"sparse": None, "identifiability": None, "peer": None}
    sp = analysis.sparse
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
    out["sparse_choice"] = _choice_json(analysis, xi_dict)
    out["dynamics_distribution"] = {
        "data_period": analysis.data_period,
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
                "kind_fractions": d.kind_fractions,
                "lyapunov_q05_q50_q95": _lyapunov_quantiles(d),
                "n_lyapunov": None if d.lyapunov_subset is None else int(np.sum(d.lyapunov_subset)),
            }
            for d in analysis.distributions
        ],
    }
    out["attractor"] = attractor_json(analysis)
    idf = analysis.identifiability
    if idf is not None:
        out["identifiability"] = {
            "tolerance": idf.tolerance,
            "singular_values": idf.singular_values,
            "groups": [{"terms": list(g.names), "singular_value": g.singular_value}
                       for g in idf.groups],
            "not_identified": [n for n, f in zip(names, idf.not_identified, strict=True) if f],
            "combinations": {
                c.name: {k: v for k, v in c.summary._asdict().items() if k != "name"}
                for c in analysis.combinations
            },
        }
        if analysis.linear is not None:
            ln = analysis.linear
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
    if analysis.peer is not None:
        out["peer"] = {
            "method": "PCA to latent_dim components + pysindy STLSQ / E-SINDy",
            "scale": analysis.peer.scale,
            "n_snapshots": analysis.peer.n_snapshots,
            "models": [
                {
                    "name": m.name,
                    "xi": xi_dict(m.xi),
                    "equations_text": _equations(m.xi, names),
                    "inclusion": None if m.inclusion is None else xi_dict(m.inclusion),
                    "status": m.orbit.status,
                    "period": m.orbit.period,
                    "period_rel_error": m.period_rel_error,
                    "attractor": _attractor_dict(m.attractor, analysis.data_attractor),
                }
                for m in analysis.peer.models
            ],
        }
    return out


def _attractor_dict(x: Attractor | None, data: Attractor | None = None) -> dict | None:
    if x is None:
        return None
    out = dict(x._asdict())  # NaN → null in analysis.report's _json
    if data is not None:
        out["compared_with_data"] = compare(x, data)
    return out


def attractor_json(analysis: Analysis) -> dict[str, Any] | None:
    """``analysis.json``'s ``attractor``: the data's attractor and its source, each integrated
    model's (mean, modes, top sparse structure, peer) beside it, and per distribution of the
    members the fraction of each kind, λ1's quantiles over the Lyapunov subset and the fraction
    whose perturbed orbits return (``analysis.attractor``)."""
    data = analysis.data_attractor
    if data is None:
        return None
    models = [
        {"name": m.name, **(_attractor_dict(m.attractor, data) or {})} for m in analysis.dynamics
    ]
    if analysis.peer is not None:
        models += [
            {"name": f"peer {m.name}", **(_attractor_dict(m.attractor, data) or {})}
            for m in analysis.peer.models
        ]
    members = []
    for d in analysis.distributions:
        if d.kind_fractions is None:
            continue
        cycle = np.array([r is not None for r in d.returns])
        back = np.array([r is True for r in d.returns])
        members.append(
            {
                "label": d.label,
                "n_members": len(d.members),
                "kind_fractions": d.kind_fractions,
                "returns_fraction_of_cycles": float(back[cycle].mean()) if cycle.any() else None,
                "lyapunov_q05_q50_q95": _lyapunov_quantiles(d),
                "n_lyapunov": int(np.sum(d.lyapunov_subset)),
                "lyapunov_members": [int(m) for m in d.members[d.lyapunov_subset]],
            }
        )
    return {
        "data": {"source": analysis.data_attractor_source, **_attractor_dict(data)},
        "kinds": list(KINDS),
        "models": models,
        "members": members,
    }


def _choice_json(analysis: Analysis, xi_dict) -> dict[str, Any] | None:
    """``analysis.json``'s ``sparse_choice``: the recommended sparse model and how it was
    chosen (``analysis.sparse.SparseChoice``)."""
    sp = analysis.sparse
    ch = None if sp is None else sp.choice
    if ch is None or ch.recommended is None:
        return None
    eqs, names = analysis.run.equations, analysis.run.term_names
    top, plain = ch.recommended, sp.structures[0]

    def terms(t):
        return dict(zip(eqs, t, strict=True))

    return {
        "rule": "dynamics" if ch.by_dynamics else ch.criterion,
        "dynamics_check": ch.dynamics,
        "period_tolerance": ch.tolerance,
        "criterion": ch.criterion,
        "n_snapshots": ch.n_snapshots,
        "n_snapshots_source": ch.n_snapshots_source,
        "thresholds": list(ch.thresholds),
        "n_members_checked": len(ch.checked),
        "members_checked": ch.checked,
        "n_integrations": ch.n_checks,
        "n_structures_chosen": ch.n_structures,
        "recommended_mean_kept_attractor": None
        if ch.recommended_kept is None
        else {"kept": ch.recommended_kept[0], "starts": ch.recommended_kept[1]},
        "basis_counts": {k: int(np.sum(ch.basis == k)) for k in np.unique(ch.basis)},
        "recommended": {
            "terms": terms(top.terms),
            "frequency": top.frequency,
            "n_members": len(top.members),
            "mean": xi_dict(top.mean),
            "equations_text": _marked_equations(analysis, top),
            "coefficients": {
                eq: {t: c for (e, t), c in top.coefficients.items() if e == eq} for eq in eqs
            },
        },
        "terms_beyond_fixed_threshold": terms(added_terms(top.support, plain.support, names)),
        "structures": [
            {
                "terms": terms(s.terms),
                "frequency": s.frequency,
                "n_members": len(s.members),
                "mean": xi_dict(s.mean),
            }
            for s in ch.structures
        ],
        "pareto_front": [
            {
                "terms": terms(p.terms),
                "n_terms": p.n_terms,
                "unexplained_q50": p.error,
                "on_front": p.on_front,
                "checked": p.checked,
                "kept": p.kept,
                "chosen": p.chosen,
            }
            for p in ch.front
        ],
    }
