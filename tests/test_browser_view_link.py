"""A link carries the whole eye-tracking view in a real browser (parameters, display options, figure style,
the image/condition/observer picker), and the same link in a new tab draws it from the cache."""

import time
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}


def _pick(page, label: str, option: str) -> None:
    """Choose in one of the main area's selectboxes; a rerun of the page (a finished job's) can close the
    open list before the option is clicked, so open it again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(6):
        page.get_by_test_id("stMain").get_by_role("combobox", name=label, exact=True).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the {label} list never offered {option}")



def test_a_link_carries_the_whole_view_in_a_browser(server, browser):
    view = {"view_image": "demo02", "view_condition": "colour_shift", "view_observer": "obs03",
            "style": "ml-column", "sigma_deg": "1.5"}
    link = f"{server}/eye_tracking?preset=smoke&" + "&".join(f"{k}={v}" for k, v in view.items())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)  # the eye-tracking charts took 50-70 s to draw on the loaded test machine
    page.goto(link)
    page.get_by_text("not been computed on this server yet").or_(page.get_by_text("From cache")).first.wait_for()
    if page.get_by_text("not been computed on this server yet").count():
        assert page.locator(".js-plotly-plot").count() == 0  # nothing drawn before Run
        page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).click()
    page.locator(".js-plotly-plot").nth(5).wait_for()

    def shown(p) -> dict:
        """The picker's choices as displayed (each selectbox reads its label, then its value)."""
        main = p.get_by_test_id("stMain")
        return {k: main.get_by_role("combobox", name=label, exact=True).input_value()
                for k, label in (("view_image", "Image"), ("view_condition", "Condition"), ("view_observer", "Observer"))}

    assert shown(page) == {k: view[k] for k in ("view_image", "view_condition", "view_observer")}
    assert "ICML/ICLR column" in page.get_by_role("combobox", name="Figure style").input_value()
    page.wait_for_function("() => location.search.includes('view_observer=obs03')")

    # Another observer from the picker: the URL follows; the URL in a new tab opens the same view, from the cache.
    _pick(page, "Observer", "obs04")
    page.wait_for_function("() => location.search.includes('view_observer=obs04')")
    time.sleep(0.5)
    fresh = browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.set_default_timeout(300_000)
    fresh.goto(page.url)
    fresh.get_by_text("From cache").wait_for()
    fresh.locator(".js-plotly-plot").first.wait_for()
    assert shown(fresh) == {**{k: view[k] for k in ("view_image", "view_condition")}, "view_observer": "obs04"}
    assert _query(fresh.url)["style"] == "ml-column" and _query(fresh.url)["sigma_deg"] == "1.5"
