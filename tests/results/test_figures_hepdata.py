"""Plots (files exist, numbers behind them) and the HEPData export (validated)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from na64stat.app.cli import main
from na64stat.core.errors import InputError
from na64stat.results.hepdata import validate_hepdata, write_hepdata
from na64stat.results.plotting import (
    LimitCurve,
    Overlay,
    cls_scan_plot,
    cutflow_figure,
    exclusion_plot,
)

BANDS = ("-2sigma", "-1sigma", "median", "+1sigma", "+2sigma")


def _curve() -> LimitCurve:
    m = np.array([0.001, 0.01, 0.1])
    return LimitCurve(
        m,
        1e-5 * m / 0.001,
        {b: 1e-5 * m / 0.001 * f for b, f in zip(BANDS, (0.7, 0.85, 1.0, 1.2, 1.5))},
    )


def test_exclusion_plot_writes_png_pdf_and_the_numbers(tmp_path: Path) -> None:
    curve = _curve()
    overlay = Overlay("published", np.array([0.001, 0.1]), np.array([1e-5, 1e-3]))
    files = exclusion_plot(
        curve, tmp_path / "excl", coupling="epsilon", overlays=[overlay], ratio_to=overlay
    )
    assert sorted(p.suffix for p in files) == [".csv", ".pdf", ".png"]
    assert all(p.stat().st_size > 1000 for p in files if p.suffix != ".csv")
    rows = [
        r
        for r in csv.reader((tmp_path / "excl.csv").read_text().splitlines())
        if r and not r[0].startswith("#")
    ]
    assert rows[0][:3] == ["mass_gev", "observed_epsilon", "expected_-2sigma_epsilon"]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], curve.observed, rtol=1e-5)
    with pytest.raises(InputError, match="unknown coupling"):
        exclusion_plot(curve, tmp_path / "bad", coupling="kappa")


def test_cls_scan_and_cutflow_figures_render(tmp_path: Path) -> None:
    mu = np.linspace(0, 5, 20)
    files = cls_scan_plot(
        mu,
        np.exp(-mu),
        {b: np.exp(-mu * f) for b, f in zip(BANDS, (1.5, 1.2, 1, 0.8, 0.6))},
        tmp_path / "cls",
    )
    assert all(p.exists() for p in files)
    cutflow = {
        "samples": {
            "s": {
                "cutflow": [
                    {
                        "cut": "a",
                        "raw": 10,
                        "weighted": 5.0,
                        "cumulative_efficiency": 0.5,
                        "failed_with_nan": 0,
                    }
                ],
                "regions": {"box": "blinded"},
            }
        }
    }
    assert all(p.exists() for p in cutflow_figure(cutflow, "s", tmp_path / "flow"))
    with pytest.raises(InputError, match="no sample"):
        cutflow_figure(cutflow, "t", tmp_path / "x")


def _couplings() -> dict:
    points = {}
    for m, eps in ((0.001, 1e-5), (0.01, 3e-5), (0.1, 3e-4)):
        entry = {
            "mass_gev": m,
            "epsilon": eps,
            "epsilon2": eps**2,
            "y": eps**2 * 0.1 / 81,
            "e_mu": eps / 0.0144,
        }
        points[f"{m:g}"] = {"observed": entry, **{f"expected_{b}": dict(entry) for b in BANDS}}
    points["0.1"]["expected_+2sigma"] = None  # a missing band value
    return {"settings": {"confidence_level": 0.9}, "points": points}


def test_hepdata_export_validates_and_has_one_column_per_band(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    folder = write_hepdata(
        _couplings(),
        tmp_path / "hepdata",
        couplings_to_export=("epsilon", "y"),
        setup="na64e-invisible",
    )
    validate_hepdata(folder)
    assert not list(work.iterdir())  # nothing left in the working directory (hepdata_lib's tarball)
    submission = list(yaml.safe_load_all((folder / "submission.yaml").read_text()))
    assert len([d for d in submission if "data_file" in d]) == 2
    table = yaml.safe_load((folder / "upper_limits_on_epsilon.yaml").read_text())
    assert table["independent_variables"][0]["header"] == {"name": "$m_{A'}$", "units": "GeV"}
    names = [d["header"]["name"] for d in table["dependent_variables"]]
    assert names[0] == "Observed $\\epsilon$" and len(names) == 6
    assert [v["value"] for v in table["dependent_variables"][0]["values"]] == [1e-5, 3e-5, 3e-4]
    assert table["dependent_variables"][5]["values"][2]["value"] == "-"
    with pytest.raises(InputError, match="no points"):
        write_hepdata({"points": {}}, tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_hepdata_export_to_a_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative out_dir is the caller's, not hepdata_lib's scratch working directory."""
    monkeypatch.chdir(tmp_path)
    folder = write_hepdata(_couplings(), Path("out") / "hepdata")
    assert folder == tmp_path / "out" / "hepdata" and (folder / "submission.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "hepdata"
    ]  # no scratch folder left


