"""OpenSim text tables: ``.sto``/``.mot`` storage files and ``.trc`` marker files, parsed at mmbio's file boundary.

:func:`read_storage` returns a table as stored (no unit conversion); :func:`read_trc` returns markers in the lab
frame. What the columns *mean* (joint angles, forces, EMG) and whether their values are plausible is judged by
the readers in :mod:`mmbio.io.opensim`, which know which columns they use.

Threat model / what is checked. A table file is untrusted input: truncated, mislabelled, edited by hand, or made
to exhaust memory or time. Before anything is allocated the path must be a regular file no larger than
``MAX_TEXT_MB`` (:mod:`mmbio.limits`). The header is read line by line and bounded: at most
:data:`MAX_HEADER_LINES` lines and :data:`MAX_HEADER_BYTES` bytes before ``endheader`` (a header that never ends
is refused, not read to the end of a large file), each line at most :data:`MAX_LINE_BYTES`. NUL bytes mean binary
data. Bytes that are not UTF-8 are read as Latin-1 (old Windows exports), but column names must be printable (no
control or escape characters, which would reach notes, reports and terminals), non-empty, unique and at most
:data:`MAX_COLUMNS`, the first one ``time``. The data rows are then parsed block by block (:data:`BLOCK_BYTES`)
into one array allocated from a line count, itself bounded by ``MAX_FRAMES`` and ``MAX_ARRAY_MB``: peak memory is
that array plus one block (≈ 0.7 × the file size for a typical table, where holding the text, its copies and a
UCS-4 ``StringIO`` took ≈ 8 ×). Every row must have exactly one value per column name (a short row is a truncated
file, a long one a shifted table: pandas would otherwise silently take an extra first column as an index), every
cell must be a number (``nan``/``inf`` spellings are numbers here; whether they are acceptable is decided per
column by the reader that uses it), ``nRows``/``datarows`` must match the rows, and time must be finite and
strictly increasing. A malformed file raises :class:`~mmbio.errors.DataFileError` naming the file and the problem
(row, line, column); no other exception class is expected to escape (``tests/test_fuzz_opensim.py``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from mmbio.errors import DataFileError, MmbioError, printable
from mmbio.io.axes import OPENSIM_TO_LAB, to_lab
from mmbio.limits import check_count, check_size, fmt_bytes
from mmbio.trial import Markers

PathArg = str | PathLike[str]

__all__ = [
    "BLOCK_BYTES",
    "MAX_COLUMNS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_LINES",
    "MAX_LINE_BYTES",
    "MAX_NAME_CHARS",
    "Storage",
    "read_storage",
    "read_trc",
]

#: Lines before ``endheader`` (real headers have 5–15).
MAX_HEADER_LINES = 10_000
#: Bytes before ``endheader``.
MAX_HEADER_BYTES = 1 << 20
#: One header or column-name line, and what a data line may run past the end of a block.
MAX_LINE_BYTES = 1 << 20
#: Column names (a full-body model's states table has a few hundred).
MAX_COLUMNS = 20_000
#: Characters of one column name (OpenSim 4 paths are ≈ 60); also keeps name matching linear.
MAX_NAME_CHARS = 1_000
#: Text parsed at a time.
BLOCK_BYTES = 8 << 20

_SIMM_KEYS = frozenset({"name", "datacolumns", "datarows", "range", "otherdata", "wrapping", "keys"})
_BAD_NAME = re.compile(r"[\t\r\n]")
#: NaN as Python's float() and C's printf spell it (pandas' wider default list also takes NULL, NA, None…).
_NAN_SPELLINGS = ["nan", "NaN", "NAN", "-nan", "-NaN", "-NAN", "+nan", "+NaN"]
_NUMBER = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|Inf|INF|infinity|Infinity|INFINITY|nan|NaN|NAN)"
)
_WS = re.compile(rb"[ \t]+")
_NON_BLANK = re.compile(rb"[^ \t\r\n]")
_LINE_END = re.compile(rb"[\r\n]")


@dataclass
class Storage:
    """An OpenSim table as stored: no unit conversion.

    columns: k names, ``columns[0] == 'time'``. data: (n, k) float. in_degrees: the header's
    ``inDegrees`` (``None`` when absent). header: ``key=value`` and SIMM ``key value`` lines;
    comments: other header lines; warnings: inconsistencies that were tolerated.
    """

    name: str
    header: dict[str, str]
    columns: list[str]
    data: np.ndarray
    in_degrees: bool | None = None
    comments: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    path: str = ""

    @property
    def time(self) -> np.ndarray:
        """(n,) s."""
        return self.data[:, 0]

    def column(self, name: str) -> np.ndarray:
        """(n,) values of one column (as stored)."""
        try:
            return self.data[:, self.columns.index(name)]
        except ValueError:
            raise DataFileError(self.path or self.name, f"no column {name!r}") from None

    def to_frame(self) -> pd.DataFrame:
        """DataFrame of the non-time columns, indexed by ``time``."""
        return pd.DataFrame(self.data[:, 1:], index=pd.Index(self.data[:, 0], name="time"), columns=self.columns[1:])


# --------------------------------------------------------------------------------------------------
# the file boundary: open, bounded lines, blocks of rows
# --------------------------------------------------------------------------------------------------


@contextmanager
def _open(path: PathArg) -> Iterator[tuple[BinaryIO, int]]:
    """(binary handle, size) of a regular file within ``MAX_TEXT_MB``; read errors become DataFileError."""
    p = Path(path)
    if not p.is_file():
        raise DataFileError(path, "no such file" if not p.exists() else "not a regular file")
    try:
        size = p.stat().st_size
        check_size(path, size, "MAX_TEXT_MB")
        fh = p.open("rb")
    except OSError as e:
        raise DataFileError(path, f"cannot read: {e.strerror or e}") from None
    with fh:
        try:
            yield fh, size
        except OSError as e:  # an I/O error while reading (the handle is ours alone)
            raise DataFileError(path, f"cannot read: {e.strerror or e}") from None


def _readline(path: PathArg, fh: BinaryIO, line_no: int) -> bytes:
    raw = fh.readline(MAX_LINE_BYTES + 1)
    if len(raw) > MAX_LINE_BYTES:
        raise DataFileError(path, f"line {line_no} is longer than {fmt_bytes(MAX_LINE_BYTES)}: not a text table")
    if b"\x00" in raw:
        raise DataFileError(path, "binary data (NUL bytes): not a text table")
    return raw


def _decode(raw: bytes) -> str:
    """A header line as text: UTF-8, else Latin-1 (every byte is a character), without its line end."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.rstrip("\r\n")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _tokens(line: bytes) -> list[bytes]:
    """The whitespace-separated fields of a data line, as pandas' ``sep=r'\\s+'`` splits them (space, tab)."""
    s = line.strip(b" \t")
    return _WS.split(s) if s else []


