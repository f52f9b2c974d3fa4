"""Home: what labscope is and every analysis it knows, with its papers."""

import streamlit as st

from analyses.core import all_analyses
from dashboard.backend import result_store
from dashboard.navigation import analysis_page

st.title("labscope")
st.write(
    "Explore ML experiments one research-paper analysis at a time. Every page builds its controls from the "
    "analysis' parameter spec; results are cached on disk, so a setting seen before (in any session, or from "
    "the `labscope` CLI) answers at once. Figures export as PNG, SVG and PDF in journal sizes, with the plotted "
    "data and a provenance record."
)
for analysis in all_analyses().values():
    with st.container(border=True):
        st.page_link(analysis_page(analysis), label=f"**{analysis.title}**")
        st.write(analysis.summary)
        st.caption("  \n".join(analysis.papers))

info = result_store().info()
st.caption(f"Result cache: {info['entries']} entries, {info['bytes'] / 1e6:.1f} MB of "
           f"{info['max_bytes'] / 1e6:.0f} MB, in `{info['root']}`")
