"""Serving to a team: the dashboard's policy (confined paths, gated code), provenance without paths,
upload ids, model directories identified by metadata, loopback detection, the CLI's error contract."""

import json
import os
import time
from pathlib import Path

import pytest

from analyses.core import (Bool, CallableRef, InputError, InputFile, ModelId, ParameterError, ParamSpec, cli,
                           get, run)
from analyses.core.params import MAX_MODEL_DIR_ENTRIES, model_dir_digest, upload_id
from analyses.core.policy import SHIPPED_DATA, ServerPolicy, code_params

SPEC = ParamSpec((
    InputFile("data", None, suffixes=(".csv",)),
    ModelId("model", "org/name"),
    Bool("trust_remote_code", False, runs_code=True),
    CallableRef("factory", ""),
))


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """A data root with a table in it, a secret outside it, and the dashboard's policy over them."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    (root / "table.csv").write_text("x,label\n1,0\n")
    (outside / "secret.csv").write_text("SECRET-CONTENT,label\n1,0\n")
    monkeypatch.setenv("LABSCOPE_DATA_ROOTS", f"{tmp_path / 'nowhere'}:{root}")
    monkeypatch.delenv("LABSCOPE_ALLOW_CUSTOM_CODE", raising=False)
    return root, outside


def refusal(values, policy):
    with pytest.raises(ParameterError) as info:
        SPEC.validate(values, policy=policy)
    return str(info.value)


def test_paths_outside_the_data_roots_get_one_message_that_reveals_nothing(roots):
    root, outside = roots
    policy = ServerPolicy.from_env()
    assert SPEC.validate({"data": str(root / "table.csv")}, policy=policy)["data"] == str((root / "table.csv").resolve())
    existing = refusal({"data": str(outside / "secret.csv")}, policy)
    missing = refusal({"data": str(outside / "missing.csv")}, policy)
    wrong_type = refusal({"data": str(outside / "secret.json")}, policy)
    assert existing == missing == wrong_type  # not whether it exists, nor its type
    assert "not available" in existing and "LABSCOPE_DATA_ROOTS" in existing
    assert "secret" not in existing and str(outside) not in existing
    for sneaky in (f"{root}/../outside/secret.csv", f"{root}/./../../{outside.name}/../outside/secret.csv",
                   "~/../../etc/passwd.csv", "/etc/passwd"):
        assert refusal({"data": sneaky}, policy) == existing
    # the same path from the CLI or the API, the user's own shell: full access
    assert SPEC.validate({"data": str(outside / "secret.csv")})["data"] == str(outside / "secret.csv")


def test_a_symlink_inside_a_root_that_points_outside_is_refused(roots):
    root, outside = roots
    (root / "link.csv").symlink_to(outside / "secret.csv")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    policy = ServerPolicy.from_env()
    for path in (root / "link.csv", root / "linked_dir" / "secret.csv"):
        assert "not available" in refusal({"data": str(path)}, policy)


def test_by_default_only_shipped_data_and_uploads_are_admitted(tmp_path, monkeypatch):
    monkeypatch.delenv("LABSCOPE_DATA_ROOTS", raising=False)
    monkeypatch.setenv("LABSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    policy = ServerPolicy.from_env()
    shipped = SHIPPED_DATA / "two_spirals.csv"
    assert SPEC.validate({"data": str(shipped)}, policy=policy)["data"] == str(shipped.resolve())
    assert not policy.admits(tmp_path) and not policy.admits("/") and not policy.admits(Path.home())
    assert policy.admits(tmp_path / "cache" / "uploads" / "abc" / "x.csv")


def test_uploads_travel_by_content_id_and_resolve_in_the_uploads_folder(store, tmp_path, monkeypatch):
    monkeypatch.setenv("LABSCOPE_CACHE_DIR", str(store.root))
    stored = store.save_upload("my data.csv", b"x,label\n1,0\n")
    reference = upload_id(stored)
    assert reference.startswith("upload:") and reference.endswith("/my_data.csv")
    assert str(store.root) not in reference
    values = SPEC.validate({"data": reference}, policy=ServerPolicy.from_env())
    assert values["data"] == str(stored.resolve())
    assert SPEC.to_text(values)["data"] == reference  # the link carries the id, never the path
    assert SPEC.input_names(values) == {"data": "my_data.csv"}
    for bad in ("upload:../../etc/passwd", "upload:abc/../../x.csv", "upload:" + "0" * 32 + "/missing.csv",
                "upload:/etc/passwd.csv"):
        with pytest.raises(ParameterError, match="no such upload on this server"):
            SPEC.validate({"data": bad}, policy=ServerPolicy.from_env())


def test_model_directories_are_confined_and_usr_is_refused_at_once(roots):
    root, outside = roots
    policy = ServerPolicy.from_env()
    started = time.perf_counter()
    message = refusal({"model": "/usr"}, policy)
    assert "not available" in message and time.perf_counter() - started < 0.5
    started = time.perf_counter()  # the CLI: /usr is no model directory, said at once without reading it
    with pytest.raises(ParameterError, match="not a model directory"):
        SPEC.validate({"model": "/usr"})
    assert time.perf_counter() - started < 0.5
    (root / "model").mkdir()
    (root / "model" / "config.json").write_text('{"model_type": "gpt2"}')
    assert SPEC.validate({"model": str(root / "model")}, policy=policy)["model"] == str((root / "model").resolve())
    assert SPEC.validate({"model": "org/name"}, policy=policy)["model"] == "org/name"  # hub ids are not paths


def test_a_model_directory_is_identified_by_its_metadata_without_reading_the_weights(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}')
    weights = model / "model.safetensors"
    with weights.open("wb") as handle:  # 6 GB, sparse: hashing its bytes would take a minute
        handle.truncate(6 << 30)
    started = time.perf_counter()
    first = model_dir_digest(model)
    assert time.perf_counter() - started < 0.5
    (model / "config.json").write_text('{"model_type": "gpt2", "n_layer": 3}')
    second = model_dir_digest(model)
    os.utime(weights, ns=(1, 1))  # weights replaced in place: a new modification time
    third = model_dir_digest(model)
    assert len({first, second, third}) == 3
    assert SPEC.key_params(SPEC.validate({"model": str(model)}))["model"] == f"sha256:{third}"
    (model / "tokenizer.json").symlink_to("/dev/zero")  # never read: not a regular file
    (model / "gone.bin").symlink_to(tmp_path / "nowhere")
    (model / "tokenizer_config.json").symlink_to("/dev/zero")
    started = time.perf_counter()
    assert model_dir_digest(model) != third and ModelId("m", "a/b").code_reason(str(model)) is None
    assert time.perf_counter() - started < 0.5
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    for i in range(MAX_MODEL_DIR_ENTRIES + 1):
        (crowded / f"f{i}").touch()
    with pytest.raises(ParameterError, match="not a model directory"):
        model_dir_digest(crowded)


def custom_code_model(directory: Path, marker: Path) -> Path:
    """A model directory whose config names its own code; importing that code writes `marker`."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({
        "model_type": "marker", "auto_map": {"AutoConfig": "marker.MarkerConfig",
                                             "AutoModelForCausalLM": "marker.MarkerModel"}}))
    (directory / "marker.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('the model directory ran its code')\n"
        "from transformers import PretrainedConfig\n"
        "class MarkerConfig(PretrainedConfig):\n    model_type = 'marker'\n")
    return directory


