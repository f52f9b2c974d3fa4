"""Train, then probe the loss around the solution: curves, 1D path, 2D surface, Hessian, connectivity."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from analyses.core import Context, Result

from . import connectivity, hessian
from .data import load_split
from .directions import filter_normalized_direction, offset
from .models import build_model

# Shares of the progress bar given to each phase, in order.
PHASES = {"train": 0.3, "interpolation": 0.05, "surface": 0.35, "hessian": 0.15, "connectivity": 0.15}


def _phase_start(name: str) -> float:
    names = list(PHASES)
    return sum(PHASES[n] for n in names[: names.index(name)])


def _report(ctx: Context, phase: str, done: float, message: str) -> None:
    ctx.report(_phase_start(phase) + PHASES[phase] * done, message)


@torch.no_grad()
def evaluate(model: nn.Module, weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` with its parameters replaced by `weights`."""
    logits = functional_call(model, weights, (x,))
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def train(model: nn.Module, split, params: Mapping[str, Any], seed: int, progress) -> pd.DataFrame:
    """Train in place; `progress(epoch, epochs, loss)` after each epoch. Returns the curves."""
    generator = torch.Generator().manual_seed(seed)
    if params["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"])
    device = next(model.parameters()).device
    x, y = split.x_train.to(device), split.y_train.to(device)
    x_test, y_test = split.x_test.to(device), split.y_test.to(device)
    rows = []

    def record(epoch: int) -> None:
        weights = dict(model.named_parameters())
        train_loss, train_acc = evaluate(model, weights, x, y)
        test_loss, test_acc = evaluate(model, weights, x_test, y_test)
        rows.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc,
                     "test_loss": test_loss, "test_accuracy": test_acc})

    record(0)
    epochs = params["epochs"]
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), params["batch_size"]):
            batch = order[start:start + params["batch_size"]]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (loss {loss.item()}); lower 'lr' (now {params['lr']:g})")
            loss.backward()
            optimizer.step()
        model.eval()
        record(epoch)
        progress(epoch, epochs, rows[-1]["train_loss"])
    return pd.DataFrame(rows)


def _losses(model, weights, data) -> dict[str, float]:
    (x, y), (x_test, y_test) = data
    train_loss, train_acc = evaluate(model, weights, x, y)
    test_loss, test_acc = evaluate(model, weights, x_test, y_test)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc}


def interpolation(model, start, end, data, points: int) -> pd.DataFrame:
    """Goodfellow et al.'s 1D path theta(alpha) = (1 - alpha) theta_0 + alpha theta_1, a little past both ends."""
    alphas = np.union1d(np.linspace(-0.25, 1.25, points), [0.0, 1.0])
    difference = {name: end[name] - start[name] for name in end}
    return pd.DataFrame([{"alpha": float(alpha), **_losses(model, offset(start, [(float(alpha), difference)]), data)}
                         for alpha in alphas])


def surface(model, center, directions, data, points: int, span: float, ctx: Context) -> pd.DataFrame:
    """Loss and accuracy on the plane center + a*d1 + b*d2 for a, b in [-span, span]."""
    coords = np.linspace(-span, span, points)
    rows = []
    for i, b in enumerate(coords):
        for a in coords:
            weights = offset(center, [(float(a), directions[0]), (float(b), directions[1])])
            rows.append({"x": float(a), "y": float(b), **_losses(model, weights, data)})
        _report(ctx, "surface", (i + 1) / points, f"surface: row {i + 1}/{points}")
    return pd.DataFrame(rows)


def hessian_summary(model, center, directions, grid: pd.DataFrame, x, y, params, ctx: Context):
    """Top eigenvalues, trace, spectral density at the solution, and the curvature consistency check.

    The check compares d^T H d (Hessian-vector products) with the second difference of the
    plotted surface along the same direction, which is what the picture's curvature shows.
    """
    loss_fn = hessian.make_loss_fn(model, x, y)
    weights = {name: w.detach() for name, w in center.items()}
    generator = torch.Generator().manual_seed(params["seed"])
    _report(ctx, "hessian", 0.0, "Hessian: top eigenvalues")
    eigen = hessian.top_eigenpairs(loss_fn, weights, k=params["hessian_top_k"], generator=generator)
    _report(ctx, "hessian", 0.5, "Hessian: trace")
    trace, trace_se = hessian.hutchinson_trace(loss_fn, weights, samples=params["hessian_samples"], generator=generator)
    _report(ctx, "hessian", 0.7, "Hessian: spectral density")
    grid_values, density = hessian.lanczos_density(loss_fn, weights, steps=params["lanczos_steps"], runs=2,
                                                   generator=generator)
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
    top = pd.DataFrame({"rank": np.arange(1, len(eigen.values) + 1), "eigenvalue": eigen.values,
                        "iterations": eigen.iterations})
    spectrum = pd.DataFrame({"eigenvalue": grid_values, "density": density})
    return top, (trace, trace_se), spectrum, pd.DataFrame(rows)


