"""Compare runs in a real browser: the real server lists cached runs, groups them and draws the views."""

import os
from pathlib import Path

import pytest

import staged_toy
from analyses.core import CacheStore, run
from conftest import SCREENSHOTS, start_server, stop_server

pytestmark = pytest.mark.browser
TESTS = Path(__file__).parent


def test_compare_page_groups_cached_runs_and_plots_a_metric_against_a_parameter(browser, tmp_path):
    store = CacheStore(tmp_path / "cache")
    for seed in range(4):
        for grid_points in (5, 9):
            run(staged_toy.ANALYSIS, preset="smoke", overrides={"seed": seed, "grid_points": grid_points}, store=store)
    url, proc, _ = start_server(tmp_path, env={
        "LABSCOPE_ANALYSES": "staged=staged_toy:ANALYSIS",
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(90_000)
        page.goto(f"{url}/compare?analysis=staged")
        page.get_by_role("heading", name="Compare runs").wait_for()
        page.get_by_text("8 cached runs of Staged").wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        assert page.locator(".js-plotly-plot").count() >= 3  # metric against a parameter, curves, parallel, ...
        assert "analysis=staged" in page.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)
        page.close()
    finally:
        stop_server(proc)
