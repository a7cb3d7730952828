"""na64stat: statistical analysis for dark-sector searches at NA64-style experiments.

The package is organised as a pipeline (see ``DESIGN.md`` in the shared notes):
``physics`` (cross sections, yields, widths, couplings) feeds event simulation,
selections, pyhf workspaces and CLs limits.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from na64stat.errors import InputError, Na64StatError, PhysicsError, ResourceError

try:
    __version__ = version("na64stat")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "Na64StatError", "PhysicsError", "InputError", "ResourceError"]
