"""Linear mode connectivity, with and without aligning hidden units first.

Two networks trained from different seeds usually sit on either side of a loss barrier along
the straight line between them (Frankle et al. 2020). Entezari et al. (2022) conjecture that
most of that barrier comes from the permutation symmetry of hidden units: relabelling the
units of a hidden layer (its rows, and the matching input columns of the next layer) leaves
the function unchanged. Ainsworth et al. (2023, "Git Re-Basin") find such a relabelling of
network B that brings its weights close to A's ("weight matching"), after which the barrier
often shrinks to nearly nothing.

The networks are the nn.Sequential models of `models.build_model`; their structure is read
from the modules, so any Sequential of Linear/Conv2d layers separated by parameter-free
modules that act on each unit or channel separately (ReLU, pooling, Flatten) works.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn


def _layers(model: nn.Module) -> list[tuple[str, int]]:
    """(parameter-name prefix, number of output units) of each Linear/Conv2d, input to output."""
    layers = []
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            layers.append((name, module.out_features))
        elif isinstance(module, nn.Conv2d):
            layers.append((name, module.out_channels))
        elif any(True for _ in module.parameters()):
            # A norm layer or the like would also need permuting; refuse rather than be silently wrong.
            raise ValueError(f"cannot permute through module {name!r} ({type(module).__name__})")
    return layers


def _by_unit(weight: torch.Tensor, n_in: int) -> torch.Tensor:
    """View a weight as (out, n_in units, rest): a Linear's columns, a conv's input channels, or,
    after AdaptiveAvgPool2d + Flatten, each channel's block of consecutive (channel-major) features."""
    return weight.reshape(weight.shape[0], n_in, -1)


def permute(model: nn.Module, params: dict, perms: list[torch.Tensor]) -> dict:
    """Relabel hidden units: unit i of hidden layer l becomes old unit perms[l][i].

    Rows (and bias) of layer l and the matching input columns of layer l+1 move together, so the
    network computes exactly the same function. The output layer has no permutation.
    """
    layers = _layers(model)
    if len(perms) != len(layers) - 1:
        raise ValueError(f"need {len(layers) - 1} permutations (one per hidden layer), got {len(perms)}")
    out = {name: p.detach().clone() for name, p in params.items()}
    for l, (prefix, n) in enumerate(layers):
        weight = out[f"{prefix}.weight"]
        if l < len(perms):  # this layer's own units: rows and bias
            weight = weight[perms[l]]
            if f"{prefix}.bias" in out:
                out[f"{prefix}.bias"] = out[f"{prefix}.bias"][perms[l]]
        if l > 0:  # the previous layer's units: input columns
            n_in = layers[l - 1][1]
            weight = _by_unit(weight, n_in)[:, perms[l - 1]].reshape(weight.shape)
        out[f"{prefix}.weight"] = weight
    return out


def _similarity(layers, a: dict, b: dict, perms: list[torch.Tensor], l: int) -> np.ndarray:
    """S[i, j]: how well unit j of B fits slot i of A, given the other layers' current permutations.

    The sum of the inner products of A's and B's incoming weights and biases (B's inputs already
    permuted by P_{l-1}) and of their outgoing weights in layer l+1 (B's outputs permuted by P_{l+1}):
    the terms of sum_k <W_k^A, P_k W_k^B P_{k-1}^T> that depend on P_l (Ainsworth et al., eq. 3).
    """
    prefix, n = layers[l]
    wb = b[f"{prefix}.weight"]
    if l > 0:
        wb = _by_unit(wb, layers[l - 1][1])[:, perms[l - 1]]
    s = a[f"{prefix}.weight"].reshape(n, -1) @ wb.reshape(n, -1).T
    if f"{prefix}.bias" in a:
        s += torch.outer(a[f"{prefix}.bias"], b[f"{prefix}.bias"])
    nxt, n_next = layers[l + 1]
    wa_next, wb_next = _by_unit(a[f"{nxt}.weight"], n), _by_unit(b[f"{nxt}.weight"], n)
    if l + 1 < len(perms):
        wb_next = wb_next[perms[l + 1]]
    s += wa_next.transpose(0, 1).reshape(n, -1) @ wb_next.transpose(0, 1).reshape(n, -1).T
    return s.numpy()


