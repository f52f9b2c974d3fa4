"""What a prompt-steering run asks for, counted before it runs: the number of prompts to score.

The count is exact (the same items, formats and personas the computation plans), so the page can show it
beside Run; a time is not estimated, since it depends on the model and the machine.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import formats as fmt
from . import questionnaire


def _formats(params: Mapping[str, Any]) -> list[fmt.Format]:
    """The formats the parameters select, as `compute.chosen_formats` plans them (a test checks they agree);
    not imported from there, since that module loads pandas, scipy and scikit-learn: the count is shown
    while the form is edited, before any of them is needed."""
    return fmt.formats([l for l in ("letters", "numbers") if params[f"labels_{l}"]],
                       [o for o in ("ascending", "reversed") if params[f"order_{o}"]],
                       [r for r in ("identifier", "text") if params[f"response_{r}"]],
                       [k for k in (4, 5, 6) if params[f"likert_{k}"]], params["permutations"])


def prompt_count(params: Mapping[str, Any]) -> str | None:
    try:
        q = questionnaire.load(params["questionnaire"] or None).subset(int(params["n_items"]))
    except (ValueError, OSError):
        return None  # a questionnaire that does not load: Run reports why
    countries = q.persona_countries[: params["n_countries"]] or list(fmt.COUNTRIES[: params["n_countries"]])
    people = fmt.personas(countries, params["n_templates"], params["n_placebos"])
    formats = _formats(params)
    n = len(q.items) * len(formats) * len(people)
    return (f"{n} prompts: {len(q.items)} items × {len(formats)} formats × {len(people)} personas "
            "(prompts already scored with this model come from the cache)")
