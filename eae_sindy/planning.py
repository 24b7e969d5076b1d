"""Checks before compute: everything about a run that can be refused or recorded before anything
is computed or written. Users' arrays become checked trajectories (:func:`as_data`, ẋ estimated
when not given), the snapshots are split (:func:`split_indices`) and the library built, checked
against the batch size and the least-squares fits (:func:`plan`); :func:`run_record` and
:func:`data_digest` say what ``config.json`` records, :func:`data_record` what ``summary.json``
says about the data; :class:`Scaling` puts every data set in the units the temperatures were
tuned in. :func:`prepare` does the checks for :func:`eae_sindy.fit`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from eae_sindy import __version__
from eae_sindy.config import DiscoverConfig, config_from_dict, preset
from eae_sindy.data import (
    DIFFERENTIATION,
    Trajectories,
    as_trajectories,
    is_uniform,
    trajectory_bounds,
)
from eae_sindy.errors import ConfigError
from eae_sindy.sindy import SindyLibrary, polynomial_sine_library
from simulators import DatasetError

__all__ = [
    "REFERENCE_RMS",
    "Plan",
    "PreparedRun",
    "Scaling",
    "as_data",
    "data_digest",
    "data_record",
    "plan",
    "prepare",
    "run_record",
    "split_indices",
]


def split_indices(
    n_snapshots: int,
    n_train: int,
    n_val: int,
    test_fraction: float,
    seed: int,
    trajectory: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The reference split. One trajectory: test = the last ``test_fraction`` of the snapshots
    (time order). Several (``trajectory``: each snapshot's trajectory id, contiguous): test =
    the last whole trajectories holding at least ``test_fraction`` of the snapshots (at least
    one, and never all). Train and validation are drawn at random, without overlap, from the
    rest; requests larger than what is available are shrunk proportionally. ``eval``: the test
    snapshots of the first test trajectory, where integrated models are compared with the data
    (a window never crosses from one trajectory into another)."""
    bounds = trajectory_bounds(trajectory, n_snapshots)
    if len(bounds) == 1:
        n_test = max(1, int(round(test_fraction * n_snapshots)))
        n_first = n_snapshots - n_test
    else:
        n_first = bounds[-1][0]
        for start, _ in reversed(bounds[1:]):
            n_first = start
            if n_snapshots - start >= test_fraction * n_snapshots:
                break
    if n_first < 2:
        raise ConfigError(f"data has only {n_snapshots} snapshots: too few to split")
    if n_train + n_val > n_first:
        scale = n_first / (n_train + n_val)
        n_train = max(1, int(n_train * scale))
        n_val = min(int(n_val * scale), n_first - n_train)
    permutation = np.random.default_rng(seed).permutation(n_first)
    test = np.arange(n_first, n_snapshots)
    eval_stop = next((stop for start, stop in bounds if start <= n_first < stop), n_snapshots)
    return {
        "train": np.sort(permutation[:n_train]),
        "val": np.sort(permutation[n_train : n_train + n_val]),
        "test": test,
        "eval": np.arange(n_first, eval_stop),
    }


class Plan(NamedTuple):
    """The split and the library of a run, checked against its budget."""

    split: dict[str, np.ndarray]
    library: SindyLibrary


def plan(
    config: DiscoverConfig,
    n_snapshots: int,
    where: str = "the data",
    trajectory: np.ndarray | None = None,
) -> Plan:
    """Split ``n_snapshots`` (by whole trajectories when ``trajectory`` names several; see
    :func:`split_indices`) and build the library; refuse batch sizes the split cannot feed and
    least-squares fits that are underdetermined (:class:`ConfigError` naming ``where``)."""
    d, batch = config.data, config.train.batch_size
    split = split_indices(
        n_snapshots, d.n_train, d.n_val, d.test_fraction, config.seed, trajectory
    )
    library = polynomial_sine_library(
        config.model.latent_dim,
        config.sindy.poly_order,
        config.sindy.include_sine,
        config.sindy.include_constant,
    )
    if len(split["train"]) < batch:
        raise ConfigError(
            f"train.batch_size = {batch} exceeds the {len(split['train'])} training snapshots "
            f"of {where}; lower train.batch_size"
        )
    if min(len(split["test"]), batch) < library.n_terms and config.sindy.ridge == 0:
        raise ConfigError(
            f"the least-squares fit of {library.n_terms} library terms needs at least that many "
            f"snapshots per batch and in the test set (batch {batch}, test "
            f"{len(split['test'])}); raise train.batch_size / data.test_fraction or set sindy.ridge"
        )
    if config.train.stiff_directions and jax.process_count() > 1:  # the sweep: check_config
        raise ConfigError(
            "train.stiff_directions works for a single-temperature run in one process; set it "
            "to 0 for a temperature sweep or a multi-process run"
        )
    n_devices = jax.device_count() if jax.process_count() > 1 else 1
    if config.train.num_chains % n_devices:
        raise ConfigError(
            f"train.num_chains = {config.train.num_chains} must be a multiple of the "
            f"{n_devices} devices of the {jax.process_count()} processes (the chains are "
            "split evenly over them)"
        )
    return Plan(split, library)


