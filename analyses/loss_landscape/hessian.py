"""Hessian estimators of the loss with respect to the parameters (PyHessian: Yao et al. 2020;
spectral density: Ghorbani et al. 2019).

A network's Hessian has as many rows as the network has parameters, so it is never formed:
every estimator only needs Hessian-vector products, which double backward gives at the cost
of about two gradients. The gradient graph is built once per call and reused for every product.

Parameters are dicts name -> tensor, as from ``dict(model.named_parameters())``; the Hessian
is taken with respect to every tensor in the dict (pass a subset to restrict it). The tensors are
detached before differentiating and only ``torch.autograd.grad`` is used, so nothing accumulates
in the model's ``.grad`` and the model is left unchanged. Random vectors come from ``generator``
(a CPU ``torch.Generator``, or the global one when None) so that results are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from .problem import cross_entropy

Params = dict[str, torch.Tensor]
LossFn = Callable[[Params], torch.Tensor]


def make_loss_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 loss=None) -> LossFn:
    """The loss (cross-entropy unless given) on one fixed batch as a function of the parameters.

    The model runs in whatever mode it is in: call ``model.eval()`` first so that dropout and
    batch-norm statistics do not make the loss (and so the Hessian) change from call to call.
    """
    loss = loss or cross_entropy
    return lambda params: loss(functional_call(model, params, (x,)), y)


def _operator(loss_fn: LossFn, params: Params):
    """(matvec, unflatten, n, like): matvec maps a flat vector v to the flat H v."""
    leaves = {name: p.detach().requires_grad_(True) for name, p in params.items()}
    inputs = list(leaves.values())
    grads = torch.autograd.grad(loss_fn(leaves), inputs, create_graph=True, allow_unused=True)
    flat_grad = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, inputs)])
    like = inputs[0]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        if not flat_grad.requires_grad:  # the loss is linear in the parameters
            return torch.zeros_like(v)
        hv = torch.autograd.grad(flat_grad, inputs, grad_outputs=v, retain_graph=True, allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(hv, inputs)]).detach()

    def unflatten(v: torch.Tensor) -> Params:
        out, start = {}, 0
        for name, p in leaves.items():
            out[name] = v[start:start + p.numel()].reshape(p.shape).clone()
            start += p.numel()
        return out

    return matvec, unflatten, flat_grad.numel(), like


def _flatten(vector: Params, params: Params) -> torch.Tensor:
    return torch.cat([vector[name].detach().reshape(-1).to(p) for name, p in params.items()])


def _random(n: int, like: torch.Tensor, generator, rademacher: bool) -> torch.Tensor:
    if rademacher:
        v = torch.randint(0, 2, (n,), generator=generator).to(like.dtype) * 2 - 1
    else:
        v = torch.randn(n, generator=generator, dtype=like.dtype)
    return v.to(like.device)


def _orthogonalise(v: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    """v minus its projection on the orthonormal basis, done twice: once is not enough in floating point."""
    if basis:
        q = torch.stack(basis)
        for _ in range(2):
            v = v - q.T @ (q @ v)
    return v


def hvp(loss_fn: LossFn, params: Params, vector: Params) -> Params:
    """H v, with the same names and shapes as ``params``."""
    matvec, unflatten, _, _ = _operator(loss_fn, params)
    return unflatten(matvec(_flatten(vector, params)))


@dataclass
class HessianEigen:
    """Eigenpairs found by power iteration; ``iterations[i]`` is the number of products pair i took."""
    values: list[float]
    vectors: list[Params]
    iterations: list[int]

    def __iter__(self):  # so that ``values, vectors = top_eigenpairs(...)`` works
        return iter((self.values, self.vectors))


def top_eigenpairs(loss_fn: LossFn, params: Params, k: int = 1, max_iter: int = 200, tol: float = 1e-4,
                   generator: torch.Generator | None = None) -> HessianEigen:
    """The k eigenvalues of largest magnitude |λ| and their unit eigenvectors, by power iteration.

    Power iteration converges to the eigenvalue of largest |λ|, which may be negative away from a
    minimum; values come in the order found, i.e. by decreasing |λ|, with their sign. Each later
    pair is found by deflation: the iterate is orthogonalised against the vectors already found
    at every step. An iteration stops when the Rayleigh quotient changes by less than ``tol``
    relative to itself, or after ``max_iter`` products. Convergence is slow when two |λ| are close
    (and fails for a pair ±λ); the eigenvalue is then less accurate than ``tol`` suggests.
    """
    matvec, unflatten, n, like = _operator(loss_fn, params)
    found, values, iterations = [], [], []
    for _ in range(min(k, n)):
        v = _orthogonalise(_random(n, like, generator, rademacher=False), found)
        v = v / v.norm()
        value = None
        for step in range(1, max_iter + 1):
            hv = matvec(v)
            new = float(hv @ v)
            converged = value is not None and abs(new - value) <= tol * abs(value)
            value = new
            hv = _orthogonalise(hv, found)
            scale = max([abs(value)] + [abs(x) for x in values])
            if hv.norm() <= torch.finfo(like.dtype).eps * scale:
                break  # H is zero on what is left: v is an eigenvector for λ = 0
            v = hv / hv.norm()
            if converged:
                break
        found.append(v)
        values.append(value)
        iterations.append(step)
    return HessianEigen(values, [unflatten(v) for v in found], iterations)


def hutchinson_trace(loss_fn: LossFn, params: Params, samples: int = 64,
                     generator: torch.Generator | None = None) -> tuple[float, float]:
    """(estimate, standard error) of tr H = E[zᵀHz] over Rademacher vectors z (Hutchinson 1989).

    Rademacher vectors give the smallest variance of this estimator among i.i.d. choices.
    """
    if samples < 2:
        raise ValueError("hutchinson_trace needs at least 2 samples for a standard error")
    matvec, _, n, like = _operator(loss_fn, params)
    draws = []
    for _ in range(samples):
        z = _random(n, like, generator, rademacher=True)
        draws.append(float(z @ matvec(z)))
    draws = np.asarray(draws)
    return float(draws.mean()), float(draws.std(ddof=1) / math.sqrt(samples))


def lanczos_ritz(loss_fn: LossFn, params: Params, steps: int = 40,
                 generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Ritz values, weights) of one Lanczos run from a random Rademacher start.

    The weights are the squared first components of the tridiagonal matrix's eigenvectors: the
    Gauss quadrature nodes and weights of the spectral measure seen from the start vector. Every
    new Lanczos vector is orthogonalised against all the earlier ones (full reorthogonalisation),
    so that floating point does not produce ghost copies of eigenvalues. The run stops early when
    the Krylov space becomes invariant, and never takes more steps than there are parameters.
    """
    matvec, _, n, like = _operator(loss_fn, params)
    v = _random(n, like, generator, rademacher=True)
    basis, alphas, betas = [v / v.norm()], [], []
    scale = 0.0
    for _ in range(min(steps, n)):
        w = matvec(basis[-1])
        alphas.append(float(w @ basis[-1]))
        w = _orthogonalise(w, basis)
        beta = float(w.norm())
        scale = max(scale, abs(alphas[-1]) + beta)
        if len(alphas) == min(steps, n) or beta <= 10 * n * torch.finfo(like.dtype).eps * scale:
            break
        betas.append(beta)
        basis.append(w / beta)
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    theta, u = torch.linalg.eigh(t)
    return theta.numpy(), (u[0] ** 2).numpy()


