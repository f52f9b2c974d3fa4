"""The 2D surface and the top Hessian eigenvalue: labscope against the reference approaches, in one run.

Surface references, both setting theta + a*d1 + b*d2 into the model at every grid point and running one
full evaluation pass:
- "reference code": the pass as tomgoldstein/loss-landscape's `evaluation.eval_loss` makes it: a
  DataLoader over the evaluation set in batches of 128 (its default batch size), criterion
  nn.CrossEntropyLoss, loss and accuracy accumulated per batch with `.item()`; weights set as its
  `set_weights` does (`p.data = w + d`);
- "tight loop": the whole evaluation set as one batch, loss only: the fastest plain per-point loop.
Hessian reference: plain power iteration with torch.autograd Hessian-vector products (a fresh double
backward per product), same tolerance.

    python benchmarks/surface_vs_reference.py [--points 51] [--samples 1000] [--width 128] [--depth 2]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from analyses.core import Context
from analyses.loss_landscape import hessian
from analyses.loss_landscape.compute import surface
from analyses.loss_landscape.data import load_split
from analyses.loss_landscape.directions import filter_normalized_direction
from analyses.loss_landscape.models import build_model
from analyses.loss_landscape.problem import Problem


@torch.no_grad()
def reference_surface(model, center, d1, d2, xs, ys, x, y) -> np.ndarray:
    params = dict(model.named_parameters())
    losses = np.empty((len(ys), len(xs)))
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            for name, p in params.items():
                p.copy_(center[name] + a * d1[name] + b * d2[name])
            losses[j, i] = nn.functional.cross_entropy(model(x), y).item()
    for name, p in params.items():
        p.copy_(center[name])
    return losses


@torch.no_grad()
def reference_code_surface(model, center, d1, d2, xs, ys, x, y) -> np.ndarray:
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=False)
    criterion = nn.CrossEntropyLoss()
    losses = np.empty((len(ys), len(xs)))
    model.eval()
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            for name, p in model.named_parameters():
                p.data = center[name] + a * d1[name] + b * d2[name]
            total, correct, seen = 0.0, 0, 0
            for inputs, targets in loader:
                outputs = model(inputs)
                total += criterion(outputs, targets).item() * len(targets)
                correct += outputs.max(1)[1].eq(targets).sum().item()
                seen += len(targets)
            losses[j, i] = total / seen
    for name, p in model.named_parameters():
        p.data = center[name].clone()
    return losses


def reference_top_eigenvalue(model, x, y, tol=1e-4, max_iter=200, seed=0) -> float:
    params = [p for p in model.parameters()]
    v = [torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) for p in params]
    norm = torch.sqrt(sum((t ** 2).sum() for t in v))
    v = [t / norm for t in v]
    value = None
    for step in range(1, max_iter + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        norm = torch.sqrt(sum((t ** 2).sum() for t in hv))
        v = [t / norm for t in hv]
        if value is not None and abs(new - value) <= tol * abs(value):
            return new, step
        value = new
    return value, max_iter


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=51)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = load_split("digits", None, 0.25, 0)
    x, y = split.x_train[: args.samples], split.y_train[: args.samples]
    torch.manual_seed(0)
    model = build_model("mlp", 64, 10, args.width, args.depth)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(200):  # a briefly trained model, so the Hessian is not that of a random init
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    d1, d2 = filter_normalized_direction(center, g), filter_normalized_direction(center, g)
    xs = ys = np.linspace(-1, 1, args.points)
    problem = Problem(split, lambda seed: model)
    data = ((x, y), (x[:1], y[:1]))  # the reference evaluates one set; so does this run, in effect

    def timed(f):
        t0 = time.perf_counter()
        out = f()
        return out, time.perf_counter() - t0

    ours, t_ours = timed(lambda: surface(model, center, [d1, d2], data, problem, xs, ys, Context()))
    ours = ours.pivot(index="y", columns="x", values="train_loss").to_numpy()
    tight, t_tight = timed(lambda: reference_surface(model, center, d1, d2, xs, ys, x, y))
    code, t_code = timed(lambda: reference_code_surface(model, center, d1, d2, xs, ys, x, y))
    n = sum(p.numel() for p in center.values())
    per_point = 1e3 / args.points ** 2
    print(f"MLP 64-{'-'.join([str(args.width)] * args.depth)}-10 ({n:,} parameters), {args.samples} samples, 1 thread")
    print(f"surface {args.points}x{args.points} (labscope also reports accuracy and a 1-sample test pass per point):")
    print(f"  reference code's evaluation: {t_code:.2f} s ({t_code * per_point:.2f} ms/point), labscope "
          f"{t_ours:.2f} s ({t_ours * per_point:.2f} ms/point): {t_code / t_ours:.1f}x, "
          f"max |diff| {np.abs(ours - code).max():.1e}")
    print(f"  tight one-batch loop:        {t_tight:.2f} s ({t_tight * per_point:.2f} ms/point): "
          f"{t_tight / t_ours:.2f}x, max |diff| {np.abs(ours - tight).max():.1e}")

    found, t_ours = timed(lambda: hessian.top_eigenpairs(hessian.make_loss_fn(model, x, y), center, k=1,
                                                         generator=torch.Generator().manual_seed(0)))
    (ref_eig, ref_steps), t_ref = timed(lambda: reference_top_eigenvalue(model, x, y))
    ours_eig, ours_steps = found.values[0], found.iterations[0]
    print(f"top Hessian eigenvalue (relative tolerance 1e-4): reference {t_ref:.2f} s, {ref_steps} products "
          f"({ref_eig:.5f}); labscope {t_ours:.2f} s, {ours_steps} products ({ours_eig:.5f}); "
          f"ratio {t_ref / t_ours:.2f}x, per product {t_ref / ref_steps / (t_ours / ours_steps):.2f}x")
