"""Parameter specs: coercion from text, ranges, choices, cross-checks and error messages."""

import pytest

from analyses.core import Bool, Choice, Float, InputFile, Int, ModelId, ParameterError, ParamSpec

SPEC = ParamSpec((
    Int("width", 64, min=4, max=256),
    Float("lr", 0.05, min=1e-4, max=1.0, log=True),
    Choice("model", "mlp", choices=("mlp", "cnn")),
    Bool("shuffle", True),
    InputFile("data", None, suffixes=(".csv",)),
), checks=(lambda p: "cnn needs width >= 8" if p["model"] == "cnn" and p["width"] < 8 else None,))


def test_defaults_and_text_coercion():
    assert SPEC.validate({}) == {"width": 64, "lr": 0.05, "model": "mlp", "shuffle": True, "data": None}
    values = SPEC.validate({"width": "32", "lr": "0.1", "shuffle": "no", "model": "cnn"})
    assert values == {"width": 32, "lr": 0.1, "model": "cnn", "shuffle": False, "data": None}
    assert SPEC.validate({"width": 32.0})["width"] == 32


@pytest.mark.parametrize("values, fragment", [
    ({"width": 1000}, "parameter 'width': out of range 1000; allowed: integer in [4, 256]"),
    ({"width": "3.5"}, "parameter 'width': expected an integer"),
    ({"width": True}, "parameter 'width': expected an integer"),
    ({"lr": "fast"}, "parameter 'lr': expected a number"),
    ({"lr": "nan"}, "parameter 'lr': not a finite number"),
    ({"lr": 2}, "allowed: number in [0.0001, 1], log scale"),
    ({"model": "resnet"}, "parameter 'model': unknown choice 'resnet'; allowed: one of mlp, cnn"),
    ({"shuffle": "maybe"}, "parameter 'shuffle'"),
    ({"data": "/no/such/file.csv"}, "parameter 'data': no such file"),
    ({"widht": 3}, "unknown parameter 'widht'; known: width, lr, model, shuffle, data"),
    ({"model": "cnn", "width": 4}, "cnn needs width >= 8"),
])
def test_errors_name_the_parameter_and_what_is_allowed(values, fragment):
    with pytest.raises(ParameterError) as info:
        SPEC.validate(values)
    assert fragment in str(info.value)


def test_input_file_suffix_and_digest_in_key(tmp_path):
    wrong = tmp_path / "x.json"
    wrong.write_text("{}")
    with pytest.raises(ParameterError, match="unsupported file type"):
        SPEC.validate({"data": str(wrong)})
    table = tmp_path / "x.csv"
    table.write_text("a\n1\n")
    values = SPEC.validate({"data": str(table)})
    key = SPEC.key_params(values)
    assert key["data"].startswith("sha256:") and str(tmp_path) not in key["data"]


def test_model_id_accepts_hub_ids_and_local_dirs(tmp_path):
    spec = ParamSpec((ModelId("model", "google/gemma-3-270m"),))
    assert spec.validate({})["model"] == "google/gemma-3-270m"
    (tmp_path / "config.json").write_text("{}")
    local = spec.validate({"model": str(tmp_path)})
    assert local["model"] == str(tmp_path.resolve())
    assert spec.key_params(local)["model"].startswith("sha256:")
    for bad in ("a/b/c", "bad id!", "./missing-dir"):
        with pytest.raises(ParameterError, match="parameter 'model'"):
            spec.validate({"model": bad})


def test_from_text_and_round_trip_through_text():
    pairs = SPEC.from_text(["width=16", "lr=0.002", "model=cnn"])
    values = SPEC.validate(pairs)
    assert SPEC.validate(SPEC.to_text(values)) == values
    with pytest.raises(ParameterError, match="expected key=value"):
        SPEC.from_text(["width"])
    with pytest.raises(ParameterError, match="unknown parameter 'depth'"):
        SPEC.from_text(["depth=3"])


def test_invalid_default_is_a_programming_error():
    with pytest.raises(ParameterError):
        ParamSpec((Int("n", 0, min=1, max=3),))


def test_analysis_requires_smoke_and_default_presets():
    import toy
    from analyses.core import Analysis

    base = toy.make()
    with pytest.raises(ValueError, match="smoke"):
        Analysis(name="x", title="x", papers=(), version="1", spec=base.spec, compute=base.compute,
                 figures=base.figures, presets={"default": {}})
    with pytest.raises(ValueError, match="preset 'smoke'"):
        Analysis(name="x", title="x", papers=(), version="1", spec=base.spec, compute=base.compute,
                 figures=base.figures, presets={"default": {}, "smoke": {"n": -1}})
