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
* :class:`ExactCalculator` - for single-bin models: the distribution of q~_mu
  is a weighted sum over every main count n (Poisson) and every value of
  the Poisson auxiliary measurements (shapesys) - the toys' ensemble without
  Monte-Carlo error. Gaussian-constrained nuisance parameters (normsys,
  histosys, lumi, staterror) are refused (``auto`` then uses toys): CLs needs
  the tail probability P(q >= q_obs), whose integrand is a step function of
  the auxiliary value, and a quadrature rule misplaces it. This was found
  on the shipped NA64 workspaces (a 10% signal-efficiency normsys):
  Gauss-Hermite nodes gave an observed limit 10% and a -2 sigma band 3x away
  from 20,000 toys.

All return :class:`CLsPoint` (observed and the -2..+2 sigma expected CLs).
Expected values follow pyhf's convention: the expected test statistic at
n sigma is the Phi(n) quantile of the b-only distribution (for toys and exact
counting the lower inverse CDF, which for discrete counts gives the
published band [2.303, 2.303, 2.303, 3.508, 4.843] at b = 0.5, n = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import special, stats

from na64stat.errors import InputError
from na64stat.inference.likelihood import FitResult, Likelihood

__all__ = [
    "N_SIGMAS",
    "CLsPoint",
    "Calculator",
    "AsymptoticCalculator",
    "ToyCalculator",
    "ExactCalculator",
    "TestStatDistribution",
    "ToyEnsemble",
]

#: Expected bands in pyhf's order: -2, -1, 0, +1, +2 sigma of the limit, i.e. the
#: b-only test statistic at +2, +1, 0, -1, -2 sigma.
N_SIGMAS: tuple[int, ...] = (2, 1, 0, -1, -2)
_TIE = 1e-9
#: Largest fraction of failed toy fits (and largest failed probability in exact
#: counting) that is dropped; above it the CLs value is NaN, i.e. a fit failure.
MAX_FAILED_FRACTION = 0.01
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
        Toys whose fit failed (excluded), 0 otherwise.
    """

    mu: float
    cls_obs: float
    clsb_obs: float
    clb_obs: float
    cls_exp: tuple[float, ...]
    n_failed: int = 0


class Calculator(Protocol):
    """What the upper-limit search needs from a CLs calculator."""

    method: str

    def cls(self, mu: float) -> CLsPoint: ...

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]: ...


def _twice_nll_free_fit(lik: Likelihood, data: np.ndarray, init: np.ndarray | None = None) -> FitResult:
    """Free fit with the POI bounded below by 0 (the q~_mu convention)."""
    hi = lik.bounds[lik.poi_index, 1]
    return lik.fit(data, init=init, poi_bounds=(0.0, hi))


def _qtilde(mu: float, free: FitResult, cond: FitResult, poi_index: int) -> np.ndarray:
    """q~_mu = max(0, t_mu) if mu_hat <= mu else 0, with mu_hat >= 0 (pyhf's qmu_tilde)."""
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

    def __init__(self, likelihood: Likelihood) -> None:
        self.lik = likelihood
        data = likelihood.data[None, :]
        self.free = _twice_nll_free_fit(likelihood, data)
        self.mu_hat = float(self.free.pars[0, likelihood.poi_index])
        at_zero = likelihood.fit(data, init=self.free.pars[0], fixed_poi=0.0)
        self.asimov = likelihood.expected_data(at_zero.pars[0])[0]
        # The Asimov data are the expectation at these parameters (aux included), so they
        # are its maximum-likelihood estimate: no free fit of the Asimov data is needed.
        self.asimov_free = FitResult(at_zero.pars, likelihood.twice_nll(at_zero.pars, self.asimov[None, :]), at_zero.converged)
        self._sq_obs: dict[float, float] = {}
        self._sq_asimov: dict[float, float] = {}
        self._inits: dict[tuple[int, float], np.ndarray] = {}
        self.fit_failures = int(not self.free.converged[0]) + int(not at_zero.converged[0])

    @property
    def n_evaluations(self) -> int:
        """Distinct mu values at which conditional fits were made."""
        return len(set(self._sq_obs) | set(self._sq_asimov))

    def _init_for(self, which: int, mu: float) -> np.ndarray:
        """Warm start: the conditional fit at the nearest mu already fitted (0: data, 1: Asimov)."""
        known = [m for (w, m) in self._inits if w == which]
        if not known:
            return (self.free.pars[0], self.asimov_free.pars[0])[which]
        nearest = min(known, key=lambda m: abs(math.log(max(m, 1e-300)) - math.log(max(mu, 1e-300))))
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
        sqrt_q = np.where(cond.converged, np.sqrt(q), np.nan)
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
            return CLsPoint(mu=mu, cls_obs=1.0, clsb_obs=0.5, clb_obs=0.5, cls_exp=(1.0,) * len(N_SIGMAS))
        if sq <= sqa:
            t = sq - sqa
        else:
            t = (sq * sq - sqa * sqa) / (2.0 * sqa)
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
    weights: np.ndarray = field(default=None)  # type: ignore[assignment]

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
    return CLsPoint(mu=mu, cls_obs=nan, clsb_obs=nan, clb_obs=nan, cls_exp=(nan,) * len(N_SIGMAS), n_failed=n_failed)


def _cls_from_distributions(mu: float, q_obs: float, sb: TestStatDistribution, b: TestStatDistribution, n_failed: int = 0) -> CLsPoint:
    def cls_at(q: float) -> tuple[float, float, float]:
        clsb, clb = sb.pvalue(q), b.pvalue(q)
        return (clsb / clb if clb > 0 else 1.0), clsb, clb

    cls_obs, clsb, clb = cls_at(q_obs)
    expected = tuple(cls_at(b.quantile(float(special.ndtr(n))))[0] for n in N_SIGMAS)
    return CLsPoint(mu=mu, cls_obs=cls_obs, clsb_obs=clsb, clb_obs=clb, cls_exp=expected, n_failed=n_failed)


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
    """

    mu: float
    q_obs: float
    q_sb: np.ndarray
    q_b: np.ndarray
    seeds: tuple[int, ...]
    n_failed: int = 0

    def merge(self, other: "ToyEnsemble") -> "ToyEnsemble":
        """Pool the toys of two runs made at the same mu on the same data.

        >>> a = ToyEnsemble(1.0, 2.0, np.array([0.0, 3.0]), np.array([0.0]), (1,))
        >>> b = ToyEnsemble(1.0, 2.0, np.array([1.0]), np.array([4.0]), (2,))
        >>> m = a.merge(b)
        >>> m.q_sb.size, m.q_b.size, m.seeds
        (3, 2, (1, 2))
        """
        if not math.isclose(self.mu, other.mu, rel_tol=1e-12) or not math.isclose(self.q_obs, other.q_obs, rel_tol=1e-6, abs_tol=1e-9):
            raise InputError(f"cannot merge toys at mu = {self.mu} (q_obs {self.q_obs}) with mu = {other.mu} (q_obs {other.q_obs})")
        if set(self.seeds) & set(other.seeds):
            raise InputError(f"toy runs share seeds {sorted(set(self.seeds) & set(other.seeds))}: merging would double count")
        return ToyEnsemble(
            mu=self.mu,
            q_obs=self.q_obs,
            q_sb=np.concatenate([self.q_sb, other.q_sb]),
            q_b=np.concatenate([self.q_b, other.q_b]),
            seeds=self.seeds + other.seeds,
            n_failed=self.n_failed + other.n_failed,
        )

    def cls(self) -> CLsPoint:
        """CLs (observed and expected) from these toys; NaN if too many fits failed."""
        total = self.q_sb.size + self.q_b.size + self.n_failed
        if self.n_failed > MAX_FAILED_FRACTION * total or self.q_sb.size == 0 or self.q_b.size == 0:
            return _failed_point(self.mu, self.n_failed)
        return _cls_from_distributions(self.mu, self.q_obs, TestStatDistribution(self.q_sb), TestStatDistribution(self.q_b), self.n_failed)

    def cls_error(self) -> float:
        """Binomial Monte-Carlo error of the observed CLs."""
        n_sb, n_b = self.q_sb.size, self.q_b.size
        point = self.cls()
        rel2 = (1 - point.clsb_obs) / max(point.clsb_obs * n_sb, 1e-300) + (1 - point.clb_obs) / max(point.clb_obs * n_b, 1e-300)
        return float(point.cls_obs * math.sqrt(rel2))


class _ProfiledCalculator:
    """Shared part of toys and exact counting: the observed q~ and the profiled generators."""

    def __init__(self, likelihood: Likelihood) -> None:
        self.lik = likelihood
        data = likelihood.data[None, :]
        self.free = _twice_nll_free_fit(likelihood, data)
        self._profiled: dict[float, FitResult] = {}

    def _profiled_fit(self, mu: float) -> FitResult:
        if mu not in self._profiled:
            self._profiled[mu] = self.lik.fit(self.lik.data[None, :], init=self.free.pars[0], fixed_poi=mu)
        return self._profiled[mu]

    def profiled_pars(self, mu: float) -> np.ndarray:
        """Conditional MLE of the nuisance parameters on the data at ``mu`` (the generator)."""
        return self._profiled_fit(mu).pars[0]

    def q_observed(self, mu: float) -> float:
        """Observed q~_mu."""
        return float(_qtilde(mu, self.free, self._profiled_fit(mu), self.lik.poi_index)[0])

    def q_values(self, mu: float, datasets: np.ndarray, free: FitResult | None = None) -> tuple[np.ndarray, np.ndarray]:
        """q~_mu for many datasets; returns (values, converged)."""
        if free is None:
            free = _twice_nll_free_fit(self.lik, datasets, init=self.free.pars[0])
        cond = self.lik.fit(datasets, init=free.pars, fixed_poi=mu)
        q = _qtilde(mu, free, cond, self.lik.poi_index)
        return q, free.converged & cond.converged


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

    def __init__(self, likelihood: Likelihood, n_toys: int = 10_000, seed: int = 0) -> None:
        if n_toys < 10:
            raise InputError(f"n_toys must be at least 10, got {n_toys}")
        super().__init__(likelihood)
        self.n_toys = int(n_toys)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        n_obs = likelihood.data.size
        # Common random numbers: one set of uniforms for the s+b toys at every mu, one for b.
        self._u_sb = rng.random((self.n_toys, n_obs))
        self._u_b = rng.random((self.n_toys, n_obs))
        self._b_toys = self.sample(self.profiled_pars(0.0), self._u_b)
        self._b_free = _twice_nll_free_fit(likelihood, self._b_toys, init=self.free.pars[0])
        self._points: dict[float, CLsPoint] = {}
        self._ensembles: dict[float, ToyEnsemble] = {}

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

    def ensemble(self, mu: float) -> ToyEnsemble:
        """The toys at ``mu``: observed q~_mu and its s+b and b-only distributions."""
        if mu not in self._ensembles:
            q_obs = self.q_observed(mu)
            sb_toys = self.sample(self.profiled_pars(mu), self._u_sb)
            q_sb, ok_sb = self.q_values(mu, sb_toys)
            q_b, ok_b = self.q_values(mu, self._b_toys, free=self._b_free)
            n_failed = int((~ok_sb).sum() + (~ok_b).sum())
            self._ensembles[mu] = ToyEnsemble(mu, q_obs, q_sb[ok_sb], q_b[ok_b], (self.seed,), n_failed)
        return self._ensembles[mu]

    def cls(self, mu: float) -> CLsPoint:
        if mu not in self._points:
            self._points[mu] = self.ensemble(mu).cls()
        return self._points[mu]

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Every CLs point computed so far, in order of mu."""
        return tuple(self._points[m] for m in sorted(self._points))


class ExactCalculator(_ProfiledCalculator):
    """Exact CLs for single-bin counting models (NA64's signal box).

    The main count is summed over n = 0 .. n_max (Poisson tail below 1e-12),
    each Poisson auxiliary measurement over its central 1 - 1e-9 range.
    Raises :class:`~na64stat.errors.InputError` for multi-bin models,
    Gaussian-constrained nuisance parameters (module docstring) or too many
    nuisance parameters (use toys).

    Examples
    --------
    >>> import pyhf
    >>> spec = {"channels": [{"name": "box", "samples": [
    ...     {"name": "sig", "data": [1.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
    ...     {"name": "bkg", "data": [0.5], "modifiers": []}]}]}
    >>> model = pyhf.Model(spec, poi_name="mu")
    >>> calc = ExactCalculator(Likelihood(model, [0.0]))
    >>> round(calc.cls(2.302585).cls_obs, 5)   # CLs = exp(-s) at n = 0
    0.1
    """

    method = "exact"

    def __init__(self, likelihood: Likelihood) -> None:
        if likelihood.n_main != 1:
            raise InputError(f"exact counting needs a single-bin model, this one has {likelihood.n_main} bins")
        super().__init__(likelihood)
        self._points: dict[float, CLsPoint] = {}

    @property
    def evaluations(self) -> tuple[CLsPoint, ...]:
        """Every CLs point computed so far, in order of mu."""
        return tuple(self._points[m] for m in sorted(self._points))

    @classmethod
    def applicable(cls, likelihood: Likelihood) -> bool:
        """Whether exact counting can handle this model (one bin, a grid of manageable size)."""
        if likelihood.n_main != 1:
            return False
        try:
            _count_grid(likelihood, likelihood.init)
        except InputError:
            return False
        return True

    def _grid(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _count_grid(self.lik, pars)

    def cls(self, mu: float) -> CLsPoint:
        if mu in self._points:
            return self._points[mu]
        q_obs = self.q_observed(mu)
        dists = []
        n_failed = 0
        failed_probability = 0.0
        for generator_mu in (mu, 0.0):
            data, weight = self._grid(self.profiled_pars(generator_mu))
            q, ok = self.q_values(mu, data)
            n_failed += int((~ok).sum())
            failed_probability = max(failed_probability, float(weight[~ok].sum() / weight.sum()))
            dists.append(TestStatDistribution(q[ok], weight[ok]))
        if failed_probability > MAX_FAILED_PROBABILITY:
            point = _failed_point(mu, n_failed)
        else:
            point = _cls_from_distributions(mu, q_obs, dists[0], dists[1], n_failed)
        self._points[mu] = point
        return point


#: Largest number of (count, auxiliary values) combinations exact counting sums over.
MAX_GRID = 200_000


def _count_grid(lik: Likelihood, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (main count, aux values) combinations of a single-bin model with their probabilities at ``pars``."""
    rate = float(lik.expected_data(pars, include_auxdata=False)[0][0])
    n_max = int(stats.poisson.isf(1e-12, rate)) + 2
    axes = [np.arange(n_max + 1, dtype=float)]
    probs = [stats.poisson.pmf(axes[0], rate)]
    for term in lik.aux_terms:
        if term.kind == "normal":
            raise InputError(
                "exact counting handles Poisson-constrained nuisance parameters only; a Gaussian constraint "
                "needs toys (method='toys')"
            )
        lam = pars[term.par_index] * term.scale
        lo, hi = stats.poisson.ppf([5e-10, 1 - 5e-10], lam)
        k = np.arange(lo, hi + 1)
        axes.append(k)
        probs.append(stats.poisson.pmf(k, lam))
    size = int(np.prod([a.size for a in axes]))
    if size > MAX_GRID:
        raise InputError(
            f"exact counting would need {size} grid points ({len(lik.aux_terms)} auxiliary measurements); use toys"
        )
    mesh = np.meshgrid(*axes, indexing="ij")
    pmesh = np.meshgrid(*probs, indexing="ij")
    data = np.stack([m.ravel() for m in mesh], axis=1)
    weight = np.prod(np.stack([p.ravel() for p in pmesh], axis=1), axis=1)
    return data, weight
