"""Tests of the exact-tree-level (ETL) cross section, na64stat.physics.etl.

References, all independent of the code under test:
* the Bethe-Heitler bremsstrahlung formula (Koch & Motz, RMP 31 (1959) 920,
  formula 2BN) for the matrix element at m_X = 0;
* an explicit 4x4 Dirac-matrix evaluation of the trace with the full nuclear
  current J = P_i + P_f and a numerical azimuthal integral (m_X > 0);
* DMG4's K factors for lead (shared/na64_limits, via resources/dmg4_kfactors_pb.json);
* the review's statement (Fig. 12 text) that IWW exceeds ETL by ~2 for muons.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from na64stat.core.errors import PhysicsError
from na64stat.core.references import load_resource
from na64stat.physics import etl
from na64stat.physics.constants import ALPHA_EM, GEV2_TO_PB, LEAD, M_E_GEV, M_MU_GEV, TUNGSTEN
from na64stat.physics.production import chi_elastic, sigma_iww_dmg4_pb

FAST = {"n_x": 24, "n_theta": 32, "n_t": 48}


# ---------------------------------------------------------------- matrix element


def _bethe_heitler_bracket(e0, ef, k, p0, p, th0, th, ph, q2):
    """Koch & Motz 2BN curly bracket (units m_e = 1; angles to the photon direction)."""
    a, b = ef - p * math.cos(th), e0 - p0 * math.cos(th0)
    return (
        p**2 * math.sin(th) ** 2 * (4 * e0**2 - q2) / a**2
        + p0**2 * math.sin(th0) ** 2 * (4 * ef**2 - q2) / b**2
        + 2 * k**2 * (p**2 * math.sin(th) ** 2 + p0**2 * math.sin(th0) ** 2) / (a * b)
        - 2
        * p
        * p0
        * math.sin(th)
        * math.sin(th0)
        * math.cos(ph)
        * (2 * e0**2 + 2 * ef**2 - q2)
        / (a * b)
    )


def test_trace_reduces_to_bethe_heitler_for_massless_boson():
    """At m_X = 0 and q_perp = 0 (no phi average) the trace is 2/k^2 times the BH bracket."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        e0 = rng.uniform(2.0, 30.0)
        k = rng.uniform(0.05, 0.95) * (e0 - 1.0)
        ef = e0 - k
        p0, p = math.sqrt(e0**2 - 1), math.sqrt(ef**2 - 1)
        th0, th, ph = rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0), rng.uniform(0.0, 2 * math.pi)
        kv = np.array([0.0, 0.0, k])
        p0v = p0 * np.array([math.sin(th0), 0.0, math.cos(th0)])
        pv = p * np.array([math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th)])
        q2 = float((pv + kv - p0v) @ (pv + kv - p0v))  # static nucleus: t = |q|^2
        kap, kapp = 2 * k * (e0 - p0 * math.cos(th0)), 2 * k * (ef - p * math.cos(th))
        r = etl._phi_averaged_trace(
            np.array(e0),
            np.array(ef),
            np.array(k),
            np.array(kap),
            np.array(q2),
            np.array(0.0),
            np.array(kapp - kap),
            np.array(0.0),
            1.0,
            0.0,
        )
        bh = _bethe_heitler_bracket(e0, ef, k, p0, p, th0, th, ph, q2)
        assert float(r) == pytest.approx(2.0 * bh / k**2, rel=1e-9)


def _gamma_matrices():
    sx, sy, sz = (
        np.array([[0, 1], [1, 0]]),
        np.array([[0, -1j], [1j, 0]]),
        np.array([[1, 0], [0, -1]]),
    )
    z = np.zeros((2, 2))
    g = [np.diag([1, 1, -1, -1]).astype(complex)] + [
        np.block([[z, s], [-s, z]]) for s in (sx, sy, sz)
    ]
    return g, np.diag([1.0, -1.0, -1.0, -1.0])


