"""Project exception types. Messages name the file, the field and the fix."""

from __future__ import annotations

__all__ = ["ConfigError", "RunDirectoryError", "SamplerDivergedError"]


class ConfigError(ValueError):
    """A configuration value or file is invalid (unknown key, wrong type, out of range)."""


class RunDirectoryError(ValueError):
    """An output directory cannot be used (it holds a different run, or a resume is impossible)."""


class SamplerDivergedError(RuntimeError):
    """The Simmering sampler produced non-finite values; the last good checkpoint is kept."""
