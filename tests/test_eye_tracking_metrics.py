"""Eye-tracking measures against hand-computed values, and the saliency metrics against pysaliency."""

import math

import numpy as np
import pandas as pd
import pytest

from analyses.eye_tracking import dispersion, maps, saliency, stats
from analyses.eye_tracking.fixations import Stimulus
from analyses.eye_tracking.geometry import Screen

# A 2 x 3 map, fixations at (row 0, col 2) and (row 1, col 1)
S = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
ROWS, COLS = np.array([0, 1]), np.array([2, 1])


def test_px_per_degree_from_the_screen_geometry():
    screen = Screen(1920, 1080, 53.0, 65.0)
    assert screen.px_per_deg == pytest.approx(2 * 65 * math.tan(math.radians(0.5)) * 1920 / 53.0)
    assert screen.px_per_deg == pytest.approx(41.10, abs=0.01)
    assert screen.height_cm == pytest.approx(53.0 * 1080 / 1920)


def test_nss_by_hand():
    z = (S - 2.5) / S.std()  # mean 2.5, population SD sqrt(35/12)
    assert S.std() == pytest.approx(math.sqrt(35 / 12))
    assert saliency.nss(S, ROWS, COLS) == pytest.approx((z[0, 2] + z[1, 1]) / 2)
    assert saliency.nss(S, ROWS, COLS) == pytest.approx(((2 - 2.5) + (4 - 2.5)) / 2 / math.sqrt(35 / 12))


def test_auc_judd_by_hand():
    # fixated values 2 and 4; unfixated 0, 1, 3, 5.
    # threshold 4: hits 1/2, false positives (5) 1/4; threshold 2: hits 1, false positives (3, 5) 2/4
    # area under (0,0) (1/4,1/2) (2/4,1) (1,1) = 1/16 + 3/16 + 1/2 = 0.75
    assert saliency.auc_judd(S, ROWS, COLS) == pytest.approx(0.75)
    assert saliency.auc_judd(np.arange(100.0).reshape(10, 10), [9], [9]) == pytest.approx(1.0)


