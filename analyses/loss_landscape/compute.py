"""Train, then probe the loss around the solution: curves, 1D interpolation, 2D surface."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from analyses.core import Context, Result

from .data import load_split
from .directions import filter_normalized_direction, offset
from .models import build_model

# Shares of the progress bar given to each phase.
TRAIN, INTERP, SURFACE = 0.45, 0.1, 0.45


@torch.no_grad()
def evaluate(model: nn.Module, weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` with its parameters replaced by `weights`."""
    logits = functional_call(model, weights, (x,))
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def train(model: nn.Module, split, params: Mapping[str, Any], ctx: Context, device: str) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(params["seed"])
    if params["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"])
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
        ctx.report(TRAIN * epoch / epochs, f"training: epoch {epoch}/{epochs}, loss {rows[-1]['train_loss']:.3f}")
    return pd.DataFrame(rows)


def interpolation(model, start, end, data, points: int) -> pd.DataFrame:
    """Goodfellow et al.'s 1D path theta(alpha) = (1 - alpha) theta_0 + alpha theta_1, a little past both ends."""
    alphas = np.union1d(np.linspace(-0.25, 1.25, points), [0.0, 1.0])
    difference = {name: end[name] - start[name] for name in end}
    rows = []
    for alpha in alphas:
        weights = offset(start, [(float(alpha), difference)])
        rows.append({"alpha": float(alpha), **_losses(model, weights, data)})
    return pd.DataFrame(rows)


def surface(model, center, directions, data, points: int, span: float, ctx: Context) -> pd.DataFrame:
    """Loss and accuracy on the plane center + a*d1 + b*d2 for a, b in [-span, span]."""
    coords = np.linspace(-span, span, points)
    rows = []
    for i, b in enumerate(coords):
        for a in coords:
            weights = offset(center, [(float(a), directions[0]), (float(b), directions[1])])
            rows.append({"x": float(a), "y": float(b), **_losses(model, weights, data)})
        ctx.report(TRAIN + INTERP + SURFACE * (i + 1) / points, f"surface: row {i + 1}/{points}")
    return pd.DataFrame(rows)


def _losses(model, weights, data) -> dict[str, float]:
    (x, y), (x_test, y_test) = data
    train_loss, train_acc = evaluate(model, weights, x, y)
    test_loss, test_acc = evaluate(model, weights, x_test, y_test)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc}


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.limit_torch_threads()
    device = ctx.torch_device()
    ctx.report(0.0, "loading data")
    split = load_split(params["dataset"], params["data_file"], params["test_fraction"], params["seed"])
    torch.manual_seed(params["seed"])
    model = build_model(params["model"], split.x_train.shape[1], split.n_classes, params["width"],
                        params["depth"], split.image_shape).to(device)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}

    history = train(model, split, params, ctx, device)
    final = {name: p.detach().clone() for name, p in model.named_parameters()}

    # A fixed random subset keeps each surface point cheap; the test set is used whole.
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(params["seed"]))
    subset = subset[: params["eval_samples"]]
    data = ((split.x_train[subset].to(device), split.y_train[subset].to(device)),
            (split.x_test.to(device), split.y_test.to(device)))

    ctx.report(TRAIN, "1D interpolation from initial to trained weights")
    path = interpolation(model, initial, final, data, params["interp_points"])

    generator = torch.Generator().manual_seed(params["direction_seed"])
    cpu_final = {name: w.cpu() for name, w in final.items()}
    directions = [{n: d.to(device) for n, d in filter_normalized_direction(cpu_final, generator).items()}
                  for _ in range(2)]
    ctx.report(TRAIN + INTERP, "2D surface")
    grid = surface(model, final, directions, data, params["grid_points"], params["grid_range"], ctx)

    center = grid.loc[(grid.x.abs() + grid.y.abs()).idxmin()]
    inside = path[(path.alpha >= 0) & (path.alpha <= 1)]
    chord = inside.train_loss.iloc[0] + inside.alpha * (inside.train_loss.iloc[-1] - inside.train_loss.iloc[0])
    last = history.iloc[-1]
    metrics = {
        "n_parameters": int(sum(w.numel() for w in final.values())),
        "n_train": int(len(split.x_train)),
        "n_test": int(len(split.x_test)),
        "final_train_loss": float(last.train_loss),
        "final_train_accuracy": float(last.train_accuracy),
        "final_test_loss": float(last.test_loss),
        "final_test_accuracy": float(last.test_accuracy),
        "surface_center_train_loss": float(center.train_loss),
        "surface_center_test_loss": float(center.test_loss),
        "surface_min_train_loss": float(grid.train_loss.min()),
        "surface_max_train_loss": float(grid.train_loss.max()),
        "surface_mean_rise": float(grid.train_loss.mean() - center.train_loss),
        "interpolation_barrier": float((inside.train_loss - chord).max()),
    }
    return Result(metrics=metrics, tables={"training": history, "interpolation": path, "surface": grid},
                  provenance={"device": device, "torch_threads": torch.get_num_threads()})
