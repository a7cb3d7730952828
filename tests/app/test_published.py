"""``na64stat reproduce published``: every shipped published curve against its prediction from
exposure and setup alone, as a table and JSON."""

import json
import math

import pytest

from na64stat.app.published import PUBLISHED_CURVES, published_comparison
from na64stat.core.references import available_resources, load_curve


@pytest.fixture(scope="module")
def result():
    return published_comparison()


def test_every_shipped_published_na64_curve_is_compared(result):
    shipped = {n for n in available_resources() if n.startswith("na64")}
    assert set(result["curves"]) == shipped == {c.resource for c in PUBLISHED_CURVES}
    assert result["masses_gev"] == [0.001, 0.01, 0.1, 1.0]


def test_ratios_are_finite_where_the_curve_covers_the_mass(result):
    for name, record in result["curves"].items():
        curve = load_curve(name)
        for point in record["points"].values():
            m = point["mass_gev"]
            covered = curve.mass_gev[0] <= m <= curve.mass_gev[-1]
            keys = ["ratio"] if record["kind"] == "upper_limit" else ["ratio_lower", "ratio_upper"]
            for key in keys:
                if not covered:
                    assert point[key] is None, (name, m)
                elif (
                    record["kind"] == "upper_limit"
                ):  # a reach exists at every mass the setup can make
                    assert (
                        point[key] is not None and math.isfinite(point[key]) and point[key] > 0
                    ), (name, m)
                elif (
                    point[key] is not None
                ):  # visible: 'none' where the prediction excludes nothing
                    assert math.isfinite(point[key]) and point[key] > 0, (name, m)


def test_prl123_ratio_is_prediction_over_curve(result):
    point = result["curves"]["na64e_invisible_2019"]["points"]["0.01"]
    published = float(load_curve("na64e_invisible_2019").interpolate(0.01))
    assert point["published"] == pytest.approx(published)
    assert point["ratio"] == pytest.approx(point["predicted"] / published)


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    from na64stat.app.cli import main

    main(
        ["reproduce", "published", "--out", str(tmp_path), "--masses", "0.001,0.01"]
    )  # returns on success
    out = capsys.readouterr().out
    assert (
        "na64e_invisible_2019" in out
        and "PRL 123 (2019) 121801" in out
        and "n/a" not in out.split("\n")[2]
    )
    data = json.loads((tmp_path / "published.json").read_text())
    assert data["masses_gev"] == [0.001, 0.01] and set(data["curves"]) == {
        c.resource for c in PUBLISHED_CURVES
    }


def test_caveats_quote_the_ratios_the_comparison_measures(result):
    """The setups' caveats state measured ratios; they must stay what the code computes (to their 2
    digits).
    """
    import re

    from na64stat.physics.setups import get_setup
    from na64stat.physics.visible import VISIBLE_RUNS, excluded_epsilon_range

    invisible = " ".join(get_setup("na64e-invisible").caveats)
    quoted = [
        float(v)
        for v in re.search(
            r"(\d\.\d\d), (\d\.\d\d), (\d\.\d\d) and (\d\.\d\d) of PRL 123's epsilon", invisible
        ).groups()
    ]
    points = result["curves"]["na64e_invisible_2019"]["points"]
    measured = [points[m]["ratio"] for m in ("0.001", "0.01", "0.1", "1")]
    assert measured == pytest.approx(quoted, abs=0.006)
    assert all(abs(r - 1) < 0.3 for r in measured)  # "within 30%"
    prd97, prl118 = (
        float(v)
        for v in re.search(
            r"up to (\d\.\d\d) of PRD 97's and (\d\.\d\d) of PRL 118's", invisible
        ).groups()
    )
    worst = {
        name: max(
            p["ratio"] for p in result["curves"][name]["points"].values() if p["ratio"] is not None
        )
        for name in ("na64e_invisible_2017", "na64e_invisible_2016")
    }
    assert worst["na64e_invisible_2017"] == pytest.approx(prd97, abs=0.006)
    assert worst["na64e_invisible_2016"] == pytest.approx(prl118, abs=0.006)

    # with annihilation on (the setup's default), the ratio to PRL 123 (which did not count it) at
    # the
    # bottom of the dip, on a 2.5 MeV grid over 200-320 MeV
    import numpy as np

    from na64stat.physics.yields import background_free_reach

    quoted_ann, quoted_mass = (
        float(v)
        for v in re.search(
            r"reach (\d\.\d\d) at (\d+) MeV, the bottom of the dip", invisible
        ).groups()
    )
    masses = np.linspace(0.2, 0.32, 49)
    ratio = background_free_reach(get_setup("na64e-invisible"), masses).epsilon / load_curve(
        "na64e_invisible_2019"
    ).interpolate(masses)
    assert ratio.min() == pytest.approx(quoted_ann, abs=0.006)
    assert masses[np.argmin(ratio)] * 1e3 == pytest.approx(quoted_mass, abs=2.5)

    (visible,) = get_setup("na64e-visible").caveats
    edges = [
        float(v)
        for v in re.search(
            r"(\d\.\d\d) and (\d\.\d\d) of PRD 101's and (\d\.\d\d) and (\d\.\d\d) of "
            r"PRL 120's",
            visible,
        ).groups()
    ]
    both = excluded_epsilon_range((VISIBLE_RUNS["2017"], VISIBLE_RUNS["2018"]), 0.0167)
    first = excluded_epsilon_range((VISIBLE_RUNS["2017"],), 0.0167)
    # the abstracts: PRD 101 1.2e-4 - 6.8e-4, PRL 120 1.3e-4 - 4.2e-4 at 16.7 MeV
    assert [
        both[0] / 1.2e-4,
        both[1] / 6.8e-4,
        first[0] / 1.3e-4,
        first[1] / 4.2e-4,
    ] == pytest.approx(edges, abs=0.006)
    curves = [
        float(v)
        for v in re.search(
            r"prints (\d\.\d\d) and (\d\.\d\d) \(PRD 101\) and (\d\.\d\d) and "
            r"(\d\.\d\d) \(PRL 120\) at 10 MeV",
            visible,
        ).groups()
    ]
    p19, p18 = (
        result["curves"]["na64e_visible_2019"]["points"]["0.01"],
        result["curves"]["na64e_visible_2018"]["points"]["0.01"],
    )
    assert [
        p19["ratio_lower"],
        p19["ratio_upper"],
        p18["ratio_lower"],
        p18["ratio_upper"],
    ] == pytest.approx(curves, abs=0.006)


