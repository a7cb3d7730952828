"""pyhf workspaces for JSON exchange: build, validate, read and write.

A workspace here is what ATLAS and HEPData exchange: one background-only
workspace (``bkgonly.json``) and a pyhf PatchSet (``patchset.json``) with one
signal patch per mass point (or per mass and coupling for the visible mode).
The background-only workspace carries a zero-yield ``signal`` sample with
the ``mu`` normfactor, so that its measurement's POI exists and ``pyhf
inspect`` / ``pyhf cls`` work on it too; each patch replaces that sample.
Each patch's metadata carries the setup, the mass in GeV, the signal model
and the reference coupling the signal was made with, so a limit on the
signal strength ``mu`` converts to a coupling (:mod:`na64stat.results.recast`). The
files are plain pyhf: ``pyhf inspect``, ``pyhf patchset apply`` and
``pyhf cls`` read them unchanged.

Everything read or written is validated: the pyhf schema, non-negative
yields and observations, a model that builds, digests that match, patches
that apply. Any problem raises :class:`~na64stat.core.errors.InputError` naming
the file and the item, and nothing is written.

The pyhf PatchSet schema requires ``metadata.references.hepdata`` to be an
INSPIRE id; where a result has none, :data:`NO_HEPDATA_RECORD` stands in and
the publication is named in ``metadata.publication``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonpatch
import pyhf

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.core.io import OutputSet
from na64stat.core.loaders import load_json

__all__ = [
    "NO_HEPDATA_RECORD",
    "Sample",
    "Channel",
    "SignalPatch",
    "WorkspaceDescription",
    "BuiltWorkspace",
    "build",
    "validate_spec",
    "validate_patchset",
    "check_patch_metadata",
    "poi_upper_bound",
    "read_json",
    "load_workspace",
    "load_patchset",
    "write_workspace",
    "uncertainty_modifier",
    "patch_name",
    "inspect_rows",
    "format_inspection",
    "scale_workspace",
    "signal_totals",
]

#: Placeholder INSPIRE id for results without a HEPData record (the pyhf
#: PatchSet schema requires one); the publication goes to ``metadata.publication``.
NO_HEPDATA_RECORD = "ins0000000"


@dataclass(frozen=True)
class Sample:
    """A background sample of one channel: expected events per bin and pyhf modifiers."""

    name: str
    yields: tuple[float, ...]
    modifiers: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Channel:
    """A region: observed events per bin and its background samples."""

    name: str
    observed: tuple[float, ...]
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class SignalPatch:
    """One signal hypothesis: expected events per channel at the reference coupling, and its
    metadata.
    """

    name: str
    yields: Mapping[str, tuple[float, ...]]
    values: tuple[float, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceDescription:
    """Everything :func:`build` needs.

    Attributes
    ----------
    name, description:
        Identify the workspace (PatchSet metadata).
    channels:
        Regions with observations and backgrounds.
    signals:
        Signal patches (one per mass, or per mass and coupling).
    labels:
        Names of the patch ``values`` (e.g. ``("mass_gev",)``).
    signal_modifiers:
        Modifiers every signal sample gets besides the ``mu`` normfactor
        (e.g. the efficiency normsys).
    parameters:
        Measurement parameter settings (pyhf ``config.parameters``).
    poi:
        Signal-strength parameter name.
    metadata:
        Facts stored in the PatchSet metadata (setup, model, reference
        coupling, exposure, publication, assumptions).
    poi_bounds:
        ``(low, high)`` of the POI declared in the measurement (so pyhf,
        its command line and cabinetry search inside them), or None for
        pyhf's default of the normfactor.
    """

    name: str
    channels: tuple[Channel, ...]
    signals: tuple[SignalPatch, ...]
    labels: tuple[str, ...] = ("mass_gev",)
    signal_modifiers: tuple[Mapping[str, Any], ...] = ()
    parameters: tuple[Mapping[str, Any], ...] = ()
    poi: str = "mu"
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    poi_bounds: tuple[float, float] | None = None


class BuiltWorkspace(NamedTuple):
    """A built workspace: the background-only pyhf spec and the signal PatchSet (both validated JSON
    content).

    A frozen record that also unpacks as ``spec, patchset = build(description)``.
    """

    spec: dict[str, Any]
    patchset: dict[str, Any]

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Validate and write ``bkgonly.json`` and ``patchset.json`` into ``out_dir``
        (:func:`write_workspace`).
        """
        return write_workspace(out_dir, self.spec, self.patchset)


