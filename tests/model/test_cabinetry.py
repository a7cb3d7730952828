"""The shipped likelihoods at other tools' defaults (issue 24): cabinetry and pyhf find the limit of every
per-mass patch without settings, and agree with na64stat's asymptotic limit.

Each per-mass patch is normalised (``na64stat.model.builders.normalise_signal``: its own reference coupling,
about 3 signal events) and the measurement declares the POI bounds, so the limit on mu is of order one, inside
cabinetry's default search bracket (0.1 to the POI's upper bound). cabinetry's default is a 95% CL limit;
na64stat's asymptotic limit is computed at 95% CL for the comparison. The visible-mode workspace is not
included: its patches are predictions at their own (mass, epsilon), where mu = 1 is the hypothesis tested, and
their limits on mu span many decades by construction.

cabinetry's limit takes about 4 s per patch: the default run checks one mass of a single and of a combined workspace, the slow
run every patch of every per-mass workspace.
"""

from __future__ import annotations

import json
import logging

import jsonpatch
import pyhf
import pytest
from conftest import REPO

from na64stat.inference.limits import upper_limit
from na64stat.results.recast import recast_limit

cabinetry = pytest.importorskip("cabinetry")

SHIPPED = REPO / "na64stat" / "workspaces"
PER_MASS = sorted(
    p.name
    for p in SHIPPED.iterdir()
    if (p / "patchset.json").is_file()
    and json.loads((p / "patchset.json").read_text())["metadata"]["labels"] == ["mass_gev"]
)
#: Relative agreement of cabinetry's and na64stat's asymptotic limits: cabinetry stops its search at an
#: absolute mu tolerance of 0.01 (about 1.5% of a limit near 0.7).
TOLERANCE = 0.03


def _patched(folder: str, index: int) -> tuple[pyhf.pdf.Model, list[float], dict]:
    spec = json.loads((SHIPPED / folder / "bkgonly.json").read_text())
    patch = json.loads((SHIPPED / folder / "patchset.json").read_text())["patches"][index]
    workspace = pyhf.Workspace(jsonpatch.apply_patch(spec, patch["patch"]))
    model = workspace.model()
    return model, list(workspace.data(model)), patch["metadata"]


def _check(folder: str, index: int) -> None:
    logging.getLogger("cabinetry").setLevel(logging.WARNING)
    model, data, meta = _patched(folder, index)
    _, high = model.config.suggested_bounds()[model.config.poi_index]
    theirs = cabinetry.fit.limit(model, data)  # every setting at cabinetry's default (95% CL)
    ours = upper_limit(model, data, confidence_level=0.95, method="asymptotic")
    where = f"{folder} {meta['name']}"
    assert 0.1 < ours.observed < high, where  # of order one: inside cabinetry's default bracket
    assert theirs.observed_limit == pytest.approx(ours.observed, rel=TOLERANCE), where
    assert theirs.expected_limit[2] == pytest.approx(ours.expected[2], rel=TOLERANCE), where


def test_shipped_workspaces_declare_poi_bounds_and_normalised_signals() -> None:
    for folder in PER_MASS:
        spec = json.loads((SHIPPED / folder / "bkgonly.json").read_text())
        patches = json.loads((SHIPPED / folder / "patchset.json").read_text())["patches"]
        for patch in patches:
            # the measurement declares the POI bounds (the background-only one, or each combined patch its own)
            config = jsonpatch.apply_patch(spec, patch["patch"])["measurements"][0]["config"]
            params = {p["name"]: p for p in config["parameters"]}
            assert (
                params[config["poi"]]["bounds"][0][0] == 0.0
                and params[config["poi"]]["bounds"][0][1] >= 10.0
            )
            signal = sum(
                x
                for op in patch["patch"]
                if isinstance(op.get("value"), dict)
                for x in op["value"].get("data", [])
            )
            # about 3 events at the patch's own reference coupling (rounded to two digits: within 10%)
            assert 2.7 < signal < 3.3, (folder, patch["metadata"]["name"], signal)
            assert isinstance(patch["metadata"]["reference_coupling"], float)


def test_recast_stays_exact_with_per_mass_reference_couplings() -> None:
    """A limit on mu at a patch's own reference coupling gives the same epsilon as at any other reference:
    mu x reference^2 is what the data limit."""
    model, data, meta = _patched("na64mu-2022", 3)
    limit = upper_limit(model, data, method="asymptotic").observed
    at_patch = recast_limit(
        limit, meta["mass_gev"], meta["signal_model"], meta["reference_coupling"], beam="muon"
    )
    other = 1e-4
    at_other = recast_limit(
        limit * (meta["reference_coupling"] / other) ** 2,
        meta["mass_gev"],
        meta["signal_model"],
        other,
        beam="muon",
    )
    assert at_patch.e_mu == pytest.approx(at_other.e_mu, rel=1e-12)


@pytest.mark.parametrize(
    "folder",
    [f for f in ("na64mu-2022", "na64-combined-e2016-2022-mu2022-epsilon") if f in PER_MASS],
)
def test_cabinetry_limit_at_its_defaults_agrees(folder: str) -> None:
    n = len(json.loads((SHIPPED / folder / "patchset.json").read_text())["patches"])
    _check(folder, n // 2)


@pytest.mark.slow
@pytest.mark.parametrize("folder", PER_MASS)
def test_cabinetry_limit_on_every_shipped_patch(folder: str) -> None:
    for index in range(
        len(json.loads((SHIPPED / folder / "patchset.json").read_text())["patches"])
    ):
        _check(folder, index)
