"""Training a network, the one part of the loss landscape other analyses share (the phase diagram).

`trained_network(ctx, network_settings(...))` trains a network (or evaluates a user's checkpoints) and
caches it under one entry, `loss_landscape.network`, keyed by its settings and this module's code (and
what it imports): a phase-diagram cell and a loss-landscape run with the same settings train it once.
The result holds what the cache keeps exactly: the curves, and the weights as arrays (`arrays_of`,
`state_of` turn them back into tensors).

A run that blows up is stopped where the caller says (`stop_above`, the loss landscape's 10x the
initial loss) and then caches nothing; without a limit (a phase diagram's hot cells are meant to blow
up and settle) the point where it would have stopped is recorded, so a later loss-landscape run
reading the same entry still refuses it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from analyses.core import Context, Result
from analyses.core.cache import cache_key
from analyses.core.errors import Diverged

from .problem import Problem, cross_entropy
from .problem import load as load_problem
from .tables import frame_from_arrays, frame_to_arrays

NETWORK = "loss_landscape.network"  # the shared entry's name
# A batch loss this many times the initial loss means training has blown up (a finite 1e11 surface otherwise).
EXPLODING = 10.0
# The loss-landscape parameters a network depends on: the problem (data and model), then its training.
PROBLEM_READS = ("dataset", "data_file", "test_fraction", "train_samples", "model", "custom_model", "checkpoint",
                 "width", "depth", "norm", "norm_policy", "seed")
TRAINING_READS = ("optimizer", "lr", "weight_decay", "batch_size", "epochs")


def network_settings(*, dataset: str, width: int, depth: int, lr: float, epochs: int, batch_size: int, seed: int,
                     data_seed: int, train_samples: int = 0, label_noise: float = 0.0, data_file: str | None = None,
                     test_fraction: float = 0.25, model: str = "mlp", norm: str = "none", norm_policy: str = "eval",
                     optimizer: str = "sgd", weight_decay: float = 0.0, custom_model: str = "",
                     checkpoint: str | None = None) -> dict[str, Any]:
    """Everything a trained network depends on, as plain values (its cache key); defaults are the loss
    landscape's. `data_seed` splits the data, `seed` initialises the network and orders its batches."""
    return {"dataset": dataset, "data_file": data_file, "test_fraction": test_fraction, "train_samples": train_samples,
            "label_noise": label_noise, "data_seed": data_seed, "model": model, "custom_model": custom_model,
            "checkpoint": checkpoint, "width": width, "depth": depth, "norm": norm, "norm_policy": norm_policy,
            "optimizer": optimizer, "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size,
            "epochs": epochs, "seed": seed}


def landscape_network(params: Mapping[str, Any], seed: int | None = None) -> dict[str, Any]:
    """The settings of a loss-landscape run's network: its data split follows `seed`, as does the first
    network (`seed=None`); a further network differs by its own seed."""
    own = {name: params[name] for name in PROBLEM_READS + TRAINING_READS if name != "seed"}
    return network_settings(**own, data_seed=params["seed"], seed=params["seed"] if seed is None else seed)


def network_entry(settings: Mapping[str, Any]) -> tuple[str, str]:
    """The shared entry's (name, key): the settings and the code of this module and what it imports."""
    from analyses.core.code_version import digest

    return NETWORK, cache_key(NETWORK, digest([Path(__file__)]), dict(settings))


def trained_network(ctx: Context, settings: Mapping[str, Any], device: str | None = None,
                    stop_above: float | None = None, progress: Callable[[int, int, float], None] | None = None
                    ) -> Result:
    """The trained network of these settings, from the shared entry or trained now (and stored there);
    on `device`, by default the context's."""
    def compute() -> Result:
        return train_network(settings, device or ctx.torch_device(), stop_above, progress)

    if ctx.store is None:
        return compute()
    return ctx.store.get_or_compute(*network_entry(settings), compute).result


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


PROBLEM_SETTINGS = ("dataset", "data_file", "test_fraction", "train_samples", "label_noise", "data_seed", "model",
                    "custom_model", "checkpoint", "width", "depth", "norm", "norm_policy")


def network_problem(settings: Mapping[str, Any]) -> Problem:
    """Data, model factory and loss of these settings (training settings aside); built-in data sets are built
    once per process."""
    own = {name: settings[name] for name in PROBLEM_SETTINGS}
    if own["dataset"] != "csv" and own["model"] != "custom":
        return _builtin_problem(tuple(sorted(own.items())))
    return _problem(own)


