"""Run an analysis through the cache: the single code path behind page, CLI and API.

    from analyses.core import run
    outcome = run("loss_landscape", preset="smoke", overrides={"epochs": 5})
    outcome.result.metrics, outcome.cache_hit, outcome.figures()
"""

from __future__ import annotations

import platform
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Mapping

from . import registry
from .analysis import Analysis, Context, PreviewCallback, ProgressCallback, Result
from .cache import CacheStore, cache_key

TRACKED_PACKAGES = ("labscope", "numpy", "pandas", "scipy", "scikit-learn", "torch", "plotly", "kaleido", "streamlit")


@dataclass
class Outcome:
    analysis: Analysis
    params: dict[str, Any]
    key: str
    result: Result
    cache_hit: bool
    wall_seconds: float
    problem: str | None = None  # a corrupt entry that was found and replaced
    _figures: dict | None = field(default=None, repr=False)

    @property
    def compute_seconds(self) -> float:
        """How long the original computation took, whether or not this request computed."""
        return float(self.result.provenance.get("compute_seconds", float("nan")))

    def figures(self) -> dict:
        if self._figures is None:
            self._figures = self.analysis.figures(self.result, self.params)
        return self._figures

    def provenance(self) -> dict[str, Any]:
        """The stored record plus this request's view: display options, cache hit, key, and the inputs
        by this request's own file names beside their digests (the stored record has digests only)."""
        digests = self.result.provenance.get("data_digests", {})
        inputs = {name: {"name": own, "sha256": digests.get(name)}
                  for name, own in self.analysis.spec.input_names(self.params).items()}
        return {**self.result.provenance, "display": self.analysis.spec.display_params(self.params),
                "inputs": inputs, "cache_hit": self.cache_hit, "cache_key": self.key}

    def public_params(self) -> dict[str, Any]:
        """The parameters with inputs by their own file names (for result.json): no server paths."""
        names = self.analysis.spec.input_names(self.params)
        return {name: names.get(name, value) for name, value in self.params.items()}


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def git_revision(path: Path | None = None) -> str | None:
    """The checkout's commit (with '+dirty' for local edits), or None outside a git work tree."""
    where = path or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _seeds(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if "seed" in name}


def result_key(analysis: Analysis, values: Mapping[str, Any]) -> str:
    """The cache key of an analysis' result for validated parameter values."""
    return cache_key(analysis.name, analysis.code_version, analysis.spec.key_params(values))


def run(
    analysis: str | Analysis,
    preset: str | None = "default",
    overrides: Mapping[str, Any] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    device: str = "auto",
    on_progress: ProgressCallback | None = None,
    on_preview: PreviewCallback | None = None,
    on_wait: Callable[[], None] | None = None,
    cancel_event: threading.Event | None = None,
    store: CacheStore | None = None,
    policy: Any = None,
) -> Outcome:
    """Validate parameters, answer from the cache or compute, and return the outcome.

    Pass `params` (already complete) or `preset` + `overrides`. The compute device is an
    execution setting, not part of the cache key; the device used is in the provenance.
    `on_preview` receives the partial results the analysis sends while computing (never on a hit).
    `policy` is the dashboard's `ServerPolicy` (confined paths, no custom code); the CLI and API pass none.
    """
    started = time.perf_counter()
    if isinstance(analysis, str):
        analysis = registry.get(analysis)
    values = (analysis.spec.validate(params, policy=policy) if params is not None
              else analysis.params(preset, overrides, policy=policy))
    store = store or CacheStore()
    digests = analysis.spec.input_digests(values)  # hashes input files once: reused for key and provenance
    key_params = analysis.spec.key_params(values, digests)
    key = cache_key(analysis.name, analysis.code_version, key_params)
    ctx = Context(device=device, on_progress=on_progress, on_preview=on_preview, cancel_event=cancel_event or threading.Event(),
                  store=store, scope=f"{analysis.name}@{analysis.code_version}", key_params=key_params)
    compute_values = analysis.spec.compute_params(values)

    def compute() -> Result:
        t0 = time.perf_counter()
        result = analysis.compute(compute_values, ctx)
        ctx.report(1.0, "done")
        seconds = time.perf_counter() - t0
        result.provenance = {
            "analysis": analysis.name,
            "title": analysis.title,
            "papers": list(analysis.papers),
            "code_version": analysis.code_version,
            "params": key_params,  # inputs by digest: a shared entry never shows one user's paths to another
            "key_params": key_params,
            "data_digests": digests,
            "seeds": _seeds(values),
            "packages": package_versions(),
            "git_revision": git_revision(),
            "platform": platform.platform(),
            "device": ctx.used_device or "cpu",  # the device used, not the setting ('auto')
            "device_requested": ctx.device,
            "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "compute_seconds": round(seconds, 4),
            **result.provenance,  # anything the analysis added itself (e.g. the device it resolved)
        }
        return result

    lookup = store.get_or_compute(analysis.name, key, compute, on_wait=on_wait)
    result = replace(lookup.result, provenance=dict(lookup.result.provenance))
    return Outcome(analysis, values, key, result, lookup.cache_hit, time.perf_counter() - started, lookup.problem)
