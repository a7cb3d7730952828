"""CLs with the one-sided profile-likelihood test statistic q~_mu, three ways.

* :class:`AsymptoticCalculator` - the Wald approximation exactly as pyhf's
  ``AsymptoticCalculator`` (``test_stat="qtilde"``, normal base
  distribution; arXiv:1007.1727 eqs. 57-65), with the fits shared between
  calls: one free fit of the data, one Asimov dataset (generated at mu = 0
  from the conditional fit to the data), then one conditional fit per tested
  mu on the data and one on the Asimov data.
* :class:`ToyCalculator` - pseudo-experiments generated at (mu, profiled
  nuisance parameters) and (0, profiled nuisance parameters) like pyhf's
  ``ToyCalculator``, but fitted all at once (:meth:`Likelihood.fit`),
  seeded, and drawn by inverse-CDF sampling from the same uniform numbers at
  every mu (common random numbers), so that CLs(mu) is a smooth monotone
  function a root finder can use. The b-only ensemble does not depend on mu:
  it is generated and fitted once.
* :class:`ExactCalculator` - for counting models: one bin (every NA64
  result) or a combination of one-bin channels (NA64e + NA64mu, up to
  :data:`~na64stat.inference.singlebin.MAX_BINS`). The distributions of q~_mu
  are sums over the main counts and integrals over the auxiliary
  measurements with the same test statistic and constraint terms as the
  toys - the toys' ensemble without Monte-Carlo error, with a stated
  numerical error instead. One bin (:mod:`na64stat.inference.counting`):
  every count n and Poisson measurement (shapesys) summed, the Gaussian ones
  (normsys, histosys, lumi, staterror) integrated with the acceptance region
  {q >= t} located on a fine grid. Several bins
  (:mod:`na64stat.inference.joint`): every count vector summed (the
  probability left out bounded), per count vector the measurement that moves
  q~ most integrated the same way, the others by shifted Sobol points with
  importance weights. (A fixed quadrature rule does not work here: the
  integrand of P(q >= t) is a step function of the auxiliary value;
  Gauss-Hermite nodes gave an observed limit 10% and a -2 sigma band 3x away
  from 20,000 toys on the shipped workspaces.) The fits use the closed-form
  likelihood of :mod:`na64stat.inference.singlebin`; data points whose free
  fit already has mu_hat >= mu (q~ = 0) need no conditional fit.

Every :class:`CLsPoint` carries the error of its CLs values: binomial for
toys (at least one toy's worth where no toy reaches a tail), numerical for
exact counting, 0 for asymptotic.

All return :class:`CLsPoint` (observed and the -2..+2 sigma expected CLs).
Expected values: the expected test statistic at n sigma is the Phi(n) lower
quantile of its b-only distribution over the count outcomes, the counts the
experiment could have seen with its auxiliary (calibration) measurements as
measured - the discrete distribution of outcomes, which gives the published
band [2.303, 2.303, 2.303, 3.508, 4.843] at b = 0.5, n = 0, and at n = 0 in
every bin makes the observed q~ the largest value, so no band lies below the
observed limit. Toys and exact counting both use it (toys: the b-only toys'
counts refitted with the auxiliary data as observed). pyhf's toys take the
quantile over the b-only toys with their auxiliary data drawn too; without
auxiliary measurements the two are the same, with them pyhf's spreads the
bands by the calibration's uncertainty (e.g. a -2 sigma band below the
observed limit at n = 0). Asymptotic bands are pyhf's (Asimov).

See the physics reference (docs/physics.rst, sections "Statistics", "CLs").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from scipy import special, stats

from na64stat.core.errors import InputError
from na64stat.core.vocabulary import N_SIGMAS
from na64stat.inference.counting import CountingGrid, RegionProbability
from na64stat.inference.joint import JointGrid
from na64stat.inference.likelihood import FitResult, Likelihood
from na64stat.inference.singlebin import MAX_BINS

__all__ = [
    "N_SIGMAS",
    "CLsPoint",
    "Calculator",
    "AsymptoticCalculator",
    "ToyCalculator",
    "ExactCalculator",
    "TestStatDistribution",
    "ToyEnsemble",
    "best_calculator",
    "profile_on_data",
    "EDGE_NOTE",
    "SearchRule",
]

#: Said where some fits stop where an interpolated yield reaches zero (the likelihood is undefined
#: beyond).
EDGE_NOTE = (
    "some fits end where an interpolated expected count reaches zero (e.g. a histosys down "
    "variation below -100%): the likelihood is undefined beyond, so they are minima on "
    "that edge"
)
_TIE = 1e-9
#: Largest fraction of failed toy fits (and largest failed probability in exact
#: counting) that is dropped; above it the CLs value is NaN, i.e. a fit failure.
MAX_FAILED_FRACTION = 0.01
#: Headroom of a several-bin layout's count vectors above the largest rate it was laid out for (the
#: search lays it out for its whole mu range; a one-bin grid, cheap to widen, takes 1.5).
_JOINT_RATE_MARGIN = 1.1
MAX_FAILED_PROBABILITY = 1e-6


@dataclass(frozen=True)
class CLsPoint:
    """CLs at one signal strength.

    Attributes
    ----------
    mu:
        Tested signal strength.
    cls_obs, clsb_obs, clb_obs:
        Observed CLs, CLs+b and CLb.
    cls_exp:
        Expected CLs for the -2, -1, 0, +1, +2 sigma bands (pyhf order).
    n_failed:
        Toys (or grid points) whose fit failed (excluded), 0 otherwise.
    cls_obs_error, cls_exp_error:
        Monte-Carlo (toys) or numerical (exact) error of the observed and expected CLs.
    """

    mu: float
    cls_obs: float
    clsb_obs: float
    clb_obs: float
    cls_exp: tuple[float, ...]
    n_failed: int = 0
    cls_obs_error: float = 0.0
    cls_exp_error: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)


#: How the limit search reads a calculator's crossings: ``asymptotic`` solves for sqrt(q_mu,A)
#: targets,
#: ``smooth`` reads them off interpolants of a CLs without Monte-Carlo noise, ``bracket`` brackets
#: each
#: crossing of a noisy CLs (toys).
SearchRule = Literal["asymptotic", "smooth", "bracket"]


class Calculator(Protocol):
    """What the upper-limit search needs from a CLs calculator."""

    method: str
    search: SearchRule
    #: what the user should know about the calculation, collected while it runs
    notes: set[str]

    def cls(self, mu: float) -> CLsPoint:
        """Observed and expected CLs at ``mu``."""
        ...

    def prepare(self, mus: list[float]) -> None:
        """Get ready to evaluate CLs for mu across this range (e.g. lay out a data space once)."""

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Every CLs point computed so far, in order."""
        ...


