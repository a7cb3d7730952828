"""One loader per kind of input file, and the checks on names that become paths.

Every file na64stat reads comes in through one of these functions, so a
binary, undecodable, empty, truncated, oversized or hostile file ends in one
:class:`~na64stat.core.errors.InputError` naming the file, never in a traceback:

* :func:`read_text`: bytes from disk, at most a size limit, strictly UTF-8,
  no NUL bytes (a binary file is named as such);
* :func:`load_yaml`: selection files and workspace configs; YAML's own
  aliases are bounded before anything is expanded: the document's tree,
  counted with every alias expanded (without expanding it), may hold at most
  :data:`MAX_YAML_NODES` nodes (a "billion laughs" document is refused in
  microseconds), recursive aliases and deep nesting are refused;
* :func:`load_json`: workspaces, patchsets, patches, limits, couplings,
  histograms and background estimates; nesting bounded (no RecursionError);
* :func:`open_root`: ROOT files with uproot, every exception uproot raises
  for a damaged file turned into one line.

:func:`check_name` guards names that become file names or ROOT keys
(selection, sample, region and histogram names).

The size limits are module constants (bytes); a caller with bigger files can
pass ``max_bytes``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from na64stat.core.errors import InputError

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_JSON_BYTES",
    "MAX_YAML_NODES",
    "MAX_NESTING",
    "read_text",
    "load_yaml",
    "load_json",
    "parse_json",
    "open_root",
    "check_name",
]

#: Largest YAML file (selection, workspace config) read, in bytes.
MAX_YAML_BYTES = 4 * 1024**2
#: Largest JSON file (workspace, patchset, limits, histograms) read, in bytes.
MAX_JSON_BYTES = 512 * 1024**2
#: Most nodes a YAML document may have with its aliases expanded.
MAX_YAML_NODES = 200_000
#: Deepest nesting of lists / mappings accepted in YAML and JSON.
MAX_NESTING = 100


def read_text(path: str | os.PathLike[str], what: str, *, max_bytes: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text of a file; missing, unreadable, empty, binary or oversized files are
    InputErrors naming it.

    >>> read_text("/nonexistent.yaml", "selection file")
    Traceback (most recent call last):
    ...
    na64stat.core.errors.InputError: selection file /nonexistent.yaml does not exist
    """
    p = Path(path)
    try:
        with p.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {p} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputError(f"{what} {p} is larger than the limit of {max_bytes} bytes")
    if not data.strip():
        raise InputError(f"{what} {p} is empty")
    if b"\x00" in data:
        raise InputError(f"{what} {p} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {p} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
        ) from None


# ---------------------------------------------------------------------------
# YAML


def _expanded_size(node: yaml.Node, limit: int, source: str) -> int:
    """Nodes of the document with every alias expanded, counted without expanding (memoised per
    node).
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise InputError(f"{source}: recursive YAML alias (an anchor used inside itself)")
        if depth > MAX_NESTING:
            raise InputError(f"{source}: YAML nested deeper than {MAX_NESTING} levels")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > limit:
                    break
        active.discard(key)
        if total > limit:
            raise InputError(
                f"{source}: the YAML document expands to more than {limit} nodes "
                "(aliases referring to aliases?); refusing to expand it"
            )
        sizes[key] = total
        return total

    return size(node, 0)


def load_yaml(
    path: str | os.PathLike[str],
    what: str,
    *,
    max_bytes: int = MAX_YAML_BYTES,
    max_nodes: int = MAX_YAML_NODES,
) -> Any:
    """Parse a YAML file safely (``yaml.SafeLoader``) with bounded size, nesting and alias
    expansion.

    Returns the parsed content (``None`` is refused as an empty file). Errors
    name the file and, for syntax errors, the line.
    """
    text = read_text(path, what, max_bytes=max_bytes)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError(f"{what} {path} is empty")
        _expanded_size(node, max_nodes, f"{what} {path}")
        content = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}:{where} malformed YAML: {problem}") from None
    except RecursionError:
        raise InputError(f"{what} {path}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    if content is None:
        raise InputError(f"{what} {path} is empty")
    return content


# ---------------------------------------------------------------------------
# JSON


def _check_depth(obj: Any, source: str) -> None:
    stack = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(f"{source}: JSON nested deeper than {MAX_NESTING} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def parse_json(text: str, source: str, **kwargs: Any) -> Any:
    """Parse JSON text; errors (syntax, deep nesting) name ``source``."""
    try:
        content = json.loads(text, **kwargs)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply") from None
    _check_depth(content, source)
    return content


def load_json(
    path: str | os.PathLike[str], what: str, *, max_bytes: int = MAX_JSON_BYTES, **kwargs: Any
) -> Any:
    """Parse a JSON file; missing, binary, empty, truncated or malformed files are InputErrors
    naming it.
    """
    return parse_json(read_text(path, what, max_bytes=max_bytes), f"{what} {path}", **kwargs)


# ---------------------------------------------------------------------------
# ROOT


def open_root(path: str | os.PathLike[str], what: str = "ROOT file") -> Any:
    """``uproot.open(path)`` with every failure as an InputError naming the file."""
    import uproot

    p = str(path)
    if not os.path.exists(p):
        raise InputError(f"{p}: no such file")
    if os.path.isdir(p):
        raise InputError(f"{p}: a folder, not a {what}")
    try:
        if os.path.getsize(p) == 0:
            raise InputError(f"{p}: empty file, not a {what}")
        return uproot.open(p)
    except InputError:
        raise
    except Exception as exc:  # uproot raises many types for damaged files
        text = str(exc).strip().splitlines()
        raise InputError(
            f"{p}: not a readable {what} ({type(exc).__name__}: {text[0][:200] if text else ''})"
        ) from None


# ---------------------------------------------------------------------------
# names


_BAD_CHARS = re.compile(r"[/\\\x00-\x1f\x7f;]")


def check_name(name: Any, what: str, source: str = "") -> str:
    r"""A name that becomes a file name or a ROOT key: non-empty, no ``/ \ ;``, control characters
    or ``..``.

    >>> check_name("signal_box", "region")
    'signal_box'
    >>> check_name("../x", "selection name", "sel.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    na64stat.core.errors.InputError: sel.yaml: selection name '../x' may not contain ...
    """
    prefix = f"{source}: " if source else ""
    text = str(name) if name is not None else ""
    if not text.strip():
        raise InputError(f"{prefix}{what} is empty")
    if _BAD_CHARS.search(text) or ".." in text or os.path.isabs(text) or text in (".",):
        raise InputError(
            f"{prefix}{what} {text!r} may not contain '/', '\\\\', ';', '..' or control characters"
        )
    if len(text) > 200:
        raise InputError(f"{prefix}{what} {text[:40]!r}... is longer than 200 characters")
    return text
