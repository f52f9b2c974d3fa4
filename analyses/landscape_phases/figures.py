"""Heatmaps of every cell metric over (width, learning rate), and the phase map from threshold sliders."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core import Result
from analyses.core.export import add_caption

LABELS = {"test_accuracy": "test accuracy", "lambda_max": "λ_max (sharpness)", "trace": "Hessian trace",
          "barrier": "barrier between seeds", "cka": "CKA between seeds"}
SHORT = {"test_accuracy": "accuracy", "lambda_max": "λ_max", "trace": "trace", "barrier": "barrier", "cka": "CKA"}
PHASES = ("poor fit", "disconnected", "sharp, connected", "flat, connected,<br>dissimilar",
          "flat, connected,<br>similar")


def phase(row: pd.Series, params: Mapping[str, Any]) -> str:
    """The first test a cell fails names its phase; a cell passing all is flat, connected and similar."""
    if row.test_accuracy < params["accuracy_threshold"]:
        return PHASES[0]
    if row.barrier > params["barrier_threshold"]:
        return PHASES[1]
    if row.lambda_max > params["sharpness_threshold"]:
        return PHASES[2]
    if row.cka < params["cka_threshold"]:
        return PHASES[3]
    return PHASES[4]


def _temperature_axis(grid: pd.DataFrame) -> tuple[str, str]:
    """The column that varies along the temperature axis, and its title."""
    if grid.batch_size.nunique() > 1:
        return "batch_size", "batch size (smaller is hotter)"
    return "lr", "learning rate (temperature)"


def load_axis(grid: pd.DataFrame) -> tuple[str, str]:
    """The column that varies along the load axis, and its title."""
    if "train_size" in grid and grid.train_size.nunique() > 1:
        return "train_size", "training samples (load)"
    return "width", "width (load)"


def _pivot(grid: pd.DataFrame, values: str) -> pd.DataFrame:
    """Rows ordered by rising temperature (learning rate / batch size), columns by load."""
    column, _ = _temperature_axis(grid)
    order = grid.drop_duplicates(column).sort_values("temperature")[column].tolist()
    return grid.pivot(index=column, columns=load_axis(grid)[0], values=values).reindex(order).sort_index(axis=1)


def _axes(grid: pd.DataFrame, table: pd.DataFrame):
    return [str(w) for w in table.columns], [f"{v:g}" for v in table.index]


def _style(fig: go.Figure, grid: pd.DataFrame, title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=load_axis(grid)[1], yaxis_title=_temperature_axis(grid)[1])
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def heatmap(grid: pd.DataFrame, metric: str) -> go.Figure:
    """One metric per cell; cells not computed yet (a live preview) stay blank."""
    table = _pivot(grid, metric)
    x, y = _axes(grid, table)
    values = table.to_numpy(dtype=float)
    text = np.where(np.isnan(values), "", np.vectorize(lambda v: f"{v:.3g}")(values))
    fig = go.Figure(go.Heatmap(z=values, x=x, y=y, colorscale="Viridis", text=text, texttemplate="%{text}",
                               hoverongaps=False, colorbar=dict(title=dict(text=SHORT[metric], side="right"))))
    return _style(fig, grid, LABELS[metric])


def clickable(fig: go.Figure, grid: pd.DataFrame) -> go.Figure:
    """Heatmaps cannot be selected in the browser; an invisible marker on every cell can (a click selects it)."""
    table = _pivot(grid, "temperature")
    x, y = _axes(grid, table)
    xs, ys = np.meshgrid(x, y)
    fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", name="cells", showlegend=False,
                             marker=dict(size=40, symbol="square", opacity=0.01, color="white"),
                             hoverinfo="none"))  # "skip" would also drop the click
    fig.update_layout(clickmode="event+select")
    return fig


def phase_map(grid: pd.DataFrame, params: Mapping[str, Any]) -> go.Figure:
    phases = grid.apply(lambda row: phase(row, params), axis=1)
    labelled = grid.assign(code=phases.map({name: i for i, name in enumerate(PHASES)}), name=phases)
    table, names = _pivot(labelled, "code"), _pivot(labelled, "name")
    x, y = _axes(grid, table)
    scale = ["#D55E00", "#E69F00", "#CC79A7", "#56B4E9", "#009E73"]  # Okabe-Ito, one colour per phase
    # A stepped scale: (i + edge) / n, not i/n + edge/n, whose rounding can make positions decrease
    # (0.6000000000000001 then 0.6), which plotly.js rejects for its default scale.
    colorscale = [[(i + edge) / len(PHASES), scale[i]] for i in range(len(PHASES)) for edge in (0, 1)]
    fig = go.Figure(go.Heatmap(z=table.to_numpy(dtype=float), x=x, y=y, zmin=-0.5,
                               zmax=len(PHASES) - 0.5, colorscale=colorscale, showscale=False,
                               text=names.to_numpy(),
                               texttemplate="%{text}",
                               hovertemplate="load %{x}, temperature %{y}: %{text}<extra></extra>"))
    return add_caption(_style(fig, grid, "Phase map"), thresholds(params))


def thresholds(params: Mapping[str, Any]) -> str:
    """The phase rules with the thresholds used, in the order they are applied: the phase map's caption."""
    return (f"A cell's phase is the first rule it meets: test accuracy < {params['accuracy_threshold']:g}: poor fit; "
            f"barrier > {params['barrier_threshold']:g}: disconnected; λ_max > {params['sharpness_threshold']:g}: "
            f"sharp, connected; CKA < {params['cka_threshold']:g}: flat, connected, dissimilar; otherwise flat, "
            "connected, similar.")


def build_figures(result: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    grid = result.tables["grid"]
    return {"phase_map": phase_map(grid, params), **{m: heatmap(grid, m) for m in LABELS}}


def preview_figures(partial: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    """While the grid computes: the finished cells' accuracy and barrier, the rest blank."""
    grid = partial.tables["grid"]
    done = int(grid.test_accuracy.notna().sum())
    figures = {m: heatmap(grid, m) for m in ("test_accuracy", "barrier")}
    for fig in figures.values():
        fig.update_layout(title=f"{fig.layout.title.text} ({done} of {len(grid)} cells)")
    return figures
