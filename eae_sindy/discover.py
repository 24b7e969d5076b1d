"""``python -m eae_sindy.discover``: discover the latent governing equations of a data set.

A thin shell around :func:`eae_sindy.fit`: read the HDF5 data set (or simulate the preset's
lambda-omega data into ``OUT/data.h5``) → ``fit`` → ``Discovery.save(OUT)`` → ``Discovery.report``.
Every setting, the data file, the budget and the output directory are checked before anything is
written. The layout of the output directory is documented in ``docs/run_directory.md``.

Run ``python -m eae_sindy.discover --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis.report import convergence_lines, format_number, learning_lines
from analysis.rundir import DATA_FILE
from eae_sindy.cli import EXIT_CODES, run_command, with_seed
from eae_sindy.compilation_cache import enable_compilation_cache
from eae_sindy.config import DiscoverConfig, load_config, preset
from eae_sindy.discovery import Discovery, data_digest, fit, plan, run_record
from eae_sindy.output import check_output, claim_output
from simulators.lambda_omega import generate_dataset, read_dataset

__all__ = ["discover", "main"]


def _simulated_data(out: Path, config: DiscoverConfig, progress: bool):
    """The preset's lambda-omega data set, simulated once into ``out/data.h5`` by the JAX solver
    (on the GPU when there is one; the same snapshots as the numpy solver to ~1e-14)."""
    cached = out / DATA_FILE
    if not cached.exists():
        generate_dataset(
            cached, **config.data.simulation(), seed=config.seed, progress=progress, backend="jax"
        )
    return read_dataset(cached)


def discover(
    config: DiscoverConfig,
    out: str | os.PathLike,
    *,
    data_path: str | None = None,
    resume: bool = False,
    progress: bool = True,
    report: bool = True,
) -> Discovery:
    """Run the whole pipeline into ``out``; returns the :class:`Discovery` (saved there)."""
    out = Path(out)
    # Everything that can be refused is checked before anything is written, so a bad data file,
    # an impossible budget or an unusable --out leaves no half-made run directory behind.
    dataset = read_dataset(data_path) if data_path is not None else None
    digest = data_digest(dataset.x, dataset.dx, dataset.t) if dataset is not None else None
    record = run_record(config, data_path, digest)
    check_output(out, record, resume=resume)
    n_snapshots = dataset.n_snapshots if dataset is not None else config.data.n_snapshots
    plan(config, n_snapshots, data_path or "the simulated data set")
    claim_output(out, record, resume=resume)
    dataset = dataset or _simulated_data(out, config, progress)
    found = fit(
        dataset.x,
        dataset.dx,
        dataset.t,
        config=config,
        grid_shape=dataset.grid_shape,
        data_path=data_path,
        checkpoint_dir=out,
        resume=True,  # this run's directory, claimed above: continue its checkpoint if any
        progress=progress,
        record=record,
    )
    found.save(out)
    if report:
        _write_report(found, out)
    return found


def _write_report(found: Discovery, out: Path) -> bool:
    try:
        paths = found.report(out)
        for line in json.loads(paths["analysis.json"].read_text()).get("headline", []):
            print(f"  {line}")
        print(f"report: {out / 'report.html'}", file=sys.stderr)
        return True
    except Exception as error:  # noqa: BLE001 - the results are on disk; never lose them to a plot
        print(
            f"error: the report could not be written ({error}); the results are in {out} "
            "(re-run it with python -m analysis.report)",
            file=sys.stderr,
        )
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eae_sindy.discover",
        description="Discover latent governing equations with an entropic autoencoder (EAE) and "
        "report the uncertainty of every SINDy coefficient. With no arguments: simulate the "
        "'quick' lambda-omega reaction-diffusion data set and run the quick preset.",
    )
    parser.add_argument(
        "--data",
        help="HDF5 data set with datasets 'x' and 'dx' "
        "(default: simulate the preset's data set into OUT/data.h5)",
    )
    parser.add_argument("--out", default=None, help="output directory (default: runs/PRESET)")
    parser.add_argument(
        "--preset",
        default="quick",
        choices=["quick", "paper"],
        help="hyper-parameter preset (default: quick)",
    )
    parser.add_argument("--config", help="JSON or TOML file overriding preset values")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: preset's)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in OUT from its last checkpoint",
    )
    parser.add_argument("--no-report", action="store_true", help="skip the analysis report")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="do not keep compiled programs on disk (default: cache them in "
        "$XDG_CACHE_HOME/eae-sindy/jax or ~/.cache/eae-sindy/jax, or in "
        "$EAE_SINDY_COMPILATION_CACHE; 'off' there disables it too)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out or f"runs/{args.preset}")
    if not args.no_compilation_cache:
        enable_compilation_cache()  # a repeated run loads its compiled programs from disk

    def run() -> Discovery:
        config = preset(args.preset)
        if args.config:
            config = load_config(args.config, base=config)
        return discover(
            with_seed(config, args.seed),
            out,
            data_path=args.data,
            resume=args.resume,
            progress=not args.quiet,
            report=False,  # written below, so that a failed report has its own exit code
        )

    code, found = run_command(run, out)
    if found is None:
        return code
    summary = found.summary
    err = summary["test_error"]
    print(f"EAE ensemble of {found.run.n_samples} encoders written to {out}")
    print("\n".join(f"  {line}" for line in found.equations()))
    x, dx = (format_number(err[k]) for k in ("x_relative_mse", "dx_relative_mse"))
    print(f"  test relative MSE: x {x}, dx {dx}")
    lines = convergence_lines(summary["diagnostics"], summary["coefficients"])
    print("\n".join(f"  {line}" for line in lines))
    reported = args.no_report or _write_report(found, out)
    if err["learned"] is False:
        print("error: " + learning_lines(err)[0], file=sys.stderr)
    if not reported:  # the run is incomplete without its report: this code comes first
        return EXIT_CODES["report"]
    return EXIT_CODES["not_learned"] if err["learned"] is False else code


if __name__ == "__main__":
    sys.exit(main())
