"""What the command-line programs (``python -m eae_sindy.discover``, ``python -m eae_sindy.images``)
share: the ``--seed`` override and the mapping from the project's errors to exit codes, so that
a user never sees a traceback for a bad input.

Exit codes (docs/troubleshooting.md): 0 success; 2 a refused input (setting, data file, output
directory); 3 the sampler or optimiser diverged (the last good checkpoint is kept); 4 the model
did not learn the data (results written, marked as such); 5 an I/O error such as a full disk
(finished files intact, no partial file left); 6 the results are written but the report failed;
130 interrupted by Ctrl-C and 143 by SIGTERM (a checkpoint of the last completed outer iteration
is kept: continue with ``--resume``).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from eae_sindy.errors import ConfigError, RunDirectoryError, SamplerDivergedError
from simulators import DatasetError

__all__ = ["INPUT_ERRORS", "EXIT_CODES", "Terminated", "run_command", "with_seed"]

EXIT_CODES = {
    "ok": 0,
    "input": 2,
    "diverged": 3,
    "not_learned": 4,
    "io": 5,
    "report": 6,
    "interrupted": 130,
    "terminated": 143,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster scheduler sends), handled like Ctrl-C: checkpoint, then exit."""


def _raise_terminated(signum, frame):  # noqa: ARG001 - the signal handler's signature
    raise Terminated()


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
    the problem, never a traceback; SIGTERM is handled like Ctrl-C while ``action`` runs."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return 0, action()
    except (*INPUT_ERRORS, *input_errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES["input"], None
    except SamplerDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES["diverged"], None
    except OSError as error:
        print(
            f"error: could not write or read a file ({error}); files finished before are "
            f"intact and no partial file is left in {out}. Free space or choose another --out, "
            "then continue with --resume",
            file=sys.stderr,
        )
        return EXIT_CODES["io"], None
    except KeyboardInterrupt as interrupt:
        how = "terminated (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted"
        print(
            f"\n{how}: the last completed outer iteration is checkpointed in {out}; "
            "continue with --resume",
            file=sys.stderr,
        )
        code = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        return EXIT_CODES[code], None
    finally:
        signal.signal(signal.SIGTERM, previous)
