"""Sweeps: a grid through the cache, inline, in a local pool and on a real Dask LocalCluster."""

import json
import os
import signal

import pandas as pd
import pytest

import staged_toy
from analyses.core import CacheStore, ParameterError
from analyses.core import sweep
from analyses.core.cli import main



@pytest.fixture
def env(test_analyses):
    return test_analyses


def _computations(tmp_path):
    log = tmp_path / "toy.log"
    return len(log.read_text().split()) if log.exists() else 0


def test_grid_values_ranges_and_the_product():
    assert sweep.parse_values("0..3,10") == ["0", "1", "2", "3", "10"]
    plan = sweep.build(staged_toy.ANALYSIS, "smoke", ["seed=0..2", "grid_points=5,9"])
    assert len(plan.points) == 6 and plan.swept == ["seed", "grid_points"]
    assert plan.points[1] == {"seed": 0, "grid_points": 9}  # coerced by the spec
    listed = sweep.build(staged_toy.ANALYSIS, "smoke", ["seed=0,1"], [{"n": 20}, {"n": 40, "epochs": 2}])
    assert len(listed.points) == 4 and listed.points[3] == {"n": 40, "epochs": 2, "seed": 1}


@pytest.mark.parametrize("grid, message", [
    (["width=1,2"], "unknown parameter 'width'"),
    (["seed=0..20000"], "larger than 10,000"),
    (["seed=5..1"], "empty"),
    (["seed"], "key=v1,v2"),
    (["seed=0,200"], "parameter 'seed': out of range 200"),
])
def test_a_bad_grid_is_refused_before_anything_runs(grid, message):
    with pytest.raises(ParameterError, match=message):
        sweep.build(staged_toy.ANALYSIS, "smoke", grid)


def test_cli_sweep_inline_writes_each_point_and_a_rerun_is_all_cache_hits(env, capsys):
    cache, out = env / "cache", env / "out"
    args = ["--cache-dir", str(cache), "sweep", "toy", "--preset", "smoke", "--grid", "n=2,3", "--grid", "scale=1,2",
            "--quiet", "--out", str(out)]
    assert main(args) == 0
    assert "4 computed, 0 from cache, 0 failed" in capsys.readouterr().out
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.columns[:2]) == ["n", "scale"] and len(table) == 4 and (table.status == "done").all()
    # toy's total = scale * sum(0..n-1): checked against the arithmetic, not against labscope
    assert table.total.tolist() == [s * sum(range(n)) for n in (2, 3) for s in (1.0, 2.0)]
    assert len(list(out.glob("points/*/result.json"))) == 4
    assert json.loads((out / "points/0003/result.json").read_text())["params"]["n"] == 3
    assert main(args) == 0
    assert "0 computed, 4 from cache, 0 failed" in capsys.readouterr().out
    assert pd.read_csv(out / "sweep.csv").cache_hit.all() and _computations(env) == 4


def test_a_failing_point_is_named_the_others_kept_and_the_exit_is_nonzero(env, capsys):
    cache, out = env / "cache", env / "out"
    code = main(["--cache-dir", str(cache), "sweep", "staged", "--preset", "smoke", "--grid", "n=20,999,30",
                 "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and "2 computed, 0 from cache, 1 failed" in captured.out
    assert "point 1 (n=999)" in captured.err and "refused on purpose" in captured.err
    table = pd.read_csv(out / "sweep.csv")
    assert table.status.tolist() == ["done", "failed", "done"]


def test_a_sweep_file_lists_points(env, tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text("analysis: toy\npreset: smoke\ngrid:\n  scale: [1, 3]\npoints:\n  - {n: 2}\n  - {n: 4}\n")
    assert main(["--cache-dir", str(env / "cache"), "sweep", "toy", "--from", str(spec), "--quiet",
                 "--out", str(env / "out")]) == 0
    table = pd.read_csv(env / "out" / "sweep.csv")
    assert table[["n", "scale"]].values.tolist() == [[2, 1.0], [2, 3.0], [4, 1.0], [4, 3.0]]


def test_a_local_process_pool_computes_each_point_once_in_workers(env):
    plan = sweep.build(staged_toy.ANALYSIS, "smoke", ["seed=0..3"])
    plan.analysis = "staged"
    records = sweep.execute(plan, env / "cache", "processes", workers=2)
    assert [r["status"] for r in records] == ["done"] * 4 and not any(r["cache_hit"] for r in records)
    again = sweep.execute(plan, env / "cache", "inline")
    assert all(r["cache_hit"] for r in again)
    assert [r["metrics"]["w"] for r in again] == [r["metrics"]["w"] for r in records]


def test_dask_localcluster_computes_each_point_once_and_a_second_sweep_is_all_hits(env):
    pytest.importorskip("distributed")
    plan = sweep.build(__import__("toy").ANALYSIS, "smoke", ["n=2..5"])
    records = sweep.execute(plan, env / "cache", "dask", workers=2)
    assert [r["status"] for r in records] == ["done"] * 4
    assert _computations(env) == 4
    pids = {int(p) for p in (env / "toy.log").read_text().split()}
    assert os.getpid() not in pids  # computed on the cluster's workers
    again = sweep.execute(plan, env / "cache", "dask", workers=2)
    assert all(r["cache_hit"] for r in again) and _computations(env) == 4


def test_killing_a_dask_worker_mid_sweep_loses_no_finished_point_and_a_rerun_finishes_the_rest(env):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        plan = sweep.build(__import__("toy").ANALYSIS, "smoke", ["n=2..7", "delay=1.5"])
        finished = []
        pids = list(client.run(os.getpid).values())

        def on_record(i, record):
            finished.append(record)
            if len(finished) == 2:
                os.kill(pids[0], signal.SIGKILL)  # one worker dies with a point in hand

        records = sweep.execute(plan, env / "cache", "dask", scheduler=cluster.scheduler_address, on_record=on_record)
    finally:
        client.close()
        cluster.close()
    store = CacheStore(env / "cache")
    done = [r for r in records if r["status"] == "done"]
    assert len(done) >= 2 and all(store.path("toy", r["key"]).exists() for r in done)
    rerun = sweep.execute(plan, env / "cache", "inline")
    assert all(r["status"] == "done" for r in rerun)
    assert all(r["cache_hit"] for r in rerun if r["key"] in {d["key"] for d in done})
