"""Production of a light vector boson (A' or Z') by a lepton beam on nuclei.

Reaction (21) of the review, l Z -> l Z X with l = e or mu, in the improved
Weizsacker-Williams (IWW) approximation:

* eq. (22): dsigma/dx = 4 alpha^2 alpha_X chi (1 - x + x^2/3) / U(x),
  U(x) = m^2 (1 - x)/x + m_l^2 x, with x = E_X / E_0 and alpha_X the
  coupling of X to the beam lepton in units of alpha: alpha_X = alpha eps^2
  for a dark photon, g^2 / (4 pi) for the L_mu - L_tau Z' (eq. 56).
* eq. (23)-(24): the total cross section (4/3) alpha^2 alpha_X chi ln(1/delta) / m^2.
* eq. (25)-(26): the elastic photon flux chi, integrated in closed form
  (:func:`chi_elastic`).

For electrons the total cross section follows NA64's DMG4 package
(Bondi et al., Comput. Phys. Commun. 269 (2021) 108129): sigma_IWW = (4/3) alpha^2 alpha_X chi beta
ln(1/c^2) / m^2 with c = max(m_e/m, m/E0), beta = sqrt(1 - m^2/E0^2), chi from t_min = m^4/(4 E0^2)
to t_max = m^2, and the exact-tree-level value sigma_ETL = sigma_IWW / K with
DMG4's K factors for lead (:func:`k_factor`). The x shape within that total
is eq. (22) at fixed chi.

For muons the Weizsacker-Williams (WW) form with the x-dependent
t_min(x) = (U(x) / (2 E0 (1 - x)))^2 and t_max = m^2 + m_mu^2 is used (eqs.
56-57), since for m <~ m_mu the muon mass, not m, sets the momentum transfer,
and the lepton-mass term that eq. (22) drops is kept (:func:`_x_shape`). The
NA64 review's Fig. 12 shows the fixed-t_min IWW above ETL by ~2 for 20 MeV - 1 GeV.
Measured against the exact-tree-level calculation of
:mod:`na64stat.physics.etl` (160 GeV muons on Pb, x = E_X/E0 > 0.5), this WW
form is 1.23x ETL at 1-20 MeV, 1.27x at 100 MeV, 1.38x at 300 MeV and 1.81x at
1 GeV (not "within ~10%"); the fixed-t_min IWW of eqs. (22)-(25) with
t_max = m^2 + m_mu^2 is 1.60-1.66x ETL at x > 0.5 up to 300 MeV (1.47-1.65x
for the total cross section) and 2.15x (total 2.26x) at 1 GeV. The
muon yields therefore use the computed ETL by default (``Setup.cross_section``
``"etl"``); this WW stays available as ``"ww"``. No K factor is applied to muons.

Units: masses and energies in GeV, momentum transfers in GeV^2, cross
sections in pb (``*_pb``).

See the physics reference (docs/physics.rst, section "Production").
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import RegularGridInterpolator

from na64stat.core.errors import PhysicsError, ResourceError
from na64stat.core.references import load_resource
from na64stat.physics.constants import ALPHA_EM, GEV2_TO_PB, LEAD, M_E_GEV, M_MU_GEV, Material

__all__ = [
    "alpha_x_dark_photon",
    "alpha_x_gauge",
    "screening_a_inv_gev",
    "nuclear_d_gev2",
    "chi_elastic",
    "x_range",
    "dsigma_dx_iww_pb",
    "x_shape_fraction",
    "sigma_iww_dmg4_pb",
    "k_factor",
    "sigma_etl_pb",
    "sigma_muon_iww_pb",
]

_X_NODES, _X_WEIGHTS = np.polynomial.legendre.leggauss(256)


def alpha_x_dark_photon(epsilon: ArrayLike) -> np.ndarray:
    """Coupling strength of a dark photon to a charged lepton, alpha eps^2.

    >>> float(alpha_x_dark_photon(1.0)) == ALPHA_EM
    True
    """
    return ALPHA_EM * np.asarray(epsilon, dtype=float) ** 2


def alpha_x_gauge(g: ArrayLike) -> np.ndarray:
    """Coupling strength g^2 / (4 pi) of a gauge coupling g (e.g. e_mu of L_mu - L_tau).

    >>> round(float(alpha_x_gauge(4.8e-4)) * 1e8, 3)
    1.833
    """
    return np.asarray(g, dtype=float) ** 2 / (4.0 * math.pi)


def screening_a_inv_gev(material: Material) -> float:
    """Atomic screening parameter a = 111 Z^(-1/3) / m_e [1/GeV] (eq. 26)."""
    return 111.0 * material.z ** (-1.0 / 3.0) / M_E_GEV


def nuclear_d_gev2(material: Material) -> float:
    """Nuclear size parameter d = 0.164 GeV^2 A^(-2/3) [GeV^2] (eq. 26)."""
    return 0.164 * material.a ** (-2.0 / 3.0)


def chi_elastic(
    t_min_gev2: ArrayLike,
    t_max_gev2: ArrayLike,
    material: Material = LEAD,
) -> np.ndarray:
    """Elastic photon flux chi = int dt (t - t_min)/t^2 G2_el(t) (eqs. 25-26).

    With G2_el = Z^2 [a^2 t / (1 + a^2 t)]^2 [1 / (1 + t/d)]^2, writing
    t_a = 1/a^2 the integrand is Z^2 d^2 (t - t_min) / ((t + t_a)^2 (t + d)^2),
    whose partial fractions integrate in closed form; this is the closed form
    DMG4 evaluates (Comput. Phys. Commun. 269 (2021) 108129). Dimensionless; vectorised over both
    limits.

    Parameters
    ----------
    t_min_gev2, t_max_gev2:
        Integration limits [GeV^2]. DMG4 uses t_min = m^4 / (4 E0^2), t_max = m^2.
    material:
        Target nucleus (Z, A).

    Examples
    --------
    >>> m, e0 = 0.01, 100.0
    >>> chi = float(chi_elastic(m**4 / (4 * e0**2), m**2))
    >>> 5 < chi / 82**2 < 15   # "chi = Z^2 Log, Log ~ 5-10" below eq. (26)
    True
    """
    t_lo = np.asarray(t_min_gev2, dtype=float)
    t_hi = np.asarray(t_max_gev2, dtype=float)
    ta = 1.0 / screening_a_inv_gev(material) ** 2
    d = nuclear_d_gev2(material)
    diff = d - ta
    alpha = (d + ta + 2.0 * t_lo) / diff**3
    beta = -(ta + t_lo) / diff**2
    delta = -(d + t_lo) / diff**2
    log_term = np.log((t_hi + ta) * (t_lo + d) / ((t_hi + d) * (t_lo + ta)))
    value = (
        alpha * log_term
        + beta * (1.0 / (t_lo + ta) - 1.0 / (t_hi + ta))
        + delta * (1.0 / (t_lo + d) - 1.0 / (t_hi + d))
    )
    chi = material.z**2 * d**2 * value
    # the partial fractions cancel for ranges far below t_a: clip the ~1e-12 round-off
    return np.where(t_hi > t_lo, np.maximum(chi, 0.0), 0.0)


def x_range(
    mass_gev: float, beam_energy_gev: ArrayLike, lepton_mass_gev: float = M_E_GEV
) -> tuple[np.ndarray, np.ndarray]:
    """Kinematic range of x = E_X/E0: from m/E0 (X at rest energy) to 1 - m_l/E0.

    >>> lo, hi = x_range(0.1, 100.0)
    >>> float(lo), round(float(hi), 7)
    (0.001, 0.9999949)
    """
    e0 = np.asarray(beam_energy_gev, dtype=float)
    return mass_gev / e0, 1.0 - lepton_mass_gev / e0


def _u_gev2(x: np.ndarray, mass_gev: float, lepton_mass_gev: float) -> np.ndarray:
    """U(x) = m^2 (1 - x)/x + m_l^2 x [GeV^2], the denominator of eq. (22)."""
    return mass_gev**2 * (1.0 - x) / x + lepton_mass_gev**2 * x


def _check_mass_energy(mass_gev: float, beam_energy_gev: ArrayLike) -> None:
    if not np.isfinite(mass_gev) or mass_gev <= 0.0:
        raise PhysicsError(f"boson mass must be positive and finite, got {mass_gev!r} GeV")
    e0 = np.asarray(beam_energy_gev, dtype=float)
    if np.any(~np.isfinite(e0)) or np.any(e0 <= mass_gev):
        raise PhysicsError(
            f"beam energy must exceed the boson mass {mass_gev} GeV, got {beam_energy_gev!r} GeV"
        )


def dsigma_dx_iww_pb(
    x: ArrayLike,
    mass_gev: float,
    beam_energy_gev: float,
    alpha_x: float,
    material: Material = LEAD,
    lepton_mass_gev: float = M_E_GEV,
    *,
    x_dependent_tmin: bool = False,
) -> np.ndarray:
    """IWW differential cross section dsigma/dx [pb], eq. (22).

    Parameters
    ----------
    x:
        Energy fraction E_X / E0 (dimensionless); zero outside the kinematic range.
    mass_gev:
        Boson mass m [GeV].
    beam_energy_gev:
        Beam lepton energy E0 [GeV].
    alpha_x:
        Coupling to the beam lepton in units of alpha (alpha eps^2 or g^2/4pi).
    material:
        Target nucleus.
    lepton_mass_gev:
        Beam lepton mass [GeV] (m_e or m_mu).
    x_dependent_tmin:
        If False (electrons, DMG4), chi uses t_min = m^4/(4 E0^2), t_max = m^2.
        If True (muons), chi(x) uses t_min = (U/(2 E0 (1-x)))^2, t_max = m^2 + m_l^2.

    Examples
    --------
    >>> from na64stat.physics.production import alpha_x_dark_photon
    >>> v = dsigma_dx_iww_pb([0.5, 0.9], 0.01, 100.0, float(alpha_x_dark_photon(1e-4)))
    >>> bool(v[1] > v[0] > 0)
    True
    """
    _check_mass_energy(mass_gev, beam_energy_gev)
    xs = np.asarray(x, dtype=float)
    lo, hi = x_range(mass_gev, beam_energy_gev, lepton_mass_gev)
    inside = (xs >= lo) & (xs <= hi)
    xc = np.clip(xs, lo, hi)
    u = _u_gev2(xc, mass_gev, lepton_mass_gev)
    if x_dependent_tmin:
        t_min = (u / (2.0 * beam_energy_gev * (1.0 - xc))) ** 2
        chi = chi_elastic(t_min, mass_gev**2 + lepton_mass_gev**2, material)
    else:
        chi = chi_elastic(mass_gev**4 / (4.0 * beam_energy_gev**2), mass_gev**2, material)
    shape = _x_shape(xc, u, mass_gev, beam_energy_gev, lepton_mass_gev, x_dependent_tmin)
    value = 4.0 * ALPHA_EM**2 * alpha_x * chi * shape
    return np.where(inside, value * GEV2_TO_PB, 0.0)


def _x_shape(
    x: np.ndarray,
    u: np.ndarray,
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    lepton_mass_gev: float,
    exact_lepton_mass: bool,
) -> np.ndarray:
    """The x dependence of dsigma/dx divided by 4 alpha^2 alpha_X chi [GeV^-2].

    Eq. (22), (1 - x + x^2/3)/U, is the m >> m_l limit. For muon beams (where
    m <~ m_mu) the lepton-mass term of the full WW formula,
    (1/6) m_l^2 x (x^2 + 2x - 2) / U^2, and the boson velocity
    beta_X = sqrt(1 - m^2/(x E0)^2) are kept (Liu & Miller, arXiv:1705.01633,
    eq. 30; DMG4's DarkZ). With them the m -> 0 limit is the Bethe-Heitler
    bremsstrahlung shape [4/3 (1 - x) + x^2] / (2 m_l^2 x).
    """
    shape = (1.0 - x + x**2 / 3.0) / u
    if exact_lepton_mass:
        e0 = np.asarray(beam_energy_gev, dtype=float)
        shape = shape + lepton_mass_gev**2 * x * (x**2 + 2.0 * x - 2.0) / (6.0 * u**2)
        shape = shape * np.sqrt(np.clip(1.0 - (mass_gev / (x * e0)) ** 2, 0.0, None))
    return shape


def _integrate_over_x(
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    x_from: ArrayLike,
    lepton_mass_gev: float,
    material: Material,
    x_dependent_tmin: bool,
) -> np.ndarray:
    """Integral of eq. (22) / (4 alpha^2 alpha_X) over x from ``x_from`` to x_max [GeV^-2].

    Integrates in s = -ln(1 - x), which spreads the x -> 1 peak of the
    spectrum (width m_l^2/m^2 in 1 - x) over many Gauss-Legendre nodes;
    vectorised over beam energies. Tested against :func:`scipy.integrate.quad`.
    """
    e0_in, x_in = np.broadcast_arrays(
        np.asarray(beam_energy_gev, dtype=float), np.asarray(x_from, dtype=float)
    )
    out_shape = e0_in.shape
    e0 = e0_in.ravel()
    lo, hi = x_range(mass_gev, e0, lepton_mass_gev)
    x_start = np.clip(x_in.ravel(), lo, hi)
    s_lo = -np.log1p(-x_start)
    s_hi = -np.log1p(-hi)
    nodes, weights = _X_NODES, _X_WEIGHTS
    half = 0.5 * (s_hi - s_lo)
    s = (s_lo + half)[:, None] + half[:, None] * nodes[None, :]
    one_minus_x = np.exp(-s)
    x = 1.0 - one_minus_x
    u = _u_gev2(x, mass_gev, lepton_mass_gev)
    chi: np.ndarray | float
    if x_dependent_tmin:
        t_min = (u / (2.0 * e0[:, None] * one_minus_x)) ** 2
        chi = chi_elastic(t_min, mass_gev**2 + lepton_mass_gev**2, material)
    else:
        chi = 1.0
    shape = _x_shape(x, u, mass_gev, e0[:, None], lepton_mass_gev, x_dependent_tmin)
    integrand = chi * shape * one_minus_x  # dx = (1 - x) ds
    return (half * (integrand @ weights)).reshape(out_shape)


def x_shape_fraction(
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    x_cut: ArrayLike,
    lepton_mass_gev: float = M_E_GEV,
) -> np.ndarray:
    """Fraction of the eq. (22) spectrum (fixed chi) with x above ``x_cut``.

    This is the missing-energy acceptance at the generator level: the A'
    must carry E_X > x_cut * E0. Dimensionless, in [0, 1].

    >>> f = x_shape_fraction(0.1, 100.0, [0.0, 0.5, 1.0])
    >>> float(f[0]), 0.9 < float(f[1]) < 1.0, float(f[2])
    (1.0, True, 0.0)
    """
    _check_mass_energy(mass_gev, beam_energy_gev)
    e0, cuts = np.broadcast_arrays(
        np.asarray(beam_energy_gev, dtype=float), np.asarray(x_cut, dtype=float)
    )
    total = _integrate_over_x(mass_gev, e0, 0.0, lepton_mass_gev, LEAD, False)
    above = _integrate_over_x(mass_gev, e0, cuts, lepton_mass_gev, LEAD, False)
    lo, hi = x_range(mass_gev, e0, lepton_mass_gev)
    return np.where(cuts >= hi, 0.0, np.where(cuts <= lo, 1.0, above / total))


def sigma_iww_dmg4_pb(
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    alpha_x: float,
    material: Material = LEAD,
) -> np.ndarray:
    """Total IWW cross section for electrons as DMG4 computes it [pb] (eqs. 23-26).

    sigma = (4/3) alpha^2 alpha_X chi beta ln(1/c^2) / m^2, c = max(m_e/m, m/E0),
    beta = sqrt(1 - m^2/E0^2), chi = :func:`chi_elastic` (m^4/(4E0^2), m^2).

    >>> s = sigma_iww_dmg4_pb(0.1, 100.0, float(alpha_x_dark_photon(1.0)))
    >>> round(float(s) * 1e-36 / 1e-26, 2)   # cm^2 for eps = 1, m = 100 MeV
    1.75
    """
    _check_mass_energy(mass_gev, beam_energy_gev)
    e0 = np.asarray(beam_energy_gev, dtype=float)
    chi = chi_elastic(mass_gev**4 / (4.0 * e0**2), mass_gev**2, material)
    beta = np.sqrt(1.0 - mass_gev**2 / e0**2)
    c = np.maximum(M_E_GEV / mass_gev, mass_gev / e0)
    sigma = (4.0 / 3.0) * ALPHA_EM**2 * alpha_x * chi * beta * np.log(1.0 / c**2) / mass_gev**2
    return np.maximum(sigma, 0.0) * GEV2_TO_PB


@lru_cache(maxsize=1)
def _k_factor_interpolator() -> tuple[
    RegularGridInterpolator, tuple[float, float], tuple[float, float]
]:
    raw = load_resource("dmg4_kfactors_pb")
    try:
        mass = np.asarray(raw["mass_mev"], dtype=float) * 1e-3
        energy = np.asarray(raw["beam_energy_gev"], dtype=float)
        table = np.asarray(raw["k_iww_over_etl"], dtype=float)
    except KeyError as exc:
        raise ResourceError(f"resources/dmg4_kfactors_pb.json lacks key {exc}") from exc
    if table.shape != (mass.size, energy.size):
        raise ResourceError(
            f"resources/dmg4_kfactors_pb.json: table shape {table.shape} != ({mass.size}, "
            f"{energy.size})"
        )
    interp = RegularGridInterpolator((np.log(mass), energy), table, method="linear")
    return interp, (float(mass[0]), float(mass[-1])), (float(energy[0]), float(energy[-1]))


def k_factor(mass_gev: float, beam_energy_gev: ArrayLike) -> np.ndarray:
    """DMG4 K = sigma_IWW / sigma_ETL for A' bremsstrahlung on lead.

    Linear interpolation in (ln m, E0) of DMG4's table (1 MeV - 3 GeV,
    20 - 160 GeV; ``resources/dmg4_kfactors_pb.json``). Beam energies outside
    20-160 GeV are clamped to the table edge (K varies by < 1% per 20 GeV at
    the edges for m <~ 100 MeV); masses outside the table raise
    :class:`~na64stat.core.errors.PhysicsError`.

    >>> round(float(k_factor(0.001, 100.0)), 6)
    0.604626
    """
    interp, (m_lo, m_hi), (e_lo, e_hi) = _k_factor_interpolator()
    if not (m_lo * (1 - 1e-12) <= mass_gev <= m_hi * (1 + 1e-12)):
        raise PhysicsError(
            f"mass {mass_gev} GeV is outside the DMG4 K-factor table ({m_lo}-{m_hi} GeV); "
            "use the IWW cross section there"
        )
    e0 = np.clip(np.asarray(beam_energy_gev, dtype=float), e_lo, e_hi)
    # clipped to the grid's own ln m (numpy's log may differ from math.log in the last bit: numpy <
    # 1.25 SIMD)
    log_m = np.clip(math.log(mass_gev), interp.grid[0][0], interp.grid[0][-1])
    pts = np.stack([np.full(e0.size, log_m), e0.ravel()], axis=-1)
    return interp(pts).reshape(e0.shape)


def sigma_etl_pb(
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    alpha_x: float,
    material: Material = LEAD,
) -> np.ndarray:
    """Exact-tree-level cross section for electrons on lead, sigma_IWW / K [pb].

    The K factors are DMG4's for lead; other materials raise
    :class:`~na64stat.core.errors.PhysicsError` (use :func:`sigma_iww_dmg4_pb`).

    >>> a = float(alpha_x_dark_photon(1.0))
    >>> ratio = float(sigma_iww_dmg4_pb(0.1, 100.0, a) / sigma_etl_pb(0.1, 100.0, a))
    >>> round(ratio, 5)
    1.65122
    """
    if material.name != LEAD.name:
        raise PhysicsError(f"DMG4 K factors are tabulated for Pb only, not {material.name}")
    return sigma_iww_dmg4_pb(mass_gev, beam_energy_gev, alpha_x, material) / k_factor(
        mass_gev, beam_energy_gev
    )


def sigma_muon_iww_pb(
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    alpha_x: float,
    material: Material = LEAD,
    x_min: ArrayLike = 0.0,
    lepton_mass_gev: float = M_MU_GEV,
) -> np.ndarray:
    """WW cross section for mu Z -> mu Z X with x = E_X/E0 above ``x_min`` [pb] (eq. 56).

    Integrates the WW dsigma/dx with the muon mass, its lepton-mass term and
    the x-dependent flux chi(x) (module docstring). For m << m_mu it scales as alpha_X / m_mu^2
    (the NA64 review, arXiv:2003.07257, text below Fig. 10).

    >>> a = float(alpha_x_gauge(1.0))
    >>> s1, s2 = (float(sigma_muon_iww_pb(m, 160.0, a, x_min=0.5)) for m in (0.001, 0.01))
    >>> abs(s1 / s2 - 1) < 0.01   # flat in m below m_mu
    True
    """
    _check_mass_energy(mass_gev, beam_energy_gev)
    integral = _integrate_over_x(mass_gev, beam_energy_gev, x_min, lepton_mass_gev, material, True)
    return 4.0 * ALPHA_EM**2 * alpha_x * integral * GEV2_TO_PB
