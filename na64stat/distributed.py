"""Dask clients for scale-out: a local cluster, a given scheduler, or none.

Both the mass scans and the selections run their tasks through
:func:`dask_client`, so the choice of where to compute is made in one place.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

__all__ = ["dask_client"]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2) -> Iterator[Any]:
    """A ``dask.distributed.Client``: on ``scheduler`` if given, else a local cluster.

    The local cluster has ``n_workers`` single-threaded worker processes (the
    work is numpy / decompression bound, so processes scale past the GIL) and
    no dashboard. Everything is closed on exit.
    """
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
