"""The phase diagram: a grid over width (load) and temperature, one cached cell each.

Temperature is the SGD noise scale, learning rate / batch size: one axis varies the learning rate at a
fixed batch size, or the batch size at a fixed learning rate.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result

from .cells import compute_cell

METRICS = ("test_accuracy", "lambda_max", "trace", "barrier", "cka")


def axes(params: Mapping[str, Any]) -> tuple[list[tuple[int, int]], list[tuple[float, int]]]:
    """Loads as (width, training samples; 0 for all) and temperatures as (learning rate, batch size) pairs,
    log-spaced, rounded and distinct."""
    n = params["grid_size"]
    if params["load"] == "width":
        widths = sorted({int(round(w)) for w in np.geomspace(params["width_min"], params["width_max"], n)})
        loads = [(w, 0) for w in widths]
    else:
        sizes = sorted({int(round(m)) for m in np.geomspace(params["train_size_min"], params["train_size_max"], n)})
        loads = [(params["width_max"], m) for m in sizes]
    if params["temperature"] == "lr":
        rates = [float(f"{r:.3g}") for r in np.geomspace(params["lr_min"], params["lr_max"], n)]
        return loads, [(lr, params["batch_size"]) for lr in rates]
    batches = sorted({int(round(b)) for b in np.geomspace(params["batch_min"], params["batch_max"], n)}, reverse=True)
    return loads, [(params["lr_max"], batch) for batch in batches]  # large batch first: temperature rises


def _row(width: int, train_size: int, lr: float, batch: int, metrics: Mapping[str, float]) -> dict:
    return {"width": width, "train_size": train_size, "lr": lr, "batch_size": batch, "temperature": lr / batch,
            **{name: metrics.get(name, np.nan) for name in METRICS}}


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    loads, temperatures = axes(params)
    cells = [(load, t) for t in temperatures for load in loads]
    rows = [_row(width, size, lr, batch, {}) for (width, size), (lr, batch) in cells]  # NaN until computed
    for done, ((width, size), (lr, batch)) in enumerate(cells):
        load = f"{size} samples" if size else f"width {width}"
        ctx.report(done / len(cells), f"cell {done + 1}/{len(cells)}: {load}, learning rate {lr:g}, batch {batch}")
        cell = {"dataset": params["dataset"], "width": width, "train_size": size, "depth": params["depth"],
                "lr": lr, "epochs": params["epochs"], "batch_size": batch, "seeds": params["seeds"],
                "label_noise": params["label_noise"], "eval_samples": params["eval_samples"],
                "data_seed": params["data_seed"]}
        result = ctx.cached("cell", cell, lambda cell=cell: compute_cell(cell, ctx))  # each cell its own cache entry
        rows[done] = _row(width, size, lr, batch, result.metrics)
        ctx.preview(Result(tables={"grid": pd.DataFrame(rows)}))  # the grid fills in on the page
    grid = pd.DataFrame(rows)
    best = grid.loc[grid.test_accuracy.idxmax()]
    load_column = "width" if params["load"] == "width" else "train_size"
    smallest, largest = grid[load_column].min(), grid[load_column].max()
    metrics = {"cells": len(grid), "best_test_accuracy": float(best.test_accuracy), "best_width": int(best.width),
               "best_train_size": int(best.train_size), "best_lr": float(best.lr),
               "best_batch_size": int(best.batch_size),
               "barrier_smallest_load": float(grid[grid[load_column] == smallest].barrier.mean()),
               "barrier_largest_load": float(grid[grid[load_column] == largest].barrier.mean())}
    if params["load"] == "width":  # the names earlier versions reported
        metrics["barrier_smallest_width"] = metrics["barrier_smallest_load"]
        metrics["barrier_largest_width"] = metrics["barrier_largest_load"]
    return Result(metrics=metrics, tables={"grid": grid})