def test_values_that_run_code_are_refused_unless_the_owner_allows_them(roots, tmp_path):
    root, _ = roots
    policy, allowing = ServerPolicy.from_env(), ServerPolicy(ServerPolicy.from_env().data_roots, True)
    model = custom_code_model(root / "custom", tmp_path / "marker")
    (root / "factory.py").write_text("def make(seed=0):\n    raise SystemExit\n")
    for values, fragment in (({"trust_remote_code": "true"}, "trust_remote_code"),
                             ({"factory": "json:dumps"}, "factory"),
                             ({"factory": f"{root / 'factory.py'}:make"}, "factory"),
                             ({"model": str(model)}, "names its own code (auto_map)")):
        message = refusal(values, policy)
        assert fragment in message and "LABSCOPE_ALLOW_CUSTOM_CODE=1" in message
        assert SPEC.validate(values, policy=allowing)  # the owner opted in
        assert SPEC.validate(values)  # the CLI and API: the user's own shell
    assert code_params(SPEC, SPEC.validate({"trust_remote_code": True, "model": str(model)})) == [
        "model", "trust_remote_code"]
    assert code_params(SPEC, SPEC.validate({})) == []
    assert not (tmp_path / "marker").exists()  # validating never ran the code
    # a factory file outside the roots is a path like any other, even when code is allowed
    assert "not available" in refusal({"factory": f"{tmp_path / 'elsewhere.py'}:make"}, allowing)


