"""Shower track lengths: convergence, limits, and an independent Monte-Carlo cascade."""

import math

import numpy as np
import pytest
from _shower_mc import electron_track_lengths

from na64stat.core.errors import PhysicsError
from na64stat.physics.shower import shower_track_length


def _binned(spectrum, edges):
    e = spectrum.energy_gev
    return np.array(
        [spectrum.electron_x0[(e >= a) & (e < b)].sum() for a, b in zip(edges[:-1], edges[1:])]
    )


def test_converges_with_binning():
    coarse = shower_track_length(100.0, 50.0, math.inf, n_bins=120).total_electron_x0
    fine = shower_track_length(100.0, 50.0, math.inf, n_bins=480).total_electron_x0
    assert coarse == pytest.approx(fine, rel=5e-3)


def test_thin_target_limit_is_the_primary_path_length():
    # In 0.001 X0 the primary has barely radiated: track length = thickness.
    t = shower_track_length(100.0, 50.0, 1e-3)
    assert t.total_electron_x0 == pytest.approx(1e-3, rel=5e-3)
    assert t.electron_x0[0] / t.total_electron_x0 > 0.98


def test_track_length_grows_with_thickness_and_saturates():
    totals = [shower_track_length(100.0, 50.0, d).total_electron_x0 for d in (0.5, 1, 2, 5, 40)]
    assert all(a < b for a, b in zip(totals, totals[1:]))
    assert totals[-1] == pytest.approx(
        shower_track_length(100.0, 50.0, math.inf).total_electron_x0, rel=1e-9
    )
    # eq. (57): electrons produce A' (E_A' > 50 GeV) over L^e ~ X0
    assert 0.5 < totals[-1] < 1.5


def test_bins_are_consistent():
    t = shower_track_length(100.0, 50.0)
    assert t.energy_gev[0] == 100.0
    assert t.energy_low_gev[-1] == pytest.approx(50.0)
    assert np.all(t.energy_low_gev < t.energy_gev) and np.all(t.energy_gev < t.energy_high_gev)
    assert np.allclose(t.energy_high_gev[1:], t.energy_low_gev[:-1])


@pytest.mark.parametrize("thickness", [math.inf, 1.0])
def test_agrees_with_independent_monte_carlo(thickness):
    edges = np.array([50.0, 60.0, 70.0, 80.0, 90.0, 100.001])
    mc = electron_track_lengths(100.0, 50.0, thickness, 3000, edges, seed=7)
    ours = _binned(shower_track_length(100.0, 50.0, thickness), edges)
    # 3000 primaries: about 2% statistical error on the total
    assert ours.sum() == pytest.approx(mc.sum(), rel=0.04)
    assert np.allclose(ours, mc, rtol=0.15, atol=0.01)


@pytest.mark.slow
def test_agrees_with_independent_monte_carlo_precisely():
    edges = np.array([50.0, 60.0, 70.0, 80.0, 90.0, 100.001])
    mc = electron_track_lengths(100.0, 50.0, math.inf, 40000, edges, seed=11)
    ours = _binned(shower_track_length(100.0, 50.0, math.inf), edges)
    assert ours.sum() == pytest.approx(mc.sum(), rel=0.012)
    assert np.allclose(ours, mc, rtol=0.05, atol=0.003)


@pytest.mark.parametrize("args", [(100.0, 150.0, 10.0), (100.0, 0.0, 10.0), (100.0, 50.0, 0.0)])
def test_bad_arguments(args):
    with pytest.raises(PhysicsError):
        shower_track_length(*args)
