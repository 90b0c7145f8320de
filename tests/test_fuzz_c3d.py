"""Fuzzing of :func:`mmbio.io.c3d.read_c3d` in-process: bit flips and byte patches in the header and the parameter
section of a real C3D file (the part ezc3d interprets as sizes, types and offsets).

The only exception allowed out of ``read_c3d`` is :class:`~mmbio.errors.MmbioError`; a segfault in ezc3d would kill
pytest, so reaching the end of this module is itself the check that mmbio's pre-validation keeps ezc3d away from
what it cannot read. Each read must end within :data:`READ_CAP_S` (a hang), and an accepted file gives finite
forces (the data section is untouched, so a NaN force comes from a wrongly trusted parameter). Derandomized, so CI
runs the same examples every time; about 10 s on two cores.
"""

from __future__ import annotations

import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_REFERENCE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_hostile_c3d import entries

from mmbio.errors import MmbioError
from mmbio.io.c3d import read_c3d

pytestmark = pytest.mark.shared

SRC = SHARED_REFERENCE / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"
RAW = SRC.read_bytes() if SRC.is_file() else b""
PARAM_END = (struct.unpack_from("<H", RAW, 16)[0] - 1) * 512 if RAW else 1024  # the data start here
READ_CAP_S = 10.0
INTERESTING_WORDS = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF]
INTERESTING_FLOATS = [0.0, -1.0, 1e30, -1e30, 1e-30, float("nan"), float("inf"), -float("inf"), 65536.0]
FUZZ = settings(
    max_examples=400,
    deadline=int(READ_CAP_S * 1000),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

offsets = st.one_of(st.integers(0, 511), st.integers(512, max(PARAM_END - 1, 512)))
patch = st.one_of(
    st.tuples(st.just("flip"), offsets, st.integers(0, 7)),
    st.tuples(st.just("byte"), offsets, st.one_of(st.sampled_from(INTERESTING_WORDS[:5]), st.integers(0, 255))),
    st.tuples(st.just("word"), offsets, st.one_of(st.sampled_from(INTERESTING_WORDS), st.integers(0, 0xFFFF))),
    st.tuples(st.just("float"), offsets, st.sampled_from(INTERESTING_FLOATS)),
)


def apply(raw: bytearray, kind: str, at: int, value: float) -> None:
    if kind == "flip":
        raw[at] ^= 1 << int(value)
    elif kind == "byte":
        raw[at] = int(value)
    elif kind == "word":
        raw[at : at + 2] = int(value).to_bytes(2, "little")
    else:
        raw[at : at + 4] = struct.pack("<f", value)


def read_checked(raw: bytes, path: Path) -> None:
    """``read_c3d`` of ``raw`` raises only MmbioError (naming the file), ends in time, and gives finite forces."""
    path.write_bytes(raw)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            trial = read_c3d(path)
    except MmbioError as e:
        assert path.name in str(e) and "\n" not in str(e)
        event("refused")
        trial = None
    wall = time.perf_counter() - t0
    assert wall < READ_CAP_S, f"read_c3d took {wall:.1f} s"
    if trial is not None:
        event("read")
        for p in trial.plates:
            assert np.isfinite(p.force).all(), trial.notes
        for g in trial.grf.values():
            assert np.isfinite(g.force).all(), trial.notes


@pytest.fixture(autouse=True)
def _need_data(shared: Path) -> None:
    if not SRC.is_file():
        pytest.skip(f"{SRC} not found")


@FUZZ
@given(patches=st.lists(patch, min_size=1, max_size=4))
def test_header_and_parameter_patches(tmp_path: Path, patches: list[tuple[str, int, float]]) -> None:
    raw = bytearray(RAW)
    for kind, at, value in patches:
        apply(raw, kind, at, value)
    read_checked(bytes(raw), tmp_path / "fuzzed.c3d")


# the bytes that steer ezc3d's walk and allocations: each entry's offset, type, dimension count and sizes
FIELDS = ["offset", "type", "ndims", "dim", "desc", "first"]


@FUZZ
@given(
    which=st.integers(0, 10_000),
    field=st.sampled_from(FIELDS),
    value=st.one_of(st.sampled_from(INTERESTING_WORDS), st.integers(0, 0xFFFF)),
)
def test_parameter_structure(tmp_path: Path, which: int, field: str, value: int) -> None:
    raw = bytearray(RAW)
    table = list(entries(raw).values())
    e = table[which % len(table)]
    at = {
        "offset": e.offset_at,
        "type": e.offset_at + 2,
        "ndims": e.offset_at + 3,
        "dim": e.offset_at + 4 + (which % max(len(e.dims), 1)),
        "desc": e.data + e.nbytes,
        "first": e.data,
    }[field]
    if field in ("offset", "first"):
        raw[at : at + 2] = value.to_bytes(2, "little")
    else:
        raw[at] = value & 0xFF
    read_checked(bytes(raw), tmp_path / "fuzzed.c3d")


def test_sizes_are_bounded_before_ezc3d(tmp_path: Path) -> None:
    """The largest counts a header and parameters can declare (frames, points, analog channels and samples) are
    refused from the raw bytes: nothing is allocated for them."""
    raw = bytearray(RAW)
    e = entries(raw)
    for word, value in ((2, 0xFFFF), (3, 0xFFFF), (5, 0xFFFF), (10, 0xFFFF)):
        struct.pack_into("<H", raw, 2 * (word - 1), value)
    for key in ("POINT:USED", "POINT:FRAMES", "ANALOG:USED"):
        struct.pack_into("<h", raw, e[key].data, 0x7FFF)
    path = tmp_path / "huge.c3d"
    path.write_bytes(bytes(raw))
    t0 = time.perf_counter()
    with pytest.raises(MmbioError, match=r"huge\.c3d"):
        read_c3d(path)
    assert time.perf_counter() - t0 < 20.0  # a hang guard: refused from the header, not after allocating 2³¹ frames
