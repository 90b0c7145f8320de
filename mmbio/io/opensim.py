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

Threat model / what is checked. The text-level bounds (file size, header and line lengths, column counts, ragged
rows, binary or non-UTF-8 bytes, time finite and strictly increasing, streaming parse) are those of
:mod:`mmbio.io.opensim_table`. This module judges the *values* of the columns it uses, because a number that
parses can still be wrong, and a wrong number that passes silently changes a correlation or an RMSE:

* Non-finite or absurd values in a used column are refused, with the column and the time of the first bad sample:
  joint angles must be finite and within ±360 (in degrees or radians), pelvis translations within ±10 km, GRF
  forces finite and within ±100 kN (COP finite and within ±100 m while the foot is loaded; an unloaded COP is
  ignored, as it is NaN'd anyway), the free moment within ±10 kN·m, EMG finite and within ±10⁶, activations
  within −0.05…1.05. Refusing rather than dropping samples: a gap in a cycle cannot be filled without inventing
  data, and dropping frames would silently change the cycle timing; the fix (trim or fill) belongs to whoever
  exported the file, and the message says where to look. Columns that mmbio ignores (unknown names, GRF
  torques about x and z) are not judged.
* Units against the header: in a radian file (``inDegrees=no``) a joint angle beyond 2π is refused as "looks like
  degrees", except the patella ``*_beta`` columns, which Rajagopal-model files store in degrees whatever the header
  says (kept unconverted, with a note, as before). In a degree file (``inDegrees=yes``, or a SIMM header) a trial
  whose every joint angle stays within ±2π although it has a knee column (≈ 60° of range over a stride, ≥ 20° in a
  single stance) is refused as "looks like radians"; without a knee column the values cannot tell. Both messages
  say which header line to fix. Refusing rather than converting: a guess that is wrong either way scales every
  angle by 57, and the fix is one header line that the user can check.
* Time: a trial file needs at least two samples and a median step of at most 0.2 s (a coarser step is a time
  column in ms); GRF, EMG and activation files must overlap the kinematics in time (refused when they do not, a
  note when they cover only part of it). Body mass and speed must be finite and plausible.
* Lists of column names in notes and messages are shortened, so a file with 20 000 unknown columns cannot flood
  a report or a terminal.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mmbio.errors import DataFileError, MmbioError
from mmbio.gait.events import detect_events, detect_events_combined
from mmbio.io.axes import OPENSIM_TO_LAB, to_lab
from mmbio.io.opensim_table import Storage, read_storage, read_trc
from mmbio.io.opensim_write import write_opensim_trial, write_storage, write_trc
from mmbio.names import canonical_muscle
from mmbio.trial import PELVIS_POSITION, SIDES, Channels, GroundReaction, Subject, Trial

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
    "write_trc",
]

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


# Plausibility bounds of the values mmbio uses (see the module docstring): beyond them a number is corrupt data or
# in other units than the file says.
MAX_ANGLE = 360.0  # |joint angle| in degrees; in radians the bound is 2π (a larger value looks like degrees)
MAX_TRANSLATION_M = 1e4
MAX_FORCE_N = 1e5
MAX_COP_M = 100.0
MAX_MOMENT_NM = 1e4
MAX_EMG = 1e6
ACTIVATION_RANGE = (-0.05, 1.05)
MAX_MASS_KG = 1000.0
MAX_SPEED_M_S = 20.0
#: Coarsest median time step of a trial file (s): 5 Hz; a coarser one is a time column in ms.
MAX_TIME_STEP_S = 0.2
_PATELLA = re.compile(r"_beta$")  # coupled patella coordinates: stored in degrees even in a radian file
_SENTINEL = "knee_angle"  # ≥ 20° of range in any gait trial, even a single stance; ≈ 60° over a stride


def _names(items: list[str], limit: int = 8) -> str:
    """``'a, b, c'``, shortened to ``limit`` names: a file's column list must not flood a note or a terminal."""
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit:,} more)" if len(items) > limit else "")


