"""Static export with one shared Chromium: the first figure pays the browser start, later ones not.

    python benchmarks/export_speed.py [--style ml-column]
"""

import argparse
import time

from analyses.core import run
from analyses.core.export import figure_bytes

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--style", default="ml-column")
    args = parser.parse_args()
    figures = run("loss_landscape", "smoke").figures()
    for i, (name, figure) in enumerate(figures.items()):
        for fmt in ("png", "svg", "pdf"):
            started = time.perf_counter()
            size = len(figure_bytes(figure, fmt, args.style))
            first = " (first export: starts the browser)" if i == 0 and fmt == "png" else ""
            print(f"{name:<16} {fmt}: {time.perf_counter() - started:5.2f} s, {size / 1024:6.1f} KiB{first}")
