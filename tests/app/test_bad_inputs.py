"""Issue 17: bad input never crashes, never passes silently, never leaves a broken folder, no cache
file runs code.

The bad-input corpus is generated here, into ``tmp_path`` (no committed junk):
each case runs the command line (``na64stat.app.cli.main``) and asserts a
non-zero exit, one ``na64stat: error:`` line naming the file / key / value,
no traceback, and that the output folder holds nothing new.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot
import yaml

from na64stat.app.cli import main
from na64stat.core.errors import InputError

SELECTION = {
    "name": "t",
    "tree": "events",
    "weight": "weight",
    "cuts": [{"name": "c", "expression": "x > 2"}],
    "regions": {"box": {"where": "x < 8"}},
    "histograms": [{"name": "hx", "expression": "x", "bins": {"regular": [5, 0, 10]}}],
}


def _cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``na64stat ARGS`` run in this process."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean_error(code: int, err: str, *needles: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("na64stat: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def _write_events(path: Path, n: int = 10) -> Path:
    x = np.arange(float(n))
    with uproot.recreate(path) as f:
        f.mktree("events", {"x": "f8", "weight": "f8"}).extend({"x": x, "weight": np.ones(n)})
    return path


@pytest.fixture
def selection_setup(tmp_path: Path) -> tuple[Path, Path]:
    """A selection file and an events file of 10 entries."""
    sel = tmp_path / "t.yaml"
    sel.write_text(yaml.safe_dump(SELECTION))
    return sel, _write_events(tmp_path / "ev.root")


# ---------------------------------------------------------------------------
# class 1: security (cache, names)


class _Payload:
    """Unpickling this touches a marker file (stands in for ``os.system``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def test_planted_cache_files_are_never_executed(
    tmp_path: Path, selection_setup: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    sel, events = selection_setup
    out = tmp_path / "out"
    args = ["select", sel, "--sample", f"s={events}", "--out", out]
    code, first, _ = _cli(args, capsys)
    assert code == 0
    cache_files = sorted((out / ".cache").iterdir())
    assert cache_files and not any(p.suffix == ".pkl" for p in cache_files)
    marker = tmp_path / "pwned"
    for path in cache_files:  # every cache entry replaced by a pickle that would run code
        path.write_bytes(pickle.dumps(_Payload(marker)))
        (out / ".cache" / (path.stem + ".pkl")).write_bytes(pickle.dumps(_Payload(marker)))
    code, again, err = _cli(args, capsys)
    assert code == 0, err
    assert not marker.exists()
    assert again == first  # recomputed, same tables
    assert "0 from cache" in err
    # garbage and truncated cache files are ignored as well
    for path in (out / ".cache").glob("*.json"):
        path.write_bytes(path.read_bytes()[:20])
    code, third, _ = _cli(args, capsys)
    assert code == 0 and third == first and not marker.exists()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": "../../x"}, "selection name '../../x'"),
        ({"name": "/abs/x"}, "selection name '/abs/x'"),
        ({"name": ""}, "selection name is empty"),
        ({"regions": {"..": {}}}, "region name '..'"),
        ({"regions": {"a/b": {}}}, "region name 'a/b'"),
        (
            {
                "histograms": [
                    {"name": "h/../x", "expression": "x", "bins": {"regular": [5, 0, 10]}}
                ]
            },
            "histogram name 'h/../x'",
        ),
        (
            {"histograms": [{"name": "h\\x", "expression": "x", "bins": {"regular": [5, 0, 10]}}]},
            "histogram name",
        ),
        ({"samples": {"../s": {"files": ["ev.root"]}}}, "sample name"),
    ],
)
def test_names_that_become_paths_or_root_keys_are_checked(
    tmp_path: Path,
    selection_setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture,
    change: dict,
    needle: str,
) -> None:
    _, events = selection_setup
    sel = tmp_path / "bad.yaml"
    sel.write_text(yaml.safe_dump({**SELECTION, **change}))
    out = tmp_path / "out"
    before = _files(tmp_path)
    code, _, err = _cli(["select", sel, "--sample", f"s={events}", "--out", out], capsys)
    _assert_clean_error(code, err, "bad.yaml", needle)
    assert _files(tmp_path) == before


