"""Scoring rendered prompts with a causal LM: one forward pass per prompt, the LM head only where read.

Identifier answers: the next-token log-probabilities of the options' identifier tokens at the
prompt's last position (over the full vocabulary; renormalising over the options happens later).
Option-text answers: each option's continuation is scored as the mean log-probability of its tokens
(length-normalised log-likelihood), one sequence per option.

Prompts are sorted by their tokens and batched. A batch runs as one pass over its prefix tree
(`prefix_tree`): a persona sentence or a question shared by many prompts runs once, and a forward hook
hands the LM head only the positions read (Gemma's 262k-token vocabulary makes the head cost more per
position than the rest of the model). Where the tree does not apply, a batch runs left-padded with
position ids from the attention mask, so padding shifts no position embedding.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import prefix_tree


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


Reads = list[tuple[int, int]]  # (position counted from the end, 1 = last; token id) pairs to read


def _log_probs(logits: "torch.Tensor", rows: list[int], reads: list[Reads]) -> list[np.ndarray]:
    """Each sequence's reads from `logits` (one vocabulary row per kept position, row = rows[k] - offset
    for sequence k): the token's logit minus its row's log-sum-exp, in float64 (the normaliser sums
    262k terms for Gemma), without materialising a log-softmax."""
    import torch

    at = [[base - offset for offset, _ in wanted] for base, wanted in zip(rows, reads)]
    used = sorted({row for positions in at for row in positions})
    local = {row: i for i, row in enumerate(used)}
    chosen = logits[torch.tensor(used)].double()
    norms = torch.logsumexp(chosen, dim=-1)
    out = []
    for positions, wanted in zip(at, reads):
        index = torch.tensor([local[row] for row in positions])
        out.append((chosen[index, torch.tensor([token for _, token in wanted])] - norms[index]).cpu().numpy())
    return out


def _forward_plain(model, sequences: list[list[int]], reads: list[Reads], pad_id: int, device: str) -> list[np.ndarray]:
    """One left-padded pass; the LM head runs on the last positions that are read."""
    import torch

    keep = max(offset for wanted in reads for offset, _ in wanted)
    input_ids, mask = _left_padded(sequences, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    inputs = dict(input_ids=input_ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device))
    with torch.inference_mode():
        try:
            logits = model(**inputs, logits_to_keep=keep, use_cache=False).logits
        except TypeError:  # a model without logits_to_keep: compute all, keep the tail
            logits = model(**inputs, use_cache=False).logits
        logits = logits[:, -keep:, :].reshape(-1, logits.shape[-1])
        return _log_probs(logits, [keep * (k + 1) for k in range(len(sequences))], reads)


@contextmanager
def _head_only_at(model, rows: "torch.Tensor", columns: "torch.Tensor"):
    """While active, the transformer hands its LM head only the hidden states at (rows, columns), as one
    sequence: the head (with whatever soft-capping or scaling the model applies) runs where it is read."""
    def gather(module, args, output):
        hidden = (output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0])[rows, columns][None]
        if hasattr(output, "last_hidden_state"):
            output.last_hidden_state = hidden
            return output
        return (hidden, *output[1:])

    handle = model.base_model.register_forward_hook(gather)
    try:
        yield
    finally:
        handle.remove()


def _tree_ready(model, sequences: list[list[int]]) -> bool:
    """Whether the prefix-tree pass applies: the model has a separate transformer body to hook, and no
    sequence reaches a sliding attention window (the row's own mask would bypass the window)."""
    window = getattr(model.config, "sliding_window", None)
    return model.base_model is not model and (not window or max(len(s) for s in sequences) <= window)


def _root(sequences: list[list[int]], reads: list[Reads], min_root: int) -> int:
    """How many leading tokens all sequences share, short of any position read; 0 below `min_root`."""
    limit = min(len(s) - max(offset for offset, _ in wanted) for s, wanted in zip(sequences, reads))
    n = 0
    while n < limit and len({s[n] for s in sequences}) == 1:
        n += 1
    return n if n >= min_root else 0


def _forward_tree(model, sequences: list[list[int]], reads: list[Reads], pad_id: int, device: str,
                  row_tokens: int, min_root: int = 8) -> list[np.ndarray]:
    """One pass over the batch's prefix tree (`prefix_tree`): each distinct prefix runs once, and the
    LM head only at the positions read.

    The prefix every sequence shares (the persona sentence, say) runs first and its key/value cache
    is lent to every row, so short rows (attention costs the square of a row's length) need not
    repeat it. Rows are left-padded; a padding token attends to itself alone.
    """
    import torch

    root = _root(sequences, reads, min_root)
    packed = prefix_tree.pack([s[root:] for s in sequences], row_tokens)
    width = max(len(t) for t in packed.tokens)
    n_rows = len(packed.tokens)
    input_ids = torch.full((n_rows, width), pad_id, dtype=torch.long)
    positions = torch.zeros((n_rows, width), dtype=torch.long)
    allowed = torch.cat([torch.ones((n_rows, width, root), dtype=torch.bool),
                         torch.eye(width, dtype=torch.bool).repeat(n_rows, 1, 1)], dim=2)
    for r, (tokens, depth) in enumerate(zip(packed.tokens, packed.depth)):
        pad = width - len(tokens)
        input_ids[r, pad:] = torch.tensor(tokens)
        positions[r, pad:] = root + torch.tensor(depth)
        allowed[r, pad:, root + pad:] = torch.from_numpy(packed.attends(r))
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
    # Each sequence's read positions, nearest the end first, gathered in order: row k of the head's
    # output for offset o is ends[k] - o.
    keep = [max(offset for offset, _ in wanted) for wanted in reads]
    rows, columns, ends = [], [], []
    for (r, path), n in zip(packed.paths, keep):
        pad = width - len(packed.tokens[r])
        rows += [r] * n
        columns += [pad + c for c in path[-n:]]
        ends.append(len(rows))
    with torch.inference_mode():
        lent = {}
        if root:
            cache = model.base_model(input_ids=torch.tensor([sequences[0][:root]], device=device),
                                     use_cache=True).past_key_values
            cache.reorder_cache(torch.zeros(n_rows, dtype=torch.long))  # the same root for every row
            lent = {"past_key_values": cache}
        with _head_only_at(model, torch.tensor(rows), torch.tensor(columns)):
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                           position_ids=positions.to(device), use_cache=bool(lent), **lent).logits[0]
        return _log_probs(logits, ends, reads)


