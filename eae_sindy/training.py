"""Python drivers around the pure EAE functions: the outer loop with progress, stopping,
divergence handling and atomic checkpoints, and the chunked collection of the encoder ensemble.

One outer loop (:func:`_outer_loop`) and one checkpoint format (flax msgpack of the whole state,
:func:`save_checkpoint` / :func:`load_checkpoint`) serve both a single EAE (:func:`run_training`)
and a temperature ladder (:func:`run_ladder_training`), whose state is one pytree with a leading
temperature axis.

These are the only places that loop in Python, once per outer iteration or per chunk of collected
samples; every inner sampling step runs inside a compiled ``lax.scan``.

In a multi-process run (:mod:`eae_sindy.distributed`) every process runs these drivers in step:
checkpoints are gathered from all processes and written by process 0 alone, and each collected
chunk is gathered (small: the summaries), so every process takes the same decisions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import flax.serialization
import jax
import numpy as np
from tqdm.auto import tqdm

from eae_sindy.distributed import gather, is_main_process
from eae_sindy.eae import EAEState, EntropicAutoencoder, TemperatureLadder
from eae_sindy.errors import RunDirectoryError, SamplerDivergedError
from simulators.atomic_files import atomic_write_bytes

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "resume_from",
    "run_training",
    "run_ladder_training",
    "run_collection",
    "divergence_message",
]


def save_checkpoint(path: str | os.PathLike, state: EAEState) -> None:
    """Serialise the whole training state (flax msgpack), atomically. In a multi-process run every
    process must call this (the state is gathered from all of them); process 0 writes it."""
    host = gather(state)  # jax.device_get with one process
    if is_main_process():
        atomic_write_bytes(path, flax.serialization.to_bytes(host))


# State fields added later whose value a run can rebuild: missing from an older checkpoint, they
# take the template's value (``EAEState.curvature``: the step control's estimate, re-measured).
_REBUILT_IF_ABSENT = ("curvature",)


def _with_absent_fields(wanted: Any, raw: Any) -> Any:
    """``raw`` (a restored state dict) with the fields that ``wanted`` (the template's state
    dict) holds as None added where they are missing: a state field added later with a None
    default (``SimmeringState.stiff``, ``EAEState.curvature``) does not make older checkpoints
    unreadable. A missing (or None) ``curvature`` takes the template's fresh estimate."""
    if not isinstance(wanted, dict) or not isinstance(raw, dict):
        return raw
    out = {key: _with_absent_fields(wanted.get(key), value) for key, value in raw.items()}
    for key, value in wanted.items():
        if key not in out and value is None:
            out[key] = None
        if key in _REBUILT_IF_ABSENT and out.get(key) is None:  # absent, or saved as None
            out[key] = value
    return out


def load_checkpoint(path: str | os.PathLike, template: Any) -> Any:
    """Restore a state written by :func:`save_checkpoint` into the structure of ``template``.

    Raises:
      RunDirectoryError: the file is empty, truncated, corrupt or holds another kind of state
        (other fields, or arrays of other shapes: e.g. another number of chains or temperatures).
    """
    path = Path(path)
    try:
        raw = flax.serialization.msgpack_restore(path.read_bytes())
        raw = _with_absent_fields(flax.serialization.to_state_dict(template), raw)
        state = flax.serialization.from_state_dict(template, raw)
    except Exception as error:  # msgpack and flax raise many types for a damaged file
        raise RunDirectoryError(
            f"{path}: not a readable checkpoint of this run ({type(error).__name__}: {error}); "
            "delete it to start over, or choose another --out"
        ) from None
    wanted = jax.tree_util.tree_flatten_with_path(template)[0]
    for (where, expected), found in zip(wanted, jax.tree.leaves(state), strict=True):
        if np.shape(found) != np.shape(expected):  # flax restores any shape it is given
            raise RunDirectoryError(
                f"{path}: a checkpoint of another run (state{jax.tree_util.keystr(where)} has "
                f"shape {np.shape(found)}, this run's has {np.shape(expected)}); delete it to "
                "start over, or choose another --out"
            )
    return state