def test_cli_hepdata(tmp_path: Path) -> None:
    source = tmp_path / "couplings.json"
    source.write_text(json.dumps(_couplings()))
    main(["hepdata", str(source), "--out", str(tmp_path / "hd"), "--coupling", "epsilon2"])
    assert (tmp_path / "hd" / "upper_limits_on_epsilon2.yaml").exists()


def test_reproduced_projection_figures_and_their_numbers(tmp_path: Path) -> None:
    from na64stat.app.reproduce import FIGURES, MASSES_GEV, reproduce
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import background_free_reach

    for name in FIGURES:
        files = reproduce(name, tmp_path)
        assert sorted(p.suffix for p in files) == [".json", ".pdf", ".png"]
    fig11 = json.loads((tmp_path / "fig11.json").read_text())["curves"]
    small, big = (np.array(fig11[f"NA64e {n} EOT"]["values"]) for n in ("2.84e+11", "5e+12"))
    np.testing.assert_allclose(
        big / small, np.sqrt(2.84e11 / 5e12), rtol=1e-9
    )  # background-free: 1/sqrt(exposure)
    fig13 = json.loads((tmp_path / "fig13.json").read_text())["curves"]
    e_only = background_free_reach(
        get_setup("na64e-invisible").with_(exposure=1e13), MASSES_GEV
    ).epsilon2
    mu_only = background_free_reach(
        get_setup("na64mu-invisible").with_(exposure=2e13), MASSES_GEV
    ).epsilon2
    # background free, nothing observed: the combination needs 2.303 events summed over both, so its
    # eps^2 reach is 1 / (1/eps2_e + 1/eps2_mu), stronger than either (the old np.fmin was not a
    # combination)
    combined = 1.0 / (1.0 / e_only + 1.0 / mu_only)
    y = np.array(fig13["NA64e 1e13 EOT + NA64mu 2e13 MOT (combined), alpha_D = 0.5"]["values"])
    np.testing.assert_allclose(
        y, combined * 0.5 / 3.0**4, rtol=1e-9
    )  # y = eps^2 alpha_D (m_chi/m_A')^4
    assert np.all(y < np.fmin(e_only, mu_only) * 0.5 / 81.0 * (1 + 1e-12))
    fig10 = json.loads((tmp_path / "fig10.json").read_text())["curves"]
    alpha = np.array(fig10["alpha_mu explaining Delta a_mu = 288e-11 (eqs. 31-32)"]["values"])
    assert alpha[0] == pytest.approx(1.81e-8, rel=0.04)  # PHYSICS.md, m << m_mu (1 MeV: 3% above)
    with pytest.raises(InputError, match="unknown figure"):
        reproduce("fig99", tmp_path)


def test_fig6_eot_needed_makes_the_reach_touch_the_relic_target() -> None:
    """The figures' numbers (their JSON content); drawing them is the projection test's."""
    from na64stat.app.reproduce import FIGURES
    from na64stat.physics.couplings import relic_target_y_full
    from na64stat.physics.setups import get_setup
    from na64stat.physics.yields import background_free_reach

    curve = FIGURES["fig6_eot"]().to_dict()["curves"]["scalar, m_A'/m_chi = 3.0, alpha_D = 0.1"]
    m, eot = np.array(curve["mass_gev"]), np.array(curve["values"], dtype=float)
    k = int(np.nanargmin(eot))  # the most favourable mass
    reach = background_free_reach(
        get_setup("na64e-invisible").with_(exposure=float(eot[k])), [m[k]]
    )
    y_target = float(relic_target_y_full(m[k] / 3.0, "scalar"))
    assert float(reach.y[0]) == pytest.approx(
        y_target, rel=1e-6
    )  # alpha_D = 0.1, m_A' = 3 m_chi (the reach's defaults)
    fig6 = FIGURES["fig6"]().to_dict()["curves"]
    assert set(fig6) == {
        "NA64e 2016-2018, 2.84e11 EOT (published)",
        "NA64e 5e+12 EOT (projection)",
        "NA64e 1e+13 EOT (projection)",
    }


