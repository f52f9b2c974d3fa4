"""Every input format of the eye-tracking analysis, the safe unpickler, and the bad-input messages.

The real EyeLink recording is read in place from ../shared/data/eyetracking (never copied here).
"""

import io
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analyses.core import run
from analyses.eye_tracking import safe_pickle
from conftest import SHARED

RACCOONS = SHARED / "data" / "eyetracking" / "pymovements" / "raccoons.asc"


def params(**overrides):
    from analyses.eye_tracking import ANALYSIS

    return ANALYSIS.params("smoke", {"bootstrap": 200, **overrides})


def load(**overrides):
    from analyses.eye_tracking import loaders
    from analyses.eye_tracking.geometry import Screen

    p = params(**overrides)
    return loaders.load(p, Screen.from_params(p))


# --- the paper's layout -------------------------------------------------------------------------------

def paper_data(n_images=3, n_users=4, seed=0):
    """data[img_id][edit_type]["user_<n>"] with x_fix/y_fix; fixations on the edited images cluster at
    the edited square (60..100, 40..80), on the originals they spread over the 160 x 120 picture."""
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(n_images):
        data[f"{100 + i}"] = {}
        for edit in ("original", "semantic_aware"):
            users = {}
            for u in range(n_users):
                if edit == "original":
                    x, y = rng.uniform(5, 155, 8), rng.uniform(5, 115, 8)
                else:
                    x, y = rng.uniform(60, 100, 8), rng.uniform(40, 80, 8)
                users[f"user_{u}"] = {"x_fix": x, "y_fix": list(y), "x_coords": np.repeat(x, 5),
                                      "y_coords": np.repeat(y, 5)}
            data[f"{100 + i}"][edit] = users
    return data


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def paper_zip(path, data, masks=True, extra=None, without_images=()):
    rng = np.random.default_rng(1)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dataset/gaze_data.pickle", pickle.dumps(data))
        for img_id in data:
            if img_id in without_images:
                continue
            picture = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            edited = picture.copy()
            edited[40:80, 60:100] = 255 - edited[40:80, 60:100]
            archive.writestr(f"dataset/images/original/{img_id}.jpg", png(picture))  # a PNG named .jpg decodes too
            archive.writestr(f"dataset/images/semantic_aware/{img_id}.png", png(edited))
            if masks:
                mask = np.zeros((120, 160), np.uint8)
                mask[40:80, 60:100] = 255
                archive.writestr(f"dataset/masks/semantic_aware/{img_id}.png", png(mask))
                archive.writestr(f"dataset/saliency/semantic_aware/{img_id}.png", png(mask))  # a model that knows
        for name, payload in (extra or {}).items():
            archive.writestr(name, payload)
    return path


def test_paper_layout_zip_reads_fixations_images_and_masks(tmp_path):
    dataset = load(data_path=str(paper_zip(tmp_path / "ds.zip", paper_data())))
    fix = dataset.fixations
    assert set(fix["condition"]) == {"original", "semantic_aware"}
    assert len(fix) == 3 * 2 * 4 * 8 and fix["subject"].str.startswith("user_").all()
    assert fix["duration"].isna().all()  # the paper's pickle has no durations
    stim = dataset.stimulus("100", "semantic_aware")
    assert (stim.width, stim.height) == (160, 120) and stim.image.shape == (120, 160, 3)
    assert stim.mask.sum() == 40 * 40
    assert dataset.stimulus("100", "original").mask.sum() == 40 * 40  # the region edited elsewhere


def test_paper_layout_gives_the_papers_result(tmp_path, store):
    path = paper_zip(tmp_path / "ds.zip", paper_data(n_images=6))
    outcome = run("eye_tracking", preset="smoke", overrides={"data_path": str(path), "bootstrap": 200}, store=store)
    m = outcome.result.metrics
    assert m["entropy_fake_mean"] < m["entropy_real_mean"]
    assert m["dispersion_test_p"] == pytest.approx(2 / 64)  # six images, every one more confined when edited
    assert m["mask_share_fake_mean"] == pytest.approx(1.0) and m["mask_share_real_mean"] < 0.3
    # a shipped saliency map that marks the edit predicts the fixations on the edited images
    scores = outcome.result.tables["saliency_metrics"].set_index(["predictor", "condition"])
    assert scores.loc[("dataset_saliency", "semantic_aware"), "AUC_Judd"].min() > 0.9
    assert m["auc_judd_dataset_saliency_mean"] > m["auc_judd_centre_bias_mean"]
    assert not m.get("simulated")


