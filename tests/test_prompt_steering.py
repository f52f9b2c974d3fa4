"""Prompt steering: questionnaire validation, prompt rendering (golden files), the base-order answer
scale under reversal, scoring against a direct transformers computation, per-prompt caching and the
bad-input messages. Models are tiny ones built from a config; the packaged Gemma never runs here."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analyses.core import InputError, ParameterError, run
from analyses.prompt_steering import (ANALYSIS, activation, formats, models, prefix_tree, prompts, questionnaire,
                                     scoring, tiny)
from analyses.prompt_steering import compute as compute_module

GOLDEN = Path(__file__).parent / "golden" / "prompt_steering"
UPDATE = os.environ.get("LABSCOPE_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As compute does (ctx.limit_torch_threads): on a shared 2-core machine more threads are much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return str(tiny.build(tmp_path_factory.mktemp("tiny_llama"), "llama", chat=True))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    return str(tiny.build(tmp_path_factory.mktemp("tiny_gpt2"), "gpt2", chat=False))


# -- questionnaire ------------------------------------------------------------------------------------

def test_shipped_bank_has_42_items_over_6_dimensions_and_no_human_data():
    bank = questionnaire.load(None)
    assert len(bank.items) == 42 and len(bank.dimensions) == 6
    assert bank.human_countries == []
    small = bank.subset(6)
    assert len(small.items) == 6 and len({i.dimension for i in small.items}) == 6


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, text, message", [
    ("missing.csv", "id,dimension,question\na,b,c\n", "missing column(s) options"),
    ("one.csv", "id,dimension,question,options\nq1,d,Is it?,Yes\n", "has 1 option(s)"),
    ("dup.csv", "id,dimension,question,options\nq1,d,A?,Yes|No\nq1,d,B?,Yes|No\n", "duplicate item id 'q1'"),
    ("empty.csv", "id,dimension,question,options\nq1,d,,Yes|No\n", "empty field 'question'"),
    ("repeat.csv", "id,dimension,question,options\nq1,d,A?,Yes|Yes\n", "repeats an option"),
    ("human.csv", "id,dimension,question,options,human:Chile\nq1,d,A?,Yes|No,0.5|0.3|0.2\n",
     "3 probabilities for 2 options"),
    ("nan.csv", "id,dimension,question,options,human:Chile\nq1,d,A?,Yes|No,nan|1\n", "country 'Chile': nan is not finite"),
    ("bad.json", "{not json", "not valid JSON"),
    ("shape.json", '{"items": 3}', "a list 'items'"),
    ("likert_human.json", '{"items": [{"id": "a", "dimension": "d", "question": "Q", "options": "likert", '
                          '"human": {"Chile": [1, 0]}}]}', "need explicit options"),
    ("notes.txt", "hello", "expected a .json or .csv file"),
])
def test_questionnaire_errors_name_the_problem(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        questionnaire.load(_write(tmp_path, name, text))


def test_csv_json_and_globalopinionqa_layouts_load(tmp_path):
    csv = _write(tmp_path, "q.csv", "id,dimension,question,options,human:Chile,human:Peru\n"
                                    "q1,trust,Trust?,No|Some|Yes,0.2|0.3|0.5,0.6|0.2|0.2\n"
                                    "q2,trust,Agree?,likert,,\n")
    q = questionnaire.load(csv)
    assert q.items[0].options == ("No", "Some", "Yes") and q.items[1].is_likert
    assert q.human_countries == ["Chile", "Peru"] and q.items[0].human["Peru"] == pytest.approx((0.6, 0.2, 0.2))
    goqa = tmp_path / "goqa.csv"
    pd.DataFrame({"question": ["Is work important?"], "options": ["['Very', 'Somewhat', 'Not']"],
                  "selections": ["defaultdict(<class 'list'>, {'Chile': [0.5, 0.3, 0.2], 'Peru': [0.1, 0.1, 0.8]})"],
                  "source": ["WVS"]}).to_csv(goqa, index=False)
    g = questionnaire.load(goqa)
    assert g.items[0].dimension == "WVS" and g.items[0].human["Peru"] == pytest.approx((0.1, 0.1, 0.8))
    # A file's selections are parsed as literals, never executed.
    pd.DataFrame({"question": ["Q"], "options": ["['a', 'b']"], "selections": ["__import__('os').getcwd()"],
                  "source": ["x"]}).to_csv(goqa, index=False)
    with pytest.raises(ValueError, match="cannot parse"):
        questionnaire.load(goqa)


# -- rendering ----------------------------------------------------------------------------------------

def _golden_cases(tokenizer):
    bank = questionnaire.load(None)
    likert, choice = bank.items[0], next(i for i in bank.items if not i.is_likert)
    japan = formats.personas(["Japan"], 2, 1)
    cases = {}
    for item in (likert, choice):
        for f in formats.formats(likert=(4, 5, 6) if item.is_likert else (5,), permutations=1):
            r = prompts.render(item, f, japan[0], seed=0)
            cases[f"{item.id} {f.name} none plain"] = r
    for person in japan[1:]:
        cases[f"{likert.id} persona {person.name} plain"] = prompts.render(likert, formats.Format(), person)
        cases[f"{likert.id} persona {person.name} chat-system"] = prompts.render(
            likert, formats.Format(), person, tokenizer=tokenizer, chat=True, slot="system")
        cases[f"{likert.id} persona {person.name} chat-user"] = prompts.render(
            likert, formats.Format(), person, tokenizer=tokenizer, chat=True, slot="user")
    return {name: {"prompt": r.prompt, "targets": list(r.targets), "base_index": list(r.base_index),
                   "add_special_tokens": r.add_special_tokens} for name, r in cases.items()}


def test_every_format_renders_as_its_golden_file(tiny_llama):
    _, tokenizer = models.load(tiny_llama)
    cases = _golden_cases(tokenizer)
    path = GOLDEN / "renders.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    assert sorted(cases) == sorted(expected)
    for name in cases:
        assert cases[name] == expected[name], name
    # 3 Likert sizes x 12 formats (2 labels x 3 orders x 2 answers), 12 for a multiple-choice item,
    # 3 personas (2 country wordings, a placebo) x 3 slots
    assert len(cases) == 36 + 12 + 9


def test_reversed_order_maps_answers_back_to_the_base_order():
    item = questionnaire.Item("x", "d", "Q?", ("never", "rarely", "often", "always"))
    asc = prompts.render(item, formats.Format(order="ascending"), formats.Persona("none", "none", ""))
    rev = prompts.render(item, formats.Format(order="reversed"), formats.Persona("none", "none", ""))
    assert rev.options == ("always", "often", "rarely", "never")
    assert "A. always" in rev.prompt and "D. never" in rev.prompt
    # A respondent who always picks "always" scores 1 in both orders; one who always picks the first
    # listed option scores 0 ascending and 1 reversed.
    always = lambda r: np.array([1.0 if o == "always" else 0.0 for o in r.options])
    assert always(asc) @ asc.scale == 1.0 and always(rev) @ rev.scale == 1.0
    first = np.array([1.0, 0, 0, 0])
    assert first @ asc.scale == 0.0 and first @ rev.scale == 1.0
    perm = prompts.render(item, formats.Format(order="perm1"), formats.Persona("none", "none", ""), seed=3)
    assert sorted(perm.base_index) == [0, 1, 2, 3]
    assert [item.options[i] for i in perm.base_index] == list(perm.options)


# -- scoring ------------------------------------------------------------------------------------------

def _direct(model, tokenizer, request):
    """The reference: one unpadded sequence at a time, full logits."""
    ids = tokenizer.encode(request.prompt, add_special_tokens=request.add_special_tokens)
    with torch.no_grad():
        if request.response == "identifier":
            try:
                shared, tokens = scoring.identifier_tokens(tokenizer, request.targets)
            except ValueError:  # identifiers tokenized unevenly: whole-continuation log-probabilities
                return np.array([_continuation(model, tokenizer, ids, t, np.sum) for t in request.targets])
            logits = model(torch.tensor([ids + shared])).logits[0, -1]
            return torch.log_softmax(logits, -1)[tokens].numpy()
        return np.array([_continuation(model, tokenizer, ids, t, np.mean) for t in request.targets])


def _continuation(model, tokenizer, ids, target, reduce):
    cont = tokenizer.encode(target, add_special_tokens=False)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids + cont])).logits[0], -1)
    return reduce([float(logp[len(ids) - 1 + i, c]) for i, c in enumerate(cont)])


def test_prefix_tree_runs_each_shared_prefix_once_and_each_token_sees_only_its_ancestors():
    sequences = sorted([[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 7], [1, 2, 3, 4], [8, 9]])
    packed = prefix_tree.pack(sequences, row_tokens=100)
    assert packed.tokens == [[1, 2, 3, 4, 5, 6, 7], [8, 9]]  # [8, 9] shares nothing: a row of its own
    assert packed.depth == [[0, 1, 2, 3, 3, 4, 2], [0, 1]]  # position ids: depth in the sequence
    for seq, (row, path) in zip(sequences, packed.paths):
        assert [packed.tokens[row][c] for c in path] == seq
        attends = packed.attends(row)
        for d, c in enumerate(path):  # a token attends to exactly its sequence's earlier tokens
            assert set(np.flatnonzero(attends[c])) == set(path[:d + 1])
    # A row budget splits the tree; a sequence never straddles rows.
    small = prefix_tree.pack(sequences, row_tokens=1)
    assert [len(t) for t in small.tokens] == [4, 5, 3, 2]
    # Long prompts that share more than they add still share a row (the formats of one long question).
    question = list(range(100, 140))
    formats_of_it = [question + [1, 2], question + [1, 3], question + [4, 5]]
    assert [len(t) for t in prefix_tree.pack(formats_of_it, row_tokens=16).tokens] == [45]
    assert len(prefix_tree.pack(formats_of_it, row_tokens=10).tokens) == 3  # beyond 4 x the budget: split


def _count_positions(model):
    """How many token positions (padding included) the model runs: a hook on its input embeddings."""
    counted = []
    model.get_input_embeddings().register_forward_hook(lambda module, args, out: counted.append(args[0].numel()))
    return counted


@pytest.mark.parametrize("which", ["tiny_llama", "tiny_gpt2"])
def test_batched_scoring_matches_a_direct_transformers_computation(which, request):
    model, tokenizer = models.load(request.getfixturevalue(which))
    bank = questionnaire.load(None)
    people = formats.personas(["Brazil"], 1, 1)
    chat = bool(tokenizer.chat_template)
    requests = [compute_module._request(prompts.render(item, f, person, tokenizer=tokenizer, chat=chat))
                for item in (bank.items[0], bank.items[3], bank.items[8])
                for f in formats.formats(labels=("letters", "numbers"), orders=("reversed",), likert=(4, 6))
                for person in people]
    lengths = {len(tokenizer.encode(r.prompt)) for r in requests}
    assert len(lengths) > 3  # batches really pad
    positions = _count_positions(model)
    batched = scoring.score(model, tokenizer, requests, batch_size=5)
    shared_positions = sum(positions)
    positions.clear()
    plain = scoring.score(model, tokenizer, requests, batch_size=5, share_prefixes=False)
    # Prompts of one question and persona share their prefix, and the persona text is shared by all:
    # computed once, it leaves well under the positions of one pass per prompt.
    assert shared_positions < 0.75 * sum(positions)
    for req, got, unshared in zip(requests, batched, plain):
        expected = _direct(model, tokenizer, req)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        np.testing.assert_allclose(unshared, expected, atol=1e-4)
    p = scoring.renormalise(batched[0])
    assert p.sum() == pytest.approx(1.0) and (p > 0).all()


def test_prompts_beyond_a_sliding_window_fall_back_to_plain_passes(tiny_gpt2, monkeypatch):
    """A tree row's own mask would let a sliding-window layer see past its window: such batches run plain."""
    model, tokenizer = models.load(tiny_gpt2)
    bank = questionnaire.load(None)
    requests = [compute_module._request(prompts.render(bank.items[0], f, formats.Persona("none", "none", "")))
                for f in formats.formats(labels=("letters", "numbers"), orders=("ascending", "reversed"))]
    trees = []
    original = scoring._forward_tree
    monkeypatch.setattr(scoring, "_forward_tree", lambda *a, **k: trees.append(1) or original(*a, **k))
    shared = scoring.score(model, tokenizer, requests)
    assert trees  # the tree pass ran
    trees.clear()
    monkeypatch.setattr(model.config, "sliding_window", 16, raising=False)
    windowed = scoring.score(model, tokenizer, requests)
    assert not trees
    for a, b in zip(shared, windowed):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_identifiers_sharing_every_token_are_refused(tiny_gpt2):
    _, tokenizer = models.load(tiny_gpt2)
    with pytest.raises(ValueError, match="share their tokens"):
        scoring.identifier_tokens(tokenizer, [" A", " A"])
    shared, ids = scoring.identifier_tokens(tokenizer, ["A", "B", "C"])
    assert shared == [] and len(set(ids)) == 3


