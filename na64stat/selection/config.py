"""Selection files (``selections/*.yaml``): cuts, regions, histograms, samples.

A selection file describes one analysis::

    name: na64e-invisible
    description: NA64e missing-energy search, signal box E_ECAL < 50 GeV
    tree: events
    weight: weight                 # event weight of MC samples (data: 1)
    definitions:                   # named expressions usable everywhere
      hcal_sum: sum(hcal_e)
    cuts:                          # applied in this order (the cutflow)
      - name: beam_momentum
        expression: abs(p_track - 100) < 3
        description: incoming momentum within 3 GeV of the beam
    regions:
      signal:
        where: ecal_e < 50 and hcal_sum < 1   # on top of the cuts
        cuts: all                  # or a list of cut names
        blinded: true              # data are not shown here unless unblinded
    histograms:
      - name: ecal_e
        expression: ecal_e         # or a list of two for a 2D histogram
        bins: {regular: [50, 0, 100]}         # or {variable: [...]}, {log: [n, lo, hi]}
        regions: [signal]          # default: every region
        weight: 1                  # multiplies the event weight
    samples:                       # optional; per-sample overrides (names may use * ?)
      data: {data: true, files: [data/*.root]}
      "signal_*": {weight: weight * 0.95}

Every expression is parsed when the file is loaded (see
:mod:`na64stat.selection.expressions`); any problem raises
:class:`~na64stat.core.errors.InputError` naming the file and the item.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from na64stat.core.errors import InputError
from na64stat.core.loaders import check_name, load_yaml
from na64stat.selection.expressions import Expression

__all__ = [
    "Cut",
    "Region",
    "AxisSpec",
    "HistogramSpec",
    "SampleSpec",
    "Selection",
    "load_selection",
    "parse_selection",
]


@dataclass(frozen=True)
class Cut:
    """One named cut of the cutflow."""

    name: str
    expression: Expression
    description: str = ""


@dataclass(frozen=True)
class Region:
    """A region: a subset of the cuts and an extra condition.

    ``blinded`` regions are not filled for data samples unless unblinded.
    """

    name: str
    cuts: tuple[str, ...]
    where: Expression | None = None
    blinded: bool = False
    description: str = ""


@dataclass(frozen=True)
class AxisSpec:
    """Binning of one histogram axis: ``regular`` (n, lo, hi), ``log`` (n, lo, hi) or ``variable``
    (edges).
    """

    kind: str
    edges: tuple[float, ...]
    label: str = ""

    @property
    def bin_edges(self) -> np.ndarray:
        """Bin edges (log: equal steps in log10)."""
        if self.kind == "variable":
            return np.asarray(self.edges, dtype=float)
        n, lo, hi = int(self.edges[0]), self.edges[1], self.edges[2]
        if self.kind == "log":
            return np.logspace(np.log10(lo), np.log10(hi), n + 1)
        return np.linspace(lo, hi, n + 1)


@dataclass(frozen=True)
class HistogramSpec:
    """A 1D or 2D histogram filled in some regions."""

    name: str
    variables: tuple[Expression, ...]
    axes: tuple[AxisSpec, ...]
    regions: tuple[str, ...]
    weight: Expression | None = None


@dataclass(frozen=True)
class SampleSpec:
    """Per-sample settings: input files (globs), data or MC, weight and definition overrides.

    ``per_file`` makes one sample per matched file, named by the file's stem
    (``mc/hadron.root`` -> ``hadron``); other entries may then override those
    by name or pattern.
    """

    name: str
    files: tuple[str, ...] = ()
    data: bool = False
    weight: Expression | None = None
    definitions: Mapping[str, Expression] = field(default_factory=dict)
    per_file: bool = False


@dataclass(frozen=True)
class Selection:
    """A parsed selection file (see the module docstring)."""

    name: str
    tree: str
    cuts: tuple[Cut, ...]
    regions: tuple[Region, ...]
    histograms: tuple[HistogramSpec, ...]
    definitions: Mapping[str, Expression]
    weight: Expression | None
    samples: tuple[SampleSpec, ...]
    description: str
    source: str
    digest: str

    def sample(self, name: str) -> SampleSpec:
        """Settings of sample ``name``: an exact entry, else the first pattern that matches, else
        defaults.

        ``per_file`` entries only provide files, not settings.
        """
        for spec in self.samples:
            if spec.name == name and not spec.per_file:
                return spec
        for spec in self.samples:
            if not spec.per_file and fnmatch.fnmatchcase(name, spec.name):
                return spec
        return SampleSpec(name=name)

    def definitions_for(self, sample: str) -> dict[str, Expression]:
        """Definitions with the sample's overrides applied."""
        return {**self.definitions, **self.sample(sample).definitions}

    def is_data(self, sample: str, data_samples: Sequence[str] = ()) -> bool:
        """Whether ``sample`` is data: named in ``data_samples`` or marked ``data: true``."""
        return sample in data_samples or self.sample(sample).data

    def weight_for(self, sample: str, is_data: bool = False) -> Expression | None:
        """Event weight of a sample: its override, else none for data, else the selection's."""
        spec = self.sample(sample)
        if spec.weight is not None:
            return spec.weight
        return None if (spec.data or is_data) else self.weight

    def expressions_for(self, sample: str, is_data: bool = False) -> list[Expression]:
        """Every expression evaluated for ``sample`` (for the branches to read)."""
        out = [c.expression for c in self.cuts]
        out += [r.where for r in self.regions if r.where is not None]
        for h in self.histograms:
            out += list(h.variables) + ([h.weight] if h.weight is not None else [])
        weight = self.weight_for(sample, is_data)
        return (
            out
            + ([weight] if weight is not None else [])
            + list(self.definitions_for(sample).values())
        )

    def branches_for(self, sample: str, is_data: bool = False) -> list[str]:
        """Branch names the sample needs (names that are not definitions), sorted."""
        names: set[str] = set()
        for e in self.expressions_for(sample, is_data):
            names |= e.names
        return sorted(names - set(self.definitions_for(sample)))


