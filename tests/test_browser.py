"""The real app in a real browser: start `labscope serve`, drive it with Playwright in Debian's Chromium."""

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from analyses.core.export import chromium_path

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(os.environ.get("LABSCOPE_SCREENSHOTS", Path(__file__).parent / "screenshots"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path_factory.mktemp("served-cache"))}
    proc = subprocess.Popen([sys.executable, "-m", "analyses.core.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://localhost:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"server did not start:\n{proc.stdout.read()}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
    assert "preset=smoke" in page.url and "epochs=5" in page.url
    page.screenshot(path=str(SCREENSHOTS / "loss_landscape.png"), full_page=True)

    page.get_by_text("Export for a paper").click()
    page.get_by_role("button", name="Prepare bundle").click()  # renders 10 figures x 3 formats, 3D in software GL
    page.get_by_role("button", name="Download bundle (.zip)").wait_for(timeout=300_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download bundle (.zip)").click()
    members = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
    assert {"figures/contour_train.pdf", "figures/training_curves.svg", "figures/interpolation.png",
            "data/surface.csv", "provenance.json"} <= set(members)

    # The link alone reproduces the view, answered from the cache.
    fresh = browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.set_default_timeout(60_000)
    fresh.goto(page.url)
    fresh.get_by_text("From cache").wait_for()
    fresh.locator(".js-plotly-plot").nth(9).wait_for()


def test_a_long_run_can_be_cancelled(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{server}/loss_landscape?grid_points=101&eval_samples=5000&epochs=100")  # a link starts the run
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_text("Run cancelled").wait_for()
    assert page.locator(".js-plotly-plot").count() == 0
    page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True).wait_for()  # the page is usable again
