"""The concept-space page through Streamlit's AppTest (charts are opaque to it: we count them)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "concept_space.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def test_widgets_come_from_the_spec_and_nothing_runs_before_submit():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.slider(key="concept_space.color_signal").value == 0.8
    assert at.sidebar.selectbox(key="concept_space.held_out").value == "blue_small"
    assert "press **Run**" in at.info[0].value
    assert not at.get("plotly_chart")


def test_smoke_run_draws_trajectories_times_and_a_sample_scrubber():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({"preset": "smoke"})
    at.run()
    at.sidebar.button(key="_run.concept_space").click().run()  # a link fills the form; Run computes
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3  # concept space, joint accuracy, per-concept accuracy (no sweep)
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["T colour learned", "T size learned", "T_turn", "T_naive", "T_intervention"]
    assert all(m.value == "never" or m.value.startswith("step ") for m in at.metric[:5])
    scrubber = at.select_slider[0]
    assert scrubber.options[-1] == "120" and len(scrubber.options) == 6
    assert len(at.get("image")) == 1
    scrubber.set_value(scrubber.options[0]).run()  # scrubbing replays from the cache, never retrains
    assert not at.exception and "From cache" in at.success[0].value
    assert str(at.select_slider[0].value) == scrubber.options[0]
    assert at.select_slider[0].key.startswith("_scrub.concept_space.")  # one scrubber per result


def test_a_bad_link_is_reported_and_ignored():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params.update({"color_signal": "3"})
    at.run()
    assert "parameter 'color_signal': out of range 3" in at.warning[0].value
    assert not at.get("plotly_chart")
