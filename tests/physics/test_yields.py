"""Signal yields and background-free reach: scaling laws, thin-target limits, the
published NA64e curve and the seed's NA64e vs NA64mu comparison."""

import math

import numpy as np
import pytest

from na64stat.core.errors import InputError, PhysicsError
from na64stat.core.references import load_curve
from na64stat.physics import production as p
from na64stat.physics.constants import ALPHA_EM, CL90_EVENTS, LEAD
from na64stat.physics.couplings import mixing_from_e_mu
from na64stat.physics.decays import branching_zprime_invisible
from na64stat.physics.efficiencies import signal_efficiency
from na64stat.physics.etl import sigma_etl_pb as sigma_etl_table_pb
from na64stat.physics.setups import SETUPS, get_setup
from na64stat.physics.yields import (
    background_free_reach,
    events_per_alpha_x,
    events_per_e_mu2,
    events_per_epsilon2,
)

NA64E = get_setup("na64e-invisible")
NA64MU = get_setup("na64mu-invisible")


def test_thin_electron_target_is_eq57_with_the_primary_only():
    # In 1e-3 X0 the shower has not developed: N = n (rho N_A/A) L sigma(E0; x > cut) eps_sel.
    thin = NA64E.with_(target_length_x0=1e-3)
    m = 0.02
    sigma = float(p.sigma_etl_pb(m, 100.0, 1.0) * p.x_shape_fraction(m, 100.0, 0.5))
    expected = (
        thin.exposure
        * float(signal_efficiency(thin, m)[0])
        * LEAD.nuclei_per_cm3
        * 1e-3
        * LEAD.x0_cm
        * sigma
        * 1e-36
    )
    assert float(events_per_alpha_x(thin, m)[0]) == pytest.approx(expected, rel=0.01)


def test_muon_yield_is_eq57_over_the_whole_target():
    m = 0.05
    # default: the computed exact-tree-level table; cross_section="ww": the old Weizsacker-Williams
    # path
    for setup, sigma in (
        (NA64MU, float(sigma_etl_table_pb("mu", "Pb", m, 160.0, 0.5))),
        (NA64MU.with_(cross_section="ww"), float(p.sigma_muon_iww_pb(m, 160.0, 1.0, x_min=0.5))),
    ):
        expected = (
            setup.exposure
            * float(signal_efficiency(setup, m)[0])
            * LEAD.nuclei_per_cm3
            * 40
            * LEAD.x0_cm
            * sigma
            * 1e-36
        )
        assert float(events_per_alpha_x(setup, m)[0]) == pytest.approx(expected, rel=1e-12)


def test_yield_is_linear_in_exposure_and_efficiency():
    base = events_per_epsilon2(NA64E, [0.01, 0.1])
    assert np.allclose(
        events_per_epsilon2(NA64E.with_(exposure=2 * NA64E.exposure), [0.01, 0.1]), 2 * base
    )
    flat = events_per_epsilon2(NA64E.with_(efficiency=0.6), [0.01, 0.1])
    assert np.allclose(events_per_epsilon2(NA64E.with_(efficiency=0.3), [0.01, 0.1]), flat / 2)
    # the computed default is the flat yield times the computed efficiency over 0.6 (one channel:
    # the finite-width annihilation tail at 10 and 100 MeV has its own efficiency, so it is off
    # here)
    brems = NA64E.with_(positron_annihilation=False)
    assert np.allclose(
        events_per_epsilon2(brems, [0.01, 0.1]),
        events_per_epsilon2(brems.with_(efficiency=0.6), [0.01, 0.1])
        * signal_efficiency(NA64E, [0.01, 0.1])
        / 0.6,
        rtol=1e-12,
    )


def test_reach_in_epsilon_scales_as_inverse_sqrt_exposure():
    # PHYSICS.md: without background the sensitivity in epsilon scales as 1/sqrt(n_EOT).
    masses = [0.001, 0.1]
    a = background_free_reach(NA64E, masses).epsilon
    b = background_free_reach(NA64E.with_(exposure=100 * NA64E.exposure), masses).epsilon
    assert np.allclose(b, a / 10, rtol=1e-12)


def test_reach_is_2303_events():
    r = background_free_reach(NA64E, [0.01])
    assert float(r.epsilon2[0] * r.events_per_epsilon2[0]) == pytest.approx(CL90_EVENTS)
    assert r.n_events == pytest.approx(2.303, abs=5e-4)


def test_dark_photon_per_epsilon2_is_alpha_times_per_alpha_x():
    assert np.allclose(
        events_per_epsilon2(NA64MU, [0.01]), ALPHA_EM * events_per_alpha_x(NA64MU, [0.01])
    )


