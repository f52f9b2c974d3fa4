"""Paper-figure export: one named style sizes a Plotly figure physically, and the same
styled figure is what the dashboard shows and what lands in PNG/SVG/PDF files.

Rendering goes through kaleido, which drives a headless Chromium. Launching Chromium
costs seconds, so one kaleido sync server (one browser) is started per process and
reused; its request queue is not thread-safe, so every export holds `_LOCK`. Plotly
and kaleido are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import re
import shutil
import struct
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

FORMATS = ("png", "svg", "pdf")
CSS_PX_PER_IN = 96  # Plotly/Chromium px; PDF pages and SVG sizes are in these units
MM_PER_IN = 25.4
RENDER_TIMEOUT_S = 180.0  # watchdog for one export (a 3D scene in software GL takes ~10 s)
HOW_TO_ENABLE = "Server-side export needs Chromium: apt-get install -y chromium (or set BROWSER_PATH)"

# Okabe & Ito (2008), canonical order.
OKABE_ITO: tuple[str, ...] = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
# Trace order for white backgrounds: strong colours first, black next, pale yellow last.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_SERIF = "Liberation Serif, Times New Roman, Times, serif"
_SANS = "Liberation Sans, Arial, Helvetica, sans-serif"


@dataclass(frozen=True)
class FigureStyle:
    """A target venue: physical size, type sizes (pt), line/marker sizes (CSS px) and PNG dpi."""

    name: str
    label: str
    width_in: float
    height_in: float
    font_family: str
    font_pt: float
    title_pt: float
    tick_pt: float
    line_width: float
    marker_size: float
    dpi: int
    palette: tuple[str, ...] = _PALETTE
    keeps_title: bool = False  # papers put titles in captions; a screen figure stands alone

    @property
    def width_mm(self) -> float:
        return self.width_in * MM_PER_IN

    @property
    def height_mm(self) -> float:
        return self.height_in * MM_PER_IN

    @property
    def width_px(self) -> int:
        return round(self.width_in * CSS_PX_PER_IN)

    @property
    def height_px(self) -> int:
        return round(self.height_in * CSS_PX_PER_IN)

    def px(self, pt: float) -> float:
        """Points to CSS px: Plotly sizes fonts in px, papers in pt."""
        return round(pt * CSS_PX_PER_IN / 72, 2)

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce the sizing, for style.json."""
        return {**dataclasses.asdict(self), "width_mm": round(self.width_mm, 2), "height_mm": round(self.height_mm, 2),
                "width_px": self.width_px, "height_px": self.height_px, "png_scale": self.dpi / CSS_PX_PER_IN}


def _paper(name: str, label: str, width_in: float, height_in: float, font_pt: float = 8, **kw: Any) -> FigureStyle:
    kw = {"title_pt": font_pt + 1, "tick_pt": font_pt - 1, "line_width": 1.5, "marker_size": 4, "dpi": 300, **kw}
    return FigureStyle(name, label, width_in, height_in, _SERIF, font_pt, **kw)


STYLES: dict[str, FigureStyle] = {s.name: s for s in (
    FigureStyle("screen", "Screen (7 x 4.5 in)", 7.0, 4.5, _SANS, 11, 13, 10, 2.5, 7, 150, keeps_title=True),
    _paper("ml-column", "ICML/ICLR column (3.25 in)", 3.25, 2.0),
    _paper("ml-full", "ICML two-column full width (6.75 in)", 6.75, 2.6),
    _paper("neurips", "NeurIPS text width (5.5 in)", 5.5, 3.0, font_pt=9),
    _paper("acl-column", "ACL column (7.7 cm)", 7.7 / 2.54, 1.9),
    _paper("acl-full", "ACL full width (16 cm)", 16 / 2.54, 2.5),
)}


def get_style(name: str) -> FigureStyle:
    """Look a style up by name (a FigureStyle passes through, so callers accept either)."""
    if isinstance(name, FigureStyle):
        return name
    try:
        return STYLES[name]
    except KeyError:
        raise ValueError(f"unknown figure style {name!r}; known styles: {', '.join(STYLES)}") from None


_3D_TYPES = {"surface", "scatter3d", "mesh3d", "cone", "streamtube", "volume", "isosurface"}


