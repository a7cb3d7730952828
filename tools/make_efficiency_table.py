#!/usr/bin/env python3
"""Signal efficiency per setup and mass from na64stat's own simulation and selection.

Writes ``na64stat/resources/signal_efficiency.json``, the table that
:func:`na64stat.physics.yields.signal_efficiency` reads when a setup's
``efficiency`` is ``None`` (the default). For every setup and mass it

1. generates ``--events`` weighted signal events with
   :func:`na64stat.simulation.generate.simulate_mc` (the packaged signal
   generator, seed ``--seed``, one stream per setup and mass),
2. applies the packaged selection ``na64stat/selections/<setup>.yaml`` (all
   cuts, then the ``signal`` region) with
   :func:`na64stat.selection.processing.run_selection`,
3. divides the selected weighted yield by the physics yield above the setup's
   missing-energy cut with efficiency 1
   (:func:`na64stat.physics.yields.events_per_epsilon2` or ``events_per_e_mu2``
   at the simulated exposure).

``selected / physics`` is the simulated selection efficiency: trigger, cuts
and the signal box with the detector resolutions (events that migrate across
the cut included). Its MC statistical error is the binomial error of the
selected weight fraction p = W_sel / W_gen of the generated events,
sigma_p = sqrt((1 - p)^2 sum_sel w^2 + p^2 sum_rest w^2) / W_gen, times
W_gen / physics (the number generated is fixed, so the selected count is
binomial, not Poisson).
Electron setups are simulated with bremsstrahlung only (``positron_annihilation``
off in the generator and in the denominator alike): the table is the
selection efficiency of A' radiated in the shower, which
:func:`na64stat.physics.yields.signal_efficiency` applies to the
resonant-annihilation yield too (an approximation: those A' carry E_R =
m^2 / 2 m_e, 50-100 GeV, into the same signal box). A point whose efficiency
exceeds 1 by more than 5 MC errors stops the run: generator and physics
yields would disagree.
The mass-independent detector / DAQ factors are not part of this table:
they are the setups' ``efficiency_factors`` (with their sources) in
:mod:`na64stat.physics.yields`.

Usage (about 1 minute per 10 masses and setup for 100,000 events on one core)::

    PYTHONPATH=. python tools/make_efficiency_table.py [--events 200000] [--seed 1] [--out FILE]

Same options, same file: the generator is seeded and the table is written
with sorted keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from na64stat import __version__  # noqa: E402
from na64stat.physics import yields  # noqa: E402
from na64stat.physics.yields import events_per_e_mu2, events_per_epsilon2, get_setup  # noqa: E402
from na64stat.selection.config import load_selection  # noqa: E402
from na64stat.selection.outputs import summary as selection_summary  # noqa: E402
from na64stat.selection.processing import run_selection  # noqa: E402
from na64stat.simulation import setups as simulation_setups  # noqa: E402
from na64stat.simulation.generate import simulate_mc  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "na64stat" / "resources" / "signal_efficiency.json"

#: Mass grid [GeV]: 1 MeV - 3 GeV, 4 points per decade (the range of DMG4's K-factor table).
MASSES_GEV: tuple[float, ...] = tuple(float(f"{m:.4g}") for m in np.logspace(-3, math.log10(3.0), 15))

#: Setups and the signal model their table is made for (the model's Br does not
#: enter the ratio: numerator and denominator carry the same coupling factor).
SETUPS: dict[str, str] = {"na64e-invisible": "dark_photon", "na64mu-invisible": "lmutau"}

COUPLING = 1e-4


def efficiency_rows(setup_name: str, model: str, masses: tuple[float, ...], n_events: int, seed: int,
                    work: Path) -> list[dict[str, float]]:
    """Simulated selection efficiency and its MC error at each mass (see the module docstring)."""
    setup = get_setup(setup_name)
    if getattr(setup, "positron_annihilation", False):  # bremsstrahlung only (module docstring)
        setup = setup.with_(positron_annihilation=False)
        yields.SETUPS[setup_name] = setup
        # the generator reads the simulation registry, whose detector holds the physics record
        record = simulation_setups.SIMULATION_SETUPS[setup_name]
        simulation_setups.SIMULATION_SETUPS[setup_name] = dataclasses.replace(
            record, detector=dataclasses.replace(record.detector, physics=setup))
    exposure = 1e12  # the weights' exposure: cancels in the ratio
    folder = work / setup_name
    files = simulate_mc(setup_name, folder, processes=["signal"], masses_gev=list(masses), n_events=n_events,
                        n_pot=exposure, coupling=COUPLING, model=model, seed=seed, compression="none")
    selection = load_selection(REPO_ROOT / "na64stat" / "selections" / f"{setup_name}.yaml")
    run = run_selection(selection, {f.process: [str(f.path)] for f in files}, unblind=True)
    samples = selection_summary(run)["samples"]
    per_g2 = events_per_epsilon2 if model == "dark_photon" else events_per_e_mu2
    physics_setup = setup.with_(exposure=exposure, efficiency=1.0)
    rows = []
    for mass, f in zip(masses, files):
        sample = samples[f.process]
        box = sample["regions"]["signal"]
        selected, selected_w2 = float(box["weighted"]), float(box["weighted_error"]) ** 2
        total, total_w2 = float(sample["total"]["weighted"]), float(sample["total"]["weighted_error"]) ** 2
        p = selected / total
        sigma_p = math.sqrt((1 - p) ** 2 * selected_w2 + p**2 * max(total_w2 - selected_w2, 0.0)) / total
        physics = float(per_g2(physics_setup, [mass])[0]) * COUPLING**2
        efficiency, error = selected / physics, sigma_p * total / physics
        if efficiency > 1 + 5 * error:
            raise SystemExit(f"{setup_name}, m = {mass} GeV: efficiency {efficiency:.3f} +- {error:.3f} > 1: the "
                             "generator's rate and the physics yield disagree")
        rows.append({"mass_gev": mass, "efficiency": round(efficiency, 6), "mc_error": round(error, 6),
                     "generated": int(n_events), "selected_raw": int(box["raw"]),
                     "generated_over_physics": round(total / physics, 6)})
        print(f"{setup_name:>17} m = {mass:8.4g} GeV: efficiency {efficiency:.4f} +- {error:.4f} "
              f"(generated / physics above the cut {total / physics:.3f})", file=sys.stderr)
    for f in files:
        f.path.unlink(missing_ok=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="signal events per mass and setup")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    table = {}
    with tempfile.TemporaryDirectory(prefix="na64stat-efficiency-") as tmp:
        for name, model in SETUPS.items():
            table[name] = {"model": model, "selection": f"na64stat/selections/{name}.yaml",
                           "rows": efficiency_rows(name, model, MASSES_GEV, args.events, args.seed, Path(tmp))}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    content = {
        "name": "signal_efficiency",
        "source": {"repository": "na64stat (this project)", "path": "tools/make_efficiency_table.py",
                   "commit": commit, "reference": "na64stat's signal generator and packaged selections at that commit",
                   "note": "computed, not transcribed: rerun the generator to regenerate"},
        "description": ("Simulated signal selection efficiency per setup and mass: the signal-region yield of "
                        "na64stat's signal generator after the packaged selection, divided by the physics yield "
                        "above the setup's missing-energy cut (efficiency 1). Mass-independent detector/DAQ factors "
                        "are not included (Setup.efficiency_factors)."),
        "generator": f"tools/make_efficiency_table.py --events {args.events} --seed {args.seed} (na64stat {__version__})",
        "mass_unit": "GeV",
        "mc_error": "MC statistical (binomial) error of each point's efficiency",
        "setups": table,
    }
    args.out.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
