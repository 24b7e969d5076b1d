"""Tests of the temperature ladder (``eae_sindy.eae.temperature_ladder``): K independent EAEs, one
per temperature, vmapped over a leading temperature axis with the encoder chains nested inside.

(a) faithfulness: rung k of a K = 2 ladder follows the single-temperature EAE at T_k started from
the same key and parameters (also with an annealing schedule); (b) statistics: on a quadratic
encoder loss the collected encoder variance is T/a on every rung, so it grows with T, and each
rung matches a separate single-temperature EAE run with an independent key (two-sample test);
(c) shapes, axes, independence of the rungs, one compiled program, input validation. Small
problems only (each compiled program costs 1–3 s on two CPU cores; the two statistical tests
take ≈ 5 s and ≈ 10 s there).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from eae_sindy.eae import EAEState, IterationInfo, entropic_autoencoder, temperature_ladder
from eae_sindy.simmering import simmering

Z = 5.0  # z-score bound of the statistical test (two-sided p ≈ 6e-7 for a normal estimate)

# --------------------------------------------------------------------------------------------
# a linear autoencoder: x ∈ R^6 with a rank-2 signal, encoder W (6×2), decoder V (2×6)

N_FEATURES, LATENT, INNER = 6, 2, 4
TEMPERATURES = (1e-3, 1e-2)


def _linear_data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(128, LATENT))
    x = z @ rng.normal(size=(LATENT, N_FEATURES)) + 0.05 * rng.normal(size=(128, N_FEATURES))
    return jnp.asarray(x, jnp.float32)


X = _linear_data()


def _linear_loss(enc, dec, batch):
    return jnp.mean((batch @ enc["W"] @ dec["V"] + dec["c"] - batch) ** 2)


def _sample_batch(key):
    return X[jax.random.randint(key, (16,), 0, X.shape[0])]


def _linear_params():
    k_enc, k_dec = jax.random.split(jax.random.PRNGKey(0))
    enc = {"W": 0.3 * jax.random.normal(k_enc, (N_FEATURES, LATENT), jnp.float32)}
    dec = {
        "V": 0.3 * jax.random.normal(k_dec, (LATENT, N_FEATURES), jnp.float32),
        "c": jnp.zeros((N_FEATURES,), jnp.float32),
    }
    return enc, dec


def _linear_build(temperature, num_chains=2, resample_every=3):
    """The single-temperature EAE: NHC, by default with velocity re-draws (the re-draw branch
    then runs under the temperature vmap too)."""
    return entropic_autoencoder(
        _linear_loss,
        simmering(temperature, 1e-2, 1e-2, resample_every=resample_every),
        optax.adam(1e-2),
        _sample_batch,
        INNER,
        num_chains=num_chains,
    )


def _assert_close(reference, result, rtol=1e-4):
    """Equal up to float32 rounding of the batched computation, each array on its own scale
    (different keys or temperatures differ at order one on this measure)."""
    ref_leaves, res_leaves = jax.tree.leaves(reference), jax.tree.leaves(result)
    assert len(ref_leaves) == len(res_leaves)
    for a, b in zip(ref_leaves, res_leaves, strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape
        assert np.max(np.abs(a - b), initial=0.0) <= rtol * max(np.max(np.abs(a)), 1e-12)


@pytest.fixture(scope="module")
def ladder_run():
    """A K = 2 ladder (2 chains per rung) and its states after 0..3 outer iterations."""
    ladder = temperature_ladder(_linear_build, TEMPERATURES)
    key = jax.random.PRNGKey(7)
    state = ladder.init(*_linear_params(), key)
    step = jax.jit(ladder.outer_step)
    states, infos = [state], []
    for _ in range(3):
        state, info = step(state)
        states.append(state)
        infos.append(info)
    return ladder, key, states, infos


# --------------------------------------------------------------------------------------------
# (a) faithfulness


def test_each_rung_follows_its_single_temperature_eae(ladder_run):
    ladder, key, states, infos = ladder_run
    rung_keys = jax.random.split(key, len(TEMPERATURES))
    for k, temperature in enumerate(TEMPERATURES):
        eae = _linear_build(temperature)
        state = eae.init(*_linear_params(), rung_keys[k])
        # Same start: parameters, key and counters exactly, velocities drawn at T_k (to 1 ulp).
        _assert_close(state, ladder.rung(states[0], k), rtol=1e-6)
        np.testing.assert_array_equal(state.key, ladder.rung(states[0], k).key)
        step = jax.jit(eae.outer_step)
        for i in range(3):
            state, info = step(state)
            _assert_close(state, ladder.rung(states[i + 1], k))
            _assert_close(info, jax.tree.map(lambda a, k=k: a[k], infos[i]))
        assert int(state.iteration) == 3


def test_annealed_rung_follows_a_scheduled_sampler():
    """``anneal(T_k, i)`` at outer iteration i is the sampler schedule T(n) = anneal(T_k, n // M)
    of a single EAE (n = the sampler's step counter, M inner steps per outer iteration)."""

    def anneal(t, i):
        return t * (1.0 + 9.0 * 0.5**i)  # from 10 T_k down towards T_k

    def build(temperature):  # no re-draws: a smaller program to compile
        return _linear_build(temperature, resample_every=None)

    ladder = temperature_ladder(build, TEMPERATURES, anneal=anneal)
    key = jax.random.PRNGKey(3)
    state = ladder.init(*_linear_params(), key)
    np.testing.assert_allclose(ladder.temperature(state), 10 * np.array(TEMPERATURES), rtol=1e-6)
    step = jax.jit(ladder.outer_step)
    for _ in range(3):
        state, _ = step(state)
    np.testing.assert_allclose(
        ladder.temperature(state), np.array(TEMPERATURES) * (1 + 9 * 0.5**3), rtol=1e-6
    )
    k, temperature = 1, TEMPERATURES[1]
    single = build(lambda n: anneal(temperature, n // INNER))
    alone = single.init(*_linear_params(), jax.random.split(key, 2)[k])
    single_step = jax.jit(single.outer_step)
    for _ in range(3):
        alone, _ = single_step(alone)
    _assert_close(alone, ladder.rung(state, k))


# --------------------------------------------------------------------------------------------
# (b) statistics: the encoder variance grows with T; each rung matches a separate EAE at its T

QUADRATIC_A, QUADRATIC_DIM, QUADRATIC_CHAINS = 4.0, 32, 4
QUADRATIC_TEMPERATURES = (0.05, 0.2, 0.8)


def _quadratic_loss(enc, dec, batch):
    """U(w; b) = ½ a |w − b|² + ½ |b|²: separable over the coordinates of w and b."""
    a = QUADRATIC_A
    return 0.5 * a * jnp.sum((enc["w"] - dec["b"]) ** 2) + 0.5 * jnp.sum(dec["b"] ** 2)


def _quadratic_build(temperature):
    """BAOAB Langevin (m = 1, dt = 0.1, γ = 1), 20 inner steps, Adam(1e-2) on the decoder."""
    sampler = simmering(temperature, 1.0, 0.1, thermostat="langevin", friction=1.0)
    return entropic_autoencoder(
        _quadratic_loss,
        sampler,
        optax.adam(1e-2),
        lambda key: None,
        20,
        num_chains=QUADRATIC_CHAINS,
    )


def _quadratic_params(b0):
    """w = 0 and b = b0 on every coordinate."""
    zeros = jnp.zeros((QUADRATIC_DIM,), jnp.float32)
    return {"w": zeros}, {"b": zeros + b0}


def test_encoder_variance_is_t_over_a_on_every_rung():
    """U(w; b) = ½ a |w − b|² + ½ |b|², w ∈ R^32: at a fixed decoder b the encoder law is
    N(b, T/a) per coordinate, and BAOAB samples a quadratic's configurational law exactly.

    The decoder stays at b = 0 (only ``collect`` runs: one compiled program); a first
    collection of 2500 steps (250 time units ≫ 1/γ) is the burn-in. Per rung: 4 chains × 32
    coordinates = 128 independent replicates (independent noise, no coupling), each the mean of
    (w − b)² over 100 draws thinned by 25 steps (2.5 time units against a position correlation
    time ≈ 2/γ = 2). The SE of each rung's estimate is taken
    from the spread of the replicates (≈ √(2/12800) ≈ 1.3 % of T/a if the draws were
    independent); the estimate must be within Z SE of T/a, and the rungs strictly ordered."""
    a, temperatures = QUADRATIC_A, QUADRATIC_TEMPERATURES
    ladder = temperature_ladder(_quadratic_build, temperatures)
    state = ladder.init(*_quadratic_params(0.0), jax.random.PRNGKey(11))
    collect = jax.jit(ladder.collect, static_argnums=(1, 2))
    state, _ = collect(state, 100, 25)  # burn-in
    state, samples = collect(state, 100, 25)
    assert not np.any(np.asarray(state.sampler.diverged))
    w = np.asarray(samples["w"], np.float64)  # (K, draws, chains, dim)
    b = np.asarray(state.decoder["b"], np.float64)[:, None, None, :]
    replicates = ((w - b) ** 2).mean(axis=1).reshape(len(temperatures), -1)  # (K, 128)
    estimate = replicates.mean(axis=1)
    se = replicates.std(axis=1, ddof=1) / math.sqrt(replicates.shape[1])
    truth = np.asarray(temperatures) / a
    assert np.all(se / truth < 0.03), se / truth
    assert np.all(np.abs(estimate - truth) < Z * se), (estimate, truth, se)
    assert np.all(np.diff(estimate) > 0), estimate


def _welch(x, y):
    """Welch's two-sample t: (mean x − mean y) / √(SE_x² + SE_y²), each SE² = var/n from the
    spread of the replicates, and the Welch–Satterthwaite degrees of freedom."""
    se2_x, se2_y = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    t = (x.mean() - y.mean()) / math.sqrt(se2_x + se2_y)
    df = (se2_x + se2_y) ** 2 / (se2_x**2 / (x.size - 1) + se2_y**2 / (y.size - 1))
    return t, df


def test_each_rung_matches_a_separate_single_temperature_eae_statistically():
    """Two-sample test: rung k of the ladder (key PRNGKey(5)) against ``build(T_k)`` run on its
    own with an independent key (PRNGKey(1000 + k)), on the quadratic toy with the decoder
    trained: start w = 0, b = 1; 125 outer iterations (2500 steps = 250 time units, Adam moves
    b from 1 to ≈ 0.15–0.25; also the burn-in), then 100 draws thinned by 25 steps at the trained
    b, training and collection in one compiled program per run.

    Replicates: the 32 coordinates. The loss is separable, Adam acts element-wise and the noise
    is independent per element, so coordinate j's (4 chains of w_j, b_j) evolves independently of
    the others: 32 i.i.d. replicates per run, for two statistics:
      s_j = mean over draws and chains of (w_j − b_j)²  (expectation T/a, known), and
      b_j = the trained decoder                          (no closed form; depends on T through
                                                          the noise in Adam's gradients).
    Test: Welch's t = (ladder mean − single mean) / √(SE_ladder² + SE_single²), SE² = sample
    variance / 32, must satisfy |t| < t_ν^{-1}(1 − α / (2 m)), ν the Welch–Satterthwaite degrees
    of freedom, Bonferroni over m = 2K = 6 comparisons at overall false-failure probability
    α = 1e-3 (critical |t| ≈ 4.0 at ν ≈ 60).

    Power: the same test between the single run at T_k and the ladder rung at T_{k+1} (expected
    s differs by 3 T_k/a, i.e. a factor 4) must give |t| > 3 × critical; the smallest relative
    difference of s it resolves, critical × SE / (T_k/a), must be < 10 %; and the trained
    decoders of the coldest single run and the hottest rung must differ significantly."""
    temperatures, K = QUADRATIC_TEMPERATURES, len(QUADRATIC_TEMPERATURES)

    def run(eae, key):
        @jax.jit
        def train_and_collect(state):
            state = jax.lax.fori_loop(0, 125, lambda _, s: eae.outer_step(s)[0], state)
            return eae.collect(state, 100, 25)

        state, samples = train_and_collect(eae.init(*_quadratic_params(1.0), key))
        assert not np.any(np.asarray(state.sampler.diverged))
        return np.asarray(samples["w"], np.float64), np.asarray(state.decoder["b"], np.float64)

    def statistics(w, b):  # w: (draws, chains, dim), b: (dim,) -> {name: (dim,) replicates}
        return {"s": ((w - b) ** 2).mean(axis=(0, 1)), "b": b}

    ladder_eae = temperature_ladder(_quadratic_build, temperatures)
    w_ladder, b_ladder = run(ladder_eae, jax.random.PRNGKey(5))
    ladder = [statistics(w_ladder[k], b_ladder[k]) for k in range(K)]
    single = [
        statistics(*run(_quadratic_build(t), jax.random.PRNGKey(1000 + k)))
        for k, t in enumerate(temperatures)
    ]

    alpha, comparisons = 1e-3, 2 * K

    def critical(df):
        return scipy.stats.t.ppf(1 - alpha / (2 * comparisons), df)

    for name in ("s", "b"):
        for k in range(K):
            t, df = _welch(ladder[k][name], single[k][name])
            assert abs(t) < critical(df), (name, k, t, critical(df))
    for k in range(K - 1):
        t, df = _welch(ladder[k + 1]["s"], single[k]["s"])
        assert abs(t) > 3 * critical(df), (k, t, critical(df))
        x, y = ladder[k]["s"], single[k]["s"]
        se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
        resolution = critical(_welch(x, y)[1]) * se / (temperatures[k] / QUADRATIC_A)
        assert resolution < 0.1, (k, resolution)
    t, df = _welch(ladder[K - 1]["b"], single[0]["b"])
    assert abs(t) > critical(df), (t, critical(df))


# --------------------------------------------------------------------------------------------
# (c) shapes, axes and structure


def test_every_leaf_has_the_temperature_axis(ladder_run):
    ladder, _, states, infos = ladder_run
    K = len(TEMPERATURES)
    assert ladder.num_rungs == K
    state = states[-1]
    assert isinstance(state, EAEState) and isinstance(infos[-1], IterationInfo)
    assert state.sampler.position["W"].shape == (K, 2, N_FEATURES, LATENT)  # (K, C, ...)
    assert state.decoder["V"].shape == (K, LATENT, N_FEATURES)
    assert all(leaf.shape[0] == K for leaf in jax.tree.leaves(state))
    assert all(leaf.shape == (K,) for leaf in jax.tree.leaves(infos[-1]))
    np.testing.assert_array_equal(np.asarray(state.iteration), [3, 3])
    np.testing.assert_allclose(ladder.temperature(state), TEMPERATURES, rtol=1e-7)
    # Collected summaries: (K, num_samples, C, ...); traced only, nothing is compiled.
    _, summaries = jax.eval_shape(lambda s: ladder.collect(s, 5, 2), state)
    assert summaries["W"].shape == (K, 5, 2, N_FEATURES, LATENT)


def test_rungs_are_independent(ladder_run):
    _, _, states, _ = ladder_run
    start, end = states[0], states[-1]
    # Same start parameters, own keys and velocities (each drawn at its own T).
    np.testing.assert_array_equal(start.decoder["V"][0], start.decoder["V"][1])
    assert not np.array_equal(start.key[0], start.key[1])
    v = np.asarray(start.sampler.velocity["W"])
    assert not np.allclose(v[0] / math.sqrt(TEMPERATURES[0]), v[1] / math.sqrt(TEMPERATURES[1]))
    # Each rung has its own decoder afterwards.
    assert not np.allclose(end.decoder["V"][0], end.decoder["V"][1])


def test_single_chain_rungs_and_one_program():
    """Without chains the state is (K, ...); the outer step is one program whose inner loop is a
    single ``scan`` over the M steps for all rungs at once (no Python loop over K)."""
    ladder = temperature_ladder(lambda t: _linear_build(t, num_chains=None), (1e-3, 2e-3, 4e-3))
    state = jax.eval_shape(lambda: ladder.init(*_linear_params(), jax.random.PRNGKey(0)))
    assert state.sampler.position["W"].shape == (3, N_FEATURES, LATENT)
    assert state.sampler.xi.shape == (3, 3)  # (K, chain_length)
    _, summaries = jax.eval_shape(lambda s: ladder.collect(s, 4, 1), state)
    assert summaries["W"].shape == (3, 4, N_FEATURES, LATENT)
    jaxpr = jax.make_jaxpr(ladder.outer_step)(state)
    assert [e.primitive.name for e in jaxpr.eqns].count("scan") == 1


@pytest.mark.parametrize(
    "temperatures, message",
    [((), "non-empty"), ([[1e-3, 1e-2]], "1-D"), ((1e-3, 0.0), "positive"), ((np.inf,), "finite")],
)
def test_invalid_temperatures(temperatures, message):
    with pytest.raises(ValueError, match=message):
        temperature_ladder(_linear_build, temperatures)
