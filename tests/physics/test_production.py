"""Production cross sections (eqs. 22-26, 56) against direct numerical integration,
the seed's limits and DMG4's K-factor table."""

import csv
import math

import pytest
from scipy import integrate

from na64stat.core.errors import PhysicsError
from na64stat.physics import production as p
from na64stat.physics.constants import ALPHA_EM, GEV2_TO_PB, LEAD, M_E_GEV, M_MU_GEV, TUNGSTEN


def _chi_quad(t_min, t_max, material):
    """Eq. (25) with eq. (26), integrated numerically (independent of the closed form)."""
    a = 111.0 * material.z ** (-1 / 3) / M_E_GEV
    d = 0.164 * material.a ** (-2 / 3)

    def g2(t):
        return (a * a * t / (1 + a * a * t)) ** 2 * (1 / (1 + t / d)) ** 2 * material.z**2

    f = lambda lt: (math.exp(lt) - t_min) / math.exp(lt) ** 2 * g2(math.exp(lt)) * math.exp(lt)
    return integrate.quad(f, math.log(t_min), math.log(t_max), limit=400, epsrel=1e-11)[0]


@pytest.mark.parametrize("material", [LEAD, TUNGSTEN])
@pytest.mark.parametrize("mass", [0.001, 0.0167, 0.1, 1.0])
@pytest.mark.parametrize("energy", [20.0, 100.0, 160.0])
def test_chi_closed_form_equals_eq25_integral(material, mass, energy):
    t_min, t_max = mass**4 / (4 * energy**2), mass**2
    assert float(p.chi_elastic(t_min, t_max, material)) == pytest.approx(
        _chi_quad(t_min, t_max, material), rel=1e-7
    )


def test_chi_is_z2_times_a_log_of_order_ten():
    # Text below eq. (26): chi = Z^2 Log with Log ~ 5-10, weakly dependent on kinematics.
    for mass in (0.001, 0.01, 0.1):
        log = float(p.chi_elastic(mass**4 / 4e4, mass**2)) / 82**2
        assert 5 < log < 13


def test_chi_vanishes_for_empty_range():
    assert float(p.chi_elastic(1e-3, 1e-4)) == 0.0


def test_dsigma_dx_is_eq22():
    m, e0, eps = 0.02, 100.0, 1e-4
    ax = float(p.alpha_x_dark_photon(eps))
    chi = float(p.chi_elastic(m**4 / (4 * e0**2), m**2))
    for x in (0.1, 0.5, 0.99):
        expected = (
            4
            * ALPHA_EM**3
            * eps**2
            * chi
            * (1 - x + x * x / 3)
            / (m * m * (1 - x) / x + M_E_GEV**2 * x)
        )
        assert float(p.dsigma_dx_iww_pb(x, m, e0, ax)) == pytest.approx(
            expected * GEV2_TO_PB, rel=1e-12
        )
    assert float(p.dsigma_dx_iww_pb(1e-6, m, e0, ax)) == 0.0  # below x_min = m/E0


@pytest.mark.parametrize("mass", [0.001, 0.01, 0.3])
@pytest.mark.parametrize("x_cut", [0.0, 0.5, 0.9])
def test_shape_fraction_equals_quad_of_eq22(mass, x_cut):
    e0 = 100.0
    lo, hi = p.x_range(mass, e0)
    f = lambda x: float(p.dsigma_dx_iww_pb(x, mass, e0, 1.0))
    pts = [1 - 10 * M_E_GEV**2 / mass**2] if mass > 0.005 else None

    def quad(a, b):
        # integrate in s = -ln(1-x) for the x -> 1 peak
        g = lambda s: f(1 - math.exp(-s)) * math.exp(-s)
        return integrate.quad(g, -math.log1p(-a), -math.log1p(-b), limit=500, epsrel=1e-10)[0]

    expected = quad(max(lo, x_cut), hi) / quad(lo, hi)
    assert float(p.x_shape_fraction(mass, e0, x_cut)) == pytest.approx(expected, rel=1e-6)
    del pts


@pytest.mark.parametrize("mass", [0.01, 0.03, 0.1])
def test_eq22_integrates_to_eq23(mass):
    # For m_e << m << E0 the x-integral of eq. (22) is eq. (23) times chi, up to
    # the O(1) constant under the leading logarithm (here within 10%).
    e0 = 100.0
    lo, hi = p.x_range(mass, e0)
    ax = float(p.alpha_x_dark_photon(1.0))
    total = integrate.quad(
        lambda s: float(p.dsigma_dx_iww_pb(1 - math.exp(-s), mass, e0, ax)) * math.exp(-s),
        -math.log1p(-lo),
        -math.log1p(-hi),
        limit=500,
    )[0]
    chi = float(p.chi_elastic(mass**4 / (4 * e0**2), mass**2))
    delta = max(M_E_GEV**2 / mass**2, mass**2 / e0**2)
    eq23 = 4 / 3 * ALPHA_EM**3 / mass**2 * math.log(1 / delta) * chi * GEV2_TO_PB
    assert total == pytest.approx(eq23, rel=0.10)


def test_dmg4_total_cross_section_formula():
    m, e0, ax = 0.05, 80.0, 1.0
    chi = float(p.chi_elastic(m**4 / (4 * e0**2), m**2))
    c = max(M_E_GEV / m, m / e0)
    expected = (
        4 / 3 * ALPHA_EM**2 * ax * chi * math.sqrt(1 - m * m / e0**2) * math.log(1 / c**2) / m**2
    )
    assert float(p.sigma_iww_dmg4_pb(m, e0, ax)) == pytest.approx(expected * GEV2_TO_PB, rel=1e-12)


