"""Mass scans: a CLs upper limit for every signal patch of a background-only workspace.

Inputs are the form ATLAS, HEPData and na64stat's own workspaces use: a
background-only pyhf workspace plus either a pyhf PatchSet file or a list of
plain JSON-patch files (one signal point each, e.g. the HEPData sbottom
likelihood). Each point is computed by one task - in this process, on a
local Dask cluster (default for more than one point) or on a given Dask
scheduler - and written to ``OUT/points/<name>.json`` as soon as it is done,
so an interrupted scan resumes where it stopped: a point whose file exists
with the same settings is not recomputed. At the end ``OUT/limits.json``
(keyed by mass where the patches carry ``mass_gev``, else by patch name) and
``OUT/limits.csv`` are written atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import jsonpatch
import numpy as np
import pyhf
from numpy.typing import ArrayLike

from na64stat.core.distributed import dask_client
from na64stat.core.errors import InputError
from na64stat.core.io import OutputSet, to_jsonable, write_json_atomic
from na64stat.core.vocabulary import BAND_NAMES, BandName
from na64stat.inference.limits import METHODS, UpperLimit, upper_limit
from na64stat.model.workspace import (
    load_workspace,
    read_json,
    validate_patchset,
    validate_spec,
    was_validated,
)

__all__ = [
    "mass_key",
    "SignalPoint",
    "ScanSettings",
    "ScanPoint",
    "ScanResult",
    "points_from_patchset",
    "load_scan_inputs",
    "compute_point",
    "run_scan",
    "ClsCurve",
    "cls_curve",
]


def mass_key(mass_gev: float) -> str:
    """The ``limits.json`` key of a mass [GeV]: 6 significant digits (masses equal to them are one
    point).

    >>> mass_key(0.007200000000000001), mass_key(1.0)
    ('0.0072', '1')
    """
    return f"{float(mass_gev):.6g}"


@dataclass(frozen=True)
class SignalPoint:
    """One signal hypothesis: a JSON patch to the background-only workspace and its metadata."""

    name: str
    patch: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """limits.json key: the mass in GeV if the metadata has it, else the patch name."""
        mass = self.metadata.get("mass_gev")
        return mass_key(mass) if mass is not None else self.name


@dataclass(frozen=True)
class ScanSettings:
    """Everything that determines a point's result (its hash guards resumption)."""

    confidence_level: float = 0.9
    method: str = "auto"
    n_toys: int = 10_000
    seed: int = 0
    max_toys: int | None = None
    cls_accuracy: float = 0.005
    budget_s: float = 600.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0.0 < self.confidence_level < 1.0:
            raise InputError(f"confidence level must be in (0, 1), got {self.confidence_level}")

    def digest(self, workspace: dict[str, Any], point: SignalPoint) -> str:
        """sha256 of these settings, the workspace and the point: a stored result is reused only
        when it matches.
        """
        blob = json.dumps(
            [asdict(self), workspace, point.patch, point.name, point.metadata], sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _number(value: Any) -> float:
    """A number of a limits record as it is (an int stays an int); NaN for null or anything else."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _bands(values: Any) -> tuple[Any, ...]:
    """A record's per-band object (``expected``, ...) as a tuple in :data:`BAND_NAMES` order (None
    where missing).
    """
    values = values if isinstance(values, Mapping) else {}
    return tuple(values.get(b) for b in BAND_NAMES)


def _upper_limit(record: Mapping[str, Any]) -> UpperLimit:
    """The :class:`UpperLimit` of a limits record (``limits.json`` or ``points/<name>.json``;
    missing numbers NaN).
    """
    return UpperLimit(
        observed=_number(record.get("observed")),
        expected=tuple(_number(v) for v in _bands(record.get("expected"))),
        status_observed=record.get("status_observed", "ok"),
        status_expected=tuple(v or "ok" for v in _bands(record.get("status_expected"))),
        method=record.get("method", ""),
        confidence_level=_number(record.get("confidence_level")),
        n_toys=record.get("n_toys"),
        seed=record.get("seed"),
        n_evaluations=record.get("n_evaluations", 0),
        n_failed_fits=record.get("n_failed_fits", 0),
        observed_error=_number(record.get("observed_error")),
        expected_error=tuple(_number(v) for v in _bands(record.get("expected_error"))),
        method_reason=str(record.get("method_reason", "")),
        notes=tuple(record.get("notes", ())),
    )


@dataclass(frozen=True)
class ScanPoint:
    """One point of a scan: the limit on mu of one signal patch.

    Attributes
    ----------
    key:
        Its key in ``limits.json``: the mass in GeV as ``%.6g``, else (or where masses repeat) the
        patch name.
    name:
        The patch name.
    limit:
        The upper limit on mu (observed, expected bands, statuses, method, notes).
    metadata:
        The patch's metadata (``mass_gev``, ``signal_model``, ``reference_coupling``, ...).
    digest:
        The hash of the settings, workspace and patch the limit was computed for (resumption).

    Examples
    --------
    >>> p = ScanPoint.from_dict(
    ...     {"name": "m0p01", "metadata": {"mass_gev": 0.01}, "observed": 2.0}, "0.01")
    >>> p.mass_gev, p.limit.observed, p.to_dict()["key"]
    (0.01, 2.0, '0.01')
    """

    key: str
    name: str
    limit: UpperLimit
    metadata: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""

    @property
    def mass_gev(self) -> float | None:
        """The patch's mass [GeV] (its metadata's ``mass_gev``), None where it has none."""
        mass = self.metadata.get("mass_gev")
        return None if mass is None else float(mass)

    def expected(self, band: BandName) -> float:
        """The expected limit on mu of ``band`` (NaN where there is none)."""
        return self.limit.expected[BAND_NAMES.index(band)]

    def to_dict(self) -> dict[str, Any]:
        """The point's record in ``limits.json`` and ``points/<name>.json`` (NaN as None)."""
        record = {
            "name": self.name,
            "key": self.key,
            "digest": self.digest,
            "metadata": self.metadata,
            **self.limit.to_dict(),
        }
        return cast(dict[str, Any], to_jsonable(record))

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], key: str | None = None) -> ScanPoint:
        """A record of ``limits.json`` (under ``key``) or of ``points/``; missing numbers are
        NaN.
        """
        key = str(record.get("key", key)) if key is None else key
        metadata = record.get("metadata")
        return cls(
            key=key,
            name=str(record.get("name", key)),
            limit=_upper_limit(record),
            metadata=metadata if isinstance(metadata, Mapping) else {},
            digest=str(record.get("digest", "")),
        )


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: the content of ``limits.json``.

    Attributes
    ----------
    confidence_level, method_requested, n_toys, seed:
        The scan's settings.
    n_points, n_resumed:
        Points in the scan, and how many were read back from ``points/``.
    points:
        One :class:`ScanPoint` per signal patch, in the scan's order.

    Examples
    --------
    >>> r = ScanResult.from_dict({"confidence_level": 0.9, "method_requested": "auto",
    ...                           "n_toys": 10, "seed": 0, "n_points": 1, "n_resumed": 0,
    ...                           "limits": {"0.01": {"method": "exact"}}})
    >>> r.methods, r.point("0.01").limit.method
    (['exact'], 'exact')
    """

    confidence_level: float
    method_requested: str
    n_toys: int
    seed: int
    n_points: int
    n_resumed: int
    points: tuple[ScanPoint, ...]

    @property
    def methods(self) -> list[str]:
        """The methods the points used, sorted."""
        return sorted({str(p.limit.method) for p in self.points})

    def point(self, key: str) -> ScanPoint:
        """The point with ``limits.json`` key ``key`` (a KeyError when there is none)."""
        for p in self.points:
            if p.key == key:
                return p
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """The ``limits.json`` content."""
        return {
            "confidence_level": self.confidence_level,
            "method_requested": self.method_requested,
            "n_toys": self.n_toys,
            "seed": self.seed,
            "n_points": self.n_points,
            "n_resumed": self.n_resumed,
            "limits": {p.key: p.to_dict() for p in self.points},
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any], source: str = "limits file") -> ScanResult:
        """Read a ``limits.json`` content (an :class:`InputError` naming ``source`` when it is not
        one).
        """
        if not isinstance(content, Mapping) or not isinstance(content.get("limits"), Mapping):
            raise InputError(
                f"{source}: not a limits file (no 'limits' object; write one with 'na64stat "
                "limits')"
            )
        limits = content["limits"]
        return cls(
            confidence_level=content.get("confidence_level", math.nan),
            method_requested=str(content.get("method_requested", "")),
            n_toys=content.get("n_toys", 0),
            seed=content.get("seed", 0),
            n_points=int(content.get("n_points", len(limits))),
            n_resumed=int(content.get("n_resumed", 0)),
            points=tuple(
                ScanPoint.from_dict(r if isinstance(r, Mapping) else {}, str(k))
                for k, r in limits.items()
            ),
        )


def points_from_patchset(patchset: Mapping[str, Any]) -> list[SignalPoint]:
    """One :class:`SignalPoint` per patch of a PatchSet content (name, JSON patch, metadata).

    >>> patchset = {"patches": [{"metadata": {"name": "m0p01", "mass_gev": 0.01}, "patch": []}]}
    >>> [p.key for p in points_from_patchset(patchset)]
    ['0.01']
    """
    return [
        SignalPoint(p["metadata"]["name"], p["patch"], dict(p["metadata"]))
        for p in patchset["patches"]
    ]


def load_scan_inputs(
    workspace_path: Path, patch_paths: Sequence[Path]
) -> tuple[dict[str, Any], list[SignalPoint]]:
    """Read a background-only workspace and its signal patches.

    ``patch_paths`` is one pyhf PatchSet file, or any number of JSON-patch
    files. Everything is validated (:mod:`na64stat.model.workspace`): the pyhf
    schema, yields, PatchSet digests, and every patch must apply and build.
    """
    spec = load_workspace(workspace_path)
    points: list[SignalPoint] = []
    if not patch_paths:
        raise InputError("no signal patches given")
    for path in patch_paths:
        content = read_json(path, "patch file")
        if isinstance(content, dict) and "patches" in content:
            patchset = validate_patchset(content, spec, f"patchset {path}")
            for patch in patchset.patches:
                meta = dict(patch.metadata)
                meta.setdefault("values", list(patch.values))
                points.append(SignalPoint(name=patch.name, patch=list(patch.patch), metadata=meta))
        elif isinstance(
            content, list
        ):  # a plain JSON patch: checked here (PatchSets were, patch by patch)
            name = Path(path).stem.removeprefix("patch.")
            try:
                patched = jsonpatch.apply_patch(spec, content)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise InputError(
                    f"patch {name!r} does not apply to {workspace_path}: {exc}"
                ) from None
            validate_spec(patched, f"patch {path}", require_poi=True)
            points.append(SignalPoint(name=name, patch=content, metadata={}))
        else:
            raise InputError(
                f"{path} is neither a pyhf PatchSet nor a JSON patch (a list of operations)"
            )
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise InputError(
            f"duplicate patch names: {sorted({n for n in names if names.count(n) > 1})}"
        )
    return spec, points


def _safe_name(name: str) -> str:
    """A file name for a point: the patch name made safe, plus a hash when characters were
    replaced.
    """
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def compute_point(
    workspace: dict[str, Any],
    point: SignalPoint,
    settings: ScanSettings,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Upper limit for one signal point; written to ``out_dir/points`` when given.

    pyhf checks the patched workspace against its schema unless this process already validated
    exactly it (:func:`~na64stat.model.workspace.was_validated`: read with ``load_scan_inputs`` or
    built here).
    """
    spec = jsonpatch.apply_patch(workspace, point.patch)
    checked = not was_validated(spec)
    ws = pyhf.Workspace(spec, validate=checked)
    model = ws.model(validate=checked)
    limit = upper_limit(
        model,
        ws.data(model),
        settings.confidence_level,
        settings.method,
        settings.n_toys,
        settings.seed,
        max_toys=settings.max_toys,
        cls_accuracy=settings.cls_accuracy,
        budget_s=settings.budget_s,
    )
    record = ScanPoint(
        point.key, point.name, limit, point.metadata, settings.digest(workspace, point)
    ).to_dict()
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "points" / f"{_safe_name(point.name)}.json", record)
    return record