def _forward(model, sequences: list[list[int]], reads: list[Reads], pad_id: int, device: str,
             row_tokens: int | None) -> list[np.ndarray]:
    """Each sequence's reads: over the batch's prefix tree when `row_tokens` is given and the model
    allows it, else from one left-padded pass."""
    if row_tokens and len(sequences) > 1 and _tree_ready(model, sequences):
        return _forward_tree(model, sequences, reads, pad_id, device, row_tokens)
    return _forward_plain(model, sequences, reads, pad_id, device)


def _sorted_batches(sequences: dict[int, list[int]], batch_size: int) -> list[list[int]]:
    """Keys in token order (prompts sharing a persona and a question sit together), in batches."""
    order = sorted(sequences, key=lambda k: sequences[k])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [list(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]


def score(model, tokenizer, requests: Sequence[Request], *, batch_size: int = 32, device: str = "cpu",
          on_batch: Callable[[list[int], list[np.ndarray]], None] | None = None,
          share_prefixes: bool = True, row_tokens: int = 192) -> list[np.ndarray]:
    """One array per request: identifier log-probabilities, or mean log-probability per option text.

    `on_batch(indices, values)` is called after every batch (progress, caching, cancellation).
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results: list[np.ndarray | None] = [None] * len(requests)
    prompts = [tokenizer.encode(r.prompt, add_special_tokens=r.add_special_tokens) for r in requests]
    share = row_tokens if share_prefixes else None

    def batches(sequences: dict[int, list[int]]) -> list[list[int]]:
        if share_prefixes:
            return _sorted_batches(sequences, batch_size)
        keys = list(sequences)
        return [[keys[b] for b in batch] for batch in _batches([len(sequences[k]) for k in keys], batch_size)]

    # Identifier requests whose options differ in one token: one sequence each, read at its last
    # position. Others (a tokenizer that merges " A" into one token but splits " B") are scored like
    # texts, by their summed log-probability.
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
        values = _forward(model, [ident[k] for k in keys], [[(1, t) for t in tokens[k]] for k in keys],
                          pad_id, device, share)
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
        # Token i of an n-token continuation is predicted one position before it: n + 1 - i from the end.
        reads = [[(len(cont) + 1 - i, t) for i, t in enumerate(cont)] for _, _, cont in chosen]
        values = _forward(model, [prompts[k] + cont for k, _, cont in chosen], reads, pad_id, device, share)
        done_keys, done_values = [], []
        for (k, j, _), token_logp in zip(chosen, values):
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
