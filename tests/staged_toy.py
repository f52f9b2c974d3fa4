"""A staged analysis for backend tests: data -> fit -> (surface, spectrum) -> tables; each stage counts its runs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from analyses.core import Analysis, Bool, Float, InputError, Int, ParamSpec, Result
from analyses.core.stages import Pipeline, stage_report

RUNS: list[str] = []
pipeline = Pipeline()


@pipeline.stage(reads=("n", "seed"))
def data(ctx, *, n, seed) -> Result:
    RUNS.append("data")
    if n == 999:
        raise InputError("n = 999 is refused on purpose (a failing point for sweep tests)")
    x = np.random.default_rng(seed).normal(size=n)
    return Result(arrays={"x": x})


@pipeline.stage(reads=("epochs", "pause"), after=("data",), weight=4)
def fit(ctx, data: Result, *, epochs, pause) -> Result:
    RUNS.append("fit")
    w = 0.0
    for epoch in range(epochs):
        ctx.report(epoch / epochs, f"epoch {epoch}")
        time.sleep(pause / epochs)
        w += 0.5 * (float(np.mean(data.arrays["x"])) - w)
    return Result(metrics={"w": w})


@pipeline.stage(reads=("grid_range", "grid_points"), after=("fit",))
def surface(ctx, fit: Result, *, grid_range, grid_points) -> Result:
    RUNS.append("surface")
    grid = np.linspace(-grid_range, grid_range, grid_points) + fit.metrics["w"]
    return Result(tables={"surface": pd.DataFrame({"a": grid, "loss": grid ** 2})})


@pipeline.stage(reads=("spectrum", "samples"), after=("fit", "data"), when=lambda v: v["spectrum"])
def spectrum(ctx, fit: Result, data: Result, *, spectrum, samples) -> Result:
    RUNS.append("spectrum")
    return Result(metrics={"spread": float(np.std(data.arrays["x"][:samples]) * fit.metrics["w"])})


def compute(params, ctx) -> Result:
    results, records = pipeline.run(params, ctx)
    metrics = {"w": results["fit"].metrics["w"]}
    if results["spectrum"] is not None:
        metrics["spread"] = results["spectrum"].metrics["spread"]
    return Result(metrics=metrics, tables={"surface": results["surface"].tables["surface"]},
                  provenance={"stages": stage_report(records)})


ANALYSIS = Analysis(
    name="staged", title="Staged", papers=(), version="1",
    spec=ParamSpec((Int("n", 50, min=2, max=1000), Int("seed", 0, min=0, max=99), Int("epochs", 3, min=1, max=50), Float("pause", 0.0, min=0, max=60),
                    Float("grid_range", 1.0, min=0.1, max=5), Int("grid_points", 5, min=2, max=50),
                    Bool("spectrum", True), Int("samples", 10, min=1, max=1000))),
    compute=compute, figures=lambda result, params: {},
    presets={"smoke": {}, "default": {}},
)
