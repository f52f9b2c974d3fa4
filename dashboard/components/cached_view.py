"""A page's shown result from the cache: looked up without computing, drawn with its header, and
remembered as the session's view (so a rerun, or a display option, redraws it from the cache)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, CorruptEntry, Outcome
from analyses.core.runner import result_key
from dashboard.backend import result_store
from dashboard.components.links import write_link
from dashboard.components.result_header import badge
from dashboard.components.stage_table import show_stages


def view_key(analysis: Analysis) -> str:
    return f"_view.{analysis.name}"


def key_or_none(analysis: Analysis, params: Mapping[str, Any]) -> str | None:
    try:
        return result_key(analysis, params)
    except (OSError, ValueError):  # an input file gone: nothing can be cached under it
        return None


def from_cache(analysis: Analysis, params: dict[str, Any], key: str) -> Outcome | None:
    """The cached outcome, or None; never computes (anything to compute is a job)."""
    started = time.perf_counter()
    store = result_store()
    try:
        result = store.read(analysis.name, key)
    except CorruptEntry as exc:
        store.discard(analysis.name, key)
        st.warning(f"A corrupt cache entry was found and discarded ({exc}); press **Run** to compute it again.")
        return None
    if result is None:
        return None
    return Outcome(analysis, params, key, replace(result, provenance=dict(result.provenance)), True,
                   time.perf_counter() - started)


def show(analysis: Analysis, outcome: Outcome, preset: str) -> Outcome:
    st.session_state[view_key(analysis)] = {"params": outcome.params, "preset": preset}
    write_link(analysis, preset, outcome.params)  # the link records what was computed, not what was asked
    badge(outcome, preset)
    show_stages(outcome)
    return outcome
