"""The report's least-squares sections, the paper's view of the ensemble: the discovered
equations and coefficient tables (its Table 2), the modes of the Ξ samples and the symmetries
between them, the integrated mean and mode models, and the pysindy baseline.

Single coefficients depend on the latent frame, so these sections come after the coordinate-free
ones (``analysis.report_sections``). Each ``*_section`` function returns its document blocks
(``analysis.document``), heading first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis import document as doc
from analysis.coefficients import CoefficientStats
from analysis.diagnostics import Diagnostics
from analysis.figures import coefficient_label
from analysis.number_format import decimals_for_threshold, number_text
from analysis.pipeline import Analysis

__all__ = [
    "INTEGRATED_MODELS_TITLE",
    "baseline_section",
    "coefficients_section",
    "equations_section",
    "format_equations",
    "integrated_models_section",
    "marked_term_names",
    "modes_section",
    "unidentified_terms",
]

INTEGRATED_MODELS_TITLE = "Dynamics of the mean, mode and sparse models"
"""The heading of :func:`integrated_models_section` (formerly "Dynamics")."""

UNIDENTIFIED_NOTE = "† not separately identified (see Identifiability)."


def format_equations(
    mean: np.ndarray,
    std: np.ndarray,
    mask: np.ndarray,
    term_names: Sequence[str],
    *,
    decimals: int = 2,
) -> list[str]:
    """Readable equations with uncertainties, e.g. ``x0' = 0.47(±0.05) x0 - 1.00(±0.20) x1``.

    Args:
      mean, std: (n_terms, latent_dim).
      mask: (n_terms, latent_dim) bool, the terms to show (e.g. the significant ones).
      term_names: labels of the terms.
      decimals: digits after the decimal point.

    Returns:
      One string per equation.
    """
    lines = []
    for j in range(mean.shape[1]):
        parts = []
        for k in np.nonzero(mask[:, j])[0]:
            value, spread = float(mean[k, j]), float(std[k, j])
            body = f"{abs(value):.{decimals}f}(±{spread:.{decimals}f}) {term_names[k]}"
            if not parts:
                parts.append(("-" if value < 0 else "") + body)
            else:
                parts.append(("- " if value < 0 else "+ ") + body)
        lines.append(f"x{j}' = " + (" ".join(parts) if parts else "0"))
    return lines


def unidentified_terms(analysis: Analysis) -> np.ndarray:
    """(n_terms,) bool: the library terms whose coefficients are not separately identified."""
    if analysis.identifiability is None:
        return np.zeros(len(analysis.run.term_names), bool)
    return analysis.identifiability.not_identified


def marked_term_names(analysis: Analysis) -> list[str]:
    """The term names, " †" after those not separately identified."""
    unidentified = unidentified_terms(analysis)
    return [n + (" †" if unidentified[k] else "") for k, n in enumerate(analysis.run.term_names)]


def equations_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Discovered equations": the significant terms of the ensemble mean and of every mode."""
    stats = analysis.stats
    marked = marked_term_names(analysis)
    decimals = decimals_for_threshold(analysis.threshold)
    text = ["Ensemble mean:"] + format_equations(
        stats.mean, stats.std, stats.significant, marked, decimals=decimals
    )
    for m, mode in enumerate(analysis.mode_stats):
        text += ["", f"Mode {m} (weight {analysis.modes.weights[m]:.2f}):"]
        text += format_equations(mode.mean, mode.std, mode.significant, marked, decimals=decimals)
    unidentified_note = " " + UNIDENTIFIED_NOTE if unidentified_terms(analysis).any() else ""
    return [
        doc.Heading(2, "Discovered equations (least squares, the paper's Table 2)"),
        doc.Para(
            "Significant terms only (|mean| and |KDE mode| above the threshold), written "
            "mean(±std) over the samples. Per mode, significance is judged within the mode."
            + unidentified_note
        ),
        doc.Code("\n".join(text)),
    ]