def _first_row(block: bytes) -> list[bytes] | None:
    """Fields of the first non-blank line of ``block`` (lines end at \\n, \\r or \\r\\n, as for pandas)."""
    m = _NON_BLANK.search(block)  # in C: a block of blank lines costs no Python loop
    if m is None:
        return None
    start = max(block.rfind(b"\n", 0, m.start()), block.rfind(b"\r", 0, m.start())) + 1
    end = _LINE_END.search(block, m.start())
    return _tokens(block[start : end.start() if end else len(block)])


def _diagnose(path: PathArg, block: bytes, k: int, line0: int, row0: int, tabbed: bool) -> DataFileError:
    """The first malformed row of ``block`` (its first line is file line ``line0``, data row ``row0 + 1``)."""
    row = row0
    what = "frame" if tabbed else "data"
    for i, line in enumerate(block.splitlines()):
        toks = _tokens(line)
        if not toks:
            continue
        row += 1
        where = f"{what} row {row} (line {line0 + i})"
        if tabbed:  # TRC: empty cells are gaps, cells past k are ignored
            toks = [tok for tok in line.rstrip(b"\r").split(b"\t")[:k] if tok.strip(b" ")]
        elif len(toks) < k:
            return DataFileError(path, f"{where} has {len(toks)} values, expected {k} (truncated?)")
        elif len(toks) > k:
            return DataFileError(path, f"{where} has {len(toks)} values, more values than the {k} column names")
        for j, tok in enumerate(toks):
            if not _NUMBER.fullmatch(tok.strip(b" ")):
                return DataFileError(
                    path, f"non-numeric value {_short(tok.decode('latin-1'), 30)} in {where}, column {j + 1}"
                )
    last = line0 + max(block.count(b"\n") - 1, 0)
    return DataFileError(path, f"malformed numeric data in lines {line0}–{last}")


