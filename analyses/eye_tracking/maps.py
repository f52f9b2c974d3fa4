"""Fixation density maps: fixations binned on a grid, then smoothed by a Gaussian.

The grid has square cells of `cell` stimulus pixels; the filter is scipy's separable Gaussian run
over a whole stack of maps at once (σ 0 along the stack), so re-smoothing hundreds of maps when only σ
changes is one call. Mass that the Gaussian carries past the border is lost (mode="constant").
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter


def grid_shape(width: int, height: int, cell: float) -> tuple[int, int]:
    return max(1, math.ceil(height / cell)), max(1, math.ceil(width / cell))


def display_cell(width: int, height: int, max_side: int = 200) -> int:
    """Cell size (px) that keeps a displayed map at most `max_side` cells on its longer side."""
    return max(1, math.ceil(max(width, height) / max_side))


def cells(xs, ys, shape: tuple[int, int], cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, inside): each fixation's cell, and whether it lies on the stimulus."""
    cols = np.floor(np.asarray(xs, float) / cell).astype(int)
    rows = np.floor(np.asarray(ys, float) / cell).astype(int)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    return rows, cols, inside


def stack(groups: np.ndarray, xs, ys, weights, n_groups: int, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Raw (unsmoothed) maps, one per group id in [0, n_groups): weights summed per cell."""
    rows, cols, inside = cells(xs, ys, shape, cell)
    flat = (np.asarray(groups)[inside] * shape[0] + rows[inside]) * shape[1] + cols[inside]
    counts = np.bincount(flat, weights=np.asarray(weights, float)[inside], minlength=n_groups * shape[0] * shape[1])
    return counts.reshape(n_groups, *shape)


def smooth(maps: np.ndarray, sigma_cells: float, dtype=np.float64) -> np.ndarray:
    """Gaussian smoothing of each map in a stack (or of one 2D map); float32 halves the memory traffic
    where many maps are smoothed only to be summarised."""
    sigma = (0.0, sigma_cells, sigma_cells) if maps.ndim == 3 else sigma_cells
    return gaussian_filter(np.asarray(maps, dtype), sigma, mode="constant", truncate=3.0)


def density_stack(groups, xs, ys, weights, n_groups, shape, cell, sigma_px, dtype=np.float64) -> np.ndarray:
    return smooth(stack(groups, xs, ys, weights, n_groups, shape, cell), sigma_px / cell, dtype)


def entropy_bits(maps: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each map normalised to a distribution; NaN for an empty map."""
    from scipy.special import entr  # -p ln p, 0 at p = 0

    maps = np.asarray(maps).reshape(len(maps), -1)
    totals = maps.sum(axis=1, keepdims=True, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = entr(np.clip(maps / totals.astype(maps.dtype), 0, None)).sum(axis=1, dtype=np.float64) / np.log(2)
    out[totals[:, 0] <= 0] = np.nan
    return out


def pooled_maps(fixations, sizes: dict, sigma_px: float, weighting: str = "count", observer: str | None = None,
                keys=None, max_side: int = 200) -> dict:
    """(stimulus, condition) -> (smoothed map, cell px): one density map per stimulus, pooled over
    observers (or one observer's), every map of one size smoothed in a single stacked call.

    `sizes` maps (stimulus, condition) to (width, height). Duration weighting falls back to a weight
    of 1 where a fixation's duration is unknown.
    """
    import pandas as pd

    fix = fixations if observer is None else fixations[fixations["subject"] == observer]
    if keys is not None:
        fix = fix[pd.MultiIndex.from_arrays([fix["stimulus"], fix["condition"]]).isin(list(keys))]
    weights = np.ones(len(fix))
    if weighting == "duration":
        durations = fix["duration"].to_numpy(float)
        weights = np.where(np.isfinite(durations), durations, 1.0)
    codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([fix["stimulus"], fix["condition"]]))
    xs, ys = fix["x"].to_numpy(float), fix["y"].to_numpy(float)
    by_size: dict = {}
    for code, key in enumerate(uniques):
        by_size.setdefault(tuple(sizes[key]), []).append(code)
    out = {}
    for (width, height), members in by_size.items():
        cell = display_cell(width, height, max_side)
        shape = grid_shape(width, height, cell)
        local = np.full(len(uniques), -1)
        local[members] = np.arange(len(members))
        ids = local[codes]
        rows = ids >= 0
        smoothed = density_stack(ids[rows], xs[rows], ys[rows], weights[rows], len(members), shape, cell, sigma_px)
        out.update({uniques[code]: (smoothed[i], cell) for i, code in enumerate(members)})
    return out
