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
                elif record["kind"] == "upper_limit":  # a reach exists at every mass the setup can make
                    assert point[key] is not None and math.isfinite(point[key]) and point[key] > 0, (name, m)
                elif point[key] is not None:  # visible: 'none' where the prediction excludes nothing
                    assert math.isfinite(point[key]) and point[key] > 0, (name, m)


def test_prl123_ratio_is_prediction_over_curve(result):
    point = result["curves"]["na64e_invisible_2019"]["points"]["0.01"]
    published = float(load_curve("na64e_invisible_2019").interpolate(0.01))
    assert point["published"] == pytest.approx(published)
    assert point["ratio"] == pytest.approx(point["predicted"] / published)


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    from na64stat.app.cli import main

    main(["reproduce", "published", "--out", str(tmp_path), "--masses", "0.001,0.01"])  # returns on success
    out = capsys.readouterr().out
    assert "na64e_invisible_2019" in out and "PRL 123 (2019) 121801" in out and "n/a" not in out.split("\n")[2]
    data = json.loads((tmp_path / "published.json").read_text())
    assert data["masses_gev"] == [0.001, 0.01] and set(data["curves"]) == {c.resource for c in PUBLISHED_CURVES}
