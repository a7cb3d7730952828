r"""Exclusion plots in the conventions of the field, CLs scans and cutflow figures.

Exclusion plots (:func:`exclusion_plot`) in the style of NA64's papers
(PRL 123 (2019) 121801, Fig. 3; the review arXiv:2003.07257, Figs. 2, 11, 13):
mplhep's ROOT style, log-log axes, the mass variable on x (``$m_{A'}$ [GeV]``
or ``$m_\chi$ [GeV]``, :data:`MASS_LABELS`), a single-symbol coupling label
horizontal above the axis (a rotated epsilon reads as an omega), the observed
limit as a solid line with the excluded region above it shaded, the median
expected dashed, the +-1 sigma (green) and +-2 sigma (yellow) expected band,
further limits (``extra_curves``), overlays (published curves, other
experiments with their excluded regions shaded, e.g. BaBar, darkcast ``.lmt``
files via :func:`load_lmt`, the (g-2)_mu band, thermal-relic targets), a ratio
panel, and the legend inside the axes listing only what is drawn (a band of
zero width or a median on top of the observed line gets no entry of its own).
The numbers of every drawn curve go to a CSV next to the PNG and PDF.
:func:`cutflow_figure` draws a cutflow as bars of efficiency with the counts.
Every writer returns the paths it wrote; files go through a temporary name and
a rename.

A limit computed on a mass grid is drawn as lines between the grid points,
except across the masses listed in :attr:`LimitCurve.breaks`, where the limit
can change faster than any grid resolves (e.g. the lower edge of the
resonant e+ e- -> A' window, where the signal yield steps up): no line is
drawn across them, and a grid point alone between two breaks is a marker.

The style applies inside a :func:`matplotlib.style.context` around each
figure: a plotting call leaves the caller's ``matplotlib.rcParams`` as they
were. The figures are :class:`matplotlib.figure.Figure` objects made without
pyplot: importing this module selects no backend and opens no window (a
notebook keeps its own backend), and saving a figure needs no display.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.style
import matplotlib.ticker
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from na64stat.core.errors import InputError
from na64stat.core.io import write_text_atomic
from na64stat.core.vocabulary import BAND_NAMES
from na64stat.results.recast import RecastResult

if TYPE_CHECKING:
    from na64stat.results.model_recast import ModelLimits

__all__ = [
    "LimitCurve",
    "Overlay",
    "exclusion_plot",
    "curves_plot",
    "cls_scan_plot",
    "cutflow_figure",
    "COUPLING_LABELS",
    "MASS_LABELS",
    "band_note",
    "load_lmt",
    "save_figure",
    "plot_style",
    "model_limits_plot",
]

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


#: Colours: the expected band as in NA64's and the LHC experiments' plots, the observed exclusion
#: shaded blue-grey.
_YELLOW, _GREEN, _EXCLUDED = "#ffdf00", "#00cc00", "#9ab6d3"
#: Lines closer than this many points on the page are drawn on top of each other: one hides the
#: other (no
#: separate legend entry); a band narrower than it is not drawn (the limit lines are 2.2 points
#: wide).
_HIDDEN_PT = 2.0


class _SideBySide(tuple):
    """Legend handles shown next to each other (the two expected bands); a plain tuple is drawn
    superposed.
    """


#: Legend handlers: bands side by side, a shaded region under its line superposed.
_HANDLERS = {
    _SideBySide: HandlerTuple(ndivide=None, pad=0.0),
    tuple: HandlerTuple(ndivide=1, pad=0.0),
}


@dataclass(frozen=True)
class LimitCurve:
    """Upper limits on a coupling per mass: observed and the expected band (NaN where missing).

    ``expected`` maps ``-2sigma``, ``-1sigma``, ``median``, ``+1sigma``,
    ``+2sigma`` to arrays aligned with ``mass_gev``. ``breaks`` are masses
    [GeV, the x variable] where the limit may jump between grid points (the
    edges of a production window): no line is drawn across them.
    """

    mass_gev: np.ndarray
    observed: np.ndarray | None
    expected: Mapping[str, np.ndarray] = field(default_factory=dict)
    label: str = "NA64"
    breaks: tuple[float, ...] = ()

    @classmethod
    def from_recast(
        cls,
        couplings: RecastResult,
        coupling: str = "epsilon",
        label: str = "NA64",
        breaks: tuple[float, ...] = (),
    ) -> LimitCurve:
        """The limits on ``coupling`` of a recast scan, by mass.

        Parameters
        ----------
        couplings : RecastResult
            The scan's limits in the couplings (``couplings.json``).
        coupling : str, optional
            A :class:`~na64stat.results.recast.Recast` field: ``"epsilon"``,
            ``"epsilon2"``, ``"e_mu"``, ``"y"``, ``"alpha_d_excluded_below"``, ...
        label, breaks : optional
            As the fields of the same names (``breaks`` in GeV).

        Returns
        -------
        LimitCurve
            Against m_A' [GeV]: observed and the five expected bands, NaN where a limit is missing.
        """
        points = couplings.by_mass()

        def column(which: str) -> np.ndarray:
            return np.array([p.coupling(coupling, which) for p in points], dtype=float)

        return cls(
            np.array([p.mass_gev for p in points], dtype=float),
            column("observed"),
            {band: column(band) for band in BAND_NAMES},
            label=label,
            breaks=breaks,
        )


@dataclass(frozen=True)
class Overlay:
    """A curve to draw on top: a line (``upper`` None) or a filled band between lower and upper.

    ``excluded``: another experiment's limit, drawn as a line with the region
    above it lightly shaded.
    """

    label: str
    mass_gev: np.ndarray
    lower: np.ndarray
    upper: np.ndarray | None = None
    color: str | None = None
    linestyle: str = "-"
    excluded: bool = False


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    r"""mplhep's ROOT style inside a :func:`matplotlib.style.context`: the caller's rcParams are
    restored after.

    (Its font has the Greek epsilon as \varepsilon, not \epsilon.)
    """
    with matplotlib.style.context(mplhep.style.ROOT):
        yield


def _pieces(mass: np.ndarray, breaks: Sequence[float]) -> list[np.ndarray]:
    """Indices of the runs of grid points not separated by a break (a point on a break belongs to
    both sides).

    >>> [p.tolist() for p in _pieces(np.array([0.1, 0.2, 0.27, 0.4]), (0.226, 0.32))]
    [[0, 1], [2], [3]]
    """
    order = np.argsort(mass)
    pieces: list[list[int]] = [[int(order[0])]] if len(order) else []
    for a, b in zip(order[:-1], order[1:]):
        lo, hi = mass[a], mass[b]
        if any(lo * (1 + 1e-9) < x < hi * (1 - 1e-9) for x in breaks):
            pieces.append([int(b)])
        else:
            pieces[-1].append(int(b))
    return [np.array(p, dtype=int) for p in pieces]


def _line(ax: Axes, m: np.ndarray, y: np.ndarray, breaks: Sequence[float], **style: Any) -> None:
    """``y`` against ``m`` as lines within each piece (:func:`_pieces`), a lone point as a
    marker.
    """
    for piece in _pieces(m, breaks):
        if piece.size == 1:
            ax.plot(
                m[piece],
                y[piece],
                ls="none",
                marker="o",
                ms=5,
                color=style.get("color"),
                alpha=style.get("alpha", 1.0),
            )
        else:
            ax.plot(m[piece], y[piece], **style)


def _fill(
    ax: Axes,
    m: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | float,
    breaks: Sequence[float],
    **style: Any,
) -> None:
    """A filled region between ``lower`` and ``upper`` within each piece of two or more points."""
    up = np.broadcast_to(np.asarray(upper, dtype=float), m.shape)
    for piece in _pieces(m, breaks):
        if piece.size > 1:
            ax.fill_between(m[piece], lower[piece], up[piece], lw=0, **style)


def _same(ax: Axes, m: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two curves lie within :data:`_HIDDEN_PT` of each other on the page wherever both are
    finite (compared in display coordinates: the axes' limits and scales must be set).
    """
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    if not ok.any():
        return True
    ya = ax.transData.transform(np.column_stack([m[ok], a[ok]]))[:, 1]
    yb = ax.transData.transform(np.column_stack([m[ok], b[ok]]))[:, 1]
    points_per_pixel = 72.0 / ax.figure.dpi
    return bool(np.max(np.abs(ya - yb)) * points_per_pixel < _HIDDEN_PT)


