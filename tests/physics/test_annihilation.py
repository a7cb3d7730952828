"""Positron track lengths and resonant annihilation e+ e- -> A' against independent references."""

import math

import numpy as np
import pytest
from _shower_mc import positron_track_lengths
from scipy.integrate import quad

from na64stat.physics.annihilation import (
    BENCHMARK_DARK_SECTOR,
    DarkSector,
    annihilation_events_per_pot,
    aprime_total_width_gev,
    breit_wigner_cross_section_cm2,
    efficiency_by_energy,
    integrated_cross_section_cm2_gev,
    positron_annihilation_nodes,
    resonance_energy_gev,
    resonance_mass_gev,
    resonant_cross_section_cm2,
)
from na64stat.physics.constants import ALPHA_EM, GEV2_TO_CM2, LEAD, M_E_GEV
from na64stat.physics.shower import shower_track_length


def _thin_target_positrons(e_gev: float, e0_gev: float, depth_x0: float) -> float:
    """dT+/dE [X0/GeV] in a thin target: brems photon k from the primary, then a pair whose e+ has
    E.

    With both vertices inside D and the positron's path to the exit, the depth
    integral is D^3/6 (leading order in D), times
    int_E^E0 dk/E0 phi0(k/E0) psi0(E/k)/k (Rossi's Approximation A spectra).
    """

    def integrand(k: float) -> float:
        v, u = k / e0_gev, e_gev / k
        return (4 / 3 - 4 / 3 * v + v * v) / v / e0_gev * (1 - 4 / 3 * u * (1 - u)) / k

    return depth_x0**3 / 6.0 * quad(integrand, e_gev, e0_gev)[0]


