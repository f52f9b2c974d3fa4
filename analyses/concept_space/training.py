"""One training run: train the diffusion model, and at every checkpoint generate and probe samples.

Per checkpoint, for each of the four prompts (naive: the class-mean concept vector), and for the held-out
combination under interventions: over-prompting (the target colour pushed beyond the training range) and
a linear latent intervention on the concept embedding (adding the target-colour and target-size
directions measured between training combinations). The run's settings are plain JSON values, so that the
whole run can be one cached sub-result.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch

from analyses.core import Result
from analyses.core.errors import Diverged

from .data import COMBINATIONS, Concepts, batch, training_combinations
from .dynamics import quadratic_checkpoints
from .model import ConceptUNet, diffusion_loss, sample
from .probes import CNNProbe, ConceptProbe, fit_probe

SHOWN = 6  # samples per prompt kept for the scrubber


def _other(combination: str) -> tuple[str, str, str, str]:
    color, size = combination.split("_")
    return color, size, ("blue" if color == "red" else "red"), ("small" if size == "large" else "large")


def intervention_names(settings: Mapping[str, Any]) -> list[str]:
    levels = np.linspace(1.0, settings["overprompt_max"], 4)[1:]
    strength = settings["latent_strength"]
    return ([f"over-prompt ×{s:.2g}" for s in levels]
            + [f"latent α=β={a:.2g}" for a in (strength / 2, strength)])


def _prompt_embeddings(model: ConceptUNet, concepts: Concepts, held_out: str,
                       settings: Mapping[str, Any]) -> tuple[list[str], torch.Tensor]:
    """Names and concept embeddings of every generated row: four naive prompts, then the interventions."""
    color, size, other_color, other_size = _other(held_out)
    target = concepts.mean_vector(held_out)
    with torch.no_grad():
        embed = {c: model.concept_embedding(concepts.mean_vector(c)[None])[0] for c in COMBINATIONS}
        rows = [embed[c] for c in COMBINATIONS]
        for s in np.linspace(1.0, settings["overprompt_max"], 4)[1:]:
            pushed = target.clone()
            pushed[[0, 2]] = 0.5 + float(s) * (target[[0, 2]] - 0.5)  # beyond the training range along the colour axis
            rows.append(model.concept_embedding(pushed[None])[0])
        # Directions measured between training combinations only: the held-out one is never used.
        color_direction = embed[f"{color}_{other_size}"] - embed[f"{other_color}_{other_size}"]
        size_direction = embed[f"{other_color}_{size}"] - embed[f"{other_color}_{other_size}"]
        strength = settings["latent_strength"]
        for a in (strength / 2, strength):
            rows.append(embed[held_out] + a * color_direction + a * size_direction)
    return list(COMBINATIONS) + intervention_names(settings), torch.stack(rows)


def evaluate(model: ConceptUNet, probe: ConceptProbe | CNNProbe, concepts: Concepts, settings: Mapping[str, Any],
             step: int) -> tuple[list[dict], list[dict], np.ndarray]:
    """Trajectory rows (naive prompts), accuracy rows (held-out, per method) and the samples shown."""
    held_out, k = settings["held_out"], settings["samples"]
    names, embeddings = _prompt_embeddings(model, concepts, held_out, settings)
    generator = torch.Generator().manual_seed(10_000 + settings["seed"])  # same noise at every checkpoint
    model.eval()
    images = sample(model, embeddings.repeat_interleave(k, dim=0), settings["image_size"],
                    settings["sampling_steps"], generator)
    model.train()
    trajectory, accuracy = [], []
    for i, name in enumerate(names):
        chunk = images[i * k:(i + 1) * k]
        prompt = name if name in COMBINATIONS else held_out
        p_color, p_size = probe.target_probabilities(chunk, prompt)
        joint = float(np.mean((p_color > 0.5) & (p_size > 0.5)))  # NaN compares False: unreadable is wrong
        if name in COMBINATIONS:
            readable = ~np.isnan(p_color)
            trajectory.append({"step": step, "prompt": name,
                               "p_color": float(p_color[readable].mean()) if readable.any() else np.nan,
                               "p_size": float(p_size[readable].mean()) if readable.any() else np.nan,
                               "acc_color": float(np.mean(p_color > 0.5)), "acc_size": float(np.mean(p_size > 0.5)),
                               "joint_accuracy": joint, "readable": float(readable.mean())})
        if name == held_out:
            accuracy.append({"step": step, "method": "naive", "joint_accuracy": joint})
        elif name not in COMBINATIONS:
            accuracy.append({"step": step, "method": name, "joint_accuracy": joint})
    best = max(r["joint_accuracy"] for r in accuracy if r["method"] != "naive")
    accuracy.append({"step": step, "method": "best intervention", "joint_accuracy": best})
    shown = images.reshape(len(names), k, *images.shape[1:])[:, :SHOWN]
    shown = (shown.permute(0, 1, 3, 4, 2).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return trajectory, accuracy, shown


def train_run(settings: Mapping[str, Any], on_checkpoint: Callable[[float, Result], None]) -> Result:
    """Train one seed and evaluate at quadratically spaced checkpoints.

    `on_checkpoint(fraction_done, partial_result)` is called after every checkpoint (and every few
    steps with a None result): it reports progress, may cancel, and may draw the partial result live.
    """
    concepts = Concepts(settings["color_signal"], settings["size_signal"])
    combinations = training_combinations(settings["held_out"], settings["train_on_all"])
    probe = fit_probe(settings["probe"], concepts, settings["image_size"])
    torch.manual_seed(settings["seed"])
    model = ConceptUNet(settings["channels"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"])
    generator = torch.Generator().manual_seed(settings["seed"])
    checkpoints = quadratic_checkpoints(settings["steps"], settings["checkpoints"])
    trajectory, accuracy, shown, losses, recent = [], [], [], [], []
    for step in range(1, settings["steps"] + 1):
        images, vectors = batch(concepts, combinations, settings["batch_size"], settings["image_size"], generator)
        loss = diffusion_loss(model, images, vectors, generator)
        if not torch.isfinite(loss):
            raise Diverged(f"training diverged at step {step} (loss {loss.item()}); lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        recent.append(loss.item())
        if step % 25 == 0:
            on_checkpoint(step / settings["steps"], None)
        if step in checkpoints:
            rows, acc, images_shown = evaluate(model, probe, concepts, settings, step)
            trajectory += rows
            accuracy += acc
            shown.append(images_shown)
            losses.append({"step": step, "loss": float(np.mean(recent))})
            recent = []
            on_checkpoint(step / settings["steps"], _result(trajectory, accuracy, shown, losses))
    return _result(trajectory, accuracy, shown, losses)


def _result(trajectory, accuracy, shown, losses) -> Result:
    return Result(tables={"trajectory": pd.DataFrame(trajectory), "accuracy": pd.DataFrame(accuracy),
                          "loss": pd.DataFrame(losses)},
                  arrays={"samples": np.stack(shown)})
