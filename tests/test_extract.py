"""Signals from a rollout → Trial (mmbio.sim.extract) and the kinematic replay check (Build 5).

* Replay: a reference motion replayed kinematically gives back its own joint angles (r > 0.999,
  RMSE < 0.5°) and its gait events at the frames where its feet reach the floor.
* GRF: a rigid copy of MyoFullBody (every joint but the root deleted) standing on the floor under
  gravity carries its body weight through the foot contacts.
* Metabolics: a hand-computed Umberger case and parity of the muscle curves with MuJoCo's.
"""

from __future__ import annotations

from functools import cache

import mujoco
import musclemimic_models
import numpy as np
import pytest

from mmbio.io.opensim import coordinates_to_angles, read_storage
from mmbio.models import anatomy
from mmbio.models.registry import load_model
from mmbio.sim import metabolics as met
from mmbio.sim.controller import ConstantController, ZeroController
from mmbio.sim.extract import CONTACT_HEIGHT_M, extract_signals, rollout_to_trial
from mmbio.sim.frames import mat_from_quat, quat_from_mat
from mmbio.sim.motion import Motion, _foot_kinematics, synthesize_motion
from mmbio.sim.rollout_cpu import Rollout, replay, rollout

CHECKED = [f"{j}_{s}" for s in "rl" for j in ("hip_flexion", "knee_flexion", "ankle_dorsiflexion")] + ["pelvis_tilt"]


@cache
def _walk() -> Motion:
    return synthesize_motion(speed_m_s=1.25, gait="walk")


def _agree(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    return float(np.corrcoef(ref, got)[0, 1]), float(np.sqrt(np.mean((ref - got) ** 2)))


# ------------------------------------------------------------------------------------------ replay


def test_replay_synthesized_walk_angles_and_events() -> None:
    mo = _walk()
    m = load_model(mo.model, mo.variant).model
    for x in (mo, replay(mo.model, mo.qpos, mo.qvel, rate_hz=mo.rate_hz, variant=mo.variant)):
        trial = rollout_to_trial(x)
        assert trial.kind == "simulated" and not trial.grf and trial.activations is None
        own = anatomy.clinical_joint_angles(m, mo.qpos)
        for name in CHECKED[:-1]:
            r, rmse = _agree(own[name], trial.angles[name])
            assert r > 0.999 and rmse < 0.5, (name, r, rmse)
        assert trial.subject.speed_m_s == pytest.approx(1.25, rel=1e-3)

    # events at the frames where each foot's lowest point comes within the contact height of the floor
    # (an independent computation: the motion's own lowest-point geometry, not MuJoCo's geom distance)
    sig = extract_signals(mo)
    low = _foot_kinematics(m, mo.qpos).low
    for s in "rl":
        contact = low[s][:, 2] < CONTACT_HEIGHT_M
        on = np.flatnonzero(np.diff(contact.astype(int)) == 1) + 1
        off = np.flatnonzero(np.diff(contact.astype(int)) == -1) + 1
        hs, to = sig.events.heel_strike[s], sig.events.toe_off[s]
        assert hs.size == on.size and to.size == off.size, (s, hs, on, to, off)
        dt = 1.0 / mo.rate_hz
        assert np.all(np.abs(hs - mo.time[on]) <= dt + 1e-9), (s, hs, mo.time[on])
        assert np.all(np.abs(to - mo.time[off]) <= dt + 1e-9), (s, to, mo.time[off])


def test_replay_events_match_planned_stance() -> None:
    """Events from foot clearance come back at the planned heel strikes and toe offs (±2 frames).

    Contact height 5 mm, not the replay default of 20 mm: a detector at height h fires h / (heel
    descent speed) before the heel lands and as long after the toes leave; the synthesized swing
    foot lands and lifts along ≈ 6-frame ramps to its 22 mm clearance, so at 20 mm the events are
    ≈ 6 frames early (heel strike) and late (toe off) by construction, at 5 mm ≤ 2 frames.
    """
    mo = _walk()
    sig = extract_signals(mo, contact_height_m=0.005)
    assert mo.stance is not None
    for s in "rl":
        st = mo.stance[s].astype(int)
        on = np.flatnonzero(np.diff(st) == 1) + 1
        off = np.flatnonzero(np.diff(st) == -1) + 1
        hs, to = sig.events.heel_strike[s], sig.events.toe_off[s]
        assert hs.size == on.size and to.size == off.size, (s, hs, on, to, off)
        assert np.all(np.abs(hs - mo.time[on]) <= 2.0 / mo.rate_hz), (s, hs, mo.time[on])
        assert np.all(np.abs(to - mo.time[off]) <= 2.0 / mo.rate_hz), (s, to, mo.time[off])


def test_heading_is_removed() -> None:
    """The same walk turned to another heading gives the same angles, speed and events."""
    mo = _walk()
    psi = 0.7
    c, s_ = np.cos(psi), np.sin(psi)
    rz = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1.0]])
    q = mo.qpos.copy()
    q[:, 0:3] = q[:, 0:3] @ rz.T
    q[:, 3:7] = quat_from_mat(rz @ mat_from_quat(q[:, 3:7]))
    v = mo.qvel.copy()
    v[:, 0:3] = v[:, 0:3] @ rz.T  # free joint: world linear velocity; angular velocity is local
    turned = Motion(qpos=q, qvel=v, rate_hz=mo.rate_hz, model=mo.model, variant=mo.variant)
    a, b = extract_signals(mo), extract_signals(turned)
    assert b.heading_rad == pytest.approx(psi, abs=1e-6)
    np.testing.assert_allclose(b.angles.values, a.angles.values, atol=1e-6)
    assert b.speed_m_s == pytest.approx(a.speed_m_s)
    for s in "rl":
        np.testing.assert_allclose(b.events.heel_strike[s], a.events.heel_strike[s], atol=1e-6)


