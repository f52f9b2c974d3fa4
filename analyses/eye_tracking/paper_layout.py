"""The "Unveiling the Truth" dataset layout: gaze_data.pickle, images/<edit>/<id>.jpg, masks/<edit>/<id>.png.

Optionally `saliency/<edit>/<id>.png`: a model's saliency map per stimulus, scored against the observers.
`data[img_id][edit_type]["user_<n>"]` holds `x_fix`, `y_fix` (fixations in order; no durations) besides
the raw `x_coords`, `y_coords`. It arrives as a .zip of the dataset folder, or as the bare pickle
(then without pictures: the stimulus is the screen). The pickle is read by `safe_pickle`, never `pickle.load`.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from . import safe_pickle
from analyses.core.errors import InputError

from .fixations import Stimulus

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_MEMBER_BYTES = 512 << 20   # a single image or pickle this large is not a dataset but a zip bomb
MAX_TOTAL_BYTES = 4 << 30      # everything read from one archive, uncompressed
MAX_MEMBERS = 200_000
MAX_STIMULUS_PIXELS = 40_000_000  # 40 megapixels: far above any screen; Pillow's own bomb limit is 179 M
CHUNK = 1 << 20


def fixations_from_data(data, name: str = "gaze_data.pickle") -> tuple[pd.DataFrame, list[dict]]:
    """The pickle's nested dicts as a fixation table; malformed entries are reported by key and skipped."""
    if not isinstance(data, dict):
        raise InputError(f"must hold a dict of images, got {type(data).__name__}", file=name)
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
                if any(_has_bool(gaze[k]) for k in ("x_fix", "y_fix")):
                    problems.append({"problem": "x_fix/y_fix hold true/false values, not coordinates (skipped)",
                                     "where": where, "count": 1})
                    continue
                if any(isinstance(gaze[k], np.ndarray) and gaze[k].dtype.kind == "c" for k in ("x_fix", "y_fix")):
                    problems.append({"problem": "x_fix/y_fix are complex numbers, not coordinates (skipped)",
                                     "where": where, "count": 1})
                    continue
                try:
                    xs = np.asarray(gaze["x_fix"], dtype=float).ravel()
                    ys = np.asarray(gaze["y_fix"], dtype=float).ravel()
                except (TypeError, ValueError, OverflowError):
                    problems.append({"problem": "x_fix/y_fix are not numbers (skipped)", "where": where, "count": 1})
                    continue
                if np.isinf(xs).any() or np.isinf(ys).any():
                    problems.append({"problem": "x_fix/y_fix hold infinite values (skipped)", "where": where,
                                     "count": 1})
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
        raise InputError("holds no usable fixations"
                         + (f" ({problems[0]['problem']} at {problems[0]['where']})" if problems else ""),
                         file=name)
    return pd.concat(rows, ignore_index=True), problems


def _has_bool(values) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype == bool
    return isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in values)


