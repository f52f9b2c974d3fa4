"""An analysis page's Run is a job (AppTest): a session joins a job computing the same result, a link
reattaches to a running job and cancels it, a cached view needs no job, and a sweep from the page submits
its points as jobs of one sweep, listed on the Jobs page."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analyses.core import CacheStore, get
from analyses.core.jobs import InlineExecutor, JobStore, new_owner
from analyses.core.runner import result_key

JOBS_PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "jobs.py")
pytestmark = pytest.mark.usefixtures("test_analyses", "fresh_streamlit")


def page(name: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_string(f"from dashboard.components.analysis_page import generic_page\ngeneric_page({name!r})",
                             default_timeout=60)
    at.query_params.update(query or {})
    return at.run()


def computations(tmp_path) -> int:
    log = tmp_path / "toy.log"
    return len(log.read_text().split()) if log.exists() else 0


class Recording:
    """An executor that takes jobs and runs none: they stay queued, as behind a busy pool."""

    def __init__(self):
        self.submitted = []

    def submit(self, job_id):
        self.submitted.append(job_id)


def test_a_second_session_joins_the_first_sessions_job_and_both_show_its_result(monkeypatch, tmp_path):
    from dashboard.components import run_status

    pool = Recording()
    monkeypatch.setattr(run_status, "job_executor", lambda: pool)
    first = page("toy", {"preset": "smoke", "n": "6"})
    first.sidebar.button(key="_run.toy").click().run()
    [key] = pool.submitted
    assert first.button(key="_cancel.toy") and not first.get("plotly_chart")  # following, not computing
    assert any("closing the tab does not stop it" in c.value for c in first.caption)
    assert first.query_params["n"] == "6"  # the link reattaches while the job runs

    second = page("toy", {"preset": "smoke", "n": "6"})
    assert "being computed on the server" in second.info[0].value  # the link alone reattaches
    second.sidebar.button(key="_run.toy").click().run()
    assert "Another session is already computing this same result" in second.info[0].value
    jobs = JobStore(tmp_path / "cache")
    assert jobs.get(key).sessions == 2 and jobs.get(key).status == "queued"

    InlineExecutor(tmp_path / "cache").submit(key)  # the pool's worker computes it, once
    for session in (first.run(), second.run()):
        assert not session.exception
        assert "Computed in" in session.info[0].value and len(session.get("plotly_chart")) == 1
    assert computations(tmp_path) == 1
    x = list(range(6))
    assert first.dataframe[0].value.set_index("metric").loc["total", "value"] == sum(x)  # toy: sum(x * scale 1)


def test_a_cached_view_shows_at_once_without_a_job(tmp_path):
    analysis = get("toy")
    values = analysis.params("smoke", {"n": 4})
    from analyses.core import run

    run(analysis, params=values, store=CacheStore(tmp_path / "cache"))  # computed by the API, no job
    at = page("toy", {"preset": "smoke", "n": "4"})
    assert "From cache" in at.success[0].value
    assert JobStore(tmp_path / "cache").list() == []


def test_a_link_reattaches_to_a_running_job_and_cancels_it(tmp_path):
    analysis = get("staged")
    values = analysis.params("default", {"pause": 5.0})
    key = result_key(analysis, values)
    jobs = JobStore(tmp_path / "cache")
    jobs.submit(key, "staged", values, preset="default")
    jobs.claim(new_owner(), key)  # a live worker elsewhere holds it
    jobs.report(key, 0.3, "fit: epoch 1")
    at = page("staged", {"preset": "default", "pause": "5.0"})
    assert not at.exception
    assert "being computed on the server" in at.info[0].value
    assert not at.success  # nothing to show yet, and no second job
    at.button(key="_cancel.staged").click().run()
    assert jobs.cancel_requested(key)
    jobs.finish(key, "cancelled")  # what the worker does at its next progress report
    at.run()
    assert "Run cancelled" in at.warning[0].value


def test_a_failed_job_shows_its_reason(tmp_path):
    at = page("staged", {"preset": "default", "n": "999"})
    at.sidebar.button(key="_run.staged").click().run()
    assert "n = 999 is refused on purpose" in at.error[0].value
    assert JobStore(tmp_path / "cache").list()[0].status == "failed"


def test_a_sweep_from_the_page_submits_its_points_as_jobs_of_one_sweep(tmp_path):
    at = page("toy", {"preset": "smoke", "scale": "2.0"})
    at.sidebar.multiselect(key="_sweep.toy.params").set_value(["n", "delay"]).run()
    assert at.sidebar.text_input(key="_sweep.toy.n").value == "3"  # the form's value to start from
    at.sidebar.text_input(key="_sweep.toy.n").set_value("0..200").run()
    at.sidebar.text_input(key="_sweep.toy.delay").set_value("0").run()
    assert "at most 64 are allowed" in at.sidebar.error[0].value  # 200 points: refused before anything runs
    at.sidebar.text_input(key="_sweep.toy.n").set_value("2..4").run()
    at.sidebar.text_input(key="_sweep.toy.delay").set_value("0,0.01").run()
    assert any("6 points" in c.value for c in at.sidebar.caption)
    at.sidebar.button(key="_sweep.toy.submit").click().run()  # inline executor: computed right here
    assert not at.exception
    assert computations(tmp_path) == 6
    jobs = JobStore(tmp_path / "cache").list()
    assert len(jobs) == 6 and {j.status for j in jobs} == {"done"} and len({j.sweep for j in jobs}) == 1
    sweep_id = jobs[0].sweep
    assert {(j.params["n"], j.params["delay"], j.params["scale"]) for j in jobs} == {
        (n, d, 2.0) for n in (2, 3, 4) for d in (0.0, 0.01)}  # the form's scale kept at every point
    store = CacheStore(tmp_path / "cache")
    totals = sorted(store.read("toy", j.id).metrics["total"] for j in jobs)
    assert totals == sorted(2.0 * sum(range(n)) for n in (2, 3, 4) for _ in range(2))
    assert f"Sweep `{sweep_id}`: 6 jobs submitted" in at.sidebar.success[0].value

    again = page("toy", {"preset": "smoke", "scale": "2.0"})  # the same grid again: every point cached
    again.sidebar.multiselect(key="_sweep.toy.params").set_value(["n"]).run()
    again.sidebar.text_input(key="_sweep.toy.n").set_value("2..4").run()
    again.sidebar.button(key="_sweep.toy.submit").click().run()
    assert "0 jobs submitted, 0 joined running ones, 3 already cached" in again.sidebar.success[0].value
    assert computations(tmp_path) == 6

    listing = AppTest.from_file(JOBS_PAGE, default_timeout=60)
    listing.query_params["sweep"] = sweep_id
    listing.run()
    table = listing.dataframe[0].value
    assert len(table) == 6 and set(table.sweep) == {sweep_id} and set(table.status) == {"done"}
