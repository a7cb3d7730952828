"""Every verb that writes takes a relative and an absolute ``--out`` (relative: against the working
directory).

The working directory of each call is an empty folder: a relative ``--out``
must land there and nothing else may appear in it; an absolute one must
leave it empty. Inputs are small and made once per module.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from na64stat.app.cli import main

SMALL_RUN = [
    "--masses",
    "0.01,0.1",
    "--mc-events",
    "2000",
    "--n-eot",
    "1e7",
    "--n-toys",
    "100",
    "--workers",
    "1",
]


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


@pytest.fixture(scope="module")
def absolute_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(cwd, out, stdout) of a small main job with an absolute --out, run from an empty working
    directory:
    test_run's absolute case, and the inputs of the other verbs.
    """
    base = tmp_path_factory.mktemp("inputs")
    cwd, out = base / "cwd", base / "job"
    cwd.mkdir()
    previous, stdout = os.getcwd(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as info:
            main(["run", "--out", str(out), *SMALL_RUN])
            raise SystemExit(0)
    finally:
        os.chdir(previous)
    assert (info.value.code or 0) == 0
    return cwd, out, stdout.getvalue()


@pytest.fixture(scope="module")
def inputs(absolute_run: tuple[Path, Path, str]) -> Path:
    """The small main job's folder: events, selection, workspace, limits, couplings to feed the
    verbs.
    """
    return absolute_run[1]


@pytest.fixture(params=["relative", "absolute"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(cwd, out): out is ``sub/out`` under the working directory, or an absolute folder
    elsewhere.
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    if request.param == "relative":
        return cwd, Path("sub") / "out", cwd / "sub" / "out"
    return cwd, tmp_path / "elsewhere" / "out", tmp_path / "elsewhere" / "out"


def _only(cwd: Path, out_arg: Path) -> None:
    """Nothing in the working directory but the relative output (or nothing at all for an absolute
    one).
    """
    expected = [] if out_arg.is_absolute() else [out_arg.parts[0]]
    assert sorted(p.name for p in cwd.iterdir()) == expected


def _check_run(cwd: Path, out_arg: Path, out: Path, stdout: str) -> None:
    from na64stat.app.pipeline import main_job_outputs

    assert stdout.splitlines()[0].split()[:2] == ["mass", "[GeV]"]
    assert [p for p in main_job_outputs(out) if not p.exists()] == []
    assert (out / "physics_summary.json").exists()
    _only(cwd, out_arg)


def test_run_relative(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out_arg = Path("sub") / "out"
    code, stdout, _ = run_cli(capsys, "run", "--out", out_arg, *SMALL_RUN)
    assert code == 0
    _check_run(cwd, out_arg, cwd / out_arg, stdout)


def test_run_absolute(absolute_run: tuple[Path, Path, str]) -> None:
    cwd, out, stdout = absolute_run
    _check_run(cwd, out, out, stdout)


def test_simulate(capsys, where) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(
        capsys,
        "simulate",
        "--out",
        out_arg,
        "--process",
        "hadron",
        "--n-events",
        "500",
        "--n-eot",
        "1e6",
    )
    assert (
        code == 0
        and (out / "mc" / "hadron.root").exists()
        and list((out / "data").glob("run*.root"))
    )
    _only(cwd, out_arg)


def test_select(capsys, where, inputs: Path) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(
        capsys,
        "select",
        "na64e-invisible",
        "--input-dir",
        inputs / "events" / "na64e-invisible",
        "--out",
        out_arg,
    )
    assert code == 0 and (out / "cutflow.json").exists() and (out / "histograms.root").exists()
    assert (out / ".cache").is_dir()
    _only(cwd, out_arg)


def test_workspace_build(capsys, where, tmp_path: Path) -> None:
    """Also a relative config path: the config's own relative inputs resolve against its folder."""
    cwd, out_arg, out = where
    shutil.copytree(REPO / "workspaces" / "na64e-invisible-simulated", cwd / "ws")
    code, _, _ = run_cli(capsys, "workspace", "build", Path("ws") / "config.yaml", "--out", out_arg)
    assert code == 0 and (out / "bkgonly.json").exists() and (out / "patchset.json").exists()
    shutil.rmtree(cwd / "ws")
    _only(cwd, out_arg)


def test_limits(capsys, where, inputs: Path) -> None:
    cwd, out_arg, out = where
    ws = inputs / "workspace"
    code, stdout, _ = run_cli(
        capsys,
        "limits",
        ws / "bkgonly.json",
        ws / "patchset.json",
        "--n-toys",
        "100",
        "--workers",
        "1",
        "--out",
        out_arg,
    )
    assert code == 0 and "0.01" in stdout
    assert (
        (out / "limits.json").exists()
        and (out / "limits.csv").exists()
        and len(list((out / "points").iterdir())) == 2
    )
    _only(cwd, out_arg)


def test_recast(capsys, where, inputs: Path) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(
        capsys, "recast", inputs / "limits" / "limits.json", "--out", out_arg / "couplings.json"
    )
    assert code == 0 and sorted(json.loads((out / "couplings.json").read_text())["points"]) == [
        "0.01",
        "0.1",
    ]
    _only(cwd, out_arg)


def test_hepdata(capsys, where, inputs: Path) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(capsys, "hepdata", inputs / "couplings.json", "--out", out_arg / "hepdata")
    assert code == 0 and (out / "hepdata" / "submission.yaml").exists()
    assert sorted(p.name for p in out.iterdir()) == ["hepdata"]  # no scratch folder left beside it
    _only(cwd, out_arg)


def test_reach_json(capsys, where) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(capsys, "reach", "--masses", "0.01", "--json", out_arg / "reach.json")
    assert code == 0 and json.loads((out / "reach.json").read_text())["mass_gev"] == [0.01]
    _only(cwd, out_arg)


def test_reproduce(capsys, where) -> None:
    cwd, out_arg, out = where
    code, _, _ = run_cli(capsys, "reproduce", "fig3", "--out", out_arg)
    assert code == 0 and (out / "fig3.json").exists()
    code, _, _ = run_cli(
        capsys,
        "reproduce",
        "na64mu-2022",
        "--masses",
        "0.01",
        "--n-toys",
        "100",
        "--workers",
        "1",
        "--out",
        out_arg,
    )
    assert code == 0 and list(json.loads((out / "na64mu-2022.json").read_text())["points"]) == [
        "0.01"
    ]
    _only(cwd, out_arg)
