"""Combined likelihoods of several experiments' workspaces in one common coupling.

:func:`combine_workspaces` takes (background-only spec, PatchSet) pairs, e.g.
NA64e and NA64mu, and returns one plain pyhf workspace and PatchSet with one
patch per mass:

* channels, observations and modifiers get a per-experiment prefix, so nothing
  clashes by accident; modifiers named in ``correlated`` keep one shared name
  (a common systematic, e.g. a production cross-section uncertainty), and
  every experiment's POI becomes the one POI ``mu``;
* ``mu = (coupling / reference)^2`` for all channels: each experiment's signal
  yields, made at its own reference coupling in its own model, are rescaled
  to the common model and reference coupling with the physics of
  :mod:`na64stat.physics.yields` (per eps^2: alpha N_alpha; per e_mu^2:
  N_alpha Br(Z' -> inv) / 4 pi for muon beams, N_alpha alpha kappa(m)^2
  Br(Z' -> inv) for electron beams through the on-shell loop mixing, eq. 54);
* masses on a common grid (the union of the experiments' masses, or a given
  list); between an experiment's own patch masses its yields are interpolated
  log-log (linearly where a bin is zero at a neighbour), outside its range its
  signal is 0 and the patch metadata says so (no extrapolation).

Absolute per-bin modifier data of a signal sample (histosys, staterror,
shapesys) are scaled with its yields; relative ones are kept. The result is
validated like every na64stat workspace (:mod:`na64stat.model.workspace`).

Examples
--------
>>> from na64stat.model.workspace import Channel, Sample, SignalPatch, WorkspaceDescription, build
>>> d = WorkspaceDescription(name="demo",
...     channels=(Channel("box", (0.0,), (Sample("bkg", (0.5,)),)),),
...     signals=(SignalPatch("m0p01", {"box": (10.0,)}, (0.01,), {"mass_gev": 0.01,
...              "signal_model": "dark_photon",
...              "reference_coupling": 1e-4, "setup": "na64e-invisible"}),))
>>> spec, ps = combine_workspaces([build(d), build(d)], reference_coupling=1e-4)
>>> [c["name"] for c in spec["channels"]], ps["patches"][0]["patch"][1]["value"]["data"]
(['demo_box', 'demo_2_box'], [10.0])

Without a common reference coupling each mass gets its own, where the combined signal expects about
3 events (20 events at 1e-4: 3.9e-5, rounded to two digits):

>>> _, ps = combine_workspaces([build(d), build(d)])
>>> (ps["patches"][0]["metadata"]["reference_coupling"],
...  round(ps["patches"][0]["patch"][1]["value"]["data"][0], 4))
(3.9e-05, 1.521)
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import numpy as np
import pyhf

from na64stat import __version__
from na64stat.core.errors import InputError, PhysicsError
from na64stat.model.workspace import (
    NO_HEPDATA_RECORD,
    patch_name,
    poi_upper_bound,
    read_json,
    validate_patchset,
    validate_spec,
)
from na64stat.physics.models import get_model, model_names
from na64stat.physics.setups import get_setup
from na64stat.physics.yields import invisible_alpha_x_per_coupling2

__all__ = [
    "yield_conversion",
    "poi_upper_bound",
    "combine_workspaces",
    "combine_folders",
    "UnknownModifierError",
]

#: Modifier types whose data are absolute per-bin yields (scaled with the signal).
_ABSOLUTE = ("histosys", "staterror", "shapesys")
#: Modifier types that may be shared between experiments (one parameter, not one per bin).
_SHAREABLE = ("normsys", "lumi", "normfactor", "histosys")


def _per_coupling2(model: str, beam: str, mass_gev: float) -> float:
    """Invisible events per coupling^2 relative to events per alpha_X (the production's common
    factor).
    """
    try:
        return float(invisible_alpha_x_per_coupling2(model, beam, mass_gev))
    except PhysicsError as exc:
        raise InputError(f"{exc}; models: {', '.join(model_names())}") from None


def yield_conversion(source_model: str, target_model: str, beam: str, mass_gev: float) -> float:
    """Factor turning events per source-coupling^2 into events per target-coupling^2 at
    ``mass_gev``.

    >>> round(yield_conversion("dark_photon", "lmutau", "electron", 0.001) / 0.0144**2, 2)
    1.0
    >>> yield_conversion("lmutau", "lmutau", "muon", 0.1)
    1.0
    """
    if source_model == target_model:
        return 1.0
    return _per_coupling2(target_model, beam, mass_gev) / _per_coupling2(
        source_model, beam, mass_gev
    )


class UnknownModifierError(InputError):
    """A modifier declared correlated is in no input (the command line names its option)."""


@dataclass
class _Signal:
    """One experiment's signal at one mass: per channel, (yields, modifiers) of the POI sample."""

    mass: float
    samples: dict[str, tuple[list[float], list[dict[str, Any]]]]


