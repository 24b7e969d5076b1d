"""The coefficient-uncertainty report of a ``discover`` run directory.

``write_report(run_dir)`` (called by the trainer at the end of every run) and
``python -m analysis.report RUN_DIR [--threshold 0.1]`` write into RUN_DIR:

- ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG);
- ``figures/*.png``;
- ``analysis.json``, the computed statistics in machine-readable form.

The report is the table of contents :data:`REPORT_SECTIONS`: section functions, each returning
its document blocks (``analysis.document``) in order. The run's verdicts and facts come first,
then what can be checked against the data whatever the latent frame (``analysis.report_sections``),
then the paper's least-squares view (``analysis.report_least_squares``). See docs/analysis.md for
how to read the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis import document as doc
from analysis.coefficients import CoefficientStats
from analysis.errors import ReportError
from analysis.figures import (
    coefficient_label,
    fig_correlation,
    fig_distributions,
    fig_limit_cycles,
    fig_pairs,
    fig_snapshots,
    fig_traces,
    fig_training,
)
from analysis.number_format import decimals_for_threshold, number_text
from analysis.pipeline import Analysis, analyze_run
from analysis.report_data import data_facts
from analysis.report_frame_free import (
    FRAME_FREE_CSV,
    fig_frame_free_traces,
    frame_free_blocks,
    frame_free_csv,
    frame_free_json,
    guard_line,
    verdict_banner,
)
from analysis.report_least_squares import (
    baseline_section,
    coefficients_section,
    equations_section,
    format_equations,
    integrated_models_section,
    modes_section,
)
from analysis.report_sections import (
    ensemble_dynamics_section,
    headline_lines,
    identifiability_section,
    peer_section,
    section_figures,
    sections_json,
    sparse_section,
)
from analysis.rundir import LEARNED_MAX_RELATIVE_MSE, RunData, load_run
from analysis.symmetry import SymmetryMatch
from simulators.atomic_files import atomic_output, atomic_write_json, atomic_write_text

__all__ = [
    "FIGURES",
    "REPORT_SECTIONS",
    "analysis_to_json",
    "convergence_banner",
    "convergence_lines",
    "format_equations",
    "format_number",
    "learning_lines",
    "main",
    "report_blocks",
    "write_report",
]

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

Section = Callable[[Analysis, dict[str, str]], list[doc.Block]]
"""A section of the report: (the analysis, figure name → path relative to the run directory) →
its blocks, heading first; none where the run has nothing for it."""


def format_number(value: float | None, digits: int = 3) -> str:
    """A test error to ``digits`` significant digits; "undefined" where it is null (e.g. 0/0)."""
    return number_text(value, f".{digits}g", missing="undefined")


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
    layout = f"{diagnostics['n_chains']} chain(s) × {diagnostics['draws_per_chain']} draws"
    worst = (
        f"max R-hat {diagnostics['max_r_hat']:.3f}"
        if diagnostics["max_r_hat"] is not None
        else "R-hat needs at least two chains"
    )
    ess = (
        f"min bulk-ESS {diagnostics['min_ess_bulk']:.0f}"
        if diagnostics["min_ess_bulk"] is not None
        else ""
    )
    measured = ", ".join(x for x in (worst, ess) if x)
    state = "they agree" if diagnostics["converged"] else "the chains do not agree on them"
    return [
        f"Coefficients (descriptive: they depend on the latent frame; {layout}): {measured} "
        f"over the significant coefficients; {state} ({diagnostics['rule']})."
    ]


def convergence_banner(
    diagnostics: dict[str, Any], coefficients: dict[str, Any]
) -> list[doc.Block]:
    """:func:`convergence_lines` as paragraphs, marked ⚠ when the chains disagree."""
    lines = convergence_lines(diagnostics, coefficients)
    return [doc.Para(("⚠ " if not diagnostics["converged"] else "") + line) for line in lines]


def verdicts_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """The report's title and first screen: did the model learn the data, did the frame-free
    targets converge, does the bias guard hold, do the chains agree on the coefficients."""
    run = analysis.run
    blocks: list[doc.Block] = [
        doc.Heading(1, f"EAE-SINDy coefficient report: {run.run_dir.name}")
    ]
    blocks += [doc.Para("⚠ " + line) for line in learning_lines(run.summary["test_error"])]
    if analysis.frame_free is not None:
        blocks += verdict_banner(analysis.frame_free)
    guard = guard_line(run.summary["training"].get("bias_guard"))
    if guard:
        mark = "⚠ " if "FAILS" in guard else ""
        blocks.append(doc.Para(mark + guard[0].upper() + guard[1:] + "."))
    blocks += convergence_banner(run.summary["diagnostics"], run.summary["coefficients"])
    return blocks


def collection_facts(run: RunData) -> list[str]:
    """How the ensemble was collected, where not as trained: the ``[collection]`` sampler and
    the heavier mass along the stiffest directions (``train.stiff_directions``)."""
    facts = []
    collection = run.collection_settings
    if collection is not None:
        batch = "the whole training set" if collection.full_batch else "minibatches"
        facts.append(
            f"ensemble collected by {collection.thermostat.replace('_', '-')} on {batch}"
            + (f", friction {collection.friction:g}" if collection.friction else "")
            + (f", step ≤ {collection.step_size:g} with ω·dt ≤ {collection.max_omega_dt:g}"
               if collection.max_omega_dt else "")
            + ("" if collection.resample_every else ", no velocity re-draws")
            + " (the [collection] settings)"
        )
    stiff = run.stiff_collection
    if stiff is not None:
        facts.append(
            f"collected with a mass heavier along each chain's {stiff.stiff_directions} "
            f"stiffest loss directions and the step {stiff.step_gain:.2f}× larger "
            f"({stiff.step_size:.3g}): the same Gibbs measure, longer strides "
            "(train.stiff_directions)"
        )
    return facts


def run_facts(analysis: Analysis) -> list[str]:
    """The run in plain lines: its size, threshold, temperature, test errors, training, data
    and collection."""
    run = analysis.run
    facts = [
        f"{run.n_samples} sampled encoders, latent dimension {run.latent_dim}, "
        f"{len(run.term_names)} library terms",
        f"threshold for inclusion / significance: {analysis.threshold:g}",
    ]
    if run.temperature is not None:
        facts.append(f"sampling temperature: {run.temperature:g}")
    if run.xi_fit_on is not None:
        where = {"test": "the test snapshots", "all": "all snapshots (train, validation, test)"}
        facts.append(f"each Ξ fitted on {where.get(run.xi_fit_on, run.xi_fit_on)}")
    test_error, training = run.summary["test_error"], run.summary["training"]
    for key in ("x_relative_mse", "dx_relative_mse", "loss_mean"):
        if key in test_error:
            facts.append(f"test {key}: {format_number(test_error[key], 4)}")
    if training:
        facts.append(
            f"training: {training.get('outer_iterations', '?')} outer iterations, stopped by "
            f"{training.get('stopped', '?')}, {training.get('wall_time_s', float('nan')):.1f} s"
        )
    facts += data_facts(training.get("data") if training else None)
    return facts + collection_facts(run)


def run_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Run": the facts of the run, and notes on what was missing or skipped."""
    blocks: list[doc.Block] = [doc.Heading(2, "Run"), doc.Bullets(run_facts(analysis))]
    if analysis.notes:
        blocks += [doc.Heading(3, "Notes"), doc.Bullets(list(analysis.notes))]
    return blocks


