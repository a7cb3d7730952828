"""Physics summary: expected yields and background-free reach, compared with references.

This is what ``na64stat reach`` prints and what ``na64stat run`` (the main
job) writes for now. Comparisons are ratios to curves shipped in
``na64stat/resources`` (published NA64 limits, the (g-2)_mu band).

Examples
--------
>>> from na64stat.physics.yields import get_setup
>>> s = summarize(get_setup("na64e-invisible"), [0.01])
>>> s.comparisons[0].reference
'na64e_invisible_2019'
>>> 0.5 < float(s.comparisons[0].ratio[0]) < 2.0
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from na64stat.physics.yields import Reach, Setup, background_free_reach
from na64stat.core.references import load_curve

__all__ = [
    "DEFAULT_MASSES_GEV",
    "REFERENCE_CURVES",
    "Comparison",
    "Summary",
    "summarize",
    "format_summary",
    "summary_to_dict",
]

#: Masses of the default summary [GeV]: 1, 10, 100 and 1000 MeV.
DEFAULT_MASSES_GEV: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)

#: Reference curves to compare each setup's reach with: (resource name, Reach field).
REFERENCE_CURVES: dict[str, tuple[tuple[str, str], ...]] = {
    "na64e-invisible": (("na64e_invisible_2019", "epsilon"),),
    "na64mu-invisible": (
        ("gm2_lmutau_2sigma_lower", "e_mu"),
        ("gm2_lmutau_2sigma_upper", "e_mu"),
    ),
}


@dataclass(frozen=True)
class Comparison:
    """Our reach in one coupling next to a reference curve at the same masses.

    ``ratio`` = ours / reference (NaN outside the reference's mass range).
    """

    reference: str
    description: str
    coupling: str
    reference_values: np.ndarray
    ratio: np.ndarray


@dataclass(frozen=True)
class Summary:
    """A setup's background-free reach and its comparisons."""

    reach: Reach
    comparisons: tuple[Comparison, ...]


def summarize(
    setup: Setup,
    masses_gev: ArrayLike = DEFAULT_MASSES_GEV,
    *,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
) -> Summary:
    """Compute the reach of ``setup`` and compare it with its reference curves."""
    reach = background_free_reach(setup, masses_gev, alpha_d=alpha_d, mass_ratio=mass_ratio)
    comparisons = []
    for name, field_name in REFERENCE_CURVES.get(setup.name, ()):
        curve = load_curve(name)
        ref = curve.interpolate(reach.mass_gev)
        ours = getattr(reach, field_name)
        comparisons.append(
            Comparison(
                reference=name,
                description=curve.description,
                coupling=field_name,
                reference_values=ref,
                ratio=ours / ref,
            )
        )
    return Summary(reach=reach, comparisons=tuple(comparisons))


def _fmt(value: float) -> str:
    return "      -   " if not np.isfinite(value) else f"{value:10.3e}"


def format_summary(summary: Summary) -> str:
    """A plain-text table of the reach and the comparisons, for the terminal."""
    r = summary.reach
    s = r.setup
    unit = "EOT" if s.beam == "electron" else "MOT"
    lines = [
        f"setup {s.name}: {s.description}",
        f"  {s.beam_energy_gev:g} GeV {s.beam}s on {s.target_length_x0:g} X0 {s.target.name}, "
        f"E_miss > {s.missing_energy_cut_gev:g} GeV, {s.exposure:.3g} {unit}, "
        f"efficiency {s.efficiency:g}, cross section {s.cross_section.upper()}",
        f"  background-free 90% CL reach ({r.n_events:.3f} events); "
        f"y for alpha_D = {r.alpha_d:g}, m_A'/m_chi = {r.mass_ratio:g}",
        "   m [GeV]   N/eps^2    N/e_mu^2     eps^2       eps        e_mu        y",
    ]
    for i, m in enumerate(r.mass_gev):
        row = [r.events_per_epsilon2[i], r.events_per_e_mu2[i], r.epsilon2[i], r.epsilon[i], r.e_mu[i], r.y[i]]
        lines.append(f"  {m:8.3g} " + " ".join(_fmt(v) for v in row))
    for c in summary.comparisons:
        lines.append(f"  compared with {c.reference} ({c.coupling}): {c.description}")
        lines.append("   m [GeV]   ours      reference  ours/ref")
        ours = getattr(r, c.coupling)
        for i, m in enumerate(r.mass_gev):
            lines.append(f"  {m:8.3g} {_fmt(ours[i])} {_fmt(c.reference_values[i])} {_fmt(c.ratio[i])}")
    return "\n".join(lines)


def summary_to_dict(summary: Summary) -> dict[str, Any]:
    """A JSON-ready description of ``summary`` (numbers, setup and sources)."""
    r = summary.reach
    s = r.setup
    return {
        "setup": {
            "name": s.name,
            "description": s.description,
            "beam": s.beam,
            "beam_energy_gev": s.beam_energy_gev,
            "target": s.target.name,
            "target_length_x0": s.target_length_x0,
            "missing_energy_cut_gev": s.missing_energy_cut_gev,
            "exposure": s.exposure,
            "efficiency": s.efficiency,
            "cross_section": s.cross_section,
            "sources": list(s.sources),
        },
        "confidence_level": 0.9,
        "n_events": r.n_events,
        "alpha_d": r.alpha_d,
        "mass_ratio_aprime_over_chi": r.mass_ratio,
        "mass_gev": r.mass_gev,
        "events_per_epsilon2": r.events_per_epsilon2,
        "events_per_e_mu2": r.events_per_e_mu2,
        "epsilon2": r.epsilon2,
        "epsilon": r.epsilon,
        "e_mu": r.e_mu,
        "y": r.y,
        "comparisons": [
            {
                "reference": c.reference,
                "description": c.description,
                "coupling": c.coupling,
                "reference_values": c.reference_values,
                "ratio": c.ratio,
            }
            for c in summary.comparisons
        ],
    }
