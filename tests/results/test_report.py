"""The main job's report: prose rendered from a facts record alone, numbers as report.json holds
them.
"""

from __future__ import annotations

import math

from na64stat.results.report import (
    EfficiencyPoint,
    JobFacts,
    MethodFacts,
    PublishedPoint,
    ReportFacts,
    explanations,
)


def _facts() -> ReportFacts:
    job = JobFacts("na64e-invisible", 2e7, 2.84e11, 1e-4, 4000, 0.1, 2.4e-5)
    method = MethodFacts(
        methods=("exact",),
        reasons=("single bin with background 2e-05 < 100",) * 2,
        notes=("poi upper bound widened from 10 to 4.87e+03",),
        note_counts=(("poi upper bound widened from 10 to N", 2),),
    )
    return ReportFacts(
        job=job,
        limits=(),
        method=method,
        efficiency={"0.01": EfficiencyPoint(0.01, 0.3757, 0.9683)},
        events_at_limit={"0.01": 2.35},
        band_widths=([0.0], [0.01]),
        band_widths_published=([0.0], [0.9]),
        published={"0.01": PublishedPoint("0.01", 0.01, 1.2e-5, 1.2e-5, 2.0e-5, 0.6)},
        reach_ratio=((0.58, 0.58), (0.01, 0.01)),
        table_efficiency=([0.52], (0.01, 0.01)),
    )


def test_explanations_are_rendered_from_the_facts() -> None:
    text = explanations(_facts())
    assert list(text) == [
        "method",
        "efficiency",
        "band_at_n0",
        "events_at_the_limit",
        "published_exposure",
    ]
    assert text["method"].startswith("exact CLs (Read 2002)")
    assert "(and so at 1 more masses" in text["method"]
    assert "'poi upper bound widened from 10 to N' at 2 masses" in text["method"]
    assert "0.376 of all A' produced" in text["efficiency"] and "4000 events" in text["efficiency"]
    assert "2.35 signal events" in text["events_at_the_limit"]
    assert "0.60 times the published" in text["published_exposure"]


def test_facts_to_dict_is_the_reports_content() -> None:
    content = _facts().to_dict()
    assert list(content) == [
        "limits",
        "method",
        "signal_efficiency",
        "signal_events_at_observed_limit",
        "published_exposure",
    ]
    assert content["method"]["method_reasons"] == ["single bin with background 2e-05 < 100"]
    assert content["signal_efficiency"]["0.01"]["of_all_produced"] == 0.3757
    published = content["published_exposure"]
    assert math.isclose(published["scale"], 2.84e11 / 2e7) and published["observed"] == 0
    assert published["limits"]["0.01"]["ratio_to_published"] == 0.6
