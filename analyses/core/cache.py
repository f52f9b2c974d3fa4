"""A persistent, process-safe result cache shared by every session, the CLI and the API.

One entry is one zip file `results/<analysis>/<key>.zip` holding a manifest (metrics,
provenance, SHA-256 of every member), tables as CSV and arrays as `.npy` (read with
`allow_pickle=False`: nothing in the cache can execute code). Entries are written to a
temporary file under `tmp/` and renamed into place, so a killed writer never leaves a half
entry (and its temporary file is swept once the writer is gone); an entry that fails its
checks is reported, deleted and recomputed. A lock per key, whose file goes when released,
makes concurrent requests for the same key compute once.

`index.sqlite` (see `index.py`) records every entry and upload with its size, last use and
metadata, so eviction (least recently used first, under a size cap that uploads count toward),
`info` and listing runs never scan the folder. The entries remain the truth: a lost or corrupt
index is rebuilt from them.

The location may also be an fsspec URL (`s3://bucket/prefix`, `file://…`, `memory://…`): then
`CacheStore(url)` is a `remote_cache.RemoteCacheStore`, the same entries on shared storage.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import socket
import sqlite3
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import index as cache_index
from .analysis import Result
from .keylock import KeyLock, remove_stale
from .params import canonical_json

log = logging.getLogger(__name__)

FORMAT = 1
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # two letters at least: `C:\\` stays a path
REMOTE_MARKER = "remote.json"  # in a shared cache's local state folder: the URL it belongs to
DEFAULT_MAX_MB = 2048
# Entries are written to a temporary file and renamed: a process killed at any moment leaves none or a whole
# one. They are not fsynced by default: after an OS crash or power loss a torn entry fails its checksums and
# is recomputed, whereas an fsync costs 10-30 ms a write and makes parallel writers wait on each other's
# journal flushes (a two-worker sweep lost a fifth of its speed-up to it). LABSCOPE_CACHE_FSYNC=1 flushes each.
_FSYNC = os.environ.get("LABSCOPE_CACHE_FSYNC", "0") == "1"


class CorruptEntry(Exception):
    """A cache entry exists but cannot be trusted."""


def is_url(location: str | Path | None) -> bool:
    """Whether a cache location names object storage (`s3://…`, `file://…`) rather than a folder."""
    return isinstance(location, str) and _URL.match(location) is not None


def default_location() -> str | Path:
    """`LABSCOPE_CACHE_DIR` (a folder or an fsspec URL), else the user cache dir."""
    env = os.environ.get("LABSCOPE_CACHE_DIR")
    if env:
        return env if is_url(env) else Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("labscope"))


def default_root() -> Path:
    """The local folder of the default cache: the cache itself, or for a URL this machine's state
    (index, locks, uploads, jobs) of the shared cache."""
    location = default_location()
    if is_url(location):
        from .remote_cache import state_dir

        return state_dir(location)
    return location


def default_max_bytes() -> int:
    return int(float(os.environ.get("LABSCOPE_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 1024 * 1024)


def cache_key(analysis: str, code_version: str, key_params: dict[str, Any]) -> str:
    material = canonical_json({"analysis": analysis, "version": code_version, "params": key_params})
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class Lookup:
    result: Result
    cache_hit: bool
    problem: str | None = None  # set when a corrupt entry was found and replaced


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(key: str, result: Result) -> dict[str, bytes]:
    import numpy as np

    members: dict[str, bytes] = {}
    for name, table in result.tables.items():
        members[f"tables/{name}.csv"] = table.to_csv(index=False).encode()
    for name, array in result.arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        members[f"arrays/{name}.npy"] = buffer.getvalue()
    manifest = {
        "format": FORMAT,
        "key": key,
        "metrics": result.metrics,
        "provenance": result.provenance,
        "tables": list(result.tables),
        "arrays": list(result.arrays),
        "sha256": {member: _sha(data) for member, data in members.items()},
    }
    members["manifest.json"] = json.dumps(manifest, indent=1, default=str).encode()
    return members


def _read_table(data: bytes):
    """A stored table; a table without columns is written as an empty line, which `read_csv` refuses."""
    import pandas as pd

    return pd.read_csv(io.BytesIO(data)) if data.strip() else pd.DataFrame()


def _decode(key: str, path: Path, handle=None) -> Result:
    """The entry's result, verified against its manifest; `handle`: the file already opened."""
    import numpy as np
    import pandas as pd

    try:
        with zipfile.ZipFile(handle if handle is not None else path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != FORMAT or manifest.get("key") != key:
                raise CorruptEntry(f"{path.name}: manifest does not match its key")
            contents = {member: archive.read(member) for member in manifest["sha256"]}
    except CorruptEntry:
        raise
    except Exception as exc:  # zip errors, CRC failures, missing members, bad JSON
        raise CorruptEntry(f"{path.name}: {type(exc).__name__}: {exc}") from exc
    for member, data in contents.items():
        if _sha(data) != manifest["sha256"][member]:
            raise CorruptEntry(f"{path.name}: checksum mismatch in {member}")
    try:
        tables = {n: _read_table(contents[f"tables/{n}.csv"]) for n in manifest["tables"]}
        arrays = {n: np.load(io.BytesIO(contents[f"arrays/{n}.npy"]), allow_pickle=False) for n in manifest["arrays"]}
    except Exception as exc:
        raise CorruptEntry(f"{path.name}: {type(exc).__name__}: {exc}") from exc
    return Result(metrics=manifest["metrics"], tables=tables, arrays=arrays, provenance=manifest["provenance"])


class CacheStore:
    """The result cache in one folder; one instance per process is enough (it is thread-safe)."""

    TEMP_STALE_S = 300.0  # a temporary file this old belongs to a dead writer, whoever wrote it
    HYGIENE_EVERY_S = 60.0  # sweeps of temporary files and pending rows, at most this often per process
    LOW_WATER = 0.999  # eviction frees a little below the cap (2 MB of 2 GB), so it runs once per few writes
    MEMORY_TOUCH_EVERY_S = 10.0  # in-memory hits record their last use at most this often per key

    def __new__(cls, root: str | Path | None = None, *args, **kwargs):
        """A URL (or the local state folder of one) gives the shared-storage store of `remote_cache`."""
        if cls is CacheStore:
            location = root if root is not None else default_location()
            if is_url(location) or os.path.isfile(os.path.join(location, REMOTE_MARKER)):
                from .remote_cache import RemoteCacheStore

                return super().__new__(RemoteCacheStore)
        return super().__new__(cls)

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None, memory_items: int = 16):
        self.root = Path(root) if root is not None else default_root()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._memory: OrderedDict[str, Result] = OrderedDict()
        self._memory_items = memory_items
        self._memory_lock = threading.Lock()
        self._touched: dict[str, float] = {}
        self._index = cache_index.Index(self.root)
        self._index.on_rebuild = self._sweep_legacy
        self._started_pid: int | None = None
        self._last_hygiene = 0.0

    # -- layout ---------------------------------------------------------------------
    @property
    def location(self) -> str:
        """What another process or machine passes to `CacheStore` to share this cache."""
        return str(self.root)

    def path(self, analysis: str, key: str) -> Path:
        return self.root / "results" / analysis / f"{key}.zip"

    def _lock(self, key: str) -> KeyLock:
        return KeyLock(self.root / "locks" / f"{key}.lock")

    def entries(self) -> list[Path]:
        """Every entry file on disk (scans the folder: for tests and repairs, not for the hot path)."""
        return sorted((self.root / "results").glob("*/*.zip"))

    @property
    def index(self) -> cache_index.Index:
        """The index, after this process' start-up sweep (temporary files and writes of dead writers)."""
        if self._started_pid != os.getpid():
            self._started_pid = os.getpid()
            self.sweep()
        return self._index

    # -- read / write ---------------------------------------------------------------
    def read(self, analysis: str, key: str) -> Result | None:
        """The stored result, or None; raises CorruptEntry for an entry that fails its checks."""
        path = self.path(analysis, key)
        with self._memory_lock:
            cached = self._memory.get(key)
            if cached is not None:
                if path.exists():
                    self._memory.move_to_end(key)
                else:
                    del self._memory[key]  # removed on disk by someone else: forget it here too
                    cached = None
        if cached is not None:
            now = time.time()
            if now - self._touched.get(key, 0.0) >= self.MEMORY_TOUCH_EVERY_S:
                self._touched[key] = now
                self._touch(analysis, key, cached)
            return cached
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None  # never written, or evicted by another process just now
        with handle:
            result = _decode(key, path, handle)
        self._touch(analysis, key, result)
        self._remember(key, result)
        return result

    def lookup(self, analysis: str, key: str) -> Result | None:
        """The cached result or None, without taking a lock or computing; a corrupt entry is
        discarded (and reads as None) so that the next `get_or_compute` replaces it."""
        try:
            return self.read(analysis, key)
        except CorruptEntry as exc:
            log.warning("corrupt cache entry, discarded: %s", exc)
            self.discard(analysis, key)
            return None

    def has(self, analysis: str, key: str) -> bool:
        """Whether an entry exists, answered with one `stat` (nothing is read or verified)."""
        return self.path(analysis, key).exists()

    def write(self, analysis: str, key: str, result: Result) -> Path:
        path = self.path(analysis, key)
        members = _encode(key, result)
        tmp = self._temp_file()
        try:
            with open(tmp, "wb") as handle:
                with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                    for member, data in members.items():
                        archive.writestr(member, data)
                if _FSYNC:
                    handle.flush()
                    os.fsync(handle.fileno())
            row = cache_index.result_row(analysis, key, os.stat(tmp).st_size, time.time(), result.provenance,
                                         result.metrics)
            indexed = self._quietly(self.index.begin, row)  # pending: a kill from here on is recovered
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)  # atomic: readers see the old state or the whole new entry
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if indexed:
            self._quietly(self.index.done, row)
        self._remember(key, result)
        self._quietly(self._evict_if_needed, row["path"])
        return path

    def discard(self, analysis: str, key: str) -> None:
        with self._memory_lock:
            self._memory.pop(key, None)
        rel = f"results/{analysis}/{key}.zip"
        if not self._quietly(self.index.remove, [rel], self._delete):
            self._delete(rel)

    def _remember(self, key: str, result: Result) -> None:
        with self._memory_lock:
            self._memory[key] = result
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_items:
                gone, _ = self._memory.popitem(last=False)
                self._touched.pop(gone, None)

    def _touch(self, analysis: str, key: str, result: Result) -> None:
        """Record a use: one indexed UPDATE, plus the file's mtime (what a rebuilt index starts from)."""
        path = self.path(analysis, key)
        now = time.time()
        try:
            os.utime(path, (now, now))
        except OSError:
            pass  # a read-only cache still serves hits
        try:
            if not self.index.touch(f"results/{analysis}/{key}.zip", now) and path.exists():
                # On disk but not in the index (its writer died between rename and record): adopt it.
                size = path.stat().st_size
                self.index.add([cache_index.result_row(analysis, key, size, now, result.provenance, result.metrics)])
        except (sqlite3.Error, OSError) as exc:
            log.warning("cache index not updated: %s", exc)

    def _quietly(self, action: Callable, *args) -> bool:
        """Index bookkeeping after a finished computation: a failure is logged, never the run's."""
        try:
            action(*args)
            return True
        except (sqlite3.Error, OSError) as exc:
            log.warning("cache bookkeeping failed (%s): %s", getattr(action, "__name__", action), exc)
            return False

    # -- the one entry point callers use ---------------------------------------------
    def get_or_compute(self, analysis: str, key: str, compute: Callable[[], Result],
                       on_wait: Callable[[], None] | None = None) -> Lookup:
        problem = None
        try:
            cached = self.read(analysis, key)
            if cached is not None:
                return Lookup(cached, cache_hit=True)
        except CorruptEntry as exc:
            problem = str(exc)
            log.warning("corrupt cache entry, recomputing: %s", exc)
        lock = self._lock(key)
        if not lock.acquire(blocking=False):  # someone else is computing this key
            if on_wait is not None:
                on_wait()
            lock.acquire()
        try:
            try:
                cached = self.read(analysis, key)  # computed while we waited?
                if cached is not None:
                    return Lookup(cached, cache_hit=True, problem=problem)
            except CorruptEntry as exc:
                problem = str(exc)
                log.warning("corrupt cache entry, recomputing: %s", exc)
            if problem is not None:
                self.discard(analysis, key)
            result = compute()
            self.write(analysis, key, result)
            return Lookup(result, cache_hit=False, problem=problem)
        finally:
            lock.release()

    # -- listing -----------------------------------------------------------------------
    def run_records(self, analysis: str, stage: str | None = None) -> list[dict[str, Any]]:
        """An analysis' cached results (or one stage's), newest first: key, computed_at, last_used,
        bytes, compute_seconds, timings, and the parameters and metrics as dicts. One indexed
        query; no entry is opened."""
        records = self.index.records(f"{analysis}.{stage}" if stage else analysis)
        for record in records:
            record["compute_seconds"] = record["timings"].get("compute_seconds")
        return records

    def runs(self, analysis: str, stage: str | None = None):
        """`run_records` as a DataFrame, one row per cached result: key, computed_at, last_used, bytes,
        compute_seconds, then one `params.<name>` column per parameter and `metrics.<name>` per metric."""
        import pandas as pd

        records = self.run_records(analysis, stage)
        base = pd.DataFrame(records, columns=["key", "computed_at", "last_used", "bytes", "compute_seconds"])
        base["computed_at"] = pd.to_datetime(base["computed_at"], utc=True, format="ISO8601", errors="coerce")
        base["last_used"] = pd.to_datetime(base["last_used"], unit="s", utc=True)
        params = pd.DataFrame([r["params"] for r in records], index=base.index).add_prefix("params.")
        metrics = pd.DataFrame([r["metrics"] for r in records], index=base.index).add_prefix("metrics.")
        return pd.concat([base, params, metrics], axis=1)

    # -- housekeeping -----------------------------------------------------------------
    def _evict_if_needed(self, keep: str | None = None) -> list[str]:
        if time.time() - self._last_hygiene >= self.HYGIENE_EVERY_S:
            self.sweep()
        removed = self.index.evict(self.max_bytes, int(self.max_bytes * self.LOW_WATER), self._delete, keep=keep)
        if removed:
            log.info("evicted %d cache entries (least recently used) to stay under %d bytes", len(removed),
                     self.max_bytes)
        return removed

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least-recently-used entries and uploads until the cache is back under its size cap
        (down to LOW_WATER of it, so the next writes need not evict)."""
        keep_rel = keep.relative_to(self.root).as_posix() if keep is not None else None
        return [self.root / rel for rel in self._evict_if_needed(keep_rel)]

    def _delete(self, rel: str) -> None:
        """Remove one entry's or upload's file; one another process removed first is fine."""
        path = self.root / rel
        path.unlink(missing_ok=True)
        if rel.startswith("uploads/"):
            try:
                path.parent.rmdir()
            except OSError:
                pass  # another file of the same content, or already gone
        else:
            with self._memory_lock:
                self._memory.pop(path.stem, None)

    def sweep(self) -> dict[str, int]:
        """Remove temporary files of dead writers and settle their half-recorded writes."""
        self._last_hygiene = time.time()
        removed = 0
        for tmp in self._temp_files():
            if self._abandoned(tmp):
                tmp.unlink(missing_ok=True)
                removed += 1
        kept = dropped = 0
        try:
            kept, dropped = self._index.recover(self.TEMP_STALE_S)
        except sqlite3.Error as exc:
            log.warning("cache index not recovered: %s", exc)
        locks = remove_stale(self.root / "locks")  # left by processes killed while computing
        return {"temp_files": removed, "recovered": kept, "dropped": dropped, "locks": locks}

    def _temp_file(self) -> str:
        """A new temporary file under tmp/, named `<pid>.<random>.<host>.tmp` so a sweep can tell
        whether its writer still runs."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}.", suffix=f".{socket.gethostname()}.tmp", dir=folder)
        os.close(fd)
        return tmp

    def _temp_files(self) -> list[Path]:
        folder = self.root / "tmp"
        return list(folder.iterdir()) if folder.is_dir() else []

    def _abandoned(self, tmp: Path) -> bool:
        try:
            age = time.time() - tmp.stat().st_mtime
        except FileNotFoundError:
            return False
        if age > self.TEMP_STALE_S:
            return True
        pid, _, rest = tmp.name.partition(".")
        host = rest.partition(".")[2].removesuffix(".tmp")
        return pid.isdigit() and not cache_index.writer_alive(f"{host}:{pid}")

    def _sweep_legacy(self) -> None:
        """After a rebuild: temporary files and lock files older versions left beside the entries."""
        for pattern in ("results/*/.*.tmp", "uploads/*/tmp*"):
            for tmp in self.root.glob(pattern):
                try:
                    if time.time() - tmp.stat().st_mtime > self.TEMP_STALE_S:
                        tmp.unlink(missing_ok=True)
                except OSError:
                    pass
        remove_stale(self.root / "locks")

    def info(self) -> dict[str, Any]:
        """Entries and bytes per analysis, uploads, temporary files and the cap, from the index."""
        totals = self.index.totals()
        per_name = self.index.per_name()
        temps = [(p, p.stat().st_size) for p in self._temp_files() if p.exists()]
        entries, result_bytes = totals.get("result", (0, 0))
        uploads, upload_bytes = totals.get("upload", (0, 0))
        return {
            "root": str(self.root),
            "entries": entries,
            "bytes": result_bytes,
            "max_bytes": self.max_bytes,
            "bytes_under_cap": result_bytes + upload_bytes,
            "analyses": {name: {"entries": n, "bytes": b} for name, (n, b) in per_name.items()},
            "uploads": {"files": uploads, "bytes": upload_bytes},
            "temp_files": {"files": len(temps), "bytes": sum(size for _, size in temps)},
        }

    def clear(self, analysis: str | None = None) -> int:
        """Remove an analysis' entries (its stages' too), or everything: entries, uploads and the
        temporary files of dead writers. Returns how many result entries went."""
        index = self.index
        if analysis is not None:
            folders = [self.root / "results" / analysis, *(self.root / "results").glob(f"{analysis}.*")]
            rows = index.paths(kind="result", analysis=analysis)
        else:
            folders = [p for p in (self.root / "results").glob("*") if p.is_dir()]
            rows = index.paths()
            for upload in (self.root / "uploads").glob("*/*"):
                rows.append(upload.relative_to(self.root).as_posix())
            self.sweep()
            self._sweep_legacy()
        on_disk = {p.relative_to(self.root).as_posix() for folder in folders for p in folder.glob("*.zip")}
        gone = set(rows) | on_disk
        index.remove(gone, self._delete)
        with self._memory_lock:
            self._memory.clear()
        return sum(1 for rel in gone if rel.startswith("results/"))

    # -- uploaded inputs ----------------------------------------------------------------
    def save_upload(self, name: str, data: bytes) -> Path:
        """Store an uploaded file by content, so the same upload maps to the same path; it counts
        toward the size cap and `clear` removes it."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
        content_id = _sha(data)[:32]
        path = self.root / "uploads" / content_id / safe
        row = cache_index.upload_row(content_id, safe, len(data), time.time())
        if path.exists():
            if not self._quietly_touch(row):
                self._quietly(self.index.add, [row])
            return path
        tmp = self._temp_file()
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            indexed = self._quietly(self.index.begin, row)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if indexed:
            self._quietly(self.index.done, row)
        self._quietly(self._evict_if_needed, row["path"])
        return path

    def _quietly_touch(self, row: dict) -> bool:
        try:
            return self.index.touch(row["path"], row["last_used"])
        except sqlite3.Error as exc:
            log.warning("cache index not updated: %s", exc)
            return True
