"""The access token, checked before any page renders (the way Jupyter Server does it).

`labscope serve` off localhost sets LABSCOPE_TOKEN (printed at start, or the owner's own) in the
server's environment. A browser session shows a token prompt and nothing else until it presents the
token, once: as `?token=...` in the URL (removed from the address bar at once, so links people copy
never carry it) or typed into the prompt. The session then stays open; a new session (a reload,
another tab) asks again. Without LABSCOPE_TOKEN the gate is open.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

TOKEN_ENV = "LABSCOPE_TOKEN"
_GRANTED = "_labscope.access_granted"


def required_token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def _matches(offered: str, token: str) -> bool:
    return hmac.compare_digest(offered.strip().encode(), token.encode())


def gate() -> None:
    """Return when this session may see the dashboard; otherwise draw the prompt and stop the script."""
    token = required_token()
    if token is None or st.session_state.get(_GRANTED):
        return
    offered = st.query_params.get("token")
    if offered is not None:
        del st.query_params["token"]  # out of the address bar: a copied link never carries the token
        if _matches(offered, token):
            st.session_state[_GRANTED] = True
            return
    st.header("Access token required")
    st.write("This labscope server asks for the access token its owner got when starting it "
             "(`labscope serve` prints it, or it is the server's `LABSCOPE_TOKEN`).")
    with st.form("labscope.token"):
        typed = st.text_input("Token", type="password")
        submitted = st.form_submit_button("Open")
    if offered is not None or submitted:
        if submitted and _matches(typed, token):
            st.session_state[_GRANTED] = True
            st.rerun()
        st.error("That token is not valid for this server.")
    st.stop()
