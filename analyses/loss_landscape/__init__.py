"""Loss landscape (Li et al. 2018), first slice: train a small net, then look around its solution.

This module only declares the analysis; torch and Plotly load when it runs.
"""

from __future__ import annotations

from pathlib import Path

from analyses.core import Analysis, Bool, CallableRef, Choice, Float, InputFile, Int, ParamSpec, lazy


def _cnn_needs_images(p):
    if p["model"] == "cnn" and p["dataset"] != "digits":
        return "parameter 'model': 'cnn' needs image data; use dataset=digits (8x8 images) or model=mlp"
    return None


def _csv_needs_file(p):
    if p["dataset"] == "csv" and not p["data_file"]:
        return "parameter 'data_file': dataset=csv needs a CSV file (numeric feature columns and a 'label' column)"
    return None


def _custom_needs_factory(p):
    if p["model"] == "custom" and not p["custom_model"]:
        return "parameter 'custom_model': model=custom needs a package.module:function or path/to/file.py:function"
    if p["model"] != "custom" and (p["custom_model"] or p["checkpoint"]):
        return "parameters 'custom_model' and 'checkpoint' are only used with model=custom"
    return None


def _builtin_model(p) -> bool:
    """A custom model brings its own data and architecture."""
    return p["model"] != "custom"


def _spawn_within_training(p):
    if p["spawn_epoch"] >= p["epochs"]:
        return f"parameter 'spawn_epoch': {p['spawn_epoch']} must be below epochs ({p['epochs']})"
    return None


