"""Datasets for the loss-landscape analysis: built-in ones and a user's CSV."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from analyses.core.errors import InputError

MAX_CSV_ROWS = 200_000
MIN_CSV_ROWS = 20
MAX_CSV_COLUMNS = 10_000
MAX_CSV_BYTES = 1_000_000_000
MAX_HEADER_CHARS = 1_000_000
MAX_CLASSES = 1_000  # the output layer has one unit per class
MAX_ABS_FEATURE = 1e30  # larger values overflow float32 once squared for standardising


class DataError(InputError):
    """The input data cannot be used; the message says what is wrong and where."""


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int  # number of outputs: classes, or target dimensions for regression
    image_shape: tuple[int, int] | None  # (height, width) when the features are an image


def _digits() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float32), digits.target.astype(np.int64), (8, 8)


def _moons(seed: int) -> tuple[np.ndarray, np.ndarray, None]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1500, noise=0.2, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), None


def _teacher(seed: int, n: int = 1000, dim: int = 16, hidden: int = 8) -> tuple[np.ndarray, np.ndarray, None]:
    """Teacher-student regression: targets from a fixed random two-layer tanh network plus noise."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(dim, hidden)) / np.sqrt(dim), rng.normal(size=(hidden, 1)) / np.sqrt(hidden)
    x = rng.normal(size=(n, dim))
    y = np.tanh(x @ w1) @ w2 + 0.05 * rng.normal(size=(n, 1))
    return x.astype(np.float32), y.astype(np.float32), None


def _modular(p: int = 23) -> tuple[np.ndarray, np.ndarray, None]:
    """Modular addition (a + b) mod p for all p^2 pairs, inputs one-hot(a) and one-hot(b) side by side."""
    a, b = np.divmod(np.arange(p * p), p)
    x = np.zeros((p * p, 2 * p), dtype=np.float32)
    x[np.arange(p * p), a] = 1.0
    x[np.arange(p * p), p + b] = 1.0
    return x, ((a + b) % p).astype(np.int64), None


def _fail(path: str, problem: str, row: int | None = None, column: str | None = None) -> DataError:
    return DataError(problem, file=path, row=row, column=column)


def _header(path: str) -> list[str]:
    """The header's column names as written (pandas would rename a duplicate 'a' to 'a.1' silently)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            first = handle.readline(MAX_HEADER_CHARS + 1)
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text; save the table as a UTF-8 CSV") from None
    except OSError:
        raise _fail(path, "cannot be opened") from None
    if len(first) > MAX_HEADER_CHARS:
        raise _fail(path, f"the header line is longer than {MAX_HEADER_CHARS:,} characters", row=1)
    if "\x00" in first:
        raise _fail(path, "the header contains NUL characters (a binary file?)", row=1)
    try:
        names = next(csv.reader([first]), [])
    except csv.Error:
        raise _fail(path, "the header line is not valid CSV", row=1) from None
    if not names or all(not n.strip() for n in names):
        raise _fail(path, "empty: no header line with column names", row=1)
    return names


def _check_header(path: str, names: list[str]) -> None:
    if len(names) > MAX_CSV_COLUMNS:
        raise _fail(path, f"{len(names):,} columns; at most {MAX_CSV_COLUMNS:,} are supported", row=1)
    for i, name in enumerate(names, start=1):
        if not name.strip() or not name.isprintable():
            raise _fail(path, f"column {i} has no usable name ({name!r}); an index column written by "
                              "pandas' to_csv? Remove it or give it a name", row=1)
    seen: set[str] = set()
    for name in names:
        if name.strip() in seen:
            raise _fail(path, "this column name appears twice; rename one of them", row=1, column=name.strip())
        seen.add(name.strip())
    if "label" not in seen:
        raise _fail(path, f"no 'label' column; found columns {names[:12]}", row=1)
    if len(names) < 2:
        raise _fail(path, "no feature columns besides 'label'", row=1)


def _read_frame(path: str) -> pd.DataFrame:
    """The table as pandas reads it, with pandas' own complaints turned into a row and a problem."""
    try:
        return pd.read_csv(path, nrows=MAX_CSV_ROWS + 1, encoding="utf-8-sig", skipinitialspace=True,
                           on_bad_lines="error", low_memory=False)
    except pd.errors.EmptyDataError:
        raise _fail(path, "empty: no header line with column names") from None
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        fields = re.search(r"Expected (\d+) fields .* saw (\d+)", str(exc))
        problem = (f"{fields.group(2)} fields where the header has {fields.group(1)}" if fields
                   else "not a well-formed CSV table (an unclosed quote?)")
        raise _fail(path, problem, row=int(line.group(1)) if line else None) from None
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text; save the table as a UTF-8 CSV") from None
    except (ValueError, OverflowError, MemoryError, OSError) as exc:
        raise _fail(path, f"cannot be read as a CSV table ({type(exc).__name__})") from None


