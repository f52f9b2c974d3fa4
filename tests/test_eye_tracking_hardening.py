"""Bad input to the eye-tracking loaders ends in one InputError that names the file, the row or item, the
column and the problem; nothing in a pickle runs or allocates what its file does not hold; archives and
images are bounded before they are decompressed."""

import io
import json
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analyses.core import InputError
from analyses.eye_tracking import eyekit_json, paper_layout, safe_pickle, tables

PEAK_LIMIT = 4 << 20  # bytes a refused pickle may make the reader allocate, all told


def refused_without_allocating(payload: bytes, match: str = "not loaded|not a readable pickle"):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=match) as caught:
            safe_pickle.loads(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{peak:,} bytes allocated while refusing"
    return caught.value


def call(module: str, name: str, *args) -> bytes:
    """A protocol-2 pickle that calls module.name(*args): GLOBAL, the arguments, REDUCE."""
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + pickle.dumps(args, protocol=2)[2:-1] \
        + b"R."


# --- the unpickler -------------------------------------------------------------------------------------

def test_calling_the_ndarray_constructor_is_refused():
    # ndarray(shape, dtype): 8 uninitialised float64 as "fixations", and a 10**10-element bomb
    small = call("numpy", "ndarray", (8,), "f8")
    error = refused_without_allocating(small, "numpy.ndarray")
    assert "not in the file" in str(error)
    refused_without_allocating(call("numpy", "ndarray", (10 ** 10,), "f8"), "numpy.ndarray")
    assert len(small) < 140


@pytest.mark.parametrize("case", ["bytes", "bytearray", "reconstruct_shape", "setstate_short", "frombuffer_short",
                                  "scalar_void", "memo_reuse", "dtype_object_spec"])
def test_tiny_allocation_bombs_are_refused(case):
    if case == "bytes":
        payload = call("builtins", "bytes", 10 ** 10)
    elif case == "bytearray":
        payload = call("__builtin__", "bytearray", 10 ** 10)
    elif case == "reconstruct_shape":  # numpy's path, but asking _reconstruct itself for a huge shape
        payload = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(J\x00\xca\x9a;tU\x01btR."
    elif case == "setstate_short":  # the real path with a shape of 10**9 and 8 bytes of data
        good = pickle.dumps(np.arange(1.0), protocol=2)
        payload = good.replace(b"K\x01\x85", b"J\x00\xca\x9a;\x85", 1)
        assert payload != good
    elif case == "frombuffer_short":
        good = pickle.dumps(np.arange(4, dtype=np.int16), protocol=5)
        payload = good.replace(b"K\x04\x85", b"J\x00\xca\x9a;\x85", 1)
        assert payload != good
    elif case == "scalar_void":
        payload = (b"\x80\x02cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\nX\x0b\x00\x00\x00V1000000000"
                   b"\x89\x88\x87RC\x01x\x86R.")
    elif case == "memo_reuse":  # one 128 KiB array's state fed to BUILD 256 times: 32 MiB from a 128 KiB file
        good = pickle.dumps(np.zeros(16384), protocol=2)
        assert good.endswith(b"q\x14b.")
        # BINGET 9 (the array _reconstruct made), BINGET 20 (its state), BUILD, POP
        payload = good[:-1] + b"h\x09h\x14b0" * 256 + b"."
    else:
        payload = call("numpy", "dtype", "V" + "9" * 100)
    refused_without_allocating(payload)


FORBIDDEN = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("subprocess", "Popen"), ("subprocess", "check_output"),
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "compile"), ("builtins", "open"),
    ("builtins", "getattr"), ("builtins", "setattr"), ("builtins", "__import__"), ("builtins", "globals"),
    ("builtins", "type"), ("builtins", "object"), ("builtins", "memoryview"), ("builtins", "breakpoint"),
    ("builtins", "input"), ("builtins", "print"), ("builtins", "range"), ("__builtin__", "eval"),
    ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"), ("functools", "partial"),
    ("functools", "reduce"), ("operator", "attrgetter"), ("operator", "methodcaller"), ("operator", "mul"),
    ("importlib", "import_module"), ("runpy", "run_path"), ("code", "interact"), ("pty", "spawn"),
    ("shutil", "rmtree"), ("sys", "exit"), ("webbrowser", "open"), ("ctypes", "CDLL"), ("types", "FunctionType"),
    ("types", "CodeType"), ("pickle", "loads"), ("_pickle", "loads"), ("marshal", "loads"), ("codecs", "decode"),
    ("_codecs", "decode"), ("zlib", "decompress"), ("bz2", "decompress"), ("lzma", "decompress"),
    ("numpy", "empty"), ("numpy", "zeros"), ("numpy", "ones"), ("numpy", "full"), ("numpy", "load"),
    ("numpy", "fromfile"), ("numpy", "frombuffer"), ("numpy", "memmap"), ("numpy", "broadcast_to"),
    ("numpy", "tile"), ("numpy", "repeat"), ("numpy.lib.stride_tricks", "as_strided"),
    ("numpy.core.multiarray", "empty"), ("numpy._core.multiarray", "empty"), ("numpy.lib.npyio", "load"),
    ("numpy.ctypeslib", "as_array"), ("numpy.testing", "assert_equal"), ("numpy.f2py", "compile"),
    ("numpy.dtypes", "__builtins__"), ("numpy.dtypes", "NotADType"), ("pandas", "read_pickle"),
    ("pandas.core.frame", "DataFrame"), ("torch", "load"), ("collections", "defaultdict"),
    ("posixpath", "join"), ("io", "open"), ("tempfile", "mkstemp"), ("socket", "socket"),
    ("urllib.request", "urlopen"), ("asyncio", "run"), ("threading", "Thread"), ("multiprocessing", "Process"),
]


