"""A 16-point sweep of the loss-landscape smoke preset: inline against a 2-worker Dask LocalCluster, and the
same points in two plain processes against one, as the ceiling of what 2 processes get on this machine.

Four configurations, timed in one run and interleaved (the order reverses every repeat, so the machine's
drift hits all alike):
- `inline`: labscope's sweep, one point after another in this process (cache, provenance, records);
- `dask`: labscope's sweep on a 2-worker LocalCluster (`processes=True`, 1 thread per worker);
- `plain 1`: the same points' computation with no cache (`analysis.compute` on a bare Context), here;
- `plain 2`: that computation in a 2-process `ProcessPoolExecutor`.
Every process computes with 1 torch thread and 1 OpenMP/MKL/OpenBLAS thread (printed, per process), and is
warmed up first by one untimed point (torch's lazy imports, the dataset, the cache path), as a cluster or
pool that has already run a sweep would be; the warm-up times are printed apart. Each labscope configuration
gets a fresh cache, so every point computes. Overhead per task = the cluster's wall time minus its points'
own compute times divided by the 2 workers, per point. CPU seconds (of this process and every process under
it) are printed beside the wall times: on a machine loaded by other work the wall times say little, while
"CPU time with two at once over one at a time" still shows what running two points together costs each.

    .venv/bin/python benchmarks/sweep_dask.py [--points 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ONE_THREAD = {"LABSCOPE_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
for _name, _value in ONE_THREAD.items():  # before numpy/torch load: the BLAS libraries read these once
    os.environ.setdefault(_name, _value)

from analyses.core import get, sweep  # noqa: E402

ANALYSIS, PRESET = "loss_landscape", "smoke"
WARM_UP_SEED = 199  # outside the timed points


def bare_point(overrides: dict) -> float:
    """The point's computation alone (no cache, no provenance, no record): what a plain process does."""
    from analyses.core.analysis import Context

    analysis = get(ANALYSIS)
    values = analysis.spec.compute_params(analysis.params(PRESET, overrides))
    started = time.perf_counter()
    analysis.compute(values, Context(device="cpu"))
    return time.perf_counter() - started


