"""The signal efficiency per production channel (bremsstrahlung, resonant annihilation) and the
generator's single-channel signal, which leaves the setup registries alone.

References: the annihilation yield n_e X0 T+(E_R) int sigma dE+ of
:func:`na64stat.physics.annihilation.annihilation_events_per_pot` (PRL 121 (2018) 041802's
narrow resonance) and the bremsstrahlung yield with annihilation off, each computed at
efficiency 1 and multiplied by the efficiency here, by hand; the window edges from
E_R = (m^2 - 2 m_e^2) / (2 m_e) solved for m by hand.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from na64stat.core.errors import InputError, PhysicsError, ResourceError
from na64stat.physics import efficiencies
from na64stat.physics import setups as physics_setups
from na64stat.physics.annihilation import annihilation_events_per_pot
from na64stat.physics.constants import ALPHA_EM, LEAD, M_E_GEV
from na64stat.physics.efficiencies import signal_efficiency, simulated_efficiency_table
from na64stat.physics.setups import get_setup
from na64stat.physics.yields import annihilation_events_per_alpha_x, events_per_alpha_x
from na64stat.simulation import setups as simulation_setups
from na64stat.simulation.generate import simulate_mc
from na64stat.simulation.processes import signal_process
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_detector

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_efficiency_table.py"
# the table's mechanics, without the setup's mass-independent factors
# (tests/physics/test_analysis_factors.py has those)
SETUP = get_setup("na64e-invisible").with_(efficiency_factors=())
#: Window of non-zero annihilation yield for 100 GeV and a 50 GeV cut, by hand:
#: m = sqrt(2 m_e E + 2 m_e^2) at E = 50 GeV - m_e (E_R + m_e = cut) and at E = 100 GeV.
WINDOW = (
    math.sqrt(2 * M_E_GEV * (50.0 - M_E_GEV) + 2 * M_E_GEV**2),
    math.sqrt(2 * M_E_GEV * 100.0 + 2 * M_E_GEV**2),
)


def _registries() -> tuple[dict, dict]:
    return dict(physics_setups.SETUPS), dict(simulation_setups.SIMULATION_SETUPS)


def _same(before: tuple[dict, dict], after: tuple[dict, dict]) -> bool:
    return all(
        b.keys() == a.keys() and all(a[k] is b[k] and a[k] == b[k] for k in b)
        for b, a in zip(before, after)
    )


def _brems_at_1(setup, masses):
    return events_per_alpha_x(setup.with_(efficiency=1.0, positron_annihilation=False), masses)


def _annihilation_at_1(setup, masses):
    return np.array(
        [
            setup.exposure
            * annihilation_events_per_pot(
                m, 1.0, 100.0, 50.0, LEAD, 40.0, setup.annihilation_sector
            )
            for m in masses
        ]
    )


def test_single_channel_signal_leaves_the_registries_unchanged(tmp_path):
    before = _registries()
    files = simulate_mc(
        "na64e-invisible",
        tmp_path / "b",
        processes=["signal"],
        masses_gev=[0.25],
        n_events=300,
        seed=3,
        compression="none",
        signal_production="bremsstrahlung",
    )
    files += simulate_mc(
        "na64e-invisible",
        tmp_path / "a",
        processes=["signal"],
        masses_gev=[0.25],
        n_events=300,
        seed=3,
        compression="none",
        signal_production="annihilation",
    )
    assert [f.path.name for f in files] == [
        "signal_m250MeV.root",
        "signal_m250MeV_annihilation.root",
    ]
    assert _same(before, _registries())
    assert SETUP.positron_annihilation
    assert simulation_setups.SIMULATION_SETUPS["na64e-invisible"].physics is get_setup(
        "na64e-invisible"
    )


def test_the_efficiency_tool_leaves_the_registries_unchanged(tmp_path):
    spec = importlib.util.spec_from_file_location("make_efficiency_table", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    saved_path = list(sys.path)
    try:
        spec.loader.exec_module(tool)
    finally:
        sys.path[:] = saved_path
    before = _registries()
    rows = tool.efficiency_rows("na64e-invisible", "dark_photon", (0.01,), 400, 2, tmp_path)
    rows += tool.efficiency_rows(
        "na64e-invisible", "dark_photon", (0.25,), 400, 2, tmp_path, "annihilation"
    )
    assert _same(before, _registries())
    assert all(0.0 < r["efficiency"] <= 1.0 for r in rows)
    assert [round(m, 6) for m in tool.annihilation_window_gev(SETUP)] == [
        round(m, 6) for m in WINDOW
    ]


def test_channel_processes_split_the_rate_and_the_events():
    mass, n = 0.25, 2_000
    both = signal_process("na64e-invisible", mass, 1e-3)
    brems = signal_process("na64e-invisible", mass, 1e-3, production="bremsstrahlung")
    ann = signal_process("na64e-invisible", mass, 1e-3, production="annihilation")
    assert brems.rate_per_pot + ann.rate_per_pot == pytest.approx(both.rate_per_pot, rel=1e-12)
    # annihilation alone: n_e X0 int T+ sigma dE+ at the 20 GeV generation cut, alpha_X = alpha
    # eps^2
    alpha_eps2 = ALPHA_EM * 1e-6
    assert ann.rate_per_pot == pytest.approx(
        annihilation_events_per_pot(
            mass, alpha_eps2, 100.0, 20.0, LEAD, 40.0, SETUP.annihilation_sector
        ),
        rel=1e-12,
    )
    detector = get_detector("na64e-invisible")
    e_r = (mass**2 - 2 * M_E_GEV**2) / (2 * M_E_GEV)
    for process, resonant_share in ((ann, 1.0), (brems, 0.0)):
        truth = process.sample(Draw(np.random.default_rng(4), n, biased=True), detector)
        resonant = np.isclose(truth["true_x"] * truth["true_beam_energy"], e_r, rtol=1e-9, atol=0.0)
        assert math.isclose(float(resonant.mean()), resonant_share, abs_tol=1e-12)
    with pytest.raises(InputError, match=r"no resonant annihilation at m = 0\.1 GeV"):
        signal_process("na64e-invisible", 0.1, production="annihilation")
    with pytest.raises(InputError, match="electron beam"):
        signal_process("na64mu-invisible", 0.25, production="annihilation")


@pytest.mark.parametrize("mass", [0.1, 0.25, 0.3])
def test_a_flat_override_multiplies_both_channels(mass):
    flat = SETUP.with_(efficiency=0.7)
    expected = 0.7 * (_brems_at_1(SETUP, [mass]) + _annihilation_at_1(SETUP, [mass]))
    assert np.allclose(events_per_alpha_x(flat, [mass]), expected, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("mass", [0.23, 0.25, 0.3])
def test_computed_efficiency_applies_each_channel_its_own(mass):
    # eff_brems * N_brems + eff_ann * N_ann, narrow width; the efficiencies interpolated here
    # (bremsstrahlung linear in log m; annihilation linear in the A' energy E_R + m_e)
    narrow = SETUP.with_(annihilation_sector=None)
    m_b, e_b, _ = simulated_efficiency_table(SETUP.name)
    m_a, e_a, _ = simulated_efficiency_table(SETUP.name, "annihilation")
    eff_b = np.interp(math.log(mass), np.log(m_b), e_b)
    energy = lambda m: (np.asarray(m) ** 2 - 2 * M_E_GEV**2) / (2 * M_E_GEV) + M_E_GEV
    eff_a = np.interp(energy(mass), energy(m_a), e_a)
    brems, ann = _brems_at_1(narrow, [mass])[0], _annihilation_at_1(narrow, [mass])[0]
    assert ann > 0.0
    assert float(events_per_alpha_x(narrow, [mass])[0]) == pytest.approx(
        eff_b * brems + eff_a * ann, rel=1e-9
    )
    assert float(annihilation_events_per_alpha_x(narrow, [mass])[0]) == pytest.approx(
        eff_a * ann, rel=1e-9
    )


def test_finite_width_efficiency_is_applied_per_aprime_energy():
    """The default (finite width): the efficiency weights each positron energy of the integral."""
    from na64stat.physics.annihilation import positron_annihilation_nodes

    mass = 0.24
    m_a, e_a, _ = simulated_efficiency_table(SETUP.name, "annihilation")
    energy = lambda m: (np.asarray(m) ** 2 - 2 * M_E_GEV**2) / (2 * M_E_GEV) + M_E_GEV
    nodes = positron_annihilation_nodes(mass, 1.0, 100.0, 50.0, 40.0, SETUP.annihilation_sector)
    eff = np.interp(nodes.energy_gev + M_E_GEV, energy(m_a), e_a)
    expected = (
        SETUP.exposure * LEAD.z * LEAD.nuclei_per_cm2_per_x0 * float(np.sum(nodes.weight * eff))
    )
    assert float(annihilation_events_per_alpha_x(SETUP, [mass])[0]) == pytest.approx(
        expected, rel=1e-12
    )


def test_annihilation_table_is_physical_and_inside_the_window():
    mass, eff, err = simulated_efficiency_table(SETUP.name, "annihilation")
    assert WINDOW[0] < mass[0] and mass[-1] < WINDOW[1] and np.all(np.diff(mass) > 0)
    assert np.all((eff > 0) & (eff <= 1 + 3 * err)) and np.all((err > 0) & (err < 0.005))
    # Just above the edge the ECAL gets beam - E_R ~ 50 GeV: the 1% beam spread and the ECAL
    # resolution
    # put about half of it below the 50 GeV box edge, so the first point is ~1/2 of the plateau (E_R
    # 55-90 GeV)
    plateau = float(np.median(eff[(mass > 0.2338) & (mass < 0.30)]))
    assert 0.4 < eff[0] / plateau < 0.6
    # the plateau: the same cuts as bremsstrahlung at low mass (both ~0.96: beam, SRD, preshower,
    # shape, veto)
    assert abs(plateau - float(signal_efficiency(SETUP, 0.001)[0])) < 0.03


def test_annihilation_fallback_inside_the_window_and_error_outside():
    _, eff, _ = simulated_efficiency_table(SETUP.name, "annihilation")
    edge = signal_efficiency(
        SETUP, [WINDOW[0] * (1 + 1e-7), WINDOW[1] * (1 - 1e-7)], "annihilation"
    )
    assert np.allclose(
        edge, [eff[0], eff[-1]], rtol=1e-12
    )  # constant to the window's edges (documented)
    wider = SETUP.with_(
        missing_energy_cut_gev=40.0
    )  # its window starts at 202 MeV, the table's at 226 MeV
    assert annihilation_events_per_pot(0.21, 1.0, 100.0, 40.0, LEAD, 40.0) > 0
    with pytest.raises(  # the table's energies do not reach down to the lowered cut's
        PhysicsError,
        match=r"mass 0\.202\d+ GeV is outside the simulated annihilation efficiency table",
    ):
        events_per_alpha_x(wider, [0.21])


def test_a_table_without_annihilation_rows_still_reads(monkeypatch):
    old = {
        "setups": {
            "na64e-invisible": {
                "rows": [
                    {"mass_gev": 0.001, "efficiency": 0.9, "mc_error": 0.01},
                    {"mass_gev": 1.0, "efficiency": 0.8, "mc_error": 0.01},
                ]
            }
        }
    }
    monkeypatch.setattr(efficiencies, "load_resource", lambda name: old)
    mass, eff, _ = simulated_efficiency_table("na64e-invisible")
    assert np.allclose(mass, [0.001, 1.0]) and np.allclose(eff, [0.9, 0.8])
    assert np.allclose(
        signal_efficiency(SETUP, [math.sqrt(0.001)]), [0.85], rtol=1e-12
    )  # halfway in log m
    # no annihilation yield: the old table suffices (narrow width at 100 MeV; the finite width at
    # 500 MeV, where sqrt(s) of the top shower positrons is below 2 m_chi = m / 1.5)
    assert events_per_alpha_x(SETUP.with_(annihilation_sector=None), [0.1])[0] > 0
    assert events_per_alpha_x(SETUP, [0.5])[0] > 0
    for mass in (0.1, 0.25):  # the finite width's tail at 100 MeV needs the annihilation rows too
        with pytest.raises(ResourceError, match="annihilation efficiency table"):
            events_per_alpha_x(SETUP, [mass])
