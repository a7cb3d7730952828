"""Exclusion plots in the conventions of the field, CLs scans and cutflow figures.

Exclusion plots (:func:`exclusion_plot`): mplhep style, log-log axes, the
observed limit as a solid line, the median expected dashed, +-1 sigma green
and +-2 sigma yellow bands, overlays (published curves, other experiments,
the (g-2)_mu band, thermal-relic targets) and the numbers behind the figure
in a CSV next to the PNG and PDF. Every writer returns the paths it wrote;
files go through a temporary name and a rename.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.ticker  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from na64stat.errors import InputError  # noqa: E402
from na64stat.io import write_text_atomic  # noqa: E402

__all__ = ["LimitCurve", "Overlay", "exclusion_plot", "curves_plot", "cls_scan_plot", "cutflow_figure", "COUPLING_LABELS", "save_figure"]

#: Axis labels of the couplings the plots use.
COUPLING_LABELS: dict[str, str] = {
    "epsilon": r"$\varepsilon$",
    "epsilon2": r"$\varepsilon^2$",
    "e_mu": r"$g_{Z'} = e_\mu$",
    "alpha_mu": r"$\alpha_\mu$",
    "y": r"$y = \varepsilon^2 \alpha_D (m_\chi / m_{A'})^4$",
    "alpha_d": r"$\alpha_D$",
    "eot": "electrons on target needed",
    "sigma_e": r"$\bar{\sigma}_e$ [cm$^2$]",
}

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


def _draw_overlays(ax: plt.Axes, overlays: Sequence[Overlay]) -> None:
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


def save_figure(fig: plt.Figure, stem: str | os.PathLike[str], formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (each through a temporary file) and close it."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            tmp = target.with_name(f".{target.name}.tmp")
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
            os.replace(tmp, target)
            written.append(target)
    finally:
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


def exclusion_plot(
    curve: LimitCurve,
    stem: str | os.PathLike[str],
    *,
    coupling: str = "epsilon",
    overlays: Sequence[Overlay] = (),
    title: str = "",
    ratio_to: Overlay | None = None,
    ylim: tuple[float, float] | None = None,
) -> list[Path]:
    """Draw a 90% CL exclusion plot and write ``stem.png``, ``stem.pdf`` and ``stem.csv``.

    ``ratio_to`` adds a lower panel with observed / reference (e.g. our limit
    over the published one).
    """
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    _style()
    if ratio_to is not None:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    else:
        fig, ax = plt.subplots(figsize=(8, 6.5))
        rax = None
    m = np.asarray(curve.mass_gev, dtype=float)
    e = curve.expected
    if all(b in e for b in _BANDS):
        ax.fill_between(m, e["-2sigma"], e["+2sigma"], color="#ffdf00", label=r"Expected $\pm 2\sigma$", lw=0)
        ax.fill_between(m, e["-1sigma"], e["+1sigma"], color="#00cc00", label=r"Expected $\pm 1\sigma$", lw=0)
    if "median" in e:
        ax.plot(m, e["median"], "k--", lw=1.5, label="Expected (median)")
    if curve.observed is not None:
        ax.plot(m, curve.observed, "k-", lw=2.2, label=f"{curve.label} observed (90% CL)")
    _draw_overlays(ax, overlays)
    ax.set_ylabel(COUPLING_LABELS[coupling])
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlim(m.min() * 0.8, m.max() * 1.25)
    ax.legend(fontsize=11, loc="upper left", frameon=False)
    if title:
        ax.set_title(title, fontsize=13)
    axis = rax if rax is not None else ax
    axis.set_xlabel("Mass [GeV]")
    if rax is not None and curve.observed is not None:
        reference = np.exp(np.interp(np.log(m), np.log(ratio_to.mass_gev), np.log(ratio_to.lower), left=np.nan, right=np.nan))
        rax.plot(m, curve.observed / reference, "ko-", ms=4)
        rax.axhline(1.0, color="grey", lw=1)
        rax.set_ylabel(f"obs. / {ratio_to.label.split()[0]}", fontsize=12)
        rax.set_yscale("linear")
    written = save_figure(fig, stem)
    written.append(write_text_atomic(Path(stem).with_suffix(".csv"), _csv(curve, coupling, overlays)))
    return written


def curves_plot(overlays: Sequence[Overlay], stem: str | os.PathLike[str], *, coupling: str, title: str = "",
                x_label: str = "Mass [GeV]") -> list[Path]:
    """Several curves / bands in (mass, coupling), log-log (projections, reference curves); PNG and PDF."""
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    _style()
    fig, ax = plt.subplots(figsize=(8, 6.5))
    _draw_overlays(ax, overlays)
    ax.set_xlabel(x_label)
    ax.set_ylabel(COUPLING_LABELS[coupling])
    ax.legend(fontsize=10, frameon=False, loc="best")
    if title:
        ax.set_title(title, fontsize=12)
    return save_figure(fig, stem)


def cls_scan_plot(mu: Sequence[float], cls_observed: Sequence[float], cls_expected: Mapping[str, Sequence[float]],
                  stem: str | os.PathLike[str], *, confidence_level: float = 0.9, xlabel: str = r"$\mu$",
                  title: str = "") -> list[Path]:
    """CLs against the signal strength (or coupling) at one mass, with the expected band and the CL line."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 6))
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


def cutflow_figure(cutflow: Mapping[str, object], sample: str, stem: str | os.PathLike[str]) -> list[Path]:
    """A table figure of one sample's cutflow (from a selection's ``cutflow.json``)."""
    samples = cutflow.get("samples", {})  # type: ignore[union-attr]
    if sample not in samples:
        raise InputError(f"no sample {sample!r} in the cutflow; samples are {sorted(samples)}")
    s = samples[sample]
    rows = [[row["cut"], f"{row['raw']}", f"{row['weighted']:.4g}", f"{row['cumulative_efficiency'] or 0:.3g}",
             f"{row['failed_with_nan']}"] for row in s["cutflow"]]
    rows += [[f"region {name}", "-" if value == "blinded" else f"{value['raw']}",
              "blinded" if value == "blinded" else f"{value['weighted']:.4g}", "", ""] for name, value in s["regions"].items()]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=["cut / region", "raw", "weighted", "cum. eff.", "NaN"], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1.0, 1.3)
    ax.set_title(f"cutflow: {sample}", fontsize=12)
    return save_figure(fig, stem)