@dataclass
class _Experiment:
    name: str
    prefix: str
    spec: Mapping[str, Any]
    poi: str
    model: str
    beam: str
    setup: str
    reference: float
    signals: list[_Signal]  # sorted by mass
    metadata: dict[str, Any]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "exp"


def _poi_sample(sample: Mapping[str, Any], poi: str) -> bool:
    return any(
        m.get("type") == "normfactor" and m.get("name") == poi for m in sample.get("modifiers", [])
    )


def _beam(setup: str, where: str) -> str:
    """The beam of a registered setup (its beam decides the coupling conversion)."""
    try:
        return get_setup(setup).beam
    except InputError:
        raise InputError(
            f"{where}: unknown setup {setup!r} (its beam decides the coupling conversion)"
        ) from None


def _patchset_content(patchset: Any) -> Mapping[str, Any] | None:
    """The JSON content of a PatchSet given as a mapping or as a :class:`pyhf.PatchSet` (public
    attributes only).
    """
    if isinstance(patchset, Mapping):
        return patchset
    if isinstance(patchset, pyhf.PatchSet):
        return {
            "metadata": dict(patchset.metadata),
            "version": patchset.version,
            "patches": [
                {"metadata": dict(p.metadata), "patch": json.loads(p.to_string())}
                for p in patchset.patches
            ],
        }
    return None


# ---------------------------------------------------------------------------
# read: one input's workspace and PatchSet, validated like every na64stat workspace


@dataclass(frozen=True)
class _Input:
    """One input as read: its validated spec and PatchSet content, and how errors name it."""

    index: int
    source: str
    spec: dict[str, Any]
    content: Mapping[str, Any]
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        """The experiment's name, safe as a prefix of channel and modifier names."""
        return _safe(str(self.metadata.get("name", f"exp{self.index}")))


def _read(index: int, spec: Mapping[str, Any], patchset: Any) -> _Input:
    """Input ``index``: a copy of its spec and its PatchSet content, both validated."""
    content = _patchset_content(patchset)
    if not isinstance(content, Mapping):
        raise InputError(f"input {index}: the patchset must be a PatchSet JSON object")
    source = f"input {index} ({content.get('metadata', {}).get('name', '?')})"
    own = copy.deepcopy(dict(spec))
    validate_spec(own, f"{source}: background-only workspace")
    validate_patchset(dict(content), own, f"{source}: patchset")
    return _Input(index, source, own, content, dict(content["metadata"]))


def _free_prefix(name: str, taken: Collection[str]) -> str:
    """``name``, else ``name_2``, ``name_3``, ...: the first not in ``taken``.

    >>> _free_prefix("na64e", ["na64e", "na64e_2"])
    'na64e_3'
    """
    prefix, k = name, 2
    while prefix in taken:
        prefix, k = f"{name}_{k}", k + 1
    return prefix


# ---------------------------------------------------------------------------
# check: every patch is one mass of one model and setup, and replaces the signal only


@dataclass(frozen=True)
class _Point:
    """The signal point a patch declares: mass [GeV], model, reference coupling, setup."""

    mass: float
    model: str
    reference: float
    setup: str


