"""Edge cases of the limit search that used to return wrong limits with status ``ok`` (issue 12).

References are independent of na64stat: closed-form Poisson CLs (scipy),
pyhf's own asymptotic ``hypotest``, and toys within their stated error.
"""

from __future__ import annotations

import math

import numpy as np
import pyhf
import pytest
from scipy import optimize, stats

from na64stat.inference.calculators import ExactCalculator, ToyCalculator, cls_binomial_error
from na64stat.inference.likelihood import Likelihood
from na64stat.inference.limits import plan_method, upper_limit


def one_bin(signal: float, background: float, rel_unc: float | None = None) -> pyhf.pdf.Model:
    """One bin; optional Gaussian (normsys) background uncertainty."""
    mods = (
        []
        if rel_unc is None
        else [
            {
                "name": "bkg_unc",
                "type": "normsys",
                "data": {"hi": 1.0 + rel_unc, "lo": 1.0 - rel_unc},
            }
        ]
    )
    spec = {
        "channels": [
            {
                "name": "box",
                "samples": [
                    {
                        "name": "sig",
                        "data": [signal],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "bkg", "data": [background], "modifiers": mods},
                ],
            }
        ]
    }
    return pyhf.Model(spec, poi_name="mu")


def poisson_cls_limit(n: int, b: float, cl: float) -> float:
    """Signal events excluded at CL by CLs = P(N <= n | s + b) / P(N <= n | b) (no uncertainty)."""
    return optimize.brentq(
        lambda s: stats.poisson.cdf(n, s + b) / stats.poisson.cdf(n, b) - (1 - cl), 1e-9, 1e4
    )


def test_poi_bound_never_clips_the_limit() -> None:
    # pyhf's default POI bounds [0, 10]; n = 50 puts the free fit at 49: the bound is widened, and
    # said
    lim = upper_limit(one_bin(1.0, 1.0), [50.0])
    assert lim.observed == pytest.approx(poisson_cls_limit(50, 1.0, 0.9), rel=1e-5)
    assert lim.status_observed == "ok"
    assert any("poi upper bound widened" in note for note in lim.notes)


def test_fixed_poi_beyond_its_bounds_is_fitted_by_pyhf_path() -> None:
    # more than MAX_NEWTON_PARAMETERS free parameters: pyhf's own fit, which refuses init outside
    # bounds
    n = 30
    model = pyhf.simplemodels.uncorrelated_background([1.0] * n, [5.0] * n, [1.0] * n)
    lik = Likelihood(model, [5.0] * n + model.config.auxdata)
    fit = lik.fit(lik.data[None, :], fixed_poi=20.0)  # bounds are [0, 10]
    assert bool(fit.converged[0]) and fit.pars[0, lik.poi_index] == 20.0


def _pyhf_cls(model: pyhf.pdf.Model, mu: float, data: list[float]) -> float:
    """pyhf's own asymptotic CLs (q~) at mu, with the POI bound opened above mu."""
    bounds = model.config.suggested_bounds()
    bounds[model.config.poi_index] = (0.0, 10.0 * mu)
    init = model.config.suggested_init()
    init[model.config.poi_index] = mu
    return float(
        pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", par_bounds=bounds, init_pars=init)
    )


@pytest.mark.parametrize("scale", [1.0, 1e6, 1e-6])
def test_limit_in_events_does_not_depend_on_the_poi_scale(scale: float) -> None:
    """s = scale per unit mu, n = 110, b = 100: the same limit in events to 1e-4, where pyhf's CLs =
    0.1.
    """
    lim = upper_limit(one_bin(scale, 100.0), [110.0], method="asymptotic")
    assert lim.status_observed == "ok"
    events = lim.observed * scale
    assert _pyhf_cls(one_bin(1.0, 100.0), events, [110.0]) == pytest.approx(0.1, abs=1e-4)
    reference = upper_limit(one_bin(1.0, 100.0), [110.0], method="asymptotic").observed
    assert events == pytest.approx(reference, rel=1e-4)


