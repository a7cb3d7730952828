"""Background estimates for a signal region: tail fits, ABCD and simulation templates.

NA64 estimates the background in its signal box from data, by extrapolating
control regions, and checks it with simulation. Every method here returns a
:class:`BackgroundEstimate` (central value, statistical and systematic
uncertainty, method, fit status and quality) that the workspace builder
consumes.

* :func:`fit_tail`: a binned extended maximum-likelihood fit (iminuit,
  ``cost.ExtendedBinnedNLL``, weighted histograms supported) of a spectrum
  outside the box, extrapolated into the box; the statistical error
  propagates the fit covariance (numerical gradient of the box integral),
  alternative functional forms give the systematic (largest deviation).
* :func:`abcd`: N_A = N_B N_C / N_D for two nearly independent variables;
  :func:`abcd_closure` compares it with the true A count on simulation.
* :func:`mc_template`: weighted simulation in the region, error from the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from iminuit import Minuit, cost
from scipy import stats

from na64stat.core.errors import InputError

__all__ = [
    "BackgroundEstimate",
    "TAIL_SHAPES",
    "fit_tail",
    "abcd",
    "abcd_closure",
    "AbcdClosure",
    "mc_template",
]


@dataclass(frozen=True)
class BackgroundEstimate:
    """Expected background events in a region.

    Attributes
    ----------
    value:
        Central value [events].
    stat_error, syst_error:
        Statistical and systematic uncertainty [events].
    method:
        ``"tail_fit"``, ``"abcd"``, ``"mc_template"`` or ``"fixed"``.
    valid:
        Whether the estimate is usable (fit converged with a valid covariance,
        no empty control region).
    quality:
        Goodness of fit / closure p-value where defined, else None.
    details:
        Method-specific numbers (fit parameters, alternative shapes, counts).
    """

    value: float
    stat_error: float
    syst_error: float = 0.0
    method: str = "fixed"
    valid: bool = True
    quality: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_error(self) -> float:
        """Statistical and systematic errors in quadrature [events]."""
        return math.hypot(self.stat_error, self.syst_error)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``total_error`` included)."""
        out = asdict(self)
        out["details"] = dict(self.details)
        out["total_error"] = self.total_error
        return out

    @classmethod
    def from_dict(
        cls, content: Mapping[str, Any], source: str = "background estimate"
    ) -> BackgroundEstimate:
        """Read back :meth:`to_dict` output (errors name ``source``)."""
        try:
            return cls(
                value=float(content["value"]),
                stat_error=float(content["stat_error"]),
                syst_error=float(content.get("syst_error", 0.0)),
                method=str(content.get("method", "fixed")),
                valid=bool(content.get("valid", True)),
                quality=content.get("quality"),
                details=dict(content.get("details", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: not a background estimate ({exc})") from None


# ---------------------------------------------------------------------------
# tail / sideband fits

ScaledCdf = Callable[..., np.ndarray]


@dataclass(frozen=True)
class _Shape:
    """A falling spectrum with an analytic integral: scaled_cdf(x, *par) - scaled_cdf(x0, *par)."""

    names: tuple[str, ...]
    cdf: Callable[[np.ndarray, float, Sequence[float]], np.ndarray]
    start: Callable[[float, float, float], tuple[float, ...]]


def _exp_cdf(x: np.ndarray, x0: float, par: Sequence[float]) -> np.ndarray:
    """A exp(-b (x - x0)) integrated from x0: A (1 - exp(-b (x - x0))) / b."""
    a, b = par
    u = np.asarray(x, dtype=float) - x0
    if abs(b) < 1e-12:
        return a * u
    return a * -np.expm1(-b * u) / b


def _power_cdf(x: np.ndarray, x0: float, par: Sequence[float]) -> np.ndarray:
    """A (x / x0)^-k integrated from x0 (x, x0 > 0)."""
    a, k = par
    r = np.asarray(x, dtype=float) / x0
    if abs(k - 1.0) < 1e-12:
        return a * x0 * np.log(r)
    return a * x0 * (r ** (1.0 - k) - 1.0) / (1.0 - k)


def _linear_cdf(x: np.ndarray, x0: float, par: Sequence[float]) -> np.ndarray:
    """(A + B (x - x0)) integrated from x0."""
    a, b = par
    u = np.asarray(x, dtype=float) - x0
    return a * u + 0.5 * b * u * u


#: Functional forms for :func:`fit_tail` (density per unit of x).
TAIL_SHAPES: dict[str, _Shape] = {
    "exponential": _Shape(
        ("amplitude", "slope"), _exp_cdf, lambda density, width, x0: (density, 1.0 / width)
    ),
    "power_law": _Shape(
        ("amplitude", "index"), _power_cdf, lambda density, width, x0: (density, 2.0)
    ),
    "linear": _Shape(
        ("amplitude", "slope"), _linear_cdf, lambda density, width, x0: (density, 0.0)
    ),
}


def _fit_one(
    counts: np.ndarray,
    edges: np.ndarray,
    use: np.ndarray,
    shape_name: str,
    box: tuple[float, float],
) -> dict[str, Any]:
    shape = TAIL_SHAPES[shape_name]
    x0 = float(edges[0])
    if shape_name == "power_law" and x0 <= 0:
        raise InputError("power_law tail fits need positive x (the first bin edge is <= 0)")
    n = counts[..., 0] if counts.ndim == 2 else counts
    total = float(np.sum(n[use]))
    width = float(edges[-1] - edges[0])
    density = max(total, 1.0) / max(float(np.sum(np.diff(edges)[use])), 1e-12)

    def scaled_cdf(x: np.ndarray, *par: float) -> np.ndarray:
        return shape.cdf(x, x0, par)

    nll = cost.ExtendedBinnedNLL(counts, edges, scaled_cdf, name=list(shape.names))
    nll.mask = use
    start = shape.start(density, width / 5.0, x0)
    m = Minuit(nll, *start)
    m.tol = (
        1e-3  # 10x tighter than the default EDM goal: the box integral is the quantity of interest
    )
    m.limits[shape.names[0]] = (0.0, None)
    m.migrad()
    if not m.valid:
        m.migrad()
    m.hesse()
    par = np.array(m.values)
    cov = (
        np.array(m.covariance)
        if m.covariance is not None
        else np.full((len(par), len(par)), np.nan)
    )

    def box_integral(p: np.ndarray) -> float:
        return float(
            shape.cdf(np.array([box[1]]), x0, list(p))[0]
            - shape.cdf(np.array([box[0]]), x0, list(p))[0]
        )

    value = box_integral(par)
    grad = np.zeros(len(par))
    for i in range(len(par)):
        step = 1e-4 * max(
            abs(par[i]), math.sqrt(abs(cov[i, i])) if np.isfinite(cov[i, i]) else 0.0, 1e-8
        )
        up, down = par.copy(), par.copy()
        up[i] += step
        down[i] -= step
        grad[i] = (box_integral(up) - box_integral(down)) / (2 * step)
    variance = float(grad @ cov @ grad)
    ndof = int(np.count_nonzero(use)) - len(par)
    p_value = float(stats.chi2.sf(m.fval, ndof)) if ndof > 0 else None
    return {
        "shape": shape_name,
        "value": value,
        "error": math.sqrt(max(variance, 0.0)),
        "valid": bool(m.valid and m.accurate and np.isfinite(variance)),
        "p_value": p_value,
        "parameters": dict(zip(shape.names, par.tolist())),
        "ndof": ndof,
        "fval": float(m.fval),
    }


def _control_bins(
    n: np.ndarray,
    edges: np.ndarray,
    box: tuple[float, float],
    fit_range: tuple[float, float] | None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Mask of the bins a tail fit uses (centre in ``fit_range``, outside ``box``) and the range,
    checked.
    """
    if not box[0] < box[1]:
        raise InputError(f"box must be (low, high) with low < high, got {box}")
    lo, hi = fit_range if fit_range is not None else (edges[0], edges[-1])
    centres = 0.5 * (edges[:-1] + edges[1:])
    use = (centres >= lo) & (centres <= hi) & ~((centres >= box[0]) & (centres < box[1]))
    if np.count_nonzero(use) < 3:
        raise InputError(f"tail fit needs at least 3 bins outside the box {box} within {fit_range}")
    return use, (lo, hi)


def fit_tail(
    counts: Sequence[float] | np.ndarray,
    edges: Sequence[float] | np.ndarray,
    *,
    box: tuple[float, float],
    fit_range: tuple[float, float] | None = None,
    shape: str = "exponential",
    alternatives: Sequence[str] = (),
    variances: Sequence[float] | np.ndarray | None = None,
) -> BackgroundEstimate:
    """Fit a spectrum outside ``box`` and extrapolate it into the box.

    Parameters
    ----------
    counts, edges:
        Histogram of the control variable (counts per bin, bin edges in the
        variable's units); ``variances`` (sum of squared weights) for weighted
        simulation.
    box:
        [low, high) of the signal box in the same variable; bins inside it are
        not fitted.
    fit_range:
        Bins used by the fit (default: the whole histogram), minus the box.
    shape, alternatives:
        Functional forms from :data:`TAIL_SHAPES`; the alternatives' spread
        around the central value (largest deviation among the fits that
        converge and describe the control bins, chi2 p-value > 0.01) is the
        systematic uncertainty.

    Returns
    -------
    BackgroundEstimate
        Events in the box; ``quality`` is the fit's chi2 p-value.

    Examples
    --------
    >>> edges = np.linspace(0.0, 50.0, 26)
    >>> truth = 1000 * (np.exp(-edges[:-1] / 10) - np.exp(-edges[1:] / 10))
    >>> est = fit_tail(truth, edges, box=(0.0, 10.0))
    >>> round(est.value), round(1000 * (1 - np.exp(-1)))
    (632, 632)
    """
    edges = np.asarray(edges, dtype=float)
    n = np.asarray(counts, dtype=float)
    if n.ndim != 1 or edges.shape != (n.size + 1,) or np.any(np.diff(edges) <= 0):
        raise InputError(
            f"tail fit needs counts per bin and increasing edges (got {n.shape} counts, "
            f"{edges.shape} edges)"
        )
    if shape not in TAIL_SHAPES or any(a not in TAIL_SHAPES for a in alternatives):
        raise InputError(
            f"unknown tail shape in {[shape, *alternatives]}; known: {sorted(TAIL_SHAPES)}"
        )
    use, (lo, hi) = _control_bins(n, edges, box, fit_range)
    data = n if variances is None else np.stack([n, np.asarray(variances, dtype=float)], axis=-1)
    central = _fit_one(data, edges, use, shape, box)
    others = []
    for alternative in alternatives:
        if alternative == shape or (alternative == "power_law" and edges[0] <= 0):
            continue  # a power law is not defined down to x <= 0
        others.append(_fit_one(data, edges, use, alternative, box))
    # only alternatives that describe the control data (p > 0.01) say something about the box
    deviations = [
        abs(o["value"] - central["value"])
        for o in others
        if o["valid"] and o["p_value"] is not None and o["p_value"] > 0.01
    ]
    return BackgroundEstimate(
        value=central["value"],
        stat_error=central["error"],
        syst_error=max(deviations, default=0.0),
        method="tail_fit",
        valid=central["valid"],
        quality=central["p_value"],
        details={
            "box": list(box),
            "fit_range": [float(lo), float(hi)],
            "central": central,
            "alternatives": others,
        },
    )


# ---------------------------------------------------------------------------
# ABCD


def abcd(
    n_b: float,
    n_c: float,
    n_d: float,
    *,
    var_b: float | None = None,
    var_c: float | None = None,
    var_d: float | None = None,
) -> BackgroundEstimate:
    """ABCD estimate of the signal region A: N_B N_C / N_D.

    B and C differ from A in one of two nearly independent variables each, D
    in both. Errors propagate the counts (Poisson, or the given variances of
    weighted sums) to first order.

    >>> e = abcd(20, 50, 1000)
    >>> round(e.value, 3), round(e.stat_error, 3)
    (1.0, 0.266)
    """
    counts = {"B": n_b, "C": n_c, "D": n_d}
    variances = {
        "B": n_b if var_b is None else var_b,
        "C": n_c if var_c is None else var_c,
        "D": n_d if var_d is None else var_d,
    }
    if any(v < 0 for v in counts.values()):
        raise InputError(f"ABCD counts must be non-negative, got {counts}")
    if n_d <= 0:
        return BackgroundEstimate(
            math.nan,
            math.nan,
            method="abcd",
            valid=False,
            details={"counts": counts, "reason": "control region D is empty"},
        )
    value = n_b * n_c / n_d
    rel2 = sum(variances[k] / counts[k] ** 2 for k in ("B", "C", "D") if counts[k] > 0)
    if n_b == 0 or n_c == 0:  # zero in B or C: use one event as the scale of the uncertainty
        rel_missing = max(n_c if n_b == 0 else n_b, 0.0) / n_d
        return BackgroundEstimate(
            0.0,
            rel_missing,
            method="abcd",
            valid=True,
            details={"counts": counts, "variances": variances, "note": "empty B or C"},
        )
    return BackgroundEstimate(
        value,
        value * math.sqrt(rel2),
        method="abcd",
        details={"counts": counts, "variances": variances},
    )


@dataclass(frozen=True)
class AbcdClosure:
    """ABCD on simulation: prediction vs the true A, their ratio and pull."""

    predicted: BackgroundEstimate
    true_a: float
    true_a_error: float
    ratio: float
    pull: float
    p_value: float


def abcd_closure(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> AbcdClosure:
    """Closure test: (sum w, sum w^2) of A, B, C, D on simulation.

    The pull (A - N_B N_C / N_D) / sigma combines the errors of the true A and
    the prediction (both from the same weights, treated as independent); a
    p-value below ~0.01 means the variables are correlated enough to bias ABCD.
    """
    predicted = abcd(b[0], c[0], d[0], var_b=b[1], var_c=c[1], var_d=d[1])
    sigma = math.hypot(predicted.stat_error, math.sqrt(a[1]))
    pull = (a[0] - predicted.value) / sigma if sigma > 0 else math.nan
    ratio = a[0] / predicted.value if predicted.value else math.nan
    return AbcdClosure(
        predicted,
        a[0],
        math.sqrt(a[1]),
        ratio,
        pull,
        float(2 * stats.norm.sf(abs(pull))) if math.isfinite(pull) else math.nan,
    )


# ---------------------------------------------------------------------------
# simulation templates


def mc_template(
    weight_sums: Sequence[tuple[float, float]], *, scale: float = 1.0, names: Sequence[str] = ()
) -> BackgroundEstimate:
    """Background from weighted simulation: sum over samples of (sum w, sum w^2), times ``scale``.

    ``scale`` converts the exposure the weights represent into that of the
    analysis (e.g. data EOT / MC EOT). The statistical error is
    scale * sqrt(sum w^2).

    >>> mc_template([(0.2, 0.01), (0.1, 0.0025)], scale=2.0).value
    0.6000000000000001
    """
    if scale < 0:
        raise InputError(f"template scale must be non-negative, got {scale}")
    total = sum(w for w, _ in weight_sums)
    variance = sum(v for _, v in weight_sums)
    return BackgroundEstimate(
        scale * total,
        scale * math.sqrt(variance),
        method="mc_template",
        details={
            "samples": list(names),
            "scale": scale,
            "per_sample": [[float(w), float(v)] for w, v in weight_sums],
        },
    )
