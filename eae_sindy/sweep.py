"""A temperature sweep: K independent SINDy-EAEs, one per temperature, trained and collected in
one compiled program (:func:`eae_sindy.eae.temperature_ladder`), returned as one
:class:`~eae_sindy.discovery.Discovery` per temperature.

Configured by ``config.sweep`` (:class:`eae_sindy.config.SweepConfig`): ``temperatures`` replace
``sampler.temperature``; ``anneal_factor`` F cools rung k from F·T_k to T_k over the outer
iterations. Every rung shares the data, split, library, model architecture, initial parameters
and sampler settings, and has its own decoder, optimiser state, chains and key (rung k's key is
``jax.random.split(key, K)[k]``, so rung results differ from a single run at T_k by the key).
``python -m eae_sindy.discover`` writes each rung as a normal run directory ``OUT/T_<T_k>/`` and
the comparison ``OUT/sweep.json``/``sweep.md`` (:mod:`analysis.sweep`).

Not (yet) supported in a sweep: checkpoints and resuming, ``train.target_ess`` (exactly
``train.n_samples`` draws are collected), multi-process runs. ``train.grad_tol`` stops training
once every rung's decoder gradient is below it.

This module reuses the private pieces of :mod:`eae_sindy.discovery` (``_sindy_eae``,
``_data_arrays``, ``_run_data``, ``_validation_loss``, ``_as_data``, ``Scaling``) so that a
rung's run directory is built exactly like a single run's.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from analysis.rundir import METRICS_COLUMNS
from eae_sindy.config import DiscoverConfig, config_from_dict
from eae_sindy.discovery import (
    Discovery,
    Scaling,
    _as_data,
    _data_arrays,
    _run_data,
    _sindy_eae,
    _validation_loss,
    data_digest,
    plan,
    run_record,
)
from eae_sindy.eae import TemperatureLadder, temperature_ladder
from eae_sindy.errors import ConfigError, SamplerDivergedError
from eae_sindy.simmering import simmering

__all__ = ["fit_sweep", "rung_config", "rung_directory_name", "sweep_ladder"]


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
    """The ladder of ``config.sweep``; ``built_for(sampler)`` → the rung's ``_SindyEAE``."""
    sweep = config.sweep
    settings = dataclasses.asdict(config.sampler)

    def build(temperature):
        return built_for(simmering(**{**settings, "temperature": temperature})).eae

    anneal = None
    if sweep.anneal_factor is not None and sweep.anneal_factor != 1.0:
        anneal = _anneal(sweep.anneal_factor, config.train.outer_iterations)
    return temperature_ladder(build, sweep.temperatures, anneal=anneal)


def _rows(info: Any, iteration: int, elapsed: float) -> list[dict[str, float]]:
    host = jax.device_get(info)
    fields = zip(info._fields, host, strict=True)
    per_field = {name: np.asarray(v, np.float64) for name, v in fields}
    num_rungs = len(next(iter(per_field.values())))
    rows = []
    for k in range(num_rungs):
        values = {name: float(v[k]) for name, v in per_field.items()}
        rows.append({"iteration": iteration, **values, "elapsed_s": elapsed})
    return rows


