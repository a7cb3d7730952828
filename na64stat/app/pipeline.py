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
   statistical error (:mod:`na64stat.model.background`);
4. build the background-only workspace and the signal PatchSet
   (:mod:`na64stat.model.workspace`);
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.core.io import write_json_atomic, write_text_atomic
from na64stat.core.progress import Progress, logger, point_line
from na64stat.core.references import load_curve, load_resource
from na64stat.core.tasks import post, run_tasks
from na64stat.inference.scan import (
    ScanResult,
    ScanSettings,
    SignalPoint,
    cls_curve,
    mass_key,
    points_from_patchset,
    run_scan,
)
from na64stat.model.workspace import BuiltWorkspace, build, scale_workspace
from na64stat.model.workspace_config import parse_workspace_config
from na64stat.physics.annihilation import with_resonance_masses
from na64stat.physics.setups import get_setup
from na64stat.results.hepdata import write_hepdata
from na64stat.results.limitfiles import COMBINE_LIMITS_NAME, write_combine_limits
from na64stat.results.plotting import LimitCurve, Overlay, exclusion_plot
from na64stat.results.recast import RecastResult, recast_limits_file
from na64stat.results.report import JobFacts, ReportFacts, explanations, report_facts
from na64stat.results.summary import Summary, format_summary, summarize, summary_to_dict
from na64stat.selection.config import Selection, load_selection
from na64stat.selection.inputs import resolve_samples
from na64stat.selection.outputs import summary as selection_summary
from na64stat.selection.outputs import write_outputs
from na64stat.selection.processing import run_selection
from na64stat.simulation.generate import (
    MAX_EVENTS,
    check_data_size,
    mc_processes,
    simulate_data,
    simulate_mc,
)

__all__ = [
    "MainJobSettings",
    "MainJobResult",
    "check_main_job_settings",
    "packaged_selection",
    "run_main_job",
    "add_physics_summary",
    "PHYSICS_SUMMARY_SETUPS",
    "main_job_outputs",
    "limits_table",
]

Log = Callable[[str], None]
Call = tuple[Callable[..., Any], tuple[Any, ...]]


#: The main job's masses [GeV]: 22 log-spaced from 1 MeV to 1 GeV (3 significant digits; the decades
#: included)
#: and the resonant-annihilation window sampled densely
#: (na64stat.physics.annihilation.RESONANCE_SCAN_MASSES_GEV:
#: 11 masses between 150 and 320 MeV), 31 in all.
DEFAULT_MASSES_GEV: tuple[float, ...] = with_resonance_masses(
    tuple(float(f"{m:.3g}") for m in np.logspace(-3, 0, 22))
)

#: Setups whose background-free reach ``na64stat run`` adds to the report
#: (:func:`add_physics_summary`).
PHYSICS_SUMMARY_SETUPS: tuple[str, ...] = ("na64e-invisible", "na64mu-invisible")

#: Exposure of the published NA64e 2016-2018 invisible-mode result (PRL 123 (2019) 121801).
PUBLISHED_EOT: float = 2.84e11

#: Citations of the curves the main job draws (journal and arXiv).
REFERENCES: dict[str, str] = {
    "na64e_invisible_2019": "NA64, D. Banerjee et al., Phys. Rev. Lett. 123 (2019) 121801, "
    "arXiv:1906.00176 (curve digitized by darkcast: Ilten et al., JHEP 06 (2018) 004, "
    "arXiv:1801.04847)",
    "babar_monophoton": "BaBar, J. P. Lees et al., Phys. Rev. Lett. 119 (2017) 131804, "
    "arXiv:1702.03327",
    "gm2_darkphoton": "(g-2)_mu 2 sigma band, Delta a_mu = (2.79 +- 0.76)e-9: Bodas et al., "
    "arXiv:2102.07781 (computed with darkcast)",
    "relic_targets": "thermal-relic targets for alpha_D = 0.1, m_A' = 3 m_chi: ESPP 2026 briefing "
    "compilation (ESPP2026-PPG/Quasi-elastic-DM)",
    "cls": "A. L. Read, J. Phys. G 28 (2002) 2693 (CLs); Cowan, Cranmer, Gross, Vitells, Eur. "
    "Phys. J. C 71 (2011) 1554, arXiv:1007.1727 (test statistic q~_mu)",
    "physics": "S. N. Gninenko, N. V. Krasnikov, V. A. Matveev, Search for dark sector physics "
    "with NA64, Phys. Part. Nucl. 51 (2020) 829, arXiv:2003.07257 (signal-yield equations)",
}


@dataclass(frozen=True)
class MainJobSettings:
    """Defaults of the main job (every number here is a choice of the demo, not a published one)."""

    setup: str = "na64e-invisible"
    data_eot: float = 5e8
    masses_gev: tuple[float, ...] = DEFAULT_MASSES_GEV
    coupling: float = 1e-4
    mc_events: int = 50_000
    seed: int = 1
    workers: int = 2
    n_toys: int = 2000
    efficiency_uncertainty: float = 0.1
    #: darkcast-style ``.lmt`` files (mass [GeV], epsilon) drawn as other experiments' limits.
    overlays: tuple[str, ...] = ()


