"""Exclusion plots in the conventions of the field, CLs scans and cutflow figures.

Exclusion plots (:func:`exclusion_plot`) in the style of NA64's papers:
mplhep's ROOT style, log-log axes, the mass variable on x (``$m_{A'}$ [GeV]``
or ``$m_\\chi$ [GeV]``, :data:`MASS_LABELS`), a single-symbol coupling label
horizontal above the axis (a rotated epsilon reads as an omega), the observed
limit as a solid line, the median expected dashed, +-1 sigma green and +-2
sigma yellow bands with their edges drawn (a band of zero width stays visible;
:func:`band_note` says in the legend why it is narrow or collapsed), further
limits (``extra_curves``), overlays (published curves, other experiments from
darkcast ``.lmt`` files via :func:`load_lmt`, the (g-2)_mu band, thermal-relic
targets), a ratio panel, the legend beside the axes, and the numbers behind the
figure in a CSV next to the PNG and PDF. :func:`cutflow_figure` draws a cutflow
as bars of efficiency with the counts. Every writer returns the paths it wrote;
files go through a temporary name and a rename.

The figures are :class:`matplotlib.figure.Figure` objects made without
pyplot: importing this module selects no backend and opens no window (a
notebook keeps its own backend), and saving a figure needs no display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.ticker
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from na64stat.core.errors import InputError
from na64stat.core.io import write_text_atomic

__all__ = ["LimitCurve", "Overlay", "exclusion_plot", "curves_plot", "cls_scan_plot", "cutflow_figure", "COUPLING_LABELS",
           "MASS_LABELS", "band_note", "load_lmt", "save_figure"]

#: Axis labels of the couplings the plots use (mathtext; mplhep's ROOT style sets its
#: symbols upright in TeX Gyre Heros). Short labels are drawn horizontally above the
#: axis: a rotated epsilon reads as an omega.
COUPLING_LABELS: dict[str, str] = {
    "epsilon": r"$\epsilon$",
    "epsilon2": r"$\epsilon^2$",
    "e_mu": r"$g_{Z'} = e_\mu$",
    "alpha_mu": r"$\alpha_\mu$",
    "y": r"$y = \epsilon^2 \alpha_D (m_\chi / m_{A'})^4$",
    "alpha_d": r"$\alpha_D$",
    "eot": "electrons on target needed",
    "sigma_e": r"$\bar{\sigma}_e$ [cm$^2$]",
}

#: Mass axis labels by variable.
MASS_LABELS: dict[str, str] = {
    "m_aprime": r"$m_{A'}$ [GeV]",
    "m_chi": r"$m_\chi$ [GeV]",
    "m_zprime": r"$m_{Z'}$ [GeV]",
}

#: Labels drawn horizontally at the top of the y axis (single symbols).
_HORIZONTAL = ("epsilon", "epsilon2", "alpha_mu", "alpha_d")

_BANDS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")


@dataclass(frozen=True)
class LimitCurve:
    """Upper limits on a coupling per mass: observed and the expected band (NaN where missing).

    ``expected`` maps ``-2sigma``, ``-1sigma``, ``median``, ``+1sigma``,
    ``+2sigma`` to arrays aligned with ``mass_gev``.
    """

    mass_gev: np.ndarray
    observed: np.ndarray | None
    expected: Mapping[str, np.ndarray] = field(default_factory=dict)
    label: str = "NA64"


@dataclass(frozen=True)
class Overlay:
    """A curve to draw on top: a line (``upper`` None) or a filled band between lower and upper."""

    label: str
    mass_gev: np.ndarray
    lower: np.ndarray
    upper: np.ndarray | None = None
    color: str | None = None
    linestyle: str = "-"


def _style() -> None:
    """mplhep's ROOT style (its font has the Greek epsilon as \\varepsilon, not \\epsilon)."""
    mplhep.style.use("ROOT")


