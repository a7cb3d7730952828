"""The command line: help and version, the reach table, the main job, errors."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from na64stat import __version__
from na64stat.app.cli import main


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and __version__ in out


@pytest.mark.parametrize(
    "verb",
    [
        [],
        ["run"],
        ["reach"],
        ["setups"],
        ["limits"],
        ["recast"],
        ["simulate"],
        ["select"],
        ["workspace"],
        ["workspace", "build"],
        ["workspace", "inspect"],
        ["workspace", "validate"],
        ["hepdata"],
        ["reproduce"],
    ],
)
def test_help_on_every_verb(capsys, verb):
    code, out, _ = run_cli(capsys, *verb, "--help")
    assert code == 0 and "Usage:" in out
    if not verb:
        for name in (
            "simulate",
            "select",
            "workspace",
            "limits",
            "recast",
            "hepdata",
            "reproduce",
            "run",
        ):
            assert name in out


def test_command_line_loads_no_heavy_module():
    """``na64stat --help`` / ``--version`` stay fast: the command line imports numpy, scipy, pyhf or
    matplotlib
    only inside the verbs (benchmarks/bench_cli_startup.py times it).
    """
    code = (
        "import sys; import na64stat.app.cli; "
        "print(sorted(m for m in ('numpy', 'scipy', 'pyhf', 'matplotlib', 'awkward', 'uproot', "
        "'yaml') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_reach_offers_only_setups_it_accepts(capsys):
    code, out, _ = run_cli(capsys, "reach", "--help")
    assert code == 0 and "na64e-invisible" in out and "na64e-visible" not in out
    code, _, err = run_cli(capsys, "reach", "--setup", "na64e-visible")
    assert code == 2 and "na64e-visible" in err


def test_reach_prints_ratios_to_published_curve(capsys, tmp_path):
    target = tmp_path / "reach.json"
    code, out, _ = run_cli(
        capsys,
        "reach",
        "--setup",
        "na64e-invisible",
        "--masses",
        "0.001,0.01,0.1,1",
        "--json",
        str(target),
    )
    assert code == 0
    assert "na64e_invisible_2019" in out and "ours/ref" in out
    data = json.loads(target.read_text())
    assert data["mass_gev"] == [0.001, 0.01, 0.1, 1.0]
    ratios = data["comparisons"][0]["ratio"]
    assert all(
        0.5 < r < 1.4 for r in ratios
    )  # computed efficiency: 0.87 - 0.59 (tests/physics/test_yields.py)
    assert data["setup"]["exposure"] == 2.84e11


def test_reach_muon_shows_gm2_band(capsys):
    code, out, _ = run_cli(
        capsys, "reach", "--setup", "na64mu-invisible", "--masses", "0.001,0.01,0.1"
    )
    assert code == 0 and "gm2_lmutau_2sigma_lower" in out and "gm2_lmutau_2sigma_upper" in out


def test_reach_exposure_override(capsys, tmp_path):
    target = tmp_path / "r.json"
    run_cli(capsys, "reach", "--masses", "0.01", "--exposure", "2.84e13", "--json", str(target))
    big = json.loads(target.read_text())["epsilon"][0]
    run_cli(capsys, "reach", "--masses", "0.01", "--json", str(target))
    small = json.loads(target.read_text())["epsilon"][0]
    assert big == pytest.approx(small / 10, rel=1e-9)


def test_main_job_writes_summary(capsys, tmp_path, monkeypatch):
    """Default folder, results on stdout only, and the folder layout the other verbs read by
    default.
    """
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "na64stat-output"
    code, out, err = run_cli(
        capsys,
        "run",
        "--masses",
        "0.01,0.1",
        "--n-eot",
        "2e7",
        "--mc-events",
        "4000",
        "--n-toys",
        "300",
        "--workers",
        "1",
    )
    assert code == 0
    lines = out.splitlines()
    assert (
        lines[0].split() == ["mass", "[GeV]", "eps", "observed", "eps", "expected"]
        and len(lines) == 3
    )
    assert (
        "simulated MC" in err
        and "limits [2/2] m = " in err
        and "wrote " in err
        and "Warning" not in err
    )
    assert (
        "--n-toys 300 had no effect: every limit used exact (no toys)" in err
    )  # said, not silently ignored
    data = json.loads((out_dir / "physics_summary.json").read_text())
    assert [s["setup"]["name"] for s in data["summaries"]] == [
        "na64e-invisible",
        "na64mu-invisible",
    ]
    report = (out_dir / "report.txt").read_text()
    assert (
        report.startswith("na64stat") and "setup na64e-invisible" in report and "limits" in report
    )
    from na64stat.app.pipeline import main_job_outputs

    for path in main_job_outputs(out_dir):
        assert path.exists(), path
    limits = json.loads((out_dir / "limits" / "limits.json").read_text())["limits"]
    assert sorted(float(k) for k in limits) == [0.01, 0.1]
    # the README's follow-on command finds the events with its defaults (a packaged selection's name
    # works too);
    # blinded, it writes beside the main job's unblinded selection, never over it
    unblinded = (out_dir / "selection" / "na64e-invisible" / "cutflow.json").read_bytes()
    for selection in ("na64e-invisible", str(REPO / "selections" / "na64e-invisible.yaml")):
        code, out, err = run_cli(capsys, "select", selection)
        assert code == 0 and "data (data):" in out and "signal blinded" in out, err
        assert len(out.splitlines()) < 30, (
            out
        )  # one line per sample; the full cutflow is in cutflow.txt
    assert (out_dir / "selection" / "na64e-invisible" / "cutflow.json").read_bytes() == unblinded
    assert (out_dir / "selection" / "na64e-invisible-blinded" / ".cache").is_dir()


def test_select_without_events_names_the_folder_it_searched(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "select", "na64e-invisible")
    assert code == 1 and str(tmp_path / "na64stat-output" / "events" / "na64e-invisible") in err
    code, _, err = run_cli(capsys, "select", "na64e-invisible", "--input-dir", ".")
    assert code == 1 and str(tmp_path / "data" / "*.root") in err
    code, _, err = run_cli(capsys, "select", "no-such-selection")
    assert code == 1 and "packaged: na64e-invisible" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reach", "--masses", "abc"], "--masses must be comma-separated numbers"),
        (["reach", "--masses", "-1"], "--masses needs positive masses"),
        (["reach", "--masses", "0.0001"], "mass 0.0001 GeV"),
        (["reach", "--efficiency", "2"], "efficiency must be in (0, 1]"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(capsys, tmp_path, args, message):
    target = tmp_path / "never.json"
    code, _out, err = run_cli(capsys, *args, "--json", str(target))
    assert code == 1
    assert message in err and err.count("\n") == 1 and err.startswith("na64stat: error:")
    assert not target.exists()


def test_unknown_setup_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "reach", "--setup", "nope")
    assert code == 2 and "nope" in err


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "na64stat", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_workspace_inspect_prints_each_patch_signal_yields(capsys):
    """Patches that replace the signal sample (as na64stat writes them) show their yields, not
    [].
    """
    folder = REPO / "workspaces" / "na64e-invisible-2016-2018"
    code, out, _ = run_cli(
        capsys, "workspace", "inspect", str(folder / "bkgonly.json"), str(folder / "patchset.json")
    )
    assert code == 0 and "signal []" not in out
    line = next(row for row in out.splitlines() if row.strip().startswith("m0p01 "))
    patch = json.loads((folder / "patchset.json").read_text())["patches"]
    value = next(p for p in patch if p["metadata"]["name"] == "m0p01")["patch"][0]["value"]["data"][
        0
    ]
    assert f"signal [[{float(f'{value:.4g}')}]]" in line


def test_simulate_and_reach_units(capsys, tmp_path):
    """EOT for electron beams, MOT for muon beams; reach tables in GeV like every other output."""
    code, out, _ = run_cli(
        capsys,
        "simulate",
        "--setup",
        "na64mu-invisible",
        "--process",
        "muon",
        "--n-events",
        "100",
        "--n-eot",
        "1e5",
        "--out",
        str(tmp_path / "mu"),
    )
    assert code == 0 and "MOT" in out and "POT" not in out and "EOT" not in out
    code, out, _ = run_cli(capsys, "reach", "--masses", "0.01")
    assert code == 0 and "m [GeV]" in out and "m [MeV]" not in out


def test_combine_and_recast_any_registered_model(capsys, tmp_path):
    """combine --model b_minus_l, limits, recast --model b_minus_l: the B - L coupling per mass."""
    ws = tmp_path / "bl"
    code, _, err = run_cli(
        capsys,
        "combine",
        str(REPO / "workspaces" / "na64e-invisible-2016-2022"),
        "--model",
        "b_minus_l",
        "--masses",
        "0.1",
        "--out",
        str(ws),
    )
    assert code == 0, err
    meta = json.loads((ws / "patchset.json").read_text())["patches"][0]["metadata"]
    assert meta["signal_model"] == "b_minus_l" and meta["coupling_name"] == "g_BL"
    code, _, err = run_cli(
        capsys,
        "limits",
        str(ws / "bkgonly.json"),
        str(ws / "patchset.json"),
        "--method",
        "exact",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "limits"),
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys,
        "recast",
        str(tmp_path / "limits" / "limits.json"),
        "--model",
        "b_minus_l",
        "--out",
        str(tmp_path / "couplings.json"),
    )
    assert code == 0, err
    section = json.loads((tmp_path / "couplings.json").read_text())["model"]
    (point,) = section["points"]
    limit = json.loads((tmp_path / "limits" / "limits.json").read_text())["limits"]["0.1"]
    expected = (limit["observed"] ** 0.5) * limit["metadata"]["reference_coupling"]
    assert section["coupling_name"] == "g_BL"
    assert point["observed"] == pytest.approx(expected, rel=1e-12)
    assert "g_BL (b_minus_l) <" in out


def test_combine_refuses_an_unregistered_model(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "combine",
        str(REPO / "workspaces" / "na64mu-2022"),
        "--model",
        "no_such_model",
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 2 and "no_such_model" in err


def test_combine_takes_a_model_from_the_yaml_of_na64stat_models(tmp_path):
    """A fresh process (the verb's choices are read once per process) with NA64STAT_MODELS set."""
    import os

    path = tmp_path / "models.yaml"
    path.write_text("- name: cli_lmu\n  coupling_name: g_mu\n  charges: {mu: 1, nu_mu: 1}\n")
    env = {**os.environ, "NA64STAT_MODELS": str(path), "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "na64stat",
        "combine",
        str(REPO / "workspaces" / "na64mu-2022"),
    ]
    command += ["--model", "cli_lmu", "--masses", "0.01", "--out", str(tmp_path / "ws")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    patchset = json.loads((tmp_path / "ws" / "patchset.json").read_text())
    assert patchset["patches"][0]["metadata"]["coupling_name"] == "g_mu"
