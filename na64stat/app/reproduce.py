"""Rebuild the NA64 review's projection figures (arXiv:2003.07257) from the physics module.

Each figure is a function returning :class:`FigureData` (named curves in
(mass, coupling), their sources) that :func:`reproduce` draws (PNG, PDF) and
writes as JSON next to the picture, so a figure can be checked without
reading pixels. Projections are background-free 90% CL reaches
(2.303 signal events, :func:`na64stat.physics.yields.background_free_reach`)
with the setups' computed signal efficiency (simulated selection per mass,
:func:`na64stat.physics.efficiencies.signal_efficiency`); background free as in the
seed ("assuming zero background").

Implemented: Fig. 6 (eps^2: the published NA64e bound and the 5e12 / 1e13
EOT projections; the EOT needed to exclude the scalar, Majorana and
pseudo-Dirac targets for m_A'/m_chi = 2.5, 3 and alpha_D = 0.1, 0.05, 0.02), Fig. 8 (e_mu: NA64e
4e12 / 4e13 EOT, NA64mu 1e12 MOT, (g-2)_mu band), Fig. 10 (alpha_mu: 1e12 muons at 150 GeV), Fig. 11
(epsilon: NA64e 2.84e11 / 5e12 EOT against NA64mu 5e12 / 5e13 MOT), Fig. 13 (y for
alpha_D = 0.1 and 0.5, m_A' = 3 m_chi: NA64e 1e13 EOT combined with NA64mu
2e13 MOT, with the thermal-relic targets), and from the shipped workspaces
the NA64e 2016-2018 limit against the published curve (ratio panel) and the
NA64mu 2022 limit on g_Z' with the (g-2)_mu band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import cast

import numpy as np

from na64stat.core.errors import InputError
from na64stat.core.io import write_json_atomic
from na64stat.core.progress import Progress
from na64stat.core.references import load_curve
from na64stat.physics.annihilation import with_resonance_masses
from na64stat.physics.couplings import (
    dm_electron_cross_section_cm2,
    g_explaining_delta_a,
    relic_target_y_full,
)
from na64stat.physics.models import get_model
from na64stat.physics.setups import SETUPS, UPPER_BOUND_NOTE, get_setup
from na64stat.physics.yields import Reach, background_free_reach, events_per_epsilon2
from na64stat.results.plotting import Overlay, curves_plot

__all__ = [
    "FigureData",
    "FIGURES",
    "WORKSPACE_FIGURES",
    "ALL_FIGURES",
    "reproduce",
    "workspace_limit_figure",
    "MASSES_GEV",
    "shipped_workspaces",
]

#: Mass grid of the projections [GeV]: 31 log-spaced from 1 MeV to 1 GeV and the
#: resonant-annihilation window
#: sampled densely (na64stat.physics.annihilation.RESONANCE_SCAN_MASSES_GEV), so that NA64e's dip at
#: 200-320 MeV is drawn with 14 masses between 150 and 320 MeV, not as a one-point spike.
MASSES_GEV = np.array(with_resonance_masses(tuple(float(m) for m in np.logspace(-3, 0, 31))))


@dataclass(frozen=True)
class FigureData:
    """The numbers behind one figure: curves (label -> (mass, values)) and bands (label -> (mass,
    lower, upper)).
    """

    name: str
    title: str
    coupling: str
    x_label: str
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    bands: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    tables: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The figure's JSON record."""
        return {
            "figure": self.name,
            "title": self.title,
            "coupling": self.coupling,
            "x": self.x_label,
            "curves": {
                k: {"mass_gev": m.tolist(), "values": v.tolist()}
                for k, (m, v) in self.curves.items()
            },
            "bands": {
                k: {"mass_gev": m.tolist(), "lower": lo.tolist(), "upper": hi.tolist()}
                for k, (m, lo, hi) in self.bands.items()
            },
            "notes": list(self.notes),
            "tables": self.tables,
        }


def _reach(setup: str, exposure: float, **changes: float) -> Reach:
    return background_free_reach(get_setup(setup).with_(exposure=exposure, **changes), MASSES_GEV)


