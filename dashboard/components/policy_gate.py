"""What browser users may ask of this server: the owner's policy (confined server paths, no code run from
a form or link unless LABSCOPE_ALLOW_CUSTOM_CODE=1), applied to every value a form or link submits."""

from __future__ import annotations

from typing import Any

from analyses.core import Analysis
from analyses.core.policy import ServerPolicy, code_params


def server_policy() -> ServerPolicy:
    """What browser users may ask of this server (its owner's environment): confined server paths,
    and no code run from a form or link unless LABSCOPE_ALLOW_CUSTOM_CODE=1."""
    return ServerPolicy.from_env()


def custom_code_allowed() -> bool:
    """Whether browser users may make this server run code (its owner's choice)."""
    return server_policy().allow_custom_code


def validated(analysis: Analysis, preset: str | None, raw: dict[str, Any]) -> dict[str, Any]:
    """A form's or link's values validated under the server's policy (paths confined, code gated)."""
    return analysis.params(preset, raw, policy=server_policy())


def runs_code(analysis: Analysis, values: dict[str, Any]) -> list[str]:
    """The parameters whose values would run code: a link shows them but never runs them by itself."""
    return code_params(analysis.spec, values)
