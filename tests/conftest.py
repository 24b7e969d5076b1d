"""Shared pytest configuration: CPU, float32, and a non-interactive matplotlib backend."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
