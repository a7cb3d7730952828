"""Event selection: a YAML selection file run over ROOT trees, into cutflows, region yields and
histograms.

``expressions`` (the safe expression language of cuts and variables),
``config`` (selection files: :func:`load_selection`), ``inputs`` (globs,
opening trees: :func:`resolve_samples`), ``planning`` (tasks at basket
boundaries), ``kernel`` (per-chunk cutflow, N-1, regions, histograms),
``records`` (frozen, mergeable results: :class:`SampleResult`,
:class:`SelectionRun`), ``cache`` (results per task on disk), ``executor``
(serial or Dask), ``processing`` (the driver :func:`run_selection`) and
``outputs`` (cutflow tables, JSON summaries and histogram files:
:func:`write_outputs`, :func:`load_histograms`; ROOT files through
:mod:`na64stat.core.rootio`).
"""

from __future__ import annotations

from na64stat.selection.config import Selection, load_selection, parse_selection
from na64stat.selection.inputs import resolve_samples
from na64stat.selection.outputs import load_histograms, summary, write_outputs
from na64stat.selection.processing import run_selection
from na64stat.selection.records import SampleResult, SelectionRun

__all__ = [
    "Selection",
    "load_selection",
    "parse_selection",
    "resolve_samples",
    "run_selection",
    "SampleResult",
    "SelectionRun",
    "summary",
    "write_outputs",
    "load_histograms",
]
