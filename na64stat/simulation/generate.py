"""Event generation drivers: weighted MC per process and real-style data runs.

* :func:`simulate_mc` writes one file per process (tree ``events``): reco
  branches, truth branches (``true_*``: process, energies, boson energy
  fraction and mass) and ``weight`` = expected events for the represented
  exposure, so ``sum(weight)`` over any selection estimates the expected count
  and ``sqrt(sum(weight**2))`` its MC uncertainty.
* :func:`simulate_data` writes what reconstructed runs look like: only
  triggered events, no truth and no weights, ``run``/``spill``/``event``
  numbers, several files per run, a ``spills`` tree with the EOT of every
  spill in the file (the exposure is their sum), run-to-run calibration
  drifts, a dead ECAL cell, missing tracks as NaN and occasional pile-up.
  The process mixture follows the same rates as the MC.

Both work in chunks (flat memory) and are reproducible: the same seed and
options give byte-identical files.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from na64stat import __version__
from na64stat.core.errors import InputError
from na64stat.core.rootio import RootFileWriter, parse_compression
from na64stat.simulation.detectors import (
    Calibration,
    Detector,
    digitize,
    reco_branch_types,
    trigger,
)
from na64stat.simulation.processes import (
    Process,
    SignalModel,
    SignalProduction,
    backgrounds,
    get_process,
    signal_process,
    truth_branch_types,
)
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_simulation_setup

__all__ = [
    "DataSettings",
    "SimulatedFile",
    "mc_processes",
    "MAX_EVENTS",
    "check_data_size",
    "expected_data_events",
    "simulate_mc",
    "simulate_data",
    "DEFAULT_SPILL_EOT",
    "default_data_pot",
]

Progress = Callable[[int], None]

#: Mean particles on target per SPS spill (NA64 review sec. 4.1: ~5e6 e- per spill).
DEFAULT_SPILL_EOT: float = 5e6


def default_data_pot(setup: str) -> float:
    """Exposure of the default real-style data set of a setup [EOT / MOT] (the registry's
    :attr:`~na64stat.simulation.setups.Generation.default_data_pot`).

    >>> default_data_pot("na64e-visible")
    10000000000.0
    """
    return get_simulation_setup(setup).generation.default_data_pot


#: Most events one ``simulate`` call may generate (MC: per process; data: triggered
#: events expected for the exposure), checked before anything is allocated.
#: About 100x the default data set; ``simulate --max-events`` raises it.
MAX_EVENTS: int = 50_000_000
#: Most spills of a data set (one array entry each).
MAX_SPILLS: int = 50_000_000


def expected_data_events(setup: str, n_eot: float) -> float:
    """Triggered events expected in real-style data of ``n_eot`` particles on target."""
    return float(n_eot) * sum(
        p.rate_per_pot * p.triggerable_fraction for p in backgrounds(setup).values()
    )


def check_data_size(
    setup: str, n_eot: float, max_events: int = MAX_EVENTS, settings: DataSettings | None = None
) -> None:
    """Refuse a data exposure whose expected event count (or spill count) is above the limit, before
    allocating.
    """
    _check_positive("n_eot", n_eot)
    if int(n_eot) != n_eot:
        raise InputError(f"n_eot must be a whole number of particles, got {n_eot!r}")
    spill = (settings or DataSettings()).spill_eot
    events = expected_data_events(setup, n_eot)
    if events > max_events or n_eot / spill > MAX_SPILLS:
        raise InputError(
            f"--n-eot {n_eot:.3g} would make about {events:.3g} {setup} data events "
            f"({n_eot / spill:.3g} spills), above the limit of {max_events:.3g} events "
            f"(raise it with --max-events)"
        )


@dataclass(frozen=True)
class SimulatedFile:
    """One file written by the generator.

    Attributes
    ----------
    path:
        Where it is.
    process:
        Process name (MC) or ``"data"``.
    n_events:
        Entries in its ``events`` tree.
    weight_sum:
        Sum of event weights (MC: expected events for the exposure; data: entries).
    exposure:
        Particles on target the file represents (MC) or its spills' EOT sum (data).
    """

    path: Path
    process: str
    n_events: int
    weight_sum: float
    exposure: float


def _seed_sequence(seed: int, *labels: str) -> np.random.SeedSequence:
    """A stream per (seed, labels), independent of which other processes are generated."""
    return np.random.SeedSequence(
        entropy=int(seed), spawn_key=tuple(zlib.crc32(label.encode()) for label in labels)
    )


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive number, got {value!r}")


def mc_processes(
    setup: str,
    processes: Sequence[str] | None = None,
    masses_gev: Sequence[float] = (),
    coupling: float = 1e-4,
    model: SignalModel | None = None,
    *,
    signal_production: SignalProduction | None = None,
) -> list[Process]:
    """The processes named (``"signal"`` expands to one per mass); default all backgrounds +
    signals.

    ``signal_production``: one signal channel alone (``"bremsstrahlung"`` or
    ``"annihilation"``, :func:`~na64stat.simulation.processes.signal_process`);
    ``None``: the setup's channels together.

    >>> [p.name for p in mc_processes("na64mu-invisible", ["muon", "signal"], [0.01])]
    ['muon', 'signal_m10MeV']
    >>> [p.name for p in mc_processes("na64e-invisible", ["signal"], [0.3],
    ...                               signal_production="annihilation")]
    ['signal_m300MeV_annihilation']
    """
    get_simulation_setup(setup)
    names = (
        list(processes) if processes else [*backgrounds(setup), *(["signal"] if masses_gev else [])]
    )
    out: list[Process] = []
    for name in names:
        if name == "signal":
            if not masses_gev:
                raise InputError("process 'signal' needs --masses")
            out.extend(
                signal_process(setup, float(m), coupling, model, production=signal_production)
                for m in masses_gev
            )
        else:
            out.append(get_process(setup, name))
    return out


def _kept(
    branches: dict[str, tuple[str, tuple[int, ...]]], drop: Sequence[str], required: Sequence[str]
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``branches`` without ``drop``; an InputError for a name that is not a branch or is
    required.
    """
    for name in drop:
        if name not in branches or name in required:
            raise InputError(
                f"cannot drop branch {name!r}: droppable branches are "
                f"{', '.join(b for b in branches if b not in required)}"
            )
    return {k: v for k, v in branches.items() if k not in drop}


