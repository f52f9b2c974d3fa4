"""The loaders the fuzz corpus is fed to: name -> function(path) that loads the file the way the analysis does.

The name is the folder under `corpus/` holding that loader's crafted bad files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def loss_landscape_csv(path: Path) -> Any:
    from analyses.loss_landscape.data import read_csv_dataset

    return read_csv_dataset(str(path))


def loss_landscape_checkpoint(path: Path) -> Any:
    import torch

    from analyses.loss_landscape.custom import load_checkpoints

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    return load_checkpoints(str(path), model)


def _eye_tracking(path: Path) -> Any:
    """The analysis' own loading step (format by suffix, then the shared checks), as a run would do it."""
    from analyses import eye_tracking
    from analyses.eye_tracking import loaders
    from analyses.eye_tracking.geometry import Screen

    params = eye_tracking.ANALYSIS.params("smoke", {"data_path": str(path)})
    return loaders.load(params, Screen.from_params(params))


def eye_tracking_table(path: Path) -> Any:
    return _eye_tracking(path)


def eye_tracking_asc(path: Path) -> Any:
    return _eye_tracking(path)


def eye_tracking_paper(path: Path) -> Any:
    return _eye_tracking(path)


def prompt_steering_questionnaire(path: Path) -> Any:
    from analyses.prompt_steering import questionnaire

    return questionnaire.load(path)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "loss_landscape_csv": loss_landscape_csv,
    "loss_landscape_checkpoint": loss_landscape_checkpoint,
    "eye_tracking_table": eye_tracking_table,
    "eye_tracking_asc": eye_tracking_asc,
    "eye_tracking_paper": eye_tracking_paper,
    "prompt_steering_questionnaire": prompt_steering_questionnaire,
}
