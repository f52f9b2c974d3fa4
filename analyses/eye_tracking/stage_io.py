"""Tables between stages as arrays, so a stage read back from the cache gives exactly what it computed.

The cache stores tables as CSV, which turns a stimulus named "01" into the number 1 and loses column
types; arrays keep them. A table becomes one array per column (text as fixed-width unicode with a
mask of its missing values) plus the list of its columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame_to_arrays(name: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    arrays = {f"{name}/columns": np.array([str(c) for c in frame.columns], dtype=str)}
    for i, column in enumerate(frame.columns):
        values = frame[column]
        if values.dtype.kind in "biuf":
            arrays[f"{name}/{i}"] = values.to_numpy()
        elif values.dtype.kind == "M":
            arrays[f"{name}/{i}"] = values.to_numpy()
        else:  # text (or anything else, as its text)
            missing = values.isna().to_numpy()
            arrays[f"{name}/{i}"] = np.array(["" if m else str(v) for v, m in zip(values, missing)], dtype=str)
            arrays[f"{name}/{i}/missing"] = missing
    return arrays


def frame_from_arrays(name: str, arrays) -> pd.DataFrame:
    columns = [str(c) for c in arrays[f"{name}/columns"]]
    data = {}
    for i, column in enumerate(columns):
        values = arrays[f"{name}/{i}"]
        if f"{name}/{i}/missing" in arrays:
            text = pd.Series(values.tolist(), dtype=object)
            text[arrays[f"{name}/{i}/missing"]] = np.nan
            data[column] = text
        else:
            data[column] = values
    return pd.DataFrame(data, columns=columns) if columns else pd.DataFrame()


def frames_to_arrays(frames: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    arrays = {"frames": np.array(list(frames), dtype=str)}
    for name, frame in frames.items():
        arrays.update(frame_to_arrays(name, frame.reset_index(drop=True)))
    return arrays


def frames_from_arrays(arrays) -> dict[str, pd.DataFrame]:
    return {str(name): frame_from_arrays(str(name), arrays) for name in arrays["frames"]}
