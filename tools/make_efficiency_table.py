#!/usr/bin/env python3
"""Signal efficiency per setup, production channel and mass from na64stat's own simulation and
selection.

Writes ``na64stat/resources/signal_efficiency.json``, the table that
:func:`na64stat.physics.efficiencies.signal_efficiency` reads when a setup's
``efficiency`` is ``None`` (the default). For every setup, channel and mass it

1. generates ``--events`` weighted signal events of that channel alone with
   :func:`na64stat.simulation.generate.simulate_mc` (the packaged signal
   generator, ``signal_production="bremsstrahlung"`` or ``"annihilation"``,
   seed ``--seed``, one stream per setup, channel and mass; the setup
   registries are read, never changed),
2. applies the packaged selection ``na64stat/selections/<setup>.yaml`` (all
   cuts, then the ``signal`` region) with
   :func:`na64stat.selection.processing.run_selection`,
3. divides the selected weighted yield by that channel's physics yield above
   the setup's missing-energy cut with efficiency 1 at the simulated exposure
   (bremsstrahlung: :func:`na64stat.physics.yields.events_per_epsilon2` or
   ``events_per_e_mu2`` with ``positron_annihilation`` off; annihilation:
   :func:`na64stat.physics.yields.annihilation_events_per_alpha_x` times
   :func:`~na64stat.physics.yields.invisible_alpha_x_per_coupling2`).

``selected / physics`` is the simulated selection efficiency: trigger, cuts
and the signal box with the detector resolutions (events that migrate across
the cut included). Its MC statistical error is the binomial error of the
selected weight fraction p = W_sel / W_gen of the generated events,
sigma_p = sqrt((1 - p)^2 sum_sel w^2 + p^2 sum_rest w^2) / W_gen, times
W_gen / physics (the number generated is fixed, so the selected count is
binomial, not Poisson).
Two channels, two row sets per electron setup: ``rows`` (bremsstrahlung, on
:data:`MASSES_GEV`; the only rows of a muon setup, and the key older readers
know) and ``annihilation_rows`` (resonant e+ e- -> A' of shower positrons,
whose A' carries the fixed energy E_R = (m^2 - 2 m_e^2) / (2 m_e) into the
signal box, at the masses of :func:`annihilation_masses`: E_R + m_e from
just above the missing-energy cut up to 2 GeV below the beam energy,
dense near the cut, where the efficiency falls to ~1/2 as beam - E_R reaches
the ECAL cut within the beam spread and ECAL resolution). The entry also
records ``annihilation_window_gev``, the masses where the annihilation yield
is non-zero (E_R + m_e = cut, E_R = beam energy), inside which
:func:`~na64stat.physics.efficiencies.signal_efficiency` holds the end points'
values constant. Every generated annihilation A' carries E_R + m_e above the
cut (no migration in truth), so the generated sample is the physics yield's
own sample and the annihilation efficiency is the selected weight fraction p
itself (error sigma_p); the ratio of the generator's rate to the physics
yield is recorded as ``generated_over_physics``, a check, not folded in: it is
1.00 at the window's lower edge and rises to ~1.04 at E_R = 95 GeV and ~1.1
at 98 GeV, the linear interpolation of the 120-bin positron track-length
spectrum near the beam energy evaluated with the generation cut's binning
(20 GeV) against the analysis cut's (50 GeV); with 480 bins the two agree to
0.3% / 1.3%. At E_R = 98 GeV the annihilation efficiency drops from the
plateau's 0.96 to 0.925: the ECAL keeps only beam - E_R ~ 2 GeV and the
preshower cut (> 0.3 GeV) fails for 4.7% of the events, half of which (2.4%)
are unphysical, a beam particle below E_R (the generator's 1% beam spread is
not correlated with the resonance energy). A bremsstrahlung point whose efficiency exceeds 1 by more
than 5 MC errors stops the run: generator and physics yields would disagree.
The mass-independent detector / DAQ factors are not part of this table:
they are the setups' ``efficiency_factors`` (with their sources) in
:mod:`na64stat.physics.yields`.

Usage (the packaged table, ``--events 400000``: 46 points of 400,000 events,
71 s on one core of the development machine)::

    PYTHONPATH=. python tools/make_efficiency_table.py [--events 200000] [--seed 1] [--out FILE]

Same options, same file: the generator is seeded and the table is written
with sorted keys.
"""

from __future__ import annotations

