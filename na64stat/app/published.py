"""Every published curve the package ships, against the prediction from its exposure and setup
alone.

``na64stat reproduce published`` prints, for each curve of
:data:`PUBLISHED_CURVES`, the ratio prediction / published coupling at
:data:`COMPARISON_MASSES_GEV` (1, 10, 100, 1000 MeV; ``n/a`` where the curve
does not cover the mass) and writes the same numbers as JSON.

The prediction uses nothing fitted to a curve: the setup of
:mod:`na64stat.physics.yields` (its computed signal efficiency, cross
sections, target) at the publication's exposure.

* Invisible mode (one-sided upper limit on epsilon): the background-free
  90% CL reach, 2.303 signal events
  (:func:`~na64stat.physics.yields.background_free_reach`).
* Visible mode (two-sided excluded band in epsilon): the epsilon range where
  the expected signal of the publication's runs (production in the WCAL x
  decay between the vetoes and S4, :mod:`na64stat.physics.visible`) exceeds
  2.303 events (:func:`~na64stat.physics.visible.excluded_epsilon_range`); the
  lower and the upper edge are compared separately.

No NA64mu curve is shipped (``na64stat/resources``), so the NA64mu 2022
prediction has no ratio here.

Examples
--------
>>> [c.resource for c in PUBLISHED_CURVES][:1]
['na64e_invisible_2016']
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from na64stat.core.io import write_json_atomic, write_text_atomic
from na64stat.core.references import load_curve
from na64stat.physics.constants import CL90_EVENTS, M_E_GEV
from na64stat.physics.setups import Setup, get_setup
from na64stat.physics.yields import background_free_reach
from na64stat.results.summary import WITHOUT_ANNIHILATION

__all__ = [
    "PublishedCurve",
    "PUBLISHED_CURVES",
    "NOT_SHIPPED",
    "COMPARISON_MASSES_GEV",
    "published_comparison",
    "format_published_table",
    "reproduce_published",
]

#: Masses of the comparison [GeV]: 1, 10, 100 and 1000 MeV.
COMPARISON_MASSES_GEV: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)


@dataclass(frozen=True)
class PublishedCurve:
    """A shipped published curve and what its prediction needs.

    Attributes
    ----------
    resource:
        Name of the curve in ``na64stat/resources`` (:func:`~na64stat.core.references.load_curve`).
    setup:
        Setup of :mod:`na64stat.physics.yields` the prediction uses.
    exposure:
        Particles on target of the publication (the curve's description cites it).
    publication:
        Journal reference.
    notes:
        What the prediction assumes beyond the setup.
    visible_runs:
        Visible mode: the runs of :data:`na64stat.physics.visible.VISIBLE_RUNS`
        behind the curve (their exposures add up to ``exposure``).
    """

    resource: str
    setup: str
    exposure: float
    publication: str
    notes: tuple[str, ...] = ()
    visible_runs: tuple[str, ...] = ()

    @property
    def positron_annihilation(self) -> bool:
        """Whether the publication counted e+ e- -> A' (NA64 did from its 2016-2022 analysis on):
        not for the curves of :data:`na64stat.results.summary.WITHOUT_ANNIHILATION`, nor for the
        visible mode (which has no annihilation term).
        """
        return not self.visible_runs and self.resource not in WITHOUT_ANNIHILATION


#: The published curves the package ships (``resources/README.md``) with their exposures.
PUBLISHED_CURVES: tuple[PublishedCurve, ...] = (
    PublishedCurve(
        "na64e_invisible_2016",
        "na64e-invisible",
        2.75e9,
        "PRL 118 (2017) 011802",
        ("signal box as in 2016-2018 (E_ECAL < 50 GeV): an assumption for the first run",),
    ),
    PublishedCurve(
        "na64e_invisible_2017",
        "na64e-invisible",
        4.3e10,
        "PRD 97 (2018) 072002",
        ("signal box as in 2016-2018 (E_ECAL < 50 GeV): an assumption for the 2016 data",),
    ),
    PublishedCurve("na64e_invisible_2019", "na64e-invisible", 2.84e11, "PRL 123 (2019) 121801"),
    PublishedCurve(
        "na64e_visible_2018",
        "na64e-visible",
        5.4e10,
        "PRL 120 (2018) 231802",
        visible_runs=("2017",),
    ),
    PublishedCurve(
        "na64e_visible_2019",
        "na64e-visible",
        8.4e10,
        "PRD 101 (2020) 071101",
        visible_runs=("2017", "2018"),
    ),
)


#: Published results without a shipped curve: (setup of :mod:`na64stat.physics.yields`, what is
#: missing).
NOT_SHIPPED: tuple[tuple[str, str], ...] = (
    (
        "na64mu-invisible",
        "NA64mu 2022 (PRL 132 (2024) 211803): no published curve in na64stat/resources, so no "
        "ratio",
    ),
    ("na64e-invisible", "NA64e 2016-2022 (PRL 131 (2023) 161801): likewise"),
)


def _setup_for(curve: PublishedCurve) -> Setup:
    """The curve's setup at its exposure, with positron annihilation as the publication counted
    it.
    """
    return get_setup(curve.setup).with_(
        exposure=curve.exposure, positron_annihilation=curve.positron_annihilation
    )


def visible_excluded_band(runs: Sequence[str], mass_gev: float) -> tuple[float, float]:
    """Epsilon range (lower, upper) where the runs' visible-mode signal exceeds 2.303 events (NaN,
    NaN if nowhere).

    >>> lo, hi = visible_excluded_band(("2017",), 0.0167)
    >>> bool(1e-5 < lo < hi < 1e-2)
    True
    """
    from na64stat.physics.visible import excluded_epsilon_range, get_runs

    return excluded_epsilon_range(get_runs(runs), mass_gev, CL90_EVENTS)


def _ratio(ours: float, published: float) -> float | None:
    return (
        float(ours / published)
        if math.isfinite(ours) and math.isfinite(published) and published > 0
        else None
    )


def published_comparison(
    masses_gev: Sequence[float] = COMPARISON_MASSES_GEV,
    curves: Sequence[PublishedCurve] = PUBLISHED_CURVES,
) -> dict[str, Any]:
    """Prediction / published coupling for every curve at ``masses_gev`` [GeV] (None where not
    covered).

    Returns a JSON-ready mapping: ``masses_gev`` and per curve its
    publication, exposure, setup, efficiency used, kind (``upper_limit`` or
    ``excluded_band``), and per mass the published and predicted couplings
    and their ratio (for bands: lower and upper edge separately).
    """
    out: dict[str, Any] = {"masses_gev": [float(m) for m in masses_gev], "curves": {}}
    for curve in curves:
        reference = load_curve(curve.resource)
        setup = _setup_for(curve)
        record: dict[str, Any] = {
            "publication": curve.publication,
            "description": reference.description,
            "setup": curve.setup,
            "exposure": curve.exposure,
            "positron_annihilation": curve.positron_annihilation,
            "notes": list(curve.notes),
            "caveats": list(setup.caveats),
            "points": {},
        }
        if reference.upper is None:
            _fill_upper_limit(record, setup, reference, masses_gev)
        else:
            _fill_excluded_band(record, curve, reference, masses_gev)
        out["curves"][curve.resource] = record
    out["not_shipped"] = [text for _, text in NOT_SHIPPED]
    out["not_shipped_caveats"] = {
        name: list(get_setup(name).caveats) for name, _ in NOT_SHIPPED if get_setup(name).caveats
    }
    return out


def _fill_upper_limit(
    record: dict[str, Any], setup: Any, reference: Any, masses_gev: Sequence[float]
) -> None:
    """An upper-limit curve's record: its background-free reach against the published epsilon."""
    record["kind"] = "upper_limit"
    record["method"] = "background-free 90% CL reach (2.303 events)"
    predicted = background_free_reach(setup, list(masses_gev)).epsilon
    published = reference.interpolate(np.asarray(masses_gev, dtype=float))
    for m, ours, pub in zip(masses_gev, predicted, published):
        record["points"][f"{m:g}"] = {
            "mass_gev": float(m),
            "published": None if not np.isfinite(pub) else float(pub),
            "predicted": float(ours) if np.isfinite(ours) else None,
            "ratio": _ratio(float(ours), float(pub)),
        }
    record["efficiency"] = setup.efficiency if setup.efficiency is not None else "computed per mass"


