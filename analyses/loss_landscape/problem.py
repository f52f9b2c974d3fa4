"""What the landscape is computed for: data, a model factory, a loss, and optional checkpoints.

Built-in problems come from `data.py` and `models.py`; a user's own comes from a
`module:function` factory (see `custom.py`). Everything downstream (training, surfaces,
Hessian, trajectory, connectivity) only sees a Problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from .data import Split, load_split
from .models import build_model

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy as logsumexp minus the true logit: the same value as
    `nn.functional.cross_entropy` (to float rounding), 2-3x faster for few classes on CPU, where
    log_softmax over 10 columns cost as much as a hidden layer; a surface evaluates it thousands of times.
    """
    return (torch.logsumexp(logits, dim=1) - logits.gather(1, labels[:, None]).squeeze(1)).mean()


@dataclass
class Problem:
    split: Split
    make_model: Callable[[int], nn.Module]  # seed -> a freshly initialised model
    loss: Loss = cross_entropy
    classification: bool = True  # report accuracy (argmax of the outputs against integer labels)
    checkpoints: list[dict] = field(default_factory=list)  # trained weights given by the user, in order
    # How norm layers evaluate a perturbed network: with the statistics kept from training ("eval"), or
    # with statistics recomputed from the evaluation batch at every point ("recompute").
    norm_policy: str = "eval"
    # In eval mode, does each sample's output depend on that sample alone? Then train and test samples can
    # share one forward pass. True for the built-in models; a user's model is not assumed to be.
    independent_samples: bool = False


def builtin(params: Mapping[str, Any]) -> Problem:
    split = load_split(params["dataset"], params["data_file"], params["test_fraction"], params["seed"],
                       params.get("train_samples", 0))

    tokens = 2 if params["dataset"] == "modular" else None  # the two one-hot operands

    def make_model(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return build_model(params["model"], split.x_train.shape[1], split.n_classes, params["width"],
                           params["depth"], split.image_shape, norm=params["norm"], tokens=tokens)

    policy = params["norm_policy"]
    if split.y_train.is_floating_point():  # regression (teacher-student): squared error, no accuracy
        return Problem(split, make_model, loss=nn.functional.mse_loss, classification=False, norm_policy=policy,
                       independent_samples=True)
    return Problem(split, make_model, norm_policy=policy, independent_samples=True)


def load(params: Mapping[str, Any]) -> Problem:
    if params["model"] == "custom":
        from .custom import custom_problem

        problem = custom_problem(params["custom_model"], params["checkpoint"], params["seed"])
        problem.norm_policy = params["norm_policy"]
        return problem
    return builtin(params)
