"""Regenerate the screenshots in docs/: serve the dashboard, open every page, run its smoke preset from a
link, check that no title or metric tile is cut off, and capture it.

    python docs/screenshot.py                    # every page into docs/screenshots/, the loss landscape
                                                 # (default preset) into docs/screenshot.png
    python docs/screenshot.py eye_tracking       # only the pages named

A cut-off element is one whose text is wider than its box (the browser truncates it with an ellipsis):
metric labels and values, page and figure titles. The script lists them and exits 1 if it finds any.
Prompt steering's smoke preset runs the packaged Gemma (the first conversion takes a few minutes).
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from analyses.core.export import chromium_path

PORT = 8599
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).parent
PAGES = {"home": "", "loss_landscape": "loss_landscape?preset=smoke", "landscape_phases": "landscape_phases?preset=smoke",
         "eye_tracking": "eye_tracking?preset=smoke", "concept_space": "concept_space?preset=smoke",
         "prompt_steering": "prompt_steering?preset=smoke"}
VIEWPORT = {"width": 1440, "height": 1700}

# Text the browser cut: wider than its box, or ending in an ellipsis it drew.
CUT_OFF_JS = """
() => {
  const cut = [];
  const selectors = ['[data-testid="stMetricLabel"]', '[data-testid="stMetricValue"]', 'h1', 'h2', 'h3',
                     '[data-testid="stMarkdownContainer"] strong', '.gtitle', '.xtitle', '.ytitle'];
  for (const el of document.querySelectorAll(selectors.join(','))) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    for (const node of [el, ...el.querySelectorAll('*')]) {
      if (node.scrollWidth > node.clientWidth + 1 && getComputedStyle(node).overflow !== 'visible') {
        cut.push(el.textContent.trim().slice(0, 80));
        break;
      }
    }
  }
  return cut;
}
"""


def wait_until_drawn(page, name: str) -> None:
    if name == "home":
        page.get_by_role("heading", name="labscope").wait_for()
        return
    page.get_by_text("Computed in").or_(page.get_by_text("From cache in")).first.wait_for(timeout=900_000)
    page.locator(".js-plotly-plot").first.wait_for()
    time.sleep(3)  # let the charts finish their first draw


def main(names) -> int:
    env = {**os.environ, "LABSCOPE_CACHE_DIR": os.environ.get("LABSCOPE_CACHE_DIR", tempfile.mkdtemp())}
    server = subprocess.Popen([sys.executable, "-m", "analyses.core.cli", "serve", "--port", str(PORT)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    problems = 0
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://localhost:{PORT}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        (DOCS / "screenshots").mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(180_000)
            for name in names:
                page.goto(f"http://localhost:{PORT}/{PAGES[name]}")
                wait_until_drawn(page, name)
                cut = page.evaluate(CUT_OFF_JS)
                for text in cut:
                    print(f"{name}: cut off: {text!r}")
                problems += len(cut)
                page.screenshot(path=str(DOCS / "screenshots" / f"{name}.png"))
                print(f"{name}: {len(cut)} cut off")
            if "loss_landscape" in names:  # the README's picture: the default preset
                page.goto(f"http://localhost:{PORT}/loss_landscape?preset=default")
                wait_until_drawn(page, "loss_landscape")
                page.screenshot(path=str(DOCS / "screenshot.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(PAGES)))
