"""A temperature sweep: K independent SINDy-EAEs, one per temperature, trained and collected in
one compiled program (:func:`eae_sindy.eae.temperature_ladder`): what :func:`eae_sindy.fit`
(or :func:`eae_sindy.discovery.fit_sweep`) runs when ``config.sweep`` is set, returning one
:class:`~eae_sindy.discovery.Discovery` per temperature.

Configured by ``config.sweep`` (:class:`eae_sindy.config.SweepConfig`): ``temperatures`` replace
``sampler.temperature``; ``anneal_factor`` F cools rung k from F·T_k to T_k over the outer
iterations. Every rung shares the data, split, library, model architecture, initial parameters
and sampler settings, and has its own decoder, optimiser state, chains and key (rung k's key is
``jax.random.split(key, K)[k]``, so rung results differ from a single run at T_k by the key).
``python -m eae_sindy.discover`` writes each rung as a normal run directory ``OUT/T_<T_k>/`` and
the comparison ``OUT/sweep.json``/``sweep.md`` (:mod:`analysis.sweep`).

Checkpoints and resuming work as in a single run (:func:`eae_sindy.training.run_ladder_training`):
with a ``checkpoint_dir`` the ladder's whole training state is kept in
``checkpoint_dir/checkpoint.msgpack`` (the single run's file and format) every
``train.checkpoint_every`` outer iterations and on Ctrl-C, each rung's training curve is logged
to ``checkpoint_dir/T_<T_k>/metrics.csv``, and a rerun with ``resume`` continues from the
checkpoint to the result of an uninterrupted sweep.

Not (yet) supported in a sweep: ``train.target_ess`` (exactly ``train.n_samples`` draws are
collected), multi-process runs. ``train.grad_tol`` stops training once every rung's decoder
gradient is below it.

A sweep takes the same steps as a single run (:func:`eae_sindy.planning.prepare` in
:func:`eae_sindy.fit`, then :func:`eae_sindy.sindy_eae.build_sindy_eae`,
:func:`eae_sindy.run_data.run_data`), so a rung's run directory is built exactly like a single
run's.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from analysis.rundir import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    MetricsLog,
    RunData,
    read_metrics,
)
from eae_sindy.config import DiscoverConfig
from eae_sindy.eae import EAEState, TemperatureLadder, temperature_ladder
from eae_sindy.errors import ConfigError, SamplerDivergedError
from eae_sindy.output import check_output, claim_output
from eae_sindy.planning import PreparedRun, Scaling
from eae_sindy.run_data import data_fields, run_data, training_curve, training_record
from eae_sindy.simmering import simmering
from eae_sindy.sindy_eae import build_sindy_eae, validation_loss
from eae_sindy.training import resume_from, run_ladder_training

__all__ = [
    "rung_config",
    "rung_directory_name",
    "sweep_ladder",
    "train_and_collect_sweep",
]


def rung_config(config: DiscoverConfig, temperature: float) -> DiscoverConfig:
    """The configuration of the rung at ``temperature``: ``sampler.temperature`` set to it (the
    ``sweep`` section is kept, so the rung's record says it came from a sweep)."""
    return config.replace(sampler=config.sampler.replace(temperature=float(temperature)))


def rung_directory_name(temperature: float) -> str:
    """``T_<T>`` with T written as Python's shortest round-trip float (``T_0.0001``)."""
    return f"T_{float(temperature)!r}"


def _anneal(factor: float, outer_iterations: int):
    """T_k(i) = T_k · F^max(0, 1 − i/(n − 1)): from F·T_k at iteration 0 to T_k at the last."""
    span = max(outer_iterations - 1, 1)

    def schedule(t, iteration):
        fraction = jnp.maximum(0.0, 1.0 - iteration.astype(t.dtype) / span)
        return t * jnp.asarray(factor, t.dtype) ** fraction

    return schedule


def sweep_ladder(built_for, config: DiscoverConfig) -> TemperatureLadder:
    """The ladder of ``config.sweep``; ``built_for(sampler)`` → the rung's ``SindyEAE``."""
    sweep = config.sweep
    settings = dataclasses.asdict(config.sampler)

    def build(temperature):
        return built_for(simmering(**{**settings, "temperature": temperature})).eae

    anneal = None
    if sweep.anneal_factor is not None and sweep.anneal_factor != 1.0:
        anneal = _anneal(sweep.anneal_factor, config.train.outer_iterations)
    return temperature_ladder(build, sweep.temperatures, anneal=anneal)


def _claim(
    checkpoint_dir: Path, record: dict[str, Any], rung_records: dict[Path, dict], resume: bool
) -> None:
    """Claim ``checkpoint_dir`` for the sweep (``record``) and each rung's directory in it for
    its run (``rung_records``), as :func:`eae_sindy.fit` claims a single run's directory. All of
    them are checked before any is written, so a directory holding another run is refused with
    nothing overwritten."""
    claims = [(checkpoint_dir, record, resume)]
    claims += [(directory, rung, True) for directory, rung in rung_records.items()]
    for directory, claimed_by, again in claims:
        check_output(directory, claimed_by, resume=again)
    for directory, claimed_by, again in claims:
        claim_output(directory, claimed_by, resume=again)


def _train(
    ladder: TemperatureLadder,
    state: Any,
    config: DiscoverConfig,
    checkpoint_dir: Path | None,
    rung_dirs: list[Path],
    progress: bool,
    data: dict[str, Any],
) -> tuple[Any, str, list[dict[str, np.ndarray]], float]:
    """Algorithm 1 for all rungs from ``state``, or from the checkpoint in ``checkpoint_dir``
    (each rung's curve then logged row by row to its ``metrics.csv``). Returns the state, why
    training stopped, each rung's training curve and the training time."""
    tc = config.train
    temperatures = [float(v) for v in config.sweep.temperatures]
    checkpoint = None
    logs: list[MetricsLog] = []
    rows: list[list[dict[str, float]]] = [[] for _ in temperatures]
    if checkpoint_dir is not None:
        checkpoint = checkpoint_dir / CHECKPOINT_FILE
        state = resume_from(checkpoint, state)
        completed = int(state.iteration[0])
        if completed:
            print(f"resuming {checkpoint_dir} from outer iteration {completed}", file=sys.stderr)
        logs = [MetricsLog(d / METRICS_FILE, completed) for d in rung_dirs]

    sinks = logs or [rung_rows.append for rung_rows in rows]  # to metrics.csv, or in memory

    def on_iteration(per_rung: list[dict[str, float]]) -> None:
        for sink, row in zip(sinks, per_rung, strict=True):
            sink(row)

    started = time.perf_counter()
    try:
        state, stopped = run_ladder_training(
            ladder,
            state,
            temperatures=temperatures,
            num_outer=tc.outer_iterations,
            grad_tol=tc.grad_tol,
            checkpoint_path=checkpoint,
            checkpoint_every=tc.checkpoint_every,
            on_iteration=on_iteration,
            progress=progress,
            description=f"EAE sweep ({len(temperatures)} temperatures)",
            data=data,
        )
    finally:
        for log in logs:
            log.close()
    seconds = time.perf_counter() - started
    if logs:
        metrics = [read_metrics(d / METRICS_FILE) for d in rung_dirs]
    else:
        metrics = [training_curve(rung_rows) for rung_rows in rows]
    return state, stopped, metrics, seconds


def _collect(
    ladder: TemperatureLadder,
    state: Any,
    config: DiscoverConfig,
    progress: bool,
    data: dict[str, Any],
) -> tuple[Any, list[list[dict[str, Any]]], float]:
    """Algorithm 2 for all rungs at once, in equal chunks (one compiled program). Returns the
    state, each rung's chunks of summaries (numpy) and the collection time."""
    tc = config.train
    temperatures = [float(v) for v in config.sweep.temperatures]
    collect = jax.jit(ladder.collect, static_argnums=(1, 2))
    chunk_size = max(1, min(tc.chunk_size, tc.n_samples))
    divisors = [c for c in range(chunk_size, chunk_size // 2, -1) if tc.n_samples % c == 0]
    chunk_size = divisors[0] if divisors else chunk_size
    chunks: list[list[dict[str, Any]]] = [[] for _ in temperatures]
    started = time.perf_counter()
    remaining = tc.n_samples
    with tqdm(total=tc.n_samples, desc="collecting ensembles", disable=not progress) as bar:
        while remaining > 0:
            size = min(chunk_size, remaining)
            state, summaries = collect(state, size, tc.thin, data)
            host = jax.tree.map(np.asarray, jax.device_get(summaries))
            diverged = np.asarray(state.sampler.diverged).reshape(len(temperatures), -1)
            for k in range(len(temperatures)):
                if diverged[k].any():
                    raise SamplerDivergedError(
                        f"the rung at temperature {temperatures[k]:g} diverged while collecting "
                        "its ensemble; lower sampler.step_size or remove that temperature"
                    )
                chunks[k].append(jax.tree.map(lambda a, k=k: a[k], host))
            remaining -= size
            bar.update(size)
    return state, chunks, time.perf_counter() - started


def train_and_collect_sweep(
    prepared: PreparedRun,
    record: dict[str, Any],
    *,
    data_path: str | None,
    grid_shape: tuple[int, ...],
    checkpoint_dir: Path | None,
    resume: bool,
    progress: bool,
) -> list[tuple[RunData, DiscoverConfig, EAEState]]:
    """The sweep's part of :func:`eae_sindy.fit` once the run is prepared: train and collect
    one EAE per temperature together, ``checkpoint_dir`` (if any) claimed for the sweep with
    ``record`` and holding, while training, the ladder's ``checkpoint.msgpack`` and each rung's
    ``T_<T_k>/metrics.csv``; with ``resume`` an interrupted sweep continues from that
    checkpoint. Returns each rung's run data, configuration (:func:`rung_config`) and final
    state, in the order of ``config.sweep.temperatures``.

    Raises:
      ConfigError: a multi-process run (a sweep runs in one process).
      RunDirectoryError: ``checkpoint_dir`` (or a rung's directory in it) cannot be used: it
        holds another run, or its checkpoint is damaged or of another run.
      SamplerDivergedError: a rung diverged (its temperature is named; the last good
        checkpoint is kept).
    """
    if jax.process_count() > 1:
        raise ConfigError("a temperature sweep runs in one process only")
    started = time.perf_counter()
    config, given, the_plan = prepared.config, prepared.data, prepared.plan
    split, library = the_plan
    temperatures = [float(v) for v in config.sweep.temperatures]
    configs = [rung_config(config, temperature) for temperature in temperatures]
    records = prepared.records(configs, data_path)
    rung_dirs: list[Path] = []
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        rung_dirs = [checkpoint_dir / rung_directory_name(v) for v in temperatures]
        _claim(checkpoint_dir, record, dict(zip(rung_dirs, records, strict=True)), resume)
    scaling = Scaling.fit(given.x, config.data.standardize)
    x, dx = scaling.forward(given.x, given.dx)

    built = build_sindy_eae(x, dx, split, library, config)  # model, loss and data (shared)

    def built_for(sampler, full_batch=False):
        return build_sindy_eae(
            x, dx, split, library, config, sampler=sampler, data=built.data,
            full_batch=full_batch,
        )

    ladder = sweep_ladder(built_for, config)
    key_model, key_eae = jax.random.split(jax.random.PRNGKey(config.seed))
    state = ladder.init(*built.model.init(key_model), key_eae)

    # Algorithm 1 for all rungs at once
    state, stopped, metrics, train_time = _train(
        ladder, state, config, checkpoint_dir, rung_dirs, progress, built.data
    )
    rung_states = [ladder.rung(state, k) for k in range(len(temperatures))]
    val_losses = [validation_loss(built, s, x, dx, split) for s in rung_states]

    # Algorithm 2 for all rungs at once, with the collection's sampler (``config.collection``)
    collector = ladder
    if config.collection.changes_sampler:
        collecting = config.replace(sampler=config.collection.sampler(config.sampler))
        collector = sweep_ladder(
            lambda sampler: built_for(sampler, config.collection.full_batch), collecting
        )
    state, chunks, collection_time = _collect(collector, state, config, progress, built.data)
    if progress:
        print(f"sweep: trained and collected {len(temperatures)} EAEs", file=sys.stderr)

    shared = data_fields(
        (given.x, x, dx, given.t), config, the_plan, scaling, grid_shape, given.trajectory
    )
    found = []
    for k, config_k in enumerate(configs):
        rung = ladder.rung(state, k)
        training = training_record(
            config_k, rung, given, split, stopped=stopped, times=(train_time, collection_time),
            validation_loss=val_losses[k],
        )
        run = run_data(
            built, rung, chunks[k], x, config_k, split, scaling, records[k],
            shared=shared, metrics=metrics[k], training=training, started=started,
        )
        found.append((run, config_k, rung))
    return found
