"""The scrubber's picture: one checkpoint's generated samples, a row per prompt or intervention."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .data import COMBINATIONS


def row_names(params: Mapping[str, Any]) -> list[str]:
    """The rows of the stored samples: the four naive prompts, then the held-out one's interventions."""
    from .training import intervention_names

    held = params["held_out"].replace("_", " ")
    return [c.replace("_", " ") for c in COMBINATIONS] + [f"{held}, {name}" for name in intervention_names(params)]


def sample_rows(samples: np.ndarray, checkpoint: int, scale: int = 6, gap: int = 1) -> list[np.ndarray]:
    """Each row of a checkpoint's samples (rows, k, H, W, 3 uint8) as one image, upscaled without blurring."""
    rows = []
    for row in samples[checkpoint]:
        white = np.full((row.shape[1], gap, 3), 255, dtype=np.uint8)
        strip = np.concatenate([part for image in row for part in (image, white)][:-1], axis=1)
        rows.append(strip.repeat(scale, axis=0).repeat(scale, axis=1))
    return rows
