"""The method on arrays in memory: :func:`fit` trains an EAE with the SINDy loss and collects its
encoder ensemble, returning a :class:`Discovery` — the distribution over governing equations with
the run's metadata — that prints, exports to pysindy, saves, reports, and loads back
(:func:`load`).

Pipeline of :func:`fit`: split (train/validation drawn at random from the first 90 % of snapshots,
test = the last 10 %) → train (Algorithm 1) → collect encoders (Algorithm 2), each evaluated on the
test data. ``python -m eae_sindy.discover`` is a thin shell around it (data → fit → save → report);
the run-directory format belongs to ``analysis.rundir``.

Example::

    import eae_sindy
    found = eae_sindy.fit(x, t, config=eae_sindy.preset("quick"), seed=1)  # ẋ estimated
    found.print()                          # (x0)' = 0.437±0.035 x1 + ...
    model = found.to_pysindy()             # the ensemble-mean model as a pysindy.SINDy
    found.save("runs/mine"); found.report("runs/mine")
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from analysis.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    MetricsLog,
    RunData,
    load_run,
    read_metrics,
    write_run,
)
from eae_sindy.config import DiscoverConfig, config_from_dict
from eae_sindy.distributed import barrier, gather, global_mesh, is_main_process, place_state
from eae_sindy.eae import EAEState
from eae_sindy.errors import ConfigError
from eae_sindy.output import claim_output
from eae_sindy.planning import PreparedRun, Scaling, prepare
from eae_sindy.run_data import (
    data_fields,
    enough_draws,
    run_data,
    training_curve,
    training_record,
)
from eae_sindy.sindy_eae import (
    SindyEAE,
    bias_guard,
    build_sindy_eae,
    collection_eae,
    run_data_argument,
    validation_loss,
)
from eae_sindy.sweep import train_and_collect_sweep
from eae_sindy.training import resume_from, run_collection, run_training

__all__ = ["Discovery", "fit", "fit_sweep", "load"]


# --------------------------------------------------------------------------------------------
# Training and collection
# --------------------------------------------------------------------------------------------
def _train(
    built: SindyEAE,
    config: DiscoverConfig,
    checkpoint_dir: Path | None,
    progress: bool,
    data: dict[str, Any],
) -> tuple[EAEState, str, dict[str, np.ndarray], float]:
    """Algorithm 1 from the seed's initial state, or from the checkpoint in ``checkpoint_dir``
    (where ``metrics.csv`` is then logged row by row). Returns the state, why training stopped,
    the training curve and the training time."""
    tc = config.train
    key_model, key_eae = jax.random.split(jax.random.PRNGKey(config.seed))
    state = built.eae.init(*built.model.init(key_model), key_eae)
    checkpoint = metrics_file = None
    if checkpoint_dir is not None:
        checkpoint, metrics_file = checkpoint_dir / CHECKPOINT_FILE, checkpoint_dir / METRICS_FILE
        state = resume_from(checkpoint, state)
        if int(state.iteration) and is_main_process():
            print(
                f"resuming {checkpoint_dir} from outer iteration {int(state.iteration)}",
                file=sys.stderr,
            )
    if jax.process_count() > 1:  # the chains split over the devices of all processes
        state = place_state(state, global_mesh(num_chains=tc.num_chains))
    rows: list[dict[str, float]] = []
    started = time.perf_counter()
    log = None
    if metrics_file is not None and is_main_process():  # process 0 alone writes the run
        log = MetricsLog(metrics_file, int(state.iteration))
    try:
        state, stopped = run_training(
            built.eae,
            state,
            num_outer=tc.outer_iterations,
            grad_tol=tc.grad_tol,
            checkpoint_path=checkpoint,
            checkpoint_every=tc.checkpoint_every,
            on_iteration=log or rows.append,
            progress=progress,
            data=data,
        )
    finally:
        if log is not None:
            log.close()
    seconds = time.perf_counter() - started
    if log is not None:
        metrics = read_metrics(metrics_file)
    else:
        metrics = training_curve(rows)
    return state, stopped, metrics, seconds


def _collect(
    collector: SindyEAE, state: EAEState, config: DiscoverConfig, progress: bool, data: Any
) -> tuple[EAEState, list[dict[str, Any]], float]:
    """Algorithm 2: the encoder ensemble, chunk by chunk, until ``train.n_samples`` draws or,
    with ``train.target_ess``, until the frame-free targets have converged. Returns the state,
    the collected chunks and the collection time."""
    tc = config.train
    chunks: list[dict[str, Any]] = []
    started = time.perf_counter()
    state = run_collection(
        collector.eae,
        state,
        num_samples=tc.n_samples,
        thin=tc.thin,
        chunk_size=tc.chunk_size,
        sink=chunks.append,
        progress=progress,
        stop_when=lambda: enough_draws(chunks, tc.target_ess, config),
        data=data,
    )
    return state, chunks, time.perf_counter() - started


def _train_and_collect(
    prepared: PreparedRun,
    record: dict[str, Any],
    *,
    grid_shape: tuple[int, ...],
    checkpoint_dir: Path | None,
    progress: bool,
) -> Discovery:
    """Scale the data, train (Algorithm 1), collect (Algorithm 2, with the collection's own
    sampler where configured, then the bias guard), and build the run's :class:`RunData`."""
    started = time.perf_counter()
    config, given, the_plan = prepared.config, prepared.data, prepared.plan
    split, library = the_plan
    scaling = Scaling.fit(given.x, config.data.standardize)
    x, dx = scaling.forward(given.x, given.dx)
    progress = progress and is_main_process()
    built = build_sindy_eae(x, dx, split, library, config)
    data = run_data_argument(built.data, config)
    state, stopped, metrics, train_time = _train(built, config, checkpoint_dir, progress, data)
    val_loss = validation_loss(built, state, x, dx, split)
    collector, state, stiff = collection_eae(built, state, the_plan, config, x, dx)
    state, chunks, collection_time = _collect(collector, state, config, progress, data)
    state, guard = bias_guard(collector, state, data, config)
    if jax.process_count() > 1:  # the final state whole in every process (small), as numpy
        state = gather(state)
    training = training_record(
        config, state, given, split, stopped=stopped, times=(train_time, collection_time),
        validation_loss=val_loss, stiff=stiff, guard=guard,
    )
    shared = data_fields(
        (given.x, x, dx, given.t), config, the_plan, scaling, grid_shape, given.trajectory
    )
    run = run_data(
        built, state, chunks, x, config, split, scaling, record,
        shared=shared, metrics=metrics, training=training, started=started,
    )
    return Discovery(run, config, state)


