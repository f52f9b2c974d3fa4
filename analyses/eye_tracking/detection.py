"""Fixations from raw gaze (EyeLink ASC or a sample table) by pymovements' I-VT or I-DT, or the tracker's own.

Thresholds are in degrees of visual angle, so the screen geometry enters here: pixels become degrees
(pix2deg), degrees become velocities (pos2vel), then the detector runs per segment. A segment is a run of
samples at one constant interval inside one trial: a gap (missing sample lines) or a change of sampling
rate starts a new one, because pymovements' detectors need a constant interval. Durations: the tracker's
`EFIX` column (end − start + 1, EyeLink's convention); re-detected ones pymovements' offset − onset.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core.errors import InputError

from . import asc
from .geometry import Screen

GAP_TOLERANCE = 0.25  # a step more than 25 % off the block's interval starts a new segment


def _experiment(screen: Screen, sampling_rate: float | None):
    import pymovements as pm

    return pm.Experiment(screen_width_px=screen.width_px, screen_height_px=screen.height_px,
                         screen_width_cm=screen.width_cm, screen_height_cm=screen.height_cm,
                         distance_cm=screen.distance_cm, origin="upper left", sampling_rate=sampling_rate)


def _rule(params: Mapping[str, Any]) -> str:
    if params["detection"] == "ivt":
        return f"I-VT at {params['velocity_threshold']:g}°/s"
    return f"I-DT at {params['dispersion_threshold']:g}°"


def _detect(gaze, params: Mapping[str, Any], what: str, required: bool = True) -> pd.DataFrame:
    """Run the chosen detector; one row per fixation with its trial columns, onset, offset, duration, mean pixel."""
    gaze.pix2deg()
    with warnings.catch_warnings():  # "no events detected" is said below, with the thresholds
        warnings.filterwarnings("ignore", message=".*No events were detected", category=UserWarning)
        if params["detection"] == "ivt":
            gaze.pos2vel()
            gaze.detect("ivt", velocity_threshold=params["velocity_threshold"],
                        minimum_duration=params["min_fixation_ms"])
        else:
            gaze.detect("idt", dispersion_threshold=params["dispersion_threshold"],
                        minimum_duration=params["min_fixation_ms"])
    if gaze.events.frame.height == 0:
        if not required:
            return pd.DataFrame(columns=["onset", "offset", "duration", "x", "y"])
        raise InputError(f"{_rule(params)} with fixations of at least {params['min_fixation_ms']} ms found no "
                         "fixation; try a higher velocity threshold (noisy data), I-DT, or a shorter minimum",
                         file=what)
    gaze.compute_event_properties(("location", {"method": "mean", "position_column": "pixel"}))
    events = gaze.events.frame.filter(gaze.events.frame["name"] == "fixation").to_pandas()
    location = np.array(events.pop("location").tolist(), dtype=float).reshape(-1, 2)
    return events.assign(x=location[:, 0], y=location[:, 1])


def detect_segments(frame: pd.DataFrame, screen: Screen, params: Mapping[str, Any], name: str) -> pd.DataFrame:
    """Fixations in every segment (rows: time ms, x, y, segment, rate Hz), each segment on its own grid.

    pymovements' detectors need exactly constant steps and a minimum duration that is a whole number of
    them; so a segment's times are put on its grid (t0 + k·interval, k rounded: within a segment steps
    differ from the interval by under 25 %), detection runs on the sample index k, and onsets and
    offsets go back to ms. Returns segment, onset, offset, duration (offset − onset), x, y.
    """
    import pymovements as pm

    found = []
    for rate, part in frame.groupby("rate"):
        interval = 1000.0 / rate
        t0 = part.groupby("segment")["time"].transform("min")
        step = np.round((part["time"] - t0) / interval).astype(np.int64)
        part = part.assign(step=step, t0=t0).drop_duplicates(["segment", "step"])
        part = part[part.groupby("segment")["step"].transform("size") >= 3]
        if part.empty:
            continue
        minimum = max(2, math.ceil(params["min_fixation_ms"] / interval))
        gaze = pm.gaze.from_pandas(part[["step", "x", "y", "segment"]].rename(columns={"step": "time"})
                                   .reset_index(drop=True), _experiment(screen, rate), time_column="time",
                                   time_unit="ms", pixel_columns=["x", "y"], trial_columns=["segment"])
        try:
            events = _detect(gaze, {**params, "min_fixation_ms": minimum}, name, required=False)
        except ValueError as exc:  # pymovements' own checks on a segment
            raise InputError(f"fixation detection could not run at {rate:g} Hz ({str(exc)[:80]})", file=name) \
                from None
        if events.empty:
            continue
        starts = part.groupby("segment")["t0"].first()
        base = events["segment"].map(starts).to_numpy(float)
        found.append(pd.DataFrame({"segment": events["segment"].to_numpy(),
                                   "onset": base + events["onset"].to_numpy(float) * interval,
                                   "offset": base + events["offset"].to_numpy(float) * interval,
                                   "duration": (events["offset"] - events["onset"]).to_numpy(float) * interval,
                                   "x": events["x"].to_numpy(float), "y": events["y"].to_numpy(float)}))
    if not found:
        return pd.DataFrame(columns=["segment", "onset", "offset", "duration", "x", "y"])
    return pd.concat(found, ignore_index=True)


@dataclass
class AscFixations:
    """What an EyeLink recording gives the analysis, with what was decided and why."""

    table: pd.DataFrame                 # subject, stimulus, condition, trial, eye, onset, offset, duration, x, y, source
    saccades: pd.DataFrame
    trials: pd.DataFrame                # trial, onset, offset, status, n_fixations, (TRIAL_VAR columns)
    screen: Screen
    notes: dict[str, str] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)


def _eye(recording: asc.Recording, requested: str, source: str, name: str) -> str:
    eyes = recording.eyes
    if not eyes:
        raise InputError("no gaze samples and no EFIX events for either eye", file=name)
    if requested == "auto":
        if len(eyes) == 1:
            return eyes[0]
        return "left" if source == "tracker" else "average"
    if requested == "average":
        if len(eyes) < 2:
            raise InputError(f"eye=average needs both eyes; the file recorded only the {eyes[0]} eye", file=name)
        return "average"
    if requested not in eyes:
        raise InputError(f"eye={requested}: the file recorded only the {' and '.join(eyes)} eye", file=name)
    return requested


def _segments(samples: pd.DataFrame, rates: np.ndarray) -> np.ndarray:
    """Segment id per sample (time-sorted, one trial): new at a block change, a gap or a rate change."""
    times = samples["time"].to_numpy()
    blocks = samples["block"].to_numpy()
    interval = 1000.0 / rates[blocks]
    step = np.diff(times)
    new = (blocks[1:] != blocks[:-1]) | (np.abs(step - interval[1:]) > GAP_TOLERANCE * interval[1:])
    return np.r_[0, np.cumsum(new)]


def _detected(recording: asc.Recording, screen: Screen, params: Mapping[str, Any], eye: str,
              problems: list[dict], status: dict[int, str]) -> pd.DataFrame:
    """Re-detect fixations per trial and segment; a trial that cannot be processed is named, not fatal."""
    samples = recording.samples
    if eye == "average":
        x = samples[["x_left", "x_right"]].mean(axis=1)  # skipna: one eye where the other is lost
        y = samples[["y_left", "y_right"]].mean(axis=1)
    else:
        x, y = samples[f"x_{eye}"], samples[f"y_{eye}"]
    rates = asc.block_rates(recording)
    frame = pd.DataFrame({"time": samples["time"], "block": samples["block"], "x": x, "y": y,
                          "trial_index": asc.trial_of(samples["time"], recording.trials)})
    frame = frame[frame["trial_index"] >= 0]
    parts = []
    for index, trial in frame.groupby("trial_index", sort=True):
        label = recording.trials["trial"].iloc[index]
        if not np.isfinite(rates[trial["block"].unique()]).all():
            status[index] = "skipped: fewer than two samples to tell the sampling rate"
            continue
        if (np.diff(trial["time"].to_numpy()) <= 0).any():
            status[index] = "skipped: sample times do not increase"
            continue
        if trial[["x", "y"]].notna().all(axis=1).sum() < 2:
            status[index] = f"skipped: no gaze samples for the {eye} eye"
            continue
        segment = _segments(trial, rates)
        n_segments = int(segment[-1]) + 1
        if n_segments > 1:
            problems.append({"problem": f"gap or change of sampling rate: split into {n_segments} segments, "
                                        "each detected on its own (info)", "where": f"trial {label}",
                             "count": n_segments - 1})
        parts.append(trial.assign(segment=[f"{index}:{s}" for s in segment],
                                  rate=rates[trial["block"].to_numpy()]))
    if not parts:
        return pd.DataFrame(columns=["trial_index", "onset", "offset", "duration", "x", "y"])
    events = detect_segments(pd.concat(parts), screen, params, recording.name)
    if events.empty:
        return pd.DataFrame(columns=["trial_index", "onset", "offset", "duration", "x", "y"])
    events["trial_index"] = events["segment"].str.split(":").str[0].astype(int)
    return events[["trial_index", "onset", "offset", "duration", "x", "y"]]


def from_asc(path: str | Path, screen: Screen, params: Mapping[str, Any]) -> AscFixations:
    """One EyeLink recording: subject = the file's name, a stimulus per trial, the chosen eye and source."""
    path = Path(path)
    recording = asc.read(path, params.get("trial_message", ""))
    problems = list(recording.problems)
    notes = {"trial_rule": recording.trial_rule}
    if recording.screen is not None and params.get("screen_from_file", True):
        if recording.screen != (screen.width_px, screen.height_px):
            problems.append({"problem": f"screen {recording.screen[0]}×{recording.screen[1]} px from the file's "
                                        f"{recording.screen_source}, not the form's {screen.width_px}×"
                                        f"{screen.height_px} (info; screen_from_file=false keeps the form's)",
                             "where": path.name, "count": 1})
        screen = dataclasses.replace(screen, width_px=recording.screen[0], height_px=recording.screen[1])
        notes["screen_source"] = recording.screen_source
    else:
        notes["screen_source"] = "the form" + ("" if recording.screen is None
                                              else f" (the file's {recording.screen_source} not used)")

    requested = params.get("fixations", "auto")
    has_events = len(recording.fixations) > 0
    if requested == "tracker" and not has_events:
        raise InputError("fixations=tracker, but the file has no EFIX lines (export events with edf2asc, or "
                         "choose fixations=detect)", file=path.name)
    source = "tracker" if requested == "tracker" or (requested == "auto" and has_events
                                                     and params.get("eye", "auto") != "average") else "detected"
    eye = _eye(recording, params.get("eye", "auto"), source, path.name)
    if source == "tracker" and eye == "average":
        raise InputError("the tracker reports each eye's fixations on their own: eye=average needs fixations=detect",
                         file=path.name)
    trials = recording.trials
    status: dict[int, str] = {}
    if source == "tracker":
        events = recording.fixations[recording.fixations["eye"] == eye]
        if events.empty:
            raise InputError(f"no EFIX events for the {eye} eye", file=path.name)
        index = asc.trial_of(events["onset"], trials)
        outside = int((index < 0).sum())
        if outside:
            problems.append({"problem": "EFIX events outside every trial (not analysed)", "where": path.name,
                             "count": outside})
        found = events.assign(trial_index=index)[index >= 0]
        notes["fixation_source"] = "the tracker's EFIX events"
        notes["duration_convention"] = "EyeLink: end − start + 1 ms (the EFIX duration column)"
    else:
        found = _detected(recording, screen, params, eye, problems, status)
        notes["fixation_source"] = f"re-detected by pymovements, {_rule(params)}, at least {params['min_fixation_ms']} ms"
        notes["duration_convention"] = "pymovements: offset − onset ms"
    notes["eye"] = eye
    counts = found.groupby("trial_index").size()
    trials = trials.assign(n_fixations=counts.reindex(range(len(trials)), fill_value=0).to_numpy(),
                           status=[status.get(i, "analysed") for i in range(len(trials))])
    trials.loc[(trials["n_fixations"] == 0) & (trials["status"] == "analysed"), "status"] = "no fixation found"
    for i, row in trials[trials["status"] != "analysed"].iterrows():
        problems.append({"problem": f"trial not analysed: {row['status']}", "where": f"trial {row['trial']}",
                         "count": 1})
    if found.empty:
        reasons = "; ".join(f"trial {r['trial']}: {r['status']}" for _, r in trials.head(5).iterrows())
        hint = "" if source == "tracker" else (f"; {_rule(params)} with fixations of at least "
                                               f"{params['min_fixation_ms']} ms found no fixation: try a higher "
                                               "velocity threshold (noisy data), I-DT, or a shorter minimum")
        raise InputError(f"no fixation in any of its {len(trials)} trials ({recording.trial_rule}; {reasons}){hint}",
                         file=path.name)
    labels = trials["trial"].astype(str).to_numpy()
    prefix = "" if recording.trial_rule.startswith("START") else "trial "
    table = pd.DataFrame({
        "subject": path.stem, "stimulus": [prefix + labels[i] for i in found["trial_index"]],
        "condition": (trials["condition"].fillna("original").astype(str).to_numpy()[found["trial_index"]]
                      if "condition" in trials else "original"),
        "trial": labels[found["trial_index"].to_numpy(int)], "eye": eye,
        "onset": found["onset"].to_numpy(float), "offset": found["offset"].to_numpy(float),
        "duration": found["duration"].to_numpy(float), "x": found["x"].to_numpy(float),
        "y": found["y"].to_numpy(float), "source": source,
    }).sort_values(["trial", "onset"], kind="stable").reset_index(drop=True)
    saccades = recording.saccades[recording.saccades["eye"] == (eye if eye != "average" else "left")]
    sac_index = asc.trial_of(saccades["onset"], recording.trials)
    saccades = saccades.assign(trial=np.where(sac_index >= 0, labels[np.maximum(sac_index, 0)], ""))
    saccades = saccades[sac_index >= 0].drop(columns="line")
    return AscFixations(table, saccades.reset_index(drop=True), trials, screen, notes, problems)