#: Most bins of one histogram axis, and of one histogram (product over its axes).
MAX_BINS = 1_000_000

_TOP_KEYS = {
    "name",
    "description",
    "tree",
    "weight",
    "definitions",
    "cuts",
    "regions",
    "histograms",
    "samples",
}


def _where(source: str, item: str) -> str:
    return f"{source}: {item}"


def _expect(value: Any, kind: type | tuple[type, ...], source: str, item: str) -> Any:
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(
            f"{_where(source, item)}: expected {names}, got {type(value).__name__} {value!r}"
        )
    return value


def _keys(mapping: Mapping[str, Any], allowed: set[str], source: str, item: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise InputError(
            f"{_where(source, item)}: unknown key(s) {unknown}; allowed: {sorted(allowed)}"
        )


def _expression(value: Any, source: str, item: str) -> Expression:
    return Expression.parse(value, where=_where(source, item))


def _axis(spec: Any, source: str, item: str) -> AxisSpec:
    spec = _expect(spec, dict, source, item)
    kinds = [k for k in ("regular", "log", "variable") if k in spec]
    _keys(spec, {"regular", "log", "variable", "label"}, source, item)
    if len(kinds) != 1:
        raise InputError(f"{_where(source, item)}: give exactly one of regular, log, variable")
    kind = kinds[0]
    values = _expect(spec[kind], list, source, f"{item}.{kind}")
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{_where(source, item)}: {kind} needs numbers, got {values!r}") from None
    if not all(np.isfinite(numbers)):
        raise InputError(f"{_where(source, item)}: {kind} needs finite numbers, got {values!r}")
    n_bins = len(numbers) - 1 if kind == "variable" else numbers[0]
    if n_bins > MAX_BINS:
        raise InputError(
            f"{_where(source, item)}: {n_bins:.0f} bins is more than the limit of {MAX_BINS} per "
            "axis"
        )
    if kind == "variable":
        if len(numbers) < 2 or np.any(np.diff(numbers) <= 0):
            raise InputError(
                f"{_where(source, item)}: variable edges must be increasing, got {values!r}"
            )
    else:
        if (
            len(numbers) != 3
            or numbers[0] < 1
            or numbers[0] != int(numbers[0])
            or not numbers[1] < numbers[2]
        ):
            raise InputError(
                f"{_where(source, item)}: {kind} needs [n_bins, low, high] with low < high, got "
                f"{values!r}"
            )
        if kind == "log" and numbers[1] <= 0:
            raise InputError(
                f"{_where(source, item)}: log binning needs a positive low edge, got {values!r}"
            )
    return AxisSpec(kind=kind, edges=numbers, label=str(spec.get("label", "")))


def _check_definitions(definitions: Mapping[str, Expression], source: str) -> None:
    """Definitions may use each other but not in a cycle."""
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise InputError(f"{source}: definitions form a cycle: {' -> '.join([*path, name])}")
        state[name] = 1
        for dep in sorted(definitions[name].names & set(definitions)):
            visit(dep, [*path, name])
        state[name] = 2

    for name in definitions:
        visit(name, [])


def _optional_expression(
    raw: Mapping[str, Any], key: str, source: str, item: str
) -> Expression | None:
    """The expression under ``raw[key]``, or None when the key is absent or null."""
    return _expression(raw[key], source, item) if raw.get(key) is not None else None


def _parse_cuts(content: Mapping[str, Any], source: str) -> list[Cut]:
    """The ``cuts`` list, in order; names unique."""
    cuts = []
    for i, raw in enumerate(_expect(content.get("cuts") or [], list, source, "cuts")):
        raw = _expect(raw, dict, source, f"cuts[{i}]")
        _keys(raw, {"name", "expression", "description"}, source, f"cuts[{i}]")
        name = str(_expect(raw.get("name"), str, source, f"cuts[{i}].name"))
        cuts.append(
            Cut(
                name,
                _expression(raw.get("expression"), source, f"cut {name!r}"),
                str(raw.get("description", "")),
            )
        )
    cut_names = [c.name for c in cuts]
    if len(set(cut_names)) != len(cut_names):
        raise InputError(f"{source}: cut names must be unique, got {cut_names}")
    return cuts


def _parse_region(name: str, raw: Any, cut_names: Sequence[str], source: str) -> Region:
    """One region: its cuts (default all, in order), ``where`` condition, blinding and
    description.
    """
    raw = _expect(raw or {}, dict, source, f"region {name!r}")
    _keys(raw, {"cuts", "where", "blinded", "description"}, source, f"region {name!r}")
    chosen = raw.get("cuts", "all")
    if chosen == "all":
        chosen = list(cut_names)
    chosen = [str(c) for c in _expect(chosen, list, source, f"region {name!r}.cuts")]
    unknown = [c for c in chosen if c not in cut_names]
    if unknown:
        raise InputError(
            f"{_where(source, f'region {name!r}')}: unknown cut(s) {unknown}; cuts are "
            f"{list(cut_names)}"
        )
    where = _optional_expression(raw, "where", source, f"region {name!r}")
    check_name(name, "region name", source)
    return Region(
        str(name),
        tuple(chosen),
        where,
        bool(raw.get("blinded", False)),
        str(raw.get("description", "")),
    )


def _parse_histogram(i: int, raw: Any, region_names: Sequence[str], source: str) -> HistogramSpec:
    """Histogram ``i``: one or two expressions with as many axes, its regions (default all) and
    weight.
    """
    raw = _expect(raw, dict, source, f"histograms[{i}]")
    _keys(
        raw,
        {"name", "expression", "bins", "regions", "weight", "label"},
        source,
        f"histograms[{i}]",
    )
    name = str(_expect(raw.get("name"), str, source, f"histograms[{i}].name"))
    check_name(name, "histogram name", source)
    item = f"histogram {name!r}"
    exprs = raw.get("expression")
    exprs = exprs if isinstance(exprs, list) else [exprs]
    bins = raw.get("bins")
    bins = bins if isinstance(bins, list) else [bins]
    if not 1 <= len(exprs) <= 2 or len(bins) != len(exprs):
        raise InputError(
            f"{_where(source, item)}: give one or two expressions and as many 'bins' entries"
        )
    variables = tuple(_expression(e, source, item) for e in exprs)
    axes = tuple(_axis(b, source, f"{item}.bins") for b in bins)
    total_bins = math.prod(
        len(a.edges) - 1 if a.kind == "variable" else int(a.edges[0]) for a in axes
    )
    if total_bins > MAX_BINS:
        raise InputError(
            f"{_where(source, item)}: {total_bins} bins is more than the limit of {MAX_BINS} per "
            "histogram"
        )
    in_regions = [
        str(r)
        for r in _expect(raw.get("regions", list(region_names)), list, source, f"{item}.regions")
    ]
    unknown = [r for r in in_regions if r not in region_names]
    if unknown:
        raise InputError(
            f"{_where(source, item)}: unknown region(s) {unknown}; regions are {list(region_names)}"
        )
    weight = _optional_expression(raw, "weight", source, f"{item}.weight")
    return HistogramSpec(name, variables, axes, tuple(in_regions), weight)


def _parse_sample(
    name: Any, raw: Any, definitions: Mapping[str, Expression], source: str
) -> SampleSpec:
    """One sample's files, data flag, weight and definitions (checked for cycles with the global
    ones).
    """
    check_name(str(name).replace("*", "x").replace("?", "x"), "sample name", source)
    raw = _expect(raw or {}, dict, source, f"sample {name!r}")
    _keys(raw, {"files", "data", "weight", "definitions", "per_file"}, source, f"sample {name!r}")
    files = raw.get("files", [])
    files = (
        [files]
        if isinstance(files, str)
        else _expect(files, list, source, f"sample {name!r}.files")
    )
    defs = {
        str(k): _expression(v, source, f"sample {name!r} definition {k!r}")
        for k, v in _expect(
            raw.get("definitions") or {}, dict, source, f"sample {name!r}.definitions"
        ).items()
    }
    weight = _optional_expression(raw, "weight", source, f"sample {name!r}.weight")
    spec = SampleSpec(
        str(name),
        tuple(str(f) for f in files),
        bool(raw.get("data", False)),
        weight,
        defs,
        bool(raw.get("per_file", False)),
    )
    _check_definitions({**definitions, **defs}, source)
    return spec


def parse_selection(content: Mapping[str, Any], source: str = "<selection>") -> Selection:
    """Build a :class:`Selection` from the parsed YAML mapping ``content``.

    Parameters
    ----------
    content:
        The selection file's mapping (see the module docstring for its keys).
    source:
        File name (or a label) that error messages name.

    Returns
    -------
    Selection
        The checked selection; any problem is an :class:`InputError` naming
        ``source`` and the item.

    >>> s = parse_selection({"tree": "events", "cuts": [{"name": "a", "expression": "x > 1"}]})
    >>> [c.name for c in s.cuts], [r.name for r in s.regions], s.branches_for("any")
    (['a'], ['all'], ['x'])
    """
    content = _expect(content, dict, source, "top level")
    _keys(content, _TOP_KEYS, source, "top level")
    tree = str(_expect(content.get("tree"), str, source, "tree"))
    raw_defs = _expect(content.get("definitions") or {}, dict, source, "definitions")
    definitions = {str(k): _expression(v, source, f"definition {k!r}") for k, v in raw_defs.items()}
    _check_definitions(definitions, source)
    cuts = _parse_cuts(content, source)
    raw_regions = _expect(content.get("regions") or {"all": {}}, dict, source, "regions")
    regions = [
        _parse_region(name, raw, [c.name for c in cuts], source)
        for name, raw in raw_regions.items()
    ]
    histograms = [
        _parse_histogram(i, raw, [r.name for r in regions], source)
        for i, raw in enumerate(
            _expect(content.get("histograms") or [], list, source, "histograms")
        )
    ]
    if len({h.name for h in histograms}) != len(histograms):
        raise InputError(f"{source}: histogram names must be unique")
    samples = [
        _parse_sample(name, raw, definitions, source)
        for name, raw in (_expect(content.get("samples") or {}, dict, source, "samples")).items()
    ]
    weight = _optional_expression(content, "weight", source, "weight")
    name = check_name(
        _expect(content.get("name", Path(source).stem), (str, int, float), source, "name"),
        "selection name",
        source,
    )
    return Selection(
        name=name,
        tree=tree,
        cuts=tuple(cuts),
        regions=tuple(regions),
        histograms=tuple(histograms),
        definitions=definitions,
        weight=weight,
        samples=tuple(samples),
        description=str(content.get("description", "")),
        source=source,
        digest=hashlib.sha256(
            json.dumps(content, sort_keys=True, default=str).encode()
        ).hexdigest(),
    )


def load_selection(path: str | os.PathLike[str]) -> Selection:
    """Read and parse a selection YAML file; errors name the file (and line for YAML syntax).

    The file goes through :func:`na64stat.core.loaders.load_yaml` (size, nesting
    and alias expansion bounded before anything is built).
    """
    content = load_yaml(path, "selection file")
    return parse_selection(content, str(path))
