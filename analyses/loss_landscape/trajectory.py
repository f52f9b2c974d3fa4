"""Optimization paths on a PCA plane (Li et al. 2018, section 7).

Random directions are useless for plotting a training trajectory: in high dimension they are
nearly orthogonal to the path, which then looks like it never moves. Li et al. instead take the
matrix whose rows are θ_i − θ_T (checkpoints minus the final model, flattened over all
parameters, biases included) and plot the path on its two leading principal directions.

Choice: the PCA here is *uncentered* (a thin SVD of the rows θ_i − θ_T, no mean subtracted).
The plane is then the 2D subspace through θ_T that best fits the checkpoints in least squares,
which is exactly what the reported residuals measure, and the final model is the origin with
coordinates exactly (0, 0). (Li et al.'s code fits scikit-learn's PCA, which subtracts the mean
of the rows, but then also projects θ_i − θ_T; the centered plane need not minimise these
residuals.) The explained-variance ratios are accordingly σ_k² / Σσ², the share of
Σ‖θ_i − θ_T‖² the plane captures. Since the path is usually far from planar, each checkpoint's
residual and the loss at its projection (`plane_*`) show how far the 2D picture can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch

from .directions import offset


@dataclass
class Plane:
    center: dict  # θ_T, the origin of the plane
    d1: dict  # unit-norm principal directions (flattened norm 1 over all parameters)
    d2: dict
    explained_variance_ratio: tuple[float, float]


def _flat(theta: dict, like: dict) -> torch.Tensor:
    """Flatten in `like`'s key order, float64 so that residuals of 1e-6 are resolvable."""
    if set(theta) != set(like) or any(theta[n].shape != like[n].shape for n in like):
        raise ValueError("checkpoints must have the same parameter names and shapes as the final model")
    return torch.cat([theta[n].detach().reshape(-1).to("cpu", torch.float64) for n in like])


def _unflat(v: torch.Tensor, like: dict) -> dict:
    out, start = {}, 0
    for name, t in like.items():
        out[name] = v[start:start + t.numel()].reshape(t.shape).to(t.device, t.dtype)
        start += t.numel()
    return out


def pca_plane(checkpoints: list[dict]) -> Plane:
    """The uncentered PCA plane of θ_i − θ_T, θ_T = checkpoints[-1].

    Singular vectors have arbitrary signs; they are fixed so that the first checkpoint (usually the
    initialisation) has non-negative coordinates, which makes the picture reproducible.
    """
    if len(checkpoints) < 2:
        raise ValueError("need at least two checkpoints (the last is the final model)")
    center = {n: t.detach().clone() for n, t in checkpoints[-1].items()}
    final = _flat(center, center)
    rows = torch.stack([_flat(c, center) - final for c in checkpoints])
    _, s, vh = torch.linalg.svd(rows, full_matrices=False)
    total = float((s ** 2).sum())
    if total == 0.0:
        raise ValueError("all checkpoints equal the final model; there is no path to project")
    if vh.shape[0] < 2:  # only with a single scalar parameter
        raise ValueError("a plane needs at least two parameters")
    dirs = [vh[0], vh[1]]
    for k in range(2):
        if float(rows[0] @ dirs[k]) < 0:
            dirs[k] = -dirs[k]
    ratio = (float(s[0] ** 2) / total, float(s[1] ** 2) / total)
    return Plane(center, _unflat(dirs[0], center), _unflat(dirs[1], center), ratio)


def project(plane: Plane, theta: dict) -> tuple[float, float, float]:
    """(a, b, residual): θ − θ_T = a·d1 + b·d2 + r with r ⊥ the plane; residual = ‖r‖."""
    delta = _flat(theta, plane.center) - _flat(plane.center, plane.center)
    d1, d2 = _flat(plane.d1, plane.center), _flat(plane.d2, plane.center)
    a, b = float(delta @ d1), float(delta @ d2)
    residual = float((delta - a * d1 - b * d2).norm())
    return a, b, residual


def trajectory_table(plane: Plane, checkpoints: list[dict], steps: list[int],
                     evaluate: Callable[[dict], dict]) -> pd.DataFrame:
    """One row per checkpoint: step, a, b, residual, relative_residual, evaluate(θ_i) and the same
    keys at the projection θ_T + a·d1 + b·d2 as `plane_<key>`: the contour plot shows the latter,
    so their gap to the true values says how faithful the 2D picture of the path is."""
    if len(steps) != len(checkpoints):
        raise ValueError("need one step per checkpoint")
    center = _flat(plane.center, plane.center)
    rows = []
    for step, theta in zip(steps, checkpoints):
        a, b, residual = project(plane, theta)
        distance = float((_flat(theta, plane.center) - center).norm())
        row = {"step": step, "a": a, "b": b, "residual": residual,
               "relative_residual": residual / distance if distance > 0 else 0.0}
        row.update(evaluate(theta))
        on_plane = offset(plane.center, [(a, plane.d1), (b, plane.d2)])
        row.update({f"plane_{k}": v for k, v in evaluate(on_plane).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def plane_range(table: pd.DataFrame, margin: float = 0.25) -> tuple[float, float, float, float]:
    """(amin, amax, bmin, bmax) covering every projected point (and the origin) with `margin` times
    each axis' span added on both sides; a zero span borrows the other axis' (or 1) so the grid is never empty."""
    a = list(table["a"]) + [0.0]
    b = list(table["b"]) + [0.0]
    span_a, span_b = max(a) - min(a), max(b) - min(b)
    fallback = max(span_a, span_b) or 1.0
    pad_a, pad_b = margin * (span_a or fallback), margin * (span_b or fallback)
    return min(a) - pad_a, max(a) + pad_a, min(b) - pad_b, max(b) + pad_b
