"""Hostile C3D matrix: bad files generated from a real Schreiber trial by patching its header and parameter
section, each run through the CLI (``tests/hostile.py``). Refused files must get mmbio's promise (exit 2, one line
naming the file and the problem); files whose optional metadata is corrupted are read with the distrust said in the
trial's notes. Every case also runs in-process, and a few more that need no subprocess."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SHARED_REFERENCE
from hostile import assert_bad_input, run_cli

from mmbio.errors import DataFileError
from mmbio.io.c3d import read_c3d

pytestmark = pytest.mark.shared

SRC = SHARED_REFERENCE / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"


# ------------------------------------------------------------------------------------- patching helpers


@dataclass
class Entry:
    """Where a parameter sits in the file: entry start, its offset field, type and dims bytes, data."""

    at: int
    offset_at: int
    type: int
    dims: tuple[int, ...]
    data: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.dims or (1,)) * abs(self.type)


def entries(raw: bytes | bytearray) -> dict[str, Entry]:
    """``'GROUP:NAME'`` → :class:`Entry`, by walking the parameter section of an Intel C3D file."""

    def i8(b: int) -> int:
        return b - 256 if b > 127 else b

    pos, groups, found = (raw[0] - 1) * 512 + 4, {}, []
    while (n := i8(raw[pos])) != 0:
        gid, name = i8(raw[pos + 1]), raw[pos + 2 : pos + 2 + abs(n)].decode()
        q = pos + 2 + abs(n)
        off = struct.unpack_from("<H", raw, q)[0]
        if gid < 0:
            groups[-gid] = name
        else:
            nd = raw[q + 3]
            found.append((gid, name, Entry(pos, q, i8(raw[q + 2]), tuple(raw[q + 4 : q + 4 + nd]), q + 4 + nd)))
        if off == 0:
            break
        pos = q + off
    return {f"{groups[g]}:{name}": e for g, name, e in found}


def put(raw: bytearray, key: str, values: list[float] | float, index: int = 0) -> None:
    """Overwrite numbers of parameter ``key`` (in file order) from ``index`` on, in the parameter's own type."""
    e = entries(raw)[key]
    fmt = {1: "<b", 2: "<h", 4: "<f"}[e.type]
    for i, v in enumerate(values if isinstance(values, list) else [values]):
        struct.pack_into(fmt, raw, e.data + (index + i) * abs(e.type), v)


def put_text(raw: bytearray, key: str, index: int, text: str) -> None:
    """Overwrite string ``index`` of a 2-D text parameter (padded with spaces to its width)."""
    e = entries(raw)[key]
    width = e.dims[0]
    raw[e.data + index * width : e.data + (index + 1) * width] = text.encode().ljust(width)[:width]


def header_rate(raw: bytearray, rate: float) -> None:
    struct.pack_into("<f", raw, 20, rate)


def both_rates(rate: float) -> Callable[[bytearray], None]:
    def patch(raw: bytearray) -> None:
        header_rate(raw, rate)
        put(raw, "POINT:RATE", rate)

    return patch


def header_word(word: int, value: int) -> Callable[[bytearray], None]:
    """Set 16-bit header word ``word`` (1-based, as the C3D spec numbers them)."""

    def patch(raw: bytearray) -> None:
        struct.pack_into("<H", raw, 2 * (word - 1), value)

    return patch


def param(key: str, values: list[float] | float, index: int = 0) -> Callable[[bytearray], None]:
    return lambda raw: put(raw, key, values, index)


def entry_byte(key: str, field: str, value: int) -> Callable[[bytearray], None]:
    """Set one structural byte of an entry: ``type``, ``ndims``, ``dims0`` or ``desc`` (its description length)."""

    def patch(raw: bytearray) -> None:
        e = entries(raw)[key]
        at = {"type": e.offset_at + 2, "ndims": e.offset_at + 3, "dims0": e.offset_at + 4, "desc": e.data + e.nbytes}
        raw[at[field]] = value & 0xFF

    return patch


def chain_off_by_one(raw: bytearray) -> None:
    e = entries(raw)["POINT:USED"]
    off = struct.unpack_from("<H", raw, e.offset_at)[0]
    struct.pack_into("<H", raw, e.offset_at, off + 1)


def more_points(raw: bytearray) -> None:
    header_word(2, 32767)(raw)
    put(raw, "POINT:USED", 32767)


def more_frames(raw: bytearray) -> None:
    header_word(5, 0xFFFF)(raw)  # a saturated header count: POINT:FRAMES holds the number
    put(raw, "POINT:FRAMES", 32767)