@pytest.mark.parametrize(
    ("name", "coupling"), [("na64e-invisible-2016-2018", "epsilon"), ("na64mu-2022", "e_mu")]
)
def test_workspace_figures_recast_the_shipped_limits(
    tmp_path: Path, name: str, coupling: str
) -> None:
    from na64stat.app.reproduce import reproduce

    files = reproduce(name, tmp_path, n_toys=300, workers=1, masses_gev=(0.01,))
    assert {p.suffix for p in files} == {".png", ".pdf", ".csv", ".json"}
    point = json.loads((tmp_path / f"{name}.json").read_text())["points"]["0.01"]
    mu = point["observed"]["mu"]
    # each shipped patch has its own reference coupling (mu = 1), recorded in its metadata
    from importlib import resources

    patches = json.loads(
        (resources.files("na64stat") / "workspaces" / name / "patchset.json").read_text()
    )["patches"]
    reference = next(
        p["metadata"]["reference_coupling"] for p in patches if p["metadata"]["mass_gev"] == 0.01
    )
    tolerance = 0.05 if coupling == "e_mu" else 1e-9
    assert mu > 0 and point["observed"][coupling] == pytest.approx(
        reference * np.sqrt(mu), rel=tolerance
    )


def test_fig3_cross_section_follows_eq51(tmp_path: Path) -> None:
    from na64stat.app.reproduce import reproduce
    from na64stat.core.references import load_curve
    from na64stat.physics.constants import ALPHA_EM, GEV2_TO_CM2, M_E_GEV

    reproduce("fig3", tmp_path)
    curves = json.loads((tmp_path / "fig3.json").read_text())["curves"]
    ref = load_curve("na64e_invisible_2019")
    m_chi = np.array(curves["NA64e 2016-2018 (published eps), alpha_D = 0.1"]["mass_gev"])
    sigma = np.array(curves["NA64e 2016-2018 (published eps), alpha_D = 0.1"]["values"])
    m_a = 3.0 * m_chi
    expected = (
        16 * np.pi * M_E_GEV**2 * ALPHA_EM * ref.interpolate(m_a) ** 2 * 0.1 / m_a**4 * GEV2_TO_CM2
    )
    np.testing.assert_allclose(sigma, expected, rtol=1e-6)
    sigma5 = np.array(curves["NA64e 2016-2018 (published eps), alpha_D = 0.5"]["values"])
    np.testing.assert_allclose(sigma5 / sigma, 5.0, rtol=1e-12)


def test_fig7_visible_exclusion_at_the_x17_mass(tmp_path: Path) -> None:
    from na64stat.app.reproduce import reproduce
    from na64stat.physics.visible import excluded_epsilon_range, runs_at

    reproduce("fig7", tmp_path, n_toys=300, masses_gev=(0.0167,))
    data = json.loads((tmp_path / "fig7.json").read_text())
    bands = data["bands"]["this workspace: excluded grid points"]
    grid = data["tables"]["CLs at the point, m = 0.0167 GeV"]["epsilon"]
    assert bands["mass_gev"] == [0.0167]
    # n = 0 and b = 0.01: CLs at the point's prediction ~ exp(-s), so the workspace excludes the
    # grid points with s > ~2.3 events,
    # i.e. those inside the physics module's 2.303-event range; points within 10% of an edge may go
    # either way
    # (the 10% efficiency uncertainty)
    lower, upper = excluded_epsilon_range(runs_at(), 0.0167)
    inside = [g for g in grid if lower * 1.1 < g < upper / 1.1]
    assert lower / 1.1 <= bands["lower"][0] <= min(inside)
    assert max(inside) <= bands["upper"][0] <= upper * 1.1


def test_band_note_names_narrow_and_collapsed_bands() -> None:
    from na64stat.results.plotting import band_note

    m = np.ones(3)
    assert band_note({b: m * f for b, f in zip(BANDS, (0.97, 0.99, 1.0, 1.02, 1.05))}).startswith(
        "bands within 8%"
    )
    assert "= median" in band_note({b: m * f for b, f in zip(BANDS, (1.0, 1.0, 1.0, 1.6, 2.4))})
    assert "within 10%" in band_note({b: m * f for b, f in zip(BANDS, (0.9, 0.95, 1.0, 1.6, 2.4))})
    assert band_note({b: m * f for b, f in zip(BANDS, (0.5, 0.7, 1.0, 1.4, 2.0))}) is None


