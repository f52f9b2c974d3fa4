"""Typed parameter specs: one place that validates, coerces and documents every knob.

The same spec drives the page's widgets, the CLI's `--set key=value` parsing, the URL
query string and the cache key, so a value means the same thing wherever it came from.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


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


@dataclass(frozen=True)
class InputFile(Param):
    """A file the analysis reads: an upload in the page, a path on the CLI.

    Its *content* digest, not its path, enters the cache key: renaming a file keeps its
    results, editing it invalidates them.
    """

    suffixes: tuple[str, ...] = ()
    default: Any = None

    def allowed(self) -> str:
        kinds = ", ".join(self.suffixes) if self.suffixes else "any file"
        return f"path to an existing file ({kinds}), or empty"

    def coerce(self, value: Any) -> str | None:
        if value in (None, ""):
            return None
        path = Path(str(value)).expanduser()
        if not path.is_file():
            raise self.fail(str(value), "no such file")
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            raise self.fail(str(value), "unsupported file type")
        return str(path.resolve())

    def to_text(self, value: Any) -> str:
        return "" if value is None else str(value)


@dataclass(frozen=True)
class ModelId(Param):
    """A Hugging Face model id or a local directory.

    A local directory's content digest enters the cache key, so retraining a model in
    place invalidates what was computed with it; a hub id is keyed by its name.
    """

    def allowed(self) -> str:
        return "a Hugging Face model id (org/name) or a path to a local model directory"

    def coerce(self, value: Any) -> str:
        text = str(value).strip()
        if not text:
            raise self.fail(value, "empty model id")
        looks_local = text.startswith((".", "/", "~")) or Path(text).expanduser().exists()
        if looks_local:
            path = Path(text).expanduser()
            if not path.is_dir():
                raise self.fail(value, "no such model directory")
            return str(path.resolve())
        parts = text.split("/")
        if len(parts) > 2 or not all(p and p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts):
            raise self.fail(value, "malformed model id")
        return text


@dataclass(frozen=True)
class CallableRef(Param):
    """`package.module:function` naming code on the server's Python path (a user's own model, say).

    The digest of the module's source file enters the cache key, so editing the function
    invalidates its results. Resolving it imports code: the dashboard accepts it only when
    the server was started with LABSCOPE_ALLOW_CUSTOM_CODE=1; the CLI and API always do.
    """

    default: Any = ""
    PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"

    def allowed(self) -> str:
        return "empty, or package.module:function importable on the server"

    def coerce(self, value: Any) -> str:
        import re

        text = "" if value is None else str(value).strip()
        if text and not re.match(self.PATTERN, text):
            raise self.fail(value, "malformed reference")
        return text

    def source_file(self, value: str) -> Path:
        import importlib.util

        module = value.split(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise self.fail(value, "module not found on the server's Python path:")
        return Path(spec.origin)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


def directory_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    root = Path(path)
    for item in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(item.relative_to(root)).encode())
        h.update(file_digest(item).encode())
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

    def validate(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with `values`, each coerced; unknown names are errors."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.names)}"
            )
        out = {p.name: p.coerce(values.get(p.name, p.default)) for p in self.params}
        for check in self.checks:
            message = check(out)
            if message:
                raise ParameterError(message)
        return out

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
                digests[p.name] = directory_digest(value)
            elif isinstance(p, CallableRef) and value:
                digests[p.name] = file_digest(p.source_file(value))
        return digests

    def compute_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values a computation sees: everything but display options."""
        display = {p.name for p in self.params if p.display}
        return {name: value for name, value in values.items() if name not in display}

    def key_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters as they enter the cache key: display options dropped, input paths replaced by digests."""
        digests = self.input_digests(values)
        refs = {p.name for p in self.params if isinstance(p, CallableRef)}
        return {name: (f"{value + '@' if name in refs else ''}sha256:{digests[name]}" if name in digests else value)
                for name, value in self.compute_params(values).items()}

    def display_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: values[p.name] for p in self.params if p.display and p.name in values}


def canonical_json(values: Mapping[str, Any]) -> str:
    """Key-sorted, compact JSON; floats print with repr so 0.1 and 0.10 agree."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
