"""One Streamlit widget per kind of parameter: the form draws each knob of a spec with `widget`."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from analyses.core import Bool, CallableRef, Choice, Float, InputFile, Int, ModelId, Text
from analyses.core.params import upload_id
from analyses.core.policy import CUSTOM_CODE_ENV
from dashboard.backend import result_store
from dashboard.components.policy_gate import custom_code_allowed

def _log_options(p: Float, current: float) -> list[float]:
    """A 1-2-5 series across the range, plus the current value."""
    options = {current}
    for exponent in range(math.floor(math.log10(p.min)), math.ceil(math.log10(p.max)) + 1):
        for mantissa in (1, 2, 5):
            value = float(f"{mantissa}e{exponent}")
            if p.min <= value <= p.max:
                options.add(value)
    return sorted(options)


def typed_input(p) -> bool:
    """Seeds and numbers with more than 200 steps get a box to type in; a slider cannot hit a value there."""
    if p.name == "seed" or p.name.endswith("_seed"):
        return True
    span = p.max - p.min
    step = p.step or (1 if isinstance(p, Int) else span / 100)  # a float slider without a step has ~100
    return not math.isfinite(span) or span / (step or 1) > 200


def widget(p, key: str) -> Any:
    """The parameter's widget under `key` (its state there), its value as the browser sends it."""
    common = dict(label=p.title, key=key, help=p.help or None)
    if p.runs_code and not custom_code_allowed():  # shown, but off: the server's owner decides
        common.update(disabled=True, help=f"{p.help} Off on this server: its owner can start it with "
                                          f"{CUSTOM_CODE_ENV}=1.".strip())
    if isinstance(p, Choice):
        return st.selectbox(options=p.choices, **common)
    if isinstance(p, Bool):
        return st.checkbox(**common)
    if isinstance(p, Float) and p.log:
        return st.select_slider(options=_log_options(p, st.session_state[key]), format_func=lambda v: f"{v:g}",
                                   **common)
    if isinstance(p, Int) and typed_input(p):
        return st.number_input(min_value=int(p.min), max_value=int(p.max), step=int(p.step or 1), **common)
    if isinstance(p, Int):
        return st.slider(min_value=int(p.min), max_value=int(p.max), step=int(p.step or 1), **common)
    if isinstance(p, Float) and typed_input(p):
        return st.number_input(min_value=float(p.min), max_value=float(p.max), step=p.step, format="%g",
                                  **common)
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
