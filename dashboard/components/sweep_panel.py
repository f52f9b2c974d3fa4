"""Sweep from a page: a grid over some parameters, around the form's values, submitted as jobs.

The grid is written as on the command line (`16,32,64`, or an integer range `0..9`) and parsed by
`analyses.core.sweep`, so a page's sweep and `labscope sweep` mean the same points. Every point is
validated under the server's policy before anything is submitted; cached points are skipped; the rest
become jobs sharing one sweep id, listed (and filtered by it) on the Jobs page.
"""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from analyses.core import Analysis, Bool, Choice, Float, Int, ParameterError, get
from analyses.core import sweep
from analyses.core.runner import result_key
from dashboard.backend import job_executor, job_store, result_store
from dashboard.components.parameter_form import current_values, validated

MAX_POINTS = 64  # a page's sweep stays small; larger grids belong to `labscope sweep` (or Dask)


def sweepable(analysis: Analysis) -> list[str]:
    """Numbers, choices and switches that change the result (display options redraw, files are one each)."""
    return [p.name for p in analysis.spec if not p.display and isinstance(p, (Int, Float, Choice, Bool))]


def points(analysis: Analysis, preset: str, base: dict[str, Any], grid: dict[str, str]) -> list[dict[str, Any]]:
    """Every point's full, validated values: the form's values with the grid's on top (cartesian product)."""
    preset_values = analysis.params(preset)
    differing = {k: v for k, v in base.items() if k not in grid and v != preset_values.get(k)}
    built = sweep.build(analysis, preset, [f"{k}={v}" for k, v in grid.items()], listed=[differing],
                        max_points=MAX_POINTS)
    return [validated(analysis, None, analysis.params(preset, point)) for point in built.points]


def submit(analysis: Analysis, preset: str, values: list[dict[str, Any]], device: str = "auto") -> dict[str, Any]:
    """Submit the points that are not cached as jobs of one sweep; what happened, for the page to say."""
    sweep_id, store, jobs, executor = uuid.uuid4().hex[:8], result_store(), job_store(), job_executor()
    cached = submitted = joined = 0
    for point in values:
        key = result_key(analysis, point)
        if store.has(analysis.name, key):
            cached += 1
            continue
        _, was_running = jobs.submit(key, analysis.name, point, preset=preset, device=device, sweep=sweep_id)
        joined += was_running
        submitted += not was_running
        executor.submit(key)
    return {"id": sweep_id, "points": len(values), "cached": cached, "submitted": submitted, "joined": joined}


def render(analysis: Analysis) -> None:
    with st.sidebar:
        _panel(analysis.name)


@st.fragment
def _panel(analysis_name: str) -> None:
    """A fragment: editing the grid reruns only this panel."""
    analysis = get(analysis_name)
    with st.expander("Sweep (a grid of runs as jobs)", expanded=False):
        chosen = st.multiselect("Parameters to sweep", sweepable(analysis), key=f"_sweep.{analysis_name}.params",
                                help="The other parameters keep the form's values.")
        try:
            base = analysis.spec.validate(current_values(analysis))
        except ParameterError as exc:
            st.error(f"Fix the form first: {exc}")
            return
        grid = {name: st.text_input(f"{name} values", analysis.spec[name].to_text(base[name]),
                                    key=f"_sweep.{analysis_name}.{name}", placeholder="e.g. 16,32,64 or 0..9",
                                    help="Comma-separated values, or an inclusive integer range such as 0..9.")
                for name in chosen}
        last = st.session_state.get(f"_sweep.{analysis_name}.last")
        if last is not None:
            st.success(f"Sweep `{last['id']}`: {last['submitted']} jobs submitted, {last['joined']} joined running "
                       f"ones, {last['cached']} already cached. [Follow them on Jobs](/jobs?sweep={last['id']}); "
                       "finished runs appear on Compare runs.")
        if not chosen:
            st.caption(f"Pick parameters, give each its values: every combination runs as a job (at most "
                       f"{MAX_POINTS} points).")
            return
        empty = [name for name, text in grid.items() if not (text or "").strip()]
        if empty:
            st.caption(f"Values needed for {', '.join(empty)}.")
            return
        preset = st.session_state.get(f"{analysis_name}._preset", "default")
        try:
            values = points(analysis, preset, base, grid)
        except ParameterError as exc:
            st.error(str(exc))
            return
        st.caption(f"{len(values)} points (at most {MAX_POINTS}).")
        st.button(f"Submit {len(values)} jobs", key=f"_sweep.{analysis_name}.submit", on_click=_submitted,
                  args=(analysis, preset, values))


def _submitted(analysis: Analysis, preset: str, values: list[dict[str, Any]]) -> None:
    """The button's callback: submitted before the panel redraws, which then says what happened."""
    st.session_state[f"_sweep.{analysis.name}.last"] = submit(analysis, preset, values,
                                                              device=st.session_state.get("device", "auto"))
