"""Run an analysis from the page: progress bar, cancel button, cache badge and errors."""

from __future__ import annotations

import time
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, Outcome, run
from analyses.core.runner import result_key
from dashboard.backend import result_store
from dashboard.components.parameter_form import FormState


def _is_cached(analysis: Analysis, params: Mapping[str, Any]) -> bool:
    try:
        key = result_key(analysis, params)
    except OSError:
        return False
    return result_store().path(analysis.name, key).exists()


def _progress_reporter(bar):
    """Forward progress to the bar at most ~10 times a second (each update is a message to the browser)."""
    last = [0.0, ""]

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if message != last[1] or now - last[0] > 0.1:
            bar.progress(fraction, text=message)
            last[0], last[1] = now, message

    return report


def compute(analysis: Analysis, form: FormState) -> Outcome | None:
    """The outcome to show: computed on Run, read back for a view already seen, else None."""
    view_key, cancel_key = f"_view.{analysis.name}", f"_cancel.{analysis.name}"
    if st.session_state.get(cancel_key):
        st.warning("Run cancelled; nothing was cached. Press Run to start again.")
        form.trigger = None
    params = form.params
    if form.trigger is None:
        if st.session_state.get(view_key) is not None:
            params = st.session_state[view_key]
        elif not _is_cached(analysis, params):
            st.info("Choose parameters in the sidebar and press **Run**. The `smoke` preset runs in seconds.")
            return None

    bar = st.empty()
    cancel = st.empty()
    if form.trigger is not None:
        bar.progress(0.0, text="starting")
        cancel.button("Cancel run", key=cancel_key, help="Stop this computation; nothing partial is cached.")
    waiting = st.empty()
    try:
        outcome = run(analysis, params=params, device=st.session_state.get("device", "auto"),
                      on_progress=_progress_reporter(bar), store=result_store(),
                      on_wait=lambda: waiting.info("Another session is computing this same result; waiting for it..."))
    except (ValueError, ArithmeticError, RuntimeError, OSError) as exc:  # bad input, divergence, no GPU: say which
        bar.empty(), cancel.empty(), waiting.empty()
        st.error(f"**{analysis.title} could not run.** {exc}")
        return None
    bar.empty(), cancel.empty(), waiting.empty()
    st.session_state[view_key] = params
    _badge(outcome)
    return outcome


def _badge(outcome: Outcome) -> None:
    original = outcome.compute_seconds
    if outcome.cache_hit:
        when = outcome.result.provenance.get("computed_at", "")
        st.success(f"From cache in {outcome.wall_seconds:.2f} s. The original computation took {original:.1f} s "
                   f"({when}).", icon=":material/bolt:")
    else:
        st.info(f"Computed in {original:.1f} s and cached: these parameters will answer at once next time.",
                icon=":material/calculate:")
    if outcome.problem:
        st.warning(f"A corrupt cache entry was found and recomputed: {outcome.problem}")


def metrics(outcome: Outcome, shown: Mapping[str, str], formats: Mapping[str, str] | None = None) -> None:
    """A row of headline numbers; `shown` maps metric names to labels (metrics a result lacks are skipped)."""
    formats = formats or {}
    shown = {name: label for name, label in shown.items() if name in outcome.result.metrics}
    columns = st.columns(len(shown))
    for column, (name, label) in zip(columns, shown.items()):
        value = outcome.result.metrics[name]
        column.metric(label, format(value, formats.get(name, ".3g")))