def packaged_selection(setup: str) -> Selection:
    """The selection file shipped with the package for ``setup`` (``selections/<setup>.yaml``)."""
    path = resources.files("na64stat") / "selections" / f"{setup}.yaml"
    with resources.as_file(path) as real:
        return load_selection(real)


def _workspace_config(settings: MainJobSettings, mc_exposure: float) -> dict[str, Any]:
    backgrounds = ["em_shower", "hadron", "electronuclear", "dimuon", "beam_tail"]
    return {
        "name": "na64stat_main_job",
        "description": f"na64stat main job: simulated NA64e invisible data, {settings.data_eot:.3g}"
        " EOT",
        "setup": settings.setup,
        "exposure": settings.data_eot,
        "mc_exposure": mc_exposure,
        "exposure_unit": "EOT",
        "publication": "none (simulated with na64stat)",
        "assumptions": [
            "generator rates and tail probabilities are documented choices of na64stat",
            f"signal efficiency uncertainty {settings.efficiency_uncertainty:.0%}",
        ],
        "channels": [
            {
                "name": "signal_box",
                "observed": {"cutflow": "cutflow.json", "sample": "data", "region": "signal"},
                "samples": [
                    {
                        "name": "background",
                        "template": {
                            "cutflow": "cutflow.json",
                            "samples": backgrounds,
                            "region": "signal",
                        },
                    }
                ],
            }
        ],
        "signal": {
            "channel": "signal_box",
            "model": "dark_photon",
            "coupling": settings.coupling,
            "efficiency_uncertainty": settings.efficiency_uncertainty,
            "from_selection": {"cutflow": "cutflow.json", "region": "signal"},
        },
    }


@dataclass(frozen=True)
class MainJobResult:
    """What the main job hands back (besides the files in ``out_dir``).

    Attributes
    ----------
    out_dir:
        Where everything was written.
    report:
        The content of ``report.json`` (:meth:`to_dict`).
    workspace, workspace_published:
        The built workspace and the same scaled to the published exposure.
    scan, scan_published:
        The limits on mu (``limits/limits.json``, ``limits_published_exposure/limits.json``).
    couplings, couplings_published:
        The limits recast to the couplings (``couplings.json``,
        ``couplings_published_exposure.json``).
    """

    out_dir: Path
    report: Mapping[str, Any]
    workspace: BuiltWorkspace
    workspace_published: BuiltWorkspace
    scan: ScanResult
    scan_published: ScanResult
    couplings: RecastResult
    couplings_published: RecastResult

    def to_dict(self) -> dict[str, Any]:
        """The ``report.json`` content."""
        return dict(self.report)

    def limits_table(self) -> str:
        """The 90% CL limits on epsilon per mass (:func:`limits_table`)."""
        return limits_table(self.report)


def check_main_job_settings(settings: MainJobSettings) -> None:
    """Refuse settings that would simulate more than the size guards allow, before anything is
    simulated.
    """
    check_data_size(settings.setup, settings.data_eot)
    if settings.mc_events > MAX_EVENTS:
        raise InputError(
            f"--mc-events {settings.mc_events} is above the limit of {MAX_EVENTS} events per "
            "process"
        )


class _Steps:
    """The main job's step log: the facts of each step (``steps``, for report.json, equal for equal
    inputs) and the seconds since the start (``lines``, for the run log ``run_log.txt``), logged as
    they come.
    """

    def __init__(self, log: Log) -> None:
        self.log, self.t0 = log, time.perf_counter()
        self.steps: list[dict[str, Any]] = []
        self.lines: list[str] = []

    def __call__(self, name: str, **facts: Any) -> None:
        self.steps.append({"step": name, **facts})
        self.lines.append(
            f"[{time.perf_counter() - self.t0:6.1f} s] {name}: "
            + ", ".join(f"{k} {v}" for k, v in facts.items())
        )
        self.log(self.lines[-1])


#: Compression of the main job's ROOT files: zstd writes them ten times faster than zlib (the 22 s
#: of
#: zlib.compress in a profile of the job were 2 s) and no larger; ROOT reads it since 6.20, uproot
#: through cramjam.
COMPRESSION: str = "zstd"

#: Branches the main job does not write: the 6x6 ECAL cell energies are 70% of every file (the
#: shower-shape
#: chi2 and the ECAL sum made from them are kept, and the packaged selection reads only those).
#: ``na64stat
#: simulate`` writes them.
DROPPED_BRANCHES: tuple[str, ...] = ("ecal_cells",)


