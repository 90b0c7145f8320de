"""Reference motions for MyoFullBody: the :class:`Motion` container, its file, builders and quality figures.

Builders:

* :func:`motion_from_opensim` (here): OpenSim IK coordinates (Rajagopal 2016, gait2392/Hamner) → model qpos.
* :func:`synthesize_motion` (:mod:`mmbio.sim.synthesis`, re-exported here): a periodic walk or run at a requested
  speed from the normative curves in ``reference_data/`` (works without ``../shared``).

:func:`motion_quality` measures foot penetration, floating, sliding in stance and joint-limit
violations. Model access and foot geometry live in :mod:`mmbio.sim.foot_geometry`. Conventions: MuJoCo world
z up, the model walks along −y (:mod:`mmbio.sim.frames`).

Threat model / what is checked. A motion file (``mmbio train --motion``, ``mmbio validate motion.npz``) is
untrusted input. :meth:`Motion.load` reads it through :class:`mmbio.io.npz_safe.NpzArchive` (zip structure and
bombs, ``.npy`` headers, dtype allowlist, declared sizes against :mod:`mmbio.limits`, bounded reads; pickles are
refused, never loaded) and trusts nothing it did not check: ``meta`` is a JSON object of format
``mmbio.motion/1`` whose ``rate_hz`` is finite in [1, 100,000] Hz (later stages size loops and arrays by
duration × rate), ``model``/``variant`` are registry names of a model that exists, ``source``/``notes`` are
bounded strings and ``qpos_index`` agrees with the model; ``qpos`` (T, nq) and ``qvel`` (T, nv) have the model's
nq and nv and the same 2 ≤ T ≤ ``MAX_FRAMES`` frames (checked on the headers before any data is read) and finite
values within ±10⁹; stance masks are boolean (T,) for the sides ``r``/``l`` only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.interpolate import CubicSpline

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.npz_safe import MAX_RATE_HZ, MIN_RATE_HZ, Meta, NpzArchive
from mmbio.limits import check_count
from mmbio.models.anatomy import JOINT_MAP, coupled_qpos, joint_gain
from mmbio.models.registry import resolve
from mmbio.sim.arm_posture import relax_arms
from mmbio.sim.foot_geometry import (  # noqa: F401  (GRAVITY, _FootKin, _lowest_points: re-exported)
    GRAVITY,
    SIDES,
    _foot_geoms,
    _foot_kinematics,
    _FootKin,
    _load_model,
    _lowest_points,
    _qpos_index,
    _root_adr,
    _slip_speed,
)
from mmbio.sim.frames import OPENSIM_TO_MUJOCO, quat_from_pelvis_angles
from mmbio.sim.rollout_cpu import finite_difference_qvel
from mmbio.sim.synthesis import (  # noqa: F401  (re-exported: the synthesis lived here and is imported from here)
    FOOT_FLAT_STANCE,
    HEEL_OFF_STANCE,
    LOCK_CONSTANT_SD_DEG,
    LOCK_JOINT_SD_DEG,
    MTP_OFF_STANCE,
    SWING_CLEARANCE_M,
    SWING_RAMP,
    _contact_points,
    _foot_lock,
    _gait_plan,
    leg_length,
    synthesize_motion,
)

__all__ = [
    "Motion",
    "leg_length",
    "motion_from_opensim",
    "motion_quality",
    "synthesize_motion",
]

PathArg = str | PathLike[str]
_FORMAT = "mmbio.motion/1"
_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]{1,64}\Z")  # a registry model or variant name
_MAX_TEXT = 100_000  # characters of the source or one note

#: Height (m) of a foot's lowest point below which :func:`motion_quality` counts the foot as in
#: contact (stance) when the motion has no planned stance.
CONTACT_HEIGHT_M = 0.02

# --------------------------------------------------------------------------------------------------
# Motion
# --------------------------------------------------------------------------------------------------


@dataclass
class Motion:
    """A kinematic reference motion of a MuJoCo model at the control rate.

    qpos: (T, nq) generalised positions (free root: position m, quaternion w x y z; joints rad or m).
    qvel: (T, nv) generalised velocities (free root: linear velocity in the world frame, angular
    velocity in the root body's local frame, as MuJoCo's ``qvel``). rate_hz: frames per second.
    stance: optional planned foot contact per side (``'r'``/``'l'``: (T,) bool); ``None`` when unknown.
    qpos_index: joint name → (qpos address, size); filled by the builders, else read from the model.
    """

    qpos: np.ndarray
    qvel: np.ndarray
    rate_hz: float = 100.0
    model: str = "myofullbody"
    variant: str | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    stance: dict[str, np.ndarray] | None = None
    qpos_index: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.qpos = np.asarray(self.qpos, dtype=float)
        self.qvel = np.asarray(self.qvel, dtype=float)
        if self.qpos.ndim != 2 or self.qvel.ndim != 2 or self.qpos.shape[0] != self.qvel.shape[0]:
            raise MmbioError(f"Motion: qpos {self.qpos.shape} and qvel {self.qvel.shape} must be (T, nq), (T, nv)")
        if not (np.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise MmbioError(f"Motion: rate_hz must be positive, got {self.rate_hz}")
        if self.stance is not None:
            self.stance = {s: np.asarray(v, dtype=bool) for s, v in self.stance.items()}
            if any(v.shape != (self.n_frames,) for v in self.stance.values()):
                raise MmbioError("Motion: stance masks must be (T,) per side")
        self.qpos_index = {str(k): (int(v[0]), int(v[1])) for k, v in self.qpos_index.items()}

    @property
    def n_frames(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def time(self) -> np.ndarray:
        """(T,) s from 0 at ``rate_hz``."""
        return np.arange(self.n_frames) / self.rate_hz

    @property
    def duration(self) -> float:
        """s between the first and last frames."""
        return (self.n_frames - 1) / self.rate_hz

    def mj_model(self) -> Any:
        """The compiled MuJoCo model this motion belongs to (cached)."""
        m = _load_model(self.model, self.variant)
        if m.nq != self.qpos.shape[1] or m.nv != self.qvel.shape[1]:
            raise MmbioError(
                f"motion has nq={self.qpos.shape[1]}, nv={self.qvel.shape[1]} but model {self.model!r} "
                f"({self.variant or 'default'}) has nq={m.nq}, nv={m.nv}"
            )
        return m

    def qpos_of(self, joint: str) -> np.ndarray:
        """(T,) for a hinge/slide joint, (T, 7) for the free root, (T, 4) for a ball joint."""
        if not self.qpos_index:
            self.qpos_index = _qpos_index(self.mj_model())
        if joint not in self.qpos_index:
            raise MmbioError(f"joint {joint!r} not in model {self.model!r}")
        adr, size = self.qpos_index[joint]
        return self.qpos[:, adr] if size == 1 else self.qpos[:, adr : adr + size]

    def with_joints_held(self, joints: Sequence[str], value_rad: float = 0.0, why: str = "") -> Motion:
        """A copy with these hinge joints held at ``value_rad`` (rad; their velocity 0), noted with ``why``."""
        import mujoco

        m = self.mj_model()
        qpos, qvel = self.qpos.copy(), self.qvel.copy()
        for name in joints:
            j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
            if j < 0 or m.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE:
                raise MmbioError(f"motion: cannot hold {name!r}: not a hinge joint of model {self.model!r}")
            qpos[:, m.jnt_qposadr[j]] = value_rad
            qvel[:, m.jnt_dofadr[j]] = 0.0
        note = f"{', '.join(joints)} held at {np.degrees(value_rad):g} deg" + (f" ({why})" if why else "")
        return replace(self, qpos=qpos, qvel=qvel, notes=[*self.notes, note])

    def save(self, path: PathArg) -> Path:
        """Write a compressed ``.npz`` (arrays + JSON metadata); returns the path."""
        p = Path(path)
        meta = {
            "rate_hz": self.rate_hz,
            "model": self.model,
            "variant": self.variant,
            "source": self.source,
            "notes": self.notes,
            "qpos_index": self.qpos_index,
            "format": _FORMAT,
        }
        arrays = {"qpos": self.qpos, "qvel": self.qvel, "meta": np.array(json.dumps(meta))}
        if self.stance is not None:
            arrays.update({f"stance_{s}": v for s, v in self.stance.items()})
        with p.open("wb") as f:
            np.savez_compressed(f, **arrays)
        return p

    @classmethod
    def load(cls, path: PathArg) -> Motion:
        """Read a motion written by :meth:`save` (what is checked: the module docstring).

        Raises:
            DataFileError: anything wrong with the file, in one line naming it (and the key).
        """
        with NpzArchive(path) as ar:
            ar.require("meta", "qpos", "qvel", what="an mmbio motion file")
            meta = Meta(ar.path, ar.json_dict("meta"))
            fmt = meta.text("format", default=None, max_chars=64)
            if fmt != _FORMAT:
                raise DataFileError(ar.path, f"not an mmbio motion file: format {fmt!r}, expected {_FORMAT!r}")
            rate_hz = meta.number("rate_hz", MIN_RATE_HZ, MAX_RATE_HZ)
            model = meta.text("model", pattern=_NAME_RE)
            variant = meta.text("variant", default=None, none_ok=True, pattern=_NAME_RE)
            source = meta.text("source", default="", max_chars=_MAX_TEXT)
            notes = meta.text_list("notes", default=[])
            if any(len(n) > _MAX_TEXT for n in notes):
                raise meta.fail("notes", f"holds a note longer than {_MAX_TEXT:,} characters")
            n = _frames(ar, "qpos")
            if _frames(ar, "qvel") != n:
                raise ar.fail("qvel", f"has {ar.header('qvel').shape[0]} frames, qpos has {n}")
            stance_keys = {}
            for key in ar.key_order:
                if key.startswith("stance_"):
                    side = key.removeprefix("stance_")
                    h = ar.header(key)
                    if side not in SIDES or h.shape != (n,) or h.dtype.kind != "b":
                        raise ar.fail(key, f"must be a bool stance mask (stance_r, stance_l) of {n} frames, "
                                           f"got shape {h.shape} dtype {h.dtype}")  # fmt: skip
                    stance_keys[side] = key
            try:  # only now the model (compiled on first use): the cheap checks above come first
                index = _model_qpos_index(*resolve(model, variant))
            except MmbioError as exc:
                raise meta.fail("model", f"/ 'variant': {exc}") from None
            m = _load_model(model, variant)
            qpos_index = _checked_qpos_index(meta, meta.mapping("qpos_index", default={}, free_form=False), index)
            for key, width, what in (("qpos", m.nq, "nq"), ("qvel", m.nv, "nv")):
                if ar.header(key).shape[1] != width:
                    raise ar.fail(
                        key,
                        f"has {ar.header(key).shape[1]} columns; model {model!r} ({variant or 'default variant'}) "
                        f"has {what} = {width}",
                    )
            stance = {side: ar.array(key, kinds="b", shape=(n,)) for side, key in stance_keys.items()}
            qpos, qvel = ar.float_array("qpos", (n, m.nq)), ar.float_array("qvel", (n, m.nv))
        return cls(
            qpos=qpos,
            qvel=qvel,
            rate_hz=rate_hz,
            model=model,
            variant=variant,
            source=source,
            notes=list(notes),
            stance=stance or None,
            qpos_index=qpos_index,
        )

    def __repr__(self) -> str:
        return (
            f"Motion({self.model!r}, {self.n_frames} frames at {self.rate_hz:g} Hz = {self.duration:.2f} s, "
            f"source={self.source!r}, {len(self.notes)} notes)"
        )


# --------------------------------------------------------------------------------------------------
# Motion files: the checks of Motion.load
# --------------------------------------------------------------------------------------------------


def _frames(ar: NpzArchive, key: str) -> int:
    """Frames T of a (T, k) motion array, from its header; 2 ≤ T ≤ ``MAX_FRAMES``."""
    shape = ar.header(key).shape
    if len(shape) != 2:
        raise ar.fail(key, f"must be a (T, k) array, got shape {shape}")
    check_count(ar.path, shape[0], "MAX_FRAMES", f"frames of key {key!r}")
    if shape[0] < 2:
        raise ar.fail(key, f"has {shape[0]} frame(s); a motion needs at least 2")
    return shape[0]


@cache
def _model_qpos_index(model: str, variant: str) -> dict[str, list[int]]:
    """The registry model's joint → [qpos address, size], as JSON gives it back (cached per resolved name)."""
    return {k: list(v) for k, v in _qpos_index(_load_model(model, variant)).items()}