def patch_name(*values: float, prefix: str = "m") -> str:
    """A PatchSet-safe name (``^[a-zA-Z0-9_]+$``) from values, e.g. ``m0p0167`` or
    ``m0p0167_e1p2em04``.

    >>> patch_name(0.0167), patch_name(0.0167, 1.2e-4)
    ('m0p0167', 'm0p0167_e1p20em04')
    """

    def text(value: float, form: str) -> str:
        return format(value, form).replace(".", "p").replace("-", "m").replace("+", "")

    return prefix + "_".join(
        [text(values[0], "g"), *("e" + text(v, ".3g" if v >= 1e-3 else ".2e") for v in values[1:])]
    )


def uncertainty_modifier(name: str, value: float, error: float) -> dict[str, Any]:
    """A normsys for a relative uncertainty r = error/value: hi = 1 + r, lo = 1/(1 + r).

    Log-symmetric, so large uncertainties never push the yield below zero
    (pyhf interpolates normsys exponentially).

    >>> uncertainty_modifier("bkg", 0.5, 0.25)["data"]
    {'hi': 1.5, 'lo': 0.6666666666666666}
    """
    if value <= 0 or error < 0 or not math.isfinite(error):
        raise InputError(
            f"modifier {name!r}: need a positive value and a finite error, got {value} +- {error}"
        )
    r = error / value
    return {"name": name, "type": "normsys", "data": {"hi": 1.0 + r, "lo": 1.0 / (1.0 + r)}}


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return {
        "name": sample.name,
        "data": [float(y) for y in sample.yields],
        "modifiers": [dict(m) for m in sample.modifiers],
    }


def poi_upper_bound(signal: float, background: float, observed: float) -> float:
    """Upper POI bound [mu] that holds the 90-95% CL limit of a counting experiment with room to
    spare.

    The limit on mu lies below (observed + 5 sqrt(observed + background + 1) + 5) / signal
    (a generous Poisson upper bound at n = observed for any background); the bound is
    ten times that, rounded up to a power of ten, and never below pyhf's default 10.
    ``signal``, ``background`` and ``observed`` are event counts summed over all bins
    (signal at mu = 1).

    >>> poi_upper_bound(10.0, 0.5, 0.0)
    100.0
    >>> poi_upper_bound(0.01, 0.5, 0.0)
    100000.0
    """
    if not signal > 0:
        return 10.0
    reach = (observed + 5.0 * math.sqrt(observed + background + 1.0) + 5.0) / signal
    return max(10.0, 10.0 ** math.ceil(math.log10(10.0 * reach)))


def _parameters(description: WorkspaceDescription) -> list[dict[str, Any]]:
    """The measurement's parameter settings, with the POI's bounds where the description declares
    them.
    """
    parameters = [dict(p) for p in description.parameters]
    if description.poi_bounds is not None and all(
        p.get("name") != description.poi for p in parameters
    ):
        low, high = (float(b) for b in description.poi_bounds)
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
            raise InputError(
                f"workspace {description.name!r}: POI bounds must be 0 <= low < high, got "
                f"{description.poi_bounds}"
            )
        parameters.append({"name": description.poi, "bounds": [[low, high]], "inits": [1.0]})
    return parameters


