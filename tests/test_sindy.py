"""Tests of the SINDy library, the least-squares solve and the SINDy-EAE loss."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pysindy as ps
import pytest

from analysis.dynamics import make_rhs, simulate
from analysis.errors import ReportError
from analysis.interop import to_pysindy
from analysis.library import Term, library_settings, library_term_names, library_terms, rhs
from analysis.rundir import RunData, load_run, write_run
from eae_sindy.config import DiscoverConfig, config_from_dict, preset
from eae_sindy.errors import ConfigError
from eae_sindy.models import mlp_autoencoder
from eae_sindy.sindy import (
    compress_least_squares,
    polynomial_sine_library,
    sindy_loss,
    sindy_terms,
    solve_coefficients,
    solve_compressed,
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


def test_solve_coefficients_second_derivative_matches_finite_differences():
    """The solve's closed-form derivative rule is itself differentiated for Hessian-vector
    products (the step control, the stiff directions, the bias guard)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        library = polynomial_sine_library(2, 3, True)
        z = jnp.asarray(rng.uniform(-1, 1, size=(80, 2)))
        dz = jnp.asarray(rng.normal(size=(80, 2)))
        direction = jnp.asarray(rng.normal(size=(80, 2)))
        for ridge in (0.0, 1e-4):

            def objective(zz, ridge=ridge):
                return jnp.sum(jnp.sin(solve_coefficients(library.evaluate(zz), dz * zz, ridge)))

            grad = jax.grad(objective)
            hvp = jax.jvp(grad, (z,), (direction,))[1]
            eps = 1e-6  # the central difference's error: 3e-6 (ridge 0), 2e-9 (ridge 1e-4)
            numeric = (grad(z + eps * direction) - grad(z - eps * direction)) / (2 * eps)
            scale = float(jnp.max(jnp.abs(numeric)))
            np.testing.assert_allclose(np.asarray(hvp), np.asarray(numeric), atol=1e-4 * scale)


def test_least_squares_programs_call_no_lapack():
    """jaxlib's CPU LAPACK kernels split a batch over XLA's thread pool and wait for it; several
    at once deadlocked a 2-core machine (tests/test_latent_dims.py). The solves, batched over
    chains, with their gradients and Hessian-vector products, must compile to plain XLA."""
    library = polynomial_sine_library(3, 3, True)
    rng = np.random.default_rng(7)
    z = jnp.asarray(rng.normal(size=(4, 60, 3)), jnp.float32)
    dz = jnp.asarray(rng.normal(size=(4, 60, 3)), jnp.float32)

    def loss(zz, dz):
        theta = library.evaluate(zz)
        r, qtdz, _ = compress_least_squares(theta, dz)
        return jnp.sum((solve_coefficients(theta, dz, 1e-6) + solve_compressed(r, qtdz)) ** 2)

    def hvp(zz, dz):
        return jax.jvp(lambda v: jax.grad(loss)(v, dz), (zz,), (dz,))[1]

    for fn in (jax.grad(loss), hvp):
        compiled = jax.jit(jax.vmap(fn)).lower(z, dz).compile().as_text()
        assert re.findall(r'custom_call_target="([^"]*)"', compiled) == []


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


