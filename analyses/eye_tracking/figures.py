"""Figures: heatmap over the stimulus, scanpath, real vs manipulated with their difference, condition
comparison with its test, effect sizes, saliency metrics.

Display options (σ, weighting, opacity, colour scale, the measure shown) and the page's view choice
(`view_image`, `view_condition`, `view_observer`) only redraw: the maps are re-smoothed here from the
result's fixation table. Every figure made from the demo says SIMULATED in its title, and carries
the label in the figure itself when a paper style moves the title into the caption.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core.export import add_banner, add_caption, prefer_height

from . import aoi_figures, maps
from .fixations import real_condition
from .geometry import Screen
from .pictures import data_uri
from .stats import FAKE

POOLED = "all observers (pooled)"
BLUE, ORANGE, GREEN, VERMILION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#888888"


def _text(table: pd.DataFrame) -> pd.DataFrame:
    """CSV round trips turn ids like '12' into numbers: keys are always strings here."""
    table = table.copy()
    for col in ("subject", "stimulus", "condition"):
        if col in table:
            table[col] = table[col].astype(str)
    return table


class View:
    """What to draw: the result's tables as typed frames plus the chosen image, condition and observer."""

    def __init__(self, result, params: Mapping[str, Any]):
        self.result, self.params = result, params
        self.fix = _text(result.tables["fixations"])
        self.stimuli = _text(result.tables["stimuli"]).set_index(["stimulus", "condition"])
        notes = dict(zip(result.tables["notes"]["key"], result.tables["notes"]["value"].astype(str)))
        self.simulated = notes.get("simulated") == "True"
        file_screen = {k: int(v) for k, v in result.metrics.items() if k in ("screen_width_px", "screen_height_px")}
        self.screen = Screen.from_params({**params, **file_screen})  # an ASC's GAZE_COORDS, when it set them
        self.conditions = sorted(self.fix["condition"].unique())
        self.real = real_condition(self.conditions)
        images = list(pd.unique(self.fix["stimulus"]))
        self.image = str(params.get("view_image") or images[0])
        if self.image not in images:
            self.image = images[0]
        default = self.real or self.conditions[0]
        self.condition = str(params.get("view_condition") or default)
        if (self.image, self.condition) not in self.stimuli.index:
            self.condition = next(c for c in self.conditions if (self.image, c) in self.stimuli.index)
        self.observer = params.get("view_observer") or POOLED
        self.sigma_px = params["sigma_deg"] * self.screen.px_per_deg

    def title(self, text: str) -> str:
        return ("SIMULATED DATA · " if self.simulated else "") + text

    def label(self, fig: go.Figure, title: str, subtitle: str | None = None) -> go.Figure:
        """Title (and subtitle) of a figure; a demo figure also carries SIMULATED DATA in the figure itself."""
        fig.update_layout(title=dict(text=self.title(title), subtitle=dict(text=subtitle)))
        if self.simulated:
            add_banner(fig, "SIMULATED DATA")
        return fig

    def picture(self, condition: str) -> tuple[np.ndarray | None, np.ndarray | None, int, int]:
        row = self.stimuli.loc[(self.image, condition)]
        arrays = self.result.arrays
        image = arrays.get(row["image"]) if isinstance(row["image"], str) and row["image"] else None
        mask = arrays.get(row["mask"]) if isinstance(row["mask"], str) and row["mask"] else None
        return image, mask, int(row["width"]), int(row["height"])

    def density(self, condition: str, observer: str | None = None) -> tuple[np.ndarray, int, int]:
        sizes = {k: (int(r["width"]), int(r["height"])) for k, r in self.stimuli.iterrows()}
        who = None if (observer or self.observer) == POOLED else (observer or self.observer)
        found = maps.pooled_maps(self.fix, sizes, self.sigma_px, self.params["weighting"], who,
                                 keys=[(self.image, condition)])
        width, height = sizes[(self.image, condition)]
        if (self.image, condition) not in found:
            cell = maps.display_cell(width, height)
            return np.zeros(maps.grid_shape(width, height, cell)), cell, 0
        density, cell = found[(self.image, condition)]
        n = int(((self.fix["stimulus"] == self.image) & (self.fix["condition"] == condition)
                 & ((self.fix["subject"] == who) if who else True)).sum())
        return density, cell, n

    def fake_condition(self) -> str | None:
        fakes = [c for c in self.conditions if c != self.real and (self.image, c) in self.stimuli.index]
        if self.condition in fakes:
            return self.condition
        return fakes[0] if fakes else None


