"""One process of ``tests/test_distributed.py``: a small EAE (4 chains) trained for a few outer
steps and collected briefly, either alone (``reference OUT``) or as process I of N with the chain
axis sharded over all processes' devices (``shard OUT COORDINATOR N I``). The reference writes the
collected samples and the final sampler state to ``OUT``; a sharded process writes only its own
shard (``OUT.I.npz``), which process 0 assembles into ``OUT`` once all are written (npz, see
``tests/shard_files.py``).

:func:`toy_problem` is the small SINDy problem both this worker and ``tests/test_sharding.py``
train on."""

import sys

import jax


def toy_problem():
    """A 2-D circle lifted to 16 features: ``(x, dx, model, loss, sample_batch)``, ``x`` and ``dx``
    float32 (200 snapshots), an MLP autoencoder (16 -> 2), its SINDy loss (polynomials of degree
    1) and a sampler of random batches of 32 snapshots."""
    import jax.numpy as jnp
    import numpy as np

    from eae_sindy.models import mlp_autoencoder
    from eae_sindy.sindy import polynomial_sine_library, sindy_loss

    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 200)
    z = np.stack([np.cos(2 * t), np.sin(2 * t)], 1)
    lift = rng.normal(size=(2, 16))
    x = jnp.asarray(z @ lift, jnp.float32)
    dx = jnp.asarray(2 * np.stack([-np.sin(2 * t), np.cos(2 * t)], 1) @ lift, jnp.float32)
    model = mlp_autoencoder(16, 2, (8,), (8,))
    loss = sindy_loss(model.encode, model.decode, polynomial_sine_library(2, 1, False))

    def sample_batch(key):
        i = jax.random.randint(key, (32,), 0, 200)
        return {"x": x[i], "dx": dx[i]}

    return x, dx, model, loss, sample_batch


def main(argv):
    mode, out = argv[0], argv[1]
    if mode == "shard":
        from eae_sindy.distributed import initialize

        coordinator, n, i = argv[2], int(argv[3]), int(argv[4])
        try:
            assert initialize(coordinator, n, i, timeout_s=60)
        except Exception as error:  # noqa: BLE001 - reported to the test, which skips
            print(f"NO-MULTIPROCESS: {type(error).__name__}: {error}", flush=True)
            sys.exit(3)
        assert jax.process_count() == n and jax.process_index() == i

    import jax.numpy as jnp
    import numpy as np
    import optax
    from shard_files import assemble, write_shards

    from eae_sindy.distributed import global_mesh, place_state
    from eae_sindy.eae import entropic_autoencoder
    from eae_sindy.simmering import simmering

    x, dx, model, loss, sample_batch = toy_problem()

    def summarize(enc, dec):
        return {"kernel": enc["Dense_0"]["kernel"], "loss": loss(enc, dec, {"x": x, "dx": dx})}

    eae = entropic_autoencoder(
        loss,
        simmering(1e-4, 1e-6, 1e-5),
        optax.adam(1e-3),
        sample_batch,
        5,
        summarize,
        num_chains=4,
    )
    # one compiled init (eager, it would compile dozens of small ops)
    state = jax.jit(lambda k0, k1: eae.init(*model.init(k0), k1))(
        jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    )
    if mode == "shard":
        state = place_state(state, global_mesh(num_chains=4))
    step = jax.jit(eae.outer_step)
    losses = []
    for _ in range(3):
        state, info = step(state)
        losses.append(float(info.loss_mean))  # replicated scalars: readable in every process
    state, summaries = jax.jit(eae.collect, static_argnums=(1, 2))(state, 6, 2)
    arrays = {
        "kernel": summaries["kernel"],
        "loss": summaries["loss"],
        "position": state.sampler.position["Dense_0"]["kernel"],
        "decoder": jax.tree.leaves(state.decoder)[0],
        "train_loss": jnp.asarray(losses),
    }
    if mode == "shard":
        assert len(summaries["kernel"].sharding.device_set) == jax.process_count()
        assert not summaries["kernel"].is_fully_addressable
    if mode == "reference":
        write_shards(out, arrays)
    else:  # each process writes only its shard; process 0 assembles them
        from eae_sindy.distributed import barrier, gather, is_main_process

        write_shards(f"{out}.{jax.process_index()}.npz", arrays)
        whole = gather(arrays["position"])  # an all-gather, in every process
        barrier("shards written")
        if is_main_process():
            parts = [f"{out}.{k}.npz" for k in range(jax.process_count())]
            run = assemble(parts)
            np.testing.assert_array_equal(run["position"], whole)
            np.savez(out, **run)
    print("worker done", mode, jax.process_index())


if __name__ == "__main__":
    main(sys.argv[1:])
