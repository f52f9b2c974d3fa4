"""Concept space: the training loop on a tiny setting, the analysis through the cache and the CLI, and the
paper's first qualitative result (the stronger concept is learned first) on a small case."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from analyses.concept_space.compute import run_settings
from analyses.concept_space.probes import fit_probe
from analyses.concept_space.dynamics import first_axis
from analyses.concept_space.training import train_run
from analyses.core import Cancelled, Context, ParameterError, get, run

TINY = {"steps": 40, "checkpoints": 5, "samples": 4, "sampling_steps": 2, "batch_size": 16, "channels": 8}


def tiny_settings(**changes):
    params = get("concept_space").params("default", {**TINY, **changes})
    return run_settings(params, seed=0)


def test_training_loop_checkpoints_probes_and_samples():
    partials = []
    result = train_run(tiny_settings(), lambda fraction, partial: partials.append((fraction, partial)))
    trajectory, accuracy = result.tables["trajectory"], result.tables["accuracy"]
    steps = sorted(trajectory.step.unique())
    assert steps == [2, 6, 14, 26, 40]  # 40·(k/5)², quadratically spaced
    assert set(trajectory.prompt) == {"red_large", "red_small", "blue_large", "blue_small"}
    assert trajectory[["p_color", "p_size", "acc_color", "acc_size"]].stack().between(0, 1).all()
    methods = set(accuracy.method)
    assert {"naive", "best intervention"} <= methods and len(methods) == 7  # 3 over-prompts, 2 latent strengths
    best = accuracy[accuracy.method == "best intervention"].joint_accuracy.to_numpy()
    others = accuracy[~accuracy.method.isin(["naive", "best intervention"])].groupby("step").joint_accuracy.max()
    assert np.allclose(best, others.to_numpy())  # the best over interventions, naive excluded
    assert result.arrays["samples"].shape == (5, 9, 4, 12, 12, 3) and result.arrays["samples"].dtype == np.uint8
    assert [p for _, p in partials if p is not None][-1].tables["trajectory"].step.max() == 40  # a preview per checkpoint
    assert result.tables["loss"].loss.iloc[-1] < result.tables["loss"].loss.iloc[0]


def test_training_is_deterministic_per_seed():
    a = train_run(tiny_settings(steps=20), lambda *_: None).tables["trajectory"]
    b = train_run(tiny_settings(steps=20), lambda *_: None).tables["trajectory"]
    assert a.equals(b)


def test_a_cancelled_run_stops_at_the_next_report():
    ctx = Context(cancel_event=threading.Event())
    ctx.cancel_event.set()
    with pytest.raises(Cancelled):
        train_run(tiny_settings(), lambda fraction, partial: ctx.report(fraction))


def test_bad_parameters_name_the_problem():
    with pytest.raises(ParameterError, match="'color_signal': out of range"):
        get("concept_space").params("default", {"color_signal": 2})
    with pytest.raises(ParameterError, match="'checkpoints'"):
        get("concept_space").params("default", {"steps": 20, "checkpoints": 30})
    with pytest.raises(ParameterError, match="'held_out': unknown choice"):
        get("concept_space").params("default", {"held_out": "green_small"})


def test_divergence_is_reported():
    with pytest.raises(ArithmeticError, match="diverged"):
        train_run(tiny_settings(lr=0.01, steps=20) | {"lr": 1e6}, lambda *_: None)


def test_runs_are_cached_one_by_one_and_thresholds_only_reaggregate(store):
    overrides = {**TINY, "seeds": 2}
    first = run("concept_space", "default", overrides, store=store)
    assert not first.cache_hit
    assert set(first.result.tables["times"].seed) == {0, 1}
    again = run("concept_space", "default", {**overrides, "threshold": 0.6, "consecutive": 1}, store=store)
    assert not again.cache_hit and again.compute_seconds < first.compute_seconds / 3  # the runs come from the cache
    assert set(first.figures()) == {"concept_space", "accuracy", "concept_accuracy"}


def test_cli_smoke_writes_the_acceptance_metrics_and_tables(tmp_path):
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "analyses.core.cli", "run", "concept_space", "--preset", "smoke",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "result.json").read_text())
    metrics = record["metrics"]
    for name in ("t_learn_color", "t_learn_size", "t_turn", "t_naive", "t_intervention"):
        assert name in metrics and (metrics[name] is None or isinstance(metrics[name], (int, float)))
    assert '"t_naive": null' in (out / "result.json").read_text() or metrics["t_naive"] is not None
    import pandas as pd

    assert list(pd.read_csv(out / "trajectory.csv").columns[:4]) == ["step", "prompt", "p_color", "p_size"]
    assert list(pd.read_csv(out / "accuracy.csv").columns) == ["step", "method", "joint_accuracy"]


@pytest.mark.parametrize("signals, first", [((0.8, 0.4), "color"), ((0.2, 0.6), "size")])
def test_the_concept_with_the_stronger_signal_is_learned_first(signals, first):
    """Park et al.: learning order follows the concept signal; swapping the signals swaps the first axis."""
    settings = tiny_settings(color_signal=signals[0], size_signal=signals[1], steps=80, checkpoints=12, samples=16,
                             sampling_steps=6, batch_size=64, channels=16)
    held = train_run(settings, lambda *_: None).tables["trajectory"].query("prompt == 'blue_small'")
    assert first_axis(held.step.tolist(), held.acc_color, held.acc_size) == first


def test_the_cnn_probe_reads_a_training_run(monkeypatch):
    from analyses.concept_space import training

    kinds = []
    monkeypatch.setattr(training, "fit_probe", lambda kind, *args: kinds.append(kind) or fit_probe(kind, *args))
    trajectory = train_run(tiny_settings(probe="cnn", steps=20), lambda *_: None).tables["trajectory"]
    assert kinds == ["cnn"]
    readable = trajectory.dropna(subset=["p_color"])
    assert readable.p_color.between(0, 1).all() and readable.p_size.between(0, 1).all()
