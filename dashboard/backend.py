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
    from analyses.core.export import apply_style

    # Titles are written above each chart on the page (text wraps; a Plotly title does not).
    figures = {name: apply_style(figure, style, title=False) for name, figure in _outcome.figures().items()}
    if style == "screen":  # on screen, fill the column; paper styles keep their physical size
        for figure in figures.values():
            figure.update_layout(width=None, autosize=True)
    return figures
