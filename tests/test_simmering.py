"""Tests of the Simmering sampler (eae_sindy.simmering).

Three kinds (see STYLE.md): properties (pytrees, dtypes, jit = eager, limiting cases, input
validation), numerics (NHC conserved energy, dt² scaling, exact time reversal) and statistics
(harmonic variances, double-well density, kinetic temperature) with tolerances derived from the
number of independent replicates / the effective sample size. All seeds are fixed.

Ergodicity note. One global Nosé–Hoover chain coupled to many *uncoupled* degrees of freedom is
not ergodic: the thermostat rescales all velocities by the same factor, so the energy split
between modes (and each particle's energy in a double well) is nearly an adiabatic invariant.
Hence (a) the harmonic test treats every vmapped chain as one independent replicate whose
class-energy split is frozen from the initial Maxwell draw, and estimates the standard error
from the spread between chains; the thermostat timescale is chosen with τ·ω_min ≫ 1 because a
chain with τ·ω ≈ 1 resonantly drains slow modes (observed: variance of the k = 1 modes at 25 %
of T/k with τ = 1); (b) the double-well test runs one particle per chain (many vmapped chains),
where a chain of length 3 is ergodic enough to cross the barrier.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxprs import primitive_names

import eae_sindy.thermostats as thermostats
from eae_sindy.simmering import (
    SimmeringAlgorithm,
    SimmeringInfo,
    SimmeringState,
    sample,
    simmering,
)

Z = 5.0  # z-score bound of the statistical tests (two-sided p ≈ 6e-7 for a normal estimate)


# --------------------------------------------------------------------------------------------
# helpers


def _ess(x: np.ndarray) -> float:
    """Effective sample size of x: (chains, draws), pooled over chains.

    Autocorrelation averaged over chains, Geyer's initial positive sequence (as in blackjax/Stan,
    without the between-chain variance term because every chain is started the same way and we
    discard a burn-in).
    """
    c, n = x.shape
    x = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(x, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
    rho = acov.mean(axis=0) / acov.mean(axis=0)[0]
    pairs = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
    k = np.argmax(pairs <= 0) if np.any(pairs <= 0) else len(pairs)
    tau = -1.0 + 2.0 * np.sum(pairs[:k])
    return c * n / max(tau, 1.0 / math.log10(c * n))


def _boltzmann_bins(u, temperature, edges):
    """Exact bin probabilities of exp(−U/T) restricted to [edges[0], edges[-1]]."""
    fine = np.linspace(edges[0], edges[-1], 200_001)
    w = np.exp(-(u(fine) - u(fine).min()) / temperature)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(fine))])
    p = np.diff(np.interp(edges, fine, cdf))
    return p / p.sum()


def _harmonic_run(algo, k, per, chains, steps, burn, seed, start_temperature=None):
    """Per-chain means of x² for each stiffness class and of the kinetic temperature, of
    ``chains`` chains over ``per`` springs of each stiffness in ``k``, started at x = 0 or, with
    ``start_temperature`` T, from the law N(0, T/k) scaled by 1/2 (the chain must heat it)."""
    kvec = jnp.repeat(jnp.asarray(k, jnp.float32), per)

    def chain(key):
        if start_temperature is None:
            k_init, k_run = jax.random.split(key)
            x0 = jnp.zeros(kvec.shape, jnp.float32)
        else:
            k_x, k_init, k_run = jax.random.split(key, 3)
            x0 = 0.5 * jnp.sqrt(start_temperature / kvec) * jax.random.normal(k_x, kvec.shape)
        state = algo.init(x0, k_init)

        def body(carry, key):
            state, acc, kt = carry
            state, info = algo.step(state, kvec * state.position, key)
            on = (state.step > burn).astype(jnp.float32)
            # state.position is x_{n+1}; info is at x_n: both are averaged over steps > burn
            return (state, acc + on * state.position**2, kt + on * info.kinetic_temperature), None

        init = (state, jnp.zeros(kvec.shape), jnp.zeros(()))
        (state, acc, kt), _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
        n = steps - burn
        return (acc / n).reshape(len(k), per).mean(axis=1), kt / n, state

    keys = jax.random.split(jax.random.key(seed), chains)
    x2, kt, state = jax.jit(jax.vmap(chain))(keys)
    assert state.position.dtype == state.velocity.dtype == state.p_xi.dtype == jnp.float32
    assert not np.any(np.asarray(state.diverged))
    return np.asarray(x2, np.float64), np.asarray(kt, np.float64)


def _check_mean(estimates, truth, max_rel_se, label):
    """|mean − truth| ≤ Z·SE, with SE from independent replicates; SE itself must be small."""
    est = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / math.sqrt(estimates.shape[0])
    rel_se = se / truth
    assert np.all(rel_se < max_rel_se), f"{label}: too imprecise, relative SE {rel_se}"
    z = np.abs(est - truth) / se
    assert np.all(z < Z), f"{label}: estimate {est} vs truth {truth} (z = {z})"


# --------------------------------------------------------------------------------------------
# statistics


@pytest.mark.parametrize("thermostat", ["nose_hoover", "langevin"])
def test_harmonic_variances(thermostat):
    """U = ½ Σ k_i x_i², k ∈ {1, 10, 100}: ⟨x²⟩ per class ≈ T/k, started from x = 0."""
    temperature, mass, dt = 0.5, 1.0, 0.05
    k = np.array([1.0, 10.0, 100.0])
    algo = simmering(
        temperature, mass, dt, thermostat=thermostat, thermostat_timescale=10.0, friction=1.0
    )
    x2, kt = _harmonic_run(algo, k, per=1000, chains=16, steps=2500, burn=1000, seed=0)
    if thermostat == "nose_hoover":
        # The leapfrog map conserves ½mv² + ½kx²(1 − k dt²/4m), so at a kinetic temperature T
        # the sampled ⟨x²⟩ is T / (k (1 − k dt²/4m)) (+1.0 % for k = 100, 0.06 % for k = 1).
        truth = temperature / (k * (1.0 - k * dt**2 / (4.0 * mass)))
    else:
        truth = temperature / k  # BAOAB samples the configurational law of a quadratic exactly
    # 16 chains × 1000 modes per class: the frozen energy split gives SE ≈ √(2/16000) ≈ 1.1 %.
    _check_mean(x2, truth, max_rel_se=0.02, label=f"{thermostat} <x^2>")
    assert np.all(np.abs(x2.mean(axis=0) / truth - 1.0) < 0.05)
    # Kinetic temperature. NHC: the chain forces ⟨Σ m v²⟩ = N T; the residual is the tail of
    # the common start-up transient (thermostat period 2πτ/√2 ≈ 44 vs a 75-unit window), which
    # replicates cannot see, so the bound is an absolute 1 %. BAOAB: the velocity at the
    # synchronised point has an O(dt²) excess for stiff modes (≈ 2 % here), hence 4 %.
    bound = 0.01 if thermostat == "nose_hoover" else 0.04
    assert abs(kt.mean() / temperature - 1.0) < bound


@pytest.mark.parametrize("thermostat", ["nose_hoover", "langevin"])
def test_diagonal_mass_samples_the_same_measure(thermostat):
    """A mass per parameter (here m_i = k_i, every mode at the same frequency) changes the
    dynamics, not the measure: ⟨x²⟩ ≈ T/k per class and the kinetic temperature ≈ T."""
    temperature, dt = 0.5, 0.05
    k = np.array([1.0, 10.0, 100.0])
    mass = jnp.repeat(jnp.asarray(k, jnp.float32), 1000)
    algo = simmering(
        temperature, mass, dt, thermostat=thermostat, thermostat_timescale=10.0, friction=1.0
    )
    x2, kt = _harmonic_run(algo, k, per=1000, chains=16, steps=2500, burn=1000, seed=1)
    if thermostat == "nose_hoover":  # the leapfrog's shadow energy, with k dt²/4m = dt²/4
        truth = temperature / (k * (1.0 - dt**2 / 4.0))
    else:
        truth = temperature / k
    _check_mean(x2, truth, max_rel_se=0.02, label=f"{thermostat} diagonal-mass <x^2>")
    assert np.all(np.abs(x2.mean(axis=0) / truth - 1.0) < 0.05)
    assert abs(kt.mean() / temperature - 1.0) < (0.01 if thermostat == "nose_hoover" else 0.04)


@pytest.mark.parametrize(
    ("thermostat", "kwargs", "chains", "steps", "burn"),
    [
        ("nose_hoover", {"thermostat_timescale": 0.5}, 2048, 5000, 2500),
        ("langevin", {"friction": 1.0}, 1024, 3000, 1000),
    ],
)
def test_double_well_density(thermostat, kwargs, chains, steps, burn):
    """U = (x² − 1)², T = 1/3 (barrier/T = 3), all particles started in the right well.

    The burn-in covers ≈ 5 relaxation times of the well occupancy (measured: the mean sign
    decays by e in ≈ 500 NHC steps at τ = 0.5, faster with Langevin γ = 1).
    """
    temperature, dt, bins = 1.0 / 3.0, 0.1, 32
    algo = simmering(temperature, 1.0, dt, thermostat=thermostat, **kwargs)

    def chain(key):
        k_init, k_run = jax.random.split(key)
        state = algo.init(jnp.ones((1,), jnp.float32), k_init)

        def body(state, key):
            x = state.position
            state, _ = algo.step(state, 4.0 * x * (x * x - 1.0), key)
            return state, state.position[0]

        _, xs = jax.lax.scan(body, state, jax.random.split(k_run, steps))
        return xs[burn:]

    xs = np.asarray(jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(1), chains)))
    assert np.all(np.isfinite(xs))
    edges = np.linspace(-2.0, 2.0, bins + 1)
    exact = _boltzmann_bins(lambda x: (x**2 - 1.0) ** 2, temperature, edges)
    hist = np.histogram(np.clip(xs, -2.0, 2.0 - 1e-6), bins=edges)[0] / xs.size
    tv = 0.5 * np.abs(hist - exact).sum()
    # Effective sample size of the slowest observable (which well), and of x itself.
    n_eff = min(_ess(np.sign(xs)), _ess(xs))
    assert n_eff > 1000, f"ESS {n_eff:.0f} too small for the test to mean anything"
    # For multinomial counts with n_eff draws, E[TV] ≈ Σ_b √(p_b(1 − p_b)/n_eff)/√(2π); allow
    # 3× that plus 0.01 for the O(dt²) discretisation bias of the density and any burn-in tail.
    expected_noise = np.sum(np.sqrt(exact * (1.0 - exact) / n_eff)) / math.sqrt(2.0 * math.pi)
    bound = 3.0 * expected_noise + 0.01
    assert tv < bound, f"TV {tv:.4f} ≥ bound {bound:.4f} (n_eff {n_eff:.0f})"
    # A biased sampler at T = 0.5 (barrier/T = 2) would be rejected by this bound:
    wrong = _boltzmann_bins(lambda x: (x**2 - 1.0) ** 2, 0.5, edges)
    assert 0.5 * np.abs(wrong - exact).sum() > bound


# --------------------------------------------------------------------------------------------
# numerics


def _quartic(k):
    """Anharmonic, deterministic potential U = Σ ½ k x² + ¼ x⁴ and its gradient."""

    def potential(x):
        return jnp.sum(0.5 * k * x**2 + 0.25 * x**4)

    return potential, jax.grad(potential)


def test_conserved_energy_and_dt_squared_scaling():
    """H_ext is conserved up to O(dt²) fluctuations, without drift, over 4000 steps."""
    n, temperature, steps = 64, 0.5, 4000
    k = jnp.linspace(1.0, 4.0, n)
    potential, grad = _quartic(k)

    @jax.jit
    def trace(dt):  # dt is traced, so both step sizes share one compilation
        algo = simmering(
            temperature,
            1.0,
            dt,
            thermostat_timescale=0.5,
            chain_length=4,
            sy_order=3,
            chain_steps=2,
        )
        state = algo.init(jnp.full((n,), 0.5), jax.random.key(2))

        def body(state, _):
            x = state.position
            state, info = algo.step(state, grad(x), jax.random.key(0), potential=potential(x))
            return state, info.conserved_energy

        return jax.lax.scan(body, state, None, length=steps)[1]

    h1 = np.asarray(trace(jnp.float32(0.05)), np.float64)  # t = 200 ≈ 30 periods of ω = 1
    h2 = np.asarray(trace(jnp.float32(0.025)), np.float64)
    dev1 = np.abs(h1 - h1[0]).max() / (n * temperature)
    dev2 = np.abs(h2 - h2[0]).max() / (n * temperature)
    # Bound: velocity Verlet's energy error is ≈ (ω dt)²/8 of the oscillating energy; with
    # ω_max² ≈ 4 + 3x² ≈ 5 that is ≈ 1.6e-3 of N T at dt = 0.05; allow 2× that.
    assert dev1 < 3e-3, dev1
    # Second order: halving dt divides the fluctuation by ≈ 4 (float32 noise floor ≪ 1e-4).
    assert 3.0 < dev1 / dev2 < 5.5, (dev1, dev2)
    # No secular drift: the means of the first and last tenth agree to a fraction of the
    # fluctuation amplitude.
    tenth = steps // 10
    drift = abs(h1[-tenth:].mean() - h1[:tenth].mean()) / (n * temperature)
    assert drift < 0.5 * dev1, (drift, dev1)


@pytest.mark.parametrize(
    ("dtype", "atol"),
    [(jnp.float64, 1e-10), pytest.param(jnp.float32, 2e-3, id="float32", marks=pytest.mark.slow)],
)
def test_time_reversal(dtype, atol):
    """Run K steps, reverse v and p_ξ, run K steps again: back at the start.

    Between calls the state holds x_n and the velocity before the pending finish, so one call
    is Ψ = A∘M with M = B·NHC·NHC·B (palindromic) and A the drift x += dt·v. Reversibility of
    the Trotter splitting (R M R = M⁻¹, R A R = A⁻¹) gives Ψ⁻ᴷ = R A⁻¹ Ψᴷ A R, R = (v, p_ξ) ↦ −.
    In float64 this holds to 1e-10; in float32 rounding errors grow along the (chaotic)
    trajectory to ~1e-4 of each variable's range, hence the relative float32 tolerance.
    """
    dt, steps, n = 0.05, 200, 32
    with jax.enable_x64(dtype == jnp.float64):
        k = jnp.linspace(1.0, 4.0, n, dtype=dtype)
        _, grad = _quartic(k)
        algo = simmering(
            0.5, 1.0, dt, thermostat_timescale=0.5, chain_length=4, sy_order=3, chain_steps=2
        )
        state = algo.init(jnp.full((n,), 0.5, dtype), jax.random.key(3))
        state = state._replace(step=jnp.ones((), jnp.int32))  # pending state: calls finish a step

        @jax.jit
        def run(state):
            def body(state, _):
                return algo.step(state, grad(state.position), jax.random.key(0))[0], None

            return jax.lax.scan(body, state, None, length=steps)[0]

        def flip(s):
            return s._replace(velocity=-s.velocity, p_xi=-s.p_xi)

        def drift(s, sign):
            return s._replace(position=s.position + sign * dt * s.velocity)

        forward = run(state)
        back = flip(drift(run(drift(flip(forward), +1.0)), -1.0))
        assert forward.position.dtype == dtype
    assert np.abs(np.asarray(forward.position - state.position)).max() > 0.1  # it moved
    for field in ("position", "velocity", "xi", "p_xi"):
        a, b = np.asarray(getattr(back, field)), np.asarray(getattr(state, field))
        span = np.abs(np.asarray(getattr(forward, field))).max() + 1.0
        np.testing.assert_allclose(a, b, atol=atol * span, err_msg=field)


# --------------------------------------------------------------------------------------------
# properties


def _mixed_tree(key):
    k1, k2 = jax.random.split(key)
    return {
        "w": jax.random.normal(k1, (3, 4), jnp.float32),
        "b": jax.random.normal(k2, (5,), jnp.float32),
    }


def _tree_potential(tree):
    b = tree["b"]
    return 0.5 * jnp.sum(tree["w"] ** 2) + jnp.sum(jnp.cos(b)) + 0.1 * jnp.sum(b**4)


@pytest.mark.parametrize(
    "kw", [{"resample_every": 2}, {"thermostat": "langevin", "resample_every": 3}]
)
def test_jit_matches_eager_in_scan_for_mixed_pytree(kw):
    algo = simmering(0.3, 2.0, 0.05, **kw)
    assert isinstance(algo, SimmeringAlgorithm)
    grad = jax.grad(_tree_potential)
    state0 = algo.init(_mixed_tree(jax.random.key(4)), jax.random.key(5))
    keys = jax.random.split(jax.random.key(6), 6)

    eager, eager_infos = state0, []
    with jax.disable_jit():  # pure op-by-op evaluation, lax.cond and all
        for key in keys:
            eager, info = algo.step(
                eager, grad(eager.position), key, potential=_tree_potential(eager.position)
            )
            eager_infos.append(info)

    def body(state, key):
        return algo.step(
            state, grad(state.position), key, potential=_tree_potential(state.position)
        )

    scanned, infos = jax.jit(lambda s: jax.lax.scan(body, s, keys))(state0)
    assert isinstance(scanned, SimmeringState) and isinstance(infos, SimmeringInfo)
    assert jax.tree.structure(scanned.position) == jax.tree.structure(state0.position)
    for a, b in zip(jax.tree.leaves(scanned), jax.tree.leaves(eager), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(
        np.asarray(infos.kinetic_temperature),
        [float(i.kinetic_temperature) for i in eager_infos],
        rtol=2e-5,
    )
    # float32 in → float32 out, everywhere
    for leaf in jax.tree.leaves((scanned.position, scanned.velocity)):
        assert leaf.dtype == jnp.float32
    assert scanned.xi.dtype == scanned.p_xi.dtype == jnp.float32
    assert scanned.xi.shape == scanned.p_xi.shape == (3,)
    assert scanned.step.dtype == jnp.int32 and int(scanned.step) == 6
    assert scanned.diverged.dtype == jnp.bool_ and not bool(scanned.diverged)
    for field in infos:
        assert field.dtype in (jnp.float32, jnp.bool_)
    if kw.get("thermostat") == "langevin":
        assert np.all(np.isnan(np.asarray(infos.conserved_energy)))
    else:
        assert np.all(np.isfinite(np.asarray(infos.conserved_energy)))


def test_long_chain_loop_matches_unrolled(monkeypatch):
    """Long chains run their Suzuki–Yoshida sub-steps in a fori_loop: same numbers as unrolled."""
    grad = jax.grad(_tree_potential)
    kw = {"chain_length": 5, "sy_order": 5, "thermostat_timescale": 0.2}

    def run():
        algo = simmering(0.3, 2.0, 0.05, **kw)
        state = algo.init(_mixed_tree(jax.random.key(4)), jax.random.key(5))

        def body(state, _):
            return algo.step(state, grad(state.position), jax.random.key(0))[0], None

        return jax.jit(lambda s: jax.lax.scan(body, s, None, length=5)[0])(state)

    looped = run()  # 5 links × 5 weights = 25 link updates > the unroll limit
    monkeypatch.setattr(thermostats, "UNROLL_LIMIT", 10_000)
    unrolled = run()
    assert np.abs(np.asarray(looped.p_xi)).max() > 0  # the chain did something
    for a, b in zip(jax.tree.leaves(looped), jax.tree.leaves(unrolled), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_no_force_no_velocity_stays_put():
    """Zero gradient and zero velocity: the chain cannot heat a system at rest."""
    algo = simmering(1.0, 1.0, 0.1)
    x = _mixed_tree(jax.random.key(7))
    state = algo.init(x, jax.random.key(8))
    state = state._replace(velocity=jax.tree.map(jnp.zeros_like, x))
    zeros = jax.tree.map(jnp.zeros_like, x)
    step = jax.jit(algo.step)
    for i in range(5):
        state, info = step(state, zeros, jax.random.key(i))
        assert float(info.kinetic_temperature) == 0.0
    for a, b in zip(jax.tree.leaves(state.position), jax.tree.leaves(x), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_velocity_redraw():
    """From rest with no force, kinetic T is 0 until the re-draw at step 5, then ≈ T."""
    temperature, mass, n = 2.0, 0.5, 20_000
    algo = simmering(temperature, mass, 0.01, resample_every=5)
    state = algo.init(jnp.zeros((n,), jnp.float32), jax.random.key(9))
    state = state._replace(velocity=jnp.zeros((n,), jnp.float32))
    zeros = jnp.zeros((n,), jnp.float32)

    def body(state, key):
        state, info = algo.step(state, zeros, key)
        return state, (info.kinetic_temperature, state.velocity)

    keys = jax.random.split(jax.random.key(10), 6)
    _, (kt, v) = jax.jit(lambda s: jax.lax.scan(body, s, keys))(state)
    kt, v = np.asarray(kt, np.float64), np.asarray(v, np.float64)
    np.testing.assert_array_equal(kt[:5], 0.0)
    # Σ m v²/N of N fresh N(0, T/m) draws: relative SE √(2/N) = 1 %.
    assert abs(kt[5] / temperature - 1.0) < Z * math.sqrt(2.0 / n)
    # The velocity stored after the step is the draw scaled by one NHC half-step (≈ 1 here).
    assert abs(v[5].var() / (temperature / mass) - 1.0) < Z * math.sqrt(2.0 / n)
    assert abs(v[5].mean()) < Z * math.sqrt(temperature / mass / n)


@pytest.mark.parametrize("thermostat", ["nose_hoover", "langevin"])
def test_lockstep_chains_redraw_only_at_scheduled_steps(thermostat):
    """C chains vmapped with their common counter passed unbatched (``shared_step``): the
    re-draw stays a real branch (a cond in the program, not a select that draws on every step),
    it happens exactly at the steps n = k, 2k, ..., and each chain is the same chain run alone
    with the same keys."""
    chains, k, steps, n = 4, 3, 10, 2000
    algo = simmering(2.0, 0.5, 0.01, resample_every=k, thermostat=thermostat)
    zeros = jnp.zeros((n,), jnp.float32)  # no force: velocities only rescaled between re-draws
    init_keys = jax.random.split(jax.random.key(11), chains)
    step_keys = jax.random.split(jax.random.key(12), (steps, chains))

    def lockstep(state, keys):
        step = jax.vmap(lambda s, key, c: algo.step(s, zeros, key, shared_step=c), (0, 0, None))
        return step(state, keys, state.step[0])

    def run(step_fn, state, keys):
        def body(state, keys):
            new, info = step_fn(state, keys)
            return new, (state.velocity, new.velocity, info)

        return jax.lax.scan(body, state, keys)

    state0 = jax.vmap(algo.init, (None, 0))(zeros, init_keys)
    assert "cond" in primitive_names(jax.make_jaxpr(lockstep)(state0, step_keys[0]).jaxpr)
    final, (before, after, infos) = jax.jit(lambda s: run(lockstep, s, step_keys))(state0)
    np.testing.assert_array_equal(np.asarray(final.step), steps)

    # Between re-draws the new velocity is (nearly) proportional to the old one; a re-draw
    # replaces it by an independent draw (correlation ≈ 0 ± 1/√N).
    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    corr = np.array(
        [
            [np.corrcoef(b, a)[0, 1] for b, a in zip(bs, as_, strict=True)]
            for bs, as_ in zip(before, after, strict=True)
        ]
    )
    scheduled = np.array([i > 0 and i % k == 0 for i in range(steps)])
    assert np.all(np.abs(corr[scheduled]) < Z / math.sqrt(n)), corr
    assert np.all(corr[~scheduled] > 0.9), corr

    # The same as the batched counter (select path) and as each chain alone, same keys.
    def batched(state, keys):
        return jax.vmap(lambda s, key: algo.step(s, zeros, key))(state, keys)

    reference = jax.jit(lambda s: run(batched, s, step_keys))(state0)
    alone = [
        jax.jit(lambda s, keys: run(lambda s, key: algo.step(s, zeros, key), s, keys))(
            algo.init(zeros, init_keys[c]), step_keys[:, c]
        )
        for c in range(chains)
    ]
    alone = (  # chain axis: first in the final state, after the step axis in the trajectory
        jax.tree.map(lambda *a: np.stack(a), *[final for final, _ in alone]),
        jax.tree.map(lambda *a: np.stack(a, axis=1), *[trajectory for _, trajectory in alone]),
    )
    got = (final, (before, after, infos))
    for other in (reference, alone):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(other), strict=True):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            assert a.shape == b.shape
            scale = max(np.nanmax(np.abs(a), initial=0.0), 1e-12)
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * scale)


def test_temperature_schedule_anneals():
    """T drops from 1 to 0.1 at step 1500: late ⟨x²⟩ ≈ 0.1 / k, and info reports the schedule."""
    n, dt, k = 4000, 0.05, 4.0
    schedule = lambda step: jnp.where(step < 1500, 1.0, 0.1)  # noqa: E731
    algo = simmering(schedule, 1.0, dt, thermostat_timescale=3.0)
    state = algo.init(jnp.zeros((n,), jnp.float32), jax.random.key(11))
    assert abs(float(jnp.var(state.velocity)) - 1.0) < Z * math.sqrt(2.0 / n)  # drawn at T(0)

    def body(state, key):
        state, info = algo.step(state, k * state.position, key)
        return state, (jnp.mean(state.position**2), info.temperature, info.kinetic_temperature)

    _, (x2, temp, kt) = jax.jit(
        lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.key(12), 3000))
    )(state)
    x2, temp, kt = (np.asarray(a, np.float64) for a in (x2, temp, kt))
    np.testing.assert_allclose(temp[:1500], 1.0)
    np.testing.assert_allclose(temp[1500:], 0.1)
    hot, cold = x2[500:1500].mean(), x2[2500:].mean()
    shadow = 1.0 / (1.0 - k * dt**2 / 4.0)
    # Single global chain, 4000 modes of one frequency: frozen-split error √(2/4000) ≈ 2 %, plus
    # the tail of the cooling transient; 10 % is a stated engineering bound.
    assert abs(hot / (1.0 / k * shadow) - 1.0) < 0.1
    assert abs(cold / (0.1 / k * shadow) - 1.0) < 0.1
    assert abs(kt[2500:].mean() / 0.1 - 1.0) < 0.1


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        ((0.0, 1.0, 0.1), {}, "temperature"),
        ((-1.0, 1.0, 0.1), {}, "temperature"),
        ((1.0, 0.0, 0.1), {}, "mass"),
        ((1.0, 1.0, -0.1), {}, "step_size"),
        ((1.0, 1.0, float("nan")), {}, "step_size"),
        ((1.0, 1.0, 0.1), {"chain_length": 0}, "chain_length"),
        ((1.0, 1.0, 0.1), {"thermostat": "berendsen"}, "thermostat"),
        ((1.0, 1.0, 0.1), {"sy_order": 2}, "sy_order"),
        ((1.0, 1.0, 0.1), {"chain_steps": 0}, "chain_steps"),
        ((1.0, 1.0, 0.1), {"resample_every": 0}, "resample_every"),
        ((1.0, 1.0, 0.1), {"thermostat_timescale": 0.0}, "thermostat_timescale"),
        ((1.0, 1.0, 0.1), {"thermostat": "langevin", "friction": -1.0}, "friction"),
        ((1.0, 1.0, 0.1), {"max_omega_dt": 0.0}, "max_omega_dt"),
    ],
)
def test_bad_inputs_raise(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        simmering(*args, **kwargs)


@pytest.mark.parametrize("thermostat", ["nose_hoover", "langevin"])
def test_nan_gradient_sets_sticky_diverged(thermostat):
    algo = simmering(1.0, 1.0, 0.1, thermostat=thermostat)
    x = _mixed_tree(jax.random.key(13))
    grad = jax.grad(_tree_potential)
    step = jax.jit(algo.step)
    state = algo.init(x, jax.random.key(14))
    assert not bool(state.diverged)
    for i in range(3):
        state, info = step(state, grad(state.position), jax.random.key(i))
        assert not bool(info.diverged)
    bad = jax.tree.map(lambda g: g.at[0].set(jnp.nan), grad(state.position))
    state, info = step(state, bad, jax.random.key(3))
    assert bool(info.diverged) and bool(state.diverged)
    state, info = step(state, grad(state.position), jax.random.key(4))
    assert bool(state.diverged)  # sticky
    # caught at the very first step too, and a non-finite start position is flagged by init
    state0 = algo.init(x, jax.random.key(15))
    assert bool(step(state0, bad, jax.random.key(5))[0].diverged)
    assert bool(algo.init({"w": jnp.array([jnp.inf])}, jax.random.key(16)).diverged)


def test_paper_scale_float32():
    """T = 1e-4, m = 1e-6, dt = 1e-5, default τ = 100·dt, float32 throughout.

    k ∈ {100, 400, 1600} gives ω = √(k/m) ∈ {1e4, 2e4, 4e4}, i.e. ω dt ≤ 0.4 and ω τ ≥ 10.
    Positions start from the target law (scaled by 1/2, so the chain must heat the system) to
    avoid the start-up energy redistribution between uncoupled modes described in the module
    docstring (a few % at ω τ ≈ 10-20 when starting from x = 0).
    """
    temperature, mass, dt = 1e-4, 1e-6, 1e-5
    k = np.array([100.0, 400.0, 1600.0])
    truth = temperature / (k * (1.0 - k * dt**2 / (4.0 * mass)))
    algo = simmering(temperature, mass, dt)
    x2, kt = _harmonic_run(
        algo, k, per=1000, chains=16, steps=2000, burn=1000, seed=17, start_temperature=temperature
    )
    _check_mean(x2, truth, max_rel_se=0.02, label="paper-scale <x^2>")
    assert np.all(np.abs(x2.mean(axis=0) / truth - 1.0) < 0.05)
    assert abs(kt.mean() / temperature - 1.0) < 0.01


def test_sample_driver():
    grad = jax.grad(_tree_potential)
    x = _mixed_tree(jax.random.key(18))
    kw = dict(temperature=0.3, mass=1.0, step_size=0.05)
    traj = jax.jit(lambda x, key: sample(grad, x, 10, key, thin=3, **kw))(x, jax.random.key(19))
    assert traj["w"].shape == (3, 3, 4) and traj["b"].shape == (3, 5)
    assert traj["w"].dtype == jnp.float32
    # potential_fn alone: value_and_grad gives the same trajectory and a finite H_ext
    traj2, infos = sample(
        None,
        x,
        10,
        jax.random.key(19),
        thin=3,
        potential_fn=_tree_potential,
        return_info=True,
        **kw,
    )
    for a, b in zip(jax.tree.leaves(traj), jax.tree.leaves(traj2), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert infos.kinetic_temperature.shape == (3,)
    assert np.all(np.isfinite(np.asarray(infos.conserved_energy)))
    # entry i is the position after (i + 1)·thin steps: compare with a hand-driven loop
    algo = simmering(0.3, 1.0, 0.05)
    init_key, run_key = jax.random.split(jax.random.key(19))
    state = algo.init(x, init_key)
    keys = jax.random.split(run_key, 9)
    step = jax.jit(algo.step)
    for i in range(9):
        state, _ = step(state, grad(state.position), keys[i])
    np.testing.assert_allclose(
        np.asarray(traj["b"][2]), np.asarray(state.position["b"]), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="thin"):
        sample(grad, x, 10, jax.random.key(0), thin=0, **kw)


# --------------------------------------------------------------------------------------------
# a mass heavier along the stiffest directions (eae_sindy.stiffness)


def _rotated_quadratic(dim=32, n_stiff=4, seed=0):
    """U(x) = ½ Σ_i λ_i (q_iᵀx)²: ``n_stiff`` directions at λ = 400, the rest log-spaced in
    [1, 25], in a random orthonormal basis Q (columns q_i)."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    lam = np.concatenate([np.full(n_stiff, 400.0), np.geomspace(25.0, 1.0, dim - n_stiff)])
    hessian = (q * lam) @ q.T
    return jnp.asarray(hessian, jnp.float32), q, lam