def _existing(out_dir: Path, point: SignalPoint, digest: str) -> dict[str, Any] | None:
    path = out_dir / "points" / f"{_safe_name(point.name)}.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
    ):  # unreadable, binary or not JSON: recompute the point
        return None
    return record if isinstance(record, dict) and record.get("digest") == digest else None


def _run_tasks(
    workspace: dict[str, Any],
    todo: list[SignalPoint],
    settings: ScanSettings,
    out_dir: Path,
    scheduler: str | None,
    n_workers: int,
    progress: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    if not todo:
        return []
    if scheduler is None and (n_workers <= 1 or len(todo) == 1):
        results = []
        for point in todo:
            results.append(compute_point(workspace, point, settings, str(out_dir)))
            progress(results[-1])
        return results
    from dask.distributed import as_completed

    with dask_client(scheduler, n_workers) as client:
        ws_future = client.scatter(workspace, broadcast=True)
        futures = [
            client.submit(compute_point, ws_future, p, settings, str(out_dir), pure=False)
            for p in todo
        ]
        results = []
        for future in as_completed(futures):
            results.append(future.result())
            progress(results[-1])
        return results


def run_scan(
    workspace: dict[str, Any],
    points: Iterable[SignalPoint],
    out_dir: Path,
    settings: ScanSettings = ScanSettings(),
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> ScanResult:
    """Limits for every point, resuming from ``out_dir/points``; writes limits.json and limits.csv.

    Returns
    -------
    ScanResult
        The content of limits.json (:meth:`ScanResult.to_dict`).
    """
    out_dir = Path(out_dir)
    points = list(points)
    done: dict[str, dict[str, Any]] = {}
    todo = []
    for point in points:
        record = _existing(out_dir, point, settings.digest(workspace, point))
        if record is None:
            todo.append(point)
        else:
            done[point.name] = record
    for record in _run_tasks(
        workspace, todo, settings, out_dir, scheduler, n_workers, progress or (lambda r: None)
    ):
        done[record["name"]] = record
    ordered = [ScanPoint.from_dict(done[p.name]) for p in points]
    keys = [p.key for p in ordered]
    if len(set(keys)) != len(keys):  # e.g. two models at the same mass: key by patch name
        ordered = [replace(p, key=p.name) for p in ordered]
    result = ScanResult(
        confidence_level=settings.confidence_level,
        method_requested=settings.method,
        n_toys=settings.n_toys,
        seed=settings.seed,
        n_points=len(ordered),
        n_resumed=len(points) - len(todo),
        points=tuple(ordered),
    )
    with OutputSet(out_dir) as staged:  # limits.json and limits.csv appear together or not at all
        staged.write_json("limits.json", result.to_dict())
        staged.write_text("limits.csv", _csv(ordered))
    return result


def _csv(points: Sequence[ScanPoint]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [
        "key",
        "name",
        "mass_gev",
        "observed",
        *[f"expected_{b}" for b in BAND_NAMES],
        "status_observed",
        "method",
        "confidence_level",
        "n_toys",
        "seed",
    ]
    writer.writerow(header)
    for p in points:
        limit = p.limit
        writer.writerow(
            [
                p.key,
                p.name,
                p.metadata.get("mass_gev", ""),
                _num(limit.observed),
                *[_num(v) for v in limit.expected],
                limit.status_observed,
                limit.method,
                limit.confidence_level,
                limit.n_toys if limit.n_toys is not None else "",
                limit.seed if limit.seed is not None else "",
            ]
        )
    return buffer.getvalue()


def _num(value: Any) -> str:
    return (
        "nan"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{float(value):.8g}"
    )


@dataclass(frozen=True)
class ClsCurve:
    """CLs against the signal strength at one signal point.

    Attributes
    ----------
    mu:
        The signal strengths tested.
    observed:
        Observed CLs at each.
    expected:
        Expected CLs of each band (:data:`~na64stat.core.vocabulary.BAND_NAMES`) at each.
    """

    mu: tuple[float, ...]
    observed: tuple[float, ...]
    expected: Mapping[str, tuple[float, ...]]


def cls_curve(
    workspace: dict[str, Any], point: SignalPoint, mu: ArrayLike, n_toys: int, seed: int
) -> ClsCurve:
    """CLs at each signal strength ``mu`` for one signal point (exact counting where it applies,
    else toys).

    Parameters
    ----------
    workspace : dict
        The background-only pyhf workspace (content).
    point : SignalPoint
        The signal patch.
    mu : sequence of float
        Signal strengths to test.
    n_toys, seed : int
        Toys per hypothesis and their seed, where toys are used.

    Returns
    -------
    ClsCurve
        Observed and expected CLs at each ``mu``.
    """
    from na64stat.inference.calculators import best_calculator
    from na64stat.inference.likelihood import Likelihood

    ws = pyhf.Workspace(jsonpatch.apply_patch(workspace, point.patch))
    model = ws.model()
    calc = best_calculator(Likelihood(model, ws.data(model)), n_toys=n_toys, seed=seed)
    mus = [float(m) for m in np.asarray(mu, dtype=float)]
    points = [calc.cls(m) for m in mus]
    return ClsCurve(
        tuple(mus),
        tuple(p.cls_obs for p in points),
        {b: tuple(p.cls_exp[i] for p in points) for i, b in enumerate(BAND_NAMES)},
    )
