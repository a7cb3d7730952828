"""Shipped reference data: every file loads, carries a source, and equals the shared originals."""

import numpy as np
import pytest

from na64stat.core.errors import ResourceError
from na64stat.core.references import available_resources, load_curve, load_resource


def _read_lmt(path):
    rows = [
        line.split()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return np.array([[float(v) for v in row] for row in rows])


def test_every_resource_has_a_source():
    names = available_resources()
    assert "dmg4_kfactors_pb" in names and "na64e_invisible_2019" in names
    for name in names:
        raw = load_resource(name)
        assert raw["source"]["repository"] and raw["source"]["commit"], name
        if (
            "coupling" in raw
        ):  # curves; the tables (K factors, ETL cross sections) are tested where used
            curve = load_curve(name)
            assert curve.mass_gev.size == curve.lower.size > 10
            assert np.all(np.diff(curve.mass_gev) >= 0)


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("na64e_invisible_2019", "darkcast_NA64_NA642019imj.lmt"),
        ("gm2_lmutau_2sigma_lower", "darkcast_recast_LmuLtau_AMMmu_Bodas2021fsy_2l.lmt"),
        ("na64e_visible_2019", "darkcast_NA64_Banerjee2019hmi.lmt"),
    ],
)
def test_curves_equal_the_shared_originals(shared_limits, name, filename):
    original = _read_lmt(shared_limits / filename)
    curve = load_curve(name)
    order = np.argsort(original[:, 0], kind="stable")
    assert np.array_equal(curve.mass_gev, original[order, 0])
    assert np.array_equal(curve.lower, original[order, 1])
    if original.shape[1] > 2:
        assert np.array_equal(curve.upper, original[order, 2])


def test_interpolation_is_log_log_and_nan_outside():
    curve = load_curve("na64e_invisible_2019")
    m0, m1 = curve.mass_gev[10], curve.mass_gev[11]
    mid = float(curve.interpolate(np.sqrt(m0 * m1)))
    assert mid == pytest.approx(np.sqrt(curve.lower[10] * curve.lower[11]), rel=1e-12)
    assert np.isnan(curve.interpolate(1e-5))
    with pytest.raises(ResourceError):
        curve.interpolate(0.01, which="upper")


def test_missing_resource_is_a_clear_error():
    with pytest.raises(ResourceError, match=r"no_such_curve\.json is missing"):
        load_resource("no_such_curve")


def test_visible_mode_x17_window_matches_physics_md():
    # PHYSICS.md: 8.4e10 EOT exclude 1.2e-4 < eps_e < 6.8e-4 at 16.7 MeV (digitised curve: few %
    # accuracy)
    curve = load_curve("na64e_visible_2019")
    assert float(curve.interpolate(0.0167, "lower")) == pytest.approx(1.2e-4, rel=0.05)
    assert float(curve.interpolate(0.0167, "upper")) == pytest.approx(6.8e-4, rel=0.05)
