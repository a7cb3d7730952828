"""The closed-form single-bin likelihood against pyhf's own logpdf and against finite
differences.
"""

from __future__ import annotations

import numpy as np
import pyhf
import pytest

from na64stat.inference.likelihood import Likelihood
from na64stat.inference.singlebin import BinnedModel, SingleBinModel

SPEC = {
    "channels": [
        {
            "name": "c",
            "samples": [
                {
                    "name": "sig",
                    "data": [3.0],
                    "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "eff", "type": "normsys", "data": {"hi": 1.1, "lo": 0.85}},
                        {"name": "lumi", "type": "lumi", "data": None},
                        {
                            "name": "shp",
                            "type": "histosys",
                            "data": {"hi_data": [3.5], "lo_data": [2.2]},
                        },
                    ],
                },
                {
                    "name": "bkg",
                    "data": [2.0],
                    "modifiers": [
                        {"name": "bu", "type": "normsys", "data": {"hi": 1.3, "lo": 0.6}},
                        {"name": "st", "type": "staterror", "data": [0.4]},
                        {
                            "name": "shp",
                            "type": "histosys",
                            "data": {"hi_data": [2.4], "lo_data": [1.9]},
                        },
                        {"name": "k", "type": "normfactor", "data": None},
                    ],
                },
                {
                    "name": "b2",
                    "data": [1.5],
                    "modifiers": [
                        {"name": "ss", "type": "shapesys", "data": [0.3]},
                        {"name": "st", "type": "staterror", "data": [0.2]},
                    ],
                },
            ],
        }
    ],
    "observations": [{"name": "c", "data": [4.0]}],
    "measurements": [
        {
            "name": "m",
            "config": {
                "poi": "mu",
                "parameters": [
                    {
                        "name": "lumi",
                        "auxdata": [1.0],
                        "sigmas": [0.03],
                        "inits": [1.0],
                        "bounds": [[0.5, 1.5]],
                    },
                    {"name": "k", "inits": [1.0], "bounds": [[0.1, 3.0]]},
                ],
            },
        }
    ],
    "version": "1.0.0",
}
SETTINGS = [
    {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}},
    {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
]


