"""Events per second written by the generator, against a bare uproot write of the same arrays.

Three timings in the same process, repeated (medians reported):

* ``bare uproot``: ``uproot.recreate`` + ``mktree`` + ``extend`` of pre-made
  reco arrays in chunks of ``--chunk`` events (the floor for any writer);
* ``RootFileWriter``: the same arrays through na64stat's writer (atomic
  rename, buffered baskets, frozen clock, metadata);
* ``simulate_data``: the whole real-style generator (sampling, trigger,
  digitisation, run/spill bookkeeping and writing), events written per second.

Usage::

    python benchmarks/bench_simulation.py --events 1000000 --repeats 3 --compression zlib
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

from na64stat.core.rootio import RootFileWriter, parse_compression
from na64stat.simulation.detectors import digitize, reco_branch_types
from na64stat.simulation.generate import simulate_data
from na64stat.simulation.processes import BACKGROUNDS
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_detector


def _arrays(n: int) -> dict[str, np.ndarray]:
    detector = get_detector("na64e-invisible")
    rng = np.random.default_rng(1)
    draw = Draw(rng, n, biased=False)
    truth = BACKGROUNDS["na64e-invisible"]["hadron"].sample(draw, detector, triggerable_only=True)
    reco = digitize(rng, detector, truth)
    return {
        "run": np.full(n, 1, np.int32),
        "spill": np.ones(n, np.int32),
        "event": np.arange(n),
        **reco,
    }


def _bare(path: Path, arrays: dict[str, np.ndarray], chunk: int, codec: object) -> None:
    types = {
        k: v.dtype if v.ndim == 1 else np.dtype((v.dtype, v.shape[1:])) for k, v in arrays.items()
    }
    with uproot.recreate(path, compression=codec) as f:
        tree = f.mktree("events", types)
        for start in range(0, len(arrays["event"]), chunk):
            tree.extend({k: v[start : start + chunk] for k, v in arrays.items()})


def _ours(path: Path, arrays: dict[str, np.ndarray], chunk: int, codec: object) -> None:
    detector = get_detector("na64e-invisible")
    types = {
        "run": ("i4", ()),
        "spill": ("i4", ()),
        "event": ("i8", ()),
        **reco_branch_types(detector),
    }
    with RootFileWriter(path, "events", types, metadata={"bench": True}, compression=codec) as w:
        for start in range(0, len(arrays["event"]), chunk):
            w.extend({k: v[start : start + chunk] for k, v in arrays.items()})


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compression", default="zlib")
    args = parser.parse_args()
    codec = parse_compression(args.compression)
    arrays = _arrays(args.events)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        bare, ours, full, full_events = [], [], [], []
        for i in range(args.repeats):
            bare.append(_timed(_bare, tmp / f"bare{i}.root", arrays, args.chunk, codec))
            ours.append(_timed(_ours, tmp / f"ours{i}.root", arrays, args.chunk, codec))
            out = tmp / f"data{i}"
            start = time.perf_counter()
            files = simulate_data(
                "na64e-invisible",
                out,
                n_eot=int(args.events / 1.95e-3),
                seed=i,
                compression=args.compression,
            )
            full.append(time.perf_counter() - start)
            full_events.append(sum(f.n_events for f in files))
            shutil.rmtree(out)
        n = args.events
        t_bare, t_ours, t_full = (
            statistics.median(bare),
            statistics.median(ours),
            statistics.median(full),
        )
        rate_full = statistics.median(e / t for e, t in zip(full_events, full))
        print(
            f"events: {n}, chunk {args.chunk}, compression {args.compression}, repeats "
            f"{args.repeats}"
        )
        print(
            f"bare uproot write     : {n / t_bare:12.0f} events/s  (median {t_bare:.2f} s; all "
            f"{[round(t, 2) for t in bare]})"
        )
        print(
            f"RootFileWriter        : {n / t_ours:12.0f} events/s  (median {t_ours:.2f} s; all "
            f"{[round(t, 2) for t in ours]})"
        )
        print(
            f"simulate_data (total) : {rate_full:12.0f} events/s  "
            f"(median {t_full:.2f} s for ~{statistics.median(full_events):.0f} events)"
        )
        print(f"ratio writer / bare uproot        : {t_bare / t_ours:.2f}")
        print(f"ratio full generator / bare write : {rate_full / (n / t_bare):.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
