"""What a run will cost before it starts: prompts, forward-pass sequences, and a rough time.

The page shows it under the form, so a user who names many countries or formats sees the price first.
Counting needs only the questionnaire and the parameters (no model, no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from . import formats as fmt
from . import questionnaire

# Packaged Gemma 3 270M, one torch thread, 2 shared CPU cores: the default preset's 528 prompts scored in
# about 80 s (docs/analyses/prompt_steering.md), ~0.15 s per sequence. Other models: scales with their size.
SECONDS_PER_SEQUENCE_PACKAGED_CPU = 0.15


@dataclass(frozen=True)
class Cost:
    prompts: int      # rows of the scores table
    sequences: int    # forward-pass sequences (an option-text prompt runs one per option), distinct prompts once
    countries: int
    seconds: float | None  # packaged model on CPU only; None for other models

    def describe(self) -> str:
        text = f"{self.prompts} prompts ({self.sequences} sequences to score, {self.countries} country persona(s))"
        if self.seconds is not None:
            minutes = self.seconds / 60
            text += (f"; about {minutes:.0f} min" if minutes >= 1.5 else f"; about {self.seconds:.0f} s") + \
                " on one CPU thread with the packaged model, from an empty cache"
        return text + ". Cached prompts are not scored again."


def estimate(params: Mapping[str, Any]) -> Cost:
    """The run's size for these parameters (raises InputError for a bad questionnaire, like the run)."""
    from .models import PACKAGED

    q = questionnaire.load(params["questionnaire"]).subset(params["n_items"])
    countries = fmt.parse_countries(params["countries"], q.persona_countries)
    people = 1 + len(countries) * params["n_templates"] + params["n_placebos"]
    chosen = fmt.from_params(params)
    prompts = sequences = 0
    for item in q.items:
        distinct = {}
        for f in chosen:
            key = (f.label, f.order, f.response, f.likert if item.is_likert else None)
            k = f.likert if item.is_likert else len(item.options)
            distinct[key] = 1 if f.response == "identifier" else k
        prompts += len(chosen) * people
        sequences += sum(distinct.values()) * people
    seconds = sequences * SECONDS_PER_SEQUENCE_PACKAGED_CPU if params["model"] == PACKAGED else None
    return Cost(prompts, sequences, len(countries), seconds)
