"""The per-chunk computation of a selection: cuts, NaN losses, N-1 counts, region yields,
histograms.

A task's entry range is read chunk by chunk (:func:`read_chunks`, memory flat
in the number of events); each chunk's expressions are evaluated once and
added to a running :class:`_Tally`, which becomes the task's frozen
:class:`~na64stat.selection.records.SampleResult` at the end.
:func:`run_task` (one range) and :func:`run_file` (every range of a file) are
what the executors run, in this process or on Dask workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import uproot

from na64stat.core.errors import InputError
from na64stat.selection.config import HistogramSpec, Region, Selection
from na64stat.selection.expressions import Expression, ExpressionError
from na64stat.selection.inputs import check_branches, is_rntuple, open_tree
from na64stat.selection.planning import (
    DEFAULT_STEP,
    FileJob,
    Task,
    basket_offsets,
    file_tasks,
    split_bounds,
)
from na64stat.selection.records import Counts, Cutflow, RegionResult, SampleResult

__all__ = [
    "DEFAULT_CHUNK",
    "CompiledSample",
    "compile_sample",
    "read_chunks",
    "run_task",
    "run_file",
]

#: Entries read at once inside a task.
DEFAULT_CHUNK = 200_000


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
            raise InputError(
                f"{what} gives a list per event; reduce it with any(), all(), sum(), count(), ..."
            )
        value = ak.to_numpy(value)
    array = np.asarray(value, dtype=dtype)
    if array.ndim == 0:
        return np.full(n, array.item(), dtype=dtype)
    if array.shape != (n,):
        raise InputError(
            f"{what} gives shape {array.shape[1:]} per event; reduce it with sum(), max(), ..."
        )
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


def _fill_values(
    value: Any, mask: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Selected values (flattened for jagged branches, weights broadcast) of one histogram
    variable.
    """
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
class CompiledSample:
    """What a task needs about its sample, derived once from the selection."""

    selection: Selection
    sample: str
    branches: tuple[str, ...]
    definitions: Mapping[str, Expression]
    weight: Expression | None
    cut_branches: tuple[frozenset[str], ...]


