"""The cache's index: one SQLite table of every entry, so nothing has to scan the cache folder.

Each row holds an entry's path, analysis, stage, key, size, last use and metadata (parameters,
metrics, timings, computed_at). Eviction reads the running total (kept by triggers) and the
least recently used rows; `cache info` and listing runs are queries. WAL mode lets readers go on
while one process writes; a busy timeout makes concurrent writers wait their turn.

The entries stay the truth and the index can always be rebuilt from them: a missing or corrupt
index file is replaced by a scan of the folder (under a lock, once). A write is recorded as
*pending* (with its writer) before its file is renamed into place and marked done after, so a
writer killed in between leaves a row that `recover` settles from what is on disk.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

SCHEMA = 1
BUSY_TIMEOUT_S = 60.0
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB

_DDL = """
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY,        -- relative to the cache root
    kind TEXT NOT NULL,           -- 'result' or 'upload'
    name TEXT NOT NULL,           -- the folder: an analysis, 'analysis.stage', or an upload's content id
    analysis TEXT NOT NULL,
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_used REAL NOT NULL,
    writer TEXT,                  -- 'host:pid' while the file is being renamed into place or evicted
    pending_since REAL,
    evicting INTEGER NOT NULL DEFAULT 0,  -- 1: the writer is deleting it (rather than writing it)
    computed_at TEXT,
    params TEXT,                  -- JSON
    metrics TEXT,                 -- JSON
    timings TEXT                  -- JSON
);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_used);
CREATE INDEX IF NOT EXISTS entries_name ON entries (name, key);
CREATE INDEX IF NOT EXISTS entries_analysis ON entries (analysis);
CREATE INDEX IF NOT EXISTS entries_pending ON entries (writer) WHERE writer IS NOT NULL;
CREATE TABLE IF NOT EXISTS totals (kind TEXT PRIMARY KEY, files INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES ('result', 0, 0), ('upload', 0, 0);
CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries BEGIN
    UPDATE totals SET files = files + 1, bytes = bytes + new.size WHERE kind = new.kind;
END;
CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries BEGIN
    UPDATE totals SET files = files - 1, bytes = bytes - old.size WHERE kind = old.kind;
END;
CREATE TRIGGER IF NOT EXISTS entries_resized AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - old.size + new.size WHERE kind = new.kind;
END;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""

COLUMNS = ("path", "kind", "name", "analysis", "stage", "key", "size", "last_used",
           "computed_at", "params", "metrics", "timings")


def writer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def writer_alive(writer: str) -> bool:
    """Whether a 'host:pid' writer may still be running (another host's writers are assumed alive)."""
    host, _, pid = writer.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def result_row(name: str, key: str, size: int, last_used: float, provenance: dict, metrics: dict) -> dict:
    """An index row for a result entry from what its manifest holds."""
    analysis, _, stage = name.partition(".")
    timings = {k: provenance[k] for k in ("compute_seconds", "timings", "stages") if k in provenance}
    return {"path": f"results/{name}/{key}.zip", "kind": "result", "name": name, "analysis": analysis,
            "stage": stage, "key": key, "size": size, "last_used": last_used,
            "computed_at": provenance.get("computed_at"), "params": _json(provenance.get("params")),
            "metrics": _json(metrics), "timings": _json(timings)}


def upload_row(content_id: str, filename: str, size: int, last_used: float) -> dict:
    return {"path": f"uploads/{content_id}/{filename}", "kind": "upload", "name": content_id, "analysis": "",
            "stage": "", "key": filename, "size": size, "last_used": last_used, "computed_at": None,
            "params": None, "metrics": None, "timings": None}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


class Index:
    """The SQLite index of one cache folder; safe to share between threads, reconnects after fork."""

    def __init__(self, root: Path, scanner=None, size_of=None):
        """`scanner(root)` yields the rows a rebuild starts from and `size_of(path)` an entry's size
        (FileNotFoundError when gone): the folder's by default, the storage's for a shared cache."""
        self.root = Path(root)
        self.scanner = scanner or scan
        self.size_of = size_of or (lambda path: os.stat(self.root / path).st_size)
        self.file = self.root / "index.sqlite"
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._pid: int | None = None
        self.on_rebuild = None  # called after a rebuild, under its lock (the store sweeps old leftovers)

    # -- connection, schema, rebuild ------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.file, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a killed process loses nothing committed
        return conn

    def _complete(self, conn: sqlite3.Connection) -> bool:
        try:
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return False
            raise
        return row is not None and row[0] == str(SCHEMA)

    def _open(self) -> sqlite3.Connection:
        """A connection to a complete index, rebuilding it first when it is missing or corrupt."""
        self.root.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            try:
                conn = self._connect()
                if self._complete(conn):
                    return conn
                conn.close()
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc):
                    raise
                log.warning("cache index %s is corrupt (%s); rebuilding it from the entries", self.file, exc)
            self.rebuild(only_if_needed=True)
        raise sqlite3.DatabaseError(f"cache index {self.file} could not be opened")

    def _db(self) -> sqlite3.Connection:
        """The open connection; reopened after a fork, or when the file was replaced or deleted."""
        try:
            inode = os.stat(self.file).st_ino
        except FileNotFoundError:
            inode = None
        if self._conn is None or self._pid != os.getpid() or inode != self._inode:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = self._open()
            self._inode = os.stat(self.file).st_ino
            self._pid = os.getpid()
        return self._conn

    def _run(self, work, *, write: bool = False):
        """Run `work(conn)` in one transaction; a corrupt index is rebuilt and the work retried."""
        with self._lock:
            for attempt in range(2):
                conn = self._db()
                try:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        value = work(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return value
                except sqlite3.DatabaseError as exc:
                    if attempt or not _is_corrupt(exc):
                        raise
                    log.warning("cache index %s is corrupt (%s); rebuilding it from the entries", self.file, exc)
                    self._drop_connection()
                    self.rebuild(only_if_needed=False, corrupt_inode=self._inode)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def rebuild(self, only_if_needed: bool = False, corrupt_inode: int | None = None) -> int:
        """Replace the index with one built from the entries on disk; returns the rows indexed.

        One process rebuilds while the others wait on `index.lock` and then use its work.
        """
        from filelock import FileLock  # only needed here: keeps a cache hit's start-up lean

        with self._lock, FileLock(str(self.root / "index.lock")):
            if only_if_needed or corrupt_inode is not None:
                try:
                    current = os.stat(self.file).st_ino
                except FileNotFoundError:
                    current = None
                if corrupt_inode is not None and current is not None and current != corrupt_inode:
                    return 0  # someone else replaced it already
                if only_if_needed and current is not None and self._healthy():
                    return 0
            self._drop_connection()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.file}{suffix}").unlink(missing_ok=True)
            conn = self._connect()
            try:
                conn.executescript(_DDL)
                rows = list(self.scanner(self.root))
                conn.execute("BEGIN IMMEDIATE")
                _upsert(conn, rows)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
                conn.execute("COMMIT")
            finally:
                conn.close()
            if self.on_rebuild is not None:
                self.on_rebuild()
            if rows:
                log.info("rebuilt the cache index %s from %d entries", self.file, len(rows))
            return len(rows)

    def _healthy(self) -> bool:
        try:
            conn = self._connect()
            try:
                return self._complete(conn) and conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return False

    # -- writes -------------------------------------------------------------------------
    def begin(self, row: dict) -> None:
        """Record an entry about to be renamed into place (pending, with this process as writer)."""
        pending = {**row, "writer": writer_id(), "pending_since": time.time()}
        self._run(lambda c: _upsert(c, [pending]), write=True)

    def done(self, row: dict) -> None:
        """The entry's file is in place (re-inserts the row if a `cache clear` removed it meanwhile)."""
        self._run(lambda c: _upsert(c, [{**row, "writer": None, "pending_since": None}]), write=True)

    def add(self, rows: Iterable[dict]) -> None:
        rows = list(rows)
        self._run(lambda c: _upsert(c, rows), write=True)

    def touch(self, path: str, when: float | None = None) -> bool:
        """Mark an entry used now; False when the index has no row for it."""
        when = time.time() if when is None else when
        return self._run(lambda c: c.execute("UPDATE entries SET last_used = ? WHERE path = ?",
                                             (when, path)).rowcount > 0, write=True)

    def evict(self, max_bytes: int, target_bytes: int, delete, keep: str | None = None) -> list[str]:
        """If the entries exceed `max_bytes`, remove least recently used ones down to `target_bytes`.

        Two steps, so that a kill at any point loses nothing: the victims are marked (pending, with
        this process as their evictor) in one transaction, their files deleted (`delete(path)`; one
        already gone is fine), then their rows. A killed evictor's marks are settled by `recover`.
        Concurrent evictions take turns on the first step and count each other's marked bytes as
        gone, so together they never remove more than needed. Pending entries are never victims.
        """
        total_sql = "SELECT COALESCE(SUM(bytes), 0) FROM totals"
        if self._run(lambda c: c.execute(total_sql).fetchone()[0]) <= max_bytes:
            return []  # the usual case: one read, no write lock

        def choose(conn):
            total = conn.execute(total_sql).fetchone()[0]
            total -= conn.execute("SELECT COALESCE(SUM(size), 0) FROM entries "
                                  "WHERE writer IS NOT NULL AND evicting = 1").fetchone()[0]
            if total <= max_bytes:
                return []
            victims: list[str] = []
            cursor = conn.execute("SELECT path, size FROM entries WHERE writer IS NULL ORDER BY last_used")
            for path, size in cursor:
                if total <= target_bytes:
                    break
                if path != keep:
                    victims.append(path)
                    total -= size
            cursor.close()
            me, now = writer_id(), time.time()
            conn.executemany("UPDATE entries SET writer = ?, pending_since = ?, evicting = 1 WHERE path = ?",
                             [(me, now, path) for path in victims])
            return victims

        return self._delete_marked(self._run(choose, write=True), delete)

    def remove(self, paths: Iterable[str], delete) -> list[str]:
        """Delete these entries' files and rows, in the same kill-safe two steps as `evict`."""
        def mark(conn):
            me, now = writer_id(), time.time()
            found = [p for p in paths if conn.execute(
                "UPDATE entries SET writer = ?, pending_since = ?, evicting = 1 WHERE path = ?", (me, now, p)).rowcount]
            return found

        paths = list(paths)
        marked = set(self._run(mark, write=True))
        for path in paths:  # files the index does not know (yet) go too
            if path not in marked:
                delete(path)
        return self._delete_marked(sorted(marked), delete)

    def _delete_marked(self, victims: list[str], delete) -> list[str]:
        if not victims:
            return []
        deleted: list[str] = []
        try:
            for path in victims:
                delete(path)
                deleted.append(path)
        finally:  # a file that could not be deleted stays marked until `recover` settles it
            self._run(lambda c: c.executemany("DELETE FROM entries WHERE path = ? AND evicting = 1",
                                              [(p,) for p in deleted]), write=True)
        return deleted

    def recover(self, stale_seconds: float) -> tuple[int, int]:
        """Settle pending rows whose writer died (or that are older than `stale_seconds`): kept when
        the file is on disk, dropped when not. Returns (kept, dropped)."""
        now = time.time()
        if not self._run(lambda c: c.execute("SELECT 1 FROM entries WHERE writer IS NOT NULL LIMIT 1").fetchone()):
            return 0, 0  # the usual case, answered by the partial index without taking the write lock

        def work(conn):
            kept = dropped = 0
            for path, writer, since in conn.execute(
                    "SELECT path, writer, pending_since FROM entries WHERE writer IS NOT NULL").fetchall():
                if writer_alive(writer) and now - (since or 0) < stale_seconds:
                    continue
                try:
                    size = self.size_of(path)
                except FileNotFoundError:
                    conn.execute("DELETE FROM entries WHERE path = ?", (path,))
                    dropped += 1
                    continue
                conn.execute("UPDATE entries SET writer = NULL, pending_since = NULL, evicting = 0, size = ? "
                             "WHERE path = ?", (size, path))
                kept += 1
            return kept, dropped

        return self._run(work, write=True)

    # -- queries ------------------------------------------------------------------------
    def has(self, path: str) -> bool:
        return self._run(lambda c: c.execute("SELECT 1 FROM entries WHERE path = ?", (path,)).fetchone() is not None)

    def totals(self) -> dict[str, tuple[int, int]]:
        return self._run(lambda c: {k: (f, b) for k, f, b in c.execute("SELECT kind, files, bytes FROM totals")})

    def per_name(self) -> dict[str, tuple[int, int]]:
        return self._run(lambda c: {n: (f, b) for n, f, b in c.execute(
            "SELECT name, COUNT(*), SUM(size) FROM entries WHERE kind = 'result' GROUP BY name ORDER BY name")})

    def paths(self, kind: str | None = None, analysis: str | None = None) -> list[str]:
        sql, args = "SELECT path FROM entries WHERE 1", []
        if kind is not None:
            sql, args = sql + " AND kind = ?", args + [kind]
        if analysis is not None:
            sql, args = sql + " AND analysis = ?", args + [analysis]
        return self._run(lambda c: [r[0] for r in c.execute(sql, args)])

    def records(self, name: str) -> list[dict]:
        """The finished results stored under one folder name, newest first, metadata decoded.

        SQLite joins the rows into one JSON array (the metadata columns are JSON this module wrote,
        pasted in as they are) and Python parses it once: a `json.loads` per field costs ten times that.
        """
        def work(conn):
            return conn.execute(
                "SELECT '[' || COALESCE(group_concat(item, ','), '') || ']' FROM (SELECT "
                "'{\"key\":' || json_quote(key) || ',\"analysis\":' || json_quote(analysis) || "
                "',\"stage\":' || json_quote(stage) || ',\"computed_at\":' || json_quote(computed_at) || "
                "',\"last_used\":' || json_quote(last_used) || ',\"bytes\":' || size || "
                "',\"params\":' || COALESCE(params, '{}') || ',\"metrics\":' || COALESCE(metrics, '{}') || "
                "',\"timings\":' || COALESCE(timings, '{}') || '}' AS item FROM entries "
                "WHERE name = ? AND kind = 'result' AND writer IS NULL ORDER BY computed_at DESC, last_used DESC)",
                (name,)).fetchone()[0]

        return json.loads(self._run(work))


