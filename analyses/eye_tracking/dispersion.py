"""Per-trial dispersion measures: how spread out one observer's fixations on one stimulus are.

Distances and areas are in degrees of visual angle (pixels / px-per-degree), so trials on stimuli of
different sizes and screens compare. Definitions and sources: docs/analyses/eye_tracking.md.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError

from . import maps
from .fixations import Stimulus

BCEA_P = 0.682
BCEA_K = -math.log(1 - BCEA_P)  # BCEA = 2k pi sx sy sqrt(1 - rho^2) covers P of a bivariate normal


def centroid_distance(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.hypot(x - x.mean(), y - y.mean()).mean())


def hull_area(x: np.ndarray, y: np.ndarray) -> float:
    """Area of the convex hull of the fixations; 0 for fewer than 3 or collinear points."""
    if len(x) < 3:
        return 0.0
    try:
        return float(ConvexHull(np.column_stack([x, y])).volume)  # in 2D, 'volume' is the area
    except QhullError:
        return 0.0


def bcea(x: np.ndarray, y: np.ndarray) -> float:
    """Bivariate contour ellipse area at P = 68.2 %; NaN below 3 fixations."""
    if len(x) < 3:
        return float("nan")
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    rho = np.corrcoef(x, y)[0, 1] if sx > 0 and sy > 0 else 0.0
    return float(2 * BCEA_K * math.pi * sx * sy * math.sqrt(max(0.0, 1 - rho ** 2)))


def trial_entropy(fixations: pd.DataFrame, stimuli: dict[tuple[str, str], Stimulus], px_per_deg: float,
                  sigma_deg: float, chunk: int = 256) -> pd.Series:
    """Entropy (bits) of each trial's count map on a grid of 0.25° cells smoothed with σ = sigma_deg.

    Trials are grouped by stimulus size and smoothed as stacks, `chunk` at a time.
    """
    cell = px_per_deg / 4
    trial_id = fixations.groupby(["subject", "stimulus", "condition"], sort=False).ngroup().to_numpy()
    keys = fixations[["subject", "stimulus", "condition"]].drop_duplicates().reset_index(drop=True)
    sizes = [(stimuli[(s, c)].width, stimuli[(s, c)].height) for s, c in zip(keys["stimulus"], keys["condition"])]
    out = np.full(len(keys), np.nan)
    for size in set(sizes):
        members = np.array([i for i, s in enumerate(sizes) if s == size])
        shape = maps.grid_shape(*size, cell)
        for start in range(0, len(members), chunk):
            part = members[start:start + chunk]
            local = np.full(len(keys), -1)
            local[part] = np.arange(len(part))
            rows = local[trial_id] >= 0
            stack = maps.density_stack(local[trial_id][rows], fixations["x"].to_numpy()[rows],
                                       fixations["y"].to_numpy()[rows], np.ones(rows.sum()), len(part), shape, cell,
                                       sigma_deg * px_per_deg, np.float32)
            out[part] = maps.entropy_bits(stack)
    return pd.Series(out, index=pd.MultiIndex.from_frame(keys))


def _in_mask(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cols, rows = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    inside = np.zeros(len(x), bool)
    inside[ok] = mask[rows[ok], cols[ok]]
    return inside


def per_trial(fixations: pd.DataFrame, stimuli: dict[tuple[str, str], Stimulus], px_per_deg: float,
              sigma_deg: float) -> pd.DataFrame:
    entropy = trial_entropy(fixations, stimuli, px_per_deg, sigma_deg)
    keys = ["subject", "stimulus", "condition"]
    codes = fixations.groupby(keys, sort=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    xs_all, ys_all = fixations["x"].to_numpy(float)[order], fixations["y"].to_numpy(float)[order]
    dur_all = fixations["duration"].to_numpy(float)[order]
    labels = fixations[keys].to_numpy()[order]
    rows = []
    for idx in np.split(np.arange(len(order)), bounds):
        subject, stimulus, condition = labels[idx[0]]
        px, py = xs_all[idx], ys_all[idx]
        x, y = px / px_per_deg, py / px_per_deg
        durations = dur_all[idx]
        mask = stimuli[(stimulus, condition)].mask
        share = dwell = float("nan")
        if mask is not None and mask.any():
            inside = _in_mask(px, py, mask)
            share = float(inside.mean())
            if np.isfinite(durations).all() and durations.sum() > 0:
                dwell = float(durations[inside].sum() / durations.sum())
        known = np.isfinite(durations).any()
        rows.append({
            "subject": subject, "stimulus": stimulus, "condition": condition,
            "centroid_distance": centroid_distance(x, y), "hull_area": hull_area(x, y), "bcea": bcea(x, y),
            "n_fixations": len(idx),
            "mean_duration": float(np.nanmean(durations)) if known else float("nan"),
            "total_dwell": float(np.nansum(durations)) if known else float("nan"),
            "mask_share": share, "mask_dwell_share": dwell,
        })
    out = pd.DataFrame(rows)
    out.insert(3, "entropy", entropy.reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy())
    return out
