"""Fixation and sample tables from CSV/TSV/Parquet, with the columns found by their usual names.

EyeLink Data Viewer fixation reports (RECORDING_SESSION_LABEL, CURRENT_FIX_X, ...), Tobii-style
exports and hand-made tables differ only in their column names, so one alias list per role maps them.
The page's column-mapping step writes a table with the canonical names; the CLI relies on the aliases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ALIASES = {
    "subject": ("subject", "participant", "observer", "user", "subject_id", "participant_id", "recording_session_label",
                "session"),
    "stimulus": ("stimulus", "image", "img_id", "image_id", "stimulus_id", "stimulus_name", "trial_label", "trial",
                 "trialid", "trial_index", "trial_id"),
    "condition": ("condition", "edit_type", "cond", "manipulation", "image_type"),
    "x": ("x", "fix_x", "x_fix", "current_fix_x", "fixation_x", "x_px", "gaze_x", "fixationpointx", "gaze_point_x",
          "pixel_x"),
    "y": ("y", "fix_y", "y_fix", "current_fix_y", "fixation_y", "y_px", "gaze_y", "fixationpointy", "gaze_point_y",
          "pixel_y"),
    "duration": ("duration", "fix_duration", "current_fix_duration", "duration_ms", "dur", "gaze_event_duration",
                 "fixation_duration"),
    "start": ("start", "start_time", "current_fix_start", "onset", "start_ms", "tstart"),
    "end": ("end", "end_time", "current_fix_end", "offset", "end_ms", "tend"),
    "order": ("order", "fixation_index", "current_fix_index", "fix_index", "fixation_order"),
    "time": ("time", "timestamp", "time_ms", "t", "recording_timestamp"),
}
ROLES = tuple(ALIASES)


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV, TSV (.tsv/.txt: Data Viewer reports are tab-separated) or Parquet; '.' marks a missing value."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        sep = "," if suffix == ".csv" else "\t"
        return pd.read_csv(path, sep=sep, na_values=[".", ""], low_memory=False)
    except Exception as exc:
        raise ValueError(f"could not read {path.name} as a table: {type(exc).__name__}: {exc}") from None


def guess_mapping(columns) -> dict[str, str]:
    """role -> column, for every role whose usual name appears (case and spaces ignored)."""
    norm = {str(c).strip().lower().replace(" ", "_"): c for c in columns}
    found: dict[str, str] = {}
    for role, names in ALIASES.items():
        for name in names:
            if name in norm and norm[name] not in found.values():
                found[role] = norm[name]
                break
    return found


def canonical(table: pd.DataFrame, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """The table with canonical column names; duration from start/end where only those are given."""
    mapping = mapping or guess_mapping(table.columns)
    absent = [f"{role}={col!r}" for role, col in mapping.items() if col not in table.columns]
    if absent:
        raise ValueError(f"the column mapping names columns the table lacks: {', '.join(absent)}")
    out = pd.DataFrame({role: table[col] for role, col in mapping.items()}, index=table.index)
    if "duration" not in out.columns and {"start", "end"} <= set(out.columns):
        out["duration"] = pd.to_numeric(out["end"], errors="coerce") - pd.to_numeric(out["start"], errors="coerce")
    if "order" not in out.columns and "start" in out.columns:
        keys = [c for c in ("subject", "stimulus", "condition") if c in out.columns]
        start = pd.to_numeric(out["start"], errors="coerce")
        out["order"] = (start.groupby([out[k] for k in keys]).rank(method="first") - 1) if keys else start.rank() - 1
    if "order" in out.columns:
        out["order"] = pd.to_numeric(out["order"], errors="coerce")
        if out["order"].isna().any():
            out = out.drop(columns="order")
    return out


def fixation_table(path: str | Path) -> pd.DataFrame:
    table = canonical(read_table(path))
    missing = [r for r in ("x", "y") if r not in table.columns]
    if missing:
        raw = read_table(path)
        raise ValueError(f"{Path(path).name}: no column for {' and '.join(missing)} (looked for "
                         f"{', '.join(ALIASES[missing[0]][:6])}, ...); columns found: {', '.join(map(str, raw.columns))}")
    if table.empty:
        raise ValueError(f"{Path(path).name} has no rows")
    return table.drop(columns=[c for c in ("start", "end", "time") if c in table.columns])


def sample_table(path: str | Path) -> pd.DataFrame:
    table = canonical(read_table(path))
    missing = [r for r in ("time", "x", "y") if r not in table.columns]
    if missing:
        raise ValueError(f"{Path(path).name}: a sample table needs time, x and y columns; none found for "
                         f"{', '.join(missing)}")
    for col in ("time", "x", "y"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    if table["time"].isna().any():
        rows = table.index[table["time"].isna()][:8]
        raise ValueError(f"{Path(path).name}: missing or non-numeric time in rows {', '.join(map(str, rows))}")
    return table.assign(time=table["time"].astype(np.int64))
