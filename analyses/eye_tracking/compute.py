"""The eye-tracking analysis: load, check, measure every trial, compare conditions, score maps.

What the figures need to redraw with another σ, opacity or weighting (the fixation table, the
stimuli's thumbnails and masks) is part of the result, so display options never recompute.
The computation is cached stages (load -> maps -> statistics; load -> saliency_metrics; load ->
areas_of_interest), so a changed entropy σ, bootstrap or AOI setting never reloads or re-detects.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result
from analyses.core.stages import Pipeline, stage_report

from . import MEASURES, aois, dispersion, loaders, saliency, stage_io, stats
from . import maps as density
from .fixations import Dataset, Stimulus, real_condition
from .geometry import Screen

THUMB_SIDE = 320  # longest side of the stored pictures (display only; measures use full resolution)


def _thumbnails(dataset: Dataset) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    from PIL import Image

    side = THUMB_SIDE if len(dataset.stimuli) <= 200 else THUMB_SIDE // 2
    rows, arrays = [], {}
    for i, ((name, cond), stim) in enumerate(sorted(dataset.stimuli.items())):
        row = {"stimulus": name, "condition": cond, "width": stim.width, "height": stim.height, "image": "", "mask": ""}
        scale = min(1.0, side / max(stim.width, stim.height))
        size = (max(1, round(stim.width * scale)), max(1, round(stim.height * scale)))
        if stim.image is not None:
            row["image"] = f"image_{i}"
            arrays[row["image"]] = np.asarray(Image.fromarray(stim.image).resize(size, Image.BILINEAR))
        if stim.mask is not None:
            row["mask"] = f"mask_{i}"
            arrays[row["mask"]] = np.asarray(Image.fromarray(stim.mask.astype(np.uint8) * 255).resize(size)) > 127
        rows.append(row)
    return pd.DataFrame(rows), arrays


def _to_grid(full: np.ndarray, shape: tuple[int, int], cell: int) -> np.ndarray:
    """A per-pixel map averaged over the grid's cells (zero-padded at the right and bottom edges)."""
    padded = np.pad(full, ((0, shape[0] * cell - full.shape[0]), (0, shape[1] * cell - full.shape[1])))
    return padded.reshape(shape[0], cell, shape[1], cell).mean(axis=(1, 3))


def saliency_scores(dataset: Dataset, screen: Screen, sigma_deg: float, real: str | None) -> pd.DataFrame:
    """Per stimulus and condition: how well a predictor's map matches the observers' pooled fixations.

    Predictors: the spectral-residual model (where there is a picture), a saliency map shipped with the
    dataset, the centre-bias baseline, and, on a manipulated image, the observers' map on the real image. Maps on a grid of display cells.
    """
    fix = dataset.fixations
    ppd = screen.px_per_deg
    rows = []
    human_maps = {}
    for (name, cond), group in fix.groupby(["stimulus", "condition"], sort=False):
        stim = dataset.stimuli[(name, cond)]
        cell = density.display_cell(stim.width, stim.height)
        shape = density.grid_shape(stim.width, stim.height, cell)
        r, c, inside = density.cells(group["x"], group["y"], shape, cell)
        if not inside.any():
            continue
        human = density.density_stack(np.zeros(inside.sum(), int), group["x"][inside], group["y"][inside],
                                   np.ones(inside.sum()), 1, shape, cell, sigma_deg * ppd)[0]
        human_maps[(name, cond)] = (human, r[inside], c[inside], cell, shape)
    for (name, cond), (human, r, c, cell, shape) in human_maps.items():
        stim = dataset.stimuli[(name, cond)]
        baseline = saliency.centre_bias(shape, (shape[1] / 4))  # σ a quarter of the width, in cells
        predictors = {"centre_bias": baseline}
        if stim.image is not None:
            predictors["spectral_residual"] = _to_grid(saliency.spectral_residual(stim.image), shape, cell)
        if stim.saliency is not None:
            predictors["dataset_saliency"] = _to_grid(stim.saliency, shape, cell)
        if real is not None and cond != real and (name, real) in human_maps and human_maps[(name, real)][4] == shape:
            predictors["real_observers"] = human_maps[(name, real)][0]
        for predictor, pmap in predictors.items():
            rows.append({"stimulus": name, "condition": cond, "predictor": predictor, "n_fixations": len(r),
                         "NSS": saliency.nss(pmap, r, c), "AUC_Judd": saliency.auc_judd(pmap, r, c),
                         "CC": saliency.cc(pmap, human), "KL": saliency.kl_divergence(pmap, human),
                         "SIM": saliency.sim(pmap, human),
                         "IG": saliency.information_gain(pmap, baseline, r, c)})
    return pd.DataFrame(rows)


