"""Sweeps: run a grid of settings through the cache, on this machine or a Dask cluster.

A sweep is a list of points (parameter overrides on a preset): the cartesian product of `--grid` values,
or a listed set from a YAML file. Each point is one `run()` in a worker (the same code path as the CLI),
so what is cached is skipped and what finishes is kept whatever happens to the others. Workers receive
parameters and the cache location, never tensors, and write their results into the shared cache; the
driver collects small records (metrics, timings, status).

Executors: `inline` (one after another, here), `processes` (a local pool, one torch thread each) and
`dask` (a `dask.distributed` scheduler: an address, or a LocalCluster started for the sweep).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .errors import InputError
from .params import ParameterError
from .processes import plain_main

EXECUTORS = ("inline", "processes", "dask")


@dataclass
class Sweep:
    analysis: str
    preset: str
    points: list[dict[str, Any]]  # overrides per point, validated
    swept: list[str] = field(default_factory=list)  # the parameters that vary, in order


def parse_values(text: str) -> list[str]:
    """`a,b,c` or an inclusive integer range `0..9` (or both: `0..3,10`)."""
    values: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("..")
        if sep:
            try:
                start, stop = int(low), int(high)
            except ValueError:
                raise ParameterError(f"grid range {part!r}: expected integers like 0..9") from None
            if stop < start or stop - start > 10_000:
                raise ParameterError(f"grid range {part!r}: empty or larger than 10,000 values")
            values.extend(str(v) for v in range(start, stop + 1))
        else:
            values.append(part)
    if not values:
        raise ParameterError(f"grid values {text!r}: none given")
    return values


def build(analysis, preset: str, grid: Sequence[str] = (), listed: Iterable[Mapping[str, Any]] = (),
          max_points: int = 10_000) -> Sweep:
    """The sweep's points: the cartesian product of `key=v1,v2` grid entries, times each listed point."""
    if preset not in analysis.presets:
        raise ParameterError(f"unknown preset {preset!r} for {analysis.name}; known: {', '.join(analysis.presets)}")
    axes: dict[str, list[str]] = {}
    for entry in grid:
        key, sep, values = entry.partition("=")
        if not sep:
            raise ParameterError(f"--grid expects key=v1,v2,... got {entry!r}")
        analysis.spec[key.strip()]  # names the known parameters when this one is not
        axes[key.strip()] = parse_values(values)
    base_points = [dict(p) for p in listed] or [{}]
    count = len(base_points) * _product_size(axes.values())
    if count > max_points:
        raise ParameterError(f"the sweep has {count:,} points; at most {max_points:,} are allowed")
    points, swept = [], list(axes)
    for listed_point in base_points:
        for combination in itertools.product(*axes.values()):
            overrides = {**listed_point, **dict(zip(axes, combination))}
            values = analysis.params(preset, overrides)  # validates every point before anything runs
            points.append({k: values[k] for k in overrides})
            swept.extend(k for k in listed_point if k not in swept)
    return Sweep(analysis.name, preset, points, swept)


def _product_size(values: Iterable[list]) -> int:
    size = 1
    for v in values:
        size *= len(v)
    return size


def from_yaml(path: str | Path) -> dict[str, Any]:
    """A sweep file: `analysis`, `preset`, `grid` (key: [values] or "0..9") and/or `points` (a list of settings)."""
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the sweep file ({type(exc).__name__})", file=path) from None
    if not isinstance(spec, dict):
        raise InputError("expected a mapping with grid and/or points", file=path)
    grid = spec.get("grid") or {}
    points = spec.get("points") or []
    if not isinstance(grid, dict) or not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise InputError("grid must map parameters to lists of values; points must be a list of mappings", file=path)
    grid_text = [f"{k}={v if isinstance(v, str) else ','.join(map(str, v if isinstance(v, list) else [v]))}"
                 for k, v in grid.items()]
    return {"analysis": spec.get("analysis"), "preset": spec.get("preset"), "grid": grid_text, "points": points}