def _poi(read: _Input) -> str:
    """The POI of the input's (first) measurement."""
    measurements = read.spec.get("measurements", [])
    poi = measurements[0]["config"].get("poi") if measurements else None
    if not poi:
        raise InputError(f"{read.source}: the measurement has no POI")
    return str(poi)


def _point(patch_metadata: Mapping[str, Any], metadata: Mapping[str, Any], where: str) -> _Point:
    """The point of one patch (its metadata, else the PatchSet's): one mass, a model, a reference, a
    setup.
    """
    values = patch_metadata.get("values", [])
    mass = patch_metadata.get("mass_gev", values[0] if len(values) == 1 else None)
    if mass is None or len(values) != 1:
        raise InputError(
            f"{where}: combine needs one patch per mass (values [mass_gev]), got values "
            f"{patch_metadata.get('values')} with labels {metadata.get('labels')}: a "
            "coupling-dependent (visible-mode) PatchSet cannot be rescaled in the coupling"
        )
    model = patch_metadata.get("signal_model", metadata.get("model"))
    ref = patch_metadata.get("reference_coupling", metadata.get("reference_coupling"))
    setup = patch_metadata.get("setup", metadata.get("setup"))
    if model not in model_names() or not isinstance(ref, (int, float)) or not ref > 0 or not setup:
        raise InputError(
            f"{where}: needs signal_model (one of {', '.join(model_names())}), a positive "
            f"reference_coupling and setup in its metadata; got {model!r}, {ref!r}, {setup!r}"
        )
    return _Point(float(mass), str(model), float(ref), str(setup))


def _background(spec: Mapping[str, Any], poi: str) -> dict[str, list[Any]]:
    """Per channel, the samples without the POI."""
    return {
        c["name"]: [s for s in c["samples"] if not _poi_sample(s, poi)] for c in spec["channels"]
    }


def _signal_samples(
    patched: Mapping[str, Any], poi: str, background: Mapping[str, list[Any]], where: str
) -> dict[str, tuple[list[float], list[dict[str, Any]]]]:
    """Per channel with signal, (yields, modifiers) of the patched spec's one POI sample."""
    samples: dict[str, tuple[list[float], list[dict[str, Any]]]] = {}
    for channel in patched["channels"]:
        sig = [s for s in channel["samples"] if _poi_sample(s, poi)]
        if [s for s in channel["samples"] if not _poi_sample(s, poi)] != background.get(
            channel["name"]
        ):
            raise InputError(
                f"{where}: the patch changes the background of channel {channel['name']!r}; "
                "combine supports patches that replace the signal only"
            )
        if len(sig) > 1:
            raise InputError(
                f"{where}: channel {channel['name']!r} has {len(sig)} samples with the POI; "
                "combine supports one signal sample per channel"
            )
        if sig:
            samples[channel["name"]] = (
                [float(y) for y in sig[0]["data"]],
                copy.deepcopy(sig[0]["modifiers"]),
            )
    return samples


def _check_points(points: Sequence[_Point], source: str) -> None:
    """One model and one setup, one patch per mass."""
    models, setups = {p.model for p in points}, {p.setup for p in points}
    if len(models) != 1 or len(setups) != 1:
        raise InputError(
            f"{source}: patches mix signal models {sorted(models)} or setups {sorted(setups)}"
        )
    if len({p.mass for p in points}) != len(points):
        raise InputError(
            f"{source}: several patches at the same mass; combine needs one patch per mass"
        )


# ---------------------------------------------------------------------------
# build: the experiment, its signals sorted by mass at one reference coupling


