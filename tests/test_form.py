"""The sidebar form: sections and visible_if from the spec, typed inputs, display options outside Run, the form
version that makes a Run pressed during a preset change run what is shown, and links carrying the whole view."""

import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analyses.core import Analysis, Context, Int, ParamSpec, Result, all_analyses, run

VIEWS = Path(__file__).parents[1] / "dashboard" / "views"
LOSS = str(VIEWS / "loss_landscape.py")
EYE = str(VIEWS / "eye_tracking.py")

pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def shown(at, analysis="loss_landscape") -> set[str]:
    """Names of the parameters that have a widget on the page."""
    prefix = f"{analysis}."
    return {w.key[len(prefix):] for kind in ("slider", "select_slider", "selectbox", "checkbox", "number_input",
                                              "text_input") for w in at.get(kind)
            if w.key and w.key.startswith(prefix) and not w.key.startswith(prefix + "_")}


def test_every_parameter_has_help_and_a_section():
    for analysis in all_analyses().values():
        for p in analysis.spec:
            assert p.help.strip(), f"{analysis.name}.{p.name} has no help text"
            assert p.section, f"{analysis.name}.{p.name} has no section"
        sections = [name for name, _ in analysis.spec.sections()]
        assert set(analysis.spec.collapsed) <= set(sections)


def test_visible_if_mapping_and_function():
    from analyses.core import Choice

    spec = ParamSpec((Choice("kind", "a", choices=("a", "b", "c")),
                      Int("n", 1, min=0, max=9, visible_if={"kind": ("b", "c")}),
                      Int("m", 1, min=0, max=9, visible_if=lambda p: p["n"] > 3)))
    assert spec.visible({"kind": "a", "n": 5, "m": 1}) == ["kind", "m"]
    assert spec.visible({"kind": "c", "n": 1, "m": 1}) == ["kind", "n"]
    assert spec.sections() == [("Parameters", list(spec.params))]


def test_sections_and_visible_if_drive_the_form():
    at = AppTest.from_file(LOSS, default_timeout=60).run()
    assert not at.exception
    spec = all_analyses()["loss_landscape"].spec
    expanders = [e.label for e in at.sidebar.expander]
    assert expanders[:6] == ["Data", "Model", "Training", "Surface", "Hessian", "Connectivity"]
    defaults = spec.defaults()
    # A parameter has a widget exactly when its condition holds.
    assert shown(at) == set(spec.visible(defaults))
    assert {"data_file", "custom_model", "checkpoint", "norm_policy"}.isdisjoint(shown(at))

    at.sidebar.selectbox(key="loss_landscape.dataset").set_value("csv").run()
    assert "data_file" in shown(at)
    at.sidebar.selectbox(key="loss_landscape.norm").set_value("batch").run()
    assert "norm_policy" in shown(at)
    at.sidebar.selectbox(key="loss_landscape.directions").set_value("hessian").run()
    assert "direction_seed" not in shown(at)
    at.sidebar.selectbox(key="loss_landscape.model").set_value("custom").run()
    assert {"custom_model", "checkpoint"} <= shown(at)
    assert {"dataset", "data_file", "width", "depth", "norm"}.isdisjoint(shown(at))
    values = {**defaults, "dataset": "csv", "norm": "batch", "directions": "hessian", "model": "custom"}
    assert shown(at) == set(spec.visible(values))
    # A hidden parameter keeps its value: back to the MLP, the dataset is still csv.
    at.sidebar.selectbox(key="loss_landscape.model").set_value("mlp").run()
    assert at.sidebar.selectbox(key="loss_landscape.dataset").value == "csv"


def test_seeds_and_wide_ranges_are_typed_and_display_options_sit_outside_the_run_panel():
    at = AppTest.from_file(LOSS, default_timeout=60).run()
    for name in ("seed", "direction_seed", "second_seed", "train_samples", "hessian_samples"):
        assert at.sidebar.number_input(key=f"loss_landscape.{name}").value is not None, name
    assert at.sidebar.slider(key="loss_landscape.width").max == 256  # a narrow range keeps its slider
    display = [e for e in at.sidebar.expander if e.label.startswith("Display")]
    assert [w.key for w in display[0].selectbox] == ["loss_landscape.color_scale"]


