"""One cell of the phase diagram: several networks at one (width, learning rate), and how they relate.

Per cell (after "A Model Zoo on Phase Transitions in Neural Networks"): test accuracy, local sharpness
(top Hessian eigenvalue and trace), global connectivity (loss barrier between seeds) and similarity
(linear CKA between seeds' penultimate representations), each averaged over seeds or seed pairs.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from analyses.core import Result
from analyses.loss_landscape import connectivity, hessian
from analyses.loss_landscape.compute import _losses, train
from analyses.loss_landscape.problem import builtin


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019): 1 for representations equal up to rotation and scale."""
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = (y.T @ x).norm() ** 2
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


def with_label_noise(labels: torch.Tensor, fraction: float, classes: int, seed: int) -> torch.Tensor:
    """Move `fraction` of the labels, chosen at random, to another class chosen at random."""
    if fraction <= 0:
        return labels
    rng = np.random.default_rng(seed)
    noisy = labels.clone()
    flip = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    shift = torch.from_numpy(rng.integers(1, classes, size=len(flip)))
    noisy[flip] = (labels[flip] + shift) % classes
    return noisy


def compute_cell(params: Mapping[str, Any]) -> Result:
    """`params`: dataset, width, train_size (0: all), depth, lr, epochs, batch_size, seeds, label_noise,
    eval_samples, data_seed."""
    base = {"dataset": params["dataset"], "data_file": None, "test_fraction": 0.25, "seed": params["data_seed"],
            "train_samples": params["train_size"],
            "model": "mlp", "width": params["width"], "depth": params["depth"], "norm": "none",
            "norm_policy": "eval", "optimizer": "sgd", "lr": params["lr"], "weight_decay": 0.0,
            "batch_size": params["batch_size"], "epochs": params["epochs"]}
    problem = builtin(base)
    split = problem.split
    split.y_train = with_label_noise(split.y_train, params["label_noise"], split.n_classes, params["data_seed"])
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(0))[: params["eval_samples"]]
    x_eval, y_eval = split.x_train[subset], split.y_train[subset]
    data = ((x_eval, y_eval), (split.x_test, split.y_test))

    nets, rows = [], []
    for seed in range(params["seeds"]):
        model = problem.make_model(seed)
        history, _ = train(model, problem, base, seed, lambda *_: None, exploding=None)  # hot cells may blow up
        weights = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss_fn = hessian.make_loss_fn(model, x_eval, y_eval)
        generator = torch.Generator().manual_seed(seed)
        top = hessian.top_eigenpairs(loss_fn, weights, k=1, max_iter=100, tol=1e-3, generator=generator).values[0]
        trace, _ = hessian.hutchinson_trace(loss_fn, weights, samples=16, generator=generator)
        with torch.no_grad():
            representation = model[:-1](split.x_test)
        nets.append((model, weights, representation))
        last = history.iloc[-1]
        rows.append({"seed": seed, "test_accuracy": last.test_accuracy, "train_loss": last.train_loss,
                     "lambda_max": top, "trace": trace})

    pairs = []
    for (i, (model, a, ra)), (j, (_, b, rb)) in combinations(enumerate(nets), 2):
        path = connectivity.interpolate(model, a, b, lambda w: _losses(model, w, data, problem), points=11)
        barrier = connectivity.barriers(path.alpha, path.train_loss)["barrier_mean"]
        pairs.append({"seed_a": i, "seed_b": j, "barrier": barrier, "cka": linear_cka(ra, rb)})
    seeds, pairs = pd.DataFrame(rows), pd.DataFrame(pairs)
    metrics = {"test_accuracy": float(seeds.test_accuracy.mean()), "lambda_max": float(seeds.lambda_max.mean()),
               "trace": float(seeds.trace.mean()), "barrier": float(pairs.barrier.mean()),
               "cka": float(pairs.cka.mean())}
    return Result(metrics=metrics, tables={"seeds": seeds, "pairs": pairs})
