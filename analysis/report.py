"""The coefficient-uncertainty report of a ``discover`` run directory.

``write_report(run_dir)`` (called by the trainer at the end of every run) and
``python -m analysis.report RUN_DIR [--threshold 0.1]`` write into RUN_DIR:

- ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG);
- ``figures/*.png``;
- ``analysis.json``, the computed statistics in machine-readable form.

See docs/analysis.md for how to read the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis import document as doc
from analysis import figures as F
from analysis import report_frame_free as FF
from analysis import report_sections as S
from analysis.coefficients import CoefficientStats
from analysis.diagnostics import Diagnostics
from analysis.errors import ReportError
from analysis.pipeline import Analysis, analyze_run
from analysis.report_data import data_facts
from analysis.rundir import LEARNED_MAX_RELATIVE_MSE, load_run, write_text_atomic
from simulators.hdf5_io import atomic_output

__all__ = ["write_report", "format_equations", "analysis_to_json", "main"]

FIGURES = (
    "frame_free_traces",
    "dynamics_distribution",
    "inclusion",
    "coefficient_distributions",
    "coefficient_correlation",
    "coefficient_pairs",
    "traces",
    "limit_cycles",
    "training_curves",
    "snapshots",
)


def _decimals(threshold: float) -> int:
    return max(2, int(-np.floor(np.log10(threshold))) + 1) if threshold > 0 else 3


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
            m, s = float(mean[k, j]), float(std[k, j])
            body = f"{abs(m):.{decimals}f}(±{s:.{decimals}f}) {term_names[k]}"
            if not parts:
                parts.append(("-" if m < 0 else "") + body)
            else:
                parts.append(("- " if m < 0 else "+ ") + body)
        lines.append(f"x{j}' = " + (" ".join(parts) if parts else "0"))
    return lines


def _f(x: float, decimals: int = 3) -> str:
    return "—" if not np.isfinite(x) else f"{x:.{decimals}f}"


def _coef_table(
    stats: CoefficientStats, diag: Diagnostics, names: Sequence[str], j: int, dec: int
) -> doc.Table:
    rows, bold = [], []
    for k, name in enumerate(names):
        peaks = stats.kde[k][j].peaks
        mode = _f(stats.mode[k, j], dec)
        if len(peaks) > 1:
            mode += " (also " + ", ".join(_f(p, dec) for p in peaks[1:]) + ")"
        rows.append(
            [
                name,
                _f(stats.mean[k, j], dec),
                mode,
                _f(stats.std[k, j], dec),
                _f(stats.q05[k, j], dec),
                _f(stats.q50[k, j], dec),
                _f(stats.q95[k, j], dec),
                f"{stats.inclusion[k, j]:.2f}",
                "yes" if stats.significant[k, j] else "",
                f"{diag.r_hat[k, j]:.3f}",
                f"{diag.ess_bulk[k, j]:.0f}",
                f"{diag.mcse_mean[k, j]:.2g}",
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


def format_number(value: float | None, digits: int = 3) -> str:
    """A number to ``digits`` significant digits; "undefined" for null (e.g. 0/0)."""
    return "undefined" if value is None else f"{value:.{digits}g}"


def learning_lines(test_error: dict[str, Any]) -> list[str]:
    """The sanity gate's verdict, when the model did not learn the data (else nothing)."""
    if test_error.get("learned") is not False:
        return []
    x, dx = (format_number(test_error[k]) for k in ("x_relative_mse", "dx_relative_mse"))
    return [
        f"THE MODEL DID NOT LEARN THE DATA: test relative MSE of x {x} and of ẋ {dx} "
        f"(the rule: both below {LEARNED_MAX_RELATIVE_MSE}; predicting the mean snapshot scores "
        "1). The equations below describe noise. Try a lower sampler.temperature, a longer "
        "training (train.outer_iterations), or check that ẋ is the time derivative of x."
    ]


