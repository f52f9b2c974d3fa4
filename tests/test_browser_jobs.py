"""Runs outlive their tab, in a real browser against the real server: a slow staged run is started, its
browser context closed; another context reattaches through the link and sees it finish on /jobs; a CLI run
of the same parameters is then a cache hit. The same for a small concept-space run (the issue's acceptance).
Cancel from the page stops a running job."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyses.core.jobs import JobStore
from conftest import start_server, stop_server

pytestmark = pytest.mark.browser
TESTS = Path(__file__).parent
ENV = {"LABSCOPE_ANALYSES": "staged=staged_toy:ANALYSIS", "LABSCOPE_WORKERS": "2",
       "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("jobs-server")
    url, proc, _ = start_server(workdir, env=ENV)
    yield url, workdir / "cache"
    stop_server(proc)


def _run_button(page):
    return page.get_by_test_id("stSidebar").get_by_role("button", name="Run", exact=True)


def _run_in_new_context(browser, link: str):
    """A browser context of its own (as another user's would be) opening an uncached link and pressing Run."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(link)
    page.get_by_text("not been computed on this server yet").wait_for()
    _run_button(page).click()
    return context, page


def test_a_run_goes_on_after_its_tab_closes_and_lands_in_the_cache(jobs_server, browser, tmp_path):
    url, cache = jobs_server
    link = f"{url}/staged?preset=default&epochs=16&pause=8"  # 0.5 s an epoch
    first, page = _run_in_new_context(browser, link)
    page.get_by_test_id("stProgress").filter(has_text="epoch").wait_for()  # the worker's progress, read from the job table
    first.close()  # the tab is gone; the job is not

    second = browser.new_context(viewport={"width": 1300, "height": 900})
    view = second.new_page()
    view.set_default_timeout(90_000)
    view.goto(link)  # the link alone reattaches to the running job
    view.get_by_text("following its job").wait_for()
    listing = second.new_page()
    listing.set_default_timeout(90_000)
    listing.goto(f"{url}/jobs")
    listing.get_by_role("heading", name="Jobs").wait_for()
    listing.wait_for_function("() => document.body.innerText.includes('done 1')")  # finished without its tab
    view.get_by_text("Computed in").wait_for()  # the reattached page shows the result when the job ends
    second.close()
    [job] = JobStore(cache).list()
    assert job.status == "done" and job.elapsed() >= 8

    out = tmp_path / "out"
    cli = subprocess.run([sys.executable, "-m", "analyses.core.cli", "--cache-dir", str(cache), "run", "staged",
                          "--preset", "default", "--set", "epochs=16", "--set", "pause=8", "--out", str(out)],
                         env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["provenance"]["cache_hit"] is True and result["provenance"]["cache_key"] == job.id


def test_cancel_from_the_page_stops_the_job(jobs_server, browser):
    url, cache = jobs_server
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{url}/staged?preset=default&epochs=40&pause=40&seed=3")
    _run_button(page).click()
    page.get_by_test_id("stProgress").filter(has_text="epoch").wait_for()
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_text("Run cancelled").wait_for()
    _run_button(page).wait_for()
    context.close()
    cancelled = [j for j in JobStore(cache).list() if j.params["seed"] == 3]
    assert [j.status for j in cancelled] == ["cancelled"] and cancelled[0].elapsed() < 30


# The concept-space smoke preset made smaller still (a few seconds of training on an idle machine, about ten
# on a loaded one): long enough to close the tab mid-run, short enough for the suite.
CONCEPT_SPACE = {"steps": 200, "checkpoints": 5, "samples": 4, "sampling_steps": 2, "batch_size": 16, "channels": 8}


def test_a_concept_space_run_finishes_after_its_tab_closes_is_listed_on_jobs_and_is_a_cli_cache_hit(
        jobs_server, browser, tmp_path):
    url, cache = jobs_server
    link = f"{url}/concept_space?preset=smoke&" + "&".join(f"{k}={v}" for k, v in CONCEPT_SPACE.items())
    first, page = _run_in_new_context(browser, link)
    page.get_by_test_id("stProgress").filter(has_text="of training").wait_for()  # the worker is training
    [job] = [j for j in JobStore(cache).list() if j.analysis == "concept_space"]
    first.close()  # the tab is gone while the job trains
    closed = time.time()
    assert JobStore(cache).get(job.id).status == "running"

    second = browser.new_context(viewport={"width": 1300, "height": 900})  # another browser's session
    listing = second.new_page()
    listing.set_default_timeout(90_000)
    listing.goto(f"{url}/jobs")
    listing.get_by_role("heading", name="Jobs").wait_for()
    # the job's row, listed as done once it has finished without its tab (read from the table's accessible
    # cells: the grid itself is a canvas, and only the columns in view have cells, the job id's not)
    listing.wait_for_function("""changed => [...document.querySelectorAll('[data-testid="stDataFrame"] tr')].some(
        row => row.textContent.includes('Concept-space learning dynamics') && row.textContent.includes(changed)
               && [...row.querySelectorAll('td')].some(cell => cell.textContent === 'done'))""",
                              arg="steps=200, checkpoints=5, batch_size=16, channels=8, samples=4, sampling_steps=2")
    second.close()
    finished = JobStore(cache).get(job.id)
    assert finished.status == "done" and finished.finished > closed

    out = tmp_path / "out"
    overrides = [arg for k, v in CONCEPT_SPACE.items() for arg in ("--set", f"{k}={v}")]
    cli = subprocess.run([sys.executable, "-m", "analyses.core.cli", "--cache-dir", str(cache), "run", "concept_space",
                          "--preset", "smoke", *overrides, "--out", str(out)],
                         env={**os.environ, **ENV}, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["provenance"]["cache_hit"] is True and result["provenance"]["cache_key"] == job.id
    assert "cache in" in cli.stderr + cli.stdout  # the CLI says it answered from the cache