def _draw_overlays(
    ax: Axes, overlays: Sequence[Overlay], top: float, legend: list[tuple[Any, str]]
) -> None:
    """Lines, filled bands and other experiments' excluded regions (shaded up to ``top``)."""
    for overlay in overlays:
        m, lower = np.asarray(overlay.mass_gev, dtype=float), np.asarray(overlay.lower, dtype=float)
        if overlay.upper is not None:
            ax.fill_between(
                m,
                lower,
                np.asarray(overlay.upper, dtype=float),
                alpha=0.35,
                color=overlay.color,
                lw=0,
            )
            legend.append((Patch(color=overlay.color, alpha=0.35, lw=0), overlay.label))
            continue
        line = ax.plot(m, lower, ls=overlay.linestyle, color=overlay.color, lw=1.7)[0]
        if overlay.excluded:
            ax.fill_between(m, lower, top, color=line.get_color(), alpha=0.12, lw=0)
            legend.append(
                (
                    (
                        Patch(color=line.get_color(), alpha=0.12, lw=0),
                        Line2D([], [], color=line.get_color(), ls=overlay.linestyle, lw=1.7),
                    ),
                    overlay.label,
                )
            )
        else:
            legend.append(
                (
                    Line2D([], [], color=line.get_color(), ls=overlay.linestyle, lw=1.7),
                    overlay.label,
                )
            )


