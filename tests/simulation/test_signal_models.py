"""Signal processes and expected yields of any registered model scale from the dark photon's."""

from __future__ import annotations

import pytest

from na64stat.physics.constants import ALPHA_EM
from na64stat.physics.model_widths import branching_invisible
from na64stat.physics.models import GAUGE_ALPHA_UNIT, get_model
from na64stat.simulation.processes import signal_process
from na64stat.simulation.signal_yields import expected_signal_events


@pytest.mark.parametrize("name", ["b_minus_l", "le_lmu"])
def test_electron_beam_rate_is_the_dark_photon_rate_times_charge_and_branching(name):
    """Same production per alpha_X: rate_M / rate_A' = (x_e^2 / 4 pi) Br_inv / alpha at equal
    couplings.
    """
    m = 0.05
    ratio = GAUGE_ALPHA_UNIT * get_model(name).charge("e") ** 2
    ratio *= float(branching_invisible(get_model(name), m)) / ALPHA_EM
    dark = signal_process("na64e-invisible", m, 1e-4, "dark_photon")
    model = signal_process("na64e-invisible", m, 1e-4, name)
    assert model.rate_per_pot == pytest.approx(dark.rate_per_pot * ratio, rel=1e-12)
    assert model.metadata["coupling_name"] == get_model(name).coupling_name
    events = expected_signal_events("na64e-invisible", m, 1e-4, name, 1e11, 0.5)
    dark_events = expected_signal_events("na64e-invisible", m, 1e-4, "dark_photon", 1e11, 0.5)
    assert events == pytest.approx(dark_events * ratio, rel=1e-12)


def test_muon_beam_sees_no_l_e_minus_l_tau_signal():
    assert expected_signal_events("na64mu-invisible", 0.05, 1e-3, "le_ltau", 1e10, 1.0) == 0.0
