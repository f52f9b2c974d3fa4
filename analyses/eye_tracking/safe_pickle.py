"""Read a pickle without letting it run code or allocate what the file does not hold.

A pickle names functions that the reader calls while rebuilding objects (that is how `os.system`
ends up running). `find_class` is the only door to those names, so it admits a short list, and even
those are not handed out as they are: each is a checked stand-in. `numpy.ndarray` itself is never
callable (`ndarray(shape, dtype)` would allocate uninitialised memory of any size); an array comes back
only through numpy's own reconstruct-and-fill path (`_reconstruct` + `__setstate__`, or `_frombuffer`),
and only when its bytes are in the file. `bytes(n)`/`bytearray(n)` with a number are refused, and
all arrays and byte strings made together may not exceed a small multiple of the file's size.
"""

from __future__ import annotations

import io
import math
import pickle

import numpy as np

from analyses.core.errors import InputError

BUDGET_FACTOR = 4            # arrays and byte strings built: at most this many times the file's size ...
BUDGET_FLOOR = 1 << 20       # ... or 1 MiB for a small file
MAX_DTYPE_TEXT = 64


class ForbiddenPickle(InputError):
    """The pickle asks for something other than plain data."""


class _NdarrayType:
    """What `numpy.ndarray` resolves to: a marker `_reconstruct` accepts, not a constructor."""

    def __call__(self, *args, **kwargs):
        raise ForbiddenPickle("the pickle calls numpy.ndarray(...) directly, which would allocate an array whose "
                              "contents are not in the file; it was not loaded")


NDARRAY = _NdarrayType()


class _Budget:
    def __init__(self, file_size: int):
        self.left = max(BUDGET_FLOOR, BUDGET_FACTOR * file_size)

    def spend(self, n: int, what: str) -> None:
        self.left -= n
        if self.left < 0:
            raise ForbiddenPickle(f"the pickle builds more data ({what}) than its file holds; it was not loaded")


def _count(shape) -> int:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n
                                               for n in shape) or len(shape) > 32:
        raise ForbiddenPickle(f"an array shape {shape!r:.60} is not a tuple of sizes; it was not loaded")
    return math.prod(shape)


def _check_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise ForbiddenPickle("an array's dtype is not a numpy dtype; it was not loaded")
    return dtype


