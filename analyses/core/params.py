"""Typed parameter specs: one place that validates, coerces and documents every knob.

The same spec drives the page's widgets, the CLI's `--set key=value` parsing, the URL
query string and the cache key, so a value means the same thing wherever it came from.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import digests


class ParameterError(ValueError):
    """A parameter value was rejected; the message names the parameter and what is allowed."""


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


@dataclass(frozen=True)
class Param:
    """One knob. `display=True` marks a plotting option: figures read it, the computation never
    sees it and it stays out of the cache key, so changing it redraws without recomputing.

    `section` groups knobs in the page's form (data, model, training, ...). `visible_if` says when the
    knob applies: a mapping {other parameter: value or tuple of values} that must all hold, or a function
    of the current values; a knob that does not apply is hidden in the form but keeps its value.
    """

    name: str
    default: Any
    help: str = ""
    label: str = ""
    unit: str = ""
    display: bool = False
    section: str = ""
    visible_if: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool] | None = field(default=None, compare=False)

    def visible(self, values: Mapping[str, Any]) -> bool:
        """Whether this knob applies under `values` (unknown names in a condition never hold)."""
        condition = self.visible_if
        if condition is None:
            return True
        if callable(condition):
            return bool(condition(values))
        for name, wanted in condition.items():
            allowed = wanted if isinstance(wanted, (tuple, list, set, frozenset)) else (wanted,)
            if name not in values or values[name] not in allowed:
                return False
        return True
    # True when a set value makes the server run code that labscope does not ship (a model's own
    # Python, a user's factory): the dashboard refuses such values unless its owner opted in.
    runs_code: bool = False

    @property
    def title(self) -> str:
        text = self.label or self.name.replace("_", " ").capitalize()
        return f"{text} ({self.unit})" if self.unit else text

    def coerce(self, value: Any) -> Any:  # pragma: no cover - every subclass overrides
        raise TypeError(type(self).__name__)

    def allowed(self) -> str:
        return ""

    def fail(self, value: Any, why: str = "") -> ParameterError:
        allowed = self.allowed()
        return ParameterError(
            f"parameter '{self.name}': {why or 'invalid value'} {_show(value)}"
            + (f"; allowed: {allowed}" if allowed else "")
        )

    def to_text(self, value: Any) -> str:
        """How the value travels in a URL query string or on the command line."""
        return str(value)

    def code_reason(self, value: Any) -> str | None:
        """Why this (coerced) value would make the server run code not shipped with labscope, else None."""
        return "it runs code on the server" if self.runs_code and value else None

    def server_path(self, value: Any) -> Path | None:
        """The path on the server a raw value names, for parameters that read files; else None."""
        return None

    def public(self, value: Any) -> Any:
        """The value as provenance and other users may see it: a file's own name, never a server path."""
        return value


@dataclass(frozen=True)
class _Number(Param):
    min: float = -math.inf
    max: float = math.inf
    step: float | None = None
    log: bool = False

    def allowed(self) -> str:
        scale = ", log scale" if self.log else ""
        return f"{self.kind} in [{self.min:g}, {self.max:g}]{scale}"

    def _check_range(self, number: float, raw: Any) -> None:
        if not math.isfinite(number):
            raise self.fail(raw, "not a finite number")
        if number < self.min or number > self.max:
            raise self.fail(number, "out of range")


@dataclass(frozen=True)
class Int(_Number):
    kind = "integer"

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.fail(value, "expected an integer, got")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(value, "expected an integer, got") from None
        if not number.is_integer():
            raise self.fail(value, "expected an integer, got")
        self._check_range(number, value)
        return int(number)