def frame_free_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Convergence on frame-free targets" (``analysis.report_frame_free``), when computed."""
    if analysis.frame_free is None:
        return []
    return frame_free_blocks(analysis.frame_free, figures)


def training_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Training": the loss curves of the ensemble members."""
    return [doc.Heading(2, "Training")] + (
        doc.image_if_drawn(
            figures, "training_curves", "Loss of the ensemble members per outer iteration"
        )
        or [doc.Para("Skipped: metrics.csv missing or empty.")]
    )


def reconstructions_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Reconstructions": test snapshots beside the model's reconstructions."""
    return [doc.Heading(2, "Reconstructions")] + (
        doc.image_if_drawn(figures, "snapshots", "Test snapshots: truth, reconstruction, error")
        or [doc.Para("Skipped: x_examples / x_recon_examples not stored.")]
    )


def reproduce_section(analysis: Analysis, figures: dict[str, str]) -> list[doc.Block]:
    """"Reproduce": the lines that load the run and print its mean model with pysindy."""
    return [
        doc.Heading(2, "Reproduce"),
        doc.Code(
            "from analysis.interop import to_pysindy\n"
            "from analysis.rundir import load_run\n"
            f"run = load_run({str(analysis.run.run_dir)!r})\n"
            "model = to_pysindy(run.xi.mean(axis=0), run.term_names)\n"
            "model.print()"
        ),
    ]