def _log_axes(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


#: No creation date or software version in the files (same inputs: same bytes where the backend
#: allows).
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "Producer": None},
}

#: Resolution of the PNGs [dots per inch] (the image-comparison tests lower it for small baselines).
DPI: int = 150


def save_figure(
    fig: Figure, stem: str | os.PathLike[str], formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (each through a temporary file, at
    :data:`DPI`).

    A figure made through pyplot is closed there afterwards. Call it inside
    :func:`plot_style` when the figure was drawn there (text is laid out when saved).
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        # the tight bounding box once for all formats (bbox_inches="tight" draws the whole figure
        # once more per file)
        bbox = fig.get_tightbbox().padded(0.1)
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            tmp = target.with_name(f".{target.name}.tmp")
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches=bbox, metadata=_METADATA.get(fmt))
            os.replace(tmp, target)
            written.append(target)
    finally:
        if fig.canvas.manager is not None:  # a figure made through pyplot: release it there
            import matplotlib.pyplot as plt

            plt.close(fig)
    return written


def _csv(
    curve: LimitCurve,
    coupling: str,
    extra_curves: Sequence[LimitCurve],
    overlays: Sequence[Overlay],
) -> str:
    """Every drawn curve in one table: a row per mass of any curve, a column per curve, empty where
    it has no point.

    The first columns are ``curve``'s (``observed_<coupling>``, ``expected_<band>_<coupling>``),
    then each extra curve's and each overlay's (``<label>: lower`` / ``upper`` for bands), then '#'
    lines naming them.
    """
    columns = _limit_columns(curve, "", f"_{coupling}")
    for extra in extra_curves:
        columns += _limit_columns(extra, f"{extra.label}: ", "")
    for overlay in overlays:
        columns += _overlay_columns(overlay)
    keys = sorted({f"{x:.6g}" for _, m, _ in columns for x in m}, key=float)
    index = {k: i for i, k in enumerate(keys)}
    table = np.full((len(keys), len(columns)), math.nan)
    for j, (_, m, v) in enumerate(columns):
        for x, y in zip(m, v):
            table[index[f"{x:.6g}"], j] = y
    first_of_curve = len(BAND_NAMES) + 1
    keep = [j for j in range(len(columns)) if j < first_of_curve or np.isfinite(table[:, j]).any()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["mass_gev", *(columns[j][0] for j in keep)])
    for k, row in zip(keys, table):
        writer.writerow([k, *("" if not np.isfinite(row[j]) else f"{row[j]:.6g}" for j in keep)])
    note = band_note(curve.expected)
    if note:
        buffer.write(f"# {curve.label}: {note}\n")
    for overlay in overlays:
        buffer.write(
            f"# overlay: {overlay.label} ({len(overlay.mass_gev)} points"
            f"{', other experiment: region above excluded' if overlay.excluded else ''})\n"
        )
    return buffer.getvalue()


#: One column of a plot's CSV: its name, the masses [GeV] and the values.
_Column = tuple[str, np.ndarray, np.ndarray]


def _limit_columns(c: LimitCurve, prefix: str, suffix: str) -> list[_Column]:
    """A limit curve's columns: observed, then each expected band (NaN where it has none)."""
    m = np.asarray(c.mass_gev, dtype=float)
    nan = np.full(m.shape, math.nan)
    observed = nan if c.observed is None else np.asarray(c.observed, dtype=float)
    return [(f"{prefix}observed{suffix}", m, observed)] + [
        (f"{prefix}expected_{b}{suffix}", m, np.asarray(c.expected.get(b, nan), dtype=float))
        for b in BAND_NAMES
    ]


