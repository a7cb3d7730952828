"""Limit curves in the field's exchange formats: darkcast ``.lmt`` and CombineHarvester limit JSON.

* darkcast ``.lmt``: a header line first (``#  mass  lower`` for an upper
  limit, ``#  mass  lower  upper`` for a two-sided excluded region), then one
  line per mass: ``mass_GeV lower [upper]``, whitespace separated. darkcast's
  reader of two-sided bounds (``utils.Datasets``) takes the column names from
  the file's first line and drops anything after a ``#`` on the others, so
  :func:`write_lmt` puts its comments after the header; its one-column reader
  (``utils.Dataset``) ignores every ``#`` line. :func:`read_lmt` reads both,
  and comments anywhere.
* CombineHarvester (``combineTool.py -M CollectLimits``) JSON: ``{mass:
  {"obs", "exp-2", "exp-1", "exp0", "exp+1", "exp+2"}}``, the limits on the
  signal strength, keyed by the mass as Python prints it (``str(mh)``, e.g.
  ``"0.00373"``, ``"120.0"``); ``--limit-err`` adds ``"<key>_err"`` (the
  Monte-Carlo error of each limit) and ``--toys`` a ``"toys"`` object of
  per-toy limit lists. :func:`combine_limits_from_scan` turns a
  ``limits.json`` of ``na64stat limits`` into it (with the ``*_err`` of
  toys and exact counting), :func:`write_combine_limits` and
  :func:`read_combine_limits` write and read it.

Examples
--------
>>> combine_limits_from_scan({"limits": {"0.01": {"metadata": {"mass_gev": 0.01}, "observed": 2.0,
...     "expected": {"-2sigma": 1, "-1sigma": 1.5, "median": 2, "+1sigma": 3,
...                  "+2sigma": 4}}}})["0.01"]["exp0"]
2.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from na64stat.core.errors import InputError
from na64stat.core.io import write_json_atomic, write_text_atomic
from na64stat.core.loaders import load_json
from na64stat.core.vocabulary import BAND_NAMES
from na64stat.inference.limits import UpperLimit
from na64stat.inference.scan import ScanResult

__all__ = [
    "LmtCurve",
    "read_lmt",
    "write_lmt",
    "COMBINE_KEYS",
    "COMBINE_ERROR_KEYS",
    "combine_limits_from_scan",
    "write_combine_limits",
    "read_combine_limits",
    "COMBINE_LIMITS_NAME",
]

#: CombineHarvester's keys and the ``limits.json`` bands they hold.
COMBINE_KEYS = {
    "obs": None,
    "exp-2": "-2sigma",
    "exp-1": "-1sigma",
    "exp0": "median",
    "exp+1": "+1sigma",
    "exp+2": "+2sigma",
}
#: CollectLimits' key of each limit's error (``--limit-err``).
COMBINE_ERROR_KEYS = {f"{key}_err": key for key in COMBINE_KEYS}
#: File name of the CombineHarvester JSON written next to ``limits.json``.
COMBINE_LIMITS_NAME = "limits_combine.json"


@dataclass(frozen=True)
class LmtCurve:
    """A darkcast limit: masses [GeV], the lower (or only) coupling column, the upper column if
    two-sided.
    """

    mass_gev: np.ndarray
    lower: np.ndarray
    upper: np.ndarray | None = None
    comments: tuple[str, ...] = ()


def read_lmt(path: str | os.PathLike[str], *, min_points: int = 2) -> LmtCurve:
    """Read a darkcast ``.lmt`` file; a malformed line or too few points is an InputError naming the
    file and line.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read limit file {source}: {exc}") from None
    rows: list[list[float]] = []
    comments = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line, _, comment = raw.partition("#")
        if comment.strip() or raw.strip().startswith("#"):
            comments.append(comment.strip())
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(
                f"{source}: line {number} is not 'mass value [value]': {line[:60]!r}"
            ) from None
        if len(values) not in (2, 3):
            raise InputError(f"{source}: line {number} is not 'mass value [value]': {line[:60]!r}")
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise InputError(
                f"{source}: line {number} needs positive finite numbers, got {line[:60]!r}"
            )
        if rows and len(values) != len(rows[0]):
            raise InputError(
                f"{source}: line {number} has {len(values) - 1} coupling columns, "
                f"the first data line {len(rows[0]) - 1}"
            )
        rows.append(values)
    if len(rows) < min_points:
        raise InputError(f"{source}: fewer than {'two' if min_points == 2 else min_points} points")
    table = np.array(rows, dtype=float)
    return LmtCurve(
        table[:, 0], table[:, 1], table[:, 2] if table.shape[1] == 3 else None, tuple(comments)
    )


