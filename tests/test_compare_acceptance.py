"""Issue 19's acceptance on the real analysis: eight cached loss-landscape runs (four seeds × two widths,
at the smallest settings that still train, evaluate a surface and a Hessian), compared headless with
`labscope runs` and exported as a bundle. Every number is checked against pandas/SciPy over the runs'
own results, not against labscope's grouping."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pandas as pd
import pytest
from scipy import stats

from analyses.core import CacheStore, compare, compare_figures, run
from analyses.core.cli import main

SMALL = {"epochs": 2, "train_samples": 200, "grid_points": 5, "interp_points": 5, "eval_samples": 100,
         "hessian_top_k": 1, "hessian_samples": 4, "hessian_runs": 1, "lanczos_steps": 5, "slice_seeds": 1,
         "three_models": False}
SEEDS, WIDTHS = range(4), (16, 32)


@pytest.fixture(scope="module")
def eight_runs(tmp_path_factory):
    store = CacheStore(tmp_path_factory.mktemp("cache"))
    outcomes = [run("loss_landscape", preset="smoke", overrides={**SMALL, "seed": seed, "width": width},
                    store=store, device="cpu") for seed in SEEDS for width in WIDTHS]
    return store, outcomes


def _direct(outcomes) -> pd.DataFrame:
    """The runs' numeric metrics straight from their results, with their width."""
    return pd.DataFrame([{"width": o.params["width"], **{k: v for k, v in o.result.metrics.items()
                                                        if isinstance(v, (int, float)) and not isinstance(v, bool)}}
                         for o in outcomes])


def test_labscope_runs_groups_eight_runs_by_width_with_exact_mean_and_sem(eight_runs, tmp_path):
    store, outcomes = eight_runs
    out = tmp_path / "cmp"
    assert main(["--cache-dir", str(store.root), "runs", "loss_landscape", "--group-by", "width", "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and set(runs.key) == {o.key for o in outcomes}
    assert sorted(zip(runs.seed, runs.width)) == sorted((s, w) for s in SEEDS for w in WIDTHS)
    groups = pd.read_csv(out / "groups.csv").set_index("width")
    assert groups.n.to_dict() == {16: 4, 32: 4}

    direct = _direct(outcomes)
    metrics = [c for c in direct.columns if c != "width"]
    assert "final_test_accuracy" in metrics and len(metrics) > 10
    for width, members in direct.groupby("width"):
        accuracy = members.final_test_accuracy.to_numpy()
        assert len(set(accuracy)) > 1, "the seeds should give different accuracies, or the check shows nothing"
        for metric in metrics:
            x = members[metric].dropna().to_numpy(dtype=float)
            assert groups.loc[width, f"{metric}_mean"] == pytest.approx(x.mean(), rel=1e-12, abs=1e-300)
            if len(x) > 1:
                assert groups.loc[width, f"{metric}_sem"] == pytest.approx(stats.sem(x), rel=1e-9, abs=1e-300)
                if stats.sem(x) > 0:  # a metric equal in every run (the parameter count) has no interval to check
                    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
                    assert groups.loc[width, f"{metric}_ci95_low"] == pytest.approx(low, rel=1e-9)
                    assert groups.loc[width, f"{metric}_ci95_high"] == pytest.approx(high, rel=1e-9)

    assert main(["--cache-dir", str(store.root), "runs", "loss_landscape", "--group-by", "width",
                 "--format", "latex", "--out", str(tmp_path / "tex")]) == 0
    tex = (tmp_path / "tex" / "groups.tex").read_text()
    assert r"final\_test\_accuracy" in tex and "final_test" not in tex  # escaped
    assert tex.count("{") == tex.count("}") and tex.count("$") % 2 == 0
    sem16 = stats.sem(direct[direct.width == 16].final_test_accuracy)
    mean16 = direct[direct.width == 16].final_test_accuracy.mean()
    assert re.search(rf"^16 & 4 & .*\${mean16:.3g} \\pm {sem16:.2g}\$", tex, re.M)  # widths stay integers
    assert not re.search(r"\de[+-]\d", tex), "numbers as LaTeX sets them (10^{k}), not Python's 1.2e+03"


@pytest.mark.export
def test_the_bundle_of_accuracy_against_width_holds_figure_table_and_every_runs_provenance(eight_runs):
    store, outcomes = eight_runs
    table, _, metrics = compare.runs_table(compare.cached_runs(store, "loss_landscape"))
    groups = compare.group(table, ["width"], metrics)
    figure = compare_figures.metric_against(table, "final_test_accuracy", "width", [])
    direct = _direct(outcomes).groupby("width").final_test_accuracy
    [line] = figure.data
    assert list(line.x) == [16, 32]
    assert list(line.y) == pytest.approx(list(direct.mean()), rel=1e-12)
    assert list(line.error_y.array) == pytest.approx(list(direct.sem()), rel=1e-9)  # pandas' SEM: the bars

    data = compare.export_bundle(store, "loss_landscape", {"accuracy_vs_width": figure}, table, groups, ["width"],
                                 formats=["svg"])
    bundle = zipfile.ZipFile(io.BytesIO(data))
    names = set(bundle.namelist())
    assert {"figures/accuracy_vs_width.svg", "figures/accuracy_vs_width.caption.txt", "data/runs.csv",
            "data/groups.csv", "provenance.json", "style.json"} <= names
    assert b"<svg" in bundle.read("figures/accuracy_vs_width.svg")[:2000]
    assert "mean ± standard error" in bundle.read("figures/accuracy_vs_width.caption.txt").decode()
    packed = pd.read_csv(io.BytesIO(bundle.read("data/groups.csv"))).set_index("width")
    assert packed.n.to_dict() == {16: 4, 32: 4}
    assert packed.final_test_accuracy_mean.to_list() == pytest.approx(list(direct.mean()), rel=1e-12)
    assert len(pd.read_csv(io.BytesIO(bundle.read("data/runs.csv")))) == 8

    provenance = json.loads(bundle.read("provenance.json"))
    assert provenance["analysis"] == "loss_landscape" and provenance["group_by"] == ["width"]
    by_key = {r["cache_key"]: r for r in provenance["runs"]}
    assert set(by_key) == {o.key for o in outcomes}  # every run, once
    for outcome in outcomes:
        packed_run = by_key[outcome.key]
        assert packed_run["params"]["seed"] == outcome.params["seed"]
        assert packed_run["params"]["width"] == outcome.params["width"]
        assert packed_run["params"]["epochs"] == SMALL["epochs"]
        assert {k: v for k, v in packed_run.items() if k != "cache_key"} == json.loads(
            json.dumps(outcome.result.provenance, default=str))
