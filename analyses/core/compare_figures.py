"""Figures that compare runs: a metric against a swept parameter with error bars, curves with seed bands,
parallel coordinates and parameter importance. Plain Plotly, styled like every other figure on export."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .compare import count_column, group

_SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _label(names: Sequence[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{n}={v}" for n, v in zip(names, values)) or "all runs"


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
            x=rows[x], y=rows[f"{metric}_mean"], mode="lines+markers", name=_label(series, values),
            line={"color": _SERIES[i % len(_SERIES)]},
            error_y={"type": "data", "array": upper.fillna(0), "arrayminus": lower.fillna(0), "visible": True},
            customdata=rows[count_column([*series, x])], hovertemplate="%{x}: %{y:.4g} (N=%{customdata})<extra></extra>"))
    bars = "95% t interval" if error == "ci95" else "standard error"
    figure.update_layout(title=f"{metric} against {x} (mean ± {bars})", xaxis_title=x, yaxis_title=metric,
                         showlegend=bool(series), legend={"orientation": "h", "y": -0.25})
    return figure


def curves(frames: Sequence[tuple[tuple, pd.DataFrame]], by: Sequence[str], x: str, y: str) -> go.Figure:
    """Curves of the runs' own tables, averaged per group: mean line and a ±1 SD band over the group's runs."""
    figure = go.Figure()
    grouped: dict[tuple, list[pd.DataFrame]] = {}
    for values, frame in frames:
        grouped.setdefault(values, []).append(frame[[x, y]])
    for i, (values, members) in enumerate(sorted(grouped.items(), key=lambda kv: str(kv[0]))):
        stacked = pd.concat(members).groupby(x, sort=True)[y]
        mean, sd = stacked.mean(), stacked.std(ddof=1).fillna(0)
        colour = _SERIES[i % len(_SERIES)]
        name = f"{_label(by, values)} (N={len(members)})"
        figure.add_trace(go.Scatter(x=np.r_[mean.index, mean.index[::-1]], y=np.r_[mean + sd, (mean - sd)[::-1]],
                                    fill="toself", line={"width": 0}, fillcolor=colour, opacity=0.2,
                                    hoverinfo="skip", showlegend=False, legendgroup=name))
        figure.add_trace(go.Scatter(x=mean.index, y=mean, mode="lines", name=name, line={"color": colour},
                                    legendgroup=name))
    figure.update_layout(title=f"{y} against {x} (mean ± 1 SD over runs)", xaxis_title=x, yaxis_title=y,
                         legend={"orientation": "h", "y": -0.25})
    return figure


def parallel(table: pd.DataFrame, params: Sequence[str], metrics: Sequence[str], colour_by: str) -> go.Figure:
    """Parallel coordinates over the parameters that differ and the chosen metrics, coloured by one metric."""
    dimensions = []
    for name in [*params, *metrics]:
        column = table[name]
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().all():
            dimensions.append({"label": name, "values": numeric})
        else:
            codes, labels = pd.factorize(column.astype(str), sort=True)
            dimensions.append({"label": name, "values": codes, "tickvals": list(range(len(labels))),
                               "ticktext": list(labels)})
    colour = pd.to_numeric(table[colour_by], errors="coerce")
    # Parallel coordinates draw their axis titles above and their ticks beside the axes, outside the plot
    # domain: keep the domain inside the canvas so that text stays on it.
    figure = go.Figure(go.Parcoords(domain={"x": [0.12, 0.8], "y": [0.12, 0.72]}, dimensions=dimensions,
                                    line={"color": colour, "colorscale": "Viridis",
                                                                 "showscale": True,
                                                                 "colorbar": {"title": {"text": colour_by}}}))
    figure.update_layout(title=f"Runs across parameters and metrics (colour: {colour_by})")
    return figure


def importance_bars(ranked: pd.DataFrame, metric: str) -> go.Figure:
    """Random-forest importance per parameter, with the Spearman correlation beside it."""
    figure = go.Figure(go.Bar(x=ranked.importance, y=ranked.parameter, orientation="h", marker_color=_SERIES[0],
                              text=[f"ρ={c:+.2f}" if np.isfinite(c) else "" for c in ranked.correlation],
                              textposition="auto"))
    runs = int(ranked.runs.iloc[0]) if len(ranked) else 0
    figure.update_layout(title=f"Parameter importance for {metric} ({runs} runs)", xaxis_title="importance",
                         yaxis={"autorange": "reversed"})
    return figure
