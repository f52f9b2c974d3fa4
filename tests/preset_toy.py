"""A cheap analysis whose three presets differ in every knob the form shows, for the browser race test:
it costs about a second, so the test exercises the form, not a long computation."""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go

from analyses.core import Analysis, Float, Int, ParamSpec, Result


def _compute(params, ctx) -> Result:
    steps = 4
    for i in range(steps):
        ctx.report(i / steps, f"step {i}")
        time.sleep(params["delay"] / steps)
    x = np.linspace(0, 1, params["count"])
    return Result(metrics={"area": float(np.trapezoid(params["alpha"] * x ** params["pull"], x))})


def _figures(result, params) -> dict:
    x = np.linspace(0, 1, 50)
    return {"curve": go.Figure(go.Scatter(x=x, y=params["alpha"] * x ** params["pull"],
                                          line=dict(width=params["line_width"])))}


ANALYSIS = Analysis(
    name="presets", title="Presets", papers=(), version="1",
    spec=ParamSpec((Float("alpha", 0.5, min=0, max=1, label="Alpha"), Int("count", 20, min=2, max=100, label="Count"),
                    Float("pull", 1.0, min=0.1, max=3, label="Pull"), Float("delay", 1.0, min=0, max=5, label="Delay"),
                    Float("line_width", 2.0, min=0.5, max=6, label="Line width", display=True))),
    compute=_compute, figures=_figures,
    presets={"smoke": {"alpha": 0.1, "count": 5, "pull": 0.2, "delay": 0.3, "line_width": 1.0},
             "default": {},
             "wide": {"alpha": 0.9, "count": 80, "pull": 2.5, "delay": 0.6, "line_width": 4.0}},
)
