"""OpenSim files: storage/motion tables (.sto/.mot), TRC markers, and their mapping onto a :class:`Trial`.

Readers convert to the mmbio conventions (see :mod:`mmbio.trial`): lab frame x forward, y left,
z up (OpenSim is Y up; :data:`mmbio.io.axes.OPENSIM_TO_LAB`), angles in degrees with clinical signs.

Sign conventions of the OpenSim coordinates (gait2392 / Rajagopal 2016 family; ground_pelvis and back
are CustomJoints rotating about z (right), then x (forward), then y (up), in the body frame):

* ``pelvis_tilt``: about the right-pointing z axis; by the right-hand rule a positive angle lifts
  the front of the pelvis (x turns towards y), i.e. **posterior** tilt. Clinical anterior tilt = −pelvis_tilt.
* ``pelvis_list``: about the forward x axis; positive turns up (y) towards right (z), so the right
  side goes **down**. Clinical obliquity (right side up +) = −pelvis_list.
* ``pelvis_rotation``: about the vertical y axis; positive turns right (z) towards forward (x), so the
  right side goes **forward** = clinical pelvis rotation (+).
* ``lumbar_extension`` (about z): positive tilts the trunk backwards = extension (+).
  ``lumbar_bending`` (about x): positive tilts the trunk to the **right**, so clinical bending to the
  left = −lumbar_bending. ``lumbar_rotation`` (about y): positive turns the trunk's front to the left = (+).
* Hip flexion, adduction, internal rotation, ankle dorsiflexion, subtalar inversion and mtp extension
  are positive in both models (left-side axes are mirrored in the model). ``knee_angle`` is positive
  in flexion for Rajagopal's ``walker_knee`` and negative in flexion for gait2392 (Hamner 2013).

The pelvis signs are checked against the markers of the Rajagopal trial in the tests (ASIS heights).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmbio.errors import DataFileError, MmbioError
from mmbio.gait.events import detect_events, detect_events_combined
from mmbio.io.axes import OPENSIM_TO_LAB, to_lab
from mmbio.names import canonical_muscle
from mmbio.trial import SIDES, Channels, GroundReaction, Markers, Subject, Trial

PathArg = str | PathLike[str]
KneeSign = Literal["auto", 1, -1]

__all__ = [
    "OPENSIM_TO_CLINICAL",
    "Storage",
    "coordinate_degrees",
    "coordinates_to_angles",
    "read_opensim_activations",
    "read_opensim_emg",
    "read_opensim_grf",
    "read_opensim_trial",
    "read_storage",
    "read_trc",
    "write_opensim_trial",
    "write_storage",
]

# --------------------------------------------------------------------------------------------------
# Storage tables
# --------------------------------------------------------------------------------------------------

_SIMM_KEYS = frozenset({"name", "datacolumns", "datarows", "range", "otherdata", "wrapping", "keys"})
_ENDHEADER = re.compile(r"^[ \t]*endheader[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
_BAD_NAME = re.compile(r"[\t\r\n]")


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
        raise DataFileError(path, f"header {key}={value!r} is not an integer") from None


def _read_text(path: PathArg) -> str:
    p = Path(path)
    if not p.is_file():
        raise DataFileError(path, "no such file" if not p.exists() else "not a regular file")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataFileError(path, f"cannot read: {e.strerror or e}") from None
    if b"\x00" in raw:
        raise DataFileError(path, "binary data (NUL bytes): not a text table")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _diagnose_rows(path: PathArg, body: str, k: int, first_line: int) -> DataFileError | None:
    """Slow path: find the first malformed data row (wrong field count or non-numeric cell)."""
    row = 0
    for i, line in enumerate(body.splitlines()):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != k:
            return DataFileError(
                path, f"data row {row + 1} (line {first_line + i}) has {len(toks)} values, expected {k} (truncated?)"
            )
        for j, tok in enumerate(toks):
            try:
                float(tok)
            except ValueError:
                return DataFileError(
                    path, f"non-numeric value {tok!r} in data row {row + 1} (line {first_line + i}), column {j + 1}"
                )
        row += 1
    return None


def read_storage(path: PathArg) -> Storage:
    """Read an OpenSim ``.sto``/``.mot`` table (``version=1``/``version=3`` or the old SIMM header).

    Returns a :class:`Storage` with the values as stored (no degree conversion). Raises
    :class:`DataFileError` for a missing file, a missing ``endheader``, declared row/column counts
    that do not match the data (a truncated file), non-numeric cells, ragged rows, a first column
    other than time, non-increasing time or duplicate column names.
    """
    text = _read_text(path)
    m = _ENDHEADER.search(text)
    if m is None:
        raise DataFileError(path, "no 'endheader' line: not an OpenSim storage/motion file")
    header_lines = text[: m.start()].splitlines()
    rest = text[m.end() :]
    line_no = len(header_lines) + 1  # 1-based number of the endheader line
    # column names: first non-blank line after endheader
    pos = 0
    col_line = ""
    while pos < len(rest):
        nl = rest.find("\n", pos)
        end = len(rest) if nl < 0 else nl
        candidate = rest[pos:end].strip()
        pos = end + 1
        line_no += 1
        if candidate:
            col_line = candidate
            break
    if not col_line:
        raise DataFileError(path, "no column-name line after 'endheader'")
    body = rest[pos:] if pos <= len(rest) else ""

    name = ""
    header: dict[str, str] = {}
    comments: list[str] = []
    warnings: list[str] = []
    for i, raw_line in enumerate(header_lines):
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line)
        elif "=" in line:
            k, v = line.split("=", 1)
            header[k.strip()] = v.strip()
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

    in_degrees: bool | None = None
    if "inDegrees" in header:
        in_degrees = _parse_bool(header["inDegrees"])
        if in_degrees is None:
            warnings.append(f"unrecognised inDegrees={header['inDegrees']!r}")
    else:
        for c in comments:
            low = c.lower()
            if "angles are in degrees" in low:
                in_degrees = True
            elif "angles are in radians" in low:
                in_degrees = False

    columns = [c.strip() for c in (col_line.split("\t") if "\t" in col_line else col_line.split())]
    if any(not c for c in columns):
        raise DataFileError(path, "empty column name in the column-name line")
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise DataFileError(path, f"duplicate column names: {', '.join(dup)}")
    if columns[0].lower() != "time":
        raise DataFileError(path, f"first column must be 'time', got {columns[0]!r}")
    columns[0] = "time"
    k = len(columns)

    if body.strip():
        try:
            df = pd.read_csv(
                io.StringIO(body),
                sep=r"\s+",
                header=None,
                names=range(k),
                dtype=np.float64,
                engine="c",
                skip_blank_lines=True,
                quoting=csv.QUOTE_NONE,
            )
        except pd.errors.ParserError as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else "malformed data"
            raise DataFileError(path, f"data rows have more values than the {k} column names ({msg})") from None
        except (ValueError, OverflowError):
            raise _diagnose_rows(path, body, k, line_no + 1) or DataFileError(path, "malformed numeric data") from None
        data = df.to_numpy(dtype=float, copy=True)
        if np.isnan(data).any():  # NaN written in the file, or the missing cells of a short row
            err = _diagnose_rows(path, body, k, line_no + 1)
            if err is not None:
                raise err
    else:
        data = np.empty((0, k))

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
        warnings += [
            f"header {k2} {r2} disagrees with the {n} data rows; ignored" for k2, r2 in declared_rows[1:] if r2 != n
        ]
    for key in ("nColumns", "datacolumns"):
        if key in header and (cols := _parse_int(path, key, header[key])) != k:
            warnings.append(f"header says {key}={cols} but the column-name line and every data row have {k} columns")

    t = data[:, 0]
    if n > 1:
        bad = np.flatnonzero(~(np.diff(t) > 0))
        if bad.size:
            i = int(bad[0])
            raise DataFileError(
                path, f"time is not strictly increasing at data row {i + 2} ({t[i]!r} then {t[i + 1]!r})"
            )
    return Storage(
        name=name,
        header=header,
        columns=columns,
        data=data,
        in_degrees=in_degrees,
        comments=comments,
        warnings=warnings,
        path=str(path),
    )


def _check_name(label: str, what: str) -> None:
    if not label or label != label.strip() or _BAD_NAME.search(label):
        raise MmbioError(f"write_storage: invalid {what} {label!r} (empty, padded, or with tab/newline)")


def write_storage(
    path: PathArg, frame_or_storage: pd.DataFrame | Storage, *, in_degrees: bool, name: str | None = None
) -> Path:
    """Write an OpenSim 4 ``version=1`` table (tab-separated, full float precision).

    frame_or_storage: a :class:`Storage`, or a DataFrame with a ``time`` column or a time index
    (s, strictly increasing). ``in_degrees`` is written as the ``inDegrees`` flag; values are not
    converted. Returns the path written. Round-trips with :func:`read_storage`.
    """
    if isinstance(frame_or_storage, Storage):
        columns = list(frame_or_storage.columns)
        data = np.asarray(frame_or_storage.data, dtype=float)
        name = name if name is not None else frame_or_storage.name
    else:
        df = frame_or_storage
        if "time" in df.columns:
            cols = [str(c) for c in df.columns if c != "time"]
            t = df["time"].to_numpy(dtype=float)
            vals = df[[c for c in df.columns if c != "time"]].to_numpy(dtype=float)
        else:
            cols = [str(c) for c in df.columns]
            t = df.index.to_numpy(dtype=float)
            vals = df.to_numpy(dtype=float)
        columns = ["time", *cols]
        data = np.column_stack([t, vals.reshape(len(t), -1)])
    if data.ndim != 2 or data.shape[1] != len(columns):
        raise MmbioError(f"write_storage: data shape {data.shape} does not match {len(columns)} columns")
    for c in columns:
        _check_name(c, "column name")
    if len(set(columns)) != len(columns):
        raise MmbioError("write_storage: duplicate column names")
    if data.shape[0] > 1 and not np.all(np.diff(data[:, 0]) > 0):
        raise MmbioError("write_storage: time must be strictly increasing")
    name = (name or Path(path).stem or "mmbio").strip()
    first = name.split(None, 1)[0].lower() if name else ""
    if (
        not name
        or "=" in name
        or _BAD_NAME.search(name)
        or first in _SIMM_KEYS
        or first == "endheader"
        or name.startswith("#")
    ):
        name = "mmbio"
    n, k = data.shape
    head = (
        f"{name}\nversion=1\nnRows={n}\nnColumns={k}\ninDegrees={'yes' if in_degrees else 'no'}\nendheader\n"
        + "\t".join(columns)
        + "\n"
    )
    body = pd.DataFrame(data).to_csv(sep="\t", header=False, index=False, lineterminator="\n", na_rep="NaN")
    p = Path(path)
    p.write_text(head + body, encoding="utf-8")
    return p


# --------------------------------------------------------------------------------------------------
# TRC markers
# --------------------------------------------------------------------------------------------------

_LENGTH_UNITS = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}


def read_trc(path: PathArg) -> Markers:
    """Read a TRC marker file into :class:`Markers` in the lab frame, in m.

    The file is assumed in the OpenSim convention (Y up, x forward, z right); ``Units`` (mm, cm, m)
    is honoured. Empty cells (marker gaps) become NaN. Raises :class:`DataFileError` on a malformed
    header, a marker-count or frame-count mismatch, or non-numeric data.
    """
    text = _read_text(path)
    lines = text.splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise DataFileError(path, "not a TRC file (no 'PathFileType' line or fewer than 5 lines)")
    meta = dict(zip(lines[1].split(), lines[2].split(), strict=False))  # some writers double the tabs
    units = meta.get("Units", "mm").lower()
    if units not in _LENGTH_UNITS:
        raise DataFileError(path, f"unknown Units {meta.get('Units')!r} (expected mm, cm or m)")
    names = [s.strip() for s in lines[3].split("\t")[2:] if s.strip()]
    try:
        n_markers = int(float(meta.get("NumMarkers", len(names))))
        n_frames = int(float(meta["NumFrames"])) if "NumFrames" in meta else None
    except (ValueError, OverflowError):
        raise DataFileError(path, "NumMarkers/NumFrames are not numbers") from None
    if n_markers != len(names):
        raise DataFileError(path, f"header says NumMarkers={n_markers} but {len(names)} marker names are listed")
    start = 5
    while start < len(lines) and not lines[start].strip():
        start += 1
    body = "\n".join(lines[start:])
    k = 2 + 3 * len(names)
    if body.strip():
        try:
            df = pd.read_csv(
                io.StringIO(body),
                sep="\t",
                header=None,
                names=range(k),
                usecols=range(k),
                dtype=np.float64,
                engine="c",
                quoting=csv.QUOTE_NONE,
            )
        except (ValueError, OverflowError):
            raise DataFileError(path, "non-numeric or malformed marker data") from None
        data = df.to_numpy(dtype=float)
    else:
        data = np.empty((0, k))
    if n_frames is not None and n_frames != data.shape[0]:
        raise DataFileError(
            path,
            f"header says NumFrames={n_frames} but the file has {data.shape[0]} frames"
            + (" (truncated?)" if data.shape[0] < n_frames else ""),
        )
    pos = data[:, 2:].reshape(-1, 3) * _LENGTH_UNITS[units]
    pos = to_lab(pos, OPENSIM_TO_LAB).reshape(data.shape[0], len(names), 3)
    try:
        return Markers(data[:, 1], pos, names)
    except MmbioError as e:
        raise DataFileError(path, str(e)) from None


# --------------------------------------------------------------------------------------------------
# Coordinates → clinical angles
# --------------------------------------------------------------------------------------------------

#: OpenSim coordinate (without side) → (clinical angle, sign); knee sign depends on the model.
OPENSIM_TO_CLINICAL: dict[str, tuple[str, int]] = {
    "pelvis_tilt": ("pelvis_tilt", -1),
    "pelvis_list": ("pelvis_obliquity", -1),
    "pelvis_rotation": ("pelvis_rotation", 1),
    "hip_flexion": ("hip_flexion", 1),
    "hip_adduction": ("hip_adduction", 1),
    "hip_rotation": ("hip_rotation", 1),
    "knee_angle": ("knee_flexion", 1),
    "ankle_angle": ("ankle_dorsiflexion", 1),
    "subtalar_angle": ("subtalar_inversion", 1),
    "mtp_angle": ("mtp_extension", 1),
    "lumbar_extension": ("lumbar_extension", 1),
    "lumbar_bending": ("lumbar_bending", -1),
    "lumbar_rotation": ("lumbar_rotation", 1),
}
_CLINICAL_TO_OPENSIM = {v[0]: (k, v[1]) for k, v in OPENSIM_TO_CLINICAL.items()}
_BODY_COORDS = frozenset(
    {"pelvis_tilt", "pelvis_list", "pelvis_rotation", "lumbar_extension", "lumbar_bending", "lumbar_rotation"}
)
_KNOWN_UNMAPPED = re.compile(
    r"^(pelvis_t[xyz]|knee_angle_[rl]_beta|(arm_flex|arm_add|arm_rot|elbow_flex|pro_sup|wrist_flex|wrist_dev)_[rl])$"
)
_TRANSLATION = re.compile(r"(^|_)t[xyz]$")


def _bare_name(column: str) -> str | None:
    """``'/jointset/hip_r/hip_flexion_r/value'`` → ``'hip_flexion_r'``; speeds → ``None``."""
    if not column.startswith("/"):
        return column
    parts = [p for p in column.split("/") if p]
    if len(parts) >= 2 and parts[-1] == "value":
        return parts[-2]
    return None if parts and parts[-1] in ("speed", "accel", "acceleration") else column


def _split_coord(bare: str) -> tuple[str, str | None]:
    """``'hip_flexion_r'`` → ``('hip_flexion', 'r')``; body coordinates → ``(name, None)``."""
    if bare in _BODY_COORDS:
        return bare, None
    m = re.fullmatch(r"(.+)_([rl])", bare)
    return (m.group(1), m.group(2)) if m else (bare, None)


def coordinate_degrees(storage: Storage, notes: list[str] | None = None) -> pd.DataFrame:
    """All coordinate values of a kinematics table with bare names; rotations in deg, translations in m.

    Speed columns of OpenSim-4 state tables are dropped. The patella trap is handled: in a radian
    file (``inDegrees=no``) a rotational column with values beyond 2π in magnitude (the Rajagopal
    ``knee_angle_*_beta`` columns) is already in degrees and is left as it is (noted). When the header
    has no ``inDegrees``, a SIMM header means degrees; otherwise values beyond 2π mean degrees.
    Index: ``time`` (s).
    """
    notes = notes if notes is not None else []
    cols: dict[str, np.ndarray] = {}
    for c in storage.columns[1:]:
        bare = _bare_name(c)
        if bare is None:
            continue
        if bare in cols:
            raise DataFileError(storage.path or storage.name, f"coordinate {bare!r} appears twice")
        cols[bare] = storage.column(c)
    rot = [c for c in cols if not _TRANSLATION.search(c)]
    in_deg = storage.in_degrees
    if in_deg is None:
        big = max((float(np.nanmax(np.abs(cols[c]), initial=0.0)) for c in rot), default=0.0)
        simm = "datacolumns" in storage.header
        in_deg = simm or big > 2 * math.pi
        why = "SIMM header" if simm else f"largest rotational |value| {big:.3g}"
        notes.append(
            f"{Path(storage.path).name or storage.name}: no inDegrees in the header; assumed "
            f"{'degrees' if in_deg else 'radians'} ({why})"
        )
    out = {}
    for c, v in cols.items():
        if c in rot and not in_deg:
            peak = float(np.nanmax(np.abs(v), initial=0.0))
            if peak > 2 * math.pi:
                notes.append(f"{c}: values up to {peak:.1f} in a radian file: already in degrees, not converted")
                out[c] = v.copy()
            else:
                out[c] = np.degrees(v)
        else:
            out[c] = v.copy()
    return pd.DataFrame(out, index=pd.Index(storage.time.copy(), name="time"))


def _auto_knee_sign(values: list[np.ndarray], notes: list[str], joint_hint: str = "") -> int:
    """+1 when the large knee angles (top 5 % of |angle|) are positive, else −1."""
    v = np.concatenate([np.asarray(a, dtype=float).ravel() for a in values]) if values else np.empty(0)
    v = v[np.isfinite(v)]
    if v.size == 0:
        notes.append("knee sign: no knee data; assumed +1 (flexion positive)")
        return 1
    mag = np.abs(v)
    large = v[mag >= np.quantile(mag, 0.95)]
    p95 = float(np.quantile(mag, 0.95))
    sign = 1 if float(np.median(large)) > 0 else -1
    detail = f"95th percentile of |knee_angle| = {p95:.1f} deg with median sign {'+' if sign > 0 else '-'}"
    if p95 < 10:
        notes.append(f"knee sign: ambiguous ({detail}); assumed {sign:+d}")
    else:
        notes.append(f"knee sign auto-detected as {sign:+d} ({detail}){joint_hint}")
    return sign


def coordinates_to_angles(
    storage: Storage, *, knee_sign: KneeSign = "auto", strict: bool = False, notes: list[str] | None = None
) -> tuple[Channels, pd.DataFrame]:
    """Clinical joint angles (deg, :data:`mmbio.trial.CLINICAL_ANGLES`) from an OpenSim coordinates table.

    Returns ``(angles, extra)``: ``extra`` holds the known but unmapped coordinates (pelvis
    translations in m, arm and patella angles in deg). Unknown columns raise :class:`DataFileError`
    when ``strict``, else are ignored with a note. Decisions (knee sign, units) go to ``notes``.
    """
    notes = notes if notes is not None else []
    path = storage.path or storage.name
    coords = coordinate_degrees(storage, notes)
    mapped: list[tuple[str, str, str, str | None]] = []  # (column, clinical base, opensim base, side)
    extra: list[str] = []
    unknown: list[str] = []
    for c in coords.columns:
        base, side = _split_coord(c)
        if base in OPENSIM_TO_CLINICAL and (side is not None or base in _BODY_COORDS):
            mapped.append((c, OPENSIM_TO_CLINICAL[base][0], base, side))
        elif _KNOWN_UNMAPPED.match(c):
            extra.append(c)
        else:
            unknown.append(c)
    if unknown:
        if strict:
            raise DataFileError(path, f"unknown coordinate columns: {', '.join(unknown)}")
        notes.append(f"ignored unknown columns: {', '.join(unknown)}")
    knee_cols = [c for c, _, base, _ in mapped if base == "knee_angle"]
    if knee_sign == "auto":
        hint = ""
        if any("walker_knee" in c for c in storage.columns):
            hint = "; the joint is Rajagopal's walker_knee (flexion +)"
        k_sign = _auto_knee_sign([coords[c].to_numpy() for c in knee_cols], notes, hint) if knee_cols else 1
    elif knee_sign in (1, -1):
        k_sign = int(knee_sign)
        if knee_cols:
            notes.append(f"knee sign {k_sign:+d} given by the caller")
    else:
        raise MmbioError(f"knee_sign must be 'auto', 1 or -1, got {knee_sign!r}")
    names, values = [], []
    for c, clin, base, side in mapped:
        sign = k_sign if base == "knee_angle" else OPENSIM_TO_CLINICAL[base][1]
        names.append(clin if side is None else f"{clin}_{side}")
        values.append(sign * coords[c].to_numpy())
    t = coords.index.to_numpy(dtype=float)
    angles = Channels(t, np.column_stack(values) if values else np.empty((t.size, 0)), names, ["deg"] * len(names))
    return angles, coords[extra]


def _speed_from_pelvis(t: np.ndarray, tx: np.ndarray, notes: list[str]) -> float:
    ok = np.isfinite(t) & np.isfinite(tx)
    if ok.sum() < 2 or np.ptp(t[ok]) <= 0:
        notes.append("speed: too few pelvis_tx samples; speed unknown")
        return float("nan")
    slope = float(np.polyfit(t[ok], tx[ok], 1)[0])
    if abs(slope) < 0.2:
        notes.append(
            f"speed: pelvis_tx is nearly constant (slope {slope:.3f} m/s, treadmill?); speed unknown, pass speed_m_s="
        )
        return float("nan")
    if slope < 0:
        notes.append(f"speed: pelvis_tx decreases ({slope:.3f} m/s): the subject walks along -x of the lab")
    else:
        notes.append(f"speed {slope:.3f} m/s from the pelvis_tx slope")
    return abs(slope)


# --------------------------------------------------------------------------------------------------
# Ground reaction forces
# --------------------------------------------------------------------------------------------------

_GRF_COL = re.compile(r"^(?P<pre>.*?)_?ground_(?P<kind>force|torque)(?P<mid>(_[^_]+)*?)_(?P<comp>v[xyz]|p[xyz]|[xyz])$")
_SIDE_WORDS = {"r": "r", "right": "r", "l": "l", "left": "l"}


def read_opensim_grf(
    path: PathArg, *, threshold_n: float = 20.0, notes: list[str] | None = None
) -> dict[str, GroundReaction]:
    """Ground reactions from an OpenSim GRF ``.mot``, per foot (``'r'``/``'l'``) or per plate.

    Column styles: ``ground_force_r_vx`` …, ``R_ground_force_vx`` …, or ``ground_force_vx`` +
    ``1_ground_force_vx`` pairs (two unsided sets are assigned to feet by their mean lateral COP:
    the more rightward one is ``'r'``; more sets are returned as ``'plate<key>'``). Force (N) and COP
    (m) are rotated from Y-up into the lab frame (:data:`OPENSIM_TO_LAB`); the free torque about
    OpenSim y becomes the free moment about lab z (N·m). COP is NaN where |Fz| < ``threshold_n``.
    """
    notes = notes if notes is not None else []
    st = read_storage(path)
    notes += [f"{Path(path).name}: {w}" for w in st.warnings]
    groups: dict[str, dict[str, np.ndarray]] = {}
    other = []
    for j, c in enumerate(st.columns[1:], start=1):
        m = _GRF_COL.match(c.lower())
        if not m:
            other.append(c)
            continue
        key = "_".join([s for s in (m["pre"].strip("_"), m["mid"].strip("_")) if s])
        comp = m["comp"] if m["kind"] == "force" else "m" + m["comp"]
        groups.setdefault(key, {})[comp] = st.data[:, j]
    if not groups:
        raise DataFileError(path, "no ground_force_* columns found")
    if other:
        notes.append(f"{Path(path).name}: ignored non-GRF columns {', '.join(other)}")
    t = st.time
    n = t.size
    out: dict[str, GroundReaction] = {}
    unsided: dict[str, GroundReaction] = {}
    flipped = False
    for key, g in groups.items():
        missing = [c for c in ("vx", "vy", "vz", "px", "py", "pz") if c not in g]
        if missing:
            raise DataFileError(path, f"ground force set {key or '(unnamed)'!r} lacks {', '.join(missing)}")
        f_os = np.column_stack([g["vx"], g["vy"], g["vz"]])
        p_os = np.column_stack([g["px"], g["py"], g["pz"]])
        mz = g.get("my", np.zeros(n))
        force = to_lab(f_os, OPENSIM_TO_LAB)
        cop = to_lab(p_os, OPENSIM_TO_LAB)
        lo, hi = (np.nanmin(force[:, 2]), np.nanmax(force[:, 2])) if n else (0.0, 0.0)
        if -lo > hi and -lo > threshold_n:  # stored as the force of the foot on the ground
            force, mz, flipped = -force, -mz, True
        cop[np.abs(force[:, 2]) < threshold_n] = np.nan
        gr = GroundReaction(t.copy(), force, cop, mz.copy())
        side = _SIDE_WORDS.get(key.lower())
        if side is not None and side not in out:
            out[side] = gr
        else:
            unsided[key] = gr
    if flipped:
        notes.append(f"{Path(path).name}: vertical force was negative while loaded; sign flipped to ground-on-foot")
    if len(unsided) == 2 and not out:
        (k1, g1), (k2, g2) = unsided.items()
        y1, y2 = float(np.nanmean(g1.cop[:, 1])), float(np.nanmean(g2.cop[:, 1]))
        if np.isfinite(y1) and np.isfinite(y2) and y1 != y2:
            right, left = (k1, k2) if y1 < y2 else (k2, k1)  # lab y points left
            out = {"r": unsided[right], "l": unsided[left]}
            notes.append(
                f"{Path(path).name}: force sets {right or '(unprefixed)'!r}/{left or '(unprefixed)'!r} "
                "assigned to right/left by mean lateral COP"
            )
            unsided = {}
    for key, gr in unsided.items():
        out[f"plate{key}"] = gr
    return out


# --------------------------------------------------------------------------------------------------
# EMG and activations
# --------------------------------------------------------------------------------------------------


def _label_side(label: str) -> tuple[str, str | None]:
    low = label.strip()
    m = re.fullmatch(r"(?i)(r|l|right|left)[_ ](.+)", low) or re.fullmatch(r"(?i)(.+?)[_ ](r|l|right|left)", low)
    if not m:
        return low, None
    a, b = m.groups()
    if a.lower() in _SIDE_WORDS:
        return b, _SIDE_WORDS[a.lower()]
    return a, _SIDE_WORDS[b.lower()]


def read_opensim_emg(
    path: PathArg, *, side: Literal["r", "l"] = "r", units: str = "fraction of max", notes: list[str] | None = None
) -> Channels:
    """EMG envelopes from an OpenSim ``.sto``: channels ``<canonical muscle>_<side>``.

    Names go through :func:`mmbio.names.canonical_muscle`; the side comes from the label
    (``R_``/``_l``…) or else from ``side``. Labels that are not known muscles keep their
    lower-case label (noted). ``units``: ``'fraction of max'`` for normalised envelopes.
    """
    notes = notes if notes is not None else []
    st = read_storage(path)
    notes += [f"{Path(path).name}: {w}" for w in st.warnings]
    names, unknown = [], []
    for c in st.columns[1:]:
        label, s = _label_side(_bare_name(c) or c)
        canon = canonical_muscle(label)
        if canon is None:
            canon = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
            unknown.append(c)
        names.append(f"{canon}_{s or side}")
    if unknown:
        notes.append(f"{Path(path).name}: EMG labels not in mmbio.names kept as given: {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise DataFileError(path, f"EMG columns map to duplicate muscles: {names}")
    return Channels(st.time.copy(), st.data[:, 1:].copy(), names, [units] * len(names))


def read_opensim_activations(path: PathArg) -> Channels:
    """Muscle activations (unit ``'1'``) from an OpenSim ``.sto`` (bare names or ``/forceset/<m>/activation``)."""
    st = read_storage(path)
    names = []
    for c in st.columns[1:]:
        parts = [p for p in c.split("/") if p]
        names.append(parts[-2] if c.startswith("/") and len(parts) >= 2 else c)
    if len(set(names)) != len(names):
        raise DataFileError(path, "activation columns map to duplicate names")
    return Channels(st.time.copy(), st.data[:, 1:].copy(), names, ["1"] * len(names))


# --------------------------------------------------------------------------------------------------
# Trials
# --------------------------------------------------------------------------------------------------


def read_opensim_trial(
    kinematics: PathArg,
    grf: PathArg | None = None,
    emg: PathArg | None = None,
    *,
    activations: PathArg | None = None,
    mass_kg: float | None = None,
    speed_m_s: float | None = None,
    knee_sign: KneeSign = "auto",
    strict: bool = False,
    emg_side: Literal["r", "l"] = "r",
    name: str | None = None,
) -> Trial:
    """A :class:`Trial` from OpenSim IK coordinates (+ optional GRF ``.mot`` and EMG ``.sto``).

    Angles: clinical, deg (see :func:`coordinates_to_angles`). Mass: from ``mass_kg`` only (NaN and
    a note otherwise; body-weight normalisation is then unavailable). Speed: ``speed_m_s``, else the
    slope of ``pelvis_tx`` (NaN with a note when it is about constant, as on a treadmill). Events:
    detected from the per-foot GRF (:func:`mmbio.gait.events.detect_events`), or, when the file has
    one force set under both feet, from its centre of pressure
    (:func:`mmbio.gait.events.detect_events_combined`). A file without any recognised joint-angle
    column raises :class:`DataFileError`.
    """
    notes: list[str] = []
    st = read_storage(kinematics)
    notes += [f"{Path(kinematics).name}: {w}" for w in st.warnings]
    angles, extra = coordinates_to_angles(st, knee_sign=knee_sign, strict=strict, notes=notes)
    if len(angles) == 0:
        raise DataFileError(
            kinematics, f"no recognised joint-angle columns (found: {', '.join(st.columns[1:]) or 'none'})"
        )
    subject = Subject(name=st.name)
    if mass_kg is not None:
        subject.mass_kg = float(mass_kg)
    else:
        notes.append("no body mass given: body-weight-normalised values are unavailable")
    if speed_m_s is not None:
        subject.speed_m_s = float(speed_m_s)
    elif "pelvis_tx" in extra.columns:
        subject.speed_m_s = _speed_from_pelvis(extra.index.to_numpy(), extra["pelvis_tx"].to_numpy(), notes)
    else:
        notes.append("speed unknown: no pelvis_tx column and no speed_m_s")
    trial = Trial(
        name=name or Path(kinematics).stem,
        source=str(kinematics),
        kind="measured",
        subject=subject,
        angles=angles,
        notes=notes,
    )
    if grf is not None:
        feet = read_opensim_grf(grf, notes=notes)
        trial.grf = {s: g for s, g in feet.items() if s in SIDES}
        trial.plates = [g for s, g in feet.items() if s not in SIDES]
        if trial.grf:
            trial.events = detect_events(trial.grf)
        elif len(trial.plates) == 1:
            trial.events = detect_events_combined(trial.plates[0])
            notes.append(
                "one force set for both feet (single plate or belt): events from its centre of pressure; "
                "per-foot GRF unavailable"
            )
    if emg is not None:
        trial.emg = read_opensim_emg(emg, side=emg_side, notes=notes)
    if activations is not None:
        trial.activations = read_opensim_activations(activations)
        trial.kind = "simulated"
    return trial


def _on_time(g: GroundReaction, t: np.ndarray) -> np.ndarray:
    """(n, 7) force, COP (NaN → 0) and free moment of ``g`` on time base ``t``."""
    cols = np.column_stack([g.force, np.nan_to_num(g.cop, nan=0.0), g.free_moment])
    if g.time.size == t.size and np.array_equal(g.time, t):
        return cols
    return np.column_stack([np.interp(t, g.time, cols[:, j], left=0.0, right=0.0) for j in range(cols.shape[1])])


def write_opensim_trial(trial: Trial, directory: PathArg) -> dict[str, Path]:
    """Write a trial as OpenSim files in ``directory`` (created); returns ``{'coordinates'|'grf'|'emg'|'activations': path}``.

    * ``coordinates.mot``: clinical angles back to OpenSim names and signs (Rajagopal convention:
      knee flexion +), ``inDegrees=yes``; angles without an OpenSim counterpart are skipped.
    * ``grf.mot``: ``ground_force_{r,l}_v{x,y,z}``, ``_p{x,y,z}``, ``ground_torque_{r,l}_{x,y,z}``, Y up;
      NaN COP written as 0; the left foot is interpolated onto the right foot's time base if they differ.
    * ``emg.sto`` / ``activations.sto``: channels as named in the trial, ``inDegrees=no``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    c_inv = OPENSIM_TO_LAB.T
    if trial.angles is not None and len(trial.angles):
        cols, vals = [], []
        for nm in trial.angles.names:
            base, side = (nm, None) if nm in _CLINICAL_TO_OPENSIM else _split_coord(nm)
            if base not in _CLINICAL_TO_OPENSIM:
                continue
            os_base, sign = _CLINICAL_TO_OPENSIM[base]
            cols.append(os_base if side is None else f"{os_base}_{side}")
            vals.append(sign * trial.angles[nm])
        if cols:
            df = pd.DataFrame(np.column_stack(vals), index=trial.angles.time, columns=cols)
            out["coordinates"] = write_storage(d / "coordinates.mot", df, in_degrees=True, name="coordinates")
    if trial.grf:
        sides = [s for s in SIDES if s in trial.grf]
        t = trial.grf[sides[0]].time
        frames = {}
        for s in sides:
            a = _on_time(trial.grf[s], t)
            f_os, p_os = to_lab(a[:, 0:3], c_inv), to_lab(a[:, 3:6], c_inv)
            z = np.zeros(t.size)
            block = np.column_stack([f_os, p_os, z, a[:, 6], z])
            labels = [f"ground_force_{s}_v{c}" for c in "xyz"] + [f"ground_force_{s}_p{c}" for c in "xyz"]
            labels += [f"ground_torque_{s}_{c}" for c in "xyz"]
            frames.update(dict(zip(labels, block.T, strict=True)))
        out["grf"] = write_storage(d / "grf.mot", pd.DataFrame(frames, index=t), in_degrees=False, name="grf")
    for key in ("emg", "activations"):
        ch: Channels | None = getattr(trial, key)
        if ch is not None and len(ch):
            out[key] = write_storage(d / f"{key}.sto", ch.to_frame(), in_degrees=False, name=key)
    return out
