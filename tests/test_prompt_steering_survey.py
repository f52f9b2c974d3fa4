"""Prompt steering on real survey data: the authors' released table as it is, per-country mean answers,
chosen personas, the paper's extrapolability against a direct scikit-learn computation, and the
messages for malformed questionnaires."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from analyses.core.errors import InputError
from analyses.prompt_steering import extrapolability, formats, metrics, prompts, questionnaire
from analyses.prompt_steering.compute import plan, score_table
from test_prompt_steering_metrics import respondent

INSTRUCTIONS = {"identifier_only": "Reply with the identifier of the best option and nothing else.",
                "option_text": "Reply with the full text of the best option and nothing else."}
QUESTIONS = {7: ("How important is religion in your life?", ["Very important", "Rather important",
                                                              "Not very important", "Not at all important"]),
             12: ("Is the government doing enough for the economy?", ["Yes", "Partly", "No"])}
MEANS = {7: {"Brazil": 0.31, "France": 0.72, "Japan": float("nan")},
         12: {"Brazil": 0.55, "France": 0.4, "Japan": 0.61}}


def released_rows(questions=QUESTIONS, means=MEANS):
    """Rows in the released layout: one per question x the 8 variants, list and dict cells as Python
    literals (what pandas writes for a column of Python objects), labels with their dot, label_to_scale
    keyed by the bare label with the option's 1-based base position."""
    rows = []
    for idx, (question, base) in questions.items():
        for choice in ("numbers", "letters"):
            for direction in ("ascending", "descending"):
                for response in ("identifier_only", "option_text"):
                    shown = base if direction == "ascending" else base[::-1]
                    labels = [f"{j + 1}." if choice == "numbers" else f"{chr(65 + j)}." for j in range(len(shown))]
                    rows.append({"question_idx": idx, "instruction": INSTRUCTIONS[response],
                                 "question_text": question, "options": shown, "labels": labels,
                                 "options_labeled": [f"{label} {text}" for label, text in zip(labels, shown)],
                                 "variation": {"choice_format": choice, "direction_format": direction,
                                               "response_format": response},
                                 "label_to_scale": {label.strip("."): base.index(text) + 1
                                                    for label, text in zip(labels, shown)},
                                 "mean_weights": dict(means[idx])})
    return rows


def write_released(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)  # object cells are written as their repr, nan as `nan`
    return path


PAPER_FORMATS = {"labels_letters": True, "labels_numbers": True, "order_ascending": True, "order_reversed": True,
                 "permutations": 0, "response_identifier": True, "response_text": True, "likert_4": False,
                 "likert_5": True, "likert_6": False, "countries": "", "n_templates": 1, "n_placebos": 0,
                 "persona_slot": "user", "seed": 0}


def test_the_released_table_loads_as_it_is_and_its_variants_are_the_prompts(tmp_path):
    path = write_released(tmp_path / "global_opinion_data.csv", released_rows())
    assert "'Japan': nan" in path.read_text()  # a missing mean, as pandas writes it
    q = questionnaire.load(path)
    assert [i.id for i in q.items] == ["7", "12"]  # the table's own ids
    religion, economy = q.items
    assert religion.options == tuple(QUESTIONS[7][1]) and economy.options == ("Yes", "Partly", "No")
    assert religion.human == {} and religion.human_mean == {"Brazil": 0.31, "France": 0.72}  # Japan: no answer
    assert economy.human_mean == MEANS[12]
    assert q.human_countries == ["Brazil", "France", "Japan"] and q.distribution_countries == []
    assert len(religion.variants) == 8

    table = plan(PAPER_FORMATS, q, tokenizer=None, chat=False)
    assert len(table) == 2 * 8 * (1 + 3)  # items x the table's 8 variants x (none + every country with data)
    rows = {(r["question_idx"], r["variation"]["choice_format"], r["variation"]["direction_format"],
             r["variation"]["response_format"]): r for r in released_rows()}
    none = table[table.persona == "none"]
    assert len(none) == 16
    for row in none.itertuples():
        order = "descending" if row.order == "reversed" else "ascending"
        response = "identifier_only" if row.response == "identifier" else "option_text"
        own = rows[(int(row.item), row.label, order, response)]
        r = row.rendered
        # The table's own instruction, question and labelled options, in its order, as written.
        assert row.prompt == (f"{own['instruction']}\n\n{own['question_text']}\n\n" + "\n".join(own["options_labeled"])
                              + "\nAnswer:")
        labels = [label.strip(".") for label in own["labels"]]
        expected = labels if response == "identifier_only" else own["options"]
        assert list(r.targets) == [" " + t for t in expected]
        # Display position j shows base option label_to_scale[label_j] - 1.
        assert list(r.base_index) == [own["label_to_scale"][label] - 1 for label in labels]
    brazil = table[table.country == "Brazil"].prompt.iloc[0]
    assert brazil.startswith(formats.COUNTRY_TEMPLATES[0].format(country="Brazil") + "\n\n" + INSTRUCTIONS["identifier_only"]) \
        or brazil.startswith(formats.COUNTRY_TEMPLATES[0].format(country="Brazil") + "\n\n" + INSTRUCTIONS["option_text"])


