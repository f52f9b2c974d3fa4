"""EyeLink ASC recordings as the file defines them: trials, screen, samples and the tracker's own events.

pymovements' ASC reader gives samples and event times but not what `EFIX` carries (the tracker's mean
position and its duration column), nor trials from recording blocks; so the structural lines are read
here, in one pass, and the tests check the samples and event times against pymovements' own parser.

Trials, by the first rule that applies: a message the user names (`trial_message`, e.g. `start_trial`:
the word after it names the trial), else `TRIALID` messages, else each `START … END` recording block.
A marker's trial runs until the next marker. `!V TRIAL_VAR name value` messages become trial columns.
Screen: `GAZE_COORDS left top right bottom` (else `DISPLAY_COORDS`), EyeLink's inclusive pixel range, so
the width is right − left + 1. Durations of `EFIX`/`ESACC` are the file's own column, end − start + 1
(EyeLink counts both end samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.core.errors import InputError

MAX_LINE_CHARS = 10_000   # an ASC line is short; a longer one is not an ASC line
MAX_TRIALS = 100_000
MAX_POSITION = 1e6        # px; EyeLink writes large but finite values for lost tracking, never beyond this
EYES = {"L": "left", "R": "right", "LEFT": "left", "RIGHT": "right"}


@dataclass
class Block:
    """One START … END recording block: its eyes and sampling rate, as SAMPLES declares them."""

    start: float
    end: float | None = None
    eyes: tuple[str, ...] = ()
    rate: float | None = None
    line: int = 0


@dataclass
class Recording:
    name: str
    samples: pd.DataFrame        # time, block, x_left, y_left, x_right, y_right (NaN where not recorded)
    fixations: pd.DataFrame      # EFIX: eye, onset, offset, duration, x, y, pupil, line
    saccades: pd.DataFrame       # ESACC: eye, onset, offset, duration, x0, y0, x1, y1, amplitude_deg, peak_velocity
    blocks: list[Block]
    trials: pd.DataFrame         # trial, onset, offset (exclusive; inf for the last), plus TRIAL_VAR columns
    trial_rule: str
    screen: tuple[int, int] | None
    screen_source: str
    problems: list[dict] = field(default_factory=list)

    @property
    def eyes(self) -> tuple[str, ...]:
        return tuple(e for e in ("left", "right") if self.samples[f"x_{e}"].notna().any()
                     or (self.fixations["eye"] == e).any())


def _number(token: str) -> float:
    """A sample value: '.' (and EyeLink's other missing-data marks) is NaN."""
    if token in (".", "..."):
        return math.nan
    return float(token)


def _coords(tokens: list[str], name: str, lineno: int, file: str) -> tuple[int, int]:
    try:
        left, top, right, bottom = (float(t) for t in tokens[:4])
    except ValueError:
        raise InputError(f"{' '.join(tokens[:4])!r} after {name} are not four numbers", file=file, row=lineno) from None
    width, height = right - left + 1, bottom - top + 1
    if not (math.isfinite(width) and math.isfinite(height)) or not (16 <= width <= 100_000 and 16 <= height <= 100_000):
        raise InputError(f"{name} gives a {width:g} × {height:g} px screen, which is not a screen", file=file,
                         row=lineno)
    return round(width), round(height)


def _read_lines(path: Path):
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise InputError("holds NUL bytes: not an ASC text file (convert the EDF with edf2asc)", file=path.name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def read(path: str | Path, trial_message: str = "") -> Recording:
    """Parse the file's structure; raise InputError (file, line) where a line the format defines is malformed."""
    path = Path(path)
    name = path.name
    blocks: list[Block] = []
    open_block: Block | None = None
    messages: list[tuple[float, str, int]] = []
    gaze_coords = display_coords = None
    times: list[float] = []
    block_ids: list[int] = []
    values: list[tuple[float, float, float, float]] = []
    fixations: list[tuple] = []
    saccades: list[tuple] = []
    header = False
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line or line.isspace():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise InputError(f"a line of {len(line):,} characters: not an EyeLink ASC file", file=name, row=lineno)
        if line.startswith("**"):
            header = True
            continue
        if line[0].isdigit():  # a sample: time, then x y pupil per recorded eye
            if open_block is None:
                continue  # outside a recording block (edf2asc writes none there)
            tokens = line.split()
            try:
                time = float(tokens[0])
                if len(open_block.eyes) == 2:
                    xl, yl, xr, yr = (_number(tokens[i]) for i in (1, 2, 4, 5))
                else:
                    x, y = _number(tokens[1]), _number(tokens[2])
                    xl, yl, xr, yr = (x, y, math.nan, math.nan) if open_block.eyes != ("right",) \
                        else (math.nan, math.nan, x, y)
            except (ValueError, IndexError):
                raise InputError(f"sample line {line[:60]!r} is not time, x, y, pupil (numbers or '.')",
                                 file=name, row=lineno) from None
            if not math.isfinite(time):
                raise InputError("sample time is not a finite number", file=name, row=lineno)
            if not all(abs(v) <= MAX_POSITION for v in (xl, yl, xr, yr) if v == v):
                raise InputError(f"gaze position beyond ±{MAX_POSITION:g} px: not a position on a screen",
                                 file=name, row=lineno)
            times.append(time)
            block_ids.append(len(blocks) - 1)
            values.append((xl, yl, xr, yr))
            continue
        tokens = line.split()
        kind = tokens[0].upper()
        try:
            if kind == "MSG":
                time = float(tokens[1])
                content = line.split(None, 2)[2].strip() if len(tokens) > 2 else ""
                messages.append((time, content, lineno))
                word = content.split()[0] if content else ""
                if word == "GAZE_COORDS":
                    gaze_coords = (_coords(content.split()[1:], "GAZE_COORDS", lineno, name), lineno)
                elif word == "DISPLAY_COORDS":
                    display_coords = (_coords(content.split()[1:], "DISPLAY_COORDS", lineno, name), lineno)
            elif kind == "START":
                if open_block is not None:  # START without END: the earlier block ends here
                    open_block.end = float(tokens[1])
                eyes = tuple(dict.fromkeys(EYES[t.upper()] for t in tokens[2:] if t.upper() in ("LEFT", "RIGHT")))
                open_block = Block(float(tokens[1]), eyes=eyes, line=lineno)
                blocks.append(open_block)
            elif kind == "END":
                if open_block is not None:
                    open_block.end = float(tokens[1])
                open_block = None
            elif kind == "SAMPLES" and open_block is not None:
                eyes = tuple(dict.fromkeys(EYES[t.upper()] for t in tokens[1:] if t.upper() in ("LEFT", "RIGHT")))
                if eyes:
                    open_block.eyes = eyes
                upper = [t.upper() for t in tokens]
                if "RATE" in upper:
                    rate = float(tokens[upper.index("RATE") + 1])
                    if not (math.isfinite(rate) and 1 <= rate <= 100_000):
                        raise InputError(f"SAMPLES gives a sampling rate of {rate:g} Hz", file=name, row=lineno)
                    open_block.rate = rate
            elif kind == "EFIX":
                eye = EYES.get(tokens[1].upper())
                if eye is None:
                    raise ValueError
                onset, offset, duration = float(tokens[2]), float(tokens[3]), float(tokens[4])
                x, y = _number(tokens[5]), _number(tokens[6])
                pupil = _number(tokens[7]) if len(tokens) > 7 else math.nan
                if not all(abs(v) <= MAX_POSITION for v in (x, y) if v == v):
                    raise InputError(f"EFIX position ({x:g}, {y:g}) beyond ±{MAX_POSITION:g} px: not a position on "
                                     "a screen", file=name, row=lineno)
                fixations.append((eye, onset, offset, duration, x, y, pupil, lineno))
            elif kind == "ESACC":
                eye = EYES.get(tokens[1].upper())
                if eye is None:
                    raise ValueError
                numbers = [float(tokens[i]) for i in (2, 3, 4)]
                rest = [_number(t) for t in tokens[5:11]] + [math.nan] * (6 - len(tokens[5:11]))
                saccades.append((eye, *numbers, *rest, lineno))
        except InputError:
            raise
        except (ValueError, IndexError):
            raise InputError(f"malformed {kind} line: {line[:80]!r}", file=name, row=lineno) from None

    if not blocks:
        what = "no recording block (START line)" + ("" if header else " and no EyeLink header (** lines)")
        raise InputError(f"{what}: not an EyeLink ASC recording (convert the EDF with edf2asc, samples and "
                         "events)", file=name)
    problems: list[dict] = []
    samples = pd.DataFrame(np.array(values, dtype=float).reshape(-1, 4), columns=["x_left", "y_left", "x_right",
                                                                                  "y_right"])
    samples.insert(0, "time", np.array(times, dtype=float))
    samples.insert(1, "block", np.array(block_ids, dtype=int))
    fix = pd.DataFrame(fixations, columns=["eye", "onset", "offset", "duration", "x", "y", "pupil", "line"])
    sac = pd.DataFrame(saccades, columns=["eye", "onset", "offset", "duration", "x0", "y0", "x1", "y1",
                                          "amplitude_deg", "peak_velocity", "line"])
    fix = fix.astype({c: float for c in fix.columns if c not in ("eye", "line")})
    sac = sac.astype({c: float for c in sac.columns if c not in ("eye", "line")})
    for table, what in ((fix, "EFIX"), (sac, "ESACC")):
        bad = table[~np.isfinite(table[["onset", "offset", "duration"]]).all(axis=1)
                    | (table["offset"] < table["onset"]) | (table["duration"] < 0)]
        if len(bad):
            row = bad.iloc[0]
            raise InputError(f"{what} from {row['onset']:g} to {row['offset']:g} with duration {row['duration']:g}: "
                             "times must be finite and end at or after the start", file=name, row=int(row["line"]))
    for col in ("x_left", "y_left", "x_right", "y_right"):
        if np.isinf(samples[col]).any():
            line = int(np.flatnonzero(np.isinf(samples[col]))[0])
            raise InputError(f"an infinite gaze position in sample {line + 1}", file=name, column=col)

    screen, source = None, "none in the file"
    if gaze_coords is not None:
        screen, source = gaze_coords[0], "GAZE_COORDS"
    elif display_coords is not None:
        screen, source = display_coords[0], "DISPLAY_COORDS"
    if gaze_coords and display_coords and gaze_coords[0] != display_coords[0]:
        problems.append({"problem": f"GAZE_COORDS ({gaze_coords[0][0]}×{gaze_coords[0][1]}) and DISPLAY_COORDS "
                                    f"({display_coords[0][0]}×{display_coords[0][1]}) differ; GAZE_COORDS used (info)",
                         "where": f"lines {gaze_coords[1]}, {display_coords[1]}", "count": 1})

    trials, rule = _trials(name, messages, blocks, trial_message)
    return Recording(name, samples, fix, sac, blocks, trials, rule, screen, source, problems)


def _trials(name: str, messages, blocks: list[Block], trial_message: str) -> tuple[pd.DataFrame, str]:
    """trial, onset, offset (exclusive) by the first rule that applies, plus TRIAL_VAR columns."""
    wanted = trial_message.strip()
    markers: list[tuple[float, str]] = []
    if wanted:
        count = 0
        for time, content, _ in messages:
            if content == wanted or content.startswith(wanted + " "):
                count += 1
                rest = content[len(wanted):].split()
                markers.append((time, rest[0] if rest else str(count)))
        if not markers:
            raise InputError(f"no message starts with {wanted!r} (trial_message); the file's messages begin with: "
                             + ", ".join(sorted({c.split()[0] for _, c, _ in messages if c})[:8]), file=name)
        rule = f"messages starting with {wanted!r}"
    else:
        markers = [(time, (content.split()[1:] or [str(i + 1)])[0])
                   for i, (time, content, _) in enumerate(m for m in messages if m[1].split()[:1] == ["TRIALID"])]
        rule = "TRIALID messages"
    if markers:
        if len(markers) > MAX_TRIALS:
            raise InputError(f"{len(markers):,} trial markers: more than {MAX_TRIALS:,} trials", file=name)
        onsets = [t for t, _ in markers]
        if any(b < a for a, b in zip(onsets, onsets[1:])):
            raise InputError("trial markers are not in time order", file=name)
        labels = _unique([label for _, label in markers])
        trials = pd.DataFrame({"trial": labels, "onset": onsets, "offset": onsets[1:] + [math.inf]})
    else:
        rule = "START … END recording blocks"
        trials = pd.DataFrame({"trial": [f"block {i + 1}" for i in range(len(blocks))],
                               "onset": [b.start for b in blocks],
                               "offset": [b.end + 1 if b.end is not None else math.inf for b in blocks]})
    variables: dict[str, dict[int, str]] = {}
    starts = trials["onset"].to_numpy()
    for time, content, _ in messages:
        words = content.split()
        if words[:2] == ["!V", "TRIAL_VAR"] and len(words) >= 4:
            index = int(np.searchsorted(starts, time, side="right")) - 1
            if index >= 0:
                variables.setdefault(words[2], {})[index] = " ".join(words[3:])
    for var, found in variables.items():
        if var not in trials.columns:
            trials[var] = pd.Series(found, dtype=object).reindex(range(len(trials))).to_numpy()
    return trials, rule


def _unique(labels: list[str]) -> list[str]:
    """Repeated trial names get '#2', '#3' so every trial stays its own."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def trial_of(times, trials: pd.DataFrame) -> np.ndarray:
    """Index of the trial each time falls in, -1 where none."""
    times = np.asarray(times, dtype=float)
    index = np.searchsorted(trials["onset"].to_numpy(), times, side="right") - 1
    ok = index >= 0
    ok[ok] &= times[ok] < trials["offset"].to_numpy()[index[ok]]
    return np.where(ok, index, -1)


def block_rates(recording: Recording) -> np.ndarray:
    """Each block's sampling rate: SAMPLES' RATE, else the median step of its samples."""
    rates = []
    for i, block in enumerate(recording.blocks):
        if block.rate:
            rates.append(block.rate)
            continue
        steps = np.diff(recording.samples.loc[recording.samples["block"] == i, "time"].to_numpy())
        steps = steps[steps > 0]
        rates.append(1000.0 / float(np.median(steps)) if len(steps) else math.nan)
    return np.array(rates, dtype=float)
