"""Filter-normalized random directions (Li et al. 2018, section 4).

A Gaussian direction is rescaled filter by filter to the norm of the matching filter of
the weights, so that moving one unit along it changes every filter by the same relative
amount; without this, scale-invariant networks give pictures that cannot be compared.
Parameters with one dimension (biases, norm-layer scales) get a zero direction, as in
the paper's default ("biasbn" ignored).
"""

from __future__ import annotations

import torch


def filter_normalized_direction(weights: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    direction = {}
    for name, w in weights.items():
        if w.dim() <= 1:
            direction[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        # A filter is one slice along the output dimension: a conv kernel's output channel or a linear row.
        w_norm = w.reshape(w.shape[0], -1).norm(dim=1)
        d_norm = d.reshape(d.shape[0], -1).norm(dim=1)
        scale = w_norm / (d_norm + 1e-10)
        direction[name] = d * scale.reshape(-1, *([1] * (w.dim() - 1)))
    return direction


def offset(weights: dict[str, torch.Tensor], steps: list[tuple[float, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """weights + sum of coefficient * direction, as a new parameter dict."""
    out = {}
    for name, w in weights.items():
        value = w.clone()
        for coefficient, direction in steps:
            value.add_(direction[name], alpha=coefficient)
        out[name] = value
    return out
