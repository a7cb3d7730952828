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

See the physics reference (docs/physics.rst, sections "Statistics", "Test
statistic").

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

import copy
import math
from dataclasses import dataclass

import numpy as np
import pyhf
from numpy.typing import ArrayLike

from na64stat.core.errors import InputError

__all__ = ["MAX_NEWTON_PARAMETERS", "FitResult", "AuxTerm", "Likelihood"]

#: Above this many free parameters the finite-difference Newton fitter costs
#: more than pyhf's SLSQP fit and the latter is used.
MAX_NEWTON_PARAMETERS: int = 24
_MAX_POINTS_PER_CALL = 200_000
_REL_STEP = 1e-4


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
    n_on_edge:
        Fits that ended on the edge of the region where -2 ln L is defined (an interpolated yield
        reaching zero; pyhf's likelihood is undefined beyond it): converged there, counted here.
    """

    pars: np.ndarray
    twice_nll: np.ndarray
    converged: np.ndarray
    n_on_edge: int = 0


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
            raise InputError(
                f"data has {self.data.size} entries, the model expects {expected_size}"
            )
        self.poi_index: int = model.config.poi_index
        self.init = np.asarray(model.config.suggested_init(), dtype=float)
        self.bounds = np.asarray(model.config.suggested_bounds(), dtype=float)
        self.fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
        self.n_pars = self.init.size
        self.aux_terms = self._aux_terms()
        self._batched: dict[int, pyhf.pdf.Model] = {}
        from na64stat.inference.singlebin import BinnedModel, SingleBinModel

        #: closed-form one-bin model: its expected count (exact counting) and -2 ln L (None: not one
        #: bin)
        self.closed_form: SingleBinModel | None = SingleBinModel.from_likelihood(self)
        #: closed-form -2 ln L with analytic derivatives, one bin or a few (None: pyhf path)
        self.closed_form_nll: SingleBinModel | BinnedModel | None = (
            self.closed_form or BinnedModel.from_likelihood(self)
        )
        self.typical_scale = self._typical_scale()

    def _typical_scale(self) -> np.ndarray:
        """Scale of each parameter for finite-difference steps: 1, except the POI, whose unit
        is set so that one unit changes the expectation by about one event (a POI with 1e6
        signal events per unit has scale 1e-6: steps of 1e-4 would jump over the minimum).
        """
        scale = np.ones(self.n_pars)
        pars = np.repeat(self.init[None, :], 2, axis=0)
        pars[:, self.poi_index] = (0.0, 1.0)
        with np.errstate(all="ignore"):
            rows = [np.asarray(self.model.expected_actualdata(row), dtype=float) for row in pars]
            signal = float(np.sum(np.abs(rows[1] - rows[0])))
        if math.isfinite(signal) and signal > 0:
            scale[self.poi_index] = 1.0 / signal
        return scale

    def with_poi_bounds(self, lo: float, hi: float) -> Likelihood:
        """The same likelihood with the POI bounded by [lo, hi] (the model itself is unchanged)."""
        other = copy.copy(self)
        other.bounds = self.bounds.copy()
        other.bounds[self.poi_index] = (lo, hi)
        return other

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
                raise InputError(
                    f"unsupported constraint type {pset.pdf_type!r} for parameter {name!r}"
                )
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
        if self.closed_form_nll is not None:
            return self.closed_form_nll.twice_nll(p, d)
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
        rows = [
            np.asarray(self.model.expected_data(row, include_auxdata=include_auxdata)) for row in p
        ]
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
        x0 = np.broadcast_to(
            self.init if init is None else np.asarray(init, dtype=float), (n, self.n_pars)
        ).copy()
        bounds = self.bounds.copy()
        if poi_bounds is not None:
            bounds[self.poi_index] = poi_bounds
        fixed = self.fixed.copy()
        if fixed_poi is not None:
            fixed[self.poi_index] = True
            x0[:, self.poi_index] = np.broadcast_to(np.asarray(fixed_poi, dtype=float), (n,))
            # a fixed POI may lie outside its declared bounds (pyhf's minimisers refuse that)
            values = x0[:, self.poi_index]
            bounds[self.poi_index] = (
                min(bounds[self.poi_index, 0], values.min()),
                max(bounds[self.poi_index, 1], values.max()),
            )
        free = np.flatnonzero(~fixed)
        x0[:, free] = np.clip(x0[:, free], bounds[free, 0], bounds[free, 1])
        if free.size == 0:
            return FitResult(
                pars=x0, twice_nll=self.twice_nll(x0, d), converged=np.ones(n, dtype=bool)
            )
        if free.size > MAX_NEWTON_PARAMETERS:
            return self._fit_with_pyhf(d, x0, fixed, bounds)
        return self._fit_newton(d, x0, free, bounds, max_iter)

    def _fit_with_pyhf(
        self, data: np.ndarray, x0: np.ndarray, fixed: np.ndarray, bounds: np.ndarray
    ) -> FitResult:
        pars = np.empty_like(x0)
        nll = np.empty(data.shape[0])
        ok = np.ones(data.shape[0], dtype=bool)
        for i in range(data.shape[0]):
            try:
                best, val = pyhf.infer.mle.fit(
                    data[i],
                    self.model,
                    init_pars=x0[i].tolist(),
                    par_bounds=bounds.tolist(),
                    fixed_params=fixed.tolist(),
                    return_fitted_val=True,
                )
                pars[i], nll[i] = np.asarray(best), float(val)
            except (
                pyhf.exceptions.FailedMinimization
            ):  # a failed fit is recorded; any other error is raised
                pars[i], nll[i], ok[i] = x0[i], np.inf, False
        return FitResult(pars=pars, twice_nll=nll, converged=ok)

    def _fit_newton(
        self, data: np.ndarray, x0: np.ndarray, free: np.ndarray, bounds: np.ndarray, max_iter: int
    ) -> FitResult:
        """Projected Newton with a gradient fallback, all datasets at once.

        Each round takes the finite-difference derivatives (one batched call),
        then tries the Newton step (active set: parameters at a bound whose
        gradient points outwards) at a few lengths (one call); where none
        decreases -2 ln L it tries the Newton step with every coordinate that
        would leave the box frozen and a diagonally scaled gradient step down to
        tiny lengths (one more call). A fit converges only when the Newton
        decrement g^T |H|^-1 g is below ~1e-8 (in -2 ln L); a round without any
        decrease before that marks it failed.
        """
        lo, hi = bounds[free, 0], bounds[free, 1]
        x = self._finite_start(x0, data, free)
        f = self.twice_nll(x, data)
        n = x.shape[0]
        done = ~np.isfinite(f)
        converged = np.zeros(n, dtype=bool)
        on_edge = np.zeros(n, dtype=bool)
        # finite-difference steps: 1e-4 (1 + |x|) to start, then 1e-3 of each parameter's
        # uncertainty from the last Hessian (a POI whose scale is 1e-6 needs tiny steps)
        typical = self.typical_scale[free]
        steps_h = _REL_STEP * (typical + np.abs(x[:, free]))
        for _ in range(max_iter):
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                break
            xs, fs, ds = x[todo], f[todo], data[todo]
            xf = _snap(xs[:, free], lo, hi)
            xs[:, free] = xf
            h = np.maximum(steps_h[todo], 1e-9 * (typical + np.abs(xf)))
            grad, hess = self._derivatives(xs, ds, free, lo, hi, h)
            # non-finite derivatives: a failed fit, never a converged one
            broken = ~np.isfinite(grad).all(axis=1) | ~np.isfinite(hess).all(axis=(1, 2))
            if broken.any():
                done[todo[broken]] = True
                grad[broken], hess[broken] = 0.0, np.eye(free.size)
            sigma = np.sqrt(2.0 / np.maximum(np.abs(np.diagonal(hess, axis1=1, axis2=2)), 1e-300))
            steps_h[todo] = np.minimum(1e-3 * sigma, _REL_STEP * (typical + np.abs(xf)))
            blocked = ((xf <= lo) & (grad > 0)) | ((xf >= hi) & (grad < 0))
            newton = _newton_step(grad, hess, blocked)
            decrement = np.abs(np.sum(grad * newton, axis=1))
            tolerance = 1e-8 * (1.0 + 1e-3 * np.abs(fs))  # round-off of -2 ln L grows with its size
            ok = (decrement < tolerance) & ~broken
            converged[todo[ok]] = True
            done[todo[ok]] = True
            x[todo] = xs
            rest = np.flatnonzero(~ok & ~broken)
            if rest.size == 0:
                continue
            # phase 1: the Newton step at a few lengths
            improved, fnew, xnew = self._try_steps(
                xs[rest], fs[rest], ds[rest], free, lo, hi, [(newton[rest], _NEWTON_FRACTIONS)]
            )
            # phase 2, only where phase 1 failed: freeze coordinates that would leave the box,
            # and a diagonally scaled gradient step down to tiny lengths
            retry = np.flatnonzero(~improved)
            if retry.size:
                r = rest[retry]
                leaving = blocked[r] | (xf[r] + newton[r] < lo) | (xf[r] + newton[r] > hi)
                projected = _newton_step(grad[r], hess[r], leaving)
                curvature = np.maximum(np.abs(np.diagonal(hess[r], axis1=1, axis2=2)), 1e-8)
                descent = np.where(blocked[r], 0.0, -grad[r] / curvature)
                # and the Newton step cut where -2 ln L stops being defined (a yield turning
                # negative)
                to_edge = self._to_edge(xs[r], ds[r], free, lo, hi, newton[r])
                imp2, f2, x2 = self._try_steps(
                    xs[r],
                    fs[r],
                    ds[r],
                    free,
                    lo,
                    hi,
                    [
                        (projected, _NEWTON_FRACTIONS),
                        (descent, _GRADIENT_FRACTIONS),
                        (to_edge, np.ones(1)),
                    ],
                )
                improved[retry], fnew[retry], xnew[retry] = imp2, f2, x2
            rows = todo[rest]
            x[rows], f[rows] = xnew, fnew
            # no decrease: converged if within 100x the tolerance (round-off floor), else a failed
            # fit;
            # no decrease or a decrease below the tolerance on the edge of the region where -2 ln L
            # is
            # defined (a tiny step downhill leaves it): converged there, the minimum where it is
            # defined
            stuck = ~improved
            near = stuck & (decrement[rest] < 100 * tolerance[rest])
            edge = (stuck & ~near) | (improved & (fs[rest] - fnew < tolerance[rest]))
            if edge.any():
                r = rest[edge]
                edge[edge] = self._on_edge(xnew[edge], ds[r], free, lo, hi, -grad[r], blocked[r])
            if edge.any():
                # on the edge, the minimum may still lie along it: Newton and gradient steps in the
                # coordinates that do not leave the domain; where they decrease -2 ln L the fit goes
                # on
                k = np.flatnonzero(edge)
                r = rest[k]
                moved, f_e, x_e = self._along_edge(
                    xnew[k], fnew[k], ds[r], free, lo, hi, grad[r], hess[r], blocked[r]
                )
                moved &= fnew[k] - f_e > tolerance[r]
                x[rows[k[moved]]], f[rows[k[moved]]] = x_e[moved], f_e[moved]
                edge[k[moved]] = False
                stuck[k[moved]] = False
            converged[rows[near | edge]] = True
            on_edge[rows[edge]] = True
            done[rows[stuck | edge]] = True
        return FitResult(
            pars=x, twice_nll=f, converged=converged & np.isfinite(f), n_on_edge=int(on_edge.sum())
        )

    def _try_steps(
        self,
        xs: np.ndarray,
        fs: np.ndarray,
        ds: np.ndarray,
        free: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        steps: list[tuple[np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate x + t * step (clipped to the box) for all steps and lengths in one call; keep
        the best.
        """
        xf = xs[:, free]
        cands = np.concatenate(
            [
                np.clip(xf[:, None, :] + fr[None, :, None] * st[:, None, :], lo, hi)
                for st, fr in steps
            ],
            axis=1,
        )
        k = cands.shape[1]
        full = np.repeat(xs[:, None, :], k, axis=1)
        full[:, :, free] = cands
        fc = self.twice_nll(full.reshape(-1, self.n_pars), np.repeat(ds, k, axis=0)).reshape(
            xs.shape[0], k
        )
        best = np.argmin(fc, axis=1)
        rows = np.arange(xs.shape[0])
        fbest = fc[rows, best]
        improved = fbest < fs
        return (
            improved,
            np.where(improved, fbest, fs),
            np.where(improved[:, None], full[rows, best], xs),
        )

    def _to_edge(
        self,
        xs: np.ndarray,
        ds: np.ndarray,
        free: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        step: np.ndarray,
    ) -> np.ndarray:
        """``step`` shortened to the longest fraction (bisection, 40 halvings) at which -2 ln L is
        still finite; unchanged where the whole step is (then it adds nothing new).
        """
        xf = xs[:, free]

        def finite(frac: np.ndarray) -> np.ndarray:
            trial = xs.copy()
            trial[:, free] = np.clip(xf + frac[:, None] * step, lo, hi)
            return np.isfinite(self.twice_nll(trial, ds))

        good, bad = np.zeros(xs.shape[0]), np.ones(xs.shape[0])
        if finite(bad).all():
            return step
        for _ in range(40):
            mid = 0.5 * (good + bad)
            ok = finite(mid)
            good, bad = np.where(ok, mid, good), np.where(ok, bad, mid)
        return good[:, None] * step

    def _along_edge(
        self,
        xs: np.ndarray,
        fs: np.ndarray,
        ds: np.ndarray,
        free: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        grad: np.ndarray,
        hess: np.ndarray,
        blocked: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps along the edge of the domain: each coordinate whose own tiny step downhill leaves
        it is frozen (like a parameter at its bound), and the projected Newton step and a scaled
        gradient step are tried in the others. Returns (decreased, -2 ln L, parameters) per row.
        """
        leaving = blocked.copy()
        for i, p in enumerate(free):
            trial = xs.copy()
            trial[:, p] = np.clip(
                xs[:, p] - np.sign(grad[:, i]) * 1e-7 * (self.typical_scale[p] + np.abs(xs[:, p])),
                lo[i],
                hi[i],
            )
            leaving[:, i] |= ~np.isfinite(self.twice_nll(trial, ds))
        projected = _newton_step(grad, hess, leaving)
        curvature = np.maximum(np.abs(np.diagonal(hess, axis1=1, axis2=2)), 1e-8)
        descent = np.where(leaving, 0.0, -grad / curvature)
        return self._try_steps(
            xs,
            fs,
            ds,
            free,
            lo,
            hi,
            [(projected, _NEWTON_FRACTIONS), (descent, _GRADIENT_FRACTIONS)],
        )

    def _on_edge(
        self,
        xs: np.ndarray,
        ds: np.ndarray,
        free: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        downhill: np.ndarray,
        blocked: np.ndarray,
    ) -> np.ndarray:
        """Whether a tiny step downhill (1e-7 of each parameter's scale) makes -2 ln L undefined:
        the fit then ends on the edge of the region where every expected count is positive (an
        interpolated yield that turns negative beyond it), the minimum of the likelihood where it is
        defined.
        """
        direction = np.where(blocked, 0.0, downhill)
        norm = np.abs(direction).max(axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            unit = np.where(norm > 0, direction / norm, 0.0)
        trial = xs.copy()
        trial[:, free] = np.clip(
            xs[:, free] + 1e-7 * (self.typical_scale[free] + np.abs(xs[:, free])) * unit, lo, hi
        )
        return (norm[:, 0] > 0) & ~np.isfinite(self.twice_nll(trial, ds))

    def _finite_start(self, x0: np.ndarray, data: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Replace starting points with an infinite -2 ln L (e.g. zero expected counts where
        data are non-zero) by the suggested init, then by the suggested init with the POI at 1.
        """
        x = x0.copy()
        f = self.twice_nll(x, data)
        for poi in (None, 1.0):
            bad = ~np.isfinite(f)
            if not bad.any():
                break
            alt = x0[bad].copy()
            alt[:, free] = self.init[free]
            if poi is not None and self.poi_index in free:
                alt[:, self.poi_index] = poi
            f_alt = self.twice_nll(alt, data[bad])
            better = np.isfinite(f_alt)
            rows = np.flatnonzero(bad)[better]
            x[rows], f[rows] = alt[better], f_alt[better]
        return x

    def _derivatives(
        self,
        x: np.ndarray,
        data: np.ndarray,
        free: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        h: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Finite-difference gradient and Hessian in the free parameters, one batched call.

        The two points per coordinate are at (+h, -h) inside the box, (+h, +2h)
        at a lower bound and (-h, -2h) at an upper bound, so the stencil never
        leaves the box and is centred on x itself.
        """
        if self.closed_form_nll is not None:  # exact derivatives, no step size
            _, grad_all, hess_all = self.closed_form_nll.derivatives(x, data)
            return grad_all[:, free], hess_all[:, free][:, :, free]
        n, q = x.shape[0], free.size
        xf = x[:, free]
        at_lo = xf - h < lo
        at_hi = xf + h > hi
        a = np.where(at_hi & ~at_lo, -1.0, 1.0)
        b = np.where(at_lo, 2.0, np.where(at_hi, -2.0, -1.0))
        pairs = [(i, j) for i in range(q) for j in range(i + 1, q)]
        k = 1 + 2 * q + len(pairs)
        pts = np.repeat(x[:, None, :], k, axis=1)
        for i in range(q):
            pts[:, 1 + i, free[i]] += a[:, i] * h[:, i]
            pts[:, 1 + q + i, free[i]] += b[:, i] * h[:, i]
        for m, (i, j) in enumerate(pairs):
            pts[:, 1 + 2 * q + m, free[i]] += a[:, i] * h[:, i]
            pts[:, 1 + 2 * q + m, free[j]] += a[:, j] * h[:, j]
        vals = self.twice_nll(pts.reshape(-1, self.n_pars), np.repeat(data, k, axis=0)).reshape(
            n, k
        )
        f0 = vals[:, :1]
        da, db = vals[:, 1 : 1 + q] - f0, vals[:, 1 + q : 1 + 2 * q] - f0
        # quadratic through (0, f0), (a h, fa), (b h, fb)
        denom = a * b * (b - a)
        grad = (da * b * b - db * a * a) / (h * denom)
        hess = np.empty((n, q, q))
        idx = np.arange(q)
        hess[:, idx, idx] = 2.0 * (a * db - b * da) / (h * h * denom)
        for m, (i, j) in enumerate(pairs):
            hij = (vals[:, 1 + 2 * q + m] - vals[:, 1 + i] - vals[:, 1 + j] + vals[:, 0]) / (
                a[:, i] * h[:, i] * a[:, j] * h[:, j]
            )
            hess[:, i, j] = hess[:, j, i] = hij
        return grad, hess


_NEWTON_FRACTIONS = np.array([1.0, 0.5, 0.1])
_GRADIENT_FRACTIONS = np.array([1.0, 0.1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8])


def _snap(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Put values within 1e-12 (relative) of a bound exactly on it."""
    tol_lo = 1e-12 * (1.0 + np.abs(lo))
    tol_hi = 1e-12 * (1.0 + np.abs(hi))
    x = np.where(x < lo + tol_lo, lo, x)
    return np.where(x > hi - tol_hi, hi, x)


def _newton_step(grad: np.ndarray, hess: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Newton step with |eigenvalues| (saddle-free) in the coordinates not ``frozen``."""
    g = np.where(frozen, 0.0, grad)
    h = hess.copy()
    q = grad.shape[1]
    h[frozen[:, :, None] | frozen[:, None, :]] = 0.0
    diag = np.arange(q)
    h[:, diag, diag] = np.where(frozen, 1.0, h[:, diag, diag])
    step = np.empty_like(g)
    # positive-definite rows (the usual case near a minimum): a Cholesky solve, several times
    # cheaper than the eigendecomposition the other rows need
    definite = _positive_definite(h)
    if definite.any():
        step[definite] = -np.linalg.solve(h[definite], g[definite][:, :, None])[:, :, 0]
    rest = ~definite
    if rest.any():
        # equilibrate first (unit diagonal), so that the eigenvalue floor is relative to each
        # parameter's own curvature: a direction with no curvature (a linear -2 ln L, e.g. the POI
        # at n = 0) next to a very stiff one (a tightly constrained nuisance parameter) then gets
        # a long step towards its bound instead of a vanishing one
        hr, gr = h[rest], g[rest]
        diag_abs = np.abs(np.diagonal(hr, axis1=1, axis2=2))
        d = np.sqrt(
            np.maximum(diag_abs, 1e-12 * np.maximum(diag_abs.max(axis=1, keepdims=True), 1e-300))
        )
        w, v = np.linalg.eigh(hr / (d[:, :, None] * d[:, None, :]))
        scale = np.maximum(
            np.abs(w), 1e-8 * np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
        )
        with np.errstate(
            over="ignore", invalid="ignore"
        ):  # a flat direction: a step as long as the box
            coeff = np.einsum("nij,ni->nj", v, gr / d) / scale
            step[rest] = np.nan_to_num(
                -np.einsum("nij,nj->ni", v, coeff) / d, nan=0.0, posinf=1e300, neginf=-1e300
            )
    return np.where(frozen, 0.0, step)


def _positive_definite(h: np.ndarray) -> np.ndarray:
    """Rows whose symmetric matrix is well-conditioned positive definite: after scaling to a unit
    diagonal (so that a POI of 1e6 events per unit next to a unit nuisance parameter is not
    ill-conditioned by units alone), every leading principal minor above 1e-8 (Sylvester's
    criterion: closed forms up to 3x3, one batched determinant per larger order), so one row that is
    not definite does not send the whole batch to the eigendecomposition.
    """
    diag = np.diagonal(h, axis1=1, axis2=2)
    ok = np.all(diag > 0, axis=1)
    d = np.sqrt(np.where(diag > 0, diag, 1.0))
    u = h / (d[:, :, None] * d[:, None, :])
    q = h.shape[1]
    if q >= 2:
        ok &= 1.0 - u[:, 0, 1] * u[:, 1, 0] > 1e-8
    if q >= 3:
        a, b, c = u[:, 0, 1], u[:, 0, 2], u[:, 1, 2]
        ok &= 1.0 + 2.0 * a * b * c - a * a - b * b - c * c > 1e-8
    for k in range(4, q + 1):
        ok &= np.linalg.det(u[:, :k, :k]) > 1e-8
    return ok
