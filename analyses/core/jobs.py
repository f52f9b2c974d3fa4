"""Jobs: computations that outlive the browser tab that asked for them.

A Streamlit script dies with its session, so a page does not compute: it submits a job, and a worker
process owned by the server runs it through the same `run()` the CLI uses. Jobs live in a small SQLite
table beside the result cache (`<cache>/jobs/jobs.sqlite`), so every session, the CLI (`labscope jobs`)
and a restarted server see the same list. A job's id is its result's cache key: a second session asking
for the same parameters joins the running job instead of starting another. Progress, the cancel flag
and live previews go through that table and the cache; what a job finished (its stages, its cells) is
cached as it goes, so a cancelled, interrupted or crashed job loses only the part it was computing.

Executors run jobs: `InlineExecutor` in the calling thread (tests, CLI), `ProcessExecutor` in a bounded
pool of worker processes with one torch thread each (the dashboard's).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .processes import plain_main

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")
PREVIEW_EVERY_S = 1.0
PROGRESS_EVERY_S = 0.2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, analysis TEXT NOT NULL, params TEXT NOT NULL, preset TEXT, device TEXT,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, started REAL, finished REAL, error TEXT, owner TEXT, worker_pid INTEGER,
    cancel INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 1, previews INTEGER NOT NULL DEFAULT 0,
    sweep TEXT)
"""
EXECUTORS = ("processes", "inline")


@dataclass
class Job:
    id: str
    analysis: str
    params: dict[str, Any]
    preset: str | None
    device: str
    status: str
    progress: float
    message: str
    created: float
    started: float | None
    finished: float | None
    error: str | None
    owner: str | None
    worker_pid: int | None
    cancel: bool
    sessions: int
    previews: int
    sweep: str | None = None  # the sweep this job is a point of (jobs submitted together from a page)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def elapsed(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now or time.time()) - self.started


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["params"] = json.loads(values["params"])
    values["cancel"] = bool(values["cancel"])
    return Job(**values)


class JobStore:
    """The job table: submit (or join), claim, report progress, cancel, finish, list."""

    def __init__(self, cache_root: str | Path):
        self.root = Path(cache_root) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "jobs.sqlite"
        with self._db() as db:
            db.execute(_SCHEMA)
            if "sweep" not in {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}:
                db.execute("ALTER TABLE jobs ADD COLUMN sweep TEXT")  # a table written before sweeps had ids

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

    def submit(self, job_id: str, analysis: str, params: Mapping[str, Any], preset: str | None = None,
               device: str = "auto", sweep: str | None = None) -> tuple[Job, bool]:
        """Queue a job, or join the one already queued or running for the same result; (job, joined)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None and row["status"] in ACTIVE:
                db.execute("UPDATE jobs SET sessions = sessions + 1 WHERE id = ?", (job_id,))
                db.execute("COMMIT")
                return self.get(job_id), True
            db.execute("INSERT OR REPLACE INTO jobs (id, analysis, params, preset, device, status, created, sweep) "
                       "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                       (job_id, analysis, json.dumps(dict(params), default=str), preset, device, time.time(), sweep))
            db.execute("COMMIT")
        return self.get(job_id), False

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, limit: int = 200) -> list[Job]:
        """Newest first: active jobs, then finished ones."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY status NOT IN ('queued', 'running'), created DESC "
                              "LIMIT ?", (limit,)).fetchall()
        return [_job(r) for r in rows]

    def ahead_of(self, job: Job) -> int:
        """How many queued jobs a queued job waits behind (the pool takes the oldest first)."""
        with self._db() as db:
            row = db.execute("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND created < ?",
                             (job.created,)).fetchone()
        return int(row["n"])

    def claim(self, owner: str, job_id: str | None = None) -> Job | None:
        """Take the oldest queued job (or the named one) for a worker; None if there is none."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            if job_id is None:
                row = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1").fetchone()
            else:
                row = db.execute("SELECT id FROM jobs WHERE status = 'queued' AND id = ?", (job_id,)).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute("UPDATE jobs SET status = 'running', owner = ?, started = ?, progress = 0, message = '' "
                       "WHERE id = ?", (owner, time.time(), row["id"]))
            db.execute("COMMIT")
        return self.get(row["id"])

    def report(self, job_id: str, fraction: float, message: str) -> bool:
        """Record progress; returns whether a cancel was asked for (one round trip for both)."""
        with self._db() as db:
            db.execute("UPDATE jobs SET progress = ?, message = ? WHERE id = ? AND status = 'running'",
                       (float(fraction), message[:200], job_id))
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def set_worker(self, job_id: str, pid: int) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET worker_pid = ? WHERE id = ?", (pid, job_id))

    def preview_written(self, job_id: str) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET previews = previews + 1 WHERE id = ?", (job_id,))

    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop: a queued one is cancelled at once, a running one at its next progress report."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE jobs SET status = 'cancelled', finished = ?, cancel = 1 WHERE id = ? AND status = 'queued'",
                       (time.time(), job_id))
            changed = db.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND status = 'running'", (job_id,)).rowcount
            db.execute("COMMIT")
        return bool(changed)

    def cancel_requested(self, job_id: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        assert status in FINISHED, status
        with self._db() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ?, progress = CASE WHEN ? = 'done' "
                       "THEN 1 ELSE progress END WHERE id = ? AND status IN ('queued', 'running')",
                       (status, error, time.time(), status, job_id))

    def interrupt_orphans(self, alive_owners: set[str]) -> int:
        """Jobs left running by a server that is gone (a restart): marked interrupted, not forgotten."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT id, owner FROM jobs WHERE status = 'running'").fetchall()
            orphans = [r["id"] for r in rows if r["owner"] not in alive_owners and not _owner_alive(r["owner"])]
            for job_id in orphans:
                db.execute("UPDATE jobs SET status = 'interrupted', finished = ?, error = ? WHERE id = ?",
                           (time.time(), "the server stopped while this job ran; its finished parts are cached, "
                                         "run it again to finish the rest", job_id))
            db.execute("COMMIT")
        return len(orphans)