def _twice_nll_free_fit(
    lik: Likelihood, data: np.ndarray, init: np.ndarray | None = None
) -> FitResult:
    """Free fit with the POI bounded below by 0 (the q~_mu convention)."""
    hi = lik.bounds[lik.poi_index, 1]
    return lik.fit(data, init=init, poi_bounds=(0.0, hi))


def profile_on_data(lik: Likelihood, mu: float, init: np.ndarray) -> FitResult:
    """Conditional fit of the observed data at ``mu``: the generator of pseudo-data at mu.

    Where the data are impossible at mu - a bin that expects no events at mu
    holds some, e.g. a channel without background at mu = 0 - the likelihood
    is 0 for every nuisance value; the nuisance parameters are then profiled
    on the other bins (the empty bins' counts taken as 0, so their term is a
    constant), which is the generator such a hypothesis implies: its
    pseudo-data have 0 events in those bins. (Before that, starts with the
    nuisance parameters moved by -+1, 2, 3 are tried: a background that is zero
    only at its nominal value makes the data possible elsewhere.) Its
    ``twice_nll`` is then that of the altered data: use it as a generator only.

    >>> import pyhf
    >>> spec = {"channels": [{"name": "a", "samples": [
    ...     {"name": "sig", "data": [1.0],
    ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
    ...     {"name": "bkg", "data": [0.0], "modifiers": []}]}]}
    >>> lik = Likelihood(pyhf.Model(spec, poi_name="mu"), [1.0])
    >>> bool(profile_on_data(lik, 0.0, lik.init).converged[0])
    True
    """
    fit = lik.fit(lik.data[None, :], init=init, fixed_poi=mu)
    if np.isfinite(fit.twice_nll[0]):
        return fit
    # the start may be where the data are impossible while other nuisance values allow them (a
    # background
    # that is zero at its nominal value only): starts with every nuisance parameter moved by -+1, 2,
    # 3
    nuisance = np.flatnonzero(~lik.fixed & (np.arange(lik.n_pars) != lik.poi_index))
    starts = np.repeat(np.asarray(init, dtype=float)[None, :], 6, axis=0)
    starts[:, nuisance] += np.array([1.0, -1.0, 2.0, -2.0, 3.0, -3.0])[:, None]
    starts[:, lik.poi_index] = mu
    starts = np.clip(starts, lik.bounds[:, 0], lik.bounds[:, 1])
    finite = np.isfinite(lik.twice_nll(starts, lik.data))
    if finite.any():
        return lik.fit(lik.data[None, :], init=starts[int(np.argmax(finite))], fixed_poi=mu)
    pars = np.array(init, dtype=float)
    pars[lik.poi_index] = mu
    expected = lik.expected_data(pars, include_auxdata=False)[0]
    empty = (expected <= 0.0) & (lik.data[: lik.n_main] > 0)
    if not empty.any():
        return fit
    data = lik.data.copy()
    data[: lik.n_main][empty] = 0.0
    return lik.fit(data[None, :], init=init, fixed_poi=mu)


def _qtilde(mu: float, free: FitResult, cond: FitResult, poi_index: int) -> np.ndarray:
    """q~_mu = max(0, t_mu) if mu_hat <= mu else 0, with mu_hat >= 0 (pyhf's qmu_tilde)."""
    with np.errstate(
        invalid="ignore"
    ):  # inf - inf where both fits failed: NaN, flagged by `converged`
        t = np.clip(cond.twice_nll - free.twice_nll, 0.0, None)
    return np.where(free.pars[:, poi_index] > mu, 0.0, t)


