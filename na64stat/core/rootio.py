"""ROOT output with uproot: chunked, atomic and reproducible.

:class:`RootFileWriter` writes one ROOT file: a TTree filled chunk by chunk
(memory stays flat whatever the event count), optional extra small trees
(the per-spill exposure of real-style data) and a JSON metadata string
(a ``TObjString`` named ``metadata``). The file is written under a temporary
name and renamed on success, so an interrupted run leaves no partial file.

Reproducibility: ROOT files embed creation times and a UUID. The writer
derives the UUID from a caller-given key (the seed and the file name), given
to uproot through its public ``uuid_function``; uproot has no option for the
times, so once uproot has closed the file :func:`normalise_root_file` sets
every time stamp to ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention;
default 2026-01-01) and blanks the space uproot freed, following the ROOT file
format: the same seed gives byte-identical files.

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
import struct
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import uproot

from na64stat.core.errors import InputError
from na64stat.core.io import output_error, to_jsonable

__all__ = [
    "RootFileWriter",
    "COMPRESSIONS",
    "parse_compression",
    "normalise_root_file",
    "tdatime_code",
    "read_metadata",
    "write_root_objects",
]

#: Compression algorithms by name (level after a colon: ``"zstd:5"``).
COMPRESSIONS = {"zlib": uproot.ZLIB, "lz4": uproot.LZ4, "zstd": uproot.ZSTD, "lzma": uproot.LZMA}
_DEFAULT_LEVEL = {"zlib": 1, "lz4": 1, "zstd": 3, "lzma": 1}


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
        raise InputError(
            f"unknown compression {text!r}; choose from none, {', '.join(COMPRESSIONS)} "
            "(optionally ':LEVEL')"
        )
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
            return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).replace(
                tzinfo=None
            )
        except ValueError:
            raise InputError(f"SOURCE_DATE_EPOCH must be an integer, got {epoch!r}") from None
    return datetime.datetime(2026, 1, 1)


def tdatime_code(when: datetime.datetime) -> int:
    """ROOT's packed TDatime of a (naive, UTC) time, to the second.

    ``(year - 1995) << 26 | month << 22 | day << 17 | hour << 12 | minute << 6 | second``
    (ROOT ``TDatime::Set``; years 1995-2058).

    >>> tdatime_code(datetime.datetime(2026, 1, 1))
    2084700160
    """
    if not 1995 <= when.year < 2059:
        raise InputError(f"time stamp {when} outside the years 1995-2058 a ROOT TDatime holds")
    return (
        (when.year - 1995) << 26
        | when.month << 22
        | when.day << 17
        | when.hour << 12
        | when.minute << 6
        | when.second
    )


# The ROOT file format (https://root.cern/doc/master/classTFile.html, "ROOT file format";
# io/doc/TFile in the ROOT sources): a header at byte 0, then records that each start with a
# TKey header: Nbytes (i4), Version (i2), ObjLen (i4), Datime (u4), KeyLen (i2), Cycle (i2),
# SeekKey and SeekPdir (i4, or i8 for key versions > 1000), ClassName, Name, Title. Big-endian.
_KEY_DATIME = 10  #: offset of fDatime in a TKey header
_DIR_DATIMES = (
    2,
    6,
)  #: offsets of fDatimeC, fDatimeM in a TDirectory record (after its i2 version)
_DIRECTORY_CLASSES = (b"TDirectory", b"TDirectoryFile")


def _read(handle: BinaryIO, position: int, n: int) -> bytes:
    handle.seek(position)
    data = handle.read(n)
    if len(data) != n:
        raise ValueError(f"ROOT record at byte {position} runs past the end of the file")
    return data


def _file_header(handle: BinaryIO) -> dict[str, int]:
    """fBEGIN, fEND, fSeekFree, fNbytesFree, fNbytesName, fSeekInfo of the file header."""
    head = _read(handle, 0, 64)
    if head[:4] != b"root":
        raise ValueError("not a ROOT file")
    version, begin = struct.unpack(">ii", head[4:12])
    if version < 1000000:  # 32-bit seeks
        end, seek_free, nbytes_free, _, nbytes_name = struct.unpack(">iiiii", head[12:32])
        (seek_info,) = struct.unpack(">i", head[37:41])
    else:
        end, seek_free, nbytes_free, _, nbytes_name = struct.unpack(">qqiii", head[12:40])
        (seek_info,) = struct.unpack(">q", head[45:53])
    return {
        "begin": begin,
        "end": end,
        "seek_free": seek_free,
        "nbytes_free": nbytes_free,
        "nbytes_name": nbytes_name,
        "seek_info": seek_info,
    }


def _tstring(data: bytes, position: int) -> tuple[bytes, int]:
    """A ROOT TString (1-byte length, or 255 and a 4-byte length) and the position after it."""
    n = data[position]
    if n == 255:
        (n,) = struct.unpack(">i", data[position + 1 : position + 5])
        position += 4
    return data[position + 1 : position + 1 + n], position + 1 + n


def _key(handle: BinaryIO, position: int) -> tuple[int, bytes, int]:
    """(KeyLen, ClassName, SeekKey) of the TKey header at ``position``."""
    (version,) = struct.unpack(">h", _read(handle, position + 4, 2))
    (keylen,) = struct.unpack(">h", _read(handle, position + 14, 2))
    data = _read(handle, position, keylen)
    (seek_key,) = struct.unpack(
        ">q" if version > 1000 else ">i", data[18 : 26 if version > 1000 else 22]
    )
    class_name, _ = _tstring(data, 34 if version > 1000 else 26)
    return keylen, class_name, seek_key


def _directory_datimes(handle: BinaryIO, position: int) -> list[int]:
    """Byte offsets of every TDatime of the TDirectory record at ``position``: its own two, its keys
    list's, each key's (in the list and at its record) and, recursively, its subdirectories'.
    """
    (version,) = struct.unpack(">h", _read(handle, position, 2))
    big = version > 1000
    (seek_keys,) = struct.unpack(
        ">q" if big else ">i", _read(handle, position + (34 if big else 26), 8 if big else 4)
    )
    found = [position + o for o in _DIR_DATIMES]
    if seek_keys == 0:
        return found
    keylen, _, _ = _key(handle, seek_keys)
    found.append(seek_keys + _KEY_DATIME)
    (n_keys,) = struct.unpack(">i", _read(handle, seek_keys + keylen, 4))
    cursor = seek_keys + keylen + 4
    for _ in range(n_keys):
        length, class_name, seek_key = _key(handle, cursor)
        found += [cursor + _KEY_DATIME, seek_key + _KEY_DATIME]
        if class_name in _DIRECTORY_CLASSES:
            found += _directory_datimes(handle, seek_key + _key(handle, seek_key)[0])
        cursor += length
    return found


def _basket_datimes(path: Path) -> list[int]:
    """Byte offsets of the TDatime of every TTree basket (positions from uproot's reader:
    fBasketSeek).
    """
    found = []
    with uproot.open(path) as f:
        for name, class_name in f.classnames(recursive=True).items():
            if class_name == "TTree":
                for branch in f[name].itervalues(recursive=True):
                    found += [
                        int(seek) + _KEY_DATIME
                        for seek in branch.member("fBasketSeek")[: branch.num_baskets]
                    ]
            elif (
                "RNTuple" in class_name
            ):  # its pages and page lists are records this walk does not know
                raise ValueError(f"cannot normalise the time stamps of a {class_name} ({name})")
    return found


def _free_segments(handle: BinaryIO, header: Mapping[str, int]) -> list[tuple[int, int]]:
    """(first, last) byte of every free segment before the end of the file (the FreeSegments
    record).
    """
    position = header["seek_free"]
    keylen, _, _ = _key(handle, position)
    data = _read(handle, position + keylen, header["nbytes_free"] - keylen)
    segments, cursor = [], 0
    while cursor < len(data):
        (version,) = struct.unpack(">h", data[cursor : cursor + 2])
        fmt, size = (">qq", 16) if version > 1000 else (">ii", 8)
        first, last = struct.unpack(fmt, data[cursor + 2 : cursor + 2 + size])
        cursor += 2 + size
        if last < header["end"]:
            segments.append((first, last))
    return segments


def normalise_root_file(
    path: str | os.PathLike[str], when: datetime.datetime | None = None
) -> None:
    """Give a closed ROOT file written by uproot fixed time stamps and blank its free space, in
    place.

    Every TDatime (each TKey's fDatime, each TDirectory's fDatimeC and
    fDatimeM) becomes ``when`` (default: ``SOURCE_DATE_EPOCH``, else
    2026-01-01), found by following the ROOT file format from the header: the
    top directory, keys lists (recursively), the StreamerInfo and
    FreeSegments records, and the baskets of every TTree. Space uproot freed
    while writing (stale copies of moved records, with their times) is
    zeroed and marked as a gap with a negative byte count, as ROOT's
    ``TFile::MakeFree`` does. Objects are single records (histograms,
    strings) or TTrees; RNTuples are refused (their page records are not walked).

    Parameters
    ----------
    path:
        The ROOT file (rewritten in place; its size does not change).
    when:
        Naive UTC time to write.
    """
    code = struct.pack(">I", tdatime_code(when or _source_date()))
    target = Path(path)
    offsets = _basket_datimes(target)
    with target.open("r+b") as handle:
        header = _file_header(handle)
        offsets += [
            header["begin"] + _KEY_DATIME,
            header["seek_info"] + _KEY_DATIME,
            header["seek_free"] + _KEY_DATIME,
        ]
        offsets += _directory_datimes(handle, header["begin"] + header["nbytes_name"])
        for first, last in _free_segments(handle, header):
            handle.seek(first)
            n = last - first + 1
            handle.write((struct.pack(">i", -n) + bytes(n - 4)) if n >= 4 else bytes(n))
        for offset in sorted(set(offsets)):
            handle.seek(offset)
            handle.write(code)


def _unique_tmp(target: Path) -> Path:
    """``<unique folder>/.<name>.tmp`` next to ``target``: unique per process (two runs into one
    folder never share it), while the name stored inside the ROOT file stays the same
    (byte-identical files).
    """
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
    return {
        name: np.dtype((dtype, shape)) if shape else np.dtype(dtype)
        for name, (dtype, shape) in types_.items()
    }


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
            raise InputError(
                f"cannot create output folder {self.path.parent}: {exc.strerror}"
            ) from exc
        self._tmp = _unique_tmp(self.path)
        self._types = _branch_types(branches)
        self._metadata = dict(metadata or {})
        digest = hashlib.sha256((key or self.path.name).encode()).digest()
        self._uuid = uuid.UUID(bytes=digest[:16])
        try:
            self._file = uproot.recreate(
                self._tmp, compression=compression, uuid_function=lambda: self._uuid
            )
            self._tree = self._file.mktree(tree, self._types)
        except BaseException as exc:
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
            raise InputError(
                f"{self.path}: chunk branches differ (missing {sorted(missing)}, extra "
                f"{sorted(extra)})"
            )
        lengths = {len(v) for v in arrays.values()}
        if len(lengths) != 1:
            raise InputError(
                f"{self.path}: branches of one chunk have different lengths {sorted(lengths)}"
            )
        n = lengths.pop()
        if n == 0:
            return
        self._buffer.append(
            {name: np.asarray(arrays[name], dtype=self._types[name].base) for name in self._types}
        )
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
            normalise_root_file(self._tmp)
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
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (used when generation fails)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._file.close()
        finally:
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


def write_root_objects(
    path: str | os.PathLike[str], objects: Mapping[str, Any], *, key: str = ""
) -> Path:
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
        with uproot.recreate(tmp, uuid_function=lambda: file_uuid) as f:
            for name, obj in objects.items():
                f[name] = obj
        normalise_root_file(tmp)
        os.replace(tmp, target)
        _drop_tmp(tmp)
    except BaseException as exc:
        _drop_tmp(tmp)
        if isinstance(exc, OSError):
            raise output_error(target, exc) from None
        raise
    return target
