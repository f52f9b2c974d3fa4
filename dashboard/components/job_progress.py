"""Following a job on its page: progress, time left and Cancel, and the live preview, each a fragment
that rereads the shared job table and preview store on its own timer while the rest of the page stays put."""

from __future__ import annotations

import time
from typing import Any, Mapping

import streamlit as st

from analyses.core import CorruptEntry, get
from dashboard.backend import job_store, preview_store


def time_left(elapsed: float, fraction: float) -> str:
    """A rough estimate from the rate so far; silent until there is something to extrapolate."""
    if fraction < 0.02 or elapsed < 2.0 or fraction >= 1.0:
        return ""
    seconds = elapsed * (1.0 - fraction) / fraction
    return f"about {seconds:.0f} s left" if seconds < 90 else f"about {seconds / 60:.0f} min left"


# How often a page following a job reads its progress (one SQLite read).
# At twice a second, the browsers of two following tabs took 60% of a core and other pages opened slower.
POLL_S = 1.0
PREVIEW_POLL_S = 1.5  # how often it redraws the live preview (a round of figure JSON to the browser)
FIRST_REPORT_WAIT_S = 0.8  # how long Run waits for a just-submitted job's first progress report


def await_first_report(key: str) -> None:
    """Right after Run: wait a moment for the worker's first progress report.

    The page's first draw then shows the worker's message, not a placeholder until the first poll.
    A free worker reports within a tenth of a second idle and a few tenths on a loaded machine.
    So this costs a few SQLite reads; a job queued behind others, or slow to report, is followed by polling."""
    jobs = job_store()
    deadline = time.monotonic() + FIRST_REPORT_WAIT_S
    while time.monotonic() < deadline:
        job = jobs.get(key)
        if job is None or not job.active or job.message or (job.status == "queued" and jobs.ahead_of(job)):
            return
        time.sleep(0.03)


@st.fragment(run_every=POLL_S)
def job_progress(analysis_name: str, key: str) -> None:
    """Progress, time left and Cancel, read from the job table once a second; the page reruns when it ends."""
    jobs = job_store()
    job = jobs.get(key)
    if job is None or not job.active:
        st.rerun(scope="app")
    if job.status == "queued":
        ahead = jobs.ahead_of(job)
        st.progress(0.0, text="queued: waiting for a free worker" + (f" ({ahead} jobs ahead)" if ahead else ""))
    else:
        left = time_left(job.elapsed(), job.progress)
        text = f"{job.message} · {left}" if left and job.message else job.message or left or "starting"
        st.progress(min(max(job.progress, 0.0), 1.0), text=text)
    if job.cancel:
        st.caption("Cancelling: the job stops at its next progress report.")
    else:
        st.button("Cancel run", key=f"_cancel.{analysis_name}", on_click=jobs.cancel, args=(key,),
                  help="Stop this computation (for every session following it). Finished parts, such as stages "
                       "or grid cells, stay cached.")
    st.caption("This runs in the server's worker processes: closing the tab does not stop it. Reopen this page "
               "or its link to follow it again; every run is listed on [Jobs](/jobs).")


@st.fragment(run_every=PREVIEW_POLL_S)
def live_preview(analysis_name: str, key: str, params: Mapping[str, Any]) -> None:
    """The analysis' preview figures of the finished part, as the worker last left it in the shared store."""
    analysis = get(analysis_name)
    job = job_store().get(key)
    if analysis.preview is None or job is None or not job.previews:
        return
    state_key = f"_preview.{analysis_name}"
    drawn = st.session_state.get(state_key)
    if drawn is None or drawn[0] != (key, job.previews):
        try:
            partial = preview_store().read(f"{analysis_name}.preview", key)
        except CorruptEntry:
            partial = None  # being replaced by the next one
        if partial is not None:
            drawn = st.session_state[state_key] = ((key, job.previews), analysis.preview(partial, params))
    if drawn is None or drawn[0][0] != key:
        return
    st.caption("Live preview of the finished part; the full figures follow when the run ends.")
    built = drawn[1]
    for column, (name, figure) in zip(st.columns(max(1, min(2, len(built)))), built.items()):
        column.plotly_chart(figure, key=f"_preview.{analysis_name}.{name}.{drawn[0][1]}")