def convergence_lines(diagnostics: dict[str, Any], coefficients: dict[str, Any]) -> list[str]:
    """The coefficients' diagnostics in one line, labelled descriptive: single coefficients
    depend on the latent frame (a rotation or reflection of z mixes them, collinear terms trade
    weight), so the run's verdict is taken on the frame-free targets (``analysis.frame_free``)."""
    d = diagnostics
    layout = f"{d['n_chains']} chain(s) × {d['draws_per_chain']} draws"
    worst = (
        f"max R-hat {d['max_r_hat']:.3f}"
        if d["max_r_hat"] is not None
        else "R-hat needs at least two chains"
    )
    ess = f"min bulk-ESS {d['min_ess_bulk']:.0f}" if d["min_ess_bulk"] is not None else ""
    measured = ", ".join(x for x in (worst, ess) if x)
    state = "they agree" if d["converged"] else "the chains do not agree on them"
    return [
        f"Coefficients (descriptive: they depend on the latent frame; {layout}): {measured} "
        f"over the significant coefficients; {state} ({d['rule']})."
    ]


def convergence_banner(
    diagnostics: dict[str, Any], coefficients: dict[str, Any]
) -> list[doc.Block]:
    lines = convergence_lines(diagnostics, coefficients)
    return [doc.Para(("⚠ " if not diagnostics["converged"] else "") + line) for line in lines]


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_output(path, force=True) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def _make_figures(a: Analysis, fig_dir: Path) -> dict[str, Path]:
    run, stats = a.run, a.stats
    names, eqs = run.term_names, run.equations
    feats = a.modes.features
    labels = [F.coefficient_label(names[k], eqs[j]) for k, j in feats]
    out: dict[str, Path] = {}

    shown = list(feats)
    if not shown:  # nothing significant: show the largest |mean| coefficients instead
        order = np.argsort(-np.abs(stats.mean).ravel())[:4]
        shown = [tuple(int(i) for i in np.unravel_index(o, stats.mean.shape)) for o in order]
    figs = {
        "coefficient_distributions": lambda: F.fig_distributions(run.xi, stats, shown, names, eqs),
        "coefficient_correlation": lambda: F.fig_correlation(run.xi, feats, labels),
        "coefficient_pairs": lambda: F.fig_pairs(
            run.xi, feats, labels, a.modes.labels, a.modes.centres
        ),
    }
    if a.dynamics:
        figs["limit_cycles"] = lambda: F.fig_limit_cycles(
            [d.name for d in a.dynamics],
            [d.orbit.z for d in a.dynamics],
            [d.orbit.status for d in a.dynamics],
            [d.encoded for d in a.dynamics],
        )
    figs["traces"] = lambda: F.fig_traces(
        run.xi,
        run.chain,
        shown,
        [F.coefficient_label(names[k], eqs[j]) for k, j in shown],
        run.diagnostics.r_hat,
        run.diagnostics.ess_bulk,
    )
    if run.metrics is not None:
        figs["training_curves"] = lambda: F.fig_training(run.metrics)
    if run.x_examples is not None and run.x_recon_examples is not None:
        figs["snapshots"] = lambda: F.fig_snapshots(
            run.x_examples, run.x_recon_examples, run.grid_shape
        )
    figs.update(S.section_figures(a))
    if a.frame_free is not None and a.frame_free.targets:
        figs["frame_free_traces"] = lambda: FF.fig_frame_free_traces(a.frame_free)
    for name, make in figs.items():
        path = fig_dir / f"{name}.png"
        _save(make(), path)
        out[name] = path
    return out


