"""Scoring rendered prompts with a causal LM: one forward pass per sequence, last positions only.

Identifier answers: the next-token log-probabilities of the options' identifier tokens at the
prompt's last position (the full-vocabulary log-softmax; renormalising over the options happens
later). Option-text answers: each option's continuation is scored as the mean log-probability of its
tokens (length-normalised log-likelihood), one sequence per option.

Sequences are sorted by length and batched with left padding, so the positions that matter line up
at the right edge and `logits_to_keep` asks the model only for those (Gemma's 262k-token vocabulary
makes the full logits the dominant cost). Position ids follow the attention mask, so padding does not
shift absolute position embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Request:
    prompt: str
    add_special_tokens: bool
    targets: tuple[str, ...]
    response: str  # identifier | text


def identifier_tokens(tokenizer, targets: Sequence[str]) -> tuple[list[int], list[int]]:
    """(shared prefix, answer tokens): the tokens all identifier continuations start with (Gemma
    writes " 1" as "▁", "1"), which join the prompt, and the first token where they differ, one per
    option. Identifiers must differ in that token."""
    encoded = [tokenizer.encode(t, add_special_tokens=False) for t in targets]
    if any(not e for e in encoded):
        raise ValueError(f"the tokenizer turns an option identifier of {list(targets)} into no tokens")
    shared = 0
    while all(len(e) > shared + 1 for e in encoded) and len({e[shared] for e in encoded}) == 1:
        shared += 1
    ids = [e[shared] for e in encoded]
    if len(set(ids)) != len(ids):
        raise ValueError(f"option identifiers {list(targets)} share their tokens in this tokenizer; "
                         "use the other label style or option-text answers")
    return encoded[0][:shared], ids


def _left_padded(sequences: list[list[int]], pad_id: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Token ids and attention mask of sequences padded on the left, so every row ends at the last column."""
    import torch

    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq):] = 1
    return input_ids, mask


def _forward_last(model, sequences: list[list[int]], keep: int, pad_id: int, device: str) -> "torch.Tensor":
    """Log-softmax over the vocabulary at the last `keep` positions of each left-padded sequence."""
    import torch

    input_ids, mask = _left_padded(sequences, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    inputs = dict(input_ids=input_ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device))
    with torch.inference_mode():
        try:
            logits = model(**inputs, logits_to_keep=keep, use_cache=False).logits
        except TypeError:  # a model without logits_to_keep: compute all, keep the tail
            logits = model(**inputs, use_cache=False).logits
        logits = logits[:, -keep:, :].float()
    return torch.log_softmax(logits, dim=-1).cpu()