def _experiment(read: _Input, prefix: str) -> _Experiment:
    """Check every patch of one input and build its experiment under ``prefix``."""
    poi = _poi(read)
    background = _background(read.spec, poi)
    points: list[tuple[_Point, _Signal]] = []
    for patch in read.content["patches"]:
        where = f"{read.source}: patch {patch['metadata'].get('name')!r}"
        point = _point(patch["metadata"], read.metadata, where)
        patched = jsonpatch.apply_patch(copy.deepcopy(read.spec), list(patch["patch"]))
        samples = _signal_samples(patched, poi, background, where)
        points.append((point, _Signal(point.mass, samples)))
    _check_points([p for p, _ in points], read.source)
    points.sort(key=lambda pair: pair[0].mass)
    first = points[0][
        0
    ]  # each patch's own reference coupling (normalised workspaces): all to this one
    signals = [_rescaled(signal, (first.reference / p.reference) ** 2) for p, signal in points]
    return _Experiment(
        read.name,
        prefix,
        read.spec,
        poi,
        first.model,
        _beam(first.setup, read.source),
        first.setup,
        first.reference,
        signals,
        read.metadata,
    )


def _experiments(inputs: Sequence[tuple[Mapping[str, Any], Any]]) -> list[_Experiment]:
    """Read, check and build every input in order, each under a prefix no earlier one has."""
    experiments: list[_Experiment] = []
    for index, (spec, patchset) in enumerate(inputs):
        read = _read(index, spec, patchset)
        prefix = _free_prefix(read.name, [e.prefix for e in experiments])
        experiments.append(_experiment(read, prefix))
    return experiments


def _scale_absolute(mod: dict[str, Any], factors: float | Sequence[float]) -> None:
    """Multiply, in place, the per-bin data of an absolute-yield modifier (staterror, shapesys,
    histosys) by ``factors`` (one number, or one per bin); other modifiers are left alone.
    """
    if mod.get("type") not in _ABSOLUTE or mod.get("data") is None:
        return

    def times(values: Sequence[Any]) -> list[float]:
        if isinstance(factors, (int, float)):
            return [float(v) * factors for v in values]
        return [float(v) * f for v, f in zip(values, factors)]

    if mod["type"] == "histosys":
        for key in ("hi_data", "lo_data"):
            mod["data"][key] = times(mod["data"][key])
    else:
        mod["data"] = times(mod["data"])


def _rescaled(signal: _Signal, factor: float) -> _Signal:
    """``signal`` with its yields and absolute modifier data (staterror, shapesys, histosys) times
    ``factor``.
    """
    if factor == 1.0:
        return signal
    samples = {}
    for channel, (yields, modifiers) in signal.samples.items():
        mods = copy.deepcopy(modifiers)
        for mod in mods:
            _scale_absolute(mod, factor)
        samples[channel] = ([y * factor for y in yields], mods)
    return _Signal(signal.mass, samples)


def _rename(name: str, exp: _Experiment, correlated: set[str]) -> str:
    if name == exp.poi:
        return "mu"
    return name if name in correlated else f"{exp.prefix}_{name}"


