"""The prompt-steering page in a real browser: a tiny model from a link, the figures drawn, the prompt
inspector opened, then a format added from the sidebar (only the new prompts are scored)."""

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from analyses.prompt_steering import tiny
from conftest import SCREENSHOTS, SERVER_LOGS, server_story, start_server, stop_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def steering_server(tmp_path_factory):
    """A server of its own: its pool holds no other test's jobs, and its log holds only this test's story."""
    data = tmp_path_factory.mktemp("steering-data")
    url, proc, log = start_server(tmp_path_factory.mktemp("steering-server"), env={"LABSCOPE_DATA_ROOTS": str(data)})
    SERVER_LOGS[url] = log
    yield url, data
    stop_server(proc)


def _wait(locator, what: str, server: str, page) -> None:
    """Wait for the locator; on a timeout, say what the page and the server showed instead."""
    try:
        locator.wait_for()
    except PlaywrightTimeout:
        page.screenshot(path=str(SCREENSHOTS / "prompt_steering_failed.png"), full_page=True)
        raise AssertionError(f"no {what} after Run; {server_story(server, page)}") from None


def test_tiny_model_run_inspector_and_an_added_format(steering_server, browser):
    server, served_data = steering_server
    model = tiny.build(served_data / "tiny", "llama", chat=True)  # a server path the dashboard may read
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)  # a job in the server's pool; slow while the suite's other worker computes
    page.goto(f"{server}/prompt_steering?preset=smoke&n_items=3&n_permutations=50&model={model}")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()  # a link fills the form
    _wait(page.get_by_text("Computed in"), "the first run's result", server, page)
    page.locator(".js-plotly-plot").nth(6).wait_for()
    # 7 figures: with 3 countries there is no extrapolability chart (too few to correlate or cluster)
    assert page.locator(".js-plotly-plot").count() == 7
    assert page.get_by_text("Instability matrix: E[s] without a persona").count() >= 1
    page.get_by_text("Inspect a prompt").click()
    page.get_by_text("Answer with the letter of one option only.").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "prompt_steering.png"), full_page=True)

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Answer by option text").click()
    sidebar.get_by_role("button", name="Run", exact=True).click()
    # 3 items x 8 formats x 5 personas; the 60 identifier prompts come from the cache
    tile = page.get_by_test_id("stMetric").filter(has_text="prompts").filter(has_text="120")
    _wait(tile, "the 120-prompt result", server, page)
    page.locator(".js-plotly-plot").nth(6).wait_for()
    assert page.get_by_text("Computed in").count() == 1