def test_callable_refs_by_file_path_are_keyed_by_the_file_content_not_its_path(tmp_path):
    first, second = tmp_path / "a" / "models.py", tmp_path / "b" / "models.py"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("def make(seed=0):\n    return seed\n")
    one, two = (SPEC.validate({"factory": f"{p}:make"}) for p in (first, second))
    assert one["factory"] == f"{first.resolve()}:make"
    assert SPEC.key_params(one)["factory"] == SPEC.key_params(two)["factory"]
    assert SPEC.key_params(one)["factory"].startswith("models.py:make@sha256:")
    assert str(tmp_path) not in json.dumps(SPEC.key_params(one))
    second.write_text("def make(seed=0):\n    return seed + 1\n")
    assert SPEC.key_params(SPEC.validate({"factory": f"{second}:make"}))["factory"] != SPEC.key_params(one)["factory"]
    with pytest.raises(ParameterError, match="no such Python file"):
        SPEC.validate({"factory": f"{tmp_path}/missing.py:make"})


def test_cli_and_api_keep_full_access_the_marker_model_runs_its_code(tmp_path, monkeypatch):
    """The positive control for the browser tests: the same directory and option do run code from the API."""
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    marker = tmp_path / "marker"
    model = custom_code_model(tmp_path / "custom", marker)
    with pytest.raises(Exception):  # the toy code is no real model: loading fails after importing it
        run("prompt_steering", preset="smoke", overrides={"model": str(model), "trust_remote_code": True})
    assert marker.read_text() == "the model directory ran its code"


def test_provenance_shows_digests_and_the_requesting_users_own_file_name(toy, store, tmp_path):
    alice, bob = tmp_path / "alice-home" / "private" / "mine.txt", tmp_path / "bob-home" / "ours.txt"
    for path in (alice, bob):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"same content")
    first = run(toy, "smoke", {"data": str(alice)}, store=store)
    second = run(toy, "smoke", {"data": str(bob)}, store=store)
    assert second.cache_hit and first.key == second.key
    for outcome, own, other in ((first, "mine.txt", "ours.txt"), (second, "ours.txt", "mine.txt")):
        record = json.dumps(outcome.provenance())
        assert str(tmp_path) not in record and other not in record and "private" not in record
        assert outcome.provenance()["inputs"]["data"] == {"name": own,
                                                         "sha256": outcome.provenance()["data_digests"]["data"]}
        assert outcome.provenance()["params"]["data"].startswith("sha256:")
        assert outcome.public_params()["data"] == own


def test_the_analyses_mark_their_code_running_parameters():
    assert get("prompt_steering").spec["trust_remote_code"].runs_code
    assert get("loss_landscape").spec["custom_model"].runs_code


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.7", False), ("192.168.1.20", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert cli.is_loopback(host) is loopback


def test_serve_passes_its_security_settings_as_flags():
    import streamlit.config as config

    command = cli.serve_command(Path("app.py"), 8501, "0.0.0.0")
    flags = dict(zip(command[command.index("app.py") + 1::2], command[command.index("app.py") + 2::2]))
    assert flags["--client.showErrorDetails"] == "none" and flags["--server.enableXsrfProtection"] == "true"
    assert flags["--server.enableCORS"] == "true"
    assert "none" in {v.value for v in config.ShowErrorDetailsConfigOptions}  # a value this Streamlit knows
    # the development aids that cost a served dashboard seconds are off (options this Streamlit knows)
    assert flags["--runner.postScriptGC"] == "false" and flags["--server.fileWatcherType"] == "none"
    assert {"runner.postScriptGC", "server.fileWatcherType"} <= set(config.get_config_options())


