"""Datasets for the loss-landscape analysis: built-in ones and a user's CSV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from analyses.core.errors import InputError

MAX_CSV_ROWS = 200_000


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
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        std[std == 0] = 1.0
        x = (x - mean) / std
    outputs = y.shape[1] if y.dtype.kind == "f" else int(y.max()) + 1
    return Split(torch.from_numpy(x[train]), torch.from_numpy(y[train]), torch.from_numpy(x[test]),
                 torch.from_numpy(y[test]), outputs, shape)
