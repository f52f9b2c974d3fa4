"""A table inside a stage result, kept exactly.

The cache stores tables as CSV, which reads an empty string back as missing and an item id such as
"007" as the number 7: the metrics stage would then see other values after a rerun than after a fresh
run. A stage result therefore carries the scores table as Parquet bytes in an array, which keeps every
value, dtype and the index.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def pack(table: pd.DataFrame) -> np.ndarray:
    buffer = io.BytesIO()
    table.to_parquet(buffer, engine="pyarrow")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def unpack(array: np.ndarray) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(np.asarray(array, dtype=np.uint8).tobytes()), engine="pyarrow")
