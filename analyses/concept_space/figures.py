"""Concept-space trajectories, joint accuracy under naive and intervened prompting, learning times over a sweep."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core import Result
from analyses.core.export import add_caption, prefer_height

# Okabe-Ito hues, one per prompt: red ones warm, blue ones cool, but no two alike (vermilion vs reddish
# purple, blue vs bluish green), and small sizes dashed, so the four tell apart in grey or to any eye.
PROMPT_COLORS = {"red_large": "#D55E00", "red_small": "#CC79A7", "blue_large": "#0072B2", "blue_small": "#009E73"}
PROMPT_DASH = {"red_large": "solid", "red_small": "dash", "blue_large": "solid", "blue_small": "dash"}
PROMPT_SYMBOL = {"red_large": "circle", "red_small": "diamond", "blue_large": "square", "blue_small": "triangle-up"}


def _label(prompt: str) -> str:
    return prompt.replace("_", " ")


def concept_space(trajectory: pd.DataFrame, params: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
                  seeds: pd.DataFrame | None = None) -> go.Figure:
    """Each prompt's (P(target colour), P(target size)) over training, markers coloured by step."""
    held = params["held_out"]
    fig = go.Figure()
    if seeds is not None and seeds.seed.nunique() > 1:
        for seed, rows in seeds[seeds.prompt == held].groupby("seed"):
            rows = rows.sort_values("step")
            fig.add_trace(go.Scatter(x=rows.p_color, y=rows.p_size, mode="lines", opacity=0.25, showlegend=False,
                                     line=dict(color=PROMPT_COLORS[held], width=1),
                                     name=f"seed {seed}", hoverinfo="skip"))
    for prompt, rows in trajectory.groupby("prompt", sort=False):
        rows = rows.sort_values("step")
        is_held = prompt == held
        fig.add_trace(go.Scatter(
            x=rows.p_color, y=rows.p_size, mode="lines+markers",
            name=_label(prompt) + (" (held out)" if is_held and not params.get("train_on_all") else ""),
            line=dict(color=PROMPT_COLORS[prompt], width=2.5 if is_held else 1.2, dash=PROMPT_DASH[prompt]),
            marker=dict(size=7 if is_held else 5, color=rows.step, colorscale="Viridis", showscale=is_held,
                        symbol=PROMPT_SYMBOL[prompt], line=dict(color=PROMPT_COLORS[prompt], width=1),
                        colorbar=dict(title=dict(text="step", side="right")) if is_held else None),
            customdata=rows.step, hovertemplate="step %{customdata}<br>P(colour) %{x:.2f}, P(size) %{y:.2f}"))
    turn = (metrics or {}).get("t_turn")
    if turn is not None:
        at = trajectory[(trajectory.prompt == held) & (trajectory.step == turn)]
        if len(at):
            fig.add_trace(go.Scatter(x=at.p_color, y=at.p_size, mode="markers", name=f"T_turn = step {turn}",
                                     marker=dict(symbol="star", size=14, color="#000000")))
    prefer_height(fig, 3.4)  # a square plot with its legend and colour bar, in a column
    fig.update_layout(title="Concept space: each prompt's generations over training",
                      xaxis_title="P(target colour)", yaxis_title="P(target size)")
    add_caption(fig, "Markers are checkpoints, coloured by training step; the star marks the held-out prompt's "
                     "largest turn (T_turn).")
    fig.update_xaxes(range=[-0.03, 1.03], constrain="domain")  # a square: keep the unit range, shrink the axis
    fig.update_yaxes(range=[-0.03, 1.03], scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def _vline(fig: go.Figure, step, label: str, color: str) -> None:
    """A time as a dashed vertical line named in the legend (labels on the lines collide when times are close)."""
    if step is not None:
        fig.add_trace(go.Scatter(x=[step, step], y=[0, 1], mode="lines", name=f"{label} = step {step:g}",
                                 line=dict(color=color, dash="dash", width=1.2), hoverinfo="name"))


def accuracy_figure(accuracy: pd.DataFrame, params: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
                    seeds: pd.DataFrame | None = None) -> go.Figure:
    """Joint accuracy of the held-out combination: naive prompting, each intervention, the best intervention."""
    fig = go.Figure()
    if seeds is not None and seeds.seed.nunique() > 1:
        for (seed, method), rows in seeds[seeds.method.isin(["naive", "best intervention"])].groupby(["seed", "method"]):
            fig.add_trace(go.Scatter(x=rows.step, y=rows.joint_accuracy, mode="lines", opacity=0.25,
                                     showlegend=False, hoverinfo="skip",
                                     line=dict(color="#000000" if method == "naive" else "#CC79A7", width=1)))
    # Each single intervention as a thin dotted line, one colour and one legend entry per kind (over-prompting,
    # latent), its strength in the hover and the caption: seven entries would squeeze a column-wide plot.
    family_colours = {"over-prompt": "#E69F00", "latent": "#56B4E9"}
    others = [m for m in accuracy.method.unique() if m not in ("naive", "best intervention")]
    strengths: dict[str, list[str]] = {}
    for method in others:
        family = method.split(" ")[0]
        rows = accuracy[accuracy.method == method].sort_values("step")
        fig.add_trace(go.Scatter(x=rows.step, y=rows.joint_accuracy, mode="lines", legendgroup=family,
                                 name=f"{family} (each)",
                                 showlegend=family not in strengths, hovertext=method, hoverinfo="text+y",
                                 line=dict(color=family_colours.get(family, "#009E73"), width=1, dash="dot")))
        strengths.setdefault(family, []).append(method.split(" ", 1)[1] if " " in method else method)
    for method, color in (("naive", "#000000"), ("best intervention", "#CC79A7")):
        rows = accuracy[accuracy.method == method].sort_values("step")
        fig.add_trace(go.Scatter(x=rows.step, y=rows.joint_accuracy, mode="lines+markers", name=method,
                                 line=dict(color=color, width=2.5)))
    fig.add_hline(y=params["threshold"], line=dict(color="#999999", width=1))
    metrics = metrics or {}
    _vline(fig, metrics.get("t_intervention"), "T_intervention", "#CC79A7")
    _vline(fig, metrics.get("t_naive"), "T_naive", "#000000")
    fig.update_layout(title=f"Producing the held-out {_label(params['held_out'])}: joint accuracy",
                      xaxis_title="training step", yaxis_title="joint accuracy")
    add_caption(fig, f"Joint accuracy: both concepts right. Grey line: the threshold {params['threshold']:g}. Dotted: "
                     "each single intervention (" + "; ".join(f"{family} {', '.join(values)}"
                                                           for family, values in strengths.items()) + ").")
    fig.update_yaxes(range=[-0.03, 1.03])
    return fig


def concept_accuracy(trajectory: pd.DataFrame, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> go.Figure:
    """The held-out prompt's per-concept accuracy, with each concept's learning time."""
    held = trajectory[trajectory.prompt == params["held_out"]].sort_values("step")
    fig = go.Figure()
    for column, name, color, key in (("acc_color", "colour", "#0072B2", "t_learn_color"),
                                     ("acc_size", "size", "#D55E00", "t_learn_size")):
        fig.add_trace(go.Scatter(x=held.step, y=held[column], mode="lines+markers", name=name,
                                 line=dict(color=color, width=2)))
        _vline(fig, metrics.get(key), f"T_{name}", color)
    fig.add_hline(y=params["threshold"], line=dict(color="#999999", width=1))
    fig.update_layout(title="Held-out prompt: accuracy per concept", xaxis_title="training step",
                      yaxis_title="accuracy")
    add_caption(fig, f"Grey line: the threshold {params['threshold']:g}; dashed lines: each concept's learning time.")
    fig.update_yaxes(range=[-0.03, 1.03])
    return fig


def sweep_figure(sweep: pd.DataFrame, params: Mapping[str, Any], metrics: Mapping[str, Any],
                 mean: pd.DataFrame | None = None) -> go.Figure:
    """Learning time against colour signal (size signal fixed): single seeds faint, the seed-averaged curves'
    learning time as a line; never-learned points drawn at the last step, hollow."""
    ceiling = params["steps"]
    fig = go.Figure()
    for column, name, color in (("t_learn_color", "colour", "#0072B2"), ("t_learn_size", "size", "#D55E00")):
        values = sweep[column].astype(float)
        reached = values.notna()
        fig.add_trace(go.Scatter(x=sweep.color_signal[reached], y=values[reached], mode="markers", opacity=0.4,
                                 name=f"{name}, single seeds", marker=dict(color=color, size=6)))
        fig.add_trace(go.Scatter(x=sweep.color_signal[~reached], y=np.full((~reached).sum(), ceiling),
                                 mode="markers", name=f"{name}, not learned", opacity=0.6,
                                 marker=dict(color=color, size=8, symbol="circle-open")))
        if mean is not None:
            line = mean[column].astype(float).fillna(ceiling)
            fig.add_trace(go.Scatter(x=mean.color_signal, y=line, mode="lines+markers",
                                     name=f"{name}, seed-averaged", line=dict(color=color, width=2)))
    rho = metrics.get("sweep_spearman_color")
    fig.update_layout(title="Learning time against colour signal" + (f" (Spearman ρ = {rho:.2f})" if rho is not None
                                                                       else ""),
                      xaxis_title="colour signal Δc", yaxis_title="learning time (step)")
    add_caption(fig, f"Size signal fixed at Δs = {params['size_signal']:g}. Hollow markers: not learned within "
                     f"{ceiling} steps, drawn at the last step.")
    return fig


def build_figures(result: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    tables, metrics = result.tables, result.metrics
    figures = {
        "concept_space": concept_space(tables["trajectory"], params, metrics, tables.get("seed_trajectories")),
        "accuracy": accuracy_figure(tables["accuracy"], params, metrics, tables.get("seed_accuracy")),
        "concept_accuracy": concept_accuracy(tables["trajectory"], params, metrics),
    }
    if "sweep" in tables:
        figures["sweep"] = sweep_figure(tables["sweep"], params, metrics, tables.get("sweep_mean"))
    return figures


def preview_figures(partial: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    """While training: the trajectories and accuracies of the checkpoints finished so far."""
    return {"concept_space": concept_space(partial.tables["trajectory"], params),
            "accuracy": accuracy_figure(partial.tables["accuracy"], params)}
