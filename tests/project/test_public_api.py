"""The public API against its snapshot, tests/project/public_api.txt.

The snapshot lists, for every module of na64stat, each name of its ``__all__`` with its kind
(class, function, module or data); the stage packages (``na64stat.physics``, ...) are modules like
the others, so what they re-export is listed too. A module without ``__all__`` is listed as such,
with the public functions and classes it defines. A name added, removed or changed in kind fails
the test until the snapshot is regenerated, so an API change is always a visible diff:

    PYTHONPATH=. .venv/bin/python tests/project/test_public_api.py   # rewrites public_api.txt

(after an intended change; review ``git diff tests/project/public_api.txt`` and commit it with the
change).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("public_api.txt")
HEADER = [
    "# na64stat's public API: every module's __all__, one name a line with its kind.",
    "# Checked by tests/project/test_public_api.py; after an intended change regenerate with",
    "#     PYTHONPATH=. .venv/bin/python tests/project/test_public_api.py",
]


def _kind(obj: object) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj) or isinstance(obj, functools.partial):
        return "function"
    return "data"


def module_names() -> list[str]:
    """Every module of the na64stat package (imported from this checkout), sorted."""
    import na64stat

    names = ["na64stat"]
    for info in pkgutil.walk_packages(na64stat.__path__, prefix="na64stat."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.append(info.name)
    return sorted(names)


def api_lines() -> list[str]:
    """The snapshot's lines (without its header) for the code as it is now."""
    lines = []
    for name in module_names():
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        if exported is None:
            lines.append(f"{name} (no __all__)")
            own = [
                attr
                for attr, obj in vars(module).items()
                if not attr.startswith("_")
                and (inspect.isclass(obj) or inspect.isfunction(obj))
                and obj.__module__ == name
            ]
            lines.extend(f"{name}.{attr} {_kind(getattr(module, attr))}" for attr in sorted(own))
            continue
        missing = [attr for attr in exported if not hasattr(module, attr)]
        if missing:
            raise AssertionError(f"{name}.__all__ names what the module does not have: {missing}")
        lines.extend(f"{name}.{attr} {_kind(getattr(module, attr))}" for attr in sorted(exported))
    return lines


def snapshot_lines() -> list[str]:
    text = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_public_api_matches_the_snapshot():
    current, expected = api_lines(), snapshot_lines()
    if current != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected, current, "public_api.txt", "the code now", lineterm="", n=0
            )
        )
        raise AssertionError(
            "the public API differs from tests/project/public_api.txt (- snapshot, + code):\n"
            f"{diff}\nIf the change is intended, regenerate the snapshot with\n"
            "    PYTHONPATH=. .venv/bin/python tests/project/test_public_api.py\n"
            "and commit it with the change."
        )


def test_stage_packages_are_in_the_snapshot():
    stages = ["core", "physics", "simulation", "selection", "model", "inference", "results", "app"]
    listed = {line.split(" ", 1)[0].rsplit(".", 1)[0] for line in snapshot_lines()}
    listed |= {line.split(" ", 1)[0] for line in snapshot_lines() if line.endswith("(no __all__)")}
    assert {f"na64stat.{stage}" for stage in stages} <= listed


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    SNAPSHOT.write_text("\n".join([*HEADER, *api_lines()]) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(REPO)} ({len(snapshot_lines())} names)")