def mode_connectivity(model, first, split, params, data, device, ctx: Context):
    """Train a second network from another seed; interpolate to it naively and after weight matching."""
    torch.manual_seed(params["second_seed"])
    second_model = build_model(params["model"], split.x_train.shape[1], split.n_classes, params["width"],
                               params["depth"], split.image_shape).to(device)
    train(second_model, split, params, params["second_seed"],
          lambda e, n, loss: _report(ctx, "connectivity", 0.8 * e / n, f"second network (seed {params['second_seed']}): "
                                                                         f"epoch {e}/{n}"))
    second = {name: p.detach().clone() for name, p in second_model.named_parameters()}
    _report(ctx, "connectivity", 0.85, "weight matching")
    aligned, info = connectivity.weight_matching(model, first, second, seed=params["seed"])
    aligned = {name: w.to(device=device, dtype=first[name].dtype) for name, w in aligned.items()}

    def on_data(weights):
        return _losses(model, weights, data)

    naive = connectivity.interpolate(model, first, second, on_data, points=params["interp_points"])
    matched = connectivity.interpolate(model, first, aligned, on_data, points=params["interp_points"])
    table = naive.rename(columns=lambda c: c if c == "alpha" else f"naive_{c}").merge(
        matched.rename(columns=lambda c: c if c == "alpha" else f"aligned_{c}"), on="alpha")
    return table, info


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    device = ctx.torch_device()
    ctx.report(0.0, "loading data")
    split = load_split(params["dataset"], params["data_file"], params["test_fraction"], params["seed"])
    torch.manual_seed(params["seed"])
    model = build_model(params["model"], split.x_train.shape[1], split.n_classes, params["width"],
                        params["depth"], split.image_shape).to(device)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}

    history = train(model, split, params, params["seed"],
                    lambda e, n, loss: _report(ctx, "train", e / n, f"training: epoch {e}/{n}, loss {loss:.3f}"))
    final = {name: p.detach().clone() for name, p in model.named_parameters()}

    # A fixed random subset keeps each surface point cheap; the test set is used whole.
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(params["seed"]))
    subset = subset[: params["eval_samples"]]
    x_eval, y_eval = split.x_train[subset].to(device), split.y_train[subset].to(device)
    data = ((x_eval, y_eval), (split.x_test.to(device), split.y_test.to(device)))

    _report(ctx, "interpolation", 0.0, "1D interpolation from initial to trained weights")
    path = interpolation(model, initial, final, data, params["interp_points"])

    generator = torch.Generator().manual_seed(params["direction_seed"])
    cpu_final = {name: w.cpu() for name, w in final.items()}
    directions = [{n: d.to(device) for n, d in filter_normalized_direction(cpu_final, generator).items()}
                  for _ in range(2)]
    _report(ctx, "surface", 0.0, "2D surface")
    grid = surface(model, final, directions, data, params["grid_points"], params["grid_range"], ctx)

    top, (trace, trace_se), spectrum, curvature = hessian_summary(model, final, directions, grid, x_eval, y_eval,
                                                                 params, ctx)
    _report(ctx, "connectivity", 0.0, "mode connectivity: second network")
    connect, matching = mode_connectivity(model, final, split, params, data, device, ctx)

    center = grid.loc[(grid.x.abs() + grid.y.abs()).idxmin()]
    inside = path[(path.alpha >= 0) & (path.alpha <= 1)]
    goodfellow = connectivity.barriers(inside.alpha, inside.train_loss)
    naive = connectivity.barriers(connect.alpha, connect.naive_train_loss)
    aligned = connectivity.barriers(connect.alpha, connect.aligned_train_loss)
    last = history.iloc[-1]
    metrics = {
        "n_parameters": int(sum(w.numel() for w in final.values())),
        "n_train": int(len(split.x_train)),
        "n_test": int(len(split.x_test)),
        "final_train_loss": float(last.train_loss),
        "final_train_accuracy": float(last.train_accuracy),
        "final_test_loss": float(last.test_loss),
        "final_test_accuracy": float(last.test_accuracy),
        "center_train_loss": float(center.train_loss),
        "center_test_loss": float(center.test_loss),
        "surface_min_train_loss": float(grid.train_loss.min()),
        "surface_max_train_loss": float(grid.train_loss.max()),
        "surface_mean_rise": float(grid.train_loss.mean() - center.train_loss),
        "interpolation_barrier": goodfellow["barrier_linear"],
        "hessian_top_eigenvalue": float(top.eigenvalue.iloc[0]),
        "hessian_trace": float(trace),
        "hessian_trace_stderr": float(trace_se),
        "barrier_naive": naive["barrier_mean"],
        "barrier_aligned": aligned["barrier_mean"],
        "barrier_naive_linear": naive["barrier_linear"],
        "barrier_aligned_linear": aligned["barrier_linear"],
        "weight_matching_iterations": int(matching["iterations"]),
    }
    tables = {"training": history, "interpolation": path, "surface": grid, "hessian_top": top,
              "hessian_spectrum": spectrum, "curvature_check": curvature, "mode_connectivity": connect}
    return Result(metrics=metrics, tables=tables, provenance={"device": device, "torch_threads": torch.get_num_threads()})
