"""Selection + histogram throughput against a bare uproot read, and Dask scaling.

On a multi-file real-style data set (generated once, or ``--input DIR``) and
the shipped ``selections/na64e-invisible.yaml``, in the same process:

* ``bare uproot``: read the branches the selection needs, file by file, in
  the same basket-aligned chunks, with ``TTree.arrays(library="np")`` and
  nothing else (the floor for any selection);
* ``selection``: :func:`na64stat.selection.processing.run_selection` in this
  process (cuts, NaN accounting, N-1, regions, histogram filling), no cache;
* ``dask 2 workers``: ``run_selection(..., n_workers=2)``, Dask's local
  multi-process scheduler, everything (process start-up included) timed;
* ``dask LocalCluster``: the same on an already running
  ``distributed.LocalCluster`` of two worker processes (``--scheduler``
  use; its start-up is not timed, and reported separately).

Prints medians over ``--repeats`` and the ratios the issue asks for
(selection / bare throughput >= 0.8; Dask 2 workers / single process >= 1.5).

Usage::

    python benchmarks/bench_selection.py --n-eot 1e9 --repeats 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import uproot

from na64stat.selection.config import load_selection
from na64stat.selection.kernel import DEFAULT_CHUNK
from na64stat.selection.processing import run_selection

REPO = Path(__file__).resolve().parents[1]


def _bare_read(files: list[str], tree_name: str, branches: list[str], chunk: int) -> int:
    n = 0
    for path in files:
        with uproot.open(path) as f:
            tree = f[tree_name]
            offsets = [int(o) for o in tree.common_entry_offsets(filter_name=branches)]
            start = 0
            for o in offsets[1:]:
                if o - start >= chunk or o == offsets[-1]:
                    arrays = tree.arrays(branches, entry_start=start, entry_stop=o, library="np")
                    n += len(arrays[branches[0]])
                    start = o
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input",
        type=Path,
        default=None,
        help="folder of real-style data files (default: generate)",
    )
    parser.add_argument(
        "--n-eot", type=float, default=1e9, help="exposure to generate (~2e-3 events per EOT)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    selection = load_selection(REPO / "selections" / "na64e-invisible.yaml")
    tmp = None
    if args.input is None:
        from na64stat.simulation import simulate_data

        tmp = Path(tempfile.mkdtemp(prefix="bench_sel_"))
        simulate_data("na64e-invisible", tmp, n_eot=int(args.n_eot), seed=1)
        data_dir = tmp
    else:
        data_dir = args.input
    files = sorted(str(p) for p in data_dir.glob("*.root"))
    branches = selection.branches_for("data", True)
    samples = {"data": files}
    try:
        bare, ours, dask, cluster, startup = [], [], [], [], []
        n_events = 0
        from na64stat.core.distributed import dask_client

        for _ in range(args.repeats):
            t = time.perf_counter()
            n_events = _bare_read(files, selection.tree, branches, DEFAULT_CHUNK)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            run_selection(selection, samples, data_samples=["data"])
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            run_selection(selection, samples, data_samples=["data"], n_workers=2)
            dask.append(time.perf_counter() - t)
            t = time.perf_counter()
            with dask_client(None, 2) as client:
                client.run(lambda: __import__("na64stat.selection.processing"))
                startup.append(time.perf_counter() - t)
                t = time.perf_counter()
                run_selection(
                    selection, samples, data_samples=["data"], scheduler=client.scheduler.address
                )
                cluster.append(time.perf_counter() - t)
        t_bare, t_ours, t_dask, t_cl, t_up = (
            statistics.median(v) for v in (bare, ours, dask, cluster, startup)
        )
        print(f"input: {len(files)} files, {n_events} events, branches {branches}")
        print(
            f"bare uproot read      : {n_events / t_bare:12.0f} events/s "
            f"(median {t_bare:.2f} s; all {[round(x, 2) for x in bare]})"
        )
        print(
            f"selection, 1 process  : {n_events / t_ours:12.0f} events/s "
            f"(median {t_ours:.2f} s; all {[round(x, 2) for x in ours]})"
        )
        print(
            f"selection, dask 2 proc: {n_events / t_dask:12.0f} events/s (median {t_dask:.2f} s, "
            f"start-up included; all {[round(x, 2) for x in dask]})"
        )
        print(
            f"running LocalCluster 2: {n_events / t_cl:12.0f} events/s (median {t_cl:.2f} s; its "
            f"start-up ~{t_up:.2f} s not included; all {[round(x, 2) for x in cluster]})"
        )
        print(f"ratio selection / bare uproot throughput : {t_bare / t_ours:.2f}   (target >= 0.8)")
        print(f"ratio dask 2 workers / single process    : {t_ours / t_dask:.2f}   (target >= 1.5)")
        print(f"ratio running LocalCluster / single      : {t_ours / t_cl:.2f}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
