"""Plotly figures for the loss-landscape result; styling for screen or paper is applied later."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from analyses.core import Result


def _grid(surface, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = surface.pivot(index="y", columns="x", values=column).sort_index().sort_index(axis=1)
    return table.columns.to_numpy(), table.index.to_numpy(), table.to_numpy()


def training_curves(result: Result) -> go.Figure:
    history = result.tables["training"]
    fig = go.Figure()
    fig.add_scatter(x=history.epoch, y=history.train_loss, mode="lines", name="train")
    fig.add_scatter(x=history.epoch, y=history.test_loss, mode="lines", name="test")
    fig.update_layout(title="Training curves", xaxis_title="epoch", yaxis_title="cross-entropy loss")
    return fig


def interpolation(result: Result) -> go.Figure:
    path = result.tables["interpolation"]
    fig = go.Figure()
    fig.add_scatter(x=path.alpha, y=path.train_loss, mode="lines", name="train")
    fig.add_scatter(x=path.alpha, y=path.test_loss, mode="lines", name="test")
    for alpha, label in ((0.0, "initial"), (1.0, "trained")):
        # Explicit width: the paper template's shape default is a zero-width line.
        fig.add_vline(x=alpha, line_dash="dot", line_color="grey", line_width=1, annotation_text=label)
    fig.update_layout(title="1D interpolation, initial to trained weights",
                      xaxis_title="α  (0 = initial, 1 = trained)",
                      yaxis_title="cross-entropy loss")
    return fig


def contour(result: Result, split: str) -> go.Figure:
    x, y, z = _grid(result.tables["surface"], f"{split}_loss")
    fig = go.Figure(go.Contour(x=x, y=y, z=z, colorscale="Viridis", ncontours=25,
                               colorbar=dict(title=dict(text="loss", side="right")),
                               contours=dict(showlabels=False)))
    fig.add_scatter(x=[0.0], y=[0.0], mode="markers", marker=dict(symbol="x", color="white", size=9),
                    name="trained weights", showlegend=False)
    fig.update_layout(title=f"{split.capitalize()} loss surface (filter-normalized directions)",
                      xaxis_title="direction 1", yaxis_title="direction 2")
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def surface_3d(result: Result) -> go.Figure:
    x, y, z = _grid(result.tables["surface"], "train_loss")
    fig = go.Figure(go.Surface(x=x, y=y, z=z, colorscale="Viridis", colorbar=dict(title=dict(text="loss"))))
    fig.update_layout(title="Train loss surface, 3D",
                      scene=dict(xaxis_title="direction 1", yaxis_title="direction 2", zaxis_title="loss"))
    return fig


def mode_connectivity(result: Result) -> go.Figure:
    table = result.tables["mode_connectivity"]
    metrics = result.metrics
    fig = go.Figure()
    fig.add_scatter(x=table.alpha, y=table.naive_train_loss, mode="lines+markers",
                    name=f"naive (barrier {metrics['barrier_naive']:.3f})")
    fig.add_scatter(x=table.alpha, y=table.aligned_train_loss, mode="lines+markers",
                    name=f"weight-matched (barrier {metrics['barrier_aligned']:.3f})")
    fig.update_layout(title="Linear mode connectivity to a second network", xaxis_title="α  (0 = this network, "
                      "1 = second network)", yaxis_title="train loss")
    return fig


def hessian_spectrum(result: Result) -> go.Figure:
    spectrum, top = result.tables["hessian_spectrum"], result.tables["hessian_top"]
    fig = go.Figure()
    fig.add_scatter(x=spectrum.eigenvalue, y=spectrum.density, mode="lines", name="density (SLQ)")
    fig.add_scatter(x=top.eigenvalue, y=np.full(len(top), spectrum.density.max()), mode="markers",
                    marker=dict(symbol="triangle-down"), name="top eigenvalues (power iteration)")
    fig.update_layout(title=f"Hessian eigenvalue density (trace {result.metrics['hessian_trace']:.3g})",
                      xaxis_title="eigenvalue", yaxis_title="density")
    # Log scale shows the small outlying eigenvalues beside the bulk; six decades keep the Gaussian tails off.
    top_density = float(np.log10(spectrum.density.max()))
    fig.update_yaxes(type="log", range=[top_density - 6, top_density + 0.3])
    return fig


def build_figures(result: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    return {
        "training_curves": training_curves(result),
        "interpolation": interpolation(result),
        "contour_train": contour(result, "train"),
        "contour_test": contour(result, "test"),
        "surface_3d": surface_3d(result),
        "mode_connectivity": mode_connectivity(result),
        "hessian_spectrum": hessian_spectrum(result),
    }