def run_point(analysis: str, preset: str, overrides: Mapping[str, Any], cache_root: str, device: str = "auto"
              ) -> dict[str, Any]:
    """One point, in whichever process or worker runs it: a small record, never tensors."""
    os.environ.setdefault("LABSCOPE_TORCH_THREADS", "1")
    from .cache import CacheStore
    from .runner import run

    started = time.perf_counter()
    record = {"overrides": dict(overrides), "status": "done", "cache_hit": False, "error": None}
    try:
        outcome = run(analysis, preset=preset, overrides=overrides, device=device, store=CacheStore(cache_root))
    except (InputError, ParameterError, ValueError, ArithmeticError, RuntimeError, OSError) as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError)
                      else str(exc), seconds=round(time.perf_counter() - started, 3))
        return record
    record.update(cache_hit=outcome.cache_hit, key=outcome.key, params=outcome.params,
                  metrics=outcome.result.metrics, provenance=outcome.provenance(),
                  seconds=round(time.perf_counter() - started, 3))
    return record


def _local_pool_map(points, submit_args, workers: int, on_record):
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        with plain_main():  # the pool's processes start with the first submissions
            futures = {pool.submit(run_point, *submit_args(p)): i for i, p in enumerate(points)}
        for future in as_completed(futures):
            on_record(futures[future], _outcome_of(future, points[futures[future]]))


def _outcome_of(future, overrides) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a lost worker fails its point, not the sweep
        return {"overrides": dict(overrides), "status": "failed", "cache_hit": False, "seconds": None,
                "error": f"the worker running this point was lost ({type(exc).__name__}: {exc})"}


def _dask_map(points, submit_args, scheduler: str | None, workers: int, on_record):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ParameterError("--executor dask needs Dask: pip install -e '.[cluster]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        with plain_main():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None,
                                   env={"OMP_NUM_THREADS": "1", "LABSCOPE_TORCH_THREADS": "1"})
        client = Client(cluster)
    try:
        futures = {}
        for i, point in enumerate(points):
            future = client.submit(run_point, *submit_args(point), pure=False, key=f"labscope-point-{i}-{time.time_ns()}")
            futures[future] = i
        for future in as_completed(futures):
            on_record(futures[future], _outcome_of(future, points[futures[future]]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def execute(sweep: Sweep, cache_root: str | Path, executor: str = "inline", scheduler: str | None = None,
            workers: int | None = None, device: str = "auto",
            on_record: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run every point; records in point order. A failed point is recorded, never raised."""
    if executor not in EXECUTORS:
        raise ParameterError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    from .jobs import default_workers

    workers = workers or default_workers()
    records: list[dict[str, Any] | None] = [None] * len(sweep.points)

    def collect(i: int, record: dict[str, Any]) -> None:
        records[i] = record
        if on_record is not None:
            on_record(i, record)

    def args(point):
        return (sweep.analysis, sweep.preset, point, str(cache_root), device)

    if executor == "inline":
        for i, point in enumerate(sweep.points):
            collect(i, run_point(*args(point)))
    elif executor == "processes":
        _local_pool_map(sweep.points, args, workers, collect)
    else:
        _dask_map(sweep.points, args, scheduler, workers, collect)
    return records


def write_outputs(sweep: Sweep, records: Sequence[Mapping[str, Any]], out: str | Path) -> Path:
    """`out/points/<i>/result.json` per finished point and `out/sweep.csv`, a row per point."""
    import pandas as pd

    out = Path(out)
    rows = []
    for i, record in enumerate(records):
        row = {name: record["overrides"].get(name) for name in sweep.swept}
        row.update({"status": record["status"], "cache_hit": record["cache_hit"], "seconds": record.get("seconds"),
                    "key": record.get("key"), "error": record.get("error")})
        row.update(record.get("metrics") or {})
        rows.append(row)
        if record["status"] == "done":
            folder = out / "points" / f"{i:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(json.dumps(
                {"analysis": sweep.analysis, "params": record["params"], "metrics": record["metrics"],
                 "provenance": record["provenance"]}, indent=2, default=str))
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "sweep.csv", index=False)
    return out / "sweep.csv"
