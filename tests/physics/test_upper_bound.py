"""NA64mu from its setup alone is an upper bound on the sensitivity, not a reproduction: every
output says so.
"""

from na64stat.physics.setups import UPPER_BOUND_NOTE, get_setup
from na64stat.results.summary import format_summary, gm2_band_overlap, summarize, summary_to_dict


def test_only_the_muon_setup_is_an_upper_bound():
    assert get_setup("na64mu-invisible").upper_bound
    assert (
        not get_setup("na64e-invisible").upper_bound and not get_setup("na64e-visible").upper_bound
    )
    assert get_setup("na64mu-invisible").efficiency_factors == ()  # nothing fitted in its place
    assert (
        get_setup("na64mu-invisible")
        .caveats[0]
        .startswith("an upper bound on the sensitivity, not a reproduction")
    )


def test_reach_summary_and_gm2_statement_say_upper_bound():
    mu = summarize(get_setup("na64mu-invisible"), [0.01, 0.1])
    text = format_summary(mu)
    assert f"this reach is {UPPER_BOUND_NOTE}" in text
    assert mu.gm2_overlap is not None and mu.gm2_overlap.statement.startswith(
        "could exclude at most "
    )
    assert mu.gm2_overlap.statement.endswith(UPPER_BOUND_NOTE)
    assert summary_to_dict(mu)["prediction"].startswith("upper bound on the sensitivity")
    e = summarize(get_setup("na64e-invisible"), [0.01])
    assert UPPER_BOUND_NOTE not in format_summary(e)
    assert summary_to_dict(e)["prediction"].startswith("from the setup alone")


def test_band_overlap_statement_is_plain_for_a_measured_limit():
    plain = gm2_band_overlap([0.01, 0.1], [1e-3, 1e-5])
    assert plain.statement.startswith("excludes ") and UPPER_BOUND_NOTE not in plain.statement
    bound = gm2_band_overlap([0.01, 0.1], [1e-3, 1e-5], upper_bound=True)
    assert list(bound.excluded_fraction) == list(
        plain.excluded_fraction
    )  # the numbers do not change


def test_projection_figures_label_the_muon_curves():
    from na64stat.app.reproduce import fig8, fig11

    for figure in (fig8(), fig11()):
        muon = [label for label in figure.curves if label.startswith("NA64mu")]
        assert muon and all("(upper bound)" in label for label in muon)
        assert any(UPPER_BOUND_NOTE in note for note in figure.notes)
