"""Diagnostics go through the ``na64stat`` logger, whose level ``-v`` / ``-q`` set; plotting leaves
matplotlib's backend alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from na64stat.app import cli as cli_module
from na64stat.app.cli import log_level, main
from na64stat.core import progress
from na64stat.core.progress import Progress, logger

REACH = ["reach", "--setup", "na64e-invisible", "--masses", "0.01"]


@pytest.fixture(autouse=True)
def _restore_level():
    level = logger.level
    yield
    logger.setLevel(level)


def test_levels_step_once_per_flag() -> None:
    assert [log_level(verbose=v) for v in (0, 1, 2)] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert [log_level(quiet=q) for q in (1, 2, 3)] == [
        logging.WARNING,
        logging.ERROR,
        logging.ERROR,
    ]
    assert log_level(verbose=1, quiet=1) == logging.INFO


def test_quiet_keeps_results_and_drops_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    main([*REACH, "--json", str(tmp_path / "a.json")])
    loud = capsys.readouterr()
    assert f"wrote {tmp_path / 'a.json'}" in loud.err  # the file written: an INFO record on stderr

    main(["-q", *REACH, "--json", str(tmp_path / "b.json")])
    quiet = capsys.readouterr()
    assert (tmp_path / "b.json").exists()
    assert quiet.err == "", quiet.err
    assert quiet.out == loud.out  # the result on stdout is the same


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        (["-v"], logging.DEBUG),
        (["--verbose"], logging.DEBUG),
        (["-qq"], logging.ERROR),
        (["--quiet"], logging.WARNING),
    ],
)
def test_flags_set_the_package_logger(
    flags: list[str], level: int, capsys: pytest.CaptureFixture[str]
) -> None:
    main([*flags, "setups"])
    assert logger.getEffectiveLevel() == level
    assert "na64e-invisible" in capsys.readouterr().out


def test_verbose_shows_debug_records(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = cli_module.setups.callback

    def noisy() -> None:
        logger.debug("a debug record")
        original()

    monkeypatch.setattr(cli_module.setups, "callback", noisy)
    main(["setups"])
    assert "a debug record" not in capsys.readouterr().err
    main(["-v", "setups"])
    assert "a debug record" in capsys.readouterr().err


def test_no_progress_bar_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_is_terminal", lambda stream: True)
    logger.setLevel(logging.WARNING)
    with Progress(10, "quiet") as bar:
        assert bar._bar is None
    logger.setLevel(logging.INFO)
    with Progress(10, "loud") as bar:
        assert bar._bar is not None


def test_importing_and_using_plotting_keeps_the_backend(tmp_path: Path) -> None:
    """A notebook's backend stays: plotting neither calls ``matplotlib.use`` nor leaves pyplot
    figures open.
    """
    code = (
        "import matplotlib\n"
        "before = matplotlib.get_backend()\n"
        "from na64stat.results import plotting\n"
        "plotting.cls_scan_plot([0, 1, 2], [1, 0.3, 0.05], {'median': [1, 0.2, 0.02]}, 'scan')\n"
        "import matplotlib.pyplot as plt\n"
        "print(before, matplotlib.get_backend(), len(plt.get_fignums()))\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "svg", "0"]
    assert (tmp_path / "scan.png").stat().st_size > 0 and (tmp_path / "scan.pdf").stat().st_size > 0
