"""CLs engine against independent references: pyhf's hypotest (asymptotic), exact
Poisson formulae, PHYSICS.md's numbers, and exact counting for the toys."""

import math

import numpy as np
import pyhf
import pytest
from scipy import optimize, stats

from na64stat.core.errors import InputError
from na64stat.inference import (
    AsymptoticCalculator,
    ExactCalculator,
    Likelihood,
    ToyCalculator,
    choose_method,
    upper_limit,
)
from na64stat.inference.calculators import ToyEnsemble

pyhf.set_backend("numpy")


def counting_model(signal=1.0, background=0.5, bkg_uncertainty=None):
    """One signal-box bin; optionally a Poisson-constrained (shapesys) background."""
    if bkg_uncertainty is not None:
        return pyhf.simplemodels.uncorrelated_background([signal], [background], [bkg_uncertainty])
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
                    {"name": "bkg", "data": [background], "modifiers": []},
                ],
            }
        ]
    }
    return pyhf.Model(spec, poi_name="mu")


def multichannel_model():
    """Two channels, five modifier types: a stringent comparison with pyhf."""
    spec = {
        "channels": [
            {
                "name": "sr",
                "samples": [
                    {
                        "name": "signal",
                        "data": [6.0, 9.0, 4.0],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                    {
                        "name": "bkg",
                        "data": [30.0, 22.0, 15.0],
                        "modifiers": [
                            {"name": "jes", "type": "normsys", "data": {"hi": 1.08, "lo": 0.93}},
                            {
                                "name": "shape",
                                "type": "histosys",
                                "data": {
                                    "hi_data": [32.0, 23.0, 14.0],
                                    "lo_data": [28.0, 21.5, 16.0],
                                },
                            },
                            {"name": "staterror_sr", "type": "staterror", "data": [2.0, 1.5, 1.2]},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                ],
            },
            {
                "name": "cr",
                "samples": [
                    {
                        "name": "bkg",
                        "data": [100.0, 80.0],
                        "modifiers": [
                            {"name": "jes", "type": "normsys", "data": {"hi": 1.05, "lo": 0.96}},
                            {"name": "cr_unc", "type": "shapesys", "data": [8.0, 7.0]},
                        ],
                    }
                ],
            },
        ],
        "observations": [{"name": "sr", "data": [35, 30, 17]}, {"name": "cr", "data": [104, 77]}],
        "measurements": [
            {
                "name": "meas",
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.02],
                            "bounds": [[0.5, 1.5]],
                            "inits": [1.0],
                        }
                    ],
                },
            }
        ],
        "version": "1.0.0",
    }
    ws = pyhf.Workspace(spec)
    model = ws.model()
    return model, ws.data(model)


@pytest.mark.parametrize("mu", [0.3, 1.0, 2.5])
def test_asymptotic_cls_equals_pyhf_hypotest_multichannel(mu):
    model, data = multichannel_model()
    ours = AsymptoticCalculator(Likelihood(model, data)).cls(mu)
    obs, exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
    assert ours.cls_obs == pytest.approx(float(obs), abs=1e-4)
    assert np.allclose(ours.cls_exp, [float(e) for e in exp], atol=1e-4)


def test_asymptotic_cls_equals_pyhf_simple_model():
    model = pyhf.simplemodels.uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0])
    data = [51, 48] + model.config.auxdata
    calc = AsymptoticCalculator(Likelihood(model, data))
    for mu in (0.5, 1.0, 2.0):
        obs, exp = pyhf.infer.hypotest(
            mu, data, model, test_stat="qtilde", return_expected_set=True
        )
        point = calc.cls(mu)
        assert point.cls_obs == pytest.approx(float(obs), abs=1e-5)
        assert np.allclose(point.cls_exp, [float(e) for e in exp], atol=1e-5)