def _renamed_modifiers(
    modifiers: Iterable[Mapping[str, Any]],
    exp: _Experiment,
    correlated: set[str],
    scale: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for original in modifiers:
        mod = copy.deepcopy(dict(original))
        if mod["name"] in correlated and mod["type"] not in _SHAREABLE:
            raise InputError(
                f"modifier {mod['name']!r} of {exp.name}: a {mod['type']} modifier cannot be "
                f"correlated between experiments (only {', '.join(_SHAREABLE)})"
            )
        mod["name"] = _rename(mod["name"], exp, correlated)
        if scale is not None:
            _scale_absolute(mod, scale)
        out.append(mod)
    return out


def _interpolate(exp: _Experiment, mass: float) -> tuple[_Signal | None, dict[str, list[float]]]:
    """The experiment's signal yields per channel at ``mass`` (its own model and reference), and the
    nearest patch.
    """
    masses = [s.mass for s in exp.signals]
    tol = 1e-9 * mass
    if mass < masses[0] - tol or mass > masses[-1] + tol:
        return None, {}
    j = int(np.argmin([abs(math.log(m / mass)) for m in masses]))
    nearest = exp.signals[j]
    if abs(nearest.mass - mass) <= tol:
        return nearest, {c: list(y) for c, (y, _) in nearest.samples.items()}
    hi = next(i for i, m in enumerate(masses) if m > mass)
    lo_sig, hi_sig = exp.signals[hi - 1], exp.signals[hi]
    t = math.log(mass / lo_sig.mass) / math.log(hi_sig.mass / lo_sig.mass)
    yields: dict[str, list[float]] = {}
    for channel in sorted(set(lo_sig.samples) | set(hi_sig.samples)):
        n_bins = len((lo_sig.samples.get(channel) or hi_sig.samples[channel])[0])
        a = lo_sig.samples.get(channel, ([0.0] * n_bins, []))[0]
        b = hi_sig.samples.get(channel, ([0.0] * n_bins, []))[0]
        yields[channel] = [
            math.exp((1 - t) * math.log(x) + t * math.log(y))
            if x > 0 and y > 0
            else (1 - t) * x + t * y
            for x, y in zip(a, b)
        ]
    return nearest, yields


def _merge_parameters(
    configs: list[tuple[dict[str, Any], _Experiment]], correlated: set[str]
) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for param, exp in configs:
        if param["name"] == exp.poi:
            continue  # the POI's settings are per-experiment mu scales: meaningless after rescaling
        param = copy.deepcopy(param)
        param["name"] = _rename(param["name"], exp, correlated)
        if param["name"] in merged and merged[param["name"]] != param:
            raise InputError(
                f"correlated parameter {param['name']!r}: the experiments configure it differently "
                f"({merged[param['name']]} and {param})"
            )
        merged[param["name"]] = param
    return list(merged.values())


def combine_workspaces(
    inputs: Sequence[tuple[Mapping[str, Any], Any]],
    model: str = "dark_photon",
    masses: Sequence[float] | None = None,
    correlated: Iterable[str] = (),
    *,
    reference_coupling: float | None = None,
    name: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One pyhf workspace and PatchSet (one patch per mass) combining several experiments.

    Parameters
    ----------
    inputs : sequence of (dict, dict or pyhf.PatchSet)
        (background-only spec, PatchSet content or :class:`pyhf.PatchSet`) per experiment;
        each patch's metadata needs ``mass_gev``, ``signal_model``,
        ``reference_coupling`` and ``setup``.
    model : str, optional
        The common signal model, a name of :func:`na64stat.physics.models.model_names`
        (``"dark_photon"``: coupling epsilon, ``"lmutau"``: e_mu, ``"b_minus_l"``...).
    masses : sequence of float, optional
        The common mass grid [GeV]; default the union of the experiments' masses.
    correlated : iterable of str, optional
        Modifier names shared between experiments (one parameter); all others
        become one per experiment.
    reference_coupling : float, optional
        The common reference coupling of every patch (mu = 1; eps or e_mu, dimensionless). Default:
        each mass its own, where the combined signal expects about
        :data:`~na64stat.model.builders.REFERENCE_SIGNAL_EVENTS` events (mu of order one near the
        limit), recorded in the patch's ``reference_coupling``.
    name : str, optional
        Name of the combined measurement and PatchSet.

    Returns
    -------
    spec : dict
        The background-only workspace (one placeholder signal sample per
        channel with signal), validated.
    patchset : dict
        The PatchSet content (one patch per mass), validated. Each
        patch also sets the POI's bounds to [0, :func:`poi_upper_bound`] so
        that ``pyhf cls`` finds the limit inside them.
    """
    get_model(model)  # an InputError naming the registered models
    if len(inputs) < 1:
        raise InputError("combine needs at least one workspace")
    correlated = set(correlated)
    experiments = _experiments(inputs)
    _check_correlated(experiments, correlated)
    reference = _reference_coupling(experiments, model, reference_coupling)
    normalise = reference_coupling is None
    grid = _mass_grid(experiments, masses)
    title = name or "combined_" + "_".join(e.prefix for e in experiments)
    spec, placements = _combined_spec(experiments, correlated, title)
    background = sum(
        sum(s["data"]) for c in spec["channels"] for s in c["samples"] if s["name"] != "signal"
    )
    observed = sum(sum(o["data"]) for o in spec["observations"])
    patches = [
        _combined_patch(
            mass,
            experiments,
            placements,
            spec,
            model,
            reference,
            correlated,
            (background, observed),
            normalise,
        )
        for mass in grid
    ]
    patchset = {
        "metadata": _patchset_metadata(
            experiments, spec, title, model, None if normalise else reference, correlated
        ),
        "patches": patches,
        "version": "1.0.0",
    }
    validate_patchset(patchset, spec, "combined patchset")
    return spec, patchset


def _check_correlated(experiments: Sequence[_Experiment], correlated: set[str]) -> None:
    """Every name declared correlated is a modifier of some input."""
    found = {
        m["name"]
        for e in experiments
        for c in e.spec["channels"]
        for s in c["samples"]
        for m in s["modifiers"]
    }
    found |= {
        m["name"]
        for e in experiments
        for s in e.signals
        for _, mods in s.samples.values()
        for m in mods
    }
    missing = sorted(correlated - found)
    if missing:
        raise UnknownModifierError(
            f"no such modifier in any input: {', '.join(missing)} (declared correlated); "
            f"modifiers are {', '.join(sorted(found))}"
        )


def _reference_coupling(
    experiments: Sequence[_Experiment], model: str, given: float | None
) -> float:
    """The common reference coupling: ``given``, else the first experiment's in ``model``, else the
    first's.
    """
    reference = (
        given
        if given is not None
        else next((e.reference for e in experiments if e.model == model), experiments[0].reference)
    )
    if not (isinstance(reference, (int, float)) and math.isfinite(reference) and reference > 0):
        raise InputError(f"reference coupling must be a finite positive number, got {reference!r}")
    return float(reference)


def _mass_grid(experiments: Sequence[_Experiment], masses: Sequence[float] | None) -> list[float]:
    """The common masses [GeV]: the union of the experiments' or ``masses``, each inside some
    experiment's range.
    """
    if masses is None:
        return sorted({s.mass for e in experiments for s in e.signals})
    grid = sorted({float(m) for m in masses})
    if not grid or any(not (math.isfinite(m) and m > 0) for m in grid):
        raise InputError(f"masses must be finite and positive [GeV], got {list(masses)}")
    outside = [m for m in grid if all(_interpolate(e, m)[0] is None for e in experiments)]
    if outside:
        ranges = ", ".join(
            f"{e.name}: {e.signals[0].mass:g}-{e.signals[-1].mass:g}" for e in experiments
        )
        raise InputError(
            f"masses {outside} GeV are outside every experiment's mass range ({ranges})"
        )
    return grid


def _combined_spec(
    experiments: Sequence[_Experiment], correlated: set[str], title: str
) -> tuple[dict[str, Any], dict[tuple[str, str], int]]:
    """The background-only spec: one placeholder signal sample first in every channel that has
    signal anywhere, and where each (experiment prefix, channel) landed.
    """
    channels: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    placements: dict[tuple[str, str], int] = {}
    for exp in experiments:
        observed = {o["name"]: o["data"] for o in exp.spec["observations"]}
        has_signal = {c for s in exp.signals for c in s.samples}
        for channel in exp.spec["channels"]:
            cname = f"{exp.prefix}_{channel['name']}"
            samples = []
            if channel["name"] in has_signal:
                samples.append(
                    {
                        "name": "signal",
                        "data": [0.0] * len(observed[channel["name"]]),
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    }
                )
                placements[(exp.prefix, channel["name"])] = len(channels)
            samples += [
                {
                    "name": sample["name"],
                    "data": list(sample["data"]),
                    "modifiers": _renamed_modifiers(sample["modifiers"], exp, correlated),
                }
                for sample in channel["samples"]
                if not _poi_sample(sample, exp.poi)
            ]
            channels.append({"name": cname, "samples": samples})
            observations.append({"name": cname, "data": list(observed[channel["name"]])})
    params = _merge_parameters(
        [
            (p, e)
            for e in experiments
            for m in e.spec["measurements"][:1]
            for p in m["config"].get("parameters", [])
        ],
        correlated,
    )
    spec = {
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": title, "config": {"poi": "mu", "parameters": params}}],
        "version": "1.0.0",
    }
    validate_spec(spec, "combined background-only workspace")
    return spec, placements


def _combined_patch(
    mass: float,
    experiments: Sequence[_Experiment],
    placements: Mapping[tuple[str, str], int],
    spec: Mapping[str, Any],
    model: str,
    reference: float,
    correlated: set[str],
    counts: tuple[float, float],
    normalise: bool = False,
) -> dict[str, Any]:
    """The patch at ``mass``: each experiment's signal rescaled to ``model`` at ``reference`` (with
    ``normalise``, at this mass's own reference, where the combined signal expects about
    REFERENCE_SIGNAL_EVENTS events), and the POI bounds (from the signal and the spec's
    (background, observed) ``counts``, summed over all bins).
    """
    found = [(exp, *_interpolate(exp, mass)) for exp in experiments]
    signal_at = {
        exp.prefix: (exp, nearest, yields) for exp, nearest, yields in found if nearest is not None
    }
    factors, reference = _signal_factors(signal_at, model, mass, reference, normalise)
    ops: list[dict[str, Any]] = []
    for (prefix, channel), index in placements.items():  # in channel order: no sorting needed
        if prefix in signal_at and channel in signal_at[prefix][2]:
            exp, nearest, yields = signal_at[prefix]
            ops.append(
                _signal_op(
                    exp, channel, yields[channel], factors[prefix], nearest, index, correlated
                )
            )
    bound = poi_upper_bound(sum(sum(op["value"]["data"]) for op in ops), *counts)
    # never "mu": _merge_parameters drops the POIs
    parameters = spec["measurements"][0]["config"]["parameters"]
    ops.append(
        {
            "op": "replace",
            "path": "/measurements/0/config/parameters",
            "value": [*parameters, {"name": "mu", "bounds": [[0.0, bound]], "inits": [1.0]}],
        }
    )
    beams = {exp.beam for exp, _, _ in signal_at.values()}
    interpolated = [
        e.prefix
        for e in experiments
        if e.prefix in signal_at and all(abs(s.mass - mass) > 1e-9 * mass for s in e.signals)
    ]
    return {
        "metadata": {
            "name": patch_name(mass),
            "values": [mass],
            "mass_gev": mass,
            "signal_model": model,
            "coupling_name": get_model(model).coupling_name,
            "reference_coupling": reference,
            "beam": beams.pop() if len(beams) == 1 else "mixed",
            "experiments_with_signal": list(signal_at),
            "experiments_without_signal": [
                exp.prefix for exp, nearest, _ in found if nearest is None
            ],
            "interpolated": interpolated,
            "poi_bounds": [0.0, bound],
        },
        "patch": ops,
    }


def _signal_factors(
    signal_at: Mapping[str, tuple[_Experiment, _Signal, Mapping[str, Sequence[float]]]],
    model: str,
    mass: float,
    reference: float,
    normalise: bool,
) -> tuple[dict[str, float], float]:
    """Per experiment prefix, the factor that turns its signal into ``model`` at ``reference``, and
    the reference; with ``normalise``, the reference at which the combined signal expects about
    REFERENCE_SIGNAL_EVENTS events (two significant digits) and the factors for it.
    """
    from na64stat.model.builders import REFERENCE_SIGNAL_EVENTS

    factors = {
        prefix: yield_conversion(exp.model, model, exp.beam, mass)
        * (reference / exp.reference) ** 2
        for prefix, (exp, _, _) in signal_at.items()
    }
    total = sum(
        sum(values) * factors[prefix]
        for prefix, (_, _, yields) in signal_at.items()
        for values in yields.values()
    )
    if normalise and total > 0 and math.isfinite(total):
        new = float(f"{reference * math.sqrt(REFERENCE_SIGNAL_EVENTS / total):.2g}")
        factors = {k: f * (new / reference) ** 2 for k, f in factors.items()}
        reference = new
    return factors, reference


def _signal_op(
    exp: _Experiment,
    channel: str,
    values: Sequence[float],
    factor: float,
    nearest: _Signal,
    index: int,
    correlated: set[str],
) -> dict[str, Any]:
    """The JSON-patch operation that puts one experiment's rescaled signal into its channel
    (``index``: the channel's place in the combined spec).
    """
    base = nearest.samples.get(channel)
    scaled = [y * factor for y in values]
    ratio = (
        [(s / b) if b > 0 else 0.0 for s, b in zip(scaled, base[0])]
        if base
        else [0.0] * len(values)
    )
    mods = _renamed_modifiers(
        base[1] if base else [{"name": exp.poi, "type": "normfactor", "data": None}],
        exp,
        correlated,
        scale=ratio,
    )
    return {
        "op": "replace",
        "path": f"/channels/{index}/samples/0",
        "value": {"name": "signal", "data": scaled, "modifiers": mods},
    }


def _patchset_metadata(
    experiments: Sequence[_Experiment],
    spec: Mapping[str, Any],
    title: str,
    model: str,
    reference: float | None,
    correlated: set[str],
) -> dict[str, Any]:
    """The combined PatchSet's metadata: what was combined, how, and under which assumptions
    (``reference`` None: each patch has its own reference coupling).
    """
    metadata: dict[str, Any] = {
        "name": title,
        "description": "combination of "
        + ", ".join(
            f"{e.metadata.get('name', e.prefix)} ({e.setup}, {e.model})" for e in experiments
        )
        + f" in {get_model(model).coupling_name}",
        "digests": {"sha256": pyhf.utils.digest(spec, "sha256")},
        "labels": ["mass_gev"],
        "references": {"hepdata": NO_HEPDATA_RECORD},
        "generator": f"na64stat {__version__}",
        "model": model,
        "coupling_name": get_model(model).coupling_name,
        "reference_coupling": reference,
        "beams": sorted({e.beam for e in experiments}),
        "correlated": sorted(correlated),
        "combined_from": [
            {
                "name": e.metadata.get("name", e.prefix),
                "prefix": e.prefix,
                "setup": e.setup,
                "beam": e.beam,
                "signal_model": e.model,
                "reference_coupling": e.reference,
                "masses_gev": [s.mass for s in e.signals],
                **{
                    k: e.metadata[k]
                    for k in ("exposure", "exposure_unit", "publication")
                    if k in e.metadata
                },
            }
            for e in experiments
        ],
        "assumptions": [
            "each experiment's signal rescaled to the common model and reference coupling "
            "(na64stat.model.combine.yield_conversion); dark photon: Br(A' -> invisible) = 1 for "
            "every beam",
            "between an experiment's patch masses its signal yields are interpolated log-log; "
            "outside its mass range its signal is 0 (no extrapolation)",
            "modifiers not declared correlated are independent per experiment",
        ],
    }
    if reference is None:
        del metadata["reference_coupling"]
        metadata["assumptions"].append(
            "each patch at its own reference coupling (patch metadata reference_coupling), where "
            "the combined "
            "signal expects about 3 events: mu = (coupling / reference_coupling)^2 is of order one "
            "near the limit"
        )
    return metadata


def combine_folders(
    folders: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    model: str = "dark_photon",
    masses: Sequence[float] | None = None,
    correlated: Iterable[str] = (),
    *,
    reference_coupling: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    """Read ``bkgonly.json`` + ``patchset.json`` of each folder, combine them, write both files
    atomically.
    """
    from na64stat.model.workspace import load_patchset, load_workspace, write_workspace

    inputs = []
    for folder in folders:
        folder = Path(folder)
        spec = load_workspace(folder / "bkgonly.json")
        load_patchset(folder / "patchset.json", spec)  # validated, with errors naming the file
        inputs.append((spec, read_json(folder / "patchset.json", "patchset")))
    spec, patchset = combine_workspaces(
        inputs, model, masses, correlated, reference_coupling=reference_coupling
    )
    return spec, patchset, write_workspace(out_dir, spec, patchset)
