"""Linear mode connectivity: permutation symmetry, weight matching, barriers."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from analyses.loss_landscape.training import evaluate
from analyses.loss_landscape.connectivity import barriers, interpolate, permute, weight_matching
from analyses.loss_landscape.data import load_split
from analyses.loss_landscape.models import build_model

torch.set_num_threads(1)

KINDS = {"mlp": {}, "cnn": {"image_shape": (8, 8)}}


def model_and_params(kind, seed, width=6, depth=2):
    torch.manual_seed(seed)
    model = build_model(kind, 64, 10, width, depth, **KINDS[kind])
    return model, {n: p.detach().clone() for n, p in model.named_parameters()}


def random_perms(params, seed):
    """One random permutation per hidden layer, sized from the biases (the output layer has 10)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [p.shape[0] for n, p in params.items() if n.endswith(".bias")][:-1]
    return [torch.randperm(n, generator=g) for n in sizes]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_permuting_hidden_units_leaves_the_function_unchanged(kind):
    model, params = model_and_params(kind, 0)
    perms = random_perms(params, 1)
    assert len(perms) == 2 and all(not torch.equal(p, torch.arange(len(p))) for p in perms)
    permuted = permute(model, params, perms)
    assert any(not torch.equal(params[n], permuted[n]) for n in params)  # the weights did move
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(functional_call(model, permuted, (x,)), functional_call(model, params, (x,)),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_weight_matching_recovers_a_known_permutation(kind):
    model, params_a = model_and_params(kind, 0, width=8)
    params_b = permute(model, params_a, random_perms(params_a, 3))
    assert all(not torch.equal(params_b[n], params_a[n]) for n in params_a if n.endswith(".weight"))
    matched, info = weight_matching(model, params_a, params_b)
    assert info["converged"] and info["iterations"] <= 100
    for name in params_a:
        torch.testing.assert_close(matched[name], params_a[name], atol=0, rtol=0)


def test_weight_matching_leaves_the_function_of_b_unchanged():
    model, params_a = model_and_params("cnn", 0)
    _, params_b = model_and_params("cnn", 1)
    matched, _ = weight_matching(model, params_a, params_b)
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(functional_call(model, matched, (x,)), functional_call(model, params_b, (x,)),
                               atol=1e-5, rtol=1e-5)


def test_barriers_of_hand_made_curves():
    assert barriers([0, 0.5, 1], [1, 3, 2]) == pytest.approx({"barrier_mean": 1.5, "barrier_linear": 1.5})
    # Asymmetric endpoints: the mean baseline is 2.5 everywhere, so the worst is the endpoint 4 - 2.5;
    # the chord is 1, 2, 3, 4, so only the bump at alpha = 1/3 counts, 3 - 2.
    assert barriers([0, 1 / 3, 2 / 3, 1], [1, 3, 3, 4]) == pytest.approx({"barrier_mean": 1.5, "barrier_linear": 1.0})
    # A straight path between unequal losses: no bump, but half the difference under the mean definition.
    assert barriers(np.linspace(0, 1, 5), np.linspace(1, 2, 5)) == pytest.approx(
        {"barrier_mean": 0.5, "barrier_linear": 0.0})


def test_interpolating_a_model_with_itself_has_no_barrier():
    model, params = model_and_params("mlp", 0)
    x, y = torch.randn(40, 64), torch.randint(0, 10, (40,))

    def loss(p):
        value, accuracy = evaluate(model, p, x, y)
        return {"loss": value, "accuracy": accuracy}

    path = interpolate(model, params, params, loss, points=5)
    assert list(path.columns) == ["alpha", "loss", "accuracy"]
    np.testing.assert_allclose(path.alpha, [0, 0.25, 0.5, 0.75, 1])
    assert barriers(path.alpha, path.loss) == pytest.approx({"barrier_mean": 0, "barrier_linear": 0}, abs=1e-6)


def trained_mlp(split, seed, epochs=5):
    """A width-32, depth-2 MLP from its own init and its own minibatch order."""
    model, _ = model_and_params("mlp", seed, width=32, depth=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(split.x_train), generator=g)
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(split.x_train[batch]), split.y_train[batch]).backward()
            optimizer.step()
    return model, {n: p.detach().clone() for n, p in model.named_parameters()}


def test_weight_matching_lowers_the_barrier_between_independently_trained_nets():
    split = load_split("digits", None, 0.25, 0)
    model, params_a = trained_mlp(split, 1)
    _, params_b = trained_mlp(split, 2)

    def metrics(p):
        train_loss, train_accuracy = evaluate(model, p, split.x_train, split.y_train)
        test_loss, test_accuracy = evaluate(model, p, split.x_test, split.y_test)
        return {"train_loss": train_loss, "train_accuracy": train_accuracy,
                "test_loss": test_loss, "test_accuracy": test_accuracy}

    assert metrics(params_a)["test_accuracy"] > 0.9 and metrics(params_b)["test_accuracy"] > 0.9
    matched, info = weight_matching(model, params_a, params_b)
    assert info["converged"]
    naive = interpolate(model, params_a, params_b, metrics, points=11)
    aligned = interpolate(model, params_a, matched, metrics, points=11)
    for column in ("train_loss", "test_loss"):
        before, after = barriers(naive.alpha, naive[column]), barriers(aligned.alpha, aligned[column])
        assert before["barrier_linear"] > 0.1
        for definition in before:
            assert after[definition] <= before[definition]
    # Train loss: the barrier nearly vanishes (about 0.94 -> 0.03 here); midpoint accuracy recovers.
    before, after = barriers(naive.alpha, naive.train_loss), barriers(aligned.alpha, aligned.train_loss)
    assert after["barrier_linear"] < 0.25 * before["barrier_linear"]
    assert aligned.test_accuracy.min() > naive.test_accuracy.min() + 0.1