def test_a_format_the_table_lacks_falls_back_to_labscope_wording(tmp_path):
    q = questionnaire.load(write_released(tmp_path / "t.csv", released_rows()))
    r = prompts.render(q.items[1], formats.Format("letters", "perm1", "identifier"), formats.Persona("none", "none", ""))
    assert r.prompt.startswith("Question: Is the government doing enough") and sorted(r.base_index) == [0, 1, 2]


def test_mean_answers_give_expected_answer_metrics_and_mark_distribution_metrics_unavailable(tmp_path):
    q = questionnaire.load(write_released(tmp_path / "t.csv", released_rows()))
    params = {**PAPER_FORMATS, "response_text": False, "countries": "Brazil, France"}
    scores = score_table(respondent(plan(params, q, tokenizer=None, chat=False), seed=3))
    m, tables = metrics.summary(scores, q, n_permutations=50)
    assert np.isnan(m["alignment_unsteered"])
    notes = dict(zip(tables["notes"].topic, tables["notes"].note))
    assert "mean answers, not answer distributions" in notes["alignment_unsteered"]
    spec = tables["specification_curve"]
    assert set(spec.measure) == {"1-|ΔE[s]|"}
    # Unsteered alignment from means, computed directly: per country, mean over items of 1 - |E[s] - mean|.
    none = scores[scores.persona_kind == "none"].groupby("item").expected_scale.mean()
    direct = np.mean([np.mean([1 - abs(none[i.id] - i.human_mean[c]) for i in q.items if c in i.human_mean])
                      for c in ("Brazil", "France", "Japan")])
    assert m["alignment_unsteered_scale"] == pytest.approx(direct)
    # The human spread: population SD across countries of the mean answer, per item, averaged.
    sd = np.mean([np.std([0.31, 0.72]), np.std([0.55, 0.4, 0.61])])
    assert m["human_between_country_sd"] == pytest.approx(sd)
    assert m["human_between_country_sd_run"] == pytest.approx(sd)  # the run has every item


def test_human_spread_is_over_every_item_and_the_run_spread_over_the_run_items():
    records = [{"id": f"q{j}", "dimension": "d" if j % 2 else "e", "question": f"Q{j}?", "options": ["a", "b"],
                "human": {"P": 0.1 * j, "Q": 0.5, "R": [1, 1]}} for j in range(1, 7)]
    q = questionnaire.from_records(records)
    run = q.subset(2)
    per_item = {j: np.std([0.1 * j, 0.5, 0.5]) for j in range(1, 7)}
    assert metrics.human_between_country_sd(run, every_item=True) == pytest.approx(np.mean(list(per_item.values())))
    chosen = [int(i.id[1:]) for i in run.items]
    assert metrics.human_between_country_sd(run, every_item=False) == pytest.approx(
        np.mean([per_item[j] for j in chosen]))


# -- the paper's extrapolability ----------------------------------------------------------------------

def hofstede_like(seed=0):
    """12 countries on a 0-100 scale: three groups far apart on the first three dimensions (which carry
    the structure) and independent noise on the last two."""
    rng = np.random.default_rng(seed)
    centres = np.array([[20, 80, 10], [50, 20, 50], [85, 50, 90]])
    rows = []
    for g in range(3):
        for _ in range(4):
            rows.append([*(centres[g] + rng.normal(0, 3, 3)), *rng.uniform(0, 100, 2)])
    names = [f"C{j:02d}" for j in range(12)]
    return pd.DataFrame(rows, index=names, columns=["pdi", "idv", "uai", "mas", "ltowvs"])


