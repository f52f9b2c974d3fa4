"""Loss-landscape phases: a grid over width and learning rate, with sharpness, connectivity and similarity per cell.

This module only declares the analysis; torch and Plotly load when it runs.
"""

from __future__ import annotations

from pathlib import Path

from analyses.core import Analysis, Choice, Float, Int, ParamSpec, lazy


def _ordered(p):
    if p["width_min"] > p["width_max"]:
        return f"parameter 'width_min': {p['width_min']} is above width_max ({p['width_max']})"
    if p["lr_min"] > p["lr_max"]:
        return f"parameter 'lr_min': {p['lr_min']:g} is above lr_max ({p['lr_max']:g})"
    if p["batch_min"] > p["batch_max"]:
        return f"parameter 'batch_min': {p['batch_min']} is above batch_max ({p['batch_max']})"
    if p["train_size_min"] > p["train_size_max"]:
        return f"parameter 'train_size_min': {p['train_size_min']} is above train_size_max ({p['train_size_max']})"
    return None


SPEC = ParamSpec(
    params=(
        Choice("dataset", "digits", choices=("digits", "moons"), help="digits: 8x8 handwritten digits. moons: 2D.",
               section="Data"),
        Choice("load", "width", choices=("width", "train_size"), label="Load axis",
               help="width: networks of growing width on the whole training split. train_size: one width "
                    "(the largest) trained on growing random subsets of the training split (fewer samples per "
                    "parameter is a higher load in the model-zoo paper's sense, read left to right as more data).",
               section="Grid"),
        Int("width_min", 8, min=2, max=512, label="Smallest width", help="Load axis: hidden units per layer.",
            section="Grid", visible_if={"load": "width"}),
        Int("width_max", 128, min=2, max=512, label="Largest width",
            help="With load=train_size, the one width used.", section="Grid"),
        Int("train_size_min", 100, min=20, max=100_000, label="Fewest training samples",
            help="With load=train_size: the subset sizes run from this to the largest, log-spaced.", section="Grid",
            visible_if={"load": "train_size"}),
        Int("train_size_max", 1000, min=20, max=100_000, label="Most training samples",
            help="At most the training split's size (digits: 1348, moons: 1125).", section="Grid",
            visible_if={"load": "train_size"}),
        Choice("temperature", "lr", choices=("lr", "batch_size"), label="Temperature axis",
               help="lr: SGD's learning rate (momentum 0.9) varies, batch size fixed. batch_size: the batch size "
                    "varies, learning rate fixed (a smaller batch is a hotter, noisier run).", section="Grid"),
        Float("lr_min", 0.005, min=1e-4, max=1.0, log=True, label="Smallest learning rate", section="Grid",
              visible_if={"temperature": "lr"},
              help="Smallest learning rate of the temperature axis; the values run from it to the largest, "
                   "log-spaced."),
        Float("lr_max", 0.2, min=1e-4, max=1.0, log=True, label="Largest learning rate",
              help="With temperature=batch_size, the one learning rate used.", section="Grid"),
        Int("batch_min", 16, min=4, max=1024, label="Smallest batch size",
            help="With temperature=batch_size: the batch sizes run from this to the largest, log-spaced.",
            section="Grid", visible_if={"temperature": "batch_size"}),
        Int("batch_max", 256, min=4, max=1024, label="Largest batch size", section="Grid",
            visible_if={"temperature": "batch_size"}, help='Largest batch size of the temperature axis.'),
        Int("grid_size", 4, min=2, max=8, label="Grid points per axis", help="Values per axis, log-spaced.",
            section="Grid"),
        Int("seeds", 2, min=2, max=5, help="Networks per cell; barriers and CKA are averaged over their pairs.",
            section="Grid"),
        Int("depth", 1, min=1, max=3, help="Hidden layers of every MLP.", section="Training"),
        Int("epochs", 20, min=1, max=200, section="Training",
            help='Passes over the training set, for every network of the grid.'),
        Int("batch_size", 64, min=8, max=1024, step=8, label="Batch size",
            help="With temperature=lr, the one batch size used.", section="Training",
            visible_if={"temperature": "lr"}),
        Float("label_noise", 0.0, min=0.0, max=0.5, step=0.05, label="Label noise",
              help="Share of training labels moved to another class at random (a third knob).", section="Data"),
        Int("eval_samples", 500, min=100, max=5000, step=100, label="Evaluation samples",
            help="Training samples for the Hessian estimates and the barriers.", section="Training"),
        Int("data_seed", 0, min=0, max=10_000, label="Data seed", help="Seeds the split and the label noise.",
            section="Data"),
        Float("accuracy_threshold", 0.9, min=0.0, max=1.0, step=0.01, label="Phase: accuracy below", display=True,
              help="Cells with a lower test accuracy are 'poor fit'.", section="Display"),
        Float("barrier_threshold", 0.25, min=0.0, max=5.0, step=0.01, label="Phase: barrier above", display=True,
              help="Cells whose seeds are separated by a higher barrier are 'disconnected'.", section="Display"),
        Float("sharpness_threshold", 1.0, min=0.0, max=100.0, step=0.1, label="Phase: λ_max above", display=True,
              help="Connected cells with a sharper minimum are 'sharp'.", section="Display"),
        Float("cka_threshold", 0.9, min=0.0, max=1.0, step=0.01, label="Phase: CKA below", display=True,
              help="Flat, connected cells whose seeds' representations differ more are 'dissimilar'.",
              section="Display"),
    ),
    checks=(_ordered,),
    collapsed=("Training",),
)


ANALYSIS = Analysis(
    name="landscape_phases",
    title="Loss-landscape phases",
    papers=("Model zoo on phase transitions in neural networks: loss-landscape metrics over load and temperature "
            "(see the loss-landscape seeds).",
            "Kornblith, Norouzi, Lee, Hinton (2019). Similarity of Neural Network Representations Revisited. ICML."),
    version="1",
    spec=SPEC,
    compute=lazy("analyses.landscape_phases.compute:compute"),
    figures=lazy("analyses.landscape_phases.figures:build_figures"),
    preview=lazy("analyses.landscape_phases.figures:preview_figures"),
    presets={
        "smoke": {"width_min": 8, "width_max": 64, "lr_min": 0.02, "lr_max": 0.1, "grid_size": 2, "epochs": 5,
                  "eval_samples": 200},
        "default": {},
        "label_noise": {"label_noise": 0.2, "epochs": 40},
        "data_size": {"load": "train_size", "width_max": 64, "train_size_min": 100, "train_size_max": 1300},
    },
    summary="A grid of small MLPs over load (width, or training-set size) and temperature (learning rate or batch "
            "size), several seeds per cell: test accuracy, sharpness (top Hessian eigenvalue, trace), connectivity (loss barrier between seeds) and "
            "similarity (linear CKA between seeds), one heatmap each, and a phase map whose thresholds are "
            "sliders. Every cell is cached on its own, so a grid that grows never recomputes a cell; "
            "the grid fills in on screen while it computes, and a click on a cell opens its landscape.",
    source_dir=Path(__file__).parent,
)
