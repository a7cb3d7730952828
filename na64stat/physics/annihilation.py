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

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import PhysicsError
from na64stat.physics.constants import GEV2_TO_CM2, M_E_GEV, Material
from na64stat.physics.decays import width_to_fermions_gev
from na64stat.physics.shower import shower_track_length

__all__ = [
    "resonance_energy_gev",
    "resonance_mass_gev",
    "integrated_cross_section_cm2_gev",
    "breit_wigner_cross_section_cm2",
    "annihilation_events_per_pot",
    "RESONANCE_SCAN_MASSES_GEV",
    "with_resonance_masses",
]

#: Masses [GeV] that every NA64e mass scan adds (shipped workspaces, the main job) so that the
#: resonant-annihilation window of a 100 GeV beam with the E_miss > 50 GeV cut, 226.1 - 320 MeV
#: (resonance_mass_gev(50) + ...; the yield steps up at its lower edge and falls smoothly to 0 at
#: E_R = E0), is drawn as a dip and not as a one-point spike: 150 MeV on the approach, one point on
#: each side of the lower edge (225.5 and 227 MeV) and 240 - 310 MeV through the window. With a
#: scan's own 193 / 200 and 268 MeV points, at least 8 masses fall between 150 and 320 MeV.
RESONANCE_SCAN_MASSES_GEV: tuple[float, ...] = (0.15, 0.2255, 0.227, 0.24, 0.268, 0.295, 0.31)


def with_resonance_masses(masses_gev: tuple[float, ...]) -> tuple[float, ...]:
    """``masses_gev`` with :data:`RESONANCE_SCAN_MASSES_GEV` added, sorted, each once (within 1e-9 relative).

    >>> with_resonance_masses((0.1, 0.31, 1.0))
    (0.1, 0.15, 0.2255, 0.227, 0.24, 0.268, 0.295, 0.31, 1.0)
    """
    out: list[float] = []
    for m in sorted(float(x) for x in (*masses_gev, *RESONANCE_SCAN_MASSES_GEV)):
        if not out or abs(m / out[-1] - 1.0) > 1e-9:
            out.append(m)
    return tuple(out)


def resonance_energy_gev(mass_gev: ArrayLike) -> np.ndarray:
    """Positron energy E_R = (m^2 - 2 m_e^2)/(2 m_e) [GeV] at which e+ e-(at rest) -> A' is on resonance.

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
    """sigma(e+ e- -> A' -> f) = 12 pi Gamma_ee Gamma / ((s - m^2)^2 + m^2 Gamma^2) [cm^2], Br_f = 1.

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


def annihilation_events_per_pot(
    mass_gev: float,
    alpha_x: float,
    beam_energy_gev: float,
    min_boson_energy_gev: float,
    target: Material,
    thickness_x0: float,
) -> float:
    """Resonant-annihilation A' per beam electron, n_e X0 T+(E_R) int sigma dE+ (module docstring).

    Counted only if the A' energy E_R (+ m_e) lies above ``min_boson_energy_gev``
    (the missing-energy cut) and E_R is below the beam energy; 0 otherwise.

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

    >>> from na64stat.physics.constants import ALPHA_EM, LEAD
    >>> n = annihilation_events_per_pot(0.25, ALPHA_EM, 100.0, 50.0, LEAD, 40.0)
    >>> 1e-4 < n < 1e-3
    True
    """
    if not (np.isfinite(mass_gev) and mass_gev > 0.0):
        raise PhysicsError(f"A' mass must be positive and finite, got {mass_gev!r} GeV")
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
    electrons_per_cm2_per_x0 = target.z * target.nuclei_per_cm2_per_x0
    return (
        electrons_per_cm2_per_x0
        * density
        * float(integrated_cross_section_cm2_gev(mass_gev, alpha_x))
    )
