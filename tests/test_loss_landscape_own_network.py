"""A researcher's own network, trained outside labscope: the numbers labscope reports are that network's.

The independent checks are plain torch on the user's own model in eval mode (its loss, and a power
iteration on its Hessian), never labscope's functions.
"""

import numpy as np
import pytest
import torch
from torch import nn

import byo_example
from analyses.core import Context, InputError, run
from analyses.loss_landscape import ANALYSIS
from analyses.loss_landscape.compute import compute, plane_directions, plane_evaluator
from analyses.loss_landscape.training import losses as _losses
from analyses.loss_landscape.training import train
from analyses.loss_landscape.custom import load_checkpoints, resolve
from analyses.loss_landscape.directions import offset
from analyses.loss_landscape.problem import load


def train_outside(model, x, y, steps=60, every=20):
    """The researcher's own loop: train mode (dropout on, batch statistics), a checkpoint every `every` steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    states = []
    for step in range(steps + 1):
        if step % every == 0:
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if step == steps:
            break
        model.train()
        batch = torch.randperm(len(x), generator=generator)[:64]
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    model.eval()
    return states


def eval_loss(model, x, y):
    model.eval()
    with torch.no_grad():
        return nn.functional.cross_entropy(model(x), y).item()


def power_iteration(model, x, y, iterations=500, tol=1e-7):
    """Top Hessian eigenvalue of the eval-mode loss by double backward on the model itself."""
    model.eval()
    params = [p for p in model.parameters()]
    v = [torch.randn(p.shape, generator=torch.Generator().manual_seed(7)) for p in params]
    value = None
    for _ in range(iterations):
        norm = torch.sqrt(sum((t ** 2).sum() for t in v))
        v = [t / norm for t in v]
        grads = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        if value is not None and abs(new - value) <= tol * abs(new):
            return new
        value, v = new, [t.detach() for t in hv]
    return value


def own_network(kind, tmp_path, steps=60):
    byo_example.MODELS.clear()
    factory = getattr(byo_example, kind)
    model, (x, y), (x_test, y_test), _ = factory(seed=0)
    states = train_outside(model, x, y, steps=steps)
    path = tmp_path / "run.pt"
    torch.save({"checkpoints": states}, path)
    return model, (x, y), (x_test, y_test), path


def params_for(kind, checkpoint, **overrides):
    return ANALYSIS.params("smoke", {"model": "custom", "custom_model": f"byo_example:{kind}",
                                     "checkpoint": str(checkpoint), "eval_samples": 1000, "grid_points": 5,
                                     "slice_seeds": 1, "hessian_runs": 1, "hessian_top_k": 1, "interp_points": 5,
                                     "three_models": False, "epochs": 2, **overrides})


@pytest.mark.parametrize("kind", ["cnn_with_batchnorm", "lstm"])
def test_own_network_is_evaluated_as_trained(kind, tmp_path):
    model, (x, y), (x_test, y_test), path = own_network(kind, tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()  # the researcher's object is handed over in train mode: labscope must not care, nor change it
    result = compute(params_for(kind, path), Context(device="cpu"))
    assert result.metrics["final_train_loss"] == pytest.approx(eval_loss(model, x, y), rel=1e-6, abs=1e-7)
    assert result.metrics["center_train_loss"] == pytest.approx(eval_loss(model, x, y), rel=1e-6, abs=1e-7)
    assert result.metrics["center_test_loss"] == pytest.approx(eval_loss(model, x_test, y_test), rel=1e-6, abs=1e-7)
    assert result.metrics["final_test_accuracy"] == pytest.approx(
        (model(x_test).argmax(1) == y_test).float().mean().item())
    expected = power_iteration(model, x, y)
    assert result.metrics["hessian_top_eigenvalue"] == pytest.approx(expected, rel=0.01)
    # handed back as given: weights, running statistics, modes
    model.train()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(m.training for m in model.modules())
    notes = result.tables["notes"]
    assert "weight matching skipped" in " ".join(notes.note)
    assert "barrier_aligned" not in result.metrics


def test_each_checkpoint_is_evaluated_with_its_own_buffers(tmp_path):
    model, (x, y), (x_test, y_test), path = own_network("cnn_with_batchnorm", tmp_path)
    states = torch.load(path, weights_only=True)["checkpoints"]
    result = compute(params_for("cnn_with_batchnorm", path), Context(device="cpu"))
    history = result.tables["training"]
    for i, state in enumerate(states):
        twin = byo_example.cnn_with_batchnorm(seed=5)[0]
        twin.load_state_dict(state)
        assert history.test_loss.iloc[i] == pytest.approx(eval_loss(twin, x_test, y_test), rel=1e-6)


def test_state_dict_mismatches_are_named(tmp_path):
    byo_example.MODELS.clear()
    model = byo_example.cnn_with_batchnorm(seed=0)[0]
    good = model.state_dict()
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "2.running_var"}, "missing: 2.running_var"),
        "extra": ({**good, "head.weight": torch.zeros(3)}, "unexpected: head.weight"),
        "shape": ({**good, "6.weight": torch.zeros(32, 10)}, "wrong shape: 6.weight (32, 10) (model (32, 384))"),
    }
    for name, (state, message) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(state, path)
        with pytest.raises(InputError) as info:
            load_checkpoints(str(path), model)
        text = str(info.value)
        assert text.startswith(f"{name}.pt, item 0: the state dict does not fit the model; ")
        assert message in text and str(tmp_path) not in text
        assert text.count(":") == 2  # one problem named, nothing else listed


def test_divergence_stops_the_run_and_caches_nothing(store):
    with pytest.raises(InputError, match="diverged at epoch .*lower 'lr', the learning rate \\(now 1\\)"):
        run(ANALYSIS, "smoke", {"lr": 1.0}, store=store)
    assert store.info()["entries"] == 0


def test_a_factory_can_be_a_file(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "helpers.py").write_text("WIDTH = 5\n")
    (folder / "my_model.py").write_text(
        "import torch\nfrom torch import nn\nfrom helpers import WIDTH\n\n"
        "def make(seed=0):\n"
        "    g = torch.Generator().manual_seed(1)\n"
        "    x = torch.randn(60, 3, generator=g)\n"
        "    y = (x[:, 0] > 0).long()\n"
        "    torch.manual_seed(seed)\n"
        "    return nn.Sequential(nn.Linear(3, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 2)), (x[:40], y[:40]), (x[40:], y[40:]), None\n")
    factory = resolve(f"{folder / 'my_model.py'}:make")
    model, (x, y), _, _ = factory(seed=0)
    assert model[0].out_features == 5 and len(x) == 40
    import sys
    assert str(folder) not in sys.path  # the file's folder was on the path only while it was imported
    with pytest.raises(InputError, match="no such file 'absent.py'"):
        resolve(f"{folder / 'absent.py'}:make")
    with pytest.raises(InputError, match="'my_model.py' has no function 'other'"):
        resolve(f"{folder / 'my_model.py'}:other")
    params = dict(ANALYSIS.params("smoke", {"model": "custom", "custom_model": "byo_example:teacher_student",
                                            "grid_points": 5, "three_models": False}))
    params["custom_model"] = f"{folder / 'my_model.py'}:make"
    result = compute(params, Context(device="cpu"))
    assert result.metrics["n_parameters"] == 3 * 5 + 5 + 5 * 2 + 2


def _builtin_trained(overrides):
    params = ANALYSIS.params("smoke", {"epochs": 2, **overrides})
    problem = load(params)
    model = problem.make_model(0)
    train(model, problem, params, 0, lambda *a: None)
    return model, problem, params


def _conv_problem():
    """A conv first layer with fan-in 4 x 3 x 3 = 36, so the first-layer shortcut applies to a convolution."""
    from analyses.loss_landscape.data import Split
    from analyses.loss_landscape.problem import Problem

    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(300, 64, generator=g), torch.randint(0, 3, (300,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (4, 4, 4)), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(80, 3)).eval()
    problem = Problem(Split(x[:200], y[:200], x[200:], y[200:], 3, None), lambda seed: model)
    return model, problem, dict(ANALYSIS.params("smoke"))


SURFACE_CASES = ["mlp", "cnn", "transformer", "batch_norm", "conv_shortcut", "custom_cnn", "custom_lstm"]


def _surface_case(case, tmp_path):
    """(model, centre, directions, data, problem) of a trained network of each kind, on a few samples."""
    if case == "conv_shortcut":
        model, problem, params = _conv_problem()
    elif case.startswith("custom"):
        kind = {"custom_cnn": "cnn_with_batchnorm", "custom_lstm": "lstm"}[case]
        _, _, _, path = own_network(kind, tmp_path, steps=20)
        params = params_for(kind, path)
        problem = load(params)
        model = problem.make_model(0).eval()
        model.load_state_dict(problem.checkpoints[-1])
    else:
        overrides = {"mlp": {}, "cnn": {"model": "cnn", "width": 4}, "transformer": {"model": "transformer", "width": 8},
                     "batch_norm": {"norm": "batch"}}[case]
        model, problem, params = _builtin_trained(overrides)
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    directions = plane_directions(center, None, {**params, "bias_direction": "weights"})
    split = problem.split
    data = ((split.x_train[:200], split.y_train[:200]), (split.x_test[:100], split.y_test[:100]))
    return model, center, directions, data, problem


# Row by row, as the surface walks its grid (the first layer keeps base + b·v for the row).
GRID = [(float(a), float(b)) for b in np.linspace(-1, 1, 5) for a in np.linspace(-1, 1, 5)]


def _assert_plain_numbers(case, model, center, directions, data, problem, fast):
    for (a, b), got in zip(GRID, fast, strict=True):
        plain = _losses(model, offset(center, [(a, directions[0]), (b, directions[1])]), data, problem)
        for key, value in plain.items():
            if np.isnan(value):
                assert np.isnan(got[key])
            else:
                assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-5), (case, a, b, key)


@pytest.mark.parametrize("case", SURFACE_CASES)
def test_the_surface_shortcut_equals_the_plain_evaluation_everywhere(case, tmp_path):
    model, center, directions, data, problem = _surface_case(case, tmp_path)
    evaluator = plane_evaluator(model, center, directions, data, problem)
    assert (evaluator.shortcut is not None) == (case not in ("transformer", "custom_lstm"))
    assert (evaluator.transformers is not None) == (case == "transformer")  # written out (plane_transformer.py)
    assert evaluator.batched is None  # one point per pass on the CPU
    _assert_plain_numbers(case, model, center, directions, data, problem, evaluator(GRID))


@pytest.mark.parametrize("case", SURFACE_CASES)
def test_many_points_per_pass_equal_the_plain_evaluation_everywhere(case, tmp_path):
    """The GPU's path (vmap over chunks of 7 points), run on the CPU: the same numbers at every point."""
    from analyses.loss_landscape.plane import PlaneEvaluator

    model, center, directions, data, problem = _surface_case(case, tmp_path)
    evaluator = PlaneEvaluator(model, center, directions, data, problem,
                               plain=lambda weights: _losses(model, weights, data, problem), batch_points=7)
    fast = evaluator(GRID)
    if case in ("mlp", "cnn", "transformer", "batch_norm", "conv_shortcut"):  # samples independent: batched
        assert evaluator.batched is not None and evaluator.batched.chunk == 7  # and it ran so, no fallback
    _assert_plain_numbers(case, model, center, directions, data, problem, fast)


