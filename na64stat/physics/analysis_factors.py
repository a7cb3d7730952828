"""NA64e analysis numbers from an NA64 analyser's thesis: cut flow, dimuon reweighting, systematics,
background.

Every number here is read in the public LaTeX source of

    E. Depero, "Searching for Light Dark Matter and a new X17 boson with the
    NA64 experiment at the CERN SPS", Diss. ETH No. 27194 (2020),
    github.com/CaosOwl/edepero-phdthesis @ cf3b87ebb0e27600df1865ba038df44c1457bed4

(:data:`THESIS`), which cites PRL 123 (2019) 121801, PRD 97 (2018) 072002,
PRL 120 (2018) 231802 and PRD 101 (2020) 071101 for them; the file of each
number is named next to it.

Which of the data cut-flow factors of the 2018 electron calibration run the
project's own simulated selection already contains (and so must not be
applied twice) is decided per factor in :data:`CALIBRATION_CUTFLOW_4009`
(``in_simulation`` with the reason); :func:`cutflow_factor` multiplies the
others. No number here was chosen to make a comparison come out.

See the physics reference (docs/physics.rst, section "Analysis factors from an
NA64 thesis").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "THESIS",
    "THESIS_COMMIT",
    "CutflowStep",
    "CALIBRATION_CUTFLOW_4009",
    "CALIBRATION_RUN_4009_SRD_EFFICIENCY",
    "cutflow_factor",
    "cutflow_cumulative",
    "DIMUON_REWEIGHTING_REDUCTION",
    "dimuon_reweighting_factor",
    "PRD97_SYSTEMATICS",
    "prd97_signal_uncertainty",
    "PRL123_BACKGROUND",
]

#: Commit of the thesis source every number here was read at.
THESIS_COMMIT: str = "cf3b87ebb0e27600df1865ba038df44c1457bed4"

#: The thesis (its public LaTeX source, :data:`THESIS_COMMIT`).
THESIS: str = (
    "E. Depero, Searching for Light Dark Matter and a new X17 boson with the NA64 experiment at "
    "the CERN SPS, Diss. ETH No. 27194 (2020); LaTeX source "
    "github.com/CaosOwl/edepero-phdthesis @ "
    f"{THESIS_COMMIT}"
)


@dataclass(frozen=True)
class CutflowStep:
    """One row of the thesis's data cut flow of the 2018 electron calibration run 4009.

    Attributes
    ----------
    name:
        The cut as the table names it.
    surviving:
        Events surviving the cuts up to and including this one (the table's
        "Surviving Events" column) [events].
    table_efficiency:
        The table's "Efficiency" column (rounded; below the table's line it is
        relative to the sample after the dimuon cut, not to the previous row).
    in_simulation:
        True where the project's simulated selection (``selections/na64e-invisible.yaml``
        through :mod:`na64stat.simulation`) already models what this cut
        removes from signal events, so the factor is not applied again.
    reason:
        Why ``in_simulation`` is what it is.
    """

    name: str
    surviving: float
    table_efficiency: float
    in_simulation: bool
    reason: str


#: SRD row of the calibration run's cut flow: 0.61 of the electrons on target (appendixF.tex, table
#: "Data cut efficiencies for calibration run 4009"); it fixes the run's EOT, 1.7e5 / 0.61 ~ 2.8e5
#: (the caption: "~3e5 EOT").
CALIBRATION_RUN_4009_SRD_EFFICIENCY: float = 0.61

_APPENDIX_F = (
    f"thesis/appendices/appendixF.tex @ {THESIS_COMMIT[:7]}, table 'Data cut "
    "efficiencies for calibration run 4009'"
)

#: The data cut flow of the 2018 electron calibration run 4009 (~3e5 EOT), thesis appendixF.tex
#: (medium confidence that these are the PRL 123 cuts: the table does not say which analysis used
#: them).
#: Each factor is the ratio of successive "Surviving Events" (which reproduces the table's
#: cumulative
#: 0.48 of EOT); the "Efficiency" column below the table's line is relative to the sample after the
#: dimuon cut (ST 1|2|3: 0.84 = 1.34e5 / 1.57e5 includes the VETO), so it is not multiplied.
CALIBRATION_CUTFLOW_4009: tuple[CutflowStep, ...] = (
    CutflowStep(
        "SRD",
        1.7e5,
        0.61,
        False,
        "the simulated SRD cut (each counter 1 - 100 MeV, selections/na64e-invisible.yaml) keeps "
        "0.996 of "
        "beam electrons (Gamma(6) counter response of mean 5 MeV, a choice of "
        "na64stat.simulation): it models the SRD's hadron rejection, not the electron "
        "losses the data show; applied",
    ),
    CutflowStep(
        "chi2",
        1.63e5,
        0.95,
        True,
        "the simulated selection applies its own shower-shape chi2 cut to the signal showers "
        "(E_ECAL < "
        "50 GeV, mass dependent, in resources/signal_efficiency.json); the calibration number is "
        "for full 100 GeV showers; not applied",
    ),
    CutflowStep(
        "ECAL center",
        1.63e5,
        0.99,
        False,
        "no such cut in the simulated selection; applied (its surviving count does not change)",
    ),
    CutflowStep(
        "Zero degree HCAL",
        1.58e5,
        0.96,
        False,
        "the simulated signal has noise only in the HCAL (no pile-up in signal MC), so its E_HCAL "
        "< 1 GeV requirement keeps all of it: the data's loss is not modelled; applied",
    ),
    CutflowStep(
        "Dimuon cut", 1.57e5, 0.99, False, "no such cut in the simulated selection; applied"
    ),
    CutflowStep("ST 123", 1.57e5, 0.99, False, "no straw chambers in the simulation; applied"),
    CutflowStep("ST 12|23", 1.57e5, 0.99, False, "no straw chambers in the simulation; applied"),
    CutflowStep("ST mult.", 1.57e5, 0.99, False, "no straw chambers in the simulation; applied"),
    CutflowStep(
        "VETO",
        1.45e5,
        0.91,
        False,
        "the simulated signal's veto signal is noise (0.1 MeV) against a 1 MeV cut, so the "
        "simulated veto "
        "cut keeps all signal: the data's loss (noise, pile-up, back-splash) is not modelled; "
        "applied (measured with full-energy showers: possibly pessimistic for signal "
        "events)",
    ),
    CutflowStep("ST 1|2|3", 1.34e5, 0.84, False, "no straw chambers in the simulation; applied"),
)


def cutflow_cumulative(steps: tuple[CutflowStep, ...] = CALIBRATION_CUTFLOW_4009) -> float:
    """Fraction of the calibration run's EOT that survives every cut (the table's cumulative, 0.48).

    >>> round(cutflow_cumulative(), 2)
    0.48
    """
    eot = steps[0].surviving / CALIBRATION_RUN_4009_SRD_EFFICIENCY
    return steps[-1].surviving / eot


def cutflow_factor(steps: tuple[CutflowStep, ...] = CALIBRATION_CUTFLOW_4009) -> float:
    """Product of the cut-flow factors the simulated selection does not contain (``in_simulation``
    False).

    Each factor is surviving(i) / surviving(i - 1), the first relative to the
    run's EOT: here everything but the shower-shape chi2, 0.48 / 0.959 = 0.50.

    >>> round(cutflow_factor(), 3)
    0.501
    """
    eot = steps[0].surviving / CALIBRATION_RUN_4009_SRD_EFFICIENCY
    previous, product = eot, 1.0
    for step in steps:
        if not step.in_simulation:
            product *= step.surviving / previous
        previous = step.surviving
    return product


#: The dimuon (gamma Z -> mu+ mu-) data/MC reweighting of the ECAL spectrum lowered the signal yield
#: by
#: 5% - 10% (thesis chapters/chapter3.tex, sec. "Monte Carlo validation using gamma Z -> mu+ mu-
#: events",
#: citing PRD 97): (low, high) relative reductions. The project's simulation has no such correction.
DIMUON_REWEIGHTING_REDUCTION: tuple[float, float] = (0.05, 0.10)


def dimuon_reweighting_factor() -> float:
    """The signal-yield factor of the dimuon reweighting: the middle of the thesis's 5-10%
    reduction.

    The half-width (2.5%) lies inside the reweighting's own systematic
    (7% (5%) at 10 (100) MeV, :data:`PRD97_SYSTEMATICS`).

    >>> dimuon_reweighting_factor()
    0.925
    """
    low, high = DIMUON_REWEIGHTING_REDUCTION
    return round(1.0 - 0.5 * (low + high), 12)


#: Systematic uncertainties of PRD 97 (2016 data) at m_A' = 10 MeV and 100 MeV (relative), thesis
#: appendixF.tex, table "Summary of systematic uncertainties considered for NA64 at maximum
#: intensity";
#: the table's "total 9% (8%)" is the quadrature sum of every row except the signal cross section.
PRD97_SYSTEMATICS: dict[str, tuple[float, float]] = {
    "number of collected EOT": (0.02, 0.02),
    "signal cross section": (0.10, 0.10),
    "primary e- selection": (0.04, 0.04),
    "ECAL selection": (0.02, 0.035),
    "ECAL spectrum reweighting (dimuons)": (0.07, 0.05),
    "VETO cut threshold": (0.03, 0.03),
    "HCAL cut threshold": (0.02, 0.02),
}


def prd97_signal_uncertainty(include_exposure: bool = False) -> float:
    """Relative signal-yield uncertainty from PRD 97's table: every row (the EOT row only if asked)
    in quadrature, at whichever of 10 and 100 MeV gives more (10 MeV: 13.5% without the EOT row).

    The EOT count is a separate ``exposure_uncertainty`` (a lumi modifier)
    in the workspaces, so it is left out by default.

    >>> round(prd97_signal_uncertainty(), 3)
    0.135
    """
    rows = {
        k: v
        for k, v in PRD97_SYSTEMATICS.items()
        if include_exposure or k != "number of collected EOT"
    }
    return max(math.sqrt(sum(v[i] ** 2 for v in rows.values())) for i in (0, 1))


#: Expected background of PRL 123 for 2.84e11 EOT, (value, error) [events]: "Total (conservatively)
#: 0.53 +- 0.17" of the thesis's table "Expected background for 2.84e11 EOT" (chapters/chapter3.tex,
#: citing PRL 123): beam-line e- nuclear interactions 0.43 +- 0.16, pi/mu/K decays 0.02 +- 0.01,
#: target interactions < 0.044, punch-through and low-energy e- negligible.
PRL123_BACKGROUND: tuple[float, float] = (0.53, 0.17)