def warm_up() -> float:
    """One untimed labscope point into a throwaway cache (it runs the bare computation's code too)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        record = sweep.run_point(ANALYSIS, PRESET, {"seed": WARM_UP_SEED}, cache, "cpu")
    assert record["status"] == "done", record
    return time.perf_counter() - started


def threads(_: object = None) -> str:
    """This process' compute threads: torch's, and every BLAS/OpenMP library loaded."""
    import torch
    from threadpoolctl import threadpool_info

    pools = ",".join(sorted({f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info()}))
    env = ",".join(f"{k}={os.environ.get(k)}" for k in ONE_THREAD if k != "LABSCOPE_TORCH_THREADS")
    return f"pid {os.getpid()}: torch {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), {pools}; {env}"


def matmul_rate(seconds: float = 2.0) -> tuple[float, float]:
    """1-thread 128x128 float32 matrix products per wall second and per CPU second, for `seconds`."""
    import torch

    a, b = torch.randn(128, 128), torch.randn(128, 128)
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for _ in range(100):
            a @ b
        count += 100
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def machine_ceiling(pool) -> str:
    """Two copies of the matmul loop at once against one alone: summed wall rates, and the rate per CPU second
    (which falls when the two share a physical core or its caches, whatever else runs on the machine)."""
    alone = pool.submit(matmul_rate).result()
    together = list(pool.map(matmul_rate, [2.0, 2.0], chunksize=1))
    return (f"{sum(t[0] for t in together) / alone[0]:.2f}x one loop's rate (wall), "
            f"{statistics.mean(t[1] for t in together) / alone[1]:.2f}x its rate per CPU second")


def cpu_seconds() -> float:
    """CPU time of this process and every process under it (Dask's workers, the plain pool)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _pool_start() -> None:
    warm_up()


def run_labscope(plan, executor: str, scheduler: str | None) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        records = sweep.execute(plan, cache, executor, scheduler=scheduler, workers=2, device="cpu")
        wall = time.perf_counter() - started
    assert all(r["status"] == "done" and not r["cache_hit"] for r in records), records
    return wall, sum(r["seconds"] for r in records), max(len(pickle.dumps(r)) for r in records)


def run_plain(plan, pool) -> tuple[float, float, int]:
    started = time.perf_counter()
    seconds = list(pool.map(bare_point, plan.points)) if pool is not None else [bare_point(p) for p in plan.points]
    return time.perf_counter() - started, sum(seconds), 0


def distinct_stage_keys(plan) -> bool:
    """No two points share a stage's cache entry, so no point can wait on another's lock."""
    from analyses.loss_landscape.compute import pipeline

    analysis = get(ANALYSIS)
    seen: list[str] = []
    for point in plan.points:
        values = analysis.params(PRESET, point)
        keys = pipeline.keys(analysis.spec.compute_params(values), analysis.spec.key_params(values),
                             f"{analysis.name}@{analysis.code_version}")
        seen.extend(k for k in keys.values() if k is not None)
    return len(seen) == len(set(seen))


def ranged(values, unit: str = "x", scale: float = 1.0, digits: int = 2) -> str:
    low, high, mid = (scale * f(values) for f in (min, max, statistics.median))
    return f"{low:.{digits}f}-{high:.{digits}f}{unit} (median {mid:.{digits}f}{unit})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from distributed import Client, LocalCluster

    plan = sweep.build(get(ANALYSIS), PRESET, [f"seed=0..{args.points - 1}"])
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    arguments = max(len(pickle.dumps((ANALYSIS, PRESET, p, tempfile.gettempdir() + "/tmpabcdefgh", "cpu")))
                    for p in plan.points)
    print(f"no stage cache entry shared between points: {distinct_stage_keys(plan)}; task arguments {arguments} bytes")
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                           env=dict(ONE_THREAD))
    client = Client(cluster)
    print(f"LocalCluster start: {time.perf_counter() - t0:.1f} s (not in the timings below)")
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"), initializer=_pool_start)
    try:
        warm = {"inline": warm_up()}
        addresses = list(client.scheduler_info()["workers"])
        warm["dask"] = max(client.gather([client.submit(warm_up, workers=[a], pure=False) for a in addresses]))
        t0 = time.perf_counter()
        pool_threads = set(pool.map(threads, range(2), chunksize=1))  # starts (and warms) both processes
        while len(pool_threads) < 2:  # both answered: each process' pid differs
            pool_threads |= set(pool.map(threads, range(4)))
        warm["plain 2"] = time.perf_counter() - t0
        print("warm-up, one untimed point per process (imports, dataset): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in warm.items()))
        workers = client.scheduler_info()["workers"].values()
        print(f"dask workers: {len(workers)}, nthreads {[w['nthreads'] for w in workers]}, processes=True (pids below)")
        print("threads, this process:", threads())
        for line in client.gather([client.submit(threads, workers=[a], pure=False) for a in addresses]):
            print("threads, dask worker: ", line)
        for line in sorted(pool_threads):
            print("threads, plain pool:  ", line)

        print(f"the CPUs alone: 2 matmul loops at once give {machine_ceiling(pool)}", flush=True)
        runs = {"inline": lambda: run_labscope(plan, "inline", None),
                "dask": lambda: run_labscope(plan, "dask", cluster.scheduler_address),
                "plain 1": lambda: run_plain(plan, None),
                "plain 2": lambda: run_plain(plan, pool)}
        timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
        largest_record = 0
        for repeat in range(args.repeats):
            order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
            for name in order:
                cpu = cpu_seconds()
                wall, work, record_bytes = runs[name]()
                cpu = cpu_seconds() - cpu
                largest_record = max(largest_record, record_bytes)
                timings[name].append((wall, work, cpu))
                print(f"repeat {repeat} {name:<7} {wall:6.1f} s wall, {work:6.1f} s of point time "
                      f"({work / args.points:.2f} s per point), {cpu:6.1f} CPU s (all processes)", flush=True)
        print(f"the CPUs alone, after: {machine_ceiling(pool)}", flush=True)
    finally:
        pool.shutdown()
        client.close()
        cluster.close()

    def per_repeat(f):
        return [f(*rows) for rows in zip(*(timings[n] for n in runs))]

    speedup = per_repeat(lambda i, d, p1, p2: i[0] / d[0])
    ceiling = per_repeat(lambda i, d, p1, p2: p1[0] / p2[0])
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"largest result record sent back: {largest_record} bytes")
    print(f"speed-up of the 2-worker cluster over inline: {ranged(speedup)}; target near 2x")
    print(f"ceiling, 2 plain processes over 1 (no cache): {ranged(ceiling)}")
    print(f"dask's speed-up as a share of the ceiling, per repeat: {ranged(per_repeat(lambda i, d, p1, p2: (i[0] / d[0]) / (p1[0] / p2[0])), '')}")
    print(f"point time with two at once over one at a time: dask/inline "
          f"{ranged(per_repeat(lambda i, d, p1, p2: d[1] / i[1]))}, plain 2/plain 1 {ranged(per_repeat(lambda i, d, p1, p2: p2[1] / p1[1]))}")
    print(f"CPU time with two at once over one at a time: dask/inline "
          f"{ranged(per_repeat(lambda i, d, p1, p2: d[2] / i[2]))}, plain 2/plain 1 {ranged(per_repeat(lambda i, d, p1, p2: p2[2] / p1[2]))} "
          f"(2 over these: the speed-up an idle machine would allow, if nothing waits)")
    print(f"labscope's cost per point over the bare computation (inline - plain 1, point time): "
          f"{ranged(per_repeat(lambda i, d, p1, p2: (i[1] - p1[1]) / args.points), ' ms', 1000, 0)} wall, "
          f"{ranged(per_repeat(lambda i, d, p1, p2: (i[2] - p1[2]) / args.points), ' ms', 1000, 0)} CPU")
    print(f"overhead per task (cluster wall - point time / 2 workers, per point): "
          f"{ranged([(d[0] - d[1] / 2) / args.points for d in timings['dask']], ' ms', 1000, 0)}; target < 100 ms; "
          f"the same for plain 2: {ranged([(p[0] - p[1] / 2) / args.points for p in timings['plain 2']], ' ms', 1000, 0)}")


if __name__ == "__main__":
    main()