def _fill_excluded_band(
    record: dict[str, Any], curve: PublishedCurve, reference: Any, masses_gev: Sequence[float]
) -> None:
    """A visible-mode curve's record: the predicted excluded band's edges against the published."""
    from na64stat.physics.visible import get_runs

    record["kind"] = "excluded_band"
    record["method"] = (
        "background-free: epsilon where the visible-mode signal of the runs "
        f"{', '.join(curve.visible_runs)} (na64stat.physics.visible) exceeds 2.303 events"
    )
    record["efficiency"] = [r.efficiency for r in get_runs(curve.visible_runs)]
    for m in masses_gev:
        record["points"][f"{m:g}"] = _band_point(curve, reference, float(m))


def _band_point(curve: PublishedCurve, reference: Any, m: float) -> dict[str, Any]:
    """Published and predicted edges of the excluded band at mass ``m`` [GeV], and their ratios."""
    lo_pub, hi_pub = (float(reference.interpolate(m, which)) for which in ("lower", "upper"))
    point: dict[str, Any] = {"mass_gev": m}
    if not (math.isfinite(lo_pub) and math.isfinite(hi_pub)):
        point.update(
            {
                "published_lower": None,
                "published_upper": None,
                "ratio_lower": None,
                "ratio_upper": None,
            }
        )
        return point
    if m <= 2 * M_E_GEV:  # no A' -> e+ e- below 2 m_e (the digitized curve starts at 1.0 MeV)
        lo, hi = math.nan, math.nan
        point["note"] = "below 2 m_e: no visible decay, the prediction excludes nothing"
    else:
        lo, hi = visible_excluded_band(curve.visible_runs, m)
    point.update(
        {
            "published_lower": lo_pub,
            "published_upper": hi_pub,
            "predicted_lower": lo if math.isfinite(lo) else None,
            "predicted_upper": hi if math.isfinite(hi) else None,
            "ratio_lower": _ratio(lo, lo_pub),
            "ratio_upper": _ratio(hi, hi_pub),
        }
    )
    return point


