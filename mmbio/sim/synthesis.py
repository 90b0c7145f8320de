"""Synthesised reference motions: a periodic walk or run of MyoFullBody at a requested speed from the normative
curves in ``reference_data/`` (:func:`synthesize_motion`), with the foot lock that makes a synthesized cycle agree
with its planned stance (:func:`_foot_lock`; :mod:`mmbio.sim.measured_stride` uses it on a measured stride, keeping
its centre-of-mass acceleration). Works without ``../shared``. Imported by :mod:`mmbio.sim.motion`, which
re-exports :func:`synthesize_motion`, :func:`leg_length` and the foot-lock constants.

Conventions: MuJoCo world z up, the model walks along −y (:mod:`mmbio.sim.frames`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.interpolate import CubicSpline

from mmbio.errors import MmbioError
from mmbio.models.anatomy import JOINT_MAP, coupled_qpos, joint_gain
from mmbio.models.registry import resolve
from mmbio.sim.arm_posture import relax_arms
from mmbio.sim.foot_geometry import (
    GRAVITY,
    SIDES,
    _foot_geoms,
    _foot_kinematics,
    _load_model,
    _lowest_points,
    _qpos_index,
    _root_adr,
)
from mmbio.sim.frames import quat_from_pelvis_angles
from mmbio.sim.rollout_cpu import finite_difference_qvel

if TYPE_CHECKING:
    from mmbio.sim.motion import Motion

__all__ = ["leg_length", "synthesize_motion"]

# --------------------------------------------------------------------------------------------------
# Synthesis from normative curves: gait plan and timing
# --------------------------------------------------------------------------------------------------


def leg_length(model: str = "myofullbody", variant: str | None = None) -> float:
    """Leg length (m) of the model: hip joint centre height above the lowest foot point at ``qpos0``."""
    import mujoco

    m = _load_model(model, variant)
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    hip = float(
        np.mean([d.xanchor[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"hip_flexion_{s}")][2] for s in SIDES])
    )
    fk = _foot_kinematics(m, m.qpos0[None, :])
    foot = min(float(fk.low[s][0, 2]) for s in SIDES)
    return hip - foot


def _periodic(values: np.ndarray) -> CubicSpline:
    """Periodic cubic spline over 0–100 % from (101,) values; a start–end mismatch is spread linearly."""
    pct = np.linspace(0.0, 100.0, values.size)
    y = values - (values[-1] - values[0]) * pct / 100.0
    return CubicSpline(pct, y, bc_type="periodic")


def _curve(name: str, cond: str, variable: str) -> CubicSpline | None:
    from mmbio.errors import UnknownReferenceError
    from mmbio.reference.registry import reference_curve

    try:
        c = reference_curve(name, cond, variable, side="r", quantity="joint_angle")
    except UnknownReferenceError:
        return None
    return _periodic(np.asarray(c.mean, dtype=float))


def _gait_plan(
    gait: str, speed: float, leg: float, reference: str | None, notes: list[str]
) -> tuple[str, str, float, float]:
    """(dataset, condition, stride time s, toe-off % of cycle) for the requested gait and speed."""
    from mmbio.reference.registry import get_reference, load_scalars, parse_spec

    def scalar(name: str, cond: str, var: str) -> float:
        sc = load_scalars(name, cond)
        v = sc[sc.variable == var]["mean"].to_numpy(dtype=float)
        if v.size == 0:
            raise MmbioError(f"{name}:{cond} has no scalar {var!r}")
        return float(np.mean(v))

    if gait == "walk":
        name = "schwartz2008"
        ds = get_reference(name)
        conds = ds.conditions
        vhat = speed / math.sqrt(GRAVITY * leg)
        speeds = np.array([scalar(name, c, "speed_dimensionless") for c in conds])
        steps = np.array([scalar(name, c, "step_length_dimensionless") for c in conds])
        order = np.argsort(speeds)
        step_hat = float(np.interp(vhat, speeds[order], steps[order]))
        stride_time = 2.0 * step_hat * leg / speed
        cond = conds[int(np.argmin(np.abs(speeds - vhat)))]
        if reference is not None:
            name, cond = parse_spec(reference)
        notes.append(
            f"walk: dimensionless speed v/sqrt(g L) = {vhat:.3f} (leg length L = {leg:.3f} m, hip joint centre "
            f"height at qpos0); step length {step_hat:.3f} L interpolated from Schwartz 2008 "
            f"step_length_dimensionless vs speed_dimensionless; stride time {stride_time:.3f} s"
        )
        if vhat < speeds.min() or vhat > speeds.max():
            notes.append(
                f"walk: speed outside the Schwartz range {speeds.min():.2f}-{speeds.max():.2f}: step length clamped"
            )
        toe_off = scalar("schwartz2008", cond if name == "schwartz2008" else "free", "toe_off_pct")
    elif gait == "run":
        name = "hamner2013_run"
        ds = get_reference(name)
        conds = ds.conditions
        speeds = np.array([scalar(name, c, "speed") for c in conds])
        times = np.array([scalar(name, c, "stride_time") for c in conds])
        order = np.argsort(speeds)
        stride_time = float(np.interp(speed, speeds[order], times[order]))
        cond = conds[int(np.argmin(np.abs(speeds - speed)))]
        if reference is not None:
            name, cond = parse_spec(reference)
        toe_off = scalar("hamner2013_run", cond if name == "hamner2013_run" else conds[0], "toe_off_pct")
        notes.append(
            f"run: stride time {stride_time:.3f} s interpolated from Hamner 2013 stride_time vs speed "
            f"({speeds.min():g}-{speeds.max():g} m/s, clamped outside)"
        )
    else:
        raise MmbioError(f"gait must be 'walk' or 'run', got {gait!r}")
    return name, cond, stride_time, toe_off


# --------------------------------------------------------------------------------------------------
# Foot lock: small corrections that make a synthesized cycle agree with its planned stance
# --------------------------------------------------------------------------------------------------

#: Leg joints the foot lock corrects per frame, with the prior SD (deg) of the correction. mtp has no
#: reference curve (held at 0), so its correction is nearly free (within the joint range).
LOCK_JOINT_SD_DEG: dict[str, float] = {
    "hip_flexion": 3.0,
    "hip_adduction": 2.0,
    "hip_rotation": 3.0,
    "knee_angle": 3.0,
    "ankle_angle": 3.0,
    "subtalar_angle": 3.0,
    "mtp_angle": 10.0,
}
#: Joints that also get one constant correction (same on both sides, over the whole cycle), prior SD (deg).
LOCK_CONSTANT_SD_DEG: dict[str, float] = {"ankle_angle": 10.0}
#: Loaded parts of a stance foot, as fractions of its planned stance (heel strike 0 → toe off 1): heel
#: (posterior ends of the two calcaneus capsules) from heel strike to heel off; metatarsal heads (both
#: ends of ``bofoot_col2``) and lesser toes (lateral end of ``bofoot_col1``) from foot flat to
#: :data:`MTP_OFF_STANCE`; hallux (medial end of ``bofoot_col1``) from foot flat to toe off. With toe
#: off at 59–62 % of the cycle: foot flat at ≈ 9 %, heel off at ≈ 38–40 % (Perry & Burnfield 2010:
#: loading response to ≈ 10–12 %, heel rise in terminal stance from ≈ 31–40 %); in pre-swing the
#: hallux alone (MyoFullBody's mtp range, ±30°, is below the ≈ 50° of MTP extension at toe off, so
#: the forefoot must roll off the hallux).
FOOT_FLAT_STANCE = 0.15
HEEL_OFF_STANCE = 0.65
MTP_OFF_STANCE = 0.85
#: Swing clearance (m): every foot geom stays above ``SWING_CLEARANCE_M × min(1, σ / r, (1 − σ) / r)``
#: with σ the fraction of the swing and r = :data:`SWING_RAMP` (lift-off and landing ramps of ≈ 6 frames
#: at 100 Hz). 22 mm keeps the swing foot above the 20 mm contact height (21 mm release) of kinematic
#: replays (:mod:`mmbio.sim.extract`), so each stance gives one contact there; measured minimum toe
#: clearance in adult walking is ≈ 1–3 cm, and on MyoFullBody the lower clearance of the raw curves
#: costs most of the swing-phase corrections.
SWING_CLEARANCE_M = 0.022
SWING_RAMP = 0.15
_LOCK_TOL_M = 1e-4  # SD (m) of the contact height and of the per-frame slip of a loaded point
_LOCK_ROOT_ROT_SD_DEG = 2.0  # pelvis orientation correction
_LOCK_ROOT_POS_SD_M = 0.05  # root position from its first placement (weak)
_LOCK_SMOOTH_SD_DEG = 0.3  # second difference of a correction per frame
_LOCK_ROOT_ACC_SD_M = 0.005  # second difference of the root position per frame (ballistic in flight)


def _contact_points(model: Any) -> dict[str, list[list[tuple[int, np.ndarray, float]]]]:
    """Per side [heel, metatarsal heads, toes] contact spheres: (body id, centre in body frame, radius)."""
    import mujoco

    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    out = {}
    for s in SIDES:
        parts: list[list[tuple[int, np.ndarray, float]]] = [[], [], []]
        for nm in (f"{s}_foot_col1", f"{s}_foot_col3", f"{s}_bofoot_col2", f"{s}_bofoot_col1"):
            if True:
                g = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, nm)
                if g < 0 or model.geom_type[g] != mujoco.mjtGeom.mjGEOM_CAPSULE:
                    raise MmbioError(f"foot lock: model lacks the capsule {nm!r}")
                b = int(model.geom_bodyid[g])
                rb = d.xmat[b].reshape(3, 3)
                gm = d.geom_xmat[g].reshape(3, 3)
                r, h = float(model.geom_size[g, 0]), float(model.geom_size[g, 1])
                cs = [d.geom_xpos[g] + sign * h * gm[:, 2] for sign in (1.0, -1.0)]
                sphere = [(b, rb.T @ (c - d.xpos[b]), r) for c in cs]
                if "_foot_" in nm:  # heel: the posterior end (the model faces −y: larger y)
                    parts[0].append(sphere[int(np.argmax([c[1] for c in cs]))])
                elif "col2" in nm:  # metatarsal heads
                    parts[1] += sphere
                else:  # toes: the medial end (hallux, nearer the midline x = 0) carries to toe off
                    med = int(np.argmin([abs(c[0]) for c in cs]))
                    parts[2].append(sphere[med])
                    parts[1].append(sphere[1 - med])
        out[s] = parts
    return out


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3, 3) cross-product matrices of (..., 3) vectors."""
    z = np.zeros(v.shape[:-1])
    return np.stack(
        [np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
         np.stack([-v[..., 1], v[..., 0], z], -1)], -2)  # fmt: skip