def _draw_overlays(ax: Axes, overlays: Sequence[Overlay]) -> None:
    """Lines and filled bands on log-log axes (no labels on the minor ticks)."""
    for overlay in overlays:
        if overlay.upper is not None:
            ax.fill_between(overlay.mass_gev, overlay.lower, overlay.upper, alpha=0.35, color=overlay.color,
                            label=overlay.label, lw=0)
        else:
            ax.plot(overlay.mass_gev, overlay.lower, ls=overlay.linestyle, color=overlay.color, lw=1.7, label=overlay.label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


#: No creation date or software version in the files (same inputs: same bytes where the backend allows).
_METADATA: dict[str, dict[str, None]] = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}

#: Resolution of the PNGs [dots per inch] (the image-comparison tests lower it for small baselines).
DPI: int = 150


def save_figure(fig: Figure, stem: str | os.PathLike[str], formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (each through a temporary file, at :data:`DPI`).

    A figure made through pyplot is closed there afterwards.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            tmp = target.with_name(f".{target.name}.tmp")
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=_METADATA.get(fmt))
            os.replace(tmp, target)
            written.append(target)
    finally:
        if fig.canvas.manager is not None:  # a figure made through pyplot: release it there
            import matplotlib.pyplot as plt

            plt.close(fig)
    return written


def _csv(curve: LimitCurve, coupling: str, overlays: Sequence[Overlay]) -> str:
    head = ["mass_gev", f"observed_{coupling}", *(f"expected_{b}_{coupling}" for b in _BANDS)]
    rows = [",".join(head)]
    for i, m in enumerate(curve.mass_gev):
        values = [curve.observed[i] if curve.observed is not None else math.nan,
                  *(curve.expected.get(b, np.full(len(curve.mass_gev), math.nan))[i] for b in _BANDS)]
        rows.append(",".join([f"{m:.6g}", *(f"{v:.6g}" for v in values)]))
    for overlay in overlays:
        rows.append(f"# overlay: {overlay.label} ({len(overlay.mass_gev)} points, see the package resources)")
    return "\n".join(rows) + "\n"


def _set_ylabel(ax: Axes, coupling: str) -> None:
    """The coupling's label: horizontal above the axis for a single symbol, rotated otherwise."""
    if coupling in _HORIZONTAL:
        ax.set_ylabel(COUPLING_LABELS[coupling], rotation=0, ha="right", va="bottom", fontsize=22)
        ax.yaxis.set_label_coords(-0.02, 1.0)
    else:
        ax.set_ylabel(COUPLING_LABELS[coupling], fontsize=18)


def _draw_bands(ax: Axes, m: np.ndarray, e: Mapping[str, np.ndarray], tag: str = "") -> None:
    """+-1 sigma green and +-2 sigma yellow, each edge also drawn as a thin line so a band of zero width stays visible.

    A lower edge equal to the median (counting with little background: the
    background-only outcome n = 0 is more likely than 84% or 97.5%, so the
    median and the lower quantiles are the same limit) is said in the legend.
    """
    if not all(b in e for b in _BANDS):
        return
    e = {b: np.asarray(e[b], dtype=float) for b in _BANDS}
    ax.fill_between(m, e["-2sigma"], e["+2sigma"], color="#ffdf00", lw=0, label=rf"{tag}expected $\pm 2\sigma$")
    ax.fill_between(m, e["-1sigma"], e["+1sigma"], color="#00cc00", lw=0, label=rf"{tag}expected $\pm 1\sigma$")
    for band, color in (("-2sigma", "#b59b00"), ("+2sigma", "#b59b00"), ("-1sigma", "#007a00"), ("+1sigma", "#007a00")):
        ax.plot(m, e[band], color=color, lw=0.8)
    note = band_note(e)
    if note:
        ax.plot([], [], " ", label=f"  {note}")


