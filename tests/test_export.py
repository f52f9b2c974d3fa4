"""Paper-figure export: styles, the styled copy, and real PNG/SVG/PDF files of the right physical size.

Tests marked `export` drive headless Chromium through kaleido and are skipped without it;
the style tests run everywhere.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pytest

from analyses.core import export as ex

pytest.importorskip("plotly")
import plotly.graph_objects as go  # noqa: E402

PAPER = "ml-column"
export_caption = ex.caption


def line_fig() -> go.Figure:
    x = np.linspace(0, 6, 40)
    fig = go.Figure([go.Scatter(x=x, y=np.sin(x), name="sin"), go.Scatter(x=x, y=np.cos(x), mode="lines+markers", name="cos")])
    return fig.update_layout(title="loss", xaxis_title="step", yaxis_title="value")


def contour_fig() -> go.Figure:
    g = np.linspace(-1, 1, 21)
    return go.Figure(go.Contour(z=np.add.outer(g**2, g**2), x=g, y=g))


def surface_fig() -> go.Figure:
    g = np.linspace(-1, 1, 11)
    return go.Figure(go.Surface(z=np.add.outer(g**2, g**2)))


FIGS = {"line": line_fig, "contour": contour_fig, "surface": surface_fig}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_dpi(data: bytes) -> float | None:
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs":
            ppm_x, _, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            return ppm_x * 0.0254 if unit == 1 else None
        pos += 12 + length
    return None


# --- styles and styling: no browser needed ------------------------------------------------

def test_styles_cover_the_venues():
    for name in ("screen", "ml-column", "ml-full", "neurips", "acl-column", "acl-full"):
        st = ex.get_style(name)
        assert st.name == name and st.palette and set(st.palette) <= set(ex.OKABE_ITO)
        assert st.width_px == round(st.width_in * 96) and abs(st.width_mm - st.width_in * 25.4) < 1e-9
        if name != "screen":
            assert "serif" in st.font_family and "sans" not in st.font_family
            assert 7 <= st.font_pt <= 9 and st.dpi >= 300
    assert ex.STYLES["ml-column"].width_in == 3.25 and ex.STYLES["ml-full"].width_in == 6.75
    assert ex.STYLES["neurips"].width_in == 5.5
    assert ex.STYLES["acl-column"].width_mm == pytest.approx(77) and ex.STYLES["acl-full"].width_mm == pytest.approx(160)
    assert len(ex.OKABE_ITO) == 8


def test_unknown_style_names_the_known_ones():
    with pytest.raises(ValueError, match="nope") as err:
        ex.get_style("nope")
    assert all(name in str(err.value) for name in ex.STYLES)


def test_apply_style_returns_styled_copy():
    fig = line_fig()
    before = fig.to_dict()
    st = ex.get_style(PAPER)
    out = ex.apply_style(fig, PAPER)
    assert fig.to_dict() == before and out is not fig
    lay = out.layout
    assert (lay.width, lay.height) == (st.width_px, st.height_px)
    assert lay.font.size == pytest.approx(st.font_pt * 96 / 72, abs=0.01) and lay.font.family == st.font_family
    assert lay.title.text is None and export_caption(out) == "loss\n"  # a paper style moves the title to the caption
    titled = ex.apply_style(fig, PAPER, title=True).layout
    assert titled.title.text == "loss" and titled.title.font.size == pytest.approx(st.title_pt * 96 / 72, abs=0.01)
    assert lay.xaxis.tickfont.size == pytest.approx(st.tick_pt * 96 / 72, abs=0.01)
    assert tuple(lay.colorway) == st.palette
    assert all(t.line.width == st.line_width for t in out.data) and out.data[1].marker.size == st.marker_size
    assert lay.plot_bgcolor == "white" or lay.template.layout.plot_bgcolor == "white"
    assert ex.apply_style(out, PAPER).to_dict() == out.to_dict(), "styling twice must change nothing"
    assert ex.apply_style(fig, PAPER, height_in=3).layout.height == 288


def test_apply_style_keeps_colorscales_and_3d_layout():
    default = contour_fig()
    own = contour_fig().update_traces(colorscale="Viridis")
    plasma = default.layout.template.data.contour[0].colorscale
    assert ex.apply_style(default, PAPER).data[0].colorscale == plasma
    assert ex.apply_style(own, PAPER).data[0].colorscale == own.data[0].colorscale
    surf = ex.apply_style(surface_fig(), PAPER)
    assert surf.data[0].colorscale is not None
    assert surf.layout.xaxis.to_plotly_json() == {}, "a 3D-only figure must not grow 2D axes"
    assert surf.layout.scene.xaxis.tickfont.size == pytest.approx(ex.get_style(PAPER).tick_pt * 96 / 72, abs=0.01)
    heat = ex.apply_style(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]], colorscale="RdBu")), "screen")
    assert heat.data[0].colorscale == go.Figure(go.Heatmap(z=[[1]], colorscale="RdBu")).data[0].colorscale


def test_import_is_cheap_and_streamlit_free():
    code = "import sys, analyses.core.export; print(sorted(m for m in ('plotly','kaleido','streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_chromium_is_reported(monkeypatch, tmp_path):
    fake = tmp_path / "chrome"
    fake.write_text("")
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert ex.chromium_path() == str(fake)
    monkeypatch.setattr(ex, "chromium_path", lambda: None)
    ok, why = ex.export_available()
    assert not ok and "apt-get install" in why
    with pytest.raises(RuntimeError, match="Chromium"):
        ex.figure_bytes(line_fig(), "png", PAPER)
    with pytest.raises(ValueError, match="gif"):
        ex.figure_bytes(line_fig(), "gif", PAPER)


def test_broken_browser_fails_fast_instead_of_hanging():
    """kaleido's sync server would block forever if Chromium dies at start; the watchdog must raise."""
    code = ("import analyses.core.export as ex, plotly.graph_objects as go\n"
            "try:\n    ex.figure_bytes(go.Figure(), 'svg', 'ml-column')\n"
            "except RuntimeError as e:\n    print('RAISED', e)\n")
    env = {**os.environ, "BROWSER_PATH": "/bin/false"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60).stdout
    assert "RAISED" in out and "Chromium renderer stopped" in out


