"""The main job: simulate, select, estimate the background, build the workspace, set limits, plot.

:func:`run_main_job` runs the whole chain on built-in defaults, with no
downloads and no servers:

1. simulate a default NA64e invisible data set: weighted MC of every
   background process and of A' signals at a mass grid (epsilon = 1e-4), and
   real-style data of 5e8 EOT (:mod:`na64stat.simulation`);
2. apply the packaged selection ``selections/na64e-invisible.yaml`` (the
   simulated data are unblinded: the job knows they contain no signal);
3. estimate the background in the signal box from the MC templates, scaled
   from the exposure the weights represent to the data's, with the MC
   statistical error (:mod:`na64stat.background`);
4. build the background-only workspace and the signal PatchSet
   (:mod:`na64stat.workspace`);
5. compute the 90% CL CLs limits on mu per mass (``auto``: exact counting for
   this one-bin workspace, Gaussian constraints included) and recast them to epsilon;
6. write the exclusion plots in epsilon (observed, expected bands, the
   published NA64e 2016-2018 limit for 2.84e11 EOT and the background-free
   reach for the simulated exposure), epsilon^2 and y (thermal-relic targets,
   BaBar), CLs against epsilon near 10 MeV, cutflow tables, ``limits.json``,
   a validated HEPData submission and a report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from na64stat import __version__
from na64stat.hepdata import write_hepdata
from na64stat.inference.scan import ScanSettings, SignalPoint, run_scan
from na64stat.io import write_json_atomic, write_text_atomic
from na64stat.physics.yields import background_free_reach, get_setup
from na64stat.plotting import LimitCurve, Overlay, exclusion_plot
from na64stat.progress import Progress, logger, point_line
from na64stat.recast import recast_limits_file
from na64stat.references import load_curve
from na64stat.selection.config import Selection, load_selection
from na64stat.selection.outputs import summary as selection_summary
from na64stat.selection.outputs import write_outputs
from na64stat.selection.processing import resolve_samples, run_selection
from na64stat.simulation.generate import mc_processes, simulate_data, simulate_mc
from na64stat.workspace import build, write_workspace
from na64stat.workspace_config import parse_workspace_config

__all__ = ["MainJobSettings", "packaged_selection", "run_main_job", "main_job_outputs", "limits_table"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class MainJobSettings:
    """Defaults of the main job (every number here is a choice of the demo, not a published one)."""

    setup: str = "na64e-invisible"
    data_eot: float = 5e8
    masses_gev: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    coupling: float = 1e-4
    mc_events: int = 50_000
    seed: int = 1
    workers: int = 2
    n_toys: int = 2000
    efficiency_uncertainty: float = 0.1


def packaged_selection(setup: str) -> Selection:
    """The selection file shipped with the package for ``setup`` (``selections/<setup>.yaml``)."""
    path = resources.files("na64stat") / "selections" / f"{setup}.yaml"
    with resources.as_file(path) as real:
        return load_selection(real)


def _workspace_config(settings: MainJobSettings, mc_exposure: float) -> dict[str, Any]:
    backgrounds = ["em_shower", "hadron", "electronuclear", "dimuon", "beam_tail"]
    return {
        "name": "na64stat_main_job",
        "description": f"na64stat main job: simulated NA64e invisible data, {settings.data_eot:.3g} EOT",
        "setup": settings.setup,
        "exposure": settings.data_eot,
        "mc_exposure": mc_exposure,
        "exposure_unit": "EOT",
        "publication": "none (simulated with na64stat)",
        "assumptions": ["generator rates and tail probabilities are documented choices of na64stat",
                        f"signal efficiency uncertainty {settings.efficiency_uncertainty:.0%}"],
        "channels": [{"name": "signal_box",
                      "observed": {"cutflow": "cutflow.json", "sample": "data", "region": "signal"},
                      "samples": [{"name": "background",
                                   "template": {"cutflow": "cutflow.json", "samples": backgrounds, "region": "signal"}}]}],
        "signal": {"channel": "signal_box", "model": "dark_photon", "coupling": settings.coupling,
                   "efficiency_uncertainty": settings.efficiency_uncertainty,
                   "from_selection": {"cutflow": "cutflow.json", "region": "signal"}},
    }


def run_main_job(out_dir: str | Path, settings: MainJobSettings = MainJobSettings(), log: Log | None = None) -> dict[str, Any]:
    """Run the chain (module docstring) into ``out_dir``; returns the summary written to ``report.json``.

    The folders are the ones the other verbs read and write by default:
    ``OUT/events/<setup>/mc`` and ``OUT/events/<setup>/data`` (``na64stat
    simulate``), ``OUT/selection/<selection name>`` (``na64stat select``).
    Step summaries go to ``log`` (default: the ``na64stat`` logger), progress
    to :class:`~na64stat.progress.Progress` (a bar on a terminal, else lines).
    """
    out = Path(out_dir)
    log = log or logger.info
    t0 = time.perf_counter()
    steps: list[dict[str, Any]] = []

    def step(name: str, **facts: Any) -> None:
        steps.append({"step": name, "seconds": round(time.perf_counter() - t0, 1), **facts})
        log(f"[{steps[-1]['seconds']:6.1f} s] {name}: " + ", ".join(f"{k} {v}" for k, v in facts.items()))

    mc_exposure = get_setup(settings.setup).exposure
    events = out / "events" / settings.setup
    n_mc = len(mc_processes(settings.setup, None, settings.masses_gev, settings.coupling))
    with Progress(n_mc * settings.mc_events, "simulate MC", "ev") as bar:
        mc = simulate_mc(settings.setup, events / "mc", masses_gev=settings.masses_gev, n_events=settings.mc_events,
                         coupling=settings.coupling, seed=settings.seed, progress=bar)
    step("simulated MC", files=len(mc), events_per_file=settings.mc_events, represents=f"{mc_exposure:.3g} EOT")
    with Progress(settings.data_eot, "simulate data", "EOT") as bar:
        data = simulate_data(settings.setup, events / "data", n_eot=settings.data_eot, seed=settings.seed,
                             progress=bar)
    step("simulated data", files=len(data), triggered_events=sum(f.n_events for f in data), eot=f"{settings.data_eot:.3g}")

    selection = packaged_selection(settings.setup)
    selected = out / "selection" / selection.name
    with Progress(sum(f.n_events for f in (*mc, *data)), "select", "ev") as bar:
        run = run_selection(selection, resolve_samples(selection, events), unblind=True, n_workers=settings.workers,
                            progress=bar)
    write_outputs(run, selected)
    info = selection_summary(run)
    observed = info["samples"]["data"]["regions"]["signal"]["raw"]
    step("selected", selection=selection.name, observed_in_signal_box=observed)

    description = parse_workspace_config(_workspace_config(settings, mc_exposure), selected, "main job")
    spec, patchset = build(description)
    write_workspace(out / "workspace", spec, patchset)
    background = description.channels[0].samples[0]
    step("workspace", background_events=f"{background.yields[0]:.3g}", signal_patches=len(patchset["patches"]))

    points = [SignalPoint(p["metadata"]["name"], p["patch"], dict(p["metadata"])) for p in patchset["patches"]]
    with Progress(len(points), "limits") as bar:
        limits = run_scan(spec, points, out / "limits", ScanSettings(n_toys=settings.n_toys, seed=settings.seed),
                          n_workers=settings.workers, progress=lambda r: bar.item(point_line(r)))
    couplings = recast_limits_file(limits)
    write_json_atomic(out / "couplings.json", couplings)
    step("limits", points=len(points), methods=sorted({r["method"] for r in limits["limits"].values()}))

    curve = _epsilon_curve(couplings)
    published = load_curve("na64e_invisible_2019")
    reach = background_free_reach(get_setup(settings.setup).with_(exposure=settings.data_eot), curve.mass_gev)
    overlays = [
        Overlay("NA64e 2016-2018 published (2.84e11 EOT)", published.mass_gev, published.lower, color="tab:blue"),
        Overlay(f"background-free reach, {settings.data_eot:.2g} EOT, eff. 0.6", curve.mass_gev, reach.epsilon,
                color="tab:red", linestyle=":"),
    ]
    title = f"na64stat main job: simulated NA64e, {settings.data_eot:.2g} EOT"
    figures = exclusion_plot(curve, out / "exclusion_epsilon", coupling="epsilon", overlays=overlays, title=title)
    figures += _more_figures(out, selected, couplings, spec, patchset, settings, title)
    step("plotted", files=[p.name for p in figures if p.suffix == ".png"])
    hepdata = write_hepdata(couplings, out / "hepdata", couplings_to_export=("epsilon", "epsilon2", "y"),
                            title=f"na64stat main job (simulated NA64e, {settings.data_eot:.2g} EOT)", setup=settings.setup)
    step("HEPData", folder=hepdata.name, validated=True)

    report = {
        "na64stat_version": __version__,
        "settings": asdict(settings),
        "steps": steps,
        "limits": {k: {"mass_gev": v["observed"]["mass_gev"] if v["observed"] else None,
                       "epsilon_observed": v["observed"]["epsilon"] if v["observed"] else None,
                       "epsilon_expected_median": v["expected_median"]["epsilon"] if v["expected_median"] else None}
                   for k, v in couplings["points"].items()},
    }
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.txt", _report_text(report))
    return report


def _epsilon_curve(couplings: dict[str, Any], coupling: str = "epsilon") -> LimitCurve:
    points = sorted(couplings["points"].items(), key=lambda kv: float(kv[0]))
    mass = np.array([float(k) for k, _ in points])

    def column(name: str) -> np.ndarray:
        return np.array([v[name][coupling] if v.get(name) and v[name][coupling] is not None else np.nan
                         for _, v in points], dtype=float)

    expected = {b: column(f"expected_{b}") for b in ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")}
    return LimitCurve(mass, column("observed"), expected, label="simulated NA64e")


def _more_figures(out: Path, selected: Path, couplings: dict[str, Any], spec: dict[str, Any],
                  patchset: dict[str, Any], settings: MainJobSettings, title: str) -> list[Path]:
    """epsilon^2 and y exclusions (relic targets, BaBar), CLs against epsilon at ~10 MeV, cutflow tables."""
    import jsonpatch
    import pyhf

    from na64stat.inference.calculators import best_calculator
    from na64stat.inference.likelihood import Likelihood
    from na64stat.physics.couplings import relic_target_y_full
    from na64stat.plotting import cls_scan_plot, cutflow_figure

    files = exclusion_plot(_epsilon_curve(couplings, "epsilon2"), out / "exclusion_epsilon2", coupling="epsilon2",
                           title=title)
    y_curve = _epsilon_curve(couplings, "y")
    m_chi_curve = LimitCurve(y_curve.mass_gev / 3.0, y_curve.observed, {k: v for k, v in y_curve.expected.items()},
                             label="simulated NA64e, alpha_D = 0.1")
    babar = load_curve("babar_monophoton")
    relic = [Overlay(f"relic target: {m}", m_chi_curve.mass_gev, relic_target_y_full(m_chi_curve.mass_gev, m),
                     linestyle="--") for m in ("scalar", "majorana", "pseudodirac")]
    files += exclusion_plot(m_chi_curve, out / "exclusion_y", coupling="y",
                            overlays=[*relic, Overlay("BaBar mono-photon", babar.mass_gev, babar.lower, color="tab:gray")],
                            title=title + r", $m_{A'} = 3 m_\chi$")
    alpha = _epsilon_curve(couplings, "alpha_d_excluded_below")
    if np.any(np.isfinite(alpha.observed)):
        files += exclusion_plot(LimitCurve(alpha.mass_gev / 3.0, alpha.observed, alpha.expected,
                                           label="alpha_D excluded below (scalar target)"),
                                out / "exclusion_alpha_d", coupling="alpha_d", title=title + ", scalar relic target")
    # CLs against epsilon at the mass nearest 10 MeV
    patch = min(patchset["patches"], key=lambda p: abs(np.log(p["metadata"]["mass_gev"] / 0.01)))
    workspace = pyhf.Workspace(jsonpatch.apply_patch(spec, patch["patch"]))
    model = workspace.model()
    calc = best_calculator(Likelihood(model, workspace.data(model)), n_toys=settings.n_toys, seed=settings.seed)
    mu_up = couplings["points"][f"{patch['metadata']['mass_gev']:.6g}"]["observed"]["mu"]
    mus = np.linspace(0.05, 2.5, 14) * mu_up
    points = []
    with Progress(len(mus), "CLs scan") as bar:
        for mu in mus:
            points.append(calc.cls(float(mu)))
            bar.update(1)
    bands = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")
    files += cls_scan_plot(settings.coupling * np.sqrt(mus), [p.cls_obs for p in points],
                           {b: [p.cls_exp[i] for p in points] for i, b in enumerate(bands)}, out / "cls_scan",
                           xlabel=r"$\varepsilon$", title=f"CLs at m = {patch['metadata']['mass_gev']:g} GeV")
    cutflow = json.loads((selected / "cutflow.json").read_text(encoding="utf-8"))
    for sample in ("data", f"signal_m{patch['metadata']['mass_gev'] * 1e3:g}MeV"):
        if sample in cutflow["samples"]:
            files += cutflow_figure(cutflow, sample, selected / f"cutflow_{sample}")
    return files


def limits_table(report: dict[str, Any]) -> str:
    """The result of the main job: 90% CL limits on epsilon per mass (observed, median expected)."""
    lines = [f"{'mass [GeV]':>12}  {'eps observed':>13}  {'eps expected':>13}"]
    for v in report["limits"].values():
        obs, med = v["epsilon_observed"], v["epsilon_expected_median"]
        lines.append(f"{v['mass_gev']:>12.4g}  {obs if obs is None else format(obs, '.3e'):>13}  "
                     f"{med if med is None else format(med, '.3e'):>13}")
    return "\n".join(lines) + "\n"


def _report_text(report: dict[str, Any]) -> str:
    lines = [f"na64stat {report['na64stat_version']} main job", ""]
    for s in report["steps"]:
        facts = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("step", "seconds"))
        lines.append(f"[{s['seconds']:6.1f} s] {s['step']}: {facts}")
    return "\n".join(lines) + "\n\n" + limits_table(report)


def main_job_outputs(out_dir: str | Path, settings: MainJobSettings = MainJobSettings()) -> Sequence[Path]:
    """The files a finished main job leaves in ``out_dir`` (for the README and tests).

    ``na64stat run`` adds ``physics_summary.json``.
    """
    out = Path(out_dir)
    events = Path("events") / settings.setup
    selection = Path("selection") / packaged_selection(settings.setup).name
    return [out / name for name in (
        "report.txt", "report.json", "couplings.json", "limits/limits.json", "limits/limits.csv",
        "exclusion_epsilon.png", "exclusion_epsilon.pdf", "exclusion_epsilon.csv",
        "exclusion_epsilon2.png", "exclusion_epsilon2.pdf", "exclusion_epsilon2.csv",
        "exclusion_y.png", "exclusion_y.pdf", "exclusion_y.csv", "cls_scan.png", "cls_scan.pdf",
        "workspace/bkgonly.json", "workspace/patchset.json", "hepdata/submission.yaml",
        events / "mc" / "em_shower.root", events / "data" / "run1001_00.root",
        selection / "cutflow.json", selection / "cutflow.txt", selection / "histograms.json",
        selection / "histograms.root", selection / "cutflow_data.png")]

