"""The data space of a several-bin counting model, and P(q >= t) over it without toys.

A combination of counting experiments (NA64e + NA64mu: one bin per channel,
:mod:`na64stat.model.combine`) has B main counts n_b (Poisson) and one
auxiliary measurement per constrained nuisance parameter. The probability
that the test statistic reaches a threshold t under a generator theta_g is

    P_g(q >= t) = sum_n prod_b Pois(n_b; lambda_gb) int p_g(a) 1[q(n, a) >= t] da.

:class:`JointGrid` lays this out in three parts:

* the **count vectors** n are enumerated exactly: every vector whose
  probability under some generator of the layout can exceed
  :data:`COUNT_CUTOFF` (an envelope over each bin's range of rates), so the
  probability left out is bounded and added to the error (typically < 1e-8);
* per count vector, its **inner axis**, the Gaussian measurement that moves
  q most for those counts (at zero counts the signal efficiency: a
  background measurement cancels out of q there), is integrated exactly as in
  the one-bin method (:mod:`na64stat.inference.counting`): q on a fine
  uniform grid, crossings of q = t located on local cubics, normal-CDF
  differences between them;
* the **other auxiliary measurements** are integrated per count vector by
  randomised quasi-Monte Carlo (a scrambled Sobol net, ``scipy.stats.qmc``,
  under a random shift per count vector),
  drawn once from a proposal density that covers every generator of the
  layout and reweighted to each generator (self-normalised importance
  sampling, so a count vector whose q lies on one side of t everywhere
  contributes its exact probability). Count vectors get points in
  proportion to their probability (:data:`MAX_SAMPLES` to
  :data:`MIN_SAMPLES`), so the effort goes where the probability is.

Each probability carries its numerical error: the inner axis' quadrature
error (as in the one-bin grid), the delta-method standard error of the
sampled integrals, sum over count vectors of
sum_i w_i^2 (m_i - m_bar)^2 (the i.i.d. formula; Sobol points do better, so
it is conservative), and the probability of the count vectors left out.
With no auxiliary measurement besides the inner one the result is a sum
over count vectors and a one-dimensional integral, deterministic to its
quadrature error; with none at all, an exact sum.

The layout is independent of the tested mu: the free fits of its data points
are made once, and each tested mu costs one conditional fit per point whose
free fit has mu_hat < mu.

See the physics reference (docs/physics.rst, sections "Statistics", "CLs"
(exact counting)).

Examples
--------
>>> import pyhf
>>> from na64stat.inference.likelihood import Likelihood
>>> model = pyhf.simplemodels.uncorrelated_background([1.0, 1.0], [0.5, 0.1], [0.1, 0.03])
>>> lik = Likelihood(model, [0.0, 0.0] + model.config.auxdata)
>>> grid = JointGrid(lik, np.array([[0.0, 1.0, 1.0], [2.0, 1.0, 1.0]]))
>>> grid.n_count_vectors > 50, len(grid.inner_groups)
(True, 0)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special, stats
from scipy.stats import qmc

from na64stat.core.errors import InputError
from na64stat.inference.counting import (
    MAX_GRID,
    Axis,
    GridStatistic,
    RegionProbability,
    uniform_nodes,
)

if TYPE_CHECKING:
    from na64stat.inference.likelihood import AuxTerm, Likelihood

__all__ = [
    "COUNT_CUTOFF",
    "COUNT_TAIL",
    "MAX_COUNT_VECTORS",
    "MAX_SAMPLES",
    "MIN_SAMPLES",
    "JointGrid",
    "count_vectors",
    "covering_vectors",
]

#: Count vectors whose probability under every generator of the layout stays below this are not
#: even candidates (:func:`count_vectors`) ...
COUNT_CUTOFF: float = 1e-9
#: ... and of the candidates, a layout keeps those that hold all but this probability under each of
#: its
#: generators (:func:`covering_vectors`); what is left out is computed per generator and counted in
#: the error.
COUNT_TAIL: float = 1e-7
#: Most candidate count vectors one layout may enumerate (those it keeps are fitted with their
#: points).
MAX_COUNT_VECTORS: int = 200_000
#: Sobol points per count vector for the most probable vectors (a power of two) ...
MAX_SAMPLES: int = 64
#: ... and for the least probable ones.
MIN_SAMPLES: int = 2
_INNER_STEP, _HALF_WIDTH = (
    1.0,
    5.5,
)  # inner axis: spacing and half-width in units of its sigma (q~ is smooth along it)
_CHOICE_VECTORS = (
    24  # count vectors whose inner axis is chosen by fits (the others: the nearest one's)
)
_PROPOSAL_WIDTH = (
    1.25  # proposal sigma of a sampled Gaussian measurement, in units of its own sigma
)


def _pmf_envelope(n: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Largest Poisson probability of each count n for a rate anywhere in [lo, hi] (the pmf in the
    rate peaks at rate = n).
    """
    return stats.poisson.pmf(n, np.clip(n, lo, hi))