def _explicit_dsigma_dx_dcos(e0, m, mx, x, th, recoil_mass, n_t=24, n_phi=32):
    """d^2sigma/(dx dcos theta)/alpha_X [GeV^-2] from explicit 4-vectors, explicit gamma matrices,
    J = P_i + P_f, -g + kk/m^2 polarisation sum, numerical t and phi integrals (vectorised over
    both).
    """
    g, metric = _gamma_matrices()
    gam = np.array(g)  # (4, 4, 4): gamma^mu
    eye = np.eye(4)

    def sl(v):  # v (..., 4) -> v_mu gamma^mu (..., 4, 4)
        return np.einsum("...i,i,ijk->...jk", v, np.diag(metric), gam)

    def dot(a, b):
        return np.einsum("...i,i,...i->...", a, np.diag(metric), b)

    p = math.sqrt(e0**2 - m**2)
    k0 = x * e0
    kk = math.sqrt(k0**2 - mx**2)
    pv, kv = np.array([0.0, 0.0, p]), np.array([kk * math.sin(th), 0.0, kk * math.cos(th)])
    pvec, kvec = np.array([e0, *pv]), np.array([k0, *kv])
    vv = pv - kv
    v = np.linalg.norm(vv)
    vh = vv / v
    kap = 2 * (e0 * k0 - pv @ kv) - mx**2
    c = 1 + (e0 - k0) / recoil_mass
    qa, qb = c * c - v * v / recoil_mass**2, 4 * v * v - 2 * kap * c
    t_max = (qb + math.sqrt(qb * qb - 4 * qa * kap * kap)) / (2 * qa)
    t_min = kap * kap / (qa * t_max)
    t_max = min(t_max, 1e4 * 0.164 * LEAD.a ** (-2 / 3))
    e1 = np.cross(np.cross(vh, kv), vh)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(vh, e1)
    u, w = np.polynomial.legendre.leggauss(n_t)
    up, wp = np.polynomial.legendre.leggauss(n_phi)
    span = math.log(t_max / t_min)
    t = t_min * np.exp(span * 0.5 * (u + 1))[:, None] * np.ones(n_phi)  # (nt, nphi)
    phi = (math.pi * (up + 1))[None, :] * np.ones((n_t, 1))
    q0 = -t / (2 * recoil_mass)
    q_par = -(kap + c * t) / (2 * v)
    q_perp = np.sqrt(np.maximum(t + q0 * q0 - q_par**2, 0.0))
    qv = q_par[..., None] * vh + q_perp[..., None] * (
        np.cos(phi)[..., None] * e1 + np.sin(phi)[..., None] * e2
    )
    pp = np.concatenate([(e0 - k0 + q0)[..., None], vv + qv], axis=-1)
    current = np.concatenate([(2 * recoil_mass - q0)[..., None], -qv], axis=-1)  # P_i + P_f
    s_t = (dot(pp + kvec, pp + kvec) - m**2)[..., None, None]
    u_t = dot(pvec - kvec, pvec - kvec) - m**2
    k_low = metric @ kvec
    s_ppk, s_pmk, s_j = sl(pp + kvec) + m * eye, sl(pvec - kvec) + m * eye, sl(current)
    s_pp, s_p = sl(pp) + m * eye, sl(pvec) + m * eye
    tr = 0.0
    for mu in range(4):
        for nu in range(4):
            weight = -metric[mu, nu] + k_low[mu] * k_low[nu] / mx**2
            if weight == 0.0:
                continue
            gm = gam[mu] @ s_ppk @ s_j / s_t + s_j @ s_pmk @ gam[mu] / u_t
            gn = s_j @ s_ppk @ gam[nu] / s_t + gam[nu] @ s_pmk @ s_j / u_t
            tr = tr + weight * np.trace(s_pp @ gm @ s_p @ gn, axis1=-2, axis2=-1).real
    per_t = (tr / 2.0) @ (math.pi * wp)  # initial spin average, phi integral
    g2 = etl.g2_elastic(t[:, 0], LEAD)
    total = np.sum(
        0.5 * w * span * t[:, 0] * (4 * math.pi) ** 3 * ALPHA_EM**2 * g2 / t[:, 0] ** 2 * per_t
    )
    # phase space and flux: |k| dk0 dOmega dt dphi / ((2 pi)^5 64 M^2 |p| |V|), dOmega -> 2 pi dcos
    return total * e0 * kk * 2 * math.pi / ((2 * math.pi) ** 5 * 64 * recoil_mass**2 * p * v)


