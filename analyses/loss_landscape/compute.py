"""Train, then probe the loss around the solution: curves, 1D path, 2D surface, Hessian, connectivity."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from analyses.core import Context, Result
from analyses.core.errors import Diverged

from . import connectivity, hessian, trajectory
from .data import DataError
from .directions import filter_normalized_direction, offset
from .plane import PlaneEvaluator
from .problem import Problem, cross_entropy
from .problem import load as load_problem

# Shares of the progress bar given to each phase, in order.
PHASES = {"train": 0.2, "interpolation": 0.05, "hessian": 0.15, "surface": 0.2, "slices": 0.05,
          "trajectory": 0.1, "connectivity": 0.15, "third_network": 0.05, "three_models": 0.05}


def _phase_start(name: str) -> float:
    names = list(PHASES)
    return sum(PHASES[n] for n in names[: names.index(name)])


def _report(ctx: Context, phase: str, done: float, message: str) -> None:
    ctx.report(_phase_start(phase) + PHASES[phase] * done, message)


# A batch loss this many times the initial loss means training has blown up (a finite 1e11 surface otherwise).
EXPLODING = 10.0


def norm_layers(model: nn.Module) -> list[nn.Module]:
    """Norm layers that keep running statistics (batch norm, instance norm with tracking), the user's included."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]


@contextmanager
def _train_mode(modules: list[nn.Module]):
    """Only these modules in train mode (dropout elsewhere stays off); their previous modes restored after."""
    before = [m.training for m in modules]
    try:
        for m in modules:
            m.train()
        yield
    finally:
        for m, mode in zip(modules, before):
            m.train(mode)


@torch.no_grad()
def evaluate(model: nn.Module, weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             loss=cross_entropy, classification: bool = True,
             norm_policy: str = "eval") -> tuple[float, float]:
    """Mean loss and accuracy (NaN unless classifying) of `model` with its parameters replaced by `weights`.

    The model is evaluated in eval mode (dropout off). With norm_policy="recompute", its norm layers, and
    only they, use the statistics of this batch, on copies of their buffers, so the model's own running
    statistics are never changed.
    """
    norms = norm_layers(model) if norm_policy == "recompute" else []
    if norms:
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        with _train_mode(norms):
            outputs = functional_call(model, {**weights, **buffers}, (x,))
    else:
        outputs = functional_call(model, weights, (x,))
    value = loss(outputs, y).item()
    accuracy = (outputs.argmax(dim=1) == y).float().mean().item() if classification else float("nan")
    return value, accuracy


def train(model: nn.Module, problem: Problem, params: Mapping[str, Any], seed: int, progress,
          first_epoch: int = 0, preview=None, exploding: float | None = EXPLODING) -> tuple[pd.DataFrame, list[dict]]:
    """Train in place from `first_epoch` to params["epochs"]; `progress(epoch, epochs, loss)` after each,
    and `preview(curves so far)` if given.

    A non-finite batch loss, or one above `exploding` times the initial loss, stops training with
    `Diverged` (naming 'lr'); `exploding=None` lets a loss blow up and settle (a phase diagram's hot
    cells are meant to).

    Returns the curves and a copy of the weights after every epoch (the first is the start),
    for the trajectory and for spawning a second network. `seed` sets the batch order.
    """
    generator = torch.Generator().manual_seed(seed)
    if params["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9,
                                    weight_decay=params["weight_decay"])
    else:  # AdamW: decoupled weight decay, which is what lets modular addition generalise
        optimizer = torch.optim.AdamW(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    device = next(model.parameters()).device
    split = problem.split
    x, y = split.x_train.to(device), split.y_train.to(device)
    data = ((x, y), (split.x_test.to(device), split.y_test.to(device)))
    rows, checkpoints = [], []

    def record(epoch: int) -> None:
        weights = dict(model.named_parameters())
        checkpoints.append({name: w.detach().clone() for name, w in weights.items()})
        rows.append({"epoch": epoch, **_losses(model, weights, data, problem)})

    record(first_epoch)
    epochs = params["epochs"]
    for epoch in range(first_epoch + 1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), params["batch_size"]):
            batch = order[start:start + params["batch_size"]]
            optimizer.zero_grad(set_to_none=True)
            loss = problem.loss(model(x[batch]), y[batch])
            _check_divergence(loss.detach().item(), rows[0]["train_loss"], epoch, params, exploding)
            loss.backward()
            optimizer.step()
        model.eval()
        record(epoch)
        progress(epoch, epochs, rows[-1]["train_loss"])
        if preview is not None:
            preview(pd.DataFrame(rows))
    return pd.DataFrame(rows), checkpoints


