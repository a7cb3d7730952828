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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import pyhf

from na64stat.core.distributed import dask_client
from na64stat.core.errors import InputError
from na64stat.core.io import OutputSet, to_jsonable, write_json_atomic
from na64stat.core.vocabulary import BAND_NAMES
from na64stat.inference.limits import METHODS, upper_limit
from na64stat.model.workspace import (
    load_workspace,
    read_json,
    validate_patchset,
    validate_spec,
    was_validated,
)

__all__ = [
    "SignalPoint",
    "ScanSettings",
    "ScanResult",
    "points_from_patchset",
    "load_scan_inputs",
    "compute_point",
    "run_scan",
]


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
        return f"{float(mass):.6g}" if mass is not None else self.name


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
        blob = json.dumps(
            [asdict(self), workspace, point.patch, point.name, point.metadata], sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: the content of ``limits.json``.

    Attributes
    ----------
    confidence_level, method_requested, n_toys, seed:
        The scan's settings.
    n_points, n_resumed:
        Points in the scan, and how many were read back from ``points/``.
    limits:
        Per point key (the mass in GeV as ``%.6g``, else the patch name): the
        point's record (``observed``, ``expected`` bands on mu, ``method``,
        status, ``metadata`` of its patch, ...).

    Examples
    --------
    >>> r = ScanResult.from_dict({"confidence_level": 0.9, "method_requested": "auto", "n_toys": 10, "seed": 0,
    ...                           "n_points": 1, "n_resumed": 0, "limits": {"0.01": {"method": "exact"}}})
    >>> r.methods, r.to_dict()["limits"]["0.01"]["method"]
    (['exact'], 'exact')
    """

    confidence_level: float
    method_requested: str
    n_toys: int
    seed: int
    n_points: int
    n_resumed: int
    limits: Mapping[str, Mapping[str, Any]]

    @property
    def methods(self) -> list[str]:
        """The methods the points used, sorted."""
        return sorted({str(r["method"]) for r in self.limits.values()})

    def to_dict(self) -> dict[str, Any]:
        """The ``limits.json`` content."""
        return {
            "confidence_level": self.confidence_level,
            "method_requested": self.method_requested,
            "n_toys": self.n_toys,
            "seed": self.seed,
            "n_points": self.n_points,
            "n_resumed": self.n_resumed,
            "limits": {k: dict(v) for k, v in self.limits.items()},
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any], source: str = "limits file") -> ScanResult:
        """Read a ``limits.json`` content (an :class:`InputError` naming ``source`` when it is not one)."""
        if not isinstance(content, Mapping) or not isinstance(content.get("limits"), dict):
            raise InputError(
                f"{source}: not a limits file (no 'limits' object; write one with 'na64stat limits')"
            )
        limits = content["limits"]
        return cls(
            confidence_level=content.get("confidence_level", math.nan),
            method_requested=str(content.get("method_requested", "")),
            n_toys=content.get("n_toys", 0),
            seed=content.get("seed", 0),
            n_points=int(content.get("n_points", len(limits))),
            n_resumed=int(content.get("n_resumed", 0)),
            limits=limits,
        )


def points_from_patchset(patchset: Mapping[str, Any]) -> list[SignalPoint]:
    """One :class:`SignalPoint` per patch of a PatchSet content (name, JSON patch, metadata).

    >>> [p.key for p in points_from_patchset({"patches": [{"metadata": {"name": "m0p01", "mass_gev": 0.01}, "patch": []}]})]
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
    """A file name for a point: the patch name made safe, plus a hash when characters were replaced."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def compute_point(
    workspace: dict[str, Any],
    point: SignalPoint,
    settings: ScanSettings,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Upper limit for one signal point; written to ``out_dir/points`` when given.

    pyhf checks the patched workspace against its schema unless this process already validated exactly it
    (:func:`~na64stat.model.workspace.was_validated`: read with ``load_scan_inputs`` or built here).
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
    record = {
        "name": point.name,
        "key": point.key,
        "digest": settings.digest(workspace, point),
        "metadata": point.metadata,
        **limit.to_dict(),
    }
    if out_dir is not None:
        write_json_atomic(Path(out_dir) / "points" / f"{_safe_name(point.name)}.json", record)
    return to_jsonable(record)


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
    ordered = [done[p.name] for p in points]
    keys = [r["key"] for r in ordered]
    if len(set(keys)) != len(keys):  # e.g. two models at the same mass: key by patch name
        for r in ordered:
            r["key"] = r["name"]
    result = ScanResult(
        confidence_level=settings.confidence_level,
        method_requested=settings.method,
        n_toys=settings.n_toys,
        seed=settings.seed,
        n_points=len(ordered),
        n_resumed=len(points) - len(todo),
        limits={r["key"]: r for r in ordered},
    )
    with OutputSet(out_dir) as staged:  # limits.json and limits.csv appear together or not at all
        staged.write_json("limits.json", result.to_dict())
        staged.write_text("limits.csv", _csv(ordered))
    return result


def _csv(records: list[dict[str, Any]]) -> str:
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
    for r in records:
        expected = r["expected"]
        writer.writerow(
            [
                r["key"],
                r["name"],
                r["metadata"].get("mass_gev", ""),
                _num(r["observed"]),
                *[_num(expected[b]) for b in BAND_NAMES],
                r["status_observed"],
                r["method"],
                r["confidence_level"],
                r["n_toys"] if r["n_toys"] is not None else "",
                r["seed"] if r["seed"] is not None else "",
            ]
        )
    return buffer.getvalue()


def _num(value: Any) -> str:
    return (
        "nan"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{float(value):.8g}"
    )
