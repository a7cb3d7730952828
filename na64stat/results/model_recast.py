"""Coupling limits of any registered signal model (:mod:`na64stat.physics.models`) from mu limits.

A signal patch made in model S at reference coupling g_S,ref and a limit mu on its strength give
g_S^2 < mu g_S,ref^2. In another model T the same invisible event count needs
g_T^2 = g_S^2 (alpha_X Br_inv)_S / (alpha_X Br_inv)_T at the beam lepton of the experiment:
darkcast's recast rule for an invisible search (Ilten, Soreq, Williams, Xue, JHEP 06 (2018) 004,
eq. 3.3; production by the beam lepton scales as its squared charge, the signal as Br(invisible)).
A combined workspace (``na64stat combine --model T``) is already expressed in T; a single
experiment's workspace in its own model is recast by the rule. :func:`beam_and_combined_limits`
computes a model's limits from NA64e, NA64mu and their combination in one call.

From a dark-photon limit at 10 MeV, B - L (Br(invisible) = 3/5 below 2 m_mu) on electrons:
g^2 = eps^2 alpha / (Br / 4 pi)

>>> from na64stat.physics.constants import ALPHA_EM
>>> round(coupling2_ratio("dark_photon", "b_minus_l", "electron", 0.01) * 0.6
...       / (4 * math.pi * ALPHA_EM), 4)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from na64stat.core.errors import InputError
from na64stat.core.vocabulary import BAND_NAMES
from na64stat.inference.scan import ScanResult, ScanSettings, compute_point, points_from_patchset
from na64stat.physics import get_setup
from na64stat.physics.model_widths import invisible_alpha_x_per_coupling2
from na64stat.physics.models import get_model

__all__ = [
    "ModelLimit",
    "ModelLimits",
    "coupling2_ratio",
    "model_limits",
    "beam_and_combined_limits",
]


@dataclass(frozen=True)
class ModelLimit:
    """The coupling limit of one mass point (None: no limit, e.g. no coupling to the beam lepton).

    Attributes
    ----------
    mass_gev:
        Boson mass [GeV].
    observed:
        Observed upper limit on the model's coupling (dimensionless).
    expected:
        Expected limits per band (:data:`na64stat.core.vocabulary.BAND_NAMES`).
    beam:
        Beam of the limit (``"mixed"`` for a combination of beams).
    """

    mass_gev: float
    observed: float | None
    expected: Mapping[str, float | None] = field(default_factory=dict)
    beam: str = "electron"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        return {
            "mass_gev": self.mass_gev,
            "observed": self.observed,
            "expected": dict(self.expected),
            "beam": self.beam,
        }


@dataclass(frozen=True)
class ModelLimits:
    """A model's coupling limits per mass (sorted by mass).

    Attributes
    ----------
    model, coupling_name:
        Registry name and its coupling's name.
    branching:
        Br(invisible) convention (``"physical"`` or ``"darkcast"``).
    points:
        One :class:`ModelLimit` per mass.
    """

    model: str
    coupling_name: str
    branching: str
    points: tuple[ModelLimit, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (the ``model`` section of ``na64stat recast --model``'s output)."""
        return {
            "model": self.model,
            "coupling_name": self.coupling_name,
            "branching": self.branching,
            "points": [p.to_dict() for p in self.points],
        }

    def curve(self, band: str = "observed") -> tuple[np.ndarray, np.ndarray]:
        """(masses [GeV], limits) of ``band`` (``"observed"`` or a band name), NaN where no
        limit.
        """
        masses = np.array([p.mass_gev for p in self.points])
        values = [p.observed if band == "observed" else p.expected.get(band) for p in self.points]
        return masses, np.array([math.nan if v is None else v for v in values], dtype=float)


def coupling2_ratio(
    source: str,
    target: str,
    beam: str,
    mass_gev: float,
    source_branching: str = "physical",
    target_branching: str = "physical",
) -> float:
    """g_target^2 / g_source^2 giving the same invisible signal on a ``beam`` at ``mass_gev`` [GeV].

    Parameters
    ----------
    source, target : str
        Registered model names.
    beam : {"electron", "muon"}
        The beam lepton.
    mass_gev : float
        Boson mass [GeV].
    source_branching, target_branching : str, optional
        Br(invisible) conventions of each.

    Returns
    -------
    float
        The ratio (inf where the target is not produced or never decays invisibly).

    Examples
    --------
    >>> coupling2_ratio("le_ltau", "le_ltau", "electron", 0.1)
    1.0
    >>> coupling2_ratio("dark_photon", "le_ltau", "muon", 0.1)
    inf
    """
    if source == target and source_branching == target_branching:
        return 1.0
    made = float(
        invisible_alpha_x_per_coupling2(get_model(source), beam, mass_gev, source_branching)
    )
    wanted = float(
        invisible_alpha_x_per_coupling2(get_model(target), beam, mass_gev, target_branching)
    )
    return made / wanted if wanted > 0 else math.inf