def from_samples(table: pd.DataFrame, screen: Screen, params: Mapping[str, Any], name: str) -> pd.DataFrame:
    """Raw samples with time (ms) and x, y (px), optionally subject/stimulus/condition per row.

    Each trial's interval is its median step; a step more than 25 % off it starts a new segment.
    """
    keys = [c for c in ("subject", "stimulus", "condition") if c in table.columns]
    frame = table[["time", "x", "y", *keys]].copy()
    for k in keys:
        frame[k] = frame[k].astype(str)
    frame["trial_key"] = frame[keys].agg("\x1f".join, axis=1) if keys else "1"
    steps = frame.groupby("trial_key", sort=False)["time"].diff()
    if steps.dropna().empty or (steps <= 0).any():
        raise InputError("sample times must increase within each trial", file=name, column="time")
    interval = steps.groupby(frame["trial_key"], sort=False).transform("median")
    if not np.isfinite(interval).all() or (interval <= 0).any():
        raise InputError("each trial needs at least two samples to tell the sampling rate", file=name,
                         column="time")
    new = steps.isna() | ((steps - interval).abs() > GAP_TOLERANCE * interval)
    segment = new.astype(int).groupby(frame["trial_key"], sort=False).cumsum()
    frame["segment"] = frame["trial_key"] + "\x1e" + segment.astype(str)
    frame["rate"] = np.round(1000.0 / interval, 6)
    events = detect_segments(frame, screen, params, name)
    if events.empty:
        raise InputError(f"{_rule(params)} with fixations of at least {params['min_fixation_ms']} ms found no "
                         "fixation; try a higher velocity threshold (noisy data), I-DT, or a shorter minimum",
                         file=name)
    trial_key = events["segment"].str.split("\x1e").str[0]
    parts = trial_key.str.split("\x1f", expand=True) if keys else pd.DataFrame(index=events.index)
    out = pd.DataFrame({k: parts[i] for i, k in enumerate(keys)}, index=events.index)
    return out.assign(x=events["x"], y=events["y"], duration=events["duration"], onset=events["onset"],
                      offset=events["offset"], source="detected")
