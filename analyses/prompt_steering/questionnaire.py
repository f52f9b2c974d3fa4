"""Questionnaires: items with a dimension, a question, options in their base order, and human answers.

The base order is the questionnaire's own order of the options; every answer, whatever format it was
asked in, is mapped to a position on it (0 = first option, 1 = last). Likert items name no options:
the Likert format of a prompt supplies them (strongly disagree ... strongly agree, base order).

Human answers per country are either a distribution over the options (base order) or a mean answer
on the 0-1 scale (what Khan et al. release): expected-answer metrics work with both, distribution
metrics (Jensen-Shannon alignment) only with distributions.

Files: JSON (`{"name": ..., "items": [{"id", "dimension", "question", "options", "human"?}],
"dimension_scores"?: {country: {dimension: number}}}`; `human` maps a country to a list of
probabilities or to one mean), CSV (columns `id, dimension, question, options` with options
separated by `|`, or the word `likert`; optional `human:<country>` columns with `|`-separated
probabilities in base order, or one number, the mean), the authors' released table of Khan et al.
(2025) and the GlobalOpinionQA layout (`released_table`).

Dimension scores are the human reference for how countries group on the value dimensions: a JSON file's
own (e.g. Hofstede- or Inglehart-Welzel-style indices), else derived from the human answers (mean over
a dimension's items of the expected scale position).

Every bad input raises `InputError` naming the file, the item or row, the column or country, and the
problem; sizes that could exhaust the server (file size, rows, JSON depth) are capped.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from analyses.core.errors import InputError

LIKERT = "likert"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "prompt_steering" / "values_bank.json"

MAX_FILE_BYTES = 20 * 1024 * 1024  # a questionnaire of thousands of items is well under 1 MB
MAX_ITEMS = 20_000
MAX_ROWS = 200_000                 # the released table has 8 rows per question
MAX_COUNTRIES = 500
MAX_OPTIONS = 26                   # letter labels A-Z
MAX_TEXT = 20_000                  # characters of one question or option
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Variant:
    """One presentation of an item exactly as a questionnaire file wrote it (the authors' released
    table): its instruction, its labelled options in displayed order, and what the model answers with."""

    label: str                    # letters | numbers
    order: str                    # ascending | reversed
    response: str                 # identifier | text
    instruction: str
    identifiers: tuple[str, ...]  # displayed order, as the file labels them ("A", "1")
    lines: tuple[str, ...]        # the labelled options as written ("A. Very important")
    options: tuple[str, ...]      # displayed option texts
    base_index: tuple[int, ...]   # display position -> base option index


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    question: str
    options: tuple[str, ...] | None  # None: a Likert statement, options from the format
    human: dict[str, tuple[float, ...]] = field(default_factory=dict)  # country -> distribution, base order
    human_mean: dict[str, float] = field(default_factory=dict)  # country -> mean answer on 0-1 (no distribution)
    variants: tuple[Variant, ...] = ()  # the file's own presentations, when it has them

    @property
    def is_likert(self) -> bool:
        return self.options is None

    def human_position(self, country: str) -> float | None:
        """The country's mean answer on the 0-1 scale: from its distribution, else its given mean."""
        if country in self.human:
            return scale_position(self.human[country])
        return self.human_mean.get(country)

    @property
    def human_countries(self) -> list[str]:
        return sorted(set(self.human) | set(self.human_mean))

    def variant(self, label: str, order: str, response: str) -> Variant | None:
        for v in self.variants:
            if (v.label, v.order, v.response) == (label, order, response):
                return v
        return None


def scale_position(dist) -> float:
    """Expected position of a base-order distribution on the 0-1 scale (option i of K at i / (K - 1))."""
    k = len(dist)
    return float(np.dot(dist, np.arange(k) / (k - 1)))


