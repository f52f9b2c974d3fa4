"""Jobs outlive the page that asked: they run in the server's worker processes, can be joined, cancelled,
survive a crashed worker with their finished stages kept, and a restart marks them interrupted."""

import os
import signal
import time

import pytest

import staged_toy
from analyses.core import CacheStore
from analyses.core.jobs import InlineExecutor, JobStore, ProcessExecutor
from analyses.core.runner import result_key



@pytest.fixture
def env(test_analyses):
    return test_analyses / "cache"


def _submit(root, name, overrides):
    from analyses.core import get

    analysis = get(name)
    params = analysis.params("default", overrides)
    key = result_key(analysis, params)
    return JobStore(root).submit(key, name, params, preset="default")


def _wait(jobs, job_id, statuses, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = jobs.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {jobs.get(job_id).status}, not {statuses}")


def test_an_inline_job_computes_into_the_cache(env):
    job, joined = _submit(env, "toy", {"n": 7})
    assert not joined and job.status == "queued"
    InlineExecutor(env).submit(job.id)
    done = JobStore(env).get(job.id)
    assert done.status == "done" and done.progress == 1.0 and done.elapsed() > 0
    assert CacheStore(env).path("toy", job.id).exists()


def test_a_second_request_for_the_same_parameters_joins_the_running_job(env, monkeypatch):
    monkeypatch.setenv("LABSCOPE_WORKER_NICE", "10")  # the server's default (the tests' conftest sets 0)
    first, joined_first = _submit(env, "toy", {"n": 8, "delay": 1.0})
    second, joined_second = _submit(env, "toy", {"n": 8, "delay": 1.0})
    assert (joined_first, joined_second) == (False, True) and first.id == second.id
    pool = ProcessExecutor(env, workers=2)
    try:
        pool.submit(first.id)
        job = _wait(pool.jobs, first.id, ("done",))
        worker = int((env.parent / "toy.log").read_text().split()[0])
        # the worker computes at a lower CPU priority than the server, which keeps pages responsive
        assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    finally:
        pool.shutdown()
    assert job.sessions == 2
    assert len((env.parent / "toy.log").read_text().split()) == 1  # one computation for both sessions
    assert int((env.parent / "toy.log").read_text().split()[0]) != os.getpid()  # in a worker process


def test_cancel_stops_a_running_job_in_its_worker(env):
    job, _ = _submit(env, "toy", {"n": 9, "delay": 30.0})
    pool = ProcessExecutor(env, workers=1)
    try:
        pool.submit(job.id)
        running = _wait(pool.jobs, job.id, ("running",))
        while pool.jobs.get(job.id).progress == 0 and pool.jobs.get(job.id).message == "":
            time.sleep(0.05)
        assert pool.jobs.cancel(job.id)
        cancelled = _wait(pool.jobs, job.id, ("cancelled",), timeout=20)
    finally:
        pool.shutdown()
    assert running.worker_pid is None or running.worker_pid != os.getpid()
    assert cancelled.elapsed() < 20 and not CacheStore(env).path("toy", job.id).exists()


def test_a_killed_worker_fails_its_job_with_the_reason_and_a_rerun_finishes_only_the_rest(env):
    # the staged toy: 'fit' reports progress each epoch; slowed down so that the kill lands inside it
    job, _ = _submit(env, "staged", {"epochs": 40, "pause": 30.0})
    pool = ProcessExecutor(env, workers=1)
    try:
        pool.submit(job.id)
        _wait(pool.jobs, job.id, ("running",))
        deadline = time.time() + 60
        while "fit" not in pool.jobs.get(job.id).message and time.time() < deadline:
            time.sleep(0.01)
        os.kill(pool.jobs.get(job.id).worker_pid, signal.SIGKILL)
        failed = _wait(pool.jobs, job.id, ("failed", "done"))
    finally:
        pool.shutdown()
    assert "worker process stopped unexpectedly" in failed.error
    store = CacheStore(env)
    data_stage = [r for r in store.run_records("staged", "data")] if hasattr(store, "run_records") else None
    assert data_stage is None or len(data_stage) == 1  # the finished stage stayed cached
    job, joined = _submit(env, "staged", {"epochs": 40, "pause": 0.0})  # same data, so its stage is read back
    assert not joined
    staged_toy.RUNS.clear()
    InlineExecutor(env).submit(job.id)
    assert JobStore(env).get(job.id).status == "done"
    assert "data" not in staged_toy.RUNS and "fit" in staged_toy.RUNS


def test_a_restarted_server_marks_the_jobs_it_lost_as_interrupted(env):
    jobs = JobStore(env)
    job, _ = _submit(env, "toy", {"n": 11})
    gone = f"{os.uname().nodename}:999999:dead"  # an owner whose process no longer exists
    jobs.claim(gone, job.id)
    pool = ProcessExecutor(env, workers=1)
    pool.shutdown()
    interrupted = jobs.get(job.id)
    assert interrupted.status == "interrupted" and "run it again" in interrupted.error


def test_jobs_list_active_first_then_newest(env):
    jobs = JobStore(env)
    a, _ = _submit(env, "toy", {"n": 12})
    InlineExecutor(env).submit(a.id)
    b, _ = _submit(env, "toy", {"n": 13})
    assert [j.id for j in jobs.list()] == [b.id, a.id]
    assert jobs.cancel(b.id) is False and jobs.get(b.id).status == "cancelled"  # a queued job ends at once


def test_a_pool_started_while_a_page_is_main_does_not_run_the_page_in_its_workers(env, tmp_path, monkeypatch):
    """Under Streamlit the page being drawn is `__main__`, and spawned processes re-run `__main__`'s file."""
    import sys
    import types

    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page ran in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    job, _ = _submit(env, "toy", {"n": 5})
    pool = ProcessExecutor(env, workers=1)
    try:
        pool.submit(job.id)
        assert _wait(pool.jobs, job.id, ("done", "failed")).status == "done"
    finally:
        pool.shutdown()
    assert sys.modules["__main__"] is fake  # and the page is still main in the server



def test_a_worker_warms_up_while_idle_and_takes_a_job_between_two_warm_up_steps(monkeypatch, tmp_path):
    """After its first warm-up a worker is ready; the rest (compute modules, code versions) runs one step at a
    time while no job waits, so a job sent meanwhile waits for the step in progress only."""
    import multiprocessing
    import threading

    from analyses.core import jobs

    names = [name for name, _ in jobs._more_warm_up()]  # the real steps, listed (not run)
    assert names[0] == "torch optimizers"
    assert {"concept_space code version", "concept_space compute", "loss_landscape compute"} <= set(names)

    done, started = [], threading.Event()

    def step(name):
        def run():
            started.set()
            time.sleep(0.3)
            done.append(name)
        return name, run

    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))  # the worker sets it
    monkeypatch.setenv("LABSCOPE_WORKER_WARM_UP", "1")  # the tests' pools leave it out (conftest)
    monkeypatch.setattr(jobs, "_warm_up", lambda cache_root: done.append("ready"))
    monkeypatch.setattr(jobs, "_more_warm_up", lambda: iter([step("a"), step("b"), step("c")]))
    monkeypatch.setattr(jobs, "execute", lambda cache_root, job_id, owner: done.append(job_id))
    ours, theirs = multiprocessing.Pipe()
    worker = threading.Thread(target=jobs._worker_main, args=(theirs, str(tmp_path), "owner"), daemon=True)
    worker.start()
    assert ours.poll(10) and ours.recv() == jobs.READY
    assert started.wait(10)
    ours.send("job-1")  # arrives while step "a" runs
    assert ours.poll(10) and ours.recv() == "job-1"
    deadline = time.time() + 10
    while len(done) < 5 and time.time() < deadline:  # idle again: the remaining steps
        time.sleep(0.05)
    ours.send(None)
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert done == ["ready", "a", "job-1", "b", "c"]