def aoi_sets(dataset: Dataset, params: Mapping[str, Any]) -> tuple[dict, str]:
    """The AOIs of every stimulus and where they came from."""
    source = params.get("aoi_source", "auto")
    if source == "none":
        return {}, "none"
    if source == "file" or (source == "auto" and params.get("aoi_file")):
        if not params.get("aoi_file"):
            from analyses.core.errors import InputError

            raise InputError("aoi_source=file needs an AOI file (aoi_file)")
        return aois.for_stimuli(aois.read_file(params["aoi_file"]), dataset.stimuli), "file"
    masks = aois.from_masks(dataset.stimuli)
    if source == "masks" or (source == "auto" and masks):
        return masks, "masks"
    return aois.grid(dataset.stimuli, params["aoi_grid"]), f"grid {params['aoi_grid']}×{params['aoi_grid']}"


def aoi_analysis(fix: pd.DataFrame, sets: dict, real: str | None, fakes: list[str], bootstrap: int,
                 seed: int) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Per trial and AOI measures, transitions with their entropy, and real vs manipulated dwell per AOI."""
    if not sets:
        return {}, {}
    labels = aois.label(fix, sets)
    measures = aois.trial_measures(fix, labels, sets)
    counts = aois.transition_counts(fix, labels)
    metrics: dict[str, float] = {}
    h_t, h_s = aois.transition_entropy(counts)
    metrics.update(aoi_transition_entropy_bits=h_t, aoi_stationary_entropy_bits=h_s,
                   aoi_count=len({a.name for v in sets.values() for a in v}),
                   aoi_outside_share=float((labels == aois.OUTSIDE).mean()))
    for cond, part in counts.groupby("condition"):
        if counts["condition"].nunique() > 1:
            metrics[f"aoi_transition_entropy_bits_{cond}"] = aois.transition_entropy(part)[0]
    value = "dwell_share" if measures["dwell_share"].notna().any() else "fixation_share"
    summary = (measures.groupby(["condition", "aoi"])
               .agg(trials=("subject", "size"), fixation_count_mean=("fixation_count", "mean"),
                    fixation_share_mean=("fixation_share", "mean"), dwell_time_ms_mean=("dwell_time_ms", "mean"),
                    dwell_share_mean=("dwell_share", "mean"),
                    first_fixation_time_ms_mean=("first_fixation_time_ms", "mean"),
                    revisits_mean=("revisits", "mean")).reset_index())
    tests = pd.DataFrame()
    if real is not None and fakes:
        wide = measures.pivot_table(index=["subject", "stimulus", "condition"], columns="aoi", values=value,
                                    aggfunc="first").reset_index()
        names = [c for c in wide.columns if c not in ("subject", "stimulus", "condition")]
        means = stats.image_means(wide, names)
        tests = stats.condition_tests(means, names, real, fakes, bootstrap, seed)
        if not tests.empty:
            tests = tests.rename(columns={"measure": "aoi"}).assign(measure=value)
    return {"aoi_measures": measures, "aoi_summary": summary, "aoi_transitions": counts, "aoi_tests": tests}, metrics


def fixation_metrics(fix: pd.DataFrame, recording_trials: pd.DataFrame | None, n_trials: int) -> dict[str, float]:
    """Counts and durations a researcher checks against the tracker's own report, overall and per condition."""
    out = {"trials_total": len(recording_trials) if recording_trials is not None else n_trials,
           "fixations_total": len(fix)}
    durations = fix["duration"].to_numpy(float)
    if np.isfinite(durations).any():
        out["fixation_duration_mean_ms"] = float(np.nanmean(durations))
        out["fixation_duration_median_ms"] = float(np.nanmedian(durations))
        if fix["condition"].nunique() > 1:
            for cond, part in fix.groupby("condition"):
                d = part["duration"].to_numpy(float)
                if np.isfinite(d).any():
                    out[f"fixation_duration_mean_ms_{cond}"] = float(np.nanmean(d))
                    out[f"fixation_duration_median_ms_{cond}"] = float(np.nanmedian(d))
                out[f"fixations_total_{cond}"] = len(part)
    return out


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(float(v))}