SPEC = ParamSpec(
    params=(
        Choice("dataset", "digits", choices=("digits", "moons", "teacher", "modular", "csv"),
               help="digits: scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes). "
                    "moons: two interleaving half-circles with noise (2 classes). teacher: regression on the "
                    "outputs of a random two-layer tanh teacher (16 inputs, squared error). modular: (a + b) mod 23 "
                    "from one-hot a and b (529 pairs, 23 classes). csv: your own table.", section="Data",
               visible_if=_builtin_model),
        InputFile("data_file", None, suffixes=(".csv",), label="Data file (CSV)",
                  help="Used when dataset=csv: numeric feature columns and an integer or text 'label' column.",
                  section="Data", visible_if=lambda p: p['dataset'] == 'csv' and p['model'] != 'custom'),
        Choice("model", "mlp", choices=("mlp", "cnn", "transformer", "custom"),
               help="mlp: fully connected ReLU network. cnn: 3x3 conv layers and a linear head (image data only). "
                    "transformer: pre-norm encoder blocks (4 heads, no dropout) over tokens cut from the input "
                    "(digits: the 8 rows; modular: the operands a and b; otherwise one feature per token), "
                    "mean-pooled. "
                    "custom: your own model and data from 'custom_model' (dataset, width and depth are ignored).",
               section="Model"),
        CallableRef("custom_model", "", label="Custom model (module:function or file.py:function)",
                    help="With model=custom: package.module:function on the server's Python path, or "
                         "path/to/file.py:function, called as function(seed=...) and returning (model, (x_train, "
                         "y_train), (x_test, y_test), loss or None). The model is evaluated in eval mode.",
                    section="Model", visible_if={"model": "custom"}),
        InputFile("checkpoint", None, suffixes=(".pt", ".pth"), label="Checkpoint (.pt)",
                  help="With model=custom, optional: trained weights (a full state dict, buffers included), or a "
                       "list of state dicts / {'checkpoints': [...]} for the optimizer path. Read with "
                       "weights_only=True. Without it, the model is trained here with the settings below.",
                  section="Model", visible_if={"model": "custom"}),
        Int("width", 64, min=4, max=256, step=4,
            help="Hidden units per layer (MLP), channels of the first conv (CNN) or the model width (transformer).",
            section="Model", visible_if=_builtin_model),
        Choice("norm", "none", choices=("none", "batch"), label="Norm layers",
               help="batch: batch norm after every hidden layer. Its scale and shift get a zero direction "
                    "(one-dimensional parameters), as in Li et al.", section="Model",
               visible_if={"model": ("mlp", "cnn")}),
        Choice("norm_policy", "eval", choices=("eval", "recompute"), label="Norm statistics on the surface",
               help="How norm layers evaluate perturbed weights: eval keeps the statistics from training; "
                    "recompute uses the statistics of the evaluation batch at every point.", section="Model",
               visible_if=lambda p: p['model'] == 'custom' or (p['norm'] == 'batch' and p['model'] in ('mlp', 'cnn'))),
        Int("depth", 2, min=1, max=4, help="Number of hidden layers (MLP), conv layers (CNN) or encoder blocks "
                                           "(transformer).", section="Model", visible_if=_builtin_model),
        Choice("optimizer", "sgd", choices=("sgd", "adam"),
               help="SGD uses momentum 0.9, as in Li et al.; adam is AdamW (decoupled weight decay).",
               section="Training"),
        Float("lr", 0.05, min=1e-4, max=1.0, log=True, label="Learning rate", section="Training",
              help='Step size of the optimizer (SGD with momentum 0.9, or AdamW); too large a step diverges.'),
        Float("weight_decay", 0.0, min=0.0, max=2.0, step=0.01, label="Weight decay",
              help="L2 penalty for SGD; decoupled weight decay for Adam (AdamW).", section="Training"),
        Int("batch_size", 64, min=8, max=1024, step=8, label="Batch size", section="Training",
            help='Training samples per optimizer step.'),
        Int("epochs", 30, min=1, max=200, help="Passes over the training set.", section="Training"),
        Float("test_fraction", 0.25, min=0.1, max=0.5, step=0.05, label="Test fraction",
              help="Share of the data held out for the test loss.", section="Data", visible_if=_builtin_model),
        Int("train_samples", 0, min=0, max=200_000, label="Training samples",
            help="Train on a random subset of this many samples (0: the whole training split).", section="Data",
            visible_if=_builtin_model),
        Int("seed", 0, min=0, max=10_000, help="Seeds the data split, initialisation and batch order.",
            section="Training"),
        Int("direction_seed", 0, min=0, max=10_000, label="Direction seed",
            help="Seeds the two random Gaussian directions of the 2D surface.", section="Surface",
            visible_if={"directions": "random"}),
        Choice("directions", "random", choices=("random", "hessian"), label="Surface directions",
               help="random: two Gaussian directions, filter-normalized (Li et al.). hessian: the two top "
                    "eigenvectors of the Hessian, rescaled to the weights' norm (the sharpest directions).",
               section="Surface"),
        Choice("bias_direction", "zero", choices=("zero", "weights"), label="Biases and norm parameters",
               help="zero: one-dimensional parameters stay put (Li et al.'s default). weights: they move along "
                    "their own values, as the reference code does when they are not ignored.", section="Surface"),
        Int("slice_seeds", 5, min=1, max=20, label="1D slice directions",
            help="1D slices along this many further random directions, drawn as a median and a band, to show "
                 "how much one picture depends on its random direction.", section="Surface"),
        Int("grid_points", 31, min=5, max=101, label="Grid points per axis",
            help="Resolution of the 2D surface (points per axis).", section="Surface"),
        Float("grid_range", 1.0, min=0.05, max=3.0, step=0.05, label="Grid range",
              help="The surface spans [-range, range] along each filter-normalized direction.", section="Surface"),
        Int("interp_points", 41, min=5, max=201, label="Interpolation points",
            help="Points on the 1D path from the initial weights (alpha=0) to the trained weights (alpha=1).",
            section="Surface"),
        Int("eval_samples", 1000, min=100, max=20_000, step=100, label="Evaluation samples",
            help="Training samples used to evaluate each surface point and the Hessian (a fixed random subset).",
            section="Surface"),
        Int("hessian_top_k", 3, min=1, max=10, label="Hessian: top eigenvalues",
            help="How many of the largest-magnitude Hessian eigenvalues to find (power iteration with deflation).",
            section="Hessian"),
        Int("hessian_samples", 64, min=4, max=1000, label="Hessian: trace samples",
            help="Rademacher vectors for Hutchinson's trace estimate; its standard error shrinks as 1/sqrt(samples).",
            section="Hessian"),
        Int("hessian_runs", 3, min=1, max=10, label="Hessian: runs",
            help="Repeat the eigenvalue and trace estimates from this many random starts to show their spread.",
            section="Hessian"),
        Int("lanczos_steps", 40, min=5, max=200, label="Hessian: Lanczos steps",
            help="Steps of stochastic Lanczos quadrature for the eigenvalue density (2 runs).", section="Hessian"),
        Int("second_seed", 1, min=0, max=10_000, label="Second network's seed",
            help="Mode connectivity: a second network trained like the first from this seed; the barrier between "
                 "them is measured naively and after weight matching.", section="Connectivity"),
        Bool("three_models", True, label="Plane through three networks",
             help="Train a third network (seed second_seed + 1) and draw the loss on the plane through all three "
                  "(Garipov et al. 2018): are the three minima connected by low-loss regions?",
             section="Connectivity"),
        Choice("color_scale", "linear", choices=("linear", "log"), label="Colour scale", display=True,
               help="Contour colours on the loss (linear) or its log10 (log): log shows the floor of a basin. "
                    "A display option: changing it never recomputes.", section="Display"),
        Int("spawn_epoch", 0, min=0, max=200, label="Spawn epoch",
            help="0: the second network has its own initialisation. k > 0: it starts from the first network's "
                 "weights after k epochs and differs only in batch order (Frankle et al. 2020); the barrier "
                 "falls to zero once training has become stable.", section="Connectivity"),
    ),
    checks=(_cnn_needs_images, _csv_needs_file, _custom_needs_factory, _spawn_within_training),
    collapsed=("Hessian", "Connectivity"),
)


