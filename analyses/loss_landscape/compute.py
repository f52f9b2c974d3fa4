"""Train, then probe the loss around the solution: curves, 1D path, 2D surface, Hessian, connectivity.

The analysis is a graph of cached stages (see analyses/core/stages.py), each a function with the
parameters it reads listed next to it, so a slider recomputes only its own part:

    training ─┬─ interpolation_path, random_slices, optimizer_trajectory
              ├─ hessian_spectrum ─ hessian_directions ─┐  (directions=hessian)
              ├─ directions ────────────────────────────┴─ surface_grid ─ curvature
              ├─ second_network ─ connectivity_path
              └─ third_network ─ three_models (with the second network)

`compute` then assembles the metrics and tables (the final tables; cached as the run's own entry).
Stages hand each other weights and tables as arrays, which the cache keeps exactly, so a staged rerun
gives the numbers of a run from an empty cache. The training stage is `training.py`'s shared network:
a phase-diagram cell with the same settings reads it back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from analyses.core import Context, Result
from analyses.core.stages import Pipeline, stage_report

from . import connectivity, hessian, trajectory
from .data import DataError
from .directions import filter_normalized_direction, offset
from .plane import PlaneEvaluator
from .problem import Problem
from .tables import frame_from_arrays, frames_to_arrays
from .training import (EXPLODING, PROBLEM_READS, TRAINING_READS, arrays_of, check_converged, checkpoints_of, curves,
                       landscape_network, landscape_problem, losses, network_entry, network_model, norm_layers,
                       state_of, train, train_network)

EVAL_READS = PROBLEM_READS + ("eval_samples",)  # the problem, and the training subset the landscape is evaluated on


def interpolation(model, start, end, data, problem: Problem, points: int) -> pd.DataFrame:
    """Goodfellow et al.'s 1D path theta(alpha) = (1 - alpha) theta_0 + alpha theta_1, a little past both ends."""
    alphas = np.union1d(np.linspace(-0.25, 1.25, points), [0.0, 1.0])
    difference = {name: end[name] - start[name] for name in end}
    return pd.DataFrame([{"alpha": float(alpha), **losses(model, offset(start, [(float(alpha), difference)]), data,
                                                           problem)}
                         for alpha in alphas])


def plane_evaluator(model, center, directions, data, problem: Problem) -> PlaneEvaluator:
    """Loss and accuracy at many points of the plane center + a d1 + b d2 (see plane.py), exact to rounding."""
    return PlaneEvaluator(model, center, directions, data, problem,
                          plain=lambda weights: losses(model, weights, data, problem))


def refinement_levels(n: int) -> list[list[int]]:
    """Grid indices from coarse to fine: every s-th index (and the last), s halving down to 1.

    The coarsest level has about five points per axis; every level is a regular sub-grid, so it can be
    drawn as soon as it is finished, and each point is computed once over all levels.
    """
    stride = 1
    while (n - 1) // (stride * 2) >= 4:
        stride *= 2
    levels = []
    while stride >= 1:
        levels.append(sorted(set(range(0, n, stride)) | {n - 1}))
        stride //= 2
    return levels


def surface(model, center, directions, data, problem: Problem, xs, ys, ctx: Context, preview=None) -> pd.DataFrame:
    """Loss and accuracy on the plane center + a*d1 + b*d2 for a in xs, b in ys.

    Computed coarse to fine (see `refinement_levels`); `preview(table)` receives each finished level,
    so a page can draw the surface after a fraction of the work.
    """
    evaluate_points = plane_evaluator(model, center, directions, data, problem)
    values: dict[tuple[int, int], dict] = {}
    total = len(xs) * len(ys)
    for level_x, level_y in zip(*_matched_levels(len(xs), len(ys))):
        for j in level_y:
            new_points = [i for i in level_x if (i, j) not in values]
            points = [(float(xs[i]), float(ys[j])) for i in new_points]
            for i, (a, b), measured in zip(new_points, points, evaluate_points(points)):
                values[i, j] = {"x": a, "y": b, **measured}
            ctx.report(len(values) / total, f"{len(values)}/{total} points, {len(level_x)}x{len(level_y)} grid")
        if preview is not None and len(values) < total:
            preview(pd.DataFrame([values[i, j] for j in level_y for i in level_x]))
    return pd.DataFrame([values[i, j] for j in range(len(ys)) for i in range(len(xs))])