def test_k_factor_reproduces_dmg4_table_at_grid_points(shared_limits):
    with open(shared_limits / "dmg4_KFactor_IWW_over_ETL_darkphoton_Pb.csv") as handle:
        rows = list(csv.reader(line for line in handle if not line.startswith("#")))
    energies = [float(h.split("_")[2].replace("GeV", "")) for h in rows[0][1:]]
    assert len(rows) - 1 == 44 and len(energies) == 8
    for row in rows[1:]:
        mass = float(row[0]) * 1e-3
        for e0, k in zip(energies, row[1:]):
            assert float(p.k_factor(mass, e0)) == pytest.approx(float(k), rel=1e-9)


def test_k_factor_interpolates_between_grid_points():
    k_lo, k_hi = float(p.k_factor(0.01, 100.0)), float(p.k_factor(0.02, 100.0))
    k_mid = float(p.k_factor(math.sqrt(0.01 * 0.02), 100.0))  # midpoint in ln m
    assert k_mid == pytest.approx(0.5 * (k_lo + k_hi), rel=1e-12)
    assert float(p.k_factor(0.01, 90.0)) == pytest.approx(0.5 * (1.0874 + 1.08268), rel=1e-4)
    # beam energies outside the table are clamped to its edge
    assert float(p.k_factor(0.01, 200.0)) == float(p.k_factor(0.01, 160.0))


def test_etl_is_iww_over_k_and_seed_factor_two():
    ax = float(p.alpha_x_dark_photon(1.0))
    for m in (0.02, 0.1, 0.5, 1.0):
        ratio = float(p.sigma_iww_dmg4_pb(m, 100.0, ax) / p.sigma_etl_pb(m, 100.0, ax))
        assert ratio == pytest.approx(float(p.k_factor(m, 100.0)), rel=1e-12)
        # seed, text of Fig. 12: IWW exceeds ETL by about 2 for 20 MeV - 1 GeV
        assert 1.15 < ratio < 2.3


def test_k_factor_domain_errors():
    with pytest.raises(PhysicsError, match="outside the DMG4 K-factor table"):
        p.k_factor(0.0005, 100.0)
    with pytest.raises(PhysicsError, match="Pb only"):
        p.sigma_etl_pb(0.01, 100.0, 1.0, TUNGSTEN)


@pytest.mark.parametrize("bad", [-0.01, 0.0, float("nan")])
def test_bad_mass_is_rejected(bad):
    with pytest.raises(PhysicsError, match="mass"):
        p.sigma_iww_dmg4_pb(bad, 100.0, 1.0)


def test_energy_below_mass_is_rejected():
    with pytest.raises(PhysicsError, match="beam energy"):
        p.dsigma_dx_iww_pb(0.5, 2.0, 1.0, 1.0)


def test_muon_cross_section_equals_quad_of_eq22_with_muon_mass():
    m, e0, x_min = 0.05, 160.0, 0.5
    ax = float(p.alpha_x_gauge(1e-3))
    f = lambda s: (
        float(
            p.dsigma_dx_iww_pb(1 - math.exp(-s), m, e0, ax, LEAD, M_MU_GEV, x_dependent_tmin=True)
        )
        * math.exp(-s)
    )
    hi = 1 - M_MU_GEV / e0
    expected = integrate.quad(f, -math.log1p(-x_min), -math.log1p(-hi), limit=400, epsrel=1e-10)[0]
    assert float(p.sigma_muon_iww_pb(m, e0, ax, x_min=x_min)) == pytest.approx(expected, rel=1e-6)


def test_muon_cross_section_scales_as_coupling2_over_mmu2():
    # Seed, text below Fig. 10: for m <= m_mu, sigma ~ eps^2 / m_mu^2 (flat in m), and linear in
    # alpha_X.
    s = [float(p.sigma_muon_iww_pb(m, 160.0, 1.0, x_min=0.5)) for m in (0.001, 0.003, 0.01)]
    assert max(s) / min(s) < 1.05
    assert float(p.sigma_muon_iww_pb(0.01, 160.0, 2.0)) == pytest.approx(
        2 * float(p.sigma_muon_iww_pb(0.01, 160.0, 1.0))
    )
    # and it falls well above m_mu
    assert float(p.sigma_muon_iww_pb(1.0, 160.0, 1.0, x_min=0.5)) < 0.1 * s[0]


def test_electron_cross_section_scales_as_one_over_m2():
    # Seed sec. 5.2: sigma_e ~ eps^2 / m^2 for m >> m_e (up to logarithms)
    ax = float(p.alpha_x_dark_photon(1.0))
    r = float(p.sigma_iww_dmg4_pb(0.01, 100.0, ax) / p.sigma_iww_dmg4_pb(0.1, 100.0, ax))
    assert 50 < r < 200


def test_muon_shape_has_bethe_heitler_massless_limit():
    # With the lepton-mass term, m -> 0 gives [4/3 (1 - x) + x^2] / (2 m_l^2 x) times 4 alpha^2
    # alpha_X chi.
    m, e0 = 1e-5, 160.0
    for x in (0.2, 0.5, 0.9):
        value = float(p.dsigma_dx_iww_pb(x, m, e0, 1.0, LEAD, M_MU_GEV, x_dependent_tmin=True))
        u = m * m * (1 - x) / x + M_MU_GEV**2 * x
        chi = float(p.chi_elastic((u / (2 * e0 * (1 - x))) ** 2, m * m + M_MU_GEV**2))
        bh = (4 / 3 * (1 - x) + x * x) / (2 * M_MU_GEV**2 * x)
        assert value == pytest.approx(4 * ALPHA_EM**2 * chi * bh * GEV2_TO_PB, rel=1e-3)