@pytest.mark.parametrize(
    ("e0", "m", "mx", "x", "th"),
    [
        (20.0, M_MU_GEV, 1.0, 0.7, 0.05),
        (20.0, M_MU_GEV, 0.1, 0.9, 0.003),
        (20.0, M_E_GEV, 0.5, 0.95, 0.01),
    ],
)
def test_fast_integrand_matches_explicit_dirac_matrices(e0, m, mx, x, th):
    recoil = LEAD.a * etl.ATOMIC_MASS_UNIT_GEV
    fast = etl._dsigma_dx_dcos(
        np.array([x]),
        np.array([[th]]),
        e0,
        m,
        mx,
        LEAD,
        recoil,
        etl.g2_elastic,
        64,
        1e4 * 0.164 * LEAD.a ** (-2 / 3),
    )
    assert float(fast[0, 0]) == pytest.approx(
        _explicit_dsigma_dx_dcos(e0, m, mx, x, th, recoil), rel=1e-5
    )


# ---------------------------------------------------------------- integration and table


def test_quadrature_converged_and_dsigma_dx_integrates_to_sigma():
    base = etl.compute_etl("mu", "Pb", 0.05, 160.0, x_min=0.5, **FAST)
    fine = etl.compute_etl("mu", "Pb", 0.05, 160.0, x_min=0.5, n_x=48, n_theta=64, n_t=96)
    assert base.sigma_pb == pytest.approx(fine.sigma_pb, rel=1e-3)
    spectrum = lambda x: float(etl.dsigma_dx_etl_pb(x, "mu", "Pb", 0.05, 160.0, n_theta=32, n_t=48))
    assert etl.dsigma_dx_etl_pb(0.7, "mu", "Pb", 0.05, 160.0).shape == ()
    quad, _ = integrate.quad(spectrum, 0.5, 1.0 - M_MU_GEV / 160.0, limit=200, epsrel=1e-5)
    assert quad == pytest.approx(fine.sigma_pb, rel=2e-3)


def test_table_matches_direct_integration_off_grid():
    """Table interpolation against direct integration at off-grid points (< 0.5%)."""
    for lepton, target, m, e0, cut in [
        ("mu", "Pb", 0.0137, 160.0, 0.5),
        ("mu", "Pb", 0.41, 150.0, 0.45),
        ("e", "W", 0.0167, 90.0, 0.0),
        ("e", "Pb", 0.23, 70.0, 0.72),
        ("e", "Pb", 1.7, 110.0, 0.5),
    ]:
        direct = etl.sigma_etl_computed_pb(lepton, target, m, e0, cut, **FAST)
        assert float(etl.sigma_etl_pb(lepton, target, m, e0, cut)) == pytest.approx(
            direct, rel=0.005
        ), (lepton, m)


def test_table_vectorised_and_errors():
    e0 = np.array([60.0, 80.0, 100.0])
    cut = 50.0 / e0
    vec = etl.sigma_etl_pb("e", "Pb", 0.01, e0, cut)
    assert vec.shape == (3,)
    for i in range(3):
        assert vec[i] == pytest.approx(
            float(etl.sigma_etl_pb("e", "Pb", 0.01, e0[i], cut[i])), rel=1e-12
        )
    # monotone in the cut, and zero at the end point
    cuts = np.linspace(0.0, 1.0 - M_E_GEV / 100.0, 40)
    values = etl.sigma_etl_pb("e", "Pb", 0.1, 100.0, cuts)
    assert np.all(np.diff(values) <= 0.0) and values[-1] == pytest.approx(0.0, abs=1e-9 * values[0])
    with pytest.raises(PhysicsError, match="masses"):
        etl.sigma_etl_pb("mu", "Pb", 5.0, 160.0)
    with pytest.raises(PhysicsError, match="beam energies"):
        etl.sigma_etl_pb("mu", "Pb", 0.1, 50.0)
    with pytest.raises(PhysicsError, match="unknown lepton"):
        etl.sigma_etl_pb("tau", "Pb", 0.1, 160.0)


# ---------------------------------------------------------------- DMG4 K factors (electrons on Pb)


def _k_deviation_from_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = load_resource("dmg4_kfactors_pb")
    masses = np.asarray(raw["mass_mev"], dtype=float) * 1e-3
    energies = np.asarray(raw["beam_energy_gev"], dtype=float)
    k_dmg4 = np.asarray(raw["k_iww_over_etl"], dtype=float)
    dev = np.empty_like(k_dmg4)
    for i, m in enumerate(masses):
        k_ours = sigma_iww_dmg4_pb(m, energies, 1.0) / etl.sigma_etl_pb("e", "Pb", m, energies)
        dev[i] = k_ours / k_dmg4[i] - 1.0
    return masses, energies, dev


