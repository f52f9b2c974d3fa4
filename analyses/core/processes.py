"""Starting worker processes safely from anywhere, a Streamlit page included.

A spawned process first re-runs its parent's `__main__` file (multiprocessing's "spawn" start
method does this so that functions defined there can be unpickled). Inside a Streamlit script run,
`__main__` is the page being drawn: a worker started from a page would draw that page again, bare,
and start a pool of its own. labscope's workers take only names and parameters, never objects
defined in `__main__`, so while they start `__main__` is a bare module.
"""

from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager
from typing import Iterator

_lock = threading.RLock()


@contextmanager
def plain_main() -> Iterator[None]:
    """Within this block, processes started with "spawn" do not re-run the parent's main file."""
    with _lock:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main