def band_note(expected: Mapping[str, np.ndarray]) -> str | None:
    """What the legend says about a band that is narrow or collapses onto the median, or None.

    Counting with little background: the background-only outcome n = 0 is more
    likely than 50%, so the median and the lower quantiles are (nearly) the same
    limit; what spread remains comes from the auxiliary measurements of the
    nuisance parameters (the signal efficiency).
    """
    if not all(b in expected for b in _BANDS):
        return None
    e = {b: np.asarray(expected[b], dtype=float) for b in _BANDS}
    ok = np.isfinite(e["-2sigma"]) & np.isfinite(e["+2sigma"]) & np.isfinite(e["median"]) & (e["median"] > 0)
    if not ok.any():
        return None
    width = float(np.max(np.abs(e["+2sigma"][ok] - e["-2sigma"][ok]) / e["median"][ok]))
    if width < 0.5:
        return f"bands within {width:.0%} of the median: n = 0 nearly always"
    low = float(np.max(np.abs(e["median"][ok] - e["-2sigma"][ok]) / e["median"][ok]))
    if low < 0.01:
        return r"$-1\sigma$, $-2\sigma$ = median: n = 0 is the most likely count"
    if low < 0.2:
        return rf"$-1\sigma$, $-2\sigma$ within {low:.0%} of the median: n = 0 most likely"
    return None


def _draw_extra_curves(ax: Axes, extra_curves: Sequence[LimitCurve]) -> None:
    """Further limits: observed solid, median expected dashed, bands in each curve's own colour."""
    colors = ("tab:red", "tab:purple", "tab:brown")
    for i, extra in enumerate(extra_curves):
        color = colors[i % len(colors)]
        if extra.observed is not None:
            ax.plot(extra.mass_gev, extra.observed, "-", color=color, lw=2.2, label=f"{extra.label}, observed")
        if "median" in extra.expected:
            ax.plot(extra.mass_gev, extra.expected["median"], "--", color=color, lw=1.5,
                    label=f"{extra.label}, expected")
        if all(b in extra.expected for b in _BANDS):
            x = {b: np.asarray(extra.expected[b], dtype=float) for b in _BANDS}
            ax.fill_between(extra.mass_gev, x["-2sigma"], x["+2sigma"], color=color, alpha=0.12, lw=0,
                            label=rf"{extra.label}, expected $\pm 2\sigma$")
            ax.fill_between(extra.mass_gev, x["-1sigma"], x["+1sigma"], color=color, alpha=0.25, lw=0,
                            label=rf"{extra.label}, expected $\pm 1\sigma$")
            note = band_note(x)
            if note:
                ax.plot([], [], " ", label=f"  {note}")


def _draw_ratio_panel(rax: Axes, curve: LimitCurve, ratio_to: Overlay, ratio_of: Overlay | None) -> None:
    """The lower panel: ``ratio_of`` (default the observed limit of ``curve``) over ``ratio_to``, log-log interpolated."""
    num_m = np.asarray(curve.mass_gev, dtype=float) if ratio_of is None else np.asarray(ratio_of.mass_gev, dtype=float)
    num = curve.observed if ratio_of is None else np.asarray(ratio_of.lower, dtype=float)
    if num is not None:
        reference = np.exp(np.interp(np.log(num_m), np.log(ratio_to.mass_gev), np.log(ratio_to.lower),
                                     left=np.nan, right=np.nan))
        rax.plot(num_m, num / reference, "o-", color="tab:red" if ratio_of is not None else "k", ms=4)
        rax.axhline(1.0, color="grey", lw=1)
        finite = (num / reference)[np.isfinite(num / reference)]
        if finite.size:
            rax.set_ylim(min(0.5, finite.min() * 0.9), max(1.5, finite.max() * 1.1))
    name = (ratio_of.label if ratio_of is not None else curve.label).split(",")[0]
    rax.set_ylabel("ratio to\npublished", fontsize=13)
    rax.set_yscale("linear")
    rax.text(1.02, 0.5, f"{name} / {ratio_to.label.split(',')[0]}", transform=rax.transAxes, fontsize=11,
             va="center", ha="left", wrap=True)


