"""The sampler step that follows the measured curvature (``entropic_autoencoder(...,
max_omega_dt=...)``): the power-iteration estimate, the spike mechanism it prevents, and that
nothing changes where it is off or does not bind."""

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eae_sindy.eae import entropic_autoencoder, top_curvature
from eae_sindy.simmering import StiffSubspace, simmering

N = 40  # encoder parameters of the reduced problem
T = 1e-2
MASS = 1.0
DT = 0.1
LEARNING_RATE = 0.3
# curvatures a_i·e^d, log-spaced; the stiffest gives ω·dt = 0.6 at d = 0 (the paper's setting)
A = jnp.asarray(np.geomspace(0.01, 1.0, N) * (0.6 / DT) ** 2 * MASS, jnp.float32)


def _quadratic(eigenvalues, seed=0):
    """A symmetric matrix with the given spectrum and random eigenvectors."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return jnp.asarray(q @ np.diag(eigenvalues) @ q.T, jnp.float32), jnp.asarray(q, jnp.float32)


def test_power_iteration_finds_the_largest_eigenvalue():
    # λ_2/λ_1 = 0.5: the iterate's error along the second eigenvector shrinks by 0.5 per
    # product, and ‖Hv‖ = λ_1 (1 − O(0.25^k)); after 40 products only float32 rounding is left
    # (≈ 1e-6 relative), so 1e-4 is a loose bound. ‖Hv‖ ≤ λ_1 for a unit v.
    eigenvalues = np.array([10.0, 5.0, 4.0, 1.0, 0.5, -3.0, 0.1, 2.0])
    h, q = _quadratic(eigenvalues)
    loss = lambda p: 0.5 * (p["a"] @ h[:5, :5] @ p["a"] + 2 * p["a"] @ h[:5, 5:] @ p["b"]  # noqa: E731
                            + p["b"] @ h[5:, 5:] @ p["b"])
    point = {"a": jnp.ones(5), "b": jnp.ones(3)}
    start = {"a": jnp.arange(1.0, 6.0), "b": jnp.ones(3)}
    run = jax.jit(top_curvature, static_argnums=(0, 3))
    direction, value = run(loss, point, start, 40)
    assert abs(float(value) - 10.0) / 10.0 < 1e-4
    assert float(value) <= 10.0 * (1 + 1e-5)
    v = np.concatenate([direction["a"], direction["b"]])
    assert abs(abs(v @ np.asarray(q[:, 0])) - 1.0) < 1e-4
    # warm start: 20 + 20 products are the 40 products of one call
    half, _ = run(loss, point, start, 20)
    _, continued = run(loss, point, half, 20)
    np.testing.assert_allclose(float(continued), float(value), rtol=1e-5)
    # a cold start with few products underestimates (never over): the step control's target
    # ω·dt = 0.5 leaves a factor 16 in λ to the stability limit, and it warm-starts
    _, rough = run(loss, point, start, 2)
    assert 0.0 < float(rough) <= 10.0 * (1 + 1e-5)


def test_power_iteration_with_a_heavier_mass_sees_the_tamed_frequency():
    # M = m (I + a u uᵀ) along the top eigenvector u with a = 3: m M⁻¹H has eigenvalue
    # 10/(1 + 3) = 2.5 there, so the largest becomes the second, 5.
    eigenvalues = np.array([10.0, 5.0, 1.0, 0.5, 0.2])
    h, q = _quadratic(eigenvalues, seed=1)
    stiff = StiffSubspace(q[:, :1].T, jnp.array([3.0]))
    _, value = jax.jit(top_curvature, static_argnums=(0, 3))(
        lambda p: 0.5 * p @ h @ p, jnp.zeros(5), jnp.arange(1.0, 6.0), 60, stiff
    )
    assert abs(float(value) - 5.0) / 5.0 < 1e-3


def _sharpening_eae(max_omega_dt, inner_steps=50, num_chains=4):
    """The spike mechanism, reduced: U(φ; d) = ½ e^d Σ a_i φ_i² − c d. At equilibrium
    ⟨½ e^d Σ a φ²⟩ = N T/2, so with c = N T the decoder's free-energy gradient is −N T/2 < 0
    and Adam raises d steadily (≈ learning rate per outer iteration): every curvature e^d a_i
    grows, as the trained decoder sharpened the paper's encoder loss. (At learning rate 0.1 the
    fixed step spikes where ω·dt reaches 2, at the kinetic temperature T, and the spike's decoder
    gradient pushes d back: the paper's seed 1; at 0.3, used here, it diverges: seed 0.)"""

    def loss(enc, dec, batch):
        return 0.5 * jnp.exp(dec) * jnp.sum(A * enc**2) - N * T * dec

    sampler = simmering(T, MASS, DT, resample_every=5)
    return entropic_autoencoder(
        loss,
        sampler,
        optax.adam(LEARNING_RATE),
        lambda key: None,
        inner_steps,
        num_chains=num_chains,
        max_omega_dt=max_omega_dt,
    )