def _simulate_mc_task(
    setup: str, out: Path, process: str, mass: float | None, settings: MainJobSettings
) -> list[Any]:
    """One MC file (a background process, or the signal at one mass); progress as ``("mc", events)``
    messages.
    """
    return simulate_mc(
        setup,
        out,
        processes=[process],
        masses_gev=() if mass is None else (mass,),
        n_events=settings.mc_events,
        coupling=settings.coupling,
        seed=settings.seed,
        compression=COMPRESSION,
        progress=lambda n: post(("mc", n)),
        drop_branches=DROPPED_BRANCHES,
    )


def _simulate_data_task(setup: str, out: Path, settings: MainJobSettings) -> list[Any]:
    """The real-style data set; progress as ``("data", EOT)`` messages."""
    return simulate_data(
        setup,
        out,
        n_eot=settings.data_eot,
        seed=settings.seed,
        compression=COMPRESSION,
        progress=lambda n: post(("data", n)),
        drop_branches=DROPPED_BRANCHES,
    )


def _simulate(
    events: Path, settings: MainJobSettings, step: _Steps
) -> tuple[int, dict[str, float]]:
    """Weighted MC and real-style data into ``events/mc`` and ``events/data``; returns the events
    written and the mass [GeV] of each signal sample (by its name, the process name).

    Every file is its own task (each process and mass has its own random stream, so the files do not
    depend on the order or the process that writes them), the data set first as the longest, on
    ``settings.workers`` local processes.
    """
    mc_exposure = get_setup(settings.setup).exposure
    names = [p.name for p in mc_processes(settings.setup, None, (), settings.coupling)]
    calls: list[Call] = [(_simulate_data_task, (settings.setup, events / "data", settings))]
    calls += [
        (_simulate_mc_task, (settings.setup, events / "mc", name, None, settings)) for name in names
    ]
    calls += [
        (_simulate_mc_task, (settings.setup, events / "mc", "signal", float(m), settings))
        for m in settings.masses_gev
    ]
    results: list[Any] = [None] * len(calls)
    with (
        Progress((len(calls) - 1) * settings.mc_events, "simulate MC", "ev") as mc_bar,
        Progress(settings.data_eot, "simulate data", "EOT") as data_bar,
    ):
        bars = {"mc": mc_bar, "data": data_bar}

        def done(i: int, files: list[Any]) -> None:
            results[i] = files

        run_tasks(
            calls, settings.workers, done, lambda message: bars[message[0]].update(message[1])
        )
    data = results[0]
    mc = [f for files in results[1:] for f in files]
    step(
        "simulated MC",
        files=len(mc),
        events_per_file=settings.mc_events,
        represents=f"{mc_exposure:.3g} EOT",
    )
    step(
        "simulated data",
        files=len(data),
        triggered_events=sum(f.n_events for f in data),
        eot=f"{settings.data_eot:.3g}",
    )
    signals = results[1 + len(names) :]
    masses = {f.process: float(m) for m, files in zip(settings.masses_gev, signals) for f in files}
    return sum(f.n_events for f in (*mc, *data)), masses


def _select(
    events: Path, out: Path, n_events: int, settings: MainJobSettings
) -> tuple[Path, dict[str, Any]]:
    """The packaged selection on the simulated events (unblinded); returns its folder and
    summary.
    """
    selection = packaged_selection(settings.setup)
    selected = out / "selection" / selection.name
    with Progress(n_events, "select", "ev") as bar:
        run = run_selection(
            selection,
            resolve_samples(selection, events),
            unblind=True,
            n_workers=settings.workers,
            progress=bar,
        )
    write_outputs(run, selected)
    return selected, selection_summary(run)


#: The folder each scan's workspace is written to (by the scan's task: validating it takes seconds).
_WORKSPACE_FOLDERS: dict[str, str] = {
    "limits": "workspace",
    "limits_published_exposure": "workspace_published_exposure",
}


def _scan_task(
    workspace: BuiltWorkspace, out_dir: Path, title: str, settings: MainJobSettings
) -> ScanResult:
    """The workspace validated and written (:data:`_WORKSPACE_FOLDERS`), then the limits on mu for
    every patch into ``out_dir`` (in this process); a ``(title, line)`` message per point.
    """
    workspace.write(out_dir.parent / _WORKSPACE_FOLDERS[out_dir.name])
    points = points_from_patchset(workspace.patchset)
    return run_scan(
        workspace.spec,
        points,
        out_dir,
        ScanSettings(n_toys=settings.n_toys, seed=settings.seed),
        n_workers=1,
        progress=lambda r: post((title, point_line(r))),
    )


