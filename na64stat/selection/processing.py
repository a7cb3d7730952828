"""Run a selection over ROOT files: cutflows, N-1 tables, region yields, histograms.

The work is split into :class:`Task` s (one sample, one file, one entry
range aligned to the file's baskets). A task reads only the branches the
selection needs, chunk by chunk (memory is flat in the number of events),
and returns a :class:`SampleResult`; results add up with :meth:`SampleResult.merge`.
Tasks run in this process by default, or on a local Dask cluster / a given
scheduler, with results equal to the single-process run (partial results are
merged in task order either way).

A cache keyed by the selection's content, the sample's settings and each
file's identity (resolved path, size, modification time) and entry range
stores every task's result: a rerun with nothing changed reads no events,
and a changed file or selection recomputes exactly the tasks that depend on it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import awkward as ak
import hist
import numpy as np
import uproot

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.core.loaders import open_root
from na64stat.selection.config import HistogramSpec, Selection
from na64stat.selection.expressions import Expression, ExpressionError

__all__ = [
    "Task",
    "SampleResult",
    "expand_inputs",
    "resolve_samples",
    "plan_tasks",
    "run_task",
    "run_file",
    "FileJob",
    "SelectionRun",
    "run_selection",
    "DEFAULT_STEP",
]

#: Entries per task (files are split into ranges of about this many entries).
DEFAULT_STEP = 500_000
#: Entries read at once inside a task.
DEFAULT_CHUNK = 200_000


@dataclass(frozen=True)
class Task:
    """One unit of work: a sample's file and an entry range [start, stop)."""

    sample: str
    path: str
    entry_start: int
    entry_stop: int
    file_size: int
    file_mtime_ns: int

    @property
    def n_entries(self) -> int:
        return self.entry_stop - self.entry_start


def _new_hist(spec: HistogramSpec) -> hist.Hist:
    axes = [hist.axis.Variable(a.bin_edges, name=f"x{i}", label=a.label or str(v))
            if a.kind != "regular"
            else hist.axis.Regular(int(a.edges[0]), a.edges[1], a.edges[2], name=f"x{i}", label=a.label or str(v))
            for i, (a, v) in enumerate(zip(spec.axes, spec.variables))]
    return hist.Hist(*axes, storage=hist.storage.Weight(), name=spec.name)


@dataclass
class SampleResult:
    """Counts and histograms of one sample (or part of it); adds up with :meth:`merge`.

    Arrays are per cut (cutflow, NaN losses, N-1) or per region; ``w`` are
    sums of weights and ``w2`` sums of squared weights (MC error sqrt(w2)).
    ``blinded`` regions were not filled (data samples).
    """

    sample: str
    is_data: bool
    n_total: int
    w_total: float
    w2_total: float
    cut_raw: np.ndarray
    cut_w: np.ndarray
    cut_w2: np.ndarray
    cut_nan: np.ndarray
    nminus1_raw: np.ndarray
    nminus1_w: np.ndarray
    nminus1_w2: np.ndarray
    region_raw: np.ndarray
    region_w: np.ndarray
    region_w2: np.ndarray
    histograms: dict[str, dict[str, hist.Hist]]
    blinded: tuple[str, ...] = ()
    entries_read: int = 0
    files: tuple[str, ...] = ()

    @classmethod
    def empty(cls, selection: Selection, sample: str, is_data: bool, unblind: bool) -> "SampleResult":
        nc, nr = len(selection.cuts), len(selection.regions)
        blinded = tuple(r.name for r in selection.regions if r.blinded and is_data and not unblind)
        hists = {r.name: {h.name: _new_hist(h) for h in selection.histograms if r.name in h.regions}
                 for r in selection.regions if r.name not in blinded}
        z = np.zeros
        return cls(sample, is_data, 0, 0.0, 0.0, z(nc, np.int64), z(nc), z(nc), z(nc, np.int64),
                   z(nc, np.int64), z(nc), z(nc), z(nr, np.int64), z(nr), z(nr), hists, blinded)

    def merge(self, other: "SampleResult") -> "SampleResult":
        """Sum of two partial results of the same sample."""
        if other.sample != self.sample:
            raise ValueError(f"cannot merge sample {other.sample!r} into {self.sample!r}")
        hists = {r: {n: h + other.histograms[r][n] for n, h in by_name.items()} for r, by_name in self.histograms.items()}
        return SampleResult(
            self.sample, self.is_data, self.n_total + other.n_total, self.w_total + other.w_total,
            self.w2_total + other.w2_total, self.cut_raw + other.cut_raw, self.cut_w + other.cut_w,
            self.cut_w2 + other.cut_w2, self.cut_nan + other.cut_nan, self.nminus1_raw + other.nminus1_raw,
            self.nminus1_w + other.nminus1_w, self.nminus1_w2 + other.nminus1_w2,
            self.region_raw + other.region_raw, self.region_w + other.region_w, self.region_w2 + other.region_w2,
            hists, self.blinded, self.entries_read + other.entries_read,
            tuple(dict.fromkeys(self.files + other.files)),
        )


