"""Lambda-omega reaction-diffusion simulator (pseudo-spectral ETDRK4) writing HDF5 data sets.

The system, on the periodic square [-L/2, L/2)^2 with r^2 = u^2 + v^2::

    u_t = (1 - r^2) u + beta r^2 v + d1 lap(u)
    v_t = -beta r^2 u + (1 - r^2) v + d2 lap(v)

In complex form w = u + i v (when d1 = d2 = d): w_t = (1 - (1 + i beta)|w|^2) w + d lap(w), so a
homogeneous state with |w| = 1 rotates as e^{-i beta t} and the plane wave
w = a e^{i(k.x - beta a^2 t)}, a^2 = 1 - d|k|^2, is an exact solution.

Arrays are indexed ``[iy, ix]`` (``numpy.meshgrid`` default 'xy' indexing, so axis 1 is x) and
snapshots are flattened in C order. See ``docs/simulator.md`` for the file schema and the CLI::

    python -m simulators.lambda_omega --out data.h5 [--n 100] [--snapshots 10000] ...
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .atomic_files import atomic_output
from .errors import DatasetError, SimulationError
from .hdf5_io import Dataset, HDF5Writer, read_dataset
from .spectral import LambdaOmegaSpectral

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_SUBSTEP",
    "MASK_WIDTH",
    "Dataset",
    "DatasetError",
    "SimulationError",
    "SimulationResult",
    "SnapshotChunk",
    "default_substeps",
    "gaussian_mask",
    "generate_dataset",
    "grid",
    "iter_snapshots",
    "main",
    "read_dataset",
    "simulate",
    "spiral_initial_condition",
    "write_hdf5",
]

# Largest internal ETDRK4 step used when ``substeps`` is not given: on the reference spiral its
# global error stays below the 1e-6 noise the reference adds and close to float32 resolution
# (measured: benchmarks/README.md; tests/test_simulator.py::test_convergence_order,
# docs/simulator.md).
DEFAULT_MAX_SUBSTEP = 0.025
# Mask f = exp(-MASK_WIDTH * (X^2 + Y^2)).
MASK_WIDTH = 0.01
# Snapshots per chunk produced by iter_snapshots / written to HDF5 at a time.
DEFAULT_CHUNK = 64
# Solvers: "numpy" (scipy.fft, spectral) or "jax" (jnp.fft under jit, spectral_jax; float64,
# on the default JAX device, i.e. a GPU when one is present). Same results to ~1e-14.
BACKENDS = ("numpy", "jax")
DEFAULT_BACKEND = "numpy"


# --------------------------------------------------------------------------------------------
# Grid, initial condition, mask
# --------------------------------------------------------------------------------------------
def grid(n: int, L: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (x, X, Y): 1-D coordinates linspace(-L/2, L/2, n+1)[:n] and the 2-D mesh."""
    _check_positive_int("n", n)
    if not L > 0:
        raise ValueError(f"L must be > 0, got {L}")
    x = np.linspace(-L / 2.0, L / 2.0, int(n) + 1)[: int(n)]
    X, Y = np.meshgrid(x, x)
    return x, X, Y


