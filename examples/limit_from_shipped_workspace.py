"""The 90% CL limit at one mass from a shipped pyhf workspace (NA64e invisible 2016-2018), recast to
epsilon.

Run: ``python examples/limit_from_shipped_workspace.py`` (a few seconds). The workspace and its
PatchSet are package data (``na64stat/workspaces/``), read through importlib.resources, so this
works from an installed wheel too. The result is compared with the published limit at that mass.
"""

from __future__ import annotations

import json
from importlib import resources

import pyhf

from na64stat.core.references import load_curve
from na64stat.inference import upper_limit
from na64stat.results.recast import recast_limit

MASS_GEV = 0.01


def main() -> None:
    folder = resources.files("na64stat") / "workspaces" / "na64e-invisible-2016-2018"
    workspace = pyhf.Workspace(json.loads((folder / "bkgonly.json").read_text()))
    patchset = pyhf.PatchSet(json.loads((folder / "patchset.json").read_text()))
    patch = min(patchset.patches, key=lambda p: abs(p.metadata["mass_gev"] / MASS_GEV - 1))
    model = workspace.model(patches=[patch])
    limit = upper_limit(model, workspace.data(model))  # auto: exact counting for one bin
    mass = patch.metadata["mass_gev"]
    coupling = recast_limit(
        limit.observed, mass, patch.metadata["signal_model"], patch.metadata["reference_coupling"]
    )
    published = float(load_curve("na64e_invisible_2019").interpolate(mass))
    print(f"patch {patch.name}: m = {mass:g} GeV, method {limit.method} ({limit.method_reason})")
    print(f"  mu < {limit.observed:.4g} (expected median {limit.expected[2]:.4g})")
    print(
        f"  epsilon < {coupling.epsilon:.3e}; published {published:.3e}; ratio "
        f"{coupling.epsilon / published:.2f}"
    )


if __name__ == "__main__":
    main()
