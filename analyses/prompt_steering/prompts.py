"""Rendering one (item, format, persona) as the exact text given to the model, and its answer key.

Every rendered prompt carries `base_index`: display position j shows base option base_index[j], so an
answer read in any displayed order maps back to the questionnaire's own order. The 0-1 scale position
of base option i among K is i / (K - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import LIKERT_SCALES, Format, Persona, display_order, identifiers
from .questionnaire import Item, Variant

INSTRUCTIONS = {
    ("identifier", "letters"): "Answer with the letter of one option only.",
    ("identifier", "numbers"): "Answer with the number of one option only.",
    ("text", "letters"): "Answer with the exact text of one option only.",
    ("text", "numbers"): "Answer with the exact text of one option only.",
}


@dataclass(frozen=True)
class Rendered:
    prompt: str                  # the exact text given to the model
    add_special_tokens: bool     # False when a chat template already wrote the BOS token
    options: tuple[str, ...]     # displayed order
    base_index: tuple[int, ...]  # display position -> base option index
    targets: tuple[str, ...]     # the continuations scored, displayed order
    response: str

    @property
    def scale(self) -> np.ndarray:
        """Scale position in [0, 1] of each displayed option."""
        k = len(self.base_index)
        return np.asarray(self.base_index, dtype=float) / (k - 1)


def item_options(item: Item, fmt: Format) -> tuple[str, ...]:
    return LIKERT_SCALES[fmt.likert] if item.is_likert else item.options


def question_text(item: Item) -> str:
    if item.is_likert:
        return f'How much do you agree with the following statement? "{item.question}"'
    return item.question


def body(item: Item, fmt: Format, seed: int) -> tuple[str, tuple[str, ...], tuple[int, ...], list[str]]:
    base = item_options(item, fmt)
    order = display_order(len(base), fmt.order, item.id, seed)
    if fmt.label == "numbers" and len(base) > 9:
        raise ValueError(f"item {item.id!r}: {len(base)} options do not fit single-digit number labels")
    ids = identifiers(fmt.label, len(base))
    shown = tuple(base[i] for i in order)
    lines = [f"Question: {question_text(item)}", "Options:"]
    lines += [f"{ident}. {text}" for ident, text in zip(ids, shown)]
    lines.append(INSTRUCTIONS[(fmt.response, fmt.label)])
    return "\n".join(lines), shown, tuple(order), ids


def render_variant(item: Item, v: Variant, persona: Persona, *, tokenizer=None, chat: bool = False,
                   slot: str = "user") -> Rendered:
    """A questionnaire file's own presentation (the authors' released table): its instruction, the
    question and its labelled options exactly as written. Plain: persona, instruction, question,
    options, 'Answer:'; chat: the instruction in the system message (after the persona when the persona
    goes there), the question and options as the user turn."""
    answers = v.identifiers if v.response == "identifier" else v.options
    question = f"{item.question}\n\n" + "\n".join(v.lines)
    if not chat:
        parts = [persona.text] if persona.text else []
        prompt = "\n\n".join([*parts, v.instruction, question]) + "\nAnswer:"
        return Rendered(prompt, True, v.options, v.base_index, tuple(" " + a for a in answers), v.response)
    system = [persona.text] if persona.text and slot == "system" else []
    user = [persona.text] if persona.text and slot != "system" else []
    messages = [{"role": "system", "content": "\n\n".join([*system, v.instruction])},
                {"role": "user", "content": "\n\n".join([*user, question])}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    special = getattr(tokenizer, "bos_token", None)
    has_bos = bool(special) and prompt.startswith(special)
    return Rendered(prompt, not has_bos, v.options, v.base_index, tuple(answers), v.response)


def render(item: Item, fmt: Format, persona: Persona, *, seed: int = 0, tokenizer=None, chat: bool = False,
           slot: str = "user") -> Rendered:
    """Plain text ends with 'Answer:' and targets start with a space; a chat prompt ends with the
    template's generation prompt and targets follow it directly. An item with its own presentation
    of the format (a released table's variant) is rendered as written."""
    own = item.variant(fmt.label, fmt.order, fmt.response) if item.variants else None
    if own is not None:
        return render_variant(item, own, persona, tokenizer=tokenizer, chat=chat, slot=slot)
    text, shown, order, ids = body(item, fmt, seed)
    answers = ids if fmt.response == "identifier" else list(shown)
    if not chat:
        prompt = (f"{persona.text}\n\n" if persona.text else "") + text + "\nAnswer:"
        return Rendered(prompt, True, shown, order, tuple(" " + a for a in answers), fmt.response)
    messages = []
    if persona.text and slot == "system":
        messages.append({"role": "system", "content": persona.text})
        user = text
    else:
        user = (f"{persona.text}\n\n" if persona.text else "") + text
    messages.append({"role": "user", "content": user})
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    special = getattr(tokenizer, "bos_token", None)
    has_bos = bool(special) and prompt.startswith(special)
    return Rendered(prompt, not has_bos, shown, order, tuple(answers), fmt.response)
