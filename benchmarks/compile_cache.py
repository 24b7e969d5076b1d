"""Compile time of ``python -m eae_sindy.discover`` without, then cold and warm with the
persistent compilation cache (``eae_sindy.compilation_cache``).

    python benchmarks/compile_cache.py            # quick preset: off, cold, warm
    python benchmarks/compile_cache.py --runs warm --cache DIR   # one more warm run on DIR

Each run is a fresh process running ``python -m eae_sindy.discover --out TMP --no-report --quiet``
with ``EAE_SINDY_COMPILATION_CACHE`` pointed at a fresh directory (``off`` for the run without).
JAX's own monitoring events separate the compile part: "XLA compile" sums
``/jax/core/compile/backend_compile_duration`` (an XLA compilation, or on a hit the load of the
executable from the cache), "trace + lower" the tracing to jaxprs and the lowering to MLIR
(which the cache does not save; it is what a warm run still pays). Wall is the whole run,
including the simulation of the data set and training.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_EVENTS = {
    "/jax/core/compile/backend_compile_duration": "xla_compile_s",
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
}


def _child(out: str, preset: str) -> None:
    """Run one discover in this process and print its timings as JSON on the last line."""
    import jax

    from eae_sindy.discover import main

    totals = dict.fromkeys(_EVENTS.values(), 0.0)
    counts = {"compilations": 0, "cache_hits": 0, "cache_misses": 0}
    slow: list[str] = []  # programs that XLA compiled (not loaded from the cache) in >= 1 s
    hit = [False]  # the cache-hit event comes just before its compilation's duration event

    def on_duration(event: str, duration: float, fun_name: str = "?", **_) -> None:
        if event in _EVENTS:
            totals[_EVENTS[event]] += duration
        if event == "/jax/core/compile/backend_compile_duration":
            counts["compilations"] += 1
            if not hit[0] and duration >= 1.0:
                slow.append(f"{fun_name} {duration:.1f} s")
            hit[0] = False

    def on_event(event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            counts["cache_hits"] += 1
            hit[0] = True
        elif event == "/jax/compilation_cache/cache_misses":
            counts["cache_misses"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    start = time.perf_counter()
    code = main(["--out", out, "--preset", preset, "--no-report", "--quiet"])
    wall = time.perf_counter() - start
    print(json.dumps({"exit_code": code, "wall_s": wall, **totals, **counts, "slow": slow}))


def _run(kind: str, cache: str, preset: str, workdir: Path) -> dict:
    env = dict(os.environ, EAE_SINDY_COMPILATION_CACHE=cache)
    out = workdir / f"run-{kind}"
    command = [sys.executable, __file__, "--child", str(out), "--preset", preset]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - start
    if done.returncode not in (0, 4):  # 4: ran but did not learn; the timings still stand
        sys.exit(f"{kind} run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"run": kind, "process_s": process_s, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"])
    parser.add_argument("--runs", default="off,cold,warm", help="comma-separated: off, cold, warm")
    parser.add_argument("--cache", help="cache directory (default: a fresh temporary one)")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.preset)
        return
    with tempfile.TemporaryDirectory(prefix="eae-compile-cache-") as tmp:
        workdir = Path(tmp)
        cache = args.cache or str(workdir / "jax-cache")
        rows = []
        for kind in args.runs.split(","):
            row = _run(kind, "off" if kind == "off" else cache, args.preset, workdir)
            rows.append(row)
            print(
                f"{kind:>5}: XLA compile {row['xla_compile_s']:6.2f} s "
                f"({row['compilations']} programs, {row['cache_hits']} cache hits, "
                f"{row['cache_misses']} written), trace + lower "
                f"{row['trace_s'] + row['lower_s']:5.2f} s, discover {row['wall_s']:6.1f} s, "
                f"process {row['process_s']:6.1f} s",
                flush=True,
            )
            if row["slow"]:
                print(f"       compiled in >= 1 s: {', '.join(row['slow'])}", flush=True)
        if Path(cache).is_dir():
            files = [p for p in Path(cache).iterdir() if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            print(f"cache: {len(files)} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
