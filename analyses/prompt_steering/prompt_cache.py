"""Per-prompt cache entries: a prompt's option scores, or its hidden state for activation steering.

Each entry is keyed by the code that computes it and by this module, which decides how it is stored,
not by the whole analysis: editing the metrics, tables or figures keeps every scored prompt, while
editing the scoring rescores them all.
"""

from __future__ import annotations

import sys

import numpy as np

from analyses.core import Context, Result

from . import activation, models, prefix_tree, scoring

_HERE = sys.modules[__name__]
CODE = {"prompt": (scoring, prefix_tree, models, _HERE), "hidden": (activation, models, _HERE)}


def load(ctx: Context, kind: str, key: dict) -> np.ndarray | None:
    """The cached array of a prompt, or None when it has not been computed yet (no lock, no compute)."""
    found = ctx.lookup(kind, key, code=CODE[kind])
    return None if found is None else np.asarray(found.arrays["value"], dtype=float)


def store(ctx: Context, kind: str, key: dict, value: np.ndarray) -> None:
    ctx.cached(kind, key, lambda: Result(arrays={"value": np.asarray(value)}), code=CODE[kind])