LOAD_READS = ("data_path", "data_format", "time_unit", "trial_message", "fixations", "eye", "screen_from_file",
              "detection", "velocity_threshold", "dispersion_threshold", "min_fixation_ms", "screen_width_px",
              "screen_height_px", "screen_width_cm", "viewing_distance_cm", "out_of_bounds", "demo_images",
              "demo_observers", "demo_fixations", "edit_attraction", "ior_strength", "centre_bias_deg", "seed")
pipeline = Pipeline()


@pipeline.stage(reads=LOAD_READS, weight=3)
def load(ctx: Context, **params) -> Result:
    """Read the recording or table (or simulate the demo), detect fixations where asked, validate.

    Everything later stages need is in arrays: the fixation table column by column (stage_io), every
    stimulus's picture, mask and saliency map at full resolution, and the display thumbnails.
    """
    ctx.report(0.0, "loading the recordings")
    dataset = loaders.load(params, Screen.from_params(params))
    screen = dataset.screen or Screen.from_params(params)  # an ASC file's own GAZE_COORDS win over the form
    stimuli_table, thumbnails = _thumbnails(dataset)
    preview = getattr(ctx, "preview", None)
    if preview is not None:  # the heatmap and scanpath can be drawn as soon as the fixations are in
        preview(Result(tables={"fixations": dataset.fixations, "stimuli": stimuli_table, "notes": pd.DataFrame(
            [{"key": "simulated", "value": str(dataset.simulated)}])}, arrays=thumbnails))
    index, pictures = [], {}
    for i, ((name, cond), stim) in enumerate(dataset.stimuli.items()):
        index.append({"stimulus": name, "condition": cond, "width": stim.width, "height": stim.height})
        for kind in ("image", "mask", "saliency"):
            if getattr(stim, kind) is not None:
                pictures[f"stimulus/{i}/{kind}"] = np.asarray(getattr(stim, kind))
    frames = {"fixations": dataset.fixations, "stimulus_index": pd.DataFrame(
                  index, columns=["stimulus", "condition", "width", "height"]),
              "stimuli": stimuli_table,
              "problems": pd.DataFrame(dataset.problems, columns=["problem", "where", "count"]),
              "dataset_notes": pd.DataFrame(list(dataset.notes.items()), columns=["key", "value"]),
              "source": pd.DataFrame([{"source": dataset.source}]),
              **{f"extra:{name}": table for name, table in dataset.extra_tables.items()}}
    return Result(metrics={"simulated": float(dataset.simulated), "screen_width_px": screen.width_px,
                           "screen_height_px": screen.height_px, "screen_width_cm": screen.width_cm,
                           "distance_cm": screen.distance_cm},
                  arrays={**stage_io.frames_to_arrays(frames), **pictures,
                          **{f"thumbnail/{name}": array for name, array in thumbnails.items()}})


def _dataset(load: Result) -> tuple[Dataset, Screen, pd.DataFrame, dict[str, np.ndarray]]:
    """The loaded dataset and screen, the thumbnails' table and arrays, as the load stage stored them."""
    frames = stage_io.frames_from_arrays(load.arrays)
    stimuli = {}
    for i, row in frames["stimulus_index"].iterrows():
        pictures = {kind: load.arrays.get(f"stimulus/{i}/{kind}") for kind in ("image", "mask", "saliency")}
        stimuli[(row["stimulus"], row["condition"])] = Stimulus(int(row["width"]), int(row["height"]), **pictures)
    m = load.metrics
    dataset = Dataset(frames["fixations"], stimuli, source=str(frames["source"]["source"].iloc[0]),
                      simulated=bool(m["simulated"]),
                      problems=frames["problems"].to_dict("records"),
                      notes=dict(zip(frames["dataset_notes"]["key"], frames["dataset_notes"]["value"])),
                      extra_tables={name.removeprefix("extra:"): t for name, t in frames.items()
                                    if name.startswith("extra:")})
    screen = Screen(int(m["screen_width_px"]), int(m["screen_height_px"]), m["screen_width_cm"], m["distance_cm"])
    thumbnails = {name.removeprefix("thumbnail/"): a for name, a in load.arrays.items() if name.startswith("thumbnail/")}
    return dataset, screen, frames["stimuli"], thumbnails


