"""Visible-mode (A' / X17 -> e+ e-) yields of the 2017-2018 runs against closed forms and the
published range.
"""

import math

import numpy as np
import pytest

from na64stat.core.errors import InputError, PhysicsError
from na64stat.physics.constants import TUNGSTEN
from na64stat.physics.decays import decay_length_cm, width_aprime_to_ee_gev
from na64stat.physics.production import k_factor, sigma_iww_dmg4_pb
from na64stat.physics.shower import electron_track_by_depth, shower_track_length
from na64stat.physics.visible import (
    DECAY_TO_SHIELDING_RATIO,
    VISIBLE_RUNS,
    WCAL_LAYER_CM,
    WCAL_LAYERS,
    WCAL_X0,
    etl_sigma_w_pb,
    excluded_epsilon_range,
    runs_at,
    visible_events,
    wcal_length_cm,
)

RUNS = (VISIBLE_RUNS["2017"], VISIBLE_RUNS["2018"])
X17 = 0.0167


def test_depth_slices_add_up_to_the_whole_target():
    energy, tracks = electron_track_by_depth(100.0, 20.0, 0.25, 48)
    whole = shower_track_length(100.0, 20.0, 12.0)
    assert np.allclose(energy, whole.energy_gev, rtol=1e-12)
    assert np.allclose(tracks.sum(axis=0), whole.electron_x0, rtol=1e-8, atol=1e-12)
    # the primary bin fills in the first slice first
    assert tracks[0, 0] > tracks[-1, 0]


@pytest.mark.parametrize("energy", [30.0, 100.0, 150.0])
def test_etl_on_tungsten_matches_dmg4_k_factor_for_lead(energy):
    # DMG4 tabulates K = IWW / ETL for Pb only; at 16.7 MeV it depends on Z through the screening
    # log
    # at the percent level, so IWW(W) / K(Pb) is an independent estimate of ETL(W) to ~3%
    reference = float(sigma_iww_dmg4_pb(X17, energy, 1.0, TUNGSTEN) / k_factor(X17, energy))
    assert float(etl_sigma_w_pb(X17, [energy])[0]) == pytest.approx(reference, rel=0.03)


def test_long_lifetime_limit_scales_as_epsilon_to_the_fourth():
    # l >> decay volume: P(decay inside) -> (L_S4 - L_veto) / l with 1/l ~ eps^2, production ~ eps^2
    n = visible_events(RUNS[0], X17, [1e-6, 2e-6])
    assert n[1] / n[0] == pytest.approx(16.0, rel=1e-3)


def test_short_lifetime_limit_is_the_survival_through_the_dump():
    # l << dump: N(eps) = sum_i w_i eps^2 exp(-(L_veto - z_i) / l_i(eps)), so N(e2)/N(e1) is a
    # weighted mean of
    # the per-cell ratios and lies between those of the slowest-falling cell (deepest production, 12
    # X0, hardest
    # A', E0) and the fastest-falling one (production at the front, softest counted A', 20 GeV)
    run = RUNS[0]
    e1, e2 = 3e-3, 4e-3
    n1, n2 = visible_events(run, X17, [e1, e2])

    def log_ratio(depth_cm: float, energy_gev: float) -> float:
        l1, l2 = (
            float(decay_length_cm(width_aprime_to_ee_gev(X17, e), X17, energy_gev))
            for e in (e1, e2)
        )
        return 2 * math.log(e2 / e1) - (run.veto_end_cm - depth_cm) * (1 / l2 - 1 / l1)

    slowest = log_ratio(12 * run.wcal_cm_per_x0, run.beam_energy_gev)
    fastest = log_ratio(0.0, run.min_boson_energy_gev)
    assert fastest <= math.log(n2 / n1) <= slowest
    assert math.log(n2 / n1) < -5  # and it is a steep fall: the upper edge is the dump's


