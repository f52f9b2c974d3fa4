"""Loss-landscape science: filter normalization, the surface around the solution, the 1D path, data input."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from analyses.core import Context, ParameterError, run
from analyses.loss_landscape import ANALYSIS
from analyses.loss_landscape.compute import compute
from analyses.loss_landscape.training import evaluate
from analyses.loss_landscape.data import DataError, read_csv_dataset
from analyses.loss_landscape.directions import filter_normalized_direction, offset


def hand_built():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))


def test_each_filter_gets_the_norm_of_its_weights_and_biases_get_zero():
    model = hand_built()
    with torch.no_grad():  # filters of very different sizes, so a global rescale would fail the test
        model[0].weight[1] *= 10.0
        model[2].weight[0] *= 0.01
    weights = {n: p.detach() for n, p in model.named_parameters()}
    d = filter_normalized_direction(weights, torch.Generator().manual_seed(1))
    assert d.keys() == weights.keys()
    for name in ("0.weight", "2.weight"):
        w, v = weights[name], d[name]
        assert v.shape == w.shape
        expected = w.reshape(w.shape[0], -1).norm(dim=1)
        torch.testing.assert_close(v.reshape(v.shape[0], -1).norm(dim=1), expected)
        assert not torch.allclose(v / v.norm(), w / w.norm())  # a random direction, not the weights
    assert torch.count_nonzero(d["0.bias"]) == 0 and torch.count_nonzero(d["2.bias"]) == 0
    again = filter_normalized_direction(weights, torch.Generator().manual_seed(1))
    assert all(torch.equal(d[n], again[n]) for n in d)


def test_filter_normalized_surface_is_invariant_to_relu_rescaling():
    """Li et al.'s reason for filter normalization: W1*c, W2/c is the same ReLU net, so it must draw the same."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    w = {n: p.detach().clone() for n, p in net.named_parameters()}
    c = 7.0
    scaled = {"0.weight": w["0.weight"] * c, "0.bias": w["0.bias"] * c, "2.weight": w["2.weight"] / c,
              "2.bias": w["2.bias"]}
    da = filter_normalized_direction(w, torch.Generator().manual_seed(3))
    db = filter_normalized_direction(scaled, torch.Generator().manual_seed(3))
    for alpha in (-0.8, 0.3, 1.0):
        loss_a, _ = evaluate(net, offset(w, [(alpha, da)]), x, y)
        loss_b, _ = evaluate(net, offset(scaled, [(alpha, db)]), x, y)
        assert loss_a == pytest.approx(loss_b, rel=1e-4)
    # Without filter normalization the two pictures differ: the same raw direction moves them differently.
    raw = {n: torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) for n, p in w.items()}
    assert evaluate(net, offset(w, [(0.5, raw)]), x, y)[0] != pytest.approx(
        evaluate(net, offset(scaled, [(0.5, raw)]), x, y)[0], rel=1e-2)


@pytest.fixture(scope="module")
def smoke_result():
    return compute(ANALYSIS.params("smoke"), Context(device="cpu"))


def test_training_learns_digits(smoke_result):
    history = smoke_result.tables["training"]
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0] / 5
    assert smoke_result.metrics["final_test_accuracy"] > 0.85


def test_surface_centre_is_the_trained_model(smoke_result):
    grid = smoke_result.tables["surface"]
    centre = grid[(grid.x == 0) & (grid.y == 0)]
    assert len(centre) == 1
    assert centre.test_loss.item() == pytest.approx(smoke_result.metrics["final_test_loss"], rel=1e-6)
    path = smoke_result.tables["interpolation"]
    assert path.loc[path.alpha == 1.0, "test_loss"].item() == pytest.approx(
        smoke_result.metrics["final_test_loss"], rel=1e-6)
    assert path.loc[path.alpha == 1.0, "train_loss"].item() == pytest.approx(centre.train_loss.item(), rel=1e-6)


