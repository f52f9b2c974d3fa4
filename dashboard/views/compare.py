"""Compare runs: every cached result of one analysis side by side.

Sidebar: the analysis, and the parameters to group by (all that differ except seeds, by default).
Main area: the runs (filter, sort, select); the groups with exact statistics and the grid's missing cells
(computed as jobs on request); a metric against a swept
parameter with error bars; curves from the runs' tables with seed bands; parallel coordinates; which
parameters matter for a metric; the export (figures, tables, every run's provenance, LaTeX).
"""

import streamlit as st

from analyses.core import all_analyses, compare, compare_figures, export
from dashboard.backend import styled_figures_of
from dashboard.components import compare_views
from dashboard.components.figures import show

st.title("Compare runs")
analyses = all_analyses()
names = list(analyses)
chosen = st.query_params.get("analysis", names[0])
analysis = analyses[st.sidebar.selectbox("Analysis", names, index=names.index(chosen) if chosen in names else 0,
                                         format_func=lambda n: analyses[n].title, key="_compare.analysis")]
st.query_params["analysis"] = analysis.name

table, params, metrics = compare_views.load_runs(analysis)
if table.empty:
    st.info(f"No cached runs of {analysis.title} yet: run it from its page, or `labscope run {analysis.name}` "
            "(or a sweep), and they appear here.")
    st.stop()

differing = compare.differing(table, params)
st.caption(f"{len(table)} cached runs of {analysis.title}; {len(differing)} parameters differ between them.")
table = compare_views.filtered(table, differing, metrics)
table = compare_views.run_table(table, differing, metrics)

by = st.sidebar.multiselect("Group by", differing, default=[p for p in differing if "seed" not in p],
                            key="_compare.by", help="Runs that agree on these parameters form a group (seeds collapse).")
error = st.sidebar.radio("Error bars", ("sem", "ci95"), format_func={"sem": "standard error",
                                                                      "ci95": "95% t interval"}.get,
                         key="_compare.error")
style = st.sidebar.selectbox("Figure style", list(export.STYLES), key="_compare.style")

st.subheader("Groups")
groups = compare_views.groups_table(table, by, metrics)
compare_views.fill_gaps(analysis, table, params, differing)
figures = {}


def draw(name: str, figure) -> None:
    """Show a view where it belongs (title above, caption below) and keep it for the export."""
    figures[name] = figure
    show(f"compare.{name}", styled_figures_of({name: figure}, style)[name], style)


with_values = [m for m in metrics if table[m].notna().any()]
if by and with_values:
    st.subheader("A metric against a parameter")
    left, right = st.columns(2)
    metric = left.selectbox("Metric", with_values, key="_compare.metric")
    x = right.selectbox("Against", by, key="_compare.x")
    draw("metric_against", compare_figures.metric_against(table, metric, x, [b for b in by if b != x], error))
    st.subheader("Curves")
    curve = compare_views.run_curves(analysis, table, by)
    if curve is not None:
        draw("curves", curve)
    if len(differing) and len(table) > 1:
        st.subheader("Across parameters")
        draw("parallel", compare_figures.parallel(table, differing, [metric], metric))
        ranked = compare.importance(table, differing, metric)
        if len(ranked):  # its caption says how many runs it rests on
            draw("importance", compare_figures.importance_bars(ranked, metric))
compare_views.export_bundle(analysis, figures, table, groups if by else None, by, metrics, style)
