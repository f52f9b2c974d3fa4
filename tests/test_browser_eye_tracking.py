"""The eye-tracking page in a real browser: the simulated demo from a link, then a fixation table with
unusual column names uploaded, mapped and analysed."""

from pathlib import Path

import pandas as pd
import pytest

from conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_demo_then_an_uploaded_table_with_a_column_mapping(server, browser, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    page.goto(f"{server}/eye_tracking?preset=smoke")  # a link fills the form: Run, unless it is cached
    run = page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True)
    page.get_by_text("not been computed on this server yet").or_(page.get_by_text("From cache")).first.wait_for()
    if page.get_by_text("not been computed on this server yet").count():
        run.click()
    page.get_by_text("Simulated data.").wait_for()
    page.locator(".js-plotly-plot").nth(5).wait_for()
    last = page.locator(".js-plotly-plot").nth(7)  # the AOI row, below the fold: drawn once scrolled to
    last.wait_for(state="attached")
    last.scroll_into_view_if_needed()
    last.wait_for()
    assert page.locator(".js-plotly-plot").count() == 8  # six figures and the two AOI charts
    assert page.get_by_text("SIMULATED DATA ·").count() >= 1  # in the figure titles
    page.screenshot(path=str(SCREENSHOTS / "eye_tracking.png"), full_page=True)

    table = tmp_path / "lab_export.csv"
    pd.DataFrame({"pid": ["p1"] * 3 + ["p2"] * 3, "pic": ["cat"] * 6, "cond": ["original"] * 6,
                  "fx": [300, 900, 1500, 320, 880, 1490], "fy": [200, 500, 800, 210, 520, 790],
                  "dur": [200, 250, 300, 220, 260, 310]}).to_csv(table, index=False)
    page.get_by_text("Bring a fixation table").click()
    expander = page.get_by_test_id("stExpander").filter(has_text="Bring a fixation table")
    expander.locator("input[type=file]").set_input_files(str(table))
    for label, column in (("subject", "pid"), ("stimulus (image id)", "pic"), ("x position (px)", "fx"),
                          ("y position (px)", "fy"), ("duration (ms)", "dur")):
        expander.get_by_test_id("stSelectbox").filter(has_text=label).click()
        page.get_by_role("option", name=column, exact=True).click()
    page.get_by_role("button", name="Use this mapping").click()
    page.get_by_text("Mapped table set as the recordings").wait_for()
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("lab_export-mapped.csv (fixations)").wait_for()
    page.get_by_text("Computed in").wait_for()
    assert page.get_by_text("Simulated data.").count() == 0
    page.locator(".js-plotly-plot").nth(1).wait_for()
