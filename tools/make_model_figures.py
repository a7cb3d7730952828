"""One figure per registered signal model: its coupling limits from NA64e, NA64mu and both combined.

    PYTHONPATH=. python tools/make_model_figures.py [--out DIR] [--masses 0.01,0.1] [--method auto]
                                                    [--model b_minus_l ...]

reads the shipped ``workspaces/na64e-invisible-2016-2022`` and ``workspaces/na64mu-2022``,
combines each group in the model (:func:`na64stat.results.model_recast.beam_and_combined_limits`),
computes the limits and writes ``DIR/<model>.png``/``.pdf``
(:func:`na64stat.results.plotting.model_limits_plot`) and ``DIR/<model>.json``. A model that the
invisible searches cannot see (no coupling to the beam lepton, or Br(invisible) = 0 as the
protophobic X without dark decays) has no limit there and is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from na64stat.inference.scan import ScanSettings
from na64stat.model.workspace import load_workspace, read_json
from na64stat.physics.models import model_names
from na64stat.results.model_recast import beam_and_combined_limits
from na64stat.results.plotting import model_limits_plot

ROOT = Path(__file__).resolve().parents[1] / "workspaces"
INPUTS = {"NA64e": "na64e-invisible-2016-2022", "NA64mu": "na64mu-2022"}


def main() -> None:
    """Parse the options, compute every model's limits, draw and write them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("model-figures"))
    parser.add_argument("--masses", default=None, help="GeV, comma-separated (default: all)")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--model", action="append", default=None)
    args = parser.parse_args()
    inputs = {
        label: (load_workspace(ROOT / f / "bkgonly.json"), read_json(ROOT / f / "patchset.json", f))
        for label, f in INPUTS.items()
    }
    groups = {
        "NA64e": [inputs["NA64e"]],
        "NA64mu": [inputs["NA64mu"]],
        "NA64e + NA64mu": list(inputs.values()),
    }
    masses = [float(m) for m in args.masses.split(",")] if args.masses else None
    for model in args.model or model_names():
        limits = beam_and_combined_limits(model, groups, masses, ScanSettings(method=args.method))
        if all(p.observed is None for v in limits.values() for p in v.points):
            print(f"{model}: no invisible signal on either beam, no figure")
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        content = {label: v.to_dict() for label, v in limits.items()}
        (args.out / f"{model}.json").write_text(json.dumps(content, indent=1) + "\n")
        written = model_limits_plot(limits, args.out / model)
        print(f"{model}: {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
    main()