def _add_picture(fig, view: View, condition: str, row=None, col=None) -> None:
    image, mask, width, height = view.picture(condition)
    kw = {} if row is None else {"row": row, "col": col}
    if image is not None:
        fig.add_trace(go.Image(source=data_uri(image), x0=0.5 * width / image.shape[1], dx=width / image.shape[1],
                               y0=0.5 * height / image.shape[0], dy=height / image.shape[0], hoverinfo="skip",
                               name="stimulus"), **kw)
    else:  # no picture: the stimulus' extent as a frame
        fig.add_trace(go.Scatter(x=[0, width, width, 0, 0], y=[0, 0, height, height, 0], mode="lines",
                                 line=dict(color=GREY, width=1), hoverinfo="skip", showlegend=False), **kw)
    if mask is not None and mask.any():
        # the mask as uint8: one byte a pixel in the figure's JSON, not eight
        fig.add_trace(go.Contour(z=mask.astype(np.uint8), x0=0.5 * width / mask.shape[1], dx=width / mask.shape[1],
                                 y0=0.5 * height / mask.shape[0], dy=height / mask.shape[0],
                                 contours=dict(start=0.5, end=0.5, coloring="none"), showscale=False,
                                 line=dict(color="white", width=1.5, dash="dot"), hoverinfo="skip",
                                 name="edit mask", showlegend=False), **kw)


def _frame(fig, width: int, height: int, row=None, col=None) -> None:
    kw = {} if row is None else {"row": row, "col": col}
    fig.update_xaxes(range=[0, width], showgrid=False, zeroline=False, title_text="x (px)", constrain="domain", **kw)
    fig.update_yaxes(range=[height, 0], showgrid=False, zeroline=False, title_text="y (px)", constrain="domain", **kw)


def _heat(density: np.ndarray, cell: int, params, zmax=None, colorscale=None, zmid=None,
          colorbar: dict | None = None, colorbar_title="density<br>(÷ max)") -> go.Heatmap:
    z = np.asarray(density, float)
    peak = zmax if zmax is not None else (np.abs(z).max() or 1.0)
    shown = z / peak
    if zmid is None:
        shown = np.where(shown > 0.05, shown, np.nan)  # low density transparent: the picture shows through
    extra = dict(zmid=0, zmin=-1, zmax=1) if zmid is not None else dict(zmin=0, zmax=1)
    return go.Heatmap(z=shown.astype(np.float32), x0=cell / 2, dx=cell, y0=cell / 2, dy=cell, colorscale=colorscale or params["colorscale"],
                      opacity=params["opacity"], hovertemplate="x %{x:.0f}, y %{y:.0f}: %{z:.2f}<extra></extra>",
                      colorbar=colorbar or dict(title=colorbar_title, len=0.8), **extra)


def heatmap(view: View) -> go.Figure:
    density, cell, n = view.density(view.condition)
    _, _, width, height = view.picture(view.condition)
    fig = go.Figure()
    _add_picture(fig, view, view.condition)
    fig.add_trace(_heat(density, cell, view.params))
    who = view.observer if view.observer != POOLED else "all observers"
    view.label(fig, f"{view.image} · {view.condition} · {who}",
               f"{n} fixations, {view.params['weighting']}-weighted, σ = {view.params['sigma_deg']:g}° "
               f"= {view.sigma_px:.0f} px")
    _frame(fig, width, height)
    return prefer_height(fig, 2.6)