def weight_matching(model: nn.Module, params_a: dict, params_b: dict, max_iter: int = 100,
                    seed: int = 0) -> tuple[dict, dict]:
    """Permute B's hidden units to maximise sum_l <W_l^A, P_l W_l^B P_{l-1}^T> (Ainsworth et al., Alg. 1).

    Jointly this is NP-hard, but with the other permutations fixed each P_l is a linear assignment
    problem; coordinate descent over the layers in random order stops when a sweep changes nothing.
    Only weights are compared, no data is needed. Returns (B permuted, {"iterations", "converged", "perms"}).
    """
    layers = _layers(model)
    a = {k: v.detach().to(torch.float64) for k, v in params_a.items()}
    b = {k: v.detach().to(torch.float64) for k, v in params_b.items()}
    perms = [torch.arange(n) for _, n in layers[:-1]]
    rng = np.random.default_rng(seed)
    converged, iterations = not perms, 0
    while not converged and iterations < max_iter:
        iterations += 1
        converged = True
        for l in rng.permutation(len(perms)):
            s = _similarity(layers, a, b, perms, l)
            _, best = linear_sum_assignment(s, maximize=True)
            rows = np.arange(len(best))
            # Ties can make the solver return another optimum; only a strict gain counts as a change.
            if s[rows, best].sum() > s[rows, perms[l].numpy()].sum() + 1e-12 * max(1.0, np.abs(s).max()):
                perms[l] = torch.from_numpy(best)
                converged = False
    info = {"iterations": iterations, "converged": converged, "perms": perms}
    return permute(model, params_b, perms), info


@torch.no_grad()
def interpolate(model: nn.Module, params_a: dict, params_b: dict, evaluate, points: int = 21) -> pd.DataFrame:
    """Evaluate theta(alpha) = (1 - alpha) A + alpha B at `points` alphas evenly spaced in [0, 1].

    `evaluate(params) -> dict of floats` is the caller's (losses and accuracies on their data);
    the table has a column alpha and one per key. `model` fixes which parameters must be present.
    """
    names = [name for name, _ in model.named_parameters()]
    missing = [n for n in names if n not in params_a or n not in params_b]
    if missing:
        raise ValueError(f"parameters missing from params_a or params_b: {missing[:5]}")
    rows = []
    for alpha in np.linspace(0.0, 1.0, points):
        theta = {n: (1 - alpha) * params_a[n].detach() + alpha * params_b[n].detach() for n in names}
        rows.append({"alpha": float(alpha), **{k: float(v) for k, v in evaluate(theta).items()}})
    return pd.DataFrame(rows)


def barriers(alpha, loss) -> dict[str, float]:
    """The loss barrier along an interpolation path, under both definitions in use.

    With L(alpha) the loss along the path, alpha running from 0 to 1:

    - "barrier_mean" = max_alpha [ L(alpha) - (L(0) + L(1)) / 2 ]
      (Frankle et al. 2020's instability, Entezari et al. 2022's barrier): the height above the
      mean of the endpoints. It includes the endpoints, so it is never below |L(1) - L(0)| / 2:
      two solutions of unequal loss show a "barrier" even on a straight, monotone path.
    - "barrier_linear" = max_alpha [ L(alpha) - ((1 - alpha) L(0) + alpha L(1)) ]
      (Ainsworth et al. 2023): the height above the chord between the endpoints, 0 for any
      convex or linear path, so it measures only the bump.

    Values are reported as computed, without clipping. alpha is rescaled to [0, 1] from its
    first and last entries, so a path sampled on [a, b] is measured against its own endpoints.
    """
    alpha, loss = np.asarray(alpha, dtype=float), np.asarray(loss, dtype=float)
    if alpha.shape != loss.shape or alpha.size < 2:
        raise ValueError("alpha and loss need the same length, at least 2")
    t = (alpha - alpha[0]) / (alpha[-1] - alpha[0])
    return {"barrier_mean": float(np.max(loss - (loss[0] + loss[-1]) / 2)),
            "barrier_linear": float(np.max(loss - ((1 - t) * loss[0] + t * loss[-1])))}
