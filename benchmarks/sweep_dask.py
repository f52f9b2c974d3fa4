"""A 16-point sweep of the loss-landscape smoke preset: inline against a 2-worker Dask LocalCluster, one run.

Each configuration gets a fresh cache, so every point computes. The cluster is started before its timer
(a sweep against a running scheduler does not pay for it) and its start-up is printed apart. Overhead per
task = the cluster's wall time minus the sum of its points' own compute times divided by the workers,
per point. Repeats alternate the two so that the machine's drift hits both alike.

    .venv/bin/python benchmarks/sweep_dask.py [--points 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LABSCOPE_TORCH_THREADS", "1")

from analyses.core import get, sweep  # noqa: E402


def timed(plan, executor: str, scheduler: str | None = None) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        records = sweep.execute(plan, cache, executor, scheduler=scheduler, workers=2)
        wall = time.perf_counter() - started
    assert all(r["status"] == "done" and not r["cache_hit"] for r in records), records
    return wall, records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    plan = sweep.build(get("loss_landscape"), "smoke", [f"seed=0..{args.points - 1}"])
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                           env={"OMP_NUM_THREADS": "1", "LABSCOPE_TORCH_THREADS": "1"})
    client = Client(cluster)
    print(f"LocalCluster start: {time.perf_counter() - t0:.1f} s (not in the timings below)")
    client.run(lambda: __import__("analyses.loss_landscape.compute"))  # warm imports, as a running cluster would be
    inline, dask = [], []
    try:
        for repeat in range(args.repeats):
            for name, target in (("inline", inline), ("dask", dask)) if repeat % 2 == 0 else (("dask", dask), ("inline", inline)):
                wall, records = timed(plan, name, cluster.scheduler_address if name == "dask" else None)
                work = sum(r["seconds"] for r in records)
                target.append((wall, work))
                print(f"repeat {repeat} {name:<6} {wall:6.1f} s wall, {work:6.1f} s of point time")
    finally:
        client.close()
        cluster.close()
    ratios = [i[0] / d[0] for i, d in zip(inline, dask)]
    overheads = [(d[0] - d[1] / 2) / args.points for d in dask]
    print(f"speed-up of the 2-worker cluster over inline: {min(ratios):.2f}-{max(ratios):.2f}x "
          f"(median {statistics.median(ratios):.2f}x; target near 2x)")
    print(f"overhead per task (cluster wall - point time / 2 workers, per point): "
          f"{1000 * min(overheads):.0f}-{1000 * max(overheads):.0f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
