"""Jobs: every computation the dashboard runs, from every session; they go on when their tab is closed.

A table refreshed every second: analysis, status, progress, elapsed time, the parameters that differ from
the preset, the sweep a job belongs to, a link to the view (which reattaches to a running job), and Cancel
for what is still running. `?sweep=ID` lists one sweep's jobs (the link a page's sweep gives).
"""

import time
from collections import Counter

import pandas as pd
import streamlit as st

from analyses.core import all_analyses
from analyses.core.jobs import differing_from_preset, view_link
from dashboard.backend import job_executor, job_store

st.title("Jobs")
st.caption("Runs started from any page, by any session. They go on in the server's worker processes when the "
           "browser tab is closed; open a job's view to follow it there. A server restart marks unfinished jobs "
           "interrupted: their finished parts stay cached, so running them again does only the rest.")
job_executor()  # started with the server's first page: marks what an earlier server left running


@st.fragment(run_every=1.0)
def job_list() -> None:
    analyses = all_analyses()
    jobs = [j for j in job_store().list() if j.analysis in analyses]
    sweep = st.query_params.get("sweep")
    if sweep:
        jobs = [j for j in jobs if j.sweep == sweep]
        st.caption(f"The jobs of sweep `{sweep}`. [Every job](/jobs)")
    if not jobs:
        st.info("No jobs yet. Press **Run** on an analysis page.")
        return
    counts = Counter(j.status for j in jobs)
    st.markdown(" · ".join(f"**{status}** {counts[status]}" for status in
                           ("queued", "running", "done", "failed", "cancelled", "interrupted") if counts[status]))
    now = time.time()
    rows = [{"analysis": analyses[j.analysis].title, "status": j.status, "progress": j.progress,
             "elapsed (s)": round(j.elapsed(now), 1),
             "parameters (vs preset)": ", ".join(f"{k}={v}" for k, v in differing_from_preset(analyses[j.analysis], j).items())
             or f"preset {j.preset}", "message": j.error or j.message, "view": view_link(analyses[j.analysis], j),
             "sweep": j.sweep or "", "job": j.id[:12]} for j in jobs]
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "view": st.column_config.LinkColumn("view", display_text="open")})
    for job in (j for j in jobs if j.active):
        if st.button(f"Cancel {analyses[job.analysis].title} ({job.id[:12]})", key=f"_jobs.cancel.{job.id}"):
            job_store().cancel(job.id)


job_list()