def _check_divergence(loss: float, initial: float, epoch: int, params, exploding: float | None) -> None:
    if math.isfinite(loss) and (exploding is None or loss <= exploding * max(initial, 1.0)):
        return
    what = "a non-finite batch loss" if not math.isfinite(loss) else (
        f"a batch loss of {loss:.3g}, over {exploding:g}x the initial {initial:.3g}")
    raise Diverged(f"training diverged at epoch {epoch} ({what}); lower 'lr', the learning rate "
                   f"(now {params['lr']:g})")


def _losses(model, weights, data, problem: Problem) -> dict[str, float]:
    (x, y), (x_test, y_test) = data
    train_loss, train_acc = evaluate(model, weights, x, y, problem.loss, problem.classification, problem.norm_policy)
    test_loss, test_acc = evaluate(model, weights, x_test, y_test, problem.loss, problem.classification,
                                   problem.norm_policy)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc}


def parameters_of(model: nn.Module, state: dict) -> dict[str, torch.Tensor]:
    """The parameter entries of a full state dict (the landscape moves parameters; buffers stay)."""
    return {name: state[name] for name, _ in model.named_parameters()}


def recorded(model, problem: Problem, data) -> tuple[pd.DataFrame, list[dict]]:
    """Curves for checkpoints the user supplied, in place of training (index i is 'epoch' i).

    Each checkpoint is evaluated with its own buffers (a batch norm's running statistics); the model
    keeps the last checkpoint's, the ones every later view uses. Returns the parameter dicts.
    """
    rows, checkpoints = [], []
    device = next(model.parameters()).device
    for i, state in enumerate(problem.checkpoints):
        model.load_state_dict(state)
        checkpoints.append({n: w.to(device) for n, w in parameters_of(model, state).items()})
        rows.append({"epoch": i, **_losses(model, checkpoints[-1], data, problem)})
    return pd.DataFrame(rows), checkpoints


def interpolation(model, start, end, data, problem: Problem, points: int) -> pd.DataFrame:
    """Goodfellow et al.'s 1D path theta(alpha) = (1 - alpha) theta_0 + alpha theta_1, a little past both ends."""
    alphas = np.union1d(np.linspace(-0.25, 1.25, points), [0.0, 1.0])
    difference = {name: end[name] - start[name] for name in end}
    return pd.DataFrame([{"alpha": float(alpha), **_losses(model, offset(start, [(float(alpha), difference)]), data,
                                                           problem)}
                         for alpha in alphas])


def plane_evaluator(model, center, directions, data, problem: Problem) -> PlaneEvaluator:
    """Loss and accuracy at many points of the plane center + a d1 + b d2 (see plane.py), exact to rounding."""
    return PlaneEvaluator(model, center, directions, data, problem,
                          plain=lambda weights: _losses(model, weights, data, problem))


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


