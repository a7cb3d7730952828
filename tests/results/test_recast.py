"""Recasts of mu limits into couplings, against the physics formulas directly."""

import math

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.physics.couplings import mixing_from_e_mu, relic_target_y_full
from na64stat.physics.decays import branching_zprime_invisible
from na64stat.results.recast import alpha_d_excluded_below, e_mu_from_epsilon2, recast_limit


def test_dark_photon_recast_chain():
    r = recast_limit(
        mu=3.0,
        mass_gev=0.02,
        signal_model="dark_photon",
        reference_coupling=2e-5,
        alpha_d=0.5,
        mass_ratio=3.0,
    )
    assert r.epsilon2 == pytest.approx(3.0 * 4e-10)
    assert r.epsilon == pytest.approx(math.sqrt(1.2e-9))
    assert r.y == pytest.approx(1.2e-9 * 0.5 / 81)
    kappa = float(mixing_from_e_mu(1.0, 0.02**2))
    assert r.e_mu == pytest.approx(
        math.sqrt(1.2e-9 / float(branching_zprime_invisible(0.02))) / kappa
    )
    assert r.long_lived_correction == 1.0


def test_e_mu_at_low_mass_uses_0144():
    assert float(e_mu_from_epsilon2(6.93e-6**2, 1e-3)) == pytest.approx(4.8e-4, rel=3e-3)


def test_lmutau_signal_recast_is_direct():
    r = recast_limit(
        mu=4.0, mass_gev=0.05, signal_model="lmutau", reference_coupling=1e-4, beam="muon"
    )
    assert r.e_mu == pytest.approx(2e-4)
    assert math.isnan(r.epsilon2) and math.isnan(r.y)


def test_long_lived_pseudo_dirac_correction():
    plain = recast_limit(1.0, 0.1, "dark_photon", 1e-4)
    corrected = recast_limit(1.0, 0.1, "dark_photon", 1e-4, dm_model="pseudodirac", long_lived=True)
    assert corrected.epsilon2 / plain.epsilon2 == pytest.approx(4.58, abs=5e-3)  # eq. (131)


def test_alpha_d_exclusion_on_relic_line():
    m_chi = np.array([0.003, 0.03])
    eps2_limit = np.array([1e-10, 1e-9])
    excluded_below = alpha_d_excluded_below(eps2_limit, m_chi, "scalar")
    y_relic = relic_target_y_full(m_chi, "scalar")
    # at alpha_D just below the bound, the relic eps^2 = y ratio^4 / alpha_D exceeds the limit
    assert np.all(y_relic * 81 / (0.99 * excluded_below) > eps2_limit)
    assert np.allclose(y_relic * 81 / excluded_below, eps2_limit)
    with pytest.raises(InputError):
        alpha_d_excluded_below(1e-10, 0.01, "wimp")
    with pytest.raises(InputError):
        recast_limit(1.0, 0.01, "axion", 1.0)


def test_recast_of_a_scan_record_equals_that_of_its_file():
    """A ScanResult is recast as records (no trip through a dict); its limits.json content gives the
    same
    couplings, and couplings.json reads back into the same records.
    """
    from na64stat.inference.limits import UpperLimit
    from na64stat.inference.scan import ScanPoint, ScanResult
    from na64stat.results.recast import RecastResult, recast_limits_file

    meta = {"mass_gev": 0.01, "signal_model": "dark_photon", "reference_coupling": 1e-4}
    limit = UpperLimit(2.0, (1.5, 1.8, 2.0, 2.6, float("nan")), "ok", ("ok",) * 5, "exact", 0.9)
    scan = ScanResult(0.9, "auto", 10, 0, 1, 0, (ScanPoint("0.01", "m0p01", limit, meta),))
    typed = recast_limits_file(scan)
    assert typed.to_dict() == recast_limits_file(scan.to_dict()).to_dict()
    (point,) = typed.points
    assert point.mass_gev == 0.01 and point.coupling("epsilon2") == pytest.approx(2e-8)
    assert point.coupling("mu", "median") == 2.0 and point.limit("+2sigma") is None
    assert math.isnan(point.coupling("epsilon", "+2sigma"))
    again = RecastResult.from_dict(typed.to_dict())
    assert again.to_dict() == typed.to_dict() and again.points[0].mass_gev == 0.01


def test_visible_recast_is_unchanged_by_the_normalisation():
    """A shipped visible-mode patch (normalised to ~3 events) and the same patch at its point's own
    yield (x mu_point, reference coupling = its epsilon): the limits on mu differ by mu_point, the
    recast epsilon
    agrees (relative 1e-3, the limit search's tolerance).
    """
    import copy
    import json

    import jsonpatch
    import pyhf
    from conftest import REPO

    from na64stat.inference.limits import upper_limit
    from na64stat.model.builders import point_signal_strength

    folder = REPO / "na64stat" / "workspaces" / "na64e-visible-2017-2018"
    spec = json.loads((folder / "bkgonly.json").read_text())
    patch = next(
        p
        for p in json.loads((folder / "patchset.json").read_text())["patches"]
        if p["metadata"]["name"] == "m0p0167_e3p00em04"
    )
    meta = patch["metadata"]
    epsilon = meta["values"][1]
    strength = point_signal_strength(epsilon, meta["reference_coupling"])
    raw = copy.deepcopy(patch["patch"])
    raw[0]["value"]["data"] = [y * strength for y in raw[0]["value"]["data"]]
    eps = []
    for ops, reference in ((patch["patch"], meta["reference_coupling"]), (raw, epsilon)):
        workspace = pyhf.Workspace(jsonpatch.apply_patch(spec, ops))
        model = workspace.model()
        mu = upper_limit(model, workspace.data(model), method="asymptotic").observed
        eps.append(recast_limit(mu, meta["mass_gev"], "dark_photon", reference).epsilon)
    assert eps[1] == pytest.approx(eps[0], rel=1e-3)
    assert (
        eps[0] < epsilon
    )  # inside the published X17 band: excluded (reference x sqrt(mu_up) < epsilon)
