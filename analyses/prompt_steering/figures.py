"""Figures: instability matrix, format factors, position bias, steering vs format noise, steering
signal-to-noise, placebo vs country personas, rank stability and extrapolability."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core import Result
from analyses.core.export import add_caption

# Okabe-Ito (colour-blind safe), one hue per persona kind.
KIND_COLOURS = {"country": "#0072B2", "placebo": "#E69F00", "activation": "#009E73"}
BLUE, ORANGE, GREEN, VERMILION, PURPLE, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#999999"


def _abbreviations(names) -> dict[str, str]:
    """Short unique codes for long category names (first letters, lengthened until unique)."""
    names = list(dict.fromkeys(names))
    for n in range(3, max((len(x) for x in names), default=3) + 1):
        codes = {name: name.replace("_", "")[:n] for name in names}
        if len(set(codes.values())) == len(names):
            return codes
    return {name: name for name in names}


FORMAT_WORDS = {"letters": "abc", "numbers": "123", "ascending": "asc", "reversed": "rev", "text": "txt"}


def short_format(name: str) -> str:
    """'letters·reversed·id·L5' as 'abc·rev·id·L5' (the caption gives the key): column labels that fit."""
    return "·".join(FORMAT_WORDS.get(part, part) for part in str(name).split("·"))


def instability_matrix(scores: pd.DataFrame, title: str = "Instability matrix: E[s] without a persona") -> go.Figure:
    none = scores[scores.persona_kind == "none"]
    if none.empty:
        none = scores
    table = none.pivot_table(index="item", columns="format", values="expected_scale", aggfunc="mean")
    items = list(dict.fromkeys(scores.item))
    table = table.reindex([i for i in items if i in table.index])
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[short_format(c) for c in table.columns], y=list(table.index),
                               zmin=0, zmax=1, colorscale="RdBu", colorbar=dict(title="E[s]"),
                               customdata=np.tile(np.asarray(table.columns, dtype=object), (len(table), 1)),
                               hovertemplate="item %{y}<br>%{customdata}<br>E[s] = %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="format", yaxis_title="item", yaxis_autorange="reversed")
    fig.update_xaxes(type="category", tickangle=-90)
    fig.update_yaxes(type="category")
    return add_caption(fig, "E[s]: the expected answer on the item's 0–1 scale. Formats: option labels (abc: letters, "
                            "123: numbers) · option order (asc: ascending, rev: reversed, perm: a random permutation) "
                            "· answer by identifier (id) or by the option's text (txt) · Likert points (L4–L6).")


def factor_effects(factors: pd.DataFrame, human_sd: float | None) -> go.Figure:
    names = [f"{f}<br>{lv.replace(' vs ', '<br>vs ')}" for f, lv in zip(factors.factor, factors.levels)]
    text = [f"p = {p:.2g}" for p in factors.p_value]
    fig = go.Figure(go.Bar(x=names, y=factors.effect, text=text, textposition="outside", name="effect",
                           marker_color=BLUE, cliponaxis=False))
    fig.add_trace(go.Scatter(x=names, y=factors.null_mean, mode="markers", name="permutation null (mean)",
                             marker=dict(symbol="line-ew-open", size=24, color="black", line=dict(width=2))))
    top = float(np.nanmax([*factors.effect, *factors.null_mean, human_sd or 0])) if len(factors) else 1.0
    if human_sd is not None and np.isfinite(human_sd):
        fig.add_trace(go.Scatter(x=[names[0], names[-1]], y=[human_sd, human_sd], mode="lines",
                                 name="human between-country SD", line=dict(color=GREY, dash="dash", width=1)))
    fig.update_layout(title="Format factors: mean |shift of E[s]| per item", yaxis_title="|Δ E[s]|",
                      showlegend=True)
    fig.update_yaxes(range=[0, 1.25 * top])  # room for the p-values above the bars
    return add_caption(fig, "p: permutation test of each factor (its labels shuffled among each item's prompts), "
                            "one-sided, not corrected for the number of factors.")


def position_bias(scores: pd.DataFrame) -> go.Figure:
    data = scores[scores.response == "identifier"]
    if data.empty:
        data = scores
    grouped = data.groupby("order").agg(p_first=("p_first", "mean"), uniform=("n_options", lambda k: (1 / k).mean()))
    fig = go.Figure(go.Bar(x=list(grouped.index), y=grouped.p_first, name="mass on the first-listed option",
                           marker_color=BLUE))
    fig.add_trace(go.Scatter(x=list(grouped.index), y=grouped.uniform, mode="markers", name="1/K (no bias)",
                             marker=dict(symbol="line-ew-open", size=40, color="black", line=dict(width=2))))
    fig.update_layout(title="Position bias: probability on the first-listed option", xaxis_title="option order",
                      yaxis_title="P(first listed)", yaxis_range=[0, 1])
    return add_caption(fig, "Mean probability on the first-listed option under each option order (answers by "
                            "identifier); 1/K marks no bias.")


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
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="y = x", line=dict(color=GREY, dash="dash")))
    fig.update_layout(title="Steering effect against format noise (per item and persona)",
                      xaxis_title="format noise (SD of E[s])", yaxis_title="|E[s | persona] − E[s | none]|")
    return add_caption(fig, "Format noise: the SD of E[s] across formats without a persona. Points above y = x: "
                            "a persona moves the answer more than the format does.")


def snr(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Bar(x=table["item"], y=table.snr, marker_color=GREEN, name="SNR"))
    positive = table.snr[table.snr > 0]
    low = float(np.floor(np.log10(min(positive.min(), 1.0)))) if len(positive) else -1.0
    high = float(np.ceil(np.log10(max(positive.max(), 1.0)))) if len(positive) else 1.0
    fig.add_hline(y=1.0, line=dict(dash="dash", color=GREY, width=1))
    fig.update_layout(title="Steering signal-to-noise per item", xaxis_title="item", yaxis_title="SNR",
                      yaxis_type="log", yaxis_range=[low, max(high, low + 1)])
    fig.update_xaxes(type="category")
    return add_caption(fig, "SNR: between-persona variance of E[s] over within-persona (format) variance; dashed: "
                            "signal = noise.")


def placebo_vs_country(steering: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for kind, group in steering.groupby("persona_kind"):
        fig.add_trace(go.Box(y=group.effect.abs(), name=kind, boxpoints="all", jitter=0.4, pointpos=0,
                             marker_color=KIND_COLOURS.get(kind, GREY)))
    fig.update_layout(title="Placebo personas beside country personas", yaxis_title="|steering effect| on E[s]",
                      xaxis_title="persona kind", showlegend=False)
    return fig


def rank_stability(ranks: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Histogram(x=ranks.tau, xbins=dict(start=-1, end=1.0001, size=0.1), marker_color=PURPLE))
    fig.update_layout(title="Rank stability of the country ordering between formats",
                      xaxis_title="Kendall τ", yaxis_title="item × format pairs", xaxis_range=[-1.05, 1.05])
    return add_caption(fig, "Kendall τ between the countries' orderings by E[s] under two formats, for every item "
                            "and pair of formats; 1: the same order, −1: reversed.")


def extrapolability(table: pd.DataFrame) -> go.Figure:
    """One group of bars per split of the dimensions; x labels are the held-in dimensions, abbreviated
    and stacked (the held-out ones are the rest), with the abbreviations in the caption."""
    halves = [[d.strip() for d in str(held).split(",")] for held in table.held_in]
    codes = _abbreviations(d for half in halves for d in half)
    names = ["<br>".join(codes[d] for d in half) for half in halves]
    hover = [f"{a} → {b}" for a, b in zip(table.held_in, table.held_out)]
    fig = go.Figure(go.Bar(x=names, y=table.r, marker_color=VERMILION, name="r", hovertext=hover))
    if "ari" in table:
        fig.add_trace(go.Bar(x=names, y=table.ari, marker_color=BLUE, name="ARI, model", hovertext=hover))
    if "human_ari" in table and table.human_ari.notna().any():
        fig.add_trace(go.Bar(x=names, y=table.human_ari, marker_color=GREY, name="ARI, humans", hovertext=hover))
    fig.update_layout(title="Extrapolability: countries' steering on one half of the dimensions vs the other",
                      xaxis_title="dimensions held in", yaxis_title="r or ARI", yaxis_range=[-1, 1], barmode="group")
    fig.update_xaxes(type="category")
    key = ", ".join(f"{code} = {name}" for name, code in codes.items())
    return add_caption(fig, "Each split holds in the dimensions named under its bars and holds out the rest. r: "
                            "Pearson correlation of the countries' steering effects between the halves; ARI, model: "
                            "adjusted Rand index of the country clusters from the held-in half against all "
                            "dimensions; ARI, humans: the same for the human countries' dimension scores "
                            f"(reference). Dimensions: {key}.")


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
        fig.add_trace(go.Scatter(x=chosen.index, y=chosen.alignment, mode="markers", name="chosen",
                                 marker=dict(symbol="circle-open", size=12, color="black", line=dict(width=2))))
    fig.update_layout(title="Specification curve: alignment to human answers under every analysis choice",
                      xaxis_title="specification (ranked)", yaxis_title="alignment")
    return add_caption(fig, "Every combination of format, persona wording and alignment measure, ranked by the mean "
                            "alignment over countries; colour: the country the model is most aligned with; open "
                            "circle: all formats, no persona, 1 − Jensen–Shannon divergence.")


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
                             line=dict(color=GREY, dash="dash")))
    fig.update_layout(title="Prompt steering against activation steering (per item and country)",
                      xaxis_title="persona prompt: Δ E[s]", yaxis_title="activation α·v: Δ E[s]")
    return add_caption(fig, "Persona prompts: mean over wordings. Activation steering adds α·v at one layer, v the "
                            "mean persona-minus-none hidden state.")


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
