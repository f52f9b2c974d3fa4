"""Filter-normalized random directions (Li et al. 2018, section 4).

A Gaussian direction is rescaled filter by filter to the norm of the matching filter of
the weights, so that moving one unit along it changes every filter by the same relative
amount; without this, scale-invariant networks give pictures that cannot be compared.
Parameters with one dimension (biases, norm-layer scales) get a zero direction by default,
as in the paper ("biasbn" ignored), or move along their own values.
"""

from __future__ import annotations

import torch


def filter_normalized_direction(weights: dict[str, torch.Tensor], generator: torch.Generator,
                                one_dimensional: str = "zero") -> dict[str, torch.Tensor]:
    """`one_dimensional`: "zero" leaves biases and norm parameters still (the paper's default); "weights"
    moves them along their own values, as the reference code does when they are not ignored."""
    if one_dimensional not in ("zero", "weights"):
        raise ValueError(f"one_dimensional must be 'zero' or 'weights', got {one_dimensional!r}")
    direction = {}
    for name, w in weights.items():
        if w.dim() <= 1:
            direction[name] = torch.zeros_like(w) if one_dimensional == "zero" else w.clone()
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
