"""The phase diagram: per-cell metrics, cells cached one by one, phases from thresholds, the page."""

from pathlib import Path

import numpy as np
import pytest
import torch

from analyses.core import run
from analyses.landscape_phases import ANALYSIS
from analyses.landscape_phases import compute as grid_module
from analyses.landscape_phases.cells import linear_cka
from analyses.loss_landscape.training import with_label_noise
from analyses.landscape_phases.figures import PHASES, phase


def test_linear_cka_is_invariant_to_rotation_and_scale():
    torch.manual_seed(0)
    x = torch.randn(200, 10)
    q, _ = torch.linalg.qr(torch.randn(10, 10))
    assert linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0, abs=1e-5)
    assert linear_cka(x, torch.randn(200, 10)) < 0.3


def test_label_noise_moves_the_asked_share_to_other_classes():
    labels = torch.arange(1000) % 10
    noisy = with_label_noise(labels, 0.2, 10, seed=0)
    assert int((noisy != labels).sum()) == 200
    assert torch.equal(with_label_noise(labels, 0.0, 10, seed=0), labels)


def test_phases_follow_the_thresholds():
    params = {"accuracy_threshold": 0.9, "barrier_threshold": 0.1, "sharpness_threshold": 1.0, "cka_threshold": 0.9}
    cell = dict(test_accuracy=0.95, barrier=0.05, lambda_max=0.5, cka=0.95)
    import pandas as pd

    assert phase(pd.Series(cell), params) == PHASES[4]
    assert phase(pd.Series({**cell, "test_accuracy": 0.5}), params) == PHASES[0]
    assert phase(pd.Series({**cell, "barrier": 0.5}), params) == PHASES[1]
    assert phase(pd.Series({**cell, "lambda_max": 5.0}), params) == PHASES[2]
    assert phase(pd.Series({**cell, "cka": 0.5}), params) == PHASES[3]


def test_smoke_grid_barrier_falls_with_width_and_cells_are_cached_one_by_one(store, monkeypatch):
    calls = []
    original = grid_module.compute_cell
    monkeypatch.setattr(grid_module, "compute_cell", lambda cell, *ctx: calls.append(cell) or original(cell, *ctx))
    first = run(ANALYSIS, "smoke", store=store)
    grid = first.result.tables["grid"]
    assert len(grid) == 4 and len(calls) == 4
    assert first.result.metrics["barrier_largest_width"] < first.result.metrics["barrier_smallest_width"]
    assert grid.cka.between(0, 1).all() and (grid.lambda_max > 0).all()
    # The expectation on digits: sharpness falls as the temperature (learning rate) rises.
    for _, column in grid.groupby("width"):
        ordered = column.sort_values("lr")
        assert ordered.lambda_max.iloc[-1] < ordered.lambda_max.iloc[0]
    # ... and the best test accuracy sits where minima are flattest (trace) and best connected (barrier).
    best = grid.test_accuracy.idxmax()
    assert best == grid.trace.idxmin() == grid.barrier.idxmin()

    # Phase thresholds are display options: no computation at all.
    again = run(ANALYSIS, "smoke", {"barrier_threshold": 0.5}, store=store)
    assert again.cache_hit and len(calls) == 4
    # A finer grid reuses the four corner cells and computes only the new ones.
    finer = run(ANALYSIS, "smoke", {"grid_size": 3}, store=store)
    assert not finer.cache_hit and len(calls) == 4 + 5
    assert set(finer.figures()) == {"phase_map", "test_accuracy", "lambda_max", "trace", "barrier", "cka"}


@pytest.mark.usefixtures("fresh_streamlit")  # its own cache; jobs computed inline in the test's process
def test_the_page_draws_the_grid_and_links_a_cell():
    from streamlit.testing.v1 import AppTest

    page = str(Path(__file__).parents[1] / "dashboard" / "views" / "landscape_phases.py")
    at = AppTest.from_file(page, default_timeout=120)
    at.query_params.update({"preset": "smoke"})
    at.run()
    at.sidebar.button(key="_run.landscape_phases").click().run()  # a link fills the form; Run computes
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 6
    assert len(at.selectbox(key="_cell.landscape_phases").options) == 4