def _gm2_band(coupling: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    lower, upper = load_curve("gm2_lmutau_2sigma_lower"), load_curve("gm2_lmutau_2sigma_upper")
    m = lower.mass_gev[lower.mass_gev <= 1.0]
    lo, hi = lower.interpolate(m), upper.interpolate(m)
    if coupling == "alpha_mu":
        lo, hi = lo**2 / (4 * math.pi), hi**2 / (4 * math.pi)
    return {"(g-2)_mu 2 sigma": (m, lo, hi)}


def fig6() -> FigureData:
    """NA64e bound in (m_A', eps^2) with the 5e12 / 1e13 EOT projections (left panel of the review's
    Fig. 6).
    """
    published = load_curve("na64e_invisible_2019")
    curves = {"NA64e 2016-2018, 2.84e11 EOT (published)": (published.mass_gev, published.lower**2)}
    curves.update(
        {
            f"NA64e {n:.0e} EOT (projection)": (MASSES_GEV, _reach("na64e-invisible", n).epsilon2)
            for n in (5e12, 1e13)
        }
    )
    return FigureData(
        "fig6",
        "Fig. 6: NA64e 90% CL bound and projections in eps^2",
        "epsilon2",
        "m_A' [GeV]",
        curves,
    )


def fig6_eot() -> FigureData:
    """EOT needed to exclude the thermal-relic targets (right panels of the review's Fig. 6).

    The target eps^2 = y_relic(m_chi) (m_A'/m_chi)^4 / alpha_D (y from the full relic
    curves); background-free reach in eps^2 scales as 1/EOT, so the EOT needed is
    2.84e11 x eps^2_reach(2.84e11) / eps^2_target.
    """
    reference = 2.84e11
    reach = _reach("na64e-invisible", reference).epsilon2
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model in ("scalar", "majorana", "pseudodirac"):
        for ratio in (2.5, 3.0):
            for alpha_d in (0.1, 0.05, 0.02):
                target = relic_target_y_full(MASSES_GEV / ratio, model) * ratio**4 / alpha_d
                curves[f"{model}, m_A'/m_chi = {ratio}, alpha_D = {alpha_d}"] = (
                    MASSES_GEV,
                    reference * reach / target,
                )
    return FigureData(
        "fig6_eot",
        "Fig. 6: EOT needed to exclude the relic targets",
        "eot",
        "m_A' [GeV]",
        curves,
        notes=("background-free, computed efficiency; NaN outside the relic curves' mass range",),
    )


#: The note of every figure with an NA64mu curve predicted from the setup alone (Setup.upper_bound).
_NA64MU_NOTE = f"NA64mu curves (upper bound): {UPPER_BOUND_NOTE}"


def fig8() -> FigureData:
    curves = {
        f"NA64e {n:.0e} EOT": (MASSES_GEV, _reach("na64e-invisible", n).e_mu) for n in (4e12, 4e13)
    }
    curves["NA64mu 1e12 MOT (upper bound)"] = (MASSES_GEV, _reach("na64mu-invisible", 1e12).e_mu)
    return FigureData(
        "fig8",
        "Fig. 8: expected 90% CL on e_mu (L_mu - L_tau Z')",
        "e_mu",
        "m_Z' [GeV]",
        curves,
        _gm2_band("e_mu"),
        (
            "NA64e through the loop mixing of eq. (54) on shell; Br(Z' -> nu nu) included",
            _NA64MU_NOTE,
        ),
    )


def fig10() -> FigureData:
    reach = _reach("na64mu-invisible", 1e12, beam_energy_gev=150.0, missing_energy_cut_gev=75.0)
    curves = {"NA64mu 1e12 MOT, 150 GeV (upper bound)": (MASSES_GEV, reach.e_mu**2 / (4 * math.pi))}
    gm2 = g_explaining_delta_a(MASSES_GEV) ** 2 / (4 * math.pi)
    curves["alpha_mu explaining Delta a_mu = 288e-11 (eqs. 31-32)"] = (MASSES_GEV, gm2)
    return FigureData(
        "fig10",
        "Fig. 10: alpha_mu reach, 1e12 muons at 150 GeV",
        "alpha_mu",
        "m_Z_mu [GeV]",
        curves,
        notes=("missing-energy cut 75 GeV (half the beam energy), an assumption", _NA64MU_NOTE),
    )


def fig11() -> FigureData:
    curves = {
        f"NA64e {n:.3g} EOT": (MASSES_GEV, _reach("na64e-invisible", n).epsilon)
        for n in (2.84e11, 5e12)
    }
    curves.update(
        {
            f"NA64mu {n:.0e} MOT (upper bound)": (MASSES_GEV, _reach("na64mu-invisible", n).epsilon)
            for n in (5e12, 5e13)
        }
    )
    return FigureData(
        "fig11",
        "Fig. 11: NA64e against NA64mu in epsilon",
        "epsilon",
        "m_A' [GeV]",
        curves,
        notes=(_NA64MU_NOTE,),
    )


#: Reference coupling (epsilon) of the projected workspaces that Fig. 13 combines.
_FIG13_EPSILON_REF = 1e-4


def _projected_workspace(setup: str, exposure: float, unit: str) -> tuple[dict, dict]:
    """A background-free, systematics-free counting workspace of ``setup`` at ``exposure``,
    one dark-photon patch per :data:`MASSES_GEV` (signal at eps = :data:`_FIG13_EPSILON_REF`).
    """
    from na64stat.model.workspace import (
        Channel,
        Sample,
        SignalPatch,
        WorkspaceDescription,
        build,
        patch_name,
    )

    physics = get_setup(setup).with_(exposure=exposure)
    per_eps2 = events_per_epsilon2(physics, MASSES_GEV)
    name = f"{setup}_{exposure:.0e}_{unit}".replace("+", "")
    signals = tuple(
        SignalPatch(
            patch_name(float(m)),
            {"signal_box": (float(n) * _FIG13_EPSILON_REF**2,)},
            (float(m),),
            {
                "mass_gev": float(m),
                "setup": setup,
                "signal_model": "dark_photon",
                "reference_coupling": _FIG13_EPSILON_REF,
            },
        )
        for m, n in zip(MASSES_GEV, per_eps2)
    )
    description = WorkspaceDescription(
        name=name,
        channels=(Channel("signal_box", (0.0,), (Sample("background", (0.0,)),)),),
        signals=signals,
    )
    return build(description)


def fig13() -> FigureData:
    """Fig. 13: the NA64e (1e13 EOT) + NA64mu (2e13 MOT) projection in y, from a real combination.

    Both projections become counting workspaces (zero background, nothing
    observed); :func:`na64stat.model.combine.combine_workspaces` puts them in
    one likelihood with one POI in eps^2. With zero background and zero
    events in every channel, CLs = CLs+b = P(all channels empty | mu) =
    exp(-mu S), S the combined signal summed over channels, so the 90% CL
    limit is mu = ln 10 / S exactly (for any number of channels); the single
    experiments' curves come from the same formula with their own S.
    """
    from na64stat.model.combine import combine_workspaces

    e_ws, mu_ws = (
        _projected_workspace("na64e-invisible", 1e13, "EOT"),
        _projected_workspace("na64mu-invisible", 2e13, "MOT"),
    )
    _, patchset = combine_workspaces(
        [e_ws, mu_ws], "dark_photon", reference_coupling=_FIG13_EPSILON_REF
    )
    eps2 = {
        label: math.log(10.0) * _FIG13_EPSILON_REF**2 / np.array(_total_signal(ps))
        for label, ps in (("combined", patchset), ("NA64e", e_ws[1]), ("NA64mu", mu_ws[1]))
    }
    m_chi = MASSES_GEV / 3.0
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for alpha_d in (0.1, 0.5):
        curves[f"NA64e 1e13 EOT + NA64mu 2e13 MOT (combined), alpha_D = {alpha_d}"] = (
            m_chi,
            eps2["combined"] * alpha_d / 81.0,
        )
    curves["NA64e 1e13 EOT alone, alpha_D = 0.1"] = (m_chi, eps2["NA64e"] * 0.1 / 81.0)
    curves["NA64mu 2e13 MOT alone (upper bound), alpha_D = 0.1"] = (
        m_chi,
        eps2["NA64mu"] * 0.1 / 81.0,
    )
    for model in ("scalar", "majorana", "pseudodirac"):
        curves[f"relic target: {model}"] = (m_chi, relic_target_y_full(m_chi, model))
    gain = eps2["combined"] / np.fmin(eps2["NA64e"], eps2["NA64mu"])
    return FigureData(
        "fig13",
        "Fig. 13: y = eps^2 alpha_D (m_chi/m_A')^4, m_A' = 3 m_chi",
        "y",
        "m_chi [GeV]",
        curves,
        notes=(
            "combined likelihood of the two projected counting workspaces "
            "(na64stat.model.combine), one POI in eps^2; zero background: 90% CL at ln 10 "
            "signal events summed over both",
            f"combined / better single eps^2: {gain.min():.2f} - {gain.max():.2f}",
            "y = eps^2 alpha_D / 81 (NA64mu produces the A' through its eps e coupling to muons)",
            _NA64MU_NOTE,
        ),
        tables={
            "combined_over_better_single_eps2": {
                "m_aprime_gev": [float(m) for m in MASSES_GEV],
                "ratio": [float(g) for g in gain],
            }
        },
    )


def _total_signal(patchset: dict) -> list[float]:
    """Signal events at mu = 1 summed over every channel, per patch (in patch order)."""
    return [
        sum(
            sum(op["value"]["data"]) for op in patch["patch"] if op["path"].startswith("/channels/")
        )
        for patch in patchset["patches"]
    ]


def shipped_workspaces() -> list[str]:
    """Names of the workspaces shipped as package data (``na64stat/workspaces/<name>``)."""
    root = resources.files("na64stat") / "workspaces"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "bkgonly.json").is_file())


