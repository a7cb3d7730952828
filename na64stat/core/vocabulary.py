"""The words the stages share about limits, defined once: statuses, methods and the expected bands.

Each is a :data:`typing.Literal` (what a type checker enforces) and a tuple of
its values (what code iterates and validates against).

>>> BAND_NAMES
('-2sigma', '-1sigma', 'median', '+1sigma', '+2sigma')
>>> dict(zip(BAND_NAMES, N_SIGMAS))["-2sigma"]   # the -2 sigma limit:
... # the b-only statistic at +2 sigma
2
>>> "approximate" in LIMIT_STATUSES
True
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "BAND_NAMES",
    "LIMIT_STATUSES",
    "METHODS",
    "N_SIGMAS",
    "BandName",
    "LimitStatus",
    "Method",
]

#: Status of one limit (observed or one band):
#: ``ok`` - CLs crosses 1 - CL inside the search range;
#: ``no_crossing`` - it does not (the value is NaN);
#: ``fit_failure`` - a fit failed where the crossing had to be evaluated;
#: ``low_toy_statistics`` - toys reached their cap before the CLs error at the crossing met the
#: target;
#: ``approximate`` - asymptotic formulae at small counts, where they are known to be too strong.
LimitStatus = Literal["ok", "no_crossing", "fit_failure", "low_toy_statistics", "approximate"]
LIMIT_STATUSES: tuple[str, ...] = get_args(LimitStatus)

#: How CLs is computed (``auto`` chooses one of the others).
Method = Literal["auto", "asymptotic", "toys", "exact"]
METHODS: tuple[str, ...] = get_args(Method)

#: Expected limits in pyhf's order: -2, -1, 0, +1, +2 sigma.
BandName = Literal["-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"]
BAND_NAMES: tuple[str, ...] = get_args(BandName)
#: For each band, the b-only test statistic's quantile in sigma (the -2 sigma limit is the b-only
#: statistic at +2 sigma: pyhf's convention).
N_SIGMAS: tuple[int, ...] = (2, 1, 0, -1, -2)
