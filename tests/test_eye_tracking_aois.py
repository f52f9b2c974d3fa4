"""Areas of interest on a hand-made scanpath: dwell times, first-fixation times, visits, transitions and
their entropy, checked against values worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from analyses.core import InputError, run

# a 1000 x 800 stimulus: A (top left), B (top right), C (triangle, bottom left); fixation 4 lands in none
FIXATIONS = pd.DataFrame({
    "subject": "p1", "image": "scene", "x": [100, 200, 600, 900, 300, 100], "y": [100, 150, 100, 750, 300, 600],
    "start": [0, 250, 400, 700, 800, 1000], "duration": [200, 100, 300, 80, 150, 250]})
AOIS = pd.DataFrame({"aoi": ["A", "B", "C"], "left": [0, 500, None], "top": [0, 0, None], "right": [500, 1000, None],
                     "bottom": [400, 400, None], "points": [None, None, "0 400; 1000 400; 0 800"]})


def analyse(tmp_path, store, **overrides):
    fixations, aoi_file = tmp_path / "fix.csv", tmp_path / "aois.csv"
    FIXATIONS.to_csv(fixations, index=False)
    AOIS.to_csv(aoi_file, index=False)
    return run("eye_tracking", preset="smoke", store=store, overrides={
        "data_path": str(fixations), "aoi_file": str(aoi_file), "screen_width_px": 1000, "screen_height_px": 800,
        "bootstrap": 200, **overrides}).result


def test_aoi_measures_on_a_hand_made_scanpath(tmp_path, store):
    result = analyse(tmp_path, store)
    m = result.tables["aoi_measures"].set_index("aoi")
    assert m.loc["A", ["fixation_count", "dwell_time_ms", "first_fixation_time_ms", "first_fixation_index",
                       "visits", "revisits"]].tolist() == [3, 450, 0, 1, 2, 1]
    assert m.loc["B", ["fixation_count", "dwell_time_ms", "first_fixation_time_ms", "visits"]].tolist() == [1, 300, 400, 1]
    assert m.loc["C", ["fixation_count", "dwell_time_ms", "first_fixation_time_ms", "first_fixation_index"]].tolist() \
        == [1, 250, 1000, 6]
    assert m.loc["outside", ["fixation_count", "dwell_time_ms", "first_fixation_time_ms"]].tolist() == [1, 80, 700]
    assert m["dwell_share"].to_dict() == pytest.approx({"A": 450 / 1080, "B": 300 / 1080, "C": 250 / 1080,
                                                        "outside": 80 / 1080})
    transitions = result.tables["aoi_transitions"].set_index(["from_aoi", "to_aoi"])["count"].to_dict()
    assert transitions == {("A", "A"): 1, ("A", "B"): 1, ("A", "C"): 1, ("B", "outside"): 1, ("outside", "A"): 1}
    metrics = result.metrics
    # H_t = sum_i pi_i H(row i): A leaves 3 times to 3 places, B and outside once each to one place
    assert metrics["aoi_transition_entropy_bits"] == pytest.approx(3 / 5 * math.log2(3))
    assert metrics["aoi_stationary_entropy_bits"] == pytest.approx(-(0.6 * math.log2(0.6) + 2 * 0.2 * math.log2(0.2)))
    assert metrics["aoi_count"] == 3 and metrics["aoi_outside_share"] == pytest.approx(1 / 6)


def test_a_data_viewer_ias_file_and_the_grid(tmp_path, store):
    ias = tmp_path / "scene.ias"
    ias.write_text("# Data Viewer interest areas\nRECTANGLE\t1\t0\t0\t500\t400\tA\n"
                   "RECTANGLE\t2\t500\t0\t1000\t400\tB\nFREEHAND\t3\t0,400\t1000,400\t0,800\tC\n")
    fixations = tmp_path / "fix.csv"
    FIXATIONS.to_csv(fixations, index=False)
    result = run("eye_tracking", preset="smoke", store=store, overrides={
        "data_path": str(fixations), "aoi_file": str(ias), "screen_width_px": 1000, "screen_height_px": 800,
        "bootstrap": 200}).result
    m = result.tables["aoi_measures"].set_index("aoi")
    assert m["fixation_count"].to_dict() == {"A": 3, "B": 1, "C": 1, "outside": 1}
    grid = run("eye_tracking", preset="smoke", store=store, overrides={
        "data_path": str(fixations), "aoi_source": "grid", "aoi_grid": 2, "screen_width_px": 1000,
        "screen_height_px": 800, "bootstrap": 200}).result.tables["aoi_measures"].set_index("aoi")
    # 2 x 2 cells of 500 x 400: fixations 1, 2, 5 top left; 3 top right; 4 bottom right; 6 bottom left
    assert grid["fixation_count"].to_dict() == {"r1c1": 3, "r1c2": 1, "r2c1": 1, "r2c2": 1, "outside": 0}


def test_bad_aoi_files_name_the_row(tmp_path, store):
    bad = AOIS.copy()
    bad.loc[1, "right"] = 100  # right of B before its left
    with pytest.raises(InputError, match=r"aois.csv, row 1: right/bottom"):
        fixations, aoi_file = tmp_path / "fix.csv", tmp_path / "aois.csv"
        FIXATIONS.to_csv(fixations, index=False)
        bad.to_csv(aoi_file, index=False)
        run("eye_tracking", preset="smoke", store=store, overrides={"data_path": str(fixations),
                                                                    "aoi_file": str(aoi_file), "bootstrap": 200})
    ias = tmp_path / "x.ias"
    ias.write_text("CIRCLE 1 2 3\n")
    with pytest.raises(InputError, match=r"x.ias, row 1: not an interest area line"):
        run("eye_tracking", preset="smoke", store=store, overrides={"data_path": str(fixations),
                                                                    "aoi_file": str(ias), "bootstrap": 200})


def test_the_edited_region_as_an_aoi_is_compared_between_conditions(store):
    result = run("eye_tracking", preset="smoke", store=store,
                 overrides={"edit_attraction": 0.7, "demo_images": 8, "bootstrap": 200}).result
    assert result.tables["notes"].set_index("key").loc["aoi_source", "value"] == "masks"
    tests = result.tables["aoi_tests"].set_index(["aoi", "condition"])
    row = tests.loc[("edited region", "manipulated (mean)")]
    assert row["other_mean"] > row["real_mean"] and row["p"] < 0.05  # more dwell on the edit when it is edited
    # the test's image means are the trial measures averaged per image, recomputed here
    m = result.tables["aoi_measures"]
    edit = m[m["aoi"] == "edited region"].groupby(["stimulus", "condition"])["dwell_share"].mean().unstack()
    assert row["real_mean"] == pytest.approx(edit["original"].mean())


def test_the_export_draws_every_stimulus(store, monkeypatch):
    from analyses.eye_tracking import aoi_figures

    outcome = run("eye_tracking", preset="smoke", store=store, overrides={"bootstrap": 200})
    pairs = {f"{s}<br>{c}" for s, c in outcome.result.tables["stimuli"][["stimulus", "condition"]].itertuples(index=False)}
    assert len(pairs) == 24
    page = outcome.figures()["heatmaps_all"]
    assert {a.text for a in page.layout.annotations} == pairs and len(page.data) == 24 and len(page.layout.images) == 24
    monkeypatch.setattr(aoi_figures, "PANELS_PER_PAGE", 10)  # more stimuli than a page holds: more pages
    outcome._figures = None
    figures = outcome.figures()
    pages = [figures[f"heatmaps_all_{i}"] for i in (1, 2, 3)]
    assert "heatmaps_all_4" not in figures and sum(len(p.data) for p in pages) == 24
    assert {a.text for p in pages for a in p.layout.annotations} == pairs


def test_an_ias_file_as_pymovements_ships_one(tmp_path):
    """The layout of pymovements' tests/files/potec_char_aoi_example.ias: a header, a leading time column,
    one character per rectangle with its line number after the label."""
    from analyses.eye_tracking import aois

    ias = tmp_path / "chars.ias"
    ias.write_text("aoi_type\taoi\tstart_x\tstart_y\tend_x\tend_y\tcharacter\tline\n"
                   "0 RECTANGLE\t1\t80\t21\t93\t99\tU\t1\n0 RECTANGLE\t2\t93\t21\t115\t99\tm\t1\n"
                   "0 RECTANGLE\t90\t81\t99\t95\t181\tG\t2\n")
    found = aois.read_file(ias)
    assert [a.name for a in found] == ["U 1", "m 1", "G 2"]
    x, y = np.array([85.0, 100.0, 90.0, 500.0]), np.array([50.0, 50.0, 150.0, 50.0])
    fix = pd.DataFrame({"stimulus": "s", "condition": "c", "x": x, "y": y})
    labels = aois.label(fix, aois.for_stimuli(found, [("s", "c")]))
    assert labels.tolist() == ["U 1", "m 1", "G 2", "outside"]
    ias.write_text("RECTANGLE 1 0 0 10 10 a\nnonsense here\n")
    with pytest.raises(InputError, match=r"chars.ias, row 2: not an interest area line"):
        aois.read_file(ias)
