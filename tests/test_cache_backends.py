"""The cache's core behaviours on every backend: a folder, `file://`, `memory://` and S3 (moto's server
on loopback). "Another machine" is a store with its own local state folder (index, locks) on the
same storage: it must find what the first one wrote without having indexed it."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import toy
from analyses.core import CacheStore, run
from analyses.core.cache import CorruptEntry

TESTS = Path(__file__).parent
BUCKET = "labscope-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback with one bucket; the AWS variables point every client at it."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("moto")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "moto server did not start"
                time.sleep(0.1)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("s3")
    proc.terminate()
    proc.wait(timeout=10)


class Backend:
    """A cache location plus raw access to its objects (to damage or inspect them behind the cache's back)."""

    def __init__(self, name, location, tmp_path, monkeypatch, s3=None):
        self.name, self.location, self.tmp_path, self.monkeypatch, self.s3 = name, location, tmp_path, monkeypatch, s3
        self.machines = 0
        self.machine()  # the test's own state folder

    def machine(self, **kwargs) -> CacheStore:
        """A store as a new machine sees it: the same storage, an empty local state folder."""
        self.machines += 1
        self.monkeypatch.setenv("LABSCOPE_CACHE_STATE_DIR", str(self.tmp_path / f"machine{self.machines}"))
        return CacheStore(self.location, **kwargs)

    def process(self, **kwargs) -> CacheStore:
        """A new process on the current machine (same state folder)."""
        return CacheStore(self.location, **kwargs)

    def _key(self, rel):
        return self.location.split("://", 1)[1].split("/", 1)[1] + "/" + rel

    def get(self, rel) -> bytes:
        if self.name == "local":
            return (Path(self.location) / rel).read_bytes()
        if self.name == "s3":
            return self.s3.get_object(Bucket=BUCKET, Key=self._key(rel))["Body"].read()
        import fsspec

        return fsspec.open(f"{self.location}/{rel}", "rb").open().read()

    def put(self, rel, data: bytes) -> None:
        if self.name == "local":
            (Path(self.location) / rel).write_bytes(data)
        elif self.name == "s3":
            self.s3.put_object(Bucket=BUCKET, Key=self._key(rel), Body=data)
        else:
            import fsspec

            with fsspec.open(f"{self.location}/{rel}", "wb") as handle:
                handle.write(data)

    def exists(self, rel) -> bool:
        try:
            self.get(rel)
            return True
        except Exception:
            return False


@pytest.fixture(params=["local", "file", "memory", "s3"])
def backend(request, tmp_path, monkeypatch):
    name = request.param
    monkeypatch.delenv("LABSCOPE_CACHE_MAX_MB", raising=False)
    if name == "local":
        return Backend(name, str(tmp_path / "cache"), tmp_path, monkeypatch)
    if name == "file":
        return Backend(name, f"file://{tmp_path}/shared", tmp_path, monkeypatch)
    if name == "memory":
        return Backend(name, f"memory://labscope-{uuid.uuid4().hex}", tmp_path, monkeypatch)
    s3 = request.getfixturevalue("s3_server")
    return Backend(name, f"s3://{BUCKET}/{uuid.uuid4().hex}/cache", tmp_path, monkeypatch, s3)


def _rel(key, analysis="toy"):
    return f"results/{analysis}/{key}.zip"


def test_a_result_written_by_one_machine_is_a_hit_on_another(toy, backend):
    first = run(toy, "default", {"n": 40}, store=backend.process())
    assert first.cache_hit is False
    other = backend.machine()
    assert other.has("toy", first.key)  # not in its index yet: the storage is asked
    second = run(toy, "default", {"n": 40}, store=other)
    assert second.cache_hit is True
    assert second.result.metrics == {"total": float(sum(range(40)))}  # sum of 0..39, scale 1
    assert second.result.arrays["grid"][3, 5] == 15.0
    assert [r["key"] for r in other.run_records("toy")] == [first.key]  # and now it is in this machine's index
    assert run(toy, "default", {"n": 41}, store=other).cache_hit is False


def test_a_rebuilt_index_lists_what_every_machine_wrote(toy, backend):
    keys = {run(toy, "default", {"n": n}, store=backend.machine()).key for n in (2, 3)}
    reader = backend.machine()
    assert {r["key"] for r in reader.run_records("toy")} == keys
    assert {r["params"]["n"] for r in reader.run_records("toy")} == {2, 3}
    assert reader.info()["entries"] == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_a_corrupt_entry_is_detected_discarded_and_recomputed(toy, backend, damage):
    good = run(toy, "default", store=backend.process())
    blob = bytearray(backend.get(_rel(good.key)))
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "garbage":
        blob = bytearray(b"not a zip file at all")
    else:
        for i in range(len(blob) // 4, 3 * len(blob) // 4, 97):
            blob[i] ^= 0xFF
    backend.put(_rel(good.key), bytes(blob))
    fresh = backend.machine()
    with pytest.raises(CorruptEntry):
        fresh.read("toy", good.key)
    again = run(toy, "default", store=fresh)
    assert again.cache_hit is False and again.problem
    assert again.result.metrics == good.result.metrics
    assert backend.get(_rel(good.key)) != bytes(blob)  # replaced on the storage
    assert run(toy, "default", store=backend.machine()).cache_hit is True


def test_lookup_discards_a_corrupt_entry(toy, backend):
    good = run(toy, "default", store=backend.process())
    backend.put(_rel(good.key), b"PK\x03\x04 broken")
    fresh = backend.machine()
    assert fresh.lookup("toy", good.key) is None
    assert not fresh.has("toy", good.key)


def test_concurrent_threads_compute_once(toy, backend, tmp_path, monkeypatch):
    log = tmp_path / "computations"
    monkeypatch.setenv("TOY_LOG", str(log))
    store = backend.process()
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(run(toy, "default", {"delay": 0.6}, store=store)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.read_text().splitlines()) == 1
    assert sorted(o.cache_hit for o in outcomes) == [False, True, True]


CONCURRENT_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
import toy
from analyses.core import CacheStore, run
print(run(toy.make(), "default", {{"delay": 1.0}}, store=CacheStore({location!r})).cache_hit)
"""


def test_concurrent_processes_on_one_machine_compute_once(backend, tmp_path):
    if backend.name == "memory":
        pytest.skip("memory:// lives inside one process")
    log = tmp_path / "computations"
    env = {**os.environ, "TOY_LOG": str(log)}
    script = CONCURRENT_PROCESS.format(tests=str(TESTS), location=backend.location)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    hits = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert hits == ["False", "True"]
    assert len(log.read_text().splitlines()) == 1


def test_lru_eviction_under_an_explicit_cap(toy, backend):
    store = backend.process()
    keys = [run(toy, "default", {"n": n}, store=store).key for n in (100, 200, 300)]
    sizes = [len(backend.get(_rel(k))) for k in keys]
    store.read("toy", keys[0])  # the oldest becomes the most recently used
    capped = backend.process(max_bytes=sum(sizes) + 10)
    newest = run(toy, "default", {"n": 150}, store=capped)
    assert backend.exists(_rel(newest.key)) and backend.exists(_rel(keys[0]))
    assert not backend.exists(_rel(keys[1]))  # least recently used went first, from the storage too
    assert capped.info()["bytes"] <= capped.max_bytes


def test_shared_storage_is_uncapped_unless_asked(backend, monkeypatch):
    if backend.name == "local":
        assert backend.process().info()["max_bytes"] == 2048 * 1024 * 1024
        return
    assert backend.process().info()["max_bytes"] is None
    monkeypatch.setenv("LABSCOPE_CACHE_MAX_MB", "3")
    assert backend.process().max_bytes == 3 * 1024 * 1024


def test_clear_removes_what_other_machines_wrote(toy, backend):
    keys = [run(toy, "default", {"n": n}, store=backend.machine()).key for n in (4, 5)]
    cleaner = backend.machine()
    assert cleaner.clear() == 2
    assert not any(backend.exists(_rel(k)) for k in keys)
    assert run(toy, "default", {"n": 4}, store=backend.machine()).cache_hit is False


def test_a_state_folder_names_its_shared_cache(backend):
    store = backend.process()
    again = CacheStore(store.root)  # what jobs and process pools get: the local folder
    assert type(again) is type(store) and again.location == store.location


def test_plain_paths_keep_the_local_store():
    from analyses.core.cache import is_url

    assert is_url("s3://bucket/prefix") and is_url("file:///tmp/x") and is_url("memory://x")
    assert not is_url("/tmp/cache") and not is_url("C:\\cache") and not is_url(Path("/tmp/cache"))


def test_storage_options_come_from_the_environment(monkeypatch, tmp_path):
    from analyses.core.remote_cache import storage_options

    monkeypatch.setenv("LABSCOPE_STORAGE_OPTIONS", json.dumps({"anon": False, "client_kwargs": {"region_name": "x"}}))
    assert storage_options() == {"anon": False, "client_kwargs": {"region_name": "x"}}
    monkeypatch.setenv("LABSCOPE_STORAGE_OPTIONS", "[1, 2")
    with pytest.raises(ValueError, match="LABSCOPE_STORAGE_OPTIONS"):
        storage_options()


def test_cli_run_on_s3_computes_in_one_process_and_reads_back_in_another(s3_server, tmp_path):
    """Acceptance: `labscope run` with LABSCOPE_CACHE_DIR=s3://bucket/prefix, two processes, two machines."""
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}/cache"
    outputs = []
    for machine in ("a", "b"):
        env = {**os.environ, "LABSCOPE_CACHE_DIR": url, "LABSCOPE_CACHE_STATE_DIR": str(tmp_path / machine),
               "LABSCOPE_ANALYSES": "toy=toy:ANALYSIS",
               "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "analyses.core.cli", "run", "toy", "--preset", "smoke",
                               "--out", str(tmp_path / f"out-{machine}")], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert ": computed in" in outputs[0] and ": cache in" in outputs[1]
    objects = s3_server.list_objects_v2(Bucket=BUCKET, Prefix=url.split("/", 3)[3] + "/results/")["Contents"]
    assert any(o["Key"].endswith(".zip") for o in objects)
    first, second = (json.loads((tmp_path / f"out-{m}" / "result.json").read_text()) for m in ("a", "b"))
    assert first["metrics"] == {"total": 3.0}  # n=3: 0 + 1 + 2
    assert second["metrics"] == first["metrics"] and second["provenance"]["cache_hit"] is True


def test_a_dask_sweep_fills_the_bucket_and_another_machine_finds_every_point(s3_server, tmp_path, monkeypatch):
    """Workers get the URL (never the local state folder) and write into the shared cache."""
    pytest.importorskip("distributed")
    from analyses.core import registry, sweep

    monkeypatch.setenv("LABSCOPE_ANALYSES", "toy=toy:ANALYSIS")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LABSCOPE_CACHE_STATE_DIR", str(tmp_path / "laptop"))
    registry.all_analyses.cache_clear()
    try:
        url = f"s3://{BUCKET}/{uuid.uuid4().hex}/cache"
        plan = sweep.build(toy.ANALYSIS, "smoke", ["n=2..4"])
        records = sweep.execute(plan, CacheStore(url).location, "dask", workers=2)
        assert [r["status"] for r in records] == ["done"] * 3 and not any(r["cache_hit"] for r in records)
        monkeypatch.setenv("LABSCOPE_CACHE_STATE_DIR", str(tmp_path / "cluster-node"))
        again = sweep.execute(plan, url, "inline")
        assert all(r["cache_hit"] for r in again)
        assert [r["metrics"]["total"] for r in again] == [1.0, 3.0, 6.0]  # sums of 0..n-1
    finally:
        registry.all_analyses.cache_clear()


def test_two_machines_on_s3_compute_a_key_once(toy, s3_server, tmp_path, monkeypatch):
    """Separate state folders (so separate file locks): only the lease on the bucket keeps it to one."""
    log = tmp_path / "computations"
    monkeypatch.setenv("TOY_LOG", str(log))
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}/cache"
    machines = []
    for name in ("a", "b"):
        monkeypatch.setenv("LABSCOPE_CACHE_STATE_DIR", str(tmp_path / name))
        machines.append(CacheStore(url))
    outcomes = []
    threads = [threading.Thread(target=lambda s=s: outcomes.append(run(toy, "default", {"delay": 1.5}, store=s)))
               for s in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.read_text().splitlines()) == 1
    assert sorted(o.cache_hit for o in outcomes) == [False, True]
    assert not machines[0].fs.exists(machines[0]._object(f"locks/{outcomes[0].key}.lease"))  # released


def test_a_stale_lease_of_a_dead_machine_is_taken_over(toy, s3_server, tmp_path):
    from analyses.core.keylock import KeyLock
    from analyses.core.remote_lock import SharedKeyLock

    store = CacheStore(f"s3://{BUCKET}/{uuid.uuid4().hex}/cache")
    lease = store._object("locks/k.lease")
    store.fs.pipe_file(lease, json.dumps({"holder": "gone:1", "at": time.time() - 120}).encode())
    lock = SharedKeyLock(KeyLock(tmp_path / "k.lock"), store.fs, lease)
    assert lock.acquire(blocking=False)
    assert json.loads(store.fs.cat_file(lease))["holder"] != "gone:1"
    other = SharedKeyLock(KeyLock(tmp_path / "other" / "k.lock"), store.fs, lease)
    assert not other.acquire(blocking=False)  # a live lease holds
    lock.release()
    assert other.acquire(blocking=False)
    other.release()
