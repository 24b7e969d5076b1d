"""Shared pytest configuration: CPU, float32, and a non-interactive matplotlib backend."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# the tests never write the user's compilation cache (tests/test_compilation_cache.py points it
# at temporary directories itself)
os.environ.setdefault("EAE_SINDY_COMPILATION_CACHE", "off")