def _overlay_columns(overlay: Overlay) -> list[_Column]:
    """An overlay's column (its label), or its lower and upper edges for a band."""
    m = np.asarray(overlay.mass_gev, dtype=float)
    lower = np.asarray(overlay.lower, dtype=float)
    if overlay.upper is None:
        return [(overlay.label, m, lower)]
    upper = np.asarray(overlay.upper, dtype=float)
    return [(f"{overlay.label}: lower", m, lower), (f"{overlay.label}: upper", m, upper)]


def _set_ylabel(ax: Axes, coupling: str) -> None:
    """The coupling's label: horizontal above the axis for a single symbol, rotated otherwise."""
    if coupling in _HORIZONTAL:
        ax.set_ylabel(COUPLING_LABELS[coupling], rotation=0, ha="right", va="bottom", fontsize=22)
        ax.yaxis.set_label_coords(-0.02, 1.0)
    else:
        ax.set_ylabel(COUPLING_LABELS[coupling], fontsize=18)


def _visible_band(ax: Axes, m: np.ndarray, e: Mapping[str, np.ndarray], lo: str, hi: str) -> bool:
    """Whether the band between quantiles ``lo`` and ``hi`` is wider than :data:`_HIDDEN_PT`
    somewhere.
    """
    return not _same(ax, m, np.asarray(e[lo], dtype=float), np.asarray(e[hi], dtype=float))


def _draw_bands(
    ax: Axes,
    m: np.ndarray,
    e: Mapping[str, np.ndarray],
    breaks: Sequence[float],
    colors: tuple[str, str] = (_YELLOW, _GREEN),
    alpha: float = 1.0,
) -> Any | None:
    """The +-2 sigma and +-1 sigma bands (where they have a width); the legend handle, or None when
    nothing shows.
    """
    if not all(b in e for b in BAND_NAMES):
        return None
    e = {b: np.asarray(e[b], dtype=float) for b in BAND_NAMES}
    handles = []
    for (lo, hi), color in zip((("-2sigma", "+2sigma"), ("-1sigma", "+1sigma")), colors):
        if _visible_band(ax, m, e, lo, hi):
            _fill(ax, m, e[lo], e[hi], breaks, color=color, alpha=alpha)
            handles.append(Patch(color=color, alpha=alpha, lw=0))
    return _SideBySide(handles) if handles else None


def band_note(expected: Mapping[str, np.ndarray]) -> str | None:
    """What the CSV says about a band that is narrow or collapses onto the median, or None.

    Counting with little background: the background-only outcome n = 0 is more
    likely than 50%, so the median and the lower quantiles are (nearly) the same
    limit; what spread remains comes from the auxiliary measurements of the
    nuisance parameters (the signal efficiency).
    """
    if not all(b in expected for b in BAND_NAMES):
        return None
    e = {b: np.asarray(expected[b], dtype=float) for b in BAND_NAMES}
    ok = (
        np.isfinite(e["-2sigma"])
        & np.isfinite(e["+2sigma"])
        & np.isfinite(e["median"])
        & (e["median"] > 0)
    )
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


def _draw_limit(
    ax: Axes,
    curve: LimitCurve,
    edge: float,
    color: str,
    shade: str | None,
    legend: list[tuple[Any, str]],
    bands: tuple[str, str],
    band_alpha: float,
) -> None:
    """One limit: its expected band, the median (dashed, unless on top of the observed), the
    observed line with the excluded region between it and ``edge`` (the top or bottom of the axes)
    shaded (``shade``), each in the legend once and only when drawn.
    """
    m = np.asarray(curve.mass_gev, dtype=float)
    observed = None if curve.observed is None else np.asarray(curve.observed, dtype=float)
    median = (
        np.asarray(curve.expected["median"], dtype=float) if "median" in curve.expected else None
    )
    band = _draw_bands(ax, m, curve.expected, curve.breaks, bands, band_alpha)
    if observed is not None and shade is not None:
        _fill(ax, m, observed, edge, curve.breaks, color=shade, alpha=0.45, zorder=0.5)
    median_shown = median is not None and (observed is None or not _same(ax, m, median, observed))
    if median is not None and median_shown:
        _line(ax, m, median, curve.breaks, color=color, ls="--", lw=1.5)
    if observed is not None:
        _line(ax, m, observed, curve.breaks, color=color, ls="-", lw=2.2)
        handle: Any = Line2D([], [], color=color, lw=2.2)
        if shade is not None:
            handle = (Patch(color=shade, alpha=0.45, lw=0), handle)
        same = " (= expected median)" if median is not None and not median_shown else ""
        legend.append((handle, f"{curve.label}, observed 90% CL{same}"))
    if median is not None and median_shown:
        legend.append((Line2D([], [], color=color, ls="--", lw=1.5), f"{curve.label}, expected"))
    if band is not None:
        names = [
            n
            for n, (lo, hi) in zip(
                (r"$\pm 2\sigma$", r"$\pm 1\sigma$"),
                (("-2sigma", "+2sigma"), ("-1sigma", "+1sigma")),
            )
            if _visible_band(ax, m, curve.expected, lo, hi)
        ]
        legend.append((band, f"{curve.label}, expected {', '.join(reversed(names))}"))