def test_asymptotic_limit_is_the_crossing_of_pyhf_cls():
    model, data = multichannel_model()
    lim = upper_limit(model, data, method="asymptotic")
    assert lim.status_observed == "ok" and lim.status_expected == ("ok",) * 5
    cls_at_limit = float(pyhf.infer.hypotest(lim.observed, data, model, test_stat="qtilde"))
    assert cls_at_limit == pytest.approx(0.10, abs=2e-4)
    exp = pyhf.infer.hypotest(
        lim.expected[2], data, model, test_stat="qtilde", return_expected_set=True
    )[1]
    assert float(exp[2]) == pytest.approx(0.10, abs=2e-4)
    assert list(lim.expected) == sorted(lim.expected)


def _poisson_cls_limit(n_obs, b, alpha=0.1):
    """Independent reference: CLs = P(n <= n_obs | s + b) / P(n <= n_obs | b) = alpha."""
    f = lambda s: stats.poisson.cdf(n_obs, s + b) / stats.poisson.cdf(n_obs, b) - alpha
    return optimize.brentq(f, 1e-6, 100.0, xtol=1e-12)


@pytest.mark.parametrize("n_obs", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("b", [0.0, 0.5, 2.0, 4.0])
def test_exact_counting_equals_poisson_formula(n_obs, b):
    lim = upper_limit(counting_model(1.0, max(b, 1e-9)), [float(n_obs)], method="exact")
    assert lim.method == "exact"
    assert lim.observed == pytest.approx(_poisson_cls_limit(n_obs, b), rel=1e-4)


@pytest.mark.parametrize("b", [0.1, 0.5, 3.0])
def test_zero_events_give_2303_whatever_the_background(b):
    assert upper_limit(counting_model(1.0, b), [0.0]).observed == pytest.approx(
        math.log(10), rel=1e-5
    )


def test_physics_md_band_and_asymptotic_failure():
    lim = upper_limit(counting_model(1.0, 0.5), [0.0])
    assert lim.method == "exact"  # auto picks exact counting at small counts
    assert np.allclose(lim.expected, [2.303, 2.303, 2.303, 3.508, 4.843], atol=1.5e-3)
    # PHYSICS.md: asymptotic formulae give about 1.6 events at n = 0, b = 0.5
    asym = upper_limit(counting_model(1.0, 0.5), [0.0], method="asymptotic")
    assert asym.observed == pytest.approx(1.6, abs=0.05)


def test_confidence_level_is_one_argument_away():
    lim90 = upper_limit(counting_model(1.0, 0.5), [0.0], confidence_level=0.90)
    lim95 = upper_limit(counting_model(1.0, 0.5), [0.0], confidence_level=0.95)
    assert lim95.observed == pytest.approx(math.log(20), rel=1e-5)
    assert lim95.observed > lim90.observed
    assert lim95.confidence_level == 0.95


def test_signal_scale_does_not_matter():
    # mu limits scale inversely with the signal normalisation (searches over decades of mu)
    small = upper_limit(counting_model(1e-6, 0.5), [0.0])
    large = upper_limit(counting_model(1e4, 0.5), [0.0])
    assert small.observed * 1e-6 == pytest.approx(math.log(10), rel=1e-5)
    assert large.observed * 1e4 == pytest.approx(math.log(10), rel=1e-5)


def test_no_crossing_is_a_status_not_an_exception():
    lim = upper_limit(counting_model(1e-14, 0.5), [0.0], method="exact")
    assert lim.status_observed == "no_crossing" and math.isnan(lim.observed)


def test_exact_with_nuisance_parameter_agrees_with_toys_within_mc_error():
    model = counting_model(1.0, 0.8, 0.3)
    data = [1.0] + model.config.auxdata
    lik = Likelihood(model, data)
    exact = ExactCalculator(lik).cls(3.0)
    toys = ToyCalculator(lik, n_toys=4000, seed=5).ensemble(3.0)
    assert toys.cls().cls_obs == pytest.approx(exact.cls_obs, abs=3 * toys.cls_error())


def test_toys_are_reproducible_and_mergeable():
    model = counting_model(1.0, 0.8, 0.3)
    lik = Likelihood(model, [1.0] + model.config.auxdata)
    a = ToyCalculator(lik, n_toys=500, seed=1).ensemble(2.0)
    a2 = ToyCalculator(lik, n_toys=500, seed=1).ensemble(2.0)
    b = ToyCalculator(lik, n_toys=500, seed=2).ensemble(2.0)
    assert np.array_equal(a.q_sb, a2.q_sb) and np.array_equal(a.q_b, a2.q_b)
    assert not np.array_equal(a.q_sb, b.q_sb)
    merged = a.merge(b)
    assert merged.q_sb.size == 1000 and merged.seeds == (1, 2)
    pooled = np.concatenate([a.q_sb, b.q_sb])
    assert merged.cls().clsb_obs == pytest.approx(np.mean(pooled >= a.q_obs - 1e-9 * (1 + a.q_obs)))
    with pytest.raises(InputError, match="share seeds"):
        a.merge(a2)


# one of the slowest default tests (statistical / full-chain): CI's slow step runs it
@pytest.mark.slow
def test_toy_limit_reproducible_bit_for_bit():
    model = counting_model(1.0, 0.8, 0.3)
    data = [0.0] + model.config.auxdata
    one = upper_limit(model, data, method="toys", n_toys=400, seed=9)
    two = upper_limit(model, data, method="toys", n_toys=400, seed=9)
    assert one == two and one.method == "toys" and one.n_toys >= 400 and one.seed == 9


def test_failed_fit_is_recorded_not_fatal():
    model = counting_model(1.0, 0.5, 0.2)
    lik = Likelihood(model, [1.0] + model.config.auxdata)
    datasets = np.array([[1.0] + model.config.auxdata, [np.nan] + model.config.auxdata])
    fit = lik.fit(datasets)
    assert fit.converged.tolist() == [True, False]


def test_vectorised_fits_agree_with_pyhf():
    model, data = multichannel_model()
    lik = Likelihood(model, data)
    rng = np.random.default_rng(3)
    toys = np.array(
        [
            np.concatenate(
                [
                    rng.poisson(model.expected_actualdata(model.config.suggested_init())),
                    model.config.auxdata,
                ]
            )
            for _ in range(5)
        ],
        dtype=float,
    )
    ours = lik.fit(toys)
    for i in range(5):
        _, val = pyhf.infer.mle.fit(toys[i], model, return_fitted_val=True)
        assert ours.twice_nll[i] == pytest.approx(float(val), abs=1e-5)
    cond = lik.fit(toys, fixed_poi=1.7)
    for i in range(5):
        _, val = pyhf.infer.mle.fixed_poi_fit(1.7, toys[i], model, return_fitted_val=True)
        assert cond.twice_nll[i] == pytest.approx(float(val), abs=1e-5)


def test_auto_method_choice():
    # the structural choice, with no budget in the way (the budget's fallback is tested in
    # test_limit_edges):
    # the cost estimate times real fits, so a loaded machine must not change these answers
    from na64stat.inference.limits import plan_method

    def choice(lik: Likelihood) -> str:
        return plan_method(lik, budget_s=math.inf).method

    assert choose_method(Likelihood(counting_model(1.0, 0.5), [0.0])) == "exact"
    model, data = multichannel_model()
    assert choice(Likelihood(model, data)) == "asymptotic"
    # a combination of counting channels: count vectors summed exactly
    small = pyhf.simplemodels.uncorrelated_background([1.0, 1.0], [0.5, 3.0], [0.1, 0.5])
    assert choice(Likelihood(small, [0.0, 2.0] + small.config.auxdata)) == "exact"
    # more bins than a combination of counting experiments has: toys
    shape = pyhf.simplemodels.uncorrelated_background([1.0] * 10, [0.5] * 10, [0.1] * 10)
    assert choice(Likelihood(shape, [0.0] * 10 + shape.config.auxdata)) == "toys"


def test_bad_arguments():
    with pytest.raises(InputError, match="confidence level"):
        upper_limit(counting_model(), [0.0], confidence_level=90)
    with pytest.raises(InputError, match="unknown method"):
        upper_limit(counting_model(), [0.0], method="bayes")
    with pytest.raises(InputError, match="count vectors"):  # five bins of 15-30 events
        model, data = multichannel_model()
        ExactCalculator(Likelihood(model, data)).cls(1.0)
    with pytest.raises(InputError, match="entries"):
        Likelihood(counting_model(), [0.0, 1.0])


def test_coverage_of_exact_limits():
    """CLs is conservative: P(limit >= s_true) >= 0.90, computed exactly over n.

    Limits grow with n, so coverage = P(n >= n0 | s_true + b) with n0 the first
    count whose limit reaches s_true.
    """
    for b, s_true in ((0.5, 2.0), (2.0, 4.0), (3.0, 6.0)):
        n0 = 0
        while upper_limit(counting_model(1.0, b), [float(n0)], method="exact").observed < s_true:
            n0 += 1
        coverage = stats.poisson.sf(n0 - 1, s_true + b)
        assert coverage >= 0.90


@pytest.mark.slow
def test_coverage_on_pseudo_experiments_with_systematics():
    """Pseudo-experiments (main and auxiliary data) at a true signal: the toy-free exact
    limit with a background uncertainty covers at >= 90% within MC error."""
    model = counting_model(1.0, 1.5, 0.5)
    s_true = 4.0
    rng = np.random.default_rng(2024)
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = s_true
    rate = float(model.expected_actualdata(pars)[0])
    tau = model.config.auxdata[0]
    n_exp = 400
    limits: dict[tuple[float, float], float] = {}  # the limit depends on the data only
    covered = 0
    for _ in range(n_exp):
        data = (float(rng.poisson(rate)), float(rng.poisson(tau)))
        if data not in limits:
            limits[data] = upper_limit(model, list(data), method="exact").observed
        covered += limits[data] >= s_true
    frac = covered / n_exp
    assert frac >= 0.90 - 3 * math.sqrt(0.09 / n_exp)


def test_zero_background_bin_fits_from_a_finite_start():
    # b = 0 exactly: fits of pseudo-data with counts start where -2 ln L is infinite
    lim = upper_limit(counting_model(1.0, 0.0), [0.0], method="exact")
    assert lim.status_observed == "ok" and lim.n_failed_fits == 0
    assert np.allclose([lim.observed, *lim.expected], math.log(10), rtol=1e-5)
    spec = {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {
                        "name": "sig",
                        "data": [1.0, 2.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "bkg", "data": [20.0, 0.0], "modifiers": []},
                ],
            }
        ]
    }
    ens = ToyCalculator(
        Likelihood(pyhf.Model(spec, poi_name="mu"), [15.0, 0.0]), n_toys=500, seed=1
    ).ensemble(1.0)
    assert ens.n_failed == 0 and ens.q_sb.size == 500


