"""A per-key lock across machines on S3: this machine's file lock plus a lease object on the storage.

The lease `<url>/locks/<key>.lease` is created with a conditional PUT (`If-None-Match: *`, which AWS
S3, MinIO and moto honour), so only one machine holds it; the holder rewrites it every
`LEASE_S / 4` seconds while it computes and deletes it when done. A lease not renewed for `LEASE_S`
belongs to a dead machine and is taken over. Best-effort, never a correctness matter: a storage that
ignores the condition, or two machines taking over the same stale lease at once, only duplicates work.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from .keylock import KeyLock

log = logging.getLogger(__name__)

LEASE_S = 60.0
POLL_S = 0.5


class SharedKeyLock:
    """`KeyLock`'s interface (`acquire(blocking)`, `release`) over this machine and the storage."""

    def __init__(self, local: KeyLock, fs, lease_path: str, lease_s: float = LEASE_S):
        self.local, self.fs, self.lease_path, self.lease_s = local, fs, lease_path, lease_s
        self._stop: threading.Event | None = None
        self._renewer: threading.Thread | None = None

    def acquire(self, blocking: bool = True) -> bool:
        while True:
            if not self.local.acquire(blocking=blocking):
                return False  # another process of this machine computes it
            if self._take_lease():
                return True
            self.local.release()  # another machine computes it: let it finish, then read its entry
            if not blocking:
                return False
            time.sleep(POLL_S)

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._renewer.join()
            self._stop = self._renewer = None
            try:
                self.fs.rm_file(self.lease_path)
            except (FileNotFoundError, OSError) as exc:
                log.debug("lease %s not removed: %s", self.lease_path, exc)
        self.local.release()

    def _body(self) -> bytes:
        return json.dumps({"holder": f"{socket.gethostname()}:{os.getpid()}", "at": time.time()}).encode()

    def _take_lease(self) -> bool:
        for _ in range(2):
            try:
                self.fs.pipe_file(self.lease_path, self._body(), mode="create")
            except FileExistsError:
                if not self._stale():
                    return False
                log.info("taking over the stale lease %s", self.lease_path)
                try:
                    self.fs.rm_file(self.lease_path)
                except FileNotFoundError:
                    pass
                continue
            except OSError as exc:  # a storage without leases: duplicated work is the only cost
                log.debug("no lease on %s: %s", self.lease_path, exc)
                return True
            self._stop = threading.Event()
            self._renewer = threading.Thread(target=self._renew, args=(self._stop,), daemon=True)
            self._renewer.start()
            return True
        return False

    def _stale(self) -> bool:
        """Whether the lease's holder stopped renewing it (judged by the time written in it)."""
        try:
            held = json.loads(self.fs.cat_file(self.lease_path))
            return time.time() - float(held["at"]) > self.lease_s
        except FileNotFoundError:
            return True  # released meanwhile
        except (ValueError, KeyError, TypeError):
            return True  # unreadable: nobody can be relying on it

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 4):
            try:
                self.fs.pipe_file(self.lease_path, self._body())
            except OSError as exc:
                log.warning("lease %s not renewed: %s", self.lease_path, exc)