def test_batch_size_can_be_the_temperature_axis(store):
    outcome = run(ANALYSIS, "smoke", {"temperature": "batch_size", "batch_min": 16, "batch_max": 128}, store=store)
    grid = outcome.result.tables["grid"]
    assert sorted(grid.batch_size.unique()) == [16, 128] and grid.lr.nunique() == 1
    assert np.allclose(grid.temperature, grid.lr / grid.batch_size)
    phase_map = outcome.figures()["phase_map"]
    assert list(phase_map.data[0].y) == ["128", "16"]  # rows run from cold (large batch) to hot
    assert phase_map.layout.yaxis.title.text.startswith("batch size")


def test_training_set_size_can_be_the_load_axis_and_the_grid_fills_in_live(store):
    partial_grids = []
    outcome = run(ANALYSIS, "smoke", {"load": "train_size", "train_size_min": 60, "train_size_max": 1200},
                  store=store, on_preview=lambda partial: partial_grids.append(partial.tables["grid"]))
    grid = outcome.result.tables["grid"]
    assert sorted(grid.train_size.unique()) == [60, 1200] and grid.width.nunique() == 1
    # More data at the same width and temperature generalises better.
    for _, column in grid.groupby("lr"):
        ordered = column.sort_values("train_size")
        assert ordered.test_accuracy.iloc[-1] > ordered.test_accuracy.iloc[0] + 0.05
    assert outcome.figures()["phase_map"].layout.xaxis.title.text == "training samples (load)"
    # One preview per finished cell, each with one more cell filled in, the rest NaN until computed.
    assert [int(g.test_accuracy.notna().sum()) for g in partial_grids] == [1, 2, 3, 4]
    assert all(len(g) == 4 for g in partial_grids)
    from analyses.landscape_phases.figures import preview_figures
    from analyses.core import Result

    first = preview_figures(Result(tables={"grid": partial_grids[0]}), outcome.params)
    assert set(first) == {"test_accuracy", "barrier"}
    assert "(1 of 4 cells)" in first["test_accuracy"].layout.title.text
    assert sum(t != "" for t in np.ravel(first["test_accuracy"].data[0].text)) == 1


def test_a_training_subset_larger_than_the_split_is_named():
    from analyses.loss_landscape.data import DataError, load_split

    assert len(load_split("digits", None, 0.25, 0, train_samples=100).x_train) == 100
    with pytest.raises(DataError, match="train_samples: 5000 asked for, but the digits training split has only 1348"):
        load_split("digits", None, 0.25, 0, train_samples=5000)


def test_a_clicked_cell_opens_its_landscape():
    import pandas as pd

    from dashboard.components.phase_cells import clicked_cell, landscape_query

    grid = pd.DataFrame({"width": [64, 64, 64, 64], "train_size": [100, 1000, 100, 1000], "lr": [0.02, 0.02, 0.1, 0.1],
                         "batch_size": [64] * 4, "temperature": [0.02 / 64] * 2 + [0.1 / 64] * 2})
    cell = clicked_cell(grid, {"x": "1000", "y": "0.1"})
    assert (cell.train_size, cell.lr) == (1000, 0.1)
    assert clicked_cell(grid, {"x": "7", "y": "0.1"}) is None
    query = landscape_query({"dataset": "digits", "depth": 1, "epochs": 5}, cell)
    assert query["train_samples"] == 1000 and query["width"] == 64 and query["lr"] == 0.1
    assert ANALYSIS.name != "loss_landscape"
    from analyses.loss_landscape import ANALYSIS as LANDSCAPE

    LANDSCAPE.spec.validate(query)  # the link's parameters are valid for the loss-landscape page
