"""A toy one-bin counting experiment through the whole model -> inference path.

Run: ``python examples/toy_workspace_limit.py`` (a few seconds). One channel with 0.5 expected
background events (10% uncertainty) and 0 observed, a signal patch of 1 event at mu = 1: the
workspace is built and validated with na64stat.model.workspace, and the CLs limit on mu computed
three ways. With b = 0.5 and n = 0 the exact limit is near the background-free 2.303 events; the
asymptotic formulae, made for large counts, give about 1.6 (why ``auto`` does not use them here).
"""

from __future__ import annotations

import pyhf

from na64stat.inference import upper_limit
from na64stat.model.workspace import (
    Channel,
    Sample,
    SignalPatch,
    WorkspaceDescription,
    build,
    uncertainty_modifier,
    validate_patchset,
    validate_spec,
)


def main() -> None:
    background = Sample(
        "background", (0.5,), (uncertainty_modifier("background_uncertainty", 0.5, 0.05),)
    )
    description = WorkspaceDescription(
        name="toy",
        description="one bin: b = 0.5 +- 0.05, n = 0",
        channels=(Channel("signal_box", observed=(0.0,), samples=(background,)),),
        signals=(
            SignalPatch(
                "m0p01", yields={"signal_box": (1.0,)}, values=(0.01,), metadata={"mass_gev": 0.01}
            ),
        ),
    )
    spec, patchset = build(description)
    workspace = validate_spec(spec, "toy bkgonly.json")
    patches = validate_patchset(patchset, spec, "toy patchset.json")
    model = workspace.model(patches=[patches.patches[0]])
    data = workspace.data(model)
    for method in ("exact", "toys", "asymptotic"):
        limit = upper_limit(model, data, method=method, n_toys=2000)
        print(f"{method:>10}: mu < {limit.observed:.3f} signal events ({limit.status_observed})")
    print(f"background-free: {pyhf.tensorlib.log(10.0):.3f} events (-ln 0.1)")


if __name__ == "__main__":
    main()