def test_sample_names_on_the_command_line_are_checked(
    tmp_path: Path, selection_setup: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    sel, events = selection_setup
    out = tmp_path / "out"
    code, _, err = _cli(["select", sel, "--sample", f"../x={events}", "--out", out], capsys)
    _assert_clean_error(code, err, "--sample name '../x'")
    assert not out.exists()


# ---------------------------------------------------------------------------
# class 5: RNTuples (what ``f[name] = arrays`` writes with current uproot) read like TTrees


def test_select_reads_rntuples_like_ttrees(tmp_path: Path) -> None:
    import awkward as ak

    from na64stat.selection.config import parse_selection
    from na64stat.selection.processing import run_selection

    n = 50
    columns = {
        "x": np.arange(float(n)),
        "weight": np.full(n, 0.5),
        "m": np.ones((n, 3)),
        "v": ak.Array([[1.0] * (i % 7) for i in range(n)]),
    }
    with uproot.recreate(tmp_path / "rn.root") as f:
        f["events"] = columns
    with uproot.recreate(tmp_path / "tt.root") as f:
        f.mktree(
            "events",
            {
                "x": "f8",
                "weight": "f8",
                "m": np.dtype(("f8", (3,))),
                "v": columns["v"].type.content,
            },
        )
        f["events"].extend(columns)
    with uproot.open(tmp_path / "rn.root") as f:
        if isinstance(
            f["events"], uproot.TTree
        ):  # uproot < 5.7 (the lowest allowed) writes TTrees here
            pytest.skip(
                f"uproot {uproot.__version__} writes a TTree from f[name] = arrays; no RNTuple to "
                "read"
            )
    sel = parse_selection(
        {
            **SELECTION,
            "cuts": [
                {"name": "c", "expression": "x > 2"},
                {"name": "d", "expression": "count(v) > 3 and sum(m) > 2"},
            ],
            "histograms": [{"name": "hv", "expression": "v", "bins": {"regular": [5, 0, 5]}}],
        }
    )
    rn = run_selection(sel, {"s": [str(tmp_path / "rn.root")]}, chunk=7).samples["s"]
    tt = run_selection(sel, {"s": [str(tmp_path / "tt.root")]}).samples["s"]
    assert (
        rn.cutflow.after_cut.raw.tolist() == tt.cutflow.after_cut.raw.tolist()
        and rn.cutflow.after_cut.raw[0] == n - 3
    )
    np.testing.assert_array_equal(rn.cutflow.after_cut.sum_w, tt.cutflow.after_cut.sum_w)
    for region in tt.histograms:
        assert rn.histograms[region]["hv"] == tt.histograms[region]["hv"]


# ---------------------------------------------------------------------------
# class 2: one loader per kind of file (binary, undecodable, empty, truncated, bombs)

BILLION_LAUGHS = (
    "name: x\ntree: events\ndescription: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
)

BAD_FILES = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 20,
    "latin1": "name: caf\xe9\n".encode("latin-1"),
    "empty": b"",
    "blank": b"  \n\n",
    "truncated": b'{"channels": [{"name": "a", "samples": [',
    "deep": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize(
    "verb", ["select", "workspace build", "workspace validate", "recast", "hepdata", "limits"]
)
def test_bad_files_end_in_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, verb: str, kind: str
) -> None:
    bad = tmp_path / f"bad_{kind}.dat"
    bad.write_bytes(BAD_FILES[kind])
    out = tmp_path / "out"
    args = {
        "select": ["select", bad, "--sample", f"s={bad}", "--out", out],
        "workspace build": ["workspace", "build", bad, "--out", out],
        "workspace validate": ["workspace", "validate", bad],
        "recast": ["recast", bad, "--out", out / "c.json"],
        "hepdata": ["hepdata", bad, "--out", out],
        "limits": ["limits", bad, bad, "--out", out, "--workers", "1"],
    }[verb]
    code, _, err = _cli(args, capsys)
    _assert_clean_error(code, err, str(bad))
    assert not out.exists()


