"""Prompt steering: questionnaires that carry per-country dimension scores (JSON `dimension_scores`),
their validation, and which countries become personas."""

import json

import pytest

from analyses.core.errors import InputError
from analyses.prompt_steering import questionnaire
from analyses.prompt_steering.compute import plan

ITEMS = [{"id": "q1", "dimension": "tradition", "question": "Keep customs?", "options": ["no", "somewhat", "yes"]},
         {"id": "q2", "dimension": "openness", "question": "New things?", "options": ["no", "yes"]},
         {"id": "q3", "dimension": "trust", "question": "Trust courts?", "options": "likert"}]
SCORES = {"Japan": {"tradition": 0.71, "openness": 0.4, "trust": 62},
          "Sweden": {"tradition": 0.2, "openness": 0.9},
          "Nigeria": {"tradition": 0.8, "openness": 0.5, "trust": 30}}


def _write(tmp_path, data, name="scored.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_json_questionnaire_with_dimension_scores_loads_and_its_countries_become_personas(tmp_path):
    q = questionnaire.load(_write(tmp_path, {"name": "scored", "items": ITEMS, "dimension_scores": SCORES}))
    assert q.dimension_scores == {c: {d: float(v) for d, v in dims.items()} for c, dims in SCORES.items()}
    assert q.human_dimension_scores["Japan"]["trust"] == 62.0
    assert q.human_countries == []  # no distributions: no alignment or specification curve
    assert q.persona_countries == ["Japan", "Nigeria", "Sweden"]
    assert q.subset(2).dimension_scores == q.dimension_scores
    params = {"labels_letters": True, "labels_numbers": False, "order_ascending": True, "order_reversed": False,
              "permutations": 0, "response_identifier": True, "response_text": False, "likert_4": False,
              "likert_5": True, "likert_6": False, "countries": "", "n_templates": 1, "n_placebos": 0,
              "persona_slot": "user", "seed": 0}
    table = plan(params, q, tokenizer=None, chat=False)
    assert set(table.country) == {"", "Japan", "Nigeria", "Sweden"}  # every country with human data
    chosen = plan({**params, "countries": "Nigeria, Brazil,Nigeria"}, q, tokenizer=None, chat=False)
    assert list(dict.fromkeys(chosen.country)) == ["", "Nigeria", "Brazil"]  # the user's, in their order, once
    assert set(plan({**params, "countries": "none"}, q, tokenizer=None, chat=False).country) == {""}


def test_countries_with_distributions_come_first_among_persona_countries():
    items = [{**ITEMS[0], "human": {"Chile": [0.2, 0.3, 0.5], "Japan": [0.1, 0.1, 0.8]}}, ITEMS[1]]
    q = questionnaire.from_records(items)
    assert q.persona_countries == q.human_countries == ["Chile", "Japan"]
    assert q.human_dimension_scores == {"Chile": {"tradition": pytest.approx(0.65)},
                                        "Japan": {"tradition": pytest.approx(0.85)}}
    scored = {"Sweden": {"tradition": 1, "openness": 2}, "Japan": {"tradition": 3, "openness": 4}}
    from dataclasses import replace

    q = replace(q, dimension_scores=scored)
    # Both kinds of data, then distributions only, then scores only.
    assert q.persona_countries == ["Japan", "Chile", "Sweden"]
    assert q.human_countries == ["Chile", "Japan"]
    assert q.human_dimension_scores == scored  # explicit scores win over derived ones


@pytest.mark.parametrize("scores, message", [
    ('{"Japan": {"tradition": "high", "openness": 0.4}}',
     "scored.json, column 'dimension_scores': country 'Japan', dimension 'tradition': 'high' is not a number"),
    ('{"Japan": {"tradition": true, "openness": 0.4}}', "dimension 'tradition': True is not a number"),
    ('{"Japan": {"tradition": NaN, "openness": 0.4}}', "country 'Japan', dimension 'tradition': nan is not finite"),
    ('{"Japan": {"tradition": 0.1, "openness": Infinity}}', "dimension 'openness': inf is not finite"),
    ('{"Japan": {"tradition": 0.1, "wealth": 3}}',
     "country 'Japan', dimension 'wealth': not a dimension of the items (they have openness, tradition, trust)"),
    ('{"Japan": {"tradition": 0.1}}', "country 'Japan' has scores for 1 dimension(s); at least 2 are needed"),
    ('{"Japan": 0.5}', "country 'Japan': expected an object of dimension -> number"),
    ('{" ": {"tradition": 0.1, "openness": 0.2}}', "empty country name"),
    ('[["Japan", 0.5]]', "'dimension_scores': expected an object mapping each country"),
])
def test_dimension_score_errors_name_the_file_country_and_dimension(tmp_path, scores, message):
    text = '{"items": ' + json.dumps(ITEMS) + ', "dimension_scores": ' + scores + '}'
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        questionnaire.load(_write(tmp_path, text))
    assert str(error.value).startswith("scored.json, column 'dimension_scores': ")


def test_a_csv_questionnaire_derives_its_dimension_scores_from_human_distributions(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,dimension,question,options,human:Chile,human:Peru\n"
                    "q1,trust,Trust?,No|Some|Yes,0|0|1,1|0|0\n"
                    "q2,trust,Agree?,No|Yes,0.5|0.5,0|1\n"
                    "q3,work,Work?,No|Yes,1|0,0.25|0.75\n")
    q = questionnaire.load(path)
    assert q.dimension_scores == {}
    assert q.human_dimension_scores == {"Chile": {"trust": 0.75, "work": 0.0}, "Peru": {"trust": 0.5, "work": 0.75}}