def _chunks(total: int, size: int) -> Iterable[int]:
    done = 0
    while done < total:
        n = min(size, total - done)
        yield n
        done += n


def simulate_mc(
    setup: str,
    out: str | Path,
    *,
    processes: Sequence[str] | None = None,
    masses_gev: Sequence[float] = (),
    n_events: int = 100_000,
    n_pot: float | None = None,
    coupling: float = 1e-4,
    model: SignalModel | None = None,
    seed: int = 1,
    compression: str = "zlib",
    chunk_size: int = 100_000,
    progress: Progress | None = None,
    max_events: int = MAX_EVENTS,
    signal_production: SignalProduction | None = None,
    drop_branches: Sequence[str] = (),
) -> list[SimulatedFile]:
    """Generate weighted MC, one file per process, in ``out``.

    Parameters
    ----------
    setup : str
        ``na64e-invisible``, ``na64mu-invisible`` or ``na64e-visible``.
    out : str or pathlib.Path
        Output folder; files are ``<process>.root``.
    processes : sequence of str, optional
        What to generate (see :func:`mc_processes`); default every background
        process, plus the signal when ``masses_gev`` is given.
    masses_gev : sequence of float, optional
        Signal masses [GeV], one file ``signal_m<mass>.root`` each.
    coupling : float, optional
        Coupling of the signal (eps, or e_mu for NA64mu; dimensionless).
    model : SignalModel, optional
        The signal model (default: the setup's).
    n_events : int, optional
        Generated events per process.
    n_pot : float, optional
        Particles on target [EOT or MOT] the weights represent (default: the
        setup's published exposure, e.g. 2.84e11 EOT for NA64e invisible).
    seed : int, optional
        Seed; each process has its own stream derived from it (the same seed
        gives byte-identical files).
    compression : str, optional
        ``zlib``, ``lz4``, ``zstd``, ``lzma`` or ``none`` (``:LEVEL`` optional).
    chunk_size : int, optional
        Events generated and written per step (memory is flat in ``n_events``).
    progress : callable, optional
        Called with the number of events done after each chunk.
    max_events : int, optional
        Size guard: the most events per process (an InputError above it).
    signal_production : {"bremsstrahlung", "annihilation"}, optional
        Generate one signal production channel alone, with that channel's rate
        (files ``signal_m<MeV>MeV_annihilation.root``, or
        ``signal_m<MeV>MeV.root`` for bremsstrahlung); default ``None``: the
        setup's channels together (electron beams: bremsstrahlung plus
        resonant annihilation where ``Setup.positron_annihilation``). The
        setup registries are read, never changed.
    drop_branches : sequence of str, optional
        Branches not written (e.g. ``ecal_cells``, 70% of a file, which the
        packaged selections do not read); the events are the same.

    Returns
    -------
    list of SimulatedFile
        One per file written: path, events, sum of weights [expected events
        for ``n_pot``] and the exposure.
    """
    _check_positive("n_events", n_events)
    _check_positive("chunk_size", chunk_size)
    if n_events > max_events:
        raise InputError(
            f"--n-events {n_events:.3g} per process is above the limit of {max_events:.3g} events "
            "(raise it with --max-events)"
        )
    detector = get_simulation_setup(setup).detector
    exposure = float(n_pot if n_pot is not None else detector.physics.exposure)
    _check_positive("n_pot", exposure)
    codec = parse_compression(compression)
    branches = _kept(
        {
            **reco_branch_types(detector),
            **truth_branch_types(detector),
            "event": ("i8", ()),
            "weight": ("f8", ()),
        },
        drop_branches,
        ("event", "weight"),
    )
    written: list[SimulatedFile] = []
    try:
        for process in mc_processes(
            setup, processes, masses_gev, coupling, model, signal_production=signal_production
        ):
            written.append(
                _simulate_process(
                    process,
                    detector,
                    Path(out),
                    branches,
                    n_events,
                    exposure,
                    seed,
                    codec,
                    chunk_size,
                    progress,
                )
            )
    except BaseException:
        for f in written:  # no partial output: a failed run removes what it wrote
            f.path.unlink(missing_ok=True)
        raise
    return written