def test_yaml_bombs_are_refused_before_expansion(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import time

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("name: x\ntree: events\ndescription: &a [*a]\n")
    for path, needle in ((bomb, "expands to more than"), (recursive, "recursive YAML alias")):
        start = time.perf_counter()
        code, _, err = _cli(
            ["select", path, "--sample", f"s={path}", "--out", tmp_path / "out"], capsys
        )
        assert time.perf_counter() - start < 5
        _assert_clean_error(code, err, str(path), needle)
    # anchors and aliases of a sensible size still work
    from na64stat.selection.config import load_selection

    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "tree: events\ncuts:\n  - &c {name: a, expression: x > 1}\nregions: {r: {cuts: [a]}, s: "
        "{cuts: [a]}}\n"
    )
    assert [c.name for c in load_selection(ok).cuts] == ["a"]


# ---------------------------------------------------------------------------
# class 3: values validated where they enter


def _limits_file(path: Path, **changes: Any) -> Path:
    record = {
        "observed": 2.0,
        "expected": {"median": 2.5, "-1sigma": 1.8},
        "metadata": {
            "mass_gev": 0.01,
            "signal_model": "dark_photon",
            "reference_coupling": 1e-4,
            "setup": "na64e-invisible",
        },
    }
    meta = {**record["metadata"], **changes.pop("metadata", {})}
    record = {**record, **changes, "metadata": meta}
    path.write_text(json.dumps({"confidence_level": 0.9, "limits": {"0.01": record}}))
    return path


@pytest.mark.parametrize(
    ("changes", "options", "needle"),
    [
        ({"metadata": {"mass_gev": "ten"}}, [], "mass_gev must be a number, got 'ten'"),
        ({"metadata": {"mass_gev": -0.01}}, [], "mass_gev must be a finite positive"),
        ({"metadata": {"mass_gev": 0}}, [], "mass_gev must be a finite positive"),
        ({"metadata": {"mass_gev": 500}}, [], "above the limit of 100 GeV"),
        (
            {"metadata": {"reference_coupling": 0}},
            [],
            "reference_coupling must be a finite positive",
        ),
        ({"metadata": {"reference_coupling": float("nan")}}, [], "reference_coupling"),
        ({"observed": -1.0}, [], "observed limit must be a finite non-negative"),
        ({"observed": "x"}, [], "observed limit must be a number"),
        ({"expected": {"median": float("nan")}}, [], "expected median limit"),
        ({}, ["--alpha-d", "0"], "--alpha-d must be a finite positive"),
        ({}, ["--alpha-d", "-0.1"], "--alpha-d"),
        ({}, ["--reference-coupling", "0"], "--reference-coupling"),
        (
            {},
            ["--reference-coupling", "2e-4"],
            "made at reference coupling 0.0001 (patch metadata), not 0.0002",
        ),
    ],
)
def test_recast_rejects_bad_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture, changes: dict, options: list, needle: str
) -> None:
    path = _limits_file(tmp_path / "limits.json", **changes)
    out = tmp_path / "out" / "couplings.json"
    code, _, err = _cli(["recast", path, "--out", out, *options], capsys)
    _assert_clean_error(code, err, needle)
    assert not out.parent.exists()


@pytest.mark.parametrize("content", [{}, {"limits": {}}, [], {"limits": []}, {"points": {}}])
def test_empty_or_wrong_limits_files_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: Any
) -> None:
    path = tmp_path / "limits.json"
    path.write_text(json.dumps(content))
    out = tmp_path / "out" / "couplings.json"
    code, _, err = _cli(["recast", path, "--out", out], capsys)
    _assert_clean_error(code, err, str(path))
    assert not out.parent.exists()