def test_e_mu_reach_from_electrons_goes_through_loop_mixing_and_branching():
    masses = np.array([0.01, 0.5])
    r = background_free_reach(NA64E, masses)
    expected = np.sqrt(r.epsilon2 / branching_zprime_invisible(masses)) / mixing_from_e_mu(
        1.0, masses**2
    )
    assert np.allclose(r.e_mu, expected, rtol=1e-12)


def test_e_mu_from_muons_is_direct():
    masses = np.array([0.01])
    per_g2 = events_per_e_mu2(NA64MU, masses)
    expected = (
        events_per_alpha_x(NA64MU, masses) / (4 * math.pi) * branching_zprime_invisible(masses)
    )
    assert np.allclose(per_g2, expected, rtol=1e-12)
    assert (
        branching_zprime_invisible(masses)[0] > 0.9999
    )  # below 2 m_mu only e+e- via mixing competes


def test_y_reach():
    r = background_free_reach(NA64E, [0.03], alpha_d=0.5, mass_ratio=3.0)
    assert float(r.y[0]) == pytest.approx(float(r.epsilon2[0]) * 0.5 / 81)


@pytest.mark.parametrize("mass_gev", [0.001, 0.01, 0.1, 1.0])
def test_na64e_reach_close_to_published_2016_2018_limit(mass_gev):
    """Background-free reach with 2.84e11 EOT vs the published 90% CL curve (PRL 123 (2019) 121801).

    From first principles (shower, DMG4 ETL, eq. 22 acceptance, 40 X0 Pb) with the
    computed signal efficiency (simulated selection, 0.96 at 1 MeV to 0.84 at
    1 GeV) times the thesis's calibration-run cut flow not in the simulation
    (0.501) and dimuon reweighting (0.925) (na64stat.physics.analysis_factors):
    the ratio is 1.28, 1.21, 1.05, 0.86 at 1, 10, 100, 1000 MeV (PRL 123
    counted no positron annihilation; nothing changes at these masses). Without
    the factors it was 0.87, 0.82, 0.72, 0.59. The aim is 30%.
    """
    ours = float(
        background_free_reach(NA64E.with_(positron_annihilation=False), [mass_gev]).epsilon[0]
    )
    published = float(load_curve("na64e_invisible_2019").interpolate(mass_gev))
    assert abs(ours / published - 1) < 0.30


def test_seed_comparison_of_na64e_and_na64mu_at_equal_exposure():
    # Seed sec. 5.2: for n_EOT = n_MOT = 5e12 NA64e is more sensitive for m << 100 MeV,
    # NA64mu above ~100 MeV.
    e = NA64E.with_(exposure=5e12)
    mu = NA64MU.with_(exposure=5e12, beam_energy_gev=100.0, missing_energy_cut_gev=50.0)
    low, high = [0.002, 0.01], [0.3, 1.0]
    assert np.all(background_free_reach(e, low).epsilon < background_free_reach(mu, low).epsilon)
    assert np.all(background_free_reach(e, high).epsilon > background_free_reach(mu, high).epsilon)


def test_kinematically_forbidden_mass_gives_no_events():
    r = background_free_reach(NA64E, [150.0])
    assert r.events_per_epsilon2[0] == 0.0 and math.isnan(r.epsilon[0])


def test_mass_outside_k_table_names_setup_and_mass():
    with pytest.raises(PhysicsError, match=r"na64e-invisible.*mass 0.0001 GeV"):
        events_per_alpha_x(NA64E, [1e-4])


def test_setup_validation_and_lookup():
    assert set(SETUPS) == {"na64e-invisible", "na64mu-invisible", "na64e-visible"}
    with pytest.raises(InputError, match="unknown setup 'na65'"):
        get_setup("na65")
    with pytest.raises(InputError, match="efficiency"):
        NA64E.with_(efficiency=1.5)
    with pytest.raises(InputError, match="missing-energy cut"):
        NA64E.with_(missing_energy_cut_gev=120.0)
    with pytest.raises(PhysicsError, match="masses must be positive"):
        events_per_alpha_x(NA64E, [-1.0])


def test_visible_setup_has_no_missing_energy_reach_and_names_its_runs():
    from na64stat.core.errors import InputError

    visible = SETUPS["na64e-visible"]
    assert visible.visible_runs == ("2017", "2018")
    with pytest.raises(InputError, match=r"visible-mode setup.*excluded_epsilon_range"):
        background_free_reach(visible, [0.0167])
    with pytest.raises(InputError, match="visible_runs"):
        NA64E.with_(mode="visible")  # a visible setup must name its runs


def test_signal_efficiency_checks_the_production_before_a_flat_override():
    from na64stat.core.errors import InputError
    from na64stat.physics.efficiencies import signal_efficiency

    with pytest.raises(InputError, match="unknown signal production"):
        signal_efficiency(NA64E.with_(efficiency=0.5), [0.01], "annihilatoin")
    with pytest.raises(InputError, match="needs an electron beam"):
        signal_efficiency(NA64MU, [0.01], "annihilation")