class AsymptoticCalculator:
    """Asymptotic CLs for q~_mu, equal to ``pyhf.infer.hypotest(..., test_stat="qtilde")``.

    Examples
    --------
    >>> import pyhf
    >>> model = pyhf.simplemodels.uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0])
    >>> calc = AsymptoticCalculator(Likelihood(model, [51, 48] + model.config.auxdata))
    >>> round(calc.cls(1.0).cls_obs, 5)   # pyhf's docs: CLs = 0.05251497
    0.05252
    """

    method = "asymptotic"
    search: SearchRule = "asymptotic"

    def __init__(self, likelihood: Likelihood) -> None:
        self.lik = likelihood
        data = likelihood.data[None, :]
        self.free = _twice_nll_free_fit(likelihood, data)
        self.mu_hat = float(self.free.pars[0, likelihood.poi_index])
        at_zero = profile_on_data(likelihood, 0.0, self.free.pars[0])
        self.asimov = likelihood.expected_data(at_zero.pars[0])[0]
        # The Asimov data are the expectation at these parameters (aux included), so they
        # are its maximum-likelihood estimate: no free fit of the Asimov data is needed.
        self.asimov_free = FitResult(
            at_zero.pars,
            likelihood.twice_nll(at_zero.pars, self.asimov[None, :]),
            at_zero.converged,
        )
        self._sq_obs: dict[float, float] = {}
        self._sq_asimov: dict[float, float] = {}
        self._inits: dict[tuple[int, float], np.ndarray] = {}
        self.fit_failures = int(not self.free.converged[0]) + int(not at_zero.converged[0])
        self.notes: set[str] = set()
        #: the free fit and the Asimov generator feed every CLs value: if either failed, all are NaN
        self._base_converged = bool(self.free.converged[0] and at_zero.converged[0])

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Asymptotic CLs points are not kept (the search works on sqrt(q) directly)."""
        return ()

    def prepare(self, mus: list[float]) -> None:
        """Nothing to lay out: each mu costs two conditional fits."""

    @property
    def n_evaluations(self) -> int:
        """Distinct mu values at which conditional fits were made."""
        return len(set(self._sq_obs) | set(self._sq_asimov))

    def _init_for(self, which: int, mu: float) -> np.ndarray:
        """Warm start: the conditional fit at the nearest mu already fitted (0: data, 1: Asimov)."""
        known = [m for (w, m) in self._inits if w == which]
        if not known:
            return (self.free.pars[0], self.asimov_free.pars[0])[which]
        nearest = min(
            known, key=lambda m: abs(math.log(max(m, 1e-300)) - math.log(max(mu, 1e-300)))
        )
        return self._inits[(which, nearest)]

    def _conditional(self, requests: list[tuple[int, float]]) -> None:
        """Conditional fits at (dataset, mu) pairs - 0: data, 1: Asimov - in one batched call."""
        caches = (self._sq_obs, self._sq_asimov)
        todo = [(w, m) for (w, m) in dict.fromkeys(requests) if m not in caches[w]]
        if not todo:
            return
        sources = (self.lik.data, self.asimov)
        data = np.stack([sources[w] for w, _ in todo])
        init = np.stack([self._init_for(w, m) for w, m in todo])
        cond = self.lik.fit(data, init=init, fixed_poi=np.asarray([m for _, m in todo]))
        self.fit_failures += int((~cond.converged).sum())
        mus = np.asarray([m for _, m in todo])
        on_data = np.asarray([w == 0 for w, _ in todo])
        # q~ on the data (mu_hat > mu gives 0); on the Asimov data mu_hat = 0 <= mu always
        reference = np.where(on_data, self.free.twice_nll[0], self.asimov_free.twice_nll[0])
        q = np.clip(cond.twice_nll - reference, 0.0, None)
        q = np.where(on_data & (self.mu_hat > mus), 0.0, q)
        sqrt_q = np.where(cond.converged & self._base_converged, np.sqrt(q), np.nan)
        for i, (which, m) in enumerate(todo):
            self._inits[(which, m)] = cond.pars[i]
            caches[which][m] = float(sqrt_q[i])

    def sqrt_q_asimov(self, mus: list[float]) -> list[float]:
        """sqrt(q~_mu,A) on the Asimov data at several mu (fitted together)."""
        self._conditional([(1, m) for m in mus])
        return [self._sq_asimov[m] for m in mus]

    def sqrt_q(self, mu: float) -> tuple[float, float]:
        """(sqrt(q~_mu) on the data, sqrt(q~_mu,A) on the Asimov data)."""
        self._conditional([(0, mu), (1, mu)])
        return self._sq_obs[mu], self._sq_asimov[mu]

    def cls(self, mu: float) -> CLsPoint:
        """Observed and expected CLs at ``mu`` (pyhf's formulas for q~ with a normal base)."""
        sq, sqa = self.sqrt_q(mu)
        if sqa <= 0.0:  # no sensitivity at this mu: nothing is excluded
            return CLsPoint(
                mu=mu, cls_obs=1.0, clsb_obs=0.5, clb_obs=0.5, cls_exp=(1.0,) * len(N_SIGMAS)
            )
        t = sq - sqa if sq <= sqa else (sq * sq - sqa * sqa) / (2.0 * sqa)
        clsb = float(special.ndtr(-(t + sqa)))
        clb = float(special.ndtr(-t))
        expected = tuple(float(special.ndtr(-(n + sqa)) / special.ndtr(-n)) for n in N_SIGMAS)
        return CLsPoint(mu=mu, cls_obs=clsb / clb, clsb_obs=clsb, clb_obs=clb, cls_exp=expected)

    @staticmethod
    def expected_sqrt_qa_target(alpha: float, n_sigma: float) -> float:
        """sqrt(q_A) at which the n-sigma expected CLs equals ``alpha``.

        From CLs_exp = Phi(-(n + sqrt q_A)) / Phi(-n) = alpha.
        """
        return float(-special.ndtri(alpha * special.ndtr(-n_sigma)) - n_sigma)


@dataclass(frozen=True)
class TestStatDistribution:
    """A weighted sample of a test statistic (toys: unit weights; exact: probabilities)."""

    values: np.ndarray
    weights: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: unit weights, set below
    _sorted: np.ndarray = field(init=False, repr=False, compare=False)
    _cdf: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.weights is None:
            object.__setattr__(self, "weights", np.ones_like(self.values))
        order = np.argsort(self.values, kind="stable")
        object.__setattr__(self, "_sorted", self.values[order])
        object.__setattr__(self, "_cdf", np.cumsum(self.weights[order]) / self.weights.sum())

    def pvalue(self, q: float) -> float:
        """P(Q >= q): probability of a test statistic at least as extreme."""
        total = self.weights.sum()
        return float(self.weights[self.values >= q - _TIE * (1.0 + abs(q))].sum() / total)

    def quantile(self, p: float) -> float:
        """Lower inverse CDF: the smallest value v with P(Q <= v) >= p."""
        idx = int(np.searchsorted(self._cdf, p - 1e-12, side="left"))
        return float(self._sorted[min(idx, self._sorted.size - 1)])


def _failed_point(mu: float, n_failed: int) -> CLsPoint:
    nan = math.nan
    return CLsPoint(
        mu=mu,
        cls_obs=nan,
        clsb_obs=nan,
        clb_obs=nan,
        cls_exp=(nan,) * len(N_SIGMAS),
        n_failed=n_failed,
    )


def _cls_from_distributions(
    mu: float,
    q_obs: float,
    sb: TestStatDistribution,
    b: TestStatDistribution,
    n_failed: int = 0,
    errors: Callable[[float, float, int, int], float] | None = None,
    band: TestStatDistribution | None = None,
) -> CLsPoint:
    """CLs from the s+b and b-only distributions; the bands' thresholds are quantiles of ``band``
    (the b-only count outcomes with the auxiliary data as observed), or of ``b`` where it is not
    given.
    """

    def cls_at(q: float) -> tuple[float, float, float]:
        clsb, clb = sb.pvalue(q), b.pvalue(q)
        return (clsb / clb if clb > 0 else 1.0), clsb, clb

    cls_obs, clsb, clb = cls_at(q_obs)
    quantiles = band if band is not None else b
    at_bands = [cls_at(quantiles.quantile(float(special.ndtr(n)))) for n in N_SIGMAS]
    n_sb, n_b = sb.values.size, b.values.size
    return CLsPoint(
        mu=mu,
        cls_obs=cls_obs,
        clsb_obs=clsb,
        clb_obs=clb,
        cls_exp=tuple(c[0] for c in at_bands),
        n_failed=n_failed,
        cls_obs_error=errors(clsb, clb, n_sb, n_b) if errors else 0.0,
        cls_exp_error=tuple(errors(c[1], c[2], n_sb, n_b) if errors else 0.0 for c in at_bands),
    )


@dataclass(frozen=True)
class ToyEnsemble:
    """The toys of one run at one mu: mergeable with other runs (other seeds).

    Attributes
    ----------
    mu, q_obs:
        Tested signal strength and the observed q~_mu.
    q_sb, q_b:
        q~_mu of the converged s+b and b-only toys.
    seeds:
        Seeds of the runs merged into this ensemble.
    n_failed:
        Toys whose fit failed (not in q_sb / q_b).
    q_band:
        q~_mu of the b-only toys' counts with the auxiliary data as observed: the outcomes whose
        quantiles set the expected bands, as for exact counting (None: the quantiles of ``q_b``,
        pyhf's choice).
    """

    mu: float
    q_obs: float
    q_sb: np.ndarray
    q_b: np.ndarray
    seeds: tuple[int, ...]
    n_failed: int = 0
    q_band: np.ndarray | None = None

    def merge(self, other: ToyEnsemble) -> ToyEnsemble:
        """Pool the toys of two runs made at the same mu on the same data.

        >>> a = ToyEnsemble(1.0, 2.0, np.array([0.0, 3.0]), np.array([0.0]), (1,))
        >>> b = ToyEnsemble(1.0, 2.0, np.array([1.0]), np.array([4.0]), (2,))
        >>> m = a.merge(b)
        >>> m.q_sb.size, m.q_b.size, m.seeds
        (3, 2, (1, 2))
        """
        same_q = math.isclose(self.q_obs, other.q_obs, rel_tol=1e-6, abs_tol=1e-9)
        if not math.isclose(self.mu, other.mu, rel_tol=1e-12) or not same_q:
            raise InputError(
                f"cannot merge toys at mu = {self.mu} (q_obs {self.q_obs}) "
                f"with mu = {other.mu} (q_obs {other.q_obs})"
            )
        if set(self.seeds) & set(other.seeds):
            raise InputError(
                f"toy runs share seeds {sorted(set(self.seeds) & set(other.seeds))}: merging would "
                "double count"
            )
        return ToyEnsemble(
            mu=self.mu,
            q_obs=self.q_obs,
            q_sb=np.concatenate([self.q_sb, other.q_sb]),
            q_b=np.concatenate([self.q_b, other.q_b]),
            seeds=self.seeds + other.seeds,
            n_failed=self.n_failed + other.n_failed,
            q_band=None
            if self.q_band is None or other.q_band is None
            else np.concatenate([self.q_band, other.q_band]),
        )

    def cls(self) -> CLsPoint:
        """CLs (observed and expected) from these toys; NaN if too many fits failed."""
        total = self.q_sb.size + self.q_b.size + self.n_failed
        if self.n_failed > MAX_FAILED_FRACTION * total or self.q_sb.size == 0 or self.q_b.size == 0:
            return _failed_point(self.mu, self.n_failed)
        band = (
            TestStatDistribution(self.q_band)
            if self.q_band is not None and self.q_band.size
            else None
        )
        return _cls_from_distributions(
            self.mu,
            self.q_obs,
            TestStatDistribution(self.q_sb),
            TestStatDistribution(self.q_b),
            self.n_failed,
            errors=cls_binomial_error,
            band=band,
        )

    def cls_error(self) -> float:
        """Binomial Monte-Carlo error of the observed CLs (never 0: see
        :func:`cls_binomial_error`).
        """
        point = self.cls()
        return cls_binomial_error(point.clsb_obs, point.clb_obs, self.q_sb.size, self.q_b.size)


def cls_binomial_error(clsb: float, clb: float, n_sb: int, n_b: int) -> float:
    """Monte-Carlo error of CLs = CLs+b / CLb from n_sb and n_b toys.

    Binomial errors on both tail fractions, with at least one toy's worth
    in each tail: where no toy reaches the tail the fraction is 0, and its
    error is that of one count (1/n), not 0 - the estimate is not precise.

    >>> round(cls_binomial_error(0.0, 0.5, 1000, 1000), 4)   # no s+b toy in the tail
    0.002
    """
    if not (math.isfinite(clsb) and math.isfinite(clb)) or n_sb <= 0 or n_b <= 0:
        return math.nan
    sigma_sb = math.sqrt(max(clsb * n_sb, 1.0) * max(1.0 - clsb, 1.0 / n_sb)) / n_sb
    sigma_b = math.sqrt(max(clb * n_b, 1.0) * max(1.0 - clb, 1.0 / n_b)) / n_b
    clb_safe = max(clb, 1.0 / n_b)
    cls = min(clsb / clb_safe, 1.0)
    return float(math.hypot(sigma_sb / clb_safe, cls * sigma_b / clb_safe))


class _ProfiledCalculator:
    """Shared part of toys and exact counting: the observed q~ and the profiled generators."""

    def __init__(self, likelihood: Likelihood) -> None:
        self.lik = likelihood
        data = likelihood.data[None, :]
        self.free = _twice_nll_free_fit(likelihood, data)
        self._profiled: dict[float, FitResult] = {}
        #: what the user should know about the calculation (e.g. fits on the edge of the model's
        #: domain)
        self.notes: set[str] = set()

    def _profiled_fit(self, mu: float) -> FitResult:
        if mu not in self._profiled:
            self._profiled[mu] = profile_on_data(self.lik, mu, self.free.pars[0])
        return self._profiled[mu]

    def profiled_pars(self, mu: float) -> np.ndarray:
        """Conditional MLE of the nuisance parameters on the data at ``mu`` (the generator)."""
        return self._profiled_fit(mu).pars[0]

    def prepare(self, mus: list[float]) -> None:
        """Nothing to prepare by default (toys are drawn as mu is tested)."""

    def observed_fits_converged(self, mu: float) -> bool:
        """Whether the fits to the observed data that feed mu converged: the free fit, the
        conditional fit at mu (the s+b generator) and the one at mu = 0 (the b-only generator).
        """
        return bool(
            self.free.converged[0]
            and self._profiled_fit(mu).converged[0]
            and self._profiled_fit(0.0).converged[0]
        )

    def q_observed(self, mu: float) -> float:
        """Observed q~_mu."""
        return float(_qtilde(mu, self.free, self._profiled_fit(mu), self.lik.poi_index)[0])

    def q_values(
        self,
        mu: float,
        datasets: np.ndarray,
        free: FitResult | None = None,
        init: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """q~_mu for many datasets; returns (values, converged).

        ``init``: start of the conditional fits.
        """
        q, ok, _ = self._q_with_conditional(mu, datasets, free, init)
        return q, ok

    def _q_with_conditional(
        self,
        mu: float,
        datasets: np.ndarray,
        free: FitResult | None = None,
        init: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, FitResult]:
        """:meth:`q_values` and the conditional fits themselves (warm starts for the next mu)."""
        if free is None:
            free = _twice_nll_free_fit(self.lik, datasets, init=self.free.pars[0])
        cond = self.lik.fit(datasets, init=free.pars if init is None else init, fixed_poi=mu)
        if (
            init is not None and not cond.converged.all()
        ):  # a warm start that failed: once more from the free fit
            again = np.flatnonzero(~cond.converged)
            retry = self.lik.fit(datasets[again], init=free.pars[again], fixed_poi=mu)
            better = retry.converged
            pars, nll, ok = cond.pars.copy(), cond.twice_nll.copy(), cond.converged.copy()
            pars[again[better]], nll[again[better]], ok[again[better]] = (
                retry.pars[better],
                retry.twice_nll[better],
                True,
            )
            cond = FitResult(pars, nll, ok)
        if free.n_on_edge or cond.n_on_edge:
            self.notes.add(EDGE_NOTE)
        q = _qtilde(mu, free, cond, self.lik.poi_index)
        return q, free.converged & cond.converged, cond


class ToyCalculator(_ProfiledCalculator):
    """CLs from pseudo-experiments, vectorised and seeded.

    Parameters
    ----------
    likelihood:
        Model and observed data.
    n_toys:
        Toys per hypothesis (s+b and b-only).
    seed:
        Seed of the :class:`numpy.random.Generator`; the same seed gives the
        same result bit for bit.
    """

    method = "toys"
    search: SearchRule = "bracket"

    def __init__(self, likelihood: Likelihood, n_toys: int = 10_000, seed: int = 0) -> None:
        if n_toys < 10:
            raise InputError(f"n_toys must be at least 10, got {n_toys}")
        super().__init__(likelihood)
        self.seed = int(seed)
        self.block_size = int(n_toys)
        # Common random numbers: one set of uniforms for the s+b toys at every mu, one for b, drawn
        # in
        # blocks of n_toys from their own seeded streams (block k: default_rng([seed, k])), so that
        # adding toys keeps every earlier toy and the same seed and count give the same toys.
        self._u_sb: list[np.ndarray] = []
        self._u_b: list[np.ndarray] = []
        self._b_toys: list[np.ndarray] = []
        self._b_free: list[FitResult] = []
        self._b_outcomes: list[np.ndarray] = []
        self._b_outcome_free: list[FitResult] = []
        self._band_blocks: dict[tuple[float, int], np.ndarray] = {}
        self._points: dict[float, CLsPoint] = {}
        self._ensembles: dict[float, ToyEnsemble] = {}
        self._blocks: dict[
            tuple[float, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
        ] = {}
        self._add_block()

    @property
    def n_toys(self) -> int:
        """Toys per hypothesis so far."""
        return self.block_size * len(self._u_sb)

    def _add_block(self) -> None:
        rng = np.random.default_rng([self.seed, len(self._u_sb)])
        n_obs = self.lik.data.size
        self._u_sb.append(rng.random((self.block_size, n_obs)))
        self._u_b.append(rng.random((self.block_size, n_obs)))
        b_toys = self.sample(self.profiled_pars(0.0), self._u_b[-1])
        self._b_toys.append(b_toys)
        self._b_free.append(_twice_nll_free_fit(self.lik, b_toys, init=self.free.pars[0]))
        outcomes = (
            b_toys.copy()
        )  # the same counts, the auxiliary data as observed: the bands' outcomes
        outcomes[:, self.lik.n_main :] = self.lik.data[self.lik.n_main :]
        self._b_outcomes.append(outcomes)
        self._b_outcome_free.append(_twice_nll_free_fit(self.lik, outcomes, init=self.free.pars[0]))

    def add_toys(self, n_toys: int) -> None:
        """Grow to at least ``n_toys`` toys per hypothesis (whole blocks); CLs values are
        recomputed.
        """
        while self.n_toys < n_toys:
            self._add_block()
        self._points.clear()
        self._ensembles.clear()

    def sample(self, pars: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """Datasets at ``pars`` by inverse-CDF sampling of the given uniforms (main + aux)."""
        lik = self.lik
        rates = lik.expected_data(pars, include_auxdata=False)[0]
        out = np.empty_like(uniforms)
        n_main = lik.n_main
        out[:, :n_main] = stats.poisson.ppf(uniforms[:, :n_main], rates)
        for k, term in enumerate(lik.aux_terms):
            u = uniforms[:, n_main + k]
            centre = pars[term.par_index]
            if term.kind == "normal":
                out[:, n_main + k] = centre + term.scale * special.ndtri(u)
            else:
                out[:, n_main + k] = stats.poisson.ppf(u, centre * term.scale)
        return out

    def _block(self, mu: float, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """q~_mu of block k's s+b and b-only toys with their convergence flags (cached)."""
        if (mu, k) not in self._blocks:
            sb_toys = self.sample(self.profiled_pars(mu), self._u_sb[k])
            q_sb, ok_sb = self.q_values(mu, sb_toys)
            q_b, ok_b = self.q_values(mu, self._b_toys[k], free=self._b_free[k])
            self._blocks[(mu, k)] = (q_sb, ok_sb, q_b, ok_b)
        return self._blocks[(mu, k)]

    def _band_block(self, mu: float, k: int) -> np.ndarray:
        """q~_mu of block k's b-only counts with the auxiliary data as observed (converged fits
        only).
        """
        if (mu, k) not in self._band_blocks:
            q, ok = self.q_values(mu, self._b_outcomes[k], free=self._b_outcome_free[k])
            self._band_blocks[(mu, k)] = q[ok]
        return self._band_blocks[(mu, k)]

    def ensemble(self, mu: float) -> ToyEnsemble:
        """The toys at ``mu``: observed q~_mu and its s+b and b-only distributions."""
        if mu not in self._ensembles:
            if not self.observed_fits_converged(mu):
                self._ensembles[mu] = ToyEnsemble(
                    mu, math.nan, np.zeros(0), np.zeros(0), (self.seed,), 0
                )
                return self._ensembles[mu]
            q_obs = self.q_observed(mu)
            parts = [self._block(mu, k) for k in range(len(self._u_sb))]
            q_sb = np.concatenate([p[0][p[1]] for p in parts])
            q_b = np.concatenate([p[2][p[3]] for p in parts])
            n_failed = int(sum((~p[1]).sum() + (~p[3]).sum() for p in parts))
            q_band = np.concatenate([self._band_block(mu, k) for k in range(len(self._u_sb))])
            self._ensembles[mu] = ToyEnsemble(
                mu, q_obs, q_sb, q_b, (self.seed,), n_failed, q_band=q_band
            )
        return self._ensembles[mu]

    def failed_toys(self) -> int:
        """Distinct toys whose fit failed at any tested mu (a b-only toy failing at five mu counts
        once).
        """
        n = self.block_size
        failed_sb: set[int] = set()
        failed_b: set[int] = set()
        for (_mu, k), (_, ok_sb, _, ok_b) in self._blocks.items():
            failed_sb.update((k * n + np.flatnonzero(~ok_sb)).tolist())
            failed_b.update((k * n + np.flatnonzero(~ok_b)).tolist())
        return len(failed_sb) + len(failed_b)

    def cls(self, mu: float) -> CLsPoint:
        """Observed and expected CLs at ``mu`` from the toys (computed once per mu)."""
        if mu not in self._points:
            self._points[mu] = self.ensemble(mu).cls()
        return self._points[mu]

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Every CLs point computed so far, in order of mu."""
        return tuple(self._points[m] for m in sorted(self._points))


class ExactCalculator(_ProfiledCalculator):
    """CLs without toys for counting models: NA64's signal box, or a combination of such boxes.

    The distributions of q~_mu under the s+b and b-only generators are sums
    over the main counts and the Poisson auxiliary measurements and exact
    integrals over the Gaussian ones, with the acceptance region
    {q >= t} located on a fine grid (:mod:`na64stat.inference.counting`);
    with several bins, sums over every count vector with the measurements
    integrated per count vector (:mod:`na64stat.inference.joint`). Every CLs
    value carries the numerical error of that calculation. Raises
    :class:`~na64stat.core.errors.InputError` for models with more than
    :data:`~na64stat.inference.singlebin.MAX_BINS` bins or a data space too
    large to lay out (use toys).

    ``seed`` seeds the Sobol points of a several-bin layout (its result moves
    within its stated error from seed to seed); one bin uses none.

    Examples
    --------
    >>> import pyhf
    >>> spec = {"channels": [{"name": "box", "samples": [
    ...     {"name": "sig", "data": [1.0],
    ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
    ...     {"name": "bkg", "data": [0.5], "modifiers": []}]}]}
    >>> model = pyhf.Model(spec, poi_name="mu")
    >>> calc = ExactCalculator(Likelihood(model, [0.0]))
    >>> round(calc.cls(2.302585).cls_obs, 5)   # CLs = exp(-s) at n = 0
    0.1
    """

    method = "exact"
    search: SearchRule = "smooth"

    def __init__(self, likelihood: Likelihood, seed: int = 0) -> None:
        _check_exact_applies(likelihood)
        super().__init__(likelihood)
        #: seed of the quasi-random points of a several-bin layout (no effect on one bin)
        self.seed = int(seed)
        self._points: dict[float, CLsPoint] = {}
        self._grid: CountingGrid | JointGrid | None = None
        self._grid_data = np.zeros((0, likelihood.data.size))
        self._grid_free: FitResult | None = None
        self._grid_conditional: dict[float, np.ndarray] = {}
        #: several bins: each count vector with the auxiliary data as observed (the band's outcomes)
        self._outcomes = _Outcomes(self, np.zeros((0, likelihood.data.size)))

    def prepare(self, mus: list[float]) -> None:
        """Lay out the data grid for the generators of all these mu (and mu = 0) at once, so that a
        search over them fits the grid's free fits only once.
        """
        generators = np.stack([self.profiled_pars(0.0)] + [self.profiled_pars(m) for m in mus])
        if self._grid is None or not self._grid.covers(generators):
            self._grid = None
            self._grid_for(generators)

    def _grid_for(self, generators: np.ndarray) -> CountingGrid | JointGrid:
        """The data grid serving these generators: reused while it covers them (its free fits do not
        depend on mu), else laid out anew with room for larger rates.
        """
        if self._grid is None or not self._grid.covers(generators):
            self._grid = _layout(self.lik, generators, self.seed)
            self._grid_data = self._grid.datasets(self.lik.data)
            self._grid_free = _twice_nll_free_fit(
                self.lik, self._grid_data, init=self._free_start(self._grid_data)
            )
            self._grid_conditional = {}
            self.notes.update(self._grid.notes)
            if self._grid_free.n_on_edge:
                self.notes.add(EDGE_NOTE)
            self._outcomes = _Outcomes(self, self._grid.outcomes(self.lik.data))
        return self._grid

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Every CLs point computed so far, in order of mu."""
        return tuple(self._points[m] for m in sorted(self._points))

    @property
    def layout(self) -> CountingGrid | JointGrid | None:
        """The data space in use (None before the first CLs evaluation)."""
        return self._grid

    @classmethod
    def grid_size(cls, likelihood: Likelihood) -> int:
        """Data points per tested mu near the limit (raises InputError where exact counting cannot
        apply).
        """
        _check_exact_applies(likelihood)
        pars = np.repeat(likelihood.init[None, :], 2, axis=0)
        pars[1, likelihood.poi_index] = 0.0
        background = float(likelihood.expected_data(pars[1], include_auxdata=False)[0].sum())
        poi = likelihood.poi_index
        pars[0, poi] = (5.0 + 3.0 * math.sqrt(max(background, 0.0))) * likelihood.typical_scale[poi]
        if likelihood.n_main > 1:
            return JointGrid.planned_size(likelihood, pars, rate_margin=_JOINT_RATE_MARGIN)
        return _layout(likelihood, pars).size

    @classmethod
    def applicable(cls, likelihood: Likelihood) -> bool:
        """Whether exact counting can handle this model (one bin, a data space of manageable
        size).
        """
        try:
            cls.grid_size(likelihood)
        except InputError:
            return False
        return True

    def cls(self, mu: float) -> CLsPoint:
        """Observed and expected CLs at ``mu`` by exact counting (computed once per mu)."""
        if mu in self._points:
            return self._points[mu]
        if not self.observed_fits_converged(mu):
            self._points[mu] = _failed_point(mu, 0)
            return self._points[mu]
        q_obs = self.q_observed(mu)
        generators = np.stack([self.profiled_pars(mu), self.profiled_pars(0.0)])
        grid = self._grid_for(generators)
        q, ok = self._grid_q(mu)
        n_failed = int((~ok).sum())
        q = np.where(ok, q, np.nan)
        failed = (
            grid.probability(np.where(ok, 0.0, 1.0), np.array([0.5]), generators).value.max()
            if n_failed
            else 0.0
        )
        if failed > MAX_FAILED_PROBABILITY:
            point = _failed_point(mu, n_failed)
        else:
            point = self._point(mu, q_obs, grid, q, generators, n_failed)
        self._points[mu] = point
        return point

    def _free_start(self, data: np.ndarray) -> np.ndarray:
        """Starting points of the free fits near their answer: each constrained parameter at its
        measurement (Gaussian: theta = a; Poisson: theta = a / tau) and the POI at the excess of the
        count over the background there, in units of the signal per unit POI.
        """
        lik = self.lik
        start = np.repeat(self.free.pars[:1], data.shape[0], axis=0)
        lo, hi = lik.bounds[:, 0], lik.bounds[:, 1]
        for k, term in enumerate(lik.aux_terms):
            value = data[:, lik.n_main + k] / (term.scale if term.kind == "poisson" else 1.0)
            start[:, term.par_index] = np.clip(value, lo[term.par_index], hi[term.par_index])
        poi = lik.poi_index
        at_zero = start.copy()
        at_zero[:, poi] = 0.0
        if (
            lik.n_main > 1
        ):  # the summed excess over the summed signal per unit POI, at the nominal nuisances
            pars = np.repeat(self.free.pars[:1], 2, axis=0)
            pars[:, poi] = (0.0, 1.0)
            background, with_signal = lik.expected_data(pars, include_auxdata=False).sum(axis=1)
            per_unit = with_signal - background
            guess = (
                (data[:, : lik.n_main].sum(axis=1) - background) / per_unit
                if per_unit > 0
                else 0.0 * data[:, 0]
            )
            start[:, poi] = np.clip(np.nan_to_num(guess), 0.0, hi[poi])
        elif lik.closed_form is not None:
            background = lik.closed_form.rate(at_zero)[0]
            at_zero[:, poi] = 1.0
            per_unit = lik.closed_form.rate(at_zero)[0] - background
            with np.errstate(all="ignore"):
                guess = np.where(per_unit > 0, (data[:, 0] - background) / per_unit, 0.0)
            start[:, poi] = np.clip(np.nan_to_num(guess), 0.0, hi[poi])
        return start

    def _grid_q(self, mu: float) -> tuple[np.ndarray, np.ndarray]:
        """q~_mu at every grid point, with its convergence flags.

        Where the free fit already has mu_hat >= mu, q~_mu = 0 by definition and no
        conditional fit is needed; the others start from the conditional fits at the
        nearest mu already tested on this grid.
        """
        free = self._grid_free
        assert free is not None
        poi = self.lik.poi_index
        need = free.pars[:, poi] < mu
        q = np.zeros(free.pars.shape[0])
        ok = free.converged.copy()
        near = (
            min(self._grid_conditional, key=lambda m: abs(math.log(m / mu)), default=None)
            if mu > 0
            else None
        )
        init = free.pars if near is None else self._grid_conditional[near]
        if need.any():
            sub = FitResult(free.pars[need], free.twice_nll[need], free.converged[need])
            q_need, ok_need, cond = self._q_with_conditional(
                mu, self._grid_data[need], free=sub, init=init[need]
            )
            q[need], ok[need] = q_need, ok_need
            start = init.copy()
            start[need] = cond.pars
            if mu > 0:
                self._grid_conditional[mu] = start
        return q, ok

    def _point(
        self,
        mu: float,
        q_obs: float,
        grid: CountingGrid | JointGrid,
        q: np.ndarray,
        generators: np.ndarray,
        n_failed: int,
    ) -> CLsPoint:
        """Observed and expected CLs from the test statistic on the grid."""
        p_band = np.array([special.ndtr(n) for n in N_SIGMAS])
        statistic = grid.statistic(q)
        band = self._outcomes.quantiles(mu, p_band, grid.count_probability(generators[1:])[0])
        thresholds = np.concatenate([[q_obs], band])
        prob = statistic.probability(thresholds, generators)
        sb, b = prob.value[:, 0], prob.value[:, 1]
        cls = np.where(b > 0, sb / np.where(b > 0, b, 1.0), 1.0)
        cls = np.where(thresholds <= 0.0, 1.0, np.minimum(cls, 1.0))
        cls = np.where(np.isnan(thresholds), np.nan, cls)  # a band whose outcomes failed to fit
        error = _ratio_error(prob, cls)
        error = np.where(thresholds <= 0.0, 0.0, error)
        return CLsPoint(
            mu=mu,
            cls_obs=float(cls[0]),
            clsb_obs=float(sb[0]),
            clb_obs=float(b[0]),
            cls_exp=tuple(float(c) for c in cls[1:]),
            n_failed=n_failed,
            cls_obs_error=float(error[0]),
            cls_exp_error=tuple(float(e) for e in error[1:]),
        )


def _ratio_error(prob: RegionProbability, cls: np.ndarray) -> np.ndarray:
    """Numerical error of CLs = P_sb / P_b (columns 0 and 1 of ``prob``) for each threshold.

    The quadrature errors of the two probabilities are combined as independent; sampled rows
    (several bins) enter through their influences, linearised for the ratio, (I_sb - CLs I_b) / P_b,
    whose squares sum to its variance: the numerator and denominator share the same points, so most
    of their sampling noise cancels in CLs.
    """
    sb, b = prob.value[:, 0], prob.value[:, 1]
    quadrature = prob.error if prob.quadrature is None else prob.quadrature
    with np.errstate(all="ignore"):
        rel = np.hypot(quadrature[:, 0] / sb, quadrature[:, 1] / b)
        error = np.where(np.isfinite(rel), cls * rel, 0.0)
        if prob.influence is not None:
            linear = (prob.influence[:, :, 0] - cls[:, None] * prob.influence[:, :, 1]) / b[:, None]
            error = np.hypot(error, np.where(b > 0, np.sqrt(np.sum(linear**2, axis=1)), 0.0))
    return error


def _check_exact_applies(likelihood: Likelihood) -> None:
    """Raise InputError where exact counting does not apply: more main bins than a combination of
    counting experiments has (:data:`~na64stat.inference.singlebin.MAX_BINS`).
    """
    if likelihood.n_main > MAX_BINS:
        raise InputError(
            f"exact counting sums over count vectors of at most {MAX_BINS} bins, "
            f"this model has {likelihood.n_main}; use toys or asymptotic"
        )


def _layout(lik: Likelihood, generators: np.ndarray, seed: int = 0) -> CountingGrid | JointGrid:
    """The data space of ``lik`` serving ``generators``: the one-bin grid or the several-bin
    layout.
    """
    if lik.n_main == 1:
        return CountingGrid(lik, generators, rate_margin=1.5)
    return JointGrid(lik, generators, rate_margin=_JOINT_RATE_MARGIN, seed=seed)


class _Outcomes:
    """The count vectors of a :class:`JointGrid` with the auxiliary measurements as observed, and q~
    on them.

    The expected band at n sigma uses the b-only distribution of q~ over these outcomes (the counts
    an experiment could have seen, its calibration measurements fixed as published): the Phi(n)
    lower quantile. At n = 0 in every bin the observed q~ is the largest value, so no band lies
    below the observed limit there.
    """

    def __init__(self, calc: ExactCalculator, data: np.ndarray) -> None:
        self.calc = calc
        self.data = data
        self.free = (
            _twice_nll_free_fit(calc.lik, data, init=calc.free.pars[0]) if data.size else None
        )
        self._q: dict[float, np.ndarray] = {}

    def q(self, mu: float) -> np.ndarray:
        """q~_mu of every outcome (NaN where a fit failed)."""
        if mu not in self._q:
            q, ok = self.calc.q_values(mu, self.data, free=self.free)
            self._q[mu] = np.where(ok, q, np.nan)
        return self._q[mu]

    def quantiles(self, mu: float, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Lower quantiles of q~_mu over the outcomes with b-only probabilities ``weights``, for
        each p.
        """
        q = self.q(mu)
        finite = np.isfinite(q)
        if not finite.any() or weights[~finite].sum() > MAX_FAILED_PROBABILITY * weights.sum():
            return np.full(p.size, np.nan)  # too much of the band's distribution failed to fit
        dist = TestStatDistribution(q[finite], weights[finite])
        return np.array([dist.quantile(float(pk)) for pk in p])


def best_calculator(likelihood: Likelihood, n_toys: int = 10_000, seed: int = 0) -> Calculator:
    """Exact counting where it applies (single-bin models), else seeded toys: for CLs scans and
    grids.

    >>> import pyhf
    >>> model = pyhf.simplemodels.uncorrelated_background([1.0], [0.5], [0.1])
    >>> best_calculator(Likelihood(model, [0.0] + model.config.auxdata)).method
    'exact'
    """
    if ExactCalculator.applicable(likelihood):
        return ExactCalculator(likelihood)
    return ToyCalculator(likelihood, n_toys=n_toys, seed=seed)
