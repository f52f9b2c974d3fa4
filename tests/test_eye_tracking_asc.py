"""EyeLink ASC recordings as labs write them: trials by TRIALID, by recording block or by the lab's own
message; the file's screen; the tracker's EFIX events (their count and durations checked against the
file's lines, read here with a regex, and their times against pymovements' own parser); eye choice;
re-detection per trial with gaps and rate changes; a trial that cannot be processed is named."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from analyses.core import InputError, run
from asc_writer import write
from conftest import SHARED

RACCOONS = SHARED / "data" / "eyetracking" / "pymovements" / "raccoons.asc"

# three trials of known fixations: (x, y, samples at 1000 Hz)
TRIALS = [
    [(300, 200, 180), (700, 240, 250), (900, 600, 120)],
    [(640, 512, 300), (200, 900, 210)],
    [(100, 100, 150), (1100, 150, 160), (1150, 950, 400), (150, 950, 220)],
]


def params(**overrides):
    from analyses.eye_tracking import ANALYSIS

    return ANALYSIS.params("smoke", {"bootstrap": 200, **overrides})


def load(path, **overrides):
    from analyses.eye_tracking import loaders
    from analyses.eye_tracking.geometry import Screen

    p = params(data_path=str(path), **overrides)
    return loaders.load(p, Screen.from_params(p))


def efix_lines(path):
    """The file's EFIX lines, read independently of labscope: (eye, start, end, duration, x, y)."""
    pattern = re.compile(r"^EFIX\s+([LR])\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)", re.M)
    return [(m[0], float(m[1]), float(m[2]), float(m[3]), float(m[4]), float(m[5]))
            for m in pattern.findall(path.read_text())]


@pytest.mark.parametrize("convention", ["trialid", "blocks", "message"])
def test_trials_geometry_and_tracker_fixations_in_each_convention(tmp_path, convention):
    path = tmp_path / f"{convention}.asc"
    write(path, TRIALS, convention=convention)
    extra = {"trial_message": "start_trial"} if convention == "message" else {}
    dataset = load(path, **extra)
    fix = dataset.fixations
    lines = efix_lines(path)
    assert len(fix) == len(lines) == sum(map(len, TRIALS))
    # one stimulus per trial, in the file's order, with the trial's fixations
    per_trial = fix.groupby("trial", sort=False).size()
    assert sorted(per_trial.tolist()) == sorted(len(t) for t in TRIALS)
    assert len(dataset.extra_tables["recording_trials"]) == 3
    rule = dataset.notes["trial_rule"]
    assert rule == {"trialid": "TRIALID messages", "blocks": "START … END recording blocks",
                    "message": "messages starting with 'start_trial'"}[convention]
    # the file's own durations (end - start + 1) and places, exactly
    assert sorted(fix["duration"]) == sorted(d for *_, d, _x, _y in [(l[0], l[1], l[2], l[3], l[4], l[5]) for l in lines])
    assert sorted(fix["duration"]) == sorted(n for trial in TRIALS for *_, n in trial)
    assert (fix["offset"] - fix["onset"] + 1 == fix["duration"]).all()
    assert sorted(zip(fix["x"], fix["y"])) == sorted((float(x), float(y)) for t in TRIALS for x, y, _ in t)
    assert set(fix["source"]) == {"tracker"} and set(fix["eye"]) == {"left"}
    # the screen from GAZE_COORDS 0 0 1279 1023, not the form's 1920 x 1080
    assert (dataset.screen.width_px, dataset.screen.height_px) == (1280, 1024)
    assert any("1280×1024 px from the file's GAZE_COORDS" in p["problem"] for p in dataset.problems)


