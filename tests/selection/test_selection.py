"""Selections on ROOT files written by ROOT itself and by na64stat: counts against direct numpy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from conftest import REPO, SHARED

from na64stat.app.cli import main
from na64stat.core.errors import InputError
from na64stat.selection.config import load_selection, parse_selection
from na64stat.selection.inputs import resolve_samples
from na64stat.selection.outputs import load_histograms, region_yield, summary, write_outputs
from na64stat.selection.processing import run_selection

TESTDATA = SHARED / "testdata"
needs_testdata = pytest.mark.skipif(
    not TESTDATA.is_dir(), reason="../shared/testdata is not available"
)

ZMUMU = {
    "tree": "events",
    "definitions": {"pt_lead": "max(pt1, pt2)"},
    "cuts": [
        {"name": "opposite_charge", "expression": "Q1 * Q2 < 0"},
        {"name": "leading_pt", "expression": "pt_lead > 20"},
        {"name": "central", "expression": "abs(eta1) < 2.1 and abs(eta2) < 2.1"},
    ],
    "regions": {
        "z_window": {"where": "abs(M - 91.2) < 10"},
        "sideband": {"where": "abs(M - 91.2) >= 10"},
    },
    "histograms": [
        {"name": "mass", "expression": "M", "bins": {"regular": [40, 60, 120]}},
        {
            "name": "pt_vs_eta",
            "expression": ["pt1", "eta1"],
            "bins": [{"log": [10, 1, 200]}, {"variable": [-3, -1, 0, 1, 3]}],
            "regions": ["z_window"],
        },
    ],
}

HZZ = {
    "tree": "events",
    "weight": "EventWeight",
    "definitions": {"muon_pt": "sqrt(Muon_Px**2 + Muon_Py**2)"},
    "cuts": [
        {"name": "two_muons", "expression": "count(Muon_Px) >= 2"},
        {"name": "opposite", "expression": "sum(Muon_Charge) == 0"},
        {"name": "hard", "expression": "max(muon_pt) > 25"},
    ],
    "regions": {"all": {}},
    "histograms": [{"name": "muon_pt", "expression": "muon_pt", "bins": {"regular": [20, 0, 100]}}],
}


def _zmumu_direct(path: Path) -> dict[str, np.ndarray]:
    a = uproot.open(path)["events"].arrays(
        ["Q1", "Q2", "pt1", "pt2", "eta1", "eta2", "M"], library="np"
    )
    c1 = a["Q1"] * a["Q2"] < 0
    c2 = np.maximum(a["pt1"], a["pt2"]) > 20
    c3 = (np.abs(a["eta1"]) < 2.1) & (np.abs(a["eta2"]) < 2.1)
    return {"a": a, "cuts": [c1, c2, c3], "all": c1 & c2 & c3, "window": np.abs(a["M"] - 91.2) < 10}


@needs_testdata
@pytest.mark.parametrize("name", ["uproot-Zmumu.root", "uproot-Zmumu-zstd.root"])
def test_zmumu_counts_equal_numpy(name: str) -> None:
    path = TESTDATA / name
    run = run_selection(parse_selection(ZMUMU), {"z": [str(path)]}, step=500, chunk=300)
    r = run.samples["z"]
    d = _zmumu_direct(path)
    alive = np.ones_like(d["all"])
    for k, cut in enumerate(d["cuts"]):
        alive &= cut
        assert r.cutflow.after_cut.raw[k] == alive.sum()
    for k in range(3):
        others = np.logical_and.reduce([c for j, c in enumerate(d["cuts"]) if j != k])
        assert r.cutflow.n_minus_1.raw[k] == others.sum()
    assert r.regions["z_window"].counts.raw == (d["all"] & d["window"]).sum()
    assert r.regions["sideband"].counts.raw == (d["all"] & ~d["window"]).sum()
    expected, _ = np.histogram(d["a"]["M"][d["all"] & d["window"]], np.linspace(60, 120, 41))
    np.testing.assert_array_equal(r.histograms["z_window"]["mass"].values(), expected)


def test_files_split_at_basket_boundaries_give_the_same_result(tmp_path: Path) -> None:
    x = np.random.default_rng(1).normal(size=1000)
    with uproot.recreate(tmp_path / "many.root") as f:
        tree = f.mktree("events", {"x": np.float64})
        for k in range(10):  # ten baskets of 100 entries
            tree.extend({"x": x[100 * k : 100 * (k + 1)]})
    sel = parse_selection(
        {
            "tree": "events",
            "cuts": [{"name": "c", "expression": "x > 0.5"}],
            "histograms": [{"name": "h", "expression": "x", "bins": {"regular": [7, -2, 2]}}],
        }
    )
    split = run_selection(sel, {"s": [str(tmp_path / "many.root")]}, step=250, chunk=100)
    whole = run_selection(sel, {"s": [str(tmp_path / "many.root")]})
    assert (split.n_tasks, whole.n_tasks) == (4, 1)
    passed = [r.samples["s"].cutflow.after_cut.raw.tolist() for r in (split, whole)]
    assert passed[0] == passed[1] == [(x > 0.5).sum()]
    assert split.samples["s"].histograms["all"]["h"] == whole.samples["s"].histograms["all"]["h"]


@needs_testdata
def test_hzz_jagged_counts_and_weights_equal_awkward_for_every_compression() -> None:
    files = {c: [str(TESTDATA / f"uproot-HZZ{c}.root")] for c in ("", "-lz4", "-lzma")}
    run = run_selection(parse_selection(HZZ), files)
    a = uproot.open(files[""][0])["events"].arrays(
        ["Muon_Px", "Muon_Py", "Muon_Charge", "EventWeight"]
    )
    pt = np.sqrt(a.Muon_Px**2 + a.Muon_Py**2)
    c1 = ak.to_numpy(ak.num(a.Muon_Px) >= 2)
    c2 = ak.to_numpy(ak.sum(a.Muon_Charge, axis=1) == 0)
    c3 = ak.to_numpy(ak.fill_none(ak.max(pt, axis=1), np.nan) > 25)
    sel = c1 & c2 & c3
    w = ak.to_numpy(a.EventWeight).astype(float)
    hist_expected, _ = np.histogram(
        ak.to_numpy(ak.flatten(pt[sel])),
        np.linspace(0, 100, 21),
        weights=ak.to_numpy(ak.flatten(ak.broadcast_arrays(w[sel], pt[sel])[0])),
    )
    for result in run.samples.values():
        assert result.cutflow.after_cut.raw.tolist() == [c1.sum(), (c1 & c2).sum(), sel.sum()]
        assert result.regions["all"].counts.sum_w == pytest.approx(w[sel].sum(), rel=1e-12)
        assert result.regions["all"].counts.sum_w2 == pytest.approx((w[sel] ** 2).sum(), rel=1e-12)
        np.testing.assert_allclose(
            result.histograms["all"]["muon_pt"].values(), hist_expected, rtol=1e-6
        )


@needs_testdata
def test_outputs_reload_losslessly_and_as_root(tmp_path: Path) -> None:
    run = run_selection(parse_selection(ZMUMU), {"z": [str(TESTDATA / "uproot-Zmumu.root")]})
    write_outputs(run, tmp_path)
    loaded = load_histograms(tmp_path / "histograms.json")
    for region, by_name in run.samples["z"].histograms.items():
        for name, h in by_name.items():
            assert loaded["z"][region][name] == h
    with uproot.open(tmp_path / "histograms.root") as f:
        th1 = f["z/z_window/mass"]
        np.testing.assert_array_equal(
            th1.values(), run.samples["z"].histograms["z_window"]["mass"].values()
        )
        assert f["z/z_window/pt_vs_eta"].values().shape == (10, 4)
    info = summary(run)
    flow = info["samples"]["z"]["cutflow"]
    assert flow[-1]["cumulative_efficiency"] == pytest.approx(
        flow[-1]["weighted"] / info["samples"]["z"]["total"]["weighted"]
    )
    assert (tmp_path / "cutflow.txt").read_text().startswith("sample z (MC)")


def _write_small(path: Path, **branches: np.ndarray) -> Path:
    """A TTree (``f[name] = arrays`` makes an RNTuple in uproot >= 5.7)."""
    types = {
        k: v.type.content if isinstance(v, ak.Array) else np.dtype((v.dtype, v.shape[1:]))
        for k, v in branches.items()
    }
    with uproot.recreate(path) as f:
        f.mktree("events", types).extend(branches)
    return path


def test_nan_events_are_counted_in_the_cutflow(tmp_path: Path) -> None:
    x = np.array([1.0, np.nan, 3.0, 4.0, np.nan])
    y = np.array([[1.0, 2.0], [1.0, 1.0], [np.nan, 1.0], [1.0, 1.0], [1.0, 1.0]])
    path = _write_small(tmp_path / "nan.root", x=x, y=y)
    sel = parse_selection(
        {
            "tree": "events",
            "cuts": [
                {"name": "x", "expression": "x > 0"},
                {"name": "y", "expression": "all(y > 0)"},
            ],
        }
    )
    r = run_selection(sel, {"s": [str(path)]}).samples["s"]
    flow = r.cutflow
    assert (
        flow.after_cut.raw.tolist() == [3, 2]
        and flow.failed_with_nan.tolist() == [2, 1]
        and flow.total.raw == 5
    )


def test_cache_skips_unchanged_work_and_recomputes_what_changed(tmp_path: Path) -> None:
    a = _write_small(tmp_path / "a.root", x=np.arange(10.0))
    b = _write_small(tmp_path / "b.root", x=np.arange(20.0))
    sel = parse_selection({"tree": "events", "cuts": [{"name": "c", "expression": "x > 4"}]})
    cache = tmp_path / "cache"
    first = run_selection(sel, {"s": [str(a), str(b)]}, cache_dir=cache)
    again = run_selection(sel, {"s": [str(a), str(b)]}, cache_dir=cache)
    assert (first.n_cached, first.entries_read) == (0, 30)
    assert (again.n_cached, again.entries_read) == (2, 0)
    assert (
        again.samples["s"].cutflow.after_cut.raw.tolist()
        == first.samples["s"].cutflow.after_cut.raw.tolist()
        == [20]
    )
    _write_small(b, x=np.arange(5.0))  # change one file
    os.utime(b, ns=(os.stat(b).st_atime_ns, os.stat(b).st_mtime_ns + 10**9))
    changed = run_selection(sel, {"s": [str(a), str(b)]}, cache_dir=cache)
    assert (changed.n_cached, changed.entries_read) == (1, 5)
    assert changed.samples["s"].cutflow.after_cut.raw.tolist() == [5]
    other = parse_selection({"tree": "events", "cuts": [{"name": "c", "expression": "x > 1"}]})
    assert run_selection(other, {"s": [str(a), str(b)]}, cache_dir=cache).entries_read == 15


def test_dask_two_workers_equals_single_process(tmp_path: Path) -> None:
    files = [
        str(
            _write_small(
                tmp_path / f"f{i}.root",
                x=np.random.default_rng(i).normal(size=5000),
                w=np.random.default_rng(10 + i).uniform(size=5000),
            )
        )
        for i in range(3)
    ]
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "w",
            "cuts": [{"name": "c", "expression": "x > 0"}],
            "histograms": [{"name": "h", "expression": "x", "bins": {"regular": [10, -3, 3]}}],
        }
    )
    single = run_selection(sel, {"s": files}, step=2000)
    dask = run_selection(sel, {"s": files}, step=2000, n_workers=2)
    a, b = single.samples["s"], dask.samples["s"]
    assert a.cutflow.after_cut.sum_w.tolist() == b.cutflow.after_cut.sum_w.tolist()
    assert a.regions["all"].counts.sum_w2.tolist() == b.regions["all"].counts.sum_w2.tolist()
    assert a.histograms["all"]["h"] == b.histograms["all"]["h"]


def test_blinded_regions_are_not_filled_for_data(tmp_path: Path) -> None:
    path = _write_small(tmp_path / "d.root", x=np.arange(10.0), weight=np.full(10, 2.0))
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "weight",
            "regions": {"box": {"where": "x < 3", "blinded": True}, "side": {"where": "x >= 3"}},
        }
    )
    run = run_selection(sel, {"data": [str(path)], "mc": [str(path)]}, data_samples=["data"])
    assert run.samples["data"].blinded == ("box",) and "box" not in run.samples["data"].histograms
    assert summary(run)["samples"]["data"]["regions"]["box"] == "blinded"
    assert region_yield(run, "mc", "box") == (6.0, pytest.approx(np.sqrt(12.0)))
    assert region_yield(run, "data", "side")[0] == 7.0  # data are not weighted
    with pytest.raises(InputError, match="blinded"):
        region_yield(run, "data", "box")
    unblinded = run_selection(sel, {"data": [str(path)]}, data_samples=["data"], unblind=True)
    assert region_yield(unblinded, "data", "box")[0] == 3.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tree: events\ncuts: [\n  {name: a, expression: x > 1}\n", "line"),
        ("tree: events\ncuts:\n  - {name: a, expresion: x > 1}\n", "unknown key(s) ['expresion']"),
        ("tree: events\ncuts:\n  - {name: a, expression: x >}\n", "cut 'a': cannot parse"),
        (
            "tree: events\ncuts:\n  - {name: a, expression: os.system(1)}\n",
            "cut 'a': only plain function names",
        ),
        ("tree: events\nregions: {r: {cuts: [nope]}}\n", "unknown cut(s) ['nope']"),
        ("tree: events\ndefinitions: {a: b + 1, b: a * 2}\n", "cycle"),
        (
            "tree: events\nhistograms:\n  - {name: h, expression: x, bins: {regular: [10, 5, "
            "1]}}\n",
            "low < high",
        ),
        (
            "tree: events\nhistograms:\n  - {name: h, expression: x, bins: {log: [10, 0, 1]}}\n",
            "positive low edge",
        ),
        ("cuts: []\n", "tree: expected str"),
    ],
)
def test_malformed_selection_files_name_the_file_and_item(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=r"bad.yaml") as info:
        load_selection(path)
    assert message in str(info.value)


def test_bad_inputs_name_the_file_branch_or_tree(tmp_path: Path) -> None:
    good = _write_small(tmp_path / "good.root", x=np.arange(1000.0))
    sel = parse_selection(
        {"tree": "events", "cuts": [{"name": "c", "expression": "x > 1 and y < 2"}]}
    )
    with pytest.raises(InputError, match=r"good.root: tree 'events' has no branch\(es\) \['y'\]"):
        run_selection(sel, {"s": [str(good)]})
    wrong = parse_selection({"tree": "Events", "cuts": [{"name": "c", "expression": "x > 1"}]})
    with pytest.raises(InputError, match=r"good.root: no tree 'Events'; the file has \['events'\]"):
        run_selection(wrong, {"s": [str(good)]})
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a root file at all" * 10)
    ok = parse_selection({"tree": "events", "cuts": [{"name": "c", "expression": "x > 1"}]})
    with pytest.raises(InputError, match=r"junk.root: not a readable ROOT file"):
        run_selection(ok, {"s": [str(junk)]})
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=r"truncated.root"):
        run_selection(ok, {"s": [str(truncated)]})
    with pytest.raises(InputError, match="matches no file"):
        resolve_samples(ok, tmp_path, {"s": ["nothing*.root"]})
    per_event = parse_selection({"tree": "events", "cuts": [{"name": "c", "expression": "x"}]})
    jagged = _write_small(tmp_path / "jag.root", v=ak.Array([[1.0], [2.0, 3.0]]))
    bad_jagged = parse_selection({"tree": "events", "cuts": [{"name": "c", "expression": "v > 1"}]})
    with pytest.raises(InputError, match="cut 'c' gives a list per event"):
        run_selection(bad_jagged, {"s": [str(jagged)]})
    assert run_selection(per_event, {"s": [str(good)]}).samples[
        "s"
    ].cutflow.after_cut.raw.tolist() == [999]


def test_cli_select_error_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sel = tmp_path / "s.yaml"
    sel.write_text(
        yaml.safe_dump(
            {"name": "s", "tree": "events", "cuts": [{"name": "c", "expression": "nope > 1"}]}
        )
    )
    _write_small(tmp_path / "f.root", x=np.arange(5.0))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "select",
                str(sel),
                "--sample",
                f"s={tmp_path / 'f.root'}",
                "--out",
                str(out),
                "--no-cache",
            ]
        )
    assert info.value.code == 1
    assert "has no branch(es) ['nope']" in capsys.readouterr().err
    assert not out.exists()


def test_blinded_select_never_replaces_unblinded_results(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: a blinded ``select`` after an unblinded run (the main job's) writes beside it,
    never over it,
    and prints one line per sample (the full cutflow stays in cutflow.txt).
    """
    monkeypatch.chdir(tmp_path)
    sel = tmp_path / "s.yaml"
    sel.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "tree": "events",
                "cuts": [{"name": "c", "expression": "x > 1"}],
                "regions": {"box": {"where": "x < 3", "blinded": True}},
            }
        )
    )
    events = _write_small(tmp_path / "f.root", x=np.arange(5.0))
    common = [str(sel), "--sample", f"d={events}", "--data", "d", "--no-cache"]

    def select(*extra: str) -> tuple[int, str, str]:
        try:
            main(["select", *common, *extra])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    default = tmp_path / "na64stat-output" / "selection" / "s"
    code, out, err = select("--unblind")
    assert code == 0, err
    assert out.splitlines()[0] == "d (data): 5 events, 3 pass all cuts; regions: box 1"
    assert len(out.splitlines()) == 2 and "cutflow.txt" in out
    unblinded = (default / "cutflow.json").read_bytes()
    code, out, err = select()
    assert code == 0, err
    assert (default / "cutflow.json").read_bytes() == unblinded
    assert "regions: box blinded" in out and "s-blinded" in err
    assert (default.with_name("s-blinded") / "cutflow.json").is_file()
    code, _, err = select("--out", str(default))
    assert code == 1 and "holds unblinded results" in err
    assert (default / "cutflow.json").read_bytes() == unblinded


