"""Writes this folder's crafted bad checkpoint files (run once; the files are committed).

The loader in tests/fuzz/loaders.py checks them against Sequential(Linear(4, 3), BatchNorm1d(3),
Linear(3, 2)); every file must be refused with a message naming the file, entry and key.
"""

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).parent


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def good() -> dict:
    return {k: v.clone() for k, v in model().state_dict().items()}


def with_(key, value) -> dict:
    state = good()
    state[key] = value
    return state


def without(key) -> dict:
    state = good()
    del state[key]
    return state


class Shell:
    def __reduce__(self):
        return (os.system, ("echo owned > /tmp/labscope_fuzz_marker",))


def saved(obj, name, legacy=False) -> None:
    torch.save(obj, HERE / name, _use_new_zipfile_serialization=not legacy)


def zip_bomb(name) -> None:
    """A torch-like zip whose member claims to unpack to 4.29 GB (patched size fields)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * 1000)
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 0xFFFFFFF0)
    (HERE / name).write_bytes(bytes(data))


def main() -> None:
    (HERE / "empty.pt").write_bytes(b"")
    (HERE / "text.pt").write_text("these are not weights\n")
    (HERE / "random_bytes.pth").write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())
    (HERE / "pickle_runs_shell.pt").write_bytes(pickle.dumps({"checkpoints": [Shell()]}))
    (HERE / "pickle_numpy_array.pt").write_bytes(pickle.dumps({"0.weight": np.zeros((3, 4))}))
    saved(model(), "whole_module.pt")
    saved({}, "empty_dict.pt")
    saved([], "empty_list.pt")
    saved({"checkpoints": []}, "no_checkpoints.pt")
    saved({"checkpoints": "abc"}, "checkpoints_string.pt")
    saved([1, 2, 3], "list_of_ints.pt")
    saved(torch.zeros(3), "bare_tensor.pt")
    saved(without("1.running_mean"), "missing_buffer.pt")
    saved(with_("3.weight", torch.zeros(2)), "extra_key.pt")
    saved(with_("0.weight", torch.zeros(4, 3)), "wrong_shape.pt")
    saved(with_("0.weight", torch.zeros(())), "scalar_weight.pt")
    saved(with_("0.weight", torch.randn(3, 4, dtype=torch.complex64)), "complex_weight.pt")
    saved(with_("1.running_var", torch.ones(3, dtype=torch.complex128)), "complex_buffer.pt")
    saved(with_("0.bias", torch.tensor([0.0, float("nan"), 0.0])), "nan_bias.pt")
    saved(with_("2.weight", torch.full((2, 3), float("inf"))), "inf_weight.pt")
    saved(with_("2.weight", torch.full((2, 3), 1e300, dtype=torch.float64)), "float64_overflow.pt")
    saved(with_("0.bias", torch.tensor([float("inf"), 0, 0], dtype=torch.float16)), "half_inf.pt")
    saved(with_("0.weight", torch.ones(3, 4, dtype=torch.bool)), "bool_weight.pt")
    saved(with_("1.running_var", torch.tensor([1.0, -2.0, 1.0])), "negative_variance.pt")
    saved(with_("1.num_batches_tracked", torch.tensor(2.5)), "fractional_counter.pt")
    saved(with_("0.bias", "zeros"), "string_value.pt")
    saved(with_("0.bias", [0.0, 0.0, 0.0]), "list_value.pt")
    saved(with_("0.bias", {"data": torch.zeros(3)}), "nested_dict_value.pt")
    saved(with_("0.bias", 0.5), "float_value.pt")
    saved({**good(), 7: torch.zeros(1)}, "integer_key.pt")
    saved(with_("0.weight", torch.zeros(3, 4).to_sparse()), "sparse_weight.pt")
    saved({"checkpoints": [good(), with_("2.bias", torch.zeros(5))]}, "second_entry_wrong.pt")
    saved({"checkpoints": [good(), "later"]}, "second_entry_string.pt")
    saved({"model_state_dict": without("2.bias"), "optimizer_state_dict": {}}, "training_checkpoint_missing.pt")
    saved({"checkpoints": [{}] * 1001}, "too_many_checkpoints.pt")
    saved(with_("0.weight", torch.randn(3, 4, dtype=torch.complex64)), "legacy_complex.pt", legacy=True)
    whole = io.BytesIO()
    torch.save(good(), whole)
    (HERE / "truncated.pt").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    damaged = bytearray(whole.getvalue())
    damaged[len(damaged) // 3: len(damaged) // 3 + 64] = bytes(64)
    (HERE / "damaged_middle.pt").write_bytes(bytes(damaged))
    zip_bomb("zip_bomb.pt")
    with zipfile.ZipFile(HERE / "plain_zip.pt", "w") as archive:
        archive.writestr("notes.txt", "a zip, not a checkpoint")


if __name__ == "__main__":
    main()
