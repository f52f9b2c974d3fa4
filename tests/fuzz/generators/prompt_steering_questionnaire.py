"""Writes the crafted bad questionnaires of corpus/prompt_steering_questionnaire/ (the files are committed;
rerun this only to regenerate them): python tests/fuzz/generators/prompt_steering_questionnaire.py"""

import json
from pathlib import Path

OUT = Path(__file__).parents[1] / "corpus" / "prompt_steering_questionnaire"
HEAD = "id,dimension,question,options"
ITEM = {"id": "q1", "dimension": "trust", "question": "Trust courts?", "options": ["no", "some", "yes"]}


def released(**change):
    """One row of the authors' released table (question_idx ... mean_weights), cells as Python literals."""
    row = {"question_idx": "3", "instruction": "Reply with the identifier only.", "question_text": "Trust courts?",
           "options": "['no', 'some', 'yes']", "labels": "['A.', 'B.', 'C.']",
           "options_labeled": "['A. no', 'B. some', 'C. yes']",
           "variation": "{'choice_format': 'letters', 'direction_format': 'ascending', 'response_format': 'identifier_only'}",
           "label_to_scale": "{'A': 1, 'B': 2, 'C': 3}", "mean_weights": "{'Brazil': 0.4, 'France': 0.6}"}
    row.update(change)
    quote = lambda v: '"' + str(v).replace('"', '""') + '"'  # noqa: E731
    return ",".join(row) + "\n" + ",".join(quote(v) for v in row.values()) + "\n"


def goqa(options="\"['a', 'b']\"", selections="\"defaultdict(<class 'list'>, {'Chile': [0.5, 0.5]})\""):
    return f"question,options,selections,source\nQ?,{options},{selections},WVS\n"