def _pinned_colorscale(template: Any, trace_type: str) -> Any:
    """The colorscale a trace got from its old template, so a template swap keeps its look."""
    defaults = getattr(template.data, trace_type, None) or ()
    for d in defaults:
        if getattr(d, "colorscale", None) is not None:
            return d.colorscale
    return template.layout.colorscale.sequential


PAD_PX = 3  # the white border left around everything drawn; Plotly's automargin does the rest


def add_caption(fig: "go.Figure", *notes: str) -> "go.Figure":
    """Attach caption sentences to a figure (what a paper says under it: tests, abbreviations, thresholds).

    They travel in `layout.meta`, so they survive styling; `caption` joins them with the title.
    """
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["caption"] = [*meta.get("caption", []), *(n for n in notes if n)]
    fig.update_layout(meta=meta)
    return fig


def add_banner(fig: "go.Figure", text: str) -> "go.Figure":
    """A label the figure must always carry (e.g. SIMULATED DATA): drawn in the title's place when
    styling moves the title into the caption."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["banner"] = text
    return fig.update_layout(meta=meta)


def prefer_height(fig: "go.Figure", inches: float) -> "go.Figure":
    """The least height the figure reads at (a square map, rows of panels): a shorter style grows to it."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["min_height_in"] = float(inches)
    return fig.update_layout(meta=meta)


def figure_title(fig: "go.Figure") -> str:
    """The figure's title as plain text, whether it is drawn or was moved into the caption by styling."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    text = meta.get("title") or fig.layout.title.text or ""
    subtitle = meta.get("subtitle") or fig.layout.title.subtitle.text or ""
    return plain_text(f"{text}. {subtitle}" if subtitle else text)


def caption_notes(fig: "go.Figure") -> list[str]:
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    return [plain_text(n) for n in meta.get("caption", [])]


def caption(fig: "go.Figure") -> str:
    """Title and notes as plain text: the caption file written beside an exported figure."""
    lines = [figure_title(fig), *caption_notes(fig)]
    return "\n".join(line for line in lines if line) + "\n"


def plain_text(text: str) -> str:
    """Plotly's pseudo-HTML as plain text: line breaks become spaces, tags go, entities are decoded."""
    import html

    text = re.sub(r"<br\s*/?>", " ", str(text or ""), flags=re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"</?[A-Za-z][^<>]*>", "", text))).strip()


_FONT_FILES = {"Liberation Serif": "LiberationSerif-Regular.ttf", "Liberation Sans": "LiberationSans-Regular.ttf"}


@functools.lru_cache(maxsize=32)
def _font(family: str, px: float) -> Any:
    """The TrueType font Chromium will draw with (the family's first choice), or None if absent."""
    name = _FONT_FILES.get(family.split(",")[0].strip())
    if name is None:
        return None
    for root in ("/usr/share/fonts/truetype/liberation", "/usr/share/fonts/truetype/liberation2",
                 "/usr/share/fonts/liberation", "/usr/local/share/fonts"):
        if (path := Path(root) / name).is_file():
            from PIL import ImageFont

            return ImageFont.truetype(str(path), size=max(1, round(px * 4)))  # measured at 4x, for precision
    return None


def text_width(text: str, family: str, px: float) -> float:
    """Width in px of plain text as Chromium draws it (the font's own advances; ~0.55 em a glyph if missing)."""
    plain = plain_text(text)
    font = _font(family, px)
    return font.getlength(plain) / 4 if font is not None else 0.55 * px * len(plain)


def wrap_text(text: str, family: str, px: float, max_width: float) -> str:
    """Break text into lines (Plotly's <br>) that fit max_width; existing breaks are kept."""
    lines = []
    for line in re.split(r"<br\s*/?>", str(text), flags=re.I):
        words, current = line.split(" "), ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if current and text_width(trial, family, px) > max_width:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return "<br>".join(lines)


