"""Expected signal events of a setup for a workspace, from physics (invisible and visible mode).

The model stage builds workspaces from numbers; where a workspace config
asks for signal yields "from physics" (``signal.masses``), the caller hands
the model stage a function of this signature (:data:`SignalYield`), by
default :func:`expected_signal_events`: the model stage itself never runs
the simulation.
"""

from __future__ import annotations

from typing import Protocol

from na64stat.core.errors import InputError
from na64stat.physics.visible import get_runs, runs_at, total_events
from na64stat.physics.yields import events_per_alpha_x, invisible_alpha_x_per_coupling2
from na64stat.simulation.setups import get_simulation_setup

__all__ = ["SignalYield", "expected_signal_events"]


class SignalYield(Protocol):
    """``(setup, mass_gev, coupling, model, exposure, efficiency) -> expected events`` of one signal
    point.
    """

    def __call__(
        self,
        setup: str,
        mass_gev: float,
        coupling: float,
        model: str,
        exposure: float,
        efficiency: float | None,
    ) -> float:
        """Expected signal events [events] of the point."""
        ...


def expected_signal_events(
    setup: str,
    mass_gev: float,
    coupling: float,
    model: str,
    exposure: float,
    efficiency: float | None,
) -> float:
    """Signal events at ``coupling`` for ``exposure`` particles on target and an overall efficiency.

    Parameters
    ----------
    setup:
        Registry key (:data:`~na64stat.simulation.setups.SIMULATION_SETUPS`).
    mass_gev, coupling:
        Boson mass [GeV] and the model's coupling (epsilon, or e_mu for ``"lmutau"``).
    model:
        A registered model (:mod:`na64stat.physics.models`), e.g. ``"dark_photon"`` or
        ``"lmutau"`` (the visible mode: ``"dark_photon"`` only).
    exposure, efficiency:
        Particles on target (EOT / MOT) and the overall signal efficiency
        (``None``: the setup's own, computed where the setup computes it).

    Returns
    -------
    float
        Expected events. Invisible mode: eq. (57) through
        :mod:`na64stat.physics.yields` with the setup's missing-energy cut
        (Br_inv and the loop mixing included). Visible mode: the setup's
        ``visible_runs`` of :data:`~na64stat.physics.visible.VISIBLE_RUNS`
        (``na64e-visible``: 2017 at 100 GeV and 2018 at 150 GeV, each with its
        dump and decay volume) at ``exposure`` in total, production in the WCAL shower times the
        probability to decay between the vetoes and S4 (eq. 118),
        :func:`~na64stat.physics.visible.total_events`.

    Examples
    --------
    >>> n = expected_signal_events("na64e-invisible", 0.01, 1e-4, "dark_photon", 2.84e11, 1.0)
    >>> 30 < n < 40
    True
    >>> n = expected_signal_events("na64e-visible", 0.0167, 3e-4, "dark_photon", 8.4e10, None)
    >>> n > 2.303
    True
    """
    record = get_simulation_setup(setup)
    if record.physics.mode == "invisible":
        physics = record.physics.with_(exposure=exposure, efficiency=efficiency)
        per_g2 = invisible_alpha_x_per_coupling2(model, physics.beam, [mass_gev])
        return float((per_g2 * events_per_alpha_x(physics, [mass_gev]))[0]) * coupling**2
    if model != "dark_photon":
        raise InputError(
            f"setup {setup!r}: the visible mode has the dark-photon signal only, got model "
            f"{model!r}"
        )
    runs = runs_at(
        exposure=exposure, efficiency=efficiency, runs=get_runs(record.physics.visible_runs)
    )
    return total_events(runs, mass_gev, coupling)
