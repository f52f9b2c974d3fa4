"""Concept-space learning dynamics (Park et al. 2024): runs over seeds (and a concept-signal sweep), each a
cached sub-result, averaged into trajectories, accuracies and the derived times.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result

from .data import Concepts, pixel_signal
from .dynamics import first_sustained, turn_point
from .training import train_run

RUN_KEYS = ("color_signal", "size_signal", "held_out", "train_on_all", "image_size", "steps", "checkpoints", "lr",
            "batch_size", "channels", "samples", "sampling_steps", "overprompt_max", "latent_strength", "probe")


def run_settings(params: Mapping[str, Any], seed: int, color_signal: float | None = None) -> dict[str, Any]:
    """Everything one training run depends on, as plain JSON values: its cache key."""
    settings = {key: params[key] for key in RUN_KEYS}
    settings["seed"] = int(seed)
    if color_signal is not None:
        settings["color_signal"] = float(color_signal)
    return settings


def sweep_signals(params: Mapping[str, Any]) -> list[float]:
    if params["sweep_points"] < 2:
        return []
    values = np.linspace(params["sweep_min"], params["sweep_max"], params["sweep_points"])
    return [round(float(v), 4) for v in values]


def mean_tables(runs: list[Result]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trajectory and accuracy averaged over seeds, per checkpoint (runs share their checkpoint steps)."""
    trajectory = pd.concat([r.tables["trajectory"] for r in runs]).groupby(["step", "prompt"], as_index=False,
                                                                           sort=True).mean()
    accuracy = pd.concat([r.tables["accuracy"] for r in runs]).groupby(["step", "method"], as_index=False,
                                                                       sort=True).mean()
    return trajectory, accuracy


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


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    seeds = [params["seed"] + i for i in range(params["seeds"])]
    jobs = [(seed, None) for seed in seeds] + [(seed, c) for c in sweep_signals(params) for seed in seeds]
    finished: dict[tuple[int, float | None], Result] = {}
    for index, (seed, signal) in enumerate(jobs):
        label = f"seed {seed}" + (f", colour signal {signal:g}" if signal is not None else "")

        def on_checkpoint(fraction: float, partial: Result | None, index=index, label=label, main=signal is None):
            ctx.report((index + fraction) / len(jobs), f"run {index + 1}/{len(jobs)} ({label}): "
                                                       f"{fraction:.0%} of training")
            if partial is not None and main:
                done = [r for (s, c), r in finished.items() if c is None]
                trajectory, accuracy = mean_tables(done + [partial]) if done else (partial.tables["trajectory"],
                                                                                  partial.tables["accuracy"])
                ctx.preview(Result(tables={"trajectory": trajectory, "accuracy": accuracy}))

        settings = run_settings(params, seed, signal)
        finished[(seed, signal)] = ctx.cached("run", settings, lambda: train_run(settings, on_checkpoint))
    main_runs = [finished[(seed, None)] for seed in seeds]
    trajectory, accuracy = mean_tables(main_runs)
    times = derived_times(trajectory, accuracy, params)

    per_seed = []
    for seed, run in zip(seeds, main_runs):
        per_seed.append({"seed": seed, **derived_times(run.tables["trajectory"], run.tables["accuracy"], params)})
    seed_trajectories = pd.concat([r.tables["trajectory"].assign(seed=s) for s, r in zip(seeds, main_runs)])
    seed_accuracy = pd.concat([r.tables["accuracy"].assign(seed=s) for s, r in zip(seeds, main_runs)])

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
              "loss": pd.concat([r.tables["loss"].assign(seed=s) for s, r in zip(seeds, main_runs)])}
    if sweep_signals(params):
        tables["sweep"], tables["sweep_mean"] = _sweep_tables(params, seeds, finished)
        metrics["sweep_spearman_color"] = _spearman(tables["sweep_mean"])
    return Result(metrics=metrics, tables=tables, arrays={"samples": main_runs[0].arrays["samples"]})


def _final(accuracy: pd.DataFrame, method: str) -> float:
    rows = accuracy[accuracy.method == method].sort_values("step")
    return float(rows.joint_accuracy.iloc[-1])


def _sweep_tables(params: Mapping[str, Any], seeds: list[int], finished: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learning times per colour signal: per seed, and from the seed-averaged curves (as the main metrics are)."""
    rows, means = [], []
    for signal in sweep_signals(params):
        pixels = pixel_signal(Concepts(signal, params["size_signal"]), params["image_size"])
        runs = [finished[(seed, signal)] for seed in seeds]
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