def _check_values(
    path: PathArg,
    time: np.ndarray,
    column: str,
    values: np.ndarray,
    lo: float,
    hi: float,
    what: str,
    where: np.ndarray | None = None,
) -> None:
    """Refuse the first sample of ``values`` (rows ``where``, default all) that is NaN, infinite or outside [lo, hi]."""
    ok = (values >= lo) & (values <= hi)  # False for NaN
    if where is not None:
        ok |= ~where
    if ok.all():
        return
    i = int(np.argmin(ok))
    v = float(values[i])
    if math.isnan(v):
        why = "is not a number (NaN): mmbio does not analyse gaps; fill or trim the file"
    elif math.isinf(v):
        why = f"is infinite: not {what}"
    else:
        why = f"is outside {lo:g}…{hi:g}: not {what}"
    raise DataFileError(path, f"column {column!r}: {v!r} at t = {float(time[i]):.6g} s (data row {i + 1}) {why}")


def _check_time_base(path: PathArg, time: np.ndarray, what: str) -> None:
    """A trial file's time: at least two samples, at a plausible rate (read_storage made it finite and increasing)."""
    if time.size < 2:
        n = "no data rows" if time.size == 0 else "only one data row"
        raise DataFileError(path, f"{n}: {what} need a time series of at least two samples")
    step = float(np.median(np.diff(time)))
    if step > MAX_TIME_STEP_S:
        raise DataFileError(
            path,
            f"the median time step is {step:.4g} s ({1 / step:.3g} Hz), too coarse for {what} of gait "
            f"(at least {1 / MAX_TIME_STEP_S:g} Hz): is the time column in milliseconds?",
        )


def _classify(bare: str) -> str:
    """``'mapped'`` (a clinical joint angle), ``'extra'`` (known but not mapped) or ``'unknown'``."""
    base, side = _split_coord(bare)
    if base in OPENSIM_TO_CLINICAL and (side is not None or base in _BODY_COORDS):
        return "mapped"
    return "extra" if _KNOWN_UNMAPPED.match(bare) else "unknown"


def _peak(v: np.ndarray) -> float:
    return float(np.nanmax(np.abs(v), initial=0.0))


