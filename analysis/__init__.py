"""Analysis of EAE ensembles: the run-directory format, coefficient statistics, latent dynamics
and reports. It imports nothing of ``eae_sindy`` (which builds on it), so a run directory can be
read and reported on its own.

Public names are re-exported lazily (importing ``analysis`` alone does not pull in matplotlib,
scikit-learn or pysindy):

- ``write_report(run_dir, *, threshold=0.1) -> dict[str, Path]`` (``analysis.report``)
- ``load_run(run_dir) -> RunData``, ``write_run(run_dir, run)`` (``analysis.rundir``)
- ``analyze_run(run, *, threshold=0.1, ...) -> Analysis`` (``analysis.pipeline``)
- ``to_pysindy(xi, term_names) -> pysindy.SINDy`` (``analysis.interop``)
- ``write_synthetic_run(run_dir, ...) -> SyntheticRun`` (``analysis.synthetic``)
- ``ReportError`` (``analysis.errors``)

CLI: ``python -m analysis.report RUN_DIR [--threshold 0.1]``. See docs/analysis.md.
"""

from __future__ import annotations

import importlib

from analysis.errors import ReportError as ReportError

__all__ = [
    "ReportError",
    "analyze_run",
    "load_run",
    "write_run",
    "to_pysindy",
    "write_report",
    "write_synthetic_run",
]

_LAZY = {
    "write_report": "analysis.report",
    "load_run": "analysis.rundir",
    "write_run": "analysis.rundir",
    "analyze_run": "analysis.pipeline",
    "to_pysindy": "analysis.interop",
    "write_synthetic_run": "analysis.synthetic",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