def _limits(
    scans: Sequence[tuple[BuiltWorkspace, str, str, str]], out: Path, settings: MainJobSettings
) -> list[tuple[ScanResult, RecastResult]]:
    """Limits on mu for every patch of each workspace into the folder ``out/<folder>``, their
    couplings into the file.

    ``scans``: (workspace, folder, couplings file, progress title) each. The scans run side by side,
    one per local process (``settings.workers``; one after the other for 1), each point in its
    scan's process.
    """
    results: list[Any] = [None] * len(scans)
    bars = {title: Progress(len(ws.patchset["patches"]), title) for ws, _, _, title in scans}
    try:

        def done(i: int, scan: ScanResult) -> None:
            results[i] = scan

        run_tasks(
            [(_scan_task, (ws, out / folder, title, settings)) for ws, folder, _, title in scans],
            settings.workers,
            done,
            lambda message: bars[message[0]].item(message[1]),
        )
    finally:
        for bar in bars.values():
            bar.close()
    out_pairs = []
    for scan, (_, folder, name, _) in zip(results, scans):
        write_combine_limits(
            out / folder / COMBINE_LIMITS_NAME, scan
        )  # CombineHarvester JSON, for other tools
        couplings = recast_limits_file(scan)
        write_json_atomic(out / name, couplings.to_dict())
        out_pairs.append((scan, couplings))
    return out_pairs


def _job_facts(settings: MainJobSettings, background: float) -> JobFacts:
    """What the report quotes of the settings, and the background in the signal box [events]."""
    return JobFacts(
        setup=settings.setup,
        data_eot=settings.data_eot,
        published_eot=PUBLISHED_EOT,
        coupling=settings.coupling,
        mc_events=settings.mc_events,
        efficiency_uncertainty=settings.efficiency_uncertainty,
        background=background,
    )


def _report(settings: MainJobSettings, steps: _Steps, facts: ReportFacts) -> dict[str, Any]:
    """The ``report.json`` content: version, settings, steps, the facts, their prose and the
    references.
    """
    return {
        "na64stat_version": __version__,
        "settings": asdict(settings),
        "steps": steps.steps,
        **facts.to_dict(),
        "explanations": explanations(facts),
        "references": REFERENCES,
    }


def run_main_job(
    out_dir: str | Path, settings: MainJobSettings = MainJobSettings(), log: Log | None = None
) -> MainJobResult:
    """Run the chain (module docstring) into ``out_dir``.

    The folders are the ones the other verbs read and write by default:
    ``OUT/events/<setup>/mc`` and ``OUT/events/<setup>/data`` (``na64stat
    simulate``), ``OUT/selection/<selection name>`` (``na64stat select``).
    Step summaries go to ``log`` (default: the ``na64stat`` logger), progress
    to :class:`~na64stat.core.progress.Progress` (a bar on a terminal, else lines).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder (``na64stat-output`` on the command line); every file
        :func:`main_job_outputs` lists is written there.
    settings : MainJobSettings, optional
        Masses [GeV], data exposure [EOT], MC events per process, workers,
        toys, overlays: the options of ``na64stat run``.
    log : callable, optional
        Receives one line per step summary (default: the ``na64stat`` logger
        at INFO).

    Returns
    -------
    MainJobResult
        The records of each stage; ``result.report`` is what ``report.json`` holds.
    """
    check_main_job_settings(settings)
    out = Path(out_dir)
    step = _Steps(log or logger.info)
    events = out / "events" / settings.setup
    n_events, signal_masses = _simulate(events, settings, step)
    selected, info = _select(events, out, n_events, settings)
    description = parse_workspace_config(
        _workspace_config(settings, get_setup(settings.setup).exposure),
        selected,
        "main job",
        signal_yield=None,
    )
    step(
        "selected",
        selection=selected.name,
        observed_in_signal_box=int(description.channels[0].observed[0]),
    )
    built = build(description)
    background = description.channels[0].samples[0].yields[0]
    step(
        "workspace",
        background_events=f"{background:.3g}",
        signal_patches=len(built.patchset["patches"]),
    )
    # the same selection and workspace scaled to the published exposure, observed count 0 as
    # published
    factor = PUBLISHED_EOT / settings.data_eot
    published = BuiltWorkspace(*scale_workspace(built.spec, built.patchset, factor, observed=0.0))
    (scan, couplings), (scan_pub, couplings_pub) = _limits(
        [
            (built, "limits", "couplings.json", "limits"),
            (
                published,
                "limits_published_exposure",
                "couplings_published_exposure.json",
                "limits at 2.84e11 EOT",
            ),
        ],
        out,
        settings,
    )
    step("limits", points=scan.n_points, methods=scan.methods)
    step(
        "limits at the published exposure",
        eot=f"{PUBLISHED_EOT:.3g}",
        scale=f"{factor:.4g}",
        background_events=f"{background * factor:.3g}",
        observed=0,
    )

    # the figures and the HEPData submission, side by side on the local processes
    points = points_from_patchset(built.patchset)
    calls = _figures(
        out, selected, couplings, couplings_pub, built.spec, points, signal_masses, settings
    )
    calls.append(
        (
            _plot,
            (
                write_hepdata,
                (couplings, out / "hepdata"),
                {
                    "couplings_to_export": ("epsilon", "epsilon2", "y"),
                    "title": f"na64stat main job (simulated NA64e, {settings.data_eot:.2g} EOT)",
                    "setup": settings.setup,
                    "description": _hepdata_description(settings, scan),
                    "references": list(REFERENCES.values()),
                    "likelihood": out / "workspace",
                },
            ),
        )
    )
    written: list[Any] = [None] * len(calls)

    with Progress(len(calls), "figures and HEPData") as bar:

        def done(i: int, result: Any) -> None:
            written[i] = result
            bar.update(1)

        run_tasks(calls, settings.workers, done)
    figures, hepdata = [p for files in written[:-1] for p in files], written[-1]
    step("plotted", files=[p.name for p in figures if p.suffix == ".png"])
    step("HEPData", folder=hepdata.name, validated=True)
    report = _report(
        settings,
        step,
        report_facts(
            _job_facts(settings, background),
            info,
            signal_masses,
            built.patchset,
            (scan, scan_pub),
            (couplings, couplings_pub),
        ),
    )
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.txt", _report_text(report))
    write_text_atomic(
        out / "run_log.txt", "\n".join(step.lines) + "\n"
    )  # the timings: not in the result files
    return MainJobResult(out, report, built, published, scan, scan_pub, couplings, couplings_pub)


