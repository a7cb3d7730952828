"""Expected signal events of a setup for a workspace: physics yields, or signal MC for the visible mode.

The model stage builds workspaces from numbers; where a workspace config
asks for signal yields "from physics" (``signal.masses``), the caller hands
the model stage a function of this signature (:data:`SignalYield`), by
default :func:`expected_signal_events`: the model stage itself never runs
the simulation.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from na64stat.physics.yields import events_per_e_mu2, events_per_epsilon2, signal_efficiency
from na64stat.simulation.processes import signal_process
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_simulation_setup

__all__ = ["SignalYield", "expected_signal_events", "VISIBLE_MC_EVENTS"]

#: Signal MC events used to average the visible-mode decay probability.
VISIBLE_MC_EVENTS = 20_000


class SignalYield(Protocol):
    """``(setup, mass_gev, coupling, model, exposure, efficiency) -> expected events`` of one signal point."""

    def __call__(self, setup: str, mass_gev: float, coupling: float, model: str, exposure: float,
                 efficiency: float | None) -> float: ...


def expected_signal_events(setup: str, mass_gev: float, coupling: float, model: str, exposure: float,
                           efficiency: float | None, *, seed: int = 1) -> float:
    """Signal events at ``coupling`` for ``exposure`` particles on target and an overall efficiency.

    Parameters
    ----------
    setup:
        Registry key (:data:`~na64stat.simulation.setups.SIMULATION_SETUPS`).
    mass_gev, coupling:
        Boson mass [GeV] and coupling (epsilon, or e_mu for ``"lmutau"``).
    model:
        ``"dark_photon"`` or ``"lmutau"``.
    exposure, efficiency:
        Particles on target (EOT / MOT) and the overall signal efficiency.
    seed:
        Seed of the visible-mode signal MC.

    Returns
    -------
    float
        Expected events. Invisible mode: eq. (57) through
        :mod:`na64stat.physics.yields` with the setup's missing-energy cut
        (Br_inv and the loop mixing included). Visible mode: production with
        the A' above the generation cut times the probability that it decays
        between the dump and S4 (eq. 118), averaged over the A' energy
        spectrum with :data:`VISIBLE_MC_EVENTS` seeded signal events
        (:func:`~na64stat.simulation.processes.signal_process`).

    Examples
    --------
    >>> n = expected_signal_events("na64e-invisible", 0.01, 1e-4, "dark_photon", 2.84e11, 1.0)
    >>> 30 < n < 40
    True
    """
    record = get_simulation_setup(setup)
    if record.physics.mode == "invisible":
        physics = record.physics.with_(exposure=exposure, efficiency=efficiency)
        per_g2 = events_per_epsilon2 if model == "dark_photon" else events_per_e_mu2
        return float(per_g2(physics, [mass_gev])[0]) * coupling**2
    process = signal_process(setup, mass_gev, coupling, "dark_photon")
    draw = Draw(np.random.default_rng(seed), VISIBLE_MC_EVENTS, biased=True)
    process.sample(draw, record.detector)
    flat = float(signal_efficiency(record.physics.with_(efficiency=efficiency), [mass_gev])[0])  # None: computed
    return process.rate_per_pot * exposure * flat * float(np.mean(draw.weight))