def apply_style(fig: "go.Figure", style: FigureStyle | str, *, height_in: float | None = None,
                title: bool | None = None) -> "go.Figure":
    """A styled copy (the input is untouched): physical size, pt fonts, palette, thin lines, margins that fit.

    The title is drawn when `title` is True, or by default where the style keeps titles (screen);
    otherwise it moves into `layout.meta` for the caption. Legends go in a row above the plot (a legend
    beside a column-wide figure takes half its width); margins are Plotly's automargin around a small
    border; log axes show powers of ten. Idempotent, so a figure styled for display exports as is.
    """
    import plotly.graph_objects as go

    st = get_style(style)
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if height_in is None and meta.get("min_height_in", 0) > st.height_in:
        height_in = meta["min_height_in"]
    if height_in is not None:
        st = dataclasses.replace(st, height_in=float(height_in))
    fig = go.Figure(fig)  # deep copy
    font, tick, title_px = st.px(st.font_pt), st.px(st.tick_pt), st.px(st.title_pt)
    axis_lw = round(max(1.0, st.line_width * 0.6), 2)
    old_template = fig.layout.template

    for t in fig.data:  # keep the colorscale the old template gave (simple_white swaps plasma for viridis)
        if hasattr(t, "colorscale") and t.colorscale is None and getattr(t, "coloraxis", None) is None:
            t.colorscale = _pinned_colorscale(old_template, t.type)
    coloraxis = any(getattr(t, "coloraxis", None) or getattr(getattr(t, "marker", None), "coloraxis", None)
                    for t in fig.data)
    if coloraxis and fig.layout.coloraxis.colorscale is None:
        fig.layout.coloraxis.colorscale = old_template.layout.colorscale.sequential

    top = _place_title(fig, st, title_px, st.keeps_title if title is None else title)
    top += _top_labels_height(fig, st, tick)
    fig.update_layout(
        template="simple_white", width=st.width_px, height=st.height_px, autosize=False,
        font=dict(family=st.font_family, size=font, color="black"), colorway=list(st.palette),
        margin=dict(l=PAD_PX, r=PAD_PX, b=PAD_PX, t=round(top), pad=0, autoexpand=True),
        uniformtext=dict(minsize=tick, mode="show"),  # Plotly would shrink text to fit, below 6 pt
    )
    # The legend: one row (wrapping as needed) under the title, pushing the plot down rather than aside.
    fig.update_layout(legend=dict(font=dict(size=tick), title=dict(font=dict(size=font)), orientation="h",
                                  x=0, xanchor="left", xref="container", yref="container", yanchor="top",
                                  y=1 - (top + PAD_PX) / st.height_px, itemwidth=30, tracegroupgap=0,
                                  entrywidthmode="pixels", entrywidth=0, bgcolor="rgba(0,0,0,0)"))
    fig.update_annotations(font_size=tick)  # vline labels, subplot titles, notes: all at the tick size
    cartesian = not fig.data or any(hasattr(t, "xaxis") for t in fig.data)
    colorbar = dict(thickness=max(6, round(font * 0.8)), outlinewidth=0, tickfont=dict(size=tick),
                    title=dict(font=dict(size=font), side="right"), xpad=PAD_PX, ypad=0)
    for t in fig.data:
        if t.type in ("scatter", "scattergl"):
            if t.line.width is None:  # an explicit width (0 for a band's edge, 1 for faint context) is kept
                t.update(line_width=st.line_width)
            if not _is_array(t.marker.size):  # array sizes encode data
                t.update(marker_size=st.marker_size)
        if hasattr(t, "colorbar"):  # a horizontal bar (under a panel) keeps its title under it
            t.update(colorbar={**colorbar, "title": dict(font=dict(size=font), side="bottom")}
                     if t.colorbar.orientation == "h" else colorbar)
        if hasattr(t, "textfont"):  # numbers printed in heatmap cells, on bars, beside markers
            t.update(textfont_size=tick)
    if coloraxis:
        fig.update_coloraxes(colorbar=colorbar)

    if cartesian:  # touching x/yaxis on a 3D-only figure would draw empty 2D axes
        axis = dict(linewidth=axis_lw, tickwidth=axis_lw, ticklen=max(3, round(tick * 0.4)), ticks="outside",
                    showline=True, automargin=True, tickfont=dict(size=tick), title=dict(font=dict(size=font), standoff=4))
        fig.update_xaxes(**axis)
        fig.update_yaxes(**axis)
        fig.update_xaxes(ticks="", selector=dict(showticklabels=False))  # an image's frame: no bare tick marks
        fig.update_yaxes(ticks="", selector=dict(showticklabels=False))
        fig.for_each_xaxis(lambda axis: _powers_of_ten(fig, axis, st))
        fig.for_each_yaxis(lambda axis: _powers_of_ten(fig, axis, st))
    if any(t.type in _3D_TYPES for t in fig.data):
        axis3d = dict(tickfont=dict(size=tick), title=dict(font=dict(size=font)), linewidth=axis_lw)
        fig.update_scenes(xaxis=axis3d, yaxis=axis3d, zaxis=axis3d)
    return fig