def resume_from(path: str | os.PathLike | None, template: Any) -> Any:
    """The state saved at ``path`` when that file exists, else ``template`` (a fresh start)."""
    if path is None or not Path(path).exists():
        return template
    return load_checkpoint(path, template)


def _row(info: Any) -> dict[str, float]:
    """The :class:`IterationInfo` fields as floats (fields an EAE does not fill, None, left
    out: ``step_size`` and ``curvature_max`` without a step control)."""
    host = jax.device_get(info)
    pairs = zip(info._fields, host, strict=True)
    return {name: float(value) for name, value in pairs if value is not None}


def _rung_rows(info: Any) -> list[dict[str, float]]:
    """One row per rung of a ladder's :class:`IterationInfo` (leading temperature axis)."""
    host = jax.device_get(info)
    pairs = zip(info._fields, host, strict=True)
    columns = {name: np.asarray(v, np.float64) for name, v in pairs if v is not None}
    num_rungs = len(next(iter(columns.values())))
    return [{name: float(v[k]) for name, v in columns.items()} for k in range(num_rungs)]


def _completed(state: Any) -> int:
    """The outer iterations ``state`` has completed (a ladder's rungs step together)."""
    counter = state.iteration
    return int(counter) if np.ndim(counter) == 0 else int(counter[0])


def _kept(checkpoint_path: str | os.PathLike | None) -> str:
    """What a divergence message adds about the checkpoint on disk."""
    saved = checkpoint_path is not None and Path(checkpoint_path).exists()
    return f"; last good checkpoint kept: {checkpoint_path}" if saved else ""


class _LoopSettings(NamedTuple):
    """The settings :func:`run_training` and :func:`run_ladder_training` hand on to
    :func:`_outer_loop` as they are (the arguments of the same names)."""

    num_outer: int
    checkpoint_path: str | os.PathLike | None
    checkpoint_every: int
    progress: bool
    description: str


def _outer_loop(
    outer_step: Callable[..., tuple[Any, Any]],
    state: Any,
    data: Any,
    loop: _LoopSettings,
    check: Callable[[int, Any], Any],
    record: Callable[[Any, float], tuple[bool, dict[str, str]]],
) -> tuple[Any, str]:
    """Outer iterations of ``jit(outer_step)(state, data)`` from the state's counter to
    ``loop.num_outer``, with a progress bar: after each step ``check(iteration, info)`` raises if
    it diverged (the state is not taken and nothing is saved: the checkpoint on disk stays the
    last good one) or returns the iteration's rows, and ``record(rows, elapsed_s)`` logs them and
    returns (whether training may stop (gradient tolerance), the progress bar's fields).

    The state is checkpointed every ``loop.checkpoint_every`` iterations, after the last one, on
    an early stop and, in a one-process run, on KeyboardInterrupt (Ctrl-C, SIGTERM), so that
    every completed iteration is kept. Returns ``(state, stopped)``, ``stopped`` in {"budget",
    "gradient_tolerance"}."""
    num_outer, checkpoint_path, checkpoint_every, progress, description = loop
    start = _completed(state)
    step = jax.jit(outer_step)
    started = time.perf_counter()
    bar = tqdm(
        total=num_outer, initial=start, desc=description, disable=not progress, dynamic_ncols=True
    )
    try:
        for iteration in range(start, num_outer):
            new_state, info = step(state, data)
            rows = check(iteration, info)
            state = new_state
            stop, fields = record(rows, time.perf_counter() - started)
            bar.set_postfix(fields)
            bar.update(1)
            done = iteration + 1
            periodic = done % checkpoint_every == 0 or done == num_outer
            if checkpoint_path is not None and (periodic or stop):
                save_checkpoint(checkpoint_path, state)
            if stop:
                return state, "gradient_tolerance"
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep every completed outer iteration
        # (one process alone: the others may not be interrupted at the same point, so a
        # multi-process run keeps its last periodic checkpoint rather than risk a hanging gather)
        alone = jax.process_count() == 1
        if alone and checkpoint_path is not None and _completed(state) > start:
            save_checkpoint(checkpoint_path, state)
        raise
    finally:
        bar.close()
    return state, "budget"


