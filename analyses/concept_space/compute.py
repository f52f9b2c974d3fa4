"""Concept-space learning dynamics (Park et al. 2024): runs over seeds (and a concept-signal sweep), each a
cached sub-result, averaged into trajectories, accuracies and the derived times.

Three stages: the main runs and the sweep's runs (runs.py) and the times. Changing a threshold, the
checkpoints above it, the smoothing or the turn's minimum speed recomputes the times alone; the runs are
read back.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result
from analyses.core.stages import Pipeline, stage_report

from . import runs as training_stages
from .data import Concepts, pixel_signal
from .dynamics import first_sustained, turn_point
from .runs import RUN_KEYS, mean_tables, run_label, run_settings, run_tables, seed_list, sweep_signals  # noqa: F401

pipeline = Pipeline()
pipeline.stage(reads=training_stages.MAIN_READS, weight=10)(training_stages.main_runs)
pipeline.stage(reads=training_stages.SWEEP_READS, weight=30,
               when=lambda values: values["sweep_points"] >= 2)(training_stages.sweep_runs)
TIMES_READS = ("threshold", "consecutive", "smoothing", "min_speed", "held_out", "color_signal", "size_signal",
               "image_size", "seed", "seeds", "sweep_points", "sweep_min", "sweep_max")


def derived_times(trajectory: pd.DataFrame, accuracy: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Learning times, the turn and the hidden-capability times of the held-out prompt; None where never reached.

    A concept is learned once its smoothed accuracy stays above the threshold for `consecutive` checkpoints
    (the paper's rule); T_naive and T_intervention are the first checkpoints where the smoothed joint
    accuracy passes the threshold.
    """
    held = trajectory[trajectory.prompt == params["held_out"]].sort_values("step")
    steps = held.step.tolist()
    threshold, consecutive, window = params["threshold"], params["consecutive"], params["smoothing"]
    turn, angle = turn_point(steps, held[["p_color", "p_size"]].to_numpy(), window, params["min_speed"])

    def joint(method: str):  # the first (smoothed) pass, as the issue defines T_naive and T_intervention
        rows = accuracy[accuracy.method == method].sort_values("step")
        return first_sustained(rows.step.tolist(), rows.joint_accuracy, threshold, 1, window)

    return {"t_learn_color": first_sustained(steps, held.acc_color, threshold, consecutive, window),
            "t_learn_size": first_sustained(steps, held.acc_size, threshold, consecutive, window),
            "t_turn": turn, "turn_angle": angle if turn is not None else None,
            "t_naive": joint("naive"), "t_intervention": joint("best intervention")}


@pipeline.stage(reads=TIMES_READS, after=("main_runs", "sweep_runs"), weight=0.2)
def times(ctx: Context, main_runs: Result, sweep_runs: Result | None, **params) -> Result:
    """Seed-averaged curves, the learning times, the turn and the sweep's times: the cheap final stage."""
    seeds = seed_list(params["seed"], params["seeds"])
    runs = [Result(tables=run_tables(main_runs, run_label(seed))) for seed in seeds]
    trajectory, accuracy = mean_tables(runs)
    times = derived_times(trajectory, accuracy, params)

    per_seed = []
    for seed, run in zip(seeds, runs):
        per_seed.append({"seed": seed, **derived_times(run.tables["trajectory"], run.tables["accuracy"], params)})
    seed_trajectories = pd.concat([r.tables["trajectory"].assign(seed=s) for s, r in zip(seeds, runs)])
    seed_accuracy = pd.concat([r.tables["accuracy"].assign(seed=s) for s, r in zip(seeds, runs)])

    signal = pixel_signal(Concepts(params["color_signal"], params["size_signal"]), params["image_size"])
    metrics = {**times, "pixel_signal_color": signal["color"], "pixel_signal_size": signal["size"],
               "pixel_signal_ratio": signal["color"] / signal["size"],
               "final_joint_naive": _final(accuracy, "naive"),
               "final_joint_intervention": _final(accuracy, "best intervention")}
    tables = {"trajectory": trajectory[["step", "prompt", "p_color", "p_size", "acc_color", "acc_size",
                                        "joint_accuracy", "readable"]],
              "accuracy": accuracy[["step", "method", "joint_accuracy"]],
              "seed_trajectories": seed_trajectories, "seed_accuracy": seed_accuracy,
              "times": pd.DataFrame(per_seed),
              "loss": pd.concat([r.tables["loss"].assign(seed=s) for s, r in zip(seeds, runs)])}
    if sweep_signals(params):  # (not `sweep_runs is not None`: a skipped stage's taker gets a lazy stand-in)
        tables["sweep"], tables["sweep_mean"] = _sweep_tables(params, seeds, sweep_runs)
        metrics["sweep_spearman_color"] = _spearman(tables["sweep_mean"])
    return Result(metrics=metrics, tables=tables)


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    stages, records = pipeline.run(params, ctx)
    final = stages["times"]
    return Result(metrics=dict(final.metrics), tables=dict(final.tables),
                  arrays={"samples": stages["main_runs"].arrays["samples"]},
                  provenance={"stages": stage_report(records)})


def _final(accuracy: pd.DataFrame, method: str) -> float:
    rows = accuracy[accuracy.method == method].sort_values("step")
    return float(rows.joint_accuracy.iloc[-1])


def _sweep_tables(params: Mapping[str, Any], seeds: list[int], sweep: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learning times per colour signal: per seed, and from the seed-averaged curves (as the main metrics are)."""
    rows, means = [], []
    for signal in sweep_signals(params):
        pixels = pixel_signal(Concepts(signal, params["size_signal"]), params["image_size"])
        runs = [Result(tables=run_tables(sweep, run_label(seed, signal))) for seed in seeds]
        for seed, run in zip(seeds, runs):
            times = derived_times(run.tables["trajectory"], run.tables["accuracy"], params)
            rows.append({"color_signal": signal, "seed": seed, "t_learn_color": times["t_learn_color"],
                         "t_learn_size": times["t_learn_size"], "pixel_signal_color": pixels["color"],
                         "pixel_signal_size": pixels["size"]})
        times = derived_times(*mean_tables(runs), params)
        means.append({"color_signal": signal, "t_learn_color": times["t_learn_color"],
                      "t_learn_size": times["t_learn_size"], "pixel_signal_ratio": pixels["color"] / pixels["size"]})
    return pd.DataFrame(rows), pd.DataFrame(means)


def _spearman(sweep: pd.DataFrame) -> float | None:
    """Rank correlation of colour learning time (seed-averaged curves) with colour signal; a never-learned
    point counts as the latest."""
    from scipy.stats import spearmanr

    times = sweep.t_learn_color.astype(float).fillna(np.inf)
    if times.nunique() < 2:
        return None
    rho = spearmanr(sweep.color_signal, times).statistic
    return float(rho) if np.isfinite(rho) else None
