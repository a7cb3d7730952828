"""Print the resonant-annihilation gain of NA64e and the visible-mode X17 range (issue 13, items 4
and 5).

Run from the repository root::

    PYTHONPATH=. python tools/annihilation_and_visible_tables.py

Part 1: events per eps^2 of the na64e-invisible setup (2.84e11 EOT, 100 GeV,
E_ECAL < 50 GeV) with and without e+ e- -> A', the gain (total / bremsstrahlung)
and the background-free 90% CL epsilon with / without it.
Part 2: the excluded epsilon range at 16.7 MeV of the 2017, 2018 and combined
visible-mode runs (na64stat.physics.visible.VISIBLE_RUNS) against PRL 120
(1.3e-4 - 4.2e-4) and PRD 101 (1.2e-4 - 6.8e-4).
"""

from __future__ import annotations

from na64stat.physics.constants import ALPHA_EM
from na64stat.physics.setups import get_setup
from na64stat.physics.visible import VISIBLE_RUNS, excluded_epsilon_range
from na64stat.physics.yields import (
    annihilation_events_per_alpha_x,
    background_free_reach,
    events_per_epsilon2,
)

MASSES_GEV = (0.100, 0.150, 0.200, 0.225, 0.250, 0.300, 0.400)
PUBLISHED = {"2017": (1.3e-4, 4.2e-4), "2017+2018": (1.2e-4, 6.8e-4)}


def main() -> None:
    on = get_setup("na64e-invisible")
    off = on.with_(positron_annihilation=False)
    print("m [MeV]  brems/eps^2  annihilation/eps^2  gain   eps(on)    eps(off)   eps ratio")
    for m in MASSES_GEV:
        total, brems = events_per_epsilon2(on, [m])[0], events_per_epsilon2(off, [m])[0]
        ann = ALPHA_EM * annihilation_events_per_alpha_x(on, [m])[0]
        e_on, e_off = (
            background_free_reach(on, [m]).epsilon[0],
            background_free_reach(off, [m]).epsilon[0],
        )
        print(
            f"{m * 1e3:7.0f}  {brems:11.4g}  {ann:18.4g}  {total / brems:5.3g}  {e_on:9.3g}  "
            f"{e_off:9.3g}  {e_on / e_off:.3f}"
        )
    print()
    runs = {
        "2017": (VISIBLE_RUNS["2017"],),
        "2018": (VISIBLE_RUNS["2018"],),
        "2017+2018": (VISIBLE_RUNS["2017"], VISIBLE_RUNS["2018"]),
    }
    for name, chosen in runs.items():
        lo, hi = excluded_epsilon_range(chosen, 0.0167)
        ref = PUBLISHED.get(name)
        extra = (
            f"  published {ref[0]:.2g} - {ref[1]:.2g}: ratios {lo / ref[0]:.2f}, {hi / ref[1]:.2f}"
            if ref
            else ""
        )
        print(f"X17 {name:9s} {lo:.3g} < eps < {hi:.3g}{extra}")


if __name__ == "__main__":
    main()