def _parse_block(path: PathArg, block: bytes, k: int, line0: int, row0: int, *, tabbed: bool = False) -> np.ndarray:
    """(m, k) floats of one block of whole lines.

    Whitespace tables (``tabbed=False``): strict, every row has ``k`` numbers. TRC (``tabbed=True``): tab-separated,
    an empty cell or a short row is a gap (NaN), cells past ``k`` are ignored (writers leave trailing tabs).
    """
    if not tabbed:
        first = _first_row(block)
        if first is None:
            return np.empty((0, k))
        if len(first) != k:  # pandas would take one extra leading field as an index, silently
            raise _diagnose(path, block, k, line0, row0, tabbed)
    opts: dict = (
        {"sep": "\t", "usecols": range(k), "na_values": ["", *_NAN_SPELLINGS]}
        if tabbed
        else {"sep": r"\s+", "index_col": False, "na_values": _NAN_SPELLINGS}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a pandas guess is a malformed row here
            df = pd.read_csv(
                io.BytesIO(block),
                header=None,
                names=range(k),
                dtype=np.float64,
                engine="c",
                quoting=csv.QUOTE_NONE,
                skip_blank_lines=True,
                keep_default_na=False,
                encoding="latin-1",
                **opts,
            )
    except pd.errors.EmptyDataError:
        return np.empty((0, k))
    except (ValueError, OverflowError, pd.errors.ParserWarning):  # ParserError is a ValueError
        raise _diagnose(path, block, k, line0, row0, tabbed) from None
    return df.to_numpy(dtype=np.float64, copy=True)


def _blocks(path: PathArg, fh: BinaryIO, remaining: int) -> Iterator[bytes]:
    """Blocks of whole lines (≈ :data:`BLOCK_BYTES`) from the handle's position, ``remaining`` bytes at most."""
    while remaining > 0:
        block = fh.read(min(BLOCK_BYTES, remaining))
        if not block:
            return
        remaining -= len(block)
        if remaining > 0 and not block.endswith(b"\n"):
            tail = fh.readline(min(MAX_LINE_BYTES + 1, remaining))
            if len(tail) > MAX_LINE_BYTES:
                raise DataFileError(path, f"a data line is longer than {fmt_bytes(MAX_LINE_BYTES)}: not a text table")
            remaining -= len(tail)
            block += tail
        if b"\x00" in block:
            raise DataFileError(path, "binary data (NUL bytes): not a text table")
        yield block


def _read_rows(path: PathArg, fh: BinaryIO, size: int, k: int, line0: int, *, tabbed: bool = False) -> np.ndarray:
    """(n, k) rows from the handle's position to the end of the file (``size`` bytes in all)."""
    start = fh.tell()
    remaining = max(size - start, 0)
    if remaining <= BLOCK_BYTES:  # every real table: one block, no counting pass
        block = b"".join(_blocks(path, fh, remaining))
        return _parse_block(path, block, k, line0, 0, tabbed=tabbed)
    # A large file: count the lines first (as pandas ends them: \n, \r\n or a lone \r) so that the rows go straight
    # into one array. A row has k numbers and k separators, so a body of B bytes holds at most B // (2k) + 1 rows.
    lines = 1
    for block in _blocks(path, fh, remaining):
        lines += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    n_max = min(lines, remaining // (2 * k) + 1)
    check_count(path, n_max, "MAX_FRAMES", "data lines")
    check_size(path, n_max * k * 8, "MAX_ARRAY_MB", "the data table (rows × columns × 8 bytes)")
    data = np.empty((n_max, k))
    fh.seek(start)
    row, line = 0, line0
    for block in _blocks(path, fh, remaining):
        part = _parse_block(path, block, k, line, row, tabbed=tabbed)
        m = part.shape[0]
        if row + m > data.shape[0]:  # cannot happen with the count above; grow rather than lose rows
            data = np.concatenate([data[:row], np.empty((row + m - data.shape[0] + n_max // 4, k))])
        data[row : row + m] = part
        row += m
        line += block.count(b"\n")
    return data[:row] if row > 0.9 * data.shape[0] else data[:row].copy()


# --------------------------------------------------------------------------------------------------
# .sto / .mot
# --------------------------------------------------------------------------------------------------


def _parse_bool(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("yes", "true", "1"):
        return True
    if v in ("no", "false", "0"):
        return False
    return None


def _parse_int(path: PathArg, key: str, value: str) -> int:
    try:
        return int(value.split()[0])
    except (ValueError, IndexError):
        raise DataFileError(path, f"header {key}={_short(value)} is not an integer") from None


def _column_names(path: PathArg, line: str) -> list[str]:
    columns = [c.strip() for c in (line.split("\t") if "\t" in line else line.split())]
    if len(columns) > MAX_COLUMNS:
        raise DataFileError(path, f"{len(columns):,} column names, above mmbio's limit of {MAX_COLUMNS:,}")
    if any(not c for c in columns):
        raise DataFileError(path, "empty column name in the column-name line")
    for j, c in enumerate(columns):
        if len(c) > MAX_NAME_CHARS:
            raise DataFileError(path, f"column name {j + 1} has {len(c):,} characters, above {MAX_NAME_CHARS:,}")
        if not c.isprintable():
            raise DataFileError(
                path, f"column name {j + 1} ({printable(c, 60)}) has control characters: not a text table header"
            )
    dup = sorted(c for c, n in Counter(columns).items() if n > 1)
    if dup:
        raise DataFileError(path, f"duplicate column names: {', '.join(dup[:10])}" + (" …" if len(dup) > 10 else ""))
    if columns[0].lower() != "time":
        raise DataFileError(path, f"first column must be 'time', got {_short(columns[0])}")
    columns[0] = "time"
    return columns


def read_storage(path: PathArg) -> Storage:
    """Read an OpenSim ``.sto``/``.mot`` table (``version=1``/``version=3`` or the old SIMM header).

    Returns a :class:`Storage` with the values as stored (no degree conversion). Raises
    :class:`DataFileError` for a missing, oversized or binary file, a missing ``endheader``, declared row
    counts that do not match the data (a truncated file), non-numeric cells, ragged rows, a first column
    other than time, time that is not finite and strictly increasing, or duplicate column names (see the
    module docstring for the bounds).
    """
    with _open(path) as (fh, size):
        raw_header: list[bytes] = []
        nbytes, line_no = 0, 0
        while True:
            raw = _readline(path, fh, line_no + 1)
            line_no += 1
            if not raw:
                raise DataFileError(path, "no 'endheader' line: not an OpenSim storage/motion file")
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            nbytes += len(raw)
            if raw.strip(b" \t\r\n").lower() == b"endheader":
                break
            if line_no > MAX_HEADER_LINES or nbytes > MAX_HEADER_BYTES:
                raise DataFileError(
                    path,
                    f"no 'endheader' line in the first {line_no - 1:,} lines ({fmt_bytes(nbytes)}): not an OpenSim "
                    "storage/motion file, or a header longer than mmbio reads",
                )
            raw_header.append(raw)
        col_line = ""
        while not col_line:  # column names: the first non-blank line after endheader
            raw = _readline(path, fh, line_no + 1)
            line_no += 1
            nbytes += len(raw)
            if not raw or line_no > MAX_HEADER_LINES + 2 or nbytes > MAX_HEADER_BYTES + MAX_LINE_BYTES:
                raise DataFileError(path, "no column-name line after 'endheader'")
            col_line = _decode(raw).strip()
        columns = _column_names(path, col_line)
        k = len(columns)
        data = _read_rows(path, fh, size, k, line_no + 1)

    name = ""
    header: dict[str, str] = {}
    comments: list[str] = []
    warnings_: list[str] = []
    for i, raw_line in enumerate(raw_header):
        line = _decode(raw_line).strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line)
        elif "=" in line:
            key, v = line.split("=", 1)
            header[key.strip()] = v.strip()
        else:
            toks = line.split(None, 1)
            key = toks[0].lower()
            if key in _SIMM_KEYS:
                header[key] = toks[1].strip() if len(toks) > 1 else ""
                if key == "name" and not name:
                    name = header[key]
            elif i == 0 or (not name and not header):
                name = line
            else:
                comments.append(line)
    name = printable(name, 200)  # reaches the subject name, reports and terminals

    in_degrees: bool | None = None
    if "inDegrees" in header:
        in_degrees = _parse_bool(header["inDegrees"])
        if in_degrees is None:
            warnings_.append(f"unrecognised inDegrees={_short(header['inDegrees'])}")
    else:
        for c in comments:
            low = c.lower()
            if "angles are in degrees" in low:
                in_degrees = True
            elif "angles are in radians" in low:
                in_degrees = False

    n = data.shape[0]
    # Row counts guard against truncation: a mismatch is an error. Column counts are unreliable in
    # real files (Rajagopal's coordinates.sto says nColumns=40 over 32 rectangular columns; Hamner's
    # SIMM headers say datacolumns 173 over 24): every row already matched the names, so only warn.
    declared_rows = [(key, _parse_int(path, key, header[key])) for key in ("nRows", "datarows") if key in header]
    if declared_rows:
        key, rows = declared_rows[0]  # nRows wins over the SIMM datarows
        if rows != n:
            raise DataFileError(
                path, f"header says {key}={rows} but the file has {n} data rows" + (" (truncated?)" if n < rows else "")
            )
        warnings_ += [
            f"header {k2} {r2} disagrees with the {n} data rows; ignored" for k2, r2 in declared_rows[1:] if r2 != n
        ]
    for key in ("nColumns", "datacolumns"):
        if key in header and (cols := _parse_int(path, key, header[key])) != k:
            warnings_.append(f"header says {key}={cols} but the column-name line and every data row have {k} columns")

    t = data[:, 0]
    finite = np.isfinite(t)
    if not finite.all():
        i = int(np.argmin(finite))
        raise DataFileError(path, f"time is not a finite number at data row {i + 1} ({float(t[i])!r})")
    if n > 1:
        bad = np.flatnonzero(~(np.diff(t) > 0))
        if bad.size:
            i = int(bad[0])
            raise DataFileError(
                path, f"time is not strictly increasing at data row {i + 2} ({float(t[i])!r} then {float(t[i + 1])!r})"
            )
    return Storage(
        name=name,
        header=header,
        columns=columns,
        data=data,
        in_degrees=in_degrees,
        comments=comments,
        warnings=warnings_,
        path=str(path),
    )


# --------------------------------------------------------------------------------------------------
# TRC markers
# --------------------------------------------------------------------------------------------------

_LENGTH_UNITS = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
#: Largest marker coordinate taken as a position in a lab (m); beyond it the file is corrupt or in other units.
MAX_MARKER_M = 1e4


def read_trc(path: PathArg) -> Markers:
    """Read a TRC marker file into :class:`Markers` in the lab frame, in m.

    The file is assumed in the OpenSim convention (Y up, x forward, z right); ``Units`` (mm, cm, m)
    is honoured. Empty cells (marker gaps) become NaN. Raises :class:`DataFileError` on a malformed
    header, a marker-count or frame-count mismatch, non-numeric data, a time that is not finite and
    increasing, or an infinite or absurd coordinate (beyond :data:`MAX_MARKER_M`).
    """
    with _open(path) as (fh, size):
        lines: list[str] = []
        for i in range(5):
            raw = _readline(path, fh, i + 1)
            if not raw:
                break
            lines.append(_decode(raw))
        if len(lines) < 5 or not lines[0].startswith("PathFileType"):
            raise DataFileError(path, "not a TRC file (no 'PathFileType' line or fewer than 5 lines)")
        meta = dict(zip(lines[1].split(), lines[2].split(), strict=False))  # some writers double the tabs
        units = meta.get("Units", "mm").lower()
        if units not in _LENGTH_UNITS:
            raise DataFileError(path, f"unknown Units {_short(meta.get('Units', ''))} (expected mm, cm or m)")
        names = [s.strip() for s in lines[3].split("\t")[2:] if s.strip()]
        if 2 + 3 * len(names) > MAX_COLUMNS:
            raise DataFileError(path, f"{len(names):,} marker names, above mmbio's limit of {MAX_COLUMNS // 3:,}")
        if not all(s.isprintable() for s in names):
            raise DataFileError(path, "a marker name has control characters: not a text table header")
        try:
            n_markers = int(float(meta.get("NumMarkers", len(names))))
            n_frames = int(float(meta["NumFrames"])) if "NumFrames" in meta else None
        except (ValueError, OverflowError):
            raise DataFileError(path, "NumMarkers/NumFrames are not numbers") from None
        if n_markers != len(names):
            raise DataFileError(path, f"header says NumMarkers={n_markers} but {len(names)} marker names are listed")
        line_no = 5
        while True:  # blank lines before the data
            pos = fh.tell()
            raw = _readline(path, fh, line_no + 1)
            if raw.strip() or not raw or line_no > MAX_HEADER_LINES:
                fh.seek(pos)
                break
            line_no += 1
        k = 2 + 3 * len(names)
        data = _read_rows(path, fh, size, k, line_no + 1, tabbed=True)
    if n_frames is not None and n_frames != data.shape[0]:
        raise DataFileError(
            path,
            f"header says NumFrames={n_frames} but the file has {data.shape[0]} frames"
            + (" (truncated?)" if data.shape[0] < n_frames else ""),
        )
    t = data[:, 1]
    finite = np.isfinite(t)
    if not finite.all():
        i = int(np.argmin(finite))
        raise DataFileError(path, f"time is missing or not a finite number in frame row {i + 1}")
    pos = data[:, 2:] * _LENGTH_UNITS[units]
    ok = np.isnan(pos) | (np.abs(pos) <= MAX_MARKER_M)
    if not ok.all():
        i, j = np.unravel_index(int(np.argmin(ok)), ok.shape)
        raise DataFileError(
            path,
            f"marker {names[j // 3]!r} has {float(data[i, 2 + j])!r} {units} at t = {float(t[i]):.6g} s "
            f"(frame row {i + 1}): not a position in a lab (|x| ≤ {MAX_MARKER_M:g} m)",
        )
    pos = to_lab(pos.reshape(-1, 3), OPENSIM_TO_LAB).reshape(data.shape[0], len(names), 3)
    try:
        return Markers(t, pos, names)
    except MmbioError as e:
        raise DataFileError(path, str(e)) from None
