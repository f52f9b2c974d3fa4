"""The real app in a real browser: start `labscope serve`, drive it with Playwright in Debian's Chromium."""

import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_home_to_loss_landscape_smoke_run_and_export(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(90_000)
    page.goto(server)
    page.get_by_role("heading", name="labscope").wait_for()
    page.get_by_role("link", name="Loss landscape").first.click()
    page.get_by_role("heading", name="Loss landscape").wait_for()

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Preset").click()
    page.get_by_role("option", name="smoke").click()
    sidebar.get_by_role("button", name="Run", exact=True).click()
    page.locator(".js-plotly-plot").nth(9).wait_for()
    page.get_by_text("Computed in").wait_for()
    assert page.locator(".js-plotly-plot").count() == 10
    page.wait_for_function("() => location.search.includes('epochs=5')")  # the link follows the run's parameters
    assert "preset=smoke" in page.url and "width=32" in page.url
    page.screenshot(path=str(SCREENSHOTS / "loss_landscape.png"), full_page=True)

    page.get_by_text("Export for a paper").click()
    # SVG only: rendering every figure in every format is test_cli's export test; this one is the browser's part
    formats = page.get_by_test_id("stMultiSelect").filter(has_text="Formats")
    for other in ("png", "pdf"):  # each chip's own Remove button (keyboard editing raced the panel's reruns)
        formats.get_by_role("button", name=f"Remove {other}", exact=True).click()
        expect(formats.get_by_role("button", name=f"Remove {other}", exact=True)).to_have_count(0)
    expect(formats.get_by_role("button", name="Remove svg", exact=True)).to_have_count(1)
    page.get_by_role("button", name="Prepare bundle").click()  # renders 10 figures, 3D in software GL
    page.get_by_role("button", name="Download bundle (.zip)").wait_for(timeout=300_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download bundle (.zip)").click()
    members = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
    assert {"figures/contour_train.svg", "figures/training_curves.svg", "figures/interpolation.svg",
            "data/surface.csv", "provenance.json"} <= set(members)
    assert not [m for m in members if m.endswith((".png", ".pdf"))]

    # The link alone reproduces the view, answered from the cache.
    fresh = browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.set_default_timeout(60_000)
    fresh.goto(page.url)
    fresh.get_by_text("From cache").wait_for()
    fresh.locator(".js-plotly-plot").nth(9).wait_for()


def test_a_long_run_can_be_cancelled(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{server}/loss_landscape?grid_points=101&eval_samples=5000&epochs=100")
    page.get_by_text("not been computed on this server yet").wait_for()  # a link fills the form, starts nothing
    assert page.get_by_role("button", name="Cancel run").count() == 0
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_text("Run cancelled").wait_for()
    assert page.locator(".js-plotly-plot").count() == 0
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).wait_for()  # the page is usable again


def test_phase_grid_fills_in_and_a_click_on_a_cell_opens_its_landscape(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{server}/landscape_phases?preset=smoke&epochs=6")  # not cached yet: the form waits for Run
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Live preview of the finished part").wait_for()  # the grid fills in while it computes
    page.get_by_text("Computed in").wait_for()
    page.locator(".js-plotly-plot").nth(5).wait_for()
    page.screenshot(path=str(SCREENSHOTS / "landscape_phases.png"), full_page=True)

    plot_area = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first
    box = plot_area.bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])  # widest, hottest cell
    page.get_by_role("heading", name="Loss landscape").wait_for()
    page.wait_for_function("() => location.href.includes('/loss_landscape?')")
    assert "width=64" in page.url and "lr=0.1" in page.url and "epochs=6" in page.url
    page.get_by_text("not been computed on this server yet").wait_for()  # the cell's network: in the form, not run
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Cancel run").click()  # the cell's landscape started; no need to finish it
    page.get_by_text("Run cancelled").wait_for()
