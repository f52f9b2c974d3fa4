"""The Jobs page (AppTest) and `labscope jobs`: every session's jobs, a link to each view, cancel."""

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analyses.core.cli import main
from analyses.core.jobs import InlineExecutor, JobStore, new_owner
from analyses.core.runner import result_key

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "jobs.py")
pytestmark = pytest.mark.usefixtures("fresh_streamlit")


@pytest.fixture
def two_jobs(tmp_path, monkeypatch):
    """A finished loss-landscape job and one still running elsewhere (a live owner: nobody claims it)."""
    from analyses.core import get

    root = tmp_path / "cache"  # the page's store (fresh_streamlit)
    analysis = get("loss_landscape")
    jobs = JobStore(root)
    smoke = analysis.params("smoke", {"width": 16})
    running = analysis.params("smoke", {"width": 24})
    done_id, running_id = result_key(analysis, smoke), result_key(analysis, running)
    jobs.submit(done_id, analysis.name, smoke, preset="smoke")
    jobs.claim(new_owner(), done_id)
    jobs.finish(done_id, "done")
    jobs.submit(running_id, analysis.name, running, preset="smoke")
    jobs.claim(new_owner(), running_id)  # this process's pid: alive, so not an orphan
    jobs.report(running_id, 0.4, "training: epoch 2")
    return jobs, done_id, running_id


def test_the_page_lists_every_job_with_its_view_link_and_cancels_a_running_one(two_jobs):
    jobs, done_id, running_id = two_jobs
    from dashboard.backend import job_executor

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    job_executor().shutdown()  # the page started the server's pool; nothing here needs it
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.status) == ["running", "done"]  # active first
    assert table.progress.iloc[0] == pytest.approx(0.4)
    assert table["parameters (vs preset)"].tolist() == ["width=24", "width=16"]
    assert table.view.iloc[0] == "/loss_landscape?preset=smoke&width=24"
    [cancel] = at.button
    cancel.click().run()
    assert jobs.cancel_requested(running_id) and not jobs.cancel_requested(done_id)


def test_cli_lists_follows_and_cancels_jobs(two_jobs, capsys):
    jobs, done_id, running_id = two_jobs
    root = str(jobs.root.parent)
    assert main(["--cache-dir", root, "jobs"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith(running_id[:12]) and "running" in listing[0] and "40.0%" in listing[0]
    assert main(["--cache-dir", root, "jobs", "--follow", done_id[:8], "--quiet"]) == 0
    assert "done" in capsys.readouterr().out
    assert main(["--cache-dir", root, "jobs", "--cancel", running_id[:8]]) == 0
    assert jobs.cancel_requested(running_id)
    assert main(["--cache-dir", root, "jobs", "--cancel", "zzzz"]) == 2