def one_more_analog(raw: bytearray) -> None:
    put(raw, "ANALOG:USED", 21)
    header_word(3, 21 * 15)(raw)


def corners(fn: Callable[[list[float]], list[float]]) -> Callable[[bytearray], None]:
    def patch(raw: bytearray) -> None:
        e = entries(raw)["FORCE_PLATFORM:CORNERS"]
        old = list(struct.unpack_from("<24f", raw, e.data))
        put(raw, "FORCE_PLATFORM:CORNERS", fn(old))

    return patch


def skew(c: list[float]) -> list[float]:
    c = list(c)
    c[0] += 150.0  # corner 1 of plate 1 moves 15 cm in x: a trapezoid
    return c


def duplicate_channel(raw: bytearray) -> None:
    e = entries(raw)["FORCE_PLATFORM:CHANNEL"]
    put(raw, "FORCE_PLATFORM:CHANNEL", struct.unpack_from("<h", raw, e.data)[0], 1)  # Fy1 := Fx1's channel


def event_times_dims(dims: tuple[int, int]) -> Callable[[bytearray], None]:
    """EVENT:TIMES (2, 7) declared as ``dims`` of the same size (the data bytes stay)."""

    def patch(raw: bytearray) -> None:
        e = entries(raw)["EVENT:TIMES"]
        raw[e.offset_at + 4 : e.offset_at + 6] = bytes(dims)

    return patch


def events_out_of_order(raw: bytearray) -> None:
    """Right foot strike 2 (1.01 s; TIMES holds minutes, seconds per event) moved to 0.60 s: strike, strike, off."""
    put(raw, "EVENT:TIMES", 0.60, index=3)


def pad_to(nbytes: int) -> Callable[[bytearray], None]:
    def patch(raw: bytearray) -> None:
        raw.extend(bytes(nbytes - len(raw)))

    return patch


def no_patch(raw: bytearray) -> None:
    return None


@dataclass
class Case:
    id: str
    patch: Callable[[bytearray], None]
    mentions: str  # refused: in the one-line error; noted: in a trial note
    noted: bool = False  # read with a note instead of refused
    env: dict[str, str] | None = None
    cli: bool = True  # part of the subprocess matrix (≤ 30); False: in-process only


CASES = [
    # rates: the defect was a ZeroDivisionError traceback; NaN/inf/absurd rates reached ezc3d's size casts
    Case("rate-zero", both_rates(0.0), "point rate"),
    Case("rate-negative", both_rates(-100.0), "point rate", cli=False),
    Case("rate-nan", both_rates(float("nan")), "point rate"),
    Case("rate-inf", both_rates(float("inf")), "point rate", cli=False),
    Case("rate-1e30", both_rates(1e30), "point rate"),
    Case("analog-rate-nan", param("ANALOG:RATE", float("nan")), "analog rate"),
    Case("analog-rate-fraction", param("ANALOG:RATE", 1234.5), "mismatched rates", cli=False),
    # declared sizes vs the bytes present: ezc3d would allocate or loop over them
    Case("frames-huge", more_frames, "truncated"),
    Case("points-huge", more_points, "truncated"),
    Case("frames-over-limit", no_patch, "MMBIO_MAX_FRAMES", env={"MMBIO_MAX_FRAMES": "100"}),
    Case("file-over-limit", pad_to(1_300_000), "MMBIO_MAX_C3D_MB", env={"MMBIO_MAX_C3D_MB": "1"}),
    Case("params-over-limit", no_patch, "MMBIO_MAX_C3D_PARAMS_KB", env={"MMBIO_MAX_C3D_PARAMS_KB": "1"}),
    # parameter-section structure: what made ezc3d crash, hang or allocate
    Case("ndims-negative", entry_byte("POINT:LABELS", "ndims", -1), "dimensions"),
    Case("dims-255", entry_byte("EVENT:TIMES", "dims0", 255), "parameter section"),
    Case("type-unknown", entry_byte("POINT:RATE", "type", 3), "data type"),
    Case("description-negative", entry_byte("POINT:RATE", "desc", -128), "description length"),
    Case("chain-broken", chain_off_by_one, "parameter section"),
    Case("units-not-text", entry_byte("POINT:UNITS", "type", 1), "POINT:UNITS", cli=False),
    Case("mips", lambda raw: raw.__setitem__(512 + 3, 86), "MIPS", cli=False),
    # header and parameters disagree: ezc3d would silently read shifted or truncated data
    Case("points-mismatch", param("POINT:USED", 51), "POINT:USED"),
    Case("frames-mismatch", param("POINT:FRAMES", 148), "POINT:FRAMES"),
    Case("data-start-mismatch", header_word(9, 12), "DATA_START"),
    Case("start-field-mismatch", param("TRIAL:ACTUAL_START_FIELD", 3), "ACTUAL_START_FIELD"),
    Case("analog-scale-short", one_more_analog, "ANALOG:SCALE"),
    # force plates: all-zero corners gave NaN forces written as a result
    Case("corners-zero", corners(lambda c: [0.0] * 24), "CORNERS"),
    Case("corners-nan", corners(lambda c: [float("nan"), *c[1:]]), "not finite", cli=False),
    Case("corners-skewed", corners(skew), "rectangle"),
    Case("channel-twice", duplicate_channel, "twice"),
    Case("plates-used-negative", param("FORCE_PLATFORM:USED", -1), "FORCE_PLATFORM:USED"),
    Case("force-scale-absurd", param("ANALOG:SCALE", 1e6, index=10), "not physical"),
    # optional metadata: read, with what was distrusted in the notes
    # (every note is checked in-process; through `mmbio validate` into metrics.json, one event and one plate case)
    Case("event-label", lambda raw: put_text(raw, "EVENT:LABELS", 0, "Foot Stxike1"), "neither Foot Strike", True),
    Case(
        "event-context",
        lambda raw: put_text(raw, "EVENT:CONTEXTS", 0, "Rixht"),
        "neither Left nor Right",
        True,
        cli=False,
    ),
    Case("event-times-1x14", event_times_dims((1, 14)), "EVENT group is inconsistent", True, cli=False),
    Case("event-times-7x2", event_times_dims((7, 2)), "EVENT group is inconsistent", True, cli=False),
    Case("event-order", events_out_of_order, "out of order", True, cli=False),
    Case("event-outside", param("EVENT:TIMES", 99.0, index=1), "outside the stored frames", True, cli=False),
    Case("mass-implausible", param("SUBJECT:VALUES", 6700.0, index=2), "implausible", True, cli=False),
    Case(
        "mass-label", lambda raw: put_text(raw, "SUBJECT:LABELS", 2, "weigXt"), "no usable body mass", True, cli=False
    ),
    Case("plates-used-one", param("FORCE_PLATFORM:USED", 1), "only 1 read", True),
]
CLI_CASES = [c for c in CASES if c.cli]
assert len(CLI_CASES) <= 30


