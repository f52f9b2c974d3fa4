"""Reading colour and size off generated images: analytic pixel probes, or a small CNN trained on renders.

Analytic probes need no training. The circle's green channel is always 0.5 and the background's at least 0.8, so a dip in the green channel
marks the object on any image, generated or rendered. Colour is the foreground's red-minus-blue
balance; size is the radius of a disc with the foreground's area. A one-feature logistic regression per
concept, fitted on rendered images of the four classes, turns each into a calibrated probability.
Images with no object (blank samples) are unreadable: NaN on both concepts. They count as failures in accuracies and are left out of the concept-space point.

The CNN probe (`CNNProbe`) is the learned alternative: two logits from a small conv net trained on
rendered images, each calibrated by a logistic regression (Platt scaling) on renders it was not
trained on; blank images are unreadable by the same foreground test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from .data import COMBINATIONS, Concepts, render

MIN_AREA = 0.5  # pixels of foreground below which an image shows no object
MIN_CONTRAST = 0.05  # the green dip below which nothing stands out from the background


def features(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: colour balance (R − B of the object over that of the background), radius estimate on the
    [−1, 1] grid, and the object's area in pixels (0 when nothing stands out).

    The object is where the green channel dips below the background by at least half its deepest dip (a
    half-maximum mask), so a faint circle, as generated early or for an unfamiliar prompt, keeps its size;
    its colour balance shrinks with its contrast, and so does the probe's confidence.
    """
    images = images.clamp(0, 1)
    n, size = len(images), images.shape[-1]
    green = images[:, 1].reshape(n, -1)
    balance_map = (images[:, 0] - images[:, 2]).reshape(n, -1)
    depth = (green.median(dim=1, keepdim=True).values - green).clamp(min=0)
    peak = depth.max(dim=1, keepdim=True).values
    mask = (depth >= 0.5 * peak) & (peak > MIN_CONTRAST)
    background = depth < 0.2 * peak
    area = mask.sum(dim=1).float()
    inside = (balance_map * mask).sum(dim=1) / area.clamp(min=1)
    outside = (balance_map * background).sum(dim=1) / background.sum(dim=1).clamp(min=1)
    balance = torch.where(area > 0, inside - outside, torch.zeros_like(inside))
    radius = torch.sqrt(area / np.pi) * 2 / size
    return balance.numpy(), radius.numpy(), area.numpy()


def _rendered(concepts: Concepts, image_size: int, samples: int, generator: torch.Generator):
    """Rendered images of the four combinations at random, with their labels (is red, is large)."""
    labels = [COMBINATIONS[i] for i in torch.randint(4, (samples,), generator=generator).tolist()]
    images = render(concepts.sample_vectors(labels, generator), image_size, generator)
    red = np.array([c.startswith("red") for c in labels])
    large = np.array([c.endswith("large") for c in labels])
    return images, red, large


class _Readout:
    """What both probes share: concept-space coordinates from P(red) and P(large)."""

    def target_probabilities(self, images: torch.Tensor, combination: str) -> tuple[np.ndarray, np.ndarray]:
        """P(the combination's colour) and P(its size) per image: the concept-space coordinates."""
        p_red, p_large = self.predict(images)
        color, size = combination.split("_")
        return (p_red if color == "red" else 1 - p_red), (p_large if size == "large" else 1 - p_large)


@dataclass
class ConceptProbe(_Readout):
    """Calibrated P(red) and P(large) for images, fitted on rendered images of one data setting."""

    color: LogisticRegression
    size: LogisticRegression

    @classmethod
    def fit(cls, concepts: Concepts, image_size: int, samples: int = 2000, seed: int = 12345) -> "ConceptProbe":
        images, red, large = _rendered(concepts, image_size, samples, torch.Generator().manual_seed(seed))
        balance, radius, _ = features(images)
        color = LogisticRegression(C=100.0).fit(balance[:, None], red)
        size = LogisticRegression(C=100.0).fit(radius[:, None], large)
        return cls(color, size)

    def predict(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """P(red) and P(large) per image in [0, 1]; NaN for images that show no readable object."""
        balance, radius, area = features(images)
        p_red = self.color.predict_proba(balance[:, None])[:, 1]
        p_large = self.size.predict_proba(radius[:, None])[:, 1]
        unreadable = area < MIN_AREA
        p_red[unreadable] = np.nan
        p_large[unreadable] = np.nan
        return p_red, p_large


class _MeanAndMaxPool(nn.Module):
    """Both poolings: the mean dilutes a small circle on a tinted background, the maximum keeps it."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


def _conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         _MeanAndMaxPool(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))


@dataclass
class CNNProbe(_Readout):
    """A small CNN's two logits (red, large), each Platt-calibrated on held-out renders."""

    net: nn.Module
    color: LogisticRegression
    size: LogisticRegression

    @classmethod
    def fit(cls, concepts: Concepts, image_size: int, samples: int = 3000, steps: int = 600,
            seed: int = 12345) -> "CNNProbe":
        generator = torch.Generator().manual_seed(seed)
        images, red, large = _rendered(concepts, image_size, samples, generator)
        targets = torch.from_numpy(np.stack([red, large], axis=1).astype(np.float32))
        torch.manual_seed(seed)
        net = _conv_net()
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(steps):
            batch = torch.randint(len(images), (128,), generator=generator)
            loss = nn.functional.binary_cross_entropy_with_logits(net(images[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        held_out, red, large = _rendered(concepts, image_size, 1000, generator)  # calibration: unseen renders
        logits = cls._logits(net, held_out)
        color = LogisticRegression(C=100.0).fit(logits[:, :1], red)
        size = LogisticRegression(C=100.0).fit(logits[:, 1:], large)
        return cls(net, color, size)

    @staticmethod
    def _logits(net: nn.Module, images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return net(images.clamp(0, 1)).numpy()

    def predict(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """P(red) and P(large) per image in [0, 1]; NaN for images that show no readable object."""
        logits = self._logits(self.net, images)
        p_red = self.color.predict_proba(logits[:, :1])[:, 1]
        p_large = self.size.predict_proba(logits[:, 1:])[:, 1]
        unreadable = features(images)[2] < MIN_AREA
        p_red[unreadable] = np.nan
        p_large[unreadable] = np.nan
        return p_red, p_large


def fit_probe(kind: str, concepts: Concepts, image_size: int) -> ConceptProbe | CNNProbe:
    if kind == "analytic":
        return ConceptProbe.fit(concepts, image_size)
    if kind == "cnn":
        return CNNProbe.fit(concepts, image_size)
    raise ValueError(f"parameter 'probe': unknown probe {kind!r}; known: analytic, cnn")