def _background_spec(description: WorkspaceDescription) -> dict[str, Any]:
    """The background-only pyhf spec: a zero-yield ``signal`` placeholder (the POI's sample) in each
    signal channel.
    """
    signal_channels = {name for sig in description.signals for name in sig.yields}
    placeholder = {
        "name": "signal",
        "modifiers": [{"name": description.poi, "type": "normfactor", "data": None}],
    }
    return {
        "channels": [
            {
                "name": c.name,
                "samples": (
                    [{**placeholder, "data": [0.0] * len(c.observed)}]
                    if c.name in signal_channels
                    else []
                )
                + [_sample_dict(s) for s in c.samples],
            }
            for c in description.channels
        ],
        "observations": [
            {"name": c.name, "data": [float(x) for x in c.observed]} for c in description.channels
        ],
        "measurements": [
            {
                "name": description.name,
                "config": {"poi": description.poi, "parameters": _parameters(description)},
            }
        ],
        "version": "1.0.0",
    }


def _signal_yields(signal: SignalPatch, channel: Channel) -> list[float]:
    """The signal's yields in ``channel``, checked: finite, >= 0, one per bin."""
    yields = [float(y) for y in signal.yields[channel.name]]
    if not all(math.isfinite(y) and y >= 0 for y in yields):
        raise InputError(
            f"signal {signal.name!r}, channel {channel.name!r}: yields must be finite and >= 0, "
            f"got {yields}"
        )
    if len(yields) != len(channel.observed):
        raise InputError(
            f"signal {signal.name!r}, channel {channel.name!r}: {len(yields)} bins, "
            f"the channel has {len(channel.observed)}"
        )
    return yields


def _signal_patch(description: WorkspaceDescription, signal: SignalPatch) -> dict[str, Any]:
    """One PatchSet entry: replace the ``signal`` placeholder of every channel the signal has yields
    in.
    """
    channel_names = [c.name for c in description.channels]
    unknown = sorted(set(signal.yields) - set(channel_names))
    if unknown:
        raise InputError(
            f"signal {signal.name!r}: unknown channel(s) {unknown}; channels are {channel_names}"
        )
    modifiers = [
        {"name": description.poi, "type": "normfactor", "data": None},
        *(dict(m) for m in description.signal_modifiers),
    ]
    ops = [
        {
            "op": "replace",
            "path": f"/channels/{index}/samples/0",
            "value": {
                "name": "signal",
                "data": _signal_yields(signal, channel),
                "modifiers": [dict(m) for m in modifiers],
            },
        }
        for index, channel in enumerate(description.channels)
        if channel.name in signal.yields
    ]
    if not any(y > 0 for channel_yields in signal.yields.values() for y in channel_yields):
        raise InputError(
            f"workspace {description.name!r}: signal {signal.name!r} (values {list(signal.values)}"
            ") "
            "has zero expected events: no limit can be set there (mass beyond the setup's reach, "
            "or coupling 0?)"
        )
    return {
        "metadata": {
            "name": signal.name,
            "values": [float(v) for v in signal.values],
            **dict(signal.metadata),
        },
        "patch": ops,
    }


def build(description: WorkspaceDescription) -> BuiltWorkspace:
    """The background-only spec and the PatchSet of a description (both validated).

    Parameters
    ----------
    description:
        Channels, backgrounds and signal points.

    Returns
    -------
    BuiltWorkspace
        ``(spec, patchset)``: the pyhf background-only workspace and its PatchSet.

    Examples
    --------
    >>> d = WorkspaceDescription(
    ...     name="demo",
    ...     channels=(Channel("box", (0.0,), (
    ...         Sample("bkg", (0.5,), (uncertainty_modifier("bkg_unc", 0.5, 0.2),)),)),),
    ...     signals=(SignalPatch("m0p01", {"box": (10.0,)}, (0.01,), {"mass_gev": 0.01}),),
    ... )
    >>> spec, patchset = build(d)
    >>> (patchset["patches"][0]["patch"][0]["value"]["data"],
    ...  spec["measurements"][0]["config"]["poi"])
    ([10.0], 'mu')
    """
    channel_names = [c.name for c in description.channels]
    if len(set(channel_names)) != len(channel_names) or not channel_names:
        raise InputError(
            f"workspace {description.name!r}: channel names must be unique and non-empty, got "
            f"{channel_names}"
        )
    spec = _background_spec(description)
    validate_spec(spec, f"workspace {description.name!r}")
    patches = [_signal_patch(description, signal) for signal in description.signals]
    if not patches:
        raise InputError(f"workspace {description.name!r}: no signal points")
    patchset = {
        "metadata": {
            "name": description.name,
            "description": description.description or description.name,
            "digests": {"sha256": pyhf.utils.digest(spec, "sha256")},
            "labels": list(description.labels),
            "references": {"hepdata": str(description.metadata.get("hepdata", NO_HEPDATA_RECORD))},
            "generator": f"na64stat {__version__}",
            **{k: v for k, v in description.metadata.items() if k != "hepdata"},
        },
        "patches": patches,
        "version": "1.0.0",
    }
    validate_patchset(patchset, spec, f"patchset of {description.name!r}")
    return BuiltWorkspace(spec, patchset)


