"""One entry point for every input: the demo, the paper's layout, fixation tables, samples, EyeLink ASC.

Every loader ends in `fixations.validate`, so bad rows get the same messages whatever the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from analyses.core.errors import InputError

from . import demo, detection, eyekit_json, paper_layout, tables
from .fixations import Dataset, Stimulus, real_condition, validate
from .geometry import Screen

FORMATS = {".zip": "paper", ".pickle": "paper", ".pkl": "paper", ".asc": "asc", ".json": "eyekit",
           ".csv": "table", ".tsv": "table", ".txt": "table", ".parquet": "table"}


def detect_format(path: Path, requested: str) -> str:
    if requested != "auto":
        return requested
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"unknown file type {path.suffix!r}; expected one of {', '.join(FORMATS)}", file=path.name)
    if kind == "table":  # raw samples carry a time stamp and no fixation duration
        found = tables.guess_mapping(tables.read_table(path).columns)
        kind = "samples" if "time" in found and not {"duration", "start"} & set(found) else "fixations"
    return kind


def complete_masks(stimuli: dict[tuple[str, str], Stimulus], problems: list[dict]) -> None:
    """Masks missing from the dataset are derived from |original - edited|; the original image gets the
    union of its edits' masks (the region that was edited elsewhere), so its share can be compared."""
    by_image: dict[str, dict[str, Stimulus]] = {}
    for (name, cond), stim in stimuli.items():
        by_image.setdefault(name, {})[cond] = stim
    for name, conds in by_image.items():
        real = real_condition(conds)
        if real is None:
            continue
        original = conds[real]
        derived = []
        for cond, stim in conds.items():
            if cond == real:
                continue
            if stim.mask is None and stim.image is not None and original.image is not None:
                stim.mask = paper_layout.derive_mask(original.image, stim.image)
                if stim.mask.shape != (stim.height, stim.width):
                    stim.mask = None
                else:
                    derived.append(cond)
        if derived:
            problems.append({"problem": "no mask given: derived from |original - edited| (info)",
                             "where": f"{name}: {', '.join(derived)}", "count": len(derived)})
        if original.mask is None:
            masks = [s.mask for c, s in conds.items() if c != real and s.mask is not None
                     and s.mask.shape == (original.height, original.width)]
            if masks:
                original.mask = np.logical_or.reduce(masks)


def _named(exc: InputError, name: str) -> InputError:
    """The same error with the file's name, for checks that see only the table."""
    return exc if exc.file else InputError(exc.problem, file=name, row=exc.row, column=exc.column, item=exc.item)


def load(params: Mapping[str, Any], screen: Screen) -> Dataset:
    path = params.get("data_path")
    if not path:
        dataset = demo.load(params, screen)
        dataset.fixations = validate(dataset.fixations, dataset.stimuli, params["out_of_bounds"], dataset.problems,
                                     source="simulated")
        return dataset
    path = Path(path)
    kind = detect_format(path, params["data_format"])
    problems: list[dict] = []
    notes: dict[str, str] = {}
    extra: dict = {}
    unit = params.get("time_unit", "ms")
    if kind == "paper":
        if path.suffix.lower() == ".zip":
            table, stimuli, problems = paper_layout.load_zip(path, (screen.width_px, screen.height_px))
        else:
            table, stimuli, problems = paper_layout.load_pickle(path, (screen.width_px, screen.height_px))
        complete_masks(stimuli, problems)
        source = "paper"
    else:
        if kind == "asc":
            found = detection.from_asc(path, screen, params)
            table, screen, notes, problems = found.table, found.screen, found.notes, found.problems
            extra = {"recording_trials": found.trials, "saccades": found.saccades}
            source = "asc"
        elif kind == "samples":
            table = detection.from_samples(tables.sample_table(path, unit), screen, params, path.name)
            source = "detected"
        elif kind == "fixations":
            table = tables.fixation_table(path, unit)
            source = "table"
        elif kind == "eyekit":
            table, problems = eyekit_json.load(path)
            notes["duration_convention"] = "eyekit: end − start"
            source = "eyekit"
        else:
            raise InputError(f"data_format {kind!r} does not fit this file", file=path.name)
        if kind in ("fixations", "samples"):
            notes["duration_convention"] = "the table's duration column, else end − start"
            notes["time_unit"] = unit
        keys = {(str(s), str(c)) for s, c in zip(table.get("stimulus", ["stimulus"] * len(table)),
                                               table.get("condition", ["original"] * len(table)))}
        stimuli = {key: Stimulus(screen.width_px, screen.height_px) for key in keys}
    try:
        fixations = validate(table, stimuli, params["out_of_bounds"], problems, source=source)
    except InputError as exc:
        raise _named(exc, path.name) from None
    return Dataset(fixations, stimuli, source=f"{path.name} ({kind})", problems=problems, screen=screen, notes=notes,
                   extra_tables=extra)