def _draw_ratio_panel(
    rax: Axes, curve: LimitCurve, ratio_to: Overlay, ratio_of: Overlay | None
) -> None:
    """The lower panel: ``ratio_of`` (default the observed limit of ``curve``) over ``ratio_to``,
    log-log interpolated.
    """
    num_m = (
        np.asarray(curve.mass_gev, dtype=float)
        if ratio_of is None
        else np.asarray(ratio_of.mass_gev, dtype=float)
    )
    num = curve.observed if ratio_of is None else np.asarray(ratio_of.lower, dtype=float)
    color = "tab:red" if ratio_of is not None else "k"
    if num is not None:
        reference = np.exp(
            np.interp(
                np.log(num_m),
                np.log(ratio_to.mass_gev),
                np.log(ratio_to.lower),
                left=np.nan,
                right=np.nan,
            )
        )
        ratio = np.asarray(num, dtype=float) / reference
        _line(rax, num_m, ratio, curve.breaks, color=color, marker="o", ms=3.5, lw=1.5)
        rax.axhline(1.0, color="grey", lw=1)
        finite = ratio[np.isfinite(ratio)]
        if finite.size:
            rax.set_ylim(min(0.5, finite.min() * 0.85), max(1.5, finite.max() * 1.15))
    name = (ratio_of.label if ratio_of is not None else curve.label).split(",")[0]
    rax.set_ylabel("ratio to\npublished", fontsize=13)
    rax.set_yscale("linear")
    rax.text(
        0.02,
        0.92,
        f"{name} / {ratio_to.label.split(',')[0]}",
        transform=rax.transAxes,
        fontsize=10,
        va="top",
        ha="left",
    )


def _y_range(curves: Sequence[np.ndarray], legend_above: bool = False) -> tuple[float, float]:
    """A log y range around the finite positive values of the drawn curves, with room for the legend
    below them (or above, ``legend_above``).
    """
    values = (
        np.concatenate([np.asarray(c, dtype=float).ravel() for c in curves])
        if curves
        else np.array([1.0])
    )
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return 1e-3, 1.0
    lo, hi = np.log10(values.min()), np.log10(values.max())
    span = max(hi - lo, 1.0)
    below, above = (0.08, 0.45) if legend_above else (0.45, 0.08)
    return float(10 ** (lo - below * span)), float(10 ** (hi + above * span))


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
    legend_loc: str = "lower right",
    excluded: str = "above",
) -> list[Path]:
    """Draw a 90% CL exclusion plot and write ``stem.png``, ``stem.pdf`` and ``stem.csv``.

    NA64 style: log-log, ``x_label`` (``$m_{A'}$ [GeV]`` by default; use
    :data:`MASS_LABELS` ``["m_chi"]`` where the x values are m_chi), the
    observed limit solid with the region above it shaded (excluded at 90%
    CL), the median expected dashed (not where it lies on the observed line:
    the legend says so), the +-1/+-2 sigma bands green and yellow where they
    have a width, ``extra_curves`` (further limits: observed solid, median
    dashed and band in their own colour, unshaded), ``overlays`` (other
    experiments' excluded regions, published curves, bands), the legend inside
    the axes (``legend_loc``) with one entry per drawn element. ``ratio_to``
    adds a lower panel with ``ratio_of`` (default: the observed limit of
    ``curve``) over the reference. The CSV holds every drawn curve.
    ``excluded``: ``"above"`` the observed limit (couplings) or ``"below"``
    (e.g. alpha_D excluded below a thermal target).
    """
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    if excluded not in ("above", "below"):
        raise InputError(f"excluded must be 'above' or 'below' the limit, got {excluded!r}")
    xlim = _mass_range((curve, *extra_curves))
    y_range = ylim or _y_range(
        _drawn_values((curve, *extra_curves), overlays, xlim),
        legend_above=legend_loc.startswith("upper"),
    )
    top = y_range[1] * 1e3
    with plot_style():
        fig, ax, rax = _exclusion_axes(with_ratio=ratio_to is not None)
        _log_axes(ax)
        ax.set_xlim(*xlim)
        ax.set_ylim(*y_range)
        legend: list[tuple[Any, str]] = []
        _draw_limit(
            ax,
            curve,
            top if excluded == "above" else y_range[0] / 1e3,
            "k",
            _EXCLUDED,
            legend,
            (_YELLOW, _GREEN),
            1.0,
        )
        for i, extra in enumerate(extra_curves):
            color = ("tab:red", "tab:purple", "tab:brown")[i % 3]
            _draw_limit(ax, extra, top, color, None, legend, (color, color), 0.18)
        _draw_overlays(ax, overlays, top, legend)
        _set_ylabel(ax, coupling)
        _draw_legend(ax, legend, legend_loc)
        if title:
            ax.set_title(title, fontsize=12, loc="left", pad=10)
        axis = rax if rax is not None else ax
        axis.set_xlabel(x_label)
        if rax is not None and ratio_to is not None:
            _draw_ratio_panel(rax, curve, ratio_to, ratio_of)
        written = save_figure(fig, stem)
    written.append(
        write_text_atomic(
            Path(stem).with_suffix(".csv"), _csv(curve, coupling, extra_curves, overlays)
        )
    )
    return written


