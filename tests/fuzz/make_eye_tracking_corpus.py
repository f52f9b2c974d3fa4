"""Write the eye-tracking fuzz corpora: crafted bad fixation tables (and eyekit JSON), ASC recordings and
paper-layout archives/pickles. Every file is bad input by construction; the committed files are the
corpus, this script only documents how each was made.

    python tests/fuzz/make_eye_tracking_corpus.py
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).parent / "corpus"
ASC_HEAD = "** CONVERTED FROM X.EDF using edfapi 4.2\n** VERSION: EYELINK II 1\n**\n"
BLOCK = ("START\t1000 \tLEFT\tSAMPLES\tEVENTS\nSAMPLES\tGAZE\tLEFT\tRATE\t1000.00\tTRACKING\tCR\tFILTER\t2\n")


def samples(n=150, x=500.0, y=400.0, t0=1000):
    return "".join(f"{t0 + i}\t{x:.1f}\t{y:.1f}\t400.0\t...\n" for i in range(n))


def good_asc_body(efix="EFIX L   1000\t1149\t150\t  500.0\t  400.0\t   400\n"):
    return ASC_HEAD + "MSG\t900 TRIALID 1\nMSG\t990 GAZE_COORDS 0.00 0.00 1279.00 1023.00\n" + BLOCK + samples() \
        + efix + "END\t1150 \tSAMPLES\tEVENTS\tRES\t 38.00\t 35.00\n"


def pickled(obj, protocol=4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def call(module: str, name: str, *args) -> bytes:
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + pickle.dumps(args, protocol=2)[2:-1] \
        + b"R."


def png(width, height, mode="L") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def gaze(x, y):
    return {"1": {"original": {"user_0": {"x_fix": x, "y_fix": y}}}}


def zipped(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression, compresslevel=9) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def patch_zip_sizes(raw: bytes, member_suffix: bytes, size: int, flag: int | None = None) -> bytes:
    """Rewrite a member's uncompressed size (and optionally its flag bits) in both headers."""
    raw = bytearray(raw)
    for sig, size_at, flag_at, name_len_at, header in ((b"PK\x03\x04", 22, 6, 26, 30), (b"PK\x01\x02", 24, 8, 28, 46)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            name_len = struct.unpack("<H", raw[i + name_len_at:i + name_len_at + 2])[0]
            if raw[i + header:i + header + name_len].endswith(member_suffix):
                raw[i + size_at:i + size_at + 4] = struct.pack("<I", size)
                if flag is not None:
                    raw[i + flag_at:i + flag_at + 2] = struct.pack("<H", flag)
            start = i + 4
    return bytes(raw)


def table_cases() -> dict[str, bytes | str]:
    def eyekit(fixations):
        return json.dumps({"t": {"fixations": {"__FixationSequence__": fixations}}})

    return {
        "empty.csv": "",
        "header_only.csv": "subject,x,y\n",
        "no_coordinates.csv": "subject,horizontal,vertical\na,1,2\n",
        "only_x.csv": "x\n1\n2\n",
        "inf_duration.csv": "subject,x,y,duration\na,100,100,inf\n",
        "neg_inf_x.csv": "subject,x,y,duration\na,-inf,100,200\n",
        "overflow_1e400.csv": "x,y\n1e400,5\n",
        "far_away_1e308.csv": "x,y,duration\n1e308,1e308,200\n",
        "nan_everywhere.csv": "x,y\nnan,nan\n,\n",
        "text_coordinates.csv": "x,y\nabc,def\nleft,top\n",
        "complex_coordinates.csv": "x,y\n1+2j,3-1j\n",
        "booleans_as_coordinates.csv": "subject,x,y\na,True,False\nb,False,True\n",
        "duplicated_x_column.csv": "subject,x,x,y\na,1,2,3\n",
        "case_clash.csv": "subject,x,X,y\na,1,2,3\n",
        "alias_clash_fix_x.csv": "subject,x,fix_x,y\na,1,2,3\n",
        "alias_clash_start_onset.csv": "subject,x,y,start,onset\na,1,2,3,4\n",
        "alias_clash_duration.csv": "subject,x,y,duration,fix_duration\na,1,2,100,200\n",
        "nul_byte.csv": b"subject,x,y\n\x00a,1,2\n",
        "bom_inside.csv": "subject,x,y\na\ufeff,1,2\n",
        "bom_only_label.csv": "subject,x,y\n\ufeff,1,2\n",
        "blank_subject.csv": "subject,x,y\n   ,1,2\n",
        "control_char_label.csv": "subject,stimulus,x,y\na,im\x07g,1,2\n",
        "not_utf8.csv": b"subject,x,y\n\xff\xfe\xfa,1,2\n",
        "binary_garbage.csv": bytes(range(256)) * 4,
        "utf16.csv": "subject,x,y\na,1,2\n".encode("utf-16"),
        "unclosed_quote.csv": '"subject,x,y\na,1,2\n',
        "ragged_row.csv": "x,y\n1,2,3\n4,5,6\n",
        "commas_in_tsv.tsv": "x,y\n1,2\n",
        "tabs_in_csv.csv": "x\ty\n1\t2\n",
        "too_many_columns.csv": ",".join(f"c{i}" for i in range(2500)) + "\n" + ",".join("1" * 2500) + "\n",
        "garbage.parquet": b"PAR1" + b"\x00garbage" * 10 + b"PAR1",
        "datav_report_all_missing.txt": "RECORDING_SESSION_LABEL\tCURRENT_FIX_X\tCURRENT_FIX_Y\np1\t.\t.\np2\t.\t.\n",
        "samples_time_backwards.csv": "time,x,y\n3,1,1\n2,1,1\n1,1,1\n",
        "samples_time_repeated.csv": "time,x,y\n1,1,1\n1,1,1\n1,1,1\n",
        "samples_time_text.csv": "time,x,y\nnoon,1,1\n",
        "eyekit_deep.json": "[" * 50_000 + "]" * 50_000,
        "eyekit_not_object.json": "42",
        "eyekit_empty.json": "{}",
        "eyekit_no_sequence.json": json.dumps({"t": {"participant_id": "p"}}),
        "eyekit_bool_x.json": eyekit([{"x": True, "y": 1, "start": 0, "end": 100}]),
        "eyekit_end_before_start.json": eyekit([{"x": 1, "y": 1, "start": 100, "end": 50}]),
        "eyekit_infinity.json": '{"t": {"fixations": {"__FixationSequence__": [{"x": 1, "y": 2, "start": 0, '
                                '"end": Infinity}]}}}',
        "eyekit_nan_x.json": '{"t": {"fixations": {"__FixationSequence__": [{"x": NaN, "y": 2, "start": 0, '
                             '"end": 5}]}}}',
        "eyekit_string_x.json": eyekit([{"x": "12", "y": 1, "start": 0, "end": 100}]),
        "eyekit_all_discarded.json": eyekit([{"x": 1, "y": 1, "start": 0, "end": 100, "discarded": True}]),
        "eyekit_missing_end.json": eyekit([{"x": 1, "y": 1, "start": 0}]),
        "eyekit_sequence_not_list.json": json.dumps({"t": {"fixations": {"__FixationSequence__": {"x": 1}}}}),
        "eyekit_nul_field.json": json.dumps({"t": {"participant_id": "p\u0000", "fixations": {
            "__FixationSequence__": [{"x": 1, "y": 1, "start": 0, "end": 5}]}}}),
        "eyekit_invalid.json": '{"t": {"fixations": ',
    }


def asc_cases() -> dict[str, bytes | str]:
    good = good_asc_body()
    return {
        "empty.asc": "",
        "hello.asc": "hello\nworld\n",
        "header_only.asc": ASC_HEAD,
        "nul_bytes.asc": good.encode().replace(b"TRIALID", b"TRIAL\x00ID"),
        "utf16.asc": good.encode("utf-16"),
        "binary_garbage.asc": bytes(range(1, 256)) * 8,
        "no_start_only_samples.asc": ASC_HEAD + samples(),
        "end_without_start.asc": ASC_HEAD + "END\t100 \tSAMPLES\tEVENTS\tRES\t 1 1\n",
        "block_without_data.asc": ASC_HEAD + BLOCK + "END\t1100 \tSAMPLES\tEVENTS\tRES\t 38.00\t 35.00\n",
        "efix_time_not_a_number.asc": good_asc_body("EFIX L   1000\tabc\t150\t  500.0\t  400.0\t   400\n"),
        "efix_end_before_start.asc": good_asc_body("EFIX L   1149\t1000\t150\t  500.0\t  400.0\t   400\n"),
        "efix_inf_duration.asc": good_asc_body("EFIX L   1000\t1149\tinf\t  500.0\t  400.0\t   400\n"),
        "efix_negative_duration.asc": good_asc_body("EFIX L   1000\t1149\t-5\t  500.0\t  400.0\t   400\n"),
        "efix_too_short.asc": good_asc_body("EFIX L   1000\n"),
        "efix_bad_eye.asc": good_asc_body("EFIX X   1000\t1149\t150\t  500.0\t  400.0\t   400\n"),
        "efix_inf_x.asc": good_asc_body("EFIX L   1000\t1149\t150\t  inf\t  400.0\t   400\n"),
        "efix_far_x.asc": good_asc_body("EFIX L   1000\t1149\t150\t  1e300\t  400.0\t   400\n"),
        "efix_missing_xy.asc": good_asc_body("EFIX L   1000\t1149\t150\t   .\t   .\t   400\n"),
        "efix_right_only_with_left_samples.asc": good_asc_body("EFIX R   1000\t1149\t150\t 500.0\t 400.0\t 400\n"),
        "esacc_malformed.asc": good_asc_body("ESACC L  1000\tnope\t10\n"),
        "sample_garbage.asc": ASC_HEAD + BLOCK + "1000\tabc\tdef\t400.0\t...\n",
        "sample_time_inf.asc": ASC_HEAD + BLOCK + "1e400\t1.0\t2.0\t400.0\t...\n",
        "sample_inf_x.asc": ASC_HEAD + BLOCK + samples(3) + "1003\tinf\t2.0\t400.0\t...\n",
        "binocular_sample_too_short.asc": ASC_HEAD + "START\t1000 \tLEFT\tRIGHT\tSAMPLES\tEVENTS\n"
                                          "SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t1000.00\n1000\t1.0\t2.0\n",
        "gaze_coords_text.asc": good.replace("GAZE_COORDS 0.00 0.00 1279.00 1023.00", "GAZE_COORDS a b c d"),
        "gaze_coords_zero.asc": good.replace("GAZE_COORDS 0.00 0.00 1279.00 1023.00", "GAZE_COORDS 0 0 0 0"),
        "gaze_coords_huge.asc": good.replace("GAZE_COORDS 0.00 0.00 1279.00 1023.00", "GAZE_COORDS 0 0 1e12 1e12"),
        "display_coords_nan.asc": good.replace("GAZE_COORDS 0.00 0.00 1279.00 1023.00",
                                               "DISPLAY_COORDS nan nan nan nan"),
        "rate_zero.asc": good.replace("RATE\t1000.00", "RATE\t0"),
        "rate_nan.asc": good.replace("RATE\t1000.00", "RATE\tnan"),
        "msg_time_text.asc": good.replace("MSG\t900 TRIALID 1", "MSG\tnine TRIALID 1"),
        "start_time_text.asc": good.replace("START\t1000 ", "START\tten "),
        "trialids_out_of_order.asc": good.replace("MSG\t900 TRIALID 1", "MSG\t900 TRIALID 1\nMSG\t800 TRIALID 2"),
        "line_too_long.asc": good.replace("MSG\t900 TRIALID 1", "MSG\t900 TRIALID " + "1" * 20_000),
        "all_samples_lost_no_events.asc": ASC_HEAD + BLOCK + "".join(f"{1000 + i}\t   .\t   .\t    0.0\t...\n"
                                                                     for i in range(200)),
        "one_sample_no_events.asc": ASC_HEAD + BLOCK + samples(1),
        "samples_backwards_no_events.asc": ASC_HEAD + BLOCK + "".join(f"{2000 - i}\t1.0\t2.0\t4.0\t...\n"
                                                                      for i in range(50)),
    }


def paper_cases() -> dict[str, bytes]:
    fine_pickle = pickled(gaze([10.0, 20.0], [10.0, 20.0]))
    numpy_array = pickle.dumps(np.zeros(16384), protocol=2)
    return {
        "not_a_zip.zip": b"this is not a zip archive\n",
        "truncated.zip": zipped({"gaze_data.pickle": fine_pickle})[:40],
        "no_pickle.zip": zipped({"images/original/1.png": png(4, 4)}),
        "os_system.zip": zipped({"gaze_data.pickle": call("os", "system", "touch /tmp/labscope-fuzz-pwned")}),
        "traversal_dotdot.zip": zipped({"gaze_data.pickle": fine_pickle, "../../etc/evil.png": b"x"}),
        "traversal_absolute.zip": zipped({"gaze_data.pickle": fine_pickle, "/abs/evil.png": b"x"}),
        "png_12000x12000.zip": zipped({"gaze_data.pickle": fine_pickle, "images/original/1.png": png(12000, 12000)}),
        "image_not_an_image.zip": zipped({"gaze_data.pickle": fine_pickle, "images/original/1.png": b"GIF89a garbage"}),
        "image_truncated.zip": zipped({"gaze_data.pickle": fine_pickle, "images/original/1.png": png(64, 64)[:60]}),
        "member_size_lies.zip": patch_zip_sizes(zipped({"gaze_data.pickle": fine_pickle}), b"gaze_data.pickle", 10),
        "member_declared_huge.zip": patch_zip_sizes(zipped({"gaze_data.pickle": fine_pickle}), b"gaze_data.pickle",
                                                    0xFFFF0000),
        "member_encrypted_flag.zip": patch_zip_sizes(zipped({"gaze_data.pickle": fine_pickle}), b"gaze_data.pickle",
                                                     len(fine_pickle), flag=0x1),
        "ndarray_constructor.pickle": call("numpy", "ndarray", (8,), "f8"),
        "ndarray_bomb.pkl": call("numpy", "ndarray", (10 ** 10,), "f8"),
        "bytes_bomb.pickle": call("builtins", "bytes", 10 ** 10),
        "bytearray_bomb.pickle": call("__builtin__", "bytearray", 10 ** 10),
        "reconstruct_huge_shape.pickle": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n"
                                         b"(J\x00\xca\x9a;tU\x01btR.",
        "setstate_without_bytes.pickle": pickle.dumps(np.arange(1.0), protocol=2).replace(b"K\x01\x85",
                                                                                           b"J\x00\xca\x9a;\x85", 1),
        "memo_reuse_bomb.pickle": numpy_array[:-1] + b"h\x09h\x14b0" * 256 + b".",
        "scalar_void_dtype.pickle": b"\x80\x02cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\nX\x0b\x00\x00\x00"
                                    b"V1000000000\x89\x88\x87RC\x01x\x86R.",
        "eval.pickle": call("builtins", "eval", "__import__('os').system('true')"),
        "numpy_load.pickle": call("numpy", "load", "/etc/passwd"),
        "as_strided.pickle": call("numpy.lib.stride_tricks", "as_strided", 0),
        "persistent_id.pickle": b"\x80\x02(X\x03\x00\x00\x00abcQ.",
        "out_of_band_buffer.pickle": b"\x80\x05\x97.",
        "truncated.pickle": fine_pickle[:-5],
        "not_a_pickle.pkl": b"(lp0\nI1\naI2\nag",
        "a_list.pickle": pickled([1, 2, 3]),
        "empty_dict.pickle": pickled({}),
        "users_without_fixations.pickle": pickled({"1": {"original": {"user_0": {"x_coords": [1.0]}}}}),
        "boolean_coordinates.pickle": pickled(gaze([True, False], [False, True])),
        "boolean_array_coordinates.pickle": pickled(gaze(np.array([True, False]), np.array([False, True]))),
        "infinite_coordinates.pickle": pickled(gaze([float("inf"), 1.0], [1.0, 2.0])),
        "far_coordinates.pickle": pickled(gaze([1e300], [1e300])),
        "complex_coordinates.pickle": pickled(gaze(np.array([1 + 2j]), np.array([3 + 0j]))),
        "text_coordinates.pickle": pickled(gaze(["left"], ["top"])),
        "mismatched_lengths.pickle": pickled(gaze([1.0, 2.0, 3.0], [1.0])),
        "deeply_nested.pickle": b"\x80\x02" + b"]" * 1000 + b"a" * 999 + b".",
        "edits_not_dicts.pickle": pickled({"1": ["original"]}),
    }


def main() -> None:
    for folder, cases in (("eye_tracking_table", table_cases()), ("eye_tracking_asc", asc_cases()),
                          ("eye_tracking_paper", paper_cases())):
        target = CORPUS / folder
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, payload in cases.items():
            (target / name).write_bytes(payload if isinstance(payload, bytes) else payload.encode())
        print(f"{folder}: {len(cases)} cases")


if __name__ == "__main__":
    main()
