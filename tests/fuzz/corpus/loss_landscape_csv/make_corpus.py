"""Writes this folder's crafted bad CSV files (run once; the files are committed).

Each is a table a researcher could plausibly hand the loss-landscape analysis and that must be refused
with a message naming the file, row or column: `python make_corpus.py`.
"""

from pathlib import Path

HERE = Path(__file__).parent


def rows(n, make):
    return "".join(make(i) for i in range(n))


GOOD = "a,b,label\n" + rows(30, lambda i: f"{i * 0.1:.1f},{i % 7},{i % 2}\n")

CASES = {
    "empty.csv": "",
    "only_newlines.csv": "\n\n\n",
    "no_label_column.csv": "a,b,c\n" + rows(30, lambda i: f"{i},{i},{i}\n"),
    "blank_column_name.csv": "a,  ,label\n" + rows(30, lambda i: f"{i},{i},{i % 2}\n"),
    "label_and_spaced_label.csv": "label,a, label \n" + rows(30, lambda i: f"{i % 2},{i},{i % 2}\n"),
    "only_label.csv": "label\n" + rows(30, lambda i: f"{i % 2}\n"),
    "duplicate_feature.csv": "a,a,label\n" + rows(30, lambda i: f"{i},{-i},{i % 2}\n"),
    "duplicate_label.csv": "a,label,label\n" + rows(30, lambda i: f"{i},{i % 2},{(i + 1) % 2}\n"),
    "pandas_index_column.csv": ",a,label\n" + rows(30, lambda i: f"{i},{i * 0.5},{i % 2}\n"),
    "ten_thousand_classes.csv": "a,label\n" + rows(10_000, lambda i: f"{i % 13},{i}\n"),
    "continuous_float_label.csv": "a,label\n" + rows(60, lambda i: f"{i},{0.37 * i + 0.01:.4f}\n"),
    "float_label_one_fraction.csv": "a,label\n" + rows(30, lambda i: f"{i},{i % 2}.0\n") + "5,0.5\n",
    "id_column_as_label.csv": "a,label\n" + rows(40, lambda i: f"{i % 3},id{i}\n"),
    "one_class.csv": "a,label\n" + rows(30, lambda i: f"{i},cat\n"),
    "too_few_rows.csv": "a,label\n1,0\n2,1\n3,0\n",
    "header_only.csv": "a,b,label\n",
    "missing_feature.csv": GOOD + ",3,1\n",
    "missing_label.csv": GOOD + "1.5,3,\n",
    "nan_text_feature.csv": GOOD + "NaN,3,1\n",
    "inf_feature.csv": GOOD + "inf,3,1\n",
    "negative_inf_feature.csv": GOOD + "-inf,3,1\n",
    "huge_feature.csv": GOOD + "1e308,3,1\n",
    "overflow_feature.csv": GOOD + "1e400,3,1\n",
    "text_feature.csv": GOOD + "abc,3,1\n",
    "decimal_comma.csv": "a;b;label\n" + rows(30, lambda i: f"{i},5;{i};{i % 2}\n"),
    "complex_feature.csv": GOOD + "1+2j,3,1\n",
    "too_many_fields.csv": GOOD + "1,2,1,9\n",
    "unclosed_quote.csv": GOOD + '"1,2,1\n' + rows(5, lambda i: f"{i},1,0\n"),
    "blank_label.csv": GOOD + "1,2,   \n",
    "nul_label.csv": GOOD + "1,2,\x00\n",
    "bom_only_label.csv": GOOD + "1,2,\ufeff\n",
    "nul_in_header.csv": "a\x00,b,label\n" + rows(30, lambda i: f"{i},{i},{i % 2}\n"),
    "nan_label_text.csv": GOOD + "1,2,NaN\n",
    "inf_label.csv": "a,label\n" + rows(30, lambda i: f"{i},{i % 2}\n") + "1,inf\n",
}

BINARY = {
    "latin1.csv": ("a,label\n" + rows(30, lambda i: f"{i},caf\xe9{i % 2}\n")).encode("latin-1"),
    "utf16.csv": ("a,label\n" + rows(30, lambda i: f"{i},{i % 2}\n")).encode("utf-16"),
    "gzip_bytes.csv": bytes.fromhex("1f8b0800000000000003") + bytes(range(256)),
    "png_bytes.csv": bytes.fromhex("89504e470d0a1a0a") + bytes(200),
}


def main() -> None:
    for name, text in CASES.items():
        (HERE / name).write_text(text, encoding="utf-8", newline="")
    for name, data in BINARY.items():
        (HERE / name).write_bytes(data)
    (HERE / "many_columns.csv").write_text(",".join(f"c{i}" for i in range(20_000)) + ",label\n"
                                          + ",".join("1" for _ in range(20_001)) + "\n")


if __name__ == "__main__":
    main()