@pytest.mark.parametrize("energy", [25.0, 40.0, 60.0, 80.0])
def test_positrons_in_a_thin_target_follow_the_closed_form(energy):
    # 0.003 X0: the next order is O(D) ~ 0.5% (the spectrum moves towards the closed form as D -> 0)
    t = shower_track_length(100.0, 20.0, 0.003)
    assert float(t.positron_density_per_gev(energy)) == pytest.approx(
        _thin_target_positrons(energy, 100.0, 0.003), rel=0.015
    )


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
@pytest.mark.parametrize("thickness", [math.inf, 2.0])
def test_positrons_agree_with_a_charge_tracking_monte_carlo(thickness):
    edges = np.array([50.0, 60.0, 70.0, 80.0, 100.001])
    mc = positron_track_lengths(100.0, 50.0, thickness, 150_000, edges, seed=3)
    t = shower_track_length(100.0, 50.0, thickness)
    ours = np.array(
        [
            t.positron_x0[(t.energy_gev >= a) & (t.energy_gev < b)].sum()
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )
    # 150k primaries: two seeds of 2e5 agree to 0.3-1% on the total (e+ above E0/2 are rare), the
    # bins to ~5%
    assert ours.sum() == pytest.approx(mc.sum(), rel=0.04)
    assert np.allclose(ours, mc, rtol=0.15)


def test_positrons_are_part_of_the_lepton_track_and_absent_at_the_start():
    t = shower_track_length(100.0, 20.0, 40.0)
    assert np.all(t.positron_x0 <= 0.5 * t.electron_x0 + 1e-15)
    assert t.positron_x0[0] < 1e-3 * t.electron_x0[0]  # the primary bin holds the beam electron
    # nothing can exceed the beam energy
    assert float(t.positron_density_per_gev(100.5)) == 0.0


def test_resonance_energy_inverts():
    m = np.array([0.01, 0.25, 0.3])
    assert np.allclose(resonance_mass_gev(resonance_energy_gev(m)), m, rtol=1e-12)
    # s = 2 m_e^2 + 2 m_e E_R = m^2
    assert 2 * M_E_GEV**2 + 2 * M_E_GEV * float(resonance_energy_gev(0.25)) == pytest.approx(
        0.25**2, rel=1e-12
    )


@pytest.mark.parametrize("mass", [0.01, 0.25])
def test_narrow_width_normalisation_is_the_breit_wigner_area(mass):
    gamma = 1e-4 * mass
    e_r = float(resonance_energy_gev(mass))
    width_e = 2 * mass * gamma / (2 * M_E_GEV)  # the resonance width in E+ (s = m^2 +- m Gamma)
    area = quad(
        lambda e: float(breit_wigner_cross_section_cm2(e, mass, ALPHA_EM, gamma)),
        e_r - 2000 * width_e,
        e_r + 2000 * width_e,
        points=[e_r],
        limit=400,
    )[0]
    # the Lorentzian tails beyond +-2000 half widths hold 2/(pi 2000) of the area
    assert float(integrated_cross_section_cm2_gev(mass, ALPHA_EM)) * (
        1 - 2 / (math.pi * 2000)
    ) == pytest.approx(area, rel=1e-3)


def test_integrated_cross_section_closed_form():
    # m >> m_e: 2 pi^2 alpha eps^2 / m_e (Gamma_ee = alpha eps^2 m / 3); 1.10e-25 cm^2 GeV at eps =
    # 1
    value = float(integrated_cross_section_cm2_gev(0.3, ALPHA_EM))
    assert value == pytest.approx(2 * math.pi**2 * ALPHA_EM / M_E_GEV * GEV2_TO_CM2, rel=1e-5)
    assert value == pytest.approx(1.10e-25, rel=0.01)


def test_annihilation_yield_is_the_density_times_the_area_and_counts_only_inside_the_window():
    mass = 0.25
    n = annihilation_events_per_pot(mass, ALPHA_EM, 100.0, 50.0, LEAD, 40.0)
    t = shower_track_length(100.0, 25.0, 40.0)
    expected = (
        LEAD.z
        * LEAD.density_g_cm3
        * 6.02214076e23
        / LEAD.a
        * LEAD.x0_cm
        * float(t.positron_density_per_gev(resonance_energy_gev(mass)))
        * 2
        * math.pi**2
        * ALPHA_EM
        / M_E_GEV
        * GEV2_TO_CM2
    )
    assert n == pytest.approx(expected, rel=1e-4)
    # E_R = 49.5 GeV (225 MeV) fails a 50 GeV cut; E_R = 156 GeV (400 MeV) is above the beam energy
    assert annihilation_events_per_pot(0.225, ALPHA_EM, 100.0, 50.0, LEAD, 40.0) == 0.0
    assert annihilation_events_per_pot(0.4, ALPHA_EM, 100.0, 50.0, LEAD, 40.0) == 0.0
    assert annihilation_events_per_pot(0.225, ALPHA_EM, 100.0, 20.0, LEAD, 40.0) > 0.0


def test_yield_switch_and_the_reported_part():
    from na64stat.physics.efficiencies import signal_efficiency
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import annihilation_events_per_alpha_x, events_per_alpha_x

    on = get_setup("na64e-invisible").with_(annihilation_sector=None)  # the narrow width
    off = on.with_(positron_annihilation=False)
    masses = [0.1, 0.25, 0.3]
    total, brems = events_per_alpha_x(on, masses), events_per_alpha_x(off, masses)
    part = annihilation_events_per_alpha_x(on, masses)
    assert np.allclose(total, brems + part, rtol=1e-12)
    assert part[0] == 0.0 and np.all(part[1:] > 0)
    per_pot = annihilation_events_per_pot(0.25, 1.0, 100.0, 50.0, LEAD, 40.0)
    efficiency = float(
        signal_efficiency(on, 0.25, "annihilation")[0]
    )  # the channel's own simulated selection (per mass: log m; the yield: E_A', linear)
    assert part[1] == pytest.approx(on.exposure * efficiency * per_pot, rel=5e-3)
    assert np.all(annihilation_events_per_alpha_x(off, masses) == 0.0)


def test_generated_signal_mixes_the_channels_by_their_yields():
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import annihilation_events_per_alpha_x, events_per_alpha_x
    from na64stat.simulation.processes import signal_process
    from na64stat.simulation.sampling import Draw
    from na64stat.simulation.setups import get_detector

    mass, n = 0.25, 20_000
    process = signal_process("na64e-invisible", mass, 1e-3)
    truth = process.sample(
        Draw(np.random.default_rng(5), n, biased=True), get_detector("na64e-invisible")
    )
    e_x = truth["true_x"] * truth["true_beam_energy"]
    physics = get_setup("na64e-invisible").with_(
        missing_energy_cut_gev=process.metadata["generation_cut_gev"], exposure=1.0, efficiency=1.0
    )
    # annihilation A' carry E+ + m_e, E+ one of the finite-width yield's nodes (whatever the beam
    # particle's energy); bremsstrahlung A' are spread continuously over 20-100 GeV
    allowed = np.sort(
        positron_annihilation_nodes(
            mass, 1.0, 100.0, physics.missing_energy_cut_gev, 40.0, BENCHMARK_DARK_SECTOR
        ).energy_gev
        + M_E_GEV
    )
    idx = np.clip(np.searchsorted(allowed, e_x), 1, allowed.size - 1)
    gap = np.minimum(abs(allowed[idx] - e_x), abs(allowed[idx - 1] - e_x))
    resonant = gap < 1e-9 * e_x
    share = float(
        annihilation_events_per_alpha_x(physics, [mass])[0] / events_per_alpha_x(physics, [mass])[0]
    )
    assert 0.5 < share < 0.95
    assert resonant.mean() == pytest.approx(share, abs=4 * math.sqrt(share * (1 - share) / n))
    # the rest of the beam energy goes into the ECAL
    assert np.allclose(
        (truth["true_e_ecal"] + e_x)[resonant], truth["true_beam_energy"][resonant], rtol=1e-6
    )


# ---- finite width (tests against closed forms) ----


@pytest.mark.parametrize(
    "sector", [DarkSector(0.1, 3.0), DarkSector(0.5, 3.0), DarkSector(0.1, 2.5, "scalar")]
)
def test_total_width_is_the_closed_form(sector):
    m, r = 0.25, 1.0 / sector.mass_ratio
    if sector.chi == "dirac":  # eq. (8): alpha_D m / 3 (1 + 2 r^2) sqrt(1 - 4 r^2)
        expected = sector.alpha_d * m / 3 * (1 + 2 * r**2) * math.sqrt(1 - 4 * r**2)
    else:  # eq. (10): alpha_D m / 12 (1 - 4 r^2)^(3/2)
        expected = sector.alpha_d * m / 12 * (1 - 4 * r**2) ** 1.5
    assert aprime_total_width_gev(m, sector) == pytest.approx(expected, rel=1e-12)
    eps2 = 1e-6  # visible widths at alpha eps^2: e+ e- only below 2 m_mu, + mu+ mu- above
    ee = (
        ALPHA_EM
        * eps2
        * m
        / 3
        * (1 + 2 * (M_E_GEV / m) ** 2)
        * math.sqrt(1 - 4 * (M_E_GEV / m) ** 2)
    )
    mumu = (
        ALPHA_EM
        * eps2
        * m
        / 3
        * (1 + 2 * (0.1056583755 / m) ** 2)
        * math.sqrt(1 - 4 * (0.1056583755 / m) ** 2)
    )
    assert aprime_total_width_gev(m, sector, ALPHA_EM * eps2) == pytest.approx(
        expected + ee + mumu, rel=1e-9
    )


@pytest.mark.parametrize("energy", [30.0, 55.0, 61.15, 90.0])
def test_resonant_cross_section_is_the_tree_level_s_channel(energy):
    """Dirac chi: (4 pi alpha_X alpha_D / 3) s beta (1 + 2 m_chi^2/s) / ((s - m^2)^2 + m^2 Gamma^2),
    the e+ e- -> mu+ mu- cross section with the photon propagator 1/s^2 replaced (m_e -> 0)."""
    m, sector = 0.25, DarkSector(0.1, 3.0)
    s = 2 * M_E_GEV**2 + 2 * M_E_GEV * energy
    m_chi = m / 3
    beta = math.sqrt(1 - 4 * m_chi**2 / s)
    gamma = 0.1 * m / 3 * (1 + 2 / 9) * math.sqrt(5 / 9)
    expected = (
        4
        * math.pi
        * ALPHA_EM
        * 0.1
        / 3
        * s
        * beta
        * (1 + 2 * m_chi**2 / s)
        / ((s - m**2) ** 2 + m**2 * gamma**2)
    ) * GEV2_TO_CM2
    got = float(resonant_cross_section_cm2(energy, m, ALPHA_EM, sector))
    assert got == pytest.approx(expected, rel=1e-5)  # m_e in Gamma_ee(sqrt s): ~1e-5 relative


@pytest.mark.parametrize("mass", [0.227, 0.25, 0.3])
def test_finite_width_yield_has_the_narrow_width_limit(mass):
    narrow = annihilation_events_per_pot(mass, ALPHA_EM, 100.0, 50.0, LEAD, 40.0)
    thin = annihilation_events_per_pot(
        mass, ALPHA_EM, 100.0, 50.0, LEAD, 40.0, DarkSector(1e-7, 3.0)
    )
    assert thin == pytest.approx(narrow, rel=1e-3)


def test_narrow_width_limit_vanishes_outside_the_window_and_the_width_fills_it():
    peak = annihilation_events_per_pot(0.25, ALPHA_EM, 100.0, 50.0, LEAD, 40.0)
    for m in (0.2, 0.225, 0.33):
        thin = annihilation_events_per_pot(
            m, ALPHA_EM, 100.0, 50.0, LEAD, 40.0, DarkSector(1e-7, 3.0)
        )
        wide = annihilation_events_per_pot(
            m, ALPHA_EM, 100.0, 50.0, LEAD, 40.0, BENCHMARK_DARK_SECTOR
        )
        assert thin < 1e-5 * peak < wide


def test_node_sum_is_the_integral_of_the_track_length_times_the_cross_section():
    """The theta quadrature against scipy's quad of T+(E) sigma(E) dE on E+ (independent grid)."""
    mass, sector = 0.24, BENCHMARK_DARK_SECTOR
    nodes = positron_annihilation_nodes(mass, ALPHA_EM, 100.0, 50.0, 40.0, sector)
    t = shower_track_length(100.0, 25.0, 40.0)
    centres = np.sort(t.energy_gev[(t.energy_gev > 50.0 - M_E_GEV)])
    e_r = float(resonance_energy_gev(mass))
    value = quad(
        lambda e: (
            float(t.positron_density_per_gev(e))
            * float(resonant_cross_section_cm2(e, mass, ALPHA_EM, sector))
        ),
        50.0 - M_E_GEV,
        float(centres[-1]),
        points=sorted([*centres[:-1], e_r]),
        limit=1000,
    )[0]
    assert float(nodes.weight.sum()) == pytest.approx(value, rel=1e-4)


def test_efficiency_by_energy_weights_the_integral():
    base = annihilation_events_per_pot(0.24, 1.0, 100.0, 50.0, LEAD, 40.0, BENCHMARK_DARK_SECTOR)
    half = annihilation_events_per_pot(
        0.24,
        1.0,
        100.0,
        50.0,
        LEAD,
        40.0,
        BENCHMARK_DARK_SECTOR,
        efficiency_by_energy([0.25], [0.5]),
    )
    assert half == pytest.approx(0.5 * base, rel=1e-12)
