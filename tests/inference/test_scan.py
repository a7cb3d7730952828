"""Mass scans: PatchSet and plain-patch inputs, limits.json / CSV, resumption, Dask,
and the published ATLAS sbottom likelihood."""

import json
import math
import tarfile

import numpy as np
import pyhf
import pytest
from conftest import SHARED

from na64stat.app.cli import main
from na64stat.core.errors import InputError
from na64stat.inference import scan as scan_module
from na64stat.inference.calculators import AsymptoticCalculator
from na64stat.inference.likelihood import Likelihood
from na64stat.inference.scan import ScanResult, ScanSettings, load_scan_inputs, run_scan


def _bkgonly():
    return {
        "channels": [
            {
                "name": "box",
                "samples": [
                    {
                        "name": "bkg",
                        "data": [0.5],
                        "modifiers": [{"name": "bkg_unc", "type": "shapesys", "data": [0.15]}],
                    }
                ],
            }
        ],
        "observations": [{"name": "box", "data": [0.0]}],
        "measurements": [
            {
                "name": "meas",
                "config": {
                    "poi": "mu",
                    "parameters": [{"name": "mu", "bounds": [[0.0, 1e6]], "inits": [1.0]}],
                },
            }
        ],
        "version": "1.0.0",
    }


def _patchset(masses=(0.001, 0.01, 0.1), yields=(4.0, 2.0, 0.5)):
    patches = []
    for m, s in zip(masses, yields):
        patches.append(
            {
                "metadata": {
                    "name": f"aprime_{m * 1e3:g}MeV",
                    "values": [m],
                    "mass_gev": m,
                    "epsilon_ref": 1e-4,
                },
                "patch": [
                    {
                        "op": "add",
                        "path": "/channels/0/samples/1",
                        "value": {
                            "name": "signal",
                            "data": [s],
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        },
                    }
                ],
            }
        )
    return {
        "metadata": {
            "name": "test",
            "references": {"hepdata": "ins0000000"},
            "description": "signal per mass",
            "digests": {"sha256": pyhf.utils.digest(_bkgonly())},
            "labels": ["mass_gev"],
        },
        "patches": patches,
        "version": "1.0.0",
    }


@pytest.fixture
def inputs(tmp_path):
    ws_path, ps_path = tmp_path / "bkgonly.json", tmp_path / "patchset.json"
    ws_path.write_text(json.dumps(_bkgonly()))
    ps_path.write_text(json.dumps(_patchset()))
    return ws_path, ps_path


def test_scan_writes_limits_keyed_by_mass(inputs, tmp_path):
    spec, points = load_scan_inputs(*inputs[:1], [inputs[1]])
    out = tmp_path / "out"
    summary = run_scan(spec, points, out, ScanSettings(), n_workers=1)
    assert [p.key for p in summary.points] == ["0.001", "0.01", "0.1"]
    assert [p.mass_gev for p in summary.points] == [0.001, 0.01, 0.1]
    data = json.loads((out / "limits.json").read_text())
    first = data["limits"]["0.001"]
    assert first["method"] == "exact" and first["confidence_level"] == 0.9
    assert first["metadata"]["epsilon_ref"] == 1e-4
    # 4 signal events per unit mu and n = 0: mu_up * 4 ~ 2.303 (slightly more: background
    # uncertainty)
    assert 2.30 < first["observed"] * 4.0 < 2.4
    assert set(first["expected"]) == {"-2sigma", "-1sigma", "median", "+1sigma", "+2sigma"}
    header = (out / "limits.csv").read_text().splitlines()[0]
    assert header.startswith("key,name,mass_gev,observed,expected_-2sigma")
    # the typed records give the file back as it was written
    assert ScanResult.from_dict(data).to_dict() == data == summary.to_dict()


def test_scan_resumes_and_recomputes_only_what_changed(inputs, tmp_path, monkeypatch):
    spec, points = load_scan_inputs(inputs[0], [inputs[1]])
    out = tmp_path / "out"
    first = run_scan(spec, points, out, ScanSettings(), n_workers=1)
    (out / "points" / f"{points[1].name}.json").unlink()  # as if interrupted before this point
    calls = []
    original = scan_module.compute_point
    monkeypatch.setattr(
        scan_module, "compute_point", lambda *a, **k: calls.append(a[1].name) or original(*a, **k)
    )
    second = run_scan(spec, points, out, ScanSettings(), n_workers=1)
    assert calls == [points[1].name] and second.n_resumed == 2
    assert second.to_dict()["limits"] == first.to_dict()["limits"]
    assert second.point("0.01").limit.observed == pytest.approx(first.point("0.01").limit.observed)
    # different settings: nothing is reused
    calls.clear()
    run_scan(spec, points, out, ScanSettings(confidence_level=0.95), n_workers=1)
    assert len(calls) == 3


def test_scan_on_local_dask_equals_in_process(inputs, tmp_path):
    spec, points = load_scan_inputs(inputs[0], [inputs[1]])
    serial = run_scan(spec, points, tmp_path / "a", n_workers=1)
    parallel = run_scan(spec, points, tmp_path / "b", n_workers=2)
    for point in serial.points:
        assert parallel.point(point.key).limit.observed == point.limit.observed


def test_bad_inputs_name_the_file(tmp_path, inputs):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json is not valid JSON"):
        load_scan_inputs(bad, [inputs[1]])
    with pytest.raises(InputError, match="does not exist"):
        load_scan_inputs(tmp_path / "missing.json", [inputs[1]])
    wrong = tmp_path / "wrong_patch.json"
    wrong.write_text(json.dumps([{"op": "remove", "path": "/channels/7"}]))
    with pytest.raises(InputError, match="'wrong_patch' does not apply"):
        load_scan_inputs(inputs[0], [wrong])
    with pytest.raises(InputError, match="not a valid pyhf workspace"):
        invalid = tmp_path / "invalid.json"
        invalid.write_text(json.dumps({"channels": []}))
        load_scan_inputs(invalid, [inputs[1]])


