"""The shared backend: analysis contract, parameter specs, result cache and runner.

Importing this package is cheap (no torch, Plotly or Streamlit), so the CLI answers
cache hits quickly; heavy libraries load inside the functions that need them.
"""

from .analysis import Analysis, Cancelled, Context, Result, lazy
from .cache import CacheStore, CorruptEntry
from .errors import InputError
from .params import Bool, CallableRef, Choice, Float, InputFile, Int, ModelId, ParameterError, ParamSpec, Text
from .registry import all_analyses, get
from .runner import Outcome, run

__all__ = [
    "Analysis", "Bool", "CacheStore", "CallableRef", "Cancelled", "Choice", "Context", "CorruptEntry", "Float", "InputError", "InputFile",
    "Int", "ModelId", "Outcome", "ParamSpec", "ParameterError", "Result", "Text", "all_analyses", "get", "lazy", "run",
]