def test_trained_solution_sits_in_a_basin(smoke_result):
    """The qualitative picture of Li et al.: loss is lowest at the solution and rises towards the edges."""
    grid = smoke_result.tables["surface"]
    centre = grid[(grid.x == 0) & (grid.y == 0)].train_loss.item()
    edge = grid[(grid.x.abs() == grid.x.abs().max()) | (grid.y.abs() == grid.y.abs().max())].train_loss
    assert grid.train_loss.min() == pytest.approx(centre, rel=0.05)
    assert edge.min() > centre * 2
    path = smoke_result.tables["interpolation"]
    assert path.loc[path.alpha == 0.0, "train_loss"].item() > 2.0  # near log(10) at initialisation
    assert smoke_result.metrics["interpolation_barrier"] >= 0


def test_cnn_and_moons_run():
    cnn = compute(ANALYSIS.params("smoke", {"model": "cnn", "width": 8}), Context(device="cpu"))
    assert cnn.metrics["final_test_accuracy"] > 0.5
    moons = compute(ANALYSIS.params("smoke", {"dataset": "moons", "epochs": 20}), Context(device="cpu"))
    assert moons.metrics["final_test_accuracy"] > 0.8


def test_user_csv_runs_and_enters_the_key(tmp_path, store):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=np.where(x[:, 0] + x[:, 1] > 0, "yes", "no"))
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    outcome = run(ANALYSIS, "smoke", {"dataset": "csv", "data_file": str(path), "epochs": 20}, store=store)
    assert outcome.result.metrics["final_test_accuracy"] > 0.85
    assert outcome.provenance()["data_digests"]["data_file"]
    frame.assign(label=frame.label[::-1].to_numpy()).to_csv(path, index=False)
    assert run(ANALYSIS, "smoke", {"dataset": "csv", "data_file": str(path), "epochs": 20},
               store=store).cache_hit is False


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "no 'label' column; found columns ['a', 'b']"),
    ("a,label\n1,0\n,1\n" + "1,0\n" * 30, "bad.csv, row 3, column 'a': missing value (NaN or empty)"),
    ("a,label\nx,0\n" + "y,1\n" * 30, "bad.csv, row 2, column 'a': feature columns must be numeric; found 'x'"),
    ("a,label\n" + "1,0\n" * 30, "fewer than 2 classes"),
    ("a,label\n1,0\n2,1\n", "only 2 rows"),
    ("a,label\n" + "".join(f"{i},{0.37 * i + 0.01:.2f}\n" for i in range(60)),
     "bad.csv, row 2, column 'label': the label 0.01 is not a class"),
    ("a,a,label\n" + "1,2,0\n2,1,1\n" * 15, "bad.csv, row 1, column 'a': this column name appears twice"),
])
def test_bad_csv_gets_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_csv_dataset(str(path))
    assert message in str(info.value)


def test_cross_parameter_checks():
    with pytest.raises(ParameterError, match="'cnn' needs image data"):
        ANALYSIS.params("default", {"model": "cnn", "dataset": "moons"})
    with pytest.raises(ParameterError, match="dataset=csv needs a CSV file"):
        ANALYSIS.params("default", {"dataset": "csv"})


def test_hessian_and_surface_agree_on_curvature(smoke_result):
    check = smoke_result.tables["curvature_check"]
    assert len(check) == 2
    # The surface's second difference at grid step h approximates d^T H d up to O(h^2) terms.
    assert np.allclose(check.surface_curvature, check.hvp_curvature, rtol=0.35)
    assert smoke_result.metrics["hessian_top_eigenvalue"] > 0
    assert smoke_result.metrics["hessian_trace"] > smoke_result.metrics["hessian_top_eigenvalue"]
    spectrum = smoke_result.tables["hessian_spectrum"]
    assert np.trapezoid(spectrum.density, spectrum.eigenvalue) == pytest.approx(1, abs=0.02)


def test_weight_matching_lowers_the_barrier_between_seeds(smoke_result):
    metrics = smoke_result.metrics
    assert metrics["barrier_naive"] > 0.1
    assert metrics["barrier_aligned"] < metrics["barrier_naive"] / 2
    connect = smoke_result.tables["mode_connectivity"]
    assert connect.naive_train_loss.iloc[0] == pytest.approx(connect.aligned_train_loss.iloc[0])
    # Matching relabels units only: the aligned endpoint computes the second network's function.
    assert connect.naive_test_loss.iloc[-1] == pytest.approx(connect.aligned_test_loss.iloc[-1], rel=1e-4)


