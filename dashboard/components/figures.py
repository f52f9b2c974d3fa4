"""Draw an outcome's figures in the chosen style: what is shown is what gets exported.

On the page every figure is drawn without its title: the title is written above it and the caption (the
statistics' tests, abbreviations, thresholds) below, as text that wraps to any column width. That is
also how a paper style exports it: the figure, and its title and notes in a caption file beside it.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import plotly.graph_objects as go
import streamlit as st

from analyses.core import Outcome
from analyses.core.export import caption_notes, figure_title
from analyses.core.params import canonical_json
from dashboard.backend import styled_figures


def markdown_text(text: str) -> str:
    """Plain text shown literally by st.markdown (no emphasis from `_`, no LaTeX from `$`, no tables from `|`)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~])", r"\\\1", text)


def show(name: str, figure: go.Figure, style: str, **chart: object):
    """One figure: its title above, the chart (stretched on screen, at its physical size in a paper style),
    its caption notes below. Returns st.plotly_chart's value (the selection, for clickable charts)."""
    title = figure_title(figure)
    if title:
        st.markdown(f"**{markdown_text(title)}**")
    state = st.plotly_chart(
        figure, theme=None, key=f"chart.{name}", width="stretch" if style == "screen" else "content",
        # The modebar's camera button downloads SVG from the browser, with or without Chromium here.
        config={"toImageButtonOptions": {"format": "svg", "filename": name}, "displaylogo": False}, **chart)
    notes = caption_notes(figure)
    if notes:
        st.caption(markdown_text(" ".join(notes)))
    return state


def grid(outcome: Outcome, rows: Sequence[Sequence[str]], style: str,
         clickable: Mapping[str, Callable[[go.Figure], go.Figure]] | None = None) -> dict[str, list[dict]]:
    """Lay out named figures in rows; the 'screen' style stretches, paper styles show at their real size.

    Names the result has no figure for are left out, so one layout serves every variant of a result.
    `clickable` maps a figure's name to a function that adds what a click can select (on a copy: the
    export stays clean); the points clicked in those figures are returned by name.
    """
    display = canonical_json(outcome.analysis.spec.display_params(outcome.params))
    figures = styled_figures(outcome.key, style, display, outcome)
    clickable = clickable or {}
    clicked: dict[str, list[dict]] = {}
    for row in rows:
        row = [name for name in row if name in figures]  # a result may lack a view (e.g. no optimizer path)
        if not row:
            continue
        for column, name in zip(st.columns(len(row)), row):
            figure = clickable[name](go.Figure(figures[name])) if name in clickable else figures[name]
            with column:
                state = show(name, figure, style,
                             **({"on_select": "rerun", "selection_mode": "points"} if name in clickable else {}))
            if name in clickable:
                clicked[name] = list(state.get("selection", {}).get("points", []))
    return clicked
