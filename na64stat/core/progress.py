"""Progress and diagnostics: the ``na64stat`` logger and a progress bar that also works without a
terminal.

Results go to stdout (the command line prints them); everything else -
progress, step summaries, notes - goes through the ``na64stat`` logger, which
the command line sends to stderr (:func:`configure_logging`). A library user
sees nothing unless they configure logging themselves.

:class:`Progress` is a tqdm bar on stderr when stderr is a terminal; otherwise
(a log file, CI) it writes a line per item (:meth:`Progress.item`, e.g. one per
mass point) and, for counts, at most one line every ``interval`` seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["logger", "Progress", "configure_logging", "point_line"]

#: The package's logger: progress and diagnostics (stderr from the command line).
logger = logging.getLogger("na64stat")


class _StderrHandler(logging.Handler):
    """Writes records to the *current* ``sys.stderr`` (test runners swap it), through tqdm so a bar
    stays intact.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``na64stat`` logger's records to stderr as plain lines (idempotent)."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Progress of one step: ``update(n)`` for counts, ``item(text)`` for finished items (a mass
    point).

    On a terminal a tqdm bar on stderr (left behind by nothing: it clears when
    closed). Elsewhere no bar: each ``item`` is logged as a line, and counts
    are logged at most every ``interval`` seconds (``desc: done/total unit``).
    A context manager; also callable as ``progress(n)`` (the library's
    progress callbacks).
    """

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str = "",
        *,
        interval: float = 5.0,
        terminal: bool | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.done = 0.0
        self.items = 0
        self._last = time.monotonic()
        self._bar = None
        if (
            terminal is None
        ):  # a bar on a terminal, unless the logger was set above INFO (na64stat -q)
            terminal = _is_terminal(sys.stderr) and logger.level <= logging.INFO
        if terminal:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit or "it",
                unit_scale=bool(unit),
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def __call__(self, n: float) -> None:
        """The same as :meth:`update`."""
        self.update(n)

    def update(self, n: float) -> None:
        """Count ``n`` more units as done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            if self.total:
                logger.info(
                    f"  {self.desc}: {100 * self.done / self.total:.0f}% of {self.total:.3g} "
                    f"{self.unit}".rstrip()
                )
            else:
                logger.info(f"  {self.desc}: {self.done:.4g} {self.unit}".rstrip())

    def item(self, text: str, n: float = 1) -> None:
        """One item done (e.g. a mass point): a bar step on a terminal, else a log line ``desc [i/N]
        text``.
        """
        self.items += 1
        self.done += n
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(n)
            return
        self._last = time.monotonic()
        of = f"/{self.total:g}" if self.total else ""
        logger.info("  %s [%d%s] %s", self.desc, self.items, of, text)

    def close(self) -> None:
        """End the progress display."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def point_line(record: dict[str, Any]) -> str:
    """One line for a finished limit point (progress): ``m = 0.01 GeV: mu < 2.41 (toys, ok)``."""
    mass = record.get("metadata", {}).get("mass_gev")
    what = (
        f"m = {float(mass):g} GeV"
        if mass is not None
        else str(record.get("key", record.get("name")))
    )
    observed = record.get("observed")
    value = f"{observed:.4g}" if isinstance(observed, (int, float)) else "nan"
    return f"{what}: mu < {value} ({record.get('method')}, {record.get('status_observed')})"
