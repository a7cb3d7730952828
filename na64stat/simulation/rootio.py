"""ROOT output with uproot: chunked, atomic and reproducible.

:class:`RootFileWriter` writes one ROOT file: a TTree filled chunk by chunk
(memory stays flat whatever the event count), optional extra small trees
(the per-spill exposure of real-style data) and a JSON metadata string
(a ``TObjString`` named ``metadata``). The file is written under a temporary
name and renamed on success, so an interrupted run leaves no partial file.

Reproducibility: ROOT files embed a creation time and a UUID. The writer
derives the UUID from a caller-given key (the seed and the file name) and
fixes uproot's clock to ``SOURCE_DATE_EPOCH`` (the reproducible-builds
convention; default 2026-01-01), so the same seed gives byte-identical files.
uproot has no public option for the timestamps; :func:`frozen_uproot_clock`
swaps the ``datetime`` module seen by uproot's writing modules while a file
is written (a test guards against uproot changing this).

>>> import tempfile, os, numpy as np, uproot
>>> path = os.path.join(tempfile.mkdtemp(), "demo.root")
>>> with RootFileWriter(path, "events", {"x": ("f4", ())}, metadata={"seed": 1}, key="demo") as w:
...     w.extend({"x": np.arange(3, dtype=np.float32)})
>>> uproot.open(path)["events"].num_entries
3
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import tempfile
import threading
import types
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from na64stat.core.errors import InputError
from na64stat.core.io import output_error, to_jsonable

__all__ = [
    "RootFileWriter",
    "COMPRESSIONS",
    "parse_compression",
    "frozen_uproot_clock",
    "read_metadata",
    "write_root_objects",
]

#: Compression algorithms by name (level after a colon: ``"zstd:5"``).
COMPRESSIONS = {"zlib": uproot.ZLIB, "lz4": uproot.LZ4, "zstd": uproot.ZSTD, "lzma": uproot.LZMA}
_DEFAULT_LEVEL = {"zlib": 1, "lz4": 1, "zstd": 3, "lzma": 1}
_CLOCK_LOCK = threading.RLock()
_UPROOT_WRITING_MODULES = ("uproot.writing._cascade", "uproot.writing._cascadetree",
                           "uproot.writing._cascadentuple", "uproot.writing.writable")


def parse_compression(text: str) -> Any:
    """``"zlib"``, ``"lz4:4"``, ``"zstd"``, ``"lzma:2"`` or ``"none"`` -> an uproot compression.

    >>> parse_compression("zstd:5")
    ZSTD(5)
    >>> parse_compression("none") is None
    True
    """
    name, _, level = text.strip().lower().partition(":")
    if name in ("none", ""):
        return None
    if name not in COMPRESSIONS:
        raise InputError(f"unknown compression {text!r}; choose from none, {', '.join(COMPRESSIONS)} (optionally ':LEVEL')")
    try:
        value = int(level) if level else _DEFAULT_LEVEL[name]
    except ValueError:
        raise InputError(f"compression level must be an integer, got {text!r}") from None
    if not 0 < value <= 9 and not (name == "zstd" and 0 < value <= 22):
        raise InputError(f"compression level out of range in {text!r}")
    return COMPRESSIONS[name](value)


def _source_date() -> datetime.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).replace(tzinfo=None)
        except ValueError:
            raise InputError(f"SOURCE_DATE_EPOCH must be an integer, got {epoch!r}") from None
    return datetime.datetime(2026, 1, 1)


@contextlib.contextmanager
def frozen_uproot_clock(when: datetime.datetime | None = None) -> Iterator[None]:
    """While active, files written by uproot carry ``when`` as creation/modification time."""
    fixed = when or _source_date()

    class _Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> datetime.datetime:  # type: ignore[override]
            return fixed

    shim = types.SimpleNamespace(datetime=_Fixed, timezone=datetime.timezone, timedelta=datetime.timedelta)
    import importlib

    with _CLOCK_LOCK:
        patched = []
        for name in _UPROOT_WRITING_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:  # pragma: no cover - layout of a future uproot
                continue
            if getattr(module, "datetime", None) is datetime:
                module.datetime = shim  # type: ignore[attr-defined]
                patched.append(module)
        try:
            yield
        finally:
            for module in patched:
                module.datetime = datetime  # type: ignore[attr-defined]


def _unique_tmp(target: Path) -> Path:
    """``<unique folder>/.<name>.tmp`` next to ``target``: unique per process (two runs into one folder never
    share it), while the name stored inside the ROOT file stays the same (byte-identical files)."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise output_error(target, exc) from None
    return folder / f".{target.name}.tmp"


def _drop_tmp(tmp: Path) -> None:
    """Remove a temporary file of :func:`_unique_tmp` and its folder."""
    tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        tmp.parent.rmdir()


def _branch_types(types_: Mapping[str, tuple[str, tuple[int, ...]]]) -> dict[str, np.dtype]:
    return {name: np.dtype((dtype, shape)) if shape else np.dtype(dtype) for name, (dtype, shape) in types_.items()}


