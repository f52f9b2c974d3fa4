"""The cache's index and hygiene: lookup, listing runs, rebuilds, concurrent writers and evictions,
kill -9 at any moment, temporary files, lock files, uploads under the cap, memoised input digests."""

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import toy
from analyses.core import CacheStore, Context, Result, run
from analyses.core import digests
from analyses.core.keylock import KeyLock

TESTS = Path(__file__).parent


def _result(i: int, n: int = 50) -> Result:
    return Result(metrics={"i": float(i)}, arrays={"a": np.full(n, float(i))},
                  provenance={"params": {"i": i}, "computed_at": "2026-11-30T00:00:00+00:00", "compute_seconds": 0.01})


def _consistent(root: Path) -> dict:
    """Check that the index and the folder agree exactly; returns the fresh store's info."""
    store = CacheStore(root)  # a new process's start: sweeps and recovers first
    info = store.info()
    files = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.glob("results/*/*.zip")}
    files.update({p.relative_to(root).as_posix(): p.stat().st_size for p in root.glob("uploads/*/*")})
    with sqlite3.connect(root / "index.sqlite") as conn:
        rows = dict(conn.execute("SELECT path, size FROM entries"))
        pending = conn.execute("SELECT COUNT(*) FROM entries WHERE writer IS NOT NULL").fetchone()[0]
    assert rows == files, "the index lists exactly the files on disk, with their sizes"
    assert pending == 0
    assert info["entries"] + info["uploads"]["files"] == len(files)
    assert info["bytes_under_cap"] == sum(files.values())
    assert info["temp_files"]["files"] == 0 and not list(root.glob("tmp/*"))
    assert not list(root.glob("locks/*")), "lock files do not accumulate"
    return info


def test_lookup_answers_without_computing_or_waiting(toy, store):
    outcome = run(toy, "default", {"n": 4}, store=store)
    fresh = CacheStore(store.root)
    holder = KeyLock(store.root / "locks" / f"{outcome.key}.lock")
    assert holder.acquire()  # as if another process were computing this key right now
    try:
        started = time.perf_counter()
        found = fresh.lookup("toy", outcome.key)
        assert time.perf_counter() - started < 1.0
        assert found.metrics["total"] == 6.0  # 0+1+2+3
        assert fresh.has("toy", outcome.key)
        assert fresh.lookup("toy", "0" * 64) is None and not fresh.has("toy", "0" * 64)
    finally:
        holder.release()
    store.path("toy", outcome.key).write_bytes(b"damaged")
    assert CacheStore(store.root).lookup("toy", outcome.key) is None  # a corrupt entry is no answer
    assert not store.path("toy", outcome.key).exists()  # and was discarded for the next run to replace


def test_context_lookup_sees_what_cached_stored(store):
    ctx = Context(store=store, scope="parts@1")
    assert ctx.lookup("piece", {"n": 2}) is None
    ctx.cached("piece", {"n": 2}, lambda: Result(metrics={"v": 4.0}))
    assert ctx.lookup("piece", {"n": 2}).metrics == {"v": 4.0}
    assert CacheStore(store.root).run_records("parts", stage="piece")[0]["metrics"] == {"v": 4.0}


def test_runs_lists_params_and_metrics_without_opening_entries(toy, store):
    for n, scale in ((3, 1.0), (5, 2.0), (8, 0.5)):
        run(toy, "default", {"n": n, "scale": scale}, store=store)
    for entry in store.entries():  # listing must come from the index alone
        entry.write_bytes(b"unreadable")
    frame = CacheStore(store.root).runs("toy")
    assert len(frame) == 3
    by_n = frame.set_index("params.n")
    for n, scale in ((3, 1.0), (5, 2.0), (8, 0.5)):
        assert by_n.loc[n, "params.scale"] == scale
        assert by_n.loc[n, "metrics.total"] == scale * n * (n - 1) / 2
    assert (frame["bytes"] > 0).all() and frame["compute_seconds"].notna().all()
    assert str(frame["computed_at"].dtype).startswith("datetime64")
    assert CacheStore(store.root).runs("nothing").empty