def test_event_times_agree_with_pymovements_parser(tmp_path):
    import warnings

    from pymovements.gaze.io import from_asc

    path = tmp_path / "rec.asc"
    write(path, TRIALS, convention="blocks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaze = from_asc(path, events=True)
    theirs = gaze.events.frame.filter(gaze.events.frame["name"] == "fixation_eyelink").to_pandas()
    ours = load(path).fixations
    assert sorted(ours["onset"]) == sorted(theirs["onset"]) and sorted(ours["offset"]) == sorted(theirs["offset"])
    from analyses.eye_tracking import asc

    recording = asc.read(path)
    assert len(recording.samples) == gaze.samples.height  # every sample line, as pymovements counts them


def test_display_coords_when_gaze_coords_are_absent_and_the_form_can_override(tmp_path):
    path = tmp_path / "rec.asc"
    write(path, TRIALS[:1], convention="trialid", screen=(1024, 768), display_only=True)
    assert (load(path).screen.width_px, load(path).screen.height_px) == (1024, 768)
    kept = load(path, screen_from_file=False, screen_width_px=1600, screen_height_px=900)
    assert (kept.screen.width_px, kept.screen.height_px) == (1600, 900)
    assert "the file's DISPLAY_COORDS not used" in kept.notes["screen_source"]


def test_result_json_metrics_and_fixations_csv_from_the_cli(tmp_path):
    """The acceptance run: a recording without TRIALID gives one trial per block, the file's screen and the
    tracker's fixations with EyeLink's durations; result.json carries the counts and mean/median durations."""
    import os
    import subprocess
    import sys

    path = tmp_path / "recording.asc"
    write(path, TRIALS, convention="blocks", extra_messages={0: {"condition": "easy"}, 1: {"condition": "hard"},
                                                              2: {"condition": "hard"}})
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "analyses.core.cli", "run", "eye_tracking", "--preset", "smoke",
                          "--set", f"data_path={path}", "--out", str(tmp_path / "out")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "out" / "result.json").read_text())["metrics"]
    durations = [n for t in TRIALS for *_, n in t]
    assert metrics["trials_total"] == 3 and metrics["fixations_total"] == 9
    assert metrics["fixation_duration_mean_ms"] == pytest.approx(np.mean(durations))
    assert metrics["fixation_duration_median_ms"] == pytest.approx(np.median(durations))
    hard = [n for t in TRIALS[1:] for *_, n in t]
    assert metrics["fixation_duration_mean_ms_hard"] == pytest.approx(np.mean(hard))
    assert (metrics["screen_width_px"], metrics["screen_height_px"]) == (1280, 1024)
    table = pd.read_csv(tmp_path / "out" / "fixations.csv")
    assert {"trial", "eye", "onset", "offset", "duration", "x", "y", "source"} <= set(table.columns)
    assert sorted(table["trial"].unique()) == ["block 1", "block 2", "block 3"]
    assert (table["offset"] - table["onset"] + 1 == table["duration"]).all()


def test_binocular_eye_choice(tmp_path):
    path = tmp_path / "bino.asc"
    write(path, TRIALS[:2], convention="trialid", eyes=("LEFT", "RIGHT"))
    left = load(path)
    assert set(left.fixations["eye"]) == {"left"} and len(left.fixations) == 5
    right = load(path, eye="right")
    assert set(right.fixations["eye"]) == {"right"} and len(right.fixations) == 5
    averaged = load(path, eye="average")  # averaging needs re-detection
    assert set(averaged.fixations["source"]) == {"detected"} and len(averaged.fixations) == 5
    with pytest.raises(InputError, match="eye=average needs fixations=detect"):
        load(path, eye="average", fixations="tracker")
    mono = tmp_path / "mono.asc"
    write(mono, TRIALS[:1])
    with pytest.raises(InputError, match="mono.asc: eye=right: the file recorded only the left eye"):
        load(mono, eye="right")


def test_re_detection_matches_the_known_fixations(tmp_path):
    path = tmp_path / "rec.asc"
    write(path, TRIALS, convention="trialid")
    fix = load(path, fixations="detect", detection="idt", dispersion_threshold=1.0, min_fixation_ms=100).fixations
    assert len(fix) == 9 and set(fix["source"]) == {"detected"}
    truth = sorted((x, y) for t in TRIALS for x, y, _ in t)
    assert np.allclose(sorted(zip(fix["x"].round(), fix["y"].round())), truth, atol=2)


def test_a_gap_and_a_rate_change_inside_a_trial_are_detected_per_segment(tmp_path):
    path = tmp_path / "gappy.asc"
    # trial 1: two recording blocks (1000 Hz, then 500 Hz) under one TRIALID; trial 2 plain
    trials = [([(300, 200, 200), (700, 240, 250)], [(900, 600, 300), (200, 300, 300)]), TRIALS[1]]
    write(path, trials, convention="trialid", rates={(0, 1): 500})
    text = path.read_text().splitlines()
    # cut 40 sample lines out of the middle of the first fixation: a gap
    first = next(i for i, line in enumerate(text) if line.startswith("SFIX"))
    path.write_text("\n".join(text[:first + 50] + text[first + 90:]) + "\n")
    dataset = load(path, fixations="detect", min_fixation_ms=60)
    fix = dataset.fixations
    assert set(fix["trial"]) == {"1", "2"}
    assert any("split into 3 segments" in p["problem"] and p["where"] == "trial 1" for p in dataset.problems)
    # the 500 Hz fixations (300 samples = 600 ms) come out at their length
    late = fix[(fix["trial"] == "1") & (fix["y"] >= 290)].sort_values("onset")
    assert np.allclose(late[["x", "y"]].round(), [[900, 600], [200, 300]], atol=2)
    assert late["duration"].tolist() == pytest.approx([598, 598], abs=4)