def scanpath(view: View) -> go.Figure:
    subjects = sorted(view.fix.loc[(view.fix["stimulus"] == view.image) & (view.fix["condition"] == view.condition),
                                   "subject"].unique())
    who = view.observer if view.observer in subjects else (subjects[0] if subjects else None)
    trial = view.fix[(view.fix["stimulus"] == view.image) & (view.fix["condition"] == view.condition)
                     & (view.fix["subject"] == who)].sort_values("order")
    _, _, width, height = view.picture(view.condition)
    fig = go.Figure()
    _add_picture(fig, view, view.condition)
    durations = trial["duration"].to_numpy(float)
    known = np.isfinite(durations).all() and len(durations)
    sizes = 8 + 22 * np.sqrt(durations / durations.max()) if known else np.full(len(trial), 14.0)
    fig.add_trace(go.Scatter(
        x=trial["x"], y=trial["y"], mode="lines+markers+text", text=[str(i + 1) for i in range(len(trial))],
        textfont=dict(color="black", size=9), line=dict(color=ORANGE, width=2),
        marker=dict(size=sizes, color=ORANGE, opacity=0.85, line=dict(color="black", width=1)),
        customdata=np.column_stack([np.arange(1, len(trial) + 1), durations]) if len(trial) else None,
        hovertemplate="fixation %{customdata[0]}: %{customdata[1]:.0f} ms at (%{x:.0f}, %{y:.0f})<extra></extra>",
        name="scanpath"))
    size_note = "marker area ∝ duration" if known else "durations unknown"
    view.label(fig, f"Scanpath · {view.image} · {view.condition} · {who}",
               f"{len(trial)} fixations in order ({size_note})")
    fig.update_layout(showlegend=False)
    _frame(fig, width, height)
    return prefer_height(fig, 2.6)


def real_vs_fake(view: View) -> go.Figure | None:
    """Real and manipulated maps side by side and their difference; one colour bar under the two maps
    (they share the scale), one under the difference, so three panels fit a column's width."""
    fake = view.fake_condition()
    if view.real is None or fake is None or (view.image, view.real) not in view.stimuli.index:
        return None
    real_map, cell, n_real = view.density(view.real)
    fake_map, fake_cell, n_fake = view.density(fake)
    _, _, width, height = view.picture(view.real)
    gap = 0.03
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=gap,
                        subplot_titles=(view.real.replace("_", " "), fake.replace("_", " "), "difference"))
    third = (1 - 2 * gap) / 3
    bar = dict(orientation="h", y=-0.04, yanchor="top", lenmode="fraction", thickness=8)
    peak = max(real_map.max(), fake_map.max()) or 1.0
    for col, (cond, density) in enumerate(((view.real, real_map), (fake, fake_map)), start=1):
        _add_picture(fig, view, cond, 1, col)
        heat = _heat(density, cell, view.params, zmax=peak,
                     colorbar=dict(bar, x=third + gap / 2, len=2 * third + gap, title=dict(text="density (÷ max)")))
        heat.showscale = col == 2
        fig.add_trace(heat, row=1, col=col)
        _frame(fig, width, height, 1, col)
    if real_map.shape == fake_map.shape:
        p = real_map / (real_map.sum() or 1.0)
        q = fake_map / (fake_map.sum() or 1.0)
        diff = q - p
        _add_picture(fig, view, fake, 1, 3)
        fig.add_trace(_heat(diff, cell, {**view.params, "opacity": max(view.params["opacity"], 0.5)},
                            zmax=np.abs(diff).max() or 1.0, colorscale="RdBu_r", zmid=0.0,
                            colorbar=dict(bar, x=1 - third / 2, len=third, title=dict(text="Δ (÷ max |Δ|)"))),
                      row=1, col=3)
        _frame(fig, width, height, 1, 3)
    view.label(fig, f"{view.image}: real vs manipulated")
    fig.update_layout(showlegend=False)
    fig.update_xaxes(showticklabels=False, title_text="")
    fig.update_yaxes(showticklabels=False, title_text="")
    return add_caption(fig, f"Fixation density on the real image ({view.real}, n = {n_real} fixations) and the "
                            f"manipulated one ({fake}, n = {n_fake}), each divided by the larger peak; right: "
                            f"their difference ({fake} − {view.real}, each map normalised to sum 1), red where "
                            f"the manipulated image drew more. Dotted outline: the edit mask. Images "
                            f"{width} × {height} px.")


