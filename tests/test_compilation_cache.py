"""The persistent compilation cache: where it lives, how it is turned off, and that a second
process loads what the first one compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import eae_sindy.compilation_cache as cc
import eae_sindy.discover as discover_module

# --- the directory ---------------------------------------------------------------------------


def test_default_is_home_cache():
    assert cc.cache_directory({"HOME": "/home/u"}) == Path("/home/u/.cache/eae-sindy/jax")


def test_xdg_cache_home():
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/var/cache/u"}
    assert cc.cache_directory(env) == Path("/var/cache/u/eae-sindy/jax")


@pytest.mark.parametrize("xdg", ["", "  ", "relative/dir"])
def test_empty_or_relative_xdg_is_ignored(xdg):
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": xdg}
    assert cc.cache_directory(env) == Path("/home/u/.cache/eae-sindy/jax")


def test_env_var_overrides_xdg():
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/x", cc.ENV_VAR: "/scratch/jax-cache"}
    assert cc.cache_directory(env) == Path("/scratch/jax-cache")
    assert cc.cache_directory({"HOME": "/home/u", cc.ENV_VAR: "~/c"}) == Path("~/c").expanduser()


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no", " off "])
def test_env_var_disables(value):
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/x", cc.ENV_VAR: value}
    assert cc.cache_directory(env) is None


def test_disabled_enable_does_nothing(monkeypatch):
    monkeypatch.setenv(cc.ENV_VAR, "off")
    assert cc.enable_compilation_cache() is None


def test_unwritable_directory_warns_once_and_continues(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cc, "_warned", False)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cc.enable_compilation_cache(blocker / "jax") is None  # cannot mkdir under a file
    assert cc.enable_compilation_cache(blocker / "jax") is None
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and str(blocker / "jax") in err and cc.ENV_VAR in err


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("flag, calls", [([], 1), (["--no-compilation-cache"], 0)])
def test_cli_enables_the_cache_unless_told_not_to(tmp_path, monkeypatch, flag, calls):
    seen = []
    monkeypatch.setattr(discover_module, "enable_compilation_cache", lambda: seen.append(1))
    missing = tmp_path / "missing.json"  # refused before anything is compiled or written
    code = discover_module.main(["--config", str(missing), "--out", str(tmp_path / "o"), *flag])
    assert code == 2 and len(seen) == calls


# --- two processes -----------------------------------------------------------------------------

_PROGRAM = """
import json, jax, jax.numpy as jnp
from eae_sindy.compilation_cache import enable_compilation_cache
hits = []
jax.monitoring.register_event_listener(
    lambda event, **_: hits.append(event) if event.endswith("/cache_hits") else None)
path = enable_compilation_cache()
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum(axis=0) + 1.0)
f(jnp.ones((16, 16))).block_until_ready()
print(json.dumps({"path": str(path), "hits": len(hits)}))
"""


def _run(cache: Path) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env[cc.ENV_VAR] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_compiled_program(tmp_path):
    cache = tmp_path / "cache"
    first = _run(cache)
    assert first == {"path": str(cache), "hits": 0}
    entries = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert any(name.startswith("jit_") for name in entries), entries
    second = _run(cache)
    assert second["hits"] >= 1
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == entries