def _mass_range(curves: Sequence[LimitCurve]) -> tuple[float, float]:
    """The x range [GeV] of an exclusion plot: the curves' masses with margins (x 0.8, x 1.25)."""
    lo = min(float(np.min(c.mass_gev)) for c in curves)
    hi = max(float(np.max(c.mass_gev)) for c in curves)
    return lo * 0.8, hi * 1.25


def _drawn_values(
    curves: Sequence[LimitCurve], overlays: Sequence[Overlay], xlim: tuple[float, float]
) -> list[Any]:
    """Every drawn coupling array: the curves' observed and expected limits and the overlays' edges
    inside the mass range ``xlim`` (only they set the y range).
    """
    drawn: list[Any] = [
        v
        for c in curves
        for v in ([c.observed] if c.observed is not None else [])
        + [c.expected[b] for b in BAND_NAMES if b in c.expected]
    ]
    for o in overlays:
        inside = (np.asarray(o.mass_gev) >= xlim[0]) & (np.asarray(o.mass_gev) <= xlim[1])
        drawn += [np.asarray(o.lower)[inside]] + (
            [] if o.upper is None else [np.asarray(o.upper)[inside]]
        )
    return drawn


def _exclusion_axes(with_ratio: bool) -> tuple[Figure, Any, Any]:
    """A figure with the exclusion axes, and below them a ratio panel (``with_ratio``) or None."""
    if with_ratio:
        fig = Figure(figsize=(9, 8.5))
        ax, rax = fig.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3.2, 1], "hspace": 0.06}
        )
        return fig, ax, rax
    fig = Figure(figsize=(9, 7))
    return fig, fig.subplots(), None


def _draw_legend(ax: Any, legend: Sequence[tuple[Any, str]], loc: str) -> None:
    """The legend inside the axes at ``loc``: one entry per drawn element."""
    ax.legend(
        [h for h, _ in legend],
        [label for _, label in legend],
        loc=loc,
        fontsize=9.5,
        frameon=True,
        framealpha=0.92,
        edgecolor="0.6",
        fancybox=False,
        borderaxespad=0.6,
        handler_map=_HANDLERS,
        handlelength=2.4,
    )


def load_lmt(path: str | os.PathLike[str], label: str | None = None, **style: object) -> Overlay:
    """An overlay from a darkcast ``.lmt`` limit file: '#' comments, then one 'mass_GeV value' pair
    per line.

    Such files hold limits of other experiments (darkcast's ``limits/`` folder),
    drawn with the region above them shaded (``excluded``), or, for a file with
    two coupling columns, as the closed region between them; the label defaults
    to the file name without its suffix. A file with fewer than two points, or
    a line that is not two positive numbers, is an InputError naming the file
    and the line.
    """
    from na64stat.results.limitfiles import read_lmt

    source = Path(path)
    curve = read_lmt(source)
    upper = getattr(curve, "upper", None)
    if upper is not None:  # two coupling columns: the closed region between them is excluded
        return Overlay(
            label or source.stem,
            curve.mass_gev,
            curve.lower,
            np.asarray(upper, dtype=float),
            **style,  # type: ignore[arg-type]
        )
    return Overlay(label or source.stem, curve.mass_gev, curve.lower, **{"excluded": True, **style})  # type: ignore[arg-type]


