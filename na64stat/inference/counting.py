"""The data space of a single-bin model, and P(q >= t) over it without toys.

A single-bin model's data are the main count n (Poisson) and one auxiliary
measurement per constrained nuisance parameter: Poisson counts (shapesys) or
Gaussian values (normsys, histosys, lumi, staterror). The probability that a
test statistic q(n, a) reaches a threshold t under a generator theta_g is

    P_g(q >= t) = sum_n Pois(n; lambda_g) sum/int_a p_g(a) 1[q(n, a) >= t].

:class:`CountingGrid` lays out the data space:

* discrete axes (n, Poisson aux with a mean up to :data:`MAX_POISSON_MEAN`)
  are summed exactly over their central 1 - 1e-9 (n: up to a 1e-12 tail);
* one continuous axis, the *inner* one (the Gaussian measurement with the
  largest effect on the expected count), is integrated exactly: q is known
  on a fine uniform grid, the crossings of q = t between grid points are
  located on the local cubic interpolant, and the Gaussian probability of
  every interval where q >= t is a difference of normal CDFs. This is what a
  fixed quadrature rule cannot do: the integrand is a step function;
* further continuous axes are summed with the trapezoid rule over uniform
  nodes (their integrand, the inner probability, is a smooth function of them).
  Poisson aux measurements with a larger mean are treated as continuous with
  their normal approximation (skewness below 1/sqrt(MAX_POISSON_MEAN) = 5%
  of a sigma; it is said in the result notes).

Every probability comes with a numerical error, from the same sums on the
grids with twice and four times the spacing (subsets of the fine grid, so no
extra fits): with d1 = ``|P(h) - P(2h)|``, d2 = ``|P(2h) - P(4h)|`` and r = d2 / d1,
the error of P(h) is d1 / (r - 1) (Aitken's estimate for geometric
convergence), or d1 where the sums do not converge clearly (r < 2);
``tests/inference/test_limit_edges.py`` checks it against a grid four times finer.

The grid is independent of t, so q is computed once per tested mu (one
batched free and one conditional fit per grid point), and P(q >= t) for any
number of thresholds and both generators costs array operations only.

See the physics reference (docs/physics.rst, sections "Statistics", "CLs"
(exact counting)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from scipy import special, stats

from na64stat.core.errors import InputError

if TYPE_CHECKING:
    from na64stat.inference.likelihood import Likelihood

__all__ = [
    "MAX_GRID",
    "MAX_POISSON_MEAN",
    "Axis",
    "CountingGrid",
    "DataSpace",
    "GridStatistic",
    "RegionProbability",
    "uniform_nodes",
]

#: Largest number of data points (grid nodes) one tested mu may need.
MAX_GRID: int = 4_000_000
#: Poisson auxiliary measurements with a larger mean are integrated with their normal approximation.
MAX_POISSON_MEAN: float = 400.0
_OUTER_STEP, _INNER_STEP, _HALF_WIDTH = 1.0, 0.5, 8.5  # in units of the axis' smallest sigma
_MAIN_TAIL, _AUX_TAIL, _PRUNE = 1e-12, 5e-10, 1e-14


@dataclass(frozen=True)
class Axis:
    """One axis of the data space.

    Attributes
    ----------
    column:
        Data column (0: the main count, 1 + k: auxiliary measurement k).
    nodes:
        Values on the axis (integers for discrete axes, a uniform grid for continuous ones).
    kind:
        ``"main"`` (Poisson count of the bin), ``"poisson"`` (Poisson aux), ``"normal"``
        (Gaussian aux) or ``"poisson_normal"`` (Poisson aux in its normal approximation).
    par_index, scale:
        The constrained parameter and sigma (normal) or the Poisson factor tau.
    """

    column: int
    nodes: np.ndarray
    kind: str
    par_index: int = -1
    scale: float = 1.0

    @property
    def continuous(self) -> bool:
        """Whether the axis is a continuous measurement."""
        return self.kind in ("normal", "poisson_normal")

    def coarse(self, level: int = 1) -> np.ndarray:
        """Nodes kept in the grid with 2**level times the spacing (a discrete axis keeps all)."""
        mask = np.ones(self.nodes.size, dtype=bool)
        if self.continuous:
            mask[:] = False
            mask[:: 2**level] = True
        return mask

    def normal(self, pars: np.ndarray) -> tuple[float, float]:
        """(centre, sigma) of a continuous axis under the generator ``pars``."""
        if self.kind == "normal":
            return float(pars[self.par_index]), self.scale
        mean = max(float(pars[self.par_index]) * self.scale, 0.0)
        return mean, math.sqrt(max(mean, 1.0))

    def weights(self, pars: np.ndarray, rate: float) -> np.ndarray:
        """Probability of each node under the generator (continuous: density times spacing)."""
        if self.kind == "main":
            return stats.poisson.pmf(self.nodes, rate)
        if self.kind == "poisson":
            return stats.poisson.pmf(self.nodes, float(pars[self.par_index]) * self.scale)
        centre, sigma = self.normal(pars)
        return stats.norm.pdf(self.nodes, centre, sigma) * (self.nodes[1] - self.nodes[0])


class DataSpace(Protocol):
    """What :class:`GridStatistic` needs of a data space: rows of data points (each row a line along
    the inner axis, or one point), their weights per generator, and what the layout leaves out or
    samples. Implemented by :class:`CountingGrid` (one bin) and
    :class:`~na64stat.inference.joint.JointGrid`.
    """

    shape: tuple[int, ...]
    #: the inner axes and, for each, the rows (a mask over the rows) that lie along it
    inner_groups: list[tuple[Axis, np.ndarray]]

    def row_weights(
        self, generators: np.ndarray, coarse: int = 0, all_rows: bool = False
    ) -> np.ndarray:
        """Probability weights of the outcome rows under each generator."""
        ...

    def tail_probability(self, generators: np.ndarray) -> np.ndarray:
        """Per generator, the probability of the outcomes left out."""
        ...

    def sampling_influence(
        self, mass: np.ndarray, rows: np.ndarray, keep: np.ndarray
    ) -> np.ndarray | None:
        """Per-point influences of sampled rows on a probability (None: no sampling)."""
        ...


@dataclass(frozen=True)
class RegionProbability:
    """P_g(q >= t) for thresholds t: shape (T, G) for G generators, with its numerical error.

    Attributes
    ----------
    value, error:
        The probabilities and their numerical error (quadrature, sampling and the probability left
        out).
    quadrature:
        The part of the error that is not from sampling (equal to ``error`` without sampled rows).
    influence:
        Sampled layouts only: each sampled row's centred contribution to the value, shape (T, D, G),
        whose squares sum to the sampling variance; ratios of probabilities over the same rows (CLs)
        take their sampling error from it, with the correlation between numerator and denominator.
    """

    value: np.ndarray
    error: np.ndarray
    quadrature: np.ndarray | None = None
    influence: np.ndarray | None = None


def uniform_nodes(lo: float, hi: float, width: float) -> np.ndarray:
    """Uniform nodes spanning [lo, hi] at spacing ``width``, 4k + 1 of them (both coarser grids keep
    the ends).

    >>> uniform_nodes(-1.0, 1.0, 0.5).tolist()
    [-1.0, -0.5, 0.0, 0.5, 1.0]
    """
    half = 2 * max(
        math.ceil((hi - lo) / (4.0 * width)), 1
    )  # 4k + 1 nodes: both coarser grids keep the ends
    return 0.5 * (lo + hi) + width * np.arange(-half, half + 1)


class CountingGrid:
    """The data space of a single-bin likelihood, laid out to cover several generators (module
    docstring).

    Parameters
    ----------
    lik:
        The single-bin :class:`~na64stat.inference.likelihood.Likelihood`.
    generators:
        Parameter points the grid must serve, shape (G, n_pars).
    rate_margin:
        The main count covers rates up to this factor above the largest
        generator's, so that nearby tested mu reuse the grid.
    """

    def __init__(self, lik: Likelihood, generators: np.ndarray, rate_margin: float = 1.0) -> None:
        if lik.n_main != 1:
            raise InputError(
                f"exact counting needs a single-bin model, this one has {lik.n_main} bins"
            )
        self.lik = lik
        gens = np.atleast_2d(generators)
        rates = self.rates(gens)
        self.notes: list[str] = []
        n_max = int(stats.poisson.isf(_MAIN_TAIL, float(rates.max()) * rate_margin)) + 2
        discrete = [Axis(0, np.arange(n_max + 1, dtype=float), "main")]
        continuous: list[Axis] = []
        influence: list[float] = []
        slopes = np.max(
            np.abs([self._slopes(g) for g in gens]), axis=0
        )  # the POI's reach at any generator
        for k, term in enumerate(lik.aux_terms):
            kind = "normal" if term.kind == "normal" else "poisson"
            if kind == "poisson":
                means = gens[:, term.par_index] * term.scale
                if means.max() <= MAX_POISSON_MEAN:
                    lo = int(stats.poisson.ppf(_AUX_TAIL, max(means.min(), 0.0)))
                    hi = int(stats.poisson.isf(_AUX_TAIL, means.max())) + 2
                    discrete.append(
                        Axis(
                            1 + k,
                            np.arange(lo, hi + 1, dtype=float),
                            kind,
                            term.par_index,
                            term.scale,
                        )
                    )
                    continue
                kind = "poisson_normal"
                self.notes.append(f"poisson_aux_normal_approximation (mean {means.max():.3g})")
            axis = Axis(1 + k, np.zeros(0), kind, term.par_index, term.scale)
            centres, sigmas = zip(*(axis.normal(g) for g in gens))
            lo, hi = (
                min(centres) - _HALF_WIDTH * max(sigmas),
                max(centres) + _HALF_WIDTH * max(sigmas),
            )
            continuous.append(
                Axis(
                    1 + k,
                    uniform_nodes(lo, hi, min(sigmas) * _OUTER_STEP),
                    kind,
                    term.par_index,
                    term.scale,
                )
            )
            influence.append(
                abs(slopes[term.par_index])
                * max(sigmas)
                / (term.scale if kind != "normal" else 1.0)
            )
        self.inner: Axis | None = None
        if continuous:
            chosen = continuous.pop(int(np.argmax(influence)))
            lo, hi = chosen.nodes[0], chosen.nodes[-1]
            step = (chosen.nodes[1] - chosen.nodes[0]) * _INNER_STEP / _OUTER_STEP
            self.inner = Axis(
                chosen.column,
                uniform_nodes(lo, hi, step),
                chosen.kind,
                chosen.par_index,
                chosen.scale,
            )
        self.outer: list[Axis] = discrete + continuous
        self.inner_groups: list[tuple[Axis, np.ndarray]] = []
        self.shape = tuple(a.nodes.size for a in self.outer) + (
            (self.inner.nodes.size,) if self.inner else (1,)
        )
        # outer rows (combinations of counts and outer measurements) that no generator of the layout
        # reaches with probability above _PRUNE are not fitted; their probability under the tested
        # generators is added to the numerical error
        self._weights_cache: dict[tuple[bytes, int, bool], np.ndarray] = {}
        self.active = self.row_weights(gens, 0, all_rows=True).max(axis=0) > _PRUNE
        if self.inner is not None:
            self.inner_groups = [(self.inner, np.ones(int(self.active.sum()), dtype=bool))]
        if self.size > MAX_GRID:
            raise InputError(
                f"exact counting would need {self.size} data points ({len(lik.aux_terms)} "
                "auxiliary "
                f"measurements, largest expected count {float(rates.max()):.3g}); use toys or "
                "asymptotic"
            )

    def rates(self, generators: np.ndarray) -> np.ndarray:
        """Expected main count under each generator."""
        return self.lik.expected_data(np.atleast_2d(generators), include_auxdata=False)[:, 0]

    def _slopes(self, pars: np.ndarray) -> np.ndarray:
        """d lambda / d theta at ``pars`` (closed form where available, else finite differences)."""
        lik = self.lik
        if lik.closed_form is not None:
            return lik.closed_form.rate(pars[None, :], order=1)[1][0]
        base = self.rates(pars)[0]
        return (self.rates(pars[None, :] + np.eye(lik.n_pars) * 1e-4) - base) / 1e-4

    def covers(self, generators: np.ndarray) -> bool:
        """Whether the grid holds all but a negligible tail of each generator's data."""
        gens = np.atleast_2d(generators)
        if (
            stats.poisson.isf(_MAIN_TAIL, float(self.rates(gens).max())) + 2
            > self.outer[0].nodes[-1]
        ):
            return False
        for axis in self.outer[1:] + ([self.inner] if self.inner else []):
            for g in gens:
                if axis.continuous:
                    centre, sigma = axis.normal(g)
                    reach = (_HALF_WIDTH - 0.5) * sigma
                    if centre - reach < axis.nodes[0] or centre + reach > axis.nodes[-1]:
                        return False
                else:
                    mean = float(g[axis.par_index]) * axis.scale
                    if (
                        stats.poisson.ppf(_AUX_TAIL, mean) < axis.nodes[0]
                        or stats.poisson.isf(_AUX_TAIL, mean) > axis.nodes[-1]
                    ):
                        return False
        return True

    @property
    def size(self) -> int:
        """Number of data points that are fitted."""
        return int(self.active.sum()) * self.shape[-1]

    def datasets(self, observed: np.ndarray) -> np.ndarray:
        """All data points, shape (size, n_data); columns not on an axis keep their observed
        value.
        """
        axes = self.outer + ([self.inner] if self.inner else [])
        mesh = np.meshgrid(*[a.nodes for a in axes], indexing="ij")
        keep = np.repeat(self.active, self.shape[-1])
        data = np.repeat(np.asarray(observed, dtype=float)[None, :], int(keep.sum()), axis=0)
        for axis, values in zip(axes, mesh):
            data[:, axis.column] = values.ravel()[keep]
        return data

    def outcomes(self, observed: np.ndarray) -> np.ndarray:
        """Every main count n of the grid with the auxiliary measurements as observed, shape (N,
        n_data): the outcomes whose b-only distribution defines the expected bands.
        """
        counts = self.outer[0].nodes
        data = np.repeat(np.asarray(observed, dtype=float)[None, :], counts.size, axis=0)
        data[:, 0] = counts
        return data

    def count_probability(self, generators: np.ndarray) -> np.ndarray:
        """P_g(n) of every main count of :meth:`outcomes`, shape (G, N)."""
        rates = self.rates(np.atleast_2d(generators))
        return stats.poisson.pmf(self.outer[0].nodes[None, :], rates[:, None])

    def row_weights(
        self, generators: np.ndarray, coarse: int = 0, all_rows: bool = False
    ) -> np.ndarray:
        """Weights of the (active) outer rows per generator, shape (G, rows); ``coarse`` = level:
        every 2**level-th continuous node, its weight x 2**level.
        """
        key = (np.asarray(generators, dtype=float).tobytes(), coarse, all_rows)
        cache = self._weights_cache
        if key not in cache:
            rates = self.rates(generators)
            out = np.ones((len(generators), 1))
            for axis in self.outer:
                w = np.stack([axis.weights(g, r) for g, r in zip(generators, rates)])
                if coarse and axis.continuous:
                    w = np.where(axis.coarse(coarse), 2.0**coarse * w, 0.0)
                out = (out[:, :, None] * w[:, None, :]).reshape(len(generators), -1)
            if len(cache) > 64:
                cache.clear()
            cache[key] = out if all_rows else out[:, self.active]
        return cache[key]

    def tail_probability(self, generators: np.ndarray) -> np.ndarray:
        """Probability of the data points left out (rows no generator of the layout reaches), per
        generator.
        """
        return self.row_weights(generators, 0, all_rows=True)[:, ~self.active].sum(axis=1)

    def sampling_influence(
        self, mass: np.ndarray, rows: np.ndarray, keep: np.ndarray
    ) -> np.ndarray | None:
        """Each sampled row's centred contribution to P(q >= t): None here (every row is a
        quadrature node).
        """
        return None

    def probability(
        self, q: np.ndarray, thresholds: np.ndarray, generators: np.ndarray, with_error: bool = True
    ) -> RegionProbability:
        """P_g(q >= t) for each threshold (array (T,)) and generator, with the numerical error.

        ``q`` holds the test statistic at every fitted data point (NaN where a
        fit failed: such points never count as q >= t; the caller bounds their
        probability). For many calls on the same ``q`` use :meth:`statistic`.
        """
        return self.statistic(q).probability(thresholds, generators, with_error)

    def statistic(self, q: np.ndarray) -> GridStatistic:
        """The test statistic on this grid, with its interpolants precomputed."""
        return GridStatistic(self, q)


