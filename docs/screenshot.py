"""Regenerate docs/screenshot.png: serve the dashboard, open the loss-landscape page, capture it.

    python docs/screenshot.py
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

if __name__ == "__main__":
    env = {**os.environ, "LABSCOPE_CACHE_DIR": os.environ.get("LABSCOPE_CACHE_DIR", tempfile.mkdtemp())}
    server = subprocess.Popen([sys.executable, "-m", "analyses.core.cli", "serve", "--port", str(PORT)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://localhost:{PORT}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1450})
            page.set_default_timeout(180_000)
            page.goto(f"http://localhost:{PORT}/loss_landscape?preset=default")
            page.locator(".js-plotly-plot").nth(3).wait_for()
            time.sleep(2)  # let the charts finish their first draw
            page.screenshot(path=str(Path(__file__).with_name("screenshot.png")))
            browser.close()
    finally:
        server.terminate()
