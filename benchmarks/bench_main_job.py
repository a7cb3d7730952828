"""Wall time of the main job (``na64stat run`` on its defaults) against a baseline run in the same
process.

Each repetition runs, in fresh subprocesses and alternating so both see the
same machine load:

- the main job as a user runs it: ``python -m na64stat run --out TMP``
  (start-up and imports included, ``--workers`` as given, default 2);
- the baseline: the same job in one process (``--workers 1``), i.e. every
  file, scan and figure one after the other, as the job ran before its
  stages were split into parallel tasks; or, with ``--baseline-src DIR``,
  the job from another checkout (e.g. a ``git worktree`` of an older
  commit), run with the same interpreter.

It prints the seconds of each run, the medians, their ratio, the CPU seconds
(the job and its worker processes) and the disk the job wrote, e.g.::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_main_job.py            # 1 repetition
    PYTHONPATH=. .venv/bin/python benchmarks/bench_main_job.py --repeat 3
    git worktree add /tmp/old HEAD~5 && \\
        PYTHONPATH=. .venv/bin/python benchmarks/bench_main_job.py --baseline-src /tmp/old

On a shared machine the wall times move with the load; the ratio, measured
in one run, is the number to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def disk_mb(folder: Path) -> float:
    """Megabytes [MB, 1e6 bytes] of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run_job(src: Path, workers: int | None, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the job and its children, MB written) of one ``na64stat
    run``.
    """
    with tempfile.TemporaryDirectory(prefix="na64stat-bench-") as tmp:
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "na64stat", "-q", "run", "--out", str(out), *extra]
        if workers is not None:
            command += ["--workers", str(workers)]
        env = {**os.environ, "PYTHONPATH": str(src)}
        before = os.times()
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = os.times()
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        return wall, cpu, disk_mb(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (medians are printed)")
    parser.add_argument(
        "--workers", type=int, default=None, help="workers of the timed job (default: the job's, 2)"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="run the baseline from this checkout (default: this one with --workers 1)",
    )
    parser.add_argument(
        "--masses", default=None, help="pass --masses to both jobs (default: the job's own 22+)"
    )
    args = parser.parse_args()
    extra = ["--masses", args.masses] if args.masses else []
    if args.baseline_src is not None:
        baseline = (
            f"the job from {args.baseline_src} (its defaults)",
            args.baseline_src.resolve(),
            args.workers,
        )
    else:
        baseline = ("the same job in one process (--workers 1)", ROOT, 1)
    print(f"na64stat main job on {os.cpu_count()} CPUs; baseline: {baseline[0]}", flush=True)
    job: list[tuple[float, float, float]] = []
    base: list[tuple[float, float, float]] = []
    for i in range(args.repeat):
        job.append(run_job(ROOT, args.workers, extra))
        print(
            f"  [{i + 1}] main job: {job[-1][0]:6.1f} s wall, {job[-1][1]:6.1f} s CPU, "
            f"{job[-1][2]:6.0f} MB written",
            flush=True,
        )
        base.append(run_job(baseline[1], baseline[2], extra))
        print(
            f"  [{i + 1}] baseline: {base[-1][0]:6.1f} s wall, {base[-1][1]:6.1f} s CPU, "
            f"{base[-1][2]:6.0f} MB written",
            flush=True,
        )
    t_job, t_base = statistics.median(r[0] for r in job), statistics.median(r[0] for r in base)
    print(
        f"main job: {t_job:.1f} s (median of {len(job)}), baseline: {t_base:.1f} s; "
        f"main job / baseline = {t_job / t_base:.2f}; "
        f"disk {statistics.median(r[2] for r in job):.0f} MB (baseline "
        f"{statistics.median(r[2] for r in base):.0f} MB)"
    )


if __name__ == "__main__":
    main()
