"""The ``na64stat`` command line: parse options, call the library, print.

Every verb is one library call that a script can make too; errors raised as
:class:`~na64stat.core.errors.Na64StatError` become one line on stderr and exit
code 1 (usage errors: exit code 2, from click). Results go to stdout;
progress (a bar on a terminal, else a line per item), step summaries and the
files written go to stderr through the ``na64stat`` logger.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click

from na64stat import __version__
from na64stat.core.errors import InputError, Na64StatError
from na64stat.core.progress import Progress, configure_logging, logger, point_line

# Only light modules at import time (click, logging): ``na64stat --help`` and ``--version`` must not
# load numpy,
# scipy, pyhf, matplotlib or yaml (benchmarks/bench_cli_startup.py times them); each verb imports
# what it uses.

__all__ = ["main", "cli"]

DEFAULT_OUTPUT = "na64stat-output"


class _LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices are computed on first use (the help of its verb, or
    parsing).

    The setup names live in :mod:`na64stat.physics.setups`, which loads numpy and scipy; computing
    them only when a verb's option is used keeps ``na64stat --help`` fast.
    """

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._loaded: tuple[str, ...] | None = None
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(
        self, value: Any
    ) -> None:  # click's __init__ assigns (); the real choices come from _load
        pass


def _setup_names() -> list[str]:
    from na64stat.physics.setups import SETUPS

    return sorted(SETUPS)


def _invisible_setup_names() -> list[str]:
    """Setups with a missing-energy reach (``reach`` refuses the visible-mode ones)."""
    from na64stat.physics.setups import SETUPS

    return sorted(name for name, setup in SETUPS.items() if setup.mode != "visible")


def _limit_methods() -> tuple[str, ...]:
    from na64stat.inference.limits import METHODS

    return METHODS


def _signal_models() -> tuple[str, ...]:
    from na64stat.physics.models import load_user_models, model_names

    load_user_models()  # the YAML files of NA64STAT_MODELS, if set
    return model_names()


def _dm_models() -> list[str]:
    from na64stat.results.recast import DM_MODELS

    return list(DM_MODELS)


def _parse_masses(text: str) -> list[float]:
    try:
        masses = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"--masses must be comma-separated numbers in GeV, got {text!r}") from None
    if not masses or any(not (m > 0) for m in masses):
        raise InputError(f"--masses needs positive masses in GeV, got {text!r}")
    return masses