def _place_title(fig: "go.Figure", st: FigureStyle, title_px: float, keep: bool) -> float:
    """Draw the title wrapped to the width, or move it into the caption; returns the height it takes."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    text = meta.get("title") or fig.layout.title.text  # styled before: the title kept in meta is the original
    subtitle = meta.get("subtitle") or fig.layout.title.subtitle.text
    if text:
        meta["title"] = text
    if subtitle:
        meta["subtitle"] = subtitle
    if meta:
        fig.update_layout(meta=meta)
    banner = meta.get("banner")
    if banner and (not keep or not text):  # the label the figure must carry, in the title's place
        text, subtitle, title_px, keep = f"<b>{banner}</b>", None, st.px(st.tick_pt), True
    if not keep or not text:
        fig.layout.title = {}  # the same empty title whether or not one was there (styling stays idempotent)
        return PAD_PX
    width = st.width_px - 2 * PAD_PX
    text = wrap_text(text, st.font_family, title_px, width)
    if subtitle:  # as a smaller line of the title itself: Plotly's own subtitle sits a variable gap below
        sub_px = st.px(st.tick_pt)
        sub = wrap_text(subtitle, st.font_family, sub_px, width).replace("<br>", f"</span><br><span style='font-size:{sub_px}px'>")
        text = f"{text}<br><span style='font-size:{sub_px}px'>{sub}</span>"
    lines = text.count("<br>") + 1
    # Plotly centres a multi-line title on its anchor line: shift it down by half the extra lines.
    shift = PAD_PX + round(0.2 * title_px + 0.65 * (lines - 1) * title_px)
    fig.update_layout(title=dict(text=text, x=0, xanchor="left", xref="container", y=1, yref="container",
                                 yanchor="top", pad=dict(t=shift, l=PAD_PX, b=0, r=0),
                                 automargin=False, font=dict(size=title_px), subtitle=dict(text=None)))
    return 2 * PAD_PX + round(0.2 * title_px) + 1.3 * lines * title_px


def _top_labels_height(fig: "go.Figure", st: FigureStyle, tick: float) -> float:
    """Room for annotations on top of subplots (subplot titles, which push no margin themselves),
    wrapped to their share of the width; returns the height they take."""
    top = [a for a in fig.layout.annotations if a.text and a.y is not None and a.y >= 1 and a.yanchor == "bottom"
           and (a.yref == "paper" or str(a.yref).endswith("domain"))]
    if not top:
        return 0.0
    rows: dict[float, int] = {}
    for a in top:
        rows[round(float(a.y), 3)] = rows.get(round(float(a.y), 3), 0) + 1
    lines = 1
    for a in top:
        share = st.width_px / rows[round(float(a.y), 3)] - 2 * PAD_PX
        a.text = wrap_text(a.text, st.font_family, tick, share)
        lines = max(lines, a.text.count("<br>") + 1)
    return 1.3 * tick * lines + PAD_PX


SUPERSCRIPT_SCALE = 0.7  # Plotly draws <sup> at 70 % of the surrounding font


def _powers_of_ten(fig: "go.Figure", axis: Any, st: FigureStyle) -> None:
    """Log axes labelled 10^k at every decade of their range (the data's, widened to whole decades, when
    the figure sets none), minor ticks unlabelled; the tick font is large enough that the exponent
    stays at 6 pt or more in print."""
    if axis.type != "log":
        return
    axis.update(exponentformat="power", showexponent="all", minor=dict(ticks="outside", ticklen=2, showgrid=False),
                tickfont=dict(size=max(st.px(st.tick_pt), st.px(6.0 / SUPERSCRIPT_SCALE + 0.02))))
    if axis.tickvals is not None:
        return
    if axis.range is not None and None not in tuple(axis.range):
        low, high = sorted(float(r) for r in axis.range)
    else:
        values = _axis_values(fig, axis)
        if values is None:
            return axis.update(dtick=1) if axis.dtick is None else None
        low, high = math.floor(math.log10(values[0])), math.ceil(math.log10(values[1]))
        if high == low:
            high += 1
        axis.update(range=[low, high])
    decades = list(range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1))
    axis.update(tickvals=[10.0 ** k for k in decades], ticktext=[f"10<sup>{k}</sup>" for k in decades])


def _axis_values(fig: "go.Figure", axis: Any) -> tuple[float, float] | None:
    """Smallest and largest positive value the figure's traces put on this 2D axis (None if none)."""
    import numpy as np

    letter = axis.plotly_name[0]  # "xaxis2" -> "x"
    ref = letter + axis.plotly_name[5:]  # "x", "x2"
    found = []
    for t in fig.data:
        if (getattr(t, f"{letter}axis", None) or letter) != ref:
            continue
        values = getattr(t, letter, None)
        if values is None:
            continue
        try:
            arr = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            continue
        arr = arr[np.isfinite(arr) & (arr > 0)]
        if arr.size:
            found += [arr.min(), arr.max()]
    return (min(found), max(found)) if found else None