def count_vectors(
    rate_lo: np.ndarray, rate_hi: np.ndarray, cutoff: float | None = None
) -> np.ndarray:
    """Every count vector (one count per bin) that some rates in the box [rate_lo, rate_hi] give a
    probability above ``cutoff``, most probable first.

    The product of per-bin envelopes bounds the joint probability, and a partial product bounds
    every extension of it (each further factor is at most 1), so vectors are pruned bin by bin.

    Parameters
    ----------
    rate_lo, rate_hi : ndarray
        Lowest and highest expected count of each bin [events], shape (B,).
    cutoff : float, optional
        Probability below which a vector is left out (default :data:`COUNT_CUTOFF`).

    Returns
    -------
    ndarray
        Integer count vectors, shape (C, B). Raises InputError beyond :data:`MAX_COUNT_VECTORS`.

    >>> count_vectors(np.array([0.5]), np.array([0.5]), cutoff=1e-3)[:, 0].tolist()
    [0, 1, 2, 3, 4]
    >>> count_vectors(np.array([0.0, 1.0]), np.array([0.0, 1.0]), cutoff=1e-3).shape
    (6, 2)
    """
    cutoff = COUNT_CUTOFF if cutoff is None else cutoff
    vectors = np.zeros((1, 0), dtype=int)
    bound = np.ones(1)
    for lo, hi in zip(rate_lo, rate_hi):
        n_max = int(stats.poisson.isf(cutoff, max(float(hi), 0.0))) + 2
        n = np.arange(n_max + 1)
        env = _pmf_envelope(n, max(float(lo), 0.0), max(float(hi), 0.0))
        joint = bound[:, None] * env[None, :]
        rows, cols = np.nonzero(joint > cutoff)
        if rows.size > MAX_COUNT_VECTORS:
            raise InputError(
                f"exact counting would sum over more than {MAX_COUNT_VECTORS} count vectors "
                f"(expected counts up to {float(np.max(rate_hi)):.3g} in {len(rate_hi)} bins); "
                "use toys or asymptotic"
            )
        vectors = np.column_stack([vectors[rows], n[cols]])
        bound = joint[rows, cols]
    order = np.argsort(-bound, kind="stable")
    return vectors[order]


def covering_vectors(rates: np.ndarray, tail: float | None = None) -> np.ndarray:
    """The count vectors that hold all but ``tail`` (default :data:`COUNT_TAIL`) of the probability
    under each row of ``rates`` (R, B): for each row its most probable vectors up to 1 - tail, all
    rows' together, most probable first; shape (C, B). Candidates come from :func:`count_vectors`
    over the box the rows span.

    Parameters
    ----------
    rates : ndarray
        Expected counts [events], one row per generator, one column per bin.
    tail : float, optional
        Probability each row may leave out (it is computed exactly for every generator and added to
        the numerical error).

    Returns
    -------
    ndarray
        Integer count vectors, shape (C, B).

    >>> covering_vectors(np.array([[0.5]]), tail=1e-3)[:, 0].tolist()   # P(n > 4) = 1.4e-4
    [0, 1, 2, 3, 4]
    """
    tail = COUNT_TAIL if tail is None else tail
    candidates = count_vectors(rates.min(axis=0), rates.max(axis=0))
    probability = _poisson_probability(candidates, rates)  # (R, C)
    keep = np.zeros(len(candidates), dtype=bool)
    for row in probability:
        order = np.argsort(-row, kind="stable")
        needed = int(np.searchsorted(np.cumsum(row[order]), 1.0 - tail)) + 1
        keep[order[:needed]] = True
    chosen = candidates[keep]
    return chosen[np.argsort(-probability[:, keep].max(axis=0), kind="stable")]


