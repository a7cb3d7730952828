"""The task cache of a selection run: every task's result and every file's split, as JSON files.

Keys hash the selection's content, the sample's settings and each file's
identity (resolved path, size, modification time) and entry range, so a rerun
with nothing changed reads no events, and a changed file or selection
recomputes exactly the tasks that depend on it. Entries are JSON (data only:
nothing in a cache file is ever executed), checked against the result layout
the selection gives; a corrupt, stale or foreign entry is ignored (recomputed).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any

import uhi.io.json as uhi_json

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.selection.config import Selection
from na64stat.selection.planning import Task
from na64stat.selection.records import SampleResult

__all__ = [
    "CACHE_FORMAT",
    "check_cache_dir",
    "task_key",
    "plan_key",
    "load_plan",
    "store_plan",
    "load_result",
    "store_result",
]

#: Version of the cache file layout; entries of another layout are ignored (recomputed).
CACHE_FORMAT = "na64stat-task-cache-2"
#: Largest cache file read [bytes] (a bigger one is not an entry of ours).
_MAX_BYTES = 256 * 1024**2


def task_key(selection: Selection, task: Task, is_data: bool, unblind: bool) -> str:
    """Cache key of one task's result: selection digest, sample settings, file identity and range,
    version.
    """
    spec = selection.sample(task.sample)
    payload = {
        "selection": selection.digest,
        "sample": [
            spec.name,
            spec.data,
            str(spec.weight),
            {k: str(v) for k, v in spec.definitions.items()},
        ],
        "file": [task.path, task.file_size, task.file_mtime_ns, task.entry_start, task.entry_stop],
        "data": is_data,
        "unblind": unblind,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def plan_key(path: str, tree: str, branches: Sequence[str], step: int) -> str:
    """Cache key of a file's split into tasks (file identity, tree, branches, step, version)."""
    try:
        stat = os.stat(path)
    except OSError:
        raise InputError(f"{path}: no such file") from None
    payload = [
        os.path.abspath(path),
        stat.st_size,
        stat.st_mtime_ns,
        tree,
        list(branches),
        step,
        __version__,
    ]
    return "plan-" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()


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
        raise InputError(
            f"cannot write the task cache folder {path} ({probe} is not writable); "
            "give --cache DIR or --no-cache"
        )


def _atomic_bytes(cache_dir: Path, name: str, blob: bytes) -> None:
    """Write a cache file through a unique temporary name and a rename; errors name the cache
    folder.
    """
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=cache_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, cache_dir / name)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InputError(
            f"cannot write the task cache {cache_dir}: {exc.strerror or exc} "
            "(give --cache DIR or --no-cache)"
        ) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _read_entry(cache_dir: Path, name: str, key: str, **hooks: Any) -> Any:
    """The ``content`` of a cache file of our format and key, or None (missing, unreadable,
    foreign).
    """
    with (cache_dir / name).open("rb") as handle:
        entry = json.loads(handle.read(_MAX_BYTES + 1).decode("utf-8"), **hooks)
    if (
        not isinstance(entry, dict)
        or entry.get("format") != CACHE_FORMAT
        or entry.get("key") != key
    ):
        return None
    return entry.get("content")


def _write_entry(cache_dir: Path, name: str, key: str, content: Any, **hooks: Any) -> None:
    """Write ``content`` as a cache file of our format and key."""
    entry = {"format": CACHE_FORMAT, "key": key, "version": __version__, "content": content}
    _atomic_bytes(cache_dir, name, json.dumps(entry, **hooks).encode())


def _task_from_row(row: Any) -> Task | None:
    """A :class:`Task` from its JSON row, or None when the row is not one."""
    sample, path, a, b, size, mtime = row
    if not (
        isinstance(sample, str)
        and isinstance(path, str)
        and all(type(v) is int for v in (a, b, size, mtime))
        and 0 <= a <= b
    ):
        return None
    return Task(sample, path, a, b, size, mtime)


def load_plan(cache_dir: Path | None, key: str) -> list[Task] | None:
    """A file's cached split into tasks, or None (missing, unreadable or not a plan)."""
    if cache_dir is None:
        return None
    try:
        rows = _read_entry(cache_dir, f"{key}.json", key)
        tasks = [_task_from_row(row) for row in rows]
        if not tasks or any(t is None for t in tasks):
            return None
        return [t for t in tasks if t is not None]
    except Exception:  # a corrupt or foreign file is ignored: the plan is recomputed
        return None


def store_plan(cache_dir: Path | None, key: str, tasks: Sequence[Task]) -> None:
    """Cache a file's split into tasks (nothing without a cache folder)."""
    if cache_dir is not None:
        _write_entry(cache_dir, f"{key}.json", key, [list(astuple(t)) for t in tasks])


def load_result(
    cache_dir: Path | None,
    key: str,
    selection: Selection,
    sample: str,
    is_data: bool,
    unblind: bool,
) -> SampleResult | None:
    """A task's cached result, or None (missing, unreadable, stale or not matching the selection).

    The entry's layout (cuts, regions, histograms with their axes and storage)
    must be the one the selection gives now.
    """
    if cache_dir is None:
        return None
    try:
        content = _read_entry(
            cache_dir, f"{key}.result.json", key, object_hook=uhi_json.object_hook
        )
        result = SampleResult.from_dict(content)
        if result.layout() != SampleResult.empty(selection, sample, is_data, unblind).layout():
            return None
        return result
    except Exception:  # a corrupt or foreign file is ignored: the task is recomputed
        return None


def store_result(cache_dir: Path | None, key: str, result: SampleResult) -> None:
    """Cache a task's result (nothing without a cache folder)."""
    if cache_dir is not None:
        _write_entry(
            cache_dir, f"{key}.result.json", key, result.to_dict(), default=uhi_json.default
        )