def write_lmt(
    path: str | os.PathLike[str],
    mass_gev: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float] | None = None,
    comments: Sequence[str] = (),
) -> Path:
    """Write a darkcast ``.lmt`` file (atomically); points with a missing or non-positive value are
    left out.

    The first line is the header darkcast's two-sided reader takes the column
    names from (``#  mass  lower  upper``, or ``#  mass  lower``), the
    comments follow it as ``#`` lines, then one line per mass. Values are
    written with 10 significant digits (``%.9e``), so :func:`read_lmt` gives
    them back to 1e-9.
    """
    columns = [np.asarray(mass_gev, dtype=float), np.asarray(lower, dtype=float)]
    if upper is not None:
        columns.append(np.asarray(upper, dtype=float))
    if len({len(c) for c in columns}) != 1:
        raise InputError(f"write_lmt: columns of different lengths {[len(c) for c in columns]}")
    lines = ["#" + "".join(f"{name:>17}" for name in ("mass", "lower", "upper")[: len(columns)])]
    lines += [f"# {line}".rstrip() for c in comments for line in str(c).splitlines() or [""]]
    for row in zip(*columns):
        if all(math.isfinite(v) and v > 0 for v in row):
            lines.append(" " + " ".join(f"{v:16.9e}" for v in row))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def _mass_key(mass: float) -> str:
    """A mass as CollectLimits keys it (Python's ``str`` of the float), after rounding to 10
    significant digits, so that a mass computed with float noise (0.0037300000000000002) is keyed as
    written (``"0.00373"``).

    >>> _mass_key(0.0037300000000000002), _mass_key(120)
    ('0.00373', '120.0')
    """
    return str(float(f"{float(mass):.10g}"))


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def combine_limits_from_scan(
    limits: ScanResult | Mapping[str, Any], source: str = "limits file"
) -> dict[str, dict[str, float]]:
    """CombineHarvester-style ``{mass: {"obs", "exp-2", ..., "exp+2"}}`` from a ``limits.json``
    content.

    The key is the patch's ``mass_gev`` as CollectLimits prints a mass
    (:func:`_mass_key`; the point key where masses repeat, e.g. visible-mode
    points per coupling); each limit with a Monte-Carlo error (toys, exact
    counting) also gets its ``"<key>_err"``, as ``CollectLimits --limit-err``
    writes; missing values are left out.
    """
    scan = limits if isinstance(limits, ScanResult) else ScanResult.from_dict(limits, source)
    masses = [p.metadata.get("mass_gev") for p in scan.points]
    keys = [_mass_key(m) if _finite(m) else None for m in masses]
    unique = None not in keys and len(set(keys)) == len(keys)
    out: dict[str, dict[str, float]] = {}
    for point, key in zip(scan.points, keys):
        out[key if unique and key is not None else point.key] = _combine_entry(point.limit)
    return dict(sorted(out.items(), key=lambda item: _sort_key(item[0])))


def _combine_entry(limit: UpperLimit) -> dict[str, float]:
    """CombineHarvester's limits of one point, each finite one with its finite error
    (``"<key>_err"``), sorted.
    """
    band = dict(zip(BAND_NAMES, zip(limit.expected, limit.expected_error)))
    entry = {}
    for combine_key, name in COMBINE_KEYS.items():
        value, error = (limit.observed, limit.observed_error) if name is None else band[name]
        if _finite(value):
            entry[combine_key] = float(value)
            if _finite(error):
                entry[f"{combine_key}_err"] = float(error)
    return dict(sorted(entry.items()))


def _sort_key(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def write_combine_limits(
    path: str | os.PathLike[str], limits: ScanResult | Mapping[str, Any]
) -> Path:
    """Write the CombineHarvester JSON of a ``limits.json`` content (atomically)."""
    return write_json_atomic(path, combine_limits_from_scan(limits))


def _limit_value(path: str | os.PathLike[str], mass: str, key: str, value: Any) -> float:
    """A number; CollectLimits' toy mode can leave a one-element list where a number belongs."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not _finite(value):
        raise InputError(f"{path}: entry {mass!r}: {key} must be a finite number, got {value!r}")
    return float(value)


def read_combine_limits(path: str | os.PathLike[str]) -> dict[float | str, dict[str, Any]]:
    """Read a CombineHarvester limit JSON: masses (as floats where they are numbers) to their
    limits.

    Reads what ``combineTool.py -M CollectLimits`` writes, also with
    ``--limit-err`` (``"<key>_err"`` numbers) and ``--toys`` (a ``"toys"``
    object of per-toy limit lists, kept as lists of floats under ``"toys"``).
    """
    content = load_json(path, "CombineHarvester limits")
    if not isinstance(content, dict):
        raise InputError(f"{path}: a CombineHarvester limit file is a JSON object of masses")
    allowed = set(COMBINE_KEYS) | set(COMBINE_ERROR_KEYS) | {"toys"}
    out: dict[float | str, dict[str, Any]] = {}
    for key, entry in content.items():
        if not isinstance(entry, dict) or not set(entry) <= allowed:
            raise InputError(
                f"{path}: entry {key!r} must be an object with keys among "
                f"{', '.join(COMBINE_KEYS)}, their '_err' and 'toys'"
            )
        values: dict[str, Any] = {
            k: _limit_value(path, key, k, v) for k, v in entry.items() if k != "toys"
        }
        if "toys" in entry:
            toys = entry["toys"]
            if (
                not isinstance(toys, dict)
                or not set(toys) <= set(COMBINE_KEYS)
                or not all(
                    isinstance(v, list) and all(_finite(x) for x in v) for v in toys.values()
                )
            ):
                raise InputError(
                    f"{path}: entry {key!r}: 'toys' must map {', '.join(COMBINE_KEYS)} to lists of "
                    "numbers"
                )
            values["toys"] = {k: [float(x) for x in v] for k, v in toys.items()}
        try:
            mass: float | str = float(key)
        except ValueError:
            mass = key
        out[mass] = values
    return out