def _at_least(minimum: int) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback: an integer option (or None) must be >= ``minimum`` (an InputError naming
    the option).
    """

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and value < minimum:
            raise InputError(
                f"--{param.name.replace('_', '-')} must be at least {minimum}, got {value}"
            )
        return value

    return check


def _positive_finite(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback: a float option (or None) must be finite and > 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        name = param.opts[0] if param.opts else param.name
        raise InputError(f"{name} must be a finite positive number, got {value}")
    return value


#: Seconds a --scheduler address gets to accept a connection before the command gives up.
SCHEDULER_TIMEOUT_S = 10.0


def _check_scheduler(address: str | None, timeout: float = SCHEDULER_TIMEOUT_S) -> None:
    """Fail fast (within ``timeout`` seconds) when a Dask scheduler address does not accept
    connections.
    """
    if address is None:
        return
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise InputError(f"--scheduler {address!r}: expected an address like tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s: "
            f"{exc.strerror or exc}"
        ) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="na64stat")
@click.option("-v", "--verbose", count=True, help="More diagnostics on stderr (debug messages).")
@click.option(
    "-q",
    "--quiet",
    count=True,
    help="Less on stderr: -q warnings and errors only (no progress), -qq errors only.",
)
def cli(verbose: int, quiet: int) -> None:
    """Statistical analysis for dark-sector searches at NA64-style experiments."""
    logger.setLevel(log_level(verbose, quiet))


def log_level(verbose: int = 0, quiet: int = 0) -> int:
    """The ``na64stat`` logger's level for ``-v`` / ``-q`` counts: INFO by default, one step per
    flag.

    Parameters
    ----------
    verbose, quiet : int
        How often ``-v`` and ``-q`` were given.

    Returns
    -------
    int
        A :mod:`logging` level between DEBUG and ERROR.

    Examples
    --------
    >>> log_level(), log_level(verbose=1), log_level(quiet=1), log_level(quiet=5)
    (20, 10, 30, 40)
    """
    return min(logging.ERROR, max(logging.DEBUG, logging.INFO + 10 * (quiet - verbose)))


@cli.command()
def setups() -> None:
    """List the predefined experimental setups and their sources."""
    from na64stat.physics.setups import SETUPS

    for setup in SETUPS.values():
        click.echo(
            f"{setup.name}: {setup.description} (default {setup.exposure:.3g} {setup.exposure_unit}"
            ")"
        )
        for source in setup.sources:
            click.echo(f"    - {source}")


@cli.command()
@click.option(
    "--setup",
    "setup_name",
    default="na64e-invisible",
    show_default=True,
    type=_LazyChoice(_invisible_setup_names),
    help="Predefined missing-energy setup (a visible-mode setup has no such reach).",
)
@click.option(
    "--masses",
    default="0.001,0.01,0.1,1",
    show_default=True,
    help="Comma-separated boson masses [GeV].",
)
@click.option(
    "--exposure",
    type=float,
    default=None,
    callback=_positive_finite,
    help="Particles on target (EOT / MOT); default: the setup's.",
)
@click.option(
    "--efficiency",
    type=float,
    default=None,
    callback=_positive_finite,
    help="Overall signal efficiency; default: the setup's.",
)
@click.option(
    "--alpha-d",
    type=float,
    default=0.1,
    show_default=True,
    callback=_positive_finite,
    help="alpha_D for the y reach.",
)
@click.option(
    "--mass-ratio",
    type=float,
    default=3.0,
    show_default=True,
    callback=_positive_finite,
    help="m_A'/m_chi for the y reach.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the numbers to this JSON file.",
)
@click.option(
    "--branching",
    type=click.Choice(["physical", "darkcast"]),
    default="physical",
    show_default=True,
    help="Br(Z' -> invisible) of the L_mu - L_tau e_mu reach: physical widths, or darkcast's Br = "
    "1.",
)
def reach(
    setup_name: str,
    masses: str,
    exposure: float | None,
    efficiency: float | None,
    alpha_d: float,
    mass_ratio: float,
    json_path: Path | None,
    branching: str,
) -> None:
    """Expected signal yield per coupling^2 and background-free 90% CL reach.

    Prints events per eps^2 and the reach in eps^2, eps, e_mu (L_mu - L_tau Z')
    and y, with ratios to the reference curves the setup has (the published
    NA64e 2016-2018 limit; the (g-2)_mu band for NA64mu).
    """
    from na64stat.core.io import write_json_atomic
    from na64stat.physics.setups import get_setup
    from na64stat.results.summary import format_summary, summarize, summary_to_dict

    setup = get_setup(setup_name)
    changes = {
        k: v for k, v in (("exposure", exposure), ("efficiency", efficiency)) if v is not None
    }
    setup = setup.with_(**changes) if changes else setup
    summary = summarize(
        setup, _parse_masses(masses), alpha_d=alpha_d, mass_ratio=mass_ratio, branching=branching
    )
    click.echo(format_summary(summary))
    if json_path is not None:
        write_json_atomic(json_path, summary_to_dict(summary))
        logger.info(f"wrote {json_path}")


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--masses",
    default=None,
    help="Signal masses [GeV] (default: 22 log-spaced from 1 MeV to 1 GeV).",
)
@click.option(
    "--n-eot",
    type=float,
    default=None,
    callback=_positive_finite,
    help="Exposure of the simulated data (default 5e8 EOT).",
)
@click.option(
    "--mc-events",
    type=int,
    default=None,
    callback=_at_least(1),
    help="MC events per process (default 50,000).",
)
@click.option(
    "--n-toys",
    type=int,
    default=None,
    callback=_at_least(1),
    help="Toys per hypothesis where a limit uses toys (default 2,000). The main job's single-bin "
    "limits use exact counting, which needs no toys, so this has no effect on them; each "
    "limits.json record names its method.",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    callback=_at_least(1),
    help="Local Dask worker processes (default 2).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    callback=_at_least(0),
    help="Seed of simulation and toys (default 1).",
)
@click.option(
    "--overlay",
    "overlays",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="darkcast .lmt limit file (mass [GeV], epsilon) of another experiment to draw "
    "(repeatable).",
)
def run(
    out_dir: Path,
    masses: str | None,
    n_eot: float | None,
    mc_events: int | None,
    n_toys: int | None,
    workers: int | None,
    seed: int | None,
    overlays: tuple[Path, ...],
) -> None:
    """Run the main job on built-in defaults (no downloads, no servers).

    Simulates a default NA64e invisible data set (MC and real-style data),
    selects, estimates the background, builds the workspace and patchset,
    computes the 90% CL limits over a mass grid and writes
    OUT/exclusion_epsilon.png (+ .pdf, .csv), OUT/limits/limits.json,
    OUT/couplings.json and OUT/report.txt; plus the physics summary of NA64e
    (2.84e11 EOT) and NA64mu (1.98e10 MOT) reach in OUT/physics_summary.json.
    """
    from dataclasses import replace

    from na64stat.app.pipeline import (
        MainJobSettings,
        add_physics_summary,
        check_main_job_settings,
        run_main_job,
    )

    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("data_eot", n_eot),
            ("mc_events", mc_events),
            ("n_toys", n_toys),
            ("workers", workers),
            ("seed", seed),
        )
        if v is not None
    }
    if masses:
        changes["masses_gev"] = tuple(_parse_masses(masses))
    if overlays:
        from na64stat.results.plotting import load_lmt

        for path in overlays:  # read before anything is simulated: a bad file is one line now
            load_lmt(path)
        changes["overlays"] = tuple(str(p) for p in overlays)
    settings = replace(MainJobSettings(), **changes)
    check_main_job_settings(settings)  # before anything is simulated
    result = run_main_job(out_dir, settings)
    used = sorted(set(result.scan.methods) | set(result.scan_published.methods))
    if n_toys is not None and "toys" not in used:
        logger.info(
            f"--n-toys {n_toys} had no effect: every limit used {', '.join(used)} (no toys)"
        )
    add_physics_summary(out_dir)
    click.echo(result.limits_table(), nl=False)
    logger.info(
        f"wrote {out_dir / 'report.txt'}, {out_dir / 'exclusion_epsilon.png'}, "
        f"{out_dir / 'limits' / 'limits.json'} ({len(result.report['limits'])} masses), "
        f"{out_dir / 'physics_summary.json'}"
    )


@cli.command()
@click.option(
    "--setup",
    "setup_name",
    default="na64e-invisible",
    show_default=True,
    type=_LazyChoice(_setup_names),
    help="Predefined setup.",
)
@click.option(
    "--flavour",
    type=click.Choice(["mc", "data", "both"]),
    default="both",
    show_default=True,
    help="Weighted MC per process, real-style data runs, or both.",
)
@click.option(
    "--process",
    "processes",
    multiple=True,
    help="MC process (repeatable; 'signal' needs --masses). Default: every background, plus the "
    "signal when --masses is given.",
)
@click.option("--masses", default=None, help="Comma-separated signal masses [GeV] (MC).")
@click.option(
    "--coupling",
    type=float,
    default=1e-4,
    show_default=True,
    help="Reference coupling of the signal (epsilon, or e_mu for NA64mu).",
)
@click.option(
    "--n-events",
    type=int,
    default=100_000,
    show_default=True,
    callback=_at_least(1),
    help="Generated MC events per process.",
)
@click.option(
    "--max-events",
    type=int,
    default=None,
    callback=_at_least(1),
    help="Size guard: most MC events per process, and most data events expected for --n-eot "
    "(default 50,000,000).",
)
@click.option(
    "--n-eot",
    type=float,
    default=None,
    callback=_positive_finite,
    help="Particles on target (EOT/MOT): the exposure the MC weights represent (default: the "
    "setup's published one) and of the data (default: a laptop-sized run).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    callback=_at_least(0),
    help="Random seed (same seed: identical files).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: na64stat-output/events/SETUP); MC goes to OUT/mc, data to "
    "OUT/data.",
)
@click.option(
    "--compression",
    default="zlib",
    show_default=True,
    help="none, zlib, lz4, zstd or lzma, optionally with :LEVEL.",
)
def simulate(
    setup_name: str,
    flavour: str,
    processes: tuple[str, ...],
    masses: str | None,
    coupling: float,
    n_events: int,
    max_events: int | None,
    n_eot: float | None,
    seed: int,
    out_dir: Path | None,
    compression: str,
) -> None:
    """Generate NA64-style events as ROOT files (weighted MC and/or real-style data)."""
    from na64stat.physics.setups import get_setup
    from na64stat.simulation.generate import (
        MAX_EVENTS,
        check_data_size,
        default_data_pot,
        mc_processes,
        simulate_data,
        simulate_mc,
    )

    max_events = MAX_EVENTS if max_events is None else max_events
    out_dir = out_dir or Path(DEFAULT_OUTPUT) / "events" / setup_name
    mass_list = _parse_masses(masses) if masses else []
    unit = get_setup(setup_name).exposure_unit  # electrons / muons on target
    exposure = n_eot if n_eot is not None else default_data_pot(setup_name)
    if flavour in ("data", "both"):  # the size guards, before anything is generated
        check_data_size(setup_name, exposure, max_events)
    if flavour in ("mc", "both") and n_events > max_events:
        raise InputError(
            f"--n-events {n_events} per process is above the limit of {max_events} (--max-events)"
        )
    if flavour in ("mc", "both"):
        n_files = len(mc_processes(setup_name, processes or None, mass_list, coupling))
        with Progress(n_events * n_files, "simulate MC", "ev") as bar:
            files = simulate_mc(
                setup_name,
                out_dir / "mc",
                processes=processes or None,
                masses_gev=mass_list,
                n_events=n_events,
                n_pot=n_eot,
                coupling=coupling,
                seed=seed,
                compression=compression,
                progress=bar,
                max_events=max_events,
            )
        for f in files:
            click.echo(
                f"{f.path}: {f.n_events} events, expected {f.weight_sum:.4g} for {f.exposure:.3g} "
                f"{unit}"
            )
    if flavour in ("data", "both"):
        with Progress(exposure, "simulate data", unit) as bar:
            files = simulate_data(
                setup_name,
                out_dir / "data",
                n_eot=exposure,
                seed=seed,
                compression=compression,
                progress=bar,
                max_events=max_events,
            )
        total = sum(f.n_events for f in files)
        click.echo(
            f"{out_dir / 'data'}: {len(files)} files, {total} triggered events, {exposure:.4g} "
            f"{unit}"
        )


def _parse_samples(items: tuple[str, ...]) -> dict[str, list[str]]:
    from na64stat.core.loaders import check_name

    samples: dict[str, list[str]] = {}
    for item in items:
        name, sep, patterns = item.partition("=")
        if not sep or not name.strip() or not patterns.strip():
            raise InputError(f"--sample must look like NAME=GLOB[,GLOB...], got {item!r}")
        check_name(name.strip(), "--sample name")
        samples.setdefault(name.strip(), []).extend(p for p in patterns.split(",") if p)
    return samples


def _selection_path(name: Path) -> Path:
    """A selection file, or the name of a packaged one (``na64e-invisible``:
    ``na64stat/selections/<name>.yaml``).
    """
    if name.exists() or name.suffix in (".yaml", ".yml") or len(name.parts) > 1:
        return name
    packaged = resources.files("na64stat") / "selections" / f"{name}.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    known = sorted(
        p.name.removesuffix(".yaml")
        for p in (resources.files("na64stat") / "selections").iterdir()
        if p.name.endswith(".yaml")
    )
    raise InputError(
        f"no selection file {name} and no packaged selection of that name (packaged: "
        f"{', '.join(known)})"
    )


@cli.command()
@click.argument(
    "selection_file", metavar="SELECTION", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--sample",
    "sample_items",
    multiple=True,
    help="NAME=GLOB[,GLOB]: files of a sample (repeatable); replaces the selection's files for "
    "NAME.",
)
@click.option(
    "--data",
    "data_samples",
    multiple=True,
    help="Sample that is data (repeatable): unweighted, blinded.",
)
@click.option(
    "--input-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the selection's sample globs are relative to (default: "
    "na64stat-output/events/<name>).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: na64stat-output/selection/<name>).",
)
@click.option("--unblind", is_flag=True, help="Fill blinded regions for data too.")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    callback=_at_least(1),
    help="Local Dask worker processes (1: run in this process).",
)
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler.")
@click.option(
    "--step",
    type=int,
    default=500_000,
    show_default=True,
    callback=_at_least(1),
    help="Entries per task.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Task cache folder (default: OUT/.cache).",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
def select(
    selection_file: Path,
    sample_items: tuple[str, ...],
    data_samples: tuple[str, ...],
    input_dir: Path | None,
    out_dir: Path | None,
    unblind: bool,
    workers: int,
    scheduler: str | None,
    step: int,
    cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Apply a selection to ROOT files: cutflow, N-1, region yields, histograms.

    SELECTION is a selection file or the name of a packaged one
    (na64e-invisible, na64mu-invisible, na64e-visible). Writes
    OUT/cutflow.json, OUT/cutflow.txt, OUT/histograms.json (UHI) and
    OUT/histograms.root; a rerun with nothing changed reads no events.
    Prints one line per sample (the full cutflow is in OUT/cutflow.txt).
    A blinded run never replaces unblinded results: the default folder then
    gives way to OUT-blinded beside it, an explicit --out is refused.
    """
    from na64stat.selection.config import load_selection
    from na64stat.selection.inputs import resolve_samples
    from na64stat.selection.outputs import short_summary, write_outputs
    from na64stat.selection.processing import run_selection

    _check_scheduler(scheduler)
    selection = load_selection(_selection_path(selection_file))
    base = input_dir if input_dir is not None else Path(DEFAULT_OUTPUT) / "events" / selection.name
    extra = _parse_samples(sample_items)
    if not base.is_dir() and any(s.files and s.name not in extra for s in selection.samples):
        raise InputError(
            f"no events folder {os.path.abspath(base)} (the selection's sample files are relative "
            "to it): "
            f"run 'na64stat simulate --setup {selection.name}' or 'na64stat run' first, or give "
            "--input-dir"
        )
    samples = resolve_samples(selection, base, extra)
    out_dir = _selection_out(out_dir, selection.name, unblind)
    cache = None if no_cache else (cache_dir or out_dir / ".cache")
    with Progress(
        None, "select", "ev"
    ) as bar:  # the total is known only once files are opened: count and rate
        run = run_selection(
            selection,
            samples,
            data_samples=data_samples,
            unblind=unblind,
            step=step,
            cache_dir=cache,
            scheduler=scheduler,
            n_workers=workers,
            progress=bar,
        )
    written = write_outputs(run, out_dir)
    for sample in run.samples:
        click.echo(short_summary(run, sample))
    click.echo(f"full cutflow, N-1 and regions: {out_dir / 'cutflow.txt'}")
    logger.info(
        f"{run.n_tasks} tasks ({run.n_cached} from cache, {run.entries_read} entries read); "
        f"wrote {', '.join(str(p) for p in written)}"
    )


def _selection_out(out_dir: Path | None, name: str, unblind: bool) -> Path:
    """Where ``select`` writes: never over the unblinded results of another run with a blinded one.

    The default folder (``na64stat-output/selection/<name>``, where the main job writes its
    unblinded selection) gives way to ``<name>-blinded`` beside it; an explicit ``--out`` holding
    unblinded results is refused.
    """
    from na64stat.selection.outputs import holds_unblinded_data

    if out_dir is not None:
        if not unblind and holds_unblinded_data(out_dir):
            raise InputError(
                f"{out_dir} holds unblinded results of another selection run; a blinded run would "
                f"replace them: choose another --out, or give --unblind"
            )
        return out_dir
    default = Path(DEFAULT_OUTPUT) / "selection" / name
    if not unblind and holds_unblinded_data(default):
        beside = default.with_name(f"{name}-blinded")
        logger.info(
            f"{default} holds unblinded results (the main job's); the blinded selection goes to "
            f"{beside}"
        )
        return beside
    return default


@cli.group()
def workspace() -> None:
    """Build, inspect and validate pyhf workspaces (bkgonly.json + patchset.json)."""


@workspace.command("build")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: the config's folder).",
)
def workspace_build(config: Path, out_dir: Path | None) -> None:
    """Build a workspace from a config (selection outputs, background models, signal)."""
    from na64stat.model.workspace import build, format_inspection
    from na64stat.model.workspace_config import load_workspace_config
    from na64stat.simulation.signal_yields import expected_signal_events

    description = load_workspace_config(config, signal_yield=expected_signal_events)
    built = build(description)
    written = built.write(out_dir or config.parent)
    click.echo(
        format_inspection(
            built.spec,
            f"workspace {description.name}: {len(built.patchset['patches'])} signal patches",
        )
    )
    logger.info(f"wrote {', '.join(str(p) for p in written)}")


