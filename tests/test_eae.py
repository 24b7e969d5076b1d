"""End-to-end tests of Algorithm 1/2 (``eae_sindy.eae`` + ``eae_sindy.training``) on a linear
oscillator lifted to 64 dimensions by a fixed random linear map."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxprs import primitive_names

from eae_sindy.chains import (
    chain_keys,
    counter_axes,
    first_chain,
    over_chains,
    share_counter,
    shared_counter,
    sum_over_chains,
    unshare_counter,
)
from eae_sindy.eae import entropic_autoencoder, temperature_ladder
from eae_sindy.errors import SamplerDivergedError
from eae_sindy.models import mlp_autoencoder
from eae_sindy.simmering import SimmeringAlgorithm, simmering
from eae_sindy.sindy import polynomial_sine_library, sindy_loss, sindy_terms
from eae_sindy.training import load_checkpoint, run_collection, run_training, save_checkpoint

OMEGA = 2.0
N_FEATURES = 64
WEIGHTS = dict(lambda_x=1.0, lambda_dx=0.1)


def _oscillator_data():
    t = np.linspace(0, 4 * 2 * np.pi / OMEGA, 400)
    z = np.stack([np.cos(OMEGA * t), np.sin(OMEGA * t)], 1)
    dz = OMEGA * np.stack([-np.sin(OMEGA * t), np.cos(OMEGA * t)], 1)
    lift = np.random.default_rng(0).normal(size=(2, N_FEATURES)) / np.sqrt(2)
    return jnp.asarray(z @ lift, jnp.float32), jnp.asarray(dz @ lift, jnp.float32)


def _build(
    temperature=1e-4,
    inner_steps=50,
    poly_order=1,
    loss_wrapper=None,
    num_chains=None,
    sampler_wrapper=None,
):
    x, dx = _oscillator_data()
    model = mlp_autoencoder(N_FEATURES, 2, (32,), (32,), "elu")
    library = polynomial_sine_library(2, poly_order, include_sine=False)
    loss = sindy_loss(model.encode, model.decode, library, **WEIGHTS)
    if loss_wrapper is not None:
        loss = loss_wrapper(loss)
    full = {"x": x, "dx": dx}

    def sample_batch(key):
        index = jax.random.randint(key, (64,), 0, x.shape[0])
        return {"x": x[index], "dx": dx[index]}

    def summarize(enc, dec):
        terms = sindy_terms(model.encode, model.decode, library, enc, dec, full, **WEIGHTS)
        return {"xi": terms.xi, "loss": terms.loss, "z": terms.z[:20]}

    sampler = simmering(temperature, 1e-6, 1e-5, resample_every=5)
    if sampler_wrapper is not None:
        sampler = sampler_wrapper(sampler)
    eae = entropic_autoencoder(
        loss,
        sampler,
        optax.adam(3e-3),
        sample_batch,
        inner_steps,
        summarize,
        num_chains=num_chains,
    )
    state = eae.init(*model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    return eae, state


def _train_and_collect(temperature, num_outer=60, num_samples=40):
    eae, state = _build(temperature)
    history = []
    state, _ = run_training(
        eae, state, num_outer=num_outer, on_iteration=history.append, progress=False
    )
    chunks = []
    run_collection(
        eae,
        state,
        num_samples=num_samples,
        thin=5,
        chunk_size=20,
        sink=chunks.append,
        progress=False,
    )
    merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    return history, merged


def _frequency(xi):
    """Rotation frequency of ż = Ξᵀ z from the eigenvalues of the linear part."""
    return np.abs(np.linalg.eigvals(xi[:2, :].T).imag).max()


@pytest.fixture(scope="module")
def runs_by_temperature():
    return {temperature: _train_and_collect(temperature) for temperature in (1e-5, 1e-4, 1e-3)}


def test_recovers_oscillator_frequency_with_nonzero_spread(runs_by_temperature):
    history, ensemble = runs_by_temperature[1e-4]
    assert ensemble["xi"].shape == (40, 2, 2)
    assert history[-1]["loss_mean"] < 0.05 * history[0]["loss_mean"]
    frequencies = np.array([_frequency(xi) for xi in ensemble["xi"]])
    assert abs(np.median(frequencies) - OMEGA) / OMEGA < 0.05
    assert ensemble["xi"].std(axis=0).max() > 0
    assert ensemble["z"].std(axis=0).mean() > 0
    # The thermostat holds the kinetic temperature near its target during training.
    assert 0.5e-4 < history[-1]["kinetic_temperature"] < 2e-4


def test_lower_temperature_gives_narrower_ensemble_and_lower_loss(runs_by_temperature):
    spreads = [runs_by_temperature[T][1]["z"].std(axis=0).mean() for T in (1e-5, 1e-4, 1e-3)]
    losses = [runs_by_temperature[T][1]["loss"].mean() for T in (1e-5, 1e-4, 1e-3)]
    assert spreads[0] < spreads[1] < spreads[2], spreads
    assert losses[0] < losses[1] < losses[2], losses


def test_one_loss_evaluation_per_inner_step():
    calls = []

    def counting(loss):
        def wrapped(enc, dec, batch):
            value = loss(enc, dec, batch)
            jax.debug.callback(lambda: calls.append(1))
            return value

        return wrapped

    eae, state = _build(inner_steps=7, loss_wrapper=counting)
    jax.block_until_ready(jax.jit(eae.outer_step)(state))
    jax.effects_barrier()
    # M value_and_grad calls (each one forward + one backward) and one loss after the update.
    assert len(calls) == 7 + 1


def test_resume_gives_identical_parameters(tmp_path):
    eae, state = _build(inner_steps=10)
    straight, _ = run_training(eae, state, num_outer=6, progress=False)

    eae, state = _build(inner_steps=10)
    path = tmp_path / "checkpoint.msgpack"
    half, _ = run_training(
        eae, state, num_outer=3, checkpoint_path=path, checkpoint_every=1, progress=False
    )
    restored = load_checkpoint(path, state)
    assert int(restored.iteration) == 3
    resumed, _ = run_training(eae, restored, num_outer=6, progress=False)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_divergence_raises_and_keeps_last_checkpoint(tmp_path):
    def poison_after_two(loss):
        def wrapped(enc, dec, batch):
            value = loss(enc, dec, batch)
            return jnp.where(jnp.sum(jnp.abs(dec["Dense_0"]["bias"])) > 0, jnp.nan, value)

        return wrapped

    eae, state = _build(inner_steps=5, loss_wrapper=poison_after_two)
    path = tmp_path / "checkpoint.msgpack"
    save_checkpoint(path, state)
    before = path.read_bytes()
    with pytest.raises(SamplerDivergedError, match="diverged at outer iteration 0"):
        run_training(
            eae, state, num_outer=3, checkpoint_path=path, checkpoint_every=1, progress=False
        )
    assert path.read_bytes() == before


def test_gradient_tolerance_stops_early():
    eae, state = _build(inner_steps=5)
    state, stopped = run_training(eae, state, num_outer=50, grad_tol=1e9, progress=False)
    assert stopped == "gradient_tolerance"
    assert int(state.iteration) == 1


def test_many_chains_in_one_compiled_run():
    eae, state = _build(inner_steps=25, num_chains=4)
    kernel = state.sampler.position["Dense_0"]["kernel"]
    assert kernel.shape == (4, N_FEATURES, 32)
    assert np.all(np.asarray(kernel[0]) == np.asarray(kernel[1]))  # same start, own velocities
    assert not np.allclose(
        np.asarray(state.sampler.velocity["Dense_0"]["kernel"][0]),
        np.asarray(state.sampler.velocity["Dense_0"]["kernel"][1]),
    )
    history = []
    state, _ = run_training(eae, state, num_outer=40, on_iteration=history.append, progress=False)
    assert history[-1]["loss_mean"] < 0.05 * history[0]["loss_mean"]
    chunks = []
    run_collection(eae, state, num_samples=10, thin=5, sink=chunks.append, progress=False)
    xi = np.concatenate([c["xi"] for c in chunks])
    assert xi.shape == (10, 4, 2, 2)
    frequencies = np.array([_frequency(x) for x in xi.reshape(-1, 2, 2)])
    assert abs(np.median(frequencies) - OMEGA) / OMEGA < 0.05
    # The chains explore different encoders: their latent codes differ.
    z = np.concatenate([c["z"] for c in chunks])
    assert np.abs(z[:, 0] - z[:, 1]).max() > 0


def test_chains_share_the_step_counter_for_the_redraw():
    """The chains hand the sampler their common step counter unbatched, so that the velocity
    re-draw (every 5 steps) stays a real branch under vmap rather than a select that draws on
    every step; the results are those of the batched counter (a sampler that ignores
    ``shared_step``), in training (7 inner steps: re-draws fall inside and across outer
    iterations) and in collection, and the stored counter keeps its chain axis."""

    def ignore_shared_step(algo):
        def step(state, grads, key, potential=None, shared_step=None):
            return algo.step(state, grads, key, potential=potential)

        return SimmeringAlgorithm(algo.init, step)

    runs = []
    for wrapper in (None, ignore_shared_step):
        eae, state = _build(inner_steps=7, num_chains=4, sampler_wrapper=wrapper)
        if wrapper is None:
            assert "cond" in primitive_names(jax.make_jaxpr(eae.outer_step)(state).jaxpr)
            collect_jaxpr = jax.make_jaxpr(eae.collect, static_argnums=(1, 2))(state, 3, 4).jaxpr
            assert "cond" in primitive_names(collect_jaxpr)
        step = jax.jit(eae.outer_step)
        state, info_1 = step(state)
        state, info_2 = step(state)
        np.testing.assert_array_equal(np.asarray(state.sampler.step), [14] * 4)
        state, summaries = jax.jit(eae.collect, static_argnums=(1, 2))(state, 3, 4)
        np.testing.assert_array_equal(np.asarray(state.sampler.step), [26] * 4)
        runs.append((state, info_1, info_2, summaries))
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape
        scale = max(np.nanmax(np.abs(a), initial=0.0), 1e-12)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * scale)


def test_ladder_rungs_share_the_step_counter():
    """A ladder of chained EAEs maps its rungs with the sampler counter unbatched too: the
    re-draw is a branch in the compiled program and the (rung, chain) counter layout stays."""
    x, dx = _oscillator_data()
    model = mlp_autoencoder(N_FEATURES, 2, (8,), (8,), "elu")
    loss = sindy_loss(model.encode, model.decode, polynomial_sine_library(2, 1, False), **WEIGHTS)

    def batch(key):
        return {"x": x[:32], "dx": dx[:32]}

    def build(temperature):
        sampler = simmering(temperature, 1e-6, 1e-5, resample_every=2)
        return entropic_autoencoder(loss, sampler, optax.adam(1e-3), batch, 3, num_chains=2)

    ladder = temperature_ladder(build, [1e-4, 1e-3])
    state = ladder.init(*model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert "cond" in primitive_names(jax.make_jaxpr(ladder.outer_step)(state).jaxpr)
    state, _ = jax.jit(ladder.outer_step)(state)
    state, _ = jax.jit(ladder.collect, static_argnums=(1, 2))(state, 2, 2)
    np.testing.assert_array_equal(np.asarray(state.sampler.step), np.full((2, 2), 7))


def test_divergence_message_blames_the_part_that_diverged():
    """A sampled loss that is not finite makes the pooled decoder gradient non-finite as well;
    the message must then name the sampler, and the decoder only when the losses were finite."""
    from eae_sindy.training import divergence_message

    row = {"loss_mean": 0.1, "kinetic_temperature": 1e-4, "decoder_grad_norm": 0.05}
    nan = float("nan")
    assert "decoder optimiser" in divergence_message({**row, "decoder_grad_norm": nan}, 3)
    for field in ("loss_mean", "kinetic_temperature"):
        message = divergence_message({**row, field: nan, "decoder_grad_norm": nan}, 3)
        assert "encoder sampler" in message and "sampler.step_size" in message


def test_checkpoint_from_before_the_stiff_field_still_loads(tmp_path):
    """SimmeringState gained ``stiff`` (None unless a stiff subspace is attached); a checkpoint
    written without that field restores to the same state."""
    import flax.serialization

    eae, state = _build(inner_steps=3)
    state, _ = run_training(eae, state, num_outer=2, progress=False)
    old = flax.serialization.to_state_dict(jax.device_get(state))
    del old["sampler"]["stiff"]
    path = tmp_path / "old.msgpack"
    path.write_bytes(flax.serialization.msgpack_serialize(old))
    restored = load_checkpoint(path, state)
    assert restored.sampler.stiff is None
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_chain_helpers():
    """One chain (``num_chains=None``) has no chain axis: every helper is the identity and there
    is no shared counter. C chains: one key each, sums over the leading axis, and a counter
    shared and given back unchanged."""
    tree = {"a": jnp.arange(6.0).reshape(3, 2)}
    key = jax.random.PRNGKey(0)
    state = simmering(1e-4, 1e-6, 1e-5).init(tree, key)
    assert over_chains(jnp.sin, None) is jnp.sin
    assert chain_keys(key, None) is key
    assert sum_over_chains(tree, None) is tree
    assert first_chain(tree, None) is tree
    assert shared_counter(state, None) is None

    chains = jax.vmap(simmering(1e-4, 1e-6, 1e-5).init, in_axes=(None, 0))(
        tree, chain_keys(key, 3)
    )
    assert chain_keys(key, 3).shape[0] == 3
    np.testing.assert_array_equal(sum_over_chains(tree, 3)["a"], [6.0, 9.0])
    np.testing.assert_array_equal(first_chain(tree, 3)["a"], [0.0, 1.0])
    np.testing.assert_array_equal(over_chains(jnp.sum, 3)(tree["a"]), [1.0, 5.0, 9.0])
    assert shared_counter(chains, 3).shape == ()
    shared = share_counter(chains)
    assert shared.step.shape == () and counter_axes(chains).step is None
    back = unshare_counter(shared, 3)
    for a, b in zip(jax.tree.leaves(chains), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert counter_axes(tree) == 0 and share_counter(tree) is tree
