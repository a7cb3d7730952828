"""The main figures against committed baseline PNGs (as cabinetry and pyhf compare their plots).

Each figure is drawn from fixed, synthetic inputs by the same functions the
main job uses (:func:`na64stat.results.plotting.exclusion_plot`,
:func:`~na64stat.results.plotting.cutflow_figure`) at a low resolution
(:data:`DPI`) and compared with ``tests/results/baselines/<name>.png`` by
``matplotlib.testing.compare.compare_images`` with an RMS tolerance
(:data:`TOLERANCE`, on the 0-255 scale). Both images are first smoothed with a
box filter (:data:`SMOOTHING` pixels each side), so that glyph-level
differences (font hinting, antialiasing, freetype builds: measured RMS 3.6 -
7.0 here, 7.7 - 11.6 for a 3% larger font) stay below the tolerance while the
y plot without its bands does not (13.1, :func:`test_the_comparison_sees_missing_bands`). Images a
few pixels apart in size (font metrics move ``bbox_inches="tight"``) are cropped to their common
size first; a larger size difference fails.

Regenerate the baselines after an intended change of a figure, and look at
them before committing:

    PYTHONPATH=. .venv/bin/python tests/results/test_image_baselines.py

(writes ``tests/results/baselines/*.png``; the same as ``NA64STAT_REGENERATE_BASELINES=1
pytest tests/results/test_image_baselines.py``, which then skips the comparisons).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
BASELINES = HERE / "baselines"
#: PNG resolution of the baselines (small files).
DPI = 40
#: RMS tolerance of compare_images (0-255 grey levels), after smoothing.
TOLERANCE = 9.0
#: Half-width [pixels] of the box filter applied to both images before comparing.
SMOOTHING = 4
#: Largest size difference [pixels] cropped away before comparing.
MAX_SIZE_DIFFERENCE = 12

BANDS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")
#: matplotlib (major.minor) the baselines were drawn with: its text layout and defaults change
#: between
#: minor versions (3.7's differs from 3.11's by more than fonts), so other versions skip the
#: comparison,
#: as pytest-mpl users pin matplotlib for their image tests
VERSION_FILE = BASELINES / "MATPLOTLIB_VERSION"


def _matplotlib_minor() -> str:
    import matplotlib

    return ".".join(matplotlib.__version__.split(".")[:2])


def _skip_other_matplotlib() -> None:
    made_with = VERSION_FILE.read_text().strip() if VERSION_FILE.exists() else "unknown"
    if made_with != _matplotlib_minor():
        pytest.skip(f"baselines drawn with matplotlib {made_with}, this is {_matplotlib_minor()}")


@pytest.fixture(autouse=True)
def _collect_garbage():  # type: ignore[no-untyped-def]
    """Free the figures' objects here, not in a later test's timed fit (plan_method measures seconds
    per fit).
    """
    yield
    import gc

    gc.collect()


def _masses() -> np.ndarray:
    return np.logspace(-3, 0, 22)


def _limit(scale: float, widths: tuple[float, ...], label: str):
    from na64stat.results.plotting import LimitCurve

    m = _masses()
    median = scale * 1.5e-4 * (m / 1e-3) ** 0.75
    return LimitCurve(m, median * 0.97, {b: median * f for b, f in zip(BANDS, widths)}, label=label)


def draw_exclusion_epsilon(stem: Path) -> None:
    """The headline layout: simulated limit (narrow bands), the scaled chain (collapsed lower band),
    published ratio.
    """
    from na64stat.results.plotting import Overlay, exclusion_plot

    sim = _limit(1.0, (0.93, 0.96, 1.0, 1.04, 1.08), "simulated NA64e, 5e+08 EOT")
    pub = _limit(1 / 23.8, (0.92, 0.95, 1.0, 1.42, 2.05), "same chain scaled to 2.84e+11 EOT")
    m = _masses()
    ref = Overlay(
        "NA64e 2016-2018, 2.84e+11 EOT, published",
        m,
        pub.observed * (1.1 + 0.6 * np.log10(1 / m) / 3),
        color="tab:blue",
    )
    gm2 = Overlay(
        r"$(g-2)_\mu$ explained, $\pm 2\sigma$",
        m,
        1e-3 * (1 + 10 * m),
        2e-3 * (1 + 10 * m),
        color="tab:green",
    )
    exclusion_plot(
        sim,
        stem,
        coupling="epsilon",
        overlays=[ref, gm2],
        extra_curves=[pub],
        ratio_to=ref,
        ratio_of=Overlay(pub.label, pub.mass_gev, pub.observed),
        title="image test: epsilon",
    )


def draw_exclusion_y(stem: Path) -> None:
    """y against m_chi with the relic targets on a dense grid, a collapsed band, BaBar's excluded
    region and
    one mass inside the resonant-annihilation window (a marker, no notch).
    """
    from na64stat.physics.couplings import relic_target_y_full
    from na64stat.results.plotting import MASS_LABELS, LimitCurve, Overlay, exclusion_plot

    m_chi = _masses() / 3.0
    median = 3e-11 * (m_chi / m_chi[0]) ** 3
    window = (0.2261 / 3.0, 0.3197 / 3.0)
    median[(m_chi > window[0]) & (m_chi < window[1])] /= 30.0
    curve = LimitCurve(
        m_chi,
        median,
        {b: median * f for b, f in zip(BANDS, (1.0, 1.0, 1.0, 4.0, 16.0))},
        label="limit",
        breaks=window,
    )
    dense = np.geomspace(m_chi.min(), m_chi.max(), 200)
    relic = [
        Overlay(f"thermal relic: {k}", dense, relic_target_y_full(dense, k), linestyle="--")
        for k in ("scalar", "majorana", "pseudodirac")
    ]
    babar = Overlay(
        "BaBar-like",
        np.array([1e-3, 0.4]),
        np.array([1.1e-9, 1.1e-9]),
        color="tab:gray",
        excluded=True,
    )
    exclusion_plot(
        curve,
        stem,
        coupling="y",
        overlays=[*relic, babar],
        x_label=MASS_LABELS["m_chi"],
        title=r"image test: y, $\alpha_D = 0.1$, $m_{A'} = 3\, m_\chi$",
    )


def draw_cutflow(stem: Path) -> None:
    """Cutflow bars with counts, a NaN count, a blinded and an empty region."""
    from na64stat.results.plotting import cutflow_figure

    rows, n, w = [], 100_000, 1e5
    for cut, keep in (
        ("beam_momentum", 0.76),
        ("srd", 0.38),
        ("preshower", 1.0),
        ("shower_shape", 0.12),
        ("veto", 0.1),
    ):
        n, w = int(n * keep), w * keep
        rows.append(
            {
                "cut": cut,
                "raw": n,
                "weighted": w,
                "relative_efficiency": keep,
                "cumulative_efficiency": w / 1e5,
                "failed_with_nan": 4746 if cut == "beam_momentum" else 0,
            }
        )
    cutflow = {
        "samples": {
            "data": {
                "total": {"raw": 100_000, "weighted": 1e5},
                "cutflow": rows,
                "regions": {
                    "signal": "blinded",
                    "hcal_sideband": {"raw": 7, "weighted": 7.0},
                    "ecal_sideband": {"raw": 0, "weighted": 0.0},
                },
            }
        }
    }
    cutflow_figure(cutflow, "data", stem)


FIGURES: dict[str, Callable[[Path], None]] = {
    "exclusion_epsilon": draw_exclusion_epsilon,
    "exclusion_y": draw_exclusion_y,
    "cutflow": draw_cutflow,
}


def render(name: str, folder: Path) -> Path:
    """Draw figure ``name`` into ``folder`` at the baselines' resolution; returns the PNG."""
    from na64stat.results import plotting

    previous = plotting.DPI
    plotting.DPI = DPI
    try:
        FIGURES[name](folder / name)
    finally:
        plotting.DPI = previous
    return folder / f"{name}.png"