def test_stiff_subspace_finds_the_stiffest_directions():
    from eae_sindy.stiffness import heavier_mass, stiff_subspace

    hessian, q, lam = _rotated_quadratic()
    x0 = {"w": jnp.zeros((32,), jnp.float32)}
    found = stiff_subspace(lambda p: 0.5 * p["w"] @ hessian @ p["w"], x0, 4, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(found.curvature), [400, 400, 400, 400, 25], rtol=1e-3)
    u = np.asarray(found.basis["w"], np.float64)  # (4, 32)
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)
    captured = np.linalg.norm(q[:, :4].T @ u.T, axis=0)  # the stiff span holds every u_k
    np.testing.assert_allclose(captured, 1.0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(heavier_mass(found.curvature)), 15.0, rtol=1e-3)


def test_stiff_subspace_mass_samples_the_same_measure_with_a_larger_step():
    """With M = m (I + 15 Σ_k u_k u_kᵀ) along the 4 directions at λ = 400, a step at which the
    plain mass is unstable (ω·dt = 20 · 0.12 = 2.4 > 2) samples exp(−U/T): ⟨(q_iᵀx)²⟩ equals
    the leapfrog's shadow value T/(λ_i (1 − ω_i²dt²/4)), ω_i² = λ_i/m_i, in every direction.
    Replicates: 128 independent chains; Z standard errors."""
    from eae_sindy.simmering import with_stiff_subspace

    hessian, q, lam = _rotated_quadratic()
    temperature, dt, steps, burn = 1.0, 0.12, 6000, 500
    factor = np.where(lam > 100, lam / 25.0 - 1.0, 0.0)[:4]
    basis = {"w": jnp.asarray(q[:, :4].T, jnp.float32)}
    q_dev = jnp.asarray(q, jnp.float32)

    def chain(key, stiff):
        algo = simmering(temperature, 1.0, dt, resample_every=5, thermostat_timescale=5.0)
        k_init, k_run = jax.random.split(key)
        state = algo.init({"w": jnp.zeros((32,), jnp.float32)}, k_init)
        if stiff:
            state = with_stiff_subspace(state, basis, jnp.asarray(factor, jnp.float32))

        def body(carry, key):
            state, acc = carry
            grads = {"w": hessian @ state.position["w"]}
            state, _ = algo.step(state, grads, key)
            on = (state.step > burn).astype(jnp.float32)
            return (state, acc + on * (q_dev.T @ state.position["w"]) ** 2), None

        init = (state, jnp.zeros((32,), jnp.float32))
        (state, acc), _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
        return acc / (steps - burn), state.diverged

    keys = jax.random.split(jax.random.key(3), 128)
    x2, diverged = jax.jit(jax.vmap(lambda k: chain(k, True)))(keys)
    assert not np.any(np.asarray(diverged))
    mass = np.concatenate([1.0 + factor, np.ones(28)])
    omega2 = lam / mass
    truth = temperature / (lam * (1.0 - omega2 * dt**2 / 4.0))
    _check_mean(np.asarray(x2, np.float64), truth, max_rel_se=0.05, label="stiff-mass <(q x)^2>")
    _, plain_diverged = jax.jit(jax.vmap(lambda k: chain(k, False)))(keys[:4])
    assert np.all(np.asarray(plain_diverged))  # the plain mass cannot take this step


