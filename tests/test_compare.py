"""Compare runs: every cached run in one table; group statistics exact against pandas and SciPy."""

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import staged_toy
from analyses.core import compare, run
from analyses.core.cli import main


def _records():
    """Runs as the cache lists them: 3 seeds at width 8, 1 at width 16, 2 at width 32 (one lacks a metric)."""
    rows = [(8, 0, 0.91, 0.30), (8, 1, 0.93, 0.25), (8, 2, 0.90, 0.35), (16, 0, 0.95, 0.20),
            (32, 0, 0.97, 0.10), (32, 1, 0.96, None)]
    return [{"params": {"width": w, "seed": s, "optimizer": "sgd"},
             "metrics": {"accuracy": a, "loss": l, "converged": True},
             "computed_at": f"2026-11-30T10:0{i}:00+00:00", "compute_seconds": 1.0 + i, "key": f"k{i}"}
            for i, (w, s, a, l) in enumerate(rows)]


def test_the_runs_table_holds_every_run_with_its_parameters_and_numeric_metrics():
    table, params, metrics = compare.runs_table(_records())
    assert len(table) == 6 and params == ["width", "seed", "optimizer"]
    assert metrics == ["accuracy", "loss"]  # a boolean is not a metric
    assert compare.differing(table, params) == ["width", "seed"]
    assert list(compare.where(table, {"width": 8}).seed) == [0, 1, 2]


