"""darkcast .lmt and CombineHarvester limit JSON: round trips, the shipped darkcast files read and
rewritten as
darkcast reads them, CollectLimits output (--limit-err, --toys) read.
"""

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

SHARED = Path(__file__).resolve().parents[3] / "shared" / "na64_limits"


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
        rows = [
            line.split()
            for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
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
    limits = {
        "limits": {
            key: {
                "metadata": {"mass_gev": mass},
                "observed": 2.0 * mass,
                "expected": {
                    "-2sigma": mass,
                    "-1sigma": 1.5 * mass,
                    "median": 2 * mass,
                    "+1sigma": 3 * mass,
                    "+2sigma": 4 * mass,
                },
            }
            for key, mass in (("0.001", 0.001), ("0.1", 0.1))
        }
    }
    write_combine_limits(tmp_path / "ch.json", limits)
    raw = json.loads((tmp_path / "ch.json").read_text())
    assert set(raw["0.1"]) == {"obs", "exp-2", "exp-1", "exp0", "exp+1", "exp+2"}
    back = read_combine_limits(tmp_path / "ch.json")
    assert back == {
        0.001: combine_limits_from_scan(limits)["0.001"],
        0.1: combine_limits_from_scan(limits)["0.1"],
    }
    assert back[0.1]["exp0"] == 0.2 and back[0.1]["obs"] == 0.2
    (tmp_path / "bad.json").write_text('{"0.1": {"median": 1}}')
    with pytest.raises(InputError, match="keys among"):
        read_combine_limits(tmp_path / "bad.json")


def _darkcast_two_sided(text: str) -> dict[str, list[tuple[float, float]]]:
    """The rules of darkcast's ``utils.Datasets`` reader (read in darkcast's source; written
    independently here): the column names are the words of the FIRST line with '#' removed, after
    the first (the mass); every later
    line loses what follows a '#', blank ones are skipped, and each must hold one number per
    column.
    """
    lines = text.splitlines()
    names = lines[0].replace("#", "").split()[1:]
    columns: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for line in lines[1:]:
        words = line.split("#")[0].split()
        if not words:
            continue
        assert len(words) == len(names) + 1, line
        for name, value in zip(names, words[1:]):
            columns[name].append((float(words[0]), float(value)))
    return columns


def _darkcast_one_sided(text: str) -> list[tuple[float, float]]:
    """darkcast's ``utils.Dataset`` reader: every line loses what follows a '#'; the rest are 'x y'
    rows.
    """
    rows = [line.split("#")[0].split() for line in text.splitlines()]
    return [(float(r[0]), float(r[1])) for r in rows if r]


@pytest.mark.parametrize("two_sided", [False, True])
def test_written_lmt_is_what_darkcast_reads(tmp_path, two_sided):
    mass = np.geomspace(1e-3, 1.0, 5)
    lower = 1e-5 * (1 + mass)
    upper = lower * 30 if two_sided else None
    path = write_lmt(
        tmp_path / "c.lmt", mass, lower, upper, comments=["NA64e 2016-2018, 90% CL", "two\nlines"]
    )
    lines = path.read_text().splitlines()
    assert lines[0].replace("#", "").split() == (
        ["mass", "lower", "upper"] if two_sided else ["mass", "lower"]
    )
    assert lines[1:4] == ["# NA64e 2016-2018, 90% CL", "# two", "# lines"]
    columns = _darkcast_two_sided(path.read_text())
    assert list(columns) == (["lower", "upper"] if two_sided else ["lower"])
    np.testing.assert_allclose([v for _, v in columns["lower"]], lower, rtol=1e-9)
    if two_sided:
        np.testing.assert_allclose([v for _, v in columns["upper"]], upper, rtol=1e-9)
    else:
        np.testing.assert_allclose(
            _darkcast_one_sided(path.read_text()), np.column_stack([mass, lower]), rtol=1e-9
        )


def test_shipped_darkcast_files_rewritten_as_darkcast_reads_them(tmp_path):
    """The field's own files: read each shipped darkcast file, write it back, and darkcast's rules
    give the
    same columns, with the same names, from both.
    """
    files = sorted(SHARED.glob("*.lmt"))
    if not files:
        pytest.skip(f"no darkcast files in {SHARED}")
    for path in files:
        curve = read_lmt(path)
        out = write_lmt(
            tmp_path / path.name,
            curve.mass_gev,
            curve.lower,
            curve.upper,
            comments=[f"from {path.name}"],
        )
        original, rewritten = (
            _darkcast_two_sided(path.read_text()),
            _darkcast_two_sided(out.read_text()),
        )
        assert list(rewritten) == list(original), path.name
        for name in original:
            np.testing.assert_allclose(
                rewritten[name], original[name], rtol=1e-9, err_msg=path.name
            )


def test_two_sided_overlay_is_a_closed_region(tmp_path):
    from na64stat.results.plotting import load_lmt

    mass = np.geomspace(1e-3, 0.1, 4)
    write_lmt(tmp_path / "dump.lmt", mass, 1e-7 * np.ones(4), 1e-4 * np.ones(4))
    overlay = load_lmt(tmp_path / "dump.lmt")
    assert overlay.upper is not None  # drawn as the region between the two columns
    np.testing.assert_allclose(overlay.upper, 1e-4)
    write_lmt(tmp_path / "line.lmt", mass, 1e-5 * np.ones(4))
    assert load_lmt(tmp_path / "line.lmt").upper is None


def _scan(masses):
    return {
        "limits": {
            f"p{i}": {
                "metadata": {"mass_gev": m},
                "observed": 2.0,
                "observed_error": 0.01,
                "expected": {
                    "-2sigma": 1.0,
                    "-1sigma": 1.5,
                    "median": 2.0,
                    "+1sigma": 3.0,
                    "+2sigma": 4.0,
                },
                "expected_error": {"median": 0.02, "+2sigma": None},
            }
            for i, m in enumerate(masses)
        }
    }


def test_combine_json_keys_are_clean_masses_with_errors(tmp_path):
    noisy = 0.00373 * (1 + 2.3e-16)  # a computed mass: 0.0037300000000000002
    assert repr(noisy) != "0.00373"
    write_combine_limits(tmp_path / "ch.json", _scan([noisy, 1.0, 0.05]))
    raw = json.loads((tmp_path / "ch.json").read_text())
    assert list(raw) == [
        "0.00373",
        "0.05",
        "1.0",
    ]  # as CollectLimits keys them (str(mh)), in mass order
    assert raw["0.00373"]["obs_err"] == 0.01 and raw["0.00373"]["exp0_err"] == 0.02
    assert "exp+2_err" not in raw["0.00373"]  # no error where the scan has none
    back = read_combine_limits(tmp_path / "ch.json")
    assert set(back) == {0.00373, 0.05, 1.0}
    assert (
        back[1.0]["exp0"] == 2.0 and back[1.0]["exp0_err"] == 0.02 and back[1.0]["obs_err"] == 0.01
    )


def _collect_limits_text(content: dict) -> str:
    """JSON laid out as CollectLimits writes it (json.dumps with sort_keys, indent 2, (',', ':
    ')).
    """
    return json.dumps(content, sort_keys=True, indent=2, separators=(",", ": "))


def test_collect_limits_output_with_limit_err_is_read(tmp_path):
    """``combineTool.py -M CollectLimits --limit-err``: every limit with its '<key>_err' (limitErr
    of the
    combine tree), masses keyed by str(mh).
    """
    content = {
        "120.0": {
            "exp+1": 1.9,
            "exp+1_err": 0.0,
            "exp+2": 2.6,
            "exp+2_err": 0.0,
            "exp-1": 0.8,
            "exp-1_err": 0.0,
            "exp-2": 0.6,
            "exp-2_err": 0.0,
            "exp0": 1.2,
            "exp0_err": 0.0,
            "obs": 1.4,
            "obs_err": 0.0,
        },
        "0.0167": {"exp0": 2.3, "exp0_err": 0.05, "obs": 2.5, "obs_err": 0.07},
    }
    (tmp_path / "limits.json").write_text(_collect_limits_text(content))
    back = read_combine_limits(tmp_path / "limits.json")
    assert back[120.0]["exp0"] == 1.2 and back[120.0]["obs_err"] == 0.0
    assert back[0.0167] == {"exp0": 2.3, "exp0_err": 0.05, "obs": 2.5, "obs_err": 0.07}


def test_collect_limits_output_with_toys_is_read(tmp_path):
    """``CollectLimits --toys``: per-toy limit lists under 'toys', the expected bands their
    quantiles, and
    no observed limit.
    """
    toys = [1.1, 1.4, 0.9, 2.0, 1.6]
    content = {
        "0.01": {
            "toys": {"obs": toys, "exp0": [], "exp-2": [], "exp-1": [], "exp+1": [], "exp+2": []},
            "exp-2": 0.9,
            "exp-1": 1.0,
            "exp0": 1.4,
            "exp+1": 1.8,
            "exp+2": 2.0,
        }
    }
    (tmp_path / "limits.json").write_text(_collect_limits_text(content))
    back = read_combine_limits(tmp_path / "limits.json")
    assert (
        back[0.01]["toys"]["obs"] == toys and back[0.01]["exp0"] == 1.4 and "obs" not in back[0.01]
    )
    (tmp_path / "bad.json").write_text(_collect_limits_text({"0.01": {"toys": {"obs": ["x"]}}}))
    with pytest.raises(InputError, match="'toys' must map"):
        read_combine_limits(tmp_path / "bad.json")
