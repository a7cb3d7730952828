"""Every script in examples/ runs as shipped (each in a few seconds) and prints what its docstring
promises.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

EXAMPLES = sorted((REPO / "examples").glob("*.py"))
#: A line each script's output must contain (what it computes).
EXPECTED = {
    "reach_table.py": "/ published",
    "limit_from_shipped_workspace.py": "epsilon <",
    "toy_workspace_limit.py": "asymptotic: mu <",
}


def test_every_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(EXPECTED)


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "arning" not in result.stderr, result.stderr
    assert EXPECTED[script.name] in result.stdout, result.stdout
    assert not list(tmp_path.iterdir()), "an example wrote files into the working directory"