def _cropped_to_common_size(actual: Path, expected: Path, folder: Path) -> tuple[Path, Path] | None:
    """Both images cropped to their common size when they differ by a few pixels; None when they
    differ by more.
    """
    import matplotlib.image as mpimg

    a, e = mpimg.imread(actual), mpimg.imread(expected)
    if a.shape == e.shape:
        return actual, expected
    if max(abs(a.shape[0] - e.shape[0]), abs(a.shape[1] - e.shape[1])) > MAX_SIZE_DIFFERENCE:
        return None
    h, w = min(a.shape[0], e.shape[0]), min(a.shape[1], e.shape[1])
    channels = min(a.shape[2], e.shape[2]) if a.ndim == 3 and e.ndim == 3 else None
    out = []
    for image, name in ((a, "actual"), (e, "expected")):
        crop = image[:h, :w, :channels] if channels else image[:h, :w]
        path = folder / f"{actual.stem}_{name}_cropped.png"
        mpimg.imsave(path, crop)
        out.append(path)
    return out[0], out[1]


def _smoothed(path: Path, folder: Path, tag: str) -> Path:
    """A copy of the PNG averaged over (2 SMOOTHING + 1)^2 pixels (RGB), in ``folder`` (never next
    to a baseline).
    """
    import matplotlib.image as mpimg

    image = mpimg.imread(path)[..., :3]
    k, n = SMOOTHING, 2 * SMOOTHING + 1
    padded = np.pad(image, ((k, k), (k, k), (0, 0)), mode="edge")
    summed = np.pad(np.cumsum(np.cumsum(padded, axis=0), axis=1), ((1, 0), (1, 0), (0, 0)))
    mean = (summed[n:, n:] - summed[:-n, n:] - summed[n:, :-n] + summed[:-n, :-n]) / n**2
    target = folder / f"{path.stem}_{tag}_smoothed.png"
    mpimg.imsave(target, np.clip(mean, 0.0, 1.0))
    return target


