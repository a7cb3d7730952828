"""Speed of na64stat's CLs limits against pyhf's hypotest-based search, same models, same process.

Asymptotic: a mass scan (default 100 points) of 3-bin models whose signal shape
changes with the mass; observed + 5 expected limits per point. Baseline: pyhf's
``upper_limit`` with an explicit scan (hypotest at every scan point, CLs
interpolated), level = 0.10 - the "loop over pyhf's hypotest".

Toys: a single-bin NA64-like model with a background uncertainty. Baseline:
``pyhf.infer.hypotest(..., calctype="toybased")``; pyhf fits toy by toy, so
its time is linear in the toy count and is measured at ``--pyhf-toys`` and
scaled to ``--toys`` (printed as such). Ours: the full limit search (observed
+ 5 expected) at ``--toys`` toys.

Prints medians over ``--repeats`` and the ratios. Example:

    python benchmarks/bench_limits.py --points 100 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyhf

from na64stat.inference import Likelihood, ToyCalculator, upper_limit

pyhf.set_backend("numpy")


def scan_models(n_points: int) -> list[tuple[pyhf.pdf.Model, list[float]]]:
    """3-bin models: background 40/30/20 +- 10%, a signal peak moving across the bins."""
    out = []
    for i in range(n_points):
        centre = 2.0 * i / max(n_points - 1, 1)
        signal = [10.0 * np.exp(-0.5 * (b - centre) ** 2) + 0.5 for b in range(3)]
        model = pyhf.simplemodels.uncorrelated_background(signal, [40.0, 30.0, 20.0], [4.0, 3.0, 2.0])
        out.append((model, [42.0, 27.0, 21.0] + model.config.auxdata))
    return out


def ours_scan(models) -> tuple[float, list[float]]:
    start = time.perf_counter()
    limits = [upper_limit(m, d, 0.9, method="asymptotic").observed for m, d in models]
    return time.perf_counter() - start, limits


def pyhf_scan(models, n_scan: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    limits = []
    for m, d in models:
        scan = np.linspace(0.05, 4.0, n_scan)
        obs, _exp = pyhf.infer.intervals.upper_limits.upper_limit(d, m, scan, level=0.1)
        limits.append(float(obs))
    return time.perf_counter() - start, limits


def toy_model() -> tuple[pyhf.pdf.Model, list[float]]:
    model = pyhf.simplemodels.uncorrelated_background([1.0], [0.8], [0.3])
    return model, [1.0] + model.config.auxdata


def pyhf_toy_cls(mu: float, data: list[float], model: pyhf.pdf.Model, ntoys: int) -> float:
    """Observed CLs from pyhf's ToyCalculator, the work of ``hypotest(calctype="toybased")``.

    ``hypotest`` itself cannot be used: its expected band calls ``np.percentile(...,
    interpolation=...)``, which numpy >= 2.4 removed (see DEVELOPERS.md); the toys -
    the expensive part - are generated and fitted by ``distributions`` exactly as in hypotest.
    """
    calc = pyhf.infer.calculators.ToyCalculator(data, model, ntoys=ntoys, test_stat="qtilde", track_progress=False)
    teststat = calc.teststatistic(mu)
    sb, b = calc.distributions(mu)
    return float(calc.pvalues(teststat, sb, b)[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--scan", type=int, default=21, help="pyhf scan points per mass point")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--toys", type=int, default=10_000)
    parser.add_argument("--pyhf-toys", type=int, default=300)
    args = parser.parse_args()

    models = scan_models(args.points)
    ours_t, pyhf_t = [], []
    for _ in range(args.repeats):
        t, ours_limits = ours_scan(models)
        ours_t.append(t)
        t, pyhf_limits = pyhf_scan(models, args.scan)
        pyhf_t.append(t)
    rel = np.abs(np.array(ours_limits) / np.array(pyhf_limits) - 1)
    print(f"asymptotic scan, {args.points} points, observed + 5 expected each")
    print(f"  na64stat : median {statistics.median(ours_t):8.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ours_t)})")
    print(f"  pyhf     : median {statistics.median(pyhf_t):8.2f} s  ({args.scan}-point hypotest scan per mass)")
    print(f"  ratio pyhf / na64stat: {statistics.median(pyhf_t) / statistics.median(ours_t):.1f}x")
    print(f"  observed limits agree: median relative difference {np.median(rel):.1e}, max {rel.max():.1e} "
          "(pyhf interpolates CLs linearly between its scan points)")
    m0, d0 = models[0]
    at_ours = float(pyhf.infer.hypotest(ours_limits[0], d0, m0, test_stat="qtilde"))
    at_pyhf = float(pyhf.infer.hypotest(pyhf_limits[0], d0, m0, test_stat="qtilde"))
    print(f"  pyhf's own hypotest CLs at the first point's limits: na64stat {at_ours:.5f}, pyhf scan {at_pyhf:.5f} (target 0.10)")

    model, data = toy_model()
    mu = 3.0
    ours_cls_t, pyhf_cls_t, ours_lim_t = [], [], []
    for rep in range(args.repeats):
        start = time.perf_counter()
        ens = ToyCalculator(Likelihood(model, data), n_toys=args.toys, seed=rep).ensemble(mu)
        ours_cls_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        pyhf_cls = pyhf_toy_cls(mu, data, model, args.pyhf_toys)
        pyhf_cls_t.append((time.perf_counter() - start) * args.toys / args.pyhf_toys)
        start = time.perf_counter()
        lim = upper_limit(model, data, 0.9, method="toys", n_toys=args.toys, seed=rep)
        ours_lim_t.append(time.perf_counter() - start)
    ours_cls = ens.cls()
    err_pyhf = np.sqrt(ours_cls.cls_obs * (1 - ours_cls.cls_obs) / args.pyhf_toys)
    print(f"toys, single-bin model with background uncertainty, CLs at mu = {mu}")
    print(f"  na64stat : median {statistics.median(ours_cls_t):8.2f} s for {args.toys} toys per hypothesis")
    print(f"  pyhf     : median {statistics.median(pyhf_cls_t):8.2f} s scaled to {args.toys} toys (measured at {args.pyhf_toys})")
    print(f"  ratio pyhf / na64stat: {statistics.median(pyhf_cls_t) / statistics.median(ours_cls_t):.0f}x per CLs evaluation")
    print(f"  CLs: na64stat {ours_cls.cls_obs:.4f} +- {ens.cls_error():.4f}, pyhf {float(pyhf_cls):.4f} (+- ~{err_pyhf:.3f} MC)")
    n_eval = lim.n_evaluations
    pyhf_limit = statistics.median(pyhf_cls_t) * args.scan
    print(f"  full toy limit per point (observed + 5 expected, {n_eval} CLs evaluations): median "
          f"{statistics.median(ours_lim_t):.2f} s")
    print(f"  pyhf toy limit per point = {args.scan}-point scan x one {args.toys}-toy hypotest "
          f"({statistics.median(pyhf_cls_t):.0f} s each) = {pyhf_limit:.0f} s: "
          f"ratio {pyhf_limit / statistics.median(ours_lim_t):.0f}x")
    print(f"  toy limit {lim.observed:.3f}, expected {', '.join(f'{v:.3f}' for v in lim.expected)}")


if __name__ == "__main__":
    main()
