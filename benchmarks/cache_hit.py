"""Speed targets of the cached backend (acceptance of the foundation issue):

- `labscope run loss_landscape --preset smoke` answered from the cache: < 2 s wall, start-up included;
- a page revisiting parameters seen before redraws in well under a second (AppTest rerun).

    python benchmarks/cache_hit.py       # exits 1 when a target is missed
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_hit_seconds(cache: str, out: str, repeats: int = 5) -> list[float]:
    env = {**os.environ, "LABSCOPE_CACHE_DIR": cache}
    command = [sys.executable, "-m", "analyses.core.cli", "run", "loss_landscape", "--preset", "smoke", "--out", out,
               "--quiet"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # computes and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def page_revisit_seconds(cache: str, repeats: int = 5) -> list[float]:
    os.environ["LABSCOPE_CACHE_DIR"] = cache
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "loss_landscape.py"), default_timeout=120)
    at.query_params.update({"preset": "smoke"})
    at.run()  # cached by the CLI runs above
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    return times


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        cli = cli_hit_seconds(tmp, str(Path(tmp) / "out"))
        page = page_revisit_seconds(tmp)
    ok = True
    for label, times, target in (("CLI cache hit, wall incl. start-up", cli, 2.0),
                                 ("page rerun on a cached view", page, 1.0)):
        median = statistics.median(times)
        ok &= median < target
        print(f"{label}: median {median:.3f} s, max {max(times):.3f} s (target < {target} s)")
    sys.exit(0 if ok else 1)