def _workspace_folder(name: str) -> Path:
    """A shipped workspace folder, read through ``importlib.resources`` (package data of
    ``na64stat``).
    """
    folder = resources.files("na64stat") / "workspaces" / name
    if not (folder / "bkgonly.json").is_file():
        raise InputError(
            f"no shipped workspace {name!r} in the installed package; "
            f"shipped: {', '.join(shipped_workspaces()) or 'none'}"
        )
    return Path(str(folder))  # installed as plain files (setuptools package data, not zipped)


def workspace_limit_figure(
    name: str,
    out_dir: str | os.PathLike[str],
    *,
    n_toys: int = 2000,
    workers: int = 2,
    masses_gev: tuple[float, ...] | None = None,
) -> list[Path]:
    """The 90% CL limit of a shipped workspace with its expected bands and the reference curves.

    ``na64e-invisible-2016-2018``: epsilon with the published NA64e curve and a
    ratio panel; ``na64mu-2022``: g_Z' with the (g-2)_mu band and
    ``<name>_gm2_overlap.json``, the share of the band the observed limit
    excludes at each mass (:func:`~na64stat.results.summary.gm2_band_overlap`). ``masses_gev``
    restricts the patches (quick checks); CLs by toys (``n_toys`` per
    hypothesis, seeded) on ``workers`` local processes.
    """
    from na64stat.core.progress import point_line
    from na64stat.inference.scan import ScanSettings, load_scan_inputs, run_scan
    from na64stat.results.plotting import LimitCurve, exclusion_plot
    from na64stat.results.recast import recast_limits_file

    folder = _workspace_folder(name)
    spec, points = load_scan_inputs(folder / "bkgonly.json", [folder / "patchset.json"])
    if masses_gev is not None:
        points = [
            p for p in points if any(abs(p.metadata["mass_gev"] / m - 1) < 1e-9 for m in masses_gev)
        ]
    out = Path(out_dir)
    with Progress(len(points), f"{name} limits") as bar:
        limits = run_scan(
            spec,
            points,
            out / f"{name}_limits",
            ScanSettings(n_toys=n_toys, seed=1),
            n_workers=workers,
            progress=lambda record: bar.item(point_line(record)),
        )
    couplings = recast_limits_file(limits)
    coupling = (
        get_model(str(points[0].metadata.get("signal_model", "dark_photon"))).coupling_name
        if points
        else "epsilon"
    )
    record = SETUPS.get(str(points[0].metadata.get("setup", ""))) if points else None
    upper_bound = record is not None and record.upper_bound
    label = (
        f"{name} (setup alone: an upper bound on the sensitivity, not a reproduction)"
        if upper_bound
        else name
    )
    curve = LimitCurve.from_recast(couplings, coupling, label)
    if coupling == "epsilon":
        ref = load_curve("na64e_invisible_2019")
        overlays = [
            Overlay(
                "NA64e published (PRL 123 (2019) 121801)", ref.mass_gev, ref.lower, color="tab:blue"
            )
        ]
        ratio_to = overlays[0]
    else:
        ((m, lo, hi),) = _gm2_band("e_mu").values()
        overlays, ratio_to = [Overlay("(g-2)_mu 2 sigma", m, lo, hi, color="tab:green")], None
    files = exclusion_plot(
        curve,
        out / name,
        coupling=coupling,
        overlays=overlays,
        ratio_to=ratio_to,
        title=f"{name}: 90% CL from the shipped workspace",
    )
    files.append(write_json_atomic(out / f"{name}.json", couplings.to_dict()))
    if (
        coupling == "e_mu"
    ):  # how much of the (g-2)_mu band the observed limit excludes: computed, not claimed
        from na64stat.results.summary import gm2_band_overlap

        observed = cast(np.ndarray, curve.observed)  # from_recast: always a column
        overlap = gm2_band_overlap(curve.mass_gev, observed, upper_bound=upper_bound)
        files.append(write_json_atomic(out / f"{name}_gm2_overlap.json", overlap.to_dict()))
    return files


