"""Times read off learning curves and trajectories: when a concept is learned, where the trajectory turns.

All functions take checkpoint steps and per-checkpoint values and return a step, or None when the event
never happens (reported as null).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def quadratic_checkpoints(steps: int, count: int) -> list[int]:
    """Checkpoint steps spaced quadratically (dense early, where concepts are learned), distinct, ending at `steps`."""
    raw = np.round(steps * (np.arange(1, count + 1) / count) ** 2).astype(int)
    return sorted({int(s) for s in raw if s > 0} | {steps})


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Centred moving average over `window` checkpoints (shorter at the ends)."""
    series = pd.Series(np.asarray(values, dtype=float))
    return series.rolling(max(1, int(window)), center=True, min_periods=1).mean().to_numpy()


def first_sustained(steps: Sequence[int], values: Sequence[float], threshold: float,
                    consecutive: int = 3, window: int = 1) -> int | None:
    """The first checkpoint from which the smoothed value stays above `threshold` for `consecutive` checkpoints.

    The paper's learning time: smoothed accuracy > 0.9 for 3 checkpoints in a row.
    """
    above = smooth(values, window) > threshold
    run = 0
    for i, ok in enumerate(above):
        run = run + 1 if ok else 0
        if run >= consecutive:
            return int(steps[i - consecutive + 1])
    return None


def turn_point(steps: Sequence[int], points: np.ndarray, window: int = 3,
               min_speed: float = 0.02) -> tuple[int | None, float]:
    """The checkpoint where the (smoothed) trajectory changes direction most, and the angle in degrees.

    Checkpoints without a point (no readable sample) are skipped. Moves shorter than `min_speed` (concept-space units per checkpoint) carry no direction and are
    skipped, so jitter at rest cannot make a turn; the angle is between consecutive moving segments, and
    the turn is dated at the checkpoint where the later one starts.
    """
    points = np.asarray(points, dtype=float)
    known = ~np.isnan(points).any(axis=1)  # checkpoints whose samples were all unreadable have no point
    points, steps = points[known], np.asarray(steps)[known]
    if len(points) < 3:
        return None, 0.0
    smoothed = np.column_stack([smooth(points[:, k], window) for k in range(points.shape[1])])
    moves = np.diff(smoothed, axis=0)
    speed = np.linalg.norm(moves, axis=1)
    moving = [i for i in range(len(moves)) if speed[i] >= min_speed]
    best_step, best_angle = None, 0.0
    for a, b in zip(moving[:-1], moving[1:]):
        cosine = float(moves[a] @ moves[b] / (speed[a] * speed[b]))
        angle = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
        if angle > best_angle:
            best_step, best_angle = int(steps[b]), angle
    return best_step, best_angle


def first_axis(steps: Sequence[int], color_accuracy: Sequence[float], size_accuracy: Sequence[float],
               level: float = 0.75, consecutive: int = 3) -> str | None:
    """The concept the trajectory moves along first: the one whose accuracy first stays above `level`
    (a lower bar than learning, so that the first move counts even if the concept is later unlearned)."""
    times = {name: first_sustained(steps, values, level, consecutive)
             for name, values in (("color", color_accuracy), ("size", size_accuracy))}
    reached = {name: t for name, t in times.items() if t is not None}
    if not reached:
        return None
    earliest = min(reached.values())
    firsts = [name for name, t in reached.items() if t == earliest]
    return firsts[0] if len(firsts) == 1 else None
