"""The contract every analysis follows, so browser, CLI and Python share one code path.

An analysis is data (name, papers, version, parameter spec, presets) plus two functions:
`compute(params, ctx) -> Result`, pure apart from progress reports, and
`figures(result, params) -> {name: plotly Figure}`. Nothing here imports Streamlit,
Plotly or torch, so listing analyses and answering from the cache stays fast.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

from .errors import InputError
from .params import ParamSpec


class Cancelled(Exception):
    """Raised inside a computation when its caller asked it to stop."""


ProgressCallback = Callable[[float, str], None]
PreviewCallback = Callable[["Result"], None]


@dataclass
class Context:
    """What a compute function gets besides its parameters.

    `report` forwards progress to whoever watches (page progress bar, CLI bar) and is
    the point where a cancellation request takes effect.
    """

    device: str = "auto"
    on_progress: ProgressCallback | None = None
    on_preview: PreviewCallback | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # Set by the runner: where `cached` keeps sub-results, and under which analysis and code version.
    store: Any = None
    scope: str = ""
    # The device the computation actually ran on, set when it asks for one (None: it never used torch,
    # so it ran on the CPU).
    used_device: str | None = None
    # The parameters as they enter cache keys (input files as content digests), for staged analyses.
    key_params: Mapping[str, Any] | None = None

    def cached(self, kind: str, params: Mapping[str, Any], compute: Callable[[], "Result"],
               code: Sequence[ModuleType] | None = None) -> "Result":
        """A sub-computation with its own cache entry (one cell of a grid, say).

        A grid that is extended, cancelled half-way or rerun never recomputes a finished part.
        By default the entry is keyed by the whole analysis' code version; `code` names the modules
        that alone decide the sub-result (a model's scoring code, say), so that editing the rest of
        the analysis (metrics, tables) keeps it. Without a store (a bare Context in a test), it just computes.
        """
        if self.store is None:
            return compute()
        name, key = self._part_key(kind, params, code)
        return self.store.get_or_compute(name, key, compute).result

    def lookup(self, kind: str, params: Mapping[str, Any], code: Sequence[ModuleType] | None = None) -> "Result | None":
        """The sub-result `cached` would return if it is stored, else None: never computes or waits."""
        if self.store is None:
            return None
        return self.store.lookup(*self._part_key(kind, params, code))

    def _part_key(self, kind: str, params: Mapping[str, Any], code: Sequence[ModuleType] | None) -> tuple[str, str]:
        from .cache import cache_key

        analysis = self.scope.split("@")[0]
        scope = self.scope if code is None else f"{analysis}@{_modules_digest(code)}"
        name = f"{analysis}.{kind}"
        return name, cache_key(name, scope, {"kind": kind, "params": dict(params)})  # plain JSON values only

    def report(self, fraction: float, message: str = "") -> None:
        if self.cancel_event.is_set():
            raise Cancelled(message or "cancelled")
        if self.on_progress is not None:
            self.on_progress(min(max(float(fraction), 0.0), 1.0), message)

    def preview(self, partial: "Result") -> None:
        """Show a partial result while the computation goes on (a grid filling in, a coarse surface).

        Drawn with the analysis' `preview` figure builder where one watches; never cached. Also a
        cancel point.
        """
        if self.cancel_event.is_set():
            raise Cancelled("cancelled")
        if self.on_preview is not None:
            self.on_preview(partial)

    def limit_torch_threads(self) -> int:
        """Use LABSCOPE_TORCH_THREADS threads, 1 by default.

        On 2 cores, two threads gained at most 1.6x (training alone) and nothing for the whole
        loss-landscape analysis on an idle machine, but were 2.5-3x slower while another process
        computed (benchmarks/torch_threads.py); a dashboard serving several sessions is that case.
        """
        import os

        import torch

        threads = int(os.environ.get("LABSCOPE_TORCH_THREADS", "1"))
        torch.set_num_threads(max(1, threads))
        return torch.get_num_threads()

    def torch_device(self) -> str:
        """Resolve the shared device setting; asking for CUDA without one is an error."""
        import torch

        if self.device == "auto":
            self.used_device = "cuda" if torch.cuda.is_available() else "cpu"
            return self.used_device
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be one of auto, cpu, cuda; got {self.device!r}")
        self.used_device = self.device
        return self.device


@dataclass
class Result:
    """What a computation returns: flat metrics, named tables and arrays, and provenance.

    Tables are pandas DataFrames (what gets exported as the plotted data); arrays are
    numpy arrays for grids and tensors that do not fit a table.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


def lazy(target: str) -> Callable:
    """`"package.module:function"` as a function that imports its module on first call.

    Analyses declare `compute=lazy(...)` and `figures=lazy(...)` so that registering (and listing,
    and answering from the cache) never imports torch or Plotly.
    """
    module_name, function_name = target.split(":")

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module_name), function_name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = function_name
    call.target_module = module_name  # lets the code version find the analysis' package without importing it
    return call


def _modules_digest(modules: Sequence[ModuleType]) -> str:
    """Digest of the named modules' sources and of the in-tree modules they import."""
    from .code_version import digest

    return digest([Path(m.__file__) for m in modules])


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    papers: tuple[str, ...]
    version: str
    spec: ParamSpec
    compute: Callable[[Mapping[str, Any], Context], Result]
    figures: Callable[[Result, Mapping[str, Any]], dict]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    summary: str = ""
    # The package whose sources start the code version (defaults to the compute function's); the in-tree
    # modules they import are followed (see code_version.py).
    source_dir: Path | None = None
    # Figures for a partial result sent by `ctx.preview` while computing: (partial, params) -> {name: Figure}.
    preview: Callable[[Result, Mapping[str, Any]], dict] | None = None

    def __post_init__(self) -> None:
        if "smoke" not in self.presets or "default" not in self.presets:
            raise ValueError(f"analysis {self.name!r} must define 'smoke' and 'default' presets")
        for preset, values in self.presets.items():
            try:
                self.spec.validate(values)
            except ValueError as exc:
                raise ValueError(f"analysis {self.name!r}, preset {preset!r}: {exc}") from exc

    @cached_property
    def code_version(self) -> str:
        """Declared version plus a digest of the analysis' sources and the in-tree code they import
        (figure builders and the backend excepted): editing any of it invalidates the analysis' cache."""
        if self.source_dir is not None:
            directory = Path(self.source_dir)
        elif hasattr(self.compute, "target_module"):
            from importlib.util import find_spec

            directory = Path(find_spec(self.compute.target_module).origin).parent
        else:
            import inspect

            directory = Path(inspect.getfile(self.compute)).parent
        from .code_version import digest, package_files

        return f"{self.version}+{digest(package_files(directory), base=directory)}"

    def params(self, preset: str | None = "default", overrides: Mapping[str, Any] | None = None,
               policy: Any = None) -> dict[str, Any]:
        """Validated parameters: defaults, then the preset, then explicit overrides (under the
        dashboard's `policy`, if given: see `ParamSpec.validate`)."""
        if preset is not None and preset not in self.presets:
            from .params import ParameterError

            raise ParameterError(f"unknown preset {preset!r} for {self.name}; known: {', '.join(self.presets)}")
        merged = dict(self.presets.get(preset, {}) if preset else {})
        merged.update(overrides or {})
        return self.spec.validate(merged, policy=policy)