def _with_control_region(scale: float) -> pyhf.pdf.Model:
    k = {"name": "k", "type": "normfactor", "data": None}
    return pyhf.Model(
        {
            "channels": [
                {
                    "name": "sr",
                    "samples": [
                        {
                            "name": "sig",
                            "data": [scale],
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        },
                        {"name": "bkg", "data": [50.0], "modifiers": [k]},
                    ],
                },
                {"name": "cr", "samples": [{"name": "bkg", "data": [500.0], "modifiers": [k]}]},
            ]
        },
        poi_name="mu",
    )


@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_scale_invariance_with_a_control_region(scale: float) -> None:
    lim = upper_limit(_with_control_region(scale), [60.0, 500.0], method="asymptotic")
    assert lim.status_observed == "ok"
    events = lim.observed * scale
    assert _pyhf_cls(_with_control_region(1.0), events, [60.0, 500.0]) == pytest.approx(
        0.1, abs=1e-4
    )


def test_zero_observed_with_a_large_uncertain_background_needs_no_toys() -> None:
    # n = 0, b = 10 with 10% Gaussian uncertainty: CLs = exp(-s) exactly, the limit is ln 10 events
    model = one_bin(1.0, 10.0, 0.1)
    lim = upper_limit(model, [0.0] + model.config.auxdata)
    assert lim.method == "exact" and lim.status_observed == "ok" and "exact" in lim.method_reason
    assert lim.observed == pytest.approx(math.log(10.0), rel=1e-5)
    assert lim.observed_error < 1e-4


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
def test_toys_that_cannot_reach_the_tail_say_so() -> None:
    # the same case by toys: CLb ~ e^-10 is beyond 4,000 toys; the result must not read "ok" unless
    # right
    model = one_bin(1.0, 10.0, 0.1)
    lim = upper_limit(
        model, [0.0] + model.config.auxdata, method="toys", n_toys=1000, max_toys=4000
    )
    right = (
        math.isfinite(lim.observed)
        and abs(lim.observed - math.log(10.0)) < 3 * lim.observed_error + 0.05
    )
    assert lim.status_observed != "ok" or right


def test_exact_limit_at_cl95_with_one_event() -> None:
    lim = upper_limit(one_bin(1.0, 10.0), [1.0], confidence_level=0.95)
    assert lim.method == "exact"
    assert lim.observed == pytest.approx(poisson_cls_limit(1, 10.0, 0.95), rel=1e-5)


def test_toys_report_a_precision_and_reach_it_or_say_so() -> None:
    model = one_bin(1.0, 10.0)
    lim = upper_limit(model, [1.0], confidence_level=0.95, method="toys", n_toys=500, max_toys=2000)
    reference = poisson_cls_limit(1, 10.0, 0.95)
    assert lim.n_toys is not None and lim.n_toys >= 500
    if lim.status_observed == "ok":
        assert lim.observed_error > 0
        assert abs(lim.observed - reference) < 4 * lim.observed_error
    else:
        assert lim.status_observed == "low_toy_statistics"


def test_tiny_shapesys_uncertainty_is_the_known_background_limit() -> None:
    # used to raise "arange: cannot compute length" (a Poisson aux with mean 2.5e11)
    model = pyhf.simplemodels.uncorrelated_background([1.0], [0.5], [1e-6])
    lim = upper_limit(model, [0.0] + model.config.auxdata)
    assert lim.status_observed == "ok"
    assert lim.observed == pytest.approx(math.log(10.0), rel=1e-4)


def test_exact_with_poisson_auxiliary_is_fast_and_agrees_with_toys() -> None:
    model = pyhf.simplemodels.uncorrelated_background([1.0], [3.0], [1.0])
    data = [2.0] + model.config.auxdata
    lik = Likelihood(model, data)
    exact = ExactCalculator(lik).cls(4.0)
    toys = ToyCalculator(lik, n_toys=20_000, seed=4).ensemble(4.0)
    assert toys.cls().cls_obs == pytest.approx(exact.cls_obs, abs=4 * toys.cls_error())


def test_cls_error_is_never_zero_without_tail_toys() -> None:
    assert cls_binomial_error(0.0, 0.0, 1000, 1000) > 0
    assert cls_binomial_error(0.0, 0.3, 1000, 1000) == pytest.approx(1e-3 / 0.3, rel=1e-6)


