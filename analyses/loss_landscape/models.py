"""The small networks this analysis trains."""

from __future__ import annotations

from torch import nn


def build_model(kind: str, n_features: int, n_classes: int, width: int, depth: int,
                image_shape: tuple[int, int] | None = None, norm: str = "none") -> nn.Module:
    """`norm="batch"` puts a batch-norm layer after every hidden linear or conv layer, before its ReLU."""
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
    raise ValueError(f"unknown model {kind!r}")