@pytest.mark.parametrize("module,name", FORBIDDEN, ids=[f"{m}.{n}" for m, n in FORBIDDEN])
def test_every_forbidden_global_is_refused_by_name_before_it_runs(module, name, tmp_path):
    marker = tmp_path / "ran"
    payload = call(module, name, f"touch {marker}")
    error = refused_without_allocating(payload, "not plain data")
    assert f"{module.replace('__builtin__', 'builtins')}.{name}" in str(error) and not marker.exists()
    # protocol 4's STACK_GLOBAL reaches the same door
    stack = (b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode()
             + b"\x93\x8c\x01x\x85R.")
    refused_without_allocating(stack, "not plain data")


def test_plain_data_still_passes_and_arrays_are_ordinary():
    data = {"a": [np.arange(3.0), np.float32(1.5), (1, "x"), {"b": np.array([[1, 2]], dtype=np.int16)},
                  np.array(["a", "bc"]), np.asfortranarray(np.ones((2, 3))), b"xyz", bytearray(b"ab"), {1, 2}]}
    for protocol in (2, 3, 4, 5):
        back = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
        assert type(back["a"][0]) is np.ndarray and np.array_equal(back["a"][3]["b"], data["a"][3]["b"])
        assert back["a"][4].tolist() == ["a", "bc"] and np.array_equal(back["a"][5], np.ones((2, 3)))
        assert back["a"][6:] == [b"xyz", bytearray(b"ab"), {1, 2}]


# --- archives and images -------------------------------------------------------------------------------

def png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def dataset_zip(path, members: dict, compression=zipfile.ZIP_DEFLATED):
    data = {"1": {"original": {"user_0": {"x_fix": [10.0, 20.0], "y_fix": [10.0, 20.0]}}}}
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("gaze_data.pickle", pickle.dumps(data))
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def test_a_huge_png_in_a_tiny_zip_is_refused_from_its_header(tmp_path):
    path = dataset_zip(tmp_path / "bomb.zip", {"images/original/1.png": png(12000, 12000)})
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(InputError, match=r"bomb.zip, item images/original/1.png: 12000×12000 pixels: more than"):
        paper_layout.load_zip(path, (1920, 1080))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 << 20


def test_a_member_whose_size_field_lies_is_stopped_while_it_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(paper_layout, "MAX_MEMBER_BYTES", 1 << 20)
    path = dataset_zip(tmp_path / "liar.zip", {"images/original/1.png": b"\0" * (3 << 20)})
    raw = bytearray(path.read_bytes())
    # rewrite the image's uncompressed size (local header and central directory) to 100 bytes
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            name_len = struct.unpack("<H", raw[i + (26 if sig == b"PK\x03\x04" else 28):][:2])[0]
            header = 30 if sig == b"PK\x03\x04" else 46
            if raw[i + header:i + header + name_len].endswith(b"1.png"):
                raw[i + offset:i + offset + 4] = struct.pack("<I", 100)
            start = i + 4
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="liar.zip"):
        paper_layout.load_zip(path, (1920, 1080))


def test_the_total_uncompressed_size_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(paper_layout, "MAX_TOTAL_BYTES", 2 << 20)
    path = dataset_zip(tmp_path / "big.zip", {"images/original/1.png": png(10, 10) + b"\0" * (3 << 20)})
    with pytest.raises(InputError, match="big.zip: more than 2 MB uncompressed in all"):
        paper_layout.load_zip(path, (1920, 1080))


@pytest.mark.parametrize("name", ["../evil.png", "/etc/passwd", "images/../../x.png", "C:/x.png", "a\\..\\..\\b"])
def test_path_traversal_names_are_refused(tmp_path, name):
    path = dataset_zip(tmp_path / "trav.zip", {name: b"x"})
    with pytest.raises(InputError, match="leaves the archive's folder"):
        paper_layout.load_zip(path, (1920, 1080))


# --- fixation tables -----------------------------------------------------------------------------------

def write(tmp_path, text, name="fix.csv", mode="w"):
    path = tmp_path / name
    (path.write_bytes if mode == "wb" else path.write_text)(text)
    return path