def _coefficient_table(
    stats: CoefficientStats,
    diagnostics: Diagnostics,
    names: Sequence[str],
    j: int,
    decimals: int,
) -> doc.Table:
    """Equation ``j``'s row per term: summary, inclusion, significance and diagnostics."""
    spec = f".{decimals}f"
    rows, bold = [], []
    for k, name in enumerate(names):
        peaks = stats.kde[k][j].peaks
        mode = number_text(stats.mode[k, j], spec)
        if len(peaks) > 1:
            mode += " (also " + ", ".join(number_text(p, spec) for p in peaks[1:]) + ")"
        rows.append(
            [
                name,
                number_text(stats.mean[k, j], spec),
                mode,
                number_text(stats.std[k, j], spec),
                number_text(stats.q05[k, j], spec),
                number_text(stats.q50[k, j], spec),
                number_text(stats.q95[k, j], spec),
                f"{stats.inclusion[k, j]:.2f}",
                "yes" if stats.significant[k, j] else "",
                f"{diagnostics.r_hat[k, j]:.3f}",
                f"{diagnostics.ess_bulk[k, j]:.0f}",
                f"{diagnostics.mcse_mean[k, j]:.2g}",
            ]
        )
        bold.append(bool(stats.significant[k, j]))
    headers = [
        "term",
        "mean",
        "mode(s)",
        "std",
        "q05",
        "q50",
        "q95",
        "P(|ξ|>thr)",
        "significant",
        "R-hat",
        "bulk-ESS",
        "MCSE(mean)",
    ]
    return doc.Table(headers, rows, bold)


def coefficients_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Coefficients": one table per equation, the key coefficients' distributions, correlations
    and traces."""
    run = analysis.run
    marked = marked_term_names(analysis)
    decimals = decimals_for_threshold(analysis.threshold)
    blocks: list[doc.Block] = [
        doc.Heading(2, "Coefficients"),
        doc.Para(
            "As the paper's Table 2: mean and dominant KDE mode of every coefficient over the "
            "ensemble (further KDE peaks in parentheses), spread, and the inclusion probability "
            "P(|ξ| > threshold). Significant rows are bold."
        ),
    ]
    if unidentified_terms(analysis).any():
        blocks.append(doc.Para(UNIDENTIFIED_NOTE))
    for j, eq in enumerate(run.equations):
        blocks += [
            doc.Heading(3, f"Equation {eq}"),
            _coefficient_table(analysis.stats, run.diagnostics, marked, j, decimals),
        ]
    return blocks + [
        doc.Image(
            figures["coefficient_distributions"],
            "Distributions of the key coefficients (significant, or above threshold mostly)",
        ),
        doc.Image(
            figures["coefficient_correlation"], "Pearson correlation of the key coefficients"
        ),
        doc.Image(
            figures["traces"],
            "Traces of the key coefficients in draw order, one colour per chain, and their "
            "autocorrelations: chains that do not overlap have not mixed (R-hat > 1.01)",
        ),
    ]


def _symmetry_blocks(analysis: Analysis) -> list[doc.Block]:
    """The symmetries found between modes and between whole chains, in words."""
    blocks: list[doc.Block] = []
    if analysis.symmetries:
        items = []
        for match in analysis.symmetries:
            alternatives = ", ".join(
                f"{t.describe()} ({distance:.3f})" for t, distance in match.alternatives
            )
            items.append(
                f"mode {match.mode_b} ≈ mode {match.mode_a} under {match.transform.describe()} "
                f"(relative distance {match.distance:.3f}; all matching transforms: "
                f"{alternatives})"
            )
        blocks.append(doc.Bullets(items))
    elif analysis.modes.n_modes > 1:
        blocks.append(doc.Para("No pair of modes is related by a permutation / sign flip of z."))
    else:
        blocks.append(doc.Para("A single mode: no symmetry between modes to report."))
    if analysis.chain_symmetries:
        blocks.append(
            doc.Bullets(
                [
                    f"chain {match.mode_b} ≈ chain {match.mode_a} under "
                    f"{match.transform.describe()} (relative distance {match.distance:.3f} "
                    "between their mean Ξ)"
                    for match in analysis.chain_symmetries
                ]
            )
        )
    elif analysis.run.n_chains > 1:
        blocks.append(
            doc.Para("No pair of whole chains is related by a permutation / sign flip of z.")
        )
    return blocks


def modes_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Modes and symmetry": the Gaussian-mixture modes of the key coefficients, the chains that
    visit them, and the symmetries between modes and between chains."""
    modes = analysis.modes
    mode_rows = []
    for m in range(modes.n_modes):
        row = [f"mode {m}", f"{modes.weights[m]:.3f}", str(int(np.sum(modes.labels == m)))]
        if modes.chains:
            row.append(", ".join(str(c) for c in modes.chains[m]))
        mode_rows.append(row)
    blocks: list[doc.Block] = [
        doc.Heading(2, "Modes and symmetry"),
        doc.Para(
            f"Gaussian mixture on the {len(modes.features)} coefficients that are significant "
            "or exceed the threshold in at least half of the samples "
            f"(BIC chose {modes.n_components_bic} component(s); components not separated by "
            f"Ashman's D ≥ 2 are merged): {modes.n_modes} mode(s)."
        ),
    ]
    if modes.chains:
        blocks.append(
            doc.Para(
                "With several chains a mode is reported only if it holds at least 5 % of the "
                "samples of at least two chains (a component that one chain alone occupies is "
                "that chain's drift)."
                + (" One basin; the chains drift within it." if modes.drift else "")
            )
        )
    headers = ["mode", "weight", "samples"] + (["visited by chains"] if modes.chains else [])
    blocks.append(doc.Table(headers, mode_rows))
    blocks += _symmetry_blocks(analysis)
    blocks.append(
        doc.Image(figures["coefficient_pairs"], "Most correlated coefficient pairs by mode")
    )
    return blocks