class RootFileWriter:
    """Write one ROOT file with a main TTree, filled in chunks.

    Parameters
    ----------
    path:
        Final file name; written as ``.<name>.tmp`` and renamed by :meth:`close`.
    tree:
        Name of the main TTree.
    branches:
        Branch name -> (numpy dtype string, per-event shape).
    metadata:
        JSON-serialisable facts, stored as the ``TObjString`` ``metadata``.
    key:
        String that fixes the file UUID (e.g. ``f"{seed}/{file name}"``).
    compression:
        uproot compression object or ``None``.
    basket_entries:
        Chunks are buffered and written as baskets of about this many entries,
        so many small chunks do not make many small baskets.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        tree: str,
        branches: Mapping[str, tuple[str, tuple[int, ...]]],
        *,
        metadata: Mapping[str, Any] | None = None,
        key: str = "",
        compression: Any = uproot.ZLIB(1),  # noqa: B008 -- an immutable settings object, made once at import
        basket_entries: int = 100_000,
    ) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create output folder {self.path.parent}: {exc.strerror}") from exc
        self._tmp = _unique_tmp(self.path)
        self._types = _branch_types(branches)
        self._metadata = dict(metadata or {})
        digest = hashlib.sha256((key or self.path.name).encode()).digest()
        self._uuid = uuid.UUID(bytes=digest[:16])
        self._clock = frozen_uproot_clock()
        self._clock.__enter__()
        try:
            self._file = uproot.recreate(self._tmp, compression=compression, uuid_function=lambda: self._uuid)
            self._tree = self._file.mktree(tree, self._types)
        except BaseException as exc:
            self._clock.__exit__(None, None, None)
            _drop_tmp(self._tmp)
            if isinstance(exc, OSError):
                raise output_error(self.path, exc) from None
            raise
        self.n_entries = 0
        self._basket_entries = int(basket_entries)
        self._buffer: list[dict[str, np.ndarray]] = []
        self._buffered = 0
        self._closed = False

    def extend(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one chunk (every branch, same length)."""
        if set(arrays) != set(self._types):
            missing, extra = set(self._types) - set(arrays), set(arrays) - set(self._types)
            raise InputError(f"{self.path}: chunk branches differ (missing {sorted(missing)}, extra {sorted(extra)})")
        lengths = {len(v) for v in arrays.values()}
        if len(lengths) != 1:
            raise InputError(f"{self.path}: branches of one chunk have different lengths {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            return
        self._buffer.append({name: np.asarray(arrays[name], dtype=self._types[name].base) for name in self._types})
        self._buffered += n
        self.n_entries += n
        if self._buffered >= self._basket_entries:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if len(self._buffer) == 1:
            chunk = {k: np.ascontiguousarray(v) for k, v in self._buffer[0].items()}
        else:
            chunk = {name: np.concatenate([b[name] for b in self._buffer]) for name in self._types}
        self._tree.extend(chunk)
        self._buffer.clear()
        self._buffered = 0

    def add_tree(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Write a small extra TTree in one go (e.g. per-spill EOT counts).

        (``file[name] = arrays`` would make an RNTuple in uproot >= 5.7.)
        """
        columns = {k: np.asarray(v) for k, v in arrays.items()}
        self._file.mktree(name, {k: v.dtype for k, v in columns.items()}).extend(columns)

    def close(self) -> Path:
        """Write the metadata, close the file and move it into place."""
        if self._closed:
            return self.path
        try:
            self._flush()
            self._metadata["n_entries"] = self.n_entries
            self._file["metadata"] = json.dumps(to_jsonable(self._metadata), sort_keys=True)
            self._file.close()
            os.replace(self._tmp, self.path)
            _drop_tmp(self._tmp)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._file.close()
            _drop_tmp(self._tmp)
            if isinstance(exc, OSError):
                raise output_error(self.path, exc) from None
            raise
        finally:
            self._closed = True
            self._clock.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (used when generation fails)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._file.close()
        finally:
            self._clock.__exit__(None, None, None)
            _drop_tmp(self._tmp)

    def __enter__(self) -> RootFileWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON ``metadata`` string of a file written by na64stat.

    Raises :class:`~na64stat.core.errors.InputError` naming the file when it has none.
    """
    try:
        with uproot.open(path) as f:
            if "metadata" not in f:
                raise InputError(f"{path}: no 'metadata' object (not written by na64stat?)")
            return json.loads(str(f["metadata"]))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read metadata: {exc}") from exc


def write_root_objects(path: str | os.PathLike[str], objects: Mapping[str, Any], *, key: str = "") -> Path:
    """Write histograms (or anything uproot can write) under their keys, atomically.

    Keys may contain ``/`` for folders, e.g. ``"data/signal/ecal_e"``;
    boost-histogram / hist objects become TH1D / TH2D (with sum of weights
    squared for weighted storage).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {target.parent}: {exc.strerror}") from exc
    tmp = _unique_tmp(target)
    file_uuid = uuid.UUID(bytes=hashlib.sha256((key or target.name).encode()).digest()[:16])
    try:
        with frozen_uproot_clock(), uproot.recreate(tmp, uuid_function=lambda: file_uuid) as f:
            for name, obj in objects.items():
                f[name] = obj
        os.replace(tmp, target)
        _drop_tmp(tmp)
    except BaseException as exc:
        _drop_tmp(tmp)
        if isinstance(exc, OSError):
            raise output_error(target, exc) from None
        raise
    return target