def test_every_caveat_is_printed(result):
    from na64stat.app.published import format_published_table
    from na64stat.physics.setups import SETUPS

    table = format_published_table(result)
    for setup in SETUPS.values():
        for caveat in setup.caveats:
            assert f"caveat ({setup.name}): {caveat}" in table


def test_reach_compares_with_prl123_without_annihilation_like_for_like():
    """PRL 123 did not count e+ e- -> A': summarize compares its curve with the reach without it (at
    250 MeV,
    inside the window, the two reaches differ by a factor ~4); a setup already without it gets no
    note.
    """
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import background_free_reach
    from na64stat.results.summary import summarize

    setup = get_setup("na64e-invisible")
    (comparison,) = summarize(setup, [0.25]).comparisons
    off = background_free_reach(setup.with_(positron_annihilation=False), [0.25]).epsilon
    on = background_free_reach(setup, [0.25]).epsilon
    assert comparison.ours == pytest.approx(off, rel=1e-12) and on[0] < off[0] / 3
    assert comparison.ratio == pytest.approx(
        off / load_curve("na64e_invisible_2019").interpolate([0.25]), rel=1e-12
    )
    assert "did not count" in comparison.note
    (plain,) = summarize(setup.with_(positron_annihilation=False), [0.25]).comparisons
    assert plain.note == "" and plain.ratio == pytest.approx(comparison.ratio, rel=1e-12)


def test_readme_quotes_the_measured_numbers(result):
    """The README's paragraph on the published comparison states what the code computes (to its
    digits).
    """
    import re
    from pathlib import Path

    from na64stat.physics.analysis_factors import cutflow_factor, dimuon_reweighting_factor
    from na64stat.physics.visible import VISIBLE_RUNS, excluded_epsilon_range

    text = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    quoted = [
        float(v)
        for v in re.search(
            r"2016-2018 background-free reach in epsilon is (\d\.\d\d), (\d\.\d\d), "
            r"(\d\.\d\d) and (\d\.\d\d) times",
            text,
        ).groups()
    ]
    points = result["curves"]["na64e_invisible_2019"]["points"]
    assert [points[m]["ratio"] for m in ("0.001", "0.01", "0.1", "1")] == pytest.approx(
        quoted, abs=0.006
    )
    factor, dimuon = (
        float(v)
        for v in re.search(
            r"itself \((\d\.\d\d\d) of the cumulative 0.48\), and the dimuon "
            r"reweighting \((\d\.\d\d\d)\)",
            text,
        ).groups()
    )
    assert cutflow_factor() == pytest.approx(
        factor, abs=6e-4
    ) and dimuon_reweighting_factor() == pytest.approx(dimuon)
    lo, hi, r_lo, r_hi = (
        float(v)
        for v in re.search(
            r"X17 range, (\d\.\d\de-4) < epsilon < (\d\.\de-4) at 16.7 MeV, "
            r"is (\d\.\d\d) and (\d\.\d\d) of PRD 101's edges",
            text,
        ).groups()
    )
    both = excluded_epsilon_range((VISIBLE_RUNS["2017"], VISIBLE_RUNS["2018"]), 0.0167)
    assert both[0] == pytest.approx(lo, rel=0.006) and both[1] == pytest.approx(hi, rel=0.006)
    assert [both[0] / 1.2e-4, both[1] / 6.8e-4] == pytest.approx([r_lo, r_hi], abs=0.006)
