"""Widths and decay lengths (eqs. 8-10, 117-118, 122) against PHYSICS.md and exact limits."""

import math

import numpy as np
import pytest

from na64stat.core.errors import PhysicsError
from na64stat.physics import decays as d
from na64stat.physics.constants import ALPHA_EM, M_E_GEV, M_MU_GEV


def test_eq9_value():
    m, eps = 0.1, 1e-4
    r = (M_E_GEV / m) ** 2
    expected = eps**2 * ALPHA_EM / 3 * m * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    assert float(d.width_aprime_to_ee_gev(m, eps)) == pytest.approx(expected, rel=1e-13)
    assert float(d.width_aprime_to_ee_gev(0.001, 1e-4)) == 0.0  # below threshold


def test_eq8_and_eq10_limits():
    # massless DM: Gamma_fermion = alpha_D m / 3, Gamma_scalar = alpha_D m / 12
    assert float(d.width_aprime_to_dirac_dm_gev(0.3, 0.1, 0.0)) == pytest.approx(0.01)
    assert float(d.width_aprime_to_scalar_dm_gev(0.3, 0.1, 0.0)) == pytest.approx(0.0025)
    # closed at threshold
    assert float(d.width_aprime_to_dirac_dm_gev(0.3, 0.1, 0.15)) == 0.0
    assert float(d.width_aprime_to_scalar_dm_gev(0.3, 0.1, 0.15)) == 0.0


def test_decay_length_eq118():
    # PHYSICS.md: 0.81 mm for gamma = 10, eps = 1e-4, m = 100 MeV
    width = d.width_aprime_to_ee_gev(0.1, 1e-4)
    assert float(d.decay_length_cm(width, 0.1, 1.0)) * 10 == pytest.approx(0.81, abs=0.005)
    # scales as gamma / eps^2 / m (eq. 118) for m >> m_e
    l1 = float(d.decay_length_cm(d.width_aprime_to_ee_gev(0.1, 1e-4), 0.1, 10.0))
    l2 = float(d.decay_length_cm(d.width_aprime_to_ee_gev(0.2, 2e-4), 0.2, 20.0))
    assert l2 == pytest.approx(l1 / 8, rel=1e-3)


def test_decay_length_rejects_energy_below_mass():
    with pytest.raises(PhysicsError, match="below the mass"):
        d.decay_length_cm(1e-10, 0.1, 0.05)


def test_chi2_decay_length_eq122():
    # PHYSICS.md: m_A' = 3 m_chi1, Delta = 0.4 m_chi1, alpha_D = 0.1, m_A' = 100 MeV,
    # eps = 1e-2, E_chi2 = 50 GeV: decay length about 8 m.
    m_a = 0.1
    m1 = m_a / 3
    delta = 0.4 * m1
    width = d.width_chi2_to_chi1_ee_gev(1e-2, 0.1, delta, m_a)
    length_m = float(d.decay_length_cm(width, m1 + delta, 50.0)) / 100
    assert length_m == pytest.approx(8.0, rel=0.05)


def test_zprime_widths_and_invisible_branching():
    g, m = 1e-3, 0.5
    nu = float(d.width_zprime_to_neutrinos_gev(m, g))
    assert nu == pytest.approx(2 * g * g * m / (24 * math.pi))
    r = (M_MU_GEV / m) ** 2
    mumu = g * g / (4 * math.pi) * m / 3 * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    assert float(d.width_zprime_to_leptons_gev(m, g)) == pytest.approx(
        mumu, rel=1e-3
    )  # + tiny e+e- via mixing
    br = d.branching_zprime_invisible([0.05, 0.2, 1.0, 3.0])
    assert br[0] == pytest.approx(1.0, abs=1e-4)  # below 2 m_mu
    assert 0.5 < br[1] < 1.0  # just above 2 m_mu, mu pairs phase-space suppressed
    assert br[2] == pytest.approx(0.5, abs=0.01)  # far above 2 m_mu: nu (2 x 1/2) vs mu (1)
    assert br[3] < br[2]  # tau pairs open above 2 m_tau
    # independent of g
    assert np.allclose(
        d.width_zprime_to_neutrinos_gev(0.2, 2e-3) / d.width_zprime_total_gev(0.2, 2e-3), br[1]
    )
