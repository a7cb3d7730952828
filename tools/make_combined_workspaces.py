"""Regenerate the shipped NA64e + NA64mu combined workspaces from the shipped single-experiment
ones.

    python tools/make_combined_workspaces.py

writes ``na64stat/workspaces/na64-combined-e2016-2022-mu2022-{epsilon,gzprime}/``
(``bkgonly.json``, ``patchset.json``, ``README.md``) with
:func:`na64stat.model.combine.combine_folders`, i.e. exactly what

    na64stat combine workspaces/na64e-invisible-2016-2022 workspaces/na64mu-2022 --model MODEL --out
    DIR

writes. Run it after rebuilding either input (``na64stat workspace build``);
``tests/model/test_combine.py`` checks that the shipped files equal a fresh combination.
"""

from __future__ import annotations

from pathlib import Path

from na64stat.model.combine import combine_folders
from na64stat.physics.models import get_model

ROOT = Path(__file__).resolve().parents[1] / "na64stat" / "workspaces"
INPUTS = ("na64e-invisible-2016-2022", "na64mu-2022")
#: Shipped combinations: folder name -> common model.
COMBINATIONS = {
    "na64-combined-e2016-2022-mu2022-epsilon": "dark_photon",
    "na64-combined-e2016-2022-mu2022-gzprime": "lmutau",
}


def readme(folder: str, model: str, patchset: dict) -> str:
    """The README of one combined folder: what it combines, how, and how to use it."""
    meta = patchset["metadata"]
    parts = "\n".join(
        f"- `{e['name']}` ({e['setup']}, {e['beam']} beam, made in {e['signal_model']}; "
        f"{e.get('exposure', 0):.3g} {e.get('exposure_unit', '')}, "
        f"{e.get('publication', '')})"
        for e in meta["combined_from"]
    )
    refs = [p["metadata"]["reference_coupling"] for p in patchset["patches"]]
    poi = (
        f"one POI `mu = ({get_model(model).coupling_name} / {meta['reference_coupling']:g})^2`"
        if "reference_coupling" in meta
        else f"one POI `mu = ({get_model(model).coupling_name} / reference_coupling)^2`, each "
        "patch at its own reference "
        f"coupling (patch metadata `reference_coupling`, {min(refs):.2g} to {max(refs):.2g}), "
        "where the "
        "combined signal expects about 3 events, so that mu is of order one near the limit,"
    )
    interpolated = sorted(
        {p["metadata"]["mass_gev"] for p in patchset["patches"] if p["metadata"]["interpolated"]}
    )
    interpolation = (
        "The inputs share every mass, so nothing is interpolated."
        if not interpolated
        else f"At {', '.join(f'{m:g}' for m in interpolated)} GeV some input is interpolated "
        "log-log "
        "(patch metadata `interpolated`)."
    )
    coupling = (
        "epsilon (dark photon, Br(A' -> invisible) = 1)"
        if model == "dark_photon"
        else "g_Z' = e_mu (L_mu - L_tau Z', Br(Z' -> invisible) from the physical widths)"
    )
    return f"""# {folder}

Combined likelihood of NA64e (2016-2022) and NA64mu (2022) in one coupling, {coupling}:
{poi} for both experiments' signal boxes.

Combined from (by channel and modifier prefix; the inputs are the shipped folders `{INPUTS[0]}` and `{INPUTS[1]}`):

{parts}

How (`na64stat.model.combine`): each experiment's channels and modifiers carry its prefix, so nothing is
shared by accident; no modifier is declared correlated (the two signal-efficiency uncertainties belong to
different detectors; NA64e's includes PRD 97's 10% signal cross section, NA64mu's is an assumed 10%). Each experiment's
signal is rescaled from its own model and reference coupling with the physics of `na64stat.physics.yields`
(dark photon: the same epsilon for electron and muon beams; L_mu - L_tau: NA64e through the loop mixing
of eq. (54) and Br(Z' -> invisible), NA64mu directly). {interpolation} Each patch sets the POI bounds to [0, U] with U from `na64stat.model.combine.poi_upper_bound`,
so that `pyhf cls` finds the limit inside them.

Regenerate with `python tools/make_combined_workspaces.py` (the same as
`na64stat combine workspaces/{INPUTS[0]} workspaces/{INPUTS[1]} --model {model} --out workspaces/{folder}`).

## Use

```
na64stat limits workspaces/{folder}/bkgonly.json workspaces/{folder}/patchset.json --out limits/{folder}
pyhf patchset apply workspaces/{folder}/bkgonly.json workspaces/{folder}/patchset.json --name m0p1 --output-file ws.json && pyhf cls ws.json
```

Two channels: `na64stat limits` cannot use exact counting (one bin only) and chooses toys or, where toys
would exceed its time budget, asymptotic formulae, saying which in `limits.json` (`method_reason`).

The PatchSet's `references.hepdata` is a placeholder the pyhf schema requires; no HEPData record was used.
"""


def main() -> None:
    """Write both combined folders."""
    for folder, model in COMBINATIONS.items():
        out = ROOT / folder
        _, patchset, written = combine_folders([ROOT / name for name in INPUTS], out, model)
        (out / "README.md").write_text(readme(folder, model, patchset), encoding="utf-8")
        print(f"{folder}: {', '.join(p.name for p in written)}, README.md")


if __name__ == "__main__":
    main()