def _owner_alive(owner: str | None) -> bool:
    """Owners are `<host>:<pid>:<nonce>`; an owner on this host whose process is gone is dead."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != os.uname().nodename or not pid.isdigit():
        return True  # another machine's: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_owner() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def execute(cache_root: str | Path, job_id: str, owner: str) -> str:
    """Run one claimed job through the cache, feeding its progress and previews back; returns its end status."""
    jobs = JobStore(cache_root)
    job = jobs.get(job_id)
    jobs.set_worker(job_id, os.getpid())
    cancel = threading.Event()
    last = [0.0, 0.0]

    def on_progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
            last[0] = now
            if jobs.report(job_id, fraction, message):
                cancel.set()

    previews = preview_store(cache_root)

    def on_preview(partial) -> None:
        now = time.monotonic()
        if now - last[1] >= PREVIEW_EVERY_S:
            last[1] = now
            previews.write(f"{job.analysis}.preview", job_id, partial)
            jobs.preview_written(job_id)

    started = time.monotonic()
    log.info("job %s (%s) started in process %d", job_id[:12], job.analysis, os.getpid())
    status = "failed"
    try:
        status = _run_job(jobs, job, cancel, on_progress, on_preview, cache_root)
        return status
    finally:
        previews.discard(f"{job.analysis}.preview", job_id)
        log.info("job %s (%s) %s after %.1f s", job_id[:12], job.analysis, status, time.monotonic() - started)


def _run_job(jobs: "JobStore", job: "Job", cancel: threading.Event, on_progress, on_preview, cache_root) -> str:
    from .analysis import Cancelled
    from .cache import CacheStore
    from .errors import InputError
    from .params import ParameterError
    from .registry import get
    from .runner import run

    job_id = job.id
    try:
        run(get(job.analysis), params=job.params, device=job.device, on_progress=on_progress, on_preview=on_preview,
            cancel_event=cancel, store=CacheStore(cache_root))
    except Cancelled:
        jobs.finish(job_id, "cancelled")
        return "cancelled"
    except (InputError, ParameterError) as exc:
        jobs.finish(job_id, "failed", str(exc))
        return "failed"
    except Exception as exc:  # noqa: BLE001 - the job must end with a status, whatever happened
        log.exception("job %s (%s) failed", job_id, job.analysis)
        jobs.finish(job_id, "failed", _user_message(exc))
        return "failed"
    jobs.finish(job_id, "done")
    return "done"


def _user_message(exc: Exception) -> str:
    """Anything but bad input (InputError, ParameterError: divergence and no GPU are kinds of it) is internal:
    its text may hold server paths, and the jobs list is every session's. The traceback goes to the log."""
    from . import errorlog

    reference, _ = errorlog.record(exc, "job", echo=False)  # log.exception above already wrote it to the server log
    return f"internal error (reference {reference}); the details are in the server log"


