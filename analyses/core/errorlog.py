"""Unexpected errors: the full traceback goes to a log on the machine, the user gets a reference.

A message that reaches a browser (or a shared terminal) never carries a traceback or a server
path; whoever runs the server finds the details in its log under the same reference.
"""

from __future__ import annotations

import logging
import os
import secrets
import traceback
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("labscope")


def log_dir() -> Path:
    """$LABSCOPE_LOG_DIR, else the user's log directory (~/.local/state/labscope/log on Linux)."""
    env = os.environ.get("LABSCOPE_LOG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir("labscope"))


def record(exc: BaseException, where: str, echo: bool = True) -> tuple[str, Path | None]:
    """Log the exception in full (to errors.log and, with `echo`, to the logging system: the server's
    output); return a short reference to quote to the user and the log file (None if unwritable)."""
    reference = secrets.token_hex(4)
    text = "".join(traceback.format_exception(exc))
    if echo:
        log.error("internal error %s in %s:\n%s", reference, where, text)
    path = log_dir() / "errors.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            handle.write(f"--- {stamp} internal error {reference} in {where}\n{text}\n")
    except OSError:
        return reference, None
    return reference, path
