"""Property tests of the questionnaire loader: any bytes, any table, any JSON shape -> a validated
questionnaire or one InputError, quickly. What is accepted must be clean data (finite distributions
summing to 1, means on 0-1, non-blank options and countries)."""

import json
import string
import time

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyses.core.errors import InputError
from analyses.prompt_steering import questionnaire
from analyses.prompt_steering.questionnaire import blank

BOUND_S = 2.0
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WEIRD = st.sampled_from(["", " ", "\x00", "\ufeff", "\u200b", "|", "||", "a|b", "0.5|0.5", "1e308|1e308", "nan",
                         "-1|2", "inf", "likert", "['a', 'b']", "[0.5, 0.5]", "0.3", "1.5", "yes|no|maybe", '"', ",",
                         "human:", "\n", "é", "0|0"])
CELL = st.one_of(WEIRD, st.text(alphabet=string.printable + "\x00\ufeff\u200bé|", max_size=12))


def _clean(q: questionnaire.Questionnaire) -> None:
    """What the loader lets through is data the metrics can use."""
    assert q.items
    for item in q.items:
        assert not blank(item.id) and not blank(item.question) and not blank(item.dimension)
        if item.options is not None:
            assert len(item.options) >= 2 and len(set(item.options)) == len(item.options)
            assert all(not blank(o) and "\x00" not in o for o in item.options)
        for country, dist in item.human.items():
            assert not blank(country)
            assert np.all(np.isfinite(dist)) and min(dist) >= 0 and abs(sum(dist) - 1) < 1e-9
            assert len(dist) == len(item.options)
        for country, mean in item.human_mean.items():
            assert not blank(country) and 0 <= mean <= 1


def _load(tmp_path, name, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        _clean(questionnaire.load(path))
    except InputError:
        pass
    assert time.perf_counter() - started < BOUND_S


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".json"]))
def test_any_bytes_give_a_questionnaire_or_an_input_error(tmp_path, data, suffix):
    _load(tmp_path, "any" + suffix, data)


@SETTINGS
@given(rows=st.lists(st.lists(CELL, min_size=6, max_size=6), min_size=1, max_size=4),
       extra=st.sampled_from(["human:Chile", "human:", "human: Chile", "id", "human:\ufeff", "human:Peru"]))
def test_any_table_in_the_csv_layout_gives_clean_data_or_an_input_error(tmp_path, rows, extra):
    columns = ["id", "dimension", "question", "options", "human:Chile", extra]
    _load(tmp_path, "table.csv", pd.DataFrame(rows, columns=columns).to_csv(index=False).encode("utf-8"))


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.integers(), CELL),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(st.sampled_from(["id", "dimension", "question", "options",
                                                                             "human", "Chile", "Peru", ""]), inner,
                                                            max_size=5)),
                    max_leaves=20)


@SETTINGS
@given(items=st.lists(st.fixed_dictionaries({"id": CELL, "dimension": CELL, "question": CELL},
                                            optional={"options": JSON, "human": JSON}), max_size=3),
       scores=JSON)
def test_any_json_items_give_clean_data_or_an_input_error(tmp_path, items, scores):
    text = json.dumps({"items": items, "dimension_scores": scores})
    _load(tmp_path, "items.json", text.encode("utf-8", "surrogatepass"))


RELEASED_CELLS = {
    "options": st.sampled_from(["['a', 'b']", "['a', 'a']", "['a']", "[1, 2]", "'a|b'", "[]", "['\\x00', 'b']"]),
    "labels": st.sampled_from(["['A.', 'B.']", "['1.', '2.']", "['A.']", "['A.', 'A.']", "[None, None]"]),
    "label_to_scale": st.sampled_from(["{'A': 1, 'B': 2}", "{'A': 2, 'B': 1}", "{'A': 1, 'B': 1}", "{'A': True, 'B': 2}",
                                       "{'1': 1, '2': 2}", "{}", "[1, 2]"]),
    "variation": st.sampled_from(["{'choice_format': 'letters', 'direction_format': 'ascending', "
                                  "'response_format': 'identifier_only'}",
                                  "{'choice_format': 'numbers', 'direction_format': 'descending', "
                                  "'response_format': 'option_text'}", "{}", "['letters']"]),
    "mean_weights": st.sampled_from(["{'Brazil': 0.4}", "{'Brazil': nan}", "{'Brazil': 1.4}", "{'': 0.4}",
                                     "{'Brazil': [0.4]}", "{'Brazil': 1e999}", "0.4", "{}"]),
}


@SETTINGS
@given(rows=st.lists(st.fixed_dictionaries(RELEASED_CELLS), min_size=1, max_size=3),
       ids=st.lists(st.sampled_from(["1", "2", "", "\x00"]), min_size=3, max_size=3))
def test_any_released_table_gives_clean_data_or_an_input_error(tmp_path, rows, ids):
    frame = pd.DataFrame([{"question_idx": i, "instruction": "Pick one.", "question_text": "Q?", **r,
                           "options_labeled": "['A. a', 'B. b']"} for i, r in zip(ids, rows)])
    _load(tmp_path, "released.csv", frame.to_csv(index=False).encode("utf-8"))
