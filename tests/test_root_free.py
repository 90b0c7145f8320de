"""Balance without root help (issue 14 §1): no root residual applied, the reference clock following the pelvis,
and the reference root path corrected for dynamic consistency (:mod:`mmbio.control.consistency`)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from mmbio.control.consistency import SAMPLES, root_correction
from mmbio.control.tracking import LoopedReference, TrackingController, TrackingSettings, track
from mmbio.errors import MmbioError
from mmbio.sim.motion import synthesize_motion

STRONG_ROOT = {"root_pos_hz": 4.0, "w_root_pos": 100.0, "root_rot_hz": 6.0, "w_root_rot": 100.0}


@pytest.fixture(scope="module")
def walk():
    return synthesize_motion(speed_m_s=1.25, n_cycles=1)


@pytest.fixture(scope="module")
def model_2ms(walk):
    m = copy.deepcopy(walk.mj_model())
    m.opt.timestep = 0.002
    return m


def test_new_settings_are_checked() -> None:
    s = TrackingSettings(root_residual="none", phase_rate=10.0, consistency_iterations=3)
    assert TrackingSettings.from_dict(s.to_dict()) == s
    assert TrackingSettings().root_residual == "applied"  # stored checkpoints keep their behaviour
    with pytest.raises(MmbioError, match="root_residual must be one of applied, none"):
        TrackingSettings(root_residual="off")
    with pytest.raises(MmbioError, match="phase_rate"):
        TrackingSettings(phase_rate=-1.0)
    with pytest.raises(MmbioError, match="consistency_iterations must be an integer"):
        TrackingSettings(consistency_iterations=2.5)
    with pytest.raises(MmbioError, match="needs its root residual"):
        TrackingSettings(mode="grf_prescribed", root_residual="none")


def test_root_free_tracking_applies_no_force_to_the_root(walk, model_2ms) -> None:
    base = TrackingSettings(actuation="torques", **STRONG_ROOT)
    roll_on, _ = track(walk, duration_s=0.3, settings=base, model=model_2ms, record_every=1)
    roll_off, res_off = track(walk, duration_s=0.3, settings=replace(base, root_residual="none"), model=model_2ms,
                              record_every=1)  # fmt: skip
    # with the residual applied the root gets help; without, never a newton, and the result says so
    assert np.abs(roll_on.qfrc_applied[:, :6]).max() > 1.0
    assert np.abs(roll_off.qfrc_applied[:, :6]).max() == 0.0
    assert res_off.residual_force_rms_bw == 0.0
    assert any("no root residual applied" in n for n in res_off.notes)
    assert not res_off.fell
    # the joints still get their torques
    assert np.abs(roll_off.qfrc_applied[:, 6:]).max() > 10.0


def test_root_correction_shifts_the_reference_root_path(walk, model_2ms) -> None:
    ref0 = LoopedReference(walk, model_2ms, 3.0)
    n = 16
    phase = np.arange(n) / n
    table = np.c_[0.01 * np.sin(2 * np.pi * phase), 0.002 * np.cos(2 * np.pi * phase), np.zeros(n)]
    ref1 = LoopedReference(walk, model_2ms, 3.0, root_correction=table)
    period = ref0.period
    for t in (0.0, 0.25 * period, 0.5 * period + 2 * period):
        q0, v0, a0 = ref0.at(t)
        q1, v1, a1 = ref1.at(t)
        tau = (t % period) / period
        expect = np.array([0.01 * np.sin(2 * np.pi * tau), 0.002 * np.cos(2 * np.pi * tau), 0.0])
        np.testing.assert_allclose(q1[:3] - q0[:3], expect, atol=2e-4)  # a spline through the table's samples
        np.testing.assert_allclose(q1[3:], q0[3:], atol=1e-12)  # rotation and joints untouched
        w = 2 * np.pi / period
        dv = np.array([0.01 * w * np.cos(2 * np.pi * tau), -0.002 * w * np.sin(2 * np.pi * tau)])
        np.testing.assert_allclose(v1[:2] - v0[:2], dv, rtol=0.05, atol=2e-3)
        np.testing.assert_allclose(a1[6:], a0[6:], atol=1e-12)
    with pytest.raises(MmbioError, match="periodic reference"):
        LoopedReference(walk, model_2ms, 3.0, root_correction=np.zeros((16, 2)))


def test_the_reference_clock_follows_the_pelvis(walk, model_2ms) -> None:
    ref = LoopedReference(walk, model_2ms, 3.0)
    ctl = TrackingController(model_2ms, ref, TrackingSettings(phase_rate=10.0))
    t = 0.6
    q_r, v_r, _ = ref.at(t)
    speed = float(np.linalg.norm(v_r[:2]))
    q = q_r.copy()
    q[:2] -= 0.05 * v_r[:2] / speed  # the simulated pelvis 5 cm behind its reference
    for _ in range(400):  # 0.8 s of control steps with the body held there
        ctl._follow_pelvis(t, q)
    # the reference clock now reads the moment the reference pelvis was where the body is: ≈ 5 cm / speed earlier
    assert ctl.clock_shift == pytest.approx(0.05 / speed, rel=0.1)
    q_now, _, _ = ref.at(ctl.ref_time(t))
    assert float(np.linalg.norm(q_now[:2] - q[:2])) < 0.01
    ctl.reset_clock()
    assert ctl.ref_time(t) == t


def test_consistency_correction_lowers_the_root_residual(walk, model_2ms) -> None:
    """One iteration of the correction on the synthesised walk: the residual the contacts cannot supply drops."""
    settings = TrackingSettings()
    log: list[dict[str, float]] = []
    corr = root_correction(walk, model_2ms, settings, iterations=1, cycles=2, log=log)
    assert corr.shape == (SAMPLES, 3)
    assert 1e-3 < np.abs(corr).max() < 0.05  # millimetres to centimetres, never metres
    recipe = replace(settings, actuation="torques", **STRONG_ROOT)
    period = LoopedReference(walk, model_2ms, 3.0).period
    _, after = track(walk, duration_s=2 * period, settings=recipe, model=model_2ms, root_correction=corr)
    before = log[0]["residual_force_rms_bw"]
    assert after.residual_force_rms_bw < 0.8 * before, (before, after.residual_force_rms_bw)


def test_muscle_aware_planner_settings_are_checked() -> None:
    assert TrackingSettings(planner="muscle_aware").planner == "muscle_aware"
    with pytest.raises(MmbioError, match="planner must be one of two_qp, muscle_aware"):
        TrackingSettings(planner="one_qp")
    with pytest.raises(MmbioError, match="planner 'muscle_aware' plans muscles on simulated contacts"):
        TrackingSettings(planner="muscle_aware", actuation="torques")


def test_muscle_aware_planner_plans_what_the_muscles_can_deliver(walk, model_2ms) -> None:
    """The same root-free tracking with both planners over 0.2 s: the one-QP plan needs a fraction of the reserves
    the two-QP plan calls on, and no root force acts."""
    base = TrackingSettings(root_residual="none", w_joint=100.0, w_upper=100.0)
    out = {}
    for planner in ("two_qp", "muscle_aware"):
        roll, res = track(walk, duration_s=0.2, settings=replace(base, planner=planner), model=model_2ms,
                          record_every=1)  # fmt: skip
        assert not res.fell and res.unsolved == 0
        assert np.abs(roll.qfrc_applied[:, :6]).max() == 0.0
        assert np.all((roll.act >= 0.0) & (roll.act <= 1.0))
        out[planner] = float(np.sqrt(np.mean(res.reserves**2)))
    assert out["muscle_aware"] < 0.25 * out["two_qp"], out


def test_consistency_accepts_a_muscle_aware_teacher(walk, model_2ms) -> None:
    # its own tracking runs use ideal torques and the two-QP planner, whatever the caller plans with
    corr = root_correction(walk, model_2ms, TrackingSettings(planner="muscle_aware"), iterations=0)
    assert corr.shape == (SAMPLES, 3) and not np.any(corr)


def test_a_tracking_checkpoint_stores_its_root_correction(walk, tmp_path, monkeypatch) -> None:
    from mmbio.control import consistency
    from mmbio.control.checkpoint import load_checkpoint, save_checkpoint
    from mmbio.control.run import run_checkpoint, tracking_checkpoint
    from mmbio.errors import DataFileError

    table = np.zeros((SAMPLES, 3))
    table[:, 0] = 0.01 * np.sin(2 * np.pi * np.arange(SAMPLES) / SAMPLES)
    settings = TrackingSettings(root_residual="none", consistency_iterations=2)
    path = tmp_path / "rootfree.pkl"
    save_checkpoint(tracking_checkpoint(walk, settings, root_correction=table), path)
    ck = load_checkpoint(path)
    np.testing.assert_array_equal(ck.controller["root_correction"], table)

    # a run uses the stored table and never recomputes it
    def recompute(*_a, **_k):
        raise AssertionError("the stored correction should be used")

    monkeypatch.setattr(consistency, "root_correction", recompute)
    run = run_checkpoint(str(path), duration_s=0.1, static_opt=False)
    assert any("corrected for dynamic consistency (up to 10 mm)" in n for n in run.notes)
    assert any("no root residual applied" in n for n in run.notes)
    # the scorecard's residual rows say why they read 0 (no force acted), not that a small residual was measured
    assert run.credibility["residuals_applied"] is False and "root-free" in run.credibility["residuals_note"]
    # a broken table is refused in one line naming the field: too few rows, too many, NaN, metres, not an array
    bad = tmp_path / "bad.pkl"
    big = np.full((SAMPLES, 3), 0.01)
    big[3, 1] = 5.0
    nan = table.copy()
    nan[7, 2] = np.nan
    for hostile in (np.zeros((3, 3)), np.zeros((5000, 3)), nan, big, table.tolist(), np.zeros((SAMPLES, 3), int)):
        ck.controller["root_correction"] = hostile
        with pytest.raises((DataFileError, MmbioError), match=r"controller\.root_correction"):
            save_checkpoint(ck, bad)


def test_consistency_needs_a_cycle_to_loop(walk, model_2ms) -> None:
    half = copy.deepcopy(walk)
    half.qpos = walk.qpos[: len(walk.qpos) // 2]  # half a stride: not periodic
    half.stance = None  # and no stance plan to loop
    with pytest.raises(MmbioError, match="needs a periodic reference or one with a complete gait cycle"):
        root_correction(half, model_2ms, TrackingSettings(), iterations=1)


def test_root_free_result_reports_its_drift(walk, model_2ms) -> None:
    settings = TrackingSettings(actuation="torques", root_residual="none", **STRONG_ROOT)
    _, res = track(walk, duration_s=0.2, settings=settings, model=model_2ms)
    assert res.root_residual == "none" and res.path_drift_m is not None and 0.0 <= res.path_drift_m < 0.05
    _, res_on = track(walk, duration_s=0.05, settings=TrackingSettings(actuation="torques"), model=model_2ms)
    assert res_on.root_residual == "applied" and res_on.path_drift_m is None


def test_mpc_planner_and_reserve_settings_are_checked() -> None:
    s = TrackingSettings(planner="muscle_mpc", mpc_stages=4, mpc_stage_s=0.02, reserves="none")
    assert TrackingSettings.from_dict(s.to_dict()) == s
    assert TrackingSettings().reserves == "applied"  # stored checkpoints keep their reserves
    for bad, match in (
        ({"mpc_stages": 1}, "mpc_stages = 1 is out of range"),
        ({"mpc_stages": 21}, "mpc_stages = 21 is out of range"),
        ({"mpc_stages": 2.5}, "mpc_stages must be an integer"),
        ({"mpc_stage_s": 0.0}, "mpc_stage_s = 0.0 is out of range"),
        ({"mpc_stage_s": float("nan")}, "mpc_stage_s = nan is out of range"),
        ({"reserves": "planned"}, "reserves must be one of applied, none"),
        ({"planner": "muscle_mpc", "actuation": "torques"}, "planner 'muscle_mpc' plans muscles on simulated contacts"),
        ({"actuation": "torques", "reserves": "none"}, "actuation 'torques' applies its joint torques as reserves"),
    ):
        with pytest.raises(MmbioError, match=match):
            TrackingSettings(**bad)


def test_reserves_none_plans_them_but_never_applies_them(walk, model_2ms) -> None:
    st = TrackingSettings(root_residual="none", reserves="none", planner="muscle_aware")
    roll, res = track(walk, duration_s=0.05, settings=st, model=model_2ms, record_every=1)
    assert np.abs(roll.qfrc_applied).max() == 0.0  # neither the root nor any joint gets a newton
    assert not np.any(res.reserves) and "no reserve applied" in res.summary()
    note = next(n for n in res.notes if n.startswith("no reserve applied"))
    assert "the muscles alone actuate the joints" in note and "N·m RMS" in note


def test_mpc_plan_follows_activation_dynamics_and_its_own_predicted_errors(walk, model_2ms) -> None:
    """One receding-horizon plan from the walk's start: each stage's activations are reachable from the previous
    stage's in its length (MuJoCo's time constants), and the predicted velocity and position errors are the
    semi-implicit Euler integrals of the planned accelerations against the reference's."""
    import mujoco

    st = TrackingSettings(root_residual="none", reserves="none", planner="muscle_mpc", mpc_stages=3,
                          mpc_stage_s=0.01)  # fmt: skip
    ref = LoopedReference(walk, model_2ms, 1.0, cutoff_hz=st.reference_cutoff_hz)
    ctl = TrackingController(model_2ms, ref, st)
    q0, v0, _ = ref.at(0.0)
    act = np.zeros(model_2ms.na)
    act[ctl.so._act_adr] = 0.2
    ctl.control(0.0, q0.copy(), v0.copy(), act)
    x = ctl._muscle_mpc_x
    assert x.base is None  # a copy: a view of PIQP's result kept every step's solver alive (≈ 5 MB a step)
    n, nm, so = ctl.n_ind, ctl.so.n_mus, ctl.so
    size = n + ctl.n_beta + 6 + 3 * len(ctl.points) + nm + so.n_res
    at = n + ctl.n_beta + 6 + 3 * len(ctl.points)
    a = [x[k * size + at : k * size + at + nm] for k in range(3)]
    f = 0.5 + 1.5 * 0.2
    h = [ctl.dt, 0.01]
    for k in (1, 2):
        lo = a[k - 1] * (1 - h[k - 1] * f / ctl.tau_deact)
        hi = a[k - 1] + (1 - a[k - 1]) * h[k - 1] / (ctl.tau_act * f)
        assert np.all(a[k] >= lo - 1e-3) and np.all(a[k] <= hi + 1e-3)
    assert np.ptp(np.concatenate(a)) > 0.05  # the plan does move the activations
    # predicted errors: Y_1 = [p_1, v_1, d_1] right after the three stages
    p1, v1, d1 = (x[3 * size + i * n : 3 * size + (i + 1) * n] for i in range(3))
    err = np.zeros(model_2ms.nv)
    q_r, v_r, a_r = ref.at(0.0)
    mujoco.mj_differentiatePos(model_2ms, err, 1.0, q0, q_r)
    ind = so.indep_dofs
    qdd0 = x[:n]
    np.testing.assert_allclose(v1, (v_r - v0)[ind] + ctl.dt * (a_r[ind] - qdd0), atol=2e-3)
    np.testing.assert_allclose(p1, err[ind] + ctl.dt * v1, atol=2e-5)
    np.testing.assert_allclose(d1, x[size : size + n] - ctl.kp * p1 - ctl.kd * v1, rtol=1e-3, atol=1e-2)