def add_physics_summary(
    out_dir: str | Path, setups: Sequence[str] = PHYSICS_SUMMARY_SETUPS
) -> list[Summary]:
    """Add the background-free reach of ``setups`` to a main job's folder.

    Writes ``physics_summary.json`` and appends the printed summaries to
    ``report.txt`` (what ``na64stat run`` does after :func:`run_main_job`).

    Returns
    -------
    list of Summary
        One per setup (:func:`na64stat.results.summary.summarize`).
    """
    out = Path(out_dir)
    summaries = [summarize(get_setup(name)) for name in setups]
    write_json_atomic(
        out / "physics_summary.json",
        {
            "na64stat_version": __version__,
            "summaries": [summary_to_dict(s) for s in summaries],
        },
    )
    text = "\n\n".join(format_summary(s) for s in summaries)
    main_report = (out / "report.txt").read_text(encoding="utf-8")
    write_text_atomic(
        out / "report.txt",
        main_report + "\nPhysics summary (background-free reach)\n\n" + text + "\n",
    )
    return summaries


def _hepdata_description(settings: MainJobSettings, limits: ScanResult) -> str:
    methods = limits.methods
    return (
        f"90% CL upper limits (CLs, q~_mu test statistic, method: {', '.join(methods)}) from "
        "na64stat's main job: "
        f"simulated NA64e invisible-mode data of {settings.data_eot:.3g} EOT with no event in the "
        "signal box, signal yields from the simulated selection (the cuts that select the "
        "data) with a "
        f"{settings.efficiency_uncertainty:.0%} efficiency uncertainty. Expected bands are "
        "quantiles of the limit "
        "over background-only experiments; with little background n = 0 is the most likely count, "
        "so the -1 and "
        "-2 sigma quantiles equal the median up to the spread of the efficiency's auxiliary "
        "measurement. Not an NA64 result."
    )


def _annihilation_window(setup_name: str) -> tuple[float, ...]:
    """The mass [GeV] where resonant e+ e- -> A' steps the signal yield up, or ().

    Only with the narrow width (``Setup.annihilation_sector = None``): there (E_R + m_e at the
    missing-energy cut) the yield steps up, and no line joins the masses on either side. The
    finite-width yield (the default) is continuous there: no break.
    """
    from na64stat.physics.annihilation import resonance_mass_gev

    setup = get_setup(setup_name)
    if (
        setup.beam != "electron"
        or not setup.positron_annihilation
        or setup.annihilation_sector is not None
    ):
        return ()
    return (float(resonance_mass_gev(setup.missing_energy_cut_gev)),)


def _figures(
    out: Path,
    selected: Path,
    couplings: RecastResult,
    couplings_pub: RecastResult,
    spec: dict[str, Any],
    points: Sequence[SignalPoint],
    signal_masses: Mapping[str, float],
    settings: MainJobSettings,
) -> list[Call]:
    """The main job's figures, as calls (each returns the files it wrote).

    ``exclusion_epsilon``: the simulated-data limit with its bands, the same
    chain scaled to the published exposure against the published curve (ratio
    panel), BaBar's mono-photon limit and the (g-2)_mu band (the background-free
    reach of the workspace's signal yields, 2% above the observed limit, would
    hide under it: report.txt gives the ratio); ``exclusion_epsilon2``, ``exclusion_y``
    (against m_chi, relic targets on a dense grid, BaBar), ``exclusion_alpha_d``;
    CLs against epsilon near 10 MeV; cutflow bars. With the narrow-width
    annihilation yield (``Setup.annihilation_sector = None``) no line joins two
    masses across the lower edge of the resonant-annihilation window (the
    yield steps there); the finite-width yield (default) is a smooth dip,
    sampled by the grid (:data:`DEFAULT_MASSES_GEV`), and drawn as one line.
    """
    sim = f"simulated NA64e, {settings.data_eot:.2g} EOT"
    pub = f"same chain at {PUBLISHED_EOT:.3g} EOT"
    window = _annihilation_window(settings.setup)
    return [
        *_epsilon_figures(out, (couplings, couplings_pub), (sim, pub), window, settings),
        *_dark_matter_figures(out, (couplings, couplings_pub), (sim, pub), window),
        *_point_figures(out, selected, couplings, spec, points, signal_masses, sim, settings),
    ]


