"""Thick-target signal yields and background-free reach for NA64-style setups.

Eq. (57) of the review, N = (rho N_A / A) n L sigma epsilon_sel, made precise:

* Electron beams (NA64e): the A' is radiated by every shower e+ / e- with
  enough energy, so L sigma becomes the track-length integral
  sum_j T_j sigma(E_j; E_A' > E_cut) with T_j from
  :func:`~na64stat.physics.shower.shower_track_length` (for 100 GeV and
  E_cut = 50 GeV it is ~0.91 X0: the NA64 review's "L^e ~ X0"). The cross section is
  DMG4's ETL (IWW / K) with the missing-energy acceptance from eq. (22).
  Shower positrons also make the A' by resonant annihilation on atomic
  electrons, e+ e- -> A' (Marsicano et al., PRL 121 (2018) 041802;
  :mod:`~na64stat.physics.annihilation`), added unless
  ``Setup.positron_annihilation`` is False.
* Muon beams (NA64mu): muons do not shower; the Z' is radiated along the
  whole target ("L^mu ~ 40 X0") at the beam energy, with the recoil cut
  p_mu' < p_max, i.e. E_Z' > E0 - p_max.

Yields are linear in the coupling strength alpha_X (invisible decays), so the
functions return events per unit alpha_X, per eps^2 or per g^2; a
background-free 90% CL exclusion needs 2.303 events (-ln 0.1).

Every number that is not physics is a field of :class:`Setup` with its
source; nothing depends on the mass except through the physics and the
signal efficiency.

Signal efficiency: by default (``Setup.efficiency = None``) it is computed,
:func:`signal_efficiency`: the project's own simulated selection efficiency
per mass and production channel (``resources/signal_efficiency.json``, written
by ``tools/make_efficiency_table.py`` from :mod:`na64stat.simulation` and the
packaged ``selections/<setup>.yaml``; electron beams: one for bremsstrahlung,
one for resonant annihilation, each applied to its own part of the yield)
times the setup's mass-independent
``efficiency_factors`` (detector / DAQ factors, each with its source). A float
``efficiency`` is an explicit override (e.g. :data:`ASSUMED_SIGNAL_EFFICIENCY`).

Br(Z' -> invisible) of the L_mu - L_tau Z' follows a named convention
(``branching``: ``"physical"`` by default, or ``"darkcast"``;
:data:`~na64stat.physics.decays.BRANCHING_CONVENTIONS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import InputError, PhysicsError, ResourceError
from na64stat.core.references import load_resource
from na64stat.physics.analysis_factors import (
    THESIS,
    cutflow_cumulative,
    cutflow_factor,
    dimuon_reweighting_factor,
)
from na64stat.physics.annihilation import (
    BENCHMARK_DARK_SECTOR,
    DarkSector,
    annihilation_events_per_pot,
    efficiency_by_energy,
    resonance_mass_gev,
)
from na64stat.physics.constants import (
    ALPHA_EM,
    CL90_EVENTS,
    LEAD,
    M_E_GEV,
    M_MU_GEV,
    TUNGSTEN,
    Material,
)
from na64stat.physics.couplings import mixing_from_e_mu, y_from_epsilon2
from na64stat.physics.decays import branching_zprime_invisible
from na64stat.physics.etl import sigma_etl_pb as etl_table_sigma_pb
from na64stat.physics.production import (
    sigma_etl_pb,
    sigma_iww_dmg4_pb,
    sigma_muon_iww_pb,
    x_shape_fraction,
)
from na64stat.physics.shower import shower_track_length
from na64stat.physics.visible import WCAL_X0, get_runs

__all__ = [
    "ASSUMED_SIGNAL_EFFICIENCY",
    "UPPER_BOUND_NOTE",
    "EfficiencyFactor",
    "Production",
    "signal_efficiency",
    "simulated_efficiency_table",
    "Setup",
    "SETUPS",
    "get_setup",
    "events_per_alpha_x",
    "invisible_alpha_x_per_coupling2",
    "events_per_epsilon2",
    "events_per_e_mu2",
    "Reach",
    "background_free_reach",
    "EmissionSpectrum",
    "electron_emission_spectrum",
    "annihilation_events_per_alpha_x",
]

_PB_TO_CM2 = 1e-36

#: The review whose equations the physics module implements (cited in the setups' sources).
SEED_REVIEW: str = (
    "S. N. Gninenko, N. V. Krasnikov, V. A. Matveev, Search for dark sector physics with NA64, "
    "Phys. Part. Nucl. 51 (2020) 829, arXiv:2003.07257"
)

#: An example of an explicit, flat signal-efficiency override (trigger, particle
#: ID, shower shape, veto and HCAL cuts, DAQ dead time together), e.g.
#: ``setup.with_(efficiency=ASSUMED_SIGNAL_EFFICIENCY)``. An ASSUMPTION, not a
#: published number, and NOT the default: setups compute their efficiency
#: (:func:`signal_efficiency`). The visible mode, which has no simulated
#: efficiency table, uses it explicitly.
ASSUMED_SIGNAL_EFFICIENCY: float = 0.6

#: What every output of a setup with ``upper_bound`` (:class:`Setup`) says about its prediction.
UPPER_BOUND_NOTE: str = (
    "an upper bound on the sensitivity, not a reproduction: the analysis's acceptance, trigger "
    "and efficiency factors are in no citable source here and are not applied (none is fitted)"
)

#: Name of the NA64e invisible setup's cut-flow efficiency factor (:mod:`na64stat.physics.analysis_factors`).
CUTFLOW_FACTOR_NAME: str = "calibration-run cut flow not in the simulated selection"

#: Resource (``na64stat/resources/<name>.json``) with the simulated selection efficiency per setup and mass.
EFFICIENCY_TABLE: str = "signal_efficiency"


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
        ``None`` (default): computed per mass by :func:`signal_efficiency`
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
        :data:`~na64stat.physics.annihilation.BENCHMARK_DARK_SECTOR` (alpha_D = 0.5,
        m_A' = 3 m_chi, the published NA64e curves' benchmark). None: the narrow width.
    description, sources:
        What the setup is and where each number comes from.
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
                f"setup {self.name!r}: target length must be positive, got {self.target_length_x0} X0"
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
                f"setup {self.name!r}: a visible-mode setup names its visible_runs and an invisible "
                f"one none, got mode {self.mode!r} with visible_runs {self.visible_runs!r}"
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


#: Where a computed efficiency comes from (the setups' sources cite it).
EFFICIENCY_SOURCE: str = (
    "efficiency: computed per mass (signal_efficiency): na64stat's simulated selection "
    "efficiency, resources/signal_efficiency.json from tools/make_efficiency_table.py "
    "(seeded signal MC through the packaged selection; MC error in the table)"
)


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
            description="NA64e invisible mode 2016-2018: 100 GeV e-, Pb/Sc ECAL active target, "
            "signal box E_ECAL < 50 GeV and no HCAL activity",
            sources=(
                f"{SEED_REVIEW}, sec. 4.1: ECAL ~40 X0 Pb/Sc shashlik; eq. (57)",
                "NA64, Phys. Rev. Lett. 123 (2019) 121801, arXiv:1906.00176: 2.84e11 EOT, signal box E_ECAL < 50 GeV",
                EFFICIENCY_SOURCE,
                f"efficiency factors: {CUTFLOW_FACTOR_NAME} ({cutflow_factor():.3f}: the data cut flow of the "
                f"2018 electron calibration run 4009, cumulative {cutflow_cumulative():.2f} of EOT, less the "
                f"shower-shape chi2 the simulated selection applies itself; per factor "
                f"na64stat.physics.analysis_factors.CALIBRATION_CUTFLOW_4009) and the dimuon reweighting "
                f"({dimuon_reweighting_factor()}: the signal yield lowered by 5-10%): {THESIS}, appendixF.tex and "
                f"chapter3.tex (medium confidence that the calibration run's cuts are PRL 123's); applied to every "
                f"NA64e invisible exposure (2016-2022), an assumption for the years other than 2018",
            ),
            efficiency_factors=(
                EfficiencyFactor(
                    CUTFLOW_FACTOR_NAME,
                    cutflow_factor(),
                    f"{THESIS}: thesis/appendices/appendixF.tex, 'Data cut efficiencies for "
                    f"calibration run 4009' (na64stat.physics.analysis_factors)",
                ),
                EfficiencyFactor(
                    "dimuon data/MC reweighting",
                    dimuon_reweighting_factor(),
                    f"{THESIS}: thesis/chapters/chapter3.tex, 'The signal yield is reduced by "
                    f"5%-10% after these corrections are applied' (middle of the range)",
                ),
            ),
            caveats=(
                "with the thesis's calibration-run cut flow and dimuon reweighting applied (efficiency_factors), "
                "1.28, 1.21, 1.05 and 0.86 of PRL 123's epsilon at 1, 10, 100 and 1000 MeV (within 30%: na64stat "
                "reproduce published); those factors were measured in one 2018 calibration run (medium confidence "
                "that they are PRL 123's) and are applied to every year, so against the 2016 results the "
                "prediction is weaker than published (up to 1.42 of PRD 97's and 1.64 of PRL 118's epsilon)",
                "at 200-320 MeV the reach includes resonant e+ e- -> A' (positron_annihilation, with the A' "
                "width of annihilation_sector), which PRL 123 did not count: reach and reproduce published "
                "compare with that curve without it (like for like); with it the ratio would reach 0.22 "
                "at 235 MeV, the bottom of the dip",
            ),
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
            description="NA64mu 2022: 160 GeV mu+, Pb active target, outgoing muon p < 80 GeV/c, "
            "no activity in the downstream calorimeters",
            sources=(
                "NA64, Phys. Rev. Lett. 132 (2024) 211803, arXiv:2401.01708 (abstract): muons of 160 GeV/c from "
                "the CERN SPS M2 beam line on an active target, (1.98 +- 0.02)e10 MOT, signal = a single scattered "
                "muon with p < 80 GeV/c and no activity in the downstream calorimeters, no event observed",
                "NA64, arXiv:2409.10128 (abstract): the full 2022 sample, 160 GeV muons, the scattered muon with "
                "less than about half of the beam energy",
                f"target: the active target ECAL (Pb/Sc shashlik) as 40 X0 of Pb. ASSUMPTION: the seed gives "
                f"~40 X0 for the NA64 shashlik ECAL (sec. 4.1) and 'L^mu ~ 40 X0' for the NA64mu active Pb target "
                f"(eq. 57) ({SEED_REVIEW}); the papers' abstracts do not give the X0 count of the 2022 target. "
                f"Pb/Sc is counted as Pb: Pb dominates the radiation length",
                "beam momentum spread: not found in a readable source; the simulation uses 1% rms (a choice of "
                "na64stat.simulation, Detector.beam_energy_spread), which only smears the selection",
                "scattered-muon acceptance and trigger: the simulation's online p_out < 100 GeV/c trigger, one "
                "MS2 track (99% tracking efficiency), veto and ECAL-MIP cuts (selections/na64mu-invisible.yaml, "
                "choices); the papers' MS2 angular acceptance and trigger efficiencies are not in their abstracts "
                "and are not applied",
                "cross section: exact tree level (ETL), computed in na64stat.physics.etl (numerical 2 -> 3 "
                "integration, elastic form factor; resources/etl_cross_sections.json); the WW of "
                "na64stat.physics.production is 1.23-1.8x higher at x > 0.5 (cross_section='ww')",
                EFFICIENCY_SOURCE,
                "efficiency factors: none applied. ASSUMPTION: the abstracts of PRL 132 and arXiv:2409.10128 "
                "do not give their mass-independent detector / DAQ factors",
            ),
            caveats=(
                "an upper bound on the sensitivity, not a reproduction: predicted from this setup alone the reach "
                "is 3-4x stronger in the coupling (about 10x the signal events) than NA64's published 2022 result "
                "across 1 MeV - 1 GeV, nearly the same factor at every mass (0.25-0.34 of the invisible dark "
                "photon's epsilon as compiled for the ESPP 2026 briefing, ESPP2026-PPG/Quasi-elastic-DM "
                "data/Constraints_BC2_NA64mu2022.csv, not shipped); so its (g-2)_mu overlap ('all of the band') "
                "is what the setup could reach at best and contradicts the paper's abstract ('part of'). The "
                "papers' MS2 acceptance, trigger and DAQ efficiencies could not be read in a citable source and "
                "are not applied; no factor is fitted",
            ),
            upper_bound=True,
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
            description="NA64e visible-mode W/Sc dump (WCAL, 30 X0 in 17.5 cm), the 2017 run's beam and dump "
            "(na64stat.physics.visible.VISIBLE_RUNS['2017']) for the simulation; production only, the decay "
            "probability is applied by the visible-mode analysis. Yields of the 2017 + 2018 runs: "
            "na64stat.physics.visible",
            sources=(
                "NA64, Phys. Rev. D 101 (2020) 071101, arXiv:1912.11389: W (Z = 74, A = 183.84, rho = 19.3 g/cm^3, "
                "X0 = 0.3504 cm), 8.4e10 EOT (2017 and 2018)",
                f"WCAL: 35 layers of 3 mm W + 2 mm scintillator, ~30 X0 in 17.5 cm; W2 behind it; 2018: a 3.1 m "
                f"decay tube with S4 after it: {THESIS}, chapter2.tex, appendixF.tex, chapter5.tex "
                f"(na64stat.physics.visible VISIBLE_RUNS); the shower's X0 are W's",
                "cross section: exact tree level on W, computed (na64stat.physics.etl; DMG4 tabulates K for Pb "
                "only); the simulation samples x from the ETL table (16 x cuts up to 0.995), while "
                "na64stat.physics.visible keeps eq. (22)'s x shape normalised to the ETL total (DMG4's recipe, "
                "resolving x -> 1): the two agree to 2-3% in the decay-volume events, 8% at the upper edge",
                "efficiency: the explicit override ASSUMED_SIGNAL_EFFICIENCY (0.6), an assumption: no simulated "
                "visible-mode efficiency table",
            ),
            caveats=(
                "the WCAL is the thesis's W / scintillator sandwich and 2018's decay volume its 3.1 m tube, but "
                "2017's decay volume is darkcast's (4 x the shielding; no source here gives it) and the efficiency "
                "0.6 an assumption: against the X17 ranges the abstracts state (16.7 MeV) the epsilon edges come "
                "out 0.75 and 1.24 of PRD 101's and 0.97 and 1.60 of PRL 120's; against the shipped digitized "
                "curves, reproduce published prints 0.83 and 1.29 (PRD 101) and 1.03 and 2.04 (PRL 120) at 10 MeV",
            ),
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


#: Signal production channels with their own simulated efficiency (:func:`signal_efficiency`):
#: ``"bremsstrahlung"`` (the table's ``rows``; for muon beams the whole signal) and
#: ``"annihilation"`` (resonant e+ e- -> A', electron beams; the table's ``annihilation_rows``).
Production = Literal["bremsstrahlung", "annihilation"]

#: Key of each channel's rows in a setup's entry of ``resources/signal_efficiency.json``.
_EFFICIENCY_ROWS: dict[str, str] = {"bremsstrahlung": "rows", "annihilation": "annihilation_rows"}


def _check_production(production: str) -> None:
    """An InputError unless ``production`` names a channel of the efficiency table (:data:`_EFFICIENCY_ROWS`)."""
    if production not in _EFFICIENCY_ROWS:
        raise InputError(
            f"unknown signal production {production!r} (known: {', '.join(_EFFICIENCY_ROWS)})"
        )


def _efficiency_entry(
    setup_name: str, production: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the setup's entry, the rows of ``production``) of the efficiency table, or a ResourceError naming them."""
    _check_production(production)
    table = load_resource(EFFICIENCY_TABLE)
    key = _EFFICIENCY_ROWS[production]
    try:
        entry = table["setups"][setup_name]
        rows = entry[key]
    except KeyError:
        raise ResourceError(
            f"resources/{EFFICIENCY_TABLE}.json has no {production} efficiency table ({key!r}) for "
            f"setup {setup_name!r} (it has {', '.join(table.get('setups', {}))}); give the setup an "
            f"explicit efficiency or rerun tools/make_efficiency_table.py"
        ) from None
    return entry, rows


