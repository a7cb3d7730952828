"""darkcast .lmt and CombineHarvester limit JSON: round trips, the shipped darkcast files read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.results.limitfiles import (
    combine_limits_from_scan,
    read_combine_limits,
    read_lmt,
    write_combine_limits,
    write_lmt,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "na64_limits"


@pytest.mark.parametrize("two_sided", [False, True])
def test_lmt_round_trip(tmp_path, two_sided):
    mass = np.geomspace(1e-3, 1.0, 7)
    lower = 1e-5 * (1 + mass) ** 2
    upper = lower * 30 if two_sided else None
    write_lmt(tmp_path / "c.lmt", mass, lower, upper, comments=["test curve"])
    back = read_lmt(tmp_path / "c.lmt")
    np.testing.assert_allclose(back.mass_gev, mass, rtol=1e-9)
    np.testing.assert_allclose(back.lower, lower, rtol=1e-9)
    assert (back.upper is None) == (not two_sided)
    if two_sided:
        np.testing.assert_allclose(back.upper, upper, rtol=1e-9)
    assert "test curve" in back.comments


def test_shipped_darkcast_files_read():
    files = sorted(SHARED.glob("*.lmt"))
    if not files:
        pytest.skip(f"no darkcast files in {SHARED}")
    for path in files:
        curve = read_lmt(path)
        rows = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert len(curve.mass_gev) == len(rows)
        np.testing.assert_array_equal(curve.lower, [float(r[1]) for r in rows])
        if len(rows[0]) == 3:
            np.testing.assert_array_equal(curve.upper, [float(r[2]) for r in rows])


def test_lmt_errors(tmp_path):
    (tmp_path / "bad.lmt").write_text("0.01 1e-4\n0.02 1e-4 2e-3\n")
    with pytest.raises(InputError, match="line 2 has 2 coupling columns"):
        read_lmt(tmp_path / "bad.lmt")
    (tmp_path / "neg.lmt").write_text("0.01 -1\n0.02 1\n")
    with pytest.raises(InputError, match="line 1 needs positive"):
        read_lmt(tmp_path / "neg.lmt")


def test_combine_json_round_trip(tmp_path):
    limits = {"limits": {
        key: {"metadata": {"mass_gev": mass}, "observed": 2.0 * mass,
              "expected": {"-2sigma": mass, "-1sigma": 1.5 * mass, "median": 2 * mass, "+1sigma": 3 * mass,
                           "+2sigma": 4 * mass}}
        for key, mass in (("0.001", 0.001), ("0.1", 0.1))}}
    write_combine_limits(tmp_path / "ch.json", limits)
    raw = json.loads((tmp_path / "ch.json").read_text())
    assert set(raw["0.1"]) == {"obs", "exp-2", "exp-1", "exp0", "exp+1", "exp+2"}
    back = read_combine_limits(tmp_path / "ch.json")
    assert back == {0.001: combine_limits_from_scan(limits)["0.001"], 0.1: combine_limits_from_scan(limits)["0.1"]}
    assert back[0.1]["exp0"] == 0.2 and back[0.1]["obs"] == 0.2
    (tmp_path / "bad.json").write_text('{"0.1": {"median": 1}}')
    with pytest.raises(InputError, match="keys among"):
        read_combine_limits(tmp_path / "bad.json")
