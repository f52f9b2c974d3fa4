"""Eye tracking as cached stages: a changed parameter recomputes exactly its stages and those downstream.

load (read/simulate, detect, validate) -> maps (per-trial maps at the entropy σ) -> statistics;
load -> saliency_metrics; load -> areas_of_interest. What ran is read from provenance["stages"] and,
for the load, by counting calls of the loader.
"""

import numpy as np
import pytest

from analyses.core import CacheStore, run
from asc_writer import write

STAGES = ["load", "maps", "statistics", "saliency_metrics", "areas_of_interest"]
SMALL = {"demo_images": 4, "demo_observers": 4, "demo_fixations": 5, "bootstrap": 100}
# three ASC trials: (x, y, samples at 1000 Hz)
TRIALS = [[(300, 200, 180), (700, 240, 250), (900, 600, 120)], [(640, 512, 300), (200, 900, 210)],
          [(100, 100, 150), (1100, 150, 160), (1150, 950, 400)]]


def _analysis():
    from analyses.eye_tracking import ANALYSIS

    return ANALYSIS


@pytest.fixture
def loads(monkeypatch):
    """Every call of the loader (a read or simulation, detection and validation)."""
    from analyses.eye_tracking import compute

    calls = []
    original = compute.loaders.load

    def counted(params, screen):
        calls.append(params.get("data_path"))
        return original(params, screen)

    monkeypatch.setattr(compute.loaders, "load", counted)
    return calls


def _run(store, **overrides):
    return run(_analysis(), preset="smoke", overrides={**SMALL, **overrides}, store=store)


def _computed(outcome):
    return [s["stage"] for s in outcome.result.provenance["stages"] if s["status"] == "computed"]


def _same_result(a, b):
    assert a.metrics == b.metrics  # exactly, not approximately
    assert sorted(a.tables) == sorted(b.tables) and sorted(a.arrays) == sorted(b.arrays)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
        assert a.tables[name].dtypes.equals(b.tables[name].dtypes), name
    for name in a.arrays:
        assert np.array_equal(a.arrays[name], b.arrays[name]), name


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A cache holding the stages of one demo run, shared by the table below (each case changes other values)."""
    store = CacheStore(tmp_path_factory.mktemp("eye-stages"))
    assert _computed(_run(store)) == STAGES
    return store


@pytest.mark.parametrize("change, recomputed", [
    ({"entropy_sigma_deg": 1.5}, ["maps", "statistics", "saliency_metrics"]),  # no reload, no re-detection
    ({"bootstrap": 300}, ["statistics", "areas_of_interest"]),
    ({"aoi_source": "grid", "aoi_grid": 2}, ["areas_of_interest"]),
    ({"aoi_source": "none"}, ["areas_of_interest"]),
    ({"seed": 7}, STAGES),  # the demo's observers and the bootstrap
    ({"out_of_bounds": "drop"}, STAGES),
])
def test_a_changed_parameter_recomputes_exactly_its_stages(demo_store, loads, change, recomputed):
    outcome = _run(demo_store, **change)
    assert _computed(outcome) == recomputed
    assert all(s["status"] == "read back" for s in outcome.result.provenance["stages"] if s["stage"] not in recomputed)
    assert len(loads) == ("load" in recomputed)


def test_a_display_option_recomputes_nothing(demo_store, loads):
    outcome = _run(demo_store, sigma_deg=2.5, weighting="duration", opacity=0.3)  # the heatmap's own σ
    assert outcome.cache_hit and loads == []


def test_a_staged_rerun_gives_the_numbers_of_a_run_from_an_empty_cache(demo_store, tmp_path):
    change = {"entropy_sigma_deg": 0.7, "aoi_grid": 4, "aoi_source": "grid"}
    staged = _run(demo_store, **change)
    assert _computed(staged) == ["maps", "statistics", "saliency_metrics", "areas_of_interest"]
    fresh = _run(CacheStore(tmp_path / "empty"), **change)
    assert _computed(fresh) == STAGES
    assert staged.result.metrics["entropy_real_mean"] > 0 and staged.result.metrics["aoi_count"] == 16
    _same_result(staged.result, fresh.result)


def test_an_asc_recording_redetects_only_for_detection_parameters(store, tmp_path, loads):
    path = tmp_path / "three.asc"
    write(path, TRIALS)
    detect = {"data_path": str(path), "fixations": "detect", "detection": "ivt", "aoi_source": "grid"}
    first = _run(store, **detect)
    assert _computed(first) == STAGES and len(loads) == 1
    assert sorted(first.result.tables["fixations"]["stimulus"].unique()) == ["trial 1", "trial 2", "trial 3"]

    aoi = _run(store, **detect, aoi_grid=2)
    assert _computed(aoi) == ["areas_of_interest"] and len(loads) == 1
    maps = _run(store, **detect, aoi_grid=2, entropy_sigma_deg=2.0)
    assert _computed(maps) == ["maps", "statistics", "saliency_metrics"] and len(loads) == 1
    redetected = _run(store, **detect, aoi_grid=2, entropy_sigma_deg=2.0, velocity_threshold=40.0)
    assert _computed(redetected) == STAGES and len(loads) == 2

    fresh = _run(CacheStore(tmp_path / "empty"), **detect, aoi_grid=2, entropy_sigma_deg=2.0)
    _same_result(maps.result, fresh.result)


def test_tables_between_stages_survive_the_cache_exactly(store):
    """The cache writes tables as CSV ("01" would come back as the number 1); stages pass them as arrays."""
    import pandas as pd

    from analyses.core import Result
    from analyses.eye_tracking import stage_io

    table = pd.DataFrame({"subject": ["01", "1", None], "stimulus": ["007", "x", "2.50"],
                          "x": [1 / 3, np.nan, 2e-17], "order": [0, 1, 2], "inside": [True, False, True]})
    stored = Result(arrays=stage_io.frames_to_arrays({"fixations": table, "empty": pd.DataFrame()}))
    store.get_or_compute("eye_tracking.test", "k" * 64, lambda: stored)
    back = store.get_or_compute("eye_tracking.test", "k" * 64, lambda: pytest.fail("not read back"))
    assert back.cache_hit
    frames = stage_io.frames_from_arrays(back.result.arrays)
    assert frames["fixations"]["subject"].tolist()[:2] == ["01", "1"] and pd.isna(frames["fixations"]["subject"][2])
    assert frames["fixations"]["stimulus"].tolist() == ["007", "x", "2.50"]
    assert frames["fixations"]["x"].tolist()[0] == 1 / 3 and frames["fixations"]["x"].tolist()[2] == 2e-17
    assert frames["fixations"].dtypes.tolist() == [object, object, np.float64, np.int64, bool]
    assert frames["empty"].empty
