"""The local Dask cluster says nothing of its own: no port-8787 warning, no worker logs of a failed
task.
"""

from __future__ import annotations

import socket
import time
import warnings

import pytest

from na64stat.core.distributed import dask_client


def test_local_cluster_is_silent_with_port_8787_taken_and_a_failing_task(
    capfd: pytest.CaptureFixture,
) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:  # something else holds it already: the same situation
        pass
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ZeroDivisionError), dask_client(n_workers=2) as client:
                from dask.distributed import as_completed

                futures = [
                    client.submit(lambda: 1 / 0, pure=False),
                    client.submit(time.sleep, 3, pure=False),
                ]  # cancelled when the first fails
                for future in as_completed(futures):
                    future.result()
    finally:
        holder.close()
    err = capfd.readouterr().err
    assert [
        str(w.message)
        for w in caught
        if "distributed" in (w.filename or "") or "8787" in str(w.message)
    ] == []
    assert (
        "8787" not in err and "Warning" not in err and "ERROR" not in err and "Cancelled" not in err
    ), err