class _GuardedArray(np.ndarray):
    """The array `_reconstruct` makes: its `__setstate__` (pickle's BUILD) accepts only the file's own bytes."""

    budget: _Budget | None = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ForbiddenPickle("an array's state is not numpy's (version, shape, dtype, order, data); not loaded")
        shape, dtype, data = state[-4], _check_dtype(state[-3]), state[-1]
        n = _count(shape)
        if dtype.hasobject:
            if not isinstance(data, list) or len(data) != n:
                raise ForbiddenPickle("an object array's items do not match its shape; it was not loaded")
            self.budget.spend(8 * n, "an object array")
        else:
            if not isinstance(data, (bytes, bytearray)) or len(data) != n * dtype.itemsize:
                raise ForbiddenPickle(f"an array of shape {shape} and dtype {dtype} without its "
                                      f"{n * dtype.itemsize:,} bytes in the file; it was not loaded")
            self.budget.spend(len(data), "an array")
        super().__setstate__(state)


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.budget = _Budget(len(data))
        guarded = type("_GuardedArray", (_GuardedArray,), {"budget": self.budget})
        budget = self.budget

        def reconstruct(subtype, shape, dtype_code):
            if subtype is not NDARRAY or shape != (0,) or dtype_code not in (b"b", "b"):
                raise ForbiddenPickle("the pickle calls numpy's _reconstruct other than numpy itself does; "
                                      "it was not loaded")
            return np.ndarray.__new__(guarded, (0,), np.uint8)

        def frombuffer(buf, dtype, shape, order, axis_order=None):
            dtype = _check_dtype(dtype)
            if isinstance(buf, pickle.PickleBuffer):
                buf = bytes(buf.raw())
            if not isinstance(buf, (bytes, bytearray)) or dtype.hasobject \
                    or len(buf) != _count(tuple(shape)) * dtype.itemsize or order not in ("C", "F", "K", "A"):
                raise ForbiddenPickle("an array without its bytes in the file; it was not loaded")
            budget.spend(len(buf), "an array")
            array = np.frombuffer(buf, dtype=dtype)
            if order == "K" and axis_order is not None:
                return array.reshape(tuple(shape), order="C").transpose(axis_order)
            return array.reshape(tuple(shape), order=order)

        def scalar(dtype, data=None):
            dtype = _check_dtype(dtype)
            if dtype.hasobject:
                return data
            if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
                raise ForbiddenPickle("a numpy scalar without its bytes in the file; it was not loaded")
            return np.frombuffer(bytes(data), dtype=dtype)[0]

        def dtype(spec, align=False, copy=False):
            if not isinstance(spec, str) or len(spec) > MAX_DTYPE_TEXT:
                raise ForbiddenPickle("a numpy dtype from something other than its short name; it was not loaded")
            try:
                return np.dtype(spec, align=bool(align), copy=bool(copy))
            except (TypeError, ValueError):
                raise ForbiddenPickle(f"{spec!r:.40} is not a numpy dtype; it was not loaded") from None

        def encode(text, encoding="utf-8", errors="strict"):  # protocol 2 writes bytes as latin-1 text
            if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
                raise ForbiddenPickle("the pickle asks _codecs.encode for something other than latin-1 bytes; "
                                      "it was not loaded")
            budget.spend(len(text), "bytes")
            return text.encode("latin-1")

        def byte_string(kind):
            def make(source=b"", *args):
                if isinstance(source, int) or not isinstance(source, (bytes, bytearray, str, list, tuple)):
                    raise ForbiddenPickle(f"{kind.__name__}(...) of a size, not of data; it was not loaded")
                budget.spend(len(source), kind.__name__)
                return kind(source, *args)
            return make

        plain = {name: getattr(__import__("builtins"), name)
                 for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bool")}
        self.allowed = {("builtins", name): value for name, value in plain.items()}
        self.allowed.update({
            ("builtins", "bytes"): byte_string(bytes), ("builtins", "bytearray"): byte_string(bytearray),
            ("collections", "OrderedDict"): __import__("collections").OrderedDict,
            ("_codecs", "encode"): encode,
            ("numpy", "ndarray"): NDARRAY, ("numpy", "dtype"): dtype,
        })
        for module in ("numpy.core", "numpy._core"):
            self.allowed[(f"{module}.multiarray", "_reconstruct")] = reconstruct
            self.allowed[(f"{module}.multiarray", "scalar")] = scalar
            self.allowed[(f"{module}.numeric", "_frombuffer")] = frombuffer

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2's name for builtins
            module = "builtins"
        found = self.allowed.get((module, name))
        if found is not None:
            return found
        if module == "numpy.dtypes" and name.endswith("DType") and name.isidentifier():
            return getattr(np.dtypes, name, None) or self._refuse(module, name)  # a number type's description
        return self._refuse(module, name)

    @staticmethod
    def _refuse(module: str, name: str):
        raise ForbiddenPickle(f"the pickle asks for {module}.{name}, which is not plain data (only containers, "
                              "numbers, strings and numpy arrays are allowed); it was not loaded")

    def persistent_load(self, pid):
        raise ForbiddenPickle("the pickle refers to outside objects (persistent ids); it was not loaded")


def _plain(value, depth: int = 0):
    """Guarded arrays back as ordinary numpy arrays, through the containers that hold them."""
    if depth > 200:
        raise ForbiddenPickle("the pickle nests containers more than 200 deep; it was not loaded")
    if isinstance(value, _GuardedArray):
        return value.view(np.ndarray)
    if isinstance(value, dict):
        return type(value)((k, _plain(v, depth + 1)) for k, v in value.items()) if any(
            isinstance(v, (np.ndarray, dict, list, tuple)) for v in value.values()) else value
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v, depth + 1) for v in value)
    return value


def loads(data: bytes, name: str = "gaze_data.pickle", item: str | None = None):
    """The pickle's plain data; `name` (and `item`, a member of an archive) say where, in any error."""
    try:
        return _plain(RestrictedUnpickler(data).load())
    except ForbiddenPickle as exc:
        raise ForbiddenPickle(exc.problem, file=name, item=item) from None
    except RecursionError:
        raise InputError("nested too deeply to be read", file=name, item=item) from None
    except MemoryError:
        raise InputError("asks for more memory than a dataset needs; it was not loaded", file=name,
                         item=item) from None
    except Exception:  # noqa: BLE001 - truncated or not a pickle at all
        raise InputError("not a readable pickle (truncated, damaged, or not a pickle at all)", file=name,
                         item=item) from None
