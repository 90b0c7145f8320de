"""Read a C3D gait trial (markers, EMG, force plates, events, subject) into a :class:`~mmbio.trial.Trial`.

What :func:`read_c3d` does, in order:

1. **Validates the file** from its raw bytes before ezc3d sees it (:func:`mmbio.io.c3d_check.check_c3d`):
   C3D key byte, processor type, every parameter entry, header and parameters consistent, rates plausible,
   the announced data present in the file (ezc3d silently returns fewer frames for a truncated file).
   Every expected problem is a :class:`~mmbio.errors.DataFileError` naming the file.
2. **Frame.** Markers are converted to m. The lab's vertical must be z (true for Vicon/Schreiber). The
   direction of progression is the horizontal displacement of the pelvis markers (mean of
   ``*IAS/*IPS/*ASI/*PSI/SACR``, else of all markers) from first to last frame; the lab is rotated about
   z by the multiple of 90° that turns it into +x (walkways are aligned with lab axes; the residual
   heading is noted when > 15°). The same rotation is applied to force, COP and plate corners, and it
   is written to ``trial.notes``. Without a clear progression (< 0.3 m, e.g. a treadmill) the lab
   axes are kept and a note says so.
3. **Force plates** (``FORCE_PLATFORM`` TYPE 2 only; other types raise): channels from
   ``FORCE_PLATFORM:CHANNEL``, moments moved from the sensor origin to the surface centre with
   ``FORCE_PLATFORM:ORIGIN`` (flipped to z ≤ 0 as btk/ezc3d do), plate axes from the corners
   (x = c1 − c2, y = c1 − c4, z = x × y). If the vertical force while loaded points down, the plate
   reports the action on the plate and force and moments are negated so that the result is the ground
   reaction on the subject (noted). COP is NaN where Fz < ``cop_threshold_n`` (20 N).
4. **Feet.** Each loaded interval of a plate goes to the foot whose heel/metatarsal/toe markers lie
   closest (horizontally) to the COP during it; an interval with both feet on the plate is left
   unassigned (noted). Without foot markers the C3D foot-strike event at the interval start decides.
5. **NaN analog samples are never zero-filled**: a plate's GRF is NaN there, and *both* feet's GRF are
   NaN at every sample where any plate channel is NaN (which foot was loaded is unknown); noted.
6. **Events** from the EVENT group (``Foot Strike*``/``Foot Off*``, contexts Right/Left; time =
   60·TIMES[0] + TIMES[1], absolute in the acquisition, converted to t = 0 at the first stored frame
   with ``TRIAL:ACTUAL_START_FIELD``, else the header's first frame); without events they are
   detected from the per-foot GRF (:func:`mmbio.gait.events.detect_events`).

Threat model / what is checked. A C3D file is untrusted input: it may be truncated, bit-flipped or crafted.
ezc3d (C++) would crash, hang or exhaust memory on some such files, so nothing reaches it before
:mod:`mmbio.io.c3d_check` has walked the header and parameter section and bounded every size ezc3d will use
(``MAX_C3D_MB``, ``MAX_C3D_PARAMS_KB``, ``MAX_FRAMES``, ``MAX_ARRAY_MB`` of :mod:`mmbio.limits`). What the
results are computed from (header, POINT, ANALOG, FORCE_PLATFORM, TRIAL) must then be complete, consistent and
physical, or the file is refused with one line: plates are level rectangles of plausible size, each analog
channel serves one plate input, no force exceeds 25 kN. Optional metadata with a fallback is distrusted instead
and said in ``trial.notes``: an inconsistent EVENT group or events out of strike/off order (events are then
detected from the GRF); single events that are not Foot Strike/Foot Off, Left/Right or inside the recording
(dropped); SUBJECT values that are inconsistent, in unknown units or implausible (body mass outside 20–300 kg,
height outside 0.5–2.5 m: unknown); a body mass the plates disagree with (noted only). Marker coordinates beyond
10 km are missing data; text from the file is made printable. Only ezc3d's own call is wrapped into a
``DataFileError``; what mmbio derives is validated, not caught. Not detectable: a corrupted calibration
(``ANALOG:SCALE``/``OFFSET``) or event time that stays plausible.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.errors import DataFileError, printable
from mmbio.gait.events import detect_events
from mmbio.io.axes import rotate_about_z, to_lab
from mmbio.io.c3d_check import C3DLayout, check_c3d
from mmbio.names import canonical_muscle
from mmbio.trial import SIDES, Channels, Events, GroundReaction, Markers, Subject, Trial

COP_THRESHOLD_N = 20.0
_LENGTH_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_MOMENT_TO_NM = {"nmm": 1e-3, "n.mm": 1e-3, "n*mm": 1e-3, "nm": 1.0, "n.m": 1.0, "n*m": 1.0, "n·m": 1.0}
_MASS_TO_KG = {"": 1.0, "kg": 1.0, "g": 1e-3, "lb": 0.45359237, "lbs": 0.45359237}
_HEIGHT_TO_M = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
MASS_KG = (20.0, 300.0)  # plausible body mass; outside: treated as unknown (noted)
HEIGHT_M = (0.5, 2.5)
PEAK_BW = (0.8, 3.5)  # peak vertical force of a foot in walking or running, body weights
PLATE_SIDE_M = (0.05, 10.0)  # plausible force-plate side length
MAX_MARKER_M = 1e4  # a marker coordinate beyond 10 km is corrupt: treated as missing (noted)
MAX_FORCE_N = 25e3  # no human movement loads a plate with 2.5 t: a larger force means corrupt calibration
_PELVIS = re.compile(r"(^|_)(r|l)?_?(ias|ips|asi|psi)$|^sacr(um)?$", re.IGNORECASE)
_FOOT = {
    "r": ("R_FCC", "R_FM1", "R_FM2", "R_FM5", "RHEE", "RTOE", "RMT1", "RMT5", "RMET"),
    "l": ("L_FCC", "L_FM1", "L_FM2", "L_FM5", "LHEE", "LTOE", "LMT1", "LMT5", "LMET"),
}
_SIDE_RE = re.compile(r"^(r|l|right|left)[_\W]|[_\W](r|l|right|left)$", re.IGNORECASE)
#: errors ezc3d's reader (C++ via SWIG, and its Python wrapper) raises for a file it cannot parse
_EZC3D_ERRORS = (RuntimeError, OSError, ValueError, IndexError, KeyError, TypeError, OverflowError, MemoryError)


@dataclass
class _Raw:
    """What ezc3d gave, as plain arrays (lab frame of the file, SI units)."""

    path: Path
    params: Any
    point_rate: float
    points: np.ndarray  # (n_frames, m, 3) m, NaN gaps
    point_labels: list[str]
    analog_rate: float
    analogs: np.ndarray  # (n_samples, k)
    analog_labels: list[str]
    analog_units: list[str]
    first_frame: int  # 1-based absolute frame number of the first stored frame
    length_to_m: float  # POINT:UNITS → m
    far_samples: int = 0  # marker samples beyond MAX_MARKER_M, set missing


# ------------------------------------------------------------------------------------------ parameters


def _param(params: Any, group: str, name: str) -> Any:
    try:
        return params[group][name]["value"]
    except (KeyError, TypeError):
        return None


def _text(raw: _Raw, group: str, name: str) -> list[str] | None:
    """Text values of ``group:name`` (stripped, made printable), None when absent; refuses numbers."""
    v = _param(raw.params, group, name)
    if v is None:
        return None
    if not isinstance(v, list):
        raise DataFileError(raw.path, f"{group}:{name} should be text")
    out = [str(s).strip() for s in v]
    return [t if t.isprintable() and len(t) <= 200 else printable(t, 200) for t in out]


def _numbers(raw: _Raw, group: str, name: str) -> np.ndarray | None:
    """Numeric values of ``group:name`` as floats (in the file's shape), None when absent; refuses text."""
    v = _param(raw.params, group, name)
    if v is None:
        return None
    if isinstance(v, list):
        raise DataFileError(raw.path, f"{group}:{name} should be numbers")
    return np.asarray(v, dtype=float)


# ----------------------------------------------------------------------------------------------- file


def _load(path: Path) -> _Raw:
    import ezc3d  # imported lazily: reading other formats must not need it

    lay: C3DLayout = check_c3d(path)
    try:
        c = ezc3d.c3d(str(path))
        params = c["parameters"]
        pts = np.asarray(c["data"]["points"], dtype=float)  # (4, m, n)
        res = np.asarray(c["data"]["meta_points"]["residuals"], dtype=float)  # (1, m, n)
        an = np.asarray(c["data"]["analogs"], dtype=float)  # (1, k, n · samples per frame)
    except _EZC3D_ERRORS as e:
        msg = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataFileError(path, f"ezc3d cannot read it: {msg}") from None
    n_frames, n_samples = lay.n_frames, lay.n_frames * lay.samples_per_frame
    if pts.shape != (4, lay.n_points, n_frames) and (lay.n_points or pts.size):
        raise DataFileError(path, f"truncated C3D data: {pts.shape[-1]} frames read, header announces {n_frames}")
    an = an[0].T if an.size else np.empty((n_samples, 0))  # (n_samples, k)
    if an.shape != (n_samples, lay.n_analogs) and (lay.n_analogs or an.size):
        raise DataFileError(
            path, f"truncated C3D data: {an.shape[0]} analog samples read, header announces {n_samples}"
        )
    raw = _Raw(path, params, lay.point_rate, np.empty((n_frames, 0, 3)), [], lay.analog_rate, an, [], [],
               lay.first_frame, 1.0)  # fmt: skip
    units = ((_text(raw, "POINT", "UNITS") or ["mm"])[0] or "mm").lower()
    if units not in _LENGTH_TO_M:
        raise DataFileError(path, f"unsupported POINT:UNITS {units!r}")
    raw.length_to_m = _LENGTH_TO_M[units]
    if lay.n_points:
        xyz = pts[:3].transpose(2, 1, 0) * raw.length_to_m  # (n, m, 3)
        bad = ~(np.abs(xyz).max(axis=2) <= MAX_MARKER_M)  # NaN, ±inf or absurdly far
        missing = bad | np.all(xyz == 0, axis=2)
        if bad.any():
            raw.far_samples = int((bad & np.isfinite(xyz).all(axis=2)).sum())
        if res.size:
            missing |= (res[0].T < 0) | ~np.isfinite(res[0].T)
        xyz[missing] = np.nan
        raw.points = xyz
    raw.point_labels = _labels(_text(raw, "POINT", "LABELS"), raw.points.shape[1], "point")
    raw.analog_labels = _labels(_text(raw, "ANALOG", "LABELS"), an.shape[1], "analog")
    aunits = (_text(raw, "ANALOG", "UNITS") or [])[: an.shape[1]]
    raw.analog_units = aunits + [""] * (an.shape[1] - len(aunits))
    return raw


def _labels(labels: list[str] | None, n: int, stem: str) -> list[str]:
    out = (labels or [])[:n]
    return out + [f"{stem}{i + 1}" for i in range(len(out), n)]


# ---------------------------------------------------------------------------------------------- frame


def _pelvis_track(raw: _Raw) -> np.ndarray:
    """(n, 3) mean position of the pelvis markers (else of all markers), NaN where none is seen."""
    idx = [i for i, n in enumerate(raw.point_labels) if _PELVIS.search(n)]
    sel = raw.points[:, idx] if idx else raw.points
    if sel.shape[1] == 0:
        return np.full((sel.shape[0], 3), np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(sel, axis=1)


def _heading(raw: _Raw, notes: list[str]) -> tuple[np.ndarray, float]:
    """Rotation (3, 3) file lab → mmbio lab, and the walking speed (m/s, NaN if unknown)."""
    track = _pelvis_track(raw)
    ok = np.isfinite(track).all(axis=1)
    if ok.sum() < 2:
        notes.append("c3d: no pelvis/marker trajectory: direction of progression unknown, lab axes kept")
        return np.eye(3), float("nan")
    t = np.arange(raw.points.shape[0]) / raw.point_rate
    vx = np.polyfit(t[ok], track[ok, 0], 1)[0]
    vy = np.polyfit(t[ok], track[ok, 1], 1)[0]
    disp = np.hypot(vx, vy) * (t[ok][-1] - t[ok][0])
    if disp < 0.3:
        notes.append(f"c3d: pelvis moves only {disp:.2f} m (treadmill?): lab axes kept, x may not be forward")
        return np.eye(3), float("nan")
    theta = float(np.arctan2(vy, vx))
    k = int(np.round(theta / (np.pi / 2)))
    resid = np.degrees(theta - k * np.pi / 2)
    rot = np.round(rotate_about_z(-k * np.pi / 2), 12)
    notes.append(
        f"c3d: walking direction {np.degrees(theta):.1f}° from lab +x; lab rotated by {-90 * k % 360:d}° about z "
        f"so that x is forward (markers, forces, COP)"
    )
    if abs(resid) > 15:
        notes.append(f"c3d: walking direction is {resid:.0f}° off the nearest lab axis")
    speed = float(abs(np.cos(np.radians(resid))) * np.hypot(vx, vy))
    return rot, speed


# --------------------------------------------------------------------------------------------- plates


@dataclass
class _Plate:
    reaction: GroundReaction
    corners: np.ndarray  # (4, 3) m, mmbio lab frame


@dataclass
class _PlateParams:
    used: int
    types: np.ndarray  # (used,)
    channels: np.ndarray  # (6, used) 0-based analog indices, each used once
    corners: np.ndarray  # (3, 4, used) m, file lab frame
    origins: np.ndarray  # (3, used) m
    skip: set[int]  # every analog channel the plates own (not EMG)


def _plate_params(raw: _Raw, notes: list[str]) -> _PlateParams:
    """The FORCE_PLATFORM group, complete and consistent for ``USED`` plates, or a DataFileError."""
    path, g = raw.path, "FORCE_PLATFORM"
    used_v = _numbers(raw, g, "USED")
    used_f = float(used_v.ravel()[0]) if used_v is not None and used_v.size else 0.0
    if not (0 <= used_f <= 64 and used_f == int(used_f)):
        raise DataFileError(path, f"FORCE_PLATFORM:USED is {used_f:g}")
    used = int(used_f)
    chans = _shaped(raw, "CHANNEL", (6,))
    described = chans.shape[1]
    if used < described:
        notes.append(f"c3d: FORCE_PLATFORM:USED is {used} but FORCE_PLATFORM:CHANNEL describes {described} plates: "
                     f"only {used} read")  # fmt: skip
    if used == 0:
        return _PlateParams(0, np.empty(0), np.empty((6, 0), int), np.empty((3, 4, 0)), np.empty((3, 0)), set())
    types = _numbers(raw, g, "TYPE")
    types = np.empty(0) if types is None else types.ravel()
    corners = _shaped(raw, "CORNERS", (3, 4))
    origins = _shaped(raw, "ORIGIN", (3,))
    if origins.shape[1] < used:
        origins = np.zeros((3, used))
    if types.size < used or described < used or corners.shape[-1] < used:
        raise DataFileError(path, f"FORCE_PLATFORM group is incomplete for {used} plate(s)")
    ch = chans[:6, :used]
    if not np.isfinite(ch).all() or (ch != np.round(ch)).any() or ch.min() < 1 or ch.max() > raw.analogs.shape[1]:
        raise DataFileError(path, "FORCE_PLATFORM:CHANNEL points past the analog channels")
    flat = [int(v) for v in ch.ravel(order="F")]
    if len(set(flat)) < len(flat):
        twice = next(v for i, v in enumerate(flat) if v in flat[:i])
        raise DataFileError(path, f"FORCE_PLATFORM:CHANNEL uses analog channel {twice} twice")
    corners, origins = corners[..., :used], origins[:, :used]
    if not np.isfinite(corners).all() or not np.isfinite(origins).all():
        raise DataFileError(path, "FORCE_PLATFORM:CORNERS or ORIGIN is not finite")
    owned = chans[:, :used]
    skip = {int(v) - 1 for v in owned[np.isfinite(owned)].ravel()}
    m = raw.length_to_m
    return _PlateParams(used, types[:used], ch.astype(int) - 1, corners * m, origins * m, skip)


def _shaped(raw: _Raw, name: str, lead: tuple[int, ...]) -> np.ndarray:
    """FORCE_PLATFORM:``name`` as ``(*lead, n_plates)``: a stored shape of that form, or a flat list of whole
    plates (Fortran order, as C3D stores it); anything else is refused."""
    v = _numbers(raw, "FORCE_PLATFORM", name)
    per = int(np.prod(lead))
    if v is None or v.size == 0:
        return np.empty((*lead, 0))
    if v.ndim == len(lead) + 1 and v.shape[: len(lead)] == lead:
        return v
    if v.ndim == len(lead) + 1 and name == "CHANNEL" and v.shape[0] > lead[0]:
        return v  # extra rows (other plate types) are kept for the EMG exclusion
    if v.ndim != len(lead) + 1 and v.size % per == 0:
        return v.reshape(*lead, -1, order="F")
    raise DataFileError(
        raw.path, f"FORCE_PLATFORM:{name} has shape {v.shape}, expected ({', '.join(map(str, lead))}, plates)"
    )


def _plate_axes(path: Path, k: int, c: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(3, 3) plate → file lab rotation from the corners (4, 3) m; refuses a degenerate or implausible plate."""
    c0, c1, c2, c3 = c.tolist()
    a, b = math.dist(c0, c1), math.dist(c0, c3)
    if not (PLATE_SIDE_M[0] <= min(a, b) and max(a, b) <= PLATE_SIDE_M[1]):
        raise DataFileError(path, f"force plate {k + 1}: FORCE_PLATFORM:CORNERS give sides of {a:.3g} m × {b:.3g} m")
    skew = math.hypot(*(p - q + r - s for p, q, r, s in zip(c0, c1, c2, c3, strict=True)))  # (c0 − c1) − (c3 − c2)
    dot = sum((p - q) * (p - r) for p, q, r in zip(c0, c1, c3, strict=True))
    if skew > 0.02 * max(a, b) + 1e-3 or abs(dot) > 0.05 * a * b:
        raise DataFileError(path, f"force plate {k + 1}: FORCE_PLATFORM:CORNERS do not describe a rectangle")
    if (far := max(map(abs, origin.tolist()))) > max(a, b):
        raise DataFileError(path, f"force plate {k + 1}: FORCE_PLATFORM:ORIGIN lies {far:.3g} m away")
    ax, ay = c[0] - c[1], c[0] - c[3]
    az = np.cross(ax, ay)
    ay = np.cross(az, ax)
    r_pl = np.column_stack([v / np.linalg.norm(v) for v in (ax, ay, az)])  # plate → file lab
    if abs(r_pl[2, 2]) < 0.99:
        raise DataFileError(path, f"force plate {k + 1}: corners do not describe a level plate")
    return r_pl


def _plates(raw: _Raw, pp: _PlateParams, rot: np.ndarray, notes: list[str], cop_threshold_n: float) -> list[_Plate]:
    path, types, chans, corners, origins = raw.path, pp.types, pp.channels, pp.corners, pp.origins
    if pp.used == 0:
        return []
    n = raw.analogs.shape[0]
    time = np.arange(n) / raw.analog_rate
    out: list[_Plate] = []
    for k in range(pp.used):
        if types[k] != 2:
            raise DataFileError(
                path, f"force plate {k + 1}: FORCE_PLATFORM:TYPE {types[k]:g} is not supported (only 2)"
            )
        ch = chans[:, k]
        fu = {raw.analog_units[i].strip().lower() for i in ch[:3]}
        mu = {raw.analog_units[i].strip().lower().replace(" ", "") for i in ch[3:]}
        if fu - {"n"} or len(mu) != 1 or next(iter(mu)) not in _MOMENT_TO_NM:
            raise DataFileError(path, f"force plate {k + 1}: unsupported units force {sorted(fu)} moment {sorted(mu)}")
        f_loc = raw.analogs[:, ch[:3]]
        m_loc = raw.analogs[:, ch[3:]] * _MOMENT_TO_NM[next(iter(mu))]
        c = corners[:, :, k].T  # (4, 3) m, file lab frame
        o = origins[:, k]
        r_pl = _plate_axes(path, k, c, o)
        if o[2] > 0:
            o = -o
        m_loc = m_loc + np.cross(f_loc, o)  # moment about the surface centre
        with np.errstate(all="ignore"):
            cop_loc = np.column_stack([-m_loc[:, 1] / f_loc[:, 2], m_loc[:, 0] / f_loc[:, 2], np.zeros(n)])
            tz_loc = m_loc[:, 2] - (cop_loc[:, 0] * f_loc[:, 1] - cop_loc[:, 1] * f_loc[:, 0])
        force = f_loc @ r_pl.T
        peak = np.abs(force).max(initial=0.0)  # NaN where analog samples are NaN: then the NaN-aware maximum
        if not peak <= MAX_FORCE_N and not (peak := np.nanmax(np.abs(force), initial=0.0)) <= MAX_FORCE_N:
            raise DataFileError(
                path, f"force plate {k + 1}: a force of {peak:.3g} N is not physical (calibration corrupt?)"
            )
        cop = cop_loc @ r_pl.T + c.mean(axis=0)
        free = tz_loc * r_pl[2, 2]  # local z is ±lab z for a level plate
        fz = force[:, 2]
        loaded = np.abs(np.nan_to_num(fz)) > cop_threshold_n
        if loaded.any() and np.median(fz[loaded]) < 0:
            force, free = -force, -free
            notes.append(f"c3d: plate {k + 1} reports the force on the plate; negated to the ground reaction")
        bad = ~np.isfinite(raw.analogs[:, ch]).all(axis=1)
        if bad.any():
            force[bad] = np.nan
            free[bad] = np.nan
            notes.append(f"c3d: plate {k + 1}: {int(bad.sum())} analog samples are NaN; its GRF is NaN there")
        cop[~(force[:, 2] >= cop_threshold_n)] = np.nan
        out.append(_Plate(GroundReaction(time, to_lab(force, rot), to_lab(cop, rot), free), to_lab(c, rot)))
    return out


def _intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """[i0, i1) runs of True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _assign(
    plates: list[_Plate],
    markers: Markers | None,
    c3d_events: Events,
    notes: list[str],
    threshold_n: float,
) -> dict[str, GroundReaction]:
    """Per-foot GRF (keys 'r', 'l') on the analog time base, summed over the plates assigned to each foot."""
    time = plates[0].reaction.time
    n = time.size
    force = {s: np.zeros((n, 3)) for s in SIDES}
    copw = {s: np.zeros((n, 3)) for s in SIDES}
    free = {s: np.zeros(n) for s in SIDES}
    unknown = np.zeros(n, dtype=bool)
    foot_idx = {}
    if markers is not None:
        foot_idx = {s: [markers.names.index(m) for m in _FOOT[s] if m in markers.names] for s in SIDES}
    have_feet = all(foot_idx.get(s) for s in SIDES)
    for k, pl in enumerate(plates):
        g = pl.reaction
        fz = g.vertical
        unknown |= ~np.isfinite(fz)
        fz_filled = fz.copy()
        if np.isnan(fz_filled).any():
            ok = np.isfinite(fz_filled)
            fz_filled = np.interp(np.arange(n), np.flatnonzero(ok), fz_filled[ok]) if ok.any() else np.zeros(n)
        for i0, i1 in _intervals(fz_filled > threshold_n):
            # widen to where the force has really vanished (keeps heel strike / toe off edges)
            while i0 > 0 and fz_filled[i0 - 1] > 0.1 * threshold_n:
                i0 -= 1
            while i1 < n and fz_filled[i1] > 0.1 * threshold_n:
                i1 += 1
            t0, t1 = time[i0], time[min(i1, n - 1)]
            if have_feet and markers is not None:
                side: str | None = _side_from_markers(g, pl.corners, markers, foot_idx, i0, i1, notes, k, t0, t1)
            else:
                side = _side_from_events(c3d_events, t0, t1)
                if side is None:
                    notes.append(
                        f"c3d: plate {k + 1} load {t0:.3f}-{t1:.3f} s: no foot markers and no foot-strike event: not assigned"
                    )
            if side is None:
                continue
            sl = slice(i0, i1)
            force[side][sl] += g.force[sl]
            free[side][sl] += g.free_moment[sl]
            w = np.where(np.isfinite(g.cop[sl]), g.cop[sl], 0.0) * np.clip(g.force[sl, 2:3], 0, None)
            copw[side][sl] += w
    out = {}
    for s in SIDES:
        fz = force[s][:, 2]
        with np.errstate(all="ignore"):
            cop = copw[s] / fz[:, None]
        cop[~(fz >= threshold_n)] = np.nan
        f = force[s].copy()
        fm = free[s].copy()
        f[unknown] = np.nan
        fm[unknown] = np.nan
        cop[unknown] = np.nan
        out[s] = GroundReaction(time, f, cop, fm)
    if unknown.any():
        notes.append(f"c3d: per-foot GRF is NaN at {int(unknown.sum())} samples where plate data are NaN")
    return out


def _inside(xy: np.ndarray, corners: np.ndarray, margin: float) -> np.ndarray:
    """(n,) True where horizontal points (n, 2) lie within the plate's bounding box grown by ``margin`` m."""
    lo = corners[:, :2].min(axis=0) - margin
    hi = corners[:, :2].max(axis=0) + margin
    return np.all((xy >= lo) & (xy <= hi), axis=-1)


def _side_from_markers(
    g: GroundReaction,
    corners: np.ndarray,
    markers: Markers,
    foot_idx: dict[str, list[int]],
    i0: int,
    i1: int,
    notes: list[str],
    k: int,
    t0: float,
    t1: float,
) -> str | None:
    """Foot whose markers are closest to the COP over samples [i0, i1); None when ambiguous/unknown."""
    mt = markers.time
    fr = np.flatnonzero((mt >= g.time[i0]) & (mt <= g.time[max(i1 - 1, i0)]))
    if fr.size == 0:
        fr = np.array([int(np.argmin(np.abs(mt - g.time[i0])))])
    cop = np.column_stack([np.interp(mt[fr], g.time, g.cop[:, j]) for j in range(2)])  # NaN stays NaN nearby
    dist: dict[str, float] = {}
    on_plate: dict[str, np.ndarray] = {}
    floor = float(np.nanmin(corners[:, 2]))
    for s in SIDES:
        pos = markers.positions[fr][:, foot_idx[s]]  # (f, m, 3)
        d = np.linalg.norm(pos[..., :2] - cop[:, None, :], axis=2)
        with np.errstate(all="ignore"):
            dist[s] = float(np.nanmedian(np.nanmin(d, axis=1))) if np.isfinite(d).any() else np.inf
        # a foot stands on the plate where one of its markers is low, still (< 0.3 m/s) and inside the plate
        allpos = markers.positions[:, foot_idx[s]]
        speed = np.linalg.norm(np.gradient(allpos[..., :2], markers.time, axis=0), axis=2)[fr]
        still = (pos[..., 2] < floor + 0.1) & (speed < 0.3)
        on_plate[s] = np.any(still & _inside(pos[..., :2], corners, -0.01), axis=1)
    both = on_plate["r"] & on_plate["l"]
    if both.sum() / markers.rate > 0.1:
        notes.append(f"c3d: plate {k + 1} load {t0:.3f}-{t1:.3f} s: both feet on the plate: not assigned")
        return None
    if not np.isfinite(min(dist.values())):
        notes.append(f"c3d: plate {k + 1} load {t0:.3f}-{t1:.3f} s: foot markers missing: not assigned")
        return None
    return min(dist, key=lambda s: dist[s])


def _side_from_events(events: Events, t0: float, t1: float, tol: float = 0.05) -> str | None:
    """Foot with a heel strike within ``tol`` s of ``t0`` (the closest one)."""
    best, side = np.inf, None
    for s in SIDES:
        hs = events.heel_strike[s]
        if hs.size:
            d = float(np.min(np.abs(hs - t0)))
            if d < tol and d < best:
                best, side = d, s
    return side


# --------------------------------------------------------------------------------------- other groups


def _quoted(items: list[str], n: int = 4) -> str:
    return ", ".join(repr(s) for s in items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _event_table(raw: _Raw, notes: list[str]) -> tuple[list[str], list[str], np.ndarray] | None:
    """EVENT labels, contexts and times (2, n) when the group is complete and consistent; None (noted) when not."""
    g = "EVENT"
    try:
        labels, contexts = _text(raw, g, "LABELS"), _text(raw, g, "CONTEXTS")
        times, used = _numbers(raw, g, "TIMES"), _numbers(raw, g, "USED")
    except DataFileError as e:
        problem = e.problem
    else:
        if not labels and (times is None or times.size == 0):
            return None
        n = len(labels or [])
        if times is not None and times.ndim != 2 and times.size == 2 * n:
            times = times.reshape(2, -1, order="F")
        if times is None or times.shape != (2, n):
            problem = f"EVENT:TIMES has shape {None if times is None else times.shape} for {n} labels"
        elif contexts is None or len(contexts) != n:
            problem = f"{0 if contexts is None else len(contexts)} EVENT:CONTEXTS for {n} labels"
        elif used is not None and (used.size == 0 or used.ravel()[0] != n):
            problem = f"EVENT:USED is {used.ravel()[:1]} for {n} labels"
        else:
            return labels, contexts, times  # type: ignore[return-value]
    notes.append(f"c3d: EVENT group is inconsistent ({problem}): its events are not used")
    return None


def _events(raw: _Raw, t_end: float, notes: list[str]) -> Events:
    """Foot strikes / foot offs of the EVENT group; what cannot be trusted is dropped and noted."""
    table = _event_table(raw, notes)
    if table is None:
        return Events()
    labels, contexts, times = table
    t = 60.0 * times[0] + times[1] - (raw.first_frame - 1) / raw.point_rate
    hs: dict[str, list[float]] = {"r": [], "l": []}
    to: dict[str, list[float]] = {"r": [], "l": []}
    bad_label, bad_ctx, outside = [], [], 0
    for i, lab in enumerate(labels):
        side = {"right": "r", "left": "l"}.get(contexts[i].lower())
        kind = re.sub(r"[\s\d_]+", "", lab.lower())
        target = hs if kind == "footstrike" else to if kind == "footoff" else None
        if target is None:
            bad_label.append(lab)
        elif side is None:
            bad_ctx.append(contexts[i])
        elif -1e-6 <= t[i] <= t_end + 1e-6:
            target[side].append(float(np.clip(t[i], 0.0, t_end)))
        else:
            outside += 1
    if bad_label:
        notes.append(f"c3d: {len(bad_label)} event(s) neither Foot Strike nor Foot Off ignored: {_quoted(bad_label)}")
    if bad_ctx:
        notes.append(f"c3d: {len(bad_ctx)} foot event(s) with a context neither Left nor Right ignored: "
                     f"{_quoted(bad_ctx)}")  # fmt: skip
    if outside:
        notes.append(f"c3d: {outside} event(s) outside the stored frames dropped")
    for s in SIDES:  # strike, off, strike...: a moved (corrupted) time breaks the alternation
        seq = sorted([(v, "strike") for v in hs[s]] + [(v, "off") for v in to[s]])
        for (t0, k0), (t1, k1) in itertools.pairwise(seq):
            if t1 - t0 < 1e-6 or (k0 == k1 and hs[s] and to[s]):
                word = "right" if s == "r" else "left"
                notes.append(
                    f"c3d: {word} foot events out of order (foot {k0} at {t0:.3f} s then foot {k1} at {t1:.3f} s): "
                    "the file's events are not used"
                )
                return Events()
    return Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "c3d")


def _subject(raw: _Raw, notes: list[str]) -> Subject:
    """Name, body mass and height (implausible or unknown-unit values: NaN, noted), other values in ``extra``."""
    sub = Subject(name="")
    extra: dict[str, object] = {}
    units: dict[str, str] = {}
    pairs: list[tuple[str, object, str]] = []
    try:
        names = _text(raw, "SUBJECT", "NAMES")
        labels, uu = _text(raw, "SUBJECT", "LABELS"), _text(raw, "SUBJECT", "UNITS") or []
        values = _param(raw.params, "SUBJECT", "VALUES")
    except DataFileError as e:
        notes.append(f"c3d: SUBJECT group ignored: {e.problem}")
        names, labels, uu, values = None, None, [], None
    if names:
        sub.name = names[0]
    if (labels is None) != (values is None):
        notes.append(f"c3d: SUBJECT:{'VALUES' if values is None else 'LABELS'} is missing: subject values not used")
    if labels is not None and values is not None:
        vals = list(np.ravel(values)) if not isinstance(values, list) else values
        if len(vals) != len(labels) or len(uu) not in (0, len(labels)):
            notes.append(f"c3d: SUBJECT has {len(labels)} LABELS, {len(vals)} VALUES and {len(uu)} UNITS: "
                         "its values are not used")  # fmt: skip
        else:
            pairs = [(lab, vals[i], uu[i] if uu else "") for i, lab in enumerate(labels)]
    if "PROCESSING" in raw.params:
        for key, par in raw.params["PROCESSING"].items():
            if key != "__METADATA__":
                v = par["value"]
                v = v[0] if isinstance(v, list) and len(v) == 1 else v
                pairs.append((key, np.ravel(v)[0] if isinstance(v, np.ndarray) and v.size == 1 else v, ""))
    for lab, val, unit in pairs:
        key = lab.lower()
        try:
            fval = float(val)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            extra[lab] = (
                [printable(v, 200) for v in val]
                if isinstance(val, list)
                else printable(val, 200)
                if isinstance(val, str)
                else val
            )
            continue
        if key in ("weight", "mass", "bodymass", "body_mass") and not np.isfinite(sub.mass_kg):
            sub.mass_kg = _plausible(lab, fval, unit, _MASS_TO_KG, MASS_KG, "kg", notes)
        elif key in ("height", "bodyheight", "body_height") and not np.isfinite(sub.height_m):
            table = _HEIGHT_TO_M if unit else {"": 1e-3 if fval > 3 else 1.0}
            sub.height_m = _plausible(lab, fval, unit, table, HEIGHT_M, "m", notes)
        else:
            extra[lab] = fval
            if unit:
                units[lab] = unit
    if units:
        extra["units"] = units
    sub.extra = extra
    return sub


def _check_body_weight(grf: dict[str, GroundReaction], subject: Subject, notes: list[str]) -> None:
    """Note (only) when a loaded foot's peak vertical force is far from what walking or running gives for the
    SUBJECT body mass: one of them (or the plate calibration) is then wrong."""
    if not np.isfinite(subject.mass_kg):
        return
    for s, g in grf.items():
        peak = float(np.nanmax(g.vertical, initial=0.0))
        bw = peak / subject.weight_n
        if peak > 10 * COP_THRESHOLD_N and not PEAK_BW[0] <= bw <= PEAK_BW[1]:
            notes.append(
                f"c3d: {'right' if s == 'r' else 'left'} vertical force peaks at {bw:.2f} body weights for the SUBJECT "
                f"mass {subject.mass_kg:g} kg (gait gives {PEAK_BW[0]:g}–{PEAK_BW[1]:g}): body mass or plate "
                "calibration may be wrong"
            )


def _plausible(
    label: str, value: float, unit: str, to_si: dict[str, float], bounds: tuple[float, float], si: str, notes: list[str]
) -> float:
    """``value`` in SI units when its unit is known and it lies within ``bounds``; NaN (noted) otherwise."""
    scale = to_si.get(unit.lower())
    if scale is None:
        notes.append(f"c3d: SUBJECT {label} has an unknown unit {unit!r}: treated as unknown")
        return float("nan")
    v = value * scale
    if not bounds[0] <= v <= bounds[1]:
        notes.append(f"c3d: SUBJECT {label} {v:g} {si} is implausible (outside {bounds[0]:g}–{bounds[1]:g} {si}): "
                     "treated as unknown")  # fmt: skip
        return float("nan")
    return v


def _emg(
    raw: _Raw, path: Path, skip: set[int], emg_labels: Mapping[str, str] | None, notes: list[str]
) -> Channels | None:
    """EMG channels (n_samples, k) in the analog units, named ``<muscle>_<side>``; None when there are none."""
    cols, names, units, skipped = [], [], [], []
    for i, lab in enumerate(raw.analog_labels):
        if i in skip:
            continue
        if emg_labels is not None:
            if lab in emg_labels:
                cols.append(i)
                names.append(emg_labels[lab])
                units.append(raw.analog_units[i] or "V")
            else:
                skipped.append(lab)
            continue
        canon = canonical_muscle(lab)
        m = _SIDE_RE.search(lab.strip())
        side = None
        if m:
            side = (m.group(1) or m.group(2)).lower()[0]
        if canon is None or side is None:
            skipped.append(lab)
            continue
        cols.append(i)
        names.append(f"{canon}_{side}")
        units.append(raw.analog_units[i] or "V")
    if skipped:
        notes.append(f"c3d: analog channels not read as EMG: {', '.join(skipped)}")
    if not cols:
        return None
    vals = raw.analogs[:, cols]
    nbad = int((~np.isfinite(vals)).sum())
    if nbad:
        notes.append(f"c3d: EMG has {nbad} NaN samples (left NaN)")
    if len(set(names)) != len(names):
        raise DataFileError(path, f"two EMG channels map to the same name: {names}")
    return Channels(np.arange(vals.shape[0]) / raw.analog_rate, vals, names, units)


# ----------------------------------------------------------------------------------------------- main


def read_c3d(
    path: str | Path,
    *,
    emg_labels: Mapping[str, str] | None = None,
    cop_threshold_n: float = COP_THRESHOLD_N,
) -> Trial:
    """Read a C3D gait trial into a measured :class:`~mmbio.trial.Trial` (see the module docstring).

    path: the .c3d file. emg_labels: optional analog label → channel name (``'EMG1'`` →
    ``'tibialis_anterior_r'``); when given only those channels are EMG, otherwise every non-plate
    analog whose label is a recognisable muscle with a side (``R_tibialis_anterior``) is.
    Returns markers (n_frames, m, 3) m at the point rate; EMG (V) and per-plate / per-foot GRF
    (N, m, N·m) at the analog rate; events in s from the first frame; subject mass/height/speed.
    Raises :class:`~mmbio.errors.DataFileError` for a missing, non-C3D, truncated, inconsistent or
    corrupted file (see "Threat model" in the module docstring).
    """
    path = Path(path)
    raw = _load(path)
    notes: list[str] = []
    rot, speed = _heading(raw, notes)
    n_frames = raw.points.shape[0]
    t_pts = np.arange(n_frames) / raw.point_rate
    markers = Markers(t_pts, to_lab(raw.points, rot), raw.point_labels) if raw.points.shape[1] else None
    if raw.far_samples:
        notes.append(f"c3d: {raw.far_samples} marker samples more than {MAX_MARKER_M:g} m away treated as missing")
    if markers is not None:
        gaps = int(np.isnan(markers.positions[..., 0]).sum())
        if gaps:
            notes.append(f"c3d: {gaps} marker samples missing (NaN)")
    t_end = float(t_pts[-1]) if n_frames else 0.0
    c3d_events = _events(raw, t_end, notes)

    pp = _plate_params(raw, notes)
    plates = _plates(raw, pp, rot, notes, cop_threshold_n)
    emg = _emg(raw, path, pp.skip if plates else set(), emg_labels, notes)

    grf = _assign(plates, markers, c3d_events, notes, cop_threshold_n) if plates else {}
    events = c3d_events
    if not events and grf:
        events = detect_events(grf, threshold_n=cop_threshold_n)
        notes.append("c3d: no usable events in the file: detected from the per-foot GRF")

    subject = _subject(raw, notes)
    subject.speed_m_s = speed
    _check_body_weight(grf, subject, notes)
    unknown = [w for w, v in (("body mass", subject.mass_kg), ("height", subject.height_m)) if not np.isfinite(v)]
    if unknown and (plates or "SUBJECT" in raw.params):
        notes.append(f"c3d: no usable {' or '.join(unknown)} in the file"
                     + ("; forces cannot be expressed in body weights (pass --mass)" if plates and "body mass" in unknown else ""))  # fmt: skip
    return Trial(
        name=path.stem,
        source=str(path),
        kind="measured",
        subject=subject,
        grf=grf,
        plates=[p.reaction for p in plates],
        emg=emg,
        markers=markers,
        events=events,
        notes=notes,
    )


def read_c3d_plate_corners(path: str | Path) -> list[np.ndarray]:
    """Corners (4, 3) m of each force plate in the same mmbio lab frame as :func:`read_c3d` uses."""
    path = Path(path)
    raw = _load(path)
    rot, _ = _heading(raw, [])
    return [p.corners for p in _plates(raw, _plate_params(raw, []), rot, [], COP_THRESHOLD_N)]
