"""Serving to a team, tried as an attacker would with nothing but a link, in Chromium against real servers:
links that would run a model directory's code (directly and from a page on another origin that frames
the dashboard), links to server files outside the data roots, and the token prompt off localhost."""

import functools
import http.server
import re
import threading
import time
from urllib.parse import quote

import pytest

from conftest import start_server, stop_server
from test_serving import custom_code_model

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bait(tmp_path_factory):
    """A model directory whose code writes a marker when imported, and two server files with secrets."""
    root = tmp_path_factory.mktemp("bait")
    model = custom_code_model(root / "model", root / "marker")
    (root / "secret.csv").write_text("SECRET-HEADER-1234,label\n1,0\n2,1\n")
    (root / "notes.txt").write_text("SECRET-NOTES-5678\tx\ty\n")
    return root


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    """`labscope serve` as installed: no data roots listed, custom code off, localhost."""
    url, proc, _ = start_server(tmp_path_factory.mktemp("default-server"),
                                env={"LABSCOPE_DATA_ROOTS": "", "LABSCOPE_ALLOW_CUSTOM_CODE": "", "LABSCOPE_TOKEN": ""})
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def roots_server(tmp_path_factory, bait):
    """A loopback server whose owner listed the bait folder as a data root, custom code off."""
    url, proc, _ = start_server(tmp_path_factory.mktemp("roots-server"),
                                env={"LABSCOPE_DATA_ROOTS": str(bait), "HF_MODULES_CACHE": str(bait / "hf")})
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def team_server(tmp_path_factory, bait):
    """`labscope serve --host 0.0.0.0` with custom code allowed: the token it prints, and its URL."""
    env = {"LABSCOPE_DATA_ROOTS": str(bait), "LABSCOPE_ALLOW_CUSTOM_CODE": "1", "LABSCOPE_TOKEN": "",
           "HF_MODULES_CACHE": str(bait / "hf")}
    url, proc, log = start_server(tmp_path_factory.mktemp("team-server"), env=env, host="0.0.0.0")
    token = re.search(r"access token: (\S+)", log.read_text()).group(1)
    yield url, token
    stop_server(proc)


def link(server: str, page: str, **query) -> str:
    return f"{server}/{page}?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def settle(page, seconds: float = 3.0) -> None:
    """Give the server time to do anything the link could have started."""
    time.sleep(seconds)
    page.wait_for_load_state()


def test_attack_links_on_a_default_server_run_no_code_and_show_no_server_files(default_server, browser, bait):
    server = default_server
    page = open_page(browser, link(server, "prompt_steering", model=bait / "model", trust_remote_code="true"))
    page.get_by_text("not available from the dashboard").wait_for()  # the page says why
    settle(page)
    assert not (bait / "marker").exists()
    assert "_streamlit_xsrf" in {c["name"] for c in page.context.cookies()}  # Streamlit's XSRF protection is on

    for target, query, secret in (("loss_landscape", {"dataset": "csv", "data_file": bait / "secret.csv"},
                                   "SECRET-HEADER"),
                                  ("eye_tracking", {"data_path": bait / "notes.txt"}, "SECRET-NOTES")):
        page = open_page(browser, link(server, target, **query))
        page.get_by_text("not available from the dashboard").wait_for()
        settle(page, 1.0)
        html = page.content()
        assert secret not in html and str(bait) not in html.replace(quote(str(bait), safe=""), "")

    started = time.perf_counter()
    page = open_page(browser, link(server, "prompt_steering", model="/usr"))
    page.get_by_text("not available from the dashboard").wait_for()
    assert time.perf_counter() - started < 30  # no hashing of /usr: refused as soon as the page runs


def test_inside_the_data_roots_the_code_link_is_refused_and_says_how_to_allow_it(roots_server, browser, bait):
    page = open_page(browser, link(roots_server, "prompt_steering", model=bait / "model", trust_remote_code="true"))
    page.get_by_text("LABSCOPE_ALLOW_CUSTOM_CODE=1").first.wait_for()
    assert "names its own code" in page.content()
    settle(page)
    assert not (bait / "marker").exists()


def test_a_page_on_another_origin_framing_the_dashboard_runs_no_code(roots_server, browser, bait, tmp_path):
    target = link(roots_server, "prompt_steering", model=bait / "model", trust_remote_code="true")
    (tmp_path / "index.html").write_text(f'<html><body><h1>cute cats</h1>'
                                         f'<iframe src="{target}" width="1300" height="900"></iframe></body></html>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        page = open_page(browser, f"http://127.0.0.1:{other.server_address[1]}/index.html")  # another origin
        frame = page.frame_locator("iframe")
        frame.get_by_text("LABSCOPE_ALLOW_CUSTOM_CODE=1").first.wait_for()
        settle(page)
        assert not (bait / "marker").exists()
    finally:
        other.shutdown()


def test_off_localhost_only_the_token_prompt_shows_until_the_printed_token_is_given(team_server, browser, bait):
    url, token = team_server
    page = open_page(browser, url)
    page.get_by_role("heading", name="Access token required").wait_for()
    settle(page, 1.0)
    assert page.get_by_role("heading", name="labscope").count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0 and "Loss landscape" not in page.content()

    page = open_page(browser, f"{url}/loss_landscape?preset=smoke")  # a deep link: the same prompt
    page.get_by_role("heading", name="Access token required").wait_for()
    settle(page, 1.0)
    assert page.get_by_role("heading", name="Loss landscape").count() == 0

    page = open_page(browser, f"{url}/?token=wrong-{token}")
    page.get_by_text("not valid").wait_for()
    assert page.get_by_role("heading", name="labscope").count() == 0

    page = open_page(browser, f"{url}/?token={token}")
    page.get_by_role("heading", name="labscope").wait_for()
    page.wait_for_function("() => !location.search.includes('token')")  # out of the address bar at once
    page = open_page(browser, f"{url}/loss_landscape?token={token}&preset=smoke")
    page.get_by_role("heading", name="Loss landscape").wait_for()
    page.wait_for_function("() => location.search.includes('preset=smoke') && !location.search.includes('token')")

    # Custom code allowed on this server: a link still only fills the form, and waits for Run.
    page = open_page(browser, link(url, "prompt_steering", token=token, preset="smoke", model=bait / "model",
                                   trust_remote_code="true"))
    page.get_by_text("which run code on this server").wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("checkbox", name="Trust remote code").is_checked()
    settle(page)
    assert not (bait / "marker").exists()
