"""The concept-space page in a real browser: a link starts the smoke run, figures and the sample scrubber appear."""

import pytest

from conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_concept_space_smoke_run_from_a_link_and_scrub_samples(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)  # a job in the server's pool; slow while the suite's other worker computes
    page.goto(f"{server}/concept_space?preset=smoke&batch_size=16&channels=8&sampling_steps=2")  # smaller still
    page.get_by_role("heading", name="Concept-space learning dynamics").wait_for()
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()  # a link fills the form
    page.get_by_text("Computed in").wait_for()
    # Wait for what the page draws after the run, in its order: the live preview's charts may still be
    # on screen a moment after the badge appears (seen under load).
    page.get_by_text("T_intervention").first.wait_for()
    page.get_by_text("Generated samples over training").wait_for()
    page.locator(".js-plotly-plot").nth(2).wait_for()
    assert page.locator(".js-plotly-plot").count() == 3
    images = page.locator('[data-testid="stImage"] img')
    images.nth(8).wait_for()
    assert images.count() == 9  # four prompts and five interventions, one strip each
    before = images.first.get_attribute("src")
    slider = page.get_by_role("slider", name="Checkpoint (training step)")
    slider.focus()
    slider.press("Home")  # scrub back to the first checkpoint
    page.wait_for_function("src => document.querySelector('[data-testid=\"stImage\"] img').src !== src",
                           arg=page.evaluate("s => new URL(s, location.href).href", before))
    page.get_by_text("From cache").wait_for()  # scrubbing replays from the cache, never retrains
    page.screenshot(path=str(SCREENSHOTS / "concept_space.png"), full_page=True)
