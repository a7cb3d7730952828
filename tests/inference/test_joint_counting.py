"""Exact CLs for combinations of counting channels (na64stat.inference.joint) against independent
references.

The references here do not use na64stat's fitter or data space: for
channels without uncertainties q~_mu is computed with scipy's root finder on
the score equation of mu, and every probability is a plain sum of Poisson
terms over all count vectors (``_BruteForce``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyhf
import pytest
from scipy import optimize, special, stats

from na64stat.inference.calculators import EDGE_NOTE, N_SIGMAS, ExactCalculator, ToyCalculator
from na64stat.inference.joint import JointGrid, count_vectors
from na64stat.inference.likelihood import Likelihood
from na64stat.inference.limits import upper_limit

MU = {"name": "mu", "type": "normfactor", "data": None}


def counting_channels(
    signal: list[float], background: list[float], uncertainty: list[float] | None = None
) -> pyhf.Model:
    """One one-bin channel per entry; ``uncertainty``: a relative normsys on each background."""
    channels = []
    for k, (s, b) in enumerate(zip(signal, background)):
        bkg_mods = []
        if uncertainty is not None:
            u = uncertainty[k]
            bkg_mods = [
                {
                    "name": f"bu{k}",
                    "type": "normsys",
                    "data": {"hi": 1.0 + u, "lo": 1.0 / (1.0 + u)},
                }
            ]
        channels.append(
            {
                "name": f"c{k}",
                "samples": [
                    {"name": "sig", "data": [s], "modifiers": [MU]},
                    {"name": "bkg", "data": [b], "modifiers": bkg_mods},
                ],
            }
        )
    return pyhf.Model({"channels": channels}, poi_name="mu")


def histosys_box(background: float, hi: float, lo: float, *extra: dict) -> pyhf.Model:
    """One bin: signal 1 (mu) over ``background`` with a histosys to ``hi`` / ``lo`` and ``extra``
    modifiers.
    """
    modifiers = [
        {"name": "h", "type": "histosys", "data": {"hi_data": [hi], "lo_data": [lo]}},
        *extra,
    ]
    spec = {
        "channels": [
            {
                "name": "a",
                "samples": [
                    {"name": "sig", "data": [1.0], "modifiers": [MU]},
                    {"name": "bkg", "data": [background], "modifiers": modifiers},
                ],
            }
        ]
    }
    return pyhf.Model(spec, poi_name="mu")


class _BruteForce:
    """q~_mu and CLs of independent Poisson channels with known backgrounds, by direct sums over
    every count vector up to ``n_max`` per channel; mu_hat by bisection on the score equation
    (numpy, all
    outcomes at once).
    """

    def __init__(self, s: list[float], b: list[float], n_max: int = 30) -> None:
        self.s, self.b = np.asarray(s), np.asarray(b)
        self.outcomes = np.array(
            list(itertools.product(range(n_max + 1), repeat=len(s))), dtype=float
        )

    def _nll(self, mu: np.ndarray, n: np.ndarray) -> np.ndarray:
        lam = mu[:, None] * self.s + self.b
        return np.sum(lam - special.xlogy(n, lam), axis=1)

    def _score(self, mu: np.ndarray, n: np.ndarray) -> np.ndarray:
        lam = mu[:, None] * self.s + self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n > 0, n / lam, 0.0)
        return np.sum(self.s * (ratio - 1.0), axis=1)

    def mu_hat(self, n: np.ndarray) -> np.ndarray:
        """Maximum-likelihood mu >= 0 of each outcome (rows of ``n``): the root of the decreasing
        score.
        """
        lo, hi = np.zeros(len(n)), np.full(len(n), 1e4)
        positive = self._score(lo, n) > 0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            up = self._score(mid, n) > 0
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        return np.where(positive, 0.5 * (lo + hi), 0.0)

    def q(self, mu: float, n: np.ndarray) -> np.ndarray:
        n = np.atleast_2d(n)
        hat = self.mu_hat(n)
        t = 2.0 * (self._nll(np.full(len(n), mu), n) - self._nll(hat, n))
        return np.where(hat > mu, 0.0, np.maximum(t, 0.0))

    def pmf(self, mu: float) -> np.ndarray:
        return np.prod(stats.poisson.pmf(self.outcomes, mu * self.s + self.b), axis=1)

    def cls(self, mu: float, n_obs: list[float]) -> tuple[float, list[float]]:
        """Observed and expected CLs (the b-only lower quantiles of q~ over the count outcomes)."""
        q = self.q(mu, self.outcomes)
        sb, b = self.pmf(mu), self.pmf(0.0)

        def cls_at(t: float) -> float:
            hit = q >= t - 1e-9 * (1.0 + abs(t))
            return float(sb[hit].sum() / b[hit].sum())

        order = np.argsort(q, kind="stable")
        cdf = np.cumsum(b[order])
        bands = [q[order][np.searchsorted(cdf, special.ndtr(k) - 1e-12)] for k in N_SIGMAS]
        return cls_at(float(self.q(mu, np.asarray(n_obs, dtype=float))[0])), [
            cls_at(t) for t in bands
        ]


def test_count_vectors_hold_all_but_the_cutoff() -> None:
    lo, hi = np.array([1.75, 0.07]), np.array([6.0, 0.2])
    vectors = count_vectors(lo, hi, cutoff=1e-9)
    for rates in (lo, hi, 0.5 * (lo + hi)):
        held = np.prod(stats.poisson.pmf(vectors, rates), axis=1).sum()
        assert held > 1.0 - 1e-6
        assert len({tuple(v) for v in vectors.tolist()}) == len(vectors)  # no vector twice


@pytest.mark.parametrize("n_obs", [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]])
@pytest.mark.parametrize("mu", [0.7, 2.5])
def test_pure_counting_cls_equals_direct_sums(n_obs: list[float], mu: float) -> None:
    s, b = [1.0, 0.6], [1.75, 0.3]
    model = counting_channels(s, b)
    calc = ExactCalculator(Likelihood(model, n_obs))
    point = calc.cls(mu)
    obs, expected = _BruteForce(s, b).cls(mu, n_obs)
    assert point.cls_obs == pytest.approx(obs, rel=1e-6)
    assert list(point.cls_exp) == pytest.approx(expected, rel=1e-6)
    assert (
        point.cls_obs_error < 1e-5
    )  # no sampled measurement: a sum over count vectors, all but 1e-7


@pytest.mark.parametrize("cl", [0.68, 0.9, 0.95, 0.99])
def test_zero_counts_give_the_background_free_limit_at_every_cl(cl: float) -> None:
    # n = 0 in every channel: CLs = exp(-mu sum s) exactly, and no band lies below the observed
    # limit
    s, b = [1.0, 0.5], [1.75, 0.07]
    model = counting_channels(s, b)
    lim = upper_limit(model, [0.0, 0.0], confidence_level=cl)
    assert lim.method == "exact" and lim.status_observed == "ok"
    assert lim.observed == pytest.approx(-math.log(1.0 - cl) / sum(s), rel=1e-4)
    assert all(e >= lim.observed * (1 - 1e-6) for e in lim.expected)
    assert all(status == "ok" for status in lim.status_expected)


@pytest.mark.parametrize("cl", [0.68, 0.95, 0.99])
def test_observed_limit_with_events_equals_direct_sums(cl: float) -> None:
    s, b, n_obs = [1.0, 0.6], [1.75, 0.3], [2.0, 1.0]
    brute = _BruteForce(s, b)
    reference = optimize.brentq(
        lambda mu: brute.cls(mu, n_obs)[0] - (1.0 - cl), 0.05, 20.0, xtol=1e-7
    )
    lim = upper_limit(counting_channels(s, b), n_obs, confidence_level=cl)
    assert lim.method == "exact" and lim.status_observed == "ok"
    assert lim.observed == pytest.approx(reference, rel=1e-4)


def test_uncertainties_are_integrated_with_a_stated_error() -> None:
    model = counting_channels([1.0, 0.5], [1.75, 0.07], [0.32, 0.3])
    lik = Likelihood(model, [0.0, 0.0] + model.config.auxdata)
    calc = ExactCalculator(lik)
    point = calc.cls(2.0)
    grid = calc.layout
    assert isinstance(grid, JointGrid) and grid.inner_groups
    # at n = 0 the backgrounds cancel out of q~ and no measurement moves it: CLs = exp(-mu sum s)
    assert point.cls_obs == pytest.approx(math.exp(-2.0 * 1.5), rel=1e-3)
    assert 0 < point.cls_obs_error < 1e-3


def test_a_channel_without_background_next_to_a_normal_one_gives_a_limit() -> None:
    # s = 1, b = 0, n = 1 next to s = 1, b = 2 +- 20%, n = 2: at mu = 0 the first channel's event is
    # impossible; the b-only generator is profiled on the second channel alone
    model = counting_channels([1.0, 1.0], [0.0, 2.0], [0.0, 0.2])
    data = [1.0, 2.0] + model.config.auxdata
    for method in ("exact", "asymptotic"):
        lim = upper_limit(model, data, method=method)
        assert lim.status_observed == "ok" and math.isfinite(lim.observed), method
    # without the uncertainty: the direct sums (under b-only the first channel always counts 0)
    plain = counting_channels([1.0, 1.0], [0.0, 2.0])
    brute = _BruteForce([1.0, 1.0], [0.0, 2.0])
    reference = optimize.brentq(lambda mu: brute.cls(mu, [1.0, 2.0])[0] - 0.1, 0.5, 20.0, xtol=1e-7)
    assert upper_limit(plain, [1.0, 2.0]).observed == pytest.approx(reference, rel=1e-4)


def test_a_background_that_interpolates_below_zero_is_kept_at_zero_with_a_note() -> None:
    # histosys down variation -80%: the background is negative for a pull below -1.25
    model = histosys_box(2.0, 3.6, 0.4)
    data = [1.0] + model.config.auxdata
    lim = upper_limit(model, data, method="exact")
    assert lim.status_observed == "ok" and all(s == "ok" for s in lim.status_expected)
    assert EDGE_NOTE in lim.notes
    # asymptotic: pyhf's own CLs at our limit is 1 - CL
    asym = upper_limit(model, data, method="asymptotic")
    cls = pyhf.infer.hypotest(asym.observed, data, model, test_stat="qtilde")
    assert float(cls) == pytest.approx(0.1, abs=2e-3)


def test_a_fallback_to_asymptotic_at_small_counts_says_so_in_its_status() -> None:
    model = counting_channels([1.0, 0.5], [1.75, 0.07], [0.32, 0.3])
    lim = upper_limit(model, [0.0, 0.0] + model.config.auxdata, budget_s=1e-9)
    assert lim.method == "asymptotic"
    assert lim.status_observed == "approximate"
    assert set(lim.status_expected) == {"approximate"}


def test_three_channels() -> None:
    s, b, n_obs = [1.0, 0.5, 0.3], [1.2, 0.4, 0.1], [1.0, 0.0, 0.0]
    brute = _BruteForce(s, b, n_max=20)
    reference = optimize.brentq(lambda mu: brute.cls(mu, n_obs)[0] - 0.1, 0.5, 20.0, xtol=1e-7)
    lim = upper_limit(counting_channels(s, b), n_obs)
    assert lim.method == "exact"
    assert lim.observed == pytest.approx(reference, rel=1e-4)


@pytest.mark.slow
def test_combination_with_uncertainties_agrees_with_toys() -> None:
    """The shipped NA64e + NA64mu combination's model at n = 0, 0 against 200,000 toys per
    hypothesis.
    """
    model = counting_channels([60.0, 0.5], [1.75, 0.07], [0.32, 0.3])
    lik = Likelihood(model, [0.0, 0.0] + model.config.auxdata)
    exact = ExactCalculator(lik)
    toys = ToyCalculator(lik, n_toys=100_000, seed=11)
    toys.add_toys(200_000)
    for mu in (0.03, 0.05):
        point, ensemble = exact.cls(mu), toys.ensemble(mu)
        error = math.hypot(point.cls_obs_error, ensemble.cls_error())
        assert abs(point.cls_obs - ensemble.cls().cls_obs) < 4 * error


@pytest.mark.slow
def test_stated_errors_cover_the_spread_over_seeds() -> None:
    """The sampled measurements' stated error is not smaller than the spread of CLs over Sobol
    seeds.
    """
    model = counting_channels([60.0, 0.5], [1.75, 0.07], [0.32, 0.3])
    lik = Likelihood(model, [0.0, 0.0] + model.config.auxdata)
    points = [ExactCalculator(lik, seed=seed).cls(0.05) for seed in range(8)]
    for band in range(len(N_SIGMAS)):
        values = np.array([p.cls_exp[band] for p in points])
        errors = np.array([p.cls_exp_error[band] for p in points])
        if np.all(values == 1.0):
            continue
        assert values.std(ddof=1) <= 1.5 * errors.mean() + 1e-12


def test_a_fit_on_the_edge_still_minimises_along_it() -> None:
    """Background zero at a histosys pull of -1.25 and a normsys beside it: the fit stops on the
    edge
    with the normsys pull at its minimum, whatever the start (L-BFGS-B with the pull bounded as
    reference).
    """
    model = histosys_box(
        2.0, 3.6, 0.4, {"name": "n", "type": "normsys", "data": {"hi": 1.3, "lo": 1 / 1.3}}
    )
    data = [0.0] + model.config.auxdata
    order = model.config.par_order

    def twice_nll(x: np.ndarray) -> float:
        pars = np.zeros(3)
        pars[order.index("h")], pars[order.index("n")] = x
        return float(-2.0 * model.logpdf(pars, data)[0])

    reference = optimize.minimize(
        twice_nll, [0.0, 0.0], method="L-BFGS-B", bounds=[(-1.25 + 1e-12, 5.0), (-5.0, 5.0)]
    )
    lik = Likelihood(model, data)
    for normsys_start in (-1.0, 0.0, 1.0):
        start = np.zeros(3)
        start[order.index("n")] = normsys_start
        fit = lik.fit(lik.data[None, :], init=start, fixed_poi=0.0)
        assert fit.converged[0] and fit.n_on_edge == 1
        assert fit.twice_nll[0] == pytest.approx(reference.fun, abs=1e-6)


def test_a_background_zero_only_at_its_nominal_value_is_a_possible_generator() -> None:
    from na64stat.inference.calculators import profile_on_data

    model = histosys_box(0.0, 1.0, 0.0)
    lik = Likelihood(model, [1.0] + model.config.auxdata)
    generator = profile_on_data(lik, 0.0, lik.init)
    assert generator.converged[0]
    # the profiled pull against a bounded scalar minimisation of pyhf's own -2 ln L at mu = 0
    index = model.config.par_order.index("h")

    def twice_nll(h: float) -> float:
        pars = np.zeros(2)
        pars[index] = h
        value = float(-2.0 * model.logpdf(pars, lik.data)[0])
        return value if math.isfinite(value) else 1e10

    reference = optimize.minimize_scalar(
        twice_nll, bounds=(1e-9, 5.0), method="bounded", options={"xatol": 1e-10}
    )
    assert generator.pars[0, index] == pytest.approx(reference.x, abs=1e-5)
    assert generator.twice_nll[0] == pytest.approx(reference.fun, abs=1e-8)
