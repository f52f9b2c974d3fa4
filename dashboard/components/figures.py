"""Draw an outcome's figures in the chosen style: what is shown is what gets exported."""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from analyses.core import Outcome
from analyses.core.params import canonical_json
from dashboard.backend import styled_figures


def grid(outcome: Outcome, rows: Sequence[Sequence[str]], style: str) -> None:
    """Lay out named figures in rows; the 'screen' style stretches, paper styles show at their real size.

    Names the result has no figure for are left out, so one layout serves every variant of a result.
    """
    display = canonical_json(outcome.analysis.spec.display_params(outcome.params))
    figures = styled_figures(outcome.key, style, display, outcome)
    for row in rows:
        row = [name for name in row if name in figures]  # a result may lack a view (e.g. no optimizer path)
        if not row:
            continue
        for column, name in zip(st.columns(len(row)), row):
            with column:
                st.plotly_chart(
                    figures[name], theme=None, key=f"chart.{name}",
                    width="stretch" if style == "screen" else "content",
                    # The modebar's camera button downloads SVG from the browser, with or without Chromium here.
                    config={"toImageButtonOptions": {"format": "svg", "filename": name}, "displaylogo": False},
                )