def simulated_efficiency_table(
    setup_name: str,
    production: Production = "bremsstrahlung",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mass [GeV], efficiency, MC error) of a setup's simulated selection efficiency (``resources/signal_efficiency.json``).

    ``production``: ``"bremsstrahlung"`` (default; the table's ``rows``, the
    only rows of tables written before the channels were split, and the whole
    signal of muon beams) or ``"annihilation"`` (``annihilation_rows``: signal
    generated by resonant e+ e- -> A' alone, electron setups, only at masses
    whose A' energy E_R = m^2 / 2 m_e lies between the missing-energy cut and
    the beam energy). Masses ascending.

    >>> m, eff, err = simulated_efficiency_table("na64e-invisible")
    >>> bool(m[0] <= 0.001 and m[-1] >= 1.0 and np.all((eff > 0) & (eff <= 1)) and np.all(err < 0.01))
    True
    >>> m, eff, err = simulated_efficiency_table("na64e-invisible", "annihilation")
    >>> bool(0.226 < m[0] < m[-1] < 0.320 and np.all((eff > 0) & (eff <= 1)))
    True
    """
    _, rows = _efficiency_entry(setup_name, production)
    mass = np.array([r["mass_gev"] for r in rows], dtype=float)
    order = np.argsort(mass)
    return (
        mass[order],
        np.array([r["efficiency"] for r in rows], dtype=float)[order],
        np.array([r["mc_error"] for r in rows], dtype=float)[order],
    )


def signal_efficiency(
    setup: Setup, masses_gev: ArrayLike, production: Production = "bremsstrahlung"
) -> np.ndarray:
    """Overall signal efficiency of ``setup`` at each mass, for one production channel.

    ``setup.efficiency`` if it is a number (an explicit override, the same for
    both channels); otherwise the simulated selection efficiency of the setup
    for ``production`` (interpolated linearly in log mass between the table's
    points, :func:`simulated_efficiency_table`) times the product of
    ``setup.efficiency_factors``. The table belongs to the setup's name, i.e.
    to its simulated beam energy and cuts; a setup changed with
    :meth:`Setup.with_` keeps that table.

    ``production="bremsstrahlung"`` (default) is what the bremsstrahlung yield
    (and every muon-beam yield) is multiplied by; ``"annihilation"`` what
    :func:`annihilation_events_per_alpha_x` is multiplied by: the A' of
    resonant annihilation carries the fixed energy E_R, not a bremsstrahlung
    spectrum, so its selection efficiency is its own. Annihilation rows exist
    only inside the window where that yield is non-zero; the table records
    the window's masses (``annihilation_window_gev``: E_R + m_e at the cut, E_R
    at the beam energy). FALLBACK, documented: a mass inside that window but
    beyond the first or last simulated point (NA64e: E_R + m_e less than
    0.01 GeV above the cut, m < 226.08 MeV; or E_R between 98 GeV and the
    beam energy, m > 316.5 MeV, where the positron spectrum falls to 0)
    takes the nearest point's efficiency (constant extrapolation; above
    E_R = 98 GeV that is likely optimistic, since the ECAL keeps under 2 GeV
    and the preshower cut bites more, but annihilation is only 2-14% of the
    yield at 316-320 MeV); a mass
    outside the window (e.g. a setup whose cut was lowered with
    :meth:`Setup.with_`) and any mass outside the bremsstrahlung table raise
    a :class:`PhysicsError`. Caveat: the annihilation yield cuts E_R + m_e
    sharply at the missing-energy cut, while the simulated beam spread (1%)
    and ECAL resolution smear the ECAL energy beam - E_R across the box edge:
    the efficiency falls to ~1/2 at the edge (0.49 at E_R = 50.01 GeV) and
    the mirror-image events just below the window (yield 0) are not counted.

    >>> e = signal_efficiency(get_setup("na64e-invisible").with_(efficiency_factors=()), [0.001, 1.0])
    >>> bool(0.5 < e[1] < e[0] <= 1.0)   # the simulated selection alone
    True
    >>> f = signal_efficiency(get_setup("na64e-invisible"), [0.001])   # times the thesis's factors (0.464)
    >>> round(float(f[0] / e[0]), 3)
    0.464
    >>> float(signal_efficiency(get_setup("na64e-invisible").with_(efficiency=0.6), 0.01)[0])
    0.6
    >>> a = signal_efficiency(get_setup("na64e-invisible").with_(efficiency_factors=()), [0.25, 0.3], "annihilation")
    >>> bool(np.all((a > 0.5) & (a <= 1.0)))
    True
    """
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    _check_production(production)
    if production == "annihilation" and setup.beam != "electron":
        raise InputError(
            f"setup {setup.name!r}: resonant annihilation (e+ e- -> A') needs an electron beam, "
            f"not a {setup.beam} beam"
        )
    if setup.efficiency is not None:
        return np.full(masses.shape, float(setup.efficiency))
    mass, eff, _ = simulated_efficiency_table(setup.name, production)
    low, high = mass[0], mass[-1]
    if production == "annihilation":  # constant up to the window's edges (docstring: the fallback)
        window = _efficiency_entry(setup.name, production)[0].get(
            "annihilation_window_gev", (low, high)
        )
        low, high = min(low, float(window[0])), max(high, float(window[1]))
    outside = (masses < low * (1 - 1e-9)) | (masses > high * (1 + 1e-9))
    if np.any(outside):
        raise PhysicsError(
            f"setup {setup.name!r}: mass {masses[outside][0]:g} GeV is outside the simulated "
            f"{production} efficiency table ({low:g} - {high:g} GeV, "
            f"resources/{EFFICIENCY_TABLE}.json); give an explicit efficiency"
        )
    factor = (
        float(np.prod([f.value for f in setup.efficiency_factors]))
        if setup.efficiency_factors
        else 1.0
    )
    return np.interp(np.log(masses), np.log(mass), eff) * factor


def _electron_sigma_pb(setup: Setup, mass_gev: float, energy_gev: np.ndarray) -> np.ndarray:
    """Cross section [pb] per unit alpha_X for A' energy above the cut, electrons of ``energy_gev``."""
    if setup.cross_section == "etl-computed":  # the computed ETL x spectrum, not eq. (22)'s shape
        return etl_table_sigma_pb(
            "e", setup.target, mass_gev, energy_gev, setup.missing_energy_cut_gev / energy_gev
        )
    total = (sigma_etl_pb if setup.cross_section == "etl" else sigma_iww_dmg4_pb)(
        mass_gev, energy_gev, 1.0, setup.target
    )
    fraction = x_shape_fraction(
        mass_gev, energy_gev, setup.missing_energy_cut_gev / energy_gev, M_E_GEV
    )
    return total * fraction