@pytest.mark.parametrize("damage", ["deleted", "garbage", "truncated"])
def test_index_is_rebuilt_from_the_entries(store, damage):
    for i in range(6):
        store.write("thing", f"{i:064x}", _result(i))
    store.save_upload("a.csv", b"x\n1\n")
    before = store.info()
    store.index.close()
    index = store.root / "index.sqlite"
    if damage == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{index}{suffix}").unlink(missing_ok=True)
    elif damage == "garbage":
        index.write_bytes(os.urandom(8192))
    else:
        index.write_bytes(index.read_bytes()[:100])
    after = _consistent(store.root)
    assert {k: after[k] for k in ("entries", "bytes", "uploads")} == {k: before[k] for k in ("entries", "bytes", "uploads")}
    records = CacheStore(store.root).run_records("thing")
    assert sorted(r["params"]["i"] for r in records) == list(range(6))  # metadata comes back from the manifests
    assert store.lookup("thing", f"{3:064x}").metrics == {"i": 3.0}  # the old instance reconnects too


def test_an_open_store_survives_its_index_being_deleted(store):
    store.write("thing", "a" * 64, _result(1))
    assert store.info()["entries"] == 1
    (store.root / "index.sqlite").unlink()
    store.write("thing", "b" * 64, _result(2))  # notices the file is gone, rebuilds, records the new entry
    assert store.info()["entries"] == 2
    _consistent(store.root)


WRITER = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from analyses.core import CacheStore, Result
store = CacheStore({root!r}, max_bytes={cap})
who, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    key = f"{{who:04x}}{{i:060x}}"
    store.write("thing", key, Result(metrics={{"who": float(who), "i": float(i)}}, arrays={{"a": np.full(200, i)}},
                                     provenance={{"params": {{"who": who, "i": i}}}}))
    store.read("thing", key)
    if i % 3 == 0:
        store.save_upload(f"u{{who}}.csv", f"{{who}},{{i}}".encode())
print("ok")
"""


def test_concurrent_writers_keep_the_index_consistent(tmp_path):
    root = tmp_path / "cache"
    script = WRITER.format(tests=str(TESTS), root=str(root), cap=1 << 30)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w), "25"], stdout=subprocess.PIPE, text=True)
             for w in range(4)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["ok"] * 4
    info = _consistent(root)
    assert info["entries"] == 100 and info["uploads"]["files"] == 4 * 9
    store = CacheStore(root)
    assert sorted((r["params"]["who"], r["params"]["i"]) for r in store.run_records("thing")) == \
        [(w, i) for w in range(4) for i in range(25)]


EVICTING = """
import sys
sys.path.insert(0, {tests!r})
import toy
from analyses.core import CacheStore, run
who = int(sys.argv[1])
store = CacheStore({root!r}, max_bytes={cap})
analysis = toy.make()
for round_ in range(2):  # the second round finds some results cached, others evicted by the other processes
    for n in range(20, 35):
        outcome = run(analysis, "default", {{"n": n, "scale": float(who + 1)}}, store=store)
        assert outcome.result.metrics["total"] == (who + 1) * n * (n - 1) / 2, outcome.result.metrics
        if n % 4 == 0:
            store.save_upload(f"u{{who}}.csv", f"{{who}},{{n}},{{round_}}".encode())
print("ok")
"""


def test_concurrent_eviction_from_four_processes_never_fails_a_run(toy, tmp_path):
    root = tmp_path / "cache"
    run(toy, "default", {"n": 30}, store=CacheStore(root))
    size = CacheStore(root).info()["bytes"]  # one result's size
    cap = size * 6  # room for a handful of the 60 results
    script = EVICTING.format(tests=str(TESTS), root=str(root), cap=cap)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    assert all(out.strip() == "ok" for out, _ in outputs)
    info = _consistent(root)
    assert info["bytes_under_cap"] <= cap
    assert 0 < info["entries"] < 30


KILLED = """
import os, sys, numpy as np
sys.path.insert(0, {tests!r})
from analyses.core import CacheStore, Result
store = CacheStore({root!r}, max_bytes=400_000)
who = int(sys.argv[1])
i = 0
while True:  # write, read back and evict until killed
    key = f"{{who:04x}}{{i:060x}}"
    store.write("thing", key, Result(metrics={{"i": float(i)}}, arrays={{"a": np.random.default_rng(i).random(3000)}}))
    store.read("thing", key)
    if i == 3:
        open(sys.argv[2], "w").close()  # running: kill me now
    if i % 5 == 0:
        store.save_upload("u.csv", os.urandom(2000))
    if i % 7 == 0:
        store.discard("thing", f"{{who:04x}}{{i // 2:060x}}")
    i += 1
