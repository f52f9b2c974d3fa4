"""Figures a journal accepts: every 2D figure of every analysis' smoke preset, exported as SVG in every
style (and at a dashboard column's width on screen), measured in Chromium: no text outside the canvas, cut
by its plot, overlapping other text or lying over another plot's data, nothing below 6 pt in print, no
plot squeezed by its legend. Plus the rules that need no browser: colour-blind-safe, distinct series
colours; log axes at powers of ten; titles moved into captions in paper styles.

The smoke presets compute once per test session (prompt steering with the tiny offline model instead
of the packaged Gemma, whose first conversion takes minutes; its figures are built from the same items,
formats and personas). One kaleido server and one Playwright page serve every figure.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from analyses.core import export, run
from figure_check import style_problems

ANALYSES = ("loss_landscape", "landscape_phases", "eye_tracking", "concept_space", "prompt_steering")
PAGE_WIDTH_PX = 420  # a figure in one of two columns of the dashboard, in a 1280 px wide window
# Series colours: Okabe & Ito's, and the neutral greys/black/white used for context (references, bands).
NEUTRAL = {"#000000", "#FFFFFF", "#999999", "#888888", "#808080", "GREY", "GRAY", "BLACK", "WHITE", "LIGHTGREY"}


@pytest.fixture(scope="module")
def smoke_figures(tmp_path_factory):
    """{analysis: {figure name: unstyled figure}} for every analysis' smoke preset."""
    from analyses.prompt_steering import tiny

    model = str(tiny.build(tmp_path_factory.mktemp("tiny_model"), "llama", chat=True))
    overrides = {"prompt_steering": {"model": model}}
    return {name: run(name, preset="smoke", overrides=overrides.get(name), device="cpu").figures() for name in ANALYSES}


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


@pytest.mark.export
@pytest.mark.parametrize("analysis", ANALYSES)
def test_every_figure_fits_in_every_style(analysis, smoke_figures, page):
    problems = style_problems(page, smoke_figures[analysis], screen_width=PAGE_WIDTH_PX)
    assert not problems, f"{len(problems)} layout problems:\n" + "\n".join(problems)


def _colour(value) -> str | None:
    """A CSS colour as upper-case hex ('rgba(0, 114, 178, 0.2)' -> '#0072B2': a transparent band keeps its hue)."""
    if not isinstance(value, str):
        return None
    rgb = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(,[^)]*)?\)", value.strip())
    return "#{:02X}{:02X}{:02X}".format(*map(int, rgb.groups()[:3])) if rgb else value.upper()


def _series_colours(fig) -> list[tuple[str, str]]:
    """(legend name, colour) of every trace shown in the legend."""
    found = []
    for t in fig.data:
        if getattr(t, "showlegend", None) is False or not getattr(t, "name", None):
            continue
        colour = None
        for path in ("marker.color", "line.color", "fillcolor"):
            obj = t
            for part in path.split("."):
                obj = getattr(obj, part, None)
            if _colour(obj):
                colour = _colour(obj)
                break
        if colour:
            found.append((t.name, colour))
    return found


def test_series_colours_are_colour_blind_safe_and_distinct(smoke_figures):
    okabe_ito = {c.upper() for c in export.OKABE_ITO}
    for analysis, figures in smoke_figures.items():
        for name, fig in figures.items():
            series = _series_colours(fig)
            for label, colour in series:
                assert colour in okabe_ito | NEUTRAL, f"{analysis}.{name}: {label!r} in {colour}, not Okabe-Ito"
            # A dashed companion (the time a concept was learned, beside that concept's curve) may share its
            # series' colour; two solid series may not.
            dashed = {t.name for t in fig.data if getattr(getattr(t, "line", None), "dash", None) not in (None, "solid")}
            by_colour: dict[str, set[str]] = {}
            for label, colour in series:
                if label not in dashed and colour not in NEUTRAL:
                    by_colour.setdefault(colour, set()).add(re.sub(r"\s*\(.*", "", label))
            shared = {c: labels for c, labels in by_colour.items() if len(labels) > 1}
            assert not shared, f"{analysis}.{name}: distinct series share a colour: {shared}"


def test_concept_space_prompts_differ_in_hue():
    from analyses.concept_space.figures import PROMPT_COLORS

    assert len(set(PROMPT_COLORS.values())) == 4
    assert PROMPT_COLORS["red_large"] != PROMPT_COLORS["red_small"]
    assert {c.upper() for c in PROMPT_COLORS.values()} <= {c.upper() for c in export.OKABE_ITO}


def test_paper_styles_move_titles_to_captions(smoke_figures):
    fig = smoke_figures["landscape_phases"]["phase_map"]
    paper = export.apply_style(fig, "ml-column")
    assert not paper.layout.title.text, "a paper style draws no title by default"
    kept = export.apply_style(fig, "ml-column", title=True)
    assert kept.layout.title.text.startswith("Phase map")
    assert export.apply_style(fig, "screen").layout.title.text.startswith("Phase map")
    text = export.caption(paper)
    assert text.startswith("Phase map") and "test accuracy <" in text and "barrier >" in text and "CKA <" in text
    again = export.apply_style(paper, "ml-column")
    assert json.loads(again.to_json()) == json.loads(paper.to_json()), "styling twice changes nothing"


def test_log_axes_are_labelled_at_powers_of_ten(smoke_figures):
    fig = export.apply_style(smoke_figures["loss_landscape"]["hessian_spectrum"], "ml-column")
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.tickvals
    exponents = [round(math.log10(v), 9) for v in axis.tickvals]
    assert all(e == int(e) for e in exponents) and exponents == sorted(exponents)
    assert list(axis.ticktext) == [f"10<sup>{int(e)}</sup>" for e in exponents]
    assert axis.minor.ticks == "outside"  # minor ticks, which Plotly never labels
    # the exponent (70 % of the tick font) stays at 6 pt or more in print
    assert axis.tickfont.size * export.SUPERSCRIPT_SCALE >= 6 * 96 / 72 - 0.01