def compile_sample(selection: Selection, sample: str, is_data: bool) -> CompiledSample:
    """The branches, definitions, weight and per-cut branch sets of one sample."""
    definitions = selection.definitions_for(sample)
    return CompiledSample(
        selection,
        sample,
        tuple(selection.branches_for(sample, is_data)),
        definitions,
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
        if self.w is None or self.w2 is None:
            return raw, float(raw), float(raw)
        return raw, float(np.sum(self.w, where=mask)), float(np.sum(self.w2, where=mask))


class _CountSums:
    """Running raw counts and sums of weights of ``n`` selections (mutable; frozen by
    :meth:`freeze`).
    """

    def __init__(self, n: int) -> None:
        self.raw = np.zeros(n, np.int64)
        self.w = np.zeros(n)
        self.w2 = np.zeros(n)

    def add(self, k: int, sums: tuple[int, float, float]) -> None:
        """Add (raw, sum w, sum w^2) to selection ``k``."""
        raw, sw, sw2 = sums
        self.raw[k] += raw
        self.w[k] += sw
        self.w2[k] += sw2

    def freeze(self) -> Counts:
        """The sums as :class:`Counts` of shape ``(n,)``."""
        return Counts(self.raw, self.w, self.w2)

    def freeze_one(self, k: int) -> Counts:
        """Selection ``k``'s sums as :class:`Counts` of shape ``()``."""
        return Counts(self.raw[k].copy(), self.w[k].copy(), self.w2[k].copy())


class _Tally:
    """The sums of one task while its chunks are read; :meth:`freeze` gives its
    :class:`SampleResult`.
    """

    def __init__(self, empty: SampleResult) -> None:
        selection_cuts = len(empty.cutflow.after_cut.raw)
        self.empty = empty
        self.total = _CountSums(1)
        self.cuts = _CountSums(selection_cuts)
        self.nan = np.zeros(selection_cuts, np.int64)
        self.n_minus_1 = _CountSums(selection_cuts)
        self.regions = {name: _CountSums(1) for name in empty.regions}
        self.histograms = {name: dict(region.histograms) for name, region in empty.regions.items()}
        self.entries_read = 0

    def freeze(self, files: tuple[str, ...]) -> SampleResult:
        """The frozen result (histograms handed over, not copied)."""
        cutflow = Cutflow(
            self.total.freeze_one(0), self.cuts.freeze(), self.nan, self.n_minus_1.freeze()
        )
        regions = {
            name: RegionResult(sums.freeze_one(0), self.histograms[name])
            for name, sums in self.regions.items()
        }
        e = self.empty
        return SampleResult(
            e.sample, e.is_data, cutflow, regions, e.blinded, self.entries_read, files
        )


def _weights(compiled: CompiledSample, env: _Env, n: int, where: str) -> np.ndarray | None:
    """Per-event weights of the chunk, or None for an unweighted sample."""
    if compiled.weight is None:
        return None
    return _per_event(compiled.weight.evaluate(env), n, f"{where}: weight {compiled.weight}", float)


def _count_cuts(
    tally: _Tally,
    compiled: CompiledSample,
    masks: Sequence[np.ndarray],
    sums: _Sums,
    arrays: Mapping[str, Any],
    n: int,
) -> None:
    """The cutflow (events after cuts 1..k) and the events failing cut k with a NaN in its
    branches.
    """
    nan_cache: dict[str, np.ndarray] = {}

    def has_nan(names: frozenset[str]) -> np.ndarray:
        out = np.zeros(n, bool)
        for b in names:
            if b not in nan_cache:
                nan_cache[b] = _nan_mask(arrays[b], n)
            out |= nan_cache[b]
        return out

    alive = np.ones(n, bool)
    for k, m in enumerate(masks):
        failed = alive & ~m
        if failed.any():
            tally.nan[k] += int(np.count_nonzero(failed & has_nan(compiled.cut_branches[k])))
        alive &= m
        tally.cuts.add(k, sums(alive))


def _count_n_minus_1(tally: _Tally, masks: Sequence[np.ndarray], sums: _Sums, n: int) -> np.ndarray:
    """N-1 counts (all cuts but one) from prefix and suffix products; returns the all-cuts mask."""
    prefix, suffix = [np.ones(n, bool)], [np.ones(n, bool)]
    for m in masks:
        prefix.append(prefix[-1] & m)
    for m in reversed(masks):
        suffix.append(suffix[-1] & m)
    suffix.reverse()
    for k in range(len(masks)):
        tally.n_minus_1.add(k, sums(prefix[k] & suffix[k + 1]))
    return prefix[-1]


def _region_mask(
    region: Region,
    compiled: CompiledSample,
    env: _Env,
    masks: Mapping[str, np.ndarray],
    all_cuts: np.ndarray,
    n: int,
    where: str,
) -> np.ndarray:
    """Events of one region: its cuts and its ``where`` condition."""
    if region.cuts == tuple(c.name for c in compiled.selection.cuts):
        mask = all_cuts.copy()
    else:
        mask = np.ones(n, bool)
        for c in region.cuts:
            mask &= masks[c]
    if region.where is not None:
        mask &= _per_event(region.where.evaluate(env), n, f"{where}: region {region.name!r}", bool)
    return mask


def _fill_histogram(
    tally: _Tally,
    region: str,
    spec: HistogramSpec,
    env: _Env,
    mask: np.ndarray,
    weights: np.ndarray,
    n: int,
    where: str,
) -> None:
    """Fill one histogram of a region with the region's events (times the histogram's own
    weight).
    """
    hw = (
        weights
        if spec.weight is None
        else weights
        * _per_event(
            spec.weight.evaluate(env), n, f"{where}: histogram {spec.name!r} weight", float
        )
    )
    columns, fill_weights = [], None
    for variable in spec.variables:
        values, fill_weights = _fill_values(variable.evaluate(env), mask, hw)
        columns.append(values)
    if len({len(c) for c in columns}) > 1:
        raise InputError(
            f"{where}: histogram {spec.name!r}: variables have different lengths per event"
        )
    tally.histograms[region][spec.name].fill(*columns, weight=fill_weights)


def _fill_regions(
    tally: _Tally,
    compiled: CompiledSample,
    env: _Env,
    masks: Sequence[np.ndarray],
    all_cuts: np.ndarray,
    sums: _Sums,
    w: np.ndarray | None,
    n: int,
    where: str,
) -> None:
    """Yields and histograms of every region looked at (blinded ones are skipped)."""
    sel = compiled.selection
    by_name = dict(zip([c.name for c in sel.cuts], masks))
    ones = np.ones(n) if w is None else w
    for region in sel.regions:
        if region.name not in tally.regions:
            continue
        mask = _region_mask(region, compiled, env, by_name, all_cuts, n, where)
        counted = sums(mask)
        tally.regions[region.name].add(0, counted)
        if not counted[0]:
            continue
        for spec in sel.histograms:
            if region.name in spec.regions:
                _fill_histogram(tally, region.name, spec, env, mask, ones, n, where)


def _accumulate(
    tally: _Tally, compiled: CompiledSample, arrays: Mapping[str, Any], n: int, where: str
) -> None:
    """Add one chunk of ``n`` events (``arrays``: branch -> values) to the tally; errors name
    ``where``.
    """
    env = _Env(arrays, compiled.definitions)
    try:
        w = _weights(compiled, env, n, where)
        sums = _Sums(w)
        masks = [
            _per_event(c.expression.evaluate(env), n, f"{where}: cut {c.name!r}", bool)
            for c in compiled.selection.cuts
        ]
        tally.total.add(
            0,
            (
                n,
                float(n) if w is None else float(w.sum()),
                float(n) if sums.w2 is None else float(sums.w2.sum()),
            ),
        )
        _count_cuts(tally, compiled, masks, sums, arrays, n)
        all_cuts = _count_n_minus_1(tally, masks, sums, n)
        _fill_regions(tally, compiled, env, masks, all_cuts, sums, w, n, where)
    except ExpressionError as exc:
        raise InputError(f"{where}: {exc}") from None


def _chunk_bounds(
    tree: Any, offsets: Sequence[int], start: int, stop: int, chunk: int
) -> list[int]:
    """Entry boundaries of the chunks of [start, stop): basket offsets about ``chunk`` apart."""
    inner = [o for o in offsets if start < o < stop]
    bounds = split_bounds([start, *inner, stop], stop, chunk) if stop > start else [start]
    bounds = [b for b in bounds if b >= start]
    if (
        is_rntuple(tree) and stop > start
    ):  # clusters can be large: read at most ``chunk`` entries at once
        bounds = sorted({*bounds, *range(start, stop, chunk)})
    return bounds


def _read_rntuple(tree: Any, branches: Sequence[str], lo: int, hi: int) -> dict[str, Any]:
    """One chunk of an RNTuple: flat and fixed-size fields as numpy, jagged ones stay awkward."""
    got = (
        tree.arrays(list(branches), entry_start=lo, entry_stop=hi, library="ak") if branches else {}
    )
    arrays: dict[str, Any] = {}
    for b in branches:
        try:
            arrays[b] = ak.to_numpy(got[b])
        except (ValueError, TypeError):
            arrays[b] = got[b]
    return arrays


def read_chunks(
    tree: Any, branches: Sequence[str], offsets: Sequence[int], start: int, stop: int, chunk: int
) -> Iterator[tuple[dict[str, Any], int]]:
    """(arrays, n) of ``branches`` in entry chunks at the basket ``offsets``: numpy for flat /
    fixed-size, awkward for jagged branches.
    """
    rntuple = is_rntuple(tree)
    jagged = (
        []
        if rntuple
        else [
            b
            for b in branches
            if isinstance(tree[b].interpretation, uproot.interpretation.jagged.AsJagged)
        ]
    )
    flat = [b for b in branches if b not in jagged]
    bounds = _chunk_bounds(tree, offsets, start, stop, chunk)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if rntuple:
            yield _read_rntuple(tree, branches, lo, hi), hi - lo
            continue
        arrays: dict[str, Any] = {}
        if flat:
            arrays.update(tree.arrays(flat, entry_start=lo, entry_stop=hi, library="np"))
        if jagged:
            got = tree.arrays(jagged, entry_start=lo, entry_stop=hi, library="ak")
            arrays.update({b: got[b] for b in jagged})
        yield arrays, hi - lo


def _run_range(
    selection: Selection,
    compiled: CompiledSample,
    tree: Any,
    offsets: Sequence[int],
    task: Task,
    is_data: bool,
    unblind: bool,
    chunk: int,
) -> SampleResult:
    """The result of one task on an open tree; errors name the file (and the item at fault)."""
    tally = _Tally(SampleResult.empty(selection, task.sample, is_data, unblind))
    where = f"{task.path} (sample {task.sample!r})"
    try:
        for arrays, n in read_chunks(
            tree, compiled.branches, offsets, task.entry_start, task.entry_stop, chunk
        ):
            try:
                _accumulate(tally, compiled, arrays, n, where)
            except InputError:
                raise
            # numpy / awkward refusing an operation: the selection's fault, not the file's
            except Exception as exc:
                raise InputError(
                    f"{where}: cannot evaluate the selection ({type(exc).__name__}: {exc})"
                ) from None
            tally.entries_read += n
    except InputError:
        raise
    except Exception as exc:  # decompression / deserialisation of a damaged file
        raise InputError(
            f"{task.path}: cannot read entries {task.entry_start}-{task.entry_stop} "
            f"of tree {selection.tree!r} ({type(exc).__name__}: {exc})"
        ) from None
    return tally.freeze((task.path,))


def run_task(
    selection: Selection,
    task: Task,
    is_data: bool,
    unblind: bool = False,
    chunk: int = DEFAULT_CHUNK,
) -> SampleResult:
    """Process one task; errors name the file (and the item at fault)."""
    compiled = compile_sample(selection, task.sample, is_data)
    handle, tree = open_tree(task.path, selection.tree)
    with handle:
        check_branches(task.path, tree, compiled.branches, selection.tree)
        offsets = basket_offsets(tree, compiled.branches)
        return _run_range(selection, compiled, tree, offsets, task, is_data, unblind, chunk)


def run_file(
    selection: Selection,
    job: FileJob,
    unblind: bool = False,
    step: int = DEFAULT_STEP,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[list[Task], dict[tuple[int, int], SampleResult]]:
    """Open a file once, split it into tasks and run those not in ``job.skip``.

    Returns the file's tasks and the results computed, keyed by (start, stop).
    """
    compiled = compile_sample(selection, job.sample, job.is_data)
    handle, tree = open_tree(job.path, selection.tree)
    with handle:
        check_branches(job.path, tree, compiled.branches, selection.tree)
        offsets = basket_offsets(tree, compiled.branches)
        tasks = file_tasks(job.sample, job.path, tree, offsets, step)
        done = {
            t.range: _run_range(selection, compiled, tree, offsets, t, job.is_data, unblind, chunk)
            for t in tasks
            if t.range not in job.skip
        }
    return tasks, done