def _conditions(fix: pd.DataFrame) -> tuple[list[str], str | None, list[str]]:
    conditions = sorted(fix["condition"].unique())
    real = real_condition(conditions)
    return conditions, real, ([c for c in conditions if c != real] if real is not None else [])


@pipeline.stage(reads=("entropy_sigma_deg",), after=("load",), weight=2)
def maps(ctx: Context, load: Result, *, entropy_sigma_deg) -> Result:
    """Per-trial fixation maps and the dispersion measures on them (entropy at σ, centroid, hull, BCEA...)."""
    dataset, screen, _, _ = _dataset(load)
    ctx.report(0.0, f"measuring {dataset.fixations.groupby(['subject', 'stimulus', 'condition']).ngroups} trials")
    trials = dispersion.per_trial(dataset.fixations, dataset.stimuli, screen.px_per_deg, entropy_sigma_deg)
    return Result(arrays=stage_io.frames_to_arrays({"trials": trials}))


@pipeline.stage(reads=("bootstrap", "seed"), after=("load", "maps"), weight=3)
def statistics(ctx: Context, load: Result, maps: Result, *, bootstrap, seed) -> Result:
    """Per-image means, paired tests with bootstrap CIs, Friedman and mixed models between conditions."""
    fix = stage_io.frame_from_arrays("fixations", load.arrays)
    trials = stage_io.frame_from_arrays("trials", maps.arrays)
    conditions, real, fakes = _conditions(fix)
    measures = [m for m in MEASURES if m in trials and trials[m].notna().any()]
    ctx.report(0.0, "testing conditions")
    means = stats.image_means(trials, measures)
    tests = friedman = mixed = pd.DataFrame()
    mixed_note = "needs a real (original) condition and at least one manipulated one"
    if real is not None and fakes:
        tests = stats.condition_tests(means, measures, real, fakes, bootstrap, seed)
        friedman = stats.friedman(means, measures, conditions)
        ctx.report(0.5, "fitting mixed models")
        mixed, mixed_note = stats.mixed_models(trials, [m for m in measures if m != "n_fixations"], real)
    return Result(arrays=stage_io.frames_to_arrays({"image_means": means, "tests": tests, "friedman": friedman,
                                                    "mixed_model": mixed,
                                                    "mixed_note": pd.DataFrame([{"note": mixed_note}])}))


@pipeline.stage(reads=("entropy_sigma_deg",), after=("load",), weight=2)
def saliency_metrics(ctx: Context, load: Result, *, entropy_sigma_deg) -> Result:
    """NSS, AUC, CC, KL, SIM and IG of each predictor's map against the observers' pooled fixations."""
    dataset, screen, _, _ = _dataset(load)
    ctx.report(0.0, "saliency metrics")
    real = _conditions(dataset.fixations)[1]
    return Result(arrays=stage_io.frames_to_arrays(
        {"saliency_metrics": saliency_scores(dataset, screen, entropy_sigma_deg, real)}))


