"""Raw-byte validation of a C3D file, before ezc3d (C++) reads it.

ezc3d believes what a file declares. It loops over declared parameter dimensions (up to 255⁷ elements),
allocates the declared frames, points and analog sub-frames, takes ``[0]`` of parameters that may be empty,
indexes ``ANALOG:SCALE``/``OFFSET`` by ``ANALOG:USED`` without bounds checks and casts unchecked floats
(``ANALOG:RATE / POINT:RATE``) to sizes. A corrupted or hostile file can therefore crash the process, hang or
exhaust memory inside C++, where Python cannot catch anything. :func:`check_c3d` reads the header and walks the
parameter section exactly as ezc3d will (same chain of entries, same sizes, parameters overriding the header) and
refuses with a one-line :class:`~mmbio.errors.DataFileError` anything ezc3d could not read safely, or that
contradicts itself so that ezc3d would silently read shifted or truncated data:

* file size ≤ ``MAX_C3D_MB``; parameter section ≤ ``MAX_C3D_PARAMS_KB``, every entry inside it, entries chained
  without gaps or overlaps, known data types, at most 7 dimensions (text at least 1), no duplicate group;
* the parameters ezc3d indexes exist with the right type and enough elements; scales finite and non-zero;
* header and parameters agree: points (``POINT:USED``), analog channels × samples per frame (``ANALOG:USED``,
  ``ANALOG:RATE``), frames (``POINT:FRAMES``), data block (``POINT:DATA_START``), float/integer storage
  (``POINT:SCALE`` sign), rate (``POINT:RATE``) and first frame (``TRIAL:ACTUAL_START_FIELD``);
* rates finite and plausible (point rate 1 Hz–100 kHz, analog rate an integer multiple of it, ≤ 1 MHz);
* the data the header announces fit in the file (frames × frame size, and ``ROTATION`` data), and the arrays
  that will hold them stay under ``MAX_FRAMES`` and ``MAX_ARRAY_MB``.

Only Intel and DEC files are accepted (ezc3d does not read MIPS/big-endian files).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from mmbio import limits
from mmbio.errors import DataFileError

INTEL, DEC, MIPS = 84, 85, 86
CHAR, BYTE, INT, FLOAT = -1, 1, 2, 4
BLOCK = 512
MAX_DIMS = 7
POINT_RATE_HZ = (1.0, 1e5)
MAX_ANALOG_RATE_HZ = 1e6
_FMT = {BYTE: "b", INT: "h", FLOAT: "f"}
_TYPE_NAME = {CHAR: "text", BYTE: "byte", INT: "integer", FLOAT: "float"}


#: one parameter as stored: data type (-1 char, 1 byte, 2 int16, 4 float32), dimensions, raw bytes
Param = tuple[int, tuple[int, ...], bytes]


@dataclass(frozen=True)
class C3DLayout:
    """What the header and parameters declare, checked to be consistent and to fit in the file."""

    size: int  # bytes
    processor: int
    float_data: bool
    point_rate: float  # Hz
    analog_rate: float  # Hz (point rate × samples per frame; 0 without analog channels)
    n_frames: int
    n_points: int
    n_analogs: int
    samples_per_frame: int  # analog samples per point frame, per channel
    first_frame: int  # 1-based absolute number of the first stored frame
    params: dict[str, dict[str, Param]]


def _corrupt(path: Path, what: str) -> DataFileError:
    return DataFileError(path, f"corrupt C3D parameter section: {what}")


def _float(raw: bytes, proc: int) -> float:
    """One float32 as ezc3d decodes it (DEC: word-swapped, exponent − 2)."""
    if proc == DEC:
        raw = bytes((raw[2], raw[3], raw[0], (raw[1] - 1) & 0xFF if raw[1] else 0))
    return struct.unpack("<f", raw)[0]


def _numbers(raw: bytes, typ: int, proc: int) -> tuple[float, ...]:
    """Numbers of a parameter in file order, decoded as ezc3d does (bytes and int16 signed)."""
    if typ == FLOAT and proc == DEC:
        return tuple(_float(raw[i : i + 4], DEC) for i in range(0, len(raw), 4))
    return struct.unpack(f"<{len(raw) // abs(typ)}{_FMT[typ]}", raw)


def _walk(path: Path, buf: bytes, base: int, hard_end: int) -> dict[str, dict[str, Param]]:
    """Parse the parameter section ``buf`` (file bytes from ``base``; the section may not pass ``hard_end``) as
    ezc3d walks it: entry after entry, each where the previous one points, up to a zero name length or offset."""
    end = len(buf)

    def short(i: int) -> DataFileError:  # an entry would pass the end of what was read
        if base + end < hard_end and base + i <= hard_end:
            limits.check_count(path, -(-i // 1024), "MAX_C3D_PARAMS_KB")
        return _corrupt(path, f"an entry runs past the end of the section (byte {base + i})")

    if end < 4:
        raise short(4)
    first, key = buf[0], buf[1]
    if (first, key) == (0, 0):  # Qualisys writes zeros here; ezc3d accepts it
        first, key = 1, 0x50
    if (first, key) != (1, 0x50):
        raise _corrupt(path, f"bad parameter header bytes ({buf[0]}, {buf[1]})")
    groups: dict[int, str] = {}
    entries: dict[int, dict[str, Param]] = {}
    i = nxt = 4
    while nxt:
        if i != nxt:
            raise _corrupt(path, f"entry at byte {base + i} is not where the previous entry points ({base + nxt})")
        if i >= end:
            raise short(i + 1)
        nchar = buf[i] - 256 if buf[i] > 127 else buf[i]
        if nchar == 0:
            break
        j = i + 2 + abs(nchar)  # the offset to the next entry
        if j + 3 > end:  # the offset, and the description length or the data type
            raise short(j + 3)
        gid = buf[i + 1] - 256 if buf[i + 1] > 127 else buf[i + 1]
        if gid == 0:
            raise _corrupt(path, f"entry at byte {base + i} belongs to group 0")
        name = buf[i + 2 : j].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")  # as ezc3d decodes it
        off = buf[j] | buf[j + 1] << 8
        nxt = j + off if off else 0
        q = j + 2
        if gid > 0:
            if q + 2 > end:
                raise short(q + 2)
            typ = buf[q] - 256 if buf[q] > 127 else buf[q]
            nd = buf[q + 1] - 256 if buf[q + 1] > 127 else buf[q + 1]
            if typ not in _TYPE_NAME:
                raise _corrupt(path, f"parameter {name}: unknown data type {typ}")
            if not 0 <= nd <= MAX_DIMS or (nd == 0 and typ == CHAR):
                raise _corrupt(path, f"parameter {name}: {nd} dimensions")
            dims = tuple(buf[q + 2 : q + 2 + nd]) if nd else (1,)
            q += 2 + nd
            nbytes = math.prod(dims) * abs(typ)
            if q + nbytes >= end:  # the data, and the description length after them
                raise short(q + nbytes + 1)
            entries.setdefault(gid, {})[name] = (typ, dims, buf[q : q + nbytes])
            q += nbytes
        elif name in groups.values() and groups.get(-gid) != name:
            raise _corrupt(path, f"group {name} is defined twice")
        else:
            groups[-gid] = name
        nd = buf[q] - 256 if buf[q] > 127 else buf[q]  # description length
        if nd < 0:  # ezc3d would read (unsigned) 4 GB
            raise _corrupt(path, f"{name}: description length {nd}")
        i = q + 1 + nd
        if i > end:
            raise short(i)
    return {groups[g]: ps for g, ps in entries.items() if g in groups}


def _get(
    path: Path, params: dict[str, dict[str, Param]], proc: int, group: str, name: str, types: tuple[int, ...]
) -> tuple[float, ...] | None:
    """Numeric values of ``group:name`` (None when absent), refusing a wrong type or an empty value."""
    p = params.get(group, {}).get(name)
    if p is None:
        return None
    typ, _dims, raw = p
    if typ not in types:
        raise DataFileError(path, f"{group}:{name} is {_TYPE_NAME[typ]}, expected {_TYPE_NAME[types[0]]}")
    if not raw:
        raise DataFileError(path, f"{group}:{name} is empty")
    return _numbers(raw, typ, proc)


def _u16(v: float) -> int:
    """An int16 parameter word read as unsigned (C3D stores counts above 32767 so)."""
    return int(v) & 0xFFFF


def check_c3d(path: Path) -> C3DLayout:
    """Validate ``path`` from its raw bytes (see the module docstring); return its checked layout."""
    if not path.exists():
        raise DataFileError(path, "file not found")
    if not path.is_file():
        raise DataFileError(path, "not a regular file")
    size = path.stat().st_size
    limits.check_size(path, size, "MAX_C3D_MB")
    with path.open("rb") as fh:
        head = fh.read(BLOCK)
        if len(head) < BLOCK or head[1] != 0x50:
            raise DataFileError(path, "not a C3D file (no C3D header key 0x50 in byte 2)")
        pblock = head[0]
        if pblock < 2 or (pblock - 1) * BLOCK + 4 > size:
            raise DataFileError(path, "not a C3D file (parameter section missing)")
        fh.seek((pblock - 1) * BLOCK)
        proc = fh.read(4)[3]
        if proc not in (INTEL, DEC, MIPS):
            raise DataFileError(path, f"not a C3D file (unknown processor type {proc})")
        if proc == MIPS:
            raise DataFileError(path, "big-endian (MIPS) C3D files are not supported")
        data_start = struct.unpack("<H", head[16:18])[0]
        if data_start <= pblock:
            raise DataFileError(path, f"corrupt C3D header (data block {data_start} before the parameters)")
        base = (pblock - 1) * BLOCK
        hard_end = min(size, (data_start - 1) * BLOCK)
        fh.seek(base)
        buf = fh.read(min(hard_end - base, limits.get("MAX_C3D_PARAMS_KB") * 1024))
    params = _walk(path, buf, base, hard_end)
    return _layout(path, head, proc, size, params)


def _layout(path: Path, head: bytes, proc: int, size: int, params: dict[str, dict[str, Param]]) -> C3DLayout:
    """Sizes and rates as ezc3d will use them (parameters override the header), checked against the header."""
    n_points_h, analog_words, first, last, _gap, _s0, _s1, data_start, spf = struct.unpack("<9H", head[2:20])
    scale_h, rate_h = _float(head[12:16], proc), _float(head[20:24], proc)

    def num(group: str, name: str, types: tuple[int, ...] = (INT,)) -> tuple[float, ...] | None:
        return _get(path, params, proc, group, name, types)

    used = num("POINT", "USED")
    n_points = int(used[0]) if used is not None else 0
    if n_points != n_points_h:
        raise DataFileError(path, f"header declares {n_points_h} markers, POINT:USED {n_points}")
    float_data = scale_h < 0
    if n_points and (p_scale := num("POINT", "SCALE", (FLOAT,))) is not None:
        if not (math.isfinite(p_scale[0]) and p_scale[0] != 0):
            raise DataFileError(path, f"POINT:SCALE is {p_scale[0]:g}")
        if (p_scale[0] < 0) != float_data:
            raise DataFileError(
                path, f"header scale {scale_h:g} and POINT:SCALE {p_scale[0]:g} disagree on float storage"
            )
    p_rate = num("POINT", "RATE", (FLOAT,))
    rate = float(p_rate[0]) if p_rate is not None else rate_h
    if not POINT_RATE_HZ[0] <= rate <= POINT_RATE_HZ[1]:
        raise DataFileError(path, f"implausible point rate {rate:g} Hz (expected 1 Hz to 100 kHz)")
    if not abs(rate_h - rate) <= 1e-3 * rate:
        raise DataFileError(path, f"mismatched rates: header {rate_h:g} Hz, POINT:RATE {rate:g} Hz")

    a_used = num("ANALOG", "USED")
    n_analogs = int(a_used[0]) if a_used is not None else 0
    a_rate = num("ANALOG", "RATE", (FLOAT,))
    analog_rate = float(a_rate[0]) if a_rate is not None else 0.0
    gen = num("ANALOG", "GEN_SCALE", (FLOAT,))
    if gen is not None and not (math.isfinite(gen[0]) and gen[0] != 0):
        raise DataFileError(path, f"ANALOG:GEN_SCALE is {gen[0]:g}")
    if not 0 <= analog_rate <= MAX_ANALOG_RATE_HZ:  # ezc3d casts ANALOG:RATE/POINT:RATE to a size unchecked
        raise DataFileError(path, f"implausible analog rate {analog_rate:g} Hz (ANALOG:RATE)")
    if n_analogs < 0 or n_analogs * spf != analog_words:
        raise DataFileError(
            path, f"header declares {analog_words} analog samples per frame, ANALOG:USED {n_analogs} × {spf}"
        )
    ratio = analog_rate / rate
    if n_analogs:
        if spf == 0 or abs(ratio - round(ratio)) > 1e-6 * ratio:
            raise DataFileError(path, f"mismatched rates: ANALOG:RATE {analog_rate:g} Hz vs POINT:RATE {rate:g} Hz")
        if round(ratio) != spf:
            raise DataFileError(
                path,
                f"mismatched rates: ANALOG:RATE/POINT:RATE = {ratio:g} but the header stores {spf} samples per frame",
            )
        for name, types in (("SCALE", (FLOAT,)), ("OFFSET", (INT,))):
            v = num("ANALOG", name, types)
            if v is None or len(v) < n_analogs:
                raise DataFileError(
                    path, f"ANALOG:{name} has {0 if v is None else len(v)} values for {n_analogs} channels"
                )
        if not all(map(math.isfinite, num("ANALOG", "SCALE", (FLOAT,))[:n_analogs])):  # type: ignore[index]
            raise DataFileError(path, "ANALOG:SCALE is not finite")
    elif int(ratio) > 1000:  # no channels, but ezc3d still allocates int(ratio) empty sub-frames per frame
        raise DataFileError(path, f"implausible ANALOG:RATE {analog_rate:g} Hz for POINT:RATE {rate:g} Hz")
    sub = spf if n_analogs else int(ratio)

    n_frames = _frames(path, num("POINT", "FRAMES", (INT, FLOAT)), first, last, data_start)
    if not n_points and not n_analogs:
        n_frames = 0  # ezc3d reads no frame then
    ds = num("POINT", "DATA_START")
    if ds is not None and _u16(ds[0]) not in (0, data_start):
        raise DataFileError(path, f"header puts the data at block {data_start}, POINT:DATA_START at {_u16(ds[0])}")
    first_frame = max(first, 1)
    if (start := num("TRIAL", "ACTUAL_START_FIELD")) is not None:
        s = _u16(start[0]) + (65536 * _u16(start[1]) if len(start) > 1 else 0)
        if first < 0xFFFF and s != first_frame:
            raise DataFileError(path, f"TRIAL:ACTUAL_START_FIELD is frame {s}, the header's first frame {first_frame}")
        first_frame = s

    limits.check_count(path, n_frames, "MAX_FRAMES", "declared point frames")
    limits.check_count(path, n_frames * sub, "MAX_FRAMES", "declared analog samples per channel")
    limits.check_size(path, n_frames * n_points * 4 * 8, "MAX_ARRAY_MB", "declared marker data")
    limits.check_size(path, n_frames * spf * n_analogs * 8, "MAX_ARRAY_MB", "declared analog data")
    need = (data_start - 1) * BLOCK + n_frames * (4 * n_points + spf * n_analogs) * (4 if float_data else 2)
    if size < need:
        raise DataFileError(path, f"truncated C3D file: {size} bytes, header announces {need}")
    _check_rotations(path, params, proc, size, n_frames, rate)
    analog_rate = analog_rate if n_analogs else 0.0
    return C3DLayout(size, proc, float_data, rate, analog_rate, n_frames, n_points, n_analogs, spf, first_frame, params)


def _frames(path: Path, frames_p: tuple[float, ...] | None, first: int, last: int, data_start: int) -> int:
    """Number of frames ezc3d will read: ``POINT:FRAMES`` when set, else the header's (1-based, 0 read as 1)."""
    n = (last - 1 if last else 0) - (first - 1 if first else 0) + 1
    if frames_p is not None:
        if not math.isfinite(frames_p[0]):
            raise DataFileError(path, "POINT:FRAMES is not finite")
        fp = int(frames_p[0])
        if fp != 0:
            if fp < 0 or (last < 0xFFFF and fp != n):  # a header count of 65535 is saturated: the parameter holds
                raise DataFileError(path, f"header announces {n} frames, POINT:FRAMES {fp}")
            n = fp
    if n < 0:
        raise DataFileError(path, f"corrupt C3D header (frames {first}..{last}, data block {data_start})")
    return n