def _checked_qpos_index(meta: Meta, given: dict[str, Any], index: dict[str, list[int]]) -> dict[str, Any]:
    """A motion file's ``qpos_index`` (joint → [address, size]); every entry must be the model's own."""
    if given != index:  # a subset, or not the model's (equal: the file of a builder, one dict comparison)
        for joint, v in given.items():
            if type(v) is not list or len(v) != 2 or any(type(x) is not int for x in v) or index.get(joint) != v:
                raise meta.fail("qpos_index", f"entry for joint {joint!r} is not the model's (qpos address, size)")
    return {k: tuple(v) for k, v in given.items()}


# --------------------------------------------------------------------------------------------------
# (a) From OpenSim IK
# --------------------------------------------------------------------------------------------------


def _resample(t_src: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cubic spline (not-a-knot) of (n, k) ``values`` onto ``t`` (inside the source range)."""
    if t_src.size < 4:
        return np.column_stack([np.interp(t, t_src, v) for v in np.atleast_2d(values.T)])
    return CubicSpline(t_src, values, axis=0)(t)


#: Per-frame floor: flight = the lowest foot point rises more than FLIGHT_BUMP_M above its running
#: lower envelope (a grey opening over FLIGHT_WINDOW_S: removes bumps shorter than a stance) for at
#: least FLIGHT_MIN_S, with both feet above FLIGHT_CLEAR_M.
FLIGHT_WINDOW_S = 0.2
FLIGHT_BUMP_M = 0.01
FLIGHT_CLEAR_M = 0.005
FLIGHT_MIN_S = 0.03
FLOOR_CUTOFF_HZ = 6.0
#: Per-frame floor: in contact frames the smoothed shift may leave the lowest foot point this far above z = 0.
FLOOR_TOL_M = 0.002


def _floor_shift(low: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame root z shift (T,) putting the lowest foot point ``low`` (T,) on z = 0, and the flight mask.

    Contact frames: shift = −low. Flight frames (see :data:`FLIGHT_WINDOW_S`; detected on the unshifted
    heights, so the IK's own vertical root motion decides): linear interpolation of the shift between
    the neighbouring contact frames (keeps the flight arc). Then, 8 times, a zero-lag 2nd-order
    Butterworth low-pass at :data:`FLOOR_CUTOFF_HZ` (``filtfilt``) followed by clipping back into the
    band "no penetration, contact frames at most :data:`FLOOR_TOL_M` above the floor".
    """
    from scipy.ndimage import grey_opening
    from scipy.signal import butter, filtfilt

    t = low.size
    w = max(3, round(FLIGHT_WINDOW_S * rate_hz) | 1)
    bump = low - grey_opening(low, size=w, mode="nearest")
    up = (bump > FLIGHT_BUMP_M) & (low > FLIGHT_CLEAR_M)
    flight = np.zeros(t, dtype=bool)
    min_len = max(2, round(FLIGHT_MIN_S * rate_hz))
    i = 0
    while i < t:
        if up[i]:
            j = i
            while j < t and up[j]:
                j += 1
            if j - i >= min_len:
                flight[i:j] = True
            i = j
        else:
            i += 1
    shift = -low.copy()
    k = np.arange(t)
    if flight.any() and (~flight).any():
        shift[flight] = np.interp(k[flight], k[~flight], shift[~flight])
    lo, hi = -low, np.where(flight, np.inf, -low + FLOOR_TOL_M)
    if t > 12 and FLOOR_CUTOFF_HZ < 0.5 * rate_hz:
        b, a = butter(2, FLOOR_CUTOFF_HZ / (0.5 * rate_hz))
        for _ in range(8):  # smooth, then back into the band [on the floor, FLOOR_TOL_M above it]
            shift = np.clip(filtfilt(b, a, shift, padtype="even"), lo, hi)
    return np.clip(shift, lo, hi), flight


def motion_from_opensim(
    coordinates_path: PathArg,
    *,
    model: str = "myofullbody",
    variant: str | None = None,
    rate_hz: float = 100.0,
    knee_sign: Literal["auto", 1, -1] = "auto",
    floor: Literal["per_frame", "global"] = "per_frame",
    belt_speed_m_s: float | None = None,
) -> Motion:
    """A :class:`Motion` from OpenSim IK coordinates (``.mot``/``.sto``) of a Rajagopal-family model.

    Mapping: coordinates → clinical angles by :func:`mmbio.io.opensim.coordinates_to_angles` (units,
    the patella-in-degrees trap and the knee sign: ``'auto'`` detects gait2392/Hamner's negative
    flexion), then clinical → model joints by name and sign (hip ×3, knee, ankle, subtalar, mtp,
    lumbar → flex_extension/lat_bending/axial_rotation). Absent coordinates (Rajagopal has no subtalar
    or mtp; Hamner's are locked at 0) stay at ``qpos0``; the arms take a relaxed posture clear of the trunk
    (:mod:`mmbio.sim.arm_posture`). Pelvis: orientation from
    tilt/list/rotation (:mod:`mmbio.sim.frames`), position ``C @ (tx, ty, tz)``. Resampling: cubic
    spline (not-a-knot) onto ``t0 + k / rate_hz`` within the source time range. Equality-coupled
    joints (knee translations/rotations, patella, lumbar vertebrae) are filled from their drivers.
    qvel: central differences with ``mj_differentiatePos`` (after the root shifts below).

    floor: vertical root placement. ``'global'``: one shift for the whole motion, the lowest point of
    any foot collision geom over all frames at z = 0 (the stance foot may float where the IK's pelvis
    height and the model's feet disagree). ``'per_frame'`` (default): a per-frame vertical root shift
    (:func:`_floor_shift`) puts the lowest foot point at z = 0 in every contact frame; in flight phases
    (both feet up: running) the shift is interpolated linearly between the neighbouring contact frames
    so the flight arc of the root is kept; the shift is then low-passed (zero-lag 2nd-order
    Butterworth, 6 Hz, ``filtfilt``) alternately with clipping into "no penetration, stance foot at
    most 2 mm above the floor". Only
    the root z changes: joint angles are untouched. Its min/max/RMS (relative to the global
    placement) go into ``notes``.

    belt_speed_m_s: for treadmill trials (pelvis_tx ≈ constant), adds a forward root translation of
    ``belt_speed_m_s · t`` along the model's forward direction (−y), so the motion travels over a
    fixed floor at the belt speed (the stance foot then stays nearly still in the world frame).
    """
    from mmbio.io.opensim import coordinates_to_angles, read_storage

    notes: list[str] = []
    st = read_storage(coordinates_path)
    notes += [f"{Path(coordinates_path).name}: {w}" for w in st.warnings]
    angles, extra = coordinates_to_angles(st, knee_sign=knee_sign, notes=notes)
    if len(angles) == 0:
        raise DataFileError(coordinates_path, "no recognised joint coordinates")
    model, variant = resolve(model, variant)
    m = _load_model(model, variant)
    idx = _qpos_index(m)
    jmap = JOINT_MAP
    t_src = np.asarray(angles.time, dtype=float)
    if t_src.size < 2:
        raise DataFileError(coordinates_path, "fewer than two frames")
    n = math.floor((t_src[-1] - t_src[0]) * rate_hz + 1e-9) + 1
    t = t_src[0] + np.arange(n) / rate_hz
    ang = _resample(t_src, angles.values, t)  # clinical, deg
    col = {nm: ang[:, j] for j, nm in enumerate(angles.names)}
    qpos = np.tile(m.qpos0, (n, 1))
    mapped, unmapped = [], []
    for nm, v in col.items():
        if nm in jmap and jmap[nm][0] in idx:
            joint, sign = jmap[nm]
            qpos[:, idx[joint][0]] = sign * np.radians(v) / joint_gain(m, nm)
            mapped.append(joint)
        elif not nm.startswith("pelvis_"):
            unmapped.append(nm)
    if unmapped:
        notes.append(f"coordinates without a model joint, ignored: {', '.join(unmapped)}")
    missing = [j for nm, (j, _) in jmap.items() if j in idx and j not in mapped]
    if missing:
        notes.append(f"model joints absent from the file, left at qpos0: {', '.join(sorted(missing))}")
    qpos, arm_note = relax_arms(m, qpos)
    notes.append(arm_note or "arms (and any coordinate without a one-to-one model joint) left at qpos0")
    if [c for c in extra.columns if "beta" in c]:
        notes.append("patella coordinates (*_beta) ignored: the model couples the patella to the knee angle")
    root = _root_adr(m)
    pelvis = np.column_stack([col.get(k, np.zeros(n)) for k in ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")])
    qpos[:, root + 3 : root + 7] = quat_from_pelvis_angles(pelvis)
    if all(f"pelvis_t{c}" in extra.columns for c in "xyz"):
        trans_os = _resample(t_src, extra[[f"pelvis_t{c}" for c in "xyz"]].to_numpy(dtype=float), t)
        qpos[:, root : root + 3] = trans_os @ OPENSIM_TO_MUJOCO.T
        speed = -np.polyfit(t, qpos[:, root + 1], 1)[0]
        notes.append(f"root forward speed {speed:.3f} m/s along -y (from pelvis_tx)")
        if abs(speed) < 0.2:
            notes.append("pelvis_tx nearly constant (treadmill?): the root stays in place")
    else:
        notes.append("no pelvis translations in the file: root x/y at qpos0")
    if belt_speed_m_s is not None:
        qpos[:, root + 1] -= float(belt_speed_m_s) * (t - t[0])
        notes.append(f"treadmill belt: root translated forward (-y) at {float(belt_speed_m_s):.3f} m/s")
    qpos = coupled_qpos(m, qpos)
    fk = _foot_kinematics(m, qpos)
    zmin = min(float(fk.low[s][:, 2].min()) for s in SIDES)
    qpos[:, root + 2] -= zmin
    notes.append(f"root shifted by {-zmin:+.4f} m vertically: lowest foot point over the motion at z = 0")
    if floor == "per_frame":
        low = np.minimum(fk.low["r"][:, 2], fk.low["l"][:, 2]) - zmin  # after the global placement
        shift, flight = _floor_shift(low, rate_hz)
        qpos[:, root + 2] += shift
        rms, std = float(np.sqrt(np.mean(shift**2))), float(np.std(shift))
        notes.append(
            f"per-frame floor: root z shifted by {shift.min():+.4f}..{shift.max():+.4f} m "
            f"(RMS {rms:.4f} m, about its mean {std:.4f} m) beyond the global placement; stance foot at z = 0, "
            f"{int(flight.sum())} flight frames interpolated, 6 Hz zero-lag low-pass"
        )
    elif floor != "global":
        raise MmbioError(f"floor must be 'per_frame' or 'global', not {floor!r}")
    qvel = finite_difference_qvel(m, qpos, 1.0 / rate_hz)
    return Motion(
        qpos=qpos,
        qvel=qvel,
        rate_hz=float(rate_hz),
        model=model,
        variant=variant,
        source=str(coordinates_path),
        notes=notes,
        qpos_index=idx,
    )


# --------------------------------------------------------------------------------------------------
# Quality figures
# --------------------------------------------------------------------------------------------------


def motion_quality(motion: Motion, *, contact_height_m: float = CONTACT_HEIGHT_M) -> dict[str, Any]:
    """Foot–floor and joint-range quality of a motion.

    Keys (m, m/s, deg):

    * ``penetration_max_m`` / ``penetration_mean_m``: depth of the lowest foot collision geom point
      below z = 0, max over frames / mean over all frames (0 where none).
    * ``floating_max_m`` / ``floating_mean_m``: height of each foot's lowest point above z = 0 while
      that foot is in stance (max / mean over stance frames of both feet). Stance is the motion's
      planned stance (:attr:`Motion.stance`) when it has one; otherwise a foot is in stance while its
      lowest point is below ``contact_height_m`` (default 2 cm), so floating is then bounded by it.
    * ``unsupported_max_m``: max over frames of the lower foot's height (flight phases in running).
    * ``sliding_max_m_s`` / ``sliding_mean_m_s``: horizontal speed of the body-fixed point under a
      foot's lowest point between consecutive frames, over frames where that foot is in stance and
      its lowest point is below ``contact_height_m``.
    * ``joint_limits``: ``{joint: {'max_excess', 'units', 'frames'}}`` for limited hinge (deg) and
      slide (m) joints that leave ``jnt_range``; ``joint_limit_max_deg``: the largest hinge excess.
    * ``stance_source``: ``'planned'`` or ``'height threshold'``.
    """
    m = motion.mj_model()
    fk = _foot_kinematics(m, motion.qpos)
    h = {s: fk.low[s][:, 2] for s in SIDES}
    lowest = np.min(fk.points[:, :, 2], axis=1)
    pen = np.maximum(-lowest, 0.0)
    planned = motion.stance is not None and all(s in motion.stance for s in SIDES)
    stance = {s: motion.stance[s] for s in SIDES} if planned else {s: h[s] < contact_height_m for s in SIDES}
    fl = np.concatenate([np.maximum(h[s][stance[s]], 0.0) for s in SIDES])
    slips = []
    for s in SIDES:
        v = _slip_speed(fk, s, motion.rate_hz)
        ok = stance[s][:-1] & stance[s][1:] & (h[s][:-1] < contact_height_m)
        slips.append(v[ok])
    slip = np.concatenate(slips) if slips else np.empty(0)
    limits: dict[str, dict[str, Any]] = {}
    worst = 0.0
    for j in range(m.njnt):
        if not m.jnt_limited[j] or m.jnt_type[j] not in (2, 3):
            continue
        q = motion.qpos[:, m.jnt_qposadr[j]]
        lo, hi = m.jnt_range[j]
        exc = np.maximum(np.maximum(lo - q, q - hi), 0.0)
        if exc.max() > 1e-9:
            hinge = m.jnt_type[j] == 3
            val = float(np.degrees(exc.max()) if hinge else exc.max())
            limits[m.joint(j).name] = {
                "max_excess": val,
                "units": "deg" if hinge else "m",
                "frames": int((exc > 1e-9).sum()),
            }
            if hinge:
                worst = max(worst, val)

    def stat(a: np.ndarray, f: Any) -> float:
        return float(f(a)) if a.size else 0.0

    return {
        "penetration_max_m": float(pen.max()),
        "penetration_mean_m": float(pen.mean()),
        "floating_max_m": stat(fl, np.max),
        "floating_mean_m": stat(fl, np.mean),
        "unsupported_max_m": float(np.max(np.maximum(np.minimum(h["r"], h["l"]), 0.0))),
        "sliding_max_m_s": stat(slip, np.max),
        "sliding_mean_m_s": stat(slip, np.mean),
        "joint_limits": limits,
        "joint_limit_max_deg": worst,
        "stance_source": "planned" if planned else "height threshold",
        "contact_height_m": contact_height_m,
        "n_frames": motion.n_frames,
    }
