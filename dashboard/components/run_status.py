"""Run an analysis from the page: progress bar, cancel button, cache badge and errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import streamlit as st

from analyses.core import Analysis, Cancelled, InputError, InputFile, ModelId, Outcome, ParameterError, run
from analyses.core import errorlog
from analyses.core.runner import result_key
from dashboard.backend import result_store
from dashboard.components.parameter_form import FormState, runs_code, server_policy, write_link
from dashboard.components.stage_table import show_stages


def _is_cached(analysis: Analysis, params: Mapping[str, Any]) -> bool:
    if runs_code(analysis, params):  # even hashing a module by name can import its package: only on Run
        return False
    try:
        key = result_key(analysis, params)
    except (OSError, ValueError):
        return False
    return result_store().has(analysis.name, key)


def show_error(analysis: Analysis, exc: Exception) -> None:
    """Bad input or parameters: their message (it names the file, row or value). Anything else is a bug:
    logged in full on the server, and the browser gets a reference, never a traceback or a path."""
    if isinstance(exc, (InputError, ParameterError)):
        st.error(f"**{analysis.title} could not run.** {exc}")
        return
    reference, _ = errorlog.record(exc, f"page {analysis.name}")
    st.error(f"**{analysis.title} could not run: internal error** (reference `{reference}`). The details are in "
             "the server's log; nothing cached was changed.")


def time_left(elapsed: float, fraction: float) -> str:
    """A rough estimate from the rate so far; silent until there is something to extrapolate."""
    if fraction < 0.02 or elapsed < 2.0 or fraction >= 1.0:
        return ""
    seconds = elapsed * (1.0 - fraction) / fraction
    return f"about {seconds:.0f} s left" if seconds < 90 else f"about {seconds / 60:.0f} min left"


def _progress_reporter(bar):
    """Forward progress to the bar at most ~10 times a second (each update is a message to the browser)."""
    started = time.monotonic()
    last = [0.0, ""]

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if message != last[1] or now - last[0] > 0.1:
            left = time_left(now - started, fraction)
            bar.progress(fraction, text=f"{message} · {left}" if left and message else message or left)
            last[0], last[1] = now, message

    return report


def _preview_drawer(analysis: Analysis, params: Mapping[str, Any], area, every: float = 1.0):
    """Draw the analysis' preview figures of a partial result, at most once a second (a redraw costs a
    round of JSON to the browser); the area is cleared when the final result arrives."""
    if analysis.preview is None:
        return None
    last = [-every]
    drawn = [0]

    def draw(partial) -> None:
        now = time.monotonic()
        if now - last[0] < every:
            return
        last[0] = now
        drawn[0] += 1
        built = analysis.preview(partial, params)
        with area.container():
            st.caption("Live preview of the finished part; the full figures follow when the run ends.")
            for column, (name, figure) in zip(st.columns(max(1, min(2, len(built)))), built.items()):
                column.plotly_chart(figure, key=f"_preview.{analysis.name}.{name}.{drawn[0]}")

    return draw


def compute(analysis: Analysis, form: FormState) -> Outcome | None:
    """The outcome to show: computed on Run, drawn at once for a link whose result is cached, read back for a
    view already seen (with the display options as set now), else None. A link never starts a computation."""
    view_key, cancel_key = f"_view.{analysis.name}", f"_cancel.{analysis.name}"
    if st.session_state.get(cancel_key):
        st.warning("Run cancelled; nothing was cached. Press Run to start again.")
        form.trigger = None
    params, preset = form.params, form.preset
    code = runs_code(analysis, params)
    if form.trigger == "link" and code:  # a link shows such values; only the user's Run runs them
        st.info(f"This link sets {', '.join(code)}, which run code on this server. Check the form and press "
                "**Run** if you trust it.")
        return None
    if form.trigger is None:
        view = st.session_state.get(view_key)
        if view is None:
            st.info("Choose parameters in the sidebar and press **Run**.")
            return None
        params, preset = analysis.spec.validate({**view["params"], **form.display}), view["preset"]
    elif form.trigger in ("link", "visit") and not _is_cached(analysis, params):
        st.info("Choose parameters in the sidebar and press **Run**." if form.trigger == "visit" else
                "This link's result has not been computed on this server yet. Its parameters are in the sidebar: "
                "press **Run** to compute it.")
        return None

    bar = st.empty()
    cancel = st.empty()
    if form.trigger == "submit":
        bar.progress(0.0, text="starting")
        cancel.button("Cancel run", key=cancel_key, help="Stop this computation; nothing partial is cached.")
    waiting = st.empty()
    live = st.empty()
    try:
        outcome = run(analysis, params=params, device=st.session_state.get("device", "auto"),
                      on_progress=_progress_reporter(bar), store=result_store(), policy=server_policy(),
                      on_preview=_preview_drawer(analysis, params, live),
                      on_wait=lambda: waiting.info("Another session is computing this same result; waiting for it..."))
    except Cancelled:
        bar.empty(), cancel.empty(), waiting.empty(), live.empty()
        st.warning("Run cancelled; nothing was cached. Press Run to start again.")
        return None
    except Exception as exc:  # Streamlit's own rerun/stop signals are BaseExceptions and pass through
        bar.empty(), cancel.empty(), waiting.empty(), live.empty()
        show_error(analysis, exc)
        return None
    bar.empty(), cancel.empty(), waiting.empty(), live.empty()
    st.session_state[view_key] = {"params": outcome.params, "preset": preset}
    write_link(analysis, preset, outcome.params)  # the link records what was computed, not what was asked
    _badge(outcome, preset)
    show_stages(outcome)
    return outcome


def _value_text(p, value: Any) -> str:
    if isinstance(p, InputFile) or (isinstance(p, ModelId) and value and Path(str(value)).is_absolute()):
        return Path(value).name if value else "none"  # a file's or directory's name, never its server path
    return p.to_text(value) if value is not None else "none"


def changed_from_preset(analysis: Analysis, preset: str, params: Mapping[str, Any]) -> list[str]:
    """'name value (preset: value)' for every computed parameter that differs from the preset."""
    base = analysis.params(preset)
    return [f"{p.name} {_value_text(p, params[p.name])} (preset: {_value_text(p, base[p.name])})"
            for p in analysis.spec if not p.display and p.name in params and params[p.name] != base[p.name]]


def _badge(outcome: Outcome, preset: str) -> None:
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