def preview_store(cache_root: str | Path):
    """Where workers leave partial results for pages to draw: the cache folder, with no in-memory layer
    (a reader must see each new preview)."""
    from .cache import CacheStore

    return CacheStore(Path(cache_root), memory_items=0)


class InlineExecutor:
    """Runs a job in the calling thread: for tests, the CLI and scripts."""

    def __init__(self, cache_root: str | Path):
        self.cache_root = Path(cache_root)
        self.owner = new_owner()

    def submit(self, job_id: str) -> None:
        if JobStore(self.cache_root).claim(self.owner, job_id) is not None:
            execute(self.cache_root, job_id, self.owner)

    def shutdown(self) -> None:
        pass


def _worker_main(connection, cache_root: str, owner: str) -> None:
    """A pool worker: one torch thread, then jobs one at a time as the dispatcher sends them. It runs at a lower
    CPU priority than the server, so pages stay responsive while every worker computes: a job yields the CPU
    only while the server has work to do."""
    os.nice(int(os.environ.get("LABSCOPE_WORKER_NICE", "10")))
    os.environ.setdefault("LABSCOPE_TORCH_THREADS", "1")
    os.environ["OMP_NUM_THREADS"] = "1"
    logging.basicConfig(level=logging.INFO)
    _warm_up(cache_root)
    connection.send(READY)
    more = _more_warm_up() if os.environ.get("LABSCOPE_WORKER_WARM_UP", "1") != "0" else iter(())
    while True:
        while not connection.poll():  # idle: one more warm-up step, unless a job has come
            step = next(more, None)
            if step is None:
                break
            _warm_up_step(*step)
        job_id = connection.recv()
        if job_id is None:
            return
        execute(cache_root, job_id, owner)
        connection.send(job_id)


READY = "\0ready"  # a worker's first message: warmed up, give it jobs


def _warm_up(cache_root: str) -> None:
    """Import the runner, the registered analyses, pandas and torch, and do the cache's start-up sweep, before
    the worker takes jobs: a job's first progress report then comes within a fraction of a second of Run
    instead of after seconds of imports."""
    try:
        from .cache import CacheStore
        from .registry import all_analyses
        from . import runner  # noqa: F401

        all_analyses()
        CacheStore(cache_root).index  # noqa: B018 - the once-per-process sweep of temporary files
        import pandas  # noqa: F401
        import torch  # noqa: F401 - most analyses compute with it
    except Exception:  # noqa: BLE001 - a failed warm-up only costs time; the job itself reports real errors
        log.warning("worker warm-up failed", exc_info=True)


def _more_warm_up() -> Iterator[tuple[str, Any]]:
    """What a first job of each kind would still wait for, done step by step while the worker is idle (a job
    that comes meanwhile waits for one step at most, and then does the rest itself): the part of torch the
    first optimizer imports (seconds on a loaded machine), then per analysis its code version (hashing its
    sources) and its compute module (4 s for concept space on a loaded machine). LABSCOPE_WORKER_WARM_UP=0
    leaves it out (the tests' short-lived pools: it would compete with their jobs for the CPU)."""
    import importlib

    def first_optimizer() -> None:
        import torch

        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # imports torch._dynamo once

    yield "torch optimizers", first_optimizer
    from .registry import all_analyses

    try:
        analyses = list(all_analyses().values())
    except Exception:  # noqa: BLE001 - logged by the first warm-up already
        return
    for analysis in analyses:
        yield f"{analysis.name} code version", lambda analysis=analysis: analysis.code_version  # cached on it
        module = getattr(analysis.compute, "target_module", None)  # a lazy compute's module (see `lazy`)
        if module is not None:
            yield f"{analysis.name} compute", lambda module=module: importlib.import_module(module)


def _warm_up_step(name: str, step) -> None:
    try:
        step()
    except Exception:  # noqa: BLE001 - as above: a job that needs it will say what is wrong
        log.warning("worker warm-up step %s failed", name, exc_info=True)


class _Worker:
    def __init__(self, context, cache_root: Path, owner: str):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, str(cache_root), owner), daemon=True)
        with plain_main():  # started from a page: the worker must not run that page again
            self.process.start()
        self.job: str | None = None
        self.ready = False  # jobs go only to warm workers: a warm-up is not counted in a job's time