def coordinate_degrees(storage: Storage, notes: list[str] | None = None) -> pd.DataFrame:
    """All coordinate values of a kinematics table with bare names; rotations in deg, translations in m.

    Speed columns of OpenSim-4 state tables are dropped. The patella trap is handled: in a radian
    file (``inDegrees=no``) a ``*_beta`` column with values beyond 2π in magnitude (the Rajagopal
    ``knee_angle_*_beta`` columns) is already in degrees and is left as it is (noted). When the header
    has no ``inDegrees``, a SIMM header means degrees; otherwise values beyond 2π mean degrees.
    Index: ``time`` (s).

    The recognised coordinates (joint angles, pelvis translations, arm and patella angles; not unknown
    columns, which are ignored downstream) must be finite and plausible, and must agree with the header's
    units: :class:`DataFileError` otherwise (see the module docstring).
    """
    notes = notes if notes is not None else []
    path = storage.path or storage.name
    fname = Path(storage.path).name or storage.name
    cols: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}  # bare name → the file's column name
    for c in storage.columns[1:]:
        bare = _bare_name(c)
        if bare is None:
            continue
        if bare in cols:
            raise DataFileError(path, f"coordinate {bare!r} appears twice")
        cols[bare] = storage.column(c)
        source[bare] = c
    t = storage.time
    kind = {c: _classify(c) for c in cols}
    rot = [c for c in cols if not _TRANSLATION.search(c)]
    for c in cols:
        if kind[c] == "unknown":
            continue
        if c in rot:  # beyond 360 is no angle in degrees nor in radians
            _check_values(path, t, source[c], cols[c], -MAX_ANGLE, MAX_ANGLE, "a joint angle in degrees or radians")
        else:
            _check_values(path, t, source[c], cols[c], -MAX_TRANSLATION_M, MAX_TRANSLATION_M, "a translation in m")
    # the columns that decide and must agree with the units: recognised rotations, except the patella quirk
    judged = [c for c in rot if kind[c] != "unknown" and not _PATELLA.search(c)]
    in_deg = storage.in_degrees
    if "inDegrees" in storage.header:
        said = f"the header says inDegrees={storage.header['inDegrees']}"
    else:
        said = f"the header says angles are in {'degrees' if in_deg else 'radians'}"
    if in_deg is None:
        basis = judged or [c for c in rot if not _PATELLA.search(c)]
        big = max((_peak(cols[c]) for c in basis), default=0.0)
        simm = "datacolumns" in storage.header
        in_deg = simm or big > 2 * math.pi
        why = "SIMM header" if simm else f"largest rotational |value| {big:.3g}"
        notes.append(f"{fname}: no inDegrees in the header; assumed {'degrees' if in_deg else 'radians'} ({why})")
        said = "the SIMM header (no inDegrees) means degrees" if simm else ""
    if not in_deg:
        for c in judged:
            peak = _peak(cols[c])
            if peak > 2 * math.pi:
                i = int(np.nanargmax(np.abs(cols[c])))
                raise DataFileError(
                    path,
                    f"{said} but {source[c]!r} reaches {float(cols[c][i]):.4g} at t = {float(t[i]):.6g} s, "
                    f"{math.degrees(peak):.0f}° as radians: the values look like degrees; if so, set inDegrees=yes "
                    "in the header",
                )
    elif said:  # degrees by the header (or a SIMM header), not by the values
        mapped = [c for c in judged if kind[c] == "mapped"]
        sentinels = [c for c in mapped if _split_coord(c)[0] == _SENTINEL]
        peak = max((_peak(cols[c]) for c in mapped), default=0.0)
        if sentinels and t.size >= 2 and peak <= 2 * math.pi:
            s0 = max(sentinels, key=lambda c: float(np.ptp(cols[c])))
            raise DataFileError(
                path,
                f"{said} but every joint angle stays within ±{peak:.3g} ({source[s0]!r} spans "
                f"{float(np.ptp(cols[s0])):.3g}, a knee spans ≥ 20° in any gait trial): the values look like radians; "
                "if so, set inDegrees=no in the header",
            )
    out = {}
    for c, v in cols.items():
        if c in rot and not in_deg:
            peak = _peak(v)
            if peak > 2 * math.pi:  # a patella *_beta column (or an unknown one, ignored downstream)
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
        kind = _classify(c)
        if kind == "mapped":
            base, side = _split_coord(c)
            mapped.append((c, OPENSIM_TO_CLINICAL[base][0], base, side))
        elif kind == "extra":
            extra.append(c)
        else:
            unknown.append(c)
    if unknown:
        if strict:
            raise DataFileError(path, f"unknown coordinate columns: {_names(unknown)}")
        notes.append(f"ignored unknown columns: {_names(unknown)}")
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
    names: dict[tuple[str, str], str] = {}  # (set, component) → the file's column name
    other = []
    for j, c in enumerate(st.columns[1:], start=1):
        m = _GRF_COL.match(c.lower())
        if not m:
            other.append(c)
            continue
        key = "_".join([s for s in (m["pre"].strip("_"), m["mid"].strip("_")) if s])
        comp = m["comp"] if m["kind"] == "force" else "m" + m["comp"]
        groups.setdefault(key, {})[comp] = st.data[:, j]
        names[key, comp] = c
    if not groups:
        raise DataFileError(path, "no ground_force_* columns found")
    if other:
        notes.append(f"{Path(path).name}: ignored non-GRF columns {_names(other)}")
    t = st.time
    n = t.size
    _check_time_base(path, t, "ground reaction forces")
    out: dict[str, GroundReaction] = {}
    unsided: dict[str, GroundReaction] = {}
    flipped = False
    for key, g in groups.items():
        missing = [c for c in ("vx", "vy", "vz", "px", "py", "pz") if c not in g]
        if missing:
            raise DataFileError(path, f"ground force set {key or '(unnamed)'!r} lacks {', '.join(missing)}")
        for c in ("vx", "vy", "vz"):
            _check_values(path, t, names[key, c], g[c], -MAX_FORCE_N, MAX_FORCE_N, "a ground reaction force in N")
        if "my" in g:
            _check_values(path, t, names[key, "my"], g["my"], -MAX_MOMENT_NM, MAX_MOMENT_NM, "a free moment in N·m")
        loaded = np.abs(g["vy"]) >= threshold_n  # OpenSim y is up; an unloaded COP is discarded below
        for c in ("px", "py", "pz"):
            _check_values(
                path, t, names[key, c], g[c], -MAX_COP_M, MAX_COP_M, "a centre of pressure in m (mm?)", loaded
            )
        f_os = np.column_stack([g["vx"], g["vy"], g["vz"]])
        p_os = np.column_stack([g["px"], g["py"], g["pz"]])
        p_os[~loaded] = np.nan  # an unloaded COP is meaningless (and may be inf); NaN'd below in any case
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
        notes.append(f"{Path(path).name}: EMG labels not in mmbio.names kept as given: {_names(unknown)}")
    dup = sorted(n for n, count in Counter(names).items() if count > 1)
    if dup:
        raise DataFileError(path, f"EMG columns map to duplicate muscles: {_names(dup)}")
    _check_time_base(path, st.time, "EMG envelopes")
    for j, c in enumerate(st.columns[1:], start=1):
        _check_values(path, st.time, c, st.data[:, j], -MAX_EMG, MAX_EMG, "an EMG value")
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
    _check_time_base(path, st.time, "muscle activations")
    lo, hi = ACTIVATION_RANGE
    for j, c in enumerate(st.columns[1:], start=1):
        _check_values(path, st.time, c, st.data[:, j], lo, hi, "a muscle activation (a fraction 0–1; percent?)")
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

    Angles: clinical, deg (see :func:`coordinates_to_angles`). Pelvis position: ``pelvis_tx/ty/tz`` (m) in the lab
    frame, when the file has all three. Mass: from ``mass_kg`` only (NaN and
    a note otherwise; body-weight normalisation is then unavailable). Speed: ``speed_m_s``, else the
    slope of ``pelvis_tx`` (NaN with a note when it is about constant, as on a treadmill). Events:
    detected from the per-foot GRF (:func:`mmbio.gait.events.detect_events`), or, when the file has
    one force set under both feet, from its centre of pressure
    (:func:`mmbio.gait.events.detect_events_combined`). A file without any recognised joint-angle
    column raises :class:`DataFileError`.
    """
    notes: list[str] = []
    _check_scalar(mass_kg, "body mass (--mass)", "kg", MAX_MASS_KG)
    _check_scalar(speed_m_s, "speed (--speed)", "m/s", MAX_SPEED_M_S)
    st = read_storage(kinematics)
    notes += [f"{Path(kinematics).name}: {w}" for w in st.warnings]
    angles, extra = coordinates_to_angles(st, knee_sign=knee_sign, strict=strict, notes=notes)
    if len(angles) == 0:
        raise DataFileError(
            kinematics, f"no recognised joint-angle columns (found: {_names(st.columns[1:]) or 'none'})"
        )
    _check_time_base(kinematics, st.time, "joint angles")
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
    if all(f"pelvis_t{c}" in extra.columns for c in "xyz"):
        pos = to_lab(extra[[f"pelvis_t{c}" for c in "xyz"]].to_numpy(dtype=float), OPENSIM_TO_LAB)
        trial.pelvis_position = Channels(extra.index.to_numpy(dtype=float), pos, list(PELVIS_POSITION), "m")
    if grf is not None:
        feet = read_opensim_grf(grf, notes=notes)
        _overlap(kinematics, st.time, grf, next(iter(feet.values())).time, "the ground reaction forces", notes)
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
        _overlap(kinematics, st.time, emg, trial.emg.time, "the EMG", notes)
    if activations is not None:
        trial.activations = read_opensim_activations(activations)
        _overlap(kinematics, st.time, activations, trial.activations.time, "the activations", notes)
        trial.kind = "simulated"
    return trial


def _check_scalar(value: float | None, what: str, units: str, hi: float) -> None:
    if value is None:
        return
    try:
        ok = 0 < float(value) <= hi  # False for NaN
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MmbioError(f"{what} must be a number of {units} in (0, {hi:g}], got {value!r}")


def _overlap(
    kinematics: PathArg, t_kin: np.ndarray, other: PathArg, t: np.ndarray, what: str, notes: list[str]
) -> None:
    """Refuse a file whose time range misses the kinematics; note one that covers only part of it."""
    k0, k1, o0, o1 = float(t_kin[0]), float(t_kin[-1]), float(t[0]), float(t[-1])
    lo, hi = max(k0, o0), min(k1, o1)
    if hi <= lo:
        raise DataFileError(
            other,
            f"{what} cover {o0:.6g}–{o1:.6g} s but the kinematics ({Path(kinematics).name}) cover {k0:.6g}–{k1:.6g} s: "
            "the time ranges do not overlap (a shifted or rescaled time column?)",
        )
    tol = 1.5 * float(np.median(np.diff(t_kin)))
    if o0 > k0 + tol or o1 < k1 - tol:
        notes.append(
            f"{Path(other).name}: {what} cover {o0:.4g}–{o1:.4g} s, {100 * (hi - lo) / (k1 - k0):.0f} % of the "
            f"kinematics ({k0:.4g}–{k1:.4g} s); cycles outside {lo:.4g}–{hi:.4g} s have no {what.split()[-1]}"
        )
