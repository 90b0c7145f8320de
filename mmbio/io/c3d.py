"""Read a C3D gait trial (markers, EMG, force plates, events, subject) into a :class:`~mmbio.trial.Trial`.

What :func:`read_c3d` does, in order:

1. **Validates the file** before ezc3d sees it (ezc3d silently returns fewer frames for a truncated
   file): C3D key byte, processor type, and file size ≥ the data block the header announces.
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
"""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbio.errors import DataFileError
from mmbio.gait.events import detect_events
from mmbio.io.axes import rotate_about_z, to_lab
from mmbio.names import canonical_muscle
from mmbio.trial import SIDES, Channels, Events, GroundReaction, Markers, Subject, Trial

COP_THRESHOLD_N = 20.0
_LENGTH_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_MOMENT_TO_NM = {"nmm": 1e-3, "n.mm": 1e-3, "n*mm": 1e-3, "nm": 1.0, "n.m": 1.0, "n*m": 1.0, "n·m": 1.0}
_PELVIS = re.compile(r"(^|_)(r|l)?_?(ias|ips|asi|psi)$|^sacr(um)?$", re.IGNORECASE)
_FOOT = {
    "r": ("R_FCC", "R_FM1", "R_FM2", "R_FM5", "RHEE", "RTOE", "RMT1", "RMT5", "RMET"),
    "l": ("L_FCC", "L_FM1", "L_FM2", "L_FM5", "LHEE", "LTOE", "LMT1", "LMT5", "LMET"),
}
_SIDE_RE = re.compile(r"^(r|l|right|left)[_\W]|[_\W](r|l|right|left)$", re.IGNORECASE)


@dataclass
class _Raw:
    """What ezc3d gave, as plain arrays (lab frame of the file, SI units)."""

    params: Any
    point_rate: float
    points: np.ndarray  # (n_frames, m, 3) m, NaN gaps
    point_labels: list[str]
    analog_rate: float
    analogs: np.ndarray  # (n_samples, k)
    analog_labels: list[str]
    analog_units: list[str]
    first_frame: int  # 1-based absolute frame number of the first stored frame


# ----------------------------------------------------------------------------------------------- file


def _check_header(path: Path) -> tuple[float, int]:
    """Reject non-C3D and truncated files before ezc3d reads them (it would return fewer frames).

    Returns the header's point rate (Hz) and analog samples per frame (all channels together).
    """
    if not path.exists():
        raise DataFileError(path, "file not found")
    if not path.is_file():
        raise DataFileError(path, "not a regular file")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(512)
        if len(head) < 512 or head[1] != 0x50:
            raise DataFileError(path, "not a C3D file (no C3D header key 0x50 in byte 2)")
        param_block = head[0]
        fh.seek(max(param_block - 1, 0) * 512)
        pblock = fh.read(4)
    if param_block < 2 or len(pblock) < 4 or pblock[3] not in (84, 85, 86):
        raise DataFileError(path, "not a C3D file (parameter section missing or unknown processor type)")
    big = pblock[3] == 86  # MIPS
    words = struct.unpack((">" if big else "<") + "9H", head[2:20])
    n_points, n_analog_per_frame, first, last = words[0], words[1], words[2], words[3]
    data_start = words[7]
    raw_scale = head[12:16]
    if pblock[3] == 84:
        float_data = struct.unpack("<f", raw_scale)[0] < 0
    elif pblock[3] == 85:  # DEC: sign bit is the top bit of the first 16-bit word
        float_data = bool(raw_scale[1] & 0x80)
    else:
        float_data = struct.unpack(">f", raw_scale)[0] < 0
    rate = struct.unpack(("<" if pblock[3] != 86 else ">") + "f", head[20:24])[0] if pblock[3] != 85 else float("nan")
    n_frames = last - first + 1
    if n_frames < 0 or data_start < 2:
        raise DataFileError(path, f"corrupt C3D header (frames {first}..{last}, data block {data_start})")
    frame_bytes = (4 * n_points + n_analog_per_frame) * (4 if float_data else 2)
    need = (data_start - 1) * 512 + n_frames * frame_bytes
    if last < 65535 and size < need:  # header frame counts saturate at 65535: then trust ezc3d
        raise DataFileError(path, f"truncated C3D file: {size} bytes, header announces {need}")
    return float(rate), int(n_analog_per_frame)


