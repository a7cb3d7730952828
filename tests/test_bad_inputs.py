"""Issue 17: bad input never crashes, never passes silently, never leaves a broken folder, no cache file runs code.

The bad-input corpus is generated here, into ``tmp_path`` (no committed junk):
each case runs the command line (``na64stat.cli.main``) and asserts a
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

from na64stat.cli import main
from na64stat.errors import InputError

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


@pytest.fixture()
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


def test_planted_cache_files_are_never_executed(tmp_path: Path, selection_setup: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture) -> None:
    sel, events = selection_setup
    out = tmp_path / "out"
    args = ["select", sel, "--sample", f"s={events}", "--out", out]
    code, first, _ = _cli(args, capsys)
    assert code == 0
    cache_files = sorted((out / ".cache").iterdir())
    assert cache_files and not any(p.suffix == ".pkl" for p in cache_files)
    marker = tmp_path / "pwned"
    for path in cache_files:  # every cache entry replaced by a pickle that would run code
        if path.suffix == ".npz":
            np.savez(path, meta=np.array([_Payload(marker)], dtype=object))
        else:
            path.write_bytes(pickle.dumps(_Payload(marker)))
        (out / ".cache" / (path.stem + ".pkl")).write_bytes(pickle.dumps(_Payload(marker)))
    code, again, err = _cli(args, capsys)
    assert code == 0, err
    assert not marker.exists()
    assert again == first  # recomputed, same tables
    assert "0 from cache" in err
    # garbage and truncated cache files are ignored as well
    for path in (out / ".cache").glob("*.npz"):
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
        ({"histograms": [{"name": "h/../x", "expression": "x", "bins": {"regular": [5, 0, 10]}}]},
         "histogram name 'h/../x'"),
        ({"histograms": [{"name": "h\\x", "expression": "x", "bins": {"regular": [5, 0, 10]}}]}, "histogram name"),
        ({"samples": {"../s": {"files": ["ev.root"]}}}, "sample name"),
    ],
)
def test_names_that_become_paths_or_root_keys_are_checked(tmp_path: Path, selection_setup: tuple[Path, Path],
                                                           capsys: pytest.CaptureFixture, change: dict, needle: str) -> None:
    _, events = selection_setup
    sel = tmp_path / "bad.yaml"
    sel.write_text(yaml.safe_dump({**SELECTION, **change}))
    out = tmp_path / "out"
    before = _files(tmp_path)
    code, _, err = _cli(["select", sel, "--sample", f"s={events}", "--out", out], capsys)
    _assert_clean_error(code, err, "bad.yaml", needle)
    assert _files(tmp_path) == before


def test_sample_names_on_the_command_line_are_checked(tmp_path: Path, selection_setup: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture) -> None:
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
    columns = {"x": np.arange(float(n)), "weight": np.full(n, 0.5), "m": np.ones((n, 3)),
               "v": ak.Array([[1.0] * (i % 7) for i in range(n)])}
    with uproot.recreate(tmp_path / "rn.root") as f:
        f["events"] = columns
    with uproot.recreate(tmp_path / "tt.root") as f:
        f.mktree("events", {"x": "f8", "weight": "f8", "m": np.dtype(("f8", (3,))), "v": columns["v"].type.content})
        f["events"].extend(columns)
    with uproot.open(tmp_path / "rn.root") as f:
        assert not isinstance(f["events"], uproot.TTree)  # really an RNTuple
    sel = parse_selection({**SELECTION, "cuts": [{"name": "c", "expression": "x > 2"},
                                                 {"name": "d", "expression": "count(v) > 3 and sum(m) > 2"}],
                           "histograms": [{"name": "hv", "expression": "v", "bins": {"regular": [5, 0, 5]}}]})
    rn = run_selection(sel, {"s": [str(tmp_path / "rn.root")]}, chunk=7).samples["s"]
    tt = run_selection(sel, {"s": [str(tmp_path / "tt.root")]}).samples["s"]
    assert rn.cut_raw.tolist() == tt.cut_raw.tolist() and rn.cut_raw[0] == n - 3
    np.testing.assert_array_equal(rn.cut_w, tt.cut_w)
    for region in tt.histograms:
        assert rn.histograms[region]["hv"] == tt.histograms[region]["hv"]