def test_cli_limits_and_failure_exit_code(inputs, tmp_path, capsys):
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as done:
        main(["limits", str(inputs[0]), str(inputs[1]), "--out", str(out), "--workers", "1"])
        raise SystemExit(0)
    assert done.value.code in (0, None)
    assert (out / "limits.json").exists() and "0.001" in capsys.readouterr().out
    with pytest.raises(SystemExit) as failed:
        main(["limits", str(tmp_path / "nope.json"), str(inputs[1]), "--out", str(tmp_path / "x")])
    assert failed.value.code == 1 and not (tmp_path / "x").exists()


# ---------------------------------------------------------------------- ATLAS sbottom likelihood
SBOTTOM = SHARED / "testdata" / "pyhf-ins1748602-probability-models.tar.gz"


@pytest.fixture(scope="module")
def sbottom(tmp_path_factory):
    if not SBOTTOM.exists():
        pytest.skip("../shared/testdata sbottom likelihood not available")
    folder = tmp_path_factory.mktemp("sbottom")
    with tarfile.open(SBOTTOM) as tar:
        tar.extractall(folder, filter="data")
    return folder / "RegionA"


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
def test_sbottom_cls_equals_pyhf_reference(sbottom):
    spec, points = load_scan_inputs(
        sbottom / "BkgOnly.json", [sbottom / "patch.sbottom_1300_205_60.json"]
    )
    import jsonpatch

    ws = pyhf.Workspace(jsonpatch.apply_patch(spec, points[0].patch))
    model = ws.model()
    point = AsymptoticCalculator(Likelihood(model, ws.data(model))).cls(1.0)
    # testdata README: pyhf's regression values for this patch (code4 / code4p, qtilde, mu = 1)
    assert point.cls_obs == pytest.approx(0.24443627759085326, abs=1e-4)
    expected = [
        0.09022509053507759,
        0.1937839194960632,
        0.38432344933992,
        0.6557757334303531,
        0.8910420971601081,
    ]
    assert np.allclose(point.cls_exp, expected, atol=1e-4)


@pytest.mark.slow
def test_sbottom_scan_runs_through_the_mass_scan_path(sbottom, tmp_path):
    patches = [
        sbottom / "patch.sbottom_1300_205_60.json",
        sbottom / "patch.sbottom_600_180_50.json",
    ]
    spec, points = load_scan_inputs(sbottom / "BkgOnly.json", patches)
    summary = run_scan(spec, points, tmp_path, ScanSettings(method="asymptotic"), n_workers=2)
    limit = summary.point("sbottom_1300_205_60").limit
    assert limit.status_observed == "ok"
    ws = pyhf.Workspace(__import__("jsonpatch").apply_patch(spec, points[0].patch))
    model = ws.model()
    cls = float(pyhf.infer.hypotest(limit.observed, ws.data(model), model, test_stat="qtilde"))
    assert cls == pytest.approx(0.10, abs=5e-4)
    assert not math.isnan(summary.point("sbottom_600_180_50").limit.observed)


def test_recast_of_a_scan(inputs, tmp_path, capsys):
    spec, points = load_scan_inputs(inputs[0], [inputs[1]])
    run_scan(spec, points, tmp_path / "s", n_workers=1)
    out = tmp_path / "couplings.json"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "recast",
                str(tmp_path / "s" / "limits.json"),
                "--out",
                str(out),
                "--signal-model",
                "dark_photon",
                "--reference-coupling",
                "1e-4",
            ]
        )
        raise SystemExit(0)
    assert done.value.code in (0, None)
    data = json.loads(out.read_text())
    limits = json.loads((tmp_path / "s" / "limits.json").read_text())["limits"]
    for key, point in data["points"].items():
        assert point["observed"]["epsilon2"] == pytest.approx(limits[key]["observed"] * 1e-8)
        assert point["expected_median"]["epsilon2"] == pytest.approx(
            limits[key]["expected"]["median"] * 1e-8
        )
    with pytest.raises(SystemExit) as failed:
        main(["recast", str(tmp_path / "s" / "limits.json"), "--out", str(tmp_path / "never.json")])
    assert failed.value.code == 1 and not (tmp_path / "never.json").exists()
    assert "reference_coupling" in capsys.readouterr().err


def test_a_damaged_point_file_is_recomputed_not_fatal(tmp_path) -> None:
    """A resumed scan whose points/ file is binary, truncated or not a record recomputes that
    point.
    """
    import pyhf as _pyhf

    from na64stat.inference.scan import ScanSettings, SignalPoint, run_scan

    spec = {
        "channels": [{"name": "c", "samples": [{"name": "bkg", "data": [0.5], "modifiers": []}]}],
        "observations": [{"name": "c", "data": [0.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    patch = [
        {
            "op": "add",
            "path": "/channels/0/samples/0",
            "value": {
                "name": "sig",
                "data": [1.0],
                "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
            },
        }
    ]
    _pyhf.Workspace(spec)
    point = SignalPoint("p1", patch, {"mass_gev": 0.01})
    first = run_scan(spec, [point], tmp_path, ScanSettings(), n_workers=1)
    (point_file,) = (tmp_path / "points").iterdir()
    for junk in (b"\x89PNG\x00\xff\xfe", b'{"digest": ', b"[1, 2]"):
        point_file.write_bytes(junk)
        again = run_scan(spec, [point], tmp_path, ScanSettings(), n_workers=1)
        assert again.n_resumed == 0
        assert again.point("0.01").limit.observed == first.point("0.01").limit.observed