def _param(params: Any, group: str, name: str, default: Any = None) -> Any:
    try:
        return params[group][name]["value"]
    except (KeyError, TypeError):
        return default


def _load(path: Path) -> _Raw:
    import ezc3d  # imported lazily: reading other formats must not need it

    header_rate, analog_per_frame = _check_header(path)
    try:
        c = ezc3d.c3d(str(path))
    except (RuntimeError, OSError, ValueError, IndexError) as e:
        raise DataFileError(
            path, f"ezc3d cannot read it: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    p = c["parameters"]
    hdr = c["header"]
    point_rate = float(np.ravel(_param(p, "POINT", "RATE", [hdr["points"]["frame_rate"]]))[0])
    pts = np.asarray(c["data"]["points"], dtype=float)  # (4, m, n)
    res = np.asarray(c["data"]["meta_points"]["residuals"], dtype=float)  # (1, m, n)
    n_frames = pts.shape[2]
    want = hdr["points"]["last_frame"] - hdr["points"]["first_frame"] + 1
    if n_frames != want:
        raise DataFileError(path, f"truncated C3D data: {n_frames} frames read, header announces {want}")
    units = str((_param(p, "POINT", "UNITS", ["mm"]) or ["mm"])[0]).strip().lower() or "mm"
    if units not in _LENGTH_TO_M:
        raise DataFileError(path, f"unsupported POINT:UNITS {units!r}")
    xyz = pts[:3].transpose(2, 1, 0) * _LENGTH_TO_M[units]  # (n, m, 3)
    missing = ~np.isfinite(xyz).all(axis=2) | np.all(xyz == 0, axis=2)
    if res.size:
        missing |= (res[0].T < 0) | ~np.isfinite(res[0].T)
    xyz[missing] = np.nan
    labels = [str(s).strip() for s in (_param(p, "POINT", "LABELS", []) or [])][: xyz.shape[1]]
    labels += [f"point{i + 1}" for i in range(len(labels), xyz.shape[1])]

    an = np.asarray(c["data"]["analogs"], dtype=float)
    an = an[0].T if an.size else np.empty((0, 0))  # (n_samples, k)
    analog_rate = float(np.ravel(_param(p, "ANALOG", "RATE", [hdr["analogs"]["frame_rate"]]))[0])
    if np.isfinite(header_rate) and abs(header_rate - point_rate) > 1e-3 * point_rate:
        raise DataFileError(path, f"mismatched rates: header {header_rate:g} Hz, POINT:RATE {point_rate:g} Hz")
    if an.shape[1]:
        ratio = analog_rate / point_rate
        if analog_per_frame != round(ratio) * an.shape[1]:
            raise DataFileError(
                path,
                f"mismatched rates: ANALOG:RATE/POINT:RATE = {ratio:g} but the header stores "
                f"{analog_per_frame / an.shape[1]:g} samples per frame",
            )
        if abs(ratio - round(ratio)) > 1e-6 or abs(hdr["analogs"]["frame_rate"] - analog_rate) > 1e-6 * analog_rate:
            raise DataFileError(
                path,
                f"mismatched rates: ANALOG:RATE {analog_rate:g} Hz vs POINT:RATE {point_rate:g} Hz and "
                f"{hdr['analogs']['frame_rate']:g} Hz from the header",
            )
        if an.shape[0] != n_frames * round(ratio):
            raise DataFileError(
                path, f"mismatched rates: {an.shape[0]} analog samples for {n_frames} frames × {round(ratio)}"
            )
    alabels = [str(s).strip() for s in (_param(p, "ANALOG", "LABELS", []) or [])][: an.shape[1]]
    alabels += [f"analog{i + 1}" for i in range(len(alabels), an.shape[1])]
    aunits = [str(s).strip() for s in (_param(p, "ANALOG", "UNITS", []) or [])][: an.shape[1]]
    aunits += [""] * (an.shape[1] - len(aunits))
    start = _param(p, "TRIAL", "ACTUAL_START_FIELD")
    if start is not None and np.size(start) >= 1:
        s = np.ravel(start).astype(int)
        first = int(s[0] + (65536 * s[1] if s.size > 1 else 0))
    else:
        first = int(hdr["points"]["first_frame"]) + 1  # ezc3d reports it 0-based
    return _Raw(p, point_rate, xyz, labels, analog_rate, an, alabels, aunits, first)


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


def _plates(raw: _Raw, path: Path, rot: np.ndarray, notes: list[str], cop_threshold_n: float) -> list[_Plate]:
    p = raw.params
    used = int(np.ravel(_param(p, "FORCE_PLATFORM", "USED", [0]))[0]) if "FORCE_PLATFORM" in p else 0
    if used == 0:
        return []
    types = np.ravel(_param(p, "FORCE_PLATFORM", "TYPE", []))
    chans = np.asarray(_param(p, "FORCE_PLATFORM", "CHANNEL", []))
    corners = np.asarray(_param(p, "FORCE_PLATFORM", "CORNERS", []), dtype=float)
    origins = np.asarray(_param(p, "FORCE_PLATFORM", "ORIGIN", []), dtype=float)
    if types.size < used or chans.ndim != 2 or chans.shape[1] < used or corners.size < 12 * used:
        raise DataFileError(path, f"FORCE_PLATFORM group is incomplete for {used} plate(s)")
    corners = corners.reshape(3, 4, -1, order="F") if corners.ndim != 3 else corners
    origins = origins.reshape(3, -1, order="F") if origins.ndim != 2 else origins
    pos_scale = _LENGTH_TO_M[str((_param(p, "POINT", "UNITS", ["mm"]) or ["mm"])[0]).strip().lower() or "mm"]
    n = raw.analogs.shape[0]
    time = np.arange(n) / raw.analog_rate
    out: list[_Plate] = []
    for k in range(used):
        if int(types[k]) != 2:
            raise DataFileError(
                path, f"force plate {k + 1}: FORCE_PLATFORM:TYPE {int(types[k])} is not supported (only 2)"
            )
        ch = chans[:6, k].astype(int) - 1
        if ch.min() < 0 or ch.max() >= raw.analogs.shape[1]:
            raise DataFileError(path, f"force plate {k + 1}: FORCE_PLATFORM:CHANNEL points past the analog channels")
        fu = {raw.analog_units[i].strip().lower() for i in ch[:3]}
        mu = {raw.analog_units[i].strip().lower().replace(" ", "") for i in ch[3:]}
        if fu - {"n"} or len(mu) != 1 or next(iter(mu)) not in _MOMENT_TO_NM:
            raise DataFileError(path, f"force plate {k + 1}: unsupported units force {sorted(fu)} moment {sorted(mu)}")
        f_loc = raw.analogs[:, ch[:3]]
        m_loc = raw.analogs[:, ch[3:]] * _MOMENT_TO_NM[next(iter(mu))]
        c = corners[:, :, k].T * pos_scale  # (4, 3) m, file lab frame
        o = origins[:, k] * pos_scale if origins.shape[1] > k else np.zeros(3)
        if o[2] > 0:
            o = -o
        m_loc = m_loc + np.cross(f_loc, o)  # moment about the surface centre
        ax = c[0] - c[1]
        ay = c[0] - c[3]
        az = np.cross(ax, ay)
        ay = np.cross(az, ax)
        r_pl = np.column_stack([v / np.linalg.norm(v) for v in (ax, ay, az)])  # plate → file lab
        with np.errstate(all="ignore"):
            cop_loc = np.column_stack([-m_loc[:, 1] / f_loc[:, 2], m_loc[:, 0] / f_loc[:, 2], np.zeros(n)])
            tz_loc = m_loc[:, 2] - (cop_loc[:, 0] * f_loc[:, 1] - cop_loc[:, 1] * f_loc[:, 0])
        force = f_loc @ r_pl.T
        cop = cop_loc @ r_pl.T + c.mean(axis=0)
        free = tz_loc * r_pl[2, 2]  # local z is ±lab z for a level plate
        if abs(r_pl[2, 2]) < 0.99:
            raise DataFileError(path, f"force plate {k + 1}: corners do not describe a level plate")
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


def _events(raw: _Raw, t_end: float, notes: list[str]) -> Events:
    p = raw.params
    labels = _param(p, "EVENT", "LABELS", []) or []
    contexts = _param(p, "EVENT", "CONTEXTS", []) or []
    times = np.asarray(_param(p, "EVENT", "TIMES", np.empty((2, 0))), dtype=float)
    if not len(labels) or times.size == 0:
        return Events()
    times = times.reshape(2, -1, order="F") if times.ndim != 2 else times
    t = 60.0 * times[0] + times[1] - (raw.first_frame - 1) / raw.point_rate
    hs: dict[str, list[float]] = {"r": [], "l": []}
    to: dict[str, list[float]] = {"r": [], "l": []}
    dropped = 0
    for i, lab in enumerate(labels):
        ctx = str(contexts[i]).strip().lower() if i < len(contexts) else ""
        side = {"right": "r", "left": "l"}.get(ctx)
        kind = re.sub(r"[\s\d_]+", "", str(lab).lower())
        target = hs if kind == "footstrike" else to if kind == "footoff" else None
        if side is None or target is None or i >= t.size:
            continue
        if -1e-6 <= t[i] <= t_end + 1e-6:
            target[side].append(float(np.clip(t[i], 0.0, t_end)))
        else:
            dropped += 1
    if dropped:
        notes.append(f"c3d: {dropped} event(s) outside the stored frames dropped")
    return Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "c3d")


