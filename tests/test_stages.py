"""Staged analyses: a changed parameter recomputes exactly the stages that read it and those downstream."""

import threading

import pytest

import staged_toy
from analyses.core import Cancelled, run

ANALYSIS = staged_toy.ANALYSIS


@pytest.fixture(autouse=True)
def _fresh_log():
    staged_toy.RUNS.clear()


def _run(store, **overrides):
    staged_toy.RUNS.clear()
    outcome = run(ANALYSIS, preset="default", overrides=overrides, store=store)
    return outcome, list(staged_toy.RUNS)


@pytest.mark.parametrize("change, recomputed", [
    ({"grid_range": 2.0}, ["surface"]),
    ({"grid_points": 9}, ["surface"]),
    ({"samples": 20}, ["spectrum"]),
    ({"epochs": 4}, ["fit", "surface", "spectrum"]),
    ({"seed": 1}, ["data", "fit", "surface", "spectrum"]),
    ({"spectrum": False}, []),  # the stage is skipped; the others are read back
])
def test_changing_a_parameter_recomputes_exactly_its_stages_and_those_downstream(store, change, recomputed):
    _run(store)
    outcome, ran = _run(store, **change)
    assert ran == recomputed
    statuses = {r["stage"]: r["status"] for r in outcome.result.provenance["stages"]}
    assert sorted(s for s, status in statuses.items() if status == "computed") == sorted(recomputed)
    assert all(status in ("read back", "skipped") for s, status in statuses.items() if s not in recomputed)


def test_a_staged_rerun_gives_the_numbers_of_a_run_from_an_empty_cache(store, tmp_path):
    from analyses.core import CacheStore

    _run(store)
    staged, _ = _run(store, grid_range=2.5, samples=30)
    fresh, ran = _run(CacheStore(tmp_path / "empty"), grid_range=2.5, samples=30)
    assert ran == ["data", "fit", "surface", "spectrum"]
    assert staged.result.metrics == fresh.result.metrics
    assert staged.result.tables["surface"].equals(fresh.result.tables["surface"])


def test_the_progress_bar_is_shared_among_the_stages_that_run(store):
    _run(store)
    seen = []
    run(ANALYSIS, preset="default", overrides={"epochs": 5}, store=store, on_progress=lambda f, m: seen.append((f, m)))
    fit = [f for f, m in seen if m.startswith("fit")]
    assert fit[0] == 0.0  # nothing cached is counted: the first stage that runs starts the bar
    assert max(fit) <= 4 / 6 + 1e-9  # fit weighs 4 of the 6 units that run (fit, surface, spectrum)
    assert seen[-1][0] == 1.0


def test_a_cancelled_run_keeps_its_finished_stages(store):
    cancel = threading.Event()

    def stop_in_surface(fraction, message):
        if message.startswith("surface"):
            cancel.set()

    with pytest.raises(Cancelled):  # asked during surface: it finishes, spectrum never starts
        run(ANALYSIS, preset="default", store=store, cancel_event=cancel, on_progress=stop_in_surface)
    _, ran = _run(store)
    assert ran == ["spectrum"]


def test_a_stage_key_changes_with_its_code(store, monkeypatch):
    from analyses.core.stages import Stage

    _run(store)
    original = Stage.code_version
    monkeypatch.setattr(Stage, "code_version", lambda self: "edited" if self.name == "surface" else original(self))
    _, ran = _run(store, samples=11)  # a new overall result; of the stages, spectrum by its parameter, surface by its code
    assert ran == ["surface", "spectrum"]


def test_a_stage_after_a_skipped_one_gets_none(store):
    from analyses.core import Context, Result
    from analyses.core.stages import Pipeline

    pipeline = Pipeline()
    seen = {}

    @pipeline.stage(reads=("on",), when=lambda v: v["on"])
    def optional(ctx, *, on):
        return Result(metrics={"x": 1.0})

    @pipeline.stage(after=("optional",))
    def final(ctx, optional):
        seen["optional"] = optional
        return Result()

    for context in (Context(), Context(store=store, scope="demo@1+abc")):
        seen.clear()
        results, records = pipeline.run({"on": False}, context)
        assert seen["optional"] is None and results["optional"] is None
        assert [r.status for r in records] == ["skipped", "computed"]


def test_a_stage_with_its_own_entry_is_shared_between_analyses(store):
    from analyses.core import Context, Result
    from analyses.core.cache import cache_key
    from analyses.core.stages import Pipeline

    computed = []

    def entry(params):  # both analyses name the shared part the same way
        return "shared.part", cache_key("shared.part", "code-1", {"size": params["size"]})

    def pipeline_for(reader_name):
        pipeline = Pipeline()

        @pipeline.stage(reads=("size",), entry=entry)
        def part(ctx, *, size):
            computed.append(reader_name)
            return Result(metrics={"size": float(size)})

        @pipeline.stage(reads=("factor",), after=("part",))
        def use(ctx, part, *, factor):
            return Result(metrics={"value": part.metrics["size"] * factor})

        return pipeline

    first, _ = pipeline_for("alpha").run({"size": 3, "factor": 2}, Context(store=store, scope="alpha@1+a"))
    results, records = pipeline_for("beta").run({"size": 3, "factor": 5}, Context(store=store, scope="beta@7+b"))
    assert computed == ["alpha"] and [r.status for r in records] == ["read back", "computed"]
    assert results["use"].metrics["value"] == 15.0
    with pytest.raises(ValueError, match="shared through its entry"):  # its key holds no other stage's
        pipeline_for("gamma").stage(after=("part",), entry=entry)(lambda ctx, part: None)