def test_foot_placement_settings_are_checked() -> None:
    s = TrackingSettings(placement_kp=1.0, placement_kd=0.5, placement_tau_s=0.15, placement_clip_deg=20.0)
    assert TrackingSettings.from_dict(s.to_dict()) == s and s.placement
    assert not TrackingSettings().placement  # stored checkpoints keep their behaviour
    for bad, match in (
        ({"placement_kp": -1.0}, "placement_kp = -1.0 is out of range"),
        ({"placement_kd": float("inf")}, "placement_kd = inf is out of range"),
        ({"placement_tau_s": 0.0}, "placement_tau_s = 0.0 is out of range"),
        ({"placement_clip_deg": 90.0}, "placement_clip_deg = 90.0 is out of range"),
        ({"placement_kp": 1.0, "mode": "grf_prescribed"}, "foot placement steers simulated contacts"),
    ):
        with pytest.raises(MmbioError, match=match):
            TrackingSettings(**bad)


def test_foot_placement_moves_the_swing_heel_by_the_asked_distance(walk, model_2ms) -> None:
    """Pelvis 2 cm off the reference line, drifting away at 0.1 m/s, in the right foot's mid-swing: the swing hip's
    shift moves the simulated right heel sideways by k_p e + k_d ė (checked by forward kinematics, not by the rule's
    Jacobian), the stance side's shift relaxes by exp(−dt/τ), the reference reads the shift, and a far-off pelvis is
    clipped."""
    import mujoco

    st = TrackingSettings(placement_kp=1.0, placement_kd=0.5, placement_tau_s=0.15, placement_clip_deg=14.0)
    ref = LoopedReference(walk, model_2ms, 1.0, cutoff_hz=st.reference_cutoff_hz)
    ctl = TrackingController(model_2ms, ref, st)
    pl = ctl.placement
    m, d = model_2ms, mujoco.MjData(model_2ms)
    heel = {s: m.body(f"calcn_{s}").id for s in "rl"}

    def heel_at(q: np.ndarray, side: str) -> np.ndarray:
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        return d.xpos[heel[side]].copy()

    # right mid-swing of the reference: the right heel highest above the floor, the left one on it
    ts = np.linspace(0.0, ref.period, 200, endpoint=False)
    z = np.array([[heel_at(ref.at(t, placed=False)[0], s)[2] for s in "rl"] for t in ts])
    t = float(ts[np.argmax(z[:, 0] - z[:, 1])])
    q_r, v_r, _ = ref.at(t, placed=False)
    lat = np.array([-v_r[1], v_r[0]]) / np.linalg.norm(v_r[:2])
    q, v = q_r.copy(), v_r.copy()
    q[:2] += 0.02 * lat
    v[:2] += 0.1 * lat
    add_l = m.jnt_dofadr[m.joint("hip_adduction_l").id]
    pl.offset[add_l] = 0.1
    pl.update(t, q, v)
    shift = pl.shift_rad()
    assert shift[1] == pytest.approx(0.1 * np.exp(-ctl.dt / 0.15), rel=1e-12)  # left in stance: relaxes
    add_r = m.joint("hip_adduction_r")
    qs = q.copy()
    qs[m.jnt_qposadr[add_r.id]] += shift[0]
    moved = (heel_at(qs, "r") - heel_at(q, "r"))[:2] @ lat
    assert moved == pytest.approx(0.02 + 0.5 * 0.1, rel=0.05)  # 7 cm asked
    # the tracked reference reads the shift; the unshifted one is still there
    dq = np.zeros(m.nv)
    mujoco.mj_differentiatePos(m, dq, 1.0, ref.at(t, placed=False)[0], ref.at(t)[0])
    assert dq[m.jnt_dofadr[add_r.id]] == pytest.approx(shift[0]) and dq[add_l] == pytest.approx(shift[1])
    assert np.count_nonzero(np.abs(dq) > 1e-12) == 2
    # a pelvis a metre off: the shift stops at the clip, counted
    q[:2] += 1.0 * lat
    pl.update(t, q, v)
    assert abs(pl.shift_rad()[0]) == pytest.approx(np.radians(14.0)) and pl.clipped == 1
    ctl.reset_clock()
    assert not np.any(pl.offset) and pl.clipped == 0