def _subject(raw: _Raw, name: str) -> Subject:
    p = raw.params
    sub = Subject(name=name)
    extra: dict[str, object] = {}
    units: dict[str, str] = {}
    names = _param(p, "SUBJECT", "NAMES")
    if names:
        sub.name = str(names[0]).strip() or name
    labels = _param(p, "SUBJECT", "LABELS")
    values = _param(p, "SUBJECT", "VALUES")
    pairs: list[tuple[str, object, str]] = []
    if labels is not None and values is not None:
        uu = list(_param(p, "SUBJECT", "UNITS", []) or [])
        vals = np.ravel(values) if not isinstance(values, list) else values
        for i, lab in enumerate(labels):
            if i < len(vals):
                pairs.append((str(lab).strip(), vals[i], str(uu[i]).strip() if i < len(uu) else ""))
    for grp in ("PROCESSING",):
        if grp in p:
            for key, par in p[grp].items():
                if key != "__METADATA__":
                    v = par["value"]
                    v = v[0] if isinstance(v, list) and len(v) == 1 else v
                    pairs.append((key, np.ravel(v)[0] if isinstance(v, np.ndarray) and v.size == 1 else v, ""))
    for lab, val, unit in pairs:
        key = lab.lower()
        try:
            fval = float(val)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            extra[lab] = val
            continue
        if key in ("weight", "mass", "bodymass", "body_mass") and not np.isfinite(sub.mass_kg):
            sub.mass_kg = fval / 1000 if unit.lower() == "g" else fval
        elif key in ("height", "bodyheight", "body_height") and not np.isfinite(sub.height_m):
            sub.height_m = fval / 1000 if (unit.lower() == "mm" or (not unit and fval > 3)) else fval
        else:
            extra[lab] = fval
            if unit:
                units[lab] = unit
    if units:
        extra["units"] = units
    sub.extra = extra
    return sub


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
    Raises :class:`~mmbio.errors.DataFileError` for a missing, non-C3D, truncated or inconsistent file.
    """
    path = Path(path)
    raw = _load(path)
    notes: list[str] = []
    rot, speed = _heading(raw, notes)
    n_frames = raw.points.shape[0]
    t_pts = np.arange(n_frames) / raw.point_rate
    markers = Markers(t_pts, to_lab(raw.points, rot), raw.point_labels) if raw.points.shape[1] else None
    if markers is not None:
        gaps = int(np.isnan(markers.positions[..., 0]).sum())
        if gaps:
            notes.append(f"c3d: {gaps} marker samples missing (NaN)")
    t_end = float(t_pts[-1]) if n_frames else 0.0
    c3d_events = _events(raw, t_end, notes)

    plates = _plates(raw, path, rot, notes, cop_threshold_n)
    plate_ch: set[int] = set()
    if plates:
        chans = np.asarray(_param(raw.params, "FORCE_PLATFORM", "CHANNEL"))
        plate_ch = {int(v) - 1 for v in chans[:, : len(plates)].ravel()}
    emg = _emg(raw, path, plate_ch, emg_labels, notes)

    grf = _assign(plates, markers, c3d_events, notes, cop_threshold_n) if plates else {}
    events = c3d_events
    if not events and grf:
        events = detect_events(grf, threshold_n=cop_threshold_n)
        notes.append("c3d: no events in the file: detected from the per-foot GRF")

    subject = _subject(raw, "")
    subject.speed_m_s = speed
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
    return [p.corners for p in _plates(raw, path, rot, [], COP_THRESHOLD_N)]