def _matched_levels(nx: int, ny: int) -> tuple[list[list[int]], list[list[int]]]:
    """Levels for both axes, padded so they have the same number (the shorter repeats its finest)."""
    lx, ly = refinement_levels(nx), refinement_levels(ny)
    depth = max(len(lx), len(ly))
    return lx[:1] * (depth - len(lx)) + lx, ly[:1] * (depth - len(ly)) + ly


def slices(model, center, data, problem: Problem, params, ctx: Context) -> pd.DataFrame:
    """1D slices along several filter-normalized directions, to show how much one picture owes to its seed."""
    coords = np.linspace(-params["grid_range"], params["grid_range"], params["grid_points"])
    cpu_center = {name: w.cpu() for name, w in center.items()}
    device = next(iter(center.values())).device
    rows = []
    for k in range(params["slice_seeds"]):
        generator = torch.Generator().manual_seed(params["direction_seed"] + 1 + k)
        direction = {n: d.to(device) for n, d in
                     filter_normalized_direction(cpu_center, generator, params["bias_direction"]).items()}
        still = {n: torch.zeros_like(d) for n, d in direction.items()}
        points = [(float(t), 0.0) for t in coords]
        for (t, _), measured in zip(points, plane_evaluator(model, center, [direction, still], data, problem)(points)):
            rows.append({"seed": params["direction_seed"] + 1 + k, "t": t, **measured})
        ctx.report((k + 1) / params["slice_seeds"], f"direction {k + 1}/{params['slice_seeds']}")
    return pd.DataFrame(rows)


def plane_directions(center, eigen, params) -> list[dict]:
    """The two directions of the 2D surface: filter-normalized random ones, or the top Hessian eigenvectors.

    Eigenvectors have unit norm; they are rescaled to the norm of the weights with more than one
    dimension, the norm a filter-normalized direction has, so `grid_range` means the same in both.
    """
    cpu_center = {name: w.cpu() for name, w in center.items()}
    device = next(iter(center.values())).device
    if params["directions"] == "hessian":
        scale = float(torch.sqrt(sum((w ** 2).sum() for w in cpu_center.values() if w.dim() > 1)))
        return [{n: v[n] * scale for n in v} for v in eigen.vectors[:2]]
    generator = torch.Generator().manual_seed(params["direction_seed"])
    return [{n: d.to(device) for n, d in filter_normalized_direction(cpu_center, generator, params["bias_direction"]).items()}
            for _ in range(2)]


def optimizer_path(model, checkpoints, center, data, problem: Problem, params, ctx: Context):
    """Li et al.'s section 7: the checkpoints on the PCA plane of (theta_i - theta_T), over the loss on that plane."""
    plane = trajectory.pca_plane(checkpoints)
    steps = list(range(len(checkpoints)))  # epochs: checkpoint i is the weights after epoch i
    path = trajectory.trajectory_table(plane, checkpoints, steps, lambda w: losses(model, w, data, problem))
    amin, amax, bmin, bmax = trajectory.plane_range(path)
    points = params["grid_points"]
    grid = surface(model, center, [plane.d1, plane.d2], data, problem, np.linspace(amin, amax, points),
                   np.linspace(bmin, bmax, points), ctx)
    return path.rename(columns={"step": "epoch"}), grid, plane.explained_variance_ratio


def hessian_summary(model, center, x, y, problem: Problem, params, ctx: Context):
    """Top eigenpairs, trace and spectral density of the train loss at the solution.

    The eigenvalues and the trace are estimated `hessian_runs` times from different random
    starts; the run-to-run spread says how far to trust them. The first run's eigenvectors
    serve as the Hessian directions of the surface.
    """
    loss_fn = hessian.make_loss_fn(model, x, y, problem.loss)
    weights = {name: w.detach() for name, w in center.items()}
    k = max(params["hessian_top_k"], 2 if params["directions"] == "hessian" else 1)
    runs, rows = params["hessian_runs"], []
    for run in range(runs):
        generator = torch.Generator().manual_seed(params["seed"] + run)
        ctx.report(0.7 * run / runs, f"run {run + 1}/{runs}, top eigenvalues")
        found = hessian.top_eigenpairs(loss_fn, weights, k=k, generator=generator)
        eigen = found if run == 0 else eigen
        trace, trace_se = hessian.hutchinson_trace(loss_fn, weights, samples=params["hessian_samples"],
                                                   generator=generator)
        rows.append({"run": run + 1, "top_eigenvalue": found.values[0], "trace": trace, "trace_stderr": trace_se})
    ctx.report(0.7, "spectral density")
    grid_values, density = hessian.lanczos_density(loss_fn, weights, steps=params["lanczos_steps"], runs=2,
                                                   generator=torch.Generator().manual_seed(params["seed"]))
    return eigen, pd.DataFrame(rows), pd.DataFrame({"eigenvalue": grid_values, "density": density})


