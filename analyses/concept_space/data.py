"""Synthetic concept data after Park et al. (2024): one soft-edged circle, two binary concepts.

Colour means are 0.5 ± Δc/2 on the red and blue channels (red: R up, B down; blue the reverse; G stays
0.5); radius means are 0.45 ± Δs/2 on a [−1, 1] grid; each sample spreads around its class mean in
proportion to the separation, sits at a random position fully inside the image, on a background tinted
U[0.8, 1] per channel. The concept signal of a concept is its separation (Δc, Δs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

COMBINATIONS = ("red_large", "red_small", "blue_large", "blue_small")
SPREAD = 0.15  # within-class standard deviation, as a share of the class separation
RADIUS_MEAN = 0.45
EDGE = 0.5  # soft-edge width, in pixels


@dataclass(frozen=True)
class Concepts:
    """The two concept signals; everything else about a class follows from them."""

    color_signal: float
    size_signal: float

    def mean_vector(self, combination: str) -> torch.Tensor:
        """The class mean as the model's conditioning vector (R, G, B, radius)."""
        color, size = combination.split("_")
        sign = 1.0 if color == "red" else -1.0
        half = self.color_signal / 2
        radius = RADIUS_MEAN + (self.size_signal / 2 if size == "large" else -self.size_signal / 2)
        return torch.tensor([0.5 + sign * half, 0.5, 0.5 - sign * half, radius])

    def sample_vectors(self, combinations: list[str], generator: torch.Generator) -> torch.Tensor:
        """Per-sample concept vectors: the class mean plus spread proportional to the separation."""
        means = torch.stack([self.mean_vector(c) for c in combinations])
        n = len(combinations)
        color_noise = torch.randn(n, generator=generator) * SPREAD * self.color_signal
        size_noise = torch.randn(n, generator=generator) * SPREAD * self.size_signal
        means[:, 0] += color_noise
        means[:, 2] -= color_noise
        means[:, 3] += size_noise
        means[:, :3] = means[:, :3].clamp(0.0, 1.0)
        means[:, 3] = means[:, 3].clamp(0.05, 0.95)
        return means


def render(vectors: torch.Tensor, size: int, generator: torch.Generator,
           positions: torch.Tensor | None = None, backgrounds: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1], shape (n, 3, size, size), one circle per concept vector (R, G, B, radius).

    Positions (centres on the [−1, 1] grid) and backgrounds may be given, so that images differing in
    one concept only can be compared pixel by pixel.
    """
    n = len(vectors)
    radius = vectors[:, 3]
    if positions is None:
        room = (1.0 - radius).clamp(min=0.0)
        positions = (torch.rand(n, 2, generator=generator) * 2 - 1) * room[:, None]
    if backgrounds is None:
        backgrounds = 0.8 + 0.2 * torch.rand(n, 3, generator=generator)
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    distance = torch.sqrt((xx[None] - positions[:, 0, None, None]) ** 2 + (yy[None] - positions[:, 1, None, None]) ** 2)
    pixel = 2.0 / size
    alpha = torch.sigmoid((radius[:, None, None] - distance) / (EDGE * pixel))[:, None]
    color = vectors[:, :3, None, None]
    return alpha * color + (1 - alpha) * backgrounds[:, :, None, None]


def pixel_signal(concepts: Concepts, size: int, samples: int = 512, seed: int = 0) -> dict[str, float]:
    """Mean squared pixel difference between images that differ in one concept only.

    Pairs share position and background and take the class means, so the difference is due to the
    concept alone; averaged over the four corners' pairs. This is what the paper calls the concept signal
    as the network sees it: it explains which concept is learned first.
    """
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for concept, pairs in (("color", (("red_large", "blue_large"), ("red_small", "blue_small"))),
                           ("size", (("red_large", "red_small"), ("blue_large", "blue_small")))):
        total = 0.0
        for a, b in pairs:
            va = concepts.mean_vector(a).expand(samples, 4)
            vb = concepts.mean_vector(b).expand(samples, 4)
            room = 1.0 - max(float(va[0, 3]), float(vb[0, 3]))
            positions = (torch.rand(samples, 2, generator=generator) * 2 - 1) * room
            backgrounds = 0.8 + 0.2 * torch.rand(samples, 3, generator=generator)
            xa = render(va, size, generator, positions, backgrounds)
            xb = render(vb, size, generator, positions, backgrounds)
            total += float(((xa - xb) ** 2).mean())
        out[concept] = total / len(pairs)
    return out


def training_combinations(held_out: str, train_on_all: bool) -> list[str]:
    """The combinations the model sees: all but the held-out one, or all four (the negative control)."""
    if held_out not in COMBINATIONS:
        raise ValueError(f"unknown held-out combination {held_out!r}; known: {', '.join(COMBINATIONS)}")
    return list(COMBINATIONS) if train_on_all else [c for c in COMBINATIONS if c != held_out]


def batch(concepts: Concepts, combinations: list[str], n: int, size: int,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh training batch: images in [0, 1] and their concept vectors (classes drawn uniformly)."""
    picks = torch.randint(len(combinations), (n,), generator=generator).tolist()
    vectors = concepts.sample_vectors([combinations[i] for i in picks], generator)
    return render(vectors, size, generator), vectors
