"""A small conditional diffusion model in the paper's family, sized for a CPU.

A two-level convolutional U-Net predicts the clean image from a noised one (a CPU pilot found clean-image
prediction learns readable circles within a few hundred steps; an MLP denoiser did not). The real-valued
concept vector (R, G, B, radius) is embedded linearly once and added, with the time embedding, in every block:
over-prompting changes that vector, the latent intervention edits its embedding. The noise schedule is fixed
(cosine): a learned one under tight gradient clipping produced only noise for the first ~1,500 steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

CONCEPT_DIM = 4


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021), kept away from 0 and 1."""
    return (torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2).clamp(1e-4, 0.9999)


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Block(nn.Module):
    """Residual conv block; the shared embedding (time + concept) is projected and added to its features."""

    def __init__(self, channels_in: int, channels_out: int, embed: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, channels_in)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.embed = nn.Linear(embed, channels_out)
        self.norm2 = nn.GroupNorm(8, channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.skip = nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class ConceptUNet(nn.Module):
    def __init__(self, channels: int = 32, embed: int = 64):
        super().__init__()
        self.embed_dim = embed
        self.time = nn.Sequential(nn.Linear(embed, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.concept = nn.Linear(CONCEPT_DIM, embed)  # linear, as in the paper: a pilot with an MLP here composed worse
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.down_block = Block(channels, channels, embed)
        self.down = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        self.mid1 = Block(2 * channels, 2 * channels, embed)
        self.mid2 = Block(2 * channels, 2 * channels, embed)
        self.up = nn.Conv2d(2 * channels, channels, 3, padding=1)
        self.up_block = Block(2 * channels, channels, embed)
        self.out = nn.Sequential(nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, 3, 3, padding=1))

    def concept_embedding(self, concepts: torch.Tensor) -> torch.Tensor:
        """Where the latent intervention acts: one vector per sample, added in every block."""
        return self.concept(concepts)

    def forward(self, x: torch.Tensor, t: torch.Tensor, concepts: torch.Tensor | None = None,
                concept_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted clean image (in [−1, 1] units) from x_t, t in [0, 1] and the concept vector or its embedding."""
        c = concept_embedding if concept_embedding is not None else self.concept_embedding(concepts)
        emb = self.time(time_features(t, self.embed_dim)) + c
        h0 = self.down_block(self.stem(x), emb)
        h = self.mid2(self.mid1(self.down(h0), emb), emb)
        h = self.up(F.interpolate(h, size=h0.shape[-2:], mode="nearest"))
        return self.out(self.up_block(torch.cat([h, h0], dim=1), emb))


def diffusion_loss(model: ConceptUNet, images: torch.Tensor, concepts: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """Mean squared error of the clean-image prediction at a uniformly drawn noise level."""
    x0 = images * 2 - 1
    t = torch.rand(len(x0), generator=generator)
    a = alpha_bar(t)[:, None, None, None]
    noise = torch.randn(x0.shape, generator=generator)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    return F.mse_loss(model(xt, t, concepts), x0)


@torch.no_grad()
def sample(model: ConceptUNet, concept_embedding: torch.Tensor, size: int, steps: int,
           generator: torch.Generator) -> torch.Tensor:
    """Deterministic DDIM sampling from noise drawn with `generator`; images in [0, 1].

    Drawing the starting noise from a generator seeded the same at every checkpoint makes checkpoints
    comparable: the same noise, only the model changes.
    """
    n = len(concept_embedding)
    x = torch.randn(n, 3, size, size, generator=generator)
    times = torch.linspace(1.0, 0.0, steps + 1)
    x0 = x
    for t, t_next in zip(times[:-1], times[1:]):
        a, a_next = alpha_bar(t), alpha_bar(t_next)
        x0 = model(x, t.expand(n), concept_embedding=concept_embedding).clamp(-1, 1)
        noise = (x - a.sqrt() * x0) / (1 - a).sqrt()
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * noise
    return (x0 + 1) / 2
