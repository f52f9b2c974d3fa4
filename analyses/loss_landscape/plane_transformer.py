"""labscope's own transformer (`models.SmallTransformer`) at a point of the plane, written out.

Run whole at every grid point (`functional_call`), the preset's transformer was slower than a plain loop
that sets the weights in place: its time goes to memory-bound steps over (samples × tokens) activations
(the copies that reshape q, k and v for the batched products, bias copies in `addmm`, layer norms, GELU),
not to arithmetic. Written out, the same network does less of that, with the same numbers up to float
rounding:

- The embedding and the learned position are affine in (a, b): x(W + aU + bV)ᵀ + c + p(a, b) is
  (xWᵀ + c + p) + a(xUᵀ + u_c + u_p) + b(xVᵀ + v_c + v_p), computed once per plane (plane_affine.py);
  a point costs one scaled addition there.
- q, k and v are reordered once, into one buffer, for all heads' batched products (instead of one copy
  each); the 1/√d scale rides in the score product (`baddbmm`'s alpha) instead of a division pass.
- Residual additions go into the projections (`addmm_` on the residual stream), not into separate passes.
- Mean pooling and the head are one product: mean_t(z)Wᵀ = z_flat (W tiled over the tokens / T)ᵀ.
- Activations live in buffers reused from point to point, weights of a point are formed in place.

Only the exact class is written out (a subclass may change `forward`); anything else runs whole.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .models import SmallTransformer
from .plane_affine import AffineTerms

# The three precomputed embeddings and two buffers may take at most this many bytes; beyond, the embedding
# runs per point.
MAX_EMBEDDING_BYTES = 512 * 2 ** 20


class _PointWeights:
    """centre + a·d₁ + b·d₂ per parameter, formed in a buffer reused from point to point (the centre itself
    where both directions are zero, as they are for biases and norm scales by default)."""

    def __init__(self, center: dict, d1: dict, d2: dict):
        self.terms = {}
        for name, c in center.items():
            moving = bool(d1[name].any() or d2[name].any())
            self.terms[name] = (c, d1[name], d2[name], torch.empty_like(c) if moving else None)

    def __call__(self, name: str, a: float, b: float) -> torch.Tensor:
        c, u, v, buffer = self.terms[name]
        if buffer is None:
            return c
        return torch.add(c, u, alpha=a, out=buffer).add_(v, alpha=b)


class TransformerPlane:
    """`plane(a, b)` -> the model's outputs (samples, classes) on `x` at θ* + a·d₁ + b·d₂."""

    def __init__(self, model: SmallTransformer, center: dict, d1: dict, d2: dict, x: torch.Tensor):
        self.model = model
        self.weights = _PointWeights(center, d1, d2)
        self.n, self.tokens = len(x), model.tokens
        self.width = model.position.shape[1]
        rows = self.n * self.tokens
        self.x_tokens = x.reshape(self.n, self.tokens, -1)
        if 5 * rows * self.width * x.element_size() <= MAX_EMBEDDING_BYTES:
            with torch.no_grad():
                self.embedding = AffineTerms(*(self._embed(w["embed.weight"], w["embed.bias"], w["position"])
                                               for w in (center, d1, d2)))
        else:
            self.embedding = None
        # Activation buffers, reused at every point.
        empty = x.new_empty
        heads = [block.heads for block in model.blocks]
        self.h = empty(rows, self.width) if self.embedding is None else None
        self.qkv = empty(rows, 3 * self.width)
        self.heads_major = [empty(3, self.n * h, self.tokens, self.width // h) for h in heads]
        self.scores = [empty(self.n * h, self.tokens, self.tokens) for h in heads]
        self.attended = [empty(self.n * h, self.tokens, self.width // h) for h in heads]
        self.merged = empty(rows, self.width)
        self.hidden = empty(rows, model.blocks[0].mlp[0].out_features) if len(model.blocks) else None
        self.pool_weight = None if self._head_moves() else self._pooling(center["head.weight"])

    def _embed(self, w: torch.Tensor, bias: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        return (F.linear(self.x_tokens, w, bias) + position).reshape(-1, self.width)

    def _head_moves(self) -> bool:
        return self.weights.terms["head.weight"][3] is not None

    def _pooling(self, head_weight: torch.Tensor) -> torch.Tensor:
        """The head's weight tiled over the tokens and divided by their number: mean pooling and head in one."""
        return (head_weight.repeat(1, self.tokens) / self.tokens).contiguous()

    @torch.no_grad()
    def __call__(self, a: float, b: float) -> torch.Tensor:
        w = lambda name: self.weights(name, a, b)  # noqa: E731 - the point's weight of one parameter
        if self.embedding is not None:
            h = self.embedding(a, b)  # the residual stream, updated in place below
        else:
            h = self.h.copy_(self._embed(w("embed.weight"), w("embed.bias"), w("position")))
        for i, block in enumerate(self.model.blocks):
            p = f"blocks.{i}."
            normed = F.layer_norm(h, (self.width,), w(p + "norm1.weight"), w(p + "norm1.bias"), block.norm1.eps)
            torch.addmm(w(p + "qkv.bias"), normed, w(p + "qkv.weight").T, out=self.qkv)
            h.add_(w(p + "out.bias")).addmm_(self._attention(i, block.heads), w(p + "out.weight").T)
            normed = F.layer_norm(h, (self.width,), w(p + "norm2.weight"), w(p + "norm2.bias"), block.norm2.eps)
            hidden = torch.addmm(w(p + "mlp.0.bias"), normed, w(p + "mlp.0.weight").T, out=self.hidden)
            h.add_(w(p + "mlp.2.bias")).addmm_(F.gelu(hidden), w(p + "mlp.2.weight").T)
        z = F.layer_norm(h, (self.width,), w("norm.weight"), w("norm.bias"), self.model.norm.eps)
        pool = self.pool_weight if self.pool_weight is not None else self._pooling(w("head.weight"))
        return torch.addmm(w("head.bias"), z.view(self.n, -1), pool.T)

    def _attention(self, i: int, heads: int) -> torch.Tensor:
        """softmax(q kᵀ/√d) v of every head from self.qkv, merged back to (samples × tokens, width)."""
        n, tokens, head = self.n, self.tokens, self.width // heads
        q, k, v = self.heads_major[i]
        self.heads_major[i].view(3, n, heads, tokens, head).copy_(
            self.qkv.view(n, tokens, 3, heads, head).permute(2, 0, 3, 1, 4))
        scores = torch.baddbmm(self.scores[i], q, k.transpose(1, 2), beta=0, alpha=1 / math.sqrt(head),
                               out=self.scores[i])
        attended = torch.bmm(torch.softmax(scores, dim=-1), v, out=self.attended[i])
        self.merged.view(n, tokens, heads, head).copy_(attended.view(n, heads, tokens, head).transpose(1, 2))
        return self.merged
