"""Tests of the SINDy library, the least-squares solve and the SINDy-EAE loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pysindy as ps
import pytest

from eae_sindy.models import mlp_autoencoder
from eae_sindy.sindy import (
    polynomial_sine_library,
    sindy_loss,
    sindy_terms,
    solve_coefficients,
)


def test_library_matches_pysindy_names_order_and_values():
    z = np.random.default_rng(0).normal(size=(40, 2))
    reference = ps.PolynomialLibrary(degree=3, include_bias=False) + ps.FourierLibrary(
        n_frequencies=1, include_cos=False
    )
    reference.fit(z)
    library = polynomial_sine_library(2, 3, include_sine=True)
    assert list(library.names) == reference.get_feature_names()
    np.testing.assert_allclose(
        np.asarray(library.evaluate(jnp.asarray(z, jnp.float32))),
        reference.transform(z),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "latent_dim,order,sine,expected", [(1, 3, False, 3), (2, 3, True, 11), (3, 2, True, 12)]
)
def test_library_size(latent_dim, order, sine, expected):
    library = polynomial_sine_library(latent_dim, order, sine)
    assert library.n_terms == expected
    assert library.evaluate(jnp.ones((5, latent_dim))).shape == (5, expected)


def test_library_gradient_finite_at_zero():
    library = polynomial_sine_library(2, 3, True)
    grad = jax.grad(lambda z: jnp.sum(library.evaluate(z)))(jnp.zeros((3, 2)))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_bad_library_arguments():
    with pytest.raises(ValueError, match="latent_dim"):
        polynomial_sine_library(0)
    with pytest.raises(ValueError, match="poly_order"):
        polynomial_sine_library(2, 0)


def test_solve_coefficients_recovers_known_xi():
    rng = np.random.default_rng(1)
    library = polynomial_sine_library(2, 3, True)
    z = jnp.asarray(rng.uniform(-2, 2, size=(300, 2)), jnp.float32)
    xi_true = rng.normal(size=(library.n_terms, 2)).astype(np.float32)
    theta = library.evaluate(z)
    xi = solve_coefficients(theta, theta @ xi_true)
    np.testing.assert_allclose(np.asarray(xi), xi_true, atol=2e-3)


def test_solve_coefficients_ill_conditioned():
    """z in a small range makes z, sin z and z³ nearly collinear (cond(Θ) ~ 1e5 in float64): the
    QR solve must still fit the data to float precision where normal equations fail in float32."""
    rng = np.random.default_rng(2)
    library = polynomial_sine_library(1, 3, True)  # x0, x0^2, x0^3, sin(x0)
    z = rng.uniform(-0.3, 0.3, size=(200, 1))
    theta64 = np.asarray(library.evaluate(jnp.asarray(z)), np.float64)
    assert np.linalg.cond(theta64) > 1e4
    xi_true = np.array([[1.0], [0.5], [-0.2], [0.3]])
    dz = theta64 @ xi_true
    theta = jnp.asarray(theta64, jnp.float32)
    xi = np.asarray(solve_coefficients(theta, jnp.asarray(dz, jnp.float32)), np.float64)
    residual_qr = np.linalg.norm(theta64 @ xi - dz) / np.linalg.norm(dz)
    normal = np.linalg.solve(
        np.asarray(theta.T @ theta), np.asarray(theta.T @ dz.astype(np.float32))
    )
    residual_normal = np.linalg.norm(theta64 @ normal - dz) / np.linalg.norm(dz)
    assert residual_qr < 1e-4
    assert residual_qr < residual_normal
    # In float64 the solve recovers the coefficients themselves.
    with jax.enable_x64(True):
        xi64 = solve_coefficients(jnp.asarray(theta64), jnp.asarray(dz))
        np.testing.assert_allclose(np.asarray(xi64), xi_true, atol=1e-6)


def test_solve_coefficients_is_differentiable():
    library = polynomial_sine_library(2, 2, False)
    z = jnp.asarray(np.random.default_rng(3).normal(size=(50, 2)), jnp.float32)
    dz = jnp.stack([z[:, 1], -z[:, 0]], axis=1)
    grad = jax.jit(jax.grad(lambda zz: jnp.sum(solve_coefficients(library.evaluate(zz), dz) ** 2)))(
        z
    )
    assert np.all(np.isfinite(np.asarray(grad)))


def _small_problem(dtype):
    rng = np.random.default_rng(4)
    model = mlp_autoencoder(12, 2, (8,), (8,), "elu")
    enc, dec = model.init(jax.random.PRNGKey(0))
    enc = jax.tree.map(lambda a: jnp.asarray(a, dtype), enc)
    dec = jax.tree.map(lambda a: jnp.asarray(a, dtype), dec)
    batch = {
        "x": jnp.asarray(rng.normal(size=(30, 12)), dtype),
        "dx": jnp.asarray(rng.normal(size=(30, 12)), dtype),
    }
    library = polynomial_sine_library(2, 3, True)
    return model, library, enc, dec, batch


def test_loss_gradients_match_finite_differences():
    with jax.enable_x64(True):
        model, library, enc, dec, batch = _small_problem(jnp.float64)
        loss = jax.jit(
            sindy_loss(model.encode, model.decode, library, lambda_x=1.0, lambda_dx=20.0)
        )
        grad_enc, grad_dec = jax.jit(jax.grad(loss, argnums=(0, 1)))(enc, dec, batch)
        rng = np.random.default_rng(5)
        for params, grad, which in ((enc, grad_enc, 0), (dec, grad_dec, 1)):
            direction = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)
            eps = 1e-6

            def shifted(sign, params=params, direction=direction, which=which, eps=eps):
                moved = jax.tree.map(lambda p, u: p + sign * eps * u, params, direction)
                args = (moved, dec) if which == 0 else (enc, moved)
                return loss(*args, batch)

            numeric = (shifted(1) - shifted(-1)) / (2 * eps)
            pairs = zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
            analytic = sum(jnp.vdot(g, d) for g, d in pairs)
            assert abs(float(numeric) - float(analytic)) <= 1e-5 * max(1.0, abs(float(analytic)))


def test_loss_terms_definitions_and_float32():
    model, library, enc, dec, batch = _small_problem(jnp.float32)
    terms = jax.jit(
        lambda e, d, b: sindy_terms(
            model.encode, model.decode, library, e, d, b, lambda_x=2.0, lambda_dx=5.0
        )
    )(enc, dec, batch)
    assert terms.loss.dtype == jnp.float32
    assert terms.xi.shape == (11, 2)
    z = model.encode(enc, batch["x"])
    np.testing.assert_allclose(np.asarray(terms.z), np.asarray(z), rtol=1e-6)
    # ż by JVP equals the finite difference of the encoder along ẋ.
    eps = 1e-3
    fd = (
        model.encode(enc, batch["x"] + eps * batch["dx"])
        - model.encode(enc, batch["x"] - eps * batch["dx"])
    ) / (2 * eps)
    np.testing.assert_allclose(np.asarray(terms.dz), np.asarray(fd), rtol=1e-2, atol=1e-3)
    expected = 2.0 * np.mean(np.sum((batch["x"] - terms.x_hat) ** 2, -1)) + 5.0 * np.mean(
        np.sum((batch["dx"] - terms.dx_hat) ** 2, -1)
    )
    np.testing.assert_allclose(float(terms.loss), expected, rtol=1e-5)