def integrated_models_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """The mean, mode and sparse models integrated from the mean encoding: their attractor,
    period and amplitude beside the data's period."""
    blocks: list[doc.Block] = [doc.Heading(2, INTEGRATED_MODELS_TITLE)]
    if not analysis.dynamics:
        blocks.append(doc.Para("Skipped: no latent codes stored."))
        return blocks
    data_period = number_text(analysis.data_period)
    blocks.append(
        doc.Para(
            "Each model is integrated from the mean encoding of the earliest test snapshot "
            "by its samples; period and amplitude are measured on the second half of the "
            f"run. Data period (from data_signal): {data_period}. 'attractor': what "
            "the model does to perturbations (the Attractors table above); 'steady "
            "oscillation' alone would not tell an attracting cycle from a neutral centre."
        )
    )
    rows = []
    for model in analysis.dynamics:
        rows.append(
            [
                model.name,
                model.attractor.kind if model.attractor is not None
                else model.orbit.status.replace("limit_cycle", "steady oscillation"),
                number_text(model.orbit.period),
                data_period,
                number_text(model.period_rel_error),
                ", ".join(number_text(x) for x in model.orbit.amplitude),
                ", ".join(number_text(x) for x in model.z0),
            ]
        )
    headers = ["model", "attractor", "period", "data period", "rel. error", "amplitude", "z(0)"]
    blocks.append(doc.Table(headers, rows))
    blocks.append(
        doc.Image(figures["limit_cycles"], "Integrated models with the encoded test data")
    )
    return blocks


def baseline_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"pysindy baseline": STLSQ and bagged STLSQ on one representative encoder beside the EAE
    ensemble (nothing without a baseline)."""
    baseline = analysis.baseline
    if baseline is None:
        return []
    stats, eqs = analysis.stats, analysis.run.equations
    spec = f".{decimals_for_threshold(analysis.threshold)}f"
    unidentified_note = (
        " † not separately identified (see Identifiability): such a coefficient can differ in "
        "sign and size between fits that agree on the identified combination."
        if unidentified_terms(analysis).any()
        else ""
    )
    rows, bold = [], []
    mode0_centre = analysis.modes.centres[0]
    for k, label in enumerate(marked_term_names(analysis)):
        for j, eq in enumerate(eqs):
            shown = (
                stats.significant[k, j]
                or baseline.stlsq[k, j] != 0
                or baseline.ensemble[k, j] != 0
            )
            if not shown:
                continue
            rows.append(
                [
                    coefficient_label(label, eq),
                    number_text(stats.mean[k, j], spec),
                    number_text(mode0_centre[k, j], spec),
                    number_text(baseline.stlsq[k, j], spec),
                    number_text(baseline.ensemble[k, j], spec),
                    f"{baseline.ensemble_inclusion[k, j]:.2f}",
                ]
            )
            bold.append(bool(stats.significant[k, j]))
    headers = ["coefficient", "EAE mean", "EAE mode 0", "STLSQ", "bagged STLSQ", "bagged incl."]
    return [
        doc.Heading(2, "pysindy baseline"),
        doc.Para(
            f"STLSQ (threshold {analysis.threshold:g}) and bagged STLSQ ({baseline.n_models} "
            f"models, median) fitted on z, ż of one representative encoder (sample "
            f"{baseline.sample}: the lowest-loss sample of mode 0), beside the EAE ensemble. "
            "Rows: every coefficient that is significant or non-zero in either baseline."
            + unidentified_note
        ),
        doc.Table(headers, rows, bold),
    ]