def _blocks(a: Analysis, figs: dict[str, Path]) -> list[doc.Block]:
    run, stats, thr = a.run, a.stats, a.threshold
    names, eqs = run.term_names, run.equations
    dec = _decimals(thr)
    rel = {k: f"figures/{p.name}" for k, p in figs.items()}
    b: list[doc.Block] = [doc.Heading(1, f"EAE-SINDy coefficient report: {run.run_dir.name}")]
    b += [doc.Para("⚠ " + line) for line in learning_lines(run.summary["test_error"])]
    if a.frame_free is not None:
        b += FF.verdict_banner(a.frame_free)
    guard = FF.guard_line(run.summary["training"].get("bias_guard"))
    if guard:
        b.append(doc.Para(("⚠ " if "FAILS" in guard else "") + guard[0].upper() + guard[1:] + "."))
    b += convergence_banner(run.summary["diagnostics"], run.summary["coefficients"])

    facts = [
        f"{run.n_samples} sampled encoders, latent dimension {run.latent_dim}, "
        f"{len(names)} library terms",
        f"threshold for inclusion / significance: {thr:g}",
    ]
    if run.temperature is not None:
        facts.append(f"sampling temperature: {run.temperature:g}")
    if run.xi_fit_on is not None:
        where = {"test": "the test snapshots", "all": "all snapshots (train, validation, test)"}
        facts.append(f"each Ξ fitted on {where.get(run.xi_fit_on, run.xi_fit_on)}")
    te, tr = run.summary["test_error"], run.summary["training"]
    for key in ("x_relative_mse", "dx_relative_mse", "loss_mean"):
        if key in te:
            facts.append(f"test {key}: {format_number(te[key], 4)}")
    if tr:
        facts.append(
            f"training: {tr.get('outer_iterations', '?')} outer iterations, stopped by "
            f"{tr.get('stopped', '?')}, {tr.get('wall_time_s', float('nan')):.1f} s"
        )
    facts += data_facts(tr.get("data") if tr else None)
    collection = tr.get("collection") if tr else None
    if collection:
        batch = "the whole training set" if collection["full_batch"] else "minibatches"
        facts.append(
            f"ensemble collected by {collection['thermostat'].replace('_', '-')} on {batch}"
            + (f", friction {collection['friction']:g}" if collection.get("friction") else "")
            + (f", step ≤ {collection['step_size']:g} with ω·dt ≤ {collection['max_omega_dt']:g}"
               if collection.get("max_omega_dt") else "")
            + ("" if collection.get("resample_every") else ", no velocity re-draws")
            + " (the [collection] settings)"
        )
    stiff = tr.get("collection_sampler") if tr else None
    if stiff:
        facts.append(
            f"collected with a mass heavier along each chain's {stiff['stiff_directions']} "
            f"stiffest loss directions and the step {stiff['step_gain']:.2f}× larger "
            f"({stiff['step_size']:.3g}): the same Gibbs measure, longer strides "
            "(train.stiff_directions)"
        )
    b += [doc.Heading(2, "Run"), doc.Bullets(facts)]
    if a.notes:
        b += [doc.Heading(3, "Notes"), doc.Bullets(list(a.notes))]

    if a.frame_free is not None:
        b += FF.frame_free_blocks(a.frame_free, rel)
    b += S.dynamics_blocks(a, rel)
    b += S.sparse_blocks(a, rel)
    b += S.peer_blocks(a)
    b += S.identifiability_blocks(a)

    unidentified = (
        a.identifiability.not_identified
        if a.identifiability is not None
        else np.zeros(len(names), bool)
    )
    marked = [n + (" †" if unidentified[k] else "") for k, n in enumerate(names)]
    b.append(doc.Heading(2, "Discovered equations (least squares, the paper's Table 2)"))
    b.append(
        doc.Para(
            "Significant terms only (|mean| and |KDE mode| above the threshold), written "
            "mean(±std) over the samples. Per mode, significance is judged within the mode."
            + (" † not separately identified (see Identifiability)." if unidentified.any() else "")
        )
    )
    text = ["Ensemble mean:"] + format_equations(
        stats.mean, stats.std, stats.significant, marked, decimals=dec
    )
    for m, ms in enumerate(a.mode_stats):
        text += ["", f"Mode {m} (weight {a.modes.weights[m]:.2f}):"]
        text += format_equations(ms.mean, ms.std, ms.significant, marked, decimals=dec)
    b.append(doc.Code("\n".join(text)))

    b.append(doc.Heading(2, "Coefficients"))
    b.append(
        doc.Para(
            "As the paper's Table 2: mean and dominant KDE mode of every coefficient over the "
            "ensemble (further KDE peaks in parentheses), spread, and the inclusion probability "
            "P(|ξ| > threshold). Significant rows are bold."
        )
    )
    if unidentified.any():
        b.append(doc.Para("† not separately identified (see Identifiability)."))
    for j, eq in enumerate(eqs):
        b += [doc.Heading(3, f"Equation {eq}"), _coef_table(stats, run.diagnostics, marked, j, dec)]
    b.append(
        doc.Image(
            rel["coefficient_distributions"],
            "Distributions of the key coefficients (significant, or above threshold mostly)",
        )
    )
    b.append(
        doc.Image(rel["coefficient_correlation"], "Pearson correlation of the key coefficients")
    )
    b.append(
        doc.Image(
            rel["traces"],
            "Traces of the key coefficients in draw order, one colour per chain, and their "
            "autocorrelations: chains that do not overlap have not mixed (R-hat > 1.01)",
        )
    )

    b.append(doc.Heading(2, "Modes and symmetry"))
    mode_rows = []
    for m in range(a.modes.n_modes):
        row = [f"mode {m}", f"{a.modes.weights[m]:.3f}", str(int(np.sum(a.modes.labels == m)))]
        if a.modes.chains:
            row.append(", ".join(str(c) for c in a.modes.chains[m]))
        mode_rows.append(row)
    b.append(
        doc.Para(
            f"Gaussian mixture on the {len(a.modes.features)} coefficients that are significant "
            "or exceed the threshold in at least half of the samples "
            f"(BIC chose {a.modes.n_components_bic} component(s); components not separated by "
            f"Ashman's D ≥ 2 are merged): {a.modes.n_modes} mode(s)."
        )
    )
    if a.modes.chains:
        b.append(
            doc.Para(
                "With several chains a mode is reported only if it holds at least 5 % of the "
                "samples of at least two chains (a component that one chain alone occupies is "
                "that chain's drift)."
                + (" One basin; the chains drift within it." if a.modes.drift else "")
            )
        )
    headers = ["mode", "weight", "samples"] + (["visited by chains"] if a.modes.chains else [])
    b.append(doc.Table(headers, mode_rows))
    if a.symmetries:
        items = []
        for s in a.symmetries:
            alt = ", ".join(f"{t.describe()} ({d:.3f})" for t, d in s.alternatives)
            items.append(
                f"mode {s.mode_b} ≈ mode {s.mode_a} under {s.transform.describe()} "
                f"(relative distance {s.distance:.3f}; all matching transforms: {alt})"
            )
        b.append(doc.Bullets(items))
    elif a.modes.n_modes > 1:
        b.append(doc.Para("No pair of modes is related by a permutation / sign flip of z."))
    else:
        b.append(doc.Para("A single mode: no symmetry between modes to report."))
    if a.chain_symmetries:
        b.append(
            doc.Bullets(
                [
                    f"chain {s.mode_b} ≈ chain {s.mode_a} under {s.transform.describe()} "
                    f"(relative distance {s.distance:.3f} between their mean Ξ)"
                    for s in a.chain_symmetries
                ]
            )
        )
    elif a.run.n_chains > 1:
        b.append(doc.Para("No pair of whole chains is related by a permutation / sign flip of z."))
    b.append(doc.Image(rel["coefficient_pairs"], "Most correlated coefficient pairs by mode"))

    b.append(doc.Heading(2, "Dynamics"))
    if a.dynamics:
        b.append(
            doc.Para(
                "Each model is integrated from the mean encoding of the earliest test snapshot "
                "by its samples; period and amplitude are measured on the second half of the "
                f"run. Data period (from data_signal): {_f(a.data_period)}. 'attractor': what "
                "the model does to perturbations (the Attractors table above); 'steady "
                "oscillation' alone would not tell an attracting cycle from a neutral centre."
            )
        )
        rows = []
        for d in a.dynamics:
            amp = ", ".join(_f(x) for x in d.orbit.amplitude)
            rows.append(
                [
                    d.name,
                    d.attractor.kind if d.attractor is not None
                    else d.orbit.status.replace("limit_cycle", "steady oscillation"),
                    _f(d.orbit.period),
                    _f(a.data_period),
                    _f(d.period_rel_error),
                    amp,
                    ", ".join(_f(x) for x in d.z0),
                ]
            )
        headers = ["model", "attractor", "period", "data period", "rel. error", "amplitude", "z(0)"]
        b.append(doc.Table(headers, rows))
        b.append(doc.Image(rel["limit_cycles"], "Integrated models with the encoded test data"))
    else:
        b.append(doc.Para("Skipped: no latent codes stored."))

    if a.baseline is not None:
        bl = a.baseline
        b.append(doc.Heading(2, "pysindy baseline"))
        b.append(
            doc.Para(
                f"STLSQ (threshold {thr:g}) and bagged STLSQ ({bl.n_models} models, median) "
                f"fitted on z, ż of one representative encoder (sample {bl.sample}: the lowest-"
                "loss sample of mode 0), beside the EAE ensemble. Rows: every coefficient that "
                "is significant or non-zero in either baseline."
                + (
                    " † not separately identified (see Identifiability): such a coefficient can "
                    "differ in sign and size between fits that agree on the identified "
                    "combination."
                    if unidentified.any()
                    else ""
                )
            )
        )
        rows, bold = [], []
        c0 = a.modes.centres[0]
        for k, label in enumerate(marked):
            for j, eq in enumerate(eqs):
                show = stats.significant[k, j] or bl.stlsq[k, j] != 0 or bl.ensemble[k, j] != 0
                if not show:
                    continue
                rows.append(
                    [
                        F.coefficient_label(label, eq),
                        _f(stats.mean[k, j], dec),
                        _f(c0[k, j], dec),
                        _f(bl.stlsq[k, j], dec),
                        _f(bl.ensemble[k, j], dec),
                        f"{bl.ensemble_inclusion[k, j]:.2f}",
                    ]
                )
                bold.append(bool(stats.significant[k, j]))
        headers = ["coefficient", "EAE mean", "EAE mode 0", "STLSQ", "bagged STLSQ", "bagged incl."]
        b.append(doc.Table(headers, rows, bold))

    b.append(doc.Heading(2, "Training"))
    if "training_curves" in rel:
        b.append(
            doc.Image(rel["training_curves"], "Loss of the ensemble members per outer iteration")
        )
    else:
        b.append(doc.Para("Skipped: metrics.csv missing or empty."))
    b.append(doc.Heading(2, "Reconstructions"))
    if "snapshots" in rel:
        b.append(doc.Image(rel["snapshots"], "Test snapshots: truth, reconstruction, error"))
    else:
        b.append(doc.Para("Skipped: x_examples / x_recon_examples not stored."))

    b.append(doc.Heading(2, "Reproduce"))
    b.append(
        doc.Code(
            "from analysis.interop import to_pysindy\n"
            "from analysis.rundir import load_run\n"
            f"run = load_run({str(run.run_dir)!r})\n"
            "model = to_pysindy(run.xi.mean(axis=0), run.term_names)\n"
            "model.print()"
        )
    )
    return b