def test_cli_exits_1_with_the_message_for_bad_input_and_logs_internal_errors(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("LABSCOPE_LOG_DIR", str(tmp_path / "logs"))

    def bad_input(args):
        raise InputError("duration is inf", file="/srv/lab/alice/fixations.csv", row=3, column="duration")

    monkeypatch.setattr(cli, "cmd_list", bad_input)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert "fixations.csv, row 3, column 'duration': duration is inf" in err and "/srv" not in err

    def bug(args):
        return {}["missing key in /srv/lab/secret/path"]

    monkeypatch.setattr(cli, "cmd_list", bug)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert "internal error (KeyError" in err and "Traceback" not in err and "/srv" not in err
    log = (tmp_path / "logs" / "errors.log").read_text()
    assert str(tmp_path / "logs" / "errors.log") in err
    assert "Traceback" in log and "missing key in /srv/lab/secret/path" in log
    reference = err.split("reference ")[1].split(")")[0]
    assert f"internal error {reference}" in log


@pytest.mark.parametrize("host, argv, env_token, expect", [
    ("0.0.0.0", [], None, "printed"),          # off localhost: a fresh token, printed
    ("0.0.0.0", [], "owner-chosen", "env"),    # the owner's own token, never echoed
    ("localhost", [], None, "none"),           # localhost: no token, like TensorBoard
    ("0.0.0.0", ["--no-token"], "stale", "warned"),
])
def test_serve_requires_a_token_off_localhost(monkeypatch, capsys, host, argv, env_token, expect):
    executed = {}
    monkeypatch.setattr(os, "execv", lambda path, command: executed.update(command=command))
    monkeypatch.setenv("LABSCOPE_TOKEN", env_token or "")  # recorded, so whatever serve sets is undone
    if not env_token:
        monkeypatch.delenv("LABSCOPE_TOKEN")
    cli.main(["serve", "--host", host, "--port", "8599", *argv])
    err = capsys.readouterr().err
    token = os.environ.get("LABSCOPE_TOKEN")  # what the server process inherits
    assert executed["command"][executed["command"].index("--server.address") + 1] == host
    if expect == "printed":
        assert len(token) >= 32 and f"?token={token}" in err
    elif expect == "env":
        assert token == "owner-chosen" and "owner-chosen" not in err and "LABSCOPE_TOKEN" in err
    elif expect == "none":
        assert token is None and "token" not in err
    else:
        assert token is None and "WARNING" in err and "without a token" in err


def test_any_path_text_is_either_inside_the_roots_or_refused_with_the_one_message(roots):
    """Hypothesis: whatever a link puts in a path parameter (dots, slashes, ~, NUL, names of files inside and
    outside the roots), validation either admits a file inside the roots or gives the one refusal message."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    root, outside = roots
    policy = ServerPolicy.from_env()
    one_message = refusal({"data": str(outside / "secret.csv")}, policy)
    pieces = st.sampled_from(["..", ".", "~", "~nosuchuser", "", "root", "outside", "table.csv", "secret.csv",
                              "link.csv", "\x00", "a\x00.csv", str(root), str(outside), "etc", "passwd"])
    (root / "link.csv").symlink_to(outside / "secret.csv")

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(pieces, min_size=1, max_size=6), st.booleans())
    def check(parts, absolute):
        text = ("/" if absolute else "") + "/".join(parts)
        try:
            values = SPEC.validate({"data": text}, policy=policy)
        except ParameterError as exc:
            message = str(exc)
            assert message == one_message or "no such file" in message or "unsupported file type" in message
            if message != one_message:  # a message about the file only for paths inside the roots
                assert policy.admits(text)
            assert "SECRET" not in message
            return
        assert values["data"] is None or Path(values["data"]).is_relative_to(root.resolve())

    check()


def test_any_model_or_factory_text_ends_in_a_value_or_a_parameter_error(roots):
    """Hypothesis: no text in a model id or a factory reference escapes validation as another exception,
    and nothing outside the roots is admitted as a directory or file."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    root, outside = roots
    policy = ServerPolicy.from_env()
    (root / "model").mkdir()
    (root / "model" / "config.json").write_text("{}")

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(
        ["..", "~", "~nosuchuser", str(root), str(outside), "model", "x.py", "x.py:f", ":f", "\x00", "org", "name"]),
        min_size=1, max_size=5).map("/".join)), st.sampled_from(["model", "factory"]))
    def check(text, name):
        try:
            value = SPEC.validate({name: text}, policy=ServerPolicy(policy.data_roots, True))[name]
        except ParameterError:
            return
        if name == "model" and Path(value).is_absolute():
            assert Path(value).is_relative_to(root.resolve())
        if name == "factory" and value and ".py:" in value:
            assert Path(value.rsplit(":", 1)[0]).is_relative_to(root.resolve())

    check()
