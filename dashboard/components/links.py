"""The page's URL carries the whole view: the shown result's parameters, the display options, the figure
style and every view choice (an image, an observer, a checkpoint), so a copied link opens the same view.

Parameters are read and written by the form (`parameter_form`); view choices go through `view_widget`,
which restores the link's choice when the widget first appears and writes the current one back.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import streamlit as st

_PENDING = "_link_view.{page}"  # the link's view choices not yet applied to their widgets


def update(values: Mapping[str, str | None]) -> None:
    """Set (None: remove) query parameters, touching the URL only where something changed."""
    for name, value in values.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def hold_view(page: str, choices: Mapping[str, str]) -> None:
    """Keep a link's view choices until their widgets are drawn (after the result they belong to exists)."""
    st.session_state[_PENDING.format(page=page)] = dict(choices)


def take(page: str, name: str) -> str | None:
    """Remove and return a link's pending view choice `name`, if it has one."""
    return st.session_state.get(_PENDING.format(page=page), {}).pop(name, None)


def view_widget(page: str, name: str, widget: Callable, label: str, options: Sequence[Any], *, key: str,
                **kwargs) -> Any:
    """A view choice (it redraws from the cached result, never recomputes) that travels in the URL as `name`.

    `widget` is a Streamlit choice widget taking `options` (`st.selectbox`, `column.select_slider`, ...).
    A link's value that is not among the options is named in a warning, and the widget keeps its default.
    """
    pending = st.session_state.get(_PENDING.format(page=page), {})
    if name in pending:
        text = pending.pop(name)
        match = [option for option in options if str(option) == text]
        if match:
            st.session_state[key] = match[0]
            kwargs = {k: v for k, v in kwargs.items() if k not in ("value", "index")}  # the session value wins
        else:
            st.warning(f"The link's {name}={text!r} is not in this result; showing another one instead.")
    value = widget(label, options, key=key, **kwargs)
    update({name: None if value is None else str(value)})
    return value
