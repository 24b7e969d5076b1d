"""Data generators that write HDF5 data sets for eae-sindy (see ``simulators.lambda_omega``).

Public API (``docs/simulator.md``): :func:`spiral_initial_condition`, :func:`simulate`,
:func:`iter_snapshots`, :func:`generate_dataset`, :func:`write_hdf5`, :func:`read_dataset`,
:class:`Dataset`, :class:`DatasetError`.

The names from ``simulators.lambda_omega`` are imported lazily so that
``python -m simulators.lambda_omega`` does not import that module twice.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import DatasetError as DatasetError
from .errors import SimulationError as SimulationError
from .hdf5_io import SCHEMA_VERSION as SCHEMA_VERSION
from .hdf5_io import Dataset as Dataset
from .hdf5_io import read_dataset as read_dataset

_LAZY = {
    "SimulationResult",
    "SnapshotChunk",
    "gaussian_mask",
    "generate_dataset",
    "grid",
    "iter_snapshots",
    "simulate",
    "spiral_initial_condition",
    "write_hdf5",
}

__all__ = sorted(
    ["SCHEMA_VERSION", "Dataset", "DatasetError", "SimulationError", "read_dataset", *_LAZY]
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(".lambda_omega", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
