"""Declarative workspace descriptions (``workspaces/*/config.yaml``) -> :class:`WorkspaceDescription`.

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
        observed: 0                      # number(s), {cutflow: FILE, sample: data, region: signal},
                                         # or {histograms: FILE, sample: data, region: R, histogram: H} (multi-bin)
        samples:
          - name: background
            # one of:
            yield: {value: 0.53, error: 0.17}           # a number with its uncertainty (normsys)
            # estimate: FILE.json                       # a saved BackgroundEstimate
            # template: {cutflow: FILE, samples: [hadron, "beam_*"], region: signal, scale: 0.00176}
            # abcd: {cutflow: FILE, sample: data, regions: {A: signal, B: ..., C: ..., D: ...}}
            # tail_fit: {histograms: FILE, sample: data, region: R, histogram: H, box: [0, 50],
            #            fit_range: [0, 150], shape: exponential, alternatives: [linear]}
            # shape: {histograms: FILE, samples: [...], region: R, histogram: H, scale: ...}  (multi-bin)
            modifiers: []                # extra pyhf modifiers
    signal:
      channel: signal_box
      model: dark_photon                 # or lmutau (coupling e_mu)
      coupling: 1.0e-4                   # reference coupling of the yields
      efficiency: 0.6                    # physics yields only
      efficiency_uncertainty: 0.1        # relative, a normsys on the signal
      exposure_uncertainty: 0.01         # relative, a lumi modifier on the signal
      masses: [0.001, 0.01, 0.1]         # physics yields: eq. (57) via na64stat.physics
      couplings: [...]                   # visible mode: one patch per (mass, coupling)
      # or from_selection: {cutflow: FILE, region: signal, scale: ...}  (samples signal_m<MeV>MeV;
      #    with histograms: FILE and histogram: H, the signal's histogram in the region: multi-bin)

Relative paths are relative to the config file. Template and selection
signal yields are scaled by ``scale`` (default ``exposure / mc_exposure``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from na64stat.model.background import BackgroundEstimate, abcd, fit_tail, mc_template
from na64stat.core.errors import InputError
from na64stat.core.loaders import load_yaml
from na64stat.core.checks import check_mass
from na64stat.physics.yields import events_per_e_mu2, events_per_epsilon2, get_setup
from na64stat.model.workspace import Channel, Sample, SignalPatch, WorkspaceDescription, patch_name, read_json, uncertainty_modifier

__all__ = ["load_workspace_config", "parse_workspace_config", "expected_signal_events", "VISIBLE_MC_EVENTS"]

#: Signal MC events used to average the visible-mode decay probability.
VISIBLE_MC_EVENTS = 20_000


def expected_signal_events(setup: str, mass_gev: float, coupling: float, model: str, exposure: float,
                           efficiency: float, *, seed: int = 1) -> float:
    """Signal events at ``coupling`` for ``exposure`` particles on target and an overall efficiency.

    Invisible modes: eq. (57) through :mod:`na64stat.physics.yields` with the
    setup's missing-energy cut (Br_inv and the loop mixing included).
    Visible mode: production with the A' above 20% of the beam energy times
    the probability that it decays between the dump and S4 (eq. 118),
    averaged over the A' energy spectrum with :data:`VISIBLE_MC_EVENTS`
    seeded signal events (:func:`na64stat.simulation.signal_process`).

    >>> n = expected_signal_events("na64e-invisible", 0.01, 1e-4, "dark_photon", 2.84e11, 1.0)
    >>> 30 < n < 40
    True
    """
    physics = get_setup(setup).with_(exposure=exposure, efficiency=efficiency)
    if setup != "na64e-visible":
        per_g2 = events_per_epsilon2 if model == "dark_photon" else events_per_e_mu2
        return float(per_g2(physics, [mass_gev])[0]) * coupling**2
    from na64stat.simulation.detectors import get_detector
    from na64stat.simulation.processes import signal_process
    from na64stat.simulation.sampling import Draw

    process = signal_process(setup, mass_gev, coupling, "dark_photon")
    draw = Draw(np.random.default_rng(seed), VISIBLE_MC_EVENTS, biased=True)
    process.sample(draw, get_detector(setup))
    return process.rate_per_pot * exposure * efficiency * float(np.mean(draw.weight))


def _path(base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: expected a file name, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _region(cutflow: Mapping[str, Any], sample: str, region: str, where: str) -> Mapping[str, float]:
    samples = cutflow.get("samples", {})
    if sample not in samples:
        raise InputError(f"{where}: no sample {sample!r} in the selection output; samples are {sorted(samples)}")
    regions = samples[sample].get("regions", {})
    if region not in regions:
        raise InputError(f"{where}: no region {region!r}; regions are {sorted(regions)}")
    value = regions[region]
    if value == "blinded":
        raise InputError(f"{where}: region {region!r} is blinded for {sample!r} (run the selection with --unblind)")
    return value


def _numbers(value: Any, where: str) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers, got {value!r}") from None
    if not out:
        raise InputError(f"{where}: empty")
    return out


class _Reader:
    """Resolves file references relative to the config and caches selection outputs."""

    def __init__(self, base: Path, cfg: Mapping[str, Any], source: str) -> None:
        self.base, self.cfg, self.source = base, cfg, source
        self._files: dict[Path, Any] = {}
        self._histograms: dict[Path, Any] = {}

    def histograms(self, value: Any, where: str) -> Any:
        """A selection's ``histograms.json``, read once per build."""
        from na64stat.selection.outputs import load_histograms

        path = _path(self.base, value, f"{where}.histograms")
        if path not in self._histograms:
            self._histograms[path] = load_histograms(path)
        return self._histograms[path]

    def json(self, value: Any, where: str) -> Any:
        path = _path(self.base, value, where)
        if path not in self._files:
            self._files[path] = read_json(path, where)
        return self._files[path]

    def default_scale(self, where: str) -> float:
        if "mc_exposure" not in self.cfg:
            return 1.0
        try:
            return float(self.cfg["exposure"]) / float(self.cfg["mc_exposure"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise InputError(f"{where}: exposure and mc_exposure must be positive numbers") from None

    def histogram(self, spec: Mapping[str, Any], samples: Sequence[str], where: str) -> tuple[np.ndarray, np.ndarray]:
        """Summed bin contents and variances of a selection histogram over ``samples`` (multi-bin shapes)."""
        hists = self.histograms(spec.get("histograms"), where)
        values, variances = None, None
        for sample in samples:
            try:
                h = hists[sample][str(spec["region"])][str(spec["histogram"])]
            except KeyError as exc:
                raise InputError(f"{where}: {spec.get('histograms')} has no histogram {exc} for sample {sample!r}") from None
            if h.ndim != 1:
                raise InputError(f"{where}: multi-bin channels need 1D histograms, {spec['histogram']!r} has {h.ndim} axes")
            v, w2 = np.asarray(h.values(), dtype=float), np.asarray(h.variances(), dtype=float)
            values = v if values is None else values + v
            variances = w2 if variances is None else variances + w2
        if values is None:
            raise InputError(f"{where}: no samples for the histogram")
        return values, variances

    def _histogram_samples(self, spec: Mapping[str, Any], where: str) -> list[str]:
        names = spec.get("samples", spec.get("sample", "data"))
        patterns = [names] if isinstance(names, str) else list(names)
        available = self.histograms(spec.get("histograms"), where)
        matched = [n for n in available if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not matched:
            raise InputError(f"{where}: samples {patterns!r} match none of {sorted(available)}")
        return matched

    def observed(self, value: Any, where: str) -> tuple[float, ...]:
        counts = self._observed(value, where)
        bad = [c for c in counts if not (math.isfinite(c) and c >= 0 and float(c).is_integer())]
        if bad:
            raise InputError(f"{where}: observed counts must be whole numbers >= 0, got {bad}")
        return counts

    def _observed(self, value: Any, where: str) -> tuple[float, ...]:
        if isinstance(value, dict) and "histograms" in value:
            counts, _ = self.histogram(value, self._histogram_samples(value, where), where)
            return tuple(float(c) for c in counts)
        if isinstance(value, dict):
            cutflow = self.json(value.get("cutflow"), f"{where}.cutflow")
            region = _region(cutflow, str(value.get("sample", "data")), str(value.get("region")), where)
            return (float(region["raw"]),)
        return _numbers(value, where)

    def background(self, raw: Mapping[str, Any], channel: str, where: str) -> Sample:
        name = str(raw.get("name", "background"))
        kinds = [k for k in ("yield", "estimate", "template", "abcd", "tail_fit", "shape") if k in raw]
        if len(kinds) != 1:
            raise InputError(f"{where}: give exactly one of yield, estimate, template, abcd, tail_fit, shape")
        kind = kinds[0]
        modifiers: list[dict[str, Any]] = []
        if kind == "shape":
            return self._shape(raw, name, channel, where)
        if kind == "template":
            spec = raw["template"]
            cutflow = self.json(spec.get("cutflow"), f"{where}.template.cutflow")
            names = self._match(cutflow, spec.get("samples", []), where)
            sums = [(v["weighted"], v["weighted_error"] ** 2)
                    for v in (_region(cutflow, n, str(spec.get("region")), where) for n in names)]
            estimate = mc_template(sums, scale=float(spec.get("scale", self.default_scale(where))), names=names)
            if estimate.value > 0:
                modifiers.append({"name": f"staterror_{channel}", "type": "staterror", "data": [estimate.stat_error]})
        elif kind == "abcd":
            spec = raw["abcd"]
            cutflow = self.json(spec.get("cutflow"), f"{where}.abcd.cutflow")
            regions = spec.get("regions", {})
            counts = {k: _region(cutflow, str(spec.get("sample", "data")), str(regions.get(k)), where)
                      for k in ("B", "C", "D")}
            estimate = abcd(counts["B"]["weighted"], counts["C"]["weighted"], counts["D"]["weighted"],
                            var_b=counts["B"]["weighted_error"] ** 2, var_c=counts["C"]["weighted_error"] ** 2,
                            var_d=counts["D"]["weighted_error"] ** 2)
        elif kind == "tail_fit":
            estimate = self.tail_fit(raw["tail_fit"], f"{where}.tail_fit")
        elif kind == "estimate":
            estimate = BackgroundEstimate.from_dict(self.json(raw["estimate"], f"{where}.estimate"), str(raw["estimate"]))
        else:
            spec = raw["yield"]
            if not isinstance(spec, dict):
                raise InputError(f"{where}: yield must be {{value: ..., error: ...}}")
            value, error = _numbers(spec.get("value"), f"{where}.yield.value"), _numbers(spec.get("error", 0.0), f"{where}.yield.error")
            if len(value) != 1 or len(error) != 1 or not (math.isfinite(value[0]) and value[0] >= 0) \
                    or not (math.isfinite(error[0]) and error[0] >= 0):
                raise InputError(f"{where}: yield needs a finite value >= 0 and an error >= 0, "
                                 f"got {spec.get('value')!r} +- {spec.get('error', 0.0)!r}")
            estimate = BackgroundEstimate(value[0], error[0])
        if not estimate.valid or not math.isfinite(estimate.value) or estimate.value < 0:
            raise InputError(f"{where}: background estimate is not usable ({estimate.method}: {estimate.value})")
        error = estimate.syst_error if kind == "template" else estimate.total_error
        if error > 0 and estimate.value > 0:
            modifiers.append(uncertainty_modifier(f"{name}_uncertainty_{channel}", estimate.value, error))
        extra = raw.get("modifiers", [])
        if not isinstance(extra, list):
            raise InputError(f"{where}.modifiers: expected a list of pyhf modifiers")
        value = max(estimate.value, 1e-6)  # pyhf needs a positive expectation for a sample with modifiers
        return Sample(name, (value,), tuple([*modifiers, *extra]))

    def _shape(self, raw: Mapping[str, Any], name: str, channel: str, where: str) -> Sample:
        """A multi-bin MC template: histogram contents x scale, MC statistics per bin as a staterror."""
        spec = raw["shape"]
        scale = float(spec.get("scale", self.default_scale(where)))
        values, variances = self.histogram(spec, self._histogram_samples(spec, f"{where}.shape"), f"{where}.shape")
        yields = np.maximum(values * scale, 1e-6)  # pyhf needs positive expectations where modifiers act
        errors = np.maximum(np.sqrt(variances) * scale, 1e-6)
        modifiers = [{"name": f"staterror_{channel}", "type": "staterror", "data": errors.tolist()}, *raw.get("modifiers", [])]
        return Sample(name, tuple(float(y) for y in yields), tuple(modifiers))

    def tail_fit(self, spec: Mapping[str, Any], where: str) -> BackgroundEstimate:
        """Fit a selection histogram (``histograms.json``) outside the box and extrapolate into it."""
        path = spec.get("histograms")
        hists = self.histograms(path, where)
        try:
            h = hists[str(spec.get("sample", "data"))][str(spec["region"])][str(spec["histogram"])]
        except KeyError as exc:
            raise InputError(f"{where}: {path} has no histogram {exc}") from None
        box = _numbers(spec.get("box"), f"{where}.box")
        fit_range = _numbers(spec["fit_range"], f"{where}.fit_range") if "fit_range" in spec else None
        if len(box) != 2 or (fit_range is not None and len(fit_range) != 2):
            raise InputError(f"{where}: box and fit_range are [low, high]")
        return fit_tail(h.values(), h.axes[0].edges, box=(box[0], box[1]),
                        fit_range=None if fit_range is None else (fit_range[0], fit_range[1]),
                        shape=str(spec.get("shape", "exponential")),
                        alternatives=tuple(spec.get("alternatives", ())), variances=h.variances())

    def _match(self, cutflow: Mapping[str, Any], patterns: Any, where: str) -> list[str]:
        if isinstance(patterns, str):
            patterns = [patterns]
        names = [n for n in cutflow.get("samples", {}) if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not names:
            raise InputError(f"{where}: samples {patterns!r} match none of {sorted(cutflow.get('samples', {}))}")
        return names

    def signals(self, raw: Mapping[str, Any], channels: Sequence[Channel], setup: str,
                ) -> tuple[tuple[SignalPatch, ...], tuple[str, ...], str, float]:
        where = f"{self.source}: signal"
        channel = str(raw.get("channel", channels[0].name))
        if channel not in [c.name for c in channels]:
            raise InputError(f"{where}: unknown channel {channel!r}")
        model = str(raw.get("model", "dark_photon"))
        if model not in ("dark_photon", "lmutau"):
            raise InputError(f"{where}: model must be dark_photon or lmutau, got {model!r}")
        coupling = _numbers(raw.get("coupling", 1e-4), f"{where}.coupling")[0]
        if not (math.isfinite(coupling) and coupling > 0):
            raise InputError(f"{where}.coupling must be a finite positive number, got {raw.get('coupling')!r}")
        common = {"setup": setup, "signal_model": model, "coupling_name": "epsilon" if model == "dark_photon" else "e_mu",
                  "reference_coupling": coupling}
        if "from_selection" in raw:
            spec = raw["from_selection"]
            cutflow = self.json(spec.get("cutflow"), f"{where}.from_selection.cutflow")
            scale = float(spec.get("scale", self.default_scale(where)))
            patches = []
            for name in self._match(cutflow, spec.get("samples", "signal_m*MeV"), where):
                match = re.fullmatch(r"signal_m([0-9.eE+-]+)MeV", name)
                if not match:
                    raise InputError(f"{where}: cannot read the mass from sample name {name!r} (signal_m<MeV>MeV)")
                mass = float(match.group(1)) * 1e-3
                if "histogram" in spec:  # multi-bin: the signal's histogram in the region
                    values, _ = self.histogram(spec, [name], where)
                    yields = tuple(float(v) * scale for v in values)
                else:
                    yields = (_region(cutflow, name, str(spec.get("region", "signal")), where)["weighted"] * scale,)
                patches.append(SignalPatch(patch_name(mass), {channel: yields}, (mass,), {"mass_gev": mass, **common}))
            return tuple(sorted(patches, key=lambda p: p.values)), ("mass_gev",), model, coupling
        masses = _numbers(raw.get("masses"), f"{where}.masses")
        for m in masses:
            check_mass(m, f"{where}.masses")
        exposure = float(self.cfg.get("exposure", 0.0))
        efficiency = float(raw.get("efficiency", 1.0))
        if "couplings" in raw:  # visible mode: yield depends on the coupling through the decay length
            couplings = _numbers(raw["couplings"], f"{where}.couplings")
            if not all(math.isfinite(g) and g > 0 for g in couplings):
                raise InputError(f"{where}.couplings must be finite positive numbers, got {raw['couplings']!r}")
            patches = [SignalPatch(patch_name(m, g), {channel: (expected_signal_events(setup, m, g, model, exposure, efficiency),)},
                                   (m, g), {"mass_gev": m, **common, "reference_coupling": g})
                       for m in masses for g in couplings]
            return tuple(patches), ("mass_gev", "coupling"), model, coupling
        patches = [SignalPatch(patch_name(m), {channel: (expected_signal_events(setup, m, coupling, model, exposure, efficiency),)},
                               (m,), {"mass_gev": m, **common}) for m in masses]
        return tuple(patches), ("mass_gev",), model, coupling


_KEYS = {"name", "description", "setup", "exposure", "mc_exposure", "exposure_unit", "publication", "hepdata",
         "assumptions", "sources", "channels", "signal", "parameters"}


def parse_workspace_config(cfg: Mapping[str, Any], base: Path, source: str = "<config>") -> WorkspaceDescription:
    """Build a :class:`WorkspaceDescription` from a parsed config (see the module docstring)."""
    if not isinstance(cfg, dict):
        raise InputError(f"{source}: a workspace config must be a mapping")
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    setup = str(cfg.get("setup", ""))
    get_setup(setup)
    cfg = dict(cfg)
    for key in ("exposure", "mc_exposure"):  # YAML 1.1 reads 2.84e11 (no dot in the mantissa) as a string
        if key in cfg:
            try:
                cfg[key] = float(cfg[key])
            except (TypeError, ValueError):
                raise InputError(f"{source}: {key} must be a number, got {cfg[key]!r}") from None
    reader = _Reader(base, cfg, source)
    channels = []
    for i, raw in enumerate(cfg.get("channels") or []):
        where = f"{source}: channel {raw.get('name', i)!r}"
        name = str(raw.get("name", ""))
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise InputError(f"{where}: channel names need letters, digits and _ only")
        observed = reader.observed(raw.get("observed"), f"{where}.observed")
        samples = tuple(reader.background(s, name, f"{where}, sample {s.get('name', j)!r}")
                        for j, s in enumerate(raw.get("samples") or []))
        if not samples:
            raise InputError(f"{where}: no background samples")
        channels.append(Channel(name, observed, samples))
    if not channels:
        raise InputError(f"{source}: no channels")
    signal_cfg = cfg.get("signal")
    if not isinstance(signal_cfg, dict):
        raise InputError(f"{source}: missing 'signal' section")
    signals, labels, model, coupling = reader.signals(signal_cfg, channels, setup)
    signal_modifiers = list(signal_cfg.get("modifiers", []))
    parameters = list(cfg.get("parameters", []))
    if signal_cfg.get("exposure_uncertainty"):  # EOT / MOT counting: a lumi modifier on the signal
        r = float(signal_cfg["exposure_uncertainty"])
        signal_modifiers.append({"name": "lumi", "type": "lumi", "data": None})
        parameters.append({"name": "lumi", "auxdata": [1.0], "sigmas": [r], "bounds": [[max(0.0, 1 - 5 * r), 1 + 5 * r]],
                           "inits": [1.0]})
    if signal_cfg.get("efficiency_uncertainty"):
        r = float(signal_cfg["efficiency_uncertainty"])
        signal_modifiers.append({"name": "signal_efficiency", "type": "normsys", "data": {"hi": 1 + r, "lo": 1 / (1 + r)}})
    metadata = {k: cfg[k] for k in ("setup", "exposure", "exposure_unit", "publication", "hepdata", "assumptions", "sources")
                if k in cfg}
    metadata.update({"model": model, "reference_coupling": coupling,
                     "efficiency": signal_cfg.get("efficiency"), "signal_source": "selection" if "from_selection" in signal_cfg else "physics"})
    return WorkspaceDescription(
        name=str(cfg.get("name", Path(source).parent.name)),
        channels=tuple(channels),
        signals=signals,
        labels=labels,
        signal_modifiers=tuple(signal_modifiers),
        parameters=tuple(parameters),
        description=str(cfg.get("description", "")),
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def load_workspace_config(path: str | Path) -> WorkspaceDescription:
    """Read a workspace config YAML file (errors name the file and the item)."""
    path = Path(path)
    cfg = load_yaml(path, "workspace config")
    return parse_workspace_config(cfg, path.parent, str(path))
