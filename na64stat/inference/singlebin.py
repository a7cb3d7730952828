"""Closed-form likelihood of single-bin pyhf models, with analytic derivatives.

Every NA64 result is a one-bin counting experiment (the signal box) with a
handful of nuisance parameters. For such a model the expected count is a
short closed formula,

    lambda(theta) = sum_k (nu_k + sum_h Delta_kh(alpha_h)) * prod_m f_km(theta_m),

(pyhf's order: additive histosys deltas, then multiplicative factors), so
-2 ln L, its gradient and its Hessian can be computed exactly with a few
numpy operations per parameter instead of a pyhf ``logpdf`` call per
finite-difference stencil point. :class:`SingleBinModel` implements
pyhf 0.7's interpolation codes (normsys ``code1`` / ``code4``, histosys
``code0`` / ``code4p``) and the factors of normfactor, shapefactor, lumi,
staterror and shapesys; ``tests/inference/test_singlebin.py`` checks ``twice_nll``
against pyhf's own ``logpdf`` (to 1e-10) and the derivatives against finite
differences for every modifier type. Models with anything else (more bins,
other interpolation codes) get ``None`` from :meth:`SingleBinModel.from_likelihood`
and keep the generic pyhf path. Why hand-written: the batched pyhf call costs
~0.5 us per point and the finite-difference Newton fit ~100 points per fit;
this path needs ~5 evaluations of ~30 ns (``benchmarks/bench_limits.py``).

See the physics reference (docs/physics.rst, sections "Statistics", "Test
statistic").

Examples
--------
>>> import pyhf
>>> from na64stat.inference.likelihood import Likelihood
>>> model = pyhf.simplemodels.uncorrelated_background([5.0], [10.0], [2.0])
>>> lik = Likelihood(model, [12.0] + model.config.auxdata)
>>> fast = SingleBinModel.from_likelihood(lik)
>>> pars = np.array([[1.0, 1.1]])
>>> bool(np.allclose(fast.twice_nll(pars, lik.data[None, :]), -2 * model.logpdf(pars[0], lik.data)))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

if TYPE_CHECKING:  # pragma: no cover
    from na64stat.inference.likelihood import Likelihood

__all__ = ["MAX_BINS", "SingleBinModel", "BinnedModel"]

_MULTIPLICATIVE = {"normfactor", "shapefactor", "lumi", "staterror", "shapesys"}
#: Modifiers with one parameter per bin (the others have one for all bins of a sample).
_PER_BIN = {"shapefactor", "staterror", "shapesys"}
#: Largest number of bins :class:`BinnedModel` is built for: combinations of counting experiments.
MAX_BINS: int = 8


@dataclass(frozen=True)
class _Term:
    """One modifier of one sample: ``kind`` in factor (f = theta), code1, code4, code0, code4p."""

    par: int
    kind: str
    coeffs: tuple[float, ...] = ()


def _code4_coefficients(hi: float, lo: float) -> tuple[float, ...]:
    """a_1..a_6 of pyhf's code4 polynomial 1 + sum a_i alpha^i on |alpha| < 1 (alpha0 = 1).

    Fixed by matching value, first and second derivative of hi^alpha at +1 and
    lo^-alpha at -1 (pyhf ``interpolators.code4`` docstring).
    """
    powers = np.arange(1, 7)
    rows = [
        np.ones(6),
        (-1.0) ** powers,
        powers.astype(float),
        powers * (-1.0) ** (powers - 1),
        powers * (powers - 1.0),
        powers * (powers - 1.0) * (-1.0) ** (powers - 2),
    ]
    lh, ll = math.log(hi), math.log(lo)
    rhs = [hi - 1.0, lo - 1.0, hi * lh, -lo * ll, hi * lh * lh, lo * ll * ll]
    return tuple(float(c) for c in np.linalg.solve(np.array(rows), np.array(rhs)))


def _evaluate(term: _Term, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, first and second derivative of one term at parameter values ``x`` (any shape)."""
    if term.kind == "factor":
        return x, np.ones_like(x), np.zeros_like(x)
    if term.kind in ("code1", "code4"):
        lh, ll = term.coeffs[0], term.coeffs[1]
        with np.errstate(over="ignore"):
            up, dn = np.exp(x * lh), np.exp(-x * ll)
        f = np.where(x >= 0, up, dn)
        f1 = np.where(x >= 0, lh * up, -ll * dn)
        f2 = np.where(x >= 0, lh * lh * up, ll * ll * dn)
        if term.kind == "code4":
            a = term.coeffs[2:]
            inside = np.abs(x) < 1.0
            xi = np.where(inside, x, 0.0)
            # Horner: p = 1 + sum a_i x^i, p' and p'' alongside
            p, p1, p2 = np.full_like(xi, a[5]), np.zeros_like(xi), np.zeros_like(xi)
            for c in (a[4], a[3], a[2], a[1], a[0]):
                p2 = p2 * xi + 2.0 * p1
                p1 = p1 * xi + p
                p = p * xi + c
            p2 = p2 * xi + 2.0 * p1
            p1 = p1 * xi + p
            p = p * xi + 1.0
            f, f1, f2 = np.where(inside, p, f), np.where(inside, p1, f1), np.where(inside, p2, f2)
        return f, f1, f2
    delta_up, delta_dn = term.coeffs  # histosys deltas hi - nom, nom - lo
    lin = np.where(x >= 0, delta_up, delta_dn)
    if term.kind == "code0":
        return x * lin, lin, np.zeros_like(x)
    sym, asym = 0.5 * (delta_up + delta_dn), 0.0625 * (delta_up - delta_dn)  # code4p
    inside = np.abs(x) <= 1.0
    x2 = x * x
    d = x * sym + asym * x2 * (15.0 - 10.0 * x2 + 3.0 * x2 * x2)
    d1 = sym + asym * (30.0 * x - 40.0 * x2 * x + 18.0 * x2 * x2 * x)
    d2 = asym * (30.0 - 120.0 * x2 + 90.0 * x2 * x2)
    return np.where(inside, d, x * lin), np.where(inside, d1, lin), np.where(inside, d2, 0.0)


