"""CLs upper limits on the signal strength mu: observed and the expected band.

The search works in ln(mu), so limits anywhere between 1e-12 and 1e12 are
found (couplings squared span decades); the bracket expands itself from a
starting point, and each of the six crossings (observed, -2..+2 sigma) gets
its own status instead of one exception losing the rest:

* ``ok`` - CLs crosses 1 - CL inside the search range;
* ``no_crossing`` - it does not (the value is NaN);
* ``fit_failure`` - a fit failed where the crossing had to be evaluated;
* ``low_toy_statistics`` - toys reached their cap before the CLs error at the
  crossing met ``cls_accuracy`` (the value is the best estimate, with its error);
* ``approximate`` - asymptotic formulae where a signal bin expects fewer than
  :data:`SMALL_COUNT` background events (``auto`` fell back to them because
  exact counting and toys exceed the budget): at such counts they are known
  to be too strong (~1.6 instead of 2.303 events at n = 0, b = 0.5).

Every limit carries an error (the CLs error at the crossing over the slope of
CLs there), the reason for its method and notes (e.g. a widened POI bound:
the declared upper bound never clips a free fit or a crossing).

Asymptotic expected limits use that the n-sigma expected CLs depends on
sqrt(q_mu,A) alone: the crossing is where sqrt(q_mu,A) equals a known target,
found with a handful of Asimov fits. Toys and exact counting reuse every CLs
evaluation for all six crossings; exact counting reads them off cubics in
(mu, ln CLs), since its CLs has no Monte-Carlo noise.

``method="auto"`` (:func:`plan_method`) uses exact counting for counting
models (one bin, or a combination of up to
:data:`~na64stat.inference.singlebin.MAX_BINS` one-bin channels) with less
than 100 expected background events per bin, toys for other models
whenever the expected background of a signal bin is below
:data:`SMALL_COUNT`, where asymptotic formulae are wrong (they give ~1.6
instead of 2.303 events at n = 0, b = 0.5), and asymptotic otherwise; it
estimates each method's cost from a timed batch of fits and falls back
(exact -> toys -> asymptotic) when the estimate exceeds the budget, saying
so in ``method_reason`` (and, for asymptotic formulae at small counts, in
the status: ``approximate``).

See the physics reference (docs/physics.rst, sections "Statistics", "CLs" and
"Choosing the method").

Examples
--------
>>> import pyhf
>>> spec = {"channels": [{"name": "box", "samples": [
...     {"name": "sig", "data": [1.0],
...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
...     {"name": "bkg", "data": [0.5], "modifiers": []}]}]}
>>> model = pyhf.Model(spec, poi_name="mu")
>>> lim = upper_limit(model, [0.0])
>>> lim.method, round(lim.observed, 3), [round(v, 3) for v in lim.expected]
('exact', 2.303, [2.303, 2.303, 2.303, 3.508, 4.843])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, cast

import numpy as np
import pyhf
from numpy.typing import ArrayLike
from scipy import special

from na64stat.core.errors import InputError
from na64stat.core.vocabulary import BAND_NAMES, METHODS, LimitStatus, Method
from na64stat.inference.calculators import (
    N_SIGMAS,
    AsymptoticCalculator,
    Calculator,
    ExactCalculator,
    ToyCalculator,
)
from na64stat.inference.crossings import (
    MU_RANGE,
    Crossing,
    cubic_rule,
    find_crossings,
    scaling_rule,
    secant_rule,
)
from na64stat.inference.likelihood import MAX_NEWTON_PARAMETERS, Likelihood
from na64stat.inference.singlebin import MAX_BINS

__all__ = [
    "SMALL_COUNT",
    "METHODS",
    "UpperLimit",
    "MethodChoice",
    "plan_method",
    "choose_method",
    "upper_limit",
    "limit_from_calculator",
]

#: Expected background per bin below which asymptotic formulae are not trusted.
SMALL_COUNT: float = 10.0
_MU_MAX = MU_RANGE[1]


@dataclass(frozen=True)
class UpperLimit:
    """An upper limit on mu at one confidence level.

    Attributes
    ----------
    observed, status_observed:
        Observed limit and its status.
    expected, status_expected:
        Expected limits for the -2, -1, 0, +1, +2 sigma bands and their statuses.
    method:
        ``"asymptotic"``, ``"toys"`` or ``"exact"`` (what was used, also under ``auto``).
    confidence_level:
        E.g. 0.90 (CLs = 0.10 at the limit).
    n_toys, seed:
        Toy settings (None unless toys were used).
    n_evaluations:
        CLs evaluations the search needed.
    n_failed_fits:
        Fits that failed along the way (toys: distinct failed toys, excluded; exact: grid points).
    observed_error, expected_error:
        Uncertainty of each limit from the Monte-Carlo (toys) or numerical (exact) error of CLs at
        the crossing, divided by the slope of CLs there (0 for asymptotic).
    method_reason:
        Why this method was used (``auto``'s choice with its cost estimate, or "requested").
    notes:
        Anything the user should know, e.g. a widened POI bound.
    """

    observed: float
    expected: tuple[float, ...]
    status_observed: LimitStatus
    status_expected: tuple[LimitStatus, ...]
    method: Method
    confidence_level: float
    n_toys: int | None = None
    seed: int | None = None
    n_evaluations: int = 0
    n_failed_fits: int = 0
    observed_error: float = 0.0
    expected_error: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    method_reason: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN stays NaN; use :func:`na64stat.core.io.to_jsonable` to write)."""
        out = asdict(self)
        out["expected"] = dict(zip(BAND_NAMES, self.expected))
        out["status_expected"] = dict(zip(BAND_NAMES, self.status_expected))
        out["expected_error"] = dict(zip(BAND_NAMES, self.expected_error))
        out["notes"] = list(self.notes)
        return out


class MethodChoice(NamedTuple):
    """What ``auto`` chose, why, and what it expected the calculation to cost (seconds);
    ``approximate``: asymptotic formulae at small counts, a fallback whose limits carry the status
    ``approximate``.
    """

    method: Method
    reason: str
    estimated_seconds: float
    approximate: bool = False


#: CLs evaluations a limit search typically needs (toys: bracketing; exact: smooth readings).
_EVALUATIONS = {"toys": 25, "exact": 16}


def _seconds_per_fit(lik: Likelihood) -> float:
    """Measured cost of one fit of one dataset in a batch of 2048 (the batched fitter amortises its
    overhead: toys and exact counting fit thousands of datasets at once; a batch of 256 overstated
    it 4-8 times).
    """
    batch = (
        2048
        if lik.closed_form_nll is not None or np.count_nonzero(~lik.fixed) <= MAX_NEWTON_PARAMETERS
        else 2
    )
    data = np.repeat(lik.data[None, :], batch, axis=0)
    start = time.perf_counter()
    lik.fit(data)
    return (time.perf_counter() - start) / batch


def plan_method(
    likelihood: Likelihood,
    n_toys: int = 10_000,
    budget_s: float = 600.0,
    max_toys: int | None = None,
) -> MethodChoice:
    """The method ``auto`` uses, with the reason and the estimated cost (module docstring).

    Exact counting for single-bin models with an expected background below
    100 events, toys for other models with a signal bin below
    :data:`SMALL_COUNT` expected background events, asymptotic otherwise;
    a method whose estimated cost exceeds ``budget_s`` gives way to the next
    one (exact -> toys -> asymptotic), and the reason says so. Toys are
    costed at ``max_toys`` (default 8 ``n_toys``), the most the adaptive
    search adds to reach its CLs accuracy: a two-bin NA64e + NA64mu
    combination at n = 0 needs all of them. Without a budget (``math.inf``) nothing is timed: every
    method fits, and the estimate is nan.
    """
    lik = likelihood
    pars = np.repeat(lik.init[None, :], 2, axis=0)
    pars[:, lik.poi_index] = (0.0, 1.0)
    background, with_signal = lik.expected_data(pars, include_auxdata=False)
    signal_bins = np.abs(with_signal - background) > 0  # bins where the POI changes the expectation
    small = float(np.min(background[signal_bins])) if np.any(signal_bins) else math.inf
    # timing a batch of fits costs seconds for a many-bin model; without a budget it decides nothing
    per_fit = _seconds_per_fit(lik) if math.isfinite(budget_s) else math.nan
    most_toys = max_toys if max_toys is not None else 8 * n_toys
    toy_cost = (
        per_fit * 2 * 2 * most_toys * _EVALUATIONS["toys"]
    )  # s+b and b-only toys, two fits each
    skipped: list[str] = []
    if lik.n_main <= MAX_BINS and float(np.max(background)) < SMALL_COUNT * 10:
        try:
            exact_cost = per_fit * 2 * ExactCalculator.grid_size(lik) * _EVALUATIONS["exact"]
        except InputError as exc:
            skipped.append(f"exact not applicable ({exc})")
        else:
            if not exact_cost > budget_s:  # nan (no budget) fits
                # the reason names no timing (it is written into result files, which must not change
                # from run
                # to run); the estimate stays in estimated_seconds
                return MethodChoice(
                    "exact",
                    f"{_counting_words(background)}: exact counting within the budget "
                    f"({budget_s:g} s)",
                    exact_cost,
                )
            skipped.append(f"exact estimated {exact_cost:.2g} s > budget {budget_s:g} s")
    if small < SMALL_COUNT or skipped:
        if not toy_cost > budget_s:
            why = (
                f"background {small:.3g} < {SMALL_COUNT:g} events in a signal bin"
                if small < SMALL_COUNT
                else "small counts"
            )
            plan = f"{why}: {n_toys} toys (up to {most_toys}) within the budget ({budget_s:g} s)"
            return MethodChoice("toys", "; ".join([*skipped, plan]), toy_cost)
        skipped.append(f"toys estimated {toy_cost:.2g} s > budget {budget_s:g} s")
        why = "; ".join(
            [
                *skipped,
                f"asymptotic formulae at small counts (background {small:.3g}) are approximate",
            ]
        )
        return MethodChoice("asymptotic", why, 0.0, approximate=small < SMALL_COUNT)
    return MethodChoice(
        "asymptotic", f"every signal bin expects >= {SMALL_COUNT:g} background events", 0.0
    )


def _counting_words(background: np.ndarray) -> str:
    """Why a model is a counting model: its bins' expected backgrounds, all below 10 x SMALL_COUNT.

    >>> _counting_words(np.array([0.5]))
    'single bin with background 0.5 < 100'
    >>> _counting_words(np.array([1.75, 0.07]))
    '2 one-bin channels with backgrounds 1.75, 0.07 < 100 (count vectors summed exactly)'
    """
    if background.size == 1:
        return f"single bin with background {background[0]:.3g} < {SMALL_COUNT * 10:g}"
    values = ", ".join(f"{b:.3g}" for b in background)
    return (
        f"{background.size} one-bin channels with backgrounds {values} < {SMALL_COUNT * 10:g} "
        "(count vectors summed exactly)"
    )


def choose_method(likelihood: Likelihood) -> str:
    """The method ``auto`` picks for this model (:func:`plan_method`)."""
    return plan_method(likelihood).method


def _calculator_rows(calc: Calculator) -> Callable[[list[float]], np.ndarray]:
    """Evaluate ``calc`` at several mu: rows [CLs_obs, *CLs_exp] (all six curves from one
    computation).
    """

    def evaluate(mus: list[float]) -> np.ndarray:
        rows = []
        for mu in mus:
            p = calc.cls(mu)
            rows.append([p.cls_obs, *p.cls_exp])
        return np.array(rows)

    return evaluate


def _asymptotic_expected(calc: AsymptoticCalculator, alpha: float, rtol: float) -> list[Crossing]:
    """Expected limits: where sqrt(q_mu,A) reaches each band's target, all bands on shared Asimov
    fits.

    The curves are target_n / sqrt(q_mu,A) (level 1), close to c / mu since
    sqrt(q_mu,A) ~ mu / sigma, so the scaling rule converges in a few batched
    Asimov fits; the first guesses are sigma * target_n with sigma from mu = 1.
    """
    targets = np.array([AsymptoticCalculator.expected_sqrt_qa_target(alpha, n) for n in N_SIGMAS])

    def evaluate(mus: list[float]) -> np.ndarray:
        sqa = np.array(calc.sqrt_q_asimov(mus), dtype=float)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # sqrt(q_A) = 0 at mu -> 0: far above
            return np.where(sqa > 0, targets[None, :] / sqa, np.where(np.isnan(sqa), np.nan, 1e300))

    sqa1 = calc.sqrt_q_asimov([1.0])[0]
    sigma = 1.0 / sqa1 if math.isfinite(sqa1) and sqa1 > 0 else 1.0
    return find_crossings(evaluate, list(sigma * targets), 1.0, rtol, scaling_rule, first_step=1.02)


def _asymptotic_limits(
    calc: AsymptoticCalculator, alpha: float, rtol: float
) -> tuple[Crossing, list[Crossing]]:
    expected = _asymptotic_expected(calc, alpha, rtol)
    start = 1.0
    if expected[2].status == "ok":
        # Gaussian-regime guess (arXiv:1007.1727): mu_up = mu_hat + sigma Phi^-1(1 - alpha
        # Phi(mu_hat / sigma))
        sigma = expected[2].value / AsymptoticCalculator.expected_sqrt_qa_target(alpha, 0.0)
        mu_hat = max(calc.mu_hat, 0.0)
        start = mu_hat + sigma * float(special.ndtri(1.0 - alpha * special.ndtr(mu_hat / sigma)))

    def observed(mus: list[float]) -> np.ndarray:
        return np.array([[calc.cls(mu).cls_obs] for mu in mus])

    (crossing,) = find_crossings(observed, [start], alpha, rtol, cubic_rule, first_step=1.02)
    return crossing, expected


def _smooth_crossings(
    calc: Calculator, starts: list[float], alpha: float, rtol: float
) -> list[Crossing]:
    """All six crossings of a CLs without Monte-Carlo noise (:func:`~.crossings.cubic_rule`).

    CLs is first evaluated at 3-4 points spanning the first guesses (after the
    calculator has prepared that range, with 30% margin above).
    """
    good = sorted(m for m in starts if math.isfinite(m) and m > 0) or [1.0]
    lo, hi = good[0] / 1.15, good[-1] * 1.15
    calc.prepare([lo, 1.3 * hi])
    first = [float(m) for m in np.geomspace(lo, hi, 4 if hi / lo > 1.5 else 3)]
    return find_crossings(_calculator_rows(calc), first, alpha, rtol, cubic_rule)


def _bracket_crossings(
    calc: Calculator, starts: list[float], alpha: float, rtol: float
) -> list[Crossing]:
    """All six crossings of a noisy CLs (toys, :func:`~.crossings.secant_rule`), from the first
    guesses (rounded to 6 digits, so that nearby guesses share an evaluation).
    """
    first = sorted({float(f"{m:.6g}") for m in starts if math.isfinite(m) and m > 0} or {1.0})
    return find_crossings(_calculator_rows(calc), first, alpha, rtol, secant_rule)


def limit_from_calculator(
    calc: Calculator,
    confidence_level: float = 0.9,
    starts: list[float] | None = None,
    rtol: float = 1e-6,
) -> tuple[Crossing, list[Crossing]]:
    """Observed and expected crossings of CLs = 1 - CL for any calculator.

    ``starts`` are first guesses of the six crossings (e.g. the asymptotic
    limits); they are ignored by the asymptotic calculator, which finds its own.
    """
    alpha = 1.0 - confidence_level
    if calc.search == "asymptotic":
        return _asymptotic_limits(cast(AsymptoticCalculator, calc), alpha, rtol)
    search = _smooth_crossings if calc.search == "smooth" else _bracket_crossings
    crossings = search(calc, starts or [1.0], alpha, rtol)
    return crossings[0], crossings[1:]


def upper_limit(
    model: pyhf.pdf.Model,
    data: ArrayLike,
    confidence_level: float = 0.9,
    method: str = "auto",
    n_toys: int = 10_000,
    seed: int = 0,
    *,
    max_toys: int | None = None,
    cls_accuracy: float = 0.005,
    budget_s: float = 600.0,
) -> UpperLimit:
    """CLs upper limit on the POI of a pyhf model at ``confidence_level``.

    The test statistic is the one-sided q~_mu; the limit is the mu where CLs
    = 1 - ``confidence_level``. The POI's declared upper bound never clips the
    answer: where the free fit or a crossing comes within a factor 2 of it,
    the bound is widened and ``notes`` says so (below it, a clipped free fit
    leaves q~ unchanged).

    Parameters
    ----------
    model : pyhf.pdf.Model
        Any pyhf model; its POI is the signal strength mu (dimensionless: the
        signal yields of the model are multiplied by it).
    data : array_like
        Observed data, main bins [events] then auxiliary data, as
        ``workspace.data(model)`` gives them.
    confidence_level : float, optional
        0.90 by default (NA64); 0.95 for the LHC convention.
    method : {"auto", "asymptotic", "toys", "exact"}, optional
        ``"auto"`` chooses by :func:`plan_method` (exact counting for one bin
        with under 100 background events, toys for small counts, asymptotic
        formulae otherwise) within ``budget_s``.
    n_toys : int, optional
        Toys per hypothesis to start with (``toys`` only).
    seed : int, optional
        Seed of the toys (bit-for-bit reproducible).
    max_toys : int, optional
        Toys are added (x4 per round, like CMS Combine's HybridNew) until the CLs
        error at every crossing is below ``cls_accuracy``, up to this many
        (default 8 x n_toys); a crossing still less precise gets the status
        ``low_toy_statistics``.
    cls_accuracy : float, optional
        Target Monte-Carlo error of CLs at each crossing (absolute; Combine's ``clsAcc``).
    budget_s : float, optional
        Seconds [s] ``auto`` may plan to spend (its cost estimate decides the method); toys
        also stop adding toys when the next round would end after it (status
        ``low_toy_statistics`` where the accuracy was not reached).

    Returns
    -------
    UpperLimit
        The observed and expected (-2, -1, 0, +1, +2 sigma) limits on mu, each
        with a status and an error, the method used and why
        (``method_reason``), and ``notes``.

    Examples
    --------
    Zero events observed over 0.5 +- 0.1 expected: about 2.3 signal events
    at 90% CL, like the background-free -ln(0.1) = 2.303:

    >>> import pyhf
    >>> model = pyhf.simplemodels.uncorrelated_background([1.0], [0.5], [0.1])
    >>> limit = upper_limit(model, [0.0] + model.config.auxdata)
    >>> limit.method, round(limit.observed, 1)
    ('exact', 2.3)
    """
    _check_arguments(confidence_level, method, cls_accuracy)
    lik, asym, asymptotic_crossings, notes = _with_adequate_poi_bound(
        Likelihood(model, data), confidence_level
    )
    choice = (
        plan_method(lik, n_toys, budget_s, max_toys)
        if method == "auto"
        else MethodChoice(cast(Method, method), "requested", math.nan)  # checked above
    )
    if choice.method == "asymptotic":
        run = _asymptotic_run(asym, confidence_level, choice.approximate)
    else:
        starts = [v for v, status in asymptotic_crossings if status == "ok"]
        toys = _ToySettings(n_toys, max_toys if max_toys is not None else 8 * n_toys, cls_accuracy)
        run = _sampled_run(lik, choice.method, confidence_level, starts, seed, toys, budget_s)
    observed, expected = run.crossings[0], run.crossings[1:]
    return UpperLimit(
        observed=observed.value,
        expected=tuple(c.value for c in expected),
        status_observed=observed.status,
        status_expected=tuple(c.status for c in expected),
        method=choice.method,
        confidence_level=confidence_level,
        n_toys=run.n_toys,
        seed=seed if choice.method == "toys" else None,
        n_evaluations=run.n_evaluations,
        n_failed_fits=run.n_failed,
        observed_error=run.errors[0],
        expected_error=tuple(run.errors[1:]),
        method_reason=choice.reason,
        notes=notes + run.notes,
    )


def _check_arguments(confidence_level: float, method: str, cls_accuracy: float) -> None:
    """Raise :class:`InputError` for a confidence level outside (0, 1), an unknown method or a
    non-positive CLs accuracy.
    """
    if not 0.0 < confidence_level < 1.0:
        raise InputError(f"confidence level must be in (0, 1), got {confidence_level}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not cls_accuracy > 0:
        raise InputError(f"cls_accuracy must be positive, got {cls_accuracy}")


class _ToySettings(NamedTuple):
    """Toys to start with, the most toys, and the target CLs error at each crossing."""

    n_toys: int
    max_toys: int
    cls_accuracy: float


class _Run(NamedTuple):
    """What one method found: six crossings (observed first), their errors, the cost and notes."""

    crossings: list[Crossing]
    errors: list[float]
    n_evaluations: int
    n_failed: int
    n_toys: int | None
    notes: tuple[str, ...]


def _asymptotic_run(asym: AsymptoticCalculator, confidence_level: float, approximate: bool) -> _Run:
    """Asymptotic crossings; at small counts (``approximate``) their ``ok`` becomes ``approximate``:
    a fallback that may be wrong says so in its status, not only in its reason.
    """
    observed, expected = limit_from_calculator(asym, confidence_level)
    crossings = [observed, *expected]
    notes: tuple[str, ...] = ()
    if approximate:
        crossings = [_approximate(c) for c in crossings]
        notes = (
            "approximate: asymptotic formulae at small counts (the other methods exceed the "
            "budget)",
        )
    return _Run(crossings, [0.0] * 6, asym.n_evaluations, asym.fit_failures, None, notes)


def _sampled_run(
    lik: Likelihood,
    method: Method,
    confidence_level: float,
    starts: list[float],
    seed: int,
    toys: _ToySettings,
    budget_s: float,
) -> _Run:
    """Exact-counting or toy crossings from the asymptotic ones as first guesses, with their
    errors.
    """
    calc: ExactCalculator | ToyCalculator
    if method == "exact":
        calc = ExactCalculator(lik, seed=seed)
        observed, expected = limit_from_calculator(calc, confidence_level, starts, rtol=1e-5)
        failures = sum(p.n_failed for p in calc.evaluations)
        n_used = None
    else:
        calc = ToyCalculator(lik, n_toys=toys.n_toys, seed=seed)
        observed, expected = _adaptive_toy_limits(
            calc, confidence_level, starts, toys.cls_accuracy, toys.max_toys, budget_s
        )
        failures, n_used = calc.failed_toys(), calc.n_toys
    crossings = [observed, *expected]
    errors = [
        _limit_error(calc, c.value, k, 1.0 - confidence_level) for k, c in enumerate(crossings)
    ]
    return _Run(
        crossings, errors, len(calc.evaluations), failures, n_used, tuple(sorted(calc.notes))
    )


def _approximate(crossing: Crossing) -> Crossing:
    """A crossing found by asymptotic formulae at small counts: ``ok`` becomes ``approximate``."""
    return crossing._replace(status="approximate") if crossing.status == "ok" else crossing


def _with_adequate_poi_bound(
    lik: Likelihood, confidence_level: float
) -> tuple[Likelihood, AsymptoticCalculator, list[Crossing], tuple[str, ...]]:
    """The likelihood with a POI upper bound at least 2x the free-fit value and the asymptotic
    limits.

    A free fit stuck at the declared bound (pyhf's default [0, 10] with a large
    excess) clips q~ to 0 and CLs to 1 far beyond the true limit; the bound is
    raised by factors of 10 until the fit and the asymptotic crossings lie well inside.
    Returns the likelihood, its asymptotic calculator, the asymptotic crossings (to 1e-3) and notes.
    """
    declared = float(lik.bounds[lik.poi_index, 1])
    hi = declared
    for _ in range(24):
        asym = AsymptoticCalculator(lik)
        a_obs, a_exp = limit_from_calculator(asym, confidence_level, rtol=1e-3)
        finite = [v for v, status in [a_obs, *a_exp] if status == "ok"]
        needed = 2.0 * max([asym.mu_hat, *finite, 0.0])
        if needed <= hi or hi >= _MU_MAX:
            break
        hi = min(max(needed, 10.0 * hi), _MU_MAX)
        lik = lik.with_poi_bounds(float(lik.bounds[lik.poi_index, 0]), hi)
    notes = () if hi == declared else (f"poi upper bound widened from {declared:g} to {hi:.3g}",)
    return lik, asym, [a_obs, *a_exp], notes


def _adaptive_toy_limits(
    calc: ToyCalculator,
    confidence_level: float,
    starts: list[float],
    accuracy: float,
    max_toys: int,
    budget_s: float = math.inf,
) -> tuple[Crossing, list[Crossing]]:
    """Toy limits with toys added until the CLs error at each crossing is below ``accuracy``, or the
    cap ``max_toys``, or until the next round (four times the toys, so about four times the time
    spent so far again) would end after ``budget_s`` seconds from the start.
    """
    alpha = 1.0 - confidence_level
    start = time.perf_counter()
    while True:
        crossings = _bracket_crossings(calc, starts, alpha, 2e-3)
        # a crossing is imprecise if its CLs error is above the target, or if the search failed
        # where
        # fewer than 10 b-only toys reached the observed tail (CLb = 0 reads as CLs = 1)
        starved = any(p.clb_obs * calc.n_toys < 10 for p in calc.evaluations)
        imprecise = [
            k
            for k, (value, status) in enumerate(crossings)
            if (status == "ok" and _cls_error_at(calc, value, k) > accuracy)
            or (status != "ok" and k == 0 and starved)
        ]
        if not imprecise:
            break
        spent = time.perf_counter() - start
        if calc.n_toys >= max_toys or spent + 4.0 * spent > budget_s:
            crossings = [
                c._replace(status="low_toy_statistics") if k in imprecise else c
                for k, c in enumerate(crossings)
            ]
            break
        calc.add_toys(min(max_toys, 4 * calc.n_toys))
        starts = [v for v, status in crossings if status == "ok"] or starts
    return crossings[0], crossings[1:]


def _cls_error_at(calc: Calculator, mu: float, curve: int) -> float:
    """Error of CLs (curve 0: observed, 1-5: bands) at the evaluation nearest ``mu`` (no new
    evaluation).
    """
    points = calc.evaluations
    if not points:
        return math.nan
    point = min(points, key=lambda p: abs(math.log(p.mu / mu)) if p.mu > 0 else math.inf)
    return float(point.cls_obs_error if curve == 0 else point.cls_exp_error[curve - 1])


def _limit_error(calc: Calculator, mu: float, curve: int, alpha: float) -> float:
    """Error of a crossing: the CLs error there over the slope of CLs (from the nearest
    evaluations).
    """
    if not (math.isfinite(mu) and mu > 0):
        return math.nan
    error = _cls_error_at(calc, mu, curve)
    points = calc.evaluations
    values = [(p.mu, p.cls_obs if curve == 0 else p.cls_exp[curve - 1]) for p in points]
    below = [v for v in values if v[0] < mu * (1 - 1e-9)]
    above = [v for v in values if v[0] > mu * (1 + 1e-9)]
    if not below or not above:
        return math.nan
    (m0, c0), (m1, c1) = max(below), min(above)
    slope = (c1 - c0) / (m1 - m0)
    return float(error / abs(slope)) if slope != 0 else math.inf
