"""The setup registry of the simulation stage: one record per NA64 setup.

A :class:`SimulationSetup` joins, for one setup name, everything the
simulation and the later stages need:

* ``physics``: the :class:`~na64stat.physics.setups.Setup` of the physics
  stage (beam ``"electron"`` / ``"muon"``, beam energy, target, missing-energy
  cut, published exposure, mode ``"invisible"`` / ``"visible"``), taken from
  :data:`na64stat.physics.setups.SETUPS` (the physics stage owns those numbers);
* ``detector``: its readout (:class:`~na64stat.simulation.detectors.Detector`,
  whose ``trigger`` field says what the physics trigger looks at);
* ``generation``: how events are generated (:class:`Generation`: the signal
  generation cut and the default real-style data exposure).

The background processes of a setup are attached to the same key in
:data:`na64stat.simulation.processes.BACKGROUNDS` (their samplers live next
to the physics they implement); :func:`na64stat.simulation.processes.backgrounds`
returns them for a record. Code never tests a setup's name: it reads the
record's fields (``physics.beam``, ``physics.mode``, ``detector.trigger``).
Names appear only as registry keys and command-line choices.

Why here: the stage order is core < physics < simulation < ..., so the
physics record cannot know about detectors; the simulation stage adds its
records keyed by the physics record, and later stages read this registry.

A new setup needs: its physics record (numbers in
:data:`na64stat.physics.setups.SETUPS`, their sources in
``resources/setups.json``); here one ``_simulated(name, Generation(...),
**detector fields)`` entry; its backgrounds, one ``_backgrounds(name, ...)``
entry in :data:`~na64stat.simulation.processes.BACKGROUNDS` (new samplers only
for a new kind of detector); its selection ``selections/<name>.yaml``; and,
unless its efficiency is explicit, its rows in the efficiency table
(``tools/make_efficiency_table.py``). ``tests/simulation/test_setup_registry.py``
checks that none is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from na64stat.core.errors import InputError
from na64stat.physics.setups import SETUPS, Setup
from na64stat.simulation.detectors import Detector

__all__ = [
    "Generation",
    "SimulationSetup",
    "SIMULATION_SETUPS",
    "get_simulation_setup",
    "get_detector",
]


@dataclass(frozen=True)
class Generation:
    """How the events of a setup are generated (documented choices, not published numbers).

    Attributes
    ----------
    signal_cut_fraction:
        Signal is generated with the boson carrying more than this fraction of
        the beam energy (NA64e: 20 GeV, below the trigger's 80 GeV ECAL
        threshold; NA64mu: 48 GeV, below its 100 GeV/c p_out trigger).
    default_data_pot:
        Exposure of the default real-style data set [EOT or MOT] (a
        laptop-sized sample: ~1e6, ~3e5 and ~1e5 triggered events).
    """

    signal_cut_fraction: float
    default_data_pot: float

    def __post_init__(self) -> None:
        if not 0.0 < self.signal_cut_fraction < 1.0:
            raise InputError(
                f"signal_cut_fraction must lie in (0, 1), got {self.signal_cut_fraction}"
            )
        if not self.default_data_pot > 0:
            raise InputError(f"default_data_pot must be positive, got {self.default_data_pot}")


@dataclass(frozen=True)
class SimulationSetup:
    """One setup as every stage after the physics sees it.

    Attributes
    ----------
    detector:
        Readout, resolutions and trigger; ``detector.physics`` is the physics
        record (also :attr:`physics`).
    generation:
        Generation choices (:class:`Generation`).

    Examples
    --------
    >>> s = get_simulation_setup("na64mu-invisible")
    >>> s.physics.beam, s.detector.trigger, s.generation.signal_cut_fraction
    ('muon', 'muon_momentum', 0.3)
    """

    detector: Detector
    generation: Generation

    @property
    def physics(self) -> Setup:
        """The physics record (:class:`~na64stat.physics.setups.Setup`)."""
        return self.detector.physics

    @property
    def name(self) -> str:
        """The registry key (command-line choice, file metadata)."""
        return self.physics.name

    @property
    def signal_cut_gev(self) -> float:
        """Smallest boson energy of generated signal [GeV]."""
        return self.generation.signal_cut_fraction * self.physics.beam_energy_gev


def _simulated(name: str, generation: Generation, **detector: Any) -> SimulationSetup:
    """The record of physics setup ``name`` (:data:`~na64stat.physics.setups.SETUPS`): its detector
    (``detector``: the :class:`~na64stat.simulation.detectors.Detector` fields but ``physics``) and
    its generation choices.
    """
    return SimulationSetup(Detector(physics=SETUPS[name], **detector), generation)


#: One record per physics setup that is simulated (today: all of them).
SIMULATION_SETUPS: dict[str, SimulationSetup] = {
    s.name: s
    for s in (
        _simulated(
            "na64e-invisible",
            Generation(signal_cut_fraction=0.2, default_data_pot=5e8),
            trigger="ecal_missing_energy",
            description="upstream tracker, 3 SRD counters, 6x6 ECAL with preshower, veto, HCAL0-3 "
            "(NA64 review Fig. 4)",
            branches=(
                "p_track",
                "srd_e",
                "ecal_cells",
                "ecal_e",
                "ps_e",
                "ecal_chi2",
                "veto_e",
                "hcal_e",
            ),
        ),
        _simulated(
            "na64mu-invisible",
            Generation(signal_cut_fraction=0.3, default_data_pot=5e8),
            trigger="muon_momentum",
            hcal_modules=3,
            description="two magnetic spectrometers (p_in, p_out), active-target ECAL, veto, 3 "
            "HCAL modules (NA64 review Fig. 9)",
            branches=(
                "p_in",
                "p_out",
                "n_tracks_out",
                "ecal_cells",
                "ecal_e",
                "veto_e",
                "hcal_e",
            ),
        ),
        _simulated(
            "na64e-visible",
            Generation(signal_cut_fraction=0.2, default_data_pot=1e10),
            trigger="dump_missing_energy",
            trigger_srd_min_mev=3.0,
            description="tracker, SRD, W/Sc WCAL dump with W2 veto, V2, decay volume, S4, ECAL, "
            "veto, HCAL (NA64 review Fig. 5)",
            branches=(
                "p_track",
                "srd_e",
                "wcal_e",
                "w2_e",
                "v2_e",
                "s4_e",
                "ecal_cells",
                "ecal_e",
                "ecal_chi2",
                "veto_e",
                "hcal_e",
            ),
        ),
    )
}


def get_simulation_setup(name: str) -> SimulationSetup:
    """The registry record of a setup by name (an :class:`InputError` naming the known ones
    otherwise).

    >>> get_simulation_setup("na64e-visible").physics.mode
    'visible'
    """
    try:
        return SIMULATION_SETUPS[name]
    except KeyError:
        raise InputError(f"unknown setup {name!r}; known: {', '.join(SIMULATION_SETUPS)}") from None


def get_detector(name: str) -> Detector:
    """The detector of a setup by name.

    >>> get_detector("na64mu-invisible").hcal_modules
    3
    """
    return get_simulation_setup(name).detector