def surface(model, center, directions, data, problem: Problem, xs, ys, ctx: Context,
            phase: str = "surface", preview=None) -> pd.DataFrame:
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
            for i, (a, b), losses in zip(new_points, points, evaluate_points(points)):
                values[i, j] = {"x": a, "y": b, **losses}
            _report(ctx, phase, len(values) / total, f"{phase}: {len(values)}/{total} points, "
                                                     f"{len(level_x)}x{len(level_y)} grid")
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
        for (t, _), losses in zip(points, plane_evaluator(model, center, [direction, still], data, problem)(points)):
            rows.append({"seed": params["direction_seed"] + 1 + k, "t": t, **losses})
        _report(ctx, "slices", (k + 1) / params["slice_seeds"], f"1D slices: direction {k + 1}/{params['slice_seeds']}")
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
    path = trajectory.trajectory_table(plane, checkpoints, steps, lambda w: _losses(model, w, data, problem))
    amin, amax, bmin, bmax = trajectory.plane_range(path)
    points = params["grid_points"]
    grid = surface(model, center, [plane.d1, plane.d2], data, problem, np.linspace(amin, amax, points),
                   np.linspace(bmin, bmax, points), ctx, phase="trajectory")
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
        _report(ctx, "hessian", 0.7 * run / runs, f"Hessian: run {run + 1}/{runs}, top eigenvalues")
        found = hessian.top_eigenpairs(loss_fn, weights, k=k, generator=generator)
        eigen = found if run == 0 else eigen
        trace, trace_se = hessian.hutchinson_trace(loss_fn, weights, samples=params["hessian_samples"],
                                                   generator=generator)
        rows.append({"run": run + 1, "top_eigenvalue": found.values[0], "trace": trace, "trace_stderr": trace_se})
    _report(ctx, "hessian", 0.7, "Hessian: spectral density")
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
                   np.linspace(min(ys) - pad_y, max(ys) + pad_y, points), ctx, phase="three_models")
    corners = pd.DataFrame([{"network": k, "x": x, "y": y} for k, (x, y) in coords.items()])
    return grid, corners


def mode_connectivity(model, first, second, problem: Problem, params, data, device, ctx: Context):
    """The straight line from the first network to the second, naive and after weight matching."""
    def on_data(weights):
        return _losses(model, weights, data, problem)

    naive = connectivity.interpolate(model, first, second, on_data, points=params["interp_points"])
    table = naive.rename(columns=lambda c: c if c == "alpha" else f"naive_{c}")
    _report(ctx, "connectivity", 0.85, "weight matching")
    try:
        aligned, info = connectivity.weight_matching(model, first, second, seed=params["seed"])
    except ValueError as exc:  # an architecture weight matching cannot permute (a custom model, say)
        return table, {"iterations": 0, "skipped": str(exc)}
    aligned = {name: w.to(device=device, dtype=first[name].dtype) for name, w in aligned.items()}
    matched = connectivity.interpolate(model, first, aligned, on_data, points=params["interp_points"])
    return table.merge(matched.rename(columns=lambda c: c if c == "alpha" else f"aligned_{c}"), on="alpha"), info


def _snapshot(model: nn.Module) -> tuple[dict, dict]:
    """The model's state (parameters, buffers) and every module's mode, to hand the user's model back as given."""
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {name: m.training for name, m in model.named_modules()})


def _restore(model: nn.Module, snapshot: tuple[dict, dict]) -> None:
    state, modes = snapshot
    with torch.no_grad():
        model.load_state_dict(state)
    for name, m in model.named_modules():
        m.train(modes.get(name, m.training))


def _first_network(model, problem: Problem, params, data, device, ctx: Context):
    """(curves, parameter checkpoints, initial weights) of the network analysed: the user's checkpoints
    (loaded with their buffers, evaluated in eval mode), or a network trained here."""
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    split = problem.split
    if problem.checkpoints:  # the user's trained weights: no training here
        history, checkpoints = recorded(model, problem, ((split.x_train.to(device), split.y_train.to(device)),
                                                         data[1]))
        if len(checkpoints) > 1:
            initial = checkpoints[0]
        final = history.iloc[-1]
        if not (math.isfinite(final.train_loss) and math.isfinite(final.test_loss)):
            raise Diverged("the last checkpoint's weights give a non-finite loss on the data; check the "
                           "'checkpoint' file (or the factory's data)")
        return history, checkpoints, initial
    history, checkpoints = train(model, problem, params, params["seed"],
                                 lambda e, n, loss: _report(ctx, "train", e / n, f"training: epoch {e}/{n}, "
                                                                                 f"loss {loss:.3f}"),
                                 preview=lambda curves: ctx.preview(Result(tables={"training": curves})))
    if not np.isfinite(history.iloc[-1][["train_loss", "test_loss"]].to_numpy(dtype=float)).all():
        raise Diverged(f"training ended with a non-finite loss; lower 'lr', the learning rate (now {params['lr']:g})")
    return history, checkpoints, initial