@pytest.mark.parametrize("setup", ["na64e-invisible", "na64mu-invisible", "na64e-visible"])
def test_shipped_selections_run_on_generated_events(tmp_path: Path, setup: str) -> None:
    from na64stat.simulation import simulate_data, simulate_mc

    mass = 0.0167 if setup == "na64e-visible" else 0.01
    simulate_mc(setup, tmp_path / "mc", masses_gev=[mass], n_events=4_000, coupling=3e-4)
    simulate_data(setup, tmp_path / "data", n_eot=10_000_000)
    selection = load_selection(REPO / "selections" / f"{setup}.yaml")
    run = run_selection(selection, resolve_samples(selection, tmp_path))
    signal = next(s for s in run.samples if s.startswith("signal"))
    weight, _ = region_yield(run, signal, "signal")
    total = run.samples[signal].cutflow.total.sum_w
    assert 0.25 < weight / total < 1.0  # a sizeable part of the generated signal lands in the box
    background = sum(
        region_yield(run, s, "signal")[0] for s in run.samples if s not in ("data", signal)
    )
    assert 0.0 <= background < 5.0  # a few tenths of an event, at most, for the published exposure
    assert run.samples["data"].blinded == ("signal",)
    shutil.rmtree(tmp_path)


def test_selection_on_a_scheduler_address_equals_single_process(tmp_path: Path) -> None:
    from na64stat.core.distributed import dask_client

    files = [
        str(
            _write_small(tmp_path / f"g{i}.root", x=np.random.default_rng(20 + i).normal(size=3000))
        )
        for i in range(2)
    ]
    sel = parse_selection(
        {
            "tree": "events",
            "cuts": [{"name": "c", "expression": "x > 0.2"}],
            "histograms": [{"name": "h", "expression": "x", "bins": {"regular": [10, -3, 3]}}],
        }
    )
    single = run_selection(sel, {"s": files})
    with dask_client(None, 1) as client:
        remote = run_selection(sel, {"s": files}, scheduler=client.scheduler.address)
    assert (
        single.samples["s"].cutflow.after_cut.raw.tolist()
        == remote.samples["s"].cutflow.after_cut.raw.tolist()
    )
    assert single.samples["s"].histograms["all"]["h"] == remote.samples["s"].histograms["all"]["h"]


