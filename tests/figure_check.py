"""Measure the text of a rendered SVG figure in Chromium and list what a reviewer would flag.

Each text element's box comes from the browser itself (getBBox in the element's own coordinates,
mapped through getScreenCTM to the page), so rotated tick labels are compared as rotated rectangles,
not as their much larger axis-aligned hulls. Findings:

- `outside`: text (partly) outside the canvas;
- `clipped`: text (partly) outside the clip path that hides it (a label cut at a plot's edge);
- `overlap`: two text boxes overlapping by more than a sliver;
- `small`: a font below 6 pt at print size (the SVG is in CSS px: 96 per inch);
- `covers`: a tick label, axis or colour-bar title, legend entry or figure title drawn over a plot's data
  area (another subplot's, typically);
- `squeezed`: the plot area (all subplots together) narrower or lower than a share of the canvas; a plot
  with a fixed aspect ratio (a map, an image) needs to fill only one of the two.

Used by tests/test_figure_layout.py; `python tests/figure_check.py DIR` checks the SVGs in a folder.
"""

from __future__ import annotations

import html
import itertools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

MIN_PT = 6.0
PX_PER_PT = 96 / 72
SLACK_PX = 0.75  # sub-pixel rounding of glyph boxes is no finding
MIN_PLOT_SHARE = (0.45, 0.35)  # width, height of the canvas left to the data


@dataclass
class Text:
    text: str
    corners: list[tuple[float, float]]  # the rotated box, clockwise, in page px
    font_px: float
    clip: list[tuple[float, float]] | None = None  # the clip rectangle's corners, when a clip path applies
    where: str = ""  # a CSS-ish path naming the element's Plotly layer

    def bounds(self) -> tuple[float, float, float, float]:
        xs, ys = zip(*self.corners)
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class Report:
    width: float
    height: float
    texts: list[Text] = field(default_factory=list)
    plots: list[tuple[float, float, float, float]] = field(default_factory=list)  # each subplot's data area
    findings: list[str] = field(default_factory=list)

    @property
    def plot_area(self) -> tuple[float, float, float, float] | None:
        """The union of the subplots' data areas."""
        if not self.plots:
            return None
        xs0, ys0, xs1, ys1 = zip(*self.plots)
        return min(xs0), min(ys0), max(xs1), max(ys1)


_MEASURE_JS = """
() => {
  const svg = document.querySelector('svg');
  const canvas = svg.getBoundingClientRect();
  const out = {width: canvas.width, height: canvas.height, texts: [], plots: []};
  const corners = (el, box) => {
    const m = el.getScreenCTM();
    return [[box.x, box.y], [box.x + box.width, box.y], [box.x + box.width, box.y + box.height],
            [box.x, box.y + box.height]].map(([x, y]) => {
      const p = new DOMPoint(x, y).matrixTransform(m);
      return [p.x - canvas.x, p.y - canvas.y];
    });
  };
  const visible = (el) => {
    for (let e = el; e && e !== svg; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
    }
    return true;
  };
  const clipOf = (el) => {
    for (let e = el; e && e !== svg; e = e.parentElement) {
      const ref = e.getAttribute && e.getAttribute('clip-path');
      if (!ref) continue;
      const id = ref.match(/url\\(["']?#([^"')]+)["']?\\)/);
      const rect = id && document.getElementById(id[1]) && document.getElementById(id[1]).querySelector('rect');
      if (!rect) return null;
      const box = {x: +rect.getAttribute('x') || 0, y: +rect.getAttribute('y') || 0,
                   width: +rect.getAttribute('width') || 0, height: +rect.getAttribute('height') || 0};
      return corners(e, box);
    }
    return null;
  };
  const path = (el) => {
    const names = [];
    for (let e = el; e && e !== svg; e = e.parentElement) {
      const c = e.getAttribute && e.getAttribute('class');
      if (c) names.unshift(c.split(' ')[0]);
    }
    return names.slice(-4).join(' > ');
  };
  for (const el of svg.querySelectorAll('text')) {
    const content = el.textContent.replace(/\\s+/g, ' ').trim();
    if (!content || !visible(el)) continue;
    const box = el.getBBox();
    if (box.width === 0 || box.height === 0) continue;
    let font = parseFloat(getComputedStyle(el).fontSize);
    for (const span of el.querySelectorAll('tspan')) {
      if (span.textContent.trim()) font = Math.min(font, parseFloat(getComputedStyle(span).fontSize));
    }
    out.texts.push({text: content, corners: corners(el, box), font, clip: clipOf(el), where: path(el)});
  }
  for (const clip of svg.querySelectorAll('clipPath.plotclip')) {  // one per 2D subplot: its data area
    const user = svg.querySelector(`[clip-path*="#${clip.id})"], [clip-path*="#${clip.id}'"], [clip-path*='#${clip.id}"']`);
    const rect = clip.querySelector('rect');
    if (!user || !rect) continue;
    const c = corners(user, {x: +rect.getAttribute('x') || 0, y: +rect.getAttribute('y') || 0,
                             width: +rect.getAttribute('width') || 0, height: +rect.getAttribute('height') || 0});
    out.plots.push([c[0][0], c[0][1], c[2][0], c[2][1]]);
  }
  return out;
}
"""


def measure(page, svg: bytes | str, fixed_aspect: bool = False) -> Report:
    """Load one SVG into the page and read every visible text element's rotated box and font size."""
    markup = svg.decode() if isinstance(svg, bytes) else svg
    page.set_content(f"<!doctype html><html><body style='margin:0;padding:0'>{markup}</body></html>")
    data = page.evaluate(_MEASURE_JS)
    report = Report(data["width"], data["height"])
    for t in data["texts"]:
        report.texts.append(Text(html.unescape(t["text"]), [tuple(c) for c in t["corners"]], t["font"],
                                 [tuple(c) for c in t["clip"]] if t["clip"] else None, t["where"]))
    report.plots = [tuple(p) for p in data["plots"]]
    report.findings = findings(report, fixed_aspect=fixed_aspect)
    return report