REPORT_SECTIONS: tuple[Section, ...] = (
    verdicts_section,  # title; learned? converged? bias guard? coefficients' chains agree?
    run_section,  # "Run"
    frame_free_section,  # "Convergence on frame-free targets"
    ensemble_dynamics_section,  # "Dynamics of the ensemble members"
    sparse_section,  # "Sparse models (one per encoder)"
    peer_section,  # "Peer: PCA + SINDy on the same data"
    identifiability_section,  # "Identifiability"
    equations_section,  # "Discovered equations (least squares, the paper's Table 2)"
    coefficients_section,  # "Coefficients"
    modes_section,  # "Modes and symmetry"
    integrated_models_section,  # "Dynamics of the mean, mode and sparse models"
    baseline_section,  # "pysindy baseline"
    training_section,  # "Training"
    reconstructions_section,  # "Reconstructions"
    reproduce_section,  # "Reproduce"
)
"""The report's table of contents: its sections in order."""


def report_blocks(analysis: Analysis, figure_files: dict[str, Path]) -> list[doc.Block]:
    """The whole report: the blocks of every section of :data:`REPORT_SECTIONS`, in order
    (``figure_files``: figure name → the PNG written in the run directory's ``figures/``)."""
    figures = {name: f"figures/{path.name}" for name, path in figure_files.items()}
    blocks: list[doc.Block] = []
    for section in REPORT_SECTIONS:
        blocks += section(analysis, figures)
    return blocks


def _save_figure(fig, path: Path) -> None:
    """``fig`` written atomically as a PNG at ``path``, then closed."""
    import matplotlib.pyplot as plt

    with atomic_output(path, force=True) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def _key_coefficients(analysis: Analysis) -> list[tuple[int, int]]:
    """The (term, equation) pairs the coefficient figures show: the mode features, or without
    any the four largest |mean| coefficients."""
    shown = list(analysis.modes.features)
    if not shown:  # nothing significant: show the largest |mean| coefficients instead
        mean = analysis.stats.mean
        order = np.argsort(-np.abs(mean).ravel())[:4]
        shown = [tuple(int(i) for i in np.unravel_index(o, mean.shape)) for o in order]
    return shown


def figure_makers(analysis: Analysis) -> dict[str, Callable[[], Any]]:
    """Figure name → a function that draws it (only the figures this analysis can draw)."""
    run, stats = analysis.run, analysis.stats
    names, eqs = run.term_names, run.equations
    features = analysis.modes.features
    labels = [coefficient_label(names[k], eqs[j]) for k, j in features]
    shown = _key_coefficients(analysis)
    makers: dict[str, Callable[[], Any]] = {
        "coefficient_distributions": lambda: fig_distributions(run.xi, stats, shown, names, eqs),
        "coefficient_correlation": lambda: fig_correlation(run.xi, features, labels),
        "coefficient_pairs": lambda: fig_pairs(
            run.xi, features, labels, analysis.modes.labels, analysis.modes.centres
        ),
    }
    if analysis.dynamics:
        makers["limit_cycles"] = lambda: fig_limit_cycles(
            [d.name for d in analysis.dynamics],
            [d.orbit.z for d in analysis.dynamics],
            [d.orbit.status for d in analysis.dynamics],
            [d.encoded for d in analysis.dynamics],
        )
    makers["traces"] = lambda: fig_traces(
        run.xi,
        run.chain,
        shown,
        [coefficient_label(names[k], eqs[j]) for k, j in shown],
        run.diagnostics.r_hat,
        run.diagnostics.ess_bulk,
    )
    if run.metrics is not None:
        makers["training_curves"] = lambda: fig_training(run.metrics)
    if run.x_examples is not None and run.x_recon_examples is not None:
        makers["snapshots"] = lambda: fig_snapshots(
            run.x_examples, run.x_recon_examples, run.grid_shape
        )
    makers.update(section_figures(analysis))
    if analysis.frame_free is not None and analysis.frame_free.targets:
        makers["frame_free_traces"] = lambda: fig_frame_free_traces(analysis.frame_free)
    return makers


def write_figures(analysis: Analysis, figure_dir: Path) -> dict[str, Path]:
    """Draw every figure this analysis can draw into ``figure_dir/NAME.png``; name → path."""
    written: dict[str, Path] = {}
    for name, make in figure_makers(analysis).items():
        path = figure_dir / f"{name}.png"
        _save_figure(make(), path)
        written[name] = path
    return written


def _plain_json(x: Any) -> Any:
    """``x`` with NumPy values as Python ones and non-finite floats as None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _plain_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain_json(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _stats_json(stats: CoefficientStats, names: Sequence[str], eqs: Sequence[str]) -> dict:
    """Every coefficient's statistics, by equation and term."""
    return {
        eq: {
            name: {
                "mean": stats.mean[k, j],
                "std": stats.std[k, j],
                "q05": stats.q05[k, j],
                "q50": stats.q50[k, j],
                "q95": stats.q95[k, j],
                "mode": stats.mode[k, j],
                "peaks": stats.kde[k][j].peaks,
                "n_peaks": stats.n_peaks[k, j],
                "inclusion": stats.inclusion[k, j],
                "significant": stats.significant[k, j],
            }
            for k, name in enumerate(names)
        }
        for j, eq in enumerate(eqs)
    }


