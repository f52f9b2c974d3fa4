"""Paper-figure export: one named style sizes a Plotly figure physically, and the same
styled figure is what the dashboard shows and what lands in PNG/SVG/PDF files.

Rendering goes through kaleido, which drives a headless Chromium. Launching Chromium
costs seconds, so one kaleido sync server (one browser) is started per process and
reused; its request queue is not thread-safe, so every export holds `_LOCK`. Plotly
and kaleido are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import io
import json
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
    FigureStyle("screen", "Screen (7 x 4.5 in)", 7.0, 4.5, _SANS, 11, 13, 10, 2.5, 7, 150),
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


def apply_style(fig: "go.Figure", style: FigureStyle | str, *, height_in: float | None = None) -> "go.Figure":
    """A styled copy (the input is untouched): physical size, pt fonts, palette, thin lines, tight margins.

    Idempotent (absolute settings only), so a figure styled for display can be exported as is.
    """
    import plotly.graph_objects as go

    st = get_style(style)
    if height_in is not None:
        st = dataclasses.replace(st, height_in=float(height_in))
    fig = go.Figure(fig)  # deep copy
    font, tick, title = st.px(st.font_pt), st.px(st.tick_pt), st.px(st.title_pt)
    axis_lw = round(max(1.0, st.line_width * 0.6), 2)
    old_template = fig.layout.template

    for t in fig.data:  # keep the colorscale the old template gave (simple_white swaps plasma for viridis)
        if hasattr(t, "colorscale") and t.colorscale is None and getattr(t, "coloraxis", None) is None:
            t.colorscale = _pinned_colorscale(old_template, t.type)
    coloraxis = any(getattr(t, "coloraxis", None) or getattr(getattr(t, "marker", None), "coloraxis", None)
                    for t in fig.data)
    if coloraxis and fig.layout.coloraxis.colorscale is None:
        fig.layout.coloraxis.colorscale = old_template.layout.colorscale.sequential

    has_title = bool(fig.layout.title.text)
    fig.update_layout(
        template="simple_white", width=st.width_px, height=st.height_px, autosize=False,
        font=dict(family=st.font_family, size=font, color="black"), colorway=list(st.palette),
        title=dict(font=dict(size=title)),
        legend=dict(font=dict(size=tick), title=dict(font=dict(size=font))),
        margin=dict(l=4, r=4, b=4, t=round(title * 2.2) if has_title else 6, pad=0),
    )
    cartesian = not fig.data or any(hasattr(t, "xaxis") for t in fig.data)
    if cartesian:  # room for tick labels and axis titles up front: kaleido's automargin alone clips them
        fig.update_layout(margin=dict(l=round(2.6 * tick + 1.4 * font + 8), b=round(1.3 * tick + 1.8 * font + 10)))
    colorbar = dict(thickness=max(6, round(font * 0.8)), outlinewidth=0, tickfont=dict(size=tick),
                    title=dict(font=dict(size=font)))
    for t in fig.data:
        if t.type in ("scatter", "scattergl"):
            if t.line.width is None:  # an explicit width (0 for a band's edge, 1 for faint context) is kept
                t.update(line_width=st.line_width)
            if not _is_array(t.marker.size):  # array sizes encode data
                t.update(marker_size=st.marker_size)
        if hasattr(t, "colorbar"):
            t.update(colorbar=colorbar)
        if t.type == "heatmap" and t.texttemplate:  # numbers or labels printed in the cells
            t.update(textfont_size=tick)
    if coloraxis:
        fig.update_coloraxes(colorbar=colorbar)

    if cartesian:  # touching x/yaxis on a 3D-only figure would draw empty 2D axes
        axis = dict(linewidth=axis_lw, tickwidth=axis_lw, ticklen=max(3, round(tick * 0.4)), ticks="outside",
                    showline=True, automargin=True, tickfont=dict(size=tick), title=dict(font=dict(size=font), standoff=4))
        fig.update_xaxes(**axis)
        fig.update_yaxes(**axis)
    if any(t.type in _3D_TYPES for t in fig.data):
        axis3d = dict(tickfont=dict(size=tick), title=dict(font=dict(size=font)), linewidth=axis_lw)
        fig.update_scenes(xaxis=axis3d, yaxis=axis3d, zaxis=axis3d)
    return fig


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


def figure_bytes(fig: "go.Figure", fmt: str, style: FigureStyle | str, *, height_in: float | None = None) -> bytes:
    """One figure as png/svg/pdf bytes at the style's physical size."""
    fmt, st = _check_format(fmt), get_style(style)
    if chromium_path() is None:
        raise RuntimeError(HOW_TO_ENABLE)
    return _render_styled(apply_style(fig, st, height_in=height_in), fmt, st)


def _safe_name(name: str) -> str:
    """File/zip member names from figure and table names, with no path tricks."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "figure"


def _render_all(figures: dict[str, Any], formats: tuple[str, ...] | list[str], style: FigureStyle | str):
    fmts, st = [_check_format(f) for f in formats], get_style(style)
    if figures and fmts and chromium_path() is None:
        raise RuntimeError(HOW_TO_ENABLE)
    for name, fig in figures.items():
        styled = apply_style(fig, st)  # once per figure, whatever the number of formats
        for fmt in fmts:
            yield f"{_safe_name(name)}.{fmt}", _render_styled(styled, fmt, st)


def write_figures(figures: dict[str, "go.Figure"], out_dir: str | Path, formats=FORMATS,
                  style: FigureStyle | str = "ml-column") -> list[Path]:
    """Write <name>.<fmt> for every figure and format; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, data in _render_all(figures, formats, style):
        (path := out / filename).write_bytes(data)
        paths.append(path)
    return paths


def bundle_bytes(figures: dict[str, "go.Figure"], tables: dict[str, "pd.DataFrame"], provenance: dict,
                 formats=FORMATS, style: FigureStyle | str = "ml-column") -> bytes:
    """A zip with figures/, data/<table>.csv, provenance.json and style.json: a figure plus what it was made from."""
    st = get_style(style)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for filename, data in _render_all(figures, formats, st):
            zf.writestr(f"figures/{filename}", data)
        for name, df in tables.items():
            keep_index = type(df.index).__name__ != "RangeIndex"  # a default 0..n-1 index is noise
            zf.writestr(f"data/{_safe_name(name)}.csv", df.to_csv(index=keep_index))
        zf.writestr("provenance.json", json.dumps(provenance, indent=2, default=str))
        zf.writestr("style.json", json.dumps({**st.describe(), "formats": [_check_format(f) for f in formats]}, indent=2))
    return buf.getvalue()
