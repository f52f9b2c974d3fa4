"""Questionnaire tables whose cells are Python literals: the table Khan et al. (2025) released with
their paper, and the GlobalOpinionQA layout it was built from.

The released table has one row per question x presentation variant, with columns `question_idx,
instruction, question_text, options, labels, options_labeled, variation, label_to_scale,
mean_weights`. `options`, `labels` and `options_labeled` are lists in the *displayed* order of that
variant; `variation` is a dict with `choice_format` (numbers | letters), `direction_format`
(ascending | descending) and `response_format` (identifier_only | option_text); `label_to_scale`
maps each label (without its dot) to the option's 1-based position in the base order; `mean_weights`
maps each country to its mean answer on the 0-1 scale. Questions are grouped by `question_idx` (kept
as the item id); each row becomes one of the item's `Variant`s, used as written when a run asks for that
format. An optional `dimension` column names each question's dimension (else all share one, "all").

Cells are parsed with `ast.literal_eval` (never executed), after length and nesting checks.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from analyses.core.errors import InputError

from .questionnaire import (MAX_COUNTRIES, MAX_OPTIONS, Item, Questionnaire, Variant, blank, check_items, clean_text,
                            country_name, human_answer)

COLUMNS = ("question_idx", "instruction", "question_text", "options", "labels", "options_labeled", "variation",
           "label_to_scale", "mean_weights")
MAX_CELL = 200_000
MAX_DEPTH = 8
LABELS = {"numbers": "numbers", "letters": "letters"}
ORDERS = {"ascending": "ascending", "descending": "reversed"}
RESPONSES = {"identifier_only": "identifier", "option_text": "text"}
_NAN = re.compile(r"(?<=[:\[,(]\s)nan(?=\s*[,}\])])|(?<=[:\[,(])nan(?=\s*[,}\])])")
_GOQA_SELECTIONS = re.compile(r"^\s*defaultdict\(\s*<class 'list'>\s*,\s*(\{.*\})\s*\)\s*$", re.S)


def is_released_table(columns) -> bool:
    return "question_idx" in columns or "label_to_scale" in columns


def literal(text: str, *, file: str, row: int, column: str, nan_is_missing: bool = False) -> Any:
    """A cell's Python literal (ast.literal_eval: parsed, never executed), length and depth bounded."""
    if len(text) > MAX_CELL:
        raise InputError(f"a cell of {len(text)} characters; at most {MAX_CELL} are read", file=file, row=row,
                         column=column)
    depth = level = 0
    for ch in re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text):
        level += ch in "[{(" and 1 or (-1 if ch in "]})" else 0)
        depth = max(depth, level)
    if depth > MAX_DEPTH:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", file=file, row=row, column=column)
    if nan_is_missing:  # pandas writes a missing mean as a bare nan, which is no Python literal
        text = _NAN.sub("None", text)
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InputError(f"cannot parse {text[:60]!r} as a Python literal", file=file, row=row, column=column) \
            from None


def _typed(value: Any, kind: type, what: str, **where) -> Any:
    if not isinstance(value, kind):
        expected = {list: "a list", dict: "a dict"}[kind]
        raise InputError(f"{what} must be {expected}, got {type(value).__name__}", **where)
    return value


def _texts(value: Any, what: str, **where) -> list[str]:
    value = _typed(value, list, what, **where)
    if not 2 <= len(value) <= MAX_OPTIONS:
        raise InputError(f"{what} has {len(value)} entries; between 2 and {MAX_OPTIONS} are needed", **where)
    return [clean_text(v, f"{what} entry {k + 1}", **where) for k, v in enumerate(value)]


def _variant(cells: dict[str, str], *, file: str, row: int) -> tuple[Variant, tuple[str, ...]]:
    """One row as a Variant, with the base-order options it implies."""
    parse = lambda c: literal(cells[c], file=file, row=row, column=c)  # noqa: E731
    where = lambda c: dict(file=file, row=row, column=c)  # noqa: E731
    variation = _typed(parse("variation"), dict, "variation", **where("variation"))
    choice = {}
    for key, allowed in (("choice_format", LABELS), ("direction_format", ORDERS), ("response_format", RESPONSES)):
        value = variation.get(key)
        if value not in allowed:
            raise InputError(f"variation's {key} is {str(value)[:40]!r}; expected one of {', '.join(allowed)}",
                             **where("variation"))
        choice[key] = allowed[value]
    options = _texts(parse("options"), "options", **where("options"))
    if len(set(options)) != len(options):
        raise InputError("repeats an option", **where("options"))
    labels = _texts(parse("labels"), "labels", **where("labels"))
    lines = _texts(parse("options_labeled"), "options_labeled", **where("options_labeled"))
    for name, values in (("labels", labels), ("options_labeled", lines)):
        if len(values) != len(options):
            raise InputError(f"{len(values)} {name} for {len(options)} options", **where(name))
    identifiers = [label.rstrip(".").strip() for label in labels]
    if any(blank(i) for i in identifiers) or len(set(identifiers)) != len(identifiers):
        raise InputError("labels must be distinct and non-empty", **where("labels"))
    style = choice["choice_format"]
    if not all(i.isdigit() if style == "numbers" else i.isalpha() for i in identifiers):
        raise InputError(f"labels {identifiers[:6]} do not match choice_format {style!r}", **where("labels"))
    scale = _typed(parse("label_to_scale"), dict, "label_to_scale", **where("label_to_scale"))
    positions = {str(k).rstrip(".").strip().upper(): v for k, v in scale.items()}
    base_index = []
    for ident in identifiers:
        value = positions.get(ident.upper())
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            raise InputError(f"label {ident!r} has no whole-number scale position", **where("label_to_scale"))
        base_index.append(int(value) - 1)
    if sorted(base_index) != list(range(len(options))):
        raise InputError(f"scale positions {[b + 1 for b in base_index]} are not 1..{len(options)}, each once",
                         **where("label_to_scale"))
    base = [""] * len(options)
    for shown, b in zip(options, base_index):
        base[b] = shown
    instruction = clean_text(cells["instruction"], "instruction", **where("instruction"))
    variant = Variant(style, choice["direction_format"], choice["response_format"], instruction, tuple(identifiers),
                      tuple(lines), tuple(options), tuple(base_index))
    return variant, tuple(base)


