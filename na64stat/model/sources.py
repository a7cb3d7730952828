"""Inputs of a workspace config: files relative to the config, read once, and the counts in them.

:class:`ConfigSources` resolves the file names a workspace config gives
(``cutflow.json`` and ``histograms.json`` of a selection, saved background
estimates), caches what it read for one build, and answers the questions the
builders (:mod:`na64stat.model.builders`) ask: a region's counts, a summed
histogram, the samples matching a pattern, the observed counts of a channel.
Errors name the config item (``where``).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from na64stat.core.errors import InputError
from na64stat.core.loaders import load_json

__all__ = ["ConfigSources", "numbers", "region_counts"]


def numbers(value: Any, where: str) -> tuple[float, ...]:
    """One number or a list of numbers as floats (an :class:`InputError` naming ``where``
    otherwise).

    >>> numbers([1, "2.5"], "x"), numbers(3, "y")
    ((1.0, 2.5), (3.0,))
    """
    items = value if isinstance(value, list) else [value]
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers, got {value!r}") from None
    if not out:
        raise InputError(f"{where}: empty")
    return out


def region_counts(
    cutflow: Mapping[str, Any], sample: str, region: str, where: str
) -> Mapping[str, float]:
    """The counts (``raw``, ``weighted``, ``weighted_error``) of ``sample`` in ``region`` of a
    cutflow.

    >>> cutflow = {"samples": {"data": {"regions": {"signal": {
    ...     "raw": 0, "weighted": 0.0, "weighted_error": 0.0}}}}}
    >>> region_counts(cutflow, "data", "signal", "demo")["raw"]
    0
    """
    samples = cutflow.get("samples", {})
    if sample not in samples:
        raise InputError(
            f"{where}: no sample {sample!r} in the selection output; samples are {sorted(samples)}"
        )
    regions = samples[sample].get("regions", {})
    if region not in regions:
        raise InputError(f"{where}: no region {region!r}; regions are {sorted(regions)}")
    value = regions[region]
    if value == "blinded":
        raise InputError(
            f"{where}: region {region!r} is blinded for {sample!r} (run the selection with "
            "--unblind)"
        )
    return value


def _path(base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: expected a file name, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else base / path


class ConfigSources:
    """The files of one workspace config, read once per build.

    Parameters
    ----------
    base:
        Folder relative file names are relative to (the config's).
    cfg:
        The parsed config (``exposure`` and ``mc_exposure`` give the default scale).
    """

    def __init__(self, base: Path, cfg: Mapping[str, Any]) -> None:
        self.base, self.cfg = base, cfg
        self._files: dict[Path, Any] = {}
        self._histograms: dict[Path, Any] = {}

    def json(self, value: Any, where: str) -> Any:
        """A JSON file named by ``value`` (a selection's ``cutflow.json``, an estimate), read
        once.
        """
        path = _path(self.base, value, where)
        if path not in self._files:
            self._files[path] = load_json(path, where)
        return self._files[path]

    def histograms(self, value: Any, where: str) -> Any:
        """A selection's ``histograms.json``, read once per build."""
        from na64stat.selection.outputs import load_histograms

        path = _path(self.base, value, f"{where}.histograms")
        if path not in self._histograms:
            self._histograms[path] = load_histograms(path)
        return self._histograms[path]

    def default_scale(self, where: str) -> float:
        """``exposure / mc_exposure`` (1 without ``mc_exposure``): what MC yields are scaled by."""
        if "mc_exposure" not in self.cfg:
            return 1.0
        try:
            return float(self.cfg["exposure"]) / float(self.cfg["mc_exposure"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise InputError(
                f"{where}: exposure and mc_exposure must be positive numbers"
            ) from None

    def histogram(
        self, spec: Mapping[str, Any], samples: Sequence[str], where: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Summed bin contents and variances of a selection histogram over ``samples`` (multi-bin
        shapes).
        """
        hists = self.histograms(spec.get("histograms"), where)
        values, variances = None, None
        for sample in samples:
            try:
                h = hists[sample][str(spec["region"])][str(spec["histogram"])]
            except KeyError as exc:
                raise InputError(
                    f"{where}: {spec.get('histograms')} has no histogram {exc} for sample "
                    f"{sample!r}"
                ) from None
            if h.ndim != 1:
                raise InputError(
                    f"{where}: multi-bin channels need 1D histograms, {spec['histogram']!r} has "
                    f"{h.ndim} axes"
                )
            v, w2 = np.asarray(h.values(), dtype=float), np.asarray(h.variances(), dtype=float)
            values = v if values is None else values + v
            variances = w2 if variances is None else variances + w2
        if values is None or variances is None:
            raise InputError(f"{where}: no samples for the histogram")
        return values, variances

    def histogram_samples(self, spec: Mapping[str, Any], where: str) -> list[str]:
        """The samples of a ``histograms.json`` matching ``spec["samples"]`` (or ``sample``; default
        ``data``).
        """
        names = spec.get("samples", spec.get("sample", "data"))
        patterns = [names] if isinstance(names, str) else list(names)
        available = self.histograms(spec.get("histograms"), where)
        matched = [n for n in available if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not matched:
            raise InputError(f"{where}: samples {patterns!r} match none of {sorted(available)}")
        return matched

    @staticmethod
    def match(cutflow: Mapping[str, Any], patterns: Any, where: str) -> list[str]:
        """The cutflow samples matching glob ``patterns`` (one or a list), in file order."""
        if isinstance(patterns, str):
            patterns = [patterns]
        names = [
            n
            for n in cutflow.get("samples", {})
            if any(fnmatch.fnmatchcase(n, p) for p in patterns)
        ]
        if not names:
            raise InputError(
                f"{where}: samples {patterns!r} match none of {sorted(cutflow.get('samples', {}))}"
            )
        return names

    def observed(self, value: Any, where: str) -> tuple[float, ...]:
        """Observed counts of a channel: numbers, a cutflow region's raw count or a histogram's
        bins.
        """
        counts = self._observed(value, where)
        bad = [c for c in counts if not (math.isfinite(c) and c >= 0 and float(c).is_integer())]
        if bad:
            raise InputError(f"{where}: observed counts must be whole numbers >= 0, got {bad}")
        return counts

    def _observed(self, value: Any, where: str) -> tuple[float, ...]:
        if isinstance(value, dict) and "histograms" in value:
            counts, _ = self.histogram(value, self.histogram_samples(value, where), where)
            return tuple(float(c) for c in counts)
        if isinstance(value, dict):
            cutflow = self.json(value.get("cutflow"), f"{where}.cutflow")
            region = region_counts(
                cutflow, str(value.get("sample", "data")), str(value.get("region")), where
            )
            return (float(region["raw"]),)
        return numbers(value, where)
