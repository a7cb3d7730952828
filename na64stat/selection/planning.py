"""Task planning: every sample's files split into entry ranges at basket boundaries.

A :class:`Task` is one sample's file and an entry range; a file's ranges are
about ``step`` entries long and start where every needed branch starts a new
basket (an RNTuple's clusters), so no basket is read twice.

>>> split_bounds([0, 300, 600, 900], 1000, 500)
[0, 600, 1000]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from na64stat.selection.config import Selection
from na64stat.selection.inputs import check_branches, is_rntuple, open_tree

__all__ = [
    "DEFAULT_STEP",
    "Task",
    "FileJob",
    "basket_offsets",
    "split_bounds",
    "file_tasks",
    "plan_tasks",
]

#: Entries per task (files are split into ranges of about this many entries).
DEFAULT_STEP = 500_000


@dataclass(frozen=True)
class Task:
    """One unit of work: a sample's file and an entry range [start, stop).

    ``file_size`` [bytes] and ``file_mtime_ns`` [ns] identify the file's
    version (the cache key includes them).
    """

    sample: str
    path: str
    entry_start: int
    entry_stop: int
    file_size: int
    file_mtime_ns: int

    @property
    def n_entries(self) -> int:
        """Entries of the range."""
        return self.entry_stop - self.entry_start

    @property
    def range(self) -> tuple[int, int]:
        """(entry_start, entry_stop)."""
        return self.entry_start, self.entry_stop


@dataclass(frozen=True)
class FileJob:
    """Work on one file of a sample; entry ranges in ``skip`` are already in the cache."""

    sample: str
    path: str
    is_data: bool
    branches: tuple[str, ...]
    skip: frozenset[tuple[int, int]] = frozenset()


def split_bounds(offsets: Sequence[int], n: int, step: int) -> list[int]:
    """Boundaries from basket offsets, about ``step`` entries apart (always 0 and ``n``)."""
    bounds = [0]
    for o in sorted(set(offsets) | {n}):
        if o - bounds[-1] >= step or (o == n and o > bounds[-1]):
            bounds.append(o)
    return bounds


def basket_offsets(tree: Any, branches: Sequence[str]) -> list[int]:
    """Entry numbers where every needed branch starts a new basket (0 and the entry count
    included).
    """
    n = int(tree.num_entries)
    if is_rntuple(tree):  # clusters play the part of baskets
        try:
            starts = [int(c.num_first_entry) for c in tree.cluster_summaries]
        except Exception:  # pragma: no cover - no cluster summaries
            starts = []
        return sorted({0, n, *(o for o in starts if 0 < o < n)})
    try:
        return (
            [int(o) for o in tree.common_entry_offsets(filter_name=list(branches))]
            if branches
            else [0, n]
        )
    except Exception:  # pragma: no cover - uproot could not align the baskets
        return [0, n]


def file_tasks(sample: str, path: str, tree: Any, offsets: Sequence[int], step: int) -> list[Task]:
    """Tasks of one open file: entry ranges of ~``step`` entries at the basket ``offsets``."""
    n = int(tree.num_entries)
    stat = os.stat(path)
    full = os.path.abspath(path)
    bounds = split_bounds(offsets, n, step) if n > 0 else [0, 0]
    return [
        Task(sample, full, a, b, stat.st_size, stat.st_mtime_ns)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]


def plan_tasks(
    selection: Selection,
    samples: Mapping[str, Sequence[str]],
    step: int = DEFAULT_STEP,
    data_samples: Sequence[str] = (),
) -> list[Task]:
    """Tasks for every sample's files, split at basket boundaries into ~``step`` entries.

    Opens each file once to check the tree and branches and read its basket layout.
    """
    tasks: list[Task] = []
    for sample, files in samples.items():
        branches = selection.branches_for(sample, selection.is_data(sample, data_samples))
        for path in files:
            handle, tree = open_tree(path, selection.tree)
            with handle:
                check_branches(path, tree, branches, selection.tree)
                tasks.extend(file_tasks(sample, path, tree, basket_offsets(tree, branches), step))
    return tasks
