"""Background estimates: tail-fit pulls on pseudo-experiments, ABCD closure on simulation,
templates.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.model.background import BackgroundEstimate, abcd, abcd_closure, fit_tail, mc_template
from na64stat.selection.config import parse_selection
from na64stat.selection.outputs import region_yield
from na64stat.selection.processing import run_selection

EDGES = np.linspace(0.0, 100.0, 41)
TAU, TOTAL = 20.0, 5000.0


def _cdf(x: np.ndarray) -> np.ndarray:
    return TOTAL * (1.0 - np.exp(-np.asarray(x) / TAU))


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
@pytest.mark.parametrize("box", [(0.0, 20.0), (80.0, 100.0)])
def test_tail_extrapolation_pulls_have_mean_zero_and_width_one(box: tuple[float, float]) -> None:
    """An injected exponential spectrum: fit outside the box, compare the box prediction with the
    truth.
    """
    rng = np.random.default_rng(7)
    truth = float(_cdf(box[1]) - _cdf(box[0]))
    mu = np.diff(_cdf(EDGES))
    pulls = []
    for _ in range(300):
        estimate = fit_tail(rng.poisson(mu), EDGES, box=box)
        assert estimate.valid
        pulls.append((estimate.value - truth) / estimate.stat_error)
    pulls = np.asarray(pulls)
    assert abs(pulls.mean()) < 0.2
    assert 0.88 < pulls.std() < 1.12


def test_weighted_histograms_and_alternative_shapes() -> None:
    mu = np.diff(_cdf(EDGES))
    weights = np.full_like(mu, 0.25)  # each event weighs 0.25: sum w = mu, sum w^2 = 0.25 mu
    est = fit_tail(
        mu, EDGES, box=(80.0, 100.0), variances=weights * mu, alternatives=("linear", "power_law")
    )
    assert est.value == pytest.approx(_cdf(100) - _cdf(80), rel=1e-3)
    unweighted = fit_tail(mu, EDGES, box=(80.0, 100.0))
    assert est.stat_error == pytest.approx(0.5 * unweighted.stat_error, rel=0.05)  # sqrt(0.25)
    # a straight line does not describe the control bins (p < 0.01): no systematic from it; power
    # law skipped at x = 0
    assert est.syst_error == 0.0 and [a["shape"] for a in est.details["alternatives"]] == ["linear"]
    log_edges = np.logspace(0, 2, 31)
    power = 1e4 * np.diff(-1.0 / log_edges)  # density ~ x^-2
    both = fit_tail(
        power, log_edges, box=(50.0, 100.0), shape="power_law", alternatives=("exponential",)
    )
    assert both.value == pytest.approx(1e4 * (1 / 50 - 1 / 100), rel=1e-3)
    assert both.details["central"]["p_value"] > 0.5
    assert BackgroundEstimate.from_dict(both.to_dict()).value == both.value


def test_tail_fit_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="unknown tail shape"):
        fit_tail(np.ones(10), np.arange(11.0), box=(0, 2), shape="gauss")
    with pytest.raises(InputError, match="at least 3 bins"):
        fit_tail(np.ones(10), np.arange(11.0), box=(0, 9))
    with pytest.raises(InputError, match="increasing edges"):
        fit_tail(np.ones(10), np.arange(10.0), box=(0, 2))


def test_abcd_formula_and_zero_control_region() -> None:
    e = abcd(20, 50, 1000)
    assert e.value == pytest.approx(1.0) and e.stat_error == pytest.approx(
        math.sqrt(1 / 20 + 1 / 50 + 1 / 1000)
    )
    assert not abcd(1, 1, 0).valid


def test_abcd_closes_for_independent_variables_and_fails_for_correlated_ones() -> None:
    rng = np.random.default_rng(3)
    n = 400_000
    w = rng.uniform(0.5, 1.5, n)
    x, y = rng.exponential(1.0, n), rng.exponential(1.0, n)

    def regions(xv: np.ndarray, yv: np.ndarray) -> list[tuple[float, float]]:
        out = []
        for mx in (xv > 3, xv <= 3):
            for my in (yv > 3, yv <= 3):
                sel = mx & my
                out.append((float(w[sel].sum()), float((w[sel] ** 2).sum())))
        return out  # A, B, C, D

    a, b, c, d = regions(x, y)
    closure = abcd_closure(a, c, b, d)
    assert closure.p_value > 0.01 and closure.ratio == pytest.approx(1.0, abs=0.1)
    y_corr = y + 0.5 * x
    a, b, c, d = regions(x, y_corr)
    assert abcd_closure(a, c, b, d).p_value < 0.01


def test_abcd_closes_on_the_simulated_hadron_background(tmp_path: Path) -> None:
    """NA64e pi- contamination: the SRD fake tag and the calorimeter signature are independent."""
    from na64stat.simulation import simulate_mc

    path = simulate_mc("na64e-invisible", tmp_path, processes=["hadron"], n_events=100_000)[0].path
    box = "ecal_e < 50 and sum(hcal_e) < 1 and ecal_chi2 < 3 and ps_e > 0.3"
    tagged = "all(srd_e > 1) and all(srd_e < 100)"
    sel = parse_selection(
        {
            "tree": "events",
            "weight": "weight",
            "regions": {
                "A": {"where": f"({tagged}) and ({box})"},
                "B": {"where": f"not ({tagged}) and ({box})"},
                "C": {"where": f"({tagged}) and not ({box})"},
                "D": {"where": f"not ({tagged}) and not ({box})"},
            },
        }
    )
    run = run_selection(sel, {"hadron": [str(path)]})
    a, b, c, d = ((w, err**2) for w, err in (region_yield(run, "hadron", r) for r in "ABCD"))
    closure = abcd_closure(a, b, c, d)
    assert closure.predicted.valid and closure.p_value > 0.01
    assert closure.ratio == pytest.approx(1.0, abs=0.3)


def test_mc_template_scales_and_propagates_weights() -> None:
    est = mc_template([(0.2, 0.01), (0.1, 0.0025)], scale=2.0, names=["a", "b"])
    assert est.value == pytest.approx(0.6) and est.stat_error == pytest.approx(
        2.0 * math.sqrt(0.0125)
    )
    assert est.method == "mc_template" and est.details["samples"] == ["a", "b"]
    with pytest.raises(InputError):
        mc_template([(1.0, 1.0)], scale=-1.0)