# ---------------------------------------------------------------------------
# validation and I/O


def _check_counts(spec: Mapping[str, Any], source: str) -> None:
    """Non-negative, finite yields and observations, an observation per channel."""
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            bad = [y for y in sample["data"] if not (math.isfinite(y) and y >= 0)]
            if bad:
                raise InputError(
                    f"{source}: channel {channel['name']!r}, sample {sample['name']!r} has "
                    f"negative or non-finite yields {bad}"
                )
    for obs in spec["observations"]:
        if any(not (math.isfinite(x) and x >= 0) for x in obs["data"]):
            raise InputError(
                f"{source}: observation {obs['name']!r} has negative or non-finite counts "
                f"{obs['data']}"
            )
    missing = sorted(
        {c["name"] for c in spec["channels"]} - {o["name"] for o in spec["observations"]}
    )
    if missing:
        raise InputError(f"{source}: no observation for channel(s) {missing}")


def _check_bins(spec: Mapping[str, Any], source: str) -> None:
    """The samples of a channel and its observation have the same number of bins."""
    observed = {o["name"]: len(o["data"]) for o in spec["observations"]}
    for channel in spec["channels"]:
        lengths = {sample["name"]: len(sample["data"]) for sample in channel["samples"]}
        if len(set(lengths.values())) > 1:
            raise InputError(
                f"{source}: channel {channel['name']!r}: samples have different numbers of bins "
                f"{lengths}"
            )
        n_bins = next(iter(lengths.values()), None)
        if n_bins is not None and observed[channel["name"]] != n_bins:
            raise InputError(
                f"{source}: observation {channel['name']!r} has {observed[channel['name']]} bins, "
                f"its channel's samples have {n_bins}"
            )


def _check_models_build(workspace: pyhf.Workspace, source: str, require_poi: bool) -> None:
    """Every measurement's model builds (without its POI where that is allowed).

    The workspace's schema check covers the model's channels, so the model is built without pyhf
    checking them a second time (``validate=False``).
    """
    try:
        for measurement in workspace.measurement_names:
            try:
                workspace.model(measurement_name=measurement, validate=False)
            except pyhf.exceptions.InvalidModel as exc:
                if require_poi or "parameter of interest" not in str(exc):
                    raise
                workspace.model(measurement_name=measurement, poi_name=None, validate=False)
    except Exception as exc:
        raise InputError(f"{source}: the model does not build: {_short(exc)}") from None