def test_replay_rajagopal_angles(shared) -> None:
    from mmbio.sim.motion import motion_from_opensim

    path = shared / "rajagopal2016_walk" / "coordinates.sto"
    mo = motion_from_opensim(path)
    trial = rollout_to_trial(mo)
    ref, _ = coordinates_to_angles(read_storage(path))
    t = trial.angles.time + ref.time[0]  # the motion's time starts at 0 at the file's first sample
    for name in [*CHECKED, "hip_adduction_r", "hip_rotation_r", "pelvis_obliquity", "pelvis_rotation"]:
        r, rmse = _agree(np.interp(t, ref.time, ref[name]), trial.angles[name])
        assert r > 0.999 and rmse < 0.5, (name, r, rmse)


# ------------------------------------------------------------------------------------- contacts


@cache
def _statue() -> mujoco.MjModel:
    """MyoFullBody with every joint but the free root deleted: a rigid body at the XML pose."""
    spec = mujoco.MjSpec.from_file(str(musclemimic_models.get_xml_path("myofullbody")))
    for j in list(spec.joints):
        if j.type != mujoco.mjtJoint.mjJNT_FREE:
            spec.delete(j)
    for e in list(spec.equalities):
        spec.delete(e)
    for k in list(spec.keys):
        spec.delete(k)
    return spec.compile()


def test_standing_grf_carries_body_weight() -> None:
    m = _statue()
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    floor = m.geom(anatomy.FLOOR_GEOM).id
    gap = min(mujoco.mj_geomDistance(m, d, floor, m.geom(g).id, 1.0, None) for s in "rl" for g in anatomy.FOOT_GEOMS[s])
    q0 = m.qpos0.copy()
    q0[2] -= gap  # feet on the floor
    ro = rollout(m, ZeroController(), duration_s=0.6, initial_qpos=q0, record_hz=100, model_name="statue")
    sig = extract_signals(ro, model_info=m)
    late = sig.time >= 0.3  # settled
    weight = sig.mass_kg * 9.81
    fz = sig.grf["r"].vertical + sig.grf["l"].vertical
    ratio = fz[late] / weight
    assert np.all(np.abs(ratio - 1) < 0.05), ratio
    for s in "rl":
        assert np.all(sig.grf[s].vertical[late] > 0.3 * weight)  # both feet loaded, force upward on the foot
    # lab frame: the right foot's COP is to the right (−y) of the left foot's
    assert np.all(sig.grf["r"].cop[late, 1] < sig.grf["l"].cop[late, 1])
    touch = sig.touch.values[late].sum() / fz[late].sum()
    print(f"standing rigid MyoFullBody: Fz/BW {ratio.mean():.4f}, touch/contact {touch:.3f}")


def test_muscle_rollout_signals_and_divergence() -> None:
    info = load_model()
    m = info.model
    d = info.make_data()
    mujoco.mj_forward(m, d)
    floor = m.geom(anatomy.FLOOR_GEOM).id
    gap = min(mujoco.mj_geomDistance(m, d, floor, m.geom(g).id, 1.0, None) for s in "rl" for g in anatomy.FOOT_GEOMS[s])
    q0 = m.qpos0.copy()
    q0[2] -= gap - 0.001
    ro = rollout(info, ConstantController(0.05), duration_s=0.3, initial_qpos=q0, record_hz=500)
    sig = extract_signals(ro)
    assert sig.activations is not None and sig.activations.unit("tibant_r") == "1"
    assert sig.excitations is not None and np.allclose(sig.excitations["soleus_r"], 0.05)
    assert sig.muscle_force is not None and np.all(sig.muscle_force.values >= -1e-9)
    assert sig.joint_moments is not None and "knee_flexion_r" in sig.joint_moments
    assert sig.metabolic_w_per_kg is not None and np.all(np.isfinite(sig.metabolic_w_per_kg.values))
    assert sig.residuals is not None
    inner = slice(5, -5)  # one-sided differences at the ends
    rms = np.sqrt(np.mean(sig.residuals.values[inner, :3] ** 2))
    assert rms < 0.1 * sig.mass_kg * 9.81, rms

    cut = Rollout(
        model_name=ro.model_name, variant=ro.variant, time=ro.time, qpos=ro.qpos, qvel=ro.qvel, act=ro.act,
        ctrl=ro.ctrl, diverged=True, diverged_at_s=0.2, reason="qvel above limit", physics_dt=ro.physics_dt,
    )  # fmt: skip
    trial = rollout_to_trial(cut)
    assert trial.notes[0] == "DIVERGED" and "diverged at 0.200 s: qvel above limit" in trial.notes[1]
    assert trial.angles.time[-1] < 0.2 and np.all(np.isfinite(trial.angles.values))


