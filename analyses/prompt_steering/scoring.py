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

    with torch.inference_mode():
        return _extend(model, None, sequences, pad_id, device, keep=keep)


def _common_prefix(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and len({s[n] for s in sequences}) == 1:  # keep at least one token per suffix
        n += 1
    return n


def _extend(model, state, segments: list[list[int]], pad_id: int, device: str, keep: int = 0):
    """Feed every row its segment after the row's cached state (`state` None: from the start).

    Segments are left-padded, so padding sits between a row's cached part and its new tokens: the
    mask hides it and position ids continue from the row's cached length. Returns the new state
    (cache, mask, lengths), or with `keep` > 0 the log-softmax at each row's last `keep` positions.
    """
    import torch

    cache, mask, lengths = state if state is not None else (None, None, torch.zeros(len(segments), dtype=torch.long))
    ids, seg_mask = _left_padded(segments, pad_id)
    positions = lengths[:, None] + (seg_mask.cumsum(-1) - 1).clamp(min=0)
    full_mask = seg_mask if mask is None else torch.cat([mask, seg_mask], dim=1)
    inputs = dict(input_ids=ids.to(device), attention_mask=full_mask.to(device), position_ids=positions.to(device),
                  **({"past_key_values": cache} if cache is not None else {}))
    if keep:
        try:
            logits = model(**inputs, logits_to_keep=keep, use_cache=cache is not None).logits
        except TypeError:  # a model without logits_to_keep: compute all, keep the tail
            logits = model(**inputs, use_cache=cache is not None).logits
        return torch.log_softmax(logits[:, -keep:, :].float(), dim=-1).cpu()
    body = getattr(model, "base_model", model)  # the transformer without its head: no logits needed yet
    cache = body(**inputs, use_cache=True).past_key_values
    return cache, full_mask, lengths + seg_mask.sum(dim=1)


def _expand(state, rows: list[int]):
    """The state of `rows` (indices into the state's rows): a shared prefix copied to its users."""
    import torch

    cache, mask, lengths = state
    index = torch.tensor(rows, dtype=torch.long)
    cache.reorder_cache(index)  # index_select on every layer's keys and values, as beam search does
    return cache, mask[index], lengths[index]


def _forward(model, sequences: list[list[int]], need: list[int], pad_id: int, device: str,
             min_prefix: int | None) -> "torch.Tensor":
    """Log-softmax at the last max(need) positions of token-sorted sequences; row k needs its last
    need[k] positions. With `min_prefix`, each shared prefix is computed once.

    Three levels, as the prompts of a run are built: the prefix the whole batch shares (persona and
    instructions), then each run of neighbours sharing at least `min_prefix` more tokens (one question
    under several formats, or one prompt under each option text), then every row's own tail (option
    list and answer cue, or the option text). A row sharing nothing beyond the batch prefix runs its
    body at the second level and its last tokens at the third. One plain pass when nothing is shared.
    """
    import torch

    keep = max(need)
    free = [len(s) - n for s, n in zip(sequences, need)]  # how far a row's cached part may reach
    if min_prefix is None or len(sequences) < 2 or min(free) < 2:
        return _forward_last(model, sequences, keep, pad_id, device)
    shared = min(_common_prefix(sequences), min(free) - 1)
    shared = shared if shared >= min_prefix else 0
    runs: list[list[int]] = []
    for k in range(len(sequences)):
        if runs and _common_prefix([sequences[k - 1], sequences[k]]) >= shared + min_prefix:
            runs[-1].append(k)
        else:
            runs.append([k])
    if shared == 0 and all(len(run) == 1 for run in runs):
        return _forward_last(model, sequences, keep, pad_id, device)
    cuts = [min([_common_prefix([sequences[k] for k in run])] * (len(run) > 1) + [free[k] for k in run])
            for run in runs]
    owner = [r for r, run in enumerate(runs) for _ in run]
    with torch.inference_mode():
        state = None
        if shared:
            state = _expand(_extend(model, None, [sequences[0][:shared]], pad_id, device), [0] * len(runs))
        state = _extend(model, state, [sequences[run[0]][shared:cut] for run, cut in zip(runs, cuts)], pad_id, device)
        state = _expand(state, owner)
        return _extend(model, state, [s[cuts[owner[k]]:] for k, s in enumerate(sequences)], pad_id, device,
                       keep=keep)


def _sorted_batches(sequences: dict[int, list[int]], batch_size: int) -> list[list[int]]:
    """Keys in token order (prompts sharing a persona and a question sit together), in batches."""
    order = sorted(sequences, key=lambda k: sequences[k])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


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
    share = min_prefix if share_prefixes else None

    def batches(sequences: dict[int, list[int]]) -> list[list[int]]:
        if share_prefixes:
            return _sorted_batches(sequences, batch_size)
        keys = list(sequences)
        return [[keys[b] for b in batch] for batch in _batches([len(sequences[k]) for k in keys], batch_size)]

    # Identifier requests whose options differ in one token: one sequence each. Others (a tokenizer
    # that merges " A" into one token but splits " B") are scored like texts, by their summed log-probability.
    ident, tokens, whole = {}, {}, []
    for k, r in enumerate(requests):
        if r.response != "identifier":
            continue
        try:
            shared, tokens[k] = identifier_tokens(tokenizer, r.targets)
        except ValueError:
            whole.append(k)
            continue
        ident[k] = prompts[k] + shared
    for keys in batches(ident):
        logp = _forward(model, [ident[k] for k in keys], [1] * len(keys), pad_id, device, share)[:, -1, :]
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
    for batch in batches({b: prompts[k] + cont for b, (k, _, cont) in enumerate(pieces)}):
        chosen = [pieces[b] for b in batch]
        # A continuation's n tokens are predicted at the n positions before each: the last n + 1.
        need = [len(cont) + 1 for _, _, cont in chosen]
        logp = _forward(model, [prompts[k] + cont for k, _, cont in chosen], need, pad_id, device, share)
        keep = max(need)
        done_keys, done_values = [], []
        for row, (k, j, cont) in enumerate(chosen):
            n = len(cont)
            token_logp = logp[row, keep - n - 1:keep - 1, :][torch.arange(n), torch.tensor(cont)]
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