def test_dmg4_k_factors_reproduced():
    """K = sigma_IWW(DMG4 formula) / sigma_ETL(ours) against DMG4's table, all 44 x 8 points.

    Measured (direct integration, see test_dmg4_k_factors_direct_slow): within 2% for
    2 - 70 MeV at every beam energy (and up to ~300-600 MeV at 20-60 GeV); +2 to +3% for
    80 MeV - 1 GeV at 80 - 160 GeV; -3.7% at 1 MeV (m_A' ~ 2 m_e); growing with m/E0 above
    1 GeV, to +24% at 3 GeV and 20 GeV, where the elastic form factor suppresses the
    cross section (t_min ~ m^4/(4 E0^2) >> d) and the result is most sensitive to the
    nuclear form factor and to what else DMG4 included there. Not tuned: these are the
    numbers this calculation gives. Asserted: the issue's 2% where it holds, and the
    stated bounds up to 1 GeV; the 1 MeV row and the > 1 GeV corner are reported in this
    docstring only (pinning them would test the code against its own output).
    """
    masses, _, dev = _k_deviation_from_table()
    mid = (masses >= 0.002 - 1e-12) & (masses <= 0.070 + 1e-12)
    assert np.max(np.abs(dev[mid])) < 0.02
    up_to_1gev = (masses >= 0.002 - 1e-12) & (masses <= 1.0 + 1e-12)
    assert np.max(np.abs(dev[up_to_1gev][:, 1:])) < 0.035  # E0 >= 40 GeV
    assert np.max(np.abs(dev[up_to_1gev])) < 0.075


def test_dmg4_k_factors_with_the_inelastic_term():
    """The same comparison with the quasi-elastic proton term added (BEST 2009 eq. A19, not in
    DMG4's IWW).

    Measured: within 2% for 4 MeV - 1 GeV at every beam energy (within 0.1% at 10 - 20 MeV),
    -5% at 1 MeV, and far off where m/E0 is large (-51% at 3 GeV, 20 GeV): there this proton
    term exceeds what DMG4's ETL contains. Reported, not used to pick a default (the default
    is elastic only).
    """
    raw = load_resource("dmg4_kfactors_pb")
    masses = np.asarray(raw["mass_mev"], dtype=float) * 1e-3
    energies = np.asarray(raw["beam_energy_gev"], dtype=float)
    k_dmg4 = np.asarray(raw["k_iww_over_etl"], dtype=float)
    dev = np.array(
        [
            sigma_iww_dmg4_pb(m, energies, 1.0)
            / etl.sigma_etl_pb("e", "Pb", m, energies, inelastic=True)
            / k_dmg4[i]
            - 1.0
            for i, m in enumerate(masses)
        ]
    )
    band = (masses >= 0.004 - 1e-12) & (masses <= 1.0 + 1e-12)
    assert np.max(np.abs(dev[band])) < 0.02
    assert np.max(np.abs(dev[(masses >= 0.01 - 1e-12) & (masses <= 0.02 + 1e-12)])) < 0.002


def test_tabulated_inelastic_term_matches_direct_integration():
    for lepton, target, m, e0, cut in [
        ("mu", "Pb", 0.0137, 160.0, 0.5),
        ("mu", "Pb", 0.8, 160.0, 0.5),
        ("e", "W", 0.0167, 90.0, 0.0),
        ("e", "Pb", 2.2, 30.0, 0.0),
    ]:
        tab = float(
            etl.sigma_etl_pb(lepton, target, m, e0, cut, inelastic=True)
            / etl.sigma_etl_pb(lepton, target, m, e0, cut)
        )
        assert tab - 1.0 == pytest.approx(
            etl.inelastic_fraction(lepton, target, m, e0, cut, **FAST), rel=0.02, abs=2e-4
        )


@pytest.mark.parametrize(("m", "e0"), [(0.004, 100.0), (0.05, 60.0), (0.3, 140.0)])
def test_dmg4_k_factor_direct_points(m, e0):
    """A few direct integrations (no table) in the region where 2% is reached."""
    raw = load_resource("dmg4_kfactors_pb")
    masses = np.asarray(raw["mass_mev"], dtype=float) * 1e-3
    energies = np.asarray(raw["beam_energy_gev"], dtype=float)
    k_dmg4 = np.asarray(raw["k_iww_over_etl"], dtype=float)[
        np.argmin(abs(masses - m)), np.argmin(abs(energies - e0))
    ]
    k_ours = float(sigma_iww_dmg4_pb(m, e0, 1.0)) / etl.sigma_etl_computed_pb(
        "e", "Pb", m, e0, **FAST
    )
    assert k_ours == pytest.approx(k_dmg4, rel=0.03 if m > 0.1 else 0.02)


