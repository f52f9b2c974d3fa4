"""The 2D surface and the top Hessian eigenvalue: labscope against the reference approaches, in one run.

Surface reference (Li et al.'s code): for every grid point, write theta + a*d1 + b*d2 into the model
and run one full evaluation pass. Hessian reference: plain power iteration with torch.autograd
Hessian-vector products (a fresh double backward per product), same tolerance.

    python benchmarks/surface_vs_reference.py [--points 51] [--samples 1000] [--width 128] [--depth 2]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

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


def reference_top_eigenvalue(model, x, y, tol=1e-4, max_iter=200, seed=0) -> float:
    params = [p for p in model.parameters()]
    v = [torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) for p in params]
    norm = torch.sqrt(sum((t ** 2).sum() for t in v))
    v = [t / norm for t in v]
    value = None
    for _ in range(max_iter):
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        norm = torch.sqrt(sum((t ** 2).sum() for t in hv))
        v = [t / norm for t in hv]
        if value is not None and abs(new - value) <= tol * abs(value):
            return new
        value = new
    return value


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

    t0 = time.perf_counter()
    ours = surface(model, center, [d1, d2], data, problem, xs, ys, Context())
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference_surface(model, center, d1, d2, xs, ys, x, y)
    t_ref = time.perf_counter() - t0
    diff = float(np.abs(ours.pivot(index="y", columns="x", values="train_loss").to_numpy() - ref).max())
    n = sum(p.numel() for p in center.values())
    print(f"MLP 64-{'-'.join([str(args.width)] * args.depth)}-10 ({n:,} parameters), {args.samples} samples, 1 thread")
    print(f"surface {args.points}x{args.points}: reference {t_ref:.2f} s, labscope {t_ours:.2f} s "
          f"(includes a 1-sample test pass per point), ratio {t_ref / t_ours:.2f}x, max |diff| {diff:.1e}")

    t0 = time.perf_counter()
    ours_eig = hessian.top_eigenpairs(hessian.make_loss_fn(model, x, y), center, k=1,
                                      generator=torch.Generator().manual_seed(0)).values[0]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_eig = reference_top_eigenvalue(model, x, y)
    t_ref = time.perf_counter() - t0
    print(f"top Hessian eigenvalue: reference {t_ref:.2f} s ({ref_eig:.5f}), labscope {t_ours:.2f} s "
          f"({ours_eig:.5f}), ratio {t_ref / t_ours:.2f}x")