def curvature_check(model, center, directions, grid: pd.DataFrame, x, y, problem: Problem) -> pd.DataFrame:
    """d^T H d (Hessian-vector products) beside the second difference of the plotted surface along d.

    They agree up to O(step^2): a large gap means the picture is too coarse to show the local curvature.
    """
    loss_fn = hessian.make_loss_fn(model, x, y, problem.loss)
    weights = {name: w.detach() for name, w in center.items()}
    step = float(np.diff(np.sort(grid.x.unique()))[0])
    rows = []
    for axis, direction in zip(("x", "y"), directions):
        other = "y" if axis == "x" else "x"
        line = grid[grid[other].abs() < step / 2].sort_values(axis)
        middle = int(np.argmin(line[axis].abs().to_numpy()))
        losses = line.train_loss.to_numpy()
        rows.append({"direction": f"direction {1 if axis == 'x' else 2}",
                     "hvp_curvature": hessian.directional_curvature(loss_fn, weights, direction),
                     "surface_curvature": float((losses[middle + 1] - 2 * losses[middle] + losses[middle - 1]) / step**2),
                     "surface_step": step})
    return pd.DataFrame(rows)


def another_network(seed: int, checkpoints, problem: Problem, params, device, progress) -> dict:
    """Weights of one more network trained like the first.

    With spawn_epoch = 0 it starts from its own initialisation (`seed`); with spawn_epoch = k it
    starts from the first network's weights after k epochs and differs only in its batch order
    from then on (Frankle et al. 2020's instability analysis; the optimizer's momentum restarts).
    """
    other = problem.make_model(seed).to(device)
    spawn = params["spawn_epoch"]
    if spawn >= len(checkpoints):
        raise DataError(f"parameter 'spawn_epoch': {spawn} is past the last checkpoint ({len(checkpoints) - 1})")
    if spawn > 0:
        with torch.no_grad():
            for name, p in other.named_parameters():
                p.copy_(checkpoints[spawn][name])
    train(other, problem, params, seed, progress, first_epoch=spawn)
    return {name: p.detach().clone() for name, p in other.named_parameters()}


def plane_through_three(model, weights: list[dict], data, problem: Problem, points: int, ctx: Context):
    """The loss on the plane through three solutions (Garipov et al. 2018): A at the origin, B on the x axis.

    Axes are orthonormal and in units of parameter distance: B = (|B - A|, 0), and C's coordinates
    follow from its projection. The grid covers the three points with a 20 % margin.
    """
    a, b, c = weights
    names = list(a)
    flat = [torch.cat([w[n].reshape(-1).double() for n in names]) for w in (a, b, c)]
    u, v = flat[1] - flat[0], flat[2] - flat[0]
    e1 = u / u.norm()
    rest = v - (v @ e1) * e1
    e2 = rest / rest.norm()
    coords = {"A": (0.0, 0.0), "B": (float(u.norm()), 0.0), "C": (float(v @ e1), float(rest.norm()))}

    def as_params(vector):
        out, start = {}, 0
        for n in names:
            size = a[n].numel()
            out[n] = vector[start:start + size].reshape(a[n].shape).to(a[n].dtype)
            start += size
        return out

    d1, d2 = as_params(e1), as_params(e2)
    xs, ys = [p[0] for p in coords.values()], [p[1] for p in coords.values()]
    pad_x, pad_y = 0.2 * (max(xs) - min(xs)), 0.2 * (max(ys) - min(ys))
    grid = surface(model, a, [d1, d2], data, problem, np.linspace(min(xs) - pad_x, max(xs) + pad_x, points),
                   np.linspace(min(ys) - pad_y, max(ys) + pad_y, points), ctx)
    corners = pd.DataFrame([{"network": k, "x": x, "y": y} for k, (x, y) in coords.items()])
    return grid, corners


