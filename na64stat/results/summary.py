"""Physics summary: expected yields and background-free reach, compared with references.

This is what ``na64stat reach`` prints and what ``na64stat run`` (the main
job) writes for now. Comparisons are ratios to curves shipped in
``na64stat/resources`` (published NA64 limits, the (g-2)_mu band).

Examples
--------
>>> from na64stat.physics.setups import get_setup
>>> s = summarize(get_setup("na64e-invisible"), [0.01])
>>> s.comparisons[0].reference
'na64e_invisible_2019'
>>> 0.5 < float(s.comparisons[0].ratio[0]) < 2.0
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.references import load_curve
from na64stat.physics.efficiencies import signal_efficiency
from na64stat.physics.setups import UPPER_BOUND_NOTE, Setup
from na64stat.physics.yields import Reach, background_free_reach

__all__ = [
    "DEFAULT_MASSES_GEV",
    "REFERENCE_CURVES",
    "WITHOUT_ANNIHILATION",
    "Comparison",
    "Summary",
    "summarize",
    "format_summary",
    "summary_to_dict",
    "BandOverlap",
    "gm2_band_overlap",
    "workspace_reach",
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

#: Reference curves whose publication did not count resonant e+ e- -> A' (NA64 counts it from its
#: 2016-2022 analysis on; PRL 123's curve is smooth at 226-320 MeV): an electron setup is compared
#: with them with ``positron_annihilation=False``, like for like (here and in ``reproduce
#: published``).
WITHOUT_ANNIHILATION: frozenset[str] = frozenset(
    {"na64e_invisible_2016", "na64e_invisible_2017", "na64e_invisible_2019"}
)


@dataclass(frozen=True)
class Comparison:
    """Our reach in one coupling next to a reference curve at the same masses.

    ``ratio`` = ours / reference (NaN outside the reference's mass range).
    ``ours``: our reach in ``coupling`` as compared, which is the setup's
    own except where the reference did not count e+ e- -> A'
    (:data:`WITHOUT_ANNIHILATION`): then the reach without it, and ``note``
    says so.
    """

    reference: str
    description: str
    coupling: str
    reference_values: np.ndarray
    ratio: np.ndarray
    ours: np.ndarray | None = None
    note: str = ""


@dataclass(frozen=True)
class BandOverlap:
    """How much of the (g-2)_mu 2 sigma band in g_Z' = e_mu a limit excludes, computed per mass.

    Attributes
    ----------
    mass_gev, limit:
        The limit's masses [GeV] and e_mu upper limits.
    band_lower, band_upper:
        The band's edges there (NaN outside its mass range).
    excluded_fraction:
        Share of the band, in log e_mu, above the limit (0: none, 1: all); NaN outside the band.
    statement:
        One sentence from these numbers: where all, part or none of the band is excluded.
    """

    mass_gev: np.ndarray
    limit: np.ndarray
    band_lower: np.ndarray
    band_upper: np.ndarray
    excluded_fraction: np.ndarray
    statement: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON record."""
        return {
            "mass_gev": self.mass_gev,
            "limit": self.limit,
            "band_lower": self.band_lower,
            "band_upper": self.band_upper,
            "excluded_fraction": self.excluded_fraction,
            "statement": self.statement,
        }


def _mass_ranges(mass: np.ndarray, selected: np.ndarray) -> str:
    """'a - b GeV, c GeV' for the runs of consecutive selected masses."""
    runs, start = [], None
    for i, flag in enumerate(selected):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(selected) - 1):
            stop = i if flag else i - 1
            runs.append(f"{mass[start]:.3g}" + (f" - {mass[stop]:.3g}" if stop > start else ""))
            start = None
    return ", ".join(runs) + " GeV" if runs else "no mass"