def direct(table):
    """The paper's procedure written out with scikit-learn alone."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(table.to_numpy())
    best_k, best = None, -np.inf
    for k in range(2, 11):
        score = silhouette_score(x, KMeans(n_clusters=k, random_state=42).fit_predict(x))
        if score > best:
            best_k, best = k, score
    full = KMeans(n_clusters=best_k, random_state=42).fit_predict(x)
    per_r = {}
    for r in range(1, x.shape[1]):
        per_r[r] = [adjusted_rand_score(full, KMeans(n_clusters=best_k, random_state=42).fit_predict(x[:, list(s)]))
                    for s in combinations(range(x.shape[1]), r)]
    return best_k, {r: float(np.median(v)) for r, v in per_r.items()}, per_r


def test_the_paper_extrapolability_recovers_k_and_matches_scikit_learn_directly():
    table = hofstede_like()
    found = extrapolability.paper_extrapolability(table)
    k, medians, per_r = direct(table)
    assert found.k == k == 3
    assert found.medians == pytest.approx(medians)
    assert found.subsets[found.subsets.r == 2].ari.tolist() == pytest.approx(per_r[2])
    ari = dict(zip(found.subsets.dimensions, found.subsets.ari))
    for subset in ("pdi", "idv", "uai", "pdi, idv", "idv, uai", "pdi, idv, uai"):
        assert ari[subset] == pytest.approx(1.0)  # subsets carrying the structure group countries as all do
    for subset in ("mas", "ltowvs", "mas, ltowvs"):
        assert ari[subset] < 0.4  # noise dimensions alone do not
    assert len(found.subsets) == 2 ** 5 - 2


def test_too_few_countries_or_dimensions_are_said_so_not_reported():
    table = hofstede_like()
    few = extrapolability.paper_extrapolability(table.iloc[:3])
    assert isinstance(few, extrapolability.Unavailable) and "3 countries" in few.reason
    one = extrapolability.paper_extrapolability(table[["pdi"]])
    assert isinstance(one, extrapolability.Unavailable) and "1 dimension" in one.reason
    alike = extrapolability.paper_extrapolability(pd.DataFrame(1.0, index=list("ABCDE"), columns=["x", "y"]))
    assert isinstance(alike, extrapolability.Unavailable) and "same scores" in alike.reason


def test_a_json_questionnaire_with_dimension_scores_reports_the_paper_medians(tmp_path):
    import json

    table = hofstede_like()
    items = [{"id": f"{d}{j}", "dimension": d, "question": f"About {d} {j}?", "options": ["no", "yes"]}
             for d in table.columns for j in range(2)]
    scores = {c: {d: float(v) for d, v in row.items()} for c, row in table.iterrows()}
    path = tmp_path / "hofstede.json"
    path.write_text(json.dumps({"items": items, "dimension_scores": scores}))
    q = questionnaire.load(path)
    params = {**PAPER_FORMATS, "response_text": False, "labels_numbers": False, "countries": "C00, C01, C04"}
    answers = score_table(respondent(plan(params, q, tokenizer=None, chat=False), seed=1))
    m, tables = metrics.summary(answers, q, n_permutations=50)
    _, medians, _ = direct(table)
    assert m["human_k"] == 3
    assert [m[f"human_ari_median_r{r}"] for r in range(1, 5)] == pytest.approx([medians[r] for r in range(1, 5)])
    assert "model_ari_median_r1" not in m  # 3 personas: too few to cluster, and the notes say so
    notes = dict(zip(tables["notes"].topic, tables["notes"].note))
    assert "3 countries" in notes["model extrapolability"]
    assert set(tables["extrapolability_subsets"].side) == {"human"}
    from analyses.core import Result
    from analyses.prompt_steering.figures import build_figures

    figures = build_figures(Result(metrics=m, tables={"scores": answers, **tables}), {})
    assert "extrapolability_subsets" in figures and "extrapolability" not in figures  # nothing to correlate


# -- bad input: one message naming the file, the item or row, the column ------------------------------

def _json(items, **extra):
    import json

    return json.dumps({"items": items, **extra})


BASE = {"id": "q1", "dimension": "d", "question": "Q?", "options": ["a", "b", "c"]}


@pytest.mark.parametrize("name, text, message", [
    ("mean.json", _json([{**BASE, "human": {"Chile": 1.7}}]),
     "mean.json, item 'q1': country 'Chile': a mean answer must lie on the 0-1 scale, got 1.7"),
    ("listhuman.json", _json([{**BASE, "human": [[0.2, 0.3, 0.5]]}]),
     "listhuman.json, item 'q1': 'human' must be an object mapping each country to its answers, got list"),
    ("dicthuman.json", _json([{**BASE, "human": {"Chile": {"a": 1}}}]),
     "country 'Chile': expected a list of probabilities or one mean, got an object"),
    ("pylist.csv", 'id,dimension,question,options\nq1,d,Q?,"[\'a\', \'b\']"\n',
     "pylist.csv, item 'q1', row 2, column 'options': 'options' looks like a Python or JSON list written as text"),
    ("pylistjson.json", _json([{**BASE, "options": "['a', 'b', 'c']"}]), "'options' looks like a Python or JSON list"),
    ("count.json", _json([{**BASE, "human": {"Chile": [0.5, 0.5]}}]),
     "count.json, item 'q1': country 'Chile': 2 probabilities for 3 options"),
    ("overflow.json", _json([{**BASE, "human": {"Chile": [1e308, 1e308, 1e308]}}]),
     "country 'Chile': probabilities must be finite, non-negative, not all zero, and sum to a finite number"),
    ("blankcountry.csv", "id,dimension,question,options,human:\nq1,d,Q?,a|b,0.5|0.5\n",
     "blankcountry.csv, column 'human:': empty country name"),
    ("twocountries.csv", "id,dimension,question,options,human:Chile,human: Chile\nq1,d,Q?,a|b,1|0,0|1\n",
     "column 'human: Chile': two columns map to country 'Chile'"),
    ("dupid.csv", "id,dimension,question,options,id\nq1,d,Q?,a|b,q2\n", "dupid.csv: column 'id' appears 2 times"),
    ("nul.json", _json([{**BASE, "options": ["a", "\u0000", "c"]}]), "option 2 contains a NUL character"),
    ("bom.json", _json([{**BASE, "options": ["a", "\ufeff", "c"]}]), "empty option 2"),
    ("deep.json", "[" * 200 + "]" * 200, "nested deeper than 32 levels"),
    ("dist_string.csv", "id,dimension,question,options,human:Chile\nq1,d,Q?,a|b,\"[0.5, 0.5]\"\n",
     "country 'Chile': '[0.5, 0.5]' looks like a Python or JSON list written as text"),
    ("bool.json", _json([{**BASE, "human": {"Chile": [True, 0, 0]}}]), "country 'Chile': 'True' is not a number"),
    ("twice.json", '{"items": [{"id": "q1", "dimension": "d", "question": "Q?", "options": ["a", "b"], '
                   '"human": {"Chile": [1, 0], "Chile": [0, 1]}}]}', "twice.json: the key 'Chile' appears twice"),
])
def test_malformed_questionnaires_get_one_message_naming_where(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        questionnaire.load(path)
    assert message in str(error.value)


def _released_with(tmp_path, change):
    rows = released_rows()
    change(rows)
    return write_released(tmp_path / "released.csv", rows)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[3].update(variation={"choice_format": "roman", "direction_format": "ascending",
                                            "response_format": "identifier_only"}),
     "row 5, column 'variation': variation's choice_format is 'roman'; expected one of numbers, letters"),
    (lambda rows: rows[0].update(label_to_scale={"1": 1, "2": 1, "3": 3, "4": 4}),
     "row 2, column 'label_to_scale': scale positions [1, 1, 3, 4] are not 1..4, each once"),
    (lambda rows: rows[2].update(question_text="Something else?"),
     "row 4, column 'question_text': question_idx 7 has a different question text than on row 2"),
    (lambda rows: rows[1].update(mean_weights=[0.3, 0.7]), "row 3, column 'mean_weights': mean_weights must be a dict"),
    (lambda rows: rows[1].update(mean_weights={"Brazil": [0.3]}), "country 'Brazil': expected one mean answer"),
    (lambda rows: rows[1].update(labels=["1.", "2."]), "row 3, column 'labels': 2 labels for 4 options"),
    (lambda rows: rows[9].update(variation=rows[8]["variation"]), "row 11, column 'variation': question_idx 12 repeats"),
    (lambda rows: rows[0].update(options="__import__('os').getcwd()"), "row 2, column 'options': cannot parse"),
])
def test_malformed_released_tables_name_the_row_and_column(tmp_path, change, message):
    with pytest.raises(InputError) as error:
        questionnaire.load(_released_with(tmp_path, change))
    assert message in str(error.value) and str(error.value).startswith("released.csv, ")


# -- end to end: the released table with chosen countries, through the real pipeline ------------------

@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    import torch

    from analyses.prompt_steering import tiny

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield str(tiny.build(tmp_path_factory.mktemp("tiny_gpt2_survey"), "gpt2", chat=False))
    torch.set_num_threads(threads)


def test_the_released_table_runs_with_chosen_countries_and_the_form_knows_the_cost(tiny_gpt2, tmp_path, store):
    from analyses.core import run
    from analyses.prompt_steering import ANALYSIS, cost

    path = write_released(tmp_path / "global_opinion_data.csv", released_rows())
    overrides = {"model": tiny_gpt2, "questionnaire": str(path), "countries": "Brazil,France", "n_items": 2,
                 "response_text": True, "n_permutations": 50, "batch_size": 16}
    params = ANALYSIS.params("smoke") | ANALYSIS.spec.validate({**ANALYSIS.presets["smoke"], **overrides})
    estimate = cost.estimate(params)
    out = run(ANALYSIS, "smoke", overrides=overrides, store=store)
    scores = out.result.tables["scores"]
    assert set(scores.country) == {"", "Brazil", "France"}
    assert estimate.prompts == len(scores) and estimate.countries == 2 and estimate.seconds is None
    distinct_text = scores[scores.response == "text"].drop_duplicates("prompt")
    assert estimate.sequences == scores[scores.response == "identifier"].prompt.nunique() + distinct_text.n_options.sum()
    # The table's own prompts were asked: its instruction and labelled options, as written.
    assert scores.prompt.str.contains(INSTRUCTIONS["identifier_only"], regex=False).any()
    assert scores.prompt.str.contains("\nA. Very important\nB. Rather important", regex=False).any()
    m = out.result.metrics
    assert np.isfinite(m["alignment_unsteered_scale"]) and np.isnan(m["alignment_unsteered"])
    notes = out.result.tables["notes"]
    assert "64 of 64 prompts use the questionnaire's own wording" in " ".join(notes.note)
    assert "model extrapolability" in set(notes.topic)  # one dimension: nothing to extrapolate, said so
    assert out.result.provenance["countries"] == ["Brazil", "France"]


def test_the_countries_parameter_refuses_control_characters_and_unbounded_text():
    from analyses.core import ParameterError
    from analyses.prompt_steering import ANALYSIS

    assert ANALYSIS.spec.validate({"countries": " Brazil, France "})["countries"] == "Brazil, France"
    with pytest.raises(ParameterError, match="parameter 'countries': control characters"):
        ANALYSIS.spec.validate({"countries": "Brazil\x00"})
    with pytest.raises(ParameterError, match="parameter 'countries': too long"):
        ANALYSIS.spec.validate({"countries": "x" * 2001})
    assert formats.parse_countries(" , ,", ["Peru"]) == ["Peru"]  # nothing named: the questionnaire's


class _ChatTokenizer:
    """A chat template written out: role tags and contents, then the assistant tag."""
    bos_token = "<s>"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "<s>" + "".join(f"[{m['role']}]{m['content']}" for m in messages) + "[assistant]"


def test_a_released_variant_in_a_chat_prompt_puts_its_instruction_in_the_system_message(tmp_path):
    q = questionnaire.load(write_released(tmp_path / "t.csv", released_rows()))
    item = q.items[1]
    variant = item.variant("numbers", "reversed", "text")
    japan = formats.personas(["Japan"], 1, 0)[1]
    system = prompts.render(item, formats.Format("numbers", "reversed", "text"), japan, tokenizer=_ChatTokenizer(),
                            chat=True, slot="system")
    body = f"{item.question}\n\n1. No\n2. Partly\n3. Yes"
    assert system.prompt == f"<s>[system]{japan.text}\n\n{INSTRUCTIONS['option_text']}[user]{body}[assistant]"
    assert system.targets == ("No", "Partly", "Yes") and system.base_index == (2, 1, 0)
    assert not system.add_special_tokens and variant.lines == ("1. No", "2. Partly", "3. Yes")
    user = prompts.render(item, formats.Format("numbers", "reversed", "text"), japan, tokenizer=_ChatTokenizer(),
                          chat=True, slot="user")
    assert user.prompt == f"<s>[system]{INSTRUCTIONS['option_text']}[user]{japan.text}\n\n{body}[assistant]"
