"""The dashboard's only Streamlit caching: one result store per server process.

The store's own disk cache is shared by every session, the CLI and restarts; holding one
instance per process adds its in-memory layer, so a revisited view redraws at once.
"""

from __future__ import annotations

import streamlit as st

from analyses.core import CacheStore


@st.cache_resource
def result_store() -> CacheStore:
    return CacheStore()


@st.cache_resource(max_entries=32, show_spinner=False)
def styled_figures(key: str, style: str, display: str, _outcome) -> dict:
    """An outcome's figures in one style, built once per (cache key, style, display options) for every session.

    Building and styling Plotly figures is most of a redraw's cost; the figures are only
    read afterwards (serialised to the browser or exported), so sharing them is safe.
    """
    return styled_figures_of(_outcome.figures(), style)


def styled_figures_of(figures: dict, style: str, title: bool = False) -> dict:
    """Figures in one style; on screen they fill the column, paper styles keep their physical size.
    `title=False` leaves the title out of the figure, for pages that write it above the chart."""
    from analyses.core.export import apply_style

    # Titles are written above each chart on the page (text wraps; a Plotly title does not).
    styled = {name: apply_style(figure, style, title=title) for name, figure in figures.items()}
    if style == "screen":  # on screen, fill the column; paper styles keep their physical size
        for figure in styled.values():
            figure.update_layout(width=None, autosize=True)
    return styled


@st.cache_resource(show_spinner=False)
def job_executor():
    """Where pages' jobs run, started once per server: the pool of worker processes (LABSCOPE_WORKERS,
    default 2), or with LABSCOPE_EXECUTOR=inline the submitting script itself (page tests).

    Starting the pool marks jobs an earlier server left running as interrupted."""
    from analyses.core.jobs import make_executor

    return make_executor(result_store().root)


@st.cache_resource(show_spinner=False)
def job_store():
    """The job table (one instance per server process: pages read it several times a second while following
    a job, and opening it checks its schema)."""
    from analyses.core.jobs import JobStore

    return JobStore(result_store().root)


@st.cache_resource(show_spinner=False)
def preview_store():
    """Where workers leave a running job's partial result for the pages following it."""
    from analyses.core.jobs import preview_store as store

    return store(result_store().root)
