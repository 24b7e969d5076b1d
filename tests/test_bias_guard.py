"""The bias guard (eae_sindy.bias_guard): configurational temperature and mean-loss agreement.

On a quadratic loss L = ½ Σ λ_j x_j² the measure exp(−L/T) is Gaussian, exact draws are cheap, and
along any fixed unit u the projection g = u·∇L is Gaussian, so Σ g²/n has relative standard
deviation √(2/n) and uᵀ∇²L u = Σ λ_j u_j² is constant: T_conf/T = 1 ± √(2/n) per direction. The
tests allow 4 standard deviations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eae_sindy.bias_guard import (
    configurational_temperature,
    effective_sample_size,
    guard,
    mean_loss_agreement,
)
from eae_sindy.simmering import sample

LAMBDA = np.array([1.0, 4.0, 9.0, 25.0, 64.0, 144.0], np.float32)


def quadratic(x):
    return 0.5 * jnp.sum(jnp.asarray(LAMBDA) * x["w"] ** 2)


def directions(rng, k_random=2):
    """The stiffest axis, the softest axis and ``k_random`` random unit directions."""
    d = len(LAMBDA)
    rows = [np.eye(d)[-1], np.eye(d)[0]]
    rows += [v / np.linalg.norm(v) for v in rng.normal(size=(k_random, d))]
    return {"w": jnp.asarray(np.stack(rows), jnp.float32)}


def exact_draws(rng, n, temperature):
    return {"w": jnp.asarray(rng.normal(size=(n, len(LAMBDA))) * np.sqrt(temperature / LAMBDA),
                             jnp.float32)}


def assert_right_temperature(conf, n):
    """T_conf/T = 1 within 4 standard deviations √(2/n) of independent draws."""
    tolerance = 4.0 * np.sqrt(2.0 / n)
    assert np.all(np.abs(conf.ratio - 1.0) <= tolerance), (conf.ratio, tolerance)


def test_exact_gaussian_draws_give_the_temperature():
    rng = np.random.default_rng(0)
    n, temperature = 4000, 0.3
    draws = exact_draws(rng, n, temperature)
    conf = configurational_temperature(quadratic, draws, directions(rng), temperature)
    assert_right_temperature(conf, n)
    # the reported standard error matches √(2/n) for independent draws
    np.testing.assert_allclose(conf.ratio_se, np.sqrt(2.0 / n) * conf.ratio, rtol=0.25)
    # curvatures along the axes are exact
    assert conf.n_draws == n


def test_draws_at_the_wrong_temperature_fail():
    """Draws from exp(−L/(1.1 T)) judged against T: the check must fail (and the guard too)."""
    rng = np.random.default_rng(1)
    n, temperature = 4000, 0.3
    draws = exact_draws(rng, n, 1.1 * temperature)
    conf = configurational_temperature(quadratic, draws, directions(rng), temperature)
    np.testing.assert_allclose(conf.pooled, 1.1, atol=4.0 * np.sqrt(2.0 / (4 * n)) * 1.1)
    with pytest.raises(AssertionError):
        assert_right_temperature(conf, n)
    assert not guard(conf).passes


def test_per_chain_directions_and_curvature_subsample():
    rng = np.random.default_rng(2)
    n, temperature = 2000, 1.0
    draws = exact_draws(rng, 2 * n, temperature)
    chain = np.repeat([0, 1], n)
    per_chain = [directions(rng), directions(rng)]
    conf = configurational_temperature(
        quadratic, draws, per_chain, temperature, chain=chain, curvature_every=50
    )
    assert_right_temperature(conf, 2 * n)
    assert guard(conf, conf_tolerance=4.0 * np.sqrt(2.0 / (2 * n))).passes


def _simmering_ratio(step_size, num_steps, thin, key):
    """T_conf/T along the stiffest axis of a Simmering run (NHC, velocities re-drawn every 0.2
    time units: an Andersen-like refresh that mixes the stiff axis within a few draws; re-drawing
    every 0.5 time units at dt = 0.1 resonates with its period 2π/12 and mixes slowly)."""
    temperature = 1.0
    draws = jax.jit(
        lambda k: sample(
            jax.grad(quadratic), {"w": jnp.zeros(len(LAMBDA), jnp.float32)}, num_steps, k,
            temperature=temperature, mass=1.0, step_size=step_size, thin=thin,
            resample_every=round(0.2 / step_size), thermostat_timescale=10 * step_size,
        )
    )(key)
    burn = {"w": draws["w"][draws["w"].shape[0] // 10:]}
    stiff = {"w": jnp.asarray(np.eye(len(LAMBDA))[-1:], jnp.float32)}
    return configurational_temperature(quadratic, burn, stiff, temperature)


def test_guard_sees_the_leapfrog_bias_a_small_step_does_not_have():
    """ω·dt = 1.2 on the stiffest axis (λ = 144, m = 1, dt = 0.1): the leapfrog samples the
    shadow variance (1 − ω²dt²/4)⁻¹ ≈ 1.56× too wide there; dt/10 (ω·dt = 0.12, +0.4 %) does
    not."""
    large = _simmering_ratio(0.1, 20_000, 5, jax.random.key(0))
    small = _simmering_ratio(0.01, 40_000, 10, jax.random.key(1))
    assert large.ratio[0] > 1.0 + max(0.2, 4 * large.ratio_se[0])
    assert not guard(large).passes
    assert abs(small.ratio[0] - 1.0) <= 0.01 + 4 * small.ratio_se[0]


def test_mean_loss_agreement_and_its_error():
    rng = np.random.default_rng(3)
    a = 1.0 + 0.1 * rng.normal(size=(4, 2000))
    b = 1.0 + 0.1 * rng.normal(size=(4, 2000))
    chain = np.repeat(np.arange(4), 2000)
    agreement = mean_loss_agreement(a.ravel(), b.ravel(), chain, chain)
    np.testing.assert_allclose(agreement.se, 0.1 * np.sqrt(2 / 8000), rtol=0.2)
    assert abs(agreement.difference) <= 4 * agreement.se
    shifted = mean_loss_agreement(a.ravel() * 1.03, b.ravel(), chain, chain)
    np.testing.assert_allclose(shifted.difference, 0.03, atol=4 * shifted.se)
    conf = configurational_temperature(
        quadratic, exact_draws(rng, 100, 1.0), directions(rng), 1.0
    )
    assert not guard(conf._replace(ratio=np.ones(4), pooled=1.0), shifted).passes


def test_effective_sample_size_of_an_ar1_series():
    """AR(1) with ρ = 0.9: τ = (1 + ρ)/(1 − ρ) = 19."""
    rng = np.random.default_rng(4)
    n, rho = 20_000, 0.9
    x = np.empty((4, n))
    x[:, 0] = rng.normal(size=4) / np.sqrt(1 - rho**2)
    noise = rng.normal(size=(4, n))
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    ess = effective_sample_size(x.ravel(), np.repeat(np.arange(4), n))
    np.testing.assert_allclose(4 * n / ess, 19.0, rtol=0.15)