def _quat_mul_exp(q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(T, 4) q ⊗ exp(w / 2): q rotated by the local rotation vectors w (T, 3)."""
    a = np.linalg.norm(w, axis=1, keepdims=True)
    u = np.where(a > 1e-12, w / np.maximum(a, 1e-12), 0.0)
    e = np.hstack([np.cos(a / 2), np.sin(a / 2) * u])
    w1, v1, w2, v2 = q[:, :1], q[:, 1:], e[:, :1], e[:, 1:]
    return np.hstack([w1 * w2 - np.sum(v1 * v2, 1, keepdims=True), w1 * v2 + w2 * v1 + np.cross(v1, v2)])


def _foot_lock(
    m: Any,
    qpos: np.ndarray,
    phase: dict[str, np.ndarray],
    toe_off: float | dict[str, float],
    shift_y: float,
    rate_hz: float,
    notes: list[str],
    *,
    iterations: int = 30,
    smooth_sd_deg: float = _LOCK_SMOOTH_SD_DEG,
    root_rot_smooth_sd_deg: float | None = None,
    root_acc_sd_m: float = _LOCK_ROOT_ACC_SD_M,
    root_smooth: Literal["position", "correction", "com"] = "position",
    range_margin_rad: float = 0.0,
    swing_clearance_m: float = SWING_CLEARANCE_M,
    swing_ramp: float = SWING_RAMP,
    foot_flat_stance: float = FOOT_FLAT_STANCE,
    heel_slip_sd_m: float = _LOCK_TOL_M,
) -> np.ndarray:
    """One periodic cycle (n, nq) corrected so that the feet follow the planned stance.

    phase: per side (n,) % of the cycle since that foot's heel strike; toe_off: % (one for both feet, or per
    side ``{'r': .., 'l': ..}``); shift_y: root y change over the cycle (the frame after the last is the first
    shifted by it). Unknowns per frame:
    root position, a small pelvis rotation and the :data:`LOCK_JOINT_SD_DEG` joint corrections, plus
    the :data:`LOCK_CONSTANT_SD_DEG` constants. Weighted least squares (Gauss–Newton on ``mj_jac``
    Jacobians, Levenberg–Marquardt damped, all frames at once, periodic): loaded contact spheres at
    z = 0 and without slip between frames (rolling allowed), every foot geom at z ≥ 0 and at z ≥
    :data:`SWING_CLEARANCE_M` in swing, corrections small and smooth, locked joints in range.

    Smoothness: ``smooth_sd_deg`` is the prior SD of the periodic second difference (per frame) of every
    joint correction, ``root_rot_smooth_sd_deg`` that of the pelvis rotation correction (default: the same);
    ``root_acc_sd_m`` that of the root position's second difference per frame: of the
    corrected root position itself (``root_smooth='position'``, the synthesised motions: their root path is
    built by the lock) or of the root *correction* only (``'correction'``: a measured pelvis path keeps its
    own accelerations, which carry the measured ground reaction, and only a smooth correction is added);
    ``'com'``: of the whole-body centre of mass's change (``c(q) − c(q_in)``), so that the COM acceleration of
    the input, i.e. the total ground reaction ``m (g + c̈)`` it implies, is kept up to ``root_acc_sd_m`` per
    frame², whichever joints and root corrections the lock makes (the root correction itself then only gets
    the weak default smoothness).
    range_margin_rad: the corrected joints are kept this far inside their ranges (at most a tenth of a range).
    swing_clearance_m, swing_ramp, foot_flat_stance: the swing clearance, its lift-off/landing ramp and the foot-flat
    fraction of the stance (defaults :data:`SWING_CLEARANCE_M`, :data:`SWING_RAMP`, :data:`FOOT_FLAT_STANCE`).
    heel_slip_sd_m: SD (m per frame) of the loaded heel's slip from heel strike to foot flat (default: as every
    loaded point, no slip).
    """
    import mujoco
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    from mmbio.models.anatomy import joint_couplings

    for key, val, lo_, hi_ in (("swing_clearance_m", swing_clearance_m, 0.0, 0.2), ("swing_ramp", swing_ramp, 0.01, 0.5),
                               ("foot_flat_stance", foot_flat_stance, 0.0, HEEL_OFF_STANCE),
                               ("heel_slip_sd_m", heel_slip_sd_m, _LOCK_TOL_M, 0.05), ("iterations", iterations, 1, 1000)):  # fmt: skip
        number = (
            isinstance(val, int | float) and not isinstance(val, bool) and (key != "iterations" or isinstance(val, int))
        )
        if not (number and np.isfinite(val) and lo_ <= val <= hi_):
            raise MmbioError(f"foot lock: {key} must lie in [{lo_:g}, {hi_:g}], got {val!r}")

    n = qpos.shape[0]
    idx = _qpos_index(m)
    root = _root_adr(m)
    rdof = int(m.jnt_dofadr[next(j for j in range(m.njnt) if m.jnt_type[j] == 0)])
    names = [f"{j}_{s}" for s in SIDES for j in LOCK_JOINT_SD_DEG]
    jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, nm) for nm in names]
    jq = np.array([idx[nm][0] for nm in names])
    dofs = np.r_[rdof + np.arange(6), m.jnt_dofadr[jids]]
    kk = dofs.size
    sd = np.radians(np.array([LOCK_JOINT_SD_DEG[j] for _ in SIDES for j in LOCK_JOINT_SD_DEG]))
    consts = list(LOCK_CONSTANT_SD_DEG)
    const_cols = [[6 + names.index(f"{c}_{s}") for s in SIDES] for c in consts]
    const_sd = np.radians(np.array([LOCK_CONSTANT_SD_DEG[c] for c in consts]))
    nc = len(consts)
    knee = {}  # local column → [(dep dof, indep qpos adr, x0, d coef)]
    for c in joint_couplings(m):
        if c.indep in jq:
            col = 6 + int(np.flatnonzero(jq == c.indep)[0])
            knee.setdefault(col, []).append((c.dep_dof, c.indep, c.x0, np.polynomial.polynomial.polyder(c.coef)))
    # kept inside the range by range_margin_rad (at most a tenth of the range), as the tracking controller's
    # reference is (mmbio.control.reference.LoopedReference._inside_limits)
    mg = np.minimum(range_margin_rad, (m.jnt_range[jids, 1] - m.jnt_range[jids, 0]) / 10)
    lo = m.jnt_range[jids, 0] + mg
    hi = m.jnt_range[jids, 1] - mg
    limited = m.jnt_limited[jids].astype(bool)

    geoms = _foot_geoms(m)
    all_g = np.array([g for s in SIDES for g in geoms[s]])
    g_side = np.array([s for s in SIDES for _ in geoms[s]])
    pts = _contact_points(m)
    bodies = sorted({int(b) for b in m.geom_bodyid[all_g]} | {b for s in SIDES for part in pts[s] for b, _, _ in part})
    bix = {b: k for k, b in enumerate(bodies)}
    g_bix = np.array([bix[int(m.geom_bodyid[g])] for g in all_g])

    # masks per side
    to = {s: float(toe_off[s]) for s in SIDES} if isinstance(toe_off, dict) else {s: float(toe_off) for s in SIDES}
    sw = {s: (phase[s] - to[s]) / (100.0 - to[s]) for s in SIDES}
    heel = {s: phase[s] < HEEL_OFF_STANCE * to[s] for s in SIDES}
    flat = {s: phase[s] >= foot_flat_stance * to[s] for s in SIDES}
    loaded = {s: (heel[s], flat[s] & (phase[s] < MTP_OFF_STANCE * to[s]), flat[s] & (phase[s] < to[s])) for s in SIDES}
    clear = {s: swing_clearance_m * np.clip(np.minimum(sw[s], 1.0 - sw[s]) / swing_ramp, 0.0, 1.0) for s in SIDES}
    c_geom = np.stack([clear[s] for s in g_side], axis=1)  # (n, G)
    flight = ~np.any([phase[s] < to[s] for s in SIDES], axis=0)
    if root_smooth not in ("position", "correction", "com"):
        raise MmbioError(f"foot lock: root_smooth must be 'position', 'correction' or 'com', got {root_smooth!r}")
    use_com = root_smooth == "com"

    q_ref = qpos.copy()
    pos0 = qpos[:, root : root + 3].copy()
    quat0 = qpos[:, root + 3 : root + 7].copy()
    off = np.zeros((n, kk))  # [root position change (3), root rotation vector (3), joint corrections]
    gconst = np.zeros(nc)
    d = mujoco.MjData(m)
    jacp = np.zeros((3, m.nv))
    jacr = np.zeros((3, m.nv))
    shift = np.array([0.0, shift_y, 0.0])
    dt_ = 1.0 / rate_hz

    def build(off: np.ndarray, gconst: np.ndarray) -> np.ndarray:
        q = q_ref.copy()
        q[:, root : root + 3] = pos0 + off[:, :3]
        q[:, root + 3 : root + 7] = _quat_mul_exp(quat0, off[:, 3:6])
        add = off[:, 6:].copy()
        for cols, v in zip(const_cols, gconst, strict=True):
            add[:, np.array(cols) - 6] += v
        q[:, jq] += add
        return coupled_qpos(m, q)

    jcom_full = np.zeros((3, m.nv))

    def evaluate(q: np.ndarray, want_jac: bool) -> tuple[np.ndarray, Any]:
        nb = len(bodies)
        com = np.empty((n, 3))
        jcom = np.zeros((n, 3, kk))
        xp = np.empty((n, nb, 3))
        xm = np.empty((n, nb, 3, 3))
        gp = np.empty((n, all_g.size, 3))
        gm = np.empty((n, all_g.size, 3, 3))
        jp = np.zeros((n, nb, 3, kk))
        jr = np.zeros((n, nb, 3, kk))
        if want_jac:  # dof velocities per unit change of each unknown (knee dependents via P′(knee))
            dmap = np.zeros((n, m.nv, kk))
            dmap[:, dofs, np.arange(kk)] = 1.0
            for col, deps in knee.items():
                for dep_dof, qa, x0, dc in deps:
                    dmap[:, dep_dof, col] = np.polynomial.polynomial.polyval(q[:, qa] - x0, dc)
        for i in range(n):
            d.qpos[:] = q[i]
            mujoco.mj_kinematics(m, d)
            if use_com:
                mujoco.mj_comPos(m, d)
                com[i] = d.subtree_com[0]
            xp[i] = d.xpos[bodies]
            xm[i] = d.xmat[bodies].reshape(-1, 3, 3)
            gp[i] = d.geom_xpos[all_g]
            gm[i] = d.geom_xmat[all_g].reshape(-1, 3, 3)
            if want_jac:
                mujoco.mj_comPos(m, d)
                if use_com:
                    mujoco.mj_jacSubtreeCom(m, d, jcom_full, 0)
                    jcom[i] = jcom_full @ dmap[i]
                for k, b in enumerate(bodies):
                    mujoco.mj_jac(m, d, jacp, jacr, d.xpos[b], b)
                    jp[i, k] = jacp @ dmap[i]
                    jr[i, k] = jacr @ dmap[i]
        low = _lowest_points(m.geom_type[all_g], m.geom_size[all_g], gp, gm)

        rows_r: list[np.ndarray] = []
        blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []  # (rows, frames, (m, kk) J, kinematic)
        nrow = [0]

        def add(
            r: np.ndarray, frames: np.ndarray | None = None, jac: np.ndarray | None = None, kin: bool = True
        ) -> np.ndarray:
            ids = nrow[0] + np.arange(r.size)
            nrow[0] += r.size
            rows_r.append(r)
            if want_jac and jac is not None and frames is not None:
                blocks.append((ids, frames, jac, kin))
            return ids

        def point_jac(fr: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
            return jp[fr, b] - np.einsum("tij,tjk->tik", _skew(p - xp[fr, b]), jr[fr, b])

        # contact spheres
        for s in SIDES:
            for part, mask in enumerate(loaded[s]):
                for b, c_loc, rad in pts[s][part]:
                    k = bix[b]
                    ctr = xp[:, k] + np.einsum("tij,j->ti", xm[:, k], c_loc)
                    p = ctr - np.array([0.0, 0.0, rad])
                    fr = np.flatnonzero(mask)
                    kb = np.full(fr.size, k)
                    pj = point_jac(fr, kb, p[fr]) if want_jac else None
                    add(p[fr, 2] / _LOCK_TOL_M, fr, None if pj is None else pj[:, 2] / _LOCK_TOL_M)
                    nxt = (fr + 1) % n
                    both = mask[nxt]
                    f0, f1 = fr[both], nxt[both]
                    loc = np.einsum("tji,tj->ti", xm[f0, k], p[f0] - xp[f0, k])
                    p1 = xp[f1, k] + np.einsum("tij,tj->ti", xm[f1, k], loc)
                    wrap = (f1 == 0)[:, None] * shift
                    # slip SD per frame pair: the heel before foot flat may move by heel_slip_sd_m per frame
                    tol = np.where((part == 0) & ~flat[s][f0], heel_slip_sd_m, _LOCK_TOL_M)[:, None]
                    res = (p1 + wrap - p[f0])[:, :2] / tol
                    if want_jac:
                        j1 = point_jac(f1, np.full(f1.size, k), p1)[:, :2] / tol[:, :, None]
                        j0 = -point_jac(f0, np.full(f0.size, k), p[f0])[:, :2] / tol[:, :, None]
                        ids = add(res.ravel())
                        blocks.append((ids, np.repeat(f1, 2), j1.reshape(-1, kk), True))
                        blocks.append((ids, np.repeat(f0, 2), j0.reshape(-1, kk), True))
                    else:
                        add(res.ravel())
        # every foot geom above its floor / swing clearance (active set)
        viol = low[:, :, 2] < c_geom + 1e-4
        fr, gi = np.nonzero(viol)
        if fr.size:
            r = (low[fr, gi, 2] - c_geom[fr, gi]) / _LOCK_TOL_M
            pj = point_jac(fr, g_bix[gi], low[fr, gi])[:, 2] / _LOCK_TOL_M if want_jac else None
            add(np.where(r < 0, r, 0.0), fr, None if pj is None else pj * (r < 0)[:, None])
        # priors
        eye = np.eye(kk)
        prior_sd = np.r_[np.full(3, _LOCK_ROOT_POS_SD_M), np.full(3, np.radians(_LOCK_ROOT_ROT_SD_DEG)), sd]
        for k in range(kk):
            add(off[:, k] / prior_sd[k], np.arange(n), np.tile(eye[k] / prior_sd[k], (n, 1)), kin=False)
        # joint ranges
        qj = q[:, jq]
        exc = np.where(qj > hi, qj - hi, np.where(qj < lo, qj - lo, 0.0)) * limited
        fr, jj = np.nonzero(exc)
        if fr.size:
            w = 1.0 / np.radians(0.1)
            add(exc[fr, jj] * w, fr, eye[6 + jj] * w)
        # smoothness (periodic second differences); root position: ballistic in flight
        im, ip = (np.arange(n) - 1) % n, (np.arange(n) + 1) % n
        for k in range(3, kk):
            sm = np.radians(smooth_sd_deg if k >= 6 or root_rot_smooth_sd_deg is None else root_rot_smooth_sd_deg)
            r = (off[im, k] - 2 * off[:, k] + off[ip, k]) / sm
            ids = add(r)
            if want_jac:
                for fr_, w in ((im, 1.0), (np.arange(n), -2.0), (ip, 1.0)):
                    blocks.append((ids, fr_, np.tile(eye[k] * w / sm, (n, 1)), False))
        if root_smooth == "position":
            pos = q[:, root : root + 3]
            pm = pos[im] - (np.arange(n) == 0)[:, None] * shift
            pp = pos[ip] + (np.arange(n) == n - 1)[:, None] * shift
            acc = pm - 2 * pos + pp
            acc[flight, 2] += GRAVITY * dt_**2
            wsd = np.where(flight, 1e-4, root_acc_sd_m)[:, None]
        else:  # the correction only (periodic): the measured root accelerations are kept
            acc = off[im, :3] - 2 * off[:, :3] + off[ip, :3]
            wsd = np.full((n, 1), _LOCK_ROOT_ACC_SD_M if use_com else root_acc_sd_m)
        if use_com:  # the COM's acceleration change (periodic: the advance cancels)
            dc = com - com_in
            acc_c = (dc[im] - 2 * dc + dc[ip]) / root_acc_sd_m
            for k in range(3):
                ids = add(acc_c[:, k])
                if want_jac:
                    for fr_, w in ((im, 1.0), (np.arange(n), -2.0), (ip, 1.0)):
                        blocks.append((ids, fr_, jcom[fr_, k] * w / root_acc_sd_m, True))
        for k in range(3):
            ids = add(acc[:, k] / wsd[:, 0])
            if want_jac:
                for fr_, w in ((im, 1.0), (np.arange(n), -2.0), (ip, 1.0)):
                    blocks.append((ids, fr_, eye[k][None, :] * w / wsd, False))
        res = np.concatenate(rows_r)
        if not want_jac:
            return res, None
        rr, cc, vv = [], [], []
        for ids, frames, jac, kin in blocks:
            ids_b = np.broadcast_to(ids[:, None], jac.shape)
            cols = frames[:, None] * kk + np.arange(kk)[None, :]
            rr.append(ids_b.ravel())
            cc.append(cols.ravel())
            vv.append(jac.ravel())
            for ci, cols_c in enumerate(const_cols if kin else []):
                rr.append(ids)
                cc.append(np.full(ids.size, n * kk + ci))
                vv.append(jac[:, cols_c].sum(axis=1))
        jmat = sparse.csr_matrix(
            (np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(res.size, n * kk + nc)
        )
        return res, jmat

    def const_prior(g: np.ndarray) -> float:
        return float(np.sum((g / const_sd) ** 2))

    q = build(off, gconst)
    com_in = np.zeros((n, 3))
    if use_com:
        for i in range(n):
            d.qpos[:] = q[i]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            com_in[i] = d.subtree_com[0]
    mu = 1e-4  # Levenberg–Marquardt damping (relative to the diagonal of JᵀJ)
    r, jmat = evaluate(q, True)
    cost = float(r @ r) + const_prior(gconst)
    for _ in range(iterations):
        jtj = (jmat.T @ jmat).tocsc()
        prior = sparse.diags(np.r_[np.zeros(n * kk), 1.0 / const_sd**2])
        g = jmat.T @ r
        g[n * kk :] += gconst / const_sd**2
        diag = jtj.diagonal() + prior.diagonal() + 1e-9
        for _try in range(6):
            # banded (frames) plus a border (constants): natural order has little fill-in
            step = -spsolve((jtj + prior + sparse.diags(mu * diag)).tocsc(), g, permc_spec="NATURAL")
            off_t = off + step[: n * kk].reshape(n, kk)
            g_t = gconst + step[n * kk :]
            q_t = build(off_t, g_t)
            r_t, _ = evaluate(q_t, False)
            c_t = float(r_t @ r_t) + const_prior(g_t)
            if c_t < cost:
                mu = max(mu / 3.0, 1e-7)
                break
            mu *= 10.0
        else:
            break
        improved = cost - c_t
        off, gconst, q, cost = off_t, g_t, q_t, c_t
        if improved < 1e-3 * cost:
            break
        r, jmat = evaluate(q, True)
    corr = np.degrees(off[:, 6:])
    notes.append(
        "foot lock: constant "
        + ", ".join(f"{c} {np.degrees(v):+.1f} deg" for c, v in zip(consts, gconst, strict=True))
        + "; per-frame corrections max |deg| "
        + ", ".join(f"{nm} {np.abs(corr[:, k]).max():.1f}" for k, nm in enumerate(names))
        + f"; pelvis rotation max {np.degrees(np.linalg.norm(off[:, 3:6], axis=1)).max():.1f} deg"
    )
    return q


def synthesize_motion(
    *,
    speed_m_s: float = 1.25,
    gait: Literal["walk", "run"] = "walk",
    n_cycles: int = 3,
    model: str = "myofullbody",
    variant: str | None = None,
    rate_hz: float = 100.0,
    reference: str | None = None,
    hip_offset_deg: float | None = None,
    foot_lock: bool = True,
) -> Motion:
    """A periodic walk or run along −y at ``speed_m_s`` from the normative mean curves in ``reference_data/``.

    Curves: walk from Schwartz 2008 (the speed group nearest in dimensionless speed, ``free`` at
    1.25 m/s), run from Hamner 2013 (nearest speed); ``reference='NAME:COND'`` overrides. The right
    leg follows the curve over the cycle (0 % = right heel strike), the left leg the same curve 50 %
    later. Pelvis angles are symmetrised (tilt: mean of the two halves; obliquity and rotation: half
    the difference), so left and right steps mirror each other. Lumbar: Hamner's lumbar curves; for
    Schwartz, trunk relative to pelvis (``lumbar_extension = pelvis_tilt − (trunk_tilt − its mean)``,
    i.e. the trunk upright on average, since the Plug-in-Gait thorax tilt carries a marker offset;
    ``lumbar_bending = trunk_obliquity − pelvis_obliquity``, ``lumbar_rotation = trunk_rotation −
    pelvis_rotation``). Subtalar and mtp at 0, arms in the relaxed posture of :mod:`mmbio.sim.arm_posture`.

    Timing: walk stride time from the Schwartz step length at the model's dimensionless speed
    (:func:`leg_length`); run stride time interpolated from Hamner's stride times; the stride is
    rounded to whole frames (speed kept exact, so stride length = speed × stride time).

    Calibration: kinematics from mean curves put the leading and trailing feet at different heights
    in double support (on MyoFullBody with the Schwartz curves the trailing toe is ~5 cm too low,
    i.e. the stance heel floats). ``hip_offset_deg=None`` fits, for walking, one constant hip flexion
    offset (both sides, −10…+10°) that minimises that floating; it rotates both legs about the hips
    in the sagittal plane and leaves the inter-leg angle unchanged. Running: 0. The value is noted.

    Vertical root: per frame, as low as possible without any foot geom below z = 0 (so the lower foot
    touches the floor); in flight phases (running: no planned stance) a ballistic arc (−g) joins the
    neighbouring stance frames unless that would put a foot below the floor. Planned stance per
    side: from heel strike to the reference toe-off % (stored in ``Motion.stance``). The motion spans
    ``n_cycles`` strides plus one frame; the last frame equals the first up to the forward translation.

    Foot lock (``foot_lock=True``, the default): the mean curves alone do not match the planned stance
    on MyoFullBody (1.25 m/s walk: the stance foot leaves the floor at ≈ 45 % of the cycle instead of
    59 %, the swing toe touches it at ≈ 84 %, the stance foot slides at 0.20 m/s on average). One cycle
    is then corrected by :func:`_foot_lock` (weighted least squares over all frames at once, periodic):
    root position per frame, pelvis orientation (≤ ≈ 5°), hip, knee, ankle, subtalar and mtp angles per
    frame plus one constant ankle offset, so that the loaded parts of each stance foot
    (:data:`FOOT_FLAT_STANCE`, :data:`HEEL_OFF_STANCE`, :data:`MTP_OFF_STANCE`) stay on the floor
    without slipping and the swing foot clears it (:data:`SWING_CLEARANCE_M`); the sizes of the
    corrections are noted. 1.25 m/s walk: sliding 0.003 m/s mean (0.010 max), floating ≤ 0.3 mm, no
    penetration; corrections ≤ ≈ 7° (hip flexion, hip rotation), 6° (knee), 12° (ankle, subtalar),
    18° (mtp, no reference curve). ``foot_lock=False`` gives the uncorrected motion.
    """
    from mmbio.sim.motion import Motion  # here: mmbio.sim.motion imports this module

    if n_cycles < 1:
        raise MmbioError(f"n_cycles must be >= 1, got {n_cycles}")
    if not (np.isfinite(speed_m_s) and speed_m_s > 0):
        raise MmbioError(f"speed_m_s must be positive, got {speed_m_s}")
    notes: list[str] = []
    model, variant = resolve(model, variant)
    m = _load_model(model, variant)
    idx = _qpos_index(m)
    jmap = JOINT_MAP
    leg = leg_length(model, variant)
    name, cond, stride_time, toe_off = _gait_plan(gait, speed_m_s, leg, reference, notes)
    n_cycle = max(round(stride_time * rate_hz), 8)
    notes.append(
        f"curves {name}:{cond}; stride {n_cycle} frames = {n_cycle / rate_hz:.3f} s (requested {stride_time:.3f} s), "
        f"stride length {speed_m_s * n_cycle / rate_hz:.3f} m; toe off at {toe_off:.1f} % of the cycle"
    )
    n = n_cycles * n_cycle + 1
    k = np.arange(n)
    ph_r = (k % n_cycle) / n_cycle * 100.0
    ph_l = (ph_r + 50.0) % 100.0

    def get(var: str) -> CubicSpline | None:
        return _curve(name, cond, var)

    qpos = np.tile(m.qpos0, (n, 1))
    used = []
    for var in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion", "ankle_dorsiflexion",
                "subtalar_inversion", "mtp_extension"):  # fmt: skip
        c = get(var)
        if c is None:
            continue
        used.append(var)
        for s, ph in (("r", ph_r), ("l", ph_l)):
            joint, sign = jmap[f"{var}_{s}"]
            qpos[:, idx[joint][0]] = sign * np.radians(c(ph))
    pel = {v: get(v) for v in ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")}
    zero = CubicSpline([0.0, 100.0], [0.0, 0.0], bc_type="periodic")
    pel = {v: c if c is not None else zero for v, c in pel.items()}

    def sym(c: CubicSpline, odd: bool) -> np.ndarray:
        return 0.5 * (c(ph_r) - c(ph_l)) if odd else 0.5 * (c(ph_r) + c(ph_l))

    pelvis = np.column_stack(
        [sym(pel["pelvis_tilt"], False), sym(pel["pelvis_obliquity"], True), sym(pel["pelvis_rotation"], True)]
    )
    lumbar: dict[str, np.ndarray] = {}
    if (c := get("lumbar_extension")) is not None:
        lumbar["lumbar_extension"] = sym(c, False)
        for v in ("lumbar_bending", "lumbar_rotation"):
            if (c := get(v)) is not None:
                lumbar[v] = sym(c, True)
    elif (tt := get("trunk_tilt")) is not None:
        tilt = sym(tt, False)
        lumbar["lumbar_extension"] = pelvis[:, 0] - (tilt - tilt.mean())
        if (c := get("trunk_obliquity")) is not None:
            lumbar["lumbar_bending"] = sym(c, True) - pelvis[:, 1]
        if (c := get("trunk_rotation")) is not None:
            lumbar["lumbar_rotation"] = sym(c, True) - pelvis[:, 2]
    for v, vals in lumbar.items():
        joint, sign = jmap[v]
        qpos[:, idx[joint][0]] = sign * np.radians(vals) / joint_gain(m, v)
    qpos, arm_note = relax_arms(m, qpos)
    notes.append(f"joint curves used: {', '.join(used)}; lumbar: {', '.join(lumbar) or 'none (qpos0)'}; "
                 f"{arm_note or 'arms at qpos0'}")  # fmt: skip
    root = _root_adr(m)
    qpos[:, root + 3 : root + 7] = quat_from_pelvis_angles(pelvis)
    qpos[:, root] = 0.0
    qpos[:, root + 1] = -speed_m_s * k / rate_hz
    qpos[:, root + 2] = 0.0
    stance = {"r": ph_r < toe_off, "l": ph_l < toe_off}
    hips = [idx[jmap[f"hip_flexion_{s}"][0]][0] for s in SIDES]
    hip_sign = jmap["hip_flexion_r"][1]

    def with_offset(q: np.ndarray, off_deg: float) -> np.ndarray:
        q = q.copy()
        q[:, hips] += hip_sign * np.radians(off_deg)
        return coupled_qpos(m, q)

    if hip_offset_deg is None:
        if gait == "walk":
            one = slice(0, n_cycle)

            def cost(off: float) -> float:
                fk1 = _foot_kinematics(m, with_offset(qpos[one], off))
                h1 = {s: fk1.low[s][:, 2] for s in SIDES}
                lo = np.minimum(h1["r"], h1["l"])
                return max(float(np.max((h1[s] - lo)[stance[s][one]], initial=0.0)) for s in SIDES) + 1e-4 * abs(off)

            grid = np.arange(-10.0, 10.01, 1.0)
            best = float(grid[np.argmin([cost(g) for g in grid])])
            fine = np.arange(best - 1.0, best + 1.01, 0.1)
            hip_offset_deg = float(np.round(fine[np.argmin([cost(g) for g in fine])], 1))
            notes.append(
                f"hip flexion offset {hip_offset_deg:+.1f} deg (both sides) fitted so that both feet meet the floor "
                "in double support (it absorbs differences between the reference's angle definitions and body "
                "proportions and MyoFullBody's segment frames; pass hip_offset_deg=0 to disable)"
            )
        else:
            hip_offset_deg = 0.0
    elif hip_offset_deg:
        notes.append(f"hip flexion offset {hip_offset_deg:+.1f} deg (both sides), as given")
    qpos = with_offset(qpos, float(hip_offset_deg))

    # vertical placement
    fk = _foot_kinematics(m, qpos)
    h = {s: fk.low[s][:, 2] for s in SIDES}
    z_floor = -np.minimum(h["r"], h["l"])  # no foot below the floor, lowest foot on it
    z = z_floor.copy()
    any_st = stance["r"] | stance["l"]
    z_st = -np.minimum(np.where(stance["r"], h["r"], np.inf), np.where(stance["l"], h["l"], np.inf))
    z[any_st] = np.maximum(z_floor[any_st], z_st[any_st])
    flight = np.flatnonzero(~any_st)
    if flight.size:
        runs = np.split(flight, np.flatnonzero(np.diff(flight) > 1) + 1)
        for r in runs:
            a, b = r[0] - 1, r[-1] + 1
            if a < 0 or b >= n:
                continue
            dt = (b - a) / rate_hz
            tau = (r - a) / rate_hz
            arc = z[a] + (z[b] - z[a]) * tau / dt + 0.5 * GRAVITY * tau * (dt - tau)
            z[r] = np.maximum(arc, z_floor[r])
        notes.append(f"flight phases: {len(runs)} ballistic arcs over {flight.size} frames")
    qpos[:, root + 2] = z
    if foot_lock:
        shift_y = -speed_m_s * n_cycle / rate_hz
        one = slice(0, n_cycle)
        cyc = _foot_lock(m, qpos[one], {"r": ph_r[one], "l": ph_l[one]}, toe_off, shift_y, rate_hz, notes)
        qpos = cyc[k % n_cycle]
        qpos[:, root + 1] += shift_y * (k // n_cycle)
        # exact floor contact: the lowest foot point at z = 0 whenever a foot is in stance, never below
        fk = _foot_kinematics(m, qpos)
        lowest = np.minimum(fk.low["r"][:, 2], fk.low["l"][:, 2])
        qpos[:, root + 2] -= np.where(any_st, lowest, np.minimum(lowest, 0.0))
    shift = np.zeros(m.nq)
    shift[root + 1] = qpos[-1, root + 1] - qpos[0, root + 1]
    qvel = finite_difference_qvel(m, qpos, 1.0 / rate_hz, period_shift=shift)
    return Motion(
        qpos=qpos,
        qvel=qvel,
        rate_hz=float(rate_hz),
        model=model,
        variant=variant,
        source=f"synthesized {gait} {speed_m_s:g} m/s from {name}:{cond}",
        notes=notes,
        stance=stance,
        qpos_index=idx,
    )
