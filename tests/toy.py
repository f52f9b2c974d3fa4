"""A tiny analysis for backend tests: it counts its computations in a file and can be slowed down."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.core import Analysis, Float, InputFile, Int, ParamSpec, Result


def _compute(params, ctx):
    log = os.environ.get("TOY_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    steps = 5
    for i in range(steps):
        ctx.report(i / steps, f"step {i}")
        time.sleep(params["delay"] / steps)
    scale = params["scale"]
    if params["data"]:
        scale += len(Path(params["data"]).read_bytes())
    x = np.arange(params["n"], dtype=float)
    return Result(metrics={"total": float((x * scale).sum())},
                  tables={"values": pd.DataFrame({"x": x, "y": x * scale})},
                  arrays={"grid": np.outer(x, x) * scale})


def _figures(result, params):
    import plotly.graph_objects as go

    table = result.tables["values"]
    return {"line": go.Figure(go.Scatter(x=table.x, y=table.y))}


def make(version: str = "1", source_dir: Path | None = None) -> Analysis:
    return Analysis(
        name="toy", title="Toy", papers=("none",), version=version,
        spec=ParamSpec((Int("n", 10, min=1, max=1000), Float("scale", 1.0, min=0, max=100),
                        Float("delay", 0.0, min=0, max=60), InputFile("data", None, suffixes=(".txt",)))),
        compute=_compute, figures=_figures,
        presets={"smoke": {"n": 3}, "default": {}},
        source_dir=source_dir or Path(__file__).parent / "toy_source",
    )


ANALYSIS = make()  # what a third-party package would point its entry point at