# ---------------------------------------------------------------------------
# inputs and tasks


def expand_inputs(patterns: Sequence[str], base: Path | None = None) -> list[str]:
    """Files matching the globs (relative ones against ``base``), sorted, each once.

    A pattern that matches nothing is an error naming it.
    """
    files: list[str] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) or base is None else str(base / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise InputError(f"input {pattern!r} matches no file (searched {os.path.abspath(full)})")
        files.extend(matches)
    return list(dict.fromkeys(files))


def resolve_samples(
    selection: Selection, input_dir: str | os.PathLike[str] | None = None, extra: Mapping[str, Sequence[str]] | None = None
) -> dict[str, list[str]]:
    """Sample name -> files, from the selection's ``samples`` (globs relative to ``input_dir``) and ``extra``.

    ``extra`` (e.g. ``--sample NAME=GLOB`` on the command line) replaces the
    files of a sample of the same name. Samples whose files are given nowhere
    are left out; no sample at all is an error.
    """
    base = Path(input_dir) if input_dir is not None else None
    out: dict[str, list[str]] = {}
    for spec in selection.samples:
        if not spec.files or (extra and spec.name in extra):
            continue
        files = expand_inputs(spec.files, base)
        if spec.per_file:
            for f in files:
                out[Path(f).stem] = [f]
        else:
            out[spec.name] = files
    for name, patterns in (extra or {}).items():
        out[name] = expand_inputs(patterns, None)
    if not out:
        raise InputError(f"selection {selection.source}: no input files (give samples with files, or --sample NAME=GLOB)")
    return out


def _open_tree(path: str, tree_name: str) -> tuple[Any, Any]:
    """(file, tree) with errors naming the file and the tree."""
    handle = open_root(path)
    try:
        tree = handle[tree_name]
    except Exception:
        keys = sorted({k.split(";")[0] for k in handle.keys()})
        handle.close()
        raise InputError(f"{path}: no tree {tree_name!r}; the file has {keys}") from None
    if not isinstance(tree, (uproot.TTree, *_RNTUPLE)):
        handle.close()
        raise InputError(f"{path}: {tree_name!r} is a {type(tree).__name__}, not a TTree or RNTuple")
    return handle, tree


#: uproot's RNTuple reader classes (``f[name] = arrays`` writes RNTuples with uproot >= 5.7); read like a
#: TTree. The class is ROOT::RNTuple from uproot 5.5 on, ROOT::Experimental::RNTuple before.
_RNTUPLE = tuple(cls for cls in (getattr(uproot.models.RNTuple, name, None) for name in
                                 ("Model_ROOT_3a3a_RNTuple", "Model_ROOT_3a3a_Experimental_3a3a_RNTuple"))
                 if isinstance(cls, type))


def _is_rntuple(tree: Any) -> bool:
    return isinstance(tree, _RNTUPLE)


def _check_branches(path: str, tree: Any, branches: Sequence[str], tree_name: str) -> None:
    missing = [b for b in branches if b not in tree]
    if missing:
        raise InputError(f"{path}: tree {tree_name!r} has no branch(es) {missing}")


def _basket_offsets(tree: Any, branches: Sequence[str]) -> list[int]:
    """Entry numbers where every needed branch starts a new basket (0 and the entry count included)."""
    n = int(tree.num_entries)
    if _is_rntuple(tree):  # clusters play the part of baskets
        try:
            starts = [int(c.num_first_entry) for c in tree.cluster_summaries]
        except Exception:  # pragma: no cover - no cluster summaries
            starts = []
        return sorted({0, n, *(o for o in starts if 0 < o < n)})
    try:
        return [int(o) for o in tree.common_entry_offsets(filter_name=list(branches))] if branches else [0, n]
    except Exception:  # pragma: no cover - uproot could not align the baskets
        return [0, n]


def _file_tasks(sample: str, path: str, tree: Any, offsets: Sequence[int], step: int) -> list[Task]:
    """Tasks of one open file: entry ranges of ~``step`` entries at the basket ``offsets``."""
    n = int(tree.num_entries)
    stat = os.stat(path)
    full = os.path.abspath(path)
    bounds = _split(offsets, n, step) if n > 0 else [0, 0]
    return [Task(sample, full, a, b, stat.st_size, stat.st_mtime_ns) for a, b in zip(bounds[:-1], bounds[1:])]


def plan_tasks(
    selection: Selection, samples: Mapping[str, Sequence[str]], step: int = DEFAULT_STEP, data_samples: Sequence[str] = ()
) -> list[Task]:
    """Tasks for every sample's files, split at basket boundaries into ~``step`` entries.

    Opens each file once to check the tree and branches and read its basket layout.
    """
    tasks: list[Task] = []
    for sample, files in samples.items():
        branches = selection.branches_for(sample, selection.is_data(sample, data_samples))
        for path in files:
            handle, tree = _open_tree(path, selection.tree)
            with handle:
                _check_branches(path, tree, branches, selection.tree)
                tasks.extend(_file_tasks(sample, path, tree, _basket_offsets(tree, branches), step))
    return tasks


def _split(offsets: Sequence[int], n: int, step: int) -> list[int]:
    """Boundaries from basket offsets, about ``step`` entries apart (always 0 and n)."""
    bounds = [0]
    for o in sorted(set(offsets) | {n}):
        if o - bounds[-1] >= step or (o == n and o > bounds[-1]):
            bounds.append(o)
    return bounds


# ---------------------------------------------------------------------------
# evaluation


class _Env(dict):
    """Branch arrays plus definitions evaluated on first use."""

    def __init__(self, arrays: Mapping[str, Any], definitions: Mapping[str, Expression]) -> None:
        super().__init__(arrays)
        self._definitions = definitions

    def __missing__(self, name: str) -> Any:
        if name not in self._definitions:
            raise KeyError(name)
        value = self._definitions[name].evaluate(self)
        self[name] = value
        return value


def _per_event(value: Any, n: int, what: str, dtype: Any) -> np.ndarray:
    """An expression's result as one value per event."""
    if isinstance(value, ak.Array):
        if value.ndim != 1:
            raise InputError(f"{what} gives a list per event; reduce it with any(), all(), sum(), count(), ...")
        value = ak.to_numpy(value)
    array = np.asarray(value, dtype=dtype)
    if array.ndim == 0:
        return np.full(n, array.item(), dtype=dtype)
    if array.shape != (n,):
        raise InputError(f"{what} gives shape {array.shape[1:]} per event; reduce it with sum(), max(), ...")
    return array


def _nan_mask(value: Any, n: int) -> np.ndarray:
    """Events with a NaN anywhere in a branch."""
    if isinstance(value, ak.Array):
        if value.ndim == 1:
            value = ak.to_numpy(value)
            return np.isnan(value) if np.issubdtype(value.dtype, np.floating) else np.zeros(n, bool)
        try:
            return ak.to_numpy(ak.any(np.isnan(value), axis=-1))
        except TypeError:
            return np.zeros(n, bool)
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        return np.zeros(n, bool)
    nan = np.isnan(array)
    return nan.any(axis=tuple(range(1, nan.ndim))) if nan.ndim > 1 else nan


def _branch_closure(expression: Expression, definitions: Mapping[str, Expression]) -> set[str]:
    """Branch names an expression reads, through definitions."""
    out: set[str] = set()
    todo = list(expression.names)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in definitions:
            todo.extend(definitions[name].names)
        else:
            out.add(name)
    return out


def _fill_values(value: Any, mask: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Selected values (flattened for jagged branches, weights broadcast) of one histogram variable."""
    if isinstance(value, ak.Array) and value.ndim > 1:
        selected = value[mask]
        w = ak.broadcast_arrays(weights[mask], selected)[0]
        return ak.to_numpy(ak.flatten(selected, axis=None)), ak.to_numpy(ak.flatten(w, axis=None))
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full(mask.size, array.item())
    if array.ndim > 1:
        raise InputError("histogram variable gives an array per event; reduce it or index it")
    return array[mask], weights[mask]


@dataclass(frozen=True)
class _Compiled:
    """What a task needs about its sample, derived once."""

    selection: Selection
    sample: str
    branches: tuple[str, ...]
    definitions: Mapping[str, Expression]
    weight: Expression | None
    cut_branches: tuple[frozenset[str], ...]


def _compile(selection: Selection, sample: str, is_data: bool) -> _Compiled:
    definitions = selection.definitions_for(sample)
    return _Compiled(
        selection, sample, tuple(selection.branches_for(sample, is_data)), definitions,
        selection.weight_for(sample, is_data),
        tuple(frozenset(_branch_closure(c.expression, definitions)) for c in selection.cuts),
    )


class _Sums:
    """Raw count, sum of weights and of squared weights of masks, without copies.

    Unweighted samples (data) skip the weight arithmetic: both sums are the count.
    """

    def __init__(self, w: np.ndarray | None) -> None:
        self.w = w
        self.w2 = None if w is None else w * w

    def __call__(self, mask: np.ndarray) -> tuple[int, float, float]:
        raw = int(np.count_nonzero(mask))
        if self.w is None:
            return raw, float(raw), float(raw)
        return raw, float(np.sum(self.w, where=mask)), float(np.sum(self.w2, where=mask))


def _accumulate(result: SampleResult, compiled: _Compiled, arrays: Mapping[str, Any], n: int, where: str) -> None:
    sel = compiled.selection
    env = _Env(arrays, compiled.definitions)
    try:
        w = (_per_event(compiled.weight.evaluate(env), n, f"{where}: weight {compiled.weight}", float)
             if compiled.weight is not None else None)
        sums = _Sums(w)
        masks = [_per_event(c.expression.evaluate(env), n, f"{where}: cut {c.name!r}", bool) for c in sel.cuts]
        nan_cache: dict[str, np.ndarray] = {}

        def has_nan(names: frozenset[str]) -> np.ndarray:
            out = np.zeros(n, bool)
            for b in names:
                if b not in nan_cache:
                    nan_cache[b] = _nan_mask(arrays[b], n)
                out |= nan_cache[b]
            return out

        result.n_total += n
        result.w_total += float(n) if w is None else float(w.sum())
        result.w2_total += float(n) if w is None else float(sums.w2.sum())
        alive = np.ones(n, bool)
        for k, m in enumerate(masks):
            failed = alive & ~m
            if failed.any():
                result.cut_nan[k] += int(np.count_nonzero(failed & has_nan(compiled.cut_branches[k])))
            alive &= m
            raw, sw, sw2 = sums(alive)
            result.cut_raw[k] += raw
            result.cut_w[k] += sw
            result.cut_w2[k] += sw2
        # N-1: all cuts but one, from prefix and suffix products
        prefix, suffix = [np.ones(n, bool)], [np.ones(n, bool)]
        for m in masks:
            prefix.append(prefix[-1] & m)
        for m in reversed(masks):
            suffix.append(suffix[-1] & m)
        suffix.reverse()
        for k in range(len(masks)):
            raw, sw, sw2 = sums(prefix[k] & suffix[k + 1])
            result.nminus1_raw[k] += raw
            result.nminus1_w[k] += sw
            result.nminus1_w2[k] += sw2
        by_name = dict(zip([c.name for c in sel.cuts], masks))
        all_cuts = tuple(c.name for c in sel.cuts)
        ones = np.ones(n) if w is None else w
        for r, region in enumerate(sel.regions):
            if region.name in result.blinded:
                continue
            if region.cuts == all_cuts:
                mask = prefix[-1].copy()
            else:
                mask = np.ones(n, bool)
                for c in region.cuts:
                    mask &= by_name[c]
            if region.where is not None:
                mask &= _per_event(region.where.evaluate(env), n, f"{where}: region {region.name!r}", bool)
            raw, sw, sw2 = sums(mask)
            result.region_raw[r] += raw
            result.region_w[r] += sw
            result.region_w2[r] += sw2
            if not raw:
                continue
            for spec in sel.histograms:
                if region.name not in spec.regions:
                    continue
                hw = ones if spec.weight is None else ones * _per_event(
                    spec.weight.evaluate(env), n, f"{where}: histogram {spec.name!r} weight", float)
                columns, weights = [], None
                for variable in spec.variables:
                    values, weights = _fill_values(variable.evaluate(env), mask, hw)
                    columns.append(values)
                if len({len(c) for c in columns}) > 1:
                    raise InputError(f"{where}: histogram {spec.name!r}: variables have different lengths per event")
                result.histograms[region.name][spec.name].fill(*columns, weight=weights)
    except ExpressionError as exc:
        raise InputError(f"{where}: {exc}") from None


def _chunks(tree: Any, branches: Sequence[str], offsets: Sequence[int], start: int, stop: int,
            chunk: int) -> Iterator[tuple[dict[str, Any], int]]:
    """Arrays of ``branches`` in entry chunks at the basket ``offsets``: numpy for flat / fixed-size, awkward for jagged."""
    rntuple = _is_rntuple(tree)
    jagged = [] if rntuple else [b for b in branches
                                 if isinstance(tree[b].interpretation, uproot.interpretation.jagged.AsJagged)]
    flat = [b for b in branches if b not in jagged]
    inner = [o for o in offsets if start < o < stop]
    bounds = _split([start, *inner, stop], stop, chunk) if stop > start else [start]
    bounds = [b for b in bounds if b >= start]
    if rntuple:  # clusters can be large: read at most ``chunk`` entries at once
        bounds = sorted({*bounds, *range(start, stop, chunk)}) if stop > start else bounds
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        arrays: dict[str, Any] = {}
        if rntuple:
            got = tree.arrays(list(branches), entry_start=lo, entry_stop=hi, library="ak") if branches else {}
            for b in branches:
                try:  # flat and fixed-size fields as numpy, jagged ones stay awkward
                    arrays[b] = ak.to_numpy(got[b])
                except (ValueError, TypeError):
                    arrays[b] = got[b]
            yield arrays, hi - lo
            continue
        if flat:
            arrays.update(tree.arrays(flat, entry_start=lo, entry_stop=hi, library="np"))
        if jagged:
            got = tree.arrays(jagged, entry_start=lo, entry_stop=hi, library="ak")
            arrays.update({b: got[b] for b in jagged})
        yield arrays, hi - lo


def _run_range(selection: Selection, compiled: _Compiled, tree: Any, offsets: Sequence[int], task: Task,
               is_data: bool, unblind: bool, chunk: int) -> SampleResult:
    result = SampleResult.empty(selection, task.sample, is_data, unblind)
    result.files = (task.path,)
    where = f"{task.path} (sample {task.sample!r})"
    try:
        for arrays, n in _chunks(tree, compiled.branches, offsets, task.entry_start, task.entry_stop, chunk):
            try:
                _accumulate(result, compiled, arrays, n, where)
            except InputError:
                raise
            except Exception as exc:  # numpy / awkward refusing an operation: the selection's fault, not the file's
                raise InputError(f"{where}: cannot evaluate the selection ({type(exc).__name__}: {exc})") from None
            result.entries_read += n
    except InputError:
        raise
    except Exception as exc:  # decompression / deserialisation of a damaged file
        raise InputError(f"{task.path}: cannot read entries {task.entry_start}-{task.entry_stop} "
                         f"of tree {selection.tree!r} ({type(exc).__name__}: {exc})") from None
    return result


def run_task(selection: Selection, task: Task, is_data: bool, unblind: bool = False, chunk: int = DEFAULT_CHUNK) -> SampleResult:
    """Process one task; errors name the file (and the item at fault)."""
    compiled = _compile(selection, task.sample, is_data)
    handle, tree = _open_tree(task.path, selection.tree)
    with handle:
        _check_branches(task.path, tree, compiled.branches, selection.tree)
        offsets = _basket_offsets(tree, compiled.branches)
        return _run_range(selection, compiled, tree, offsets, task, is_data, unblind, chunk)


# ---------------------------------------------------------------------------
# cache and driver


def _cache_key(selection: Selection, task: Task, is_data: bool, unblind: bool) -> str:
    spec = selection.sample(task.sample)
    payload = {
        "selection": selection.digest,
        "sample": [spec.name, spec.data, str(spec.weight), {k: str(v) for k, v in spec.definitions.items()}],
        "file": [task.path, task.file_size, task.file_mtime_ns, task.entry_start, task.entry_stop],
        "data": is_data, "unblind": unblind, "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


#: Version of the cache file layout; entries of another layout are ignored (recomputed).
CACHE_FORMAT = "na64stat-task-cache-1"
_RESULT_ARRAYS = ("cut_raw", "cut_w", "cut_w2", "cut_nan", "nminus1_raw", "nminus1_w", "nminus1_w2",
                  "region_raw", "region_w", "region_w2")


def check_cache_dir(cache_dir: Path | None) -> None:
    """Fail early (before reading events) when the cache folder cannot be created or written."""
    if cache_dir is None:
        return
    path = Path(cache_dir)
    if path.exists() and not path.is_dir():
        raise InputError(f"task cache {path} is not a folder (give --cache DIR or --no-cache)")
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link
            raise InputError(f"task cache folder {path}: {probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the task cache folder {path} ({probe} is not writable); "
                         "give --cache DIR or --no-cache")


def _atomic_bytes(cache_dir: Path, name: str, write: Callable[[Any], None]) -> None:
    """Write a cache file through a unique temporary name and a rename; errors name the cache folder."""
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=cache_dir)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, cache_dir / name)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write the task cache {cache_dir}: {exc.strerror or exc} "
                         "(give --cache DIR or --no-cache)") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _cache_load_plan(cache_dir: Path | None, key: str) -> list[Task] | None:
    """A file's cached split into tasks (a JSON list), or None (missing, unreadable or not a plan)."""
    if cache_dir is None:
        return None
    try:
        with (cache_dir / f"{key}.json").open("rb") as handle:
            content = json.loads(handle.read(16 * 1024**2 + 1).decode("utf-8"))
        if not isinstance(content, dict) or content.get("format") != CACHE_FORMAT or content.get("key") != key:
            return None
        tasks = []
        for row in content["tasks"]:
            sample, path, a, b, size, mtime = row
            if not (isinstance(sample, str) and isinstance(path, str)
                    and all(type(v) is int for v in (a, b, size, mtime)) and 0 <= a <= b):
                return None
            tasks.append(Task(sample, path, a, b, size, mtime))
        return tasks or None
    except Exception:  # a corrupt or foreign file is ignored: the plan is recomputed
        return None


def _cache_store_plan(cache_dir: Path | None, key: str, tasks: Sequence[Task]) -> None:
    if cache_dir is None:
        return
    blob = json.dumps({"format": CACHE_FORMAT, "key": key, "tasks": [list(astuple(t)) for t in tasks]}).encode()
    _atomic_bytes(cache_dir, f"{key}.json", lambda handle: handle.write(blob))


def _cache_load_result(cache_dir: Path | None, key: str, selection: Selection, sample: str, is_data: bool,
                       unblind: bool) -> SampleResult | None:
    """A task's cached result, or None (missing, unreadable, stale or not matching the selection).

    Entries are numpy ``.npz`` archives read with ``allow_pickle=False`` (data only:
    nothing in a cache file is ever executed) and checked against the result
    layout the selection gives (cuts, regions, histograms and their bins).
    """
    if cache_dir is None:
        return None
    try:
        with np.load(cache_dir / f"{key}.npz", allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"][()]))
            if (meta.get("format") != CACHE_FORMAT or meta.get("key") != key or meta.get("sample") != sample
                    or meta.get("is_data") is not is_data):
                return None
            result = SampleResult.empty(selection, sample, is_data, unblind)
            if list(meta["blinded"]) != list(result.blinded):
                return None
            counts = archive["counts"]
            sums = archive["sums"]
            if counts.shape != (2,) or counts.dtype != np.int64 or sums.shape != (2,) or sums.dtype != np.float64:
                return None
            result.n_total, result.entries_read = int(counts[0]), int(counts[1])
            result.w_total, result.w2_total = float(sums[0]), float(sums[1])
            for name in _RESULT_ARRAYS:
                template, stored = getattr(result, name), archive[name]
                if stored.shape != template.shape or stored.dtype != template.dtype:
                    return None
                setattr(result, name, np.array(stored))
            expected = [[region, name] for region, by_name in result.histograms.items() for name in by_name]
            if meta["histograms"] != expected:
                return None
            for i, (region, name) in enumerate(expected):
                view = result.histograms[region][name].view(flow=True)
                value, variance = archive[f"h{i}_value"], archive[f"h{i}_variance"]
                if value.shape != view.shape or variance.shape != view.shape or value.dtype != np.float64:
                    return None
                view["value"] = value
                view["variance"] = variance
            files = meta["files"]
            if not all(isinstance(f, str) for f in files):
                return None
            result.files = tuple(files)
            return result
    except Exception:  # a corrupt or foreign file is ignored: the task is recomputed
        return None


def _cache_store_result(cache_dir: Path | None, key: str, result: SampleResult) -> None:
    if cache_dir is None:
        return
    names = [[region, name] for region, by_name in result.histograms.items() for name in by_name]
    meta = {"format": CACHE_FORMAT, "key": key, "sample": result.sample, "is_data": result.is_data,
            "blinded": list(result.blinded), "files": list(result.files), "histograms": names,
            "version": __version__}
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "counts": np.array([result.n_total, result.entries_read], dtype=np.int64),
        "sums": np.array([result.w_total, result.w2_total], dtype=np.float64),
        **{name: np.asarray(getattr(result, name)) for name in _RESULT_ARRAYS},
    }
    for i, (region, name) in enumerate(names):
        view = result.histograms[region][name].view(flow=True)
        arrays[f"h{i}_value"] = np.ascontiguousarray(view["value"], dtype=np.float64)
        arrays[f"h{i}_variance"] = np.ascontiguousarray(view["variance"], dtype=np.float64)
    _atomic_bytes(cache_dir, f"{key}.npz", lambda handle: np.savez(handle, **arrays))


@dataclass(frozen=True)
class SelectionRun:
    """Results of :func:`run_selection`: one merged :class:`SampleResult` per sample."""

    selection: Selection
    samples: dict[str, SampleResult]
    n_tasks: int
    n_cached: int
    entries_read: int = 0
    inputs: dict[str, list[str]] = field(default_factory=dict)


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
    data_samples:
        Samples that are data (also those marked ``data: true`` in the
        selection): unweighted unless overridden, blinded regions not filled.
    unblind:
        Fill blinded regions for data too.
    step, chunk:
        Entries per task and per read.
    cache_dir:
        Folder of the task cache (``None``: no cache).
    scheduler, n_workers:
        Dask scheduler address, or a local cluster of ``n_workers`` processes
        when ``n_workers > 1``; default: in this process.
    progress:
        Called with the number of entries of each finished task.
    """
    is_data = {s: selection.is_data(s, data_samples) for s in samples}
    cache = Path(cache_dir) if cache_dir is not None else None
    check_cache_dir(cache)
    jobs, known = _look_up_cache(selection, samples, is_data, unblind, step, cache, progress)
    if scheduler is None and n_workers <= 1:
        outcomes = []
        for job in jobs:
            outcomes.append(run_file(selection, job, unblind, step, chunk))
            if progress:
                progress(sum(t.n_entries for t in outcomes[-1][0]))
    else:
        outcomes = _run_dask(selection, jobs, unblind, step, chunk, progress, scheduler, n_workers)
    tasks: list[Task] = []
    results: list[SampleResult] = []
    read = 0
    for job, (file_tasks, done) in zip(jobs, outcomes):
        _cache_store_plan(cache, _plan_key(job.path, selection.tree, job.branches, step), file_tasks)
        for task in file_tasks:
            result = done.get((task.entry_start, task.entry_stop))
            if result is None:
                result = _cache_load_result(cache, _cache_key(selection, task, job.is_data, unblind), selection,
                                            task.sample, job.is_data, unblind)
            else:
                _cache_store_result(cache, _cache_key(selection, task, job.is_data, unblind), result)
                read += result.entries_read
            if result is None:  # pragma: no cover - cache entry vanished meanwhile
                raise InputError(f"{task.path}: cached result of entries {task.entry_start}-{task.entry_stop} disappeared")
            known[(job.sample, job.path)] = known.get((job.sample, job.path), []) + [(task, result)]
    for sample, files in samples.items():
        for path in files:
            for task, result in known[(sample, os.path.abspath(path))]:
                tasks.append(task)
                results.append(result)
    merged: dict[str, SampleResult] = {}
    for sample in samples:
        total = SampleResult.empty(selection, sample, is_data[sample], unblind)
        for task, result in zip(tasks, results):
            if task.sample == sample:
                total = total.merge(result)
        merged[sample] = total
    n_computed = sum(len(done) for _, done in outcomes)
    return SelectionRun(selection, merged, len(tasks), len(tasks) - n_computed, read,
                        {s: list(f) for s, f in samples.items()})


@dataclass(frozen=True)
class FileJob:
    """Work on one file of a sample; ranges in ``skip`` are already in the cache."""

    sample: str
    path: str
    is_data: bool
    branches: tuple[str, ...]
    skip: frozenset[tuple[int, int]] = frozenset()


def run_file(selection: Selection, job: FileJob, unblind: bool = False, step: int = DEFAULT_STEP,
             chunk: int = DEFAULT_CHUNK) -> tuple[list[Task], dict[tuple[int, int], SampleResult]]:
    """Open a file once, split it into tasks and run those not in ``job.skip``.

    Returns the file's tasks and the results computed, keyed by (start, stop).
    """
    compiled = _compile(selection, job.sample, job.is_data)
    handle, tree = _open_tree(job.path, selection.tree)
    with handle:
        _check_branches(job.path, tree, compiled.branches, selection.tree)
        offsets = _basket_offsets(tree, compiled.branches)
        tasks = _file_tasks(job.sample, job.path, tree, offsets, step)
        done = {(t.entry_start, t.entry_stop): _run_range(selection, compiled, tree, offsets, t, job.is_data, unblind, chunk)
                for t in tasks if (t.entry_start, t.entry_stop) not in job.skip}
    return tasks, done


def _plan_key(path: str, tree: str, branches: Sequence[str], step: int) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        raise InputError(f"{path}: no such file") from None
    payload = [os.path.abspath(path), stat.st_size, stat.st_mtime_ns, tree, list(branches), step, __version__]
    return "plan-" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _look_up_cache(selection: Selection, samples: Mapping[str, Sequence[str]], is_data: Mapping[str, bool],
                   unblind: bool, step: int, cache: Path | None, progress: Callable[[int], None] | None,
                   ) -> tuple[list[FileJob], dict[tuple[str, str], list[tuple[Task, SampleResult]]]]:
    """Files still to process (with their cached ranges) and the fully cached files' results.

    A file whose split and every range are cached is not opened at all.
    """
    jobs: list[FileJob] = []
    known: dict[tuple[str, str], list[tuple[Task, SampleResult]]] = {}
    for sample, files in samples.items():
        branches = tuple(selection.branches_for(sample, is_data[sample]))
        for path in files:
            full = os.path.abspath(path)
            planned = _cache_load_plan(cache, _plan_key(path, selection.tree, branches, step)) if cache else None
            cached: dict[tuple[int, int], SampleResult] = {}
            tasks = [t for t in planned if t.sample == sample and t.path == full] if planned else []
            for t in tasks:
                r = _cache_load_result(cache, _cache_key(selection, t, is_data[sample], unblind), selection, sample,
                                       is_data[sample], unblind)
                if r is not None:
                    cached[(t.entry_start, t.entry_stop)] = r
            if tasks and len(cached) == len(tasks):
                known[(sample, full)] = [(t, cached[(t.entry_start, t.entry_stop)]) for t in tasks]
                if progress:
                    progress(sum(t.n_entries for t in tasks))
                continue
            jobs.append(FileJob(sample, full, is_data[sample], branches, frozenset(cached)))
    return jobs, known


def _run_dask(selection: Selection, jobs: Sequence[FileJob], unblind: bool, step: int, chunk: int,
              progress: Callable[[int], None] | None, scheduler: str | None, n_workers: int,
              ) -> list[tuple[list[Task], dict[tuple[int, int], SampleResult]]]:
    """Run the jobs with Dask: one call per file when there are enough files, else one per entry range.

    ``scheduler`` given: on that Dask cluster. Otherwise Dask's local
    multi-process scheduler with ``n_workers`` processes (see
    :func:`na64stat.core.distributed.compute_in_processes` for why not a
    ``LocalCluster``). Results are put back in task order, so the merged
    result equals the single-process one.
    """
    if not jobs:
        return []
    calls: list[tuple[Callable[..., Any], tuple[Any, ...], int]] = []
    layout: list[tuple[int, Task | None]] = []  # (job index, range task or None for a whole file)
    outcomes: list[tuple[list[Task], dict[tuple[int, int], SampleResult]]] = [([], {}) for _ in jobs]
    if len(jobs) >= 2 * n_workers or scheduler is not None and len(jobs) >= 2:
        for k, job in enumerate(jobs):
            calls.append((run_file, (selection, job, unblind, step, chunk), 0))
            layout.append((k, None))
    else:  # few (large) files: split them here and spread the entry ranges
        for k, job in enumerate(jobs):
            tasks = plan_tasks(selection, {job.sample: [job.path]}, step, [job.sample] if job.is_data else [])
            outcomes[k] = (tasks, {})
            for t in tasks:
                if (t.entry_start, t.entry_stop) not in job.skip:
                    calls.append((run_task, (selection, t, job.is_data, unblind, chunk), t.n_entries))
                    layout.append((k, t))
    from na64stat.core.distributed import compute_in_processes, compute_on_scheduler

    def done(i: int, value: Any) -> None:
        k, task = layout[i]
        if task is None:
            outcomes[k] = value
            entries = sum(t.n_entries for t in value[0])
        else:
            outcomes[k][1][(task.entry_start, task.entry_stop)] = value
            entries = task.n_entries
        if progress:
            progress(entries)

    if scheduler is None:
        compute_in_processes([(f, args) for f, args, _ in calls], n_workers, done)
    else:
        compute_on_scheduler([(f, args) for f, args, _ in calls], scheduler, done)
    return outcomes
