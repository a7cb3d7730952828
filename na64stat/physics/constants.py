"""Physical constants and target materials, in GeV-based natural units.

Constants come from :mod:`scipy.constants` (CODATA) rather than being typed
in by hand; the conversion factors turn natural-unit results into laboratory
units (cm, cm^2, pb).

Target materials are the ones NA64 uses (the PDG's atomic and nuclear properties):
lead for the NA64e / NA64mu active ECAL target and tungsten for the
visible-mode WCAL dump.

See the physics reference (docs/physics.rst, section "Conventions").

Examples
--------
>>> from na64stat.physics.constants import ALPHA_EM, M_E_GEV, LEAD
>>> round(1 / ALPHA_EM, 3)
137.036
>>> round(M_E_GEV * 1e3, 5)
0.511
>>> LEAD.z, LEAD.x0_cm
(82, 0.5612)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import constants as _sc

from na64stat.core.errors import InputError

__all__ = [
    "ALPHA_EM",
    "E_CHARGE",
    "M_E_GEV",
    "M_MU_GEV",
    "M_TAU_GEV",
    "HBARC_GEV_CM",
    "GEV2_TO_CM2",
    "GEV2_TO_PB",
    "AVOGADRO",
    "CL90_EVENTS",
    "Material",
    "LEAD",
    "TUNGSTEN",
    "MATERIALS",
    "material",
]

#: Fine-structure constant alpha (dimensionless, CODATA, Thomson limit).
ALPHA_EM: float = _sc.fine_structure
#: Electron charge e = sqrt(4 pi alpha) in natural (Heaviside-Lorentz) units.
E_CHARGE: float = math.sqrt(4.0 * math.pi * ALPHA_EM)
#: Electron mass [GeV].
M_E_GEV: float = _sc.physical_constants["electron mass energy equivalent in MeV"][0] * 1e-3
#: Muon mass [GeV].
M_MU_GEV: float = _sc.physical_constants["muon mass energy equivalent in MeV"][0] * 1e-3
#: Tau mass [GeV].
M_TAU_GEV: float = _sc.physical_constants["tau mass energy equivalent in MeV"][0] * 1e-3
#: hbar * c [GeV cm].
HBARC_GEV_CM: float = (
    _sc.physical_constants["reduced Planck constant times c in MeV fm"][0] * 1e-3 * 1e-13
)
#: 1 GeV^-2 expressed in cm^2, (hbar c)^2.
GEV2_TO_CM2: float = HBARC_GEV_CM**2
#: 1 GeV^-2 expressed in pb (1 pb = 1e-36 cm^2).
GEV2_TO_PB: float = GEV2_TO_CM2 / 1e-36
#: Avogadro's number [1/mol].
AVOGADRO: float = _sc.Avogadro
#: Signal events excluded at 90% CL with zero observed events and no
#: background uncertainty: ln(10) = 2.303 (the Poisson limit, -ln 0.1).
CL90_EVENTS: float = math.log(10.0)


@dataclass(frozen=True)
class Material:
    """A target material.

    Attributes
    ----------
    name:
        Chemical symbol.
    z:
        Atomic number.
    a:
        Atomic mass [g/mol] (also used as the mass number in the nuclear form
        factor of eq. (26)).
    density_g_cm3:
        Density [g/cm^3].
    x0_cm:
        Radiation length [cm].
    """

    name: str
    z: int
    a: float
    density_g_cm3: float
    x0_cm: float

    @property
    def nuclei_per_cm3(self) -> float:
        """Number density of nuclei, rho N_A / A [1/cm^3] (eq. (57))."""
        return self.density_g_cm3 * AVOGADRO / self.a

    @property
    def nuclei_per_cm2_per_x0(self) -> float:
        """Areal density of nuclei in one radiation length [1/cm^2].

        This is what a track length measured in radiation lengths multiplies:
        N = n_nuclei/cm^3 * X0 * (track length in X0) * sigma.
        """
        return self.nuclei_per_cm3 * self.x0_cm


#: Lead (PDG, atomic and nuclear properties): Z = 82, A = 207.2, rho = 11.35 g/cm^3, X0 = 0.5612 cm.
LEAD = Material(name="Pb", z=82, a=207.2, density_g_cm3=11.35, x0_cm=0.5612)
#: Tungsten (PDG, atomic and nuclear properties): Z = 74, A = 183.84, rho = 19.3 g/cm^3, X0 = 0.3504
#: cm.
TUNGSTEN = Material(name="W", z=74, a=183.84, density_g_cm3=19.3, x0_cm=0.3504)

MATERIALS: dict[str, Material] = {LEAD.name: LEAD, TUNGSTEN.name: TUNGSTEN}


def material(name: str) -> Material:
    """Return a target material by its chemical symbol (``"Pb"`` or ``"W"``).

    >>> material("W").z
    74
    """
    try:
        return MATERIALS[name]
    except KeyError:
        raise InputError(
            f"unknown target material {name!r}; known: {', '.join(sorted(MATERIALS))}"
        ) from None
