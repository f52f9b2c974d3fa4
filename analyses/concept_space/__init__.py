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
              help="Separation of the red and blue class means on the R and B channels (0.5 ± Δc/2).",
              section="Data"),
        Float("size_signal", 0.4, min=0.1, max=0.6, step=0.05, label="Size signal Δs",
              help="Separation of the large and small radius means (0.45 ± Δs/2, image spanning [−1, 1]).",
              section="Data"),
        Choice("held_out", "blue_small", choices=COMBINATIONS, label="Held-out combination",
               help="The combination never shown in training, whose generation is followed.", section="Data"),
        Bool("train_on_all", False, label="Negative control: train on all four",
             help="Train on every combination, the held-out one included: no hidden capability to find.",
             section="Data"),
        Int("image_size", 12, min=12, max=32, step=4, label="Image size", unit="px", section="Data",
            help='Side of the generated images in pixels; larger images train more slowly.'),
        Int("steps", 2000, min=20, max=20000, step=10, label="Training steps", section="Training",
            help='Optimizer steps (AdamW) of the diffusion model.'),
        Int("checkpoints", 24, min=5, max=80, label="Checkpoints",
            help="Quadratically spaced in steps (dense early, where concepts are learned).", section="Training"),
        Float("lr", 1e-3, min=1e-4, max=1e-2, log=True, label="Learning rate", help="AdamW.", section="Training"),
        Int("batch_size", 64, min=8, max=256, step=8, label="Batch size", section="Training",
            help='Training images per optimizer step.'),
        Int("channels", 16, min=8, max=64, step=8, label="U-Net channels",
            help="Width of the first U-Net level (the second has twice as many).", section="Training"),
        Int("seed", 0, min=0, max=10_000, label="First seed", section="Training",
            help='Seeds the first run (data, initialisation, sampling noise); further seeds count up from it.'),
        Int("seeds", 1, min=1, max=5, help="Seeds seed, seed+1, ...: averaged, single seeds drawn faintly.",
            section="Training"),
        Int("samples", 32, min=4, max=256, label="Samples per checkpoint",
            help="Generated images per prompt and intervention at every checkpoint.", section="Sampling and probes"),
        Int("sampling_steps", 10, min=2, max=50, label="Sampling steps", help="Deterministic DDIM steps.",
            section="Sampling and probes"),
        Choice("probe", "analytic", choices=("analytic", "cnn"), label="Probe",
               help="How generated images are read. analytic: foreground colour balance and area on the pixels, "
                    "no training. cnn: a small CNN trained on rendered images (a few seconds). Both calibrated "
                    "on renders (logistic regression) and report P(red), P(large).", section="Sampling and probes"),
        Float("overprompt_max", 3.0, min=1.5, max=4.5, step=0.5, label="Over-prompting strength",
              help="The colour is pushed to 0.5 + s·(target − 0.5) for three s up to this value.",
              section="Interventions"),
        Float("latent_strength", 1.0, min=0.0, max=3.0, step=0.25, label="Latent intervention strength",
              help="α = β: the concept embedding gains α·(target-colour direction) + β·(target-size direction), "
                   "both measured between training combinations; also at half strength.", section="Interventions"),
        Float("threshold", 0.9, min=0.5, max=1.0, step=0.05, label="Accuracy threshold",
              help="A concept is learned (or a combination produced) once the accuracy stays above this.",
              section="Learning times"),
        Int("consecutive", 3, min=1, max=10, label="Checkpoints above threshold",
            help="For a concept's learning time; T_naive and T_intervention take the first smoothed pass.",
            section="Learning times"),
        Int("smoothing", 3, min=1, max=9, label="Smoothing window", help="Checkpoints in the centred moving average.",
            section="Learning times"),
        Float("min_speed", 0.02, min=0.0, max=0.5, step=0.01, label="Turn: minimum speed",
              help="Moves shorter than this (concept-space units per checkpoint) carry no direction.",
              section="Learning times"),
        Int("sweep_points", 0, min=0, max=8, label="Sweep: colour signals",
            help="0: no sweep. Otherwise rerun at this many colour signals between the bounds below "
                 "(each run cached) for learning time against concept signal.", section="Sweep"),
        Float("sweep_min", 0.3, min=0.05, max=0.9, step=0.05, label="Sweep: lowest colour signal", section="Sweep",
              visible_if=lambda p: p['sweep_points'] >= 2, help='Lowest colour signal Δc of the sweep.'),
        Float("sweep_max", 0.9, min=0.05, max=0.9, step=0.05, label="Sweep: highest colour signal", section="Sweep",
              visible_if=lambda p: p['sweep_points'] >= 2, help='Highest colour signal Δc of the sweep.'),
    ),
    checks=(_ordered,),
    collapsed=("Sampling and probes", "Interventions", "Learning times", "Sweep"),
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
