"""Reference data shipped with the package (``na64stat/resources/*.json``).

Each JSON file carries its own source citation (repository, path, commit,
paper); ``resources/README.md`` lists them. This module only reads them and
returns small typed records.

Examples
--------
>>> from na64stat.core.references import load_curve
>>> curve = load_curve("na64e_invisible_2019")
>>> curve.coupling, curve.confidence_level
('epsilon', 0.9)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import ResourceError

__all__ = ["ReferenceCurve", "load_resource", "load_curve", "available_resources"]

_PACKAGE = "na64stat"
_FOLDER = "resources"


def available_resources() -> list[str]:
    """Names (without ``.json``) of every data file shipped with the package."""
    folder = resources.files(_PACKAGE) / _FOLDER
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def _read_json(name: str) -> str:
    path = resources.files(_PACKAGE) / _FOLDER / f"{name}.json"
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ResourceError(
            f"package resource {_FOLDER}/{name}.json is missing; known: "
            f"{', '.join(available_resources())}"
        ) from exc


def load_resource(name: str) -> dict[str, Any]:
    """Return the parsed content of ``resources/<name>.json`` (a fresh copy)."""
    try:
        return json.loads(_read_json(name))
    except json.JSONDecodeError as exc:
        raise ResourceError(
            f"package resource {_FOLDER}/{name}.json is not valid JSON: {exc}"
        ) from exc


@dataclass(frozen=True)
class ReferenceCurve:
    """A published or computed curve in (mass, coupling).

    Attributes
    ----------
    name, description:
        Identifier and one-line description.
    coupling:
        Which coupling the values are: ``"epsilon"``, ``"g_z_prime"`` or ``"y"``.
    confidence_level:
        0.9 for a 90% CL limit, ``None`` for bands and theory targets.
    mass_gev:
        Masses [GeV], ascending.
    lower, upper:
        Coupling values; ``upper`` is ``None`` for one-sided curves.
    source:
        Where the numbers come from (repository, path, commit, reference).
    """

    name: str
    description: str
    coupling: str
    confidence_level: float | None
    mass_gev: np.ndarray
    lower: np.ndarray
    upper: np.ndarray | None
    source: dict[str, Any]

    def interpolate(self, mass_gev: ArrayLike, which: str = "lower") -> np.ndarray:
        """Log-log interpolation of the curve at ``mass_gev`` [GeV].

        Returns NaN outside the tabulated mass range rather than extrapolating.

        >>> c = load_curve("na64e_invisible_2019")
        >>> 5e-6 < float(c.interpolate(0.001)) < 1e-5
        True
        """
        values = self.lower if which == "lower" else self.upper
        if values is None:
            raise ResourceError(f"curve {self.name!r} has no {which!r} column")
        m = np.asarray(mass_gev, dtype=float)
        out = np.exp(
            np.interp(np.log(m), np.log(self.mass_gev), np.log(values), left=np.nan, right=np.nan)
        )
        return out


def load_curve(name: str) -> ReferenceCurve:
    """Load a reference curve (see ``resources/README.md`` for the names)."""
    raw = load_resource(name)
    try:
        mass = np.asarray(raw["mass_gev"], dtype=float)
        lower = np.asarray(raw["lower"], dtype=float)
        upper = None if raw.get("upper") is None else np.asarray(raw["upper"], dtype=float)
        order = np.argsort(mass, kind="stable")
        return ReferenceCurve(
            name=raw["name"],
            description=raw["description"],
            coupling=raw["coupling"],
            confidence_level=raw.get("confidence_level"),
            mass_gev=mass[order],
            lower=lower[order],
            upper=None if upper is None else upper[order],
            source=raw["source"],
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ResourceError(
            f"package resource {_FOLDER}/{name}.json is malformed: {exc!r}"
        ) from exc