@dataclass(frozen=True)
class Questionnaire:
    name: str
    items: tuple[Item, ...]
    dimension_scores: dict[str, dict[str, float]] = field(default_factory=dict)  # explicit: country -> dim -> score
    # Every item of the file, with human data, before `subset`: the human between-country spread is over these.
    all_items: tuple[Item, ...] = ()

    def __post_init__(self) -> None:
        if not self.all_items:
            object.__setattr__(self, "all_items", self.items)

    @property
    def dimensions(self) -> list[str]:
        return sorted({item.dimension for item in self.items})

    @property
    def human_countries(self) -> list[str]:
        """Countries with human answers of either kind, distributions or means."""
        return sorted({c for item in self.items for c in item.human_countries})

    @property
    def distribution_countries(self) -> list[str]:
        """Countries with human answer distributions (what the Jensen-Shannon alignment needs)."""
        return sorted({c for item in self.items for c in item.human})

    @property
    def human_dimension_scores(self) -> dict[str, dict[str, float]]:
        """Country -> dimension -> score: the file's explicit scores when it has any (they win, and are
        never mixed with derived ones, which sit on another scale), else the mean over each dimension's
        items of the human expected scale position, per country."""
        if self.dimension_scores:
            return {c: dict(d) for c, d in self.dimension_scores.items()}
        derived: dict[str, dict[str, list[float]]] = {}
        for item in self.items:
            for country in item.human_countries:
                derived.setdefault(country, {}).setdefault(item.dimension, []).append(item.human_position(country))
        return {c: {d: float(np.mean(v)) for d, v in dims.items()} for c, dims in derived.items()}

    @property
    def persona_countries(self) -> list[str]:
        """Countries to give personas by default: those with human answers and dimension scores first,
        then answers only, then dimension scores only (a file with scores but no answers still steers
        towards its own countries, so the model's grouping can be compared with theirs)."""
        answered, scored = set(self.human_countries), set(self.human_dimension_scores)
        return sorted(answered | scored, key=lambda c: (c not in answered, c not in scored, c))

    def subset(self, n_items: int) -> "Questionnaire":
        """The first items taken round-robin over dimensions, so a small run still spans them all."""
        by_dim = {d: [i for i in self.items if i.dimension == d] for d in self.dimensions}
        chosen: list[Item] = []
        depth = 0
        while len(chosen) < min(n_items, len(self.items)):
            for d in self.dimensions:
                if depth < len(by_dim[d]) and len(chosen) < n_items:
                    chosen.append(by_dim[d][depth])
            depth += 1
        order = {item.id: k for k, item in enumerate(self.items)}
        return replace(self, items=tuple(sorted(chosen, key=lambda i: order[i.id])), all_items=self.all_items)


# -- validation of single values ---------------------------------------------------------------------

def blank(text: str) -> bool:
    """Empty once whitespace and invisible characters (NUL, BOM, zero-width, other controls) are removed."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)


def clean_text(value: Any, what: str, *, file: str, item: Any = None, row: Any = None, column: str | None = None,
               limit: int = MAX_TEXT) -> str:
    """A text field, stripped; refused when it is not text, blank, holds NUL or is too long."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{what} must be text, got {type(value).__name__}", file=file, item=item, row=row,
                         column=column)
    text = str(value)
    if "\x00" in text:
        raise InputError(f"{what} contains a NUL character", file=file, item=item, row=row, column=column)
    text = text.strip().strip("\ufeff\u200b").strip()
    if blank(text):
        raise InputError(f"empty {what}", file=file, item=item, row=row, column=column)
    if len(text) > limit:
        raise InputError(f"{what} is {len(text)} characters long; at most {limit} are read", file=file, item=item,
                         row=row, column=column)
    return text


