"""The embedded demo: real photographs, manipulated copies with a known mask, simulated observers.

SIMULATED DATA. Stimuli are crops of scikit-learn's two sample photographs (china.jpg, flower.jpg).
Shown enlarged three times (960 x 720 px). Each gets two manipulated copies inside one elliptical mask: `patch_swap` (the region replaced by
another part of the same photograph, feathered) and `colour_shift` (its colour channels rotated).

Observers (the generative model, documented in docs/analyses/eye_tracking.md): a priority map
P0 = (1 - a) * S * C + a * M (each term normalised to sum 1), where S is the spectral-residual
saliency of the picture, C a Gaussian centre bias, M the edit mask and a the edit's pull (zero on the
original). Fixation k is drawn from P0 * prod_j (1 - r * exp(-|p - f_j|^2 / 2 s^2)) over the earlier
fixations f_j (inhibition of return, strength r, s = 1.5 deg); durations are Gamma(4, 60 ms), times
(1 + a) inside the edit, with 40 ms between fixations (onsets). Each observer has their own centre-bias
width and fixation count.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .fixations import Dataset, Stimulus
from .geometry import Screen
from .saliency import spectral_residual

CONDITIONS = ("original", "patch_swap", "colour_shift")
CROP = (240, 320)  # height, width of the cut from the photograph
SCALE = 3          # shown enlarged, 960 x 720 px: about 23 x 17.5 degrees on the default screen
CELL = 12          # px per cell of the priority map
SACCADE_MS = 40.0  # time between fixations, for onsets


def _photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)


def _ellipse(shape, rng) -> np.ndarray:
    h, w = shape
    ry, rx = rng.uniform(0.14, 0.22) * h, rng.uniform(0.12, 0.2) * w
    cy, cx = rng.uniform(ry + 4, h - ry - 4), rng.uniform(rx + 4, w - rx - 4)
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def make_stimuli(n_images: int, seed: int) -> dict[tuple[str, str], Stimulus]:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    photos = _photos()
    h, w = CROP
    stimuli = {}
    enlarge = lambda a: np.repeat(np.repeat(a, SCALE, axis=0), SCALE, axis=1)
    for i in range(n_images):
        photo = photos[i % len(photos)]
        y0, x0 = rng.integers(0, photo.shape[0] - h + 1), rng.integers(0, photo.shape[1] - w + 1)
        original = photo[y0:y0 + h, x0:x0 + w].copy()
        if rng.random() < 0.5:
            original = original[:, ::-1].copy()
        mask = _ellipse(CROP, rng)
        feather = gaussian_filter(mask.astype(float), 3.0)[..., None]
        donor_y, donor_x = rng.integers(0, photo.shape[0] - h + 1), rng.integers(0, photo.shape[1] - w + 1)
        donor = photo[donor_y:donor_y + h, donor_x:donor_x + w].astype(float)
        swapped = (original * (1 - feather) + donor * feather).astype(np.uint8)
        shifted = (original * (1 - feather) + original[..., [2, 0, 1]] * feather).astype(np.uint8)
        name = f"demo{i:02d}"
        for cond, picture in zip(CONDITIONS, (original, swapped, shifted)):
            stimuli[(name, cond)] = Stimulus(w * SCALE, h * SCALE, enlarge(picture), enlarge(mask))  # the original carries the region edited elsewhere
    return stimuli


def _normalised(m: np.ndarray) -> np.ndarray:
    total = m.sum()
    return m / total if total > 0 else np.full_like(m, 1.0 / m.size)


def simulate(stimuli: dict[tuple[str, str], Stimulus], params: Mapping[str, Any], screen: Screen) -> pd.DataFrame:
    rng = np.random.default_rng(params["seed"] + 1)
    ppd = screen.px_per_deg
    h, w = CROP[0] * SCALE, CROP[1] * SCALE
    gy, gx = np.mgrid[CELL / 2:h:CELL, CELL / 2:w:CELL]
    ior_s2 = 2 * (1.5 * ppd) ** 2
    observers = [{"bias": params["centre_bias_deg"] * np.exp(rng.normal(0, 0.25)),
                  "count": params["demo_fixations"] * np.exp(rng.normal(0, 0.2))}
                 for _ in range(params["demo_observers"])]
    rows = []
    for (name, cond), stim in stimuli.items():
        saliency = _normalised(spectral_residual(stim.image)[::CELL, ::CELL][:gy.shape[0], :gy.shape[1]])
        mask = stim.mask[CELL // 2::CELL, CELL // 2::CELL]
        pull = params["edit_attraction"] if cond != "original" else 0.0
        for s, obs in enumerate(observers):
            centre = np.exp(-((gx - w / 2) ** 2 + (gy - h / 2) ** 2) / (2 * (obs["bias"] * ppd) ** 2))
            prior = (1 - pull) * _normalised(saliency * centre) + pull * _normalised(mask.astype(float))
            n = 1 + rng.poisson(max(obs["count"] - 1, 0.5))
            inhibition = np.ones_like(prior)
            clock = 0.0  # ms from the trial's start: a 40-ms saccade before each fixation after the first
            for k in range(n):
                p = _normalised(prior * inhibition).ravel()
                cell = rng.choice(p.size, p=p)
                x = gx.ravel()[cell] + rng.uniform(-CELL / 2, CELL / 2)
                y = gy.ravel()[cell] + rng.uniform(-CELL / 2, CELL / 2)
                inside = bool(mask.ravel()[cell])
                duration = rng.gamma(4.0, 60.0) * (1 + pull if inside else 1.0)
                duration = round(duration, 1)
                rows.append((f"obs{s:02d}", name, cond, float(x), float(y), duration, k, clock, clock + duration))
                clock += duration + SACCADE_MS
                inhibition *= 1 - params["ior_strength"] * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / ior_s2)
    return pd.DataFrame(rows, columns=["subject", "stimulus", "condition", "x", "y", "duration", "order", "onset",
                                       "offset"])


def load(params: Mapping[str, Any], screen: Screen) -> Dataset:
    stimuli = make_stimuli(params["demo_images"], params["seed"])
    return Dataset(simulate(stimuli, params, screen), stimuli, source="simulated demo (scikit-learn sample photographs)",
                   simulated=True)
