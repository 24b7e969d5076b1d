"""Tests of the temperature ladder (``eae_sindy.eae.temperature_ladder``): K independent EAEs, one
per temperature, vmapped over a leading temperature axis with the encoder chains nested inside.

(a) faithfulness: rung k of a K = 2 ladder follows the single-temperature EAE at T_k started from
the same key and parameters (also with an annealing schedule); (b) statistics: on a quadratic
encoder loss the collected encoder variance is T/a on every rung, so it grows with T; (c) shapes,
axes, independence of the rungs, one compiled program, input validation. Small problems only, so
that the file stays well under 20 s on two CPU cores (each compiled program costs 1–3 s there).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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
# (b) statistics: the encoder variance grows with T


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
    a, dim, chains, temperatures = 4.0, 32, 4, (0.05, 0.2, 0.8)

    def loss(enc, dec, batch):
        return 0.5 * a * jnp.sum((enc["w"] - dec["b"]) ** 2) + 0.5 * jnp.sum(dec["b"] ** 2)

    def build(temperature):
        sampler = simmering(temperature, 1.0, 0.1, thermostat="langevin", friction=1.0)
        return entropic_autoencoder(
            loss, sampler, optax.adam(1e-2), lambda key: None, 20, num_chains=chains
        )

    ladder = temperature_ladder(build, temperatures)
    zeros = {"w": jnp.zeros((dim,), jnp.float32)}, {"b": jnp.zeros((dim,), jnp.float32)}
    state = ladder.init(*zeros, jax.random.PRNGKey(11))
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
    assert all(leaf.shape == (K,) for leaf in infos[-1])
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
