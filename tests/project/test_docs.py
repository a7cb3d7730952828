"""The documentation's code runs as printed: every command and Python block of docs/tutorial.rst, in
order, in an
empty folder (slow: it simulates, selects, builds a workspace and computes limits, about 30 s).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

TUTORIAL = REPO / "docs" / "tutorial.rst"
DIRECTIVE = re.compile(r"^\.\. code-block:: (\w+)\s*$")


def code_blocks(path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """``(language, text, options)`` of each ``.. code-block::`` of an RST file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        options = {}
        while i < len(lines) and re.match(r"^   :(\w+):(.*)$", lines[i]):
            key, value = re.match(r"^   :(\w+):(.*)$", lines[i]).groups()
            options[key] = value.strip()
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith("   ")):
            body.append(lines[i][3:])
            i += 1
        blocks.append((match.group(1), "\n".join(body).strip("\n") + "\n", options))
    return blocks


def test_the_tutorial_has_every_stage() -> None:
    blocks = code_blocks(TUTORIAL)
    commands = [line for lang, text, _ in blocks if lang == "console" for line in text.splitlines()]
    verbs = [shlex.split(line[2:])[1] for line in commands if line.startswith("$ ")]
    assert verbs[:4] == ["reach", "simulate", "select", "workspace"]
    assert {"limits", "recast", "hepdata"} <= set(verbs)
    assert sum(lang == "python" for lang, _, _ in blocks) >= 4


@pytest.mark.slow
def test_tutorial_runs_as_printed(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    namespace: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for language, text, options in code_blocks(TUTORIAL):
            if language == "yaml":
                Path(options["caption"]).write_text(text, encoding="utf-8")
            elif language == "console":
                for line in text.splitlines():
                    if not line.startswith("$ "):
                        continue
                    args = shlex.split(line[2:])
                    assert args[0] == "na64stat", line
                    result = subprocess.run(
                        [sys.executable, "-m", "na64stat", *args[1:]],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=300,
                        check=False,
                    )
                    assert result.returncode == 0, (
                        f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
                    )
                    assert "Traceback" not in result.stderr and "arning" not in result.stderr, (
                        result.stderr
                    )
            elif language == "python":
                exec(compile(text, f"{TUTORIAL.name} python block", "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert (tmp_path / "couplings.json").exists() and (
        tmp_path / "hepdata" / "submission.yaml"
    ).exists()
