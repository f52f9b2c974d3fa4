"""Property tests for the eye-tracking loaders: any bytes, any table, any ASC-like text, any JSON, any
pickle-like stream ends in clean data or one InputError, within a time bound (Hypothesis' deadline)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyses.core import InputError
from analyses.eye_tracking import asc, eyekit_json, safe_pickle, tables
from analyses.eye_tracking.fixations import Stimulus, validate

FAST = settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


def check_fixations(table: pd.DataFrame) -> None:
    """What a loader hands on is usable: finite positions, finite non-negative or unknown durations."""
    stimuli = {(str(s), str(c)): Stimulus(1920, 1080) for s, c in zip(
        table.get("stimulus", pd.Series(["stimulus"] * len(table))).astype(str),
        table.get("condition", pd.Series(["original"] * len(table))).astype(str))}
    try:
        out = validate(table, stimuli, "keep", [])
    except InputError:
        return
    assert np.isfinite(out[["x", "y"]].to_numpy(float)).all()
    durations = out["duration"].to_numpy(float)
    assert not np.isinf(durations).any() and not (durations < 0).any()


@FAST
@given(st.binary(max_size=2000), st.sampled_from([".csv", ".tsv", ".txt"]))
def test_any_bytes_as_a_table(tmp_path_factory, raw, suffix):
    path = tmp_path_factory.mktemp("t") / f"fix{suffix}"
    path.write_bytes(raw)
    try:
        check_fixations(tables.fixation_table(path))
    except InputError as exc:
        assert str(exc).startswith(path.name)


CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 6, 10 ** 6), st.booleans(),
                  st.text(max_size=6), st.none(), st.sampled_from([".", "", "inf", "-inf", "1e400", "True", "\ufeff"]))
NAMES = st.sampled_from(["subject", "participant", "image", "stimulus", "condition", "x", "y", "X", "fix_x",
                         "CURRENT_FIX_X", "CURRENT_FIX_Y", "duration", "fix_duration", "start", "end", "onset",
                         "order", "trial", "other", "x ", " y"])


@FAST
@given(st.lists(NAMES, min_size=1, max_size=7), st.data())
def test_any_table(tmp_path_factory, names, data):
    rows = data.draw(st.integers(0, 6))
    columns = {f"{name}": [data.draw(CELLS) for _ in range(rows)] for name in names}
    path = tmp_path_factory.mktemp("t") / "fix.csv"
    header = ",".join(names)
    lines = [",".join(str(columns[n][i]).replace(",", ";").replace("\n", " ").replace("\r", " ") for n in names)
             for i in range(rows)]
    path.write_text("\n".join([header, *lines]) + "\n")
    try:
        check_fixations(tables.fixation_table(path))
    except InputError as exc:
        assert str(exc).startswith("fix.csv")


LINE = st.one_of(
    st.builds(lambda t, x, y: f"{t}\t{x}\t{y}\t400.0\t...", st.integers(0, 5000),
              st.one_of(st.floats(-1e7, 1e7), st.just(".")), st.one_of(st.floats(-1e7, 1e7), st.just("."))),
    st.builds(lambda e, a, b, d, x, y: f"EFIX {e} {a} {b} {d} {x} {y} 400", st.sampled_from("LRX"),
              st.integers(0, 5000), st.integers(0, 5000), st.integers(-5, 500),
              st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(lambda t, eyes: f"START {t} {eyes} SAMPLES EVENTS", st.integers(0, 5000),
              st.sampled_from(["LEFT", "RIGHT", "LEFT RIGHT", ""])),
    st.builds(lambda t: f"END {t} SAMPLES EVENTS RES 1 1", st.integers(0, 5000)),
    st.builds(lambda r: f"SAMPLES GAZE LEFT RATE {r}", st.sampled_from(["1000.00", "500", "0", "nan", "x"])),
    st.builds(lambda t, c: f"MSG {t} {c}", st.integers(0, 5000),
              st.sampled_from(["TRIALID 1", "TRIALID 2", "GAZE_COORDS 0 0 1279 1023", "DISPLAY_COORDS 0 0 9 9",
                               "GAZE_COORDS a b", "!V TRIAL_VAR condition easy", "start_trial 3"])),
    st.text(max_size=30),
)


@FAST
@given(st.lists(LINE, max_size=60))
def test_any_asc_like_text(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("a") / "rec.asc"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass") if all(
        "\ud800" > c or c > "\udfff" for line in lines for c in line) else path.write_text("x\n")
    try:
        recording = asc.read(path)
    except InputError as exc:
        assert str(exc).startswith("rec.asc")
        return
    assert np.isfinite(recording.fixations[["onset", "offset", "duration"]].to_numpy(float)).all()
    assert (recording.fixations["offset"] >= recording.fixations["onset"]).all()


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_as_asc(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("a") / "rec.asc"
    path.write_bytes(raw)
    try:
        asc.read(path)
    except InputError:
        pass


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5)),
                    lambda children: st.one_of(st.lists(children, max_size=4),
                                               st.dictionaries(st.sampled_from(["x", "y", "start", "end", "fixations",
                                                                                "__FixationSequence__", "discarded",
                                                                                "participant_id", "t"]),
                                                               children, max_size=5)),
                    max_leaves=30)


@FAST
@given(JSON)
def test_any_json_as_eyekit(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("e") / "reading.json"
    path.write_text(json.dumps(value))
    try:
        table, _ = eyekit_json.load(path)
    except InputError:
        return
    assert np.isfinite(table[["x", "y", "onset", "offset", "duration"]].to_numpy(float)).all()
    assert (table["duration"] >= 0).all()


GOOD = [pickle.dumps({"1": {"original": {"u": {"x_fix": np.arange(4.0), "y_fix": [1.0, 2.0, 3.0, 4.0]}}}},
                     protocol=p) for p in (2, 4, 5)]


@FAST
@given(st.sampled_from(GOOD), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4))
def test_mutated_pickles_give_data_or_a_clean_error(payload, edits):
    raw = bytearray(payload)
    for at, value in edits:
        raw[at % len(raw)] = value
    try:
        safe_pickle.loads(bytes(raw))
    except InputError:
        pass


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_as_a_pickle(raw):
    try:
        safe_pickle.loads(raw)
    except InputError:
        pass