@dataclass(frozen=True)
class EmissionSpectrum:
    """Where in an electron shower the boson is radiated, for sampling events.

    Attributes
    ----------
    energy_gev:
        Energy E_j of the radiating shower e+ / e- (bin centres) [GeV].
    events_per_alpha_x:
        Expected events per unit alpha_X from each bin, boson energy above the
        setup's missing-energy cut (exposure and efficiency included).
    """

    energy_gev: np.ndarray
    events_per_alpha_x: np.ndarray


def electron_emission_spectrum(setup: Setup, mass_gev: float) -> EmissionSpectrum:
    """Per shower-energy bin contributions to eq. (57): T_j sigma(E_j; E_X > E_cut).

    The sum over bins is the bremsstrahlung part of :func:`events_per_alpha_x`
    for an electron setup (:func:`annihilation_events_per_alpha_x` is the
    rest); the event generator samples the radiating electron's energy from it.

    >>> s = electron_emission_spectrum(get_setup("na64e-invisible"), 0.01)
    >>> brems = get_setup("na64e-invisible").with_(positron_annihilation=False)
    >>> bool(abs(s.events_per_alpha_x.sum() / events_per_alpha_x(brems, 0.01)[0] - 1) < 1e-12)
    True
    """
    tracks = shower_track_length(
        setup.beam_energy_gev, setup.missing_energy_cut_gev, setup.target_length_x0
    )
    usable = tracks.energy_gev > max(mass_gev, setup.missing_energy_cut_gev) * (1.0 + 1e-9)
    energies = tracks.energy_gev[usable]
    if energies.size == 0:
        return EmissionSpectrum(energies, np.zeros(0))
    sigma = _electron_sigma_pb(setup, mass_gev, energies)
    per_bin = (
        setup.exposure
        * float(signal_efficiency(setup, mass_gev)[0])
        * setup.target.nuclei_per_cm2_per_x0
        * tracks.electron_x0[usable]
        * sigma
        * _PB_TO_CM2
    )
    return EmissionSpectrum(energies, per_bin)