def run_training(
    eae: EntropicAutoencoder,
    state: EAEState,
    *,
    num_outer: int,
    grad_tol: float = 0.0,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 10,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
    progress: bool = True,
    description: str = "EAE training",
    data: Any = None,
) -> tuple[EAEState, str]:
    """Run outer iterations until ``state.iteration == num_outer`` or ‖ḡ_ϑ‖ < ``grad_tol``.

    Resuming is just calling this again with a restored state: the iteration counter and the
    random key live in the state, so the continuation is identical to an uninterrupted run.

    Args:
        on_iteration: called with a dict (``iteration``, the :class:`IterationInfo` fields,
            ``elapsed_s``) after every completed outer iteration.
        data: the ``data`` argument of ``eae.outer_step`` (data sets as arguments of the
            compiled program, not constants in it; see :mod:`eae_sindy.eae`).

    Returns:
        ``(state, stopped)`` with ``stopped`` in {"budget", "gradient_tolerance"}.

    Raises:
        SamplerDivergedError: non-finite loss or sampler state; the previous checkpoint is kept.
    """
    def check(iteration: int, info: Any) -> dict[str, float]:
        row = {"iteration": iteration, **_row(info)}
        if row["diverged"]:
            raise SamplerDivergedError(divergence_message(row, iteration) + _kept(checkpoint_path))
        return row

    def record(row: dict[str, float], elapsed: float) -> tuple[bool, dict[str, str]]:
        row["elapsed_s"] = elapsed
        if on_iteration is not None:
            on_iteration(row)
        fields = {
            "loss": f"{row['loss_mean']:.4g}",
            "T_kin": f"{row['kinetic_temperature']:.2g}",
            "grad": f"{row['decoder_grad_norm']:.2g}",
        }
        return row["decoder_grad_norm"] < grad_tol, fields

    loop = _LoopSettings(num_outer, checkpoint_path, checkpoint_every, progress, description)
    return _outer_loop(eae.outer_step, state, data, loop, check, record)


def run_ladder_training(
    ladder: TemperatureLadder,
    state: EAEState,
    *,
    temperatures: Sequence[float],
    num_outer: int,
    grad_tol: float = 0.0,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 10,
    on_iteration: Callable[[list[dict[str, float]]], None] | None = None,
    progress: bool = True,
    description: str = "EAE sweep",
    data: Any = None,
) -> tuple[EAEState, str]:
    """:func:`run_training` for all rungs of a :class:`~eae_sindy.eae.TemperatureLadder` at
    once: the ladder's state (one pytree, leading temperature axis) is checkpointed whole, in the
    same format and at the same moments, and resumed the same way (call this again with the
    restored state).

    Args:
        temperatures: the rungs' T_k, to name a rung that diverges.
        on_iteration: called with one row per rung (as :func:`run_training`'s) after every
            completed outer iteration.
        data: the ``data`` argument of ``ladder.outer_step``.

    Returns:
        ``(state, stopped)``; "gradient_tolerance" once every rung's ‖ḡ_ϑ‖ < ``grad_tol``.

    Raises:
        SamplerDivergedError: a rung diverged (named by its temperature); the previous
            checkpoint is kept.
    """
    def check(iteration: int, info: Any) -> list[dict[str, float]]:
        rows = [{"iteration": iteration, **row} for row in _rung_rows(info)]
        for temperature, row in zip(temperatures, rows, strict=True):
            if row["diverged"]:
                raise SamplerDivergedError(
                    f"the rung at temperature {temperature:g}: "
                    + divergence_message(row, iteration)
                    + ", or remove that temperature from sweep.temperatures"
                    + _kept(checkpoint_path)
                )
        return rows

    def record(rows: list[dict[str, float]], elapsed: float) -> tuple[bool, dict[str, str]]:
        for row in rows:
            row["elapsed_s"] = elapsed
        if on_iteration is not None:
            on_iteration(rows)
        fields = {"grad": f"{max(row['decoder_grad_norm'] for row in rows):.2g}"}
        return all(row["decoder_grad_norm"] < grad_tol for row in rows), fields

    loop = _LoopSettings(num_outer, checkpoint_path, checkpoint_every, progress, description)
    return _outer_loop(ladder.outer_step, state, data, loop, check, record)


