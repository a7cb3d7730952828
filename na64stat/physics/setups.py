"""The NA64-style setups: the :class:`Setup` record and the :data:`SETUPS` registry.

Every number of an experiment that is not physics (beam, target, missing-energy
cut, exposure, efficiency choices) is a field of :class:`Setup`; the yields of
:mod:`na64stat.physics.yields` read nothing else. Each registry entry holds
only the numbers; where each number comes from (the entry's ``description``,
``sources``, ``caveats`` and the source of each efficiency factor) is packaged
data, ``resources/setups.json`` (read with
:func:`~na64stat.core.references.load_resource`), so a new setup is one short
entry here and one block of prose there.

Setups used by the simulation stage also need a record in
:data:`na64stat.simulation.setups.SIMULATION_SETUPS` (detector and generation
choices) and background processes in :data:`na64stat.simulation.processes.BACKGROUNDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from na64stat.core.errors import InputError, PhysicsError, ResourceError
from na64stat.core.references import load_resource
from na64stat.physics.analysis_factors import (
    THESIS,
    cutflow_cumulative,
    cutflow_factor,
    dimuon_reweighting_factor,
)
from na64stat.physics.annihilation import BENCHMARK_DARK_SECTOR, DarkSector
from na64stat.physics.constants import LEAD, M_E_GEV, M_MU_GEV, TUNGSTEN, Material
from na64stat.physics.visible import WCAL_X0, get_runs

__all__ = [
    "ASSUMED_SIGNAL_EFFICIENCY",
    "UPPER_BOUND_NOTE",
    "CUTFLOW_FACTOR_NAME",
    "PROVENANCE",
    "EfficiencyFactor",
    "Setup",
    "SETUPS",
    "get_setup",
]

#: An example of an explicit, flat signal-efficiency override (trigger, particle
#: ID, shower shape, veto and HCAL cuts, DAQ dead time together), e.g.
#: ``setup.with_(efficiency=ASSUMED_SIGNAL_EFFICIENCY)``. An ASSUMPTION, not a
#: published number, and NOT the default: setups compute their efficiency
#: (:func:`~na64stat.physics.efficiencies.signal_efficiency`). The visible mode, which has no
#: simulated
#: efficiency table, uses it explicitly.
ASSUMED_SIGNAL_EFFICIENCY: float = 0.6

#: What every output of a setup with ``upper_bound`` (:class:`Setup`) says about its prediction.
UPPER_BOUND_NOTE: str = (
    "an upper bound on the sensitivity, not a reproduction: the analysis's acceptance, trigger "
    "and efficiency factors are in no citable source here and are not applied (none is fitted)"
)

#: Name of the NA64e invisible setup's cut-flow efficiency factor
#: (:mod:`na64stat.physics.analysis_factors`).
CUTFLOW_FACTOR_NAME: str = "calibration-run cut flow not in the simulated selection"

#: Resource (``na64stat/resources/<name>.json``) with each setup's description, sources and caveats.
PROVENANCE: str = "setups"


@dataclass(frozen=True)
class EfficiencyFactor:
    """A mass-independent efficiency factor (detector, trigger, DAQ) with its source.

    >>> EfficiencyFactor("DAQ live time", 0.9, "a paper, sec. 2").value
    0.9
    """

    name: str
    value: float
    source: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and 0.0 < self.value <= 1.0):
            raise InputError(
                f"efficiency factor {self.name!r}: value must be in (0, 1], got {self.value!r}"
            )


#: Allowed ``Setup.cross_section`` values per beam (see :class:`Setup`).
_CROSS_SECTIONS: dict[str, tuple[str, ...]] = {
    "electron": ("etl", "etl-computed", "iww"),
    "muon": ("etl", "ww", "iww"),
}


@dataclass(frozen=True)
class Setup:
    """An NA64-style missing-energy / missing-momentum setup.

    Attributes
    ----------
    name : str
        Identifier used on the command line.
    beam : {"electron", "muon"}
        ``"electron"`` (showering active target) or ``"muon"`` (thin-target
        production along the whole target).
    beam_energy_gev : float
        Beam energy E0 [GeV].
    target : Material
        Target material (the active target's absorber).
    target_length_x0 : float
        Target thickness in radiation lengths of ``target``.
    missing_energy_cut_gev : float
        Minimum energy carried by the invisible boson [GeV]: E0 - E_ECAL cut for
        NA64e, E0 - p_max(outgoing muon) for NA64mu.
    exposure : float
        Particles on target [EOT or MOT].
    efficiency : float or None
        ``None`` (default): computed per mass by
        :func:`~na64stat.physics.efficiencies.signal_efficiency`
        (simulated selection efficiency x ``efficiency_factors``). A float in
        (0, 1]: an explicit, mass-independent override.
    efficiency_factors : tuple of EfficiencyFactor
        Mass-independent detector / DAQ factors the papers state, each with
        its source; used only when ``efficiency`` is ``None``.
    cross_section : {"etl", "etl-computed", "iww", "ww"}
        Electron beams: ``"etl"`` (DMG4 IWW / K, Pb only), ``"etl-computed"``
        (this project's exact-tree-level table, Pb or W,
        :func:`na64stat.physics.etl.sigma_etl_pb`) or ``"iww"`` (DMG4's IWW
        formula). Muon beams: ``"etl"`` (the computed ETL table; the default
        of the NA64mu setup) or ``"ww"`` (Weizsacker-Williams,
        :func:`~na64stat.physics.production.sigma_muon_iww_pb`; ``"iww"`` is
        the same, kept for old configurations).
    mode : {"invisible", "visible"}
        ``"invisible"`` (the boson decays to invisible particles: missing
        energy) or ``"visible"`` (A' -> e+ e- behind a dump: the decay
        probability enters the signal yield).
    positron_annihilation : bool
        Electron beams: add resonant annihilation of shower positrons,
        e+ e- -> A' (:mod:`na64stat.physics.annihilation`), to bremsstrahlung.
        NA64 counts it since its 2016-2022 analysis (PRL 131 (2023) 161801);
        the PRL 123 (2019) curve did not (it is smooth at 226-320 MeV, where
        the channel would show), so compare with that curve with ``False``.
    annihilation_sector : DarkSector or None
        The dark sector whose A' -> chi chibar width shapes the annihilation
        resonance (finite-width yield,
        :func:`~na64stat.physics.annihilation.annihilation_events_per_pot`); default
        :data:`~na64stat.physics.annihilation.BENCHMARK_DARK_SECTOR` (alpha_D = 0.1,
        m_A' = 3 m_chi, Dirac chi: the PBC benchmark BC2 the compiled NA64e curves use).
        None: the narrow width.
    description, sources:
        What the setup is and where each number comes from (the registry's
        texts: ``resources/setups.json``).
    visible_runs:
        Visible mode: the runs of :data:`na64stat.physics.visible.VISIBLE_RUNS`
        whose yields the setup's signal uses (each run keeps its beam energy
        and dump); empty for the invisible mode.
    upper_bound:
        True where no citable source gives the analysis's acceptance, trigger
        and efficiency factors, so a prediction from this setup alone is an
        upper bound on the sensitivity, not a reproduction of the published
        result (:data:`UPPER_BOUND_NOTE`); every output that uses it says so
        (reach, the physics summary, the (g-2)_mu statement, figure labels).
        No factor is fitted to the published curve instead.
    caveats:
        Known limits of predictions made from this setup alone, measured
        against the published results (``na64stat reproduce published``) and
        not fixed here because the numbers that would fix them could not be
        read in a citable source. Printed with every reach
        (:func:`~na64stat.results.summary.format_summary`) and in the
        published comparison: a result that may be wrong says so.
    """

    name: str
    beam: Literal["electron", "muon"]
    beam_energy_gev: float
    target: Material
    target_length_x0: float
    missing_energy_cut_gev: float
    exposure: float
    efficiency: float | None = None
    cross_section: Literal["etl", "etl-computed", "iww", "ww"] = "etl"
    mode: Literal["invisible", "visible"] = "invisible"
    description: str = ""
    sources: tuple[str, ...] = field(default_factory=tuple)
    efficiency_factors: tuple[EfficiencyFactor, ...] = field(default_factory=tuple)
    positron_annihilation: bool = True
    visible_runs: tuple[str, ...] = field(default_factory=tuple)
    caveats: tuple[str, ...] = field(default_factory=tuple)
    upper_bound: bool = False
    annihilation_sector: DarkSector | None = BENCHMARK_DARK_SECTOR

    def __post_init__(self) -> None:
        if self.beam not in ("electron", "muon"):
            raise InputError(
                f"setup {self.name!r}: beam must be 'electron' or 'muon', got {self.beam!r}"
            )
        if not 0.0 < self.missing_energy_cut_gev < self.beam_energy_gev:
            raise InputError(
                f"setup {self.name!r}: missing-energy cut {self.missing_energy_cut_gev} GeV "
                f"must lie between 0 and the beam energy {self.beam_energy_gev} GeV"
            )
        if self.efficiency is not None and not (
            isinstance(self.efficiency, (int, float)) and 0.0 < self.efficiency <= 1.0
        ):
            raise InputError(
                f"setup {self.name!r}: efficiency must be in (0, 1] or None (computed), "
                f"got {self.efficiency}"
            )
        if not self.exposure > 0.0:
            raise InputError(f"setup {self.name!r}: exposure must be positive, got {self.exposure}")
        if not self.target_length_x0 > 0.0:
            raise InputError(
                f"setup {self.name!r}: target length must be positive, got {self.target_length_x0} "
                "X0"
            )
        if self.cross_section not in _CROSS_SECTIONS[self.beam]:
            raise InputError(
                f"setup {self.name!r}: cross_section for a {self.beam} beam must be one of "
                f"{', '.join(_CROSS_SECTIONS[self.beam])}, got {self.cross_section!r}"
            )
        if self.mode not in ("invisible", "visible"):
            raise InputError(
                f"setup {self.name!r}: mode must be 'invisible' or 'visible', got {self.mode!r}"
            )
        if (self.mode == "visible") != bool(self.visible_runs):
            raise InputError(
                f"setup {self.name!r}: a visible-mode setup names its visible_runs and an "
                f"invisible one none, got mode {self.mode!r} with visible_runs "
                f"{self.visible_runs!r}"
            )
        try:
            get_runs(self.visible_runs)
        except PhysicsError as exc:
            raise InputError(f"setup {self.name!r}: {exc}") from None

    @property
    def exposure_unit(self) -> str:
        """``"EOT"`` (electrons on target) or ``"MOT"`` (muons on target)."""
        return "EOT" if self.beam == "electron" else "MOT"

    @property
    def lepton_mass_gev(self) -> float:
        """Mass of the beam lepton [GeV]."""
        return M_E_GEV if self.beam == "electron" else M_MU_GEV

    def with_(self, **changes: Any) -> Setup:
        """A copy with some fields changed, e.g. ``setup.with_(exposure=5e12)``."""
        return replace(self, **changes)


def _provenance_values() -> dict[str, Any]:
    """What the templates of ``resources/setups.json`` are filled with (references and computed
    factors).
    """
    return {
        **load_resource(PROVENANCE)["references"],
        "thesis": THESIS,
        "cutflow_factor_name": CUTFLOW_FACTOR_NAME,
        "cutflow_factor": cutflow_factor(),
        "cutflow_cumulative": cutflow_cumulative(),
        "dimuon_reweighting": dimuon_reweighting_factor(),
    }


def _provenance_entry(name: str) -> dict[str, Any]:
    """The entry of setup ``name`` in ``resources/setups.json`` (a ResourceError if it has none)."""
    try:
        entry: dict[str, Any] = load_resource(PROVENANCE)["setups"][name]
    except KeyError:
        raise ResourceError(
            f"resources/{PROVENANCE}.json has no provenance for setup {name!r}"
        ) from None
    return entry


def _provenance(name: str) -> dict[str, Any]:
    """``description``, ``sources`` and ``caveats`` of setup ``name``, as :class:`Setup` fields."""
    entry, values = _provenance_entry(name), _provenance_values()
    return {
        "description": entry["description"].format(**values),
        "sources": tuple(text.format(**values) for text in entry["sources"]),
        "caveats": tuple(text.format(**values) for text in entry.get("caveats", ())),
    }


def _factor(setup: str, name: str, value: float) -> EfficiencyFactor:
    """The efficiency factor ``name`` of ``setup`` with its source from
    ``resources/setups.json``.
    """
    source = _provenance_entry(setup)["efficiency_factor_sources"][name]
    return EfficiencyFactor(name, value, source.format(**_provenance_values()))


SETUPS: dict[str, Setup] = {
    s.name: s
    for s in (
        Setup(
            name="na64e-invisible",
            beam="electron",
            beam_energy_gev=100.0,
            target=LEAD,
            target_length_x0=40.0,
            missing_energy_cut_gev=50.0,
            exposure=2.84e11,
            efficiency_factors=(
                _factor("na64e-invisible", CUTFLOW_FACTOR_NAME, cutflow_factor()),
                _factor(
                    "na64e-invisible", "dimuon data/MC reweighting", dimuon_reweighting_factor()
                ),
            ),
            **_provenance("na64e-invisible"),
        ),
        Setup(
            name="na64mu-invisible",
            beam="muon",
            beam_energy_gev=160.0,
            target=LEAD,
            target_length_x0=40.0,
            missing_energy_cut_gev=80.0,
            exposure=1.98e10,
            cross_section="etl",
            upper_bound=True,
            **_provenance("na64mu-invisible"),
        ),
        Setup(
            name="na64e-visible",
            efficiency=ASSUMED_SIGNAL_EFFICIENCY,
            beam="electron",
            beam_energy_gev=100.0,
            target=TUNGSTEN,
            target_length_x0=WCAL_X0,
            missing_energy_cut_gev=50.0,
            exposure=8.4e10,
            cross_section="etl-computed",
            mode="visible",
            visible_runs=("2017", "2018"),
            **_provenance("na64e-visible"),
        ),
    )
}


def get_setup(name: str) -> Setup:
    """Return a predefined setup by name.

    >>> get_setup("na64e-invisible").beam_energy_gev
    100.0
    """
    try:
        return SETUPS[name]
    except KeyError:
        raise InputError(f"unknown setup {name!r}; known: {', '.join(SETUPS)}") from None
