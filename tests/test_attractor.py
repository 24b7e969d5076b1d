"""Known answers for ``analysis.attractor``: what a model does to perturbations (attracting cycle,
neutral centre, repelling cycle, fixed points, chaos, quasi-periodicity), the data's own
attractor from a time series, and the comparison in words."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from analysis.attractor import (
    KINDS,
    Attractor,
    classify,
    classify_many,
    compare,
    data_attractor,
)
from analysis.library import divergence, library_terms, rhs
from analysis.synthetic import hopf_xi
from analysis.vector_field import VectorField, integrate, jacobian

T2 = library_terms(2, 3, include_sine=False)
T3 = library_terms(3, 2, include_sine=False)  # Lorenz: monomials of order ≤ 2, no constant
LORENZ_LAMBDA = 0.9056  # σ = 10, ρ = 28, β = 8/3 (Sprott)
TWO_PI = 2 * np.pi


def lorenz_xi(rho: float, sigma: float = 10.0, beta: float = 8 / 3) -> np.ndarray:
    col = {t.name: k for k, t in enumerate(T3)}
    xi = np.zeros((len(T3), 3))
    xi[col["x0"], 0], xi[col["x1"], 0] = -sigma, sigma
    xi[col["x0"], 1], xi[col["x1"], 1], xi[col["x0 x2"], 1] = rho, -1.0, -1.0
    xi[col["x0 x1"], 2], xi[col["x2"], 2] = 1.0, -beta
    return xi


def centre_xi() -> np.ndarray:
    """ż0 = −0.92 z1, ż1 = 0.89 z0: neutral orbits of every amplitude."""
    xi = np.zeros((len(T2), 2))
    xi[1, 0], xi[0, 1] = -0.92, 0.89
    return xi


@functools.cache
def lorenz_series(n: int = 10000, dt: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    z, _, _ = integrate(
        VectorField(lorenz_xi(28.0), T3), np.array([[1.0, 1.0, 20.0]]), n + 1000, dt, bound=1e3
    )
    return dt * np.arange(n), z[0, 1001:]


# --- the vector field ------------------------------------------------------------------------


def test_the_integration_does_not_import_the_classification():
    """analysis.dynamics and analysis.vector_field stand below analysis.attractor: importing
    them does not import it (no import circle)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, analysis.vector_field, analysis.dynamics; "
        "assert 'analysis.attractor' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@pytest.mark.parametrize("dim", [1, 3, 8])
def test_vector_field_and_its_derivatives_match_the_library(dim):
    rng = np.random.default_rng(dim)
    terms = library_terms(dim, 3, include_sine=True)
    xi = rng.normal(size=(4, len(terms), dim))
    z = rng.normal(size=(4, dim))
    field = VectorField(xi, terms)
    want = np.stack([rhs(z[m], xi[m], terms) for m in range(4)])
    np.testing.assert_allclose(field(z), want, rtol=1e-12, atol=1e-12)
    jac = field.jacobian(z)
    eps = 1e-6
    for m in range(4):
        numeric = np.stack(
            [
                (rhs(z[m] + eps * e, xi[m], terms) - rhs(z[m] - eps * e, xi[m], terms)) / (2 * eps)
                for e in np.eye(dim)
            ],
            axis=1,
        )
        np.testing.assert_allclose(jac[m], numeric, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jacobian(z[m], xi[m], terms), jac[m])
        assert field.divergence(z[m : m + 1], m)[0] == pytest.approx(
            float(divergence(z[m], xi[m], terms)), rel=1e-10, abs=1e-12
        )
    w = rng.normal(size=(4, dim))
    np.testing.assert_allclose(
        field.with_tangent(z, w)[1], np.einsum("mij,mj->mi", jac, w), rtol=1e-10, atol=1e-10
    )


# --- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mu", [1.0, 0.3])
def test_hopf_cycle_attracts(mu):
    got = classify(
        hopf_xi(T2, mu=mu),
        T2,
        np.array([0.2, 0.0]),
        scale=np.sqrt(mu),
        t_end=30 * TWO_PI,
        dt=TWO_PI / 100,
    )
    assert got.kind == "attracting limit cycle" and got.returns is True
    assert got.period == pytest.approx(TWO_PI, rel=1e-3)
    assert got.amplitude == pytest.approx(np.sqrt(mu), rel=1e-3)
    assert got.floquet == pytest.approx(-2 * mu, rel=1e-3)  # the cycle's Floquet exponent
    assert abs(got.lyapunov) < 1e-3  # along the flow
    assert got.kind in KINDS


