"""Visible-mode yields: A' / X17 -> e+ e- behind the NA64 tungsten dump (WCAL), 2017-2018 runs.

The NA64 review (Gninenko, Krasnikov, Matveev, arXiv:2003.07257) sec. 4.2
and PRL 120 (2018) 231802 / PRD 101 (2020) 071101: the A' is radiated by
the beam electron and its shower in the first radiation lengths of the
WCAL (reaction 53), crosses the rest of the dump and the veto
W2 (read out behind the WCAL) without interacting, and decays in
flight to e+ e- in the decay volume before the counter S4; the pair showers
in the ECAL with E_WCAL + E_ECAL = E0.

Expected events of one run (eq. 57 resolved in depth and energy):

    N = n_EOT eff (rho N_A / A) X0 sum_slices sum_j dT_j(z) int dx dsigma/dx(E_j, x)
        * [exp(-(L_veto - z) / l) - exp(-(L_S4 - z) / l)],

* dT_j(z): track length of shower e+ e- at energy E_j gained between depths
  z and z + dz [X0] (differences of
  :func:`~na64stat.physics.shower.electron_track_by_depth`; the
  depth in cm is z_X0 times the WCAL's cm per X0);
* dsigma/dx: the x shape of eq. (22) normalised to the exact-tree-level total
  cross section on tungsten (DMG4's recipe, IWW shape / K;
  :func:`etl_sigma_w_pb` is the one hook to the ETL numbers);
* l = beta gamma c tau with Gamma(A' -> e+ e-) of eq. (9) (eq. 118);
* A' energies below ``min_boson_energy_gev`` are not counted (the pair must
  make a shower in the ECAL).

The runs' numbers are in :data:`VISIBLE_RUNS`, each with its source or marked
as an assumption. The excluded epsilon range at a mass is where the summed
events of the runs exceed 2.303 (90% CL, no event observed, no background:
the Poisson limit -ln 0.1), :func:`excluded_epsilon_range`.

Geometry (:data:`VISIBLE_RUNS`, one WCAL for both runs): the thesis of an
NA64 analyser (E. Depero, ETH 2020, public LaTeX source;
:data:`na64stat.physics.analysis_factors.THESIS`) gives the WCAL as a W /
scintillator sandwich of 35 layers of 3 mm W + 2 mm Sc, ~30 X0 in 175 mm,
the veto W2 (6 mm) behind it, V2 ~3 cm further (not a cut), and for 2018 a
3.1 m vacuum tube with S4 right after it. The 2017 decay volume is not in the
thesis: it keeps darkcast's reading of both papers, decay-volume length /
shielding length = 4 (:data:`DECAY_TO_SHIELDING_RATIO`,
:data:`DARKCAST_NA64_VISIBLE`), the shielding being the WCAL with W2.

Comparison with the X17 ranges the papers' abstracts state, 16.7 MeV,
efficiency 0.6 (``excluded_epsilon_range``; ``na64stat reproduce published``
compares with the shipped digitized curves instead): 2017 + 2018
0.90e-4 < eps < 8.4e-4 against PRD 101's 1.2e-4 - 6.8e-4 (0.75 and 1.24 of
its edges); 2017 alone 1.26e-4 - 6.7e-4 against PRL 120's 1.3e-4 - 4.2e-4
(0.97 and 1.60). ``tests/physics/test_visible.py`` keeps these numbers.

Units: GeV, cm.

See the physics reference (docs/physics.rst, section "Visible mode").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from na64stat.core.checks import check_number
from na64stat.core.errors import InputError, PhysicsError, ResourceError
from na64stat.physics.analysis_factors import THESIS_COMMIT
from na64stat.physics.constants import ALPHA_EM, CL90_EVENTS, M_E_GEV, M_MU_GEV, TUNGSTEN
from na64stat.physics.decays import decay_length_cm, width_aprime_to_ee_gev
from na64stat.physics.production import dsigma_dx_iww_pb, x_range
from na64stat.physics.shower import electron_track_by_depth

__all__ = [
    "VisibleRun",
    "VISIBLE_RUNS",
    "DECAY_TO_SHIELDING_RATIO",
    "WCAL_LAYERS",
    "WCAL_LAYER_CM",
    "WCAL_X0",
    "W2_CM",
    "V2_GAP_CM",
    "DECAY_TUBE_2018_CM",
    "MIN_ECAL_ENERGY_GEV",
    "SIGNAL_WINDOW_2018_GEV",
    "wcal_length_cm",
    "DARKCAST_NA64_VISIBLE",
    "runs_at",
    "get_runs",
    "total_events",
    "etl_sigma_w_pb",
    "visible_events",
    "excluded_epsilon_range",
]

_PB_TO_CM2 = 1e-36

_PRL120 = "NA64, PRL 120 (2018) 231802, arXiv:1803.07748"
_PRD101 = "NA64, PRD 101 (2020) 071101, arXiv:1912.11389"
_SEED = "Gninenko, Krasnikov, Matveev, Phys. Part. Nucl. 51 (2020) 829, arXiv:2003.07257, sec. 4.2"


@dataclass(frozen=True)
class VisibleRun:
    """One visible-mode data set: beam, exposure, dump and decay-volume geometry.

    Attributes
    ----------
    name:
        Label (e.g. ``"2017"``).
    beam_energy_gev:
        Beam electron energy [GeV].
    exposure:
        Electrons on target.
    wcal_x0:
        WCAL (tungsten dump) thickness in radiation lengths of W.
    wcal_cm_per_x0:
        Physical WCAL length per radiation length [cm]: 0.3504 for solid W;
        the NA64 W / scintillator sandwich, 17.5 cm / 30 X0 = 0.583.
    veto_end_cm:
        Distance from the WCAL front to the end of the veto W2 [cm]: a
        decay before it is vetoed.
    s4_cm:
        Distance from the WCAL front to the S4 counter [cm]: the decay must
        happen before it.
    min_boson_energy_gev:
        Smallest A' energy counted [GeV].
    efficiency:
        Overall signal efficiency (mass independent).
    sources, assumptions:
        Where each number comes from; numbers that could not be read in a
        citable source are listed under ``assumptions`` with the reasoning.
    """

    name: str
    beam_energy_gev: float
    exposure: float
    wcal_x0: float
    wcal_cm_per_x0: float
    veto_end_cm: float
    s4_cm: float
    min_boson_energy_gev: float
    efficiency: float
    sources: tuple[str, ...] = field(default_factory=tuple)
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        wcal_cm = self.wcal_x0 * self.wcal_cm_per_x0
        if not (self.beam_energy_gev > self.min_boson_energy_gev > 0.0):
            raise PhysicsError(f"run {self.name!r}: need beam energy > minimum A' energy > 0")
        if not (0.0 < wcal_cm <= self.veto_end_cm < self.s4_cm):
            raise PhysicsError(
                f"run {self.name!r}: need 0 < WCAL length ({wcal_cm:.3g} cm) <= end of the vetoes "
                f"({self.veto_end_cm} cm) < S4 ({self.s4_cm} cm)"
            )
        if not (self.exposure > 0.0 and 0.0 < self.efficiency <= 1.0):
            raise PhysicsError(
                f"run {self.name!r}: exposure must be positive and efficiency in (0, 1]"
            )

    @property
    def wcal_length_cm(self) -> float:
        """Physical WCAL length [cm]."""
        return self.wcal_x0 * self.wcal_cm_per_x0


#: darkcast's recast of both NA64 visible-mode results (the source of
#: :data:`DECAY_TO_SHIELDING_RATIO`).
DARKCAST_NA64_VISIBLE: str = (
    "darkcast (P. Ilten, Y. Soreq, M. Williams, W. Xue, JHEP 06 (2018) 004, arXiv:1801.04847), "
    "limits/NA64_Banerjee2018vgk.py (PRL 120) and limits/NA64_Banerjee2019hmi.py (PRD 101): 'a "
    "displaced search "
    "where the decay volume length over the shielding length is approximately 4/1' "
    "(Efficiency(lratio = 4.0/1.0))"
)

#: Decay-volume length over shielding length of the NA64 visible-mode setups (both runs):
#: darkcast's value, :data:`DARKCAST_NA64_VISIBLE`. The shielding is the WCAL with its vetoes
#: (``veto_end_cm``), the decay volume runs from there to S4: ``s4_cm = veto_end_cm (1 + ratio)``.
DECAY_TO_SHIELDING_RATIO: float = 4.0


#: Thesis file prefix of the WCAL numbers (na64stat.physics.analysis_factors.THESIS is the thesis).
_THESIS_FILES = f"Depero thesis (ETH 2020, {THESIS_COMMIT[:7]})"

#: WCAL layers: 35 of 3 mm W + 2 mm scintillator, ~30 X0, active length 175 mm (120 x 120 x 175
#: mm^3), 200 mm
#: with its aluminium box: thesis chapters/chapter2.tex ("The Tungsten Electromagnetic Calorimeter
#: (WCAL)") and
#: appendices/appendixF.tex (table "Detailed properties of the detectors": 35 layers, 3.0 mm W + 2.0
#: mm Sc,
#: 30 X0, active 120 x 120 x 175 mm^3). chapter5.tex calls the design of the previous searches "34
#: layers ...
#: ~30X0"; the 35-layer count and 175 mm are the two tables' numbers.
WCAL_LAYERS: int = 35
#: Tungsten and scintillator thickness of one WCAL layer [cm] (3 mm + 2 mm; same sources as
#: :data:`WCAL_LAYERS`).
WCAL_LAYER_CM: tuple[float, float] = (0.30, 0.20)
#: Radiation lengths of the WCAL (same sources; 35 x 3 mm W alone is 29.97 X0 of W).
WCAL_X0: float = 30.0
#: W2, the veto read out behind the WCAL's main section [cm]: 6 mm, thesis chapters/chapter5.tex
#: ("The
#: thickness of this counter was minimized from the 6 mm used previously to 3 mm"; chapter2.tex's
#: "60 x 120 x 120 mm^3" for its three stacked counters is read as 6.0 mm, the chapter-5 number).
W2_CM: float = 0.6
#: V2, a thicker counter ~3 cm downstream of W2 "for testing purposes ... to cross-check its
#: efficiency"
#: (thesis chapters/chapter2.tex, "The Veto system") [cm]: not a cut of the 2018 selection
#: (chapter3.tex,
#: "Selection criteria" of the visible mode: W2 < 0.7 MIP, S4 > 1.5 MIP), so decays after W2 count.
V2_GAP_CM: float = 3.0
#: The 2018 vacuum decay tube [cm], S4 "placed immediately after the tube": thesis
#: chapters/chapter2.tex
#: ("The visible mode setup").
DECAY_TUBE_2018_CM: float = 310.0
#: Smallest A' energy counted [GeV]: the 2018 selection's "At least 25 GeV deposited in the ECAL"
#: (thesis chapters/chapter3.tex, visible-mode selection criteria).
MIN_ECAL_ENERGY_GEV: float = 25.0
#: The 2018 signal window on E_WCAL + E_ECAL [GeV] (thesis chapters/chapter3.tex): it contains the
#: 150 GeV
#: beam energy that a signal event deposits (WCAL resolution 20%/sqrt(E)), so its efficiency is
#: taken as 1.
SIGNAL_WINDOW_2018_GEV: tuple[float, float] = (130.0, 200.0)


def wcal_length_cm() -> float:
    """Active length of the W/Sc WCAL [cm]: 35 layers of 3 mm W + 2 mm scintillator = 17.5 cm.

    >>> round(wcal_length_cm(), 9)
    17.5
    """
    return WCAL_LAYERS * sum(WCAL_LAYER_CM)


def _sandwich_run(
    name: str,
    beam_energy_gev: float,
    exposure: float,
    s4_cm: float,
    sources: tuple[str, ...],
    assumptions: tuple[str, ...],
) -> VisibleRun:
    """A run with the thesis's WCAL (:data:`WCAL_LAYERS` W/Sc layers, :data:`WCAL_X0`), the veto W2
    right behind it (:data:`W2_CM`; a decay before its end is vetoed) and S4 at ``s4_cm`` from the
    WCAL front; A' above :data:`MIN_ECAL_ENERGY_GEV` counted, efficiency 0.6 (an assumption,
    ``_COMMON_ASSUMPTIONS``).

    >>> r = _sandwich_run("x", 100.0, 1e10, 100.0, (), ())
    >>> round(r.wcal_length_cm, 6), round(r.veto_end_cm, 6), round(r.wcal_cm_per_x0, 4)
    (17.5, 18.1, 0.5833)
    """
    return VisibleRun(
        name=name,
        beam_energy_gev=beam_energy_gev,
        exposure=exposure,
        wcal_x0=WCAL_X0,
        wcal_cm_per_x0=wcal_length_cm() / WCAL_X0,
        veto_end_cm=wcal_length_cm() + W2_CM,
        s4_cm=s4_cm,
        min_boson_energy_gev=MIN_ECAL_ENERGY_GEV,
        efficiency=0.6,
        sources=sources + _COMMON_SOURCES,
        assumptions=assumptions + _COMMON_ASSUMPTIONS,
    )


_COMMON_SOURCES = (
    f"{_THESIS_FILES}: WCAL of 35 layers of 3 mm W + 2 mm scintillator, ~30 X0, 175 mm active "
    "(chapter2.tex, "
    "appendixF.tex); W2 6 mm behind it (chapter5.tex); V2 ~3 cm behind W2, not a cut "
    "(chapter2.tex, chapter3.tex); A' energy above 25 GeV (the ECAL cut, chapter3.tex)",
)

_COMMON_ASSUMPTIONS = (
    "the shower develops in X0 of the sandwich (17.5 cm / 30 X0 = 0.583 cm per X0): the layers are "
    "not resolved",
    "a decay in W2 is vetoed, one after it counts (V2 is not a cut); the 2018 selection's W2 < 0.7 "
    "MIP as a perfect veto",
    "efficiency 0.6 (na64stat's ASSUMED_SIGNAL_EFFICIENCY): the papers' signal efficiencies were "
    "not available here",
)

#: The 2017 and 2018 visible-mode runs (PRL 120 (2018) 231802; PRD 101 (2020) 071101), one WCAL for
#: both.
VISIBLE_RUNS: dict[str, VisibleRun] = {
    r.name: r
    for r in (
        _sandwich_run(
            "2017",
            100.0,
            5.4e10,
            (wcal_length_cm() + W2_CM) * (1.0 + DECAY_TO_SHIELDING_RATIO),
            sources=(
                f"{_PRL120}, abstract: 100 GeV e- beam, 5.4e10 EOT; excluded 1.3e-4 < eps < 4.2e-4 "
                "at 16.7 MeV",
                f"{_THESIS_FILES}, chapter2.tex: 'The first run in 2017 was performed at 100 GeV'",
                DARKCAST_NA64_VISIBLE,
            ),
            assumptions=(
                "decay volume of 2017 (end of W2 to S4) = DECAY_TO_SHIELDING_RATIO (4) x the "
                "shielding "
                "(WCAL and W2): darkcast's reading (DARKCAST_NA64_VISIBLE); the thesis gives only "
                "the 2017 WCAL-ECAL distance, 4.2 m (chapter3.tex), not S4's place",
                "the 2017 WCAL is the thesis's one (chapter5.tex: 'the design used in previous "
                "searches')",
            ),
        ),
        _sandwich_run(
            "2018",
            150.0,
            3.0e10,
            wcal_length_cm() + W2_CM + V2_GAP_CM + DECAY_TUBE_2018_CM,
            sources=(
                f"{_PRD101}, abstract: 8.4e10 EOT in 2017 and 2018 together, so 8.4e10 - 5.4e10 = "
                "3.0e10 "
                "in 2018; excluded 1.2e-4 < eps < 6.8e-4 at 16.7 MeV (both runs)",
                f"{_THESIS_FILES}, chapter2.tex: 150 GeV beam in 2018, a 3.1 m vacuum tube with S4 "
                "immediately after it; chapter3.tex: signal window 130 < E_WCAL + E_ECAL < 200 GeV",
            ),
            assumptions=(
                "the 3.1 m tube starts at V2 (3 cm behind W2; V2's thickness neglected): where it "
                "starts is not stated",
            ),
        ),
    )
}


def get_runs(names: Sequence[str]) -> tuple[VisibleRun, ...]:
    """The runs of :data:`VISIBLE_RUNS` named ``names``, in that order (a PhysicsError names an
    unknown one).

    >>> [r.beam_energy_gev for r in get_runs(("2017", "2018"))]
    [100.0, 150.0]
    """
    unknown = [n for n in names if n not in VISIBLE_RUNS]
    if unknown:
        raise PhysicsError(
            f"unknown visible-mode run {unknown[0]!r} (known: {', '.join(VISIBLE_RUNS)})"
        )
    return tuple(VISIBLE_RUNS[n] for n in names)


def runs_at(
    exposure: float | None = None,
    efficiency: float | None = None,
    runs: tuple[VisibleRun, ...] | None = None,
) -> tuple[VisibleRun, ...]:
    """The visible-mode runs (default: all of :data:`VISIBLE_RUNS`) at another exposure or
    efficiency.

    ``exposure`` [EOT] is the runs' total: each run keeps its share of it (2017 : 2018 =
    5.4 : 3.0), so the beam energies and dumps of the mix stay those of the runs.
    ``efficiency`` replaces every run's efficiency; ``None`` keeps each run's own.

    >>> [round(r.exposure / 1e10, 3) for r in runs_at(exposure=8.4e11)]
    [54.0, 30.0]
    """
    chosen = tuple(VISIBLE_RUNS.values()) if runs is None else tuple(runs)
    if not chosen:
        raise PhysicsError("runs_at: no visible-mode run given")
    # core.checks: finite and positive, text rejected; re-raised as the physics error of this
    # function
    try:
        total = check_number(exposure, "runs_at: exposure", positive=True, allow_none=True)
        eff = check_number(efficiency, "runs_at: efficiency", positive=True, allow_none=True)
    except InputError as exc:
        raise PhysicsError(str(exc)) from None
    if eff is not None and eff > 1.0:
        raise PhysicsError(f"runs_at: efficiency must be in (0, 1], got {efficiency!r}")
    scale = 1.0 if total is None else total / sum(r.exposure for r in chosen)
    return tuple(
        replace(r, exposure=r.exposure * scale, efficiency=r.efficiency if eff is None else eff)
        for r in chosen
    )


def total_events(runs: Sequence[VisibleRun], mass_gev: float, epsilon: float) -> float:
    """Expected A' -> e+ e- decays in the decay volumes of ``runs`` together (:func:`visible_events`
    summed).

    >>> total_events(get_runs(("2017",)), 0.0167, 3e-4) == float(
    ...     visible_events(VISIBLE_RUNS["2017"], 0.0167, [3e-4])[0])
    True
    """
    return float(sum(visible_events(run, mass_gev, [epsilon])[0] for run in runs))


@lru_cache(maxsize=64)
def _etl_w_computed_pb(mass_gev: float, beam_energy_gev: float) -> float:
    from na64stat.physics.etl import sigma_etl_computed_pb

    return float(sigma_etl_computed_pb("e", TUNGSTEN, mass_gev, beam_energy_gev))


def etl_sigma_w_pb(mass_gev: float, energy_gev: ArrayLike) -> np.ndarray:
    """Exact-tree-level sigma(e W -> e W A') per unit alpha_X [pb], all A' energies.

    The single hook to the ETL numbers: the tabulated
    :func:`na64stat.physics.etl.sigma_etl_pb` (``resources/etl_cross_sections.json``,
    e on W, 20-160 GeV), else, where the table is missing or does not cover
    the energies, :func:`~na64stat.physics.etl.sigma_etl_computed_pb` on 8
    energies from the lowest requested to the highest, interpolated in
    ln sigma vs ln E (the two agree to 0.1% at 16.7 MeV).

    >>> s = etl_sigma_w_pb(0.0167, [100.0])
    >>> 3e13 < float(s[0]) < 5e13
    True
    """
    energies = np.atleast_1d(np.asarray(energy_gev, dtype=float))
    try:
        from na64stat.physics.etl import sigma_etl_pb

        return np.asarray(sigma_etl_pb("e", TUNGSTEN, mass_gev, energies), dtype=float)
    except (ResourceError, FileNotFoundError, ImportError, PhysicsError):
        pass
    lo, hi = float(energies.min()), float(energies.max())
    nodes = np.geomspace(lo, hi, 8) if hi > lo * (1 + 1e-9) else np.array([lo])
    values = np.array([_etl_w_computed_pb(float(mass_gev), round(float(e), 9)) for e in nodes])
    if nodes.size == 1:
        return np.full(energies.shape, values[0])
    return np.exp(np.interp(np.log(energies), np.log(nodes), np.log(values)))


@dataclass(frozen=True)
class _Production:
    """A' production of one run at one mass, per unit alpha_X: weights over (depth, A' energy)."""

    depth_cm: np.ndarray  # (n_z,) production depth from the WCAL front
    boson_energy_gev: np.ndarray  # (n_z, n_e) broadcastable grid of A' energies
    events: (
        np.ndarray
    )  # (n_z, n_e) expected A' per unit alpha_X in each cell (exposure, efficiency in)


def _production(
    run: VisibleRun, mass_gev: float, n_depth: int = 48, n_x: int = 96, max_depth_x0: float = 12.0
) -> _Production:
    """Shower electrons by depth slice and energy, times the ETL-normalised x spectrum above the A'
    threshold.
    """
    e0, cut = run.beam_energy_gev, run.min_boson_energy_gev
    slice_x0 = min(run.wcal_x0, max_depth_x0) / n_depth
    energies, tracks = electron_track_by_depth(
        e0, cut, slice_x0, n_depth
    )  # (n_bins,), (n_z, n_bins)
    depth_edges = slice_x0 * np.arange(n_depth + 1)
    usable = energies > max(mass_gev, cut) * (1.0 + 1e-9)
    energies, tracks = energies[usable], tracks[:, usable]
    total = etl_sigma_w_pb(mass_gev, energies)  # pb per unit alpha_X
    nodes, weights = np.polynomial.legendre.leggauss(n_x)
    cells_e, cells_w = [], []
    for e_j, sigma_j in zip(energies, total):
        lo, hi = x_range(mass_gev, e_j, M_E_GEV)
        # shape of eq. (22) over the whole x range, evaluated in s = -ln(1 - x) (x -> 1 peak),
        # normalised to 1
        s_lo, s_hi = -math.log1p(-float(lo)), -math.log1p(-float(hi))
        s = 0.5 * (s_lo + s_hi) + 0.5 * (s_hi - s_lo) * nodes
        x = -np.expm1(-s)
        w = (
            0.5
            * (s_hi - s_lo)
            * weights
            * dsigma_dx_iww_pb(x, mass_gev, e_j, 1.0, TUNGSTEN)
            * (1.0 - x)
        )
        w = w / w.sum() * sigma_j * (x * e_j > cut)
        cells_e.append(x * e_j)
        cells_w.append(w)
    boson_e = np.array(cells_e).ravel()  # (n_e * n_x,)
    per_cell = tracks[:, :, None] * np.array(cells_w)[None, :, :]  # (n_z, n_e, n_x)
    scale = run.exposure * run.efficiency * TUNGSTEN.nuclei_per_cm2_per_x0 * _PB_TO_CM2
    depth_cm = 0.5 * (depth_edges[1:] + depth_edges[:-1]) * run.wcal_cm_per_x0
    return _Production(depth_cm, boson_e[None, :], scale * per_cell.reshape(depth_cm.size, -1))


@lru_cache(maxsize=32)
def _cached_production(run: VisibleRun, mass_gev: float) -> _Production:
    return _production(run, mass_gev)


def visible_events(run: VisibleRun, mass_gev: float, epsilon: ArrayLike) -> np.ndarray:
    """Expected A' -> e+ e- decays in the decay volume (module docstring) for a dark photon of
    ``epsilon``.

    alpha_X = alpha eps^2; Br(A' -> e+ e-) = 1 below the muon threshold
    (the visible mode's range, m <~ 30 MeV).

    >>> n = visible_events(VISIBLE_RUNS["2017"], 0.0167, [1e-5, 2e-4, 3e-3])
    >>> bool(n[1] > 2.3 > max(n[0], n[2]))
    True
    """
    if not (np.isfinite(mass_gev) and 2.0 * M_E_GEV < mass_gev < 2.0 * M_MU_GEV):
        raise PhysicsError(
            f"run {run.name!r}: mass {mass_gev!r} GeV must lie between 2 m_e and 2 m_mu "
            f"(Br(A' -> e+ e-) = 1 is assumed; above 2 m_mu the A' also decays to mu+ mu-)"
        )
    eps = np.atleast_1d(np.asarray(epsilon, dtype=float))
    if np.any(~np.isfinite(eps)) or np.any(eps <= 0):
        raise PhysicsError(f"epsilon must be positive and finite, got {epsilon!r}")
    prod = _cached_production(run, float(mass_gev))
    out = np.empty(eps.shape)
    z = prod.depth_cm[:, None]
    for i, e in enumerate(eps):
        length = decay_length_cm(
            width_aprime_to_ee_gev(mass_gev, float(e)), mass_gev, prod.boson_energy_gev
        )
        p_decay = np.exp(-(run.veto_end_cm - z) / length) - np.exp(-(run.s4_cm - z) / length)
        out[i] = ALPHA_EM * e**2 * float(np.sum(prod.events * p_decay))
    return out


def excluded_epsilon_range(
    runs: tuple[VisibleRun, ...], mass_gev: float, n_events: float = CL90_EVENTS
) -> tuple[float, float]:
    """(lower, upper) epsilon where the runs' summed events exceed ``n_events`` (NaN, NaN if
    nowhere).

    The events rise as eps^4 at small eps (production x decay inside the
    volume) and fall as exp(-eps^2) at large eps (decay inside the dump): one
    interval, bracketed on a log grid and refined with :func:`scipy.optimize.brentq`.
    """

    def total(log_eps: float) -> float:
        return total_events(runs, mass_gev, math.exp(log_eps)) - n_events

    grid = np.linspace(math.log(1e-6), math.log(1e-1), 46)  # steps of 0.25 in ln eps, then brentq
    values = np.array([total(g) for g in grid])
    above = np.nonzero(values > 0)[0]
    if above.size == 0:
        return math.nan, math.nan
    i, k = int(above[0]), int(above[-1])
    if i == 0 or k == grid.size - 1:
        raise PhysicsError(
            f"mass {mass_gev} GeV: the excluded range reaches the edge of 1e-6 < eps < 1e-1"
        )
    lower = math.exp(brentq(total, grid[i - 1], grid[i], xtol=1e-6))
    upper = math.exp(brentq(total, grid[k], grid[k + 1], xtol=1e-6))
    return lower, upper
