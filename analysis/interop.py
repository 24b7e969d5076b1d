"""pysindy interoperability: exporting Ξ as a ``pysindy.SINDy`` model, and pysindy baselines.

``to_pysindy`` builds the feature library that produces exactly our term names
(``PolynomialLibrary(degree, include_bias) + FourierLibrary(n_frequencies=1,
include_cos=False)``, ``include_bias`` for a library with the constant ``1``), fits it once on
dummy data so that pysindy considers it fitted, and then replaces the coefficients:
``model.optimizer.coef_ = Ξᵀ``. The result prints, predicts and simulates like any pysindy model.

``fit_baselines`` fits pysindy's STLSQ, alone and bagged (``EnsembleOptimizer``), on normalised
library columns of the latent trajectory of one *representative encoder*: the lowest-loss sample
of the dominant mode (an actual encoder of the ensemble, unlike an average of encodings, which
need not be consistent).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pysindy as ps

from analysis.errors import ReportError
from analysis.library import library_settings
from analysis.sparse import fit_sindy

__all__ = ["pysindy_library", "to_pysindy", "representative_encoder", "Baseline", "fit_baselines"]


def pysindy_library(poly_order: int = 3, include_sine: bool = True, include_constant: bool = False):
    """The pysindy feature library matching our term names and order (the constant ``1`` first
    with ``include_constant``, pysindy's ``include_bias``)."""
    lib = ps.PolynomialLibrary(degree=poly_order, include_bias=include_constant)
    if include_sine:
        lib = lib + ps.FourierLibrary(n_frequencies=1, include_cos=False)
    return lib


def _library_settings(
    term_names: Sequence[str], latent_dim: int, include_constant: bool
) -> tuple[int, bool]:
    try:
        return library_settings(term_names, latent_dim, include_constant)
    except ValueError as exc:
        raise ReportError(f"term_names: {exc}") from None


def to_pysindy(
    xi: np.ndarray,
    term_names: Sequence[str],
    *,
    poly_order: int | None = None,
    include_sine: bool | None = None,
    include_constant: bool | None = None,
) -> ps.SINDy:
    """A fitted-equivalent ``pysindy.SINDy`` model with coefficients Ξ.

    Args:
      xi: (n_terms, latent_dim); column j is the equation for ż_j.
      term_names: our term names (e.g. the ``term_names`` attribute of ensemble.h5).
      poly_order, include_sine, include_constant: library settings; inferred from
        ``term_names`` when None (the constant: whether the first name is ``1``).

    Returns:
      The model; ``model.print()``, ``model.predict(z)`` and ``model.simulate(z0, t)`` work.

    Raises:
      ReportError: the pysindy library's feature names differ from ``term_names``.

    Example:
      >>> model = to_pysindy(xi, term_names)          # doctest: +SKIP
      >>> model.print()                               # doctest: +SKIP
      >>> z = model.simulate(z0, np.linspace(0, 20, 401))  # doctest: +SKIP
    """
    xi = np.asarray(xi, dtype=float)
    if xi.ndim != 2 or xi.shape[0] != len(term_names):
        raise ReportError(
            f"xi: shape {xi.shape} does not match term_names ({len(term_names)} terms); "
            "expected (n_terms, latent_dim)"
        )
    latent_dim = xi.shape[1]
    if include_constant is None:
        include_constant = list(term_names[:1]) == ["1"]
    p_inf, s_inf = _library_settings(term_names, latent_dim, include_constant)
    poly_order = p_inf if poly_order is None else poly_order
    include_sine = s_inf if include_sine is None else include_sine
    rng = np.random.default_rng(0)
    n_dummy = max(50, 3 * len(term_names))
    dummy = rng.uniform(-1.0, 1.0, (n_dummy, latent_dim))
    model = ps.SINDy(
        optimizer=ps.STLSQ(threshold=0.0),
        feature_library=pysindy_library(poly_order, include_sine, include_constant),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(dummy, t=1.0, x_dot=rng.standard_normal((n_dummy, latent_dim)))
    names = model.get_feature_names()
    if list(names) != list(term_names):
        raise ReportError(
            "term_names: do not match the pysindy library "
            f"PolynomialLibrary(degree={poly_order}, include_bias={include_constant})"
            + (" + FourierLibrary(n_frequencies=1, include_cos=False)" if include_sine else "")
            + f": expected {names}, got {list(term_names)}"
        )
    model.optimizer.coef_ = xi.T.copy()
    return model


def representative_encoder(loss: np.ndarray | None, labels: np.ndarray, mode: int = 0) -> int:
    """Index of the lowest-loss sample in ``mode`` (its first member when no loss is stored)."""
    members = np.nonzero(labels == mode)[0]
    if loss is None:
        return int(members[0])
    return int(members[np.argmin(loss[members])])


class Baseline(NamedTuple):
    """pysindy fits on one encoder's latent trajectory.

    Attributes:
      sample: index of the encoder used.
      stlsq: (n_terms, latent_dim) STLSQ coefficients.
      ensemble: (n_terms, latent_dim) median of the bagged STLSQ models.
      ensemble_inclusion: (n_terms, latent_dim) fraction of bagged models with a non-zero term.
      n_models: number of bagged models.
    """

    sample: int
    stlsq: np.ndarray
    ensemble: np.ndarray
    ensemble_inclusion: np.ndarray
    n_models: int


def fit_baselines(
    z: np.ndarray,
    dz: np.ndarray,
    terms: Sequence[Any],
    *,
    sample: int,
    threshold: float = 0.1,
    n_models: int = 20,
    seed: int = 0,
) -> Baseline:
    """STLSQ and bagged STLSQ on the (z, ż) of one encoder, on normalised library columns
    (``analysis.sparse.fit_sindy``: the threshold is a share of ż_j's RMS, as for the members'
    sparse models).

    Args:
      z, dz: (n_eval, latent_dim) latent codes and their time derivatives (not differenced).
      terms: the library (``analysis.library.Term``).
      sample: index of the encoder (recorded only).
      threshold: STLSQ threshold.
      n_models: number of bagged models.
      seed: seed of the bagging.

    Returns:
      ``Baseline``.
    """
    found = fit_sindy(z, dz, terms, threshold=threshold, n_models=n_models, seed=seed)
    return Baseline(int(sample), *found)