@workspace.command("inspect")
@click.argument("bkgonly", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("patchset", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--patch", "patch_names", multiple=True, help="Also show the workspace with this patch applied."
)
def workspace_inspect(bkgonly: Path, patchset: Path | None, patch_names: tuple[str, ...]) -> None:
    """Yields per sample and region, modifiers, and the signal patches."""
    import jsonpatch as _jsonpatch

    from na64stat.model.workspace import (
        format_inspection,
        load_patchset,
        load_workspace,
        validate_spec,
    )

    spec = load_workspace(bkgonly)
    if patchset is None:  # the background-only model must then build with its POI
        validate_spec(spec, f"workspace {bkgonly}", require_poi=True)
    click.echo(format_inspection(spec, f"{bkgonly}"))
    if patchset is None:
        return
    patches = load_patchset(patchset, spec)
    labels = patches.labels
    click.echo(f"\n{patchset}: {len(patches)} patches, labels {labels}")
    for patch in patches.patches:
        # the patch's signal sample yields, whether the patch adds or replaces the sample
        signal = [
            [float(f"{x:.4g}") for x in op["value"]["data"]]
            for op in patch.patch
            if op.get("op") in ("add", "replace")
            and isinstance(op.get("value"), dict)
            and "data" in op["value"]
        ]
        click.echo(f"  {patch.name:<24} values {list(patch.values)}  signal {signal}")
    for name in patch_names:
        try:
            chosen = patches[name]
        except Exception:
            raise InputError(f"{patchset}: no patch named {name!r}") from None
        click.echo(
            "\n"
            + format_inspection(
                _jsonpatch.apply_patch(spec, list(chosen.patch)), f"with patch {name}"
            )
        )


@workspace.command("validate")
@click.argument("bkgonly", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("patchset", required=False, type=click.Path(dir_okay=False, path_type=Path))
def workspace_validate(bkgonly: Path, patchset: Path | None) -> None:
    """Check schema, yields, digests and that every patch applies and builds; exit 1 on the first
    problem.
    """
    from na64stat.model.workspace import (
        load_patchset,
        load_workspace,
        read_json,
        validate_plain_patch,
        validate_spec,
    )

    spec = load_workspace(bkgonly)
    message = f"{bkgonly}: valid"
    if patchset is None:  # the background-only model must then build with its POI
        validate_spec(spec, f"workspace {bkgonly}", require_poi=True)
    elif isinstance(content := read_json(patchset, "patch file"), list):
        validate_plain_patch(content, spec, f"patch {patchset}")
        message += f"; {patchset}: valid JSON patch, applies and builds"
    else:
        patches = load_patchset(patchset, spec)
        message += f"; {patchset}: valid, {len(patches)} patches apply"
    click.echo(message)


@cli.command()
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--model",
    type=_LazyChoice(_signal_models),
    default="dark_photon",
    show_default=True,
    help="Common signal model (na64stat.physics.models): dark_photon (epsilon), lmutau (e_mu), "
    "b_minus_l, le_lmu, le_ltau, protophobic or a registered one.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for bkgonly.json + patchset.json.",
)
@click.option(
    "--correlate",
    "correlated",
    multiple=True,
    help="Modifier name shared between the experiments (repeatable); all others are independent.",
)
@click.option(
    "--masses", default=None, help="Common mass grid in GeV, comma-separated (default: the union)."
)
@click.option(
    "--reference-coupling",
    type=float,
    default=None,
    callback=_positive_finite,
    help="Common reference coupling (mu = 1); default the first input's in the model.",
)
def combine(
    folders: tuple[Path, ...],
    model: str,
    out_dir: Path,
    correlated: tuple[str, ...],
    masses: str | None,
    reference_coupling: float | None,
) -> None:
    """Combine several workspace folders (bkgonly.json + patchset.json) into one, in a common
    coupling.
    """
    from na64stat.model.combine import UnknownModifierError, combine_folders
    from na64stat.model.workspace import format_inspection

    try:
        spec, patchset, written = combine_folders(
            folders,
            out_dir,
            model,
            _parse_masses(masses) if masses else None,
            correlated,
            reference_coupling=reference_coupling,
        )
    except UnknownModifierError as exc:
        raise InputError(f"--correlate: {exc}") from None
    click.echo(
        format_inspection(spec, f"combined workspace: {len(patchset['patches'])} signal patches")
    )
    logger.info(f"wrote {', '.join(str(p) for p in written)}")


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("patches", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("limits"),
    show_default=True,
    help="Output folder (limits.json, limits.csv, points/).",
)
@click.option(
    "--cl", "confidence_level", type=float, default=0.9, show_default=True, help="Confidence level."
)
@click.option(
    "--method",
    type=_LazyChoice(_limit_methods),
    default="auto",
    show_default=True,
    help="CLs method; auto uses exact counting or toys at small counts.",
)
@click.option(
    "--n-toys",
    type=int,
    default=10_000,
    show_default=True,
    callback=_at_least(1),
    help="Toys per hypothesis to start with (toys method).",
)
@click.option(
    "--max-toys",
    type=int,
    default=None,
    callback=_at_least(1),
    help="Toys are added until the CLs error at each crossing is below --cls-accuracy, up to this "
    "many (default 8 x --n-toys); then the status says low_toy_statistics.",
)
@click.option(
    "--cls-accuracy",
    type=float,
    default=0.005,
    show_default=True,
    callback=_positive_finite,
    help="Target Monte-Carlo error of CLs at each crossing (toys).",
)
@click.option(
    "--budget",
    "budget_s",
    type=float,
    default=600.0,
    show_default=True,
    callback=_positive_finite,
    help="Seconds per point that --method auto may plan to spend (it estimates each method's "
    "cost).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    callback=_at_least(0),
    help="Seed of the toys.",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    callback=_at_least(1),
    help="Local Dask workers (1: run in this process).",
)
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler to scale out.")
def limits(
    workspace: Path,
    patches: tuple[Path, ...],
    out_dir: Path,
    confidence_level: float,
    method: str,
    n_toys: int,
    max_toys: int | None,
    cls_accuracy: float,
    budget_s: float,
    seed: int,
    workers: int,
    scheduler: str | None,
) -> None:
    """CLs upper limits on mu for every signal patch of a background-only workspace.

    PATCHES is a pyhf PatchSet file or JSON-patch files (one signal point each).
    Points are written one by one to OUT/points, so a rerun resumes; the summary
    goes to OUT/limits.json and OUT/limits.csv.
    """
    from na64stat.inference.scan import ScanSettings, load_scan_inputs, run_scan

    settings = ScanSettings(
        confidence_level=confidence_level,
        method=method,
        n_toys=n_toys,
        seed=seed,
        max_toys=max_toys,
        cls_accuracy=cls_accuracy,
        budget_s=budget_s,
    )
    _check_scheduler(scheduler)
    spec, points = load_scan_inputs(workspace, list(patches))
    with Progress(len(points), "limits") as bar:
        summary = run_scan(
            spec,
            points,
            out_dir,
            settings,
            scheduler=scheduler,
            n_workers=workers,
            progress=lambda record: bar.item(point_line(record)),
        )
    click.echo(
        f"{'point':>24}  {'observed':>10}  {'+-':>8}  {'median exp':>10}  {'method':<10}  status"
    )
    for point in summary.points:
        limit = point.limit
        click.echo(
            f"{point.key:>24}  {_g(limit.observed):>10}  {_g(limit.observed_error):>8}  "
            f"{_g(point.expected('median')):>10}  {limit.method:<10}  {limit.status_observed}"
        )
    from na64stat.results.limitfiles import COMBINE_LIMITS_NAME, write_combine_limits

    write_combine_limits(
        out_dir / COMBINE_LIMITS_NAME, summary
    )  # CombineHarvester-style, for other tools' plots
    logger.info(
        f"wrote {out_dir / 'limits.json'}, {out_dir / 'limits.csv'} and "
        f"{out_dir / COMBINE_LIMITS_NAME} ({summary.n_resumed} points resumed)"
    )


@cli.command()
@click.argument("limits_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output JSON with the couplings per point.",
)
@click.option(
    "--signal-model",
    type=_LazyChoice(_signal_models),
    default=None,
    help="Signal the patches were made for (default: from patch metadata).",
)
@click.option(
    "--model",
    "target_model",
    type=_LazyChoice(_signal_models),
    default=None,
    help="Also give the coupling limit of this registered model per mass (the output's 'model' "
    "section; darkcast's recast rule for a single beam, directly for a workspace combined in it).",
)
@click.option(
    "--reference-coupling",
    type=float,
    default=None,
    help="Coupling the signal was made with (default: from patch metadata).",
)
@click.option(
    "--beam",
    type=click.Choice(["electron", "muon"]),
    default=None,
    help="Beam of the setup (default: from the patch metadata's setup, else electron).",
)
@click.option("--alpha-d", type=float, default=0.1, show_default=True)
@click.option("--mass-ratio", type=float, default=3.0, show_default=True, help="m_A'/m_chi.")
@click.option("--dm-model", type=_LazyChoice(_dm_models), default="scalar", show_default=True)
@click.option(
    "--long-lived", is_flag=True, help="Apply the Appendix B pseudo-Dirac correction (eq. 131)."
)
@click.option(
    "--branching",
    type=click.Choice(["physical", "darkcast"]),
    default="physical",
    show_default=True,
    help="Br(Z' -> invisible) convention of the e_mu results: physical widths, or darkcast's Br = "
    "1.",
)
def recast(
    limits_json: Path,
    out_path: Path,
    signal_model: str | None,
    reference_coupling: float | None,
    beam: str | None,
    alpha_d: float,
    mass_ratio: float,
    dm_model: str,
    long_lived: bool,
    branching: str,
    target_model: str | None,
) -> None:
    """Convert mu limits (limits.json) into eps^2, eps, e_mu, y and alpha_D (and a model's
    coupling).
    """
    from na64stat.core.io import write_json_atomic
    from na64stat.core.loaders import load_json
    from na64stat.results.recast import recast_limits_file

    content = load_json(limits_json, "limits file")
    result = recast_limits_file(
        content,
        signal_model=signal_model,
        reference_coupling=reference_coupling,
        beam=beam,
        alpha_d=alpha_d,
        mass_ratio=mass_ratio,
        dm_model=dm_model,
        long_lived=long_lived,
        branching=branching,
        source=f"limits file {limits_json}",
    )
    output = result.to_dict()
    if target_model is not None:
        from na64stat.results.model_recast import model_limits

        section = model_limits(
            content, target_model, branching=branching, source=f"limits file {limits_json}"
        )
        output["model"] = section.to_dict()
        for model_point in section.points:
            click.echo(
                f"{model_point.mass_gev:>12g}: {section.coupling_name} ({target_model}) "
                f"< {_g(model_point.observed)}"
            )
    write_json_atomic(out_path, output)
    for point in result.points:
        click.echo(
            f"{point.key:>12}: eps^2 < {_g(point.coupling('epsilon2'))}, "
            f"e_mu < {_g(point.coupling('e_mu'))}, y < {_g(point.coupling('y'))}"
        )
    logger.info(f"wrote {out_path}")


@cli.command()
@click.argument("couplings_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for submission.yaml and the tables.",
)
@click.option(
    "--coupling",
    "coupling_names",
    multiple=True,
    default=("epsilon",),
    show_default=True,
    type=click.Choice(["epsilon", "epsilon2", "e_mu", "y"]),
    help="Coupling table(s) to export.",
)
@click.option(
    "--title",
    default="na64stat limits",
    show_default=True,
    help="Title used in the table descriptions.",
)
@click.option(
    "--cl",
    "confidence_level",
    type=float,
    default=None,
    help="Confidence level of the limits; default: the couplings file's (na64stat recast records "
    "it), which a given one must match.",
)
@click.option(
    "--setup",
    "setup_name",
    type=_LazyChoice(_setup_names),
    default=None,
    help="Setup of the limits: the beam, its energy and the target of the HEPData keywords.",
)
@click.option(
    "--likelihood",
    "likelihood_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the bkgonly.json and patchset.json of the limits, attached as the pyhf "
    "likelihood.",
)
def hepdata(
    couplings_json: Path,
    out_dir: Path,
    coupling_names: tuple[str, ...],
    title: str,
    confidence_level: float | None,
    setup_name: str | None,
    likelihood_dir: Path | None,
) -> None:
    """Export recast limits (na64stat recast output) as a validated HEPData submission."""
    from na64stat.core.loaders import load_json
    from na64stat.results.hepdata import write_hepdata

    content = load_json(couplings_json, "couplings file")
    folder = write_hepdata(
        content,
        out_dir,
        couplings_to_export=coupling_names,
        title=title,
        setup=setup_name,
        confidence_level=confidence_level,
        likelihood=likelihood_dir,
        source=f"couplings file {couplings_json}",
    )
    attached = ", the pyhf likelihood attached" if likelihood_dir is not None else ""
    logger.info(
        f"wrote {folder}/submission.yaml and {len(coupling_names)} table(s){attached}; "
        "validated with hepdata-validator"
    )


@cli.command()
@click.argument("figure", required=False)
@click.option("--all", "all_figures", is_flag=True, help="Every figure implemented.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(DEFAULT_OUTPUT) / "figures",
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--n-toys",
    type=int,
    default=2000,
    show_default=True,
    callback=_at_least(1),
    help="Toys per hypothesis (workspace figures).",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    callback=_at_least(1),
    help="Local processes (workspace figures).",
)
@click.option(
    "--masses",
    default=None,
    help="Only these masses [GeV] of a shipped workspace (workspace figures and fig7; quick "
    "checks).",
)
def reproduce(
    figure: str | None,
    all_figures: bool,
    out_dir: Path,
    n_toys: int,
    workers: int,
    masses: str | None,
) -> None:
    """Rebuild a figure of the NA64 review (Phys. Part. Nucl. 51 (2020) 829) with its numbers (JSON
    next to PNG/PDF).

    Projections: fig3, fig6, fig6_eot, fig8, fig10, fig11, fig13. From the
    shipped workspaces (toys, minutes): fig7 (visible), na64e-invisible-2016-2018,
    na64mu-2022. ``published``: the ratio prediction / published coupling of
    every shipped published curve at 1, 10, 100 and 1000 MeV (or --masses),
    from the exposure and setup alone, as a table and OUT/published.json.
    """
    from na64stat.app.reproduce import ALL_FIGURES, WORKSPACE_FIGURES
    from na64stat.app.reproduce import reproduce as make

    if figure == "published":
        from na64stat.app.published import COMPARISON_MASSES_GEV, reproduce_published

        table, written = reproduce_published(
            out_dir, tuple(_parse_masses(masses)) if masses else COMPARISON_MASSES_GEV
        )
        click.echo(table)
        logger.info(f"wrote {', '.join(str(f) for f in written)}")
        return

    names = list(ALL_FIGURES) if all_figures else ([figure] if figure else [])
    if not names:
        raise InputError(f"name a figure ({', '.join(ALL_FIGURES)}) or give --all")
    mass_list = tuple(_parse_masses(masses)) if masses else None
    for name in names:
        options: dict = {"n_toys": n_toys, "workers": workers} if name in WORKSPACE_FIGURES else {}
        if name == "fig7":
            options = {"n_toys": min(n_toys, 1000)}
        if mass_list is not None and (name in WORKSPACE_FIGURES or name == "fig7"):
            options["masses_gev"] = mass_list
        files = make(name, out_dir, **options)
        click.echo(f"{name}: wrote {', '.join(str(f) for f in files)}")


def _g(value: float | None) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "nan"
    return f"{value:.4g}"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``na64stat`` command."""
    configure_logging()
    try:
        cli.main(args=argv, prog_name="na64stat", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("na64stat: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Na64StatError as exc:
        click.echo(f"na64stat: error: {exc}", err=True)
        sys.exit(1)
    except (
        OSError
    ) as exc:  # a write or read the library did not label: still one line naming the path
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        reason = "no space left on device" if exc.errno == 28 else (exc.strerror or str(exc))
        click.echo(f"na64stat: error: {where}{reason}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