def _means(cell: str, *, file: str, row: int, question: str) -> dict[str, float]:
    weights = literal(cell, file=file, row=row, column="mean_weights", nan_is_missing=True)
    weights = _typed(weights, dict, "mean_weights", file=file, row=row, column="mean_weights")
    if len(weights) > MAX_COUNTRIES:
        raise InputError(f"{len(weights)} countries; at most {MAX_COUNTRIES} are read", file=file, row=row,
                         column="mean_weights")
    out = {}
    for country, value in weights.items():
        name = country_name(country, file=file, item=question, column="mean_weights", row=row)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue  # the country gave no usable answer to this question
        if name in out:
            raise InputError(f"country {name!r} appears twice", file=file, row=row, column="mean_weights")
        if isinstance(value, (list, tuple, dict, str)):
            raise InputError(f"country {name!r}: expected one mean answer on the 0-1 scale, got "
                             f"{type(value).__name__}", file=file, row=row, column="mean_weights")
        _, out[name] = human_answer(value, None, name, file=file, item=question, column="mean_weights", row=row)
    return out


def read_released(frame, file: str, name: str) -> Questionnaire:
    """The authors' released table as a questionnaire: one item per question_idx, its rows as variants."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"looks like the released table of Khan et al. but lacks column(s) {', '.join(missing)}",
                         file=file)
    groups: dict[str, dict[str, Any]] = {}
    for k, values in enumerate(frame.to_dict("records")):
        row = k + 2
        qid = clean_text(values["question_idx"], "question_idx", file=file, row=row, column="question_idx", limit=200)
        question = clean_text(values["question_text"], "question_text", file=file, row=row, column="question_text")
        variant, base = _variant(values, file=file, row=row)
        means = _means(values["mean_weights"], file=file, row=row, question=repr(qid))
        dimension = (clean_text(values["dimension"], "dimension", file=file, row=row, column="dimension", limit=200)
                     if "dimension" in frame.columns else "all")
        group = groups.setdefault(qid, {"question": question, "base": base, "means": means, "dimension": dimension,
                                        "variants": {}, "row": row})
        first = f"row {group['row']}"
        checks = (("question_text", group["question"] == question, "a different question text"),
                  ("options", group["base"] == base, "other options (in base order)"),
                  ("mean_weights", group["means"] == means, "other mean_weights"),
                  ("dimension", group["dimension"] == dimension, "another dimension"))
        for column, same, what in checks:
            if not same:
                raise InputError(f"question_idx {qid} has {what} than on {first}", file=file, row=row, column=column)
        key = (variant.label, variant.order, variant.response)
        if key in group["variants"]:
            raise InputError(f"question_idx {qid} repeats the variation {key} of {first}", file=file, row=row,
                             column="variation")
        group["variants"][key] = variant
    items = [Item(qid, g["dimension"], g["question"], g["base"], {}, g["means"], tuple(g["variants"].values()))
             for qid, g in groups.items()]
    check_items(items, file)
    return Questionnaire(name, tuple(items))


def read_globalopinionqa(frame, file: str, name: str) -> Questionnaire:
    """GlobalOpinionQA (`question, options, selections, source`): options a list literal, selections the
    `defaultdict(<class 'list'>, {...})` text of country -> distribution. Ids from an `id` column when
    there is one, else q1, q2, ... in file order."""
    records = []
    for k, values in enumerate(frame.to_dict("records")):
        row = k + 2
        options = _typed(literal(values["options"], file=file, row=row, column="options"), list, "options",
                         file=file, row=row, column="options")
        text = values["selections"]
        match = _GOQA_SELECTIONS.match(text) if len(text) <= MAX_CELL else None
        selections = literal(match.group(1) if match else text, file=file, row=row, column="selections")
        selections = _typed(selections, dict, "selections", file=file, row=row, column="selections")
        item_id = values["id"] if "id" in frame.columns else f"q{k + 1}"
        records.append({"id": item_id, "dimension": values.get("source") or "globalopinionqa",
                        "question": values["question"], "options": options, "human": selections})
    return _records(records, file, name)


def _records(records, file: str, name: str) -> Questionnaire:
    from .questionnaire import make_item

    items = [make_item(raw, file=file, index=k + 1) for k, raw in enumerate(records)]
    check_items(items, file)
    return Questionnaire(name, tuple(items))