import argparse
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
from na64stat.physics.annihilation import resonance_energy_gev, resonance_mass_gev  # noqa: E402
from na64stat.physics.constants import M_E_GEV  # noqa: E402
from na64stat.physics.setups import Setup, get_setup  # noqa: E402
from na64stat.physics.yields import (  # noqa: E402
    annihilation_events_per_alpha_x,
    events_per_e_mu2,
    events_per_epsilon2,
    invisible_alpha_x_per_coupling2,
)
from na64stat.selection.config import load_selection  # noqa: E402
from na64stat.selection.outputs import summary as selection_summary  # noqa: E402
from na64stat.selection.processing import run_selection  # noqa: E402
from na64stat.simulation.generate import simulate_mc  # noqa: E402
from na64stat.simulation.processes import SignalProduction  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "na64stat" / "resources" / "signal_efficiency.json"

#: Mass grid [GeV]: 1 MeV - 3 GeV, 4 points per decade (the range of DMG4's K-factor table).
MASSES_GEV: tuple[float, ...] = tuple(
    float(f"{m:.4g}") for m in np.logspace(-3, math.log10(3.0), 15)
)

#: Setups and the signal model their table is made for (the model's Br does not
#: enter the ratio: numerator and denominator carry the same coupling factor).
SETUPS: dict[str, str] = {"na64e-invisible": "dark_photon", "na64mu-invisible": "lmutau"}

COUPLING = 1e-4

#: A' energy + m_e above the missing-energy cut [GeV] of the annihilation rows' points
#: (E_R + m_e = cut + offset): 10 MeV inside the window's lower edge, dense over the
#: first few GeV where the ECAL energy beam - E_R crosses the cut (1% beam spread), up to
#: 2 GeV below a 100 GeV beam (:func:`annihilation_masses` keeps those below the beam energy).
ANNIHILATION_OFFSETS_GEV: tuple[float, ...] = (
    0.01,
    0.5,
    1.0,
    2.0,
    3.5,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    25.0,
    30.0,
    35.0,
    40.0,
    45.0,
    48.0,
)


def annihilation_window_gev(setup: Setup) -> tuple[float, float]:
    """Masses [GeV] between which the setup's resonant-annihilation yield is non-zero
    (E_R + m_e = missing-energy cut, E_R = beam energy; :mod:`na64stat.physics.annihilation`).

    >>> [round(m, 4) for m in annihilation_window_gev(get_setup("na64e-invisible"))]
    [0.2261, 0.3197]
    """
    return (
        float(resonance_mass_gev(setup.missing_energy_cut_gev - M_E_GEV)),
        float(resonance_mass_gev(setup.beam_energy_gev)),
    )


def annihilation_masses(setup: Setup) -> tuple[float, ...]:
    """Masses [GeV] of the annihilation rows: E_R + m_e = cut + :data:`ANNIHILATION_OFFSETS_GEV`
    below the beam energy (7 significant digits: E_R moves by < 1e-3 GeV)."""
    cut, beam = setup.missing_energy_cut_gev, setup.beam_energy_gev
    return tuple(
        float(f"{float(resonance_mass_gev(cut + offset - M_E_GEV)):.7g}")
        for offset in ANNIHILATION_OFFSETS_GEV
        if cut + offset - M_E_GEV < beam
    )


