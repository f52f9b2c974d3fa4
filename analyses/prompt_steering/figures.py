"""Figures: instability matrix, format factors, position bias, steering vs format noise, steering
signal-to-noise, placebo vs country personas, rank stability and extrapolability."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core import Result

KIND_COLOURS = {"country": "#1f77b4", "placebo": "#ff7f0e", "activation": "#2ca02c"}


def instability_matrix(scores: pd.DataFrame, title: str = "Instability matrix: E[s] without a persona") -> go.Figure:
    none = scores[scores.persona_kind == "none"]
    if none.empty:
        none = scores
    table = none.pivot_table(index="item", columns="format", values="expected_scale", aggfunc="mean")
    items = list(dict.fromkeys(scores.item))
    table = table.reindex([i for i in items if i in table.index])
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=list(table.columns), y=list(table.index), zmin=0, zmax=1,
                               colorscale="RdBu", colorbar=dict(title="E[s]"),
                               hovertemplate="item %{y}<br>%{x}<br>E[s] = %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="format (labels · order · answer · Likert size)",
                      yaxis_title="item", yaxis_autorange="reversed")
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_yaxes(type="category")
    return fig


def factor_effects(factors: pd.DataFrame, human_sd: float | None) -> go.Figure:
    names = [f"{f}<br>{lv}" for f, lv in zip(factors.factor, factors.levels)]
    text = [f"p = {p:.3g}" for p in factors.p_value]
    fig = go.Figure(go.Bar(x=names, y=factors.effect, text=text, textposition="outside", name="effect",
                           marker_color="#4c72b0"))
    fig.add_trace(go.Scatter(x=names, y=factors.null_mean, mode="markers", name="permutation null (mean)",
                             marker=dict(symbol="line-ew-open", size=30, color="black", line=dict(width=2))))
    if human_sd is not None and np.isfinite(human_sd):
        fig.add_hline(y=human_sd, line_dash="dash", annotation_text="human between-country SD")
    fig.update_layout(title="Format factors: mean |shift of E[s]| per item", yaxis_title="|Δ E[s]|",
                      xaxis_title="factor", showlegend=True)
    return fig


def position_bias(scores: pd.DataFrame) -> go.Figure:
    data = scores[scores.response == "identifier"]
    if data.empty:
        data = scores
    grouped = data.groupby("order").agg(p_first=("p_first", "mean"), uniform=("n_options", lambda k: (1 / k).mean()))
    fig = go.Figure(go.Bar(x=list(grouped.index), y=grouped.p_first, name="mass on the first-listed option"))
    fig.add_trace(go.Scatter(x=list(grouped.index), y=grouped.uniform, mode="markers", name="1/K (no bias)",
                             marker=dict(symbol="line-ew-open", size=40, color="black", line=dict(width=2))))
    fig.update_layout(title="Position bias: probability on the first-listed option", xaxis_title="option order",
                      yaxis_title="P(first listed)", yaxis_range=[0, 1])
    return fig


def steering_vs_noise(steering: pd.DataFrame, which: str = "all") -> go.Figure:
    data = steering if which == "all" else steering[steering.persona_kind == which]
    fig = go.Figure()
    for kind, group in data.groupby("persona_kind"):
        fig.add_trace(go.Scatter(x=group.format_noise, y=group.effect.abs(), mode="markers", name=kind,
                                 marker=dict(color=KIND_COLOURS.get(kind), opacity=0.7),
                                 customdata=np.stack([group["item"], group.persona], axis=-1),
                                 hovertemplate="%{customdata[0]} · %{customdata[1]}<br>noise %{x:.3f}"
                                               "<br>|effect| %{y:.3f}<extra></extra>"))
    top = float(max(data.format_noise.max(), data.effect.abs().max(), 0.05)) if len(data) else 1.0
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="y = x", line=dict(color="grey", dash="dash")))
    fig.update_layout(title="Steering effect against format noise (per item and persona)",
                      xaxis_title="format noise: SD of E[s] across formats, no persona",
                      yaxis_title="|E[s | persona] − E[s | none]|")
    return fig


def snr(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Bar(x=table["item"], y=table.snr, marker_color="#55a868"))
    fig.add_hline(y=1.0, line_dash="dash", annotation_text="signal = noise")
    fig.update_layout(title="Steering signal-to-noise per item (between-persona / within-persona variance)",
                      xaxis_title="item", yaxis_title="SNR", yaxis_type="log")
    fig.update_xaxes(type="category")
    return fig


def placebo_vs_country(steering: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for kind, group in steering.groupby("persona_kind"):
        fig.add_trace(go.Box(y=group.effect.abs(), name=kind, boxpoints="all", jitter=0.4, pointpos=0,
                             marker_color=KIND_COLOURS.get(kind)))
    fig.update_layout(title="Placebo personas beside country personas", yaxis_title="|steering effect| on E[s]",
                      xaxis_title="persona kind", showlegend=False)
    return fig


def rank_stability(ranks: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Histogram(x=ranks.tau, xbins=dict(start=-1, end=1.0001, size=0.1), marker_color="#8172b2"))
    fig.update_layout(title="Rank stability: Kendall τ of the country ordering between formats (per item)",
                      xaxis_title="Kendall τ", yaxis_title="item × format pairs", xaxis_range=[-1.05, 1.05])
    return fig


def extrapolability(table: pd.DataFrame) -> go.Figure:
    names = [f"{a}<br>→ {b}" for a, b in zip(table.held_in, table.held_out)]
    fig = go.Figure(go.Bar(x=names, y=table.r, marker_color="#c44e52", name="r of steering effects"))
    if "ari" in table:
        fig.add_trace(go.Bar(x=names, y=table.ari, marker_color="#8c8c8c",
                             name="ARI: country clusters, held-in half vs all"))
    if "human_ari" in table and table.human_ari.notna().any():
        fig.add_trace(go.Bar(x=names, y=table.human_ari, marker_color="#dd8452",
                             name="ARI of the human countries' dimension scores (reference)"))
    fig.update_layout(title="Extrapolability: countries' steering on one half of the dimensions vs the other",
                      xaxis_title="dimensions held in → held out", yaxis_title="Pearson r / adjusted Rand index",
                      yaxis_range=[-1, 1], barmode="group")
    return fig


def extrapolability_subsets(subsets: pd.DataFrame) -> go.Figure:
    """The paper's extrapolability: ARI of each subset of r dimensions against all, and the median per r."""
    fig = go.Figure()
    colours = {"human": "#dd8452", "model": "#4c72b0"}
    for side, group in subsets.groupby("side"):
        fig.add_trace(go.Scatter(x=group.r, y=group.ari, mode="markers", name=f"{side}: one subset",
                                 marker=dict(color=colours.get(side), opacity=0.35), customdata=group.dimensions,
                                 hovertemplate="%{customdata}<br>ARI %{y:.3f}<extra></extra>"))
        medians = group.groupby("r").ari.median()
        fig.add_trace(go.Scatter(x=list(medians.index), y=medians.to_numpy(), mode="lines+markers",
                                 name=f"{side}: median", line=dict(color=colours.get(side), width=2)))
    fig.update_layout(title="Extrapolability (the paper's): do r dimensions group countries as all do?",
                      xaxis_title="dimensions in the subset (r)", yaxis_title="adjusted Rand index vs all dimensions",
                      yaxis_range=[-0.55, 1.05])
    fig.update_xaxes(dtick=1)
    return fig


