"""Dask clients for scale-out: a local cluster, a given scheduler, or none.

Both the mass scans and the selections run their tasks through
:func:`dask_client`, so the choice of where to compute is made in one place.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["dask_client", "compute_in_processes", "compute_on_scheduler"]

Call = tuple[Callable[..., Any], tuple[Any, ...]]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2) -> Iterator[Any]:
    """A ``dask.distributed.Client``: on ``scheduler`` if given, else a local cluster.

    The local cluster has ``n_workers`` single-threaded worker processes (the
    work is numpy / decompression bound, so processes scale past the GIL) and
    no dashboard. Everything is closed on exit.

    Its workers are started without Dask's default ``MALLOC_TRIM_THRESHOLD_``
    (setting it turns off glibc's adaptive mmap threshold, so every large
    numpy temporary is mmapped and page-faulted afresh) and without the
    statistical profiler: on the selection benchmark this cut the CPU time
    per task from 3.3 s to 2.5 s (single process: 2.3 s).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    with _quiet_dask_logs():
        if scheduler is None:
            environ = {
                k: v
                for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                if k != "MALLOC_TRIM_THRESHOLD_"
            }
            with dask.config.set(
                {
                    "distributed.nanny.pre-spawn-environ": environ,
                    "distributed.worker.profile.enabled": False,
                }
            ):
                # The scheduler always serves HTTP (health checks) even without a dashboard, by
                # default
                # on port 8787 with a "Port 8787 is already in use" warning when something holds it:
                # a free port on the loopback interface instead, and no dashboard.
                cluster = LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                )
            client = Client(cluster)
            # a failing task is re-raised here with its own message: the workers' own log lines
            # about it ("Compute Failed", cancelled siblings) would only repeat it as noise
            client.run(_quiet_worker_logs)
        else:
            client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


#: Loggers of Dask / Tornado silenced while a local cluster runs (their errors reach us as
#: exceptions).
_DASK_LOGGERS = (
    "distributed",
    "distributed.worker",
    "distributed.worker.state_machine",
    "distributed.nanny",
    "distributed.scheduler",
    "distributed.core",
    "distributed.client",
    "distributed.comm",
    "distributed.batched",
    "tornado",
    "tornado.application",
)


def _quiet_worker_logs() -> None:
    """Run on each local worker: only critical Dask log records."""
    for name in _DASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Only critical Dask log records in this process while the block runs (levels restored
    after).
    """
    loggers = [logging.getLogger(name) for name in _DASK_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class _Bound:
    """``function(*args)`` as one opaque callable, so Dask does not walk the
    arguments looking for collections (0.5 s for 125 selection tasks).
    """

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function, self.args = function, args

    def __call__(self) -> Any:
        return self.function(*self.args)


def compute_in_processes(
    calls: Sequence[Call], n_workers: int, done: Callable[[int, Any], None]
) -> None:
    """Run ``f(*args)`` for every call on Dask's local multi-process scheduler; ``done(i, result)``
    as each ends.

    For many short I/O + numpy tasks (selections) this pool-based scheduler
    scales better on a small machine than a ``LocalCluster``, whose
    scheduler, nannies and worker event loops share the same cores: on the
    selection benchmark (125 files, 10M events, 2 cores) a ``LocalCluster``
    of 2 workers reached 1.05x a single process including its start-up and
    1.4x without it, this scheduler 1.7x. Processes are forked where fork is
    the platform's default (Linux), else spawned.
    """
    import dask
    from dask import delayed
    from dask.callbacks import Callback

    if not calls:
        return
    keys: dict[str, int] = {}
    items = []
    for i, (function, args) in enumerate(calls):
        item = delayed(_Bound(function, args), pure=False, traverse=False)(
            dask_key_name=f"na64stat-call-{i}"
        )
        keys[item.key] = i
        items.append(item)

    def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in keys:
            done(keys[key], result)

    context = "fork" if sys.platform.startswith("linux") else "spawn"
    with dask.config.set({"multiprocessing.context": context}), Callback(posttask=posttask):
        dask.compute(*items, scheduler="processes", num_workers=n_workers)


def compute_on_scheduler(
    calls: Sequence[Call], scheduler: str, done: Callable[[int, Any], None]
) -> None:
    """Run the calls on the Dask cluster at ``scheduler``; ``done(i, result)`` as each ends."""
    from dask.distributed import as_completed

    with dask_client(scheduler) as client:
        futures = {
            client.submit(function, *args, pure=False): i
            for i, (function, args) in enumerate(calls)
        }
        for future in as_completed(futures):
            done(futures[future], future.result())
