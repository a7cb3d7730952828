"""Validation of numbers read from files and options: finite, signed as required, masses in range.

>>> check_mass(0.0167, "mass")
0.0167
"""

from __future__ import annotations

import math
from typing import Any

from na64stat.core.errors import InputError

__all__ = ["MAX_MASS_GEV", "check_number", "check_mass"]


#: Largest boson mass [GeV] a limits or couplings file may carry (NA64 probes MeV - GeV masses).
MAX_MASS_GEV = 100.0


def check_number(
    value: Any, what: str, *, positive: bool = False, allow_none: bool = False
) -> float | None:
    """A finite number (>= 0, or > 0 with ``positive``); text, NaN, inf and negatives are
    InputErrors naming ``what``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise InputError(
            f"{what} must be a finite {'positive' if positive else 'non-negative'} number, got "
            f"{value!r}"
        )
    return number


def check_mass(value: Any, what: str) -> float:
    """A mass in GeV in (0, :data:`MAX_MASS_GEV`]."""
    mass = check_number(value, what, positive=True)
    assert mass is not None
    if mass > MAX_MASS_GEV:
        raise InputError(
            f"{what} = {mass:g} GeV is above the limit of {MAX_MASS_GEV:g} GeV (a mass in MeV?)"
        )
    return mass
