"""One cell of the phase diagram: several networks at one (width, learning rate), and how they relate.

Per cell (after "A Model Zoo on Phase Transitions in Neural Networks"): test accuracy, local sharpness
(top Hessian eigenvalue and trace), global connectivity (loss barrier between seeds) and similarity
(linear CKA between seeds' penultimate representations), each averaged over seeds or seed pairs.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping

import pandas as pd
import torch

from analyses.core import Context, Result
from analyses.loss_landscape import connectivity, hessian
from analyses.loss_landscape.training import (curves, losses, network_model, network_problem, network_settings,
                                              trained_network)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019): 1 for representations equal up to rotation and scale."""
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = (y.T @ x).norm() ** 2
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


def compute_cell(params: Mapping[str, Any], ctx: Context | None = None) -> Result:
    """`params`: dataset, width, train_size (0: all), depth, lr, epochs, batch_size, seeds, label_noise,
    eval_samples, data_seed.

    Each seed's network is the loss landscape's (`trained_network`): a loss-landscape run with the same
    settings (seed = data_seed = the network's seed) reads it back, and this cell reads back the networks
    such runs trained."""
    ctx = ctx or Context(device="cpu")
    settings = [network_settings(dataset=params["dataset"], width=params["width"], depth=params["depth"],
                                 lr=params["lr"], epochs=params["epochs"], batch_size=params["batch_size"], seed=seed,
                                 data_seed=params["data_seed"], train_samples=params["train_size"],
                                 label_noise=params["label_noise"]) for seed in range(params["seeds"])]
    problem = network_problem(settings[0])
    split = problem.split
    subset = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(0))[: params["eval_samples"]]
    x_eval, y_eval = split.x_train[subset], split.y_train[subset]
    data = ((x_eval, y_eval), (split.x_test, split.y_test))

    nets, rows = [], []
    for seed, network in enumerate(settings):
        trained = trained_network(ctx, network, "cpu", stop_above=None)  # hot cells may blow up and settle
        with network_model(problem, seed, "cpu", _final(trained)) as model:
            weights = {n: p.detach().clone() for n, p in model.named_parameters()}
            loss_fn = hessian.make_loss_fn(model, x_eval, y_eval)
            generator = torch.Generator().manual_seed(seed)
            top = hessian.top_eigenpairs(loss_fn, weights, k=1, max_iter=100, tol=1e-3, generator=generator).values[0]
            trace, _ = hessian.hutchinson_trace(loss_fn, weights, samples=16, generator=generator)
            with torch.no_grad():
                representation = model[:-1](split.x_test)
        nets.append((model.eval(), weights, representation))
        last = curves(trained).iloc[-1]
        rows.append({"seed": seed, "test_accuracy": last.test_accuracy, "train_loss": last.train_loss,
                     "lambda_max": top, "trace": trace})

    pairs = []
    for (i, (model, a, ra)), (j, (_, b, rb)) in combinations(enumerate(nets), 2):
        path = connectivity.interpolate(model, a, b, lambda w: losses(model, w, data, problem), points=11)
        barrier = connectivity.barriers(path.alpha, path.train_loss)["barrier_mean"]
        pairs.append({"seed_a": i, "seed_b": j, "barrier": barrier, "cka": linear_cka(ra, rb)})
    seeds, pairs = pd.DataFrame(rows), pd.DataFrame(pairs)
    metrics = {"test_accuracy": float(seeds.test_accuracy.mean()), "lambda_max": float(seeds.lambda_max.mean()),
               "trace": float(seeds.trace.mean()), "barrier": float(pairs.barrier.mean()),
               "cka": float(pairs.cka.mean())}
    return Result(metrics=metrics, tables={"seeds": seeds, "pairs": pairs})


def _final(trained: Result) -> dict:
    """The trained network's full state dict (as arrays)."""
    return {name[len("final/"):]: a for name, a in trained.arrays.items() if name.startswith("final/")}
