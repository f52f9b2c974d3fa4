"""Plotly figures for the loss-landscape result; styling for screen or paper is applied later."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from analyses.core import Result
from analyses.core.export import add_caption, prefer_height


def _grid(surface, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = surface.pivot(index="y", columns="x", values=column).sort_index().sort_index(axis=1)
    return table.columns.to_numpy(), table.index.to_numpy(), table.to_numpy()


def training_curves(result: Result) -> go.Figure:
    history = result.tables["training"]
    fig = go.Figure()
    fig.add_scatter(x=history.epoch, y=history.train_loss, mode="lines", name="train")
    fig.add_scatter(x=history.epoch, y=history.test_loss, mode="lines", name="test")
    fig.update_layout(title="Training curves", xaxis_title="epoch", yaxis_title="loss")
    return fig


def interpolation(result: Result) -> go.Figure:
    path = result.tables["interpolation"]
    fig = go.Figure()
    fig.add_scatter(x=path.alpha, y=path.train_loss, mode="lines", name="train")
    fig.add_scatter(x=path.alpha, y=path.test_loss, mode="lines", name="test")
    for alpha, label in ((0.0, "initial"), (1.0, "trained")):
        # Explicit width: the paper template's shape default is a zero-width line.
        fig.add_vline(x=alpha, line_dash="dot", line_color="grey", line_width=1, annotation_text=label)
    fig.update_layout(title="1D interpolation, initial to trained weights", xaxis_title="α", yaxis_title="loss")
    return add_caption(fig, "Loss at θ(α) = (1 − α)·θ_init + α·θ_trained.")


def _loss_contour(x, y, z, color_scale: str) -> go.Contour:
    """Contours of the loss, or of log10(loss): a log scale resolves the floor of a basin."""
    log = color_scale == "log"
    return go.Contour(x=x, y=y, z=np.log10(np.maximum(z, 1e-12)) if log else z, colorscale="Viridis",
                      ncontours=25, contours=dict(showlabels=False),
                      colorbar=dict(title=dict(text="log₁₀ loss" if log else "loss", side="right")))


def _direction_names(params: Mapping[str, Any]) -> tuple[str, str]:
    if params.get("directions") == "hessian":
        return "Hessian eigenvector 1", "Hessian eigenvector 2"
    return "direction 1", "direction 2"


def contour(result: Result, split: str, params: Mapping[str, Any]) -> go.Figure:
    x, y, z = _grid(result.tables["surface"], f"{split}_loss")
    fig = go.Figure(_loss_contour(x, y, z, params.get("color_scale", "linear")))
    fig.add_scatter(x=[0.0], y=[0.0], mode="markers", marker=dict(symbol="x", color="white", size=9),
                    name="trained weights", showlegend=False)
    kind = "top Hessian eigenvectors" if params.get("directions") == "hessian" else "filter-normalized directions"
    first, second = _direction_names(params)
    fig.update_layout(title=f"{split.capitalize()} loss surface ({kind})", xaxis_title=first, yaxis_title=second)
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    add_caption(fig, f"{split.capitalize()} loss at θ* + a·d₁ + b·d₂ along {kind}; × marks the trained weights.")
    return prefer_height(fig, 2.6)


def slices(result: Result) -> go.Figure:
    """Median and min-max band of the 1D train loss over several random directions, single seeds faint."""
    table = result.tables["slices"]
    by_t = table.groupby("t").train_loss
    low, median, high = by_t.min(), by_t.median(), by_t.max()
    fig = go.Figure()
    for seed, one in table.groupby("seed"):
        fig.add_scatter(x=one.t, y=one.train_loss, mode="lines", line=dict(color="lightgrey", width=1),
                        showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=np.concatenate([high.index, low.index[::-1]]), y=np.concatenate([high, low[::-1]]),
                    fill="toself", mode="lines", line=dict(width=0), fillcolor="rgba(0, 114, 178, 0.2)",
                    name=f"range over {table.seed.nunique()} directions")
    fig.add_scatter(x=median.index, y=median, mode="lines", name="median")
    fig.update_layout(title="1D slices along random filter-normalized directions", xaxis_title="step along direction",
                      yaxis_title="train loss")
    return add_caption(fig, "Grey: each direction; the band spans their minimum to maximum.")


def optimizer_path(result: Result, params: Mapping[str, Any]) -> go.Figure:
    """The training path on the PCA plane of its checkpoints, over the train loss on that plane."""
    path, grid = result.tables["trajectory"], result.tables["trajectory_surface"]
    x, y, z = _grid(grid, "train_loss")
    fig = go.Figure(_loss_contour(x, y, z, params.get("color_scale", "linear")))
    fig.add_scatter(x=path.a, y=path.b, mode="lines+markers", name="training path",
                    line=dict(color="white"), marker=dict(color=path.epoch, colorscale="Reds", size=7,
                                                          line=dict(color="black", width=0.5)),
                    text=[f"epoch {e}: loss {l:.3f} (on the plane {p:.3f}), {r:.0%} off the plane"
                          for e, l, p, r in zip(path.epoch, path.train_loss, path.plane_train_loss,
                                                path.relative_residual)], hoverinfo="text")
    variance = result.metrics["trajectory_explained_variance"]
    fig.update_layout(title=f"Optimizer path on its PCA plane ({variance:.0%} of the path's variance)",
                      xaxis_title="PC 1", yaxis_title="PC 2", showlegend=False)
    return add_caption(fig, "Checkpoints after every epoch (darker red: later) projected on the first two principal "
                            "components of (θ_i − θ*), over the train loss on that plane.")


def surface_3d(result: Result, params: Mapping[str, Any]) -> go.Figure:
    """Short axis titles (a 3D scene draws them in perspective, where long ones are cut); the caption names them."""
    x, y, z = _grid(result.tables["surface"], "train_loss")
    fig = go.Figure(go.Surface(x=x, y=y, z=z, colorscale="Viridis", colorbar=dict(title=dict(text="loss"), len=0.8)))
    first, second = _direction_names(params)
    fig.update_layout(title="Train loss surface, 3D",
                      scene=dict(xaxis_title="d₁", yaxis_title="d₂", zaxis_title="loss", aspectmode="cube",
                                 camera=dict(eye=dict(x=2.1, y=2.1, z=1.4), center=dict(x=0.15, y=0.15, z=-0.1)),
                                 domain=dict(x=[0, 0.88], y=[0, 1])))
    add_caption(fig, f"Height and colour: train loss; d₁, d₂: {first} and {second} (the plane of the contour).")
    return prefer_height(fig, 2.6)


def mode_connectivity(result: Result) -> go.Figure:
    table = result.tables["mode_connectivity"]
    metrics = result.metrics
    fig = go.Figure()
    fig.add_scatter(x=table.alpha, y=table.naive_train_loss, mode="lines+markers",
                    name=f"naive (barrier {metrics['barrier_naive']:.3f})")
    if "aligned_train_loss" in table:  # absent for architectures weight matching cannot permute
        fig.add_scatter(x=table.alpha, y=table.aligned_train_loss, mode="lines+markers",
                        name=f"weight-matched (barrier {metrics['barrier_aligned']:.3f})")
    fig.update_layout(title="Linear mode connectivity to a second network", xaxis_title="α",
                      yaxis_title="train loss")
    return add_caption(fig, "Train loss along (1 − α)·θ_A + α·θ_B, α = 0 this network, α = 1 the second; barrier: "
                            "the largest rise above the mean of the two ends' losses.")


def hessian_spectrum(result: Result) -> go.Figure:
    spectrum, top = result.tables["hessian_spectrum"], result.tables["hessian_top"]
    fig = go.Figure()
    fig.add_scatter(x=spectrum.eigenvalue, y=spectrum.density, mode="lines", name="density (SLQ)")
    fig.add_scatter(x=top.eigenvalue, y=np.full(len(top), spectrum.density.max()), mode="markers",
                    marker=dict(symbol="triangle-down"), name="top eigenvalues (power iteration)")
    metrics = result.metrics
    runs = result.tables["hessian_runs"] if "hessian_runs" in result.tables else None
    fig.update_layout(title="Hessian eigenvalue density", xaxis_title="eigenvalue", yaxis_title="density")
    # Log scale shows the small outlying eigenvalues beside the bulk; six decades keep the Gaussian tails off.
    top_density = float(np.log10(spectrum.density.max()))
    fig.update_yaxes(type="log", range=[np.floor(top_density) - 5, np.floor(top_density) + 1])
    return add_caption(fig, "Density by stochastic Lanczos quadrature; triangles: top eigenvalues by power iteration. "
                            f"Trace (Hutchinson) {metrics['hessian_trace']:.3g} ± {metrics['hessian_trace_sd']:.2g} "
                            f"(mean ± SD over {len(runs) if runs is not None else 'several'} random starts).")


def three_models(result: Result, params: Mapping[str, Any]) -> go.Figure:
    """The plane through three trained networks, with the networks marked."""
    x, y, z = _grid(result.tables["three_model_plane"], "train_loss")
    corners = result.tables["three_model_points"]
    fig = go.Figure(_loss_contour(x, y, z, params.get("color_scale", "linear")))
    fig.add_scatter(x=corners.x, y=corners.y, mode="markers+text", text=corners.network, textposition="top center",
                    marker=dict(symbol="x", color="white", size=9), textfont=dict(color="white"), showlegend=False)
    fig.update_layout(title="Train loss on the plane through three networks", xaxis_title="distance along A→B",
                      yaxis_title="towards C")
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return prefer_height(fig, 2.6)


def build_figures(result: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    return {
        "training_curves": training_curves(result),
        "interpolation": interpolation(result),
        "contour_train": contour(result, "train", params),
        "contour_test": contour(result, "test", params),
        "surface_3d": surface_3d(result, params),
        "slices": slices(result),
        **({"optimizer_path": optimizer_path(result, params)} if "trajectory" in result.tables else {}),
        "mode_connectivity": mode_connectivity(result),
        **({"three_models": three_models(result, params)} if "three_model_plane" in result.tables else {}),
        "hessian_spectrum": hessian_spectrum(result),
    }


def preview_figures(partial: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    """While computing: the training curves so far, then the train-loss surface as it refines."""
    figures = {"training_curves": training_curves(partial)}
    if "surface" in partial.tables:
        figures["contour_train"] = contour(partial, "train", params)
        points = partial.tables["surface"].x.nunique()
        figures["contour_train"].update_layout(title=f"Train loss surface, refining: {points}×{points} so far")
    return figures
