"""Combined workspaces (na64stat.model.combine): exposure doubling, null experiments, strength,
pyhf's own CLs.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import jsonpatch
import pyhf
import pytest
from conftest import assert_json_close

from na64stat.core.errors import InputError
from na64stat.inference.limits import upper_limit
from na64stat.model.combine import combine_workspaces, yield_conversion
from na64stat.model.workspace import (
    Channel,
    Sample,
    SignalPatch,
    WorkspaceDescription,
    build,
    load_workspace,
)

WORKSPACES = Path(__file__).resolve().parents[2] / "na64stat" / "workspaces"


def _shipped(name):
    return load_workspace(WORKSPACES / name / "bkgonly.json"), json.loads(
        (WORKSPACES / name / "patchset.json").read_text()
    )


def _toy(
    name="toy",
    signal=10.0,
    background=1e-9,
    masses=(0.01,),
    setup="na64e-invisible",
    model="dark_photon",
):
    d = WorkspaceDescription(
        name=name,
        channels=(Channel("box", (0.0,), (Sample("bkg", (background,)),)),),
        signals=tuple(
            SignalPatch(
                f"m{i}",
                {"box": (signal,)},
                (m,),
                {"mass_gev": m, "signal_model": model, "reference_coupling": 1e-4, "setup": setup},
            )
            for i, m in enumerate(masses)
        ),
    )
    return build(d)


def _patched(spec, patchset, index):
    return pyhf.Workspace(
        jsonpatch.apply_patch(copy.deepcopy(spec), patchset["patches"][index]["patch"])
    )


def _limit(spec, patchset, index, method="asymptotic"):
    ws = _patched(spec, patchset, index)
    model = ws.model()
    return upper_limit(model, ws.data(model), method=method, budget_s=5.0)


def test_self_combination_doubles_exposure_closed_form():
    s = 10.0
    # closed form at n = 0, b = 0: CLs = exp(-mu s), mu_up = ln(10) / s; twice the exposure is 2 s
    doubled = _toy(signal=2 * s)
    assert _limit(*_toy(signal=s), 0, method="exact").observed == pytest.approx(
        math.log(10.0) / s, rel=1e-3
    )
    assert _limit(*doubled, 0, method="exact").observed == pytest.approx(
        math.log(10.0) / (2 * s), rel=1e-3
    )
    spec, ps = combine_workspaces(
        [_toy(signal=s), _toy(signal=s)], reference_coupling=1e-4
    )  # mu as the inputs'
    # the combined likelihood ratio in mu is the doubled exposure's: every method gives the same
    # limit
    combined, single = _patched(spec, ps, 0), _patched(*doubled, 0)
    cm, sm = combined.model(), single.model()
    cd, sd = combined.data(cm), single.data(sm)
    for mu in (0.05, 0.1151, 0.3):
        c = cm.logpdf([mu], cd)[0] - cm.logpdf([0.0], cd)[0]
        d = sm.logpdf([mu], sd)[0] - sm.logpdf([0.0], sd)[0]
        assert float(c) == pytest.approx(float(d), rel=1e-9)
        assert float(c) == pytest.approx(-2 * s * mu, rel=1e-6)
    assert _limit(spec, ps, 0).observed == pytest.approx(_limit(*doubled, 0).observed, rel=1e-4)


def test_zero_signal_experiment_changes_nothing():
    a = _toy(signal=5.0, background=0.5)
    null = copy.deepcopy(_toy(name="null", signal=1.0, background=0.3))
    null[1]["patches"][0]["patch"][0]["value"]["data"] = [0.0]
    spec, ps = combine_workspaces([a, null], reference_coupling=1e-4)
    for method in ("asymptotic",):
        assert _limit(spec, ps, 0, method).observed == pytest.approx(
            _limit(*a, 0, method).observed, rel=1e-6
        )


def test_interpolation_and_no_extrapolation():
    a = _toy(signal=10.0, masses=(0.01, 0.1))
    a[1]["patches"][1]["patch"][0]["value"]["data"] = [
        1000.0
    ]  # yields 10 -> 1000: log-log midpoint 100
    b = _toy(name="b", signal=3.0, masses=(0.01,))
    _spec, ps = combine_workspaces([a, b], masses=[math.sqrt(0.001), 0.01], reference_coupling=1e-4)
    mid = ps["patches"][1]
    assert mid["metadata"]["experiments_without_signal"] == ["b"]
    assert mid["patch"][0]["value"]["data"][0] == pytest.approx(100.0)
    assert [
        op["value"]["data"][0]
        for op in ps["patches"][0]["patch"]
        if op["path"].startswith("/channels/")
    ] == pytest.approx([10.0, 3.0])
    with pytest.raises(InputError, match="outside every experiment"):
        combine_workspaces([b], masses=[0.5])


def test_combined_patches_are_normalised_and_the_coupling_limit_is_unchanged():
    """Without --reference-coupling each mass gets the coupling where the combined signal expects
    about 3 events
    (mu of order one near the limit); the limit in coupling^2 (mu x reference^2) is the
    fixed-reference one.
    """
    a, b = _toy(signal=40.0, masses=(0.01, 0.1)), _toy(name="b", signal=8.0, masses=(0.01, 0.1))
    b[1]["patches"][1]["metadata"]["reference_coupling"] = (
        2e-4  # inputs with per-mass references too
    )
    fixed_spec, fixed = combine_workspaces([a, b], reference_coupling=1e-4)
    spec, normalised = combine_workspaces([a, b])
    assert "reference_coupling" not in normalised["metadata"]
    for index in range(2):
        meta = normalised["patches"][index]["metadata"]
        signal = sum(
            sum(op["value"]["data"])
            for op in normalised["patches"][index]["patch"]
            if op["path"].startswith("/channels/")
        )
        assert signal == pytest.approx(3.0, rel=0.1)
        coupling2 = (
            _limit(spec, normalised, index, "asymptotic").observed * meta["reference_coupling"] ** 2
        )
        fixed2 = _limit(fixed_spec, fixed, index, "asymptotic").observed * 1e-4**2
        assert coupling2 == pytest.approx(fixed2, rel=1e-3)


def test_unknown_correlated_modifier_and_visible_mode_rejected():
    with pytest.raises(InputError, match="no such modifier"):
        combine_workspaces([_toy(), _toy()], correlated=["nope"])
    with pytest.raises(InputError, match="one patch per mass"):
        combine_workspaces([_shipped("na64e-visible-2017-2018")])


def test_conversion_factors():
    # the muon beam sees the dark photon with eps e, the Z' with e_mu and Br(inv)
    assert yield_conversion("lmutau", "dark_photon", "muon", 0.01) == pytest.approx(
        4 * math.pi / 137.036, rel=1e-3
    )
    assert yield_conversion("dark_photon", "lmutau", "electron", 0.001) == pytest.approx(
        0.0144**2, rel=1e-2
    )


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
@pytest.mark.parametrize("model", ["dark_photon", "lmutau"])
def test_combined_at_least_as_strong_as_each(model):
    e, mu = _shipped("na64e-invisible-2016-2022"), _shipped("na64mu-2022")
    spec, ps = combine_workspaces([e, mu], model=model)
    for index in range(len(ps["patches"])):
        ref = ps["patches"][index]["metadata"][
            "reference_coupling"
        ]  # each patch its own (normalised)
        # one method for all: auto picks exact counting for a single bin, asymptotics for two
        combined = _limit(spec, ps, index, method="asymptotic")
        for exp, single_ps in ((e, e[1]), (mu, mu[1])):
            single = _limit(exp[0], single_ps, index, method="asymptotic")
            meta = single_ps["patches"][index]["metadata"]
            beam = "muon" if meta["setup"].startswith("na64mu") else "electron"
            # the single limit in the common mu: yields scale by the conversion, mu inversely
            scale = (
                yield_conversion(meta["signal_model"], model, beam, meta["mass_gev"])
                * (ref / meta["reference_coupling"]) ** 2
            )
            assert combined.observed <= single.observed / scale * (
                1 + 1e-4
            )  # the limit solver's tolerance
            for c, s in zip(combined.expected, single.expected):
                assert c <= s / scale * (1 + 1e-4)  # the limit solver's tolerance


def test_pyhf_hypotest_at_combined_limit():
    spec, ps = combine_workspaces([_shipped("na64e-invisible-2016-2022"), _shipped("na64mu-2022")])
    for index in (2, 7):
        limit = _limit(spec, ps, index, method="asymptotic")
        ws = _patched(spec, ps, index)
        model = ws.model()
        cls = float(pyhf.infer.hypotest(limit.observed, ws.data(model), model, test_stat="qtilde"))
        assert cls == pytest.approx(0.10, abs=1e-3)


def test_pyhf_cli_reads_combined_workspace(tmp_path):
    spec, ps = combine_workspaces([_shipped("na64e-invisible-2016-2022"), _shipped("na64mu-2022")])
    full = jsonpatch.apply_patch(copy.deepcopy(spec), ps["patches"][3]["patch"])
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(full))
    pyhf_cli = Path(sys.executable).with_name("pyhf")
    if not pyhf_cli.exists():
        pytest.skip(f"no pyhf console script next to {sys.executable}")
    out = subprocess.run(
        [str(pyhf_cli), "cls", str(path)], capture_output=True, text=True, check=True
    )
    assert 0.0 <= json.loads(out.stdout)["CLs_obs"] <= 1.0


def test_cli_combine_writes_a_valid_workspace(tmp_path):
    from click.testing import CliRunner

    from na64stat.app.cli import cli
    from na64stat.model.workspace import load_patchset

    out = tmp_path / "combined"
    result = CliRunner().invoke(
        cli,
        [
            "combine",
            str(WORKSPACES / "na64e-invisible-2016-2022"),
            str(WORKSPACES / "na64mu-2022"),
            "--model",
            "lmutau",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    spec = load_workspace(out / "bkgonly.json")
    patches = load_patchset(out / "patchset.json", spec)
    assert len(patches) == 20 and patches.metadata["coupling_name"] == "e_mu"
    bad = CliRunner().invoke(
        cli, ["combine", str(WORKSPACES / "na64e-visible-2017-2018"), "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 1 and not (tmp_path / "x" / "bkgonly.json").exists()


SHIPPED_COMBINATIONS = {
    "na64-combined-e2016-2022-mu2022-epsilon": "dark_photon",
    "na64-combined-e2016-2022-mu2022-gzprime": "lmutau",
}


@pytest.mark.parametrize(("folder", "model"), SHIPPED_COMBINATIONS.items())
def test_shipped_combinations_are_the_combination_of_the_shipped_inputs(folder, model):
    spec, ps = _shipped(folder)
    fresh_spec, fresh_ps = combine_workspaces(
        [_shipped("na64e-invisible-2016-2022"), _shipped("na64mu-2022")], model=model
    )
    assert spec == fresh_spec, f"rerun python tools/make_combined_workspaces.py ({folder} is stale)"
    # numbers to 1e-12: the lowest allowed numpy / scipy differ from the newest in the last bit of a
    # yield
    assert_json_close(fresh_ps["patches"], ps["patches"], rel=1e-12, abs=0.0)
    assert ps["metadata"]["model"] == model and [
        e["setup"] for e in ps["metadata"]["combined_from"]
    ] == ["na64e-invisible", "na64mu-invisible"]
    assert all(p["metadata"]["beam"] == "mixed" for p in ps["patches"])


@pytest.mark.parametrize("folder", SHIPPED_COMBINATIONS)
def test_pyhf_cls_at_the_shipped_combined_limit(folder):
    """pyhf's own asymptotic CLs on the shipped file, with the POI bounds its patch sets, is 0.10 at
    our limit.
    """
    spec, ps = _shipped(folder)
    for index in (1, 8):
        ws = _patched(spec, ps, index)
        model = ws.model()
        limit = upper_limit(model, ws.data(model), method="asymptotic")
        low, high = model.config.suggested_bounds()[model.config.poi_index]
        assert low == 0.0 and limit.observed < high and max(limit.expected) < high
        assert not any(
            "widened" in note for note in limit.notes
        )  # the patch's bounds already hold the limit
        cls = float(pyhf.infer.hypotest(limit.observed, ws.data(model), model, test_stat="qtilde"))
        assert cls == pytest.approx(0.10, abs=1e-3)


@pytest.mark.slow
def test_auto_limit_of_the_shipped_combination_is_at_least_as_strong_as_each_input():
    """The default method end to end: exact counting for each single bin and for the two-bin
    combination (n = 0 in both boxes, count vectors summed); the combined limit is below the
    stronger single one
    within its stated error.
    """
    spec, ps = _shipped("na64-combined-e2016-2022-mu2022-gzprime")
    index = 5
    ws = _patched(spec, ps, index)
    model = ws.model()
    combined = upper_limit(
        model, ws.data(model), budget_s=math.inf
    )  # the choice, not this machine's speed
    assert combined.method == "exact" and "count vectors summed exactly" in combined.method_reason
    ref = ps["patches"][index]["metadata"]["reference_coupling"]
    for name in ("na64e-invisible-2016-2022", "na64mu-2022"):
        exp = _shipped(name)
        single_ws = _patched(*exp, index)
        single_model = single_ws.model()
        single = upper_limit(single_model, single_ws.data(single_model))
        meta = exp[1]["patches"][index]["metadata"]
        beam = "muon" if meta["setup"].startswith("na64mu") else "electron"
        scale = (
            yield_conversion(meta["signal_model"], "lmutau", beam, meta["mass_gev"])
            * (ref / meta["reference_coupling"]) ** 2
        )
        assert single.method == "exact"
        assert combined.observed - 3 * combined.observed_error <= single.observed / scale
