"""Running one EAE over many devices and processes: the chain axis (and a ladder's temperature
axis) sharded with ``jax.sharding`` over every device of every process.

Multi-process JAX (one process per host, or per GPU) starts with :func:`initialize`, from explicit
flags (coordinator ``HOST:PORT``, number of processes, this process's id) or from a cluster
environment JAX detects (Slurm, Open MPI, Kubernetes, Cloud TPU). On CPU the processes talk through
gloo collectives. After that ``jax.devices()`` lists the devices of *all* processes and
:func:`global_mesh` lays them out as a mesh whose ``"chains"`` (and ``"temperatures"``) axes the
state is placed on by :func:`place_state`. Every process builds the same initial state from the
same seed, so placing it needs no communication: each process keeps only the slices its own
devices hold.

Arrays that span processes cannot be read whole by any one of them: :func:`gather` gives every
process the whole of small ones (a checkpoint); :func:`barrier` waits for all processes, and
:func:`is_main_process` picks the one that writes the run.

The layout does not change the result: a run sharded over N processes equals the single-process
run with the same seed and number of chains up to float32 summation order (the decoder gradient
sums over chains across devices). ``tests/test_distributed.py`` checks that with two processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "CHAINS",
    "TEMPERATURES",
    "add_arguments",
    "barrier",
    "cluster_detected",
    "gather",
    "global_mesh",
    "initialize",
    "initialize_from_args",
    "is_main_process",
    "place",
    "place_state",
    "state_specs",
]

CHAINS = "chains"
TEMPERATURES = "temperatures"


def cluster_detected() -> str | None:
    """The name of the multi-process cluster environment JAX would auto-detect here (Slurm with
    more than one task, Open MPI, Kubernetes, ...), or None. Uses JAX's cluster detection, which
    is not public API: None when it is unavailable."""
    try:
        from jax._src import clusters
    except ImportError:  # pragma: no cover - depends on the JAX version
        return None
    for env in getattr(clusters.ClusterEnv, "_cluster_types", ()):
        try:
            if getattr(env, "opt_in_only_method", False) or not env.is_env_present():
                continue
            if env.get_process_count() > 1:
                return getattr(env, "name", env.__name__)
        except Exception:  # noqa: BLE001 - a half-configured environment is no cluster
            continue
    return None


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    auto_detect: bool = True,
    local_device_ids: Sequence[int] | None = None,
    timeout_s: int = 300,
) -> bool:
    """Start multi-process JAX, before any other JAX call that touches a device.

    With ``coordinator`` (``HOST:PORT`` of process 0), ``num_processes`` and ``process_id`` all
    given, those are used. With none of them given and ``auto_detect``, a cluster environment JAX
    knows (:func:`cluster_detected`) supplies them; without one this is a no-op (one process).
    CPU processes use gloo collectives. Returns whether more than one process now takes part.

    Raises:
        ValueError: only some of the three flags were given, or they are out of range.
    """
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("--coordinator, --num-processes and --process-id go together")
    if not any(given):
        if not auto_detect or cluster_detected() is None:
            return False
        kwargs: dict[str, Any] = {}
    else:
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(
                f"need 0 <= process id < number of processes, got {process_id} of {num_processes}"
            )
        if num_processes == 1:
            return False
        kwargs = dict(
            coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
        )
    try:  # gloo is the default in recent JAX; older versions need asking
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception:  # noqa: BLE001 - option absent in this JAX version
        pass
    if local_device_ids is not None:
        kwargs["local_device_ids"] = list(local_device_ids)
    jax.distributed.initialize(**kwargs, initialization_timeout=timeout_s)
    return jax.process_count() > 1


def add_arguments(parser: Any) -> None:
    """Add ``--coordinator HOST:PORT``, ``--num-processes N`` and ``--process-id I`` to an
    ``argparse`` parser (see :func:`initialize_from_args`)."""
    group = parser.add_argument_group(
        "multi-process runs",
        "join N processes (one per host or GPU) into one run; all three together, or none to "
        "auto-detect a cluster (Slurm, Open MPI, Kubernetes) or run alone",
    )
    group.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    group.add_argument("--num-processes", type=int, metavar="N", help="processes in the run")
    group.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1")


def initialize_from_args(args: Any) -> bool:
    """:func:`initialize` from the flags of :func:`add_arguments`."""
    return initialize(args.coordinator, args.num_processes, args.process_id)


def is_main_process() -> bool:
    """Process 0: the one that assembles and writes the run."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier ``name`` (no-op for one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def global_mesh(num_rungs: int | None = None, num_chains: int | None = None) -> Mesh:
    """A mesh over all devices of all processes.

    Without ``num_rungs``: one axis, ``"chains"``. With it: axes ``("temperatures", "chains")``,
    the temperature axis as long as possible (the largest divisor of both the device count and
    ``num_rungs``), the rest of the devices on the chain axis. Raises ValueError when the devices
    cannot be split evenly over ``num_chains`` (chain counts must divide evenly)."""
    devices = np.array(jax.devices())
    n = devices.size
    if num_rungs is None:
        shape, names = (n,), (CHAINS,)
    else:
        rungs = math.gcd(n, num_rungs)
        shape, names = (rungs, n // rungs), (TEMPERATURES, CHAINS)
    chains = shape[-1]
    if chains > 1 and (num_chains is None or num_chains % chains):
        raise ValueError(
            f"{n} devices leave {chains} for the chain axis; the number of chains "
            f"({num_chains}) must be a multiple of it"
        )
    return Mesh(devices.reshape(shape), names)


def state_specs(state: Any, mesh: Mesh, *, ladder: bool = False) -> Any:
    """The :class:`~jax.sharding.PartitionSpec` of every leaf of an EAE state: the sampler's
    leading chain axis on ``"chains"``; for a ladder (every leaf with a leading rung axis) that
    axis on ``"temperatures"`` too; everything else replicated."""
    if not ladder:
        rung: tuple[str | None, ...] = ()
    else:
        rung = (TEMPERATURES if TEMPERATURES in mesh.axis_names else None,)

    def spec(chain_axis: bool):
        return P(*rung, CHAINS) if chain_axis else P(*rung)

    specs = jax.tree.map(lambda _: spec(False), state)
    return specs._replace(sampler=jax.tree.map(lambda _: spec(True), state.sampler))


def place(tree: Any, mesh: Mesh, specs: Any) -> Any:
    """Global arrays laid out by ``specs`` (a pytree of PartitionSpec) on ``mesh``, built from the
    full value that every process holds: each process keeps only the slices of its devices."""

    def one(value, spec):
        value = np.asarray(value)
        sharding = NamedSharding(mesh, spec)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    return jax.tree.map(one, tree, specs, is_leaf=lambda x: isinstance(x, P))


def place_state(state: Any, mesh: Mesh, *, ladder: bool = False) -> Any:
    """An EAE (or ladder) state placed on ``mesh`` (see :func:`state_specs`)."""
    return place(state, mesh, state_specs(state, mesh, ladder=ladder))


def gather(tree: Any) -> Any:
    """Every global array of ``tree`` whole, as numpy, in every process (an all-gather across
    processes: for small state such as a checkpoint, not for the collected ensemble)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)
