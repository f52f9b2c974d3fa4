"""labscope's entry point: the access gate, then a router that lists the home page and one page per analysis."""

import streamlit as st

from dashboard.access import gate
from dashboard.navigation import build_pages

st.set_page_config(page_title="labscope", page_icon=":material/biotech:", layout="wide")
gate()  # before anything else renders: without the server's token (when it has one), only a prompt
st.sidebar.selectbox(
    "Compute device", ("auto", "cpu", "cuda"), key="device",
    help="Where analyses run. 'auto' takes a CUDA GPU when there is one; everything also runs on the CPU. "
         "The device is not part of the cache key.",
)
st.navigation(build_pages()).run()
