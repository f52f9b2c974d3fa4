"""labscope's entry point: the access gate, then a router that lists the home page and one page per analysis."""

import streamlit as st

from dashboard.access import gate
from dashboard.navigation import build_pages

st.set_page_config(page_title="labscope", page_icon=":material/biotech:", layout="wide")


@st.cache_resource(show_spinner=False)
def _devices() -> tuple[str, ...]:
    """'cuda' only where torch sees a GPU (torch is imported only where a GPU driver is present)."""
    from pathlib import Path

    if not (Path("/dev/nvidiactl").exists() or Path("/dev/kfd").exists()):
        return ("auto", "cpu")
    import torch

    return ("auto", "cpu", "cuda") if torch.cuda.is_available() else ("auto", "cpu")


gate()  # before anything else renders: without the server's token (when it has one), only a prompt
st.sidebar.selectbox(
    "Compute device", _devices(), key="device",
    help="Where analyses run. 'auto' takes a CUDA GPU when there is one; everything also runs on the CPU. "
         "The device used is recorded in the provenance; it is not part of the cache key.",
)
st.navigation(build_pages()).run()
