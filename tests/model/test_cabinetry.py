"""The shipped likelihoods at other tools' defaults (issue 24): cabinetry and pyhf find the limit of
every per-mass patch without settings, and agree with na64stat's asymptotic limit.

Each per-mass patch is normalised (``na64stat.model.builders.normalise_signal``: its own reference
coupling, about 3 signal events) and the measurement declares the POI bounds, so the limit on mu is
of order one, inside cabinetry's default search bracket (0.1 to the POI's upper bound). cabinetry's
default is a 95% CL limit; na64stat's asymptotic limit is computed at 95% CL for the comparison.

The visible-mode workspace is normalised the same way per (mass, epsilon) patch; a patch is the
prediction at its own point at mu_point = (epsilon / reference_coupling)^2, so its limit is
two-sided in epsilon: at each mass the grid points with mu_up < mu_point are excluded. There
"agrees" means, at cabinetry's 95% CL: the same excluded grid points, and the band's edges (where
mu_up = mu_point, interpolated linearly in log epsilon and log(mu_point / mu_up) between
neighbouring grid points) within TOLERANCE in epsilon; a relative shift d of mu_up moves an edge by
d / |dlog mu_point / dlog epsilon| (checked above one), less than d. pyhf's default hypothesis test
(qtilde, asymptotic CLs) at mu_point excludes the same points.

cabinetry's limit takes about 4 s per patch: the default run checks one mass of a single and of a
combined workspace, the slow run every patch of every per-mass workspace.
"""

from __future__ import annotations

import json
import logging
import math

import jsonpatch
import pyhf
import pytest
from conftest import REPO

from na64stat.inference.calculators import AsymptoticCalculator
from na64stat.inference.likelihood import Likelihood
from na64stat.inference.limits import upper_limit
from na64stat.model.builders import point_signal_strength
from na64stat.results.recast import recast_limit

cabinetry = pytest.importorskip("cabinetry")

SHIPPED = REPO / "na64stat" / "workspaces"
PER_MASS = sorted(
    p.name
    for p in SHIPPED.iterdir()
    if (p / "patchset.json").is_file()
    and json.loads((p / "patchset.json").read_text())["metadata"]["labels"] == ["mass_gev"]
)
VISIBLE = "na64e-visible-2017-2018"
#: Every workspace whose patches are normalised (about 3 signal events at their reference coupling).
NORMALISED = [*PER_MASS, VISIBLE]
#: Relative agreement of cabinetry's and na64stat's asymptotic limits: cabinetry stops its search at
#: an
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
    for folder in NORMALISED:
        spec = json.loads((SHIPPED / folder / "bkgonly.json").read_text())
        patches = json.loads((SHIPPED / folder / "patchset.json").read_text())["patches"]
        for patch in patches:
            # the measurement declares the POI bounds (the background-only one, or each combined
            # patch its own)
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
            # about 3 events at the patch's own reference coupling (rounded to two digits: within
            # 10%)
            assert 2.7 < signal < 3.3, (folder, patch["metadata"]["name"], signal)
            assert isinstance(patch["metadata"]["reference_coupling"], float)


def test_recast_stays_exact_with_per_mass_reference_couplings() -> None:
    """A limit on mu at a patch's own reference coupling gives the same epsilon as at any other
    reference:
    mu x reference^2 is what the data limit.
    """
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


def _visible_mass(mass: float) -> list[tuple[float, float, int]]:
    """(epsilon, mu_point, patch index) of the visible patches at ``mass``, by epsilon."""
    patches = json.loads((SHIPPED / VISIBLE / "patchset.json").read_text())["patches"]
    return sorted(
        (
            p["metadata"]["values"][1],
            point_signal_strength(p["metadata"]["values"][1], p["metadata"]["reference_coupling"]),
            i,
        )
        for i, p in enumerate(patches)
        if math.isclose(p["metadata"]["mass_gev"], mass, rel_tol=1e-9)
    )


