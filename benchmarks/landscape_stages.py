"""What a slider costs after a loss-landscape run, now that the analysis is cached stages (issue 16).

After a `default` run into an empty cache, change `grid_range` (surface, curvature check and slices
recompute; training, Hessian and the other networks are read back) and then `hessian_samples` (the
Hessian alone). A smoke run into another cache first takes the imports out of the timing. Prints each
rerun's time as a share of the full run (target: grid_range at most 25 %)
and how many networks each trained (hessian_samples must train none). One torch thread; in-process,
through the same `run` the CLI and pages use:

    python benchmarks/landscape_stages.py [--preset default]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from analyses.core import CacheStore, run
from analyses.loss_landscape import ANALYSIS
from analyses.loss_landscape import compute as landscape
from analyses.loss_landscape import training

TRAINED = [0]


def _counting(original):
    def train(*args, **kwargs):
        TRAINED[0] += 1
        return original(*args, **kwargs)
    return train


def timed(store, preset: str, overrides: dict) -> tuple[float, int, list[dict]]:
    TRAINED[0] = 0
    started = time.perf_counter()
    outcome = run(ANALYSIS, preset=preset, overrides=overrides, store=store, device="cpu")
    seconds = time.perf_counter() - started
    assert not outcome.cache_hit
    return seconds, TRAINED[0], outcome.result.provenance["stages"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()
    landscape.train = _counting(landscape.train)  # the second and third networks
    training.train = _counting(training.train)  # the first
    with tempfile.TemporaryDirectory() as folder:
        timed(CacheStore(Path(folder) / "warm-up"), "smoke", {})  # imports (torch, scikit-learn) outside the timing
        store = CacheStore(Path(folder) / "cache")
        full, trained_full, _ = timed(store, args.preset, {})
        base = ANALYSIS.params(args.preset)
        grid, trained_grid, grid_stages = timed(store, args.preset, {"grid_range": base["grid_range"] / 2})
        hessian_run, trained_hessian, hessian_stages = timed(store, args.preset,
                                                             {"hessian_samples": base["hessian_samples"] * 2})
    computed = {name: [s["stage"] for s in stages if s["status"] == "computed"]
                for name, stages in (("grid_range", grid_stages), ("hessian_samples", hessian_stages))}
    print(f"preset={args.preset}: full run {full:.2f} s ({trained_full} networks trained)")
    print(f"grid_range {base['grid_range']} -> {base['grid_range'] / 2}: {grid:.2f} s = {grid / full:.1%} of the full "
          f"run (target <= 25 %); trained {trained_grid}; computed {', '.join(computed['grid_range'])}")
    print(f"hessian_samples {base['hessian_samples']} -> {base['hessian_samples'] * 2}: {hessian_run:.2f} s = "
          f"{hessian_run / full:.1%} of the full run; trained {trained_hessian}; computed "
          f"{', '.join(computed['hessian_samples'])}")
    ok = grid / full <= 0.25 and trained_hessian == 0 and trained_grid == 0
    print("targets met" if ok else "TARGET MISSED")
    sys.exit(0 if ok else 1)
