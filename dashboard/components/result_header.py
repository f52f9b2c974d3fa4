"""What a page shows above a result: where it came from (computed or cached, and how its parameters differ
from the preset) and its headline numbers as tiles; or, instead of a result, why there is none."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, InputError, InputFile, ModelId, Outcome, ParameterError
from analyses.core import errorlog


def _value_text(p, value: Any) -> str:
    if isinstance(p, InputFile) or (isinstance(p, ModelId) and value and Path(str(value)).is_absolute()):
        return Path(value).name if value else "none"  # a file's or directory's name, never its server path
    return p.to_text(value) if value is not None else "none"


def changed_from_preset(analysis: Analysis, preset: str, params: Mapping[str, Any]) -> list[str]:
    """'name value (preset: value)' for every computed parameter that differs from the preset."""
    base = analysis.params(preset)
    return [f"{p.name} {_value_text(p, params[p.name])} (preset: {_value_text(p, base[p.name])})"
            for p in analysis.spec if not p.display and p.name in params and params[p.name] != base[p.name]]


def badge(outcome: Outcome, preset: str) -> None:
    """Computed or from cache, in how long, and the parameters that differ from the preset."""
    original = outcome.compute_seconds
    changed = changed_from_preset(outcome.analysis, preset, outcome.params)
    what = f"Preset **{preset}**" + (f", changed: {'; '.join(changed)}." if changed else ", unchanged.")
    if outcome.cache_hit:
        when = outcome.result.provenance.get("computed_at", "")
        st.success(f"From cache in {outcome.wall_seconds:.2f} s. The original computation took {original:.1f} s "
                   f"({when}). {what}", icon=":material/bolt:")
    else:
        st.info(f"Computed in {original:.1f} s and cached: these parameters will answer at once next time. {what}",
                icon=":material/calculate:")
    if outcome.problem:
        st.warning(f"A corrupt cache entry was found and recomputed: {outcome.problem}")


def metrics(outcome: Outcome, shown: Mapping[str, str | tuple[str, str]], formats: Mapping[str, Any] | None = None,
            missing: str = "—", per_row: int = 4) -> None:
    """Rows of headline numbers; `shown` maps metric names to labels, or to (label, help) where a short
    label needs its full meaning (the test behind a p-value, say) in the tile's tooltip. Metrics a result
    lacks are skipped.

    At most `per_row` tiles a row (three when labels are long): a tile truncates its label and value to
    its width, so a row of seven cut "steering SNR (median)" to "steering SNR (me…".
    A format is a format spec (".3f") or a function of the value; a metric that is None or NaN (never
    reached, or undefined for this input) reads `missing`.
    """
    formats = formats or {}
    tiles = [(name, *(label if isinstance(label, tuple) else (label, None)))
             for name, label in shown.items() if name in outcome.result.metrics]
    if not tiles:
        return
    if max(len(label) for _, label, _ in tiles) > 24:
        per_row = min(per_row, 3)
    for start in range(0, len(tiles), per_row):
        row = tiles[start:start + per_row]
        for column, (name, label, help_text) in zip(st.columns(per_row), row):
            value, how = outcome.result.metrics[name], formats.get(name, ".3g")
            undefined = value is None or (isinstance(value, float) and value != value)
            column.metric(label, missing if undefined else how(value) if callable(how) else format(value, how),
                          help=help_text)


def show_error(analysis: Analysis, exc: Exception) -> None:
    """Bad input or parameters: their message (it names the file, row or value). Anything else is a bug:
    logged in full on the server, and the browser gets a reference, never a traceback or a path."""
    if isinstance(exc, (InputError, ParameterError)):
        st.error(f"**{analysis.title} could not run.** {exc}")
        return
    reference, _ = errorlog.record(exc, f"page {analysis.name}")
    st.error(f"**{analysis.title} could not run: internal error** (reference `{reference}`). The details are in "
             "the server's log; nothing cached was changed.")
