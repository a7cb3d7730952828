"""Constants and materials against PHYSICS.md and textbook values."""

import math

import pytest

from na64stat.core.errors import InputError
from na64stat.physics import constants as c


def test_materials_match_physics_md():
    assert (c.LEAD.z, c.LEAD.a, c.LEAD.density_g_cm3, c.LEAD.x0_cm) == (82, 207.2, 11.35, 0.5612)
    assert (c.TUNGSTEN.z, c.TUNGSTEN.a, c.TUNGSTEN.density_g_cm3, c.TUNGSTEN.x0_cm) == (
        74,
        183.84,
        19.3,
        0.3504,
    )


def test_nuclei_density_of_lead():
    # rho N_A / A = 11.35 * 6.02214e23 / 207.2
    assert c.LEAD.nuclei_per_cm3 == pytest.approx(3.2988e22, rel=1e-4)
    assert c.LEAD.nuclei_per_cm2_per_x0 == pytest.approx(3.2988e22 * 0.5612, rel=1e-4)


def test_natural_unit_conversions():
    assert 1 / c.ALPHA_EM == pytest.approx(137.036, abs=1e-3)
    assert c.M_E_GEV == pytest.approx(0.51099895e-3, rel=1e-8)
    assert c.M_MU_GEV == pytest.approx(0.1056583755, rel=1e-8)
    assert c.M_TAU_GEV == pytest.approx(1.77686, rel=1e-4)
    assert c.GEV2_TO_PB == pytest.approx(0.3893794e9, rel=1e-6)  # 1 GeV^-2 = 0.3894 mb
    assert c.E_CHARGE == pytest.approx(0.30282, rel=1e-4)
    assert c.CL90_EVENTS == pytest.approx(2.303, abs=5e-4)
    assert c.CL90_EVENTS == math.log(10)


def test_unknown_material_is_a_clear_error():
    assert c.material("Pb") is c.LEAD
    with pytest.raises(InputError, match="unknown target material 'Fe'"):
        c.material("Fe")
