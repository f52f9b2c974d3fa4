"""A persistent, process-safe result cache shared by every session, the CLI and the API.

One entry is one zip file `results/<analysis>/<key>.zip` holding a manifest (metrics,
provenance, SHA-256 of every member), tables as CSV and arrays as `.npy` (read with
`allow_pickle=False`: nothing in the cache can execute code). Entries are written to a
temporary file and renamed into place, so a killed writer never leaves a half entry;
an entry that fails its checks is reported, deleted and recomputed. A file lock per key
makes concurrent requests for the same key compute once. The file's mtime is its last
use, which drives least-recently-used eviction under a size cap.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

from .analysis import Result
from .params import canonical_json

log = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_MAX_MB = 2048


class CorruptEntry(Exception):
    """A cache entry exists but cannot be trusted."""


def default_root() -> Path:
    env = os.environ.get("LABSCOPE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("labscope"))


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


def _decode(key: str, path: Path) -> Result:
    import numpy as np
    import pandas as pd

    try:
        with zipfile.ZipFile(path) as archive:
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
        tables = {n: pd.read_csv(io.BytesIO(contents[f"tables/{n}.csv"])) for n in manifest["tables"]}
        arrays = {n: np.load(io.BytesIO(contents[f"arrays/{n}.npy"]), allow_pickle=False) for n in manifest["arrays"]}
    except Exception as exc:
        raise CorruptEntry(f"{path.name}: {type(exc).__name__}: {exc}") from exc
    return Result(metrics=manifest["metrics"], tables=tables, arrays=arrays, provenance=manifest["provenance"])


class CacheStore:
    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None, memory_items: int = 16):
        self.root = Path(root) if root is not None else default_root()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._memory: OrderedDict[str, Result] = OrderedDict()
        self._memory_items = memory_items
        self._memory_lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------
    def path(self, analysis: str, key: str) -> Path:
        return self.root / "results" / analysis / f"{key}.zip"

    def _lock(self, key: str) -> FileLock:
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / "locks" / f"{key}.lock"))

    def entries(self) -> list[Path]:
        return sorted((self.root / "results").glob("*/*.zip"))

    # -- read / write ---------------------------------------------------------------
    def read(self, analysis: str, key: str) -> Result | None:
        """The stored result, or None; raises CorruptEntry for an entry that fails its checks."""
        with self._memory_lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                path = self.path(analysis, key)
                if path.exists():
                    _touch(path)
                    return self._memory[key]
                del self._memory[key]  # cleared on disk by someone else: forget it here too
        path = self.path(analysis, key)
        if not path.exists():
            return None
        result = _decode(key, path)
        _touch(path)
        self._remember(key, result)
        return result

    def write(self, analysis: str, key: str, result: Result) -> Path:
        path = self.path(analysis, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        members = _encode(key, result)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                    for member, data in members.items():
                        archive.writestr(member, data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)  # atomic: readers see the old state or the whole new entry
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._remember(key, result)
        self.evict(keep=path)
        return path

    def discard(self, analysis: str, key: str) -> None:
        with self._memory_lock:
            self._memory.pop(key, None)
        self.path(analysis, key).unlink(missing_ok=True)

    def _remember(self, key: str, result: Result) -> None:
        with self._memory_lock:
            self._memory[key] = result
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)

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
        try:
            lock.acquire(timeout=0)
        except Timeout:  # someone else is computing this key
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
            self.discard(analysis, key)
            result = compute()
            self.write(analysis, key, result)
            return Lookup(result, cache_hit=False, problem=problem)
        finally:
            lock.release()

    # -- housekeeping -----------------------------------------------------------------
    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least-recently-used entries until the cache fits its size cap."""
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.entries() if p.exists()]
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            with self._memory_lock:
                self._memory.pop(path.stem, None)
            total -= size
            removed.append(path)
        return removed

    def info(self) -> dict[str, Any]:
        per_analysis: dict[str, dict[str, int]] = {}
        for path in self.entries():
            stats = per_analysis.setdefault(path.parent.name, {"entries": 0, "bytes": 0})
            stats["entries"] += 1
            stats["bytes"] += path.stat().st_size
        return {
            "root": str(self.root),
            "entries": sum(s["entries"] for s in per_analysis.values()),
            "bytes": sum(s["bytes"] for s in per_analysis.values()),
            "max_bytes": self.max_bytes,
            "analyses": per_analysis,
        }

    def clear(self, analysis: str | None = None) -> int:
        removed = 0
        for path in self.entries():
            if analysis is None or path.parent.name == analysis:
                path.unlink(missing_ok=True)
                removed += 1
        with self._memory_lock:
            self._memory.clear()
        return removed

    # -- uploaded inputs ----------------------------------------------------------------
    def save_upload(self, name: str, data: bytes) -> Path:
        """Store an uploaded file by content, so the same upload maps to the same path."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
        path = self.root / "uploads" / _sha(data)[:32] / safe
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        return path


def _touch(path: Path) -> None:
    try:
        now = time.time()
        os.utime(path, (now, now))
    except OSError:
        pass  # a read-only cache still serves hits