def test_masks_are_derived_from_the_difference_when_missing(tmp_path):
    dataset = load(data_path=str(paper_zip(tmp_path / "ds.zip", paper_data(), masks=False)))
    mask = dataset.stimulus("101", "semantic_aware").mask
    truth = np.zeros((120, 160), bool)
    truth[40:80, 60:100] = True
    assert (mask == truth).mean() > 0.97
    assert any("derived" in p["problem"] for p in dataset.problems)


def test_a_bare_pickle_is_read_with_the_screen_as_stimulus(tmp_path):
    path = tmp_path / "gaze_data.pickle"
    path.write_bytes(pickle.dumps(paper_data()))
    dataset = load(data_path=str(path))
    assert dataset.stimulus("100", "original").width == 1920
    assert len(dataset.fixations) == 192


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"1": {"original": {"user_0": Exploit(marker)}}})
    with pytest.raises(ValueError, match="system, which is not plain data"):
        safe_pickle.loads(payload)
    path = paper_zip(tmp_path / "evil.zip", {}, extra={})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gaze_data.pickle", payload)
    with pytest.raises(ValueError, match="not plain data"):
        load(data_path=str(path))
    bare = tmp_path / "gaze_data.pickle"
    bare.write_bytes(payload)
    with pytest.raises(ValueError, match="not plain data"):
        load(data_path=str(bare))
    assert not marker.exists()
    # a plain pickle.load would have run it: the marker proves the payload is live
    pickle.loads(payload)
    assert marker.exists()


def test_numpy_arrays_and_plain_containers_pass_the_unpickler():
    data = {"a": [np.arange(3.0), np.float32(1.5), (1, "x"), {"b": np.array([[1, 2]], dtype=np.int16)}]}
    for protocol in (2, 4, 5):
        back = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
        assert np.array_equal(back["a"][3]["b"], data["a"][3]["b"]) and back["a"][2] == (1, "x")


def test_bad_entries_in_the_pickle_are_reported_by_key(tmp_path):
    data = paper_data(n_images=2)
    data["100"]["original"]["user_9"] = {"x_fix": [1.0, 2.0], "y_fix": [1.0]}
    data["100"]["original"]["user_8"] = {"x_fix": [], "y_fix": []}
    data["101"]["semantic_aware"]["user_0"]["x_fix"] = np.array([10.0, np.nan, 500.0, 20, 20, 20, 20, 20])
    dataset = load(data_path=str(paper_zip(tmp_path / "ds.zip", data)))
    text = "\n".join(f"{p['problem']} @ {p['where']}" for p in dataset.problems)
    assert "x_fix has 2 values but y_fix 1" in text and "['100']['original']['user_9']" in text
    assert "empty trial" in text and "user_8" in text
    assert "missing or non-numeric x/y" in text and "outside the image" in text
    assert len(dataset.fixations) == 2 * 2 * 4 * 8 - 1  # only the NaN row is gone; out-of-image kept (default)


def test_images_that_do_not_match_the_stimulus_ids_are_reported(tmp_path):
    data = paper_data(n_images=2)
    data["999"] = data.pop("101")
    dataset = load(data_path=str(paper_zip(tmp_path / "ds.zip", data, without_images=("999",))))
    assert any("no image" in p["problem"] and "999" in p["where"] for p in dataset.problems)
    assert "999" in set(dataset.fixations["stimulus"])  # still analysed, on the screen's canvas