def test_hopf_below_threshold_is_a_stable_fixed_point():
    got = classify(
        hopf_xi(T2, mu=-0.5),
        T2,
        np.array([0.5, 0.0]),
        scale=0.5,
        t_end=30 * TWO_PI,
        dt=TWO_PI / 100,
    )
    assert got.kind == "stable fixed point"
    assert got.lyapunov == pytest.approx(-0.5, abs=1e-3)  # Re λ of the focus


def test_a_linear_centre_is_neutral_not_a_limit_cycle():
    got = classify(
        centre_xi(), T2, np.array([0.3, 0.0]), scale=0.3, t_end=30 * TWO_PI, dt=TWO_PI / 100
    )
    assert got.kind == "neutral centre" and "limit cycle" not in got.kind
    assert got.returns is False  # orbits at 0.5× and 1.5× keep their own amplitude
    assert got.floquet == pytest.approx(0.0, abs=1e-9)
    assert got.period == pytest.approx(TWO_PI / np.sqrt(0.92 * 0.89), rel=1e-3)
    attracting = classify(
        hopf_xi(T2, mu=0.09),
        T2,
        np.array([0.3, 0.0]),
        scale=0.3,
        t_end=30 * TWO_PI,
        dt=TWO_PI / 100,
    )
    assert compare(got, attracting) == (
        "neutral centre: the data's cycle attracts, this model's orbits do not"
    )


@pytest.mark.parametrize("r0", [0.9, 1.0])
def test_time_reversed_hopf_has_a_repelling_cycle(r0):
    # inside, the orbit falls to the origin; on the cycle it stays a while, then leaves
    got = classify(
        -hopf_xi(T2, mu=1.0), T2, np.array([r0, 0.0]), scale=1.0, t_end=30 * TWO_PI, dt=TWO_PI / 100
    )
    assert got.kind == "repelling cycle" and got.returns is False
    assert got.floquet == pytest.approx(2.0, rel=1e-3)
    assert got.period == pytest.approx(TWO_PI, rel=1e-3)


def test_lorenz_is_chaotic_with_the_known_exponent():
    got = classify(lorenz_xi(28.0), T3, np.array([1.0, 1.0, 20.0]), scale=10.0, t_end=80.0, dt=0.01)
    assert got.kind == "chaotic" and np.isnan(got.period)
    # The standard error (batch means of the renormalisation series with their lag-1
    # autocovariance) matched the spread of λ1 over 12 starting points (≈ 0.045 for 40 time
    # units measured); 4 standard errors leave room for that spread.
    assert got.lyapunov_se < 0.1
    assert abs(got.lyapunov - LORENZ_LAMBDA) < 4 * got.lyapunov_se
    assert got.dimension == pytest.approx(2.06, abs=0.25)  # Grassberger–Procaccia: 2.05
    data = data_attractor(*lorenz_series())
    assert compare(got, data).startswith("chaotic (λ1 = ") and "like the data" in compare(got, data)


def test_lorenz_below_the_homoclinic_range_settles():
    got = classify(lorenz_xi(10.0), T3, np.array([1.0, 1.0, 20.0]), scale=10.0, t_end=60.0, dt=0.01)
    assert got.kind == "stable fixed point"
    c = np.sqrt(8 / 3 * 9.0)
    slowest = np.linalg.eigvals(jacobian(np.array([c, c, 9.0]), lorenz_xi(10.0), T3)).real.max()
    assert got.lyapunov == pytest.approx(slowest, abs=0.02)


def test_two_incommensurate_oscillators_are_quasi_periodic():
    terms = library_terms(4, 3, include_sine=False)
    col = {t.name: k for k, t in enumerate(terms)}
    xi = np.zeros((len(terms), 4))
    for (a, b), omega in (((0, 1), 1.0), ((2, 3), np.sqrt(2.0))):  # two attracting Hopf cycles
        xi[col[f"x{a}"], a] = xi[col[f"x{b}"], b] = 1.0
        xi[col[f"x{b}"], a], xi[col[f"x{a}"], b] = -omega, omega
        xi[col[f"x{a}^3"], a] = xi[col[f"x{a} x{b}^2"], a] = -1.0
        xi[col[f"x{a}^2 x{b}"], b] = xi[col[f"x{b}^3"], b] = -1.0
    got = classify(xi, terms, np.array([1.0, 0.0, 1.0, 0.0]), scale=1.0, t_end=100.0, dt=0.05)
    assert got.kind == "quasi-periodic"
    assert abs(got.lyapunov) < 0.02 and np.isnan(got.period)


@pytest.mark.parametrize("rate, expected", [(-1.0, "stable fixed point"), (1.0, "diverging")])
def test_one_dimensional_models(rate, expected):
    terms = library_terms(1, 3, include_sine=False)
    xi = np.array([[rate], [0.0], [0.0]])
    got = classify(xi, terms, np.array([0.5]), scale=0.5, t_end=40.0, dt=0.01)
    assert got.kind == expected


