"""Loss-landscape compute time with 1 vs 2 torch threads, idle or beside a busy process.

Why `Context.limit_torch_threads` defaults to one thread (LABSCOPE_TORCH_THREADS overrides):

    python benchmarks/torch_threads.py [--preset default] [--busy]
"""

import argparse
import os
import subprocess
import sys
import time

from analyses.core import Context
from analyses.loss_landscape import ANALYSIS
from analyses.loss_landscape.compute import compute


def timed(params, threads: int) -> float:
    os.environ["LABSCOPE_TORCH_THREADS"] = str(threads)
    started = time.perf_counter()
    compute(params, Context(device="cpu"))
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile (another session computing)")
    args = parser.parse_args()
    params = ANALYSIS.params(args.preset)
    timed(ANALYSIS.params("smoke"), 1)  # warm-up: imports, allocator
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        for threads in (1, 2):
            best = min(timed(params, threads) for _ in range(args.repeats))
            print(f"preset={args.preset} busy={args.busy} threads={threads}: {best:.2f} s (best of {args.repeats})")
    finally:
        if hog:
            hog.kill()
