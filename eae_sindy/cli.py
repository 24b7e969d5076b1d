"""What the command-line programs (``python -m eae_sindy.discover``, ``python -m eae_sindy.images``)
share: the ``--seed`` override and the mapping from the project's errors to exit codes, so that
a user never sees a traceback for a bad input.

Exit codes: 0 success; 2 a refused input (setting, data file, output directory); 3 the sampler
diverged (the last good checkpoint is kept); 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from eae_sindy.errors import ConfigError, RunDirectoryError, SamplerDivergedError
from simulators import DatasetError

__all__ = ["INPUT_ERRORS", "run_command", "with_seed"]

T = TypeVar("T")

INPUT_ERRORS: tuple[type[Exception], ...] = (ConfigError, DatasetError, RunDirectoryError)
"""Errors that mean "this input cannot be used"; each message names the file, field and fix.
Commands add their own (the image loaders' ``ImageDataError``)."""


def with_seed(config: Any, seed: int | None) -> Any:
    """``config`` with ``seed`` (when given), checked like every setting; the error names
    ``--seed``."""
    if seed is None:
        return config
    try:
        return config.replace(seed=seed)
    except ConfigError as error:
        raise ConfigError(f"--seed: {error}") from None


def run_command(
    action: Callable[[], T], out: Path, *, input_errors: tuple[type[Exception], ...] = ()
) -> tuple[int, T | None]:
    """Run ``action``; return (exit code, its result). Errors are printed as one line naming
    the problem, never a traceback."""
    try:
        return 0, action()
    except (*INPUT_ERRORS, *input_errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, None
    except SamplerDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3, None
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last checkpoint is in {out}; continue with --resume",
              file=sys.stderr)
        return 130, None