def test_group_statistics_equal_a_direct_pandas_and_scipy_computation():
    table, _, metrics = compare.runs_table(_records())
    groups = compare.group(table, ["width"], metrics).set_index("width")
    assert groups.n.to_dict() == {8: 3, 16: 1, 32: 2}
    for width, members in table.groupby("width"):
        for metric in metrics:
            x = members[metric].dropna().to_numpy()
            row = groups.loc[width]
            assert row[f"{metric}_mean"] == pytest.approx(x.mean(), abs=0, rel=1e-15)
            if len(x) < 2:  # N = 1: no spread, no standard error, no interval
                assert all(math.isnan(row[f"{metric}_{s}"]) for s in ("std", "sem", "ci95_low", "ci95_high"))
                continue
            sem = stats.sem(x)
            low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sem)
            assert row[f"{metric}_std"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
            assert row[f"{metric}_sem"] == pytest.approx(sem, rel=1e-12)
            assert (row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"]) == pytest.approx((low, high), rel=1e-12)
    assert groups.loc[32, "loss_n"] == 1  # a metric missing from one run: aggregated over the run that has it
    assert math.isnan(groups.loc[8, "loss_n"])  # ...and only said where it differs from n


def test_grouping_by_an_unknown_name_is_an_input_error():
    from analyses.core import InputError

    table, _, metrics = compare.runs_table(_records())
    with pytest.raises(InputError, match="cannot group by"):
        compare.group(table, ["depth"], metrics)


def test_the_latex_table_is_balanced_escaped_and_shows_mean_pm_se_and_n():
    table, _, metrics = compare.runs_table(_records())
    table["optimizer"] = "sgd_momentum & 50%"
    groups = compare.group(table, ["optimizer", "width"], metrics)
    tex = compare.latex_table(groups, ["optimizer", "width"], metrics)
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"sgd\_momentum \& 50\%" in tex and "sgd_momentum &" not in tex
    body = [line for line in tex.splitlines() if line.endswith(r"\\")][1:]
    assert len(body) == 3 and all(len(re.findall(r"(?<!\\)&", line)) == 4 for line in body)  # 2 group columns + N + 2 metrics
    assert tex.count("$") % 2 == 0 and tex.count("{") == tex.count("}")
    sem8 = stats.sem([0.91, 0.93, 0.90])
    assert re.search(rf"\$0\.913 \\pm {sem8:.2g}\$", tex)
    assert re.search(r"^sgd\\_momentum \\& 50\\% & 8 & 3 & ", tex, re.M)  # group values as they are (8, not 8.0)


def test_latex_numbers_are_set_as_latex_writes_them():
    table, _, _ = compare.runs_table([{"params": {"width": 16, "seed": s}, "metrics": {"params": p, "gap": g}}
                                      for s, p, g in ((0, 1210, 2.5e-8), (1, 1210, 2.7e-8))])
    tex = compare.latex_table(compare.group(table, ["width"], ["params", "gap"]), ["width"], ["params", "gap"])
    assert re.search(r"^16 & 2 & ", tex, re.M)  # an all-numeric row keeps its integers (16, not 16.0)
    assert "$1210 \\pm 0$" in tex  # an integer-valued mean in full, not 1.21e+03
    sem = stats.sem([2.5e-8, 2.7e-8])
    assert f"$2.6 \\times 10^{{-8}} \\pm {sem / 1e-9:.2g} \\times 10^{{-9}}$" in tex
    assert "e-0" not in tex and "e+0" not in tex


def test_importance_finds_the_parameter_that_drives_the_metric():
    rng = np.random.default_rng(0)
    records = [{"params": {"lr": lr, "seed": s, "arch": arch},
                "metrics": {"loss": 3 * lr + (0.1 if arch == "cnn" else 0) + 0.01 * rng.normal()}}
               for lr in (0.1, 0.2, 0.5, 1.0) for s in range(3) for arch in ("mlp", "cnn")]
    table, params, _ = compare.runs_table(records)
    ranked = compare.importance(table, params, "loss")
    assert ranked.parameter.iloc[0] == "lr" and ranked.runs.iloc[0] == 24
    assert ranked.set_index("parameter").correlation["lr"] > 0.9


def test_cli_runs_groups_cached_runs_by_a_parameter(tmp_path, monkeypatch):
    """The acceptance shape on the staged toy: 4 seeds x 2 sizes -> 8 runs, n = 4 per size, exact mean and SEM."""
    from analyses.core import CacheStore, registry

    store = CacheStore(tmp_path / "cache")
    outcomes = [run(staged_toy.ANALYSIS, preset="smoke", overrides={"seed": s, "n": n}, store=store)
                for s in range(4) for n in (20, 40)]
    monkeypatch.setattr(registry, "all_analyses", lambda: {"staged": staged_toy.ANALYSIS})
    out = tmp_path / "out"
    assert main(["--cache-dir", str(store.root), "runs", "staged", "--group-by", "n", "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and set(runs.key) == {o.key for o in outcomes}
    groups = pd.read_csv(out / "groups.csv").set_index("n")
    for n in (20, 40):
        w = [o.result.metrics["w"] for o in outcomes if o.params["n"] == n]
        assert groups.loc[n, "n_runs"] == len(w) == 4  # the count column gives way to a parameter called n
        assert groups.loc[n, "w_mean"] == pytest.approx(np.mean(w), rel=1e-12)
        assert groups.loc[n, "w_sem"] == pytest.approx(stats.sem(w), rel=1e-9)
    assert main(["--cache-dir", str(store.root), "runs", "staged", "--where", "n=20", "--group-by", "seed",
                 "--format", "latex", "--out", str(tmp_path / "tex")]) == 0
    assert len(pd.read_csv(tmp_path / "tex" / "runs.csv")) == 4
    assert r"\toprule" in (tmp_path / "tex" / "groups.tex").read_text()


def test_missing_grid_cells_are_found_and_filling_one_runs_exactly_that_point(tmp_path, monkeypatch):
    import os

    from analyses.core import CacheStore, InputError
    from analyses.core.jobs import InlineExecutor, JobStore

    import toy

    monkeypatch.setenv("TOY_LOG", str(tmp_path / "toy.log"))
    store = CacheStore(tmp_path / "cache")
    analysis = toy.ANALYSIS
    for n, scale in ((2, 1.0), (2, 2.0), (3, 1.0)):  # (3, 2.0) was never run
        run(analysis, preset="smoke", overrides={"n": n, "scale": scale}, store=store)
    table, params, _ = compare.runs_table(compare.cached_runs(store, "toy"))
    [missing] = compare.missing_points(table, params, ["n", "scale"])
    assert (missing["n"], missing["scale"]) == (3, 2.0)
    with pytest.raises(InputError, match="also differ in scale"):
        compare.missing_points(table, params, ["n"])

    before = len((tmp_path / "toy.log").read_text().split())
    values = analysis.spec.validate(missing)
    from analyses.core.runner import result_key

    key = result_key(analysis, values)
    JobStore(store.root).submit(key, "toy", values, preset="smoke")
    monkeypatch.setattr("analyses.core.registry.all_analyses", lambda: {"toy": analysis})
    InlineExecutor(store.root).submit(key)
    assert len((tmp_path / "toy.log").read_text().split()) == before + 1  # exactly that point
    table, params, _ = compare.runs_table(compare.cached_runs(store, "toy"))
    assert len(table) == 4 and compare.missing_points(table, params, ["n", "scale"]) == []