def fig3() -> FigureData:
    """sigma(e chi -> e chi) implied by the NA64e epsilon limit, eq. (51), m_A' = 3 m_chi."""
    published = load_curve("na64e_invisible_2019")
    m_aprime = published.mass_gev
    curves = {
        f"NA64e 2016-2018 (published eps), alpha_D = {a}": (
            m_aprime / 3.0,
            dm_electron_cross_section_cm2(published.lower, a, m_aprime),
        )
        for a in (0.1, 0.5)
    }
    return FigureData(
        "fig3",
        "Fig. 3: DM-electron cross section from the NA64e epsilon limit (eq. 51)",
        "sigma_e",
        "m_chi [GeV]",
        curves,
        notes=("m_A' = 3 m_chi; reduced mass = m_e",),
    )


def fig7(n_toys: int = 1000, masses_gev: tuple[float, ...] | None = None) -> FigureData:
    """Visible mode: the (m, eps) region excluded by the shipped 2017-2018 workspace: CLs < 0.1 at
    each point's own prediction, mu = (eps / reference_coupling)^2 of its normalised patch.
    """
    import pyhf

    from na64stat.inference.calculators import best_calculator
    from na64stat.inference.likelihood import Likelihood
    from na64stat.model.builders import point_signal_strength
    from na64stat.model.workspace import load_patchset, load_workspace

    folder = _workspace_folder("na64e-visible-2017-2018")
    spec = load_workspace(folder / "bkgonly.json")
    patchset = load_patchset(folder / "patchset.json", spec)
    cls: dict[float, list[tuple[float, float]]] = {}
    chosen = [
        p
        for p in patchset.patches
        if masses_gev is None or any(abs(float(p.values[0]) / m - 1) < 1e-9 for m in masses_gev)
    ]
    with Progress(len(chosen), "fig7 CLs") as bar:
        for patch in chosen:
            mass, eps = (float(v) for v in patch.values)
            ws = pyhf.Workspace(patchset.apply(spec, patch.name))
            model = ws.model()
            mu = point_signal_strength(eps, patch.metadata["reference_coupling"])
            point = best_calculator(Likelihood(model, ws.data(model)), n_toys=n_toys, seed=1).cls(
                mu
            )
            cls.setdefault(mass, []).append((eps, point.cls_obs))
            bar.item(f"m = {mass:g} GeV, eps = {eps:g}: CLs = {point.cls_obs:.3g}")
    masses = np.array(sorted(cls))
    lower, upper = [], []
    for m in masses:
        excluded = [eps for eps, value in sorted(cls[m]) if value < 0.1]
        lower.append(min(excluded) if excluded else np.nan)
        upper.append(max(excluded) if excluded else np.nan)
    published = load_curve("na64e_visible_2019")
    published_upper = np.asarray(published.upper, dtype=float)  # the published band has both edges
    bands = {
        "NA64e visible 2017-2018 (published, 8.4e10 EOT)": (
            published.mass_gev,
            published.lower,
            published_upper,
        ),
        "this workspace: excluded grid points": (masses, np.array(lower), np.array(upper)),
    }
    x17 = 0.0167
    curves = {"X17 (16.7 MeV)": (np.array([x17, x17]), np.array([1e-5, 1e-2]))}
    grid = {
        f"CLs at the point, m = {m:g} GeV": {
            "epsilon": [e for e, _ in sorted(cls[m])],
            "cls": [c for _, c in sorted(cls[m])],
        }
        for m in masses
    }
    return FigureData(
        "fig7",
        "Fig. 7: visible-mode exclusion in (m, eps)",
        "epsilon",
        "m [GeV]",
        curves,
        bands,
        notes=(
            "excluded where CLs < 0.1 at a grid point's own prediction, mu = (eps / "
            "reference_coupling)^2 (epsilon grid of the PatchSet)",
            f"toys: {n_toys} per point",
        ),
        tables=grid,
    )