def test_recast_then_hepdata_rejects_negative_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    couplings = tmp_path / "couplings.json"
    code, _, err = _cli(
        ["recast", _limits_file(tmp_path / "limits.json"), "--out", couplings], capsys
    )
    assert code == 0, err
    content = json.loads(couplings.read_text())
    content["points"]["0.01"]["observed"]["epsilon"] = -1e-5
    bad = tmp_path / "bad_couplings.json"
    bad.write_text(json.dumps(content))
    code, _, err = _cli(["hepdata", bad, "--out", tmp_path / "hep"], capsys)
    _assert_clean_error(code, err, str(bad), "observed.epsilon must be a finite non-negative")
    assert not (tmp_path / "hep").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["reach", "--exposure", "inf"],
        ["reach", "--exposure", "nan"],
        ["reach", "--exposure", "0"],
        ["limits", "w.json", "p.json", "--workers", "0"],
        ["limits", "w.json", "p.json", "--workers", "-1"],
        ["limits", "w.json", "p.json", "--seed", "-1"],
        ["limits", "w.json", "p.json", "--n-toys", "0"],
        ["select", "s.yaml", "--workers", "0"],
        ["run", "--seed", "-1"],
        ["run", "--n-toys", "0"],
        ["run", "--workers", "0"],
        ["run", "--n-eot", "1e13"],
        ["run", "--n-eot", "inf"],
        ["simulate", "--n-eot", "1e20"],
        ["simulate", "--flavour", "data", "--n-eot", "1e12"],
        ["simulate", "--n-events", "0"],
    ],
)
def test_option_values_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code, _, err = _cli(
        [*args, "--out", out] if args[0] in ("run", "simulate", "limits") else args, capsys
    )
    option = [a for a in args if a.startswith("--")][-1]
    _assert_clean_error(code, err, option)
    assert not out.exists() and _files(tmp_path) == set()


def test_unreachable_scheduler_fails_fast(
    tmp_path: Path, selection_setup: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sel, events = selection_setup
    start = time.perf_counter()
    code, _, err = _cli(
        [
            "select",
            sel,
            "--sample",
            f"s={events}",
            "--out",
            tmp_path / "out",
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
        ],
        capsys,
    )
    assert time.perf_counter() - start < 12
    _assert_clean_error(code, err, f"tcp://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (" + ".join(["x"] * 200_000), "longer than the limit"),
        ("+".join(["x"] * 2500), "nested deeper than 100 levels"),
        (" and ".join(["x>1"] * 800), "more than 2000 terms"),
        ("9**9**9**9", "constant too large"),
    ],
)
def test_enormous_expressions_are_refused(
    tmp_path: Path,
    selection_setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture,
    text: str,
    needle: str,
) -> None:
    _, events = selection_setup
    sel = tmp_path / "big.yaml"
    sel.write_text(yaml.safe_dump({**SELECTION, "cuts": [{"name": "c", "expression": text}]}))
    code, _, err = _cli(
        ["select", sel, "--sample", f"s={events}", "--out", tmp_path / "out"], capsys
    )
    _assert_clean_error(code, err, "big.yaml", "cut 'c'", needle)
    assert not (tmp_path / "out").exists()