def _check_rotations(
    path: Path, params: dict[str, dict[str, Param]], proc: int, size: int, n_frames: int, rate: float
) -> None:
    """ezc3d reads a ``ROTATION`` group's data (4×4 matrix + residual per rotation) and sizes it up front."""
    if "ROTATION" not in params:
        return
    vals = {}
    for name, types in (("USED", (INT,)), ("DATA_START", (INT,)), ("RATIO", (INT,)), ("RATE", (FLOAT,))):
        v = _get(path, params, proc, "ROTATION", name, types)
        vals[name] = None if v is None else float(v[0])
    if vals["USED"] is None or vals["DATA_START"] is None or (vals["RATIO"] is None and vals["RATE"] is None):
        raise DataFileError(path, "ROTATION group lacks USED, DATA_START or RATIO")
    ratio = vals["RATIO"] if vals["RATIO"] is not None else (vals["RATE"] or 0.0) / rate
    if not (math.isfinite(ratio) and 0 <= ratio <= 0xFFFF and 0 <= vals["USED"]):
        raise DataFileError(path, f"ROTATION:USED {vals['USED']:g} or ratio {ratio:g} is invalid")
    need = (_u16(vals["DATA_START"]) - 1) * BLOCK + n_frames * max(int(ratio), 1) * int(vals["USED"]) * 17 * 4
    if _u16(vals["DATA_START"]) < 1 or size < need:
        raise DataFileError(path, f"truncated C3D file: {size} bytes, ROTATION data need {need}")
