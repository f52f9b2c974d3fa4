"""The shared result cache: hits, invalidation, atomic writes, corruption, single-flight, eviction."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import toy
from analyses.core import CacheStore, Result, run
from analyses.core.cache import CorruptEntry, cache_key

TESTS = Path(__file__).parent


def test_miss_then_hit_returns_identical_result(toy, store):
    first = run(toy, "default", store=store)
    second = run(toy, "default", store=CacheStore(store.root))  # a new process's view: disk only
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.result.metrics == first.result.metrics
    np.testing.assert_array_equal(second.result.arrays["grid"], first.result.arrays["grid"])
    assert second.result.tables["values"].equals(first.result.tables["values"])
    assert second.compute_seconds == first.compute_seconds  # the hit reports the original computation time
    assert second.provenance()["cache_hit"] is True


def test_provenance_records_params_versions_and_seeds(toy, store):
    prov = run(toy, "default", {"n": 7}, store=store).provenance()
    assert prov["params"]["n"] == 7
    assert prov["code_version"].startswith("1+")
    assert {"python", "numpy", "pandas"} <= set(prov["packages"])
    assert prov["compute_seconds"] >= 0 and "computed_at" in prov
    assert prov["cache_hit"] is False


def test_parameter_change_misses_and_same_values_hit(toy, store):
    assert run(toy, "default", {"n": 5}, store=store).cache_hit is False
    assert run(toy, "default", {"n": 6}, store=store).cache_hit is False
    assert run(toy, "default", {"n": "5"}, store=store).cache_hit is True  # "5" from a URL is the same 5
    assert run(toy, "default", {"scale": 1}, store=store).cache_hit is False  # n back to default 10
    assert run(toy, "default", {"scale": 1.0, "n": 10}, store=store).cache_hit is True


def test_code_version_change_invalidates(store, tmp_path):
    assert run(toy.make("1"), store=store).cache_hit is False
    assert run(toy.make("2"), store=store).cache_hit is False
    assert run(toy.make("1"), store=store).cache_hit is True
    source = tmp_path / "src"
    source.mkdir()
    (source / "code.py").write_text("x = 1\n")
    assert run(toy.make("1", source), store=store).cache_hit is False
    (source / "code.py").write_text("x = 2\n")  # editing the analysis' code, same declared version
    assert run(toy.make("1", source), store=store).cache_hit is False
    (source / "figures.py").write_text("# restyled\n")  # figure builders do not change results
    assert run(toy.make("1", source), store=store).cache_hit is True


def test_input_file_digest_enters_key_not_its_path(toy, store, tmp_path):
    data = tmp_path / "a.txt"
    data.write_text("hello")
    first = run(toy, "default", {"data": str(data)}, store=store)
    assert first.cache_hit is False
    assert first.provenance()["data_digests"]["data"] == \
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    renamed = tmp_path / "b.txt"
    data.rename(renamed)
    assert run(toy, "default", {"data": str(renamed)}, store=store).cache_hit is True
    renamed.write_text("hello, world")
    changed = run(toy, "default", {"data": str(renamed)}, store=store)
    assert changed.cache_hit is False
    assert changed.result.metrics != first.result.metrics


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_entry_is_detected_reported_and_recomputed(toy, store, damage):
    good = run(toy, "default", store=store)
    path = store.path("toy", good.key)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":
        for i in range(len(blob) // 4, 3 * len(blob) // 4, 97):  # bit rot across the payload
            blob[i] ^= 0xFF
        path.write_bytes(bytes(blob))
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        path.write_bytes(b"")
    fresh = CacheStore(store.root)  # no in-memory copy: reads the damaged file
    with pytest.raises(CorruptEntry):
        fresh.read("toy", good.key)
    again = run(toy, "default", store=fresh)
    assert again.cache_hit is False and again.problem
    assert again.result.metrics == good.result.metrics
    assert run(toy, "default", store=CacheStore(store.root)).cache_hit is True  # repaired on disk


def test_entry_with_another_keys_manifest_is_rejected(toy, store):
    a = run(toy, "default", {"n": 1}, store=store)
    b = run(toy, "default", {"n": 2}, store=store)
    store.path("toy", a.key).write_bytes(store.path("toy", b.key).read_bytes())
    with pytest.raises(CorruptEntry, match="does not match"):
        CacheStore(store.root).read("toy", a.key)


def test_cache_never_unpickles(toy, store):
    """A crafted .npy holding a pickled object must be refused, not executed."""
    import io
    import zipfile

    good = run(toy, "default", store=store)
    path = store.path("toy", good.key)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    members["arrays/grid.npy"] = buffer.getvalue()
    import hashlib
    import json

    manifest = json.loads(members["manifest.json"])
    manifest["sha256"]["arrays/grid.npy"] = hashlib.sha256(members["arrays/grid.npy"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(CorruptEntry, match="pickle"):
        CacheStore(store.root).read("toy", good.key)


KILLED_WRITER = """
import os, sys, time
sys.path.insert(0, {tests!r})
import zipfile
import toy
from analyses.core import CacheStore, run
zipfile.ZipFile.writestr = lambda *a, **k: (open({marker!r}, "w").close(), time.sleep(60))  # stall inside the write
run(toy.make(), "default", {{"n": 500}}, store=CacheStore({root!r}))
"""


def test_writer_killed_mid_write_leaves_no_entry(toy, store, tmp_path):
    marker = tmp_path / "writing"
    script = KILLED_WRITER.format(tests=str(TESTS), marker=str(marker), root=str(store.root))
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None and time.time() < deadline, "writer never reached the write"
        time.sleep(0.05)
    partial = list((store.root / "tmp").glob("*.tmp"))
    assert partial, "the writer should be midway through a temporary file"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    key = cache_key("toy", toy.code_version, toy.spec.key_params(toy.params("default", {"n": 500})))
    assert not store.path("toy", key).exists()
    assert store.read("toy", key) is None
    assert CacheStore(store.root).info()["temp_files"] == {"files": 0, "bytes": 0}  # the next start swept it
    assert not any(p.exists() for p in partial)
    outcome = run(toy, "default", {"n": 500}, store=store)  # the dead writer's lock is free again
    assert outcome.cache_hit is False
    assert run(toy, "default", {"n": 500}, store=CacheStore(store.root)).cache_hit is True


def test_concurrent_threads_compute_once(toy, store, tmp_path, monkeypatch):
    log = tmp_path / "computations"
    monkeypatch.setenv("TOY_LOG", str(log))
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(run(toy, "default", {"delay": 1.0}, store=store)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.read_text().splitlines()) == 1
    assert sorted(o.cache_hit for o in outcomes) == [False, True, True, True]
    assert len({o.result.metrics["total"] for o in outcomes}) == 1


CONCURRENT_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
import toy
from analyses.core import CacheStore, run
print(run(toy.make(), "default", {{"delay": 1.5}}, store=CacheStore({root!r})).cache_hit)
"""


