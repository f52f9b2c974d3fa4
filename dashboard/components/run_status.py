"""Run an analysis from the page as a job: submit, follow (progress, time left, live preview, Cancel), errors.
What is cached is drawn by `cached_view`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, Outcome
from analyses.core.runner import result_key
from dashboard.backend import job_executor, job_store, result_store
from dashboard.components import cached_view, job_progress, sweep_panel
from dashboard.components.parameter_form import FormState, runs_code, write_link
from dashboard.components.result_header import metrics, show_error  # noqa: F401 - pages call run_status.metrics


def _job_key(analysis: Analysis) -> str:
    return f"_job.{analysis.name}"


def _early_key(analysis: Analysis) -> str:
    return f"_job_early.{analysis.name}"


def compute(analysis: Analysis, form: FormState) -> Outcome | None:
    """The outcome to show, or None while a job computes it (followed on the page) or nothing was asked.

    Run answers from the cache at once, else submits a job: the server's worker processes compute it, so
    closing the tab does not stop it, and a second session asking for the same result joins it. A link or
    a first visit whose result is cached is drawn at once; one whose result a job is computing reattaches
    to that job; otherwise the page waits for Run (a link never starts a computation)."""
    job_executor()  # the server's pool starts with its first page (and marks jobs a dead server left running)
    sweep_panel.render(analysis)
    params, preset = form.params, form.preset
    if form.trigger == "submit":
        return _submit(analysis, params, preset)
    code = runs_code(analysis, params)
    if form.trigger == "link":
        st.session_state.pop(_job_key(analysis), None)
        if code:  # a link shows such values; only the user's Run runs them
            st.info(f"This link sets {', '.join(code)}, which run code on this server. Check the form and press "
                    "**Run** if you trust it.")
            return None
    if form.trigger is None:
        pending = st.session_state.get(_job_key(analysis))
        if pending is not None:
            return _follow(analysis, pending, form.display)
        view = st.session_state.get(cached_view.view_key(analysis))
        if view is None:
            st.info("Choose parameters in the sidebar and press **Run**.")
            return None
        params, preset = analysis.spec.validate({**view["params"], **form.display}), view["preset"]
    # A link or visit that names custom code is not hashed: hashing a module may import it.
    key = None if code and form.trigger is not None else cached_view.key_or_none(analysis, params)
    outcome = cached_view.from_cache(analysis, params, key) if key else None
    if outcome is not None:
        return cached_view.show(analysis, outcome, preset)
    job = job_store().get(key) if key else None
    if job is not None and job.active:  # reopened while its job runs: follow it again
        st.session_state[_job_key(analysis)] = {"key": key, "params": params, "preset": preset, "how": "reattached"}
        write_link(analysis, preset, params)
        return _follow(analysis, st.session_state[_job_key(analysis)], form.display)
    if form.trigger is None:  # this session's view, no longer cached (evicted): compute it again
        st.caption("This view's result is no longer in the cache; computing it again.")
        return _submit(analysis, params, preset)
    st.info("Choose parameters in the sidebar and press **Run**." if form.trigger == "visit" else
            "This link's result has not been computed on this server yet. Its parameters are in the sidebar: "
            "press **Run** to compute it.")
    return None


def submit_early(analysis: Analysis, params: dict[str, Any], preset: str) -> None:
    """Run pressed in the form's panel, a fragment that then reruns the whole page: submit the job already,
    so that a worker starts on it during that rerun (0.3-0.6 s on a loaded server) instead of after it.
    The rerun's `_submit` follows it. Nothing is submitted for a cached result, a key that cannot be computed
    (the rerun shows why), or the inline executor (the job would compute inside the panel)."""
    from analyses.core.jobs import InlineExecutor

    executor = job_executor()
    if isinstance(executor, InlineExecutor):
        return
    try:
        key = result_key(analysis, params)
    except Exception:  # noqa: BLE001 - the rerun's _submit shows the analysis' message
        return
    if result_store().has(analysis.name, key):
        return
    _, joined = job_store().submit(key, analysis.name, params, preset=preset,
                                   device=st.session_state.get("device", "auto"))
    st.session_state[_early_key(analysis)] = {"key": key, "params": params, "preset": preset,
                                              "how": "joined" if joined else "submitted"}
    executor.submit(key)


def _submit(analysis: Analysis, params: dict[str, Any], preset: str) -> Outcome | None:
    """Run: the cached result at once, else a job (joining one already computing the same result)."""
    early = st.session_state.pop(_early_key(analysis), None)
    try:
        key = result_key(analysis, params)
    except Exception as exc:  # a file that cannot be read: the analysis' own message, or a reference
        show_error(analysis, exc)
        return None
    if early is not None and early["key"] == key:  # submitted by the form's Run already: follow it (it may be
        pending = {**early, "params": params, "preset": preset}  # done and cached by now, computed for this Run)
    else:
        outcome = cached_view.from_cache(analysis, params, key)
        if outcome is not None:
            return cached_view.show(analysis, outcome, preset)
        _, joined = job_store().submit(key, analysis.name, params, preset=preset,
                                       device=st.session_state.get("device", "auto"))
        pending = {"key": key, "params": params, "preset": preset, "how": "joined" if joined else "submitted"}
        job_executor().submit(key)  # the pool's dispatcher takes it at once (inline: computed here and now)
    st.session_state[_job_key(analysis)] = pending
    write_link(analysis, preset, params)  # the link reattaches to this job while it runs
    if pending["how"] == "submitted":
        job_progress.await_first_report(key)
    return _follow(analysis, pending, {})


def _follow(analysis: Analysis, pending: Mapping[str, Any], display: Mapping[str, Any]) -> Outcome | None:
    """This session's job: its result when done, its end when stopped, else its progress, live."""
    key = pending["key"]
    params = analysis.spec.validate({**pending["params"], **display})
    job = job_store().get(key)
    if job is None or not job.active:
        st.session_state.pop(_job_key(analysis), None)
    if job is None:
        st.info("Choose parameters in the sidebar and press **Run**.")
        return None
    if job.status == "done":
        outcome = cached_view.from_cache(analysis, params, key)
        if outcome is None:
            st.warning("This run finished, but its result cannot be read from the cache (evicted to stay under "
                       "the cap, or discarded as corrupt). Press **Run** to compute it again.")
            return None
        return cached_view.show(analysis, replace(outcome, cache_hit=False), pending["preset"])  # computed for this request
    if job.status == "cancelled":
        st.warning("Run cancelled; its result was not cached (finished stages were). Press Run to go on.")
        return None
    if job.status == "interrupted":
        st.warning(f"**This run was interrupted.** {job.error or ''}")
        return None
    if job.status == "failed":
        st.error(f"**{analysis.title} could not run.** {job.error or ''}")
        return None
    if pending["how"] == "joined":
        st.info("Another session is already computing this same result: following it here (one computation "
                "for both).")
    elif pending["how"] == "reattached":
        st.info("This result is being computed on the server: following its job.")
    job_progress.job_progress(analysis.name, key)
    job_progress.live_preview(analysis.name, key, params)
    return None
