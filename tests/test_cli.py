"""The `labscope` command: list, params, run (with the cache), errors, cache info/clear."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LABSCOPE = [sys.executable, "-m", "analyses.core.cli"]


def labscope(*args, cache, timeout=300):
    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(cache)}
    return subprocess.run([*LABSCOPE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_list_names_analyses_and_papers(tmp_path):
    out = labscope("list", cache=tmp_path)
    assert out.returncode == 0
    assert "loss_landscape" in out.stdout and "Visualizing the Loss Landscape" in out.stdout


def test_params_shows_ranges_and_presets(tmp_path):
    out = labscope("params", "loss_landscape", cache=tmp_path)
    assert out.returncode == 0
    assert "integer in [4, 256]" in out.stdout and "smoke" in out.stdout


def test_run_writes_result_and_second_run_is_a_fast_hit(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    first = labscope("run", "loss_landscape", "--preset", "smoke", "--out", str(out), cache=cache)
    assert first.returncode == 0, first.stderr
    record = json.loads((out / "result.json").read_text())
    assert set(record) >= {"analysis", "params", "metrics", "tables", "provenance"}
    assert record["analysis"] == "loss_landscape" and record["params"]["epochs"] == 5
    assert all(isinstance(v, (int, float)) for v in record["metrics"].values())
    assert record["provenance"]["cache_hit"] is False and record["provenance"]["compute_seconds"] > 0
    for table in record["tables"]:
        assert (out / table).stat().st_size > 0
    assert "surface.csv" in record["tables"]

    second = labscope("run", "loss_landscape", "--preset", "smoke", "--out", str(out), "--quiet", cache=cache)
    assert second.returncode == 0, second.stderr
    again = json.loads((out / "result.json").read_text())
    assert again["provenance"]["cache_hit"] is True
    assert again["metrics"] == record["metrics"]
    assert again["provenance"]["compute_seconds"] == record["provenance"]["compute_seconds"]
    # A hit loads no heavy library (its wall time is measured in benchmarks/cache_hit.py).
    modules = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "analyses.core.cli", "run", "loss_landscape", "--preset", "smoke",
         "--out", str(out), "--quiet"], capture_output=True, text=True,
        env={**os.environ, "LABSCOPE_CACHE_DIR": str(cache)}).stderr
    assert "| torch" not in modules and "| plotly" not in modules and "| streamlit" not in modules

    info = json.loads(labscope("cache", "info", cache=cache).stdout)
    assert info["analyses"]["loss_landscape"]["entries"] == 1  # the result; beside it its 12 computed stages
    assert info["entries"] == 13 and info["analyses"]["loss_landscape.network"]["entries"] == 1
    assert "removed 13 entries" in labscope("cache", "clear", cache=cache).stdout
    assert json.loads(labscope("cache", "info", cache=cache).stdout)["entries"] == 0


@pytest.mark.parametrize("args, message", [
    (["--set", "width=9999"], "parameter 'width': out of range 9999; allowed: integer in [4, 256]"),
    (["--set", "lr=fast"], "parameter 'lr': expected a number"),
    (["--set", "optimizer=lbfgs"], "parameter 'optimizer': unknown choice 'lbfgs'; allowed: one of sgd, adam"),
    (["--set", "depthh=2"], "unknown parameter 'depthh'; known:"),
    (["--set", "width"], "expected key=value"),
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--set", "dataset=csv", "--set", "data_file=/nope.csv"], "parameter 'data_file': no such file"),
])
def test_bad_parameters_exit_nonzero_naming_the_parameter(tmp_path, args, message):
    out = labscope("run", "loss_landscape", *args, "--out", str(tmp_path / "o"), cache=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert not (tmp_path / "o" / "result.json").exists()


def test_unknown_analysis(tmp_path):
    out = labscope("run", "no_such_thing", "--out", str(tmp_path), cache=tmp_path)
    from analyses.core import all_analyses

    known = ", ".join(sorted(all_analyses()))
    assert out.returncode == 2 and f"unknown analysis 'no_such_thing'; known: {known}" in out.stderr
    assert "loss_landscape" in known


def test_bad_data_file_is_an_error_not_a_crash(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    out = labscope("run", "loss_landscape", "--preset", "smoke", "--set", "dataset=csv", "--set",
                   f"data_file={bad}", "--out", str(tmp_path / "o"), cache=tmp_path)
    assert out.returncode == 1 and "no 'label' column" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.export
def test_export_writes_valid_files_in_every_format(tmp_path):
    out = tmp_path / "figs"
    done = labscope("export", "loss_landscape", "--preset", "smoke", "--format", "png,svg", "--format", "pdf",
                    "--style", "acl-column", "--out", str(out), "--quiet", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    magic = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<svg", "pdf": b"%PDF-"}
    for name in ("training_curves", "interpolation", "contour_train", "contour_test", "surface_3d",
                 "slices", "optimizer_path", "three_models", "mode_connectivity", "hessian_spectrum"):
        for fmt, head in magic.items():
            data = (out / f"{name}.{fmt}").read_bytes()
            assert head in data[:200], f"{name}.{fmt} is not a {fmt}"
    assert (out / "training_curves.caption.txt").read_text() == "Training curves\n"  # the title, beside the figure
    assert json.loads((out / "provenance.json").read_text())["params"]["epochs"] == 5
    assert (out / "surface.csv").exists()


def test_export_rejects_an_unknown_style(tmp_path):
    out = labscope("export", "loss_landscape", "--style", "nature", "--out", str(tmp_path), cache=tmp_path)
    assert out.returncode == 2 and "unknown figure style 'nature'; known styles: screen, ml-column" in out.stderr


def test_ctrl_c_cancels_and_caches_nothing(tmp_path):
    import signal

    env = {**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([*LABSCOPE, "run", "loss_landscape", "--set", "grid_points=101", "--set", "epochs=200",
                             "--out", str(tmp_path / "o")], env=env, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.time() + 120
    while "training" not in seen:  # past start-up (slow on a loaded machine), inside the computation
        assert proc.poll() is None and time.time() < deadline, seen
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "cancelled; the result was not cached" in seen + stderr
    assert json.loads(labscope("cache", "info", cache=tmp_path / "cache").stdout)["entries"] == 0


def test_divergence_is_a_message_not_a_traceback(tmp_path):
    out = labscope("run", "loss_landscape", "--preset", "smoke", "--set", "lr=1", "--set", "width=256", "--set",
                   "depth=4", "--set", "epochs=30", "--out", str(tmp_path / "o"), "--quiet", cache=tmp_path)
    assert out.returncode == 1 and "training diverged" in out.stderr and "lower 'lr'" in out.stderr
    assert "Traceback" not in out.stderr


def test_run_a_custom_model_from_the_cli(tmp_path):
    env_tests = str(Path(__file__).parent)
    out = subprocess.run([*LABSCOPE, "run", "loss_landscape", "--preset", "smoke", "--set", "model=custom", "--set",
                          "custom_model=byo_example:teacher_student", "--set", "grid_points=5", "--out",
                          str(tmp_path / "o"), "--quiet"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "LABSCOPE_CACHE_DIR": str(tmp_path / "c"), "PYTHONPATH": env_tests})
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "o" / "result.json").read_text())
    assert record["params"]["model"] == "custom" and "final_test_accuracy" not in record["metrics"]
    missing = labscope("run", "loss_landscape", "--set", "model=custom", "--set", "custom_model=nowhere.mod:f",
                       "--out", str(tmp_path / "p"), cache=tmp_path / "c")
    assert missing.returncode == 2 and "module not found on the server's Python path" in missing.stderr
