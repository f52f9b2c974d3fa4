"""The pages, driven through Streamlit's AppTest (charts are opaque to it: we count them)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

DASHBOARD = Path(__file__).parents[1] / "dashboard"
PAGE = str(DASHBOARD / "views" / "loss_landscape.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit", "data_roots")


def charts(at):
    return at.get("plotly_chart")


def press_run(at):
    """A link fills the form and waits: press Run (the first button of the sidebar)."""
    return at.sidebar.button(key="_run.loss_landscape").click().run()


def test_home_lists_every_analysis():
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "labscope"
    from analyses.core import all_analyses

    assert len(at.get("page_link")) == len(all_analyses()) >= 2
    assert any("filter-normalized" in m.value for m in at.markdown)
    import torch

    expected = ["auto", "cpu", "cuda"] if torch.cuda.is_available() else ["auto", "cpu"]
    assert at.sidebar.selectbox(key="device").options == expected  # "cuda" only where there is a GPU


def test_widgets_come_from_the_spec_and_nothing_runs_before_submit():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    width = at.sidebar.slider(key="loss_landscape.width")
    assert (width.min, width.max, width.value) == (4, 256, 64)
    assert at.sidebar.selectbox(key="loss_landscape.model").options == ["mlp", "cnn", "transformer", "custom"]
    assert at.sidebar.select_slider(key="loss_landscape.lr").value == 0.05
    assert "press **Run**" in at.info[0].value
    assert not charts(at)
    width.set_value(128).run()  # inside the form: no computation until Run
    assert not charts(at) and not at.metric


def test_run_smoke_then_revisit_from_cache():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="loss_landscape._preset").set_value("smoke").run()
    assert at.sidebar.slider(key="loss_landscape.epochs").value == 5
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error
    assert "Computed in" in at.info[0].value
    assert len(charts(at)) == 10
    assert [m.label for m in at.metric][:3] == ["train loss", "test loss", "test accuracy"]
    assert at.query_params["preset"] == "smoke" and at.query_params["epochs"] == "5"

    again = AppTest.from_file(PAGE, default_timeout=30)  # another session, same server process
    again.query_params.update({"preset": "smoke"})
    again.run()
    assert "From cache" in again.success[0].value
    assert len(charts(again)) == 10
    provenance = next(e for e in again.expander if e.label == "Provenance")
    assert '"analysis": "loss_landscape"' in provenance.code[0].value  # the run's record, under the export


def test_a_link_fills_the_form_runs_on_run_and_draws_at_once_once_cached():
    link = {"preset": "smoke", "width": "16", "grid_points": "7", "color_scale": "log"}
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(link)
    at.run()
    assert not at.exception
    assert at.sidebar.slider(key="loss_landscape.width").value == 16
    assert at.sidebar.selectbox(key="loss_landscape._preset").value == "smoke"
    assert at.sidebar.selectbox(key="loss_landscape.color_scale").value == "log"
    assert "not been computed on this server yet" in at.info[0].value and not charts(at)  # no unknown work
    press_run(at)
    assert "Computed in" in at.info[0].value and len(charts(at)) == 10
    assert "changed: width 16 (preset: 32); grid_points 7 (preset: 11)" in at.info[0].value
    assert at.query_params["color_scale"] == "log" and at.query_params["width"] == "16"

    again = AppTest.from_file(PAGE, default_timeout=30)  # the link in another session: cached, drawn at once
    again.query_params.update(link)
    again.run()
    assert "From cache" in again.success[0].value and len(charts(again)) == 10

    # A bad link names every bad value, keeps the good ones, and shows nothing, not even the cached result
    # its good values and the preset's would give.
    bad = AppTest.from_file(PAGE, default_timeout=30)
    bad.query_params.update({**link, "width": "100000", "epochs": "many", "style": "poster"})
    bad.run()
    message = bad.warning[0].value
    assert "3 values" in message and "parameter 'width': out of range 100000" in message
    assert "parameter 'epochs': expected an integer, got 'many'" in message and "'poster'" in message
    assert bad.sidebar.slider(key="loss_landscape.grid_points").value == 7  # kept
    assert bad.sidebar.slider(key="loss_landscape.width").value == 32  # the preset's
    assert not charts(bad) and not bad.success


def test_invalid_combination_names_the_problem():
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    at.sidebar.selectbox(key="loss_landscape.dataset").set_value("csv")
    at.sidebar.button[0].click().run()
    assert "dataset=csv needs a CSV file" in at.sidebar.error[0].value
    assert not charts(at)


def test_bad_data_file_shows_an_error_and_keeps_cached_results(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({"preset": "smoke", "dataset": "csv", "data_file": str(bad)})
    press_run(at.run())
    assert "no 'label' column" in at.error[0].value
    assert not charts(at)


def test_export_panel_explains_missing_chromium(monkeypatch):
    from analyses.core import export

    monkeypatch.setattr(export, "chromium_path", lambda: None)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({"preset": "smoke"})
    press_run(at.run())
    assert any("needs Chromium" in i.value and "camera button" in i.value for i in at.info)
    assert len(charts(at)) == 10


def test_generic_page_serves_an_analysis_without_its_own_page():
    import toy
    from analyses.core import registry

    analyses = registry.all_analyses()
    analyses["toy"] = toy.make()
    try:
        def page():
            from dashboard.components.analysis_page import generic_page

            generic_page("toy")

        at = AppTest.from_function(page, default_timeout=60).run()
        at.sidebar.button[0].click().run()
        assert not at.exception
        assert len(charts(at)) == 1
        assert at.sidebar.number_input(key="toy.n").max == 1000  # a wide integer range: typed
    finally:
        del analyses["toy"]


def test_divergence_is_shown_as_an_error():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({"preset": "smoke", "lr": "1", "width": "256", "depth": "4", "epochs": "30"})
    press_run(at.run())
    assert not at.exception
    assert "training diverged" in at.error[0].value


def test_custom_code_needs_the_servers_consent(monkeypatch):
    link = {"preset": "smoke", "model": "custom", "custom_model": "byo_example:teacher_student", "grid_points": "5"}
    monkeypatch.delenv("LABSCOPE_ALLOW_CUSTOM_CODE", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update(link)
    at.run()
    assert "running code from the dashboard is off" in at.warning[0].value.lower()
    assert "LABSCOPE_ALLOW_CUSTOM_CODE=1" in at.warning[0].value
    assert at.sidebar.text_input(key="loss_landscape.custom_model").disabled
    assert not charts(at)

    monkeypatch.setenv("LABSCOPE_ALLOW_CUSTOM_CODE", "1")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(link)
    at.run()  # allowed, but a link alone never runs code: the form shows it and waits for Run
    assert not at.exception and not at.error and not charts(at)
    assert at.sidebar.text_input(key="loss_landscape.custom_model").value == "byo_example:teacher_student"
    assert any("custom_model" in i.value and "press **Run**" in i.value for i in at.info)
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error
    assert len(charts(at)) == 10


def test_headline_metrics_read_undefined_values_as_missing():
    def page():
        from types import SimpleNamespace

        from dashboard.components import run_status

        result = SimpleNamespace(metrics={"a": float("nan"), "b": None, "c": 0.5})
        run_status.metrics(SimpleNamespace(result=result), {"a": "A", "b": "B", "c": "C", "d": "D"},
                           formats={"c": ".2f"})

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert [(m.label, m.value) for m in at.metric] == [("A", "—"), ("B", "—"), ("C", "0.50")]  # "d" absent: skipped