def test_histogram_bins_are_capped(
    tmp_path: Path, selection_setup: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    _, events = selection_setup
    sel = tmp_path / "bins.yaml"
    sel.write_text(
        yaml.safe_dump(
            {
                **SELECTION,
                "histograms": [
                    {"name": "h", "expression": "x", "bins": {"regular": [1_000_000_000, 0, 1]}}
                ],
            }
        )
    )
    code, _, err = _cli(
        ["select", sel, "--sample", f"s={events}", "--out", tmp_path / "out"], capsys
    )
    _assert_clean_error(code, err, "bins.yaml", "histogram 'h'", "limit of 1000000")


def _workspace_config(tmp_path: Path, **changes: Any) -> Path:
    cfg = {
        "name": "t",
        "setup": "na64e-invisible",
        "exposure": 2.84e11,
        "channels": [
            {
                "name": "box",
                "observed": 0,
                "samples": [{"name": "background", "yield": {"value": 0.5, "error": 0.1}}],
            }
        ],
        "signal": {
            "channel": "box",
            "model": "dark_photon",
            "coupling": 1e-4,
            "efficiency": 0.5,
            "masses": [0.01, 0.1],
        },
    }
    for key, value in changes.items():
        if key in ("observed", "yield"):
            target = cfg["channels"][0] if key == "observed" else cfg["channels"][0]["samples"][0]
            target[key] = value
        else:
            cfg["signal"][key] = value
    path = tmp_path / "ws" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"yield": {"value": 0.5, "error": -0.1}}, "error >= 0"),
        ({"observed": 0.5}, "whole numbers >= 0"),
        ({"observed": -1}, "whole numbers >= 0"),
        ({"coupling": 0}, "coupling must be a finite positive"),
        ({"masses": [0.01, 150.0]}, "above the limit of 100 GeV"),
        ({"masses": [0.01, -0.01]}, "masses"),
    ],
)
def test_workspace_build_rejects_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture, changes: dict, needle: str
) -> None:
    config = _workspace_config(tmp_path, **changes)
    code, _, err = _cli(["workspace", "build", config], capsys)
    _assert_clean_error(code, err, needle)
    assert _files(config.parent) == {"config.yaml"}


def test_zero_signal_patches_are_refused(tmp_path: Path) -> None:
    from na64stat.model.workspace import Channel, Sample, SignalPatch, WorkspaceDescription, build

    d = WorkspaceDescription(
        "demo",
        (Channel("box", (0.0,), (Sample("bkg", (0.5,)),)),),
        (SignalPatch("m150", {"box": (0.0,)}, (150.0,), {"mass_gev": 150.0}),),
    )
    with pytest.raises(InputError, match=r"signal 'm150' .* zero expected events"):
        build(d)