def lanczos_density(loss_fn: LossFn, params: Params, steps: int = 40, runs: int = 2, grid_points: int = 200,
                    sigma: float | None = None, generator: torch.Generator | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(grid, density) of the Hessian's eigenvalues by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each run's Ritz values are spread into Gaussians of width ``sigma`` weighted by their quadrature
    weights, and runs are averaged. The grid covers the Ritz values with 5 sigma on either side, so
    the density integrates to 1 on it as long as the grid spacing is below sigma. ``sigma`` defaults
    to 1% of the spread of the Ritz values, which the default grid resolves.
    """
    ritz = [lanczos_ritz(loss_fn, params, steps, generator) for _ in range(runs)]
    values = np.concatenate([r[0] for r in ritz])
    weights = np.concatenate([r[1] for r in ritz]) / runs
    lo, hi = float(values.min()), float(values.max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else 0.01 * max(abs(hi), 1e-12)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, grid_points)
    gauss = np.exp(-0.5 * ((grid[:, None] - values[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return grid, gauss @ weights


def directional_curvature(loss_fn: LossFn, params: Params, direction: Params) -> float:
    """dᵀ H d, not divided by dᵀd: the second derivative of t -> L(θ + t d) at t = 0.

    It is what the finite difference (L(θ+εd) - 2L(θ) + L(θ-εd)) / ε² of a 1D loss plot along d
    approximates; divide by dᵀd for the curvature per unit length.
    """
    hd = hvp(loss_fn, params, direction)
    return float(sum((hd[name] * direction[name].to(hd[name])).sum() for name in hd))
