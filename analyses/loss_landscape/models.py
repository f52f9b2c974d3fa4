"""The small networks this analysis trains."""

from __future__ import annotations

import math

import torch
from torch import nn


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and GELU MLP, each residual.

    Attention is written out (softmax(QKᵀ/√d)V) instead of using PyTorch's fused kernel: Hessian-vector
    products differentiate twice, and the fused CPU kernel has no second derivative.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = h.shape
        head = width // self.heads
        q, k, v = self.qkv(self.norm1(h)).reshape(batch, tokens, 3, self.heads, head).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head), dim=-1)
        h = h + self.out((attention @ v).transpose(1, 2).reshape(batch, tokens, width))
        return h + self.mlp(self.norm2(h))


class SmallTransformer(nn.Module):
    """A pre-norm transformer encoder over tokens cut from the input vector, mean-pooled into a linear head.

    The input of n features is read as `tokens` tokens of n / tokens features each: an image's rows,
    the two one-hot operands of modular addition, or one feature per token. Tokens get a linear
    embedding and a learned position; there is no dropout, so the loss is a deterministic function of
    the weights, as a landscape needs.
    """

    def __init__(self, n_features: int, n_classes: int, width: int, depth: int, tokens: int):
        super().__init__()
        if n_features % tokens:
            raise ValueError(f"{n_features} features cannot be cut into {tokens} equal tokens")
        self.tokens = tokens
        self.embed = nn.Linear(n_features // tokens, width)
        self.position = nn.Parameter(0.02 * torch.randn(tokens, width))
        heads = 4 if width % 4 == 0 else 1
        self.blocks = nn.ModuleList(EncoderBlock(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.reshape(len(x), self.tokens, -1)) + self.position
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(dim=1))


def default_tokens(n_features: int, image_shape: tuple[int, int] | None) -> int:
    """An image's rows; else one feature per token, or the most tokens (up to 64) that divide the features."""
    if image_shape is not None:
        return image_shape[0]
    return max(t for t in range(1, min(n_features, 64) + 1) if n_features % t == 0)


def build_model(kind: str, n_features: int, n_classes: int, width: int, depth: int,
                image_shape: tuple[int, int] | None = None, norm: str = "none", tokens: int | None = None) -> nn.Module:
    """`norm="batch"` puts a batch-norm layer after every hidden linear or conv layer, before its ReLU
    (the transformer always has its own layer norms)."""
    if norm not in ("none", "batch"):
        raise ValueError(f"unknown norm {norm!r}")
    if kind == "mlp":
        layers: list[nn.Module] = []
        size = n_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), *([nn.BatchNorm1d(width)] if norm == "batch" else []), nn.ReLU()]
            size = width
        layers.append(nn.Linear(size, n_classes))
        return nn.Sequential(*layers)
    if kind == "cnn":
        if image_shape is None:
            raise ValueError("a CNN needs image-shaped inputs")
        height, width_px = image_shape
        layers = [nn.Unflatten(1, (1, height, width_px))]
        channels = 1
        for i in range(depth):
            out = width * (2 ** min(i, 1))
            layers += [nn.Conv2d(channels, out, kernel_size=3, padding=1),
                       *([nn.BatchNorm2d(out)] if norm == "batch" else []), nn.ReLU()]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(channels * 4, n_classes)]
        return nn.Sequential(*layers)
    if kind == "transformer":
        return SmallTransformer(n_features, n_classes, width, depth, tokens or default_tokens(n_features, image_shape))
    raise ValueError(f"unknown model {kind!r}")