def _number(value: Any, what: str, **where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{what}: {str(value)[:40]!r} is not a number", **where)
    try:
        number = float(value)
    except OverflowError:
        raise InputError(f"{what}: {str(value)[:40]} is too large", **where) from None
    if not np.isfinite(number):
        raise InputError(f"{what}: {number} is not finite", **where)
    return number


def _parse_number_text(text: str, what: str, **where) -> float:
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{what}: {text[:40]!r} is not a number", **where) from None
    return _number(number, what, **where)


def _looks_like_literal(text: str) -> bool:
    t = text.strip()
    return (t.startswith("[") and t.endswith("]")) or (t.startswith("(") and t.endswith(")")) or \
        (t.startswith("{") and t.endswith("}"))


def _options(raw: Any, *, file: str, item: Any, column: str | None = None) -> tuple[str, ...] | None:
    if isinstance(raw, str):
        if raw.strip().lower() == LIKERT:
            return None
        if _looks_like_literal(raw):
            raise InputError("'options' looks like a Python or JSON list written as text; separate the options "
                             "with | (e.g. Yes|No), or give a JSON list", file=file, item=item, column=column)
        raw = raw.split("|")
    if not isinstance(raw, (list, tuple)):
        raise InputError(f"'options' must be a list of texts or 'likert', got {type(raw).__name__}", file=file,
                         item=item, column=column)
    if len(raw) > MAX_OPTIONS:
        raise InputError(f"{len(raw)} options; at most {MAX_OPTIONS} fit letter labels", file=file, item=item,
                         column=column)
    options = tuple(clean_text(o, f"option {k + 1}", file=file, item=item, column=column)
                    for k, o in enumerate(raw))
    if len(options) < 2:
        raise InputError(f"has {len(options)} option(s); at least 2 are needed", file=file, item=item, column=column)
    if len(set(options)) != len(options):
        raise InputError("repeats an option", file=file, item=item, column=column)
    return options


def country_name(raw: Any, *, file: str, item: Any = None, column: str | None = None, row: int | None = None) -> str:
    where = dict(file=file, item=item, column=column, row=row)
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InputError(f"a country name must be text, got {type(raw).__name__}", **where)
    text = str(raw)
    if "\x00" in text or blank(text):
        raise InputError("empty country name", **where)
    if len(text.strip()) > 200:
        raise InputError("a country name longer than 200 characters", **where)
    return text.strip().strip("\ufeff\u200b").strip()


def human_answer(value: Any, options: tuple[str, ...] | None, country: str, *, file: str, item: Any,
                 column: str | None = None, row: int | None = None) -> tuple[str, Any]:
    """('distribution', normalised tuple) or ('mean', number in [0, 1]) from a JSON value or a CSV cell."""
    where = dict(file=file, item=item, column=column, row=row)
    what = f"country {country!r}"
    if isinstance(value, str):
        text = value.strip()
        if _looks_like_literal(text):
            raise InputError(f"{what}: {text[:40]!r} looks like a Python or JSON list written as text; separate "
                             "probabilities with | (e.g. 0.2|0.8), or give one number, the mean", **where)
        if "|" in text:
            value = [_parse_number_text(v.strip(), what, **where) for v in text.split("|")]
        else:
            value = _parse_number_text(text, what, **where)
    if isinstance(value, dict):
        raise InputError(f"{what}: expected a list of probabilities or one mean, got an object", **where)
    if isinstance(value, (list, tuple)):
        if options is None:
            raise InputError(f"{what}: human distributions need explicit options (not 'likert'); give a mean "
                             "on the 0-1 scale instead", **where)
        values = np.asarray([_number(v, what, **where) for v in value], dtype=float)
        if len(values) != len(options):
            raise InputError(f"{what}: {len(values)} probabilities for {len(options)} options", **where)
        with np.errstate(over="ignore"):
            total = float(values.sum()) if np.all(values >= 0) else -1.0
        if np.any(values < 0) or not np.isfinite(total) or total <= 0:
            raise InputError(f"{what}: probabilities must be finite, non-negative, not all zero, and sum to a "
                             "finite number", **where)
        return "distribution", tuple(float(v) for v in values / total)
    mean = _number(value, what, **where)
    if not 0.0 <= mean <= 1.0:
        raise InputError(f"{what}: a mean answer must lie on the 0-1 scale, got {mean:g}", **where)
    return "mean", mean


# -- items and questionnaires --------------------------------------------------------------------------

def make_item(raw: Any, *, file: str, index: int) -> Item:
    """One validated item from a JSON object or a CSV row (a dict with id, dimension, question, options
    and optionally human: country -> answer)."""
    if not isinstance(raw, dict):
        raise InputError(f"expected an object with id, dimension, question and options, got "
                         f"{type(raw).__name__}", file=file, item=index)
    for key in ("id", "dimension", "question", "options"):
        if raw.get(key) is None:
            raise InputError(f"missing field '{key}'", file=file, item=index)
    item_id = clean_text(raw["id"], "field 'id'", file=file, item=index, limit=200)
    dimension = clean_text(raw["dimension"], "field 'dimension'", file=file, item=repr(item_id), limit=200)
    question = clean_text(raw["question"], "field 'question'", file=file, item=repr(item_id))
    options = _options(raw["options"], file=file, item=repr(item_id))
    human, means = {}, {}
    answers = raw.get("human") or {}
    if not isinstance(answers, dict):
        raise InputError(f"'human' must be an object mapping each country to its answers, got "
                         f"{type(answers).__name__}", file=file, item=repr(item_id))
    if len(answers) > MAX_COUNTRIES:
        raise InputError(f"{len(answers)} countries; at most {MAX_COUNTRIES} are read", file=file, item=repr(item_id))
    for country, value in answers.items():
        name = country_name(country, file=file, item=repr(item_id))
        if name in human or name in means:
            raise InputError(f"country {name!r} appears twice", file=file, item=repr(item_id))
        kind, answer = human_answer(value, options, name, file=file, item=repr(item_id))
        (human if kind == "distribution" else means)[name] = answer
    return Item(item_id, dimension, question, options, human, means)


def check_items(items: list[Item], file: str) -> None:
    if not items:
        raise InputError("no items", file=file)
    if len(items) > MAX_ITEMS:
        raise InputError(f"{len(items)} items; at most {MAX_ITEMS} are read", file=file)
    seen = set()
    for item in items:
        if item.id in seen:
            raise InputError(f"duplicate item id {item.id!r}", file=file)
        seen.add(item.id)


def _dimension_scores(raw, items: list[Item], file: str) -> dict[str, dict[str, float]]:
    """Validated explicit scores: every country a mapping of at least two of the items' dimensions to
    finite numbers."""
    if raw is None:
        return {}
    column = "dimension_scores"
    if not isinstance(raw, dict):
        raise InputError("expected an object mapping each country to an object of dimension -> number",
                         file=file, column=column)
    if len(raw) > MAX_COUNTRIES:
        raise InputError(f"{len(raw)} countries; at most {MAX_COUNTRIES} are read", file=file, column=column)
    known = sorted({item.dimension for item in items})
    out: dict[str, dict[str, float]] = {}
    for country, dims in raw.items():
        name = country_name(country, file=file, column=column)
        if name in out:
            raise InputError(f"country {name!r} appears twice", file=file, column=column)
        if not isinstance(dims, dict):
            raise InputError(f"country {name!r}: expected an object of dimension -> number, got {dims!r:.60}",
                             file=file, column=column)
        scores = {}
        for dimension, value in dims.items():
            here = f"country {name!r}, dimension {dimension!r}"
            if dimension not in known:
                raise InputError(f"{here}: not a dimension of the items (they have {', '.join(known)})",
                                 file=file, column=column)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{here}: {value!r:.60} is not a number", file=file, column=column)
            if not np.isfinite(float(value)):
                raise InputError(f"{here}: {float(value)} is not finite", file=file, column=column)
            scores[dimension] = float(value)
        if len(scores) < 2:
            raise InputError(f"country {name!r} has scores for {len(scores)} dimension(s); at least 2 are needed "
                             "to group countries", file=file, column=column)
        out[name] = scores
    return out


def from_records(records: list[dict], name: str = "questionnaire") -> Questionnaire:
    items = [make_item(raw, file=name, index=k + 1) for k, raw in enumerate(records)]
    check_items(items, name)
    return Questionnaire(name, tuple(items))


# -- files ---------------------------------------------------------------------------------------------

def read_text(path: Path) -> str:
    """The file as text (UTF-8, a leading BOM dropped), refused when too large, binary or empty."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{size / 1e6:.0f} MB; a questionnaire may be at most {MAX_FILE_BYTES // 2**20} MB",
                         file=path.name)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path.name) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"contains a NUL character (line {line}); is it a binary file?", file=path.name)
    if blank(text):
        raise InputError("the file is empty", file=path.name)
    return text


def json_depth(text: str) -> int:
    """Deepest nesting of brackets outside strings (checked before parsing: deep JSON exhausts the parser)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    codes = np.frombuffer(stripped.encode("utf-8", "replace"), dtype=np.uint8)
    steps = np.zeros(len(codes), dtype=np.int64)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max()) if len(steps) else 0


