"""The result cache on shared storage: any fsspec URL (`s3://bucket/prefix`, `gs://…`, `file://…`,
`memory://…`), so that several machines compute into, and read from, one cache.

The entries are the same verified zip files as in a local cache, one object each under
`<url>/results/<analysis>/<key>.zip`. An object is written once and whole: on S3 and GCS one PUT
of the complete bytes under its final key (readers see no object or all of it); on `file://` a
temporary file under `<url>/tmp/` renamed into place. An object that fails its checks is deleted
and recomputed, as locally.

What cannot live on object storage stays on this machine, in a state folder per URL (under the
user cache dir, or `LABSCOPE_CACHE_STATE_DIR`): the SQLite index of the shared entries (rebuilt
and extended by listing the prefix), the per-key locks, uploads and jobs. A miss in that index is
always checked against the storage, so an entry another machine wrote is found. Locks: a file lock
per key on each machine, and on S3 a lease object taken by conditional PUT (`remote_lock.py`), so one
machine computes a key; elsewhere (`file://`, `gs://`) two machines asking for the same key at once
may both compute it, the duplicated work being the only cost. On S3 an entry is uploaded with
`If-None-Match: *` (write-once); elsewhere a machine that finds it present does not upload it. Remote entries are
evicted only under a cap that is set explicitly (`max_bytes`, `LABSCOPE_CACHE_MAX_MB`), by the
machine that writes, least recently used as this machine saw them, or by `labscope cache clear`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
import socket
import sqlite3
import sys
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from . import index as cache_index
from .analysis import Result
from .cache import REMOTE_MARKER, CacheStore, _decode, _encode, is_url

log = logging.getLogger(__name__)

STORAGE_OPTIONS_ENV = "LABSCOPE_STORAGE_OPTIONS"
STATE_DIR_ENV = "LABSCOPE_CACHE_STATE_DIR"
_RENAMING = {"file", "local"}  # protocols with an atomic rename; the others get one whole PUT
_LEASING = {"s3", "s3a"}  # conditional PUT (If-None-Match): write-once objects and leases across machines


def normalise(url: str) -> str:
    return url.rstrip("/")


def state_dir(url: str) -> Path:
    """This machine's folder for one shared cache: index, locks, uploads, jobs."""
    parent = os.environ.get(STATE_DIR_ENV)
    if not parent:
        from platformdirs import user_cache_dir

        parent = os.path.join(user_cache_dir("labscope"), "shared")
    return Path(parent).expanduser() / hashlib.sha256(normalise(url).encode()).hexdigest()[:16]


def storage_options() -> dict[str, Any]:
    """Extra fsspec options from `LABSCOPE_STORAGE_OPTIONS` (JSON), e.g. an S3 endpoint."""
    text = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{STORAGE_OPTIONS_ENV} is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError(f"{STORAGE_OPTIONS_ENV} must be a JSON object")
    return options