def mode_connectivity(model, first, second, problem: Problem, params, data, device, ctx: Context):
    """The straight line from the first network to the second, naive and after weight matching."""
    def on_data(weights):
        return losses(model, weights, data, problem)

    naive = connectivity.interpolate(model, first, second, on_data, points=params["interp_points"])
    table = naive.rename(columns=lambda c: c if c == "alpha" else f"naive_{c}")
    ctx.report(0.5, "weight matching")
    try:
        aligned, info = connectivity.weight_matching(model, first, second, seed=params["seed"])
    except ValueError as exc:  # an architecture weight matching cannot permute (a custom model, say)
        return table, {"iterations": 0, "skipped": str(exc)}
    aligned = {name: w.to(device=device, dtype=first[name].dtype) for name, w in aligned.items()}
    matched = connectivity.interpolate(model, first, aligned, on_data, points=params["interp_points"])
    return table.merge(matched.rename(columns=lambda c: c if c == "alpha" else f"aligned_{c}"), on="alpha"), info


def _notes(model, problem: Problem, params, checkpoints: int, skipped: str) -> pd.DataFrame:
    """Why a view is missing or computed differently than it might be read: shown on the page, kept in result.json."""
    notes = []
    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules()):
        notes.append(("all views", "dropout is off (eval mode) wherever the loss is evaluated; it is on only "
                                   "while a network is trained here"))
    if problem.checkpoints:
        notes.append(("training", f"not trained here: the curves are the {checkpoints} checkpoint(s) of the "
                                  "file, evaluated on the whole training and test sets"))
        others = (f"the second and third networks (seeds {params['second_seed']} and {params['second_seed'] + 1})"
                  if params["three_models"] else f"the second network (seed {params['second_seed']})")
        notes.append(("mode connectivity", f"{others} trained here with the optimizer settings of this page"))
    if checkpoints < 2:
        notes.append(("optimizer path", "skipped: it needs two or more checkpoints; the file holds one"))
    if norm_layers(model):
        if params["norm_policy"] == "eval":
            notes.append(("mode connectivity", "points between networks are evaluated with the first network's "
                                               "norm statistics (norm_policy=eval); recompute uses each point's own"))
        if checkpoints > 1:
            notes.append(("optimizer path", "each checkpoint's curve uses its own norm statistics; points on the "
                                            "PCA plane use the last checkpoint's"))
    if skipped:
        notes.append(("mode connectivity", f"weight matching skipped, so no aligned barrier: {skipped}"))
    return pd.DataFrame(notes, columns=["view", "note"])




# ---- the stages --------------------------------------------------------------------------------------------

pipeline = Pipeline()


@pipeline.stage(reads=PROBLEM_READS + TRAINING_READS, weight=20,
                entry=lambda params: network_entry(landscape_network(params)))
def training(ctx: Context, **params) -> Result:
    """Data and the first network: trained here (stopped if it blows up), or the user's checkpoints.
    Shared with every analysis that trains the same network (training.py)."""
    ctx.limit_torch_threads()
    return train_network(landscape_network(params), ctx.torch_device(), EXPLODING,
                         lambda e, n, loss: ctx.report(e / n, f"epoch {e}/{n}, loss {loss:.3f}"),
                         preview=lambda history: ctx.preview(Result(tables={"training": history})))


@pipeline.stage(reads=EVAL_READS + ("interp_points",), after=("training",), weight=3)
def interpolation_path(ctx: Context, training: Result, *, interp_points, **problem) -> Result:
    """Goodfellow et al.'s straight path from the initial to the trained weights."""
    with _landscape(ctx, training, problem) as (model, prob, final, data, device):
        path = interpolation(model, state_of(training, "initial", device), final, data, prob, interp_points)
    return Result(arrays=frames_to_arrays({"interpolation": path}))


@pipeline.stage(reads=EVAL_READS + ("hessian_top_k", "hessian_samples", "hessian_runs", "lanczos_steps", "directions"),
                after=("training",), weight=15)
