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


def axes(params: Mapping[str, Any]) -> tuple[list[int], list[tuple[float, int]]]:
    """Log-spaced widths (rounded, distinct) and temperatures as (learning rate, batch size) pairs."""
    n = params["grid_size"]
    widths = sorted({int(round(w)) for w in np.geomspace(params["width_min"], params["width_max"], n)})
    if params["temperature"] == "lr":
        rates = [float(f"{r:.3g}") for r in np.geomspace(params["lr_min"], params["lr_max"], n)]
        return widths, [(lr, params["batch_size"]) for lr in rates]
    batches = sorted({int(round(b)) for b in np.geomspace(params["batch_min"], params["batch_max"], n)}, reverse=True)
    return widths, [(params["lr_max"], batch) for batch in batches]  # large batch first: temperature rises


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    widths, temperatures = axes(params)
    cells = [(w, t) for t in temperatures for w in widths]
    rows = []
    for done, (width, (lr, batch)) in enumerate(cells):
        ctx.report(done / len(cells), f"cell {done + 1}/{len(cells)}: width {width}, learning rate {lr:g}, "
                                      f"batch {batch}")
        cell = {"dataset": params["dataset"], "width": width, "depth": params["depth"], "lr": lr,
                "epochs": params["epochs"], "batch_size": batch, "seeds": params["seeds"],
                "label_noise": params["label_noise"], "eval_samples": params["eval_samples"],
                "data_seed": params["data_seed"]}
        result = ctx.cached("cell", cell, lambda cell=cell: compute_cell(cell))  # each cell its own cache entry
        rows.append({"width": width, "lr": lr, "batch_size": batch, "temperature": lr / batch, **result.metrics})
    grid = pd.DataFrame(rows)
    best = grid.loc[grid.test_accuracy.idxmax()]
    metrics = {"cells": len(grid), "best_test_accuracy": float(best.test_accuracy), "best_width": int(best.width),
               "best_lr": float(best.lr), "best_batch_size": int(best.batch_size),
               "barrier_smallest_width": float(grid[grid.width == widths[0]].barrier.mean()),
               "barrier_largest_width": float(grid[grid.width == widths[-1]].barrier.mean())}
    return Result(metrics=metrics, tables={"grid": grid})