def _modified(info: dict) -> float:
    """An object's modification time from whatever a backend reports, as a Unix time."""
    for name in ("mtime", "LastModified", "updated", "created"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, _dt.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return time.time()


class RemoteCacheStore(CacheStore):
    """The cache on shared storage; made by `CacheStore(url)` (or by `CacheStore(state folder)`)."""

    LIST_EVERY_S = 30.0  # listings of runs and `info` re-list the storage at most this often per process

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None, memory_items: int = 16):
        import fsspec

        if root is None:
            from .cache import default_location

            root = default_location()
        local = None
        if not is_url(root):  # a state folder (what jobs and process pools get): its marker names the URL
            local = Path(root)
            root = json.loads((local / REMOTE_MARKER).read_text())["url"]
        self.url = normalise(str(root))
        self.fs, self.base = fsspec.core.url_to_fs(self.url, **storage_options())
        self.base = self.base.rstrip("/")
        protocols = set(self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self._renames = bool(protocols & _RENAMING)
        self._leases = bool(protocols & _LEASING)
        local = local or state_dir(self.url)
        local.mkdir(parents=True, exist_ok=True)
        marker = local / REMOTE_MARKER
        if not marker.is_file():
            tmp = local / f".{REMOTE_MARKER}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"url": self.url}))
            os.replace(tmp, marker)
        if max_bytes is None:  # a shared cache is capped only when asked to
            max_bytes = int(float(os.environ["LABSCOPE_CACHE_MAX_MB"]) * 1024 * 1024) \
                if os.environ.get("LABSCOPE_CACHE_MAX_MB") else sys.maxsize
        super().__init__(local, max_bytes=max_bytes, memory_items=memory_items)
        self._index = cache_index.Index(self.root, scanner=self._scan, size_of=self._size)
        self._index.on_rebuild = self._sweep_legacy
        self._last_listing = 0.0

    # -- layout ---------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.url

    def _object(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    def _lock(self, key: str):
        """This machine's lock on the key; on S3 also a lease object, so one machine computes it."""
        local = super()._lock(key)
        if not self._leases:
            return local
        from .remote_lock import SharedKeyLock

        return SharedKeyLock(local, self.fs, self._object(f"locks/{key}.lease"))

    def path(self, analysis: str, key: str) -> str:  # type: ignore[override]
        """The entry's URL."""
        return f"{self.url}/results/{analysis}/{key}.zip"

    def entries(self) -> list[str]:  # type: ignore[override]
        return sorted(self.url + "/" + rel for rel in self._listing())

    def _listing(self) -> dict[str, dict]:
        """Every result object under the prefix, relative path -> info (one LIST per 1000 objects)."""
        folder = self._object("results")
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError:
            found = {}
        finally:
            self.fs.invalidate_cache()  # later existence checks must ask the storage, not this listing
        listing = {}
        for name, info in found.items():
            rel = "results/" + name.rstrip("/")[len(folder):].lstrip("/")
            parts = rel.split("/")
            if len(parts) == 3 and parts[2].endswith(".zip") and not parts[2].startswith("."):
                listing[rel] = info
        return listing

    # -- read / write ---------------------------------------------------------------
    def read(self, analysis: str, key: str) -> Result | None:
        rel = f"results/{analysis}/{key}.zip"
        with self._memory_lock:
            cached = self._memory.get(key)
            if cached is not None:
                self._memory.move_to_end(key)
        if cached is not None:
            now = time.time()
            if now - self._touched.get(key, 0.0) >= self.MEMORY_TOUCH_EVERY_S:
                self._touched[key] = now
                self._touch_row(analysis, key, cached, None)
            return cached
        try:
            data = self.fs.cat_file(self._object(rel))
        except FileNotFoundError:
            return None  # never written, or removed by another machine
        result = _decode(key, PurePosixPath(rel), io.BytesIO(data))
        self._touch_row(analysis, key, result, len(data))
        self._remember(key, result)
        return result

    def has(self, analysis: str, key: str) -> bool:
        """Whether the object exists: one HEAD request (another machine may have written it)."""
        return bool(self.fs.exists(self._object(f"results/{analysis}/{key}.zip")))

    def write(self, analysis: str, key: str, result: Result) -> str:  # type: ignore[override]
        rel = f"results/{analysis}/{key}.zip"
        target = self._object(rel)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for member, data in _encode(key, result).items():
                archive.writestr(member, data)
        data = buffer.getvalue()
        if self.fs.exists(target):
            log.info("%s was written meanwhile by another machine; not uploaded again", rel)
        elif self._renames:
            self._put_renamed(target, data)
        elif self._leases:
            try:  # one PUT of the whole object (atomic for readers), only if no one wrote it meanwhile
                self.fs.pipe_file(target, data, mode="create")
            except FileExistsError:
                log.info("%s was written meanwhile by another machine; not uploaded again", rel)
        else:
            self.fs.pipe_file(target, data)  # one PUT of the whole object: atomic for readers
        row = cache_index.result_row(analysis, key, len(data), time.time(), result.provenance, result.metrics)
        self._quietly(self.index.add, [row])
        self._remember(key, result)
        self._quietly(self._evict_if_needed, row["path"])
        return self.path(analysis, key)

    def _put_renamed(self, target: str, data: bytes) -> None:
        """A filesystem URL: a temporary file beside the entries, then an atomic rename."""
        tmp = self._object(f"tmp/{os.getpid()}.{os.urandom(6).hex()}.{socket.gethostname()}.tmp")
        self.fs.makedirs(self._object("tmp"), exist_ok=True)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, target)
        except BaseException:
            try:
                self.fs.rm_file(tmp)
            except (FileNotFoundError, OSError):
                pass
            raise

    def _touch_row(self, analysis: str, key: str, result: Result, size: int | None) -> None:
        """Record a use in this machine's index; adopt an entry another machine wrote."""
        try:
            now = time.time()
            if not self.index.touch(f"results/{analysis}/{key}.zip", now) and size is not None:
                self.index.add([cache_index.result_row(analysis, key, size, now, result.provenance, result.metrics)])
        except (sqlite3.Error, OSError) as exc:
            log.warning("cache index not updated: %s", exc)

    def _delete(self, rel: str) -> None:
        if rel.startswith("uploads/"):  # uploads stay on this machine
            super()._delete(rel)
            return
        try:
            self.fs.rm_file(self._object(rel))
        except FileNotFoundError:
            pass
        with self._memory_lock:
            self._memory.pop(PurePosixPath(rel).stem, None)

    def _size(self, rel: str) -> int:
        if rel.startswith("uploads/"):
            return os.stat(self.root / rel).st_size
        return int(self.fs.size(self._object(rel)))

    # -- the index: this machine's view of the shared entries ---------------------------
    def _scan(self, root: Path):
        """Rows for every object under the prefix (manifests read by range requests) and local upload."""
        for rel, info in sorted(self._listing().items()):
            _, name, filename = rel.split("/")
            manifest = self._manifest(rel)
            provenance = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
            metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else None
            yield cache_index.result_row(name, filename[:-4], int(info.get("size") or 0), _modified(info),
                                         provenance, metrics)
        yield from (row for row in cache_index.scan(root) if row["kind"] == "upload")

    def _manifest(self, rel: str) -> dict:
        try:
            with self.fs.open(self._object(rel), "rb") as handle, zipfile.ZipFile(handle) as archive:
                manifest = json.loads(archive.read("manifest.json"))
            return manifest if isinstance(manifest, dict) else {}
        except Exception:  # a damaged object is indexed anyway; reading it reports and replaces it
            return {}

    def refresh(self, force: bool = True) -> dict[str, int]:
        """Bring this machine's index up to the storage: add objects others wrote, drop rows of
        objects others removed. Returns how many were added and dropped."""
        if not force and time.time() - self._last_listing < self.LIST_EVERY_S:
            return {"added": 0, "dropped": 0}
        self._last_listing = time.time()
        listing = self._listing()
        known = set(self.index.paths(kind="result"))
        new = sorted(set(listing) - known)
        rows = []
        for rel in new:
            _, name, filename = rel.split("/")
            manifest = self._manifest(rel)
            provenance = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
            metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else None
            rows.append(cache_index.result_row(name, filename[:-4], int(listing[rel].get("size") or 0),
                                               _modified(listing[rel]), provenance, metrics))
        if rows:
            self.index.add(rows)
        gone = known - set(listing)
        if gone:
            self.index.remove(sorted(gone), lambda rel: None)  # already gone from the storage
        return {"added": len(rows), "dropped": len(gone)}

    def run_records(self, analysis: str, stage: str | None = None) -> list[dict[str, Any]]:
        self._quietly(self.refresh, False)
        return super().run_records(analysis, stage)

    # -- housekeeping -----------------------------------------------------------------
    def sweep(self) -> dict[str, int]:
        """Local leftovers as for a local cache, plus `file://` temporary files of dead writers."""
        swept = super().sweep()
        if self._renames:
            try:
                temps = self.fs.ls(self._object("tmp"), detail=True)
            except FileNotFoundError:
                temps = []
            for info in temps:
                name = info["name"].rsplit("/", 1)[-1]
                pid, _, rest = name.partition(".")
                host = rest.partition(".")[2].removesuffix(".tmp")
                dead = pid.isdigit() and not cache_index.writer_alive(f"{host}:{pid}")
                if dead or time.time() - _modified(info) > self.TEMP_STALE_S:
                    try:
                        self.fs.rm_file(info["name"])
                        swept["temp_files"] += 1
                    except FileNotFoundError:
                        pass
        return swept

    def evict(self, keep: str | None = None) -> list[str]:  # type: ignore[override]
        """As for a local cache (under an explicit cap only); `keep`: an entry's URL. Returns URLs."""
        keep_rel = keep[len(self.url) + 1:] if keep else None
        return [self.url + "/" + rel for rel in self._evict_if_needed(keep_rel)]

    def info(self) -> dict[str, Any]:
        self._quietly(self.refresh)
        info = super().info()
        info["root"] = self.url
        info["state"] = str(self.root)
        if info["max_bytes"] >= sys.maxsize:
            info["max_bytes"] = None  # uncapped: shared entries go only by `cache clear`
        return info

    def clear(self, analysis: str | None = None) -> int:
        """As for a local cache, over every object under the prefix (not only those this machine knew)."""
        self.refresh()
        return super().clear(analysis)
