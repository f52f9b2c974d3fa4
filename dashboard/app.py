"""labscope's entry point: a router that lists the home page and one page per analysis."""

import streamlit as st

from dashboard.navigation import build_pages

st.set_page_config(page_title="labscope", page_icon=":material/biotech:", layout="wide")
st.sidebar.selectbox(
    "Compute device", ("auto", "cpu", "cuda"), key="device",
    help="Where analyses run. 'auto' takes a CUDA GPU when there is one; everything also runs on the CPU. "
         "The device is not part of the cache key.",
)
st.navigation(build_pages()).run()
