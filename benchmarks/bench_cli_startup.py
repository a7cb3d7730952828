"""Start-up time of the command line against a bare Python start, in the same run.

Each command is started as a fresh process (``subprocess``), ``--repeats``
times, interleaved so that a busy machine slows all of them alike:

* ``python -c pass``: the interpreter's own start (the floor);
* ``na64stat --version`` and ``na64stat --help``: the command line up to
  parsing, which must import no heavy module (numpy, scipy, pyhf,
  matplotlib load inside the verbs);
* ``python -c "import scipy.stats, pyhf"`` for scale: what one heavy import
  costs on this machine.

Prints the median seconds of each and its ratio to the bare start. The goal
(issue 24): ``--help`` and ``--version`` under 0.5 s.

Usage::

    python benchmarks/bench_cli_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: The goal for ``--help`` / ``--version`` [s].
GOAL_S = 0.5


def _na64stat() -> list[str]:
    """The installed ``na64stat`` script next to this interpreter, else ``python -m``-style
    start.
    """
    script = Path(sys.executable).with_name("na64stat")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from na64stat.app.cli import main; main()"]


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=7, help="runs of each command (median reported)"
    )
    args = parser.parse_args()

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "na64stat --version": [*_na64stat(), "--version"],
        "na64stat --help": [*_na64stat(), "--help"],
        "import scipy.stats, pyhf": [sys.executable, "-c", "import scipy.stats, pyhf"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # one warm-up each (page cache, .pyc files)
        _time(command)
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(_time(command))

    bare = statistics.median(times["python -c pass"])
    print(f"{'command':<28} {'median [s]':>10} {'min [s]':>8} {'/ bare':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>10.3f} {min(values):>8.3f} {median / bare:>8.1f}")
    worst = max(
        statistics.median(times["na64stat --version"]), statistics.median(times["na64stat --help"])
    )
    verdict = "meets" if worst < GOAL_S else "misses"
    print(
        f"slower of --help / --version: {worst:.3f} s, {verdict} the {GOAL_S} s goal "
        f"({args.repeats} runs each)"
    )


if __name__ == "__main__":
    main()
