"""Find analyses through the `labscope.analyses` entry-point group.

Any installed package can add an analysis by declaring, in its pyproject.toml:

    [project.entry-points."labscope.analyses"]
    my_analysis = "my_package.my_analysis:ANALYSIS"

While developing one, `LABSCOPE_ANALYSES="my_analysis=my_module:ANALYSIS,..."` in the server's (or the
CLI's) environment adds it without installing anything; worker processes inherit it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from .analysis import Analysis
from .params import ParameterError

GROUP = "labscope.analyses"


@lru_cache(maxsize=1)
def all_analyses() -> dict[str, Analysis]:
    found: dict[str, Analysis] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        analysis = ep.load()
        if not isinstance(analysis, Analysis):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not an Analysis")
        if analysis.name != ep.name:
            raise ValueError(f"entry point {ep.name!r} loads analysis named {analysis.name!r}")
        found[analysis.name] = analysis
    for name, analysis in _from_environment().items():
        found[name] = analysis
    return found


def _from_environment() -> dict[str, Analysis]:
    import importlib
    import os

    found = {}
    for item in filter(None, (part.strip() for part in os.environ.get("LABSCOPE_ANALYSES", "").split(","))):
        name, _, target = item.partition("=")
        module, _, attribute = target.partition(":")
        analysis = getattr(importlib.import_module(module), attribute)
        if not isinstance(analysis, Analysis) or analysis.name != name:
            raise ValueError(f"LABSCOPE_ANALYSES: {item!r} does not name an Analysis called {name!r}")
        found[name] = analysis
    return found


def get(name: str) -> Analysis:
    analyses = all_analyses()
    if name not in analyses:
        known = ", ".join(analyses) or "none installed"
        raise ParameterError(f"unknown analysis {name!r}; known: {known}")
    return analyses[name]
