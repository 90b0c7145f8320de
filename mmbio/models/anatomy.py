"""Anatomy maps of MyoFullBody: clinical angles → joints with signs, EMG muscles → actuators, feet, sensors.

The maps hold for both MyoFullBody variants (the finger variant only removes hand joints and muscles).
Frames: the model's world is Z up and it faces −y at ``qpos0``; the lab frame of
:mod:`mmbio.io.axes` (x forward, y left, z up) is ``MUJOCO_MYOFULLBODY_TO_LAB @ v_mujoco``.

**Signs** (:data:`JOINT_MAP`). A clinical angle is ``sign × joint value`` (rad in the model, the
caller converts to degrees). Each sign was determined from the compiled model (musclemimic-models
1.0.6) and is re-checked by :func:`check_anatomy`: the joint's world axis at ``qpos0``, rotated
into the lab frame, is compared with :data:`CLINICAL_AXES`, the lab axis about which a positive
clinical angle turns the distal segment by the right-hand rule (hip flexion: the knee moves forward
→ about −y; knee flexion: the ankle moves back → about +y; right hip adduction: the knee moves left
→ about +x; right hip internal rotation: the thigh's front turns left → about +z; left-side
frontal/transverse axes are mirrored). Results:

* hip flexion/adduction/rotation, knee, ankle, subtalar: ``+1`` on both sides, as in Rajagopal 2016
  (``knee_angle_r`` range is [0, 2.094] rad: flexion positive; ankle range [−0.698, 0.524]).
* ``mtp_angle``: **−1**. Its axis is ``(0.581, 0, −0.814)`` in the toes frame, the *negative* of
  Rajagopal's / gait2392's ``(−0.581, 0, 0.814)``: +0.3 rad moves the toe collision spheres ~1 cm
  *down*, i.e. positive mtp_angle is toe flexion in MyoFullBody (the range ±0.524 rad is symmetric,
  so it does not tell). Rajagopal IK values of ``mtp_angle`` therefore change sign on the way in.
* lumbar: ``flex_extension`` +1 (extension; range [−1.35, 0.754]); ``axial_rotation`` +1 (front
  turns left); ``lat_bending`` **−1**: its axis is lab +x, a positive value tilts the trunk to the
  *right*, while :data:`mmbio.trial.CLINICAL_ANGLES` counts bending to the left as positive
  (the same −1 that :mod:`mmbio.io.opensim` applies to Rajagopal's ``lumbar_bending``).
* lumbar **gain** (:func:`joint_gain`): the lumbar vertebrae follow the three lumbar joints through
  equalities (``L1_L2_FE = 0.255 · flex_extension`` …), so the thorax turns relative to the pelvis by
  ≈ 1.87 × ``flex_extension``, 1.86 × ``lat_bending`` and 1.14 × ``axial_rotation``. The clinical lumbar
  angle (trunk relative to pelvis, as in OpenSim's ``lumbar_extension``) is ``sign × gain × joint value``,
  the gain measured on the compiled model; every leg angle has gain 1.
* pelvis tilt/obliquity/rotation are not joints: they come from the free joint ``root``'s
  quaternion (:data:`PELVIS_FROM_FREE_JOINT`, computed in ``mmbio.sim.frames``).

**Coupled joints.** MuJoCo ``mjEQ_JOINT`` equalities tie a dependent joint ``y`` (``eq_obj1id``) to
an independent joint ``x`` (``eq_obj2id``, or none) by ``y − y0 = Σᵢ₌₀⁴ aᵢ (x − x0)ⁱ`` with
``aᵢ = eq_data[0:5]`` and ``y0, x0`` their ``qpos0`` values (without ``x``: ``y − y0 = a0``).
MyoFullBody has 51: 7 per knee on ``knee_angle_{r,l}`` (:data:`COUPLED_JOINTS`), 12 lumbar
vertebrae + ``Abs_r3`` on the three lumbar joints, 2 locked abdominal joints and 22 shoulder-girdle
joints on ``shoulder_elv``/``elv_angle``. :func:`coupled_qpos` and :func:`coupled_qvel` satisfy
them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from mmbio.analysis.muscles import EMG_TO_MODEL
from mmbio.errors import MmbioError
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB
from mmbio.models.registry import ModelInfo

SIDES: tuple[str, str] = ("r", "l")

#: Models these maps describe.
ANATOMY_MODELS: tuple[str, ...] = ("myofullbody",)

#: Free root joint (pelvis): qpos[0:3] position (m), qpos[3:7] quaternion (w, x, y, z).
ROOT_JOINT = "root"
#: Clinical pelvis angles that come from the root quaternion, not from a joint.
PELVIS_FROM_FREE_JOINT: tuple[str, ...] = ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")

_LEG = {
    "hip_flexion": ("hip_flexion", 1),
    "hip_adduction": ("hip_adduction", 1),
    "hip_rotation": ("hip_rotation", 1),
    "knee_flexion": ("knee_angle", 1),
    "ankle_dorsiflexion": ("ankle_angle", 1),
    "subtalar_inversion": ("subtalar_angle", 1),
    "mtp_extension": ("mtp_angle", -1),
}

#: Clinical angle (with side suffix for leg angles) → (model joint, sign): clinical = sign × joint.
JOINT_MAP: dict[str, tuple[str, int]] = {
    **{f"{c}_{s}": (f"{j}_{s}", sign) for s in SIDES for c, (j, sign) in _LEG.items()},
    "lumbar_extension": ("flex_extension", 1),
    "lumbar_bending": ("lat_bending", -1),
    "lumbar_rotation": ("axial_rotation", 1),
}

_X, _Y, _Z = np.eye(3)
_LEG_AXES = {  # right side; the left side mirrors x and z (frontal and transverse rotations)
    "hip_flexion": -_Y,
    "hip_adduction": _X,
    "hip_rotation": _Z,
    "knee_flexion": _Y,
    "ankle_dorsiflexion": -_Y,
    "subtalar_inversion": _X,
    "mtp_extension": -_Y,
}
_MIRROR = np.array([1.0, -1.0, 1.0])  # reflects through the sagittal plane; axial vectors flip x and z

#: Lab-frame axis (x forward, y left, z up) about which a *positive* clinical angle rotates the
#: distal segment at the neutral pose (right-hand rule). Used to verify :data:`JOINT_MAP` signs.
CLINICAL_AXES: dict[str, np.ndarray] = {
    **{f"{c}_r": a for c, a in _LEG_AXES.items()},
    **{f"{c}_l": -_MIRROR * a for c, a in _LEG_AXES.items()},
    "lumbar_extension": -_Y,
    "lumbar_bending": -_X,
    "lumbar_rotation": _Z,
}

#: Floor geom.
FLOOR_GEOM = "floor"
#: Collision geoms of each foot (calcaneus capsules/box + toe spheres). ``r_foot``/``r_bofoot`` are
#: visual meshes (contype = conaffinity = 0) and are not listed.
HINDFOOT_GEOMS: dict[str, tuple[str, ...]] = {s: (f"{s}_foot_col1", f"{s}_foot_col3", f"{s}_foot_col4") for s in SIDES}
TOE_GEOMS: dict[str, tuple[str, ...]] = {s: (f"{s}_bofoot_col1", f"{s}_bofoot_col2") for s in SIDES}
FOOT_GEOMS: dict[str, tuple[str, ...]] = {s: HINDFOOT_GEOMS[s] + TOE_GEOMS[s] for s in SIDES}
#: Touch sensors per side (hindfoot, toes); they under-read GRF by ≈ 9 %: cross-check only.
TOUCH_SENSORS: dict[str, tuple[str, ...]] = {s: (f"{s}_foot", f"{s}_toes") for s in SIDES}

_KNEE_DEPENDENTS = (
    "knee_angle_translation2",
    "knee_angle_translation1",
    "knee_angle_rotation2",
    "knee_angle_rotation3",
    "knee_angle_beta_translation2",
    "knee_angle_beta_translation1",
    "knee_angle_beta_rotation1",
)
#: Knee joints driven by ``knee_angle_<side>`` through joint equalities (tibia and patella kinematics).
COUPLED_JOINTS: dict[str, tuple[str, ...]] = {s: tuple(f"{j}_{s}" for j in _KNEE_DEPENDENTS) for s in SIDES}
#: Independent joint of each side's :data:`COUPLED_JOINTS`.
KNEE_JOINT: dict[str, str] = {s: f"knee_angle_{s}" for s in SIDES}


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise MmbioError(f"side must be 'r' or 'l', got {side!r}")
    return side


def EMG_ACTUATORS(side: str) -> dict[str, list[str]]:
    """Canonical EMG muscle → MyoFullBody actuators ``<base>_<side>`` (from ``EMG_TO_MODEL``)."""
    s = _check_side(side)
    return {muscle: [f"{b}_{s}" for b in bases] for muscle, bases in EMG_TO_MODEL.items()}


def _name_id(model: mujoco.MjModel, obj: mujoco.mjtObj, name: str) -> int:
    return mujoco.mj_name2id(model, obj, name)


def joint_sign_from_axis(model: mujoco.MjModel, clinical: str) -> int:
    """Sign (+1/−1) of ``clinical`` relative to its :data:`JOINT_MAP` joint, read from the compiled axis.

    The joint's world axis at ``qpos0`` (in the lab frame) is projected on :data:`CLINICAL_AXES`;
    0 when the projection is weaker than 0.5 (the joint is not a rotation about that axis).
    """
    joint, _ = JOINT_MAP[clinical]
    jid = _name_id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    if jid < 0:
        raise MmbioError(f"joint {joint!r} (for {clinical}) is not in the model")
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    axis_lab = MUJOCO_MYOFULLBODY_TO_LAB @ data.xaxis[jid]
    p = float(axis_lab @ CLINICAL_AXES[clinical])
    return 0 if abs(p) < 0.5 else int(np.sign(p))


def joint_qpos_indices(model: mujoco.MjModel) -> dict[str, tuple[int, int]]:
    """Clinical angle → (qpos index of its joint, sign) for every :data:`JOINT_MAP` entry."""
    out = {}
    for clinical, (joint, sign) in JOINT_MAP.items():
        jid = _name_id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
        if jid < 0:
            raise MmbioError(f"joint {joint!r} (for {clinical}) is not in the model")
        out[clinical] = (int(model.jnt_qposadr[jid]), sign)
    return out


#: Body whose rotation relative to the pelvis defines the clinical lumbar angles.
TRUNK_BODY = "thorax"
PELVIS_BODY = "pelvis"
_GAIN_CACHE: dict[tuple[int, str], float] = {}


def joint_gain(model: mujoco.MjModel, clinical: str) -> float:
    """Clinical angle per radian of its :data:`JOINT_MAP` joint (≥ 1; 1 for every leg angle).

    For the lumbar angles: the rotation of :data:`TRUNK_BODY` relative to :data:`PELVIS_BODY` when the
    joint alone (with its equality-coupled vertebrae, :func:`coupled_qpos`) moves by 0.01 rad from
    ``qpos0``, divided by 0.01. 1 when the model has no such bodies.
    """
    if not clinical.startswith("lumbar_"):
        return 1.0
    key = (id(model), clinical)
    if key in _GAIN_CACHE:
        return _GAIN_CACHE[key]
    joint, _ = JOINT_MAP[clinical]
    jid = _name_id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    trunk = _name_id(model, mujoco.mjtObj.mjOBJ_BODY, TRUNK_BODY)
    pelvis = _name_id(model, mujoco.mjtObj.mjOBJ_BODY, PELVIS_BODY)
    gain = 1.0
    if min(jid, trunk, pelvis) >= 0:
        d = mujoco.MjData(model)
        rel = []
        for delta in (0.0, 0.01):
            q = model.qpos0.copy()
            q[model.jnt_qposadr[jid]] += delta
            d.qpos[:] = coupled_qpos(model, q)
            mujoco.mj_kinematics(model, d)
            rel.append(d.xmat[pelvis].reshape(3, 3).T @ d.xmat[trunk].reshape(3, 3))
        r = rel[0].T @ rel[1]
        gain = float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)) / 0.01)
    _GAIN_CACHE[key] = gain
    return gain


def clinical_joint_angles(model: mujoco.MjModel, qpos: np.ndarray) -> dict[str, np.ndarray]:
    """Clinical joint angles in **degrees** from qpos (T, nq) or (nq,): ``{name: (T,) or ()}``.

    Only the :data:`JOINT_MAP` angles; the pelvis angles come from the root quaternion elsewhere.
    """
    q = np.asarray(qpos, dtype=float)
    if q.shape[-1] != model.nq:
        raise MmbioError(f"qpos has {q.shape[-1]} columns, the model has nq = {model.nq}")
    return {
        c: np.rad2deg(sign * joint_gain(model, c) * q[..., i]) for c, (i, sign) in joint_qpos_indices(model).items()
    }


@dataclass(frozen=True)
class Coupling:
    """One active ``mjEQ_JOINT`` equality: ``q[dep] − y0 = Σ coef[i] (q[indep] − x0)^i``.

    dep, indep: qpos indices (indep −1 when the joint is locked to ``y0 + coef[0]``);
    dep_dof, indep_dof: the matching qvel indices (−1 likewise); y0, x0: qpos0 values;
    coef: (5,) polynomial coefficients ``eq_data[0:5]``; name: ``'<dependent>←<independent>'``.
    """

    dep: int
    indep: int
    dep_dof: int
    indep_dof: int
    y0: float
    x0: float
    coef: tuple[float, float, float, float, float]
    name: str


def joint_couplings(model: mujoco.MjModel) -> list[Coupling]:
    """Every active joint equality of ``model``, ordered so that chained couplings resolve in one pass."""
    out: list[Coupling] = []
    for e in range(model.neq):
        if model.eq_type[e] != mujoco.mjtEq.mjEQ_JOINT or not model.eq_active0[e]:
            continue
        j1, j2 = int(model.eq_obj1id[e]), int(model.eq_obj2id[e])
        dep, dep_dof = int(model.jnt_qposadr[j1]), int(model.jnt_dofadr[j1])
        indep = int(model.jnt_qposadr[j2]) if j2 >= 0 else -1
        indep_dof = int(model.jnt_dofadr[j2]) if j2 >= 0 else -1
        name1 = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j1)
        name2 = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j2) if j2 >= 0 else "(locked)"
        coef = tuple(float(c) for c in model.eq_data[e, :5])
        out.append(
            Coupling(
                dep=dep,
                indep=indep,
                dep_dof=dep_dof,
                indep_dof=indep_dof,
                y0=float(model.qpos0[dep]),
                x0=float(model.qpos0[indep]) if indep >= 0 else 0.0,
                coef=coef,  # type: ignore[arg-type]
                name=f"{name1}←{name2}",
            )
        )
    # a coupling whose independent joint is itself dependent must come after the one that sets it
    deps = {c.dep for c in out}
    ordered: list[Coupling] = []
    pending = out
    for _ in range(len(out) + 1):
        done = {c.dep for c in ordered}
        ready = [c for c in pending if c.indep not in deps or c.indep in done]
        ordered += ready
        pending = [c for c in pending if c not in ready]
        if not pending:
            return ordered
    raise MmbioError("joint equality constraints form a cycle: " + ", ".join(c.name for c in pending))


def coupled_qpos(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """qpos with every joint-equality-dependent joint set from its independent joint.

    qpos: (nq,) or (T, nq), rad / m. Returns a new array of the same shape in which each dependent
    coordinate is ``y0 + Σ aᵢ (x − x0)ⁱ`` (see :class:`Coupling`), so MuJoCo's equality residuals
    (``efc_pos`` of the equality rows) vanish. Independent coordinates are not changed.
    """
    q = np.array(qpos, dtype=float, copy=True)
    if q.shape[-1] != model.nq:
        raise MmbioError(f"qpos has {q.shape[-1]} columns, the model has nq = {model.nq}")
    for c in joint_couplings(model):
        if c.indep < 0:
            q[..., c.dep] = c.y0 + c.coef[0]
        else:
            q[..., c.dep] = c.y0 + np.polynomial.polynomial.polyval(q[..., c.indep] - c.x0, c.coef)
    return q


def coupled_qvel(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """qvel with every dependent joint's velocity set to ``P′(x − x0) · ẋ`` (the equality's velocity row).

    qpos: (nq,) or (T, nq); qvel: (nv,) or (T, nv), rad/s or m/s. Returns a new qvel. Use the
    coupled qpos (:func:`coupled_qpos`) so that chained couplings see consistent positions.
    """
    q = np.asarray(qpos, dtype=float)
    v = np.array(qvel, dtype=float, copy=True)
    if q.shape[-1] != model.nq or v.shape[-1] != model.nv or q.shape[:-1] != v.shape[:-1]:
        raise MmbioError(f"qpos {q.shape} / qvel {v.shape} do not match nq = {model.nq}, nv = {model.nv}")
    for c in joint_couplings(model):
        if c.indep < 0:
            v[..., c.dep_dof] = 0.0
        else:
            dcoef = np.polynomial.polynomial.polyder(c.coef)
            v[..., c.dep_dof] = np.polynomial.polynomial.polyval(q[..., c.indep] - c.x0, dcoef) * v[..., c.indep_dof]
    return v


def _collides(model: mujoco.MjModel, g1: int, g2: int) -> bool:
    ct, ca = model.geom_contype, model.geom_conaffinity
    return bool((ct[g1] & ca[g2]) or (ct[g2] & ca[g1]))


def check_anatomy(info: ModelInfo) -> list[str]:
    """Problems with the anatomy maps in ``info``'s compiled model; empty when everything is consistent.

    Checks: the free root; every :data:`JOINT_MAP` joint exists, is a hinge and has the sign its
    axis implies (:func:`joint_sign_from_axis`); every :func:`EMG_ACTUATORS` actuator on both
    sides; the floor and every :data:`FOOT_GEOMS` geom exist and collide with each other
    (contype/conaffinity); the :data:`TOUCH_SENSORS` exist and are touch sensors; every
    :data:`COUPLED_JOINTS` joint is tied to its side's knee by an active joint equality.
    """
    m = info.model
    if info.name not in ANATOMY_MODELS:
        return [f"{info.name}: no anatomy maps (they describe {', '.join(ANATOMY_MODELS)})"]
    problems: list[str] = []
    J, A, G, S = (
        mujoco.mjtObj.mjOBJ_JOINT,
        mujoco.mjtObj.mjOBJ_ACTUATOR,
        mujoco.mjtObj.mjOBJ_GEOM,
        mujoco.mjtObj.mjOBJ_SENSOR,
    )

    rid = _name_id(m, J, ROOT_JOINT)
    if rid < 0 or m.jnt_type[rid] != mujoco.mjtJoint.mjJNT_FREE:
        problems.append(f"root joint {ROOT_JOINT!r} missing or not a free joint")

    for clinical, (joint, sign) in JOINT_MAP.items():
        jid = _name_id(m, J, joint)
        if jid < 0:
            problems.append(f"joint {joint!r} (for {clinical}) missing")
            continue
        if m.jnt_type[jid] != mujoco.mjtJoint.mjJNT_HINGE:
            problems.append(f"joint {joint!r} (for {clinical}) is not a hinge")
            continue
        found = joint_sign_from_axis(m, clinical)
        if found != sign:
            problems.append(f"{clinical}: JOINT_MAP sign {sign:+d} but the axis of {joint!r} implies {found:+d}")

    for side in SIDES:
        for muscle, names in EMG_ACTUATORS(side).items():
            problems += [f"actuator {n!r} (for {muscle}) missing" for n in names if _name_id(m, A, n) < 0]

    fid = _name_id(m, G, FLOOR_GEOM)
    if fid < 0:
        problems.append(f"floor geom {FLOOR_GEOM!r} missing")
    for side in SIDES:
        for g in FOOT_GEOMS[side]:
            gid = _name_id(m, G, g)
            if gid < 0:
                problems.append(f"foot geom {g!r} missing")
            elif fid >= 0 and not _collides(m, gid, fid):
                problems.append(f"foot geom {g!r} does not collide with {FLOOR_GEOM!r} (contype/conaffinity)")
        for s in TOUCH_SENSORS[side]:
            sid = _name_id(m, S, s)
            if sid < 0:
                problems.append(f"touch sensor {s!r} missing")
            elif m.sensor_type[sid] != mujoco.mjtSensor.mjSENS_TOUCH:
                problems.append(f"sensor {s!r} is not a touch sensor")

    tied = {
        (int(m.eq_obj1id[e]), int(m.eq_obj2id[e]))
        for e in range(m.neq)
        if m.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT and m.eq_active0[e]
    }
    for side in SIDES:
        kid = _name_id(m, J, KNEE_JOINT[side])
        for j in COUPLED_JOINTS[side]:
            jid = _name_id(m, J, j)
            if jid < 0:
                problems.append(f"coupled knee joint {j!r} missing")
            elif (jid, kid) not in tied:
                problems.append(f"{j!r} is not tied to {KNEE_JOINT[side]!r} by an active joint equality")
    return problems