def curves_plot(
    overlays: Sequence[Overlay],
    stem: str | os.PathLike[str],
    *,
    coupling: str,
    title: str = "",
    x_label: str = MASS_LABELS["m_aprime"],
) -> list[Path]:
    """Several curves / bands in (mass, coupling), log-log (projections, reference curves); PNG and
    PDF.
    """
    if coupling not in COUPLING_LABELS:
        raise InputError(f"unknown coupling {coupling!r}; known: {', '.join(COUPLING_LABELS)}")
    drawn = [
        np.asarray(v, dtype=float) for o in overlays for v in (o.lower, o.upper) if v is not None
    ]
    y_range = _y_range(drawn)
    with plot_style():
        fig = Figure(figsize=(9, 7))
        ax = fig.subplots()
        legend: list[tuple[Any, str]] = []
        _draw_overlays(ax, overlays, y_range[1] * 1e3, legend)
        _log_axes(ax)
        ax.set_ylim(*y_range)
        ax.set_xlabel(x_label)
        _set_ylabel(ax, coupling)
        ax.legend(
            [h for h, _ in legend],
            [label for _, label in legend],
            loc="lower right",
            fontsize=9.5,
            frameon=True,
            framealpha=0.92,
            edgecolor="0.6",
            fancybox=False,
            handler_map=_HANDLERS,
        )
        if title:
            ax.set_title(title, fontsize=12, loc="left", pad=10)
        return save_figure(fig, stem)


def cls_scan_plot(
    mu: Sequence[float],
    cls_observed: Sequence[float],
    cls_expected: Mapping[str, Sequence[float]],
    stem: str | os.PathLike[str],
    *,
    confidence_level: float = 0.9,
    xlabel: str = r"$\mu$",
    title: str = "",
) -> list[Path]:
    """CLs against the signal strength (or coupling) at one mass, with the expected band and the CL
    line.
    """
    with plot_style():
        fig = Figure(figsize=(8, 6))
        ax = fig.subplots()
        x = np.asarray(mu, dtype=float)
        e = {k: np.asarray(v, dtype=float) for k, v in cls_expected.items()}
        if all(b in e for b in BAND_NAMES):
            ax.fill_between(
                x,
                e["-2sigma"],
                e["+2sigma"],
                color="#ffdf00",
                lw=0,
                label=r"Expected $\pm 2\sigma$",
            )
            ax.fill_between(
                x,
                e["-1sigma"],
                e["+1sigma"],
                color="#00cc00",
                lw=0,
                label=r"Expected $\pm 1\sigma$",
            )
            ax.plot(x, e["median"], "k--", label="Expected (median)")
        ax.plot(x, cls_observed, "k-", lw=2, label="Observed")
        ax.axhline(
            1.0 - confidence_level, color="red", lw=1.2, label=f"CLs = {1 - confidence_level:.2f}"
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("CLs")
        ax.set_ylim(0, 1.05)
        ax.legend(frameon=False, fontsize=11)
        if title:
            ax.set_title(title, fontsize=13)
        return save_figure(fig, stem)


def cutflow_figure(
    cutflow: Mapping[str, Any], sample: str, stem: str | os.PathLike[str]
) -> list[Path]:
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
    bars = [_cut_bar(row) for row in s["cutflow"]] + [
        _region_bar(name, value, total_w) for name, value in s.get("regions", {}).items()
    ]
    names = [b[0] for b in bars]
    cumulative = [b[1] for b in bars]
    relative = [b[2] for b in bars]
    texts = [b[3] for b in bars]
    with plot_style():
        fig = Figure(figsize=(12, 0.55 * len(names) + 1.8))
        ax = fig.subplots()
        y = np.arange(len(names))[::-1]
        left = _left_edge(cumulative)
        ax.barh(y, [max(r, left) for r in relative], color="#c6dbef", height=0.75)
        ax.barh(y, [max(c, left) for c in cumulative], color="#2171b5", height=0.45)
        ax.set_xscale("log")
        ax.set_xlim(left, 1.5)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=12)
        ax.tick_params(axis="y", which="both", length=0)
        # one tick per cut, no minor ticks (matplotlib 3.7's AutoMinorLocator warns on the
        # descending ticks of these bars)
        ax.yaxis.set_minor_locator(NullLocator())
        for yi, c, text in zip(y, cumulative, texts):
            ax.text(
                1.02,
                yi,
                text if text == "blinded" else f"{c:.3g}:  {text}" if c > 0 else f"0:  {text}",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=11,
            )
        ax.set_xlabel(
            "efficiency: cumulative (dark bars), of this cut alone (light bars)", fontsize=13
        )
        head = f"{total.get('raw', '?')} events" + (f", weighted {total_w:.4g}" if total_w else "")
        ax.set_title(
            f"cutflow: {sample} ({head}); right: cumulative efficiency, events left (weighted)",
            fontsize=12,
            loc="left",
        )
        return save_figure(fig, stem)


