"""The main job's report explains its numbers (method, efficiency, bands at n = 0, events at the
limit, the paper).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from na64stat.app.pipeline import MainJobSettings, run_main_job


def _small_settings(lmt: Path) -> MainJobSettings:
    """A small main job (2 masses, 2e7 EOT, 4000 MC events) with the overlay file ``lmt``."""
    return MainJobSettings(
        masses_gev=(0.01, 0.1),
        data_eot=2e7,
        mc_events=4000,
        n_toys=300,
        workers=1,
        overlays=(str(lmt),),
    )


@pytest.fixture(scope="module")
def small_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("job")
    lmt = out.parent / "E137_like.lmt"
    lmt.write_text("# another experiment, mass [GeV] epsilon\n0.001 1e-4\n1.0 1e-2\n")
    run_main_job(
        out,
        _small_settings(lmt),
        log=lambda line: None,
    )
    return out


def test_report_explains_method_efficiency_bands_and_events(small_job: Path) -> None:
    report = json.loads((small_job / "report.json").read_text())
    assert set(report["explanations"]) == {
        "method",
        "efficiency",
        "band_at_n0",
        "events_at_the_limit",
        "published_exposure",
    }
    assert report["method"]["methods"] == ["exact"] and report["method"]["method_reasons"]
    for key, entry in report["signal_efficiency"].items():
        assert (
            0 < entry["of_all_produced"] <= entry["relative_to_physics_yield_above_cut"] <= 1.2
        ), key
    assert all(1.5 < v < 3.0 for v in report["signal_events_at_observed_limit"].values())
    text = (small_job / "report.txt").read_text()
    for phrase in (
        "band at n0:",
        "events at the limit:",
        "Phys. Rev. Lett. 123 (2019) 121801",
        "arXiv:1906.00176",
        "2.303",
        "ratio",
    ):
        assert phrase in text, phrase
    assert "PHYSICS.md" not in text


def test_the_chain_at_the_published_exposure(small_job: Path) -> None:
    """Yields x 2.84e11 / 2e7 EOT, observed 0; its limit near the published curve (the ratio the
    panel shows).
    """
    report = json.loads((small_job / "report.json").read_text())
    pub = report["published_exposure"]
    assert pub["scale"] == pytest.approx(2.84e11 / 2e7) and pub["observed"] == 0
    spec = json.loads((small_job / "workspace" / "bkgonly.json").read_text())
    scaled = json.loads((small_job / "workspace_published_exposure" / "bkgonly.json").read_text())
    b = next(s for s in spec["channels"][0]["samples"] if s["name"] == "background")["data"][0]
    b_pub = next(s for s in scaled["channels"][0]["samples"] if s["name"] == "background")["data"][
        0
    ]
    assert b_pub == pytest.approx(b * pub["scale"]) and scaled["observations"][0]["data"] == [0.0]
    for v in pub["limits"].values():
        assert 0.3 < v["ratio_to_published"] < 2.0
    hepdata = small_job / "hepdata" / "upper_limits_on_y.yaml"
    assert "chi" in json.dumps(
        __import__("yaml").safe_load(hepdata.read_text())["independent_variables"][0]["header"]
    )


def test_lmt_overlays_are_drawn(small_job: Path) -> None:
    assert "# overlay: E137_like (2 points" in (small_job / "exclusion_epsilon.csv").read_text()
    assert "# overlay: E137_like (2 points" in (small_job / "exclusion_epsilon2.csv").read_text()


def test_run_reads_overlays_before_simulating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from na64stat.app.cli import main

    bad = tmp_path / "bad.lmt"
    bad.write_text("0.01 not-a-number\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--out", str(tmp_path / "out"), "--overlay", str(bad)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "bad.lmt: line 1" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_timings_go_to_the_run_log_and_interchange_files_are_written(small_job: Path) -> None:
    """Issue 24: report.json / report.txt hold no timings (run_log.txt does); the main job writes
    the
    CombineHarvester JSON and attaches its pyhf likelihood to the HEPData submission, at the run's
    CL.
    """
    import yaml

    from na64stat.results.limitfiles import read_combine_limits

    report = json.loads((small_job / "report.json").read_text())
    assert report["steps"] and all("seconds" not in s for s in report["steps"])
    assert " s] " not in (small_job / "report.txt").read_text()
    log = (small_job / "run_log.txt").read_text().splitlines()
    assert len(log) == len(report["steps"]) and all(
        line.startswith("[") and " s] " in line for line in log
    )
    combine = read_combine_limits(small_job / "limits" / "limits_combine.json")
    assert set(combine) == {0.01, 0.1} and all("exp0" in v for v in combine.values())
    submission = list(yaml.safe_load_all((small_job / "hepdata" / "submission.yaml").read_text()))
    assert [r["type"] for r in submission[0]["additional_resources"] if "type" in r] == [
        "HistFactory"
    ]
    assert (small_job / "hepdata" / "likelihood.tar.gz").is_file()


@pytest.mark.slow
def test_result_files_are_byte_reproducible(small_job: Path, tmp_path: Path) -> None:
    """The same inputs give the same report.json, couplings.json and limits_combine.json, byte for
    byte.
    """
    lmt = small_job.parent / "E137_like.lmt"
    run_main_job(
        tmp_path,
        _small_settings(lmt),
        log=lambda line: None,
    )
    for name in ("report.json", "report.txt", "couplings.json", "limits/limits_combine.json"):
        assert (tmp_path / name).read_bytes() == (small_job / name).read_bytes(), name
