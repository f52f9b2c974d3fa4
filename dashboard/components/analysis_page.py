"""Pieces every analysis page starts with, and the page for analyses that bring none of their own."""

from __future__ import annotations

import streamlit as st

from analyses.core import Analysis, get
from dashboard.components import export_panel, figures, parameter_form, run_status


def header(name: str) -> Analysis:
    analysis = get(name)
    st.title(analysis.title)
    st.write(analysis.summary)
    st.caption("  \n".join(analysis.papers))
    return analysis


def generic_page(name: str) -> None:
    """Every figure in a column, every metric in a table: enough for a third-party analysis."""
    analysis = header(name)
    form = parameter_form.render(analysis)
    style = export_panel.style_picker(name)
    outcome = run_status.compute(analysis, form)
    if outcome is None:
        return
    st.dataframe({"metric": list(outcome.result.metrics), "value": list(outcome.result.metrics.values())})
    figures.grid(outcome, [[n] for n in outcome.figures()], style)
    export_panel.render(outcome, style)

