"""The loss landscape as cached stages: a changed parameter recomputes exactly its stages and those downstream.

    training -> interpolation_path, hessian_spectrum, directions (random) / hessian_directions (hessian),
                surface_grid -> curvature, random_slices, optimizer_trajectory,
                second_network -> connectivity_path, third_network -> three_models

What ran is read from provenance["stages"] and, independently, by counting the calls of the functions
each stage's work goes through (training, the Hessian, the grid, ...), and of `train` itself. The
training stage is the network shared with the phase diagram (`loss_landscape.network`).
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from analyses.core import CacheStore, Context, code_version, run
from analyses.loss_landscape import ANALYSIS
from analyses.loss_landscape import compute as landscape
from analyses.loss_landscape import training

SMALL = {"epochs": 3, "width": 16, "grid_points": 7, "interp_points": 7, "eval_samples": 200, "lanczos_steps": 5,
         "slice_seeds": 2, "hessian_samples": 6}
ALL = ["training", "interpolation_path", "hessian_spectrum", "directions", "surface_grid", "curvature",
       "random_slices", "optimizer_trajectory", "second_network", "connectivity_path", "third_network", "three_models"]
# The function each stage's work goes through, and the stage it stands for.
WORK = {"train_network": "training", "interpolation": "interpolation_path", "hessian_summary": "hessian_spectrum",
        "curvature_check": "curvature", "slices": "random_slices", "optimizer_path": "optimizer_trajectory",
        "mode_connectivity": "connectivity_path", "plane_through_three": "three_models"}


@pytest.fixture
def ran(monkeypatch):
    """Stages whose work ran, in order, from calls of compute.py's functions; and how often `train` ran."""
    log = {"stages": [], "train": 0}
    nested = []

    def wrap(name, function, stage):
        def counted(*args, **kwargs):
            if not nested:
                log["stages"].append(stage(*args) if callable(stage) else stage)
            nested.append(name)
            try:
                return function(*args, **kwargs)
            finally:
                nested.pop()
        return counted

    for name, stage in WORK.items():
        monkeypatch.setattr(landscape, name, wrap(name, getattr(landscape, name), stage))
    monkeypatch.setattr(landscape, "surface", wrap("surface", landscape.surface, "surface_grid"))
    monkeypatch.setattr(landscape, "plane_directions", wrap("plane_directions", landscape.plane_directions,
                                                            lambda center, eigen, params: "directions" if eigen is None
                                                            else "hessian_directions"))
    monkeypatch.setattr(landscape, "another_network", wrap(
        "another_network", landscape.another_network,
        lambda seed, *rest: "second_network" if seed == SMALL_SECOND[0] else "third_network"))

    def count(original):
        def counted(*args, **kwargs):
            log["train"] += 1
            return original(*args, **kwargs)
        return counted

    monkeypatch.setattr(landscape, "train", count(landscape.train))
    monkeypatch.setattr(training, "train", count(training.train))
    return log


SMALL_SECOND = [1]  # the second network's seed in the run under test (the third's is one more)


def _run(store, log=None, **overrides):
    SMALL_SECOND[0] = overrides.get("second_seed", 1)
    if log is not None:
        log["stages"].clear()
        log["train"] = 0
    return run(ANALYSIS, preset="smoke", overrides={**SMALL, **overrides}, store=store)


def _statuses(outcome):
    return {s["stage"]: s["status"] for s in outcome.result.provenance["stages"]}


def _computed(outcome):
    return [stage for stage, status in _statuses(outcome).items() if status == "computed"]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    """A cache holding one small run's stages, shared by the table below (each case changes another value)."""
    store = CacheStore(tmp_path_factory.mktemp("landscape-stages"))
    assert _computed(_run(store)) == ALL
    return store


@pytest.mark.parametrize("change, recomputed, trained", [
    ({"grid_range": 0.5}, ["surface_grid", "curvature", "random_slices"], 0),
    ({"hessian_samples": 4}, ["hessian_spectrum"], 0),
    ({"lanczos_steps": 6}, ["hessian_spectrum"], 0),
    ({"direction_seed": 3}, ["directions", "surface_grid", "curvature", "random_slices"], 0),
    ({"interp_points": 9}, ["interpolation_path", "connectivity_path"], 0),
    ({"grid_points": 9}, ["surface_grid", "curvature", "random_slices", "optimizer_trajectory", "three_models"], 0),
    ({"second_seed": 4}, ["second_network", "connectivity_path", "third_network", "three_models"], 2),
    ({"spawn_epoch": 1}, ["second_network", "connectivity_path", "third_network", "three_models"], 2),
    ({"three_models": False}, [], 0),  # the third network and its plane are skipped; the rest is read back
    ({"directions": "hessian"}, ["hessian_spectrum", "hessian_directions", "surface_grid", "curvature"], 0),
    ({"eval_samples": 300}, ["interpolation_path", "hessian_spectrum", "surface_grid", "curvature", "random_slices",
                             "optimizer_trajectory", "connectivity_path", "three_models"], 0),
    ({"lr": 0.04}, ALL, 3),  # a training parameter: everything downstream, all three networks
    ({"epochs": 4}, ALL, 3),
])
def test_a_changed_parameter_recomputes_exactly_its_stages(base_store, ran, change, recomputed, trained):
    outcome = _run(base_store, ran, **change)
    assert not outcome.cache_hit
    assert _computed(outcome) == recomputed
    assert ran["stages"] == recomputed  # what actually ran, counted at the functions doing the work
    assert ran["train"] == trained
    assert all(status in ("read back", "skipped") for stage, status in _statuses(outcome).items()
               if stage not in recomputed)


