"""Where the tasks of a selection run: in this process, on Dask's local processes, or on a Dask
cluster.

Every executor takes the run's :class:`~na64stat.selection.planning.FileJob` s
and gives, per job, the file's tasks and the results it computed (keyed by
entry range), in job order, so the merged result is the same whichever runs
it. The Dask helpers themselves are in :mod:`na64stat.core.distributed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from na64stat.selection.config import Selection
from na64stat.selection.kernel import run_file, run_task
from na64stat.selection.planning import FileJob, Task, plan_tasks
from na64stat.selection.records import SampleResult

__all__ = ["FileOutcome", "run_jobs", "run_serial", "run_dask"]

#: A file's tasks and the results computed for them, keyed by (entry_start, entry_stop).
FileOutcome = tuple[list[Task], dict[tuple[int, int], SampleResult]]
#: A call for an executor: (function, arguments), its job's index and its range task (None: the
#: whole file).
_Call = tuple[Callable[..., Any], tuple[Any, ...], int, "Task | None"]


def run_serial(
    selection: Selection,
    jobs: Sequence[FileJob],
    unblind: bool,
    step: int,
    chunk: int,
    progress: Callable[[int], None] | None,
) -> list[FileOutcome]:
    """Run the jobs one after the other in this process; ``progress(entries)`` after each file."""
    outcomes: list[FileOutcome] = []
    for job in jobs:
        outcomes.append(run_file(selection, job, unblind, step, chunk))
        if progress:
            progress(sum(t.n_entries for t in outcomes[-1][0]))
    return outcomes


def _calls(
    selection: Selection,
    jobs: Sequence[FileJob],
    unblind: bool,
    step: int,
    chunk: int,
    per_file: bool,
    outcomes: list[FileOutcome],
) -> list[_Call]:
    """One call per file (``per_file``), else one per entry range still to compute.

    Splitting a file here records its tasks in ``outcomes`` (their results come later).
    """
    if per_file:
        return [
            (run_file, (selection, job, unblind, step, chunk), k, None)
            for k, job in enumerate(jobs)
        ]
    calls: list[_Call] = []
    for k, job in enumerate(jobs):  # few (large) files: split them here and spread the entry ranges
        tasks = plan_tasks(
            selection, {job.sample: [job.path]}, step, [job.sample] if job.is_data else []
        )
        outcomes[k] = (tasks, {})
        calls += [
            (run_task, (selection, t, job.is_data, unblind, chunk), k, t)
            for t in tasks
            if t.range not in job.skip
        ]
    return calls


def run_dask(
    selection: Selection,
    jobs: Sequence[FileJob],
    unblind: bool,
    step: int,
    chunk: int,
    progress: Callable[[int], None] | None,
    scheduler: str | None,
    n_workers: int,
) -> list[FileOutcome]:
    """Run the jobs with Dask: one call per file when there are enough files, else one per entry
    range.

    ``scheduler`` given: on that Dask cluster. Otherwise Dask's local
    multi-process scheduler with ``n_workers`` processes (see
    :func:`na64stat.core.distributed.compute_in_processes` for why not a
    ``LocalCluster``). Results are put back in task order, so the merged
    result equals the single-process one.
    """
    if not jobs:
        return []
    from na64stat.core.distributed import compute_in_processes, compute_on_scheduler

    outcomes: list[FileOutcome] = [([], {}) for _ in jobs]
    per_file = len(jobs) >= 2 * n_workers or (scheduler is not None and len(jobs) >= 2)
    calls = _calls(selection, jobs, unblind, step, chunk, per_file, outcomes)

    def done(i: int, value: Any) -> None:
        _, _, k, task = calls[i]
        if task is None:
            outcomes[k] = value
            entries = sum(t.n_entries for t in value[0])
        else:
            outcomes[k][1][task.range] = value
            entries = task.n_entries
        if progress:
            progress(entries)

    plain = [(function, args) for function, args, _, _ in calls]
    if scheduler is None:
        compute_in_processes(plain, n_workers, done)
    else:
        compute_on_scheduler(plain, scheduler, done)
    return outcomes


def run_jobs(
    selection: Selection,
    jobs: Sequence[FileJob],
    *,
    unblind: bool,
    step: int,
    chunk: int,
    progress: Callable[[int], None] | None,
    scheduler: str | None,
    n_workers: int,
) -> list[FileOutcome]:
    """Run the jobs in this process (no scheduler and ``n_workers <= 1``), else with Dask."""
    if scheduler is None and n_workers <= 1:
        return run_serial(selection, jobs, unblind, step, chunk, progress)
    return run_dask(selection, jobs, unblind, step, chunk, progress, scheduler, n_workers)