@dataclass(frozen=True)
class _Sample:
    nominal: float
    additive: tuple[_Term, ...]
    factors: tuple[_Term, ...]


def _additive_part(
    sample: _Sample, pars: np.ndarray
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """A sample's nominal plus its additive terms, and their first and second derivatives per
    parameter.
    """
    n = pars.shape[0]
    a = np.full(n, sample.nominal)
    a_d: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for term in sample.additive:
        d, d1, d2 = _evaluate(term, pars[:, term.par])
        a = a + d
        prev = a_d.get(term.par, (np.zeros(n), np.zeros(n)))
        a_d[term.par] = (prev[0] + d1, prev[1] + d2)
    return a, a_d


def _product(
    vals: list[tuple[np.ndarray, np.ndarray, np.ndarray]], skip: tuple[int, ...], n: int
) -> np.ndarray:
    """The product of the factor values ``vals[k][0]`` over k not in ``skip`` (ones if none is
    left).
    """
    kept = [v[0] for k, v in enumerate(vals) if k not in skip]
    return np.prod(kept, axis=0) if kept else np.ones(n)


def _add_sample_hessian(
    hess: np.ndarray,
    sample: _Sample,
    a: np.ndarray,
    a_d: dict[int, tuple[np.ndarray, np.ndarray]],
    m: np.ndarray,
    dm: dict[int, np.ndarray],
    vals: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    others: list[np.ndarray],
) -> None:
    """Add the Hessian of one sample's A(theta) M(theta) to ``hess`` (N, P, P), in place."""
    n = a.shape[0]
    for p, (d1, d2) in a_d.items():
        hess[:, p, p] += d2 * m
        for q, g in dm.items():
            hess[:, p, q] += d1 * g
            hess[:, q, p] += d1 * g
    for j, tj in enumerate(sample.factors):
        hess[:, tj.par, tj.par] += a * vals[j][2] * others[j]
        for k in range(j + 1, len(sample.factors)):
            tk = sample.factors[k]
            h = a * vals[j][1] * vals[k][1] * _product(vals, (j, k), n)
            hess[:, tj.par, tk.par] += h
            hess[:, tk.par, tj.par] += h


class SingleBinModel:
    """-2 ln L of a one-bin pyhf model and its derivatives, in closed form (module docstring)."""

    def __init__(
        self, samples: tuple[_Sample, ...], n_pars: int, aux: tuple[tuple[str, int, float], ...]
    ) -> None:
        self.samples = samples
        self.n_pars = n_pars
        self.aux = aux  # (kind, parameter index, sigma or tau) in auxdata order

    @classmethod
    def from_likelihood(cls, lik: Likelihood) -> SingleBinModel | None:
        """The closed form of ``lik``'s model, or None where it does not apply."""
        model = lik.model
        channels = model.spec.get("channels", [])
        if model.config.nmaindata != 1 or len(channels) != 1:
            return None
        samples = _bin_samples(lik, channels[0], 0)
        if samples is None:
            return None
        return cls(samples, lik.n_pars, _aux(lik))

    # ------------------------------------------------------------------ the expected count
    def rate(self, pars: np.ndarray, order: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lambda, and with ``order`` >= 1 its gradient (N, P), with 2 its Hessian (N, P, P) (else
        empty).

        Each sample contributes A(theta) M(theta): its nominal plus the additive
        terms (histosys) times the product of its factors (normfactor, normsys, ...).
        """
        n = pars.shape[0]
        lam = np.zeros(n)
        grad = np.zeros((n, self.n_pars) if order >= 1 else (0, 0))
        hess = np.zeros((n, self.n_pars, self.n_pars) if order >= 2 else (0, 0, 0))
        for sample in self.samples:
            a, a_d = _additive_part(sample, pars)
            vals = [_evaluate(t, pars[:, t.par]) for t in sample.factors]
            m = np.prod([v[0] for v in vals], axis=0) if vals else np.ones(n)
            lam += a * m
            if order == 0:
                continue
            # dM/dtheta_j = f'_j prod_{m != j} f_m (no division: a factor may be 0, e.g. mu = 0)
            others = [_product(vals, (j,), n) for j in range(len(vals))]
            dm = {t.par: vals[j][1] * others[j] for j, t in enumerate(sample.factors)}
            for p, (d1, _) in a_d.items():
                grad[:, p] += d1 * m
            for p, g in dm.items():
                grad[:, p] += a * g
            if order >= 2:
                _add_sample_hessian(hess, sample, a, a_d, m, dm, vals, others)
        return lam, grad, hess

    # ------------------------------------------------------------------ -2 ln L
    def twice_nll(self, pars: np.ndarray, data: np.ndarray) -> np.ndarray:
        """-2 ln L exactly as pyhf's ``logpdf`` (continuous Poisson, constants included); inf where
        undefined.
        """
        value, _, _ = self._evaluate(pars, data, order=0)
        return value

    def derivatives(
        self, pars: np.ndarray, data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(-2 ln L, gradient (N, P), Hessian (N, P, P)) at ``pars`` for ``data`` (N rows each)."""
        return self._evaluate(pars, data, order=2)

    def _evaluate(
        self, pars: np.ndarray, data: np.ndarray, order: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        value, grad, hess = _poisson(*self.rate(pars, order), data[:, 0], order)
        return _with_constraints(value, grad, hess, self.aux, pars, data[:, 1:], order)


class BinnedModel:
    """-2 ln L of a several-bin pyhf model in closed form: a sum of one-bin Poisson terms and the
    constraints.

    Each bin's expected count is :meth:`SingleBinModel.rate` of its own samples
    (per-bin parameters such as staterror and shapesys point at their bin's
    parameter), so a combination of counting experiments (one bin per
    channel, :mod:`na64stat.model.combine`) gets the same exact derivatives as
    one counting experiment. Built for models of at most :data:`MAX_BINS` bins.

    >>> import pyhf
    >>> from na64stat.inference.likelihood import Likelihood
    >>> model = pyhf.simplemodels.uncorrelated_background([5.0, 2.0], [10.0, 1.0], [2.0, 0.5])
    >>> lik = Likelihood(model, [12.0, 3.0] + model.config.auxdata)
    >>> fast = BinnedModel.from_likelihood(lik)
    >>> pars = np.array([[1.0, 1.1, 0.9]])
    >>> bool(np.allclose(fast.twice_nll(pars, lik.data[None, :]),
    ...                  -2 * model.logpdf(pars[0], lik.data)))
    True
    """

    def __init__(
        self, bins: tuple[SingleBinModel, ...], aux: tuple[tuple[str, int, float], ...]
    ) -> None:
        self.bins = bins
        self.aux = aux

    @classmethod
    def from_likelihood(cls, lik: Likelihood) -> BinnedModel | None:
        """The closed form of ``lik``'s model (2 to :data:`MAX_BINS` bins), or None where it does
        not apply.
        """
        model = lik.model
        cfg = model.config
        if not 1 < cfg.nmaindata <= MAX_BINS:
            return None
        by_name = {c["name"]: c for c in model.spec.get("channels", [])}
        bins = []
        for channel in cfg.channels:  # pyhf's main-data order: channels as in config, bins in order
            for index in range(cfg.channel_nbins[channel]):
                samples = _bin_samples(lik, by_name[channel], index)
                if samples is None:
                    return None
                bins.append(SingleBinModel(samples, lik.n_pars, ()))
        return cls(tuple(bins), _aux(lik))

    def twice_nll(self, pars: np.ndarray, data: np.ndarray) -> np.ndarray:
        """-2 ln L exactly as pyhf's ``logpdf``; inf where undefined."""
        return self._evaluate(pars, data, order=0)[0]

    def derivatives(
        self, pars: np.ndarray, data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(-2 ln L, gradient (N, P), Hessian (N, P, P)) at ``pars`` for ``data``."""
        return self._evaluate(pars, data, order=2)

    def _evaluate(
        self, pars: np.ndarray, data: np.ndarray, order: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        value, grad, hess = _poisson(*self.bins[0].rate(pars, order), data[:, 0], order)
        for b, one in enumerate(self.bins[1:], start=1):
            v, g, h = _poisson(*one.rate(pars, order), data[:, b], order)
            value, grad, hess = value + v, grad + g, hess + h
        return _with_constraints(
            value, grad, hess, self.aux, pars, data[:, len(self.bins) :], order
        )


def _poisson(
    lam: np.ndarray, dlam: np.ndarray, d2lam: np.ndarray, n: np.ndarray, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-2 ln Poisson(n | lambda) (pyhf's continuous form) and, with ``order``, its derivatives from
    lambda's.
    """
    grad, hess = dlam, d2lam  # empty unless order >= 1 / 2
    with np.errstate(all="ignore"):
        value = 2.0 * (lam - special.xlogy(n, lam) + special.gammaln(n + 1.0))
        if order:
            ratio = np.where(n == 0, 0.0, n / lam)  # n = 0: no log term, also at lambda = 0
            r = 1.0 - ratio
            curv = np.where(n == 0, 0.0, ratio / lam)
            grad = 2.0 * r[:, None] * dlam
            hess = 2.0 * (
                r[:, None, None] * d2lam + curv[:, None, None] * dlam[:, :, None] * dlam[:, None, :]
            )
    return np.where(lam >= 0, value, np.inf), grad, hess


def _with_constraints(
    value: np.ndarray,
    grad: np.ndarray,
    hess: np.ndarray,
    aux: tuple[tuple[str, int, float], ...],
    pars: np.ndarray,
    aux_data: np.ndarray,
    order: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the Gaussian and Poisson constraint terms (pyhf's, constants included) to -2 ln L."""
    for k, (kind, p, scale) in enumerate(aux):
        a, theta = aux_data[:, k], pars[:, p]
        if kind == "normal":
            value = value + ((a - theta) / scale) ** 2 + math.log(2.0 * math.pi * scale * scale)
            if order:
                grad[:, p] += 2.0 * (theta - a) / (scale * scale)
                hess[:, p, p] += 2.0 / (scale * scale)
        else:
            with np.errstate(all="ignore"):
                nu = theta * scale
                value = value + 2.0 * (nu - special.xlogy(a, nu) + special.gammaln(a + 1.0))
                if order:
                    grad[:, p] += 2.0 * (scale - np.where(a == 0, 0.0, a / theta))
                    hess[:, p, p] += 2.0 * np.where(a == 0, 0.0, a / (theta * theta))
    value = np.where(np.isfinite(value), value, np.inf)
    return value, grad, hess


def _aux(lik: Likelihood) -> tuple[tuple[str, int, float], ...]:
    """(kind, parameter index, sigma or tau) of each constraint, in auxdata order."""
    return tuple((t.kind, t.par_index, t.scale) for t in lik.aux_terms)


def _bin_samples(lik: Likelihood, channel: dict, index: int) -> tuple[_Sample, ...] | None:
    """The samples of bin ``index`` of ``channel`` as closed-form terms, or None for an unsupported
    modifier.
    """
    cfg = lik.model.config
    codes = {k: v.get("interpcode") for k, v in (cfg.modifier_settings or {}).items()}
    normsys_code, histosys_code = codes.get("normsys", "code4"), codes.get("histosys", "code4p")
    if normsys_code not in ("code1", "code4") or histosys_code not in ("code0", "code4p"):
        return None
    samples = []
    for sample in channel["samples"]:
        nominal = float(sample["data"][index])
        additive: list[_Term] = []
        factors: list[_Term] = []
        for mod in sample.get("modifiers", []):
            kind, first = mod["type"], cfg.par_slice(mod["name"]).start
            if kind in _MULTIPLICATIVE:
                factors.append(_Term(first + index if kind in _PER_BIN else first, "factor"))
            elif kind == "normsys":
                hi, lo = float(mod["data"]["hi"]), float(mod["data"]["lo"])
                if not (hi > 0 and lo > 0):
                    return None
                coeffs: tuple[float, ...] = (math.log(hi), math.log(lo))
                if normsys_code == "code4":
                    coeffs += _code4_coefficients(hi, lo)
                factors.append(_Term(first, normsys_code, coeffs))
            elif kind == "histosys":
                hi, lo = float(mod["data"]["hi_data"][index]), float(mod["data"]["lo_data"][index])
                additive.append(_Term(first, histosys_code, (hi - nominal, nominal - lo)))
            else:
                return None
        pars_used = [t.par for t in factors]
        if len(set(pars_used)) != len(pars_used):
            return None
        samples.append(_Sample(nominal, tuple(additive), tuple(factors)))
    return tuple(samples)