def efficiency_rows(
    setup_name: str,
    model: str,
    masses: tuple[float, ...],
    n_events: int,
    seed: int,
    work: Path,
    production: SignalProduction = "bremsstrahlung",
) -> list[dict[str, float]]:
    """Simulated selection efficiency and its MC error at each mass for one production channel
    (``"bremsstrahlung"`` or ``"annihilation"``; see the module docstring)."""
    setup = get_setup(setup_name)
    exposure = 1e12  # the weights' exposure: cancels in the ratio
    folder = work / setup_name
    files = simulate_mc(
        setup_name,
        folder,
        processes=["signal"],
        masses_gev=list(masses),
        n_events=n_events,
        n_pot=exposure,
        coupling=COUPLING,
        model=model,
        seed=seed,
        compression="none",
        signal_production=production,
    )
    selection = load_selection(REPO_ROOT / "na64stat" / "selections" / f"{setup_name}.yaml")
    run = run_selection(selection, {f.process: [str(f.path)] for f in files}, unblind=True)
    samples = selection_summary(run)["samples"]
    physics_setup = setup.with_(exposure=exposure, efficiency=1.0)
    if production == "annihilation":
        physics_setup = physics_setup.with_(positron_annihilation=True)
        per_alpha_x = annihilation_events_per_alpha_x(physics_setup, list(masses))
        per_g2 = invisible_alpha_x_per_coupling2(model, setup.beam, list(masses)) * per_alpha_x
    else:
        physics_setup = physics_setup.with_(positron_annihilation=False)
        per_g2 = (events_per_epsilon2 if model == "dark_photon" else events_per_e_mu2)(
            physics_setup, list(masses)
        )
    rows = []
    for i, (mass, f) in enumerate(zip(masses, files)):
        sample = samples[f.process]
        box = sample["regions"]["signal"]
        selected, selected_w2 = float(box["weighted"]), float(box["weighted_error"]) ** 2
        total, total_w2 = (
            float(sample["total"]["weighted"]),
            float(sample["total"]["weighted_error"]) ** 2,
        )
        p = selected / total
        sigma_p = (
            math.sqrt((1 - p) ** 2 * selected_w2 + p**2 * max(total_w2 - selected_w2, 0.0)) / total
        )
        physics = float(per_g2[i]) * COUPLING**2
        if not physics > 0.0:
            raise SystemExit(f"{setup_name}, m = {mass} GeV: no {production} yield above the cut")
        if (
            production == "annihilation"
        ):  # every generated A' is above the cut: the sample is the yield's (docstring)
            efficiency, error = p, sigma_p
        else:
            efficiency, error = selected / physics, sigma_p * total / physics
        if efficiency > 1 + 5 * error:
            raise SystemExit(
                f"{setup_name}, m = {mass} GeV: {production} efficiency {efficiency:.3f} +- "
                f"{error:.3f} "
                "> 1: the generator's rate and the physics yield disagree"
            )
        row = {
            "mass_gev": mass,
            "efficiency": round(efficiency, 6),
            "mc_error": round(error, 6),
            "generated": int(n_events),
            "selected_raw": int(box["raw"]),
            "generated_over_physics": round(total / physics, 6),
        }
        if production == "annihilation":
            row["resonance_energy_gev"] = round(float(resonance_energy_gev(mass)), 4)
        rows.append(row)
        print(
            f"{setup_name:>17} {production:>14} m = {mass:8.4g} GeV: efficiency {efficiency:.4f} "
            f"+- {error:.4f} (generated / physics above the cut {total / physics:.3f})",
            file=sys.stderr,
        )
    for f in files:
        f.path.unlink(missing_ok=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=200_000, help="signal events per mass and setup"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    table = {}
    with tempfile.TemporaryDirectory(prefix="na64stat-efficiency-") as tmp:
        for name, model in SETUPS.items():
            table[name] = {
                "model": model,
                "selection": f"na64stat/selections/{name}.yaml",
                "rows": efficiency_rows(name, model, MASSES_GEV, args.events, args.seed, Path(tmp)),
            }
            setup = get_setup(name)
            if setup.beam == "electron" and setup.positron_annihilation:
                table[name]["annihilation_rows"] = efficiency_rows(
                    name,
                    model,
                    annihilation_masses(setup),
                    args.events,
                    args.seed,
                    Path(tmp),
                    "annihilation",
                )
                table[name]["annihilation_window_gev"] = list(
                    annihilation_window_gev(setup)
                )  # unrounded: the edges
    commit = (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    content = {
        "name": "signal_efficiency",
        "source": {
            "repository": "na64stat (this project)",
            "path": "tools/make_efficiency_table.py",
            "commit": commit,
            "reference": "na64stat's signal generator and packaged selections at that commit",
            "note": "computed, not transcribed: rerun the generator to regenerate",
        },
        "description": (
            "Simulated signal selection efficiency per setup, production channel and mass: the "
            "signal-region yield of na64stat's signal generator after the packaged selection, "
            "divided by "
            "the channel's physics yield above the setup's missing-energy cut (efficiency 1). "
            "'rows': "
            "bremsstrahlung (muon setups: the whole signal); 'annihilation_rows': resonant e+ e- "
            "-> A' alone (electron setups, masses inside 'annihilation_window_gev', where "
            "that yield is non-zero). Mass-independent detector/DAQ factors are not "
            "included (Setup.efficiency_factors)."
        ),
        "generator": f"tools/make_efficiency_table.py --events {args.events} --seed {args.seed} "
        f"(na64stat {__version__})",
        "mass_unit": "GeV",
        "mc_error": "MC statistical (binomial) error of each point's efficiency",
        "setups": table,
    }
    args.out.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
