"""Print a quick-start command of README.md, as printed there (CI runs it verbatim; no second copy
is kept).

    python3 .ci/readme_commands.py main    # the line after '# 1. ...' (the main job)
    python3 .ci/readme_commands.py tests   # the line after '# 2. the test suite'

The commands are the lines following those comments in the first fenced
block of the '## Quick start' section; anything else is an error (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

MARKERS = {"main": "# 1. ", "tests": "# 2. the test suite"}


def quick_start_commands(readme: Path) -> dict[str, str]:
    lines = readme.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index("## Quick start")
    except ValueError:
        raise SystemExit(f"{readme}: no '## Quick start' section") from None
    fence = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("```")), None)
    if fence is None:
        raise SystemExit(f"{readme}: no fenced block under '## Quick start'")
    end = next((i for i in range(fence + 1, len(lines)) if lines[i].startswith("```")), len(lines))
    block = lines[fence + 1 : end]
    commands = {}
    for name, marker in MARKERS.items():
        at = next((i for i, line in enumerate(block) if line.startswith(marker)), None)
        following = [line for line in block[at + 1 :] if line.strip()] if at is not None else []
        if not following or following[0].startswith("#"):
            raise SystemExit(
                f"{readme}: no command after a line starting with {marker!r} in the quick-start "
                "block"
            )
        commands[name] = following[0]
    return commands


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in MARKERS:
        raise SystemExit(f"usage: {sys.argv[0]} {'|'.join(MARKERS)}")
    print(quick_start_commands(Path(__file__).resolve().parents[1] / "README.md")[sys.argv[1]])
