"""Bring your own model: a `package.module:function` factory and, optionally, a checkpoint file.

The factory is called as `function(seed=int)` and returns `(model, (x_train, y_train),
(x_test, y_test), loss)`: a torch module, tensors, and a loss `loss(outputs, targets) -> scalar`
(None for cross-entropy). Integer targets mean classification, and accuracy is reported.
The checkpoint file is read with `torch.load(weights_only=True)`, which admits tensors and
plain containers only, so a checkpoint cannot run code. It holds one state dict (the trained
weights), a list of state dicts, or {"checkpoints": [...]} (a training trajectory, in order).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pickle
import re
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch
from torch import nn

from .data import DataError, Split
from .problem import Problem, cross_entropy

REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
FILE_REFERENCE = re.compile(r"^(?P<path>.+\.py):(?P<function>[A-Za-z_]\w*)$")
MAX_CHECKPOINT_BYTES = 4_000_000_000
MAX_CHECKPOINTS = 1_000
MAX_CHECKPOINT_ELEMENTS = 500_000_000  # float32 numbers over all entries: 2 GB


def _module_from_file(path: Path) -> ModuleType:
    """Import a .py file by path under a name derived from its location, so two files never collide.

    Its own folder is on sys.path while it runs, so it can import the modules beside it.
    """
    if not path.is_file():
        raise DataError(f"custom_model: no such file {path.name!r}")
    name = "labscope_custom_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DataError(f"custom_model: cannot load {path.name!r} as Python")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's module failed while importing: say where, briefly
        raise DataError(f"custom_model: importing {path.name!r} failed ({type(exc).__name__}: {exc})") from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def resolve(reference: str) -> Callable:
    """A factory from `package.module:function` (on the Python path) or `path/to/file.py:function`.

    Everything before the last ':' that ends in `.py` is a file path (the CallableRef convention).
    """
    reference = (reference or "").strip()
    as_file = FILE_REFERENCE.match(reference)
    if as_file:
        module = _module_from_file(Path(as_file["path"]).expanduser())
        function_name = as_file["function"]
        where = Path(as_file["path"]).name
    elif REFERENCE.match(reference):
        module_name, function_name = reference.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise DataError(f"custom_model: cannot import {module_name!r} ({exc}); is it on the server's Python "
                            "path? A file path (path/to/model.py:function) works too") from exc
        where = module_name
    else:
        raise DataError(f"custom_model: expected 'package.module:function' or 'path/to/file.py:function', "
                        f"got {reference!r}")
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise DataError(f"custom_model: {where!r} has no function {function_name!r}")
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


def _read_checkpoint_file(path: str) -> Any:
    """torch.load with weights_only=True (tensors and plain containers only), after size checks."""
    name = Path(path).name
    try:
        size = os.path.getsize(path)
    except OSError:
        raise DataError("cannot be opened", file=name) from None
    if size > MAX_CHECKPOINT_BYTES:
        raise DataError(f"{size / 1e9:.1f} GB; at most {MAX_CHECKPOINT_BYTES / 1e9:.0f} GB are read", file=name)
    if zipfile.is_zipfile(path):  # torch.save's format; a crafted archive could inflate far beyond its size
        try:
            with zipfile.ZipFile(path) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
                if unpacked <= MAX_CHECKPOINT_BYTES:
                    damaged = archive.testzip()  # checksums: a truncated or corrupted download
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            raise DataError("not a readable torch checkpoint (a damaged zip archive)", file=name) from None
        if unpacked <= MAX_CHECKPOINT_BYTES and damaged is not None:
            raise DataError(f"damaged: the checksum of its part {Path(damaged).name!r} does not match", file=name)
        if unpacked > MAX_CHECKPOINT_BYTES:
            raise DataError(f"unpacks to {unpacked / 1e9:.1f} GB; at most {MAX_CHECKPOINT_BYTES / 1e9:.0f} GB "
                            "are read", file=name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise DataError("not a checkpoint of tensors: damaged, or it holds Python objects that a weights-only "
                        "load refuses (save model.state_dict(), not the model)", file=name) from None
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on a damaged file
        raise DataError(f"cannot read it as a torch checkpoint ({type(exc).__name__})", file=name) from None


def _entries(saved: Any, name: str) -> list:
    """The list of state dicts a file holds: one, a list, {"checkpoints": [...]} or a training checkpoint's
    {"model_state_dict": ...} / {"state_dict": ...}."""
    if isinstance(saved, dict):
        for key in ("checkpoints", "model_state_dict", "state_dict"):
            if key in saved:
                saved = saved[key]
                break
    states = [saved] if isinstance(saved, dict) else saved
    if not isinstance(states, (list, tuple)) or not states:
        raise DataError("expected a state dict, a list of them, or {'checkpoints': [...]}", file=name)
    if len(states) > MAX_CHECKPOINTS:
        raise DataError(f"{len(states):,} checkpoints; at most {MAX_CHECKPOINTS:,} are read", file=name)
    return list(states)


def _mismatch(state: dict, expected: dict[str, torch.Tensor], name: str, i: int) -> None:
    """One message naming the missing, unexpected and mis-shaped keys (as load_state_dict would, but readable)."""
    odd = [k for k in state if not isinstance(k, str)]
    if odd:
        raise DataError(f"keys must be parameter names; found {odd[0]!r}", file=name, item=i)
    optional = {k for k in expected if k.endswith("num_batches_tracked")}  # absent from old torch versions
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    shaped = [f"{k} {tuple(state[k].shape)} (model {tuple(expected[k].shape)})" for k in expected
              if isinstance(state.get(k), torch.Tensor) and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = [f"{label}: {', '.join(keys[:6])}{' …' if len(keys) > 6 else ''}"
             for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shaped)) if keys]
    if parts:
        raise DataError("the state dict does not fit the model; " + "; ".join(parts), file=name, item=i)


def _tensor(value: Any, like: torch.Tensor, key: str, name: str, i: int) -> torch.Tensor:
    """A saved value as the model's dtype, refused by name if it is no real, finite, dense tensor."""
    if not isinstance(value, torch.Tensor):
        raise DataError(f"{key!r} is of type {type(value).__name__}, not a tensor", file=name, item=i)
    if value.layout != torch.strided or value.is_quantized or value.device.type == "meta":
        raise DataError(f"{key!r} is not a plain dense tensor ({value.layout}, {value.dtype})", file=name, item=i)
    if value.is_complex():
        raise DataError(f"{key!r} holds complex numbers; the model's weights are real", file=name, item=i)
    if value.dtype == torch.bool and like.dtype != torch.bool:
        raise DataError(f"{key!r} holds booleans, not numbers", file=name, item=i)
    if like.is_floating_point():
        converted = value.detach().to(like.dtype)
        if not torch.isfinite(converted).all():
            what = "NaN or infinite values" if not torch.isfinite(value).all() else f"values too large for {like.dtype}"
            raise DataError(f"{key!r} holds {what}", file=name, item=i)
        if key.endswith("running_var") and (converted < 0).any():
            raise DataError(f"{key!r} holds a negative variance", file=name, item=i)
        return converted.clone()
    if value.is_floating_point():
        raise DataError(f"{key!r} holds fractions where the model keeps whole numbers", file=name, item=i)
    return value.detach().to(like.dtype).clone()


def load_checkpoints(path: str, model: nn.Module) -> list[dict]:
    """Full state dicts (parameters and buffers) from a checkpoint file, checked against the model.

    Every entry must have exactly the model's keys and shapes (a missing `num_batches_tracked` is
    filled from the model; it does not change an eval-mode network). Values come back in the model's
    dtypes. Complex, non-finite, boolean and non-tensor values are refused by name.
    """
    name = Path(str(path)).name
    states = _entries(_read_checkpoint_file(path), name)
    expected = model.state_dict()
    total = sum(v.numel() for v in expected.values()) * len(states)
    if total > MAX_CHECKPOINT_ELEMENTS:
        raise DataError(f"{len(states)} checkpoints of {total // len(states):,} numbers each are more than "
                        f"{MAX_CHECKPOINT_ELEMENTS:,} in all", file=name)
    out = []
    for i, state in enumerate(states):
        if not isinstance(state, dict):
            raise DataError(f"of type {type(state).__name__}, not a state dict", file=name, item=i)
        _mismatch(state, expected, name, i)
        out.append({k: _tensor(state[k], like, k, name, i) if k in state else like.detach().clone()
                    for k, like in expected.items()})
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
