"""An inter-process lock per cache key whose file is removed on release, so lock files never pile up.

Removing a lock file is only safe if a waiter that opened the old file notices: after `flock`
succeeds we check that the path still names the inode we locked, and retry otherwise. The holder
unlinks the path *before* unlocking, so whoever gets the old inode next sees it is gone. Without
`fcntl` (Windows) this falls back to `filelock`, whose files stay (one per key) but stay correct.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class KeyLock:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._fallback = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; False (without waiting) when `blocking` is off and someone else holds it."""
        if fcntl is None:  # pragma: no cover
            from filelock import FileLock, Timeout

            self._fallback = self._fallback or FileLock(str(self.path))
            try:
                self._fallback.acquire(timeout=-1 if blocking else 0)
                return True
            except Timeout:
                return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)  # the holder before us removed this file: lock the current one

    def release(self) -> None:
        if fcntl is None:  # pragma: no cover
            self._fallback.release()
            return
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> "KeyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def remove_stale(folder: Path) -> int:
    """Delete lock files nobody holds (left by older versions, or a writer killed between open and
    flock); returns how many went."""
    if fcntl is None or not folder.is_dir():  # pragma: no cover
        return 0
    removed = 0
    for path in folder.glob("*.lock"):
        lock = KeyLock(path)
        try:
            if lock.acquire(blocking=False):
                lock.release()
                removed += 1
        except OSError:
            pass
    return removed