def _beam(meta: Mapping[str, Any]) -> str:
    """The beam of a point: its metadata's ``beam`` (combined workspaces), else its setup's."""
    if "beam" in meta:
        return str(meta["beam"])
    return get_setup(str(meta["setup"])).beam if "setup" in meta else "electron"


def _coupling(mu: Any, reference: float, ratio: float) -> float | None:
    """sqrt(mu ratio) x reference, None where there is no finite limit."""
    if mu is None or not math.isfinite(float(mu)) or not math.isfinite(ratio):
        return None
    return math.sqrt(float(mu) * ratio) * reference


def _point(record: Mapping[str, Any], model: str, branching: str, where: str) -> ModelLimit:
    """One limits record (observed and expected mu, metadata) as a coupling limit of ``model``."""
    meta = record.get("metadata") or {}
    try:
        mass, source, reference = (
            float(meta["mass_gev"]),
            str(meta["signal_model"]),
            float(meta["reference_coupling"]),
        )
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{where}: needs mass_gev, signal_model and reference_coupling in its metadata"
        ) from None
    beam = _beam(meta)
    made = str(meta.get("branching", "physical"))
    if beam == "mixed" and (source != model or made != branching):
        raise InputError(
            f"{where}: a combination of beams made in {source!r} cannot be recast to {model!r}; "
            f"combine the workspaces in it (na64stat combine --model {model})"
        )
    ratio = 1.0 if beam == "mixed" else coupling2_ratio(source, model, beam, mass, made, branching)
    expected = record.get("expected") or {}
    return ModelLimit(
        mass_gev=mass,
        observed=_coupling(record.get("observed"), reference, ratio),
        expected={b: _coupling(expected.get(b), reference, ratio) for b in BAND_NAMES},
        beam=beam,
    )


def model_limits(
    limits: ScanResult | Mapping[str, Any],
    model: str,
    *,
    branching: str = "physical",
    source: str = "limits file",
) -> ModelLimits:
    """The coupling limits of ``model`` from a scan (:class:`ScanResult` or ``limits.json``
    content).

    Parameters
    ----------
    limits : ScanResult or mapping
        The mu limits; each point's metadata needs ``mass_gev``, ``signal_model``,
        ``reference_coupling`` and ``beam`` or ``setup``.
    model : str
        Registered model name (:func:`na64stat.physics.models.model_names`).
    branching : {"physical", "darkcast"}, optional
        Br(invisible) convention of ``model``.
    source : str, optional
        Name of the input for error messages.

    Returns
    -------
    ModelLimits
        The limits on the model's coupling per mass, observed and expected.
    """
    record = get_model(model)
    content = limits.to_dict() if isinstance(limits, ScanResult) else limits
    points = content.get("limits") if isinstance(content, Mapping) else None
    if not isinstance(points, Mapping) or not points:
        raise InputError(
            f"{source}: not a limits file with points (write one with na64stat limits)"
        )
    out = [_point(r, model, branching, f"{source}: point {k!r}") for k, r in points.items()]
    return ModelLimits(
        model, record.coupling_name, branching, tuple(sorted(out, key=lambda p: p.mass_gev))
    )


def beam_and_combined_limits(
    model: str,
    inputs: Mapping[str, Sequence[tuple[Mapping[str, Any], Any]]],
    masses: Sequence[float] | None = None,
    settings: ScanSettings | None = None,
) -> dict[str, ModelLimits]:
    """Limits of ``model`` from each named group of workspaces, each group combined in ``model``.

    Parameters
    ----------
    model : str
        Registered model name.
    inputs : mapping of str to sequence of (spec, patchset)
        Per label (e.g. ``"NA64e"``, ``"NA64mu"``, ``"combined"``) the (background-only spec,
        PatchSet) pairs to combine (:func:`na64stat.model.combine.combine_workspaces`).
    masses : sequence of float, optional
        Masses [GeV]; default each group's union.
    settings : ScanSettings, optional
        How the limits are computed (default :class:`ScanSettings`).

    Returns
    -------
    dict of str to ModelLimits
        Per label; a group with no signal at all in ``model`` (no coupling to its beam leptons)
        gives no limit (None) at every mass.
    """
    from na64stat.model.combine import combine_workspaces

    settings = settings or ScanSettings()
    out = {}
    for label, group in inputs.items():
        spec, patchset = combine_workspaces(list(group), model, masses)
        records = {}
        for point in points_from_patchset(patchset):
            has_signal = any(
                any(v > 0 for v in op["value"]["data"])
                for op in point.patch
                if op["path"].endswith("/samples/0")
            )
            records[point.key] = (
                compute_point(spec, point, settings)
                if has_signal
                else {"observed": None, "expected": {}, "metadata": point.metadata}
            )
        out[label] = model_limits({"limits": records}, model, source=label)
    return out