def exclusion_plot(
    curve: LimitCurve,
    stem: str | os.PathLike[str],
    *,
    coupling: str = "epsilon",
    overlays: Sequence[Overlay] = (),
    title: str = "",
    ratio_to: Overlay | None = None,
    ratio_of: Overlay | None = None,
    ylim: tuple[float, float] | None = None,
    x_label: str = MASS_LABELS["m_aprime"],
    extra_curves: Sequence[LimitCurve] = (),
) -> list[Path]:
    """Draw a 90% CL exclusion plot and write ``stem.png``, ``stem.pdf`` and ``stem.csv``.

    NA64 style: log-log, ``x_label`` (``$m_{A'}$ [GeV]`` by default; use
    :data:`MASS_LABELS` ``["m_chi"]`` where the x values are m_chi), the
    observed limit solid, the median expected dashed, the +-1/+-2 sigma bands
    with their edges drawn (a band of zero width, as at n = 0 with little
    background, stays visible and is named in the legend), the legend to the
    right of the axes so it covers no curve. ``extra_curves`` are further
    limits drawn with their observed (solid) and median expected (dashed)
    lines in their own colour. ``ratio_to`` adds a lower panel with
    ``ratio_of`` (default: the observed limit of ``curve``) over the
    reference.
    """
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    _style()
    if ratio_to is not None:
        fig = Figure(figsize=(12, 8.5))
        ax, rax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
    else:
        fig = Figure(figsize=(12, 6.5))
        ax = fig.subplots()
        rax = None
    m = np.asarray(curve.mass_gev, dtype=float)
    _draw_bands(ax, m, curve.expected)
    if "median" in curve.expected:
        ax.plot(m, curve.expected["median"], "k--", lw=1.5, label="expected (median)")
    if curve.observed is not None:
        ax.plot(m, curve.observed, "k-", lw=2.2, label=f"{curve.label}, observed 90% CL")
    _draw_extra_curves(ax, extra_curves)
    _draw_overlays(ax, overlays)
    _set_ylabel(ax, coupling)
    if ylim:
        ax.set_ylim(*ylim)
    lo = min([m.min(), *(np.min(x.mass_gev) for x in extra_curves)])
    hi = max([m.max(), *(np.max(x.mass_gev) for x in extra_curves)])
    ax.set_xlim(lo * 0.8, hi * 1.25)
    ax.legend(fontsize=12, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0)
    if title:
        ax.set_title(title, fontsize=14, loc="left", pad=12)
    axis = rax if rax is not None else ax
    axis.set_xlabel(x_label)
    if rax is not None and ratio_to is not None:
        _draw_ratio_panel(rax, curve, ratio_to, ratio_of)
    written = save_figure(fig, stem)
    written.append(write_text_atomic(Path(stem).with_suffix(".csv"), _csv(curve, coupling, overlays)))
    return written


def load_lmt(path: str | os.PathLike[str], label: str | None = None, **style: object) -> Overlay:
    """An overlay from a darkcast ``.lmt`` limit file: '#' comments, then 'mass_GeV lower [upper]' per line.

    Such files hold limits of other experiments (darkcast's ``limits/`` folder);
    the label defaults to the file name without its suffix. A two-sided file
    (beam-dump searches) is drawn as the closed region between its lower and
    upper columns, a one-sided one as a line. A file with fewer than two
    points, or a malformed line, is an InputError naming the file and the line.
    """
    from na64stat.results.limitfiles import read_lmt

    source = Path(path)
    curve = read_lmt(source)
    return Overlay(label or source.stem, curve.mass_gev, curve.lower, curve.upper, **style)  # type: ignore[arg-type]