def _json(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _stats_json(s: CoefficientStats, names: Sequence[str], eqs: Sequence[str]) -> dict:
    return {
        eq: {
            name: {
                "mean": s.mean[k, j],
                "std": s.std[k, j],
                "q05": s.q05[k, j],
                "q50": s.q50[k, j],
                "q95": s.q95[k, j],
                "mode": s.mode[k, j],
                "peaks": s.kde[k][j].peaks,
                "n_peaks": s.n_peaks[k, j],
                "inclusion": s.inclusion[k, j],
                "significant": s.significant[k, j],
            }
            for k, name in enumerate(names)
        }
        for j, eq in enumerate(eqs)
    }


def _symmetry_json(s) -> dict[str, Any]:
    return {
        "mode_a": s.mode_a,
        "mode_b": s.mode_b,
        "transform": {
            "perm": s.transform.perm,
            "signs": s.transform.signs,
            "description": s.transform.describe(),
        },
        "distance": s.distance,
        "alternatives": [
            {"perm": t.perm, "signs": t.signs, "description": t.describe(), "distance": d}
            for t, d in s.alternatives
        ],
    }


def analysis_to_json(a: Analysis) -> dict[str, Any]:
    """The machine-readable content of ``analysis.json`` (NaN → null)."""
    run = a.run
    names, eqs = run.term_names, run.equations

    def xi_dict(xi):
        return {eq: {n: xi[k, j] for k, n in enumerate(names)} for j, eq in enumerate(eqs)}

    out: dict[str, Any] = {
        "schema_version": 1,
        "run_dir": str(run.run_dir),
        "threshold": a.threshold,
        "n_samples": run.n_samples,
        "term_names": names,
        "equations": eqs,
        "coefficients": _stats_json(a.stats, names, eqs),
        "equations_text": format_equations(
            a.stats.mean, a.stats.std, a.stats.significant, names, decimals=_decimals(a.threshold)
        ),
        "modes": {
            "one_basin_chains_drift": a.modes.drift,
            "features": [F.coefficient_label(names[k], eqs[j]) for k, j in a.modes.features],
            "bic": a.modes.bic,
            "n_components_bic": a.modes.n_components_bic,
            "modes": [
                {
                    "weight": a.modes.weights[m],
                    "n_samples": int(np.sum(a.modes.labels == m)),
                    "chains": a.modes.chains[m] if a.modes.chains else None,
                    "centre": xi_dict(a.modes.centres[m]),
                    "coefficients": _stats_json(a.mode_stats[m], names, eqs),
                    "equations_text": format_equations(
                        a.mode_stats[m].mean,
                        a.mode_stats[m].std,
                        a.mode_stats[m].significant,
                        names,
                        decimals=_decimals(a.threshold),
                    ),
                }
                for m in range(a.modes.n_modes)
            ],
        },
        "symmetries": [_symmetry_json(s) for s in a.symmetries],
        "chain_symmetries": [
            {"chain_a": s.mode_a, "chain_b": s.mode_b, **_symmetry_json(s)}
            for s in a.chain_symmetries
        ],
        "diagnostics": run.summary["diagnostics"],
        "dynamics": {
            "data_period": a.data_period,
            "models": [
                {
                    "name": d.name,
                    "status": d.orbit.status,
                    "period": d.orbit.period,
                    "period_rel_error": d.period_rel_error,
                    "amplitude": d.orbit.amplitude,
                    "n_cycles": d.orbit.n_cycles,
                    "z0": d.z0,
                }
                for d in a.dynamics
            ],
        },
        "baseline": None,
        "notes": a.notes,
        "headline": S.headline_lines(a),
        "frame_free": FF.frame_free_json(a.frame_free) if a.frame_free is not None else None,
        **S.sections_json(a, xi_dict),
    }
    if a.baseline is not None:
        bl = a.baseline
        out["baseline"] = {
            "sample": bl.sample,
            "rule": "lowest-loss sample of mode 0",
            "stlsq": xi_dict(bl.stlsq),
            "bagged_stlsq_median": xi_dict(bl.ensemble),
            "bagged_inclusion": xi_dict(bl.ensemble_inclusion),
            "n_models": bl.n_models,
        }
    return _json(out)


def write_report(run_dir: str | Path, *, threshold: float = 0.1) -> dict[str, Path]:
    """Analyse a run directory and write the report into it.

    Args:
      run_dir: a ``discover`` run directory (docs/run_directory.md).
      threshold: magnitude threshold for inclusion probability and significance (paper: 0.1).

    Returns:
      Mapping from path relative to ``run_dir`` (``"report.md"``, ``"report.html"``,
      ``"analysis.json"``, ``"figures/<name>.png"``) to the absolute path written.

    Raises:
      ReportError: bad input (see ``analysis.rundir.load_run``) or a non-positive threshold.
    """
    if not (threshold > 0 and np.isfinite(threshold)):
        raise ReportError(f"threshold: must be a positive number, got {threshold!r}")
    run = load_run(run_dir)
    a = analyze_run(run, threshold=threshold)
    root = run.run_dir
    fig_dir = root / "figures"
    fig_dir.mkdir(exist_ok=True)
    figs = _make_figures(a, fig_dir)
    blocks = _blocks(a, figs)
    paths = {
        "report.md": root / "report.md",
        "report.html": root / "report.html",
        "analysis.json": root / "analysis.json",
    }
    write_text_atomic(paths["report.md"], doc.to_markdown(blocks))
    write_text_atomic(
        paths["report.html"], doc.to_html(blocks, root, f"EAE-SINDy report: {root.name}")
    )
    write_text_atomic(
        paths["analysis.json"], json.dumps(analysis_to_json(a), indent=2, allow_nan=False)
    )
    if a.frame_free is not None and a.frame_free.values:
        paths[FF.FRAME_FREE_CSV] = root / FF.FRAME_FREE_CSV
        write_text_atomic(paths[FF.FRAME_FREE_CSV], FF.frame_free_csv(a.frame_free))
    for name, p in figs.items():
        paths[f"figures/{name}.png"] = p
    return {k: v.resolve() for k, v in paths.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m analysis.report RUN_DIR [--threshold 0.1]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.report",
        description="Write the coefficient-uncertainty report of a discover run directory.",
    )
    parser.add_argument("run_dir", help="run directory written by eae_sindy.discover")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.1,
        help="magnitude threshold for inclusion probability and significance (default 0.1)",
    )
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.run_dir, threshold=args.threshold)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in json.loads(paths["analysis.json"].read_text())["headline"]:
        print(line)
    for key in ("report.md", "report.html", "analysis.json"):
        print(paths[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