"""


def test_kill_minus_nine_at_any_moment_loses_nothing_and_leaves_nothing(tmp_path):
    """Writers killed mid-write, mid-index-update, mid-upload, mid-discard or mid-eviction: after the next start no temporary
    or lock file is left, the index matches the folder exactly, and every entry reads back whole."""
    root = tmp_path / "cache"
    script = KILLED.format(tests=str(TESTS), root=str(root))
    rng = random.Random(0)
    for round_ in range(4):
        markers = [tmp_path / f"running-{round_}-{w}" for w in range(3)]
        procs = [subprocess.Popen([sys.executable, "-c", script, str(round_ * 4 + w), str(markers[w])])
                 for w in range(3)]
        deadline = time.time() + 120
        while not all(m.exists() for m in markers):  # a loaded machine may take seconds to start them
            assert time.time() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.05)
        time.sleep(rng.random() * 1.5)
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    _consistent(root)
    store = CacheStore(root)
    entries = store.entries()
    assert entries, "the writers should have finished some entries"
    for entry in entries:
        assert store.read("thing", entry.stem) is not None  # verifies every member's checksum


def test_temp_files_of_dead_writers_are_counted_then_swept_and_cleared(store, monkeypatch):
    store.write("thing", "a" * 64, _result(1))
    tmp = store.root / "tmp"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    leftover = tmp / f"{dead.stdout.strip()}.abc123.{socket.gethostname()}.tmp"  # a writer killed mid-write
    leftover.write_bytes(b"x" * 1000)
    alive = tmp / f"{os.getpid()}.def456.{socket.gethostname()}.tmp"  # a live writer's file stays
    alive.write_bytes(b"y" * 10)
    old = tmp / "ancient.tmp"  # whoever wrote it, older than the grace period
    old.write_bytes(b"z")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert store.info()["temp_files"] == {"files": 3, "bytes": 1011}
    CacheStore(store.root).index  # the next start sweeps
    assert sorted(p.name for p in tmp.iterdir()) == [alive.name]
    leftover.write_bytes(b"x")
    store.clear()
    assert [p.name for p in tmp.iterdir()] == [alive.name]
    assert store.info()["entries"] == 0


def test_uploads_count_toward_the_cap_and_clear_removes_them(tmp_path):
    root = tmp_path / "cache"
    store = CacheStore(root, max_bytes=10_000)
    first = store.save_upload("first.csv", b"a" * 4000)
    time.sleep(0.01)
    second = store.save_upload("second.csv", b"b" * 4000)
    assert store.info()["uploads"] == {"files": 2, "bytes": 8000}
    time.sleep(0.01)
    store.save_upload("third.csv", b"c" * 4000)  # 12 kB > 10 kB: the least recently used goes
    assert not first.exists() and second.exists() and not first.parent.exists()
    assert store.info()["bytes_under_cap"] <= 10_000
    store.write("thing", "a" * 64, _result(1))
    assert store.clear() == 1
    assert store.info()["uploads"] == {"files": 0, "bytes": 0} and not list(root.glob("uploads/*/*"))


def test_an_entry_deleted_by_someone_else_is_not_an_error(store):
    for i in range(4):
        store.write("thing", f"{i:064x}", _result(i, n=500))
    for i in range(3):
        store.path("thing", f"{i:064x}").unlink()  # another process evicted (or a user deleted) them
    capped = CacheStore(store.root, max_bytes=1)
    assert capped.read("thing", f"{0:064x}") is None
    capped.evict()  # rows whose files are gone are dropped without complaint
    assert capped.info()["entries"] == 0 and not capped.entries()


def test_lock_files_go_and_the_lock_stays_exclusive(toy, store, tmp_path):
    for n in (1, 2, 3):
        run(toy, "default", {"n": n}, store=store)
    assert not list(store.root.glob("locks/*"))
    counter = tmp_path / "counter"
    counter.write_text("0")
    script = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from analyses.core.keylock import KeyLock
for _ in range(50):
    with KeyLock({str(tmp_path / 'locks' / 'k.lock')!r}):
        value = int(open({str(counter)!r}).read())
        open({str(counter)!r}, "w").write(str(value + 1))
"""
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    assert counter.read_text() == "200"  # no lost update although each release removes the file
    assert not list((tmp_path / "locks").iterdir())


