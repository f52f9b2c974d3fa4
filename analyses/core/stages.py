"""An analysis as a small graph of named, cached stages, so a slider recomputes only what it changes.

Each stage is a function with its parameters listed next to it:

    pipeline = Pipeline()

    @pipeline.stage(reads=("dataset", "seed"))
    def data(ctx, *, dataset, seed) -> Result: ...

    @pipeline.stage(reads=("epochs", "lr"), after=("data",), weight=5)
    def training(ctx, data: Result, *, epochs, lr) -> Result: ...

A stage's cache key is the parameters it reads (input files by content), the keys of the stages it
takes results from, and the code it depends on (its module and the in-tree modules that imports,
figure builders excepted; see code_version.py). Changing a parameter therefore recomputes exactly the
stages that read it and those downstream; everything else is read back, and only what is read back
when a computed stage needs it. Keys depend on parameters and keys alone, so what will run is known
before anything runs: the progress bar is shared among the stages that compute.

A stage that other analyses compute too (a trained network) names its entry itself (`entry=`): a
function of the parameters it reads gives the entry's name and key, the same whichever analysis asks.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .analysis import Context, Result
from .cache import cache_key


@dataclass(frozen=True)
class Stage:
    name: str
    function: Callable[..., Result]
    reads: tuple[str, ...] = ()  # parameter names, passed as keyword arguments
    after: tuple[str, ...] = ()  # stages whose results it takes, passed as keyword arguments by stage name
    weight: float = 1.0  # relative cost, to share the progress bar
    when: Callable[[Mapping[str, Any]], bool] | None = None  # runs only if true (its inputs get None otherwise)
    # A stage other analyses compute too (a trained network): (entry name, key) from the parameters it reads,
    # the same for every analysis that asks, so they share one entry. It takes no other stage's result.
    entry: Callable[[Mapping[str, Any]], tuple[str, str]] | None = None

    def code_version(self) -> str:
        from .code_version import digest

        return digest([Path(inspect.getfile(self.function))])


@dataclass
class StageRecord:
    stage: str
    status: str  # "computed", "read back" or "skipped"
    seconds: float = 0.0
    key: str = ""


@dataclass
class Pipeline:
    stages: dict[str, Stage] = field(default_factory=dict)

    def stage(self, reads: tuple[str, ...] = (), after: tuple[str, ...] = (), weight: float = 1.0,
              when: Callable[[Mapping[str, Any]], bool] | None = None,
              entry: Callable[[Mapping[str, Any]], tuple[str, str]] | None = None):
        """Register the decorated function as a stage named after it (in order: inputs first)."""
        def register(function: Callable[..., Result]) -> Callable[..., Result]:
            missing = [name for name in after if name not in self.stages]
            if missing:
                raise ValueError(f"stage {function.__name__!r} takes {missing} before they are declared")
            if entry is not None and after:
                raise ValueError(f"stage {function.__name__!r} is shared through its entry: it cannot take {after}")
            self.stages[function.__name__] = Stage(function.__name__, function, tuple(reads), tuple(after), weight,
                                                   when, entry)
            return function

        return register

    def reads(self) -> set[str]:
        return {name for stage in self.stages.values() for name in stage.reads}

    def keys(self, values: Mapping[str, Any], key_values: Mapping[str, Any], scope: str) -> dict[str, str | None]:
        """Each stage's cache key (None for a stage that does not run), from parameters and code alone."""
        return {name: entry and entry[1] for name, entry in self.entries(values, key_values, scope).items()}

    def entries(self, values: Mapping[str, Any], key_values: Mapping[str, Any], scope: str
                ) -> dict[str, tuple[str, str] | None]:
        """Each stage's cache entry as (name, key), None for a stage that does not run."""
        analysis, _, version = scope.partition("@")
        declared = version.split("+")[0]
        entries: dict[str, tuple[str, str] | None] = {}
        for stage in self.stages.values():
            if stage.when is not None and not stage.when(values):
                entries[stage.name] = None
                continue
            params = {name: key_values[name] for name in stage.reads}
            if stage.entry is not None:
                entries[stage.name] = stage.entry(params)
                continue
            material = {"params": params, "inputs": {name: entries[name] and entries[name][1] for name in stage.after}}
            name = f"{analysis}.{stage.name}"
            entries[stage.name] = (name, cache_key(name, f"{declared}+{stage.code_version()}", material))
        return entries

    def run(self, values: Mapping[str, Any], ctx: Context, key_values: Mapping[str, Any] | None = None
            ) -> tuple[dict[str, Result | None], list[StageRecord]]:
        """Every stage's result (None where a stage does not run) and what happened to each.

        `key_values` are the parameters as they enter cache keys (input files as content digests); by
        default the runner's, else `values` themselves. Without a store (a bare Context) every stage computes.
        """
        key_values = key_values if key_values is not None else (ctx.key_params or values)
        entries = self.entries(values, key_values, ctx.scope)
        keys = {name: entry and entry[1] for name, entry in entries.items()}
        store = ctx.store
        cached = {name: entry is not None and store is not None and _stored(store, *entry)
                  for name, entry in entries.items()}
        needed = self._needed(keys, cached)
        to_run = [s for s in self.stages.values() if keys[s.name] is not None and not cached[s.name]]
        total = sum(s.weight for s in to_run) or 1.0

        results: dict[str, Result | None] = {}
        records: dict[str, StageRecord] = {}
        done = 0.0
        for stage in self.stages.values():
            key = keys[stage.name]
            if key is None:
                results[stage.name] = None
                records[stage.name] = StageRecord(stage.name, "skipped")
                continue
            if cached[stage.name] and stage.name not in needed:
                records[stage.name] = StageRecord(stage.name, "read back", key=key)
                continue
            start, end = done / total, (done + (0 if cached[stage.name] else stage.weight)) / total
            sub = _scaled(ctx, start, end, stage.name)

            def compute(stage=stage, sub=sub) -> Result:
                sub.report(0.0, "")  # a cancel point between stages
                kwargs = {name: values[name] for name in stage.reads}
                kwargs.update({name: results[name] if name in results or keys[name] is None
                               else _LazyResult(store, *entries[name]) for name in stage.after})
                return stage.function(sub, **kwargs)

            t0 = time.perf_counter()
            if store is None:
                result, hit = compute(), False
            else:
                lookup = store.get_or_compute(*entries[stage.name], compute)
                result, hit = lookup.result, lookup.cache_hit
            seconds = time.perf_counter() - t0
            results[stage.name] = result
            records[stage.name] = StageRecord(stage.name, "read back" if hit else "computed", round(seconds, 4), key)
            if not cached[stage.name]:
                done += stage.weight
        for name in self.stages:  # read back last what no computed stage needed: the final tables may
            if name not in results:  # still want it
                results[name] = None if keys[name] is None else _LazyResult(store, *entries[name])
        return results, [records[name] for name in self.stages]

    def _needed(self, keys: Mapping[str, str | None], cached: Mapping[str, bool]) -> set[str]:
        """Cached stages whose results a computed stage takes, read back in order before it runs."""
        needed: set[str] = set()
        for stage in reversed(list(self.stages.values())):
            if keys[stage.name] is not None and not cached[stage.name]:
                needed.update(name for name in stage.after if keys[name] is not None)
        return needed


