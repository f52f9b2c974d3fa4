"""Many grid points per forward pass: `vmap` over (a, b) of the model called with the point's weights.

On a GPU one point of a small network leaves the device mostly idle, so the surface evaluates a chunk
of points at once: θ(a, b) = θ* + a·d₁ + b·d₂ is formed for every point of the chunk and
`torch.func.functional_call` runs under `torch.func.vmap`, giving (points, samples, outputs) in one
launch sequence. On this project's CPUs the same batching was 2-4x slower than one point at a time
(the per-point matrix products already run near the core's peak), so it is used on CUDA only; the tests
run it on the CPU to check it gives the plain evaluation's numbers.

Only eval-mode networks whose samples are evaluated independently use it (the caller decides); a model
whose layers `vmap` cannot batch (an LSTM's fused kernel, for one) raises on the first chunk, and the
caller then keeps the per-point path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from .problem import Problem, cross_entropy

# The activations of one chunk may take at most this many bytes (GPU memory is the bound).
MAX_CHUNK_BYTES = 2 * 2 ** 30
MAX_CHUNK_POINTS = 1024


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of every module output in one forward pass on x: the memory one point of a chunk needs."""
    total = x.numel() * x.element_size()

    def count(_module, _inputs, output):
        nonlocal total
        for t in output if isinstance(output, tuple) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return total


class BatchedPoints:
    """`batched(points)` -> the four numbers of each (a, b), computed a chunk of points per forward pass."""

    def __init__(self, model: nn.Module, center: dict, d1: dict, d2: dict, x: torch.Tensor, y: torch.Tensor,
                 n_train: int, problem: Problem, chunk: int | None = None):
        self.model, self.x, self.y, self.n_train, self.problem = model, x, y, n_train, problem
        self.center, self.d1, self.d2 = center, d1, d2
        self.buffers = dict(model.named_buffers())
        if chunk is None:
            chunk = MAX_CHUNK_BYTES // max(1, activation_bytes(model, x))
        self.chunk = int(min(MAX_CHUNK_POINTS, max(1, chunk)))
        self._outputs = vmap(self._at, in_dims=(0, 0))

    def _at(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        weights = {n: self.center[n] + a * self.d1[n] + b * self.d2[n] for n in self.center}
        return functional_call(self.model, {**self.buffers, **weights}, (self.x,))

    @torch.no_grad()
    def __call__(self, points: list[tuple[float, float]]) -> list[dict]:
        rows = []
        for start in range(0, len(points), self.chunk):
            ab = torch.tensor(points[start:start + self.chunk], dtype=self.x.dtype, device=self.x.device)
            rows.extend(self._numbers(self._outputs(ab[:, 0], ab[:, 1])))
        return rows

    def _numbers(self, out: torch.Tensor) -> list[dict]:
        """The train/test loss and accuracy of every point from outputs shaped (points, samples, ...)."""
        n, y = self.n_train, self.y
        if self.problem.loss is cross_entropy and self.problem.classification:
            losses = torch.logsumexp(out, dim=2) - out.gather(2, y.expand(len(out), -1)[..., None]).squeeze(2)
            hits = (out.argmax(dim=2) == y).float()
            numbers = torch.stack([losses[:, :n].mean(1), hits[:, :n].mean(1), losses[:, n:].mean(1),
                                   hits[:, n:].mean(1)], dim=1).tolist()
        else:
            numbers = []
            for point in out:
                train, test = point[:n], point[n:]
                row = [self.problem.loss(train, y[:n]).item(), float("nan"),
                       self.problem.loss(test, y[n:]).item(), float("nan")]
                if self.problem.classification:
                    row[1] = (train.argmax(dim=1) == y[:n]).float().mean().item()
                    row[3] = (test.argmax(dim=1) == y[n:]).float().mean().item()
                numbers.append(row)
        return [dict(zip(("train_loss", "train_accuracy", "test_loss", "test_accuracy"), row)) for row in numbers]