def _symmetry_json(match: SymmetryMatch) -> dict[str, Any]:
    """A symmetry between two modes (or chains): its transform, distance and alternatives."""
    return {
        "mode_a": match.mode_a,
        "mode_b": match.mode_b,
        "transform": {
            "perm": match.transform.perm,
            "signs": match.transform.signs,
            "description": match.transform.describe(),
        },
        "distance": match.distance,
        "alternatives": [
            {"perm": t.perm, "signs": t.signs, "description": t.describe(), "distance": d}
            for t, d in match.alternatives
        ],
    }


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The machine-readable content of ``analysis.json`` (NaN → null)."""
    run = analysis.run
    names, eqs = run.term_names, run.equations

    def xi_dict(xi):
        return {eq: {n: xi[k, j] for k, n in enumerate(names)} for j, eq in enumerate(eqs)}

    out: dict[str, Any] = {
        "schema_version": 1,
        "run_dir": str(run.run_dir),
        "threshold": analysis.threshold,
        "n_samples": run.n_samples,
        "term_names": names,
        "equations": eqs,
        "coefficients": _stats_json(analysis.stats, names, eqs),
        "equations_text": format_equations(
            analysis.stats.mean,
            analysis.stats.std,
            analysis.stats.significant,
            names,
            decimals=decimals_for_threshold(analysis.threshold),
        ),
        "modes": {
            "one_basin_chains_drift": analysis.modes.drift,
            "features": [coefficient_label(names[k], eqs[j]) for k, j in analysis.modes.features],
            "bic": analysis.modes.bic,
            "n_components_bic": analysis.modes.n_components_bic,
            "modes": [
                {
                    "weight": analysis.modes.weights[m],
                    "n_samples": int(np.sum(analysis.modes.labels == m)),
                    "chains": analysis.modes.chains[m] if analysis.modes.chains else None,
                    "centre": xi_dict(analysis.modes.centres[m]),
                    "coefficients": _stats_json(analysis.mode_stats[m], names, eqs),
                    "equations_text": format_equations(
                        analysis.mode_stats[m].mean,
                        analysis.mode_stats[m].std,
                        analysis.mode_stats[m].significant,
                        names,
                        decimals=decimals_for_threshold(analysis.threshold),
                    ),
                }
                for m in range(analysis.modes.n_modes)
            ],
        },
        "symmetries": [_symmetry_json(match) for match in analysis.symmetries],
        "chain_symmetries": [
            {"chain_a": match.mode_a, "chain_b": match.mode_b, **_symmetry_json(match)}
            for match in analysis.chain_symmetries
        ],
        "diagnostics": run.summary["diagnostics"],
        "dynamics": {
            "data_period": analysis.data_period,
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
                for d in analysis.dynamics
            ],
        },
        "baseline": None,
        "notes": analysis.notes,
        "headline": headline_lines(analysis),
        "frame_free": None if analysis.frame_free is None else frame_free_json(analysis.frame_free),
        **sections_json(analysis, xi_dict),
    }
    if analysis.baseline is not None:
        baseline = analysis.baseline
        out["baseline"] = {
            "sample": baseline.sample,
            "rule": "lowest-loss sample of mode 0",
            "stlsq": xi_dict(baseline.stlsq),
            "bagged_stlsq_median": xi_dict(baseline.ensemble),
            "bagged_inclusion": xi_dict(baseline.ensemble_inclusion),
            "n_models": baseline.n_models,
        }
    return _plain_json(out)


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
    analysis = analyze_run(run, threshold=threshold)
    root = run.run_dir
    figure_dir = root / "figures"
    figure_dir.mkdir(exist_ok=True)
    figure_files = write_figures(analysis, figure_dir)
    blocks = report_blocks(analysis, figure_files)
    paths = {
        "report.md": root / "report.md",
        "report.html": root / "report.html",
        "analysis.json": root / "analysis.json",
    }
    atomic_write_text(paths["report.md"], doc.to_markdown(blocks))
    atomic_write_text(
        paths["report.html"], doc.to_html(blocks, root, f"EAE-SINDy report: {root.name}")
    )
    atomic_write_json(paths["analysis.json"], analysis_to_json(analysis), allow_nan=False)
    if analysis.frame_free is not None and analysis.frame_free.values:
        paths[FRAME_FREE_CSV] = root / FRAME_FREE_CSV
        atomic_write_text(paths[FRAME_FREE_CSV], frame_free_csv(analysis.frame_free))
    for name, path in figure_files.items():
        paths[f"figures/{name}.png"] = path
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
