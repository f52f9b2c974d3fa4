"""Stimulus pictures as compressed data URIs for Plotly.

An `Image` trace given the raw pixel array sends every pixel as a JSON number: a 640×427 photograph is
3 MB of figure JSON, which the browser parses and draws for tens of seconds. The same picture as an
encoded image is 30–50× smaller and draws at once, on screen and in the exported files alike.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def data_uri(image: np.ndarray, max_side: int | None = None) -> str:
    """The picture (H×W grey, RGB or RGBA, uint8) as a PNG or JPEG data URI, whichever is smaller unless the
    JPEG would be lossy for little gain: PNG stays when it is at most 1.5× the JPEG (text and line stimuli,
    where JPEG smears edges); photographs go as JPEG at quality 90. `max_side` shrinks it first (thumbnails)."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, np.uint8))
    if picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    if max_side is not None:
        picture.thumbnail((max_side, max_side))
    png, jpeg = io.BytesIO(), io.BytesIO()
    picture.save(png, format="PNG", optimize=False)
    picture.save(jpeg, format="JPEG", quality=90)
    if png.tell() <= 1.5 * jpeg.tell():
        return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.getvalue()).decode()
