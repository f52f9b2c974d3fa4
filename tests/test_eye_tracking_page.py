"""The eye-tracking page through Streamlit's AppTest (charts are opaque to it: we count them)."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import SHARED

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "eye_tracking.py")
RACCOONS = SHARED / "data" / "eyetracking" / "pymovements" / "raccoons.asc"


pytestmark = pytest.mark.usefixtures("fresh_streamlit", "data_roots")


def charts(at):
    return at.get("plotly_chart")


def test_demo_runs_says_simulated_and_views_redraw_from_the_cache():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and "press **Run**" in at.info[0].value
    assert at.sidebar.slider(key="eye_tracking.sigma_deg").value == 1.0
    assert at.sidebar.selectbox(key="eye_tracking.weighting").options == ["count", "duration"]
    at.sidebar.selectbox(key="eye_tracking._preset").set_value("smoke").run()
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error
    assert "Computed in" in at.info[0].value
    assert any("Simulated data" in w.value for w in at.warning)
    assert len(charts(at)) == 8
    assert [m.label for m in at.metric][:3] == ["observers", "images", "fixations"]
    assert any("SIMULATED" in e.label for e in at.expander)

    at.selectbox(key="eye_tracking.view_image").set_value("demo03")
    at.selectbox(key="eye_tracking.view_observer").set_value("obs02").run()  # a view, not a parameter
    assert not at.exception and len(charts(at)) == 8
    assert at.selectbox(key="eye_tracking.view_condition").options == ["original", "colour_shift", "patch_swap"]

    at.sidebar.slider(key="eye_tracking.sigma_deg").set_value(2.0)
    at.sidebar.button[0].click().run()  # a display option: answered from the cache
    assert "From cache" in at.success[0].value and len(charts(at)) == 8
    assert at.query_params["sigma_deg"] == "2.0"


def test_the_real_eyelink_file_from_a_link():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({"preset": "smoke", "data_path": str(RACCOONS)})
    at.run()
    at.sidebar.button(key="_run.eye_tracking").click().run()  # a link fills the form; Run computes
    assert not at.exception and not at.error
    assert any("outside the image" in w.value for w in at.warning)  # y = 1190 on a 1080-px screen
    assert not any("Simulated data" in w.value for w in at.warning)
    assert any("raccoons.asc (asc)" in c.value for c in at.caption)
    # heatmap, scanpath and the AOI dwell (a 3 x 3 grid): one condition to compare, no fixation on screen to score,
    # one fixation so no AOI transition
    assert len(charts(at)) == 3
    assert any("1 trials by TRIALID messages" in c.value and "GAZE_COORDS" in c.value
               and "EyeLink: end − start + 1" in c.value for c in at.caption)
    assert any(e.label == "Areas of interest" for e in at.expander)


def test_a_bad_file_shows_what_is_wrong(tmp_path):
    bad = tmp_path / "fix.csv"
    pd.DataFrame({"subject": ["a"], "horizontal": [1.0]}).to_csv(bad, index=False)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"preset": "smoke", "data_path": str(bad)})
    at.run()
    at.sidebar.button(key="_run.eye_tracking").click().run()
    assert not at.exception
    assert "no column for x and y" in at.error[0].value
    assert not charts(at)