def test_exclusion_plot_extra_curve_ratio_and_lmt_overlay(tmp_path: Path) -> None:
    from na64stat.results.plotting import MASS_LABELS, load_lmt

    lmt = tmp_path / "BaBar_2017.lmt"
    lmt.write_text("# mass [GeV]  epsilon\n0.001 1e-3\n0.1 1e-3\n")
    other = load_lmt(lmt, color="tab:gray")
    assert other.label == "BaBar_2017" and list(other.lower) == [1e-3, 1e-3]
    curve = _curve()
    ref = Overlay("published", np.array([0.001, 0.1]), np.array([1e-5, 1e-3]))
    scaled = LimitCurve(
        curve.mass_gev, curve.observed / 2, {b: v / 2 for b, v in curve.expected.items()}, label="x"
    )
    files = exclusion_plot(
        curve,
        tmp_path / "e",
        overlays=[ref, other],
        extra_curves=[scaled],
        ratio_to=ref,
        ratio_of=Overlay("x", scaled.mass_gev, scaled.observed),
        x_label=MASS_LABELS["m_chi"],
    )
    assert (tmp_path / "e.png").stat().st_size > 1000 and len(files) == 3
    (tmp_path / "bad.lmt").write_text("0.01 abc\n")
    with pytest.raises(InputError, match=r"bad\.lmt: line 1"):
        load_lmt(tmp_path / "bad.lmt")
    (tmp_path / "one.lmt").write_text("0.01 1e-4\n")
    with pytest.raises(InputError, match="fewer than two points"):
        load_lmt(tmp_path / "one.lmt")


def test_hepdata_y_table_is_against_m_chi_with_alpha_d_and_mass_ratio(tmp_path: Path) -> None:
    couplings = _couplings()
    couplings["settings"] = {"alpha_d": 0.5, "mass_ratio": 2.5, "confidence_level": 0.9}
    folder = write_hepdata(
        couplings,
        tmp_path / "hd",
        couplings_to_export=("epsilon", "y"),
        references=["NA64, PRL 123 (2019) 121801, arXiv:1906.00176"],
    )
    table = yaml.safe_load((folder / "upper_limits_on_y.yaml").read_text())
    x = table["independent_variables"][0]
    assert x["header"] == {"name": "$m_{\\chi}$", "units": "GeV"}
    assert [v["value"] for v in x["values"]] == pytest.approx([0.001 / 2.5, 0.01 / 2.5, 0.1 / 2.5])
    qualifiers = {q["name"]: q["value"] for q in table["dependent_variables"][0]["qualifiers"]}
    assert qualifiers["$\\alpha_D$"] == "0.5" and qualifiers["$m_{A'}/m_{\\chi}$"] == "2.5"
    eps = yaml.safe_load((folder / "upper_limits_on_epsilon.yaml").read_text())
    assert eps["independent_variables"][0]["header"]["name"] == "$m_{A'}$"
    submission = list(yaml.safe_load_all((folder / "submission.yaml").read_text()))
    assert "arXiv:1906.00176" in submission[0]["comment"]
    assert all("arXiv:1906.00176" in d["description"] for d in submission if "data_file" in d)