def _poisson_probability(counts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """P(n) of each count vector (C, B) under each row of rates (G, B): shape (G, C).

    >>> _poisson_probability(np.array([[0, 0], [1, 0]]), np.array([[1.0, 0.5]])).round(4).tolist()
    [[0.2231, 0.2231]]
    """
    logp = np.zeros((len(rates), len(counts)))
    for b in range(counts.shape[1]):
        logp += stats.poisson.logpmf(counts[None, :, b], rates[:, b : b + 1])
    return np.exp(logp)


def _inner_span(term: AuxTerm, lo: float, hi: float) -> tuple[float, float]:
    """The inner axis of a Gaussian measurement whose means span [lo, hi]: _HALF_WIDTH sigma beyond
    both.
    """
    return lo - _HALF_WIDTH * term.scale, hi + _HALF_WIDTH * term.scale


def _inner_nodes(term: AuxTerm, lo: float, hi: float) -> int:
    """Nodes of an inner axis over [lo, hi] at _INNER_STEP sigma."""
    return int(uniform_nodes(lo, hi, _INNER_STEP * term.scale).size)


def _allocation(weight: np.ndarray, n_sampled: int) -> np.ndarray:
    """Sobol points per count vector of probability ``weight``: MAX_SAMPLES for the most probable,
    halving with the probability down to MIN_SAMPLES (one each where no measurement is sampled).

    >>> _allocation(np.array([0.5, 0.25, 1e-6]), 2).tolist()
    [64, 32, 2]
    """
    if n_sampled == 0:
        return np.ones(weight.size, dtype=int)
    ratio = np.maximum(weight / max(float(weight.max()), 1e-300), 1e-300)
    level = np.clip(
        np.ceil(math.log2(MAX_SAMPLES) + np.log2(ratio)),
        math.log2(MIN_SAMPLES),
        math.log2(MAX_SAMPLES),
    )
    return (2 ** level.astype(int)).astype(int)


class JointGrid:
    """The data space of a several-bin likelihood, laid out to serve several generators (module
    docstring).

    Parameters
    ----------
    lik:
        The :class:`~na64stat.inference.likelihood.Likelihood` (two or more main bins).
    generators:
        Parameter points the layout must serve, shape (G, n_pars).
    rate_margin:
        The count vectors cover rates up to this factor above the largest
        generator's, so that nearby tested mu reuse the layout.
    seed:
        Seed of the Sobol scrambling and shifts (the same seed gives the same points).
    """

    def __init__(
        self, lik: Likelihood, generators: np.ndarray, rate_margin: float = 1.0, seed: int = 0
    ) -> None:
        self.lik = lik
        gens = np.atleast_2d(generators)
        self.notes: list[str] = []
        self._pmf_cache: dict[bytes, np.ndarray] = {}
        rates = self.rates(gens)  # (G, B)
        self.rate_lo, self.rate_hi = rates.min(axis=0), rates.max(axis=0) * rate_margin
        self.counts = covering_vectors(np.vstack([rates, self.rate_hi]))
        self.centres = np.array([self._centre(term, gens) for term in lik.aux_terms]).reshape(-1, 2)
        normals = [k for k, term in enumerate(lik.aux_terms) if term.kind == "normal"]
        #: per count vector, the auxiliary measurement on its inner axis (-1: none)
        self.inner_of = self._inner_choice(gens, normals)
        self.axes = self._inner_axes(sorted(set(self.inner_of.tolist()) - {-1}))
        self.per_vector = self._allocation(gens, len(lik.aux_terms) - (1 if normals else 0))
        self.stratum = np.repeat(np.arange(len(self.counts)), self.per_vector)
        self.samples, self.log_proposal = self._draw(seed)
        #: (axis, rows on it) for each inner axis in use: what GridStatistic integrates exactly
        self.inner_groups = [
            (axis, self.inner_of[self.stratum] == k) for k, axis in self.axes.items()
        ]
        n_inner = next(iter(self.axes.values())).nodes.size if self.axes else 1
        self.shape: tuple[int, ...] = (self.stratum.size, n_inner)
        self.active = np.ones(self.stratum.size, dtype=bool)
        if self.size > MAX_GRID:
            raise InputError(
                f"exact counting would need {self.size} data points ({len(self.counts)} count "
                "vectors of "
                f"{lik.n_main} bins, {len(lik.aux_terms)} auxiliary measurements); use toys or "
                "asymptotic"
            )

    # ------------------------------------------------------------------ layout
    def rates(self, generators: np.ndarray) -> np.ndarray:
        """Expected main counts under each generator, shape (G, B)."""
        return self.lik.expected_data(np.atleast_2d(generators), include_auxdata=False)

    @property
    def n_count_vectors(self) -> int:
        """Number of count vectors enumerated."""
        return len(self.counts)

    @property
    def size(self) -> int:
        """Number of data points that are fitted."""
        return int(self.shape[0] * self.shape[1])

    @staticmethod
    def _mean(term: AuxTerm, value: float) -> float:
        """Mean of an auxiliary measurement at parameter value ``value``."""
        return value if term.kind == "normal" else max(value * term.scale, 0.0)

    def _centre(self, term: AuxTerm, gens: np.ndarray) -> tuple[float, float]:
        """(lowest, highest) mean of an auxiliary measurement over the generators."""
        means = [self._mean(term, float(g[term.par_index])) for g in gens]
        return min(means), max(means)

    def _inner_axes(self, chosen: list[int]) -> dict[int, Axis]:
        """Uniform grids of the chosen Gaussian measurements, all with the same number of nodes."""
        terms = self.lik.aux_terms
        spans = {k: _inner_span(terms[k], *self.centres[k]) for k in chosen}
        n_nodes = max((_inner_nodes(terms[k], *span) for k, span in spans.items()), default=1)
        axes = {}
        for k, (lo, hi) in spans.items():
            nodes = np.linspace(lo, hi, n_nodes)
            axes[k] = Axis(self.lik.n_main + k, nodes, "normal", terms[k].par_index, terms[k].scale)
        return axes

    def _inner_choice(self, gens: np.ndarray, normals: list[int]) -> np.ndarray:
        """Per count vector, the Gaussian measurement that moves q~ most at the largest generator mu
        when it moves by -+1 sigma from its observed value (the first one where q~ does not move).

        Measured on the :data:`_CHOICE_VECTORS` most probable count vectors; every other vector
        takes the choice of the nearest of them (in counts): the rare vectors carry little of the
        probability.
        """
        lik = self.lik
        n_vec = len(self.counts)
        if not normals:
            return np.full(n_vec, -1)
        poi = lik.poi_index
        mu = float(gens[:, poi].max())
        if mu <= 0 or len(normals) == 1:
            return np.full(n_vec, normals[0])
        top = np.argsort(-self.count_probability(gens).max(axis=0), kind="stable")[:_CHOICE_VECTORS]
        measured = self._measured_choice(self.counts[top], mu, normals)
        distance = np.abs(self.counts[:, None, :] - self.counts[top][None, :, :]).sum(axis=2)
        return measured[np.argmin(distance, axis=1)]

    def _measured_choice(self, counts: np.ndarray, mu: float, normals: list[int]) -> np.ndarray:
        """For each count vector in ``counts``, the Gaussian measurement whose -+1 sigma move
        changes q~_mu most.
        """
        lik = self.lik
        poi = lik.poi_index
        n_vec = len(counts)
        data = np.repeat(lik.data[None, :], 2 * len(normals) * n_vec, axis=0)
        data[:, : lik.n_main] = np.tile(counts, (2 * len(normals), 1))
        signs = np.tile(np.repeat([-1.0, 1.0], n_vec), len(normals))
        for j, k in enumerate(normals):
            block = slice(2 * j * n_vec, 2 * (j + 1) * n_vec)
            data[block, lik.n_main + k] += signs[block] * lik.aux_terms[k].scale
        free = lik.fit(data, poi_bounds=(0.0, max(float(lik.bounds[poi, 1]), mu)))
        cond = lik.fit(data, init=free.pars, fixed_poi=mu)
        with np.errstate(invalid="ignore"):
            q = np.where(
                free.pars[:, poi] > mu, 0.0, np.clip(cond.twice_nll - free.twice_nll, 0.0, None)
            )
        q = np.nan_to_num(q, nan=0.0, posinf=0.0).reshape(len(normals), 2, n_vec)
        return np.asarray(normals)[np.argmax(np.abs(q[:, 1] - q[:, 0]), axis=0)]

    def _allocation(self, gens: np.ndarray, n_sampled: int) -> np.ndarray:
        """Sobol points per count vector (:func:`_allocation`)."""
        return _allocation(self.count_probability(gens).max(axis=0), n_sampled)

    @classmethod
    def planned_size(cls, lik: Likelihood, generators: np.ndarray, rate_margin: float = 1.0) -> int:
        """Data points a layout for these generators will have, without laying it out (no fits): for
        cost estimates. Raises InputError where the count vectors are too many.
        """
        gens = np.atleast_2d(generators)
        rates = lik.expected_data(gens, include_auxdata=False)
        counts = covering_vectors(np.vstack([rates, rates.max(axis=0) * rate_margin]))
        normals = [term for term in lik.aux_terms if term.kind == "normal"]
        rows = _allocation(
            _poisson_probability(counts, rates).max(axis=0),
            len(lik.aux_terms) - min(len(normals), 1),
        )
        spans = [
            _inner_span(term, gens[:, term.par_index].min(), gens[:, term.par_index].max())
            for term in normals
        ]
        nodes = max((_inner_nodes(term, *span) for term, span in zip(normals, spans)), default=1)
        return int(rows.sum()) * nodes

    def _proposal(self, k: int) -> tuple[float, float]:
        """(centre, sigma) of the normal proposal, or (mean, 0) of the Poisson one, of measurement
        k.
        """
        term = self.lik.aux_terms[k]
        lo, hi = self.centres[k]
        if term.kind == "normal":
            return 0.5 * (lo + hi), _PROPOSAL_WIDTH * term.scale + 0.5 * (hi - lo)
        return hi, 0.0

    def _draw(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Every auxiliary measurement sampled for every row, (rows, n_aux), and the log proposal
        density of each value (the row's inner measurement is overwritten by its axis and left out
        of the weights).
        """
        n_rows, dim = self.stratum.size, len(self.lik.aux_terms)
        if dim == 0:
            return np.zeros((n_rows, 0)), np.zeros((n_rows, 0))
        # one scrambled Sobol net of MAX_SAMPLES points; each count vector takes its first K points
        # (a net
        # itself, K a power of two) under its own random shift modulo 1 (Cranley-Patterson
        # rotation), so
        # that the count vectors' integrals are independent (the self-normalised weights leave a
        # bias of
        # order 1/K, below the stated error)
        net = qmc.Sobol(dim, scramble=True, seed=np.random.default_rng([seed, 0])).random_base2(
            int(MAX_SAMPLES).bit_length() - 1
        )
        shifts = np.random.default_rng([seed, 1]).random((len(self.per_vector), dim))
        first = np.arange(n_rows) - np.repeat(
            np.cumsum(self.per_vector) - self.per_vector, self.per_vector
        )
        uniforms = np.clip(np.mod(net[first] + shifts[self.stratum], 1.0), 1e-12, 1.0 - 1e-12)
        values, log_q = np.empty((n_rows, dim)), np.empty((n_rows, dim))
        for k in range(dim):
            centre, sigma = self._proposal(k)
            if sigma > 0:
                values[:, k] = centre + sigma * special.ndtri(uniforms[:, k])
                log_q[:, k] = stats.norm.logpdf(values[:, k], centre, sigma)
            else:
                values[:, k] = stats.poisson.ppf(uniforms[:, k], centre)
                log_q[:, k] = stats.poisson.logpmf(values[:, k], centre)
        return values, log_q

    def covers(self, generators: np.ndarray) -> bool:
        """Whether the layout serves these generators: rates inside the enumerated box, and every
        measurement's mean where its proposal and inner axis still cover it.
        """
        gens = np.atleast_2d(generators)
        rates = self.rates(gens)
        if np.any(rates < self.rate_lo * (1 - 1e-9) - 1e-12) or np.any(
            rates > self.rate_hi * (1 + 1e-9) + 1e-12
        ):
            return False
        for term, (lo, hi) in zip(self.lik.aux_terms, self.centres):
            means = np.array([self._mean(term, float(g[term.par_index])) for g in gens])
            slack = 0.5 * term.scale if term.kind == "normal" else 1e-9 * max(hi, 1.0)
            if np.any(means < lo - slack) or np.any(means > hi + slack):
                return False
        return True

    def datasets(self, observed: np.ndarray) -> np.ndarray:
        """All data points, shape (size, n_data): rows in order, the inner axis fastest."""
        lik = self.lik
        n_inner = self.shape[1]
        data = np.repeat(np.asarray(observed, dtype=float)[None, :], self.size, axis=0)
        data[:, : lik.n_main] = np.repeat(self.counts[self.stratum], n_inner, axis=0)
        data[:, lik.n_main :] = np.repeat(self.samples, n_inner, axis=0)
        for axis, rows in self.inner_groups:
            points = np.repeat(rows, n_inner)
            data[points, axis.column] = np.tile(axis.nodes, int(rows.sum()))
        return data

    def outcomes(self, observed: np.ndarray) -> np.ndarray:
        """Each count vector with the auxiliary measurements as observed, shape (C, n_data): the
        outcomes whose distribution defines the expected bands.
        """
        data = np.repeat(np.asarray(observed, dtype=float)[None, :], len(self.counts), axis=0)
        data[:, : self.lik.n_main] = self.counts
        return data

    # ------------------------------------------------------------------ weights
    def count_probability(self, generators: np.ndarray) -> np.ndarray:
        """P_g(n) of every enumerated count vector, shape (G, C) (cached per generator set)."""
        gens = np.atleast_2d(generators)
        key = np.asarray(gens, dtype=float).tobytes()
        if key not in self._pmf_cache:
            if len(self._pmf_cache) > 64:
                self._pmf_cache.clear()
            self._pmf_cache[key] = _poisson_probability(self.counts, self.rates(gens))
        return self._pmf_cache[key]

    def row_weights(
        self, generators: np.ndarray, coarse: int = 0, all_rows: bool = False
    ) -> np.ndarray:
        """Weight of each row per generator: P_g(n) times the row's self-normalised importance
        weight within its count vector.

        Parameters
        ----------
        generators : ndarray
            Parameter points, shape (G, n_pars).
        coarse, all_rows :
            The one-bin grid's options (coarser quadrature levels, pruned rows); they do not apply
            here: every row is a sampled point and none is left out.

        Returns
        -------
        ndarray
            Shape (G, rows); each count vector's rows sum to its probability P_g(n).
        """
        gens = np.atleast_2d(generators)
        inner = self.inner_of[self.stratum]
        log_ratio = np.zeros((len(gens), self.stratum.size))
        for k, term in enumerate(self.lik.aux_terms):
            sampled = inner != k
            x = self.samples[sampled, k]
            for g, pars in enumerate(gens):
                mean = self._mean(term, float(pars[term.par_index]))
                log_p = (
                    stats.norm.logpdf(x, mean, term.scale)
                    if term.kind == "normal"
                    else stats.poisson.logpmf(x, mean)
                )
                log_ratio[g, sampled] += log_p - self.log_proposal[sampled, k]
        # each count vector's own largest ratio as the reference (a global one could underflow a
        # whole vector)
        top = np.full((len(gens), len(self.counts)), -np.inf)
        for g in range(len(gens)):
            np.maximum.at(top[g], self.stratum, log_ratio[g])
        ratio = np.exp(log_ratio - top[:, self.stratum])
        per_vector = np.stack(
            [np.bincount(self.stratum, weights=r, minlength=len(self.counts)) for r in ratio]
        )
        with np.errstate(all="ignore"):
            normalised = np.where(
                per_vector[:, self.stratum] > 0, ratio / per_vector[:, self.stratum], 0.0
            )
        return self.count_probability(gens)[:, self.stratum] * normalised

    def tail_probability(self, generators: np.ndarray) -> np.ndarray:
        """Probability of the count vectors left out, per generator."""
        return np.clip(1.0 - self.count_probability(generators).sum(axis=1), 0.0, 1.0)

    def sampling_influence(
        self, mass: np.ndarray, rows: np.ndarray, keep: np.ndarray
    ) -> np.ndarray | None:
        """Each kept row's centred contribution w_i (m_i - m_bar) to P(q >= t), shape (T, D, G)
        (module docstring): ``mass`` (T, D, G) is the row's probability of q >= t along its inner
        axis, ``rows`` (G, D) the rows' weights and ``keep`` the kept rows' indices. None where
        nothing is sampled.
        """
        if np.all(self.per_vector == 1):
            return None
        strata = self.stratum[keep]
        n_vec = len(self.counts)
        out = np.empty_like(mass)
        for g in range(rows.shape[0]):
            w = rows[g]
            total = np.bincount(strata, weights=w, minlength=n_vec)
            for t in range(mass.shape[0]):
                m = mass[t, :, g]
                with np.errstate(all="ignore"):
                    mean = np.where(
                        total > 0, np.bincount(strata, weights=w * m, minlength=n_vec) / total, 0.0
                    )
                out[t, :, g] = w * (m - mean[strata])
        return out

    # ------------------------------------------------------------------ probabilities
    def statistic(self, q: np.ndarray) -> GridStatistic:
        """The test statistic on this layout, with its interpolants precomputed."""
        return GridStatistic(self, q)

    def probability(
        self, q: np.ndarray, thresholds: np.ndarray, generators: np.ndarray, with_error: bool = True
    ) -> RegionProbability:
        """P_g(q >= t) for each threshold and generator, with the numerical error."""
        return self.statistic(q).probability(thresholds, generators, with_error)