def test_cc_kl_sim_ig_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert saliency.cc(a, a) == pytest.approx(1.0)
    assert saliency.cc(a, b) == pytest.approx(0.0)
    assert saliency.sim(a, b) == pytest.approx(0.5)  # min(0.5, 0.5) in the one shared cell
    p, q = np.array([[0.25, 0.75]]), np.array([[0.5, 0.5]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert saliency.kl_divergence(p, q) == pytest.approx(expected, abs=1e-9)
    assert saliency.kl_divergence(q, q) == pytest.approx(0.0, abs=1e-9)
    # IG: fixations on the 0.75 cell; a uniform baseline gives 0.5: log2(0.75 / 0.5) bits each
    assert saliency.information_gain(p, np.ones((1, 2)), [0, 0], [1, 1]) == pytest.approx(math.log2(1.5))
    assert saliency.information_gain(q, q, [0], [0]) == pytest.approx(0.0)


def test_metrics_agree_with_pysaliency(monkeypatch):
    pysaliency = pytest.importorskip("pysaliency")
    from pysaliency.roc import general_roc

    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)  # pysaliency 0.2.22 predates numpy 2.4

    rng = np.random.default_rng(0)
    smap = rng.gamma(2.0, 1.0, size=(30, 40))
    other = smap + rng.normal(0, 1.0, size=smap.shape) ** 2
    rows, cols = rng.integers(0, 30, 25), rng.integers(0, 40, 25)
    assert saliency.nss(smap, rows, cols) == pytest.approx(pysaliency.metrics.NSS(smap, cols, rows).mean())
    assert saliency.cc(smap, other) == pytest.approx(pysaliency.metrics.CC(smap, other))
    assert saliency.sim(smap, other) == pytest.approx(pysaliency.metrics.SIM(smap, other))
    assert saliency.kl_divergence(smap, other) == pytest.approx(pysaliency.metrics.MIT_KLDiv(smap, other))
    fixated = np.zeros(smap.shape, bool)
    fixated[rows, cols] = True
    auc, _, _ = general_roc(smap[rows, cols].astype(float), smap[~fixated].astype(float), judd=1)
    assert saliency.auc_judd(smap, rows, cols) == pytest.approx(auc)


def test_entropy_of_a_map():
    assert maps.entropy_bits(np.ones((1, 4, 8)))[0] == pytest.approx(3.0 + 2.0)  # uniform over 32 cells
    one = np.zeros((1, 4, 4))
    one[0, 1, 2] = 7.0
    assert maps.entropy_bits(one)[0] == pytest.approx(0.0)
    assert np.isnan(maps.entropy_bits(np.zeros((1, 2, 2)))[0])


def test_maps_bin_weights_and_smoothing_keeps_mass():
    raw = maps.stack(np.array([0, 0, 1]), [5.0, 6.0, 25.0], [5.0, 5.0, 15.0], [1.0, 2.0, 4.0], 2, (4, 4), 10.0)
    assert raw[0, 0, 0] == 3.0 and raw[1, 1, 2] == 4.0 and raw.sum() == 7.0
    big = maps.stack(np.zeros(1, int), [500.0], [500.0], [1.0], 1, (100, 100), 10.0)
    assert maps.smooth(big, 3.0).sum() == pytest.approx(1.0, rel=1e-6)  # far from the border nothing is lost
    assert maps.smooth(big, 3.0)[0].argmax() == 50 * 100 + 50


def test_dispersion_measures_by_hand():
    # a 3 x 4 degree rectangle's corners, at 10 px per degree
    x = np.array([0.0, 4.0, 4.0, 0.0])
    y = np.array([0.0, 0.0, 3.0, 3.0])
    assert dispersion.hull_area(x, y) == pytest.approx(12.0)
    assert dispersion.centroid_distance(x, y) == pytest.approx(2.5)
    sx, sy = x.std(ddof=1), y.std(ddof=1)  # rho = 0
    assert dispersion.bcea(x, y) == pytest.approx(2 * -math.log(1 - 0.682) * math.pi * sx * sy)
    assert dispersion.hull_area(np.array([0.0, 1, 2]), np.array([0.0, 1, 2])) == 0.0  # collinear
    assert math.isnan(dispersion.bcea(x[:2], y[:2]))

    fix = pd.DataFrame({"subject": "a", "stimulus": "s", "condition": "original", "x": x * 10, "y": y * 10,
                        "duration": [100.0, 300.0, 100.0, 100.0], "order": range(4)})
    mask = np.zeros((40, 50), bool)
    mask[:, 35:] = True  # the right edge: the two fixations at x = 40 px
    trials = dispersion.per_trial(fix, {("s", "original"): Stimulus(50, 40, None, mask)}, 10.0, 1.0)
    row = trials.iloc[0]
    assert row["hull_area"] == pytest.approx(12.0) and row["n_fixations"] == 4
    assert row["mask_share"] == pytest.approx(0.5) and row["mask_dwell_share"] == pytest.approx(400 / 600)
    assert row["mean_duration"] == pytest.approx(150.0)


def test_tests_between_conditions_by_hand():
    means = pd.DataFrame({"stimulus": [f"i{k}" for k in range(6)] * 2,
                          "condition": ["original"] * 6 + ["edited"] * 6,
                          "entropy": [5.0, 6, 7, 8, 9, 10] + [4.0, 5.5, 6.9, 7.0, 8.2, 9.9]})
    table = stats.condition_tests(means, ["entropy"], "original", ["edited"], resamples=500, seed=0)
    row = table.iloc[0]
    assert row["n_images"] == 6 and row["p"] == pytest.approx(2 / 64)  # all six differences negative: exact test
    assert row["rank_biserial"] == pytest.approx(-1.0)
    assert row["ci_high"] < 0 and row["ci_low"] < row["mean_difference"] < row["ci_high"]
    from scipy.stats import wilcoxon

    assert row["statistic"] == pytest.approx(wilcoxon(means["entropy"][6:].to_numpy() - means["entropy"][:6].to_numpy()).statistic)


def test_holm_within_a_measure():
    rng = np.random.default_rng(1)
    n = 10
    real = rng.normal(size=n)
    means = pd.DataFrame({"stimulus": [f"i{k}" for k in range(n)] * 3,
                          "condition": ["original"] * n + ["a"] * n + ["b"] * n,
                          "m": np.r_[real, real - 1 - rng.normal(0, 0.1, n), real + rng.normal(0, 1, n)]})
    table = stats.condition_tests(means, ["m"], "original", ["a", "b"], resamples=200, seed=0).set_index("condition")
    p = table.loc[["a", "b"], "p"].sort_values()
    assert table.loc[p.index[0], "p_holm"] == pytest.approx(min(1.0, 2 * p.iloc[0]))
    assert table.loc[p.index[1], "p_holm"] == pytest.approx(max(min(1.0, 2 * p.iloc[0]), p.iloc[1]))
    friedman = stats.friedman(means, ["m"], ["original", "a", "b"])
    assert friedman.iloc[0]["n_images"] == n and friedman.iloc[0]["p"] < 0.01