def test_input_digests_are_memoised_by_file_identity(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"a" * 5000)
    assert digests.file_digest(path) == hashlib.sha256(b"a" * 5000).hexdigest()
    before = digests.hashed_bytes
    assert digests.file_digest(path) == hashlib.sha256(b"a" * 5000).hexdigest()
    assert digests.hashed_bytes == before  # the second ask reads nothing
    stat = path.stat()
    path.write_bytes(b"b" * 5000)  # same size, same mtime restored: the ctime still moves
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert digests.file_digest(path) == hashlib.sha256(b"b" * 5000).hexdigest()
    replacement = tmp_path / "new.txt"
    replacement.write_bytes(b"c" * 5000)
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, path)  # another file (inode) at the same path
    assert digests.file_digest(path) == hashlib.sha256(b"c" * 5000).hexdigest()


def test_threads_share_one_store_safely(store):
    errors = []

    def work(who):
        try:
            for i in range(20):
                key = f"{who:04x}{i:060x}"
                store.write("thing", key, _result(i))
                assert store.read("thing", key).metrics == {"i": float(i)}
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _consistent(store.root)["entries"] == 80


def test_cli_cache_info_and_clear_report_uploads_and_temp_files(store, capsys):
    import json
    import socket

    from analyses.core.cli import main

    store.write("thing", "a" * 64, _result(1))
    store.write("thing.cell", "b" * 64, _result(2))  # a stage of the same analysis
    store.save_upload("data.csv", b"x\n1\n")
    (store.root / "tmp").mkdir(exist_ok=True)
    (store.root / "tmp" / f"{os.getpid()}.zz.{socket.gethostname()}.tmp").write_bytes(b"12345")  # a live writer's
    assert main(["--cache-dir", str(store.root), "cache", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 2 and set(info["analyses"]) == {"thing", "thing.cell"}
    assert info["uploads"] == {"files": 1, "bytes": 4} and info["temp_files"] == {"files": 1, "bytes": 5}
    assert main(["--cache-dir", str(store.root), "cache", "clear", "--analysis", "thing"]) == 0
    assert "removed 2 entries of thing" in capsys.readouterr().out  # its stages' entries too
    assert main(["--cache-dir", str(store.root), "cache", "clear"]) == 0
    assert "removed 0 entries, 1 uploads" in capsys.readouterr().out
    assert CacheStore(store.root).info()["uploads"]["files"] == 0


def test_a_cache_from_before_the_index_is_indexed_and_tidied_on_first_start(store):
    for i in range(3):
        store.write("thing", f"{i:064x}", _result(i))
    store.index.close()
    for suffix in ("", "-wal", "-shm"):  # as an older labscope left it: no index ...
        Path(f"{store.root / 'index.sqlite'}{suffix}").unlink(missing_ok=True)
    old_tmp = store.root / "results" / "thing" / ".0000000000000000-abc.tmp"  # ... a killed writer's file
    old_tmp.write_bytes(b"half an entry")
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))
    (store.root / "locks").mkdir(exist_ok=True)
    for i in range(5):  # ... and one lock file per key ever computed
        (store.root / "locks" / f"{i:064x}.lock").touch()
    assert _consistent(store.root)["entries"] == 3
    assert not old_tmp.exists()
