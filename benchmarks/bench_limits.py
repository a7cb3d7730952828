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

Shipped NA64 workspaces: every mass point of ``na64e-invisible-2016-2018``
(one bin, n = 0, Gaussian signal-efficiency and background uncertainties) at
the default settings (``auto``, which picks exact counting), on one core.
Baseline: pyhf's toy-based CLs of the same patch, timed at ``--pyhf-toys``
and scaled to the toy count that equal precision needs: the toys whose
binomial error on CLs at the limit equals na64stat's stated numerical error
there, and - a looser, more common target - an error of 0.005 (CMS Combine's
default ``clsAcc``); a limit costs pyhf ``--scan`` such hypotests.

The shipped NA64e + NA64mu combination (``na64-combined-e2016-2022-mu2022-epsilon``:
two one-bin channels, n = 0, 0, four normsys) the same way (``--only combined``):
``auto`` picks exact counting over count vectors
(:mod:`na64stat.inference.joint`); pyhf's toys on its 10 MeV patch are the baseline.

Asymptotic, 20 bins with 10 nuisance parameters (histosys shapes): limits
of ``--points-20`` models against pyhf's hypotest scan, as above.

Prints medians over ``--repeats`` and the ratios. Example:

    python benchmarks/bench_limits.py --points 100 --repeats 3
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):  # one core, as the issue asks
    os.environ.setdefault(_var, "1")

import argparse
import json
import statistics
import time
from pathlib import Path

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
        model = pyhf.simplemodels.uncorrelated_background(
            signal, [40.0, 30.0, 20.0], [4.0, 3.0, 2.0]
        )
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


def timed_scans(models, args: argparse.Namespace):
    """Both scans ``--repeats`` times: (our times, pyhf's times, our limits, pyhf's, relative
    differences).
    """
    ours_t, pyhf_t = [], []
    for _ in range(args.repeats):
        t, ours_limits = ours_scan(models)
        ours_t.append(t)
        t, pyhf_limits = pyhf_scan(models, args.scan)
        pyhf_t.append(t)
    rel = np.abs(np.array(ours_limits) / np.array(pyhf_limits) - 1)
    return ours_t, pyhf_t, ours_limits, pyhf_limits, rel


def toy_model() -> tuple[pyhf.pdf.Model, list[float]]:
    model = pyhf.simplemodels.uncorrelated_background([1.0], [0.8], [0.3])
    return model, [1.0] + model.config.auxdata


def pyhf_toy_cls(mu: float, data: list[float], model: pyhf.pdf.Model, ntoys: int) -> float:
    """Observed CLs from pyhf's ToyCalculator, the work of ``hypotest(calctype="toybased")``.

    ``hypotest`` itself cannot be used: its expected band calls ``np.percentile(...,
    interpolation=...)``, which numpy >= 2.4 removed (see DEVELOPERS.md); the toys -
    the expensive part - are generated and fitted by ``distributions`` exactly as in hypotest.
    """
    calc = pyhf.infer.calculators.ToyCalculator(
        data, model, ntoys=ntoys, test_stat="qtilde", track_progress=False
    )
    teststat = calc.teststatistic(mu)
    sb, b = calc.distributions(mu)
    return float(calc.pvalues(teststat, sb, b)[2])


def shipped_points(
    name: str = "na64e-invisible-2016-2018",
) -> list[tuple[str, pyhf.pdf.Model, list[float]]]:
    """Every signal patch of a shipped workspace as (name, model, data)."""
    import jsonpatch

    folder = Path(__file__).resolve().parents[1] / "workspaces" / name
    spec = json.loads((folder / "bkgonly.json").read_text())
    patchset = json.loads((folder / "patchset.json").read_text())
    out = []
    for patch in patchset["patches"]:
        ws = pyhf.Workspace(jsonpatch.apply_patch(spec, patch["patch"]))
        model = ws.model()
        out.append((patch["metadata"]["name"], model, ws.data(model)))
    return out


