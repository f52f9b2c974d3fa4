"""Eye tracking on real and manipulated images: fixation heatmaps, dispersion, statistics, saliency metrics.

After "Unveiling the Truth: Exploring Human Gaze Patterns in Fake Images" (Cartella et al.): on
partially edited images observers fixate more confined regions than on real ones. This module only
declares the analysis; numpy, scipy, statsmodels and pymovements load when it runs.
"""

from __future__ import annotations

from pathlib import Path

from analyses.core import Analysis, Bool, Choice, Float, InputFile, Int, ParamSpec, Text, lazy

def _has_file(p) -> bool:
    return bool(p["data_path"])


def _detects(p) -> bool:
    """Fixations are detected here (not read from the file) for raw samples and EyeLink recordings."""
    return _has_file(p) and (p["data_format"] in ("samples", "asc")
                             or (p["data_format"] == "auto" and str(p["data_path"]).lower().endswith(".asc")))


def _is_asc(p) -> bool:
    return _has_file(p) and (p["data_format"] == "asc" or (p["data_format"] == "auto"
                                                           and str(p["data_path"]).lower().endswith(".asc")))


def _demo(p) -> bool:
    return not _has_file(p)


MEASURES = ("entropy", "centroid_distance", "hull_area", "bcea", "n_fixations", "mean_duration",
            "mask_share", "mask_dwell_share")

SPEC = ParamSpec((
    InputFile("data_path", label="Recordings",
              suffixes=(".zip", ".pickle", ".pkl", ".csv", ".tsv", ".txt", ".parquet", ".asc", ".json"),
              help="Empty: the simulated demo. The paper's layout as a .zip (gaze_data.pickle + images/ + masks/) "
                   "or a bare gaze_data.pickle; a fixation table (.csv/.tsv/.txt, e.g. an EyeLink Data Viewer "
                   "fixation report, or .parquet); an EyeLink .asc recording; eyekit's fixation-sequence .json.",
              section="Data"),
    Choice("data_format", "auto", choices=("auto", "paper", "fixations", "samples", "asc", "eyekit"),
           label="Data format",
           help="auto: from the file's suffix. samples: a table of raw gaze samples (time, x, y), "
                "fixations detected below.", section="Data", visible_if=_has_file),
    Choice("time_unit", "ms", choices=("ms", "s", "us"), label="Time unit of the table",
           help="Of a table's time columns (start/onset, end/offset, duration, sample time); results are in ms.",
           section="Data", visible_if=_has_file),
    Text("trial_message", "", label="Trial message (ASC)",
         help="Empty: TRIALID messages mark the trials, else each START … END recording block. Or the text of "
              "your own message that starts a trial, e.g. start_trial (the word after it names the trial).",
         section="Data", visible_if=_is_asc),
    Choice("fixations", "auto", choices=("auto", "tracker", "detect"), label="Fixations (ASC)",
           help="tracker: the file's own EFIX events (what Data Viewer reports). detect: re-detected from the "
                "samples below. auto: the tracker's when the file has them.", section="Data", visible_if=_is_asc),
    Choice("eye", "auto", choices=("auto", "left", "right", "average"), label="Eye (ASC)",
           help="auto: the recorded eye; with both, the left for the tracker's events and both averaged for "
                "re-detection. average needs detect.", section="Data", visible_if=_is_asc),
    Bool("screen_from_file", True, label="Screen size from the recording",
         help="Use the ASC file's GAZE_COORDS (else DISPLAY_COORDS) instead of the screen width/height below.",
         section="Screen geometry", visible_if=_is_asc),
    Choice("aoi_source", "auto", choices=("auto", "file", "masks", "grid", "none"), label="Areas of interest",
           help="file: the AOI file below. masks: the dataset's edited regions. grid: equal cells. auto: the file "
                "if given, else the masks where the data have them, else the grid.", section="Areas of interest"),
    InputFile("aoi_file", label="AOI file", suffixes=(".csv", ".tsv", ".txt", ".ias"),
              help="Rectangles (aoi, left, top, right, bottom) or polygons (aoi, points: 'x y; x y; ...') per "
                   "stimulus (column stimulus; empty: every stimulus), or an EyeLink Data Viewer .ias file.",
              section="Areas of interest", visible_if={"aoi_source": ("auto", "file")}),
    Int("aoi_grid", 3, min=1, max=12, label="AOI grid (cells per side)",
        help="With grid areas: the image is cut into this many cells per side.",
        section="Areas of interest", visible_if={"aoi_source": ("auto", "grid")}),
    Choice("detection", "idt", choices=("idt", "ivt"), label="Fixation detection",
           help="For ASC and raw samples: I-VT (velocity threshold) or I-DT (dispersion threshold), by pymovements.",
           section="Fixation detection", visible_if=_detects),
    Float("velocity_threshold", 20.0, min=1.0, max=1000.0, step=1.0, unit="°/s", label="I-VT velocity threshold",
          section="Fixation detection", visible_if=lambda p: _detects(p) and p['detection'] == 'ivt',
          help='I-VT: gaze samples moving slower than this (degrees of visual angle per second) belong to a fixation.'),
    Float("dispersion_threshold", 1.0, min=0.1, max=10.0, step=0.1, unit="°", label="I-DT dispersion threshold",
          section="Fixation detection", visible_if=lambda p: _detects(p) and p['detection'] == 'idt',
          help="I-DT: a run of gaze samples whose dispersion stays below this (degrees of visual angle) "
                "is a fixation."),
    Int("min_fixation_ms", 100, min=10, max=1000, step=10, label="Shortest fixation", unit="ms",
        section="Fixation detection", visible_if=_detects, help='Detected fixations shorter than this are dropped.'),
    Int("screen_width_px", 1920, min=100, max=10_000, label="Screen width", unit="px", section="Screen geometry",
        help="Horizontal resolution of the display the stimuli were shown on; with its physical width and the "
             "viewing distance it converts pixels to degrees of visual angle."),
    Int("screen_height_px", 1080, min=100, max=10_000, label="Screen height", unit="px", section="Screen geometry",
        help='Vertical resolution of the display.'),
    Float("screen_width_cm", 53.0, min=5.0, max=500.0, step=0.1, label="Screen width", unit="cm",
          section="Screen geometry", help="Physical width of the display's visible area."),
    Float("viewing_distance_cm", 65.0, min=10.0, max=500.0, step=0.5, label="Viewing distance", unit="cm",
          section="Screen geometry", help="Distance from the observer's eyes to the screen."),
    Choice("out_of_bounds", "keep", choices=("keep", "drop", "clip"), label="Fixations outside the image",
           help="Always reported, with the rows. keep: kept for the dispersion measures, never drawn on a map. "
                "drop: left out. clip: moved to the nearest border.", section="Data"),
    Float("entropy_sigma_deg", 1.0, min=0.1, max=5.0, step=0.1, unit="°", label="σ of the entropy map",
          help="Gaussian σ of the per-trial fixation map whose Shannon entropy is the dispersion measure.",
          section="Statistics"),
    Int("bootstrap", 2000, min=100, max=20_000, step=100, label="Bootstrap resamples",
        help="For the confidence intervals of the effect sizes.", section="Statistics"),
    Int("demo_images", 8, min=2, max=40, label="Demo: images",
        help="Simulated data: stimuli cut from two photographs.", section="Simulated demo", visible_if=_demo),
    Int("demo_observers", 12, min=2, max=60, label="Demo: observers", section="Simulated demo", visible_if=_demo,
        help='Simulated data: number of observers.'),
    Int("demo_fixations", 10, min=3, max=40, label="Demo: fixations per trial", help="Mean; Poisson-distributed.",
        section="Simulated demo", visible_if=_demo),
    Float("edit_attraction", 0.6, min=0.0, max=1.0, step=0.05, label="Demo: pull of the edit",
          help="Share of the priority map given to the edited region on a manipulated image (0: none).",
          section="Simulated demo", visible_if=_demo),
    Float("ior_strength", 0.8, min=0.0, max=1.0, step=0.05, label="Demo: inhibition of return",
          help="How strongly a visited location is suppressed for later fixations.", section="Simulated demo",
          visible_if=_demo),
    Float("centre_bias_deg", 6.0, min=0.5, max=30.0, step=0.5, unit="°", label="Demo: centre bias σ",
          section="Simulated demo", visible_if=_demo,
          help="Simulated data: σ of the observers' pull towards the centre of the image, in degrees."),
    Int("seed", 0, min=0, max=1_000_000, help="Seeds the demo's observers and the bootstrap.", section="Statistics"),
    # Display options: the maps are re-smoothed from the cached fixation table, nothing recomputes.
    Float("sigma_deg", 1.0, min=0.1, max=5.0, step=0.1, unit="°", label="Heatmap σ", display=True,
          help="Gaussian σ of the fixation density maps (MIT benchmark convention: about 1°).", section="Display"),
    Choice("weighting", "count", choices=("count", "duration"), label="Heatmap weighting", display=True,
           help="count: each fixation weighs 1. duration: each weighs its duration (count where unknown).",
           section="Display"),
    Float("opacity", 0.6, min=0.0, max=1.0, step=0.05, label="Heatmap opacity", display=True, section="Display",
          help='Opacity of the heatmap over the stimulus (0: only the image, 1: only the map).'),
    Choice("colorscale", "Hot", choices=("Hot", "Viridis", "Inferno", "Jet", "Greys"), label="Colour scale",
           display=True, section="Display", help='Colour map of the fixation heatmaps.'),
    Choice("measure", "entropy", choices=MEASURES, label="Measure compared", display=True,
           help="The dispersion measure the condition figure shows.", section="Display"),
), collapsed=("Statistics",))