# --- real exports ---------------------------------------------------------------------------

@pytest.mark.export
@pytest.mark.parametrize("kind", FIGS)
@pytest.mark.parametrize("fmt", ex.FORMATS)
def test_export_has_physical_size(kind, fmt):
    st = ex.get_style(PAPER)
    data = ex.figure_bytes(FIGS[kind](), fmt, PAPER)
    if fmt == "png":
        w, h = png_size(data)
        assert abs(w - round(st.width_in * st.dpi)) <= 1 and abs(h - round(st.height_in * st.dpi)) <= 1
        assert png_dpi(data) == pytest.approx(st.dpi, abs=0.5)
    elif fmt == "svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert float(root.get("width")) == st.width_px and float(root.get("height")) == st.height_px
    else:
        import pypdf

        assert data[:5] == b"%PDF-"
        reader = pypdf.PdfReader(io.BytesIO(data))
        box = reader.pages[0].mediabox
        assert len(reader.pages) == 1
        assert abs(float(box.width) - st.width_in * 72) <= 2 and abs(float(box.height) - st.height_in * 72) <= 2


@pytest.mark.export
def test_write_figures_and_bundle(tmp_path):
    figs = {"loss curve": line_fig(), "contour": contour_fig()}
    paths = ex.write_figures(figs, tmp_path / "out", formats=("png", "svg", "pdf"), style="acl-column")
    assert sorted(p.name for p in paths) == sorted([f"{n}.{f}" for n in ("loss_curve", "contour") for f in ex.FORMATS]
                                                   + ["loss_curve.caption.txt", "contour.caption.txt"])
    assert all(p.is_file() and p.stat().st_size > 500 for p in paths if p.suffix != ".txt")
    assert (tmp_path / "out" / "loss_curve.caption.txt").read_text() == "loss\n"  # the title, out of the figure
    assert b">loss<" not in (tmp_path / "out" / "loss_curve.svg").read_bytes()
    titled = ex.write_figures({"kept": line_fig()}, tmp_path / "titled", formats=("svg",), style="acl-column", title=True)
    assert b">loss<" in titled[0].read_bytes()

    table = pd.DataFrame({"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25]})
    prov = {"analysis": "loss_landscape", "seed": 0, "when": pd.Timestamp("2024-01-01"), "params": {"lr": 0.1}}
    blob = ex.bundle_bytes({"curve": line_fig()}, {"curve": table}, prov, formats=("svg", "pdf"), style="neurips")
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert sorted(zf.namelist()) == ["data/curve.csv", "figures/curve.caption.txt", "figures/curve.pdf",
                                         "figures/curve.svg", "provenance.json", "style.json"]
        assert zf.read("figures/curve.caption.txt") == b"loss\n"
        assert json.loads(zf.read("provenance.json")) == {**prov, "when": str(prov["when"])}
        style = json.loads(zf.read("style.json"))
        assert style["name"] == "neurips" and style["width_px"] == 528 and style["formats"] == ["svg", "pdf"]
        assert style["titles_in_figures"] is False
        assert pd.read_csv(zf.open("data/curve.csv")).equals(table)


@pytest.mark.export
def test_renderer_is_reused_and_thread_safe():
    ex.stop_renderer()
    starts = ex._STATE["starts"]
    t0 = time.perf_counter()
    ex.figure_bytes(line_fig(), "svg", PAPER)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for fig, fmt in ((line_fig(), "png"), (contour_fig(), "svg"), (line_fig(), "pdf")):
        ex.figure_bytes(fig, fmt, PAPER)
    warm = time.perf_counter() - t0
    print(f"cold export {cold:.2f} s, 3 warm 2D exports {warm:.2f} s")
    assert ex._STATE["starts"] == starts + 1, "one browser for all exports"  # timings: benchmarks/export_speed.py

    results: list = []
    threads = [threading.Thread(target=lambda f=f: results.append(ex.figure_bytes(f, "svg", "screen")))
               for f in (line_fig(), contour_fig(), line_fig(), contour_fig())]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and all(ET.fromstring(r).get("width") == "672" for r in results)
    assert ex._STATE["starts"] == starts + 1


def test_explicit_line_widths_survive_styling():
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], line=dict(width=0), fill="toself"),
                     go.Scatter(x=[0, 1], y=[1, 0], line=dict(width=1)), go.Scatter(x=[0, 1], y=[1, 1])])
    out = ex.apply_style(fig, PAPER)
    assert [t.line.width for t in out.data] == [0, 1, ex.get_style(PAPER).line_width]