def _notes(model, problem: Problem, params, checkpoints, matching) -> pd.DataFrame:
    """Why a view is missing or computed differently than it might be read: shown on the page, kept in result.json."""
    notes = []
    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules()):
        notes.append(("all views", "dropout is off (eval mode) wherever the loss is evaluated; it is on only "
                                   "while a network is trained here"))
    if problem.checkpoints:
        notes.append(("training", f"not trained here: the curves are the {len(checkpoints)} checkpoint(s) of the "
                                  "file, evaluated on the whole training and test sets"))
        others = (f"the second and third networks (seeds {params['second_seed']} and {params['second_seed'] + 1})"
                  if params["three_models"] else f"the second network (seed {params['second_seed']})")
        notes.append(("mode connectivity", f"{others} trained here with the optimizer settings of this page"))
    if len(checkpoints) < 2:
        notes.append(("optimizer path", "skipped: it needs two or more checkpoints; the file holds one"))
    if norm_layers(model):
        if params["norm_policy"] == "eval":
            notes.append(("mode connectivity", "points between networks are evaluated with the first network's "
                                               "norm statistics (norm_policy=eval); recompute uses each point's own"))
        if len(checkpoints) > 1:
            notes.append(("optimizer path", "each checkpoint's curve uses its own norm statistics; points on the "
                                            "PCA plane use the last checkpoint's"))
    if "skipped" in matching:
        notes.append(("mode connectivity", f"weight matching skipped, so no aligned barrier: {matching['skipped']}"))
    return pd.DataFrame(notes, columns=["view", "note"])


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    device = ctx.torch_device()
    ctx.report(0.0, "loading data and model")
    problem = load_problem(params)
    model = problem.make_model(params["seed"])
    snapshot = _snapshot(model)
    home = next(iter(model.state_dict().values()), torch.empty(0)).device
    try:
        model.to(device).eval()
        return _analyse(model, problem, params, device, ctx)
    finally:  # the user's model goes back as it came: weights, running statistics, modes, device
        model.to(home)
        _restore(model, snapshot)


