"""Every NA64 mass scan samples the resonant-annihilation window (226-320 MeV for 100 GeV and E_miss
> 50 GeV)
densely: at least 8 masses between 150 and 320 MeV, one on each side of the window's lower edge.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from na64stat.core.loaders import load_yaml
from na64stat.physics.annihilation import (
    RESONANCE_SCAN_MASSES_GEV,
    resonance_mass_gev,
    with_resonance_masses,
)
from na64stat.physics.constants import M_E_GEV

#: The window's lower edge in closed form: E_R + m_e = 50 GeV with E_R = (m^2 - 2 m_e^2) / (2 m_e).
EDGE_GEV = float(np.sqrt(2 * M_E_GEV * (50.0 - M_E_GEV) + 2 * M_E_GEV**2))
WORKSPACES = Path(str(resources.files("na64stat") / "workspaces"))


def _check(masses, where):
    m = np.asarray(masses, dtype=float)
    assert np.count_nonzero((m >= 0.15) & (m <= 0.32)) >= 8, where
    assert np.any((m < EDGE_GEV) & (m > 0.22)) and np.any((m > EDGE_GEV) & (m < 0.23)), where


def test_edge_is_the_closed_form():
    assert EDGE_GEV == pytest.approx(0.2261, abs=1e-4)
    assert float(resonance_mass_gev(50.0 - M_E_GEV)) == pytest.approx(EDGE_GEV, rel=1e-12)
    assert with_resonance_masses(RESONANCE_SCAN_MASSES_GEV) == RESONANCE_SCAN_MASSES_GEV


@pytest.mark.parametrize(
    "folder", ["na64e-invisible-2016-2018", "na64e-invisible-2016-2022", "na64mu-2022"]
)
def test_shipped_scans(folder):
    _check(
        load_yaml(WORKSPACES / folder / "config.yaml", "workspace config")["signal"]["masses"],
        folder,
    )


def test_main_job_and_projection_grids():
    from na64stat.app.pipeline import DEFAULT_MASSES_GEV
    from na64stat.app.reproduce import MASSES_GEV

    _check(DEFAULT_MASSES_GEV, "main job")
    _check(MASSES_GEV, "reproduce projections")


def _shipped_grid(lo_gev: float, hi_gev: float) -> np.ndarray:
    """The 2016-2022 workspace's signal masses [GeV] from ``lo_gev`` to ``hi_gev``."""
    config = load_yaml(WORKSPACES / "na64e-invisible-2016-2022" / "config.yaml", "workspace config")
    masses = np.asarray(config["signal"]["masses"], dtype=float)
    return masses[(masses >= lo_gev) & (masses <= hi_gev)]


def test_the_finite_width_yield_is_one_smooth_dip_on_the_shipped_grid():
    """Along the 2016-2022 scan's masses in 200-320 MeV the signal yield rises, then falls, once
    (below 200 MeV bremsstrahlung, falling with m, dominates), and it is continuous across the
    narrow-width edge (225.5 against 227 MeV)."""
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import events_per_alpha_x

    masses = _shipped_grid(0.2, 0.32)
    n = events_per_alpha_x(get_setup("na64e-invisible"), masses)
    steps = np.sign(np.diff(n))
    assert np.count_nonzero(np.diff(steps) != 0) == 1  # one turning point: a dip in epsilon
    below, above = n[np.argmin(abs(masses - 0.2255))], n[np.argmin(abs(masses - 0.227))]
    assert below / above == pytest.approx(1.0, abs=0.3)


def test_the_grid_resolves_the_dip():
    """The log-log line through the 2016-2022 scan's masses stays within 7% of the background-free
    reach computed every 2.5 MeV from 150 to 310 MeV (the comment of RESONANCE_SCAN_MASSES_GEV)."""
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import events_per_alpha_x

    grid = _shipped_grid(0.15, 0.31)
    fine = np.linspace(0.15, 0.31, 65)
    setup = get_setup("na64e-invisible")
    reach = events_per_alpha_x(setup, fine) ** -0.5  # epsilon reach up to a constant
    line = np.exp(
        np.interp(np.log(fine), np.log(grid), np.log(events_per_alpha_x(setup, grid) ** -0.5))
    )
    assert np.max(np.abs(line / reach - 1)) < 0.07
