"""Physics of dark-sector signal yields at NA64-style experiments.

Pure functions, no I/O beyond the package's own data tables. Submodules:

* :mod:`~na64stat.physics.constants` - constants and target materials;
* :mod:`~na64stat.physics.production` - A'/Z' production cross sections (eqs. 21-26, 56);
* :mod:`~na64stat.physics.shower` - shower track lengths for thick targets;
* :mod:`~na64stat.physics.setups` - the NA64 setups (beam, target, cut, exposure; sources);
* :mod:`~na64stat.physics.efficiencies` - simulated signal efficiency per setup and mass;
* :mod:`~na64stat.physics.yields` - signal yields and background-free reach (eq. 57);
* :mod:`~na64stat.physics.decays` - widths and decay lengths (eqs. 8-10, 117-118);
* :mod:`~na64stat.physics.models` - the registry of signal models (charges, mixing, dark decays);
* :mod:`~na64stat.physics.model_widths` - any model's widths, Br(invisible) and production rate;
* :mod:`~na64stat.physics.couplings` - loop mixing, g-2, y, relic targets (eqs. 29-32, 54, 105-113);
* :mod:`~na64stat.physics.longlived` - Appendix B probabilities (eqs. 123-131).

See the physics reference (docs/physics.rst) for every formula with its paper.
"""

from na64stat.physics import (
    constants,
    couplings,
    decays,
    efficiencies,
    longlived,
    production,
    setups,
    shower,
    yields,
)
from na64stat.physics.setups import SETUPS, Setup, get_setup
from na64stat.physics.yields import Reach, background_free_reach

__all__ = [
    "constants",
    "couplings",
    "decays",
    "longlived",
    "production",
    "shower",
    "setups",
    "efficiencies",
    "yields",
    "SETUPS",
    "Setup",
    "Reach",
    "get_setup",
    "background_free_reach",
]
