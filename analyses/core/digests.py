"""Content digests of input files, memoised so a page rerun on a cached view rehashes nothing.

A digest is remembered per process under the file's identity: (path, size, mtime_ns, ctime_ns,
inode, device). Any edit (even one that restores the mtime, which moves the ctime) or a new file at
the same path gives a new identity and is hashed afresh; an unchanged file costs one `stat`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

MEMO_ITEMS = 4096  # files remembered per process (a model directory is a few dozen)

_memo: OrderedDict[tuple, str] = OrderedDict()
_lock = threading.Lock()
hashed_bytes = 0  # bytes read for hashing by this process: lets benchmarks show a rerun reads none


def _identity(path: str, st: os.stat_result) -> tuple:
    return (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of the file's bytes; hashed once per identity of the file."""
    global hashed_bytes
    name = os.path.abspath(os.fspath(path))
    before = _identity(name, os.stat(name))
    with _lock:
        if before in _memo:
            _memo.move_to_end(before)
            return _memo[before]
    h = hashlib.sha256()
    with open(name, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
            hashed_bytes += len(block)
    digest = h.hexdigest()
    if _identity(name, os.stat(name)) == before:  # not changed while we read it: safe to remember
        with _lock:
            _memo[before] = digest
            while len(_memo) > MEMO_ITEMS:
                _memo.popitem(last=False)
    return digest


def forget() -> None:
    """Drop every remembered digest (tests; a process that distrusts file timestamps)."""
    with _lock:
        _memo.clear()
