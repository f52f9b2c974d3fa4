"""Concept space as cached stages: a changed parameter recomputes exactly its stages (the runs inside a
training stage come from their own cache entries), and a staged rerun gives the numbers of a fresh run."""

import math

import numpy as np
import pandas as pd
import pytest

from analyses.concept_space import runs as training_stages
from analyses.core import CacheStore, run

TINY = {"steps": 20, "checkpoints": 5, "samples": 4, "sampling_steps": 2, "batch_size": 8, "channels": 8,
        "sweep_points": 2, "sweep_min": 0.4, "sweep_max": 0.8}
TRAINED: list[dict] = []


@pytest.fixture(autouse=True)
def count_training(monkeypatch):
    original = training_stages.training.train_run
    monkeypatch.setattr(training_stages.training, "train_run",
                        lambda settings, on_checkpoint: TRAINED.append(settings) or original(settings, on_checkpoint))


@pytest.fixture(scope="module")
def staged_store(tmp_path_factory):
    """A cache holding the baseline run: one seed, a two-point sweep (0.4 and 0.8) whose 0.8 run is the main
    run (colour signal 0.8), read from the same cache entry: two training runs."""
    store = CacheStore(tmp_path_factory.mktemp("concept-space-stages"))
    run("concept_space", "default", TINY, store=store)
    return store


def _run(store, **change):
    TRAINED.clear()
    outcome = run("concept_space", "default", {**TINY, **change}, store=store)
    statuses = {r["stage"]: r["status"] for r in outcome.result.provenance["stages"]}
    return outcome, statuses, len(TRAINED)


# parameter changed -> stages computed (the others read back or skipped), training runs actually trained
CHANGES = [
    ({"threshold": 0.6}, {"times"}, 0),
    ({"consecutive": 1}, {"times"}, 0),
    ({"smoothing": 1}, {"times"}, 0),
    ({"min_speed": 0.2}, {"times"}, 0),
    ({"sweep_max": 0.7}, {"sweep_runs", "times"}, 1),  # the 0.4 point's run is read back from its own entry
    ({"sweep_points": 0}, {"times"}, 0),  # no sweep: its stage is skipped
    ({"seeds": 2, "sweep_points": 0}, {"main_runs", "times"}, 1),  # seed 0's run is read back, seed 1 trained
]


def test_each_parameter_recomputes_exactly_its_stages(staged_store):
    for change, computed, trained in CHANGES:
        outcome, statuses, count = _run(staged_store, **change)
        assert not outcome.cache_hit
        assert {s for s, status in statuses.items() if status == "computed"} == computed, change
        assert count == trained, change
        skipped = {"sweep_runs"} if change.get("sweep_points") == 0 else set()
        assert {s for s, status in statuses.items() if status == "skipped"} == skipped, change
        assert set(statuses) == {"main_runs", "sweep_runs", "times"}


def test_a_staged_rerun_gives_the_numbers_of_a_run_from_an_empty_cache(staged_store, tmp_path):
    change = {"threshold": 0.55, "consecutive": 1, "min_speed": 0.0}
    staged, statuses, trained = _run(staged_store, **change)
    assert trained == 0 and statuses == {"main_runs": "read back", "sweep_runs": "read back", "times": "computed"}
    fresh, statuses, trained = _run(CacheStore(tmp_path / "empty"), **change)
    assert trained == 2 and set(statuses.values()) == {"computed"}  # the sweep's 0.8 run is the main run
    assert staged.result.metrics.keys() == fresh.result.metrics.keys()
    for name, value in fresh.result.metrics.items():
        other = staged.result.metrics[name]
        assert other == value or (isinstance(value, float) and math.isnan(value) and math.isnan(other)), name
    assert staged.result.tables.keys() == fresh.result.tables.keys() and "sweep_mean" in fresh.result.tables
    for name, table in fresh.result.tables.items():
        pd.testing.assert_frame_equal(staged.result.tables[name], table, check_exact=True, obj=name)
    np.testing.assert_array_equal(staged.result.arrays["samples"], fresh.result.arrays["samples"])