_BABAR_LABEL = "BaBar mono-photon (PRL 119 (2017) 131804)"


def _babar_benchmark() -> tuple[float, float]:
    """The alpha_D and m_A'/m_chi BaBar's y limit is expressed at."""
    return float(load_resource("babar_monophoton").get("alpha_d", 0.1)), 3.0


def _epsilon_overlays(settings: MainJobSettings) -> list[Overlay]:
    """The published NA64e curve (first), BaBar's limit in epsilon, the (g-2)_mu band and
    ``settings.overlays``.
    """
    from na64stat.results.plotting import load_lmt

    published = load_curve("na64e_invisible_2019")
    gm2_lo, gm2_hi = (
        load_curve("gm2_darkphoton_2sigma_lower"),
        load_curve("gm2_darkphoton_2sigma_upper"),
    )
    gm2_m = gm2_lo.mass_gev[(gm2_lo.mass_gev >= 1e-3) & (gm2_lo.mass_gev <= 1.0)]
    babar = load_curve("babar_monophoton")
    # BaBar's y limit at the benchmark it was expressed in (its alpha_D, m_A' = 3 m_chi) back in
    # epsilon and m_A'
    babar_alpha, babar_ratio = _babar_benchmark()
    babar_eps = Overlay(
        _BABAR_LABEL,
        babar.mass_gev * babar_ratio,
        np.sqrt(babar.lower * babar_ratio**4 / babar_alpha),
        color="tab:gray",
        excluded=True,
    )
    ref = Overlay(
        f"NA64e 2016-2018, {PUBLISHED_EOT:.3g} EOT, published (PRL 123 (2019) 121801)",
        published.mass_gev,
        published.lower,
        color="tab:blue",
    )
    overlays = [
        ref,
        babar_eps,
        Overlay(
            r"$(g-2)_\mu$ explained, $\pm 2\sigma$ (arXiv:2102.07781)",
            gm2_m,
            gm2_lo.interpolate(gm2_m),
            gm2_hi.interpolate(gm2_m),
            color="tab:green",
        ),
    ]
    styles = ("-.", "--", ":")
    overlays += [
        load_lmt(path, color=f"C{5 + i % 5}", linestyle=styles[i % 3])
        for i, path in enumerate(settings.overlays)
    ]
    return overlays


def _epsilon_figures(
    out: Path,
    couplings: tuple[RecastResult, RecastResult],
    labels: tuple[str, str],
    window: tuple[float, ...],
    settings: MainJobSettings,
) -> list[Call]:
    """``exclusion_epsilon`` (with the ratio to the published curve) and ``exclusion_epsilon2``."""
    sim, pub = labels
    curve = LimitCurve.from_recast(couplings[0], label=sim, breaks=window)
    curve_pub = LimitCurve.from_recast(couplings[1], label=pub, breaks=window)
    overlays = _epsilon_overlays(settings)
    ref = overlays[0]
    title = f"na64stat main job: {sim}; and scaled to the published exposure"
    calls: list[Call] = [
        (
            _plot,
            (
                exclusion_plot,
                (curve, out / "exclusion_epsilon"),
                {
                    "coupling": "epsilon",
                    "overlays": overlays,
                    "title": title,
                    "extra_curves": [curve_pub],
                    "ratio_to": ref,
                    "ratio_of": Overlay(
                        pub, curve_pub.mass_gev, np.asarray(curve_pub.observed, dtype=float)
                    ),
                },
            ),
        )
    ]
    squared = [
        Overlay(
            o.label,
            o.mass_gev,
            o.lower**2,
            None if o.upper is None else o.upper**2,
            color=o.color,
            linestyle=o.linestyle,
            excluded=o.excluded,
        )
        for o in overlays
    ]
    calls.append(
        (
            _plot,
            (
                exclusion_plot,
                (
                    LimitCurve.from_recast(couplings[0], "epsilon2", sim, window),
                    out / "exclusion_epsilon2",
                ),
                {
                    "coupling": "epsilon2",
                    "overlays": squared,
                    "extra_curves": [LimitCurve.from_recast(couplings[1], "epsilon2", pub, window)],
                    "title": title,
                },
            ),
        )
    )
    return calls


