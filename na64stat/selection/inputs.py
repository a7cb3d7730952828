"""Inputs of a selection run: sample globs to files, and ROOT trees opened with errors that name
them.

>>> expand_inputs(["na64stat/selections/*.yaml"])[0]
'na64stat/selections/na64e-invisible.yaml'
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import uproot

from na64stat.core.errors import InputError
from na64stat.core.loaders import open_root
from na64stat.selection.config import Selection

__all__ = ["expand_inputs", "resolve_samples", "open_tree", "is_rntuple", "check_branches"]


def expand_inputs(patterns: Sequence[str], base: Path | None = None) -> list[str]:
    """Files matching the globs (relative ones against ``base``), sorted, each once.

    Parameters
    ----------
    patterns:
        Glob patterns (``**`` recursive) or plain file names.
    base:
        Folder relative patterns are taken against (``None``: the working folder).

    Returns
    -------
    list of str
        The files; a pattern that matches nothing is an :class:`InputError` naming it.
    """
    files: list[str] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) or base is None else str(base / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            raise InputError(
                f"input {pattern!r} matches no file (searched {os.path.abspath(full)})"
            )
        files.extend(matches)
    return list(dict.fromkeys(files))


def resolve_samples(
    selection: Selection,
    input_dir: str | os.PathLike[str] | None = None,
    extra: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """Sample name -> files, from the selection's ``samples`` (globs relative to ``input_dir``) and
    ``extra``.

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
        raise InputError(
            f"selection {selection.source}: no input files (give samples with files, or --sample "
            "NAME=GLOB)"
        )
    return out


#: uproot's RNTuple reader classes (``f[name] = arrays`` writes RNTuples with uproot >= 5.7); read
#: like a
#: TTree. The class is ROOT::RNTuple from uproot 5.5 on, ROOT::Experimental::RNTuple before.
_RNTUPLE = tuple(
    cls
    for cls in (
        getattr(uproot.models.RNTuple, name, None)
        for name in ("Model_ROOT_3a3a_RNTuple", "Model_ROOT_3a3a_Experimental_3a3a_RNTuple")
    )
    if isinstance(cls, type)
)


def is_rntuple(tree: Any) -> bool:
    """Whether an opened tree is an RNTuple (clusters instead of baskets, awkward reads)."""
    return isinstance(tree, _RNTUPLE)


def open_tree(path: str, tree_name: str) -> tuple[Any, Any]:
    """(file, tree) of a ROOT file, with errors naming the file and the tree.

    The tree may be a TTree or an RNTuple; the caller closes the file.
    """
    handle = open_root(path)
    try:
        tree = handle[tree_name]
    except Exception:
        keys = sorted({k.split(";")[0] for k in handle.keys()})  # noqa: SIM118 - uproot directory, not a dict
        handle.close()
        raise InputError(f"{path}: no tree {tree_name!r}; the file has {keys}") from None
    if not isinstance(tree, (uproot.TTree, *_RNTUPLE)):
        handle.close()
        raise InputError(
            f"{path}: {tree_name!r} is a {type(tree).__name__}, not a TTree or RNTuple"
        )
    return handle, tree


def check_branches(path: str, tree: Any, branches: Sequence[str], tree_name: str) -> None:
    """An :class:`InputError` naming the file and tree when a needed branch is missing."""
    missing = [b for b in branches if b not in tree]
    if missing:
        raise InputError(f"{path}: tree {tree_name!r} has no branch(es) {missing}")