def _constant(token: str) -> float:
    return float(token)  # NaN / Infinity become floats; the value checks refuse them by name


def _unique_keys(file: str):
    """An object hook refusing a key given twice (json keeps the last one silently)."""
    def hook(pairs):
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise InputError(f"the key {key[:60]!r} appears twice in one object", file=file)
        return dict(pairs)
    return hook


def _from_json(path: Path) -> Questionnaire:
    text = read_text(path)
    if json_depth(text) > MAX_JSON_DEPTH:
        raise InputError(f"nested deeper than {MAX_JSON_DEPTH} levels; a questionnaire needs 4", file=path.name)
    try:
        data = json.loads(text, parse_constant=_constant, object_pairs_hook=_unique_keys(path.name))
    except InputError:
        raise
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", file=path.name) \
            from None
    except (ValueError, RecursionError):  # e.g. an integer with more digits than Python converts
        raise InputError("not valid JSON (a number with too many digits, or nesting too deep)", file=path.name) \
            from None
    if isinstance(data, list):
        data = {"items": data}
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise InputError("expected an object with a list 'items' (or a list of items)", file=path.name)
    title = data.get("name")
    title = title.strip() if isinstance(title, str) and not blank(title) and "\x00" not in title else path.stem
    if len(data["items"]) > MAX_ITEMS:
        raise InputError(f"{len(data['items'])} items; at most {MAX_ITEMS} are read", file=path.name)
    items = [make_item(raw, file=path.name, index=k + 1) for k, raw in enumerate(data["items"])]
    check_items(items, path.name)
    return Questionnaire(title[:200], tuple(items), _dimension_scores(data.get("dimension_scores"), items, path.name))