def hessian_spectrum(ctx: Context, training: Result, *, hessian_top_k, hessian_samples, hessian_runs, lanczos_steps,
                     directions, **problem) -> Result:
    """Top eigenvalues, trace and spectral density at the solution; the top two eigenvectors for the surface."""
    settings = {"hessian_top_k": hessian_top_k, "hessian_samples": hessian_samples, "hessian_runs": hessian_runs,
                "lanczos_steps": lanczos_steps, "directions": directions, "seed": problem["seed"]}
    with _landscape(ctx, training, problem) as (model, prob, final, (train_data, _), device):
        eigen, runs, spectrum = hessian_summary(model, final, *train_data, prob, settings, ctx)
    top = pd.DataFrame({"rank": np.arange(1, len(eigen.values) + 1), "eigenvalue": eigen.values,
                        "iterations": eigen.iterations})
    vectors = {k: v for i, vector in enumerate(eigen.vectors[:2]) for k, v in arrays_of(vector, f"vector/{i}").items()}
    return Result(arrays={**vectors, **frames_to_arrays({"hessian_top": top, "hessian_runs": runs,
                                                         "hessian_spectrum": spectrum})})


@pipeline.stage(reads=PROBLEM_READS + ("direction_seed", "bias_direction"), after=("training",),
                when=lambda p: p["directions"] == "random", weight=0.2)
def directions(ctx: Context, training: Result, *, direction_seed, bias_direction, **problem) -> Result:
    """Two filter-normalized Gaussian directions (Li et al.)."""
    with _landscape(ctx, training, {**problem, "eval_samples": 0}) as (_, _, final, _, _):
        found = plane_directions(final, None, {"directions": "random", "direction_seed": direction_seed,
                                               "bias_direction": bias_direction})
    return Result(arrays={k: v for i, d in enumerate(found) for k, v in arrays_of(d, f"direction/{i}").items()})


@pipeline.stage(reads=PROBLEM_READS, after=("training", "hessian_spectrum"),
                when=lambda p: p["directions"] == "hessian", weight=0.2)
def hessian_directions(ctx: Context, training: Result, hessian_spectrum: Result, **problem) -> Result:
    """The top two Hessian eigenvectors, rescaled to the weights' norm."""
    with _landscape(ctx, training, {**problem, "eval_samples": 0}) as (_, _, final, _, device):
        eigen = hessian.HessianEigen([], [state_of(hessian_spectrum, f"vector/{i}", device) for i in range(2)], [])
        found = plane_directions(final, eigen, {"directions": "hessian"})
    return Result(arrays={k: v for i, d in enumerate(found) for k, v in arrays_of(d, f"direction/{i}").items()})


@pipeline.stage(reads=EVAL_READS + ("grid_range", "grid_points"), after=("training", "directions", "hessian_directions"),
                weight=20)
def surface_grid(ctx: Context, training: Result, directions: Result | None, hessian_directions: Result | None, *,
                 grid_range, grid_points, **problem) -> Result:
    """The loss on the plane of the two directions, coarse to fine (each level previewed)."""
    history = curves(training)
    with _landscape(ctx, training, problem) as (model, prob, final, data, device):
        coords = np.linspace(-grid_range, grid_range, grid_points)
        grid = surface(model, final, _plane(directions or hessian_directions, device), data, prob, coords, coords, ctx,
                       preview=lambda coarse: ctx.preview(Result(tables={"training": history, "surface": coarse})))
    return Result(arrays=frames_to_arrays({"surface": grid}))


@pipeline.stage(reads=EVAL_READS, after=("training", "directions", "hessian_directions", "surface_grid"))
def curvature(ctx: Context, training: Result, directions: Result | None, hessian_directions: Result | None,
              surface_grid: Result, **problem) -> Result:
    """d^T H d along each plotted direction beside the surface's second difference."""
    grid = frame_from_arrays("surface", surface_grid.arrays)
    with _landscape(ctx, training, problem) as (model, prob, final, (train_data, _), device):
        table = curvature_check(model, final, _plane(directions or hessian_directions, device), grid, *train_data, prob)
    return Result(arrays=frames_to_arrays({"curvature_check": table}))


@pipeline.stage(reads=EVAL_READS + ("grid_range", "grid_points", "slice_seeds", "direction_seed", "bias_direction"),
                after=("training",), weight=5)
def random_slices(ctx: Context, training: Result, *, grid_range, grid_points, slice_seeds, direction_seed,
                  bias_direction, **problem) -> Result:
    """1D slices along further random directions."""
    settings = {"grid_range": grid_range, "grid_points": grid_points, "slice_seeds": slice_seeds,
                "direction_seed": direction_seed, "bias_direction": bias_direction}
    with _landscape(ctx, training, problem) as (model, prob, final, data, _):
        table = slices(model, final, data, prob, settings, ctx)
    return Result(arrays=frames_to_arrays({"slices": table}))