# -- the analysis -------------------------------------------------------------------------------------

SMALL = {"n_items": 4, "countries": "United States, China, India", "n_templates": 1, "n_placebos": 1, "n_permutations": 50,
         "batch_size": 8}


def test_each_prompt_is_cached_adding_a_format_scores_only_new_prompts(tiny_llama, store, monkeypatch):
    scored = []
    original = compute_module.scoring.score
    monkeypatch.setattr(compute_module.scoring, "score",
                        lambda m, t, reqs, **kw: scored.append(len(reqs)) or original(m, t, reqs, **kw))
    first = run(ANALYSIS, "smoke", overrides={**SMALL, "model": tiny_llama}, store=store)
    scores = first.result.tables["scores"]
    assert len(scores) == 4 * 4 * 5 == scored[0]  # items x formats x personas
    more = run(ANALYSIS, "smoke", overrides={**SMALL, "model": tiny_llama, "permutations": 1}, store=store)
    assert len(more.result.tables["scores"]) == 4 * 6 * 5 and scored[1] == 4 * 2 * 5  # only the new formats
    again = run(ANALYSIS, "smoke", overrides={**SMALL, "model": tiny_llama, "steering_personas": "placebo"},
                store=store)
    assert again.cache_hit and len(scored) == 2  # a display option never recomputes
    edited = dataclasses.replace(ANALYSIS, version=ANALYSIS.version + "-edited")  # as after a metrics edit
    rerun = run(edited, "smoke", overrides={**SMALL, "model": tiny_llama}, store=store)
    assert not rerun.cache_hit and scored[2:] == [0]  # the metrics are recomputed, no prompt is rescored
    columns = {"item", "format", "response", "persona", "prompt", "p_1", "p_5", "expected_scale"}
    assert columns <= set(scores.columns)
    p = scores[[f"p_{j}" for j in range(1, 6)]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert scores.expected_scale.between(0, 1).all()
    for name in ("format_instability_mean", "position_bias", "steering_snr_median", "placebo_effect_mean",
                 "country_effect_mean", "rank_kendall_tau_mean"):
        assert np.isfinite(first.result.metrics[name]), name
    assert set(first.figures()) >= {"instability_matrix", "position_bias", "steering_vs_noise", "format_factors"}


def test_chat_prompts_put_the_persona_in_the_system_message(tiny_llama, store):
    out = run(ANALYSIS, "smoke", overrides={**SMALL, "n_items": 1, "model": tiny_llama, "prompt_style": "chat"},
              store=store)
    scores = out.result.tables["scores"]
    japan = scores[scores.persona_kind == "country"].prompt.iloc[0]
    assert japan.startswith("<bos><|system|>\nImagine you are a person from") and japan.endswith("<|assistant|>\n")


def test_option_text_answers_are_scored_per_option(tiny_gpt2, store):
    out = run(ANALYSIS, "smoke", overrides={**SMALL, "n_items": 2, "model": tiny_gpt2, "response_text": True,
                                            "response_identifier": False}, store=store)
    scores = out.result.tables["scores"]
    assert set(scores.response) == {"text"} and scores.prompt.str.endswith("Answer:").all()


@pytest.mark.parametrize("overrides, message", [
    ({"model": "no-such-org/no-such-model"}, "parameter 'model': could not load"),
    ({"labels_letters": False, "labels_numbers": False}, "at least one label style"),
    ({"n_items": 0}, "parameter 'n_items'"),
    ({"prompt_style": "chat"}, "has no chat template"),
])
def test_bad_input_gets_a_message_naming_the_problem(tiny_gpt2, store, monkeypatch, overrides, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises((ValueError, ParameterError), match=message):
        run(ANALYSIS, "smoke", overrides={**SMALL, "model": tiny_gpt2, **overrides}, store=store)


def test_a_directory_without_a_model_is_refused_clearly(tmp_path, store):
    (tmp_path / "notes.txt").write_text("no model here")
    with pytest.raises(ParameterError, match="not a model directory"):  # said before anything is read
        run(ANALYSIS, "smoke", overrides={**SMALL, "model": str(tmp_path)}, store=store)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(InputError, match="does not hold a loadable causal LM") as info:
        run(ANALYSIS, "smoke", overrides={**SMALL, "model": str(tmp_path)}, store=store)
    assert str(tmp_path.parent) not in str(info.value)  # the directory by its name: messages reach browsers


def test_cli_writes_the_metrics_and_the_scores_table(tiny_gpt2, tmp_path):
    """The acceptance command's shape, with a tiny model (the packaged Gemma is for real runs)."""
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "analyses.core.cli", "--cache-dir", str(tmp_path / "cache"), "run",
                           "prompt_steering", "--preset", "smoke", "--set", f"model={tiny_gpt2}", "--set", "n_items=2",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LABSCOPE_TORCH_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "result.json").read_text())
    for name in ("format_instability_mean", "position_bias", "steering_snr_median", "placebo_effect_mean",
                 "country_effect_mean", "rank_kendall_tau_mean"):
        assert name in record["metrics"]
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 2 * 4 * 5
    assert {"item", "format", "response", "persona", "prompt", "p_1", "p_5", "expected_scale"} <= set(scores.columns)
    assert scores.prompt.str.contains("Question: ").all()

    bad = subprocess.run([sys.executable, "-m", "analyses.core.cli", "--cache-dir", str(tmp_path / "cache"), "run",
                          "prompt_steering", "--preset", "smoke", "--set", f"questionnaire={tmp_path / 'nope.csv'}",
                          "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "parameter 'questionnaire': no such file" in bad.stderr


def test_activation_steering_adds_alpha_v_at_the_layer_and_nothing_at_alpha_zero(tiny_llama, store):
    model, tokenizer = models.load(tiny_llama)
    layer = activation.resolve_layer(model, -1)
    prompt = [("Question: Is it?\nAnswer:", True)]
    v = np.linspace(-1, 1, model.config.hidden_size)
    seen = []  # what the next layer receives, at every position

    def capture(module, args, kwargs):
        seen.append((args[0] if args else kwargs["hidden_states"]).detach().clone())

    handle = activation.decoder_layers(model)[layer + 1].register_forward_pre_hook(capture, with_kwargs=True)
    try:
        activation.last_hidden(model, tokenizer, prompt, layer)
        with activation.steered(model, layer, v, 2.0):
            activation.last_hidden(model, tokenizer, prompt, layer)
        activation.last_hidden(model, tokenizer, prompt, layer)
    finally:
        handle.remove()
    np.testing.assert_allclose((seen[1] - seen[0])[0].numpy(), np.tile(2.0 * v, (seen[0].shape[1], 1)), atol=1e-5)
    np.testing.assert_allclose(seen[2].numpy(), seen[0].numpy())  # the hook is gone after the block

    over = {**SMALL, "n_items": 2, "model": tiny_llama, "activation_steering": True}
    off = run(ANALYSIS, "smoke", overrides={**over, "steer_alpha": 0.0}, store=store).result
    assert off.metrics["activation_effect_mean"] == pytest.approx(0.0, abs=1e-6)  # float noise only
    on = run(ANALYSIS, "smoke", overrides={**over, "steer_alpha": 4.0}, store=store)
    assert on.result.metrics["activation_effect_mean"] > 1e-3
    assert (on.result.tables["scores"].persona_kind == "activation").sum() == 2 * 4 * 3  # items x formats x countries
    assert "prompt_vs_activation" in on.figures()
    with pytest.raises(ValueError, match="parameter 'steer_layer'"):
        run(ANALYSIS, "smoke", overrides={**over, "steer_layer": 5}, store=store)
