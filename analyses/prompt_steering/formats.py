"""Presentation formats and personas: the two things a prompt varies besides the question.

A format fixes the option labels (letters or numbers), the displayed order (ascending = the
questionnaire's base order, reversed, or a seeded random permutation), what the model answers with
(the identifier, or the option's text) and, for Likert statements, the scale (4, 5 or 6 points; the
5-point scale is the 4-point one with a neutral midpoint).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

LIKERT_SCALES = {
    4: ("Strongly disagree", "Disagree", "Agree", "Strongly agree"),
    5: ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"),
    6: ("Strongly disagree", "Disagree", "Somewhat disagree", "Somewhat agree", "Agree", "Strongly agree"),
}

COUNTRIES = ("United States", "China", "India", "Nigeria", "Brazil", "Germany", "Japan", "Egypt", "Mexico",
             "Indonesia")
DEFAULT_COUNTRIES = COUNTRIES[:4]  # personas when neither the user nor the questionnaire names countries
MAX_COUNTRY_NAME = 100


def parse_countries(text: str, questionnaire_countries) -> list[str]:
    """The persona countries a run asks for: the comma-separated names as given (duplicates once), 'none'
    for no country persona, or, when empty, the questionnaire's countries with human data, else
    DEFAULT_COUNTRIES."""
    text = (text or "").strip()
    if text.lower() == "none":
        return []
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        return list(questionnaire_countries) or list(DEFAULT_COUNTRIES)
    for name in names:
        if len(name) > MAX_COUNTRY_NAME:
            raise ValueError(f"parameter 'countries': {name[:40]!r}... is longer than {MAX_COUNTRY_NAME} characters")
    return names


COUNTRY_TEMPLATES = (
    "Imagine you are a person from {country}. Answer the following question as that person would.",
    "You are an average citizen of {country} taking part in a survey about your views.",
    "Respond as someone who was born and raised in {country} would respond.",
)
# Controls: personas with no cultural content, in the first template's wording.
PLACEBOS = ("a person who enjoys gardening", "a person whose favourite colour is green",
            "a person who owns a bicycle")
PLACEBO_TEMPLATE = "Imagine you are {placebo}. Answer the following question as that person would."


@dataclass(frozen=True)
class Format:
    label: str = "letters"       # letters | numbers
    order: str = "ascending"     # ascending | reversed | perm<k>
    response: str = "identifier"  # identifier | text
    likert: int = 5              # points of the Likert scale (Likert items only)

    @property
    def name(self) -> str:
        return f"{self.label}·{self.order}·{'id' if self.response == 'identifier' else 'text'}·L{self.likert}"


@dataclass(frozen=True)
class Persona:
    name: str        # "none", "Japan (t1)", "placebo: a person who owns a bicycle"
    kind: str        # none | country | placebo
    text: str        # the persona sentence ("" for none)
    country: str = ""
    template: int = 0  # 1-based template number; 0 for none


def formats(labels=("letters", "numbers"), orders=("ascending", "reversed"), responses=("identifier", "text"),
            likert=(5,), permutations: int = 0) -> list[Format]:
    orders = list(orders) + [f"perm{k + 1}" for k in range(permutations)]
    return [Format(l, o, r, s) for s in likert for r in responses for o in orders for l in labels]


def from_params(params) -> list[Format]:
    """The formats a run's toggles choose."""
    labels = [l for l in ("letters", "numbers") if params[f"labels_{l}"]]
    orders = [o for o in ("ascending", "reversed") if params[f"order_{o}"]]
    responses = [r for r in ("identifier", "text") if params[f"response_{r}"]]
    likert = [k for k in (4, 5, 6) if params[f"likert_{k}"]]
    return formats(labels, orders, responses, likert, params["permutations"])


def personas(countries, n_templates: int, n_placebos: int) -> list[Persona]:
    found = [Persona("none", "none", "")]
    for country in countries:
        for t in range(n_templates):
            found.append(Persona(f"{country} (t{t + 1})", "country",
                                 COUNTRY_TEMPLATES[t].format(country=country), country, t + 1))
    for placebo in PLACEBOS[:n_placebos]:
        found.append(Persona(f"placebo: {placebo}", "placebo", PLACEBO_TEMPLATE.format(placebo=placebo), "", 1))
    return found


def display_order(n_options: int, order: str, item_id: str, seed: int) -> list[int]:
    """Base indices in the order displayed: display position j shows base option `order[j]`."""
    if order == "ascending":
        return list(range(n_options))
    if order == "reversed":
        return list(range(n_options))[::-1]
    if order.startswith("perm"):
        digest = hashlib.sha256(f"{seed}:{item_id}:{order}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return [int(i) for i in rng.permutation(n_options)]
    raise ValueError(f"unknown option order {order!r}")


def identifiers(label: str, n_options: int) -> list[str]:
    if label == "letters":
        return [chr(ord("A") + j) for j in range(n_options)]
    if label == "numbers":
        return [str(j + 1) for j in range(n_options)]
    raise ValueError(f"unknown label style {label!r}")
