"""Wall time of the default test suite: in one process (``-n 0``) and on every core (the default,
``-n auto``).

Runs ``python -m pytest -q -p no:cacheprovider`` twice in subprocesses from the
repository root and prints the seconds of each and their ratio::

    PYTHONPATH=. .venv/bin/python benchmarks/time_test_suite.py
    PYTHONPATH=. .venv/bin/python benchmarks/time_test_suite.py --parallel-only

Both runs see the same machine; on a shared one the ratio is the number to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(extra: list[str]) -> tuple[float, str]:
    """(wall seconds, pytest's last line) of the default suite with ``extra`` options."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = done.stdout.strip().splitlines() or [""]
    for line in lines:  # a failing test is named, and the run is still timed
        if line.startswith(("FAILED", "ERROR")):
            print(f"    {line}", flush=True)
    return wall, lines[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel-only", action="store_true", help="skip the one-process run")
    args = parser.parse_args()
    print(f"default test suite on {os.cpu_count()} CPUs", flush=True)
    parallel, line = run([])
    print(f"  -n auto (the default): {parallel:6.1f} s  ({line})", flush=True)
    if not args.parallel_only:
        serial, line = run(["-n", "0"])
        print(f"  -n 0 (one process):    {serial:6.1f} s  ({line})", flush=True)
        print(f"parallel / one process = {parallel / serial:.2f}")


if __name__ == "__main__":
    main()