def test_x17_range_against_the_published_one():
    """PRD 101 (2020) 071101: 1.2e-4 < eps < 6.8e-4 at 16.7 MeV (8.4e10 EOT, 2017 + 2018).

    With the thesis's W / scintillator WCAL (17.5 cm for 30 X0), its 2018 decay tube and darkcast's
    2017 decay volume, efficiency 0.6 assumed: measured 0.75 and 1.24 of the published edges, both
    inside the 30% aim. 2017 alone against PRL 120 (1.3e-4 - 4.2e-4): the lower edge 0.97, the upper
    1.60 (outside; the 2017 geometry behind S4 is not in the thesis), recorded by the bound, not an
    agreement.
    """
    lower, upper = excluded_epsilon_range(RUNS, X17)
    assert lower == pytest.approx(1.2e-4, rel=0.3) and upper == pytest.approx(6.8e-4, rel=0.3)
    assert lower / 1.2e-4 == pytest.approx(0.75, abs=0.01) and upper / 6.8e-4 == pytest.approx(
        1.24, abs=0.01
    )
    lower17, upper17 = excluded_epsilon_range(RUNS[:1], X17)
    assert lower17 == pytest.approx(1.3e-4, rel=0.3) and 4.2e-4 < upper17 < 2 * 4.2e-4
    assert upper17 < upper  # the 150 GeV 2018 run reaches larger couplings


def test_wcal_is_the_thesis_sandwich():
    """35 layers of 3 mm W + 2 mm Sc (thesis chapter2.tex, appendixF.tex): 17.5 cm active; the W
    alone is 30 X0.
    """
    assert wcal_length_cm() == pytest.approx(35 * (0.3 + 0.2), rel=1e-12)
    assert WCAL_LAYERS * WCAL_LAYER_CM[0] / TUNGSTEN.x0_cm == pytest.approx(WCAL_X0, rel=0.01)
    for run in RUNS:
        assert run.wcal_length_cm == pytest.approx(17.5, rel=1e-12)
        assert run.veto_end_cm == pytest.approx(17.5 + 0.6, rel=1e-12)  # W2, 6 mm (chapter5.tex)
        assert run.min_boson_energy_gev == pytest.approx(
            25.0
        )  # the ECAL > 25 GeV cut (chapter3.tex)
    assert [r.beam_energy_gev for r in RUNS] == [100.0, 150.0]


def test_decay_volumes():
    """2018: S4 right after the 3.1 m tube, which starts at V2 (3 cm behind W2); 2017: darkcast's 4
    x shielding.
    """
    r17, r18 = RUNS
    assert r18.s4_cm - r18.veto_end_cm == pytest.approx(3.0 + 310.0, rel=1e-12)
    assert r17.s4_cm - r17.veto_end_cm == pytest.approx(
        DECAY_TO_SHIELDING_RATIO * r17.veto_end_cm, rel=1e-12
    )
    assert DECAY_TO_SHIELDING_RATIO == pytest.approx(4.0)


def test_runs_at_keeps_the_mix_and_scales_the_events_linearly():
    scaled = runs_at(exposure=3 * 8.4e10, efficiency=0.3)
    assert sum(r.exposure for r in scaled) == pytest.approx(3 * 8.4e10, rel=1e-12)
    assert scaled[0].exposure / scaled[1].exposure == pytest.approx(5.4 / 3.0, rel=1e-12)
    assert all(r.efficiency == pytest.approx(0.3) for r in scaled)
    eps = [1e-4, 5e-4]
    for new, old in zip(
        scaled, RUNS
    ):  # events ~ exposure x efficiency at fixed geometry: 3 x 0.3 / 0.6 = 1.5
        assert visible_events(new, X17, eps) == pytest.approx(
            1.5 * visible_events(old, X17, eps), rel=1e-9
        )
    assert [r.efficiency for r in runs_at()] == [r.efficiency for r in RUNS]
    for bad in ({"exposure": -1.0}, {"exposure": "abc"}, {"efficiency": 1.5}, {"efficiency": "x"}):
        with pytest.raises(PhysicsError, match=f"runs_at: {next(iter(bad))}"):
            runs_at(**bad)


def test_visible_events_refuse_masses_above_the_muon_threshold():
    with pytest.raises(PhysicsError, match="2 m_mu"):
        visible_events(RUNS[0], 0.3, [1e-4])


def test_visible_workspace_yields_are_the_runs_events():
    from na64stat.simulation.signal_yields import expected_signal_events

    n = expected_signal_events("na64e-visible", X17, 3e-4, "dark_photon", 8.4e10, 0.6)
    assert n == pytest.approx(sum(float(visible_events(r, X17, [3e-4])[0]) for r in RUNS), rel=1e-9)
    with pytest.raises(InputError, match="dark-photon"):
        expected_signal_events("na64e-visible", X17, 3e-4, "lmutau", 8.4e10, 0.6)
