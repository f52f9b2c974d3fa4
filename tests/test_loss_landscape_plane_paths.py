"""The surface's fast paths (plane.py and its helpers) give the numbers of the plain network at every point.

The reference is plain torch: the model's own parameters set to θ* + a·d₁ + b·d₂ in place, the model
called on the train and the test samples, `cross_entropy` and `argmax`; never labscope's evaluation.
Points are walked row by row, as the surface does (the first layer keeps base + b·v per row), and
then in a scrambled order.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analyses.loss_landscape import plane_transformer
from analyses.loss_landscape.data import Split
from analyses.loss_landscape.directions import filter_normalized_direction
from analyses.loss_landscape.models import SmallTransformer
from analyses.loss_landscape.plane import PlaneEvaluator
from analyses.loss_landscape.plane_numbers import CrossEntropyNumbers
from analyses.loss_landscape.problem import Problem



@pytest.fixture(autouse=True)
def one_thread():
    """As the analysis runs (LABSCOPE_TORCH_THREADS); two threads on a busy machine made these tests 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ROWS = [(float(a), float(b)) for b in np.linspace(-1, 1, 4) for a in np.linspace(-1, 1, 4)]
SCRAMBLED = [ROWS[i] for i in np.random.default_rng(0).permutation(len(ROWS))]


def _data(n_features, n_classes, n_train=40, n_test=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, n_features, generator=g)
    y = torch.randint(0, n_classes, (n_train + n_test,), generator=g)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _reference(model, center, d1, d2, data, a, b):
    """The four numbers with the weights set in the model itself."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(center[name] + a * d1[name] + b * d2[name])
        numbers = []
        for x, y in data:
            out = model(x)
            numbers += [F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()]
        for name, p in params.items():
            p.copy_(center[name])
    return dict(zip(("train_loss", "train_accuracy", "test_loss", "test_accuracy"), numbers))


def _evaluate(model, data, independent=True, seed=1):
    model.eval()
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(seed)
    # Every parameter moves (biases, norm scales and the position too): "weights" for the 1-D ones.
    d1, d2 = (filter_normalized_direction(center, g, "weights") for _ in range(2))
    (x, y), (x_test, y_test) = data
    problem = Problem(Split(x, y, x_test, y_test, int(y.max()) + 1, None), lambda seed: model,
                      independent_samples=independent)
    evaluator = PlaneEvaluator(model, center, [d1, d2], data, problem, plain=None, batch_points=None)
    return evaluator, center, d1, d2


def _assert_matches(model, evaluator, center, d1, d2, data):
    for order in (ROWS, SCRAMBLED):
        for (a, b), got in zip(order, evaluator(order), strict=True):
            expected = _reference(model, center, d1, d2, data, a, b)
            for key, value in expected.items():
                assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-5), (a, b, key)


@pytest.mark.parametrize("independent", [True, False])
def test_the_written_out_transformer_equals_the_model_at_every_point(independent):
    torch.manual_seed(0)
    model = SmallTransformer(n_features=12, n_classes=3, width=8, depth=2, tokens=4)
    data = _data(12, 3)
    evaluator, *weights = _evaluate(model, data, independent)
    assert evaluator.transformers is not None and len(evaluator.transformers) == (1 if independent else 2)
    assert evaluator.transformers[0].embedding is not None  # the embedding shortcut is taken
    _assert_matches(model, evaluator, *weights, data)


def test_the_transformer_without_the_embedding_shortcut_equals_the_model(monkeypatch):
    monkeypatch.setattr(plane_transformer, "MAX_EMBEDDING_BYTES", 0)
    torch.manual_seed(1)
    model = SmallTransformer(n_features=12, n_classes=4, width=8, depth=1, tokens=3)
    data = _data(12, 4)
    evaluator, *weights = _evaluate(model, data)
    assert evaluator.transformers[0].embedding is None
    _assert_matches(model, evaluator, *weights, data)


def test_a_subclass_of_the_transformer_runs_whole():
    class Doubled(SmallTransformer):
        def forward(self, x):
            return 2 * super().forward(x)

    torch.manual_seed(2)
    model = Doubled(n_features=12, n_classes=3, width=8, depth=1, tokens=4)
    data = _data(12, 3)
    evaluator, *weights = _evaluate(model, data)
    assert evaluator.transformers is None
    _assert_matches(model, evaluator, *weights, data)


def test_a_sequential_that_uses_one_layer_twice_runs_whole():
    torch.manual_seed(3)
    shared = nn.Linear(6, 6)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(6, 3))
    data = _data(5, 3)
    evaluator, *weights = _evaluate(model, data)
    assert evaluator.steps is None
    _assert_matches(model, evaluator, *weights, data)


def test_two_passes_of_equal_size_keep_their_outputs_apart():
    """A layer norm (not one of the per-sample layers the plan knows) makes train and test two passes; with
    as many test as train samples they share the layers' output buffers, and the last layer has no bias."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 3, bias=False))
    data = _data(5, 3, n_train=30, n_test=30)
    evaluator, *weights = _evaluate(model, data)
    assert len(evaluator.segments) == 2 and evaluator.shortcut is not None
    _assert_matches(model, evaluator, *weights, data)


@pytest.mark.parametrize("class_dim", [0, 1])
def test_the_four_numbers_count_ties_and_infinities_as_plain_torch_does(class_dim):
    targets = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    n_train = 4
    tied = torch.zeros(7, 3)  # every class ties: argmax takes the first, class 0
    blown = torch.randn(7, 3, generator=torch.Generator().manual_seed(5))
    blown[5, 1] = float("inf")  # a test sample with an infinite logit
    finite = torch.randn(7, 3, generator=torch.Generator().manual_seed(6))
    numbers = CrossEntropyNumbers(targets, n_train, class_dim)
    for out in (tied, blown, finite):
        # The problem's loss, logsumexp minus the target's logit: infinite where a logit is (F.cross_entropy: NaN).
        losses = torch.logsumexp(out, 1) - out[torch.arange(7), targets]
        hits = (out.argmax(1) == targets).float()
        expected = [losses[:n_train].mean(), hits[:n_train].mean(), losses[n_train:].mean(), hits[n_train:].mean()]
        got = numbers(out.T.contiguous() if class_dim == 0 else out)
        for value, key in zip(expected, ("train_loss", "train_accuracy", "test_loss", "test_accuracy")):
            assert got[key] == pytest.approx(float(value), rel=1e-6, abs=1e-6, nan_ok=True), (key, out)
    assert numbers(tied.T.contiguous() if class_dim == 0 else tied)["train_accuracy"] == 0.25