def _finished(worker: "_Worker") -> bool:
    """Read the worker's messages: whether it reported its job done (a dead worker's pipe reads as
    end-of-file: not done); its warm-up message marks it ready."""
    done = False
    try:
        while worker.connection.poll():
            if worker.connection.recv() == READY:
                worker.ready = True
            else:
                done = True
    except (EOFError, OSError):
        worker.process.join(timeout=1)  # it is dying: let is_alive() see it
    return done


class ProcessExecutor:
    """A bounded pool of worker processes owned by this process (the dashboard server).

    A dispatcher thread hands queued jobs to idle workers; a worker that dies mid-job (killed, out of
    memory) fails that job with the reason and is replaced. Jobs left running by an earlier server are
    marked interrupted when the pool starts.
    """

    def __init__(self, cache_root: str | Path, workers: int | None = None, poll_s: float = 0.1):
        import multiprocessing

        self.cache_root = Path(cache_root)
        self.jobs = JobStore(self.cache_root)
        self.owner = new_owner()
        self.size = workers or default_workers()
        self._context = multiprocessing.get_context("spawn")
        self.jobs.interrupt_orphans({self.owner})
        self._workers = [_Worker(self._context, self.cache_root, self.owner) for _ in range(self.size)]
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="labscope-jobs", daemon=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._wake.set()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                self._tend()
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any one bad round
                log.exception("job dispatcher")
            self._wake.wait(self._poll_s)
            self._wake.clear()

    def _tend(self) -> None:
        """Collect finished jobs, replace dead workers (failing the job one held), hand out queued jobs."""
        for i, worker in enumerate(self._workers):
            if _finished(worker):
                worker.job = None
            if not worker.process.is_alive():
                if worker.job is not None:
                    self.jobs.finish(worker.job, "failed", f"the worker process stopped unexpectedly (exit code "
                                                           f"{worker.process.exitcode}: killed, or out of memory); "
                                                           "its finished parts are cached, run it again to finish "
                                                           "the rest")
                worker = self._workers[i] = _Worker(self._context, self.cache_root, self.owner)
            if worker.job is None and worker.ready:
                job = self.jobs.claim(self.owner)
                if job is not None:
                    worker.job = job.id
                    worker.connection.send(job.id)

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        for worker in self._workers:
            if worker.job is not None:
                self.jobs.finish(worker.job, "interrupted", "the server stopped while this job ran")
            worker.process.kill()
            worker.process.join(timeout=5)


def make_executor(cache_root: str | Path, kind: str | None = None, workers: int | None = None):
    """The executor LABSCOPE_EXECUTOR names: `processes` (the default: the server's pool) or `inline` (jobs
    run in the submitting thread: page tests, debugging)."""
    kind = kind or os.environ.get("LABSCOPE_EXECUTOR") or "processes"
    if kind == "inline":
        return InlineExecutor(cache_root)
    if kind == "processes":
        return ProcessExecutor(cache_root, workers=workers)
    raise ValueError(f"LABSCOPE_EXECUTOR={kind!r}: expected one of {', '.join(EXECUTORS)}")


def default_workers() -> int:
    """LABSCOPE_WORKERS, else 2 (or 1 on a single core): each worker computes with one torch thread."""
    configured = os.environ.get("LABSCOPE_WORKERS")
    if configured:
        return max(1, int(configured))
    return 2 if (os.cpu_count() or 1) > 1 else 1


def differing_from_preset(analysis, job: Job) -> dict[str, Any]:
    """The job's parameters that differ from its preset: what tells it apart in a list."""
    try:
        base = analysis.params(job.preset or "default")
    except ValueError:
        base = analysis.params("default")
    return {k: analysis.spec[k].public(v) for k, v in job.params.items() if k in base and base[k] != v}  # file names, not paths


def view_link(analysis, job: Job) -> str:
    """The page's link that shows this job's result (and reattaches while it runs)."""
    from urllib.parse import urlencode

    text = analysis.spec.to_text(job.params)
    base = analysis.params(job.preset or "default") if (job.preset or "default") in analysis.presets else {}
    changed = {k: v for k, v in text.items() if v != "" and (k not in base or analysis.spec.to_text(base).get(k) != v)}
    return f"/{analysis.name}?" + urlencode({"preset": job.preset or "default", **changed})