def _annihilation_efficiency(setup: Setup) -> Callable[[np.ndarray], np.ndarray]:
    """The annihilation efficiency of ``setup`` per A' energy, read when first called (a mass without
    annihilation yield needs no table)."""

    def efficiency(boson_energy_gev: np.ndarray) -> np.ndarray:
        if setup.efficiency is not None:  # an explicit efficiency is one number
            return np.full(np.shape(boson_energy_gev), float(setup.efficiency))
        masses = simulated_efficiency_table(setup.name, "annihilation")[0]
        # the table's rows must reach down to the setup's cut (raises for a lowered cut)
        signal_efficiency(
            setup, resonance_mass_gev(setup.missing_energy_cut_gev - M_E_GEV), "annihilation"
        )
        per_energy = efficiency_by_energy(masses, signal_efficiency(setup, masses, "annihilation"))
        return per_energy(boson_energy_gev)

    return efficiency


def _annihilation_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    if setup.beam != "electron" or not setup.positron_annihilation:
        return 0.0
    return setup.exposure * annihilation_events_per_pot(
        mass_gev,
        1.0,
        setup.beam_energy_gev,
        setup.missing_energy_cut_gev,
        setup.target,
        setup.target_length_x0,
        setup.annihilation_sector,
        _annihilation_efficiency(setup),  # per A' energy: the width spreads it
    )