def _analyse(model, problem: Problem, params, device, ctx: Context) -> Result:
    split = problem.split
    # A fixed random subset keeps each surface point cheap; the test set is used whole.
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(params["seed"]))
    subset = subset[: params["eval_samples"]]
    x_eval, y_eval = split.x_train[subset].to(device), split.y_train[subset].to(device)
    data = ((x_eval, y_eval), (split.x_test.to(device), split.y_test.to(device)))

    history, checkpoints, initial = _first_network(model, problem, params, data, device, ctx)
    final = {name: p.detach().clone() for name, p in model.named_parameters()}

    _report(ctx, "interpolation", 0.0, "1D interpolation from initial to trained weights")
    path_1d = interpolation(model, initial, final, data, problem, params["interp_points"])

    eigen, hessian_runs, spectrum = hessian_summary(model, final, x_eval, y_eval, problem, params, ctx)
    directions = plane_directions(final, eigen, params)
    _report(ctx, "surface", 0.0, "2D surface")
    coords = np.linspace(-params["grid_range"], params["grid_range"], params["grid_points"])
    grid = surface(model, final, directions, data, problem, coords, coords, ctx,
                   preview=lambda coarse: ctx.preview(Result(tables={"training": history, "surface": coarse})))
    curvature = curvature_check(model, final, directions, grid, x_eval, y_eval, problem)
    top = pd.DataFrame({"rank": np.arange(1, len(eigen.values) + 1), "eigenvalue": eigen.values,
                        "iterations": eigen.iterations})
    one_d = slices(model, final, data, problem, params, ctx)
    if len(checkpoints) > 1:
        path, path_grid, explained = optimizer_path(model, checkpoints, final, data, problem, params, ctx)
    else:  # a single checkpoint has no path to draw
        path, path_grid, explained = None, None, None

    _report(ctx, "connectivity", 0.0, "mode connectivity: second network")
    second = another_network(params["second_seed"], checkpoints, problem, params, device,
                             lambda e, n, loss: _report(ctx, "connectivity", 0.8 * e / n,
                                                        f"second network (seed {params['second_seed']}): epoch {e}/{n}"))
    connect, matching = mode_connectivity(model, final, second, problem, params, data, device, ctx)
    if params["three_models"]:
        third_seed = params["second_seed"] + 1
        third = another_network(third_seed, checkpoints, problem, params, device,
                                lambda e, n, loss: _report(ctx, "third_network", e / n,
                                                           f"third network (seed {third_seed}): epoch {e}/{n}"))
        plane3, corners = plane_through_three(model, [final, second, third], data, problem,
                                              params["grid_points"], ctx)

    center = grid.loc[(grid.x.abs() + grid.y.abs()).idxmin()]
    inside = path_1d[(path_1d.alpha >= 0) & (path_1d.alpha <= 1)]
    goodfellow = connectivity.barriers(inside.alpha, inside.train_loss)
    naive = connectivity.barriers(connect.alpha, connect.naive_train_loss)
    last = history.iloc[-1]
    metrics = {
        "n_parameters": int(sum(w.numel() for w in final.values())),
        "n_train": int(len(split.x_train)),
        "n_test": int(len(split.x_test)),
        "final_train_loss": float(last.train_loss),
        "final_test_loss": float(last.test_loss),
        "center_train_loss": float(center.train_loss),
        "center_test_loss": float(center.test_loss),
        "surface_min_train_loss": float(grid.train_loss.min()),
        "surface_max_train_loss": float(grid.train_loss.max()),
        "surface_mean_rise": float(grid.train_loss.mean() - center.train_loss),
        "interpolation_barrier": goodfellow["barrier_linear"],
        "hessian_top_eigenvalue": float(hessian_runs.top_eigenvalue.mean()),
        "hessian_top_eigenvalue_sd": float(hessian_runs.top_eigenvalue.std(ddof=0)),
        "hessian_trace": float(hessian_runs.trace.mean()),
        "hessian_trace_sd": float(hessian_runs.trace.std(ddof=0)),
        "barrier_naive": naive["barrier_mean"],
        "barrier_naive_linear": naive["barrier_linear"],
    }
    if problem.classification:
        metrics.update(final_train_accuracy=float(last.train_accuracy), final_test_accuracy=float(last.test_accuracy))
    if "aligned_train_loss" in connect:
        aligned = connectivity.barriers(connect.alpha, connect.aligned_train_loss)
        metrics.update(barrier_aligned=aligned["barrier_mean"], barrier_aligned_linear=aligned["barrier_linear"],
                       weight_matching_iterations=int(matching["iterations"]))
    tables = {"training": history, "interpolation": path_1d, "surface": grid, "slices": one_d,
              "hessian_top": top, "hessian_runs": hessian_runs, "hessian_spectrum": spectrum, "curvature_check": curvature,
              "mode_connectivity": connect, "notes": _notes(model, problem, params, checkpoints, matching)}
    if params["three_models"]:
        tables.update(three_model_plane=plane3, three_model_points=corners)
    if path is not None:
        metrics.update(trajectory_explained_variance=float(sum(explained)),
                       trajectory_max_relative_residual=float(path.relative_residual.max()))
        tables.update(trajectory=path, trajectory_surface=path_grid)
    return Result(metrics=metrics, tables=tables, provenance={"device": device, "torch_threads": torch.get_num_threads()})
