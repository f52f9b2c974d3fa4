"""The one error type for bad input, so every loader, the CLI and the page treat it alike.

A user's file, row, item or value that cannot be used raises `InputError`; its message names
where (the file's own name, never a server path; the row, item or column) and what is wrong.
The CLI exits 1 with it and the page shows it; anything else that escapes a computation is an
internal error, logged in full on the server and reported to the browser without details.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any


class InputError(ValueError):
    """Bad input: the message says which file, row, item or column, and what is wrong with it.

        raise InputError("duration is inf", file="fixations.csv", row=12, column="duration")
        # -> "fixations.csv, row 12, column 'duration': duration is inf"

    `file` may be a path: only its name is shown (a message can reach a browser).
    """

    def __init__(self, problem: str, *, file: str | PurePath | None = None, row: Any = None,
                 column: str | None = None, item: Any = None):
        self.problem = problem
        self.file = PurePath(str(file)).name if file not in (None, "") else None
        self.row, self.column, self.item = row, column, item
        where = []
        if self.file:
            where.append(self.file)
        if item is not None:
            where.append(f"item {item}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class Diverged(InputError, FloatingPointError):
    """A computation blew up on the chosen settings (a loss became inf or NaN): the message says which
    setting to change. Still an ArithmeticError for code that catches those."""
