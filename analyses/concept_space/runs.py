"""The training stages of concept space: every seed's run, then the colour-signal sweep's runs.

Each run is its own cache entry keyed by its settings and the training code alone, so adding a seed or
a sweep point trains only the new runs and a cancelled stage keeps the runs it finished. A stage's
result holds its runs' tables under `<seed>/<table>` (the sweep's under `<signal>/<seed>/<table>`):
what the cache keeps exactly, so the times stage reads the same numbers whether the runs were just
trained or read back.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result

from . import training

RUN_KEYS = ("color_signal", "size_signal", "held_out", "train_on_all", "image_size", "steps", "checkpoints", "lr",
            "batch_size", "channels", "samples", "sampling_steps", "overprompt_max", "latent_strength", "probe")
MAIN_READS = RUN_KEYS + ("seed", "seeds")
SWEEP_READS = MAIN_READS + ("sweep_points", "sweep_min", "sweep_max")
RUN_TABLES = ("trajectory", "accuracy", "loss")


def run_settings(params: Mapping[str, Any], seed: int, color_signal: float | None = None) -> dict[str, Any]:
    """Everything one training run depends on, as plain JSON values: its cache key."""
    settings = {key: params[key] for key in RUN_KEYS}
    settings["seed"] = int(seed)
    if color_signal is not None:
        settings["color_signal"] = float(color_signal)
    return settings


def seed_list(seed: int, seeds: int) -> list[int]:
    return [seed + i for i in range(seeds)]


def sweep_signals(params: Mapping[str, Any]) -> list[float]:
    if params["sweep_points"] < 2:
        return []
    values = np.linspace(params["sweep_min"], params["sweep_max"], params["sweep_points"])
    return [round(float(v), 4) for v in values]


def run_label(seed: int, signal: float | None = None) -> str:
    return f"{seed}" if signal is None else f"{signal:g}/{seed}"


def run_tables(stage: Result, label: str) -> dict[str, pd.DataFrame]:
    """One run's tables out of a training stage's result."""
    return {name: stage.tables[f"{label}/{name}"] for name in RUN_TABLES}


def mean_tables(runs: list[Result]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trajectory and accuracy averaged over seeds, per checkpoint (runs share their checkpoint steps)."""
    trajectory = pd.concat([r.tables["trajectory"] for r in runs]).groupby(["step", "prompt"], as_index=False,
                                                                           sort=True).mean()
    accuracy = pd.concat([r.tables["accuracy"] for r in runs]).groupby(["step", "method"], as_index=False,
                                                                       sort=True).mean()
    return trajectory, accuracy


def main_runs(ctx: Context, **params) -> Result:
    """One run per seed at the chosen signals; the first seed's generated samples for the page."""
    seeds = seed_list(params["seed"], params["seeds"])
    finished: list[Result] = []

    def preview(partial: Result) -> None:  # the seed-averaged curves so far, drawn live
        trajectory, accuracy = mean_tables(finished + [partial]) if finished else (partial.tables["trajectory"],
                                                                                  partial.tables["accuracy"])
        ctx.preview(Result(tables={"trajectory": trajectory, "accuracy": accuracy}))

    for index, seed in enumerate(seeds):
        finished.append(_train(ctx, params, seed, None, index, len(seeds), preview))
    tables = {f"{run_label(s)}/{n}": r.tables[n] for s, r in zip(seeds, finished) for n in RUN_TABLES}
    return Result(tables=tables, arrays={"samples": finished[0].arrays["samples"]})


def sweep_runs(ctx: Context, **params) -> Result:
    """One run per seed at each colour signal of the sweep (the main signals' runs are the other stage's)."""
    jobs = [(seed, c) for c in sweep_signals(params) for seed in seed_list(params["seed"], params["seeds"])]
    tables = {}
    for index, (seed, signal) in enumerate(jobs):
        run = _train(ctx, params, seed, signal, index, len(jobs), None)
        tables.update({f"{run_label(seed, signal)}/{n}": run.tables[n] for n in RUN_TABLES})
    return Result(tables=tables)


def _train(ctx: Context, params: Mapping[str, Any], seed: int, signal: float | None, index: int, count: int,
           preview: Callable[[Result], None] | None) -> Result:
    label = f"seed {seed}" + (f", colour signal {signal:g}" if signal is not None else "")

    def on_checkpoint(fraction: float, partial: Result | None) -> None:
        ctx.report((index + fraction) / count, f"run {index + 1}/{count} ({label}): {fraction:.0%} of training")
        if partial is not None and preview is not None:
            preview(partial)

    settings = run_settings(params, seed, signal)
    return ctx.cached("run", settings, lambda: training.train_run(settings, on_checkpoint), code=(training,))
