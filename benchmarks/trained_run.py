"""A ``discover`` run directory's trained state, rebuilt for benchmarks that study it: the
configuration, the scaled data, the plan, the SINDy-EAE and the checkpoint at the end of training
(``benchmarks/curvature.py``, ``benchmarks/stiff_collection.py``)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import h5py
import jax
import numpy as np

from eae_sindy.config import DiscoverConfig, config_from_dict, preset
from eae_sindy.planning import Plan, Scaling, plan
from eae_sindy.sindy_eae import SindyEAE, build_sindy_eae
from eae_sindy.training import load_checkpoint


class TrainedRun(NamedTuple):
    config: DiscoverConfig
    x: np.ndarray  # scaled as in training
    dx: np.ndarray
    plan: Plan
    built: SindyEAE
    state: Any  # EAEState at the last checkpoint


def load_trained(run_dir: str) -> TrainedRun:
    with open(f"{run_dir}/config.json") as file:
        values = json.load(file)
    values = {k: v for k, v in values.items() if k not in ("data_sha256", "data_path")}
    config = config_from_dict(values, base=preset("quick"))
    with h5py.File(f"{run_dir}/data.h5") as f:
        x, dx = f["x"][...], f["dx"][...]
    the_plan = plan(config, len(x))
    x, dx = Scaling.fit(x, config.data.standardize).forward(x, dx)
    built = build_sindy_eae(x, dx, *the_plan, config)
    state = built.eae.init(*built.model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    state = load_checkpoint(f"{run_dir}/checkpoint.msgpack", state)
    return TrainedRun(config, x, dx, the_plan, built, state)
