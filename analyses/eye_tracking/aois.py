"""Areas of interest: which AOI each fixation falls in, and per trial and AOI what eye-tracking reports give.

AOIs come from a user's file (rectangles or polygons per stimulus, or an EyeLink Data Viewer `.ias` file
for every stimulus), from the dataset's edit masks (the edited region), or from a grid over the stimulus.
A fixation belongs to the first AOI (in the file's order) that contains it, else to "outside".

Per trial and AOI (as Data Viewer's interest-area report defines them): fixation count and share, dwell
time (sum of fixation durations) and its share of the trial's, time to first fixation (its onset minus
the trial's first onset, where onsets are known) and the first fixation's place in the sequence, visits
(runs of consecutive fixations inside) and revisits (visits − 1). Between AOIs: the matrix of transitions
between consecutive fixations and its entropy, H_t = −Σ_i π_i Σ_j p_ij log2 p_ij with p_ij the row-
normalised matrix and π_i the share of transitions leaving i (Krejtz et al. 2015), and the stationary
entropy H_s = −Σ_i π_i log2 π_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.core.errors import InputError

from .fixations import Stimulus

OUTSIDE = "outside"
ALL = "*"
MAX_AOIS = 500
KEYS = ["subject", "stimulus", "condition"]


@dataclass(frozen=True)
class Aoi:
    name: str
    stimulus: str = ALL              # the stimulus it belongs to, or every stimulus
    points: tuple = ()               # polygon vertices (x, y); a rectangle has four
    mask: np.ndarray | None = None   # or a per-pixel mask of the stimulus

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.mask is not None:
            cols, rows = np.floor(x).astype(int), np.floor(y).astype(int)
            ok = (rows >= 0) & (rows < self.mask.shape[0]) & (cols >= 0) & (cols < self.mask.shape[1])
            inside = np.zeros(len(x), bool)
            inside[ok] = self.mask[rows[ok], cols[ok]]
            return inside
        from matplotlib.path import Path as Polygon

        return Polygon(np.asarray(self.points, float)).contains_points(np.column_stack([x, y]), radius=1e-9)


def rectangle(name: str, left: float, top: float, right: float, bottom: float, stimulus: str = ALL) -> Aoi:
    return Aoi(name, stimulus, ((left, top), (right, top), (right, bottom), (left, bottom)))


def grid(stimuli: dict[tuple[str, str], Stimulus], n: int) -> dict[tuple[str, str], list[Aoi]]:
    """n × n equal cells over each stimulus, named r<row>c<col> from the top left."""
    out = {}
    for key, stim in stimuli.items():
        w, h = stim.width / n, stim.height / n
        out[key] = [rectangle(f"r{r + 1}c{c + 1}", c * w, r * h, (c + 1) * w, (r + 1) * h) for r in range(n)
                    for c in range(n)]
    return out


def from_masks(stimuli: dict[tuple[str, str], Stimulus]) -> dict[tuple[str, str], list[Aoi]]:
    """The edited region of each stimulus that has a mask (on an original: the region edited elsewhere)."""
    return {key: [Aoi("edited region", mask=stim.mask)] for key, stim in stimuli.items()
            if stim.mask is not None and stim.mask.any()}


def _number(value, file: str, row: int, column: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{value!r:.30} is not a number", file=file, row=row, column=column) from None
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(number):
        raise InputError(f"{value!r:.30} is not a finite number", file=file, row=row, column=column)
    return number


SHAPES = ("RECTANGLE", "ELLIPSE", "FREEHAND")


def _is_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def _read_ias(path: Path) -> list[Aoi]:
    """EyeLink Data Viewer interest areas: RECTANGLE id left top right bottom label; ELLIPSE likewise (its
    bounding box as a 32-gon); FREEHAND id x,y x,y ... label. Tab- or space-separated; # comments; a
    header line and a dynamic area's leading time window are skipped. Areas sharing a name count as one."""
    aois = []
    seen_area = False
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig", errors="strict").splitlines(), start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        at = next((i for i, t in enumerate(tokens) if t.upper() in SHAPES), None)
        if at is None or not all(_is_number(t) for t in tokens[:at]):
            if not seen_area and at is None and not any(map(_is_number, tokens)):  # a header (pymovements')
                seen_area = True
                continue
            raise InputError(f"not an interest area line (RECTANGLE, ELLIPSE or FREEHAND): {line[:60]!r}",
                             file=path.name, row=lineno)
        seen_area = True
        tokens = tokens[at:]  # leading numbers: a dynamic area's time window, not used here
        kind = tokens[0].upper()
        if kind in ("RECTANGLE", "ELLIPSE") and len(tokens) >= 6:
            left, top, right, bottom = (_number(t, path.name, lineno, kind) for t in tokens[2:6])
            name = " ".join(tokens[6:]) or tokens[1]
            if right <= left or bottom <= top:
                raise InputError(f"right/bottom ({right:g}, {bottom:g}) not beyond left/top ({left:g}, {top:g})",
                                 file=path.name, row=lineno)
            if kind == "RECTANGLE":
                aois.append(rectangle(name, left, top, right, bottom))
            else:
                angles = np.linspace(0, 2 * np.pi, 33)[:-1]
                cx, cy, rx, ry = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
                aois.append(Aoi(name, ALL, tuple(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles)))))
        elif kind == "FREEHAND" and len(tokens) >= 5:
            pairs = [t for t in tokens[2:] if "," in t]
            points = tuple((_number(p.split(",")[0], path.name, lineno, kind), _number(p.split(",")[1], path.name,
                                                                                   lineno, kind)) for p in pairs)
            name = " ".join(t for t in tokens[2:] if "," not in t) or tokens[1]
            if len(points) < 3:
                raise InputError("a FREEHAND area needs at least 3 points", file=path.name, row=lineno)
            aois.append(Aoi(name, ALL, points))
        else:
            raise InputError(f"a {kind} line without its coordinates: {line[:60]!r}", file=path.name, row=lineno)
    return aois