def _edges(epsilon: list[float], log_ratio: list[float]) -> list[float]:
    """Where log(mu_point / mu_up) changes sign between neighbouring grid points (linear in log
    epsilon).
    """
    edges = []
    for (e0, r0), (e1, r1) in zip(zip(epsilon, log_ratio), zip(epsilon[1:], log_ratio[1:])):
        if (r0 > 0) != (r1 > 0):
            t = r0 / (r0 - r1)
            edges.append(math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0))))
    return edges


def _bracketing(points: list[tuple[float, float, int]], limits: dict[int, float]) -> list[int]:
    """Positions k in ``points`` where an edge of the excluded band lies between k and k + 1."""
    excluded = [limits[i] < mu for _, mu, i in points]
    return [k for k in range(len(points) - 1) if excluded[k] != excluded[k + 1]]


def test_pyhf_default_hypothesis_test_at_each_visible_point_agrees() -> None:
    """X17 mass: pyhf.infer.hypotest at each grid point's mu_point, every setting at pyhf's default
    (qtilde, asymptotic CLs), against na64stat's asymptotic CLs there (absolute 1e-3), and both
    exclude the same points at 95% CL: a band with both edges inside the grid. Far outside the band
    (mu_point < 1e-3, a signal of less than 0.003 events; here down to 1e-61) pyhf's asymptotic
    formulae divide by mu and return nan: there
    na64stat alone says CLs ~ 1.
    """
    excluded = []
    for eps, mu, index in _visible_mass(0.0167):
        model, data, _ = _patched(VISIBLE, index)
        ours = AsymptoticCalculator(Likelihood(model, data)).cls(mu).cls_obs
        if mu < 1e-3:
            assert ours > 0.99, eps
        else:
            theirs = float(pyhf.infer.hypotest(mu, data, model))
            assert theirs == pytest.approx(ours, abs=1e-3), eps
            assert (theirs < 0.05) == (ours < 0.05), eps
        excluded.append(ours < 0.05)
    assert sum(a != b for a, b in zip(excluded, excluded[1:])) == 2 and not excluded[0]


@pytest.mark.slow
@pytest.mark.parametrize("mass", [0.005, 0.01, 0.0167, 0.02])
def test_cabinetry_two_sided_visible_band_agrees(mass: float) -> None:
    """cabinetry's default limit at the grid points next to each edge: the same excluded points, and
    the edges
    within TOLERANCE in epsilon (see the module docstring).
    """
    logging.getLogger("cabinetry").setLevel(logging.WARNING)
    points = _visible_mass(mass)
    ours = {}
    for _, _, index in points:
        model, data, _ = _patched(VISIBLE, index)
        ours[index] = upper_limit(model, data, confidence_level=0.95, method="asymptotic").observed
    brackets = _bracketing(points, ours)
    near = sorted({k + d for k in brackets for d in (0, 1)})
    assert brackets
    theirs = dict(
        ours
    )  # away from the edges a TOLERANCE shift cannot cross mu_point (checked below)
    for k in near:
        model, data, _ = _patched(VISIBLE, points[k][2])
        theirs[points[k][2]] = cabinetry.fit.limit(model, data).observed_limit
    for k, (_, mu, index) in enumerate(points):
        if k not in near:
            assert abs(math.log(mu / ours[index])) > 2 * TOLERANCE
    epsilon = [e for e, _, _ in points]
    edges = [
        _edges(epsilon, [math.log(mu / limits[i]) for _, mu, i in points])
        for limits in (ours, theirs)
    ]
    assert len(edges[0]) == len(edges[1]) >= 1
    for a, b in zip(*edges):
        assert b == pytest.approx(a, rel=TOLERANCE)
    for (
        k
    ) in brackets:  # the edge moves less than mu_up: mu_point is steeper than one in log-log there
        (e0, mu0, _), (e1, mu1, _) = points[k], points[k + 1]
        assert abs(math.log(mu1 / mu0) / math.log(e1 / e0)) > 1
    for k in near:
        index = points[k][2]
        assert theirs[index] == pytest.approx(ours[index], rel=TOLERANCE)
        assert (theirs[index] < points[k][1]) == (ours[index] < points[k][1])
