"""ROOT files of the generator: MC and real-style data layout, reproducibility, errors."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import numpy as np
import pytest
import uproot

from na64stat.app.cli import main
from na64stat.core.errors import InputError
from na64stat.core.rootio import (
    RootFileWriter,
    parse_compression,
    tdatime_code,
    write_root_objects,
)
from na64stat.simulation import BACKGROUNDS, DataSettings, read_metadata, simulate_data, simulate_mc
from na64stat.simulation.detectors import trigger
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_detector

N_EOT = 30_000_000


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> list:
    out = tmp_path_factory.mktemp("data")
    settings = DataSettings(spills_per_run=3, events_per_file=8_000)
    return simulate_data("na64e-invisible", out, n_eot=N_EOT, seed=4, settings=settings)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mc_file_layout_and_metadata(tmp_path: Path) -> None:
    files = simulate_mc(
        "na64mu-invisible",
        tmp_path,
        processes=["muon", "signal"],
        masses_gev=[0.01],
        n_events=3_000,
        n_pot=1e10,
        chunk_size=1_000,
        compression="zstd",
    )
    assert [f.path.name for f in files] == ["muon.root", "signal_m10MeV.root"]
    with uproot.open(files[1].path) as f:
        tree = f["events"]
        assert tree.num_entries == 3_000
        names = set(tree.keys())
        assert {
            "p_in",
            "p_out",
            "n_tracks_out",
            "ecal_cells",
            "hcal_e",
            "weight",
            "true_x",
            "true_mass",
            "true_process",
        } <= names
        arrays = tree.arrays(["ecal_cells", "weight", "true_mass", "true_process"], library="np")
    assert arrays["ecal_cells"].shape == (3_000, 6, 6)
    assert np.all(arrays["true_mass"] == np.float32(0.01)) and np.all(arrays["true_process"] == 0)
    meta = read_metadata(files[1].path)
    assert meta["setup"] == "na64mu-invisible" and meta["process"] == "signal_m10MeV"
    assert meta["n_generated"] == 3_000 and meta["pot_represented"] == 1e10 and meta["seed"] == 1
    assert meta["model"] == "lmutau" and meta["coupling"] == 1e-4 and meta["mass_gev"] == 0.01
    assert meta["generator"].startswith("na64stat ")
    assert abs(arrays["weight"].sum() - files[1].weight_sum) < 1e-9 * files[1].weight_sum


def test_same_seed_gives_byte_identical_files_other_seed_differs(tmp_path: Path) -> None:
    kwargs = {"processes": ["hadron"], "n_events": 2_000, "compression": "lz4"}
    a = simulate_mc("na64e-invisible", tmp_path / "a", seed=3, **kwargs)[0].path
    b = simulate_mc("na64e-invisible", tmp_path / "b", seed=3, **kwargs)[0].path
    c = simulate_mc("na64e-invisible", tmp_path / "c", seed=4, **kwargs)[0].path
    assert _digest(a) == _digest(b) != _digest(c)
    d1 = simulate_data("na64e-visible", tmp_path / "d1", n_eot=20_000_000, seed=2)
    d2 = simulate_data("na64e-visible", tmp_path / "d2", n_eot=20_000_000, seed=2)
    assert [_digest(f.path) for f in d1] == [_digest(f.path) for f in d2]


@pytest.mark.parametrize("compression", ["none", "zlib:4", "lz4", "zstd:5", "lzma"])
def test_every_compression_reads_back(tmp_path: Path, compression: str) -> None:
    f = simulate_mc(
        "na64e-visible", tmp_path, processes=["hadron"], n_events=500, compression=compression
    )[0]
    with uproot.open(f.path) as handle:
        assert handle["events"].num_entries == 500
        assert np.isfinite(handle["events"]["wcal_e"].array(library="np")).all()


def test_real_style_data_has_no_truth_and_the_spills_sum_to_the_exposure(data_files: list) -> None:
    total = 0
    runs: dict[int, int] = {}
    for f in data_files:
        with uproot.open(f.path) as handle:
            events = handle["events"]
            assert not [k for k in events.keys() if k.startswith("true_") or k == "weight"]  # noqa: SIM118 -- uproot: names
            assert {
                "run",
                "spill",
                "event",
                "p_track",
                "srd_e",
                "ecal_cells",
                "ps_e",
                "ecal_chi2",
                "veto_e",
                "hcal_e",
            } <= set(events.keys())
            assert isinstance(handle["spills"], uproot.TTree)
            spills = handle["spills"].arrays(library="np")
            total += int(spills["eot"].sum())
            run = int(spills["run"][0])
            runs[run] = runs.get(run, 0) + 1
            meta = read_metadata(f.path)
            assert meta["flavour"] == "data" and "process" not in meta
    assert total == N_EOT
    assert max(runs.values()) >= 2  # several files per run


def test_real_style_data_imperfections(data_files: list) -> None:
    arrays = [uproot.open(f.path)["events"].arrays(library="np") for f in data_files]
    cells = np.concatenate([a["ecal_cells"] for a in arrays])
    p = np.concatenate([a["p_track"] for a in arrays])
    row, col = get_detector("na64e-invisible").dead_cell
    assert np.all(cells[:, row, col] == 0.0)
    assert 0.002 < np.isnan(p).mean() < 0.01  # missing tracks (0.5%)
    ecal = np.concatenate([a["ecal_e"] for a in arrays])
    assert np.any(ecal > 110.0)  # pile-up on top of a triggered event
    for a in arrays:  # event numbers increase within a file, spills are ordered
        assert np.all(np.diff(a["event"]) == 1) and np.all(np.diff(a["spill"]) >= 0)


def test_data_count_agrees_with_the_mc_prediction(data_files: list) -> None:
    """Triggered data events = sum over processes of rate x P(trigger) x EOT from weighted MC."""
    detector = get_detector("na64e-invisible")
    predicted, variance = 0.0, 0.0
    for i, process in enumerate(BACKGROUNDS["na64e-invisible"].values()):
        draw = Draw(np.random.default_rng(100 + i), 100_000, biased=True)
        truth = process.sample(draw, detector)
        fired = trigger(np.random.default_rng(200 + i), detector, truth)
        scale = process.rate_per_pot * N_EOT / draw.n
        predicted += scale * float(np.sum(draw.weight * fired))
        variance += scale**2 * float(np.sum((draw.weight * fired) ** 2))
    observed = sum(f.n_events for f in data_files)
    assert abs(observed - predicted) < 4 * np.sqrt(variance + predicted)


def test_writer_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "x.root"
    with pytest.raises(RuntimeError), RootFileWriter(path, "events", {"x": ("f4", ())}) as w:
        w.extend({"x": np.zeros(3, np.float32)})
        raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())
    with (
        pytest.raises(InputError, match="differ"),
        RootFileWriter(path, "events", {"x": ("f4", ())}) as w,
    ):
        w.extend({"y": np.zeros(3)})
    assert not path.exists()


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown compression"):
        parse_compression("snappy")
    with pytest.raises(InputError, match="no process 'nope'"):
        simulate_mc("na64e-invisible", tmp_path, processes=["nope"])
    with pytest.raises(InputError, match="needs --masses"):
        simulate_mc("na64e-invisible", tmp_path, processes=["signal"])
    with pytest.raises(InputError, match="cannot carry"):
        simulate_mc("na64e-invisible", tmp_path, processes=["signal"], masses_gev=[90.0])
    with pytest.raises(InputError, match="n_eot"):
        simulate_data("na64e-invisible", tmp_path, n_eot=-5)
    assert not list(tmp_path.iterdir())


def test_cli_simulate_writes_mc_and_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ev"
    main(
        [
            "simulate",
            "--setup",
            "na64mu-invisible",
            "--process",
            "muon",
            "--n-events",
            "1000",
            "--n-eot",
            "2e7",
            "--out",
            str(out),
        ]
    )
    assert (out / "mc" / "muon.root").exists() and list((out / "data").glob("run*.root"))
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--process", "bogus", "--out", str(tmp_path / "bad")])
    assert exit_info.value.code == 1
    assert "no process 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_data_generation_memory_is_flat_in_the_exposure(tmp_path: Path) -> None:
    """Peak traced memory for 8x the exposure stays within 1.5x (chunked generation and writing)."""
    import tracemalloc

    peaks = []
    for i, n_eot in enumerate((50_000_000, 400_000_000)):
        tracemalloc.start()
        files = simulate_data("na64e-invisible", tmp_path / str(i), n_eot=n_eot, chunk_size=50_000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sum(f.n_events for f in files) > n_eot * 1e-3
    assert peaks[1] < 1.5 * peaks[0], peaks


def _write_both(folder: Path) -> tuple[Path, Path]:
    """A tree file (several baskets, an extra tree, metadata) and a histogram file with
    sub-folders.
    """
    folder.mkdir()
    with RootFileWriter(
        folder / "t.root",
        "events",
        {"x": ("f4", ()), "v": ("f8", (3,))},
        metadata={"a": 1},
        key="k",
        basket_entries=10,
    ) as w:
        for i in range(5):
            w.extend({"x": np.arange(10, dtype=np.float32) + i, "v": np.ones((10, 3))})
        w.add_tree("spills", {"eot": np.arange(4)})
    import hist

    h = hist.Hist(hist.axis.Regular(5, 0.0, 1.0), storage=hist.storage.Weight())
    h.fill([0.1, 0.3, 0.3], weight=[1.0, 2.0, 0.5])
    return folder / "t.root", write_root_objects(
        folder / "h.root", {"a/b/h": h, "a/h2": h, "top": h}, key="x"
    )


def test_root_writing_is_reproducible_across_time_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writes more than a second apart (TDatime resolution) give identical bytes; every key and
    directory carries SOURCE_DATE_EPOCH (uproot's own reader), and the contents read back."""
    import time

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    first = _write_both(tmp_path / "1")
    time.sleep(1.1)
    second = _write_both(tmp_path / "2")
    assert [_digest(p) for p in first] == [_digest(p) for p in second]
    code = tdatime_code(datetime.datetime(2023, 11, 14, 22, 13, 20))
    with uproot.open(first[0]) as f:
        assert f["events"]["x"].array(library="np")[-1] == 13.0 and f["events"].num_entries == 50
        assert f["spills"]["eot"].array(library="np").tolist() == [0, 1, 2, 3]
        assert '"n_entries": 50' in str(f["metadata"])
        assert all(f.key(k).fDatime == code for k in f.keys())  # noqa: SIM118 -- uproot: keys() are the names
        assert f.created_on == f.modified_on == datetime.datetime(2023, 11, 14, 22, 13, 20)
    with uproot.open(first[1]) as f:
        np.testing.assert_array_equal(f["a/b/h"].values(), [1.0, 2.5, 0.0, 0.0, 0.0])
        np.testing.assert_array_equal(f["a/b/h"].variances(), [1.0, 4.25, 0.0, 0.0, 0.0])
        assert all(f.key(k).fDatime == code for k in f.keys(recursive=True))
        assert (
            f["a"].modified_on == f["a/b"].created_on == datetime.datetime(2023, 11, 14, 22, 13, 20)
        )