def gm2_band_overlap(
    mass_gev: ArrayLike, e_mu_limit: ArrayLike, *, upper_bound: bool = False
) -> BandOverlap:
    """The share of the (g-2)_mu 2 sigma band (L_mu - L_tau, resources ``gm2_lmutau_2sigma_*``) a
    limit excludes.

    At each mass the limit excludes e_mu above it: the excluded share of the
    band [lo, hi] is (ln hi - ln max(limit, lo)) / (ln hi - ln lo), clipped to
    [0, 1]. The statement says at which of the given masses the whole band,
    part of it, or none is excluded (never more than the numbers show).
    ``upper_bound``: the limit is a prediction that is only an upper bound
    on the sensitivity (:attr:`~na64stat.physics.setups.Setup.upper_bound`);
    the statement then says "could exclude at most" and why.

    >>> o = gm2_band_overlap([0.01, 0.1], [1e-3, 1e-5])
    >>> [float(f) for f in o.excluded_fraction]
    [0.0, 1.0]
    """
    mass = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    limit = np.atleast_1d(np.asarray(e_mu_limit, dtype=float))
    lo = load_curve("gm2_lmutau_2sigma_lower").interpolate(mass)
    hi = load_curve("gm2_lmutau_2sigma_upper").interpolate(mass)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (np.log(hi) - np.log(np.maximum(limit, lo))) / (np.log(hi) - np.log(lo))
    share = np.where(
        np.isfinite(lo) & np.isfinite(hi) & np.isfinite(limit), np.clip(share, 0.0, 1.0), np.nan
    )
    inside = np.isfinite(share)
    if not inside.any():
        statement = "the (g-2)_mu band is not defined at these masses"
    else:
        parts = [
            f"all of the (g-2)_mu 2 sigma band at {_mass_ranges(mass, inside & (share >= 1.0))}",
            f"part of it at {_mass_ranges(mass, inside & (share > 0.0) & (share < 1.0))}",
            f"none at {_mass_ranges(mass, inside & (share <= 0.0))}",
        ]
        verb = "could exclude at most " if upper_bound else "excludes "
        statement = (
            verb
            + "; ".join(parts)
            + f" (of the masses {mass[inside][0]:.3g} - {mass[inside][-1]:.3g} GeV given)"
        )
        if upper_bound:
            statement += f"; {UPPER_BOUND_NOTE}"
    return BandOverlap(mass, limit, lo, hi, share, statement)


@dataclass(frozen=True)
class Summary:
    """A setup's background-free reach and its comparisons (and, for e_mu, the (g-2)_mu band
    overlap).
    """

    reach: Reach
    comparisons: tuple[Comparison, ...]
    gm2_overlap: BandOverlap | None = None


def summarize(
    setup: Setup,
    masses_gev: ArrayLike = DEFAULT_MASSES_GEV,
    *,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
    branching: str = "physical",
) -> Summary:
    """Compute the reach of ``setup`` and compare it with its reference curves.

    ``branching``: the Br(Z' -> invisible) convention of the e_mu reach (``"physical"`` or
    ``"darkcast"``).
    """
    reach = background_free_reach(
        setup, masses_gev, alpha_d=alpha_d, mass_ratio=mass_ratio, branching=branching
    )
    comparisons = []
    for name, field_name in REFERENCE_CURVES.get(setup.name, ()):
        curve = load_curve(name)
        ref = curve.interpolate(reach.mass_gev)
        note, compared = "", reach
        if (
            name in WITHOUT_ANNIHILATION
            and setup.beam == "electron"
            and setup.positron_annihilation
        ):
            note = (
                "ours without e+ e- -> A' (positron_annihilation=False): the reference did "
                "not count it"
            )
            compared = background_free_reach(
                setup.with_(positron_annihilation=False),
                masses_gev,
                alpha_d=alpha_d,
                mass_ratio=mass_ratio,
                branching=branching,
            )
        ours = getattr(compared, field_name)
        comparisons.append(
            Comparison(
                reference=name,
                description=curve.description,
                coupling=field_name,
                reference_values=ref,
                ratio=ours / ref,
                ours=ours,
                note=note,
            )
        )
    overlap = (
        gm2_band_overlap(reach.mass_gev, reach.e_mu, upper_bound=setup.upper_bound)
        if any(name.startswith("gm2_lmutau") for name, _ in REFERENCE_CURVES.get(setup.name, ()))
        else None
    )
    return Summary(reach=reach, comparisons=tuple(comparisons), gm2_overlap=overlap)


def _fmt(value: float) -> str:
    return "      -   " if not np.isfinite(value) else f"{value:10.3e}"


def _efficiency_text(setup: Setup, masses: np.ndarray) -> str:
    """The flat override, or 'computed a - b' over the masses (simulated selection x factors)."""
    if setup.efficiency is not None:
        return f"{setup.efficiency:g} (explicit)"
    values = signal_efficiency(setup, masses)
    return f"computed {values.min():.3g} - {values.max():.3g}" if values.size else "computed"


