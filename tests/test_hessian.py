"""Hessian estimators against the exact Hessian of a tiny network (3-4-2 tanh MLP, 26 parameters, float64)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from analyses.loss_landscape.hessian import (
    directional_curvature, hutchinson_trace, hvp, lanczos_density, lanczos_ritz, make_loss_fn, top_eigenpairs,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(dtype=torch.float64):
    """Untrained, so the spectrum has negative eigenvalues; its top |λ| are well separated (0.69, 0.49, 0.37, 0.29)."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(dtype)
    x = torch.randn(16, 3, dtype=torch.float64).to(dtype)
    y = torch.randint(0, 2, (16,))
    return model, make_loss_fn(model, x, y), dict(model.named_parameters())


def flat(d):
    return torch.cat([t.detach().reshape(-1) for t in d.values()])


def exact_hessian(loss_fn, params):
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def flat_loss(v):
        return loss_fn({n: t.reshape(s) for n, t, s in zip(names, v.split(sizes), shapes)})

    return torch.autograd.functional.hessian(flat_loss, flat(params))


def random_like(params, seed):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=g, dtype=p.dtype) for n, p in params.items()}


def test_hvp_equals_the_exact_hessian_times_the_vector():
    _, loss_fn, params = tiny()
    v = random_like(params, 1)
    hv = hvp(loss_fn, params, v)
    assert {n: t.shape for n, t in hv.items()} == {n: p.shape for n, p in params.items()}
    torch.testing.assert_close(flat(hv), exact_hessian(loss_fn, params) @ flat(v), rtol=1e-10, atol=1e-12)


def test_power_iteration_finds_the_three_eigenpairs_of_largest_magnitude():
    _, loss_fn, params = tiny()
    h = exact_hessian(loss_fn, params)
    exact = torch.linalg.eigvalsh(h)
    exact = exact[exact.abs().argsort(descending=True)][:3]
    found = top_eigenpairs(loss_fn, params, k=3, max_iter=1000, tol=1e-6, generator=torch.Generator().manual_seed(0))
    values, vectors = found  # unpacks like the (values, vectors) tuple
    np.testing.assert_allclose(values, exact.numpy(), rtol=1e-3)
    assert len(found.iterations) == 3 and all(1 < i < 1000 for i in found.iterations)
    flats = torch.stack([flat(v) for v in vectors])
    torch.testing.assert_close(flats @ flats.T, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)
    for value, v in zip(values, flats):
        assert torch.linalg.norm(h @ v - value * v) < 1e-2 * abs(value)


def test_hutchinson_trace_is_within_three_standard_errors_of_the_exact_trace():
    _, loss_fn, params = tiny()
    trace = torch.trace(exact_hessian(loss_fn, params)).item()
    mean, se = hutchinson_trace(loss_fn, params, samples=2000, generator=torch.Generator().manual_seed(0))
    assert 0 < se < 0.1 * abs(trace)
    assert abs(mean - trace) < 3 * se


def test_full_lanczos_recovers_the_exact_spectrum_and_the_density_integrates_to_one():
    _, loss_fn, params = tiny()
    exact = torch.linalg.eigvalsh(exact_hessian(loss_fn, params)).numpy()
    ritz, weights = lanczos_ritz(loss_fn, params, steps=40, generator=torch.Generator().manual_seed(0))
    # A repeated eigenvalue (the null space of softmax's shift invariance) is seen once from one start vector,
    # so compare the sets: every Ritz value is an eigenvalue and every eigenvalue is a Ritz value.
    distance = np.abs(ritz[:, None] - exact[None, :])
    assert distance.min(axis=1).max() < 1e-8 and distance.min(axis=0).max() < 1e-8
    assert len(ritz) < len(exact)  # stopped early on the invariant Krylov space
    assert np.all(weights >= 0) and abs(weights.sum() - 1) < 1e-10

    grid, density = lanczos_density(loss_fn, params, steps=40, runs=1, generator=torch.Generator().manual_seed(0))
    assert grid[0] < exact.min() and grid[-1] > exact.max() and np.all(density >= 0)
    assert abs(np.trapezoid(density, grid) - 1) < 1e-3
    grid, density = lanczos_density(loss_fn, params, steps=10, runs=3, sigma=0.01, grid_points=400,
                                    generator=torch.Generator().manual_seed(1))
    assert abs(np.trapezoid(density, grid) - 1) < 1e-3


def test_directional_curvature_is_dHd_and_the_second_difference_of_the_loss():
    model, loss_fn, params = tiny()
    d = random_like(params, 2)
    curvature = directional_curvature(loss_fn, params, d)
    exact = (flat(d) @ exact_hessian(loss_fn, params) @ flat(d)).item()
    assert curvature == pytest.approx(exact, rel=1e-10)

    eps = 1e-3
    with torch.no_grad():
        def loss_at(t):
            return loss_fn({n: p + t * d[n] for n, p in params.items()}).item()
        second_difference = (loss_at(eps) - 2 * loss_at(0.0) + loss_at(-eps)) / eps**2
    assert curvature == pytest.approx(second_difference, rel=1e-2)


def test_float32_model_gives_the_top_eigenvalue():
    _, loss_fn, params = tiny(torch.float32)
    _, loss_fn64, params64 = tiny()  # the same weights (initialised in float32) and data, in float64
    exact = torch.linalg.eigvalsh(exact_hessian(loss_fn64, params64))
    found = top_eigenpairs(loss_fn, params, k=1, generator=torch.Generator().manual_seed(0))
    assert found.values[0] == pytest.approx(exact.abs().max().item(), rel=1e-3)
    assert flat(found.vectors[0]).dtype == torch.float32


def test_nothing_is_left_on_the_model():
    model, loss_fn, params = tiny()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    hvp(loss_fn, params, random_like(params, 1))
    top_eigenpairs(loss_fn, params, k=2, max_iter=20, generator=g)
    hutchinson_trace(loss_fn, params, samples=4, generator=g)
    lanczos_density(loss_fn, params, steps=5, generator=g)
    directional_curvature(loss_fn, params, random_like(params, 2))
    for name, p in model.named_parameters():
        assert p.grad is None and p.requires_grad
        assert torch.equal(p.detach(), before[name])


def test_the_fast_cross_entropy_equals_torchs_with_its_derivatives():
    from analyses.loss_landscape.problem import cross_entropy

    torch.manual_seed(0)
    logits, labels = (20 * torch.randn(300, 10, dtype=torch.float64)).requires_grad_(), torch.randint(0, 10, (300,))
    ours, reference = cross_entropy(logits, labels), torch.nn.functional.cross_entropy(logits, labels)
    assert float(ours) == pytest.approx(float(reference), rel=1e-12)
    g_ours, = torch.autograd.grad(ours, logits, create_graph=True)
    g_ref, = torch.autograd.grad(reference, logits, create_graph=True)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    v = torch.randn_like(logits)
    hv_ours, = torch.autograd.grad(g_ours, logits, grad_outputs=v)
    hv_ref, = torch.autograd.grad(g_ref, logits, grad_outputs=v)
    assert torch.allclose(hv_ours, hv_ref, atol=1e-12)
