"""The form's version, carried by the browser: what you see is what runs.

A preset or a link writes the form on the server while the browser may still show the old values; a Run
pressed in that moment would send them. So every write bumps the form's version, the form carries it back
in a hidden field, and a submission from an older version gets the server's values instead.
"""

from __future__ import annotations

import streamlit as st

from dashboard.components.links import state_key


def bump(page: str) -> None:
    """The form was written on the server (a preset, a link, a value set from the page)."""
    key = state_key(page, "version")
    st.session_state[key] = st.session_state.get(key, 0) + 1


def stale(page: str) -> bool:
    """Whether the browser's values come from an older version of the form than the server's."""
    seen = st.session_state.get(state_key(page, "seen_version"))
    return seen is not None and seen != str(st.session_state.get(state_key(page, "version"), 0))


def marker(page: str) -> None:
    """The hidden field that carries the form's version back with every submission."""
    key = state_key(page, "seen_version")
    st.session_state[key] = str(st.session_state.get(state_key(page, "version"), 0))
    with st.container(key=f"labscope-version-{page}"):
        st.html(f"<style>.st-key-labscope-version-{page} {{display: none}}</style>")
        st.text_input("form version", key=key, label_visibility="collapsed")