def _cell(point: dict[str, Any], edge: str = "") -> str:
    """A ratio to 2 decimals; ``n/a`` where the curve does not cover the mass, ``none`` where it
    does but the prediction excludes nothing there.
    """
    ratio = point.get(f"ratio_{edge}" if edge else "ratio")
    if ratio is not None:
        return f"{ratio:.2f}"
    published = point.get(f"published_{edge}" if edge else "published")
    return "n/a" if published is None else "none"


def format_published_table(result: dict[str, Any]) -> str:
    """The comparison as a plain-text table: one row per curve (bands: one row per edge)."""
    masses = result["masses_gev"]
    header = f"{'curve':<26} {'publication':<22} {'exposure':>9}  " + "  ".join(
        f"{m * 1e3:>7g} MeV" for m in masses
    )
    lines = [
        "prediction / published coupling, from the exposure and setup alone "
        "(n/a: the curve does not cover the mass; none: the prediction excludes nothing there)",
        header,
    ]
    for name, record in result["curves"].items():
        edges = ("",) if record["kind"] == "upper_limit" else ("lower", "upper")
        for edge in edges:
            label = f"{name} {edge}".strip()
            cells = [_cell(record["points"][f"{m:g}"], edge) for m in masses]
            lines.append(
                f"{label:<26} {record['publication']:<22} {record['exposure']:>9.3g}  "
                + "  ".join(f"{c:>11}" for c in cells)
            )
    lines += [f"not compared: {text}" for text in result.get("not_shipped", [])]
    caveats: dict[str, list[str]] = {}  # setup -> its caveats, each once, in the order met
    for record in result["curves"].values():
        caveats.setdefault(record["setup"], list(record.get("caveats", [])))
    for name, texts in result.get("not_shipped_caveats", {}).items():
        caveats.setdefault(name, list(texts))
    lines += [f"caveat ({name}): {c}" for name, texts in caveats.items() for c in texts]
    return "\n".join(lines)


def reproduce_published(
    out_dir: str | os.PathLike[str], masses_gev: Sequence[float] = COMPARISON_MASSES_GEV
) -> tuple[str, list[Path]]:
    """Compute the comparison, write ``published.json`` and ``published.txt`` in ``out_dir``;
    returns (table, files).
    """
    result = published_comparison(masses_gev)
    table = format_published_table(result)
    out = Path(out_dir)
    files = [
        write_json_atomic(out / "published.json", result),
        write_text_atomic(out / "published.txt", table + "\n"),
    ]
    return table, files