def _show(value) -> str:
    """A cell as the user wrote it, not as numpy spells it."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return repr(str(value))


def _features(path: str, frame: pd.DataFrame) -> np.ndarray:
    features = frame.drop(columns=["label"])
    for column in features.columns:
        values = features[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_complex_dtype(values):
            bad = int(np.flatnonzero(pd.to_numeric(values, errors="coerce").isna() & values.notna())[:1].sum())
            raise _fail(path, f"feature columns must be numeric; found {_show(values.iloc[bad])}", row=bad + 2,
                        column=column)
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing):
            raise _fail(path, "missing value (NaN or empty)", row=int(missing[0]) + 2, column=column)
    values = features.to_numpy(dtype=np.float64)
    huge = np.argwhere(~(np.abs(values) <= MAX_ABS_FEATURE))
    if len(huge):
        row, col = huge[0]
        raise _fail(path, f"value {_show(values[row, col])} is infinite or beyond ±{MAX_ABS_FEATURE:g}",
                    row=int(row) + 2, column=str(features.columns[col]))
    return values


def _labels(path: str, column: pd.Series) -> np.ndarray:
    """Class ids 0..k-1 from class names or integer ids; a float with a fraction is refused, not binned."""
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise _fail(path, "missing label (NaN or empty)", row=int(missing[0]) + 2, column="label")
    if pd.api.types.is_float_dtype(column) or pd.api.types.is_complex_dtype(column):
        numbers = column.to_numpy()
        fractional = np.flatnonzero((numbers != np.round(numbers.real)) | ~np.isfinite(numbers))
        if len(fractional) or pd.api.types.is_complex_dtype(column):
            at = int(fractional[0]) if len(fractional) else 0
            raise _fail(path, f"the label {_show(numbers[at])} is not a class: labels must be class names or whole "
                              "numbers (this analysis classifies; it does not regress on a continuous target)",
                        row=at + 2, column="label")
    elif not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        text = column.astype(str).str.strip()
        blank = np.flatnonzero(~text.map(lambda t: bool(t) and t.isprintable()).to_numpy())
        if len(blank):
            raise _fail(path, f"the label {_show(column.iloc[blank[0]])} is blank or unprintable",
                        row=int(blank[0]) + 2, column="label")
        column = text
    n_classes = int(column.nunique())
    if n_classes > MAX_CLASSES:
        raise _fail(path, f"{n_classes:,} distinct labels; at most {MAX_CLASSES:,} classes are supported "
                          "(is 'label' an id or a continuous value?)", column="label")
    if n_classes < 2:
        raise _fail(path, "fewer than 2 classes in the 'label' column", column="label")
    if n_classes > len(column) / 2:
        raise _fail(path, f"{n_classes:,} classes in {len(column):,} rows: fewer than two rows per class on "
                          "average (is 'label' an id or a continuous value?)", column="label")
    labels, _ = pd.factorize(column, sort=True)
    return labels.astype(np.int64)


def read_csv_dataset(path: str) -> tuple[np.ndarray, np.ndarray, None]:
    """Numeric feature columns plus a 'label' column (class names or whole numbers).

    Every problem raises DataError naming the file, the row as a spreadsheet shows it (the header is
    row 1) and the column. Caps keep a wrong file from exploding: rows, columns, classes, bytes.
    """
    try:
        size = os.path.getsize(path)
    except (OSError, TypeError, ValueError):
        raise _fail(str(path), "cannot be opened") from None
    if size > MAX_CSV_BYTES:
        raise _fail(path, f"{size / 1e6:,.0f} MB; at most {MAX_CSV_BYTES / 1e6:,.0f} MB are supported")
    _check_header(path, _header(path))
    frame = _read_frame(path)
    frame.columns = [str(name).strip() for name in frame.columns]  # ' label ' is the label column
    if len(frame) > MAX_CSV_ROWS:
        raise _fail(path, f"more than {MAX_CSV_ROWS:,} rows; subsample it first")
    if len(frame) < MIN_CSV_ROWS:
        raise _fail(path, f"only {len(frame)} rows; need at least {MIN_CSV_ROWS}")
    values = _features(path, frame)
    labels = _labels(path, frame["label"])
    return values.astype(np.float32), labels, None


def load_split(dataset: str, data_file: str | None, test_fraction: float, seed: int,
               train_samples: int = 0) -> Split:
    """Shuffle, split and standardise with training statistics only (no test leakage).

    `train_samples` > 0 keeps only that many training samples (a random subset; the test set is unchanged),
    the load axis of a phase diagram over data-set size.
    """
    if dataset == "digits":
        x, y, shape = _digits()
    elif dataset == "moons":
        x, y, shape = _moons(seed)
    elif dataset == "teacher":
        x, y, shape = _teacher(seed)
    elif dataset == "modular":
        x, y, shape = _modular()
    elif dataset == "csv":
        x, y, shape = read_csv_dataset(data_file)
    else:
        raise DataError(f"unknown dataset {dataset!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    if train_samples:
        if train_samples > len(train):
            raise DataError(f"train_samples: {train_samples} asked for, but the {dataset} training split has only "
                            f"{len(train)} samples")
        train = train[:train_samples]
    if dataset != "modular":  # one-hot codes stay as they are
        wide = x.astype(np.float64)  # float32 squares of large features would overflow
        mean, std = wide[train].mean(axis=0), wide[train].std(axis=0)
        std[std == 0] = 1.0
        x = ((wide - mean) / std).astype(np.float32)
    outputs = y.shape[1] if y.dtype.kind == "f" else int(y.max()) + 1
    return Split(torch.from_numpy(x[train]), torch.from_numpy(y[train]), torch.from_numpy(x[test]),
                 torch.from_numpy(y[test]), outputs, shape)