def format_summary(summary: Summary) -> str:
    """A plain-text table of the reach and the comparisons, for the terminal."""
    r = summary.reach
    s = r.setup
    unit = "EOT" if s.beam == "electron" else "MOT"
    lines = [
        f"setup {s.name}: {s.description}",
        f"  {s.beam_energy_gev:g} GeV {s.beam}s on {s.target_length_x0:g} X0 {s.target.name}, "
        f"E_miss > {s.missing_energy_cut_gev:g} GeV, {s.exposure:.3g} {unit}, "
        f"efficiency {_efficiency_text(s, r.mass_gev)}, cross section {s.cross_section.upper()}",
        f"  background-free 90% CL reach ({r.n_events:.3f} events); "
        f"y for alpha_D = {r.alpha_d:g}, m_A'/m_chi = {r.mass_ratio:g}",
        *([f"  this reach is {UPPER_BOUND_NOTE}"] if s.upper_bound else []),
        "   m [GeV]   N/eps^2    N/e_mu^2     eps^2       eps        e_mu        y",
    ]
    for i, m in enumerate(r.mass_gev):
        row = [
            r.events_per_epsilon2[i],
            r.events_per_e_mu2[i],
            r.epsilon2[i],
            r.epsilon[i],
            r.e_mu[i],
            r.y[i],
        ]
        lines.append(f"  {m:8.3g} " + " ".join(_fmt(v) for v in row))
    for c in summary.comparisons:
        lines.append(f"  compared with {c.reference} ({c.coupling}): {c.description}")
        if c.note:
            lines.append(f"  ({c.note})")
        lines.append("   m [GeV]   ours      reference  ours/ref")
        ours = getattr(r, c.coupling) if c.ours is None else c.ours
        for i, m in enumerate(r.mass_gev):
            lines.append(
                f"  {m:8.3g} {_fmt(ours[i])} {_fmt(c.reference_values[i])} {_fmt(c.ratio[i])}"
            )
    if summary.gm2_overlap is not None:
        lines.append(f"  e_mu reach {summary.gm2_overlap.statement}")
    lines.extend(f"  caveat: {c}" for c in s.caveats)
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
            "efficiency": s.efficiency
            if s.efficiency is not None
            else "computed (signal_efficiency)",
            "cross_section": s.cross_section,
            "sources": list(s.sources),
            "caveats": list(s.caveats),
        },
        "prediction": (
            f"upper bound on the sensitivity: {UPPER_BOUND_NOTE}"
            if s.upper_bound
            else "from the setup alone (its caveats say how it compares with the published result)"
        ),
        "confidence_level": 0.9,
        "n_events": r.n_events,
        "alpha_d": r.alpha_d,
        "mass_ratio_aprime_over_chi": r.mass_ratio,
        "mass_gev": r.mass_gev,
        "signal_efficiency": signal_efficiency(s, r.mass_gev),
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
                "ours": c.ours if c.ours is not None else getattr(r, c.coupling),
                "ratio": c.ratio,
                "note": c.note,
            }
            for c in summary.comparisons
        ],
        "gm2_band_overlap": summary.gm2_overlap.to_dict()
        if summary.gm2_overlap is not None
        else None,
    }


def workspace_reach(patchset: Mapping[str, Any], coupling: float) -> tuple[np.ndarray, np.ndarray]:
    """Background-free 90% CL reach from a workspace's own signal yields (2.303 events, no
    uncertainty).

    Parameters
    ----------
    patchset : mapping
        A PatchSet content whose patches carry ``mass_gev``
        (:func:`~na64stat.model.workspace.signal_totals`).
    coupling : float
        The reference coupling the signal yields were made at (eps or e_mu).

    Returns
    -------
    tuple of numpy.ndarray
        The masses [GeV], sorted, and the coupling that gives 2.303 signal events at each (NaN
        where the signal is 0).
    """
    from na64stat.model.workspace import signal_totals
    from na64stat.physics.constants import CL90_EVENTS

    totals = signal_totals(patchset)
    mass = np.array(sorted(totals))
    s = np.array([totals[m] for m in mass])
    with np.errstate(divide="ignore", invalid="ignore"):
        return mass, np.where(
            s > 0, coupling * np.sqrt(CL90_EVENTS / np.where(s > 0, s, 1.0)), np.nan
        )
