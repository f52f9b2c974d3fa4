"""A user's own model for the loss-landscape analysis: teacher-student regression with a mean-squared loss.

Used by the tests and by the README's example (`--set custom_model=byo_example:teacher_student`).
"""

import torch
from torch import nn


def teacher_student(seed: int = 0):
    data = torch.Generator().manual_seed(1234)  # the data are the same for every seed
    teacher = torch.randn(8, 1, generator=data)
    x = torch.randn(400, 8, generator=data)
    y = x @ teacher + 0.1 * torch.randn(400, 1, generator=data)
    torch.manual_seed(seed)  # the student's initialisation follows the seed
    student = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    return student, (x[:300], y[:300]), (x[300:], y[300:]), nn.functional.mse_loss


def not_a_factory(seed: int = 0):
    return "a string"


def with_layer_norm(seed: int = 0):
    """A model weight matching cannot permute (LayerNorm): the analysis reports the naive barrier only."""
    student, train, test, loss = teacher_student(seed)
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 1)), train, test, loss


# The instance a factory handed out, per seed: a researcher's own model object, so tests can check that
# labscope gives it back as it came (weights, running statistics, train/eval modes).
MODELS: dict[tuple[str, int], nn.Module] = {}


def _digits(n_train: int = 400, n_test: int = 200):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data[: n_train + n_test], dtype=torch.float32) / 16
    y = torch.tensor(digits.target[: n_train + n_test])
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def cnn_with_batchnorm(seed: int = 0):
    """A small CNN with batch norm and dropout on 8x8 digits, as a researcher might write it."""
    if ("cnn", seed) not in MODELS:
        torch.manual_seed(seed)
        MODELS["cnn", seed] = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Dropout(0.3), nn.Flatten(), nn.Linear(6 * 64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(32, 10))
    train, test = _digits()
    return MODELS["cnn", seed], train, test, None


class RowReader(nn.Module):
    """An LSTM reading a digit's 8 rows as a sequence; the last hidden state classifies it."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 12, batch_first=True)
        self.head = nn.Linear(12, 10)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(len(x), 8, 8))
        return self.head(out[:, -1])


def lstm(seed: int = 0):
    if ("lstm", seed) not in MODELS:
        torch.manual_seed(seed)
        MODELS["lstm", seed] = RowReader()
    train, test = _digits(300, 150)
    return MODELS["lstm", seed], train, test, None
