"""The eye-tracking analysis end to end: the paper's result on simulated observers, the CLI's acceptance
runs on every format, display options that only redraw, and SIMULATED on every demo figure."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analyses.core import run
from analyses.eye_tracking import ANALYSIS
from conftest import SHARED

RACCOONS = SHARED / "data" / "eyetracking" / "pymovements" / "raccoons.asc"
STRONG = {"demo_images": 10, "demo_observers": 10, "edit_attraction": 0.7, "bootstrap": 300}


def test_observers_drawn_to_the_edit_look_at_more_confined_regions(store):
    """The paper's finding, on simulated observers: on manipulated images the fixations are less dispersed."""
    pulled = run("eye_tracking", preset="smoke", overrides=STRONG, store=store).result
    m = pulled.metrics
    assert m["entropy_fake_mean"] < m["entropy_real_mean"]
    assert m["centroid_distance_fake_mean"] < m["centroid_distance_real_mean"]
    assert m["mask_share_fake_mean"] > 2 * m["mask_share_real_mean"]
    assert m["dispersion_test_p"] < 0.05 and m["dispersion_test_n"] == 10 and m["dispersion_effect_dz"] < 0
    tests = pulled.tables["tests"].set_index(["measure", "condition"])
    assert tests.loc[("entropy", "manipulated (mean)"), "dz_ci_high"] < 0  # the bootstrap interval excludes 0

    null = run("eye_tracking", preset="smoke", overrides={**STRONG, "edit_attraction": 0.0}, store=store).result.metrics
    assert null["dispersion_test_p"] > 0.05
    assert (null["entropy_real_mean"] - null["entropy_fake_mean"]) < (m["entropy_real_mean"] - m["entropy_fake_mean"])


def test_the_result_holds_per_trial_measures_tests_and_models(store):
    result = run("eye_tracking", preset="smoke", store=store).result
    trials = result.tables["trials"]
    assert {"subject", "stimulus", "condition", "entropy", "centroid_distance", "hull_area", "bcea", "n_fixations",
            "mean_duration", "mask_share", "mask_dwell_share"} <= set(trials.columns)
    assert len(trials) == 8 * 8 * 3 == result.metrics["n_trials"]
    assert trials["simulated"].all()  # every demo table says so
    mixed = result.tables["mixed_model"]
    assert set(mixed.loc[mixed["measure"] == "entropy", "term"]) == {"colour_shift", "patch_swap"}
    assert mixed["model"].str.contains("crossed").all()
    friedman = result.tables["friedman"]
    assert (friedman["k_conditions"] == 3).all() and friedman["p_holm"].ge(friedman["p"]).all()
    scores = result.tables["saliency_metrics"]
    assert set(scores["predictor"]) == {"centre_bias", "spectral_residual", "real_observers"}
    assert (scores.loc[scores["predictor"] == "centre_bias", "IG"] == 0).all()


def test_display_options_redraw_without_recomputing(store):
    first = run("eye_tracking", preset="smoke", store=store)
    other = run("eye_tracking", preset="smoke", overrides={"sigma_deg": 2.5, "opacity": 0.3, "weighting": "duration",
                                                           "colorscale": "Viridis"}, store=store)
    assert other.cache_hit and other.key == first.key
    heat_a, heat_b = (next(t for t in o.figures()["heatmap"].data if t.type == "heatmap") for o in (first, other))
    assert heat_b.opacity == 0.3 and heat_b.colorscale != heat_a.colorscale
    assert not np.allclose(np.nan_to_num(np.asarray(heat_a.z, float)), np.nan_to_num(np.asarray(heat_b.z, float)))
    assert "σ = 2.5° = 103 px" in other.figures()["heatmap"].layout.title.text


def test_every_demo_figure_says_simulated(store):
    partials = []
    outcome = run("eye_tracking", preset="smoke", store=store, on_preview=partials.append)
    live = ANALYSIS.preview(partials[0], outcome.params)  # drawn while the tests compute
    assert set(live) == {"heatmap", "scanpath"} and all(f.layout.title.text.startswith("SIMULATED") for f in live.values())
    figures = outcome.figures()
    assert set(figures) == {"heatmap", "scanpath", "real_vs_fake", "conditions", "effects", "saliency_metrics",
                            "aoi_dwell", "aoi_transitions", "heatmaps_all"}
    assert all(f.layout.title.text.startswith("SIMULATED DATA") for f in figures.values())
    text = figures["conditions"].layout.annotations[0].text
    assert "Wilcoxon signed-rank" in text and "n = 8 images" in text and "Friedman" in text


def labscope(*args, cache):
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "analyses.core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_smoke_and_real_files(tmp_path):
    cache = tmp_path / "cache"
    out = labscope("run", "eye_tracking", "--preset", "smoke", "--out", str(tmp_path / "smoke"), cache=cache)
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "smoke" / "result.json").read_text())
    assert {"entropy_real_mean", "entropy_fake_mean", "dispersion_test_p"} <= set(record["metrics"])
    trials = pd.read_csv(tmp_path / "smoke" / "trials.csv")
    assert {"entropy", "bcea", "hull_area"} <= set(trials.columns) and len(trials) == 192

    fixations = tmp_path / "fix.csv"
    pd.DataFrame({"subject": ["a", "a", "b", "b"], "image": ["s"] * 4, "x": [100, 200, 300, 400],
                  "y": [100, 150, 200, 250], "duration": [200, 220, 240, 260]}).to_csv(fixations, index=False)
    from test_eye_tracking_loaders import paper_data, paper_zip

    dataset = paper_zip(tmp_path / "unveiling.zip", paper_data())
    for path in (RACCOONS, fixations, dataset):
        out = labscope("run", "eye_tracking", "--set", f"data_path={path}", "--out", str(tmp_path / path.stem),
                       cache=cache)
        assert out.returncode == 0, out.stderr
        metrics = json.loads((tmp_path / path.stem / "result.json").read_text())["metrics"]
        assert metrics["n_fixations"] >= 1 and metrics["simulated"] == 0

    broken = tmp_path / "broken.csv"
    broken.write_text("subject,horizontal\na,1\n")
    out = labscope("run", "eye_tracking", "--set", f"data_path={broken}", "--out", str(tmp_path / "b"), cache=cache)
    assert out.returncode == 1 and "no column for x and y" in out.stderr
    out = labscope("run", "eye_tracking", "--set", "data_path=/no/such.csv", "--out", str(tmp_path / "b"), cache=cache)
    assert out.returncode == 2 and "data_path" in out.stderr


def test_out_of_range_parameters_name_themselves():
    with pytest.raises(ValueError, match="parameter 'sigma_deg': out of range"):
        ANALYSIS.params("smoke", {"sigma_deg": 50})
    with pytest.raises(ValueError, match="parameter 'data_path': unsupported file type"):
        ANALYSIS.params("smoke", {"data_path": __file__})
