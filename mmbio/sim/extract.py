"""Biomechanical signals from a simulated rollout (or a kinematic reference motion) → :class:`~mmbio.trial.Trial`.

:func:`extract_signals` evaluates the model at every recorded frame (``qpos``, ``qvel``, ``act``,
``ctrl`` into ``MjData``, then a full ``mj_forward``: contact forces need the constraint solver) and
returns :class:`SimSignals`; :func:`rollout_to_trial` wraps them in a ``Trial`` (``kind='simulated'``)
that the analysis treats like a measured one. Definitions:

* **Heading.** One direction of progression per trial: the root's horizontal displacement from the first
  to the last frame (when it exceeds 0.1 m; else the model's own forward, MuJoCo −y). Every position and
  force goes to the lab frame as ``v_lab = Rz(−ψ) · MUJOCO_MYOFULLBODY_TO_LAB · v_mj`` (ψ the heading
  relative to the model's forward), so lab x is the direction of progression; the root quaternion is
  de-rotated by the same ψ before :func:`mmbio.sim.frames.pelvis_angles_from_quat`, so pelvis rotation
  is relative to the walking direction. Curved paths are not handled (one ψ per trial).
* **Joint angles.** ``sign × gain × qpos`` in degrees (gain ≈ 1.9 for the lumbar joints, whose vertebrae
  follow them; 1 elsewhere: :func:`~mmbio.models.anatomy.joint_gain`) for every :data:`~mmbio.models.anatomy.JOINT_MAP` entry.
* **GRF** (``grf_source='contacts'``). For each contact between a foot geom and the floor,
  ``mj_contactForce`` gives the force in the contact frame; ``frame.T @ f`` is the force that geom1
  exerts on geom2 (the frame's normal points from geom1 to geom2), so the force on the foot is
  ``+`` that when the foot is geom2 and ``−`` when it is geom1 (checked physically: a model standing
  still carries +body weight). Per foot: the sum over its contacts. COP: the mean of the contact points
  weighted by their vertical force (exact for points in the floor plane: the horizontal moments about
  it vanish); NaN while the foot carries less than ``cop_min_force_n``. Free moment: the vertical
  component of Σ (p − COP) × F (condim 3 contacts carry no torsional torque). The touch sensors
  (:data:`~mmbio.models.anatomy.TOUCH_SENSORS`) are read as a cross-check only; their ratio to the
  contact vertical force goes into the notes.
* **Events** from the contact GRF (:func:`mmbio.gait.events.detect_events`, ``source='contact'``); for a
  kinematic motion (no forces) from foot clearance: a foot is in contact while the smallest signed
  distance between its geoms and the floor is below ``contact_height_m``.
* **Muscles** (muscle actuators only): excitation ``ctrl``, activation ``act`` (unit ``'1'``); force
  = musculotendon **tension** ``−actuator_force`` (N, ≥ 0 pulling); musculotendon length/velocity =
  ``actuator_length``/``actuator_velocity``; fibre length = MuJoCo's own rigid-tendon fibre length
  ``l_opt · l̃`` with ``l̃ = r0 + (L − L_min)/l_opt`` (see :mod:`mmbio.sim.metabolics`), fibre velocity =
  musculotendon velocity (rigid tendon, no pennation in MuJoCo's muscle).
* **Joint moments** (N·m/kg, inverse dynamics). ``qacc`` by central differences of ``qvel`` over the
  recorded time; ``τ = M(q) q̈ + c(q, q̇) − Σ J_cᵀ F_c`` with ``F_c`` the floor contact forces of the same
  ``mj_forward`` (measured, not re-solved: :func:`mujoco.mj_inverse` on soft contacts follows
  penetration). τ is then the net internal generalised force (muscles, passive joint forces, joint limits,
  equality reactions, self-contacts). For each clinical joint it is projected on the independent
  coordinate: ``τ_j = Σ_d N[d, j] τ_d`` with ``N[d, j] = P′(q_j)`` for the dofs coupled to ``j`` by joint
  equalities (the knee's tibia/patella dofs), which removes the equality reactions — OpenSim's
  generalised force of a coupled coordinate. Sign: as the angle (a positive moment acts towards positive
  angle: flexion for hip and knee, dorsiflexion for the ankle). The root's 6 components are residuals
  (≈ 0 when the accelerations and contact forces are consistent) and their RMS goes into the notes.
  Limitations: finite-difference accelerations at the recorded rate smooth impacts; kinematic motions
  have no contact forces, so their moments are not computed.
* **Metabolics** (rollouts with muscle states): Umberger 2003/2010 (:mod:`mmbio.sim.metabolics`),
  per muscle (W), whole body (W/kg of body mass, muscles only) and cost of transport (J/(kg·m)).

A rollout that diverged is cut before its divergence time (and before any non-finite frame); the Trial
carries the note ``'diverged at t s: reason'`` and a first note ``'DIVERGED'``. A kinematic
:class:`~mmbio.sim.motion.Motion` is a replay: no muscle states, and ``grf_source`` defaults to
``'none'`` (contact forces of a prescribed pose only measure its penetration).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.gait.events import DEFAULT_THRESHOLD_N, contact_intervals, detect_events
from mmbio.io.axes import MUJOCO_MYOFULLBODY_TO_LAB, rotate_about_z
from mmbio.models import anatomy
from mmbio.sim import metabolics as met
from mmbio.sim.frames import mat_from_quat, pelvis_angles_from_quat, quat_from_mat
from mmbio.trial import PELVIS_POSITION, SIDES, Channels, Events, GroundReaction, Subject, Trial

GrfSource = Literal["contacts", "none"]

#: Root displacement (m) below which the heading is the model's own forward (−y).
MIN_TRAVEL_M = 0.1
#: Foot clearance (m) below which a foot of a kinematic motion counts as in contact: 5 mm, well under the
#: 1–3 cm minimum toe clearance of human swing, so a swing foot passing low is not read as a contact.
CONTACT_HEIGHT_M = 0.005
#: Vertical force (N) below which a foot's COP is NaN.
COP_MIN_FORCE_N = 5.0
_PELVIS = ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation")


@dataclass
class SimSignals:
    """Signals of one rollout or motion on the recorded time base (all Channels share ``time``).

    time: (T,) s. angles: clinical joint angles (deg). grf: per foot (lab frame, N, m, N·m).
    touch: per-side touch-sensor sums (N), cross-check only. events: heel strike / toe off.
    excitations, activations: ``'1'``. muscle_force: tension (N). mt_length (m), mt_velocity (m/s),
    fibre_length (m), fibre_velocity (m/s, < 0 shortening). joint_moments: N·m/kg per clinical joint.
    residuals: root residual forces (N) and moments (N·m) from inverse dynamics. metabolic_power: per
    muscle (W). metabolic_w_per_kg: whole body (W/kg, channel ``'whole_body'``). cost_of_transport:
    J/(kg·m). heading_rad: ψ (model forward → progression). speed_m_s: mean horizontal root speed.
    pelvis_position: the root (pelvis origin) position in the lab frame (m), channels ``pelvis_x/y/z``.
    """

    time: np.ndarray
    angles: Channels
    grf: dict[str, GroundReaction] = field(default_factory=dict)
    touch: Channels | None = None
    events: Events = field(default_factory=Events)
    excitations: Channels | None = None
    activations: Channels | None = None
    muscle_force: Channels | None = None
    mt_length: Channels | None = None
    mt_velocity: Channels | None = None
    fibre_length: Channels | None = None
    fibre_velocity: Channels | None = None
    joint_moments: Channels | None = None
    residuals: Channels | None = None
    metabolic_power: Channels | None = None
    metabolic_w_per_kg: Channels | None = None
    cost_of_transport: float = float("nan")
    heading_rad: float = 0.0
    speed_m_s: float = float("nan")
    mass_kg: float = float("nan")
    diverged: bool = False
    notes: list[str] = field(default_factory=list)
    pelvis_position: Channels | None = None


# --------------------------------------------------------------------------------------------------
# input normalisation
# --------------------------------------------------------------------------------------------------


@dataclass
class _Frames:
    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    act: np.ndarray | None
    ctrl: np.ndarray | None
    is_motion: bool
    name: str
    source: str
    diverged: bool
    notes: list[str]
    qfrc: np.ndarray | None = None


def _model_name(x: Any) -> tuple[str, str | None]:
    """(registry name, variant) of a Rollout (``model_name``) or Motion (``model``)."""
    name = getattr(x, "model_name", None) or getattr(x, "model", None)
    return (name if isinstance(name, str) else "myofullbody"), getattr(x, "variant", None)


def _model_of(x: Any, model_info: Any) -> tuple[mujoco.MjModel, float]:
    """(MjModel, body mass kg) from ``model_info`` (ModelInfo or MjModel) or the input's model name/variant.

    When a rollout ran at another physics timestep than the model's, a copy with that timestep is used
    (MuJoCo's soft contacts depend on it).
    """
    if model_info is not None:
        m = getattr(model_info, "model", model_info)
    elif isinstance(getattr(x, "model", None), mujoco.MjModel):
        m = x.model
    else:
        from mmbio.models.registry import load_model

        name, variant = _model_name(x)
        m = load_model(name, variant).model
    if not isinstance(m, mujoco.MjModel):
        raise MmbioError(f"extract: cannot get a MuJoCo model from {type(model_info or x).__name__}")
    dt = float(getattr(x, "physics_dt", 0.0) or 0.0)
    if dt > 0 and dt != m.opt.timestep:
        m = copy.deepcopy(m)
        m.opt.timestep = dt
    return m, float(mujoco.mj_getTotalmass(m))


def _is_kinematic(x: Any) -> bool:
    """A Motion, or a Rollout packed by ``rollout_cpu.replay`` (no physics)."""
    notes = getattr(x, "notes", None)
    return not hasattr(x, "act") or (isinstance(notes, dict) and notes.get("backend") == "replay")


def _frames(x: Any, m: mujoco.MjModel) -> _Frames:
    qpos = np.asarray(x.qpos, dtype=float)
    qvel = np.asarray(x.qvel, dtype=float)
    if qpos.ndim != 2 or qpos.shape[1] != m.nq or qvel.shape != (qpos.shape[0], m.nv):
        raise MmbioError(
            f"extract: qpos {qpos.shape} / qvel {qvel.shape} do not match the model (nq {m.nq}, nv {m.nv})"
        )
    is_motion = _is_kinematic(x)
    notes: list[str] = []
    if is_motion:
        time = np.asarray(x.time, dtype=float) if hasattr(x, "time") else np.arange(len(qpos)) / float(x.rate_hz)
        act = ctrl = None
    else:
        time = np.asarray(x.time, dtype=float)
        act = None if x.act is None else np.asarray(x.act, dtype=float)
        ctrl = None if x.ctrl is None else np.asarray(x.ctrl, dtype=float)
        if ctrl is not None and ctrl.ndim == 2 and ctrl.shape[1] == 0:
            ctrl = None  # excitations not recorded (e.g. mm-evalkit archives export activations only)
        if act is not None and act.shape != (len(qpos), m.na):
            raise MmbioError(f"extract: act {act.shape} does not match ({len(qpos)}, na {m.na})")
        if ctrl is not None and ctrl.shape != (len(qpos), m.nu):
            raise MmbioError(f"extract: ctrl {ctrl.shape} does not match ({len(qpos)}, nu {m.nu})")
    if time.shape != (len(qpos),):
        raise MmbioError(f"extract: time {time.shape} does not match {len(qpos)} frames")
    diverged = bool(getattr(x, "diverged", False))
    keep = np.ones(len(qpos), dtype=bool)
    if diverged:
        t_div = getattr(x, "diverged_at_s", None)
        reason = getattr(x, "reason", "") or "unknown reason"
        t_txt = "?" if t_div is None or not np.isfinite(t_div) else f"{float(t_div):.3f}"
        notes += ["DIVERGED", f"diverged at {t_txt} s: {reason}"]
        if t_div is not None and np.isfinite(t_div):
            keep &= time < float(t_div)
    finite = np.isfinite(qpos).all(1) & np.isfinite(qvel).all(1)
    for arr in (act, ctrl):
        if arr is not None:
            finite &= np.isfinite(arr).all(1)
    if not finite.all():
        first_bad = int(np.argmin(finite))
        keep[first_bad:] = False
        if not diverged:
            diverged = True
            notes += ["DIVERGED", f"diverged at {time[first_bad]:.3f} s: non-finite state"]
    n_keep = int(np.argmin(keep)) if not keep.all() else len(keep)
    if n_keep < 2:
        raise MmbioError(f"extract: fewer than 2 valid frames before divergence ({'; '.join(notes)})")
    if n_keep < len(keep):
        notes.append(f"signals cut to the {n_keep} frames before divergence (of {len(keep)})")
    sl = slice(0, n_keep)
    return _Frames(
        time=time[sl],
        qpos=qpos[sl],
        qvel=qvel[sl],
        act=None if act is None else act[sl],
        ctrl=None if ctrl is None else ctrl[sl],
        is_motion=is_motion,
        name=str(getattr(x, "name", "") or ""),
        source=str(getattr(x, "source", "") or ("kinematic replay" if is_motion else "rollout")),
        diverged=diverged,
        notes=notes,
        qfrc=None if getattr(x, "qfrc_applied", None) is None else np.asarray(x.qfrc_applied, dtype=float)[sl],
    )


# --------------------------------------------------------------------------------------------------
# pieces
# --------------------------------------------------------------------------------------------------


def _root(m: mujoco.MjModel) -> tuple[int, int]:
    jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, anatomy.ROOT_JOINT)
    if jid < 0 or m.jnt_type[jid] != mujoco.mjtJoint.mjJNT_FREE:
        raise MmbioError(f"extract: the model has no free joint {anatomy.ROOT_JOINT!r}")
    return int(m.jnt_qposadr[jid]), int(m.jnt_dofadr[jid])


def heading(qpos_root_xy: np.ndarray) -> float:
    """Heading ψ (rad, about +z) of the progression relative to the model's forward (MuJoCo −y).

    qpos_root_xy: (T, 2) root x, y in m. 0 when the root travels less than :data:`MIN_TRAVEL_M`.
    """
    d = qpos_root_xy[-1] - qpos_root_xy[0]
    if np.hypot(*d) < MIN_TRAVEL_M:
        return 0.0
    return float(np.arctan2(d[0], -d[1]))


def lab_rotation(psi: float) -> np.ndarray:
    """(3, 3) MuJoCo world → lab with the progression along lab x: ``Rz(−ψ) · MUJOCO_MYOFULLBODY_TO_LAB``."""
    return rotate_about_z(-psi) @ MUJOCO_MYOFULLBODY_TO_LAB


def pelvis_angles(quat: np.ndarray, psi: float) -> np.ndarray:
    """(T, 3) clinical pelvis tilt, obliquity, rotation (deg) from root quaternions (T, 4) after removing ψ."""
    r = mat_from_quat(quat)
    r = rotate_about_z(-psi) @ r
    return pelvis_angles_from_quat(quat_from_mat(r))


def _ids(m: mujoco.MjModel, obj: mujoco.mjtObj, names: tuple[str, ...] | list[str]) -> list[int]:
    out = []
    for n in names:
        i = mujoco.mj_name2id(m, obj, n)
        if i < 0:
            raise MmbioError(f"extract: {n!r} not in the model")
        out.append(i)
    return out


def foot_geoms(m: mujoco.MjModel) -> tuple[int, dict[int, str]]:
    """The floor geom's id and the foot geoms' ids → side (``'r'``/``'l'``) of MyoFullBody (``anatomy`` names)."""
    floor = _ids(m, mujoco.mjtObj.mjOBJ_GEOM, [anatomy.FLOOR_GEOM])[0]
    sides = {g: s for s in SIDES for g in _ids(m, mujoco.mjtObj.mjOBJ_GEOM, list(anatomy.FOOT_GEOMS[s]))}
    return floor, sides


def floor_contacts(m: mujoco.MjModel, d: mujoco.MjData, floor: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Every contact of geom ``floor`` in ``d`` (after ``mj_forward``): (the other geom, the contact point (3,) m,
    the force on that geom (3,) N), world frame; the sign convention is the module docs' (GRF)."""
    out = []
    f6 = np.zeros(6)
    for ci in range(d.ncon):
        c = d.contact[ci]
        if c.geom1 != floor and c.geom2 != floor:
            continue
        g = c.geom2 if c.geom1 == floor else c.geom1
        mujoco.mj_contactForce(m, d, ci, f6)
        f_world = c.frame.reshape(3, 3).T @ f6[:3]  # geom1 on geom2
        out.append((int(g), c.pos.copy(), f_world if c.geom2 == g else -f_world))
    return out


def _couplings_by_indep(m: mujoco.MjModel) -> dict[int, list[tuple[int, int, np.ndarray, float]]]:
    """independent dof → [(dependent dof, independent qpos adr, derivative coefs, x0)] (chains resolved)."""
    direct: dict[int, list[Any]] = {}
    for c in anatomy.joint_couplings(m):
        if c.indep_dof < 0:
            continue
        dcoef = np.polynomial.polynomial.polyder(np.asarray(c.coef, dtype=float))
        direct.setdefault(c.indep_dof, []).append((c.dep_dof, c.indep, dcoef, c.x0))
    return direct


def _null_column(m: mujoco.MjModel, qpos: np.ndarray, dof: int, direct: dict[int, list[Any]]) -> dict[int, float]:
    """Column ``dof`` of N at ``qpos``: {dof: ∂q̇_d/∂q̇_dof} through (chained) joint equalities."""
    col = {dof: 1.0}
    stack = [dof]
    while stack:
        j = stack.pop()
        for dep, indep_adr, dcoef, x0 in direct.get(j, ()):
            col[dep] = col.get(dep, 0.0) + col[j] * float(np.polynomial.polynomial.polyval(qpos[indep_adr] - x0, dcoef))
            stack.append(dep)
    return col


def _act_first_frame(x: Any, n: int) -> int:
    """First frame with a recorded activation (``notes['act_first_frame']`` of a post-step mm-evalkit export)."""
    notes = getattr(x, "notes", None)
    k = notes.get("act_first_frame", 0) if isinstance(notes, dict) else 0
    return int(k) if isinstance(k, int) and 0 <= k < n - 1 else 0


def _channels(time: np.ndarray, values: np.ndarray, names: list[str], units: str) -> Channels:
    return Channels(time, values, names, [units] * len(names))


# --------------------------------------------------------------------------------------------------
# main entry points
# --------------------------------------------------------------------------------------------------


def extract_signals(
    rollout_or_motion: Any,
    /,
    *,
    model_info: Any = None,
    mass_kg: float | None = None,
    grf_source: GrfSource | None = None,
    moments: bool = True,
    metabolic: bool = True,
    event_threshold_n: float = DEFAULT_THRESHOLD_N,
    contact_height_m: float = CONTACT_HEIGHT_M,
    cop_min_force_n: float = COP_MIN_FORCE_N,
) -> SimSignals:
    """All signals of a :class:`~mmbio.sim.rollout_cpu.Rollout` or kinematic :class:`~mmbio.sim.motion.Motion`.

    ``grf_source``: ``'contacts'`` (default for rollouts) or ``'none'`` (default for motions).
    ``mass_kg`` normalises the joint moments and metabolic power (default: the model's mass).
    See the module docstring for every definition.
    """
    x = rollout_or_motion
    m, model_mass = _model_of(x, model_info)
    fr = _frames(x, m)
    mass = float(model_mass if mass_kg is None else mass_kg)
    notes = list(fr.notes)
    if grf_source is None:
        grf_source = "none" if fr.is_motion else "contacts"
    if grf_source not in ("contacts", "none"):
        raise MmbioError(f"extract: grf_source must be 'contacts' or 'none', got {grf_source!r}")
    if fr.is_motion and grf_source == "contacts":
        notes.append("GRF from the contacts of a kinematic replay: they measure penetration, not loading")
    if fr.is_motion:
        notes.append(
            "kinematic replay: no muscle states; GRF not computed (grf_source='none')"
            if grf_source == "none"
            else "kinematic replay: no muscle states"
        )
    t, qpos, qvel = fr.time, fr.qpos, fr.qvel
    n = len(t)
    qadr, dadr = _root(m)
    psi = heading(qpos[:, qadr : qadr + 2])
    c_lab = lab_rotation(psi)
    travel = np.hypot(*(qpos[-1, qadr : qadr + 2] - qpos[0, qadr : qadr + 2]))
    speed = float(travel / (t[-1] - t[0])) if t[-1] > t[0] else float("nan")

    # --- angles
    names = list(_PELVIS)
    cols = [pelvis_angles(qpos[:, qadr + 3 : qadr + 7], psi)]
    for clinical, (joint, sign) in anatomy.JOINT_MAP.items():
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, joint)
        if jid < 0:
            continue
        names.append(clinical)
        cols.append(np.degrees(sign * anatomy.joint_gain(m, clinical) * qpos[:, m.jnt_qposadr[jid]])[:, None])
    angles = _channels(t, np.column_stack(cols), names, "deg")

    # --- model ids
    floor, foot_side = foot_geoms(m)
    touch_adr: dict[str, list[int]] = {}
    for s in SIDES:
        sids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, n_) for n_ in anatomy.TOUCH_SENSORS[s]]
        touch_adr[s] = [int(m.sensor_adr[i]) for i in sids if i >= 0]
    muscles = [i for i in range(m.nu) if m.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_MUSCLE]
    mus_names = [m.actuator(i).name for i in muscles]
    mus_act = [int(m.actuator_actadr[i]) for i in muscles]
    clinical_dofs: list[tuple[str, int, int]] = []
    for clinical, (joint, sign) in anatomy.JOINT_MAP.items():
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, joint)
        if jid >= 0:
            clinical_dofs.append((clinical, int(m.jnt_dofadr[jid]), sign))
    direct = _couplings_by_indep(m)
    do_moments = moments and grf_source == "contacts"
    if moments and not do_moments:
        notes.append("joint moments not computed: they need ground contact forces (grf_source='contacts')")
    qacc = np.gradient(qvel, t, axis=0) if do_moments else None

    # --- per-frame loop
    d = mujoco.MjData(m)
    force = {s: np.zeros((n, 3)) for s in SIDES}
    cop = {s: np.full((n, 3), np.nan) for s in SIDES}
    fmom = {s: np.zeros(n) for s in SIDES}
    touch = np.zeros((n, 2))
    mt_len = np.zeros((n, len(muscles)))
    mt_vel = np.zeros((n, len(muscles)))
    afrc = np.zeros((n, len(muscles)))
    tau = np.zeros((n, len(clinical_dofs))) if do_moments else None
    resid = np.zeros((n, 6)) if do_moments else None
    clearance = {s: np.full(n, np.inf) for s in SIDES}
    other_floor = 0
    rne = np.zeros(m.nv)
    qext = np.zeros(m.nv)
    for i in range(n):
        d.qpos[:] = qpos[i]
        d.qvel[:] = qvel[i]
        if fr.act is not None and m.na:
            d.act[:] = fr.act[i]
        if fr.ctrl is not None:
            d.ctrl[:] = fr.ctrl[i]
        if fr.qfrc is not None:
            d.qfrc_applied[:] = fr.qfrc[i]
        mujoco.mj_forward(m, d)
        mt_len[i] = d.actuator_length[muscles]
        mt_vel[i] = d.actuator_velocity[muscles]
        afrc[i] = d.actuator_force[muscles]
        for k, s in enumerate(SIDES):
            touch[i, k] = sum(d.sensordata[a] for a in touch_adr[s])
        if grf_source == "contacts":
            qext[:] = 0.0
            pts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in SIDES}
            for g, pos, f_on in floor_contacts(m, d, floor):
                if do_moments:
                    mujoco.mj_applyFT(m, d, f_on, np.zeros(3), pos, int(m.geom_bodyid[g]), qext)
                s = foot_side.get(g)
                if s is None:
                    other_floor += 1
                else:
                    pts[s].append((pos, f_on))
            for s in SIDES:
                if not pts[s]:
                    continue
                p = np.array([a for a, _ in pts[s]])
                f = np.array([b for _, b in pts[s]])
                ftot = f.sum(0)
                force[s][i] = ftot
                if ftot[2] > cop_min_force_n:
                    w = np.clip(f[:, 2], 0.0, None)
                    c_ = (w[:, None] * p).sum(0) / w.sum()
                    cop[s][i] = c_
                    fmom[s][i] = float(np.cross(p - c_, f)[:, 2].sum())
            if do_moments:
                d.qacc[:] = qacc[i]
                mujoco.mj_rne(m, d, 1, rne)
                full = rne + m.dof_armature * qacc[i] - qext  # mj_rne leaves out the armature
                resid[i] = full[dadr : dadr + 6]
                for k, (clin, dof, sign) in enumerate(clinical_dofs):
                    col = _null_column(m, qpos[i], dof, direct)
                    gain = anatomy.joint_gain(m, clin)  # moment per radian of the clinical angle
                    tau[i, k] = sign * sum(v * full[dd] for dd, v in col.items()) / (mass * gain)
        else:
            for s in SIDES:
                gs = [g for g, side in foot_side.items() if side == s]
                clearance[s][i] = min(mujoco.mj_geomDistance(m, d, floor, g, 0.5, None) for g in gs)

    # --- GRF to lab, events
    grf: dict[str, GroundReaction] = {}
    touch_ch: Channels | None = None
    if grf_source == "contacts":
        for s in SIDES:
            grf[s] = GroundReaction(t, force[s] @ c_lab.T, cop[s] @ c_lab.T, fmom[s])
        events = detect_events(grf, threshold_n=event_threshold_n)
        events = Events(events.heel_strike, events.toe_off, "contact")
        touch_ch = _channels(t, touch, [f"touch_{s}" for s in SIDES], "N")
        fz = sum(force[s][:, 2] for s in SIDES)
        loaded = fz > 0.05 * mass * 9.81
        if loaded.any():
            ratio = float(touch[loaded].sum() / fz[loaded].sum())
            notes.append(f"touch sensors / contact vertical force = {ratio:.3f} (cross-check only; expected ≈ 0.91)")
        if other_floor:
            notes.append(f"{other_floor} floor contacts of non-foot geoms (not in the foot GRF)")
    else:
        hs: dict[str, list[float]] = {s: [] for s in SIDES}
        to: dict[str, list[float]] = {s: [] for s in SIDES}
        for s in SIDES:
            sig = (contact_height_m - clearance[s]) * 1000.0  # mm below the contact height
            for on, off in contact_intervals(t, sig, threshold_n=0.0, hysteresis_n=1.0):
                if on is not None:
                    hs[s].append(on)
                if off is not None:
                    to[s].append(off)
        events = Events({s: np.array(v) for s, v in hs.items()}, {s: np.array(v) for s, v in to.items()}, "contact")
        notes.append(f"events from foot clearance < {contact_height_m * 1000:.0f} mm (kinematic replay)")

    # --- muscles
    p = met.muscle_parameters(m) if muscles else None
    sig = SimSignals(time=t, angles=angles, grf=grf, touch=touch_ch, events=events, heading_rad=psi,
                     speed_m_s=speed, mass_kg=mass, diverged=fr.diverged, notes=notes)  # fmt: skip
    # the root in the same lab frame as the GRF and its COP (rotation only: the world origin stays the origin)
    sig.pelvis_position = _channels(t, qpos[:, qadr : qadr + 3] @ c_lab.T, list(PELVIS_POSITION), "m")
    if muscles:
        sig.muscle_force = _channels(t, -afrc, mus_names, "N")
        sig.mt_length = _channels(t, mt_len, mus_names, "m")
        sig.mt_velocity = _channels(t, mt_vel, mus_names, "m/s")
        assert p is not None
        sig.fibre_length = _channels(t, met.normalized_fibre_length(mt_len, p) * p.l_opt, mus_names, "m")
        sig.fibre_velocity = _channels(t, mt_vel, mus_names, "m/s")
        if fr.act is not None:
            act = fr.act[:, mus_act]
            sig.activations = _channels(t, act, mus_names, "1")
            a0 = _act_first_frame(x, n)
            if a0:
                notes.append(
                    f"activation of the first {a0} state(s) not recorded: frame {a0}'s held back "
                    f"({t[a0] - t[0]:.3f} s; activation dynamics have 10-40 ms time constants) so the first cycle is kept"
                )
            if fr.ctrl is not None:
                exc = fr.ctrl[:, muscles]
                sig.excitations = _channels(t, exc, mus_names, "1")
                if metabolic:
                    mp = met.umberger_power(exc, act, mt_len, mt_vel, p)
                    sig.metabolic_power = _channels(t, mp.per_muscle, mus_names, "W")
                    wb = mp.total_w / mass
                    sig.metabolic_w_per_kg = _channels(t, wb[:, None], ["whole_body"], "W/kg")
                    if np.isfinite(speed) and speed > 0.1:
                        sig.cost_of_transport = met.cost_of_transport(wb, speed)
                    notes.append(
                        f"metabolic power (Umberger 2010): mean {np.mean(wb):.2f} W/kg; "
                        f"cost of transport {sig.cost_of_transport:.2f} J/(kg·m)"
                    )
    if do_moments:
        assert tau is not None and resid is not None
        sig.joint_moments = _channels(t, tau, [c for c, _, _ in clinical_dofs], "N*m/kg")
        sig.residuals = Channels(
            t, resid, ["residual_fx", "residual_fy", "residual_fz", "residual_mx", "residual_my", "residual_mz"],
            ["N", "N", "N", "N*m", "N*m", "N*m"],
        )  # fmt: skip
        rms = np.sqrt(np.mean(resid**2, axis=0))
        notes.append(
            f"inverse-dynamics root residuals RMS: force {np.linalg.norm(rms[:3]):.1f} N "
            f"({np.linalg.norm(rms[:3]) / (mass * 9.81):.3f} BW), moment {np.linalg.norm(rms[3:]):.1f} N·m"
        )
    return sig