@lru_cache(maxsize=4)
def _schema_validator(name: str) -> Any:
    """A reusable validator for pyhf's schema ``name`` (its own JSON schema files, draft 6).

    pyhf builds a new validator, and resolves every ``$ref`` afresh, for each workspace it checks
    (about 0.03 s for a small one); this one keeps its resolved references (about 0.002 s).
    """
    import jsonschema
    from referencing import Registry, Resource

    folder = Path(pyhf.schema.path) / pyhf.schema.version
    uris, resources = {}, []
    for path in sorted(folder.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        uris[path.name] = str(contents.get("$id", path.as_uri()))
        resources.append((uris[path.name], Resource.from_contents(contents)))
    # by reference, so that the schema's relative references resolve against its own URI
    return jsonschema.Draft6Validator(
        {"$ref": uris[name]}, registry=Registry().with_resources(resources)
    )


def _passes_pyhf_schema(spec: Any) -> bool:
    """Whether ``spec`` passes pyhf's workspace schema by the reusable validator (False: let pyhf
    check it and say what is wrong in its own words).
    """
    try:
        return bool(_schema_validator("workspace.json").is_valid(spec))
    except Exception:  # any trouble with the fast path: pyhf's own check decides
        return False


def validate_spec(spec: Any, source: str, *, require_poi: bool = False) -> pyhf.Workspace:
    """Check a workspace spec: pyhf schema, non-negative yields and counts, a model that builds.

    A background-only workspace from elsewhere may lack its POI (ATLAS
    ``BkgOnly.json`` files do); it must then build without one.

    Parameters
    ----------
    spec : Any
        The parsed JSON of a pyhf workspace (``bkgonly.json``).
    source : str
        What to name in error messages (usually the file path).
    require_poi : bool, optional
        Insist on the POI (signal-patched workspaces).

    Returns
    -------
    pyhf.Workspace
        The validated workspace.

    Raises
    ------
    InputError
        Naming ``source`` and the channel, sample or modifier at fault.

    Examples
    --------
    >>> mu = {"name": "mu", "type": "normfactor", "data": None}
    >>> spec = {"channels": [{"name": "box", "samples": [
    ...             {"name": "signal", "data": [0.0], "modifiers": [mu]},
    ...             {"name": "bkg", "data": [0.5], "modifiers": []}]}],
    ...         "observations": [{"name": "box", "data": [0.0]}],
    ...         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
    ...         "version": "1.0.0"}
    >>> validate_spec(spec, "demo").channels
    ['box']
    """
    if not isinstance(spec, dict):
        raise InputError(f"{source}: a workspace must be a JSON object, got {type(spec).__name__}")
    try:
        workspace = pyhf.Workspace(spec, validate=not _passes_pyhf_schema(spec))
    except Exception as exc:  # pyhf raises several types for invalid specs
        raise InputError(f"{source}: not a valid pyhf workspace: {_short(exc)}") from None
    _check_counts(spec, source)
    _check_bins(spec, source)
    _check_models_build(workspace, source, require_poi)
    return workspace


#: sha256 digests (:func:`content_digest`) of the patched workspaces this process has fully
#: validated (schema,
#: counts, a model that builds), and of the (PatchSet, spec) pairs: the main job builds, writes and
#: reads the
#: same PatchSet, and a scan builds each point's model again; each is checked once. Forked workers
#: inherit it.
_VALIDATED: set[str] = set()


def content_digest(*parts: Any) -> str | None:
    """sha256 of JSON content (keys sorted), or None for content that is not plain JSON.

    >>> content_digest({"a": 1, "b": [0.5]}) == content_digest({"b": [0.5], "a": 1})
    True
    """
    try:
        text = json.dumps(parts, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def was_validated(spec: Any) -> bool:
    """Whether this process (or its parent before a fork) validated exactly this patched workspace
    with :func:`validate_patchset` or :func:`validate_plain_patch`, so that pyhf need not check it
    again.
    """
    digest = content_digest(spec)
    return digest is not None and digest in _VALIDATED


def _validate_patched(patched: dict[str, Any], source: str) -> None:
    """:func:`validate_spec` with the POI, once per content (:data:`_VALIDATED`)."""
    digest = content_digest(patched)
    if digest is not None and digest in _VALIDATED:
        return
    validate_spec(patched, source, require_poi=True)
    if digest is not None:
        _VALIDATED.add(digest)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:400]


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_patch_metadata(patches: Any, labels: Any, source: str) -> None:
    """Check the signal points of a PatchSet's patches where they enter (``validate``, ``limits``,
    ``combine``).

    Each patch's ``values`` match the PatchSet's ``labels`` and are finite
    numbers; its mass (metadata ``mass_gev`` and the ``mass_gev`` entry of its
    values, where given) is a finite positive number and both agree; a
    ``reference_coupling`` is finite and positive; and no two patches sit at
    the same point (the same mass, and the same coupling where the patches
    are per mass and coupling). pyhf's own PatchSet check misses repeated
    values.

    Parameters
    ----------
    patches : list of dict
        The PatchSet's ``patches`` (each with ``metadata``).
    labels : list of str
        The PatchSet's ``metadata.labels``.
    source : str
        What the patches came from, for the message.

    Raises
    ------
    InputError
        One line naming the patch and the field.

    Examples
    --------
    >>> ok = [{"metadata": {"name": "m0p01", "values": [0.01], "mass_gev": 0.01}}]
    >>> check_patch_metadata(ok, ["mass_gev"], "patchset p.json")
    >>> check_patch_metadata(ok + ok, ["mass_gev"], "patchset p.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    na64stat.core.errors.InputError: patchset p.json: patches 'm0p01' and 'm0p01' are the same ...
    """
    if not isinstance(patches, list) or not isinstance(labels, list):
        raise InputError(f"{source}: a PatchSet needs a list of patches and a list of labels")
    seen: dict[tuple[Any, ...], str] = {}
    for index, patch in enumerate(patches):
        meta = patch.get("metadata") if isinstance(patch, Mapping) else None
        if not isinstance(meta, Mapping):
            raise InputError(f"{source}: patch {index} has no metadata object")
        name = str(meta.get("name", index))
        point = _patch_point(meta, labels, f"{source}: patch {name!r}")
        if not point:
            continue
        if point in seen:
            raise InputError(
                f"{source}: patches {seen[point]!r} and {name!r} "
                f"are the same signal point ({_describe_point(point, labels)})"
            )
        seen[point] = name


def _patch_point(meta: Mapping[str, Any], labels: list[Any], where: str) -> tuple[Any, ...]:
    """The signal point of one patch (its values, or its mass) after checking its metadata."""
    values = meta.get("values")
    if not isinstance(values, list) or len(values) != len(labels):
        raise InputError(f"{where}: values {values!r} do not match the labels {labels}")
    for label, value in zip(labels, values):
        # pyhf allows text values (e.g. a model name), not for a mass
        if (label == "mass_gev" or not isinstance(value, str)) and not _finite_number(value):
            raise InputError(f"{where}: {label} must be a finite number, got {value!r}")
    masses = [values[labels.index("mass_gev")]] if "mass_gev" in labels else []
    if "mass_gev" in meta:
        masses.append(meta["mass_gev"])
    _check_masses(masses, where)
    ref = meta.get("reference_coupling")
    if ref is not None and not (_finite_number(ref) and ref > 0):
        raise InputError(
            f"{where}: reference_coupling must be a finite positive number, got {ref!r}"
        )
    return tuple(values) if values else tuple(float(m) for m in masses[-1:])


def _check_masses(masses: list[Any], where: str) -> None:
    """Each mass is a finite positive number [GeV]; the values' and the metadata's mass agree."""
    for mass in masses:
        if not _finite_number(mass) or not mass > 0:
            raise InputError(
                f"{where}: mass_gev must be a finite positive number [GeV], got {mass!r}"
            )
    if len(masses) == 2 and not math.isclose(masses[0], masses[1], rel_tol=1e-9):
        raise InputError(
            f"{where}: metadata mass_gev = {masses[1]!r} differs from its values' "
            f"mass_gev = {masses[0]!r}"
        )


def _describe_point(point: tuple[Any, ...], labels: list[Any]) -> str:
    """``label = value`` pairs of a signal point (its mass alone where the patches have no
    values).
    """
    names = labels if len(labels) == len(point) and labels else ["mass_gev"]
    return ", ".join(
        f"{label} = {v:g}" if isinstance(v, float) else f"{label} = {v!r}"
        for label, v in zip(names, point)
    )


def validate_patchset(content: Any, spec: Mapping[str, Any], source: str) -> pyhf.PatchSet:
    """Check a PatchSet against its background-only spec: schema, digests, patch metadata
    (:func:`check_patch_metadata`), every patch applies and builds.
    """
    if (
        isinstance(content, Mapping)
        and isinstance(content.get("metadata"), Mapping)
        and "patches" in content
    ):
        check_patch_metadata(
            content["patches"], content["metadata"].get("labels"), source
        )  # clearer than pyhf's
    try:
        patchset = pyhf.PatchSet(content)
    except Exception as exc:
        raise InputError(f"{source}: not a valid pyhf PatchSet: {_short(exc)}") from None
    try:
        patchset.verify(spec)
    except pyhf.exceptions.PatchSetVerificationError as exc:
        raise InputError(
            f"{source}: digest mismatch with the background-only workspace: {exc}"
        ) from None
    pair = content_digest(content, spec)
    if pair is not None and pair in _VALIDATED:
        return patchset
    for patch in patchset.patches:
        try:
            patched = jsonpatch.apply_patch(copy.deepcopy(dict(spec)), list(patch.patch))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise InputError(f"{source}: patch {patch.name!r} does not apply: {exc}") from None
        _validate_patched(patched, f"{source}: patch {patch.name!r}")
    if pair is not None:
        _VALIDATED.add(pair)
    return patchset


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse a JSON file; errors (missing, binary, empty, truncated, malformed) name the file."""
    return load_json(path, what)


def load_workspace(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a background-only (or full) pyhf workspace."""
    spec = read_json(path, "workspace")
    validate_spec(spec, f"workspace {path}")
    return spec


def load_patchset(path: str | os.PathLike[str], spec: Mapping[str, Any]) -> pyhf.PatchSet:
    """Read and validate a PatchSet against its background-only ``spec``."""
    content = read_json(path, "patchset")
    if isinstance(content, list):
        raise InputError(
            f"patchset {path} is a plain JSON patch, not a pyhf PatchSet "
            "('workspace validate' and 'limits' read plain patches)"
        )
    if not isinstance(content, dict):
        raise InputError(
            f"patchset {path}: a PatchSet must be a JSON object, got {type(content).__name__}"
        )
    return validate_patchset(content, spec, f"patchset {path}")


def validate_plain_patch(content: Any, spec: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Apply a plain JSON patch (one signal point) to ``spec`` and validate the result with its
    POI.
    """
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(dict(spec)), content)
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
    ) as exc:
        raise InputError(f"{source}: the JSON patch does not apply: {exc}") from None
    _validate_patched(patched, source)
    return patched


def write_workspace(
    out_dir: str | os.PathLike[str], spec: Mapping[str, Any], patchset: Mapping[str, Any]
) -> list[Path]:
    """Validate, then write ``bkgonly.json`` and ``patchset.json`` (each atomically)."""
    validate_spec(spec, "background-only workspace")
    validate_patchset(patchset, spec, "patchset")
    with OutputSet(out_dir) as staged:  # both files or neither
        written = [
            staged.write_json("bkgonly.json", spec),
            staged.write_json("patchset.json", patchset),
        ]
    return written


def inspect_rows(spec: Mapping[str, Any]) -> list[tuple[str, str, list[float], list[str]]]:
    """(channel, sample, yields, modifier 'name (type)') rows of a spec, observations as sample
    'data'.
    """
    rows = []
    observed = {o["name"]: o["data"] for o in spec["observations"]}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            mods = [f"{m['name']} ({m['type']})" for m in sample["modifiers"]]
            rows.append((channel["name"], sample["name"], list(sample["data"]), mods))
        rows.append((channel["name"], "data", list(observed.get(channel["name"], [])), []))
    return rows


def format_inspection(spec: Mapping[str, Any], title: str = "") -> str:
    """A yields table per region and sample, with each sample's modifiers."""
    lines = [title] if title else []
    lines.append(f"{'region':<20}{'sample':<16}{'yields':<32}modifiers")
    for channel, sample, yields, mods in inspect_rows(spec):
        text = ", ".join(f"{y:.4g}" for y in yields)
        lines.append(f"{channel:<20}{sample:<16}{text:<32}{'; '.join(mods)}")
    poi = spec["measurements"][0]["config"].get("poi") if spec.get("measurements") else None
    lines.append(f"measurements: {[m['name'] for m in spec.get('measurements', [])]}, POI {poi!r}")
    return "\n".join(lines)


def _scale_sample(sample: dict[str, Any], factor: float) -> None:
    """A sample's yields and its absolute MC errors (staterror, shapesys, histosys) times
    ``factor``, in place.
    """
    sample["data"] = [float(x) * factor for x in sample["data"]]
    for mod in sample.get("modifiers", []):
        if mod["type"] in ("staterror", "shapesys"):
            mod["data"] = [float(x) * factor for x in mod["data"]]
        elif mod["type"] == "histosys":
            mod["data"] = {k: [float(x) * factor for x in v] for k, v in mod["data"].items()}


def scale_workspace(
    spec: dict[str, Any], patchset: dict[str, Any], factor: float, observed: float | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workspace for ``factor`` times the exposure: every yield (and its absolute MC error)
    times ``factor``.

    Relative uncertainties (normsys) are unchanged; ``observed`` replaces the
    observed counts (default: scaled and rounded). The patchset's digest is
    recomputed for the new background-only spec.

    Parameters
    ----------
    spec, patchset : dict
        The background-only workspace and its signal PatchSet (contents).
    factor : float
        New exposure over the old one.
    observed : float, optional
        The observed count of every bin (default: the old one times ``factor``, rounded).

    Returns
    -------
    tuple of dict
        The scaled workspace and PatchSet (copies; the inputs are unchanged).

    Examples
    --------
    >>> spec = {"channels": [{"name": "c", "samples": [{"name": "b", "data": [0.5],
    ...          "modifiers": [{"name": "s", "type": "staterror", "data": [0.1]}]}]}],
    ...         "observations": [{"name": "c", "data": [0.0]}], "measurements": [],
    ...         "version": "1.0.0"}
    >>> patchset = {"metadata": {"digests": {}}, "patches": []}
    >>> scaled, _ = scale_workspace(spec, patchset, 10.0)
    >>> (scaled["channels"][0]["samples"][0]["data"],
    ...  scaled["channels"][0]["samples"][0]["modifiers"][0]["data"])
    ([5.0], [1.0])
    """
    new_spec = copy.deepcopy(spec)
    for channel in new_spec["channels"]:
        for s in channel["samples"]:
            _scale_sample(s, factor)
    for obs in new_spec["observations"]:
        obs["data"] = [
            float(observed) if observed is not None else float(round(x * factor))
            for x in obs["data"]
        ]
    new_patchset = copy.deepcopy(patchset)
    for patch in new_patchset["patches"]:
        for op in patch["patch"]:
            value = op.get("value")
            if isinstance(value, dict) and "data" in value:
                _scale_sample(value, factor)
    new_patchset["metadata"]["digests"] = {"sha256": pyhf.utils.digest(new_spec, "sha256")}
    if "exposure" in new_patchset["metadata"]:
        new_patchset["metadata"]["exposure"] = float(new_patchset["metadata"]["exposure"]) * factor
    return new_spec, new_patchset


def signal_totals(patchset: Mapping[str, Any]) -> dict[float, float]:
    """Signal events of each patch at its reference coupling (summed over bins), by its ``mass_gev``
    [GeV].

    >>> signal_totals({"patches": [{"metadata": {"mass_gev": 0.01},
    ...                             "patch": [{"op": "add", "value": {"data": [1.0, 2.5]}}]}]})
    {0.01: 3.5}
    """
    out = {}
    for patch in patchset["patches"]:
        total = sum(
            float(x)
            for op in patch["patch"]
            if isinstance(op.get("value"), dict)
            for x in op["value"].get("data", [])
        )
        out[float(patch["metadata"]["mass_gev"])] = total
    return out
