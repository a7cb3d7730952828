"""Ratio of a shipped NA64e invisible workspace's 90% CL epsilon limit to a published curve,
computed from outside.

    python tools/compare_published_from_outside.py WORKSPACE_DIR CURVE MASSES [--y-vs-mchi]

Reads only the workspace's ``patchset.json`` (json + numpy + scipy, none of na64stat's inference):
with no observed event, CLs(mu) = E_k[exp(-mu s k)] (the background cancels; k = (1 + r)^theta from
the signal's normsys, theta ~ N(0, 1), Gauss-Hermite), solved for CLs = 0.1; epsilon =
reference_coupling sqrt(mu). ``CURVE``: a darkcast ``.lmt`` file (mass [GeV], epsilon), or with
``--y-vs-mchi`` a CSV ``mass,coupling`` of y = eps^2 alpha_D (m_chi/m_A')^4 against m_chi with
alpha_D = 0.1, m_A' = 3 m_chi (ESPP 2026 briefing compilations, e.g. ESPP2026-PPG/Quasi-elastic-DM
data/Constraints_BC2_NA64e-2022.csv @ 269f120 for PRL 131 (2023) 161801). Prints one line per mass:
mass, our epsilon (2.303 events and with the normsys), the published epsilon (log-log interpolation)
and the ratios.

Used for issue 23: PRL 123 (workspaces/na64e-invisible-2016-2018 against
shared/na64_limits/darkcast_NA64_NA642019imj.lmt) and PRL 131
(workspaces/na64e-invisible-2016-2022).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import brentq


def published_curve(path: Path, y_vs_mchi: bool) -> tuple[np.ndarray, np.ndarray]:
    """(m_A' [GeV], epsilon) of the published curve."""
    if y_vs_mchi:
        data = np.loadtxt(path, delimiter=",", skiprows=1)
        return 3.0 * data[:, 0], np.sqrt(data[:, 1] / (0.1 / 81.0))
    data = np.loadtxt(path)
    return data[:, 0], data[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workspace", type=Path)
    parser.add_argument("curve", type=Path)
    parser.add_argument("masses", help="comma-separated masses [GeV] (patch masses)")
    parser.add_argument("--y-vs-mchi", action="store_true")
    args = parser.parse_args()
    mass_pub, eps_pub = published_curve(args.curve, args.y_vs_mchi)
    wanted = [float(m) for m in args.masses.split(",")]
    patches = json.loads((args.workspace / "patchset.json").read_text())["patches"]
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    for patch in patches:
        mass = float(patch["metadata"]["mass_gev"])
        if not any(abs(mass / m - 1) < 1e-9 for m in wanted):
            continue
        signal = next(
            op["value"]
            for op in patch["patch"]
            if isinstance(op.get("value"), dict) and op["value"].get("name") == "signal"
        )
        s = float(sum(signal["data"]))
        r = next(
            (
                mod["data"]["hi"] - 1.0
                for mod in signal.get("modifiers", [])
                if mod["type"] == "normsys"
            ),
            0.0,
        )
        k = (1.0 + r) ** nodes
        mu = brentq(
            lambda x, s=s, k=k: float(np.sum(weights * np.exp(-x * s * k))) - 0.1, 1e-9, 1e9
        )
        ref = float(patch["metadata"]["reference_coupling"])
        plain, hybrid = ref * math.sqrt(math.log(10.0) / s), ref * math.sqrt(mu)
        if not mass_pub.min() <= mass <= mass_pub.max():
            print(
                f"{mass * 1e3:8.1f} MeV  n/a: the curve covers {mass_pub.min():.4g} - "
                f"{mass_pub.max():.4g} GeV"
            )
            continue
        pub = math.exp(float(np.interp(math.log(mass), np.log(mass_pub), np.log(eps_pub))))
        print(
            f"{mass * 1e3:8.1f} MeV  eps {plain:.3e} (2.303 events) {hybrid:.3e} (normsys {r:.3f}) "
            f" published {pub:.3e}  ratio {plain / pub:.2f} / {hybrid / pub:.2f}"
        )


if __name__ == "__main__":
    main()
