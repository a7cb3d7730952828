"""Statistical inference: CLs upper limits (asymptotic, toys, exact counting) and mass scans.

See the physics reference (docs/physics.rst, section "Statistics").
"""

from na64stat.inference.calculators import (
    AsymptoticCalculator,
    CLsPoint,
    ExactCalculator,
    ToyCalculator,
)
from na64stat.inference.likelihood import FitResult, Likelihood
from na64stat.inference.limits import UpperLimit, choose_method, upper_limit

__all__ = [
    "AsymptoticCalculator",
    "CLsPoint",
    "ExactCalculator",
    "FitResult",
    "Likelihood",
    "ToyCalculator",
    "UpperLimit",
    "choose_method",
    "upper_limit",
]