def data_digest(
    x: np.ndarray,
    dx: np.ndarray | None,
    t: np.ndarray,
    trajectory: np.ndarray | None = None,
) -> str:
    """SHA-256 of the data's content (x and, when given, ẋ as float32, t as float64, with their
    shapes, and the trajectory ids when there are several): the identity of a data set, whatever
    its file is called."""
    digest = hashlib.sha256()
    parts = [(x, np.float32)] + ([(dx, np.float32)] if dx is not None else []) + [(t, np.float64)]
    if trajectory is not None and len(trajectory) and trajectory[-1] != trajectory[0]:
        parts.append((trajectory, np.int32))
    for array, dtype in parts:
        array = np.ascontiguousarray(array, dtype)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def run_record(
    config: DiscoverConfig,
    data_path: str | None = None,
    data_sha256: str | None = None,
    derivatives_given: bool = True,
) -> dict[str, Any]:
    """What ``config.json`` holds: the full configuration, the data's content hash (None for
    data simulated from the configuration), the resolved file it came from (informative only: the
    same data under another path is the same run) and the package version.
    ``data.differentiation`` is left out when the data bring their derivatives (it plays no
    part then)."""
    path = str(Path(data_path).resolve()) if data_path is not None else None
    values = config.to_dict()
    if derivatives_given:
        del values["data"]["differentiation"]
    if not config.sweep.enabled and config.sweep.anneal_factor is None:
        del values["sweep"]  # no sweep: the record of a single run, as before sweeps existed
    if not config.train.stiff_directions:
        del values["train"]["stiff_directions"]  # likewise for the configured sampler
    if not config.collection.changes_sampler:
        del values["collection"]  # collected as trained, as before the section existed
    return {
        **values,
        "data_sha256": data_sha256,
        "data_path": path,
        "package_version": __version__,
    }


def as_data(
    x: Any, t: Any = None, x_dot: Any = None, config: DiscoverConfig | None = None
) -> Trajectories:
    """Users' snapshots checked and concatenated (:func:`eae_sindy.data.as_trajectories`), ẋ
    estimated by ``config.data.differentiation`` when ``x_dot`` is None. A call in the old
    order ``fit(x, dx, t)`` is refused with the new one."""
    if isinstance(t, np.ndarray | jax.Array) and np.ndim(t) == 2 and np.shape(t) == np.shape(x):
        raise TypeError(
            "the second argument of fit is now t: call fit(x, t, x_dot=dx) (pysindy's "
            "convention; derivatives are optional and estimated when left out)"
        )
    method = (config or preset("quick")).data.differentiation
    return as_trajectories(x, t, x_dot, differentiation=method)


def data_record(data: Trajectories, split: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``summary.json``'s ``training.data`` says about the data: how ẋ was obtained, the
    noise estimate, and the trajectories (their lengths, in order: snapshot membership follows)
    and which of them are the test set."""
    bounds = trajectory_bounds(data.trajectory, len(data.t))
    first_test = int(data.trajectory[split["test"][0]]) if len(split["test"]) else None
    return {
        "derivatives": data.derivatives,
        "derivatives_method": DIFFERENTIATION.get(data.derivatives, "given with the data"),
        "noise": data.noise,
        "n_trajectories": len(bounds),
        "trajectory_lengths": [stop - start for start, stop in bounds],
        "test_trajectories": (
            list(range(first_test, len(bounds))) if first_test is not None else []
        ),
        "uniform_times": all(is_uniform(data.t[a:b]) for a, b in bounds),
    }


REFERENCE_RMS = 0.4
"""RMS of the centred lambda-omega reference data: the units the presets' temperatures (and the
paper's) were tuned in. Every data set is scaled to it, so T means the same for all of them."""


class Scaling(NamedTuple):
    """x' = (x − offset)·factor and ẋ' = ẋ·factor: units and offsets of the data drop out, and
    the dynamics are unchanged (both sides of ż = Θ(z)Ξ see the same factor)."""

    offset: np.ndarray  # (n_features,) float32, the mean snapshot
    factor: float

    @classmethod
    def fit(cls, x: np.ndarray, standardize: bool = True) -> Scaling:
        if not standardize:
            return cls(np.zeros(x.shape[1], np.float32), 1.0)
        offset = x.mean(axis=0, dtype=np.float64)
        rms = float(np.sqrt(np.mean((x - offset) ** 2, dtype=np.float64)))
        if not rms > 0:
            raise DatasetError("x: every snapshot is the same; there are no dynamics to learn")
        return cls(offset.astype(np.float32), REFERENCE_RMS / rms)

    def forward(self, x: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        factor = np.float32(self.factor)
        return (x - self.offset) * factor, dx * factor

    def inverse(self, x_scaled: np.ndarray) -> np.ndarray:
        return np.asarray(x_scaled, np.float32) / np.float32(self.factor) + self.offset


class PreparedRun(NamedTuple):
    """A run checked before compute: its configuration (``seed`` applied), the data as checked
    trajectories, the split and library, and whether the data brought their derivatives."""

    config: DiscoverConfig
    data: Trajectories
    plan: Plan
    derivatives_given: bool

    def records(
        self, configs: list[DiscoverConfig], data_path: str | None = None
    ) -> list[dict[str, Any]]:
        """:func:`run_record` of each of ``configs`` for these data (their content hashed
        once, only here: a caller that brings its record pays nothing)."""
        data = self.data
        dx = data.dx if self.derivatives_given else None
        digest = data_digest(data.x, dx, data.t, data.trajectory)
        return [run_record(c, data_path, digest, self.derivatives_given) for c in configs]


def prepare(
    x: Any,
    t: Any,
    x_dot: Any,
    config: DiscoverConfig | None,
    seed: int | None,
    data_path: str | None,
) -> PreparedRun:
    """The checks :func:`eae_sindy.fit` makes before computing anything: ``seed`` applied to
    ``config`` (default ``preset("quick")``), the data checked (:func:`as_data`), split and
    library planned (:func:`plan`, errors naming ``data_path``)."""
    config = config or preset("quick")
    if seed is not None:
        config = config_from_dict({"seed": seed}, base=config, source="seed")
    given = as_data(x, t, x_dot, config)
    the_plan = plan(config, len(given.t), data_path or "the data", given.trajectory)
    return PreparedRun(config, given, the_plan, x_dot is not None)
