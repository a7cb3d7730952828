"""pyhf workspaces: shipped files validate, round-trip through pyhf and its CLI, match their
configs; bad files fail.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import jsonpatch
import numpy as np
import pyhf
import pytest
from conftest import GOLDEN_REL, REPO, assert_json_close

from na64stat.app.cli import main
from na64stat.core.errors import InputError
from na64stat.inference.limits import upper_limit
from na64stat.model.workspace import (
    build,
    load_patchset,
    load_workspace,
    validate_patchset,
    validate_spec,
)
from na64stat.model.workspace_config import load_workspace_config
from na64stat.physics.setups import get_setup
from na64stat.physics.yields import background_free_reach

SHIPPED = sorted(p.parent for p in (REPO / "workspaces").glob("*/config.yaml"))
PYHF = shutil.which("pyhf") or str(Path(sys.executable).parent / "pyhf")


def test_every_published_result_and_the_simulated_one_is_shipped() -> None:
    names = {p.name for p in SHIPPED}
    assert {
        "na64e-invisible-2016-2018",
        "na64e-invisible-2016-2022",
        "na64mu-2022",
        "na64e-visible-2017-2018",
        "na64e-invisible-simulated",
    } <= names
    for folder in SHIPPED:
        assert (folder / "README.md").read_text().strip(), folder


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_workspace_validates_and_round_trips_through_pyhf(folder: Path) -> None:
    spec = load_workspace(folder / "bkgonly.json")
    patchset = load_patchset(folder / "patchset.json", spec)
    assert (
        json.loads(json.dumps(pyhf.Workspace(spec))) == spec
    )  # pyhf reads and writes it unchanged
    raw = json.loads((folder / "patchset.json").read_text())
    read = pyhf.PatchSet(raw)
    assert [(q.name, list(q.values), list(q.patch)) for q in read.patches] == [
        (q["metadata"]["name"], q["metadata"]["values"], q["patch"]) for q in raw["patches"]
    ]
    meta = raw["metadata"]
    assert (
        meta["setup"] in ("na64e-invisible", "na64mu-invisible", "na64e-visible")
        and meta["assumptions"]
    )
    for patch in patchset.patches:
        assert {"mass_gev", "setup", "signal_model", "reference_coupling"} <= set(patch.metadata)
        patched = patchset.apply(spec, patch.name)
        model = pyhf.Workspace(patched, validate=False).model()  # load_patchset checked its schema
        assert model.config.poi_name == "mu"
        assert np.all(np.asarray(model.expected_actualdata(model.config.suggested_init())) >= 0)


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_files_are_what_their_config_builds(folder: Path) -> None:
    """Rebuilt from the config, the files agree with the shipped ones: structure and strings
    exactly, numbers
    to a relative GOLDEN_REL = 1e-12 (conftest; numpy / scipy builds differ in the last digit).
    """
    spec, patchset = build(load_workspace_config(folder / "config.yaml"))
    shipped_spec = json.loads((folder / "bkgonly.json").read_text())
    shipped_patchset = json.loads((folder / "patchset.json").read_text())
    assert_json_close(json.loads(json.dumps(spec)), shipped_spec, rel=GOLDEN_REL)
    for ps in (patchset, shipped_patchset):
        ps["metadata"].pop("generator")
    # the digest hashes the spec's exact floats: it matches the shipped spec (validate_patchset,
    # test above),
    # and the rebuilt one whenever the rebuilt spec is bit-for-bit the shipped one
    digests = [ps["metadata"].pop("digests") for ps in (patchset, shipped_patchset)]
    if spec == shipped_spec:
        assert digests[0] == digests[1]
    assert_json_close(json.loads(json.dumps(patchset)), shipped_patchset, rel=GOLDEN_REL)


def test_pyhf_command_line_reads_the_files_unchanged(tmp_path: Path) -> None:
    folder = REPO / "workspaces" / "na64e-invisible-2016-2018"
    bkg, ps = str(folder / "bkgonly.json"), str(folder / "patchset.json")
    run = lambda *args: (
        subprocess.run([PYHF, *args], capture_output=True, text=True, check=True).stdout
    )
    assert "signal_box" in run("inspect", bkg)
    assert "All good" in run("patchset", "verify", bkg, ps)
    out = tmp_path / "m0p01.json"
    run("patchset", "apply", bkg, ps, "--name", "m0p01", "--output-file", str(out))
    cls = json.loads(run("cls", str(out)))
    assert 0.0 <= cls["CLs_obs"] < 0.1  # mu = 1 (epsilon = 1e-4 at 10 MeV) is excluded


@pytest.mark.slow
def test_na64e_limit_from_the_shipped_workspace_matches_the_background_free_reach() -> None:
    """n = 0: the limit on the signal is ~2.3 events (x a few % for the efficiency uncertainty)."""
    folder = REPO / "workspaces" / "na64e-invisible-2016-2018"
    spec = load_workspace(folder / "bkgonly.json")
    patchset = load_patchset(folder / "patchset.json", spec)
    ws = pyhf.Workspace(patchset.apply(spec, "m0p01"))
    model = ws.model()
    limit = upper_limit(model, ws.data(model), method="auto", n_toys=3000, seed=3)
    assert (
        limit.method == "exact"
    )  # one bin: exact counting, the Gaussian efficiency constraint integrated
    assert limit.status_observed == "ok" and limit.observed_error < 1e-3 * limit.observed
    reference = next(
        p.metadata["reference_coupling"] for p in patchset.patches if p.name == "m0p01"
    )  # mu = 1
    epsilon = reference * np.sqrt(limit.observed)
    reach = background_free_reach(get_setup("na64e-invisible"), [0.01]).epsilon[0]
    assert epsilon / reach == pytest.approx(1.0, abs=0.08)


def _small() -> tuple[dict, dict]:
    folder = REPO / "workspaces" / "na64mu-2022"
    return json.loads((folder / "bkgonly.json").read_text()), json.loads(
        (folder / "patchset.json").read_text()
    )


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda s, p: s.pop("observations"), "not a valid pyhf workspace"),
        (
            lambda s, p: s["channels"][0]["samples"][1]["modifiers"].append(
                {"name": "x", "type": "magic", "data": None}
            ),
            "not a valid pyhf workspace",
        ),
        (
            lambda s, p: s["channels"][0]["samples"][1].__setitem__("data", [-1.0]),
            "negative or non-finite yields",
        ),
        (
            lambda s, p: s["observations"][0].__setitem__("data", [-2.0]),
            "negative or non-finite counts",
        ),
    ],
)
def test_invalid_workspaces_are_rejected_with_the_item_named(breakage, message: str) -> None:
    spec, _ = _small()
    breakage(spec, None)
    with pytest.raises(InputError, match=message):
        validate_spec(spec, "bkgonly.json")


def test_patch_problems_are_rejected() -> None:
    spec, patchset = _small()
    wrong_digest = copy.deepcopy(patchset)
    wrong_digest["metadata"]["digests"]["sha256"] = "1" * 64
    with pytest.raises(InputError, match="digest mismatch"):
        validate_patchset(wrong_digest, spec, "patchset.json")
    bad_path = copy.deepcopy(patchset)
    bad_path["patches"][0]["patch"][0]["path"] = "/channels/7/samples/0"
    with pytest.raises(InputError, match="does not apply"):
        validate_patchset(bad_path, spec, "patchset.json")
    negative = copy.deepcopy(patchset)
    negative["patches"][1]["patch"][0]["value"]["data"] = [-3.0]
    with pytest.raises(InputError, match=r"patch 'm0p002'.*negative"):
        validate_patchset(negative, spec, "patchset.json")


def test_cli_build_inspect_validate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = REPO / "workspaces" / "na64e-invisible-2016-2018"
    main(["workspace", "validate", str(folder / "bkgonly.json"), str(folder / "patchset.json")])
    main(
        [
            "workspace",
            "inspect",
            str(folder / "bkgonly.json"),
            str(folder / "patchset.json"),
            "--patch",
            "m0p1",
        ]
    )
    out = capsys.readouterr().out
    assert "background" in out and "20 patches" in out and "with patch m0p1" in out
    main(["workspace", "build", str(folder / "config.yaml"), "--out", str(tmp_path / "ws")])
    assert_json_close(
        json.loads((tmp_path / "ws" / "bkgonly.json").read_text()),
        json.loads((folder / "bkgonly.json").read_text()),
    )
    broken = tmp_path / "broken.json"
    spec = json.loads((folder / "bkgonly.json").read_text())
    spec["channels"][0]["samples"][1]["data"] = [-1.0]
    broken.write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as info:
        main(["workspace", "validate", str(broken)])
    assert info.value.code == 1 and "negative" in capsys.readouterr().err
    bad_config = tmp_path / "bad" / "config.yaml"
    bad_config.parent.mkdir()
    bad_config.write_text("setup: na64e-invisible\nchannels: []\nsignal: {masses: [0.01]}\n")
    with pytest.raises(SystemExit):
        main(["workspace", "build", str(bad_config)])
    assert sorted(p.name for p in bad_config.parent.iterdir()) == ["config.yaml"]


def test_exact_counting_with_gaussian_constraints_agrees_with_toys() -> None:
    """The shipped form (normsys on signal and background, n = 0): exact CLs within the error of 40k
    toys.
    """
    from na64stat.inference.calculators import ExactCalculator, ToyCalculator
    from na64stat.inference.likelihood import Likelihood

    spec, patchset = _small()
    ws = pyhf.Workspace(jsonpatch.apply_patch(spec, patchset["patches"][0]["patch"]))
    model = ws.model()
    lik = Likelihood(model, ws.data(model))
    signal = float(model.expected_actualdata(model.config.suggested_init())[0]) - float(
        model.expected_actualdata(
            [
                0.0 if i == model.config.poi_index else v
                for i, v in enumerate(model.config.suggested_init())
            ]
        )[0]
    )
    mu = 2.5 / signal
    exact = ExactCalculator(lik).cls(mu)
    toys = ToyCalculator(lik, n_toys=40_000, seed=11).ensemble(mu)
    assert exact.cls_obs_error < 1e-3  # numerical, far below the toys' 2e-3
    assert toys.cls().cls_obs == pytest.approx(exact.cls_obs, abs=4 * toys.cls_error())
    for k in range(5):
        assert toys.cls().cls_exp[k] == pytest.approx(
            exact.cls_exp[k], abs=4 * toys.cls().cls_exp_error[k] + 1e-3
        )


def test_build_from_a_selection_output_with_abcd_and_tail_fit_models(tmp_path: Path) -> None:
    """A workspace config reading a selection's cutflow.json / histograms.json: observed, ABCD, tail
    fit, signal.
    """
    import awkward as ak  # noqa: F401  (uproot writes numpy here)
    import uproot
    import yaml

    from na64stat.model.background import abcd, fit_tail
    from na64stat.selection.config import parse_selection
    from na64stat.selection.outputs import write_outputs
    from na64stat.selection.processing import run_selection

    rng = np.random.default_rng(5)
    files = {}
    for name, n in (("data", 20_000), ("signal_m10MeV", 2_000)):
        x, y = rng.exponential(10.0, n), rng.exponential(10.0, n)
        if name.startswith("signal"):
            x, y = rng.uniform(50, 60, n), rng.uniform(0, 1, n)
        with uproot.recreate(tmp_path / f"{name}.root") as f:
            f.mktree("events", {"x": np.float64, "y": np.float64, "weight": np.float64}).extend(
                {"x": x, "y": y, "weight": np.full(n, 0.01)}
            )
        files[name] = [str(tmp_path / f"{name}.root")]
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "weight",
            "regions": {
                "signal": {"where": "x > 40 and y < 2"},
                "B": {"where": "x > 40 and y >= 2"},
                "C": {"where": "x <= 40 and y < 2"},
                "D": {"where": "x <= 40 and y >= 2"},
                "all": {},
            },
            "histograms": [
                {
                    "name": "x",
                    "expression": "x",
                    "bins": {"regular": [30, 0, 60]},
                    "regions": ["all"],
                }
            ],
        }
    )
    write_outputs(run_selection(sel, files, data_samples=["data"], unblind=True), tmp_path / "sel")
    config = {
        "name": "toy",
        "setup": "na64e-invisible",
        "exposure": 1.0,
        "assumptions": ["toy"],
        "channels": [
            {
                "name": "box",
                "observed": {"cutflow": "sel/cutflow.json", "sample": "data", "region": "signal"},
                "samples": [
                    {
                        "name": "abcd_bkg",
                        "abcd": {
                            "cutflow": "sel/cutflow.json",
                            "sample": "data",
                            "regions": {"B": "B", "C": "C", "D": "D"},
                        },
                    },
                    {
                        "name": "tail_bkg",
                        "tail_fit": {
                            "histograms": "sel/histograms.json",
                            "sample": "data",
                            "region": "all",
                            "histogram": "x",
                            "box": [40, 60],
                        },
                    },
                ],
            }
        ],
        "signal": {
            "channel": "box",
            "from_selection": {"cutflow": "sel/cutflow.json", "region": "signal", "scale": 2.0},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    spec, patchset = build(load_workspace_config(tmp_path / "config.yaml"))
    summary = json.loads((tmp_path / "sel" / "cutflow.json").read_text())["samples"]
    data = summary["data"]["regions"]
    samples = {s["name"]: s for s in spec["channels"][0]["samples"]}
    expected_abcd = abcd(data["B"]["raw"], data["C"]["raw"], data["D"]["raw"]).value
    assert samples["abcd_bkg"]["data"][0] == pytest.approx(expected_abcd)
    assert spec["observations"][0]["data"] == [float(data["signal"]["raw"])]
    hist_counts = np.histogram(
        np.concatenate([uproot.open(files["data"][0])["events"]["x"].array(library="np")]),
        np.linspace(0, 60, 31),
    )[0]
    expected_tail = fit_tail(hist_counts, np.linspace(0, 60, 31), box=(40.0, 60.0)).value
    assert samples["tail_bkg"]["data"][0] == pytest.approx(expected_tail, rel=1e-6)
    signal = patchset["patches"][0]
    assert signal["metadata"]["mass_gev"] == pytest.approx(0.01)
    weighted = summary["signal_m10MeV"]["regions"]["signal"]["weighted"]
    normalised = (
        signal["metadata"]["reference_coupling"] / 1e-4
    ) ** 2  # simulated at 1e-4, normalised per mass
    assert signal["patch"][0]["value"]["data"][0] == pytest.approx(2.0 * weighted * normalised)


def test_multibin_shapes_with_a_control_region_and_exposure_uncertainty(tmp_path: Path) -> None:
    """Multi-bin channels from selection histograms (data, MC background shape, signal) plus a
    counting control region.
    """
    import uproot
    import yaml

    from na64stat.selection.config import parse_selection
    from na64stat.selection.outputs import load_histograms, write_outputs
    from na64stat.selection.processing import run_selection

    rng = np.random.default_rng(9)
    files = {}
    for name, n, w in (
        ("data", 5_000, 1.0),
        ("bkg", 20_000, 0.25),
        ("signal_m10MeV", 2_000, 0.001),
    ):
        x = rng.uniform(50, 100, n) if name.startswith("signal") else rng.exponential(20.0, n)
        with uproot.recreate(tmp_path / f"{name}.root") as f:
            f.mktree("events", {"x": np.float64, "weight": np.float64}).extend(
                {"x": x, "weight": np.full(n, w)}
            )
        files[name] = [str(tmp_path / f"{name}.root")]
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "weight",
            "regions": {"sr": {"where": "x >= 40"}, "cr": {"where": "x < 40"}},
            "histograms": [
                {
                    "name": "x",
                    "expression": "x",
                    "bins": {"regular": [6, 40, 100]},
                    "regions": ["sr"],
                }
            ],
        }
    )
    write_outputs(run_selection(sel, files, data_samples=["data"], unblind=True), tmp_path / "sel")
    hist_file = "sel/histograms.json"
    config = {
        "name": "multibin",
        "setup": "na64e-invisible",
        "exposure": 1.0,
        "assumptions": ["toy"],
        "channels": [
            {
                "name": "sr",
                "observed": {
                    "histograms": hist_file,
                    "sample": "data",
                    "region": "sr",
                    "histogram": "x",
                },
                "samples": [
                    {
                        "name": "bkg",
                        "shape": {
                            "histograms": hist_file,
                            "samples": ["bkg"],
                            "region": "sr",
                            "histogram": "x",
                            "scale": 1.0,
                        },
                    }
                ],
            },
            {
                "name": "cr",
                "observed": {"cutflow": "sel/cutflow.json", "sample": "data", "region": "cr"},
                "samples": [
                    {
                        "name": "bkg",
                        "template": {
                            "cutflow": "sel/cutflow.json",
                            "samples": ["bkg"],
                            "region": "cr",
                            "scale": 1.0,
                        },
                    }
                ],
            },
        ],
        "signal": {
            "channel": "sr",
            "exposure_uncertainty": 0.02,
            "normalise": True,
            "from_selection": {
                "cutflow": "sel/cutflow.json",
                "histograms": hist_file,
                "region": "sr",
                "histogram": "x",
                "scale": 1.0,
            },
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    spec, patchset = build(load_workspace_config(tmp_path / "config.yaml"))
    hists = load_histograms(tmp_path / hist_file)
    np.testing.assert_allclose(spec["observations"][0]["data"], hists["data"]["sr"]["x"].values())
    bkg = spec["channels"][0]["samples"][1]
    np.testing.assert_allclose(bkg["data"], np.maximum(hists["bkg"]["sr"]["x"].values(), 1e-6))
    np.testing.assert_allclose(
        bkg["modifiers"][0]["data"], np.sqrt(hists["bkg"]["sr"]["x"].variances())
    )
    patch = patchset["patches"][0]["patch"][0]["value"]
    normalised = (
        patchset["patches"][0]["metadata"]["reference_coupling"] / 1e-4
    ) ** 2  # per-mass reference coupling
    np.testing.assert_allclose(
        patch["data"], hists["signal_m10MeV"]["sr"]["x"].values() * normalised
    )
    assert sum(patch["data"]) == pytest.approx(3.0, rel=0.1)  # about REFERENCE_SIGNAL_EVENTS
    assert {"name": "lumi", "type": "lumi", "data": None} in patch["modifiers"]
    model = pyhf.Workspace(jsonpatch.apply_patch(spec, patchset["patches"][0]["patch"])).model()
    assert model.config.channel_nbins == {"cr": 1, "sr": 6} and "lumi" in model.config.parameters


def test_visible_patches_are_normalised_and_keep_each_points_prediction() -> None:
    """Per (mass, coupling), a yield that is not proportional to the coupling squared (a stand-in
    for the decay-length factor): each patch expects about 3 events, and its yields x
    point_signal_strength give back
    the prediction at its own point (relative 1e-12); the POI bounds hold every point's signal
    strength.
    """
    from na64stat.model.builders import point_signal_strength
    from na64stat.model.workspace_config import parse_workspace_config

    def fake_yield(setup, mass, coupling, model, exposure, efficiency):  # events, not ~ coupling^2
        return 1e12 * coupling**2 * math.exp(-((coupling / 2e-3) ** 2)) * (0.01 / mass)

    cfg = {
        "setup": "na64e-visible",
        "exposure": 8.4e10,
        "channels": [
            {
                "name": "sr",
                "observed": 0,
                "samples": [{"name": "background", "yield": {"value": 0.01, "error": 0.005}}],
            }
        ],
        "signal": {"masses": [0.01, 0.02], "couplings": [1e-5, 1e-4, 3e-3], "efficiency": 0.6},
    }
    description = parse_workspace_config(cfg, Path("."), signal_yield=fake_yield)
    assert description.labels == ("mass_gev", "coupling")
    for patch in description.signals:
        mass, coupling = patch.values
        (events,) = patch.yields["sr"]
        assert 2.7 < events < 3.3
        strength = point_signal_strength(coupling, patch.metadata["reference_coupling"])
        assert events * strength == pytest.approx(
            fake_yield(None, mass, coupling, None, None, None), rel=1e-12
        )
        assert description.poi_bounds is not None and strength < description.poi_bounds[1] / 5
    assert "reference_coupling" not in description.metadata  # one per patch


def test_a_patchset_is_validated_once_per_content(monkeypatch: pytest.MonkeyPatch) -> None:
    """build, write and load of the same PatchSet check each patched workspace once; a changed
    PatchSet is
    checked again, and its bad patch still fails.
    """
    import na64stat.model.workspace as workspace_module

    spec, patchset = _small()
    calls = []
    original = workspace_module.validate_spec
    monkeypatch.setattr(
        workspace_module,
        "validate_spec",
        lambda *args, **kwargs: calls.append(args[1]) or original(*args, **kwargs),
    )
    # a background no earlier test in this process validated (the digest follows the spec)
    spec["channels"][0]["samples"][-1]["data"] = [
        y * 1.000123 for y in spec["channels"][0]["samples"][-1]["data"]
    ]
    patchset["metadata"]["digests"] = {"sha256": pyhf.utils.digest(spec, "sha256")}
    validate_patchset(patchset, spec, "first")
    first = len(calls)
    assert first == len(patchset["patches"])
    validate_patchset(copy.deepcopy(patchset), spec, "again")
    assert len(calls) == first
    broken = copy.deepcopy(patchset)
    broken["patches"][0]["patch"][0]["value"]["data"] = [-1.0]
    with pytest.raises(InputError, match="negative"):
        validate_patchset(broken, spec, "broken")
