"""Read a pickle without letting it run code: only plain containers, numbers, strings and numpy arrays.

A pickle names functions that the reader calls while rebuilding objects (that is how `os.system`
ends up running). `find_class` is the only door to those names, so admitting an explicit short list
and refusing the rest keeps an uploaded pickle to data.
"""

from __future__ import annotations

import io
import pickle

from analyses.core.errors import InputError

ALLOWED = {
    ("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str",
                                    "bytes", "bytearray", "bool")
} | {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol 2 writes bytes as a latin-1 string to encode
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}
# numpy's dtype classes (numpy.dtypes.Float64DType, ...) are plain descriptions of a number type.
ALLOWED_MODULE_PREFIXES = ("numpy.dtypes",)


class ForbiddenPickle(InputError):
    """The pickle asks for something other than plain data."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED or (module in ALLOWED_MODULE_PREFIXES and name.endswith("DType")):
            return super().find_class(module, name)
        raise ForbiddenPickle(f"the pickle asks for {module}.{name}, which is not plain data (only containers, "
                              "numbers, strings and numpy arrays are allowed); it was not loaded")


def loads(data: bytes):
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except ForbiddenPickle:
        raise
    except Exception as exc:  # truncated or not a pickle at all
        raise ValueError(f"not a readable pickle: {type(exc).__name__}: {exc}") from None