def _label(measure: str) -> str:
    units = {"entropy": "bits", "centroid_distance": "deg", "hull_area": "deg²", "bcea": "deg²",
             "mean_duration": "ms", "n_fixations": "", "mask_share": "share", "mask_dwell_share": "share"}
    unit = units.get(measure, "")
    return measure.replace("_", " ") + (f" ({unit})" if unit else "")


def conditions(view: View) -> go.Figure | None:
    measure = view.params["measure"]
    means = _text(view.result.tables["image_means"])
    if measure not in means or means[measure].isna().all():
        return None
    order = ([view.real] if view.real else []) + [c for c in view.conditions if c != view.real]
    fig = go.Figure()
    wide = means.pivot(index="stimulus", columns="condition", values=measure).reindex(columns=order)
    # one line per image, the pairing the test uses: a single trace, images separated by gaps
    xs = [x for _ in range(len(wide)) for x in [*order, None]]
    ys = [v for row in wide.to_numpy() for v in [*row, None]]
    names = [n for n in wide.index for _ in range(len(order) + 1)]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=GREY, width=0.8), opacity=0.5, text=names,
                             hovertemplate="%{text}: %{y:.3g}<extra></extra>", showlegend=False, connectgaps=False))
    palette = [BLUE, VERMILION, GREEN, ORANGE, "#CC79A7", "#56B4E9"]
    for i, cond in enumerate(order):
        fig.add_trace(go.Box(x=[cond] * wide[cond].notna().sum(), y=wide[cond].dropna(), name=cond, boxpoints="all",
                             jitter=0.25, pointpos=0, marker=dict(color=palette[i % len(palette)], size=5),
                             line=dict(color=palette[i % len(palette)]), fillcolor="rgba(0,0,0,0)", showlegend=False))
    tests = view.result.tables["tests"]
    lines = []
    if not tests.empty:
        part = tests[tests["measure"] == measure]
        for _, t in part.iterrows():
            if pd.notna(t["p"]):
                lines.append(f"{t['comparison']}: Wilcoxon signed-rank p = {t['p']:.3g} (Holm-corrected "
                             f"{t['p_holm']:.3g}), n = {int(t['n_images'])} images, d_z = {t['dz']:.2f}.")
    friedman = view.result.tables["friedman"]
    if not friedman.empty and (friedman["measure"] == measure).any():
        f = friedman[friedman["measure"] == measure].iloc[0]
        holm = f" (Holm-corrected across measures {f['p_holm']:.3g})" if "p_holm" in f and pd.notna(f["p_holm"]) else ""
        lines.append(f"Friedman test across {int(f['k_conditions'])} conditions: χ² = {f['chi2']:.2f}, "
                     f"p = {f['p']:.3g}{holm}, n = {int(f['n_images'])} images.")
    n_obs = view.fix["subject"].nunique()
    view.label(fig, f"{_label(measure)} per image (mean over {n_obs} observers)")
    fig.update_layout(yaxis_title=_label(measure), xaxis_title="condition")
    fig.update_xaxes(type="category")
    return add_caption(fig, "Each grey line joins one image's means across conditions (the pairs the tests use). "
                            "Holm correction within each measure across the manipulated conditions; the comparison "
                            "with the manipulated conditions' mean is corrected across measures.", *lines)


