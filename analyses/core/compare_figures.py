"""Figures that compare runs: a metric against a swept parameter with error bars, curves with seed bands,
parallel coordinates and parameter importance. Plain Plotly, styled like every other figure on export.

The figures are built once and exported in any style, so their text is sized for the narrowest canvas a
style gives them (a paper column): legends name the parameters once in their title and grow the figure
to hold their rows; parallel coordinates abbreviate axis titles that would run into each other and give
the key in the caption.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import export
from .compare import count_column, group

_SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_DASHES = ("solid", "dash", "dot", "dashdot")  # after the eight colours: the same colours, another dash
# Plotly's horizontal legend: the symbol's width (itemwidth 30) and gaps around each entry's text, and an
# entry's height beyond its text (px); what a plot needs beside the legend: its x axis, ticks and title.
_LEGEND_ENTRY_EXTRA_PX, _LEGEND_ROW_PX, _AXES_EMS = 46, 7, 4.5
_PLOT_SHARE = 0.4  # of the height left to the plot at least (the layout check asks 35 %)


def _canvases() -> list[tuple[str, float, float, float, float]]:
    """(font family, font px, tick px, width px, height px) of every style: text that fits all of them fits
    wherever the figure goes (the Compare runs page draws each figure across the page's width)."""
    return [(s.font_family, s.px(s.font_pt), s.px(s.tick_pt), s.width_px, s.height_px) for s in export.STYLES.values()]


def _series_style(i: int) -> dict:
    return {"color": _SERIES[i % len(_SERIES)], "dash": _DASHES[(i // len(_SERIES)) % len(_DASHES)]}


def _value_label(values) -> str:
    """A group's legend entry: its values (the legend's title names the parameters)."""
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(str(v) for v in values) or "all runs"


def _legend(figure: go.Figure, names: Sequence[str], suffix: str = "") -> go.Figure:
    """A legend titled with the grouping parameters (entries give their values), and a figure tall enough
    for its rows in every style, so that the plot keeps its share of the height."""
    entries = [t.name for t in figure.data if t.showlegend is not False and t.name]
    if not entries:
        return figure
    title = ", ".join(names) + suffix
    needed = 0.0
    for family, font, tick, width, _ in _canvases():
        usable = width - 2 * export.PAD_PX
        # Plotly lines a horizontal legend's entries up in columns as wide as the widest entry
        column = max(export.text_width(entry, family, tick) for entry in entries) + _LEGEND_ENTRY_EXTRA_PX
        rows = math.ceil(len(entries) / max(1, int(usable // column)))
        title_lines = export.wrap_text(title, family, font, usable).count("<br>") + 1
        legend = rows * (1.3 * tick + _LEGEND_ROW_PX) + title_lines * 1.3 * font
        needed = max(needed, (legend + _AXES_EMS * font) / (1 - _PLOT_SHARE))
    narrowest = min(_canvases(), key=lambda c: c[3] / c[1])
    # maxheight 1: the whole figure's height, so the legend is never cut into a scroll box
    figure.update_layout(showlegend=True, legend={"maxheight": 1, "title": {"text": export.wrap_text(
        title, narrowest[0], narrowest[1], narrowest[3] - 2 * export.PAD_PX), "side": "top"}})
    return export.prefer_height(figure, math.ceil(needed / export.CSS_PX_PER_IN * 20) / 20)


def metric_against(table: pd.DataFrame, metric: str, x: str, series: Sequence[str], error: str = "sem") -> go.Figure:
    """Mean of `metric` per value of `x`, one line per combination of `series`, error bars = SEM or 95% CI."""
    groups = group(table, [*series, x], [metric])
    figure = go.Figure()
    lines = groups.groupby(list(series), sort=True, dropna=False) if series else [((), groups)]
    for i, (values, rows) in enumerate(lines):
        rows = rows.sort_values(x)
        if error == "ci95":
            upper = rows[f"{metric}_ci95_high"] - rows[f"{metric}_mean"]
            lower = rows[f"{metric}_mean"] - rows[f"{metric}_ci95_low"]
        else:
            upper = lower = rows[f"{metric}_sem"]
        figure.add_trace(go.Scatter(
            x=rows[x], y=rows[f"{metric}_mean"], mode="lines+markers", name=_value_label(values),
            line=_series_style(i),
            error_y={"type": "data", "array": upper.fillna(0), "arrayminus": lower.fillna(0), "visible": True},
            customdata=rows[count_column([*series, x])], hovertemplate="%{x}: %{y:.4g} (N=%{customdata})<extra></extra>"))
    bars = "95% t interval" if error == "ci95" else "standard error"
    figure.update_layout(title=f"{metric} against {x} (mean ± {bars})", xaxis_title=x, yaxis_title=metric,
                         showlegend=bool(series))
    return _legend(figure, series) if series else figure


def curves(frames: Sequence[tuple[tuple, pd.DataFrame]], by: Sequence[str], x: str, y: str) -> go.Figure:
    """Curves of the runs' own tables, averaged per group: mean line and a ±1 SD band over the group's runs."""
    figure = go.Figure()
    grouped: dict[tuple, list[pd.DataFrame]] = {}
    for values, frame in frames:
        grouped.setdefault(values, []).append(frame[[x, y]])
    sizes = {len(members) for members in grouped.values()}
    for i, (values, members) in enumerate(sorted(grouped.items(), key=lambda kv: str(kv[0]))):
        stacked = pd.concat(members).groupby(x, sort=True)[y]
        mean, sd = stacked.mean(), stacked.std(ddof=1).fillna(0)
        line = _series_style(i)
        # one N for every group goes into the legend's title; otherwise each entry says its own
        name = _value_label(values) + (f" (N={len(members)})" if len(sizes) > 1 else "")
        figure.add_trace(go.Scatter(x=np.r_[mean.index, mean.index[::-1]], y=np.r_[mean + sd, (mean - sd)[::-1]],
                                    fill="toself", line={"width": 0}, fillcolor=line["color"], opacity=0.2,
                                    hoverinfo="skip", showlegend=False, legendgroup=name))
        figure.add_trace(go.Scatter(x=mean.index, y=mean, mode="lines", name=name, line=line, legendgroup=name))
    figure.update_layout(title=f"{y} against {x} (mean ± 1 SD over runs)", xaxis_title=x, yaxis_title=y)
    if not by:
        return figure
    return _legend(figure, by, f" (N={sizes.pop()} runs each)" if len(sizes) == 1 else "")


def abbreviation(name: str, taken: set[str]) -> str:
    """A short axis label: the initials of a name of several words (weight_decay -> wd), else its first
    three letters (optimizer -> opt); names of four letters or fewer stay; a digit keeps labels apart."""
    words = [w for w in re.split(r"[\W_]+", name) if w]
    short = name if len(name) <= 4 else "".join(w[0] for w in words) if len(words) > 1 else name[:3]
    candidate, k = short, 2
    while candidate in taken:
        candidate, k = f"{short}{k}", k + 1
    return candidate


_PARALLEL_X = (0.12, 0.8)  # the axes' span; the colour bar sits to the right of it
_LABEL_GAP_PX = 4


def _axis_labels(names: Sequence[str]) -> list[str]:
    """Axis titles that do not run into each other or off the canvas in any style: the names, with those
    too wide for their room replaced by abbreviations (widest first)."""
    labels = list(names)
    if len(labels) < 2:
        return labels
    x0, x1 = _PARALLEL_X

    def shortens(i: int) -> bool:  # not yet abbreviated, and long enough to be
        return labels[i] == names[i] and abbreviation(names[i], set()) != names[i]

    for _ in range(len(labels)):
        crowded = set()
        for family, font, _tick, width, _ in _canvases():
            plot = width - 2 * export.PAD_PX - 5 * font  # less the colour bar, its ticks and title
            gap = (x1 - x0) * plot / (len(labels) - 1)
            w = [export.text_width(label, family, font) for label in labels]
            if w[0] / 2 > x0 * plot:
                crowded.add(0)
            if w[-1] / 2 > (1 - x1) * plot - _LABEL_GAP_PX:
                crowded.add(len(labels) - 1)
            for i in range(len(labels) - 1):
                if (w[i] + w[i + 1]) / 2 + _LABEL_GAP_PX > gap:
                    crowded.add(max((i, i + 1), key=lambda j: (shortens(j), w[j])))
        crowded = {i for i in crowded if shortens(i)}
        if not crowded:
            break
        for i in sorted(crowded):
            labels[i] = abbreviation(names[i], set(labels) - {labels[i]})
    return labels


def parallel(table: pd.DataFrame, params: Sequence[str], metrics: Sequence[str], colour_by: str) -> go.Figure:
    """Parallel coordinates over the parameters that differ and the chosen metrics, coloured by one metric.

    Axis titles too long for the space between axes are abbreviated; the caption gives the key."""
    names = [*params, *metrics]
    labels = _axis_labels(names)
    dimensions = []
    for name, label in zip(names, labels):
        column = table[name]
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().all():  # three significant digits, also on the range labels at the axes' ends
            dimensions.append({"label": label, "values": numeric, "tickformat": ".3~g"})
        else:
            codes, values = pd.factorize(column.astype(str), sort=True)
            dimensions.append({"label": label, "values": codes, "tickvals": list(range(len(values))),
                               "ticktext": list(values)})
    colour = pd.to_numeric(table[colour_by], errors="coerce")
    # The colour bar's title runs along the bar: abbreviated too where it would be longer than the bar.
    bar_title = colour_by
    if any(export.text_width(colour_by, family, font) > 0.7 * height for family, font, _, _, height in _canvases()):
        axis = labels[names.index(colour_by)] if colour_by in names else colour_by
        bar_title = axis if axis != colour_by else abbreviation(colour_by, set(labels))
        names, labels = [*names, colour_by], [*labels, bar_title]  # for the key
    # Parallel coordinates draw their axis titles above and their ticks beside the axes, outside the plot
    # domain: keep the domain inside the canvas so that text stays on it.
    figure = go.Figure(go.Parcoords(domain={"x": list(_PARALLEL_X), "y": [0.12, 0.72]}, dimensions=dimensions,
                                    line={"color": colour, "colorscale": "Viridis", "showscale": True,
                                          "colorbar": {"title": {"text": bar_title, "side": "right"},
                                                       "thickness": 10, "tickformat": ".3~g"}}))
    figure.update_layout(title=f"Runs across parameters and metrics (colour: {colour_by})")
    key = dict.fromkeys(f"{label} = {name}" for name, label in zip(names, labels) if label != name)
    if key:
        export.add_caption(figure, "Axes: " + "; ".join(key) + ".")
    return figure


def importance_bars(ranked: pd.DataFrame, metric: str) -> go.Figure:
    """Random-forest importance per parameter, with the Spearman correlation beside it."""
    figure = go.Figure(go.Bar(x=ranked.importance, y=ranked.parameter, orientation="h", marker_color=_SERIES[0],
                              text=[f"ρ={c:+.2f}" if np.isfinite(c) else "" for c in ranked.correlation],
                              textposition="auto"))
    runs = int(ranked.runs.iloc[0]) if len(ranked) else 0
    figure.update_layout(title=f"Parameter importance for {metric} ({runs} runs)", xaxis_title="importance",
                         yaxis={"autorange": "reversed"})
    return export.add_caption(figure, f"Importance rests on {runs} runs: a random forest's impurity importance "
                                      "(categorical parameters summed over their values); ρ is Spearman's "
                                      "correlation of each parameter with the metric.")
