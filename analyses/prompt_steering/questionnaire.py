"""Questionnaires: items with a dimension, a question and options in their base order.

The base order is the questionnaire's own order of the options; every answer, whatever format it was
asked in, is mapped to a position on it (0 = first option, 1 = last). Likert items name no options:
the Likert format of a prompt supplies them (strongly disagree ... strongly agree, base order).

Files: JSON (`{"name": ..., "items": [{"id", "dimension", "question", "options", "human"?}],
"dimension_scores"?: {country: {dimension: number}}}`), CSV (columns `id, dimension, question, options`
with options separated by `|`, or the word `likert`; optional `human:<country>` columns with
`|`-separated probabilities in base order), or the GlobalOpinionQA layout (`question, selections,
options, source` columns) when a user has that file.

Dimension scores are the human reference for how countries group on the value dimensions: a JSON file's
own (e.g. Hofstede- or Inglehart-Welzel-style indices), else derived from the human answer
distributions (mean over a dimension's items of the expected scale position).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

LIKERT = "likert"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "prompt_steering" / "values_bank.json"


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    question: str
    options: tuple[str, ...] | None  # None: a Likert statement, options from the format
    human: dict[str, tuple[float, ...]] = field(default_factory=dict)  # country -> distribution, base order

    @property
    def is_likert(self) -> bool:
        return self.options is None


def scale_position(dist) -> float:
    """Expected position of a base-order distribution on the 0-1 scale (option i of K at i / (K - 1))."""
    k = len(dist)
    return float(np.dot(dist, np.arange(k) / (k - 1)))


@dataclass(frozen=True)
class Questionnaire:
    name: str
    items: tuple[Item, ...]
    dimension_scores: dict[str, dict[str, float]] = field(default_factory=dict)  # explicit: country -> dim -> score

    @property
    def dimensions(self) -> list[str]:
        return sorted({item.dimension for item in self.items})

    @property
    def human_countries(self) -> list[str]:
        """Countries with human answer distributions (what alignment and the specification curve need)."""
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
            for country, dist in item.human.items():
                derived.setdefault(country, {}).setdefault(item.dimension, []).append(scale_position(dist))
        return {c: {d: float(np.mean(v)) for d, v in dims.items()} for c, dims in derived.items()}

    @property
    def persona_countries(self) -> list[str]:
        """Countries to give personas: those with human distributions and dimension scores first, then
        distributions only, then dimension scores only (a file with scores but no distributions still
        steers towards its own countries, so the model's grouping can be compared with theirs)."""
        distributions, scored = set(self.human_countries), set(self.human_dimension_scores)
        return sorted(distributions | scored, key=lambda c: (c not in distributions, c not in scored, c))

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
        return Questionnaire(self.name, tuple(sorted(chosen, key=lambda i: order[i.id])), self.dimension_scores)


def _fail(where: str, why: str) -> ValueError:
    return ValueError(f"questionnaire {where}: {why}")


def _item(raw: dict, where: str) -> Item:
    for key in ("id", "dimension", "question", "options"):
        if key not in raw or raw[key] is None or (isinstance(raw[key], float) and np.isnan(raw[key])):
            raise _fail(where, f"missing field '{key}'")
    item_id, dimension, question = (str(raw[k]).strip() for k in ("id", "dimension", "question"))
    for key, value in (("id", item_id), ("dimension", dimension), ("question", question)):
        if not value:
            raise _fail(where, f"empty field '{key}'")
    options = raw["options"]
    if isinstance(options, str):
        options = None if options.strip().lower() == LIKERT else [o.strip() for o in options.split("|")]
    if options is not None:
        if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
            raise _fail(where, "'options' must be a list of strings or 'likert'")
        options = tuple(o.strip() for o in options)
        if len(options) < 2:
            raise _fail(where, f"item {item_id!r} has {len(options)} option(s); at least 2 are needed")
        if len(options) > 26:
            raise _fail(where, f"item {item_id!r} has {len(options)} options; at most 26 fit letter labels")
        if any(not o for o in options):
            raise _fail(where, f"item {item_id!r} has an empty option")
        if len(set(options)) != len(options):
            raise _fail(where, f"item {item_id!r} repeats an option")
    human = {}
    for country, dist in (raw.get("human") or {}).items():
        values = np.asarray([float(v) for v in dist], dtype=float) if not isinstance(dist, str) else \
            np.asarray([float(v) for v in dist.split("|")], dtype=float)
        if options is None:
            raise _fail(where, f"item {item_id!r}: human distributions need explicit options (not 'likert')")
        if len(values) != len(options):
            raise _fail(where, f"item {item_id!r}, country {country!r}: {len(values)} probabilities for "
                               f"{len(options)} options")
        if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
            raise _fail(where, f"item {item_id!r}, country {country!r}: probabilities must be finite, "
                               "non-negative and not all zero")
        human[str(country)] = tuple(float(v) for v in values / values.sum())
    return Item(item_id, dimension, question, options, human)


def _check_ids(items: list[Item], source: str) -> None:
    if not items:
        raise _fail(source, "no items")
    seen = set()
    for item in items:
        if item.id in seen:
            raise _fail(source, f"duplicate item id {item.id!r}")
        seen.add(item.id)


def _dimension_scores(raw, items: list[Item], where: str) -> dict[str, dict[str, float]]:
    """Validated explicit scores: every country a mapping of at least two of the items' dimensions to
    finite numbers."""
    if raw is None:
        return {}
    where = f"{where}, dimension_scores"
    if not isinstance(raw, dict):
        raise _fail(where, "expected an object mapping each country to an object of dimension -> number")
    known = sorted({item.dimension for item in items})
    out: dict[str, dict[str, float]] = {}
    for country, dims in raw.items():
        name = str(country).strip()
        if not name:
            raise _fail(where, "empty country name")
        if name in out:
            raise _fail(where, f"country {name!r} appears twice")
        if not isinstance(dims, dict):
            raise _fail(where, f"country {name!r}: expected an object of dimension -> number, got {dims!r:.60}")
        scores = {}
        for dimension, value in dims.items():
            here = f"country {name!r}, dimension {dimension!r}"
            if dimension not in known:
                raise _fail(where, f"{here}: not a dimension of the items (they have {', '.join(known)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(where, f"{here}: {value!r:.60} is not a number")
            if not np.isfinite(value):
                raise _fail(where, f"{here}: {value} is not finite")
            scores[dimension] = float(value)
        if len(scores) < 2:
            raise _fail(where, f"country {name!r} has scores for {len(scores)} dimension(s); at least 2 are "
                               "needed to group countries")
        out[name] = scores
    return out


def from_records(records: list[dict], name: str = "questionnaire") -> Questionnaire:
    items = [_item(raw if isinstance(raw, dict) else {}, f"{name}, item {k + 1}") for k, raw in enumerate(records)]
    _check_ids(items, name)
    return Questionnaire(name, tuple(items))


def _from_json(path: Path) -> Questionnaire:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path.name, f"not valid JSON ({exc})") from exc
    if isinstance(data, list):
        data = {"items": data}
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise _fail(path.name, "expected an object with a list 'items' (or a list of items)")
    q = from_records(data["items"], str(data.get("name") or path.stem))
    return replace(q, dimension_scores=_dimension_scores(data.get("dimension_scores"), list(q.items), path.name))


_GOQA_SELECTIONS = re.compile(r"^\s*defaultdict\(\s*<class 'list'>\s*,\s*(\{.*\})\s*\)\s*$", re.S)


def _literal(text: str, where: str):
    """Python literals only (ast.literal_eval): a file's content is parsed, never executed."""
    match = _GOQA_SELECTIONS.match(text)
    try:
        return ast.literal_eval(match.group(1) if match else text)
    except (ValueError, SyntaxError) as exc:
        raise _fail(where, f"cannot parse {text[:60]!r} as a literal") from exc


def _from_globalopinionqa(frame, name: str) -> Questionnaire:
    records = []
    for k, row in frame.iterrows():
        where = f"{name}, row {k + 2}"
        options = _literal(str(row["options"]), where)
        selections = _literal(str(row["selections"]), where)
        if not isinstance(options, list) or not isinstance(selections, dict):
            raise _fail(where, "'options' must be a list and 'selections' a dict of country -> probabilities")
        records.append({"id": f"q{k + 1}", "dimension": str(row.get("source", "globalopinionqa")),
                        "question": row["question"], "options": [str(o) for o in options],
                        "human": selections})
    return from_records(records, name)


def _from_csv(path: Path) -> Questionnaire:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _fail(path.name, f"not a readable CSV file ({exc})") from exc
    columns = set(frame.columns)
    if {"question", "selections", "options"} <= columns:
        return _from_globalopinionqa(frame, path.stem)
    missing = [c for c in ("id", "dimension", "question", "options") if c not in columns]
    if missing:
        raise _fail(path.name, f"missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    human_columns = [c for c in frame.columns if c.startswith("human:")]
    records = []
    for _, row in frame.iterrows():
        record = {c: row[c] for c in ("id", "dimension", "question", "options")}
        record["human"] = {c.split(":", 1)[1]: row[c] for c in human_columns if str(row[c]).strip()}
        records.append(record)
    return from_records(records, path.stem)


def load(path: str | Path | None) -> Questionnaire:
    """The shipped bank when path is empty, else the user's file, validated."""
    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise _fail(str(path), "no such file")
    if path.suffix.lower() == ".json":
        return _from_json(path)
    if path.suffix.lower() == ".csv":
        return _from_csv(path)
    raise _fail(path.name, "expected a .json or .csv file")
