"""Small EyeLink ASC files written the way edf2asc writes them, with fixations of known place and length.

Each trial is a list of fixations (x, y, samples); between fixations the gaze jumps in a 12-sample
saccade. EFIX lines carry EyeLink's duration column, end − start + 1 at 1000 Hz.
"""

from __future__ import annotations

from pathlib import Path

HEADER = """** CONVERTED FROM TEST.EDF using edfapi 4.2 on Mon Nov 30 06:00:00 2026
** DATE: Mon Nov 30 06:00:00 2026
** TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED
** VERSION: EYELINK II 1
** SOURCE: EYELINK CL
** RECORDED BY labscope-tests
**

"""


def _eye_fields(x, y, eyes):
    one = f"{x:8.1f}\t{y:8.1f}\t  400.0" if x is not None else "   .\t   .\t    0.0"
    return "\t".join([one] * len(eyes))


def block(t0: float, fixations, eyes=("LEFT",), rate=1000, lost_eye=None, saccade_samples=12):
    """Lines of one START … END block from t0; returns (lines, the EFIX tuples, the time after the block)."""
    step = 1000 / rate
    tag = "\t".join(eyes)
    lines = [f"START\t{t0:.0f} \t{tag}\tSAMPLES\tEVENTS", "PRESCALER\t1", "VPRESCALER\t1", "PUPIL\tAREA",
             f"EVENTS\tGAZE\t{tag}\tRATE\t{rate:.2f}\tTRACKING\tCR\tFILTER\t2",
             f"SAMPLES\tGAZE\t{tag}\tRATE\t{rate:.2f}\tTRACKING\tCR\tFILTER\t2"]
    t = t0
    efix = []
    previous = None
    for x, y, n in fixations:
        if previous is not None:  # a saccade from the previous fixation
            for k in range(1, saccade_samples + 1):
                f = k / (saccade_samples + 1)
                px, py = previous[0] + f * (x - previous[0]), previous[1] + f * (y - previous[1])
                lines.append(f"{t:.0f}\t" + _eye_fields(px, py, eyes) + "\t...")
                t += step
        start = t
        for eye in eyes:
            lines.append(f"SFIX {eye[0]}   {start:.0f}")
        for _ in range(n):
            lines.append(f"{t:.0f}\t" + _eye_fields(None if lost_eye else x, None if lost_eye else y, eyes) + "\t...")
            t += step
        end = t - step
        for eye in eyes:
            duration = end - start + 1
            lines.append(f"EFIX {eye[0]}   {start:.0f}\t{end:.0f}\t{duration:.0f}\t  {x:.1f}\t  {y:.1f}\t   400")
            efix.append((eye[0], start, end, duration, x, y))
        previous = (x, y)
    lines.append(f"END\t{t:.0f} \tSAMPLES\tEVENTS\tRES\t  38.00\t  35.00")
    return lines, efix, t + 100


def write(path: Path, trials, convention="trialid", screen=(1280, 1024), eyes=("LEFT",), message="start_trial",
          display_only=False, rates=None, extra_messages=None) -> list[tuple]:
    """Write an ASC file; `trials` is a list of fixation lists. convention: trialid, blocks or message.

    Returns every EFIX written as (eye, start, end, duration, x, y, trial index).
    """
    w, h = screen
    lines = [HEADER.rstrip("\n"), f"MSG\t1000 DISPLAY_COORDS 0 0 {w - 1} {h - 1}"]
    t = 2000.0
    efix_all = []
    if convention == "message":  # one long recording block, trials marked by the lab's own message
        all_lines, fixations = [], []
        for i, trial in enumerate(trials):
            fixations.extend(trial)
        body, efix, t_end = block(t, fixations, eyes)
        # insert a message before the first SFIX of each trial's first fixation
        counts = [len(tr) for tr in trials]
        starts = [e[1] for e in efix if e[0] == eyes[0][0]]
        boundaries, k = [], 0
        for i, c in enumerate(counts):
            boundaries.append(starts[k] - 5)
            k += c
        out = []
        inserted = 0
        for line in body:
            if line.startswith("SAMPLES") and not display_only:
                out.append(line)
                out.append(f"MSG\t{t:.0f} GAZE_COORDS 0.00 0.00 {w - 1:.2f} {h - 1:.2f}")
                continue
            if inserted < len(boundaries) and line[:1].isdigit() and float(line.split()[0]) >= boundaries[inserted]:
                out.append(f"MSG\t{boundaries[inserted]:.0f} {message} {inserted + 1}")
                inserted += 1
            out.append(line)
        lines += out
        k = 0
        for i, c in enumerate(counts):
            for e in [e for e in efix][k * len(eyes):(k + c) * len(eyes)]:
                efix_all.append((*e, i))
            k += c
    else:
        for i, trial in enumerate(trials):
            if convention == "trialid":
                lines.append(f"MSG\t{t - 50:.0f} TRIALID {i + 1}")
            if not display_only:
                lines.append(f"MSG\t{t - 10:.0f} GAZE_COORDS 0.00 0.00 {w - 1:.2f} {h - 1:.2f}")
            parts = trial if isinstance(trial, tuple) else (trial,)  # a tuple: several blocks in one trial
            for j, part in enumerate(parts):
                rate = (rates or {}).get((i, j), 1000)
                body, efix, t = block(t, part, eyes, rate=rate)
                lines += body
                efix_all += [(*e, i) for e in efix]
            for name, value in (extra_messages or {}).get(i, {}).items():  # after the recording, as Experiment
                lines.append(f"MSG\t{t - 60:.0f} !V TRIAL_VAR {name} {value}")  # Builder writes them
            lines.append(f"MSG\t{t - 50:.0f} TRIAL_RESULT 0")
    path.write_text("\n".join(lines) + "\n")
    return efix_all
