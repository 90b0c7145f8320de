"""Fuzzing the checkpoint reader (issue 12): byte flips, cuts and splices of the committed demo checkpoint, random
opcode streams and random plain structures. Only :class:`~mmbio.errors.DataFileError` may come out; a value that
comes back must equal what was pickled. Bounded in time (derandomised, fixed example counts) for CI.
"""

from __future__ import annotations

import pickle
import pickletools
import time
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmbio.control.checkpoint import validate_checkpoint
from mmbio.control.plain_pickle import load_plain
from mmbio.errors import DataFileError

DEMO = (Path(__file__).resolve().parents[1] / "checkpoints" / "tracking_walk.pkl").read_bytes()
SETTINGS = settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
PER_EXAMPLE_S = 20.0  # a hang guard per example, not a benchmark


def _read(raw: bytes) -> Any:
    """load + field checks, as load_checkpoint does (without the model compile); only DataFileError may escape."""
    t0 = time.perf_counter()
    try:
        obj = load_plain(raw, "fuzz.pkl")
        validate_checkpoint(obj, lambda m: DataFileError("fuzz.pkl", m))
        return obj
    except DataFileError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.pkl: ")
        return None
    finally:
        assert time.perf_counter() - t0 < PER_EXAMPLE_S


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(DEMO) - 1), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flips(flips: list[tuple[int, int]]) -> None:
    raw = bytearray(DEMO)
    for pos, bit in flips:
        raw[pos] ^= 1 << bit
    _read(bytes(raw))


@SETTINGS
@given(st.integers(0, len(DEMO)), st.integers(0, len(DEMO)), st.binary(max_size=64))
def test_cuts_and_splices(a: int, b: int, junk: bytes) -> None:
    lo, hi = sorted((a, b))
    _read(DEMO[:lo] + junk + DEMO[hi:])


_OPS = [op for op in pickletools.opcodes if op.proto >= 2]


def _arg_bytes(op: pickletools.OpcodeInfo, draw: st.DrawFn) -> bytes:
    """Random bytes for an opcode's argument (lengths and indices chosen to hit limits and boundaries)."""
    n = op.arg.n if op.arg is not None else 0
    if op.arg is None:
        return b""
    if n > 0:
        return draw(st.binary(min_size=n, max_size=n))
    if n == pickletools.UP_TO_NEWLINE:
        return draw(st.sampled_from([b"numpy\n", b"os\n", b"dtype\n", b"system\n", b"x\n"]))
    if n == pickletools.TAKEN_FROM_ARGUMENT1:
        k = draw(st.integers(0, 12))
        return bytes([k]) + draw(st.binary(min_size=k, max_size=k))
    if n == pickletools.TAKEN_FROM_ARGUMENT4:
        k = draw(st.sampled_from([0, 1, 4, 8, 2**31 - 1]))
        return k.to_bytes(4, "little") + draw(st.binary(min_size=min(k, 16), max_size=min(k, 16)))
    if n == pickletools.TAKEN_FROM_ARGUMENT4U or n == pickletools.TAKEN_FROM_ARGUMENT8U:
        size = 4 if n == pickletools.TAKEN_FROM_ARGUMENT4U else 8
        k = draw(st.sampled_from([0, 1, 8, 2**32 - 1]))
        return k.to_bytes(size, "little") + draw(st.binary(min_size=min(k, 16), max_size=min(k, 16)))
    return b""


@st.composite
def _stream(draw: st.DrawFn) -> bytes:
    out = [b"\x80", bytes([draw(st.integers(2, 5))])]
    for _ in range(draw(st.integers(0, 40))):
        op = draw(st.sampled_from(_OPS))
        out.append(op.code.encode("latin-1") + _arg_bytes(op, draw))
    out.append(b".")
    return b"".join(out)


@SETTINGS
@given(_stream())
def test_random_opcode_streams(raw: bytes) -> None:
    _read(raw)


class _Spec:
    """An array to build: dtype and shape (kept apart from plain tuples of the strategy)."""

    def __init__(self, dtype: str, shape: list[int]) -> None:
        self.dtype, self.shape = dtype, shape


_arrays = st.builds(
    _Spec,
    st.sampled_from(["f8", "f4", "i8", "u1", "?", "c16", ">f8", "O", "U3", "V4"]),
    st.lists(st.integers(0, 3), max_size=3),
)
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=20),
    _arrays,
)
_plain = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids, kids),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.floats()), kids, max_size=4),
    ),
    max_leaves=25,
)


def _realise(x: Any) -> Any:
    if isinstance(x, _Spec):
        return np.zeros(x.shape, dtype=x.dtype) if x.dtype != "O" else np.empty(x.shape, dtype=object)
    if isinstance(x, list):
        return [_realise(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_realise(v) for v in x)
    if isinstance(x, dict):
        return {k: _realise(v) for k, v in x.items()}
    return x


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)


@SETTINGS
@given(_plain, st.integers(3, 5))
def test_random_plain_structures_round_trip_or_are_refused(value: Any, protocol: int) -> None:
    x = _realise(value)
    raw = pickle.dumps(x, protocol=protocol)
    try:
        back = load_plain(raw, "fuzz.pkl")
    except DataFileError:
        # refused: it must contain something a checkpoint may not hold (object/unicode/void arrays, float keys,
        # integers over 128 bits)
        assert _has_forbidden(x)
        return
    assert _same(x, back)


def _has_forbidden(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype.kind not in "biufc"
    if isinstance(x, (list, tuple)):
        return any(_has_forbidden(v) for v in x)
    if isinstance(x, dict):
        return any(type(k) not in (str, int) or _has_forbidden(v) for k, v in x.items())
    return isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 128