def _train(eae, num_outer):
    state = eae.init(jnp.zeros(N), jnp.zeros(()), jax.random.PRNGKey(3))
    step = jax.jit(eae.outer_step)
    infos, states = [], []
    for _ in range(num_outer):
        state, info = step(state)
        infos.append(jax.device_get(info))
        states.append(state)
    return infos, states


@pytest.fixture(scope="module")
def sharpening_runs():
    return {cap: _train(_sharpening_eae(cap), 30) for cap in (None, 0.5)}


def test_fixed_step_passes_the_stability_limit_and_diverges(sharpening_runs):
    infos, states = sharpening_runs[None]
    decoder = np.array([float(s.decoder) for s in states])
    omega_dt = np.sqrt(np.exp(decoder) * float(A.max()) / MASS) * DT
    crossed = int(np.argmax(omega_dt > 2.0))
    assert omega_dt[0] < 1.0 and crossed > 0, omega_dt  # it starts stable, then passes 2
    loss_max = np.array([i.loss_max for i in infos])
    exploded = ~np.isfinite(loss_max) | (loss_max > 1e3 * N * T)
    exploded |= np.array([bool(i.diverged) for i in infos])
    # iteration i samples at the decoder of state i − 1: up to iteration ``crossed`` ω·dt < 2
    assert not exploded[: crossed + 1].any()  # no spike while ω·dt < 2 ...
    assert exploded.all() or exploded[crossed + 1 :].any()  # ... and a blow-up once past it
    assert infos[-1].diverged  # (sticky: the run is lost)


def test_curvature_following_step_stays_stable_at_temperature(sharpening_runs):
    infos, states = sharpening_runs[0.5]
    assert not any(bool(i.diverged) for i in infos)
    decoder = float(states[-1].decoder)
    largest = np.exp(decoder) * float(A.max())
    assert np.sqrt(largest / MASS) * DT > 4.0  # the fixed step would be far past the limit
    # the estimate follows the true largest curvature (within the power iteration's slack)
    # and the step keeps ω·dt at the target for the estimate, ≤ the target for the truth
    est = np.array([i.curvature_max for i in infos])
    before = np.array([0.0] + [float(s.decoder) for s in states[:-1]])  # d at each estimate
    true = np.exp(before) * float(A.max())
    assert np.all(est <= true * (1 + 1e-4)) and np.all(est[10:] > 0.7 * true[10:]), est / true
    dt = np.array([i.step_size for i in infos])
    np.testing.assert_allclose(dt[5:], np.minimum(DT, 0.5 * np.sqrt(MASS / est[5:])), rtol=1e-5)
    assert np.all(np.sqrt(true / MASS) * dt < 0.65)
    # the kinetic temperature stays at T while the decoder sharpens the loss ×1.35 per iteration
    kinetic = np.array([i.kinetic_temperature for i in infos])
    assert abs(np.mean(kinetic[-20:]) / T - 1) < 0.1, kinetic
    # at the trained decoder (fixed), collection at the re-measured step samples exp(−U/T): the
    # configurational temperature ⟨φ·∇U⟩/N (= e^d Σ a φ²/N here) is T, as is the kinetic one.
    # 4 chains × 100 draws, 10 steps apart; the leapfrog's shadow variance at ω·dt ≤ 0.5 is at
    # most (1 − 0.5²/4)⁻¹ = 1.07 per direction, the statistical error a few per cent.
    eae = _sharpening_eae(0.5)
    state, draws = jax.jit(eae.collect, static_argnums=(1, 2))(states[-1], 100, 10)
    configurational = np.exp(decoder) * np.mean(np.sum(np.asarray(A) * np.asarray(draws) ** 2,
                                                       axis=-1)) / N
    assert abs(configurational / T - 1) < 0.12, configurational
    assert not bool(np.any(state.sampler.diverged))


