"""The Compare runs page through AppTest: every cached run listed, groups with the CLI's numbers, the views drawn."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

import staged_toy
from analyses.core import CacheStore, run

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "compare.py")
pytestmark = pytest.mark.usefixtures("fresh_streamlit")


@pytest.fixture
def eight_runs(monkeypatch, tmp_path):
    import analyses.core

    store = CacheStore(tmp_path / "cache")  # fresh_streamlit points the page's store here
    outcomes = [run(staged_toy.ANALYSIS, preset="smoke", overrides={"seed": s, "grid_points": g}, store=store)
                for s in range(4) for g in (5, 9)]
    monkeypatch.setattr(analyses.core, "all_analyses", lambda: {"staged": staged_toy.ANALYSIS})
    return outcomes


def test_the_page_lists_every_run_and_groups_them_exactly(eight_runs):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    runs, groups = at.dataframe[0].value, at.dataframe[1].value
    assert len(runs) == 8 and set(runs.key) == {o.key for o in eight_runs}
    assert list(runs.columns[:2]) == ["seed", "grid_points"]  # only the parameters that differ
    assert at.sidebar.multiselect(key="_compare.by").value == ["grid_points"]  # seeds collapse by default
    groups = groups.set_index("grid_points")
    for g in (5, 9):
        w = [o.result.metrics["w"] for o in eight_runs if o.params["grid_points"] == g]
        assert groups.loc[g, "n"] == 4
        assert groups.loc[g, "w_mean"] == pytest.approx(np.mean(w), rel=1e-12)
        assert groups.loc[g, "w_sem"] == pytest.approx(stats.sem(w), rel=1e-9)
    assert len(at.get("plotly_chart")) == 4  # metric against parameter, curves, parallel coordinates, importance


def test_grouping_by_nothing_gives_one_group_of_all_runs(eight_runs):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.multiselect(key="_compare.by").set_value([]).run()
    assert not at.exception
    groups = at.dataframe[1].value
    assert len(groups) == 1 and groups.n.iloc[0] == 8


def test_no_runs_yet_says_how_to_make_some(monkeypatch):
    import analyses.core

    monkeypatch.setattr(analyses.core, "all_analyses", lambda: {"staged": staged_toy.ANALYSIS})
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and "No cached runs" in at.info[0].value


def test_missing_cells_are_offered_and_computed_as_jobs(monkeypatch, tmp_path):
    import analyses.core

    store = CacheStore(tmp_path / "cache")
    for seed, g in ((0, 5), (0, 9), (1, 5)):  # (1, 9) missing
        run(staged_toy.ANALYSIS, preset="smoke", overrides={"seed": seed, "grid_points": g}, store=store)
    monkeypatch.setattr(analyses.core, "all_analyses", lambda: {"staged": staged_toy.ANALYSIS})
    monkeypatch.setenv("LABSCOPE_WORKERS", "1")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "1 cells of the grid over seed, grid_points have no run: seed=1, grid_points=9" in at.warning[0].value
    from analyses.core.jobs import InlineExecutor
    from dashboard import backend

    monkeypatch.setattr(backend, "job_executor", lambda: InlineExecutor(store.root))  # compute right here
    monkeypatch.setattr(analyses.core.registry, "all_analyses", lambda: {"staged": staged_toy.ANALYSIS})
    at.button(key="_compare.fill").click().run()
    assert not at.exception
    at.run()
    assert len(at.dataframe[0].value) == 4 and not at.warning
