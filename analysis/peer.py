"""The peer: what a SINDy user would try first on the same data — PCA to ``latent_dim``
components, then pysindy's STLSQ and E-SINDy (bagged STLSQ) with the same library, threshold and
column normalisation as the EAE members' sparse models — integrated like them, so the report can
show what the EAE adds (a distribution over equations and dynamics, with diagnostics).

The principal-component scores are rescaled by one factor so that their RMS radius equals the
median RMS radius of the EAE's latent codes: polynomials do not care (the columns are normalised),
but sin z does, and this puts both on the same footing.

Each peer model's attractor is classified like the EAE's models (``analysis.attractor``), with
the RMS radius of the scaled scores about their mean as the reference amplitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from analysis.attractor import Attractor, classify_many
from analysis.dynamics import Orbit, analyse_orbit
from analysis.library import Term
from analysis.sparse import fit_sindy

__all__ = ["PeerModel", "Peer", "fit_peer"]


class PeerModel(NamedTuple):
    """One peer model.

    Attributes:
      name: ``"PCA + STLSQ"`` or ``"PCA + E-SINDy"``.
      xi: (n_terms, latent_dim).
      inclusion: (n_terms, latent_dim) inclusion probabilities (E-SINDy), or None.
      orbit: the integrated model, from the first fit snapshot.
      period_rel_error: |period − data period| / data period (NaN if unknown).
      attractor: what the model does to perturbations (``analysis.attractor.classify``), or
        None.
    """

    name: str
    xi: np.ndarray
    inclusion: np.ndarray | None
    orbit: Orbit
    period_rel_error: float
    attractor: Attractor | None = None


class Peer(NamedTuple):
    """Attributes:
    scale: the factor the PCA scores were multiplied by.
    n_snapshots: the snapshots fitted.
    n_models: E-SINDy's bagged models.
    models: STLSQ first, then E-SINDy.
    """

    scale: float
    n_snapshots: int
    n_models: int
    models: list[PeerModel]


def fit_peer(
    pca_z: np.ndarray,
    pca_dz: np.ndarray,
    terms: Sequence[Term],
    *,
    latent_rms: float | None,
    data_period: float,
    span: float,
    dt: float,
    attractors: bool = True,
    **sindy: Any,
) -> Peer:
    """Fit and integrate the PCA + SINDy peer.

    Args:
      pca_z, pca_dz: (n, latent_dim) principal-component scores of the fit snapshots and their
        derivatives (``ensemble.h5``'s ``pca_z``/``pca_dz``).
      terms: the library.
      latent_rms: the EAE's median latent RMS radius (None: scale the scores to unit RMS radius).
      data_period: the data's period.
      span, dt: integration length and output spacing.
      attractors: classify each model's attractor (RK4 step min(dt, data period / 100)).
      sindy: ``threshold``, ``n_models``, ``seed`` of ``analysis.sparse.fit_sindy`` (its
        defaults where not given).
    """
    pca_z = np.asarray(pca_z, float)
    pca_dz = np.asarray(pca_dz, float)
    radius = float(np.sqrt(np.mean(np.sum(pca_z**2, axis=1))))
    scale = (latent_rms or 1.0) / radius if radius > 0 else 1.0
    z, dz = pca_z * scale, pca_dz * scale
    found = fit_sindy(z, dz, terms, **sindy)
    bound = 100.0 * max(1.0, float(np.max(np.abs(z))))
    fits = (
        ("PCA + STLSQ", found.stlsq, None),
        ("PCA + E-SINDy", found.ensemble, found.ensemble_inclusion),
    )
    kinds: list[Attractor | None] = [None] * len(fits)
    if attractors:
        step = min(dt, data_period / 100) if np.isfinite(data_period) and data_period > 0 else dt
        spread = float(np.sqrt(np.mean(np.sum((z - z.mean(axis=0)) ** 2, axis=1))))
        kinds = classify_many(
            np.stack([xi for _, xi, _ in fits]),
            terms,
            np.stack([z[0]] * len(fits)),
            scale=spread,
            t_end=span,
            dt=step,
            bound=bound,
            lyapunov=True,
        )
    models = []
    for (name, xi, inclusion), kind in zip(fits, kinds, strict=True):
        orbit = analyse_orbit(xi, terms, z[0], t_end=span, dt=dt, bound=bound)
        rel = abs(orbit.period - data_period) / data_period
        models.append(PeerModel(name, xi, inclusion, orbit, float(rel), kind))
    return Peer(float(scale), len(z), found.n_models, models)
