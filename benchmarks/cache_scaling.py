"""The cache stays fast as it fills (issue 16, part 3):

- writing into a cache holding 10,000 and 100,000 entries costs at most 2x writing into an empty one
  (with the cap far away, and with the cache at its cap so that every write also evicts);
- `cache info` and listing 10,000 runs of one analysis take under 1 s (in-process, and the CLI's
  `labscope cache info` with interpreter start-up);
- a page rerun on a cached view whose input is a 1 GB file rehashes nothing (a sparse file: the
  first run hashes 1 GB, the rerun's key, is-cached check and cache hit read none of it).

    python benchmarks/cache_scaling.py [--sizes 10000 100000] [--writes 300]

The filled caches hold real entries (small zips with a manifest, as `CacheStore.write` makes them)
and their index rows, written directly rather than one `write` at a time to save minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyses.core import Analysis, CacheStore, InputFile, Int, ParamSpec, Result, digests, run  # noqa: E402
from analyses.core import index as cache_index  # noqa: E402
from analyses.core.cache import _encode  # noqa: E402
from analyses.core.runner import result_key  # noqa: E402


def small_result(i: int) -> Result:
    return Result(metrics={"loss": 1.0 / (i + 1), "accuracy": (i % 100) / 100},
                  arrays={"grid": np.full((8, 8), float(i))},
                  provenance={"params": {"seed": i, "width": 16 + i % 7, "lr": 0.01},
                              "computed_at": "2026-11-30T00:00:00+00:00", "compute_seconds": 0.5})


def fill(store: CacheStore, n: int, analysis: str = "filled") -> None:
    """n real entries of `analysis` plus their index rows."""
    folder = store.root / "results" / analysis
    folder.mkdir(parents=True, exist_ok=True)
    rows, now = [], time.time()
    for i in range(n):
        key = hashlib.sha256(f"{analysis}{i}".encode()).hexdigest()
        result = small_result(i)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for member, data in _encode(key, result).items():
                archive.writestr(member, data)
        (folder / f"{key}.zip").write_bytes(buffer.getvalue())
        rows.append(cache_index.result_row(analysis, key, len(buffer.getvalue()), now - n + i, result.provenance,
                                           result.metrics))
        if len(rows) == 5000:
            store.index.add(rows)
            rows = []
    store.index.add(rows)


def write_ms(store: CacheStore, writes: int, tag: str) -> list[float]:
    times = []
    for i in range(writes):
        result = small_result(i)
        started = time.perf_counter()
        store.write("bench", hashlib.sha256(f"{tag}{i}".encode()).hexdigest(), result)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} ms, mean {statistics.fmean(times):.2f} ms, max {max(times):.1f} ms"


def bench_writes(sizes: list[int], writes: int, tmp: Path) -> None:
    """A write into a full cache also deletes about one entry (as many bytes as it adds); that file
    deletion costs the same whatever the cache holds, so the at-cap writes are compared with writes
    into a small cache at its cap as well as with writes into an empty one."""
    empty = CacheStore(tmp / "empty", max_bytes=1 << 40)
    write_ms(empty, 20, "warm")  # imports, first connection
    base = write_ms(empty, writes, "empty")
    print(f"write into an empty cache:            {summary(base)}")
    fill(CacheStore(tmp / "small", max_bytes=1 << 40), 1000)
    small = CacheStore(tmp / "small", max_bytes=CacheStore(tmp / "small").info()["bytes_under_cap"])
    small_base = write_ms(small, writes, "cap")
    print(f"write into   1000 entries, at cap:    {summary(small_base)}")
    for n in sizes:
        root = tmp / f"filled{n}"
        started = time.perf_counter()
        fill(CacheStore(root, max_bytes=1 << 40), n)
        print(f"  (filled {n} entries in {time.perf_counter() - started:.0f} s)")
        far = CacheStore(root, max_bytes=1 << 40)
        times = write_ms(far, writes, "far")
        print(f"write into {n:>6} entries, cap far:   {summary(times)}; "
              f"ratio {statistics.fmean(times) / statistics.fmean(base):.2f}x (mean)")
        at_cap = CacheStore(root, max_bytes=far.info()["bytes_under_cap"])  # every write pushes it over
        times = write_ms(at_cap, writes, "cap")
        info = at_cap.info()
        print(f"write into {n:>6} entries, at cap:    {summary(times)}; "
              f"ratio {statistics.fmean(times) / statistics.fmean(small_base):.2f}x the small cache at its cap, "
              f"{statistics.fmean(times) / statistics.fmean(base):.2f}x the empty one (means); "
              f"now {info['entries']} entries, {info['bytes_under_cap'] <= at_cap.max_bytes and 'under' or 'OVER'} the cap")


def bench_listing(tmp: Path) -> None:
    root = tmp / "listing"
    fill(CacheStore(root), 10_000, analysis="loss_landscape")
    store = CacheStore(root)
    started, cpu = time.perf_counter(), time.process_time()
    info = store.info()
    info_s, info_cpu = time.perf_counter() - started, time.process_time() - cpu
    runs_s = []
    for _ in range(3):  # the first includes importing pandas, which a dashboard has done long before
        started, cpu = time.perf_counter(), time.process_time()
        frame = store.runs("loss_landscape")
        runs_s.append((time.perf_counter() - started, time.process_time() - cpu))
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(root), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analyses.core.cli", "cache", "info"], env=env, check=True,
                   capture_output=True)
    cli_s = time.perf_counter() - started
    print(f"cache info, {info['entries']} entries:      {info_s * 1000:.0f} ms in-process (CPU {info_cpu * 1000:.0f} ms); "
          f"`labscope cache info` {cli_s:.2f} s with interpreter start-up")
    print(f"listing {len(frame)} runs (params + metrics): "
          f"{', '.join(f'{wall * 1000:.0f} ms (CPU {cpu * 1000:.0f})' for wall, cpu in runs_s)} "
          f"(the first imports pandas; a DataFrame of {len(frame.columns)} columns)")
    print(f"  (load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())})")


def bench_big_input(tmp: Path) -> None:
    big = tmp / "big.txt"
    with open(big, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB, sparse: no disk used, but hashing still reads it all
    spec = ParamSpec((InputFile("data", None, suffixes=(".txt",)), Int("bins", 10, min=1, max=100)))
    analysis = Analysis(name="big_input", title="Big input", papers=(), version="1", spec=spec,
                        compute=lambda params, ctx: Result(metrics={"size": float(os.path.getsize(params["data"]))}),
                        figures=lambda result, params: {}, presets={"smoke": {}, "default": {}},
                        source_dir=Path(__file__).parent)
    store = CacheStore(tmp / "big-cache")
    params = analysis.params("default", {"data": str(big)})
    before, started = digests.hashed_bytes, time.perf_counter()
    first = run(analysis, params=params, store=store)
    print(f"first run, 1 GiB input:               {time.perf_counter() - started:.2f} s, "
          f"hashed {(digests.hashed_bytes - before) / 2**30:.2f} GiB (cache hit: {first.cache_hit})")
    for attempt in range(3):  # what a page rerun does: is-cached check (key), then run through the cache
        before, started = digests.hashed_bytes, time.perf_counter()
        cached = store.has(analysis.name, result_key(analysis, params))
        again = run(analysis, params=params, store=store)
        print(f"page rerun {attempt + 1}:                         {(time.perf_counter() - started) * 1000:.1f} ms, "
              f"hashed {digests.hashed_bytes - before} bytes (cached: {cached}, cache hit: {again.cache_hit})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_big_input(Path(tmp))
        bench_listing(Path(tmp))
        bench_writes(args.sizes, args.writes, Path(tmp))