def fit_sweep(
    x: Any,
    dx: Any,
    t: Any = None,
    *,
    config: DiscoverConfig,
    seed: int | None = None,
    grid_shape: tuple[int, ...] | None = None,
    data_path: str | None = None,
    progress: bool = True,
) -> list[Discovery]:
    """Train and collect one EAE per temperature of ``config.sweep.temperatures`` together.

    Arguments as :func:`eae_sindy.fit` (no checkpoints). Returns one :class:`Discovery` per
    temperature, in the order of ``config.sweep.temperatures``; each has ``run.temperature`` =
    T_k, the rung's configuration (:func:`rung_config`) and its final state.

    Raises:
      ConfigError: no sweep configured, or a setting does not fit the data.
      DatasetError: the arrays are not 2-D, finite, of matching shapes.
      SamplerDivergedError: a rung diverged (its temperature is named).
    """
    if seed is not None:
        config = config_from_dict({"seed": seed}, base=config, source="seed")
    if not config.sweep.enabled:
        raise ConfigError("fit_sweep needs sweep.temperatures (at least 2 temperatures)")
    if jax.process_count() > 1:
        raise ConfigError("a temperature sweep runs in one process only")
    started = time.perf_counter()
    x, dx, t = _as_data(x, dx, t)
    the_plan = plan(config, x.shape[0], data_path or "the data")
    split, library = the_plan
    digest = data_digest(x, dx, t)
    tc = config.train
    temperatures = [float(v) for v in config.sweep.temperatures]
    scaling = Scaling.fit(x, config.data.standardize)
    x_raw, (x, dx) = x, scaling.forward(x, dx)

    def built_for(sampler):
        return _sindy_eae(x, dx, split, library, config, sampler=sampler)

    built = built_for(None)  # model and loss (shared by the rungs)
    ladder = sweep_ladder(built_for, config)
    key_model, key_eae = jax.random.split(jax.random.PRNGKey(config.seed))
    state = ladder.init(*built.model.init(key_model), key_eae)

    # Algorithm 1 for all rungs at once
    rows: list[list[dict[str, float]]] = [[] for _ in temperatures]
    step = jax.jit(ladder.outer_step)
    stopped = "budget"
    train_started = time.perf_counter()
    label = f"EAE sweep ({len(temperatures)} temperatures)"
    for iteration in tqdm(range(tc.outer_iterations), desc=label, disable=not progress):
        state, info = step(state)
        per_rung = _rows(info, iteration, time.perf_counter() - train_started)
        for k, row in enumerate(per_rung):
            if row["diverged"]:
                raise SamplerDivergedError(
                    f"the rung at temperature {temperatures[k]:g} diverged at outer iteration "
                    f"{iteration}; lower sampler.step_size or remove that temperature"
                )
            rows[k].append(row)
        if all(row["decoder_grad_norm"] < tc.grad_tol for row in per_rung):
            stopped = "gradient_tolerance"
            break
    train_time = time.perf_counter() - train_started
    rung_states = [ladder.rung(state, k) for k in range(len(temperatures))]
    val_losses = [_validation_loss(built, s, x, dx, split) for s in rung_states]

    # Algorithm 2 for all rungs at once, in equal chunks (one compiled program)
    collect = jax.jit(ladder.collect, static_argnums=(1, 2))
    chunk_size = max(1, min(tc.chunk_size, tc.n_samples))
    divisors = [c for c in range(chunk_size, chunk_size // 2, -1) if tc.n_samples % c == 0]
    chunk_size = divisors[0] if divisors else chunk_size
    chunks: list[list[dict[str, Any]]] = [[] for _ in temperatures]
    collection_started = time.perf_counter()
    remaining = tc.n_samples
    with tqdm(total=tc.n_samples, desc="collecting ensembles", disable=not progress) as bar:
        while remaining > 0:
            size = min(chunk_size, remaining)
            state, summaries = collect(state, size, tc.thin)
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
    collection_time = time.perf_counter() - collection_started
    if progress:
        print(f"sweep: trained and collected {len(temperatures)} EAEs", file=sys.stderr)

    shared = _data_arrays(
        (x_raw, x, dx, t), config, the_plan, scaling, grid_shape or (x.shape[1],)
    )
    found = []
    for k, temperature in enumerate(temperatures):
        rung = ladder.rung(state, k)
        config_k = rung_config(config, temperature)
        record = run_record(config_k, data_path, digest)
        metrics = {c: np.array([r[c] for r in rows[k]], np.float64) for c in METRICS_COLUMNS}
        training = {
            "outer_iterations": int(rung.iteration),
            "stopped": stopped,
            "train_time_s": train_time,
            "collection_time_s": collection_time,
            "validation_loss": val_losses[k],
        }
        run = _run_data(
            built,
            rung,
            chunks[k],
            x,
            config_k,
            the_plan.split,
            scaling,
            record,
            shared=shared,
            metrics=metrics,
            training=training,
            started=started,
        )
        found.append(Discovery(run, config_k, rung))
    return found