def test_normalised_free_space_is_blank_and_rntuples_are_refused(tmp_path: Path) -> None:
    """Stale records in the space uproot freed are blanked as ROOT marks a gap (a negative byte
    count,
    TFile::MakeFree); a file with an RNTuple (records the walk does not know) is an error.
    """
    import struct

    from na64stat.core.rootio import normalise_root_file

    tree_file, _ = _write_both(tmp_path / "w")
    data = tree_file.read_bytes()
    (seek_free,) = struct.unpack(">i", data[16:20])  # file header (32-bit seeks): fSeekFree
    (nbytes_free,) = struct.unpack(">i", data[20:24])
    (keylen,) = struct.unpack(">h", data[seek_free + 14 : seek_free + 16])
    record = data[seek_free + keylen : seek_free + nbytes_free]
    gaps = [
        struct.unpack(">hii", record[i : i + 10])[1:] for i in range(0, len(record) - 10, 10)
    ]  # all but the last
    assert gaps  # uproot moved the growing TTree metadata at least once
    for first, last in gaps:
        assert struct.unpack(">i", data[first : first + 4])[0] == -(last - first + 1)
        assert data[first + 4 : last + 1] == bytes(last - first - 3)
    with uproot.recreate(tmp_path / "rn.root") as f:
        f["events"] = {"x": np.arange(3.0)}
    with uproot.open(tmp_path / "rn.root") as f:
        if isinstance(
            f["events"], uproot.TTree
        ):  # uproot < 5.7 (the lowest allowed) writes TTrees here
            return
    with pytest.raises(ValueError, match="RNTuple"):
        normalise_root_file(tmp_path / "rn.root")