def fit(
    x: Any,
    t: Any = None,
    x_dot: Any = None,
    *,
    config: DiscoverConfig | None = None,
    seed: int | None = None,
    grid_shape: tuple[int, ...] | None = None,
    data_path: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    record: dict[str, Any] | None = None,
) -> Discovery | list[Discovery]:
    """Discover the latent governing equations of snapshots ``x`` (pysindy's convention).

    Args:
      x: (n_snapshots, n_features) array in time order (numpy or JAX; stored as float32), or a
        list of such arrays, one per trajectory (lengths may differ), or a 3-D array
        (trajectory, snapshot, feature). Several trajectories are split into train/validation
        and test by whole trajectories, and nothing (derivatives, windows, the data's period)
        crosses from one into the next.
      t: the times: an (n_snapshots,) array (one per trajectory, as a list, for several; or one
        array shared by trajectories of equal length), or a scalar time step; default
        ``0, 1, 2, ...`` (periods are then in snapshots). Non-uniform times are fine.
      x_dot: the time derivatives, structured like ``x``; default: estimated from x and t per
        trajectory by ``config.data.differentiation`` (recorded in the run, with a noise
        estimate of the data; :mod:`eae_sindy.data`).
      config: the settings (default: ``preset("quick")``); ``config.data`` supplies only the
        split sizes here.
      seed: overrides ``config.seed`` (an integer in [0, 2**32)).
      grid_shape: shape one snapshot reshapes to, for the report's images (default flat).
      data_path: the file the arrays were read from, recorded in ``config.json`` (None: arrays).
      checkpoint_dir: where to keep ``checkpoint.msgpack`` and ``metrics.csv`` while training;
        the directory is claimed for this run (``config.json``) like ``discover``'s ``--out``.
      resume: continue from the checkpoint in ``checkpoint_dir``.
      progress: show progress bars.
      record: the run record (``config.json``) to claim ``checkpoint_dir`` with; default
        :func:`eae_sindy.planning.run_record` of ``config``, ``data_path`` and the data's
        content hash.

    Returns:
      A :class:`Discovery`; for a temperature sweep (``config.sweep``, :mod:`eae_sindy.sweep`)
      one per temperature, in the order of ``config.sweep.temperatures``.

    Raises:
      DatasetError: the arrays are not 2-D, finite, of matching shapes (naming the trajectory).
      TypeError: called in the old order ``fit(x, dx, t)``.
      ConfigError: a setting or the budget does not fit the data.
      RunDirectoryError: ``checkpoint_dir`` cannot be used.
      SamplerDivergedError: the sampler diverged (the last good checkpoint is kept).
    """
    prepared = prepare(x, t, x_dot, config, seed, data_path)
    record = record or prepared.records([prepared.config], data_path)[0]
    grid_shape = grid_shape or (prepared.data.x.shape[1],)
    if prepared.config.sweep.enabled:
        found = train_and_collect_sweep(
            prepared, record, data_path=data_path, grid_shape=grid_shape,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir),
            resume=resume, progress=progress,
        )
        return [Discovery(run, config_k, state) for run, config_k, state in found]
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        if is_main_process():  # process 0 alone writes the run directory
            claim_output(checkpoint_dir, record, resume=resume)
        barrier("run directory claimed")
    return _train_and_collect(
        prepared,
        record,
        grid_shape=grid_shape,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
    )