def test_an_eight_dimensional_cycle_attracts():
    terms = library_terms(8, 3, include_sine=False)  # Hopf in (z0, z1), z2..z7 decay
    z0 = np.r_[0.5, 0.0, 0.1 * np.ones(6)]
    got = classify(hopf_xi(terms, mu=1.0), terms, z0, scale=1.0, t_end=12 * TWO_PI, dt=TWO_PI / 40)
    assert got.kind == "attracting limit cycle"
    assert got.period == pytest.approx(TWO_PI, rel=1e-3)


def test_classify_many_agrees_with_classify_and_reuses_a_trajectory():
    xi = np.stack([hopf_xi(T2, mu=0.5), centre_xi(), hopf_xi(T2, mu=-0.5)])
    z0 = np.tile([0.4, 0.0], (3, 1))
    options = dict(scale=0.5, t_end=20 * TWO_PI, dt=TWO_PI / 100)
    many = classify_many(xi, T2, z0, **options)
    one_by_one = [classify(x, T2, z, **options).kind for x, z in zip(xi, z0, strict=True)]
    assert [a.kind for a in many] == one_by_one
    n_steps = int(round(options["t_end"] / options["dt"]))
    z, diverged, _ = integrate(VectorField(xi, T2), z0, n_steps, options["dt"], bound=100.0)
    again = classify_many(xi, T2, z0, lyapunov=False, trajectory=(z, diverged), **options)
    assert [a.kind for a in again] == [a.kind for a in many]
    assert np.isnan(again[0].lyapunov) and again[2].lyapunov == pytest.approx(-0.5, abs=1e-6)


# --- the data --------------------------------------------------------------------------------


def _hopf_series(r0: float, mu: float = 0.2, n: int = 2000, dt: float = 0.1, noise: float = 0.0):
    z, _, _ = integrate(
        VectorField(hopf_xi(T2, mu=mu), T2), np.array([[r0, 0.0]]), n, dt, bound=1e3
    )
    rng = np.random.default_rng(0)
    return dt * np.arange(n + 1), z[0] + noise * np.sqrt(mu) * rng.normal(size=z[0].shape)


def test_data_that_approach_their_cycle_show_that_it_attracts():
    mu = 0.2
    t, z = _hopf_series(0.35, mu=mu, noise=0.01)
    got = data_attractor(t, z)
    assert got.kind == "attracting limit cycle" and got.returns is True
    assert got.period == pytest.approx(TWO_PI, rel=0.01)
    # the approach rate seen in the signal is the cycle's Floquet exponent −2μ (the first
    # cycles, still off the linear regime, make it a little slower)
    assert got.floquet == pytest.approx(-2 * mu, rel=0.3)
    # non-uniform times (a random 60 % of the samples) give the same answer
    keep = np.sort(np.random.default_rng(1).choice(len(t), int(0.6 * len(t)), replace=False))
    assert data_attractor(t[keep], z[keep]).kind == "attracting limit cycle"


def test_data_on_their_cycle_cannot_show_whether_it_attracts():
    t, z = _hopf_series(np.sqrt(0.2), noise=0.02)
    got = data_attractor(t, z)
    assert got.kind == "periodic orbit" and got.returns is None
    assert "cannot be judged from one orbit" in got.description
    model = classify(hopf_xi(T2, mu=0.2), T2, z[0], scale=0.45, t_end=30 * TWO_PI, dt=TWO_PI / 100)
    assert "cannot be judged" in compare(model, got)


def test_lorenz_data_are_chaotic_with_the_known_exponent():
    t, z = lorenz_series()
    got = data_attractor(t, z)
    assert got.kind == "chaotic"
    # Rosenstein's method on 10⁴ samples reads 0.87 ± 0.04 (block standard error over the
    # reference points); the method's finite-data bias is downward and within 3 standard errors
    assert abs(got.lyapunov - LORENZ_LAMBDA) < 3 * got.lyapunov_se
    assert got.dimension == pytest.approx(2.06, abs=0.25)


def test_compare_in_words():
    def make(kind, lam=np.nan, se=np.nan, returns=None):
        return Attractor(kind, np.nan, 1.0, np.nan, lam, se, returns, "")

    cycle = make("attracting limit cycle", returns=True)
    assert compare(cycle, cycle) == "attracting limit cycle, like the data"
    assert compare(make("chaotic", 0.85, 0.05), make("chaotic", 0.91, 0.08)) == (
        "chaotic (λ1 = 0.85 ± 0.05), like the data (λ1 = 0.91 ± 0.08)"
    )
    assert compare(make("stable fixed point"), make("chaotic", 0.91, 0.08)) == (
        "stable fixed point: the data are chaotic (λ1 = 0.91 ± 0.08), this model is not"
    )