def _electron_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    brems = float(electron_emission_spectrum(setup, mass_gev).events_per_alpha_x.sum())
    return brems + _annihilation_events_per_alpha_x(setup, mass_gev)


def annihilation_events_per_alpha_x(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """The resonant-annihilation part of :func:`events_per_alpha_x` (e+ e- -> A', electron beams).

    With ``setup.annihilation_sector`` (default) the finite-width yield: largest
    where the A' energy E_R = (m^2 - 2 m_e^2)/(2 m_e) lies between the
    missing-energy cut and the beam energy (NA64e, 50-100 GeV: 226-320 MeV), with
    Breit-Wigner tails on both sides; with ``None`` the narrow width, 0 outside
    that window. 0 for muon beams and with ``setup.positron_annihilation = False``.
    The efficiency is the annihilation channel's own, as a function of the A'
    energy (the table's ``annihilation_rows``,
    :func:`~na64stat.physics.annihilation.efficiency_by_energy`; the
    bremsstrahlung part has ``signal_efficiency(setup, m)``; an explicit
    ``setup.efficiency`` applies to both).

    >>> s = get_setup("na64e-invisible")
    >>> a = annihilation_events_per_alpha_x(s, [0.1, 0.25, 0.4])
    >>> bool(0 < a[0] < a[1] and 0 < a[2] < a[1])
    True
    >>> n = annihilation_events_per_alpha_x(s.with_(annihilation_sector=None), [0.1, 0.25, 0.4])
    >>> bool(n[0] == 0 and n[1] > 0 and n[2] == 0)
    True
    """
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    if np.any(~np.isfinite(masses)) or np.any(masses <= 0):
        raise PhysicsError(f"masses must be positive and finite, got {masses_gev!r}")
    return np.array([_annihilation_events_per_alpha_x(setup, float(m)) for m in masses])


def _muon_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    x_min = setup.missing_energy_cut_gev / setup.beam_energy_gev
    if setup.cross_section == "etl":
        sigma = float(
            etl_table_sigma_pb("mu", setup.target, mass_gev, setup.beam_energy_gev, x_min)
        )
    else:  # "ww" (and its old name "iww")
        sigma = float(sigma_muon_iww_pb(mass_gev, setup.beam_energy_gev, 1.0, setup.target, x_min))
    return (
        setup.exposure
        * float(signal_efficiency(setup, mass_gev)[0])
        * setup.target.nuclei_per_cm2_per_x0
        * setup.target_length_x0
        * sigma
        * _PB_TO_CM2
    )


def events_per_alpha_x(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """Expected signal events per unit alpha_X (coupling^2 / 4 pi to the beam lepton).

    Invisible decays (Br = 1) and the setup's exposure and efficiency.
    Electron beams: bremsstrahlung on the shower plus, if
    ``setup.positron_annihilation``, resonant e+ e- -> A'
    (:func:`annihilation_events_per_alpha_x`), each channel times its own
    efficiency, eff_brems(m) N_brems + eff_ann(m) N_ann
    (:func:`signal_efficiency`). Returns 0 where the mass cannot be produced
    above the cut.

    >>> n = events_per_alpha_x(get_setup("na64e-invisible"), [0.001, 0.1])
    >>> bool(n[0] > n[1] > 0)
    True
    """
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    if np.any(~np.isfinite(masses)) or np.any(masses <= 0):
        raise PhysicsError(f"masses must be positive and finite, got {masses_gev!r}")
    per_mass = (
        _electron_events_per_alpha_x if setup.beam == "electron" else _muon_events_per_alpha_x
    )
    out = np.zeros(masses.shape)
    for i, m in enumerate(masses):
        if m >= setup.beam_energy_gev - setup.lepton_mass_gev:
            continue  # kinematically forbidden: no events
        try:
            out[i] = per_mass(setup, float(m))
        except PhysicsError as exc:  # name the setup and mass once (an inner message may already)
            text = str(exc)
            raise PhysicsError(
                text
                if text.startswith(f"setup {setup.name!r}")
                else f"setup {setup.name!r}, mass {m} GeV: {text}"
            ) from exc
    return out


def events_per_epsilon2(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """Expected events per eps^2 for a dark photon decaying invisibly (Br = 1).

    alpha_X = alpha eps^2 for both electron and muon beams (the A' couples to
    every charged lepton with eps e; seed section 5.2), so this is
    :func:`events_per_alpha_x` times alpha.

    Parameters
    ----------
    setup : Setup
        Beam, target, missing-energy cut, exposure [EOT or MOT] and signal
        efficiency.
    masses_gev : array_like
        A' masses [GeV].

    Returns
    -------
    numpy.ndarray
        Signal events per unit eps^2 at the setup's exposure, one per mass
        (the expected signal is this times eps^2).

    Examples
    --------
    >>> n = events_per_epsilon2(get_setup("na64e-invisible"), [0.01, 0.1])
    >>> bool(n[0] > n[1] > 0)  # fewer A' at higher mass
    True
    """
    return invisible_alpha_x_per_coupling2(
        "dark_photon", setup.beam, masses_gev
    ) * events_per_alpha_x(setup, masses_gev)


def invisible_alpha_x_per_coupling2(
    model: str, beam: str, masses_gev: ArrayLike, branching: str = "physical"
) -> np.ndarray:
    """alpha_X x Br(invisible) per coupling^2: what turns events per alpha_X into invisible events per
    eps^2 (``"dark_photon"``: alpha, Br = 1, both beams; seed section 5.2) or per e_mu^2
    (``"lmutau"``: muon beams 1 / 4 pi, electron beams alpha x the on-shell loop mixing of eq. (54)
    squared; times Br(Z' -> invisible) under the ``branching`` convention, ``"physical"`` or ``"darkcast"``).

    >>> float(invisible_alpha_x_per_coupling2("lmutau", "muon", 0.01)) == float(branching_zprime_invisible(0.01)) / (4 * math.pi)
    True
    """
    masses = np.asarray(masses_gev, dtype=float)
    if model == "dark_photon":
        return np.full(masses.shape, ALPHA_EM)
    if model == "lmutau" and beam in ("electron", "muon"):
        if beam == "muon":
            alpha_x_per_g2 = np.full(masses.shape, 1.0 / (4.0 * math.pi))
        else:
            # the Z' is radiated on shell: the loop mixing at q^2 = m_Z'^2 (eq. 54 is its q^2 -> 0 limit)
            alpha_x_per_g2 = ALPHA_EM * mixing_from_e_mu(1.0, masses**2) ** 2
        return alpha_x_per_g2 * branching_zprime_invisible(masses, branching)
    raise PhysicsError(
        f"no invisible rate for model {model!r} with a {beam!r} beam (models: dark_photon, lmutau; "
        "beams: electron, muon)"
    )


def events_per_e_mu2(
    setup: Setup, masses_gev: ArrayLike, branching: str = "physical"
) -> np.ndarray:
    """Expected invisible events per e_mu^2 for the L_mu - L_tau Z'.

    Muon beams couple directly (alpha_X = e_mu^2 / 4 pi); electron beams
    through the loop mixing of eq. (54) evaluated on shell, q^2 = m_Z'^2
    (0.0144 e_mu for m_Z' << m_mu, up to 1.5x that near 2 m_mu). Both include
    Br(Z' -> invisible) under the ``branching`` convention: ``"physical"``
    (default) drops to ~1/2 above 2 m_mu, ``"darkcast"`` stays 1.
    """
    return invisible_alpha_x_per_coupling2(
        "lmutau", setup.beam, masses_gev, branching
    ) * events_per_alpha_x(setup, masses_gev)


@dataclass(frozen=True)
class Reach:
    """Background-free 90% CL reach of a setup (2.303 signal events excluded).

    All arrays are per mass; couplings are upper limits (NaN where no signal
    can be produced).

    Attributes
    ----------
    setup:
        The setup used (exposure and efficiency included).
    mass_gev:
        Boson masses [GeV].
    events_per_epsilon2, events_per_e_mu2:
        Expected events per unit coupling^2 (dark photon; L_mu - L_tau Z').
    epsilon2, epsilon:
        Dark photon (invisible) reach.
    e_mu:
        L_mu - L_tau Z' reach in e_mu (= g_Z').
    y:
        Light dark matter reach in y = eps^2 alpha_D (m_chi/m_A')^4.
    alpha_d, mass_ratio:
        The alpha_D and m_A'/m_chi used for ``y``.
    n_events:
        Events excluded (2.303 at 90% CL without background).
    """

    setup: Setup
    mass_gev: np.ndarray
    events_per_epsilon2: np.ndarray
    events_per_e_mu2: np.ndarray
    epsilon2: np.ndarray
    epsilon: np.ndarray
    e_mu: np.ndarray
    y: np.ndarray
    alpha_d: float
    mass_ratio: float
    n_events: float


def background_free_reach(
    setup: Setup,
    masses_gev: ArrayLike,
    *,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
    n_events: float = CL90_EVENTS,
    branching: str = "physical",
) -> Reach:
    """Coupling reach for ``n_events`` signal events (2.303: 90% CL, no background).

    With no background and no observed event the 90% CL upper limit is
    -ln(0.1) = 2.303 signal events; the reach is the coupling that gives that
    many at the setup's exposure and efficiency: eps^2 = n_events / (events
    per eps^2), and likewise for e_mu (L_mu - L_tau Z') and
    y = eps^2 alpha_D (m_chi / m_A')^4.

    Parameters
    ----------
    setup : Setup
        The experiment (beam, target, cut, exposure [EOT or MOT], efficiency).
    masses_gev : array_like
        A' / Z' masses [GeV].
    alpha_d : float, optional
        Dark coupling alpha_D of the y reach (0.1, the usual benchmark).
    mass_ratio : float, optional
        m_A' / m_chi of the y reach (3, the usual benchmark).
    n_events : float, optional
        Signal events excluded [events]; 2.303 (90% CL, no background).
    branching : {"physical", "darkcast"}, optional
        Br(Z' -> invisible) convention of the e_mu reach.

    Returns
    -------
    Reach
        Per mass: events per eps^2 and per e_mu^2, and the reach in eps^2,
        eps, e_mu and y (NaN where no signal can be produced).

    Examples
    --------
    >>> r = background_free_reach(get_setup("na64e-invisible"), [0.01])
    >>> 1e-6 < float(r.epsilon[0]) < 1e-4
    True
    """
    if setup.mode == "visible":
        raise InputError(
            f"setup {setup.name!r} is a visible-mode setup (A' -> e+ e- behind the dump): it has no "
            f"missing-energy reach; its excluded epsilon band is "
            f"na64stat.physics.visible.excluded_epsilon_range (na64stat reproduce published prints it)"
        )
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    per_eps2 = events_per_epsilon2(setup, masses)
    per_g2 = events_per_e_mu2(setup, masses, branching)
    with np.errstate(divide="ignore"):
        eps2 = np.where(per_eps2 > 0, n_events / np.where(per_eps2 > 0, per_eps2, 1.0), np.nan)
        g2 = np.where(per_g2 > 0, n_events / np.where(per_g2 > 0, per_g2, 1.0), np.nan)
    return Reach(
        setup=setup,
        mass_gev=masses,
        events_per_epsilon2=per_eps2,
        events_per_e_mu2=per_g2,
        epsilon2=eps2,
        epsilon=np.sqrt(eps2),
        e_mu=np.sqrt(g2),
        y=y_from_epsilon2(eps2, alpha_d, mass_ratio),
        alpha_d=alpha_d,
        mass_ratio=mass_ratio,
        n_events=n_events,
    )