def _decode_image(raw: bytes, name: str, mode: str, archive: str = "") -> np.ndarray:
    """A picture from its bytes; its size is read from the header and refused above MAX_STIMULUS_PIXELS
    before anything is decoded (Pillow's own decompression-bomb check stays on beneath it)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the lower limit below decides
            with Image.open(io.BytesIO(raw)) as image:
                width, height = image.size
                if width * height > MAX_STIMULUS_PIXELS:
                    raise InputError(f"{width}×{height} pixels: more than the {MAX_STIMULUS_PIXELS // 1_000_000} "
                                     "million a stimulus may have", file=archive or name, item=name if archive else None)
                return np.asarray(image.convert(mode))
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError("an image over Pillow's decompression-bomb limit", file=archive or name,
                         item=name if archive else None) from None
    except Exception:  # noqa: BLE001 - not an image, truncated, or an unknown format
        raise InputError("not a readable image (PNG, JPEG, BMP or WebP)", file=archive or name,
                         item=name if archive else None) from None


def _safe_name(name: str) -> bool:
    """A member name that stays inside the archive's folder: relative, no '..', no drive, no NUL."""
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")
                or "\x00" in name or not name.isprintable())


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
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InputError("not a zip archive (or a damaged one)", file=path.name) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"{len(infos):,} members: more than {MAX_MEMBERS:,}", file=path.name)
        for info in infos:
            if not _safe_name(info.filename):
                raise InputError("a member name that leaves the archive's folder (absolute, '..' or a drive); "
                                 "refused", file=path.name, item=repr(info.filename)[:80])
            if info.flag_bits & 0x1:
                raise InputError("an encrypted member", file=path.name, item=info.filename)
        members = {PurePosixPath(i.filename): i for i in infos if not i.is_dir()}
        pickles = sorted((m for m in members if m.name == "gaze_data.pickle"), key=lambda m: len(m.parts))
        if not pickles:
            raise InputError("holds no gaze_data.pickle (expected the paper's layout: gaze_data.pickle, "
                             "images/<edit_type>/<img_id>.jpg, masks/<edit_type>/<img_id>.png)", file=path.name)
        root = pickles[0].parent
        total = [0]

        def read(member: PurePosixPath) -> bytes:
            """The member's bytes, counted while they stream: a size field that lies cannot get past the limits."""
            info = members[member]
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(f"larger than {MAX_MEMBER_BYTES >> 20} MB uncompressed; refused", file=path.name,
                                 item=str(member))
            chunks, size = [], 0
            try:
                with archive.open(info) as stream:
                    while chunk := stream.read(CHUNK):
                        size += len(chunk)
                        total[0] += len(chunk)
                        if size > MAX_MEMBER_BYTES:
                            raise InputError(f"larger than {MAX_MEMBER_BYTES >> 20} MB uncompressed; refused",
                                             file=path.name, item=str(member))
                        if total[0] > MAX_TOTAL_BYTES:
                            raise InputError(f"more than {MAX_TOTAL_BYTES >> 20:,} MB uncompressed in all; refused",
                                             file=path.name)
                        chunks.append(chunk)
            except InputError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError,
                    zlib.error):
                raise InputError("a damaged or unsupported member (bad CRC, unknown compression or truncated)",
                                 file=path.name, item=str(member)) from None
            return b"".join(chunks)

        table, problems = fixations_from_data(safe_pickle.loads(read(pickles[0]), path.name, str(pickles[0])),
                                              path.name)
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
            image = _decode_image(read(member), str(member), "RGB", path.name)
            mask = None
            if ("masks", stim, cond) in files:
                mask = _decode_image(read(files[("masks", stim, cond)]), str(files[("masks", stim, cond)]), "L",
                                     path.name) > 127
                if mask.shape != image.shape[:2]:
                    problems.append({"problem": f"mask size {mask.shape[::-1]} differs from the image's "
                                                f"{image.shape[1::-1]} (mask ignored)",
                                     "where": f"masks/{cond}/{stim}", "count": 1})
                    mask = None
            model = None
            if ("saliency", stim, cond) in files:  # a model's map to score against the observers
                model = _decode_image(read(files[("saliency", stim, cond)]), str(files[("saliency", stim, cond)]),
                                      "L", path.name).astype(float)
                if model.shape != image.shape[:2]:
                    problems.append({"problem": "saliency map size differs from the image's (map ignored)",
                                     "where": f"saliency/{cond}/{stim}", "count": 1})
                    model = None
            stimuli[(stim, cond)] = Stimulus(image.shape[1], image.shape[0], image, mask, model)
    return table, stimuli, problems


def load_pickle(path: Path, screen_size: tuple[int, int]) -> tuple[pd.DataFrame, dict, list[dict]]:
    table, problems = fixations_from_data(safe_pickle.loads(path.read_bytes(), path.name), path.name)
    stimuli = {key: Stimulus(*screen_size) for key in set(zip(table["stimulus"], table["condition"]))}
    problems.append({"problem": "a bare pickle has no pictures: each stimulus is taken to fill the screen",
                     "where": path.name, "count": len(stimuli)})
    return table, stimuli, problems
