"""The sidebar form generated from an analysis' parameter spec.

Parameters sit in the spec's sections (rarely changed ones closed); a parameter whose `visible_if` does not
hold is hidden and keeps its value. The form is a fragment: editing it redraws only the sidebar, and nothing
computes until **Run**. Display options live below it, outside the Run panel: they redraw the shown result
at once. A link's parameters fill the form; the URL is written from what was computed (`write_link`).

What you see is what runs: every write bumps the form's version, and a submission from an older version
gets the server's values before anything runs (`form_version`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, InputFile, ParameterError, get
from dashboard.components import form_version, links
from dashboard.components.links import write_link
from dashboard.components.parameter_widgets import typed_input, widget
from dashboard.components.policy_gate import custom_code_allowed, runs_code, server_policy, validated

# The server's policy and the URL written from what was computed are the form's too: pages take them from here.
__all__ = ["FormState", "render", "set_values", "typed_input", "write_link", "custom_code_allowed", "runs_code",
           "server_policy", "validated"]


@dataclass
class FormState:
    params: dict[str, Any]  # what Run computes ("submit") or the link asks for ("link"); display options current
    preset: str
    trigger: str | None  # "submit" (Run), "link" or "visit" (the first visit: drawn at once if cached), or None
    display: dict[str, Any] = field(default_factory=dict)  # display options as set now: they redraw without Run


def _key(analysis: Analysis, name: str) -> str:
    return f"{analysis.name}.{name}"


def _state_key(analysis: Analysis, what: str) -> str:
    return links.state_key(analysis.name, what)


# --- The form's values: one dict per analysis in the session, written by presets, links and widgets.

def _shown(p, value: Any) -> Any:
    """A parameter's value as its widget holds it (a file by its text: an upload's content id, or empty)."""
    return p.to_text(value) if isinstance(p, InputFile) else value


def _form(analysis: Analysis) -> dict[str, Any]:
    return st.session_state[_state_key(analysis, "form")]


def _push(analysis: Analysis, values: Mapping[str, Any]) -> None:
    """Write values into the form (every widget, drawn or not) and bump its version. Call before drawing."""
    form = {p.name: _shown(p, values[p.name]) for p in analysis.spec}
    st.session_state[_state_key(analysis, "form")] = form
    for name, value in form.items():
        st.session_state[_key(analysis, name)] = value
    form_version.bump(analysis.name)


def set_values(analysis_name: str, values: Mapping[str, Any]) -> None:
    """Change some of the form's values from elsewhere on the page (a callback: before the form is drawn)."""
    analysis = get(analysis_name)
    _push(analysis, {**_form(analysis), **values})


def current_values(analysis: Analysis) -> dict[str, Any]:
    """The form's values as it shows them now, before Run (what a sweep from the page varies around)."""
    return dict(_form(analysis))


def _apply_preset(analysis_name: str) -> None:
    analysis = get(analysis_name)
    preset = st.session_state[_key(analysis, "_preset")]
    display = {p.name: _form(analysis)[p.name] for p in analysis.spec if p.display}  # a view choice: kept
    _push(analysis, {**analysis.params(preset), **display})


# --- Links: a link opened fills the form.

def _open_link(analysis: Analysis, query: dict[str, str]) -> tuple[str, dict[str, Any] | None]:
    preset, values, problems = links.read_link(analysis, query)
    _push(analysis, values)
    st.session_state[_key(analysis, "_preset")] = preset
    st.session_state.pop(f"_view.{analysis.name}", None)  # a link shows what it asks for, or nothing
    links.hold_view(analysis.name, {k: v for k, v in st.query_params.to_dict().items()
                                    if k not in analysis.spec.names and k != "preset"})
    links.remember_written(analysis.name, query)
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        st.warning(f"**This link has {len(problems)} value{'s' if len(problems) > 1 else ''} that could not be "
                   f"used**; the form holds the rest, with the preset's value for each of these:\n{listed}")
        return preset, None
    return preset, values


def _draw(analysis: Analysis, p) -> None:
    """One parameter's widget, initialised from the form (its widget state is dropped while hidden)."""
    key = _key(analysis, p.name)
    if key not in st.session_state:
        st.session_state[key] = _form(analysis)[p.name]
    _form(analysis)[p.name] = widget(p, key)


def _current(analysis: Analysis) -> dict[str, Any]:
    """The values as the browser holds them now: what decides which parameters apply."""
    return {name: st.session_state.get(_key(analysis, name), value) for name, value in _form(analysis).items()}


@st.fragment
def _panel(analysis_name: str) -> None:
    """Preset, Run and the parameters by section. A fragment: editing reruns the sidebar only."""
    analysis = get(analysis_name)
    if form_version.stale(analysis.name):  # the browser sent values from before a preset or link wrote the form
        for name, value in _form(analysis).items():
            st.session_state[_key(analysis, name)] = value
    st.selectbox("Preset", list(analysis.presets), key=_key(analysis, "_preset"), on_change=_apply_preset,
                 args=(analysis.name,),
                 help="Load a named set of parameters into the form: 'smoke' is the smallest set-up, for a first "
                      "look; 'default' the paper-like one.")
    run = st.button("Run", key=_state_key(analysis, "run"), type="primary", width="stretch")
    message = st.empty()
    current = _current(analysis)
    for section, params in analysis.spec.sections():
        shown = [p for p in params if not p.display and p.visible(current)]
        if shown:
            with st.expander(section, expanded=section not in analysis.spec.collapsed):
                for p in shown:
                    _draw(analysis, p)
    form_version.marker(analysis.name)

    try:
        values = analysis.spec.validate(_form(analysis))
    except ParameterError as exc:
        values, problem = None, exc
    if run:
        try:
            if values is None:
                raise problem
            values = validated(analysis, None, values)  # under the server's policy: paths confined, code gated
        except ParameterError as exc:
            message.error(str(exc))
            return
        preset = st.session_state[_key(analysis, "_preset")]
        st.session_state[_state_key(analysis, "pending")] = (preset, values)
        from dashboard.components.run_status import submit_early  # run_status imports this module

        submit_early(analysis, values, preset)  # a worker starts while the page reruns
        st.rerun()


def _display_options(analysis: Analysis) -> dict[str, Any]:
    """Display options, outside the Run panel: changing one redraws the shown result from the cache."""
    shown = [p for p in analysis.spec if p.display and p.visible(_current(analysis))]
    if shown:
        with st.sidebar.expander("Display (redraws at once)", expanded=True):
            for p in shown:
                _draw(analysis, p)
    return {p.name: _form(analysis)[p.name] for p in analysis.spec if p.display}


def render(analysis: Analysis) -> FormState:
    """Draw the preset picker, the parameter form and the display options; say what to show."""
    trigger, params = None, {}
    link = links.incoming_link(analysis)
    if _state_key(analysis, "form") not in st.session_state or link is not None:
        _, values = _open_link(analysis, link or {})
        if values is not None:
            trigger, params = ("link" if link else "visit"), values
    else:  # widgets' state is dropped when the user visits another page: `_draw` restores it from the form
        st.session_state.setdefault(_key(analysis, "_preset"), "default")

    with st.sidebar:
        _panel(analysis.name)
    display = _display_options(analysis)
    preset = st.session_state[_key(analysis, "_preset")]
    pending = st.session_state.pop(_state_key(analysis, "pending"), None)
    if pending is not None:  # Run was pressed in the panel: these are the values it validated
        trigger, (preset, params) = "submit", pending
    if params:
        params = analysis.spec.validate({**params, **display})
    return FormState(params, preset, trigger, display)
