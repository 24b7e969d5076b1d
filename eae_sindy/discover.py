"""``python -m eae_sindy.discover``: discover the latent governing equations of a data set.

A thin shell around :func:`eae_sindy.fit`: read the HDF5 data set (or simulate the preset's
lambda-omega data into ``OUT/data.h5``) → ``fit`` → ``Discovery.save(OUT)`` → ``Discovery.report``.
Every setting, the data file, the budget and the output directory are checked before anything is
written. The layout of the output directory is documented in ``docs/run_directory.md``.

Run ``python -m eae_sindy.discover --help`` for the options.

With ``--coordinator HOST:PORT --num-processes N --process-id I`` (or under a cluster JAX detects,
e.g. Slurm) N processes run one EAE together, its chains split over the devices of all of them
(:mod:`eae_sindy.distributed`); process 0 alone writes the run directory and prints.

With ``sweep.temperatures`` set (:class:`eae_sindy.config.SweepConfig`) one EAE per temperature
is trained in one program (:mod:`eae_sindy.sweep`): each is written, with its report, to the run
directory ``OUT/T_<T>/``, and ``OUT/sweep.json`` / ``OUT/sweep.md`` compare them and name the
temperature the sweep's rule picks (:mod:`analysis.sweep`). The ladder of temperatures is
checkpointed in ``OUT/checkpoint.msgpack`` and ``--resume`` continues it, as for a single run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.frame_free import verdict_lines
from analysis.report import convergence_lines, format_number, learning_lines
from analysis.rundir import DATA_FILE
from analysis.sweep import SWEEP_MD, write_sweep
from eae_sindy.cli import EXIT_CODES, run_command, with_seed
from eae_sindy.compilation_cache import enable_compilation_cache
from eae_sindy.config import DiscoverConfig, load_config, preset
from eae_sindy.data import trajectory_bounds
from eae_sindy.discovery import Discovery, fit
from eae_sindy.distributed import add_arguments, barrier, initialize_from_args, is_main_process
from eae_sindy.output import check_output, claim_output, run_directory_lock
from eae_sindy.planning import data_digest, plan, run_record
from eae_sindy.sweep import rung_directory_name
from simulators.lambda_omega import generate_dataset, read_dataset

__all__ = ["discover", "main"]


def _simulated_data(out: Path, config: DiscoverConfig, progress: bool):
    """The preset's lambda-omega data set, simulated once into ``out/data.h5`` by the JAX solver
    (on the GPU when there is one; the same snapshots as the numpy solver to ~1e-14). In a
    multi-process run process 0 simulates it and the others read it once written."""
    cached = out / DATA_FILE
    if is_main_process() and not cached.exists():
        generate_dataset(
            cached, **config.data.simulation(), seed=config.seed, progress=progress, backend="jax"
        )
    barrier("data set simulated")
    return read_dataset(cached)


def discover(
    config: DiscoverConfig,
    out: str | os.PathLike,
    *,
    data_path: str | None = None,
    resume: bool = False,
    progress: bool = True,
    report: bool = True,
) -> Discovery | list[Discovery]:
    """Run the whole pipeline into ``out``; returns the :class:`Discovery` (saved there), or
    for a temperature sweep (``config.sweep``) one per temperature (see :func:`_discover_sweep`).

    In a multi-process run every process calls this; process 0 alone writes ``out``."""
    if config.sweep.enabled:
        return _discover_sweep(config, Path(out), data_path, resume, progress, report)
    out = Path(out)
    main_process = is_main_process()
    found = _fitted_into(config, out, data_path, resume, progress and main_process)
    if main_process:
        found.save(out)
        if report:
            _write_report(found, out)
    return found


def _fitted_into(
    config: DiscoverConfig,
    out: Path,
    data_path: str | None,
    resume: bool,
    progress: bool,
) -> Any:
    """:func:`eae_sindy.fit` run into ``out``:
    everything checked first (:func:`_checked`), ``out`` claimed by process 0, the data read or
    simulated, and ``out`` the checkpoint directory (continued when it holds a checkpoint)."""
    dataset, record = _checked(config, out, data_path, resume)
    barrier("run directory checked")  # by every process, before process 0 claims it
    if is_main_process():
        claim_output(out, record, resume=resume)
    dataset = dataset or _simulated_data(out, config, progress)
    x, t, x_dot = dataset.x, dataset.t, dataset.dx
    trajectory = getattr(dataset, "trajectory", None)
    if trajectory is not None:  # several trajectories: one view of each (no copies yet)
        bounds = trajectory_bounds(trajectory, len(t))
        x, t = [x[a:b] for a, b in bounds], [t[a:b] for a, b in bounds]
        x_dot = None if x_dot is None else [x_dot[a:b] for a, b in bounds]
    return fit(
        x,
        t,
        x_dot,
        config=config,
        grid_shape=dataset.grid_shape,
        data_path=data_path,
        checkpoint_dir=out,
        resume=True,  # this run's directory, claimed above: continue its checkpoint if any
        progress=progress,
        record=record,
    )


def _checked(config: DiscoverConfig, out: Path, data_path: str | None, resume: bool):
    """Everything that can be refused, checked before anything is written — a bad data file, an
    impossible budget, an unusable ``out`` — so no half-made run directory is left behind.
    Returns the data set read from ``data_path`` (None: to be simulated) and the run record."""
    dataset = read_dataset(data_path) if data_path is not None else None
    digest, trajectory, given = None, None, True
    if dataset is not None:
        trajectory, given = getattr(dataset, "trajectory", None), dataset.dx is not None
        digest = data_digest(dataset.x, dataset.dx, dataset.t, trajectory)
    record = run_record(config, data_path, digest, derivatives_given=given)
    check_output(out, record, resume=resume)
    n_snapshots = dataset.n_snapshots if dataset is not None else config.data.n_snapshots
    plan(config, n_snapshots, data_path or "the simulated data set", trajectory)
    return dataset, record


def _discover_sweep(
    config: DiscoverConfig,
    out: Path,
    data_path: str | None,
    resume: bool,
    progress: bool,
    report: bool,
) -> list[Discovery]:
    """The temperature sweep of ``config.sweep`` into ``out``: ``OUT/T_<T>/`` per temperature
    (a normal run directory, with its report unless ``report`` is False) and ``OUT/sweep.json``,
    ``OUT/sweep.md`` (``analysis.sweep``; without reports they lack the dynamics and sparse
    columns, and the rule falls back to the lowest temperature). While training, the ladder's
    state is checkpointed in ``OUT/checkpoint.msgpack`` as a single run's is; with ``resume`` an
    interrupted sweep continues from it (the configuration and data must be the sweep's)."""
    found = _fitted_into(config, out, data_path, resume, progress)
    runs = []
    for rung in found:
        directory = out / rung_directory_name(rung.run.temperature)
        rung.save(directory)
        if report:
            _write_report(rung, directory)
        runs.append((rung.run.temperature, directory))
    result = write_sweep(out, runs, anneal_factor=config.sweep.anneal_factor)
    if progress:
        print(f"sweep: {out / SWEEP_MD}; chosen T = {result['chosen_temperature']:g}")
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
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with contextlib.ExitStack() as held:  # OUT's lock (taken in run()) until the report is written
        return _main(argv, held)


def _main(argv: Sequence[str] | None, held: contextlib.ExitStack) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # before anything touches a device; one process (no flags, no cluster): a no-op
        initialize_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    except Exception as error:  # noqa: BLE001 - no coordinator, a timeout, no CPU collectives
        print(
            f"error: could not start the multi-process run ({type(error).__name__}: {error}); "
            "check --coordinator (process 0's HOST:PORT, reachable from every process), "
            "--num-processes and --process-id",
            file=sys.stderr,
        )
        return EXIT_CODES["input"]
    out = Path(args.out or f"runs/{args.preset}")
    if not args.no_compilation_cache:
        enable_compilation_cache()  # a repeated run loads its compiled programs from disk

    def run() -> Discovery | list[Discovery]:
        config = preset(args.preset)
        if args.config:
            config = load_config(args.config, base=config)
        if is_main_process():  # no other process may use OUT while this run lives
            held.enter_context(run_directory_lock(out))
        return discover(
            with_seed(config, args.seed),
            out,
            data_path=args.data,
            resume=args.resume,
            progress=not args.quiet,
            # written below, so that a failed report has its own exit code (a sweep writes its
            # rungs' reports itself, before its table)
            report=config.sweep.enabled and not args.no_report,
        )

    code, found = run_command(run, out)
    if found is None:
        return code
    if isinstance(found, list):  # a temperature sweep: its table says the rest
        print(f"temperature sweep of {len(found)} EAEs written to {out} (see {out / SWEEP_MD})")
        return code
    summary = found.summary
    err = summary["test_error"]
    if not is_main_process():  # process 0 alone reports; every process exits with its code
        return EXIT_CODES["not_learned"] if err["learned"] is False else code
    print(f"EAE ensemble of {found.run.n_samples} encoders written to {out}")
    print("\n".join(f"  {line}" for line in found.equations()))
    x, dx = (format_number(err[k]) for k in ("x_relative_mse", "dx_relative_mse"))
    print(f"  test relative MSE: x {x}, dx {dx}")
    lines = convergence_lines(summary["diagnostics"], summary["coefficients"])
    if args.no_report:  # the report's headline leads with the verdict; without it, say it here
        lines = verdict_lines(found.frame_free()) + lines
    print("\n".join(f"  {line}" for line in lines))
    reported = args.no_report or _write_report(found, out)
    if err["learned"] is False:
        print("error: " + learning_lines(err)[0], file=sys.stderr)
    if not reported:  # the run is incomplete without its report: this code comes first
        return EXIT_CODES["report"]
    return EXIT_CODES["not_learned"] if err["learned"] is False else code


if __name__ == "__main__":
    sys.exit(main())
