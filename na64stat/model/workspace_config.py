"""Declarative workspace descriptions (``workspaces/*/config.yaml``) ->
:class:`WorkspaceDescription`.

A config names the channels (regions) with their observed counts and
background samples, and the signal points::

    name: na64e-invisible-2016-2018
    description: ...
    setup: na64e-invisible
    exposure: 2.84e11                    # EOT / MOT of the result
    publication: PRL 123 (2019) 121801
    assumptions: [...]                   # what is not a published number
    channels:
      - name: signal_box
        # number(s), {cutflow: FILE, sample: data, region: signal},
        # or {histograms: FILE, sample: data, region: R, histogram: H} (multi-bin)
        observed: 0
        samples:
          - name: background
            # one of:
            yield: {value: 0.53, error: 0.17}           # a number with its uncertainty (normsys)
            # estimate: FILE.json                       # a saved BackgroundEstimate
            # template: {cutflow: FILE, samples: [hadron, "beam_*"], region: signal, scale: 0.00176}
            # abcd: {cutflow: FILE, sample: data, regions: {A: signal, B: ..., C: ..., D: ...}}
            # tail_fit: {histograms: FILE, sample: data, region: R, histogram: H, box: [0, 50],
            #            fit_range: [0, 150], shape: exponential, alternatives: [linear]}
            # shape: {histograms: FILE, samples: [...], region: R, histogram: H, scale: ...}
            #        (multi-bin)
            modifiers: []                # extra pyhf modifiers
    signal:
      channel: signal_box
      model: dark_photon                 # or lmutau (coupling e_mu), any registered model
      coupling: 1.0e-4                   # coupling the yields are computed (or were simulated) at
      # patches per mass at their own reference coupling, where they expect ~3 events (mu ~ 1
      # near the limit; the POI bounds go into the measurement). Default: true for physics
      # yields (masses, couplings), false for from_selection (all at the simulated `coupling`)
      # normalise: true
      # physics yields only: a flat override; absent (default): the computed per-mass
      # efficiency (na64stat.physics.efficiencies.signal_efficiency)
      # efficiency: 0.6
      efficiency_uncertainty: 0.1        # relative, a normsys on the signal
      exposure_uncertainty: 0.01         # relative, a lumi modifier on the signal
      masses: [0.001, 0.01, 0.1]         # physics yields: eq. (57) via na64stat.physics
      couplings: [...]                   # visible mode: one patch per (mass, coupling)
      # or from_selection: {cutflow: FILE, region: signal, scale: ...}  (samples signal_m<MeV>MeV;
      #    with histograms: FILE and histogram: H, the signal's histogram in the region: multi-bin)

Relative paths are relative to the config file. Template and selection
signal yields are scaled by ``scale`` (default ``exposure / mc_exposure``).

The files are read by :class:`~na64stat.model.sources.ConfigSources`; each
background kind and signal source has its builder in
:mod:`na64stat.model.builders`. Physics signal yields (``masses``) come from
the ``signal_yield`` function the caller passes (default
:func:`na64stat.simulation.signal_yields.expected_signal_events`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from na64stat.core.errors import InputError
from na64stat.core.loaders import load_yaml
from na64stat.model.builders import (
    SignalContext,
    SignalSet,
    background_sample,
    build_signals,
    point_signal_strength,
)
from na64stat.model.sources import ConfigSources, numbers
from na64stat.model.workspace import Channel, WorkspaceDescription, poi_upper_bound
from na64stat.physics.models import get_model, model_names
from na64stat.simulation.setups import get_simulation_setup
from na64stat.simulation.signal_yields import SignalYield, expected_signal_events

__all__ = ["load_workspace_config", "parse_workspace_config"]

_KEYS = {
    "name",
    "description",
    "setup",
    "exposure",
    "mc_exposure",
    "exposure_unit",
    "publication",
    "hepdata",
    "assumptions",
    "sources",
    "channels",
    "signal",
    "parameters",
}


def _checked_config(cfg: Any, source: str) -> dict[str, Any]:
    """The config as a dict with known keys, a known setup and numeric exposures."""
    if not isinstance(cfg, dict):
        raise InputError(f"{source}: a workspace config must be a mapping")
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    get_simulation_setup(str(cfg.get("setup", "")))
    cfg = dict(cfg)
    for key in (
        "exposure",
        "mc_exposure",
    ):  # YAML 1.1 reads 2.84e11 (no dot in the mantissa) as a string
        if key in cfg:
            try:
                cfg[key] = float(cfg[key])
            except (TypeError, ValueError):
                raise InputError(f"{source}: {key} must be a number, got {cfg[key]!r}") from None
    return cfg


def _channel(sources: ConfigSources, raw: Mapping[str, Any], index: int, source: str) -> Channel:
    where = f"{source}: channel {raw.get('name', index)!r}"
    name = str(raw.get("name", ""))
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise InputError(f"{where}: channel names need letters, digits and _ only")
    observed = sources.observed(raw.get("observed"), f"{where}.observed")
    samples = tuple(
        background_sample(sources, s, name, f"{where}, sample {s.get('name', j)!r}")
        for j, s in enumerate(raw.get("samples") or [])
    )
    if not samples:
        raise InputError(f"{where}: no background samples")
    return Channel(name, observed, samples)


def _signal_context(
    raw: Mapping[str, Any],
    channels: Sequence[Channel],
    cfg: Mapping[str, Any],
    source: str,
    signal_yield: SignalYield | None,
) -> SignalContext:
    """Channel, model and reference coupling of the ``signal`` section, checked."""
    where = f"{source}: signal"
    channel = str(raw.get("channel", channels[0].name))
    if channel not in [c.name for c in channels]:
        raise InputError(f"{where}: unknown channel {channel!r}")
    model = str(raw.get("model", "dark_photon"))
    if model not in model_names():
        raise InputError(f"{where}: model must be one of {', '.join(model_names())}, got {model!r}")
    coupling = numbers(raw.get("coupling", 1e-4), f"{where}.coupling")[0]
    if not (math.isfinite(coupling) and coupling > 0):
        raise InputError(
            f"{where}.coupling must be a finite positive number, got {raw.get('coupling')!r}"
        )
    setup = str(cfg.get("setup", ""))
    common = {
        "setup": setup,
        "signal_model": model,
        "coupling_name": get_model(model).coupling_name,
        "reference_coupling": coupling,
    }
    normalise = raw.get(
        "normalise", "from_selection" not in raw
    )  # a simulation keeps its own coupling by default
    if not isinstance(normalise, bool):
        raise InputError(f"{where}.normalise must be true or false, got {normalise!r}")
    return SignalContext(
        setup,
        channel,
        model,
        coupling,
        float(cfg.get("exposure", 0.0)),
        where,
        signal_yield,
        common,
        normalise,
    )


def _signal_modifiers(raw: Mapping[str, Any], parameters: list[Any]) -> list[Any]:
    """The signal's modifiers: the config's, a lumi modifier for the exposure uncertainty (its
    parameter appended to ``parameters``) and a normsys for the efficiency uncertainty.
    """
    modifiers = list(raw.get("modifiers", []))
    if raw.get("exposure_uncertainty"):  # EOT / MOT counting: a lumi modifier on the signal
        r = float(raw["exposure_uncertainty"])
        modifiers.append({"name": "lumi", "type": "lumi", "data": None})
        parameters.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [r],
                "bounds": [[max(0.0, 1 - 5 * r), 1 + 5 * r]],
                "inits": [1.0],
            }
        )
    if raw.get("efficiency_uncertainty"):
        r = float(raw["efficiency_uncertainty"])
        modifiers.append(
            {
                "name": "signal_efficiency",
                "type": "normsys",
                "data": {"hi": 1 + r, "lo": 1 / (1 + r)},
            }
        )
    return modifiers


def _metadata(cfg: Mapping[str, Any], raw: Mapping[str, Any], ctx: SignalContext) -> dict[str, Any]:
    metadata = {
        k: cfg[k]
        for k in (
            "setup",
            "exposure",
            "exposure_unit",
            "publication",
            "hepdata",
            "assumptions",
            "sources",
        )
        if k in cfg
    }
    per_mass = ctx.normalise
    metadata.update(
        {
            "model": ctx.model,
            "reference_coupling": None if per_mass else ctx.coupling,  # else: per patch
            "efficiency": raw.get("efficiency"),
            "signal_source": "selection" if "from_selection" in raw else "physics",
        }
    )
    return {k: v for k, v in metadata.items() if v is not None}


def parse_workspace_config(
    cfg: Mapping[str, Any],
    base: Path,
    source: str = "<config>",
    *,
    signal_yield: SignalYield | None = expected_signal_events,
) -> WorkspaceDescription:
    """Build a :class:`WorkspaceDescription` from a parsed config (see the module docstring).

    Parameters
    ----------
    cfg:
        The parsed YAML.
    base:
        Folder that relative file names are relative to.
    source:
        Name of the config in error messages.
    signal_yield:
        Expected events of one physics signal point (``signal.masses``);
        ``None`` refuses configs that need it.

    Returns
    -------
    WorkspaceDescription
    """
    cfg = _checked_config(cfg, source)
    sources = ConfigSources(base, cfg)
    channels = [
        _channel(sources, raw, i, source) for i, raw in enumerate(cfg.get("channels") or [])
    ]
    if not channels:
        raise InputError(f"{source}: no channels")
    signal_cfg = cfg.get("signal")
    if not isinstance(signal_cfg, dict):
        raise InputError(f"{source}: missing 'signal' section")
    ctx = _signal_context(signal_cfg, channels, cfg, source, signal_yield)
    signals: SignalSet = build_signals(sources, signal_cfg, ctx)
    parameters = list(cfg.get("parameters", []))
    signal_modifiers = _signal_modifiers(signal_cfg, parameters)
    poi_bounds = _poi_bounds(channels, signals) if ctx.normalise else None
    return WorkspaceDescription(
        name=str(cfg.get("name", Path(source).parent.name)),
        channels=tuple(channels),
        signals=signals.patches,
        labels=signals.labels,
        signal_modifiers=tuple(signal_modifiers),
        parameters=tuple(parameters),
        description=str(cfg.get("description", "")),
        metadata=_metadata(cfg, signal_cfg, ctx),
        poi_bounds=poi_bounds,
    )


def _poi_bounds(channels: Sequence[Channel], signals: SignalSet) -> tuple[float, float]:
    """[0, the largest :func:`~na64stat.model.workspace.poi_upper_bound` of the patches]: every
    patch's limit inside; per (mass, coupling) also every point's own signal strength
    (:func:`~na64stat.model.builders.point_signal_strength`) with a factor ten to spare, rounded up
    to a power of ten, so that pyhf can test each point's prediction.
    """
    background = sum(y for c in channels for s in c.samples for y in s.yields)
    observed = sum(x for c in channels for x in c.observed)
    signal = [sum(y for values in p.yields.values() for y in values) for p in signals.patches]
    highs = [poi_upper_bound(s, background, observed) for s in signal]
    if "coupling" in signals.labels:
        index = signals.labels.index("coupling")
        highs += [
            10.0
            ** math.ceil(
                math.log10(
                    10.0 * point_signal_strength(p.values[index], p.metadata["reference_coupling"])
                )
            )
            for p in signals.patches
        ]
    return 0.0, max(highs) if highs else 10.0


def load_workspace_config(
    path: str | Path, *, signal_yield: SignalYield | None = expected_signal_events
) -> WorkspaceDescription:
    """Read a workspace config YAML file (errors name the file and the item); ``signal_yield`` as in
    :func:`parse_workspace_config`.
    """
    path = Path(path)
    cfg = load_yaml(path, "workspace config")
    return parse_workspace_config(cfg, path.parent, str(path), signal_yield=signal_yield)