def build(case: Case, tmp_path: Path) -> Path:
    raw = bytearray(SRC.read_bytes())
    case.patch(raw)
    path = tmp_path / f"{case.id}.c3d"
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture(autouse=True)
def _need_data(shared: Path) -> None:
    if not SRC.is_file():
        pytest.skip(f"{SRC} not found")


# --------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli(case: Case, tmp_path: Path) -> None:
    path = build(case, tmp_path)
    if not case.noted:
        res = run_cli(["info", str(path)], cwd=tmp_path, env=case.env)
        assert_bad_input(res, names=path.name, mentions=case.mentions)
        return
    out = tmp_path / "o"
    res = run_cli(["validate", str(path), "--output", str(out), "--no-spm", "--no-pdf"], cwd=tmp_path, env=case.env)
    assert res.rc in (0, 1) and "Traceback" not in res.stderr, res.describe()
    notes = json.loads((out / "metrics.json").read_text())["trial"]["notes"]
    assert any(case.mentions in n for n in notes), notes


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_in_process(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in (case.env or {}).items():
        monkeypatch.setenv(k, v)
    path = build(case, tmp_path)
    if case.noted:
        trial = read_c3d(path)
        assert any(case.mentions in n for n in trial.notes), trial.notes
        return
    with pytest.raises(DataFileError) as e:
        read_c3d(path)
    assert path.name in str(e.value) and case.mentions.lower() in str(e.value).lower(), str(e.value)


def test_distrusted_events_fall_back_to_grf(tmp_path: Path) -> None:
    """Inconsistent or out-of-order file events are replaced by events detected from the force plates."""
    good = read_c3d(SRC).events
    for case in (c for c in CASES if c.id in ("event-times-1x14", "event-times-7x2", "event-order")):
        t = read_c3d(build(case, tmp_path))
        assert t.events.source == "grf", case.id
        for s in "rl":
            hs = t.events.heel_strike[s]
            assert hs.size and min(abs(h - g) for h in hs for g in good.heel_strike[s]) < 0.03


def test_implausible_mass_is_unknown(tmp_path: Path) -> None:
    t = read_c3d(build(next(c for c in CASES if c.id == "mass-implausible"), tmp_path))
    assert math.isnan(t.subject.mass_kg) and t.subject.height_m == pytest.approx(1.655, abs=1e-3)