def _dark_matter_figures(
    out: Path,
    couplings: tuple[RecastResult, RecastResult],
    labels: tuple[str, str],
    window: tuple[float, ...],
) -> list[Call]:
    """``exclusion_y`` against m_chi (relic targets, BaBar at its benchmark) and
    ``exclusion_alpha_d``.
    """
    from na64stat.physics.couplings import relic_target_y_full
    from na64stat.results.plotting import MASS_LABELS

    sim, pub = labels
    recast = couplings[0].settings
    alpha_d, ratio = float(recast.get("alpha_d", 0.1)), float(recast.get("mass_ratio", 3.0))
    babar = load_curve("babar_monophoton")
    babar_alpha, babar_ratio = _babar_benchmark()
    calls: list[Call] = []
    chi_window = tuple(m / ratio for m in window)
    y_curve = LimitCurve.from_recast(couplings[0], "y", sim)
    y_pub = LimitCurve.from_recast(couplings[1], "y", pub)
    m_chi = _against_m_chi(y_curve, ratio, chi_window)
    m_chi_pub = _against_m_chi(y_pub, ratio, chi_window)
    dense = np.geomspace(m_chi.mass_gev.min(), m_chi.mass_gev.max(), 200)
    relic_styles: dict[Literal["scalar", "majorana", "pseudodirac"], tuple[str, str]] = {
        "scalar": ("tab:orange", "--"),
        "majorana": ("tab:purple", "-."),
        "pseudodirac": ("tab:cyan", ":"),
    }
    relic = [
        Overlay(
            f"thermal relic: {m.replace('pseudodirac', 'pseudo-Dirac')}",
            dense,
            relic_target_y_full(dense, m),
            color=relic_styles[m][0],
            linestyle=relic_styles[m][1],
        )
        for m in relic_styles
    ]
    extra = f", $\\alpha_D = {alpha_d:g}$, $m_{{A'}} = {ratio:g}\\, m_\\chi$"
    babar_y = (
        [Overlay(_BABAR_LABEL, babar.mass_gev, babar.lower, color="tab:gray", excluded=True)]
        if alpha_d == babar_alpha and ratio == babar_ratio
        else []
    )
    calls.append(
        (
            _plot,
            (
                exclusion_plot,
                (m_chi, out / "exclusion_y"),
                {
                    "coupling": "y",
                    "x_label": MASS_LABELS["m_chi"],
                    "overlays": [*relic, *babar_y],
                    "extra_curves": [m_chi_pub],
                    "title": f"na64stat main job: {sim}" + extra,
                },
            ),
        )
    )
    alpha = LimitCurve.from_recast(couplings[0], "alpha_d_excluded_below", sim)
    if alpha.observed is not None and np.any(np.isfinite(alpha.observed)):
        calls.append(
            (
                _plot,
                (
                    exclusion_plot,
                    (
                        _against_m_chi(
                            alpha,
                            ratio,
                            chi_window,
                            r"$\alpha_D$ excluded below (scalar target), " + sim,
                        ),
                        out / "exclusion_alpha_d",
                    ),
                    {
                        "coupling": "alpha_d",
                        "x_label": MASS_LABELS["m_chi"],
                        "excluded": "below",
                        "legend_loc": "upper left",
                        "title": f"na64stat main job: {sim}, $m_{{A'}} = {ratio:g}\\, m_\\chi$",
                    },
                ),
            )
        )
    return calls


def _against_m_chi(
    curve: LimitCurve, ratio: float, breaks: tuple[float, ...], label: str | None = None
) -> LimitCurve:
    """``curve`` against m_chi = m_A' / ``ratio`` (``breaks`` in m_chi [GeV]; its label unless
    given).
    """
    return LimitCurve(
        curve.mass_gev / ratio,
        curve.observed,
        dict(curve.expected),
        label=curve.label if label is None else label,
        breaks=breaks,
    )


def _point_figures(
    out: Path,
    selected: Path,
    couplings: RecastResult,
    spec: dict[str, Any],
    points: Sequence[SignalPoint],
    signal_masses: Mapping[str, float],
    sim: str,
    settings: MainJobSettings,
) -> list[Call]:
    """CLs against epsilon at the mass nearest 10 MeV, and the cutflow bars of the data and of that
    mass.
    """
    from na64stat.results.plotting import cutflow_figure

    near = min(couplings.points, key=lambda p: abs(np.log(p.mass_gev / 0.01)))
    point = next(p for p in points if p.key == near.key)
    stem = out / "cls_scan"
    calls: list[Call] = [
        (_cls_scan_figure, (spec, point, near.coupling("mu"), stem, sim, settings))
    ]
    cutflow = json.loads((selected / "cutflow.json").read_text(encoding="utf-8"))
    signal = [s for s, m in signal_masses.items() if mass_key(m) == near.key]
    calls += [
        (cutflow_figure, (cutflow, sample, selected / f"cutflow_{sample}"))
        for sample in ("data", *signal[:1])
        if sample in cutflow["samples"]
    ]
    return calls


