"""Figures beyond one stimulus: AOI dwell per condition, the AOI transition matrix, and every stimulus'
heatmap as multi-panel pages (what the export bundle draws, so no stimulus is left out).

They read the view (`figures.View`) and redraw from the cached result like the other figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core.export import prefer_height

from . import maps
from .pictures import data_uri

PANELS_PER_PAGE = 24
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def aoi_dwell(view) -> go.Figure | None:
    tables = view.result.tables
    if "aoi_measures" not in tables or tables["aoi_measures"].empty:
        return None
    m = tables["aoi_measures"].astype({"condition": str, "aoi": str})
    value = "dwell_share" if m["dwell_share"].notna().any() else "fixation_share"
    summary = m.groupby(["condition", "aoi"], sort=False)[value].agg(["mean", "sem", "count"]).reset_index()
    order = ([view.real] if view.real else []) + [c for c in view.conditions if c != view.real]
    fig = go.Figure()
    for i, cond in enumerate(c for c in order if c in set(summary["condition"])):
        part = summary[summary["condition"] == cond]
        fig.add_trace(go.Bar(x=part["aoi"], y=part["mean"], name=cond, marker_color=PALETTE[i % len(PALETTE)],
                             error_y=dict(type="data", array=part["sem"].fillna(0)),
                             customdata=part["count"],
                             hovertemplate="%{x}: %{y:.3f} (n = %{customdata} trials)<extra>" + cond + "</extra>"))
    label = "dwell time share" if value == "dwell_share" else "fixation share (no durations)"
    notes = dict(zip(tables["notes"]["key"], tables["notes"]["value"].astype(str)))
    fig.update_layout(barmode="group", yaxis_title=f"{label} per trial", xaxis_title="area of interest",
                      title=view.title(f"Areas of interest ({notes.get('aoi_source', '')}): mean {label} ± SEM"),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def aoi_transitions(view) -> go.Figure | None:
    tables = view.result.tables
    if "aoi_transitions" not in tables or tables["aoi_transitions"].empty:
        return None
    counts = tables["aoi_transitions"].astype({"condition": str, "from_aoi": str, "to_aoi": str})
    condition = view.condition if (counts["condition"] == view.condition).any() else None
    part = counts[counts["condition"] == condition] if condition else counts
    matrix = part.pivot_table(index="from_aoi", columns="to_aoi", values="count", aggfunc="sum", fill_value=0)
    names = sorted(set(matrix.index) | set(matrix.columns), key=lambda n: (n == "outside", n))
    matrix = matrix.reindex(index=names, columns=names, fill_value=0)
    rows = matrix.sum(axis=1).replace(0, np.nan)
    p = matrix.div(rows, axis=0)
    from .aois import transition_entropy

    h_t, h_s = transition_entropy(part)
    fig = go.Figure(go.Heatmap(z=p.to_numpy(float), x=names, y=names, colorscale="Blues", zmin=0, zmax=1,
                               text=matrix.to_numpy(int), texttemplate="%{text}",
                               hovertemplate="%{y} → %{x}: p = %{z:.2f} (%{text} transitions)<extra></extra>",
                               colorbar=dict(title="p(to | from)")))
    fig.update_layout(title=view.title(f"AOI transitions · {condition or 'all conditions'}<br><sup>consecutive "
                                       f"fixations, counts in the cells; H_t = {h_t:.2f} bits, H_s = {h_s:.2f} bits"
                                       "</sup>"),
                      xaxis_title="to", yaxis_title="from", yaxis=dict(autorange="reversed"))
    return fig


def heatmap_pages(view) -> dict[str, go.Figure]:
    """Every stimulus and condition's pooled heatmap over its picture, PANELS_PER_PAGE to a figure."""
    sizes = {k: (int(r["width"]), int(r["height"])) for k, r in view.stimuli.iterrows()}
    present = set(zip(view.fix["stimulus"], view.fix["condition"]))
    keys = [k for k in sizes if k in present]
    if len(keys) <= 1:
        return {}
    found = maps.pooled_maps(view.fix, sizes, view.sigma_px, view.params["weighting"], keys=keys, max_side=80)
    pages = {}
    n_pages = math.ceil(len(keys) / PANELS_PER_PAGE)
    for page in range(n_pages):
        chunk = keys[page * PANELS_PER_PAGE:(page + 1) * PANELS_PER_PAGE]
        cols = min(3, len(chunk))  # three panels fit a journal column with their labels
        rows = math.ceil(len(chunk) / cols)
        panel_in, label_in = 0.8, 0.32  # a panel and the two label lines above it, in inches
        total_in = rows * (panel_in + label_in) + 0.3
        gap_x, gap_y = 0.04, label_in / total_in
        w, h = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1) - 0.3 / total_in) / rows
        # the layout by hand: make_subplots costs seconds for a page of 24
        traces, images, notes, layout = [], [], [], {}
        for i, key in enumerate(chunk):
            width, height = sizes[key]
            r, c = divmod(i, cols)
            x0, y1 = c * (w + gap_x), 1 - 0.3 / total_in - r * (h + gap_y)
            picture = view.stimuli.loc[key, "image"]
            image = view.result.arrays.get(picture) if isinstance(picture, str) and picture else None
            if image is not None:
                images.append(dict(source=data_uri(image, max_side=200), x=0, y=0, sizex=width, sizey=height, xref=f"x{i + 1}",
                                   yref=f"y{i + 1}", sizing="stretch", layer="below"))
            density, cell = found.get(key, (np.zeros((1, 1)), max(width, height)))
            z = density / (density.max() or 1.0)
            traces.append(dict(type="heatmap", z=np.where(z > 0.05, z, np.nan).astype(np.float32), x0=cell / 2, dx=cell, y0=cell / 2,
                               dy=cell, colorscale=view.params["colorscale"], opacity=view.params["opacity"], zmin=0,
                               zmax=1, showscale=i == 0, hoverinfo="skip", xaxis=f"x{i + 1}", yaxis=f"y{i + 1}",
                               colorbar=dict(title=dict(text="density<br>(÷ max)"), len=0.5, thickness=10)))
            suffix = "" if i == 0 else str(i + 1)
            layout[f"xaxis{suffix}"] = dict(domain=[x0, x0 + w], range=[0, width], visible=False, constrain="domain",
                                            anchor=f"y{i + 1}")
            layout[f"yaxis{suffix}"] = dict(domain=[max(0.0, y1 - h), min(1.0, y1)], range=[height, 0], visible=False,
                                            scaleanchor=f"x{i + 1}", anchor=f"x{i + 1}")
            notes.append(dict(text=f"{key[0]}<br>{key[1]}", x=x0 + w / 2, y=y1, xref="paper", yref="paper",
                              xanchor="center", yanchor="bottom", showarrow=False))
        more = f" (page {page + 1} of {n_pages})" if n_pages > 1 else ""
        title = view.title(f"Every stimulus: pooled fixation heatmaps, σ = {view.params['sigma_deg']:g}°{more}")
        fig = go.Figure(dict(data=traces, layout=dict(**layout, images=images, annotations=notes,
                                                      height=round(96 * total_in), title=dict(text=title))))
        prefer_height(fig, total_in)  # a shorter style grows to it: the labels need their room
        pages[f"heatmaps_all{'' if n_pages == 1 else f'_{page + 1}'}"] = fig
    return pages
