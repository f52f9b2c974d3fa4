"""The form in a real browser: Run pressed while a preset is still loading, on a loaded machine, runs what the
form shows; a link carries the whole view (parameters, display options, figure style, the image/condition/
observer picker) and a cached one draws at once."""

import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import pytest

from analyses.core import get

pytestmark = pytest.mark.browser

# Three presets that differ in what the form shows: every pick changes the values.
PRESETS = ("smoke", "default", "no_edit_pull")
SHOWN = {"demo_observers": "Demo: observers", "demo_fixations": "Demo: fixations per trial",
         "edit_attraction": "Demo: pull of the edit"}

PICK_AND_RUN = """([preset, delay]) => new Promise((resolve, reject) => {
    const option = [...document.querySelectorAll('[role="option"]')].find(o => o.textContent.trim() === preset);
    if (!option) { reject('no option ' + preset); return; }
    const picked = performance.now();
    option.click();
    const press = () => {
        const run = [...document.querySelectorAll('[data-testid="stSidebar"] button')]
            .find(b => b.textContent.trim() === 'Run');
        run.click();
        resolve(performance.now() - picked);
    };
    if (delay === 0) press(); else setTimeout(press, delay);  // 0: in the same task as the pick
})"""


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


def _slider_value(page, label: str) -> str:
    slider = page.get_by_test_id("stSidebar").get_by_test_id("stSlider").filter(has_text=label)
    return slider.get_by_test_id("stSliderThumbValue").inner_text()


def test_run_pressed_as_a_preset_loads_runs_what_the_form_shows(server, browser):
    analysis = get("eye_tracking")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])]  # a loaded machine
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(300_000)  # the first run of each preset computes, on a loaded machine
        page.goto(f"{server}/eye_tracking")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_role("button", name="Run", exact=True).wait_for()
        gaps = []
        for i in range(9):  # each preset three times, Run in the pick's task or 0-90 ms after it
            preset = PRESETS[i % len(PRESETS)]
            sidebar.get_by_test_id("stSelectbox").filter(has_text="Preset").click()
            page.get_by_role("option", name=preset, exact=True).wait_for()
            gaps.append(page.evaluate(PICK_AND_RUN, [preset, 0 if i % 2 else (i * 37) % 90]))
            page.wait_for_function("p => document.body.innerText.includes('Preset ' + p + ',')", arg=preset)
            page.wait_for_function("p => new URLSearchParams(location.search).get('preset') === p", arg=preset)
            # Not waiting for the charts: the next pick may land while they are still being drawn.
            ran = _query(page.url)
            expected = analysis.spec.to_text(analysis.params(preset))
            # The result's parameters (the link is written from them) are the preset's, as the form shows.
            assert {k: ran.get(k, "") for k in expected if not analysis.spec[k].display} == \
                   {k: v for k, v in expected.items() if not analysis.spec[k].display}, (i, preset)
            assert page.evaluate("p => document.body.innerText.includes('Preset ' + p + ', unchanged.')", preset), \
                (i, preset)
            form = {name: _slider_value(page, label) for name, label in SHOWN.items()}
            assert {k: float(v) for k, v in form.items()} == {k: float(ran[k]) for k in SHOWN}, (i, preset)
        # Run pressed 0-90 ms after the pick; on a loaded machine the browser's timers can fire late, so the
        # measured gaps are only required to be short for most presses (every one of the 9 is checked above).
        assert sum(gap < 100 for gap in gaps) >= 6, gaps
    finally:
        for process in busy:
            process.kill()


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
