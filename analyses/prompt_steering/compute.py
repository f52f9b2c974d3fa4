"""Prompt steering as three stages: the scores (scores.py), the activation-steered scores and the metrics.

Each scored prompt is its own cache entry keyed by the model, the exact prompt text, the answer
continuations and the scoring code alone: adding a format or a persona scores only the new prompts, a
cancelled run keeps what it finished, and editing the metrics rescores nothing. Changing a metric
setting (permutation-test draws, the clustering method) recomputes the metrics stage alone: the scores
are read back without loading the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from analyses.core import Context, Result
from analyses.core.stages import Pipeline, stage_report

from . import formats as fmt
from . import metrics, questionnaire, scoring, scores as scoring_stages  # noqa: F401 (tests patch scoring here)
from .scores import _request, chosen_formats, plan, score_table, scored_table  # noqa: F401 (used by tests, benchmarks)

pipeline = Pipeline()
pipeline.stage(reads=scoring_stages.PROMPT_READS, weight=10)(scoring_stages.scores)
pipeline.stage(reads=scoring_stages.STEERING_READS, weight=5,
               when=lambda values: values["activation_steering"])(scoring_stages.steered)
SUMMARY_READS = ("model", "questionnaire", "n_items", "countries", "activation_steering", "n_permutations", "seed",
                 "cluster_method")


@pipeline.stage(reads=SUMMARY_READS, after=("scores", "steered"))
def summary(ctx: Context, scores: Result, steered: Result | None, *, model, questionnaire: str | None, n_items,
            countries, activation_steering, n_permutations, seed, cluster_method) -> Result:
    """The metrics, permutation tests and clustering of the scored prompts: the cheap final stage."""
    q = _questionnaire(questionnaire, n_items)
    table = scored_table(scores)
    if activation_steering:  # (not `steered is not None`: a skipped stage's taker gets a lazy stand-in)
        table = pd.concat([table, scored_table(steered)], ignore_index=True)
    ctx.report(0.0, "metrics and permutation tests")
    summary, tables = metrics.summary(table, q, n_permutations, seed, cluster_method)
    if activation_steering:
        steering = tables["steering"]
        summary["activation_effect_mean"] = float(steering[steering.persona_kind == "activation"].effect.abs().mean())
    chat = bool(scores.provenance["chat_template"])
    summary.update({"items": float(len(q.items)), "formats": float(table.format.nunique()),
                    "personas": float(table.persona.nunique()), "chat_template": float(chat)})
    chosen = fmt.parse_countries(countries, q.persona_countries)
    tables["notes"] = pd.concat([tables["notes"], run_notes(q, chosen, table)], ignore_index=True)
    return Result(metrics=summary, tables={"scores": table, **tables},
                  provenance={"model": Path(model).name if Path(model).is_dir() else model, "model_key": scores.provenance["model_key"], "questionnaire": q.name,
                              "chat_template": chat, "countries": chosen})


def _questionnaire(path: str | None, n_items: int) -> questionnaire.Questionnaire:
    return questionnaire.load(path).subset(n_items)


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    stages, records = pipeline.run(params, ctx)
    final = stages["summary"]
    return Result(metrics=dict(final.metrics), tables=dict(final.tables),
                  provenance={**final.provenance, "stages": stage_report(records)})


def run_notes(q: questionnaire.Questionnaire, countries: list[str], table: pd.DataFrame) -> pd.DataFrame:
    """What the user should know about this run's inputs: countries without human data, and how many
    prompts use the questionnaire's own wording."""
    notes = []
    with_data = set(q.human_countries) | set(q.human_dimension_scores)
    if with_data:
        missing = [c for c in countries if c not in with_data]
        if missing:
            notes.append({"topic": "countries", "note": f"no human data in the questionnaire for {', '.join(missing)}: "
                          "their personas enter the steering metrics but no comparison with people"})
    if any(item.variants for item in q.items):
        own = sum(1 for item_id, f in zip(table["item"], table.format) if _own_wording(q, item_id, f))
        notes.append({"topic": "prompts", "note": f"{own} of {len(table)} prompts use the questionnaire's own "
                      "wording (its released variants); the others labscope's template"})
    return pd.DataFrame(notes, columns=["topic", "note"])


def _own_wording(q: questionnaire.Questionnaire, item_id: str, format_name: str) -> bool:
    item = next(i for i in q.items if i.id == item_id)
    label, order, response, _ = format_name.split("·")
    return item.variant(label, order, "identifier" if response == "id" else "text") is not None