def read_file(path: str | Path) -> list[Aoi]:
    """A table of AOIs: columns aoi (name), optionally stimulus, and left, top, right, bottom (a rectangle)
    or points ("x y; x y; ..." or "x,y x,y ...", a polygon); or a Data Viewer .ias file."""
    from . import tables

    path = Path(path)
    if path.suffix.lower() == ".ias":
        aois = _read_ias(path)
    else:
        table = tables.read_table(path)
        table.columns = [str(c).strip().lower() for c in table.columns]
        name_col = next((c for c in ("aoi", "name", "label", "interest_area", "ia") if c in table.columns), None)
        if name_col is None:
            raise InputError("no AOI name column (aoi, name or label)", file=path.name)
        rect = {"left", "top", "right", "bottom"} <= set(table.columns)
        if not rect and "points" not in table.columns:
            raise InputError("AOIs need left, top, right, bottom columns (rectangles) or a points column "
                             "(polygons)", file=path.name)
        aois = []
        for row, record in table.iterrows():
            name = str(record[name_col]).strip()
            if not name or name == "nan" or not name.isprintable():
                raise InputError("a blank or unprintable AOI name", file=path.name, row=row, column=name_col)
            stimulus = str(record["stimulus"]) if "stimulus" in table.columns and pd.notna(record["stimulus"]) \
                and str(record["stimulus"]).strip() not in ("", ALL) else ALL
            if rect and not ("points" in table.columns and pd.notna(record.get("points"))):
                left, top, right, bottom = (_number(record[c], path.name, row, c)
                                            for c in ("left", "top", "right", "bottom"))
                if right <= left or bottom <= top:
                    raise InputError(f"right/bottom ({right:g}, {bottom:g}) not beyond left/top ({left:g}, {top:g})",
                                     file=path.name, row=row)
                aois.append(rectangle(name, left, top, right, bottom, stimulus))
            else:
                text = str(record["points"]).replace(";", " ").replace(",", " ").split()
                numbers = [_number(t, path.name, row, "points") for t in text]
                if len(numbers) < 6 or len(numbers) % 2:
                    raise InputError("a polygon needs at least 3 points, each x and y", file=path.name, row=row,
                                     column="points")
                aois.append(Aoi(name, stimulus, tuple(zip(numbers[::2], numbers[1::2]))))
    if not aois:
        raise InputError("no areas of interest in the file", file=path.name)
    if len(aois) > MAX_AOIS:
        raise InputError(f"{len(aois):,} areas of interest: more than {MAX_AOIS}", file=path.name)
    if OUTSIDE in {a.name for a in aois}:
        raise InputError(f"an AOI may not be named {OUTSIDE!r} (that is where fixations outside every AOI go)",
                         file=path.name)
    return aois


def for_stimuli(aois: list[Aoi], stimuli) -> dict[tuple[str, str], list[Aoi]]:
    out = {}
    for key in stimuli:
        chosen = [a for a in aois if a.stimulus in (ALL, key[0])]
        if chosen:
            out[key] = chosen
    return out