@dataclass(frozen=True)
class Float(_Number):
    kind = "number"

    def coerce(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self.fail(value, "expected a number, got")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(value, "expected a number, got") from None
        self._check_range(number, value)
        return number

    def to_text(self, value: Any) -> str:
        return repr(float(value))


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def coerce(self, value: Any) -> str:
        text = str(value)
        if text not in self.choices:
            raise self.fail(value, "unknown choice")
        return text


@dataclass(frozen=True)
class Bool(Param):
    _TRUE = ("1", "true", "yes", "on")
    _FALSE = ("0", "false", "no", "off")

    def allowed(self) -> str:
        return "true or false"

    def coerce(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self._TRUE:
            return True
        if text in self._FALSE:
            return False
        raise self.fail(value, "expected true/false, got")

    def to_text(self, value: Any) -> str:
        return "true" if value else "false"


UPLOAD_PREFIX = "upload:"


def local_path(text: str) -> Path:
    """`text` as a path with `~` expanded where that works (`~nobody/x` and NUL bytes stay as written:
    they then name no file, instead of raising)."""
    try:
        return Path(text).expanduser()
    except (RuntimeError, ValueError, KeyError):
        return Path(text)


def uploads_root() -> Path:
    """Where the dashboard stores uploads by content: `uploads/` in the result cache."""
    from .cache import default_root  # the cache module imports this one

    return default_root() / "uploads"


def upload_id(path: str | Path) -> str | None:
    """`upload:<content id>/<name>` for a stored upload, None for any other path.

    Links and provenance carry this id instead of the server path; it resolves against this
    server's uploads folder, so a link to a view built on an upload keeps working.
    """
    root = uploads_root().resolve()
    try:
        relative = Path(path).resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    return UPLOAD_PREFIX + relative.as_posix() if len(relative.parts) == 2 else None


def _upload_path(text: str) -> Path | None:
    """The stored file an upload id names, or None when it names nothing stored here."""
    relative = text[len(UPLOAD_PREFIX):]
    parts = relative.split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[\w.-]+", part) and part not in (".", "..") for part in parts):
        return None
    root = uploads_root().resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


@dataclass(frozen=True)
class Text(Param):
    """A short line of text (a comma-separated list of names, say): stripped, printable, bounded.

    Meaning is the analysis' business; this only keeps control characters and unbounded input out.
    """

    default: Any = ""
    max_length: int = 1000

    def allowed(self) -> str:
        return f"text of at most {self.max_length} printable characters"

    def coerce(self, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if len(text) > self.max_length:
            raise self.fail(text[:40] + "...", "too long:")
        if any(not ch.isprintable() for ch in text):
            raise self.fail(text[:40], "control characters in")
        return text


@dataclass(frozen=True)
class InputFile(Param):
    """A file the analysis reads: an upload in the page, a path on the CLI.

    Its *content* digest, not its path, enters the cache key: renaming a file keeps its
    results, editing it invalidates them. An upload travels as `upload:<content id>/<name>`
    (links, the form); the coerced value is the file's path, which only the computation sees.
    """

    suffixes: tuple[str, ...] = ()
    default: Any = None

    def allowed(self) -> str:
        kinds = ", ".join(self.suffixes) if self.suffixes else "any file"
        return f"path to an existing file ({kinds}), an upload, or empty"

    def server_path(self, value: Any) -> Path | None:
        if value in (None, "") or str(value).startswith(UPLOAD_PREFIX):
            return None
        return local_path(str(value))

    def coerce(self, value: Any) -> str | None:
        if value in (None, ""):
            return None
        text = str(value)
        if text.startswith(UPLOAD_PREFIX):
            path = _upload_path(text)
            if path is None:
                raise ParameterError(f"parameter '{self.name}': no such upload on this server (uploads are removed "
                                     "by `labscope cache clear`); upload the file again")
        else:
            path = local_path(text)
            if not path.is_file():
                raise self.fail(text, "no such file")
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            raise self.fail(path.name, "unsupported file type")
        return str(path.resolve())

    def to_text(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        return upload_id(value) or str(value)

    def public(self, value: Any) -> Any:
        return None if value in (None, "") else Path(str(value)).name


MAX_MODEL_JSON_BYTES = 1 << 20  # config files read whole (content hashed, auto_map looked for); bigger ones by metadata
MAX_MODEL_DIR_ENTRIES = 4096


def _read_small(path: str | Path) -> bytes | None:
    """A regular file's bytes if it holds at most MAX_MODEL_JSON_BYTES (never a device or a pipe), else None."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MODEL_JSON_BYTES:
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_MODEL_JSON_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_MODEL_JSON_BYTES else None


def _small_json(path: Path) -> dict | None:
    """A small JSON object file's content, or None (missing, too big, not a JSON object)."""
    raw = _read_small(path)
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class ModelId(Param):
    """A Hugging Face model id or a local model directory (one with a config.json).

    A local directory enters the cache key by its config and weight files' metadata (see
    `model_dir_digest`), so retraining a model in place invalidates what was computed with it;
    a hub id is keyed by its name.
    """

    def allowed(self) -> str:
        return "a Hugging Face model id (org/name) or a path to a local model directory"

    @staticmethod
    def _local(text: str) -> Path | None:
        path = local_path(text)
        return path if text.startswith((".", "/", "~")) or path.exists() else None

    def server_path(self, value: Any) -> Path | None:
        text = "" if value is None else str(value).strip()
        return self._local(text) if text else None

    def coerce(self, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if not text:
            raise self.fail(value, "empty model id")
        path = self._local(text)
        if path is not None:
            if not path.is_dir():
                raise self.fail(value, "no such model directory")
            if not (path / "config.json").is_file():
                raise self.fail(value, "not a model directory (no config.json in it):")
            return str(path.resolve())
        parts = text.split("/")
        if len(parts) > 2 or not all(p and p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts):
            raise self.fail(value, "malformed model id")
        return text

    def code_reason(self, value: Any) -> str | None:
        """A local model whose config or tokenizer config names its own code (`auto_map`)."""
        if not value or not Path(value).is_dir():
            return None
        for name in ("config.json", "tokenizer_config.json"):
            config = _small_json(Path(value) / name)
            if config is not None and config.get("auto_map"):
                return f"the model directory's {name} names its own code (auto_map)"
        return None

    def public(self, value: Any) -> Any:
        return Path(value).name if value and Path(value).is_absolute() else value


@dataclass(frozen=True)
class CallableRef(Param):
    """Code on the server: `package.module:function` on its Python path, or `path/to/file.py:function`.

    The digest of the function's source file enters the cache key, so editing the function
    invalidates its results. Resolving it runs code: the dashboard accepts it only when the
    server was started with LABSCOPE_ALLOW_CUSTOM_CODE=1; the CLI and API always do.
    """

    default: Any = ""
    runs_code: bool = True
    PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
    FILE_PATTERN = r"^(?P<file>.+\.py):(?P<function>[A-Za-z_]\w*)$"

    def allowed(self) -> str:
        return "empty, package.module:function importable on the server, or path/to/file.py:function"

    def _file(self, text: str) -> tuple[Path, str] | None:
        match = re.match(self.FILE_PATTERN, text)
        return (local_path(match["file"]), match["function"]) if match else None

    def server_path(self, value: Any) -> Path | None:
        found = self._file("" if value is None else str(value).strip())
        return found[0] if found else None

    def coerce(self, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if not text:
            return ""
        found = self._file(text)
        if found is not None:
            path, function = found
            if not path.is_file():
                raise self.fail(value, "no such Python file:")
            return f"{path.resolve()}:{function}"
        if not re.match(self.PATTERN, text):
            raise self.fail(value, "malformed reference")
        return text

    def source_file(self, value: str) -> Path:
        found = self._file(value)
        if found is not None:
            return found[0]
        import importlib.util

        module = value.split(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise self.fail(value, "module not found on the server's Python path:")
        return Path(spec.origin)

    def public(self, value: Any) -> Any:
        found = self._file(value or "")
        return f"{found[0].name}:{found[1]}" if found else value


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    return digests.file_digest(path, chunk)  # memoised by the file's identity: a rerun rehashes nothing


def model_dir_digest(path: str | Path) -> str:
    """Identity of a model directory without reading its weights: every top-level entry's name, size
    and modification time, plus the content of its small JSON files (config, weight index, tokenizer
    config). Retraining or replacing weights changes sizes or times; the bounds keep a directory that
    is no model (or a huge one) from being walked."""
    root = Path(path)
    entries = []
    for i, item in enumerate(os.scandir(root)):
        if i >= MAX_MODEL_DIR_ENTRIES:
            raise ParameterError(f"model directory {root.name!r}: more than {MAX_MODEL_DIR_ENTRIES} entries; "
                                 "not a model directory")
        entries.append(item)
    h = hashlib.sha256()
    for item in sorted(entries, key=lambda e: e.name):
        try:
            info = item.stat()  # follows links: a Hugging Face snapshot's files are links to its blobs
        except OSError:
            h.update(f"?\0{item.name}\n".encode())  # a broken link
            continue
        kind = "f" if stat.S_ISREG(info.st_mode) else "d" if stat.S_ISDIR(info.st_mode) else "o"
        h.update(f"{kind}\0{item.name}\0{info.st_size if kind == 'f' else 0}\0{info.st_mtime_ns}\n".encode())
        if kind == "f" and item.name.endswith(".json"):
            h.update(_read_small(item.path) or b"")
    return h.hexdigest()


@dataclass(frozen=True)
class ParamSpec:
    """An ordered set of parameters plus cross-parameter checks.

    `checks` are functions of the coerced values that return an error message (or None),
    for constraints a single range cannot state (e.g. a CNN needs image data).
    """

    params: tuple[Param, ...]
    checks: tuple[Callable[[Mapping[str, Any]], str | None], ...] = field(default=())
    collapsed: tuple[str, ...] = ()  # form sections rarely changed: drawn closed


    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in spec: {names}")
        for p in self.params:
            if p.default is not None:
                p.coerce(p.default)  # a spec whose defaults are invalid is a programming error

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(f"unknown parameter '{name}'; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def sections(self) -> list[tuple[str, list[Param]]]:
        """Form sections in the order their first parameter appears; knobs without one go to "Parameters"."""
        grouped: dict[str, list[Param]] = {}
        for p in self.params:
            grouped.setdefault(p.section or "Parameters", []).append(p)
        return list(grouped.items())

    def visible(self, values: Mapping[str, Any]) -> list[str]:
        """Names of the knobs that apply under `values`."""
        return [p.name for p in self.params if p.visible(values)]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, values: Mapping[str, Any] | None = None, policy: Any = None) -> dict[str, Any]:
        """Defaults overlaid with `values`, each coerced; unknown names are errors.

        `policy` (a `policy.ServerPolicy`, the dashboard's) screens server paths before any is
        looked at and refuses values that run code; without one (CLI, API) everything is allowed.
        """
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.names)}"
            )
        merged = {p.name: values.get(p.name, p.default) for p in self.params}
        if policy is not None:
            policy.screen_paths(self, merged)
        out = {p.name: p.coerce(merged[p.name]) for p in self.params}
        if policy is not None:
            policy.check_code(self, out)
        for check in self.checks:
            message = check(out)
            if message:
                raise ParameterError(message)
        return out

    def validate_some(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce only the given parameters (a filter over runs, not a complete set)."""
        return {name: self[name].coerce(value) for name, value in values.items()}

    def from_text(self, pairs: Sequence[str]) -> dict[str, str]:
        """Parse CLI `key=value` pairs (validation happens in `validate`)."""
        out: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ParameterError(f"expected key=value, got {pair!r}")
            self[key.strip()]  # raises with the list of known names
            out[key.strip()] = value.strip()
        return out

    def to_text(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {p.name: p.to_text(values[p.name]) for p in self.params if p.name in values}

    def input_digests(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Content digests of every file and local model the values point at."""
        digests: dict[str, str] = {}
        for p in self.params:
            value = values.get(p.name)
            if isinstance(p, InputFile) and value:
                digests[p.name] = file_digest(value)
            elif isinstance(p, ModelId) and value and Path(value).is_dir():
                digests[p.name] = model_dir_digest(value)
            elif isinstance(p, CallableRef) and value:
                digests[p.name] = file_digest(p.source_file(value))
        return digests

    def compute_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values a computation sees: everything but display options."""
        display = {p.name for p in self.params if p.display}
        return {name: value for name, value in values.items() if name not in display}

    def key_params(self, values: Mapping[str, Any], digests: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Parameters as they enter the cache key (and the provenance): display options dropped, inputs
        replaced by their digests, so no server path is recorded and renaming a file keeps its results."""
        digests = self.input_digests(values) if digests is None else digests
        refs = {p.name: p for p in self.params if isinstance(p, CallableRef)}
        return {name: (f"{refs[name].public(value) + '@' if name in refs else ''}sha256:{digests[name]}"
                       if name in digests else value)
                for name, value in self.compute_params(values).items()}

    def input_names(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The requesting user's own names of the files, directories and code their values point at."""
        return {p.name: p.public(values[p.name]) for p in self.params
                if isinstance(p, (InputFile, CallableRef)) and values.get(p.name)
                or isinstance(p, ModelId) and values.get(p.name) and Path(values[p.name]).is_absolute()}

    def display_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: values[p.name] for p in self.params if p.display and p.name in values}


def canonical_json(values: Mapping[str, Any]) -> str:
    """Key-sorted, compact JSON; floats print with repr so 0.1 and 0.10 agree."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