def test_a_trial_that_cannot_be_processed_is_named_and_the_rest_analysed(tmp_path):
    path = tmp_path / "rec.asc"
    write(path, TRIALS, convention="trialid")
    lines = path.read_text().splitlines()
    # trial 2 lost its gaze: every sample's x/y become '.'
    start = lines.index(next(l for l in lines if l.endswith("TRIALID 2")))
    end = lines.index(next(l for l in lines if l.endswith("TRIALID 3")))
    for i in range(start, end):
        if lines[i][:1].isdigit():
            t = lines[i].split()[0]
            lines[i] = f"{t}\t   .\t   .\t    0.0\t..."
    path.write_text("\n".join(lines) + "\n")
    dataset = load(path, fixations="detect")
    assert set(dataset.fixations["trial"]) == {"1", "3"}
    trials = dataset.extra_tables["recording_trials"].set_index("trial")
    assert trials.loc["2", "status"] == "skipped: no gaze samples for the left eye"
    assert any(p["where"] == "trial 2" and "not analysed" in p["problem"] for p in dataset.problems)


def test_malformed_structure_names_file_and_line(tmp_path):
    path = tmp_path / "bad.asc"
    write(path, TRIALS[:1])
    lines = path.read_text().splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith("EFIX"))
    lines[i] = "EFIX L 2000 abc 10 1.0 2.0 3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"bad.asc, row {i + 1}: malformed EFIX line"):
        load(path)
    with pytest.raises(InputError, match="no message starts with 'begin_trial'"):
        write(path, TRIALS[:1])
        load(path, trial_message="begin_trial")


def test_the_real_raccoons_recording_by_the_trackers_event():
    dataset = load(RACCOONS)
    fix = dataset.fixations
    # EFIX L 147953 148207 255 1008.6 1190.4 430, the file's one fixation, exactly
    assert len(fix) == 1 and fix["duration"].item() == 255 and fix["onset"].item() == 147953
    assert (fix["x"].item(), fix["y"].item()) == (1008.6, 1190.4)
    assert dataset.notes["trial_rule"] == "TRIALID messages" and dataset.notes["screen_source"] == "GAZE_COORDS"
    assert len(dataset.extra_tables["saccades"]) == 1
    assert dataset.extra_tables["saccades"]["amplitude_deg"].item() == 17.38


def test_a_sample_table_at_120_hz_with_jitter_and_a_gap(tmp_path):
    """pymovements needs exactly constant steps: a jittered trial is put on its grid, a gap splits it."""
    rng = np.random.default_rng(0)
    t = np.arange(0, 1200, 1000 / 120)
    t = np.delete(t, np.arange(60, 70)) + rng.uniform(-0.5, 0.5, t.size - 10)  # 10 samples lost at 500-575 ms
    x = np.where(t < 400, 400.0, np.where(t < 900, 900.0, 300.0)) + rng.normal(0, 0.3, t.size)
    path = tmp_path / "samples.csv"
    pd.DataFrame({"time": t, "x": x, "y": 300.0}).to_csv(path, index=False)
    fix = load(path).fixations.sort_values("onset")
    assert np.allclose(fix["x"], [400, 900, 300], atol=20)  # I-DT takes in one boundary sample
    assert fix["onset"].iloc[1] > 575  # the second fixation resumes after the gap
    assert fix["duration"].iloc[2] == pytest.approx(1200 - 900, abs=25)


def test_blank_and_whitespace_lines_are_skipped(tmp_path):
    """Found by the property test: a line of spaces between samples once escaped as an IndexError."""
    path = tmp_path / "rec.asc"
    write(path, TRIALS[:1])
    lines = path.read_text().splitlines()
    lines.insert(20, "   ")
    lines.insert(10, "\t")
    path.write_text("\n".join(lines) + "\n")
    assert len(load(path).fixations) == 3
