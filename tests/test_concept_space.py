"""Concept space (Park et al. 2024): data, probes, turn detection, the training loop on a tiny setting."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from analyses.concept_space.data import COMBINATIONS, Concepts, pixel_signal, render, training_combinations
from analyses.concept_space.dynamics import first_axis, first_sustained, quadratic_checkpoints, turn_point
from analyses.concept_space.probes import CNNProbe, ConceptProbe, features, fit_probe


def test_concept_vectors_follow_the_paper_means_and_spread():
    concepts = Concepts(color_signal=0.6, size_signal=0.4)
    assert concepts.mean_vector("red_large").tolist() == pytest.approx([0.8, 0.5, 0.2, 0.65])
    assert concepts.mean_vector("blue_small").tolist() == pytest.approx([0.2, 0.5, 0.8, 0.25])
    generator = torch.Generator().manual_seed(0)
    vectors = concepts.sample_vectors(["blue_small"] * 4000, generator)
    assert vectors[:, 0].mean() == pytest.approx(0.2, abs=0.01)
    assert vectors[:, 3].mean() == pytest.approx(0.25, abs=0.01)
    # spread proportional to the separation
    narrow = Concepts(0.3, 0.2).sample_vectors(["blue_small"] * 4000, generator)
    assert vectors[:, 0].std() / narrow[:, 0].std() == pytest.approx(2.0, rel=0.1)
    assert vectors[:, 3].std() / narrow[:, 3].std() == pytest.approx(2.0, rel=0.1)


def test_rendered_circle_has_its_colour_size_and_a_tinted_background():
    generator = torch.Generator().manual_seed(0)
    vector = torch.tensor([[0.9, 0.5, 0.1, 0.5]])
    image = render(vector, 32, generator, positions=torch.zeros(1, 2), backgrounds=torch.full((1, 3), 0.9))[0]
    assert image[:, 16, 16].tolist() == pytest.approx([0.9, 0.5, 0.1], abs=1e-3)
    assert image[:, 0, 0].tolist() == pytest.approx([0.9, 0.9, 0.9], abs=1e-3)
    inside = (image[1] < 0.7).float().sum().item()  # disc of radius 0.5 on [-1, 1]: 8 px radius at 32 px
    assert inside == pytest.approx(np.pi * 8 ** 2, rel=0.1)
    tiny = torch.tensor([[0.9, 0.5, 0.1, 0.05]]).repeat(200, 1)
    backgrounds = render(tiny, 12, generator, positions=torch.zeros(200, 2))[:, :, 0, 0]
    assert backgrounds.min() >= 0.79 and backgrounds.max() <= 1.0


def test_pixel_signal_of_colour_grows_with_its_separation_and_crosses_size():
    ratios = [pixel_signal(Concepts(c, 0.4), 32)["color"] / pixel_signal(Concepts(c, 0.4), 32)["size"]
              for c in (0.1, 0.4, 0.6, 0.8)]
    assert np.all(np.diff(ratios) > 0)
    assert ratios[0] < 0.1 and ratios[-1] > 1.0  # colour's signal overtakes size's between Δc = 0.6 and 0.8


def test_held_out_and_negative_control_combinations():
    assert training_combinations("blue_small", False) == ["red_large", "red_small", "blue_large"]
    assert training_combinations("blue_small", True) == list(COMBINATIONS)
    with pytest.raises(ValueError, match="held-out"):
        training_combinations("green_small", False)


@pytest.mark.parametrize("signals", [(0.8, 0.4), (0.3, 0.3), (0.2, 0.5)])
def test_probes_read_rendered_images_of_known_concepts(signals):
    concepts = Concepts(*signals)
    probe = ConceptProbe.fit(concepts, 12)
    generator = torch.Generator().manual_seed(7)
    for combination in COMBINATIONS:
        images = render(concepts.sample_vectors([combination] * 300, generator), 12, generator)
        p_color, p_size = probe.target_probabilities(images, combination)
        assert np.mean(p_color > 0.5) >= 0.95 and np.mean(p_size > 0.5) >= 0.95
        assert 0.9 <= p_color.mean() <= 1.0  # calibrated: confident where the concept is clear


@pytest.mark.parametrize("signals", [(0.8, 0.4), (0.2, 0.5)])
def test_the_cnn_probe_reads_rendered_images_of_known_concepts_with_calibrated_probabilities(signals):
    concepts = Concepts(*signals)
    probe = CNNProbe.fit(concepts, 12)
    generator = torch.Generator().manual_seed(7)
    confidences, correct = [], []
    for combination in COMBINATIONS:
        images = render(concepts.sample_vectors([combination] * 300, generator), 12, generator)
        p_color, p_size = probe.target_probabilities(images, combination)
        assert np.mean(p_color > 0.5) >= 0.95 and np.mean(p_size > 0.5) >= 0.95
        for p in (p_color, p_size):
            confidences.append(np.maximum(p, 1 - p))
            correct.append(p > 0.5)
    confidence, correct = np.concatenate(confidences), np.concatenate(correct)
    # Calibrated: within each confidence band, the share read correctly matches the stated confidence.
    bands = np.digitize(confidence, [0.6, 0.7, 0.8, 0.9, 0.99])
    gap = sum(abs(confidence[bands == b].mean() - correct[bands == b].mean()) * np.mean(bands == b)
              for b in np.unique(bands))
    assert gap < 0.05
    assert np.isnan(probe.predict(torch.full((2, 3, 12, 12), 0.9))[0]).all()  # blank: unreadable, as analytic
    with pytest.raises(ValueError, match="parameter 'probe': unknown probe 'svm'"):
        fit_probe("svm", concepts, 12)


def test_probes_say_nothing_about_a_blank_image():
    probe = ConceptProbe.fit(Concepts(0.6, 0.4), 12)
    blank = torch.full((3, 3, 12, 12), 0.9)
    p_red, p_large = probe.predict(blank)
    assert np.isnan(p_red).all() and np.isnan(p_large).all()
    assert features(blank)[2].tolist() == [0.0] * 3


def test_checkpoints_are_quadratically_spaced():
    steps = quadratic_checkpoints(2000, 20)
    assert steps[-1] == 2000 and len(steps) == 20
    gaps = np.diff(steps)
    assert gaps[0] < gaps[-1] / 10 and np.all(np.diff(gaps) >= -1)


def test_first_sustained_needs_consecutive_checkpoints():
    steps = list(range(0, 100, 10))
    values = [0, 0.95, 0.2, 0.95, 0.95, 0.2, 0.95, 0.95, 0.95, 0.95]
    assert first_sustained(steps, values, 0.9, consecutive=3) == 60
    assert first_sustained(steps, values, 0.9, consecutive=2) == 30
    assert first_sustained(steps, [0.5] * 10, 0.9) is None


def test_turn_detection_finds_a_known_turn():
    # Move right along colour for 8 checkpoints, then up along size: the turn is at checkpoint 8.
    path = [(0.1 * i, 0.0) for i in range(9)] + [(0.8, 0.1 * i) for i in range(1, 9)]
    jitter = np.random.default_rng(0).normal(0, 0.003, (len(path), 2))
    steps = [10 * i for i in range(len(path))]
    step, angle = turn_point(steps, np.array(path) + jitter, window=1, min_speed=0.02)
    assert step == 80 and angle == pytest.approx(90, abs=10)
    step, _ = turn_point(steps, np.array(path) + jitter, window=3, min_speed=0.02)
    assert step in (70, 80, 90)  # smoothing rounds the corner over a neighbouring checkpoint


def test_first_axis_is_the_concept_whose_accuracy_rises_first():
    steps = list(range(10))
    color = [0, 0.8, 0.9, 1, 1, 0.6, 0.5, 0.9, 1, 1]
    size = [0, 0, 0.1, 0.2, 0.5, 0.8, 0.9, 1, 1, 1]
    assert first_axis(steps, color, size) == "color"
    assert first_axis(steps, size, color) == "size"
    assert first_axis(steps, [0] * 10, [0.1] * 10) is None


def test_jitter_at_rest_is_not_a_turn():
    rest = np.random.default_rng(1).normal(0.5, 0.004, (15, 2))
    assert turn_point(list(range(15)), rest, window=1, min_speed=0.02) == (None, 0.0)


def test_checkpoints_without_a_point_are_skipped():
    path = np.array([(0.1 * i, 0.0) for i in range(6)] + [(np.nan, np.nan)] + [(0.5, 0.1 * i) for i in range(1, 6)])
    assert turn_point(list(range(12)), path, window=1)[0] == 5  # the upward move starts at checkpoint 5