def curves_plot(overlays: Sequence[Overlay], stem: str | os.PathLike[str], *, coupling: str, title: str = "",
                x_label: str = MASS_LABELS["m_aprime"]) -> list[Path]:
    """Several curves / bands in (mass, coupling), log-log (projections, reference curves); PNG and PDF."""
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    _style()
    fig = Figure(figsize=(12, 6.5))
    ax = fig.subplots()
    _draw_overlays(ax, overlays)
    ax.set_xlabel(x_label)
    _set_ylabel(ax, coupling)
    ax.legend(fontsize=10, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    if title:
        ax.set_title(title, fontsize=12, loc="left", pad=12)
    return save_figure(fig, stem)


def cls_scan_plot(mu: Sequence[float], cls_observed: Sequence[float], cls_expected: Mapping[str, Sequence[float]],
                  stem: str | os.PathLike[str], *, confidence_level: float = 0.9, xlabel: str = r"$\mu$",
                  title: str = "") -> list[Path]:
    """CLs against the signal strength (or coupling) at one mass, with the expected band and the CL line."""
    _style()
    fig = Figure(figsize=(8, 6))
    ax = fig.subplots()
    x = np.asarray(mu, dtype=float)
    e = {k: np.asarray(v, dtype=float) for k, v in cls_expected.items()}
    if all(b in e for b in _BANDS):
        ax.fill_between(x, e["-2sigma"], e["+2sigma"], color="#ffdf00", lw=0, label=r"Expected $\pm 2\sigma$")
        ax.fill_between(x, e["-1sigma"], e["+1sigma"], color="#00cc00", lw=0, label=r"Expected $\pm 1\sigma$")
        ax.plot(x, e["median"], "k--", label="Expected (median)")
    ax.plot(x, cls_observed, "k-", lw=2, label="Observed")
    ax.axhline(1.0 - confidence_level, color="red", lw=1.2, label=f"CLs = {1 - confidence_level:.2f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("CLs")
    ax.set_ylim(0, 1.05)
    ax.legend(frameon=False, fontsize=11)
    if title:
        ax.set_title(title, fontsize=13)
    return save_figure(fig, stem)


def cutflow_figure(cutflow: Mapping[str, Any], sample: str, stem: str | os.PathLike[str]) -> list[Path]:
    """One sample's cutflow (from a selection's ``cutflow.json``) as horizontal bars; PNG and PDF.

    Each cut is a bar of its cumulative efficiency (log scale: backgrounds fall
    by many orders), its relative efficiency as a lighter bar, and the events
    left (raw and weighted) written next to it; the regions follow as bars of
    their weighted yields relative to the total ('blinded' where not filled).
    """
    samples = cutflow.get("samples", {})
    if sample not in samples:
        raise InputError(f"no sample {sample!r} in the cutflow; samples are {sorted(samples)}")
    s = samples[sample]
    total = s.get("total", {}) or {}
    total_w = float(total.get("weighted") or 0.0)
    names: list[str] = []
    cumulative: list[float] = []
    relative: list[float] = []
    texts: list[str] = []
    for row in s["cutflow"]:
        names.append(str(row["cut"]))
        cumulative.append(float(row.get("cumulative_efficiency") or 0.0))
        relative.append(float(row.get("relative_efficiency") or 0.0))
        nan = f", {row['failed_with_nan']} NaN" if row.get("failed_with_nan") else ""
        texts.append(f"{row['raw']} ev. ({row['weighted']:.3g} w.){nan}")
    for name, value in s.get("regions", {}).items():
        names.append(f"region: {name}")
        if value == "blinded":
            cumulative.append(0.0)
            relative.append(0.0)
            texts.append("blinded")
        else:
            eff = float(value["weighted"]) / total_w if total_w > 0 else 0.0
            cumulative.append(eff)
            relative.append(0.0)
            texts.append(f"{value['raw']} ev. ({value['weighted']:.3g} w.)")
    _style()
    fig = Figure(figsize=(12, 0.55 * len(names) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(names))[::-1]
    shown = [c for c in cumulative if c > 0]
    left = max(1e-12, min(shown) / 20 if shown else 1e-3)
    ax.barh(y, [max(r, left) for r in relative], color="#c6dbef", height=0.75)
    ax.barh(y, [max(c, left) for c in cumulative], color="#2171b5", height=0.45)
    ax.set_xscale("log")
    ax.set_xlim(left, 1.5)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=12)
    ax.tick_params(axis="y", which="both", length=0)
    for yi, c, text in zip(y, cumulative, texts):
        ax.text(1.02, yi, f"{c:.3g}:  {text}" if c > 0 else f"0:  {text}" if text != "blinded" else text,
                transform=ax.get_yaxis_transform(), va="center", fontsize=11)
    ax.set_xlabel("efficiency: cumulative (dark bars), of this cut alone (light bars)", fontsize=13)
    head = f"{total.get('raw', '?')} events" + (f", weighted {total_w:.4g}" if total_w else "")
    ax.set_title(f"cutflow: {sample} ({head}); right: cumulative efficiency, events left (weighted)",
                 fontsize=12, loc="left")
    return save_figure(fig, stem)
