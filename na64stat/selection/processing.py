"""Run a selection over ROOT files: cutflows, N-1 tables, region yields, histograms.

The public entry of the selection stage. :func:`run_selection` plans the work
(:mod:`~na64stat.selection.planning`: one task per sample, file and entry
range aligned to the file's baskets), takes what it can from the task cache
(:mod:`~na64stat.selection.cache`), runs the rest
(:mod:`~na64stat.selection.executor`: in this process, or on a local Dask
pool / a given scheduler) through the per-chunk kernel
(:mod:`~na64stat.selection.kernel`), and merges the tasks' results in task
order, so every way of running gives the same
:class:`~na64stat.selection.records.SelectionRun`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from na64stat.core.errors import InputError
from na64stat.selection.cache import (
    check_cache_dir,
    load_plan,
    load_result,
    plan_key,
    store_plan,
    store_result,
    task_key,
)
from na64stat.selection.config import Selection
from na64stat.selection.executor import FileOutcome, run_jobs
from na64stat.selection.kernel import DEFAULT_CHUNK
from na64stat.selection.planning import DEFAULT_STEP, FileJob, Task
from na64stat.selection.records import SampleResult, SelectionRun

__all__ = ["run_selection"]

#: Results known per (sample, resolved file path): the file's tasks with their results, in entry
#: order.
_Known = dict[tuple[str, str], list[tuple[Task, SampleResult]]]


def run_selection(
    selection: Selection,
    samples: Mapping[str, Sequence[str]],
    *,
    data_samples: Sequence[str] = (),
    unblind: bool = False,
    step: int = DEFAULT_STEP,
    chunk: int = DEFAULT_CHUNK,
    cache_dir: str | os.PathLike[str] | None = None,
    scheduler: str | None = None,
    n_workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SelectionRun:
    """Run ``selection`` over ``samples`` (name -> file paths).

    Parameters
    ----------
    selection : Selection
        A parsed selection file (:func:`na64stat.selection.config.load_selection`):
        tree, definitions, ordered cuts, regions, histograms.
    samples : mapping of str to sequence of str
        Sample name -> ROOT file paths (:func:`na64stat.selection.inputs.resolve_samples`
        expands globs).
    data_samples : sequence of str, optional
        Samples that are data (also those marked ``data: true`` in the
        selection): unweighted unless overridden, blinded regions not filled.
    unblind : bool, optional
        Fill blinded regions for data too.
    step : int, optional
        Entries per task.
    chunk : int, optional
        Entries per read (memory is bounded by it).
    cache_dir : str or os.PathLike, optional
        Folder of the task cache (``None``: no cache).
    scheduler : str, optional
        Dask scheduler address (e.g. ``tcp://host:8786``).
    n_workers : int, optional
        A local Dask cluster of this many processes when above 1; default:
        in this process.
    progress : callable, optional
        Called with the number of entries of each finished task.

    Returns
    -------
    SelectionRun
        One merged result per sample, and how many tasks came from the cache.
    """
    is_data = {s: selection.is_data(s, data_samples) for s in samples}
    cache = Path(cache_dir) if cache_dir is not None else None
    check_cache_dir(cache)
    jobs, known = _look_up_cache(selection, samples, is_data, unblind, step, cache, progress)
    outcomes = run_jobs(
        selection,
        jobs,
        unblind=unblind,
        step=step,
        chunk=chunk,
        progress=progress,
        scheduler=scheduler,
        n_workers=n_workers,
    )
    read = _collect(selection, jobs, outcomes, unblind, step, cache, known)
    ordered = [
        pair
        for sample, files in samples.items()
        for path in files
        for pair in known[(sample, os.path.abspath(path))]
    ]
    merged = {
        sample: _merge(selection, sample, is_data[sample], unblind, ordered) for sample in samples
    }
    n_computed = sum(len(done) for _, done in outcomes)
    return SelectionRun(
        selection,
        merged,
        len(ordered),
        len(ordered) - n_computed,
        read,
        {s: list(f) for s, f in samples.items()},
    )


def _cached_file(
    selection: Selection,
    sample: str,
    path: str,
    is_data: bool,
    unblind: bool,
    tasks: Sequence[Task],
    cache: Path,
) -> dict[tuple[int, int], SampleResult]:
    """The cached results of a file's planned tasks, keyed by entry range (missing ones left
    out).
    """
    cached: dict[tuple[int, int], SampleResult] = {}
    for t in tasks:
        r = load_result(
            cache, task_key(selection, t, is_data, unblind), selection, sample, is_data, unblind
        )
        if r is not None:
            cached[t.range] = r
    return cached


def _look_up_cache(
    selection: Selection,
    samples: Mapping[str, Sequence[str]],
    is_data: Mapping[str, bool],
    unblind: bool,
    step: int,
    cache: Path | None,
    progress: Callable[[int], None] | None,
) -> tuple[list[FileJob], _Known]:
    """Files still to process (with their cached ranges) and the fully cached files' results.

    A file whose split and every range are cached is not opened at all.
    """
    jobs: list[FileJob] = []
    known: _Known = {}
    for sample, files in samples.items():
        branches = tuple(selection.branches_for(sample, is_data[sample]))
        for path in files:
            full = os.path.abspath(path)
            planned = (
                load_plan(cache, plan_key(path, selection.tree, branches, step)) if cache else None
            )
            tasks = [t for t in planned if t.sample == sample and t.path == full] if planned else []
            cached = (
                _cached_file(selection, sample, full, is_data[sample], unblind, tasks, cache)
                if cache
                else {}
            )
            if tasks and len(cached) == len(tasks):
                known[(sample, full)] = [(t, cached[t.range]) for t in tasks]
                if progress:
                    progress(sum(t.n_entries for t in tasks))
                continue
            jobs.append(FileJob(sample, full, is_data[sample], branches, frozenset(cached)))
    return jobs, known


def _collect(
    selection: Selection,
    jobs: Sequence[FileJob],
    outcomes: Sequence[FileOutcome],
    unblind: bool,
    step: int,
    cache: Path | None,
    known: _Known,
) -> int:
    """Put the executed jobs' results into ``known`` (computed ones stored in the cache, skipped
    ones read from it); returns the entries read.
    """
    read = 0
    for job, (file_tasks, done) in zip(jobs, outcomes):
        store_plan(cache, plan_key(job.path, selection.tree, job.branches, step), file_tasks)
        for task in file_tasks:
            key = task_key(selection, task, job.is_data, unblind)
            result = done.get(task.range)
            if result is None:
                result = load_result(cache, key, selection, task.sample, job.is_data, unblind)
            else:
                store_result(cache, key, result)
                read += result.entries_read
            if result is None:  # pragma: no cover - cache entry vanished meanwhile
                raise InputError(
                    f"{task.path}: cached result of entries {task.entry_start}-{task.entry_stop} "
                    "disappeared"
                )
            known.setdefault((job.sample, job.path), []).append((task, result))
    return read


def _merge(
    selection: Selection,
    sample: str,
    is_data: bool,
    unblind: bool,
    ordered: Sequence[tuple[Task, SampleResult]],
) -> SampleResult:
    """One sample's result: its tasks' results added in task order."""
    total = SampleResult.empty(selection, sample, is_data, unblind)
    for task, result in ordered:
        if task.sample == sample:
            total = total.merge(result)
    return total