def test_concurrent_processes_compute_once(store, tmp_path):
    log = tmp_path / "computations"
    env = {**os.environ, "TOY_LOG": str(log)}
    script = CONCURRENT_PROCESS.format(tests=str(TESTS), root=str(store.root))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    hits = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert hits == ["False", "True"]
    assert len(log.read_text().splitlines()) == 1


def test_cancelled_run_caches_nothing(toy, store):
    from analyses.core import Cancelled

    cancel = threading.Event()

    def on_progress(fraction, message):
        if fraction >= 0.4:
            cancel.set()

    with pytest.raises(Cancelled):
        run(toy, "default", {"delay": 0.5}, store=store, on_progress=on_progress, cancel_event=cancel)
    assert store.info()["entries"] == 0
    assert run(toy, "default", {"delay": 0.5}, store=store).cache_hit is False


def test_lru_eviction_under_size_cap(toy, tmp_path):
    store = CacheStore(tmp_path / "cache")
    keys = [run(toy, "default", {"n": n}, store=store).key for n in (100, 200, 300)]
    sizes = [store.path("toy", k).stat().st_size for k in keys]
    store.read("toy", keys[0])  # the oldest becomes the most recently used
    capped = CacheStore(store.root, max_bytes=sum(sizes) + 10)
    newest = run(toy, "default", {"n": 150}, store=capped)
    remaining = {p.stem for p in capped.entries()}
    assert newest.key in remaining and keys[0] in remaining
    assert keys[1] not in remaining  # least recently used went first
    assert capped.info()["bytes"] <= capped.max_bytes


def test_info_and_clear(toy, store):
    run(toy, "default", {"n": 1}, store=store)
    run(toy, "default", {"n": 2}, store=store)
    info = store.info()
    assert info["entries"] == 2 and info["analyses"]["toy"]["entries"] == 2 and info["bytes"] > 0
    assert store.clear() == 2
    assert store.info()["entries"] == 0
    assert run(toy, "default", {"n": 1}, store=store).cache_hit is False


def test_uploads_are_stored_by_content(store):
    a = store.save_upload("../../etc/passwd data.csv", b"x,label\n1,0\n")
    b = store.save_upload("other.csv", b"x,label\n1,0\n")
    assert a.parent == b.parent and a.read_bytes() == b"x,label\n1,0\n"
    assert store.root in a.parents and ".." not in a.name


