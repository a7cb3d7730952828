"""Background-free 90% CL reach of NA64e and NA64mu in their couplings, and against NA64e's
published limit.

Run: ``python examples/reach_table.py`` (about a second). With zero background the 90% CL limit is
2.303 signal events (-ln 0.1); the reach is the coupling that gives that many events at the setup's
exposure and its signal efficiency (0.6, an assumption of this project, not a published number).
"""

from __future__ import annotations

from na64stat.core.references import load_curve
from na64stat.physics import background_free_reach, get_setup

MASSES_GEV = [0.001, 0.01, 0.1, 1.0]


def main() -> None:
    electrons = background_free_reach(get_setup("na64e-invisible"), MASSES_GEV)  # 2.84e11 EOT
    muons = background_free_reach(get_setup("na64mu-invisible"), MASSES_GEV)  # 1.98e10 MOT
    published = load_curve("na64e_invisible_2019")  # PRL 123 (2019) 121801, epsilon vs m_A'
    ratio = electrons.epsilon / published.interpolate(electrons.mass_gev)
    print(f"{'m [GeV]':>8} {'NA64e eps':>10} {'/ published':>12} {'NA64mu e_mu':>12}")
    for m, eps, r, e_mu in zip(electrons.mass_gev, electrons.epsilon, ratio, muons.e_mu):
        print(f"{m:8.3g} {eps:10.3e} {r:12.2f} {e_mu:12.3e}")


if __name__ == "__main__":
    main()
