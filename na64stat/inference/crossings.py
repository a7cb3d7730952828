"""One bracket-then-solve engine for the mu at which decreasing curves fall to a level.

Every upper limit is a set of crossings: the mu at which CLs (observed, and
each expected band) falls to 1 - CL. The search follows the shape of pyhf's
``infer/intervals/upper_limits.py`` ``toms748_scan``: evaluate the curves at
first guesses, widen the range geometrically until each curve is bracketed
(a value above the level next to one at or below it), then refine inside the
bracket until it is narrower than ``rtol`` in ln(mu). All curves share one
set of evaluations (a toy or exact calculator gives the observed and every
band at each mu from one computation), so every new mu serves every curve.

The only part that differs between calculators is the next-point rule
(:class:`NextPoint`):

* :func:`secant_rule`: regula falsi in (ln mu, ln value), bisection when
  the bracket stops halving. Robust on noisy curves (toys).
* :func:`cubic_rule`: the crossing read off a cubic through the four points
  nearest to it in (mu, ln value), converged when two readings agree and the
  last one was at the level. Curves without Monte-Carlo noise (exact
  counting), where ln CLs is close to linear in mu: about 15 evaluations for
  six crossings where a bracketing search per curve needs about 50.
* :func:`scaling_rule`: the next mu scales the nearest point by
  value / level, the fixed point of a curve proportional to 1 / mu (the
  asymptotic ``target / sqrt(q_mu,A)``, with sqrt(q_mu,A) about mu / sigma),
  converged when a value is at the level to ``rtol / 100``; the secant rule
  takes over if it stops converging.

Examples
--------
>>> import numpy as np
>>> rows = lambda mus: np.array([[np.exp(-m), np.exp(-2 * m)] for m in mus])
>>> [round(c.value, 6) for c in find_crossings(rows, [1.0], 0.1, 1e-8, cubic_rule)]
[2.302585, 1.151293]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from na64stat.core.vocabulary import LimitStatus

__all__ = [
    "MU_RANGE",
    "Crossing",
    "CurveSearch",
    "Bracketed",
    "NextPoint",
    "find_crossings",
    "secant_rule",
    "cubic_rule",
    "scaling_rule",
]

#: The range of mu searched; a curve that is not bracketed inside it has status ``no_crossing``.
MU_RANGE: tuple[float, float] = (1e-12, 1e12)

#: Rounds of new evaluations before a curve without a result is given up (``no_crossing``).
MAX_ROUNDS: int = 60

#: Evaluate the curves at several mu: one row of values (one per curve) per mu.
Evaluate = Callable[[list[float]], np.ndarray]


class Crossing(NamedTuple):
    """Where one CLs curve (observed or a band) crosses 1 - CL: the mu found (NaN if none) and its
    status.
    """

    value: float
    status: LimitStatus


@dataclass
class CurveSearch:
    """Where the search of one curve stands.

    ``expansions`` counts the widening steps taken before a bracket was
    found; ``stalls`` the refinements that did not halve the bracket;
    ``width`` is the last bracket's width in ln(mu); ``previous`` the last mu
    a rule asked for; ``result`` the crossing once the curve is done.
    """

    first_step: float = 2.0
    expansions: int = 0
    stalls: int = 0
    width: float = math.inf
    previous: float = math.nan
    result: Crossing | None = None

    def finish(self, mu: float, status: LimitStatus = "ok") -> None:
        """Record the crossing ``mu`` with ``status``."""
        self.result = Crossing(mu, status)

    def expand(self, mus: np.ndarray, up: bool) -> float | None:
        """The next mu outside the evaluated range, or None (``no_crossing``) outside
        :data:`MU_RANGE`.

        The step in ln(mu) doubles at each expansion: factors ``first_step``,
        ``first_step**2``, ``first_step**4``, ... beyond the evaluated range.
        """
        factor = self.first_step ** (2**self.expansions)
        self.expansions += 1
        target = float(mus[-1] * factor if up else mus[0] / factor)
        if not MU_RANGE[0] <= target <= MU_RANGE[1]:
            self.finish(math.nan, "no_crossing")
            return None
        return target


@dataclass(frozen=True)
class Bracketed:
    """One curve's evaluations once it is bracketed, as a rule sees them.

    ``mus`` (sorted) and ``values`` are all its evaluations; ``first_below``
    >= 1 is the index of the first mu at which the value is at or below
    ``level``; the crossing is wanted to ``rtol`` in ln(mu).
    """

    mus: np.ndarray
    values: np.ndarray
    first_below: int
    level: float
    rtol: float


class NextPoint(Protocol):
    """The next mu a bracketed curve needs; None when it is done (``search.result`` set)."""

    def __call__(self, search: CurveSearch, curve: Bracketed) -> float | None:
        """The next mu for ``curve``, or None once ``search.result`` is set."""
        ...


def _log(values: np.ndarray | float) -> np.ndarray:
    """ln of positive curve values (a value of 0 reads as 1e-300)."""
    return np.log(np.maximum(values, 1e-300))


def secant_rule(search: CurveSearch, curve: Bracketed) -> float | None:
    """Regula falsi in (ln mu, ln value) inside the bracket; bisection when it stops halving.

    Once the bracket is narrower than ``rtol`` in ln(mu) the crossing is the
    secant's reading (interpolated in (ln mu, ln value)).
    """
    la, lb = math.log(curve.mus[curve.first_below - 1]), math.log(curve.mus[curve.first_below])
    fa, fb = (float(f) for f in _log(curve.values[curve.first_below - 1 : curve.first_below + 1]))
    target = math.log(curve.level)
    width = lb - la

    def secant() -> float:
        return la if fa == fb else la + (target - fa) * (lb - la) / (fb - fa)

    if width < curve.rtol:
        search.finish(math.exp(min(max(secant(), la), lb)))
        return None
    search.stalls = search.stalls + 1 if width > 0.5 * search.width else 0
    search.width = width
    if search.stalls >= 2 or fa == fb:
        return math.exp(0.5 * (la + lb))
    margin = 0.02 * width
    return math.exp(min(max(secant(), la + margin), lb - margin))


def cubic_reading(mus: np.ndarray, values: np.ndarray, level: float, order: int = 3) -> float:
    """mu where the polynomial (cubic, or ``order``) through the points nearest the crossing
    reaches ln(level), in (mu, ln value); the secant of the bracket where the points are not
    monotonic or the polynomial has no root inside the bracket.
    """
    y = _log(values) - math.log(level)
    first_below = int(np.argmax(y <= 0))
    if first_below == 0:  # not bracketed from below: at or below the level everywhere tested
        return float(mus[0])
    n = order + 1
    lo = max(0, min(first_below - n // 2, mus.size - n))
    sel = slice(lo, min(lo + n, mus.size))
    xs, ys = mus[sel], y[sel]
    a, b = mus[first_below - 1], mus[first_below]
    if xs.size >= 3 and np.all(np.diff(ys) < 0):
        u = (xs - a) / (b - a)  # the bracket is [0, 1]: a well-conditioned interpolation
        try:
            coeffs = np.linalg.solve(np.vander(u, xs.size), ys)
        except np.linalg.LinAlgError:
            coeffs = None
        if coeffs is not None:
            real = [
                a + r.real * (b - a)
                for r in np.roots(coeffs)
                if abs(r.imag) < 1e-9 and -1e-12 <= r.real <= 1 + 1e-12
            ]
            if real:
                return float(real[0])
    fa, fb = y[first_below - 1], y[first_below]
    return float(a + (b - a) * fa / (fa - fb))


def cubic_rule(search: CurveSearch, curve: Bracketed) -> float | None:
    """The cubic's reading of the crossing; its geometric midpoint where readings stop converging.

    Done when the bracket is narrower than ``rtol``; or when the reading
    repeats to ``rtol`` and the curve was at the level (to 1e-3 in ln) at the
    previous reading (a reading across a jump of the curve can repeat without
    being a crossing); or, in a bracket narrower than 0.1, when the cubic and
    the quadratic through at least four points agree to ``rtol / 10`` (a
    smooth curve). Where a reading does not halve the bracket (an expected band jumps where the
    b-only atom at q = 0 passes its quantile, which no interpolant follows), the next point
    is the bracket's geometric midpoint.
    """
    a, b = float(curve.mus[curve.first_below - 1]), float(curve.mus[curve.first_below])
    width = math.log(b / a)
    estimate = cubic_reading(curve.mus, curve.values, curve.level)
    if width < curve.rtol:
        search.finish(estimate)
        return None
    at_previous = np.flatnonzero(curve.mus == search.previous)
    if (
        at_previous.size
        and abs(estimate / search.previous - 1.0) < curve.rtol
        and abs(float(_log(curve.values[at_previous[0]])) - math.log(curve.level)) < 1e-3
    ):
        search.finish(estimate)
        return None
    if (
        curve.mus.size >= 4  # with fewer points both readings are the same secant
        and width < 0.1
        and abs(cubic_reading(curve.mus, curve.values, curve.level, order=2) / estimate - 1.0)
        < 0.1 * curve.rtol
    ):
        search.finish(estimate)
        return None
    if width > 0.5 * search.width or not a < estimate < b:
        estimate = math.sqrt(a * b)  # not converging like a smooth function: bisect
    search.width = width
    search.previous = estimate
    return estimate


def scaling_rule(search: CurveSearch, curve: Bracketed) -> float | None:
    """The nearest point scaled by value / level; done when a value is at the level to ``rtol /
    100``.

    For a curve close to c / mu this is Newton's step in (ln mu, ln value)
    with the slope -1; after 30 steps, or where a step leaves the bracket,
    :func:`secant_rule` takes over.
    """
    distance = np.abs(_log(curve.values) - math.log(curve.level))
    nearest = int(np.argmin(distance))
    if distance[nearest] < 1e-2 * curve.rtol:
        search.finish(float(curve.mus[nearest]))
        return None
    step = float(curve.mus[nearest] * curve.values[nearest] / curve.level)
    search.stalls += 1
    if (
        search.stalls > 30
        or not curve.mus[curve.first_below - 1] < step < curve.mus[curve.first_below]
    ):
        search.stalls = 0
        return secant_rule(search, curve)
    return step


def _advance(
    search: CurveSearch,
    mus: np.ndarray,
    values: np.ndarray,
    level: float,
    rtol: float,
    rule: NextPoint,
) -> float | None:
    """The next mu one curve needs (None: done): widen the range until bracketed, then ``rule``."""
    if not np.all(np.isfinite(values)):
        search.finish(math.nan, "fit_failure")
        return None
    below = values <= level
    if below.all() or not below.any():  # not bracketed: widen towards the crossing
        return search.expand(mus, up=not below.any())
    first_below = int(np.argmax(below))
    if first_below == 0:  # at or below the level at the smallest mu, above further up: go down
        return float(mus[0] / 2.0)
    return rule(search, Bracketed(mus, values, first_below, level, rtol))


def find_crossings(
    evaluate: Evaluate,
    starts: Sequence[float],
    level: float,
    rtol: float,
    rule: NextPoint,
    first_step: float = 2.0,
) -> list[Crossing]:
    """Where each curve that ``evaluate`` returns falls to ``level``, refined to ``rtol`` in ln(mu).

    Parameters
    ----------
    evaluate
        Maps a list of mu to an array of shape (len(mus), n_curves): the
        curves' values there (each decreasing in mu, e.g. CLs).
    starts
        The mu evaluated first (first guesses of the crossings); those outside
        :data:`MU_RANGE` are skipped.
    level
        The value each curve must fall to (e.g. 1 - CL), > 0.
    rtol
        Width of the final bracket in ln(mu) (relative precision of the crossings).
    rule
        The next-point rule inside a bracket (:func:`secant_rule`,
        :func:`cubic_rule` or :func:`scaling_rule`).
    first_step
        Factor of the first widening step beyond the evaluated range (then
        its square, its fourth power, ...).

    Returns
    -------
    list of Crossing
        One per curve: ``ok``, ``no_crossing`` (not bracketed inside
        :data:`MU_RANGE`, or not resolved in :data:`MAX_ROUNDS` rounds) or
        ``fit_failure`` (a non-finite value).
    """
    points: dict[float, np.ndarray] = {}

    def add(mus: Sequence[float]) -> None:
        new = sorted({m for m in mus if m not in points and MU_RANGE[0] <= m <= MU_RANGE[1]})
        if new:
            points.update(zip(new, np.asarray(evaluate(new), dtype=float)))

    add([float(m) for m in starts if math.isfinite(m) and m > 0] or [1.0])
    searches: list[CurveSearch] = []
    for _ in range(MAX_ROUNDS):
        mus = np.array(sorted(points))
        values = np.array([points[m] for m in mus])
        if not searches:
            searches = [CurveSearch(first_step) for _ in range(values.shape[1])]
        new = [
            mu
            for c, search in enumerate(searches)
            if search.result is None
            and (mu := _advance(search, mus, values[:, c], level, rtol, rule)) is not None
        ]
        if not new:
            break
        add(new)
    return [
        s.result if s.result is not None else Crossing(math.nan, "no_crossing") for s in searches
    ]
