"""A pyhf model with its data, evaluated in batches, and a vectorised fitter.

pyhf's models are the likelihood (so every modifier behaves exactly as in
pyhf); this module adds what pyhf's one-fit-at-a-time API lacks for fast
limits: evaluation of many parameter points / pseudo-datasets in one batched
``logpdf`` call, and a damped Newton minimiser that fits thousands of toys at
once.

The Newton minimiser (:func:`Likelihood.fit`) takes its gradient and Hessian
from finite differences, all stencil points of all datasets in one batched
pyhf call, with box bounds handled by an active set. It is used for models
with up to :data:`MAX_NEWTON_PARAMETERS` free parameters (NA64 counting and
shape models); larger models fall back to pyhf's own ``mle.fit`` one dataset
at a time. ``benchmarks/bench_limits.py`` shows the speed-up, the tests
check every fit against pyhf's.

Examples
--------
>>> import pyhf
>>> model = pyhf.simplemodels.uncorrelated_background([5.0], [10.0], [2.0])
>>> lik = Likelihood(model, [12.0] + model.config.auxdata)
>>> res = lik.fit(lik.data[None, :])
>>> bool(res.converged[0]), round(float(res.pars[0, lik.poi_index]), 3)
(True, 0.4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyhf
from numpy.typing import ArrayLike

from na64stat.errors import InputError

__all__ = ["MAX_NEWTON_PARAMETERS", "FitResult", "AuxTerm", "Likelihood"]

#: Above this many free parameters the finite-difference Newton fitter costs
#: more than pyhf's SLSQP fit and the latter is used.
MAX_NEWTON_PARAMETERS: int = 24
_MAX_POINTS_PER_CALL = 200_000
_REL_STEP = 1e-4
_LINE_SEARCH = np.array([1.0, 0.5, 0.2, 0.05, 0.01])


@dataclass(frozen=True)
class FitResult:
    """Result of fitting N datasets.

    Attributes
    ----------
    pars:
        Best-fit parameters, shape (N, n_pars).
    twice_nll:
        -2 ln L at the best fit, shape (N,).
    converged:
        Whether each fit converged, shape (N,).
    """

    pars: np.ndarray
    twice_nll: np.ndarray
    converged: np.ndarray


@dataclass(frozen=True)
class AuxTerm:
    """One auxiliary measurement (global observable) of the model.

    ``kind`` is ``"normal"`` (aux ~ N(theta, sigma)) or ``"poisson"``
    (aux ~ Poisson(theta * factor)); ``par_index`` is the constrained
    parameter's index in the parameter vector.
    """

    kind: str
    par_index: int
    scale: float


def _pad_size(n: int) -> int:
    """Round a batch size up to a power of two, so few batched models are built."""
    return 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))


class Likelihood:
    """A pyhf model plus observed data (main + auxiliary), with batched evaluation.

    Parameters
    ----------
    model:
        A pyhf model (``batch_size=None``), e.g. from ``workspace.model()``.
    data:
        Observed main data followed by the auxiliary data, as pyhf expects.
    """

    def __init__(self, model: pyhf.pdf.Model, data: ArrayLike) -> None:
        if model.batch_size is not None:
            raise InputError("give the unbatched pyhf model; batches are built internally")
        if model.config.poi_index is None:
            raise InputError("the model has no parameter of interest (POI)")
        self.model = model
        self.data = np.asarray(data, dtype=float)
        expected_size = model.config.nmaindata + model.config.nauxdata
        if self.data.shape != (expected_size,):
            raise InputError(f"data has {self.data.size} entries, the model expects {expected_size}")
        self.poi_index: int = model.config.poi_index
        self.init = np.asarray(model.config.suggested_init(), dtype=float)
        self.bounds = np.asarray(model.config.suggested_bounds(), dtype=float)
        self.fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
        self.n_pars = self.init.size
        self.aux_terms = self._aux_terms()
        self._batched: dict[int, pyhf.pdf.Model] = {}

    # ------------------------------------------------------------------ structure
    def _aux_terms(self) -> tuple[AuxTerm, ...]:
        cfg = self.model.config
        terms: list[AuxTerm] = []
        for name in cfg.auxdata_order:
            pset = cfg.param_set(name)
            sl = cfg.par_slice(name)
            indices = range(sl.start, sl.stop)
            if pset.pdf_type == "normal":
                sigmas = getattr(pset, "sigmas", None) or [1.0] * len(indices)
                terms += [AuxTerm("normal", i, float(s)) for i, s in zip(indices, sigmas)]
            elif pset.pdf_type == "poisson":
                terms += [AuxTerm("poisson", i, float(f)) for i, f in zip(indices, pset.factors)]
            else:  # pragma: no cover - pyhf has only these two
                raise InputError(f"unsupported constraint type {pset.pdf_type!r} for parameter {name!r}")
        return tuple(terms)

    @property
    def n_main(self) -> int:
        """Number of main-measurement bins."""
        return int(self.model.config.nmaindata)

    def batched_model(self, batch_size: int) -> pyhf.pdf.Model:
        """The same model built with ``batch_size`` (cached)."""
        if batch_size not in self._batched:
            self._batched[batch_size] = pyhf.Model(
                self.model.spec,
                batch_size=batch_size,
                validate=False,
                poi_name=self.model.config.poi_name,
                modifier_settings=self.model.config.modifier_settings,
            )
        return self._batched[batch_size]

    # ------------------------------------------------------------------ evaluation
    def twice_nll(self, pars: ArrayLike, data: ArrayLike) -> np.ndarray:
        """-2 ln L for M parameter points and M datasets (or one dataset broadcast).

        Non-finite values (e.g. negative expected counts) become +inf.
        """
        p = np.atleast_2d(np.asarray(pars, dtype=float))
        d = np.asarray(data, dtype=float)
        d = np.broadcast_to(d, (p.shape[0], d.shape[-1]))
        out = np.empty(p.shape[0])
        chunk = _MAX_POINTS_PER_CALL
        for start in range(0, p.shape[0], chunk):
            stop = min(start + chunk, p.shape[0])
            size = _pad_size(stop - start)
            pp = np.empty((size, self.n_pars))
            dd = np.empty((size, d.shape[-1]))
            pp[: stop - start], dd[: stop - start] = p[start:stop], d[start:stop]
            pp[stop - start :], dd[stop - start :] = self.init, self.data
            with np.errstate(all="ignore"):
                val = -2.0 * np.asarray(self.batched_model(size).logpdf(pp, dd), dtype=float)
            out[start:stop] = val[: stop - start]
        out[~np.isfinite(out)] = np.inf
        return out

    def expected_data(self, pars: ArrayLike, include_auxdata: bool = True) -> np.ndarray:
        """Expected main (and auxiliary) data at ``pars`` (shape (N, n) for (N, p) pars)."""
        p = np.atleast_2d(np.asarray(pars, dtype=float))
        rows = [np.asarray(self.model.expected_data(row, include_auxdata=include_auxdata)) for row in p]
        return np.asarray(rows)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: ArrayLike,
        init: ArrayLike | None = None,
        fixed_poi: float | ArrayLike | None = None,
        poi_bounds: tuple[float, float] | None = None,
        max_iter: int = 100,
    ) -> FitResult:
        """Maximum-likelihood fits of N datasets at once.

        Parameters
        ----------
        data:
            Datasets, shape (N, n_main + n_aux).
        init:
            Starting parameters, (n_pars,) or (N, n_pars); default: suggested init.
        fixed_poi:
            Fix the POI to this value (scalar or one per dataset); None fits it.
        poi_bounds:
            Override the POI bounds for a free fit (q~_mu uses a lower bound of 0).
        """
        d = np.atleast_2d(np.asarray(data, dtype=float))
        n = d.shape[0]
        x0 = np.broadcast_to(self.init if init is None else np.asarray(init, dtype=float), (n, self.n_pars)).copy()
        bounds = self.bounds.copy()
        if poi_bounds is not None:
            bounds[self.poi_index] = poi_bounds
        fixed = self.fixed.copy()
        if fixed_poi is not None:
            fixed[self.poi_index] = True
            x0[:, self.poi_index] = np.broadcast_to(np.asarray(fixed_poi, dtype=float), (n,))
        free = np.flatnonzero(~fixed)
        x0[:, free] = np.clip(x0[:, free], bounds[free, 0], bounds[free, 1])
        if free.size == 0:
            return FitResult(pars=x0, twice_nll=self.twice_nll(x0, d), converged=np.ones(n, dtype=bool))
        if free.size > MAX_NEWTON_PARAMETERS:
            return self._fit_with_pyhf(d, x0, fixed, bounds)
        return self._fit_newton(d, x0, free, bounds, max_iter)

    def _fit_with_pyhf(self, data: np.ndarray, x0: np.ndarray, fixed: np.ndarray, bounds: np.ndarray) -> FitResult:
        pars = np.empty_like(x0)
        nll = np.empty(data.shape[0])
        ok = np.ones(data.shape[0], dtype=bool)
        for i in range(data.shape[0]):
            try:
                best, val = pyhf.infer.mle.fit(
                    data[i], self.model, init_pars=x0[i].tolist(), par_bounds=bounds.tolist(),
                    fixed_params=fixed.tolist(), return_fitted_val=True,
                )
                pars[i], nll[i] = np.asarray(best), float(val)
            except Exception:  # pyhf raises FailedMinimization and others: record, don't abort
                pars[i], nll[i], ok[i] = x0[i], np.inf, False
        return FitResult(pars=pars, twice_nll=nll, converged=ok)

    def _fit_newton(self, data: np.ndarray, x0: np.ndarray, free: np.ndarray, bounds: np.ndarray, max_iter: int) -> FitResult:
        x = x0
        f = self.twice_nll(x, data)
        lo, hi = bounds[free, 0], bounds[free, 1]
        active = np.isfinite(f)
        done = ~active
        calm = np.zeros(x.shape[0], dtype=int)
        for _ in range(max_iter):
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                break
            xs, fs, ds = x[todo], f[todo], data[todo]
            grad, hess = self._derivatives(xs, ds, free, lo, hi)
            step = _newton_step(xs[:, free], grad, hess, lo, hi)
            cand = xs[:, None, :].repeat(_LINE_SEARCH.size, axis=1)
            cand[:, :, free] = np.clip(xs[:, None, free] + _LINE_SEARCH[None, :, None] * step[:, None, :], lo, hi)
            fc = self.twice_nll(cand.reshape(-1, self.n_pars), np.repeat(ds, _LINE_SEARCH.size, axis=0))
            fc = fc.reshape(todo.size, _LINE_SEARCH.size)
            best = np.argmin(fc, axis=1)
            fbest = fc[np.arange(todo.size), best]
            improved = fbest < fs
            newx = np.where(improved[:, None], cand[np.arange(todo.size), best], xs)
            gain = np.where(improved, fs - fbest, 0.0)
            decrement = 0.5 * np.abs(np.sum(grad * step, axis=1))
            x[todo], f[todo] = newx, np.where(improved, fbest, fs)
            small = (gain < 1e-10 * (1.0 + np.abs(fs))) & (decrement < 1e-8)
            calm[todo] = np.where(small | ~improved, calm[todo] + 1, 0)
            done[todo] = calm[todo] >= 2
        converged = done & np.isfinite(f)
        return FitResult(pars=x, twice_nll=f, converged=converged)

    def _derivatives(self, x: np.ndarray, data: np.ndarray, free: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Finite-difference gradient and Hessian in the free parameters, one batched call."""
        n, q = x.shape[0], free.size
        h = _REL_STEP * (1.0 + np.abs(x[:, free]))
        centre = x.copy()
        centre[:, free] = np.clip(x[:, free], lo + h, hi - h)  # keep the stencil inside the bounds
        pairs = [(i, j) for i in range(q) for j in range(i + 1, q)]
        k = 1 + 2 * q + len(pairs)
        pts = np.repeat(centre[:, None, :], k, axis=1)
        for i in range(q):
            pts[:, 1 + i, free[i]] += h[:, i]
            pts[:, 1 + q + i, free[i]] -= h[:, i]
        for m, (i, j) in enumerate(pairs):
            pts[:, 1 + 2 * q + m, free[i]] += h[:, i]
            pts[:, 1 + 2 * q + m, free[j]] += h[:, j]
        vals = self.twice_nll(pts.reshape(-1, self.n_pars), np.repeat(data, k, axis=0)).reshape(n, k)
        f0, fp, fm = vals[:, 0], vals[:, 1 : 1 + q], vals[:, 1 + q : 1 + 2 * q]
        grad = (fp - fm) / (2.0 * h)
        hess = np.empty((n, q, q))
        idx = np.arange(q)
        hess[:, idx, idx] = (fp - 2.0 * f0[:, None] + fm) / h**2
        for m, (i, j) in enumerate(pairs):
            hij = (vals[:, 1 + 2 * q + m] - fp[:, i] - fp[:, j] + f0) / (h[:, i] * h[:, j])
            hess[:, i, j] = hess[:, j, i] = hij
        bad = ~np.isfinite(grad).all(axis=1) | ~np.isfinite(hess).all(axis=(1, 2))
        grad[bad] = 0.0
        hess[bad] = np.eye(q)
        return grad, hess


def _newton_step(x: np.ndarray, grad: np.ndarray, hess: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Newton step with |eigenvalues| (saddle-free) and an active set at the bounds."""
    at_lo = (x <= lo) & (grad > 0)
    at_hi = (x >= hi) & (grad < 0)
    blocked = at_lo | at_hi
    g = np.where(blocked, 0.0, grad)
    h = hess.copy()
    q = x.shape[1]
    mask = blocked[:, :, None] | blocked[:, None, :]
    h[mask] = 0.0
    diag = np.arange(q)
    h[:, diag, diag] = np.where(blocked, 1.0, h[:, diag, diag])
    w, v = np.linalg.eigh(h)
    scale = np.maximum(np.abs(w), 1e-8 * np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12))
    coeff = np.einsum("nij,ni->nj", v, g) / scale
    return -np.einsum("nij,nj->ni", v, coeff)


def stack_datasets(datasets: Sequence[ArrayLike]) -> np.ndarray:
    """Stack datasets of equal length into an (N, n) array."""
    return np.asarray([np.asarray(d, dtype=float) for d in datasets])