def test_a_zip_without_the_pickle_names_the_expected_layout(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/original/1.jpg", b"")
    with pytest.raises(ValueError, match="no gaze_data.pickle"):
        load(data_path=str(path))


# --- fixation tables -----------------------------------------------------------------------------------

def test_a_data_viewer_fixation_report_is_recognised(tmp_path):
    report = pd.DataFrame({
        "RECORDING_SESSION_LABEL": ["p1"] * 4 + ["p2"] * 4,
        "image": ["cat"] * 8, "condition": ["original", "original", "edited", "edited"] * 2,
        "CURRENT_FIX_INDEX": [1, 2, 1, 2] * 2,
        "CURRENT_FIX_X": ["100.5", "200", "300", "."] + ["10", "20", "30", "40"],
        "CURRENT_FIX_Y": [50, 60, 70, 80, 90, 100, 3000, 120],
        "CURRENT_FIX_DURATION": [200, 250, 300, 350, 150, 180, 210, 240],
    })
    path = tmp_path / "report.txt"
    report.to_csv(path, sep="\t", index=False)
    dataset = load(data_path=str(path), out_of_bounds="drop")
    fix = dataset.fixations
    assert len(fix) == 6 and set(fix["subject"]) == {"p1", "p2"}
    assert fix.loc[fix["x"] == 100.5, "duration"].item() == 200
    text = "\n".join(f"{p['problem']} @ {p['where']}" for p in dataset.problems)
    assert "missing or non-numeric x/y (row dropped) @ rows 3" in text
    assert "outside the image (row dropped) @ rows 6" in text


def test_start_and_end_give_durations_and_order(tmp_path):
    table = pd.DataFrame({"participant": ["a"] * 3, "stimulus": ["s"] * 3, "x": [1.0, 2, 3], "y": [1.0, 2, 3],
                          "start": [500, 100, 300], "end": [700, 200, 450]})
    path = tmp_path / "fix.csv"
    table.to_csv(path, index=False)
    fix = load(data_path=str(path)).fixations
    assert fix["x"].tolist() == [2.0, 3.0, 1.0] and fix["duration"].tolist() == [100, 150, 200]


def test_a_table_without_coordinates_names_the_columns(tmp_path):
    path = tmp_path / "fix.csv"
    pd.DataFrame({"subject": ["a"], "horizontal": [1.0], "vertical": [2.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column for x and y.*columns found: subject, horizontal, vertical"):
        load(data_path=str(path))


def test_a_table_with_only_bad_rows_says_why(tmp_path, store):
    path = tmp_path / "fix.csv"
    pd.DataFrame({"x": [np.nan, "abc"], "y": [1.0, 2.0]}).to_csv(path, index=False)
    cached = run("eye_tracking", preset="smoke", overrides={"bootstrap": 200}, store=store)
    with pytest.raises(ValueError, match=r"no valid fixations left.*missing or non-numeric x/y.*rows 0, 1"):
        run("eye_tracking", preset="smoke", overrides={"data_path": str(path), "bootstrap": 200}, store=store)
    again = run("eye_tracking", preset="smoke", overrides={"bootstrap": 200}, store=store)
    assert again.cache_hit and again.key == cached.key  # a failed run loses nothing cached


def test_raw_samples_become_fixations_by_idt_and_ivt(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(0, 1200, 2)  # 500 Hz
    x = np.where(t < 600, 400.0, 900.0) + rng.normal(0, 0.5, t.size)
    y = np.where(t < 600, 300.0, 500.0) + rng.normal(0, 0.5, t.size)
    samples = pd.DataFrame({"timestamp": np.r_[t, t], "gaze_x": np.r_[x, x + 10], "gaze_y": np.r_[y, y],
                            "participant": ["a"] * t.size + ["b"] * t.size, "image": "s"})
    path = tmp_path / "samples.csv"
    samples.to_csv(path, index=False)
    for detection in ("idt", "ivt"):
        fix = load(data_path=str(path), detection=detection).fixations
        a = fix[fix["subject"] == "a"].sort_values("order")
        assert len(a) == 2, detection
        assert a["x"].tolist() == pytest.approx([400.0, 900.0], abs=2)
        assert a["duration"].between(450, 600).all()


# --- EyeLink ASC (the real recording) ------------------------------------------------------------------

def test_the_real_eyelink_recording_by_idt():
    dataset = load(data_path=str(RACCOONS), fixations="detect", screen_width_cm=56.8, viewing_distance_cm=105.5)
    fix = dataset.fixations
    # EyeLink's own parser found one fixation: EFIX L 147953 148207 255 1008.6 1190.4
    assert len(fix) == 1
    assert fix["x"].item() == pytest.approx(1008.6, abs=2) and fix["y"].item() == pytest.approx(1190.4, abs=2)
    assert fix["duration"].item() == pytest.approx(255, abs=30)
    assert fix["subject"].item() == "raccoons" and fix["stimulus"].item() == "trial 0"
    # y = 1190 lies below the 1080-px screen: reported, kept for the measures
    assert any("outside the image" in p["problem"] for p in dataset.problems)


def test_the_real_eyelink_recording_by_ivt_and_its_threshold():
    fix = load(data_path=str(RACCOONS), fixations="detect", detection="ivt", velocity_threshold=50.0,
               screen_width_cm=56.8, viewing_distance_cm=105.5).fixations
    assert len(fix) == 1 and fix["x"].item() == pytest.approx(1008.6, abs=3)
    with pytest.raises(ValueError, match="I-VT at 20°/s .* found no fixation: try a higher velocity threshold"):
        load(data_path=str(RACCOONS), fixations="detect", detection="ivt", velocity_threshold=20.0,
             screen_width_cm=56.8, viewing_distance_cm=105.5)
    with pytest.raises(ValueError, match="out of bounds|no valid fixations left"):
        load(data_path=str(RACCOONS), out_of_bounds="drop")


def test_a_file_that_is_not_asc(tmp_path):
    path = tmp_path / "x.asc"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="x.asc"):
        load(data_path=str(path))
