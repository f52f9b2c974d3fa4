"""Tables between stages as arrays, so a stage read back from the cache gives exactly what it computed.

The cache keeps tables as CSV, whose floats need not read back to the same bits; arrays do. A table is
one array per column (numbers as they are, anything else as text) plus the list of its columns.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd


def frame_to_arrays(name: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    arrays = {f"{name}/columns": np.array([str(c) for c in frame.columns], dtype=str)}
    for i, column in enumerate(frame.columns):
        values = frame[column].to_numpy()
        arrays[f"{name}/{i}"] = values if values.dtype.kind in "biuf" else values.astype(str)
    return arrays


def frame_from_arrays(name: str, arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    columns = [str(c) for c in arrays[f"{name}/columns"]]
    return pd.DataFrame({c: arrays[f"{name}/{i}"] for i, c in enumerate(columns)}, columns=columns)


def frames_to_arrays(frames: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    return {key: value for name, frame in frames.items() for key, value in frame_to_arrays(name, frame).items()}