def specification_curve(spec: pd.DataFrame) -> go.Figure:
    ordered = spec.sort_values("alignment").reset_index(drop=True)
    chosen = ordered[(ordered.format == "all") & (ordered.persona == "none") & (ordered.measure == "1-JSD")]
    fig = go.Figure()
    for country, group in ordered.groupby("most_aligned"):
        fig.add_trace(go.Scatter(x=group.index, y=group.alignment, mode="markers", name=f"most aligned: {country}",
                                 customdata=np.stack([group.format, group.persona, group.measure], axis=-1),
                                 hovertemplate="%{customdata[0]} · persona %{customdata[1]} · %{customdata[2]}"
                                               "<br>alignment %{y:.3f}<extra></extra>"))
    if len(chosen):
        fig.add_trace(go.Scatter(x=chosen.index, y=chosen.alignment, mode="markers", name="chosen specification",
                                 marker=dict(symbol="circle-open", size=16, color="black", line=dict(width=2))))
    fig.update_layout(title="Specification curve: alignment to human answers under every analysis choice",
                      xaxis_title="specifications, ranked by alignment", yaxis_title="mean alignment over countries")
    return fig


def prompt_vs_activation(steering: pd.DataFrame) -> go.Figure:
    """Per item and country: the prompt persona's effect (mean over wordings) against activation steering's."""
    by_kind = steering[steering.persona_kind.isin(["country", "activation"])]
    table = by_kind.groupby(["item", "country", "persona_kind"]).effect.mean().unstack("persona_kind").dropna()
    fig = go.Figure(go.Scatter(x=table["country"], y=table["activation"], mode="markers",
                               customdata=np.stack([table.index.get_level_values(0), table.index.get_level_values(1)],
                                                   axis=-1),
                               hovertemplate="%{customdata[0]} · %{customdata[1]}<br>prompt %{x:.3f}"
                                             "<br>activation %{y:.3f}<extra></extra>", name="item × country"))
    top = float(np.nanmax(np.abs(table.to_numpy()))) if len(table) else 1.0
    fig.add_trace(go.Scatter(x=[-top, top], y=[-top, top], mode="lines", name="y = x",
                             line=dict(color="grey", dash="dash")))
    fig.update_layout(title="Prompt steering against activation steering (per item and country)",
                      xaxis_title="persona prompt: Δ E[s]", yaxis_title="activation α·v: Δ E[s]")
    return fig


def build_figures(result: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    t = result.tables
    figures = {"instability_matrix": instability_matrix(t["scores"]),
               "position_bias": position_bias(t["scores"])}
    if len(t["factors"]):
        figures["format_factors"] = factor_effects(t["factors"], result.metrics.get("human_between_country_sd"))
    if len(t["steering"]):
        figures["steering_vs_noise"] = steering_vs_noise(t["steering"], params.get("steering_personas", "all"))
        figures["placebo_vs_country"] = placebo_vs_country(t["steering"])
    if len(t["snr"]):
        figures["steering_snr"] = snr(t["snr"])
    if len(t["ranks"]):
        figures["rank_stability"] = rank_stability(t["ranks"])
    if len(t["extrapolability"]) and t["extrapolability"][["r", "ari", "human_ari"]].notna().any().any():
        figures["extrapolability"] = extrapolability(t["extrapolability"])
    if len(t.get("extrapolability_subsets", ())):
        figures["extrapolability_subsets"] = extrapolability_subsets(t["extrapolability_subsets"])
    if len(t["steering"]) and (t["steering"].persona_kind == "activation").any():
        figures["prompt_vs_activation"] = prompt_vs_activation(t["steering"])
    if "specification_curve" in t and len(t["specification_curve"]):
        figures["specification_curve"] = specification_curve(t["specification_curve"])
    return figures


def preview_figures(partial: Result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    scores = partial.tables["scores"]
    return {"instability_matrix": instability_matrix(scores, f"E[s] so far ({len(scores)} prompts scored)"),
            "position_bias": position_bias(scores)}