class _LazyResult:
    """A cached stage result read only if something asks for it."""

    def __init__(self, store, name: str, key: str):
        self._store, self._name, self._key, self._result = store, name, key, None

    def _load(self) -> Result:
        if self._result is None:
            self._result = self._store.get_or_compute(self._name, self._key, _vanished(self._name)).result
        return self._result

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(self._load(), attribute)


def _vanished(name: str) -> Callable[[], Result]:
    def fail() -> Result:
        raise RuntimeError(f"stage {name} was evicted from the cache during the run; run again")

    return fail


def _stored(store, name: str, key: str) -> bool:
    """Whether a stage's entry exists (nothing is read or verified: a corrupt one is recomputed when read)."""
    has = getattr(store, "has", None)
    return bool(has(name, key)) if has is not None else store.path(name, key).exists()


def _scaled(ctx: Context, start: float, end: float, stage: str) -> Context:
    """The context a stage sees: its progress reports fill its share of the overall bar."""
    outer = ctx.on_progress

    def report(fraction: float, message: str) -> None:
        if outer is not None:
            outer(start + (end - start) * fraction, f"{stage}: {message}" if message else stage)

    return replace(ctx, on_progress=report)


def stage_report(records: list[StageRecord]) -> list[dict[str, Any]]:
    """What happened to each stage, for the result's provenance (the page and result.json show it)."""
    return [{"stage": r.stage, "status": r.status, "seconds": r.seconds} for r in records]


def describe(report: list[dict[str, Any]]) -> str:
    """The stage report as text, a line per stage (the CLI prints it after a run that computed)."""
    counts = {status: sum(1 for r in report if r["status"] == status) for status in ("computed", "read back", "skipped")}
    width = max(len(r["stage"]) for r in report)
    lines = [f"stages: {', '.join(f'{n} {status}' for status, n in counts.items() if n)}"]
    lines += [f"  {r['stage']:<{width}}  {r['status']:<9}" + (f"  {r['seconds']:.2f} s" if r["status"] == "computed" else "")
              for r in report]
    return "\n".join(lines)
