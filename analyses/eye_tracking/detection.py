"""Fixations from raw gaze (EyeLink ASC or a sample table) by pymovements' I-VT or I-DT.

Thresholds are in degrees of visual angle, so the screen geometry enters here: pixels become degrees
(pix2deg), degrees become velocities (pos2vel), then the detector runs per trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .geometry import Screen


def _experiment(screen: Screen, sampling_rate: float | None):
    import pymovements as pm

    return pm.Experiment(screen_width_px=screen.width_px, screen_height_px=screen.height_px,
                         screen_width_cm=screen.width_cm, screen_height_cm=screen.height_cm,
                         distance_cm=screen.distance_cm, origin="upper left", sampling_rate=sampling_rate)


def _detect(gaze, params: Mapping[str, Any], what: str) -> pd.DataFrame:
    """Run the chosen detector; one row per fixation with its trial columns, onset, duration and mean pixel."""
    import warnings

    gaze.pix2deg()
    with warnings.catch_warnings():  # "no events detected" is said below, with the thresholds
        warnings.filterwarnings("ignore", message=".*No events were detected", category=UserWarning)
        if params["detection"] == "ivt":
            gaze.pos2vel()
            gaze.detect("ivt", velocity_threshold=params["velocity_threshold"],
                        minimum_duration=params["min_fixation_ms"])
            rule = f"I-VT at {params['velocity_threshold']:g}°/s"
        else:
            gaze.detect("idt", dispersion_threshold=params["dispersion_threshold"],
                        minimum_duration=params["min_fixation_ms"])
            rule = f"I-DT at {params['dispersion_threshold']:g}°"
    if gaze.events.frame.height == 0:
        raise ValueError(f"{what}: {rule} with fixations of at least {params['min_fixation_ms']} ms found no fixation; "
                         "try a higher velocity threshold (noisy data), I-DT, or a shorter minimum")
    gaze.compute_event_properties(("location", {"method": "mean", "position_column": "pixel"}))
    events = gaze.events.frame.filter(gaze.events.frame["name"] == "fixation").to_pandas()
    location = np.array(events.pop("location").tolist(), dtype=float)
    return events.assign(x=location[:, 0], y=location[:, 1])


def from_asc(path: str | Path, screen: Screen, params: Mapping[str, Any]) -> pd.DataFrame:
    """One EyeLink recording: subject = the file's name, stimulus = the trial (TRIALID message)."""
    import pymovements as pm

    import warnings

    path = Path(path)
    try:
        with warnings.catch_warnings():  # pymovements warns about every header field a short file lacks
            warnings.simplefilter("ignore", UserWarning)
            gaze = pm.gaze.from_asc(path, experiment=_experiment(screen, None), patterns=[r"TRIALID (?P<trial>\S+)"])
    except Exception as exc:
        raise ValueError(f"{path.name} is not a readable EyeLink ASC file: {type(exc).__name__}: {exc}") from None
    if gaze.samples.height == 0:
        raise ValueError(f"{path.name}: no gaze samples found (is it an EyeLink ASC file with samples?)")
    samples = gaze.samples.with_columns(gaze.samples["trial"].fill_null("1"))
    gaze = pm.gaze.from_pandas(samples.select("time", "trial", "pixel").to_pandas().assign(
        x=lambda d: d["pixel"].str[0], y=lambda d: d["pixel"].str[1]).drop(columns="pixel"),
        _experiment(screen, gaze.experiment.sampling_rate), time_column="time", time_unit="ms",
        pixel_columns=["x", "y"], trial_columns=["trial"])
    events = _detect(gaze, params, path.name)
    return pd.DataFrame({"subject": path.stem, "stimulus": "trial " + events["trial"].astype(str),
                         "condition": "original", "x": events["x"], "y": events["y"],
                         "duration": events["duration"].astype(float)})


def from_samples(table: pd.DataFrame, screen: Screen, params: Mapping[str, Any], name: str) -> pd.DataFrame:
    """Raw samples with time (ms) and x, y (px), optionally subject/stimulus/condition per row."""
    import pymovements as pm

    keys = [c for c in ("subject", "stimulus", "condition") if c in table.columns]
    frame = table[["time", "x", "y", *keys]].copy()
    for k in keys:
        frame[k] = frame[k].astype(str)
    frame["trial_key"] = frame[keys].agg("\x1f".join, axis=1) if keys else "1"
    steps = frame.groupby("trial_key")["time"].diff().dropna()
    if steps.empty or (steps <= 0).any():
        raise ValueError(f"{name}: sample times must increase within each trial")
    rate = 1000.0 / float(steps.median())
    gaze = pm.gaze.from_pandas(frame[["time", "x", "y", "trial_key"]], _experiment(screen, rate), time_column="time",
                               time_unit="ms", pixel_columns=["x", "y"], trial_columns=["trial_key"])
    events = _detect(gaze, params, name)
    parts = events["trial_key"].str.split("\x1f", expand=True) if keys else pd.DataFrame(index=events.index)
    out = pd.DataFrame({k: parts[i] for i, k in enumerate(keys)}, index=events.index)
    return out.assign(x=events["x"], y=events["y"], duration=events["duration"].astype(float))
