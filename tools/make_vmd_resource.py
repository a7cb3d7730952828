"""Package darkcast's vector-meson-dominance grids R_mu^F as
``na64stat/resources/darkcast_vmd.json``.

    python tools/make_vmd_resource.py DARKCAST_DATA_DIR [OUTPUT_JSON]

DARKCAST_DATA_DIR holds darkcast's ``rf.<final state>.<mesons>.dat`` files (two columns: mass
[GeV], R_mu^F; darkcast's ``data`` folder, ``vmd`` in older versions). Standard library only; every
number is parsed as a float and written unchanged. Source of the shipped file:
Noah-Everett/DS-Decay-Scripts : darkcast/data @ c7569fe9ddd0d39a4d815c7e63d0e24b2b6f5584, a copy of
darkcast (Ilten, Soreq, Williams, Xue, JHEP 06 (2018) 004, arXiv:1801.04847, eqs. 2.15-2.18;
github.com/darkcast/darkcast).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPOSITORY = "Noah-Everett/DS-Decay-Scripts"
COMMIT = "c7569fe9ddd0d39a4d815c7e63d0e24b2b6f5584"
OUTPUT = Path(__file__).resolve().parents[1] / "na64stat" / "resources" / "darkcast_vmd.json"


def read_grid(path: Path) -> dict[str, list[float]]:
    """The two columns of one darkcast ``.dat`` grid (comments after ``#`` dropped)."""
    mass, values = [], []
    for line in path.read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            mass.append(float(fields[0]))
            values.append(float(fields[1]))
    return {"mass_gev": mass, "r_mu": values}


def main(source: Path, output: Path = OUTPUT) -> None:
    """Write every ``rf.*.dat`` grid of ``source`` into one JSON resource."""
    grids: dict[str, dict[str, dict[str, list[float]]]] = {}
    for path in sorted(source.glob("rf.*.dat")):
        _, state, mesons, _ = path.name.split(".")
        grids.setdefault(state, {})[mesons] = read_grid(path)
    content = {
        "name": "darkcast_vmd",
        "description": "R_mu^F of darkcast's vector-meson-dominance fit per hadronic final state "
        "F, split by the vector mesons contributing (rho0, omega, phi) and their "
        "interference "
        "(omega_phi); linear interpolation, the edge value outside the grid (darkcast "
        "utils.Dataset)",
        "source": {
            "repository": REPOSITORY,
            "path": "darkcast/data/rf.*.dat",
            "commit": COMMIT,
            "reference": "Ilten, Soreq, Williams, Xue, JHEP 06 (2018) 004, arXiv:1801.04847, "
            "eqs. 2.15-2.18; darkcast (github.com/darkcast/darkcast, GPL-2.0-or-later)",
        },
        "mass_unit": "GeV",
        "grids": grids,
    }
    output.write_text(json.dumps(content, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else OUTPUT)