@pytest.mark.usefixtures("fresh_streamlit")
def test_the_page_says_why_a_view_is_missing():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = str(Path(__file__).parents[1] / "dashboard" / "views" / "loss_landscape.py")
    at = AppTest.from_file(page, default_timeout=180)
    at.query_params.update({"preset": "smoke", "norm": "batch", "grid_points": "5", "three_models": "false"})
    at.run()
    at.sidebar.button[0].click().run()  # a link may wait for Run; a cached result answers at once
    assert not at.exception and not at.error
    shown = " ".join(i.value for i in at.info)
    assert "weight matching skipped" in shown and "norm statistics" in shown


def test_recompute_policy_switches_only_the_norm_layers_of_a_users_model():
    from analyses.loss_landscape.training import evaluate

    byo_example.MODELS.clear()
    model, (x, y), _, _ = byo_example.cnn_with_batchnorm(seed=0)
    model.eval()
    weights = {n: p.detach() for n, p in model.named_parameters()}
    buffers_before = {n: b.clone() for n, b in model.named_buffers()}
    first = evaluate(model, weights, x, y, norm_policy="recompute")
    assert evaluate(model, weights, x, y, norm_policy="recompute") == first  # dropout stayed off
    # Independently: batch statistics in the norm layers, dropout as identity, on a copy of the model.
    import copy

    twin = copy.deepcopy(model).eval()
    for m in twin.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.train()
    with torch.no_grad():
        expected = nn.functional.cross_entropy(twin(x), y).item()
    assert first[0] == pytest.approx(expected, rel=1e-6)
    assert all(torch.equal(buffers_before[n], b) for n, b in model.named_buffers())
    assert not any(m.training for m in model.modules())