# ----------------------------------------------------------------------------------- metabolics


def test_umberger_hand_computed() -> None:
    f_max, l_opt, v_max = 1000.0, 0.1, 10.0
    p = met.MuscleParameters(
        names=["m"], f_max=np.array([f_max]), l_opt=np.array([l_opt]), v_max=np.array([v_max]),
        lengthrange=np.array([[0.30, 0.36]]), op_range=np.array([[0.7, 1.3]]), lmin=np.array([0.5]),
        lmax=np.array([1.6]), fpmax=np.array([1.3]), fvmax=np.array([1.2]),
        mass=met.muscle_mass(np.array([f_max]), np.array([l_opt])),
    )  # fmt: skip
    # L = 0.33 m → l̃ = 0.7 + 0.03 / 0.1 = 1.0 (optimal); v = −0.2 m/s = −2 l_opt/s (shortening)
    u, a, length, v = 0.5, 0.4, 0.33, -0.2
    mass = 1059.7 * f_max / 0.25e6 * l_opt
    big_a = 0.5  # u > a
    am = 1.5 * big_a**0.6 * (128 * 0.5 + 25)
    alpha_st, alpha_ft = 100 / (v_max / 2.5), 153 / v_max
    sl = 1.5 * big_a**2 * (min(-alpha_st * (v / l_opt), 100) * 0.5 - alpha_ft * (v / l_opt) * 0.5)
    f_ce = f_max * a * 1.0 * (1 + v / (l_opt * v_max)) ** 2  # FL(1) = 1, FV = (1 + ṽ)² for ṽ ∈ (−1, 0]
    w = -f_ce * v / mass
    expected = (am + sl + w) * mass
    r = met.umberger_power([[u]], [[a]], [[length]], [[v]], p)
    assert p.mass[0] == pytest.approx(0.423880, rel=1e-5)
    assert r.per_muscle[0, 0] == pytest.approx(expected, rel=1e-12)
    assert r.per_muscle[0, 0] == pytest.approx(94.94, abs=0.01)
    # lengthening (2010): no negative work, heat 0.3 α_ST v̄ A, floor at 1 W/kg not active here
    r2 = met.umberger_power([[u]], [[a]], [[length]], [[0.2]], p)
    assert r2.work[0, 0] == 0.0
    assert r2.per_muscle[0, 0] == pytest.approx((am + 1.5 * big_a * 0.3 * alpha_st * 2.0) * mass, rel=1e-12)
    # idle muscle: the 1 W/kg heat floor
    r3 = met.umberger_power([[0.0]], [[0.0]], [[length]], [[0.0]], p)
    assert r3.per_muscle[0, 0] == pytest.approx(1.0 * mass)
    assert met.cost_of_transport([3.0, 3.0], 1.25) == pytest.approx(2.4)


def test_muscle_curves_match_mujoco() -> None:
    m = load_model().model
    p = met.muscle_parameters(m)
    rng = np.random.default_rng(0)
    ids = [m.actuator(n).id for n in p.names]
    for k in rng.choice(len(ids), 40, replace=False):
        i = ids[k]
        for _ in range(5):
            length = rng.uniform(*p.lengthrange[k])
            vel = rng.uniform(-0.8, 0.8) * p.l_opt[k] * p.v_max[k]
            gain = mujoco.mju_muscleGain(
                length, vel, m.actuator_lengthrange[i], m.actuator_acc0[i], m.actuator_gainprm[i, :9]
            )
            ours = met.active_fibre_force(np.array([[1.0]]), np.array([[length]]), np.array([[vel]]), _one(p, k))
            assert ours[0, 0] == pytest.approx(-gain, rel=1e-9, abs=1e-9)


def _one(p: met.MuscleParameters, k: int) -> met.MuscleParameters:
    sl = slice(k, k + 1)
    return met.MuscleParameters(
        names=[p.names[k]], f_max=p.f_max[sl], l_opt=p.l_opt[sl], v_max=p.v_max[sl], lengthrange=p.lengthrange[sl],
        op_range=p.op_range[sl], lmin=p.lmin[sl], lmax=p.lmax[sl], fpmax=p.fpmax[sl], fvmax=p.fvmax[sl],
        mass=p.mass[sl],
    )  # fmt: skip