@pipeline.stage(reads=("aoi_source", "aoi_file", "aoi_grid", "bootstrap", "seed"), after=("load",))
def areas_of_interest(ctx: Context, load: Result, *, aoi_source, aoi_file, aoi_grid, bootstrap, seed) -> Result:
    """AOIs from a file, the masks or a grid; dwell, transitions and real vs manipulated per AOI."""
    dataset, _, _, _ = _dataset(load)
    ctx.report(0.0, "areas of interest")
    _, real, fakes = _conditions(dataset.fixations)
    sets, source = aoi_sets(dataset, {"aoi_source": aoi_source, "aoi_file": aoi_file, "aoi_grid": aoi_grid})
    tables, metrics = aoi_analysis(dataset.fixations, sets, real, fakes, bootstrap, seed)
    return Result(metrics=metrics, arrays=stage_io.frames_to_arrays(
        {**tables, "aoi_source": pd.DataFrame([{"source": source}])}))


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    """The stages (load, maps, statistics, saliency_metrics, areas_of_interest), then the summary metrics."""
    results, records = pipeline.run(params, ctx)
    dataset, screen, stimuli_table, arrays = _dataset(results["load"])
    fix = dataset.fixations
    conditions, real, fakes = _conditions(fix)
    trials = stage_io.frame_from_arrays("trials", results["maps"].arrays)
    measures = [m for m in MEASURES if m in trials and trials[m].notna().any()]
    tested = stage_io.frames_from_arrays(results["statistics"].arrays)
    means, tests, friedman, mixed = (tested[n] for n in ("image_means", "tests", "friedman", "mixed_model"))
    mixed_note = str(tested["mixed_note"]["note"].iloc[0])
    aoi_tables = stage_io.frames_from_arrays(results["areas_of_interest"].arrays)
    aoi_source = str(aoi_tables.pop("aoi_source")["source"].iloc[0])
    aoi_metrics = results["areas_of_interest"].metrics
    scores = stage_io.frame_from_arrays("saliency_metrics", results["saliency_metrics"].arrays)

    metrics: dict[str, Any] = {
        "n_subjects": fix["subject"].nunique(), "n_stimuli": fix["stimulus"].nunique(),
        "n_conditions": len(conditions), "n_trials": len(trials), "n_fixations": len(fix),
        "px_per_deg": screen.px_per_deg, "simulated": float(dataset.simulated),
        "problems": sum(p["count"] for p in dataset.problems),
        "screen_width_px": screen.width_px, "screen_height_px": screen.height_px,
        **fixation_metrics(fix, dataset.extra_tables.get("recording_trials"), len(trials)),
        **aoi_metrics,
    }
    if real is not None:
        is_real = trials["condition"] == real
        for m in ("entropy", "centroid_distance", "bcea", "mask_share"):
            if m in measures:
                metrics[f"{m}_real_mean"] = trials.loc[is_real, m].mean()
                if fakes:
                    metrics[f"{m}_fake_mean"] = trials.loc[~is_real, m].mean()
    if not tests.empty:
        pooled = tests[(tests["measure"] == "entropy") & (tests["condition"] == (stats.FAKE if len(fakes) > 1 else fakes[0]))]
        if len(pooled):
            metrics["dispersion_test_p"] = pooled["p"].iloc[0]
            metrics["dispersion_test_n"] = pooled["n_images"].iloc[0]
            metrics["dispersion_effect_dz"] = pooled["dz"].iloc[0]
    if not friedman.empty and (friedman["measure"] == "entropy").any():
        metrics["friedman_entropy_p"] = friedman.loc[friedman["measure"] == "entropy", "p"].iloc[0]
    if not scores.empty:
        for predictor, part in scores.groupby("predictor"):
            metrics[f"nss_{predictor}_mean"] = part["NSS"].mean()
            metrics[f"auc_judd_{predictor}_mean"] = part["AUC_Judd"].mean()

    if dataset.simulated:  # exported tables say so themselves
        fix, trials, means, tests = (t.assign(simulated=True) if len(t) else t for t in (fix, trials, means, tests))
    problems = pd.DataFrame(dataset.problems, columns=["problem", "where", "count"])
    notes = pd.DataFrame([{"key": "source", "value": dataset.source},
                          {"key": "simulated", "value": str(dataset.simulated)},
                          {"key": "real_condition", "value": real or ""},
                          {"key": "mixed_model", "value": mixed_note},
                          {"key": "screen", "value": f"{screen.width_px}×{screen.height_px} px"},
                          {"key": "aoi_source", "value": aoi_source},
                          *({"key": k, "value": v} for k, v in dataset.notes.items())])
    return Result(
        metrics=_finite(metrics),
        tables={"fixations": fix, "trials": trials, "image_means": means, "tests": tests, "friedman": friedman,
                "mixed_model": mixed, "saliency_metrics": scores, "stimuli": stimuli_table, "problems": problems,
                "notes": notes, **dataset.extra_tables, **aoi_tables},
        arrays=arrays,
        provenance={"stages": stage_report(records)},
    )