CASES = {
    # CSV, labscope layout
    "empty.csv": "",
    "header_only.csv": HEAD + "\n",
    "whitespace_only.csv": " \n\t\n",
    "dup_id_column.csv": HEAD + ",id\nq1,d,Q?,a|b,q2\n",
    "blank_human_country.csv": HEAD + ",human:\nq1,d,Q?,a|b,0.5|0.5\n",
    "bom_human_country.csv": HEAD + ",human:\ufeff\nq1,d,Q?,a|b,0.5|0.5\n",
    "two_columns_one_country.csv": HEAD + ",human:Chile,human: Chile \nq1,d,Q?,a|b,1|0,0|1\n",
    "nul_option.csv": HEAD + "\nq1,d,Q?,a|\x00|c\n",
    "bom_only_option.csv": HEAD + "\nq1,d,Q?,a|\ufeff|c\n",
    "zero_width_option.csv": HEAD + "\nq1,d,Q?,a|\u200b\u200b|c\n",
    "overflow_distribution.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b|c,1e308|1e308|1e308\n",
    "negative_probability.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,-0.5|1.5\n",
    "all_zero.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,0|0\n",
    "inf_probability.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,inf|1\n",
    "python_list_options.csv": HEAD + "\nq1,d,Q?,\"['a', 'b', 'c']\"\n",
    "python_list_human.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,\"[0.5, 0.5]\"\n",
    "mean_out_of_range.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,1.5\n",
    "mean_nan.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,nan\n",
    "mean_word.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b,high\n",
    "wrong_count.csv": HEAD + ",human:Chile\nq1,d,Q?,a|b|c,0.5|0.5\n",
    "one_option.csv": HEAD + "\nq1,d,Q?,yes\n",
    "27_options.csv": HEAD + "\nq1,d,Q?," + "|".join(f"o{k}" for k in range(27)) + "\n",
    "ragged_rows.csv": HEAD + "\nq1,d,Q?,a|b,extra,more\n",
    "missing_columns.csv": "id,question\nq1,Q?\n",
    "duplicate_ids.csv": HEAD + "\nq1,d,A?,a|b\nq1,d,B?,a|b\n",
    "empty_question.csv": HEAD + "\nq1,d,,a|b\n",
    "likert_with_distribution.csv": HEAD + ",human:Chile\nq1,d,Q?,likert,0.2|0.8\n",
    "blank_column_name.csv": HEAD + ",\nq1,d,Q?,a|b,x\n",
    "huge_question.csv": HEAD + "\nq1,d," + "w" * 30_000 + ",a|b\n",
    "repeated_option.csv": HEAD + "\nq1,d,Q?,a|b|a\n",
    # JSON
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "deep_object.json": '{"items": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}",
    "not_json.json": "{items: [}",
    "items_not_list.json": json.dumps({"items": {"q1": ITEM}}),
    "item_is_list.json": json.dumps({"items": [["q1", "trust", "Q?", ["a", "b"]]]}),
    "empty_items.json": json.dumps({"items": []}),
    "human_list.json": json.dumps({"items": [{**ITEM, "human": [[0.2, 0.3, 0.5]]}]}),
    "human_nested_dict.json": json.dumps({"items": [{**ITEM, "human": {"Chile": {"no": 1}}}]}),
    "mean_bool.json": json.dumps({"items": [{**ITEM, "human": {"Chile": True}}]}),
    "distribution_with_null.json": json.dumps({"items": [{**ITEM, "human": {"Chile": [0.5, None, 0.5]}}]}),
    "distribution_nan.json": '{"items": [{"id": "q1", "dimension": "d", "question": "Q?", "options": ["a", "b"], '
                             '"human": {"Chile": [NaN, 1]}}]}',
    "huge_integer.json": '{"items": [{"id": "q1", "dimension": "d", "question": "Q?", "options": ["a", "b"], '
                         '"human": {"Chile": [' + "9" * 5000 + ', 1]}}]}',
    "options_number.json": json.dumps({"items": [{**ITEM, "options": 3}]}),
    "id_object.json": json.dumps({"items": [{**ITEM, "id": {"x": 1}}]}),
    "question_list.json": json.dumps({"items": [{**ITEM, "question": ["Q?"]}]}),
    "bom_only_country.json": json.dumps({"items": [{**ITEM, "human": {"\ufeff": [0.2, 0.3, 0.5]}}]}),
    "nul_question.json": json.dumps({"items": [{**ITEM, "question": "\u0000"}]}),
    "dimension_scores_bool.json": json.dumps({"items": [ITEM, {**ITEM, "id": "q2", "dimension": "work"}],
                                              "dimension_scores": {"Chile": {"trust": True, "work": 1}}}),
    "dimension_scores_list.json": json.dumps({"items": [ITEM], "dimension_scores": [["Chile", 1]]}),
    "too_many_countries.json": json.dumps({"items": [{**ITEM, "human": {f"C{k}": 0.5 for k in range(600)}}]}),
    "binary.json": "\x00\x01\x02\xff garbage",
    "duplicate_country_key.json": '{"items": [{"id": "q1", "dimension": "d", "question": "Q?", "options": ["a", "b"], '
                                  '"human": {"Chile": [1, 0], "Chile": [0, 1]}}]}',
    # the authors' released table
    "released_bad_variation.csv": released(variation="{'choice_format': 'roman', 'direction_format': 'ascending', "
                                                     "'response_format': 'identifier_only'}"),
    "released_variation_list.csv": released(variation="['letters', 'ascending', 'identifier_only']"),
    "released_scale_repeats.csv": released(label_to_scale="{'A': 1, 'B': 1, 'C': 3}"),
    "released_scale_missing_label.csv": released(label_to_scale="{'A': 1, 'B': 2}"),
    "released_missing_column.csv": released().replace("mean_weights", "means"),
    "released_code_in_cell.csv": released(options="__import__('os').system('touch /tmp/pwned')"),
    "released_deep_literal.csv": released(mean_weights="[" * 500 + "]" * 500),
    "released_mean_list.csv": released(mean_weights="{'Brazil': [0.4, 0.6]}"),
    "released_mean_out_of_range.csv": released(mean_weights="{'Brazil': 4.0}"),
    "released_labels_not_letters.csv": released(labels="['1.', '2.', '3.']"),
    "released_labels_short.csv": released(labels="['A.', 'B.']"),
    "released_blank_country.csv": released(mean_weights="{'': 0.4}"),
    "released_mean_weights_number.csv": released(mean_weights="0.4"),
    # GlobalOpinionQA layout
    "goqa_selections_list.csv": goqa(selections="\"[0.5, 0.5]\""),
    "goqa_options_not_list.csv": goqa(options="\"'a|b'\""),
    "goqa_exec.csv": goqa(selections="\"__import__('os').getcwd()\""),
    "goqa_distribution_words.csv": goqa(selections="\"defaultdict(<class 'list'>, {'Chile': ['a', 'b']})\""),
    # wrong kind of file
    "notes.txt": "not a questionnaire",
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in CASES.items():
        data = text.encode("utf-8") if name != "binary.json" else bytes([0, 1, 2, 255]) + b" garbage"
        (OUT / name).write_bytes(data)
    (OUT / "latin1.csv").write_bytes((HEAD + "\nq1,d,Caf\xe9?,a|b\n").encode("latin-1"))
    print(f"{len(CASES) + 1} files in {OUT}")


if __name__ == "__main__":
    main()