def _is_array(v: Any) -> bool:
    return hasattr(v, "__len__") and not isinstance(v, str)


def chromium_path() -> str | None:
    """The browser kaleido should drive: $BROWSER_PATH, then PATH, then Debian's location."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).is_file():
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def export_available() -> tuple[bool, str]:
    """Whether server-side export can work here, without starting a browser (cheap enough for every page render)."""
    path = chromium_path()
    if path is None:
        return False, HOW_TO_ENABLE
    import importlib.util

    if importlib.util.find_spec("kaleido") is None:
        return False, "Server-side export needs kaleido: pip install 'kaleido>=1'"
    return True, f"Server-side export via kaleido and Chromium at {path}"


# --- the shared renderer ------------------------------------------------------------------

_LOCK = threading.RLock()  # serialises start/stop and every render: kaleido's queue is single-client
_STATE: dict[str, Any] = {"starts": 0, "path": None}


def _server() -> Any:
    import kaleido

    return getattr(kaleido, "_global_server", None)


def _ensure_renderer() -> None:
    """Start the one kaleido sync server (one Chromium) for this process, if not running."""
    import kaleido
    import plotly.io as pio

    path = chromium_path()
    if path is None:
        raise RuntimeError(HOW_TO_ENABLE)
    srv = _server()
    if srv is not None and srv.is_running():
        thread = getattr(srv, "_thread", None)
        if thread is None or thread.is_alive():
            return
        kaleido.stop_sync_server(silence_warnings=True)  # its thread died since the last export
    pio.defaults.mathjax = False  # offline: the default would pull MathJax from a CDN
    # mathjax=False must go to kaleido directly: plotly.io drops a falsy defaults.mathjax.
    kaleido.start_sync_server(path=path, mathjax=False, timeout=90, silence_warnings=True)
    _STATE.update(starts=_STATE["starts"] + 1, path=path)


def stop_renderer() -> None:
    """Close the shared browser (tests, shutdown); the next export starts a new one."""
    import kaleido

    with _LOCK:
        kaleido.stop_sync_server(silence_warnings=True)


def _render(fig_dict: dict, fmt: str, width: int, height: int, scale: float) -> bytes:
    """Render through the shared server, with a watchdog.

    kaleido 1.5 deadlocks the caller forever if its server thread dies (e.g. Chromium
    fails to start): the request sits in a queue nobody reads. So the request runs in a
    helper thread and we give up, and reset the server, when the server thread is gone.
    """
    import kaleido

    with _LOCK:
        _ensure_renderer()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["ok"] = kaleido.calc_fig_sync(
                    fig_dict, opts=dict(format=fmt, width=width, height=height, scale=scale))
            except BaseException as e:  # noqa: BLE001 - handed to the caller below
                box["err"] = e

        worker = threading.Thread(target=work, name="labscope-export", daemon=True)
        worker.start()
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        while worker.is_alive():
            worker.join(0.05)
            thread = getattr(_server(), "_thread", None)
            dead = thread is not None and not thread.is_alive()
            if worker.is_alive() and (dead or time.monotonic() > deadline):
                if dead:  # the stuck worker is a leaked daemon thread; the next export starts afresh
                    kaleido.stop_sync_server(silence_warnings=True)
                why = "the Chromium renderer stopped" if dead else f"no answer in {RENDER_TIMEOUT_S:.0f} s"
                raise RuntimeError(f"figure export failed: {why} (browser {_STATE['path']}). {HOW_TO_ENABLE}")
        if "err" in box:  # maybe Chromium crashed: restart it on the next export rather than fail forever
            kaleido.stop_sync_server(silence_warnings=True)
            raise RuntimeError(f"figure export failed: {box['err']}") from box["err"]
        return box["ok"]


def _png_set_dpi(png: bytes, dpi: int) -> bytes:
    """Add a pHYs chunk: Chromium's PNGs carry no resolution, so LaTeX/Word would assume 72/96 dpi."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR" or b"pHYs" in png[:4096]:
        return png
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)  # unit 1 = metre
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    end_ihdr = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, crc
    return png[:end_ihdr] + chunk + png[end_ihdr:]


