"""Couplings: L_mu - L_tau loop mixing, the muon g-2, the dark-matter variable y
and the thermal-relic targets of Appendix A.

* eq. (54): one-loop gamma - Z' mixing eps(e_mu) = (8/3) e e_mu / (16 pi^2) ln(m_tau/m_mu)
  at q^2 -> 0, generalised to any q^2 by the full mu/tau loop
  (e e_mu / 2 pi^2) int_0^1 dx x(1-x) ln[(m_tau^2 - x(1-x) q^2) / (m_mu^2 - x(1-x) q^2)].
* eqs. (29)-(30): Delta a_mu = alpha'/(2 pi) F(m/m_mu),
  F(x) = int_0^1 dz 2 z (1-z)^2 / ((1-z)^2 + x^2 z).
* y = eps^2 alpha_D (m_chi/m_A')^4 (section 5.3, Fig. 13).
* eqs. (106)-(113): thermal-relic targets in eps^2 alpha_D.

Masses in GeV.

See the physics reference (docs/physics.rst, sections "Couplings and widths"
and "Relic targets and the variable y").
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate

from na64stat.core.errors import PhysicsError
from na64stat.physics.constants import ALPHA_EM, E_CHARGE, GEV2_TO_CM2, M_E_GEV, M_MU_GEV, M_TAU_GEV

__all__ = [
    "DELTA_A_MU_SEED",
    "mixing_from_e_mu",
    "e_mu_from_mixing",
    "gm2_loop_function",
    "delta_a_mu",
    "alpha_explaining_delta_a",
    "g_explaining_delta_a",
    "y_from_epsilon2",
    "epsilon2_from_y",
    "alpha_d_from_y",
    "relic_target_epsilon2_alpha_d",
    "relic_target_y",
    "relic_target_y_full",
    "dm_electron_cross_section_cm2",
]

#: Muon anomaly a_mu(exp) - a_mu(SM) = 288(80) x 10^-11 used by the NA64 review
#: (arXiv:2003.07257), eq. (27).
DELTA_A_MU_SEED: float = 288e-11


def mixing_from_e_mu(e_mu: ArrayLike, q2_gev2: ArrayLike = 0.0) -> np.ndarray:
    """Loop-induced kinetic mixing ``|eps|`` of the L_mu - L_tau Z' with the photon, eq. (54).

    Parameters
    ----------
    e_mu:
        The L_mu - L_tau gauge coupling (called e_mu in the NA64 review, g elsewhere).
    q2_gev2:
        Momentum transfer squared [GeV^2]; 0 gives eq. (54) exactly,
        ``m_Z'^2`` the on-shell value (complex above 2 m_mu: the modulus is returned).

    Examples
    --------
    The NA64 review (arXiv:2003.07257): eps = 0.0144 e_mu; e_mu = 4.8e-4 gives eps = 6.9e-6.

    >>> round(float(mixing_from_e_mu(1.0)), 4), round(float(mixing_from_e_mu(4.8e-4)) * 1e6, 2)
    (0.0144, 6.93)
    """
    g = np.asarray(e_mu, dtype=float)
    loop = np.vectorize(_mu_tau_loop, otypes=[complex])(np.asarray(q2_gev2, dtype=float))
    return np.abs(E_CHARGE * g / (2.0 * math.pi**2) * loop)


def _vacuum_polarisation(q2: float, mass: float) -> complex:
    """int_0^1 x(1-x) ln(m^2 - x(1-x) q^2 - i0) dx, with the log singularities given to quad."""
    m2 = mass * mass
    points = None
    imag = 0.0
    if q2 > 4.0 * m2:
        beta = math.sqrt(1.0 - 4.0 * m2 / q2)
        x_lo, x_hi = 0.5 * (1.0 - beta), 0.5 * (1.0 + beta)
        points = [x_lo, x_hi]
        # Im ln(negative - i0) = -pi between the roots: -pi int x(1-x) dx there
        imag = -math.pi * ((x_hi**2 - x_lo**2) / 2.0 - (x_hi**3 - x_lo**3) / 3.0)
    real = integrate.quad(
        lambda x: x * (1.0 - x) * math.log(abs(m2 - x * (1.0 - x) * q2) or 1e-300),
        0.0,
        1.0,
        points=points,
        limit=200,
    )[0]
    return complex(real, imag)


def _mu_tau_loop(q2: float) -> complex:
    """The mu - tau loop of eq. (54): ln(m_tau^2 - ...) - ln(m_mu^2 - ...), integrated."""
    return _vacuum_polarisation(q2, M_TAU_GEV) - _vacuum_polarisation(q2, M_MU_GEV)


def e_mu_from_mixing(epsilon: ArrayLike, q2_gev2: ArrayLike = 0.0) -> np.ndarray:
    """Inverse of :func:`mixing_from_e_mu` (eps is linear in e_mu).

    >>> round(float(e_mu_from_mixing(6.93e-6)) * 1e4, 2)
    4.8
    """
    return np.asarray(epsilon, dtype=float) / mixing_from_e_mu(1.0, q2_gev2)


def gm2_loop_function(ratio: ArrayLike) -> np.ndarray:
    """F(x) of eq. (30), x = m_Z'/m_mu; F(0) = 1, F -> 2/(3 x^2) for x >> 1.

    >>> [round(float(f), 6) for f in gm2_loop_function([0.0, 100.0])]
    [1.0, 6.7e-05]
    """
    x = np.asarray(ratio, dtype=float)
    if np.any(x < 0):
        raise PhysicsError(f"m_Z'/m_mu must be non-negative, got {ratio!r}")
    return np.vectorize(_gm2_loop_scalar, otypes=[float])(x)


def _gm2_loop_scalar(x: float) -> float:
    # The integrand peaks in a region of width ~x below z = 1: tell quad where.
    def integrand(z: float) -> float:
        return 2.0 * z * (1.0 - z) ** 2 / ((1.0 - z) ** 2 + x * x * z)

    points = [max(0.0, 1.0 - x)] if 0.0 < x < 1.0 else None
    return integrate.quad(integrand, 0.0, 1.0, points=points, limit=200, epsabs=0.0, epsrel=1e-10)[
        0
    ]


def delta_a_mu(g: ArrayLike, mass_gev: ArrayLike) -> np.ndarray:
    """Contribution of a vector coupled to muons with strength g to a_mu, eq. (29).

    >>> round(float(delta_a_mu(4.7687e-4, 1e-6)) * 1e11)
    288
    """
    alpha_prime = np.asarray(g, dtype=float) ** 2 / (4.0 * math.pi)
    return (
        alpha_prime
        / (2.0 * math.pi)
        * gm2_loop_function(np.asarray(mass_gev, dtype=float) / M_MU_GEV)
    )


def alpha_explaining_delta_a(mass_gev: ArrayLike, delta_a: float = DELTA_A_MU_SEED) -> np.ndarray:
    """alpha' = 2 pi Delta a / F(m/m_mu) that explains ``delta_a`` (eqs. 29-32).

    The NA64 review (arXiv:2003.07257): 1.81e-8 for m << m_mu; 2.7e-8 (m/m_mu)^2 for m >> m_mu.

    >>> round(float(alpha_explaining_delta_a(1e-5)) * 1e8, 2)
    1.81
    """
    return 2.0 * math.pi * delta_a / gm2_loop_function(np.asarray(mass_gev, dtype=float) / M_MU_GEV)


def g_explaining_delta_a(mass_gev: ArrayLike, delta_a: float = DELTA_A_MU_SEED) -> np.ndarray:
    """Coupling g = sqrt(4 pi alpha') explaining ``delta_a`` at mass ``mass_gev`` [GeV].

    >>> [round(float(g) * 1e4, 1) for g in g_explaining_delta_a([0.001, 0.01, 0.1])]
    [4.8, 5.4, 10.1]
    """
    return np.sqrt(4.0 * math.pi * alpha_explaining_delta_a(mass_gev, delta_a))


def y_from_epsilon2(epsilon2: ArrayLike, alpha_d: float, mass_ratio: float) -> np.ndarray:
    """y = eps^2 alpha_D (m_chi/m_A')^4 with ``mass_ratio`` = m_A'/m_chi.

    >>> float(y_from_epsilon2(81.0, 0.5, 3.0))
    0.5
    """
    _check_ratio(mass_ratio)
    return np.asarray(epsilon2, dtype=float) * alpha_d / mass_ratio**4


def epsilon2_from_y(y: ArrayLike, alpha_d: float, mass_ratio: float) -> np.ndarray:
    """Inverse of :func:`y_from_epsilon2` for eps^2."""
    _check_ratio(mass_ratio)
    return np.asarray(y, dtype=float) * mass_ratio**4 / alpha_d


def alpha_d_from_y(y: ArrayLike, epsilon2: ArrayLike, mass_ratio: float) -> np.ndarray:
    """Inverse of :func:`y_from_epsilon2` for alpha_D."""
    _check_ratio(mass_ratio)
    return np.asarray(y, dtype=float) * mass_ratio**4 / np.asarray(epsilon2, dtype=float)


def _check_ratio(mass_ratio: float) -> None:
    if not mass_ratio > 0:
        raise PhysicsError(f"m_A'/m_chi must be positive, got {mass_ratio}")


#: Prefactors [GeV^-2] of eqs. (106) (s-wave fermion) and (111) (p-wave scalar),
#: multiplied by the thermal factor 2c/sqrt(g*) that eqs. (108) and (113) fix:
#: 0.8 for fermions (eq. 107 -> 108: 0.5e-12 -> 0.4e-12) and 1 for scalars
#: (eq. 112 -> 113). Majorana fermions carry an extra factor ~2 (text after eq. 113).
_RELIC_PREFACTOR_GEV2 = {
    "dirac": 2.0e-8 * 0.8,
    "majorana": 2.0 * 2.0e-8 * 0.8,
    "scalar": 4.0e-7 * 1.0,
}


def relic_target_epsilon2_alpha_d(
    m_chi_gev: ArrayLike,
    model: Literal["dirac", "majorana", "scalar"] = "dirac",
    mass_ratio: float = 3.0,
) -> np.ndarray:
    """Thermal-relic value of eps^2 alpha_D (Appendix A, eqs. 106, 111, 108, 113).

    eps^2 alpha_D = C (m_A'^2 - 4 m_chi^2)^2 / m_chi^2 with C from eq. (106)
    (fermions) or (111) (scalars) times the thermal factor of eqs. (108)/(113).
    These are the NA64 review's order-of-magnitude estimates; the full calculation
    is in ``resources/relic_target_*.json``.

    >>> round(float(relic_target_epsilon2_alpha_d(0.001, "dirac")) * 1e12, 3)
    0.4
    >>> round(float(relic_target_epsilon2_alpha_d(0.001, "scalar")) * 1e11, 3)
    1.0
    """
    if model not in _RELIC_PREFACTOR_GEV2:
        raise PhysicsError(
            f"unknown relic model {model!r}; known: {', '.join(_RELIC_PREFACTOR_GEV2)}"
        )
    if not mass_ratio > 2.0:
        raise PhysicsError(
            f"relic estimate needs m_A' > 2 m_chi (off resonance), got ratio {mass_ratio}"
        )
    m = np.asarray(m_chi_gev, dtype=float)
    return _RELIC_PREFACTOR_GEV2[model] * (mass_ratio**2 - 4.0) ** 2 * m**2


def relic_target_y(
    m_chi_gev: ArrayLike,
    model: Literal["dirac", "majorana", "scalar"] = "dirac",
    mass_ratio: float = 3.0,
) -> np.ndarray:
    """Thermal-relic target in y = eps^2 alpha_D / (m_A'/m_chi)^4 (Appendix A).

    >>> round(float(relic_target_y(0.01, "scalar")) * 1e11, 3)   # 1e-11 * 10^2 / 81
    1.235
    """
    return relic_target_epsilon2_alpha_d(m_chi_gev, model, mass_ratio) / mass_ratio**4


#: Full-calculation relic targets shipped in ``resources`` (alpha_D = 0.1, m_A' = 3 m_chi).
_RELIC_CURVES = {
    "scalar": "relic_target_scalar",
    "majorana": "relic_target_majorana",
    "pseudodirac": "relic_target_pseudodirac",
}


def relic_target_y_full(
    m_chi_gev: ArrayLike, model: Literal["scalar", "majorana", "pseudodirac"]
) -> np.ndarray:
    """Thermal-relic target in y from a full calculation (ESPP 2026 compilation), m_A' = 3 m_chi.

    Log-log interpolation of ``resources/relic_target_<model>.json``; NaN
    outside its mass range. The NA64 review's estimates (:func:`relic_target_y`)
    agree with these within ~15% for scalars and (pseudo-)Dirac fermions;
    for Majorana fermions the full target is ~5x the NA64 review's "2x the Dirac
    value", so prefer this function for Majorana.

    >>> round(float(relic_target_y_full(0.01, "scalar")) * 1e11, 2)
    1.15
    """
    from na64stat.core.references import load_curve

    if model not in _RELIC_CURVES:
        raise PhysicsError(f"unknown relic model {model!r}; known: {', '.join(_RELIC_CURVES)}")
    return load_curve(_RELIC_CURVES[model]).interpolate(m_chi_gev)


def dm_electron_cross_section_cm2(
    epsilon: ArrayLike, alpha_d: float, m_aprime_gev: ArrayLike
) -> np.ndarray:
    """Non-relativistic chi e -> chi e cross section through the A', eq. (51) [cm^2].

    sigma = 16 pi m_e^2 alpha eps^2 alpha_D / m_A'^4 (the reduced mass taken as
    m_e, i.e. m_chi >> m_e), converted from GeV^-2 with (hbar c)^2.

    >>> s = float(dm_electron_cross_section_cm2(1e-4, 0.1, 0.03))
    >>> 1e-40 < s < 1e-37
    True
    """
    eps = np.asarray(epsilon, dtype=float)
    m = np.asarray(m_aprime_gev, dtype=float)
    if np.any(m <= 0):
        raise PhysicsError(f"A' mass must be positive, got {m_aprime_gev!r} GeV")
    return 16.0 * math.pi * M_E_GEV**2 * ALPHA_EM * eps**2 * alpha_d / m**4 * GEV2_TO_CM2