#: Figures computed from the shipped workspaces (limits with toys: minutes).
WORKSPACE_FIGURES = ("na64e-invisible-2016-2018", "na64mu-2022")
#: Every figure name ``reproduce`` knows (fig7 also uses toys on a shipped workspace).
ALL_FIGURES = (
    "fig3",
    "fig6",
    "fig6_eot",
    "fig7",
    "fig8",
    "fig10",
    "fig11",
    "fig13",
    *WORKSPACE_FIGURES,
)

#: Figures by name.
FIGURES: dict[str, Callable[[], FigureData]] = {
    "fig3": fig3,
    "fig6": fig6,
    "fig6_eot": fig6_eot,
    "fig8": fig8,
    "fig10": fig10,
    "fig11": fig11,
    "fig13": fig13,
}


#: The figures' plain-text mass variables (kept in their JSON) as mathtext axis labels.
_MATHTEXT_X: dict[str, str] = {
    "m_A' [GeV]": r"$m_{A'}$ [GeV]",
    "m_Z' [GeV]": r"$m_{Z'}$ [GeV]",
    "m_Z_mu [GeV]": r"$m_{Z_\mu}$ [GeV]",
    "m_chi [GeV]": r"$m_\chi$ [GeV]",
    "m [GeV]": r"$m_{A'}$ [GeV]",
}