def test_hepdata_confidence_level_is_the_runs(tmp_path: Path) -> None:
    """Issue 24: the CL of the limits, not always 90%; a file without one needs it given, and a
    given one must match.
    """
    couplings = _couplings()
    couplings["settings"]["confidence_level"] = 0.95
    folder = write_hepdata(couplings, tmp_path / "hd95")
    table = yaml.safe_load((folder / "upper_limits_on_epsilon.yaml").read_text())
    assert {
        q["value"]
        for v in table["dependent_variables"]
        for q in v["qualifiers"]
        if q["name"] == "CL"
    } == {"95%"}
    submission = list(yaml.safe_load_all((folder / "submission.yaml").read_text()))
    assert (
        "95% CL" in submission[0]["comment"]
        and "90%" not in (folder / "submission.yaml").read_text()
    )
    with pytest.raises(InputError, match="at 95% CL, not the 90% given"):
        write_hepdata(couplings, tmp_path / "bad", confidence_level=0.9)
    del couplings["settings"]["confidence_level"]
    with pytest.raises(InputError, match="no confidence level"):
        write_hepdata(couplings, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    folder = write_hepdata(couplings, tmp_path / "hd68", confidence_level=0.6827)
    assert "68.27%" in (folder / "upper_limits_on_epsilon.yaml").read_text()


def test_hepdata_keywords_and_attached_likelihood(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Reaction, observable and energy keywords from the setup; the pyhf likelihood as a HistFactory
    resource;
    hepdata-validator accepts the folder (write_hepdata validates, and so does this test).
    """
    import tarfile

    ws = REPO / "workspaces" / "na64mu-2022"
    source = tmp_path / "couplings.json"
    source.write_text(json.dumps(_couplings()))
    main(
        [
            "hepdata",
            str(source),
            "--out",
            str(tmp_path / "hd"),
            "--coupling",
            "epsilon",
            "--coupling",
            "e_mu",
            "--setup",
            "na64mu-invisible",
            "--likelihood",
            str(ws),
            "--cl",
            "0.9",
        ]
    )
    folder = tmp_path / "hd"
    validate_hepdata(folder)
    submission = list(yaml.safe_load_all((folder / "submission.yaml").read_text()))
    resources = [r for r in submission[0]["additional_resources"] if r.get("type") == "HistFactory"]
    assert len(resources) == 1 and resources[0]["location"] == "likelihood.tar.gz"
    with tarfile.open(folder / "likelihood.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["bkgonly.json", "patchset.json"]
        for name in tar.getnames():
            extracted = tar.extractfile(name)
            assert extracted is not None and extracted.read() == (ws / name).read_bytes()
    tables = {d["name"]: d for d in submission if "data_file" in d}
    keywords = {k["name"]: k["values"] for k in tables["Upper limits on e_mu"]["keywords"]}
    assert keywords["reactions"] == ["MU- PB --> MU- PB Z'"] and keywords["observables"] == ["UL"]
    # sqrt(s) of a 160 GeV muon on a nucleon at rest: sqrt(m_mu^2 + m_N^2 + 2 E m_N) = 17.35 GeV
    assert keywords["cmenergies"] == [pytest.approx(17.35, abs=0.01)]
    eps = {k["name"]: k["values"] for k in tables["Upper limits on epsilon"]["keywords"]}
    assert eps["reactions"] == ["MU- PB --> MU- PB A'"]
    table = yaml.safe_load((folder / "upper_limits_on_e_mu.yaml").read_text())
    assert {
        q["value"] for q in table["dependent_variables"][0]["qualifiers"] if q["name"] == "Beam"
    } == {"160 GeV MU-"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main(
            [
                "hepdata",
                str(source),
                "--out",
                str(tmp_path / "hd2"),
                "--likelihood",
                str(tmp_path / "empty"),
            ]
        )
    assert "bkgonly.json" in capsys.readouterr().err and not (tmp_path / "hd2").exists()


def test_recast_records_the_confidence_level() -> None:
    from na64stat.results.recast import recast_limits_file

    meta = {"mass_gev": 0.01, "signal_model": "dark_photon", "reference_coupling": 1e-4}
    limits = {
        "confidence_level": 0.95,
        "limits": {"0.01": {"observed": 1.0, "expected": {"median": 1.0}, "metadata": meta}},
    }
    assert recast_limits_file(limits).settings["confidence_level"] == 0.95


def test_scale_workspace_scales_yields_and_errors_and_keeps_a_valid_patchset() -> None:
    from na64stat.model.workspace import scale_workspace, validate_patchset
    from na64stat.results.summary import workspace_reach

    folder = Path(__file__).resolve().parents[2] / "workspaces" / "na64e-invisible-2016-2018"
    spec = json.loads((folder / "bkgonly.json").read_text())
    patchset = json.loads((folder / "patchset.json").read_text())
    scaled, patches = scale_workspace(spec, patchset, 2.0, observed=0.0)
    background = next(s for s in spec["channels"][0]["samples"] if s["name"] == "background")
    new = next(s for s in scaled["channels"][0]["samples"] if s["name"] == "background")
    assert new["data"][0] == pytest.approx(2 * background["data"][0])
    validate_patchset(patches, scaled, "scaled")
    _, eps = workspace_reach(patchset, 1e-4)
    _, eps2 = workspace_reach(patches, 1e-4)
    np.testing.assert_allclose(
        eps2, eps / np.sqrt(2.0), rtol=1e-12
    )  # background-free reach: 1/sqrt(exposure)