@pytest.mark.parametrize("text,match", [
    ("subject,x,y,duration\na,1,2,inf\n", r"fix.csv, row 0, column 'duration': duration is inf"),
    ("subject,x,y,duration\na,1,2,100\nb,-inf,2,100\n", r"row 1, column 'x': x is -inf"),
    ("subject,x,y\na,True,1\nb,False,2\n", r"column 'x': true/false values are not coordinates"),
    ("subject,x,X,y\na,1,2,3\n", r"columns 'x' and 'X' differ only in case"),
    ("subject,x,fix_x,y\na,1,2,3\n", r"columns 'x' and 'fix_x' both give x"),
    ("subject,x,x,y\na,1,2,3\n", r"column 'x': the column name appears twice"),
    ("subject,x,y,start,onset\na,1,2,3,4\n", r"both give start"),
    ("subject,x,y\n\x00a,1,2\n", r"a NUL byte on line 2"),
    ("subject,x,y\na\ufeff,1,2\n", r"byte-order mark"),
    ("", r"fix.csv: the file is empty"),
    ("subject,x,y\n ,1,2\n", r"row 0, column 'subject': a blank subject label"),
    ("subject,x,y\na\x07b,1,2\n", r"column 'subject': a subject label with control characters"),
])
def test_bad_tables_name_file_row_column_and_problem(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        tables.fixation_table(write(tmp_path, text))


def test_a_bom_at_the_start_is_an_encoding_mark_not_a_column_name(tmp_path):
    table = tables.fixation_table(write(tmp_path, "\ufeffx,y\n1,2\n"))
    assert list(table.columns) == ["x", "y"]


def test_times_in_a_named_unit(tmp_path):
    path = write(tmp_path, "subject,x,y,start,end\na,1,2,0.5,0.75\na,3,4,1.0,1.3\n")
    table = tables.fixation_table(path, "s")
    assert table["onset"].tolist() == [500, 1000] and table["duration"].tolist() == pytest.approx([250, 300])


# --- eyekit --------------------------------------------------------------------------------------------

def eyekit_file(tmp_path, trials):
    path = tmp_path / "reading.json"
    path.write_text(json.dumps(trials))
    return path


def test_eyekit_fixation_sequences_give_exact_counts_and_durations(tmp_path):
    trials = {
        "trial_0": {"participant_id": "p1", "passage_id": "passage_a", "condition": "easy", "fixations": {
            "__FixationSequence__": [{"x": 100, "y": 200, "start": 0, "end": 212},
                                     {"x": 160, "y": 200, "start": 240, "end": 431},
                                     {"x": 230, "y": 201, "start": 460, "end": 500, "discarded": True}]}},
        "trial_1": {"participant_id": "p2", "passage_id": "passage_a", "condition": "hard", "fixations": {
            "__FixationSequence__": [[90, 210, 10, 260], [300, 205, 290, 610]]}},
    }
    table, problems = eyekit_json.load(eyekit_file(tmp_path, trials))
    assert len(table) == 4 and table["duration"].tolist() == [212, 191, 250, 320]
    assert table["subject"].tolist() == ["p1", "p1", "p2", "p2"] and set(table["stimulus"]) == {"passage_a"}
    assert table["condition"].tolist() == ["easy", "easy", "hard", "hard"]
    assert problems[0]["count"] == 1 and "discarded" in problems[0]["problem"]
    assert "participant_id" in table.columns  # metadata fields become columns


@pytest.mark.parametrize("fixation,match", [
    ({"x": True, "y": 1, "start": 0, "end": 5}, "x is true, not a number"),
    ({"x": 1, "y": 1, "start": 10, "end": 5}, "a fixation ends \\(5\\) before it starts \\(10\\)"),
    ({"x": 1, "y": 1, "start": 0}, "a fixation without end"),
    ({"x": "1", "y": 1, "start": 0, "end": 5}, 'x is "1", not a number'),
])
def test_eyekit_bad_fixations_name_the_trial(tmp_path, fixation, match):
    path = eyekit_file(tmp_path, {"t7": {"fixations": {"__FixationSequence__": [fixation]}}})
    with pytest.raises(InputError, match=f"reading.json, item t7, fixation 0: {match}"):
        eyekit_json.load(path)
    path.write_text('{"t": {"fixations": {"__FixationSequence__": [{"x": 1, "y": 2, "start": 0, "end": Infinity}]}}}')
    with pytest.raises(InputError, match="end is inf, not a finite number"):
        eyekit_json.load(path)


def test_eyekit_end_to_end_metrics(tmp_path, store):
    from analyses.core import run

    trials = {f"trial_{i}": {"participant_id": f"p{i}", "passage_id": "a", "fixations": {"__FixationSequence__": [
        {"x": 100 + 50 * k, "y": 300, "start": 300 * k, "end": 300 * k + 150 + 10 * i + k} for k in range(5)]}}
        for i in range(3)}
    path = eyekit_file(tmp_path, trials)
    m = run("eye_tracking", preset="smoke", overrides={"data_path": str(path), "bootstrap": 200}, store=store).result.metrics
    durations = [150 + 10 * i + k for i in range(3) for k in range(5)]
    assert m["fixations_total"] == 15 and m["fixation_duration_mean_ms"] == pytest.approx(np.mean(durations))
    assert m["fixation_duration_median_ms"] == pytest.approx(np.median(durations))
