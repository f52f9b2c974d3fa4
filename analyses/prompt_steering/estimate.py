"""What a prompt-steering run asks for, counted before it runs: the number of prompts to score.

The count is exact (the same items, formats and personas the computation plans), so the page can show it
beside Run; a time is not estimated, since it depends on the model and the machine.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import formats as fmt
from . import questionnaire


def prompt_count(params: Mapping[str, Any]) -> str | None:
    from .compute import chosen_formats

    try:
        q = questionnaire.load(params["questionnaire"] or None).subset(int(params["n_items"]))
    except (ValueError, OSError):
        return None  # a questionnaire that does not load: Run reports why
    countries = q.persona_countries[: params["n_countries"]] or list(fmt.COUNTRIES[: params["n_countries"]])
    people = fmt.personas(countries, params["n_templates"], params["n_placebos"])
    formats = chosen_formats(params)
    n = len(q.items) * len(formats) * len(people)
    return (f"{n} prompts: {len(q.items)} items × {len(formats)} formats × {len(people)} personas "
            "(prompts already scored with this model come from the cache)")