def rollout_to_trial(
    rollout_or_motion: Any,
    /,
    *,
    model_info: Any = None,
    mass_kg: float | None = None,
    name: str | None = None,
    grf_source: GrfSource | None = None,
) -> Trial:
    """A simulated :class:`~mmbio.trial.Trial` from a rollout or motion (via :func:`extract_signals`).

    Trial fields: angles, grf (per foot, lab frame), pelvis_position (the root, lab frame, m), events
    (``source='contact'``), activations (muscle actuators, unit ``'1'``),
    subject (model mass or ``mass_kg``, speed from the root), notes
    (divergence first when it happened). Other signals stay in :class:`SimSignals`.
    """
    sig = extract_signals(rollout_or_motion, model_info=model_info, mass_kg=mass_kg, grf_source=grf_source)
    x = rollout_or_motion
    model_name, variant = _model_name(x)
    src = getattr(x, "source", "") or ("kinematic replay" if _is_kinematic(x) else "rollout")
    label = name or getattr(x, "name", "") or src
    return Trial(
        name=str(label),
        source=f"{model_name}{'/' + variant if variant else ''}: {src}",
        kind="simulated",
        subject=Subject(name=model_name, mass_kg=sig.mass_kg, speed_m_s=sig.speed_m_s),
        angles=sig.angles,
        grf=sig.grf,
        activations=sig.activations,
        events=sig.events,
        notes=list(sig.notes) + _inertia_note(x, model_info),
        pelvis_position=sig.pelvis_position,
    )


def _inertia_note(x: Any, model_info: Any) -> list[str]:
    """A note when the simulated model has bodies no human part could be (:mod:`mmbio.models.inertia_audit`)."""
    from mmbio.models.inertia_audit import audit_inertia

    audit = audit_inertia(_model_of(x, model_info)[0])
    if not audit.findings:
        return []
    why = (
        "the 'corrected' variant: the shoulder phantoms lowered to 0.001 kg·m²"
        if _model_name(x)[1] == "corrected"
        else "the MoBL-ARMS shoulder phantom bodies' inertia is a known data bug (MyoHub/myo_sim issue 128); mmbio's "
        "'corrected' MyoFullBody variant lowers it"
    )
    return [f"model inertia audit: {audit.summary()}; {why}"]
