"""Independent tasks in a few local processes, with progress messages from inside them.

The main job's stages are each a handful of independent, CPU-bound calls (one
simulated file, one limit scan, one figure). :func:`run_tasks` runs them in a
pool of ``n_workers`` local processes (forked where fork is the platform's
default, so nothing is imported again) and hands every result back in the
calling process as it comes (``done(i, result)``). A task reports progress with
:func:`post` (e.g. one message per simulated chunk or per limit point); the
messages reach ``message`` in the calling process while the tasks run. With
``n_workers`` 1 the calls run one after the other in this process, and
:func:`post` calls ``message`` directly, so the results are the same either
way.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import queue as queue_module
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["run_tasks", "post"]

Call = tuple[Callable[..., Any], tuple[Any, ...]]

#: Where :func:`post` sends a message: a queue to the calling process (in a worker) or the handler
#: itself.
_channel: Callable[[Any], None] | None = None


def post(message: Any) -> None:
    """Send ``message`` (picklable) from a running task to the ``message`` handler of
    :func:`run_tasks`.

    Outside :func:`run_tasks` it does nothing.
    """
    if _channel is not None:
        _channel(message)


def _worker_init(channel: Any) -> None:
    global _channel  # noqa: PLW0603 -- the worker process's one channel, set once when it starts
    _channel = channel.put


def run_tasks(
    calls: Sequence[Call],
    n_workers: int,
    done: Callable[[int, Any], None],
    message: Callable[[Any], None] | None = None,
) -> None:
    """Run ``f(*args)`` for every call; ``done(i, result)`` in this process as each ends.

    Parameters
    ----------
    calls : sequence of (callable, tuple)
        Module-level functions and their (picklable) arguments, started in
        this order.
    n_workers : int
        Local worker processes (1: one after the other in this process).
    done : callable
        Called with the call's index and its result, in the order they end.
    message : callable, optional
        Receives what the tasks :func:`post`, while they run.

    The first task that raises stops the others (those not started are
    cancelled) and its exception is raised here.
    """
    global _channel  # noqa: PLW0603 -- post() in this process reaches the handler while the calls run here
    handler = message or (lambda m: None)
    if n_workers <= 1 or len(calls) <= 1:
        previous, _channel = _channel, handler
        try:
            for i, (function, args) in enumerate(calls):
                done(i, function(*args))
        finally:
            _channel = previous
        return
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    channel = context.Queue()

    def drain() -> None:
        while True:
            try:
                handler(channel.get_nowait())
            except queue_module.Empty:
                return

    with concurrent.futures.ProcessPoolExecutor(
        min(n_workers, len(calls)),
        mp_context=context,
        initializer=_worker_init,
        initargs=(channel,),
    ) as pool:
        futures = {pool.submit(function, *args): i for i, (function, args) in enumerate(calls)}
        pending = set(futures)
        try:
            while pending:
                finished, pending = concurrent.futures.wait(
                    pending, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED
                )
                drain()
                for future in sorted(finished, key=futures.__getitem__):
                    done(futures[future], future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    # messages still in flight when the last task ended (the workers have exited: all are here)
    drain()
    channel.close()