def read_csv_frame(path: Path):
    """The CSV as a frame of texts (Python's csv module: every row must have the header's fields, so a
    ragged row is refused rather than shifted); refused with a duplicated or blank column name, or too
    many rows."""
    import csv

    import pandas as pd

    text = read_text(path)
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({str(exc)[:80]})", file=path.name) from None
    names = [h.strip() for h in rows[0]]
    for k, h in enumerate(names):
        if not h or blank(h):
            raise InputError(f"column {k + 1} has no name", file=path.name)
    duplicated = sorted({h for h in names if names.count(h) > 1})
    if duplicated:
        raise InputError(f"column {duplicated[0]!r} appears {names.count(duplicated[0])} times", file=path.name)
    if len(rows) == 1:
        raise InputError("no rows below the header", file=path.name)
    if len(rows) - 1 > MAX_ROWS:
        raise InputError(f"{len(rows) - 1} rows; at most {MAX_ROWS} are read", file=path.name)
    for k, r in enumerate(rows[1:]):
        if len(r) != len(names):
            raise InputError(f"{len(r)} fields where the header has {len(names)}", file=path.name, row=k + 2)
    return pd.DataFrame(rows[1:], columns=names, dtype=str)


def _from_csv(path: Path) -> Questionnaire:
    from . import released_table

    frame = read_csv_frame(path)
    columns = set(frame.columns)
    if released_table.is_released_table(columns):
        return released_table.read_released(frame, path.name, path.stem)
    if {"question", "selections", "options"} <= columns:
        return released_table.read_globalopinionqa(frame, path.name, path.stem)
    missing = [c for c in ("id", "dimension", "question", "options") if c not in columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))[:300]}",
                         file=path.name)
    human_columns = {}
    for c in frame.columns:
        if c.startswith("human:"):
            country = country_name(c.split(":", 1)[1], file=path.name, column=c)
            if country in human_columns.values():
                raise InputError(f"two columns map to country {country!r}", file=path.name, column=c)
            human_columns[c] = country
    if len(human_columns) > MAX_COUNTRIES:
        raise InputError(f"{len(human_columns)} human columns; at most {MAX_COUNTRIES} are read", file=path.name)
    items = []
    for k, row in enumerate(frame.itertuples(index=False)):
        values = dict(zip(frame.columns, row))
        where = dict(file=path.name, row=k + 2)
        for c in ("id", "dimension", "question", "options"):
            if blank(values[c]):
                raise InputError(f"empty field '{c}'", column=c, **where)
        item_id = clean_text(values["id"], "field 'id'", column="id", limit=200, **where)
        dimension = clean_text(values["dimension"], "field 'dimension'", column="dimension", limit=200, **where)
        question = clean_text(values["question"], "field 'question'", column="question", **where)
        try:
            options = _options(values["options"], file=path.name, item=repr(item_id), column="options")
        except InputError as exc:
            raise InputError(exc.problem, row=k + 2, column="options", item=repr(item_id), file=path.name) from None
        human, means = {}, {}
        for c, country in human_columns.items():
            if blank(values[c]):
                continue
            kind, answer = human_answer(values[c], options, country, file=path.name, item=repr(item_id), column=c,
                                        row=k + 2)
            (human if kind == "distribution" else means)[country] = answer
        items.append(Item(item_id, dimension, question, options, human, means))
    check_items(items, path.name)
    return Questionnaire(path.stem, tuple(items))


def load(path: str | Path | None) -> Questionnaire:
    """The shipped bank when path is empty, else the user's file, validated."""
    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise InputError("no such file", file=path.name)
    if path.suffix.lower() == ".json":
        return _from_json(path)
    if path.suffix.lower() == ".csv":
        return _from_csv(path)
    raise InputError("expected a .json or .csv file", file=path.name)