def _render_styled(styled: "go.Figure", fmt: str, st: FigureStyle) -> bytes:
    """PNG at st.dpi; SVG/PDF at scale 1, because kaleido sizes the PDF page as width*scale px."""
    width, height = int(styled.layout.width), int(styled.layout.height)
    scale = st.dpi / CSS_PX_PER_IN if fmt == "png" else 1
    data = _render(styled.to_dict(), fmt, width, height, scale)
    return _png_set_dpi(data, st.dpi) if fmt == "png" else data


def _check_format(fmt: str) -> str:
    f = str(fmt).lower().lstrip(".")
    if f not in FORMATS:
        raise ValueError(f"unsupported export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return f


def figure_bytes(fig: "go.Figure", fmt: str, style: FigureStyle | str, *, height_in: float | None = None,
                 title: bool | None = None) -> bytes:
    """One figure as png/svg/pdf bytes at the style's physical size (title as the style decides, or `title`)."""
    fmt, st = _check_format(fmt), get_style(style)
    if chromium_path() is None:
        raise RuntimeError(HOW_TO_ENABLE)
    return _render_styled(apply_style(fig, st, height_in=height_in, title=title), fmt, st)


def _safe_name(name: str) -> str:
    """File/zip member names from figure and table names, with no path tricks."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "figure"


def _render_all(figures: dict[str, Any], formats: tuple[str, ...] | list[str], style: FigureStyle | str,
                title: bool | None = None):
    """(file name, bytes) of every figure in every format, and of each figure's caption text."""
    fmts, st = [_check_format(f) for f in formats], get_style(style)
    if figures and fmts and chromium_path() is None:
        raise RuntimeError(HOW_TO_ENABLE)
    for name, fig in figures.items():
        styled = apply_style(fig, st, title=title)  # once per figure, whatever the number of formats
        for fmt in fmts:
            yield f"{_safe_name(name)}.{fmt}", _render_styled(styled, fmt, st)
        yield f"{_safe_name(name)}.caption.txt", caption(styled).encode()


def write_figures(figures: dict[str, "go.Figure"], out_dir: str | Path, formats=FORMATS,
                  style: FigureStyle | str = "ml-column", title: bool | None = None) -> list[Path]:
    """Write <name>.<fmt> for every figure and format, and <name>.caption.txt with its title and notes.

    Paper styles leave the title out of the figure (it belongs in the caption) unless `title` is True.
    Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, data in _render_all(figures, formats, style, title):
        (path := out / filename).write_bytes(data)
        paths.append(path)
    return paths


def bundle_bytes(figures: dict[str, "go.Figure"], tables: dict[str, "pd.DataFrame"], provenance: dict,
                 formats=FORMATS, style: FigureStyle | str = "ml-column", title: bool | None = None) -> bytes:
    """A zip with figures/ (and their captions), data/<table>.csv, provenance.json and style.json:
    a figure plus what it was made from."""
    st = get_style(style)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for filename, data in _render_all(figures, formats, st, title):
            zf.writestr(f"figures/{filename}", data)
        for name, df in tables.items():
            keep_index = type(df.index).__name__ != "RangeIndex"  # a default 0..n-1 index is noise
            zf.writestr(f"data/{_safe_name(name)}.csv", df.to_csv(index=keep_index))
        zf.writestr("provenance.json", json.dumps(provenance, indent=2, default=str))
        titles = st.keeps_title if title is None else bool(title)
        zf.writestr("style.json", json.dumps({**st.describe(), "formats": [_check_format(f) for f in formats],
                                              "titles_in_figures": titles}, indent=2))
    return buf.getvalue()