def test_foot_placement_run_reports_its_shifts(walk, model_2ms) -> None:
    st = TrackingSettings(root_residual="none", placement_kp=1.0, placement_kd=0.5)
    _, res = track(walk, duration_s=0.1, settings=st, model=model_2ms, record_every=5)
    note = next(n for n in res.notes if n.startswith("lateral foot placement"))
    assert "swing hip adduction shifted up to" in note and "against the unshifted reference" in note
    assert not res.fell


def test_foot_placement_refuses_a_model_without_hips_or_heels(walk) -> None:
    import mujoco

    from mmbio.control.foot_loads import FootPoints
    from mmbio.control.placement import FootPlacement

    m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><body name="a"><joint name="hip_adduction_r"/>'
                                       '<geom size=".1"/></body></worldbody></mujoco>')  # fmt: skip
    st = TrackingSettings(placement_kp=1.0)
    with pytest.raises(MmbioError, match=r"this model has no hip_adduction_l, calcn_r, calcn_l$"):
        FootPlacement(m, None, FootPoints.empty(), st, 0.002)


def test_physics_dt_setting_sets_the_simulated_step(walk, model_2ms) -> None:
    st = TrackingSettings(physics_dt=0.002)
    roll, res = track(walk, duration_s=0.02, settings=st, record_every=1)  # the motion's own 1 ms model
    assert roll.physics_dt == 0.002 and len(res.time) == 10
    with pytest.raises(MmbioError, match=r"settings ask for a 0\.001 s physics step, the model has 0\.002 s"):
        TrackingController(model_2ms, LoopedReference(walk, model_2ms, 1.0), replace(st, physics_dt=0.001))
    with pytest.raises(MmbioError, match=r"physics_dt = 0\.5 is out of range"):
        TrackingSettings(physics_dt=0.5)
