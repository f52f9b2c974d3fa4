"""The "Unveiling the Truth" dataset layout: gaze_data.pickle, images/<edit>/<id>.jpg, masks/<edit>/<id>.png.

Optionally `saliency/<edit>/<id>.png`: a model's saliency map per stimulus, scored against the observers.
`data[img_id][edit_type]["user_<n>"]` holds `x_fix`, `y_fix` (fixations in order; no durations) besides
the raw `x_coords`, `y_coords`. It arrives as a .zip of the dataset folder, or as the bare pickle
(then without pictures: the stimulus is the screen). The pickle is read by `safe_pickle`, never `pickle.load`.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from . import safe_pickle
from .fixations import Stimulus

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_MEMBER_BYTES = 512 << 20  # a single image or pickle this large is not a dataset but a zip bomb


def fixations_from_data(data) -> tuple[pd.DataFrame, list[dict]]:
    """The pickle's nested dicts as a fixation table; malformed entries are reported by key and skipped."""
    if not isinstance(data, dict):
        raise ValueError(f"gaze_data.pickle must hold a dict of images, got {type(data).__name__}")
    rows, problems = [], []
    for img_id, edits in data.items():
        if not isinstance(edits, dict):
            problems.append({"problem": "image entry is not a dict of edit types (skipped)", "where": f"[{img_id!r}]",
                             "count": 1})
            continue
        for edit, users in edits.items():
            if not isinstance(users, dict):
                problems.append({"problem": "edit entry is not a dict of users (skipped)",
                                 "where": f"[{img_id!r}][{edit!r}]", "count": 1})
                continue
            for user, gaze in users.items():
                where = f"[{img_id!r}][{edit!r}][{user!r}]"
                if not isinstance(gaze, dict) or "x_fix" not in gaze or "y_fix" not in gaze:
                    problems.append({"problem": "no x_fix/y_fix (skipped)", "where": where, "count": 1})
                    continue
                try:
                    xs = np.asarray(gaze["x_fix"], dtype=float).ravel()
                    ys = np.asarray(gaze["y_fix"], dtype=float).ravel()
                except (TypeError, ValueError):
                    problems.append({"problem": "x_fix/y_fix are not numbers (skipped)", "where": where, "count": 1})
                    continue
                if len(xs) != len(ys):
                    problems.append({"problem": f"x_fix has {len(xs)} values but y_fix {len(ys)} (skipped)",
                                     "where": where, "count": 1})
                    continue
                if len(xs) == 0:
                    problems.append({"problem": "empty trial: no fixations (skipped)", "where": where, "count": 1})
                    continue
                rows.append(pd.DataFrame({"subject": str(user), "stimulus": str(img_id), "condition": str(edit),
                                          "x": xs, "y": ys, "duration": np.nan, "order": np.arange(len(xs))}))
    if not rows:
        raise ValueError("gaze_data.pickle holds no usable fixations"
                         + (f" ({problems[0]['problem']} at {problems[0]['where']})" if problems else ""))
    return pd.concat(rows, ignore_index=True), problems


def _decode_image(raw: bytes, name: str, mode: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as image:
            return np.asarray(image.convert(mode))
    except Exception as exc:  # not an image, or one over PIL's decompression-bomb limit
        raise ValueError(f"{name} is not a readable image: {type(exc).__name__}: {exc}") from None


def derive_mask(original: np.ndarray, edited: np.ndarray, threshold: float = 12.0) -> np.ndarray:
    """Where the edited picture differs from the original: mean |difference| over channels, lightly
    smoothed (JPEG noise), above `threshold` grey levels."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    if edited.shape != original.shape:
        edited = np.asarray(Image.fromarray(edited).resize(original.shape[1::-1]))
    diff = np.abs(original.astype(float) - edited.astype(float)).mean(axis=2)
    return gaussian_filter(diff, 2.0) > threshold


def load_zip(path: Path, screen_size: tuple[int, int]) -> tuple[pd.DataFrame, dict, list[dict]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path.name} is not a zip archive") from None
    with archive:
        members = {PurePosixPath(i.filename): i for i in archive.infolist() if not i.is_dir()}
        pickles = [m for m in members if m.name == "gaze_data.pickle"]
        if not pickles:
            raise ValueError(f"{path.name} holds no gaze_data.pickle (expected the paper's layout: "
                             "gaze_data.pickle, images/<edit_type>/<img_id>.jpg, masks/<edit_type>/<img_id>.png)")
        root = pickles[0].parent

        def read(member: PurePosixPath) -> bytes:
            if members[member].file_size > MAX_MEMBER_BYTES:
                raise ValueError(f"{member} is larger than {MAX_MEMBER_BYTES >> 20} MB uncompressed; refused")
            return archive.read(members[member])

        table, problems = fixations_from_data(safe_pickle.loads(read(pickles[0])))
        files = {}
        for member in members:
            try:
                rel = member.relative_to(root)
            except ValueError:
                continue
            if len(rel.parts) == 3 and rel.parts[0] in ("images", "masks", "saliency") \
                    and rel.suffix.lower() in IMAGE_SUFFIXES:
                files[(rel.parts[0], rel.parts[2].rsplit(".", 1)[0], rel.parts[1])] = member
        stimuli: dict = {}
        for stim, cond in sorted(set(zip(table["stimulus"], table["condition"]))):
            member = files.get(("images", stim, cond))
            if member is None:
                problems.append({"problem": "no image for this stimulus (shown on a blank canvas of the screen's size)",
                                 "where": f"images/{cond}/{stim}.*", "count": 1})
                stimuli[(stim, cond)] = Stimulus(*screen_size)
                continue
            image = _decode_image(read(member), str(member), "RGB")
            mask = None
            if ("masks", stim, cond) in files:
                mask = _decode_image(read(files[("masks", stim, cond)]), "mask", "L") > 127
                if mask.shape != image.shape[:2]:
                    problems.append({"problem": f"mask size {mask.shape[::-1]} differs from the image's "
                                                f"{image.shape[1::-1]} (mask ignored)",
                                     "where": f"masks/{cond}/{stim}", "count": 1})
                    mask = None
            model = None
            if ("saliency", stim, cond) in files:  # a model's map to score against the observers
                model = _decode_image(read(files[("saliency", stim, cond)]), "saliency map", "L").astype(float)
                if model.shape != image.shape[:2]:
                    problems.append({"problem": "saliency map size differs from the image's (map ignored)",
                                     "where": f"saliency/{cond}/{stim}", "count": 1})
                    model = None
            stimuli[(stim, cond)] = Stimulus(image.shape[1], image.shape[0], image, mask, model)
    return table, stimuli, problems


def load_pickle(path: Path, screen_size: tuple[int, int]) -> tuple[pd.DataFrame, dict, list[dict]]:
    table, problems = fixations_from_data(safe_pickle.loads(path.read_bytes()))
    stimuli = {key: Stimulus(*screen_size) for key in set(zip(table["stimulus"], table["condition"]))}
    problems.append({"problem": "a bare pickle has no pictures: each stimulus is taken to fill the screen",
                     "where": path.name, "count": len(stimuli)})
    return table, stimuli, problems
