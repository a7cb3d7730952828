"""Registries of the workspace-config builders: background kind -> sample, signal source -> patches.

A background sample of a config names exactly one kind (``yield``,
``estimate``, ``template``, ``abcd``, ``tail_fit``, ``shape``);
:data:`BACKGROUND_BUILDERS` maps each kind to a small function of
``(sources, spec, where)``: one-bin kinds return a :class:`BackgroundPart`
(the estimate, its modifiers and which error the normsys carries), and
:func:`background_sample` turns it into a :class:`~na64stat.model.workspace.Sample`;
``shape`` (multi-bin) builds its sample directly.

The signal comes from one of :data:`SIGNAL_BUILDERS`: ``from_selection``
(the selected signal MC), ``couplings`` (visible mode: one patch per mass
and coupling) or ``masses`` (physics yields). The last two need a
:data:`~na64stat.simulation.signal_yields.SignalYield` function, injected by
the caller, so this stage never runs the simulation itself.

Patches per mass are normalised (:func:`normalise_signal`; by default for
``masses``, with ``normalise: true`` for ``from_selection``, whose default
keeps every patch at the simulated coupling): each
mass gets its own reference coupling, at which it expects about
:data:`REFERENCE_SIGNAL_EVENTS` events, so that the limit on the signal
strength mu is of order one at every mass, where pyhf's and cabinetry's
defaults find it. An invisible signal yield is proportional to the coupling
squared (production x Br(invisible), the branching ratio independent of the
coupling), so the yields scale exactly by (coupling / computed coupling)^2,
and the patch's ``reference_coupling`` records the coupling they belong to:
a recast (mu x reference_coupling^2) is unchanged.

Visible-mode patches (``couplings``: one per mass and coupling) are the
prediction at their own coupling only (the decay length depends on it, so the
yield is not proportional to the coupling squared). They are normalised the
same way, each to about :data:`REFERENCE_SIGNAL_EVENTS` events: the limit on
mu is then of order one everywhere, mu x reference_coupling^2 stays what the
data limit (a recast is unchanged), and the point's own prediction is the
signal strength :func:`point_signal_strength` = (coupling /
reference_coupling)^2. The point is excluded where the limit on mu lies below
that, i.e. where reference_coupling x sqrt(mu_up) < coupling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from na64stat.core.checks import check_mass
from na64stat.core.errors import InputError
from na64stat.model.background import BackgroundEstimate, abcd, fit_tail, mc_template
from na64stat.model.sources import ConfigSources, numbers, region_counts
from na64stat.model.workspace import Sample, SignalPatch, patch_name, uncertainty_modifier
from na64stat.simulation.signal_yields import SignalYield

__all__ = [
    "REFERENCE_SIGNAL_EVENTS",
    "normalise_signal",
    "point_signal_strength",
    "BackgroundPart",
    "BACKGROUND_BUILDERS",
    "background_sample",
    "SignalContext",
    "SignalSet",
    "SIGNAL_BUILDERS",
    "build_signals",
]


@dataclass(frozen=True)
class BackgroundPart:
    """A one-bin background estimate with what goes with it into the sample.

    Attributes
    ----------
    estimate:
        Expected events and their errors.
    modifiers:
        Modifiers of the kind itself (a template's MC staterror).
    systematic_only:
        The normsys carries the systematic error only (the statistical one
        is already a staterror), else the total error.
    """

    estimate: BackgroundEstimate
    modifiers: tuple[Mapping[str, Any], ...] = ()
    systematic_only: bool = False


def _template(
    sources: ConfigSources, spec: Mapping[str, Any], where: str, channel: str
) -> BackgroundPart:
    cutflow = sources.json(spec.get("cutflow"), f"{where}.template.cutflow")
    names = sources.match(cutflow, spec.get("samples", []), where)
    sums = [
        (v["weighted"], v["weighted_error"] ** 2)
        for v in (region_counts(cutflow, n, str(spec.get("region")), where) for n in names)
    ]
    estimate = mc_template(
        sums, scale=float(spec.get("scale", sources.default_scale(where))), names=names
    )
    modifiers = (
        ({"name": f"staterror_{channel}", "type": "staterror", "data": [estimate.stat_error]},)
        if estimate.value > 0
        else ()
    )
    return BackgroundPart(estimate, modifiers, systematic_only=True)


def _abcd(
    sources: ConfigSources, spec: Mapping[str, Any], where: str, channel: str
) -> BackgroundPart:
    cutflow = sources.json(spec.get("cutflow"), f"{where}.abcd.cutflow")
    regions = spec.get("regions", {})
    counts = {
        k: region_counts(cutflow, str(spec.get("sample", "data")), str(regions.get(k)), where)
        for k in ("B", "C", "D")
    }
    return BackgroundPart(
        abcd(
            counts["B"]["weighted"],
            counts["C"]["weighted"],
            counts["D"]["weighted"],
            var_b=counts["B"]["weighted_error"] ** 2,
            var_c=counts["C"]["weighted_error"] ** 2,
            var_d=counts["D"]["weighted_error"] ** 2,
        )
    )


def _tail_fit(
    sources: ConfigSources, spec: Mapping[str, Any], where: str, channel: str
) -> BackgroundPart:
    """Fit a selection histogram (``histograms.json``) outside the box and extrapolate it into the
    box.
    """
    where = f"{where}.tail_fit"
    path = spec.get("histograms")
    hists = sources.histograms(path, where)
    try:
        h = hists[str(spec.get("sample", "data"))][str(spec["region"])][str(spec["histogram"])]
    except KeyError as exc:
        raise InputError(f"{where}: {path} has no histogram {exc}") from None
    box = numbers(spec.get("box"), f"{where}.box")
    fit_range = numbers(spec["fit_range"], f"{where}.fit_range") if "fit_range" in spec else None
    if len(box) != 2 or (fit_range is not None and len(fit_range) != 2):
        raise InputError(f"{where}: box and fit_range are [low, high]")
    return BackgroundPart(
        fit_tail(
            h.values(),
            h.axes[0].edges,
            box=(box[0], box[1]),
            fit_range=None if fit_range is None else (fit_range[0], fit_range[1]),
            shape=str(spec.get("shape", "exponential")),
            alternatives=tuple(spec.get("alternatives", ())),
            variances=h.variances(),
        )
    )


def _estimate(sources: ConfigSources, spec: Any, where: str, channel: str) -> BackgroundPart:
    return BackgroundPart(
        BackgroundEstimate.from_dict(sources.json(spec, f"{where}.estimate"), str(spec))
    )


def _fixed_yield(sources: ConfigSources, spec: Any, where: str, channel: str) -> BackgroundPart:
    if not isinstance(spec, dict):
        raise InputError(f"{where}: yield must be {{value: ..., error: ...}}")
    value = numbers(spec.get("value"), f"{where}.yield.value")
    error = numbers(spec.get("error", 0.0), f"{where}.yield.error")
    if (
        len(value) != 1
        or len(error) != 1
        or not all(math.isfinite(x) and x >= 0 for x in (value[0], error[0]))
    ):
        raise InputError(
            f"{where}: yield needs a finite value >= 0 and an error >= 0, "
            f"got {spec.get('value')!r} +- {spec.get('error', 0.0)!r}"
        )
    return BackgroundPart(BackgroundEstimate(value[0], error[0]))


def _shape(
    sources: ConfigSources, raw: Mapping[str, Any], name: str, channel: str, where: str
) -> Sample:
    """A multi-bin MC template: histogram contents x scale, MC statistics per bin as a staterror."""
    spec = raw["shape"]
    scale = float(spec.get("scale", sources.default_scale(where)))
    values, variances = sources.histogram(
        spec, sources.histogram_samples(spec, f"{where}.shape"), f"{where}.shape"
    )
    yields = np.maximum(
        values * scale, 1e-6
    )  # pyhf needs positive expectations where modifiers act
    errors = np.maximum(np.sqrt(variances) * scale, 1e-6)
    modifiers = [
        {"name": f"staterror_{channel}", "type": "staterror", "data": errors.tolist()},
        *raw.get("modifiers", []),
    ]
    return Sample(name, tuple(float(y) for y in yields), tuple(modifiers))


#: One-bin background kinds: ``builder(sources, spec, where, channel) -> BackgroundPart``.
BACKGROUND_BUILDERS: dict[str, Callable[[ConfigSources, Any, str, str], BackgroundPart]] = {
    "yield": _fixed_yield,
    "estimate": _estimate,
    "template": _template,
    "abcd": _abcd,
    "tail_fit": _tail_fit,
}
_KINDS = (*BACKGROUND_BUILDERS, "shape")


def background_sample(
    sources: ConfigSources, raw: Mapping[str, Any], channel: str, where: str
) -> Sample:
    """The :class:`~na64stat.model.workspace.Sample` of one background entry of a channel."""
    name = str(raw.get("name", "background"))
    kinds = [k for k in _KINDS if k in raw]
    if len(kinds) != 1:
        raise InputError(f"{where}: give exactly one of {', '.join(_KINDS)}")
    if kinds[0] == "shape":
        return _shape(sources, raw, name, channel, where)
    part = BACKGROUND_BUILDERS[kinds[0]](sources, raw[kinds[0]], where, channel)
    estimate = part.estimate
    if not estimate.valid or not math.isfinite(estimate.value) or estimate.value < 0:
        raise InputError(
            f"{where}: background estimate is not usable ({estimate.method}: {estimate.value})"
        )
    modifiers = list(part.modifiers)
    error = estimate.syst_error if part.systematic_only else estimate.total_error
    if error > 0 and estimate.value > 0:
        modifiers.append(
            uncertainty_modifier(f"{name}_uncertainty_{channel}", estimate.value, error)
        )
    extra = raw.get("modifiers", [])
    if not isinstance(extra, list):
        raise InputError(f"{where}.modifiers: expected a list of pyhf modifiers")
    value = max(
        estimate.value, 1e-6
    )  # pyhf needs a positive expectation for a sample with modifiers
    return Sample(name, (value,), (*modifiers, *extra))


# ---------------------------------------------------------------------------
# signal

#: Expected signal events of a normalised patch at its reference coupling: about the 90-95% CL limit
#: at small
#: backgrounds (2.3 - 3 events), so that the limit on mu is of order one (0.1 - 10, cabinetry's
#: default search).
REFERENCE_SIGNAL_EVENTS = 3.0


def normalise_signal(patch: SignalPatch, target: float = REFERENCE_SIGNAL_EVENTS) -> SignalPatch:
    """``patch`` at the coupling (two significant digits) where it expects about ``target`` events.

    The yields, proportional to the coupling squared, scale by (new / old
    reference coupling)^2; the metadata's ``reference_coupling`` becomes the
    new one. A patch without signal is returned unchanged.

    >>> p = SignalPatch("m0p01", {"box": (12.0,)}, (0.01,),
    ...                 {"mass_gev": 0.01, "reference_coupling": 1e-4})
    >>> n = normalise_signal(p)
    >>> n.metadata["reference_coupling"], round(n.yields["box"][0], 6)
    (5e-05, 3.0)
    """
    total = sum(y for values in patch.yields.values() for y in values)
    old = float(patch.metadata["reference_coupling"])
    if not (total > 0 and math.isfinite(total)):
        return patch
    new = float(f"{old * math.sqrt(target / total):.2g}")
    factor = (new / old) ** 2
    yields = {
        channel: tuple(y * factor for y in values) for channel, values in patch.yields.items()
    }
    return SignalPatch(
        patch.name, yields, patch.values, {**patch.metadata, "reference_coupling": new}
    )


def point_signal_strength(coupling: float, reference_coupling: float) -> float:
    """Signal strength mu of a normalised visible-mode patch at which it is the prediction at its
    own coupling.

    The patch's yields are the prediction at ``coupling`` times
    (reference_coupling / coupling)^2 (:func:`normalise_signal`), so the
    prediction is mu = (coupling / reference_coupling)^2.

    Parameters
    ----------
    coupling : float
        The patch's own coupling (its ``values`` entry; epsilon or e_mu, dimensionless).
    reference_coupling : float
        The patch metadata's ``reference_coupling`` (same units).

    Returns
    -------
    float
        mu at the patch's own (mass, coupling).

    >>> round(point_signal_strength(1e-4, 5e-5), 12)
    4.0
    """
    return (float(coupling) / float(reference_coupling)) ** 2


@dataclass(frozen=True)
class SignalContext:
    """What every signal builder needs besides its own section of the config.

    Attributes
    ----------
    setup, channel, model, coupling:
        Setup key, the channel the signal goes to, ``"dark_photon"`` /
        ``"lmutau"`` and the reference coupling.
    exposure:
        Particles on target of the result (the config's ``exposure``).
    where:
        Config location for error messages.
    signal_yield:
        Expected events of one physics signal point (injected).
    normalise:
        Patches per mass get their own reference coupling (:func:`normalise_signal`).
    """

    setup: str
    channel: str
    model: str
    coupling: float
    exposure: float
    where: str
    signal_yield: SignalYield | None = None
    common: Mapping[str, Any] = field(default_factory=dict)
    normalise: bool = True

    def events(self, mass_gev: float, coupling: float, efficiency: float | None) -> float:
        """Expected signal events of one point from the injected :data:`SignalYield`."""
        if self.signal_yield is None:
            raise InputError(
                f"{self.where}: signal yields from physics need a signal_yield function "
                "(na64stat.simulation.signal_yields.expected_signal_events)"
            )
        return self.signal_yield(
            self.setup, mass_gev, coupling, self.model, self.exposure, efficiency
        )


@dataclass(frozen=True)
class SignalSet:
    """The signal patches of a config and the names of their ``values``."""

    patches: tuple[SignalPatch, ...]
    labels: tuple[str, ...]


def _selection_mass(name: str, where: str) -> float:
    match = re.fullmatch(r"signal_m([0-9.eE+-]+)MeV", name)
    if not match:
        raise InputError(
            f"{where}: cannot read the mass from sample name {name!r} (signal_m<MeV>MeV)"
        )
    return float(match.group(1)) * 1e-3


def _from_selection(
    sources: ConfigSources, raw: Mapping[str, Any], ctx: SignalContext
) -> SignalSet:
    """Signal yields of the selected signal MC samples ``signal_m<MeV>MeV`` (one patch per mass)."""
    spec, where = raw["from_selection"], ctx.where
    cutflow = sources.json(spec.get("cutflow"), f"{where}.from_selection.cutflow")
    scale = float(spec.get("scale", sources.default_scale(where)))
    patches = []
    for name in sources.match(cutflow, spec.get("samples", "signal_m*MeV"), where):
        mass = _selection_mass(name, where)
        if "histogram" in spec:  # multi-bin: the signal's histogram in the region
            values, _ = sources.histogram(spec, [name], where)
            yields = tuple(float(v) * scale for v in values)
        else:
            yields = (
                region_counts(cutflow, name, str(spec.get("region", "signal")), where)["weighted"]
                * scale,
            )
        patches.append(
            SignalPatch(
                patch_name(mass), {ctx.channel: yields}, (mass,), {"mass_gev": mass, **ctx.common}
            )
        )
    patches = [normalise_signal(p) for p in patches] if ctx.normalise else patches
    return SignalSet(tuple(sorted(patches, key=lambda p: p.values)), ("mass_gev",))


def _masses(raw: Mapping[str, Any], where: str) -> tuple[float, ...]:
    masses = numbers(raw.get("masses"), f"{where}.masses")
    for m in masses:
        check_mass(m, f"{where}.masses")
    return masses


def _mass_coupling_grid(
    sources: ConfigSources, raw: Mapping[str, Any], ctx: SignalContext
) -> SignalSet:
    """Visible mode: the yield depends on the coupling through the decay length, one patch per
    (mass, coupling).
    """
    masses, efficiency = (
        _masses(raw, ctx.where),
        (None if raw.get("efficiency") is None else float(raw["efficiency"])),
    )
    couplings = numbers(raw["couplings"], f"{ctx.where}.couplings")
    if not all(math.isfinite(g) and g > 0 for g in couplings):
        raise InputError(
            f"{ctx.where}.couplings must be finite positive numbers, got {raw['couplings']!r}"
        )
    patches = [
        SignalPatch(
            patch_name(m, g),
            {ctx.channel: (ctx.events(m, g, efficiency),)},
            (m, g),
            {"mass_gev": m, **ctx.common, "reference_coupling": g},
        )
        for m in masses
        for g in couplings
    ]
    patches = [normalise_signal(p) for p in patches] if ctx.normalise else patches
    return SignalSet(tuple(patches), ("mass_gev", "coupling"))


def _physics_masses(
    sources: ConfigSources, raw: Mapping[str, Any], ctx: SignalContext
) -> SignalSet:
    """Physics yields at the reference coupling, one patch per mass."""
    masses, efficiency = (
        _masses(raw, ctx.where),
        (None if raw.get("efficiency") is None else float(raw["efficiency"])),
    )
    patches = [
        SignalPatch(
            patch_name(m),
            {ctx.channel: (ctx.events(m, ctx.coupling, efficiency),)},
            (m,),
            {"mass_gev": m, **ctx.common},
        )
        for m in masses
    ]
    patches = [normalise_signal(p) for p in patches] if ctx.normalise else patches
    return SignalSet(tuple(patches), ("mass_gev",))


#: Signal sources, tried in this order: the first key present in the ``signal`` section wins
#: (``masses`` is the default).
SIGNAL_BUILDERS: dict[
    str, Callable[[ConfigSources, Mapping[str, Any], SignalContext], SignalSet]
] = {
    "from_selection": _from_selection,
    "couplings": _mass_coupling_grid,
    "masses": _physics_masses,
}


def build_signals(sources: ConfigSources, raw: Mapping[str, Any], ctx: SignalContext) -> SignalSet:
    """The signal patches of a ``signal`` section, from the first source of :data:`SIGNAL_BUILDERS`
    it names.
    """
    kind = next((k for k in SIGNAL_BUILDERS if k in raw), "masses")
    return SIGNAL_BUILDERS[kind](sources, raw, ctx)
