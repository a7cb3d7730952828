"""The project's exception types.

Every error raised on purpose by na64stat derives from :class:`Na64StatError`,
so a script can catch them all at once and the command line can turn them into
one readable line and a non-zero exit code.
"""

from __future__ import annotations

__all__ = ["Na64StatError", "PhysicsError", "InputError", "ResourceError"]


class Na64StatError(Exception):
    """Base class of every error na64stat raises on purpose."""


class PhysicsError(Na64StatError, ValueError):
    """A physics function was asked for something outside its domain.

    Examples: a negative mass, a mass outside a tabulated range, a beam energy
    below the missing-energy cut.
    """


class InputError(Na64StatError, ValueError):
    """User input (a command-line option, a setup name, a file) is invalid."""


class ResourceError(Na64StatError, RuntimeError):
    """A data file shipped with the package is missing or malformed."""