def test_sample_result_round_trips_through_json_and_refuses_malformed_counts(
    tmp_path: Path,
) -> None:
    import json

    import uhi.io.json as uhi_json

    from na64stat.selection.records import SampleResult

    path = _write_small(tmp_path / "r.root", x=np.arange(20.0), w=np.linspace(0.5, 2.0, 20))
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "w",
            "cuts": [{"name": "c", "expression": "x > 4"}],
            "regions": {"box": {"where": "x < 10", "blinded": True}, "side": {"where": "x >= 10"}},
            "histograms": [{"name": "h", "expression": "x", "bins": {"regular": [4, 0, 20]}}],
        }
    )
    result = run_selection(sel, {"data": [str(path)]}, data_samples=["data"]).samples["data"]
    text = json.dumps(result.to_dict(), default=uhi_json.default)
    back = SampleResult.from_dict(json.loads(text, object_hook=uhi_json.object_hook))
    assert json.dumps(back.to_dict(), default=uhi_json.default) == text
    assert (
        back.layout() == result.layout()
        and back.blinded == ("box",)
        and list(back.regions) == ["side"]
    )
    assert back.regions["side"].counts.raw == 10 and back.cutflow.after_cut.raw.tolist() == [15]
    assert back.histograms["side"]["h"] == result.histograms["side"]["h"]
    broken = json.loads(text)
    broken["cutflow"]["after_cut"]["raw"] = [1.5]  # counts must be integers
    with pytest.raises(ValueError, match="integer"):
        SampleResult.from_dict(broken)
