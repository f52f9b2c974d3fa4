"""Reading colour and size off generated images, without training a network.

The circle's green channel is always 0.5 and the background's at least 0.8, so the green channel gives a
soft foreground mask on any image, generated or rendered. Colour is the foreground's red-minus-blue
balance; size is the radius of a disc with the foreground's area. A one-feature logistic regression per
concept, fitted on rendered images of the four classes, turns each into a calibrated probability.
Images with no foreground (early, blank samples) get 0.5 on both concepts: they show nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from .data import COMBINATIONS, Concepts, render

MIN_AREA = 0.5  # pixels of foreground below which an image shows no object


def features(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: colour balance (R − B over the foreground), radius estimate on the [−1, 1] grid, area (pixels)."""
    images = images.clamp(0, 1)
    size = images.shape[-1]
    weight = ((0.8 - images[:, 1]) / 0.3).clamp(0, 1)  # 0 on the background, 1 inside the circle
    area = weight.sum(dim=(1, 2))
    core = weight ** 2
    balance = ((images[:, 0] - images[:, 2]) * core).sum(dim=(1, 2)) / core.sum(dim=(1, 2)).clamp(min=1e-6)
    radius = torch.sqrt(area / np.pi) * 2 / size
    return balance.numpy(), radius.numpy(), area.numpy()


@dataclass
class ConceptProbe:
    """Calibrated P(red) and P(large) for images, fitted on rendered images of one data setting."""

    color: LogisticRegression
    size: LogisticRegression

    @classmethod
    def fit(cls, concepts: Concepts, image_size: int, samples: int = 2000, seed: int = 12345) -> "ConceptProbe":
        generator = torch.Generator().manual_seed(seed)
        labels = [COMBINATIONS[i] for i in torch.randint(4, (samples,), generator=generator).tolist()]
        images = render(concepts.sample_vectors(labels, generator), image_size, generator)
        balance, radius, _ = features(images)
        red = np.array([c.startswith("red") for c in labels])
        large = np.array([c.endswith("large") for c in labels])
        color = LogisticRegression(C=100.0).fit(balance[:, None], red)
        size = LogisticRegression(C=100.0).fit(radius[:, None], large)
        return cls(color, size)

    def predict(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """P(red) and P(large) per image in [0, 1]; 0.5 for images that show no object."""
        balance, radius, area = features(images)
        p_red = self.color.predict_proba(balance[:, None])[:, 1]
        p_large = self.size.predict_proba(radius[:, None])[:, 1]
        empty = area < MIN_AREA
        p_red[empty] = 0.5
        p_large[empty] = 0.5
        return p_red, p_large

    def target_probabilities(self, images: torch.Tensor, combination: str) -> tuple[np.ndarray, np.ndarray]:
        """P(the combination's colour) and P(its size) per image: the concept-space coordinates."""
        p_red, p_large = self.predict(images)
        color, size = combination.split("_")
        return (p_red if color == "red" else 1 - p_red), (p_large if size == "large" else 1 - p_large)
