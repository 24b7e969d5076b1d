"""Exceptions raised by the simulators package."""

from __future__ import annotations

__all__ = ["DatasetError", "SimulationError"]


class DatasetError(ValueError):
    """A data file is missing, unreadable, or does not follow the data-set schema.

    The message always names the file, the HDF5 dataset or attribute concerned (if any), and the
    problem, e.g. ``"data.h5: dataset 'dx': shape (10, 4) does not match 'x' shape (10, 5)"``.
    """


class SimulationError(RuntimeError):
    """The time integration produced non-finite values (e.g. an unstable parameter choice)."""