def reproduce(name: str, out_dir: str | os.PathLike[str], **options: object) -> list[Path]:
    """Compute and draw one figure into ``out_dir``: ``<name>.png``, ``.pdf`` and ``.json`` (the
    numbers).

    Workspace figures (:data:`WORKSPACE_FIGURES`) accept ``n_toys``, ``workers`` and ``masses_gev``.
    """
    if name in WORKSPACE_FIGURES:
        return workspace_limit_figure(name, out_dir, **options)  # type: ignore[arg-type]
    if name == "fig7":
        data = fig7(**{k: v for k, v in options.items() if k in ("n_toys", "masses_gev")})  # type: ignore[arg-type]
    elif name not in FIGURES:
        raise InputError(
            f"unknown figure {name!r}; known: {', '.join([*FIGURES, 'fig7', *WORKSPACE_FIGURES])}"
        )
    else:
        data = FIGURES[name]()
    out = Path(out_dir)
    overlays = [Overlay(label, m, v) for label, (m, v) in data.curves.items()]
    palette = ("tab:gray", "tab:orange", "tab:purple")
    overlays += [
        Overlay(
            label, m, lo, hi, color="tab:green" if "g-2" in label else palette[i % len(palette)]
        )
        for i, (label, (m, lo, hi)) in enumerate(data.bands.items())
    ]
    files = curves_plot(
        overlays,
        out / name,
        coupling=data.coupling,
        title=data.title,
        x_label=_MATHTEXT_X.get(data.x_label, data.x_label),
    )
    files.append(write_json_atomic(out / f"{name}.json", data.to_dict()))
    return files
