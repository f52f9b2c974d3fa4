"""The pieces of the Compare runs page: the run table with its filters, groups, views and the export."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import streamlit as st

from analyses.core import compare, compare_figures, export
from analyses.core.analysis import Analysis
from dashboard.backend import result_store


def load_runs(analysis: Analysis) -> tuple[pd.DataFrame, list[str], list[str]]:
    return compare.runs_table(compare.cached_runs(result_store(), analysis.name))


def filtered(table: pd.DataFrame, params: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Filters on any differing parameter (values to keep) and on one metric (a range)."""
    with st.expander("Filter runs", expanded=False):
        keep = pd.Series(True, index=table.index)
        for name in params:
            values = sorted(table[name].astype(str).unique())
            chosen = st.multiselect(name, values, default=values, key=f"_compare.filter.{name}")
            keep &= table[name].astype(str).isin(chosen)
        numeric = [m for m in metrics if table[m].notna().any()]
        if numeric:
            metric = st.selectbox("Metric range", ["(none)", *numeric], key="_compare.filter.metric")
            if metric != "(none)":
                low, high = float(table[metric].min()), float(table[metric].max())
                if low < high:
                    chosen = st.slider(metric, low, high, (low, high), key=f"_compare.range.{metric}")
                    keep &= table[metric].between(*chosen) | table[metric].isna()
    return table[keep]


def run_table(table: pd.DataFrame, params: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Every run (differing parameters, metrics, when, how long, key), sortable; selected rows narrow the views."""
    shown = table[[*params, *metrics, *compare.RUN_COLUMNS]]
    state = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key="_compare.runs")
    rows = state.get("selection", {}).get("rows", []) if state else []
    if rows:
        st.caption(f"{len(rows)} selected runs are compared below; clear the selection to compare all.")
        return table.iloc[rows]
    return table


def groups_table(table: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    groups = compare.group(table, by, metrics)
    st.dataframe(groups, hide_index=True)
    st.caption("Per group: N runs; for every metric its mean, standard deviation (N − 1), standard error and "
               "95% interval from Student's t, over all runs of the group. A metric some runs lack is "
               "aggregated over those that have it (`<metric>_n`).")
    return groups


def run_curves(analysis: Analysis, table: pd.DataFrame, by: Sequence[str]):
    """A table every run has (training curves, an interpolation path), overlaid per group with seed bands."""
    store = result_store()
    first = store.read(analysis.name, table.key.iloc[0])
    if first is None:
        return None
    candidates = {name: frame for name, frame in first.tables.items()
                  if len(frame) > 1 and frame.select_dtypes("number").shape[1] >= 2}
    if not candidates:
        return None
    columns = st.columns(3)
    name = columns[0].selectbox("Curve table", list(candidates), key="_compare.curve.table")
    numeric = list(candidates[name].select_dtypes("number").columns)
    x = columns[1].selectbox("x", numeric, key="_compare.curve.x")
    y = columns[2].selectbox("y", [c for c in numeric if c != x], key="_compare.curve.y")
    frames = []
    for _, run in table.iterrows():
        result = store.read(analysis.name, run.key)
        if result is not None and name in result.tables and {x, y} <= set(result.tables[name].columns):
            frames.append((tuple(run[b] for b in by), result.tables[name]))
    return compare_figures.curves(frames, by, x, y) if frames else None


def fill_gaps(analysis: Analysis, table: pd.DataFrame, params: Sequence[str], axes: Sequence[str]) -> None:
    """Offer to compute the grid's empty cells as jobs; the page reruns as they land."""
    from analyses.core import InputError
    from analyses.core.runner import result_key
    from dashboard.backend import job_executor, job_store

    try:
        missing = compare.missing_points(table, params, axes)
    except InputError as exc:
        st.caption(f"Missing cells: {exc}")
        return
    pending = st.session_state.setdefault("_compare.pending", [])
    if missing:
        st.warning(f"{len(missing)} cells of the grid over {', '.join(axes)} have no run: "
                   + "; ".join(", ".join(f"{k}={point[k]}" for k in axes) for point in missing[:6])
                   + (" ..." if len(missing) > 6 else ""))
        if st.button(f"Compute the {len(missing)} missing runs", key="_compare.fill"):
            jobs, executor = job_store(), job_executor()
            for point in missing:
                values = analysis.spec.validate(point)
                key = result_key(analysis, values)
                jobs.submit(key, analysis.name, values, preset=None)
                executor.submit(key)
                pending.append(key)
    if pending:
        _follow(pending)


@st.fragment(run_every=2.0)
def _follow(pending: list[str]) -> None:
    """While submitted cells compute, say how many remain; rerun the page when one lands."""
    from dashboard.backend import job_store

    jobs = [job_store().get(key) for key in pending]
    active = [j for j in jobs if j is not None and j.active]
    finished = len(pending) - len(active)
    if finished:
        failed = [j for j in jobs if j is not None and j.status in ("failed", "cancelled", "interrupted")]
        pending[:] = [j.id for j in active]
        if failed:
            st.error("; ".join(f"{j.id[:12]}: {j.status} {j.error or ''}" for j in failed))
        st.rerun(scope="app")
    if active:
        st.info(f"{len(active)} missing runs computing (see Jobs); the views fill in as they land.")


def export_bundle(analysis: Analysis, figures: dict, table: pd.DataFrame, groups: pd.DataFrame | None,
                  by: Sequence[str], metrics: Sequence[str], style: str) -> None:
    """The comparison's figures, the run and group tables and every run's provenance; the groups as LaTeX."""
    with st.expander("Export for a paper", expanded=False):
        ok, why = export.export_available()
        formats = st.multiselect("Formats", ["png", "svg", "pdf"], default=["svg", "pdf"] if ok else [],
                                 key="_compare.formats", disabled=not ok)
        if not ok:
            st.info(why)
        if st.button("Prepare bundle", key="_compare.bundle"):
            with st.spinner("Rendering figures..."):
                st.session_state["_compare.bundle_bytes"] = compare.export_bundle(
                    result_store(), analysis.name, figures, table, groups, by, formats=formats, style=style)
        data = st.session_state.get("_compare.bundle_bytes")
        if data:
            st.download_button("Download bundle (.zip)", data, file_name=f"{analysis.name}-compare-{style}.zip",
                               mime="application/zip", key="_compare.download")
        if groups is not None and len(groups):
            shown = [m for m in metrics if groups[f"{m}_mean"].notna().any()]
            st.download_button("Groups as LaTeX (booktabs)", compare.latex_table(groups, by, shown),
                               file_name=f"{analysis.name}-groups.tex", key="_compare.latex")
            st.download_button("Groups as CSV", groups.to_csv(index=False), file_name=f"{analysis.name}-groups.csv",
                               key="_compare.csv")