def compare(actual: Path, expected: Path, folder: Path) -> float | None:
    """RMS difference of the smoothed images (None: equal), or pytest failure on a size mismatch."""
    from matplotlib.testing.compare import compare_images

    pair = _cropped_to_common_size(actual, expected, folder)
    assert pair is not None, (
        f"{actual.name}: size differs from {expected} by more than {MAX_SIZE_DIFFERENCE} pixels"
    )
    expected_s, actual_s = (
        _smoothed(pair[1], folder, "expected"),
        _smoothed(pair[0], folder, "actual"),
    )
    result = compare_images(str(expected_s), str(actual_s), tol=0, in_decorator=True)
    return None if result is None else float(result["rms"])


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_matches_its_baseline(name: str, tmp_path: Path) -> None:

    if os.environ.get("NA64STAT_REGENERATE_BASELINES"):
        BASELINES.mkdir(exist_ok=True)
        render(name, BASELINES)
        (BASELINES / f"{name}.pdf").unlink(missing_ok=True)
        (BASELINES / f"{name}.csv").unlink(missing_ok=True)
        VERSION_FILE.write_text(_matplotlib_minor() + "\n")
        pytest.skip(f"regenerated {BASELINES / name}.png")
    _skip_other_matplotlib()
    expected = BASELINES / f"{name}.png"
    assert expected.exists(), (
        f"no baseline {expected}: run 'python {Path(__file__).name}' to make it"
    )
    rms = compare(render(name, tmp_path), expected, tmp_path)
    assert rms is None or rms <= TOLERANCE, (
        f"{name}: RMS {rms:.2f} > {TOLERANCE} against {expected}"
    )


@pytest.mark.parametrize("name", ["exclusion_y"])
def test_the_comparison_sees_missing_bands(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tolerance is not so loose that a figure whose bands are not drawn (legend unchanged)
    would pass.
    """
    from na64stat.results import plotting

    original = plotting._draw_bands

    def hidden_bands(ax, *args, **kwargs):  # type: ignore[no-untyped-def]
        before = len(ax.collections)
        handle = original(ax, *args, **kwargs)
        for collection in ax.collections[before:]:
            collection.set_alpha(0.0)
        return handle

    monkeypatch.setattr(plotting, "_draw_bands", hidden_bands)
    _skip_other_matplotlib()
    rms = compare(render(name, tmp_path), BASELINES / f"{name}.png", tmp_path)
    assert rms is not None and rms > 1.3 * TOLERANCE, rms


if __name__ == "__main__":  # regenerate the baselines
    BASELINES.mkdir(exist_ok=True)
    for figure in FIGURES:
        path = render(figure, BASELINES)
        for suffix in (".pdf", ".csv"):
            path.with_suffix(suffix).unlink(missing_ok=True)
        print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    VERSION_FILE.write_text(_matplotlib_minor() + "\n")
