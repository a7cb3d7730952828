"""Small file helpers shared by every stage: atomic writes of text and JSON."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from na64stat.core.errors import InputError

__all__ = [
    "write_text_atomic",
    "write_json_atomic",
    "to_jsonable",
    "OutputSet",
    "output_error",
    "make_output_folder",
]


def to_jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays (and NaN/inf) into plain JSON values (NaN -> None).

    >>> to_jsonable({"a": np.array([1.0, np.nan])})
    {'a': [1.0, None]}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_error(path: str | os.PathLike[str], exc: OSError) -> InputError:
    """One readable line for a failed write (full disk, read-only or unwritable folder, a file in
    the way).
    """
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno == errno.EDQUOT:
        reason = "disk quota exceeded"
    else:
        reason = exc.strerror or str(exc)
    return InputError(f"cannot write {path}: {reason}")


def make_output_folder(folder: str | os.PathLike[str]) -> list[Path]:
    """Create ``folder`` (and parents); returns the folders created, deepest last.

    Errors name the folder.
    """
    target = Path(folder)
    missing = []
    probe = target
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            raise InputError(
                f"cannot create output folder {target}: {probe} is a broken symbolic link"
            )
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"cannot create output folder {target}: {probe} is not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {target}: {exc.strerror or exc}") from None
    return list(reversed(missing))


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove the folders :func:`make_output_folder` created (deepest first) if they are still
    empty.
    """
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a uniquely named temporary file and a rename.

    An interrupted run never leaves a half-written file; the parent folder is
    created if needed. A failed write (e.g. a full disk) leaves no temporary
    file and raises an InputError naming the path.
    """
    target = Path(path)
    created = make_output_folder(target.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        remove_empty_folders(created)
        if isinstance(exc, OSError):
            raise output_error(target, exc) from None
        raise
    return target


class OutputSet:
    """Files a verb writes, committed together: staged in a unique hidden folder, then renamed into
    place.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "out"
    >>> with OutputSet(out) as staged:
    ...     _ = staged.write_text("a.txt", "a")
    ...     _ = staged.write_json("b.json", {"b": 1})
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt', 'b.json']

    Inside the ``with`` block files go to a temporary folder
    (``tempfile.mkdtemp`` in the output folder: unique per process); on a
    clean exit each is renamed into place (renames need no disk space), on
    any error the temporary folder and any output folder the set created are
    removed, and an OSError (full disk, read-only folder) becomes one
    InputError naming the file.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.names: list[str] = []
        self._created: list[Path] = []
        self._tmp: Path | None = None

    def __enter__(self) -> OutputSet:
        self._created = make_output_folder(self.out_dir)
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix=".na64stat-", suffix=".tmp", dir=self.out_dir))
        except OSError as exc:
            remove_empty_folders(self._created)
            raise output_error(self.out_dir, exc) from None
        return self

    def path(self, name: str) -> Path:
        """Where to write file ``name`` (inside the staging folder)."""
        assert self._tmp is not None
        if name not in self.names:
            self.names.append(name)
        return self._tmp / name

    def write_text(self, name: str, text: str) -> Path:
        """Stage ``text`` as the file ``name`` of the set; returns its final path."""
        target = self.path(name)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise output_error(self.out_dir / name, exc) from None
        return self.out_dir / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Stage ``obj`` as indented JSON in the file ``name`` of the set; returns its final
        path.
        """
        return self.write_text(name, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._tmp is not None
        try:
            if exc_type is None:
                mode = 0o666 & ~_umask()
                for name in self.names:
                    staged = self._tmp / name
                    if staged.exists():
                        os.chmod(staged, mode)
                for name in self.names:
                    if (self._tmp / name).exists():
                        os.replace(self._tmp / name, self.out_dir / name)
        except OSError as error:
            shutil.rmtree(self._tmp, ignore_errors=True)
            remove_empty_folders(self._created)
            raise output_error(self.out_dir, error) from None
        shutil.rmtree(self._tmp, ignore_errors=True)
        if exc_type is not None:
            remove_empty_folders(self._created)
            if issubclass(exc_type, OSError) and exc is not None:
                raise output_error(getattr(exc, "filename", None) or self.out_dir, exc) from None


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (numpy-aware, NaN -> null) atomically."""
    return write_text_atomic(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")
