"""Cutflow tables, JSON summaries and histogram files of a selection run.

* ``cutflow.json``: per sample the raw and weighted counts after each cut
  (with MC errors sqrt(sum w^2)), relative and cumulative efficiencies, the
  events lost to NaN at each cut, the N-1 table and the region yields
  (``"blinded"`` where data were not looked at).
* ``cutflow.txt``: the same as printed tables.
* ``histograms.json``: every histogram in the UHI serialisation
  (:mod:`uhi.io.json`), which reloads losslessly with :func:`load_histograms`.
* ``histograms.root``: the same as ROOT TH1D / TH2D (``sample/region/name``).

All files are written only after everything is computed, each atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import hist
import uhi.io.json as uhi_json

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.core.io import OutputSet
from na64stat.core.loaders import load_json
from na64stat.core.rootio import write_root_objects
from na64stat.selection.records import Counts, SampleResult, SelectionRun

__all__ = [
    "summary",
    "cutflow_table",
    "short_summary",
    "write_outputs",
    "load_histograms",
    "histograms_to_json",
    "holds_unblinded_data",
    "is_unblinded",
]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _cutflow_rows(run: SelectionRun, result: SampleResult) -> list[dict[str, Any]]:
    """Per cut: raw and weighted counts after it, efficiencies and the events lost to NaN."""
    cf = result.cutflow
    rows = []
    prev_raw, prev_w = int(cf.total.raw), float(cf.total.sum_w)
    for k, cut in enumerate(run.selection.cuts):
        raw, w = int(cf.after_cut.raw[k]), float(cf.after_cut.sum_w[k])
        rows.append(
            {
                "cut": cut.name,
                "description": cut.description,
                "expression": str(cut.expression),
                "raw": raw,
                "weighted": w,
                "weighted_error": math.sqrt(cf.after_cut.sum_w2[k]),
                "relative_efficiency": _ratio(w, prev_w),
                "cumulative_efficiency": _ratio(w, float(cf.total.sum_w)),
                "raw_relative_efficiency": _ratio(raw, prev_raw),
                "failed_with_nan": int(cf.failed_with_nan[k]),
            }
        )
        prev_raw, prev_w = raw, w
    return rows


def _counts(counts: Counts) -> dict[str, Any]:
    """``{"raw", "weighted", "weighted_error"}`` of one count."""
    return {
        "raw": int(counts.raw),
        "weighted": float(counts.sum_w),
        "weighted_error": math.sqrt(counts.sum_w2),
    }


def _sample_summary(run: SelectionRun, result: SampleResult) -> dict[str, Any]:
    sel = run.selection
    nm1 = result.cutflow.n_minus_1
    nminus1 = [
        {
            "cut": cut.name,
            "raw": int(nm1.raw[k]),
            "weighted": float(nm1.sum_w[k]),
            "weighted_error": math.sqrt(nm1.sum_w2[k]),
        }
        for k, cut in enumerate(sel.cuts)
    ]
    regions: dict[str, Any] = {
        r.name: "blinded" if r.name in result.blinded else _counts(result.regions[r.name].counts)
        for r in sel.regions
    }
    return {
        "data": result.is_data,
        "files": run.inputs.get(result.sample, list(result.files)),
        "total": _counts(result.cutflow.total),
        "cutflow": _cutflow_rows(run, result),
        "n_minus_1": nminus1,
        "regions": regions,
    }


def summary(run: SelectionRun) -> dict[str, Any]:
    """The JSON-ready summary of a selection run (see the module docstring)."""
    sel = run.selection
    return {
        "na64stat_version": __version__,
        "selection": {
            "name": sel.name,
            "source": sel.source,
            "digest": sel.digest,
            "tree": sel.tree,
            "description": sel.description,
        },
        "regions": {
            r.name: {
                "cuts": list(r.cuts),
                "where": str(r.where) if r.where else None,
                "blinded": r.blinded,
                "description": r.description,
            }
            for r in sel.regions
        },
        "samples": {name: _sample_summary(run, result) for name, result in run.samples.items()},
        "tasks": {
            "total": run.n_tasks,
            "from_cache": run.n_cached,
            "entries_read": run.entries_read,
        },
    }


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}g}"


def cutflow_table(run: SelectionRun, sample: str) -> str:
    """A printable cutflow, N-1 and region table of one sample."""
    s = _sample_summary(run, run.samples[sample])
    weighted = not s["data"]
    head = f"sample {sample} ({'data' if s['data'] else 'MC'}): {s['total']['raw']} events"
    if weighted:
        head += (
            f", weighted {_fmt(s['total']['weighted'])} +- {_fmt(s['total']['weighted_error'], 2)}"
        )
    lines = [
        head,
        f"{'cut':<22}{'raw':>12}{'weighted':>14}{'+-':>10}{'rel.eff':>9}{'cum.eff':>9}{'NaN':>7}"
        f"{'N-1 raw':>11}",
    ]
    for row, nm1 in zip(s["cutflow"], s["n_minus_1"]):
        lines.append(
            f"{row['cut']:<22}{row['raw']:>12}{_fmt(row['weighted']):>14}"
            f"{_fmt(row['weighted_error'], 2):>10}{_fmt(row['relative_efficiency'], 3):>9}"
            f"{_fmt(row['cumulative_efficiency'], 3):>9}{row['failed_with_nan']:>7}"
            f"{nm1['raw']:>11}"
        )
    for name, value in s["regions"].items():
        if value == "blinded":
            lines.append(f"  region {name}: blinded")
        else:
            lines.append(
                f"  region {name}: {value['raw']} events, weighted {_fmt(value['weighted'])} "
                f"+- {_fmt(value['weighted_error'], 2)}"
            )
    return "\n".join(lines)


def short_summary(run: SelectionRun, sample: str) -> str:
    """One line per sample: events read, events passing every cut, and each region's yield (or
    ``blinded``).

    The full cutflow (every cut, N-1, efficiencies) is :func:`cutflow_table`, written to
    ``cutflow.txt``.
    """
    s = _sample_summary(run, run.samples[sample])
    last = s["cutflow"][-1] if s["cutflow"] else s["total"]
    if s["data"]:
        passed = f"{last['raw']} pass all cuts"
    else:
        passed = (
            f"{last['raw']} pass all cuts (expected {_fmt(last['weighted'])} +- "
            f"{_fmt(last['weighted_error'], 2)})"
        )
    regions = [
        f"{name} blinded"
        if value == "blinded"
        else f"{name} {value['raw'] if s['data'] else _fmt(value['weighted'])}"
        for name, value in s["regions"].items()
    ]
    line = f"{sample} ({'data' if s['data'] else 'MC'}): {s['total']['raw']} events, {passed}"
    return line + (f"; regions: {', '.join(regions)}" if regions else "")


def is_unblinded(info: Any) -> bool:
    """Whether a ``cutflow.json`` content shows data in a region the selection blinds (an unblinded
    run).
    """
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("samples"), dict)
        or not isinstance(info.get("regions"), dict)
    ):
        return False
    blinded = {
        name
        for name, region in info["regions"].items()
        if isinstance(region, dict) and region.get("blinded")
    }
    return any(
        isinstance(sample, dict)
        and sample.get("data")
        and isinstance(sample.get("regions"), dict)
        and any(sample["regions"].get(name, "blinded") != "blinded" for name in blinded)
        for sample in info["samples"].values()
    )


def holds_unblinded_data(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds the outputs of a selection run that looked at data in a blinded
    region.
    """
    path = Path(folder) / "cutflow.json"
    if not path.is_file():
        return False
    try:
        return is_unblinded(load_json(path, "cutflow file"))
    except InputError:  # unreadable: not ours to judge, and not unblinded results either
        return False