@pytest.fixture
def built_workspace(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    config = _workspace_config(tmp_path)
    code, _, err = _cli(["workspace", "build", config], capsys)
    assert code == 0, err
    return config.parent


@pytest.mark.parametrize("damage", ["data_length", "no_poi"])
@pytest.mark.parametrize("verb", ["validate", "inspect"])
def test_workspace_validate_builds_the_model_with_its_poi(
    built_workspace: Path, capsys: pytest.CaptureFixture, damage: str, verb: str
) -> None:
    spec = json.loads((built_workspace / "bkgonly.json").read_text())
    if damage == "data_length":
        spec["observations"][0]["data"] = [0.0, 1.0]
        needle = "observation 'box' has 2 bins"
    else:
        spec["channels"][0]["samples"] = [
            s for s in spec["channels"][0]["samples"] if s["name"] != "signal"
        ]
        needle = "parameter of interest"
    bad = built_workspace / "bad.json"
    bad.write_text(json.dumps(spec))
    code, _, err = _cli(["workspace", verb, bad], capsys)
    _assert_clean_error(code, err, str(bad), needle)


def test_workspace_validate_reads_plain_json_patches(
    built_workspace: Path, capsys: pytest.CaptureFixture
) -> None:
    patchset = json.loads((built_workspace / "patchset.json").read_text())
    plain = built_workspace / "plain.json"
    plain.write_text(json.dumps(patchset["patches"][0]["patch"]))
    code, out, err = _cli(
        ["workspace", "validate", built_workspace / "bkgonly.json", plain], capsys
    )
    assert code == 0 and "valid JSON patch" in out, err


def _damage_patchset(folder: Path, damage: str) -> tuple[Path, str]:
    """A copy of ``folder``'s patchset with one bad patch; returns its path and what the error must
    say.
    """
    patchset = json.loads((folder / "patchset.json").read_text())
    first, second = (p["metadata"] for p in patchset["patches"][:2])
    if damage == "repeated_mass":
        second.update(values=list(first["values"]), mass_gev=first["mass_gev"])
        needle = f"patches {first['name']!r} and {second['name']!r} are the same signal point"
    elif damage == "text_mass":
        second.update(values=["0.1"], mass_gev="0.1")
        needle = f"patch {second['name']!r}: mass_gev must be a finite number"
    elif damage == "negative_mass":
        second.update(values=[-0.1], mass_gev=-0.1)
        needle = f"patch {second['name']!r}: mass_gev must be a finite positive number"
    elif damage == "disagreeing_mass":
        second["mass_gev"] = 0.2
        needle = f"patch {second['name']!r}: metadata mass_gev = 0.2 differs"
    else:  # a metadata mass that is not a number, with numeric values
        second["mass_gev"] = float("nan")
        needle = f"patch {second['name']!r}: mass_gev must be a finite positive number"
    bad = folder / "bad_patchset.json"
    bad.write_text(json.dumps(patchset))
    return bad, needle


PATCH_DAMAGES = ["repeated_mass", "text_mass", "negative_mass", "disagreeing_mass", "nan_mass"]


@pytest.mark.parametrize("damage", PATCH_DAMAGES)
@pytest.mark.parametrize("verb", ["validate", "inspect", "limits"])
def test_patch_metadata_is_checked_where_it_enters(
    built_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture, damage: str, verb: str
) -> None:
    bad, needle = _damage_patchset(built_workspace, damage)
    out = tmp_path / "limits_out"
    args = (
        ["limits", built_workspace / "bkgonly.json", bad, "--out", out, "--workers", "1"]
        if verb == "limits"
        else ["workspace", verb, built_workspace / "bkgonly.json", bad]
    )
    code, _, err = _cli(args, capsys)
    _assert_clean_error(code, err, str(bad), needle)
    assert not out.exists()


def test_patch_metadata_allows_text_labels_other_than_the_mass() -> None:
    """pyhf allows text values (e.g. a model name); the mass must be a number, and each point
    appears once.
    """
    from na64stat.model.workspace import check_patch_metadata

    def patch(name: str, *values: Any) -> dict:
        return {"metadata": {"name": name, "values": list(values)}}

    check_patch_metadata(
        [patch("a", 0.01, "scalar"), patch("b", 0.01, "fermion")], ["mass_gev", "model"], "ps"
    )
    with pytest.raises(
        InputError, match=r"patches 'a' and 'b' are the same signal point .*model = 'scalar'"
    ):
        check_patch_metadata(
            [patch("a", 0.01, "scalar"), patch("b", 0.01, "scalar")], ["mass_gev", "model"], "ps"
        )
    with pytest.raises(InputError, match="patch 'b': mass_gev must be a finite number"):
        check_patch_metadata(
            [patch("a", 0.01, "x"), patch("b", "0.1", "x")], ["mass_gev", "model"], "ps"
        )


@pytest.mark.parametrize("damage", ["repeated_mass", "text_mass"])
def test_combine_checks_patch_metadata(
    built_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture, damage: str
) -> None:
    bad, needle = _damage_patchset(built_workspace, damage)
    other = tmp_path / "other"
    other.mkdir()
    (other / "bkgonly.json").write_text((built_workspace / "bkgonly.json").read_text())
    bad.rename(other / "patchset.json")
    out = tmp_path / "combined"
    code, _, err = _cli(["combine", built_workspace, other, "--out", out], capsys)
    _assert_clean_error(code, err, "patchset.json", needle)
    assert not out.exists()


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("text_mass", "mass_gev must be a number"),
        ("repeated_mass", "are the same signal point"),
    ],
)
def test_recast_checks_point_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture, damage: str, needle: str
) -> None:
    meta = {"signal_model": "dark_photon", "reference_coupling": 1e-4, "setup": "na64e-invisible"}
    points = {
        name: {
            "observed": 1.0,
            "expected": {"median": 1.0},
            "metadata": {"name": name, "values": [m], "mass_gev": m, **meta},
        }
        for name, m in (("m0p01", 0.01), ("m0p1", 0.1))
    }
    second = points["m0p1"]["metadata"]
    if damage == "text_mass":
        second.update(values=["0.1"], mass_gev="0.1")
    else:
        second.update(values=[0.01], mass_gev=0.01)
    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"limits": points}))
    out = tmp_path / "couplings.json"
    code, _, err = _cli(["recast", limits, "--out", out], capsys)
    _assert_clean_error(code, err, str(limits), "m0p1", needle)
    assert not out.exists()