def test_failed_toys_are_counted_once() -> None:
    model = one_bin(1.0, 0.5, 0.2)
    calc = ToyCalculator(Likelihood(model, [0.0] + model.config.auxdata), n_toys=200, seed=1)
    for mu in (1.0, 2.0, 3.0):
        calc.cls(mu)
    # poison one b-only toy's fits at every mu: it must count once, not three times
    for key, (q_sb, ok_sb, q_b, ok_b) in list(calc._blocks.items()):
        ok_b = ok_b.copy()
        ok_b[7] = False
        calc._blocks[key] = (q_sb, ok_sb, q_b, ok_b)
    assert calc.failed_toys() == 1


def test_auto_explains_its_choice() -> None:
    model = one_bin(1.0, 0.5)
    choice = plan_method(Likelihood(model, [0.0]))
    assert choice.method == "exact" and "exact" in choice.reason and choice.estimated_seconds >= 0
    small = pyhf.simplemodels.uncorrelated_background([1.0, 1.0], [0.5, 3.0], [0.1, 0.5])
    tiny_budget = plan_method(Likelihood(small, [0.0, 2.0] + small.config.auxdata), budget_s=1e-9)
    assert (
        tiny_budget.method == "asymptotic"
        and "budget" in tiny_budget.reason
        and "approximate" in tiny_budget.reason
    )


def test_exact_error_estimate_bounds_the_error_of_the_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported numerical error against a grid four times finer in every continuous
    direction.
    """
    from na64stat.inference import counting

    spec = {
        "channels": [
            {
                "name": "box",
                "samples": [
                    {
                        "name": "sig",
                        "data": [1.0],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "eff", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                        ],
                    },
                    {
                        "name": "bkg",
                        "data": [0.5],
                        "modifiers": [
                            {"name": "bu", "type": "normsys", "data": {"hi": 1.3, "lo": 0.75}}
                        ],
                    },
                ],
            }
        ]
    }
    model = pyhf.Model(spec, poi_name="mu")
    lik = Likelihood(model, [1.0] + model.config.auxdata)
    default = ExactCalculator(lik).cls(3.5)
    monkeypatch.setattr(counting, "_OUTER_STEP", counting._OUTER_STEP / 4)
    monkeypatch.setattr(counting, "_INNER_STEP", counting._INNER_STEP / 4)
    fine = ExactCalculator(lik).cls(3.5)
    assert abs(default.cls_obs - fine.cls_obs) <= default.cls_obs_error + 1e-9
    for k in range(5):
        assert abs(default.cls_exp[k] - fine.cls_exp[k]) <= default.cls_exp_error[k] + 1e-9


def test_exact_quantile_bands_match_the_discrete_case() -> None:
    # the published band at b = 0.5, n = 0 (discrete: no continuous axis)
    lim = upper_limit(one_bin(1.0, 0.5), [0.0])
    assert np.allclose(lim.expected, [2.303, 2.303, 2.303, 3.508, 4.843], atol=2e-3)


def test_a_failed_fit_of_the_observed_data_is_a_fit_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every fit that feeds a result is checked: a free fit of the data that did not converge."""
    from na64stat.inference import calculators
    from na64stat.inference.likelihood import FitResult

    original = calculators._twice_nll_free_fit

    def failing(lik, data, init=None):
        result = original(lik, data, init)
        if data.shape[0] == 1:  # the observed data
            return FitResult(result.pars, result.twice_nll, np.zeros(1, dtype=bool))
        return result

    monkeypatch.setattr(calculators, "_twice_nll_free_fit", failing)
    model = one_bin(1.0, 0.5, 0.2)
    for method in ("asymptotic", "exact", "toys"):
        lim = upper_limit(
            model, [0.0] + model.config.auxdata, method=method, n_toys=200, max_toys=200
        )
        assert lim.status_observed == "fit_failure" and math.isnan(lim.observed), method


