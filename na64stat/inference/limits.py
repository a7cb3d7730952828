"""CLs upper limits on the signal strength mu: observed and the expected band.

The search works in ln(mu), so limits anywhere between 1e-12 and 1e12 are
found (couplings squared span decades); the bracket expands itself from a
starting point, and each of the six crossings (observed, -2..+2 sigma) gets
its own status instead of one exception losing the rest:

* ``ok`` - CLs crosses 1 - CL inside the search range;
* ``no_crossing`` - it does not (the value is NaN);
* ``fit_failure`` - a fit failed where the crossing had to be evaluated.

Asymptotic expected limits use that the n-sigma expected CLs depends on
sqrt(q_mu,A) alone: the crossing is where sqrt(q_mu,A) equals a known target,
found with a handful of Asimov fits. Toys and exact counting reuse every CLs
evaluation for all six crossings.

``method="auto"`` uses exact counting for single-bin models and toys for
other models whenever the expected background of a signal bin is below
:data:`SMALL_COUNT`, where asymptotic formulae are wrong (PHYSICS.md: they
give ~1.6 instead of 2.303 events at n = 0, b = 0.5); asymptotic otherwise.

Examples
--------
>>> import pyhf
>>> spec = {"channels": [{"name": "box", "samples": [
...     {"name": "sig", "data": [1.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
...     {"name": "bkg", "data": [0.5], "modifiers": []}]}]}
>>> model = pyhf.Model(spec, poi_name="mu")
>>> lim = upper_limit(model, [0.0])
>>> lim.method, round(lim.observed, 3), [round(v, 3) for v in lim.expected]
('exact', 2.303, [2.303, 2.303, 2.303, 3.508, 4.843])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pyhf
from numpy.typing import ArrayLike
from scipy import optimize, special

from na64stat.errors import InputError
from na64stat.inference.calculators import (
    N_SIGMAS,
    AsymptoticCalculator,
    Calculator,
    ExactCalculator,
    ToyCalculator,
)
from na64stat.inference.likelihood import Likelihood

__all__ = ["SMALL_COUNT", "METHODS", "UpperLimit", "choose_method", "upper_limit", "limit_from_calculator"]

#: Expected background per bin below which asymptotic formulae are not trusted.
SMALL_COUNT: float = 10.0
METHODS = ("auto", "asymptotic", "toys", "exact")
_MU_MIN, _MU_MAX = 1e-12, 1e12
_BAND_NAMES = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")


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
        Fits that failed along the way (toys: failed toys, excluded).
    """

    observed: float
    expected: tuple[float, ...]
    status_observed: str
    status_expected: tuple[str, ...]
    method: str
    confidence_level: float
    n_toys: int | None = None
    seed: int | None = None
    n_evaluations: int = 0
    n_failed_fits: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN stays NaN; use :func:`na64stat.io.to_jsonable` to write)."""
        out = asdict(self)
        out["expected"] = dict(zip(_BAND_NAMES, self.expected))
        out["status_expected"] = dict(zip(_BAND_NAMES, self.status_expected))
        return out


def choose_method(likelihood: Likelihood) -> str:
    """The method ``auto`` picks for this model (see module docstring)."""
    lik = likelihood
    pars = np.repeat(lik.init[None, :], 2, axis=0)
    pars[:, lik.poi_index] = (0.0, 1.0)
    background, with_signal = lik.expected_data(pars, include_auxdata=False)
    if lik.n_main == 1 and background[0] < SMALL_COUNT * 10:
        return "exact" if ExactCalculator.applicable(lik) else "toys"
    signal_bins = np.abs(with_signal - background) > 0  # bins where the POI changes the expectation
    return "toys" if np.any(background[signal_bins] < SMALL_COUNT) else "asymptotic"


def _solve(
    func: Callable[[float], float], level: float, mu_start: float, rtol: float, first_step: float = 2.0
) -> tuple[float, str]:
    """Find mu with func(mu) = level for a decreasing func, in ln(mu), bracket expanding from mu_start.

    The bracket grows geometrically from a factor ``first_step`` (so a good
    starting point costs two evaluations), then Brent's method refines it.
    """

    def g(x: float) -> float:
        value = func(math.exp(x))
        if not math.isfinite(value):
            raise _FitFailure
        return value - level

    try:
        x0 = math.log(min(max(mu_start, _MU_MIN), _MU_MAX))
        g0 = g(x0)
        step = math.log(first_step)
        direction = 1.0 if g0 > 0 else -1.0
        xa, ga = x0, g0
        while True:
            xb = xa + direction * step
            if not (math.log(_MU_MIN) <= xb <= math.log(_MU_MAX)):
                return math.nan, "no_crossing"
            gb = g(xb)
            if (gb > 0) != (ga > 0) or gb == 0:
                break
            xa, ga, step = xb, gb, step * 2.0
        lo, hi = sorted((xa, xb))
        root = optimize.brentq(g, lo, hi, xtol=rtol, rtol=1e-12, maxiter=200)
        return math.exp(root), "ok"
    except _FitFailure:
        return math.nan, "fit_failure"


class _FitFailure(Exception):
    pass


def _asymptotic_expected(calc: AsymptoticCalculator, alpha: float, rtol: float) -> list[tuple[float, str]]:
    """Expected limits: solve sqrt(q_mu,A) = target_n for all bands together.

    sqrt(q_mu,A) ~ mu / sigma(mu) with sigma slowly varying, so the fixed-point
    update mu <- mu * target / sqrt(q_mu,A) converges in a few batched Asimov
    fits; bands that do not converge fall back to the bracketing search.
    """
    targets = [AsymptoticCalculator.expected_sqrt_qa_target(alpha, n) for n in N_SIGMAS]
    sqa1 = calc.sqrt_q_asimov([1.0])[0]
    sigma = 1.0 / sqa1 if math.isfinite(sqa1) and sqa1 > 0 else 1.0
    mus = [sigma * t for t in targets]
    done = [False] * len(targets)
    for _ in range(30):
        open_bands = [k for k in range(len(targets)) if not done[k]]
        if not open_bands:
            break
        values = calc.sqrt_q_asimov([mus[k] for k in open_bands])
        for k, sqa in zip(open_bands, values):
            if not (math.isfinite(sqa) and sqa > 0 and _MU_MIN < mus[k] < _MU_MAX):
                done[k] = None  # type: ignore[call-overload]
                continue
            if abs(sqa / targets[k] - 1.0) < rtol * 1e-2:
                done[k] = True
            else:
                mus[k] *= targets[k] / sqa
    results = []
    for k, target in enumerate(targets):
        if done[k] is True:
            results.append((mus[k], "ok"))
        else:
            results.append(_solve(lambda mu: -calc.sqrt_q_asimov([mu])[0], -target, mus[k], rtol))
    return results


def _asymptotic_limits(calc: AsymptoticCalculator, alpha: float, rtol: float) -> tuple[tuple[float, str], list[tuple[float, str]]]:
    expected = _asymptotic_expected(calc, alpha, rtol)
    start = 1.0
    if expected[2][1] == "ok":
        # Gaussian-regime guess (arXiv:1007.1727): mu_up = mu_hat + sigma Phi^-1(1 - alpha Phi(mu_hat / sigma))
        sigma = expected[2][0] / AsymptoticCalculator.expected_sqrt_qa_target(alpha, 0.0)
        mu_hat = max(calc.mu_hat, 0.0)
        start = mu_hat + sigma * float(special.ndtri(1.0 - alpha * special.ndtr(mu_hat / sigma)))
    observed = _solve(lambda mu: calc.cls(mu).cls_obs, alpha, start, rtol, first_step=1.02)
    return observed, expected


def _shared_crossings(calc: Calculator, starts: list[float], alpha: float, rtol: float) -> list[tuple[float, str]]:
    """All six crossings (observed, then the bands) from one shared set of CLs evaluations.

    Each evaluation of a toy or exact calculator yields the observed and all
    expected CLs at once, so every new mu serves every curve: each round adds,
    for every unresolved curve, either an expansion point (no bracket yet) or
    a log-log regula-falsi point inside its bracket (bisection when the
    bracket stops shrinking), until each bracket is narrower than ``rtol`` in
    ln(mu). The crossing is then interpolated in (ln mu, ln CLs).
    """
    points: dict[float, list[float]] = {}

    def evaluate(mus: list[float]) -> None:
        for mu in mus:
            if mu not in points and _MU_MIN <= mu <= _MU_MAX:
                p = calc.cls(mu)
                points[mu] = [p.cls_obs, *p.cls_exp]

    n_curves = 1 + len(N_SIGMAS)
    evaluate(sorted({float(f"{m:.6g}") for m in starts if math.isfinite(m) and m > 0} or {1.0}))
    result: list[tuple[float, str] | None] = [None] * n_curves
    stalls = [0] * n_curves
    widths = [math.inf] * n_curves
    for _ in range(60):
        mus = sorted(points)
        new: list[float] = []
        for c in range(n_curves):
            if result[c] is not None:
                continue
            vals = [points[m][c] for m in mus]
            if any(not math.isfinite(v) for v in vals):
                result[c] = (math.nan, "fit_failure")
                continue
            above = [i for i, v in enumerate(vals) if v > alpha]
            below = [i for i, v in enumerate(vals) if v <= alpha]
            if not below:  # CLs still above alpha: go up
                target = mus[-1] * 2.0 ** (1 + stalls[c])
                stalls[c] += 1
                if target > _MU_MAX:
                    result[c] = (math.nan, "no_crossing")
                else:
                    new.append(target)
                continue
            if not above:  # already excluded at the smallest mu: go down
                target = mus[0] / 2.0 ** (1 + stalls[c])
                stalls[c] += 1
                if target < _MU_MIN:
                    result[c] = (math.nan, "no_crossing")
                else:
                    new.append(target)
                continue
            hi = min(below)  # first mu where CLs <= alpha
            lo = max(i for i in above if i < hi) if any(i < hi for i in above) else None
            if lo is None:
                target = mus[0] / 2.0
                new.append(target)
                continue
            a, b = mus[lo], mus[hi]
            fa, fb = math.log(max(vals[lo], 1e-300)), math.log(max(vals[hi], 1e-300))
            la, lb = math.log(a), math.log(b)
            width = lb - la
            level = math.log(alpha)
            if width < rtol:
                x = la if fa == fb else la + (level - fa) * (lb - la) / (fb - fa)
                result[c] = (math.exp(min(max(x, la), lb)), "ok")
                continue
            stalls[c] = stalls[c] + 1 if width > 0.5 * widths[c] else 0
            widths[c] = width
            if stalls[c] >= 2 or fa == fb:
                x = 0.5 * (la + lb)
            else:
                x = la + (level - fa) * (lb - la) / (fb - fa)
                margin = 0.02 * width
                x = min(max(x, la + margin), lb - margin)
            new.append(math.exp(x))
        if not new:
            break
        evaluate(new)
    return [r if r is not None else (math.nan, "no_crossing") for r in result]


def limit_from_calculator(calc: Calculator, confidence_level: float = 0.9, starts: list[float] | None = None, rtol: float = 1e-6) -> tuple[tuple[float, str], list[tuple[float, str]]]:
    """Observed and expected crossings of CLs = 1 - CL for any calculator.

    ``starts`` are first guesses of the six crossings (e.g. the asymptotic
    limits); they are ignored by the asymptotic calculator, which finds its own.
    """
    alpha = 1.0 - confidence_level
    if isinstance(calc, AsymptoticCalculator):
        return _asymptotic_limits(calc, alpha, rtol)
    crossings = _shared_crossings(calc, starts or [1.0], alpha, rtol)
    return crossings[0], crossings[1:]


def upper_limit(
    model: pyhf.pdf.Model,
    data: ArrayLike,
    confidence_level: float = 0.9,
    method: str = "auto",
    n_toys: int = 10_000,
    seed: int = 0,
) -> UpperLimit:
    """CLs upper limit on the POI of a pyhf model at ``confidence_level``.

    Parameters
    ----------
    model, data:
        A pyhf model and its observed data (main bins then auxiliary data).
    confidence_level:
        0.90 by default (NA64); 0.95 for the LHC convention.
    method:
        ``"auto"``, ``"asymptotic"``, ``"toys"`` or ``"exact"``.
    n_toys, seed:
        Toys per hypothesis and seed (``toys`` only; bit-for-bit reproducible).
    """
    if not 0.0 < confidence_level < 1.0:
        raise InputError(f"confidence level must be in (0, 1), got {confidence_level}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    lik = Likelihood(model, data)
    used = choose_method(lik) if method == "auto" else method
    asym = AsymptoticCalculator(lik)
    if used == "asymptotic":
        observed, expected = limit_from_calculator(asym, confidence_level)
        n_eval, failures = asym.n_evaluations, asym.fit_failures
    else:
        a_obs, a_exp = limit_from_calculator(asym, confidence_level, rtol=1e-3)
        starts = [v for v, status in [a_obs, *a_exp] if status == "ok"]
        calc: Calculator = ExactCalculator(lik) if used == "exact" else ToyCalculator(lik, n_toys=n_toys, seed=seed)
        observed, expected = limit_from_calculator(calc, confidence_level, starts, rtol=1e-6 if used == "exact" else 2e-3)
        n_eval = len(calc.evaluations)
        failures = sum(p.n_failed for p in calc.evaluations)
    return UpperLimit(
        observed=observed[0],
        expected=tuple(v for v, _ in expected),
        status_observed=observed[1],
        status_expected=tuple(s for _, s in expected),
        method=used,
        confidence_level=confidence_level,
        n_toys=n_toys if used == "toys" else None,
        seed=seed if used == "toys" else None,
        n_evaluations=n_eval,
        n_failed_fits=failures,
    )