def landscape_problem(params: Mapping[str, Any]) -> Problem:
    """The problem of a loss-landscape run (its PROBLEM_READS)."""
    own = {name: params[name] for name in PROBLEM_READS if name != "seed"}
    return network_problem({**own, "label_noise": 0.0, "data_seed": params["seed"]})


@lru_cache(maxsize=4)
def _builtin_problem(items: tuple) -> Problem:
    return _problem(dict(items))


def _problem(settings: Mapping[str, Any]) -> Problem:
    problem = load_problem({**settings, "seed": settings["data_seed"]})
    split = problem.split
    split.y_train = with_label_noise(split.y_train, settings["label_noise"], split.n_classes, settings["data_seed"])
    return problem


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


def losses(model, weights, data, problem: Problem) -> dict[str, float]:
    """Train and test loss and accuracy of `model` with these parameters; data = ((x, y), (x_test, y_test))."""
    (x, y), (x_test, y_test) = data
    train_loss, train_acc = evaluate(model, weights, x, y, problem.loss, problem.classification, problem.norm_policy)
    test_loss, test_acc = evaluate(model, weights, x_test, y_test, problem.loss, problem.classification,
                                   problem.norm_policy)
    return {"train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc}


def train(model: nn.Module, problem: Problem, settings: Mapping[str, Any], seed: int, progress,
          first_epoch: int = 0, preview=None, exploding: float | None = EXPLODING,
          blowups: list | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Train in place from `first_epoch` to settings["epochs"]; `progress(epoch, epochs, loss)` after each,
    and `preview(curves so far)` if given.

    A non-finite batch loss, or one above `exploding` times the initial loss, stops training with
    `Diverged` (naming 'lr'); `exploding=None` lets a loss blow up and settle, and `blowups` (a list)
    then receives (epoch, loss, initial) of the first batch above EXPLODING times the initial loss.

    Returns the curves and a copy of the weights after every epoch (the first is the start),
    for the trajectory and for spawning a second network. `seed` sets the batch order.
    """
    generator = torch.Generator().manual_seed(seed)
    if settings["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9,
                                    weight_decay=settings["weight_decay"])
    else:  # AdamW: decoupled weight decay, which is what lets modular addition generalise
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    device = next(model.parameters()).device
    split = problem.split
    x, y = split.x_train.to(device), split.y_train.to(device)
    data = ((x, y), (split.x_test.to(device), split.y_test.to(device)))
    rows, checkpoints = [], []

    def record(epoch: int) -> None:
        weights = dict(model.named_parameters())
        checkpoints.append({name: w.detach().clone() for name, w in weights.items()})
        rows.append({"epoch": epoch, **losses(model, weights, data, problem)})

    record(first_epoch)
    epochs = settings["epochs"]
    for epoch in range(first_epoch + 1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), settings["batch_size"]):
            batch = order[start:start + settings["batch_size"]]
            optimizer.zero_grad(set_to_none=True)
            loss = problem.loss(model(x[batch]), y[batch])
            value = loss.detach().item()
            _check_divergence(value, rows[0]["train_loss"], epoch, settings["lr"], exploding)
            if blowups is not None and not blowups and value > EXPLODING * max(rows[0]["train_loss"], 1.0):
                blowups.append((epoch, value, rows[0]["train_loss"]))
            loss.backward()
            optimizer.step()
        model.eval()
        record(epoch)
        progress(epoch, epochs, rows[-1]["train_loss"])
        if preview is not None:
            preview(pd.DataFrame(rows))
    return pd.DataFrame(rows), checkpoints


def _check_divergence(loss: float, initial: float, epoch: int, lr: float, exploding: float | None) -> None:
    if math.isfinite(loss) and (exploding is None or loss <= exploding * max(initial, 1.0)):
        return
    what = "a non-finite batch loss" if not math.isfinite(loss) else (
        f"a batch loss of {loss:.3g}, over {exploding:g}x the initial {initial:.3g}")
    raise Diverged(f"training diverged at epoch {epoch} ({what}); lower 'lr', the learning rate (now {lr:g})")


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
        rows.append({"epoch": i, **losses(model, checkpoints[-1], data, problem)})
    return pd.DataFrame(rows), checkpoints


@contextmanager
def network_model(problem: Problem, seed: int, device: str, state: Mapping[str, np.ndarray] | None = None
                  ) -> Iterator[nn.Module]:
    """The problem's model for `seed` on `device` in eval mode, with `state` loaded if given; afterwards the
    model goes back as it came (weights, buffers, modes, device), so a user's own model is handed back unchanged."""
    model = problem.make_model(seed)
    home = next(iter(model.state_dict().values()), torch.empty(0)).device
    saved = ({k: v.detach().clone() for k, v in model.state_dict().items()},
             {name: m.training for name, m in model.named_modules()})
    try:
        model.to(device).eval()
        if state is not None:
            with torch.no_grad():
                model.load_state_dict(tensors(state, device))
        yield model
    finally:
        model.to(home)
        with torch.no_grad():
            model.load_state_dict(saved[0])
        for name, m in model.named_modules():
            m.train(saved[1].get(name, m.training))


def train_network(settings: Mapping[str, Any], device: str, stop_above: float | None = EXPLODING,
                  progress: Callable[[int, int, float], None] | None = None, preview=None) -> Result:
    """Train the network of these settings (or evaluate the user's checkpoints): curves and weights.

    Arrays: `initial/<parameter>`, `checkpoint/<epoch>/<parameter>` and `final/<entry>` (the full state
    dict, buffers included, that every later view evaluates with). The curves are on the whole training
    and test sets.
    """
    problem = network_problem(settings)
    split = problem.split
    data = ((split.x_train.to(device), split.y_train.to(device)), (split.x_test.to(device), split.y_test.to(device)))
    blowups: list = []
    with network_model(problem, settings["seed"], device) as model:
        initial = {name: p.detach().clone() for name, p in model.named_parameters()}
        if problem.checkpoints:  # the user's trained weights: no training here
            history, checkpoints = recorded(model, problem, data)
            if len(checkpoints) > 1:
                initial = checkpoints[0]
            final = history.iloc[-1]
            if not (math.isfinite(final.train_loss) and math.isfinite(final.test_loss)):
                raise Diverged("the last checkpoint's weights give a non-finite loss on the data; check the "
                               "'checkpoint' file (or the factory's data)")
        else:
            history, checkpoints = train(model, problem, settings, settings["seed"], progress or (lambda *_: None),
                                         preview=preview, exploding=stop_above, blowups=blowups)
            if not np.isfinite(history.iloc[-1][["train_loss", "test_loss"]].to_numpy(dtype=float)).all():
                raise Diverged(f"training ended with a non-finite loss; lower 'lr', the learning rate "
                               f"(now {settings['lr']:g})")
        state = {name: value.detach() for name, value in model.state_dict().items()}
        arrays = {**arrays_of(initial, "initial"), **arrays_of(state, "final"),
                  **{f"checkpoint/{i}/{name}": array for i, c in enumerate(checkpoints)
                     for name, array in arrays_of(c, "").items()},
                  **frame_to_arrays("training", history)}
    metrics = {"checkpoints": len(checkpoints), "lr": settings["lr"]}
    if blowups:
        metrics.update(blowup_epoch=blowups[0][0], blowup_loss=blowups[0][1], blowup_initial=blowups[0][2])
    return Result(metrics=metrics, arrays=arrays)


def check_converged(network: Result) -> None:
    """Refuse a network whose training blew up (a batch loss over EXPLODING x the initial one), as the loss
    landscape does when it trains (a phase diagram may have stored it)."""
    m = network.metrics
    if "blowup_epoch" in m:
        raise Diverged(f"training diverged at epoch {int(m['blowup_epoch'])} (a batch loss of {m['blowup_loss']:.3g}, "
                       f"over {EXPLODING:g}x the initial {m['blowup_initial']:.3g}); lower 'lr', the learning rate "
                       f"(now {m['lr']:g})")


def curves(network: Result) -> pd.DataFrame:
    """Loss and accuracy per epoch (or per checkpoint of the user's file)."""
    return frame_from_arrays("training", network.arrays)


def checkpoints_of(network: Result, device: str) -> list[dict[str, torch.Tensor]]:
    return [state_of(network, f"checkpoint/{i}", device) for i in range(int(network.metrics["checkpoints"]))]


def arrays_of(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, np.ndarray]:
    """Tensors as numpy arrays under `prefix/<name>` (what a cache entry holds exactly)."""
    return {f"{prefix}/{name}" if prefix else name: w.detach().cpu().numpy().copy() for name, w in weights.items()}


def state_of(result: Result, prefix: str, device: str) -> dict[str, torch.Tensor]:
    """The tensors a result holds under `prefix/`, on `device`."""
    start = prefix + "/"
    return tensors({name[len(start):]: a for name, a in result.arrays.items()
                    if name.startswith(start) and "/" not in name[len(start):]}, device)


def tensors(arrays: Mapping[str, Any], device: str) -> dict[str, torch.Tensor]:
    return {name: torch.tensor(np.asarray(a)).to(device) for name, a in arrays.items()}
