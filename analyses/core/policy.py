"""What a browser user may ask of this server: the dashboard's policy, applied when it validates.

The CLI and the Python API run in the user's own shell with the user's own rights and apply no
policy. The dashboard serves colleagues' browsers, so it validates every form and link under
`ServerPolicy.from_env()`:

- "path on the server" inputs must lie inside the owner's data roots (LABSCOPE_DATA_ROOTS,
  `:`-separated), the shipped data/ folder or the uploads folder, after `..` and symlinks are
  resolved. A refused path gets one message that says nothing about the file.
- values that make the server run code (`Param.runs_code`, a model directory naming its own code)
  are refused unless the owner started the server with LABSCOPE_ALLOW_CUSTOM_CODE=1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .params import ParameterError, ParamSpec, uploads_root

DATA_ROOTS_ENV = "LABSCOPE_DATA_ROOTS"
CUSTOM_CODE_ENV = "LABSCOPE_ALLOW_CUSTOM_CODE"
SHIPPED_DATA = Path(__file__).resolve().parents[2] / "data"


def refused_path(name: str) -> ParameterError:
    """The one message for a path outside the data roots: the same whether or not it exists."""
    return ParameterError(f"parameter '{name}': that path is not available from the dashboard; upload the file "
                          f"instead, or ask the server's owner to list its folder in {DATA_ROOTS_ENV}")


def code_refused(reasons: Mapping[str, str]) -> ParameterError:
    """One message naming every parameter whose value would run code, and why."""
    said = "; ".join(f"parameter '{name}': {reason}" for name, reason in reasons.items())
    return ParameterError(f"{said}. Running code from the dashboard is off on this server; its owner can start "
                          f"it with {CUSTOM_CODE_ENV}=1 to allow it, or use the labscope command")


@dataclass(frozen=True)
class ServerPolicy:
    data_roots: tuple[Path, ...]
    allow_custom_code: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServerPolicy":
        environ = os.environ if environ is None else environ
        listed = [Path(p).expanduser() for p in environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
        roots = [root.resolve() for root in (*listed, SHIPPED_DATA, uploads_root())]
        return cls(tuple(roots), environ.get(CUSTOM_CODE_ENV, "") == "1")

    def admits(self, path: str | Path) -> bool:
        """Whether the path, with `..` and symlinks resolved, lies inside a data root."""
        try:
            resolved = Path(path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError, KeyError):  # a symlink loop, a NUL byte, no such user's home
            return False
        return any(resolved.is_relative_to(root) for root in self.data_roots)

    def screen_paths(self, spec: ParamSpec, raw: Mapping[str, Any]) -> None:
        """Refuse raw values naming server paths outside the roots, before anything looks at the path."""
        for p in spec:
            path = p.server_path(raw.get(p.name))
            if path is not None and not self.admits(path):
                raise refused_path(p.name)

    def check_code(self, spec: ParamSpec, values: Mapping[str, Any]) -> None:
        if self.allow_custom_code:
            return
        reasons = {p.name: p.code_reason(values.get(p.name)) for p in spec}
        reasons = {name: reason for name, reason in reasons.items() if reason}
        if reasons:
            raise code_refused(reasons)


def code_params(spec: ParamSpec, values: Mapping[str, Any]) -> list[str]:
    """Names of the parameters whose values would run code: a link never sets these off by itself."""
    return [p.name for p in spec if p.code_reason(values.get(p.name))]
