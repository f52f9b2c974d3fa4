"""eyekit's fixation-sequence JSON: each top-level entry a trial, its scalar fields trial columns.

    {"trial_0": {"participant_id": "p1", "passage_id": "p", "fixations":
        {"__FixationSequence__": [{"x": 412, "y": 300, "start": 100, "end": 312}, ...]}}}

eyekit writes a fixation as a dict (`x`, `y`, `start`, `end`, optionally `discarded`, `tags`) or, in
older files, a list `[x, y, start, end]`; its duration is end − start, and discarded fixations are
left out (as eyekit's own measures do). A trial may also be a bare `{"__FixationSequence__": [...]}`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from analyses.core.errors import InputError

MAX_BYTES = 256 << 20
MAX_FIXATIONS = 5_000_000
KEY = "__FixationSequence__"
SUBJECT_FIELDS = ("participant_id", "participant", "subject", "subject_id", "observer")
STIMULUS_FIELDS = ("passage_id", "stimulus", "image", "image_id", "text_id", "passage")


def _number(value, what: str, file: str, item: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} is {json.dumps(value)[:40]}, not a number", file=file, item=item)
    if not math.isfinite(value):
        raise InputError(f"{what} is {value}, not a finite number", file=file, item=item)
    return float(value)


def _fixation(raw, file: str, item: str) -> tuple[float, float, float, float, bool]:
    if isinstance(raw, dict):
        missing = [k for k in ("x", "y", "start", "end") if k not in raw]
        if missing:
            raise InputError(f"a fixation without {', '.join(missing)}", file=file, item=item)
        x, y, start, end = (_number(raw[k], k, file, item) for k in ("x", "y", "start", "end"))
        discarded = raw.get("discarded", False)
        if not isinstance(discarded, bool):
            raise InputError(f"discarded is {json.dumps(discarded)[:40]}, not true/false", file=file, item=item)
    elif isinstance(raw, list) and 4 <= len(raw) <= 6:
        x, y, start, end = (_number(v, k, file, item) for v, k in zip(raw, ("x", "y", "start", "end")))
        discarded = bool(raw[4]) if len(raw) > 4 and isinstance(raw[4], bool) else False
    else:
        raise InputError(f"a fixation is {json.dumps(raw)[:60]}; expected {{x, y, start, end}}", file=file, item=item)
    if end < start:
        raise InputError(f"a fixation ends ({end:g}) before it starts ({start:g})", file=file, item=item)
    return x, y, start, end, discarded


def load(path: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """A fixation table (subject, stimulus, condition, trial, onset, offset, duration, x, y, order) and problems."""
    path = Path(path)
    name = path.name
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"larger than {MAX_BYTES >> 20} MB", file=name)
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=name) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=name) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", file=name) from None
    if isinstance(data, dict) and KEY in data:
        data = {"trial_0": data}
    if isinstance(data, list):
        data = {f"trial_{i}": entry for i, entry in enumerate(data)}
    if not isinstance(data, dict) or not data:
        raise InputError("expected a JSON object of trials, each holding a fixation sequence "
                         f"({{\"trial\": {{\"fixations\": {{\"{KEY}\": [...]}}}}}})", file=name)
    rows, problems, total = [], [], 0
    for trial, entry in data.items():
        item = f"{trial!s}"[:60]
        if not isinstance(entry, dict):
            raise InputError("a trial is not an object holding a fixation sequence", file=name, item=item)
        sequence = entry if KEY in entry else next((v for v in entry.values() if isinstance(v, dict) and KEY in v),
                                                   None)
        if sequence is None:
            raise InputError(f"no fixation sequence ({KEY}) in this trial", file=name, item=item)
        fixations = sequence[KEY]
        if not isinstance(fixations, list):
            raise InputError(f"{KEY} is not a list of fixations", file=name, item=item)
        total += len(fixations)
        if total > MAX_FIXATIONS:
            raise InputError(f"more than {MAX_FIXATIONS:,} fixations", file=name)
        meta = {k: v for k, v in entry.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        for key, value in meta.items():
            if isinstance(value, str) and (not value.isprintable() or "\ufeff" in value):
                raise InputError(f"field {key!r} holds control characters", file=name, item=item)
        subject = next((str(meta[f]) for f in SUBJECT_FIELDS if f in meta), path.stem)
        stimulus = next((str(meta[f]) for f in STIMULUS_FIELDS if f in meta), str(trial))
        kept = 0
        for i, raw_fix in enumerate(fixations):
            x, y, start, end, discarded = _fixation(raw_fix, name, f"{item}, fixation {i}")
            if discarded:
                continue
            rows.append({**{k: v for k, v in meta.items() if k not in ("subject", "stimulus")},
                         "subject": subject, "stimulus": stimulus,
                         "condition": str(meta.get("condition", "original")), "trial": str(trial), "x": x, "y": y,
                         "onset": start, "offset": end, "duration": end - start, "order": kept, "source": "eyekit"})
            kept += 1
        if len(fixations) > kept:
            problems.append({"problem": "discarded fixations left out (info)", "where": f"trial {item}",
                             "count": len(fixations) - kept})
        if not fixations:
            problems.append({"problem": "empty fixation sequence", "where": f"trial {item}", "count": 1})
    if not rows:
        raise InputError("no fixation in any trial", file=name)
    return pd.DataFrame(rows), problems
