"""Compare runs at scale: 1,000 cached runs listed, tabled and grouped, every run counted (no sampling).

Fills a fresh cache with 1,000 entries of a small stand-in analysis through the real store (index rows,
zips), then times, in one process: listing the runs from the index, building the run table, and grouping
by two parameters with every statistic. Target: table and groups in under 2 s.

    .venv/bin/python benchmarks/compare_runs.py [--runs 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses.core import CacheStore, Result, compare  # noqa: E402
from analyses.core.cache import cache_key  # noqa: E402


def fill(store: CacheStore, runs: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(runs):
        params = {"width": int(8 * 2 ** (i % 5)), "lr": [0.01, 0.05, 0.1, 0.5][i % 4], "seed": i // 20}
        metrics = {"accuracy": float(rng.uniform(0.8, 1.0)), "loss": float(rng.uniform(0.01, 0.5)),
                   "lambda_max": float(rng.uniform(1, 50))}
        result = Result(metrics=metrics, tables={"curve": pd.DataFrame({"epoch": range(5), "loss": rng.random(5)})},
                        provenance={"params": params, "computed_at": "2026-11-30T08:00:00+00:00",
                                    "compute_seconds": 1.0})
        store.write("bench", cache_key("bench", "1", params), result)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        fill(CacheStore(root), args.runs)
        print(f"filled {args.runs} entries in {time.perf_counter() - started:.1f} s")
        timings = []
        for _ in range(args.repeats):
            store = CacheStore(root)  # a fresh process's view: nothing in memory
            t0 = time.perf_counter()
            records = compare.cached_runs(store, "bench")
            t1 = time.perf_counter()
            table, params, metrics = compare.runs_table(records)
            t2 = time.perf_counter()
            groups = compare.group(table, ["width", "lr"], metrics)
            t3 = time.perf_counter()
            assert len(table) == args.runs and groups.n.sum() == args.runs  # every run, no sample
            timings.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))
        for name, column in zip(("list (index)", "run table", "groups", "total"), zip(*timings)):
            print(f"{name:<13} {min(column):.3f}-{max(column):.3f} s (median {statistics.median(column):.3f})")
        print(f"{args.runs} runs in {len(groups)} groups; target: table and groups under 2 s")


if __name__ == "__main__":
    main()