def test_display_options_stay_out_of_the_key_and_the_computation(store, tmp_path, monkeypatch):
    from analyses.core import Analysis, Choice

    seen = []
    base = toy.make()

    def compute(params, ctx):
        seen.append(dict(params))
        return base.compute(params, ctx)

    spec = type(base.spec)((*base.spec.params, Choice("colors", "linear", choices=("linear", "log"), display=True)))
    analysis = Analysis(name="toy", title="Toy", papers=(), version="1", spec=spec, compute=compute,
                        figures=base.figures, presets={"smoke": {}, "default": {}}, source_dir=tmp_path)
    first = run(analysis, "default", {"colors": "linear"}, store=store)
    second = run(analysis, "default", {"colors": "log"}, store=store)
    assert (first.cache_hit, second.cache_hit) == (False, True) and first.key == second.key
    assert len(seen) == 1 and "colors" not in seen[0]
    assert second.params["colors"] == "log" and second.provenance()["display"] == {"colors": "log"}


def test_previews_reach_the_caller_while_computing_but_not_on_a_hit(store):
    from analyses.core import Analysis, Int, ParamSpec, Result, run

    def compute(params, ctx):
        for i in range(params["n"]):
            ctx.preview(Result(metrics={"done": i + 1}))
        return Result(metrics={"done": params["n"]})

    growing = Analysis(name="growing", title="Growing", papers=(), version="1",
                       spec=ParamSpec((Int("n", 3, min=1, max=9),)),
                       compute=compute, figures=lambda r, p: {}, presets={"smoke": {}, "default": {}},
                       source_dir=Path(__file__).parent / "toy_source")
    seen = []
    first = run(growing, store=store, on_preview=lambda partial: seen.append(partial.metrics["done"]))
    assert seen == [1, 2, 3] and first.result.metrics["done"] == 3 and not first.cache_hit
    again = run(growing, store=store, on_preview=lambda partial: seen.append("hit"))
    assert again.cache_hit and seen == [1, 2, 3]


def test_a_preview_is_a_cancel_point():
    from analyses.core import Cancelled, Context, Result

    ctx = Context(cancel_event=threading.Event(), on_preview=lambda partial: None)
    ctx.cancel_event.set()
    with pytest.raises(Cancelled):
        ctx.preview(Result())


def test_a_sub_result_keyed_by_its_own_code_survives_edits_elsewhere(store, tmp_path):
    import importlib.util

    from analyses.core import Analysis, Int, ParamSpec

    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "metrics.py").write_text("version = 1\n")
    (tmp_path / "scoring.py").write_text("def score(n):\n    return n * 2\n")
    spec = importlib.util.spec_from_file_location("toy_scoring", tmp_path / "scoring.py")
    scoring = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scoring)
    scored = []

    def compute(params, ctx):
        piece = ctx.cached("piece", {"n": params["n"]},
                           lambda: scored.append(params["n"]) or Result(metrics={"v": scoring.score(params["n"])}),
                           code=[scoring])
        return Result(metrics={"v": piece.metrics["v"]})

    def analysis():  # as a fresh process sees the sources
        return Analysis(name="parts", title="Parts", papers=(), version="1", spec=ParamSpec((Int("n", 3, min=1, max=9),)),
                        compute=compute, figures=lambda r, p: {}, presets={"smoke": {}, "default": {}},
                        source_dir=tmp_path / "analysis")

    assert run(analysis(), store=store).result.metrics["v"] == 6 and scored == [3]
    (tmp_path / "analysis" / "metrics.py").write_text("version = 2\n")  # the rest of the analysis changes
    again = run(analysis(), store=store)
    assert not again.cache_hit and scored == [3]  # the whole result is recomputed, the piece is not
    (tmp_path / "scoring.py").write_text("def score(n):\n    return n * 2  # edited\n")
    assert run(analysis(), store=store).cache_hit  # nothing of the analysis itself changed
    (tmp_path / "analysis" / "metrics.py").write_text("version = 3\n")
    run(analysis(), store=store)
    assert scored == [3, 3]  # the piece's own code changed: recomputed


def test_a_table_without_columns_reads_back_empty(store):
    import pandas as pd

    from analyses.core import Result

    store.write("toy", "k" * 64, Result(tables={"none": pd.DataFrame(), "rows": pd.DataFrame({"a": [1]})}))
    store._memory.clear()  # read it from disk
    back = store.read("toy", "k" * 64)
    assert back.tables["none"].empty and list(back.tables["none"].columns) == []
    assert back.tables["rows"].a.tolist() == [1]
