"""Fixation and sample tables from CSV/TSV/Parquet, with the columns found by their usual names.

EyeLink Data Viewer fixation reports (RECORDING_SESSION_LABEL, CURRENT_FIX_X, ...), Tobii-style
exports and hand-made tables differ only in their column names, so one alias list per role maps them.
The page's column-mapping step writes a table with the canonical names; the CLI relies on the aliases.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.core.errors import InputError

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


MAX_ROWS = 5_000_000
MAX_COLUMNS = 2_000
NUMERIC = ("x", "y", "duration", "start", "end", "time")  # roles whose column must be numbers
UNITS_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001}
_DUPLICATE = re.compile(r"(.+)\.(\d+)")


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV, TSV (.tsv/.txt: Data Viewer reports are tab-separated) or Parquet; '.' marks a missing value.

    Refuses, by name, what would be read as something else: NUL bytes, byte-order marks inside the text,
    a column name given twice, more than MAX_ROWS rows or MAX_COLUMNS columns.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".parquet":
        raw = path.read_bytes()
        if b"\x00" in raw:
            line = raw[:raw.index(b"\x00")].count(b"\n") + 1
            raise InputError(f"a NUL byte on line {line}: not a text table", file=path.name)
        if "\ufeff".encode() in raw[3:]:
            line = raw[:raw.index("\ufeff".encode(), 3)].count(b"\n") + 1
            raise InputError(f"a byte-order mark (U+FEFF) inside the text on line {line}", file=path.name)
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            sep = "," if suffix == ".csv" else "\t"
            with warnings.catch_warnings():  # a row longer than the header would shift into an index silently
                warnings.simplefilter("error", pd.errors.ParserWarning)
                table = pd.read_csv(path, sep=sep, na_values=[".", ""], low_memory=False, encoding="utf-8-sig",
                                    nrows=MAX_ROWS + 1, encoding_errors="strict", index_col=False)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty (no header, no rows)", file=path.name) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path.name) from None
    except pd.errors.ParserWarning:
        raise InputError("a row has more fields than the header has names", file=path.name) from None
    except Exception as exc:  # noqa: BLE001 - a parser's message in the user's words, never its path
        raise InputError(_parser_problem(exc, suffix), file=path.name) from None
    if len(table) > MAX_ROWS:
        raise InputError(f"more than {MAX_ROWS:,} rows", file=path.name)
    if table.shape[1] > MAX_COLUMNS:
        raise InputError(f"{table.shape[1]:,} columns: more than {MAX_COLUMNS:,}", file=path.name)
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError("the column name appears twice", file=path.name, column=dup)
    for name in names:
        match = _DUPLICATE.fullmatch(name)
        if match and match.group(1) in names and suffix != ".parquet":
            raise InputError(f"the column name appears twice (the second read as {name!r})", file=path.name,
                             column=match.group(1))
        if not name.isprintable() or "\ufeff" in name:
            raise InputError("a column name with control characters", file=path.name, column=name)
    return table


def _parser_problem(exc: Exception, suffix: str) -> str:
    text = str(exc)
    if suffix == ".parquet":
        return "not a readable Parquet file"
    if "EOF inside string" in text:
        return "a quote (\") opens a field that never closes"
    if "Expected" in text and "fields" in text:
        return "a row has more fields than the header has names"
    return f"could not be read as a {'CSV' if suffix == '.csv' else 'tab-separated'} table"


def _norm(name) -> str:
    return str(name).strip().lower().replace(" ", "_")


def guess_mapping(columns) -> dict[str, str]:
    """role -> column, for every role whose usual name appears (case and spaces ignored)."""
    norm = {_norm(c): c for c in columns}
    found: dict[str, str] = {}
    for role, names in ALIASES.items():
        for name in names:
            if name in norm and norm[name] not in found.values():
                found[role] = norm[name]
                break
    return found


def check_mapping(columns, mapping: dict[str, str], file: str) -> None:
    """Two columns that would both give one field are refused, so no value is silently dropped.

    Names equal but for case or spaces always clash; among the usual names, a second one for a number
    (x, y, duration, start, end, time) clashes too. Labels may have several (Data Viewer reports carry
    both TRIAL_INDEX and TRIAL_LABEL): the first usual name is used.
    """
    seen: dict[str, str] = {}
    for col in columns:
        key = _norm(col)
        if key in seen:
            raise InputError(f"columns {seen[key]!r} and {col!r} differ only in case or spaces", file=file,
                             column=str(col))
        seen[key] = str(col)
    used = set(mapping.values())
    for role in NUMERIC:
        if role not in mapping:
            continue
        for col in columns:
            if col not in used and _norm(col) in ALIASES[role] and col != mapping[role]:
                raise InputError(f"columns {mapping[role]!r} and {col!r} both give {role}; keep one (or map the "
                                 "columns on the page)", file=file, column=str(col))


def canonical(table: pd.DataFrame, mapping: dict[str, str] | None = None, file: str = "",
              time_unit: str = "ms") -> pd.DataFrame:
    """The table with canonical column names, times in ms; duration from end − start where only those are
    given (the convention of tables and eyekit; EyeLink's own duration column adds 1 sample)."""
    if mapping is None:
        mapping = guess_mapping(table.columns)
        check_mapping(list(table.columns), mapping, file)
    absent = [f"{role}={col!r}" for role, col in mapping.items() if col not in table.columns]
    if absent:
        raise InputError(f"the column mapping names columns the table lacks: {', '.join(absent)}", file=file)
    out = pd.DataFrame({role: table[col] for role, col in mapping.items()}, index=table.index)
    for role in NUMERIC:
        if role not in out.columns:
            continue
        column = out[role]
        if pd.api.types.is_bool_dtype(column) or column.map(lambda v: isinstance(v, (bool, np.bool_))).any():
            raise InputError(f"true/false values are not {'coordinates' if role in 'xy' else 'times'}", file=file,
                             column=str(mapping[role]))
        numbers = pd.to_numeric(column, errors="coerce")
        if pd.api.types.is_complex_dtype(numbers):
            raise InputError("complex numbers", file=file, column=str(mapping[role]))
        infinite = np.flatnonzero(np.isinf(numbers.to_numpy(float)))
        if len(infinite):
            raise InputError(f"{role} is {numbers.iloc[infinite[0]]}: not a number a recording gives", file=file,
                             row=table.index[infinite[0]], column=str(mapping[role]))
        out[role] = numbers if role in ("x", "y") else numbers * UNITS_MS[time_unit]  # text: missing
    if "duration" not in out.columns and {"start", "end"} <= set(out.columns):
        out["duration"] = out["end"] - out["start"]
    if "order" not in out.columns and "start" in out.columns:
        keys = [c for c in ("subject", "stimulus", "condition") if c in out.columns]
        start = out["start"]
        out["order"] = (start.groupby([out[k] for k in keys]).rank(method="first") - 1) if keys else start.rank() - 1
    if "order" in out.columns:
        out["order"] = pd.to_numeric(out["order"], errors="coerce")
        if out["order"].isna().any() or np.isinf(out["order"]).any():
            out = out.drop(columns="order")
    for role in ("subject", "stimulus", "condition"):
        if role in out.columns:
            text = out[role].astype(str)
            bad = text.str.contains("[\x00-\x08\x0b-\x1f\ufeff]", regex=True)
            if bad.any():
                raise InputError(f"a {role} label with control characters", file=file, row=table.index[bad.to_numpy()][0],
                                 column=str(mapping[role]))
            blank = out[role].notna() & (text.str.strip() == "")
            if blank.any():
                raise InputError(f"a blank {role} label", file=file, row=table.index[blank.to_numpy()][0],
                                 column=str(mapping[role]))
    return out.rename(columns={"start": "onset", "end": "offset"})


def fixation_table(path: str | Path, time_unit: str = "ms") -> pd.DataFrame:
    path = Path(path)
    raw = read_table(path)
    table = canonical(raw, file=path.name, time_unit=time_unit)
    missing = [r for r in ("x", "y") if r not in table.columns]
    if missing:
        raise InputError(f"no column for {' and '.join(missing)} (looked for {', '.join(ALIASES[missing[0]][:6])}, "
                         f"...); columns found: {', '.join(map(str, raw.columns))[:300]}", file=path.name)
    if table.empty:
        raise InputError("no rows", file=path.name)
    return table.drop(columns=[c for c in ("time",) if c in table.columns])


def sample_table(path: str | Path, time_unit: str = "ms") -> pd.DataFrame:
    path = Path(path)
    table = canonical(read_table(path), file=path.name, time_unit=time_unit)
    missing = [r for r in ("time", "x", "y") if r not in table.columns]
    if missing:
        raise InputError(f"a sample table needs time, x and y columns; none found for {', '.join(missing)}",
                         file=path.name)
    for col in ("time", "x", "y"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    if table["time"].isna().any():
        rows = table.index[table["time"].isna()][:8]
        raise InputError(f"missing or non-numeric time in rows {', '.join(map(str, rows))}", file=path.name,
                         column="time")
    return table.assign(time=table["time"].astype(np.float64))
