"""Concept-space learning dynamics (Park, Okawa, Lee, Lubana, Tanaka 2024).

This module only declares the analysis; torch and Plotly load when it runs.
"""

from __future__ import annotations

from pathlib import Path

from analyses.core import Analysis, Bool, Choice, Float, Int, ParamSpec, lazy

COMBINATIONS = ("red_large", "red_small", "blue_large", "blue_small")


def _ordered(p):
    if p["sweep_points"] >= 2 and p["sweep_min"] >= p["sweep_max"]:
        return f"parameter 'sweep_min': {p['sweep_min']:g} is not below sweep_max ({p['sweep_max']:g})"
    if p["checkpoints"] > p["steps"]:
        return f"parameter 'checkpoints': {p['checkpoints']} is more than the training steps ({p['steps']})"
    return None


SPEC = ParamSpec(
    params=(
        Float("color_signal", 0.8, min=0.05, max=0.9, step=0.05, label="Colour signal Δc",
              help="Separation of the red and blue class means on the R and B channels (0.5 ± Δc/2)."),
        Float("size_signal", 0.4, min=0.1, max=0.6, step=0.05, label="Size signal Δs",
              help="Separation of the large and small radius means (0.45 ± Δs/2, image spanning [−1, 1])."),
        Choice("held_out", "blue_small", choices=COMBINATIONS, label="Held-out combination",
               help="The combination never shown in training, whose generation is followed."),
        Bool("train_on_all", False, label="Negative control: train on all four",
             help="Train on every combination, the held-out one included: no hidden capability to find."),
        Int("image_size", 12, min=12, max=32, step=4, label="Image size", unit="px"),
        Int("steps", 2000, min=20, max=20000, step=10, label="Training steps"),
        Int("checkpoints", 24, min=5, max=80, label="Checkpoints",
            help="Quadratically spaced in steps (dense early, where concepts are learned)."),
        Float("lr", 1e-3, min=1e-4, max=1e-2, log=True, label="Learning rate", help="AdamW."),
        Int("batch_size", 64, min=8, max=256, step=8, label="Batch size"),
        Int("channels", 16, min=8, max=64, step=8, label="U-Net channels",
            help="Width of the first U-Net level (the second has twice as many)."),
        Int("seed", 0, min=0, max=10_000, label="First seed"),
        Int("seeds", 1, min=1, max=5, help="Seeds seed, seed+1, ...: averaged, single seeds drawn faintly."),
        Int("samples", 32, min=4, max=256, label="Samples per checkpoint",
            help="Generated images per prompt and intervention at every checkpoint."),
        Int("sampling_steps", 10, min=2, max=50, label="Sampling steps", help="Deterministic DDIM steps."),
        Choice("probe", "analytic", choices=("analytic", "cnn"), label="Probe",
               help="How generated images are read. analytic: foreground colour balance and area on the pixels, "
                    "no training. cnn: a small CNN trained on rendered images (a few seconds). Both calibrated "
                    "on renders (logistic regression) and report P(red), P(large)."),
        Float("overprompt_max", 3.0, min=1.5, max=4.5, step=0.5, label="Over-prompting strength",
              help="The colour is pushed to 0.5 + s·(target − 0.5) for three s up to this value."),
        Float("latent_strength", 1.0, min=0.0, max=3.0, step=0.25, label="Latent intervention strength",
              help="α = β: the concept embedding gains α·(target-colour direction) + β·(target-size direction), "
                   "both measured between training combinations; also at half strength."),
        Float("threshold", 0.9, min=0.5, max=1.0, step=0.05, label="Accuracy threshold",
              help="A concept is learned (or a combination produced) once the accuracy stays above this."),
        Int("consecutive", 3, min=1, max=10, label="Checkpoints above threshold",
            help="For a concept's learning time; T_naive and T_intervention take the first smoothed pass."),
        Int("smoothing", 3, min=1, max=9, label="Smoothing window", help="Checkpoints in the centred moving average."),
        Float("min_speed", 0.02, min=0.0, max=0.5, step=0.01, label="Turn: minimum speed",
              help="Moves shorter than this (concept-space units per checkpoint) carry no direction."),
        Int("sweep_points", 0, min=0, max=8, label="Sweep: colour signals",
            help="0: no sweep. Otherwise rerun at this many colour signals between the bounds below "
                 "(each run cached) for learning time against concept signal."),
        Float("sweep_min", 0.3, min=0.05, max=0.9, step=0.05, label="Sweep: lowest colour signal"),
        Float("sweep_max", 0.9, min=0.05, max=0.9, step=0.05, label="Sweep: highest colour signal"),
    ),
    checks=(_ordered,),
)


ANALYSIS = Analysis(
    name="concept_space",
    title="Concept-space learning dynamics",
    papers=("Park, Okawa, Lee, Lubana, Tanaka (2024). Emergence of Hidden Capabilities: Exploring Learning "
            "Dynamics in Concept Space. NeurIPS.",),
    version="1",
    spec=SPEC,
    compute=lazy("analyses.concept_space.compute:compute"),
    figures=lazy("analyses.concept_space.figures:build_figures"),
    preview=lazy("analyses.concept_space.figures:preview_figures"),
    presets={
        "smoke": {"steps": 120, "checkpoints": 6, "samples": 8, "sampling_steps": 4, "batch_size": 32},
        "default": {},
        "sweep": {"steps": 1000, "checkpoints": 20, "seeds": 2, "sweep_points": 4, "sweep_min": 0.3,
                  "sweep_max": 0.9, "color_signal": 0.9},
        "negative_control": {"train_on_all": True},
    },
    summary="A small conditional diffusion model learns images of a circle with two concepts, colour and size, "
            "from three of the four combinations. Each prompt's generations are read by probes into a point in "
            "concept space at every checkpoint: the held-out combination's trajectory moves first along the "
            "concept with the stronger signal, turns, and can be produced by over-prompting or a latent "
            "intervention before naive prompting elicits it.",
    source_dir=Path(__file__).parent,
)