def _simulate_process(
    process: Process,
    detector: Detector,
    out: Path,
    branches: dict[str, tuple[str, tuple[int, ...]]],
    n_events: int,
    exposure: float,
    seed: int,
    codec: Any,
    chunk_size: int,
    progress: Progress | None,
) -> SimulatedFile:
    """Write one MC file for ``process``."""
    setup = detector.setup
    rng = np.random.default_rng(_seed_sequence(seed, setup, process.name))
    scale = process.rate_per_pot * exposure / n_events
    metadata = {
        "flavour": "mc",
        "setup": setup,
        "process": process.name,
        "process_code": process.code,
        "description": process.description,
        "rate_per_pot": process.rate_per_pot,
        "n_generated": int(n_events),
        "pot_represented": exposure,
        "pot_unit": detector.physics.exposure_unit,
        "seed": int(seed),
        "generator": f"na64stat {__version__}",
        **process.metadata,
    }
    path = out / f"{process.name}.root"
    weight_sum = 0.0
    with RootFileWriter(
        path,
        "events",
        branches,
        metadata=metadata,
        key=f"{seed}/{setup}/{path.name}",
        compression=codec,
    ) as writer:
        for n in _chunks(int(n_events), int(chunk_size)):
            draw = Draw(rng, n, biased=True)
            truth = process.sample(draw, detector)
            reco = digitize(rng, detector, truth)
            weight = scale * draw.weight
            weight_sum += float(weight.sum())
            chunk = {
                **reco,
                **truth,
                "event": np.arange(writer.n_entries, writer.n_entries + n),
                "weight": weight,
            }
            writer.extend({name: chunk[name] for name in branches})
            if progress:
                progress(n)
    return SimulatedFile(path, process.name, int(n_events), weight_sum, exposure)


