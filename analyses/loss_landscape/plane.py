"""Many points of one plane, θ(a, b) = θ* + a·d₁ + b·d₂, evaluated exactly and with little waste.

A surface evaluates the same network at thousands of points of one plane. Three things the math
allows make that cheaper than a plain loop that sets the weights and runs the model per point:

- The first layer's output is affine in (a, b): (W + aU + bV)x + c + a·u_c + b·v_c
  = (Wx + c) + a(Ux + u_c) + b(Vx + v_c). For a Linear or Conv2d first layer the three terms are
  computed once for the whole plane, and each point costs two scaled additions there instead of a
  matrix product.
- Train and test samples go through the network in one pass when every layer treats samples
  independently (eval mode, no batch statistics); their losses are then means over the two parts.
- For an nn.Sequential of known layers the forward pass is written out (no per-point module
  bookkeeping), a point's weights and activations are written into buffers reused from point to
  point (no allocation per point), the last Linear layer is computed as W hᵀ (faster for few
  outputs), and the four numbers of a point come from few kernel calls and one transfer
  (plane_numbers.py).
- labscope's own transformer is written out likewise (plane_transformer.py: its embedding is the
  affine first layer).

On CUDA, many points go through the network in one pass instead (plane_batched.py: `vmap` over the
points), where the model is in eval mode and its samples are independent.

Other models (and a Sequential that uses one module twice) run whole, with `functional_call` at each
point (train and test in one pass where the problem says samples are independent: the built-in
models); norm statistics recomputed per point take the plain path. Both give the same numbers up to float rounding; the tests
check every grid point against the plain evaluation.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .directions import offset
from .models import SmallTransformer
from .plane_affine import AffineTerms
from .plane_batched import BatchedPoints
from .plane_numbers import CrossEntropyNumbers
from .plane_transformer import TransformerPlane
from .problem import Problem, cross_entropy

# Layers that act on each sample alone in eval mode and have no parameters: called as they are.
PER_SAMPLE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Identity,
              nn.Flatten, nn.Unflatten, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d, nn.MaxPool2d, nn.AvgPool2d,
              nn.MaxPool1d, nn.AvgPool1d, nn.Dropout, nn.Dropout1d, nn.Dropout2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
# Precomputed first-layer outputs (three of them, and two buffers of that size) may take at most this many bytes.
MAX_SHORTCUT_BYTES = 512 * 2 ** 20


class _Step:
    """One child of the Sequential: how to run it at the point (a, b)."""

    def __init__(self, module: nn.Module, prefix: str, center, d1, d2):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.full = [f"{prefix}.{n}" for n in self.names]
        self.center = [center[n] for n in self.full]
        self.d1 = [d1[n] for n in self.full]
        self.d2 = [d2[n] for n in self.full]
        # A point's weights are formed in these buffers (None: the parameter does not move on the plane).
        self.buffers = [torch.empty_like(c) if bool(x.any() or y.any()) else None
                        for c, x, y in zip(self.center, self.d1, self.d2)]
        self.outputs: dict[tuple, torch.Tensor] = {}  # a Linear layer's output buffer, per input shape
        self.linear_2d = isinstance(module, nn.Linear)

    def weights(self, a: float, b: float) -> list[torch.Tensor]:
        return [c if buffer is None else torch.add(c, x, alpha=a, out=buffer).add_(y, alpha=b)
                for c, x, y, buffer in zip(self.center, self.d1, self.d2, self.buffers)]

    def __call__(self, h: torch.Tensor, a: float, b: float, owned: bool = True) -> torch.Tensor:
        """`owned`: h is an intermediate of this pass (not the data), so it may be overwritten."""
        m = self.module
        if type(m) is nn.ReLU and owned:
            return h.relu_()
        if not self.names:
            return m(h)
        w = self.weights(a, b)
        if self.linear_2d and h.dim() == 2:  # into this layer's buffer: intermediates of a point never outlive it
            out = self.outputs.get(h.shape)
            if out is None:
                out = self.outputs[h.shape] = h.new_empty(len(h), m.out_features)
            out = torch.mm(h, w[0].T, out=out)
            # The bias added after the product: addmm's broadcast copy and accumulation cost more (measured).
            return out if m.bias is None else out.add_(w[1])
        if isinstance(m, nn.Linear):
            return F.linear(h, w[0], w[1] if m.bias is not None else None)
        if isinstance(m, nn.Conv2d):
            return m._conv_forward(h, w[0], w[1] if m.bias is not None else None)
        if isinstance(m, NORMS) and not m.training and m.track_running_stats and m.affine:
            return F.batch_norm(h, m.running_mean, m.running_var, w[0], w[1], False, 0.0, m.eps)
        return functional_call(m, dict(zip(self.names, w)), (h,))


def _first_layer_terms(module: nn.Module, step: _Step, x: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
    """(Wx + c, Ux + u_c, Vx + v_c) of a Linear or Conv2d first layer, or None for another kind."""
    if isinstance(module, nn.Linear):
        def run(w, bias):
            return F.linear(x, w, bias)
    elif isinstance(module, nn.Conv2d) and module.padding_mode == "zeros":
        def run(w, bias):
            return module._conv_forward(x, w, bias)
    else:
        return None
    has_bias = module.bias is not None
    return tuple(run(ws[0], ws[1] if has_bias else None) for ws in (step.center, step.d1, step.d2))


class PlaneEvaluator:
    """`evaluator(points)` -> one dict of train/test loss and accuracy per (a, b), as `_losses` gives.

    Built once per plane (centre, two directions, the data); called with batches of points.
    """

    def __init__(self, model: nn.Module, center: dict, directions: list[dict], data, problem: Problem,
                 plain: Callable[[dict], dict], batch_points: int | str | None = "auto"):
        """`batch_points`: points per forward pass of the batched (vmap) path; "auto" sizes the chunks
        by memory on CUDA and keeps one point per pass on the CPU (faster there); None turns it off."""
        (self.x, self.y), (self.x_test, self.y_test) = data
        self.n_train = len(self.x)
        self.center, self.d1, self.d2 = center, directions[0], directions[1]
        self.problem, self.plain = problem, plain
        self.model = model
        # The plain path, per point, where batch statistics are recomputed or the model is not in eval mode.
        self.per_point = any(m.training for m in model.modules()) or (
            problem.norm_policy == "recompute" and any(isinstance(m, nn.modules.batchnorm._NormBase)
                                                        for m in model.modules()))
        self.steps = None if self.per_point else self._plan(model)
        if self.steps is not None:
            self.independent = all(isinstance(s.module, PER_SAMPLE + (nn.Linear, nn.Conv2d)) or (
                isinstance(s.module, NORMS) and s.module.track_running_stats) for s in self.steps)
        else:
            self.independent = problem.independent_samples and not self.per_point
        self.segments = self._segments()
        self.shortcut = self._shortcut()
        self._transformer_planes: list[TransformerPlane] | None = None  # built on first use (buffers)
        self.targets = torch.cat([self.y, self.y_test])
        # The four numbers of a point, for outputs shaped (samples, classes) and (classes, samples).
        self.numbers = {transposed: CrossEntropyNumbers(self.targets, self.n_train, 0 if transposed else 1)
                        for transposed in (False, True)} if (
            problem.loss is cross_entropy and problem.classification) else None
        self.batched = self._batched(batch_points)

    def _plan(self, model: nn.Module) -> list[_Step] | None:
        if not isinstance(model, nn.Sequential) or not len(model):
            return None
        children = list(model._modules.items())
        if len({id(m) for _, m in children}) < len(children):  # one module used twice: run the model whole
            return None
        return [_Step(m, name, self.center, self.d1, self.d2) for name, m in children]

    @property
    def transformers(self) -> list[TransformerPlane] | None:
        """labscope's own transformer, written out (see plane_transformer.py), one per segment; built when
        first asked for, so the batched path does not hold its buffers."""
        if self.per_point or type(self.model) is not SmallTransformer:
            return None
        if self._transformer_planes is None:
            weights = [{n: w[n] for n, _ in self.model.named_parameters()} for w in (self.center, self.d1, self.d2)]
            self._transformer_planes = [TransformerPlane(self.model, *weights, x) for x, _ in self.segments]
        return self._transformer_planes

    def _segments(self) -> list[tuple[torch.Tensor, slice]]:
        """The inputs run through the network: train and test in one pass, or one pass each."""
        n = self.n_train
        if self.independent:
            return [(torch.cat([self.x, self.x_test]), slice(0, None))]
        return [(self.x, slice(0, n)), (self.x_test, slice(n, None))]

    def _shortcut(self):
        """Per segment: (index of the first layer, its three precomputed terms), when the math allows."""
        if self.steps is None:
            return None
        first = next((i for i, s in enumerate(self.steps) if s.names), None)
        if first is None or not all(isinstance(s.module, PER_SAMPLE) for s in self.steps[:first]):
            return None
        terms = []
        with torch.no_grad():
            for x, _ in self.segments:
                for step in self.steps[:first]:
                    x = step.module(x)
                found = _first_layer_terms(self.steps[first].module, self.steps[first], x)
                if found is None or 5 * found[0].numel() * found[0].element_size() > MAX_SHORTCUT_BYTES:
                    return None
                if found[0].dim() == 4:  # channels-last activations: the later convolutions ran 1.3-2x faster
                    found = tuple(t.contiguous(memory_format=torch.channels_last) for t in found)
                terms.append(AffineTerms(*found))
        return first, terms

    def _batched(self, batch_points: int | str | None) -> BatchedPoints | None:
        """The vmap path over many points (see plane_batched.py), where it applies and is asked for."""
        if batch_points is None or self.per_point or not self.independent:
            return None
        x, _ = self.segments[0]
        if batch_points == "auto":
            if x.device.type != "cuda":
                return None
            batch_points = None  # sized by memory
        targets = torch.cat([self.y, self.y_test])
        return BatchedPoints(self.model, {n: self.center[n] for n, _ in self.model.named_parameters()},
                             self.d1, self.d2, x, targets, self.n_train, self.problem, chunk=batch_points)

    @torch.no_grad()
    def __call__(self, points: list[tuple[float, float]]) -> list[dict]:
        while self.batched is not None:
            try:
                return self.batched(points)
            except torch.OutOfMemoryError:
                if self.batched.chunk == 1:
                    raise
                self.batched.chunk //= 2  # and try again with half as many points per pass
            except (RuntimeError, NotImplementedError):  # a layer vmap cannot batch: one point per pass
                self.batched = None
        if self.per_point:
            return [self.plain(offset(self.center, [(a, self.d1), (b, self.d2)])) for a, b in points]
        return [self._point(float(a), float(b)) for a, b in points]

    def _forward(self, segment: int, a: float, b: float) -> tuple[torch.Tensor, bool]:
        """The network's outputs on one segment at (a, b): (outputs, transposed?)."""
        x, _ = self.segments[segment]
        planes = self.transformers
        if planes is not None:
            return planes[segment](a, b), False
        if self.steps is None:  # any other model: one functional call with the point's weights
            weights = offset(self.center, [(a, self.d1), (b, self.d2)])
            return functional_call(self.model, weights, (x,)), False
        start = 0
        if self.shortcut is not None:
            first, terms = self.shortcut
            x, start = terms[segment](a, b), first + 1
        last = len(self.steps) - 1
        owned = self.shortcut is not None  # x is a fresh tensor, not (a view of) the data
        for i in range(start, last):
            x = self.steps[i](x, a, b, owned=owned)
            owned = owned or bool(self.steps[i].names)
        step = self.steps[last]
        if isinstance(step.module, nn.Linear) and x.dim() == 2 and step.module.bias is not None:
            w, bias = step.weights(a, b)
            return torch.mm(w, x.T).add_(bias[:, None]), True  # W hᵀ: faster than h Wᵀ for few outputs
        return step(x, a, b), False

    def _point(self, a: float, b: float) -> dict:
        outputs = []
        for segment in range(len(self.segments)):
            out, transposed = self._forward(segment, a, b)
            # A layer's output buffer is reused by the next segment's pass: keep this one's numbers apart.
            outputs.append(out if segment == len(self.segments) - 1 else out.clone())
        out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1 if transposed else 0)
        if self.numbers is not None:  # cross-entropy on classes
            return self.numbers[transposed](out)
        return self._other_loss(out.T if transposed else out)

    def _other_loss(self, out: torch.Tensor) -> dict:
        """The four numbers for any other loss, from the outputs (samples first) on train then test samples."""
        n, loss = self.n_train, self.problem.loss
        train, test = out[:n], out[n:]
        numbers = {"train_loss": loss(train, self.y).item(), "train_accuracy": float("nan"),
                   "test_loss": loss(test, self.y_test).item(), "test_accuracy": float("nan")}
        if self.problem.classification:
            numbers["train_accuracy"] = (train.argmax(dim=1) == self.y).float().mean().item()
            numbers["test_accuracy"] = (test.argmax(dim=1) == self.y_test).float().mean().item()
        return numbers
