"""Paper export: one bundle with the figures, the plotted data and the provenance record."""

from __future__ import annotations

import json

import streamlit as st

from analyses.core import Outcome
from analyses.core import export
from dashboard.components import links


def style_picker(analysis_name: str) -> str:
    """The figure style of this page's charts; chosen beside the export (`style_select`), kept in the URL."""
    chosen = f"_style_value.{analysis_name}"
    linked = links.take(analysis_name, "style")
    if linked in export.STYLES:  # a link's unknown style is named by the form with the link's other problems
        st.session_state[chosen] = linked
    style = st.session_state.get(chosen, "screen")
    links.update({"style": None if style == "screen" else style})
    return style


def style_select(analysis_name: str) -> None:
    """The style picker, drawn with the export; a change redraws every chart in the new style."""
    key, chosen = f"_style.{analysis_name}", f"_style_value.{analysis_name}"
    st.session_state[key] = st.session_state.get(chosen, "screen")
    st.selectbox(
        "Figure style", list(export.STYLES), key=key, format_func=lambda n: export.STYLES[n].label,
        on_change=lambda: st.session_state.__setitem__(chosen, st.session_state[key]),
        help="Paper presets set the physical size, fonts and line widths; the charts show the figure as it exports.",
    )


def render(outcome: Outcome, style: str) -> None:
    name = outcome.analysis.name
    style_select(name)
    with st.expander("Export for a paper", expanded=False):
        chosen = export.get_style(style)
        st.caption(f"Style **{chosen.label}**: {chosen.width_in:.2f} x {chosen.height_in:.2f} in "
                   f"({chosen.width_mm:.0f} x {chosen.height_mm:.0f} mm), {chosen.font_family.split(',')[0]} "
                   f"{chosen.font_pt:g} pt, PNG at {chosen.dpi} dpi.")
        ok, why = export.export_available()
        formats = st.multiselect("Formats", ["png", "svg", "pdf"], default=["png", "svg", "pdf"],
                                 key=f"_formats.{name}", disabled=not ok)
        titles = titles_option(name, chosen)
        if not ok:
            st.info(f"{why} Until then, each chart's camera button downloads an SVG from your browser, "
                    "and the bundle below holds the plotted data and provenance.")
            formats = []
        if st.button("Prepare bundle", key=f"_bundle.{name}"):
            with st.spinner("Rendering figures..."):
                figures = outcome.figures() if formats else {}
                st.session_state[f"_bundle_bytes.{name}"] = export.bundle_bytes(
                    figures, outcome.result.tables, outcome.provenance(), formats=formats, style=style, title=titles)
        data = st.session_state.get(f"_bundle_bytes.{name}")
        if data:
            st.download_button("Download bundle (.zip)", data, file_name=f"{name}-{style}.zip",
                               mime="application/zip", key=f"_download.{name}")
    with st.expander("Provenance", expanded=False):
        st.code(json.dumps(outcome.provenance(), indent=2, default=str), language="json")


def titles_option(analysis_name: str, style: "export.FigureStyle") -> bool:
    """Whether exported figures draw their titles; a caption file beside each figure always holds them."""
    return st.checkbox(
        "Titles inside the figures", value=style.keeps_title, key=f"_titles.{analysis_name}.{style.name}",
        help="Papers put a figure's title in its caption: paper styles leave it out of the figure. Either way "
             "each figure comes with <name>.caption.txt holding its title and notes (tests, abbreviations, "
             "thresholds).")

