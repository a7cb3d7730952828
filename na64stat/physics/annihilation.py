"""Resonant annihilation of shower positrons on atomic electrons, e+ e- -> A'.

A shower positron of energy E+ meeting an atomic electron at rest forms the
A' on resonance when s = 2 m_e^2 + 2 m_e E+ = m^2, i.e. at

    E_R = (m^2 - 2 m_e^2) / (2 m_e)                       (m = 250 MeV: 61.15 GeV).

The A' then carries E_R (plus m_e) out of the active target: a missing-energy
signal when E_R is above the missing-energy cut. Marsicano et al. (PRL 121
(2018) 041802, arXiv:1807.05884) showed that in a thick target this channel,
fed by the positron track-length spectrum T+(E), can exceed bremsstrahlung
where E_R falls in the signal window; NA64 includes it since its 2016-2022
analysis (PRL 131 (2023) 161801).

Cross section. The spin-1 Breit-Wigner for resonance formation in unpolarised
e+ e- (PDG Review, "Kinematics", resonance formation;
sigma = 12 pi Gamma_ee Gamma_f / ((s - m^2)^2 + m^2 Gamma^2) for s ~ m^2)
has in the narrow-width limit

    sigma(s) = 12 pi^2 Gamma_ee Br_f / m * delta(s - m^2)
             = 12 pi^2 Gamma_ee Br_f / (2 m_e m) * delta(E+ - E_R),

so int sigma dE+ = 12 pi^2 Gamma_ee Br_f / (2 m_e m), with Gamma_ee from eq.
(9) of the review (:func:`~na64stat.physics.decays.width_to_fermions_gev`);
for m >> m_e this is 2 pi^2 alpha_X Br_f / m_e, alpha_X = alpha eps^2 for a
dark photon (the same normalisation as Marsicano et al.'s narrow-width
resonance). Here Br_f = 1: the branching fraction is applied, as for
bremsstrahlung, by :func:`~na64stat.physics.yields.invisible_alpha_x_per_coupling2`.

Yield per particle on target (the thin-target rate integrated over the
shower):

    N / EOT = n_e X0 * T+(E_R) * int sigma dE+,

with n_e = Z rho N_A / A the electron density [cm^-3], X0 [cm], T+(E) the
differential positron track length [X0 per GeV] from
:mod:`na64stat.physics.shower`, and the integral in cm^2 GeV.

Finite width. The A' of the invisible benchmarks is wide (alpha_D = 0.1,
m_A' = 3 m_chi: Gamma/m = 0.030; alpha_D = 0.5: 0.152), so positrons above the
cut still make it off resonance and the window has no hard edge at
E_R + m_e = E_cut (226 MeV for 50 GeV): the yields use

    N / EOT = n_e X0 * int_{E_cut - m_e} T+(E+) sigma(E+) dE+

with the tree-level s-channel sigma(e+ e- -> A'* -> chi chibar)
(:func:`resonant_cross_section_cm2`, the PDG Breit-Wigner on resonance) and the
width of a :class:`DarkSector` (:data:`BENCHMARK_DARK_SECTOR`), the A' carrying
E+ + m_e; its Gamma -> 0 limit is the narrow-width yield above
(:func:`annihilation_events_per_pot`).

Units: energies and masses in GeV, cross sections in cm^2 (``*_cm2``).

See the physics reference (docs/physics.rst, sections "Thick-target yields",
"Resonant annihilation").

Examples
--------
>>> round(float(resonance_energy_gev(0.25)), 2)
61.15
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import PhysicsError
from na64stat.physics.constants import GEV2_TO_CM2, M_E_GEV, M_MU_GEV, Material
from na64stat.physics.decays import (
    width_aprime_to_dirac_dm_gev,
    width_aprime_to_scalar_dm_gev,
    width_to_fermions_gev,
)
from na64stat.physics.shower import shower_track_length

__all__ = [
    "resonance_energy_gev",
    "resonance_mass_gev",
    "integrated_cross_section_cm2_gev",
    "breit_wigner_cross_section_cm2",
    "annihilation_events_per_pot",
    "DarkSector",
    "BENCHMARK_DARK_SECTOR",
    "aprime_total_width_gev",
    "resonant_cross_section_cm2",
    "PositronNodes",
    "positron_annihilation_nodes",
    "efficiency_by_energy",
    "RESONANCE_SCAN_MASSES_GEV",
    "with_resonance_masses",
]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)

#: Masses [GeV] that every NA64e mass scan adds (shipped workspaces, the main job) so that the
#: resonant-annihilation region of a 100 GeV beam with the E_miss > 50 GeV cut is drawn as a smooth
#: dip and not as a one-point spike. With the finite width (:data:`BENCHMARK_DARK_SECTOR`) the yield
#: rises from ~150 MeV (Breit-Wigner tail of positrons above the cut; NA64e setup: 0.05 of
#: bremsstrahlung at 150 MeV, 0.4 at 200 MeV, 8 at 225.5 MeV), peaks at 230 - 240 MeV just above
#: the narrow window's lower edge resonance_mass_gev(50) = 226.1 MeV, and falls until E_R reaches
#: the top of the positron spectrum (~320 MeV). The epsilon reach turns fastest at 200 - 235 MeV,
#: so the points are 150 MeV on the approach, 210 and 218 MeV down the slope, 225.5 / 227 MeV on
#: both sides of the narrow-width edge (the yield is continuous there now), 233 MeV at the bottom
#: and 240 - 310 MeV up the far side: with a scan's own 193 / 200 and 268 MeV points the
#: log-log line through them is within 7% of the reach computed every 2.5 MeV between 150 and
#: 310 MeV (alpha_D = 0.1; 9% at alpha_D = 0.5), and the yield rises, then falls, once along them
#: (tests/physics/test_mass_grids.py).
RESONANCE_SCAN_MASSES_GEV: tuple[float, ...] = (
    0.15,
    0.21,
    0.218,
    0.2255,
    0.227,
    0.233,
    0.24,
    0.268,
    0.295,
    0.31,
)


def with_resonance_masses(masses_gev: tuple[float, ...]) -> tuple[float, ...]:
    """``masses_gev`` with :data:`RESONANCE_SCAN_MASSES_GEV` added, sorted, each once (within 1e-9
    relative).

    >>> with_resonance_masses((0.1, 0.31, 1.0))
    (0.1, 0.15, 0.21, 0.218, 0.2255, 0.227, 0.233, 0.24, 0.268, 0.295, 0.31, 1.0)
    """
    out: list[float] = []
    for m in sorted(float(x) for x in (*masses_gev, *RESONANCE_SCAN_MASSES_GEV)):
        if not out or abs(m / out[-1] - 1.0) > 1e-9:
            out.append(m)
    return tuple(out)


def resonance_energy_gev(mass_gev: ArrayLike) -> np.ndarray:
    """Positron energy E_R = (m^2 - 2 m_e^2)/(2 m_e) [GeV] at which e+ e-(at rest) -> A' is on
    resonance.

    >>> round(float(resonance_energy_gev(2 * M_E_GEV)) / M_E_GEV, 6)   # threshold: e+ at rest
    1.0
    """
    m = np.asarray(mass_gev, dtype=float)
    return (m**2 - 2.0 * M_E_GEV**2) / (2.0 * M_E_GEV)


def resonance_mass_gev(positron_energy_gev: ArrayLike) -> np.ndarray:
    """The inverse of :func:`resonance_energy_gev`: m = sqrt(2 m_e^2 + 2 m_e E+) [GeV].

    >>> round(float(resonance_mass_gev(50.0)), 4)   # E_miss > 50 GeV reaches down to 226 MeV
    0.2261
    """
    e = np.asarray(positron_energy_gev, dtype=float)
    return np.sqrt(2.0 * M_E_GEV**2 + 2.0 * M_E_GEV * e)


def integrated_cross_section_cm2_gev(mass_gev: ArrayLike, alpha_x: float) -> np.ndarray:
    """int sigma(e+ e- -> A') dE+ = 12 pi^2 Gamma_ee / (2 m_e m) [cm^2 GeV], Br_f = 1.

    ``alpha_x``: the A' coupling strength to electrons, alpha eps^2 for a dark
    photon (g^2 / 4 pi in general). Zero below 2 m_e.

    >>> from na64stat.physics.constants import ALPHA_EM
    >>> v = float(integrated_cross_section_cm2_gev(0.25, ALPHA_EM))
    >>> round(v / (2 * math.pi**2 * ALPHA_EM / M_E_GEV * GEV2_TO_CM2), 5)   # m >> m_e limit
    1.0
    """
    m = np.asarray(mass_gev, dtype=float)
    gamma_ee = width_to_fermions_gev(m, alpha_x, M_E_GEV)
    return 12.0 * math.pi**2 * gamma_ee / (2.0 * M_E_GEV * m) * GEV2_TO_CM2


def breit_wigner_cross_section_cm2(
    positron_energy_gev: ArrayLike, mass_gev: float, alpha_x: float, total_width_gev: float
) -> np.ndarray:
    """sigma(e+ e- -> A' -> f) = 12 pi Gamma_ee Gamma / ((s - m^2)^2 + m^2 Gamma^2) [cm^2], Br_f =
    1.

    The finite-width form whose narrow limit the yields use; for tests and
    for resonances too wide for the delta function.
    """
    if not total_width_gev > 0.0:
        raise PhysicsError(f"total width must be positive, got {total_width_gev} GeV")
    e = np.asarray(positron_energy_gev, dtype=float)
    s = 2.0 * M_E_GEV**2 + 2.0 * M_E_GEV * e
    gamma_ee = float(width_to_fermions_gev(mass_gev, alpha_x, M_E_GEV))
    value = (
        12.0
        * math.pi
        * gamma_ee
        * total_width_gev
        / ((s - mass_gev**2) ** 2 + mass_gev**2 * total_width_gev**2)
    )
    return value * GEV2_TO_CM2


@dataclass(frozen=True)
class DarkSector:
    """The A' decay model that fixes the resonance width: invisible decays to a dark-matter pair.

    Attributes
    ----------
    alpha_d:
        The dark coupling alpha_D = g_D^2 / (4 pi).
    mass_ratio:
        m_A' / m_chi (the standard benchmark: 3).
    chi:
        ``"dirac"`` (Dirac-fermion chi, eq. (8) of the NA64 review arXiv:2003.07257)
        or ``"scalar"`` (complex-scalar chi, eq. (10)).

    >>> round(float(DarkSector(0.5, 3.0).invisible_width_gev(1.0)), 4)   # Gamma/m at the benchmark
    0.1518
    """

    alpha_d: float
    mass_ratio: float
    chi: Literal["dirac", "scalar"] = "dirac"

    def __post_init__(self) -> None:
        if not (self.alpha_d > 0.0 and self.mass_ratio > 2.0 and self.chi in ("dirac", "scalar")):
            raise PhysicsError(
                "dark sector needs alpha_D > 0, m_A'/m_chi > 2 and chi 'dirac' or 'scalar', got "
                f"{self}"
            )

    def invisible_width_gev(
        self, mass_gev: ArrayLike, m_chi_gev: float | None = None
    ) -> np.ndarray:
        """Gamma(V -> chi chibar) [GeV] of a vector of mass ``mass_gev``, eq. (8) or (10).

        ``m_chi_gev``: the dark-matter mass [GeV], by default ``mass_gev / mass_ratio``.
        Evaluated at sqrt(s) with the A''s m_chi it is the running width of the
        s-channel cross section (:func:`resonant_cross_section_cm2`).
        """
        m = np.asarray(mass_gev, dtype=float)
        # the width functions broadcast m_chi like m (typed float for their usual call)
        m_chi = cast(float, m / self.mass_ratio if m_chi_gev is None else m_chi_gev)
        if self.chi == "dirac":
            return np.asarray(width_aprime_to_dirac_dm_gev(m, self.alpha_d, m_chi))
        return np.asarray(width_aprime_to_scalar_dm_gev(m, self.alpha_d, m_chi))


#: The dark sector that fixes the annihilation width of every NA64e invisible setup: alpha_D = 0.1,
#: m_A' = 3 m_chi, Dirac chi (Gamma/m = 0.0304), the benchmark "BC2" of the PBC report
#: (arXiv:1901.09966) that the compiled NA64e 2016-2022 curve is given in
#: (ESPP2026-PPG/Quasi-elastic-DM
#: README.md @ 24dc2ba: "the commonly considered choice is alpha_D = 0.1 ... and m_chi = m_A/3"; the
#: curve data/Constraints_BC2_NA64e-2022.csv @ 269f120, which
#: tools/compare_published_from_outside.py
#: reads with alpha_D = 0.1) and of this project's relic targets. NA64's annihilation paper
#: (Andreev et al., PRD 104 (2021) L111102, arXiv:2108.04195) also shows alpha_D = 0.5 (Gamma/m =
#: 0.152): use ``Setup.with_(annihilation_sector=DarkSector(0.5, 3.0))`` for it. The width is the
#: model's (:func:`aprime_total_width_gev`), not fitted; the epsilon reach at 200-320 MeV depends on
#: it.
BENCHMARK_DARK_SECTOR = DarkSector(alpha_d=0.1, mass_ratio=3.0, chi="dirac")


def aprime_total_width_gev(
    mass_gev: float, sector: DarkSector, visible_alpha_x: float = 0.0
) -> float:
    """Total A' width [GeV]: Gamma(A' -> chi chibar) + Gamma(A' -> e+ e-, mu+ mu-).

    The visible widths (eq. (9) of arXiv:2003.07257 with m_e and m_mu) are taken at
    ``visible_alpha_x`` = alpha eps^2; for eps <= 1e-2 they are below 1e-3 of the invisible
    width at alpha_D = 0.1 (2 alpha eps^2 / 3 against alpha_D / 3 * 0.91), so the yields,
    which are per unit alpha_X, take ``visible_alpha_x = 0`` (the yield is then exactly linear in
    eps^2). Hadronic A' decays (above 2 m_pi, also ~ eps^2) are neglected for the same reason.

    >>> w = aprime_total_width_gev(0.25, BENCHMARK_DARK_SECTOR)
    >>> round(w / 0.25, 5)
    0.03037
    """
    invisible = float(sector.invisible_width_gev(mass_gev))
    visible = float(width_to_fermions_gev(mass_gev, visible_alpha_x, M_E_GEV)) + float(
        width_to_fermions_gev(mass_gev, visible_alpha_x, M_MU_GEV)
    )
    return invisible + visible


def resonant_cross_section_cm2(
    positron_energy_gev: ArrayLike, mass_gev: float, alpha_x: float, sector: DarkSector
) -> np.ndarray:
    """sigma(e+ e- -> A'* -> chi chibar) [cm^2] of a positron of energy E+ on an electron at rest.

    The tree-level s-channel cross section with a constant-width propagator,

        sigma(s) = 12 pi Gamma_ee(sqrt s) Gamma_chi(sqrt s) / ((s - m^2)^2 + m^2 Gamma^2),

    where Gamma_ee(sqrt s), Gamma_chi(sqrt s) are the widths of eqs. (8)-(10) of
    arXiv:2003.07257 evaluated at mass sqrt(s) (same m_chi) and Gamma the total width at m
    (:func:`aprime_total_width_gev`, visible part at eps -> 0). For Dirac chi this is
    (4 pi alpha_X alpha_D / 3) s beta (1 + 2 m_chi^2 / s) / (...), beta = sqrt(1 - 4 m_chi^2 / s),
    the e+ e- -> mu+ mu- form with the photon propagator replaced (Marsicano et al.,
    PRL 121 (2018) 041802 write the same in the chi momentum q: 4 pi alpha_X alpha_D q
    (s - 4 q^2 / 3) / (sqrt(s) (...))). At s = m^2 it is :func:`breit_wigner_cross_section_cm2`
    times Br(chi chibar); its narrow-width limit is :func:`integrated_cross_section_cm2_gev`.
    Unlike the module's narrow-width convention this is the chi chibar final state itself
    (the invisible branching fraction, 1 - O(eps^2), is inside).

    >>> from na64stat.physics.constants import ALPHA_EM
    >>> e_r = float(resonance_energy_gev(0.25))
    >>> on = float(resonant_cross_section_cm2(e_r, 0.25, ALPHA_EM, BENCHMARK_DARK_SECTOR))
    >>> gamma = aprime_total_width_gev(0.25, BENCHMARK_DARK_SECTOR)
    >>> bw = float(breit_wigner_cross_section_cm2(e_r, 0.25, ALPHA_EM, gamma))
    >>> round(on / bw, 9)   # on resonance: the PDG Breit-Wigner, Br(chi chibar) = 1 at eps -> 0
    1.0
    """
    e = np.asarray(positron_energy_gev, dtype=float)
    s = 2.0 * M_E_GEV**2 + 2.0 * M_E_GEV * e
    root_s = np.sqrt(s)
    m_chi = mass_gev / sector.mass_ratio
    gamma = aprime_total_width_gev(mass_gev, sector)
    numerator = (
        12.0
        * math.pi
        * width_to_fermions_gev(root_s, alpha_x, M_E_GEV)
        * sector.invisible_width_gev(root_s, m_chi)
    )
    return numerator / ((s - mass_gev**2) ** 2 + mass_gev**2 * gamma**2) * GEV2_TO_CM2


@dataclass(frozen=True)
class PositronNodes:
    """Quadrature of int T+(E+) sigma(E+) dE+ over the positrons that pass the cut.

    Attributes
    ----------
    energy_gev:
        Positron energies E+ of the nodes [GeV] (the A' carries E+ + m_e).
    weight:
        T+(E+) sigma(E+) dE+ of each node [X0 cm^2]; their sum is the integral.
    """

    energy_gev: np.ndarray
    weight: np.ndarray


def _panel_nodes(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on each panel [theta_k, theta_k+1] (16 per panel)."""
    lo, hi = theta[:-1, None], theta[1:, None]
    half = 0.5 * (hi - lo)
    return ((lo + hi) * 0.5 + half * _GL_X).ravel(), (half * _GL_W).ravel()


def positron_annihilation_nodes(
    mass_gev: float,
    alpha_x: float,
    beam_energy_gev: float,
    min_boson_energy_gev: float,
    thickness_x0: float,
    sector: DarkSector,
) -> PositronNodes:
    """Nodes of the finite-width annihilation integral int T+(E+) sigma(E+) dE+ [X0 cm^2].

    The positrons whose A' energy E+ + m_e exceeds ``min_boson_energy_gev`` (the missing-energy
    cut), up to the top of the track-length spectrum (:mod:`na64stat.physics.shower`), weighted
    with :func:`resonant_cross_section_cm2`. The variable is theta = arctan((s - m^2)/(m Gamma)),
    s = 2 m_e^2 + 2 m_e E+, in which the Breit-Wigner is flat (ds / ((s - m^2)^2 + m^2 Gamma^2) =
    dtheta / (m Gamma)); Gauss-Legendre panels end at the spectrum's bin centres, where T+ (linear
    in ln E between them) has kinks, so any width, down to Gamma -> 0, is integrated accurately.

    Parameters
    ----------
    mass_gev, alpha_x:
        A' mass [GeV] and its coupling to electrons (alpha eps^2 for a dark photon).
    beam_energy_gev, min_boson_energy_gev:
        Beam energy and the smallest A' energy that counts [GeV].
    thickness_x0:
        Active-target thickness [X0].
    sector:
        The dark sector that fixes the width (:class:`DarkSector`).

    Returns
    -------
    PositronNodes
        Energies [GeV] and weights [X0 cm^2]; empty if no positron passes.
    """
    tracks = shower_track_length(beam_energy_gev, 0.5 * min_boson_energy_gev, thickness_x0)
    e_lo = max(min_boson_energy_gev - M_E_GEV, float(tracks.energy_gev[-1]))
    e_hi = float(tracks.energy_gev[0])
    if not e_hi > e_lo:
        return PositronNodes(np.zeros(0), np.zeros(0))
    gamma = aprime_total_width_gev(mass_gev, sector)
    inner = tracks.energy_gev[(tracks.energy_gev > e_lo) & (tracks.energy_gev < e_hi)]
    edges = np.unique(np.concatenate(([e_lo, e_hi], inner)))
    scale = mass_gev * gamma

    def theta_of(e: np.ndarray) -> np.ndarray:
        return np.arctan((2.0 * M_E_GEV**2 + 2.0 * M_E_GEV * e - mass_gev**2) / scale)

    theta, width = _panel_nodes(theta_of(edges))
    s = mass_gev**2 + scale * np.tan(theta)
    energy = np.clip((s - 2.0 * M_E_GEV**2) / (2.0 * M_E_GEV), e_lo, e_hi)
    sigma_times_d = resonant_cross_section_cm2(energy, mass_gev, alpha_x, sector) * (
        (s - mass_gev**2) ** 2 + scale**2
    )  # sigma D: smooth in theta
    weight = (
        width * tracks.positron_density_per_gev(energy) * sigma_times_d / scale / (2.0 * M_E_GEV)
    )
    return PositronNodes(energy, weight)


def efficiency_by_energy(
    masses_gev: ArrayLike, efficiencies: ArrayLike
) -> Callable[[np.ndarray], np.ndarray]:
    """An annihilation efficiency tabulated per mass as a function of the A' energy [GeV].

    A row at mass m was simulated with the A' at E_R(m) + m_e; the selection sees the A' energy
    (the ECAL keeps E0 - E_A'), so the row is the efficiency at that energy, whatever mass the
    Breit-Wigner tail gives the A' there. Linear between rows, constant beyond the first and last.

    >>> f = efficiency_by_energy([0.23, 0.3], [0.8, 0.6])
    >>> [round(float(x), 2) for x in f(resonance_energy_gev(np.array([0.2, 0.3, 0.4])) + M_E_GEV)]
    [0.8, 0.6, 0.6]
    """
    energy = resonance_energy_gev(np.asarray(masses_gev, dtype=float)) + M_E_GEV
    value = np.asarray(efficiencies, dtype=float)
    order = np.argsort(energy)

    def efficiency(boson_energy_gev: np.ndarray) -> np.ndarray:
        return np.interp(boson_energy_gev, energy[order], value[order])

    return efficiency


def annihilation_events_per_pot(
    mass_gev: float,
    alpha_x: float,
    beam_energy_gev: float,
    min_boson_energy_gev: float,
    target: Material,
    thickness_x0: float,
    sector: DarkSector | None = None,
    efficiency: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Resonant-annihilation A' per beam electron (times the selection efficiency, if given).

    ``sector`` None: the narrow-width yield n_e X0 T+(E_R) int sigma dE+ (module docstring),
    counted only if the A' energy E_R + m_e lies above ``min_boson_energy_gev`` (the
    missing-energy cut) and E_R below the beam energy; 0 otherwise. With a ``sector`` the
    finite-width yield n_e X0 int_{E_cut - m_e} T+(E+) sigma(E+) dE+ with the s-channel cross
    section of :func:`resonant_cross_section_cm2` and the width of ``sector``
    (:func:`positron_annihilation_nodes`): the A' carries E+ + m_e, the energy the cut sees, and
    masses below the window's edge (E_R + m_e < cut) get the Breit-Wigner tail of positrons
    above it. Method: Marsicano et al., PRL 121 (2018) 041802 and PRD 98 (2018) 015031
    (arXiv:1802.03794); NA64's use of it, Andreev et al., PRD 104 (2021) L111102
    (arXiv:2108.04195). In the limit Gamma -> 0 the two agree (tests/physics/test_annihilation.py).

    Parameters
    ----------
    mass_gev:
        A' mass [GeV].
    alpha_x:
        Coupling to electrons (alpha eps^2 for a dark photon).
    beam_energy_gev:
        Beam electron energy [GeV].
    min_boson_energy_gev:
        Smallest A' energy that counts [GeV].
    target, thickness_x0:
        Active-target material and thickness [X0].
    sector:
        The dark sector that fixes the A' width; None: narrow width.
    efficiency:
        Selection efficiency as a function of the A' energy [GeV]
        (:func:`efficiency_by_energy`), applied inside the integral (not called where the
        integrand is 0, e.g. below the chi chibar threshold); None: 1.

    Returns
    -------
    float
        A' per beam electron (x efficiency).

    >>> from na64stat.physics.constants import ALPHA_EM, LEAD
    >>> n = annihilation_events_per_pot(0.25, ALPHA_EM, 100.0, 50.0, LEAD, 40.0)
    >>> 1e-4 < n < 1e-3
    True
    >>> w = annihilation_events_per_pot(0.25, ALPHA_EM, 100.0, 50.0, LEAD, 40.0,
    ...                                 BENCHMARK_DARK_SECTOR)
    >>> 0.5 < w / n < 1.5
    True
    """
    if not (np.isfinite(mass_gev) and mass_gev > 0.0):
        raise PhysicsError(f"A' mass must be positive and finite, got {mass_gev!r} GeV")
    electrons_per_cm2_per_x0 = target.z * target.nuclei_per_cm2_per_x0
    if sector is not None:
        nodes = positron_annihilation_nodes(
            mass_gev, alpha_x, beam_energy_gev, min_boson_energy_gev, thickness_x0, sector
        )
        weight = nodes.weight
        if efficiency is not None and np.any(weight > 0.0):  # not called where nothing is made
            weight = weight * efficiency(nodes.energy_gev + M_E_GEV)
        return electrons_per_cm2_per_x0 * float(np.sum(weight))
    e_r = float(resonance_energy_gev(mass_gev))
    if not (
        e_r + M_E_GEV > min_boson_energy_gev and e_r < beam_energy_gev and mass_gev > 2.0 * M_E_GEV
    ):
        return 0.0
    # the spectrum reaches below the cut so that E_R is always interpolated between bin centres
    tracks = shower_track_length(
        beam_energy_gev, 0.5 * min(min_boson_energy_gev, e_r), thickness_x0
    )
    density = float(tracks.positron_density_per_gev(e_r))  # [X0 / GeV]
    eff = 1.0 if efficiency is None else float(efficiency(np.array([e_r + M_E_GEV]))[0])
    return (
        electrons_per_cm2_per_x0
        * density
        * eff
        * float(integrated_cross_section_cm2_gev(mass_gev, alpha_x))
    )