def test_smoke_writes_the_metrics_other_tools_read(smoke_result):
    for name in ("center_train_loss", "surface_min_train_loss", "barrier_naive", "barrier_aligned",
                 "hessian_top_eigenvalue", "hessian_trace"):
        assert np.isfinite(smoke_result.metrics[name]), name
    assert {"x", "y", "train_loss", "test_loss"} <= set(smoke_result.tables["surface"].columns)


def test_optimizer_path_sits_on_its_pca_plane(smoke_result):
    path = smoke_result.tables["trajectory"]
    assert list(path.epoch) == list(range(6))  # the initial weights and one checkpoint per epoch
    final = path.iloc[-1]
    assert (final.a, final.b, final.residual) == (0.0, 0.0, 0.0)
    assert final.plane_train_loss == pytest.approx(final.train_loss, rel=1e-6)
    assert final.test_loss == pytest.approx(smoke_result.metrics["final_test_loss"], rel=1e-6)
    assert 0 < smoke_result.metrics["trajectory_explained_variance"] <= 1
    grid = smoke_result.tables["trajectory_surface"]
    assert grid.x.min() <= path.a.min() and grid.x.max() >= path.a.max()  # the contour covers the path


def test_slices_share_the_centre_and_differ_elsewhere(smoke_result):
    table = smoke_result.tables["slices"]
    assert table.seed.nunique() == 3
    centre = table[table.t.abs() < 1e-12].train_loss
    assert np.allclose(centre, smoke_result.metrics["center_train_loss"], rtol=1e-6)
    edge = table[table.t == table.t.max()].train_loss
    assert edge.std() > 0  # the picture depends on the random direction


def test_hessian_directions_are_the_sharpest():
    params = ANALYSIS.params("smoke", {"directions": "hessian", "grid_points": 7})
    sharp = compute(params, Context(device="cpu"))
    check = sharp.tables["curvature_check"]
    # Along a unit eigenvector v scaled by s, d^T H d = lambda * s^2; the first is the largest eigenvalue.
    assert check.hvp_curvature.iloc[0] >= check.hvp_curvature.iloc[1] > 0
    random = compute(ANALYSIS.params("smoke", {"grid_points": 7}), Context(device="cpu"))
    assert check.hvp_curvature.iloc[0] > random.tables["curvature_check"].hvp_curvature.max()


def test_spawning_late_makes_the_networks_linearly_connected():
    independent = compute(ANALYSIS.params("smoke", {"grid_points": 5}), Context(device="cpu"))
    spawned = compute(ANALYSIS.params("smoke", {"grid_points": 5, "spawn_epoch": 2}), Context(device="cpu"))
    assert spawned.metrics["barrier_naive"] < independent.metrics["barrier_naive"] / 10
    with pytest.raises(ParameterError, match="spawn_epoch"):
        ANALYSIS.params("smoke", {"spawn_epoch": 5})


def test_log_colour_scale_is_a_display_option(store):
    from analyses.loss_landscape.figures import build_figures

    linear = run(ANALYSIS, "smoke", {"grid_points": 5}, store=store)
    log = run(ANALYSIS, "smoke", {"grid_points": 5, "color_scale": "log"}, store=store)
    assert log.cache_hit and log.key == linear.key
    z_linear = np.asarray(build_figures(linear.result, linear.params)["contour_train"].data[0].z)
    z_log = np.asarray(build_figures(log.result, log.params)["contour_train"].data[0].z)
    np.testing.assert_allclose(z_log, np.log10(z_linear), rtol=1e-6)


