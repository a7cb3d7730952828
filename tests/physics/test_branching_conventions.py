"""Br(Z' -> invisible) conventions of the L_mu - L_tau Z' against closed-form widths, and
the factor they make in a recast (darkcast's sqrt(2) at 1 GeV)."""

import math

import numpy as np
import pytest

from na64stat.core.errors import PhysicsError
from na64stat.physics.constants import M_MU_GEV
from na64stat.physics.decays import BRANCHING_CONVENTIONS, branching_zprime_invisible


def _closed_form_physical(m: float) -> float:
    """Two left-handed neutrinos g^2 m/(24 pi) each against mu+mu- g^2 m/(12 pi)(1 + 2r) sqrt(1 -
    4r)
    (tau closed below 3.55 GeV; the loop-mixing e+e- width, ~1e-5 of the total, neglected).
    """
    r = (M_MU_GEV / m) ** 2
    nu = 2 * m / (24 * math.pi)
    mu = m / (12 * math.pi) * (1 + 2 * r) * math.sqrt(max(0.0, 1 - 4 * r)) if 4 * r < 1 else 0.0
    return nu / (nu + mu)


@pytest.mark.parametrize("mass_gev", [0.01, 0.15, 0.25, 0.5, 1.0, 3.0])
def test_physical_convention_is_the_width_ratio(mass_gev):
    # tolerance 1e-4: the e+e- width through the loop mixing that the closed form leaves out
    assert float(branching_zprime_invisible(mass_gev)) == pytest.approx(
        _closed_form_physical(mass_gev), abs=1e-4
    )


def test_physical_is_one_below_and_a_half_far_above_the_dimuon_threshold():
    assert float(branching_zprime_invisible(0.2)) > 0.9999
    assert float(branching_zprime_invisible(3.0)) == pytest.approx(0.5, abs=2e-3)


def test_darkcast_convention_is_one_and_gives_sqrt2_at_1_gev():
    masses = np.array([0.01, 0.3, 1.0])
    assert np.all(branching_zprime_invisible(masses, "darkcast") == 1.0)
    # e_mu scales as 1/sqrt(Br): physical / darkcast at 1 GeV
    ratio = math.sqrt(1.0 / float(branching_zprime_invisible(1.0, "physical")))
    assert ratio == pytest.approx(math.sqrt(2), rel=1e-3)


def test_unknown_convention_names_the_choices():
    with pytest.raises(PhysicsError, match="physical, darkcast"):
        branching_zprime_invisible(0.1, "three_flavours")
    assert set(BRANCHING_CONVENTIONS) == {"physical", "darkcast"}


def test_recast_e_mu_scales_as_one_over_sqrt_br():
    from na64stat.results.recast import e_mu_from_epsilon2, recast_limit

    eps2, m = 1e-10, 1.0
    physical = float(e_mu_from_epsilon2(eps2, m))
    darkcast = float(e_mu_from_epsilon2(eps2, m, "darkcast"))
    assert physical / darkcast == pytest.approx(math.sqrt(1 / _closed_form_physical(m)), rel=1e-3)
    # an lmutau signal made with the physical Br, recast to darkcast's convention
    made = recast_limit(2.0, m, "lmutau", 1e-4, "muon")
    other = recast_limit(2.0, m, "lmutau", 1e-4, "muon", branching="darkcast")
    assert made.e_mu / other.e_mu == pytest.approx(
        math.sqrt(1 / _closed_form_physical(m)), rel=1e-3
    )
    below = recast_limit(2.0, 0.1, "lmutau", 1e-4, "muon", branching="darkcast")
    assert below.e_mu == pytest.approx(
        math.sqrt(2.0) * 1e-4, rel=1e-4
    )  # below 2 m_mu the conventions agree


def test_reach_cli_branching_option(tmp_path):
    import json

    from na64stat.app.cli import main

    out = {}
    for convention in ("physical", "darkcast"):
        path = tmp_path / f"{convention}.json"
        main(
            [
                "reach",
                "--setup",
                "na64mu-invisible",
                "--masses",
                "0.1,1.0",
                "--branching",
                convention,
                "--json",
                str(path),
            ]
        )
        out[convention] = json.loads(path.read_text())["e_mu"]
    assert out["physical"][0] == pytest.approx(
        out["darkcast"][0], rel=1e-4
    )  # below 2 m_mu: the same
    ratio = out["physical"][1] / out["darkcast"][1]
    assert ratio == pytest.approx(
        math.sqrt(1 / _closed_form_physical(1.0)), rel=1e-3
    )  # sqrt(2) at 1 GeV