def histograms_to_json(run: SelectionRun) -> dict[str, Any]:
    """Nested {sample: {region: {name: UHI dict}}} of every histogram."""
    return {
        sample: {
            region: {name: h._to_uhi_() for name, h in by_name.items()}
            for region, by_name in result.histograms.items()
        }
        for sample, result in run.samples.items()
    }


def load_histograms(path: str | os.PathLike[str]) -> dict[str, dict[str, dict[str, hist.Hist]]]:
    """Reload ``histograms.json`` as hist objects (lossless: values, variances, flow bins)."""
    content = load_json(path, "histogram file", object_hook=uhi_json.object_hook)
    try:
        return {
            s: {r: {n: hist.Hist(d) for n, d in by_name.items()} for r, by_name in regions.items()}
            for s, regions in content["histograms"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: not a na64stat histogram file ({exc})") from None


def write_outputs(run: SelectionRun, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write cutflow.json, cutflow.txt, histograms.json and histograms.root into ``out_dir``."""
    out = Path(out_dir)
    info = summary(run)
    text = "\n\n".join(cutflow_table(run, s) for s in run.samples) + "\n"
    hists_json = json.dumps(
        {
            "na64stat_version": __version__,
            "selection": run.selection.name,
            "histograms": histograms_to_json(run),
        },
        default=uhi_json.default,
    )
    objects = {
        f"{sample}/{region}/{name}": h
        for sample, result in run.samples.items()
        for region, by_name in result.histograms.items()
        for name, h in by_name.items()
    }
    with OutputSet(out) as staged:  # the four files appear together or not at all
        written = [
            staged.write_json("cutflow.json", info),
            staged.write_text("cutflow.txt", text),
            staged.write_text("histograms.json", hists_json + "\n"),
        ]
        if objects:
            write_root_objects(staged.path("histograms.root"), objects, key=run.selection.digest)
            written.append(out / "histograms.root")
    return written


def region_yield(run: SelectionRun, sample: str, region: str) -> tuple[float, float]:
    """(sum of weights, MC error) of a sample in a region; error for blinded regions."""
    result = run.samples[sample]
    names = [r.name for r in run.selection.regions]
    if region not in names:
        raise InputError(
            f"selection {run.selection.name!r} has no region {region!r}; regions are {names}"
        )
    if region in result.blinded:
        raise InputError(f"region {region!r} is blinded for sample {sample!r}")
    counts = result.regions[region].counts
    return float(counts.sum_w), float(counts.error)