#: Inverse Vandermonde matrices of the cubic through four nodes at the offsets below (units of the
#: spacing, relative to the left end of the interval): interior, first and last interval.
_STENCILS = {
    offset: np.linalg.inv(np.vander(np.arange(4.0) + offset, 4, increasing=True))
    for offset in (-1.0, 0.0, -2.0)
}


class GridStatistic:
    """q on a :class:`CountingGrid`, ready for P(q >= t) at any threshold and generator."""

    def __init__(self, grid: DataSpace, q: np.ndarray) -> None:
        self.grid = grid
        self.q = q.reshape(-1, grid.shape[-1])
        self._cubics: dict[int, np.ndarray] = {}

    def _cubic(self, level: int) -> np.ndarray:
        """Interpolants on the grid of spacing 2**level (made when first needed: the coarse ones
        only for the error estimate).
        """
        if level not in self._cubics:
            self._cubics[level] = _cubic_coefficients(self.q[:, :: 2**level])
        return self._cubics[level]

    def probability(
        self, thresholds: np.ndarray, generators: np.ndarray, with_error: bool = True
    ) -> RegionProbability:
        """P_g(q >= t), shape (T, G), and its numerical error (module docstring)."""
        grid = self.grid
        t = np.atleast_1d(np.asarray(thresholds, dtype=float))
        gens = np.atleast_2d(generators)
        mass, rows, keep = self._row_mass(t, gens, 0)
        fine = np.einsum("tdg,gd->tg", mass, rows)
        if not with_error:
            return RegionProbability(fine, np.zeros_like(fine))
        half = self._probability(t, gens, 1)  # twice the spacing, then four times
        d1 = np.abs(fine - half)
        d2 = np.abs(half - self._probability(t, gens, 2))
        skipped = grid.tail_probability(gens)
        influence = grid.sampling_influence(mass, rows, keep)
        sampled = (
            np.zeros_like(fine) if influence is None else np.sqrt(np.sum(influence**2, axis=1))
        )
        # Aitken: with a geometric convergence ratio r = d2 / d1 per halving, the fine sum is off by
        # d1 / (r - 1); without clear convergence (r < 2) by d1 itself
        with np.errstate(all="ignore"):
            ratio = np.where(d1 > 0, d2 / d1, np.inf)
        with np.errstate(all="ignore"):
            error = np.where(ratio >= 2.0, d1 / (ratio - 1.0), d1)
        quadrature = np.maximum(error, 1e-15) + skipped[None, :]
        return RegionProbability(
            fine,
            np.hypot(np.maximum(error, 1e-15), sampled) + skipped[None, :],
            quadrature,
            influence,
        )

    def _probability(self, t: np.ndarray, gens: np.ndarray, coarse: int) -> np.ndarray:
        mass, rows, _ = self._row_mass(t, gens, coarse)
        return np.einsum("tdg,gd->tg", mass, rows)

    def _row_mass(
        self, t: np.ndarray, gens: np.ndarray, coarse: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per threshold, row and generator the probability of q >= t along the row's inner axis (T,
        D, G; 0 or 1 without one), the rows' weights (G, D) and the indices of the rows kept (weight
        > 0).
        """
        grid = self.grid
        rows = grid.row_weights(gens, coarse)  # (G, D)
        keep = np.flatnonzero(rows.sum(axis=0) > 1e-300)
        rows = rows[:, keep]
        if not grid.inner_groups:
            hit = self.q[None, keep, 0] >= t[:, None] - 1e-9 * (1.0 + np.abs(t[:, None]))  # (T, D)
            return np.repeat(hit.astype(float)[:, :, None], len(gens), axis=2), rows, keep
        cols = slice(None, None, 2**coarse)
        cubic = self._cubic(coarse)
        mass = np.zeros((t.size, keep.size, len(gens)))
        for axis, members in grid.inner_groups:
            sel = np.flatnonzero(members[keep])
            if sel.size == 0:
                continue
            idx = keep[sel]
            x = axis.nodes[cols]
            normals = [axis.normal(g) for g in gens]
            cdf = np.stack([special.ndtr((x - c) / s) for c, s in normals], axis=1)  # (I, G)
            mass[:, sel] = _inner_mass(self.q[idx][:, cols], cubic[idx], x, t, cdf, normals)
        return mass, rows, keep


def _cubic_coefficients(q: np.ndarray) -> np.ndarray:
    """Per interval [x_i, x_i+1] of every row, the cubic through four neighbouring nodes (D, I-1,
    4), in u = (x - x_i) / h; NaN where a node is NaN (a failed fit).
    """
    d, n = q.shape
    out = np.full((d, max(n - 1, 0), 4), np.nan)
    if n < 4:
        if n >= 2:  # linear
            out[:, :, 0], out[:, :, 1], out[:, :, 2:] = q[:, :-1], q[:, 1:] - q[:, :-1], 0.0
        return out
    windows = np.lib.stride_tricks.sliding_window_view(q, 4, axis=1)  # (D, n-3, 4): nodes j..j+3
    out[:, 1 : n - 2] = windows[:, : n - 3] @ _STENCILS[-1.0].T
    out[:, 0] = windows[:, 0] @ _STENCILS[0.0].T
    out[:, n - 2] = windows[:, -1] @ _STENCILS[-2.0].T
    return out


def _inner_mass(
    q: np.ndarray,
    cubic: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    cdf: np.ndarray,
    normals: list[tuple[float, float]],
) -> np.ndarray:
    """Per threshold, outer row and generator, the normal probability of {x: q(x) >= t} on the inner
    axis.

    Values within 1e-9 (relative) of t count as reaching it, as for discrete counts: a q that is
    constant along the axis at exactly t (an atom of its distribution) is inside, not split by
    round-off.
    """
    t = t - 1e-9 * (1.0 + np.abs(t))
    inside = q[None, :, :] >= t[:, None, None]  # (T, D, I); NaN: False
    both = (inside[:, :, :-1] & inside[:, :, 1:]).astype(float)
    mass = both @ np.diff(cdf, axis=0)  # (T, D, G)
    mass += inside[:, :, :1] * cdf[0] + inside[:, :, -1:] * (1.0 - cdf[-1])
    ts, rows, cols = np.nonzero(inside[:, :, :-1] != inside[:, :, 1:])
    if rows.size:
        valid = np.isfinite(q[rows, cols]) & np.isfinite(q[rows, cols + 1])
        ts, rows, cols = ts[valid], rows[valid], cols[valid]
        root = _cubic_crossing(q, cubic, x, rows, cols, t[ts])
        at_root = np.stack([special.ndtr((root - c) / s) for c, s in normals], axis=1)
        left = inside[ts, rows, cols][:, None]
        piece = np.where(left, at_root - cdf[cols], cdf[cols + 1] - at_root)
        np.add.at(mass, (ts, rows), piece)
    return mass


def _cubic_crossing(
    q: np.ndarray,
    cubic: np.ndarray,
    x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """The root of the interval's cubic minus t (one threshold per interval) inside [x_i, x_i+1].

    The cubic equals q - t at the two ends, which have opposite signs, so a
    root lies between them; Newton steps safeguarded by bisection find it
    (to ~1e-12 of the spacing). Intervals whose stencil touches a failed fit
    use the linear interpolant between their two (finite) ends.
    """
    h = x[1] - x[0]
    f0, f1 = q[rows, cols] - t, q[rows, cols + 1] - t
    linear = f0 / (f0 - f1)
    c = cubic[rows, cols]
    finite = np.isfinite(c).all(axis=1)
    c = np.where(finite[:, None], c, 0.0)
    c0 = c[:, 0] - t
    lo, hi = np.zeros(rows.size), np.ones(rows.size)
    sign_lo = np.sign(f0)
    u = linear.copy()
    for _ in range(12):
        value = c0 + u * (c[:, 1] + u * (c[:, 2] + u * c[:, 3]))
        slope = c[:, 1] + u * (2.0 * c[:, 2] + 3.0 * u * c[:, 3])
        same = np.sign(value) == sign_lo
        lo, hi = np.where(same, u, lo), np.where(same, hi, u)
        with np.errstate(all="ignore"):
            newton = u - value / slope
        u_new = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
        step = np.abs(u_new - u).max() if u.size else 0.0
        u = u_new
        if step < 1e-9:
            break
    return x[cols] + h * np.where(finite, u, linear)
