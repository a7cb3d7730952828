"""What a setup needs across the stages: one physics record, one simulation record, its backgrounds,
its packaged selection and (unless its efficiency is explicit) its simulated efficiency table."""

from pathlib import Path

import pytest

from na64stat.physics.efficiencies import simulated_efficiency_table
from na64stat.physics.setups import SETUPS
from na64stat.simulation.processes import BACKGROUNDS
from na64stat.simulation.setups import SIMULATION_SETUPS

SELECTIONS = Path(__file__).resolve().parents[2] / "na64stat" / "selections"


def test_every_setup_has_one_record_per_stage():
    assert list(SETUPS) == list(SIMULATION_SETUPS) == list(BACKGROUNDS)
    assert all(SIMULATION_SETUPS[name].physics is SETUPS[name] for name in SETUPS)


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_backgrounds_are_numbered_in_order(name):
    assert [p.code for p in BACKGROUNDS[name].values()] == list(
        range(1, len(BACKGROUNDS[name]) + 1)
    )
    assert {p.setup for p in BACKGROUNDS[name].values()} == {name}


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_every_setup_has_a_selection_and_an_efficiency(name):
    assert (SELECTIONS / f"{name}.yaml").is_file()
    if SETUPS[name].efficiency is None:
        mass, efficiency, _ = simulated_efficiency_table(name)
        assert mass.size > 1 and efficiency.min() > 0