def test_a_run_from_an_older_form_runs_the_values_the_server_shows():
    """The race: the preset was applied on the server but the browser pressed Run with the old form."""
    at = AppTest.from_file(LOSS, default_timeout=300).run()
    version = at.sidebar.text_input(key="_seen_version.loss_landscape")
    old = version.value
    at.sidebar.selectbox(key="loss_landscape._preset").set_value("smoke").run()
    assert at.sidebar.text_input(key="_seen_version.loss_landscape").value != old
    # What a browser that had not received the preset yet sends: the old version and the old values.
    at.sidebar.text_input(key="_seen_version.loss_landscape").set_value(old)
    at.sidebar.slider(key="loss_landscape.epochs").set_value(30)
    at.sidebar.slider(key="loss_landscape.width").set_value(64)
    at.sidebar.button(key="_run.loss_landscape").click().run()
    assert not at.exception and "Computed in" in at.info[0].value
    assert "Preset **smoke**, unchanged." in at.info[0].value
    assert at.sidebar.slider(key="loss_landscape.epochs").value == 5  # the form shows what ran
    assert at.query_params["epochs"] == "5" and at.query_params["width"] == "32"

    # A current form runs what it holds, and the badge lists what differs from the preset.
    at.sidebar.slider(key="loss_landscape.epochs").set_value(6)
    at.sidebar.button(key="_run.loss_landscape").click().run()
    assert "changed: epochs 6 (preset: 5)." in at.info[0].value and at.query_params["epochs"] == "6"

    # A display option redraws at once, without Run, and goes into the link.
    at.sidebar.selectbox(key="loss_landscape.color_scale").set_value("log").run()
    assert "From cache" in at.success[0].value and at.query_params["color_scale"] == "log"
    assert at.query_params["epochs"] == "6"


def test_a_link_carries_the_eye_tracking_view_and_figure_style():
    view = {"view_image": "demo03", "view_condition": "patch_swap", "view_observer": "obs02",
            "style": "ml-column", "sigma_deg": "2.0"}
    at = AppTest.from_file(EYE, default_timeout=300)
    at.query_params.update({"preset": "smoke", **view})
    at.run()
    assert not at.exception and not at.get("plotly_chart")  # not cached yet: the form waits for Run
    at.sidebar.button(key="_run.eye_tracking").click().run()
    assert not at.exception and "Computed in" in at.info[0].value

    def the_view(app):
        return {"view_image": app.selectbox(key="eye_tracking.view_image").value,
                "view_condition": app.selectbox(key="eye_tracking.view_condition").value,
                "view_observer": app.selectbox(key="eye_tracking.view_observer").value,
                "style": app.selectbox(key="_style.eye_tracking").value,
                "sigma_deg": str(app.sidebar.slider(key="eye_tracking.sigma_deg").value)}

    assert the_view(at) == view
    assert {k: at.query_params[k] for k in view} == view  # the URL holds the whole view

    again = AppTest.from_file(EYE, default_timeout=60)  # the link in a new session: drawn at once, same view
    again.query_params.update(dict(at.query_params))
    again.run()
    assert "From cache" in again.success[0].value and the_view(again) == view

    # Another observer is a view change: the URL follows without recomputing.
    again.selectbox(key="eye_tracking.view_observer").set_value("obs03").run()
    assert again.query_params["view_observer"] == "obs03" and "From cache" in again.success[0].value

    # A view value the result does not have is named; the rest of the view holds.
    odd = AppTest.from_file(EYE, default_timeout=60)
    odd.query_params.update({**dict(at.query_params), "view_image": "nosuchimage"})
    odd.run()
    assert any("view_image='nosuchimage'" in w.value for w in odd.warning)
    assert odd.selectbox(key="_style.eye_tracking").value == "ml-column"


def test_provenance_records_the_device_used_not_the_setting(store):
    def compute(params, ctx: Context):
        ctx.torch_device() if params["torch"] else None
        return Result(metrics={"x": 1.0})

    analysis = Analysis(name="devices", title="t", papers=(), version="1",
                        spec=ParamSpec((Int("torch", 1, min=0, max=1),)), compute=compute,
                        figures=lambda r, p: {}, presets={"smoke": {}, "default": {}}, source_dir=Path(__file__).parent / "toy_source")
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    with_torch = run(analysis, device="auto", store=store).result.provenance
    assert with_torch["device"] == expected and with_torch["device_requested"] == "auto"
    without = run(analysis, overrides={"torch": 0}, device="auto", store=store).result.provenance
    assert without["device"] == "cpu"  # it never asked for a device: it ran on the CPU

