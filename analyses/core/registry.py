"""Find analyses through the `labscope.analyses` entry-point group.

Any installed package can add an analysis by declaring, in its pyproject.toml:

    [project.entry-points."labscope.analyses"]
    my_analysis = "my_package.my_analysis:ANALYSIS"
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
    return found


def get(name: str) -> Analysis:
    analyses = all_analyses()
    if name not in analyses:
        known = ", ".join(analyses) or "none installed"
        raise ParameterError(f"unknown analysis {name!r}; known: {known}")
    return analyses[name]