# ---------------------------------------------------------------------------
# class 4: outputs committed as a set


def _full_disk(monkeypatch: pytest.MonkeyPatch, after: int = 1) -> None:
    """The ``after``-th text write and every ROOT file creation fail with ENOSPC."""
    import na64stat.core.io as nio

    real = Path.write_text
    calls = {"n": 0}

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] >= after:
            real(self, "partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nio.Path, "write_text", write_text)

    def recreate(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))

    monkeypatch.setattr(uproot, "recreate", recreate)


@pytest.mark.parametrize("after", [1, 2, 3, 4])
def test_select_on_a_full_disk_leaves_nothing(
    tmp_path: Path,
    selection_setup: tuple[Path, Path],
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    after: int,
) -> None:
    sel, events = selection_setup
    out = tmp_path / "out"
    _full_disk(monkeypatch, after)
    code, _, err = _cli(
        ["select", sel, "--sample", f"s={events}", "--out", out, "--no-cache"], capsys
    )
    _assert_clean_error(code, err, "no space left on device", str(out))
    assert not out.exists()


def test_workspace_build_on_a_full_disk_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _workspace_config(tmp_path)
    _full_disk(monkeypatch, after=2)
    code, _, err = _cli(["workspace", "build", config], capsys)
    _assert_clean_error(code, err, "no space left on device")
    assert _files(config.parent) == {"config.yaml"}


def test_simulate_on_a_full_disk_leaves_no_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _full_disk(monkeypatch)
    out = tmp_path / "sim"
    code, _, err = _cli(
        ["simulate", "--flavour", "mc", "--process", "hadron", "--n-events", "100", "--out", out],
        capsys,
    )
    _assert_clean_error(code, err, "no space left on device")
    assert not [p for p in _files(out) if p.endswith((".tmp", ".root"))]


@pytest.mark.parametrize("verb", ["select", "recast", "reach", "hepdata", "workspace build"])
def test_an_output_path_that_is_a_file_is_one_clear_line(
    tmp_path: Path, selection_setup: tuple[Path, Path], capsys: pytest.CaptureFixture, verb: str
) -> None:
    sel, events = selection_setup
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    out = blocker / "out"
    limits = _limits_file(tmp_path / "limits.json")
    args = {
        "select": ["select", sel, "--sample", f"s={events}", "--out", out],
        "recast": ["recast", limits, "--out", out / "c.json"],
        "reach": ["reach", "--json", out / "r.json"],
        "hepdata": ["hepdata", tmp_path / "c.json", "--out", out],
        "workspace build": ["workspace", "build", _workspace_config(tmp_path), "--out", out],
    }[verb]
    if verb == "hepdata":
        assert _cli(["recast", limits, "--out", tmp_path / "c.json"], capsys)[0] == 0
    code, _, err = _cli(args, capsys)
    _assert_clean_error(code, err, str(blocker))
    assert blocker.read_text() == "a file where a folder should be"


def test_two_selects_into_one_folder_use_distinct_temporary_names(tmp_path: Path) -> None:
    from na64stat.core.io import OutputSet

    out = tmp_path / "out"
    with OutputSet(out) as a, OutputSet(out) as b:
        assert a.path("histograms.root") != b.path("histograms.root")
        a.write_text("cutflow.txt", "a")
        b.write_text("cutflow.txt", "b")
    assert sorted(p.name for p in out.iterdir()) == ["cutflow.txt"]