def test_fits_at_a_bound_with_shape_systematics_match_pyhf():
    # a deficit: mu_hat = 0 at its bound, with shapesys + histosys (review case)
    spec = {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {
                        "name": "sig",
                        "data": [1.0, 2.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [6.0, 4.0],
                        "modifiers": [
                            {"name": "shp", "type": "shapesys", "data": [2.0, 1.5]},
                            {
                                "name": "hs",
                                "type": "histosys",
                                "data": {"hi_data": [9.0, 3.0], "lo_data": [2.0, 6.0]},
                            },
                        ],
                    },
                ],
            }
        ]
    }
    model = pyhf.Model(spec, poi_name="mu")
    data = [2.0, 1.0] + model.config.auxdata
    lik = Likelihood(model, data)
    ours = lik.fit(lik.data[None, :], poi_bounds=(0.0, 10.0))
    _, theirs = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    assert ours.converged[0] and ours.twice_nll[0] == pytest.approx(float(theirs), abs=1e-6)
    cls = AsymptoticCalculator(lik).cls(0.5).cls_obs
    assert cls == pytest.approx(
        float(pyhf.infer.hypotest(0.5, data, model, test_stat="qtilde")), abs=1e-5
    )


def test_too_many_failed_toys_make_a_fit_failure():
    ens = ToyEnsemble(1.0, 2.0, np.zeros(50), np.zeros(50), (0,), n_failed=10)
    assert math.isnan(ens.cls().cls_obs)