def _left_edge(efficiencies: Sequence[float]) -> float:
    """The left end of a log efficiency axis: 1/20 of the smallest non-zero value (1e-3 if none)."""
    shown = [c for c in efficiencies if c > 0]
    return max(1e-12, min(shown) / 20 if shown else 1e-3)


def _cut_bar(row: Mapping[str, Any]) -> tuple[str, float, float, str]:
    """One cut's bar: name, cumulative and relative efficiency, and the events left as text."""
    nan = f", {row['failed_with_nan']} NaN" if row.get("failed_with_nan") else ""
    return (
        str(row["cut"]),
        float(row.get("cumulative_efficiency") or 0.0),
        float(row.get("relative_efficiency") or 0.0),
        f"{row['raw']} ev. ({row['weighted']:.3g} w.){nan}",
    )


def _region_bar(name: str, value: Any, total_w: float) -> tuple[str, float, float, str]:
    """One region's bar: its weighted yield over the total ('blinded' where not filled)."""
    if value == "blinded":
        return f"region: {name}", 0.0, 0.0, "blinded"
    eff = float(value["weighted"]) / total_w if total_w > 0 else 0.0
    return f"region: {name}", eff, 0.0, f"{value['raw']} ev. ({value['weighted']:.3g} w.)"


#: Colours of :func:`model_limits_plot`'s curves, in the order of its labels.
_MODEL_COLOURS = ("tab:blue", "tab:orange", "black", "tab:green", "tab:red")


def model_limits_plot(
    limits: Mapping[str, ModelLimits],
    stem: str | os.PathLike[str],
    *,
    title: str = "",
) -> list[Path]:
    """One model's coupling limits from each beam and their combination, log-log; PNG and PDF.

    Parameters
    ----------
    limits : mapping of str to ModelLimits
        Per label (e.g. ``"NA64e"``, ``"NA64mu"``, ``"NA64e + NA64mu"``) one model's limits
        (:func:`na64stat.results.model_recast.beam_and_combined_limits`); the observed limit is
        drawn solid, the median expected dashed where it differs. All must be of one model.
    stem : str or path
        Output path without suffix.
    title : str, optional
        Title (default: the model's label).

    Returns
    -------
    list of Path
        The files written.
    """
    from na64stat.physics.models import get_model

    models = {v.model for v in limits.values()}
    if len(models) != 1:
        raise InputError(f"model_limits_plot draws one model, got {sorted(models)}")
    record = get_model(models.pop())
    curves = {label: (v.curve("observed"), v.curve("median")) for label, v in limits.items()}
    finite = [y[np.isfinite(y) & (y > 0)] for (_, y), (_, e) in curves.values() for y in (y, e)]
    values = np.concatenate([f for f in finite if f.size] or [np.array([1e-6, 1e-2])])
    with plot_style():
        fig = Figure(figsize=(9, 7))
        ax = fig.subplots()
        for colour, (label, ((m, obs), (_, median))) in zip(_MODEL_COLOURS * 3, curves.items()):
            ax.plot(m, obs, color=colour, lw=2, label=f"{label} observed")
            if not np.allclose(median, obs, rtol=1e-3, equal_nan=True):
                ax.plot(m, median, color=colour, lw=1.5, ls="--", label=f"{label} median expected")
        _log_axes(ax)
        ax.set_ylim(values.min() / 3, values.max() * 3)
        ax.set_xlabel(r"$m_X$ [GeV]")
        name = record.coupling_name
        base, _, sub = name.partition("_")
        ax.set_ylabel(COUPLING_LABELS.get(name, f"${base}_{{{sub}}}$" if sub else f"${base}$"))
        ax.legend(loc="best", fontsize=10, frameon=True, framealpha=0.92, fancybox=False)
        ax.set_title(title or f"{record.label}: upper limits", fontsize=12, loc="left", pad=10)
        return save_figure(fig, stem)