ANALYSIS = Analysis(
    name="loss_landscape",
    title="Loss landscape",
    papers=("Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape of Neural Nets. NeurIPS.",
            "Goodfellow, Vinyals, Saxe (2015). Qualitatively characterizing neural network optimization problems. ICLR.",
            "Ghorbani, Krishnan, Xiao (2019). An Investigation into Neural Net Optimization via Hessian Eigenvalue "
            "Density. ICML.",
            "Frankle, Dziugaite, Roy, Carbin (2020). Linear Mode Connectivity and the Lottery Ticket Hypothesis. ICML.",
            "Ainsworth, Hayase, Srinivasa (2023). Git Re-Basin: Merging Models modulo Permutation Symmetries. ICLR.",
            "Garipov, Izmailov, Podoprikhin, Vetrov, Wilson (2018). Loss Surfaces, Mode Connectivity, and Fast "
            "Ensembling of DNNs. NeurIPS."),
    version="1",
    spec=SPEC,
    compute=lazy("analyses.loss_landscape.compute:compute"),
    figures=lazy("analyses.loss_landscape.figures:build_figures"),
    preview=lazy("analyses.loss_landscape.figures:preview_figures"),
    presets={
        "smoke": {"epochs": 5, "width": 32, "depth": 1, "grid_points": 11, "interp_points": 11, "eval_samples": 500,
                  "hessian_top_k": 1, "hessian_samples": 8, "hessian_runs": 2, "lanczos_steps": 10, "slice_seeds": 3},
        "default": {},
        "cnn": {"model": "cnn", "width": 16, "depth": 2, "epochs": 15, "lr": 0.02, "grid_points": 25},
        "transformer": {"model": "transformer", "width": 32, "depth": 1, "optimizer": "adam", "lr": 0.003,
                        "epochs": 20, "grid_points": 21, "eval_samples": 500},
        "moons": {"dataset": "moons", "width": 32, "depth": 2, "epochs": 60, "lr": 0.1},
        "teacher": {"dataset": "teacher", "width": 32, "depth": 2, "epochs": 60, "lr": 0.02},
        "modular": {"dataset": "modular", "width": 128, "depth": 1, "epochs": 200, "optimizer": "adam",
                    "lr": 0.01, "weight_decay": 0.5, "test_fraction": 0.3, "batch_size": 16},
    },
    summary="Train a small network (or bring your own), then plot its training curves, the 1D path from initial "
            "to trained weights, the 2D loss surface around the solution along filter-normalized random or top "
            "Hessian directions, 1D slices over several directions, the optimizer's path on its PCA plane, the "
            "Hessian's top eigenvalues, trace and spectral density, the loss barrier to a second network before "
            "and after weight matching, and the plane through three networks.",
    source_dir=Path(__file__).parent,
)