@pipeline.stage(reads=EVAL_READS + ("grid_points",), after=("training",), weight=10)
def optimizer_trajectory(ctx: Context, training: Result, *, grid_points, **problem) -> Result:
    """The checkpoints on their PCA plane, over the loss there (nothing with a single checkpoint)."""
    with _landscape(ctx, training, problem) as (model, prob, final, data, device):
        checkpoints = checkpoints_of(training, device)
        if len(checkpoints) < 2:  # a single checkpoint has no path to draw
            return Result()
        path, grid, explained = optimizer_path(model, checkpoints, final, data, prob, {"grid_points": grid_points}, ctx)
    return Result(arrays={"explained_variance": np.array(explained),
                          **frames_to_arrays({"trajectory": path, "trajectory_surface": grid})})


NETWORK_READS = PROBLEM_READS + TRAINING_READS + ("second_seed", "spawn_epoch")


@pipeline.stage(reads=NETWORK_READS, after=("training",), weight=15)
def second_network(ctx: Context, training: Result, *, second_seed, **settings) -> Result:
    """The second network of mode connectivity: own seed, or spawned from the first after spawn_epoch epochs."""
    return _further_network(ctx, training, second_seed, settings)


@pipeline.stage(reads=EVAL_READS + ("interp_points",), after=("training", "second_network"), weight=3)
def connectivity_path(ctx: Context, training: Result, second_network: Result, *, interp_points, **problem) -> Result:
    """The loss on the line to the second network, naive and after weight matching."""
    with _landscape(ctx, training, problem) as (model, prob, final, data, device):
        table, matching = mode_connectivity(model, final, state_of(second_network, "weights", device), prob,
                                            {"interp_points": interp_points, "seed": problem["seed"]}, data, device, ctx)
    matched = pd.DataFrame([{"iterations": matching["iterations"], "skipped": matching.get("skipped", "")}])
    return Result(arrays=frames_to_arrays({"mode_connectivity": table, "matching": matched}))


@pipeline.stage(reads=NETWORK_READS, after=("training",), when=lambda p: p["three_models"], weight=15)
def third_network(ctx: Context, training: Result, *, second_seed, **settings) -> Result:
    """A third network (seed second_seed + 1), for the plane through three."""
    return _further_network(ctx, training, second_seed + 1, settings)


@pipeline.stage(reads=EVAL_READS + ("grid_points",), after=("training", "second_network", "third_network"),
                when=lambda p: p["three_models"], weight=5)
def three_models(ctx: Context, training: Result, second_network: Result, third_network: Result, *, grid_points,
                 **problem) -> Result:
    """The loss on the plane through the three networks (Garipov et al.)."""
    with _landscape(ctx, training, problem) as (model, prob, final, data, device):
        nets = [final, state_of(second_network, "weights", device), state_of(third_network, "weights", device)]
        plane, corners = plane_through_three(model, nets, data, prob, grid_points, ctx)
    return Result(arrays=frames_to_arrays({"three_model_plane": plane, "three_model_points": corners}))


@contextmanager
def _landscape(ctx: Context, training: Result, params: Mapping[str, Any]) -> Iterator[tuple]:
    """(model with the trained state, problem, trained parameters, evaluation data, device), for a stage.

    The model is handed back unchanged afterwards (a user's own model included)."""
    ctx.limit_torch_threads()
    check_converged(training)
    device = ctx.torch_device()
    problem = landscape_problem(params)
    split = problem.split
    # A fixed random subset keeps each surface point cheap; the test set is used whole.
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(params["seed"]))
    subset = subset[: params["eval_samples"]]
    data = ((split.x_train[subset].to(device), split.y_train[subset].to(device)),
            (split.x_test.to(device), split.y_test.to(device)))
    with network_model(problem, params["seed"], device, _arrays(training, "final")) as model:
        final = {name: p.detach().clone() for name, p in model.named_parameters()}
        yield model, problem, final, data, device


def _arrays(result: Result, prefix: str) -> dict[str, np.ndarray]:
    start = prefix + "/"
    return {name[len(start):]: a for name, a in result.arrays.items() if name.startswith(start)}


def _plane(directions: Result, device: str) -> list[dict]:
    return [state_of(directions, f"direction/{i}", device) for i in range(2)]


