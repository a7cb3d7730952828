"""Long-lived chi2 in the pseudo-Dirac scenario: Appendix B of the review.

A' -> chi1 chi2 with chi2 -> chi1 e+ e- (eq. 117) still looks like missing
energy if chi2 decays outside the experiment or inside the active ECAL
(eq. 126). The probability is smallest at l_chi2 = l_min (eq. 128), which
gives a model-independent correction to the invisible-mode limit (eq. 131).

Lengths in cm.

See the physics reference (docs/physics.rst, section "Long-lived states").

Examples
--------
The NA64 review (arXiv:2003.07257, Appendix B): l_exp = 650 cm, l_ECAL = 40 cm give l_min = 218.8
cm, P_min = 0.218 and a factor 1/P_min = 4.58 on eps^2.

>>> round(l_chi2_min_cm(650.0, 40.0), 1), round(missing_energy_probability_min(650.0, 40.0), 3)
(218.8, 0.218)
>>> round(epsilon2_limit_correction(650.0, 40.0), 2)
4.58
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import PhysicsError

__all__ = [
    "NA64_L_EXP_CM",
    "NA64_L_ECAL_ACTIVE_CM",
    "probability_outside_decay",
    "probability_decay_in_ecal",
    "missing_energy_probability",
    "l_chi2_min_cm",
    "missing_energy_probability_min",
    "epsilon2_limit_correction",
    "decay_probability_in_window",
]

#: Distance from the ECAL front to the end of the last HCAL module [cm] (Appendix B).
NA64_L_EXP_CM: float = 650.0
#: Active ECAL length used for eq. (130) [cm] (the NA64 review, arXiv:2003.07257, quotes ~45 cm
#: and uses 40 cm; docs/physics.rst, "Long-lived states").
NA64_L_ECAL_ACTIVE_CM: float = 40.0


def _check_lengths(l_exp_cm: float, l_ecal_cm: float) -> None:
    if not (0.0 < l_ecal_cm < l_exp_cm):
        raise PhysicsError(f"need 0 < l_ECAL ({l_ecal_cm} cm) < l_exp ({l_exp_cm} cm)")


def probability_outside_decay(l_chi2_cm: ArrayLike, l_exp_cm: float = NA64_L_EXP_CM) -> np.ndarray:
    """P(chi2 decays beyond the experiment) = exp(-l_exp / l_chi2), eq. (123)."""
    return np.exp(-l_exp_cm / np.asarray(l_chi2_cm, dtype=float))


def probability_decay_in_ecal(
    l_chi2_cm: ArrayLike, l_ecal_cm: float = NA64_L_ECAL_ACTIVE_CM
) -> np.ndarray:
    """P(chi2 decays inside the active ECAL) = 1 - exp(-l_ECAL / l_chi2), eq. (125)."""
    return -np.expm1(-l_ecal_cm / np.asarray(l_chi2_cm, dtype=float))


def missing_energy_probability(
    l_chi2_cm: ArrayLike, l_exp_cm: float = NA64_L_EXP_CM, l_ecal_cm: float = NA64_L_ECAL_ACTIVE_CM
) -> np.ndarray:
    """Total probability that the event still shows missing energy, eq. (126).

    >>> (round(float(missing_energy_probability(1e12)), 6),
    ...  round(float(missing_energy_probability(1e-3)), 6))
    (1.0, 1.0)
    """
    _check_lengths(l_exp_cm, l_ecal_cm)
    return probability_decay_in_ecal(l_chi2_cm, l_ecal_cm) + probability_outside_decay(
        l_chi2_cm, l_exp_cm
    )


def l_chi2_min_cm(
    l_exp_cm: float = NA64_L_EXP_CM, l_ecal_cm: float = NA64_L_ECAL_ACTIVE_CM
) -> float:
    """Decay length that minimises eq. (126): (l_exp - l_ECAL) / ln(l_exp / l_ECAL), eq. (128)."""
    _check_lengths(l_exp_cm, l_ecal_cm)
    return (l_exp_cm - l_ecal_cm) / math.log(l_exp_cm / l_ecal_cm)


def missing_energy_probability_min(
    l_exp_cm: float = NA64_L_EXP_CM, l_ecal_cm: float = NA64_L_ECAL_ACTIVE_CM
) -> float:
    """P_min, eq. (129): eq. (126) at l_min."""
    return float(
        missing_energy_probability(l_chi2_min_cm(l_exp_cm, l_ecal_cm), l_exp_cm, l_ecal_cm)
    )


def epsilon2_limit_correction(
    l_exp_cm: float = NA64_L_EXP_CM, l_ecal_cm: float = NA64_L_ECAL_ACTIVE_CM
) -> float:
    """Factor 1/P_min by which the invisible eps^2 limit weakens, eq. (131)."""
    return 1.0 / missing_energy_probability_min(l_exp_cm, l_ecal_cm)


def decay_probability_in_window(
    l_decay_cm: ArrayLike, start_cm: float, end_cm: float
) -> np.ndarray:
    """P(decay between ``start_cm`` and ``end_cm`` from production) = e^(-s/l) - e^(-e/l).

    Used for visible-mode decays behind a dump (e.g. A' -> e+e- after the WCAL).

    >>> round(float(decay_probability_in_window(100.0, 0.0, 1e9)), 6)
    1.0
    """
    if not (0.0 <= start_cm < end_cm):
        raise PhysicsError(f"need 0 <= start ({start_cm} cm) < end ({end_cm} cm)")
    length = np.asarray(l_decay_cm, dtype=float)
    return np.exp(-start_cm / length) - np.exp(-end_cm / length)
