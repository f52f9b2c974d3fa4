"""The one data model every loader produces: a fixation table, plus the stimuli it refers to.

A fixation table has one row per fixation: subject, stimulus, condition, x, y (stimulus pixels, origin
top left), duration (ms, NaN when the source has none) and order (0-based within its trial). A trial is
one (subject, stimulus, condition). Checking happens here, once, so every format gets the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analyses.core.errors import InputError

COLUMNS = ("subject", "stimulus", "condition", "x", "y", "duration", "order")
# where the source has them: the recording's trial and eye, onset/offset (ms, the recording's clock) and
# whether a fixation is the tracker's own event, re-detected, or from a table
EXTRA = ("trial", "eye", "onset", "offset", "source")
REAL_NAMES = ("original", "real", "genuine", "pristine")
FAR = 100  # a position this many stimulus sizes away is a unit or parsing error, not a gaze position


@dataclass
class Stimulus:
    """One image as shown in one condition: its size in pixels, and the picture and edit mask when known."""

    width: int
    height: int
    image: np.ndarray | None = None  # H x W x 3 uint8
    mask: np.ndarray | None = None   # H x W bool: the edited region
    saliency: np.ndarray | None = None  # H x W float: a model's saliency map shipped with the data


@dataclass
class Dataset:
    fixations: pd.DataFrame
    stimuli: dict[tuple[str, str], Stimulus]  # (stimulus, condition) -> Stimulus
    source: str
    simulated: bool = False
    problems: list[dict] = field(default_factory=list)  # {"problem", "where", "count"}: reported, never fatal
    screen: Any = None  # the Screen used, when the file set it (an ASC's GAZE_COORDS)
    notes: dict[str, str] = field(default_factory=dict)  # decisions to report: trial rule, eye, durations ...
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # e.g. an ASC's trials and saccades

    def stimulus(self, name: str, condition: str) -> Stimulus:
        return self.stimuli[(name, condition)]


def real_condition(conditions) -> str | None:
    """The unedited condition: the one named original/real/genuine/pristine, if any."""
    for name in conditions:
        if str(name).lower() in REAL_NAMES:
            return name
    return None


def _rows(index: pd.Index, limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


def _where(table: pd.DataFrame, row, source: str) -> dict:
    """A table's row by its number; any other source's fixation by its trial and place in it."""
    if source == "table":
        return {"row": row}
    r = table.loc[row]
    return {"item": f"{r['subject']} / {r['stimulus']} / {r['condition']}, fixation {int(r['order']) + 1}"}


def validate(table: pd.DataFrame, stimuli: dict[tuple[str, str], Stimulus], out_of_bounds: str,
             problems: list[dict], source: str = "table") -> pd.DataFrame:
    """Check a raw fixation table; keep what is valid, record every problem with its rows.

    Raises ValueError only when nothing valid is left, naming what went wrong.
    """
    missing = [c for c in ("x", "y") if c not in table.columns]
    if missing:
        raise InputError(f"the fixation table has no {' or '.join(missing)} column; columns found: "
                         f"{', '.join(map(str, table.columns))}")
    out = table.copy()
    for name, default in (("subject", "s1"), ("stimulus", "stimulus"), ("condition", "original")):
        out[name] = out[name].astype(str) if name in out.columns else default
    for name in ("x", "y", "duration"):
        if name in out.columns:
            out[name] = pd.to_numeric(out[name], errors="coerce")
    if "duration" not in out.columns:
        out["duration"] = np.nan
    if "order" not in out.columns:
        out["order"] = out.groupby(["subject", "stimulus", "condition"], sort=False).cumcount()
    for name, default in (("trial", None), ("eye", ""), ("onset", np.nan), ("offset", np.nan), ("source", source)):
        if name not in out.columns:
            out[name] = out["stimulus"] if name == "trial" else default
    out["trial"] = out["trial"].astype(str)
    for name in ("x", "y", "duration", "onset", "offset"):
        out[name] = pd.to_numeric(out[name], errors="coerce")
        infinite = out.index[np.isinf(out[name].to_numpy(float))]
        if len(infinite):
            raise InputError(f"{name} is {out.loc[infinite[0], name]}: not a "
                             f"{'duration' if name == 'duration' else 'position' if name in 'xy' else 'time'}",
                             column=name, **_where(out, infinite[0], source))

    bad = out.index[out["x"].isna() | out["y"].isna()]
    if len(bad):
        problems.append({"problem": "missing or non-numeric x/y (row dropped)", "where": f"rows {_rows(bad)}",
                         "count": len(bad)})
        out = out.drop(bad)
    negative = out.index[out["duration"] < 0]
    if len(negative):
        problems.append({"problem": "negative duration (set to unknown)", "where": f"rows {_rows(negative)}",
                         "count": len(negative)})
        out.loc[negative, "duration"] = np.nan

    unknown = sorted({key for key in zip(out["stimulus"], out["condition"]) if key not in stimuli})
    if unknown:
        names = ", ".join(f"{s}/{c}" for s, c in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        rows = out.index[[key in set(unknown) for key in zip(out["stimulus"], out["condition"])]]
        problems.append({"problem": "fixations on a stimulus with no image or size (row dropped)",
                         "where": f"{names}; rows {_rows(rows)}", "count": len(rows)})
        out = out.drop(rows)

    width = np.array([stimuli[k].width for k in zip(out["stimulus"], out["condition"])], dtype=float)
    height = np.array([stimuli[k].height for k in zip(out["stimulus"], out["condition"])], dtype=float)
    side = np.maximum(width, height)
    far = (out["x"].abs() > FAR * side) | (out["y"].abs() > FAR * side)
    if far.any():
        row = out.index[far.to_numpy()][0]
        column = "x" if abs(out.loc[row, "x"]) > FAR * side[far.to_numpy()][0] else "y"
        raise InputError(f"{column} is {out.loc[row, column]:g}: more than {FAR} times the stimulus' size away, "
                         "not a gaze position", column=column, **_where(out, row, source))
    outside = (out["x"] < 0) | (out["y"] < 0) | (out["x"] >= width) | (out["y"] >= height)
    if outside.any():
        rows = out.index[outside.to_numpy()]
        action = {"keep": "kept for the dispersion measures, not drawn", "drop": "row dropped",
                  "clip": "moved to the border"}[out_of_bounds]
        problems.append({"problem": f"fixation outside the image ({action})", "where": f"rows {_rows(rows)}",
                         "count": len(rows)})
        if out_of_bounds == "drop":
            out = out[~outside.to_numpy()]
        elif out_of_bounds == "clip":
            out = out.assign(x=np.clip(out["x"], 0, width - 1), y=np.clip(out["y"], 0, height - 1))
    if out.empty:
        why = "; ".join(f"{p['problem']}: {p['where']}" for p in problems if "(info" not in p["problem"]) \
            or "the file holds no fixations"
        raise InputError(f"no valid fixations left to analyse ({why})")
    out = out.sort_values(["stimulus", "condition", "subject", "order"], kind="stable").reset_index(drop=True)
    out["order"] = out.groupby(["subject", "stimulus", "condition"], sort=False).cumcount()
    return out[list(COLUMNS) + list(EXTRA)]
