"""Bring your own model: a `package.module:function` factory and, optionally, a checkpoint file.

The factory is called as `function(seed=int)` and returns `(model, (x_train, y_train),
(x_test, y_test), loss)`: a torch module, tensors, and a loss `loss(outputs, targets) -> scalar`
(None for cross-entropy). Integer targets mean classification, and accuracy is reported.
The checkpoint file is read with `torch.load(weights_only=True)`, which admits tensors and
plain containers only, so a checkpoint cannot run code. It holds one state dict (the trained
weights), a list of state dicts, or {"checkpoints": [...]} (a training trajectory, in order).
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

import torch
from torch import nn

from .data import DataError, Split
from .problem import Problem, cross_entropy

REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def resolve(reference: str) -> Callable:
    if not REFERENCE.match(reference or ""):
        raise DataError(f"custom_model: expected 'package.module:function', got {reference!r}")
    module_name, function_name = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"custom_model: cannot import {module_name!r} ({exc}); is it on the server's Python path?") from exc
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise DataError(f"custom_model: {module_name!r} has no function {function_name!r}")
    return factory


def _pair(value: Any, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        x, y = value
    except (TypeError, ValueError):
        raise DataError(f"custom_model: {which} data must be a pair (inputs, targets)") from None
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or len(x) != len(y) or len(x) == 0:
        raise DataError(f"custom_model: {which} data must be two non-empty tensors of equal length")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise DataError(f"custom_model: {which} inputs contain NaN or infinite values")
    return x, y


def _call(factory: Callable, reference: str, seed: int):
    try:
        out = factory(seed=seed)
        model, train, test, loss = out
    except (TypeError, ValueError) as exc:
        raise DataError(f"custom_model: {reference}(seed=...) must return (model, (x_train, y_train), "
                        f"(x_test, y_test), loss); {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise DataError(f"custom_model: the first value {reference} returns must be a torch.nn.Module")
    if loss is not None and not callable(loss):
        raise DataError("custom_model: the loss must be callable as loss(outputs, targets), or None")
    return model, _pair(train, "train"), _pair(test, "test"), loss


def load_checkpoints(path: str, model: nn.Module) -> list[dict]:
    """Parameter dicts from a checkpoint file, checked against the model's parameter names and shapes."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"checkpoint: cannot read {path!r} as a torch file of tensors ({type(exc).__name__}: {exc})"
                        ) from exc
    states = saved.get("checkpoints", saved) if isinstance(saved, dict) else saved
    states = [states] if isinstance(states, dict) else states
    if not isinstance(states, (list, tuple)) or not states:
        raise DataError("checkpoint: expected a state dict, a list of them, or {'checkpoints': [...]}")
    expected = {name: p.shape for name, p in model.named_parameters()}
    out = []
    for i, state in enumerate(states):
        if not isinstance(state, dict):
            raise DataError(f"checkpoint: entry {i} is not a state dict")
        missing = [n for n in expected if n not in state]
        wrong = [n for n in expected if n in state and tuple(state[n].shape) != tuple(expected[n])]
        if missing or wrong:
            raise DataError(f"checkpoint: entry {i} does not fit the model: missing {missing[:5]}, "
                            f"wrong shape {wrong[:5]}")
        out.append({n: state[n].detach().to(torch.float32).clone() for n in expected})
    return out


def custom_problem(reference: str, checkpoint: str | None, seed: int) -> Problem:
    factory = resolve(reference)
    model, (x_train, y_train), (x_test, y_test), loss = _call(factory, reference, seed)
    classification = not y_train.is_floating_point()
    n_classes = int(max(y_train.max(), y_test.max())) + 1 if classification else 0
    split = Split(x_train, y_train, x_test, y_test, n_classes, None)
    first = [model]

    def make_model(model_seed: int) -> nn.Module:
        if model_seed == seed and first:  # the instance built above serves the first request for it
            return first.pop()
        return _call(factory, reference, model_seed)[0]

    checkpoints = load_checkpoints(checkpoint, model) if checkpoint else []
    return Problem(split, make_model, loss or cross_entropy, classification, checkpoints)