ANALYSIS = Analysis(
    name="eye_tracking",
    title="Eye tracking: real vs manipulated images",
    papers=("Cartella, Cuculo, Cornia, Cucchiara (2024). Unveiling the Truth: Exploring Human Gaze Patterns in "
            "Fake Images. arXiv:2403.08933.",
            "Bylinskii, Judd, Oliva, Torralba, Durand (2019). What do different evaluation metrics tell us about "
            "saliency models? IEEE TPAMI.",
            "Kümmerer, Wallis, Bethge (2015). Information-theoretic model comparison unifies saliency metrics. PNAS."),
    version="1",
    spec=SPEC,
    compute=lazy("analyses.eye_tracking.compute:compute"),
    figures=lazy("analyses.eye_tracking.figures:build_figures"),
    preview=lazy("analyses.eye_tracking.figures:preview_figures"),
    presets={
        "smoke": {"demo_images": 8, "demo_observers": 8, "demo_fixations": 8, "bootstrap": 500},
        "default": {},
        "no_edit_pull": {"edit_attraction": 0.0},
    },
    summary="Where observers look on real and partially manipulated images: fixation density heatmaps "
            "(σ in degrees of visual angle), scanpaths, real vs manipulated side by side with their difference; "
            "per-trial dispersion (entropy, distance to the centroid, convex hull, BCEA, share inside the edit); "
            "paired tests between conditions with effect sizes, and saliency metrics between maps. Loads the "
            "paper's dataset, fixation tables and EyeLink recordings; without a file it opens on simulated "
            "observers over scikit-learn's sample photographs.",
    source_dir=Path(__file__).parent,
)