def test_a_display_option_recomputes_nothing(base_store, ran):
    outcome = _run(base_store, ran, color_scale="log")
    assert outcome.cache_hit and ran["stages"] == [] and ran["train"] == 0


def _same(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:  # exactly, not approximately (NaN where undefined in both)
        assert a.metrics[name] == b.metrics[name] or (np.isnan(a.metrics[name]) and np.isnan(b.metrics[name])), name
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
        assert a.tables[name].dtypes.equals(b.tables[name].dtypes), name


def test_a_staged_rerun_gives_the_numbers_of_a_run_from_an_empty_cache(base_store, tmp_path, ran):
    change = {"grid_range": 0.7, "hessian_samples": 5, "interp_points": 9}
    staged = _run(base_store, ran, **change)
    assert "training" not in ran["stages"] and ran["train"] == 0
    fresh = _run(CacheStore(tmp_path / "empty"), ran, **change)
    assert ran["stages"] == ALL
    _same(staged.result, fresh.result)
    without_cache = landscape.compute(ANALYSIS.params("smoke", {**SMALL, **change}), Context(device="cpu"))
    _same(without_cache, fresh.result)


def _phase_cell(seeds=2):
    """A phase-diagram cell whose seed-0 network has the small run's training settings (seed 0, data seed 0)."""
    return {"dataset": "digits", "width": SMALL["width"], "train_size": 0, "depth": 1, "lr": 0.05,
            "epochs": SMALL["epochs"], "batch_size": 64, "seeds": seeds, "label_noise": 0.0, "eval_samples": 300,
            "data_seed": 0}


def test_a_phase_cell_reads_back_the_network_a_landscape_run_trained(tmp_path, ran):
    from analyses.landscape_phases import ANALYSIS as PHASES
    from analyses.landscape_phases.cells import compute_cell

    store = CacheStore(tmp_path / "cache")
    _run(store, ran)  # smoke: depth 1, lr 0.05, batch 64, seed 0
    ctx = Context(device="cpu", store=store, scope=f"landscape_phases@{PHASES.code_version}")
    ran["train"] = 0
    shared = compute_cell(_phase_cell(), ctx)
    assert ran["train"] == 1  # seed 1 only: seed 0 is the landscape run's network
    alone = compute_cell(_phase_cell(), Context(device="cpu"))  # no cache: both seeds trained here
    assert ran["train"] == 3
    assert shared.metrics == alone.metrics
    assert shared.tables["seeds"].equals(alone.tables["seeds"])


def test_a_landscape_run_reads_back_the_network_a_phase_cell_trained(tmp_path, ran):
    from analyses.landscape_phases.cells import compute_cell

    store = CacheStore(tmp_path / "cache")
    compute_cell(_phase_cell(seeds=2), Context(device="cpu", store=store, scope="landscape_phases@test"))
    outcome = _run(store, ran)
    assert _statuses(outcome)["training"] == "read back" and "training" not in ran["stages"]
    assert ran["train"] == 2  # the second and third networks; the first is the phase cell's seed 0
    fresh = _run(CacheStore(tmp_path / "empty"), ran)
    _same(outcome.result, fresh.result)


def test_a_blown_up_network_a_phase_cell_stored_is_refused_by_the_landscape(tmp_path, monkeypatch):
    from analyses.core import InputError

    store = CacheStore(tmp_path / "cache")
    settings = training.landscape_network(ANALYSIS.params("smoke", SMALL))
    with monkeypatch.context() as hot:  # any batch loss counts as a blow-up: what a hot phase cell stores
        hot.setattr(training, "EXPLODING", 1e-9)
        network = training.trained_network(Context(device="cpu", store=store), settings, stop_above=None)
    assert network.metrics["blowup_epoch"] == 1  # stored: a phase diagram's hot cells may blow up and settle
    with pytest.raises(InputError, match="diverged at epoch 1 .*lower 'lr', the learning rate \\(now 0.05\\)"):
        _run(store)
    assert set(store.info()["analyses"]) == {"loss_landscape.network"}  # nothing computed on it was kept


def _tree(tmp_path) -> Path:
    """A copy of the two analyses (and the package marker) to edit."""
    root = tmp_path / "analyses"
    real = Path(code_version.ROOT)
    root.mkdir()
    shutil.copy(real / "__init__.py", root / "__init__.py")
    for name in ("loss_landscape", "landscape_phases"):
        shutil.copytree(real / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_editing_the_landscapes_training_code_invalidates_phase_results(tmp_path, monkeypatch):
    import os
    import time

    root = _tree(tmp_path)
    monkeypatch.setattr(code_version, "ROOT", root)

    def versions():
        return {name: code_version.digest(code_version.package_files(root / name), base=root / name)
                for name in ("loss_landscape", "landscape_phases")}

    def edit(relative):
        path = root / relative
        path.write_text(path.read_text() + "\n# edited\n")
        stamp = time.time() + 100 + len(relative)
        os.utime(path, (stamp, stamp))

    before = versions()
    edit("loss_landscape/training.py")
    after = versions()
    assert after["landscape_phases"] != before["landscape_phases"]  # phase cells follow the training code
    assert after["loss_landscape"] != before["loss_landscape"]
    edit("loss_landscape/plane.py")  # the surface's evaluation: the landscape's alone
    again = versions()
    assert again["landscape_phases"] == after["landscape_phases"] and again["loss_landscape"] != after["loss_landscape"]
    edit("loss_landscape/figures.py")  # restyling a plot changes no result
    assert versions() == again


def test_the_training_stage_key_is_the_shared_networks():
    params = ANALYSIS.params("smoke")
    keys = landscape.pipeline.keys(params, params, "loss_landscape@1+abc")
    assert keys["training"] == training.network_entry(training.landscape_network(params))[1]
    phase = training.network_settings(dataset="digits", width=32, depth=1, lr=0.05, epochs=5, batch_size=64, seed=0,
                                      data_seed=0)
    assert training.network_entry(phase)[1] == keys["training"]  # the same network: the same entry
    assert keys["surface_grid"] != landscape.pipeline.keys({**params, "grid_range": 0.5}, {**params, "grid_range": 0.5},
                                                           "loss_landscape@1+abc")["surface_grid"]


def _stage_table(at):
    return next(e for e in at.expander if e.label.startswith("Stages")).dataframe[0].value


def test_the_page_lists_each_stage_computed_or_read_back(test_analyses, fresh_streamlit):
    from streamlit.testing.v1 import AppTest

    def page():
        from dashboard.components.analysis_page import generic_page

        generic_page("staged")

    at = AppTest.from_function(page, default_timeout=60).run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert [e.label for e in at.expander if e.label.startswith("Stages")] == ["Stages: 4 computed"]
    table = _stage_table(at)
    assert list(table.stage) == ["data", "fit", "surface", "spectrum"] and set(table.status) == {"computed"}
    assert (table.seconds >= 0).all()

    at.sidebar.number_input(key="staged.samples").set_value(20)  # only the spectrum reads it
    at.sidebar.button[0].click().run()
    assert [e.label for e in at.expander if e.label.startswith("Stages")] == ["Stages: 1 computed, 3 read back"]
    table = _stage_table(at)
    assert dict(zip(table.stage, table.status)) == {"data": "read back", "fit": "read back", "surface": "read back",
                                                     "spectrum": "computed"}
    assert table.seconds.isna().sum() == 3  # a time only for what computed


def test_the_cli_reports_the_stages_read_back(tmp_path):
    """The issue's acceptance: after a run, grid_range=0.5 reads back training, Hessian and connectivity."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path / "cache")}

    def labscope(*args):
        out = subprocess.run([sys.executable, "-m", "analyses.core.cli", "run", "loss_landscape", "--preset", "smoke",
                              "--out", str(tmp_path / "out"), "--quiet", *args], capture_output=True, text=True,
                             env=env, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout

    first = labscope()
    assert "stages: 12 computed, 1 skipped" in first
    second = labscope("--set", "grid_range=0.5")
    lines = {line.split()[0]: line.split()[1:] for line in second.splitlines() if line.startswith("  ")}
    for stage in ("training", "hessian_spectrum", "second_network", "connectivity_path", "third_network"):
        assert lines[stage][:2] == ["read", "back"], stage
    assert [s for s, words in lines.items() if words[0] == "computed"] == ["surface_grid", "curvature", "random_slices"]
    assert "stages: 3 computed, 9 read back, 1 skipped" in second
    record = json.loads((tmp_path / "out" / "result.json").read_text())
    stages = {s["stage"]: s for s in record["provenance"]["stages"]}
    assert stages["training"]["status"] == "read back" and stages["surface_grid"]["status"] == "computed"
    assert stages["surface_grid"]["seconds"] > 0
    assert "stages" not in labscope("--set", "grid_range=0.5")  # a hit ran no stage
