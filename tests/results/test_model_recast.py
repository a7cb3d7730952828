"""Coupling limits of registered models from NA64e, NA64mu and their combination."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from na64stat.inference.scan import ScanSettings, compute_point, points_from_patchset
from na64stat.model.workspace import load_workspace, read_json
from na64stat.physics.constants import ALPHA_EM
from na64stat.physics.model_widths import branching_invisible
from na64stat.physics.models import get_model
from na64stat.results.model_recast import (
    ModelLimit,
    ModelLimits,
    beam_and_combined_limits,
    model_limits,
)
from na64stat.results.plotting import model_limits_plot
from na64stat.results.recast import recast_limit

WORKSPACES = Path(__file__).resolve().parents[2] / "workspaces"
MASSES = [0.01, 0.1]
EXACT = ScanSettings(method="exact")
ASYMPTOTIC = ScanSettings(method="asymptotic")


def _inputs(folder: str) -> tuple[dict, dict]:
    return (
        load_workspace(WORKSPACES / folder / "bkgonly.json"),
        read_json(WORKSPACES / folder / "patchset.json", "patchset"),
    )


@pytest.fixture(scope="module")
def na64e():
    return _inputs("na64e-invisible-2016-2022")


@pytest.fixture(scope="module")
def na64mu():
    return _inputs("na64mu-2022")


@pytest.fixture(scope="module")
def dark_photon_na64e(na64e):
    """Our own NA64e dark-photon limit on epsilon per mass (exact counting)."""
    spec, patchset = na64e
    out = {}
    for point in points_from_patchset(patchset):
        if point.metadata["mass_gev"] in MASSES:
            record = compute_point(spec, point, EXACT)
            out[point.metadata["mass_gev"]] = math.sqrt(record["observed"]) * float(
                point.metadata["reference_coupling"]
            )
    return out


@pytest.mark.parametrize("name", ["b_minus_l", "le_lmu"])
def test_na64e_alone_is_darkcasts_rule_on_our_dark_photon_limit(name, na64e, dark_photon_na64e):
    """g^2 alpha_unit x_e^2 Br_inv = eps^2 alpha (darkcast, JHEP 06 (2018) 004, eq. 3.3), to 1%."""
    model = get_model(name)
    limits = beam_and_combined_limits(name, {"NA64e": [na64e]}, MASSES, EXACT)["NA64e"]
    for point in limits.points:
        eps = dark_photon_na64e[point.mass_gev]
        br = float(branching_invisible(model, point.mass_gev))
        rule = eps * math.sqrt(ALPHA_EM / (model.alpha_unit * model.charge("e") ** 2 * br))
        assert point.observed == pytest.approx(rule, rel=0.01)


def _check_combination(name, na64e, na64mu, masses):
    """The combined limit at least as strong as each beam's, strictly stronger where both couple;
    equal to NA64e's where the model has no muon coupling."""
    groups = {"NA64e": [na64e], "NA64mu": [na64mu], "combined": [na64e, na64mu]}
    limits = beam_and_combined_limits(name, groups, masses, ASYMPTOTIC)
    _, combined = limits["combined"].curve()
    _, e_only = limits["NA64e"].curve()
    _, mu_only = limits["NA64mu"].curve()
    assert np.all(np.isfinite(combined))
    if get_model(name).charge("mu") == 0.0:
        assert all(p.observed is None for p in limits["NA64mu"].points)
        np.testing.assert_allclose(combined, e_only, rtol=1e-4)
        return
    assert np.all(combined <= e_only * (1 + 1e-6))
    assert np.all(combined <= mu_only * (1 + 1e-6))
    assert np.all(combined < np.minimum(e_only, mu_only))  # both beams couple: a real gain


def test_combined_is_at_least_as_strong_as_each_beam(na64e, na64mu):
    _check_combination("b_minus_l", na64e, na64mu, [0.1])


def test_a_model_without_muon_coupling_gains_nothing_from_na64mu(na64e, na64mu):
    _check_combination("le_ltau", na64e, na64mu, [0.1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["b_minus_l", "le_lmu", "le_ltau"])
def test_combination_at_every_shipped_mass(name, na64e, na64mu):
    _check_combination(name, na64e, na64mu, None)


def test_model_limits_reproduce_the_lmutau_recast_of_a_dark_photon_limit():
    """The generic rule on a dark-photon NA64e point gives recast_limit's e_mu (eq. 54 mixing,
    Br).
    """
    meta = {
        "mass_gev": 0.05,
        "signal_model": "dark_photon",
        "reference_coupling": 1e-4,
        "setup": "na64e-invisible",
    }
    content = {"limits": {"0.05": {"observed": 0.3, "expected": {"median": 0.4}, "metadata": meta}}}
    (point,) = model_limits(content, "lmutau").points
    assert point.observed == pytest.approx(
        recast_limit(0.3, 0.05, "dark_photon", 1e-4).e_mu, rel=1e-12
    )
    assert point.expected["median"] == pytest.approx(
        recast_limit(0.4, 0.05, "dark_photon", 1e-4).e_mu, rel=1e-12
    )
    (same,) = model_limits(content, "dark_photon").points
    assert same.observed == pytest.approx(math.sqrt(0.3) * 1e-4, rel=1e-15)


def test_model_limits_plot_writes_png_and_pdf(tmp_path):
    def limits(scale: float) -> ModelLimits:
        points = tuple(
            ModelLimit(m, scale * m, {"median": 1.2 * scale * m}) for m in (0.01, 0.1, 1.0)
        )
        return ModelLimits("b_minus_l", "g_BL", "physical", points)

    written = model_limits_plot(
        {"NA64e": limits(1e-4), "NA64mu": limits(3e-4), "NA64e + NA64mu": limits(0.9e-4)},
        tmp_path / "b_minus_l",
    )
    assert sorted(p.suffix for p in written) == [".pdf", ".png"]
    assert all(p.stat().st_size > 1000 for p in written)
