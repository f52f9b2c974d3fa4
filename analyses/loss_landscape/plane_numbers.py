"""The four numbers of one grid point (train/test loss and accuracy) from its outputs, in few kernel calls.

On the MLP preset the reductions after the last layer cost about as much as a hidden layer when written
the obvious way (`logsumexp`, `gather`, four `mean`s and four transfers, each a separate call over a
small tensor). Here each sample's loss is its gathered entry of `log_softmax` (one fused kernel, 2x
faster than `logsumexp`'s six over (classes, samples)), its hit is the index of the first maximum
(`max`, as `argmax` counts ties; `argmax` itself was 8x slower along the class dimension), and the four
means are one product of the per-sample losses and hits with a (samples, 2) weight matrix in float64
(as accurate as `mean`, and one transfer for all four).

Points whose numbers come out non-finite (a diverged point: an infinite output, or 0 · inf in the
product) are recomputed the plain way (`logsumexp`, `mean` of each part).
"""

from __future__ import annotations

import math

import torch

KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


class CrossEntropyNumbers:
    """`numbers(outputs)` -> the four numbers of one point, for outputs on the train samples followed by the
    test samples (`targets` likewise, `n_train` of them train); `class_dim` 1 for (samples, classes) outputs,
    0 for (classes, samples)."""

    def __init__(self, targets: torch.Tensor, n_train: int, class_dim: int):
        self.class_dim = class_dim
        self.index = targets[None] if class_dim == 0 else targets[:, None]
        self.targets, self.n_train = targets, n_train
        n = len(targets)
        self.weights = torch.zeros(n, 2, dtype=torch.float64, device=targets.device)
        if 0 < n_train < n:
            self.weights[:n_train, 0] = 1 / n_train
            self.weights[n_train:, 1] = 1 / (n - n_train)
        else:  # an empty part: its mean is NaN, as `mean` gives
            self.weights = None

    def per_sample(self, out: torch.Tensor) -> torch.Tensor:
        """(2, samples): each sample's loss and whether its top class is the target."""
        dim = self.class_dim
        losses = torch.log_softmax(out, dim=dim).gather(dim, self.index).neg_().view(-1)
        hits = out.max(dim=dim).indices == self.targets
        return torch.stack([losses, hits.to(out.dtype)])

    def __call__(self, out: torch.Tensor) -> dict[str, float]:
        if self.weights is None:
            return self._plain(out)
        (train_loss, test_loss), (train_acc, test_acc) = (self.per_sample(out).double() @ self.weights).tolist()
        if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
            return self._plain(out)
        return dict(zip(KEYS, (train_loss, train_acc, test_loss, test_acc)))

    def _plain(self, out: torch.Tensor) -> dict[str, float]:
        """The same numbers the straightforward way, for outputs with infinities or NaNs."""
        dim = self.class_dim
        losses = (torch.logsumexp(out, dim=dim, keepdim=True) - out.gather(dim, self.index)).view(-1)
        hits = (out.argmax(dim=dim).view(-1) == self.targets).float()
        n = self.n_train
        return dict(zip(KEYS, torch.stack([losses[:n].mean(), hits[:n].mean(), losses[n:].mean(),
                                           hits[n:].mean()]).tolist()))