# ---------------------------------------------------------------------------
# real-style data


@dataclass(frozen=True)
class DataSettings:
    """Run structure and imperfections of real-style data (all documented choices).

    Attributes
    ----------
    spill_eot:
        Mean particles on target per spill; spills vary by ``spill_spread`` (relative).
    spills_per_run:
        Spills in one run.
    events_per_file:
        A new file starts at the first spill boundary after this many events.
    first_run:
        Number of the first run.
    ecal_drift, hcal_drift:
        Relative run-to-run spread of the ECAL and HCAL energy scales.
    missing_track:
        Probability that a spectrometer track is lost (stored as NaN).
    pileup:
        Probability of an extra in-time particle adding 5-100% of the beam energy to the ECAL.
    """

    spill_eot: float = DEFAULT_SPILL_EOT
    spill_spread: float = 0.2
    spills_per_run: int = 25
    events_per_file: int = 100_000
    first_run: int = 1001
    ecal_drift: float = 0.005
    hcal_drift: float = 0.02
    missing_track: float = 0.005
    pileup: float = 0.01


def _spill_exposures(rng: np.random.Generator, n_eot: int, settings: DataSettings) -> np.ndarray:
    """Integer EOT per spill, fluctuating around the mean, summing exactly to ``n_eot``."""
    n_spills = max(1, round(n_eot / settings.spill_eot))
    intensity = np.clip(rng.normal(1.0, settings.spill_spread, n_spills), 0.2, None)
    share = intensity / intensity.sum() * n_eot
    counts = np.floor(share).astype(np.int64)
    remainder = int(n_eot - counts.sum())
    counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
    return counts


@dataclass
class _RunState:
    run: int
    calibration: Calibration
    writer: RootFileWriter | None = None
    part: int = 0
    next_event: int = 0
    spills: dict[str, list[float]] = field(
        default_factory=lambda: {"run": [], "spill": [], "eot": []}
    )


