"""The eye-tracking analysis: load, check, measure every trial, compare conditions, score maps.

What the figures need to redraw with another σ, opacity or weighting (the fixation table, the
stimuli's thumbnails and masks) is part of the result, so display options never recompute.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from analyses.core import Context, Result

from . import MEASURES, aois, dispersion, loaders, maps, saliency, stats
from .fixations import Dataset, real_condition
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
        cell = maps.display_cell(stim.width, stim.height)
        shape = maps.grid_shape(stim.width, stim.height, cell)
        r, c, inside = maps.cells(group["x"], group["y"], shape, cell)
        if not inside.any():
            continue
        human = maps.density_stack(np.zeros(inside.sum(), int), group["x"][inside], group["y"][inside],
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


def compute(params: Mapping[str, Any], ctx: Context) -> Result:
    ctx.report(0.02, "loading the recordings")
    dataset = loaders.load(params, Screen.from_params(params))
    screen = dataset.screen or Screen.from_params(params)  # an ASC file's own GAZE_COORDS win over the form
    fix = dataset.fixations
    conditions = sorted(fix["condition"].unique())
    real = real_condition(conditions)
    fakes = [c for c in conditions if c != real] if real is not None else []
    stimuli_table, arrays = _thumbnails(dataset)
    preview = getattr(ctx, "preview", None)
    if preview is not None:  # the heatmap and scanpath can be drawn as soon as the fixations are in
        preview(Result(tables={"fixations": fix, "stimuli": stimuli_table, "notes": pd.DataFrame(
            [{"key": "simulated", "value": str(dataset.simulated)}])}, arrays=arrays))
    ctx.report(0.25, f"measuring {fix.groupby(['subject', 'stimulus', 'condition']).ngroups} trials")
    trials = dispersion.per_trial(fix, dataset.stimuli, screen.px_per_deg, params["entropy_sigma_deg"])
    measures = [m for m in MEASURES if m in trials and trials[m].notna().any()]

    ctx.report(0.45, "testing conditions")
    means = stats.image_means(trials, measures)
    tests = friedman = mixed = pd.DataFrame()
    mixed_note = "needs a real (original) condition and at least one manipulated one"
    if real is not None and fakes:
        tests = stats.condition_tests(means, measures, real, fakes, params["bootstrap"], params["seed"])
        friedman = stats.friedman(means, measures, conditions)
        ctx.report(0.6, "fitting mixed models")
        mixed, mixed_note = stats.mixed_models(trials, [m for m in measures if m != "n_fixations"], real)

    ctx.report(0.75, "areas of interest")
    sets, aoi_source = aoi_sets(dataset, params)
    aoi_tables, aoi_metrics = aoi_analysis(fix, sets, real, fakes, params["bootstrap"], params["seed"])

    ctx.report(0.8, "saliency metrics")
    scores = saliency_scores(dataset, screen, params["entropy_sigma_deg"], real)

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
    )
