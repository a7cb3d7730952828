"""na64stat: statistical analysis for dark-sector searches at NA64-style experiments.

The package is organised by stage, in the order the data flows:
``core`` (shared helpers), ``physics``, ``simulation``, ``selection``, ``model``
(backgrounds, workspaces), ``inference`` (CLs limits), ``results`` and ``app``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from na64stat.core.errors import InputError, Na64StatError, PhysicsError, ResourceError

try:
    __version__ = version("na64stat")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "Na64StatError", "PhysicsError", "InputError", "ResourceError"]