def divergence_message(row: dict[str, float], iteration: int) -> str:
    """Which part diverged, and what to change. A non-finite sampled loss makes the decoder
    gradient (summed over the sampled encoders) non-finite too, so the sampler is blamed first."""
    sampler_finite = np.isfinite(row["loss_mean"]) and np.isfinite(row["kinetic_temperature"])
    if sampler_finite and not np.isfinite(row["decoder_grad_norm"]):
        return (
            f"the decoder optimiser diverged at outer iteration {iteration} (non-finite decoder "
            "gradient). Lower train.learning_rate; if the data are far from unit scale, keep "
            "data.standardize on"
        )
    return (
        f"the encoder sampler diverged at outer iteration {iteration} (non-finite loss, "
        "kinetic energy or encoder parameters). Lower sampler.step_size or "
        "sampler.temperature, or raise sampler.mass; if the data are far from unit scale, keep "
        "data.standardize on"
    )


def run_collection(
    eae: EntropicAutoencoder,
    state: EAEState,
    *,
    num_samples: int,
    thin: int = 1,
    chunk_size: int = 100,
    sink: Callable[[Any], None],
    progress: bool = True,
    description: str = "collecting ensemble",
    stop_when: Callable[[], tuple[bool, dict[str, str]]] | None = None,
    data: Any = None,
) -> EAEState:
    """Algorithm 2: sample ``num_samples`` encoders (every ``thin``-th step) with the decoder fixed,
    handing each chunk of summaries (numpy pytree, leading axis = samples; in a multi-process run
    gathered from all processes, so every process gets the whole chunk) to ``sink`` so the
    ensemble never has to fit in memory at once. ``stop_when()``, called after each chunk,
    returns (enough, progress-bar fields): collection ends early once it says enough (e.g. a
    target effective sample size is reached); ``num_samples`` is then the budget. ``data``: the
    ``data`` argument of ``eae.collect``."""
    collect = jax.jit(eae.collect, static_argnums=(1, 2))
    chunk_size = max(1, min(chunk_size, num_samples))
    # Equal chunks compile once; a ragged last chunk would compile the whole scan again.
    divisors = [c for c in range(chunk_size, chunk_size // 2, -1) if num_samples % c == 0]
    chunk_size = divisors[0] if divisors else chunk_size
    bar = tqdm(total=num_samples, desc=description, disable=not progress, dynamic_ncols=True)
    try:
        remaining = num_samples
        while remaining > 0:
            size = min(chunk_size, remaining)
            state, summaries = collect(state, size, thin, data)
            # gathered from all processes (jax.device_get with one): every process sees the
            # whole chunk and so takes the same decisions below
            host = jax.tree.map(np.asarray, gather(summaries))
            if bool(np.any(gather(state.sampler.diverged))):
                raise SamplerDivergedError(
                    "the encoder sampler diverged while collecting the ensemble (the decoder is "
                    "fixed there); lower sampler.step_size or sampler.temperature, or raise "
                    "sampler.mass"
                )
            sink(host)
            remaining -= size
            bar.update(size)
            if stop_when is not None:
                enough, fields = stop_when()
                bar.set_postfix(fields)
                if enough:
                    break
    finally:
        bar.close()
    return state
