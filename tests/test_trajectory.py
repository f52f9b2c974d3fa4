"""Optimization paths on the PCA plane of θ_i − θ_T (Li et al. 2018, section 7)."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from analyses.loss_landscape.trajectory import pca_plane, plane_range, project, trajectory_table

SHAPES = {"0.weight": (6, 4), "0.bias": (6,), "2.weight": (3, 6), "2.bias": (3,)}


def flat(d):
    return torch.cat([t.detach().reshape(-1).double() for t in d.values()])


def unflat(v, dtype=torch.float64):
    out, start = {}, 0
    for name, shape in SHAPES.items():
        n = torch.Size(shape).numel()
        out[name] = v[start:start + n].reshape(shape).to(dtype)
        start += n
    return out


def size():
    return sum(torch.Size(s).numel() for s in SHAPES.values())


def random_checkpoints(count, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [unflat(torch.randn(size(), generator=g, dtype=torch.float64), dtype) for _ in range(count)]


def test_final_model_is_the_origin_with_zero_residual():
    checkpoints = random_checkpoints(6, 0, torch.float32)
    plane = pca_plane(checkpoints)
    assert project(plane, checkpoints[-1]) == (0.0, 0.0, 0.0)
    for d in (plane.d1, plane.d2):
        assert flat(d).norm().item() == pytest.approx(1.0, abs=1e-6)
        assert {n: t.shape for n, t in d.items()} == {n: torch.Size(s) for n, s in SHAPES.items()}


def test_checkpoints_in_a_known_plane_are_recovered_up_to_rotation():
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(size(), 2, generator=g, dtype=torch.float64))
    u, v = q[:, 0], q[:, 1]
    final = torch.randn(size(), generator=g, dtype=torch.float64)
    s = torch.tensor([3.0, 2.0, 1.5, 0.4, -0.5, 0.0], dtype=torch.float64)
    t = torch.tensor([-1.0, 1.0, 0.2, 0.7, 0.1, 0.0], dtype=torch.float64)
    checkpoints = [unflat(final + si * u + ti * v) for si, ti in zip(s, t)]

    plane = pca_plane(checkpoints)
    assert sum(plane.explained_variance_ratio) == pytest.approx(1.0, abs=1e-9)
    # The principal directions span the same plane as u, v.
    basis = torch.stack([flat(plane.d1), flat(plane.d2)])
    torch.testing.assert_close(basis @ q @ (basis @ q).T, torch.eye(2, dtype=torch.float64), atol=1e-9, rtol=0)

    points = []
    for c in checkpoints:
        a, b, residual = project(plane, c)
        assert residual < 1e-6
        points.append(torch.tensor([a, b], dtype=torch.float64))
    # Coordinates match the construction up to sign/rotation: pairwise distances are preserved.
    for i, j in itertools.combinations(range(len(checkpoints)), 2):
        true = (flat(checkpoints[i]) - flat(checkpoints[j])).norm().item()
        assert (points[i] - points[j]).norm().item() == pytest.approx(true, abs=1e-9)


def test_projection_is_the_dot_product_and_pythagoras_holds():
    checkpoints = random_checkpoints(8, 2)
    plane = pca_plane(checkpoints)
    d1, d2 = flat(plane.d1), flat(plane.d2)
    assert abs(torch.dot(d1, d2).item()) < 1e-10
    total, captured = 0.0, 0.0
    for c in checkpoints:
        delta = flat(c) - flat(checkpoints[-1])
        a, b, residual = project(plane, c)
        assert a == pytest.approx(torch.dot(delta, d1).item(), abs=1e-10)
        assert b == pytest.approx(torch.dot(delta, d2).item(), abs=1e-10)
        assert residual ** 2 + a ** 2 + b ** 2 == pytest.approx(delta.norm().item() ** 2, rel=1e-10)
        total += delta.norm().item() ** 2
        captured += a ** 2 + b ** 2
    # Uncentered PCA: the ratios are the shares of Σ‖θ_i − θ_T‖² captured by each direction.
    assert sum(plane.explained_variance_ratio) == pytest.approx(captured / total, rel=1e-10)
    assert plane.explained_variance_ratio[0] >= plane.explained_variance_ratio[1]
    # Sign convention: the first checkpoint has non-negative coordinates.
    a0, b0, _ = project(plane, checkpoints[0])
    assert a0 >= 0 and b0 >= 0


def test_rejects_degenerate_input():
    checkpoints = random_checkpoints(3, 3)
    with pytest.raises(ValueError, match="equal the final"):
        pca_plane([checkpoints[0], checkpoints[0]])
    with pytest.raises(ValueError, match="at least two"):
        pca_plane(checkpoints[:1])
    with pytest.raises(ValueError, match="same parameter names"):
        pca_plane([{"x": torch.zeros(2)}, checkpoints[0]])


def test_trajectory_table_on_a_trained_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    checkpoints, steps = [], []
    for step in range(31):
        if step % 5 == 0:
            checkpoints.append({n: p.detach().clone() for n, p in model.named_parameters()})
            steps.append(step)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    def evaluate(theta):
        with torch.no_grad():
            logits = functional_call(model, theta, (x,))
        return {"train_loss": F.cross_entropy(logits, y).item(),
                "train_accuracy": (logits.argmax(1) == y).float().mean().item()}

    plane = pca_plane(checkpoints)
    table = trajectory_table(plane, checkpoints, steps, evaluate)
    assert list(table.columns) == ["step", "a", "b", "residual", "relative_residual", "train_loss",
                                   "train_accuracy", "plane_train_loss", "plane_train_accuracy"]
    assert list(table["step"]) == steps
    last = table.iloc[-1]
    assert (last["a"], last["b"], last["residual"], last["relative_residual"]) == (0.0, 0.0, 0.0, 0.0)
    assert last["plane_train_loss"] == last["train_loss"]
    assert last["plane_train_accuracy"] == last["train_accuracy"]
    assert ((table["relative_residual"] >= 0) & (table["relative_residual"] <= 1 + 1e-9)).all()
    assert table["train_loss"].iloc[0] > table["train_loss"].iloc[-1]  # it trained
    # The true loss is evaluate(θ_i) itself, not a plane value.
    assert table["train_loss"].iloc[0] == evaluate(checkpoints[0])["train_loss"]

    amin, amax, bmin, bmax = plane_range(table, margin=0.25)
    assert amin < table["a"].min() and table["a"].max() < amax
    assert bmin < table["b"].min() and table["b"].max() < bmax
    span = table["a"].max() - table["a"].min()
    assert amax - amin == pytest.approx(1.5 * span)


def test_plane_range_never_collapses():
    import pandas as pd

    amin, amax, bmin, bmax = plane_range(pd.DataFrame({"a": [2.0, 0.0], "b": [0.0, 0.0]}))
    assert (amin, amax) == pytest.approx((-0.5, 2.5))
    assert bmin < 0 < bmax