def fit_sweep(x: Any, t: Any = None, x_dot: Any = None, **options: Any) -> list[Discovery]:
    """A temperature sweep (:mod:`eae_sindy.sweep`): :func:`fit` with ``config.sweep``
    set (same arguments), refusing a configuration without one (``ConfigError``). Returns one
    :class:`Discovery` per temperature, in the order of ``config.sweep.temperatures``; each has
    ``run.temperature`` = T_k, the rung's configuration and its final state."""
    config = options.get("config")
    if config is None or not config.sweep.enabled:
        raise ConfigError("fit_sweep needs sweep.temperatures (at least 2 temperatures)")
    return fit(x, t, x_dot, **options)

# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclass
class Discovery:
    """A distribution over governing equations ż = Θ(z) Ξ: one Ξ per sampled encoder.

    Attributes:
      run: everything a run directory holds (``analysis.rundir.RunData``): ``xi`` (n_samples,
        n_terms, latent_dim), latent codes, errors, training curve, metadata.
      config: the settings of the run (None for a run directory not written by eae-sindy).
      state: the final training state (in memory after :func:`fit`; None after :func:`load`).
    """

    run: RunData
    config: DiscoverConfig | None = None
    state: EAEState | None = None
    _analysis: Any = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def xi(self) -> np.ndarray:
        return self.run.xi

    @property
    def term_names(self) -> list[str]:
        return self.run.term_names

    @property
    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` holds: coefficient quantiles, test errors, training facts."""
        return self.run.summary

    def equations(self, threshold: float = 0.1, precision: int = 3) -> list[str]:
        """The ensemble-mean equations in pysindy's format, each coefficient with its standard
        deviation over the ensemble; terms with |mean| < ``threshold`` are left out."""
        mean, std = self.xi.mean(axis=0), self.xi.std(axis=0)
        lines = []
        for j in range(self.run.latent_dim):
            parts = [
                f"{mean[k, j]:.{precision}f}±{std[k, j]:.{precision}f} {name}"
                for k, name in enumerate(self.term_names)
                if abs(mean[k, j]) >= threshold
            ]
            body = " + ".join(parts).replace("+ -", "- ") if parts else f"{0:.{precision}f}"
            lines.append(f"(x{j})' = {body}")
        return lines

    def analysis(self):
        """The report's analysis of this run (``analysis.pipeline.analyze_run``; computed once:
        it integrates a few hundred members, a few seconds)."""
        if self._analysis is None:
            from analysis.pipeline import analyze_run

            self._analysis = analyze_run(self.run)
        return self._analysis

    def frame_free(self):
        """The frame-free targets of every draw and the run's convergence verdict on them
        (``analysis.frame_free.FrameFree``: ``converged``, ``targets`` with mean, MCSE, R-hat,
        bulk- and tail-ESS each, ``values`` per draw)."""
        return self.analysis().frame_free

    def to_arviz(self):
        """The draws as an ArviZ ``xarray.DataTree``: Ξ (chain, draw, term, equation) and the
        frame-free targets (chain, draw) in ``posterior``, the integrated members' targets in
        ``integrated_members`` (``analysis.arviz_export``)."""
        from analysis.arviz_export import to_datatree

        return to_datatree(self.run, self.frame_free())

    def print(self, threshold: float = 0.1, precision: int = 3) -> None:
        """Print what converged (the frame-free targets with mean ± MCSE, R-hat and ESS), then
        :meth:`equations` (like ``pysindy.SINDy.print``; descriptive: coefficients depend on
        the latent frame)."""
        from analysis.frame_free import verdict_lines
        from analysis.number_format import format_value

        found = self.frame_free()
        for line in verdict_lines(found):
            print(line)
        for t in found.targets:
            print(
                f"  {t.name:<20} {format_value(t.mean, t.mcse):>22}  R-hat {t.r_hat:.3f}  "
                f"ESS {t.ess_bulk:.0f}/{t.ess_tail:.0f}" + ("" if t.converged else "  (no)")
            )
        print("ensemble mean (descriptive):")
        for line in self.equations(threshold, precision):
            print(line)

    def to_pysindy(self, statistic: str = "mean"):
        """One model of the ensemble as a fitted ``pysindy.SINDy``: the ``"mean"`` or
        ``"median"`` Ξ, member ``int`` of the ensemble, or ``"sparse"``: the recommended sparse
        model the report leads with — the mean of the members' sparse models chosen by evidence
        (the sparsest on each member's path of thresholds whose integrated dynamics keep the
        data's attractor, else the smallest BIC) that share the most frequent structure
        (``analysis.pipeline.sparse_analysis``, as in :meth:`analysis`; docs/analysis.md)."""
        from analysis.interop import to_pysindy

        if isinstance(statistic, int):
            xi = self.xi[statistic]
        elif statistic in ("mean", "median"):
            xi = getattr(np, statistic)(self.xi, axis=0)
        elif statistic == "sparse":
            found = self.analysis().sparse  # the report's, computed once
            if found is None:
                raise ValueError("this run holds no fit problems or latent codes to fit on")
            chosen = found.choice.recommended if found.choice is not None else None
            xi = (chosen or found.structures[0]).mean
        else:
            raise ValueError(
                "statistic must be 'mean', 'median', 'sparse' or a member index, got "
                f"{statistic!r}"
            )
        return to_pysindy(
            np.asarray(xi, np.float64),
            self.term_names,
            poly_order=self.run.poly_order,
            include_sine=self.run.include_sine,
        )

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the run directory (``ensemble.h5``, ``summary.json``, ``metrics.csv``,
        ``config.json``; docs/run_directory.md). A directory holding a different run is refused
        (``RunDirectoryError``); saving again into this run's directory overwrites its files."""
        directory = Path(directory)
        if self.run.config is not None:  # this run's directory, or a new one: never another's
            claim_output(directory, self.run.config, resume=True)
        write_run(directory, self.run)
        self.run = dataclasses.replace(self.run, run_dir=directory)
        return directory

    def report(
        self, directory: str | os.PathLike | None = None, *, threshold: float = 0.1
    ) -> dict[str, Path]:
        """Write the analysis report (``report.html``, ``report.md``, ``analysis.json``,
        figures) into ``directory``, saving the run there first when it is not there yet.
        Default: the directory the run was saved to or loaded from."""
        from analysis.report import write_report

        if directory is None:
            if self.run.run_dir is None:
                raise ValueError("this Discovery is not saved yet: pass a directory")
            directory = self.run.run_dir
        directory = Path(directory)
        if self.run.run_dir is None or self.run.run_dir.resolve() != directory.resolve():
            self.save(directory)
        return write_report(directory, threshold=threshold)

    def __repr__(self) -> str:
        where = f", saved in {self.run.run_dir}" if self.run.run_dir else ""
        return (
            f"Discovery({self.run.n_samples} encoders, latent_dim {self.run.latent_dim}, "
            f"{len(self.term_names)} terms{where})"
        )


def load(directory: str | os.PathLike) -> Discovery:
    """The :class:`Discovery` saved in a run directory (``analysis.ReportError`` names what is
    wrong with a damaged or foreign directory)."""
    run = load_run(directory)
    config = None
    if run.config is not None:
        values = {k: v for k, v in run.config.items() if k in DiscoverConfig.__dataclass_fields__}
        try:
            config = config_from_dict(values, base=DiscoverConfig(), source=CONFIG_FILE)
        except ConfigError:
            config = None
    return Discovery(run, config)
