"""Safe ``.npz`` access: the one door through which mmbio reads NumPy archives (rollouts, motions, mm-evalkit files).

Threat model / what is checked. An ``.npz`` named on the command line is untrusted input: it may be truncated or
corrupted, or crafted to exhaust memory or time (huge declared shapes, zip bombs, millions of members, counts
that drive loops) or to run code (pickled object arrays). ``np.load`` trusts the archive, so it is not used;
:class:`NpzArchive` checks, in this order and *before* anything the file declares is allocated or looped over:

1. the path is a regular file (no FIFO or device: no hang) no larger than ``MAX_NPZ_MB``;
2. the zip's central directory, located as :mod:`zipfile` locates it, holds at most ``MAX_NPZ_MEMBERS`` entries
   (counted before :mod:`zipfile` parses it into objects); any zipfile/zlib/OS error becomes a DataFileError;
3. members: unique names, stored or deflated (numpy writes nothing else; bzip2/LZMA would decompress
   unbounded chunks), not encrypted, data ranges that do not overlap (overlapping entries reuse compressed data,
   the classic non-recursive zip bomb), the declared uncompressed sizes sum to at most ``MAX_NPZ_MB``, and a
   member above 64 MiB expands at most ``MAX_ZIP_RATIO`` times;
4. each ``.npy`` header is parsed here: magic, version 1.0/2.0/3.0, at most 10,000 header bytes, a literal dict
   (``ast.literal_eval``: no names, calls or operators) of exactly ``descr``/``fortran_order``/``shape``; the dtype
   from an allowlist (bool, 1-8 byte integers, 16/32/64-bit floats, fixed-width unicode and bytes): never object
   (a pickle: refused, never unpickled), structured, datetime or void; the shape of non-negative integers;
5. declared shape × item size (and the float64 copy a reader makes) at most ``MAX_ARRAY_MB``; header plus data
   equal the zip entry's declared uncompressed size (which also bounds what zipfile decompresses);
6. only then the data is read, into a buffer of exactly the declared size, in 1 MiB reads; a short read, a CRC
   or zlib error is a DataFileError; unicode arrays must hold valid code points (no surrogates);
7. typed accessors check what readers trust: shapes against what the reader expects, integer and float scalars
   in a range (floats finite), float arrays finite and within ±10⁹, strings of bounded length, JSON metadata (at most ``MAX_STRING_CHARS``) that
   must be an object, with typed fields through :class:`Meta`.

Every problem is one :class:`~mmbio.errors.DataFileError` naming the file (and the key): ``<file>: key 'qpos':
<problem>``. Limits come from :mod:`mmbio.limits` (each can be changed with ``MMBIO_<NAME>``).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.errors import DataFileError
from mmbio.limits import LIMITS, MAX_RATE_HZ, MIN_RATE_HZ, check_count, check_size, fmt_bytes, get

__all__ = ["MAX_ABS", "MAX_RATE_HZ", "MIN_RATE_HZ", "Meta", "NpyHeader", "NpzArchive"]

#: Largest magnitude of a value in a float array read by :meth:`NpzArchive.float_array` (positions, velocities,
#: activations, forces, times).
MAX_ABS = 1e9
#: Members above this size are checked for their expansion ratio (``MAX_ZIP_RATIO``).
RATIO_CHECK_BYTES = 64 << 20
#: Longest ``.npy`` header accepted (numpy's own default limit; numpy writes ≈ 128 bytes).
MAX_HEADER_BYTES = 10_000
_READ_CHUNK = 1 << 20
_KEEP_OPEN = 8  # member streams kept open between header() and array()
_MAX_NDIM = 32
_MAGIC = b"\x93NUMPY"
_VERSIONS = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}
_DESCR = re.compile(r"[<>|=]?(?:b1|[iu][1248]|f[248]|[US][1-9][0-9]{0,9})\Z")
_HEADER_KEYS = {"descr", "fortran_order", "shape"}
#: The header numpy writes: ``{'descr': '<f8', 'fortran_order': False, 'shape': (316, 89), }`` + padding.
#: Unambiguous (each number ends in ", " or the tuple): linear time on any input, no backtracking blow-up.
_NUMPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[a-zA-Z][0-9]{0,10})', 'fortran_order': (True|False), "
    rb"'shape': \(((?:[0-9]{1,19}, )*(?:[0-9]{1,19},?)?)\), \} *\n?"
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # (raw surrogates are refused with the unicode array)
_KIND_NAMES = {"b": "bool", "i": "int", "u": "unsigned int", "f": "float", "U": "unicode", "S": "bytes"}
#: What zipfile, zlib and the file system raise on a damaged archive (zipfile has no common base class).
_ZIP_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    ValueError,
    NotImplementedError,
    OverflowError,
)
_MISSING: Any = object()


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` member declares: shape, dtype, order and where its data starts (bytes into the member)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


def _show(v: object) -> str:
    s = repr(v) if isinstance(v, str | int | float | bool | type(None)) else f"a {type(v).__name__}"
    return s if len(s) <= 48 else s[:47] + "…"


def _kinds(kinds: str) -> str:
    return "/".join(_KIND_NAMES[k] for k in kinds)


# ---------------------------------------------------------------------------------------------- the archive


class NpzArchive:
    """A checked ``.npz`` archive: member list on open, headers and arrays on demand, errors as DataFileError.

    ``keys``: the ``.npy`` members without their suffix (as ``np.load(...).files``); ``key_order``: the same in
    archive order. Use as a context manager.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: Any = None
        self._zip: zipfile.ZipFile | None = None
        self._parked: dict[str, Any] = {}  # key → member stream at its data, from header() (oldest first)
        try:  # non-blocking: a FIFO or device must not hang the open; fstat then tells what it is
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise DataFileError(path, "no such file") from None
        except (OSError, ValueError) as exc:
            raise DataFileError(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        self._fh = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise DataFileError(path, "not a regular file")
            self._max_array = get("MAX_ARRAY_MB")
            if st.st_size > get("MAX_NPZ_MB"):
                check_size(path, st.st_size, "MAX_NPZ_MB", "the archive file")
            self._open(st.st_size)
        except BaseException:
            self.close()
            raise

    def _open(self, size: int) -> None:
        cap = get("MAX_NPZ_MEMBERS")
        try:
            # a directory entry takes ≥ 46 bytes: a smaller file cannot hold more than ``cap`` (no need to count)
            if size > (cap + 1) * zipfile.sizeCentralDir and (_count_central_directory(self._fh, cap) or 0) > cap:
                lim = LIMITS["MAX_NPZ_MEMBERS"]
                raise DataFileError(
                    self.path, f"has more than {cap:,} members, mmbio's limit (set {lim.env} to change it)"
                )
            self._fh.seek(0)
            self._zip = zipfile.ZipFile(self._fh)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as exc:
            raise DataFileError(self.path, f"not a readable .npz archive ({_why(exc)})") from None
        if len(infos) > cap:
            check_count(self.path, len(infos), "MAX_NPZ_MEMBERS")
        self._members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if name in self._members:
                raise DataFileError(self.path, f"member {name!r} appears twice (a damaged or crafted archive)")
            self._members[name] = info
            if info.flag_bits & 0x1:
                raise DataFileError(self.path, f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DataFileError(
                    self.path,
                    f"member {name!r} uses zip compression method {info.compress_type}; "
                    "numpy writes stored or deflated members only",
                )
            total += info.file_size
            if info.file_size > RATIO_CHECK_BYTES:
                ratio = info.file_size // max(info.compress_size, 1)
                what = (
                    f"expansion of member {name!r} ({fmt_bytes(info.file_size)} from "
                    f"{fmt_bytes(info.compress_size)}: a zip bomb?)"
                )
                check_count(self.path, ratio, "MAX_ZIP_RATIO", what)
        check_size(self.path, total, "MAX_NPZ_MB", "the uncompressed size of all members")
        self._check_overlap(infos)
        self.key_order = tuple(n[:-4] for n in self._members if n.endswith(".npy"))
        self.keys = frozenset(self.key_order)
        self._headers: dict[str, NpyHeader] = {}

    def _check_overlap(self, infos: list[zipfile.ZipInfo]) -> None:
        """Members' local headers and data must not overlap each other or the central directory."""
        spans = sorted(
            (i.header_offset, i.header_offset + zipfile.sizeFileHeader + len(i.filename) + i.compress_size, i.filename)
            for i in infos
        )
        end_dir = getattr(self._zip, "start_dir", None)
        for k, (_start, end, name) in enumerate(spans):
            nxt = spans[k + 1][0] if k + 1 < len(spans) else end_dir
            if nxt is not None and end > nxt:
                other = repr(spans[k + 1][2]) if k + 1 < len(spans) else "the central directory"
                raise DataFileError(self.path, f"member {name!r} overlaps {other} (a damaged archive or a zip bomb)")

    # ------------------------------------------------------------------------------------------ plumbing

    def close(self) -> None:
        for fh in self._parked.values():
            fh.close()
        self._parked.clear()
        if self._zip is not None:
            self._zip.close()
        if self._fh is not None:
            self._fh.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail(self, key: str, problem: str) -> DataFileError:
        """``DataFileError(path, "key '<key>': <problem>")``."""
        return DataFileError(self.path, f"key {key!r}: {problem}")

    def require(self, *keys: str, what: str = "") -> None:
        """DataFileError for the first of ``keys`` that is absent (``what``: the layout, for the message)."""
        missing = [k for k in keys if k not in self.keys]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise self.fail(missing[0], f"missing{more}{'; not ' + what if what else ''}")

    # ------------------------------------------------------------------------------------------ headers

    def header(self, key: str) -> NpyHeader:
        """The checked header of member ``key`` (steps 4-5 of the module doc); no data is read.

        The member stays open, positioned at its data, for a following :meth:`array` (a few at a time)."""
        h = self._headers.get(key)
        if h is None:
            info = self._info(key)
            fh = None
            try:
                fh = self._zip.open(info)  # type: ignore[union-attr]
                h = self._parse_header(key, fh)
            except _ZIP_ERRORS as exc:
                if fh is not None:
                    fh.close()
                raise self.fail(key, f"unreadable ({_why(exc)})") from None
            except BaseException:
                if fh is not None:
                    fh.close()
                raise
            if h.offset + h.nbytes != info.file_size:
                fh.close()
                raise self.fail(
                    key,
                    f"the .npy header declares {h.offset + h.nbytes:,} bytes (shape {h.shape}, {h.dtype}), "
                    f"the zip entry holds {info.file_size:,}",
                )
            self._headers[key] = h
            self._parked[key] = fh
            if len(self._parked) > _KEEP_OPEN:
                self._parked.pop(next(iter(self._parked))).close()
        return h

    def _info(self, key: str) -> zipfile.ZipInfo:
        if key not in self.keys:
            raise self.fail(key, "missing")
        return self._members[f"{key}.npy"]

    def _parse_header(self, key: str, fh: Any) -> NpyHeader:
        pre = fh.read(10)  # ZipExtFile.read(n) returns n bytes unless the member ends
        if pre[:6] != _MAGIC:
            raise self.fail(key, "not a .npy array (bad magic bytes)")
        if len(pre) < 10:
            raise self.fail(key, "truncated .npy header")
        version = (pre[6], pre[7])
        if version not in _VERSIONS:
            raise self.fail(key, f".npy format version {version[0]}.{version[1]} is not supported")
        fmt, encoding = _VERSIONS[version]
        raw = pre[8:] if fmt == "<H" else pre[8:] + fh.read(2)
        if len(raw) != struct.calcsize(fmt):
            raise self.fail(key, "truncated .npy header")
        (hlen,) = struct.unpack(fmt, raw)
        if hlen > MAX_HEADER_BYTES:
            raise self.fail(key, f".npy header of {hlen:,} bytes (at most {MAX_HEADER_BYTES:,})")
        text = fh.read(hlen)
        if len(text) != hlen:
            raise self.fail(key, "truncated .npy header")
        d = _numpy_header(text)
        if d is None:  # not numpy's own layout: any Python literal (ast.literal_eval: no names, calls, operators)
            try:
                d = ast.literal_eval(text.decode(encoding))
            except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
                raise self.fail(key, "unreadable .npy header (not a Python literal)") from None
        if not isinstance(d, dict) or d.keys() != _HEADER_KEYS:
            raise self.fail(key, "unreadable .npy header (needs exactly the keys descr, fortran_order, shape)")
        shape, fortran, descr = d["shape"], d["fortran_order"], d["descr"]
        if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM or not all(type(s) is int and s >= 0 for s in shape):
            raise self.fail(key, f".npy header: shape {_show(shape)} is not a tuple of non-negative integers")
        if not isinstance(fortran, bool):
            raise self.fail(key, f".npy header: fortran_order {_show(fortran)} is not a bool")
        dtype = _dtype(descr)
        if dtype is None:
            if isinstance(descr, str) and descr.lstrip("<>|=") == "O":
                raise self.fail(key, "stored as a pickled object array; mmbio does not unpickle "
                                     "(save names as a string array)")  # fmt: skip
            shown = repr(descr) if len(repr(descr)) <= 48 else repr(descr)[:47] + "…"
            raise self.fail(key, f"dtype {shown} is not one mmbio reads (bool, integers, floats, fixed-width strings)")
        h = NpyHeader(shape, dtype, fortran, 8 + len(raw) + hlen)
        if math.prod(max(n, 1) for n in shape) * dtype.itemsize > 1 << 62:  # even with a 0 among them: numpy fails
            raise self.fail(key, f"declared shape {_show_shape(shape)} of {dtype} is absurdly large")
        if h.nbytes > self._max_array:
            check_size(self.path, h.nbytes, "MAX_ARRAY_MB", f"key {key!r} (declared shape {shape}, {dtype})")
        return h

    # ------------------------------------------------------------------------------------------ data

    def array(
        self, key: str, *, kinds: str = "biuf", shape: Iterable[int | None] | None = None, as_float: bool = False
    ) -> np.ndarray:
        """The array ``key`` after its header checks: dtype kind in ``kinds``, ``shape`` (None: any length) when
        given. ``as_float``: returned as float64, and its float64 size is checked too. Bools are normalised to
        0/1; unicode must hold valid code points."""
        h = self.header(key)
        if h.dtype.kind not in kinds:
            raise self.fail(key, f"has dtype {h.dtype}, expected {_kinds(kinds)}")
        if shape is not None:
            want = tuple(shape)
            if len(h.shape) != len(want) or any(w is not None and w != s for w, s in zip(want, h.shape, strict=True)):
                shown = "(" + ", ".join("T" if w is None else str(w) for w in want) + ("," if len(want) == 1 else "")
                raise self.fail(key, f"has shape {h.shape}, expected {shown})")
        if as_float and h.size * 8 > self._max_array:
            check_size(self.path, h.size * 8, "MAX_ARRAY_MB", f"key {key!r} as float64 (shape {h.shape})")
        a = self._read(key, h)
        if as_float:
            a = np.asarray(a, dtype=np.float64)
        return a

    def _read(self, key: str, h: NpyHeader) -> np.ndarray:
        nbytes = h.nbytes
        try:
            raw = np.empty(nbytes, dtype=np.uint8)  # exactly the declared size (checked), not zero-filled
        except MemoryError:
            raise self.fail(key, f"not enough memory to read {fmt_bytes(nbytes)}") from None
        try:
            fh = self._parked.pop(key, None)
            if fh is None:
                fh = self._zip.open(self._info(key))  # type: ignore[union-attr]
                if len(fh.read(h.offset)) != h.offset:
                    fh.close()
                    raise self.fail(key, "truncated .npy header")
            with fh:
                view, pos = memoryview(raw), 0
                while pos < nbytes:
                    got = fh.readinto(view[pos : pos + _READ_CHUNK])
                    if not got:
                        raise self.fail(key, f"truncated: the data ends after {pos:,} of {nbytes:,} bytes")
                    pos += got
                if fh.read(1):  # also makes zipfile check the CRC of the whole member
                    raise self.fail(key, "data continues past the declared shape")
        except _ZIP_ERRORS as exc:
            raise self.fail(key, f"unreadable ({_why(exc)})") from None
        dt = h.dtype
        if h.size == 0:
            return np.empty(h.shape, dtype=dt)
        a = raw.view(dt)
        a = a.reshape(h.shape[::-1]).transpose() if h.fortran_order else a.reshape(h.shape)
        if dt.kind == "U":
            codes = raw.view(dt.str[0] + "u4")
            if codes.max() >= 0xD800 and np.any((codes > 0x10FFFF) | ((codes >= 0xD800) & (codes <= 0xDFFF))):
                raise self.fail(key, "holds characters that are not valid unicode")
        elif dt.kind == "b" and np.any(raw > 1):
            np.not_equal(raw, 0, out=raw.view(np.bool_))
        return a

    # ------------------------------------------------------------------------------------------ typed values

    def float_array(self, key: str, shape: Iterable[int | None], *, max_abs: float = MAX_ABS) -> np.ndarray:
        """A numeric array as float64 with the expected ``shape``, finite (the first NaN/inf is named) and within
        ±``max_abs`` (:data:`MAX_ABS`: physical values never come near it, and arithmetic on them stays far from
        overflow, so later stages neither warn nor produce inf)."""
        a = self.array(key, kinds="iuf", shape=shape, as_float=True)
        if a.size:
            lo, hi = float(a.min()), float(a.max())  # NaN propagates; no temporary array, no overflow
            if not (math.isfinite(lo) and math.isfinite(hi)):
                bad = ~np.isfinite(a)
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                where = f"first at frame {first[0]}, column {first[1]}" if len(first) == 2 else f"first at {first}"
                raise self.fail(key, f"{int(bad.sum())} non-finite values ({where})")
            if max(-lo, hi) > max_abs:
                raise self.fail(
                    key, f"holds {hi if hi > -lo else lo:.3g}, beyond ±{max_abs:.0e} (not a physical value)"
                )
        return a

    def _scalar_header(self, key: str, kinds: str, what: str) -> NpyHeader:
        h = self.header(key)
        if h.size != 1 or h.dtype.kind not in kinds:
            raise self.fail(key, f"must be {what}, got shape {h.shape} dtype {h.dtype}")
        return h

    def int_scalar(self, key: str, lo: int | None = None, hi: int | None = None) -> int:
        """An integer scalar (an integral float is accepted) in [lo, hi]."""
        self._scalar_header(key, "iuf", "an integer scalar")
        v = self.array(key, kinds="iuf").reshape(()).item()
        if isinstance(v, float) and not (math.isfinite(v) and v == int(v)):
            raise self.fail(key, f"must be an integer scalar, got {v!r}")
        n = int(v)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise self.fail(key, f"must be an integer in [{_bound(lo)}, {_bound(hi)}], got {n}")
        return n

    def float_scalar(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        """A finite number in [lo, hi]."""
        self._scalar_header(key, "iuf", "a number")
        v = float(self.array(key, kinds="iuf").reshape(()).item())
        if not (math.isfinite(v) and lo <= v <= hi):
            raise self.fail(key, f"must be a finite number in [{lo:g}, {hi:g}], got {v!r}")
        return v

    def str_scalar(self, key: str, max_chars: int = 1000) -> str:
        """A string scalar (unicode, or UTF-8 bytes) of at most ``max_chars`` characters (checked on the header)."""
        h = self._scalar_header(key, "US", "a string scalar")
        chars = h.dtype.itemsize // 4 if h.dtype.kind == "U" else h.dtype.itemsize
        if chars > max_chars:
            raise self.fail(key, f"is a string of up to {chars:,} characters (at most {max_chars:,})")
        v = self.array(key, kinds="US").reshape(()).item()
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail(key, "is not UTF-8 text") from None
        return str(v)

    def str_vector(self, key: str, n: int, max_chars: int = 1000) -> list[str]:
        """A vector of ``n`` strings of at most ``max_chars`` characters each."""
        h = self.header(key)
        if h.dtype.kind not in "US" or h.shape != (n,):
            raise self.fail(key, f"must be a vector of {n} strings, got shape {h.shape} dtype {h.dtype}")
        chars = h.dtype.itemsize // 4 if h.dtype.kind == "U" else h.dtype.itemsize
        if chars > max_chars:
            raise self.fail(key, f"holds strings of up to {chars:,} characters (at most {max_chars:,})")
        a = self.array(key, kinds="US")
        if a.dtype.kind == "S":
            try:
                return [s.decode("utf-8") for s in a.tolist()]
            except UnicodeDecodeError:
                raise self.fail(key, "is not UTF-8 text") from None
        return [str(s) for s in a.tolist()]

    def json_dict(self, key: str = "meta") -> dict[str, Any]:
        """A JSON object stored as a string scalar (at most ``MAX_STRING_CHARS`` characters)."""
        h = self._scalar_header(key, "US", "a JSON string")
        chars = h.dtype.itemsize // 4 if h.dtype.kind == "U" else h.dtype.itemsize
        check_count(self.path, chars, "MAX_STRING_CHARS", f"the length of key {key!r} (characters)")
        text = self.str_scalar(key, max_chars=chars)
        try:
            d = json.loads(text)
            if _SURROGATE_ESCAPE.search(text):  # "\ud800" decodes to a lone surrogate, which cannot be printed
                json.dumps(d, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError, TypeError) as exc:
            raise self.fail(key, f"is not valid JSON text ({_why(exc)})") from None
        if not isinstance(d, dict):
            raise self.fail(key, f"must be a JSON object, got {_show(d)}")
        return d


# ---------------------------------------------------------------------------------------------- metadata


class Meta:
    """Typed fields of a JSON metadata object; ``DataFileError(path, "key 'meta': '<field>' <problem>")``.

    Each getter takes ``default`` (absent: the field is required) and ``none_ok`` (JSON null accepted).
    ``prefix``: for a nested object, what precedes its field names in messages (``'notes.'``).
    """

    def __init__(self, path: str | PathLike[str], data: dict[str, Any], key: str = "meta", prefix: str = "") -> None:
        self.path, self.data, self.key, self.prefix = path, data, key, prefix

    def fail(self, name: str, problem: str) -> DataFileError:
        return DataFileError(self.path, f"key {self.key!r}: {self.prefix + name!r} {problem}")

    def _get(self, name: str, default: Any, none_ok: bool) -> tuple[bool, Any]:
        """(done, value): done when the value is the default or an accepted null."""
        if name not in self.data:
            if default is _MISSING:
                raise self.fail(name, "is missing")
            return True, default
        v = self.data[name]
        if v is None:
            if none_ok:
                return True, None
            raise self.fail(name, "must not be null")
        return False, v

    def text(
        self,
        name: str,
        *,
        default: Any = _MISSING,
        none_ok: bool = False,
        max_chars: int = 100_000,
        pattern: re.Pattern[str] | None = None,
    ) -> Any:
        done, v = self._get(name, default, none_ok)
        if done:
            return v
        if not isinstance(v, str):
            raise self.fail(name, f"must be a string, got {_show(v)}")
        if len(v) > max_chars:
            raise self.fail(name, f"is {len(v):,} characters long (at most {max_chars:,})")
        if pattern is not None and not pattern.match(v):
            raise self.fail(name, f"{_show(v)} is not a valid value")
        return v

    def number(self, name: str, lo: float, hi: float, *, default: Any = _MISSING, none_ok: bool = False) -> Any:
        done, v = self._get(name, default, none_ok)
        if done:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(name, f"must be a number, got {_show(v)}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not (math.isfinite(f) and lo <= f <= hi):
            raise self.fail(name, f"must be a finite number in [{lo:g}, {hi:g}], got {_show(v)}")
        return f

    def flag(self, name: str, *, default: Any = _MISSING) -> Any:
        done, v = self._get(name, default, False)
        if done:
            return v
        if not isinstance(v, bool):
            raise self.fail(name, f"must be true or false, got {_show(v)}")
        return v

    def mapping(self, name: str, *, default: Any = _MISSING, free_form: bool = True) -> Any:
        """A JSON object; ``free_form`` (content no reader checks, that later code may serialise): nested at most
        ``MAX_DEPTH`` deep (a caller that checks every entry passes False)."""
        done, v = self._get(name, default, False)
        if done:
            return v
        if not isinstance(v, dict):
            raise self.fail(name, f"must be a JSON object, got {_show(v)}")
        cap = get("MAX_DEPTH")
        if free_form and _json_depth(v, cap) > cap:
            lim = LIMITS["MAX_DEPTH"]
            raise self.fail(name, f"is nested more than {cap} deep, mmbio's limit (set {lim.env} to change it)")
        return v

    def text_list(self, name: str, *, default: Any = _MISSING, max_items: int = 10_000) -> Any:
        done, v = self._get(name, default, False)
        if done:
            return v
        if not isinstance(v, list) or len(v) > max_items or not all(isinstance(s, str) for s in v):
            raise self.fail(name, f"must be a list of at most {max_items:,} strings")
        return v


# ---------------------------------------------------------------------------------------------- helpers


def _show_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) if s < 10**12 else f"~1e{len(str(s)) - 1}" for s in shape) + ")"


def _json_depth(obj: object, cap: int) -> int:
    """Nesting depth of lists and objects in ``obj``, counted up to ``cap + 1`` (no recursion)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > deepest:
            deepest = d
            if d > cap:
                break
        items = o.values() if isinstance(o, dict) else o
        stack.extend((v, d + 1) for v in items if isinstance(v, dict | list))
    return deepest


def _bound(v: int | None) -> str:
    return "…" if v is None else f"{v:,}"


def _why(exc: BaseException) -> str:
    """The exception as a short text for a one-line message."""
    s = str(exc) or type(exc).__name__
    return s if len(s) <= 200 else s[:199] + "…"


def _numpy_header(text: bytes) -> dict[str, Any] | None:
    """The header dict when ``text`` is in the exact layout numpy writes (a fast path: no parser), else None."""
    m = _NUMPY_HEADER.fullmatch(text)
    if m is None:
        return None
    dims = m.group(3).split(b",")
    if dims[-1].strip() == b"":
        dims.pop()
    try:
        shape = tuple(int(x) for x in dims)
    except ValueError:
        return None
    return {"descr": m.group(1).decode("latin1"), "fortran_order": m.group(2) == b"True", "shape": shape}


def _dtype(descr: object) -> np.dtype[Any] | None:
    """The dtype of an allowlisted descr string, else None."""
    if not isinstance(descr, str) or not _DESCR.match(descr):
        return None
    return _allowed_dtype(descr)


@lru_cache(maxsize=64)
def _allowed_dtype(descr: str) -> np.dtype[Any] | None:
    try:
        dt = np.dtype(descr)
    except (TypeError, ValueError, OverflowError):
        return None
    if dt.itemsize == 0 or dt.fields is not None or dt.subdtype is not None or dt.kind not in _KIND_NAMES:
        return None
    return dt


#: zipfile's end-of-central-directory locator (private, stable since Python 2); without it the member count is
#: checked after zipfile parsed the directory (``MAX_NPZ_MB`` still bounds the file).
_END_RECORD = getattr(zipfile, "_EndRecData", None)


def _count_central_directory(fh: Any, cap: int) -> int | None:
    """Entries of the zip's central directory, walked where and as :mod:`zipfile` will parse it, stopping once
    past ``cap`` (so counting costs at most ``cap`` steps). None when there is no end record (zipfile refuses)."""
    if _END_RECORD is None:
        return None
    endrec = _END_RECORD(fh)
    if not endrec:
        return None
    size_cd, offset_cd, location = int(endrec[5]), int(endrec[6]), int(endrec[9])
    start = location - size_cd
    if endrec[0] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    if start < 0 or size_cd < 0 or offset_cd < 0:
        return None
    fh.seek(start)
    buf, base, pos, n = b"", start, 0, 0  # buf holds the directory bytes from file offset ``base``
    while pos < size_cd and n <= cap:
        at = start + pos - base
        if at + zipfile.sizeCentralDir > len(buf):  # refill: 1 MiB windows, so a huge directory is never read whole
            base = start + pos
            fh.seek(base)
            buf, at = fh.read(min(size_cd - pos, 1 << 20) + zipfile.sizeCentralDir), 0
        head = buf[at : at + zipfile.sizeCentralDir]
        if len(head) != zipfile.sizeCentralDir or head[:4] != zipfile.stringCentralDir:
            break  # zipfile will refuse the directory
        name_len, extra_len, comment_len = struct.unpack_from("<3H", head, 28)
        pos += zipfile.sizeCentralDir + name_len + extra_len + comment_len
        n += 1
    return n