def fixed_aspect(fig) -> bool:
    """Whether a Plotly figure locks its plot's aspect ratio (scaleanchor, or an image, which does so itself)."""
    layout = fig.layout
    axes = [layout[k] for k in layout if k.startswith(("xaxis", "yaxis"))]
    return any(a.scaleanchor for a in axes) or any(t.type == "image" for t in fig.data)


def _axes(poly):
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
        dx, dy = x1 - x0, y1 - y0
        norm = (dx * dx + dy * dy) ** 0.5
        if norm > 1e-9:
            yield -dy / norm, dx / norm


def penetration(a, b) -> float:
    """How deep two convex polygons overlap (separating-axis theorem): 0 when they are apart."""
    depth = float("inf")
    for ax, ay in itertools.chain(_axes(a), _axes(b)):
        pa = [x * ax + y * ay for x, y in a]
        pb = [x * ax + y * ay for x, y in b]
        overlap = min(max(pa), max(pb)) - max(min(pa), min(pb))
        if overlap <= 0:
            return 0.0
        depth = min(depth, overlap)
    return depth


def _outside(inner, outer_bounds, slack=SLACK_PX) -> float:
    x0, y0, x1, y1 = outer_bounds
    xs, ys = zip(*inner)
    return max(x0 - min(xs), y0 - min(ys), max(xs) - x1, max(ys) - y1, 0.0) if xs else 0.0


# Plotly's layers for text that belongs outside the data: ticks, axis and colour-bar titles, legend, title.
_FRAME_TEXT = re.compile(r"(^|[ >])(x\d*tick|y\d*tick|xtitle|x\d+title|ytitle|y\d+title|legendtext|cbaxis|cbtitle|gtitle)")


def findings(report: Report, min_pt: float = MIN_PT, fixed_aspect: bool = False) -> list[str]:
    found: list[str] = []
    canvas = (0.0, 0.0, report.width, report.height)
    for t in report.texts:
        if (d := _outside(t.corners, canvas)) > SLACK_PX:
            found.append(f"outside: {t.text!r} ({t.where}) sticks out of the canvas by {d:.1f} px")
        if t.clip and (d := _outside(t.corners, _bounds(t.clip))) > max(SLACK_PX, 0.25 * t.font_px):
            found.append(f"clipped: {t.text!r} ({t.where}) is cut by its clip path by {d:.1f} px")
        if t.font_px < min_pt * PX_PER_PT - 0.05:
            found.append(f"small: {t.text!r} ({t.where}) at {t.font_px / PX_PER_PT:.1f} pt")
    for a, b in itertools.combinations(report.texts, 2):
        # Glyph boxes include the font's line gap: a fifth of the smaller font is no visible overlap.
        if (d := penetration(a.corners, b.corners)) > max(SLACK_PX, 0.2 * min(a.font_px, b.font_px)):
            found.append(f"overlap: {a.text!r} ({a.where}) and {b.text!r} ({b.where}) by {d:.1f} px")
    for t in report.texts:
        if not _FRAME_TEXT.search(t.where):
            continue
        for x0, y0, x1, y1 in report.plots:
            area = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            if (d := penetration(t.corners, area)) > max(SLACK_PX, 0.2 * t.font_px):
                found.append(f"covers: {t.text!r} ({t.where}) lies {d:.1f} px over a plot's data area")
                break
    if report.plot_area is not None:
        x0, y0, x1, y1 = report.plot_area
        share_w, share_h = (x1 - x0) / report.width, (y1 - y0) / report.height
        small_w, small_h = share_w < MIN_PLOT_SHARE[0], share_h < MIN_PLOT_SHARE[1]
        if (small_w and small_h) if fixed_aspect else (small_w or small_h):
            found.append(f"squeezed: the plot area is {share_w:.0%} of the width and {share_h:.0%} of the height")
    return found


def style_problems(page, figures: dict, screen_width: int | None = None) -> list[str]:
    """Every finding of every 2D figure exported in every style (paper styles without their title, as the
    export draws them), and on screen at `screen_width` px without a title, as a page shows it; one line each."""
    from analyses.core import export

    problems = []
    variants = [(name, None) for name in export.STYLES] + ([("screen", screen_width)] if screen_width else [])
    for name, fig in figures.items():
        if any(t.type in export._3D_TYPES for t in fig.data):
            continue  # drawn in WebGL: its labels are pixels, not text to measure
        for style_name, width in variants:
            style = export.get_style(style_name)
            styled = export.apply_style(fig, style, title=False if width else None)  # the page writes titles as text
            if width:
                styled.update_layout(width=width)
            report = measure(page, export._render_styled(styled, "svg", style), fixed_aspect(fig))
            where = f"{name} [{style_name}{f' at {width} px' if width else ''}]"
            assert report.texts, f"{where}: no text measured; is the SVG empty?"
            problems += [f"{where}: {finding}" for finding in report.findings]
    return problems


def _bounds(poly):
    xs, ys = zip(*poly)
    return min(xs), min(ys), max(xs), max(ys)


if __name__ == "__main__":  # python tests/figure_check.py DIR_WITH_SVGS
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import CHROMIUM_ARGS

    from analyses.core.export import chromium_path

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        for svg in sorted(Path(sys.argv[1]).rglob("*.svg")):
            report = measure(page, svg.read_bytes())
            print(f"{svg}: {len(report.findings)} findings")
            for f in report.findings:
                print("   ", f)
        browser.close()