def label(fix: pd.DataFrame, aoi_sets: dict[tuple[str, str], list[Aoi]]) -> pd.Series:
    """The AOI of every fixation: the first that contains it, else OUTSIDE."""
    labels = pd.Series(OUTSIDE, index=fix.index, dtype=object)
    for key, part in fix.groupby(["stimulus", "condition"], sort=False):
        free = np.ones(len(part), bool)
        x, y = part["x"].to_numpy(float), part["y"].to_numpy(float)
        values = np.full(len(part), OUTSIDE, dtype=object)
        for aoi in aoi_sets.get(key, []):
            hit = free & aoi.contains(x, y)
            values[hit] = aoi.name
            free &= ~hit
        labels.loc[part.index] = values
    return labels


def trial_measures(fix: pd.DataFrame, labels: pd.Series, aoi_sets: dict) -> pd.DataFrame:
    """One row per trial and AOI (every AOI of the trial's stimulus, plus OUTSIDE): the report's measures."""
    fix = fix.assign(aoi=labels.to_numpy()).sort_values([*KEYS, "order"], kind="stable")
    trial = fix.groupby(KEYS, sort=False)
    start = trial["onset"].transform("min")
    new_visit = (fix["aoi"] != trial["aoi"].shift()).to_numpy()
    fix = fix.assign(since_start=fix["onset"] - start, visit_start=new_visit)
    grouped = fix.groupby([*KEYS, "aoi"], sort=False)
    found = pd.DataFrame({
        "fixation_count": grouped.size(),
        "dwell_time_ms": grouped["duration"].sum(min_count=1),
        "first_fixation_time_ms": grouped["since_start"].min(),
        "first_fixation_index": grouped["order"].min() + 1,
        "visits": grouped["visit_start"].sum(),
    })
    # every AOI of each trial's stimulus, unvisited ones with count 0
    trials = fix[KEYS].drop_duplicates()
    rows = []
    for subject, stimulus, condition in trials.itertuples(index=False):
        names = [a.name for a in aoi_sets.get((stimulus, condition), [])] + [OUTSIDE]
        rows += [(subject, stimulus, condition, name) for name in dict.fromkeys(names)]
    full = pd.DataFrame(rows, columns=[*KEYS, "aoi"]).set_index([*KEYS, "aoi"])
    out = full.join(found).reset_index()
    out["fixation_count"] = out["fixation_count"].fillna(0).astype(int)
    out["visits"] = out["visits"].fillna(0).astype(int)
    out["revisits"] = (out["visits"] - 1).clip(lower=0)
    totals = out.groupby(KEYS)["fixation_count"].transform("sum")
    out["fixation_share"] = out["fixation_count"] / totals
    known = fix.groupby(KEYS)["duration"].apply(lambda d: bool(np.isfinite(d.to_numpy(float)).all()))
    has_duration = out.set_index(KEYS).index.map(known).to_numpy(bool)
    out.loc[has_duration, "dwell_time_ms"] = out.loc[has_duration, "dwell_time_ms"].fillna(0.0)
    out.loc[~has_duration, "dwell_time_ms"] = np.nan
    dwell_total = out.groupby(KEYS)["dwell_time_ms"].transform("sum")
    out["dwell_share"] = np.where(has_duration, out["dwell_time_ms"] / dwell_total.where(dwell_total > 0), np.nan)
    return out[[*KEYS, "aoi", "fixation_count", "fixation_share", "dwell_time_ms", "dwell_share",
                "first_fixation_time_ms", "first_fixation_index", "visits", "revisits"]]


def transition_counts(fix: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """from_aoi, to_aoi, condition, count: consecutive fixations within a trial (staying counts as i -> i)."""
    ordered = fix.assign(aoi=labels.to_numpy()).sort_values([*KEYS, "order"], kind="stable")
    following = ordered.groupby(KEYS, sort=False)["aoi"].shift(-1)
    pairs = ordered.assign(to_aoi=following).dropna(subset=["to_aoi"])
    return (pairs.groupby(["condition", "aoi", "to_aoi"]).size().rename("count").reset_index()
            .rename(columns={"aoi": "from_aoi"}))


def transition_entropy(counts: pd.DataFrame) -> tuple[float, float]:
    """(H_t, H_s) in bits from a from × to count table (Krejtz et al. 2015)."""
    matrix = counts.pivot_table(index="from_aoi", columns="to_aoi", values="count", aggfunc="sum", fill_value=0)
    names = sorted(set(matrix.index) | set(matrix.columns))
    m = matrix.reindex(index=names, columns=names, fill_value=0).to_numpy(float)
    total = m.sum()
    if total == 0:
        return float("nan"), float("nan")
    rows = m.sum(axis=1)
    pi = rows / total
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(rows[:, None] > 0, m / rows[:, None], 0.0)
        h_rows = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
        h_s = -np.sum(np.where(pi > 0, pi * np.log2(pi), 0.0))
    return float(np.sum(pi * h_rows)), float(h_s)
