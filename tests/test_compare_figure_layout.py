"""The Compare runs figures a journal accepts: each view (a metric against a parameter with error bars,
curves with seed bands, parallel coordinates, parameter importance) exported as SVG in every style (the
page draws them in the screen style across its width), measured in Chromium like every analysis' figures
(tests/figure_check.py): nothing outside the canvas, cut, overlapping or below 6 pt, no plot squeezed.

The runs are synthetic records shaped like loss-landscape runs (their parameter and metric names, which
are what the figures print): the acceptance's four seeds × two widths, and a wider sweep that groups by
four parameters, as the page does by default (everything but the seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses.core import compare, compare_figures
from figure_check import style_problems

def _records(grid: dict[str, tuple], seed: int = 0) -> tuple[list[dict], list[tuple[tuple, pd.DataFrame]]]:
    """One record per combination of `grid` (as the cache lists runs), and each run's training curve."""
    rng = np.random.default_rng(seed)
    names = list(grid)
    records, curves = [], []
    for i, values in enumerate(pd.MultiIndex.from_product(list(grid.values())).tolist()):
        params = dict(zip(names, values))
        accuracy = 0.9 - 0.5 / params["width"] + 0.01 * rng.normal()
        epochs = np.arange(1, 6)
        curve = pd.DataFrame({"epoch": epochs, "test_loss": 2.3 * np.exp(-epochs / 3) + 0.05 * rng.random(5)})
        records.append({"params": {**params, "epochs": 5},
                        "metrics": {"final_test_accuracy": accuracy, "final_train_loss": float(curve.test_loss.iloc[-1]),
                                    "hessian_top_eigenvalue": 10 * rng.random()},
                        "computed_at": f"2026-11-30T10:00:{i % 60:02d}+00:00", "compute_seconds": 1.0, "key": f"k{i}"})
        curves.append((params, curve))
    return records, curves


def _views(grid: dict[str, tuple], x: str = "width") -> dict:
    """The page's four figures for these runs, with its defaults: group by every differing parameter but the seed."""
    records, runs = _records(grid)
    table, params, _ = compare.runs_table(records)
    differing = compare.differing(table, params)
    by = [p for p in differing if "seed" not in p]
    metric = "final_test_accuracy"
    frames = [(tuple(p[b] for b in by), curve) for p, curve in runs]
    return {"metric_against": compare_figures.metric_against(table, metric, x, [b for b in by if b != x]),
            "curves": compare_figures.curves(frames, by, "epoch", "test_loss"),
            "parallel": compare_figures.parallel(table, differing, [metric], metric),
            "importance": compare_figures.importance_bars(compare.importance(table, differing, metric), metric)}


ACCEPTANCE = {"seed": (0, 1, 2, 3), "width": (16, 32)}
SWEEP = {"width": (16, 32, 64), "optimizer": ("sgd", "adam"), "lr": (0.01, 0.1), "weight_decay": (0.0, 0.0005),
         "seed": (0, 1)}


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


@pytest.mark.export
@pytest.mark.parametrize("grid", [ACCEPTANCE, SWEEP], ids=["seeds_x_widths", "four_parameter_sweep"])
def test_every_compare_figure_fits_in_every_style(grid, page):
    problems = style_problems(page, _views(grid))
    assert not problems, f"{len(problems)} layout problems:\n" + "\n".join(problems)


def test_crowded_axis_titles_are_abbreviated_with_a_key_and_legends_name_their_parameters_once():
    from analyses.core import export

    sweep, acceptance = _views(SWEEP), _views(ACCEPTANCE)
    assert [d.label for d in sweep["parallel"].data[0].dimensions] == ["width", "opt", "lr", "wd", "seed", "fta"]
    assert ("Axes: opt = optimizer; wd = weight_decay; fta = final_test_accuracy."
            in export.caption(sweep["parallel"]))
    assert [d.label for d in acceptance["parallel"].data[0].dimensions] == ["seed", "width", "final_test_accuracy"]
    assert "Axes:" not in export.caption(acceptance["parallel"])  # room enough: nothing abbreviated

    against = sweep["metric_against"]
    assert against.layout.legend.title.text == "optimizer, lr, weight_decay"
    assert [t.name for t in against.data][:2] == ["adam, 0.01, 0.0", "adam, 0.01, 0.0005"]
    curves = sweep["curves"]
    assert curves.layout.legend.title.text.endswith("(N=2 runs each)")
    assert len({(t.line.color, t.line.dash) for t in curves.data if t.showlegend is not False}) == 24  # 24 groups
    # 24 legend entries need more than a column figure's 1.9-2 in: the figure grows, in every style
    assert export.apply_style(curves, "acl-column").layout.height > export.STYLES["acl-column"].height_px
