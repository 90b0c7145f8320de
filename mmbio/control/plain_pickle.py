"""Read a pickle of plain data (dicts, lists, tuples, str, int, float, bool, None, bytes, numeric numpy arrays)
without trusting it: the reader behind :func:`mmbio.control.checkpoint.load_checkpoint`.

Threat model: the file may be written by an attacker. Reading it must not run code, crash the interpreter,
allocate more than a small multiple of the file's size, or take time that grows faster than its size. Three
stages, each before the next is allowed to look at the bytes:

1. **Opcode scan** (:func:`scan`, pure Python, :mod:`pickletools`): the file size is bounded
   (``MAX_CHECKPOINT_MB``); only the opcodes of protocols 3–5 that build plain containers, scalars, strings and
   bytes plus the handful that numpy's array pickling uses (``GLOBAL``/``STACK_GLOBAL``, ``REDUCE``, ``BUILD``)
   are allowed (no ``INST``/``OBJ``/``NEWOBJ``, extension registry, persistent ids, out-of-band buffers, sets);
   memo writes must be sequential (a 9-byte pickle with memo index 2²⁷ would otherwise make the C unpickler
   allocate 2 GB) and memo reads must name a written slot; integers are at most 128 bits (no 5,000-digit
   numbers), strings at most ``MAX_STRING_CHARS``, the whole stream at most ``MAX_ITEMS`` opcodes; every
   declared length must be present in the file.
2. **Unpickling with stand-ins.** The unpickler resolves only the numpy names that array pickles reference
   (``numpy.dtype``, ``numpy.ndarray``, ``numpy._core.numeric._frombuffer``, ``…multiarray._reconstruct``,
   ``…multiarray.scalar``, and their numpy-1 spellings) and resolves them to *mmbio's own* inert stand-ins, never
   to numpy: they check their arguments (dtype from a whitelist of bool, integer, float and complex types; shape a
   tuple of non-negative ints whose product × item size equals the number of bytes present; byte order) and
   return small records. No numpy object is created while the file is being read, so a file cannot make numpy
   dereference data (an object-dtype array over file bytes used to segfault the process).
3. **Materialisation** (:func:`materialise`): containers are walked once each (shared references are counted
   once, with their expanded size: a structure that shares references 40 levels deep is refused in linear time,
   not expanded 2⁴⁰ times), cycles are refused, depth is bounded (``MAX_DEPTH``), dict keys must be ``str`` or
   ``int``, and the records become numpy arrays copied from the file's bytes (writable, native byte order).

Everything the file can get wrong is a one-line :class:`~mmbio.errors.DataFileError` naming the file.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from os import PathLike
from typing import Any

import numpy as np

from mmbio import limits
from mmbio.errors import DataFileError, printable

__all__ = ["ALLOWED_GLOBALS", "ALLOWED_OPCODES", "ARRAY_DTYPES", "load_plain", "materialise", "scan"]

PathArg = str | PathLike[str]

#: Opcodes a checkpoint may use: plain containers, scalars, strings, bytes, memo, framing, and the globals,
#: ``REDUCE`` and ``BUILD`` of numpy's array pickles (the globals are resolved to stand-ins only).
ALLOWED_OPCODES: frozenset[str] = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK",
        "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
        "EMPTY_LIST", "LIST", "APPEND", "APPENDS",
        "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2", "LONG1", "LONG4", "BINFLOAT",
        "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8",
        "MEMOIZE", "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET",
        "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD",
    }
)  # fmt: skip
_PUT = {"MEMOIZE", "BINPUT", "LONG_BINPUT"}
_GET = {"BINGET", "LONG_BINGET"}
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
_BYTES = {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"}
_MAX_INT_BYTES = 16  # LONG1/LONG4 payload: 128-bit integers at most

#: dtype codes an array in a checkpoint may have (numpy's pickled spelling): bool, ints, floats, complex.
ARRAY_DTYPES: frozenset[str] = frozenset(
    {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
)


class _Bad(Exception):
    """A structural problem found while reading; becomes a DataFileError naming the file."""


# ---------------------------------------------------------------------------------------------- 1. opcode scan


def scan(raw: bytes, path: PathArg) -> None:
    """Check the opcode stream of ``raw`` (see the module docs, stage 1); raise :class:`DataFileError` if unfit."""
    limits.check_size(path, len(raw), "MAX_CHECKPOINT_MB", "checkpoint file")
    if raw[:1] != b"\x80":
        raise DataFileError(path, "not an mmbio checkpoint (the file does not start with a pickle protocol header)")
    max_ops = limits.get("MAX_ITEMS")
    max_chars = limits.get("MAX_STRING_CHARS")
    max_bytes = limits.get("MAX_ARRAY_MB")
    n_memo = 0
    n_ops = 0
    stopped = False
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(raw)):
            n_ops += 1
            name = op.name
            if name not in ALLOWED_OPCODES:
                raise _Bad(f"pickle opcode {name} at byte {pos} is not allowed in a checkpoint")
            if n_ops > max_ops:
                raise _Bad(f"more than {max_ops:,} pickle opcodes (limit MAX_ITEMS)")
            if name == "PROTO" and not 3 <= int(arg) <= 5:
                raise _Bad(f"pickle protocol {arg} (checkpoints use protocols 3-5)")
            elif name in _PUT:
                idx = n_memo if name == "MEMOIZE" else int(arg)
                if idx > n_memo:
                    raise _Bad(f"memo index {idx:,} at byte {pos} skips ahead of the {n_memo:,} slots written")
                n_memo += idx == n_memo
            elif name in _GET and not 0 <= int(arg) < n_memo:
                raise _Bad(f"memo index {arg:,} at byte {pos} was never written")
            elif name in ("LONG1", "LONG4") and (int(arg).bit_length() + 7) // 8 > _MAX_INT_BYTES:
                raise _Bad(f"integer of {int(arg).bit_length():,} bits at byte {pos} (at most 128 allowed)")
            elif name in _STRINGS and len(arg) > max_chars:
                raise _Bad(f"string of {len(arg):,} characters at byte {pos} (limit MAX_STRING_CHARS {max_chars:,})")
            elif name in _BYTES and len(arg) > max_bytes:
                raise _Bad(f"byte string of {len(arg):,} bytes at byte {pos} (limit MAX_ARRAY_MB)")
            elif name == "STOP":
                stopped = True
                end = pos + 1
    except _Bad as e:
        raise DataFileError(path, f"refusing to load: {e}") from None
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataFileError(path, f"corrupted or truncated checkpoint ({msg})") from None
    if not stopped:
        raise DataFileError(path, "truncated checkpoint (the pickle ends early)")
    if end != len(raw):
        raise DataFileError(path, f"corrupted checkpoint: {len(raw) - end} bytes after the end of the pickle")


# ------------------------------------------------------------------------------------------- 2. stand-ins


class _DType:
    """What ``numpy.dtype(code, align, copy)`` + ``BUILD(state)`` describes, checked; no numpy dtype is made here."""

    __slots__ = ("_built", "byteorder", "code")

    def __init__(self, code: object, align: object = False, copy: object = True) -> None:
        if type(code) is not str or code not in ARRAY_DTYPES:
            raise _Bad(f"array dtype {_short(code)} is not allowed (only bool, integer, float and complex)")
        if type(align) is not bool or type(copy) is not bool:
            raise _Bad("malformed numpy dtype record")
        self.code, self.byteorder, self._built = code, "=", False

    def __setstate__(self, state: object) -> None:
        if self._built:
            raise _Bad("numpy dtype record built twice")
        ok = (
            type(state) is tuple
            and len(state) in (8, 9)
            and state[0] == 3
            and state[1] in ("<", ">", "|", "=")
            and state[2] is None
            and state[3] is None
            and state[4] is None
        )
        if not ok:
            raise _Bad("numpy dtype record with fields, subarrays or an unknown layout (not allowed)")
        self.byteorder, self._built = state[1], True  # type: ignore[index]

    def to_numpy(self) -> np.dtype:
        dt = np.dtype(self.code)
        return dt.newbyteorder(self.byteorder) if self.byteorder in "<>" else dt

    def __reduce__(self) -> Any:  # never pickled back
        raise TypeError("stand-in")


class _Array:
    """An array record: dtype, shape, C/F order and the bytes present in the file (checked to agree)."""

    __slots__ = ("_pending", "data", "dtype", "order", "shape")

    def __init__(self) -> None:
        self.data, self.dtype, self.shape, self.order, self._pending = b"", None, (), "C", True

    def fill(self, data: object, dtype: object, shape: object, fortran: bool) -> _Array:
        if type(dtype) is not _DType:
            raise _Bad("array record without a valid dtype")
        if type(shape) is not tuple or len(shape) > 32 or any(type(n) is not int or n < 0 for n in shape):
            raise _Bad(f"array shape {_short(shape)} is not a tuple of non-negative integers")
        if type(data) not in (bytes, bytearray):
            raise _Bad("array data is not a byte string")
        n = math.prod(shape) * dtype.to_numpy().itemsize  # Python ints: no overflow
        if n != len(data):
            raise _Bad(f"array of shape {shape} and dtype {dtype.code} needs {n:,} bytes, the file holds {len(data):,}")
        self.data, self.dtype, self.shape, self.order, self._pending = (
            data,
            dtype,
            shape,
            "F" if fortran else "C",
            False,
        )
        return self

    def __setstate__(self, state: object) -> None:  # numpy's protocol < 5 path: _reconstruct + BUILD
        if not self._pending:
            raise _Bad("array record built twice")
        if type(state) is not tuple or len(state) != 5 or state[0] != 1 or type(state[3]) is not bool:
            raise _Bad("malformed numpy array record")
        self.fill(state[4], state[2], state[1], state[3])

    def to_numpy(self) -> np.ndarray:
        if self._pending:
            raise _Bad("array record without its data")
        dt = self.dtype.to_numpy()  # type: ignore[union-attr]
        arr = np.frombuffer(bytearray(self.data), dtype=dt).reshape(self.shape, order=self.order)  # type: ignore[call-overload]
        return arr if dt.isnative else arr.astype(dt.newbyteorder("="))

    def __reduce__(self) -> Any:
        raise TypeError("stand-in")


class _Scalar:
    """A numpy scalar record: dtype and its bytes."""

    __slots__ = ("value",)

    def __init__(self, dtype: object, data: object) -> None:
        arr = _Array().fill(data, dtype, (), False)
        self.value = arr.to_numpy().item()

    def __reduce__(self) -> Any:
        raise TypeError("stand-in")


class _NDArrayClass:
    """The stand-in for the ``numpy.ndarray`` class argument of ``_reconstruct`` (not callable)."""

    __slots__ = ()


_NDARRAY = _NDArrayClass()


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> _Array:
    if order not in ("C", "F"):
        raise _Bad(f"array order {_short(order)}")
    return _Array().fill(buf, dtype, shape, order == "F")


def _reconstruct(cls: object, shape: object, typecode: object) -> _Array:
    if cls is not _NDARRAY or shape != (0,) or typecode != b"b":
        raise _Bad("malformed numpy array record")
    return _Array()


def _scalar(dtype: object, data: object = None) -> _Scalar:
    return _Scalar(dtype, data)


_STANDINS: dict[str, Any] = {"dtype": _DType, "ndarray": _NDARRAY, "_frombuffer": _frombuffer,
                             "_reconstruct": _reconstruct, "scalar": _scalar}  # fmt: skip

#: ``(module, name)`` references a checkpoint may hold, each resolved to a stand-in of this module (never numpy's).
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    (mod, name): _STANDINS[name]
    for mod, name in (
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    )
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, raw: bytes, path: PathArg) -> None:
        super().__init__(io.BytesIO(raw))
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            ref = printable(f"{module}.{name}", 120)
            raise _Bad(f"the file references {ref}, which a checkpoint may not contain") from None

    def persistent_load(self, pid: Any) -> Any:  # pragma: no cover - the scan refuses persistent ids
        raise _Bad("persistent ids are not allowed")


# ------------------------------------------------------------------------------------------ 3. materialise


def _short(x: object, n: int = 60) -> str:
    try:
        s = repr(x)
    except Exception:
        s = f"<{type(x).__name__}>"
    return s if len(s) <= n else s[: n - 1] + "…"


_LEAVES = (str, int, float, bool, bytes, type(None))


def _where(at: tuple[Any, ...] | str) -> str:
    """The path of a value for a message, built only when a message needs it: ``checkpoint['a'][0]``."""
    keys = []
    while isinstance(at, tuple):
        at, k = at
        keys.append(k)
    return str(at) + "".join(f"[{_short(k, 40)}]" for k in reversed(keys))


def materialise(obj: object, path: PathArg, where: str = "checkpoint") -> Any:
    """Stage 3 (module docs): bounded, cycle-free plain data with numpy arrays; raises :class:`DataFileError`."""
    max_depth, max_items = limits.get("MAX_DEPTH"), limits.get("MAX_ITEMS")
    height: dict[int, int] = {}  # id → height of an already measured container
    size: dict[int, int] = {}  # id → expanded size
    active: set[int] = set()
    leaves = (*_LEAVES, _Array, _Scalar)

    def measure(x: object, depth: int, at: tuple[Any, ...] | str) -> tuple[int, int]:
        t = type(x)
        if t in leaves:
            return 0, 1
        if t is not dict and t is not list and t is not tuple:
            what = "a numpy dtype record" if t is _DType else t.__name__
            raise _Bad(f"{_where(at)} is {what}, which a checkpoint may not contain (only plain values and arrays)")
        i = id(x)
        if i in active:
            raise _Bad(f"{_where(at)} contains itself (a reference cycle)")
        if i in height:
            h = height[i]
        else:
            if depth > max_depth:
                raise _Bad(f"{_where(at)} is nested more than {max_depth} levels deep (limit MAX_DEPTH)")
            active.add(i)
            h, s = 0, 1
            is_dict = t is dict
            items = x.items() if is_dict else enumerate(x)  # type: ignore[attr-defined]
            for k, v in items:
                if is_dict and type(k) is not str and type(k) is not int:
                    raise _Bad(f"{_where(at)} has a key of type {type(k).__name__}; keys must be str or int")
                if type(v) in leaves:
                    s += 1 + is_dict
                    h = max(h, 1)
                    continue
                ch, cs = measure(v, depth + 1, (at, k))
                h, s = max(h, ch + 1), s + cs + is_dict
                if s > max_items:
                    raise _Bad(f"{_where(at)} expands to more than {max_items:,} values (limit MAX_ITEMS)")
            active.discard(i)
            height[i], size[i] = h, s
        if depth + h > max_depth:
            raise _Bad(f"{_where(at)} is nested more than {max_depth} levels deep (limit MAX_DEPTH)")
        return h, size[i]

    arrays: dict[int, np.ndarray] = {}

    def build(x: object) -> Any:
        t = type(x)
        if t in _LEAVES:
            return x
        if t is _Array:
            i = id(x)
            if i not in arrays:
                arrays[i] = x.to_numpy()  # type: ignore[attr-defined]
            return arrays[i]
        if t is _Scalar:
            return x.value  # type: ignore[attr-defined]
        if t is dict:
            return {k: build(v) for k, v in x.items()}  # type: ignore[attr-defined]
        return t(build(v) for v in x)  # type: ignore[call-arg, attr-defined]

    try:
        _, total = measure(obj, 0, where)
        if total > max_items:
            raise _Bad(f"{where} expands to more than {max_items:,} values (limit MAX_ITEMS)")
        return build(obj)
    except _Bad as e:
        raise DataFileError(path, f"refusing to load: {e}") from None


def load_plain(raw: bytes, path: PathArg) -> Any:
    """Scan, unpickle with stand-ins and materialise ``raw`` (the bytes of ``path``): plain data with numpy arrays."""
    scan(raw, path)
    try:
        obj = _Unpickler(raw, path).load()
    except _Bad as e:
        raise DataFileError(path, f"refusing to load: {e}") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError, EOFError,
            OverflowError, MemoryError, RecursionError, UnicodeDecodeError) as e:  # fmt: skip
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataFileError(path, f"corrupted checkpoint ({type(e).__name__}: {_short(msg, 200)})") from None
    return materialise(obj, path)
