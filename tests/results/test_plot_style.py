"""The exclusion plots' conventions: the caller's matplotlib style untouched, the legend inside the
axes with
only what is drawn, no line across a production window's edges, every drawn curve in the CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from na64stat.results import plotting
from na64stat.results.plotting import (
    LimitCurve,
    Overlay,
    cls_scan_plot,
    curves_plot,
    cutflow_figure,
    exclusion_plot,
)

BANDS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")


def _curve(
    widths: tuple[float, ...] = (0.7, 0.85, 1.0, 1.2, 1.5),
    breaks: tuple[float, ...] = (),
    observed: float = 1.0,
) -> LimitCurve:
    m = np.array([0.001, 0.01, 0.1, 0.268, 0.5, 1.0])
    median = 1e-5 * m / 0.001
    median[3] /= 20  # one mass inside a window where the yield steps up
    return LimitCurve(
        m,
        median * observed,
        {b: median * f for b, f in zip(BANDS, widths)},
        label="limit",
        breaks=breaks,
    )


def _rc() -> dict[str, object]:
    return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}


def test_plotting_leaves_the_callers_rcparams_unchanged(tmp_path: Path) -> None:
    with matplotlib.rc_context({"font.size": 7.5, "lines.linewidth": 0.3}):
        before = _rc()
        exclusion_plot(
            _curve(),
            tmp_path / "e",
            overlays=[Overlay("x", np.array([0.001, 1.0]), np.array([1e-3, 1e-3]))],
        )
        curves_plot(
            [Overlay("x", np.array([0.001, 1.0]), np.array([1e-3, 1e-3]))],
            tmp_path / "c",
            coupling="epsilon",
        )
        cls_scan_plot([0, 1, 2], [1, 0.3, 0.05], {"median": [1, 0.2, 0.02]}, tmp_path / "s")
        cutflow_figure(
            {
                "samples": {
                    "d": {
                        "total": {"raw": 10, "weighted": 10.0},
                        "cutflow": [
                            {
                                "cut": "a",
                                "raw": 5,
                                "weighted": 5.0,
                                "relative_efficiency": 0.5,
                                "cumulative_efficiency": 0.5,
                            }
                        ],
                        "regions": {},
                    }
                }
            },
            "d",
            tmp_path / "f",
        )
        after = _rc()
    assert before == after


def _drawn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, curve: LimitCurve, **kwargs: object
) -> list:  # type: ignore[type-arg]
    """The figures exclusion_plot draws (kept instead of saved)."""
    figures: list = []  # type: ignore[type-arg]

    def keep(fig, stem, formats=("png", "pdf")):  # type: ignore[no-untyped-def]
        figures.append(fig)
        return []

    monkeypatch.setattr(plotting, "save_figure", keep)
    exclusion_plot(curve, tmp_path / "e", **kwargs)  # type: ignore[arg-type]
    return figures


def test_legend_inside_the_axes_lists_only_what_is_drawn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    collapsed = _curve(widths=(1.0, 1.0, 1.0, 1.0, 1.0))
    other = Overlay("BaBar", np.array([0.001, 1.0]), np.array([1e-3, 1e-3]), excluded=True)
    (fig,) = _drawn(monkeypatch, tmp_path, collapsed, overlays=[other])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [
        "limit, observed 90% CL (= expected median)",
        "BaBar",
    ]  # no band of zero width, no hidden median
    FigureCanvasAgg(fig)
    with plotting.plot_style():
        renderer = fig.canvas.get_renderer()
        inside = ax.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
    assert (
        inside.x0 <= legend.x0
        and legend.x1 <= inside.x1
        and inside.y0 <= legend.y0
        and legend.y1 <= inside.y1
    )
    (fig,) = _drawn(monkeypatch, tmp_path, _curve(observed=0.6))
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == [
        "limit, observed 90% CL",
        "limit, expected",
        r"limit, expected $\pm 1\sigma$, $\pm 2\sigma$",
    ]


def test_no_line_across_a_window_edge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A single mass inside the resonant-annihilation window is a marker, not the bottom of a
    notch.
    """
    (fig,) = _drawn(monkeypatch, tmp_path, _curve(breaks=(0.226, 0.32)))
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata())]
    joined = [line for line in lines if line.get_linestyle() != "None"]
    assert all(not (np.min(line.get_xdata()) < 0.226 < np.max(line.get_xdata())) for line in joined)
    markers = [line for line in lines if line.get_linestyle() == "None"]
    assert [list(line.get_xdata()) for line in markers] == [[0.268]]
    (fig,) = _drawn(monkeypatch, tmp_path, _curve())  # no breaks: one line through every mass
    assert max(len(line.get_xdata()) for line in fig.axes[0].get_lines()) == 6


def test_csv_holds_every_drawn_curve(tmp_path: Path) -> None:
    curve = _curve()
    extra = LimitCurve(
        curve.mass_gev, curve.observed / 2, {b: v / 2 for b, v in curve.expected.items()}, label="x"
    )
    band = Overlay("g-2", np.array([0.001, 0.002]), np.array([1e-3, 1e-3]), np.array([2e-3, 2e-3]))
    exclusion_plot(curve, tmp_path / "e", overlays=[band], extra_curves=[extra])
    rows = [
        r
        for r in csv.reader((tmp_path / "e.csv").read_text().splitlines())
        if r and not r[0].startswith("#")
    ]
    head = rows[0]
    assert head[:2] == ["mass_gev", "observed_epsilon"] and "x: observed" in head
    assert "g-2: lower" in head and "g-2: upper" in head
    column = head.index("x: observed")
    by_mass = {float(r[0]): r for r in rows[1:]}
    np.testing.assert_allclose(
        [float(by_mass[m][column]) for m in curve.mass_gev], curve.observed / 2, rtol=1e-5
    )
    assert by_mass[0.002][head.index("g-2: upper")] == "0.002" and by_mass[0.002][column] == ""
