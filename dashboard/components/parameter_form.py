"""The sidebar form generated from an analysis' parameter spec.

Widgets live in a form, so moving a slider costs nothing until Run is pressed. The
submitted parameters are written to the URL query string and read back on a fresh load,
so a link reproduces the view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from analyses.core import Analysis, Bool, CallableRef, Choice, Float, InputFile, Int, ModelId, ParameterError, Text
from analyses.core.params import upload_id
from analyses.core.policy import CUSTOM_CODE_ENV, ServerPolicy, code_params
from dashboard.backend import result_store


@dataclass
class FormState:
    params: dict[str, Any]
    preset: str
    trigger: str | None  # "submit", "link" (parameters from the URL on first load) or None


def _key(analysis: Analysis, name: str) -> str:
    return f"{analysis.name}.{name}"


def _values_key(analysis: Analysis) -> str:
    return f"_values.{analysis.name}"


def server_policy() -> ServerPolicy:
    """What browser users may ask of this server (its owner's environment): confined server paths,
    and no code run from a form or link unless LABSCOPE_ALLOW_CUSTOM_CODE=1."""
    return ServerPolicy.from_env()


def custom_code_allowed() -> bool:
    """Whether browser users may make this server run code (its owner's choice)."""
    return server_policy().allow_custom_code


def validated(analysis: Analysis, preset: str | None, raw: dict[str, Any]) -> dict[str, Any]:
    """A form's or link's values validated under the server's policy (paths confined, code gated)."""
    return analysis.params(preset, raw, policy=server_policy())


def runs_code(analysis: Analysis, values: dict[str, Any]) -> list[str]:
    """The parameters whose values would run code: a link shows them but never runs them by itself."""
    return code_params(analysis.spec, values)


def _from_link(analysis: Analysis) -> tuple[str, dict[str, Any]] | None:
    """Parameters in the URL, validated; a bad link is reported and ignored."""
    query = {k: v for k, v in st.query_params.to_dict().items() if k in analysis.spec.names or k == "preset"}
    if not query:
        return None
    preset = query.pop("preset", "default")
    try:
        return preset, validated(analysis, preset, query)
    except ParameterError as exc:
        st.warning(f"The link's parameters were ignored: {exc}")
        return None


def _load(analysis: Analysis, values: dict[str, Any]) -> None:
    st.session_state[_values_key(analysis)] = dict(values)
    for p in analysis.spec:
        key = _key(analysis, p.name)
        if isinstance(p, InputFile):
            st.session_state[key] = p.to_text(values[p.name])  # an upload by its content id, not its server path
        else:
            st.session_state[key] = values[p.name]


def _apply_preset(analysis: Analysis) -> None:
    _load(analysis, analysis.params(st.session_state[_key(analysis, "_preset")]))


def _log_options(p: Float, current: float) -> list[float]:
    """A 1-2-5 series across the range, plus the current value."""
    options = {current}
    for exponent in range(math.floor(math.log10(p.min)), math.ceil(math.log10(p.max)) + 1):
        for mantissa in (1, 2, 5):
            value = float(f"{mantissa}e{exponent}")
            if p.min <= value <= p.max:
                options.add(value)
    return sorted(options)


def _widget(analysis: Analysis, p) -> Any:
    key = _key(analysis, p.name)
    common = dict(label=p.title, key=key, help=p.help or None)
    if p.runs_code and not custom_code_allowed():  # shown, but off: the server's owner decides
        common.update(disabled=True, help=f"{p.help} Off on this server: its owner can start it with "
                                          f"{CUSTOM_CODE_ENV}=1.".strip())
    if isinstance(p, Choice):
        return st.selectbox(options=p.choices, **common)
    if isinstance(p, Bool):
        return st.checkbox(**common)
    if isinstance(p, Float) and p.log:
        return st.select_slider(options=_log_options(p, st.session_state[key]), format_func=lambda v: f"{v:g}", **common)
    if isinstance(p, Int):
        return st.slider(min_value=int(p.min), max_value=int(p.max), step=int(p.step or 1), **common)
    if isinstance(p, Float):
        return st.slider(min_value=float(p.min), max_value=float(p.max), step=p.step, **common)
    if isinstance(p, InputFile):
        upload = st.file_uploader(p.title, type=[s.lstrip(".") for s in p.suffixes] or None,
                                  key=f"{key}.upload", help=p.help or None)
        path = st.text_input("...or a path on the server", key=key)
        if upload is not None:  # by content id: the link and the form never show the server's uploads folder
            stored = result_store().save_upload(upload.name, upload.getvalue())
            return upload_id(stored) or str(stored)
        return path
    if isinstance(p, ModelId):
        return st.text_input(**common)
    if isinstance(p, Text):
        return st.text_input(max_chars=p.max_length, **common)
    if isinstance(p, CallableRef):
        return st.text_input(**common)
    raise TypeError(f"no widget for {type(p).__name__}")


def render(analysis: Analysis) -> FormState:
    """Draw the preset picker and the parameter form; return the parameters to show."""
    first_visit = _values_key(analysis) not in st.session_state
    trigger = None
    preset_key = _key(analysis, "_preset")
    if first_visit:
        link = _from_link(analysis)
        preset, values = link if link else ("default", analysis.params("default"))
        trigger = "link" if link else None
        st.session_state[preset_key] = preset
        _load(analysis, values)
    else:  # widgets' state is dropped when the user visits another page: restore it
        for name, value in st.session_state[_values_key(analysis)].items():
            p = analysis.spec[name]
            st.session_state.setdefault(_key(analysis, name), p.to_text(value) if isinstance(p, InputFile) else value)
        st.session_state.setdefault(preset_key, "default")

    sidebar = st.sidebar
    sidebar.selectbox("Preset", list(analysis.presets), key=preset_key, on_change=_apply_preset, args=(analysis,),
                      help="Load a named set of parameters; 'smoke' runs in seconds.")
    with sidebar.form(f"form.{analysis.name}"):
        raw = {p.name: _widget(analysis, p) for p in analysis.spec}
        submitted = st.form_submit_button("Run", type="primary", width="stretch")

    values = st.session_state[_values_key(analysis)]
    if submitted:
        try:
            values = validated(analysis, None, raw)
        except ParameterError as exc:
            sidebar.error(str(exc))
            return FormState(values, st.session_state[preset_key], None)
        st.session_state[_values_key(analysis)] = values
        st.query_params.from_dict({"preset": st.session_state[preset_key],
                                   **{k: v for k, v in analysis.spec.to_text(values).items() if v != ""}})
        trigger = "submit"
    return FormState(values, st.session_state[preset_key], trigger)