def _triggered_batch(
    rng: np.random.Generator,
    detector: Detector,
    processes: Sequence[Process],
    spill_eot: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Truth of the triggered events of a batch of spills and the spill index of each (unsorted)."""
    truths, spill_of = [], []
    for process in processes:
        expected = spill_eot * process.rate_per_pot * process.triggerable_fraction
        counts = rng.poisson(expected)
        n = int(counts.sum())
        if n == 0:
            continue
        draw = Draw(rng, n, biased=False)
        truth = process.sample(draw, detector, triggerable_only=process.triggerable_fraction < 1.0)
        fired = trigger(rng, detector, truth)
        truths.append({k: v[fired] for k, v in truth.items()})
        spill_of.append(np.repeat(np.arange(spill_eot.size), counts)[fired])
    if not truths:
        return {}, np.zeros(0, dtype=np.int64)
    merged = {k: np.concatenate([t[k] for t in truths]) for k in truths[0]}
    return merged, np.concatenate(spill_of)


def _imperfections(
    rng: np.random.Generator,
    detector: Detector,
    truth: dict[str, np.ndarray],
    settings: DataSettings,
) -> None:
    """In-time pile-up in the ECAL (added to the truth before digitisation)."""
    piled = rng.random(truth["true_e_ecal"].size) < settings.pileup
    extra = rng.uniform(0.05, 1.0, truth["true_e_ecal"].size) * detector.beam_energy_gev
    truth["true_e_ecal"] = truth["true_e_ecal"] + np.where(piled, extra, 0.0)


def _lose_tracks(rng: np.random.Generator, reco: dict[str, np.ndarray], probability: float) -> None:
    for name in ("p_track", "p_in", "p_out"):
        if name in reco:
            lost = rng.random(reco[name].size) < probability
            reco[name][lost] = np.nan


class _DataFiles:
    """The run files of :func:`simulate_data`: a file per run (and part), filled spill by spill.

    A new run draws its calibration; a file is closed (with its ``spills``
    tree) when the run ends or it holds ``settings.events_per_file`` events.
    """

    def __init__(
        self,
        setup: str,
        out: Path,
        seed: int,
        detector: Detector,
        codec: Any,
        settings: DataSettings,
        pot_unit: str,
        drop_branches: Sequence[str] = (),
    ) -> None:
        self.setup, self.out, self.seed, self.detector, self.codec = (
            setup,
            out,
            seed,
            detector,
            codec,
        )
        self.settings, self.pot_unit = settings, pot_unit
        self.branches = _kept(
            {
                "run": ("i4", ()),
                "spill": ("i4", ()),
                "event": ("i8", ()),
                **reco_branch_types(detector),
            },
            drop_branches,
            ("run", "spill", "event"),
        )
        self.files: list[SimulatedFile] = []
        self.state: _RunState | None = None

    def _open(self, state: _RunState) -> RootFileWriter:
        """The next file of the current run, ``run<NNNN>_<PP>.root``."""
        name = f"run{state.run:04d}_{state.part:02d}.root"
        state.part += 1
        metadata = {
            "flavour": "data",
            "setup": self.setup,
            "run": state.run,
            "seed": int(self.seed),
            "generator": f"na64stat {__version__}",
            "pot_unit": self.pot_unit,
        }
        return RootFileWriter(
            self.out / name,
            "events",
            self.branches,
            metadata=metadata,
            key=f"{self.seed}/{self.setup}/data/{name}",
            compression=self.codec,
        )

    def _run_state(self, rng: np.random.Generator, run: int) -> _RunState:
        """The state of ``run`` (a new run closes the file and draws its calibration) with a file
        open.
        """
        if self.state is None or self.state.run != run:
            self.close_file()
            settings, detector = self.settings, self.detector
            calibration = Calibration(
                ecal_scale=float(1.0 + settings.ecal_drift * rng.standard_normal()),
                hcal_scale=float(1.0 + settings.hcal_drift * rng.standard_normal()),
                dead_cell=detector.dead_cell if "ecal_cells" in detector.branches else None,
            )
            self.state = _RunState(run=run, calibration=calibration)
        if self.state.writer is None:
            self.state.writer = self._open(self.state)
        return self.state

    def write_spill(
        self,
        rng: np.random.Generator,
        global_spill: int,
        eot: int,
        truth: dict[str, np.ndarray],
        count: int,
    ) -> None:
        """Digitise and write the ``count`` triggered events of one spill of ``eot`` particles on
        target.
        """
        settings = self.settings
        run = settings.first_run + global_spill // settings.spills_per_run
        spill_number = global_spill % settings.spills_per_run + 1
        state = self._run_state(rng, run)
        assert state.writer is not None
        if count:
            _imperfections(rng, self.detector, truth, settings)
            reco = digitize(rng, self.detector, truth, state.calibration)
            _lose_tracks(rng, reco, settings.missing_track)
            chunk = {
                "run": np.full(count, run, dtype=np.int32),
                "spill": np.full(count, spill_number, dtype=np.int32),
                "event": np.arange(state.next_event, state.next_event + count),
                **reco,
            }
            state.writer.extend({name: chunk[name] for name in self.branches})
            state.next_event += count
        state.spills["run"].append(run)
        state.spills["spill"].append(spill_number)
        state.spills["eot"].append(int(eot))
        if state.writer.n_entries >= settings.events_per_file:
            self.close_file()

    def close_file(self) -> None:
        """Write the open file's ``spills`` tree, close it and record it (nothing when none is
        open).
        """
        state = self.state
        if state is None or state.writer is None:
            return
        state.writer.add_tree(
            "spills",
            {
                "run": np.asarray(state.spills["run"], dtype=np.int32),
                "spill": np.asarray(state.spills["spill"], dtype=np.int32),
                "eot": np.asarray(state.spills["eot"], dtype=np.int64),
            },
        )
        path = state.writer.close()
        eot = float(np.sum(state.spills["eot"]))
        self.files.append(
            SimulatedFile(path, "data", state.writer.n_entries, float(state.writer.n_entries), eot)
        )
        state.writer = None
        state.spills = {"run": [], "spill": [], "eot": []}

    def abort(self) -> None:
        """Drop the open file and delete the files written so far."""
        if self.state is not None and self.state.writer is not None:
            self.state.writer.abort()
        for f in self.files:
            f.path.unlink(missing_ok=True)


def _write_batch(
    rng: np.random.Generator,
    files: _DataFiles,
    processes: Sequence[Process],
    batch: np.ndarray,
    start: int,
) -> None:
    """Generate the triggered events of a batch of spills (``batch``: EOT per spill, the first being
    spill ``start`` of the data set) and write them spill by spill, shuffled within each spill.
    """
    truth, spill_index = _triggered_batch(rng, files.detector, processes, batch)
    order = np.lexsort((rng.random(spill_index.size), spill_index))  # spill order, shuffled inside
    truth = {k: v[order] for k, v in truth.items()}
    per_spill = np.bincount(spill_index[order], minlength=batch.size)
    first = 0
    for local, eot in enumerate(batch):
        count = int(per_spill[local])
        spill_truth = {k: v[first : first + count] for k, v in truth.items()} if truth else {}
        first += count
        files.write_spill(rng, start + local, int(eot), spill_truth, count)


def simulate_data(
    setup: str,
    out: str | Path,
    *,
    n_eot: float,
    seed: int = 1,
    settings: DataSettings = DataSettings(),
    compression: str = "zlib",
    chunk_size: int = 200_000,
    progress: Progress | None = None,
    max_events: int = MAX_EVENTS,
    drop_branches: Sequence[str] = (),
) -> list[SimulatedFile]:
    """Generate real-style data for ``n_eot`` particles on target into ``out``.

    Files are ``run<NNNN>_<PP>.root`` with trees ``events`` (reco branches +
    ``run``, ``spill``, ``event``) and ``spills`` (``run``, ``spill``, ``eot``).
    The sum of ``eot`` over all files equals ``n_eot`` exactly.

    Parameters
    ----------
    setup : str
        ``na64e-invisible``, ``na64mu-invisible`` or ``na64e-visible``.
    out : str or pathlib.Path
        Output folder.
    n_eot : float
        Particles on target [EOT or MOT] of the data set (5e8 EOT is about 1e6
        triggered events).
    seed : int, optional
        Seed (the same seed gives byte-identical files).
    settings : DataSettings, optional
        Run structure (EOT per spill, spills per run, events per file, first
        run number), missing tracks and pile-up.
    compression : str, optional
        ``zlib``, ``lz4``, ``zstd``, ``lzma`` or ``none`` (``:LEVEL`` optional).
    chunk_size : int, optional
        Bounds the number of truth-level events held at once.
    progress : callable, optional
        Called with the EOT done after each batch of spills.
    max_events : int, optional
        Size guard: the most triggered events expected for ``n_eot``.
    drop_branches : sequence of str, optional
        Branches not written (as for :func:`simulate_mc`); the events are the same.

    Returns
    -------
    list of SimulatedFile
        One per run file: path, triggered events and exposure.
    """
    _check_positive("chunk_size", chunk_size)
    check_data_size(setup, n_eot, max_events, settings)
    detector = get_simulation_setup(setup).detector
    codec = parse_compression(compression)
    rng = np.random.default_rng(_seed_sequence(seed, setup, "data"))
    processes = list(backgrounds(setup).values())
    truth_rate = sum(p.rate_per_pot * p.triggerable_fraction for p in processes)
    spill_eot = _spill_exposures(rng, int(n_eot), settings)
    spills_per_batch = max(1, int(chunk_size / max(truth_rate * settings.spill_eot, 1.0)))
    files = _DataFiles(
        setup,
        Path(out),
        seed,
        detector,
        codec,
        settings,
        detector.physics.exposure_unit,
        drop_branches,
    )
    try:
        for start in range(0, spill_eot.size, spills_per_batch):
            batch = spill_eot[start : start + spills_per_batch]
            _write_batch(rng, files, processes, batch, start)
            if progress:
                progress(int(batch.sum()))
        files.close_file()
    except BaseException:
        files.abort()
        raise
    return files.files