def _single_bin(kind: str, b: float, n: float) -> tuple[pyhf.pdf.Model, list[float]]:
    """A one-bin model with the named constraints: eff (signal normsys), bn (background normsys),
    st (staterror), lumi, ss (shapesys), hs (histosys)."""
    sig = [{"name": "mu", "type": "normfactor", "data": None}]
    bkg: list[dict] = []
    params = []
    if "eff" in kind:
        sig.append({"name": "eff", "type": "normsys", "data": {"hi": 1.15, "lo": 0.87}})
    if "bn" in kind:
        bkg.append({"name": "bn", "type": "normsys", "data": {"hi": 1.4, "lo": 0.7}})
    if "st" in kind:
        bkg.append({"name": "st", "type": "staterror", "data": [0.3 * b]})
    if "lumi" in kind:
        sig.append({"name": "lumi", "type": "lumi", "data": None})
        params.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [0.05],
                "inits": [1.0],
                "bounds": [[0.5, 1.5]],
            }
        )
    if "ss" in kind:
        bkg.append({"name": "ss", "type": "shapesys", "data": [0.4 * b]})
    if "hs" in kind:
        bkg.append(
            {
                "name": "hs",
                "type": "histosys",
                "data": {"hi_data": [1.2 * b], "lo_data": [0.85 * b]},
            }
        )
    spec = {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {"name": "s", "data": [1.0], "modifiers": sig},
                    {"name": "b", "data": [b], "modifiers": bkg},
                ],
            }
        ],
        "observations": [{"name": "c", "data": [n]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": params}}],
        "version": "1.0.0",
    }
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    return model, workspace.data(model)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "b", "n"),
    [
        ("eff+bn", 0.5, 0),
        ("eff+st", 2.0, 1),
        ("lumi+ss", 3.0, 2),
        ("eff+hs", 1.0, 3),
        ("eff+bn+lumi", 0.8, 1),
    ],
)
def test_exact_agrees_with_toys_for_every_constraint_type(kind: str, b: float, n: float) -> None:
    """At the exact limit, 30k toys give the same observed CLs within 4 sigma and the bands within 5
    (the toys' band errors are binomial and leave out the noise of the b-only quantile).

    A band's threshold is the q~ of one count outcome (the b-only quantile of a discrete
    distribution); where the b-only probability of the outcomes beyond it lies within 4 sigma of the
    toys' resolution of the quantile (sqrt(p (1 - p) / n)), toys may pick the neighbouring outcome,
    and that band is not
    compared (lumi+ss at b = 3, n = 2: P(n >= 3) = 0.5004 for the median).
    """
    model, data = _single_bin(kind, b, n)
    lim = upper_limit(model, data, method="exact")
    assert lim.status_observed == "ok"
    lik = Likelihood(model, data).with_poi_bounds(0.0, 10.0 * max(lim.expected))
    calc = ExactCalculator(lik)
    exact = calc.cls(lim.observed)
    assert exact.cls_obs == pytest.approx(0.1, abs=1e-4)
    n_toys = 30_000
    toys = ToyCalculator(lik, n_toys=n_toys, seed=5).ensemble(lim.observed)
    point = toys.cls()
    assert abs(point.cls_obs - exact.cls_obs) < 4 * toys.cls_error()
    steps = np.cumsum(
        calc.layout.count_probability(calc.profiled_pars(0.0)[None, :])[0]
    )  # P_b(N <= n)
    compared = 0
    for k, n_sigma in enumerate((2, 1, 0, -1, -2)):
        p = float(
            stats.norm.cdf(n_sigma)
        )  # P_b(q <= threshold) = P_b(N >= n) = 1 - P_b(N <= n - 1)
        if np.min(np.abs((1.0 - steps) - p)) < 4 * math.sqrt(p * (1 - p) / n_toys):
            continue
        compared += 1
        assert abs(point.cls_exp[k] - exact.cls_exp[k]) < 5 * max(point.cls_exp_error[k], 1e-3)
    assert compared >= 3


def test_toys_stop_adding_toys_at_the_budget() -> None:
    """With 500 toys the CLs error at the crossings is far above 0.005; a budget that the first
    round
    already used up stops the growth there, and the status says the accuracy was not reached.
    """
    model = one_bin(1.0, 3.0)
    unlimited = upper_limit(model, [2.0], method="toys", n_toys=500, max_toys=2000, seed=4)
    capped = upper_limit(
        model, [2.0], method="toys", n_toys=500, max_toys=2000, seed=4, budget_s=1e-9
    )
    assert unlimited.n_toys == 2000 and capped.n_toys == 500
    assert capped.status_observed == "low_toy_statistics"