def _further_network(ctx: Context, training: Result, seed: int, settings: Mapping[str, Any]) -> Result:
    """One more network trained like the first (another_network), its parameters as arrays."""
    ctx.limit_torch_threads()
    check_converged(training)
    device = ctx.torch_device()
    problem = landscape_problem(settings)
    trained = another_network(seed, checkpoints_of(training, device), problem, settings, device,
                              lambda e, n, loss: ctx.report(e / n, f"seed {seed}: epoch {e}/{n}"))
    return Result(arrays=arrays_of(trained, "weights"))


# ---- the final tables ----------------------------------------------------------------------------------------

TABLES = ("training", "interpolation", "surface", "slices", "hessian_top", "hessian_runs", "hessian_spectrum",
          "curvature_check", "mode_connectivity", "notes", "three_model_plane", "three_model_points", "trajectory",
          "trajectory_surface")


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    ctx.report(0.0, "loading data and model")
    stages, records = pipeline.run(params, ctx)
    device = ctx.torch_device()
    network = stages["training"]
    check_converged(network)
    history = curves(network)
    tables = {"training": history}
    for name in ("interpolation_path", "hessian_spectrum", "surface_grid", "curvature", "random_slices",
                 "optimizer_trajectory", "connectivity_path", "three_models"):
        if stages[name] is not None:
            found = stages[name].arrays
            tables.update({table: frame_from_arrays(table, found) for table in _table_names(found)})
    matching = tables.pop("matching").iloc[0]
    problem = landscape_problem(params)
    with network_model(problem, params["seed"], "cpu") as model:
        notes = _notes(model, problem, params, int(network.metrics["checkpoints"]), str(matching["skipped"]))
    grid, path_1d, connect, runs = (tables[n] for n in ("surface", "interpolation", "mode_connectivity", "hessian_runs"))
    center = grid.loc[(grid.x.abs() + grid.y.abs()).idxmin()]
    inside = path_1d[(path_1d.alpha >= 0) & (path_1d.alpha <= 1)]
    goodfellow = connectivity.barriers(inside.alpha, inside.train_loss)
    naive = connectivity.barriers(connect.alpha, connect.naive_train_loss)
    last = history.iloc[-1]
    metrics = {
        "n_parameters": int(sum(a.size for name, a in network.arrays.items() if name.startswith("initial/"))),
        "n_train": int(len(problem.split.x_train)),
        "n_test": int(len(problem.split.x_test)),
        "final_train_loss": float(last.train_loss),
        "final_test_loss": float(last.test_loss),
        "center_train_loss": float(center.train_loss),
        "center_test_loss": float(center.test_loss),
        "surface_min_train_loss": float(grid.train_loss.min()),
        "surface_max_train_loss": float(grid.train_loss.max()),
        "surface_mean_rise": float(grid.train_loss.mean() - center.train_loss),
        "interpolation_barrier": goodfellow["barrier_linear"],
        "hessian_top_eigenvalue": float(runs.top_eigenvalue.mean()),
        "hessian_top_eigenvalue_sd": float(runs.top_eigenvalue.std(ddof=0)),
        "hessian_trace": float(runs.trace.mean()),
        "hessian_trace_sd": float(runs.trace.std(ddof=0)),
        "barrier_naive": naive["barrier_mean"],
        "barrier_naive_linear": naive["barrier_linear"],
    }
    if problem.classification:
        metrics.update(final_train_accuracy=float(last.train_accuracy), final_test_accuracy=float(last.test_accuracy))
    if "aligned_train_loss" in connect:
        aligned = connectivity.barriers(connect.alpha, connect.aligned_train_loss)
        metrics.update(barrier_aligned=aligned["barrier_mean"], barrier_aligned_linear=aligned["barrier_linear"],
                       weight_matching_iterations=int(matching["iterations"]))
    if "trajectory" in tables:
        explained = stages["optimizer_trajectory"].arrays["explained_variance"]
        metrics.update(trajectory_explained_variance=float(sum(explained)),
                       trajectory_max_relative_residual=float(tables["trajectory"].relative_residual.max()))
    tables["notes"] = notes
    return Result(metrics=metrics, tables={name: tables[name] for name in TABLES if name in tables},
                  provenance={"device": device, "torch_threads": torch.get_num_threads(),
                              "stages": stage_report(records)})


def _table_names(arrays: Mapping[str, np.ndarray]) -> list[str]:
    return [name[: -len("/columns")] for name in arrays if name.endswith("/columns")]