def test_bring_your_own_model_regression(tmp_path, store):
    params = {"model": "custom", "custom_model": "byo_example:teacher_student", "epochs": 20, "lr": 0.05,
              "grid_points": 7, "slice_seeds": 2}
    outcome = run(ANALYSIS, "smoke", params, store=store)
    metrics, tables = outcome.result.metrics, outcome.result.tables
    assert metrics["final_train_loss"] < 0.1  # the student fits its teacher
    assert "final_test_accuracy" not in metrics  # regression: no accuracy
    assert metrics["barrier_aligned"] <= metrics["barrier_naive"] + 1e-6  # hidden tanh units permute too
    assert {"optimizer_path", "contour_train", "mode_connectivity"} <= set(outcome.figures())
    key_params = outcome.provenance()["key_params"]
    assert key_params["custom_model"].startswith("byo_example:teacher_student@sha256:")

    normed = run(ANALYSIS, "smoke", {**params, "custom_model": "byo_example:with_layer_norm"}, store=store)
    assert "barrier_aligned" not in normed.result.metrics and "barrier_naive" in normed.result.metrics


def test_bring_your_own_checkpoints(tmp_path, store):
    import byo_example

    model, (x, y), _, loss = byo_example.teacher_student(seed=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    states = []
    for step in range(40):
        if step % 10 == 0:
            states.append({k: v.clone() for k, v in model.state_dict().items()})
        optimizer.zero_grad()
        loss(model(x), y).backward()
        optimizer.step()
    states.append({k: v.clone() for k, v in model.state_dict().items()})
    path = tmp_path / "run.pt"
    torch.save({"checkpoints": states}, path)
    params = {"model": "custom", "custom_model": "byo_example:teacher_student", "checkpoint": str(path),
              "seed": 3, "grid_points": 5, "slice_seeds": 1}
    outcome = run(ANALYSIS, "smoke", params, store=store)
    history = outcome.result.tables["training"]
    assert list(history.epoch) == list(range(5))  # the checkpoints, not a training run here
    assert history.train_loss.iloc[-1] == pytest.approx(loss(model(x), y).item(), rel=1e-5)
    assert outcome.result.metrics["center_train_loss"] == pytest.approx(
        outcome.result.tables["trajectory"].train_loss.iloc[-1], rel=0.5)  # subset vs full train set
    assert len(outcome.result.tables["trajectory"]) == 5


@pytest.mark.parametrize("reference, message", [
    ("byo_example:not_a_factory", "must return (model, (x_train, y_train), (x_test, y_test), loss)"),
    ("byo_example:missing", "has no function 'missing'"),
])
def test_bad_custom_models_are_named(reference, message):
    with pytest.raises(DataError, match=re.escape(message)):
        compute(ANALYSIS.params("smoke", {"model": "custom", "custom_model": reference}), Context(device="cpu"))


def test_checkpoints_are_never_unpickled(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"checkpoints": [Boom()]}))
    params = ANALYSIS.params("smoke", {"model": "custom", "custom_model": "byo_example:teacher_student",
                                       "checkpoint": str(path)})
    with pytest.raises(DataError, match="evil.pt: not a checkpoint of tensors"):
        compute(params, Context(device="cpu"))
    wrong = tmp_path / "wrong.pt"
    torch.save({"0.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(DataError, match=r"wrong.pt, item 0: the state dict does not fit the model; missing: 0.bias"):
        compute({**params, "checkpoint": str(wrong)}, Context(device="cpu"))


def test_teacher_student_regression_and_modular_arithmetic():
    teacher = compute(ANALYSIS.params("smoke", {"dataset": "teacher", "epochs": 30, "lr": 0.02, "grid_points": 5}),
                      Context(device="cpu"))
    history = teacher.tables["training"]
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0] / 5  # squared error falls
    assert "final_test_accuracy" not in teacher.metrics and history.train_accuracy.isna().all()
    modular = compute(ANALYSIS.params("smoke", {"dataset": "modular", "epochs": 30, "optimizer": "adam", "lr": 0.01,
                                                "batch_size": 16, "grid_points": 5}), Context(device="cpu"))
    assert modular.metrics["n_train"] + modular.metrics["n_test"] == 23 * 23
    assert modular.metrics["final_train_accuracy"] > 0.9  # memorised; generalising takes weight decay and time


def test_norm_layer_policy_is_visible_and_leaves_the_model_alone():
    from analyses.loss_landscape.training import evaluate
    from analyses.loss_landscape.models import build_model

    torch.manual_seed(0)
    model = build_model("mlp", 5, 3, 8, 2, norm="batch")
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    model.train()
    for _ in range(100):  # running statistics converge to those of x (momentum 0.1)
        model(x)
    model.eval()
    before = {n: b.clone() for n, b in model.named_buffers()}
    weights = {n: p.detach() for n, p in model.named_parameters()}
    assert evaluate(model, weights, x, y, norm_policy="eval")[0] == pytest.approx(
        evaluate(model, weights, x, y, norm_policy="recompute")[0], rel=2e-2)  # same statistics (up to n/(n-1))
    kept = evaluate(model, weights, 10 * x + 5.0, y, norm_policy="eval")
    fresh = evaluate(model, weights, 10 * x + 5.0, y, norm_policy="recompute")
    assert abs(kept[0] - fresh[0]) > 0.05  # other inputs: the two policies disagree
    assert all(torch.equal(before[n], b) for n, b in model.named_buffers())  # running statistics untouched
    assert not model.training

    results = {policy: compute(ANALYSIS.params("smoke", {"norm": "batch", "norm_policy": policy, "grid_points": 5}),
                               Context(device="cpu")) for policy in ("eval", "recompute")}
    for result in results.values():
        assert result.metrics["center_test_loss"] == pytest.approx(result.metrics["final_test_loss"], rel=1e-6)
        assert "barrier_aligned" not in result.metrics  # weight matching does not permute through batch norm
    assert results["eval"].metrics["surface_mean_rise"] != pytest.approx(
        results["recompute"].metrics["surface_mean_rise"], rel=1e-3)


def test_plane_through_three_networks_places_them_at_their_distances():
    from analyses.loss_landscape.compute import plane_through_three
    from analyses.loss_landscape.problem import builtin

    params = ANALYSIS.params("smoke")
    problem = builtin(params)
    model = problem.make_model(0)
    nets = [{n: p.detach().clone() for n, p in problem.make_model(seed).named_parameters()} for seed in (0, 1, 2)]
    data = ((problem.split.x_train[:100], problem.split.y_train[:100]), (problem.split.x_test, problem.split.y_test))
    grid, corners = plane_through_three(model, nets, data, problem, 5, Context(device="cpu"))
    flat = [torch.cat([w[n].reshape(-1) for n in nets[0]]) for w in nets]
    at = corners.set_index("network")
    assert (at.loc["A", "x"], at.loc["A", "y"]) == (0.0, 0.0) and at.loc["B", "y"] == 0.0
    assert at.loc["B", "x"] == pytest.approx(float((flat[1] - flat[0]).norm()), rel=1e-5)
    assert np.hypot(at.loc["C", "x"], at.loc["C", "y"]) == pytest.approx(float((flat[2] - flat[0]).norm()), rel=1e-5)
    assert grid.x.min() < 0 < at.loc["B", "x"] < grid.x.max() and grid.y.max() > at.loc["C", "y"]


def test_biases_can_move_along_their_own_values():
    model = hand_built()
    weights = {n: p.detach() for n, p in model.named_parameters()}
    d = filter_normalized_direction(weights, torch.Generator().manual_seed(1), "weights")
    assert torch.equal(d["0.bias"], weights["0.bias"]) and torch.equal(d["2.bias"], weights["2.bias"])
    zero = filter_normalized_direction(weights, torch.Generator().manual_seed(1))
    assert torch.equal(d["0.weight"], zero["0.weight"])  # filters are drawn the same either way
    moved = compute(ANALYSIS.params("smoke", {"bias_direction": "weights", "grid_points": 5}), Context(device="cpu"))
    still = compute(ANALYSIS.params("smoke", {"grid_points": 5}), Context(device="cpu"))
    assert moved.metrics["center_train_loss"] == pytest.approx(still.metrics["center_train_loss"], rel=1e-6)
    assert moved.metrics["surface_mean_rise"] != pytest.approx(still.metrics["surface_mean_rise"], rel=1e-4)
    with pytest.raises(ValueError, match="one_dimensional"):
        filter_normalized_direction(weights, torch.Generator(), "random")


def test_progress_only_moves_forward():
    seen = []
    compute(ANALYSIS.params("smoke", {"grid_points": 5}), Context(device="cpu", on_progress=lambda f, m: seen.append(f)))
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert all(later >= earlier - 1e-9 for earlier, later in zip(seen, seen[1:]))


def test_the_surface_refines_coarse_to_fine_and_equals_a_direct_evaluation():
    import torch

    from analyses.core import Context
    from analyses.loss_landscape.compute import refinement_levels, surface
    from analyses.loss_landscape.training import losses as _losses
    from analyses.loss_landscape.directions import offset
    from analyses.loss_landscape.problem import builtin

    assert refinement_levels(51) == [sorted(set(range(0, 51, 8)) | {50}), sorted(set(range(0, 51, 4)) | {50}),
                                     list(range(0, 51, 2)), list(range(51))]
    assert refinement_levels(5) == [[0, 1, 2, 3, 4]]
    problem = builtin({"dataset": "moons", "data_file": None, "test_fraction": 0.25, "seed": 0, "model": "mlp",
                       "width": 8, "depth": 1, "norm": "none", "norm_policy": "eval"})
    model = problem.make_model(0)
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    directions = [{n: torch.randn(w.shape, generator=g) for n, w in center.items()} for _ in range(2)]
    data = ((problem.split.x_train[:200], problem.split.y_train[:200]), (problem.split.x_test, problem.split.y_test))
    xs, ys = np.linspace(-1, 1, 17), np.linspace(-0.5, 0.5, 9)
    previews = []
    table = surface(model, center, directions, data, problem, xs, ys, Context(), preview=previews.append)
    assert [(p.x.nunique(), p.y.nunique()) for p in previews] == [(5, 5), (9, 5)]  # coarse levels; the full grid is the result
    assert list(zip(table.x, table.y))[:3] == [(-1.0, -0.5), (-0.875, -0.5), (-0.75, -0.5)]  # row-major, as before
    for _, row in table.sample(5, random_state=0).iterrows():
        direct = _losses(model, offset(center, [(row.x, directions[0]), (row.y, directions[1])]), data, problem)
        assert row.train_loss == pytest.approx(direct["train_loss"], abs=1e-6)
    coarse = previews[0].merge(table, on=["x", "y"], suffixes=("", "_final"))
    assert np.allclose(coarse.train_loss, coarse.train_loss_final)


def test_a_small_transformer_learns_digits_and_gets_every_view():
    import torch

    from analyses.loss_landscape import hessian
    from analyses.loss_landscape.models import SmallTransformer, build_model

    model = build_model("transformer", 46, 23, 16, 1, tokens=2)  # modular arithmetic: the operands a and b
    assert isinstance(model, SmallTransformer) and model.embed.in_features == 23
    assert build_model("transformer", 64, 10, 16, 2, image_shape=(8, 8)).tokens == 8  # digits: the rows
    with pytest.raises(ValueError, match="46 features cannot be cut into 3 equal tokens"):
        build_model("transformer", 46, 23, 16, 1, tokens=3)
    # Hessian-vector products differentiate twice through attention.
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    small = build_model("transformer", 64, 10, 8, 1, image_shape=(8, 8))
    weights = {n: p.detach() for n, p in small.named_parameters()}
    top = hessian.top_eigenpairs(hessian.make_loss_fn(small, x, y), weights, k=1, max_iter=20,
                                 generator=torch.Generator().manual_seed(0))
    assert np.isfinite(top.values[0])

    result = compute(ANALYSIS.params("transformer", {"epochs": 8, "grid_points": 7, "interp_points": 7,
                                                     "hessian_top_k": 1, "hessian_runs": 1, "hessian_samples": 4,
                                                     "lanczos_steps": 8, "slice_seeds": 2, "three_models": False}),
                     Context(device="cpu"))
    assert result.metrics["final_test_accuracy"] > 0.85
    assert result.metrics["center_train_loss"] == pytest.approx(result.metrics["surface_min_train_loss"], rel=0.05)
    assert "barrier_aligned" not in result.metrics  # weight matching covers MLPs and CNNs; the naive barrier stays
    assert np.isfinite(result.metrics["barrier_naive"])