def _plot(
    function: Callable[..., list[Path]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[Path]:
    """``function(*args, **kwargs)``: a plotting call with keywords as one task."""
    return function(*args, **kwargs)


def _cls_scan_figure(
    spec: dict[str, Any],
    point: SignalPoint,
    mu_up: float,
    stem: Path,
    sim: str,
    settings: MainJobSettings,
) -> list[Path]:
    """CLs against epsilon from 0.05 to 2.5 times the observed limit at one mass
    (``cls_scan.png``).
    """
    from na64stat.results.plotting import cls_scan_plot
    from na64stat.results.recast import coupling_from_mu

    curve = cls_curve(
        spec, point, np.linspace(0.05, 2.5, 14) * mu_up, settings.n_toys, settings.seed
    )
    return cls_scan_plot(
        list(coupling_from_mu(curve.mu, settings.coupling)),
        curve.observed,
        curve.expected,
        stem,
        xlabel=r"$\epsilon$",
        title=f"CLs at $m_{{A'}}$ = {point.metadata['mass_gev']:g} GeV, {sim}",
    )


def limits_table(report: Mapping[str, Any]) -> str:
    """The result of the main job: 90% CL limits on epsilon per mass (observed, median expected)."""
    lines = [f"{'mass [GeV]':>12}  {'eps observed':>13}  {'eps expected':>13}"]
    for v in report["limits"].values():
        obs, med = v["epsilon_observed"], v["epsilon_expected_median"]
        lines.append(
            f"{v['mass_gev']:>12.4g}  {obs if obs is None else format(obs, '.3e'):>13}  "
            f"{med if med is None else format(med, '.3e'):>13}"
        )
    return "\n".join(lines) + "\n"


def _report_text(report: dict[str, Any]) -> str:
    lines = [f"na64stat {report['na64stat_version']} main job", ""]
    for s in report["steps"]:  # the seconds of each step are in run_log.txt
        facts = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("step", "seconds"))
        lines.append(f"{s['step']}: {facts}")
    text = "\n".join(lines) + "\n\n" + limits_table(report)
    pub = report.get("published_exposure")
    if pub:
        text += (
            f"\nThe same chain at the published exposure ({pub['eot']:.3g} EOT, yields x "
            f"{pub['scale']:.4g}, observed 0), against NA64e 2016-2018 (PRL 123 (2019) "
            "121801)\n"
        )
        text += f"{'mass [GeV]':>12}  {'eps observed':>13}  {'eps published':>13}  {'ratio':>7}\n"
        for v in pub["limits"].values():
            ref, r = v["epsilon_published"], v["ratio_to_published"]
            text += (
                f"{v['mass_gev']:>12.4g}  {v['epsilon_observed']:>13.3e}  "
                f"{'-' if ref is None else format(ref, '.3e'):>13}  "
                f"{'-' if r is None else format(r, '.3f'):>7}\n"
            )
    import textwrap

    for name, paragraph in report.get("explanations", {}).items():
        text += (
            f"\n{name.replace('_', ' ')}:\n"
            + textwrap.fill(paragraph, 100, initial_indent="  ", subsequent_indent="  ")
            + "\n"
        )
    if report.get("references"):
        text += "\nreferences:\n" + "".join(
            f"  [{k}] {v}\n" for k, v in report["references"].items()
        )
    return text


def main_job_outputs(
    out_dir: str | Path, settings: MainJobSettings = MainJobSettings()
) -> Sequence[Path]:
    """The files a finished main job leaves in ``out_dir`` (for the README and tests).

    ``na64stat run`` adds ``physics_summary.json``.
    """
    out = Path(out_dir)
    events = Path("events") / settings.setup
    selection = Path("selection") / packaged_selection(settings.setup).name
    return [
        out / name
        for name in (
            "report.txt",
            "report.json",
            "run_log.txt",
            "couplings.json",
            "limits/limits.json",
            "limits/limits.csv",
            "limits/limits_combine.json",
            "hepdata/likelihood.tar.gz",
            "exclusion_epsilon.png",
            "exclusion_epsilon.pdf",
            "exclusion_epsilon.csv",
            "exclusion_epsilon2.png",
            "exclusion_epsilon2.pdf",
            "exclusion_epsilon2.csv",
            "exclusion_y.png",
            "exclusion_y.pdf",
            "exclusion_y.csv",
            "cls_scan.png",
            "cls_scan.pdf",
            "couplings_published_exposure.json",
            "limits_published_exposure/limits.json",
            "workspace_published_exposure/bkgonly.json",
            "workspace_published_exposure/patchset.json",
            "workspace/bkgonly.json",
            "workspace/patchset.json",
            "hepdata/submission.yaml",
            events / "mc" / "em_shower.root",
            events / "data" / "run1001_00.root",
            selection / "cutflow.json",
            selection / "cutflow.txt",
            selection / "histograms.json",
            selection / "histograms.root",
            selection / "cutflow_data.png",
        )
    ]