def spiral_initial_condition(n: int, L: float, *, m: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The m-armed spiral u = tanh(rho) cos(m theta - rho), v = tanh(rho) sin(m theta - rho)."""
    _, X, Y = grid(n, L)
    rho = np.hypot(X, Y)
    theta = np.arctan2(Y, X)
    amp = np.tanh(rho)
    phase = m * theta - rho
    return amp * np.cos(phase), amp * np.sin(phase)


def gaussian_mask(n: int, L: float, *, width: float = MASK_WIDTH) -> np.ndarray:
    """The mask f = exp(-width (X^2 + Y^2)) applied to u to form the model input x = f u."""
    _, X, Y = grid(n, L)
    return np.exp(-width * (X**2 + Y**2))


def default_substeps(dt: float, max_substep: float = DEFAULT_MAX_SUBSTEP) -> int:
    """Smallest number of equal substeps per snapshot interval with substep <= max_substep."""
    return max(1, math.ceil(dt / max_substep - 1e-9))


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotChunk:
    """Consecutive snapshots ``start : start + len(t)``; fields have shape (k, n, n)."""

    start: int
    t: np.ndarray
    u: np.ndarray
    v: np.ndarray
    u_t: np.ndarray
    v_t: np.ndarray


@dataclass
class SimulationResult:
    """All snapshots in memory: ``t`` (n_snapshots,), fields (n_snapshots, n, n) float64.

    ``params`` records L, d1, d2, beta, dt, substeps, n, n_snapshots and the integrator.
    """

    t: np.ndarray
    u: np.ndarray
    v: np.ndarray
    u_t: np.ndarray
    v_t: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_snapshots(self) -> int:
        return int(self.t.shape[0])

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (int(self.u.shape[1]), int(self.u.shape[2]))

    def __getitem__(self, key: str) -> Any:  # dict-style access for convenience
        return getattr(self, key)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_backend(backend: Any) -> str:
    if not isinstance(backend, str) or backend not in BACKENDS:
        names = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"backend must be one of {names}, got {backend!r}")
    return backend


def _validate(u0, v0, L, d1, d2, beta, dt, n_snapshots, substeps, chunk_size, backend):
    u0 = np.asarray(u0, dtype=np.float64)
    v0 = np.asarray(v0, dtype=np.float64)
    if u0.ndim != 2 or u0.shape[0] != u0.shape[1] or u0.shape != v0.shape:
        raise ValueError(f"u0 and v0 must be square (n, n) arrays, got {u0.shape}, {v0.shape}")
    if not (np.isfinite(u0).all() and np.isfinite(v0).all()):
        raise ValueError("u0 and v0 must be finite")
    for name, value in (("L", L), ("dt", dt)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    for name, value in (("d1", d1), ("d2", d2)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta!r}")
    _check_positive_int("n_snapshots", n_snapshots)
    _check_positive_int("chunk_size", chunk_size)
    _check_backend(backend)
    if substeps is None:
        substeps = default_substeps(dt)
    _check_positive_int("substeps", substeps)
    return u0, v0, int(substeps)


def iter_snapshots(
    u0: np.ndarray,
    v0: np.ndarray,
    *,
    L: float,
    d1: float = 0.1,
    d2: float = 0.1,
    beta: float = 1.0,
    dt: float = 0.05,
    n_snapshots: int,
    substeps: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    callback: Callable[[int, int], None] | None = None,
    backend: str = DEFAULT_BACKEND,
) -> Iterator[SnapshotChunk]:
    """Integrate from (u0, v0) and yield the snapshots in chunks of at most ``chunk_size``.

    Snapshot j is at t = j * dt (snapshot 0 is the initial condition). ``u_t``, ``v_t`` are the
    right-hand side evaluated spectrally at each snapshot (not differenced). Between snapshots
    the ETDRK4 stepper takes ``substeps`` equal steps (default :func:`default_substeps`).
    Memory is O(chunk_size * n^2), independent of ``n_snapshots``. ``callback(done, total)`` is
    called after each snapshot. Raises :class:`SimulationError` if the state becomes
    non-finite. ``backend`` is one of :data:`BACKENDS` (see :func:`_iter_snapshots_jax`).
    """
    u0, v0, substeps = _validate(
        u0, v0, L, d1, d2, beta, dt, n_snapshots, substeps, chunk_size, backend
    )
    physics = (L, d1, d2, beta, dt)
    yield from _snapshots(u0, v0, physics, n_snapshots, substeps, chunk_size, callback, backend)


def _snapshots(u0, v0, physics, n_snapshots, substeps, chunk_size, callback, backend):
    """:func:`iter_snapshots` on validated arguments, ``physics`` = (L, d1, d2, beta, dt)."""
    run = _iter_snapshots_jax if backend == "jax" else _iter_snapshots_numpy
    return run(u0, v0, physics, n_snapshots, substeps, chunk_size, callback)


def _iter_snapshots_numpy(u0, v0, physics, n_snapshots, substeps, chunk_size, callback):
    """The numpy backend of :func:`iter_snapshots` (arguments already validated)."""
    L, d1, d2, beta, dt = physics
    n = u0.shape[0]
    solver = LambdaOmegaSpectral(n, L, d1, d2, beta, dt / substeps)
    w_hat = solver.to_spectral(np.stack([u0, v0]))
    done = 0
    while done < n_snapshots:
        k = min(chunk_size, n_snapshots - done)
        t = np.arange(done, done + k, dtype=np.float64) * dt
        fields = np.empty((4, k, n, n), dtype=np.float64)  # u, v, u_t, v_t
        for j in range(k):
            # A blow-up is reported below as SimulationError, not as overflow warnings.
            with np.errstate(over="ignore", invalid="ignore"):
                if done + j > 0:
                    for _ in range(substeps):
                        w_hat = solver.step(w_hat)
                w, w_t = solver.rhs_physical(w_hat)
            if not (np.isfinite(w).all() and np.isfinite(w_t).all()):
                raise _non_finite(done + j, t[j])
            fields[0, j], fields[1, j] = w
            fields[2, j], fields[3, j] = w_t
            if callback is not None:
                callback(done + j + 1, n_snapshots)
        yield SnapshotChunk(done, t, fields[0], fields[1], fields[2], fields[3])
        done += k


def _non_finite(index: int, time: float) -> SimulationError:
    return SimulationError(
        f"non-finite state at snapshot {index} (t = {time:g}); "
        "check the parameters (d1, d2 >= 0, moderate initial amplitude)"
    )


def _iter_snapshots_jax(u0, v0, physics, n_snapshots, substeps, chunk_size, callback):
    """The JAX backend of :func:`iter_snapshots` (arguments already validated).

    Every jitted call computes ``min(chunk_size, n_snapshots)`` snapshots (the last chunk is
    padded and cut, so there is one compilation per grid, chunk size and substep count). The
    next chunk is dispatched before the current one is yielded, so the device computes while
    the caller writes; at most two chunks are alive on the device.
    """
    from .spectral_jax import LambdaOmegaSpectralJax  # jax is imported only when asked for

    L, d1, d2, beta, dt = physics
    solver = LambdaOmegaSpectralJax(u0.shape[0], L, d1, d2, beta, dt / substeps)
    k_call = min(chunk_size, n_snapshots)
    pending = solver.dispatch_chunk(solver.initial_state(u0, v0), k_call, substeps)
    done = 0
    while done < n_snapshots:
        w_hat, fields_dev = pending
        k = min(k_call, n_snapshots - done)
        if done + k < n_snapshots:
            pending = solver.dispatch_chunk(w_hat, k_call, substeps)
        fields = solver.fetch(fields_dev)[:, :k]
        t = np.arange(done, done + k, dtype=np.float64) * dt
        for j in range(k):
            if not np.isfinite(fields[:, j]).all():
                raise _non_finite(done + j, t[j])
            if callback is not None:
                callback(done + j + 1, n_snapshots)
        yield SnapshotChunk(done, t, fields[0], fields[1], fields[2], fields[3])
        done += k


def simulate(
    u0: np.ndarray,
    v0: np.ndarray,
    *,
    L: float,
    d1: float = 0.1,
    d2: float = 0.1,
    beta: float = 1.0,
    dt: float = 0.05,
    n_snapshots: int,
    substeps: int | None = None,
    callback: Callable[[int, int], None] | None = None,
    backend: str = DEFAULT_BACKEND,
) -> SimulationResult:
    """Integrate and return every snapshot in memory (see :func:`iter_snapshots`)."""
    u0, v0, substeps = _validate(u0, v0, L, d1, d2, beta, dt, n_snapshots, substeps, 1, backend)
    n = u0.shape[0]
    out = {k: np.empty((n_snapshots, n, n)) for k in ("u", "v", "u_t", "v_t")}
    t = np.empty(n_snapshots)
    physics = (L, d1, d2, beta, dt)
    chunks = _snapshots(u0, v0, physics, n_snapshots, substeps, DEFAULT_CHUNK, callback, backend)
    for chunk in chunks:
        sl = slice(chunk.start, chunk.start + len(chunk.t))
        t[sl] = chunk.t
        for key in out:
            out[key][sl] = getattr(chunk, key)
    params = _sim_params(n, L, d1, d2, beta, dt, n_snapshots, substeps, backend)
    return SimulationResult(t=t, params=params, **out)


def _sim_params(n, L, d1, d2, beta, dt, n_snapshots, substeps, backend) -> dict[str, Any]:
    return {
        "n": int(n),
        "L": float(L),
        "d1": float(d1),
        "d2": float(d2),
        "beta": float(beta),
        "dt": float(dt),
        "n_snapshots": int(n_snapshots),
        "substeps": int(substeps),
        "integrator": "ETDRK4 (Kassam-Trefethen contour coefficients), pseudo-spectral rfft2",
        "system": "lambda-omega reaction-diffusion",
        "backend": str(backend),
    }


# --------------------------------------------------------------------------------------------
# HDF5 output
# --------------------------------------------------------------------------------------------
class _ModelInput:
    """Maps (u, u_t) chunks to (x, dx) = (f u, f u_t) flattened, plus optional seeded noise.

    Noise uses two independent streams (for x and dx) spawned from ``SeedSequence(seed)`` and
    drawn row by row in snapshot order, so the file does not depend on the chunk size.
    """

    def __init__(self, n: int, L: float, *, mask: bool, noise_std: float, seed: int) -> None:
        self.f = gaussian_mask(n, L) if mask else None
        self.noise_std = float(noise_std)
        if not (np.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be finite and >= 0, got {noise_std!r}")
        sx, sdx = np.random.SeedSequence(int(seed)).spawn(2)
        self._rng_x = np.random.default_rng(sx)
        self._rng_dx = np.random.default_rng(sdx)

    def __call__(self, u: np.ndarray, u_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = u.shape[0]
        x = (u * self.f if self.f is not None else u).reshape(k, -1)
        dx = (u_t * self.f if self.f is not None else u_t).reshape(k, -1)
        if self.noise_std > 0:
            x = x + self.noise_std * self._rng_x.standard_normal(x.shape)
            dx = dx + self.noise_std * self._rng_dx.standard_normal(dx.shape)
        return x.astype(np.float32), dx.astype(np.float32)


def _file_attrs(params: Mapping[str, Any], n: int, L: float) -> dict[str, Any]:
    attrs = {
        "generator": "simulators.lambda_omega",
        "initial_condition": "spiral",
        "m": 1,
        "mask": True,
        "mask_width": MASK_WIDTH,
        "seed": 0,
        "noise_std": 0.0,
        "layout": "row = snapshot; features = field[iy, ix] flattened in C order (x fastest)",
        "x_definition": "x = mask * u (mask = exp(-mask_width (X^2 + Y^2)), or 1 if mask false)",
        "dx_definition": "dx = mask * u_t, u_t from the right-hand side (spectral Laplacian)",
    }
    attrs.update(params)
    attrs["n"] = int(n)
    attrs["L"] = float(L)
    return attrs


class _Layout(NamedTuple):
    """The shape and storage of a data-set file: n x n grid on [-L/2, L/2)^2, n_snapshots rows
    written in chunks of ``chunk_rows``, u and v stored or not, compression."""

    n: int
    L: float
    n_snapshots: int
    store_uv: bool
    compression: str | None
    chunk_rows: int


def _writer(tmp: Path, layout: _Layout, attrs: dict[str, Any], model: _ModelInput) -> HDF5Writer:
    """The :class:`HDF5Writer` of a data-set file, with its grid and ``model``'s mask."""
    x1, _, _ = grid(layout.n, layout.L)
    return HDF5Writer(
        tmp,
        n_snapshots=layout.n_snapshots,
        grid_shape=(layout.n, layout.n),
        attrs=attrs,
        grid_x=x1,
        grid_y=x1,
        mask=model.f,
        store_uv=layout.store_uv,
        compression=layout.compression,
        chunk_rows=layout.chunk_rows,
    )


def write_hdf5(
    path: str | os.PathLike,
    result: SimulationResult,
    *,
    params: Mapping[str, Any] | None = None,
    store_uv: bool = False,
    compression: str | None = None,
    force: bool = False,
) -> Path:
    """Write an in-memory :class:`SimulationResult` in the data-set schema (atomically).

    ``params`` are recorded as attributes on top of ``result.params``; the keys ``mask``
    (default True), ``noise_std`` (default 0) and ``seed`` (default 0) also control how x and dx
    are formed, exactly as in :func:`generate_dataset` (same parameters -> same file contents).
    """
    merged = {**result.params, **dict(params or {})}
    n = result.grid_shape[0]
    L = float(merged["L"])
    mask = bool(merged.get("mask", True))
    model = _ModelInput(
        n, L, mask=mask, noise_std=merged.get("noise_std", 0.0), seed=merged.get("seed", 0)
    )
    layout = _Layout(n, L, result.n_snapshots, store_uv, compression, DEFAULT_CHUNK)
    with atomic_output(path, force=force) as tmp:
        with _writer(tmp, layout, _file_attrs(merged, n, L), model) as writer:
            for start in range(0, result.n_snapshots, DEFAULT_CHUNK):
                sl = slice(start, min(start + DEFAULT_CHUNK, result.n_snapshots))
                x, dx = model(result.u[sl], result.u_t[sl])
                writer.write(start, result.t[sl], x, dx, result.u[sl], result.v[sl])
    return Path(path)


def generate_dataset(
    path: str | os.PathLike,
    *,
    n: int = 100,
    n_snapshots: int = 10000,
    dt: float = 0.05,
    L: float = 20.0,
    d1: float = 0.1,
    d2: float = 0.1,
    beta: float = 1.0,
    seed: int = 0,
    noise_std: float = 0.0,
    mask: bool = True,
    progress: bool = True,
    force: bool = False,
    store_uv: bool = False,
    compression: str | None = None,
    substeps: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    backend: str = DEFAULT_BACKEND,
) -> Path:
    """Simulate from the m = 1 spiral and stream x = f u, dx = f u_t into an HDF5 file.

    The file is written to a temporary name in the same directory and renamed at the end, so an
    interrupted run leaves nothing under ``path``. Raises ``FileExistsError`` if ``path`` exists
    and ``force`` is false. Peak memory is O(chunk_size * n^2), independent of n_snapshots.
    ``seed`` drives the optional N(0, noise_std^2) noise on x and dx (the reference uses 1e-6);
    the file is reproducible from its attributes. ``backend`` ("numpy" or "jax") picks the solver
    (:data:`BACKENDS`). Returns ``Path(path)``.
    """
    _check_backend(backend)
    _check_positive_int("n", n)
    _check_positive_int("n_snapshots", n_snapshots)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    model = _ModelInput(n, L, mask=mask, noise_std=noise_std, seed=seed)
    u0, v0 = spiral_initial_condition(n, L, m=1)
    substeps_eff = default_substeps(dt) if substeps is None else substeps
    params = _sim_params(n, L, d1, d2, beta, dt, n_snapshots, substeps_eff, backend)
    params.update(seed=int(seed), noise_std=float(noise_std), mask=bool(mask))
    layout = _Layout(n, L, n_snapshots, store_uv, compression, chunk_size)
    out = Path(path)
    with atomic_output(out, force=force) as tmp:
        bar = _progress_bar(n_snapshots, enabled=progress, desc=out.name)
        try:
            with _writer(tmp, layout, _file_attrs(params, n, L), model) as writer:
                for chunk in iter_snapshots(
                    u0,
                    v0,
                    L=L,
                    d1=d1,
                    d2=d2,
                    beta=beta,
                    dt=dt,
                    n_snapshots=n_snapshots,
                    substeps=substeps_eff,
                    chunk_size=chunk_size,
                    backend=backend,
                ):
                    x, dx = model(chunk.u, chunk.u_t)
                    writer.write(chunk.start, chunk.t, x, dx, chunk.u, chunk.v)
                    if bar is not None:
                        bar.update(len(chunk.t))
        finally:
            if bar is not None:
                bar.close()
    return out


def _progress_bar(total: int, *, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="snap", desc=desc, dynamic_ncols=True)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
CLI_HELP = (
    "Simulate the lambda-omega reaction-diffusion system from a spiral and write the masked "
    "field x = f*u and its time derivative dx to an HDF5 file (schema: docs/simulator.md)."
)
def _parser() -> argparse.ArgumentParser:
    """The CLI; every option's ``dest`` is the :func:`generate_dataset` argument it sets."""
    p = argparse.ArgumentParser(prog="python -m simulators.lambda_omega", description=CLI_HELP)
    p.add_argument("--out", dest="path", metavar="OUT", required=True, type=Path,
                   help="output HDF5 file")
    p.add_argument("--n", type=int, default=100, help="grid points per side (default 100)")
    p.add_argument("--snapshots", dest="n_snapshots", metavar="SNAPSHOTS", type=int,
                   default=10000, help="number of snapshots (10000)")
    p.add_argument("--dt", type=float, default=0.05, help="time between snapshots (0.05)")
    p.add_argument("--L", type=float, default=20.0, help="side of the periodic square (20)")
    p.add_argument("--d1", type=float, default=0.1, help="diffusion of u (0.1)")
    p.add_argument("--d2", type=float, default=0.1, help="diffusion of v (0.1)")
    p.add_argument("--beta", type=float, default=1.0, help="beta (1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the additive noise (0)")
    p.add_argument("--noise", dest="noise_std", metavar="NOISE", type=float, default=0.0,
                   help="std of additive Gaussian noise on x and dx (0; the reference uses 1e-6)")
    p.add_argument("--no-mask", dest="mask", action="store_false",
                   help="x = u instead of exp(-0.01 r^2) u")
    p.add_argument("--store-uv", action="store_true", help="also store the fields u and v")
    p.add_argument("--gzip", dest="compression", action="store_const", const="gzip",
                   help="gzip-compress the large datasets")
    p.add_argument("--substeps", type=int, default=None,
                   help=f"ETDRK4 steps per snapshot (default: substep <= {DEFAULT_MAX_SUBSTEP})")
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help=f"solver: {' or '.join(BACKENDS)} (jax uses a GPU when present; "
                   f"default {DEFAULT_BACKEND})")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 usage/overwrite error, 130 interrupt)."""
    args = _parser().parse_args(argv)
    if args.path.exists() and not args.force:
        print(f"error: {args.path} already exists; pass --force to overwrite", file=sys.stderr)
        return 2
    try:
        path = generate_dataset(**vars(args))
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, SimulationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; {args.path} was not written", file=sys.stderr)
        return 130
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
