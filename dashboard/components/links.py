"""The page's URL carries the whole view: the shown result's parameters, the display options, the figure
style and every view choice (an image, an observer, a checkpoint), so a copied link opens the same view.

Parameters: `read_link` turns a link into values (every bad one named), the form (`parameter_form`) fills
itself with them, and `write_link` puts what was computed back in the URL. A URL this session wrote
itself is not a link to open again. View choices go through `view_widget`, which restores the link's
choice when the widget first appears and writes the current one back.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import streamlit as st

from analyses.core import Analysis, ParameterError, export
from analyses.core.policy import refused_path
from dashboard.components.policy_gate import server_policy, validated

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


# --- A computation's parameters in the URL.

def state_key(page: str, what: str) -> str:
    """The session-state key of one of a page's form and link records."""
    return f"_{what}.{page}"


def canonical(query: Mapping[str, str]) -> str:
    return "&".join(f"{k}={query[k]}" for k in sorted(query))


def _relevant_query(analysis: Analysis) -> dict[str, str]:
    return {k: v for k, v in st.query_params.to_dict().items() if k in analysis.spec.names or k == "preset"}


def incoming_link(analysis: Analysis) -> dict[str, str] | None:
    """The URL's parameters if they are a link to open (not what this session wrote itself)."""
    query = _relevant_query(analysis)
    written = st.session_state.get(state_key(analysis.name, "written"), [])
    if not query or canonical(query) in written:
        return None
    return query


def remember_written(page: str, query: Mapping[str, str]) -> None:
    """Note a link as opened, so that finding it in the URL again does not reopen it."""
    st.session_state.setdefault(state_key(page, "written"), []).append(canonical(query))


def write_link(analysis: Analysis, preset: str, params: Mapping[str, Any]) -> None:
    """Put the computed parameters (and display options) in the URL; other entries (view choices) stay."""
    text = analysis.spec.to_text(params)
    query = {"preset": preset, **{k: v for k, v in text.items() if v != ""}}
    update({name: query.get(name) for name in ("preset", *analysis.spec.names)})
    written = st.session_state.setdefault(state_key(analysis.name, "written"), [])
    if canonical(query) not in written:
        written.append(canonical(query))
        del written[:-20]


def read_link(analysis: Analysis, query: dict[str, str]) -> tuple[str, dict[str, Any], list[str]]:
    """The link's preset and values, every bad one named and replaced by the preset's value."""
    problems: list[str] = []
    query = dict(query)
    preset = query.pop("preset", "default")
    if preset not in analysis.presets:
        problems.append(f"unknown preset {preset!r}; known: {', '.join(analysis.presets)}")
        preset = "default"
    values = analysis.params(preset)
    policy = server_policy()
    for name, text in query.items():
        p = analysis.spec[name]
        try:
            path = p.server_path(text)
            if path is not None and not policy.admits(path):  # before anything looks at the path
                raise refused_path(name)
            values[name] = p.coerce(text)
        except ParameterError as exc:
            problems.append(str(exc))
    style = st.query_params.get("style")
    if style is not None and style not in export.STYLES:
        problems.append(f"unknown figure style {style!r}; known: {', '.join(export.STYLES)}")
    if not problems:
        try:
            values = validated(analysis, None, values)
        except ParameterError as exc:
            problems.append(str(exc))
    return preset, values, problems