@pytest.mark.slow
def test_dmg4_k_factors_direct_slow():
    raw = load_resource("dmg4_kfactors_pb")
    masses = np.asarray(raw["mass_mev"], dtype=float) * 1e-3
    energies = np.asarray(raw["beam_energy_gev"], dtype=float)
    k_dmg4 = np.asarray(raw["k_iww_over_etl"], dtype=float)
    dev = np.array(
        [
            [
                float(sigma_iww_dmg4_pb(m, e, 1.0))
                / etl.sigma_etl_computed_pb("e", "Pb", m, e)
                / k_dmg4[i, j]
                - 1
                for j, e in enumerate(energies)
            ]
            for i, m in enumerate(masses)
        ]
    )
    assert np.max(np.abs(dev[(masses >= 0.002) & (masses <= 0.0701)])) < 0.02
    assert np.max(np.abs(dev)) < 0.26


# ---------------------------------------------------------------- muons: IWW / ETL ~ 2 (review,
# Fig. 12)


def _iww_muon_pb(m: float, e0: float) -> float:
    """IWW of eqs. (22)-(25) with m_e -> m_mu: fixed chi(t_min = m^4/(4 E0^2), t_max = m^2 +
    m_mu^2).
    """
    chi = float(chi_elastic(m**4 / (4 * e0**2), m**2 + M_MU_GEV**2, LEAD))
    shape = lambda x: (1 - x + x * x / 3) / (m * m * (1 - x) / x + M_MU_GEV**2 * x)
    value, _ = integrate.quad(shape, m / e0, 1 - M_MU_GEV / e0, limit=200, points=[0.5])
    return 4 * ALPHA_EM**2 * chi * value * GEV2_TO_PB


def test_muon_iww_over_etl_about_two():
    """The review: 'in 20 MeV <~ m <~ 1 GeV the total IWW cross sections are larger by ~2'.

    Measured at 160 GeV on Pb (total cross sections): 1.47 (10 MeV), 1.50 (20 MeV),
    1.62 (100 MeV), 2.26 (1 GeV): IWW exceeds ETL by 1.5 - 2.3 in that range.
    """
    ratios = {
        m: _iww_muon_pb(m, 160.0) / float(etl.sigma_etl_pb("mu", "Pb", m, 160.0))
        for m in (0.02, 0.1, 0.3, 1.0)
    }
    assert all(1.4 < r < 2.5 for r in ratios.values()), ratios
    assert ratios[1.0] > ratios[0.1] > ratios[0.02]


# ---------------------------------------------------------------- limits and scaling


def test_muon_cross_section_flat_below_muon_mass_and_tungsten_scaling():
    """sigma ~ alpha_X / m_mu^2 for m << m_mu (review, text to eq. 57): flat in m below ~m_mu/10;
    and W/Pb ~ (74/82)^2 at small m (Z^2 coherent scattering, log terms nearly equal)."""
    s1, s2, s3 = (float(etl.sigma_etl_pb("mu", "Pb", m, 160.0, 0.5)) for m in (0.001, 0.002, 0.005))
    assert s1 == pytest.approx(s2, rel=0.01) and s1 == pytest.approx(s3, rel=0.03)
    ratio = float(etl.sigma_etl_pb("mu", "W", 0.001, 160.0, 0.5)) / s1
    assert ratio == pytest.approx((TUNGSTEN.z / LEAD.z) ** 2, rel=0.05)


def test_electron_spectrum_peaks_at_high_x_for_heavy_boson():
    """For m >> m_e the A' takes most of the energy: dsigma/dx rises towards x -> 1 (eq. 22
    shape).
    """
    d = etl.dsigma_dx_etl_pb([0.3, 0.6, 0.9, 0.99], "e", "Pb", 0.1, 100.0, n_theta=32, n_t=48)
    assert d[0] < d[1] < d[2] < d[3]


def test_inelastic_term_small_at_low_mass():
    """The quasi-elastic proton term is ~1/Z of the elastic one where the nuclear size does not
    matter.
    """
    frac = etl.inelastic_fraction("mu", "Pb", 0.01, 160.0, 0.5, **FAST)
    assert 0.5 / LEAD.z < frac < 2.0 / LEAD.z
