"""Exceptions raised by the analysis package."""

from __future__ import annotations

__all__ = ["ReportError"]


class ReportError(ValueError):
    """A run directory is missing, unreadable, or does not follow ``docs/run_directory.md``.

    The message always names the file, the HDF5 dataset / attribute / column concerned (if any)
    and the problem, e.g. ``"ensemble.h5: dataset 'xi': contains 3 non-finite values (first at
    index (12, 4, 1))"``.
    """
