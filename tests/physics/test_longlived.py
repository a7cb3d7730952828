"""Appendix B (eqs. 123-131) against PHYSICS.md and a numerical minimisation."""

import numpy as np
import pytest
from scipy import optimize

from na64stat.core.errors import PhysicsError
from na64stat.physics import longlived as ll


def test_physics_md_numbers():
    assert ll.l_chi2_min_cm(650.0, 40.0) == pytest.approx(218.8, abs=0.05)
    assert ll.missing_energy_probability_min(650.0, 40.0) == pytest.approx(0.218, abs=5e-4)
    assert ll.epsilon2_limit_correction(650.0, 40.0) == pytest.approx(4.58, abs=5e-3)


def test_l_min_minimises_eq126():
    res = optimize.minimize_scalar(
        lambda lg: float(ll.missing_energy_probability(np.exp(lg))),
        bounds=(0.0, 10.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert np.exp(res.x) == pytest.approx(ll.l_chi2_min_cm(), rel=1e-4)
    assert res.fun == pytest.approx(ll.missing_energy_probability_min(), rel=1e-9)


def test_probabilities_are_eq123_and_eq125():
    assert float(ll.probability_outside_decay(650.0)) == pytest.approx(np.exp(-1.0))
    assert float(ll.probability_decay_in_ecal(40.0)) == pytest.approx(1 - np.exp(-1.0))


def test_window_and_errors():
    assert float(ll.decay_probability_in_window(10.0, 10.0, 20.0)) == pytest.approx(
        np.exp(-1) - np.exp(-2)
    )
    with pytest.raises(PhysicsError):
        ll.l_chi2_min_cm(40.0, 650.0)
    with pytest.raises(PhysicsError):
        ll.decay_probability_in_window(1.0, 5.0, 2.0)
