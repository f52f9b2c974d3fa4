"""The loss-landscape loaders under Hypothesis: any bytes, any table, any state dict ends in clean data or
one InputError, within a time bound. Clean data is checked for what the analysis relies on."""

import io
import math
import string

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from analyses.core import InputError
from analyses.loss_landscape.custom import load_checkpoints
from analyses.loss_landscape.data import MAX_CLASSES, read_csv_dataset

FAST = settings(max_examples=40, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean_csv(x, y, rows):
    assert x.dtype == np.float32 and np.isfinite(x).all() and x.shape[0] == rows and x.shape[1] >= 1
    assert y.dtype == np.int64 and y.min() == 0 and 2 <= y.max() + 1 <= min(MAX_CLASSES, rows / 2)
    assert set(np.unique(y)) == set(range(y.max() + 1))  # class ids 0..k-1, none unused


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_as_csv(tmp_path, data):
    path = tmp_path / "any.csv"
    path.write_bytes(data)
    try:
        x, y, _ = read_csv_dataset(str(path))
    except InputError as exc:
        assert str(exc).startswith("any.csv") and str(tmp_path) not in str(exc)
        return
    assert_clean_csv(x, y, len(x))


cells = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True, width=64),
                  st.text(alphabet=string.printable + "\x00\ufeff", max_size=4), st.just(""), st.booleans())


@FAST
@given(st.lists(st.sampled_from(["a", "b", "label", "", " label", "c"]), min_size=1, max_size=5),
       st.integers(0, 45), st.data())
def test_any_table_as_csv(tmp_path, header, rows, data):
    body = [[data.draw(cells) for _ in header] for _ in range(rows)]
    text = io.StringIO()
    pd.DataFrame(body, columns=range(len(header))).to_csv(text, header=header, index=False)
    path = tmp_path / "table.csv"
    path.write_text(text.getvalue())
    try:
        x, y, _ = read_csv_dataset(str(path))
    except InputError as exc:
        assert str(exc).startswith("table.csv")
        return
    assert_clean_csv(x, y, rows)
    stripped = [h.strip() for h in header]
    assert stripped.count("label") == 1 and "" not in stripped and len(set(stripped)) == len(stripped)


@FAST
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=40, max_size=40),
       st.lists(st.integers(0, 4), min_size=40, max_size=40))
def test_a_good_table_comes_back_exactly(tmp_path, features, labels):
    path = tmp_path / "good.csv"
    pd.DataFrame({"f": features, "label": labels}).to_csv(path, index=False)
    if len(set(labels)) < 2:
        with pytest.raises(InputError, match="fewer than 2 classes"):
            read_csv_dataset(str(path))
        return
    x, y, _ = read_csv_dataset(str(path))
    np.testing.assert_allclose(x[:, 0], np.float32(features), rtol=1e-6)
    assert (np.unique(labels, return_inverse=True)[1] == y).all()


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


KEYS = list(small_model().state_dict())
values = st.one_of(
    st.builds(lambda shape, dtype, fill: torch.full(shape, fill, dtype=torch.float64).to(dtype),
              st.sampled_from([(), (2,), (2, 3), (3, 2), (4,)]),
              st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.bool,
                               torch.complex64]),
              st.sampled_from([0.0, 1.0, -1.0, 2.5, 1e300, float("nan"), float("inf")])),
    st.integers(), st.text(max_size=3), st.none(), st.lists(st.floats(), max_size=3))


@FAST
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS + ["extra"]), st.integers(0, 3)), values, max_size=8),
       st.sampled_from(["state", "list", "checkpoints", "model_state_dict"]))
def test_any_state_dict(tmp_path, state, wrap):
    saved = {"state": state, "list": [state], "checkpoints": {"checkpoints": [state]},
             "model_state_dict": {"model_state_dict": state}}[wrap]
    path = tmp_path / "any.pt"
    try:
        torch.save(saved, path)
    except Exception:  # noqa: BLE001 - torch cannot save everything Hypothesis makes
        return
    model = small_model()
    try:
        (loaded,) = load_checkpoints(str(path), model)
    except InputError as exc:
        assert str(exc).startswith("any.pt") and str(tmp_path) not in str(exc)
        return
    reference = model.state_dict()
    assert set(loaded) == set(reference)
    for key, value in loaded.items():
        assert value.shape == reference[key].shape and value.dtype == reference[key].dtype
        if value.is_floating_point():
            assert torch.isfinite(value).all()
        if key in state:
            assert torch.equal(value, state[key].to(value.dtype))
    model.load_state_dict(loaded)  # what the analysis does with it


@FAST
@given(st.binary(max_size=3000))
def test_any_bytes_as_checkpoint(tmp_path, data):
    path = tmp_path / "bytes.pt"
    path.write_bytes(data)
    with pytest.raises(InputError, match="^bytes.pt"):
        load_checkpoints(str(path), small_model())


def test_a_float64_checkpoint_keeps_its_values_in_float32(tmp_path):
    model = small_model()
    state = {k: (v.double() * 1.5 if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save(state, tmp_path / "double.pt")
    (loaded,) = load_checkpoints(str(tmp_path / "double.pt"), model)
    assert loaded["0.weight"].dtype == torch.float32
    assert torch.allclose(loaded["0.weight"].double(), state["0.weight"])
    assert math.isclose(float(loaded["1.running_var"][0]), 1.5)