def _upsert(conn: sqlite3.Connection, rows: list[dict]) -> None:
    names = COLUMNS + ("writer", "pending_since", "evicting")
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "path")
    conn.executemany(
        f"INSERT INTO entries ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT(path) DO UPDATE SET {updates}",
        [tuple(row.get(n, 0 if n == "evicting" else None) for n in names) for row in rows])


def read_manifest(path: Path) -> dict:
    """An entry's manifest without verifying its members (that happens when it is read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
        return manifest if isinstance(manifest, dict) else {}
    except Exception:  # a damaged entry is indexed anyway; reading it reports and replaces it
        return {}


def scan(root: Path) -> Iterable[dict]:
    """Index rows for every entry and upload on disk (the slow path, for rebuilding)."""
    results = root / "results"
    if results.is_dir():
        for folder in sorted(p for p in results.iterdir() if p.is_dir()):
            for entry in folder.iterdir():
                if entry.suffix != ".zip" or entry.name.startswith("."):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                manifest = read_manifest(entry)
                provenance = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
                metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else None
                yield result_row(folder.name, entry.stem, st.st_size, st.st_mtime, provenance, metrics)
    uploads = root / "uploads"
    if uploads.is_dir():
        for folder in uploads.iterdir():
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.is_file() and not entry.name.startswith("tmp"):
                    st = entry.stat()
                    yield upload_row(folder.name, entry.name, st.st_size, st.st_mtime)