def effects(view: View) -> go.Figure | None:
    tests = view.result.tables["tests"]
    if tests.empty:
        return None
    pooled = FAKE if (tests["condition"] == FAKE).any() else tests["condition"].iloc[0]
    part = tests[(tests["condition"] == pooled) & tests["dz"].notna()]
    if part.empty:
        return None
    fig = go.Figure(go.Scatter(
        x=part["dz"], y=[_label(m) for m in part["measure"]], mode="markers", marker=dict(color=BLUE, size=9),
        error_x=dict(type="data", symmetric=False, array=part["dz_ci_high"] - part["dz"],
                     arrayminus=part["dz"] - part["dz_ci_low"], color=BLUE),
        customdata=np.column_stack([part["p"], part["n_images"]]),
        hovertemplate="d_z %{x:.2f}, p = %{customdata[0]:.3g}, n = %{customdata[1]} images<extra></extra>"))
    fig.add_vline(x=0, line=dict(color=GREY, dash="dash", width=1))
    n = int(part["n_images"].max())
    view.label(fig, f"{pooled} − {view.real}: effect sizes")
    fig.update_layout(xaxis_title="d_z", yaxis=dict(autorange="reversed"))
    return add_caption(fig, f"d_z: mean paired difference ({pooled} − {view.real}, per image) divided by the SD of "
                            f"the differences, n = {n} images; bars: 95% percentile bootstrap intervals "
                            f"({view.params.get('bootstrap', '')} resamples). Wilcoxon signed-rank p-values are in "
                            "the tests table.")


def saliency_metrics(view: View) -> go.Figure | None:
    """One panel per metric (2 x 3), conditions as rows of horizontal bars, one colour per predictor."""
    scores = _text(view.result.tables["saliency_metrics"])
    if scores.empty:
        return None
    names = ("NSS", "AUC_Judd", "CC", "SIM", "KL", "IG")
    titles = ("NSS", "AUC-Judd", "CC", "SIM", "KL (nats)", "IG (bits/fix.)")
    fig = make_subplots(rows=2, cols=3, horizontal_spacing=0.05, vertical_spacing=0.32, shared_yaxes=True)
    predictors = sorted(scores["predictor"].unique())
    palette = {"centre_bias": GREY, "spectral_residual": BLUE, "real_observers": VERMILION}
    conditions = ([view.real] if view.real else []) + [c for c in view.conditions if c != view.real]
    for i, (metric, title) in enumerate(zip(names, titles)):
        row, col = i // 3 + 1, i % 3 + 1
        summary = scores.groupby(["predictor", "condition"])[metric].agg(["mean", "sem", "count"]).reset_index()
        for predictor in predictors:
            rows = summary[summary["predictor"] == predictor].set_index("condition").reindex(conditions).reset_index()
            fig.add_trace(go.Bar(y=rows["condition"], x=rows["mean"], orientation="h",
                                 name=predictor.replace("_", " "), legendgroup=predictor, showlegend=i == 0,
                                 marker_color=palette.get(predictor, GREEN),
                                 error_x=dict(type="data", array=rows["sem"].fillna(0), thickness=1, width=2)),
                          row=row, col=col)
        fig.update_xaxes(title_text=title, row=row, col=col)
    fig.update_yaxes(type="category", autorange="reversed")
    n = scores["stimulus"].nunique()
    view.label(fig, "Saliency predictors against the observers' maps")
    fig.update_layout(barmode="group", bargap=0.25)
    add_caption(fig, f"Mean ± SEM over n = {n} images. IG: information gain over the centre bias. Predictors: "
                     "the centre bias, a spectral-residual saliency model, and the real image's fixation map.")
    return prefer_height(fig, 3.0)



def build_figures(result, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    view = View(result, params)
    built = {"heatmap": heatmap(view), "scanpath": scanpath(view), "real_vs_fake": real_vs_fake(view),
             "conditions": conditions(view), "effects": effects(view), "saliency_metrics": saliency_metrics(view),
             "aoi_dwell": aoi_figures.aoi_dwell(view), "aoi_transitions": aoi_figures.aoi_transitions(view)}
    if "view_image" not in params:  # an export (not the page's view): every stimulus, so none is left out
        built.update(aoi_figures.heatmap_pages(view))
    if view.simulated:  # the AOI and all-stimuli figures too: SIMULATED stays in the figure when styling moves titles
        for fig in built.values():
            if fig is not None:
                add_banner(fig, "SIMULATED DATA")
    return {name: fig for name, fig in built.items() if fig is not None}


def preview_figures(partial, params: Mapping[str, Any]) -> dict[str, go.Figure]:
    """While the measures and tests compute: the first image's heatmap and a scanpath."""
    view = View(partial, params)
    return {"heatmap": heatmap(view), "scanpath": scanpath(view)}
