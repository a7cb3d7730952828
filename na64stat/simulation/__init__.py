"""Event simulation for NA64-style setups: weighted MC and real-style data as ROOT files.

``setups`` (the setup registry: one record per setup joining the physics
setup, its detector and the generation choices), ``detectors`` (readout,
resolutions, trigger), ``processes`` (signal and
backgrounds with their rates), ``sampling`` (importance-weighted draws),
``signal_yields`` (a setup's expected signal events, for workspaces) and
``generate`` (the drivers :func:`simulate_mc` and :func:`simulate_data`). The
files are written with :mod:`na64stat.core.rootio` (chunked, atomic,
reproducible uproot output); :func:`read_metadata` reads their metadata back.
"""

from __future__ import annotations

from na64stat.core.rootio import read_metadata
from na64stat.simulation.detectors import Detector
from na64stat.simulation.generate import (
    DataSettings,
    SimulatedFile,
    mc_processes,
    simulate_data,
    simulate_mc,
)
from na64stat.simulation.processes import (
    BACKGROUNDS,
    Process,
    backgrounds,
    get_process,
    signal_process,
)
from na64stat.simulation.setups import (
    SIMULATION_SETUPS,
    Generation,
    SimulationSetup,
    get_detector,
    get_simulation_setup,
)

__all__ = [
    "SIMULATION_SETUPS",
    "SimulationSetup",
    "Generation",
    "get_simulation_setup",
    "Detector",
    "get_detector",
    "BACKGROUNDS",
    "backgrounds",
    "Process",
    "get_process",
    "signal_process",
    "DataSettings",
    "SimulatedFile",
    "mc_processes",
    "simulate_mc",
    "simulate_data",
    "read_metadata",
]