def test_off_or_not_binding_changes_nothing():
    """``max_omega_dt`` None: no estimate in the state or the info, and the sampler is called
    exactly as before (no ``step_size``). A cap that never binds: the same run (keys and
    counters bit for bit; floats to the rounding of a traced rather than a compiled-in dt, a
    few ulp)."""
    off = _sharpening_eae(None, inner_steps=7, num_chains=3)
    loose = _sharpening_eae(1e6, inner_steps=7, num_chains=3)
    (info_off, *_), (state_off, *_) = _train(off, 1)
    assert state_off.curvature is None and info_off.step_size is None
    assert info_off.curvature_max is None
    runs = [_train(eae, 3)[1][-1] for eae in (off, loose)]
    assert runs[1].curvature is not None
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]._replace(curvature=None)),
                    strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
        else:
            np.testing.assert_array_equal(a, b)


def test_step_size_keyword_equals_the_configured_step():
    """``step_size=`` overrides dt for one call; given the configured value it is that step."""
    algo = simmering(1e-4, 1e-6, 1e-5, resample_every=3)
    x = {"w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(3, 4)}

    def run(dt):
        def body(state, key):
            grads = jax.tree.map(lambda p: 300.0 * p**3, state.position)
            kwargs = {} if dt is None else {"step_size": dt}
            return algo.step(state, grads, key, **kwargs)

        state = algo.init(x, jax.random.key(0))
        return jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 20))

    plain = jax.jit(lambda: run(None))()
    constant = jax.jit(lambda: run(1e-5))()  # the configured value, compiled in: bit for bit
    traced = jax.jit(run)(jnp.float32(1e-5))  # traced: the same to float32 rounding
    for a, b, c in zip(*map(jax.tree.leaves, (plain, constant, traced)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-5, atol=1e-9)
    halved = jax.jit(run)(jnp.float32(5e-6))
    assert not np.array_equal(np.asarray(halved[0].position["w"]),
                              np.asarray(plain[0].position["w"]))


def test_real_sindy_loss_does_not_stall(tmp_path):
    """The Hessian-vector products of the SINDy loss (a least-squares QR inside) over chains, in
    the jitted outer step and in collect: run in a subprocess with a time limit, since a batched
    second derivative of that QR stalled XLA:CPU with every thread idle."""
    script = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np, optax
        from eae_sindy.eae import entropic_autoencoder
        from eae_sindy.models import mlp_autoencoder
        from eae_sindy.simmering import simmering
        from eae_sindy.sindy import polynomial_sine_library, sindy_loss

        rng = np.random.default_rng(0)
        t = np.linspace(0, 12, 120)
        z = np.stack([np.cos(2 * t), np.sin(2 * t)], 1)
        lift = rng.normal(size=(2, 16))
        x = jnp.asarray(z @ lift, jnp.float32)
        dx = jnp.asarray(2 * np.stack([-z[:, 1], z[:, 0]], 1) @ lift, jnp.float32)
        model = mlp_autoencoder(16, 2, (8,), (8,), "elu")
        library = polynomial_sine_library(2, 3, include_sine=True)
        loss = sindy_loss(model.encode, model.decode, library, lambda_x=1.0, lambda_dx=20.0,
                          ridge=1e-6)

        def batch(key, data):
            i = jax.random.randint(key, (32,), 0, data["x"].shape[0])
            return {"x": data["x"][i], "dx": data["dx"][i]}

        eae = entropic_autoencoder(loss, simmering(1e-4, 1e-6, 1e-5, resample_every=5),
                                   optax.adam(3e-3), batch, 3, num_chains=2, max_omega_dt=0.5)
        data = {"x": x, "dx": dx}
        state = eae.init(*model.init(jax.random.key(0)), jax.random.key(1))
        step = jax.jit(eae.outer_step)
        for _ in range(2):
            state, info = step(state, data)
        assert np.isfinite(float(info.curvature_max)) and float(info.curvature_max) > 0
        assert 0 < float(info.step_size) <= 1e-5
        state, _ = jax.jit(eae.collect, static_argnums=(1, 2))(state, 2, 2, data)
        assert np.all(np.isfinite(np.asarray(state.curvature.value)))
        print("ok", float(info.curvature_max), float(info.step_size))
        """
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")