def bench_shipped(args: argparse.Namespace, workspace: str = "na64e-invisible-2016-2018") -> None:
    """Every mass point of a shipped workspace at default settings, and pyhf's toys on its 10 MeV
    patch at
    equal precision.
    """
    points = shipped_points(workspace)
    per_point: dict[str, list[float]] = {name: [] for name, _, _ in points}
    limits = {}
    for _ in range(args.repeats):
        for name, model, data in points:
            start = time.perf_counter()
            limits[name] = upper_limit(model, data)  # the defaults: auto
            per_point[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in per_point.items()}
    print(f"shipped {workspace}, {len(points)} mass points, default settings (auto), one core")
    for name, lim in limits.items():
        print(
            f"  {name:>7}: {medians[name]:6.3f} s  {lim.method:<6} mu < {lim.observed:.5g} +- "
            f"{lim.observed_error:.2g}  ({lim.n_evaluations} CLs evaluations, "
            f"{lim.status_observed})"
        )
    ours = statistics.median(medians.values())
    print(f"  na64stat: median {ours:.3f} s per mass point, slowest {max(medians.values()):.3f} s")
    # pyhf's toys on one of the patches (the 10 MeV point), timed at --pyhf-toys and scaled
    name, model, data = next(p for p in points if p[0] == "m0p01")
    lim = limits[name]
    bounds = model.config.suggested_bounds()
    bounds[model.config.poi_index] = (0.0, 10.0 * lim.observed)
    init = model.config.suggested_init()
    init[model.config.poi_index] = (
        lim.observed
    )  # inside the bounds also when the limit is below pyhf's init of 1
    calc = pyhf.infer.calculators.ToyCalculator(
        data,
        model,
        init_pars=init,
        par_bounds=bounds,
        ntoys=args.pyhf_toys,
        test_stat="qtilde",
        track_progress=False,
    )
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        calc.distributions(lim.observed)
        times.append(time.perf_counter() - start)
    per_toy = statistics.median(times) / args.pyhf_toys
    alpha = 1.0 - lim.confidence_level
    for label, error in (("na64stat's own error", _cls_error_of(lim)), ("CLs error 0.005", 0.005)):
        n_toys = (
            alpha * (1.0 - alpha) / max(error, 1e-12) ** 2 / 0.5
        )  # CLs = CLsb / CLb with CLb ~ 0.5
        pyhf_limit = per_toy * n_toys * args.scan
        print(
            f"  pyhf toys at equal precision ({label}: ~{n_toys:.3g} toys per hypothesis, "
            f"{args.scan}-point scan): {pyhf_limit:.3g} s per mass point, ratio "
            f"{pyhf_limit / ours:.3g}x"
        )


def _cls_error_of(lim) -> float:
    """The CLs error at the observed limit implied by the limit's error and the local slope ~ CLs /
    mu.
    """
    return (
        float(lim.observed_error / lim.observed * (1.0 - lim.confidence_level))
        if lim.observed_error > 0
        else 1e-6
    )


def twenty_bin_models(n_points: int) -> list[tuple[pyhf.pdf.Model, list[float]]]:
    """20 bins, a moving signal peak, a falling background with 10 histosys shape uncertainties."""
    bins = np.arange(20)
    background = 200.0 * np.exp(-bins / 8.0) + 5.0
    rng = np.random.default_rng(20)
    data = rng.poisson(background).astype(float).tolist()
    models = []
    for i in range(n_points):
        signal = (
            8.0 * np.exp(-0.5 * ((bins - 2.0 - 15.0 * i / max(n_points - 1, 1)) / 1.5) ** 2) + 0.1
        ).tolist()
        modifiers = []
        for k in range(10):
            shape = 0.05 * np.sin((k + 1) * bins / 6.0)
            modifiers.append(
                {
                    "name": f"shape_{k}",
                    "type": "histosys",
                    "data": {
                        "hi_data": (background * (1 + shape)).tolist(),
                        "lo_data": (background * (1 - shape)).tolist(),
                    },
                }
            )
        spec = {
            "channels": [
                {
                    "name": "c",
                    "samples": [
                        {
                            "name": "sig",
                            "data": signal,
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        },
                        {"name": "bkg", "data": background.tolist(), "modifiers": modifiers},
                    ],
                }
            ]
        }
        model = pyhf.Model(spec, poi_name="mu")
        models.append((model, data + model.config.auxdata))
    return models