def _random_points(
    model: pyhf.pdf.Model, data: list[float], n: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    bounds = np.asarray(model.config.suggested_bounds())
    pars = rng.uniform(bounds[:, 0], bounds[:, 1], (n, bounds.shape[0]))
    for name in ("bu", "eff", "shp"):  # inside and outside the |alpha| < 1 polynomial region
        pars[:, model.config.par_slice(name)] = rng.uniform(-2.5, 2.5, (n, 1))
    datasets = np.tile(np.asarray(data, dtype=float), (n, 1))
    datasets[:, 0] = rng.integers(0, 12, n)
    datasets[:, 1:] += rng.normal(0.0, 0.3, (n, datasets.shape[1] - 1))
    return pars, datasets


def _closed_form(settings: dict) -> tuple[pyhf.pdf.Model, list[float], SingleBinModel]:
    """The test model with the given interpolation codes, its data and its closed form."""
    workspace = pyhf.Workspace(SPEC)
    model = workspace.model(modifier_settings=settings)
    data = workspace.data(model)
    fast = SingleBinModel.from_likelihood(Likelihood(model, data))
    assert fast is not None
    return model, data, fast


@pytest.mark.parametrize("settings", SETTINGS, ids=["code4-code4p", "code1-code0"])
def test_twice_nll_equals_pyhf_logpdf(settings: dict) -> None:
    model, data, fast = _closed_form(settings)
    assert fast is not None
    pars, datasets = _random_points(model, data)
    reference = np.array([-2.0 * float(model.logpdf(p, d)[0]) for p, d in zip(pars, datasets)])
    mine = fast.twice_nll(pars, datasets)
    finite = np.isfinite(reference)
    assert finite.sum() > 250
    np.testing.assert_allclose(mine[finite], reference[finite], rtol=1e-12, atol=1e-9)
    assert np.all(np.isinf(mine[~finite]))  # pyhf's NaN (negative rate) is +inf here


@pytest.mark.parametrize("settings", SETTINGS, ids=["code4-code4p", "code1-code0"])
def test_derivatives_equal_finite_differences(settings: dict) -> None:
    model, data, fast = _closed_form(settings)
    pars, datasets = _random_points(model, data)
    # keep away from the kinks of code1/code0 at alpha = 0, where only one-sided derivatives exist
    for name in ("bu", "eff", "shp"):
        column = pars[:, model.config.par_slice(name)]
        column[np.abs(column) < 1e-3] = 0.5
    _check_derivatives(fast, pars, datasets, np.isfinite(fast.twice_nll(pars, datasets)))


def _check_derivatives(fast, pars: np.ndarray, datasets: np.ndarray, ok: np.ndarray) -> None:
    """Analytic gradient and Hessian of ``fast`` against central finite differences (step 1e-6)."""
    _, grad, hess = fast.derivatives(pars, datasets)
    eps = 1e-6
    for j in range(pars.shape[1]):
        up, down = pars.copy(), pars.copy()
        up[:, j] += eps
        down[:, j] -= eps
        g_num = (fast.twice_nll(up, datasets) - fast.twice_nll(down, datasets)) / (2 * eps)
        h_num = (fast.derivatives(up, datasets)[1] - fast.derivatives(down, datasets)[1]) / (
            2 * eps
        )
        good = ok & np.isfinite(g_num)
        np.testing.assert_allclose(grad[good, j], g_num[good], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(hess[good, :, j], h_num[good], rtol=1e-5, atol=1e-4)


def test_models_it_does_not_cover_keep_the_pyhf_path() -> None:
    two_bins = pyhf.simplemodels.uncorrelated_background([1.0, 2.0], [3.0, 4.0], [0.5, 0.5])
    assert (
        SingleBinModel.from_likelihood(Likelihood(two_bins, [3.0, 4.0] + two_bins.config.auxdata))
        is None
    )


#: Three bins in two channels, given in non-alphabetical order (pyhf orders the main data by its
#: config's channels): per-bin staterror / shapesys, a normsys shared by both channels, histosys.
SPEC_BINNED = {
    "channels": [
        {
            "name": "z_mu",
            "samples": [
                {
                    "name": "sig",
                    "data": [0.8],
                    "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "xsec", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}},
                    ],
                },
                {
                    "name": "bkg",
                    "data": [0.3],
                    "modifiers": [
                        {"name": "bu_mu", "type": "normsys", "data": {"hi": 1.5, "lo": 0.6}}
                    ],
                },
            ],
        },
        {
            "name": "a_e",
            "samples": [
                {
                    "name": "sig",
                    "data": [2.0, 1.0],
                    "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "xsec", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}},
                        {
                            "name": "shp",
                            "type": "histosys",
                            "data": {"hi_data": [2.3, 1.4], "lo_data": [1.8, 0.7]},
                        },
                        {"name": "st", "type": "staterror", "data": [0.3, 0.2]},
                    ],
                },
                {
                    "name": "bkg",
                    "data": [1.5, 4.0],
                    "modifiers": [
                        {"name": "ss", "type": "shapesys", "data": [0.4, 1.0]},
                        {"name": "st", "type": "staterror", "data": [0.2, 0.5]},
                    ],
                },
            ],
        },
    ],
    "observations": [{"name": "z_mu", "data": [1.0]}, {"name": "a_e", "data": [3.0, 5.0]}],
    "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


@pytest.mark.parametrize("settings", SETTINGS, ids=["code4-code4p", "code1-code0"])
def test_binned_model_equals_pyhf_logpdf_and_finite_differences(settings: dict) -> None:
    workspace = pyhf.Workspace(SPEC_BINNED)
    model = workspace.model(modifier_settings=settings)
    data = workspace.data(model)
    lik = Likelihood(model, data)
    fast = BinnedModel.from_likelihood(lik)
    assert (
        fast is not None
        and lik.closed_form is None
        and isinstance(lik.closed_form_nll, BinnedModel)
    )
    rng = np.random.default_rng(11)
    bounds = np.asarray(model.config.suggested_bounds())
    pars = rng.uniform(bounds[:, 0], bounds[:, 1], (300, bounds.shape[0]))
    for name in ("xsec", "bu_mu", "shp"):
        column = rng.uniform(-2.5, 2.5, 300)
        column[np.abs(column) < 1e-3] = 0.5  # code1/code0 kinks at 0
        pars[:, model.config.par_slice(name)] = column[:, None]
    datasets = np.tile(np.asarray(data, dtype=float), (300, 1))
    datasets[:, :3] = rng.integers(0, 9, (300, 3))
    reference = np.array([-2.0 * float(model.logpdf(p, d)[0]) for p, d in zip(pars, datasets)])
    finite = np.isfinite(reference)
    assert finite.sum() > 250
    np.testing.assert_allclose(
        fast.twice_nll(pars, datasets)[finite], reference[finite], rtol=1e-12, atol=1e-9
    )
    _check_derivatives(fast, pars, datasets, finite)


def test_binned_fit_agrees_with_pyhf() -> None:
    workspace = pyhf.Workspace(SPEC_BINNED)
    model = workspace.model()
    data = workspace.data(model)
    lik = Likelihood(model, data)
    mine = lik.fit(lik.data[None, :])
    reference = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    assert bool(mine.converged[0])
    assert float(mine.twice_nll[0]) == pytest.approx(float(reference[1]), abs=1e-5)
    poi = model.config.poi_index
    assert float(mine.pars[0, poi]) == pytest.approx(float(reference[0][poi]), abs=2e-3)