@pytest.mark.parametrize(
    ("mass", "thermostat"),
    [(1.0, "langevin"), ({"w": jnp.ones((32,), jnp.float32)}, "nose_hoover")],
)
def test_stiff_subspace_on_an_unsupported_sampler_raises(mass, thermostat):
    """A stiff subspace needs the Nosé–Hoover thermostat and a scalar mass. The state carries
    it, so the pairing is made when such a state first meets ``step`` (while tracing)."""
    from eae_sindy.simmering import with_stiff_subspace

    _, q, _ = _rotated_quadratic()
    algo = simmering(1.0, mass, 0.1, thermostat=thermostat)
    state = algo.init({"w": jnp.zeros((32,), jnp.float32)}, jax.random.key(0))
    state = with_stiff_subspace(state, {"w": jnp.asarray(q[:, :2].T, jnp.float32)}, [1.0, 2.0])
    with pytest.raises(ValueError, match="stiff subspace"):
        jax.jit(algo.step)(state, state.position, jax.random.key(1))


def test_mass_metrics_match_the_dense_mass_matrix():
    """The stiff metric's vᵀMv, m M⁻¹g and velocity law N(0, T M⁻¹) against the dense
    M = m (I + Σ_k a_k u_k u_kᵀ); the diagonal metric's vᵀMv against Σ m v²."""
    from eae_sindy.mass_metrics import (
        diagonal_mass_metric,
        scalar_mass_metric,
        stiff_mass_metric,
    )

    _, q, _ = _rotated_quadratic(dim=6, n_stiff=2)
    m, a, temperature = 2.0, np.array([3.0, 0.5]), 0.7
    u = q[:, :2]
    dense = m * (np.eye(6) + u @ np.diag(a) @ u.T)
    like = {"w": jnp.zeros((6,), jnp.float32)}
    basis = {"w": jnp.asarray(u.T, jnp.float32)}
    scalar = scalar_mass_metric(m, like, jnp.float32)
    stiff = stiff_mass_metric(scalar, m, basis, a, jnp.float32)
    v = np.linspace(-1.0, 1.0, 6)
    g = np.cos(np.arange(6.0))
    ke2 = stiff.kinetic2({"w": jnp.asarray(v, jnp.float32)})
    np.testing.assert_allclose(float(ke2), v @ dense @ v, rtol=1e-5)
    force = stiff.force_direction({"w": jnp.asarray(g, jnp.float32)})["w"]
    np.testing.assert_allclose(np.asarray(force), m * np.linalg.solve(dense, g), atol=1e-5)

    draws = jax.vmap(lambda k: stiff.draw_velocity(k, like, jnp.float32(temperature))["w"])(
        jax.random.split(jax.random.key(0), 200_000)
    )
    covariance = np.cov(np.asarray(draws, np.float64), rowvar=False)
    # sampling error of a covariance entry ≈ T/m·√(2/n) ≈ 1e-3
    np.testing.assert_allclose(covariance, temperature * np.linalg.inv(dense), atol=5e-3)

    masses = {"w": jnp.asarray([0.5, 1.0, 2.0, 3.0, 4.0, 5.0], jnp.float32)}
    diagonal = diagonal_mass_metric(masses, jnp.float32)
    np.testing.assert_allclose(
        float(diagonal.kinetic2({"w": jnp.asarray(v, jnp.float32)})),
        np.sum(np.asarray(masses["w"]) * v**2),
        rtol=1e-5,
    )
