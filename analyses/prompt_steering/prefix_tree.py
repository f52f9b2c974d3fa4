"""Packing prompts that share prefixes into rows of a prefix tree, so every distinct prefix runs once.

The prompts of a run repeat themselves: one persona text before every question, one question before
every format's option list, one prompt before every option text. Sorted token lists make this a tree
walked in order: each sequence adds only the tokens it does not share with the one before it. A row
holds consecutive sequences' new tokens; a token attends to its own ancestors (the tokens of the path
that leads to it) and sits at its depth in the tree as position id. A causal LM run over such a row
gives, at every token, exactly what it would give in that token's own unpadded sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Packed:
    tokens: list[list[int]]  # per row, the tree's tokens in walk order
    depth: list[list[int]]  # per row, each token's position in its sequences
    paths: list[tuple[int, list[int]]]  # per sequence: its row and where each of its tokens sits in it

    def attends(self, row: int) -> np.ndarray:
        """The row's (n, n) mask: True where a token (row index) may attend to another (column)."""
        n = len(self.tokens[row])
        mask = np.zeros((n, n), dtype=bool)
        for r, path in self.paths:
            if r == row:
                where = np.asarray(path)
                mask[where[:, None], where[None, :]] |= np.tril(np.ones((len(where), len(where)), dtype=bool))
        return mask


def _shared(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def pack(sequences: list[list[int]], row_tokens: int) -> Packed:
    """Sequences (sorted, so that neighbours share the longest prefixes) packed into rows.

    Attention inside a row costs the square of its length, so a row takes at most `row_tokens` tokens,
    except that a sequence sharing more with the row than it adds still joins it (the formats of one
    long question), up to 4 × `row_tokens`; a sequence longer than that has a row of its own.
    """
    tokens: list[list[int]] = []
    depth: list[list[int]] = []
    paths: list[tuple[int, list[int]]] = []
    previous: list[int] = []
    for seq in sequences:
        shared = _shared(previous, seq) if tokens else 0
        width = len(tokens[-1]) + len(seq) - shared if tokens else 0
        if width > row_tokens and (shared < len(seq) - shared or width > 4 * row_tokens):
            shared = 0
        if not tokens or shared == 0:
            tokens.append([])
            depth.append([])
            above: list[int] = []
        else:
            above = paths[-1][1][:shared]
        row = len(tokens) - 1
        start = len(tokens[row])
        tokens[row].extend(seq[shared:])
        depth[row].extend(range(shared, len(seq)))
        paths.append((row, above + list(range(start, start + len(seq) - shared))))
        previous = seq
    return Packed(tokens, depth, paths)