def _common_prefix(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and len({s[n] for s in sequences}) == 1:  # keep at least one token per suffix
        n += 1
    return n


def _forward_shared_prefix(model, sequences: list[list[int]], prefix: int, pad_id: int,
                           device: str) -> "torch.Tensor":
    """Last-position log-softmax of sequences that share their first `prefix` tokens: the prefix runs
    once, its key/value cache is copied to every row, and only the suffixes run batched (left-padded
    between prefix and suffix; the mask hides the padding, position ids continue the prefix's)."""
    import torch

    with torch.inference_mode():
        head = torch.tensor([sequences[0][:prefix]], dtype=torch.long, device=device)
        cache = model(input_ids=head, use_cache=True, logits_to_keep=1).past_key_values
        cache.batch_repeat_interleave(len(sequences))
        tails = [s[prefix:] for s in sequences]
        input_ids, mask = _left_padded(tails, pad_id)
        positions = prefix + (mask.cumsum(-1) - 1).clamp(min=0)
        full_mask = torch.cat([torch.ones((len(tails), prefix), dtype=torch.long), mask], dim=1)
        logits = model(input_ids=input_ids.to(device), attention_mask=full_mask.to(device),
                       position_ids=positions.to(device), past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1:, :].float()
    return torch.log_softmax(logits, dim=-1).cpu()


def _prefix_batches(prompts: dict[int, list[int]], batch_size: int, keep: float = 0.5) -> list[list[int]]:
    """Prompts in token order (those sharing a persona and a question sit together), cut into batches
    that end where the shared prefix would fall below `keep` of the batch's first prompt."""
    order = sorted(prompts, key=lambda k: prompts[k])
    batches: list[list[int]] = []
    for k in order:
        if batches and len(batches[-1]) < batch_size:
            first = prompts[batches[-1][0]]
            if _common_prefix([first, prompts[k]]) >= keep * len(first):
                batches[-1].append(k)
                continue
        batches.append([k])
    return batches


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [list(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]


def score(model, tokenizer, requests: Sequence[Request], *, batch_size: int = 16, device: str = "cpu",
          on_batch: Callable[[list[int], list[np.ndarray]], None] | None = None,
          share_prefixes: bool = True, min_prefix: int = 16) -> list[np.ndarray]:
    """One array per request: identifier log-probabilities, or mean log-probability per option text.

    `on_batch(indices, values)` is called after every batch (progress, caching, cancellation).
    """
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results: list[np.ndarray | None] = [None] * len(requests)
    prompts = [tokenizer.encode(r.prompt, add_special_tokens=r.add_special_tokens) for r in requests]

    # Identifier requests whose options differ in one token: one sequence each. Others (a tokenizer
    # that merges " A" into one token but splits " B") are scored like texts, by their summed log-probability.
    ident, tokens, whole = [], {}, []
    for k, r in enumerate(requests):
        if r.response != "identifier":
            continue
        try:
            shared, tokens[k] = identifier_tokens(tokenizer, r.targets)
        except ValueError:
            whole.append(k)
            continue
        prompts[k] = prompts[k] + shared
        ident.append(k)
    if share_prefixes:  # formats of one question under one persona share everything up to the options
        batches = _prefix_batches({k: prompts[k] for k in ident}, batch_size)
    else:
        batches = [[ident[b] for b in batch] for batch in _batches([len(prompts[k]) for k in ident], batch_size)]
    for keys in batches:
        sequences = [prompts[k] for k in keys]
        common = _common_prefix(sequences) if share_prefixes and len(keys) > 1 else 0
        if common >= min_prefix:
            logp = _forward_shared_prefix(model, sequences, common, pad_id, device)[:, -1, :]
        else:
            logp = _forward_last(model, sequences, 1, pad_id, device)[:, -1, :]
        values = [logp[row, tokens[k]].numpy().astype(float) for row, k in enumerate(keys)]
        for k, v in zip(keys, values):
            results[k] = v
        if on_batch:
            on_batch(keys, values)

    # Continuations: one sequence per option, regrouped per request when all its options are done.
    text = [k for k, r in enumerate(requests) if r.response == "text"] + whole
    pieces = [(k, j, tokenizer.encode(t, add_special_tokens=False)) for k in text
              for j, t in enumerate(requests[k].targets)]
    for k, j, cont in pieces:
        if not cont:
            raise ValueError(f"option text {requests[k].targets[j]!r} tokenizes to nothing")
    partial: dict[int, dict[int, float]] = {k: {} for k in text}
    for batch in _batches([len(prompts[k]) + len(c) for k, _, c in pieces], batch_size):
        chosen = [pieces[b] for b in batch]
        keep = max(len(c) for _, _, c in chosen) + 1
        logp = _forward_last(model, [prompts[k] + c for k, _, c in chosen], keep, pad_id, device)
        done_keys, done_values = [], []
        for row, (k, j, cont) in enumerate(chosen):
            n = len(cont)
            # Tokens of the continuation sit in the last n positions; each is predicted one position earlier.
            rows = logp[row, keep - n - 1:keep - 1, :]
            token_logp = rows[torch.arange(n), torch.tensor(cont)]
            partial[k][j] = float(token_logp.mean() if requests[k].response == "text" else token_logp.sum())
            if len(partial[k]) == len(requests[k].targets):
                results[k] = np.asarray([partial[k][i] for i in range(len(requests[k].targets))])
                done_keys.append(k)
                done_values.append(results[k])
        if on_batch and done_keys:
            on_batch(done_keys, done_values)
    return results  # type: ignore[return-value]


def renormalise(logp: np.ndarray) -> np.ndarray:
    """Probabilities over the options alone: softmax of the options' log-scores."""
    z = np.asarray(logp, dtype=float) - np.max(logp)
    p = np.exp(z)
    return p / p.sum()


def entropy(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float)
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())