# --------------------------------------------------------------------------------------------
# The constant term (sindy.include_constant)
# --------------------------------------------------------------------------------------------
def test_constant_term_matches_pysindy_bias_first():
    z = np.random.default_rng(8).normal(size=(40, 3))
    reference = ps.PolynomialLibrary(degree=2, include_bias=True) + ps.FourierLibrary(
        n_frequencies=1, include_cos=False
    )
    reference.fit(z)
    library = polynomial_sine_library(3, 2, include_sine=True, include_constant=True)
    assert library.include_constant and library.names[0] == "1"
    assert list(library.names) == reference.get_feature_names()
    assert library_term_names(3, 2, True, True) == list(library.names)
    assert library_terms(3, 2, True, True)[0] == Term("poly", (0, 0, 0))
    np.testing.assert_allclose(
        np.asarray(library.evaluate(jnp.asarray(z, jnp.float32))),
        reference.transform(z),
        rtol=1e-5,
        atol=1e-5,
    )
    assert library_settings(library.names, 3) == (2, True)
    with pytest.raises(ValueError, match="no constant"):
        library_settings(library.names, 3, include_constant=False)
    # without the option nothing changes
    assert polynomial_sine_library(3, 2).names == tuple(library.names[1:])
    grad = jax.grad(lambda v: jnp.sum(library.evaluate(v)))(jnp.zeros((3, 3)))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_constant_recovers_a_shifted_linear_system():
    """ż = A (z − z*): the fixed point z* is away from the origin, so the fit needs the constant
    −A z*; the integrated model (analysis.dynamics) then settles at z*."""
    rng = np.random.default_rng(9)
    a = np.array([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.0], [0.0, 0.0, -1.0]])
    fixed = np.array([1.5, -2.0, 3.0])
    z = fixed + rng.normal(size=(200, 3))
    dz = (z - fixed) @ a.T
    library = polynomial_sine_library(3, 2, include_sine=False, include_constant=True)
    theta = library.evaluate(jnp.asarray(z, jnp.float32))
    xi = np.asarray(solve_coefficients(theta, jnp.asarray(dz, jnp.float32)), np.float64)
    np.testing.assert_allclose(xi[0], -a @ fixed, atol=2e-3)  # the constant row
    np.testing.assert_allclose(xi[1:4], a.T, atol=2e-3)  # x0, x1, x2
    np.testing.assert_allclose(xi[4:], 0.0, atol=2e-3)  # no quadratic terms
    without = polynomial_sine_library(3, 2, include_sine=False)
    theta0 = without.evaluate(jnp.asarray(z, jnp.float32))
    xi0 = np.asarray(solve_coefficients(theta0, jnp.asarray(dz, jnp.float32)), np.float64)
    residual = np.linalg.norm(np.asarray(theta0, np.float64) @ xi0 - dz) / np.linalg.norm(dz)
    assert residual > 0.05  # the quadratic terms cannot stand in for it
    terms = list(library.terms)
    np.testing.assert_allclose(make_rhs(xi, terms)(fixed + 0.1), rhs(fixed + 0.1, xi, terms))
    end, _ = simulate(xi, terms, fixed + 1.0, np.linspace(0.0, 20.0, 201))
    np.testing.assert_allclose(end[-1], fixed, atol=1e-3)


def test_constant_exports_to_pysindy():
    rng = np.random.default_rng(10)
    terms = library_terms(2, 3, include_sine=True, include_constant=True)
    names = [t.name for t in terms]
    xi = rng.normal(size=(len(terms), 2))
    model = to_pysindy(xi, names)  # the constant is read off the names
    assert model.get_feature_names() == names
    z = rng.uniform(-1, 1, size=(30, 2))
    np.testing.assert_allclose(model.predict(z), rhs(z, xi, terms), rtol=1e-10, atol=1e-12)
    explicit = to_pysindy(xi, names, poly_order=3, include_sine=True, include_constant=True)
    np.testing.assert_allclose(explicit.predict(z), model.predict(z))
    with pytest.raises(ReportError, match="no constant"):
        to_pysindy(xi, names, include_constant=False)


def test_run_directory_round_trip_with_a_constant(tmp_path):
    rng = np.random.default_rng(11)
    terms = tuple(library_terms(2, 2, include_sine=False, include_constant=True))
    xi = rng.normal(size=(8, len(terms), 2)).astype(np.float32)
    run = RunData(xi=xi, terms=terms, poly_order=2, include_sine=False)
    assert run.include_constant
    write_run(tmp_path / "run", run)
    back = load_run(tmp_path / "run")
    assert back.terms == terms and back.term_names[0] == "1" and back.include_constant
    np.testing.assert_array_equal(back.xi, xi)
    old = RunData(xi=xi[:, 1:], terms=terms[1:], poly_order=2, include_sine=False)
    write_run(tmp_path / "old", old)
    assert not load_run(tmp_path / "old").include_constant


def test_config_records_the_constant_only_when_set():
    quick = preset("quick")
    assert "include_constant" not in quick.to_dict()["sindy"]  # records as before the option
    assert config_from_dict(quick.to_dict(), base=DiscoverConfig()) == quick
    with_constant = quick.replace(sindy=quick.sindy.replace(include_constant=True))
    record = with_constant.to_dict()
    assert record["sindy"]["include_constant"] is True
    assert config_from_dict(record, base=DiscoverConfig()) == with_constant
    with pytest.raises(ConfigError, match="sindy.include_constant must be true or false"):
        config_from_dict({"sindy": {"include_constant": 1}})
