"""The JAX backend of the lambda-omega simulator agrees with the numpy solver (local float64)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from simulators import (
    SimulationError,
    iter_snapshots,
    read_dataset,
    simulate,
    spiral_initial_condition,
)
from simulators import lambda_omega as lo

FIELDS = ("u", "v", "u_t", "v_t")


def test_jax_snapshots_agree_with_numpy_fields_and_derivatives():
    n, L = 24, 20.0
    u0, v0 = spiral_initial_condition(n, L)
    kw = dict(L=L, d1=0.1, d2=0.07, beta=1.2, dt=0.1, n_snapshots=40, substeps=3)
    ref = simulate(u0, v0, **kw)
    res = simulate(u0, v0, **kw, backend="jax")
    np.testing.assert_array_equal(res.t, ref.t)
    for key in FIELDS:
        assert res[key].dtype == np.float64 and res[key].shape == (40, n, n)
        err = np.abs(res[key] - ref[key]).max()
        assert err < 1e-6, (key, err)  # measured ~1e-14: same scheme in float64
    assert res.params == {**ref.params, "backend": "jax"}
    assert jnp.zeros(1).dtype == jnp.float32  # x64 was enabled only inside the simulator


def test_jax_solver_state_and_fields_are_float64():
    from simulators.spectral_jax import LambdaOmegaSpectralJax

    s = LambdaOmegaSpectralJax(8, 20.0, 0.1, 0.1, 1.0, 0.05)
    w_hat = s.initial_state(*spiral_initial_condition(8, 20.0))
    w_end, fields = s.dispatch_chunk(w_hat, 3, 2)
    assert w_hat.dtype == w_end.dtype == jnp.complex128 and fields.shape == (4, 3, 8, 8)
    assert s.fetch(fields).dtype == np.float64 and s.ops.e.dtype == jnp.float64


def test_jax_chunks_padding_and_callback_match_numpy():
    n, L = 16, 20.0
    u0, v0 = spiral_initial_condition(n, L)
    calls = []
    kw = dict(L=L, n_snapshots=11, chunk_size=4)
    chunks = list(iter_snapshots(u0, v0, **kw, backend="jax", callback=lambda *a: calls.append(a)))
    assert [c.start for c in chunks] == [0, 4, 8] and [len(c.t) for c in chunks] == [4, 4, 3]
    assert calls == [(i, 11) for i in range(1, 12)]
    ref = list(iter_snapshots(u0, v0, **kw))
    for key in FIELDS:
        got = np.concatenate([getattr(c, key) for c in chunks])
        np.testing.assert_allclose(got, np.concatenate([getattr(c, key) for c in ref]), atol=1e-6)
    np.testing.assert_allclose(chunks[0].u[0], u0, atol=1e-14)  # snapshot 0 is the IC


def test_jax_blow_up_raises_simulation_error():
    big, zero = np.full((8, 8), 1e4), np.zeros((8, 8))
    with pytest.raises(SimulationError, match="non-finite state at snapshot 1 "):
        simulate(big, zero, L=20.0, n_snapshots=50, backend="jax")


@pytest.mark.parametrize("bad", ["cuda", "JAX", None])
def test_bad_backend_is_a_value_error_naming_it(bad, tmp_path):
    u0, v0 = spiral_initial_condition(8, 20.0)
    with pytest.raises(ValueError, match=f"backend must be one of 'numpy', 'jax', got {bad!r}"):
        simulate(u0, v0, L=20.0, n_snapshots=2, backend=bad)
    with pytest.raises(ValueError, match="backend"):
        next(iter_snapshots(u0, v0, L=20.0, n_snapshots=2, backend=bad))
    with pytest.raises(ValueError, match="backend"):
        lo.generate_dataset(tmp_path / "d.h5", n=8, n_snapshots=2, progress=False, backend=bad)
    assert list(tmp_path.iterdir()) == []


def test_cli_backend_flag(tmp_path, capsys):
    out = tmp_path / "j.h5"
    base = ["--out", str(out), "--n", "8", "--snapshots", "5", "--quiet"]
    assert lo.main([*base, "--backend", "cuda"]) == 2
    assert "'cuda'" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    assert lo.main([*base, "--backend", "jax"]) == 0
    ds = read_dataset(out)
    assert ds.attrs["backend"] == "jax" and ds.x.shape == (5, 64)
    ref = lo.generate_dataset(tmp_path / "n.h5", n=8, n_snapshots=5, progress=False)
    np.testing.assert_allclose(ds.dx, read_dataset(ref).dx, atol=1e-6)
    assert read_dataset(ref).attrs["backend"] == "numpy"
