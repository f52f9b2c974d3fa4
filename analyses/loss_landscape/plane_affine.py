"""A layer output that is affine in the two grid coordinates, formed at a point with one pass over it.

A network's first layer (an MLP's or CNN's first Linear or Conv2d, a transformer's token embedding)
gives (Wx + c) + a(Ux + u_c) + b(Vx + v_c) at θ* + a·d₁ + b·d₂: exact algebra, computed once per plane
as three terms. A surface walks its grid row by row (b fixed, a moving), so base + b·v is kept for the
current row and each point adds a·u to it: one pass over the activations per point instead of two.
The result is written into a buffer reused from point to point (the caller owns it until the next point).
"""

from __future__ import annotations

import torch


class AffineTerms:
    """`terms(a, b)` -> base + b·v + a·u, in a buffer reused at every point."""

    def __init__(self, base: torch.Tensor, u: torch.Tensor, v: torch.Tensor):
        self.base, self.u, self.v = base, u, v
        self.row = torch.empty_like(base)  # base + b·v for the row being computed
        self.row_b: float | None = None
        self.out = torch.empty_like(base)

    @property
    def nbytes(self) -> int:
        """Memory these terms and their buffers take."""
        return 5 * self.base.numel() * self.base.element_size()

    def __call__(self, a: float, b: float) -> torch.Tensor:
        if self.row_b != b:
            torch.add(self.base, self.v, alpha=b, out=self.row)
            self.row_b = b
        return torch.add(self.row, self.u, alpha=a, out=self.out)