def bench_twenty_bins(args: argparse.Namespace) -> None:
    models = twenty_bin_models(args.points_20)
    ours_t, pyhf_t, _, _, rel = timed_scans(models, args)
    print(
        f"asymptotic, 20 bins with 10 nuisance parameters, {args.points_20} models, observed + 5 "
        "expected each"
    )
    print(
        f"  na64stat : median {statistics.median(ours_t):8.2f} s; pyhf ({args.scan}-point hypotest "
        f"scan): median {statistics.median(pyhf_t):8.2f} s"
    )
    print(
        f"  ratio pyhf / na64stat: {statistics.median(pyhf_t) / statistics.median(ours_t):.1f}x; "
        f"observed limits agree to a median {np.median(rel):.1e} (pyhf interpolates "
        "between scan points)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--scan", type=int, default=21, help="pyhf scan points per mass point")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--toys", type=int, default=10_000)
    parser.add_argument("--pyhf-toys", type=int, default=300)
    parser.add_argument("--points-20", type=int, default=10, help="20-bin models (asymptotic)")
    parser.add_argument(
        "--only",
        choices=["shipped", "combined", "twenty", "scan", "toys"],
        default=None,
        help="run one section only",
    )
    args = parser.parse_args()
    if args.only in (None, "shipped"):
        bench_shipped(args)
    if args.only in (None, "combined"):
        bench_shipped(args, "na64-combined-e2016-2022-mu2022-epsilon")
    if args.only in (None, "twenty"):
        bench_twenty_bins(args)
    if args.only not in (None, "scan", "toys"):
        return

    models = scan_models(args.points)
    ours_t, pyhf_t, ours_limits, pyhf_limits, rel = timed_scans(models, args)
    print(f"asymptotic scan, {args.points} points, observed + 5 expected each")
    print(
        f"  na64stat : median {statistics.median(ours_t):8.2f} s  (runs: "
        f"{', '.join(f'{t:.2f}' for t in ours_t)})"
    )
    print(
        f"  pyhf     : median {statistics.median(pyhf_t):8.2f} s  ({args.scan}-point hypotest scan "
        "per mass)"
    )
    print(f"  ratio pyhf / na64stat: {statistics.median(pyhf_t) / statistics.median(ours_t):.1f}x")
    print(
        f"  observed limits agree: median relative difference {np.median(rel):.1e}, max "
        f"{rel.max():.1e} "
        "(pyhf interpolates CLs linearly between its scan points)"
    )
    m0, d0 = models[0]
    at_ours = float(pyhf.infer.hypotest(ours_limits[0], d0, m0, test_stat="qtilde"))
    at_pyhf = float(pyhf.infer.hypotest(pyhf_limits[0], d0, m0, test_stat="qtilde"))
    print(
        f"  pyhf's own hypotest CLs at the first point's limits: na64stat {at_ours:.5f}, pyhf scan "
        f"{at_pyhf:.5f} (target 0.10)"
    )

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
    print(
        f"  na64stat : median {statistics.median(ours_cls_t):8.2f} s for {args.toys} toys per "
        "hypothesis"
    )
    print(
        f"  pyhf     : median {statistics.median(pyhf_cls_t):8.2f} s scaled to {args.toys} toys "
        f"(measured at {args.pyhf_toys})"
    )
    print(
        "  ratio pyhf / na64stat: "
        f"{statistics.median(pyhf_cls_t) / statistics.median(ours_cls_t):.0f}x per CLs "
        "evaluation"
    )
    print(
        f"  CLs: na64stat {ours_cls.cls_obs:.4f} +- {ens.cls_error():.4f}, pyhf "
        f"{float(pyhf_cls):.4f} (+- ~{err_pyhf:.3f} MC)"
    )
    n_eval = lim.n_evaluations
    pyhf_limit = statistics.median(pyhf_cls_t) * args.scan
    print(
        f"  full toy limit per point (observed + 5 expected, {n_eval} CLs evaluations): median "
        f"{statistics.median(ours_lim_t):.2f} s"
    )
    print(
        f"  pyhf toy limit per point = {args.scan}-point scan x one {args.toys}-toy hypotest "
        f"({statistics.median(pyhf_cls_t):.0f} s each) = {pyhf_limit:.0f} s: "
        f"ratio {pyhf_limit / statistics.median(ours_lim_t):.0f}x"
    )
    print(f"  toy limit {lim.observed:.3f}, expected {', '.join(f'{v:.3f}' for v in lim.expected)}")


if __name__ == "__main__":
    main()
