"""Serving to a team, in the pages (AppTest): the token gate, links that would run code or read server
files, and what the page says about errors."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from test_serving import custom_code_model

DASHBOARD = Path(__file__).parents[1] / "dashboard"
pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(DASHBOARD / "views" / f"{name}.py"), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def everything_shown(at) -> str:
    """Every text the page shows, widgets' values included."""
    parts = [str(getattr(e, "value", "")) for kind in ("markdown", "info", "warning", "error", "success", "caption",
                                                      "title", "header", "text", "code", "exception")
             for e in getattr(at, kind)]
    parts += [str(w.value) for w in at.text_input] + [str(w.value) for w in at.sidebar.text_input]
    return "\n".join(parts)


def test_a_token_server_shows_only_the_prompt_until_the_token_is_given(monkeypatch):
    monkeypatch.setenv("LABSCOPE_TOKEN", "s3cret-token")
    app = str(DASHBOARD / "app.py")
    at = AppTest.from_file(app, default_timeout=60).run()
    assert [h.value for h in at.header] == ["Access token required"]
    assert not at.title and not at.get("page_link") and not at.sidebar.selectbox
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert "not valid" in at.error[0].value and not at.title

    wrong = AppTest.from_file(app, default_timeout=60)
    wrong.query_params["token"] = "s3cret-tokem"
    wrong.run()
    assert "not valid" in wrong.error[0].value and not wrong.title

    right = AppTest.from_file(app, default_timeout=60)
    right.query_params["token"] = "s3cret-token"
    right.run()
    assert right.title[0].value == "labscope" and "token" not in right.query_params  # out of the address bar
    right.run()  # the session stays open without the token in the URL
    assert right.title[0].value == "labscope"

    typed = AppTest.from_file(app, default_timeout=60).run()
    typed.text_input[0].input("s3cret-token")
    typed.button[0].click().run()
    assert typed.title[0].value == "labscope"


def test_without_a_token_the_gate_is_open(monkeypatch):
    monkeypatch.delenv("LABSCOPE_TOKEN", raising=False)
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60).run()
    assert at.title[0].value == "labscope" and not at.header


def test_a_link_to_a_server_file_outside_the_data_roots_shows_nothing_of_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LABSCOPE_DATA_ROOTS", raising=False)
    secret = tmp_path / "secret.csv"
    secret.write_text("SECRET-HEADER,label\n1,0\n")
    at = page("loss_landscape", dataset="csv", data_file=str(secret))
    assert not at.exception
    shown = everything_shown(at)
    assert "not available from the dashboard" in at.warning[0].value
    assert "SECRET-HEADER" not in shown and str(tmp_path) not in shown
    # the refused value is dropped (the link's good values are kept, as for any bad link)
    assert str(secret) not in at.sidebar.text_input(key="loss_landscape.data_file").value
    at.sidebar.text_input(key="loss_landscape.data_file").input(str(secret))
    at.sidebar.selectbox(key="loss_landscape.dataset").set_value("csv")
    at.sidebar.button[0].click().run()  # typed into the form: the same refusal
    assert "not available from the dashboard" in at.sidebar.error[0].value
    assert "SECRET-HEADER" not in everything_shown(at)


def test_a_trust_remote_code_link_is_refused_and_the_checkbox_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("LABSCOPE_DATA_ROOTS", str(tmp_path))
    monkeypatch.delenv("LABSCOPE_ALLOW_CUSTOM_CODE", raising=False)
    model = custom_code_model(tmp_path / "model", tmp_path / "marker")
    at = page("prompt_steering", model=str(model), trust_remote_code="true")
    assert not at.exception
    assert "runs code on the server" in at.warning[0].value and "LABSCOPE_ALLOW_CUSTOM_CODE=1" in at.warning[0].value
    assert at.sidebar.checkbox(key="prompt_steering.trust_remote_code").disabled
    at = page("prompt_steering", model=str(model))  # the directory alone names its own code
    assert "auto_map" in at.warning[0].value
    assert not (tmp_path / "marker").exists()


def test_when_allowed_a_link_fills_the_form_and_waits_for_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LABSCOPE_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("LABSCOPE_ALLOW_CUSTOM_CODE", "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    model = custom_code_model(tmp_path / "model", tmp_path / "marker")
    at = page("prompt_steering", preset="smoke", model=str(model), trust_remote_code="true")
    assert not at.exception and not at.warning
    assert at.sidebar.text_input(key="prompt_steering.model").value == str(model.resolve())
    assert at.sidebar.checkbox(key="prompt_steering.trust_remote_code").value is True
    assert any("run code on this server" in i.value and "press **Run**" in i.value for i in at.info)
    assert not (tmp_path / "marker").exists()


def test_the_page_shows_input_errors_and_hides_internal_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("LABSCOPE_LOG_DIR", str(tmp_path / "logs"))

    def script():
        import streamlit as st

        from analyses.core import InputError, get
        from dashboard.components.run_status import show_error

        analysis = get("loss_landscape")
        show_error(analysis, InputError("no 'label' column", file="/srv/lab/alice/table.csv"))
        try:
            {}["/srv/lab/alice/secret-path"]
        except KeyError as exc:
            show_error(analysis, exc)
        st.write("still here")

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception
    first, second = (e.value for e in at.error)
    assert "table.csv: no 'label' column" in first and "/srv" not in first
    assert "internal error" in second and "server's log" in second and "/srv" not in second
    reference = second.split("`")[1]
    log = (tmp_path / "logs" / "errors.log").read_text()
    assert f"internal error {reference}" in log and "/srv/lab/alice/secret-path" in log and "Traceback" in log


def test_an_upload_link_carries_a_content_id_and_draws_from_it(tmp_path, monkeypatch):
    from analyses.core import CacheStore
    from analyses.core.params import upload_id

    table = (Path(__file__).parents[1] / "data" / "two_spirals.csv").read_bytes()
    stored = CacheStore().save_upload("spirals.csv", table)  # as the upload widget does, in this test's cache
    reference = upload_id(stored)
    at = page("loss_landscape", preset="smoke", dataset="csv", data_file=reference)
    assert not at.exception and not at.warning
    assert at.sidebar.text_input(key="loss_landscape.data_file").value == reference
    assert str(stored.parent) not in everything_shown(at)
    assert reference.count("/") == 1  # <content id>/<name>: no folder of the server
