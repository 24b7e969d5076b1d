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
from analysis.attractor import KINDS, Attractor, compare  # noqa: E402
from analysis.ensemble_dynamics import FATES, DynamicsDistribution  # noqa: E402
from analysis.frame_free import format_value, verdict_lines  # noqa: E402
from analysis.identifiability import not_identified_in  # noqa: E402
from analysis.pipeline import Analysis  # noqa: E402
from analysis.report_frame_free import guard_line  # noqa: E402
from analysis.sparse import SparseChoice, Structure, added_terms  # noqa: E402

__all__ = [
    "dynamics_blocks",
    "attractor_blocks",
    "attractor_lines",
    "attractor_json",
    "kind_fraction_text",
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
        if _chaotic_data(a) and d.kind_fractions is not None:
            q05, q50, q95 = _lyapunov_quantiles(d)
            lines.append(
                f"{d.label} models ({len(d.members)} members integrated): "
                f"{_pct(d.kind_fractions['chaotic'])} chaotic; λ1 {_f(q50)} (90 % interval "
                f"{_f(q05)}–{_f(q95)}, {int(np.sum(d.lyapunov_subset))} members) against the "
                f"data's {_lyapunov_text(a.data_attractor)}"
            )
            continue
        q05, q50, q95 = d.period_quantiles
        lines.append(
            f"{d.label} models ({len(d.members)} members integrated): "
            f"{_pct(d.fractions['oscillates'])} oscillate, {_pct(d.within)} with a period within "
            f"{100 * d.tolerance:.0f} % of the data's {_f(d.data_period)}; period {_f(q50)} "
            f"(90 % interval {_f(q05)}–{_f(q95)}), R-hat {_f(d.period_r_hat)}, "
            f"bulk-ESS {_f(d.period_ess_bulk, 0)}"
        )
    return lines


def _unidentified(a: Analysis, support: np.ndarray) -> np.ndarray:
    """Which coefficients of a model with this support are not identified (marked †)."""
    if a.identifiability is None:
        return np.zeros(np.shape(support), bool)
    return not_identified_in(support, a.identifiability)


def _marked_equations(a: Analysis, s: Structure) -> list[str]:
    """A structure's mean model in pysindy's format, † on the coefficients not identified
    within it (two terms of a nearly collinear group in one equation)."""
    names = a.run.term_names
    mark = _unidentified(a, s.support)
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


def top_structure_lines(a: Analysis) -> list[str]:
    """The recommended sparse model (the most frequent structure chosen by evidence, with its
    mean coefficients; pysindy format, † on coefficients not identified); without a choice, the
    most frequent fixed-threshold structure."""
    if a.sparse is None or not a.sparse.structures:
        return []
    ch = a.sparse.choice
    if ch is not None and ch.recommended is not None:
        top = ch.recommended
        head = (
            f"recommended sparse model ({100 * top.frequency:.0f} % of the members; chosen as "
            f"{_chosen_how(ch)}):"
        )
        return [head] + _marked_equations(a, top)
    top = a.sparse.structures[0]
    head = f"top sparse structure ({100 * top.frequency:.0f} % of the members):"
    return [head] + _marked_equations(a, top)


def _g(x: float | None) -> str:
    """Two significant digits (exponents and rates span decades)."""
    return "—" if x is None or not np.isfinite(x) else f"{x:.2g}"


def _lyapunov_text(x: Attractor) -> str:
    return f"λ1 = {_g(x.lyapunov)} ± {_g(x.lyapunov_se)}"


def _kind_text(x: Attractor) -> str:
    """The kind with its key figure: the period of a cycle, λ1 of chaos."""
    if x.kind == "chaotic":
        return f"chaotic ({_lyapunov_text(x)})"
    if np.isfinite(x.period):
        return f"{x.kind} (period {_f(x.period)})"
    return x.kind


def _chaotic_data(a: Analysis) -> bool:
    return a.data_attractor is not None and a.data_attractor.kind == "chaotic"


def kind_fraction_text(d: DynamicsDistribution) -> str:
    """The fraction of each kind, largest first: "79 % attracting limit cycle, ..."."""
    if d.kind_fractions is None:
        return "—"
    parts = sorted(((v, k) for k, v in d.kind_fractions.items() if v > 0), reverse=True)
    return ", ".join(f"{_pct(v)} {k}" for v, k in parts) or "—"


def _lyapunov_quantiles(d: DynamicsDistribution) -> tuple[float, float, float]:
    if d.lyapunov is None or d.lyapunov_subset is None:
        return (float("nan"),) * 3
    values = d.lyapunov[d.lyapunov_subset]
    values = values[np.isfinite(values)]
    if not len(values):
        return (float("nan"),) * 3
    return tuple(float(q) for q in np.quantile(values, [0.05, 0.5, 0.95]))


def attractor_lines(a: Analysis) -> list[str]:
    """The data's attractor, the fraction of members of each kind and each model's kind beside
    the data's, in plain words (``analysis.attractor``)."""
    data = a.data_attractor
    if data is None:
        return []
    lines = [f"data: {_kind_text(data)}, from {a.data_attractor_source}"]
    for d in a.distributions:
        if d.kind_fractions is not None:
            lines.append(f"{d.label} members: {kind_fraction_text(d)}")
    named = [(m.name, m.attractor) for m in a.dynamics if m.name != "mean"]
    lines += [f"{name}: {compare(x, data)}" for name, x in named if x is not None]
    return lines


def _peer_behaviour(a: Analysis, m) -> str:
    if m.attractor is None:
        return m.orbit.status.replace("_", " ")
    if a.data_attractor is None:
        return m.attractor.kind
    return compare(m.attractor, a.data_attractor)


def headline_lines(a: Analysis) -> list[str]:
    """The coordinate-free results and the top sparse model in a few lines (``analysis.json``'s
    ``headline``, printed by ``discover`` and ``python -m analysis.report``)."""
    lines = verdict_lines(a.frame_free) if a.frame_free is not None else []
    guard = guard_line(a.run.summary["training"].get("bias_guard"))
    lines += [guard] if guard else []
    lines += distribution_lines(a) + attractor_lines(a) + top_structure_lines(a)
    if a.peer is not None:
        lines += [
            f"peer {m.name}: {int(np.sum(m.xi != 0))} terms, {_peer_behaviour(a, m)}, "
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
            f"{_f(d0.data_period)}. 'oscillates' = a steady oscillation (amplitude change ≤ 5 "
            "%): an attracting limit cycle or a neutral centre alike — the attractor table "
            "below tells them apart."
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
    b += attractor_blocks(a)
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


def attractor_blocks(a: Analysis) -> list[doc.Block]:
    """What the models do to perturbations, beside the data's own attractor."""
    data = a.data_attractor
    if data is None:
        return []
    b: list[doc.Block] = [doc.Heading(3, "Attractors: what the models do to perturbations")]
    b.append(
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
            f"The data ({data_source_text(a)}): {data.description}."
        )
    )
    rows = []
    named = [(m.name, m.attractor) for m in a.dynamics]
    if a.peer is not None:
        named += [(f"peer {m.name}", m.attractor) for m in a.peer.models]
    for name, x in [("data", data)] + named:
        if x is None:
            continue
        ret = {True: "yes", False: "no", None: "—"}[x.returns]
        rows.append(
            [
                name,
                x.kind,
                "—" if name == "data" else compare(x, data),
                _f(x.period),
                _g(x.floquet),
                ret,
                _g(x.lyapunov),
                _g(x.lyapunov_se),
                _f(x.dimension, 2),
            ]
        )
    b.append(
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
    dists = [d for d in a.distributions if d.kind_fractions is not None]
    if dists:
        seen = [k for k in KINDS if any(d.kind_fractions[k] > 0 for d in dists)]
        rows = []
        for d in dists:
            q05, q50, q95 = _lyapunov_quantiles(d)
            rows.append(
                [
                    d.label,
                    str(len(d.members)),
                    *(_pct(d.kind_fractions[k]) for k in seen),
                    f"{_g(q50)} ({_g(q05)} – {_g(q95)})",
                    str(int(np.sum(d.lyapunov_subset))),
                ]
            )
        b.append(
            doc.Para(
                "The integrated members by kind (each from its own encoding, the perturbations "
                "scaled by its own encoded radius), and the distribution of λ1 over an evenly "
                "spaced subset of them (the variational equation costs two integrations; every "
                "bounded aperiodic member gets λ1 too, where chaos must be decided):"
            )
        )
        b.append(
            doc.Table(["models", "members", *seen, "λ1 q50 (q05–q95)", "members with λ1"], rows)
        )
        if data.kind == "chaotic":
            b.append(doc.Para(_chaos_text(a, dists)))
    return b


def data_source_text(a: Analysis) -> str:
    return f"from {a.data_attractor_source}" if a.data_attractor_source else "its time series"


def _chaos_text(a: Analysis, dists: Sequence[DynamicsDistribution]) -> str:
    """For chaotic data: the members' λ1 and bounded-attractor statistics beside the data's,
    in place of a period."""
    data = a.data_attractor
    parts = []
    for d in dists:
        q05, q50, q95 = _lyapunov_quantiles(d)
        chaotic = d.kind == "chaotic"
        dim = d.dimension[chaotic] if d.dimension is not None else np.array([])
        dim = dim[np.isfinite(dim)]
        ratio = d.amplitude_ratio[chaotic] if d.amplitude_ratio is not None else np.array([])
        ratio = ratio[np.isfinite(ratio)]
        parts.append(
            f"{d.label}: {_pct(d.kind_fractions['chaotic'])} of the members are chaotic, λ1 "
            f"{_f(q50)} (90 % interval {_f(q05)}–{_f(q95)}); their correlation dimension "
            f"{_f(float(np.median(dim)) if len(dim) else np.nan, 2)} and attractor radius "
            f"{_f(float(np.median(ratio)) if len(ratio) else np.nan, 2)}× their encoded data's"
        )
    return (
        f"The data are chaotic ({_lyapunov_text(data)}, Rosenstein's method; correlation "
        f"dimension {_f(data.dimension, 2)}): a period means little here, so compare the "
        "Lyapunov exponents and the attractor's size and dimension instead. "
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


def _coefficient_rows(a: Analysis, s: Structure) -> list[list[str]]:
    mark = _unidentified(a, s.support)
    names = a.run.term_names
    rows = []
    for (eq, term), c in s.coefficients.items():
        j, k = a.run.equations.index(eq), names.index(term)
        rows.append(
            [
                f"{term}{' †' if mark[k, j] else ''} in {eq}",
                _f(c["mean"]),
                _f(c["mode"]),
                _f(c["q05"]),
                _f(c["q95"]),
                _f(c["r_hat"]),
                _f(c["ess_bulk"], 0),
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
            [str(p.n_terms), f"{p.error:.3g}", _pct(p.on_front), kept, _pct(p.chosen)]
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


def _choice_blocks(a: Analysis) -> list[doc.Block]:
    """The recommended model, how it was chosen, the Pareto front and the terms it needs."""
    sp, ch = a.sparse, a.sparse.choice
    names, eqs = a.run.term_names, a.run.equations
    top, plain = ch.recommended, sp.structures[0]
    ladder = list(ch.thresholds)
    b: list[doc.Block] = [doc.Code("\n".join(top_structure_lines(a)))]
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
    b.append(
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
        b.append(
            doc.Para(
                f"The members' choices are spread over {ch.n_structures} structures: the "
                f"recommended one is chosen by only {100 * top.frequency:.0f} % of them "
                f"({len(top.members)} of {len(ch.pool)}). Read it with the Pareto front below: "
                "which supports keep the attractor for most of the members checked with them."
            )
        )
    if ch.recommended_kept is not None:
        kept, tried = ch.recommended_kept
        b.append(
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
    b.append(doc.Para(_needed_text(ch, plain, eqs, names, sp.threshold)))
    b.append(
        doc.Para(
            "Pareto front: the supports on the members' fronts (the most common, with the "
            "recommended and the fixed-threshold ones). 'unexplained': median over the members "
            "with it on their front of the unexplained fraction of ż's mean square; 'kept': "
            "members whose integrated model kept the data's attractor / members checked with it."
        )
    )
    b.append(
        doc.Table(
            ["terms", "unexplained", "on front of", "kept", "chosen by", *eqs, ""],
            _front_rows(ch, plain),
        )
    )
    b.append(
        doc.Table(
            ["rank", "frequency", "members", *eqs, "terms"], _structure_rows(ch.structures, eqs)
        )
    )
    b.append(
        doc.Para(
            "Coefficients of the recommended model over the members that chose it "
            "(R-hat and bulk-ESS of each chosen coefficient over those members, by "
            "chain; † not identified within it: see Identifiability):"
        )
    )
    b.append(
        doc.Table(
            ["coefficient", "mean", "mode", "q05", "q95", "R-hat", "bulk-ESS"],
            _coefficient_rows(a, top),
        )
    )
    return b


def sparse_blocks(a: Analysis, rel: dict[str, str]) -> list[doc.Block]:
    """The sparse models: the recommended model and how it was chosen (its Pareto front, the
    terms it needs), then the fixed-threshold models (inclusion, structures)."""
    sp = a.sparse
    b: list[doc.Block] = [doc.Heading(2, "Sparse models (one per encoder)")]
    if sp is None:
        b.append(doc.Para("Skipped: the run holds neither the fit problems nor latent codes."))
        return b
    names, eqs = a.run.term_names, a.run.equations
    if sp.choice is not None and sp.choice.recommended is not None:
        b += _choice_blocks(a)
        b.append(doc.Heading(3, f"At one fixed threshold ({sp.threshold:g})"))
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
            f"{sp.n_structures} distinct structure(s) in the ensemble. A fixed threshold drops "
            "every small term, also those that decide whether an oscillation attracts."
        )
    )
    top = sp.structures[0]
    head = f"top structure at threshold {sp.threshold:g} ({100 * top.frequency:.0f} % of members):"
    b.append(doc.Code("\n".join([head] + _marked_equations(a, top))))
    headers = ["rank", "frequency", "members", *eqs, "terms"]
    b.append(doc.Table(headers, _structure_rows(sp.structures, eqs)))
    b.append(
        doc.Para(
            "Coefficients of the top structure over the members that chose it (R-hat "
            "and bulk-ESS of each sparse coefficient over all members, by chain):"
        )
    )
    b.append(
        doc.Table(
            ["coefficient", "mean", "mode", "q05", "q95", "R-hat", "bulk-ESS"],
            _coefficient_rows(a, top),
        )
    )
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
        behaviour = _peer_behaviour(a, m)
        rows.append(
            [
                m.name,
                str(int(np.sum(m.xi != 0))),
                behaviour,
                _f(m.orbit.period),
                _f(m.period_rel_error),
            ]
        )
    eae_rows = []
    if a.sparse is not None and a.sparse.choice is not None and a.sparse.choice.recommended:
        eae_rows.append(("EAE recommended sparse model (members)",
                         a.sparse.choice.recommended, "sparse (chosen by evidence)"))
    if a.sparse is not None and a.sparse.structures:
        eae_rows.append(("EAE top sparse structure at the fixed threshold (members)",
                         a.sparse.structures[0], "sparse"))
    for name, top, label in eae_rows:
        d = next((d for d in a.distributions if d.label == label), None)
        rows.append(
            [name, str(int(top.support.sum())),
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
    out["sparse_choice"] = _choice_json(a, xi_dict)
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
                "kind_fractions": d.kind_fractions,
                "lyapunov_q05_q50_q95": _lyapunov_quantiles(d),
                "n_lyapunov": None if d.lyapunov_subset is None else int(np.sum(d.lyapunov_subset)),
            }
            for d in a.distributions
        ],
    }
    out["attractor"] = attractor_json(a)
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
                    "attractor": _attractor_dict(m.attractor, a.data_attractor),
                }
                for m in a.peer.models
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


def attractor_json(a: Analysis) -> dict[str, Any] | None:
    """``analysis.json``'s ``attractor``: the data's attractor and its source, each integrated
    model's (mean, modes, top sparse structure, peer) beside it, and per distribution of the
    members the fraction of each kind, λ1's quantiles over the Lyapunov subset and the fraction
    whose perturbed orbits return (``analysis.attractor``)."""
    data = a.data_attractor
    if data is None:
        return None
    models = [{"name": m.name, **(_attractor_dict(m.attractor, data) or {})} for m in a.dynamics]
    if a.peer is not None:
        models += [
            {"name": f"peer {m.name}", **(_attractor_dict(m.attractor, data) or {})}
            for m in a.peer.models
        ]
    members = []
    for d in a.distributions:
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
        "data": {"source": a.data_attractor_source, **_attractor_dict(data)},
        "kinds": list(KINDS),
        "models": models,
        "members": members,
    }


def _choice_json(a: Analysis, xi_dict) -> dict[str, Any] | None:
    """``analysis.json``'s ``sparse_choice``: the recommended sparse model and how it was
    chosen (``analysis.sparse.SparseChoice``)."""
    sp = a.sparse
    ch = None if sp is None else sp.choice
    if ch is None or ch.recommended is None:
        return None
    eqs, names = a.run.equations, a.run.term_names
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
            "equations_text": _marked_equations(a, top),
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
