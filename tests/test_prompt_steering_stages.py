"""Prompt steering as cached stages: a metric setting recomputes the metrics alone, without loading the
model; the scoring stages score only prompts without a cache entry; a staged rerun gives the numbers of a
fresh run. The model is a tiny one built from a config."""

import math

import pandas as pd
import pytest
import torch

from analyses.core import CacheStore, run
from analyses.prompt_steering import models, scoring, tiny

SMALL = {"n_items": 2, "countries": "United States, China", "n_templates": 1, "n_placebos": 1, "n_permutations": 50,
         "batch_size": 8, "activation_steering": True}
SCORED: list[int] = []  # prompts per scoring call
LOADED: list[str] = []  # model loads


@pytest.fixture(autouse=True)
def count_work(monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    score, load = scoring.score, models.load
    monkeypatch.setattr(scoring, "score", lambda m, t, requests, **kw: SCORED.append(len(requests)) or
                        score(m, t, requests, **kw))
    monkeypatch.setattr(models, "load", lambda model_id, *a, **kw: LOADED.append(model_id) or load(model_id, *a, **kw))
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return str(tiny.build(tmp_path_factory.mktemp("tiny_llama_stages"), "llama", chat=True))


@pytest.fixture(scope="module")
def staged_store(tiny_llama, tmp_path_factory):
    store = CacheStore(tmp_path_factory.mktemp("prompt-steering-stages"))
    run("prompt_steering", "smoke", {**SMALL, "model": tiny_llama}, store=store)
    return store


def _run(store, model, **change):
    SCORED.clear()
    LOADED.clear()
    outcome = run("prompt_steering", "smoke", {**SMALL, "model": model, **change}, store=store)
    statuses = {r["stage"]: r["status"] for r in outcome.result.provenance["stages"]}
    return outcome, statuses


# 2 items x 4 formats (letters/numbers x ascending/reversed, identifier, Likert 5) x 4 personas (none, 2 countries,
# 1 placebo) = 32 prompts; activation steering rescores the 8 no-persona prompts once per country.
# parameter changed -> stages computed, prompts scored (unsteered, then steered per country)
CHANGES = [
    ({"n_permutations": 100}, {"summary"}, []),
    ({"cluster_method": "ward"}, {"summary"}, []),
    ({"steer_alpha": 2.0}, {"steered", "summary"}, [8, 8]),  # hidden states come from their cache entries
    ({"activation_steering": False}, {"summary"}, []),  # steering is skipped, the scores read back
    ({"batch_size": 4}, {"scores", "steered", "summary"}, [0, 8, 8]),  # every prompt comes from its entry
    ({"permutations": 1}, {"scores", "steered", "summary"}, [16, 12, 12]),  # only the 2 new formats' prompts
]


def test_each_parameter_recomputes_exactly_its_stages(staged_store, tiny_llama):
    for change, computed, scored in CHANGES:
        outcome, statuses = _run(staged_store, tiny_llama, **change)
        assert not outcome.cache_hit
        assert {s for s, status in statuses.items() if status == "computed"} == computed, change
        assert SCORED == scored, change
        assert bool(LOADED) == bool(computed - {"summary"}), change  # the metrics alone never load the model
        skipped = {"steered"} if change.get("activation_steering") is False else set()
        assert {s for s, status in statuses.items() if status == "skipped"} == skipped, change


def test_a_staged_rerun_gives_the_numbers_of_a_run_from_an_empty_cache(staged_store, tiny_llama, tmp_path):
    change = {"n_permutations": 150, "cluster_method": "ward"}
    staged, statuses = _run(staged_store, tiny_llama, **change)
    assert statuses == {"scores": "read back", "steered": "read back", "summary": "computed"} and not LOADED
    fresh, statuses = _run(CacheStore(tmp_path / "empty"), tiny_llama, **change)
    assert set(statuses.values()) == {"computed"} and SCORED == [32, 8, 8]
    assert staged.result.metrics.keys() == fresh.result.metrics.keys()
    for name, value in fresh.result.metrics.items():
        other = staged.result.metrics[name]
        assert other == value or (isinstance(value, float) and math.isnan(value) and math.isnan(other)), name
    assert staged.result.tables.keys() == fresh.result.tables.keys()
    for name, table in fresh.result.tables.items():
        pd.testing.assert_frame_equal(staged.result.tables[name], table, check_exact=True, obj=name)
    scores = fresh.result.tables["scores"]
    assert len(scores) == 32 + 2 * 8 and (scores.persona_kind == "activation").sum() == 16
    assert scores.country.tolist().count("") == 16  # no-persona and placebo rows keep an empty country
    for key in ("model_key", "chat_template", "countries"):
        assert staged.result.provenance[key] == fresh.result.provenance[key]
