"""Exact-tree-level (ETL) production of a vector boson X in l Z -> l Z X (l = e, mu).

The 2 -> 3 cross section of reaction (21) of the review is integrated
numerically, with the exact lepton matrix element, instead of the
Weizsacker-Williams (WW / IWW) photon-flux approximation of
:mod:`na64stat.physics.production`. Setup, as in Bjorken, Essig, Schuster,
Toro, PRD 80 (2009) 075018, arXiv:0906.0580, appendix A; Liu, Morrissey, Yu,
PRD 95 (2017) 036010, arXiv:1609.06781; and Gninenko, Kirpichnikov,
Kirsanov, Krasnikov, PLB 782 (2018) 406, arXiv:1712.05706 (the ETL behind
NA64's DMG4 K factors):

* Lab frame, nucleus of mass M at rest; momenta l(p) + Z(P_i) -> l(p') + X(k)
  + Z(P_f), photon momentum q = P_i - P_f absorbed by the lepton line,
  t = -q^2 > 0. The nucleus couples through J = (P_i + P_f) with the form
  factor G2(t) = Z^2 F^2(t) (spin-0 current). Because J.q = 0 and q is
  conserved on the lepton line, J_mu T^mu = 2M T^0 exactly, so the squared
  amplitude is 4 M^2 times the Coulomb-photon (n = (1,0,0,0)) lepton tensor.
* The lepton tensor, l(p) + gamma*(q) -> l(p') + X(k), two diagrams, summed
  over spins and over the X polarisations (-g + k k / m^2; the k k term drops
  out by current conservation), was derived here from the Dirac traces
  (checked against explicit 4x4 gamma matrices) and written in
  kappa = 2 p.k - m^2 (= -u~), kappa' = 2 p'.k + m^2 (= s~), t, and the lab
  energies E, E', k0 (E = E' + k0 + t/(2M)). See :func:`_phi_averaged_trace`.
* Phase space (derived; same reduction as arXiv:1609.06781 and
  arXiv:1712.05706 eq. 4): variables x = k0/E0, the X polar angle theta, t
  and the azimuth phi of q around V = p - k (the energy delta fixes the angle
  between q and V). With the flux ``1/(4 M |p|)``::

      sigma / alpha_X = (alpha^2 / 4) Int dx dcos(theta) dt
                        E0 |k| G2(t) <R>_phi / (t^2 |p| |V|),

  where R is the spin-summed Coulomb trace and <.>_phi its azimuthal average,
  done in closed form (R is a Laurent polynomial in kappa' = A + B cos phi).
  Per unit alpha_X: alpha_X = alpha eps^2 (dark photon), g^2/(4 pi) (Z').
* Form factors: the elastic G2_el of eq. (26) of the review (Tsai 1974;
  BEST 2009 eq. A18), atomic screening a = 111 Z^(-1/3)/m_e and nuclear size
  d = 0.164 GeV^2 A^(-2/3), the same as :func:`production.chi_elastic`; and,
  optionally, the inelastic (quasi-elastic proton) G2_inel of BEST 2009
  eq. A19, a' = 773 Z^(-2/3)/m_e, with the proton's dipole form factor,
  integrated with the proton mass as the recoil mass (an approximation: the
  protons are treated as free and at rest). DMG4's K factors use the elastic
  term only (the review, text below eq. 26), so ``inelastic=False`` is the
  default; :func:`inelastic_fraction` shows where the inelastic term matters
  (it is ~1/Z at small masses and grows where the nuclear size suppresses the
  elastic term, t_min >~ d, i.e. heavy X at low beam energy).

Comparison with DMG4 (K = sigma_IWW(DMG4 formula)/sigma_ETL against DMG4's K
table for e- on Pb, 1 MeV - 3 GeV x 20 - 160 GeV; tests/physics/test_etl.py): with the
elastic term alone, within 2% for 2 - 70 MeV at every energy, +2 to +3% for
80 MeV - 1 GeV at E0 >= 80 GeV, -3.7% at 1 MeV, and growing with m/E0 above
1 GeV (+24% at 3 GeV, 20 GeV). With the inelastic term added, within ~1.5% for
4 MeV - 1 GeV at every energy and within 0.1% at 10 - 20 MeV, but -5% at 1 MeV
and -51% at 3 GeV, 20 GeV: DMG4's ETL evidently includes a proton term, one
smaller than this one where the nuclear size suppresses the elastic term.
Nothing here is fitted to DMG4; the tables and yields default to the elastic
term (``inelastic=True`` adds the proton term: +1.6% at 10 MeV, +3.2% at 1 GeV
for NA64mu).

Numerics: tensor-product Gauss-Legendre quadrature, vectorised in numpy, in
ln x / ln(1 - x), ln theta and ln t, each on ranges set by the physical
scales (theta_c, t_min, the screening and nuclear scales); the relative
accuracy is ~1e-3 (tests double the nodes).

Units: GeV, GeV^2, cross sections in pb per unit alpha_X.

See the physics reference (docs/physics.rst, sections "Production", "Exact tree
level, computed").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import RegularGridInterpolator

from na64stat.core.errors import PhysicsError, ResourceError
from na64stat.core.references import load_resource
from na64stat.physics.constants import ALPHA_EM, GEV2_TO_PB, M_E_GEV, M_MU_GEV, Material
from na64stat.physics.constants import material as _material

__all__ = [
    "ATOMIC_MASS_UNIT_GEV",
    "M_PROTON_GEV",
    "lepton_mass_gev",
    "g2_elastic",
    "g2_inelastic",
    "EtlResult",
    "compute_etl",
    "sigma_etl_computed_pb",
    "dsigma_dx_etl_pb",
    "inelastic_fraction",
    "sigma_etl_pb",
    "etl_table_grid",
]

#: Atomic mass unit [GeV] (CODATA 2018, 931.494 MeV): nucleus mass M = A u for the recoil
#: kinematics.
ATOMIC_MASS_UNIT_GEV: float = 0.93149410242
#: Proton mass [GeV] (CODATA 2018), recoil mass of the inelastic (quasi-elastic proton) term.
M_PROTON_GEV: float = 0.93827208816
#: Proton magnetic moment in nuclear magnetons (BEST 2009 eq. A19).
_MU_P: float = 2.79

_LEPTONS = {"e": M_E_GEV, "electron": M_E_GEV, "mu": M_MU_GEV, "muon": M_MU_GEV}


def lepton_mass_gev(lepton: str) -> float:
    """Mass [GeV] of ``"e"``/``"electron"`` or ``"mu"``/``"muon"``.

    >>> round(lepton_mass_gev("mu"), 6)
    0.105658
    """
    try:
        return _LEPTONS[lepton]
    except KeyError:
        raise PhysicsError(f"unknown lepton {lepton!r}; known: e, mu") from None


def _as_material(target: Material | str) -> Material:
    return _material(target) if isinstance(target, str) else target


#: A form factor G2(t [GeV^2], target) -> dimensionless array.
FormFactor = Callable[[np.ndarray, "Material | str"], np.ndarray]


def g2_elastic(t_gev2: ArrayLike, target: Material | str) -> np.ndarray:
    """Elastic form factor G2_el(t) of eq. (26) (Tsai; BEST 2009 eq. A18), dimensionless.

    G2_el = Z^2 [a^2 t / (1 + a^2 t)]^2 [1 / (1 + t/d)]^2, a = 111 Z^(-1/3)/m_e,
    d = 0.164 GeV^2 A^(-2/3).

    >>> from na64stat.physics.constants import LEAD
    >>> 0.95 < float(g2_elastic(1e-4, LEAD)) / 82**2 < 0.97   # above screening, below nuclear size
    True
    """
    mat = _as_material(target)
    t = np.asarray(t_gev2, dtype=float)
    a2 = (111.0 * mat.z ** (-1.0 / 3.0) / M_E_GEV) ** 2
    d = 0.164 * mat.a ** (-2.0 / 3.0)
    return mat.z**2 * (a2 * t / (1.0 + a2 * t)) ** 2 / (1.0 + t / d) ** 2


def g2_inelastic(t_gev2: ArrayLike, target: Material | str) -> np.ndarray:
    """Inelastic (quasi-elastic proton) form factor G2_inel(t), BEST 2009 eq. A19, dimensionless.

    G2_inel = Z [a'^2 t/(1 + a'^2 t)]^2 [(1 + t (mu_p^2 - 1)/(4 m_p^2)) / (1 + t/0.71 GeV^2)^4]^2,
    a' = 773 Z^(-2/3)/m_e.

    >>> from na64stat.physics.constants import LEAD
    >>> 0.9 < float(g2_inelastic(0.01, LEAD)) / 82 < 1.0
    True
    """
    mat = _as_material(target)
    t = np.asarray(t_gev2, dtype=float)
    ap2 = (773.0 * mat.z ** (-2.0 / 3.0) / M_E_GEV) ** 2
    proton = (1.0 + t * (_MU_P**2 - 1.0) / (4.0 * M_PROTON_GEV**2)) / (1.0 + t / 0.71) ** 4
    return mat.z * (ap2 * t / (1.0 + ap2 * t)) ** 2 * proton**2


def _phi_averaged_trace(
    e: np.ndarray | float,
    ep: np.ndarray,
    k0: np.ndarray,
    kap: np.ndarray,
    t: np.ndarray,
    d: np.ndarray,
    dbar: np.ndarray,
    b: np.ndarray,
    m: float,
    mx: float,
) -> np.ndarray:
    """Azimuthal average <R>_phi of the spin-summed Coulomb trace [GeV^-2 x GeV^2 = dimensionless x
    ...].

    R = Sum_spins,pol |ubar(p') [eps*(p'+k+m) n / kappa' - n (p-k+m) eps* / kappa] u(p)|^2
    (n = (1,0,0,0)), derived here; as a Laurent polynomial in kappa' (variables of
    the module docstring, d = E - E' - k0 = t/(2M)):

        R = G2/kappa'^2 + r_-1/kappa' + r_0 + r_1 kappa',
        G2  = 4 (2m^2 + mX^2) (t - 4 E (E - d)),   r_1 = -4/kappa.

    With kappa' = A + B cos(phi), A = kappa + dbar, D1 = 1/kappa' - 1/kappa:
    <R> = G0 + r_1 dbar + G1 <D1> + G2 <D1^2>, where G0 = R(kappa' = kappa) and
    G1 = 2 G2/kappa + r_-1 are the cancellation-free combinations below, and
    <D1> = -(W - kappa)/(W kappa), <D1^2> = [W (W - kappa)^2 + kappa^2 B^2/(A + W)]/(kappa^2 W^3),
    W = sqrt(A^2 - B^2), W - kappa = [dbar (2 kappa + dbar) - B^2]/(W + kappa): every
    piece is computed from the small quantities directly (no 1e-10 cancellations
    at t ~ t_min for electrons).
    """
    m2, mx2 = m * m, mx * mx
    g0 = (
        -8.0
        * (
            -4.0 * ep**2 * t
            + 4.0 * ep * d * kap
            - 4.0 * ep * d * t
            - 4.0 * ep * k0 * t
            + 2.0 * d**2 * kap
            - 2.0 * d**2 * mx2
            + 2.0 * d * k0 * kap
            - 2.0 * d * k0 * t
            + 4.0 * k0**2 * m2
            + 2.0 * k0**2 * mx2
            - 2.0 * k0**2 * t
            + kap**2
            - 2.0 * mx2 * t
            + t**2
        )
        / kap**2
    )
    g1 = (
        -4.0
        * (
            -8.0 * ep**2 * t
            + 4.0 * ep * d * kap
            - 8.0 * ep * d * t
            + 16.0 * ep * k0 * m2
            + 8.0 * ep * k0 * mx2
            - 8.0 * ep * k0 * t
            - 4.0 * d**2 * mx2
            + 8.0 * d * k0 * m2
            + 4.0 * d * k0 * mx2
            - 4.0 * d * k0 * t
            + 16.0 * k0**2 * m2
            + 8.0 * k0**2 * mx2
            - 4.0 * k0**2 * t
            + kap**2
            - 2.0 * kap * t
            - 4.0 * mx2 * t
            + 2.0 * t**2
        )
        / kap
    )
    g2 = 4.0 * (2.0 * m2 + mx2) * (t - 4.0 * e * (e - d))
    a = kap + dbar
    w = np.sqrt(np.maximum((a - b) * (a + b), 0.0))
    w_minus_kap = (dbar * (2.0 * kap + dbar) - b * b) / (w + kap)
    avg_d1 = -w_minus_kap / (w * kap)
    avg_d1sq = (w * w_minus_kap**2 + kap**2 * b * b / (a + w)) / (kap**2 * w**3)
    return g0 - 4.0 * dbar / kap + g1 * avg_d1 + g2 * avg_d1sq


def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return 0.5 * (nodes + 1.0), 0.5 * weights  # on [0, 1]


def _x_nodes(x_lo: float, x_hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights in x on [x_lo, x_hi]: ln x below 1/2, ln(1 - x) above (soft and hard peaks)."""
    u, w = _gl(n)
    xs, ws = [], []
    if x_lo < 0.5:
        hi = min(0.5, x_hi)
        a, b = math.log(x_lo), math.log(hi)
        x = np.exp(a + (b - a) * u)
        xs.append(x)
        ws.append(w * (b - a) * x)
    if x_hi > 0.5:
        lo = max(0.5, x_lo)
        a, b = math.log1p(-lo), math.log1p(-x_hi)  # a > b
        one_minus = np.exp(a + (b - a) * u)
        xs.append(1.0 - one_minus)
        ws.append(w * (a - b) * one_minus)
    return np.concatenate(xs), np.concatenate(ws)


def _dsigma_dx_dcos(
    x: np.ndarray,
    th: np.ndarray,
    e0: float,
    m: float,
    mx: float,
    target: Material,
    recoil_mass: float,
    g2_func: FormFactor,
    n_t: int,
    t_scale_hi: float,
) -> np.ndarray:
    """d^2 sigma / (dx dcos theta) / alpha_X [GeV^-2] on x (nx,) and theta (nx, ntheta); t and phi
    integrated.
    """
    p = math.sqrt(e0 * e0 - m * m)
    k0b = (x * e0)[:, None]
    kkb = np.sqrt(np.maximum(k0b * k0b - mx * mx, 0.0))
    s2 = np.sin(0.5 * th) ** 2
    # kappa = 2 p.k - mX^2 = 2 (E0 k0 - P K) - mX^2 + 4 P K sin^2(theta/2), the first part without
    # subtraction
    kap = (
        mx * mx * (e0 * (e0 - k0b) + (e0 * e0 - p * kkb)) + 2.0 * m * m * (k0b * k0b - mx * mx)
    ) / (e0 * k0b + p * kkb) + 4.0 * p * kkb * s2
    v2 = (p - kkb) ** 2 + 4.0 * p * kkb * s2  # |p - k|^2
    v = np.sqrt(v2)
    v0 = e0 - k0b
    k_par = (p * kkb * np.cos(th) - kkb * kkb) / v  # k . V / |V|
    k_perp = p * kkb * np.sin(th) / v  # |k x V| / |V|
    # t range from q_perp^2 >= 0: a t^2 - b t + kappa^2 <= 0
    c = 1.0 + v0 / recoil_mass
    qa = c * c - v2 / recoil_mass**2
    qb = 4.0 * v2 - 2.0 * kap * c
    t_max = (qb + np.sqrt(np.maximum(qb * qb - 4.0 * qa * kap * kap, 0.0))) / (2.0 * qa)
    t_min = kap * kap / (qa * t_max)
    # the squared on-shell condition also admits E' < m: the recoil energy t/(2M) must leave E' = E0
    # - k0 - t/(2M) >= m
    t_max = np.minimum(t_max, 2.0 * recoil_mass * (v0 - m))
    t_hi = np.minimum(t_max, t_scale_hi)
    ok = t_hi > t_min * (1.0 + 1e-9)
    span = np.where(ok, np.log(np.where(ok, t_hi / t_min, 2.0)), 0.0)
    # ln t grid from t_min: t = t_min e^s, s in [0, span]
    us, ws = _gl(n_t)
    s = span[..., None] * us  # (nx, nth, nt)
    tm = t_min[..., None]
    t = tm * np.exp(s)
    t_minus = tm * np.expm1(s)
    w_t = span[..., None] * ws * t
    q0 = -t / (2.0 * recoil_mass)
    t_plus = t_max[..., None] - t
    qperp2 = np.maximum(qa[..., None] * t_minus * t_plus, 0.0) / (4.0 * v2[..., None])
    q_par = -(kap[..., None] + c[..., None] * t) / (2.0 * v[..., None])
    dbar = 2.0 * (q0 * k0b[..., None] - q_par * k_par[..., None])
    bb = -2.0 * np.sqrt(qperp2) * k_perp[..., None]
    ep = e0 - k0b[..., None] + q0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = _phi_averaged_trace(e0, ep, k0b[..., None], kap[..., None], t, -q0, dbar, bb, m, mx)
        integrand = np.where(w_t > 0, g2_func(t, target) * r / t**2 * w_t, 0.0)
    per_theta = integrand.sum(axis=-1) * e0 * kkb / (p * v)
    return 0.25 * ALPHA_EM**2 * np.where(ok, per_theta, 0.0)


def _integrand_xtheta(
    x: np.ndarray,
    e0: float,
    m: float,
    mx: float,
    target: Material,
    recoil_mass: float,
    g2_func: FormFactor,
    n_theta: int,
    n_t: int,
    t_scale_hi: float,
) -> np.ndarray:
    """dsigma/dx / alpha_X [GeV^-2] at the given x nodes (theta, t, phi integrated)."""
    # characteristic emission angle: U(x) = mX^2 (1-x)/x + m^2 x = E0^2 x theta_c^2
    theta_c = np.sqrt((mx * mx * (1.0 - x) / x + m * m * x) / (e0 * e0 * x))
    ut, wt = _gl(n_theta)
    lo = np.log(theta_c * 1e-3)
    hi = np.log(np.minimum(math.pi, theta_c * 3e4))
    th = np.exp(lo[:, None] + (hi - lo)[:, None] * ut[None, :])  # (nx, ntheta)
    w_th = (
        (hi - lo)[:, None] * wt[None, :] * np.sin(th) * th
    )  # dcos(theta) = sin(theta) theta dln(theta)
    d2 = _dsigma_dx_dcos(x, th, e0, m, mx, target, recoil_mass, g2_func, n_t, t_scale_hi)
    return (d2 * w_th).sum(axis=-1)


@dataclass(frozen=True)
class EtlResult:
    """One ETL evaluation.

    Attributes
    ----------
    x, dsigma_dx_pb:
        X energy fractions and dsigma/dx per unit alpha_X [pb] there.
    sigma_pb:
        Integral of dsigma/dx over x above ``x_min`` [pb per unit alpha_X].
    """

    x: np.ndarray
    dsigma_dx_pb: np.ndarray
    sigma_pb: float


def _check(m: float, mx: float, e0: float) -> None:
    if not (np.isfinite(mx) and mx > 0.0):
        raise PhysicsError(f"boson mass must be positive and finite, got {mx!r} GeV")
    if not (np.isfinite(e0) and e0 > mx + m):
        raise PhysicsError(
            f"beam energy {e0!r} GeV must exceed the boson mass {mx} GeV plus the lepton mass {m} "
            "GeV"
        )


def compute_etl(
    lepton: str,
    target: Material | str,
    mass_gev: float,
    beam_energy_gev: float,
    x_min: float = 0.0,
    *,
    inelastic: bool = False,
    elastic: bool = True,
    n_x: int = 48,
    n_theta: int = 48,
    n_t: int = 64,
) -> EtlResult:
    """ETL dsigma/dx and sigma(x > x_min) per unit alpha_X for l Z -> l Z X [pb].

    Parameters
    ----------
    lepton:
        ``"e"`` or ``"mu"`` (beam lepton).
    target:
        Target material (``"Pb"``, ``"W"`` or a :class:`Material`).
    mass_gev:
        X mass [GeV].
    beam_energy_gev:
        Beam energy E0 [GeV].
    x_min:
        Lower cut on x = E_X/E0 (0: the whole kinematic range m/E0 < x < 1 - m_l/E0).
    inelastic:
        Add the quasi-elastic proton term G2_inel (module docstring).
    elastic:
        Include the coherent (elastic) term; ``elastic=False, inelastic=True`` gives the proton term
        alone.
    n_x, n_theta, n_t:
        Gauss-Legendre nodes per x panel, in ln theta and in ln t.

    Examples
    --------
    >>> r = compute_etl("mu", "Pb", 0.1, 160.0, x_min=0.5, n_x=16, n_theta=24, n_t=32)
    >>> 7e10 < r.sigma_pb < 9e10   # pb per unit alpha_X
    True
    """
    m = lepton_mass_gev(lepton)
    mat = _as_material(target)
    mx, e0 = float(mass_gev), float(beam_energy_gev)
    _check(m, mx, e0)
    x_lo = max(mx / e0 * (1.0 + 1e-9), float(x_min))
    x_hi = 1.0 - m / e0
    if x_lo >= x_hi:
        return EtlResult(np.zeros(0), np.zeros(0), 0.0)
    x, wx = _x_nodes(x_lo, x_hi, n_x)
    m_nucleus = mat.a * ATOMIC_MASS_UNIT_GEV
    d_nuc = 0.164 * mat.a ** (-2.0 / 3.0)
    dsdx = np.zeros(x.shape)
    if elastic:
        dsdx = dsdx + _integrand_xtheta(
            x, e0, m, mx, mat, m_nucleus, g2_elastic, n_theta, n_t, 1e4 * d_nuc
        )
    if inelastic:
        dsdx = dsdx + _integrand_xtheta(
            x, e0, m, mx, mat, M_PROTON_GEV, g2_inelastic, n_theta, n_t, 1e3 * 0.71
        )
    dsdx_pb = dsdx * GEV2_TO_PB
    return EtlResult(x, dsdx_pb, float((dsdx_pb * wx).sum()))


def sigma_etl_computed_pb(
    lepton: str,
    target: Material | str,
    mass_gev: float,
    beam_energy_gev: float,
    x_min: float = 0.0,
    *,
    inelastic: bool = False,
    n_x: int = 48,
    n_theta: int = 48,
    n_t: int = 64,
) -> float:
    """ETL cross section per unit alpha_X for x = E_X/E0 > x_min, integrated directly [pb].

    ~0.05-0.2 s a point; for yields use the tabulated :func:`sigma_etl_pb`.

    >>> s = sigma_etl_computed_pb("e", "Pb", 0.1, 100.0, n_x=16, n_theta=24, n_t=32)
    >>> 1.3e12 < s < 1.5e12
    True
    """
    return compute_etl(
        lepton,
        target,
        mass_gev,
        beam_energy_gev,
        x_min,
        inelastic=inelastic,
        n_x=n_x,
        n_theta=n_theta,
        n_t=n_t,
    ).sigma_pb


def dsigma_dx_etl_pb(
    x: ArrayLike,
    lepton: str,
    target: Material | str,
    mass_gev: float,
    beam_energy_gev: float,
    *,
    inelastic: bool = False,
    n_theta: int = 48,
    n_t: int = 64,
) -> np.ndarray:
    """ETL dsigma/dx per unit alpha_X at the given x [pb]; zero outside m/E0 < x < 1 - m_l/E0."""
    m = lepton_mass_gev(lepton)
    mat = _as_material(target)
    mx, e0 = float(mass_gev), float(beam_energy_gev)
    _check(m, mx, e0)
    xs = np.atleast_1d(np.asarray(x, dtype=float))
    inside = (xs > mx / e0) & (xs < 1.0 - m / e0)
    out = np.zeros(xs.shape)
    if np.any(inside):
        xi = xs[inside]
        val = _integrand_xtheta(
            xi,
            e0,
            m,
            mx,
            mat,
            mat.a * ATOMIC_MASS_UNIT_GEV,
            g2_elastic,
            n_theta,
            n_t,
            1e4 * 0.164 * mat.a ** (-2.0 / 3.0),
        )
        if inelastic:
            val = val + _integrand_xtheta(
                xi, e0, m, mx, mat, M_PROTON_GEV, g2_inelastic, n_theta, n_t, 710.0
            )
        out[inside] = val * GEV2_TO_PB
    return out.reshape(np.shape(x))


def inelastic_fraction(
    lepton: str,
    target: Material | str,
    mass_gev: float,
    beam_energy_gev: float,
    x_min: float = 0.0,
    *,
    n_x: int = 48,
    n_theta: int = 48,
    n_t: int = 64,
) -> float:
    """sigma(elastic + inelastic) / sigma(elastic) - 1: how much the G2_inel term adds.

    >>> 0.01 < inelastic_fraction("mu", "Pb", 0.01, 160.0, 0.5, n_x=16, n_theta=24, n_t=32) < 0.03
    True
    """
    el = compute_etl(
        lepton, target, mass_gev, beam_energy_gev, x_min, n_x=n_x, n_theta=n_theta, n_t=n_t
    ).sigma_pb
    both = compute_etl(
        lepton,
        target,
        mass_gev,
        beam_energy_gev,
        x_min,
        inelastic=True,
        n_x=n_x,
        n_theta=n_theta,
        n_t=n_t,
    ).sigma_pb
    return both / el - 1.0


_TABLE = "etl_cross_sections"


@dataclass(frozen=True)
class _Table:
    log_mass: np.ndarray
    log_energy: np.ndarray
    x_min: np.ndarray
    log_sigma: (
        np.ndarray
    )  # (mass, energy, cut): ln sigma; for the inelastic term sigma_inel / sigma_el


@cache
def _table(lepton: str, target: str, term: str = "sigma_pb") -> _Table:
    raw = load_resource(_TABLE)
    key = "e" if lepton_mass_gev(lepton) == M_E_GEV else "mu"
    try:
        mass = np.asarray(raw["mass_gev"], dtype=float)
        energy = np.asarray(raw["beam_energy_gev"][key], dtype=float)
        cuts = np.asarray(raw["x_min"], dtype=float)
        sigma = np.asarray(raw[term][key][target], dtype=float)
    except KeyError as exc:
        raise ResourceError(
            f"resources/{_TABLE}.json has no entry {exc} (lepton {key!r}, target {target!r})"
        ) from exc
    if sigma.shape != (mass.size, energy.size, cuts.size) or not np.all(
        sigma > 0 if term == "sigma_pb" else sigma >= 0
    ):
        raise ResourceError(
            f"resources/{_TABLE}.json: {key}/{term}/{target} table shape {sigma.shape} or values "
            "invalid"
        )
    if (
        term != "sigma_pb"
    ):  # the proton term as a ratio to the elastic one (smooth, may be 0 near x -> 1)
        return _Table(
            np.log(mass), np.log(energy), cuts, sigma / np.exp(_table(lepton, target).log_sigma)
        )
    return _Table(np.log(mass), np.log(energy), cuts, np.log(sigma))


def etl_table_grid(lepton: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masses [GeV], beam energies [GeV], x_min cuts) of the shipped ETL table for ``lepton``."""
    tab = _table(lepton, "Pb")
    return np.exp(tab.log_mass), np.exp(tab.log_energy), tab.x_min.copy()


@cache
def _interpolator(
    lepton_mass: float, target: str, term: str = "sigma_pb"
) -> RegularGridInterpolator:
    tab = _table("e" if lepton_mass == M_E_GEV else "mu", target, term)
    return RegularGridInterpolator(
        (tab.log_mass, tab.log_energy, tab.x_min), tab.log_sigma, method="cubic"
    )


def sigma_etl_pb(
    lepton: str,
    target: Material | str,
    mass_gev: float,
    beam_energy_gev: ArrayLike,
    x_min: ArrayLike = 0.0,
    *,
    inelastic: bool = False,
) -> np.ndarray:
    """Tabulated ETL cross section sigma(x > x_min) per unit alpha_X [pb] (elastic form factor).

    Reads ``resources/etl_cross_sections.json`` (made by ``tools/make_etl_table.py``
    with :func:`compute_etl`) and interpolates ln sigma with cubic splines in
    (ln m, ln E0, x_min) (within 0.5% of direct integration off the grid,
    tests/physics/test_etl.py; linear interpolation was off by up to 7% at 2-3 GeV).
    Between the last tabulated cut (0.995) and the end point x = 1 - m_l/E0, sigma falls linearly to
    zero. Vectorised over ``beam_energy_gev`` and ``x_min`` (broadcast); masses or energies outside
    the table raise :class:`~na64stat.core.errors.PhysicsError`.

    Parameters
    ----------
    lepton:
        ``"e"`` or ``"mu"``.
    target:
        ``"Pb"`` or ``"W"`` (or the :class:`Material`).
    mass_gev:
        X mass [GeV], 1 MeV - 3 GeV.
    beam_energy_gev:
        Lepton energy E0 [GeV]: 20-160 (e), 100-200 (mu).
    x_min:
        Lower cut on x = E_X/E0 (0 = no cut).
    inelastic:
        Add the tabulated quasi-elastic proton term (G2_inel, BEST 2009 eq. A19): +1.4-1.7%
        below ~300 MeV, +3% at 1 GeV for 160 GeV muons; for electrons up to +150% at 3 GeV,
        20 GeV (module docstring).

    Examples
    --------
    >>> s = sigma_etl_pb("mu", "Pb", 0.1, 160.0, x_min=0.5)
    >>> 7e10 < float(s) < 9e10
    True
    """
    mat = _as_material(target)
    tab = _table(lepton, mat.name)
    m = float(mass_gev)
    lm = math.log(m) if m > 0 else -np.inf
    if not (tab.log_mass[0] - 1e-9 <= lm <= tab.log_mass[-1] + 1e-9):
        raise PhysicsError(
            f"ETL table ({lepton}, {mat.name}) covers masses {math.exp(tab.log_mass[0]):.4g}-"
            f"{math.exp(tab.log_mass[-1]):.4g} GeV, not {mass_gev!r} GeV; use compute_etl for one "
            "point"
        )
    e0, cut = np.broadcast_arrays(
        np.asarray(beam_energy_gev, dtype=float), np.asarray(x_min, dtype=float)
    )
    le = np.log(e0)
    if (
        np.any(~np.isfinite(le))
        or np.any(le < tab.log_energy[0] - 1e-9)
        or np.any(le > tab.log_energy[-1] + 1e-9)
    ):
        raise PhysicsError(
            f"ETL table ({lepton}, {mat.name}) covers beam energies "
            f"{math.exp(tab.log_energy[0]):.4g}-{math.exp(tab.log_energy[-1]):.4g} GeV, "
            f"not {beam_energy_gev!r} GeV"
        )
    if np.any(~np.isfinite(cut)) or np.any(cut < 0.0):
        raise PhysicsError(f"x_min must be >= 0, got {x_min!r}")
    x_end = 1.0 - lepton_mass_gev(lepton) / e0
    c_last = tab.x_min[-1]
    cut_in = np.clip(cut, 0.0, c_last)
    pts = np.stack(
        [
            np.full(e0.size, min(max(lm, tab.log_mass[0]), tab.log_mass[-1])),
            np.clip(le.ravel(), tab.log_energy[0], tab.log_energy[-1]),
            cut_in.ravel(),
        ],
        axis=-1,
    )
    out = _interpolator(lepton_mass_gev(lepton), mat.name)(pts).reshape(e0.shape)
    if inelastic:
        ratio = _interpolator(lepton_mass_gev(lepton), mat.name, "sigma_inelastic_pb")(pts).reshape(
            e0.shape
        )
        out = out + np.log1p(np.maximum(ratio, 0.0))
    sigma = np.exp(out)
    tail = np.clip((x_end - cut) / (x_end - c_last), 0.0, 1.0)
    return np.where(cut > c_last, sigma * tail, sigma)
