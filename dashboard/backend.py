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
