"""The prompt-steering page through Streamlit's AppTest, with a tiny model (charts are opaque to
AppTest: we count them)."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from analyses.prompt_steering import tiny

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "prompt_steering.py")
SMALL = {"preset": "smoke", "n_items": "3", "countries": "United States,China,India", "n_placebos": "1", "n_permutations": "50"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(tiny.build(tmp_path_factory.mktemp("tiny_page_model"), "llama", chat=True))


@pytest.fixture(autouse=True)
def offline_and_threads_restored(fresh_streamlit, data_roots, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_form_waits_for_run_and_offers_the_packaged_model():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and "press **Run**" in at.info[0].value
    assert at.sidebar.text_input(key="prompt_steering.model").value == "packaged-gemma-3-270m"
    assert at.sidebar.checkbox(key="prompt_steering.order_reversed").value is True
    assert at.sidebar.selectbox(key="prompt_steering.prompt_style").options == ["auto", "plain", "chat"]
    # The default run's size before Run: 12 items x 4 formats x (none + 4 countries x 2 wordings + 2 placebos).
    assert any(c.value.startswith("This run: 528 prompts (528 sequences to score, 4 country persona(s)); about 79 s")
               for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]


def test_a_tiny_model_from_a_link_then_a_display_option_from_the_cache(tiny_model):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update({**SMALL, "model": tiny_model})
    at.run()
    at.sidebar.button(key="_run.prompt_steering").click().run()  # a link fills the form; Run computes
    assert not at.exception and not at.error
    assert "Computed in" in at.info[0].value
    assert [m.label for m in at.metric][:3] == ["prompts", "format SD of E[s]", "P(first listed)"]
    assert at.metric[0].value == "60"  # 3 items x 4 formats x 5 personas
    # 3 countries: no extrapolability chart (too few to correlate or cluster); the notes say why.
    assert len(at.get("plotly_chart")) == 7
    assert any(e.label.startswith("Notes on this run") for e in at.expander)
    assert any("Imagine you are a person from" in c.value or "Question:" in c.value for c in at.code)

    at.sidebar.selectbox(key="prompt_steering.steering_personas").set_value("placebo")
    at.sidebar.button[0].click().run()  # a display option: answered from the cache
    assert not at.exception and "From cache" in at.success[0].value
    assert len(at.get("plotly_chart")) == 7


def test_a_model_that_cannot_be_loaded_is_named_in_the_error():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({**SMALL, "model": "no-such-org/no-such-model"})
    at.run()
    at.sidebar.button(key="_run.prompt_steering").click().run()
    assert not at.exception
    assert "could not load 'no-such-org/no-such-model'" in at.error[0].value
