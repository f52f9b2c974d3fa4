"""labscope's own transformer (`models.SmallTransformer`) at a point of the plane, written out.

Run whole at every grid point (`functional_call`), the preset's transformer was slower than a plain loop
that sets the weights in place: its time goes to memory-bound steps over (samples × tokens) activations
(the copies that reshape q, k and v for the batched products, bias copies in `addmm`, layer norms, GELU),
not to arithmetic. Written out, the same network does less of that, with the same numbers up to float
rounding:

- The embedding and the learned position are affine in (a, b): x(W + aU + bV)ᵀ + c + p(a, b) is
  (xWᵀ + c + p) + a(xUᵀ + u_c + u_p) + b(xVᵀ + v_c + v_p), computed once per plane (plane_affine.py);
  a point costs one scaled addition there.
- No copy reorders q, k and v for the attention products. Activation rows are token-major (token,
  sample) instead of (sample, token), and the q/k/v projection's output columns are reordered once per
  plane from (q/k/v, head, feature) to (head, q/k/v, feature). Then one (sample, head)'s q, k or v is a
  (tokens × head width) matrix at a constant stride from the next one's, so the batched products read
  them in place; only the attention's output is copied once, into the rows the output projection reads.
  On the preset this halved the attention's time.
- The 1/√d scale rides in the score product (`baddbmm`'s alpha) instead of a division pass.
- Residual additions go into the projections (`addmm_` on the residual stream), not into separate passes.
- Mean pooling is a sum over the token-major blocks; the 1/tokens rides in the head's product.
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
        self.heads = [block.heads for block in model.blocks]
        self.weights = _PointWeights(*(self._heads_interleaved(w) for w in (center, d1, d2)))
        self.n, self.tokens = len(x), model.tokens
        self.width = model.position.shape[1]
        rows = self.n * self.tokens
        self.x_tokens = x.reshape(self.n, self.tokens, -1).transpose(0, 1).contiguous()  # token-major
        if 5 * rows * self.width * x.element_size() <= MAX_EMBEDDING_BYTES:
            with torch.no_grad():
                self.embedding = AffineTerms(*(self._embed(w["embed.weight"], w["embed.bias"], w["position"])
                                               for w in (center, d1, d2)))
        else:
            self.embedding = None
        # Activation buffers, reused at every point.
        empty = x.new_empty
        self.h = empty(rows, self.width) if self.embedding is None else None
        self.qkv = empty(rows, 3 * self.width)
        self.scores = [empty(self.n * h, self.tokens, self.tokens) for h in self.heads]
        self.attended = [empty(self.n * h, self.tokens, self.width // h) for h in self.heads]
        self.merged = empty(rows, self.width)
        self.hidden = empty(rows, model.blocks[0].mlp[0].out_features) if len(model.blocks) else None
        self.pooled = empty(self.n, self.width)

    def _heads_interleaved(self, weights: dict) -> dict:
        """The q/k/v projections' weight rows and biases reordered from (q/k/v, head, feature) to (head, q/k/v,
        feature), so each head's q, k and v sit side by side in a row of the projection's output."""
        weights = dict(weights)
        for i, heads in enumerate(self.heads):
            for name in (f"blocks.{i}.qkv.weight", f"blocks.{i}.qkv.bias"):
                t = weights[name]
                weights[name] = t.reshape(3, heads, -1, *t.shape[1:]).transpose(0, 1).reshape(t.shape).contiguous()
        return weights

    def _embed(self, w: torch.Tensor, bias: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        return (F.linear(self.x_tokens, w, bias) + position[:, None]).reshape(-1, self.width)

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
        pooled = torch.sum(z.view(self.tokens, self.n, self.width), dim=0, out=self.pooled)
        return torch.addmm(w("head.bias"), pooled, w("head.weight").T, alpha=1 / self.tokens)

    def _attention(self, i: int, heads: int) -> torch.Tensor:
        """softmax(q kᵀ/√d) v of every head, read in place from self.qkv, merged into (tokens × samples, width)."""
        n, tokens, head = self.n, self.tokens, self.width // heads
        # (sample, head) pairs at a constant stride: each one's q, k and v is a (tokens × head) matrix.
        q, k, v = self.qkv.view(tokens, n * heads, 3, head).unbind(dim=2)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        scores = torch.baddbmm(self.scores[i], q, k.transpose(1, 2), beta=0, alpha=1 / math.sqrt(head),
                               out=self.scores[i])
        attended = torch.bmm(torch.softmax(scores, dim=-1), v, out=self.attended[i])
        self.merged.view(tokens, n * heads, head).copy_(attended.transpose(0, 1))
        return self.merged
