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
