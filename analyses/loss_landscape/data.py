"""Datasets for the loss-landscape analysis: built-in ones and a user's CSV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

MAX_CSV_ROWS = 200_000


class DataError(ValueError):
    """The input data cannot be used; the message says what is wrong and where."""


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    image_shape: tuple[int, int] | None  # (height, width) when the features are an image


def _digits() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float32), digits.target.astype(np.int64), (8, 8)


def _moons(seed: int) -> tuple[np.ndarray, np.ndarray, None]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1500, noise=0.2, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), None


def read_csv_dataset(path: str) -> tuple[np.ndarray, np.ndarray, None]:
    """Numeric feature columns plus a 'label' column; every problem is named."""
    try:
        frame = pd.read_csv(path, nrows=MAX_CSV_ROWS + 1)
    except Exception as exc:
        raise DataError(f"data_file: cannot read {path!r} as CSV ({type(exc).__name__}: {exc})") from exc
    if len(frame) > MAX_CSV_ROWS:
        raise DataError(f"data_file: more than {MAX_CSV_ROWS:,} rows; subsample it first")
    if "label" not in frame.columns:
        raise DataError(f"data_file: no 'label' column; found columns {list(frame.columns)[:12]}")
    features = frame.drop(columns=["label"])
    if features.shape[1] == 0:
        raise DataError("data_file: no feature columns besides 'label'")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DataError(f"data_file: feature columns must be numeric; not numeric: {non_numeric[:8]}")
    missing = features.columns[features.isna().any()].tolist() + (["label"] if frame["label"].isna().any() else [])
    if missing:
        raise DataError(f"data_file: missing values (NaN or empty) in columns {missing[:8]}")
    values = features.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError("data_file: infinite values in the feature columns")
    labels, classes = pd.factorize(frame["label"], sort=True)
    if len(classes) < 2:
        raise DataError("data_file: the 'label' column has fewer than 2 classes")
    if len(frame) < 20:
        raise DataError(f"data_file: only {len(frame)} rows; need at least 20")
    return values.astype(np.float32), labels.astype(np.int64), None


def load_split(dataset: str, data_file: str | None, test_fraction: float, seed: int) -> Split:
    """Shuffle, split and standardise with training statistics only (no test leakage)."""
    if dataset == "digits":
        x, y, shape = _digits()
    elif dataset == "moons":
        x, y, shape = _moons(seed)
    elif dataset == "csv":
        x, y, shape = read_csv_dataset(data_file)
    else:
        raise DataError(f"unknown dataset {dataset!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    return Split(torch.from_numpy(x[train]), torch.from_numpy(y[train]), torch.from_numpy(x[test]),
                 torch.from_numpy(y[test]), int(y.max()) + 1, shape)
