"""A persistent, on-disk cache of XLA-compiled programs, so that a repeated run skips compilation.

Every ``python -m eae_sindy.discover`` run compiles the same jitted training, sampling and
evaluation programs again (about 16 s at paper scale, a few seconds on the quick preset). JAX can
keep the compiled executables on disk and load them on the next run instead of compiling;
:func:`enable_compilation_cache` turns that on, in the user's cache directory:

* ``$EAE_SINDY_COMPILATION_CACHE`` when set (``0``, ``off``, ``false`` or ``no`` disables it),
* else ``$XDG_CACHE_HOME/eae-sindy/jax``,
* else ``~/.cache/eae-sindy/jax``.

The command line turns it off with ``--no-compilation-cache``. A cache directory that cannot be
created or written never fails a run: a warning is printed once on stderr and the run goes on
compiling as before. The entries are keyed by the program, the JAX/XLA version and the device,
so a stale entry is never used; the directory may be deleted at any time. JAX treats the cache as
trusted code: do not point it at a directory that others can write to.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV_VAR", "cache_directory", "enable_compilation_cache"]

ENV_VAR = "EAE_SINDY_COMPILATION_CACHE"
"""Environment variable: a cache directory, or one of :data:`DISABLED_VALUES`."""

DISABLED_VALUES = frozenset({"0", "off", "false", "no"})

MIN_COMPILE_TIME_S = 0.0
"""Cache every program, however quickly it compiled. JAX's default (1 s) would skip most CPU
programs of the quick preset, each of which compiles in well under a second, though together
they take several seconds."""

_warned = False


def cache_directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """The directory of the compilation cache, or ``None`` where it is disabled.

    ``environ`` defaults to :data:`os.environ`. ``$EAE_SINDY_COMPILATION_CACHE`` wins (a path, or
    ``0``/``off``/``false``/``no`` to disable); otherwise ``$XDG_CACHE_HOME/eae-sindy/jax`` (an
    empty or relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification asks) or
    ``~/.cache/eae-sindy/jax``.
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip()
    if value.lower() in DISABLED_VALUES:
        return None
    if value:
        return Path(value).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "eae-sindy" / "jax"
    home = env.get("HOME", "").strip()
    base = Path(home) if home else Path.home()
    return base / ".cache" / "eae-sindy" / "jax"


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"warning: {message}", file=sys.stderr)


def _writable(path: Path) -> None:
    """Create ``path`` if needed and prove that a file can be written there (raises OSError)."""
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
        pass


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache; returns its directory, or ``None`` if off.

    ``directory`` defaults to :func:`cache_directory` (which honours
    ``$EAE_SINDY_COMPILATION_CACHE`` and ``$XDG_CACHE_HOME``). Call it before the first
    compilation of the process: JAX opens its cache once, at the first compilation after a
    directory is set. Never raises for an unusable directory: it warns once on stderr and leaves
    the cache off.
    """
    try:
        path = Path(directory).expanduser() if directory is not None else cache_directory()
    except RuntimeError as error:  # no home directory to put ~/.cache in
        _warn_once(f"no cache directory for compiled programs ({error}); compiling as usual")
        return None
    if path is None:
        return None
    try:
        _writable(path)
    except OSError as error:
        _warn_once(
            f"the compilation cache {path} is not writable ({error.strerror or error}); "
            f"compiling as usual (set {ENV_VAR} to another directory, or to 'off')"
        )
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
    # -1: no minimum size (0 would let JAX pick a filesystem-dependent minimum).
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path
