"""The wheel works on its own: built from the sources, installed into a fresh environment outside
the checkout, it runs a small main job, selects its events by the packaged selection's name, and
reproduces
a figure from a shipped workspace (package data read through importlib.resources).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    "na64stat-output",
)


def _run(
    args: list, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{args}: exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    # build from a copy of the sources (no stale build/ folder of the checkout can leak into the
    # wheel)
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=IGNORE)
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w", wheels],
        tmp_path,
        env,
    )
    (wheel,) = wheels.glob("na64stat-*.whl")

    # a fresh environment with the wheel; its dependencies come from this test's environment through
    # a
    # .pth file, written after the install (pip would otherwise find this environment's na64stat and
    # skip)
    fresh = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", fresh], tmp_path, env)
    python = fresh / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], tmp_path, env)
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env
    ).stdout
    Path(purelib.strip(), "_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        [python, "-c", "import na64stat; print(na64stat.__file__)"], work, env
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(fresh.resolve()), where
    na64stat = fresh / "bin" / "na64stat"

    run = _run(
        [
            na64stat,
            "run",
            "--masses",
            "0.01,0.1",
            "--mc-events",
            "5000",
            "--n-toys",
            "200",
            "--n-eot",
            "2e7",
        ],
        work,
        env,
    )
    for stream in (run.stdout, run.stderr):
        assert "Traceback" not in stream and "arning" not in stream, stream
    assert run.stdout.splitlines()[0].split()[:2] == ["mass", "[GeV]"]
    out = work / "na64stat-output"
    for name in (
        "report.txt",
        "physics_summary.json",
        "limits/limits.json",
        "couplings.json",
        "hepdata/submission.yaml",
        "exclusion_epsilon.png",
        "selection/na64e-invisible/cutflow.json",
    ):
        assert (out / name).exists(), name
    select = _run(
        [na64stat, "select", "na64e-invisible"], work, env
    )  # a packaged selection, by name
    assert (
        "data (data):" in select.stdout and "pass all cuts" in select.stdout
    )  # the short summary line

    figure = _run(
        [
            na64stat,
            "reproduce",
            "na64e-invisible-2016-2018",
            "--masses",
            "0.01,0.1",
            "--n-toys",
            "200",
            "--workers",
            "1",
        ],
        work,
        env,
    )
    assert "Traceback" not in figure.stderr and "arning" not in figure.stderr, figure.stderr
    figures = out / "figures"
    assert (figures / "na64e-invisible-2016-2018.png").exists() and (
        figures / "na64e-invisible-2016-2018.json"
    ).exists()
    # the workspace configs' relative inputs resolve inside the installed package
    built = _run(
        [
            na64stat,
            "workspace",
            "build",
            Path(where).parent / "workspaces" / "na64e-invisible-simulated" / "config.yaml",
            "--out",
            work / "ws",
        ],
        work,
        env,
    )
    assert "signal patches" in built.stdout and (work / "ws" / "patchset.json").exists()


@pytest.mark.slow
def test_wheel_ships_the_typing_marker(tmp_path: Path) -> None:
    """PEP 561: the wheel carries ``na64stat/py.typed``, so type checkers read na64stat's
    annotations.
    """
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=IGNORE)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            source,
            "-w",
            tmp_path / "wheels",
        ],
        tmp_path,
        env,
    )
    (wheel,) = (tmp_path / "wheels").glob("na64stat-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "na64stat/py.typed" in names, sorted(n for n in names if n.count("/") == 1)
