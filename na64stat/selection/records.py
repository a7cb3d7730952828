"""Typed, frozen records a selection run hands on: counts, cutflows, per-region results.

A :class:`SampleResult` is what one task (an entry range of one file) or a
whole sample gives: its :class:`Cutflow`, a :class:`RegionResult` (yield and
histograms) per region that was looked at, and where the numbers came from.
Results of the same sample add up with :meth:`SampleResult.merge`; every
record turns into plain data with ``to_dict`` and back with ``from_dict``
(the task cache stores them as JSON, histograms in the UHI serialisation).

>>> c = Counts.zeros(2) + Counts(np.array([1, 2]), np.array([0.5, 1.0]), np.array([0.25, 0.5]))
>>> c.raw.tolist(), c.error.tolist()
([1, 2], [0.5, 0.7071067811865476])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np

from na64stat.selection.config import HistogramSpec, Selection

__all__ = ["Counts", "Cutflow", "RegionResult", "SampleResult", "SelectionRun", "new_histogram"]


def _int_array(value: Any, what: str) -> np.ndarray:
    """``value`` (a JSON number or list) as an int64 array; anything but integers is an error."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise ValueError(f"{what}: integer counts expected, got {array.dtype}")
    return array.astype(np.int64)


def _float_array(value: Any, what: str) -> np.ndarray:
    """``value`` (a JSON number or list) as a float64 array."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{what}: numbers expected, got {array.dtype}")
    return array.astype(np.float64)


@dataclass(frozen=True, eq=False)
class Counts:
    """Events passing one or several selections: raw numbers and sums of weights.

    Parameters
    ----------
    raw:
        Numbers of events (int64; shape ``()`` for one selection, ``(n,)`` for n).
    sum_w:
        Sums of event weights (same shape; data: equal to ``raw``).
    sum_w2:
        Sums of squared weights: the Monte-Carlo variance of ``sum_w``.
    """

    raw: np.ndarray
    sum_w: np.ndarray
    sum_w2: np.ndarray

    @classmethod
    def zeros(cls, n: int | None = None) -> Counts:
        """Nothing counted yet: shape ``(n,)``, or ``()`` for ``n=None``."""
        shape = () if n is None else (n,)
        return cls(np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape))

    @property
    def error(self) -> np.ndarray:
        """Monte-Carlo error of :attr:`sum_w`, sqrt(sum w^2)."""
        return np.sqrt(self.sum_w2)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.raw + other.raw, self.sum_w + other.sum_w, self.sum_w2 + other.sum_w2)

    def to_dict(self) -> dict[str, Any]:
        """``{"raw", "sum_w", "sum_w2"}`` as JSON numbers or lists."""
        return {
            "raw": self.raw.tolist(),
            "sum_w": self.sum_w.tolist(),
            "sum_w2": self.sum_w2.tolist(),
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> Counts:
        """Inverse of :meth:`to_dict`; ``ValueError`` when a value is not numbers of the same
        shape.
        """
        out = cls(
            _int_array(content["raw"], "raw"),
            _float_array(content["sum_w"], "sum_w"),
            _float_array(content["sum_w2"], "sum_w2"),
        )
        if not out.raw.shape == out.sum_w.shape == out.sum_w2.shape:
            raise ValueError("counts of different shapes")
        return out


@dataclass(frozen=True, eq=False)
class Cutflow:
    """The cutflow of a sample.

    Parameters
    ----------
    total:
        All events read (shape ``()``).
    after_cut:
        Events passing cuts 1..k, for every cut k (shape ``(n_cuts,)``).
    failed_with_nan:
        Events that fail cut k (having passed the cuts before it) with a NaN in
        a branch the cut reads (int64, ``(n_cuts,)``).
    n_minus_1:
        Events passing every cut but cut k (``(n_cuts,)``).
    """

    total: Counts
    after_cut: Counts
    failed_with_nan: np.ndarray
    n_minus_1: Counts

    @classmethod
    def zeros(cls, n_cuts: int) -> Cutflow:
        """The cutflow of no events."""
        return cls(
            Counts.zeros(), Counts.zeros(n_cuts), np.zeros(n_cuts, np.int64), Counts.zeros(n_cuts)
        )

    def __add__(self, other: Cutflow) -> Cutflow:
        return Cutflow(
            self.total + other.total,
            self.after_cut + other.after_cut,
            self.failed_with_nan + other.failed_with_nan,
            self.n_minus_1 + other.n_minus_1,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (see :meth:`Counts.to_dict`)."""
        return {
            "total": self.total.to_dict(),
            "after_cut": self.after_cut.to_dict(),
            "failed_with_nan": self.failed_with_nan.tolist(),
            "n_minus_1": self.n_minus_1.to_dict(),
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> Cutflow:
        """Inverse of :meth:`to_dict`."""
        return cls(
            Counts.from_dict(content["total"]),
            Counts.from_dict(content["after_cut"]),
            _int_array(content["failed_with_nan"], "failed_with_nan"),
            Counts.from_dict(content["n_minus_1"]),
        )


def new_histogram(spec: HistogramSpec) -> hist.Hist:
    """An empty weighted histogram for ``spec`` (axes ``x0``, ``x1``, ... labelled as the spec
    says).
    """
    axes = [
        hist.axis.Variable(a.bin_edges, name=f"x{i}", label=a.label or str(v))
        if a.kind != "regular"
        else hist.axis.Regular(
            int(a.edges[0]), a.edges[1], a.edges[2], name=f"x{i}", label=a.label or str(v)
        )
        for i, (a, v) in enumerate(zip(spec.axes, spec.variables))
    ]
    return hist.Hist(*axes, storage=hist.storage.Weight(), name=spec.name)


def _hist_from_uhi(content: dict[str, Any]) -> hist.Hist:
    """A histogram from its UHI dictionary, with its name and label (hist < 2.10 drops them
    otherwise).

    >>> h = hist.Hist(hist.axis.Regular(2, 0, 1, name="x0"), name="h", label="E")
    >>> _hist_from_uhi(h._to_uhi_()).name
    'h'
    """
    metadata = content.get("metadata", {})
    return hist.Hist(content, name=metadata.get("name"), label=metadata.get("label"))


@dataclass(frozen=True, eq=False)
class RegionResult:
    """Yield and histograms of one region.

    Parameters
    ----------
    counts:
        Events in the region (shape ``()``).
    histograms:
        Histogram name -> weighted histogram of the region's events.
    """

    counts: Counts
    histograms: Mapping[str, hist.Hist]

    def __add__(self, other: RegionResult) -> RegionResult:
        return RegionResult(
            self.counts + other.counts,
            {name: h + other.histograms[name] for name, h in self.histograms.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data; histograms as UHI dictionaries (``uhi.io.json.default`` writes their
        arrays).
        """
        return {
            "counts": self.counts.to_dict(),
            "histograms": {n: h._to_uhi_() for n, h in self.histograms.items()},
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> RegionResult:
        """Inverse of :meth:`to_dict` (histograms read with ``uhi.io.json.object_hook``)."""
        return cls(
            Counts.from_dict(content["counts"]),
            {str(n): _hist_from_uhi(d) for n, d in content["histograms"].items()},
        )


@dataclass(frozen=True, eq=False)
class SampleResult:
    """Counts and histograms of one sample (or an entry range of it); adds up with :meth:`merge`.

    Parameters
    ----------
    sample:
        Sample name.
    is_data:
        Data (unweighted, blinded regions not filled) or weighted Monte Carlo.
    cutflow:
        Cutflow, NaN losses and N-1 counts.
    regions:
        Region name -> :class:`RegionResult`, for every region looked at, in the
        selection's order (``blinded`` ones are left out).
    blinded:
        Regions not filled (data samples, unless unblinded).
    entries_read:
        Entries read from files to make this result (0 when it came from the cache).
    files:
        Files the result covers (resolved paths, each once).
    """

    sample: str
    is_data: bool
    cutflow: Cutflow
    regions: Mapping[str, RegionResult]
    blinded: tuple[str, ...] = ()
    entries_read: int = 0
    files: tuple[str, ...] = ()

    @classmethod
    def empty(cls, selection: Selection, sample: str, is_data: bool, unblind: bool) -> SampleResult:
        """The result of no events: zero counts, empty histograms, data regions blinded unless
        ``unblind``.
        """
        blinded = tuple(r.name for r in selection.regions if r.blinded and is_data and not unblind)
        regions = {
            r.name: RegionResult(
                Counts.zeros(),
                {h.name: new_histogram(h) for h in selection.histograms if r.name in h.regions},
            )
            for r in selection.regions
            if r.name not in blinded
        }
        return cls(sample, is_data, Cutflow.zeros(len(selection.cuts)), regions, blinded)

    @property
    def histograms(self) -> dict[str, Mapping[str, hist.Hist]]:
        """Region name -> histogram name -> histogram (regions looked at only)."""
        return {name: region.histograms for name, region in self.regions.items()}

    def merge(self, other: SampleResult) -> SampleResult:
        """Sum of two partial results of the same sample (``ValueError`` for another sample)."""
        if other.sample != self.sample:
            raise ValueError(f"cannot merge sample {other.sample!r} into {self.sample!r}")
        return SampleResult(
            self.sample,
            self.is_data,
            self.cutflow + other.cutflow,
            {name: region + other.regions[name] for name, region in self.regions.items()},
            self.blinded,
            self.entries_read + other.entries_read,
            tuple(dict.fromkeys(self.files + other.files)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (write with ``json.dumps(..., default=uhi.io.json.default)``)."""
        return {
            "sample": self.sample,
            "is_data": self.is_data,
            "cutflow": self.cutflow.to_dict(),
            "regions": {name: region.to_dict() for name, region in self.regions.items()},
            "blinded": list(self.blinded),
            "entries_read": self.entries_read,
            "files": list(self.files),
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> SampleResult:
        """Inverse of :meth:`to_dict`; ``ValueError`` / ``KeyError`` / ``TypeError`` for malformed
        content.
        """
        sample, is_data, entries, files = (
            content["sample"],
            content["is_data"],
            content["entries_read"],
            content["files"],
        )
        if not (
            isinstance(sample, str)
            and isinstance(is_data, bool)
            and type(entries) is int
            and all(isinstance(f, str) for f in files)
            and all(isinstance(b, str) for b in content["blinded"])
        ):
            raise ValueError("malformed sample result")
        return cls(
            sample,
            is_data,
            Cutflow.from_dict(content["cutflow"]),
            {str(n): RegionResult.from_dict(r) for n, r in content["regions"].items()},
            tuple(content["blinded"]),
            entries,
            tuple(files),
        )

    def layout(self) -> tuple[Any, ...]:
        """What the selection fixes about a result (sample, cuts, regions, histogram axes and
        storage): equal for two results that can be merged.
        """
        return (
            self.sample,
            self.is_data,
            self.blinded,
            self.cutflow.after_cut.raw.shape,
            [
                (
                    name,
                    region.counts.raw.shape,
                    [(n, h.axes, h.storage_type) for n, h in region.histograms.items()],
                )
                for name, region in self.regions.items()
            ],
        )


@dataclass(frozen=True)
class SelectionRun:
    """Results of :func:`~na64stat.selection.processing.run_selection`: one merged
    :class:`SampleResult` per sample.

    Parameters
    ----------
    selection:
        The selection that was run.
    samples:
        Sample name -> merged result.
    n_tasks, n_cached:
        Tasks of the run, and how many of them came from the cache.
    entries_read:
        Entries read from files (0 for a rerun with nothing changed).
    inputs:
        Sample name -> files, as given.
    """

    selection: Selection
    samples: dict[str, SampleResult]
    n_tasks: int
    n_cached: int
    entries_read: int = 0
    inputs: dict[str, list[str]] = field(default_factory=dict)
